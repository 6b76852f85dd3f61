"""A small bash for the simulated machine: bashlex parses, this walks the tree.

Lists (`;`, `&&`, `||`, `&`, newlines), pipelines (`!` too), `for`, `if`, `while`, `{ }`,
redirections (`>`, `>>`, `<`, `2>`, `2>>`, `2>&1`, `>&2`, `N>&-`, `&>`), variables and the
expansions of expand.py (`$((…))`: arith.py). Commands are Python functions over the kernel's
file view and processes; nothing touches the real machine. Each k.sh() call has one Budget of
work for all it runs; bashlex is reached through parse.py, which guards it.
"""
import posixpath
import time

from ..kernel.errno import EACCES, EISDIR, ENOENT, strerror
from ..kernel.kernel import KernelCrashed
from ..kernel.pending import PendingWrite
from .commands import COMMANDS
from .control import ExitShell
from .arith import ArithError
from .expand import ExpansionError, Expander, component_regex, glob_pattern_parts, has_glob
from .hostcmds import BIN_DIRS, SHELL_ONLY
from .parse import ParserGaveUp, ParsingError, subst_tree
from .parse import parse as _parse

HISTSIZE = 1000                 # as Debian's default ~/.bashrc sets it
# The work one k.sh() call may do, all its loops, substitutions and globs together: a step is a
# command or compound run, a loop round, a word made by expansion or a directory entry a glob
# looks at; bytes are those of expanded words and of output. Far above any guide's script (the
# listing loop on the 2,000-device host takes ~55,000 steps), and used up in a second or two.
MAX_STEPS = 300_000
MAX_BYTES = 64 << 20
MAX_SECONDS = 8.0               # and, whatever the steps cost on a busy machine, this much time
BUDGET_STATUS = 152             # 128 + SIGXCPU: what bash reports for a job stopped by `ulimit -t`


class WorkBudgetExceeded(Exception):
    """This k.sh() call used up its budget (Budget); it ends the whole call."""


class Budget:
    """What is left of one k.sh() call's work."""
    __slots__ = ("steps", "bytes", "deadline", "check_at")

    def __init__(self, steps=MAX_STEPS, nbytes=MAX_BYTES, seconds=MAX_SECONDS):
        self.steps, self.bytes = steps, nbytes
        self.deadline = time.monotonic() + seconds
        self.check_at = steps - 1000         # the clock is read every 1000 steps

    def step(self, n=1):
        self.steps -= n
        if self.steps < self.check_at:
            if self.steps < 0:
                raise WorkBudgetExceeded(f"{MAX_STEPS} steps: commands, loop rounds, words, glob entries")
            self.check_at = self.steps - 1000
            if time.monotonic() > self.deadline:
                raise WorkBudgetExceeded(f"{MAX_SECONDS:g} seconds")

    def data(self, n):
        self.bytes -= n
        if self.bytes < 0:
            raise WorkBudgetExceeded(f"{MAX_BYTES >> 20} MB of words and output")


UNLIMITED = Budget(1 << 62, 1 << 62, 1e15)      # outside a k.sh() call nothing is metered
_METER = [UNLIMITED]            # the budget IO.write charges: the running call's


def budget_message(what):
    return (f"iommulab: this command line used up its budget of work ({what}) and was stopped, "
            "as `ulimit -t` stops a runaway job\nCPU time limit exceeded")


class ShResult:
    """What k.sh() returns: status, stdout and stderr, like a finished bash."""
    __slots__ = ("status", "stdout", "stderr")

    def __init__(self, status, stdout, stderr):
        self.status, self.stdout, self.stderr = status, stdout, stderr

    def __iter__(self):
        return iter((self.status, self.stdout, self.stderr))

    def __repr__(self):
        return f"ShResult(status={self.status}, stdout={self.stdout!r}, stderr={self.stderr!r})"

    def _repr_pretty_(self, p, cycle):
        p.text(self.stdout + self.stderr + ("" if self.status == 0 else f"[exit status {self.status}]"))


class IO:
    __slots__ = ("stdin", "out", "err")

    def __init__(self, stdin=""):
        self.stdin, self.out, self.err = stdin, [], []

    def write(self, text):
        _METER[0].data(len(text))
        self.out.append(text)

    def error(self, text):
        self.err.append(text if text.endswith("\n") else text + "\n")


