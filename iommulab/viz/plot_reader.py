"""owner_cnt over time, read from a kernel's timeline: `Reader.build(k)` gives the plot's data (the
steps shown, one panel per group that changed with its bars, markers and notes); plot_model.py
turns it into the Picture the drawers draw.

Read from the public surface only: the timeline's steps (`timeline_for(k).steps`, each Moment's
kernel snapshot and its events), `k.state()` at each step (groups' owner_cnt and owner, devices'
drivers and `managed`) and the typed events (op, result, marks), never the model's private state.
This module imports no third-party package."""
import operator
from bisect import bisect_left, insort

from .explain import kernel_dma_users

MAX_PANELS = 3                 # the plot stays short: the Lab's buttons sit under it
WINDOW = 30                    # timeline steps drawn at most (the ones around the step shown); 20 when narrow


def series(events, initial=None):
    """{group: [(step, owner_cnt)]}: the value at the end of each event step where it changed; plus
    {group: [(step, kind)]} markers and the steps where one bind counted twice. `initial`: each
    group's owner_cnt before the first event (when the events are a slice of a longer history)."""
    values, points, marks, double = dict(initial or {}), {}, {}, []
    step_start = {}
    for ev in events:
        for n, cnt, *_ in ev.groups:
            if n not in points:
                points[n] = [(ev.step, cnt)]
            elif values[n] != cnt:
                pts = points[n]
                if pts[-1][0] == ev.step:
                    pts[-1] = (ev.step, cnt)
                else:
                    pts.append((ev.step, cnt))
            if ev.depth == 0 or (n, ev.step) not in step_start:
                step_start.setdefault((n, ev.step), values.get(n, cnt))
            values[n] = cnt
        kind = _marker_kind(ev)
        if kind:
            for n, *_ in ev.groups:
                if (ev.step, kind) not in marks.setdefault(n, []):
                    marks[n].append((ev.step, kind))
    for n, pts in points.items():
        for step, cnt in pts:
            start = step_start.get((n, step))
            if start is not None and cnt - start >= 2 and any(s == step and k == "bind" for s, k in marks.get(n, ())):
                double.append((n, step, cnt))
    return points, marks, double


def _marker_kind(ev):
    """From the event's typed kind and operation code (kernel/trace.py), never its name."""
    if ev.warned:
        return "warn"
    if ev.op == "probe" and ev.result == 0:
        return "bind"
    if ev.op == "release-driver":
        return "unbind"
    if ev.op == "claim" and ev.result == 0:
        return "claim"
    if ev.op == "release":
        return "release"
    return None


def composition(st):
    """{group: (owner_cnt, kernel, user, leaked)} from k.state(): with an owner (user space claimed
    the group) the whole count is its claim; without one, each kernel DMA driver bound (`managed`
    False) holds one, and what is left over nobody holds: leaked."""
    out = {}
    for n, g in st["groups"].items():
        cnt = g["owner_cnt"]
        if g["owner_ref"] is not None:
            out[n] = (cnt, 0, cnt, 0)
        else:
            kernel = min(cnt, len(kernel_dma_users(st, n)))
            out[n] = (cnt, kernel, 0, cnt - kernel)
    return out


def _leaks(now, shown):
    """Where owner_cnt is above the kernel DMA drivers actually bound (and no user space owns the
    group), say so."""
    return [f"group {n}: owner_cnt {now[n][0]}, {now[n][1]} kernel DMA driver{'s' if now[n][1] != 1 else ''} "
            "bound: leaked" for n in shown if now[n][3]]


CHECKPOINT = 32                # every 32nd step keeps its whole composition; the others only what changed


class _Row:
    """What the plot knows of one timeline step: its Moment, the groups whose composition it changed
    (`changes`: group -> (owner_cnt, kernel, user, leaked), None where the group went away), the
    whole composition on a checkpoint step, the markers and double counts of its own events, and
    the groups it counts as changed (`touched`)."""
    __slots__ = ("moment", "nevents", "changes", "whole", "marks", "double", "touched")

    def __init__(self, moment, changes, whole, marks, double):
        self.moment, self.nevents = moment, len(moment.kernel.events)
        self.changes, self.whole, self.marks, self.double = changes, whole, marks, double
        self.touched = set(changes) | set(marks)


def _diff(before, after):
    """{group: after's value} where it differs from before's, None for a group that went away."""
    out = {n: v for n, v in after.items() if before.get(n) != v}
    out.update((n, None) for n in before if n not in after)
    return out


def own_events(before, after):
    """The events of a step whose step before logged `before`: those of `after` past the history
    the two share (events are shared objects). Normally `before` is where `after` began; not after
    a reboot (a new log), nor when the step before was amended (it went on in the past: a refused
    line while the slider looked back)."""
    n = len(before)
    if n <= len(after) and (not n or after[n - 1] is before[n - 1]):
        return after[n:]
    lo, hi = 0, min(n, len(after))              # the longest shared start: once apart, never together
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if after[mid - 1] is before[mid - 1]:
            lo = mid
        else:
            hi = mid - 1
    return after[lo:]


