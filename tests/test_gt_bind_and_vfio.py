"""Ground truth S01, S02, S04, S05, S06, S15 (../shared/ground-truth/scenarios.md): binding,
the legacy VFIO group/container path and the CONFIG_DEBUG_TEST_DRIVER_REMOVE leak."""
import errno

import pytest

from iommulab import uapi
from conftest import bind, dev, drv, errno_of, make, st, unbind

NEWEST = "6.18"
VIABLE, CSET = uapi.VFIO_GROUP_FLAGS_VIABLE, uapi.VFIO_GROUP_FLAGS_CONTAINER_SET


def gpu_audio(version, **kw):
    return make(version, devices=[dev("0000:01:00.0", id="10de:2204", group=1, multifunction=True, acs=False),
                                  dev("0000:01:00.1", id="10de:1aef", group=1, acs=False)],
                drivers=[drv("snd_hda_intel")], **kw)


@pytest.mark.parametrize("version", ["5.19", "6.1", "6.6", NEWEST])
def test_s01_kernel_sibling_makes_group_not_viable(version):
    k = gpu_audio(version)
    assert st(k, 1) == (0, "NULL", "DEFAULT(DMA-FQ)")
    bind(k, "0000:01:00.1", "snd_hda_intel")
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")
    bind(k, "0000:01:00.0", "vfio-pci")
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")
    assert k.exists("/dev/vfio/1")
    p = k.spawn("qemu")
    c = p.open("/dev/vfio/vfio")
    g = p.open("/dev/vfio/1")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 0
    assert errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0") == errno.EINVAL
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")


@pytest.mark.parametrize("version,owner", [("6.1", "vfio_group:1"), (NEWEST, "vfio_group:1"),
                                           ("5.19", "container_file:C1"), ("6.0.19", "container_file:C1")])
def test_s02_both_vfio_full_lifecycle(version, owner):
    k = gpu_audio(version)
    bind(k, "0000:01:00.0", "vfio-pci")
    bind(k, "0000:01:00.1", "vfio-pci")
    assert st(k, 1) == (0, "NULL", "DEFAULT(DMA-FQ)")
    p = k.spawn("qemu")
    c = p.open("/dev/vfio/vfio")
    g = p.open("/dev/vfio/1")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == VIABLE
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, 1) == (1, owner, "BLOCKING")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == VIABLE | CSET
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0") == errno.EINVAL
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    cnt, own, domain = st(k, 1)
    assert (cnt, own) == (1, owner) and domain.startswith("USER:type1-")
    fd0 = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    fd1 = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.1")
    assert st(k, 1) == (1, owner, domain)
    p.close(g)                                   # device fds pin the group file
    assert st(k, 1) == (1, owner, domain)
    p.close(fd0)
    assert st(k, 1) == (1, owner, domain)
    p.close(fd1)
    assert st(k, 1) == (0, "NULL", "DEFAULT(DMA-FQ)")


@pytest.mark.parametrize("version", ["5.19", "6.6", NEWEST])
def test_s04_pcieport_and_pci_stub_do_not_count(version):
    k = make(version, devices=[dev("0000:00:1c.0", kind="root-port", acs=False, group=4),
                               dev("0000:02:00.0", id="8086:1533", parent="0000:00:1c.0", group=4),
                               dev("0000:02:00.1", id="8086:1533", parent="0000:00:1c.0", group=4)],
             drivers=[drv("igb")])
    assert k.devices["0000:00:1c.0"].driver.name == "pcieport"
    assert st(k, 4) == (0, "NULL", "DEFAULT(DMA-FQ)")
    bind(k, "0000:02:00.1", "pci-stub")
    bind(k, "0000:02:00.0", "vfio-pci")
    assert st(k, 4) == (0, "NULL", "DEFAULT(DMA-FQ)")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/4")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == VIABLE
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    owned = st(k, 4)
    assert owned[0] == 1 and owned[2] == "BLOCKING"
    unbind(k, "0000:02:00.1")
    bind(k, "0000:02:00.1", "pci-stub")          # a managed driver may bind into an owned group
    unbind(k, "0000:02:00.1")
    assert st(k, 4) == owned
    assert errno_of(bind, k, "0000:02:00.1", "igb") == errno.EBUSY
    assert st(k, 4) == owned
    assert k.devices["0000:02:00.1"].driver is None


def nic45(version, debug=True):
    return make(version, config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": debug},
                devices=[dev("0000:03:00.1", id="8086:1533", group=45)],
                drivers=[drv("kdrv_nic", ids=["8086:1533"])])


