"""What VFIO guides type around the sysfs writes: tee, sudo, sh/bash -c, pgrep.

Each answers as on a Debian host (GNU coreutils 9, sudo 1.9, procps-ng 4): the same output,
messages and exit statuses. Each takes (session, argv, io, line) and returns an exit status.
"""
import re

from ..kernel.errno import strerror
from ..kernel.pending import PendingWrite
from .control import ExitShell

_UNQUOTED = re.compile(r"[A-Za-z0-9_./+,%=@^-]+")


def quotef(name):
    """coreutils' quotef(): shell-escape quoting, colons included (quotearg_n_style_colon)."""
    if _UNQUOTED.fullmatch(name):
        return name
    return "'" + name.replace("'", "'\\''") + "'"


def tee(sh, argv, io, line):
    """tee [-a] [-i] [-p] FILE...: stdin to stdout and to each FILE (coreutils tee.c)."""
    files, append, only_files = [], False, False
    for a in argv[1:]:
        if only_files or not a.startswith("-") or a == "-":
            files.append(a)
        elif a == "--":
            only_files = True
        elif a in ("--append", "--ignore-interrupts") or a.startswith("--output-error"):
            append = append or a == "--append"
        elif a.startswith("--"):
            io.error(f"tee: unrecognized option '{a}'\nTry 'tee --help' for more information.")
            return 1
        else:
            bad = set(a[1:]) - set("aip")
            if bad:
                io.error(f"tee: invalid option -- '{sorted(bad)[0]}'\nTry 'tee --help' for more information.")
                return 1
            append = append or "a" in a
    data, status = io.stdin, 0
    io.write(data)
    for f in files:
        err = sh.check_writable(f)
        if err:
            io.error(f"tee: {quotef(f)}: {strerror(err)}")
            status = 1
            continue
        if not data:
            continue
        try:
            res = sh.k.write(sh.abspath(f), data)
        except OSError as e:
            io.error(f"tee: {quotef(f)}: {strerror(e.errno)}")
            status = 1
            continue
        if isinstance(res, PendingWrite):
            sh.pending_job(res, f"{line}", io)
    return status


# --- sudo, sh -c ---------------------------------------------------------------------------

SUDO_NOTE = "iommulab: you are already root here; sudo runs the command as is"
SUDO_USAGE = """\
usage: sudo -h | -K | -k | -V
usage: sudo -v [-ABkNnS] [-g group] [-h host] [-p prompt] [-u user]
usage: sudo -l [-ABkNnS] [-g group] [-h host] [-p prompt] [-U user] [-u user] [command [arg ...]]
usage: sudo [-ABbEHkNnPS] [-r role] [-t type] [-C num] [-D directory] [-g group] [-h host] [-p prompt] \
[-R directory] [-T timeout] [-u user] [VAR=value] [-i | -s] [command [arg ...]]
usage: sudo -e [-ABkNnS] [-r role] [-t type] [-C num] [-D directory] [-g group] [-h host] [-p prompt] \
[-R directory] [-T timeout] [-u user] file ..."""
_SUDO_FLAGS = set("ABbEHkNnPSKV")
_SUDO_VALUES = set("ugrtCDhpRTU")
# bash builtins with no program of that name: sudo cannot run them, nor can a path name them
SHELL_ONLY = {"cd", "export", "unset", "exit", "shopt", "set", "jobs", "wait", "help", "source", ".", "history",
              "undo", "steps"}
BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def note_once(sh, key, text, io):
    """A simulator's note (marked `iommulab:`), printed the first time in a session only."""
    seen = sh.__dict__.setdefault("_notes", set())
    if key not in seen:
        seen.add(key)
        io.error(text)


