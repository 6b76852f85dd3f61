"""Snapshots share structure (issue 19, "Time travel and memory"): a snapshot of an unchanged kernel
is the snapshot before it, one after an action copies only what the action changed, and restoring
any step of a long timeline — across a reboot too — gives exactly the state a replay of that step's
lines from boot gives. The explorer stops at its limits and says which one.

bench/memory.py measures the memory and time these buy; these tests assert the behaviour."""
import os
import random
import subprocess
import sys

import pytest

from iommulab import Kernel
from iommulab.check.explore import explore
from iommulab.kernel.kobject import Log
from iommulab.shell import lines, timeline_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIO, NIC = "0000:01:00.1", "0000:00:1f.6"


def changed_chunks(a, b):
    return [j for j, (x, y) in enumerate(zip(a.field_chunks, b.field_chunks)) if x is not y]


# --- sharing ------------------------------------------------------------------------------------

def test_snapshots_of_an_unchanged_kernel_are_the_same_objects():
    k = Kernel.from_scenario("desktop-gpu")
    first = k.snapshot()
    snaps = [first]
    for _ in range(20):
        k.read("/sys/kernel/iommu_groups/1/type")            # reads change nothing
        snaps.append(k.snapshot(base=snaps[-1]))
    for s in snaps[1:]:
        assert s.field_chunks is not first.field_chunks
        assert all(x is y for x, y in zip(s.field_chunks, first.field_chunks))
        assert all(x is y for x, y in zip(s.fields, first.fields))
        assert s.events is first.events and s.dmesg is first.dmesg
        for key, v in first.kernel_fields.items():
            assert s.kernel_fields[key] is v, key            # containers equal to base's are base's


def test_a_snapshot_after_one_action_copies_only_what_it_changed():
    k = Kernel.from_scenario("sriov-2000")
    before = k.snapshot()
    saved = {id(o): {key: (v.copy() if type(v) in (list, dict, set) else v) for key, v in vars(o).items()}
             for o in k.objects}
    dev = next(d for d in k.devices.values() if d.physfn is not None and d.driver is not None)
    assert k.sh(lines.unbind("pci", dev.name, dev.driver.name)).status == 0
    after = k.snapshot(base=before)
    touched = {id(o) for o in k.objects if id(o) not in saved or vars(o) != saved[id(o)]}
    assert id(dev) in touched and len(touched) < 10                 # the device, its group, its driver…
    copied = {id(o) for o, x, y in zip(after.objects, after.fields, before.fields) if x is not y}
    copied |= {id(o) for o in after.objects[len(before.objects):]}
    assert copied == touched                                        # those, and nothing else
    assert len(changed_chunks(before, after)) <= len(touched)       # the other chunks are shared
    assert len(after.field_chunks) > 50
    assert after.events.prev is before.events or after.events.prev is before.events.prev
    assert list(after.events) == list(k.events) and list(after.dmesg) == k.dmesg()


def test_a_long_timeline_copies_what_changed_not_the_machine():
    k = Kernel.from_scenario("sriov-2000")
    tl = timeline_for(k)
    vfs = [d for d in sorted(k.devices) if k.devices[d].physfn is not None][:100]
    for name in vfs:
        k.sh(lines.unbind("pci", name, k.devices[name].driver.name))
    assert len(tl.steps) == 101
    chunks = {id(c) for m in tl.steps for c in m.kernel.field_chunks}
    per_snapshot = len(tl.steps[0].kernel.field_chunks)
    assert len(chunks) < per_snapshot + 5 * 100                     # not 101 × ~95 chunks
    devices = {id(m.kernel.kernel_fields["devices"]) for m in tl.steps}
    assert len(devices) == 1                                        # no device came or went
    segments = {id(m.kernel.events.items) for m in tl.steps}
    assert len(segments) == 101                                     # one new segment of events per step
    assert sum(len(m.kernel.events.items) for m in tl.steps) == len(k.events)


