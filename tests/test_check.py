"""Invariants (a state that breaks each rule and one that keeps it), the explorer on the seed-001
pair and two other machines, replaying its scripts, and the command line."""
import subprocess
import sys
from pathlib import Path

import pytest

from iommulab import Kernel
from iommulab.check import check
from iommulab.check.explore import GOALS, Action, explore, possible_actions
from iommulab.kernel.iommu import iommu_device_unuse_default_domain, iommu_group_claim_dma_owner
from iommulab.kernel.scenario import SCENARIO_DIR
from conftest import bind, dev, drv, make, unbind

ROOT = Path(__file__).resolve().parent.parent


def rules(k):
    return {v.rule for v in check(k)}


def seed001(version):
    text = (SCENARIO_DIR / "seed-001.toml").read_text().replace('version = "6.4"', f'version = "{version}"')
    return Kernel.from_toml(text)


# --- each invariant: broken and kept --------------------------------------------------------

def test_count_rule():
    assert rules(seed001("6.6")) == set()
    k = seed001("6.4")
    v = check(k)
    assert [x.rule for x in v] == ["count"] and "owner_cnt 2 but 1 kernel DMA driver bound" in v[0].sentence
    assert "leaked" in v[0].sentence


def test_count_rule_catches_a_stolen_count_too():
    k = make("6.15", devices=[dev("cdx-00:00", bus="cdx", group=3, default_domain=False)], drivers=[drv("cdx_drv", bus="cdx")])
    bind(k, "cdx-00:00", "cdx_drv", bus="cdx")         # cdx swallows -EPROBE_DEFER and binds uncounted
    v = check(k)
    assert [x.rule for x in v] == ["count"] and "stolen" in v[0].sentence


def test_warn_rule():
    k = make("6.6", devices=[dev("0000:01:00.0", group=1)])
    mark = len(k.dmesg())
    assert rules(k) == set()
    iommu_device_unuse_default_domain(k.devices["0000:01:00.0"])
    v = check(k, since_dmesg=mark)
    assert [x.rule for x in v] == ["warn"] and "iommu_device_unuse_default_domain" in v[0].sentence


def test_one_owner_and_owned_domain_rules():
    k = make("6.6", devices=[dev("0000:01:00.0", group=1), dev("0000:01:00.1", group=1)], drivers=[drv("kdrv")])
    g = k.iommu_groups[1]
    assert iommu_group_claim_dma_owner(g, "X") == 0
    assert rules(k) == set()                             # owned, blocking domain, no kernel driver
    d = k.devices["0000:01:00.1"]
    d.driver = k.drivers["kdrv"]                         # a state Linux never reaches
    assert "one-owner" in rules(k)
    d.driver = None
    g.domain = g.default_domain                          # nor this one
    assert rules(k) == {"owned-domain"}


def test_check_a_snapshot_without_disturbing_the_kernel():
    k = seed001("6.4")
    snap = k.snapshot()
    unbind(k, "0000:03:00.1")
    bind(k, "0000:03:00.1", "vfio-pci")
    before = k.state()
    assert [v.rule for v in check(k, snapshot=snap)] == ["count"]
    assert k.state() == before


def test_old_kernel_crash_is_a_finding():
    k = Kernel.from_scenario("pre-5.19-bug")
    assert rules(k) == set()


# --- the explorer ---------------------------------------------------------------------------------

def test_explorer_finds_the_seed_001_leak_on_6_4_and_nothing_on_6_6():
    r = explore(seed001("6.4"), depth=4)
    assert r.found and r.actions == () and "leaked" in r.reason
    r = explore(seed001("6.4"), depth=5, goal="vm-refused-without-kernel-drivers")
    assert r.found and [a.kind for a in r.actions] == ["unbind", "override", "bind", "vm"]
    fixed = seed001("6.6")
    assert not explore(fixed, depth=5).found
    r = explore(fixed, depth=5, goal="vm-refused-without-kernel-drivers")
    assert not r.found and r.states > 20 and r.transitions > r.states


def test_explorer_replay_reproduces_the_broken_state():
    k = seed001("6.4")
    r = explore(k, depth=5, goal="vm-refused-without-kernel-drivers")
    fresh = seed001("6.4")
    out = fresh.sh(r.script)
    # the script ends with `qemu … &`: bash's status is 0, QEMU's words and its job's exit 1 tell
    assert out.status == 0 and "group 45 is not viable" in out.stderr
    assert fresh.sh("true").stderr.startswith("[1]+  Exit 1                  qemu-system-aarch64 ")
    assert fresh.iommu_groups[45].owner_cnt == 1 and fresh.devices["0000:03:00.1"].driver.name == "vfio-pci"
    assert [v.rule for v in check(fresh)] == ["count"]


