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


_GREP_USAGE = "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information."
_GREP_FLAGS = set("EFGiyvwxcoqsnhHlLbTzaIrUZ")      # options without an argument
_GREP_ARGS = set("efmABCdD")                     # options with one
_GREP_LONG = {"extended-regexp": "E", "fixed-strings": "F", "basic-regexp": "G", "ignore-case": "i",
              "invert-match": "v", "word-regexp": "w", "line-regexp": "x", "count": "c",
              "only-matching": "o", "quiet": "q", "silent": "q", "no-messages": "s",
              "line-number": "n", "no-filename": "h", "with-filename": "H",
              "files-with-matches": "l", "files-without-match": "L", "regexp=": "e", "file=": "f",
              "max-count=": "m", "after-context=": "A", "before-context=": "B", "context=": "C",
              "color": None, "colour": None, "no-ignore-case": "I-"}
_POSIX_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
                  "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "xdigit": "0-9A-Fa-f",
                  "punct": "!-/:-@\\[-`{-~", "print": " -~", "graph": "!-~", "cntrl": "\\x00-\\x1f\\x7f"}


class _GrepError(Exception):
    pass


def _grep_options(argv):
    """GNU getopt as grep uses it: clusters, attached or separate arguments, options anywhere
    before `--`. → (flags set, {opt: [values]}, operands); raises _GrepError(message)."""
    flags, values, operands = set(), {}, []
    args, i = argv[1:], 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            operands += args[i:]
            break
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
            keys = [key for key in _GREP_LONG if key.rstrip("=") == name]
            if not keys:
                keys = [key for key in _GREP_LONG if key.startswith(name)]
            if len(keys) != 1:
                raise _GrepError(f"grep: unrecognized option '{a}'" + "\n" + _GREP_USAGE)
            key, opt = keys[0], _GREP_LONG[keys[0]]
            if key.endswith("="):
                if not eq:
                    if i >= len(args):
                        raise _GrepError(f"grep: option '--{key[:-1]}' requires an argument" + "\n" + _GREP_USAGE)
                    val, i = args[i], i + 1
                values.setdefault(opt, []).append(val)
            elif opt == "I-":
                flags.discard("i")
            elif opt:
                flags.add(opt)
            continue
        if not a.startswith("-") or a == "-":
            operands.append(a)
            continue
        j = 1
        while j < len(a):
            c = a[j]
            if c.isdigit():                               # -NUM: NUM lines of context
                num = re.match(r"\d+", a[j:]).group()
                values.setdefault("C", []).append(num)
                j += len(num)
                continue
            if c in _GREP_ARGS:
                val = a[j + 1:]
                if not val:
                    if i >= len(args):
                        raise _GrepError(f"grep: option requires an argument -- '{c}'" + "\n" + _GREP_USAGE)
                    val, i = args[i], i + 1
                values.setdefault(c, []).append(val)
                break
            if c not in _GREP_FLAGS:
                raise _GrepError(f"grep: invalid option -- '{c}'" + "\n" + _GREP_USAGE)
            flags.add("i" if c == "y" else c)
            j += 1
    return flags, values, operands


def _bracket(pat, i):
    """A POSIX bracket expression starting at pat[i] == '[' → (Python text, next index)."""
    j = i + 1
    out = "["
    if j < len(pat) and pat[j] == "^":
        out += "^"
        j += 1
    first = True
    while j < len(pat):
        c = pat[j]
        if c == "]" and not first:
            return out + "]", j + 1
        first = False
        if c == "[" and pat[j + 1:j + 2] == ":":
            end = pat.find(":]", j + 2)
            if end < 0 or pat[j + 2:end] not in _POSIX_CLASSES:
                raise _GrepError("grep: Unmatched [, [^, [:, [., or [=")
            out += _POSIX_CLASSES[pat[j + 2:end]]
            j = end + 2
            continue
        out += "\\" + c if c in "\\[]^" else c
        j += 1
    raise _GrepError("grep: Unmatched [, [^, [:, [., or [=")


def _translate(pat, extended):
    """A POSIX basic (BRE) or extended (ERE) regular expression, with GNU's extensions, → Python."""
    out, i = [], 0
    special = "(){}|+?"
    while i < len(pat):
        c = pat[i]
        at_start = not out or out[-1] in ("(", "|", "^")
        if c == "[":
            text, i = _bracket(pat, i)
            out.append(text)
            continue
        if c == "\\" and i + 1 < len(pat):
            n = pat[i + 1]
            i += 2
            if n in special:
                out.append("\\" + n if extended else n)
            elif n == "<":
                out.append(r"\b(?=\w)")
            elif n == ">":
                out.append(r"\b(?<=\w)")
            elif n in "wWsSbB" or not n.isalnum():
                out.append("\\" + n)
            else:
                out.append(re.escape(n) if not n.isdigit() else "\\" + n)
            continue
        if c == "\\":
            raise _GrepError("grep: Trailing backslash")
        i += 1
        if c in special:
            out.append(c if extended else "\\" + c)
        elif c == "*" and at_start:
            out.append("\\*")
        else:
            out.append(c)
    return "".join(out)


def _alternatives(rx):
    """Split a Python pattern at its top-level `|` (for POSIX leftmost-longest matching)."""
    parts, depth, cur, i, in_set = [], 0, "", 0, False
    while i < len(rx):
        c = rx[i]
        if c == "\\":
            cur += rx[i:i + 2]
            i += 2
            continue
        if in_set:
            in_set = c != "]" or cur.endswith("[") or cur.endswith("[^")
        elif c == "[":
            in_set = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(cur)
            cur, i = "", i + 1
            continue
        cur += c
        i += 1
    return parts + [cur]


