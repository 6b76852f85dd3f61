"""What the views show, as plain data, built only from the kernel's public surface: k.state(),
the devices' public facts, the event history and the timeline's steps and attempts. No view reads
model internals.

What changed is the difference between the state of the step shown and the state of the step
before it (one step = one action of the timeline), so only what really changed is highlighted:
groups (including one that lost a device), devices, processes and their edges. A refused action
(the last lines run changed nothing and failed) highlights nothing as changed and marks the
obstacle its reason names instead. Blocked writes (a write event whose result is a pending write,
with no completion mark yet) are listed with what they wait for."""
from dataclasses import dataclass, field

from ..kernel.explain import bus_counts_drivers
from ..kernel.reasons import origin
from ..kernel.trace import ref
from ..pciids import class_name


@dataclass
class DeviceView:
    name: str
    bus: str
    kind: str
    what: str                  # class name (PCI) or compatible string
    driver: str | None
    driver_kind: str           # "kernel-dma" | "managed" | "unbound"
    parent: str | None
    group: int | None
    vfio: str | None           # /dev/vfio/devices node name (vfioN) while it exists, else None
    driver_override: str | None = None
    dma_hooks: bool = True     # its bus counts a bound kernel DMA-API driver in owner_cnt (False:
                               # usb, i2c, spi, virtio, 6.4's cdx — a driver there never counts)


@dataclass
class GroupView:
    number: int
    owner_cnt: int
    owner: str                 # owner label: NULL, vfio_group:N, container_file:Cn, ictx:In, …
    owner_kind: str            # "free" | "kernel" | "vfio-group" | "container" | "iommufd" | "other"
    domain: str                # DEFAULT(type), BLOCKING, USER:name, PRIVATE:name, NULL
    domain_kind: str           # "default" | "blocking" | "user" | "private" | "none"
    default_type: str | None
    devices: list
    pasids: list
    owner_id: object = None    # the owner's number: 2 for vfio_group:2, 1 for container_file:C1
    domain_name: str | None = None   # a user or private domain's name


@dataclass
class ProcessView:
    pid: int
    name: str
    groups: list
    devices: list


@dataclass
class PendingView:
    """A blocked write: `echo data > path`, waiting for `holders` (pids) to let go of `device`, or
    queued behind the blocked write `behind` (an index into ViewModel.pending) on its device lock."""
    path: str
    data: str
    device: str | None
    holders: list
    behind: int | None = None
    asked: list = field(default_factory=list)       # pids a release request was relayed to (events)
    step: int = 0                                   # the kernel's call counter when it blocked
    new: bool = False                               # blocked in the step shown
    event: object = None                            # the write's event

    def line(self):
        return f"echo {self.data} > {self.path}"


@dataclass
class ViewModel:
    release: str
    groups: dict               # number -> GroupView
    devices: dict              # name -> DeviceView
    processes: list
    step: int
    changed_groups: set = field(default_factory=set)
    changed_devices: set = field(default_factory=set)
    last_action: str = ""
    changes: dict = field(default_factory=dict)          # group number or device name -> [words]
    changed_processes: set = field(default_factory=set)
    changed_edges: set = field(default_factory=set)      # (pid, "device", name) / (pid, "group", n)
    lost: dict = field(default_factory=dict)             # group number -> devices it lost
    gone: list = field(default_factory=list)             # groups and devices the step removed, in words
    refused: str = ""                                    # the refused line(s), when the last action failed
    refusal: str = ""                                    # why, in one sentence
    obstacles: dict = field(default_factory=dict)        # device name -> why it blocks, in words
    obstacle_groups: dict = field(default_factory=dict)  # group number -> why it blocks
    obstacle_processes: dict = field(default_factory=dict)
    pending: list = field(default_factory=list)          # PendingView, still blocked
    completed: list = field(default_factory=list)        # PendingView that completed in this step
    old_viability: bool = False                          # before 5.19: no owner_cnt, VFIO's own allow-list walk


