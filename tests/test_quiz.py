"""Seeded problems (issue 13, "Seeded problems"): iommulab.course.quiz, `iommulab quiz`, the Quiz widget.

The answers are checked against the kernel's rules replayed here on a fresh boot of the problem's
machine, independently of the quiz's code: what each sysfs write returns (k.write's OSError), what
owner_cnt Linux keeps (since v5.19: one count per bound driver without driver_managed_dma while no
one owns the group, exactly 1 while a VFIO group owns it), when QEMU cannot start (no /dev/vfio/N:
-ENOENT; the group already open: -EBUSY; a member on a kernel DMA driver: "not viable"), and which
devices share a group (pci_device_group()'s rules for this catalogue).
"""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from iommulab import Kernel, cli
from iommulab.course import quiz
from iommulab.course.quiz import QuizError, problem

ROOT = Path(__file__).resolve().parent.parent
SEEDS = list(range(40)) + [60, 65, 167]            # 60, 65, 167: a step kills a QEMU
VFIO = "vfio-pci"
MANAGED = {"vfio-pci", "pcieport"}          # drivers that set driver_managed_dma: they take no count


# --- determinism ------------------------------------------------------------------------------------

SCRIPT = ("from iommulab.course.quiz import problem\n"
          "for s in (0, 1, 7, 12345):\n"
          "    for v in ('6.6', '5.18', '6.12'):\n"
          "        p = problem(s, version=v)\n"
          "        print(p.text()); print(p.reveal())\n")


def _in_fresh_python(hashseed):
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_the_same_seed_gives_the_same_problem_in_two_fresh_processes():
    a, b = _in_fresh_python(1), _in_fresh_python(987654)       # str hashes differ between the two
    assert a == b
    here = "".join(problem(s, version=v).text() + "\n" + problem(s, version=v).reveal() + "\n"
                   for s in (0, 1, 7, 12345) for v in ("6.6", "5.18", "6.12"))
    assert a == here
    assert a.count("iommulab quiz --seed") == 12


# The golden text of one problem. If the Builder's catalogue (iommulab/builder.py CATALOGUE), the
# pci.ids names or the quiz's recipe change, this text changes: update it here, deliberately, after
# reading the new one (a shared `iommulab quiz --seed 1 ...` then makes another problem).
GOLDEN_1 = """\
iommulab quiz --seed 1 --kind owner --version 6.6

The machine (Linux 6.6; each device's driver at boot on the right):
  0000:00:01.0  USB controller [0c03]: ASMedia Technology Inc. ASM1142 USB 3.1 Host Controller [1b21:1242] \
(on the root bus)  -> xhci_hcd
  0000:00:02.0  PCIe root port (ACS on)  -> pcieport
    0000:01:00.0  switch upstream port  -> pcieport
      0000:02:08.0  switch downstream port (ACS on)  -> pcieport
        0000:03:00.0  SATA controller [0106]: Intel Corporation SATA Controller [AHCI mode] [8086:a102]  -> ahci
      0000:02:09.0  switch downstream port (ACS on)  -> pcieport

Its IOMMU groups:
  group 0: 0000:00:01.0
  group 1: 0000:00:02.0
  group 2: 0000:01:00.0
  group 3: 0000:02:08.0
  group 4: 0000:02:09.0
  group 5: 0000:03:00.0

As root, one line at a time:
  1. echo 0000:00:01.0 > /sys/bus/pci/drivers/xhci_hcd/unbind
  2. echo 0000:03:00.0 > /sys/bus/pci/drivers/ahci/unbind
  3. echo vfio-pci > /sys/bus/pci/devices/0000:00:01.0/driver_override
  4. echo 0000:00:01.0 > /sys/bus/pci/drivers/vfio-pci/bind
  5. qemu-system-x86_64 -device vfio-pci,host=0000:00:01.0 &
  6. qemu-system-x86_64 -device vfio-pci,host=0000:00:01.0 &

Questions:
  q0. What is group 0's owner_cnt at boot, before step 1?
  q1. What is group 0's owner_cnt after step 1?
  q2. What is group 0's owner_cnt after step 2?
  q3. What is group 0's owner_cnt after step 3?
  q4. What is group 0's owner_cnt after step 4?
  q5. What is group 0's owner_cnt after step 5?
  q6. What is group 0's owner_cnt after step 6?
"""


