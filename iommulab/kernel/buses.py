"""The buses: matching a driver to a device, and each bus's dma_configure/dma_cleanup.

pci ↔ drivers/pci/pci-driver.c (pci_bus_match, pci_match_device, pci_dma_configure,
pci_dma_cleanup, new_id/remove_id), platform ↔ drivers/base/platform.c, amba ↔
drivers/amba/bus.c, fsl-mc ↔ drivers/bus/fsl-mc/fsl-mc-bus.c, cdx ↔ drivers/cdx/cdx.c
(new in 6.4 with a firmware-only cdx_dma_configure; from 6.5 it counts kernel drivers, has
cdx_dma_cleanup and swallows use_default errors), usb and i2c without DMA hooks.
"""
from fnmatch import fnmatchcase

from .device import PORT_KINDS, BusType
from .iommu import iommu_device_unuse_default_domain, iommu_device_use_default_domain
from .trace import traced

PCI_ANY_ID = 0xFFFFFFFF

#            name        dma_hooks behind_iommu override new_id cdx_quirk
_BUSES = (("pci",       True,  True,  True,  True,  False),
          ("platform",  True,  False, True,  False, False),
          ("amba",      True,  False, True,  False, False),
          ("fsl-mc",    True,  True,  True,  False, False),
          ("cdx",       True,  True,  True,  False, True),
          ("usb",       False, False, False, True,  False),
          ("i2c",       False, False, False, False, False),
          ("spi",       False, False, False, False, False),
          ("virtio",    False, False, False, False, False))
BUS_NAMES = tuple(b[0] for b in _BUSES)


def make_buses(k):
    """The registered bus types; drivers/cdx is new in 6.4 (there is no cdx bus before)."""
    return {name: BusType(k, name, hooks, iommu, override, new_id, quirk)
            for name, hooks, iommu, override, new_id, quirk in _BUSES
            if name != "cdx" or k.f.cdx_bus}


def bus_has_dma_cleanup(bus):
    """Whether the bus_type has a dma_cleanup callback. 6.4's cdx has none: its
    cdx_dma_configure() only configures firmware DMA; use_default_domain, cdx_dma_cleanup,
    cdx_driver.driver_managed_dma and vfio-cdx arrive in 6.5."""
    return bus.dma_hooks and (not bus.cdx_quirk or bus.k.f.cdx_ownership)


def _id_matches(pattern, dev):
    return fnmatchcase(dev.id.lower(), pattern.lower())


def _dynid_matches(dynid, dev):
    vendor, device, subv, subd, cls, mask = dynid
    vd = dev.vendor_device
    if vd is None:
        return False
    return ((vendor == PCI_ANY_ID or vendor == vd[0]) and (device == PCI_ANY_ID or device == vd[1])
            and subv == PCI_ANY_ID and subd == PCI_ANY_ID
            and (dev.class_code & mask) == (cls & mask))


def pci_match_device(drv, dev, override=None):
    """pci_match_device(): override mismatch → no; dynids; static ids (override-only ids only
    with a matching override); a matching override matches any device."""
    if override is None:
        override = dev.driver_override
    if override is not None and override != drv.name:
        return False
    if any(_dynid_matches(d, dev) for d in drv.dynids):
        return True
    if drv.builtin == "pcieport" and dev.kind in PORT_KINDS:
        return True
    if not drv.override_only and any(_id_matches(p, dev) for p in drv.ids):
        return True
    return override is not None


def driver_match_device(drv, dev):
    """The bus's match(): True when drv may drive dev."""
    if drv.bus is not dev.bus:
        return False
    if dev.bus.name == "pci":
        return pci_match_device(drv, dev)
    if dev.driver_override is not None:
        return dev.driver_override == drv.name
    if drv.override_only:
        return False
    return any(_id_matches(p, dev) for p in drv.ids)


def modalias_matches(drv, dev):
    """Whether drv's static id table names dev (what `lspci -k` lists as "Kernel modules")."""
    if drv.bus is not dev.bus or drv.override_only:
        return False
    return any(_id_matches(p, dev) for p in drv.ids)


def _dma_name(dev, *_):
    return f"{dev.bus.name.replace('-', '_')}_dma_configure"


def _cleanup_name(dev, *_):
    return f"{dev.bus.name.replace('-', '_')}_dma_cleanup"


def dma_configure_uses_default_domain(dev):
    """Whether the bus's dma_configure() takes, and its dma_cleanup() gives back, a default-domain
    use (one count of owner_cnt) for dev's driver: an ownership kernel (v5.19, 25f3bcfc54bc), a
    bus with the hooks, a driver that uses the kernel DMA API (driver_managed_dma false). For a
    bound device this says whether its driver holds a count now (iommulab-why asks it too)."""
    drv = dev.driver
    return (dev.k.f.has_ownership and bus_has_dma_cleanup(dev.bus) and drv is not None
            and not drv.driver_managed_dma)


@traced(lambda dev: dev.iommu_group, _dma_name)
def bus_dma_configure(dev):
    """X_dma_configure(): firmware DMA setup (never deferred in this model), then count a kernel
    DMA-API driver with iommu_device_use_default_domain(). cdx returns 0 whatever happened."""
    if not dma_configure_uses_default_domain(dev):
        return 0
    rc = iommu_device_use_default_domain(dev)
    if dev.bus.cdx_quirk:
        return 0
    return rc


@traced(lambda dev: dev.iommu_group, _cleanup_name)
def bus_dma_cleanup(dev):
    """X_dma_cleanup() (v5.19): uncount a non-managed driver. cdx (6.5+) does it even when
    configure swallowed a failure, so it can WARN or steal someone else's count."""
    if dma_configure_uses_default_domain(dev):
        iommu_device_unuse_default_domain(dev)


def parse_pci_id(text):
    """'vendor:device[:subvendor[:subdevice[:class[:class_mask]]]]' (module ids=) → dynid tuple."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 6:
        raise ValueError(text)
    vals = [int(p, 16) for p in parts]
    vals += [PCI_ANY_ID, PCI_ANY_ID, 0, 0][len(vals) - 2:]
    return tuple(vals)


def parse_new_id(buf):
    """new_id_store()'s sscanf("%x %x %x %x %x %x %lx"): at least vendor and device."""
    fields = buf.split()
    if len(fields) < 2 or len(fields) > 7:
        raise ValueError(buf)
    vals = [int(f, 16) for f in fields[:6]]
    defaults = [None, None, PCI_ANY_ID, PCI_ANY_ID, 0, 0]
    vals += defaults[len(vals):]
    return tuple(vals)
