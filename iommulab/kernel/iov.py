"""SR-IOV: sriov_numvfs_store(), pci_enable_sriov()/pci_disable_sriov() and
pci_iov_add_virtfn()/pci_iov_remove_virtfn(), after drivers/pci/iov.c.

A physical function declares `sriov_totalvfs` and its VFs' `vf_id`; writing N to sriov_numvfs
(with a driver bound that implements sriov_configure) creates N virtual functions at
PF + vf_offset + i * vf_stride, which join IOMMU groups by the same rules as any device.
"""
from .device import Device
from .errno import EBUSY, EINVAL, ENOENT, ERANGE
from .kstrtox import kstrtou16
from .pcidev import bdf_name
from .pci_sysfs import pci_remove_devices
from .reasons import refuse
from .trace import traced


def virtfn_name(pf, i):
    """pci_iov_virtfn_bus()/pci_iov_virtfn_devfn(): PF routing ID + offset + i * stride."""
    dom, bus, slot, fn = pf.bdf
    devfn = (slot << 3 | fn) + pf.vf_offset + i * pf.vf_stride
    return bdf_name(dom, bus + (devfn >> 8), (devfn & 0xFF) >> 3, devfn & 7)


def pci_iov_add_virtfn(pf, i):
    k = pf.k
    spec = {"name": virtfn_name(pf, i), "bus": "pci", "id": pf.vf_id, "parent": pf.parent,
            "kind": "endpoint", "physfn": pf.name, "class": pf.class_code,
            "vendor_name": pf.vendor_name}
    vf = Device(k, spec, pf.bus)
    k.printk(f"pci {vf.name}: [{vf.id}] type 00 class 0x{vf.class_code:06x} PCIe Endpoint")
    k.device_add(vf)
    return vf


def virtfns(pf):
    return [d for d in pf.k.devices.values() if d.physfn == pf.name]


def _sriov_configure(pf, num):
    """The PF driver's sriov_configure(): vfio-pci only with enable_sriov=1."""
    drv = pf.driver
    if drv is None:
        pf.k.printk(f"{pf.log_prefix()}: no driver bound to device; cannot configure SR-IOV")
        return refuse(pf.k, ENOENT, "no-sriov", device=pf, driver=None)
    if not drv.sriov_configure:
        pf.k.printk(f"{pf.log_prefix()}: driver does not support SR-IOV configuration via sysfs")
        return refuse(pf.k, ENOENT, "no-sriov", device=pf, driver=drv)
    if drv.name == "vfio-pci" and not pf.k.params.get("vfio_pci.enable_sriov"):
        return refuse(pf.k, ENOENT, "no-sriov", device=pf, driver=drv, param="vfio_pci.enable_sriov")
    return 0


@traced(lambda pf, buf: pf.iommu_group)
def sriov_numvfs_store(pf, buf):
    """sriov_numvfs_store(): `if (kstrtou16(buf, 0, &num_vfs) < 0) return -EINVAL;` (a value
    above 0xffff fails kstrtou16() with -ERANGE, which the store turns into -EINVAL). Returns the
    byte count, a negative errno, or (when a VF's driver blocks) a PendingWrite."""
    rc, num = kstrtou16(buf, 0)
    if rc < 0:
        return refuse(pf.k, EINVAL, "bad-value", device=pf, value=buf.strip())
    if num > pf.sriov_totalvfs:
        return refuse(pf.k, ERANGE, "too-many-vfs", device=pf, num=num, total=pf.sriov_totalvfs)
    if num == pf.num_vfs:
        return len(buf)
    rc = _sriov_configure(pf, num)
    if rc:
        return rc
    if num == 0:
        pf.num_vfs = 0
        return pci_remove_devices(pf.k, virtfns(pf), f"/sys/bus/pci/devices/{pf.name}/sriov_numvfs",
                                  buf)                  # sriov_del_vfs(): VF 0 first
    if pf.num_vfs:
        pf.k.printk(f"{pf.log_prefix()}: {pf.num_vfs} VFs already enabled. Disable before enabling {num} VFs")
        return refuse(pf.k, EBUSY, "vfs-enabled", device=pf, num_vfs=pf.num_vfs, num=num)
    pf.num_vfs = num
    for i in range(num):
        pci_iov_add_virtfn(pf, i)
    return len(buf)
