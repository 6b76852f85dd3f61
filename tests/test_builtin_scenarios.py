"""Built-in scenarios boot and show what they teach."""
import subprocess
import sys

import pytest

from iommulab import Kernel
from iommulab.kernel.scenario import SCENARIO_DIR, builtin_names, check_expectations


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_boots_and_passes_its_own_smoke_check(name):
    k = Kernel.from_scenario(name)
    assert k.scenario["title"] and k.scenario["description"].strip()
    assert k.scenario["expect"], "every library scenario states what it shows"
    assert check_expectations(k) == []
    assert k.iommu_groups and [e.func for e in k.events] == ["boot"]


def test_the_library_has_what_the_issue_lists():
    names = set(builtin_names())
    assert len(names) >= 10
    assert {"desktop-gpu", "workstation-no-acs", "server-sriov", "legacy-pci-bridge", "arm-soc-streamid",
            "nxp-dpaa2", "seed-001", "seed-004-type", "require-direct", "sriov-2000"} <= names


def test_check_expectations_reports_mismatches():
    k = Kernel.from_scenario("desktop-gpu")
    k.write("/sys/bus/pci/drivers/nouveau/unbind", "0000:01:00.0")
    assert check_expectations(k) == ["group 1 owner_cnt 1, expected 2",
                                      "0000:01:00.0 bound to None, expected nouveau"]


def test_desktop_gpu_audio_holds_the_group():
    k = Kernel.from_scenario("desktop-gpu")
    g = k.iommu_groups[1]
    assert [d.name for d in g.devices] == ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]
    assert g.owner_cnt == 2                       # nouveau and snd_hda_intel
    assert k.devices["0000:00:01.0"].driver.name == "pcieport"


def test_seed_001_leaks_and_the_fix_does_not():
    k = Kernel.from_scenario("seed-001")
    assert k.iommu_groups[45].owner_cnt == 2
    text = (SCENARIO_DIR / "seed-001.toml").read_text()
    fixed = Kernel.from_toml(text.replace('version = "6.4"', 'version = "6.6"'))
    assert fixed.iommu_groups[45].owner_cnt == 1


def test_cli_lists_scenarios():
    out = subprocess.run([sys.executable, "-m", "iommulab.cli", "scenarios"], capture_output=True,
                         text=True, check=True, cwd=__file__.rsplit("/tests/", 1)[0])
    assert "desktop-gpu" in out.stdout and "seed-001" in out.stdout


def pcie_rule_breaks(k):
    """The PCIe rules (spec §8.1, only_one_child() and pci_scan_slot() in drivers/pci/probe.c),
    checked on the booted devices independently of the loader's own checks."""
    bad = []
    for d in k.devices.values():
        p = k.devices.get(d.parent) if d.parent else None
        if p is not None and p.bus.name != d.bus.name:
            bad.append(f"{d.name}: a {d.bus.name} device below the {p.bus.name} device {p.name}")
        if d.bus.name != "pci":
            continue
        dom, bus, slot, fn = d.bdf
        if p is not None and p.kind in ("root-port", "downstream-port") and slot != 0 and d.physfn is None:
            bad.append(f"{d.name}: device {slot:02x} on the link of {p.name}")
        if d.kind == "upstream-port" and (p.kind if p else None) not in ("root-port", "downstream-port") \
                and (p is not None or d.explicit_group is None):
            bad.append(f"{d.name}: upstream port not on a root or downstream port's link")
        if d.kind == "root-port" and p is not None:
            bad.append(f"{d.name}: root port below {p.name}")
        if d.kind == "downstream-port" and (p.kind if p else None) != "upstream-port" \
                and (p is not None or d.explicit_group is None):
            bad.append(f"{d.name}: downstream port outside a switch")
        if p is not None and p.bus.name == "pci" and d.physfn is None and bus <= p.bdf[1]:
            bad.append(f"{d.name}: bus {bus:02x} not above its bridge's bus {p.bdf[1]:02x}")
        if fn and d.physfn is None and d.explicit_group is None \
                and f"{d.name[:-1]}0" not in k.devices and f"{d.name[:-1]}0" not in k.hotplug:
            bad.append(f"{d.name}: no function 0 in its slot")
    return bad


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_is_a_machine_that_can_exist(name):
    k = Kernel.from_scenario(name)
    assert pcie_rule_breaks(k) == []


def test_the_rule_check_finds_a_machine_that_cannot_exist():
    k = Kernel.from_scenario("desktop-gpu")
    k.devices["0000:00:1f.6"].parent = "0000:00:01.0"        # forced past the loader: 00:1f.6 on 00:01.0's link
    assert any("device 1f on the link of 0000:00:01.0" in b for b in pcie_rule_breaks(k))
