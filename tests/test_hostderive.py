"""Re-deriving an imported machine's groups by Linux's rules (hostderive): the ACS register test,
the override patch's rules, and each kind of disagreement, on listings built fact by fact."""
import os

import pytest

from iommulab.hostderive import acs_flags_enabled, acs_override, derive
from iommulab.hostimport import Listing, parse_text

SV, TB, RR, CR, UF, EC, DT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
FULL = SV | TB | RR | CR | UF | DT
ISOLATING = (FULL, SV | RR | CR | UF)            # what Linux's pci_std_enable_acs() leaves enabled


def listing(devices, cmdline=None):
    """devices: (name, kernel's group, parent or None, facts)."""
    lst = Listing("test")
    for name, group, parent, facts in devices:
        if parent:
            facts = dict(facts, parent=f"0000:{parent}")
        lst.add(group, name, 0, None, placed=True, **facts)
    lst.cmdline = cmdline
    return lst


def port(**kw):
    return dict({"pcie_type": "root-port", "class": 0x060400, "driver": "pcieport", "id": "8086:1901"}, **kw)


def ep(cls=0x030000, **kw):
    return dict({"pcie_type": "endpoint", "class": cls, "acs": "none", "id": "10de:1b80"}, **kw)


@pytest.mark.parametrize("cap, ctrl, enabled", [
    (FULL, SV | RR | CR | UF, True),              # the four Linux asks for
    (FULL, SV | RR | CR, False),                  # upstream forwarding implemented but off
    (SV | TB, SV, True),                          # RR, CR, UF not implemented: assumed hard-wired
    (0, 0, True),                                 # nothing controllable: nothing required
    (FULL | EC, SV | RR | CR | UF, True),         # egress control is never required
    (FULL, 0, False),
])
def test_acs_flags_enabled_asks_only_for_what_the_capability_implements(cap, ctrl, enabled):
    assert acs_flags_enabled(cap, ctrl) is enabled


def test_acs_override_parameter():
    assert acs_override("BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on") is None
    assert acs_override("quiet pcie_acs_override=downstream,multifunction") == (True, True, set())
    assert acs_override("pcie_acs_override=id:8086:A110,downstream") == (True, False, {"8086:a110"})


def intel_desktop(g):
    """CPU root port 00:01.0 without ACS (GPU shares its group), a PCH multifunction root port pair
    1c.0/1c.4 without an ACS capability, a NIC and an NVMe drive below them; `g` gives the kernel's
    groups of 1c.0, 1c.4, 02:00.0, 03:00.0."""
    return [("00:00.0", 0, None, {"pcie_type": "rc-endpoint", "class": 0x060000, "acs": "none"}),
            ("00:01.0", 1, None, port(acs="none")),
            ("01:00.0", 1, "00:01.0", ep(multifunction=True)),
            ("01:00.1", 1, "00:01.0", ep(0x040300, multifunction=True, id="10de:10f0")),
            ("00:1c.0", g[0], None, port(acs="none", multifunction=True, id="8086:a110")),
            ("00:1c.4", g[1], None, port(acs="none", multifunction=True, id="8086:a114")),
            ("02:00.0", g[2], "00:1c.0", ep(0x020000, id="10ec:8168")),
            ("03:00.0", g[3], "00:1c.4", ep(0x010802, id="144d:a808"))]


def test_groups_that_follow_the_rules_agree():
    c = derive(listing(intel_desktop((2, 2, 2, 2))))
    assert c.agree and c.groups == 3 and c.agreeing == 3
    assert c.summary() == "Re-derived by Linux's rules, all 3 groups agree with the kernel's."


def test_linux_splitting_what_ports_without_acs_join_is_named_a_quirk():
    c = derive(listing(intel_desktop((2, 3, 4, 5))))
    assert not c.agree and c.agreeing == 2 and len(c.disagreements) == 1
    d = c.disagreements[0]
    assert d.cause == "acs-quirk"
    assert d.kernel == [(2, ["0000:00:1c.0"]), (3, ["0000:00:1c.4"]), (4, ["0000:02:00.0"]), (5, ["0000:03:00.0"])]
    assert d.derived == [["0000:00:1c.0", "0000:00:1c.4", "0000:02:00.0", "0000:03:00.0"]]
    assert "root port 0000:00:1c.0 has no ACS" in d.text() and "pci_quirk_intel_pch_acs" in d.text()