LEAKY = ["5.19", "6.1", "6.1.52", "6.4", "6.5.2"]
FIXED = ["6.1.53", "6.5.3", "6.6", NEWEST]


@pytest.mark.parametrize("version", LEAKY)
def test_s05_test_remove_double_count(version):
    k = nic45(version)
    assert k.devices["0000:03:00.1"].driver.name == "kdrv_nic"
    assert st(k, 45) == (2, "NULL", "DEFAULT(DMA-FQ)")
    unbind(k, "0000:03:00.1")
    assert st(k, 45) == (1, "NULL", "DEFAULT(DMA-FQ)")
    bind(k, "0000:03:00.1", "vfio-pci")
    assert st(k, 45) == (1, "NULL", "DEFAULT(DMA-FQ)")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/45")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 0
    assert errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM
    p.close(g)
    unbind(k, "0000:03:00.1")
    assert st(k, 45) == (1, "NULL", "DEFAULT(DMA-FQ)")
    old = version < "6.4" or version.startswith("6.1") or version == "5.19"
    rc = errno_of(k.write, "/sys/kernel/iommu_groups/45/type", "identity")
    assert rc == (0 if old else errno.EPERM)
    assert k.iommu_groups[45].owner_cnt == 1
    k.write("/sys/bus/pci/devices/0000:03:00.1/driver_override", "\n")
    k.write("/sys/bus/pci/drivers/kdrv_nic/bind", "0000:03:00.1")
    assert k.iommu_groups[45].owner_cnt == 3
    unbind(k, "0000:03:00.1")
    assert k.iommu_groups[45].owner_cnt == 2


@pytest.mark.parametrize("version", ["6.2", "6.4", "6.5.2"])
def test_s05_iommufd_path_refused_on_leaky_kernels(version):
    k = nic45(version)
    unbind(k, "0000:03:00.1")
    bind(k, "0000:03:00.1", "vfio-pci")
    p = k.spawn("qemu")
    i = p.open("/dev/iommu")
    g = p.open("/dev/vfio/45")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", i)    # compat: no ownership change yet
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:03:00.1") == errno.EPERM
    assert st(k, 45) == (1, "NULL", "DEFAULT(DMA-FQ)")


@pytest.mark.parametrize("version", FIXED)
def test_s06_test_remove_fixed(version):
    k = nic45(version)
    assert st(k, 45) == (1, "NULL", "DEFAULT(DMA-FQ)")
    unbind(k, "0000:03:00.1")
    assert st(k, 45) == (0, "NULL", "DEFAULT(DMA-FQ)")
    bind(k, "0000:03:00.1", "vfio-pci")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/45")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == VIABLE
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, 45) == (1, "vfio_group:45", "BLOCKING")


@pytest.mark.parametrize("version", LEAKY + FIXED)
def test_without_the_debug_option_nothing_leaks(version):
    k = nic45(version, debug=False)
    assert st(k, 45)[0] == 1
    unbind(k, "0000:03:00.1")
    assert st(k, 45)[0] == 0


def test_leak_accumulates_one_per_cycle():
    k = nic45("6.4")
    for _cycle in range(3):
        unbind(k, "0000:03:00.1")
        k.write("/sys/bus/pci/drivers/kdrv_nic/bind", "0000:03:00.1")
    assert k.iommu_groups[45].owner_cnt == 5


def test_suppress_bind_attrs_skips_the_self_test():
    k = make("6.4", config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True},
             devices=[dev("0000:03:00.1", id="8086:1533", group=45)],
             drivers=[drv("kdrv_nic", ids=["8086:1533"], suppress_bind_attrs=True)])
    assert st(k, 45)[0] == 1
    assert not k.exists("/sys/bus/pci/drivers/kdrv_nic/unbind")


@pytest.mark.parametrize("version", ["5.19", "6.2", NEWEST])
def test_s15_unset_container(version):
    k = make(version, devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")])
    owner = "container_file:C1" if version == "5.19" else "vfio_group:5"
    p = k.spawn("qemu")
    g = p.open("/dev/vfio/5")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_UNSET_CONTAINER") == errno.EINVAL
    c = p.open("/dev/vfio/vfio")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, 5) == (1, owner, "BLOCKING")
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    assert st(k, 5)[2].startswith("USER:")
    fd0 = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:05:00.0")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_UNSET_CONTAINER") == errno.EBUSY
    p.close(fd0)
    p.ioctl(g, "VFIO_GROUP_UNSET_CONTAINER")
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.EINVAL
