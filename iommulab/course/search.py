"""The search behind computed hints and level checks: breadth-first over a learner's actions, from
the machine as it is now, to a state where a level's goal holds.

It is the explorer's search (check/explore.py: the same actions, the same state key), with three
differences a level needs: each action runs as the shell line a learner would type, through the
machine's timeline (so a refused QEMU start leaves the same trace as the learner's); the goal is
judged on the state *and* the tries on the path (a goal can be "QEMU was refused"); and only the
devices the goal is about, and their groups, are acted on (a hint must come in milliseconds, and a
step elsewhere on the machine is never the next step).
"""
import heapq
import itertools
import time
from dataclasses import dataclass

from ..check.explore import Action, possible_actions
from ..kernel.kernel import KernelCrashed
from ..shell import timeline_for
from .goals import Observed


@dataclass(frozen=True)
class Line:
    """An action the explorer does not have, as the line a learner types: `sriov` (write a PF's
    sriov_numvfs), `param` (flip a writable module parameter), `reboot` (after a crash)."""
    kind: str
    args: tuple
    text: str

    def script(self):
        return self.text


EXTRA = ("sriov", "param", "reboot")


@dataclass
class Found:
    found: bool
    actions: tuple = ()          # explore.Action
    states: int = 0
    seconds: float = 0.0
    limit: bool = False          # the search stopped at max_states, not for want of a way

    @property
    def lines(self):
        return [a.script() for a in self.actions]


def _read(k, path):
    try:
        return k.read(path).strip()
    except OSError:
        return None


def extra_actions(k, devices, allow):
    """The `sriov` and `param` lines, only for a level whose [search] actions name them."""
    out = []
    if "sriov" in allow:
        for d in sorted(devices):
            total = _read(k, f"/sys/bus/pci/devices/{d}/sriov_totalvfs")
            if total and total != "0":
                now = _read(k, f"/sys/bus/pci/devices/{d}/sriov_numvfs")
                n = "0" if now not in (None, "0") else "1"
                out.append(Line("sriov", (d, n), f"echo {n} > /sys/bus/pci/devices/{d}/sriov_numvfs"))
    if "param" in allow:
        r = k.sh("ls -d /sys/module/*/parameters/allow_unsafe_interrupts")
        for path in r.stdout.split():
            value = _read(k, path)
            new = "0" if value in ("Y", "1") else "1"
            out.append(Line("param", (path, new), f"echo {new} > {path}"))
    return out


def focus_actions(k, devices, allow=None, named=()):
    """The learner's actions that touch `devices` (a set of names) or their groups; a VM may also
    start with any one VFIO-bound device alone (the explorer gives it the group's whole set). After
    a crash, the only action is `reboot`."""
    if k.crashed:
        return [Line("reboot", (), "reboot")]
    groups = {k.devices[d].iommu_group.id for d in devices if d in k.devices and k.devices[d].iommu_group}
    explorer = None if allow is None else [a for a in allow if a not in EXTRA]
    out = []
    for a in possible_actions(k, explorer, devices, bridges=set(named)):
        if a.kind in ("bind", "unbind", "override", "clear-override", "remove"):
            if a.args[0] in devices and not (a.kind == "remove" and a.args[0] in named):
                out.append(a)                   # (a device the goal names is not removed)
        elif a.kind == "vm":
            devs = a.args[0]
            if any(d in devices for d in devs):
                if len(devs) > 1:           # one device alone first: a VM need not take the whole group
                    out += [Action("vm", ((d,),) + a.args[1:]) for d in devs if d in devices]
                out.append(a)
        elif a.kind == "type":
            if a.args[0] in groups:
                out.append(a)
        elif a.kind in ("kill", "rescan"):
            out.append(a)
    if allow is not None:
        out += extra_actions(k, devices, allow)
    return out


def course_state_key(k, devices):
    """What tells two states apart for a search that acts only on `devices`: their drivers,
    overrides and groups, those groups' ownership, every process's files, the module parameters
    (a level may need one flipped) — the explorer's state key, narrowed to the focus."""
    devs = tuple((n, d.driver.name if d.driver else None, d.driver_override,
                  d.iommu_group.id if d.iommu_group else None)
                 for n, d in ((n, k.devices.get(n)) for n in sorted(devices)) if d is not None)
    groups = {d.iommu_group for n in devices for d in [k.devices.get(n)] if d is not None and d.iommu_group}
    gkey = tuple(sorted((g.id, g.owner_cnt, g.owner_label(), g.domain_label(),
                         g.default_domain.type if g.default_domain else None) for g in groups))
    procs = tuple(sorted((p.name, tuple(sorted(f.path for f in p.fds.values()))) for p in k.processes.values()))
    return devs, gkey, procs, tuple(sorted(k.hotplug)), k.crashed, tuple(sorted(k.params.items(), key=lambda kv: kv[0]))