def test_the_same_split_with_the_override_on_the_command_line_is_the_override():
    c = derive(listing(intel_desktop((2, 3, 4, 5)), "BOOT_IMAGE=/vmlinuz pcie_acs_override=downstream,multifunction"))
    (d,) = c.disagreements
    assert d.cause == "acs-override" and "pcie_acs_override=downstream,multifunction" in d.text()
    assert "a mainline kernel would make the simulator's groups" in d.text()


def test_override_never_touches_a_port_with_an_acs_capability():
    # 1c.0 has ACS but switched off (ctrl 0): the override patch leaves it alone, so even with
    # the override Linux keeps 02:00.0 with its port; a kernel that split them is not the override.
    devices = intel_desktop((2, 3, 4, 5))
    devices[4] = ("00:1c.0", 2, None, port(acs=(FULL, 0), multifunction=True, id="8086:a110"))
    c = derive(listing(devices, "pcie_acs_override=downstream,multifunction"))
    assert [d.cause for d in c.disagreements] == ["acs-quirk"]


def test_unknown_acs_assumed_to_isolate_and_said_when_linux_groups_coarser():
    devices = [("00:00.0", 0, None, {"pcie_type": "rc-endpoint", "class": 0x060000}),
               ("00:1c.0", 1, None, port(id="8086:a110")),
               ("02:00.0", 1, "00:1c.0", ep(0x020000))]
    c = derive(listing(devices))
    (d,) = c.disagreements
    assert d.cause == "acs-unknown" and "needs root" in d.text()
    assert any(n.startswith("ACS not known for 00:1c.0 (ports") for n in c.notes)   # 00:00.0: no matter


def test_linux_joining_what_the_rules_keep_apart_is_an_alias_quirk():
    devices = [("00:1c.0", 1, None, port(acs=ISOLATING)),
               ("02:00.0", 2, "00:1c.0", ep(0x010601, id="1b4b:9230")),
               ("00:1d.0", 2, None, port(acs=ISOLATING))]
    (d,) = derive(listing(devices)).disagreements
    assert d.cause == "alias-quirk" and "DMA alias quirk" in d.text()


def test_a_pcie_to_pci_bridge_takes_its_devices_into_its_group():
    devices = [("00:1c.0", 1, None, port(acs=ISOLATING)),
               ("01:00.0", 2, "00:1c.0", {"pcie_type": "pcie-to-pci-bridge", "class": 0x060400, "acs": "none"}),
               ("02:01.0", 2, "01:00.0", {"pcie_type": "conventional", "class": 0x020000}),
               ("02:02.0", 2, "01:00.0", {"pcie_type": "conventional", "class": 0x040100})]
    assert derive(listing(devices)).agree


def test_switch_ports_with_acs_give_each_device_its_group():
    devices = [("00:01.0", 1, None, port(acs=ISOLATING)),
               ("01:00.0", 2, "00:01.0", {"pcie_type": "upstream-port", "class": 0x060400, "acs": "none"}),
               ("02:00.0", 3, "01:00.0", {"pcie_type": "downstream-port", "class": 0x060400, "acs": ISOLATING}),
               ("02:01.0", 4, "01:00.0", {"pcie_type": "downstream-port", "class": 0x060400, "acs": ISOLATING}),
               ("03:00.0", 5, "02:00.0", ep(0x010802)),
               ("04:00.0", 6, "02:01.0", ep(0x010802))]
    assert derive(listing(devices)).agree
    devices[2] = ("02:00.0", 3, "01:00.0", {"pcie_type": "downstream-port", "class": 0x060400, "acs": (FULL, SV)})
    (d,) = derive(listing(devices)).disagreements            # RR/CR/UF off: 03:00.0 joins its port
    assert d.derived == [["0000:02:00.0", "0000:03:00.0"]] and d.cause == "acs-quirk"


def test_without_placement_nothing_is_derived_and_it_says_what_to_add():
    lst = Listing("paste")
    lst.add(1, "01:00.0", 1, "x", **{"class": 0x030000})
    c = derive(lst)
    assert not c.possible and not c.agree
    assert "lspci -tv" in c.summary() and "--live" in c.summary()


