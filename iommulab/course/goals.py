"""A level's goal: declarative clauses over what a learner can observe.

A clause is a TOML table whose `what` names its kind; the other keys are its facts:

    { what = "owner", group = 1, owner = "user" }          group 1 is owned by user space
    { what = "driver", device = "0000:01:00.0", driver = "vfio-pci" }   ("" = no driver)
    { what = "vm", devices = ["0000:01:00.0"], without = ["0000:01:00.1"] }

A group is named by number (`group = 1`) or by one of its devices (`group = "0000:01:00.0"`), so a
clause survives a rescan that renumbers groups. Each clause says itself in words, holds or not on
an `Observed` (k.state(), the lines run since the level began, the state it began in), and when
it does not hold says why in one sentence, using the kernel's refusal reasons where the learner's
last try was refused. Nothing here reads the model's private fields.
"""
import fnmatch
import re
from dataclasses import dataclass, field

from .errors import CourseError
from ..check import check as broken_rules
from ..kernel.errno import errname
from ..viz.explain import kernel_dma_users as state_kernel_dma_users, refusal


class GoalError(CourseError):
    """A level file's clause that does not say something checkable."""


@dataclass
class Observed:
    """What a clause looks at: the kernel's public state now, the attempts (timeline Attempt:
    line, status, stderr, events) since the level began, and the state it began in."""
    k: object
    state: dict
    attempts: list = field(default_factory=list)
    start: dict | None = None

    @classmethod
    def of(cls, k, attempts=(), start=None, devices=None):
        """`devices`: only those and their groups are looked at (a search's focus)."""
        return cls(k, k.state(devices), list(attempts), start)


# --- small facts -----------------------------------------------------------------------------------

def group_number(obs, ref):
    """A clause's `group`: its number, or the group of the device named."""
    if isinstance(ref, int):
        return ref
    dev = obs.state["devices"].get(ref)
    return dev["group"] if dev else None


def kernel_dma_users(obs, n):
    """(device, driver) of the group's members bound to a driver that does not manage DMA itself."""
    return state_kernel_dma_users(obs.state, n)


def kernel_dma_words(users):
    return "; ".join(f"{d} is bound to {drv}, a kernel DMA driver" for d, drv in users)


_WRAPPERS = ("sudo", "exec", "nohup", "time", "env", "command")
_HOST = re.compile(r"(?:host=|sysfsdev=\S*/)((?:[0-9a-fA-F]{1,4}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-7])")


def program(line):
    """The program a line runs, as its basename: past sudo/nohup/env and their options
    (`sudo -E /usr/bin/qemu-system-x86_64 …` runs qemu-system-x86_64)."""
    words = line.split()
    while words and (words[0].rsplit("/", 1)[-1] in _WRAPPERS or words[0].startswith("-") or "=" in words[0]):
        words = words[1:]
    return words[0].rsplit("/", 1)[-1] if words else ""


def is_qemu(line):
    return program(line).startswith("qemu-system")


def qemu_hosts(line):
    """The PCI devices a QEMU line asks for, with the domain QEMU assumes when it is left out
    (host=01:00.1 is 0000:01:00.1: qdev-properties-system.c, set_pci_host_devaddr)."""
    out = set()
    for h in _HOST.findall(line):
        parts = h.split(":")
        dom = parts[0] if len(parts) == 3 else "0"
        bus, rest = parts[-2], parts[-1]
        slot, fn = rest.split(".")
        out.add(f"{int(dom, 16):04x}:{int(bus, 16):02x}:{int(slot, 16):02x}.{fn}")
    return out


def qemu_processes(obs):
    return [p for p in obs.state["processes"].values() if p["name"].rsplit("/", 1)[-1].startswith("qemu-system")]


def last_refused_qemu(obs):
    """The last QEMU start that failed since the level began, with why (refusal words), or None."""
    for a in reversed(obs.attempts):
        if is_qemu(a.line) and a.failed:
            return a, refusal(obs.k, list(a.events), a.stderr)
    return None


