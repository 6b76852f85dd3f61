"""Machines that can exist (spec §8.1 [corrected], issue 11): the PCI topology rules the scenario
loader, the Builder and the host importer share, each refused in words that name the rule."""
import errno
import os

import pytest

from conftest import dev, drv, errno_of, make
from iommulab import Builder, ScenarioError
from iommulab.builder import BuildError, MachineBuilder, NoEffect, parse_streamid
from iommulab.hostimport import parse_dirs, to_document
from iommulab.kernel.scenario import load_text, topology_problems
from iommulab.scenario_file import to_toml

VERSIONS = ("5.18", "6.18")          # only_one_child() and the scan rules are older than both


def rp(name, **kw):
    return dev(name, kind="root-port", **kw)


def switch(up, parent, downs):
    return [dev(up, kind="upstream-port", parent=parent)] + [dev(d, kind="downstream-port", parent=up) for d in downs]


def refused(devices, version="6.6"):
    with pytest.raises(ScenarioError) as exc:
        make(version, devices=devices)
    return exc.value


# --- the loader ------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_a_port_link_carries_one_device(version):
    e = refused([rp("0000:00:01.0"), dev("0000:01:00.0", parent="0000:00:01.0"),
                 dev("0000:01:01.0", parent="0000:00:01.0")], version)
    assert e.entry == "[[device]] #3 (0000:01:01.0)"
    assert "device 01 below the root port 0000:00:01.0 cannot exist" in e.problem
    assert "only_one_child()" in e.problem and "switch" in e.problem
    e = refused(switch("0000:01:00.0", "0000:00:01.0", ["0000:02:00.0"]) + [
        rp("0000:00:01.0"), dev("0000:03:00.0", parent="0000:02:00.0"), dev("0000:03:1f.0", parent="0000:02:00.0")],
        version)
    assert e.entry.endswith("(0000:03:1f.0)") and "below the switch downstream port 0000:02:00.0" in e.problem
    # device 0 may have eight functions
    k = make(version, devices=[rp("0000:00:01.0")] + [
        dev(f"0000:01:00.{fn}", parent="0000:00:01.0", multifunction=True) for fn in range(8)])
    assert len(k.devices) == 9


def test_bridges_to_conventional_pci_carry_many_devices():
    k = make(devices=[rp("0000:00:1c.0"), dev("0000:01:00.0", kind="pcie-to-pci-bridge", parent="0000:00:1c.0"),
                      dev("0000:02:00.0", kind="conventional", parent="0000:01:00.0"),
                      dev("0000:02:05.0", kind="conventional", parent="0000:01:00.0"),
                      dev("0000:02:06.0", kind="pci-bridge", parent="0000:01:00.0"),
                      dev("0000:03:00.0", kind="conventional", parent="0000:02:06.0"),
                      dev("0000:03:04.0", kind="conventional", parent="0000:02:06.0")])
    assert {d.name for d in k.devices.values()} >= {"0000:02:05.0", "0000:03:04.0"}


def test_switch_ports_sit_where_a_switch_can_be():
    e = refused([dev("0000:00:02.0", kind="upstream-port")])
    assert "a switch upstream port cannot sit on a root bus" in e.problem
    e = refused([rp("0000:00:1c.0"), dev("0000:01:00.0", kind="pcie-to-pci-bridge", parent="0000:00:1c.0"),
                 dev("0000:02:00.0", kind="upstream-port", parent="0000:01:00.0")])
    assert "sits on the link below a root port or downstream port, not below the PCIe-to-PCI bridge" in e.problem
    e = refused(switch("0000:01:00.0", "0000:00:01.0", ["0000:02:00.0"]) + [
        rp("0000:00:01.0"), rp("0000:03:00.0", parent="0000:02:00.0")])
    assert e.entry.endswith("(0000:03:00.0)") and "a root port lives on a root bus" in e.problem
    e = refused([rp("0000:00:01.0"), dev("0000:01:00.0", kind="downstream-port", parent="0000:00:01.0")])
    assert "sits below its switch's upstream port, not below the root port 0000:00:01.0" in e.problem
    e = refused([dev("0000:00:03.0", kind="downstream-port")])
    assert "not on a root bus" in e.problem
    k = make(devices=[rp("0000:00:01.0")] + switch("0000:01:00.0", "0000:00:01.0", ["0000:02:01.0", "0000:02:02.0"])
             + [dev("0000:03:00.0", parent="0000:02:01.0"), dev("0000:04:00.0", parent="0000:02:02.0")])
    assert k.devices["0000:02:02.0"].driver.name == "pcieport"


