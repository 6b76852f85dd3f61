"""Ground truth S28 (platform devices sharing a stream ID), S32 (the unmerged 2021 RFC) and S33
(pre-5.19 VFIO viability, the BUG_ON and the crashed kernel)."""
import errno

import pytest

from iommulab import KernelCrashed
from iommulab.kernel import rfc2021
from conftest import bind, dev, drv, errno_of, make, st, unbind

NEWEST = "6.18"
PLAT = "platform"


@pytest.mark.parametrize("version", ["5.19", "6.6", NEWEST])
def test_s28_platform_devices_sharing_a_stream_id(version):
    k = make(version, devices=[dev("ethernet@ff0c0000", bus=PLAT, id="snps,dwmac", streamid=0x877),
                               dev("dma@ff0d0000", bus=PLAT, id="arm,pl330", streamid=0x877)],
             drivers=[drv("eth_drv", bus=PLAT, ids=["snps,dwmac"])],
             cmdline="vfio_platform.reset_required=0")          # the pl330 has no reset handler
    eth, dma = k.devices["ethernet@ff0c0000"], k.devices["dma@ff0d0000"]
    assert eth.iommu_group is dma.iommu_group          # same stream ID, same group
    n = eth.iommu_group.id
    assert eth.driver.name == "eth_drv"
    assert st(k, n) == (1, "NULL", "DEFAULT(DMA-FQ)")
    bind(k, "dma@ff0d0000", "vfio-platform", bus=PLAT)
    p = k.spawn("dpdk")
    c, g = p.open("/dev/vfio/vfio"), p.open(f"/dev/vfio/{n}")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 0
    assert errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM
    unbind(k, "ethernet@ff0c0000", bus=PLAT)
    assert st(k, n) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 1
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, n)[0] == 1 and st(k, n)[2] == "BLOCKING"
    k.write("/sys/bus/platform/devices/ethernet@ff0c0000/driver_override", "\n")
    assert errno_of(k.write, "/sys/bus/platform/drivers/eth_drv/bind", "ethernet@ff0c0000") == errno.EBUSY
    assert eth.driver is None


def test_platform_devices_without_stream_ids_have_no_group():
    k = make("6.6", devices=[dev("serial@ff000000", bus=PLAT, id="ns16550a")])
    assert k.devices["serial@ff000000"].iommu_group is None
    assert not k.exists("/sys/bus/platform/devices/serial@ff000000/iommu_group")


def rfc_gpu_audio():
    return make("rfc-2021-11", devices=[dev("0000:01:00.0", group=1), dev("0000:01:00.1", group=1)],
                drivers=[drv("snd_hda_intel")])


def rst(k, n):
    g = k.iommu_groups[n]
    return (g.dma_owner, g.owner_cnt, g.owner_user_file)


def test_s32_rfc_tristate():
    k = rfc_gpu_audio()
    gpu = k.devices["0000:01:00.0"]
    assert rst(k, 1) == ("DMA_OWNER_NONE", 0, None)
    bind(k, "0000:01:00.1", "snd_hda_intel")
    assert rst(k, 1) == ("DMA_OWNER_KERNEL", 1, None)
    bind(k, "0000:01:00.0", "vfio-pci")
    assert rst(k, 1) == ("DMA_OWNER_KERNEL", 1, None)
    f1, f2 = object(), object()
    assert rfc2021.iommu_device_set_dma_owner(gpu, "DMA_OWNER_USER", f1) == -errno.EBUSY
    unbind(k, "0000:01:00.1")
    assert rst(k, 1) == ("DMA_OWNER_NONE", 0, None)
    assert rfc2021.iommu_device_set_dma_owner(gpu, "DMA_OWNER_USER", f1) == 0
    assert rst(k, 1) == ("DMA_OWNER_USER", 1, f1)
    assert rfc2021.iommu_device_set_dma_owner(gpu, "DMA_OWNER_USER", f2) == -errno.EPERM
    assert rfc2021.iommu_device_set_dma_owner(gpu, "DMA_OWNER_USER", None) == -errno.EINVAL
    assert errno_of(bind, k, "0000:01:00.1", "snd_hda_intel") == errno.EBUSY
    assert rst(k, 1) == ("DMA_OWNER_USER", 1, f1)
    rfc2021.iommu_device_release_dma_owner(gpu, "DMA_OWNER_USER")
    assert rst(k, 1) == ("DMA_OWNER_NONE", 0, None)


