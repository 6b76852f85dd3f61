"""Predict, then run: a question about what the kernel will do, the learner's answer, then the
kernel's own answer, computed by running the action on a snapshot of the learner's machine.

    from iommulab.course import predict
    k = Kernel.from_scenario("desktop-gpu")
    q = predict.owner_cnt(k, 1, after="echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    q                       # in a notebook: the question, an answer box, "check", the pictures before/after
    q.answer(2)             # Feedback(ok=False, why="owner_cnt counts the kernel DMA drivers ...", expected=1, given=2)
    predict.errno(k, "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind").choices
    predict.MYTHS["owner-cnt-counts-devices"].question()

Every answer is computed: the action runs as the shell text a learner types (k.sh), on the
machine's timeline inside `excursion()`, so the kernel, its shell session, the timeline's steps and
attempts come back exactly as they were. Nothing here is hard-coded but the one concept question
about ACS override, which is about hardware the simulator does not model (said where it is).
"""
import html
from dataclasses import dataclass, field

from .errors import CourseError
from ..kernel.errno import errname, strerror
from ..kernel.explain import device_name, explain_group
from ..kernel.trace import ref
from ..shell import lines, timeline_for
from ..uapi import VFIO_GROUP_FLAGS_VIABLE
from ..viz.explain import kernel_dma_users, refusal
from ..viz.log import changes
from . import modes, progress

NOT_YET = "not yet"
# The errnos a learner typically confuses with each other in sysfs and VFIO, and success.
CONFUSED = ("EBUSY", "EEXIST", "EINVAL", "ENODEV", "ENOENT", "EPERM", "blocks", "ok")
BLOCKS = "blocks"      # an errno question's answer when the kernel blocks the write (it waits: no errno yet)
_NUMBERS = {w: i for i, w in enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven",
                                        "eight", "nine", "ten"))}
_YES = {"yes", "y", "true", "1", "it will", "starts", "viable", "ok"}
_NO = {"no", "n", "false", "0", "it will not", "won't", "refused", "not viable"}


class QuestionError(CourseError):
    """A question that cannot be asked on this machine (no such group or device): says which."""


@dataclass
class Feedback:
    """What answering says: `ok`, `why` (the rule, one sentence), the kernel's `expected` answer and
    the `given` one (normalised; the raw value when it could not be read)."""
    ok: bool
    why: str
    expected: object = None
    given: object = None
    answered: bool = True            # False: no answer yet, or one that could not be read

    def __bool__(self):
        return self.ok

    def verdict(self):
        if not self.answered:
            return NOT_YET if self.why == NOT_YET else "?"
        return "right" if self.ok else "not quite"

    def __str__(self):
        if not self.answered:
            return self.why
        head = ("right" if self.ok else
                f"not quite: you said {_show(self.given)}, the kernel says {_show(self.expected)}")
        return f"{head}. {self.why}"

    def __repr__(self):
        """As str(): a console shows the verdict, never the kernel's answer before one was given."""
        return str(self)

    def _repr_html_(self):
        colour = "#009E73" if self.ok else "#D55E00"
        if not self.answered:
            words = "" if self.why == NOT_YET else self.why
        elif self.ok:
            words = self.why
        else:
            words = f": you said {_show(self.given)}, the kernel says {_show(self.expected)}. {self.why}"
        return (f'<div class="iommulab-predict-feedback"><b style="color:{colour}">{html.escape(self.verdict())}'
                f'</b> {html.escape(words)}</div>')


@dataclass
class Outcome:
    """What the kernel did: the lines run, their exit status and stderr, the refusal (errno name,
    text, rule) of the first that failed, the state before and after, and a kernel snapshot of the
    machine before (the pictures restore it and run the lines again)."""
    lines: list = field(default_factory=list)
    failed: bool = False
    stderr: str = ""
    refusal: tuple | None = None
    before: dict | None = None
    after: dict | None = None
    snapshots: tuple = ()
    attempts: list = field(default_factory=list)
    crashed: str | None = None       # the BUG that stopped the kernel, when one did
    setup_crashed: str | None = None  # errno questions: the setup lines did, before the line asked about
    mid: dict | None = None          # errno questions: k.state() after the setup, before the line asked about


def _show(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (set, frozenset, tuple, list)):
        return ", ".join(sorted(v)) if v else "none"
    return "none" if v is None else str(v)


# --- running on a snapshot ----------------------------------------------------------------------------

def _run(k, script, then=None, state=None):
    """Run `script` (shell text; None: nothing) through k.sh on the timeline's excursion, then call
    then(k, outcome) while still there; return (outcome, then's result). The machine comes back.
    `state`: k.state() now, when the caller has it already."""
    tl = timeline_for(k)
    out = Outcome()
    with tl.excursion(), tl.unrecorded():
        base = len(tl.attempts)
        out.before = state if state is not None else k.state()
        out.snapshots = (k.snapshot(),)
        if script:
            k.sh(script)
        tried = tl.attempts[base:]
        out.attempts = list(tried)
        out.lines = [a.line for a in tried]
        out.stderr = "".join(a.stderr for a in tried)
        bad = next((a for a in tried if a.failed), None)
        if bad is not None:
            out.failed = True
            out.refusal = refusal(k, list(bad.events), bad.stderr)
        result = then(k, out) if then is not None else None
        out.after = k.state()
        out.crashed = out.after["crashed"] or None
    return out, result


def _errno_of(attempt, why):
    """'ok', an errno name, or 'failed' (a non-zero exit the kernel gave no errno for)."""
    if not attempt.failed:
        return "ok"
    top = next((e for e in attempt.events if e.depth == 0 and e.refused), None)
    if top is not None and top.errno:
        return errname(top.errno)
    if why and why[0].startswith("-E"):
        return why[0][1:]
    for n in range(1, 134):
        text = strerror(n)
        if not text.startswith("Unknown") and text in attempt.stderr:
            return errname(n)
    return "failed"


def _refusal_words(why, stderr=""):
    if why:
        name, text, rule = why
        return f"{name} ({text}): {rule}" if rule else f"{name} {text}"
    last = [x for x in stderr.strip().splitlines() if x and not x.startswith("[")]
    return last[-1] if last else "it failed"


def _changes(before, after):
    """What an accepted action changed, in the lab's words (viz.log.changes)."""
    return "; ".join(changes(before, after)) or "nothing changed that the state shows"


