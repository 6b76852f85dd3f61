"""VFIO and iommufd rows of ../shared/spec/kernel-ownership.md §0.1, each at both sides of its
version boundary: the vfio-dev device and the cdev node, what a blocked unbind already removed,
the MSI check's place, compat SET_IOMMU, attach-as-replace and the compat container's file rules."""
import errno

import pytest

from conftest import bind, dev, drv, errno_of, make, st
from iommulab.kernel.version import features_for, parse_version
from iommulab.viz.explain import refusal

UNBIND = "/sys/bus/pci/drivers/vfio-pci/unbind"
BDF = "0000:05:00.0"
SYS = f"/sys/bus/pci/devices/{BDF}"


def one(version, **kw):
    return make(version, devices=[dev(BDF, group=5, driver="vfio-pci")], **kw)


def legacy_open(k, p):
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/5")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    return c, g, p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", BDF)


def f(v):
    return features_for(parse_version(v))


# --- version flags --------------------------------------------------------------------------

@pytest.mark.parametrize("flag,on,off", [
    ("vfio_waits_for_container", ["5.18"], ["5.19", "6.0", "6.1"]),
    ("vfio_force_detach_on_last_unbind", ["6.1", "6.18"], ["6.0.19", "5.19", "5.18"]),
    ("vfio_device_sysfs", ["6.1", "6.5", "6.18"], ["6.0.19", "5.19"]),
    ("vfio_unregister_dels_first", ["6.6", "6.12"], ["6.5.13", "6.1"]),
    ("iommufd_msi_check_at_bind", ["6.6", "6.18"], ["6.5.13", "6.3", "6.2"]),
])
def test_flags(flag, on, off):
    assert all(getattr(f(v), flag) for v in on)
    assert not any(getattr(f(v), flag) for v in off)


# --- vfio-dev and /dev/vfio/devices -----------------------------------------------------------

def test_no_vfio_dev_before_6_1():
    k = one("6.0")
    assert not k.exists(f"{SYS}/vfio-dev")
    assert k.state()["devices"][BDF]["cdev"] is None


@pytest.mark.parametrize("version", ["6.1", "6.4", "6.5"])
def test_vfio_dev_without_cdev_6_1_to_6_5(version):
    k = one(version)
    assert k.listdir(f"{SYS}/vfio-dev") == ["vfio0"]
    assert not k.exists(f"{SYS}/vfio-dev/vfio0/dev")          # no devt without the cdev
    assert not k.exists("/dev/vfio/devices/vfio0") and not k.exists("/dev/vfio/devices")
    assert k.state()["devices"][BDF]["cdev"] is None


def test_the_picture_shows_no_cdev_node_on_6_4():
    from iommulab.viz.graph import graph
    assert "/dev/vfio/devices" not in graph(one("6.4")).source
    assert "/dev/vfio/devices/vfio0" in graph(one("6.6")).source


@pytest.mark.parametrize("cdev", [True, False])
def test_6_6_vfio_dev_with_and_without_config_vfio_device_cdev(cdev):
    k = one("6.6", config={"CONFIG_VFIO_DEVICE_CDEV": cdev})
    assert k.listdir(f"{SYS}/vfio-dev") == ["vfio0"]
    assert k.exists(f"{SYS}/vfio-dev/vfio0/dev") is cdev
    assert k.exists("/dev/vfio/devices/vfio0") is cdev
    assert k.state()["devices"][BDF]["cdev"] == ("vfio0" if cdev else None)


def test_indices_follow_registration_and_are_reused():
    k = make("6.1", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci"),
                             dev("0000:06:00.0", group=6, driver="vfio-pci")])
    assert k.listdir("/sys/bus/pci/devices/0000:06:00.0/vfio-dev") == ["vfio1"]
    k.write(UNBIND, "0000:05:00.0")
    assert not k.exists(f"{SYS}/vfio-dev")
    bind(k, "0000:05:00.0", "vfio-pci")
    assert k.listdir(f"{SYS}/vfio-dev") == ["vfio0"]


