"""Kernel objects and whole-kernel snapshots.

Every stateful object of the model (device, driver, group, domain, file, process, ...) is a
KObject registered with its kernel. A snapshot copies each object's fields one level deep;
a restore puts them back into the *same* objects, so identities survive time travel.

Rule that keeps this cheap and correct: a field holds an immutable value, a reference to another
KObject, or a flat list/dict/set of those — and every such container field is named in the class's
`CONTAINERS`, so a snapshot copies exactly those (tests check that none is missing). Containers
are never nested.
"""

_MUTABLE = (list, dict, set)


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


class Snapshot:
    """A frozen copy of a whole kernel. Restore with Kernel.restore(snapshot)."""
    __slots__ = ("objects", "fields", "kernel_fields", "events", "dmesg", "step")

    def __init__(self, objects, fields, kernel_fields, events, dmesg, step):
        self.objects, self.fields, self.kernel_fields = objects, fields, kernel_fields
        self.events, self.dmesg, self.step = events, dmesg, step

    def same_state(self, other, ignore=()):
        """Whether this snapshot holds the state of `other`, an earlier one, as far as anything can
        reach it: each of other's objects has the same fields, and so has every kernel-level field
        but `ignore` (id allocators). Objects made since are then unreachable (whatever referred to
        them would have changed): a QEMU that failed to start. Events and logs are not compared."""
        if self.objects[:len(other.objects)] != other.objects:
            return False
        mine = self.kernel_fields
        if any(mine[key] != v for key, v in other.kernel_fields.items() if key not in ignore):
            return False
        return all(a is b or a == b for a, b in zip(self.fields, other.fields))


def take_snapshot(k, kernel_keys, base=None):
    """A snapshot of k. With `base` (an earlier snapshot), an object whose fields did not change
    shares base's copy of them: a timeline of many snapshots costs what changed, not the machine."""
    objs = tuple(k.objects)
    fields = tuple(_save(o) for o in objs)
    if base is not None:
        fields = _share(objs, fields, base)
    return Snapshot(objs, fields,
                    {key: (v.copy() if type(v) in _MUTABLE else v)
                     for key, v in ((key, getattr(k, key)) for key in kernel_keys)},
                    tuple(k.tracer.events), tuple(k.dmesg_lines), k.tracer.step)


def _share(objs, fields, base):
    old_objs, old_fields = base.objects, base.fields
    n = min(len(objs), len(old_objs))
    return tuple(old_fields[i] if i < n and old_objs[i] is o and old_fields[i] == f else f
                 for i, (o, f) in enumerate(zip(objs, fields)))


def restore_snapshot(k, snap):
    for o, f in zip(snap.objects, snap.fields):
        d = o.__dict__
        if d == f:          # unchanged since (what same_state calls equal): most objects, most times
            continue
        d.clear()
        d.update(f)
        for key in o.CONTAINERS:
            d[key] = f[key].copy()
    for key, v in snap.kernel_fields.items():
        setattr(k, key, v.copy() if type(v) in _MUTABLE else v)
    k.objects[:] = snap.objects
    k.tracer.events[:] = snap.events
    k.tracer.step = snap.step
    k.tracer.depth = 0
    k.dmesg_lines[:] = snap.dmesg
