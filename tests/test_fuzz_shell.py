"""An adversarial suite, part 1: a bounded shell fuzzer (issue: robustness, "keep an adversarial
suite"). Seeded scripts (grammar, metacharacter soup, mistyped guide lines) run through k.sh()
on a freshly booted machine each, and every run must keep what the adversarial pass found to hold:

- no Python exception escapes k.sh(), and none is caught and shown as "internal error";
- a refused sysfs write (`echo DATA > FILE` failing) leaves k.state() unchanged;
- no real file is touched: nothing written outside the test's temporary directory, nothing of
  the real /sys, /proc, /dev or /etc opened (audit hooks watch every open, rename, remove, exec);
- every k.sh() returns within a time bound: each run is timed, and only a run longer than
  LIMIT_S seconds counts as a failure (a SIGALRM interrupts it there, so a hang cannot stall CI).

Seeded random rather than Hypothesis: a fixed set of examples in CI, and no shrinking that would
re-run a ten-second hang dozens of times. bench/fuzz.py runs the same generators for longer, in a
child process with a memory limit, and shrinks what it finds. This module also holds the harness
(time bound, file watch, findings) that tests/test_fuzz_api.py and test_fuzz_scenarios.py use.
"""
import os
import random
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

from iommulab import Kernel

SEED = 19                     # CI's examples: found nothing once the shell's known defects were fixed
EXAMPLES = 1500
LIMIT_S = 10.0                # a run longer than this is a failure (measured per example, never asserted in CI time)


# --- the harness ---------------------------------------------------------------------------------

class Overran(BaseException):
    """Raised by SIGALRM inside a run that went past its time bound. A BaseException, so that the
    shell's catch-all for its own bugs (`except Exception` → "internal error") cannot swallow it."""


@contextmanager
def time_bound(limit=LIMIT_S):
    def on_alarm(signum, frame):
        raise Overran(f"still running after {limit:g} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Finding:
    kind: str                 # exception | internal-error | overran | refusal-changed-state | file-touched | bad-result
    input: object             # what to replay: a script, a list of calls, a scenario text
    detail: str
    seconds: float = 0.0

    def line(self):
        shown = repr(self.input)
        if len(shown) > 300:
            shown = shown[:300] + f"... ({len(shown)} chars)"
        return f"[{self.kind}] {shown}\n    {self.detail[:400]}"


def report(findings, what):
    """One assertion message listing every finding (de-duplicated by kind and first detail line)."""
    seen, lines = set(), []
    for f in findings:
        key = (f.kind, f.detail.split("\n")[-1][:80] if f.kind != "overran" else repr(f.input))
        if key not in seen:
            seen.add(key)
            lines.append(f.line())
    return f"{len(findings)} failing {what} ({len(lines)} distinct):\n" + "\n".join(lines)


# What a simulated machine must never reach of the real one. Reads of Python's own files are fine.
REAL_PREFIXES = ("/sys/", "/proc/", "/dev/", "/etc/", "/root/", "/home/", "/boot/", "/lib/modules/")
REAL_OK = ("/dev/null", "/dev/urandom", "/proc/self/")
PYTHON_OWN = tuple(sorted({os.path.abspath(p) + os.sep for p in (*sys.path, sys.prefix, sys.base_prefix, sys.exec_prefix)
                           if p and os.path.isdir(p)}))        # Python importing its own modules lazily
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
MUTATING_EVENTS = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.symlink", "os.link", "os.chmod",
                   "os.chown", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move",
                   "shutil.copytree", "os.chdir"}
EXEC_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile"}