def refusal_words(why):
    if why is None:
        return ""
    name, text, rule = why
    return rule or f"{name} {text}".strip()


def qemu_message(attempt):
    lines = [x for x in attempt.stderr.splitlines() if x.startswith("qemu")]
    return lines[-1] if lines else ""


# --- the clauses -------------------------------------------------------------------------------------

class Clause:
    what = ""
    history = False     # the clause reads the tries made, not only the state now
    needs = ()          # keys a clause of this kind must have
    optional = ()

    def __init__(self, spec):
        self.spec = dict(spec)
        keys = set(self.spec) - {"what"}
        missing = [n for n in self.needs if n not in self.spec]
        unknown = keys - set(self.needs) - set(self.optional)
        if missing or unknown:
            raise GoalError(f"a {self.what!r} clause needs {', '.join(self.needs) or 'nothing else'}"
                            + (f"; missing {', '.join(missing)}" if missing else "")
                            + (f"; unknown {', '.join(sorted(unknown))}" if unknown else ""))

    def __getattr__(self, name):
        try:
            return self.__dict__["spec"][name]
        except KeyError:
            raise AttributeError(name) from None

    def words(self):
        raise NotImplementedError

    def holds(self, obs):
        raise NotImplementedError

    def why_not(self, obs):
        return f"not yet: {self.words()}"

    def groups(self, obs):
        """The groups this clause is about (what a computed hint searches over)."""
        return set()

    def actions_left(self, obs):
        """A lower bound of the actions still needed for the clause to hold (a search's estimate)."""
        return 0 if self.holds(obs) else 1

    def moves(self, obs):
        """What must still happen for the clause to hold, device by device, as (devices that must
        leave their driver, devices that must bind one, whether a program must start): each takes
        an action of its own, so the moves of all clauses together bound the actions from below.
        None: the clause cannot say."""
        return None

    def device_set(self):
        return set()

    def __repr__(self):
        return f"<{self.what} {self.spec}>"


def _group_words(ref):
    return f"group {ref}" if isinstance(ref, int) else f"the group of {ref}"


class Owner(Clause):
    """The group's DMA owner: `user` (any), `vfio_group` (legacy VFIO), `ictx` (iommufd) or `none`."""
    what, needs = "owner", ("group", "owner")
    KINDS = ("user", "vfio_group", "ictx", "none")

    def __init__(self, spec):
        super().__init__(spec)
        if self.owner not in self.KINDS:
            raise GoalError(f"owner must be one of {', '.join(self.KINDS)}, not {self.owner!r}")

    def words(self):
        return {"user": f"{_group_words(self.group)} is owned by user space",
                "vfio_group": f"{_group_words(self.group)} is owned by a legacy VFIO group",
                "ictx": f"{_group_words(self.group)} is owned by an iommufd context",
                "none": f"{_group_words(self.group)} has no owner"}[self.owner]

    def _owner(self, obs):
        g = obs.state["groups"].get(group_number(obs, self.group))
        return None if g is None else g["owner"]

    def holds(self, obs):
        owner = self._owner(obs)
        if owner is None:
            return False
        if self.owner == "none":
            return owner == "NULL"
        if self.owner == "user":
            return owner != "NULL"
        return owner.startswith(self.owner + ":")

    def why_not(self, obs):
        n = group_number(obs, self.group)
        g = obs.state["groups"].get(n)
        if g is None:
            return f"{_group_words(self.group)} does not exist now"
        if self.owner == "none":
            return f"group {n} is owned by {g['owner']}: the owner must close its files (stop the program)"
        users = kernel_dma_users(obs, n)
        if g["owner"] != "NULL":
            wanted = {"vfio_group": "a legacy VFIO group (QEMU without iommufd)",
                      "ictx": "an iommufd context (QEMU with -object iommufd and iommufd= on the device)",
                      "user": "user space"}[self.owner]
            return f"group {n} is owned by {g['owner']}, not by {wanted}"
        if users:
            return (f"group {n} has no owner and owner_cnt {g['owner_cnt']}: {kernel_dma_words(users)} — "
                    "user space can only own a group nobody else uses")
        last = last_refused_qemu(obs)
        if last is not None:
            return f"group {n} has no owner: the last QEMU start failed — {refusal_words(last[1])}"
        return f"group {n} has no owner: no program holds it open"

    def groups(self, obs):
        return {group_number(obs, self.group)}

    def actions_left(self, obs):
        if self.holds(obs):
            return 0
        if self.owner == "none":
            return 1
        # every kernel DMA driver in the group leaves (one unbind or remove each), then a claim
        return len(kernel_dma_users(obs, group_number(obs, self.group))) + 1

    def moves(self, obs):
        if self.holds(obs) or self.owner == "none":
            return None if self.owner == "none" else (set(), set(), False)
        return {d for d, _ in kernel_dma_users(obs, group_number(obs, self.group))}, set(), True


