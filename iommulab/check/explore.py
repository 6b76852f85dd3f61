"""Breadth-first search over a learner's actions for the shortest way to break a rule (or to reach
a goal), with snapshots and de-duplication of states. The answer is a shell script that replays it.

Actions: set/clear driver_override, bind, unbind, start a VM (legacy VFIO or iommufd) with a
group's VFIO-bound devices, stop a VM, write a group's type, rescan, remove a device.

The search is bounded (issue 19: depth 6 on desktop-gpu once took 104 s and 1.7 GB): by the states
it keeps (MAX_STATES), the memory it adds to the process (MAX_MEMORY_MB, resident set growth) and
the time it runs (MAX_SECONDS). The defaults are what a laptop, or a 2 GB Binder with the course
open beside it, survives: 1 GB on top of what the process holds; a minute, as long as anyone waits
for one command; 200,000 states, a bound that, unlike the other two, gives the same answer on every
machine — each kept state costs ~9 kB on desktop-gpu (its key, and on the frontier a snapshot that
shares every unchanged object with the machine's), so there the memory limit comes near 110,000
states and a bigger machine reaches it sooner. A limit that stops the search says so in the Result
(`limit`, `searched`: the depth searched in full) and in its text, with the flag that raises it.
"""
import resource
import sys
import time
from dataclasses import dataclass, field

from ..kernel.bus.common import driver_match_device
from ..shell import lines, timeline_for
from .invariants import check


@dataclass(frozen=True)
class Action:
    kind: str
    args: tuple

    def script(self):
        a = self.args
        if self.kind == "override":
            return lines.set_driver_override(a[1], a[0], a[2])
        if self.kind == "clear-override":
            return lines.clear_driver_override(a[1], a[0])
        if self.kind == "bind":
            return lines.bind(a[1], a[0], a[2])
        if self.kind == "unbind":
            return lines.unbind(a[1], a[0], a[2])
        if self.kind == "vm":                  # (devices, path[, arch]): arch only when not x86_64
            return lines.qemu(a[0], a[1], arch=a[2] if len(a) > 2 else "x86_64")
        if self.kind == "kill":
            return f"kill {a[0]}"
        if self.kind == "type":
            return lines.group_type(*a)
        if self.kind == "rescan":
            return lines.pci_rescan()
        if self.kind == "remove":
            return lines.pci_remove(a[0])
        raise ValueError(self.kind)

    def apply(self, k):
        """Do it; returns True if the kernel accepted it (a refused action changes nothing)."""
        if self.kind == "vm":
            from ..shell.qemu import Qemu, QemuError
            devs, path = self.args[:2]
            line = self.script().rstrip(" &")
            p = k.spawn(line.split()[0], cmdline=line)
            p.req_channel = True
            q = Qemu(k, p)
            try:
                for d in devs:
                    q.attach_iommufd(d, "iommufd0") if path == "iommufd" else q.attach_legacy(d)
            except QemuError:
                p.exit()
                return False
            return True
        if self.kind == "kill":
            p = k.processes.get(self.args[0])
            if p is None:
                return False
            p.kill()
            return True
        path, data = _write_of(self)
        try:
            res = k.write(path, data)
        except OSError:
            return False
        return res is None or res.done


def _write_of(a):
    """The sysfs write an echo line does: (path, data with echo's newline)."""
    data, path = a.script()[len("echo"):].split("> ", 1)
    return path.strip(), data.strip() + "\n"


def possible_actions(k, allow=None, devices=None, bridges=None):
    """Every learner action available now, in a stable order; with `devices` (names), only those
    on them and on their groups (and every process and rescan); with `bridges` (names), no
    driver action on any other bridge (a bridge on pcieport never counts in owner_cnt)."""
    out = []
    chosen = k.devices.values() if devices is None else [k.devices[n] for n in devices if n in k.devices]
    if bridges is not None:
        chosen = [d for d in chosen if not d.is_bridge or d.name in bridges]
    for dev in sorted(chosen, key=lambda d: d.name):
        bus = dev.bus.name
        if dev.driver is not None:
            out.append(Action("unbind", (dev.name, bus, dev.driver.name)))
        else:
            for drv in k.bus_drivers(dev.bus):
                if drv.builtin != "pcieport" and driver_match_device(drv, dev):
                    out.append(Action("bind", (dev.name, bus, drv.name)))
        vfio = dev.bus.ops.VFIO_DRIVER                     # the bus's VFIO driver (kernel/bus/)
        if dev.bus.has_override and vfio and dev.driver_override != vfio and not dev.is_bridge:
            out.append(Action("override", (dev.name, bus, vfio)))
        if dev.driver_override is not None:
            out.append(Action("clear-override", (dev.name, bus)))
        if bus == "pci" and dev.physfn is None and dev.present and not dev.is_bridge:
            out.append(Action("remove", (dev.name,)))
    groups = k.iommu_groups.items() if devices is None else [
        (n, g) for n, g in k.iommu_groups.items() if any(d.name in devices for d in g.devices)]
    for n, g in sorted(groups, key=lambda ng: ng[0]):
        devs = tuple(d.name for d in g.devices if d.vfio_device is not None and d.bus.name == "pci")
        if devs:
            arch = () if k.arch == "x86_64" else (k.arch,)
            out.append(Action("vm", (devs, "legacy") + arch))
            if k.cdev_enabled:
                out.append(Action("vm", (devs, "iommufd") + arch))
        out.append(Action("type", (n, "identity")))
    for pid in sorted(k.processes):
        out.append(Action("kill", (pid,)))
    if k.hotplug:
        out.append(Action("rescan", ()))
    if allow is not None:
        out = [a for a in out if a.kind in allow]
    return out