_OWNER_KINDS = {"vfio_group": "vfio-group", "container": "container", "iommufd": "iommufd"}


def owner_kind(owner_ref, cnt):
    """From the owner's reference in k.state() (("vfio_group", 2), ("iommufd", 1), …; None for none)."""
    if owner_ref is None:
        return "kernel" if cnt else "free"
    return _OWNER_KINDS.get(owner_ref[0], "other")


def domain_kind(domain_ref):
    """From the domain's reference in k.state(): ("default", type), ("blocking", None), ("user",
    name), ("private", name); None for no domain."""
    return domain_ref[0] if domain_ref is not None else "none"


def _values(ev):
    """The arguments as text: a string argument is the text it was (its reference holds it), any
    other its display label (a device's name, "group 1", "qemu[1001]")."""
    refs = ev.refs if len(ev.refs) == len(ev.args) else [("object", None)] * len(ev.args)
    return [(x if len(x) <= 60 else x[:57] + "...") if kind == "str" else lab
            for (kind, x), lab in zip(refs, ev.args)]


def describe_action(ev):
    """An event in words: "write 0000:01:00.1 to …/unbind", "qemu[1001]: ioctl VFIO_GROUP_GET_STATUS"."""
    a = _values(ev)
    who = a[0] if a else ""
    if ev.op == "boot":
        return "booted"
    if ev.op == "write" and len(a) >= 3:
        return f"write {a[2].strip()!r} to {a[1]}"
    if ev.op == "open":
        return f"{who}: open {a[1]}"
    if ev.op == "ioctl":
        return f"{who}: ioctl {a[2]} on fd {a[1]}"
    if ev.op == "close":
        return f"{who}: close fd {a[1]}"
    if ev.op == "exit":
        return f"{who} exits"
    return f"{ev.func}({', '.join(a)})"          # an API call: its name is what the learner typed


def last_step_changes(events):
    """The groups and devices touched by the most recent kernel call (the last top-level event):
    what the picture falls back on when the state before it is not known."""
    if not events:
        return set(), set(), 0, ""
    step = events[-1].step
    groups, names = set(), set()
    action = ""
    for ev in reversed(events):
        if ev.step != step:
            break
        groups.update(g[0] for g in ev.groups)
        names.update(x for kind, x in ev.refs if kind in ("device", "str"))
        if ev.depth == 0:
            action = describe_action(ev)
    return groups, names, step, action


# --- what changed: the state before against the state now ---------------------------------------

def _edges(st):
    out = set()
    for pid, p in st["processes"].items():
        out.update((pid, "device", d) for d in p["holds"]["devices"])
        out.update((pid, "group", n) for n in p["holds"]["groups"])
    return out


def group_words(was, g):
    """What changed in a group between two k.state() entries, in a learner's words."""
    words = []
    if was["owner_cnt"] != g["owner_cnt"]:
        words.append(f"owner_cnt {was['owner_cnt']} → {g['owner_cnt']}")
    if was["owner"] != g["owner"]:
        words.append(f"owner {was['owner']} → {g['owner']}")
    if was["domain"] != g["domain"]:
        words.append(f"domain {was['domain']} → {g['domain']}")
    if list(was.get("pasids", ())) != list(g.get("pasids", ())):
        words.append("PASIDs changed")
    gone = [d for d in was["devices"] if d not in g["devices"]]
    came = [d for d in g["devices"] if d not in was["devices"]]
    if gone:
        words.append(f"lost {', '.join(gone)}")
    if came:
        words.append(f"gained {', '.join(came)}")
    return words


def device_words(was, d):
    """What changed in a device between two k.state() entries: "snd_hda_intel → no driver", …"""
    words = []
    if was["driver"] != d["driver"]:
        words.append(f"{was['driver'] or 'no driver'} → {d['driver'] or 'no driver'}")
    if was.get("driver_override") != d.get("driver_override"):
        words.append(f"driver_override {was.get('driver_override') or '(none)'} → "
                     f"{d.get('driver_override') or '(none)'}")
    if was.get("group") != d.get("group"):
        words.append(f"group {was.get('group')} → {d.get('group')}")
    if was.get("cdev") != d.get("cdev"):
        words.append(f"new node /dev/vfio/devices/{d['cdev']}" if d.get("cdev")
                     else f"/dev/vfio/devices/{was['cdev']} removed")
    return words


