"""An adversarial suite, part 2: an API fuzzer (issue: robustness). Seeded random sequences of the
public surface (../shared/spec/api.md §3, §5, §6): sysfs reads and writes on the machine's own
files and on mangled paths, processes opening, ioctl-ing and closing /dev nodes with good and bad
arguments, and the kernel's DMA-ownership functions. After every call:

- only OSError (with an errno) leaves a file or process call, nothing leaves a kernel function
  (those return 0, a negative errno, or None; one the booted version lacks raises
  NotImplementedError saying so), and the kernel panics only where it says so (k.crashed, then
  KernelCrashed for what follows);
- a refused call (OSError, or a negative errno returned) leaves k.state() unchanged, and so does
  every read (read, listdir, readlink, exists, isdir, lstat, realpath);
- no real file is touched and every call returns within the time bound (tests/test_fuzz_shell.py's harness).

Each example records the concrete calls it made, so a failure replays with `replay(scenario, calls)`.
"""
import random
import time

from iommulab import Kernel
from iommulab.kernel import iommu
from iommulab.kernel.kernel import KernelCrashed
from iommulab.kernel.process import ALL_CAPS
from test_fuzz_shell import LIMIT_S, FileWatch, Finding, Overran, report, time_bound

SEED = 19
EXAMPLES = 120                 # sequences in CI
CALLS = 40                     # calls per sequence
SCENARIOS = ["desktop-gpu", "seed-001", "iommufd-no-msi-isolation", "pre-5.19-bug", "arm-soc-streamid", "nxp-dpaa2",
             "legacy-pci-bridge", "workstation-no-acs", "require-direct", "seed-004-type"]

READS = ("read", "listdir", "readlink", "exists", "isdir", "lstat", "realpath")
IOCTLS = ["VFIO_GET_API_VERSION", "VFIO_CHECK_EXTENSION", "VFIO_SET_IOMMU", "VFIO_GROUP_GET_STATUS",
          "VFIO_GROUP_SET_CONTAINER", "VFIO_GROUP_UNSET_CONTAINER", "VFIO_GROUP_GET_DEVICE_FD",
          "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT", "VFIO_DEVICE_DETACH_IOMMUFD_PT",
          "IOMMU_IOAS_ALLOC", "IOMMU_HWPT_ALLOC", "IOMMU_DESTROY", "VFIO_DEVICE_RESET", "VFIO_DEVICE_GET_INFO",
          "VFIO_TYPE1v2_IOMMU", "", "vfio_group_get_status", "NOT_AN_IOCTL"]
IOMMU_TYPES = ["VFIO_TYPE1v2_IOMMU", "VFIO_TYPE1_IOMMU", "VFIO_NOIOMMU_IOMMU", "VFIO_SPAPR_TCE_IOMMU", "", 1, 8, -1]
DATA = ["vfio-pci", "1", "0", "Y", "N", "y", "n", "yes", "on", "identity", "DMA", "DMA-FQ", "auto", "blocked",
        "unmanaged", "10de 2204", "10de 1aef 10de 1aef 0x030000 0xffffff 0", "-1 -1", "0x10de 0x2204", "ffff ffff",
        "1_0", "0b11", "010", "08", "0x", "+1", "-0", " 1", "1 ", "1\n\n", "٦", "1" * 40, "\n", "", "x" * 5000,
        "é" * 2000, "\x00", "pci-stub", "nouveau", "../vfio-pci", "0000:01:00.0\x00junk"]
WARM = {"done": False}


def _tree(k, limit=600):
    """The machine's files to aim at: a bounded walk of /sys and /dev from the kernel's own listing."""
    out, todo = [], ["/sys/bus", "/sys/kernel/iommu_groups", "/sys/module", "/sys/devices", "/dev", "/proc"]
    while todo and len(out) < limit:
        path = todo.pop(0)
        out.append(path)
        try:
            if k.isdir(path) and path.count("/") < 8:
                todo.extend(f"{path}/{n}" for n in k.listdir(path)[:40])
        except OSError:
            pass
    return out