class FileWatch:
    """Records, while armed, every file operation outside `allowed` (directories). One audit
    hook per process (they cannot be removed); it only records, never raises."""
    _installed = None

    def __init__(self):
        self.armed = False
        self.allowed = ()
        self.seen = []

    @classmethod
    def get(cls):
        if cls._installed is None:
            cls._installed = cls()
            sys.addaudithook(cls._installed._hook)
        return cls._installed

    def _inside(self, path):
        p = os.path.abspath(path)
        return any(p == a or p.startswith(a + os.sep) for a in self.allowed) or f"{os.sep}__pycache__{os.sep}" in p

    def _hook(self, event, args):
        if not self.armed:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None))[:3]
            if isinstance(path, int) or path is None:
                return
            path = os.fsdecode(path)
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS)
            real = os.path.abspath(path)
            if writes and not self._inside(real):
                self.seen.append(f"open({path!r}, {mode!r}, {flags!r}) for writing")
            elif (real.startswith(REAL_PREFIXES) and not real.startswith(REAL_OK) and real not in REAL_OK
                  and not real.startswith(PYTHON_OWN)):
                self.seen.append(f"open({path!r}) of the real machine")
        elif event in MUTATING_EVENTS:
            paths = [os.fsdecode(a) for a in args if isinstance(a, (str, bytes, os.PathLike))]
            if event == "os.chdir" or any(not self._inside(p) for p in paths):
                self.seen.append(f"{event}{tuple(args)!r}")
        elif event in EXEC_EVENTS:
            self.seen.append(f"{event}{tuple(args)[:2]!r}")

    @contextmanager
    def watching(self, *allowed):
        self.allowed = tuple(os.path.abspath(a) for a in allowed)
        self.seen = []
        self.armed = True
        try:
            yield self.seen
        finally:
            self.armed = False


def run_script(script, scenario="desktop-gpu", limit=LIMIT_S, refusal=False, allowed=None):
    """Boot `scenario`, run `script` through k.sh() once; the findings (empty when all holds)."""
    k = Kernel.from_scenario(scenario)
    before = k.state() if refusal else None
    watch = FileWatch.get()
    found = []
    t = time.perf_counter()
    r = None
    with watch.watching(*([allowed] if allowed else [])) as touched:
        try:
            with time_bound(limit):
                r = k.sh(script)
        except Overran as e:
            found.append(Finding("overran", script, str(e), time.perf_counter() - t))
        except Exception as e:      # noqa: BLE001 — the very thing the suite looks for
            found.append(Finding("exception", script, f"{type(e).__name__}: {e}", time.perf_counter() - t))
    spent = time.perf_counter() - t
    if touched:
        found.append(Finding("file-touched", script, "; ".join(touched[:3]), spent))
    if r is None:
        return found
    if not (isinstance(r.status, int) and 0 <= r.status <= 255 and isinstance(r.stdout, str)
            and isinstance(r.stderr, str)):
        found.append(Finding("bad-result", script, repr(r)[:200], spent))
    elif "internal error" in r.stderr or "Traceback" in r.stderr + r.stdout:
        found.append(Finding("internal-error", script, f"status {r.status}: {r.stderr.strip()[-300:]}", spent))
    if refusal and r.status != 0 and k.state() != before:
        found.append(Finding("refusal-changed-state", script, f"status {r.status}: {r.stderr.strip()[:200]}", spent))
    return found


# --- the generators ------------------------------------------------------------------------------

DEVS = ["0000:01:00.0", "0000:01:00.1", "0000:00:1f.6", "0000:00:14.0", "0000:09:00.0", "01:00.0", "1:0.0", "zz"]
FILES = ["/sys/bus/pci/devices/0000:01:00.0/driver_override", "/sys/bus/pci/devices/0000:01:00.1/driver_override",
         "/sys/bus/pci/drivers/vfio-pci/bind", "/sys/bus/pci/drivers/vfio-pci/unbind",
         "/sys/bus/pci/drivers/vfio-pci/new_id", "/sys/bus/pci/drivers/vfio-pci/remove_id",
         "/sys/bus/pci/drivers/nouveau/unbind", "/sys/bus/pci/drivers/snd_hda_intel/unbind",
         "/sys/bus/pci/drivers/snd_hda_intel/bind", "/sys/kernel/iommu_groups/1/type",
         "/sys/kernel/iommu_groups/5/type", "/sys/bus/pci/rescan", "/sys/bus/pci/devices/0000:00:1f.6/remove",
         "/sys/bus/pci/drivers_probe", "/sys/bus/pci/devices/0000:01:00.0/vendor",
         "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
         "/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs", "/sys/kernel/iommu_groups/1",
         "/dev/vfio/1", "/dev/vfio/vfio", "/dev/iommu", "/dev/null", "/proc/self/fd", "/etc/passwd", "/etc/hosts",
         "/tmp/iommulab-fuzz-out", "out.txt", "../../x", "/", ".", "..", "~", "/sys/kernel/debug/iommulab/groups",
         "/sys/bus/pci/devices/0000:01:00.0", "/sys/kernel/iommu_groups", "/lib/modules", "/root/.bashrc"]