class OwnerCnt(Clause):
    """owner_cnt equals a number, or `kernel-dma-drivers`: what Linux keeps it at (the kernel DMA
    drivers bound in an unowned group), or `leaked`: more than that (seed 001's bug)."""
    what, needs = "owner_cnt", ("group", "equals")

    def words(self):
        if self.equals == "kernel-dma-drivers":
            return f"{_group_words(self.group)}'s owner_cnt equals the kernel DMA drivers bound in it"
        if self.equals == "leaked":
            return f"{_group_words(self.group)}'s owner_cnt is higher than the kernel DMA drivers bound in it"
        return f"{_group_words(self.group)}'s owner_cnt is {self.equals}"

    def _count_broken(self, obs, n):
        return any(v.rule == "count" and v.group == n for v in broken_rules(obs.k))

    def holds(self, obs):
        n = group_number(obs, self.group)
        g = obs.state["groups"].get(n)
        if g is None:
            return False
        if self.equals == "kernel-dma-drivers":
            return g["owner"] == "NULL" and not self._count_broken(obs, n)
        if self.equals == "leaked":
            return self._count_broken(obs, n)
        return g["owner_cnt"] == self.equals

    def why_not(self, obs):
        n = group_number(obs, self.group)
        g = obs.state["groups"].get(n)
        if g is None:
            return f"{_group_words(self.group)} does not exist now"
        users = kernel_dma_users(obs, n)
        bound = kernel_dma_words(users) if users else "no kernel DMA driver is bound"
        owner = g["owner"] if g["owner"] != "NULL" else "no owner"
        return f"group {n} has owner_cnt {g['owner_cnt']} ({owner}; {bound})"

    def groups(self, obs):
        return {group_number(obs, self.group)}


class Driver(Clause):
    """The device is bound to `driver` ("" for no driver)."""
    what, needs = "driver", ("device", "driver")

    def actions_left(self, obs):
        if self.holds(obs):
            return 0
        now = (obs.state["devices"].get(self.device) or {}).get("driver")
        return 2 if now and self.driver else 1          # off the other driver, then onto this one

    def moves(self, obs):
        if self.holds(obs):
            return set(), set(), False
        now = (obs.state["devices"].get(self.device) or {}).get("driver")
        return ({self.device} if now else set()), ({self.device} if self.driver else set()), False

    def words(self):
        return f"{self.device} is bound to {self.driver}" if self.driver else f"{self.device} has no driver"

    def holds(self, obs):
        d = obs.state["devices"].get(self.device)
        return d is not None and (d["driver"] or "") == self.driver

    def why_not(self, obs):
        d = obs.state["devices"].get(self.device)
        if d is None:
            return f"{self.device} is not on the machine now"
        now = f"it is bound to {d['driver']}" if d["driver"] else "it has no driver"
        ov = f" and its driver_override is {d['driver_override']}" if d["driver_override"] else ""
        return f"{self.device} should be {'on ' + self.driver if self.driver else 'unbound'}: {now}{ov}"

    def groups(self, obs):
        d = obs.state["devices"].get(self.device)
        return {d["group"]} if d else set()

    def device_set(self):
        return {self.device}