def test_explorer_on_5_18_finds_the_live_group_warn_then_the_bug():
    k = Kernel.from_scenario("pre-5.19-bug")
    r = explore(k, depth=3)                       # shortest: hot-add into a group VFIO is using (S33 step 7)
    assert r.found and [a.kind for a in r.actions] == ["remove", "vm", "rescan"]
    assert "vfio_group_nb_add_dev" in r.reason
    r = explore(k, depth=3, allow={"unbind", "bind", "vm"})
    assert r.found and [v.rule for v in r.violations] == ["old-vfio-bug"]
    assert [a.kind for a in r.actions] == ["unbind", "vm", "bind"]
    fresh = Kernel.from_scenario("pre-5.19-bug")
    out = fresh.sh(r.script)
    assert fresh.crashed and "Kernel panic" in out.stderr


def cdx_machine():
    return make("6.15", devices=[dev("cdx-00:00", bus="cdx", id="10ee:8084", group=3, default_domain=False,
                                     driver="vfio-cdx")],
                drivers=[drv("cdx_drv", bus="cdx", ids=["10ee:8084"])])


def test_explorer_finds_the_cdx_theft():
    r = explore(cdx_machine(), depth=3)
    assert r.found and [a.kind for a in r.actions] == ["unbind", "bind"] and "stolen" in r.reason
    fresh = cdx_machine()
    assert fresh.sh(r.script).status == 0
    assert [v.rule for v in check(fresh)] == ["count"]


def test_explorer_goal_vm_running_and_leaves_the_kernel_as_it_was():
    k = make("6.6", devices=[dev("0000:05:00.0", id="8086:1533", group=5)], drivers=[drv("igb", ids=["8086:1533"])])
    before, events = k.state(), len(k.events)
    r = explore(k, depth=4, goal="vm-running")
    assert r.found and [a.kind for a in r.actions] == ["unbind", "override", "bind", "vm"]
    assert k.state() == before and len(k.events) == events and k.tracer.enabled


def test_actions_and_their_shell_lines():
    k = Kernel.from_scenario("desktop-gpu")
    kinds = {a.kind for a in possible_actions(k)}
    assert {"unbind", "override", "type", "remove"} <= kinds
    assert Action("vm", (("0000:01:00.0",), "iommufd")).script() == \
        "qemu-system-x86_64 -object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0 &"
    assert Action("clear-override", ("0000:01:00.0", "pci")).script() == \
        "echo > /sys/bus/pci/devices/0000:01:00.0/driver_override"
    with pytest.raises(ValueError, match="unknown goal"):
        explore(k, goal="nope")
    assert set(GOALS) >= {"vm-refused-without-kernel-drivers", "vm-running"}


def test_cli_explore():
    run = lambda *a: subprocess.run([sys.executable, "-m", "iommulab.cli", "explore", *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=ROOT)
    r = run("seed-001", "--depth", "5", "--goal", "vm-refused-without-kernel-drivers")
    assert r.returncode == 0 and "qemu-system-aarch64 -device vfio-pci,host=0000:03:00.1 &" in r.stdout
    r = run("desktop-gpu", "--depth", "2")
    assert r.returncode == 1 and "nothing found within 2 actions" in r.stdout
    r = run("seed-001", "--goal", "bogus")
    assert r.returncode == 2 and "vm-running" in r.stderr


def test_an_arm64_hosts_vm_lines_run_its_own_qemu():
    """seed-001 is an arm64 server: the explorer's (and the hints') VM lines start qemu-system-aarch64."""
    from iommulab.check.explore import possible_actions
    k = Kernel.from_scenario("seed-001")
    k.sh("echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind\n"
         "echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override\n"
         "echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
    vms = [a.script() for a in possible_actions(k) if a.kind == "vm"]
    assert vms and all(v.startswith("qemu-system-aarch64 ") for v in vms)
    x86 = Kernel.from_scenario("desktop-gpu")
    x86.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override\n"
           "echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind\necho 0000:01:00.0 > /sys/bus/pci/drivers_probe")
    vms = [a.script() for a in possible_actions(x86) if a.kind == "vm"]
    assert vms and all(v.startswith("qemu-system-x86_64 ") for v in vms)