GLOBS = ["/sys/kernel/iommu_groups/*", "/sys/kernel/iommu_groups/*/devices/*", "/sys/bus/pci/devices/*",
         "/sys/bus/pci/devices/0000:0[01]:*", "/sys/bu[s]", "/sys/*/*", "/*/*/*", "/sys/bus/pci/drivers/*/bind",
         "?", "*", "[z-a]", "[!a]*", "[]]", "[", "/sys/**", "/sys/bus/pci/devices/*/iommu_group/devices/*",
         "/sys/bus/*/devices/*/driver", "*/../*", "/sys/[a-z]*/[!p]*"]
DATA = ["vfio-pci", "0000:01:00.0", "0000:01:00.1", "10de 2204", "10de 1aef", "-1 -1", "0x10de 0x2204", "1_0",
        "0b11", "010", "0x", "identity", "DMA", "DMA-FQ", "auto", "blocked", "1", "0", "", "Y", "N", "٦", "+1",
        " 1", "1 ", "9" * 30, "x" * 300, "é" * 200, "\\n", "'\\t'", "nouveau", "pci-stub", "(null)"]
WORDS = ["a", "b", "x y", "-n", "-e", "-l", "-d", "-nnk", "-s", "--", "-", "%s", "%d", "\\", "''", '""', "=", "==",
         "!", "-e", "-f", "-z", "-1", "0", "42", "é", "~", "~root", "$HOME", "IFS"]
CMDS = ["echo", "echo -n", "echo -e", "printf", "cat", "ls", "ls -l", "ls -d", "ls -la", "lspci", "lspci -nnk",
        "lspci -s", "lspci -n -s", "find", "find -L", "grep", "grep -c", "grep -E", "readlink", "readlink -f",
        "basename", "dirname", "test", "[", "true", "false", ":", "cd", "pwd", "dmesg", "head -n", "tail -n",
        "wc -l", "sort", "sort -V", "uniq", "modprobe", "rmmod", "lsmod", "kill", "sleep", "shopt -s nullglob",
        "set -e", "set -u", "export", "unset", "tee", "sudo", "bash -c", "sh -c", "iommulab-why", "jobs", "wait",
        "uname -r", "id", "whoami", "ps", "pgrep", "history", "help", "steps", "chown", "exit", "qemu-system-x86_64",
        "qemu-system-x86_64 -device", "lsgroups", "/usr/bin/tee", "/bin/echo", "./run.sh", "source", "."]
SOUP = "$'\"`\\{}()[]|&;<>*?~#!=-:/%^+., \n\tabx019"
GUIDE_LINES = [
    'for g in /sys/kernel/iommu_groups/*; do echo "IOMMU Group ${g##*/}:"; '
    'for d in $g/devices/*; do echo -e "\\t$(lspci -nns ${d##*/})"; done; done',
    "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override",
    "echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind",
    "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind",
    "echo 10de 2204 > /sys/bus/pci/drivers/vfio-pci/new_id",
    "qemu-system-x86_64 -enable-kvm -m 4G -device vfio-pci,host=01:00.0 -device vfio-pci,host=01:00.1 &",
    "qemu-system-x86_64 -object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0 &",
    "G=$(basename $(readlink /sys/bus/pci/devices/0000:01:00.1/iommu_group)); echo group=$G",
    'D=0000:01:00.1; echo "${D%.*} ${D#*:} ${D##*:} ${#D} ${NOPE:-dflt}"',
    "for d in /sys/kernel/iommu_groups/1/devices/*; do n=${d##*/}; echo $n > /sys/bus/pci/devices/$n/driver/unbind; done",
    "lspci -nnk | grep -A2 VGA", "dmesg | grep -i iommu | tail -3", "find /sys/kernel/iommu_groups/ -type l | sort -V",
    "cat /sys/kernel/iommu_groups/*/type", "ls -l /sys/kernel/iommu_groups/*/devices",
    "if [ -e /dev/vfio/1 ]; then echo y; else echo n; fi", "shopt -s nullglob; for f in /nothing/*; do echo $f; done",
    "modprobe vfio-pci ids=10de:2204,10de:1aef && lsmod | grep vfio", "n=0; n=$((n+1)); echo $n",
    "x=; echo ${x:-$((3*4))}", "kill %1; wait; jobs",
]


