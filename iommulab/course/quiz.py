"""Seeded problems, OSTEP style: `iommulab quiz --seed N [--kind K] [--version V] [-c]`.

    from iommulab.course import quiz
    p = quiz.problem(7, kind="owner", version="6.4")
    print(p.text())                 # the machine, the steps (shell lines), the questions
    p.check({"q1": "2", "q2": "1"}) # per question: right or not, and the rule behind the answer
    print(p.reveal())               # the answers, each with its rule (what -c prints)
    quiz.Quiz(7)                    # the notebook widget (iommulab.widgets.quiz.Quiz)

A problem is a random but physically possible machine, built part by part with the Builder's
catalogue (iommulab.builder.MachineBuilder, which refuses machines that cannot exist), booted at
`version`, and 3-6 learner actions drawn from what is possible at each step (the explorer's
possible_actions, plus the mistakes learners make: binding vfio-pci without driver_override,
binding a device that already has a driver, starting QEMU with one function of a group). Each
action runs as its shell line through k.sh(); the answers are what the simulator did, with the rule
behind each: explain_group for groups, explain_ownership and the refusal reasons for the rest.

Everything random comes from one random.Random(seed): no global random, no hash() of a str, no set
order. The kind is drawn first, whether or not it is given, so `--seed 7` and `--seed 7 --kind X`
(X what seed 7 picks) are the same problem, and one seed's kinds all share its machine and steps.
"""
import random
import re
import time
from dataclasses import dataclass, field

from .errors import CourseError
from ..builder import BuildError, MachineBuilder, NoEffect
from ..check.explore import Action, possible_actions
from ..kernel import errno as _errno
from ..kernel.explain import device_name, explain_group, explain_ownership
from ..shell import lines, timeline_for
from ..viz.explain import refusal

KINDS = ("groups", "owner", "errno", "viability")
DEFAULT_VERSION = "6.6"
ENDPOINTS = ("gpu", "nvme", "usb", "sata", "nic-sriov", "conventional")
MAX_DEVICES = 7
OK, NOT_VIABLE, BUG, FAILED = "ok", "not viable", "BUG", "failed"
# what a learner typically confuses a step's result with (the choices of an errno question)
ERRNO_CHOICES = (OK, "-EBUSY", "-ENODEV", "-EINVAL", "-EPERM", "-ENOENT", NOT_VIABLE)
_ERRNOS = {name: n for name, n in vars(_errno).items() if re.fullmatch(r"E[A-Z0-9_]+", name) and isinstance(n, int)}


class QuizError(CourseError):
    """Arguments that make no problem (an unknown kind, a version the kernel model does not have)."""


@dataclass(frozen=True)
class Question:
    id: str                  # "q1"
    text: str
    choices: tuple = ()      # computed choices (a Dropdown), or () for free text


@dataclass(frozen=True)
class Answer:
    question: str
    value: str               # the canonical answer: "2", "-EBUSY", "ok", "yes", "0000:01:00.1, 0000:00:01.0"
    rule: str                # why, in the kernel's words


@dataclass(frozen=True)
class Verdict:
    question: str
    ok: bool
    given: object
    expected: str
    why: str

    def __str__(self):
        return f"{self.question}: {'right' if self.ok else 'not yet' if self.given is None else 'wrong'} — {self.why}"


@dataclass
class Step:
    line: str
    note: str = ""           # a comment for the listing ("the QEMU of step 2")
    result: str = OK         # ok, -EBUSY, not viable, BUG
    rule: str = ""           # the refusal's rule, or what happened
    owner_cnt: int = 0       # the asked group's owner_cnt after the step
    ownership: str = ""      # explain_ownership's first line after the step


