"""Kernel objects and whole-kernel snapshots.

Every stateful object of the model (device, driver, group, domain, file, process, ...) is a
KObject registered with its kernel. A snapshot copies each object's fields one level deep;
a restore puts them back into the *same* objects, so identities survive time travel.

Rule that keeps this cheap and correct: a field holds an immutable value, a reference to another
KObject, or a flat list/dict/set of those — and every such container field is named in the class's
`CONTAINERS`, so a snapshot copies exactly those (tests check that none is missing). Containers
are never nested.

A timeline keeps thousands of snapshots, so they share structure (issue 19): the objects and their
saved fields are kept in chunks of CHUNK, and a snapshot taken with `base` reuses each of base's
chunks in which no object changed (a snapshot costs the chunks an action touched, not the machine);
a kernel-level container equal to base's is base's copy; the event list and the kernel log, which
only grow between restores, are persistent logs (Log) whose segments later snapshots share.
"""
from itertools import chain

_MUTABLE = (list, dict, set)
CHUNK = 64                  # objects per chunk of a snapshot's object and field vectors


class KObject:
    """Base of every stateful model object (cf. struct kobject in lib/kobject.c)."""
    CONTAINERS: tuple[str, ...] = ()

    def __init__(self, k):
        self.k = k
        k.objects.append(self)


def _save(o):
    d = o.__dict__.copy()
    for key in o.CONTAINERS:
        d[key] = d[key].copy()
    return d


