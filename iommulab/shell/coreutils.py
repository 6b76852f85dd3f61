"""echo, printf, cat, ls, readlink, find, basename, dirname, dmesg, grep, head, tail, wc, sort,
uniq, sleep, true, false, pwd, cd, export, unset, exit, test/[, reboot, help — over the
simulated file view. Each takes (session, argv, io, line) and returns an exit status."""
import posixpath
import re

from ..kernel.errno import strerror

DATE = "Jan  1 00:00"


def _err(io, cmd, path, e):
    io.error(f"{cmd}: {path}: {strerror(e.errno)}")


def echo(sh, argv, io, line):
    args, newline, escapes = argv[1:], True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args[0][1:]:
            newline = newline and flag != "n"
            escapes = True if flag == "e" else (False if flag == "E" else escapes)
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text, stop = _unescape(text)
        if stop:
            newline = False
    io.write(text + ("\n" if newline else ""))
    return 0


_ESC = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r", "v": "\v", "f": "\f", "e": "\x1b"}


def _unescape(text):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "c":
                return "".join(out), True
            if n in _ESC:
                out.append(_ESC[n])
                i += 2
                continue
            m = re.match(r"0([0-7]{0,3})|x([0-9a-fA-F]{1,2})", text[i + 1:])
            if m:
                out.append(chr(int(m.group(1) or "0", 8) if m.group(2) is None else int(m.group(2), 16)))
                i += 1 + m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out), False


def printf(sh, argv, io, line):
    if len(argv) < 2:
        io.error("bash: printf: usage: printf [-v var] format [arguments]")
        return 2
    fmt, args = argv[1], argv[2:]
    fmt, _ = _unescape(fmt)
    specs = re.findall(r"%[-0-9.]*[sdxXo%]", fmt)
    n = max(1, len([s for s in specs if s != "%%"]))
    chunks = [args[i:i + n] for i in range(0, max(len(args), 1), n)] or [[]]
    status = 0
    for chunk in chunks:
        vals = iter(chunk)

        def sub(m):
            nonlocal status
            spec = m.group()
            if spec == "%%":
                return "%"
            v = next(vals, "")
            if spec[-1] in "dxXo":
                try:
                    v = int(v, 0) if v else 0
                except ValueError:
                    io.error(f"bash: printf: {v}: invalid number")
                    status, v = 1, 0
            return ("%" + spec[1:]) % v
        io.write(re.sub(r"%[-0-9.]*[sdxXo%]", sub, fmt))
    return status


def cat(sh, argv, io, line):
    files = [a for a in argv[1:] if a != "-"] if len(argv) > 1 else []
    if not files:
        io.write(io.stdin)
        return 0
    status = 0
    for f in files:
        try:
            io.write(sh.k.read(sh.abspath(f)))
        except OSError as e:
            _err(io, "cat", f, e)
            status = 1
    return status


def _split_opts(argv, allowed):
    opts, args = set(), []
    for a in argv[1:]:
        if a.startswith("-") and len(a) > 1 and not args:
            for ch in a[1:]:
                if ch not in allowed:
                    return None, a
                opts.add(ch)
        else:
            args.append(a)
    return opts, args


def _long_line(sh, full, name):
    k = sh.k
    st = k.lstat(full)
    target = ""
    if st.kind == "link":
        target = " -> " + k.readlink(full)
    size = "10, 196" if st.kind == "chardev" else str(st.size)
    return f"{st.mode} 1 root root {size:>4} {DATE} {name}{target}"


def ls(sh, argv, io, line):
    opts, args = _split_opts(argv, "la1dL")
    if opts is None:
        io.error(f"ls: invalid option -- '{args[1:]}'\nTry 'ls --help' for more information.")
        return 2
    k = sh.k
    args = args or ["."]
    status, blocks = 0, []
    files, dirs = [], []
    for a in args:
        full = sh.abspath(a)
        try:
            st = k.lstat(full)
        except OSError as e:
            io.error(f"ls: cannot access '{a}': {strerror(e.errno)}")
            status = 2
            continue
        is_dir = st.kind == "dir" or (st.kind == "link" and k.isdir(full) and "d" not in opts
                                       and ("l" not in opts or "L" in opts or a.endswith("/")))
        (dirs if is_dir and "d" not in opts else files).append((a, full))
    for a, full in files:
        blocks.append(_long_line(sh, full, a) if "l" in opts else a)
    out = ["\n".join(blocks) + "\n"] if blocks else []
    for i, (a, full) in enumerate(dirs):
        names = sorted(k.listdir(full))
        if "a" in opts:
            names = [".", ".."] + names
        lines = []
        if len(args) > 1:
            lines.append(("\n" if out or i else "") + f"{a}:")
        if "l" in opts:
            lines.append("total 0")
            lines += [_long_line(sh, posixpath.join(full, n), n) for n in names if n not in (".", "..")]
        else:
            lines += names
        if lines:
            out.append("\n".join(lines) + "\n")
    io.write("".join(out))
    return status