def test_log_is_a_sequence():
    a = Log.grow(None, [1, 2, 3])
    live = [1, 2, 3, 4, 5]
    b = Log.grow(a, live)
    assert b.prev is a and b.items == (4, 5) and Log.grow(b, live) is b
    assert len(b) == 5 and list(b) == live and b == tuple(live) and tuple(live) == b and b != (1, 2)
    for i in range(-5, 5):
        assert b[i] == live[i]
    for s in (slice(0, None), slice(2, None), slice(3, None), slice(5, None), slice(-1, None),
              slice(1, 3), slice(None, None, 2), slice(-2, None)):
        assert b[s] == tuple(live[s]), s
    with pytest.raises(IndexError):
        b[5]
    empty = Log.grow(None, [])
    assert len(empty) == 0 and list(empty) == [] and empty[0:] == () and Log.grow(empty, [7]).prev is None


# --- restoring --------------------------------------------------------------------------------

def random_lines(k, rng, n):
    """A seeded walk of lines a learner types (some refused, some changing nothing)."""
    out = []
    for _ in range(n):
        names = sorted(k.devices)
        dev = k.devices[rng.choice(names)]
        drivers = sorted(d.name for d in k.drivers.values() if d.bus is dev.bus and d.registered)
        r = rng.random()
        if r < 0.3:
            line = (lines.unbind(dev.bus.name, dev.name, dev.driver.name) if dev.driver is not None
                    else lines.bind(dev.bus.name, dev.name, rng.choice(drivers)))
        elif r < 0.5:
            line = lines.set_driver_override(dev.bus.name, dev.name, rng.choice(drivers))
        elif r < 0.6:
            line = lines.clear_driver_override(dev.bus.name, dev.name)
        elif r < 0.7:
            line = lines.drivers_probe(dev.bus.name, dev.name)
        elif r < 0.8 and dev.bus.name == "pci" and not dev.is_bridge:
            line = lines.qemu([dev.name], rng.choice(["legacy", "iommufd"]))
        elif r < 0.87:
            line = f"kill %{rng.randrange(1, 3)}"
        elif r < 0.93:
            line = lines.group_type(rng.choice(sorted(k.iommu_groups)), rng.choice(["identity", "DMA", "auto"]))
        elif r < 0.96:
            line = lines.pci_remove(dev.name) if dev.bus.name == "pci" else lines.pci_rescan()
        else:
            line = lines.pci_rescan()
        k.sh(line)
        out.append(line)
    return out


def replay(scenario, actions):
    k = Kernel.from_scenario(scenario)
    for line in actions:
        k.sh(line)
    return k


@pytest.mark.parametrize("seed", [1, 2])
def test_restoring_any_step_gives_that_steps_state_as_a_replay_does(seed):
    rng = random.Random(seed)
    k = Kernel.from_scenario("desktop-gpu")
    tl = timeline_for(k)
    random_lines(k, rng, 40)
    k.sh("reboot")                                           # a reboot in the middle of the history
    random_lines(k, rng, 40)
    steps = len(tl.steps)
    assert steps > 20 and any(m.action == "reboot" for m in tl.steps)
    order = list(range(steps))
    rng.shuffle(order)
    for i in order[:12] + [steps - 1, 0, steps - 1]:
        tl.go(i)
        # the lines that made steps 1..i, run from boot on a fresh kernel
        again = replay("desktop-gpu", [m.action for m in tl.steps[1:i + 1]])
        assert k.state() == again.state(), f"step {i} ({tl.steps[i].action})"
        assert list(k.devices) == list(again.devices) and list(k.iommu_groups) == list(again.iommu_groups)
        assert k.listdir("/sys/bus/pci/devices") == again.listdir("/sys/bus/pci/devices")


def test_a_restore_keeps_the_order_devices_came_in():
    """A removed and rescanned device comes back at the end of k.devices (the order lspci and the
    explorer see): one line doing both leaves a dict equal to the step before's, in another order,
    which a snapshot must not take for the step before's."""
    k = Kernel.from_scenario("desktop-gpu")
    tl = timeline_for(k)
    first = list(k.devices)[0]
    assert k.sh(f"{lines.pci_remove(first)}; {lines.pci_rescan()}").status == 0
    after = list(k.devices)
    assert after[-1] == first and len(tl.steps) == 2
    tl.go(0)
    assert list(k.devices)[0] == first
    tl.go(1)
    assert list(k.devices) == after
    r = explore(k, depth=1, allow={"remove", "rescan"})
    assert r.limit is None and list(k.devices) == after


