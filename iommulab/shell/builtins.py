"""Shell builtins and the lab's own commands: sleep, true, false, pwd, cd, export, unset, exit,
test/[, reboot, help, iommulab-why."""
import posixpath
import re


def sleep(sh, argv, io, line):
    if len(argv) < 2:
        io.error("sleep: missing operand")
        return 1
    if not re.fullmatch(r"\d+(\.\d*)?[smhd]?", argv[1]):
        io.error(f"sleep: invalid time interval '{argv[1]}'")
        return 1
    return 0            # simulated time: nothing happens while we wait


def true(sh, argv, io, line):
    return 0


def false(sh, argv, io, line):
    return 1


def pwd(sh, argv, io, line):
    io.write(sh.cwd + "\n")
    return 0


def cd(sh, argv, io, line):
    target = argv[1] if len(argv) > 1 else "/"
    full = sh.abspath(target)
    if not sh.k.exists(full):
        io.error(f"bash: cd: {target}: No such file or directory")
        return 1
    if not sh.k.isdir(full):
        io.error(f"bash: cd: {target}: Not a directory")
        return 1
    sh.cwd = sh.vars["PWD"] = posixpath.normpath(full)
    return 0


def export(sh, argv, io, line):
    for a in argv[1:]:
        if "=" in a:
            name, value = a.split("=", 1)
            sh.vars[name] = value
    return 0


def unset(sh, argv, io, line):
    for a in argv[1:]:
        sh.vars.pop(a, None)
    return 0


def exit_(sh, argv, io, line):
    from .session import ExitShell
    raise ExitShell(int(argv[1]) if len(argv) > 1 and argv[1].lstrip("-").isdigit() else sh.last_status)


def test(sh, argv, io, line):
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            io.error("bash: [: missing `]'")
            return 2
        args = args[:-1]
    negate = False
    if args and args[0] == "!":
        negate, args = True, args[1:]
    k = sh.k
    if not args:
        ok = False
    elif len(args) == 1:
        ok = args[0] != ""
    elif len(args) == 2:
        op, val = args
        full = sh.abspath(val)
        checks = {"-e": lambda: k.exists(full), "-d": lambda: k.isdir(full),
                  "-f": lambda: k.exists(full) and k.lstat(k.realpath(full)).kind == "file",
                  "-L": lambda: _is_link(k, full), "-h": lambda: _is_link(k, full),
                  "-z": lambda: val == "", "-n": lambda: val != "",
                  "-r": lambda: k.exists(full), "-w": lambda: k.exists(full) and k.lstat(k.realpath(full)).writable}
        if op not in checks:
            io.error(f"bash: {argv[0]}: {op}: unary operator expected")
            return 2
        ok = checks[op]()
    elif len(args) == 3:
        a, op, b = args
        if op in ("=", "=="):
            ok = a == b
        elif op == "!=":
            ok = a != b
        elif op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
            try:
                x, y = int(a), int(b)
            except ValueError:
                io.error(f"bash: {argv[0]}: {a if not a.lstrip('-').isdigit() else b}: integer expression expected")
                return 2
            ok = {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-le": x <= y, "-gt": x > y, "-ge": x >= y}[op]
        else:
            io.error(f"bash: {argv[0]}: {op}: binary operator expected")
            return 2
    else:
        io.error(f"bash: {argv[0]}: too many arguments")
        return 2
    return 0 if ok != negate else 1


def _is_link(k, path):
    try:
        return k.lstat(path).kind == "link"
    except OSError:
        return False


def iommulab_why(sh, argv, io, line):
    """iommulab-why DEVICE: why the device is in its IOMMU group, rule by rule."""
    from ..kernel.explain import explain_group
    if len(argv) != 2:
        io.error("usage: iommulab-why DEVICE   (for example: iommulab-why 0000:01:00.1)")
        return 2
    name = argv[1]
    if name not in sh.k.devices and f"0000:{name}" in sh.k.devices:
        name = f"0000:{name}"
    if name not in sh.k.devices:
        io.error(f"iommulab-why: {argv[1]}: no such device")
        return 1
    io.write("".join(line + "\n" for line in explain_group(sh.k, name)))
    return 0


def reboot(sh, argv, io, line):
    """Boot the scenario again (the way out of a crashed kernel)."""
    sh.k.reboot()
    sh.jobs.clear()
    sh.cwd = "/"
    io.write("Rebooting.\n")
    return 0


def help_(sh, argv, io, line):
    from .commands import COMMANDS
    io.write("Commands of the simulated host:\n  " + " ".join(sorted(COMMANDS)) + "\n"
             "Paths: /sys (bus, devices, kernel/iommu_groups, module), /dev (vfio, iommu), /proc.\n")
    return 0


def shopt(sh, argv, io, line):
    """shopt -s/-u OPTION: nullglob is honoured (a glob without matches expands to nothing)."""
    if len(argv) >= 3 and argv[1] in ("-s", "-u"):
        for name in argv[2:]:
            sh.options[name] = argv[1] == "-s"
        return 0
    io.write("".join(f"{name}\t{'on' if on else 'off'}\n" for name, on in sorted(sh.options.items())))
    return 0


def set_(sh, argv, io, line):
    """set -e/-u/-x/-o …: accepted; the simulated shell runs scripts the same way either way."""
    return 0


COMMANDS = {"shopt": shopt, "set": set_, "sleep": sleep, "true": true, "false": false, "pwd": pwd, "cd": cd, "export": export,
            "unset": unset, "exit": exit_, "test": test, "[": test, "reboot": reboot, "help": help_,
            "iommulab-why": iommulab_why}