def test_non_pci_devices_never_sit_below_a_pci_port():
    e = refused([rp("0000:00:01.0"), dev("ff0c0000.ethernet", bus="platform", id="snps,dwmac", parent="0000:00:01.0")])
    assert e.entry == "[[device]] #2 (ff0c0000.ethernet)"
    assert "a platform device cannot sit below the root port 0000:00:01.0" in e.problem
    e = refused([dev("0000:00:1e.0", kind="pci-bridge"), dev("fe000000.uart", bus="amba", id="arm,pl011",
                                                             parent="0000:00:1e.0")])
    assert "an amba device cannot sit below the PCI-to-PCI bridge 0000:00:1e.0" in e.problem


def test_bus_numbers_follow_the_bridges():
    e = refused([rp("0000:00:01.0"), dev("0000:01:00.0", kind="pcie-to-pci-bridge", parent="0000:00:01.0"),
                 dev("0000:02:00.0", kind="conventional", parent="0000:01:00.0"),
                 dev("0000:03:01.0", kind="conventional", parent="0000:01:00.0")])
    assert "bus 03 cannot be below 0000:01:00.0: 0000:02:00.0 is on bus 02" in e.problem
    e = refused([dev("0000:05:00.0", kind="pci-bridge"), dev("0000:03:00.0", kind="conventional",
                                                           parent="0000:05:00.0")])
    assert "which is on bus 05: a bridge's secondary bus has a higher number" in e.problem
    e = refused([rp("0000:00:01.0"), rp("0000:00:02.0"), dev("0000:01:00.0", parent="0000:00:01.0"),
                 dev("0000:01:00.1", parent="0000:00:02.0")])
    assert "one bus has one bridge above it" in e.problem


def test_a_slot_starts_at_function_0_and_says_multifunction():
    e = refused([dev("0000:00:1f.6")])
    assert "function 0 of this slot (0000:00:1f.0) is missing" in e.problem and "pci_scan_slot()" in e.problem
    e = refused([dev("0000:00:1f.0", multifunction=False), dev("0000:00:1f.3")])
    assert e.entry.endswith("(0000:00:1f.0)") and "hides 0000:00:1f.3" in e.problem and "next_fn()" in e.problem
    k = make(devices=[dev("0000:00:1f.0"), dev("0000:00:1f.3"), dev("0000:00:1f.6")])   # gaps are fine
    assert len(k.devices) == 3


def test_explicit_groups_may_lack_parents_but_given_parents_obey():
    k = make(devices=[dev("0000:05:00.0", kind="upstream-port", group=1), dev("0000:06:01.0", kind="downstream-port",
                                                                            group=2),
                      dev("0000:03:00.1", group=3)])
    assert sorted(k.iommu_groups) == [1, 2, 3]
    e = refused([rp("0000:00:01.0", group=1), dev("0000:01:02.0", parent="0000:00:01.0", group=2)])
    assert "only_one_child()" in e.problem


def vfs_machine(**pf):
    spec = dict({"sriov_totalvfs": 4, "vf_id": "8086:154c", "vf_offset": 8, "vf_stride": 1}, **pf)
    return [rp("0000:00:01.0"), dev("0000:01:00.0", id="8086:1572", parent="0000:00:01.0", **spec),
            dev("0000:01:01.0", id="8086:154c", parent="0000:00:01.0", physfn="0000:01:00.0"),
            dev("0000:01:01.1", id="8086:154c", parent="0000:00:01.0", physfn="0000:01:00.0")]


def test_virtual_functions_at_boot_sit_where_sr_iov_puts_them():
    k = make(devices=vfs_machine(), drivers=[drv("i40e", ids=["8086:1572"], sriov_configure=True)])
    vf = k.devices["0000:01:01.1"]
    assert vf.physfn == "0000:01:00.0" and k.read("/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs") == "2\n"
    assert k.readlink("/sys/bus/pci/devices/0000:01:01.1/physfn").endswith("0000:01:00.0")
    # SR-IOV already on: asking for another count is refused as on a host
    assert errno_of(k.write, "/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs", "3") == errno.EBUSY
    e = refused(vfs_machine(vf_offset=16))
    assert "no virtual function of 0000:01:00.0 can be here" in e.problem
    e = refused(vfs_machine(sriov_totalvfs=1))
    assert e.entry.endswith("(0000:01:01.1)")
    e = refused(vfs_machine()[:1] + [dev("0000:01:01.0", parent="0000:00:01.0", physfn="0000:01:00.7")])
    assert "is not a physical function" in e.problem