class NoKernelDma(Clause):
    """No member of the group is bound to a kernel DMA driver (what every passthrough needs)."""
    what, needs = "no-kernel-dma", ("group",)

    def words(self):
        return f"no device of {_group_words(self.group)} is on a kernel DMA driver"

    def holds(self, obs):
        n = group_number(obs, self.group)
        return n in obs.state["groups"] and not kernel_dma_users(obs, n)

    def why_not(self, obs):
        n = group_number(obs, self.group)
        return kernel_dma_words(kernel_dma_users(obs, n)) or f"{_group_words(self.group)} does not exist now"

    def groups(self, obs):
        return {group_number(obs, self.group)}

    def actions_left(self, obs):
        return len(kernel_dma_users(obs, group_number(obs, self.group)))

    def moves(self, obs):
        return {d for d, _ in kernel_dma_users(obs, group_number(obs, self.group))}, set(), False


class Vm(Clause):
    """A running QEMU holds every device of `devices`, and no QEMU holds any of `without`."""
    what, needs, optional = "vm", ("devices",), ("without",)

    def words(self):
        s = f"a VM runs with {', '.join(self.devices)}"
        without = self.spec.get("without") or []
        return s + (f", and {', '.join(without)} {'is' if len(without) == 1 else 'are'} not given to any VM"
                    if without else "")

    def holds(self, obs):
        procs = qemu_processes(obs)
        given = {d for p in procs for d in p["holds"]["devices"]}
        return (any(set(self.devices) <= set(p["holds"]["devices"]) for p in procs)
                and not given & set(self.spec.get("without") or []))

    def why_not(self, obs):
        procs = qemu_processes(obs)
        given = sorted({d for p in procs for d in p["holds"]["devices"]} & set(self.spec.get("without") or []))
        if given:
            return f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} given to a VM, and should not be"
        last = last_refused_qemu(obs)
        if last is not None:
            attempt, why = last
            msg = qemu_message(attempt)
            return (f"the last QEMU start failed{': ' + msg if msg else ''}"
                    + (f" — {refusal_words(why)}" if why else ""))
        if procs:
            return f"a VM runs, but not with {', '.join(self.devices)}"
        return "no VM is running"

    def groups(self, obs):
        return {obs.state["devices"][d]["group"] for d in self.devices + list(self.spec.get("without") or [])
                if d in obs.state["devices"]}

    def actions_left(self, obs):
        if self.holds(obs):
            return 0
        groups = {obs.state["devices"][d]["group"] for d in self.devices if d in obs.state["devices"]}
        owned = any(obs.state["groups"].get(n, {}).get("owner", "NULL") != "NULL" for n in groups)
        users = 0 if owned else sum(len(kernel_dma_users(obs, n)) for n in groups)
        devs = obs.state["devices"]
        unbound = sum(1 for d in self.devices if d in devs and devs[d]["vfio"] is None)
        return users + unbound + 1               # they leave, the devices join a VFIO driver, QEMU starts

    def moves(self, obs):
        if self.holds(obs):
            return set(), set(), False
        devs = obs.state["devices"]
        groups = {devs[d]["group"] for d in self.devices if d in devs}
        if any(obs.state["groups"].get(n, {}).get("owner", "NULL") != "NULL" for n in groups):
            leave = set()                        # someone owns it: what must happen first is not a driver's move
        else:
            leave = {d for n in groups for d, _ in kernel_dma_users(obs, n)}
        return leave, {d for d in self.devices if d in devs and devs[d]["vfio"] is None}, True

    def device_set(self):
        return set(self.spec["devices"]) | set(self.spec.get("without") or [])