def readlink(sh, argv, io, line):
    opts, args = _split_opts(argv, "fenqs")
    if opts is None or not args:
        io.error("readlink: missing operand" if opts is not None else f"readlink: invalid option -- '{args[1:]}'")
        return 1
    status = 0
    for a in args:
        full = sh.abspath(a)
        try:
            io.write((sh.k.realpath(full) if opts & {"f", "e"} else sh.k.readlink(full)) + "\n")
        except OSError:
            status = 1
    return status


def find(sh, argv, io, line):
    k = sh.k
    starts, i = [], 1
    while i < len(argv) and not argv[i].startswith("-"):
        starts.append(argv[i])
        i += 1
    want_type, name_pat, maxdepth = None, None, None
    while i < len(argv):
        opt = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else None
        if opt in ("-type", "-name", "-maxdepth") and val is None:
            io.error(f"find: missing argument to `{opt}'")
            return 1
        if opt == "-type":
            if val not in ("l", "d", "f", "c"):
                io.error(f"find: Unknown argument to -type: {val}")
                return 1
            want_type = val
        elif opt == "-name":
            name_pat = val
        elif opt == "-maxdepth":
            if not val.isdigit():
                io.error(f"find: Expected a positive decimal integer argument to -maxdepth, but got `{val}'")
                return 1
            maxdepth = int(val)
        else:
            io.error(f"find: unknown predicate `{opt}'")
            return 1
        i += 2
    from fnmatch import fnmatchcase
    kinds = {"dir": "d", "link": "l", "file": "f", "chardev": "c"}
    status, out = 0, []

    def visit(shown, full, depth):
        st = k.lstat(full)
        base = posixpath.basename(shown.rstrip("/")) or shown
        if (want_type is None or kinds[st.kind] == want_type) and (name_pat is None or fnmatchcase(base, name_pat)):
            out.append(shown)
        if st.kind == "dir" and (maxdepth is None or depth < maxdepth):
            for n in k.listdir(full):
                visit(shown.rstrip("/") + "/" + n, posixpath.join(full, n), depth + 1)

    for s in starts or ["."]:
        full = sh.abspath(s)
        try:
            k.lstat(full)
        except OSError as e:
            io.error(f"find: '{s}': {strerror(e.errno)}")
            status = 1
            continue
        visit(s, k.realpath(full) if s.endswith("/") else full, 0)
    io.write("".join(p + "\n" for p in out))
    return status


def basename(sh, argv, io, line):
    if len(argv) < 2:
        io.error("basename: missing operand")
        return 1
    name = posixpath.basename(argv[1].rstrip("/")) or "/"
    if len(argv) > 2 and name.endswith(argv[2]) and name != argv[2]:
        name = name[:-len(argv[2])]
    io.write(name + "\n")
    return 0


def dirname(sh, argv, io, line):
    if len(argv) < 2:
        io.error("dirname: missing operand")
        return 1
    io.write((posixpath.dirname(argv[1].rstrip("/")) or ".") + "\n")
    return 0


def dmesg(sh, argv, io, line):
    lines = sh.k.dmesg()
    io.write("".join(f"{ln}\n" for ln in lines))
    return 0


def _input_texts(sh, files, io, cmd):
    if not files:
        return [("", io.stdin)], 0
    out, status = [], 0
    for f in files:
        try:
            out.append((f, sh.k.read(sh.abspath(f))))
        except OSError as e:
            _err(io, cmd, f, e)
            status = 2
    return out, status