def test_restoring_a_moment_before_reboot_brings_back_that_boots_buses():
    k = Kernel.from_scenario("desktop-gpu")
    tl = timeline_for(k)
    assert k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind").status == 0
    before = k.state()
    listing = k.sh("ls /sys/bus/pci/devices").stdout
    k.sh("reboot")
    assert k.devices[AUDIO].driver is not None and tl.steps[-1].action == "reboot"
    tl.undo()                                                # back before the reboot
    assert k.state() == before
    assert k.sh("ls /sys/bus/pci/devices").stdout == listing and listing.count("0000:") == len(k.devices)
    r = k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind")
    assert r.status == 0, r.stderr
    assert k.devices[AUDIO].driver.name == "snd_hda_intel"
    tl.go(0)
    r = k.sh(f"echo {NIC} > /sys/bus/pci/drivers/e1000e/unbind")
    assert r.status == 0 and k.devices[NIC].driver is None, r.stderr


def test_going_back_and_forth_keeps_events_and_log_exact():
    k = Kernel.from_scenario("desktop-gpu")
    tl = timeline_for(k)
    random_lines(k, random.Random(5), 30)
    seen = []
    for i in range(len(tl.steps)):
        tl.go(i)
        seen.append((list(k.events), k.dmesg()))
    for i in (len(tl.steps) - 1, 0, 3, len(tl.steps) - 1, 2, 2, 1):
        tl.go(i)
        events, log = seen[i]
        assert len(k.events) == len(events) and all(a is b for a, b in zip(k.events, events))
        assert k.dmesg() == log


# --- the explorer's limits ------------------------------------------------------------------------

def test_the_explorer_stops_at_each_limit_and_says_which():
    k = Kernel.from_scenario("desktop-gpu")
    state = k.state()
    r = explore(k, depth=6, max_states=30)
    assert not r.found and r.limit == "states" and r.states == 31 and r.searched < 6
    assert "state limit (30)" in str(r) and "--max-states" in str(r)
    assert k.state() == state                                # the machine is as it was
    r = explore(k, depth=6, max_seconds=0.05)
    assert not r.found and r.limit == "time" and r.seconds < 5 and "--max-seconds" in str(r)
    r = explore(k, depth=6, max_memory_mb=1e-9, max_seconds=None, max_states=None)
    assert not r.found and r.limit == "memory" and r.transitions % 64 == 0 and "--max-memory" in str(r)
    r = explore(k, depth=2)                                  # within the defaults: a full search
    assert not r.found and r.limit is None and r.searched == 2 and "nothing found within 2" in str(r)
    assert k.state() == state


def test_the_memory_limit_counts_what_the_search_adds(monkeypatch):
    """The process's resident memory grows 10 MB between two looks (every 64 transitions): a
    25 MB limit stops the search at the third look, whatever the process used before."""
    from iommulab.check import explore as ex
    rss = iter(range(500, 10_000, 10))
    monkeypatch.setattr(ex, "rss_mb", lambda: next(rss))
    r = explore(Kernel.from_scenario("desktop-gpu"), depth=6, max_memory_mb=25, max_seconds=None)
    assert r.limit == "memory" and r.transitions == 3 * 64 and r.memory_mb == 30
    assert "memory limit (25 MB)" in str(r) and "+30 MB" in str(r)


def test_a_search_that_finds_within_its_limits_is_unchanged():
    k = Kernel.from_scenario("seed-001")
    r = explore(k, depth=5, goal="vm-refused-without-kernel-drivers")
    assert r.found and r.limit is None and len(r.actions) >= 1 and "qemu-system-aarch64" in r.script
    again = explore(k, depth=5, goal="vm-refused-without-kernel-drivers", max_states=r.states + 1)
    assert again.found and again.actions == r.actions               # a limit it never reached changes nothing
    short = explore(k, depth=5, goal="vm-refused-without-kernel-drivers", max_states=2)
    assert not short.found and short.limit == "states"


