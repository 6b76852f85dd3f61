"""Structured trace events: every kernel function call that can change state, with its result.

This plays the part of the kernel's tracepoints (include/trace/events/iommu.h): views, plots,
time travel and checks read these events, never the model's private fields.
"""
import functools
import inspect
from typing import Callable, ParamSpec, TypeVar

from .errno import errname, strerror

_P = ParamSpec("_P")
_R = TypeVar("_R")


class Event:
    """One traced call. `step` counts top-level actions (a sysfs write, an ioctl, an API call);
    `depth` is 0 for the action itself and grows for the kernel functions it calls.

    `args` are display labels; `refs` the same arguments as structured references
    (("group", 1), ("device", "0000:01:00.0"), ...). `op` is a stable operation code for the calls
    views care about (boot; probe, release-driver; claim, release; group-status; the system calls
    open, write, ioctl, close, exit), `reason` the Reason a refusing call recorded
    (kernel/reasons.py), `marks` what happened inside it: ("warn", func), ("bug", func),
    ("completion", path), ("unbound", device)."""
    __slots__ = ("seq", "step", "depth", "func", "args", "result", "groups", "note",
                 "refs", "op", "reason", "marks")

    def __init__(self, seq, step, depth, func, args, refs=(), op=None):
        self.seq, self.step, self.depth, self.func, self.args = seq, step, depth, func, args
        self.refs, self.op = refs, op
        self.result = None
        self.groups = ()
        self.note = None
        self.reason = None
        self.marks = ()

    @property
    def kind(self):
        """"boot", "refusal" (returned an errno), "warn" (WARNed inside), "completion" (a blocked
        write finished) or "call"."""
        if self.op == "boot":
            return "boot"
        if self.refused:
            return "refusal"
        kinds = {m[0] for m in self.marks}
        if "warn" in kinds:
            return "warn"
        if "completion" in kinds:
            return "completion"
        return "call"

    @property
    def warned(self):
        """The kernel WARNed inside this call (a kernel BUG is the mark "bug")."""
        return any(m[0] == "warn" for m in self.marks)

    @property
    def errno(self):
        """The positive errno if this call failed with a negative int, else 0."""
        r = self.result
        return -r if type(r) is int and r < 0 else 0

    @property
    def refused(self):
        return self.errno != 0

    def result_text(self):
        e = self.errno
        if e:
            return f"-{errname(e)} ({strerror(e)})"
        return "" if self.result is None else str(self.result)

    def as_dict(self):
        return {"seq": self.seq, "step": self.step, "depth": self.depth, "func": self.func,
                "args": self.args,
                "result": self.result.as_dict() if isinstance(self.result, Raised) else self.result,
                "errno": errname(self.errno) if self.errno else None,
                "groups": [dict(zip(("group", "owner_cnt", "owner", "domain"), g)) for g in self.groups],
                "note": self.note, "kind": self.kind, "op": self.op, "refs": [list(r) for r in self.refs],
                "reason": self.reason.as_dict() if self.reason else None,
                "marks": [list(m) for m in self.marks]}

    def __repr__(self):
        a = ", ".join(self.args)
        return f"<{self.step}.{self.depth} {self.func}({a}) = {self.result_text() or 'void'}>"


def ref(obj):
    """A structured reference for an argument or a fact: ("group", 1), ("device", "0000:01:00.0"),
    ("driver", "vfio-pci"), ("process", 1001), ("vfio_group", 2); plain values as ("str", text),
    ("int", n), ("null", None)."""
    if obj is None:
        return ("null", None)
    r = getattr(obj, "ref", None)
    if callable(r):
        return r()
    if isinstance(obj, bool):
        return ("bool", obj)
    if isinstance(obj, int):
        return ("int", obj)
    if isinstance(obj, str):
        return ("str", obj)
    if isinstance(obj, frozenset):
        return ("caps", tuple(sorted(obj)))
    return ("object", label(obj))


def label(obj):
    """A short, stable text for an argument: a device's name, a group's number, a domain's label."""
    if obj is None:
        return "NULL"
    lab = getattr(obj, "label", None)
    if lab is not None:
        return lab() if callable(lab) else lab
    if isinstance(obj, str):
        return repr(obj if len(obj) <= 60 else obj[:57] + "...")
    if isinstance(obj, (int, frozenset)):
        return str(obj) if isinstance(obj, int) else "caps"
    return getattr(obj, "name", None) or type(obj).__name__