def test_a_golden_problem():
    p = problem(1, "owner", "6.6")
    assert p.text() == GOLDEN_1
    # xhci_hcd counts 1; unbound: 0; vfio-pci is driver_managed_dma: 0; QEMU's claim: 1; a second QEMU
    # cannot open /dev/vfio/0 (-EBUSY) and changes nothing
    assert [a.value for a in p.answers()] == ["1", "0", "0", "0", "0", "1", "1"]
    assert [s.result for s in p.steps] == ["ok"] * 5 + ["-EBUSY"]


def test_different_seeds_give_different_problems():
    texts = [problem(s, "errno").text().split("\n", 1)[1] for s in range(30)]      # without the echo line
    assert len(set(texts)) == 30


def test_the_kind_is_drawn_whether_or_not_it_is_given():
    for s in range(12):
        p = problem(s)
        assert p.picked and p.kind in quiz.KINDS
        q = problem(s, kind=p.kind)
        assert q.text() == p.text() and not q.picked
        other = problem(s, kind=next(k for k in ("groups", "errno") if k != p.kind))
        assert [x.line for x in other.steps] == [x.line for x in p.steps]        # one seed, one machine and steps
        assert other.machine == p.machine
    assert len({problem(s).kind for s in range(40)}) == 4


def test_every_problem_echoes_the_command_that_makes_it_again():
    p = problem(7, "owner", "6.4")
    assert p.command == "iommulab quiz --seed 7 --kind owner --version 6.4"
    assert p.text().splitlines()[0] == p.command
    args = p.command.split()[2:]
    q = problem(int(args[1]), args[3], args[5])
    assert q.text() == p.text()


# --- the machines -----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["6.6", "5.18", "6.12"])
def test_generated_machines_boot_and_are_small(version):
    for s in range(100):
        p = problem(s, version=version)
        k = Kernel.from_toml(p.machine, "quiz.toml")          # the loader accepts what the Builder wrote
        assert 3 <= len(k.devices) <= quiz.MAX_DEVICES
        assert k.state()["groups"] == Kernel.from_toml(p.machine, "again.toml").state()["groups"]
        assert {n: list(g["devices"]) for n, g in k.state()["groups"].items()} == p.groups
        assert tomllib.loads(p.machine)["kernel"]["version"] == version
        assert 3 <= len(p.steps) <= 6 or p.steps[-1].result == "BUG"


# --- the answers are the kernel's ---------------------------------------------------------------------


def _holders(k):
    """group number -> pid of a QEMU holding it (from the processes' open /dev/vfio/N)."""
    out = {}
    for pid, p in k.processes.items():
        for f in p.fds.values():
            m = re.fullmatch(r"/dev/vfio/(\d+)", f.path)
            if m:
                out[int(m.group(1))] = pid
    return out


def _members(k, dev):
    return [d.name for d in k.devices[dev].iommu_group.devices]


def _drv(k, d):
    x = k.devices[d].driver
    return x.name if x else None


def expected_qemu(k, devs):
    """What QEMU gets from VFIO, by the kernel's rules, before it runs."""
    for d in devs:
        n, members = k.devices[d].iommu_group.id, _members(k, d)
        if not any(_drv(k, m) == VFIO for m in members):
            return "-ENOENT"                           # no /dev/vfio/N until a member is on vfio-pci
        if n in _holders(k):
            return "-EBUSY"                            # vfio_group_fops_open(): one opener at a time
        if any(_drv(k, m) not in MANAGED | {None} for m in members):
            return "not viable"                        # VFIO_GROUP_GET_STATUS without VIABLE
        if _drv(k, d) != VFIO:
            return "-ENODEV"                           # VFIO_GROUP_GET_DEVICE_FD: no such vfio device
    return "ok"