def diff(before, after):
    """(changes {group or device: [words]}, lost {group: [devices]}, changed processes, new edges,
    gone [words]) between two k.state() dicts."""
    changes, lost = {}, {}
    bg, ag = before["groups"], after["groups"]
    bd, ad = before["devices"], after["devices"]
    for old, new, wording, what in ((bg, ag, group_words, "new group"), (bd, ad, device_words, "new device")):
        for key, entry in new.items():
            was = old.get(key)
            if was is entry or was == entry:      # a state read incrementally shares unchanged entries
                continue
            words = [what] if was is None else wording(was, entry)
            if words:
                changes[key] = words
            gone = [d for d in was["devices"] if d not in entry["devices"]] if was is not None and new is ag else []
            if gone:
                lost[key] = gone
    bp, ap = before["processes"], after["processes"]
    procs = {pid for pid, p in ap.items() if pid not in bp or bp[pid]["holds"] != p["holds"]}
    gone = [f"group {n} is gone" for n in bg if n not in ag]
    gone += [f"{name} is gone" for name in bd if name not in ad]
    gone += [f"process {pid} ({p['name']}) exited" for pid, p in bp.items() if pid not in ap]
    return changes, lost, procs, _edges(after) - _edges(before), gone


# --- the timeline's steps: the state before the step shown --------------------------------------

_STATES = {}            # (id(timeline), serial) -> (timeline, state); (id(event),) -> (event, state)
_KEEP = 48


def _remember(key, owner, st):
    _STATES[key] = (owner, st)
    while len(_STATES) > _KEEP:
        del _STATES[next(iter(_STATES))]


def _recall(key, owner):
    hit = _STATES.get(key)
    return hit[1] if hit is not None and hit[0] is owner else None


def state_at(tl, k, i):
    """k.state() at timeline step i, read once per step (the picture, the plot and the Lab's log
    ask for the same ones): remembered, else read — from the live kernel for the step shown, on an
    excursion for another. The dict is shared: read it, never change it."""
    moment = tl.steps[i]
    st = _recall((id(tl), moment.serial), tl)
    if st is None:
        if i == tl.position:
            st = _live_state(tl, k, i)
        else:
            with tl.excursion():
                tl.restore(moment)
                st = k.state()
        _remember((id(tl), moment.serial), tl, st)
    return st


def _touched(k, events, before):
    """The devices whose k.state() entries the events may have changed: each device an event names
    (as an object, or in a path or a written value), and every member of each group it names."""
    names = set()
    for ev in events:
        for g in ev.groups:
            was = before["groups"].get(g[0])
            if was is None:
                return None
            names.update(was["devices"])
        for kind, x in ev.refs:
            if kind == "device":
                names.add(x)
            elif kind == "str":
                names.update(part for part in x.strip().split("/") if part in k.devices)
    return names


def _live_state(tl, k, i):
    """k.state() of the step shown, read incrementally when the step before is remembered: its
    state with the entries of what this step's events touched read again (every change of a device
    or a group is a traced event naming it, kernel/trace.py), so one unbind on a 2,000-device host
    reads one group, not two thousand. Anything that adds or removes devices or groups, or an event
    naming a group it does not know, reads the whole state. Entries are shared with the step
    before's dict: neither is ever changed."""
    before = _recall((id(tl), tl.steps[i - 1].serial), tl) if i > 0 else None
    if before is None or len(k.devices) != len(before["devices"]) or len(k.iommu_groups) != len(before["groups"]):
        return k.state()
    first = len(tl.steps[i - 1].kernel.events)
    events = k.events[first:]
    if len(k.events) < first or (first and k.events[first - 1] is not tl.steps[i - 1].kernel.events[-1]):
        return k.state()                       # not the step before's history continued
    names = _touched(k, events, before)
    if names is None:
        return k.state()
    part = k.state(devices=names)
    if not set(before["groups"]) >= set(part["groups"]):
        return k.state()
    st = dict(part)
    for key in ("groups", "devices"):
        st[key] = {**before[key], **part[key]}
    read = set(part["groups"])                 # a VFIO group of these that is gone is gone from the state too
    st["vfio_groups"] = {n: v for n, v in before["vfio_groups"].items() if n not in read}
    st["vfio_groups"].update(part["vfio_groups"])
    st["vfio_groups"] = dict(sorted(st["vfio_groups"].items()))
    return st


