"""The PCI bus: pci_bus_type (drivers/pci/pci-driver.c).

match is pci_bus_match() → pci_match_device() with dynamic ids (new_id/remove_id, module
ids=) and driver_override; pci_dma_configure()/pci_dma_cleanup() count a kernel DMA-API driver
(v5.19, 512881eacfa7); the IOMMU drivers group with pci_device_group() (drivers/iommu/iommu.c,
modelled in topology.py); devices reach the IOMMU layer in pci_bus_add_devices() order; sysfs
puts them below /sys/devices/pciDDDD:00 with the attributes of drivers/pci/pci-sysfs.c.
"""
from .. import pci_sysfs     # as a module: pci_sysfs reaches the driver core, which reaches back here
from ..kstrtox import vsscanf
from ..pcidev import parse_bdf
from ..topology import pci_device_group
from ..trace import traced
from .common import dev_group, unuse_default_domain, use_default_domain

NAME = "pci"
BEHIND_IOMMU = True          # every IOMMU driver handles PCI
DMA_HOOKS = True
HAS_OVERRIDE = True          # driver_override (v3.16, 782a985d7af2)
HAS_NEW_ID = True
VFIO_DRIVER = "vfio-pci"

PCI_ANY_ID = 0xFFFFFFFF


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
    if drv.id_table_match(dev):
        return True
    return override is not None


def pci_bus_match(drv, dev):
    """pci_bus_match(): pci_match_device() found an id (or the override)."""
    return pci_match_device(drv, dev)


@traced(dev_group)
def pci_dma_configure(dev):
    """pci_dma_configure(): firmware (OF/ACPI) DMA setup, then the default-domain use of a
    kernel DMA-API driver."""
    return use_default_domain(dev)


@traced(dev_group)
def pci_dma_cleanup(dev):
    """pci_dma_cleanup() (v5.19): give the driver's default-domain use back."""
    unuse_default_domain(dev)


def enumeration_key(dev):
    """pci_bus_add_devices(): a bus's devices by address, then each bridge's secondary bus."""
    return dev.bdf


def _bus_key(dev):
    return dev.bdf[:2]


def pci_device_add(k, dev):
    """pci_device_add()'s list_add_tail(&dev->bus_list, &bus->devices): k.pci_bus_index."""
    key = _bus_key(dev)
    k.pci_bus_index[key] = k.pci_bus_index.get(key, ()) + (dev,)


def pci_destroy_dev(k, dev):
    """pci_destroy_dev()'s list_del(&dev->bus_list)."""
    key = _bus_key(dev)
    k.pci_bus_index[key] = tuple(d for d in k.pci_bus_index.get(key, ()) if d is not dev)


def device_path(dev):
    """/sys/devices/pciDDDD:00/<each bridge above>/<the device>."""
    k = dev.k
    chain = [dev.name]
    p = dev.parent
    while p is not None:
        chain.append(p)
        parent = k.devices.get(p) or k.hotplug.get(p)
        p = parent.parent if parent is not None else None
    domain = dev.name.split(":")[0]
    return f"/sys/devices/pci{domain}:00/" + "/".join(reversed(chain))


def owns_devices_dir(n):
    """A PCI root "pciDDDD:00" directory of /sys/devices (five digits for a VMD domain)."""
    return n.startswith("pci") and len(n) in (10, 11) and n.endswith(":00")


def sysfs_bus_attrs(bus):
    """pci_bus_groups: /sys/bus/pci/rescan (bus_attr_rescan, pci-sysfs.c)."""
    k = bus.k
    return {"rescan": {"store": lambda buf, caps: pci_sysfs.rescan_store(k, buf)}}


def sysfs_device_attrs(dev):
    """pci_dev_groups: vendor, device, class (read-only) and remove (pci-sysfs.c)."""
    vd = dev.vendor_device or (0xFFFF, 0xFFFF)
    return {"vendor": {"show": lambda: f"0x{vd[0]:04x}\n"},
            "device": {"show": lambda: f"0x{vd[1]:04x}\n"},
            "class": {"show": lambda: f"0x{dev.class_code:06x}\n"},
            "remove": {"store": lambda buf, caps: pci_sysfs.remove_store(dev, buf), "dev": dev}}


match = pci_bus_match
device_address = parse_bdf          # the name pci_setup_device() gives: dddd:bb:ss.f
dma_configure, dma_cleanup = pci_dma_configure, pci_dma_cleanup
device_group = pci_device_group
add_device, remove_device = pci_device_add, pci_destroy_dev


def parse_pci_id(text):
    """One id of vfio-pci's or pci-stub's ids= (vfio_pci_fill_ids(), pci_stub_init()):
    sscanf(id, "%x:%x:%x:%x:%x:%x") and at least vendor and device, else ValueError. Returns the
    dynid tuple (vendor, device, subvendor, subdevice, class, class_mask)."""
    vals = vsscanf(text, "%x:%x:%x:%x:%x:%x")
    if len(vals) < 2:
        raise ValueError(text)
    return tuple(vals + [PCI_ANY_ID, PCI_ANY_ID, 0, 0][len(vals) - 2:])


NEW_ID_FORMAT = "%x %x %x %x %x %x %lx"      # new_id_store(); remove_id_store() has no %lx


def parse_new_id(buf, fmt=NEW_ID_FORMAT):
    """new_id_store()'s sscanf(buf, "%x %x %x %x %x %x %lx", ...): (fields, the seven values
    with the store's defaults for those not given: subvendor and subdevice PCI_ANY_ID, class,
    class_mask and driver_data 0). Fewer than 2 fields is the store's -EINVAL."""
    vals = vsscanf(buf, fmt)
    return len(vals), tuple(vals + [0, 0, PCI_ANY_ID, PCI_ANY_ID, 0, 0, 0][len(vals):])