def _kernel_dma(state, n):
    g = state["groups"][n]
    devs = state["devices"]
    users = kernel_dma_users(state, n)
    managed = [(d, devs[d]["driver"]) for d in g["devices"] if devs[d]["driver"] and devs[d]["managed"]]
    return users, managed


def _on(users):
    return "; ".join(f"{d} is on {drv}" for d, drv in users)


def _count_rule(state, n):
    """Why group n's owner_cnt is what it is, from the state: the rule in one sentence."""
    g = state["groups"][n]
    cnt = g["owner_cnt"]
    if g["owner"] != "NULL":
        return (f"group {n} is owned by user space ({g['owner']}): owner_cnt ({cnt}) counts user space's "
                "claims on it now, not its devices — and no kernel DMA driver may bind into it while it is owned")
    if str(g.get("dma_owner") or "").endswith("USER"):         # the 2021 design's tri-state (rfc-2021-11)
        return (f"group {n} is held by user space (the 2021 design's {g['dma_owner']}): owner_cnt ({cnt}) counts "
                "the user-space requests on it, not its devices, and no kernel DMA driver may bind into it")
    users, managed = _kernel_dma(state, n)
    ndev = len(g["devices"])
    s = (f"owner_cnt counts the kernel DMA drivers bound in a group, not its devices: group {n} has {ndev} "
         f"device{'s' if ndev != 1 else ''} and owner_cnt {cnt}")
    if users:
        s += f" — {_on(users)} (kernel DMA driver{'s' if len(users) > 1 else ''})"
    else:
        s += " — no kernel DMA driver is bound in it"
    if managed:
        s += "; " + "; ".join(f"{d}'s {drv} manages DMA itself and does not count" for d, drv in managed)
    if cnt != len(users):
        s += f"; yet owner_cnt is {cnt}, not {len(users)}: a leaked count"
    return s


def _group_of(k, state, ref):
    """A group by number, or by one of its devices' names; QuestionError when there is none."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise QuestionError(f"a group is a number or a device's name, not {ref!r}")
    if isinstance(ref, int):
        if ref not in state["groups"]:
            raise QuestionError(f"this machine has no group {ref}; its groups are "
                                f"{', '.join(map(str, sorted(state['groups'])))}")
        return ref
    name = _device_name(state, ref)
    if name is None:
        raise QuestionError(f"no device {ref!r} on this machine")
    n = state["devices"][name]["group"]
    if n is None:
        raise QuestionError(f"{name} has no IOMMU group")
    return n


def _device_name(state, text):
    """A device's full name from what a learner writes (0000:01:00.0, 01:00.0): the one lookup
    iommulab-why uses (kernel.explain.device_name)."""
    return device_name(state["devices"], str(text).strip().strip(",;"))


def _lines_of(script):
    return [x.strip() for x in (script or "").strip().splitlines() if x.strip()]


def _action_words(script):
    """A line as `code`; several as `a`; `b` (in the order they run)."""
    return "; ".join(f"`{x}`" for x in _lines_of(script))


def _ask(after, question):
    """The question, after the setup lines when there are some (one per line when several)."""
    got = _lines_of(after)
    if not got:
        return question[0].upper() + question[1:]
    if len(got) == 1:
        return f"After `{got[0]}`, {question}"
    return "After these lines:\n" + "\n".join(f"    {x}" for x in got) + "\n" + question[0].upper() + question[1:]


# --- questions -----------------------------------------------------------------------------------------

class Question:
    """One question: `text`, `choices` (computed, or None for a free answer), the kernel's
    `expected` answer, `rule` (why, one sentence), `outcome` (what the kernel did), a stable `qid`.
    `answer(value)` -> Feedback; in a notebook it displays as the Predict widget."""
    kind = ""
    hint = ""                        # what to type: "a number", "ok or an errno name", …

    def __init__(self, k, qid, text, expected, rule, outcome=None, choices=None, kernel_words="", group=None):
        self.group = group               # the group the question is about, when it is about one
        self.k, self.qid, self.text = k, qid, text
        self.expected, self.rule, self.outcome = expected, rule, outcome
        self.choices = tuple(choices) if choices is not None else None
        self.kernel_words = kernel_words or _show(expected)
        self.last = None             # the last Feedback
        self._models = None
        self._pictures = None

    # --- answering ---------------------------------------------------------------------------------

    def normalise(self, value):
        """(value in the kernel answer's form, None) or (None, what to write instead)."""
        raise NotImplementedError

    def same(self, given):
        return given == self.expected

    def answer(self, value=None):
        """Feedback on the learner's answer. No answer (None or ...) says "not yet" (in solution
        mode it takes the kernel's answer); a wrong answer in solution mode raises SolutionFailed."""
        if value is None or value is Ellipsis or (isinstance(value, str) and not value.strip()):
            if modes.solutions():
                fb = Feedback(True, self.rule, self.expected, self.expected)
            else:
                fb = Feedback(False, NOT_YET, self.expected, None, answered=False)
            self.last = fb
            return fb
        try:
            given, problem = self.normalise(value)
        except Exception as e:       # a learner's value never becomes a traceback
            given, problem = None, f"could not read {value!r} ({type(e).__name__})"
        if problem is not None:
            fb = Feedback(False, f"{problem}: answer with {self.hint}", self.expected, value, answered=False)
            if modes.solutions():
                raise modes.SolutionFailed(f"{self.qid}: the answer {value!r} could not be read — {problem}")
            self.last = fb
            return fb
        ok = self.same(given)
        fb = Feedback(ok, self.rule, self.expected, given)
        if modes.solutions() and not ok:
            raise modes.SolutionFailed(f"{self.qid}: answered {_show(given)}, the kernel says "
                                       f"{_show(self.expected)} — {self.rule}")
        progress.answered(self.qid, ok, _show(given))
        self.last = fb
        return fb

    def solution(self):
        """The kernel's answer in the form a learner would type it."""
        return self.display(self.expected)

    def display(self, value):
        return _show(value)

    def prefill(self):
        """What a widget fills in before the learner answers: the kernel's answer in solution mode."""
        return self.solution() if modes.solutions() else None

    # --- pictures ------------------------------------------------------------------------------------

    def models(self):
        """The views' models (iommulab.viz build) of the machine before and after, or None: from
        the snapshot taken before, and the same lines run again (the model is deterministic)."""
        if self._models is None and self.outcome is not None and self.outcome.snapshots:
            from ..viz import build
            tl = timeline_for(self.k)
            with tl.excursion(), tl.unrecorded():
                self.k.restore(self.outcome.snapshots[0])
                before = build(self.k)
                if self.outcome.lines:
                    self.k.sh("\n".join(self.outcome.lines))
                self._models = (before, build(self.k))
        return self._models

    def pictures(self):
        """[(caption, svg or None, text when Graphviz is missing)] before and after, or []."""
        if self._pictures is not None:
            return self._pictures
        models = self.models()
        if not models:
            return []
        from ..viz import render_svg
        group = self.focus_group()
        out = []
        for caption, m in zip(("before", "after"), models):
            kw = {"focus_group": group} if group is not None and len(m.devices) > 40 else {}
            svg, text = render_svg(m, **kw)
            out.append((caption, _bare_svg(svg) if svg else None, text))
        self._pictures = out
        return out


    def focus_group(self):
        """The group the pictures show (the one the question is about)."""
        return self.group

    # --- showing -------------------------------------------------------------------------------------

    def __str__(self):
        s = self.text
        if self.choices:
            s += "\n  choices: " + " · ".join(self.choices)
        return s

    __repr__ = __str__

    def _ipython_display_(self):
        from IPython.display import display
        from ..widgets.predict import Predict
        display(Predict(self))


def _bare_svg(svg):
    """The <svg> element alone (no XML prolog, doctype or comments), to sit inside HTML."""
    i = svg.find("<svg")
    return svg[i:] if i >= 0 else svg


def _choices_text(value):
    return [str(x) for x in value]


class OwnerCntQuestion(Question):
    kind, hint = "owner_cnt", "a number, such as 2"


    def normalise(self, value):
        if isinstance(value, bool):
            return None, f"{value!r} is not a count"
        if isinstance(value, int):
            return (value, None) if value >= 0 else (None, "owner_cnt is never negative")
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        t = str(value).strip().lower()
        if t in ("none", "gone", "no group"):
            return None, None if self.expected is None else "the group is still there"
        if t in _NUMBERS:
            return _NUMBERS[t], None
        try:
            n = int(t, 0)
        except ValueError:
            return None, f"{str(value).strip()!r} is not a number"
        return (n, None) if n >= 0 else (None, "owner_cnt is never negative")



class ErrnoQuestion(Question):
    kind, hint = "errno", "ok or an errno name, such as EBUSY"

    def normalise(self, value):
        if isinstance(value, bool):
            return None, f"{value!r} is neither ok nor an errno"
        if isinstance(value, int):
            return ("ok", None) if value == 0 else (errname(value), None)
        t = str(value).strip()
        low = t.lower().rstrip(".!")
        if low in ("ok", "success", "succeeds", "it succeeds", "0", "yes", "none"):
            return "ok", None
        if low in ("failed", "fails", "it fails"):
            return "failed", None
        if low in ("blocks", "block", "blocked", "it blocks", "waits", "it waits", "hangs", "it hangs"):
            return BLOCKS, None
        if low in ("crash", "crashed", "crashes", "bug", "panic", "oops", "it crashes", "kernel crash"):
            return "crashed", None
        for n in range(1, 134):              # glibc's words: "Device or resource busy"
            if strerror(n).lower() == low:
                return errname(n), None
        word = t.upper().lstrip("-").strip()
        if word.lstrip("-").isdigit():
            return errname(int(word)), None
        if not word.startswith("E"):
            word = "E" + word
        known = {errname(n) for n in range(1, 134)} | {"EPROBE_DEFER", "ENOTSUPP"}
        if word in known:
            return word, None
        return None, f"{t!r} is not an errno name"


def _items(value, what, empty, first_word=False):
    """A list answer as typed ("a, b c" or a Python list) -> (items, None); a word meaning none -> ([],
    None); anything else -> (None, what to write instead)."""
    if isinstance(value, str):
        low = value.strip().lower()
        if (low.split(" ")[0] if first_word else low) in empty:
            return [], None
        return value.replace(",", " ").replace(";", " ").split(), None
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(x) for x in value], None
    return None, f"{value!r} is not a list of {what}"