def test_s32_rfc_has_no_test_remove_leak():
    k = make("rfc-2021-11", config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True},
             devices=[dev("0000:03:00.1", id="8086:1533", group=45)],
             drivers=[drv("kdrv_nic", ids=["8086:1533"])])
    assert rst(k, 45) == ("DMA_OWNER_KERNEL", 1, None)
    unbind(k, "0000:03:00.1")
    assert rst(k, 45) == ("DMA_OWNER_NONE", 0, None)


def test_s32_rfc_vfio_claims_user_mode():
    k = rfc_gpu_audio()
    bind(k, "0000:01:00.0", "vfio-pci")
    bind(k, "0000:01:00.1", "vfio-pci")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 1
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert k.iommu_groups[1].dma_owner == "DMA_OWNER_USER" and k.iommu_groups[1].owner_cnt == 2
    p.close(g)
    assert rst(k, 1) == ("DMA_OWNER_NONE", 0, None)


def old_gpu_audio():
    return make("5.18", devices=[dev("0000:01:00.0", group=1, driver="vfio-pci"),
                                 dev("0000:01:00.1", group=1, driver="snd_hda_intel"),
                                 dev("0000:01:00.2", group=1, present=False)],
                drivers=[drv("snd_hda_intel")])


def test_s33_pre_5_19_viability_by_allow_list():
    k = old_gpu_audio()
    g = k.iommu_groups[1]
    assert g.owner_cnt == 0                                  # no ownership tracking at all
    p = k.spawn("qemu")
    c, gfd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    assert p.ioctl(gfd, "VFIO_GROUP_GET_STATUS") == 0
    p.ioctl(gfd, "VFIO_GROUP_SET_CONTAINER", c)              # no viability check here
    assert p.ioctl(gfd, "VFIO_GROUP_GET_STATUS") == 2        # CONTAINER_SET only
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    assert errno_of(p.ioctl, gfd, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0") == errno.EINVAL


def test_s33_pre_5_19_bug_on_then_reboot():
    k = old_gpu_audio()
    unbind(k, "0000:01:00.1")
    bind(k, "0000:01:00.1", "vfio-pci")
    p = k.spawn("qemu")
    c, gfd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(gfd, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    fd0 = p.ioctl(gfd, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    fd1 = p.ioctl(gfd, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.1")
    p.close(fd1)
    unbind(k, "0000:01:00.1")                                # not opened: completes
    k.write("/sys/bus/pci/devices/0000:01:00.1/driver_override", "snd_hda_intel")
    with pytest.raises(KernelCrashed, match="has crashed"):
        k.write("/sys/bus/pci/drivers/snd_hda_intel/bind", "0000:01:00.1")
    assert any(line.startswith("kernel BUG at drivers/vfio/vfio.c") for line in k.dmesg())
    with pytest.raises(KernelCrashed):
        k.read("/sys/kernel/iommu_groups/1/type")
    with pytest.raises(KernelCrashed):
        p.close(fd0)
    with pytest.raises(KernelCrashed):
        k.spawn("again")
    k.reboot()
    assert k.crashed is None
    assert k.devices["0000:01:00.1"].driver.name == "snd_hda_intel"
    assert k.read("/sys/kernel/iommu_groups/1/type") == "DMA-FQ\n"


def test_s33_hotplug_into_live_group_warns():
    k = old_gpu_audio()
    unbind(k, "0000:01:00.1")
    p = k.spawn("qemu")
    c, gfd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(gfd, "VFIO_GROUP_SET_CONTAINER", c)
    k.write("/sys/bus/pci/rescan", "1")
    assert "0000:01:00.2" in k.devices
    assert "pci 0000:01:00.2: Device added to live group 1!" in k.dmesg()      # dev_WARN's prefix


def test_s33_the_same_bind_is_a_clean_ebusy_from_5_19():
    k = make("5.19", devices=[dev("0000:01:00.0", group=1, driver="vfio-pci"),
                              dev("0000:01:00.1", group=1, driver="vfio-pci")],
             drivers=[drv("snd_hda_intel")])
    p = k.spawn("qemu")
    c, gfd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(gfd, "VFIO_GROUP_SET_CONTAINER", c)
    unbind(k, "0000:01:00.1")
    assert errno_of(bind, k, "0000:01:00.1", "snd_hda_intel") == errno.EBUSY
    assert k.crashed is None
