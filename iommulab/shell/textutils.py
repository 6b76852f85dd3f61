"""Text filters for pipelines: grep, head, tail, wc, sort, uniq."""
import re

from .coreutils import _err, _split_opts


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
    opts, args, context = set(), [], {"A": 0, "B": 0}
    rest = argv[1:]
    i = 0
    while i < len(rest):
        a = rest[i]
        m = re.fullmatch(r"-([ABC])(\d*)", a)
        if m and not args:
            n = m.group(2) or (rest[i + 1] if i + 1 < len(rest) else "")
            if not n.isdigit():
                io.error(f"grep: {n}: invalid context length argument")
                return 2
            i += 1 if m.group(2) else 2
            for key in ("AB" if m.group(1) == "C" else m.group(1)):
                context[key] = int(n)
            continue
        if a.startswith("-") and len(a) > 1 and not args:
            bad = set(a[1:]) - set("ivcqEFwhnH")
            if bad:
                io.error(f"grep: invalid option -- '{sorted(bad)[0]}'\nUsage: grep [OPTION]... PATTERNS [FILE]...")
                return 2
            opts |= set(a[1:])
        else:
            args.append(a)
        i += 1
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
        lines = text.splitlines()
        hits = [bool(cre.search(ln)) != ("v" in opts) for ln in lines]
        count += sum(hits)
        if opts & {"c", "q"}:
            continue
        show, last = set(), -2
        for n, hit in enumerate(hits):
            if hit:
                show.update(range(max(0, n - context["B"]), min(len(lines), n + context["A"] + 1)))
        prefix = f"{name}:" if len(files) > 1 and "h" not in opts or "H" in opts else ""
        for n in sorted(show):
            if (context["A"] or context["B"]) and last >= 0 and n > last + 1:
                io.write("--\n")
            io.write(prefix + (f"{n + 1}:" if "n" in opts else "") + lines[n] + "\n")
            last = n
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



COMMANDS = {"grep": grep, "head": head, "tail": tail, "wc": wc, "sort": sort, "uniq": uniq}