class Refused(Clause):
    """Since the level began, a try of the learner's was refused: a QEMU start (`program = "qemu"`)
    or a write to a file matching `write` (a glob), `because` an errno name (EBUSY) or, for QEMU,
    `not-viable` (its own VFIO_GROUP_GET_STATUS check)."""
    what, needs, optional = "refused", ("because",), ("program", "write", "devices")
    history = True

    def __init__(self, spec):
        super().__init__(spec)
        if ("program" in self.spec) == ("write" in self.spec):
            raise GoalError("a 'refused' clause names either program = \"qemu\" or write = \"<path glob>\"")
        if self.spec.get("program") not in (None, "qemu"):
            raise GoalError("a 'refused' clause's program can only be \"qemu\"")

    def words(self):
        why = "not viable" if self.because == "not-viable" else f"-{self.because}"
        if "program" in self.spec:
            devs = self.spec.get("devices")
            return f"QEMU was refused{' with ' + ', '.join(devs) if devs else ''} ({why})"
        return f"a write to {self.write} was refused with {why}"

    def _matches(self, obs, a):
        if not a.failed:
            return False
        if "program" in self.spec:
            if not is_qemu(a.line) or not set(self.spec.get("devices") or []) <= qemu_hosts(a.line):
                return False
            why = refusal(obs.k, list(a.events), a.stderr)
            name = why[0] if why else ""
            return name == ("not viable" if self.because == "not-viable" else f"-{self.because}")
        return any(e.depth == 0 and e.op == "write" and e.refused and _errname(e) == self.because
                   and len(e.refs) > 1 and fnmatch.fnmatchcase(str(e.refs[1][1]), self.write) for e in a.events)

    def _writes(self, a):
        return any(e.depth == 0 and e.op == "write" and len(e.refs) > 1
                   and fnmatch.fnmatchcase(str(e.refs[1][1]), self.write) for e in a.events)

    def holds(self, obs):
        return any(self._matches(obs, a) for a in obs.attempts)

    def why_not(self, obs):
        devs = self.spec.get("devices") or []
        tried = [a for a in obs.attempts
                 if ("program" in self.spec and is_qemu(a.line) and set(devs) <= qemu_hosts(a.line))
                 or ("write" in self.spec and self._writes(a))]
        if not tried:
            return "you have not tried it yet"
        last = tried[-1]
        if not last.failed:
            return f"your last try ({last.line}) succeeded"
        why = refusal(obs.k, list(last.events), last.stderr)
        said = " ".join(x for x in last.stderr.strip().splitlines() if not re.match(r"^\[\d+\]", x))
        return f"your last try was refused, but for another reason: {refusal_words(why) or said}"

    def device_set(self):
        return set(self.spec.get("devices") or [])


def _errname(e):
    return errname(e.errno)


class SameGroup(Clause):
    what, needs = "same-group", ("devices",)

    def words(self):
        return f"{' and '.join(self.devices)} are in one group"

    def _groups(self, obs):
        return [obs.state["devices"].get(d, {}).get("group") for d in self.devices]

    def holds(self, obs):
        gs = self._groups(obs)
        return None not in gs and len(set(gs)) == 1

    def why_not(self, obs):
        return "; ".join(f"{d} is in group {g}" for d, g in zip(self.devices, self._groups(obs)))

    def device_set(self):
        return set(self.spec["devices"])


class SeparateGroups(SameGroup):
    what = "separate-groups"

    def words(self):
        return f"{' and '.join(self.devices)} are each in a group of their own"

    def holds(self, obs):
        gs = self._groups(obs)
        return None not in gs and len(set(gs)) == len(gs)


class GroupType(Clause):
    """The group's default domain type (what its `type` file shows): identity, DMA, DMA-FQ."""
    what, needs = "type", ("group", "type")

    def words(self):
        return f"{_group_words(self.group)}'s default domain is {self.type}"

    def holds(self, obs):
        g = obs.state["groups"].get(group_number(obs, self.group))
        return g is not None and g["default_domain"] == self.type

    def why_not(self, obs):
        n = group_number(obs, self.group)
        g = obs.state["groups"].get(n)
        if g is None:
            return f"{_group_words(self.group)} does not exist now"
        tried = [a for a in obs.attempts if a.line.rstrip().endswith(f"iommu_groups/{n}/type")]
        if tried and tried[-1].failed:
            return f"its default domain is {g['default_domain']}; your last write was refused — " + refusal_words(
                refusal(obs.k, list(tried[-1].events), tried[-1].stderr))
        return f"its default domain is {g['default_domain']}"

    def groups(self, obs):
        return {group_number(obs, self.group)}


