"""Corner cases the issue names: require_direct (v6.6), the AMD identity hack (5.19.9–6.6.y),
hot-add into an owned group, and S04 just outside its range (5.18)."""
import errno

import pytest

from iommulab import KernelCrashed
from iommulab.kernel.iommu import (IommuDomain, iommu_attach_group, iommu_device_use_default_domain,
                                   iommu_group_claim_dma_owner)
from conftest import bind, dev, drv, errno_of, make, st, unbind


@pytest.mark.parametrize("version,refused", [("6.5", False), ("6.6", True), ("6.18", True)])
def test_require_direct_refuses_the_blocking_domain(version, refused):
    # A NIC with a non-relaxable RMRR (an Intel GPU's or USB controller's RMRR is relaxable).
    k = make(version, devices=[dev("0000:00:19.0", id="14e4:1657", group=2, require_direct=True, driver="vfio-pci")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/2")
    before = k.state()
    if refused:
        assert errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c) == errno.EINVAL
        assert k.state() == before
        assert any("1:1 IOMMU mapping" in line for line in k.dmesg())
        assert iommu_group_claim_dma_owner(k.iommu_groups[2], "X") == -errno.EINVAL
    else:
        p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
        assert st(k, 2) == (1, "vfio_group:2", "BLOCKING")


def test_require_direct_device_cannot_join_an_owned_group():
    k = make("6.6", devices=[dev("0000:00:14.0", group=3, driver="vfio-pci"),
                             dev("0000:00:14.2", group=3, require_direct=True, present=False)])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/3")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    k.write("/sys/bus/pci/rescan", "1")
    assert k.devices["0000:00:14.2"].iommu_group is None
    assert any("Failed to add to iommu group 3" in line for line in k.dmesg())


def test_hot_added_device_joins_the_owned_groups_domain_and_cannot_take_a_kernel_driver():
    k = make("6.6", devices=[dev("0000:00:14.0", group=3, driver="vfio-pci"),
                             dev("0000:00:14.3", id="8086:a0f0", group=3, present=False)],
             drivers=[drv("iwlwifi", ids=["8086:a0f0"])])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/3")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    k.write("/sys/bus/pci/rescan", "1")
    new = k.devices["0000:00:14.3"]
    assert new.iommu_group is k.iommu_groups[3] and new.driver is None      # probe refused: -EBUSY
    assert st(k, 3) == (1, "vfio_group:3", "BLOCKING")
    bind(k, "0000:00:14.3", "pci-stub")
    assert new.driver.name == "pci-stub"


@pytest.mark.parametrize("version,hack", [("5.19.8", False), ("5.19.9", True), ("6.6.30", True), ("6.7", False)])
def test_amd_identity_hack(version, hack):
    k = make(version, cmdline="iommu.passthrough=1",
             devices=[dev("0000:03:00.0", group=8), dev("0000:03:00.1", group=8)])
    a, b = k.devices["0000:03:00.0"], k.devices["0000:03:00.1"]
    g = k.iommu_groups[8]
    assert st(k, 8) == (0, "NULL", "DEFAULT(identity)")
    assert iommu_device_use_default_domain(a) == 0
    ident = IommuDomain(k, "identity", "Did")
    assert iommu_attach_group(ident, g) == 0
    assert iommu_device_use_default_domain(b) == (0 if hack else -errno.EBUSY)


def test_s04_just_outside_5_18_viable_by_allow_list_then_bug():
    k = make("5.18", devices=[dev("0000:00:1c.0", kind="root-port", acs=False, group=4),
                              dev("0000:02:00.0", id="8086:1533", parent="0000:00:1c.0", group=4),
                              dev("0000:02:00.1", id="8086:1533", parent="0000:00:1c.0", group=4)],
             drivers=[drv("igb")])
    bind(k, "0000:02:00.1", "pci-stub")
    bind(k, "0000:02:00.0", "vfio-pci")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/4")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 1          # pcieport bridge, stub, vfio: allow-listed
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, 4) == (0, "NULL", "DEFAULT(DMA-FQ)")        # no ownership before 5.19
    unbind(k, "0000:02:00.1")
    with pytest.raises(KernelCrashed):
        bind(k, "0000:02:00.1", "igb")                       # 5.19 made this a clean -EBUSY (S04)
