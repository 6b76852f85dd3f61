"""Unbinding a VFIO device that user space holds blocks in Linux (vfio_unregister_group_dev):
the write returns a PendingWrite, the request reaches the holder, and the write completes by
itself when the holder lets go (../shared/spec/kernel-ownership.md §6.4)."""
import errno

import pytest

from conftest import bind, dev, drv, errno_of, make, st

UNBIND = "/sys/bus/pci/drivers/vfio-pci/unbind"


def held(version, cdev=False):
    k = make(version, devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")], drivers=[drv("nvme")])
    p = k.spawn("qemu")
    if cdev:
        return k, p, {"d": p.open("/dev/vfio/devices/vfio0")}
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/5")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    d = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:05:00.0")
    return k, p, {"c": c, "g": g, "d": d}


@pytest.mark.parametrize("version", ["6.1", "6.6", "6.18"])
def test_unbind_blocks_until_the_device_fd_closes(version):
    k, p, fds = held(version)
    pw = k.write(UNBIND, "0000:05:00.0")
    assert pw is not None and pw.done is False
    assert k.devices["0000:05:00.0"].driver.name == "vfio-pci"       # remove() has not returned
    assert p.requests == ["0000:05:00.0"]
    assert any("No device request channel registered" in line for line in k.dmesg())
    assert st(k, 5)[:2] == (1, "vfio_group:5")
    queued = k.write("/sys/bus/pci/devices/0000:05:00.0/driver_override", "pci-stub")
    assert queued.done is False and k.devices["0000:05:00.0"].driver_override is None
    p.close(fds["d"])
    assert pw.done and queued.done
    assert k.devices["0000:05:00.0"].driver is None
    assert k.devices["0000:05:00.0"].driver_override == "pci-stub"
    # ≥ 6.1: the last VFIO device leaving force-detaches the container: ownership released
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert not k.exists("/dev/vfio/5")
    assert errno_of(p.ioctl, fds["g"], "VFIO_GROUP_GET_STATUS") == errno.ENODEV
    assert any(e.note and "completed" in e.note for e in k.events)


@pytest.mark.parametrize("version", ["5.19", "6.0"])
def test_5_19_and_6_0_neither_wait_for_the_container_nor_detach_it(version):
    """"vfio: Delete container_q" (5.19): the unbind returns once the device's users are gone, but
    the group stays in its container and claimed by it until UNSET_CONTAINER or close (no forced
    detach before 6.1, ca5f21b25749)."""
    k, p, fds = held(version)
    pw = k.write(UNBIND, "0000:05:00.0")
    p.close(fds["d"])
    assert pw.done and k.devices["0000:05:00.0"].driver is None
    assert st(k, 5)[:2] == (1, "container_file:C1") and st(k, 5)[2].startswith("USER:type1")
    assert k.exists("/dev/vfio/5")
    assert p.ioctl(fds["g"], "VFIO_GROUP_GET_STATUS") == 3            # VIABLE | CONTAINER_SET
    assert errno_of(bind, k, "0000:05:00.0", "nvme") == errno.EBUSY
    assert k.devices["0000:05:00.0"].driver is None and st(k, 5)[0] == 1
    p.ioctl(fds["g"], "VFIO_GROUP_UNSET_CONTAINER")
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert p.ioctl(fds["g"], "VFIO_GROUP_GET_STATUS") == 1            # VIABLE: nobody owns it
    k.write("/sys/bus/pci/drivers/nvme/bind", "0000:05:00.0")
    assert k.devices["0000:05:00.0"].driver.name == "nvme"
    p.close(fds["g"])
    assert not k.exists("/dev/vfio/5")


@pytest.mark.parametrize("version", ["5.19", "6.0"])
def test_5_19_and_6_0_closing_the_group_fd_releases_the_group(version):
    k, p, fds = held(version)
    k.write(UNBIND, "0000:05:00.0")
    p.close(fds["d"])
    assert st(k, 5)[0] == 1
    p.close(fds["g"])
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert not k.exists("/dev/vfio/5")


def test_5_18_the_last_device_waits_for_the_container():
    """Up to 5.18 vfio_unregister_group_dev() waited on group->container_q for !group->container."""
    k, p, fds = held("5.18")
    pw = k.write(UNBIND, "0000:05:00.0")
    p.close(fds["d"])
    assert not pw.done                                                # now waiting for the container
    assert k.devices["0000:05:00.0"].driver.name == "vfio-pci"
    p.ioctl(fds["g"], "VFIO_GROUP_UNSET_CONTAINER")
    assert pw.done
    assert k.devices["0000:05:00.0"].driver is None


def test_process_exit_releases_and_completes():
    k, p, fds = held("6.6")
    pw = k.write(UNBIND, "0000:05:00.0")
    p.exit()
    assert pw.done and k.devices["0000:05:00.0"].driver is None
    assert st(k, 5) == (0, "NULL", "DEFAULT(DMA-FQ)")
    assert p.pid not in k.processes
    with pytest.raises(ProcessLookupError):
        p.open("/dev/null")


def test_an_open_cdev_blocks_unbind_too():
    k, p, fds = held("6.6", cdev=True)
    pw = k.write(UNBIND, "0000:05:00.0")
    assert not pw.done
    # vfio_device_del() ran before the wait: the node is gone (observed on 6.12 and 6.18)
    assert not k.exists("/dev/vfio/devices/vfio0")
    assert errno_of(p.open, "/dev/vfio/devices/vfio0") == errno.ENOENT
    p.close(fds["d"])
    assert pw.done


def test_group_fd_alone_does_not_block():
    k = make("6.6", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")])
    p = k.spawn("qemu")
    g = p.open("/dev/vfio/5")
    assert k.write(UNBIND, "0000:05:00.0") is None
    assert errno_of(p.ioctl, g, "VFIO_GROUP_GET_STATUS") == errno.ENODEV


def test_second_unbind_queues_then_fails_with_enodev():
    k, p, fds = held("6.6")
    pw = k.write(UNBIND, "0000:05:00.0")
    again = k.write(UNBIND, "0000:05:00.0")
    assert not again.done
    p.close(fds["d"])
    assert pw.done and again.done and again.errno == errno.ENODEV


def test_remove_of_a_held_device_blocks_then_removes():
    k, p, fds = held("6.6")
    pw = k.write("/sys/bus/pci/devices/0000:05:00.0/remove", "1")
    assert not pw.done and "0000:05:00.0" in k.devices
    p.close(fds["d"])
    assert pw.done
    assert "0000:05:00.0" not in k.devices and 5 not in k.iommu_groups
    k.write("/sys/bus/pci/rescan", "1")
    assert k.devices["0000:05:00.0"].driver.name == "vfio-pci"