class MembersQuestion(Question):
    kind, hint = "group_members", "device names separated by commas (01:00.0 or 0000:01:00.0)"

    def __init__(self, *a, device=None, **kw):
        super().__init__(*a, **kw)
        self.device = device

    def normalise(self, value):
        items, problem = _items(value, "devices", ("none", "nothing", "alone", "-"), first_word=True)
        if problem is not None or not items:
            return (None, problem) if problem else (frozenset(), None)
        state = self.outcome.before
        names, unknown = set(), []
        for x in items:
            n = _device_name(state, x)
            if n is None:
                unknown.append(x)
            else:
                names.add(n)
        if unknown:
            return None, f"no device {', '.join(map(repr, unknown))} on this machine"
        names.discard(self.device)           # with or without the device itself
        return frozenset(names), None

    def display(self, value):
        return ", ".join(sorted(value)) if value else "none (it is alone in its group)"

    def focus_group(self):
        return self.outcome.before["devices"][self.device]["group"]


class YesNoQuestion(Question):
    hint = "yes or no"


    def normalise(self, value):
        if isinstance(value, bool):
            return value, None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        t = str(value).strip().lower().rstrip(".!")
        if t in _YES:
            return True, None
        if t in _NO:
            return False, None
        return None, f"{str(value).strip()!r} is neither yes nor no"



class QemuQuestion(YesNoQuestion):
    kind = "qemu_starts"


class ViableQuestion(YesNoQuestion):
    kind = "viable"


class ConceptQuestion(Question):
    """A multiple-choice question whose answer is authored text: for facts about hardware the
    simulator does not model (it has nothing to run)."""
    kind, hint = "concept", "one of the choices"

    def normalise(self, value):
        t = str(value).strip()
        for c in self.choices:
            if t == c or t.lower() == c.lower() or (len(t) >= 3 and c.lower().startswith(t.lower())):
                return c, None
        return None, f"{t!r} is not one of the choices"


def _qid(kind, *args, **kw):
    parts = [repr(a) for a in args] + [f"{n}={v!r}" for n, v in kw.items() if v is not None]
    return f"{kind}({', '.join(parts)})"


def _refused_prefix(out):
    if out.crashed:
        return f"The kernel crashed ({out.crashed}); so: "
    if out.failed:
        return f"The action was refused — {_refusal_words(out.refusal, out.stderr)}; so: "
    return ""


# --- the question kinds ----------------------------------------------------------------------------------