def _last_attempts(tl):
    """The attempt that made the step shown (or None), and the failed attempts of the last batch of
    lines run at that step which changed nothing (a cell's refused lines; a second click on a
    refused button is a batch of its own). A batch is what was run since the previous picture."""
    pos = tl.position
    serial = tl.steps[pos].serial
    seen = _STATES.get(("seen", id(tl)))
    n_then, start = seen[1] if seen is not None and seen[0] is tl else (0, 0)
    if len(tl.attempts) != n_then:
        start = n_then if n_then <= len(tl.attempts) else 0
    _remember(("seen", id(tl)), tl, (len(tl.attempts), start))
    here = [a for a in tl.attempts if a.step == pos and a.serial == serial]
    maker = here[0] if here and pos > 0 and here[0].events else None
    batch = [a for a in tl.attempts[start:] if a.step == pos and a.serial == serial and a is not maker]
    failed = []
    for a in reversed(batch):
        if not a.failed:
            break
        failed.append(a)
    if maker is not None and maker.failed and not failed:
        failed = [maker]
    return maker, failed[::-1]


# --- refusals: the obstacle the reason names ----------------------------------------------------

def _refs_in(value):
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        yield value
    elif isinstance(value, tuple):
        for v in value:
            yield from _refs_in(v)


def _obstacles(m, st, events):
    """Mark on m what stopped a refused action: a reason's kernel DMA users, devices, groups and
    processes; a QEMU that stopped on a group that is not viable: that group's kernel DMA users."""
    from .explain import _not_viable, kernel_dma_users, refusal, sentence
    top = next((e for e in events if e.depth == 0 and e.refused), None)
    reason = origin([e for e in events if e.step == top.step]) if top is not None else \
        origin([e for e in events if e.refused])
    why = refusal(_Public(st), events)
    if why is not None:
        m.refusal = f"{why[0]}: {why[2]}"
    if reason is None:
        n = _not_viable(events)
        if n is not None and n in st["groups"]:
            users = kernel_dma_users(st, n)
            for d, drv in users:
                m.obstacles[d] = f"bound to {drv}, a kernel DMA driver: group {n} is not viable"
            if not users:
                m.obstacle_groups[n] = f"owner_cnt {st['groups'][n]['owner_cnt']}: group {n} is not viable"
        return
    facts = reason.facts
    users = facts.get("kernel_users") or ()
    drivers = facts.get("drivers") or ()
    for u, drv in zip(users, drivers):
        m.obstacles[u[1] if isinstance(u, tuple) else u] = \
            f"bound to {drv[1] if isinstance(drv, tuple) else drv}, a kernel DMA driver (counts in owner_cnt)"
    words = sentence(reason)
    if users:
        return
    subject = facts.get("device")            # what the action was about: the obstacle only when nothing else is
    found = False
    for key, v in facts.items():
        for kind, x in _refs_in(v):
            if kind == "device" and x in st["devices"] and not (key == "device" and v == subject):
                m.obstacles.setdefault(x, words)
                found = True
            elif kind == "group" and x in st["groups"]:
                m.obstacle_groups.setdefault(x, words)
                found = True
                owner = st["groups"][x]["owner_ref"]
                for pid, p in st["processes"].items():
                    if owner is not None and x in p["holds"]["groups"]:
                        m.obstacle_processes.setdefault(pid, f"holds group {x} (its owner {st['groups'][x]['owner']})")
            elif kind == "process" and x in st["processes"]:
                m.obstacle_processes.setdefault(x, words)
                found = True
    if not found and isinstance(subject, tuple) and subject[1] in st["devices"]:
        m.obstacles[subject[1]] = words