class ScriptGen:
    """Shell text from a seeded random source. `hostile` (bench/fuzz.py only) adds what is costly
    by design once bounded: endless loops that the shell's budget must end, and deep globs."""

    def __init__(self, rng, hostile=False):
        self.r, self.hostile = rng, hostile

    def pick(self, xs):
        return self.r.choice(xs)

    def arith(self, depth=0):
        """Bash arithmetic with bounded operands: even evaluated naively it stays small (no `**`
        chain, no shift by more than 64), so a slow result is the shell's doing."""
        r = self.r
        if depth >= 2 or r.random() < 0.35:
            return self.pick(["0", "1", "7", "42", "99", "n", "x", "$n", "-3", "010", "0x1f", "2#101", "#", "", "1.5",
                              "a[1]", "${#x}", "$(echo 3)"])
        op = self.pick(["+", "-", "*", "/", "%", "<", "==", "&&", "||", "&", "|", "^", "<<", ">>", ",", "=", "+=", "?"])
        left = self.arith(depth + 1)
        if op == "?":
            return f"{left} ? {self.arith(depth + 1)} : {self.arith(depth + 1)}"
        if op in ("<<", ">>"):
            return f"{left} {op} {self.pick(['1', '3', '63', '64', '-1'])}"
        if r.random() < 0.1:
            return f"{left} ** {self.pick(['0', '2', '5', '-1'])}"
        expr = f"{left} {op} {self.arith(depth + 1)}"
        return f"({expr})" if r.random() < 0.3 else expr

    def expansion(self, depth):
        v = self.pick(["x", "g", "d", "HOME", "PWD", "IFS", "?", "!", "$", "#", "@", "1", "NOPE", "n"])
        forms = ["${V}", "$V", "${V:-W}", "${V:=W}", "${V:+W}", "${V##*/}", "${V#*:}", "${V%.*}", "${V%%/*}", "${#V}",
                 "${V/a/b}", "${V//0/1}", "${V:1:2}", "${V^^}", "${!V}", "${V:-$((A))}", "$((A))", "$(S)", "`S`",
                 "\"$V\"", "'$V'", "$'\\x41'", "${", "$(", "$((", "'${'", "${V", "$(S", "${V:-${V:-W}}"]
        f = self.pick(forms)
        return (f.replace("V", v).replace("W", self.word(depth + 1, plain=True))
                 .replace("A", self.arith()).replace("S", self.simple(depth + 1)))

    def word(self, depth=0, plain=False):
        r = self.r.random()
        if plain or depth > 2:
            return self.pick(WORDS + DEVS)
        if r < 0.25:
            return self.pick(FILES)
        if r < 0.4:
            return self.pick(GLOBS)
        if r < 0.55:
            return self.pick(DEVS + DATA[:12])
        if r < 0.8:
            return self.expansion(depth)
        if r < 0.9:
            return self.pick(['"', "'"]) + self.word(depth + 1) + self.pick(['"', "'", ""])
        return self.pick(WORDS)

    def redirect(self):
        op = self.pick([">", ">>", "<", "2>", "2>&1", "&>", ">&2", "1>&-", "<<<", "> >", "<<EOF\nline\nEOF\n"])
        return op if op in ("2>&1", ">&2", "1>&-") or "EOF" in op else f"{op} {self.pick(FILES)}"

    def simple(self, depth=0):
        r = self.r
        if r.random() < 0.15:
            return f"{self.pick(['x', 'n', 'g', 'IFS', 'PATH', '1x'])}={self.word(depth + 1)}"
        parts = [self.pick(CMDS)] + [self.word(depth + 1) for _ in range(r.randint(0, 3))]
        if r.random() < 0.3:
            parts.append(self.redirect())
        return " ".join(parts)

    def compound(self, depth=0):
        r = self.r
        if depth > 2 or r.random() < 0.45:
            return self.simple(depth)
        c = lambda: self.compound(depth + 1)  # noqa: E731
        forms = [
            lambda: f"{c()} | {c()}", lambda: f"{c()} && {c()}", lambda: f"{c()} || {c()}", lambda: f"{c()}; {c()}",
            lambda: f"{c()} &", lambda: f"! {c()}", lambda: f"{{ {c()}; }}", lambda: f"( {c()} )",
            lambda: f"if {c()}; then {c()}; else {c()}; fi", lambda: f"if {c()}; then {c()}; fi",
            lambda: f"for {self.pick(['i', 'g', 'd'])} in {' '.join(self.word(depth + 1) for _ in range(r.randint(0, 4)))}; "
                    f"do {c()}; done",
            lambda: f"while {self.pick(['false', '[ -e /nothing ]', '! true'])}; do {c()}; done",
            lambda: f"n{depth}=0; while [ $n{depth} -lt {r.randint(0, 30)} ]; do n{depth}=$((n{depth}+1)); {c()}; done",
            lambda: f"case {self.word(depth + 1)} in a|b) {c()};; *) {c()};; esac",
            lambda: f"f() {{ {c()}; }}; f; f", lambda: f"{c()}\n{c()}", lambda: f"{c()} # {self.word(depth + 1)}",
            lambda: f"for i in {' '.join(self.pick(GLOBS[:4]) for _ in range(2))}; do for j in $i/*; do {c()}; done; done",
        ]
        if self.hostile:
            forms += [lambda: f"while true; do {c()}; done", lambda: f"while :; do while :; do {c()}; done; done",
                      lambda: "echo " + "/*" * r.randint(7, 14),
                      lambda: "x=" + "$(" * r.randint(20, 100) + "echo 1" + ")" * r.randint(20, 100)]
        return self.pick(forms)()

    def soup(self):
        return "".join(self.pick(SOUP) for _ in range(self.r.randint(1, 24)))

    def mistyped(self):
        s = list(self.pick(GUIDE_LINES))
        for _ in range(self.r.randint(1, 4)):
            i = self.r.randrange(len(s) + 1)
            what = self.r.random()
            if what < 0.4 and s:
                del s[min(i, len(s) - 1)]
            elif what < 0.8:
                s.insert(i, self.pick(SOUP))
            else:
                s[i:i] = list(self.pick(["${", "$((", "'", '"', "`", "\\", "[", "]", "*", "$(", " | ", " > "]))
        return "".join(s)

    def write(self):
        """One sysfs write alone: if it fails, nothing may have changed."""
        data = self.pick(DATA + DEVS)
        data = data if " " not in data else f'"{data}"'
        return f"{self.pick(['echo', 'echo -n', 'printf %s'])} {data} > {self.pick(FILES[:17])}"

    def script(self):
        r = self.r.random()
        if r < 0.2:
            return "write", self.write()
        if r < 0.4:
            return "soup", self.soup()
        if r < 0.6:
            return "mistyped", self.mistyped()
        return "grammar", self.compound()