class Run:
    """One example: generate calls from a seeded source against a live kernel, run each, check it."""

    def __init__(self, scenario, rng=None, calls=None):
        self.k = Kernel.from_scenario(scenario)
        self.scenario, self.r = scenario, rng
        self.files = _tree(self.k) if rng else []
        self.procs, self.domains, self.log, self.findings = [], [], [], []
        self.script = calls                              # replaying: the concrete calls, in order

    # -- choosing a call (recorded as plain data) -------------------------------------------------
    def pick(self, xs):
        return self.r.choice(xs)

    def path(self):
        p = self.pick(self.files)
        mangle = self.r.random()
        if mangle < 0.75:
            return p
        return self.pick([p + "/", p + "//x", p + "/..", p + "/.", "//" + p.lstrip("/"), p.replace("/", "//"),
                          p + "\x00", p + "\n", p.upper(), p + "/" + "a" * 300, p[:-1], "relative/" + p.split("/")[-1],
                          "", "/", "/sys/../sys/bus", "/sys/bus/pci/devices/0000:01:00.0/../../../../etc/passwd"])

    def data(self):
        devs = list(self.k.devices) or ["0000:01:00.0"]
        d = self.pick(DATA + devs * 3 + [n + "\n" for n in devs])
        return d.encode() if self.r.random() < 0.1 else d

    def choose(self):
        r, k = self.r.random(), self.k
        devs, groups = list(k.devices), list(k.iommu_groups)
        if r < 0.35:
            return ("write", self.path(), self.data(), self.pick([None, None, None, "unprivileged"]))
        if r < 0.5:
            return (self.pick(READS), self.path())
        alive = [i for i, p in enumerate(self.procs) if p.alive]      # an exited process makes no calls
        if r < 0.55 or not alive:
            return ("spawn", self.pick(["qemu", "vm", "x" * 64]), self.pick([None, None, "unprivileged"]))
        pi = self.pick(alive)
        p = self.procs[pi]
        fds = sorted(p.fds)
        fd = self.pick(fds + [-1, 0, 99]) if fds and self.r.random() < 0.85 else self.pick([-1, 0, 3, 99, 2 ** 40])
        if r < 0.68:
            nodes = [f for f in self.files if f.startswith("/dev/")] + ["/dev/vfio/vfio", "/dev/iommu", "/dev/null"]
            return ("open", pi, self.pick(nodes) if self.r.random() < 0.9 else self.path())
        if r < 0.86:
            req = self.pick(IOCTLS)
            arg = self.pick([None, self.pick(fds + [99]) if fds else 99, self.pick(devs + ["zz", ""]),
                             self.pick(IOMMU_TYPES), 0, -5, 2 ** 64, "x" * 1000, self.r.randint(0, 20)])
            return ("ioctl", pi, fd, req, arg)
        if r < 0.91:
            return ("close", pi, fd)
        if r < 0.93:
            return (self.pick(["exit", "kill"]), pi)
        # the kernel's own functions, with the right kinds of argument (§6)
        g = ("group", self.pick(groups)) if groups else ("group", None)
        d = ("device", self.pick(devs)) if devs else ("device", None)
        dom = ("domain", self.r.randrange(len(self.domains) + 3))     # own allocations, then default, blocking, current
        owner = ("owner", self.pick(["A", "B"]))
        fn, args = self.pick([
            ("iommu_paging_domain_alloc", [d]), ("iommu_device_use_default_domain", [d]),
            ("iommu_device_unuse_default_domain", [d]), ("iommu_group_claim_dma_owner", [g, owner]),
            ("iommu_device_claim_dma_owner", [d, owner]), ("iommu_group_release_dma_owner", [g]),
            ("iommu_device_release_dma_owner", [d]), ("iommu_group_dma_owner_claimed", [g]),
            ("iommu_attach_group", [dom, g]), ("iommu_detach_group", [dom, g]), ("iommu_attach_device", [dom, d]),
            ("iommu_detach_device", [dom, d]), ("iommu_attach_device_pasid", [dom, d, ("int", self.pick([0, 1, 5, -1]))]),
            ("iommu_detach_device_pasid", [dom, d, ("int", self.pick([0, 1, 5]))])])
        return ("api", fn, args)

    # -- running one ----------------------------------------------------------------------------
    OWNERS = {"A": object(), "B": object()}

    def resolve(self, ref, group_hint):
        kind, v = ref
        k = self.k
        if kind == "group":
            return k.iommu_groups.get(v)
        if kind == "device":
            return k.devices.get(v)
        if kind == "owner":
            return self.OWNERS[v]
        if kind == "int":
            return v
        if v < len(self.domains):
            return self.domains[v]
        g = group_hint
        return None if g is None else (g.default_domain, g.blocking_domain, g.domain)[(v - len(self.domains)) % 3]

    def do(self, call):
        """Run one call; returns (refused, read_only)."""
        k, op = self.k, call[0]
        if op == "write":
            caps = ALL_CAPS if call[3] is None else frozenset()
            k.write(call[1], call[2], caps)
            return False, False
        if op in READS:
            getattr(k, op)(call[1])
            return False, True
        if op == "spawn":
            self.procs.append(k.spawn(call[1], ALL_CAPS if call[2] is None else frozenset()))
            return False, False
        p = self.procs[call[1]] if op != "api" else None
        if op == "open":
            p.open(call[2])
        elif op == "ioctl":
            p.ioctl(call[2], call[3], call[4])
        elif op == "close":
            p.close(call[2])
        elif op in ("exit", "kill"):
            getattr(p, op)()
        elif op == "api":
            args = call[2]
            objs = [self.resolve(a, None) for a in args]
            hint = next((o.iommu_group if a[0] == "device" else o for a, o in zip(args, objs)
                         if a[0] in ("group", "device") and o is not None), None)
            objs = [self.resolve(a, hint) if a[0] == "domain" else o for a, o in zip(args, objs)]
            if any(o is None for a, o in zip(args, objs) if a[0] != "int"):
                return False, True                       # nothing to call it on (no group, no domain yet)
            rc = getattr(iommu, call[1])(*objs)
            if call[1] == "iommu_paging_domain_alloc":
                if not isinstance(rc, iommu.IommuDomain):
                    raise TypeError(f"iommu_paging_domain_alloc returned {rc!r}")
                self.domains.append(rc)
                return False, False
            if call[1] == "iommu_group_dma_owner_claimed":
                if not isinstance(rc, bool):
                    raise TypeError(f"returned {rc!r}")
                return False, True
            if rc is not None and not (type(rc) is int and rc <= 0):
                raise TypeError(f"{call[1]} returned {rc!r}, not 0, a negative errno or None")
            return rc is not None and rc < 0, False
        return False, False

    def step(self, call):
        self.log.append(call)
        k = self.k
        before = k.state()
        t = time.perf_counter()
        crashed_before = k.crashed
        try:
            with time_bound(LIMIT_S):
                try:
                    refused, read_only = self.do(call)
                except OSError as e:
                    if not isinstance(e.errno, int) or e.errno <= 0:
                        raise TypeError(f"OSError without an errno: {e!r}")
                    refused, read_only = True, call[0] in READS
                except NotImplementedError as e:         # a function this kernel version does not have
                    if not (call[0] == "api" and "does not exist in Linux" in str(e)):
                        raise
                    refused, read_only = True, False
                except KernelCrashed:
                    if not (k.crashed or crashed_before):
                        raise
                    return False
                after = k.state()
        except Overran as e:
            self.findings.append(Finding("overran", self.replayable(), str(e), time.perf_counter() - t))
            return False
        except Exception as e:      # noqa: BLE001 — what the fuzzer looks for
            self.findings.append(Finding("exception", self.replayable(), f"{type(e).__name__}: {e}"))
            return False
        if (refused or read_only) and after != before:
            diff = [key for key in after if after[key] != before.get(key)]
            self.findings.append(Finding("refusal-changed-state", self.replayable(),
                                         f"{'refused' if refused else 'read'} {call[0]} changed {diff}"))
            return False
        return not k.crashed

    def replayable(self):
        return (self.scenario, list(self.log))

    def run(self, n, allowed=None):
        watch = FileWatch.get()
        with watch.watching(*([allowed] if allowed else [])) as touched:
            calls = self.script if self.script is not None else (None for _ in range(n))
            for call in calls:
                if not self.step(call if call is not None else self.choose()):
                    break
        if touched:
            self.findings.append(Finding("file-touched", self.replayable(), "; ".join(touched[:3])))
        return self.findings