def test_one_rule_implementation_for_all():
    devices = [dict(d, bus="pci", kind=d.get("kind", "endpoint")) for d in
               [rp("0000:00:01.0"), dev("0000:01:00.0", parent="0000:00:01.0"), dev("0000:01:01.0", parent="0000:00:01.0")]]
    [(i, name, problem)] = topology_problems(devices)
    assert (i, name) == (2, "0000:01:01.0") and "only_one_child()" in problem
    b = MachineBuilder()
    port = b.add("root-port")[0]
    b.add("nvme", parent=port)
    with pytest.raises(BuildError) as exc:
        b.add("usb", parent=port)
    assert problem in str(exc.value)


# --- the Builder -----------------------------------------------------------------------------------

def built():
    b = MachineBuilder()
    port = b.add("root-port")[0]
    up, d1, d2 = b.add("switch", parent=port)
    gpu, audio = b.add("gpu", parent=d1)
    nvme = b.add("nvme", parent=d2)[0]
    return b, dict(port=port, up=up, d1=d1, d2=d2, gpu=gpu, audio=audio, nvme=nvme)


@pytest.mark.parametrize("part,kw,why", [
    ("nvme", {"acs": False}, "a single-function device is isolated with or without it"),
    ("up", {"acs": False}, "a single-function switch upstream port is isolated"),
    ("audio", {"multifunction": False}, "function 1 is multifunction because Linux found it beside function 0"),
    ("gpu", {"multifunction": True}, "multifunction is already on"),
    ("port", {"acs": True}, "ACS is already on"),
])
def test_toggles_that_change_nothing_say_so_and_change_nothing(part, kw, why):
    b, p = built()
    before, k = b.to_toml(), b.kernel
    with pytest.raises(NoEffect) as exc:
        b.set(p[part], **kw)
    assert "changes nothing" in str(exc.value) and why in str(exc.value)
    assert b.to_toml() == before and b.kernel is k


def test_toggles_that_matter_work_and_note_when_no_group_moved():
    b, p = built()
    assert b.set(p["d1"], acs=False) == []
    assert b.kernel.devices[p["gpu"]].iommu_group is b.kernel.devices[p["d1"]].iommu_group
    with pytest.raises(BuildError, match="hides 0000:03:00.1"):
        b.set(p["gpu"], multifunction=False)
    lone = MachineBuilder()
    rport = lone.add("root-port")[0]
    notes = lone.set(rport, acs=False)                  # read by Linux, but nothing is below it yet
    assert notes == [f"no group changed: Linux reads this on {rport}, but no device's group depends on it yet"]
    assert lone.find(rport)["acs"] is False


def test_conventional_devices_ignore_acs():
    b = MachineBuilder()
    bridge = b.add("pcie-to-pci-bridge", parent=b.add("root-port")[0])[0]
    with pytest.raises(NoEffect, match="never counts a PCIe-to-PCI bridge as isolated"):
        b.set(bridge, acs=True)


def test_stream_ids_are_hex_and_a_second_pair_gets_a_free_one():
    assert parse_streamid("0x877") == parse_streamid("877") == parse_streamid(0x877) == 0x877
    for bad in ("", "0x", "g00", "-1", True):
        with pytest.raises(BuildError):
            parse_streamid(bad)
    b = MachineBuilder()
    eth1, dma1 = b.add("eth-dma-pair")
    eth2, dma2 = b.add("eth-dma-pair")
    k = b.kernel
    assert k.devices[eth1].streamid == 0x800 and k.devices[eth2].streamid == 0x801
    assert k.devices[eth1].iommu_group is not k.devices[eth2].iommu_group
    eth3, _ = b.add("eth-dma-pair", streamid="0x800")    # chosen: shared, so one group
    assert b.kernel.devices[eth3].iommu_group is b.kernel.devices[eth1].iommu_group
    b.set(dma2, streamid="0x877")
    assert b.kernel.devices[dma2].streamid == 0x877 and "streamid = 0x877" in b.to_toml()


def test_removing_function_0_takes_the_slot_and_buses_stay_above_their_bridge():
    b, p = built()
    assert b.remove(p["gpu"]) == sorted([p["gpu"], p["audio"]])
    second = b.add("root-port")[0]
    bridge = b.add("pcie-to-pci-bridge", parent=p["d1"])[0]
    card = b.add("conventional", parent=bridge)[0]
    below = b.add("nvme", parent=second)[0]
    for child, parent in ((card, bridge), (below, second), (bridge, p["d1"])):
        assert int(child[5:7], 16) > int(parent[5:7], 16)
    assert load_text(b.to_toml())["devices"]