def examples(seed, n, hostile=False):
    gen = ScriptGen(random.Random(seed), hostile)
    return [gen.script() for _ in range(n)]


def fuzz(seed, n, hostile=False, limit=LIMIT_S, allowed=None):
    findings, slowest = [], (0.0, "")
    for kind, script in examples(seed, n, hostile):
        t = time.perf_counter()
        findings += run_script(script, limit=limit, refusal=kind == "write", allowed=allowed)
        spent = time.perf_counter() - t
        slowest = max(slowest, (spent, script))
    return findings, slowest


# --- the tests -----------------------------------------------------------------------------------

def test_the_generators_are_deterministic_and_varied():
    a, b = examples(SEED, 200), examples(SEED, 200)
    assert a == b
    assert {kind for kind, _ in a} == {"write", "soup", "mistyped", "grammar"}
    assert len({s for _, s in a}) > 180


def test_the_harness_catches_what_it_looks_for(tmp_path):
    """Each check can fail: a hang, an escaping exception, a real file written."""
    from iommulab.kernel.kernel import Kernel as K
    real_sh = K.sh
    try:
        K.sh = lambda self, s: time.sleep(5)
        assert [f.kind for f in run_script("echo", limit=0.2)] == ["overran"]
        K.sh = lambda self, s: 1 / 0
        assert [f.kind for f in run_script("echo")] == ["exception"]
        K.sh = lambda self, s: (open("/etc/passwd").close(), real_sh(self, s))[1]
        assert [f.kind for f in run_script("echo", allowed=str(tmp_path))] == ["file-touched"]
        K.sh = lambda self, s: (open(tmp_path / "ok.txt", "w").close(), real_sh(self, s))[1]
        assert run_script("echo", allowed=str(tmp_path)) == []
        K.sh = lambda self, s: (real_sh(self, "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override"),
                                real_sh(self, s))[1]
        assert [f.kind for f in run_script("false", refusal=True)] == ["refusal-changed-state"]
    finally:
        K.sh = real_sh


def test_shell_fuzz(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # a relative path the shell wrongly opened would land here
    findings, (slowest, script) = fuzz(SEED, EXAMPLES, allowed=str(tmp_path))
    print(f"\n{EXAMPLES} scripts; slowest {slowest:.2f} s: {script[:100]!r}")
    assert not findings, report(findings, "shell scripts")
