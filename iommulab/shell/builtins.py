"""Shell builtins and the lab's own commands: sleep, true (and `:`), false, pwd, cd, export, unset, exit,
test/[, reboot, help, iommulab-why."""
import posixpath
import re

from ..kernel.pcidev import device_name
from .control import ExitShell
from .hostcmds import note_once


SLEEP_NOTE = ("iommulab: sleep returns at once: the simulated machine has no clock, and nothing "
              "in it changes while you wait")


def sleep(sh, argv, io, line):
    """GNU sleep's checks; then it returns at once (there is no simulated clock) and says so once."""
    if len(argv) < 2:
        io.error("sleep: missing operand\nTry 'sleep --help' for more information.")
        return 1
    for a in argv[1:]:
        if not re.fullmatch(r"(\d+(\.\d*)?|\.\d+)[smhd]?|inf(inity)?", a):
            io.error(f"sleep: invalid time interval '{a}'\nTry 'sleep --help' for more information.")
            return 1
    note_once(sh, "sleep", SLEEP_NOTE, io)
    return 0


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


WHY_HELP = """\
Usage: iommulab-why [-m|--membership] [-o|--ownership] DEVICE
       iommulab-why [-m|--membership] [-o|--ownership] [group] N
Explain an IOMMU group (an iommulab command; a real host has none).
  DEVICE            a device (0000:03:00.1, or 03:00.1 in PCI domain 0000): why it is
                    in its group, then who holds that group
  group N, N        IOMMU group N: who holds it, then why its devices are together
  -m, --membership  only why the devices share the group, rule by rule
  -o, --ownership   only whether user space may have the group and why: its owner,
                    owner_cnt and what each count is
      --help        show this help
The ownership lines read the iommu core's private state (owner, owner_cnt), which no file
on a real host shows; /sys/kernel/debug/iommulab/groups lists it (iommulab only, too).
"""
WHY_OWNERSHIP_NOTE = "ownership (iommulab shows the kernel's private state here; a real host shows no owner_cnt):"


def iommulab_why(sh, argv, io, line):
    """iommulab-why DEVICE | [group] N: why devices share a group, and who holds it."""
    from ..kernel.explain import explain_group, explain_ownership
    args, chosen = [], set()
    for a in argv[1:]:
        if a == "--help":
            io.write(WHY_HELP)
            return 0
        if a in ("-m", "--membership", "-o", "--ownership"):
            chosen.add("membership" if a in ("-m", "--membership") else "ownership")
            continue
        if a.startswith("-"):
            io.error(f"iommulab-why: unknown option {a}\nTry 'iommulab-why --help' for more information.")
            return 2
        args.append(a)
    if args[:1] == ["group"] and len(args) == 2:
        args = ["group " + args[1]]
    if len(args) != 1:
        io.error("usage: iommulab-why DEVICE | [group] N   (for example: iommulab-why 0000:01:00.1, "
                 "iommulab-why group 45; see --help)")
        return 2
    k, target = sh.k, _why_target(sh.k, args[0])
    if isinstance(target, str):
        io.error(f"iommulab-why: {target}")
        return 1
    dev, group = target
    parts = chosen or {"membership", "ownership"}
    out = []
    members = group.devices if dev is None else [dev]
    if "membership" in parts and members:
        out += explain_group(k, members[0])
    if "ownership" in parts:
        out += [WHY_OWNERSHIP_NOTE] + ["  " + s for s in explain_ownership(k, dev if dev is not None else group)]
    io.write("".join(s + "\n" for s in out))
    return 0


def _why_target(k, arg):
    """(device or None, group or None) for the argument, or the error text."""
    words = arg.split()
    if words[0] == "group" or (arg.isdigit() and arg not in k.devices):
        num = words[-1]
        if not num.isdigit() or int(num) not in k.iommu_groups:
            return f"group {num}: no such IOMMU group"
        return None, k.iommu_groups[int(num)]
    name = device_name(k.devices, arg)
    if name is None:
        return f"{arg}: no such device"
    return k.devices[name], k.devices[name].iommu_group


def reboot(sh, argv, io, line):
    """Boot the scenario again (the way out of a crashed kernel)."""
    sh.k.reboot()
    sh.jobs.clear()
    sh.cwd = "/"
    io.write("Rebooting.\n")
    return 0


def help_(sh, argv, io, line):
    io.write("Commands of the simulated host:\n  " + " ".join(sorted(sh.commands)) + "\n"
             "Paths: /sys (bus, devices, kernel/iommu_groups, module), /dev (vfio, iommu), /proc.\n"
             "iommulab only (not on a real host): iommulab-why, undo, steps, /sys/kernel/debug/iommulab.\n")
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


COMMANDS = {":": true, "shopt": shopt, "set": set_, "sleep": sleep, "true": true, "false": false, "pwd": pwd, "cd": cd,
            "export": export, "unset": unset, "exit": exit_, "test": test, "[": test, "reboot": reboot, "help": help_,
            "iommulab-why": iommulab_why}