def state_key(k):
    """What tells two states apart, from the public state."""
    devs = tuple((d.name, d.driver.name if d.driver else None, d.driver_override,
                  d.iommu_group.id if d.iommu_group else None) for d in k.devices.values())
    groups = tuple((n, g.owner_cnt, g.owner_label(), g.domain_label(),
                    g.default_domain.type if g.default_domain else None) for n, g in k.iommu_groups.items())
    procs = tuple(sorted((p.name, tuple(sorted(f.path for f in p.fds.values()))) for p in k.processes.values()))
    return devs, groups, procs, tuple(sorted(k.hotplug)), k.crashed


# --- goals ---------------------------------------------------------------------------------------

def _vm_refused_without_kernel_drivers(k, action, accepted):
    if action is None or action.kind != "vm" or accepted:
        return None
    groups = {k.devices[d].iommu_group for d in action.args[0] if d in k.devices}
    if all(g.owner is None and not any(d.driver is not None and not d.driver.driver_managed_dma for d in g.devices)
           for g in groups if g is not None):
        names = ", ".join(action.args[0])
        return (f"QEMU could not start with {names} although no kernel DMA driver is bound in its group "
                "and nobody owns it")
    return None


def _vm_running(k, action, accepted):
    if action is not None and action.kind == "vm" and accepted:
        return f"a VM runs with {', '.join(action.args[0])}"
    return None


GOALS = {
    "vm-refused-without-kernel-drivers": (
        "QEMU cannot start although no kernel driver is bound and no one owns the group",
        _vm_refused_without_kernel_drivers),
    "vm-running": ("a VM runs with the devices of one group", _vm_running),
}


MAX_STATES = 200_000        # distinct states kept
MAX_MEMORY_MB = 1024        # resident memory the search may add to the process
MAX_SECONDS = 60.0          # wall-clock time

# The limits by name: (Result.limit, the CLI flag and explore() argument that raise it, unit).
LIMITS = {"states": ("--max-states", "max_states", ""), "memory": ("--max-memory", "max_memory_mb", " MB"),
          "time": ("--max-seconds", "max_seconds", " s")}
_CHECK_EVERY = 64           # transitions between two looks at the clock and the resident memory