def owner_cnt(k, group, after=None, qid=None):
    """What will group `group`'s owner_cnt be after `after` (shell text; None: now)?"""
    if not (k.f.has_ownership or k.f.rfc2021):
        raise QuestionError(f"Linux {k.f.release} has no owner_cnt: DMA ownership came with 5.19")
    state = k.state()
    n = _group_of(k, state, group)
    out, _ = _run(k, after, state=state)
    g = out.after["groups"].get(n)
    expected = None if g is None else g["owner_cnt"]
    if g is None:
        rule = f"group {n} does not exist after it: {_changes(out.before, out.after)}"
    else:
        rule = _refused_prefix(out) + _count_rule(out.after, n)
    ndev = len(out.before["groups"][n]["devices"])
    top = max(ndev, expected or 0)
    return OwnerCntQuestion(k, qid or _qid("owner_cnt", n, after=after),
                            _ask(after, f"what will group {n}'s owner_cnt be?" if after
                                 else f"what is group {n}'s owner_cnt now?"), expected, rule, out,
                            choices=_choices_text(range(0, top + 1)), group=n)


def errno(k, line, after=None, qid=None):
    """Will `line` succeed? If not, which errno? ("ok" or an errno name such as "EBUSY"). `after`
    sets the machine up first (shell text run before it, on the same snapshot)."""
    def then(k, out):
        tl = timeline_for(k)
        base = len(tl.attempts)
        out.mid = k.state()
        out.setup_crashed = out.crashed = out.mid["crashed"] or None
        k.sh(line)
        tried = tl.attempts[base:]
        if k.crashed:
            return "crashed", None, tried
        bad = next((a for a in tried if a.failed), None)
        if bad is None:
            blocked = _blocked(tried)
            return (BLOCKS, blocked, tried) if blocked else ("ok", None, tried)
        why = refusal(k, list(bad.events), bad.stderr)
        return _errno_of(bad, why), why, tried
    out, (expected, why, tried) = _run(k, after, then)
    if after and out.setup_crashed:
        setup = f"(the setup crashed the kernel: {out.setup_crashed}) "
    elif after and out.failed:
        setup = f"(the setup was refused: {_refusal_words(out.refusal, out.stderr)}) "
    else:
        setup = ""
    if expected == "crashed":
        rule = setup + f"The kernel crashed: {out.after['crashed']}"
    elif expected == "ok":
        rule = setup + f"The kernel accepted it: {_changes(out.mid, out.after)}"
    elif expected == BLOCKS:
        rule = setup + (f"The kernel blocks the write ({why}): it has not returned, so there is no errno; "
                        "the shell makes it a job, which completes when user space lets go. So far: "
                        + _changes(out.mid, out.after))
    else:
        bad = next(a for a in tried if a.failed)
        rule = setup + _refusal_words(why, bad.stderr)
        out.refusal = why
    out.stderr += "".join(a.stderr for a in tried)
    out.lines += [a.line for a in tried]
    choices = sorted(set(CONFUSED) | {expected})
    return ErrnoQuestion(k, qid or _qid("errno", line, after=after),
                         _ask(after, f"will {_action_words(line)} succeed? If not, with which errno?"),
                         expected, rule, out, choices=choices,
                         kernel_words={"ok": "it succeeds", "crashed": "the kernel crashes (a BUG)",
                                       "failed": "it fails (no errno)",
                                       BLOCKS: "it blocks: the write waits"}.get(expected)
                         or f"-{expected} ({_strerror(expected)})")


def _blocked(tried):
    """Why the kernel blocked a write of these lines (its reason, from the PendingWrite the write
    returned), or None: a write whose result is a pending write has not returned."""
    for a in tried:
        for e in a.events:
            if e.depth == 0 and e.result is not None and not isinstance(e.result, int) \
                    and ref(e.result)[0] == "pending_write":
                return getattr(e.result, "reason", "") or "user space lets go of the device"
    return None


# what a learner calls an event, from its typed operation code and result (kernel/trace.py), as the
# owner_cnt plot marks them
_STEP_EVENTS = {"claim": ("claim", "claimed by user space"), "release": ("release", "released by user space"),
                "bind": ("probe", "given a driver (a bind)"),
                "unbind": ("release-driver", "left by a driver (an unbind)")}


class StepQuestion(Question):
    """At which timeline step did it happen? The answer is a step number of the machine's timeline
    (the numbers the Lab's slider and the owner_cnt plot show)."""
    kind, hint = "step", "a step number, such as 5"


    def normalise(self, value):
        if isinstance(value, bool):
            return None, f"{value!r} is not a step number"
        t = str(value).strip().lower().removeprefix("step").strip()
        try:
            return int(t), None
        except ValueError:
            return None, f"{str(value).strip()!r} is not a step number"



def step_of(k, event="claim", group=None, qid=None):
    """At which step of k's timeline did `event` ("claim", "release", "bind", "unbind") happen to
    group `group` (a number or a device's name)? Read off the timeline's own steps and their events:
    right after any clicks and undos, and the same step the plot marks."""
    if event not in _STEP_EVENTS:
        raise QuestionError(f"no event {event!r}: ask about one of {', '.join(_STEP_EVENTS)}")
    op, words = _STEP_EVENTS[event]
    state = k.state()
    n = _group_of(k, state, group) if group is not None else None
    tl = timeline_for(k)
    tl.sync()
    found = []
    for i in range(1, tl.position + 1):
        before = len(tl.steps[i - 1].kernel.events)
        for e in tl.steps[i].kernel.events[before:]:
            ok = e.result == 0 if op in ("claim", "probe") else True
            if e.op == op and ok and (n is None or any(g[0] == n for g in e.groups)):
                found.append(i)
                break
    where = f"group {n}" if n is not None else "a group"
    if not found:
        raise QuestionError(f"no step so far at which {where} was {words}: act first (or look at the present)")
    last = found[-1]
    others = [i for i in found if i != last]
    rule = (f"step {last}: {' '.join(str(tl.steps[last].action).split())} — its events include {where} {words}"
            + (f" (earlier too, at step{'s' if len(others) > 1 else ''} {', '.join(map(str, others))})" if others
               else ""))
    return StepQuestion(k, qid or _qid("step", event, n),
                        f"at which step was {where} {words}" + (" (the latest time)?" if others else "?"),
                        last, rule, None, group=n)


def _strerror(name):
    for n in range(1, 600):
        if errname(n) == name:
            return strerror(n)
    return name


