"""Snapshots restore the whole kernel into the same objects; events record every call."""
import errno

from conftest import bind, dev, drv, errno_of, make, st, unbind


def gpu_audio():
    return make("6.4", config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True},
                devices=[dev("0000:01:00.0", id="10de:2204", group=1),
                         dev("0000:01:00.1", id="10de:1aef", group=1, driver="snd_hda_intel")],
                drivers=[drv("snd_hda_intel", ids=["10de:1aef"])])


def test_restore_returns_state_objects_events_and_log():
    k = gpu_audio()
    g, audio = k.iommu_groups[1], k.devices["0000:01:00.1"]
    snap, state, n_ev, n_log = k.snapshot(), k.state(), len(k.events), len(k.dmesg())
    unbind(k, "0000:01:00.1")
    bind(k, "0000:01:00.0", "vfio-pci")
    bind(k, "0000:01:00.1", "vfio-pci")
    p = k.spawn("qemu")
    c, gfd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    assert errno_of(p.ioctl, gfd, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM   # the leak
    assert k.state() != state
    after = k.snapshot()
    k.restore(snap)
    assert k.state() == state
    assert k.iommu_groups[1] is g and k.devices["0000:01:00.1"] is audio
    assert audio.driver is k.drivers["snd_hda_intel"]
    assert len(k.events) == n_ev and len(k.dmesg()) == n_log
    assert not k.exists("/dev/vfio/1")
    k.restore(after)                                   # and forward again: "back to now"
    assert k.exists("/dev/vfio/1") and st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")


def test_a_snapshot_can_be_restored_many_times_and_branch():
    k = gpu_audio()
    snap = k.snapshot()
    for _ in range(3):
        unbind(k, "0000:01:00.1")
        assert st(k, 1)[0] == 1
        k.restore(snap)
        assert st(k, 1)[0] == 2
    k.write("/sys/bus/pci/devices/0000:01:00.0/driver_override", "vfio-pci")
    branch = k.snapshot()
    k.restore(snap)
    assert k.devices["0000:01:00.0"].driver_override is None
    k.restore(branch)
    assert k.devices["0000:01:00.0"].driver_override == "vfio-pci"


def test_restored_processes_keep_working():
    k = make("6.6", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/5")
    snap = k.snapshot()
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, 5)[0] == 1
    k.restore(snap)
    assert st(k, 5)[0] == 0 and sorted(p.fds) == [c, g]
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, 5) == (1, "vfio_group:5", "BLOCKING")


def test_events_describe_each_step():
    k = gpu_audio()
    assert [e.func for e in k.events] == ["boot"]       # step 0: the machine as booted
    assert k.events[0].groups == ((1, 2, "NULL", "DEFAULT(DMA-FQ)"),)
    unbind(k, "0000:01:00.1")
    top = [e for e in k.events if e.depth == 0]
    assert [e.func for e in top] == ["boot", "vfs_write"] and top[1].step == 1
    funcs = [e.func for e in k.events]
    assert funcs[1:5] == ["vfs_write", "unbind_store", "device_release_driver", "pci_dma_cleanup"]
    unuse = next(e for e in k.events if e.func == "iommu_device_unuse_default_domain")
    assert unuse.args == ("0000:01:00.1",) and unuse.groups == ((1, 1, "NULL", "DEFAULT(DMA-FQ)"),)
    k.write("/sys/bus/pci/devices/0000:01:00.1/driver_override", "vfio-pci")
    k.write("/sys/bus/pci/drivers/vfio-pci/bind", "0000:01:00.1")
    k.write("/sys/bus/pci/devices/0000:01:00.0/driver_override", "vfio-pci")
    k.write("/sys/bus/pci/drivers/vfio-pci/bind", "0000:01:00.0")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c)
    last = [e for e in k.events if e.depth == 0][-1]
    assert last.func == "sys_ioctl" and last.refused and last.errno == errno.EPERM
    assert "EPERM" in last.result_text() and "Operation not permitted" in last.result_text()
    claim = [e for e in k.events if e.func == "iommu_group_claim_dma_owner"][-1]
    assert claim.result == -errno.EPERM and claim.step == last.step and claim.depth > 0
    d = claim.as_dict()
    assert d["errno"] == "EPERM" and d["groups"] == [{"group": 1, "owner_cnt": 1, "owner": "NULL",
                                                      "domain": "DEFAULT(DMA-FQ)"}]


def test_boot_self_test_leak_is_visible_in_the_boot_log():
    k = gpu_audio()
    assert st(k, 1)[0] == 2
    assert any("Adding to iommu group 1" in line for line in k.dmesg())


def test_warn_is_noted_on_its_event():
    from iommulab.kernel.iommu import iommu_device_unuse_default_domain
    k = make("6.6", devices=[dev("0000:01:00.0", group=1)])
    iommu_device_unuse_default_domain(k.devices["0000:01:00.0"])
    assert k.events[-1].note == "WARN in iommu_device_unuse_default_domain"
    assert k.dmesg()[-1].startswith("WARNING:")