class DriversAsBooted(Clause):
    """Each device is bound to the driver it had when the level began (given back to the host)."""
    what, needs = "drivers-as-booted", ("devices",)

    def words(self):
        verb = "is" if len(self.devices) == 1 else "are"
        return f"{', '.join(self.devices)} {verb} back on the drivers they had at boot"

    def _differ(self, obs):
        start = obs.start or {"devices": {}}
        out = []
        for d in self.devices:
            was = start["devices"].get(d, {}).get("driver")
            now = obs.state["devices"].get(d, {}).get("driver")
            if was != now:
                out.append((d, was, now))
        return out

    def holds(self, obs):
        return not self._differ(obs)

    def why_not(self, obs):
        return "; ".join(f"{d} is {'on ' + now if now else 'unbound'}, it was on {was or 'no driver'}"
                         for d, was, now in self._differ(obs))

    def device_set(self):
        return set(self.spec["devices"])


class Panicked(Clause):
    """Since the level began, the kernel hit a BUG (and crashed)."""
    what = "panicked"
    history = True

    def words(self):
        return "the kernel crashed (a BUG)"

    def holds(self, obs):
        return obs.state["crashed"] or any(m[0] == "bug" for a in obs.attempts for e in a.events for m in e.marks)

    def why_not(self, obs):
        return "no BUG has fired yet"


class Running(Clause):
    """The kernel is running (not crashed: after a crash, `reboot`)."""
    what = "running"

    def words(self):
        return "the kernel is running"

    def holds(self, obs):
        return not obs.state["crashed"]

    def why_not(self, obs):
        return "the kernel has crashed: only `reboot` brings it back"


class Logged(Clause):
    """The kernel log has a line containing `contains` (a warning the level wants seen)."""
    what, needs = "logged", ("contains",)

    def words(self):
        return f"the kernel log says \u201c{self.contains}\u201d"

    def holds(self, obs):
        return any(self.contains in line for line in obs.k.dmesg_lines)

    def why_not(self, obs):
        return "the kernel has not logged it yet"


class Param(Clause):
    """A module parameter's value (`name` as k.state()["params"] has it: "iommufd.allow_unsafe_interrupts");
    a boolean matches as its file shows it (Y/N) or as a learner writes it (1/0, true/false, on/off)."""
    what, needs = "param", ("name", "value")

    def words(self):
        return f"{self.name} is {self.value}"

    def holds(self, obs):
        now = obs.state["params"].get(self.name)
        if isinstance(now, bool):       # as the file shows it (Y/N), or as a learner writes it
            return str(self.value).strip().lower() in (("y", "1", "true", "on") if now else ("n", "0", "false", "off"))
        return str(now) == str(self.value)

    def why_not(self, obs):
        return f"{self.name} is {obs.state['params'].get(self.name)}"


KINDS = {c.what: c for c in (Owner, OwnerCnt, Driver, NoKernelDma, Vm, Refused, SameGroup, SeparateGroups,
                             GroupType, DriversAsBooted, Panicked, Running, Logged, Param)}


def clause(spec):
    """A clause from its TOML table."""
    if not isinstance(spec, dict) or "what" not in spec:
        raise GoalError(f"a goal clause is a table with `what` (one of {', '.join(KINDS)}): {spec!r}")
    kind = KINDS.get(spec["what"])
    if kind is None:
        raise GoalError(f"unknown goal clause {spec['what']!r}; known: {', '.join(KINDS)}")
    return kind(spec)
