"""The driver core and buses: matching (ids, wildcards, driver_override, new_id/remove_id, ids=),
boot and event-driven probing, probe failures, deferred probing, the buses' DMA hooks."""
import errno

import pytest

from iommulab.kernel.iommu import iommu_group_claim_dma_owner
from conftest import bind, dev, drv, errno_of, make, st, unbind


def test_boot_probes_first_matching_driver_with_wildcards():
    k = make("6.6", devices=[dev("0000:00:1f.6", id="8086:15b8", group=1),
                             dev("0000:01:00.0", id="10de:2204", group=2)],
             drivers=[drv("e1000e", ids=["8086:15b8"]), drv("intel_all", ids=["8086:*"]),
                      drv("nouveau", ids=["10de:*"])])
    assert k.devices["0000:00:1f.6"].driver.name == "e1000e"
    assert k.devices["0000:01:00.0"].driver.name == "nouveau"


def test_vfio_pci_ids_on_the_command_line_win_at_boot():
    k = make("6.6", cmdline="vfio-pci.ids=10de:2204,10de:1aef",
             devices=[dev("0000:01:00.0", id="10de:2204", group=1), dev("0000:01:00.1", id="10de:1aef", group=1)],
             drivers=[drv("nouveau", ids=["10de:*"]), drv("snd_hda_intel", ids=["10de:1aef"])])
    assert [k.devices[n].driver.name for n in ("0000:01:00.0", "0000:01:00.1")] == ["vfio-pci", "vfio-pci"]
    assert any(line.startswith("vfio_pci: add [10de:2204[ffff:ffff]]") for line in k.dmesg())
    assert st(k, 1) == (0, "NULL", "DEFAULT(DMA-FQ)")


def test_pci_stub_ids_and_the_override_only_rule():
    k = make("6.6", cmdline="pci-stub.ids=1b21:1242",
             devices=[dev("0000:04:00.0", id="1b21:1242", group=4), dev("0000:05:00.0", id="8086:1533", group=5)])
    assert k.devices["0000:04:00.0"].driver.name == "pci-stub"
    assert k.devices["0000:05:00.0"].driver is None      # vfio-pci and pci-stub match nothing by themselves
    assert errno_of(k.write, "/sys/bus/pci/drivers/vfio-pci/bind", "0000:05:00.0") == errno.ENODEV


def test_driver_override_restricts_and_widens():
    k = make("6.6", devices=[dev("0000:00:1f.6", id="8086:15b8", group=1)], drivers=[drv("e1000e", ids=["8086:15b8"])])
    unbind(k, "0000:00:1f.6")
    k.write("/sys/bus/pci/devices/0000:00:1f.6/driver_override", "vfio-pci\n")
    assert k.read("/sys/bus/pci/devices/0000:00:1f.6/driver_override") == "vfio-pci\n"
    assert errno_of(k.write, "/sys/bus/pci/drivers/e1000e/bind", "0000:00:1f.6") == errno.ENODEV
    k.write("/sys/bus/pci/drivers_probe", "0000:00:1f.6")
    assert k.devices["0000:00:1f.6"].driver.name == "vfio-pci"
    unbind(k, "0000:00:1f.6")
    k.write("/sys/bus/pci/devices/0000:00:1f.6/driver_override", "\n")
    assert k.read("/sys/bus/pci/devices/0000:00:1f.6/driver_override") == "(null)\n"
    k.write("/sys/bus/pci/drivers_probe", "0000:00:1f.6")
    assert k.devices["0000:00:1f.6"].driver.name == "e1000e"


def test_new_id_binds_and_remove_id_forgets():
    k = make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1), dev("0000:02:00.0", id="10de:2204", group=2)])
    k.write("/sys/bus/pci/drivers/vfio-pci/new_id", "10de 2204")
    assert all(k.devices[n].driver.name == "vfio-pci" for n in ("0000:01:00.0", "0000:02:00.0"))
    assert errno_of(k.write, "/sys/bus/pci/drivers/vfio-pci/new_id", "10de 2204") == errno.EEXIST
    k.write("/sys/bus/pci/drivers/vfio-pci/remove_id", "10de 2204")
    assert errno_of(k.write, "/sys/bus/pci/drivers/vfio-pci/remove_id", "10de 2204") == errno.ENODEV
    unbind(k, "0000:01:00.0")
    k.write("/sys/bus/pci/drivers_probe", "0000:01:00.0")
    assert k.devices["0000:01:00.0"].driver is None


def test_drivers_probe_reports_einval_when_ownership_stops_it():
    k = make("6.6", devices=[dev("0000:01:00.0", group=1, driver="vfio-pci"),
                             dev("0000:01:00.1", id="10de:1aef", group=1)],
             drivers=[drv("snd_hda_intel", ids=["10de:1aef"])])
    unbind(k, "0000:01:00.1")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert errno_of(k.write, "/sys/bus/pci/drivers_probe", "0000:01:00.1") == errno.EINVAL
    k.write("/sys/bus/pci/drivers_probe", "0000:01:00.0")        # already bound: fine