def expected_write(k, line):
    m = re.fullmatch(r"echo (\S+) > /sys/bus/pci/(drivers/([^/]+)/(bind|unbind)|devices/([^/]+)/driver_override)", line)
    assert m, line
    if m.group(5):
        return "ok"                                    # driver_override_store() takes any name
    dev, drv, op = m.group(1), m.group(3), m.group(4)
    d = k.devices[dev]
    if op == "unbind":
        return "ok" if _drv(k, dev) == drv else "-ENODEV"
    matches = d.driver_override == drv if d.driver_override else (drv != VFIO and drv in _id_drivers(k, dev))
    if not matches:
        return "-ENODEV"                               # bind_store(): driver_match_device() failed
    if d.driver is not None:
        return "-EBUSY"                                # __driver_probe_device(): dev->driver is set
    if drv not in MANAGED and d.iommu_group.id in _holders(k):
        return "-EBUSY"                                # iommu_device_use_default_domain(): group owned
    return "ok"


def _id_drivers(k, dev):
    """The scenario's drivers whose ID table has the device's vendor:device."""
    doc = tomllib.loads(_machine_of[id(k)])
    ident = next(d["id"] for d in doc["device"] if d["name"] == dev)
    return {x["name"] for x in doc.get("driver", []) if ident in x.get("ids", [])}


_machine_of = {}


def expected_owner_cnt(k, n):
    """v5.19+: owned by a VFIO group -> 1; else the bound drivers that use the kernel DMA API."""
    if n in _holders(k):
        return 1
    return sum(1 for d in k.iommu_groups[n].devices if d.driver is not None and d.driver.name not in MANAGED)


def replay(p):
    """The problem's steps on a fresh kernel: (observed result, owner_cnt of the target) per step,
    with the rule-predicted result before each."""
    k = Kernel.from_toml(p.machine, "quiz.toml")
    _machine_of[id(k)] = p.machine
    out = []
    for s in p.steps:
        line = s.line
        if line.startswith("qemu"):
            devs = re.findall(r"host=([0-9a-f:.]+)", line)
            want = expected_qemu(k, devs)
            before = set(k.processes)
            r = k.sh(line)
            got = "ok" if _new_qemu_with(k, before, devs) else _qemu_failure(r, k)
        elif line.startswith("kill"):
            want = "ok"
            pid = int(line.split()[1])
            assert pid in k.processes
            k.sh(line)
            got = "ok" if pid not in k.processes else "still running"
        else:
            want = expected_write(k, line)
            path = line.split("> ", 1)[1]
            data = line[len("echo "):].split(" > ", 1)[0] + "\n"
            try:
                k.write(path, data)
                got = "ok"
            except OSError as e:
                from iommulab.kernel.errno import errname
                got = f"-{errname(e.errno)}"
        out.append((want, got, k.iommu_groups[p.target].owner_cnt, expected_owner_cnt(k, p.target)))
    return k, out


def _new_qemu_with(k, before, devs):
    """A QEMU started since `before` (a set of pids) runs and holds `devs`."""
    procs = k.state()["processes"]
    return any(pid not in before and set(devs) <= set(procs[pid]["holds"]["devices"]) for pid in procs)


def _qemu_failure(r, k):
    text = r.stdout + r.stderr
    if "not viable" in text:
        return "not viable"
    for name, words in (("-ENOENT", "No such file or directory"), ("-EBUSY", "Device or resource busy"),
                        ("-ENODEV", "No such device")):
        if words in text:
            return name
    return "failed: " + text


@pytest.mark.parametrize("seed", SEEDS)
def test_errno_and_owner_answers_are_what_the_kernel_does(seed):
    p_owner, p_errno = problem(seed, "owner"), problem(seed, "errno")
    k, seen = replay(p_errno)
    if any(s.result == "BUG" for s in p_errno.steps):
        pytest.fail("a BUG at 6.6")
    results = [a.value for a in p_errno.answers()]
    assert results == [want for want, _, _, _ in seen]                  # the kernel's rules
    assert [got for _, got, _, _ in seen] == [want for want, _, _, _ in seen]     # and what k.write/QEMU did
    cnts = [a.value for a in p_owner.answers()]
    k0 = Kernel.from_toml(p_owner.machine, "boot.toml")
    assert cnts[0] == str(k0.iommu_groups[p_owner.target].owner_cnt) == str(expected_owner_cnt(k0, p_owner.target))
    assert cnts[1:] == [str(c) for _, _, c, _ in seen] == [str(e) for _, _, _, e in seen]