def sudo(sh, argv, io, line):
    """sudo [-i|-s] [-u root] CMD...: you are root already, so CMD runs as it is."""
    args, login, user = argv[1:], False, "root"
    while args and args[0].startswith("-") and args[0] != "-":
        a = args.pop(0)
        if a == "--":
            break
        if a in ("--login", "--shell"):
            login = True
            continue
        if a in ("--preserve-env", "--non-interactive", "--set-home") or a.startswith("--preserve-env="):
            continue
        if a.startswith("--user"):
            user = a.partition("=")[2] or (args.pop(0) if args else "")
            continue
        if a.startswith("--"):
            io.error(f"sudo: unrecognized option '{a}'\n{SUDO_USAGE}")
            return 1
        for j, c in enumerate(a[1:], 1):
            if c in "is":
                login = True
            elif c in _SUDO_VALUES:
                val = a[j + 1:] or (args.pop(0) if args else None)
                if val is None:
                    io.error(f"sudo: option requires an argument -- '{c}'\n{SUDO_USAGE}")
                    return 1
                if c == "u":
                    user = val
                break
            elif c == "V":
                io.write("Sudo version 1.9.13p3\n")
                return 0
            elif c not in _SUDO_FLAGS:
                io.error(f"sudo: invalid option -- '{c}'\n{SUDO_USAGE}")
                return 1
    while args and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", args[0]):
        args = args[1:]                       # sudo VAR=value CMD: the environment is not simulated
    if user not in ("root", "#0", "0"):
        io.error(f"sudo: unknown user {user}")
        return 1
    if not args:
        if login:
            note_once(sh, "sudo -i", "iommulab: you are already root here; sudo -i starts no new shell", io)
            return 0
        io.error(SUDO_USAGE)
        return 1
    note_once(sh, "sudo", SUDO_NOTE, io)
    where, _, name = args[0].rpartition("/")
    if where and where not in BIN_DIRS:
        name = ""
    if name in SHELL_ONLY or name not in sh.commands:
        io.error(f"sudo: {args[0]}: command not found")
        return 1
    return sh.call(args, io, line)


def sh_c(sh, argv, io, line):
    """sh -c SCRIPT / bash -c SCRIPT: the script in a subshell (its variables and cd stay in it)."""
    prog = argv[0]
    args = argv[1:]
    while args and args[0] in ("-e", "-x", "-u", "-l", "-i", "--login", "--norc", "--noprofile"):
        args = args[1:]
    if not args:
        io.error(f"iommulab: an interactive {prog} inside this shell is not simulated; type the commands here")
        return 0
    if args[0] != "-c":
        io.error(f"{prog}: {args[0]}: No such file or directory" if prog == "bash"
                 else f"{prog}: 0: cannot open {args[0]}: No such file")
        return 127 if prog == "bash" else 2
    if len(args) < 2:
        io.error(f"{prog}: -c: option requires an argument" if prog == "bash"
                 else f"{prog}: 0: -c requires an argument")
        return 2
    from .arith import ArithError
    saved = dict(sh.vars), sh.cwd, dict(sh.options)
    try:
        return sh.run_source(args[1], io)
    except ExitShell as e:
        return e.status
    except ArithError as e:         # that shell ends; ours goes on
        io.error(f"{prog}: {e}")
        return 1
    finally:
        sh.vars, sh.cwd, sh.options = saved[0], saved[1], saved[2]


# --- pgrep ---------------------------------------------------------------------------------

PGREP_USAGE = """
Usage:
 pgrep [options] <pattern>

Options:
 -d, --delimiter <string>  specify output delimiter
 -l, --list-name           list PID and process name
 -a, --list-full           list PID and full command line
 -v, --inverse             negates the matching
 -w, --lightweight         list all TID
 -c, --count               count of matching processes
 -f, --full                use full process name to match
 -g, --pgroup <PGID,...>   match listed process group IDs
 -G, --group <GID,...>     match real group IDs
 -i, --ignore-case         match case insensitively
 -n, --newest              select most recently started
 -o, --oldest              select least recently started
 -O, --older <seconds>     select where older than seconds
 -P, --parent <PPID,...>   match only child processes of the given parent
 -s, --session <SID,...>   match session IDs
 -t, --terminal <tty,...>  match by controlling terminal
 -u, --euid <ID,...>       match by effective IDs
 -U, --uid <ID,...>        match by real IDs
 -x, --exact               match exactly with the command name
 -F, --pidfile <file>      read PIDs from file
 -L, --logpidfile          fail if PID file is not locked
 -r, --runstates <state>   match runstates [D,S,Z,...]
 -A, --ignore-ancestors    exclude our ancestors from results
 --cgroup <grp,...>        match by cgroup v2 names
 --ns <PID>                match the processes that belong to the same
                           namespace as <pid>
 --nslist <ns,...>         list which namespaces will be considered for
                           the --ns option.
                           Available namespaces: ipc, mnt, net, pid, user, uts

 -h, --help     display this help and exit
 -V, --version  output version information and exit

For more details see pgrep(1)."""
_PGREP_LONG = {"--list-name": "l", "--list-full": "a", "--inverse": "v", "--count": "c", "--full": "f",
               "--ignore-case": "i", "--newest": "n", "--oldest": "o", "--exact": "x"}
COMM_LEN = 15          # TASK_COMM_LEN - 1: what /proc/PID/comm (and pgrep without -f) sees


