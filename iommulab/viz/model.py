"""What the views show, as plain data, built only from the kernel's public surface: k.state(),
the devices' public facts and the event history. No view reads model internals."""
from dataclasses import dataclass, field

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
class ViewModel:
    release: str
    groups: dict               # number -> GroupView
    devices: dict              # name -> DeviceView
    processes: list
    step: int
    changed_groups: set = field(default_factory=set)
    changed_devices: set = field(default_factory=set)
    last_action: str = ""


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
    """The groups and devices touched by the most recent action (the last top-level event)."""
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


def build(k):
    st = k.state()
    devices = {}
    for name, d in st["devices"].items():
        dev = k.devices[name]
        kind = "kernel-dma" if d["managed"] is False else "managed" if d["managed"] else "unbound"
        what = class_name(dev.class_code) if dev.bus.name == "pci" else (dev.id or dev.bus.name)
        if dev.streamid is not None:            # as the SMMU documentation writes it
            what += f" · stream ID {dev.streamid:#x}"
        devices[name] = DeviceView(name, dev.bus.name, dev.kind, what, d["driver"], kind, dev.parent,
                                   d["group"], d["cdev"])
    groups = {n: GroupView(n, g["owner_cnt"], g["owner"], owner_kind(g["owner_ref"], g["owner_cnt"]), g["domain"],
                           domain_kind(g["domain_ref"]), g["default_domain"], list(g["devices"]), list(g["pasids"]),
                           g["owner_ref"][1] if g["owner_ref"] else None,
                           g["domain_ref"][1] if g["domain_ref"] else None)
              for n, g in st["groups"].items()}
    procs = [ProcessView(pid, p["name"], p["holds"]["groups"], p["holds"]["devices"])
             for pid, p in st["processes"].items()]
    changed_g, changed_names, step, action = last_step_changes(k.events)
    changed_d = {n for n in changed_names if n in devices}
    return ViewModel(k.f.release, groups, devices, procs, step, changed_g if step else set(),
                     changed_d if step else set(), action)
