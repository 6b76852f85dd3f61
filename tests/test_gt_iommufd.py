"""Ground truth S09, S11, S12, S36: the VFIO cdev and iommufd path."""
import errno

import pytest

from conftest import bind, dev, drv, errno_of, make, st, unbind

NEWEST = "6.18"


def two_fn_group(version):
    return make(version, devices=[dev("0000:03:00.0", group=3, driver="vfio-pci"),
                                  dev("0000:03:00.1", group=3, driver="vfio-pci")])


@pytest.mark.parametrize("version", ["6.6", NEWEST])
def test_s09_two_devices_same_group_same_ictx(version):
    k = two_fn_group(version)
    assert k.listdir("/dev/vfio/devices") == ["vfio0", "vfio1"]
    assert k.listdir("/sys/bus/pci/devices/0000:03:00.1/vfio-dev") == ["vfio1"]
    p = k.spawn("qemu")
    i1 = p.open("/dev/iommu")
    fd0 = p.open("/dev/vfio/devices/vfio0")
    assert st(k, 3) == (0, "NULL", "DEFAULT(DMA-FQ)")
    p.ioctl(fd0, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    assert st(k, 3) == (1, "ictx:I1", "BLOCKING")
    fd1 = p.open("/dev/vfio/devices/vfio1")
    p.ioctl(fd1, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    assert st(k, 3) == (2, "ictx:I1", "BLOCKING")
    ioas = p.ioctl(i1, "IOMMU_IOAS_ALLOC")
    p.ioctl(fd0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", ioas)
    cnt, owner, domain = st(k, 3)
    assert (cnt, owner) == (2, "ictx:I1") and domain.startswith("USER:hwpt")
    hwpt = k.iommu_groups[3].domain
    p.ioctl(fd1, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", ioas)      # the same hwpt, reused
    assert k.iommu_groups[3].domain is hwpt
    p.close(fd0)
    assert st(k, 3) == (1, "ictx:I1", domain)
    p.close(fd1)
    assert st(k, 3) == (0, "NULL", "DEFAULT(DMA-FQ)")


def test_s09_reversed_close_order_same_end():
    k = two_fn_group("6.6")
    p = k.spawn("qemu")
    i1 = p.open("/dev/iommu")
    fds = [p.open(f"/dev/vfio/devices/vfio{n}") for n in (0, 1)]
    for fd in fds:
        p.ioctl(fd, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    ioas = p.ioctl(i1, "IOMMU_IOAS_ALLOC")
    for fd in fds:
        p.ioctl(fd, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", ioas)
    p.close(fds[1])
    assert st(k, 3)[:2] == (1, "ictx:I1")
    p.close(fds[0])
    assert st(k, 3) == (0, "NULL", "DEFAULT(DMA-FQ)")


def test_second_device_of_a_group_cannot_use_another_hwpt():
    k = two_fn_group("6.6")
    p = k.spawn("qemu")
    i1 = p.open("/dev/iommu")
    fd0, fd1 = p.open("/dev/vfio/devices/vfio0"), p.open("/dev/vfio/devices/vfio1")
    p.ioctl(fd0, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    p.ioctl(fd1, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    a, b = p.ioctl(i1, "IOMMU_IOAS_ALLOC"), p.ioctl(i1, "IOMMU_IOAS_ALLOC")
    p.ioctl(fd0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", a)
    before = k.state()
    assert errno_of(p.ioctl, fd1, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", b) == errno.EINVAL
    assert k.state() == before
    assert errno_of(p.ioctl, fd1, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", 999) == errno.ENOENT


@pytest.mark.parametrize("version", ["6.5", "6.2"])
def test_no_vfio_cdev_before_6_6(version):
    k = two_fn_group(version)
    assert not k.exists("/dev/vfio/devices")
    # the vfio_device is a struct device from 6.1: vfio-dev/vfioN exists, without a `dev` number
    assert k.listdir("/sys/bus/pci/devices/0000:03:00.0/vfio-dev") == ["vfio0"]
    assert not k.exists("/sys/bus/pci/devices/0000:03:00.0/vfio-dev/vfio0/dev")
    p = k.spawn("qemu")
    assert errno_of(p.open, "/dev/vfio/devices/vfio0") == errno.ENOENT


def test_no_iommufd_before_6_2():
    k = two_fn_group("6.1")
    assert errno_of(k.spawn("qemu").open, "/dev/iommu") == errno.ENOENT


def gpu_audio_bound(version):
    return make(version, devices=[dev("0000:01:00.0", id="10de:2204", group=1, driver="vfio-pci"),
                                  dev("0000:01:00.1", id="10de:1aef", group=1, driver="snd_hda_intel")],
                drivers=[drv("snd_hda_intel", ids=["10de:1aef"])])


@pytest.mark.parametrize("version", ["6.6", NEWEST])
def test_s11_kernel_sibling_rejected(version):
    k = gpu_audio_bound(version)
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")
    p = k.spawn("qemu")
    i1, fd0 = p.open("/dev/iommu"), p.open("/dev/vfio/devices/vfio0")
    assert errno_of(p.ioctl, fd0, "VFIO_DEVICE_BIND_IOMMUFD", i1) == errno.EPERM
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")
    unbind(k, "0000:01:00.1")
    assert st(k, 1) == (0, "NULL", "DEFAULT(DMA-FQ)")
    p.ioctl(fd0, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    assert st(k, 1) == (1, "ictx:I1", "BLOCKING")
    assert errno_of(bind, k, "0000:01:00.1", "snd_hda_intel") == errno.EBUSY
    assert st(k, 1) == (1, "ictx:I1", "BLOCKING")


@pytest.mark.parametrize("version", ["6.2", "6.6"])
def test_s13_compat_path_enforces_viability_at_get_device_fd(version):
    k = gpu_audio_bound(version)
    p = k.spawn("qemu")
    i1, g = p.open("/dev/iommu"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", i1)
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 3        # compat reports VIABLE|CONTAINER_SET
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0") == errno.EPERM
    unbind(k, "0000:01:00.1")
    fd = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    assert st(k, 1)[:2] == (1, "ictx:I1") and st(k, 1)[2].startswith("USER:hwpt")
    p.close(fd)
    assert st(k, 1) == (0, "NULL", "DEFAULT(DMA-FQ)")


def test_iommufd_vfio_container_config_gives_viable_but_eperm():
    k = make("6.6", config={"CONFIG_IOMMUFD_VFIO_CONTAINER": True},
             devices=[dev("0000:01:00.0", group=1, driver="vfio-pci"),
                      dev("0000:01:00.1", group=1, driver="snd_hda_intel")],
             drivers=[drv("snd_hda_intel")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 3
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0") == errno.EPERM


@pytest.mark.parametrize("version", ["6.6", NEWEST])
def test_s12_cdev_and_group_fd_exclude_each_other(version):
    k = make(version, devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")])
    p = k.spawn("qemu")
    g = p.open("/dev/vfio/5")
    i1, d = p.open("/dev/iommu"), p.open("/dev/vfio/devices/vfio0")
    assert errno_of(p.ioctl, d, "VFIO_DEVICE_BIND_IOMMUFD", i1) == errno.EBUSY
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    p.close(g)
    p.ioctl(d, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    assert st(k, 5) == (1, "ictx:I1", "BLOCKING")
    assert errno_of(p.open, "/dev/vfio/5") == errno.EBUSY
    assert errno_of(p.ioctl, d, "VFIO_DEVICE_BIND_IOMMUFD", i1) == errno.EINVAL
    d2 = p.open("/dev/vfio/devices/vfio0")
    assert errno_of(p.ioctl, d2, "VFIO_DEVICE_BIND_IOMMUFD", i1) == errno.EINVAL
    assert st(k, 5) == (1, "ictx:I1", "BLOCKING")
    p.close(d2)
    p.close(d)
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    p.open("/dev/vfio/5")                                    # the group file opens again


@pytest.mark.parametrize("version", ["6.3", "6.6", NEWEST])
def test_s36_msi_isolation(version):
    k = make(version, msi_isolation=False, config={"CONFIG_VFIO_DEVICE_CDEV": version >= "6.6"},
             devices=[dev("0000:09:00.0", group=90, driver="vfio-pci")])
    p = k.spawn("qemu")
    i1 = p.open("/dev/iommu")
    if version >= "6.6":
        fd = p.open("/dev/vfio/devices/vfio0")
        bind_dev = lambda: p.ioctl(fd, "VFIO_DEVICE_BIND_IOMMUFD", i1)   # noqa: E731
    else:
        g = p.open("/dev/vfio/90")
        p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", i1)
        bind_dev = lambda: p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:09:00.0")  # noqa: E731
    assert errno_of(bind_dev) == errno.EPERM
    assert st(k, 90) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert k.read("/sys/module/iommufd/parameters/allow_unsafe_interrupts") == "N\n"
    k.write("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "1")
    bind_dev()
    assert st(k, 90)[:2] == (1, "ictx:I1")
    assert any("MSI interrupts are not secure" in line for line in k.dmesg())


def test_s36_iommufd_6_2_checks_msi_at_attach():
    k = make("6.2", msi_isolation=False, devices=[dev("0000:09:00.0", group=90, driver="vfio-pci")])
    p = k.spawn("qemu")
    i1, g = p.open("/dev/iommu"), p.open("/dev/vfio/90")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", i1)
    before = k.state()
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:09:00.0") == errno.EPERM
    assert k.state() == before


def test_s36_legacy_type1_refuses_unless_allowed():
    k = make("6.6", msi_isolation=False, devices=[dev("0000:09:00.0", group=90, driver="vfio-pci")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/90")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.EPERM
    assert st(k, 90) == (1, "vfio_group:90", "BLOCKING")     # still claimed, blocked
    assert any("No interrupt remapping support" in line for line in k.dmesg())
    k.write("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y")
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    assert st(k, 90)[2].startswith("USER:type1")
