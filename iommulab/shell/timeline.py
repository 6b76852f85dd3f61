"""The timeline: one per machine, owning the kernel and its shell session, which travel in time together.

A step is one *action* that changed the machine: one top-level shell line (a multi-line script is
several actions) or one button of the Lab (which types a line). After each action the timeline
takes a snapshot of the kernel (sharing the unchanged objects' copies with the step before) and
the session's state (jobs, variables, cwd, history, the notes shown; what did not change, and the
history's older lines, shared with the step before: a step costs what it changed); if the kernel's state did not
change (ls, cat, lspci, a typo, a refused write, a QEMU that could not start: kobject's
Snapshot.same_state), no step is added and the current step takes the new moment instead (a `cd`
or a variable survives undoing a later action). Changes made from Python between two lines
(k.write, p.ioctl) become a step of their own, "(outside the shell)".

The Lab (undo, the step slider, back to now), the shell (`undo`, `steps`, also in `iommulab sh`)
and the explorer (check/explore.py, through `excursion`) use it; the course's goal checks read
`attempts`, every line run, including those that changed nothing. It lives in the shell package so
that the shell's own `session_for` can hand out the timeline's session without importing upwards.
"""
import gc
from contextlib import contextmanager

from ..kernel.kernel import ID_ALLOCATORS
from ..kernel.kobject import Log
from .session import Session

OUTSIDE = "(outside the shell)"
FULL_COLLECTIONS_EVERY = 100    # young collections between two full ones at least (CPython's default: 10)
_SEGMENT = 32               # a History's Log links segments of at least this many lines