@dataclass
class Problem:
    seed: int
    kind: str
    version: str
    machine: str             # the scenario TOML the Builder wrote (boots with Kernel.from_toml)
    listing: list            # the machine in words, one line a device
    groups: dict             # number -> [device names]
    start_owner_cnt: int
    start_ownership: str
    steps: list
    target: int              # the group the owner/viability questions are about
    device: str = ""         # the viability question's device
    viable: bool = False
    viable_rule: str = ""
    group_rules: dict = field(default_factory=dict)     # device -> explain_group lines
    endpoints: list = field(default_factory=list)
    picked: bool = False     # the kind was drawn by the seed, not asked for
    names: list = field(default_factory=list)           # every device of the machine

    # --- sharing ---------------------------------------------------------------------------------

    @property
    def command(self):
        """The command line that makes this problem again, on any machine."""
        return f"iommulab quiz --seed {self.seed} --kind {self.kind} --version {self.version}"

    # --- the questions and their answers ---------------------------------------------------------

    def questions(self):
        if self.kind == "groups":
            return [Question(f"q{i}", f"After the steps, which other devices share an IOMMU group with {d}? "
                             "(none, or a list)")
                    for i, d in enumerate(self.endpoints, 1)]
        if self.kind == "owner":
            top = max([self.start_owner_cnt] + [s.owner_cnt for s in self.steps]) + 2
            choices = tuple(str(n) for n in range(top + 1))
            return [Question("q0", f"What is group {self.target}'s owner_cnt at boot, before step 1?", choices)] + [
                Question(f"q{i}", f"What is group {self.target}'s owner_cnt after step {i}?", choices)
                for i in range(1, len(self.steps) + 1)]
        if self.kind == "errno":
            out = []
            for i, s in enumerate(self.steps, 1):
                choices = ERRNO_CHOICES + tuple(c for c in (s.result,) if c not in ERRNO_CHOICES)
                out.append(Question(f"q{i}", f"What does step {i} return: ok, or which errno "
                                    f"(or QEMU's \u201cnot viable\u201d)?", choices))
            return out
        return [Question("q1", f"After the steps, can QEMU start with {self.device} "
                         f"(qemu-system-x86_64 -device vfio-pci,host={self.device})?", ("yes", "no"))]

    def answers(self):
        """Each question's answer as the simulator computed it, with the rule behind it."""
        if self.kind == "groups":
            return [Answer(f"q{i}", _devices_words(self._shares(d)), "; ".join(self.group_rules[d]) + DRIVERS_NO_GROUPS)
                    for i, d in enumerate(self.endpoints, 1)]
        if self.kind == "owner":
            out = [Answer("q0", str(self.start_owner_cnt), self.start_ownership)]
            for i, s in enumerate(self.steps, 1):
                why = s.ownership
                if s.result != OK:
                    why = f"step {i} failed ({s.result}: {s.rule}), so it changed nothing; " + why
                out.append(Answer(f"q{i}", str(s.owner_cnt), why))
            return out
        if self.kind == "errno":
            return [Answer(f"q{i}", s.result, s.rule) for i, s in enumerate(self.steps, 1)]
        return [Answer("q1", "yes" if self.viable else "no", self.viable_rule)]

    def _shares(self, device):
        for members in self.groups.values():
            if device in members:
                return [d for d in members if d != device]
        return []

    def check(self, answers):
        """The learner's answers (a dict by question id "q1" / number, or a list in order) against
        the kernel's: one Verdict per question. Tolerant of formats, never raises on junk."""
        try:
            given = _by_question(answers, self.questions())
        except Exception:           # a learner's junk is an answer that is wrong, never a traceback
            given = {}
        out = []
        for q, a in zip(self.questions(), self.answers()):
            g = given.get(q.id)
            try:
                out.append(self._verdict(q, a, g))
            except Exception:
                out.append(Verdict(q.id, False, g, a.value, f"{g!r} is not an answer I can read"))
        return out

    def _verdict(self, q, a, g):
        if g is None or (isinstance(g, str) and not g.strip()):
            return Verdict(q.id, False, None, a.value, "not answered yet")
        if self.kind == "groups":
            names, bad = _parse_devices(g, self.listing_names())
            if bad:
                return Verdict(q.id, False, g, a.value, f"there is no device {bad[0]!r} on this machine")
            asked = self.endpoints[int(q.id[1:]) - 1]
            said = sorted(set(names) - {asked})            # naming the device itself too is fine
            right = said == sorted(_parse_devices(a.value, self.listing_names())[0])
            return Verdict(q.id, right, g, a.value, f"right: {a.rule}" if right else
                           f"you said {_devices_words(said)}; the kernel says {a.value}: {a.rule}")
        norm = {"owner": _parse_int, "errno": _parse_result, "viability": _parse_yes_no}[self.kind](g)
        if norm is None:
            return Verdict(q.id, False, g, a.value, f"{str(g)!r} is not {_FORMS[self.kind]}")
        right = norm == a.value
        return Verdict(q.id, right, g, a.value, (f"right: {a.rule}" if right
                                                  else f"you said {norm}; the kernel says {a.value}: {a.rule}"))

    def listing_names(self):
        return list(self.names)

    # --- words -----------------------------------------------------------------------------------

    def text(self):
        """The problem as a learner reads it: the command line, the machine, the steps, the questions."""
        out = [self.command, "",
               f"The machine (Linux {self.version}; each device's driver at boot on the right):"]
        out += ["  " + x for x in self.listing]
        if self.kind != "groups":
            out += ["", "Its IOMMU groups:"]
            out += [f"  group {n}: {' '.join(m)}" for n, m in sorted(self.groups.items())]
        out += ["", "As root, one line at a time:" if self.steps else "Nothing is done after boot."]
        for i, s in enumerate(self.steps, 1):
            out.append(f"  {i}. {s.line}" + (f"    # {s.note}" if s.note else ""))
        out += ["", "Questions:"] + [f"  {q.id}. {q.text}" for q in self.questions()]
        return "\n".join(out) + "\n"

    def reveal(self):
        """The answers with the rule behind each (what `iommulab quiz -c` prints)."""
        out = ["Answers:"]
        for a in self.answers():
            out.append(f"  {a.question}. {a.value}")
            out.append(f"      {a.rule}")
        return "\n".join(out) + "\n"

    def __str__(self):
        return self.text()

    def _repr_html_(self):
        import html
        return f"<pre class='iommulab-quiz-text'>{html.escape(self.text())}</pre>"


