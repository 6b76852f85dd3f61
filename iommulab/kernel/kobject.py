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
    CONTAINERS = ()

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


def take_snapshot(k, kernel_keys):
    objs = tuple(k.objects)
    return Snapshot(objs, tuple(_save(o) for o in objs),
                    {key: (v.copy() if type(v) in _MUTABLE else v)
                     for key, v in ((key, getattr(k, key)) for key in kernel_keys)},
                    tuple(k.tracer.events), tuple(k.dmesg_lines), k.tracer.step)


def restore_snapshot(k, snap):
    for o, f in zip(snap.objects, snap.fields):
        d = o.__dict__
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
