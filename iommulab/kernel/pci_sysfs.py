"""PCI hotplug through sysfs: /sys/bus/pci/rescan (pci_rescan_bus(), drivers/pci/probe.c) and
/sys/bus/pci/devices/<dev>/remove (pci_stop_and_remove_bus_device(), drivers/pci/remove.c), as
their stores in drivers/pci/pci-sysfs.c."""
from .kstrtox import kstrtoul
from .errno import EINVAL
from .pending import PendingWrite, release_or_block
from .reasons import refuse
from .trace import traced


@traced(lambda k, buf: None)
def rescan_store(k, buf):
    """rescan_store() (bus_attr_rescan): `if (kstrtoul(buf, 0, &val) < 0) return -EINVAL;`."""
    rc, val = kstrtoul(buf, 0)
    if rc < 0:
        return refuse(k, EINVAL, "bad-value", value=buf.strip())
    if val:
        pci_rescan_bus(k)
    return len(buf)


def pci_rescan_bus(k):
    """Devices waiting behind present = false appear (in enumeration order) and probe."""
    for dev in k.enumeration_order([d for d in k.hotplug.values() if d.bus.name == "pci"]):
        if dev.parent is not None and dev.parent not in k.devices:
            continue
        del k.hotplug[dev.name]
        dev.present = True
        k.printk(f"pci {dev.name}: [{dev.id}] type 00 class 0x{dev.class_code:06x}")
        k.device_add(dev)


@traced(lambda dev, buf: dev.iommu_group)
def remove_store(dev, buf):
    """remove_store(): kstrtoul(buf, 0, ...) < 0 is -EINVAL; a nonzero value runs
    pci_stop_and_remove_bus_device(): children first; each unbinds, leaves its group, goes."""
    k = dev.k
    rc, val = kstrtoul(buf, 0)
    if rc < 0:
        return refuse(k, EINVAL, "bad-value", device=dev, value=buf.strip())
    if not val:
        return len(buf)
    return pci_remove_devices(k, _subtree(k, dev), f"/sys/bus/pci/devices/{dev.name}/remove", buf)


def _subtree(k, dev):
    """What pci_stop_and_remove_bus_device() removes: VFs and everything below, then the device."""
    out = [d for d in k.devices.values() if d.physfn == dev.name]
    for child in [d for d in k.devices.values() if d.parent == dev.name and d.physfn is None]:
        out += _subtree(k, child)
    return out + [dev]


def pci_remove_devices(k, devs, path, buf):
    """pci_stop_and_remove_bus_device() of each device in turn (for remove and for SR-IOV's
    sriov_del_vfs()): the byte count, or the PendingWrite of `path` when one's driver blocks
    (the rest are removed once it lets go)."""
    while devs:
        d = devs.pop(0)
        if not d.registered:
            continue
        if d.driver is None:
            _del(k, d)
            continue
        rest = list(devs)
        res = release_or_block(k, d, path, buf, after=lambda d=d: _del(k, d),
                               after_blocked=lambda rest=rest: pci_remove_devices(k, rest, path, buf))
        if isinstance(res, PendingWrite):
            return res
    return len(buf)


def _del(k, d):
    if d.registered:
        k.printk(f"pci {d.name}: Removing from iommu group "
                 f"{d.iommu_group.id if d.iommu_group else '-'}")
        k.device_del(d)
        d.present = False
        if d.physfn is None:                    # a rescan finds it again; VFs come back by SR-IOV
            k.hotplug[d.name] = d
        if d.sriov_totalvfs:
            d.num_vfs = 0