@pytest.mark.parametrize("seed", SEEDS)
def test_viability_answers_are_what_qemu_gets(seed):
    p = problem(seed, "viability")
    k, _ = replay(p)
    want = expected_qemu(k, [p.device])
    before = set(k.processes)
    r = k.sh(f"qemu-system-x86_64 -device vfio-pci,host={p.device} &")
    started = _new_qemu_with(k, before, [p.device])
    assert started == (want == "ok") == (p.answers()[0].value == "yes"), (want, r.stderr, p.viable_rule)
    if not started:
        assert want in p.viable_rule


def _oracle_groups(machine):
    """pci_device_group() for the catalogue's parts: a device below a PCIe-to-PCI bridge uses the
    bridge's requester ID (pci_for_each_dma_alias); a bridge on the path whose ACS is off (root and
    downstream ports read ACS; a conventional bridge never isolates) takes everything below it, the
    topmost such one winning; else the functions of a multifunction device without ACS share one."""
    doc = tomllib.loads(machine)
    devs = {d["name"]: d for d in doc["device"]}

    def isolates(b):
        kind = b.get("kind", "endpoint")
        if kind == "pcie-to-pci-bridge":
            return False
        if kind in ("root-port", "downstream-port"):
            return b.get("acs", False)
        return True

    def anchor(name):
        a, p = name, devs[name].get("parent")
        d = devs[name]
        if d.get("kind", "endpoint") == "endpoint" and not d.get("acs", False):
            slot = name[:-1]
            fns = sorted(x for x in devs if x[:-1] == slot)
            if len(fns) > 1:
                a = fns[0]
        while p is not None:
            if not isolates(devs[p]):
                a = p
            p = devs[p].get("parent")
        return a

    groups = {}
    for name in devs:
        groups.setdefault(anchor(name), set()).add(name)
    return sorted(sorted(g) for g in groups.values())


@pytest.mark.parametrize("seed", range(60))
def test_groups_answers_follow_linux_grouping_rules(seed):
    p = problem(seed, "groups")
    oracle = _oracle_groups(p.machine)
    assert sorted(sorted(m) for m in p.groups.values()) == oracle
    for q, a in zip(p.questions(), p.answers()):
        dev = q.text.split(" with ")[1].split("?")[0]
        mine = next(g for g in oracle if dev in g)
        assert set(a.value.split(", ")) - {"none"} == set(mine) - {dev}
        assert dev in a.rule


def test_the_rules_behind_the_answers_are_the_kernels_words():
    p = problem(1, "errno")
    rules = [a.rule for a in p.answers()]
    assert "Device or resource busy" in rules[-1] and "already open" in rules[-1]
    assert "unbind" in rules[0]
    g = problem(2, "groups")
    assert any("PCIe-to-PCI bridge" in a.rule and "requester ID" in a.rule for a in g.answers())
    assert any("multifunction" in a.rule for a in g.answers())


# --- checking a learner's answers ---------------------------------------------------------------------

def test_right_answers_in_many_spellings_pass():
    p = problem(1, "errno")
    spell = {"ok": ["ok", "OK", "0", "success"], "-EBUSY": ["-EBUSY", "EBUSY", "ebusy", "busy", "16", "-16"]}
    for i in range(4):
        answers = {a.question: spell[a.value][i % len(spell[a.value])] for a in p.answers()}
        assert all(v.ok for v in p.check(answers)), p.check(answers)
    o = problem(1, "owner")
    assert all(v.ok for v in o.check([int(a.value) for a in o.answers()]))     # a list in order, ints
    assert all(v.ok for v in o.check({i: f" {a.value} " for i, a in enumerate(o.answers())}))   # numbers as keys
    v = problem(0, "viability")
    yes = v.answers()[0].value == "yes"
    assert v.check({"q1": "Yes" if yes else "n"})[0].ok and v.check([yes])[0].ok
    g = problem(2, "groups")
    ans = {}
    for a in g.answers():
        devs = [] if a.value == "none" else a.value.split(", ")
        ans[a.question] = " ".join(d[5:] for d in reversed(devs)) or "none"        # short BDFs, any order
    assert all(x.ok for x in g.check(ans)), g.check(ans)
    q1 = g.answers()[0]                    # naming the asked device as well is no mistake
    assert g.check({"q1": f"{q1.value}, {g.endpoints[0]}"})[0].ok
    assert g.check({"q1": ""})[0].given is None            # empty is "not answered", not "none"