DRIVERS_NO_GROUPS = (" (binding and unbinding drivers never changes a group: Linux puts a device in its group "
                     "when the device is added, iommu_probe_device())")
_FORMS = {"owner": "a number", "errno": "ok, an errno such as -EBUSY, or \u201cnot viable\u201d",
          "viability": "yes or no"}


# --- reading a learner's answers -------------------------------------------------------------------

def _by_question(answers, questions):
    ids = [q.id for q in questions]
    if answers is None:
        return {}
    if isinstance(answers, dict):
        out = {}
        for key, value in answers.items():
            k = str(key).strip().lower()
            if k.isdigit():
                k = f"q{int(k)}"
            out[k] = value
        return out
    if isinstance(answers, (str, bytes)):
        answers = [answers]
    return dict(zip(ids, list(answers)))


def _parse_int(g):
    if isinstance(g, bool):
        return None
    if isinstance(g, int):
        return str(g)
    m = re.fullmatch(r"\s*(\d+)\s*", str(g))
    return str(int(m.group(1))) if m else None


def _parse_yes_no(g):
    if isinstance(g, bool):
        return "yes" if g else "no"
    t = str(g).strip().lower().rstrip(".!")
    if t in ("yes", "y", "true", "1", "it starts", "starts"):
        return "yes"
    if t in ("no", "n", "false", "0", "it does not", "fails"):
        return "no"
    return None


def _parse_result(g):
    """ok / -EBUSY / EBUSY / ebusy / 16 / -16 / not viable / BUG -> the canonical form."""
    if isinstance(g, bool):
        return None
    t = str(g).strip()
    low = t.lower().replace("_", " ").replace("-", " ").strip()
    if low in ("ok", "0", "success", "succeeds", "works", "none"):
        return OK
    if low.replace(" ", "") in ("notviable", "nonviable", "viable?"):
        return NOT_VIABLE
    if low in ("bug", "crash", "panic", "oops", "kernel bug"):
        return BUG
    if low in ("failed", "fails", "error"):           # a failure without a refusal reason (none seen so far)
        return FAILED
    m = re.fullmatch(r"-?\s*(\d+)", t)
    if m:
        n = int(m.group(1))
        name = _errno.errname(n)
        return f"-{name}" if name in _ERRNOS else None
    name = t.lstrip("-").strip().upper()
    if not name.startswith("E"):
        name = "E" + name
    return f"-{name}" if name in _ERRNOS else None