def group_members(k, device, qid=None):
    """Which devices share an IOMMU group with `device`? (A set of names; the device itself may be
    given or not, with or without the 0000: domain.)"""
    state = k.state()
    name = _device_name(state, device)
    if name is None:
        raise QuestionError(f"no device {device!r} on this machine")
    n = state["devices"][name]["group"]
    if n is None:
        raise QuestionError(f"{name} has no IOMMU group")
    # nothing runs: the group is read, and explain_group() only reads too (no excursion needed)
    out = Outcome(before=state, after=state, snapshots=(k.snapshot(),))
    chain = explain_group(k, name)
    members = frozenset(d for d in out.after["groups"][n]["devices"] if d != name)
    bus = k.devices[name].bus.name
    made_by = {"pci": "the PCIe topology (ACS, multifunction devices, bridges), not by slots",
               "fsl-mc": "the fsl-mc container the objects belong to (each DPRC is one group)"}.get(
        bus, "the IOMMU's view of the device: on an SMMU, the stream IDs the firmware gives it")
    rule = f"a group is made by {made_by}: {chain[0] if chain else name + ' is alone in group ' + str(n)}"
    q = MembersQuestion(k, qid or _qid("group_members", name), f"Which devices share an IOMMU group with {name}?",
                        members, rule, out, device=name)
    q.details = list(chain)
    return q


def qemu_starts(k, devices, path="legacy", after=None, qid=None):
    """Can QEMU start now (or after `after`) with these devices (legacy VFIO or iommufd)?"""
    if isinstance(devices, str):
        devices = [devices]
    state = k.state()
    names = []
    for d in devices:
        n = _device_name(state, d)
        if n is None:
            raise QuestionError(f"no device {d!r} on this machine")
        names.append(n)
    if path not in ("legacy", "iommufd"):
        raise QuestionError(f"path is legacy or iommufd, not {path!r}")
    line = lines.qemu(names, path, arch=k.arch)

    def then(k, out):
        tl = timeline_for(k)
        base = len(tl.attempts)
        k.sh(line)
        tried = tl.attempts[base:]
        a = tried[-1] if tried else None
        return a, (refusal(k, list(a.events), a.stderr) if a is not None and a.failed else None)
    out, (attempt, why) = _run(k, after, then, state=state)
    holds = {d for p in out.after["processes"].values() if p["name"].startswith("qemu")
             for d in p["holds"]["devices"]}
    started = attempt is not None and not attempt.failed and set(names) <= holds
    groups = sorted({out.after["devices"][d]["group"] for d in names if out.after["devices"].get(d)},
                    key=lambda g: (g is None, g))
    msg = ""
    setup_refused = _refused_prefix(out) if after else ""
    if attempt is not None:
        out.lines.append(attempt.line)
        out.stderr += attempt.stderr
    if started:
        others = sorted(d for g in groups if g in out.after["groups"]
                        for d in out.after["groups"][g]["devices"] if d not in names
                        and out.after["devices"][d]["driver"] is None)
        rule = setup_refused + (
            f"QEMU started and holds group{'s' if len(groups) > 1 else ''} {', '.join(map(str, groups))}: "
            "no device of it is on a kernel DMA driver, so VFIO could claim the group for user space")
        if others:
            rule += (f"; {', '.join(others)} {'is' if len(others) == 1 else 'are'} in the group too but need not "
                     "go to the VM — only leave the host's kernel DMA drivers")
    else:
        qm = [x for x in (attempt.stderr if attempt else "").splitlines() if x.startswith("qemu")]
        msg = qm[-1] if qm else ""
        out.refusal = why
        rule = setup_refused + (f"QEMU stops: {msg}" if msg else "QEMU did not start")
        if why:
            because = why[2] or why[1]
            rule += " — " + (because[len("QEMU stops because "):] if because.startswith("QEMU stops because ")
                             else because)
    out.failed = not started
    out.qemu_message = msg
    via = "legacy VFIO" if path == "legacy" else "iommufd"
    return QemuQuestion(k, qid or _qid("qemu_starts", names, path=path if path != "legacy" else None, after=after),
                        _ask(after, f"can QEMU start with {', '.join(names)} ({via})?"), started, rule, out,
                        choices=("no", "yes"), group=groups[0] if groups else None,
                        kernel_words=("yes: QEMU starts" if started else f"no: {msg or 'QEMU does not start'}"))


def viable(k, group, after=None, qid=None):
    """Will group `group` be viable (VFIO_GROUP_GET_STATUS has VFIO_GROUP_FLAGS_VIABLE) after `after`?
    The answer is the kernel's: a process opens /dev/vfio/N and asks, on the snapshot."""
    state = k.state()
    n = _group_of(k, state, group)

    def then(k, out):
        ev = len(k.events)
        if k.state()["crashed"]:
            return False, "the kernel has crashed"
        p = k.spawn("predict")
        try:
            try:
                fd = p.open(f"/dev/vfio/{n}")
            except OSError as e:
                why = refusal(k, list(k.events[ev:]))
                if errname(e.errno) == "EBUSY":
                    owner = k.state()["groups"][n]["owner"]
                    return True, (f"group {n} is already open by its owner ({owner}): the owner's "
                                  "VFIO_GROUP_GET_STATUS reports it viable, with a container set")
                return False, (f"VFIO cannot even be asked about group {n}: "
                               + (why[2] if why else f"/dev/vfio/{n} cannot be opened ({strerror(e.errno)})"))
            try:
                flags = p.ioctl(fd, "VFIO_GROUP_GET_STATUS")
            except OSError as e:
                return False, f"VFIO_GROUP_GET_STATUS failed: {strerror(e.errno)}"
            finally:
                p.close(fd)
        finally:
            p.exit()
        return bool(flags & VFIO_GROUP_FLAGS_VIABLE), ""
    out, (ok, because) = _run(k, after, then, state=state)
    g = out.after["groups"].get(n)
    if g is not None and not because:
        users, managed = _kernel_dma(out.after, n)
        on_vfio = [d for d, drv in managed if drv.startswith("vfio")]
        if ok and k.version < (5, 19):          # no owner_cnt before 5.19: VFIO's own walk
            because = (f"group {n} is viable: each of its devices is unbound, on a VFIO driver, on pci-stub "
                       "or a bridge (VFIO's own check before 5.19, vfio_dev_viable), so VFIO may hand it to "
                       "user space")
        elif ok:
            because = (f"group {n} is viable: no device in it is on a kernel DMA driver "
                       f"(owner_cnt {g['owner_cnt']}), so VFIO may hand it to user space")
        elif not users and g["owner_ref"] is None and g["owner_cnt"]:     # nobody holds the count: a leak
            because = (f"group {n} is not viable: its owner_cnt is {g['owner_cnt']} although no device of it is "
                       "on a kernel DMA driver and no one owns it — the kernel leaked the count (a "
                       "dma_configure without its dma_cleanup); no unbind can make the group viable")
        else:
            because = (f"group {n} is not viable: "
                       + (f"{_on(users)}, a kernel DMA driver" if users else f"owner_cnt is {g['owner_cnt']}")
                       + (f" — {', '.join(on_vfio)} on a VFIO driver is not enough" if on_vfio else "")
                       + ": every device of the group must leave its kernel DMA driver")
    rule = _refused_prefix(out) + because
    return ViableQuestion(k, qid or _qid("viable", n, after=after),
                          _ask(after, f"will group {n} be viable (VFIO_GROUP_FLAGS_VIABLE)?" if after
                               else f"is group {n} viable (VFIO_GROUP_FLAGS_VIABLE) now?"), ok, rule, out,
                          choices=("no", "yes"), group=n, kernel_words="yes: viable" if ok else "no: not viable")


