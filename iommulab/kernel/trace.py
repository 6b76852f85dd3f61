"""Structured trace events: every kernel function call that can change state, with its result.

This plays the part of the kernel's tracepoints (include/trace/events/iommu.h): views, plots,
time travel and checks read these events, never the model's private fields.
"""
import functools

from .errno import errname, strerror


class Event:
    """One traced call. `step` counts top-level actions (a sysfs write, an ioctl, an API call);
    `depth` is 0 for the action itself and grows for the kernel functions it calls."""
    __slots__ = ("seq", "step", "depth", "func", "args", "result", "groups", "note")

    def __init__(self, seq, step, depth, func, args):
        self.seq, self.step, self.depth, self.func, self.args = seq, step, depth, func, args
        self.result = None
        self.groups = ()
        self.note = None

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
                "args": self.args, "result": self.result,
                "errno": errname(self.errno) if self.errno else None,
                "groups": [dict(zip(("group", "owner_cnt", "owner", "domain"), g)) for g in self.groups],
                "note": self.note}

    def __repr__(self):
        a = ", ".join(self.args)
        return f"<{self.step}.{self.depth} {self.func}({a}) = {self.result_text() or 'void'}>"


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

    def record_boot(self, text, groups):
        """The history starts with one event, step 0: the machine as booted."""
        self.events.clear()
        self.step = 0
        ev = Event(0, 0, 0, "boot", (repr(text),))
        ev.result = 0
        ev.groups = tuple(g.state_tuple() for g in groups)
        self.events.append(ev)

    def enter(self, func, args):
        if self.depth == 0:
            self.step += 1
        ev = Event(len(self.events), self.step, self.depth, func, args)
        self.events.append(ev)
        self.depth += 1
        return ev

    def leave(self, ev, result, groups):
        self.depth -= 1
        ev.result = result
        ev.groups = tuple(g.state_tuple() for g in groups if g is not None)


def traced(groups_of=None, name_of=None):
    """Decorator for a kernel function: records a call event with its arguments, result and the
    state of the groups it touched. `groups_of(*args)` returns those groups (or one group);
    `name_of(*args)` names the event when one Python function models several C ones."""
    def wrap(fn):
        fname = fn.__name__

        @functools.wraps(fn)
        def call(*args):
            k = args[0].k
            tr = k.tracer
            if k.crashed and tr.depth == 0:
                k.check_alive()
            if not tr.enabled:                      # fast path for searches: no events at all
                return fn(*args)
            name = name_of(*args) if name_of is not None else fname
            ev = tr.enter(name, tuple(label(a) for a in args))
            ok = False
            try:
                result = fn(*args)
                ok = True
            finally:
                gs = ()
                if groups_of is not None:
                    try:
                        gs = groups_of(*args)
                    except Exception:  # an argument without a group: record none
                        gs = ()
                    if gs is not None and not isinstance(gs, (tuple, list)):
                        gs = (gs,)
                tr.leave(ev, result if ok else "exception", gs or ())
            return result
        call.traced_name = fname
        return call
    return wrap