def _norm_device(token, names):
    """A device's full name from a learner's token (0000:01:00.1, 01:00.1): kernel.explain's lookup."""
    return device_name(names, token.strip())


def _parse_devices(g, names):
    """A list of devices from "01:00.1, 0000:00:01.0" / a list / "none": (names, unknown tokens)."""
    if isinstance(g, (list, tuple, set, frozenset)):
        tokens = [str(x) for x in g]
    else:
        tokens = re.split(r"[\s,;]+", str(g))
    tokens = [t for t in tokens if t and t.lower() not in ("none", "-", "nothing", "alone", "and")]
    out, bad = [], []
    for t in tokens:
        n = _norm_device(t, names)
        (out if n else bad).append(n or t)
    return out, bad


def _devices_words(devs):
    return ", ".join(devs) if devs else "none"


# --- making a problem ------------------------------------------------------------------------------

def problem(seed, kind=None, version=None) -> Problem:
    """The problem of `seed` (an int): the same text and answers on every machine and every run."""
    seed = _seed(seed)
    if kind is not None and kind not in KINDS:
        raise QuizError(f"unknown kind {kind!r}; the kinds are: {', '.join(KINDS)}")
    version = DEFAULT_VERSION if version in (None, "") else str(version)
    rng = random.Random(seed)
    drawn = rng.choice(KINDS)              # drawn always, so the rest of the stream does not depend on it
    b = _machine(rng, version)
    k = b.kernel
    chosen = kind or drawn
    f = getattr(k, "f", None)                 # the release's Features: owner_cnt came with v5.19 (and the 2021 RFC)
    if chosen == "owner" and not (getattr(f, "has_ownership", True) or getattr(f, "rfc2021", False)):
        if kind is not None:
            raise QuizError(f"Linux {version} has no owner_cnt (the DMA ownership series came in 5.19): "
                            "use --kind errno, viability or groups, or a version from 5.19 on")
        chosen = "viability"
    return _play(rng, b, k, seed, chosen, version, picked=kind is None)


def _seed(seed):
    if isinstance(seed, bool):
        raise QuizError(f"a seed is a whole number, not {seed!r}")
    if isinstance(seed, int):
        return seed
    t = str(seed).strip()
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    raise QuizError(f"a seed is a whole number, not {seed!r}")


def time_seed():
    """A seed from the clock, for a run that names none (it is printed, so it can be shared)."""
    return int(time.time() * 1000) % 100_000


def _machine(rng, version):
    """A machine from the Builder's catalogue: 2-3 parts on the root bus, below root ports (ACS
    on or, sometimes, off) or below a switch's downstream ports; at most MAX_DEVICES devices."""
    try:
        b = MachineBuilder({"title": "A quiz machine", "description": "Made by iommulab quiz.",
                            "kernel": {"version": version}})
    except BuildError as e:
        raise QuizError(str(e)) from None                     # the loader's words: "version '4.19' is older …"
    free_downs = []                                   # a switch's downstream ports with nothing below
    for _ in range(rng.randint(2, 3)):
        part = rng.choice(ENDPOINTS)
        size = 2 if part == "gpu" else 1
        place = rng.choice(("root-bus", "root-port", "root-port", "switch"))
        if part == "conventional":
            place = "bridge"
        cost = {"root-bus": size, "root-port": size + 1, "switch": size + (0 if free_downs else 4),
                "bridge": 2 + rng.randint(1, 2)}[place]
        if len(b.kernel.devices) + cost > MAX_DEVICES:
            continue
        try:
            if place == "root-bus":
                b.add(part)
            elif place == "root-port":
                rp = b.add("root-port")[0]
                _maybe_no_acs(rng, b, rp)
                b.add(part, parent=rp)
            elif place == "switch":
                if not free_downs:
                    rp = b.add("root-port")[0]
                    free_downs = b.add("switch", parent=rp)[1:]
                down = free_downs.pop(0)
                _maybe_no_acs(rng, b, down)
                b.add(part, parent=down)
            else:
                parent = b.add("root-port")[0] if rng.random() < 0.5 else None
                bridge = b.add("pcie-to-pci-bridge", parent=parent)[0]
                for _ in range(cost - 2):
                    b.add("conventional", parent=bridge)
        except BuildError:                            # the Builder refused a machine that cannot exist
            continue
    while len(b.kernel.devices) < 3 or not _endpoints(b.kernel):     # at least 3 devices, one of them an endpoint
        b.add(rng.choice(("nvme", "usb", "sata")))
    return b