class Tracer:
    """Holds the event list. Kernel functions decorated with @traced append to it."""

    def __init__(self):
        self.events = []
        self.step = 0
        self.depth = 0
        self.enabled = True
        self.running = []               # the events entered and not yet left, innermost last
        self.wakeups = []               # (fn, obj): tasks woken during the running call (wake_up)

    def current(self):
        """The innermost running event, or None (between actions, or while tracing is off)."""
        return self.running[-1] if self.running and self.enabled else None

    def record_boot(self, text, groups):
        """The history starts with one event, step 0: the machine as booted."""
        self.events.clear()
        self.step = 0
        self.running.clear()
        ev = Event(0, 0, 0, "boot", (repr(text),), (("str", text),), "boot")
        ev.result = 0
        ev.groups = tuple(g.state_tuple() for g in groups)
        self.events.append(ev)

    def enter(self, func, args, refs=(), op=None):
        if self.depth == 0:
            self.step += 1
            self.running.clear()
        ev = Event(len(self.events), self.step, self.depth, func, args, refs, op)
        self.events.append(ev)
        self.running.append(ev)
        self.depth += 1
        return ev

    def leave(self, ev, result, groups):
        self.depth -= 1
        if self.running and self.running[-1] is ev:
            self.running.pop()
        ev.result = result
        ev.groups = tuple(g.state_tuple() for g in groups if g is not None)


def traced(groups_of=None, name_of=None, op=None) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorator for a kernel function: records a call event with its arguments, result and the
    state of the groups it touched. `groups_of(*args)` returns those groups (or one group);
    `name_of(*args)` names the event when one Python function models several C ones; `op` is the
    stable operation code views read instead of the function's name."""
    def wrap(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        fname = fn.__name__
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            if kwargs or not args:  # keywords as the C call's positions (defaults filled in)
                bound = sig.bind(*args, **kwargs)
                bound.apply_defaults()
                args, kwargs = bound.args, bound.kwargs
            k = args[0].k
            tr = k.tracer
            if k.crashed and tr.depth == 0:
                k.check_alive()
            if not tr.enabled:                      # fast path for searches: no events at all
                return fn(*args, **kwargs)
            name = name_of(*args) if name_of is not None else fname
            ev = tr.enter(name, tuple(label(a) for a in args), tuple(ref(a) for a in args), op)
            result = None
            try:
                result = fn(*args, **kwargs)
            except BaseException as e:
                result = Raised(e)
                raise
            finally:
                gs = ()
                if groups_of is not None:
                    try:
                        gs = groups_of(*args)
                    except Exception:  # an argument without a group: record none
                        gs = ()
                    if gs is not None and not isinstance(gs, (tuple, list)):
                        gs = (gs,)
                tr.leave(ev, result, gs or ())
            if tr.depth == 0 and tr.wakeups:
                run_wakeups(k)
            return result
        return call
    return wrap


def wake_up(k, fn, obj):
    """Wake the task sleeping on obj: it runs fn(obj), a traced call of its own, when the running
    call returns — as in Linux, where the woken task (a writer blocked in a driver's remove()) runs
    after the one that woke it (the last close()) — and before the caller sees the result. A
    search (tracing off) runs it at once."""
    tr = k.tracer
    if not tr.enabled or tr.depth == 0:
        fn(obj)
    elif not any(f is fn and o is obj for f, o in tr.wakeups):
        tr.wakeups.append((fn, obj))


def run_wakeups(k):
    """The woken tasks run, each its own top-level call; before each, k.before_wakeup() (the shell's
    timeline: what the line did so far becomes its step, the woken task's work the next)."""
    tr = k.tracer
    while tr.wakeups:
        fn, obj = tr.wakeups.pop(0)
        hook = getattr(k, "before_wakeup", None)
        if hook is not None:
            hook()
        fn(obj)


class Raised:
    """The result of a traced call that raised instead of returning (a BUG() crash, an OSError
    from a nested user-space call): the exception's type and, for an OSError, its errno."""
    __slots__ = ("type", "errno")

    def __init__(self, exc):
        self.type = type(exc).__name__
        self.errno = exc.errno if isinstance(exc, OSError) else None

    def as_dict(self):
        return {"raised": self.type, "errno": errname(self.errno) if self.errno else None}

    def __str__(self):
        return f"raised {self.type}" + (f" (-{errname(self.errno)})" if self.errno else "")