# --- what a blocked unbind has already removed ----------------------------------------------------

@pytest.mark.parametrize("version", ["6.1", "6.6", "6.12"])
def test_blocked_unbind_hides_the_driver_links(version):
    k = one(version)
    p = k.spawn("qemu")
    _, _, d = legacy_open(k, p)
    assert k.readlink(f"{SYS}/driver").endswith("/drivers/vfio-pci")
    pw = k.write(UNBIND, BDF)
    assert not pw.done
    assert k.devices[BDF].driver.name == "vfio-pci"                 # dev->driver: remove() runs
    assert not k.exists(f"{SYS}/driver")                            # driver_sysfs_remove() ran
    assert BDF not in k.listdir("/sys/bus/pci/drivers/vfio-pci")
    assert not k.exists(f"/sys/bus/pci/drivers/vfio-pci/{BDF}")
    p.close(d)
    assert pw.done and not k.exists(f"{SYS}/driver")


def test_6_1_keeps_vfio_dev_and_lets_a_second_get_device_fd_in():
    k = one("6.1")
    p = k.spawn("qemu")
    _, g, d = legacy_open(k, p)
    pw = k.write(UNBIND, BDF)
    assert k.listdir(f"{SYS}/vfio-dev") == ["vfio0"]                 # device_del() after the wait
    d2 = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", BDF)                # still on the group's list
    p.close(d)
    assert not pw.done                                              # the second fd holds it now
    assert k.exists(f"{SYS}/vfio-dev")
    p.close(d2)
    assert pw.done and not k.exists(f"{SYS}/vfio-dev")
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")


@pytest.mark.parametrize("version", ["6.6", "6.12"])
def test_from_6_6_the_device_is_unlisted_and_deleted_before_the_wait(version):
    k = one(version)
    p = k.spawn("qemu")
    _, g, d = legacy_open(k, p)
    pw = k.write(UNBIND, BDF)
    assert not k.exists(f"{SYS}/vfio-dev")
    assert not k.exists("/dev/vfio/devices/vfio0")
    assert errno_of(p.open, "/dev/vfio/devices/vfio0") == errno.ENOENT
    before = k.state()
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", BDF) == errno.ENODEV
    assert k.state() == before
    p.close(d)
    assert pw.done


def test_6_6_without_cdev_also_unlists_first():
    k = one("6.6", config={"CONFIG_VFIO_DEVICE_CDEV": False})
    p = k.spawn("qemu")
    _, g, d = legacy_open(k, p)
    k.write(UNBIND, BDF)
    assert not k.exists(f"{SYS}/vfio-dev")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", BDF) == errno.ENODEV