def _unrecorded(k, moment):
    """Whether the kernel has changed since the step's snapshot (every change is a traced event)."""
    then = moment.kernel.events
    return len(k.events) != len(then) or bool(then) and k.events[-1] is not then[-1]


class Reader:
    """Reads a kernel's timeline into the plot's data, one row per step, kept between refreshes:
    a refresh reads only the steps it has not seen (normally the newest, from the events it
    touched; steps never seen — the middle lines of a multi-line cell — once, inside
    `Timeline.excursion()`, which puts kernel and session back as they were) and draws the steps
    around the one shown, so its cost does not grow with the session's length. The rows follow
    the timeline: a step taken back or branched off is forgotten, an amended step (same serial,
    same state, maybe longer logs) keeps its composition."""

    def __init__(self, window=WINDOW):
        self.window = window
        self._rows = []                # one _Row per timeline step, in order
        self._moments = []             # the rows' Moments, to find the steps that changed at C speed
        self._changed = {}             # group -> ascending indices of the rows that touched it
        self._memo = {}                # row index -> its whole composition, the last few put together
        self._live = None              # the row read from a kernel changed since its step (a k.write from Python)
        self._members = {}             # group -> its devices, as last read

    # --- the rows ----------------------------------------------------------------------------

    def _follow(self, steps):
        """Forget the rows of steps the timeline dropped or replaced by another branch."""
        if len(self._rows) > len(steps):
            self._cut(len(steps))
        same, i = list(map(operator.is_, self._moments, steps)), 0
        while True:
            try:
                i = same.index(False, i)
            except ValueError:
                return
            if steps[i].serial != self._moments[i].serial:       # another branch from here on
                self._cut(i)
                return
            self._amended(i, steps)
            i += 1

    def _cut(self, i):
        for j in range(len(self._rows) - 1, i - 1, -1):
            self._unindex(j)
        del self._rows[i:], self._moments[i:]
        self._memo.clear()

    def _amended(self, i, steps):
        """An amended step keeps its state; its own events may be longer (a refused line's)."""
        row = self._rows[i]
        self._moments[i] = row.moment = steps[i]
        if len(steps[i].kernel.events) != row.nevents and i:
            self._unindex(i)
            row.marks, row.double = self._step_events(steps, i, self._comp(i - 1))
            row.nevents = len(steps[i].kernel.events)
            row.touched = set(row.changes) | set(row.marks)
            self._index(i)

    def _index(self, i):
        for n in self._rows[i].touched:
            insort(self._changed.setdefault(n, []), i)

    def _unindex(self, i):
        for n in self._rows[i].touched:
            at = self._changed[n]
            at.pop(bisect_left(at, i))
            if not at:
                del self._changed[n]

    def _append(self, steps, comp, before):
        i = len(self._rows)
        marks, double = self._step_events(steps, i, before) if i else ({}, [])
        changes = _diff(before, comp) if i else {}
        self._rows.append(_Row(steps[i], changes, comp if i % CHECKPOINT == 0 else None, marks, double))
        self._moments.append(steps[i])
        self._index(i)
        self._remember(i, comp)

    def _replace(self, i, comp):
        """Step i reads differently: its row takes `comp`, and the step after it counts its changes
        from it (every row's changes are those from the step before, as read)."""
        rows = self._rows
        nxt = self._comp(i + 1) if i + 1 < len(rows) else None
        before = self._comp(i - 1) if i else None
        for j, was, now in ((i, before, comp), (i + 1, comp, nxt)):
            if j >= len(rows) or was is None and j:
                continue
            row = rows[j]
            self._unindex(j)
            row.changes = _diff(was, now) if j else {}
            row.whole = now if row.whole is not None or j == i + 1 else None
            row.touched = set(row.changes) | set(row.marks)
            self._index(j)
        self._memo = {i: comp}

    def _comp(self, i):
        """Step i's whole composition: its checkpoint's, with the changes of the steps since."""
        if i in self._memo:
            return self._memo[i]
        rows, j = self._rows, i
        while rows[j].whole is None:
            j -= 1
        comp = dict(rows[j].whole)
        for row in rows[j + 1:i + 1]:
            for n, v in row.changes.items():
                if v is None:
                    comp.pop(n, None)
                else:
                    comp[n] = v
        self._remember(i, comp)
        return comp

    def _remember(self, i, comp):
        if len(self._memo) >= 4:
            del self._memo[next(iter(self._memo))]
        self._memo[i] = comp

    def _value(self, n, start, end):
        """Group n's composition at each step from start to end (None where it does not exist)."""
        rows, j = self._rows, start
        while rows[j].whole is None and n not in rows[j].changes:
            j -= 1
        v = rows[j].changes[n] if n in rows[j].changes else rows[j].whole.get(n)
        out = [v] if j == start else []
        for i in range(j + 1, end + 1):
            c = rows[i].changes
            if n in c:
                v = c[n]
            if i >= start:
                out.append(v)
        return out

    def _read(self, k):
        """Rows for the steps not read yet, and the composition of the step shown now."""
        from ..shell import timeline_for
        tl = timeline_for(k)
        steps, pos = tl.steps, tl.position
        self._follow(steps)
        live, self._live = self._live, None
        first = len(self._rows)
        missing = [i for i in range(first, len(steps)) if i != pos]
        if live is not None and live < first and live != pos:
            missing.append(live)       # read while the kernel had changes no step recorded: read it again
        comps = {}
        if missing:                    # steps never seen (a multi-line cell; a plot made late): look back
            with tl.excursion():
                for i in missing:
                    tl.restore(steps[i])
                    comps[i] = self._full(k)
        if live in comps:
            self._replace(live, comps[live])
        before = self._comp(first - 1) if first else {}
        for i in range(first, len(steps)):
            comp = comps[i] if i != pos else self._now(k, steps, pos, before)
            self._append(steps, comp, before)
            before = comp
        if pos < first:                # the step shown is the machine now (even after a k.write from Python)
            comp = self._now(k, steps, pos, self._comp(pos - 1) if pos else None)
            if comp != self._comp(pos):
                self._replace(pos, comp)
        if _unrecorded(k, steps[pos]):
            self._live = pos
        return steps, pos, self._comp(pos)

    def _full(self, k):
        st = k.state()
        self._members = {n: g["devices"] for n, g in st["groups"].items()}
        return composition(st)

    def _now(self, k, steps, pos, before):
        """The composition now: the step before's, with the groups that this step's events touched
        read again (every change of a group is a traced event naming it: a 2,000-device host reads
        a few groups, not all of them)."""
        if before is None or len(before) != len(k.iommu_groups):
            return self._full(k)
        first, then = len(steps[pos - 1].kernel.events), steps[pos - 1].kernel.events
        if len(k.events) < first or (first and k.events[first - 1] is not then[-1]):
            return self._full(k)               # not the step before's history continued (a reboot)
        groups, devices = set(), set()
        for ev in k.events[first:]:
            groups.update(g[0] for g in ev.groups)
            devices.update(v for kind, v in ev.refs if kind == "device")
        if not groups and not devices:
            return before
        for n in groups:
            if not self._members.get(n):
                return self._full(k)
            devices.add(self._members[n][0])
        st = k.state(devices=devices)
        if not set(st["groups"]) >= groups:
            return self._full(k)
        self._members.update((n, g["devices"]) for n, g in st["groups"].items())
        return {**before, **composition(st)}

    # --- what the plot shows -----------------------------------------------------------------

    def build(self, k):
        """What the plot shows, as plain data: the steps, the panels with their bars and markers,
        the groups left out, the leaks."""
        steps, pos, now = self._read(k)
        last = len(steps) - 1
        last_change = {n: 0 for n, c in now.items() if c[3]}          # a leak is drawn even if it never moved
        last_change.update((n, at[-1]) for n, at in self._changed.items())
        changed = [n for n in last_change if n in now]
        drawn = sorted(sorted(changed, key=lambda n: (-last_change[n], n))[:MAX_PANELS])
        hidden = sorted(set(changed) - set(drawn))
        window = self.window
        end = last if pos > last - window // 2 else min(last, pos + window // 2)
        hi = max(9, end // 5 * 5 + 5)                   # the axis grows by fives: most refreshes keep it
        lo = max(0, hi - window + 1)
        start = lo
        rows = self._rows[start:end + 1]
        double = [(n, i, cnt) for i, row in enumerate(rows, start) for n, cnt in row.double]
        panels = []
        for n in drawn:
            bars = [(i, *(c or (0, 0, 0, 0))[1:]) for i, c in enumerate(self._value(n, start, end), start)]
            peak = max([sum(b[1:]) for b in bars] + [1])
            panels.append({"group": n, "bars": bars, "now": now.get(n, (0, 0, 0, 0)), "top": peak,
                           "marks": [(i, kind) for i, row in enumerate(rows, start) for kind in row.marks.get(n, ())],
                           "double": [(i, cnt) for g, i, cnt in double if g == n]})
        return {"position": pos, "last": last, "steps": (start, end), "axis": (lo, hi), "panels": panels,
                "hidden": hidden,
                "unchanged": len(now) - len(changed), "leaks": _leaks(now, drawn),
                "double": [(n, i, cnt) for n, i, cnt in double if n in drawn]}

    def _step_events(self, steps, i, before):
        """What timeline step i's own events show: {group: [marker kinds]} and [(group, owner_cnt)]
        where one bind counted twice."""
        events = own_events(steps[i - 1].kernel.events, steps[i].kernel.events)
        named = {g[0] for ev in events for g in ev.groups}
        _, by_step, double = series(events, initial={n: before[n][0] for n in named if n in before})
        marks = {}
        for n, ms in by_step.items():
            for _, kind in ms:
                if kind not in marks.setdefault(n, []):
                    marks[n].append(kind)
        return marks, [(n, cnt) for n, _, cnt in double]