class _Public:
    """What explain.refusal reads of a kernel: only its state (given here, as the picture saw it)."""
    def __init__(self, st):
        self._st = st

    def state(self):
        return self._st


# --- blocked writes -------------------------------------------------------------------------------

def _device_of(st, data, path):
    if data in st["devices"]:
        return data
    return next((part for part in path.split("/") if part in st["devices"]), None)


def pending_writes(events, st):
    """(still blocked, [(id of the completing event, completed)]) from the event history: a
    write whose result is a pending write, until a completion mark with its path; writes queued
    behind it on the same device lock complete with it."""
    open_, done = [], []
    for ev in events:
        for mark in ev.marks:
            if mark[0] != "completion":
                continue
            first = next((p for p in open_ if p.path == mark[1]), None)
            if first is None:
                continue
            finished = [first] + [p for p in open_ if p is not first and p.device == first.device
                                  and p.step >= first.step]
            for p in finished:
                open_.remove(p)
                done.append((id(ev), p))
        if ev.op == "request":
            names = {x for kind, x in ev.refs if kind in ("device", "vfio_device")}
            pids = [x for kind, x in ev.refs if kind == "process"]
            for p in open_:
                if p.device in names:
                    p.asked.extend(x for x in pids if x not in p.asked)
        if ev.depth != 0 or ev.op != "write" or ev.result is None or isinstance(ev.result, int):
            continue
        r = ref(ev.result)
        if r[0] != "pending_write":
            continue
        data = ev.refs[2][1].strip() if len(ev.refs) > 2 and ev.refs[2][0] == "str" else ""
        dev = _device_of(st, data, r[1])
        open_.append(PendingView(r[1], data, dev, [], step=ev.step, event=ev))
    for i, p in enumerate(open_):
        ahead = next((j for j, q in enumerate(open_[:i]) if q.device == p.device), None)
        p.behind = ahead
        p.holders = [pid for pid, proc in st["processes"].items() if p.device in proc["holds"]["devices"]]
    return open_, done


# --- the view model ---------------------------------------------------------------------------------

_CLASS_NAMES = {}


def _class_name(code):
    name = _CLASS_NAMES.get(code)
    if name is None:
        name = _CLASS_NAMES[code] = class_name(code)
    return name


_VIEWS = {}             # id(k) -> (k, {device: (entry, DeviceView)}, {group: (entry, GroupView)})


def _device_view(k, name, d):
    dev = k.devices[name]
    kind = "kernel-dma" if d["managed"] is False else "managed" if d["managed"] else "unbound"
    what = _class_name(dev.class_code) if dev.bus.name == "pci" else (dev.id or dev.bus.name)
    if dev.streamid is not None:                # as the SMMU documentation writes it
        what += f" · stream ID {dev.streamid:#x}"
    return DeviceView(name, dev.bus.name, dev.kind, what, d["driver"], kind, dev.parent,
                      d["group"], d["cdev"], d.get("driver_override"), bus_counts_drivers(dev))


def _group_view(n, g):
    return GroupView(n, g["owner_cnt"], g["owner"], owner_kind(g["owner_ref"], g["owner_cnt"]), g["domain"],
                     domain_kind(g["domain_ref"]), g["default_domain"], list(g["devices"]), list(g["pasids"]),
                     g["owner_ref"][1] if g["owner_ref"] else None,
                     g["domain_ref"][1] if g["domain_ref"] else None)