def _maybe_no_acs(rng, b, port):
    if rng.random() < 0.35:
        try:
            b.set(port, acs=False)
        except (NoEffect, BuildError):
            pass


def _endpoints(k):
    return sorted(n for n, d in k.devices.items() if not d.is_bridge)


PORT_WORDS = {"root-port": "PCIe root port", "upstream-port": "switch upstream port",
              "downstream-port": "switch downstream port", "pcie-to-pci-bridge": "PCIe-to-PCI bridge"}


def _listing(b, k):
    """The machine as a tree: what each device is (lspci -nn's words for endpoints), what Linux's
    grouping reads of it (ACS, multifunction, a conventional bus), and its driver at boot."""
    words = {}
    for line in k.sh("lspci -nn").stdout.splitlines():
        short, _, rest = line.partition(" ")
        words[f"0000:{short}"] = rest
    parts = {d["name"]: d for d in b.devices}
    st = k.state()["devices"]
    kids = {}
    for name, d in parts.items():
        kids.setdefault(d.get("parent"), []).append(name)
    out = []

    def walk(parent, depth):
        for name in sorted(kids.get(parent, [])):
            d, dev = parts[name], k.devices.get(name)
            kind = d.get("kind", "")
            notes = []
            if kind in PORT_WORDS:
                what = PORT_WORDS[kind]
                if kind in ("root-port", "downstream-port"):
                    notes.append("ACS on" if b.setting(name, "acs") else "no ACS")
            else:
                what = words.get(name, d.get("id", ""))
                if dev is not None and b.is_multifunction(name):
                    notes.append("multifunction, " + ("ACS on" if b.setting(name, "acs") else "no ACS"))
                if kind == "conventional":
                    notes.append("conventional PCI")
                if parent is None:
                    notes.append("on the root bus")
            drv = (st.get(name) or {}).get("driver") or "no driver"
            out.append(f"{'  ' * depth}{name}  {what}{' (' + ', '.join(notes) + ')' if notes else ''}  -> {drv}")
            walk(name, depth + 1)
    walk(None, 0)
    return out


def _result(k, attempt):
    """ok, the errno name, QEMU's `not viable`, or BUG; and the rule behind it."""
    if k.crashed or attempt.status is None:
        bug = next((x for x in k.dmesg_lines if "BUG" in x), k.dmesg_lines[-1] if k.dmesg_lines else "")
        return BUG, f"the kernel hit a BUG and crashed ({bug.strip()})"
    why = refusal(k, list(attempt.events), attempt.stderr)
    if not attempt.failed:
        return OK, "the kernel accepted it"
    if why is None:
        msg = [x for x in attempt.stderr.splitlines() if x.strip()]
        return FAILED, msg[-1] if msg else "it failed"
    name, text, rule = why
    return name, (f"{text}: {rule}" if name.startswith("-") else rule)


