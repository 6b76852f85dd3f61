"""Ground truth S23, S24, S25, S34: the iommu core's functions called directly, as a kernel
developer would from a driver (../shared/spec/api.md §6)."""
import errno

import pytest

from iommulab.kernel.iommu import (
    iommu_attach_device, iommu_attach_device_pasid, iommu_attach_group, iommu_detach_device,
    iommu_detach_device_pasid, iommu_detach_group, iommu_device_claim_dma_owner,
    iommu_device_release_dma_owner, iommu_device_unuse_default_domain,
    iommu_device_use_default_domain, iommu_group_claim_dma_owner, iommu_group_dma_owner_claimed,
    iommu_group_release_dma_owner, iommu_paging_domain_alloc)
from conftest import bind, dev, drv, errno_of, make, st, unbind

NEWEST = "6.18"


def warns(k):
    return sum(1 for line in k.dmesg() if line.startswith("WARNING:"))


def single(version):
    k = make(version, devices=[dev("0000:0a:00.0", group=60), dev("usb1-1", bus="usb")])
    return k, k.iommu_groups[60], k.devices["0000:0a:00.0"]


@pytest.mark.parametrize("version", ["6.2", "6.6", NEWEST])
def test_s24_unit_sequence(version):
    k, g, a = single(version)
    X, Y = "X", "Y"
    assert iommu_group_claim_dma_owner(g, X) == 0
    assert st(k, 60) == (1, "X", "BLOCKING")
    assert iommu_group_claim_dma_owner(g, X) == -errno.EPERM
    assert iommu_group_claim_dma_owner(g, Y) == -errno.EPERM
    assert iommu_device_claim_dma_owner(a, Y) == -errno.EPERM
    assert iommu_device_claim_dma_owner(a, X) == 0
    assert st(k, 60) == (2, "X", "BLOCKING")
    d1 = iommu_paging_domain_alloc(a, "D1", True)
    d2 = iommu_paging_domain_alloc(a, "D2", True)
    assert iommu_attach_group(d1, g) == 0
    assert st(k, 60) == (2, "X", "USER:D1")
    assert iommu_attach_group(d2, g) == -errno.EBUSY
    assert iommu_device_use_default_domain(a) == -errno.EBUSY
    assert iommu_detach_group(d1, g) is None
    assert st(k, 60) == (2, "X", "BLOCKING")
    iommu_device_release_dma_owner(a)
    assert st(k, 60) == (1, "X", "BLOCKING")
    iommu_group_release_dma_owner(g)
    assert st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    w = warns(k)
    iommu_group_release_dma_owner(g)
    assert warns(k) == w + 1 and st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert iommu_group_claim_dma_owner(g, None) == -errno.EINVAL
    assert warns(k) == w + 2 and st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert iommu_device_use_default_domain(a) == 0
    assert iommu_device_use_default_domain(a) == 0
    assert st(k, 60) == (2, "NULL", "DEFAULT(DMA-FQ)")
    assert iommu_group_claim_dma_owner(g, X) == -errno.EPERM
    assert iommu_group_dma_owner_claimed(g) is True
    iommu_device_unuse_default_domain(a)
    iommu_device_unuse_default_domain(a)
    assert st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    iommu_device_unuse_default_domain(a)
    assert warns(k) == w + 3 and st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    usb = k.devices["usb1-1"]
    assert usb.iommu_group is None
    assert iommu_device_claim_dma_owner(usb, X) == -errno.ENODEV
    assert iommu_device_use_default_domain(usb) == 0
    assert any("WARNING:" in line and "iommu_device_unuse_default_domain" in line for line in k.dmesg())


@pytest.mark.parametrize("version", ["5.19", "6.1"])
def test_s24_before_6_2(version):
    k, g, a = single(version)
    with pytest.raises(NotImplementedError):
        iommu_device_claim_dma_owner(a, "X")
    assert iommu_group_claim_dma_owner(g, None) == 0           # no NULL check yet
    assert st(k, 60) == (1, "NULL", "BLOCKING")
    w = warns(k)
    iommu_group_release_dma_owner(g)                           # owner NULL: WARN, no change
    assert warns(k) == w + 1 and st(k, 60) == (1, "NULL", "BLOCKING")


@pytest.mark.parametrize("version", ["6.2", NEWEST])
def test_s34_warn_only_misuse(version):
    k, g, a = single(version)
    iommu_device_unuse_default_domain(a)
    iommu_group_release_dma_owner(g)
    assert warns(k) == 2 and st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    d1 = iommu_paging_domain_alloc(a, "D1", True)
    d2 = iommu_paging_domain_alloc(a, "D2", True)
    assert iommu_attach_group(d1, g) == 0
    assert st(k, 60) == (0, "NULL", "USER:D1")
    iommu_detach_device(d2, a)
    assert warns(k) == 3 and st(k, 60) == (0, "NULL", "USER:D1")
    iommu_detach_device(d1, a)
    assert st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert iommu_device_use_default_domain(a) == 0
    assert iommu_attach_group(d1, g) == 0
    assert st(k, 60) == (1, "NULL", "USER:D1")
    k.write("/sys/bus/pci/devices/0000:0a:00.0/remove", "1")
    # Step 7's WARN exists only from 6.4 (§0.1; the ground truth's ">=6.2" predates that row).
    assert warns(k) == (4 if version == NEWEST else 3)
    assert any("__iommu_group_free_device" in line for line in k.dmesg()
               if line.startswith("WARNING:")) == (version == NEWEST)
    assert 60 not in k.iommu_groups and "0000:0a:00.0" not in k.devices