def test_wrong_answers_fail_and_say_the_kernels_answer_and_rule():
    p = problem(1, "owner")
    wrong = {a.question: str(int(a.value) + 1) for a in p.answers()}
    verdicts = p.check(wrong)
    assert not any(v.ok for v in verdicts)
    assert verdicts[0].why.startswith("you said 2; the kernel says 1: ") and "xhci_hcd" in verdicts[0].why
    e = problem(1, "errno")
    v = e.check({"q6": "-EPERM"})
    assert not v[5].ok and "-EBUSY" in v[5].why and "already open" in v[5].why
    assert [x.given for x in v[:5]] == [None] * 5 and all("not answered" in x.why for x in v[:5])
    g = problem(2, "groups")
    v = g.check({"q1": "none", "q3": "0000:00:02.0"})           # the bridge, but not the other card
    assert not v[0].ok and not v[2].ok and "multifunction" in v[0].why


@pytest.mark.parametrize("junk", [None, 42, "EBUSY", [], [None] * 50, {"q1": object()}, {"q1": ["x", 1]},
                                  {"q1": b"\xff"}, {"zz": "ok"}, {"q1": True}, {"q1": "-EWHAT"}, {"q1": "3.5"},
                                  {"q1": float("nan")}, {("q", 1): 1}])
def test_junk_never_raises(junk):
    for kind in quiz.KINDS:
        p = problem(3, kind)
        verdicts = p.check(junk)
        assert len(verdicts) == len(p.questions())
        assert all(isinstance(v.why, str) and v.why for v in verdicts)
    g = problem(2, "groups")
    v = g.check({"q1": "0000:99:00.0, frob"})
    assert not v[0].ok and "no device '0000:99:00.0'" in v[0].why


def test_bad_arguments_are_quiz_errors():
    with pytest.raises(QuizError, match="older than 5.18"):
        problem(1, version="4.19")
    with pytest.raises(QuizError, match="is not"):
        problem(1, version="six")
    with pytest.raises(QuizError, match="unknown kind"):
        problem(1, kind="colours")
    with pytest.raises(QuizError, match="no owner_cnt"):
        problem(1, kind="owner", version="5.18")
    rfc = problem(1, kind="owner", version="rfc-2021-11")     # the 2021 RFC had owner_cnt
    assert rfc.kind == "owner" and all(a.value.isdigit() for a in rfc.answers())
    with pytest.raises(QuizError, match="whole number"):
        problem("seven")
    assert problem("7").text() == problem(7).text()
    assert all(problem(s, version="5.18").kind != "owner" for s in range(40))      # drawn "owner" -> viability


def test_before_5_19_a_bad_bind_into_a_live_group_is_a_bug():
    """Pre-5.19 VFIO BUG_ON()s when a kernel driver binds into a group a VM uses (vfio_iommu_group_notifier)."""
    found = next(p for p in (problem(s, "errno", "5.18") for s in range(100)) if p.steps[-1].result == "BUG")
    last = found.steps[-1].line
    assert "/bind" in last and "vfio-pci" not in last
    assert "kernel BUG" in found.answers()[-1].rule
    assert found.check({f"q{len(found.steps)}": "bug"})[-1].ok
    assert problem(found.seed, "errno", "6.6").steps[len(found.steps) - 1].result == "-EBUSY"


# --- the command line --------------------------------------------------------------------------------