def _pool(k, focus):
    """The actions a learner could take now (bridges left alone, a device held open by a VM not
    unbound — that write blocks), the mistakes learners make, each kind once: {kind: [Action]}."""
    st = k.state()
    held = {d for p in st["processes"].values() for d in p["holds"]["devices"]}
    pool = {}
    for a in possible_actions(k, allow=("bind", "unbind", "override", "vm", "kill")):
        if a.kind in ("bind", "unbind", "override"):
            name = a.args[0]
            if k.devices[name].is_bridge or name in held or a.args[1] != "pci":
                continue
            pool.setdefault(a.kind, []).append(a)
        elif a.kind == "vm" and a.args[1] == "legacy":
            pool.setdefault("vm", []).append(a)
            if len(a.args[0]) > 1:                   # one function alone (the device is asked, not the group)
                pool["vm"] += [Action("vm", ((d,), "legacy")) for d in a.args[0]]
        elif a.kind == "kill":
            pool.setdefault("kill", []).append(a)
    for name in _endpoints(k):
        d = st["devices"][name]
        if name in held:
            continue
        if d["driver"] is None and d["driver_override"] is None:
            pool.setdefault("mistake", []).append(Action("bind", (name, "pci", "vfio-pci")))
        elif d["driver"] is not None and name in focus:
            pool.setdefault("mistake", []).append(Action("bind", (name, "pci", d["driver"])))
    for n in sorted(k.iommu_groups):                  # QEMU given a device of a group still in the kernel's hands
        members = [x for x in _endpoints(k) if st["devices"][x]["group"] == n]
        if members and members[0] in focus and not any(a.args[0] == (members[0],) for a in pool.get("vm", [])):
            pool.setdefault("mistake", []).append(Action("vm", ((members[0],), "legacy")))
    return pool


def _toward(k, pool, focus):
    """The next step a learner passing the focus group through would take (what makes a problem
    more than noise): its first device still on a kernel driver leaves it, gets vfio-pci's
    driver_override, is bound to vfio-pci; then a VM starts with the group's devices."""
    st = k.state()["devices"]
    acts = [a for kind in ("unbind", "override", "bind", "vm") for a in pool.get(kind, [])]
    for d in focus:
        for a in acts:
            if a.kind in ("unbind", "override", "bind") and a.args[0] == d:
                if a.kind == "unbind" and st[d]["managed"] is False:
                    return a
                if a.kind == "override" and st[d]["driver"] is None:
                    return a
                if a.kind == "bind" and a.args[2] == "vfio-pci":
                    return a
    vms = [a for a in pool.get("vm", []) if set(a.args[0]) >= set(focus)]
    return vms[0] if vms else None


def _pick(rng, pool, focus, k):
    if rng.random() < 0.7:
        a = _toward(k, pool, focus)
        if a is not None:
            return a
    kinds = sorted(pool)
    kind = rng.choice(kinds)
    acts = pool[kind]
    near = [a for a in acts if _touches(a, focus)]
    if near and rng.random() < 0.8:
        acts = near
    return rng.choice(acts)


def _touches(a, focus):
    if a.kind == "vm":
        return any(d in focus for d in a.args[0])
    if a.kind == "kill":
        return True
    return a.args[0] in focus


def _play(rng, b, k, seed, kind, version, picked):
    tl = timeline_for(k)
    st = k.state()
    groups = {n: list(g["devices"]) for n, g in sorted(st["groups"].items())}
    endpoints = _endpoints(k)
    # the group asked about: one with an endpoint, a shared one twice as likely
    cands = [n for n, m in groups.items() if any(d in endpoints for d in m)]
    weighted = [n for n in cands for _ in range(2 if sum(d in endpoints for d in groups[n]) > 1 else 1)]
    target = rng.choice(weighted)
    focus = [d for d in groups[target] if d in endpoints]
    p = Problem(seed=seed, kind=kind, version=version, machine=b.to_toml(), listing=_listing(b, k),
                groups=groups, start_owner_cnt=st["groups"][target]["owner_cnt"],
                start_ownership=_ownership(k, target), steps=[], target=target,
                group_rules={d: explain_group(k, d) for d in endpoints}, endpoints=endpoints, picked=picked)
    p.names = sorted(k.devices)
    started = {}                                        # pid -> step that started it
    for i in range(1, rng.randint(3, 6) + 1):
        pool = _pool(k, focus)
        if not pool or k.crashed:
            break
        a = _pick(rng, pool, focus, k)
        line = a.script()
        before = set(k.processes)
        k.sh(line)
        attempt = tl.attempts[-1]
        result, rule = _result(k, attempt)
        if result == OK:
            rule = _ok_rule(k, a)
        note = f"the QEMU of step {started[a.args[0]]}" if a.kind == "kill" and a.args[0] in started else ""
        for pid in sorted(set(k.processes) - before):
            started[pid] = i
        gs = k.state()["groups"]
        p.steps.append(Step(line, note, result, rule, gs[target]["owner_cnt"] if target in gs else 0,
                            _ownership(k, target)))
        if k.crashed:
            break
    st = k.state()["devices"]                         # asked about: a device on vfio-pci three times as likely
    p.device = rng.choice([d for d in focus for _ in range(3 if st[d]["driver"] == "vfio-pci" else 1)])
    p.viable, p.viable_rule = _can_start(k, tl, p.device)
    return p