def _echo(line):
    """(path, data) of an `echo DATA > PATH` line, as echo writes it (with its newline), else None."""
    if not line.startswith("echo") or "> " not in line or line.rstrip().endswith("&"):
        return None
    data, path = line[len("echo"):].split("> ", 1)
    return path.strip(), data.strip() + "\n"


def run_line(tl, k, line, snap):
    """Run one action's line and log it as an attempt. A sysfs write goes straight to the kernel's
    file view (what the shell's echo does, less the parsing: a search tries hundreds); a write the
    kernel blocks, and every other line, runs through the shell so that its jobs are the shell's."""
    w = _echo(line)
    if w is not None:
        first = len(k.events)
        try:
            res = k.write(*w)
        except OSError as e:
            tl.attempted(line, 1, 0, f"bash: echo: write error: {e.strerror}\n", first)
            return
        except KernelCrashed:
            tl.attempted(line, None, 0, f"Kernel panic: the kernel has crashed ({k.crashed})\n", first)
            return
        if res is None or res.done:
            tl.attempted(line, 0, 0, "", first)
            return
        tl.restore(snap)                  # blocked: type it, so the shell makes it a job
    tl.run(line)


def search(k, goal_holds, devices, depth, start_attempts=0, start_state=None, allow=None,
           allowed=lambda line: True, max_states=5000, named=(), estimate=None, history=False):
    """Shortest list of actions from k's state now after which goal_holds(Observed) is true, at
    most `depth` long. A* over the states: `estimate(Observed)` is a lower bound of the actions
    still needed (the kernel DMA drivers still bound in a group a VM needs, ...); without one it
    is breadth-first. Bridges are acted on only if `named` (the devices the goal names) has them.
    With `history` (a goal clause reads the tries, not only the state: "QEMU was refused", "the
    kernel crashed"), two paths to one state differ by the tries that failed on them.
    The kernel, its shell session and its timeline come back as they were."""
    started = time.perf_counter()
    estimate = estimate or (lambda obs: 1)
    tl = timeline_for(k)
    with tl.excursion(), tl.unrecorded():
        base = len(tl.attempts)
        before = tuple(a for a in tl.attempts[start_attempts:base] if tl.on_branch(a))   # as the level sees them
        def node_key(tries):
            failed = frozenset(a.line for a in tries if a.failed) if history else None
            return course_state_key(k, devices), failed

        best = {node_key(()): 0}          # the fewest actions a state was reached in
        order = itertools.count()
        # A queued state is its parent's snapshot and the line that leads there: most are never
        # expanded, and a snapshot of a 2,000-device host costs more than running the line again.
        queue = [(estimate(Observed.of(k, before, start_state, devices)), 0, next(order), tl.snapshot(), (), ())]
        found = None
        while queue:
            f, g, _, parent, path, tries = heapq.heappop(queue)
            if found is not None and f >= len(found):
                break                                   # nothing left can be shorter
            if g >= depth:
                continue
            tl.restore(parent)
            if path:                                    # the line that leads here, again
                del tl.attempts[base:]
                tl.attempts.extend(tries[:-1])
                run_line(tl, k, path[-1].script(), parent)
                tries = tries[:-1] + (tl.attempts[-1],)
            snap = tl.snapshot() if path else parent
            acts = [a for a in focus_actions(k, devices, allow, named) if allowed(a.script())]
            for i, a in enumerate(acts):
                if i:                                   # the first action starts from the restore above
                    tl.restore(snap)
                del tl.attempts[base:]
                tl.attempts.extend(tries)
                run_line(tl, k, a.script(), snap)
                new = tries + (tl.attempts[-1],)
                key = node_key(new)
                known = key in best and best[key] <= g + 1
                # A state reached before did not meet the goal then; only a try that failed (a
                # refusal a goal may ask for) can make it meet it now.
                if known and not new[-1].failed:
                    continue
                obs = Observed.of(k, before + new, start_state, devices)
                if goal_holds(obs):
                    if found is None or g + 1 < len(found):
                        found = path + (a,)
                    continue
                if known:
                    continue
                best[key] = g + 1
                if len(best) > max_states:
                    return Found(False, (), len(best), time.perf_counter() - started, limit=True)
                h = estimate(obs)
                heapq.heappush(queue, (g + 1 + h, g + 1, next(order), snap, path + (a,), new))
    return Found(found is not None, found or (), len(best), time.perf_counter() - started)