def concept(qid, text, choices, answer, why):
    """A question whose answer is authored (about hardware, not the simulator): choices are shown
    sorted; `answer` is one of them."""
    choices = tuple(sorted(choices))
    if answer not in choices:
        raise QuestionError(f"the answer {answer!r} is not one of the choices")
    return ConceptQuestion(None, qid, text, answer, why, None, choices=choices)


# --- the misconceptions ---------------------------------------------------------------------------------

@dataclass
class Myth:
    """A costly misconception: what learners believe (`myth`), what the kernel does instead
    (`kernel`), the answer the myth predicts (`myth_answer`) and the question that tests it."""
    name: str
    myth: str
    kernel: str
    myth_answer: object
    make: object                     # () -> Question

    def question(self):
        return self.make()


def _boot(name):
    from ..kernel.kernel import Kernel
    return Kernel.from_scenario(name)


GPU, AUDIO = "0000:01:00.0", "0000:01:00.1"
_GPU_TO_VFIO = "\n".join([lines.unbind("pci", GPU, "nouveau"), lines.set_driver_override("pci", GPU, "vfio-pci"),
                          lines.bind("pci", GPU, "vfio-pci")])
_AUDIO_OFF = lines.unbind("pci", AUDIO, "snd_hda_intel")


def _acs_override():
    # Authored, not computed: the question is about what PCIe hardware does with peer-to-peer
    # traffic, which the simulator does not model (it models Linux's grouping, and there is no
    # ACS override in mainline Linux to simulate).
    right = ("no: it only makes Linux group the devices apart; the hardware can still route "
             "peer-to-peer DMA between them without the IOMMU seeing it")
    return concept("concept(acs-override)",
                   "The out-of-tree ACS override patch (pcie_acs_override=downstream) puts each device below "
                   "a port without ACS in a group of its own. Are the devices then isolated from each other?",
                   [right,
                    "yes: each device has its own group, so the IOMMU isolates it",
                    "yes, but only for devices on different slots"],
                   right,
                   "ACS is what makes a switch or root port send peer-to-peer requests up to the IOMMU; the "
                   "override only tells Linux to pretend it is there, so the groups split while the hardware "
                   "does not change — a VM's device can still reach its neighbours by DMA")


MYTHS = {m.name: m for m in (
    Myth("vfio-pci-makes-viable", "binding vfio-pci makes the group viable",
         "a group is viable only when no device in it is on a kernel DMA driver", True,
         lambda: viable(_boot("desktop-gpu"), 1, after=_GPU_TO_VFIO)),
    Myth("one-function-alone", "I can pass through one function alone, leaving its sibling on the host driver",
         "QEMU stops: the group is not viable while a sibling is on a kernel DMA driver", True,
         lambda: qemu_starts(_boot("desktop-gpu"), [GPU], after=_GPU_TO_VFIO)),
    Myth("owner-cnt-counts-devices", "owner_cnt counts the devices in a group",
         "owner_cnt counts the kernel DMA drivers bound in the group (pcieport does not count)", 3,
         lambda: owner_cnt(_boot("desktop-gpu"), 1)),
    Myth("every-function-to-vm", "every function of the group must be given to the VM",
         "every function must leave its kernel DMA driver, but only the GPU goes to the VM", False,
         lambda: qemu_starts(_boot("desktop-gpu"), [GPU], after=_GPU_TO_VFIO + "\n" + _AUDIO_OFF)),
    Myth("group-is-a-slot", "a group is a slot: one card, one group",
         "a group follows the PCIe topology: without ACS, devices in other slots share it", frozenset(),
         lambda: group_members(_boot("workstation-no-acs"), "0000:03:00.0")),
    Myth("acs-override-isolates", "the ACS override patch makes devices isolated",
         "it only changes Linux's grouping; the hardware still routes peer-to-peer DMA around the IOMMU",
         "yes: each device has its own group, so the IOMMU isolates it", _acs_override),
    Myth("pcieport-must-unbind", "the root port above the GPU must be unbound from pcieport too",
         "pcieport sets driver_managed_dma: binding it never adds to owner_cnt, so it may stay bound", "yes",
         lambda: driver_counts(_boot("desktop-gpu"), "pcieport", "0000:00:01.0")),
)}


__all__ = ["Feedback", "Outcome", "Question", "QuestionError", "Myth", "MYTHS", "owner_cnt", "errno",
           "group_members", "qemu_starts", "viable", "concept", "step_of", "NOT_YET", "CONFUSED"]


# --- does a driver count? (notebook 01: "counts / never counts") ---------------------------------------
#
# Added for notebook 01. Whether binding a driver adds to an IOMMU group's owner_cnt is answered the
# way every question here is: the bind runs as the shell lines a learner types (the device's own driver
# unbound first, driver_override set when the driver does not match by its id table), on the
# timeline's excursion, and the answer is what the owner_cnts did. The rule names what really_probe()
# ran on the way: the bus's dma_configure() and whether it called iommu_device_use_default_domain().

def _bus_of(k, name):
    """The bus a device sits on, from the file view: the /sys/bus/<bus>/devices/<name> that exists."""
    for bus in sorted(k.listdir("/sys/bus")):
        try:
            if name in k.listdir(f"/sys/bus/{bus}/devices"):
                return bus
        except OSError:
            continue
    return None