class Log:
    """An immutable sequence that shares its start with the log it grew from: the segment added
    since `prev` and a link to it. len(), indexing, slicing and iteration work as on a tuple; the
    newest items (what views slice: `events[before:]`, `events[-1]`) are the cheapest to reach."""
    __slots__ = ("prev", "items", "n")

    def __init__(self, prev, items):
        if prev is not None and not prev.items:      # never link through an empty segment
            prev = prev.prev
        self.prev, self.items = prev, items
        self.n = (prev.n if prev is not None else 0) + len(items)

    @classmethod
    def grow(cls, old, live):
        """The log of the list `live`, which began with `old`'s items (and grew or stayed)."""
        if old is not None and old.n == len(live):
            return old
        start = 0 if old is None else old.n
        return cls(old, tuple(live[start:]))

    def segments(self):
        """The segments, oldest first."""
        segs, node = [], self
        while node is not None:
            if node.items:
                segs.append(node.items)
            node = node.prev
        segs.reverse()
        return segs

    def as_tuple(self):
        segs = self.segments()
        return segs[0] if len(segs) == 1 else tuple(chain.from_iterable(segs))

    def __len__(self):
        return self.n

    def __iter__(self):
        return chain.from_iterable(self.segments())

    def _tail(self, start):
        """The items from `start` (0 <= start <= n) to the end, walking back only that far."""
        parts, node = [], self
        while node is not None and node.n > start:
            first = node.n - len(node.items)
            parts.append(node.items[max(0, start - first):])
            node = node.prev
        parts.reverse()
        return parts[0] if len(parts) == 1 else tuple(chain.from_iterable(parts))

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(self.n)
            if step == 1 and stop == self.n:
                return self._tail(start) if start < stop else ()
            return self.as_tuple()[i]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError("Log index out of range")
        node = self
        while node.n - len(node.items) > i:
            node = node.prev
        return node.items[i - (node.n - len(node.items))]

    def __eq__(self, other):
        if self is other:
            return True
        if isinstance(other, (Log, tuple, list)):
            return len(self) == len(other) and all(a is b or a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        return f"<Log of {self.n}>"


def _log_of(k, slot, live):
    """The Log of a live list (k.tracer.events or k.dmesg_lines), sharing what the last snapshot or
    restore of the same list left in k's record when the list only grew since (every change of
    these lists but a restore is an append)."""
    rec = k.__dict__.get("_logs", {}).get(slot)
    old = None
    if rec is not None and rec[0] is live:
        node = rec[1]
        if node.n <= len(live) and (node.n == 0 or live[node.n - 1] is node[-1]):
            old = node
    log = Log.grow(old, live)
    k.__dict__.setdefault("_logs", {})[slot] = (live, log)
    return log


class Snapshot:
    """A frozen copy of a whole kernel. Restore with Kernel.restore(snapshot). `objects` and
    `fields` are tuples in creation order (objects[i]'s saved fields are fields[i]); `events` and
    `dmesg` are Logs (sequences)."""
    __slots__ = ("obj_chunks", "field_chunks", "kernel_fields", "events", "dmesg", "step")

    def __init__(self, obj_chunks, field_chunks, kernel_fields, events, dmesg, step):
        self.obj_chunks, self.field_chunks, self.kernel_fields = obj_chunks, field_chunks, kernel_fields
        self.events, self.dmesg, self.step = events, dmesg, step

    @property
    def objects(self):
        return tuple(chain.from_iterable(self.obj_chunks))

    @property
    def fields(self):
        return tuple(chain.from_iterable(self.field_chunks))

    def __len__(self):
        return sum(map(len, self.obj_chunks))

    def same_state(self, other, ignore=()):
        """Whether this snapshot holds the state of `other`, an earlier one, as far as anything can
        reach it: each of other's objects has the same fields, and so has every kernel-level field
        but `ignore` (id allocators). Objects made since are then unreachable (whatever referred to
        them would have changed): a QEMU that failed to start. Events and logs are not compared."""
        mine = self.kernel_fields
        if any(mine[key] != v for key, v in other.kernel_fields.items() if key not in ignore):
            return False
        if len(self.obj_chunks) < len(other.obj_chunks):
            return False
        for mo, mf, oo, of in zip(self.obj_chunks, self.field_chunks, other.obj_chunks, other.field_chunks):
            if mf is of:                        # a shared chunk: same objects, same fields
                continue
            if len(mo) < len(oo) or any(a is not b for a, b in zip(mo, oo)):
                return False
            if not all(a is b or a == b for a, b in zip(mf, of)):
                return False
        return True


def take_snapshot(k, kernel_keys, base=None):
    """A snapshot of k. With `base` (an earlier snapshot), every chunk of objects none of which
    changed is base's, and so is every kernel-level container equal to base's: a timeline of many
    snapshots costs what changed, not the machine."""
    objs = k.objects
    obj_chunks, field_chunks = [], []
    old_o = base.obj_chunks if base is not None else ()
    old_f = base.field_chunks if base is not None else ()
    for j, start in enumerate(range(0, len(objs), CHUNK)):
        part = objs[start:start + CHUNK]
        if j < len(old_o):
            oc, fc = old_o[j], old_f[j]
            if len(oc) == len(part) and all(a is b for a, b in zip(oc, part)):
                if all(o.__dict__ == f for o, f in zip(part, fc)):
                    obj_chunks.append(oc)
                    field_chunks.append(fc)
                    continue
                obj_chunks.append(oc)
                field_chunks.append(tuple(f if o.__dict__ == f else _save(o) for o, f in zip(part, fc)))
                continue
            n = min(len(oc), len(part))
            same = [i < n and oc[i] is o and o.__dict__ == fc[i] for i, o in enumerate(part)]
            obj_chunks.append(tuple(part))
            field_chunks.append(tuple(fc[i] if same[i] else _save(o) for i, o in enumerate(part)))
            continue
        obj_chunks.append(tuple(part))
        field_chunks.append(tuple(_save(o) for o in part))
    old_k = base.kernel_fields if base is not None else {}
    kernel_fields = {}
    for key in kernel_keys:
        v = getattr(k, key)
        if type(v) in _MUTABLE:
            was = old_k.get(key)        # a dict's order counts too (k.devices: rescan adds at the end)
            same = (was is not None and type(was) is type(v) and was == v
                    and (type(v) is not dict or list(was) == list(v)))
            v = was if same else v.copy()
        kernel_fields[key] = v
    return Snapshot(tuple(obj_chunks), tuple(field_chunks), kernel_fields,
                    _log_of(k, "events", k.tracer.events), _log_of(k, "dmesg", k.dmesg_lines), k.tracer.step)


def _restore_log(k, slot, live, log):
    """Make the live list hold `log`'s items: cut it back when it holds `log` grown since (undo, the
    explorer's next try), append only the rest when `log` is what it holds grown (back to now), else
    copy the items in."""
    logs = k.__dict__.setdefault("_logs", {})
    rec = logs.get(slot)
    logs[slot] = (live, log)
    n = log.n
    if rec is not None and rec[0] is live:
        have = rec[1]
        if have.n <= len(live) and (have.n == 0 or live[have.n - 1] is have[-1]):
            if n == 0:
                live.clear()
                return
            node = have if n <= have.n else log
            stop = n if n <= have.n else have.n
            while node is not None and node.n > stop:
                node = node.prev
            if n <= have.n and node is log:
                del live[n:]
                return
            if n > have.n and (node is have or (have.n == 0 and node is None)):
                del live[have.n:]
                live.extend(log[have.n:])
                return
    live[:] = log.as_tuple()


def restore_snapshot(k, snap):
    objects = []
    for oc, fc in zip(snap.obj_chunks, snap.field_chunks):
        objects.extend(oc)
        for o, f in zip(oc, fc):
            d = o.__dict__
            if d == f:          # unchanged since (what same_state calls equal): most objects, most times
                continue
            d.clear()
            d.update(f)
            for key in o.CONTAINERS:
                d[key] = f[key].copy()
    for key, v in snap.kernel_fields.items():
        setattr(k, key, v.copy() if type(v) in _MUTABLE else v)
    k.objects[:] = objects
    _restore_log(k, "events", k.tracer.events, snap.events)
    k.tracer.step = snap.step
    k.tracer.depth = 0
    _restore_log(k, "dmesg", k.dmesg_lines, snap.dmesg)