def replay(scenario, calls, allowed=None):
    """Run recorded calls again on a fresh boot of `scenario`: the findings."""
    return Run(scenario, calls=calls).run(len(calls), allowed)


def fuzz(seed, n, calls=CALLS, allowed=None):
    rng = random.Random(seed)
    findings = []
    for i in range(n):
        findings += Run(SCENARIOS[i % len(SCENARIOS)], random.Random(rng.random())).run(calls, allowed)
    return findings


def test_the_calls_replay_to_the_same_end():
    a = Run("desktop-gpu", random.Random(5))
    a.run(60)
    b = Run("desktop-gpu", calls=a.log)
    b.run(len(a.log))
    assert a.log == b.log and a.k.state() == b.k.state()
    kinds = {c[0] for c in a.log}
    assert {"write", "spawn", "open", "ioctl"} <= kinds


def test_api_fuzz(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t = time.perf_counter()
    findings = fuzz(SEED, EXAMPLES, allowed=str(tmp_path))
    print(f"\n{EXAMPLES} sequences of {CALLS} calls in {time.perf_counter() - t:.1f} s")
    assert not findings, report(findings, "call sequences")


def test_the_checks_can_fail(monkeypatch):
    """A refusal that changed something, and an exception from a kernel function, are both found."""
    import errno
    from iommulab.kernel.kernel import Kernel as K
    real_write = K.write

    def leaky(self, path, data, caps=ALL_CAPS):
        real_write(self, "/sys/bus/pci/devices/0000:01:00.0/driver_override", "vfio-pci")
        raise OSError(errno.EINVAL, "refused")
    monkeypatch.setattr(K, "write", leaky)
    found = replay("desktop-gpu", [("write", "/sys/bus/pci/rescan", "x", None)])
    assert [f.kind for f in found] == ["refusal-changed-state"]
    monkeypatch.setattr(iommu, "iommu_group_claim_dma_owner", lambda g, o: 1 / 0)
    found = replay("desktop-gpu", [("api", "iommu_group_claim_dma_owner", [("group", 1), ("owner", "A")])])
    assert [f.kind for f in found] == ["exception"]
    monkeypatch.setattr(iommu, "iommu_group_claim_dma_owner", lambda g, o: 5)
    found = replay("desktop-gpu", [("api", "iommu_group_claim_dma_owner", [("group", 1), ("owner", "A")])])
    assert [f.kind for f in found] == ["exception"]


def test_the_sequences_reach_refusals_and_successes():
    """The fuzzer is not vacuous: its calls are refused and accepted, and change the machine."""
    outcomes = {"refused": 0, "accepted": 0}
    for i in range(10):
        run = Run(SCENARIOS[i % len(SCENARIOS)], random.Random(i))
        real_do = run.do

        def counting(call, real_do=real_do):
            try:
                out = real_do(call)
            except OSError:
                outcomes["refused"] += 1
                raise
            outcomes["refused" if out[0] else "accepted"] += 1
            return out
        run.do = counting
        booted = run.k.state()
        assert run.run(CALLS) == []
        outcomes["changed"] = outcomes.get("changed", 0) + (run.k.state() != booted)
    assert outcomes["refused"] > 50 and outcomes["accepted"] > 50 and outcomes["changed"] >= 5, outcomes