def test_6_6_two_device_group_stays_until_the_blocked_one_finishes():
    k = make("6.6", devices=[dev("0000:03:00.0", group=3, driver="vfio-pci"),
                             dev("0000:03:00.1", group=3, driver="vfio-pci")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/3")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    d0 = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:03:00.0")
    pw = k.write(UNBIND, "0000:03:00.0")                            # blocks, already unlisted
    assert k.write(UNBIND, "0000:03:00.1") is None                  # not held: done at once
    assert k.exists("/dev/vfio/3") and st(k, 3)[:2] == (1, "vfio_group:3")
    p.close(d0)
    assert pw.done and not k.exists("/dev/vfio/3")
    assert st(k, 3) == (0, "NULL", "DEFAULT(DMA-FQ)")


# --- iommufd MSI isolation: attach (6.2-6.5) or bind (6.6+) -----------------------------------

def _compat_get_device_fd(version):
    k = one(version, msi_isolation=False)
    p = k.spawn("qemu")
    i1, g = p.open("/dev/iommu"), p.open("/dev/vfio/5")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", i1)
    before = k.state()
    start = len(k.events)
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", BDF) == errno.EPERM
    assert k.state() == before
    return k, k.events[start:]


@pytest.mark.parametrize("version", ["6.2", "6.5"])
def test_msi_refused_at_attach_before_6_6(version):
    k, evs = _compat_get_device_fd(version)
    refused = [e.func for e in evs if e.refused]
    assert "iommufd_device_setup_msi" in refused and "iommufd_device_attach" in refused
    assert "iommufd_device_bind" not in refused
    assert any(e.func == "iommufd_device_bind" and not e.refused for e in evs)
    assert "MSIs" in refusal(k, evs)[2]


@pytest.mark.parametrize("version", ["6.6", "6.18"])
def test_msi_refused_at_bind_from_6_6(version):
    k, evs = _compat_get_device_fd(version)
    refused = [e.func for e in evs if e.refused]
    assert "iommufd_device_bind" in refused
    assert not any(e.func in ("iommufd_device_setup_msi", "iommufd_device_attach") for e in evs)
    assert "MSIs" in refusal(k, evs)[2]


# --- compat SET_IOMMU with no group ---------------------------------------------------------------

@pytest.mark.parametrize("version,config", [("6.2", {}), ("6.6", {"CONFIG_IOMMUFD_VFIO_CONTAINER": True})])
def test_compat_set_iommu_without_a_group_is_enodev(version, config):
    k = one(version, config=config)
    p = k.spawn("qemu")
    c = p.open("/dev/vfio/vfio" if config else "/dev/iommu")
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.ENODEV
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_NOIOMMU_IOMMU") == errno.EINVAL
    g = p.open("/dev/vfio/5")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == 0


def test_real_container_set_iommu_without_a_group_is_einval():
    k = one("6.1")                                                  # no iommufd before 6.2
    p = k.spawn("qemu")
    c = p.open("/dev/vfio/vfio")
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.EINVAL


# --- attach of an attached device: replace ----------------------------------------------------------

def two_fn(version):
    k = make(version, devices=[dev("0000:03:00.0", group=3, driver="vfio-pci"),
                               dev("0000:03:00.1", group=3, driver="vfio-pci")])
    p = k.spawn("qemu")
    i1 = p.open("/dev/iommu")
    fds = [p.open("/dev/vfio/devices/vfio0"), p.open("/dev/vfio/devices/vfio1")]
    for fd in fds:
        p.ioctl(fd, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    return k, p, i1, fds


@pytest.mark.parametrize("version", ["6.6", "6.12", "6.18"])
def test_attach_again_replaces_the_whole_group(version):
    k, p, i1, (fd0, fd1) = two_fn(version)
    a, b = p.ioctl(i1, "IOMMU_IOAS_ALLOC"), p.ioctl(i1, "IOMMU_IOAS_ALLOC")
    hwpt_a = p.ioctl(fd0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", a)
    assert p.ioctl(fd1, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", a) == hwpt_a
    assert st(k, 3) == (2, "ictx:I1", f"USER:hwpt{hwpt_a}")
    hwpt_b = p.ioctl(fd0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", b)      # iommufd_device_do_replace()
    assert hwpt_b != hwpt_a
    assert st(k, 3) == (2, "ictx:I1", f"USER:hwpt{hwpt_b}")
    idevs = [k.devices[n].vfio_device.iommufd_device for n in ("0000:03:00.0", "0000:03:00.1")]
    assert all(i.hwpt.id == hwpt_b for i in idevs)                  # both moved
    assert hwpt_a not in idevs[0].ictx.objects                      # the old table is gone
    assert p.ioctl(fd1, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", b) == hwpt_b   # same table: nothing to do
    p.ioctl(fd0, "VFIO_DEVICE_DETACH_IOMMUFD_PT")
    assert st(k, 3) == (2, "ictx:I1", f"USER:hwpt{hwpt_b}")         # fd1 still attached
    p.ioctl(fd1, "VFIO_DEVICE_DETACH_IOMMUFD_PT")
    assert st(k, 3) == (2, "ictx:I1", "BLOCKING")


def test_replace_to_an_unknown_id_changes_nothing():
    k, p, i1, (fd0, fd1) = two_fn("6.12")
    a = p.ioctl(i1, "IOMMU_IOAS_ALLOC")
    p.ioctl(fd0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", a)
    before = k.state()
    assert errno_of(p.ioctl, fd0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", 999) == errno.ENOENT
    assert k.state() == before


def test_no_attach_ioctl_before_the_cdev():
    k = make("6.5", devices=[dev("0000:03:00.0", group=3, driver="vfio-pci")])
    assert errno_of(k.spawn("qemu").open, "/dev/vfio/devices/vfio0") == errno.ENOENT


# --- compat container (CONFIG_IOMMUFD_VFIO_CONTAINER) -----------------------------------------------

def compat(version, compat_config=True, **kw):
    k = one(version, config={"CONFIG_IOMMUFD_VFIO_CONTAINER": compat_config}, **kw)
    p = k.spawn("qemu")
    return (k, p) + legacy_open(k, p)


@pytest.mark.parametrize("version", ["6.6", "6.18"])
def test_compat_container_pins_no_group_file(version):
    k, p, c, g, d = compat(version)
    assert st(k, 5)[:2] == (1, "ictx:I1")
    p.close(g)
    q = k.spawn("other")
    g2 = q.open("/dev/vfio/5")                                      # the group file was released
    assert q.ioctl(g2, "VFIO_GROUP_GET_STATUS") == 0                # claimed by the ictx: not viable
    assert st(k, 5)[:2] == (1, "ictx:I1")
    p.close(d)
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert q.ioctl(g2, "VFIO_GROUP_GET_STATUS") == 1


@pytest.mark.parametrize("version", ["6.2", "6.6"])
def test_real_container_pins_the_group_file(version):
    k, p, c, g, d = compat(version, compat_config=False)
    p.close(g)
    assert errno_of(k.spawn("other").open, "/dev/vfio/5") == errno.EBUSY
    p.close(d)
    k.spawn("third").open("/dev/vfio/5")


@pytest.mark.parametrize("version", ["6.6", "6.18"])
def test_compat_container_is_not_force_detached(version):
    k, p, c, g, d = compat(version)
    pw = k.write(UNBIND, BDF)
    p.close(d)
    assert pw.done and st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_STATUS") == errno.ENODEV
    assert p.ioctl(g, "VFIO_GROUP_UNSET_CONTAINER") == 0             # group->iommufd stayed
    assert errno_of(p.ioctl, g, "VFIO_GROUP_UNSET_CONTAINER") == errno.EINVAL


@pytest.mark.parametrize("version", ["6.1", "6.6"])
def test_real_container_is_force_detached_from_6_1(version):
    k, p, c, g, d = compat(version, compat_config=False, drivers=[drv("nvme")])
    pw = k.write(UNBIND, BDF)
    p.close(d)
    assert pw.done and st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_UNSET_CONTAINER") == errno.EINVAL
    bind(k, BDF, "nvme")                                            # the group is free again
    assert k.devices[BDF].driver.name == "nvme" and st(k, 5)[0] == 1


@pytest.mark.parametrize("version", ["6.6", "6.18"])
def test_compat_set_container_on_a_non_viable_group(version):
    k = make(version, config={"CONFIG_IOMMUFD_VFIO_CONTAINER": True},
             devices=[dev("0000:01:00.0", group=1, driver="vfio-pci"),
                      dev("0000:01:00.1", group=1, driver="snd_hda_intel")],
             drivers=[drv("snd_hda_intel")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    assert p.ioctl(g, "VFIO_GROUP_GET_STATUS") == 0
    assert p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c) == 0
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    before = k.state()
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0") == errno.EPERM
    assert k.state() == before


def test_lspci_k_shows_no_driver_while_the_unbind_waits():
    k = one("6.12")
    p = k.spawn("qemu")
    _, _, d = legacy_open(k, p)
    assert "Kernel driver in use: vfio-pci" in k.sh("lspci -k -s 05:00.0").stdout
    k.write(UNBIND, BDF)
    assert "Kernel driver in use" not in k.sh("lspci -k -s 05:00.0").stdout
    assert k.devices[BDF].driver.name == "vfio-pci"