def grep(sh, argv, io, line):
    opts, args = set(), []
    for a in argv[1:]:
        if a.startswith("-") and len(a) > 1 and not args:
            bad = set(a[1:]) - set("ivcqEFwhnH")
            if bad:
                io.error(f"grep: invalid option -- '{sorted(bad)[0]}'\nUsage: grep [OPTION]... PATTERNS [FILE]...")
                return 2
            opts |= set(a[1:])
        else:
            args.append(a)
    if not args:
        io.error("Usage: grep [OPTION]... PATTERNS [FILE]...")
        return 2
    pattern, files = args[0], args[1:]
    if "F" in opts:
        rx = re.escape(pattern)
    elif "E" in opts:
        rx = pattern
    else:   # basic regular expressions: \| \( \) \+ are the special ones
        rx = re.sub(r"\\([|()+?{}])|([|()+?{}])", lambda m: m.group(1) or "\\" + m.group(2), pattern)
    if "w" in opts:
        rx = rf"\b(?:{rx})\b"
    try:
        cre = re.compile(rx, re.I if "i" in opts else 0)
    except re.error as e:
        io.error(f"grep: {e}")
        return 2
    texts, status = _input_texts(sh, files, io, "grep")
    count = 0
    for name, text in texts:
        for n, ln in enumerate(text.splitlines(), 1):
            hit = bool(cre.search(ln)) != ("v" in opts)
            if hit:
                count += 1
                if not opts & {"c", "q"}:
                    prefix = f"{name}:" if len(files) > 1 and "h" not in opts or "H" in opts else ""
                    io.write(prefix + (f"{n}:" if "n" in opts else "") + ln + "\n")
    if "c" in opts:
        io.write(f"{count}\n")
    return status if status else (0 if count else 1)


def _count_opt(argv, io, cmd):
    n, files, i = 10, [], 1
    while i < len(argv):
        a = argv[i]
        if a == "-n" and i + 1 < len(argv):
            val = argv[i + 1]
            i += 2
        elif re.fullmatch(r"-n?\d+", a):
            val = a.lstrip("-n")
            i += 1
        elif a.startswith("-") and len(a) > 1:
            io.error(f"{cmd}: invalid option -- '{a[1:]}'")
            return None, None
        else:
            files.append(a)
            i += 1
            continue
        if not val.lstrip("-+").isdigit():
            io.error(f"{cmd}: invalid number of lines: '{val}'")
            return None, None
        n = int(val.lstrip("+"))
    return n, files


def head(sh, argv, io, line):
    n, files = _count_opt(argv, io, "head")
    if n is None:
        return 1
    texts, status = _input_texts(sh, files, io, "head")
    for _, text in texts:
        io.write("".join(ln + "\n" for ln in text.splitlines()[:n]))
    return status


def tail(sh, argv, io, line):
    n, files = _count_opt(argv, io, "tail")
    if n is None:
        return 1
    texts, status = _input_texts(sh, files, io, "tail")
    for _, text in texts:
        lines = text.splitlines()
        io.write("".join(ln + "\n" for ln in (lines[-n:] if n else [])))
    return status


def wc(sh, argv, io, line):
    opts, files = _split_opts(argv, "lwc")
    if opts is None:
        io.error(f"wc: invalid option -- '{files[1:]}'")
        return 1
    texts, status = _input_texts(sh, files, io, "wc")
    for name, text in texts:
        counts = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
        shown = [str(counts[c]) for c in "lwc" if c in opts] or [str(counts[c]) for c in "lwc"]
        io.write(" ".join(shown) + (f" {name}" if name else "") + "\n")
    return status


def _version_key(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def sort(sh, argv, io, line):
    opts, files = _split_opts(argv, "nruV")
    if opts is None:
        io.error(f"sort: invalid option -- '{files[1:]}'")
        return 2
    texts, status = _input_texts(sh, files, io, "sort")
    lines = [ln for _, t in texts for ln in t.splitlines()]
    if "n" in opts:
        def key(s):
            m = re.match(r"\s*(-?\d+(\.\d+)?)", s)
            return (float(m.group(1)) if m else 0.0, s)
    elif "V" in opts:
        key = _version_key
    else:
        key = None
    lines.sort(key=key, reverse="r" in opts)
    if "u" in opts:
        lines = list(dict.fromkeys(lines))
    io.write("".join(ln + "\n" for ln in lines))
    return status


def uniq(sh, argv, io, line):
    out, prev = [], object()
    for ln in io.stdin.splitlines():
        if ln != prev:
            out.append(ln)
        prev = ln
    io.write("".join(ln + "\n" for ln in out))
    return 0


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


COMMANDS = {"echo": echo, "printf": printf, "cat": cat, "ls": ls, "readlink": readlink, "find": find,
            "basename": basename, "dirname": dirname, "dmesg": dmesg, "grep": grep, "head": head,
            "tail": tail, "wc": wc, "sort": sort, "uniq": uniq, "sleep": sleep, "true": true,
            "false": false, "pwd": pwd, "cd": cd, "export": export, "unset": unset, "exit": exit_,
            "test": test, "[": test, "reboot": reboot, "help": help_, "iommulab-why": iommulab_why}
