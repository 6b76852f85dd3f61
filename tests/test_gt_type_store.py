"""Ground truth S17, S18, S21 and the old/new table of ../shared/spec/kernel-ownership.md §7:
writing /sys/kernel/iommu_groups/<n>/type."""
import errno

import pytest

from conftest import bind, dev, drv, errno_of, make, st, unbind

TYPE = "/sys/kernel/iommu_groups/20/type"
OLD = ["5.19", "6.3"]
NEW = ["6.4", "6.18"]


def nic20(version, cmdline=None, bound=True):
    return make(version, cmdline=cmdline,
                devices=[dev("0000:00:1f.6", id="8086:15b8", group=20,
                             **({"driver": "e1000e"} if bound else {}))],
                drivers=[drv("e1000e")])


@pytest.mark.parametrize("version", OLD + NEW)
def test_s17_store_on_bound_single_device_group(version):
    k = nic20(version)
    new = version in NEW
    assert st(k, 20) == (1, "NULL", "DEFAULT(DMA-FQ)")
    assert errno_of(k.write, TYPE, "identity") == (errno.EPERM if new else errno.EBUSY)
    if not new:
        assert k.dmesg()[-1] == "iommu: Device is still bound to driver"
    assert errno_of(k.write, TYPE, "DMA-FQ") == (errno.EPERM if new else errno.EBUSY)
    assert st(k, 20) == (1, "NULL", "DEFAULT(DMA-FQ)")
    unbind(k, "0000:00:1f.6")
    assert st(k, 20) == (0, "NULL", "DEFAULT(DMA-FQ)")
    k.write(TYPE, "identity")
    assert st(k, 20) == (0, "NULL", "DEFAULT(identity)")
    assert k.read(TYPE) == "identity\n"
    dom = k.iommu_groups[20].domain
    k.write(TYPE, "identity")
    assert k.iommu_groups[20].domain is dom
    bind(k, "0000:00:1f.6", "e1000e")
    assert st(k, 20) == (1, "NULL", "DEFAULT(identity)")


@pytest.mark.parametrize("version", OLD + NEW)
def test_s18_dma_to_dma_fq_while_bound(version):
    k = nic20(version, cmdline="iommu.strict=1")
    assert st(k, 20) == (1, "NULL", "DEFAULT(DMA)")
    dom = k.iommu_groups[20].domain
    k.write(TYPE, "DMA-FQ")
    assert st(k, 20) == (1, "NULL", "DEFAULT(DMA-FQ)")
    assert k.iommu_groups[20].domain is dom                   # flush queue enabled in place
    assert errno_of(k.write, TYPE, "DMA") == (errno.EPERM if version in NEW else errno.EBUSY)


@pytest.mark.parametrize("version", OLD + NEW)
def test_s21_input_validation(version):
    k = make(version, devices=[dev("0000:00:1f.6", group=20),
                               dev("0000:00:14.0", group=21, default_domain=False)])
    p = k.spawn("no-rawio", caps={"CAP_SYS_ADMIN"})
    assert errno_of(p.write, TYPE, "DMA") == errno.EACCES
    for junk in ("dma", "blocked", "unmanaged", "DMA\n\n", " DMA"):
        assert errno_of(k.write, TYPE, junk) == errno.EINVAL, junk
    assert st(k, 20) == (0, "NULL", "DEFAULT(DMA-FQ)")
    k.write(TYPE, "DMA\n")
    assert st(k, 20) == (0, "NULL", "DEFAULT(DMA)")
    k.write(TYPE, "auto")
    assert st(k, 20) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert k.read("/sys/kernel/iommu_groups/21/type") == "unknown\n"
    assert errno_of(k.write, "/sys/kernel/iommu_groups/21/type", "identity") == errno.EINVAL


@pytest.mark.parametrize("version", OLD + NEW)
def test_old_and_new_table(version):
    """The rows of the old → new table that S17/S18 do not already cover."""
    new = version in NEW
    devices = [dev("0000:02:00.0", group=7), dev("0000:02:00.1", group=7),
               dev("0000:03:00.0", group=8, driver="vfio-pci"), dev("0000:04:00.0", group=9, driver="pci-stub")]
    k = make(version, devices=devices, drivers=[drv("kdrv")], cmdline="iommu.strict=1")
    path = "/sys/kernel/iommu_groups/{}/type"
    # multi-device group, all unbound: old -EINVAL, new OK
    assert errno_of(k.write, path.format(7), "identity") == (0 if new else errno.EINVAL)
    # multi-device group, one kernel-bound: old -EINVAL, new -EPERM
    bind(k, "0000:02:00.0", "kdrv")
    assert errno_of(k.write, path.format(7), "DMA") == (errno.EPERM if new else errno.EINVAL)
    # single device bound to vfio-pci / pci-stub, group not claimed: old -EBUSY, new allowed
    for g in (8, 9):
        assert errno_of(k.write, path.format(g), "identity") == (0 if new else errno.EBUSY)
    # group user-owned: identity old -EBUSY, new -EPERM; DMA→DMA-FQ old -EBUSY, new OK
    k2 = make(version, devices=[dev("0000:03:00.0", group=8, driver="vfio-pci")], cmdline="iommu.strict=1")
    p = k2.spawn("qemu")
    c, gfd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/8")
    p.ioctl(gfd, "VFIO_GROUP_SET_CONTAINER", c)
    assert errno_of(k2.write, path.format(8), "identity") == (errno.EPERM if new else errno.EBUSY)
    assert errno_of(k2.write, path.format(8), "DMA-FQ") == (0 if new else errno.EBUSY)
    assert st(k2, 8) == (1, "container_file:C1" if version == "5.19" else "vfio_group:8", "BLOCKING")


@pytest.mark.parametrize("version", OLD + NEW)
def test_untrusted_device_must_stay_dma(version):
    k = make(version, devices=[dev("0000:05:00.0", group=30, untrusted=True)])
    assert st(k, 30) == (0, "NULL", "DEFAULT(DMA)")
    assert errno_of(k.write, "/sys/kernel/iommu_groups/30/type", "identity") == errno.EINVAL
    k.write("/sys/kernel/iommu_groups/30/type", "auto")
    assert st(k, 30) == (0, "NULL", "DEFAULT(DMA)")