def test_cli_explore_limits():
    run = lambda *a: subprocess.run([sys.executable, "-m", "iommulab.cli", "explore", *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=ROOT)
    r = run("desktop-gpu", "--depth", "6", "--max-states", "20")
    assert r.returncode == 3 and "stopped by the state limit (20)" in r.stdout and "--max-states N" in r.stdout
    r = run("desktop-gpu", "--depth", "6", "--max-seconds", "0.2")
    assert r.returncode == 3 and "stopped by the time limit (0.2 s)" in r.stdout
    r = run("desktop-gpu", "--max-states", "0")
    assert r.returncode == 2 and "--max-states must be more than 0" in r.stderr
    r = run("desktop-gpu", "--help")
    assert "--max-memory" in r.stdout and "200,000" in r.stdout


def type_lines(n):
    k = Kernel.from_scenario("desktop-gpu")
    typed = []
    for i in range(n):
        line = lines.set_driver_override("pci", AUDIO, "vfio-pci") if i % 2 == 0 else \
            lines.clear_driver_override("pci", AUDIO)
        assert k.sh(line).status == 0
        typed.append(line)
    return k, typed


def test_the_steps_share_the_shell_history_and_restore_it_exactly(monkeypatch):
    """Each line is kept once however many steps' histories hold it, and every step restores the
    very history a timeline copying the whole window at each step restores."""
    from iommulab.shell import session_for
    from iommulab.shell import timeline as timeline_module
    from iommulab.shell.session import HISTSIZE
    n = HISTSIZE + 60                                        # past HISTSIZE: the window drops its oldest
    k, typed = type_lines(n)
    tl = timeline_for(k)
    assert len(tl.steps) == n + 1
    stored = {id(m.session["history"][1].log.items): len(m.session["history"][1].log.items) for m in tl.steps}
    assert max(stored.values()) <= timeline_module._SEGMENT  # a step keeps its last few lines,
    assert sum(stored.values()) < n * timeline_module._SEGMENT  # not its whole window (~n * HISTSIZE / 2)
    for m in tl.steps:
        window = m.session["history"][1]
        assert len(window.log.segments()) <= HISTSIZE // timeline_module._SEGMENT + 3
    checks = (n, 1, HISTSIZE + 3, 7, 0, n)
    want = []
    with monkeypatch.context() as m:
        m.setattr(timeline_module, "_shared", lambda state, like: state)
        plain, _ = type_lines(n)                             # the oracle: whole copies
        for i in checks:
            timeline_for(plain).go(i)
            want.append((list(session_for(plain).history), session_for(plain).history_count))
    for i, (history, count) in zip(checks, want):
        tl.go(i)
        assert (session_for(k).history, session_for(k).history_count) == (history, count), i
        assert len(history) == min(HISTSIZE, max(i, 1)) or len(history) == min(HISTSIZE, i + 1)
        assert k.devices[AUDIO].driver_override == ("vfio-pci" if i % 2 else None)


def test_a_timeline_makes_full_collections_rarer_but_keeps_thresholds_someone_set():
    """Full collections walk every snapshot's objects: a timeline makes them ten times rarer
    (timeline.fewer_full_collections), but only from CPython's defaults, never over a choice."""
    import gc
    from iommulab.shell.timeline import FULL_COLLECTIONS_EVERY, Timeline
    was = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        Timeline(Kernel.from_scenario("desktop-gpu"))
        assert gc.get_threshold() == (700, 10, FULL_COLLECTIONS_EVERY) and FULL_COLLECTIONS_EVERY > 10
        gc.set_threshold(500, 5, 5)
        Timeline(Kernel.from_scenario("desktop-gpu"))
        assert gc.get_threshold() == (500, 5, 5)
    finally:
        gc.set_threshold(*was)