def test_cli_prints_the_echo_line_the_problem_and_with_c_the_answers(capsys):
    assert cli.main(["quiz", "--seed", "1", "--kind", "owner", "--version", "6.6"]) == 0
    out = capsys.readouterr().out
    assert out == GOLDEN_1
    assert cli.main(["quiz", "--seed", "1", "--kind", "owner", "--version", "6.6", "-c"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(GOLDEN_1) and "\nAnswers:\n  q0. 1\n" in out and "xhci_hcd" in out.split("Answers:")[1]


def test_cli_without_a_seed_picks_one_and_prints_it(capsys):
    assert cli.main(["quiz", "--kind", "errno"]) == 0
    first = capsys.readouterr().out
    m = re.match(r"iommulab quiz --seed (\d+) --kind errno --version 6.6\n", first)
    assert m
    assert cli.main(m.group(0).split()[1:]) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("args, words", [(["--version", "4.19"], "older than 5.18"),
                                         (["--version", "banana"], "is not"),
                                         (["--kind", "colours"], "unknown kind"),
                                         (["--seed", "x"], "whole number"),
                                         (["--kind", "owner", "--version", "5.18"], "no owner_cnt")])
def test_cli_bad_arguments_one_line_and_status_2(capsys, args, words):
    assert cli.main(["quiz", "--seed", "3"] + args if "--seed" not in args else ["quiz"] + args) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.count("\n") == 1 and cap.err.startswith("iommulab quiz: ") and words in cap.err


def test_the_installed_command_runs():
    exe = ROOT / ".venv" / "bin" / "iommulab"
    r = subprocess.run([str(exe), "quiz", "--seed", "1", "--kind", "owner", "--version", "6.6", "-c"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(GOLDEN_1)
    r = subprocess.run([str(exe), "quiz", "--version", "0.1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1


# --- the widget -----------------------------------------------------------------------------------------

def test_the_widget_checks_reveals_and_makes_a_new_problem():
    w = quiz.Quiz(1, kind="owner", version="6.6")
    assert "iommulab-quiz" in w._dom_classes
    assert "iommulab-quiz-check" in w.check_b._dom_classes and "iommulab-quiz-reveal" in w.reveal_b._dom_classes
    assert "iommulab-quiz-feedback" in w.feedback._dom_classes
    assert "--seed 1 --kind owner" in w.header.value and "owner_cnt after step 6" in w.text.value
    w.check_b.click()
    assert "0 of 7 right" in w.feedback.value and "not yet" in w.feedback.value
    right = {a.question: a.value for a in w.problem.answers()}
    for qid, box in w.inputs.items():
        assert box.options[0] == "(your answer)" and right[qid] in box.options    # computed choices
        box.value = right[qid]
    w.inputs["q0"].value = "2"
    w.check_b.click()
    assert "6 of 7 right" in w.feedback.value and "you said 2; the kernel says 1" in w.feedback.value
    w.reveal_b.click()
    assert "xhci_hcd" in w.feedback.value and "claimed by user space" in w.feedback.value
    w.new_b.click()
    assert "--seed 2 --kind owner --version 6.6" in w.header.value and w.problem.seed == 2
    assert w.feedback.value == ""


def test_the_widget_takes_text_for_groups_and_never_raises():
    w = quiz.Quiz(2, kind="groups")
    a = w.problem.answers()[0]
    w.inputs["q1"].value = a.value
    w.check_b.click()
    assert "1 of 4 right" in w.feedback.value

    class Broken:
        seed, command = 5, "iommulab quiz --seed 5"

        def text(self):
            return "x"

        def questions(self):
            return []

        def answers(self):
            raise RuntimeError("boom")

        def check(self, answers):
            raise RuntimeError("boom")
    from iommulab.widgets.quiz import Quiz
    b = Quiz(Broken())
    b.check_b.click()
    b.reveal_b.click()
    b.new_b.click()                                   # no `make`: says so
    assert "no next problem" in b.feedback.value
    b.check_b.click()
    assert "could not do that" in b.feedback.value and "boom" in b.feedback.value


def test_a_checked_quiz_is_kept_in_the_progress_file():
    import json
    w = quiz.Quiz(1, kind="owner", version="6.6")
    w.check_b.click()                                         # nothing answered: nothing recorded
    path = Path(os.environ["IOMMULAB_PROGRESS"])
    assert not path.exists()
    for a in w.problem.answers():
        w.inputs[a.question].value = a.value
    w.check_b.click()
    saved = json.loads(path.read_text())["checks"]
    assert saved["iommulab quiz --seed 1 --kind owner --version 6.6"]["ok"] is True
    w.inputs["q3"].value = "3"
    w.check_b.click()
    saved = json.loads(path.read_text())["checks"]["iommulab quiz --seed 1 --kind owner --version 6.6"]
    assert saved["ok"] is False and saved["answer"] == "6 of 7 right"


def test_solution_mode_fills_every_answer(monkeypatch):
    monkeypatch.setenv("IOMMULAB_SOLUTIONS", "1")
    for kind in quiz.KINDS:
        w = quiz.Quiz(4, kind=kind)
        n = len(w.problem.questions())
        assert f"{n} of {n} right" in w.feedback.value