def _processes(sh):
    """(pid, comm, cmdline) of every simulated process, the session's bash included."""
    rows = [(sh.pid, "bash", "-bash")]
    rows += [(p.pid, p.name[:COMM_LEN], p.cmdline) for p in sh.k.processes.values() if p.alive]
    return sorted(rows)


def pgrep(sh, argv, io, line):
    """pgrep [-l|-a] [-f] [-x] [-i] [-v] [-c] [-n|-o] [-d DELIM] PATTERN (procps-ng 4.0)."""
    flags, delim, patterns, args = set(), "\n", [], argv[1:]
    while args:
        a = args.pop(0)
        if a in _PGREP_LONG:
            flags.add(_PGREP_LONG[a])
        elif a in ("-V", "--version"):
            io.write("pgrep from procps-ng 4.0.2\n")
            return 0
        elif a in ("-h", "--help"):
            io.write(PGREP_USAGE.lstrip("\n") + "\n")
            return 0
        elif a.startswith("-d") or a.startswith("--delimiter"):
            delim = a[2:] if a.startswith("-d") and len(a) > 2 else (a.partition("=")[2] or
                                                                    (args.pop(0) if args else "\n"))
        elif a.startswith("-") and len(a) > 1:
            bad = set(a[1:]) - set("lavcfinxw")
            if bad or a.startswith("--"):
                what = f"unrecognized option '{a}'" if a.startswith("--") else f"invalid option -- '{sorted(bad)[0]}'"
                io.error(f"pgrep: {what}\n{PGREP_USAGE}")
                return 2
            flags |= set(a[1:])
        else:
            patterns.append(a)
    if not patterns:
        io.error("pgrep: no matching criteria specified\nTry `pgrep --help' for more information.")
        return 2
    if len(patterns) > 1:
        io.error("pgrep: only one pattern can be provided\nTry `pgrep --help' for more information.")
        return 2
    pattern = patterns[0]
    try:
        rx = re.compile(pattern, re.I if "i" in flags else 0)
    except re.error:
        io.error("pgrep: regex error: Unmatched ( or \\(" if "(" in pattern
                 else "pgrep: regex error: Invalid regular expression")
        return 2
    if "f" not in flags and len(pattern) > COMM_LEN and "x" not in flags:
        io.error("pgrep: pattern that searches for process name longer than 15 characters will result "
                 "in zero matches\nTry `pgrep -f' option to match against the complete command line.")
        return 1
    found = []
    for pid, comm, cmdline in _processes(sh):
        subject = cmdline if "f" in flags else comm
        hit = bool(rx.fullmatch(subject) if "x" in flags else rx.search(subject))
        if hit != ("v" in flags):
            found.append((pid, comm, cmdline))
    if found and "n" in flags:
        found = found[-1:]
    elif found and "o" in flags:
        found = found[:1]
    if "c" in flags:
        io.write(f"{len(found)}\n")
    elif found:
        shown = [f"{pid} {cmd}" if "a" in flags else f"{pid} {comm}" if "l" in flags else str(pid)
                 for pid, comm, cmd in found]
        io.write(delim.join(shown) + "\n")
    return 0 if found else 1


def chown(sh, argv, io, line):
    """chown OWNER[:GROUP] FILE...: the simulated host has one user, root (as vfio.rst's
    `chown user:user /dev/vfio/26` shows, a real host answers so for a user it lacks)."""
    args = [a for a in argv[1:] if not a.startswith("-")]
    if len(args) < 2:
        io.error(f"chown: missing operand{' after ' + repr(args[0]) if args else ''}\n"
                 "Try 'chown --help' for more information.")
        return 1
    owner, files = args[0], args[1:]
    user, _, group = owner.partition(":")
    if user not in ("", "root", "0") or group not in ("", "root", "0"):
        io.error(f"chown: invalid {'user' if user not in ('', 'root', '0') else 'group'}: '{owner}'")
        return 1
    status = 0
    for f in files:
        if not sh.k.exists(sh.abspath(f)):
            io.error(f"chown: cannot access '{f}': No such file or directory")
            status = 1
    return status


def whoami(sh, argv, io, line):
    io.write("root\n")
    return 0


def id_(sh, argv, io, line):
    io.write("0\n" if "-u" in argv else "uid=0(root) gid=0(root) groups=0(root)\n")
    return 0


COMMANDS = {"whoami": whoami, "id": id_, "tee": tee, "sudo": sudo, "sh": sh_c, "bash": sh_c, "pgrep": pgrep,
            "chown": chown}
