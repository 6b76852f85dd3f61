"""File tools over the simulated file view: echo, printf, cat, ls, readlink, find, basename,
dirname, dmesg. Each takes (session, argv, io, line) and returns an exit status."""
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

        def sub(m, vals=vals):
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
            sh.budget.data(max(map(int, re.findall(r"\d+", spec)), default=0))   # %0999999999d: bounded
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


def _long_lines(sh, entries):
    """ls -l lines for (full path, shown name) pairs. As GNU ls does per listing, device numbers
    print as "major, minor" with both columns aligned, and the size column is as wide as its
    widest entry."""
    k = sh.k
    stats = [(k.lstat(full), full, name) for full, name in entries]
    devs = [st.rdev for st, _, _ in stats if st.kind == "chardev" and st.rdev]
    maj_w = max((len(str(d[0])) for d in devs), default=0)
    min_w = max((len(str(d[1])) for d in devs), default=0)
    sizes = [f"{st.rdev[0]:>{maj_w}}, {st.rdev[1]:>{min_w}}" if st.kind == "chardev" and st.rdev
             else str(st.size) for st, _, _ in stats]
    width = max((len(x) for x in sizes), default=0)
    out = []
    for (st, full, name), size in zip(stats, sizes):
        target = " -> " + k.readlink(full) if st.kind == "link" else ""
        out.append(f"{st.mode} 1 root root {size:>{width}} {DATE} {name}{target}")
    return out


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
    if "l" in opts:
        blocks += _long_lines(sh, [(full, a) for a, full in files])
    else:
        blocks += [a for a, full in files]
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
            lines += _long_lines(sh, [(posixpath.join(full, n), n) for n in names if n not in (".", "..")])
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



COMMANDS = {"echo": echo, "printf": printf, "cat": cat, "ls": ls, "readlink": readlink, "find": find,
            "basename": basename, "dirname": dirname, "dmesg": dmesg}