class Job:
    """A background job: a process (QEMU) or a sysfs write that Linux would block on."""

    def __init__(self, num, pid, cmdline, process=None, pending=None, state="Running"):
        self.num, self.pid, self.cmdline = num, pid, cmdline      # cmdline as typed, without " &"
        self.process, self.pending = process, pending
        self.state = state
        self.signal = None            # what `kill` sent: "Terminated", "Killed", "Hangup", ...
        self.exit_status = 0          # a process that exits on its own (QEMU failing to start)

    def refresh(self, k):
        if self.state != "Running":
            return
        if self.process is not None and (not self.process.alive or self.process.pid not in k.processes):
            if self.process.killed:
                self.state = self.signal or "Terminated"
            else:
                self.state = "Done" if not self.exit_status else f"Exit {self.exit_status}"
        if self.pending is not None and self.pending.done:
            self.state = "Done" if not self.pending.errno else "Exit 1"

    def shown(self):
        """The command as bash's job table shows it: a running job keeps its " &"."""
        return self.cmdline + (" &" if self.state == "Running" else "")


class Session:
    """One shell bound to one kernel: variables, working directory and jobs persist across runs."""
    commands = COMMANDS         # every command by name (help and sudo read it through the session)

    def __init__(self, k, interactive=False):
        self.k = k
        self.vars = {"HOME": "/root", "PWD": "/", "IFS": " \t\n", "USER": "root", "SHELL": "/bin/bash",
                     "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        self.cwd = "/"
        self.jobs = []
        self.last_status = 0
        self.last_bg_pid = None
        self.pid = 999
        self.interactive = interactive
        self.background = False             # running `CMD &` (exec_background)
        self.bg_started = None              # processes CMD started there (start_process)
        self.bg_status = 0
        self.options = {"nullglob": False}       # shopt
        self.exited = False                 # `exit` ran: a reader of lines stops here
        self.expander = Expander(self)
        self._src = []
        self.history = []                   # the last HISTSIZE lines typed (one per action)
        self.history_count = 0              # lines typed in all: bash numbers history by it
        self.timeline = None                # the Timeline that owns this session (timeline.py), if any
        self.action = ""                    # the top-level line running now
        self.budget = UNLIMITED             # the work left to the running k.sh() call

    # --- running scripts -------------------------------------------------------------------

    def run(self, script):
        """Run a script; returns ShResult. Never raises for anything a learner can type."""
        io = IO()
        self.bg_status = 0          # a job this run started with `&` that already failed: its status
        self.refresh_jobs()
        ended_before = [j for j in self.jobs if j.state != "Running"]
        outer = self.running        # run() inside a running line shares its budget
        if not outer:
            self.budget = Budget()
        metered, _METER[0] = _METER[0], self.budget
        try:
            status = self.run_source(script, io)
        except ExitShell as e:
            status = e.status
            self.exited = True
        except WorkBudgetExceeded as e:
            io.out = ["".join(io.out)[:1 << 20]]        # what it printed so far, within reason
            io.error(budget_message(e))
            status = BUDGET_STATUS
        except ArithError as e:     # bash abandons the whole line (a script: the shell exits)
            io.error(f"bash: {e}")
            status = 1
        except KernelCrashed:
            io.error(f"Kernel panic: the kernel has crashed ({self.k.crashed}); type `reboot` to boot it again")
            status = 1
        except RecursionError:
            io.error("bash: maximum nesting level exceeded")
            status = 1
        except Exception as e:  # a bug of ours must never reach a notebook as a traceback
            io.error(f"iommulab: internal error: {type(e).__name__}: {e}")
            status = 70
        finally:
            _METER[0] = metered
            if not outer:
                self.budget = UNLIMITED
        self._flush_capture_err(io)
        io.err += [n + "\n" for n in self.finished_notices(only=ended_before)]
        self.last_status = status
        if self.timeline is not None:
            self.timeline.settle()
        return ShResult(status, "".join(io.out), "".join(io.err))

    def run_source(self, src, io, parsed=None):
        """Run a text; `parsed`: (source, trees) already parsed, positions in `source` (a
        substitution's tree from its enclosing text)."""
        if parsed is not None:
            src, trees = parsed
        elif all(not line.strip() or line.lstrip().startswith("#") for line in src.splitlines()):
            return self.last_status         # blank or comments only (which bashlex cannot parse alone)
        else:
            try:
                trees = _parse(src)
            except ParsingError as e:
                io.error(f"bash: syntax error: {_parse_message(e)}")
                return 2
            except ParserGaveUp as e:
                io.error(f"bash: syntax error: {e}")
                return 2
            except (NotImplementedError, AssertionError, IndexError, TypeError, AttributeError) as e:
                io.error(f"bash: syntax error: {e or 'unsupported construct'}")
                return 2
        self._src.append(src)
        try:
            status = self.last_status
            for tree in trees:
                status = self.exec_action(tree, io) if len(self._src) == 1 else self.exec(tree, io)
                self.last_status = status
            return status
        finally:
            self._src.pop()

    @property
    def running(self):
        """Whether a line is running now."""
        return bool(self._src)

    def exec_action(self, tree, io):
        """One top-level line: one action of the timeline (a step if it changed the machine)."""
        self.action = self.text(tree)
        self.history.append(self.action)
        self.history_count += 1
        del self.history[:-HISTSIZE]
        if self.timeline is None:
            return self.exec(tree, io)
        self.timeline.before_action()
        first_event, first_err, bg_before = len(self.k.events), len(io.err), self.bg_status
        self.bg_status, status = 0, None
        try:
            status = self.exec(tree, io)
            return status
        finally:
            self.timeline.after_action(self.action)
            self.timeline.attempted(self.action, status, self.bg_status, "".join(io.err[first_err:]),
                                    first_event)
            self.bg_status = self.bg_status or bg_before

    def capture(self, src):
        """$(src): its stdout without trailing newlines; its stderr goes to ours."""
        io = IO()
        hit = subst_tree(src)
        try:
            status = self.run_source(src, io, parsed=None if hit is None else (hit[0], (hit[1],)))
        except ExitShell as e:
            status = e.status
        except ArithError as e:     # the subshell ends; the line goes on
            io.error(f"bash: {e}")
            status = 1
        self.last_status = status
        self._pending_err.extend(io.err)
        return "".join(io.out).rstrip("\n")

    @property
    def _pending_err(self):
        return self.__dict__.setdefault("_errbuf", [])

    def text(self, node):
        return self._src[-1][node.pos[0]:node.pos[1]]

    # --- the tree ----------------------------------------------------------------------------

    def exec(self, node, io):
        self.budget.step()
        kind = node.kind
        if kind == "list":
            return self.exec_list(node.parts, io)
        if kind == "pipeline":
            return self.exec_pipeline(node, io)
        if kind == "command":
            return self.exec_command(node, io)
        if kind == "compound":
            return self.exec_compound(node, io)
        if kind == "for":
            return self.exec_for(node, io)
        if kind == "if":
            return self.exec_if(node, io)
        if kind in ("while", "until"):
            return self.exec_while(node, io, until=kind == "until")
        if kind == "function":
            io.error("bash: functions are not supported here")
            return 2
        io.error(f"bash: {kind}: not supported here")
        return 2

    def exec_list(self, parts, io, background_ok=True):
        status = self.last_status
        skip_next = False
        for i, part in enumerate(parts):
            if part.kind == "operator":
                op = part.op
                if op == "&&":
                    skip_next = status != 0
                elif op == "||":
                    skip_next = status == 0
                else:
                    skip_next = False
                continue
            if part.kind == "pipe":
                continue
            if skip_next:
                skip_next = False
                continue
            nxt = parts[i + 1] if i + 1 < len(parts) else None
            background = nxt is not None and nxt.kind == "operator" and nxt.op == "&"
            if background:
                status = self.exec_background(part, io)
            else:
                status = self.exec(part, io)
            self.last_status = status
        return status

    def exec_compound(self, node, io):
        inner = [p for p in node.list if p.kind != "reservedword"]
        redirects = getattr(node, "redirects", None) or []
        if redirects:
            return self.with_redirects(redirects, io, lambda sub: self.exec_list(inner, sub), "{")
        return self.exec_list(inner, io)

    def exec_pipeline(self, node, io):
        cmds = [p for p in node.parts if p.kind != "pipe"]
        bangs = 0                           # `! PIPELINE`: its status negated (each `!` once)
        while cmds and cmds[0].kind == "reservedword" and cmds[0].word == "!":
            bangs, cmds = bangs + 1, cmds[1:]
        if bangs:
            status = self.exec_pipeline_parts(cmds, io)
            return (1 if status == 0 else 0) if bangs % 2 else status
        return self.exec_pipeline_parts(cmds, io)

    def exec_pipeline_parts(self, cmds, io):
        if len(cmds) == 1 and cmds[0].kind == "pipeline":
            return self.exec_pipeline(cmds[0], io)
        stdin = io.stdin
        status = 0
        for j, cmd in enumerate(cmds):
            sub = IO(stdin)
            status = self.exec(cmd, sub)
            io.err.extend(sub.err)
            stdin = "".join(sub.out)
            if j == len(cmds) - 1:
                io.out.append(stdin)
        return status

    def exec_for(self, node, io):
        parts = node.parts
        name = parts[1].word
        words, body, i = [], None, 2
        if i < len(parts) and parts[i].kind == "reservedword" and parts[i].word == "in":
            i += 1
            while parts[i].kind == "word":
                words.append(self.text(parts[i]))
                i += 1
        for p in parts[i:]:
            if p.kind not in ("reservedword",):
                body = p
        try:
            items = self.expander.expand_words(words)
        except ExpansionError as e:
            io.error(f"bash: {e}")
            return 1
        self._flush_capture_err(io)
        status = 0
        for item in items:
            self.vars[name] = item
            status = self.exec(body, io)
        return status

    def exec_if(self, node, io):
        parts = node.parts
        i = 0
        while i < len(parts):
            p = parts[i]
            if p.kind == "reservedword" and p.word in ("if", "elif"):
                cond, body = parts[i + 1], parts[i + 3]
                if self.exec(cond, io) == 0:
                    return self.exec(body, io)
                i += 4
            elif p.kind == "reservedword" and p.word == "else":
                return self.exec(parts[i + 1], io)
            else:
                i += 1
        return 0

    def exec_while(self, node, io, until=False):
        parts = [p for p in node.parts if p.kind != "reservedword"]
        cond, body = parts[0], parts[1]
        status = 0
        while True:                         # the call's budget ends a loop that does not
            ok = self.exec(cond, io) == 0
            if ok == until:
                return status
            status = self.exec(body, io)

    # --- simple commands ---------------------------------------------------------------------

    def exec_command(self, node, io):
        words, assigns, redirects = [], [], []
        for p in node.parts:
            if p.kind == "word":
                words.append(self.text(p))
            elif p.kind == "assignment" and not words:
                assigns.append(self.text(p))
            elif p.kind == "assignment":
                words.append(self.text(p))
            elif p.kind == "redirect":
                redirects.append(p)
        try:
            argv = self.expander.expand_words(words)
            values = [(a.split("=", 1)[0], self.expander.expand_string(a.split("=", 1)[1])) for a in assigns]
        except ExpansionError as e:
            self._flush_capture_err(io)
            io.error(f"bash: {e}")
            return 1
        self._flush_capture_err(io)
        if not argv:
            for name, value in values:
                self.vars[name] = value
            return self.last_status if words else 0
        for name, value in values:              # VAR=x cmd: good enough to set it
            self.vars[name] = value
        line = " ".join(words + ["&"] if self.background else words)
        if redirects:
            return self.with_redirects(redirects, io, lambda sub: self.call(argv, sub, line), argv[0])
        return self.call(argv, io, line)

    def _flush_capture_err(self, io):
        if self._pending_err:
            io.err.extend(self._pending_err)
            self._pending_err.clear()

    def call(self, argv, io, line):
        fn = COMMANDS.get(argv[0])
        if fn is None and "/" in argv[0]:       # /usr/bin/tee, /sbin/modprobe: the programs by path
            where, _, name = argv[0].rpartition("/")
            fn = COMMANDS.get(name) if where in BIN_DIRS and name not in SHELL_ONLY else None
            if fn is None:
                io.error(f"bash: {argv[0]}: No such file or directory")
                return 127
        if fn is None:
            io.error(f"bash: {argv[0]}: command not found")
            return 127
        try:
            return fn(self, argv, io, line)
        except (KernelCrashed, ExitShell, WorkBudgetExceeded, ArithError):
            raise
        except Exception as e:  # a bug of ours must not become a traceback in a notebook
            io.error(f"iommulab: internal error in {argv[0]}: {type(e).__name__}: {e}")
            return 70

    # --- redirections ------------------------------------------------------------------------

    def with_redirects(self, redirects, io, run, who):
        stdin = io.stdin
        out_target = None          # (path, append)
        err_mode = None            # None | "devnull" | "stdout" | path
        both = to_err = False      # &>: both to the file; >&2: stdout to stderr
        for r in redirects:
            fd = r.input if isinstance(r.input, int) else None
            target = r.output
            if isinstance(target, str):                  # N>&-: fd N closed
                if fd == 2:
                    err_mode = "devnull"
                elif fd in (None, 1):
                    out_target = None, False
                continue
            if r.type in (">&",) and isinstance(target, int) or (r.type == ">&" and fd == 2):
                if fd == 2 and (target == 1 or getattr(target, "word", "") == "1"):
                    err_mode = "stdout"
                elif fd in (None, 1) and target == 2:
                    to_err = True
                continue
            if isinstance(target, int):
                continue
            try:
                path = self.expander.expand_string(self.text(target))
            except ExpansionError as e:
                io.error(f"bash: {e}")
                return 1
            if r.type == "<":
                try:
                    stdin = self.k.read(self.abspath(path))
                except OSError as e:
                    io.error(f"bash: {path}: {strerror(e.errno)}")
                    return 1
                continue
            if r.type == "&>":
                both = True
            err = self.check_writable(path)                 # bash opens it first: 2> FILE too
            if fd == 2:
                if err:
                    io.error(f"bash: {path}: {strerror(err)}")
                    return 1
                err_mode = "devnull" if path == "/dev/null" else ("file", path)
                continue
            if err:
                io.error(f"bash: {path}: {strerror(err)}")
                return 1
            out_target = (path, r.type == ">>")
        sub = IO(stdin)
        status = run(sub)
        out = "".join(sub.out)
        if err_mode == "stdout" or both:
            out_err, sub.err = "".join(sub.err), []
            out = out + out_err
        if err_mode == "devnull":
            sub.err = []
        if to_err and out_target is None:
            sub.err.append(out)
            out = ""
        if out_target is None:
            io.out.append(out)
        elif out and out_target[0] is None:             # stdout closed: the write fails
            io.error(f"bash: {who}: write error: Bad file descriptor" if who in ("echo", "printf")
                     else f"{who}: standard output: Bad file descriptor")
            status = 1
        elif out:
            status = self.write_file(out_target[0], out, who, io, status)
        if isinstance(err_mode, tuple):
            err_text, sub.err = "".join(sub.err), []
            if err_text:
                status = self.write_file(err_mode[1], err_text, who, io, status)
        io.err.extend(sub.err)
        return status

    def abspath(self, path):
        return posixpath.normpath(posixpath.join(self.cwd, path)) if not path.startswith("/") else path

    def check_writable(self, path):
        """Opening for writing: 0, or the errno bash would report."""
        k = self.k
        full = self.abspath(path)
        if full == "/dev/null":
            return 0
        if not k.exists(full):
            return ENOENT if not k.isdir(posixpath.dirname(full)) else EACCES     # EACCES: read-only fs
        st = k.lstat(k.realpath(full))
        if st.kind == "dir":
            return EISDIR
        return 0 if st.writable else EACCES

    def write_file(self, path, data, who, io, status):
        full = self.abspath(path)
        try:
            res = self.k.write(full, data)
        except OSError as e:
            prefix = f"bash: {who}" if who in ("echo", "printf") else who
            io.error(f"{prefix}: write error: {strerror(e.errno)}")
            return 1
        if isinstance(res, PendingWrite):
            self.pending_job(res, f"{who} ... > {path}", io)
        return status

    def pending_job(self, res, cmdline, io):
        """A write the kernel blocks (unbind under a VM): it goes on as a job, as if typed with `&`
        (in `CMD &`, it is that job: exec_background makes it)."""
        if self.background and self.bg_started is not None:
            self.bg_started.append(res)
            io.error(f"iommulab: Linux blocks this write until user space lets go of the device ({res.reason}); "
                     "the job waits")
            return
        job = self.add_job(self.k.alloc_pid(), cmdline, pending=res)
        io.error(f"[{job.num}] {job.pid}")
        io.error(f"iommulab: Linux blocks this write until user space lets go of the device "
                 f"({res.reason}); it goes on as job [{job.num}]")

    # --- time travel: what a Timeline saves and restores with the kernel ----------------------

    def save_state(self):
        """The session's part of a moment: variables, cwd, options, history, the notes shown, and
        the job table. Jobs keep their identity across a restore (as KObjects do): a Job refers to
        a Process or PendingWrite of the kernel snapshot taken at the same moment."""
        return {"vars": dict(self.vars), "cwd": self.cwd, "options": dict(self.options),
                "last_bg_pid": self.last_bg_pid, "history": (self.history_count, tuple(self.history)),
                "notes": frozenset(self.__dict__.get("_notes", ())),
                "jobs": tuple((j, j.__dict__.copy()) for j in self.jobs)}

    def load_state(self, state):
        for job, fields in state["jobs"]:
            job.__dict__.clear()
            job.__dict__.update(fields)
        self.jobs = [job for job, _ in state["jobs"]]
        self.vars, self.cwd, self.options = dict(state["vars"]), state["cwd"], dict(state["options"])
        self.last_bg_pid = state["last_bg_pid"]
        self.history_count, self.history = state["history"][0], list(state["history"][1])
        self.__dict__["_notes"] = set(state["notes"])

    # --- paths and globbing ------------------------------------------------------------------

    def glob(self, field):
        """Pathname expansion of a field over the simulated tree. Every directory entry looked at,
        and every path component resolved, is a step of the call's budget: sysfs links lead back
        up (`/*/*/*/…` has no end)."""
        comps = glob_pattern_parts(field)
        absolute = field and field[0][0].startswith("/")
        bases = ["/"] if absolute else [""]
        comps = comps[1:] if absolute else comps
        budget = self.budget
        listed = False              # bases are names a directory listed (they exist)
        for comp in comps:
            if not comp:
                continue
            nxt = []
            if has_glob(comp):
                rx = component_regex(comp)
                for base in bases:
                    here = self.abspath(base or ".")
                    budget.step(here.count("/") + 1)
                    try:
                        names = sorted(self.k.listdir(here))
                    except OSError:
                        continue
                    budget.step(len(names))
                    nxt += [posixpath.join(base, n) if base else n for n in names if rx(n)]
                listed = True
            else:
                name = "".join(t for t, _ in comp)
                budget.step(len(bases))
                nxt = [posixpath.join(base, name) if base else name for base in bases]
                listed = False
            bases = nxt
        if listed:
            return sorted(bases)
        budget.step(sum(b.count("/") + 1 for b in bases))
        return sorted(b for b in bases if self.k.exists(self.abspath(b)))

    # --- jobs --------------------------------------------------------------------------------

    def add_job(self, pid, cmdline, process=None, pending=None, state="Running"):
        self.refresh_jobs()
        num = max((j.num for j in self.jobs), default=0) + 1
        job = Job(num, pid, cmdline, process, pending, state)
        self.jobs.append(job)
        self.last_bg_pid = pid
        return job

    def exec_background(self, node, io):
        """`CMD &`: bash prints `[N] PID` and goes on (status 0). Our commands finish at once,
        except those that start a process (QEMU), which stays a running job until it ends."""
        marker = len(io.err)
        io.err.append("")                                 # `[N] PID` goes here, before CMD's words
        outer, self.bg_started = self.bg_started, []
        self.background = True
        try:
            status = self.exec(node, io)
        finally:
            self.background = False
            started, self.bg_started = self.bg_started, outer
        cmdline = " ".join(self.text(node).split())
        if started and isinstance(started[-1], PendingWrite):       # a blocked write: the job waits in it
            job = self.add_job(self.k.alloc_pid(), cmdline, pending=started[-1])
        elif started:
            p = started[-1]
            job = self.add_job(p.pid, cmdline, process=p)
            job.exit_status = status
            job.refresh(self.k)
            if job.state != "Running":
                self.bg_status = status
        else:
            job = self.add_job(self.k.alloc_pid(), cmdline,
                               state="Done" if status == 0 else f"Exit {status}")
            self.bg_status = status or self.bg_status
        io.err[marker] = f"[{job.num}] {job.pid}\n"
        return 0

    def start_process(self, p, line, io):
        """A command started a long-lived process (QEMU): in `CMD &` the job is made by
        exec_background; typed without `&` it becomes a job too (the simulator does not block)."""
        if self.background and self.bg_started is not None:
            self.bg_started.append(p)
            return
        job = self.add_job(p.pid, line[:-2] if line.endswith(" &") else line, process=p)
        io.error(f"[{job.num}] {p.pid}")

    def refresh_jobs(self):
        for j in self.jobs:
            j.refresh(self.k)

    def finished_notices(self, only=None):
        """Lines bash prints before a prompt for jobs that ended; they leave the table.
        only: just these jobs (k.sh reports, like bash, the jobs that ended before the command)."""
        from .jobctl import job_line
        self.refresh_jobs()
        lines = []
        for j in list(self.jobs):
            if j.state != "Running" and (only is None or j in only):
                lines.append(job_line(self, j))
                self.jobs.remove(j)
        return lines


def _parse_message(e):
    msg = str(e).split(" (position")[0]
    if msg.startswith("unexpected EOF while looking for matching '") and msg.endswith("'"):
        msg = msg[:-3] + "`" + msg[-2:]                 # bash quotes the character `so'
    return msg