@dataclass
class DriverTry:
    """What binding `driver` to `device` did: the bus, whether an owner_cnt rose (`counted`), the
    group(s) that changed {n: (before, after)}, the bus's dma_configure() that ran (None: the bus
    has none), whether it called iommu_device_use_default_domain(), the driver's driver_managed_dma,
    the device's group, its owner_cnt before the bind, the lines run and the rule in words."""
    driver: str
    device: str
    bus: str
    counted: bool = False
    changed: dict = field(default_factory=dict)
    configure: str | None = None
    used_default: bool = False
    managed: bool | None = None
    group: int | None = None
    before: int | None = None
    lines: list = field(default_factory=list)
    rule: str = ""


def _try_driver_then(driver, name, bus):
    """A `then` for _run(): unbind the device's driver, bind `driver` (with driver_override when
    its id table does not name the device) and read what happened, as a DriverTry."""
    def then(k, out):
        tl = timeline_for(k)
        base = len(tl.attempts)
        cur = k.state()["devices"][name]["driver"]
        if cur is not None:
            k.sh(lines.unbind(bus, name, cur))
        mid = k.state()
        bind_at = len(tl.attempts)
        k.sh(lines.bind(bus, name, driver))
        if tl.attempts[-1].failed and "driver_override" in k.listdir(f"/sys/bus/{bus}/devices/{name}"):
            k.sh(lines.set_driver_override(bus, name, driver))
            bind_at = len(tl.attempts)
            k.sh(lines.bind(bus, name, driver))
        tried = tl.attempts[base:]
        bound = tl.attempts[bind_at]
        end = k.state()
        t = DriverTry(driver, name, bus, lines=[a.line for a in tried])
        if bound.failed or end["devices"][name]["driver"] != driver:
            why = refusal(k, list(bound.events), bound.stderr)
            raise QuestionError(f"{driver} cannot bind {name} on this machine: {_refusal_words(why, bound.stderr)}")
        t.group = mid["devices"][name]["group"]
        t.before = None if t.group is None else mid["groups"][t.group]["owner_cnt"]
        t.managed = end["devices"][name]["managed"]
        t.changed = {n: (g["owner_cnt"], end["groups"][n]["owner_cnt"]) for n, g in mid["groups"].items()
                     if n in end["groups"] and end["groups"][n]["owner_cnt"] != g["owner_cnt"]}
        t.counted = any(b > a for a, b in t.changed.values())
        t.configure = next((e.func for e in bound.events if e.func.endswith("dma_configure")), None)
        t.used_default = any(e.func == "iommu_device_use_default_domain" for e in bound.events)
        t.rule = _driver_rule(t)
        return t
    return then


def _driver_rule(t):
    """Why the driver counts or never counts, from what ran."""
    where = f"{t.driver} ({t.bus} driver, bound to {t.device})"
    if t.counted:
        n, (a, b) = next((n, ab) for n, ab in sorted(t.changed.items()) if ab[1] > ab[0])
        return (f"{where} counts: really_probe() ran {t.configure}(), which called "
                f"iommu_device_use_default_domain() because the driver uses the kernel DMA API "
                f"(driver_managed_dma false) — group {n}'s owner_cnt went {a} → {b}")
    stays = ("no owner_cnt changed" if t.group is None
             else f"group {t.group}'s owner_cnt stays {t.before}")
    if t.configure is None:
        return (f"{where} never counts: the {t.bus} bus has no dma_configure/dma_cleanup hooks, so "
                f"really_probe() goes from the match straight to probe — {stays}"
                + (f" ({t.device} has no IOMMU group of its own)" if t.group is None else ""))
    if t.managed:
        return (f"{where} never counts: it sets driver_managed_dma, so {t.configure}() skips "
                f"iommu_device_use_default_domain() — {stays}")
    if t.used_default and t.group is None:
        return (f"{where} does not count here: {t.configure}() called iommu_device_use_default_domain(), "
                f"but {t.device} sits behind no IOMMU (it has no group), so there is nothing to count")
    return (f"{where} does not count here: {t.configure}() ran but did not call "
            f"iommu_device_use_default_domain() — {stays}")


def _try_driver(k, driver, device, after=None, state=None):
    """(Outcome, DriverTry) of binding `driver` to `device` after `after`, on the excursion."""
    if not (k.f.has_ownership or k.f.rfc2021):
        raise QuestionError(f"Linux {k.f.release} has no owner_cnt: DMA ownership came with 5.19")
    state = state if state is not None else k.state()
    name = _device_name(state, device)
    if name is None:
        raise QuestionError(f"no device {device!r} on this machine")
    bus = _bus_of(k, name)
    if bus is None or driver not in k.listdir(f"/sys/bus/{bus}/drivers"):
        raise QuestionError(f"there is no driver {driver!r} on {name}'s bus ({bus})")
    return _run(k, after, _try_driver_then(driver, name, bus), state=state)


class DriverCountsQuestion(YesNoQuestion):
    kind = "driver_counts"


def driver_counts(k, driver, device, after=None, qid=None):
    """Does binding `driver` to `device` add one to an IOMMU group's owner_cnt? (yes or no; the
    device's own driver is unbound first, driver_override set when the driver needs it.)"""
    out, t = _try_driver(k, driver, device, after)
    out.lines += t.lines
    return DriverCountsQuestion(k, qid or _qid("driver_counts", driver, t.device, after=after),
                                _ask(after, f"does binding {driver} to {t.device} add to an IOMMU group's "
                                     "owner_cnt?"), t.counted, t.rule, out, choices=("no", "yes"),
                                group=t.group, kernel_words="yes: it counts" if t.counted else "no: it never counts")


class CountingDriversQuestion(Question):
    """Which of the drivers asked about count? The answer is a set of driver names."""
    kind, hint = "counting_drivers", "the driver names that count, separated by commas (or none)"

    def __init__(self, *a, drivers=(), **kw):
        super().__init__(*a, **kw)
        self.drivers = tuple(drivers)

    def normalise(self, value):
        items, problem = _items(value, "drivers", ("none", "nothing", "no one", "-"))
        if problem is not None or not items:
            return (None, problem) if problem else (frozenset(), None)
        known = {_driver_key(d): d for d in self.drivers}
        names, unknown = set(), []
        for x in items:
            d = known.get(_driver_key(x))
            (names.add(d) if d is not None else unknown.append(x))
        if unknown:
            return None, (f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not among the "
                          f"drivers asked about ({', '.join(self.drivers)})")
        return frozenset(names), None

    def display(self, value):
        return ", ".join(sorted(value)) if value else "none"

    def answer(self, value=None):
        """As Question.answer; a wrong sort's reason names only the drivers put in the wrong box."""
        fb = super().answer(value)
        tries = getattr(self, "tries", ())
        if fb.answered and not fb.ok and isinstance(fb.given, frozenset):
            wrong = [t for t in tries if (t.driver in fb.given) != t.counted]
            if wrong:
                fb.why = "; ".join(t.rule for t in wrong)
        return fb


