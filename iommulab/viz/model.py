"""What the views show, as plain data, built only from the kernel's public surface: k.state(),
the devices' public facts and the event history. No view reads model internals."""
from dataclasses import dataclass, field

from ..shell.pcidb import class_name

PORTS = ("root-port", "downstream-port", "upstream-port")
BRIDGES = PORTS + ("pcie-to-pci-bridge", "pci-bridge")


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


def owner_kind(owner, cnt):
    if owner == "NULL":
        return "kernel" if cnt else "free"
    for prefix, kind in (("vfio_group:", "vfio-group"), ("container_file:", "container"), ("ictx:", "iommufd")):
        if owner.startswith(prefix):
            return kind
    return "other"


def domain_kind(label):
    if label.startswith("DEFAULT"):
        return "default"
    if label == "BLOCKING":
        return "blocking"
    if label.startswith("USER:"):
        return "user"
    if label.startswith("PRIVATE:"):
        return "private"
    return "none"


def _unquote(a):
    """Event arguments are stored as repr() text; strings come back as the text they were."""
    if len(a) >= 2 and a[0] == a[-1] and a[0] in "'\"":
        import ast
        try:
            return ast.literal_eval(a)
        except (ValueError, SyntaxError):
            return a[1:-1]
    return a


def describe_action(ev):
    """An event in words: "write 0000:01:00.1 to …/unbind", "qemu[1001]: ioctl VFIO_GROUP_GET_STATUS"."""
    a = [_unquote(x) for x in ev.args]
    if ev.func == "boot":
        return "booted"
    if ev.func == "vfs_write" and len(a) >= 3:
        return f"write {a[2].strip()!r} to {a[1]}"
    if ev.func == "sys_open":
        return f"{a[0]}: open {a[1]}"
    if ev.func == "sys_ioctl":
        return f"{a[0]}: ioctl {a[2]} on fd {a[1]}"
    if ev.func == "sys_close":
        return f"{a[0]}: close fd {a[1]}"
    if ev.func == "sys_exit":
        return f"{a[0]} exits"
    return f"{ev.func}({', '.join(a)})"


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
        names.update(a.strip("'") for a in ev.args)
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
    groups = {n: GroupView(n, g["owner_cnt"], g["owner"], owner_kind(g["owner"], g["owner_cnt"]), g["domain"],
                           domain_kind(g["domain"]), g["default_domain"], list(g["devices"]), list(g["pasids"]))
              for n, g in st["groups"].items()}
    procs = [ProcessView(pid, p["name"], p["holds"]["groups"], p["holds"]["devices"])
             for pid, p in st["processes"].items()]
    changed_g, changed_names, step, action = last_step_changes(k.events)
    changed_d = {n for n in changed_names if n in devices}
    return ViewModel(k.f.release, groups, devices, procs, step, changed_g if step else set(),
                     changed_d if step else set(), action)
