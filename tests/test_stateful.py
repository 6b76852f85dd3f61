"""Hypothesis drives learner actions on fixed kernels. After every step the group counts are
what Linux's rules give, worked out by hand from the drivers bound and the VMs running (not from
the model's own checker alone); an action the kernel accepts has the effect it names, and one it
refuses changes nothing a learner can observe."""
import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from iommulab.check import check
from iommulab.check.explore import possible_actions
from conftest import dev, drv, make

SETTINGS = settings(max_examples=25, stateful_step_count=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# The machine's drivers as Linux writes them: these three use the kernel DMA API (no
# driver_managed_dma), so each bound one counts in its group's owner_cnt; vfio-pci and pcieport
# set driver_managed_dma and never count.
KERNEL_DMA = {"nouveau", "snd_hda_intel", "igb"}
MANAGED = {"vfio-pci", "pcieport"}


def machine(version, debug):
    """Two groups: a GPU with its audio function behind a root port without ACS; a lone NIC."""
    return make(version, config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": debug},
                devices=[dev("0000:00:01.0", kind="root-port", acs=False),
                         dev("0000:01:00.0", id="10de:2204", parent="0000:00:01.0", multifunction=True, acs=False),
                         dev("0000:01:00.1", id="10de:1aef", parent="0000:00:01.0", acs=False),
                         dev("0000:02:00.0", id="8086:1533", present=False)],
                drivers=[drv("nouveau", ids=["10de:2204"]), drv("snd_hda_intel", ids=["10de:1aef"]),
                         drv("igb", ids=["8086:1533"])])


def kernel_drivers(state, n):
    return sum(state["devices"][d]["driver"] in KERNEL_DMA for d in state["groups"][n]["devices"])


class Learner(RuleBasedStateMachine):
    version, debug = "6.6", True

    def __init__(self):
        super().__init__()
        self.k = machine(self.version, self.debug)
        self.mark = len(self.k.dmesg())
        self.vms = {}                   # pid -> ("legacy" | "iommufd", devices): the VMs this test started

    def holder(self, state, n):
        """The VM holding group n, from what this test started (None if none)."""
        members = set(state["groups"][n]["devices"])
        held = [pid for pid, (_, devs) in self.vms.items() if members & set(devs)]
        assert len(held) <= 1, f"group {n} held by {held}"
        return held[0] if held else None

    def should_refuse(self, action, state):
        """Linux's answer where the rule is plain (5.19+: owner_cnt decides), else None."""
        kind, a = action.kind, action.args
        group_of = {d: v["group"] for d, v in state["devices"].items()}
        if kind == "bind":
            n = group_of[a[0]]
            return a[2] in KERNEL_DMA and n is not None and self.holder(state, n) is not None   # -EBUSY
        if kind == "vm":          # a group is viable when nothing counts in it: no kernel DMA driver, no owner
            n = group_of[a[0][0]]
            return kernel_drivers(state, n) > 0 or self.holder(state, n) is not None
        if kind == "type":
            n = a[0]
            members = state["groups"][n]["devices"]
            if self.version.startswith("6.1."):   # 6.1: one device in the group, and no driver bound to it
                return len(members) != 1 or state["devices"][members[0]]["driver"] is not None
            return kernel_drivers(state, n) > 0 or self.holder(state, n) is not None   # owner_cnt != 0: -EPERM
        if kind in ("override", "clear-override", "unbind", "kill"):
            return False
        return None

    @rule(data=st.data())
    def act(self, data):
        acts = possible_actions(self.k)
        action = data.draw(st.sampled_from(acts), label="action")
        before = self.k.state()
        refuse = self.should_refuse(action, before)
        pending = len(self.k.pending)
        accepted = action.apply(self.k)
        after = self.k.state()
        a = action.args
        if len(self.k.pending) > pending:      # blocked, not refused: vfio-pci's remove() waits for the VM,
            held = {d for _, devs in self.vms.values() for d in devs}   # and holds the device lock meanwhile
            assert action.kind in ("unbind", "remove", "override", "clear-override") and a[0] in held, action
            assert before["devices"][a[0]]["driver"] == after["devices"][a[0]]["driver"] == "vfio-pci"
            assert before["devices"][a[0]]["driver_override"] == after["devices"][a[0]]["driver_override"]
            return
        if refuse is not None:
            assert accepted == (not refuse), f"{action.script()}: accepted={accepted}, Linux would " + (
                "refuse" if refuse else "accept")
        if not accepted:
            assert after == before, f"{action.script()} was refused but changed the state"
            return
        new = set(after["processes"]) - set(before["processes"])
        if action.kind == "bind":
            assert after["devices"][a[0]]["driver"] == a[2]
        elif action.kind == "unbind":
            assert after["devices"][a[0]]["driver"] is None
        elif action.kind == "override":
            assert after["devices"][a[0]]["driver_override"] == a[2]
        elif action.kind == "clear-override":
            assert after["devices"][a[0]]["driver_override"] is None
        elif action.kind == "type":
            assert after["groups"][a[0]]["default_domain"] == "identity"
        elif action.kind == "remove":
            assert a[0] not in after["devices"]
        elif action.kind == "kill":
            assert a[0] not in after["processes"]
            self.vms.pop(a[0], None)
        elif action.kind == "vm":
            assert len(new) == 1, new
            pid = new.pop()
            assert after["processes"][pid]["holds"]["devices"] == sorted(a[0])
            self.vms[pid] = (a[1], a[0])
        elif action.kind == "rescan":
            assert set(before["hotplug"]) <= set(after["devices"])

    @precondition(lambda self: any(p.alive for p in self.k.processes.values()))
    @rule()
    def shell_view_agrees(self):
        r = self.k.sh("for g in /sys/kernel/iommu_groups/*; do cat $g/type; done")
        types = [g["default_domain"] for _, g in sorted(self.k.state()["groups"].items(), key=lambda x: str(x[0]))]
        assert r.status == 0 and r.stdout.splitlines() == types

    @invariant()
    def counts_follow_linux(self):
        s = self.k.state()
        for n, g in s["groups"].items():
            assert all(s["devices"][d]["driver"] in KERNEL_DMA | MANAGED | {None} for d in g["devices"])
            pid = self.holder(s, n)
            kd = kernel_drivers(s, n)
            if pid is None:
                assert (g["owner"], g["owner_cnt"]) == ("NULL", kd), (n, g)
                continue
            path, devs = self.vms[pid]
            assert kd == 0, (n, g)                 # no kernel DMA driver binds into a group user space owns
            if path == "legacy":                   # the VFIO group claims the whole group once
                assert g["owner"] == f"vfio_group:{n}" and g["owner_cnt"] == 1, (n, g)
            else:                                  # iommufd claims each device it binds
                assert g["owner"].startswith("ictx:") and g["owner_cnt"] == len(set(devs) & set(g["devices"])), (n, g)
        assert set(self.vms) == set(s["processes"])

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
    s = k.state()                                                # the hand rule sees it too: 4, not 2
    assert s["groups"][0]["owner_cnt"] == 4 and kernel_drivers(s, 0) == 2