def _devices_and_groups(k, st):
    """The views of st's devices, groups and processes. A state read incrementally shares its
    unchanged entries with the state before (state_at), so their views are made once and kept
    (views are read, never changed, by the pictures)."""
    hit = _VIEWS.get(id(k))
    old_d, old_g = (hit[1], hit[2]) if hit is not None and hit[0] is k else ({}, {})
    kept_d, kept_g = {}, {}
    devices = {}
    for name, d in st["devices"].items():
        was = old_d.get(name)
        view = was[1] if was is not None and was[0] is d else _device_view(k, name, d)
        kept_d[name] = (d, view)
        devices[name] = view
    groups = {}
    for n, g in st["groups"].items():
        was = old_g.get(n)
        view = was[1] if was is not None and was[0] is g else _group_view(n, g)
        kept_g[n] = (g, view)
        groups[n] = view
    _VIEWS.clear()                              # one machine's views: the Lab shows one at a time
    _VIEWS[id(k)] = (k, kept_d, kept_g)
    procs = [ProcessView(pid, p["name"], p["holds"]["groups"], p["holds"]["devices"])
             for pid, p in st["processes"].items()]
    return devices, groups, procs


def _apply_diff(m, before, st):
    changes, lost, procs, edges, gone = diff(before, st)
    m.changes, m.lost, m.changed_processes, m.changed_edges, m.gone = changes, lost, procs, edges, gone
    m.changed_groups = {x for x in changes if isinstance(x, int)}
    m.changed_devices = {x for x in changes if isinstance(x, str)}


def _outside(tl, events):
    """Whether the kernel's last event came from no line the timeline saw run (a k.write from Python
    since its last look): then its steps do not describe the machine drawn."""
    if not events or events[-1].step == 0:
        return False
    last = events[-1]
    return not any(a.events and a.events[-1] is last for a in reversed(tl.attempts))


def build(k, timeline=None, before=None, step=None, action=None):
    """The view model of k as shown now. With `timeline` (the Lab's): the step shown, what its action
    changed against the step before, and the obstacle of the refused lines run since. With `before`
    (a k.state() dict; the Builder's): what changed against it, as step `step` done by `action`.
    Without either: the last kernel call's touched groups and devices."""
    stepped = timeline is not None and not _outside(timeline, k.events)
    st = state_at(timeline, k, timeline.position) if stepped else k.state()
    devices, groups, procs = _devices_and_groups(k, st)
    m = ViewModel(k.f.release, groups, devices, procs, 0, old_viability=k.f.old_vfio_viability)
    recent = ()
    if stepped:
        tl = timeline
        pos = tl.position
        m.step = pos
        m.last_action = " ".join(str(tl.steps[pos].action).split()) if pos else "booted"
        maker, failed = _last_attempts(tl)
        if pos < len(tl.steps) - 1:
            failed = []                         # looking at the past: its step, not the lines run since
        if pos > 0 and not (failed and failed[0] is not maker):
            _apply_diff(m, state_at(tl, k, pos - 1), st)
        if failed:
            m.refused = "; ".join(" ".join(a.line.split()) for a in failed)
            for a in failed:
                _obstacles(m, st, a.events)
        recent = maker.events if maker is not None else ()
    elif before is not None:
        m.step = step if step is not None else 0
        m.last_action = action or ""
        _apply_diff(m, before, st)
    else:
        events = k.events
        changed_g, changed_names, tstep, act = last_step_changes(events)
        m.step, m.last_action = tstep, act
        if timeline is not None:                # Python changed the machine since the timeline's last look
            m.step, m.last_action = timeline.position, f"outside the shell: {act}"
        if tstep:
            prev = next((e for e in reversed(events) if e.step < tstep), None)
            was = _recall((id(prev),), prev) if prev is not None else None
            if was is not None:
                _apply_diff(m, was, st)
            else:
                m.changed_groups = changed_g
                m.changed_devices = {n for n in changed_names if n in devices}
            recent = [e for e in events if e.step == tstep]
        if events:
            _remember((id(events[-1]),), events[-1], st)
    m.pending, done = pending_writes(k.events, st)
    recent_ids = {id(e) for e in recent}
    m.completed = [p for i, p in done if i in recent_ids]
    for p in m.pending:
        p.new = id(p.event) in recent_ids
    return m
