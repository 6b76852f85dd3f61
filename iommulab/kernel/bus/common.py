"""What every bus shares: id matching, the generic match and grouping, and the default-domain
use that each bus's dma_configure() takes and its dma_cleanup() gives back.

driver_match_device() ↔ drivers/base/base.h; generic_device_group() ↔ drivers/iommu/iommu.c;
the use/unuse rule ↔ iommu_device_use_default_domain() callers added in v5.19 (512881eacfa7,
"bus: platform,amba,fsl-mc,PCI: Add device DMA ownership management").
"""
from fnmatch import fnmatchcase

from ..iommu import iommu_device_unuse_default_domain, iommu_device_use_default_domain


def id_matches(pattern, dev):
    """A static id-table entry (a glob over the device's id) names dev."""
    return fnmatchcase(dev.id.lower(), pattern.lower())


def driver_match_device(drv, dev):
    """driver_match_device(): the bus's match() says whether drv may drive dev."""
    return drv.bus is dev.bus and dev.bus.ops.match(drv, dev)


def generic_match(drv, dev):
    """platform_match() and the other buses: driver_override decides alone when set, else the
    driver's id table."""
    if dev.driver_override is not None:
        return dev.driver_override == drv.name
    return drv.id_table_match(dev)


def modalias_matches(drv, dev):
    """Whether drv's static id table names dev (what `lspci -k` lists as "Kernel modules")."""
    if drv.bus is not dev.bus or drv.override_only:
        return False
    return any(id_matches(p, dev) for p in drv.ids)


def bus_has_dma_cleanup(bus):
    """Whether the bus_type has the dma_configure/dma_cleanup pair that counts drivers in this
    release (6.4's cdx has a firmware-only dma_configure and no dma_cleanup)."""
    return bus.dma_hooks and bus.ops.has_dma_cleanup(bus.k.f)


def dma_configure_uses_default_domain(dev):
    """Whether the bus's dma_configure() takes, and its dma_cleanup() gives back, a default-domain
    use (one count of owner_cnt) for dev's driver: an ownership kernel (v5.19, 25f3bcfc54bc), a
    bus with the hooks, a driver that uses the kernel DMA API (driver_managed_dma false). For a
    bound device this says whether its driver holds a count now (iommulab-why asks it too)."""
    drv = dev.driver
    return (dev.k.f.has_ownership and bus_has_dma_cleanup(dev.bus) and drv is not None
            and not drv.driver_managed_dma)


def use_default_domain(dev):
    """The tail of every X_dma_configure(): `if (!drv->driver_managed_dma)
    iommu_device_use_default_domain(dev)` (firmware DMA setup is never deferred in this model)."""
    if not dma_configure_uses_default_domain(dev):
        return 0
    return iommu_device_use_default_domain(dev)


def unuse_default_domain(dev):
    """Every X_dma_cleanup(): give back the use of a driver that is not driver_managed_dma."""
    if dma_configure_uses_default_domain(dev):
        iommu_device_unuse_default_domain(dev)


def dev_group(dev, *_):
    """The group a dma_configure/dma_cleanup event touches (for @traced)."""
    return dev.iommu_group


def current_group(dev):
    return dev.iommu_group


def generic_device_group(k, dev, group_of=current_group):
    """generic_device_group(): a new group for every device. Returns (None, ("generic", name)) in the
    (group, reason) form every bus's device_group op returns."""
    return None, ("generic", dev.name)


def devices_path(dev):
    """/sys/devices/<bus>/<name>: where a device without a parent chain of its own sits."""
    return f"/sys/devices/{dev.bus.ops.DEVICES_DIR}/{dev.name}"
