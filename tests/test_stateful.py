"""Hypothesis drives learner actions on fixed kernels: after every step no rule is broken, and an
action the kernel refuses changes nothing a learner can observe."""
import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from iommulab.check import check
from iommulab.check.explore import possible_actions
from conftest import dev, drv, make

SETTINGS = settings(max_examples=25, stateful_step_count=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def machine(version, debug):
    """Two groups: a GPU with its audio function behind a root port without ACS; a lone NIC."""
    return make(version, config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": debug},
                devices=[dev("0000:00:01.0", kind="root-port", acs=False),
                         dev("0000:01:00.0", id="10de:2204", parent="0000:00:01.0", multifunction=True, acs=False),
                         dev("0000:01:00.1", id="10de:1aef", parent="0000:00:01.0", acs=False),
                         dev("0000:02:00.0", id="8086:1533", present=False)],
                drivers=[drv("nouveau", ids=["10de:2204"]), drv("snd_hda_intel", ids=["10de:1aef"]),
                         drv("igb", ids=["8086:1533"])])


class Learner(RuleBasedStateMachine):
    version, debug = "6.6", True

    def __init__(self):
        super().__init__()
        self.k = machine(self.version, self.debug)
        self.mark = len(self.k.dmesg())

    @rule(data=st.data())
    def act(self, data):
        acts = possible_actions(self.k)
        action = data.draw(st.sampled_from(acts), label="action")
        before = self.k.state()
        pending = len(self.k.pending)
        accepted = action.apply(self.k)
        blocked = len(self.k.pending) > pending       # blocked, not refused: its remove() has begun
        if not accepted and not blocked and action.kind != "vm":
            assert self.k.state() == before, f"{action.script()} was refused but changed the state"
        if action.kind == "vm" and not accepted:
            assert self.k.state() == before, "a failed QEMU left something behind"

    @precondition(lambda self: any(p.alive for p in self.k.processes.values()))
    @rule()
    def shell_view_agrees(self):
        r = self.k.sh("for g in /sys/kernel/iommu_groups/*; do cat $g/type; done")
        assert r.status == 0 and r.stdout.count("\n") == len(self.k.iommu_groups)

    @invariant()
    def rules_hold(self):
        assert check(self.k, since_dmesg=self.mark) == []


class Learner66(Learner):
    version, debug = "6.6", True


class LearnerNewest(Learner):
    version, debug = "6.18", False


class Learner61Fixed(Learner):
    version, debug = "6.1.53", True


for cls in (Learner66, LearnerNewest, Learner61Fixed):
    cls.TestCase.settings = SETTINGS

TestLearner66 = Learner66.TestCase
TestLearnerNewest = LearnerNewest.TestCase
TestLearner61Fixed = Learner61Fixed.TestCase


def test_the_leaky_kernel_breaks_the_rules_at_once():
    k = machine("6.4", True)
    v = check(k)                                                 # nouveau and snd_hda_intel each counted twice
    assert [x.rule for x in v] == ["count"] and "owner_cnt 4 but 2 kernel DMA drivers bound" in v[0].sentence