def soc(version):
    return make(version, devices=[dev("gpu@1000000", bus="platform", id="vendor,gpu", streamid=0x20, group=40),
                                  dev("codec@1100000", bus="platform", id="vendor,codec", streamid=0x20, group=40)],
                drivers=[drv("kdrv_gpu", bus="platform"), drv("kdrv_codec", bus="platform")],
                cmdline="vfio_platform.reset_required=0")      # S23: no reset handler for the codec


@pytest.mark.parametrize("version,detaches", [("5.19", True), ("6.6", True), (NEWEST, True),
                                              ("6.6", False), (NEWEST, False)])
def test_s23_kernel_driver_private_domain(version, detaches):
    k = soc(version)
    gpu = k.devices["gpu@1000000"]
    g = k.iommu_groups[40]
    dp = iommu_paging_domain_alloc(gpu, "Dp")
    if detaches:
        k.drivers["kdrv_gpu"].remove_hook = lambda k, dev: iommu_detach_group(dp, dev.iommu_group)
    bind(k, "gpu@1000000", "kdrv_gpu", bus="platform")
    assert st(k, 40) == (1, "NULL", "DEFAULT(DMA-FQ)")
    assert iommu_attach_device(dp, gpu) == -errno.EINVAL
    assert iommu_attach_group(dp, g) == 0
    assert st(k, 40) == (1, "NULL", "PRIVATE:Dp")
    assert errno_of(bind, k, "codec@1100000", "kdrv_codec", "platform") == errno.EBUSY
    bind(k, "codec@1100000", "vfio-platform", bus="platform")
    p = k.spawn("dpdk")
    c, gfd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/40")
    assert p.ioctl(gfd, "VFIO_GROUP_GET_STATUS") == 0
    assert errno_of(p.ioctl, gfd, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM
    unbind(k, "gpu@1000000", bus="platform")
    if detaches:
        assert st(k, 40) == (0, "NULL", "DEFAULT(DMA-FQ)")
        return
    assert st(k, 40) == (0, "NULL", "PRIVATE:Dp")
    assert errno_of(p.ioctl, gfd, "VFIO_GROUP_SET_CONTAINER", c) == errno.EBUSY
    unbind(k, "codec@1100000", bus="platform")
    k.write("/sys/bus/platform/devices/codec@1100000/driver_override", "kdrv_codec")
    k.write("/sys/bus/platform/drivers/kdrv_codec/bind", "codec@1100000")
    assert st(k, 40) == (1, "NULL", "PRIVATE:Dp")


@pytest.mark.parametrize("version", ["6.2", "6.6", NEWEST])
def test_s25_pasid_attachment_blocks_transitions(version):
    k = make(version, devices=[dev("0000:6a:00.0", group=50), dev("0000:6a:00.1", group=50)],
             drivers=[drv("accel_drv"), drv("kdrv")])
    a0, g = k.devices["0000:6a:00.0"], k.iommu_groups[50]
    bind(k, "0000:6a:00.0", "accel_drv")
    assert st(k, 50) == (1, "NULL", "DEFAULT(DMA-FQ)")
    sva, sva2 = iommu_paging_domain_alloc(a0, "Dsva"), iommu_paging_domain_alloc(a0, "Dsva2")
    assert iommu_attach_device_pasid(sva, a0, 5) == 0
    assert sorted(g.pasid_array) == [5]
    assert iommu_attach_device_pasid(sva2, a0, 5) == -errno.EBUSY
    assert iommu_attach_device_pasid(sva2, a0, 0) == -errno.EINVAL
    assert iommu_attach_device_pasid(sva2, a0, 1 << 20) == -errno.EINVAL
    assert errno_of(bind, k, "0000:6a:00.1", "kdrv") == errno.EBUSY
    assert iommu_group_claim_dma_owner(g, "X") == -errno.EPERM
    iommu_detach_device_pasid(sva, a0, 5)
    assert g.pasid_array == {}
    bind(k, "0000:6a:00.1", "kdrv")
    assert st(k, 50) == (2, "NULL", "DEFAULT(DMA-FQ)")
    assert iommu_attach_device_pasid(sva, a0, 7) == 0
    w = warns(k)
    unbind(k, "0000:6a:00.0")
    assert warns(k) == w + 1
    assert st(k, 50) == (2, "NULL", "DEFAULT(DMA-FQ)") and sorted(g.pasid_array) == [7]


def test_s25_no_pasid_checks_before_6_2():
    k = make("6.1", devices=[dev("0000:6a:00.0", group=50)])
    a0 = k.devices["0000:6a:00.0"]
    with pytest.raises(NotImplementedError):
        iommu_attach_device_pasid(iommu_paging_domain_alloc(a0), a0, 5)


def test_the_api_functions_are_also_kernel_methods():
    k, g, a = single("6.6")
    assert k.iommu_group_claim_dma_owner(g, "X") == 0
    assert k.iommu_device_claim_dma_owner(a, "Y") == -errno.EPERM
    k.iommu_group_release_dma_owner(g)
    assert st(k, 60) == (0, "NULL", "DEFAULT(DMA-FQ)")
    rfc = make("rfc-2021-11", devices=[dev("0000:01:00.0", group=1)])
    assert rfc.iommu_device_set_dma_owner(rfc.devices["0000:01:00.0"], "DMA_OWNER_USER", "F") == 0
    rfc.iommu_device_release_dma_owner(rfc.devices["0000:01:00.0"], "DMA_OWNER_USER")
    assert rfc.iommu_groups[1].dma_owner == "DMA_OWNER_NONE"
    with pytest.raises(AttributeError):
        k.no_such_function  # noqa: B018 (the attribute read is what raises)