def _driver_key(name):
    """Driver names compared as the kernel compares module names: - and _ alike, any case."""
    return str(name).strip().lower().replace("_", "-")


def _reason(t):
    """The reason of a DriverTry as a short phrase, for the sort's summary (drivers with the same
    phrase are named together)."""
    if t.counted:
        return (f"counted — {t.configure}() called iommu_device_use_default_domain() (kernel DMA API, "
                "driver_managed_dma false)")
    if t.configure is None:
        return f"never counted — the {t.bus} bus has no dma_configure/dma_cleanup hooks"
    if t.managed:
        return f"never counted — driver_managed_dma, so {t.configure}() skips that call"
    if t.used_default and t.group is None:
        return "not counted here — the device sits behind no IOMMU (no group)"
    return f"not counted here — {t.configure}() did not call iommu_device_use_default_domain()"


def _sorted_rule(tries):
    """The sort's rule: the drivers named by reason, in the order first asked ("nvme, xhci_hcd:
    counted — …; vfio-pci, pci-stub: never counted — …")."""
    by = {}
    for t in tries:
        by.setdefault(_reason(t), []).append(t.driver)
    return "; ".join(f"{', '.join(names)}: {why}" for why, names in by.items())


def counting_drivers(k, drivers, after=None, qid=None):
    """Bind each driver to its device ({driver: device}, each on its own copy of the machine): which
    of them add to an IOMMU group's owner_cnt? The answer is the set of drivers that count; the
    rule gives each driver's reason. `q.tries` keeps every DriverTry, in the order asked."""
    pairs = list(drivers.items()) if isinstance(drivers, dict) else [tuple(p) for p in drivers]
    if not pairs:
        raise QuestionError("name at least one driver and the device to bind it to")
    state = k.state()
    tries = [_try_driver(k, drv, dev, after, state=state)[1] for drv, dev in pairs]
    expected = frozenset(t.driver for t in tries if t.counted)
    rule = _sorted_rule(tries)
    out = Outcome(before=state, after=state)
    listing = ", ".join(f"{t.driver} → {t.device}" for t in tries)
    q = CountingDriversQuestion(
        k, qid or _qid("counting_drivers", [(t.driver, t.device) for t in tries], after=after),
        _ask(after, f"bind each driver to its device ({listing}), each on a fresh copy of this machine. "
             "Which of them add to an IOMMU group's owner_cnt? (the others never count)"),
        expected, rule, out, drivers=[t.driver for t in tries],
        kernel_words=(f"{', '.join(sorted(expected))} count" if expected else "none counts"))
    q.tries = tries
    q.details = [t.rule for t in tries]
    return q


__all__ += ["DriverTry", "driver_counts", "counting_drivers"]


# --- which rule put a device in its group? (notebook 02, P02.1) ---------------------------------------
#
# The answer is the engine's own: kernel.explain.group_rule() replays the IOMMU driver's grouping
# (pci_device_group(), arm_smmu_device_group(), fsl_mc_device_group(), …) as at the device's
# arrival, as explain_group() does, and names its rule with a tag (kernel.explain.GROUP_RULES).
# The choices are every rule's wording, always all of them and in that order; an answer is a
# wording (or a unique start of one) or a tag, never a position in the list.

class GroupRuleQuestion(Question):
    """Which grouping rule put the device in its group? The answer is a GROUP_RULES tag; the
    learner answers with a rule's words (the choices) or its tag."""
    kind, hint = "group_rule", "one of the rules' words (or its tag, such as multifunction)"

    def __init__(self, *a, device=None, wordings=None, **kw):
        super().__init__(*a, **kw)
        self.device = device
        self.wordings = dict(wordings or {})

    def normalise(self, value):
        if isinstance(value, (bool, int, float)):
            return None, f"{value!r} is a position, not a rule: answer with the rule's words"
        t = " ".join(str(value).split())
        low = t.lower()
        for tag, words in self.wordings.items():
            if low == words.lower() or low == tag or low.replace("_", "-").replace(" ", "-") == tag:
                return tag, None
        starts = [tag for tag, words in self.wordings.items() if len(low) >= 3 and words.lower().startswith(low)]
        if len(starts) == 1:
            return starts[0], None
        if low.isdigit():
            return None, f"{t!r} is a position, not a rule: answer with the rule's words"
        return None, f"{t!r} is not one of the rules"

    def display(self, value):
        return self.wordings.get(value, _show(value))


    def pictures(self):
        """One picture, the machine as asked about: nothing runs, so before and after are the same."""
        if self._pictures is None:
            models = self.models()
            if not models:
                return []
            from ..viz import render_svg
            kw = {"focus_group": self.group} if self.group is not None and len(models[0].devices) > 40 else {}
            svg, text = render_svg(models[0], **kw)
            self._pictures = [("the machine (groups are made as devices arrive)", _bare_svg(svg) if svg else None,
                               text)]
        return self._pictures


def group_rule(k, device, qid=None):
    """Which rule put `device` in its IOMMU group? Choices: every rule's wording (GROUP_RULES, in
    its order); the answer: the engine's tag (kernel.explain.group_rule); the rule: the first line
    of explain_group() (the device's own reason). Nothing runs: the groups are read."""
    from ..kernel.explain import GROUP_RULES, group_rule as rule_tag
    state = k.state()
    name = _device_name(state, device)
    if name is None:
        raise QuestionError(f"no device {device!r} on this machine")
    tag = rule_tag(k, name)
    chain = explain_group(k, name)
    out = Outcome(before=state, after=state, snapshots=(k.snapshot(),))
    n = state["devices"][name]["group"]
    q = GroupRuleQuestion(k, qid or _qid("group_rule", name), f"Which rule put {name} in its IOMMU group?",
                          tag, chain[0], out, choices=tuple(GROUP_RULES.values()),
                          kernel_words=GROUP_RULES[tag], device=name, group=n, wordings=GROUP_RULES)
    q.details = list(chain)
    return q


__all__ += ["group_rule"]
