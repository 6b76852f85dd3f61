"""The owner_cnt plot reads a timeline incrementally (viz.plot_reader.Reader keeps one row per step:
what the step changed, a whole composition every CHECKPOINT steps, its markers), so a refresh
costs the same after 5,000 steps as after 5 (issue 19). What it draws must be what reading every
step afresh gives, after anything a learner can do to the timeline: act, undo, look at the past
and act there (a new branch), reboot, run several lines at once, change the kernel from Python
without a step. Each bar is also checked against k.state() of its own step, read by going back."""
import random
import re
from pathlib import Path

import pytest

from iommulab import Kernel
from iommulab.check.explore import possible_actions
from iommulab.shell import timeline_for
from iommulab.shell.timeline import Timeline
from iommulab.viz import model, plot_reader
from iommulab.viz.plot_reader import Reader, composition

SCENARIOS = sorted(p.stem for p in (Path(model.__file__).parent.parent / "scenarios").glob("*.toml")
                   if p.stem != "sriov-2000")
EXTRA = ("kill %1", "kill %2", "undo", "echo 1 > /sys/bus/pci/rescan", "jobs", "ls /sys/kernel/iommu_groups")


def composition_at(k, i):
    """Step i's composition, read whole from the public surface (the step shown is the machine now)."""
    tl = timeline_for(k)
    if i == tl.position:
        return composition(k.state())
    with tl.excursion():
        tl.restore(tl.steps[i])
        return composition(k.state())


def check_bars(k, data):
    lo, hi = data["steps"]
    for p in data["panels"]:
        for i, *parts in p["bars"]:
            assert lo <= i <= hi
            want = composition_at(k, i).get(p["group"], (0, 0, 0, 0))[1:]
            assert tuple(parts) == want, (p["group"], i)


def act(k, rng):
    """One thing a learner does, chosen at random; returns it in words."""
    tl = timeline_for(k)
    r = rng.random()
    acts = possible_actions(k)
    if r < 0.08 and len(tl.steps) > 2:
        tl.sync()                            # the steps as the slider shows them (a Python change is one)
        i = rng.randrange(len(tl.steps) - 1)
        tl.go(i)
        return f"go {i}"
    if r < 0.12:
        tl.now()
        return "now"
    if r < 0.16:
        tl.undo()
        return "undo"
    if r < 0.20 and acts:                    # two lines in one run: the middle step is never shown
        line = "\n".join(rng.choice(acts).script() for _ in range(2))
    elif r < 0.24 and acts:                  # from Python: no step until the next look
        a = rng.choice(acts).script()
        m = re.fullmatch(r"echo (.*) > (/sys/\S+)", a)
        if m:
            try:
                k.write(m[2], m[1].strip("'\""))
            except OSError:
                pass
            return f"k.write({m[2]!r})"
        line = a
    elif r < 0.25:
        line = "reboot"
    elif not acts or r < 0.40:
        line = rng.choice(EXTRA)
    else:
        line = rng.choice(acts).script()
    k.sh(line)
    return line


@pytest.mark.parametrize("every", [1, 3, plot_reader.CHECKPOINT])
@pytest.mark.parametrize("name", SCENARIOS)
def test_the_plot_read_step_by_step_is_the_plot_read_afresh(name, every, monkeypatch):
    monkeypatch.setattr(plot_reader, "CHECKPOINT", every)
    rng = random.Random(f"{name}-{every}")
    k = Kernel.from_scenario(name)
    reader = Reader()
    reader.build(k)
    done = []
    for _ in range(30):
        done.append(act(k, rng))
        if k.crashed:
            break
        got = reader.build(k)
        assert got == Reader().build(k), f"{name}: after {done}"
        check_bars(k, got)


def test_a_long_session_crosses_many_checkpoints_and_a_window_in_the_past_is_right():
    k = Kernel.from_scenario("desktop-gpu")
    rng = random.Random(19)
    reader = Reader()
    tl = timeline_for(k)
    while len(tl.steps) < 3 * plot_reader.CHECKPOINT + 5:
        acts = possible_actions(k)
        k.sh(rng.choice(acts).script() if acts else "echo 1 > /sys/bus/pci/rescan")
        reader.build(k)
    for i in (1, plot_reader.CHECKPOINT, 2 * plot_reader.CHECKPOINT + 3, len(tl.steps) - 1):
        tl.go(i)
        got = reader.build(k)
        assert got == Reader().build(k)
        assert got["position"] == i
        check_bars(k, got)


def test_a_refresh_after_one_action_goes_back_to_no_old_step(monkeypatch):
    k = Kernel.from_scenario("desktop-gpu")
    rng = random.Random(7)
    reader = Reader()
    for _ in range(40):
        acts = possible_actions(k)
        k.sh(rng.choice(acts).script() if acts else "echo 1 > /sys/bus/pci/rescan")
        reader.build(k)
    restored, whole = [], []
    real_restore, real_state = Timeline.restore, type(k).state
    monkeypatch.setattr(Timeline, "restore", lambda self, m: restored.append(m) or real_restore(self, m))
    monkeypatch.setattr(type(k), "state", lambda self, devices=None: whole.append(devices is None)
                        or real_state(self, devices=devices))
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/devices/0000:01:00.1/driver/unbind")
    reader.build(k)
    assert not restored and not any(whole)        # the new step is read from its own events


def test_branching_off_in_the_past_forgets_the_steps_after_it():
    k = Kernel.from_scenario("desktop-gpu")
    reader = Reader()
    audio = "0000:01:00.1"
    for line in (f"echo {audio} > /sys/bus/pci/drivers/snd_hda_intel/unbind",
                 f"echo {audio} > /sys/bus/pci/drivers/snd_hda_intel/bind",
                 f"echo {audio} > /sys/bus/pci/drivers/snd_hda_intel/unbind"):
        k.sh(line)
        reader.build(k)
    tl = timeline_for(k)
    tl.go(1)
    reader.build(k)
    k.sh(f"echo vfio-pci > /sys/bus/pci/devices/{audio}/driver_override")   # acting in the past: a new branch
    got = reader.build(k)
    assert got["last"] == 2 == len(tl.steps) - 1
    assert got == Reader().build(k)
    check_bars(k, got)
