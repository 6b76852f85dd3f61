"""The view model reads the state of the step shown incrementally (viz.model._live_state: the step
before's state with what this step's events touched read again). It must be the state k.state()
reads whole, after any action a learner can take: random walks of the explorer's actions (and
kill, undo, remove, SR-IOV and rescan among them) on every library scenario, seeded."""
import random
from pathlib import Path

import pytest

from iommulab import Kernel
from iommulab.check.explore import possible_actions
from iommulab.shell import timeline_for
from iommulab.viz import model

SCENARIOS = sorted(p.stem for p in (Path(model.__file__).parent.parent / "scenarios").glob("*.toml")
                   if p.stem != "sriov-2000")
EXTRA = ("kill %1", "kill %2", "undo", "echo 1 > /sys/bus/pci/rescan", "jobs")


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_state_read_incrementally_is_the_whole_state(name):
    rng = random.Random(name)
    k = Kernel.from_scenario(name)
    tl = timeline_for(k)
    for _ in range(25):
        acts = possible_actions(k)
        line = rng.choice(EXTRA) if not acts or rng.random() < 0.2 else rng.choice(acts).script()
        k.sh(line)
        if k.crashed:
            break
        tl.sync()
        st = model.state_at(tl, k, tl.position)
        assert st == k.state(), f"{name}: after {line!r}"


def test_one_unbind_on_a_big_host_reads_only_its_group(monkeypatch):
    k = Kernel.from_scenario("desktop-gpu")
    tl = timeline_for(k)
    model.state_at(tl, k, 0)
    asked = []
    real = type(k).state

    def spy(self, devices=None):
        asked.append(devices)
        return real(self, devices=devices)
    monkeypatch.setattr(type(k), "state", spy)
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    st = model.state_at(tl, k, tl.position)
    assert asked and asked[-1] is not None and "0000:01:00.1" in asked[-1]
    monkeypatch.undo()
    assert st == k.state()