def _ok_rule(k, a):
    """Why an accepted step was accepted, in words."""
    st = k.state()
    if a.kind == "kill":
        return "QEMU's exit closes its VFIO files, which gives its groups back to the kernel"
    if a.kind == "vm":
        n = st["devices"][a.args[0][0]]["group"]
        return (f"no device of group {n} is on a kernel DMA driver and nobody else owned it, so QEMU could "
                f"claim it: {_ownership(k, n)}")
    dev, drv = a.args[0], a.args[2] if len(a.args) > 2 else ""
    n = st["devices"][dev]["group"]
    if a.kind == "unbind":
        return f"{dev} was bound to {drv}, and an unbind goes through at once unless user space holds the device open"
    if a.kind == "override":
        return (f"driver_override takes any driver name: it only decides which driver may bind {dev} "
                "next (vfio-pci has no ID table of its own)")
    if drv == "vfio-pci":
        return f"{dev}'s driver_override names vfio-pci, so vfio-pci binds it: {_ownership(k, n)}"
    return f"{drv} matches {dev}, and no user space program owns group {n}: {_ownership(k, n)}"


def _ownership(k, n):
    """explain_ownership's first line (and what owner_cnt counts, when it says so next)."""
    try:
        said = explain_ownership(k, n)
    except (ValueError, KeyError):
        return ""
    return said[0] + (f"; {said[1]}" if len(said) > 1 and said[1].startswith("owner_cnt") else "")


def _can_start(k, tl, device):
    """Start QEMU with `device` on a snapshot (the timeline's excursion): whether it runs, and why."""
    if k.crashed:
        return False, "the kernel crashed during the steps: nothing starts until a reboot"
    with tl.excursion():
        k.sh(lines.qemu((device,), "legacy"))
        a = tl.attempts[-1]
        if not a.failed and not k.crashed:
            n = k.state()["devices"][device]["group"]
            if k.version < (5, 19):
                return True, (f"it starts: group {n} is viable — {_ownership(k, n)}")
            return True, (f"it starts: group {n} is viable — no device of it is on a kernel DMA driver and "
                          f"no one else owns it; {_ownership(k, n)}")
        result, rule = _result(k, a)
        return False, f"QEMU fails ({result}): {rule}"


# --- the widget -----------------------------------------------------------------------------------

def Quiz(seed=None, kind=None, version=None):
    """The notebook widget of problem(seed, kind, version) (iommulab.widgets.quiz.Quiz): an input
    per question, check, reveal, and "new problem" (seed + 1). Without a seed, one from the clock."""
    from ..widgets.quiz import Quiz as QuizWidget
    from . import modes
    seed = time_seed() if seed is None else seed

    def checked(p, verdicts):
        record(p, verdicts)
        wrong = [v.question for v in verdicts if not v.ok]
        if modes.solutions() and wrong:       # the kernel's own answers must all be right
            raise modes.SolutionFailed(f"{p.command}: the kernel's answers judged wrong for {', '.join(wrong)}")
    return QuizWidget(problem(seed, kind, version), make=lambda s: problem(s, kind, version),
                      fill=modes.solutions(), on_check=checked)


def record(p, verdicts):
    """A checked quiz goes into the learner's progress file, under its command line."""
    from . import progress
    right = sum(1 for v in verdicts if v.ok)
    progress.answered(p.command, right == len(verdicts), f"{right} of {len(verdicts)} right")