class History:
    """A session's history window (its last HISTSIZE lines) as a moment keeps it: the lines of the
    window are the end of a Log that the moments before share, so a timeline of many steps keeps
    each line once, not once per step. A sequence, equal to the tuple of the same lines."""
    __slots__ = ("log", "start")

    def __init__(self, log, start):
        self.log, self.start = log, start

    def __len__(self):
        return self.log.n - self.start

    def __iter__(self):
        return iter(self.log[self.start:])

    def __eq__(self, other):
        if isinstance(other, History) and other.log is self.log and other.start == self.start:
            return True
        if isinstance(other, (History, tuple, list)):
            return len(self) == len(other) and all(a is b or a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def of(cls, lines, like):
        """The window `lines` (a tuple), sharing `like` (a History, or None) when it is like's
        window with a few lines added at the end (and as many dropped at the start as HISTSIZE
        asks)."""
        if isinstance(like, History):
            old, n = like.log[like.start:], len(lines)
            for added in range(min(n, 16) + 1):
                kept = n - added
                if kept <= len(old) and lines[:kept] == old[len(old) - kept:]:
                    if added == 0:
                        return like if kept == len(old) else cls(like.log, like.log.n - n)
                    last = like.log                # a short last segment is copied, not linked:
                    if len(last.items) < _SEGMENT:   # the chain stays ~HISTSIZE / _SEGMENT long
                        log = Log(last.prev, last.items + tuple(lines[kept:]))
                    else:
                        log = Log(last, tuple(lines[kept:]))
                    return cls(log, log.n - n)
        return cls(Log(None, tuple(lines)), 0)


def _shared(state, like):
    """The session state `state` (Session.save_state) with every part equal to `like`'s (the step
    before's) replaced by like's, and its history a History sharing like's: a moment costs what
    the session changed."""
    if like is None:
        state["history"] = (state["history"][0], History.of(state["history"][1], None))
        return state
    for key, v in state.items():
        if key != "history" and key in like and like[key] == v:
            state[key] = like[key]
    count, lines = state["history"]
    was = like.get("history")
    hist = History.of(lines, was[1] if was is not None else None)
    state["history"] = was if was is not None and was[0] == count and was[1] is hist else (count, hist)
    return state


class Moment:
    """The whole machine at one point: the kernel's snapshot, the session's state, and the action
    that led there (None for a moment not on the timeline)."""
    __slots__ = ("kernel", "session", "action", "serial")
    _serials = iter(range(1, 1 << 62))

    def __init__(self, kernel, session, action, serial=None):
        self.kernel, self.session, self.action = kernel, session, action
        self.serial = next(Moment._serials) if serial is None else serial      # kept when amended

    def __repr__(self):
        return f"<Moment {self.action!r}>"


class Attempt:
    """One top-level line a learner ran, kept whether or not it changed anything (a refused write
    or a QEMU that could not start adds no step, but the learner saw it happen): the line, its exit
    status (None if the kernel crashed under it), the status of a background job it started that
    ended at once (`qemu … &` that failed), what it printed on stderr, the kernel's events during
    it, and the step shown after it."""
    __slots__ = ("line", "status", "bg_status", "stderr", "events", "step", "serial")

    def __init__(self, line, status, bg_status, stderr, events, step, serial=0):
        self.line, self.status, self.bg_status = line, status, bg_status
        self.stderr, self.events, self.step, self.serial = stderr, events, step, serial

    @property
    def failed(self):
        return self.status != 0 or self.bg_status != 0

    def __repr__(self):
        return f"<Attempt {self.line!r} status={self.status} bg={self.bg_status}>"


def fewer_full_collections():
    """A timeline keeps a snapshot per step: objects that live long, a few hundred thousand on a
    2,000-device host. CPython walks every tracked object in a full collection, which by default
    may run after every 10 collections of the middle generation once a quarter of the old objects
    are new — every few actions here, and slower as the session grows (issue 19: half the time of
    an action on that host, rising from 130 to 260 ms a collection after 500 actions). Garbage
    cycles are still found young; only the walk of the old objects is made ten times rarer. The
    process's thresholds are changed only while they are CPython's defaults."""
    young, middle, old = gc.get_threshold()
    if (young, middle, old) == (700, 10, 10):
        gc.set_threshold(young, middle, FULL_COLLECTIONS_EVERY)


class Timeline:
    """steps[0] is the machine as the timeline found it (normally as booted); `position` is the
    step shown (the last one unless the Lab's slider looks at the past)."""

    def __init__(self, k):
        fewer_full_collections()
        self.k = k
        self.session = Session(k)
        self.session.timeline = self
        first = "boot" if k.tracer.step == 0 else "start"
        self.steps = [Moment(k.snapshot(), _shared(self.session.save_state(), None), first)]
        self.position = 0
        self.attempts = []                 # every top-level line run, in order (Attempt)
        self.recording = True              # False inside unrecorded(): lines run, no steps are taken
        self._mark = self._marker()
        self._woken = None                 # events before a woken task ran, in the running line
        self.woken = set()                 # serials of the steps a woken task made (a blocked write's return)
        k.before_wakeup = self._before_wakeup

    # --- running -----------------------------------------------------------------------------

    def run(self, script):
        """Shell text as a learner types it: each top-level line is one action (k.sh is this)."""
        return self.session.run(script)

    def sync(self):
        """Changes made since the last look without the shell become a step of their own, and an
        attempt (what a Python k.write did counts for a level as a typed line would)."""
        first = self._mark[2] if self._mark is not None and self.recording else None
        self._record(OUTSIDE)
        if first is not None and len(self.k.events) > first:
            self.attempted(OUTSIDE, 0, 0, "", first)

    def before_action(self):
        self.sync()

    def after_action(self, action):
        woken = self._woken is not None
        if woken:
            action = self._woken_action(action)
            self._woken = None
        at = len(self.steps), self.position
        self._record(action)
        if woken and (len(self.steps), self.position) != at:
            self.woken.add(self.steps[self.position].serial)

    def woke(self, i):
        """Whether step i is the work of a task the line before it woke (not a line of its own)."""
        return self.steps[i].serial in self.woken

    def _before_wakeup(self):
        """A task the running line woke is about to run (kernel/trace.py run_wakeups: a writer
        blocked in a driver's remove() returns when `kill %1` closed the last file): what the line
        did so far is its step, and the woken task's work is the next, one step each."""
        if not self.session.running or not self.recording:
            return
        if self._woken is None:
            self.checkpoint()
            self._woken = len(self.k.events)

    def _woken_action(self, action):
        done = [m[1] for ev in self.k.events[self._woken:] for m in ev.marks if m[0] == "completion"]
        if not done:
            return action
        return f"the blocked write to {done[0]} returns (woken by: {action})"

    def attempted(self, line, status, bg_status, stderr, first_event):
        events = tuple(self.k.events[first_event:]) if len(self.k.events) >= first_event else ()
        self.attempts.append(Attempt(line, status, bg_status, stderr, events, self.position,
                                     self.steps[self.position].serial))

    def on_branch(self, attempt):
        """Whether an attempt belongs to the machine's history as shown now: made at a step that is
        still on the timeline and not after the one shown (undoing that step, branching off before
        it, or looking at the past takes it back)."""
        i = attempt.step
        return i <= self.position and i < len(self.steps) and self.steps[i].serial == attempt.serial

    def checkpoint(self):
        """The running line's changes so far become its step (`echo … > f; undo` takes back the echo)."""
        self._record(self.session.action)

    def settle(self):
        """End of a shell run: the job table dropped the jobs it reported; keep that in the step."""
        self._amend(None)

    def _record(self, action):
        if not self.recording:
            return
        cur = self.steps[self.position]
        if self._quiet(cur.kernel):
            self._amend(None)
            return
        snap = self.k.snapshot(base=cur.kernel)
        if snap.same_state(cur.kernel, ignore=ID_ALLOCATORS):
            self._amend(snap)
        else:
            del self.steps[self.position + 1:]             # acting in the past starts a new branch
            self.steps.append(Moment(snap, _shared(self.session.save_state(), cur.session), action))
            self.position += 1
        self._mark = self._marker()

    def _amend(self, snap):
        """No new step: the current one takes the session's state (and the longer logs, if given)."""
        if not self.recording:
            return
        cur = self.steps[self.position]
        state = _shared(self.session.save_state(), cur.session)
        if snap is not None or state != cur.session:
            self.steps[self.position] = Moment(cur.kernel if snap is None else snap, state, cur.action, cur.serial)

    def _marker(self):
        k = self.k
        return id(k.tracer), k.tracer.step, len(k.events), len(k.objects), len(k.dmesg_lines)

    def _quiet(self, snap):
        """Nothing can have changed since the last look: no event, no new object, no kernel-level
        field changed (every state change of the model is a traced event)."""
        k = self.k
        return (k.tracer.enabled and self._mark == self._marker()
                and all(getattr(k, key) == v for key, v in snap.kernel_fields.items()))

    # --- time travel -------------------------------------------------------------------------

    def undo(self):
        """Take back the step shown and drop the steps after it; returns the Moment taken back, or
        None when there is nothing to undo."""
        self.sync()
        if len(self.steps) < 2:
            return None
        cut = max(1, self.position)
        undone = self.steps[cut]
        del self.steps[cut:]
        self._show(len(self.steps) - 1)
        return undone

    def go(self, i):
        """Show step i (0 is the first): kernel and session as they were after that action."""
        self.sync()
        if not 0 <= i < len(self.steps):
            raise IndexError(f"no step {i} (0 to {len(self.steps) - 1})")
        self._show(i)

    def _show(self, i):
        self.position = i
        self.restore(self.steps[i])
        self._mark = self._marker()

    def now(self):
        self.sync()                        # a change from Python while looking back is a new branch: its end
        self.go(len(self.steps) - 1)

    def listing(self):
        """One line per step, as `steps` prints it: `*` marks the step shown."""
        return [f"{'*' if i == self.position else ' '}{i:4}  {' '.join(m.action.split())}"
                for i, m in enumerate(self.steps)]

    # --- moments off the timeline (the explorer's search) ------------------------------------

    def snapshot(self):
        """The machine now, off the timeline; it shares what did not change with the step shown
        (a search keeps many: each costs the objects its actions changed)."""
        cur = self.steps[self.position]
        return Moment(self.k.snapshot(base=cur.kernel), _shared(self.session.save_state(), cur.session), None)

    def restore(self, moment):
        """Put kernel and session back as they were at `moment` (same objects, same jobs)."""
        self.k.restore(moment.kernel)
        self.session.load_state(moment.session)
        self._mark = None                  # the next action compares the whole state

    def unrecorded(self):
        """Inside an excursion, run lines without taking steps (a search keeps its own snapshots);
        the attempts are still logged."""
        return _unrecorded(self)

    @contextmanager
    def excursion(self):
        """Go anywhere with snapshot()/restore() and come back: afterwards kernel, session, steps
        and position are as they were before."""
        start, mark, steps, position = self.snapshot(), self._mark, list(self.steps), self.position
        attempts = len(self.attempts)
        try:
            yield self
        finally:
            self.restore(start)
            self._mark, self.steps, self.position = mark, steps, position
            del self.attempts[attempts:]


@contextmanager
def _unrecorded(tl):
    was, tl.recording = tl.recording, False
    try:
        yield tl
    finally:
        tl.recording = was


def timeline_for(k):
    """The timeline of kernel k (made on first use: the machine as it is then is its step 0)."""
    tl = k.__dict__.get("_timeline")
    if tl is None or tl.k is not k:
        tl = Timeline(k)
        k.__dict__["_timeline"] = tl
    return tl