def test_probe_failure_is_logged_and_unwound():
    k = make("6.6", devices=[dev("0000:01:00.0", id="8086:1533", group=1)],
             drivers=[drv("broken", ids=["8086:1533"], probe=-12)])
    assert k.devices["0000:01:00.0"].driver is None and st(k, 1)[0] == 0
    assert "broken 0000:01:00.0: probe with driver broken failed with error -12" in k.dmesg()
    assert errno_of(k.write, "/sys/bus/pci/drivers/broken/bind", "0000:01:00.0") == errno.ENOMEM


def test_a_failing_driver_lets_the_next_one_try():
    k = make("6.6", devices=[dev("0000:01:00.0", id="8086:1533", group=1)],
             drivers=[drv("first", ids=["8086:1533"], probe=-5), drv("second", ids=["8086:1533"])])
    assert k.devices["0000:01:00.0"].driver.name == "second"


def test_enodev_probe_is_quiet():
    k = make("6.6", devices=[dev("0000:01:00.0", id="8086:1533", group=1)],
             drivers=[drv("picky", ids=["8086:1533"], probe=-19)])
    assert not any("picky" in line for line in k.dmesg())


def test_deferred_probe_retries_after_another_bind():
    k = make("6.6", devices=[dev("0000:01:00.0", id="8086:1533", group=1), dev("0000:02:00.0", id="8086:15b8", group=2)],
             drivers=[drv("waits", ids=["8086:1533"], probe=-517)])
    assert [d.name for d in k.deferred_probe] == ["0000:01:00.0"]
    assert errno_of(k.write, "/sys/bus/pci/drivers/waits/bind", "0000:01:00.0") == errno.EAGAIN
    k.drivers["waits"].probe_rc = 0                      # its supplier showed up
    bind(k, "0000:02:00.0", "pci-stub")                  # any successful bind retries the list
    assert k.devices["0000:01:00.0"].driver.name == "waits"
    assert k.deferred_probe == []


def test_eprobe_defer_without_default_domain_from_6_15():
    spec = [dev("0000:01:00.0", id="8086:1533", group=1, default_domain=False)]
    drivers = [drv("nic", ids=["8086:1533"])]
    new = make("6.15", devices=spec, drivers=drivers)
    assert new.devices["0000:01:00.0"].driver is None and new.deferred_probe
    old = make("6.14", devices=spec, drivers=drivers)
    assert old.devices["0000:01:00.0"].driver.name == "nic"


def test_usb_has_no_dma_hooks_and_no_group():
    k = make("6.6", devices=[dev("1-1", bus="usb", id="046d:c52b")], drivers=[drv("usbhid", bus="usb", ids=["046d:*"])])
    d = k.devices["1-1"]
    assert d.driver.name == "usbhid" and d.iommu_group is None
    assert not any(e.func.endswith("dma_configure") for e in k.events)


@pytest.mark.parametrize("bus,vfio", [("platform", "vfio-platform"), ("amba", "vfio-amba"),
                                      ("fsl-mc", "vfio-fsl-mc"), ("cdx", "vfio-cdx")])
def test_every_vfio_bus_counts_kernel_drivers(bus, vfio):
    k = make("6.6", devices=[dev("dev0", bus=bus, id="x,y", group=7), dev("dev1", bus=bus, id="x,z", group=7)],
             drivers=[drv("kdrv", bus=bus, ids=["x,y"])], cmdline="vfio_platform.reset_required=0")
    assert st(k, 7)[0] == 1
    bind(k, "dev1", vfio, bus=bus)
    assert st(k, 7)[0] == 1
    p = k.spawn("user")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/7")
    assert errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM


def test_cdx_quirk_binds_uncounted_then_steals_a_count():
    k = make("6.6", devices=[dev("cdx-00:00", bus="cdx", id="10ee:8084", group=3),
                             dev("cdx-00:01", bus="cdx", id="10ee:8085", group=3)],
             drivers=[drv("cdx_drv", bus="cdx")])
    g = k.iommu_groups[3]
    assert iommu_group_claim_dma_owner(g, "X") == 0
    bind(k, "cdx-00:00", "cdx_drv", bus="cdx")          # use_default failed -EBUSY, swallowed
    assert k.devices["cdx-00:00"].driver.name == "cdx_drv"
    assert st(k, 3) == (1, "X", "BLOCKING")
    unbind(k, "cdx-00:00", bus="cdx")                    # cleanup decrements the owner's count
    assert st(k, 3) == (0, "X", "BLOCKING")


def test_pcieport_binds_ports_at_boot_and_does_not_count():
    k = make("6.6", devices=[dev("0000:00:1c.0", kind="root-port", group=9),
                             dev("0000:01:00.0", parent="0000:00:1c.0", group=9)])
    assert k.devices["0000:00:1c.0"].driver.name == "pcieport" and st(k, 9)[0] == 0


def test_hooks_let_a_kernel_developer_run_code_in_probe():
    k = make("6.6", devices=[dev("0000:01:00.0", id="8086:1533", group=1)], drivers=[drv("nic")])
    seen = []
    k.drivers["nic"].probe_hook = lambda kern, d: seen.append(d.name) or -16
    assert errno_of(bind, k, "0000:01:00.0", "nic") == errno.EBUSY
    assert seen == ["0000:01:00.0"] and st(k, 1)[0] == 0
