"""Issue 17, "Live, read-only, and re-derived": fake live /sys trees (tests/fakesysfs.py) of three
machines whose groups are what Linux gives, read by `import-host --live`'s reader, re-derived by the
simulator: the groups agree; the same Intel desktop on a kernel with the ACS override patch: they
disagree, and the report says why. Also as root and as a user (64 bytes of config space)."""
import pytest

from fakesysfs import ACS_OVERRIDE_DESKTOP, AMD_DESKTOP, INTEL_DESKTOP, SWITCH_SERVER, build, groups
from iommulab import Kernel, cli
from iommulab.hostderive import derive
from iommulab.hostimport import parse_live, to_document
from iommulab.scenario_file import to_toml


@pytest.mark.parametrize("machine", [INTEL_DESKTOP, AMD_DESKTOP, SWITCH_SERVER], ids=lambda m: m.title)
def test_three_machines_read_live_re_derive_to_their_kernels_groups(tmp_path, machine):
    lst = parse_live(str(build(tmp_path, machine)))
    k = Kernel.from_toml(to_toml(to_document(lst)))
    assert {g.id: [d.name for d in g.devices] for g in k.iommu_groups.values()} == groups(machine)
    c = derive(lst)
    assert c.agree, c.lines()
    assert c.lines()[0] == f"Re-derived by Linux's rules, all {len(groups(machine))} groups agree with the kernel's."
    assert c.notes == []                      # as root every fact was read: nothing assumed


def test_the_acs_override_patch_is_found_on_the_command_line_and_explained(tmp_path):
    lst = parse_live(str(build(tmp_path, ACS_OVERRIDE_DESKTOP)))
    assert "pcie_acs_override=downstream,multifunction" in lst.cmdline
    c = derive(lst)
    assert not c.agree and c.disagreements
    assert {d.cause for d in c.disagreements} == {"acs-override"}
    text = " ".join(c.lines())
    assert "out-of-tree ACS override patch" in text and "a mainline kernel would make the simulator's groups" in text


def test_without_root_the_registers_are_unknown_and_said(tmp_path):
    lst = parse_live(str(build(tmp_path, INTEL_DESKTOP, config_bytes=64)))
    assert any("only the first 64 bytes of config space" in t for _n, t in lst.notes)
    c = derive(lst)
    assert c.possible
    assert {d.cause for d in c.disagreements} <= {"acs-unknown"}
    assert any("ACS not known" in n for n in c.notes)


def test_import_host_live_prints_the_comparison(tmp_path, capsys):
    sys_root = build(tmp_path, ACS_OVERRIDE_DESKTOP)
    assert cli.main(["import-host", "--live", "--sys-root", str(sys_root), "-o", str(tmp_path / "mine.toml")]) == 0
    err = capsys.readouterr().err
    assert "Re-derived by Linux's rules" in err and "pcie_acs_override=downstream,multifunction" in err
    nic = next(p for p in err.split("\n- ") if p.startswith("The network controller 0000:02:00.0"))
    assert "is alone in IOMMU group 10" in nic                 # as the kernel has it, and yet:
    assert " ".join(nic.split()).endswith(
        "But its group is this small only because of the ACS override patch (pcie_acs_override= on the "
        "kernel's command line): by Linux's own rules it would share a group with 0000:00:1c.0, 0000:00:1c.4 "
        "and 0000:03:00.0. The patch tells Linux to trust an isolation the hardware does not promise, so "
        "these devices may still reach each other without the IOMMU seeing it.")
    k = Kernel.from_scenario(str(tmp_path / "mine.toml"))
    assert {g.id: [d.name for d in g.devices] for g in k.iommu_groups.values()} == groups(ACS_OVERRIDE_DESKTOP)