_RE_MESSAGES = (("missing ), unterminated subpattern", "Unmatched ( or \\("),
                ("unbalanced parenthesis", "Unmatched ) or \\)"),
                ("unterminated character set", "Unmatched [, [^, [:, [., or [="),
                ("bad escape", "Invalid back reference"), ("invalid group reference", "Invalid back reference"))


def _grep_regexes(patterns, flags):
    """Every pattern (-e, or newline-separated) as a list of compiled alternatives."""
    res = []
    for pat in patterns:
        if "F" in flags:
            alts = [re.escape(pat)]
        else:
            alts = _alternatives(_translate(pat, "E" in flags))
        for alt in alts:
            if "x" in flags:
                alt = rf"^(?:{alt})$"
            elif "w" in flags:
                alt = rf"(?<!\w)(?:{alt})(?!\w)"
            try:
                res.append(re.compile(alt, re.I if "i" in flags else 0))
            except re.error as e:
                msg = next((m for key, m in _RE_MESSAGES if key in str(e)), "Invalid regular expression")
                raise _GrepError(f"grep: {msg}")
    return res


def _matches(rxs, text):
    """Non-overlapping matches, leftmost-longest across the alternatives (as POSIX/GNU grep)."""
    pos, out = 0, []
    while pos <= len(text):
        best = None
        for rx in rxs:
            m = rx.search(text, pos)
            if m and (best is None or m.start() < best.start()
                      or (m.start() == best.start() and m.end() > best.end())):
                best = m
        if best is None:
            break
        if best.end() == best.start():          # empty matches print nothing (GNU grep -o)
            pos = best.end() + 1
            continue
        out.append(best.group())
        pos = best.end()
    return out


def grep(sh, argv, io, line):
    """GNU grep 3.x over the simulated files and pipes: -e/-f? no -f; -E/-F/-G, -i, -v, -w, -x,
    -c, -o, -q, -s, -n, -h/-H, -l/-L, -m NUM, -A/-B/-C NUM, -NUM, --color (ignored)."""
    try:
        flags, values, operands = _grep_options(argv)
        context = {"A": 0, "B": 0}
        for key in ("C", "A", "B"):
            for n in values.get(key, []):
                if not n.isdigit():
                    raise _GrepError(f"grep: {n}: invalid context length argument")
                for k in ("AB" if key == "C" else key):
                    context[k] = int(n)
        if "f" in values:
            raise _GrepError("grep: -f: reading patterns from a file is not simulated here")
        patterns = values.get("e")
        if patterns is None:
            if not operands:
                raise _GrepError(_GREP_USAGE)
            patterns, operands = [operands[0]], operands[1:]
        patterns = [p for pat in patterns for p in pat.split("\n")]
        rxs = _grep_regexes(patterns, flags)
        max_count = None
        if "m" in values:
            if not values["m"][-1].lstrip("-").isdigit():
                raise _GrepError("grep: invalid max count")
            max_count = int(values["m"][-1])
    except _GrepError as e:
        io.error(str(e))
        return 2
    files = operands
    several = len(files) > 1
    status, selected_any, out = 0, False, []
    for name in files or ["-"]:
        if name == "-":
            label, text = "(standard input)", io.stdin
        else:
            label = name
            try:
                text = sh.k.read(sh.abspath(name))
            except OSError as e:
                if "s" not in flags:
                    _err(io, "grep", name, e)
                status = 2
                continue
        lines = text.splitlines()
        hits = [any(rx.search(ln) for rx in rxs) != ("v" in flags) for ln in lines]
        if max_count is not None:
            seen = 0
            for n, hit in enumerate(hits):
                if hit:
                    seen += 1
                    if seen > max_count:
                        hits[n] = False
        count = sum(hits)
        selected_any = selected_any or count > 0
        if "q" in flags:
            continue
        prefix = label if (several or "H" in flags) and "h" not in flags else None
        if "l" in flags or "L" in flags:
            if (count > 0) == ("l" in flags):
                out.append(label + "\n")
            continue
        if "c" in flags:
            out.append((f"{prefix}:" if prefix else "") + f"{count}\n")
            continue
        out += _grep_lines(lines, hits, rxs, flags, context, prefix)
    if "q" in flags and selected_any:
        return 0
    io.write("".join(out))
    if status:
        return status
    return 0 if selected_any else 1


def _grep_lines(lines, hits, rxs, flags, context, prefix):
    out, last = [], -2
    if "o" in flags:                        # only the matched parts; no context lines (GNU)
        if "v" in flags:
            return []
        for n, hit in enumerate(hits):
            if hit:
                lead = (f"{prefix}:" if prefix else "") + (f"{n + 1}:" if "n" in flags else "")
                out += [lead + m + "\n" for m in _matches(rxs, lines[n])]
        return out
    show = set()
    for n, hit in enumerate(hits):
        if hit:
            show.update(range(max(0, n - context["B"]), min(len(lines), n + context["A"] + 1)))
    for n in sorted(show):
        if (context["A"] or context["B"]) and last >= 0 and n > last + 1:
            out.append("--\n")
        sep = ":" if hits[n] else "-"
        lead = (f"{prefix}{sep}" if prefix else "") + (f"{n + 1}{sep}" if "n" in flags else "")
        out.append(lead + lines[n] + "\n")
        last = n
    return out


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
