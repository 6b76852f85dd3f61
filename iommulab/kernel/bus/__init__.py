"""The bus types (struct bus_type): one module per bus, registered below in iommu_buses[] order
(drivers/iommu/iommu.c: platform, pci, amba, fsl-mc, cdx), then the buses the IOMMU core does
not walk. The registry's order is the order devices reach the IOMMU layer, bus by bus.

A bus module (or any object) gives NAME and whichever of these it needs; the rest default:
  facts      BEHIND_IOMMU, DMA_HOOKS, HAS_OVERRIDE, HAS_NEW_ID (False), VFIO_DRIVER (None),
             DEVICES_DIR (its /sys/devices directory, NAME)
  exists(f)               whether the bus exists in the release of Features f (True); SINCE
                          names the first release that has it, for the loader's message
  driver_spec_problem(spec, f)   what a scenario [[driver]] of this bus cannot have in the release
  match(drv, dev)         the bus's match() (common.generic_match: override, then id table)
  dma_configure(dev), dma_cleanup(dev)   traced, named as the kernel's (used when DMA_HOOKS)
  has_dma_cleanup(f)      whether dma_cleanup exists (and configure counts) in the release (True)
  device_group(k, dev, group_of)  the IOMMU driver's grouping: (group or None, (rule, name))
  enumeration_key(dev)    sort key within a parent (None: scenario file order)
  add_device(k, dev), remove_device(k, dev)   the bus's own device lists
  device_address(name)    the address a device name encodes (PCI: its BDF tuple; None)
  device_path(dev), owns_devices_dir(n)       the /sys/devices layout
  sysfs_bus_attrs(bus), sysfs_device_attrs(dev)   extra files: {name: Attr keyword arguments}
Adding a bus: one module here and one register() line.
"""
from types import SimpleNamespace

from ..device import BusType, device_has_iommu
from . import amba, cdx, fsl_mc, pci, platform, simple
from .common import devices_path, generic_device_group, generic_match

BUSES = {}


def _defaults(name):
    return dict(BEHIND_IOMMU=False, DMA_HOOKS=False, HAS_OVERRIDE=False, HAS_NEW_ID=False,
                VFIO_DRIVER=None, DEVICES_DIR=name, SINCE=None,
                exists=lambda f: True, driver_spec_problem=lambda spec, f: None, match=generic_match,
                dma_configure=None, dma_cleanup=None,
                has_dma_cleanup=lambda f: True, device_group=generic_device_group,
                enumeration_key=None, add_device=lambda k, dev: None, remove_device=lambda k, dev: None,
                device_path=devices_path, owns_devices_dir=None, device_address=lambda name: None,
                sysfs_bus_attrs=lambda bus: {}, sysfs_device_attrs=lambda dev: {})


def register(module):
    """Register a bus: its ops are the module's attributes over the defaults above."""
    ops = {key: getattr(module, key, default) for key, default in _defaults(module.NAME).items()}
    if ops["owns_devices_dir"] is None:
        ops["owns_devices_dir"] = lambda n, d=ops["DEVICES_DIR"]: n == d
    BUSES[module.NAME] = SimpleNamespace(NAME=module.NAME, module=module, **ops)
    return BUSES[module.NAME]


def unregister(name):
    """Remove a bus registered by a test (a toy bus)."""
    BUSES.pop(name, None)


register(platform)
register(pci)
register(amba)
register(fsl_mc)
register(cdx)
register(simple.i2c)
register(simple.spi)
register(simple.usb)
register(simple.virtio)


def make_buses(k):
    """The registered bus types that exist in the release (drivers/cdx is new in 6.4)."""
    return {name: BusType(k, ops) for name, ops in BUSES.items() if ops.exists(k.f)}


def spec_has_iommu(spec):
    """Whether a scenario [[device]] sits behind an IOMMU (device.device_has_iommu with its bus)."""
    return device_has_iommu(spec, BUSES[spec["bus"]].BEHIND_IOMMU)