def test_the_widget_shows_hex_and_says_when_nothing_changes():
    w = Builder()
    w.add("eth-dma-pair")
    assert w.streamid.value == "0x800" and "stream ID 0x800" in w.why.value
    assert "stream ID 0x800" in w.graph.value                      # the picture's label too
    w.streamid.value = "877"
    w.streamid_b.click()
    assert w.machine.find(w.device.value)["streamid"] == 0x877 and w.error.value == ""
    port = w.add("root-port")[0]
    nvme = w.add("nvme", parent=port)[0]
    w.device.value = nvme
    before = w.machine.to_toml()
    w.acs.value = False
    assert w.error.value.startswith("not changed: ACS off on 0000:01:00.0 changes nothing")
    assert w.acs.value is True and w.machine.to_toml() == before
    w.device.value = port
    w.remove(nvme)
    w.acs.value = False
    assert "no group changed" in w.note.value


# --- the importer ----------------------------------------------------------------------------------

REAL = os.path.join(os.path.dirname(__file__), "data", "real-hosts")   # a copy of ../shared/ground-truth/real-hosts


@pytest.mark.parametrize("name", sorted(n[:-4] for n in os.listdir(REAL) if n.endswith(".txt")))
def test_imported_real_hosts_obey_the_rules(name):
    from iommulab.hostimport import parse_text
    with open(os.path.join(REAL, name + ".txt"), encoding="utf-8") as f:
        doc = to_document(parse_text(f.read(), name))
    scenario = load_text(to_toml(doc), name)
    assert topology_problems(scenario["devices"]) == []


def fake_tree(tmp_path, devices):
    """/sys with devices at their sysfs paths ({name: (parent path parts, class, driver)})."""
    sysroot = tmp_path / "sys"
    pci = sysroot / "bus" / "pci" / "devices"
    pci.mkdir(parents=True)
    for drvname in {d[2] for d in devices.values() if d[2]}:
        (sysroot / "bus" / "pci" / "drivers" / drvname).mkdir(parents=True, exist_ok=True)
    g = sysroot / "kernel" / "iommu_groups"
    for n, (name, (chain, cls, driver)) in enumerate(devices.items()):
        path = sysroot / "devices" / "pci0000:00"
        for part in chain + [name]:
            path = path / part
        path.mkdir(parents=True, exist_ok=True)
        for f, v in (("vendor", "0x8086"), ("device", "0x1234"), ("class", cls)):
            (path / f).write_text(v + "\n")
        os.symlink(os.path.relpath(path, pci), pci / name)
        if driver:
            os.symlink(os.path.relpath(sysroot / "bus" / "pci" / "drivers" / driver, path), path / "driver")
        (g / str(n) / "devices").mkdir(parents=True)
        os.symlink(os.path.relpath(path, g / str(n) / "devices"), g / str(n) / "devices" / name)
    return sysroot


def test_importer_types_switch_ports_by_their_links_and_drops_impossible_parents(tmp_path):
    rport, up, d1, d2 = "0000:00:01.0", "0000:01:00.0", "0000:02:01.0", "0000:02:02.0"
    sysroot = fake_tree(tmp_path, {
        rport: ([], "0x060400", "pcieport"),
        up: ([rport], "0x060400", "pcieport"),
        d1: ([rport, up], "0x060400", "pcieport"),
        d2: ([rport, up], "0x060400", "pcieport"),
        "0000:03:00.0": ([rport, up, d1], "0x010802", None),
        "0000:04:00.0": ([rport, up, d2], "0x020000", None),
        "0000:05:00.0": (["0000:00:02.0"], "0x020000", None),    # below a port the listing lacks
        "0000:00:02.0": ([], "0x060400", "pcieport"),
        "0000:06:00.0": (["0000:00:03.0"], "0x020000", None),
        "0000:06:02.0": (["0000:00:03.0"], "0x020000", None),    # a VF the listing does not mark
        "0000:00:03.0": ([], "0x060400", "pcieport"),
    })
    doc = to_document(parse_dirs(str(sysroot / "kernel" / "iommu_groups"), str(sysroot / "bus" / "pci" / "devices")))
    kinds = {d["name"]: d.get("kind") for d in doc["device"]}
    assert (kinds[rport], kinds[up], kinds[d1], kinds[d2]) == ("root-port", "upstream-port", "downstream-port",
                                                              "downstream-port")
    parents = {d["name"]: d.get("parent") for d in doc["device"]}
    assert parents["0000:03:00.0"] == d1 and parents["0000:06:00.0"] == "0000:00:03.0"
    assert parents["0000:06:02.0"] is None and "Left out the parent of 0000:06:02.0" in doc["description"]
    scenario = load_text(to_toml(doc), "imported.toml")
    assert topology_problems(scenario["devices"]) == []