def rss_mb():
    """The process's resident memory now (/proc/self/status VmRSS), else its peak (getrusage)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class Result:
    found: bool
    actions: tuple = ()
    reason: str = ""
    violations: list = field(default_factory=list)
    states: int = 0
    transitions: int = 0
    seconds: float = 0.0
    depth: int = 0
    limit: str | None = None        # "states", "memory" or "time": the limit that stopped the search
    searched: int = 0               # every sequence of up to this many actions was tried
    bound: float = 0                # the limit's value (states, MB or seconds)
    memory_mb: float = 0.0          # resident memory the search added

    @property
    def script(self):
        return "\n".join(a.script() for a in self.actions) + ("\n" if self.actions else "")

    def __str__(self):
        if not self.found and self.limit is not None:
            flag, arg, unit = LIMITS[self.limit]
            bound = f"{self.bound:,}" if self.limit == "states" else f"{self.bound:g}"
            within = (f"every sequence of up to {self.searched} action{'s' if self.searched != 1 else ''} was tried"
                      if self.searched else "not even every single action was tried")
            name = {"states": "state"}.get(self.limit, self.limit)
            return (f"stopped by the {name} limit ({bound}{unit}) before the search reached depth "
                    f"{self.depth}: nothing found; {within} ({self.states} states, {self.transitions} "
                    f"transitions, {self.seconds:.2f} s, +{self.memory_mb:.0f} MB).\n"
                    f"To search further raise it: {flag} N (in Python: explore(..., {arg}=N)), or lower --depth.")
        if not self.found:
            return (f"nothing found within {self.depth} actions ({self.states} states, "
                    f"{self.transitions} transitions, {self.seconds:.2f} s)")
        head = (f"found after {len(self.actions)} action{'s' if len(self.actions) != 1 else ''} "
                f"({self.states} states, {self.transitions} transitions, {self.seconds:.2f} s): {self.reason}")
        if not self.actions:
            head += "\n(the machine is like this right after boot)"
        return head + ("\n" + self.script if self.actions else "")


def explore(k, depth=4, goal=None, allow=None, max_states=MAX_STATES, max_memory_mb=MAX_MEMORY_MB,
            max_seconds=MAX_SECONDS):
    """Shortest action sequence from k's current state that breaks a rule (goal=None), or reaches
    `goal` (a name from GOALS or a function (k, action, accepted) -> reason or None). The search
    stops at the first limit reached (None: no such limit): states kept, resident memory added,
    seconds; the Result then names it (`limit`) and the depth searched in full (`searched`)."""
    if isinstance(goal, str):
        if goal not in GOALS:
            raise ValueError(f"unknown goal {goal!r}; known: {', '.join(GOALS)}")
        goal = GOALS[goal][1]
    started = time.perf_counter()
    tracer = k.tracer
    was_enabled, tracer.enabled = tracer.enabled, False
    try:       # the machine's timeline: kernel and shell session come back as they were, steps untouched
        with timeline_for(k).excursion() as tl:
            limits = _Limits(max_states, max_memory_mb, max_seconds, started)
            return _search(k, tl, tl.snapshot(), depth, goal, allow, limits)
    finally:
        tracer.enabled = was_enabled


class _Limits:
    def __init__(self, states, memory_mb, seconds, started):
        self.states, self.memory_mb, self.seconds, self.started = states, memory_mb, seconds, started
        self.rss0 = rss_mb()
        self.added = 0.0

    def hit(self, seen, transitions):
        """The limit reached now, or None (memory and time are looked at every few transitions)."""
        if self.states is not None and seen > self.states:
            return "states"
        if transitions % _CHECK_EVERY:
            return None
        if self.seconds is not None and time.perf_counter() - self.started > self.seconds:
            return "time"
        self.added = max(self.added, rss_mb() - self.rss0)
        if self.memory_mb is not None and self.added > self.memory_mb:
            return "memory"
        return None

    def bound(self, limit):
        return {"states": self.states, "memory": self.memory_mb, "time": self.seconds}[limit]


def _found(reason, path, violations, seen, transitions, started, depth):
    return Result(True, tuple(path), reason, violations, len(seen), transitions,
                  time.perf_counter() - started, depth)


def _search(k, tl, root, depth, goal, allow, limits):
    started = limits.started
    log0 = len(k.dmesg_lines)
    if goal is None:
        v = check(k, since_dmesg=log0)
        if v:
            return _found(v[0].sentence, (), v, {0}, 0, started, depth)
    seen = {state_key(k)}
    frontier = [(root, ())]
    transitions = 0
    for level in range(depth):
        nxt = []
        for snap, path in frontier:
            tl.restore(snap)
            acts = possible_actions(k, allow)
            fresh = True
            for a in acts:
                if not fresh:
                    tl.restore(snap)
                fresh = False
                log_len = len(k.dmesg_lines)
                try:
                    accepted = a.apply(k)
                except Exception as e:          # a crashed kernel is a finding, not an error
                    from ..kernel.kernel import KernelCrashed
                    if not isinstance(e, KernelCrashed):
                        raise
                    accepted = True
                transitions += 1
                key = state_key(k)
                known = key in seen and len(k.dmesg_lines) == log_len   # same state, no new WARN
                if goal is None:
                    v = [] if known else check(k, since_dmesg=log_len)
                    if v:
                        return _found(v[0].sentence, path + (a,), v, seen, transitions, started, depth)
                else:
                    reason = goal(k, a, accepted)
                    if reason:
                        return _found(reason, path + (a,), [], seen, transitions, started, depth)
                stop = limits.hit(len(seen), transitions)
                if stop is not None:
                    return Result(False, (), "", [], len(seen), transitions, time.perf_counter() - started,
                                  depth, stop, level, limits.bound(stop), limits.added)
                if k.crashed or key in seen:
                    continue
                seen.add(key)
                nxt.append((tl.snapshot(), path + (a,)))
        frontier = nxt
        if not frontier:
            break
    return Result(False, (), "", [], len(seen), transitions, time.perf_counter() - started, depth,
                  searched=depth, memory_mb=limits.added)