def test_non_pci_members_are_left_out_and_said():
    devices = intel_desktop((2, 2, 2, 2))
    lst = listing(devices)
    lst.add(9, "ff0c0000.ethernet", 0, None)
    c = derive(lst)
    assert c.agree and any("1 non-PCI device" in n for n in c.notes)


def test_the_passthrough_report_gives_the_rules_reason_where_they_agree_and_the_difference_where_not():
    from iommulab import Kernel
    from iommulab.hostimport import to_document
    from iommulab.hostreport import device_reports
    from iommulab.scenario_file import to_toml
    lst = listing(intel_desktop((2, 3, 4, 5)))
    k = Kernel.from_toml(to_toml(to_document(lst)))
    reports = {r.device: r for r in device_reports(k, derive(lst))[0]}
    gpu = reports["0000:01:00.0"]
    assert gpu.sharing == "own-functions"                  # the port stays: pcieport is no DMA user
    nic = reports["0000:02:00.0"]
    assert nic.sharing == "alone"
    lst = listing(intel_desktop((2, 2, 2, 2)))
    lst.devices["0000:01:00.1"]["group"] = 1
    k = Kernel.from_toml(to_toml(to_document(lst)))
    nic = {r.device: r for r in device_reports(k, derive(lst))[0]}["0000:02:00.0"]
    assert nic.sharing == "shared" and "03:00.0" in " ".join(nic.taken)
    assert ("Why, re-derived by Linux's rules from this machine's topology and ACS registers" in nic.text()
            and "root port 0000:00:1c.0 has no ACS" in nic.text())
    assert "The listing records only" not in nic.text()
    lst.devices["0000:00:1c.4"]["group"] = 5                # Linux split what the rules join
    k = Kernel.from_toml(to_toml(to_document(lst)))
    nic = {r.device: r for r in device_reports(k, derive(lst))[0]}["0000:02:00.0"]
    assert "give another group here" in nic.text() and "ACS quirk" in nic.text()


PASTES = os.path.join(os.path.dirname(__file__), "data", "pastes")


def test_a_paste_with_lspci_tree_and_vvv_is_re_derived_and_its_lines_are_not_skipped():
    # Written for this test (not a published paste): the classic loop, then `lspci -tv` and a root
    # `lspci -vvv` of the same Intel desktop, as one file.
    with open(os.path.join(PASTES, "intel-desktop-tree-vvv.txt"), encoding="utf-8") as f:
        lst = parse_text(f.read(), "paste.txt")
    assert [n for n, _t, _r in lst.skipped] == [1, 8, 13]         # the three prompts only
    d = lst.devices
    assert (d["0000:01:00.0"]["parent"], d["0000:02:00.0"]["parent"]) == ("0000:00:01.0", "0000:00:1c.0")
    assert d["0000:00:01.0"]["acs"] == "none" and d["0000:00:1c.0"]["acs"] == (SV | TB | RR | CR, SV | RR | CR)
    c = derive(lst)
    assert c.lines()[0] == "Re-derived by Linux's rules, all 4 groups agree with the kernel's."
    # 01:00.1's block lists no extended capability, and as a function of a multifunction device
    # its ACS would matter (not here: the port above has none): said, not guessed
    assert [n for n in c.notes if "ACS not known" in n] == [
        "ACS not known for 01:00.1 (ports and multifunction devices, whose ACS registers decide; their "
        "extended capabilities were not read): assumed to isolate."]


def test_a_root_complex_event_collector_never_has_acs_whatever_its_registers():
    # pci_acs_enabled() answers false for PCI_EXP_TYPE_RC_EC (kernel-ownership.md §8.1): as a function
    # of a multifunction slot it shares a group with the slot's functions that lack ACS.
    devices = [("00:1f.0", 1, None, {"pcie_type": "rc-endpoint", "class": 0x060100, "acs": "none"}),
               ("00:1f.7", 1, None, {"pcie_type": "rc-event-collector", "class": 0x080700, "acs": ISOLATING})]
    assert derive(listing(devices)).agree
    devices[0] = ("00:1f.0", 2, None, {"pcie_type": "rc-endpoint", "class": 0x060100, "acs": ISOLATING})
    assert derive(listing(devices)).agree                 # functions join only others lacking ACS too
