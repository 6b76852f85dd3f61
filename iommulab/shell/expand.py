"""Word expansion as bash does it, in order: parameter and command substitution, field splitting
of unquoted results, pathname expansion over the simulated tree, quote removal."""
import functools
import re

from .arith import evaluate

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB_CHARS = set("*?[")


class ExpansionError(Exception):
    """A word bash would reject (e.g. "bad substitution")."""


_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
            "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "xdigit": "0-9A-Fa-f", "word": "a-zA-Z0-9_",
            "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "cntrl": "\\x00-\\x1f\\x7f",
            "print": " -~", "graph": "!-~"}


def _bracket(chars, i):
    """The bracket expression opening at chars[i] (a list of (char, quoted)): (regex, next index),
    or None when it does not close (then `[` is itself). As bash matches: `!` or `^` first negates,
    a `]` first is a member, a range whose ends are backwards matches nothing."""
    j, n = i + 1, len(chars)
    negate = j < n and not chars[j][1] and chars[j][0] in "!^"
    j += negate
    start, members = j, []
    while j < n:
        c, q = chars[j]
        if c == "]" and not q and j > start:
            break
        if c == "[" and not q and j + 1 < n and chars[j + 1] == (":", False):
            text = "".join(ch for ch, _ in chars[j + 2:j + 12])
            m = re.match(r"([a-z]+):\]", text)
            if m and m.group(1) in _CLASSES:
                members.append(_CLASSES[m.group(1)])
                j += 2 + m.end()
                continue
        if j + 2 < n and chars[j + 1] == ("-", False) and chars[j + 2] != ("]", False):
            lo, hi = c, chars[j + 2][0]
            if lo <= hi:
                members.append(re.escape(lo) + "-" + re.escape(hi))
            j += 3
            continue
        members.append(re.escape(c))
        j += 1
    if j >= n:
        return None
    if not members:
        return ("[^\\s\\S]" if not negate else "[\\s\\S]"), j + 1
    return "[" + ("^" if negate else "") + "".join(members) + "]", j + 1


def _pattern_regex(pattern_pieces):
    """Shell pattern (pieces of (text, quoted)) → compiled regex for whole-string matching. Pieces
    are read as one run of characters: a typed `bu[s]` comes as five one-letter pieces."""
    chars = [(c, quoted) for text, quoted in pattern_pieces for c in text]
    out, i = [], 0
    while i < len(chars):
        c, quoted = chars[i]
        if quoted:
            out.append(re.escape(c))
        elif c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and (b := _bracket(chars, i)) is not None:
            out.append(b[0])
            i = b[1]
            continue
        elif c == "\\" and i + 1 < len(chars):
            out.append(re.escape(chars[i + 1][0]))
            i += 1
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.S)


@functools.lru_cache(maxsize=256)
def _component_matcher(key):
    rx = _pattern_regex(key).fullmatch
    dot = not "".join(t for t, _ in key).startswith(".")

    def match(name):
        return not (dot and name.startswith(".")) and rx(name) is not None
    return match


def component_regex(pieces):
    """A matcher for one path component's pattern (match_component, compiled once)."""
    return _component_matcher(tuple(pieces))


def _find_close(raw, i, open_ch, close_ch):
    """Index of the bracket closing raw[i] (an open_ch), skipping quotes and nesting."""
    depth, j = 0, i
    while j < len(raw):
        c = raw[j]
        if c == "\\":
            j += 2
            continue
        if c == "'" and open_ch == "(":
            k = raw.find("'", j + 1)
            j = len(raw) if k == -1 else k + 1
            continue
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise ExpansionError("unexpected EOF while looking for matching `%s'" % close_ch)


class Expander:
    """Expands words for one shell session (which provides variables, $( ) and globbing)."""

    def __init__(self, session):
        self.sh = session

    # --- parameters ----------------------------------------------------------------------------

    def param(self, name):
        sh = self.sh
        special = {"?": str(sh.last_status), "!": str(sh.last_bg_pid or ""), "$": str(sh.pid),
                   "#": "0", "0": "bash", "@": "", "*": "", "-": "hB"}
        if name in special:
            return special[name]
        if name.isdigit():
            return ""
        return sh.vars.get(name)

    def braced(self, expr):
        """${expr}"""
        if expr.startswith("#") and len(expr) > 1:
            v = self.param(expr[1:])
            return str(len(v or ""))
        m = _NAME.match(expr) or re.match(r"[?!$#@*0-9-]", expr)
        if not m:
            raise ExpansionError(f"${{{expr}}}: bad substitution")
        name, rest = expr[:m.end()], expr[m.end():]
        value = self.param(name)
        if not rest:
            return value or ""
        for op in ("##", "#", "%%", "%", ":-", ":=", ":+", "//", "/", "-", "=", "+"):
            if rest.startswith(op):
                return self._operator(name, value, op, rest[len(op):])
        raise ExpansionError(f"${{{expr}}}: bad substitution")

    def _operator(self, name, value, op, word):
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return self.expand_string(word) if unset else value
        if op in (":=", "="):
            unset = value is None or (op == ":=" and value == "")
            if unset:
                value = self.expand_string(word)
                self.sh.vars[name] = value
            return value
        if op in (":+", "+"):
            set_ = value is not None and (op == "+" or value != "")
            return self.expand_string(word) if set_ else ""
        value = value or ""
        if op in ("/", "//"):
            pat, _, rep = word.partition("/")
            rx = _pattern_regex(self.pieces(pat)[0])
            rep = self.expand_string(rep)
            return rx.sub(lambda m: rep, value, count=0 if op == "//" else 1) if pat else value
        rx = _pattern_regex(self.pieces(word)[0])
        n = len(value)
        if op == "#":
            for i in range(0, n + 1):
                if rx.fullmatch(value[:i]):
                    return value[i:]
        elif op == "##":
            for i in range(n, -1, -1):
                if rx.fullmatch(value[:i]):
                    return value[i:]
        elif op == "%":
            for i in range(n, -1, -1):
                if rx.fullmatch(value[i:]):
                    return value[:i]
        elif op == "%%":
            for i in range(0, n + 1):
                if rx.fullmatch(value[i:]):
                    return value[:i]
        return value

    def arithmetic(self, expr):
        """$((expr)): the text expanded (parameters, $( ), quotes removed), then evaluated."""
        text = self.expand_string(expr)
        sh = self.sh

        def set_(name, value):
            sh.vars[name] = str(value)
        return str(evaluate(text, sh.vars.get, set_))

    # --- scanning ------------------------------------------------------------------------------

    def _dollar(self, raw, i):
        """Expand the $-form at raw[i]; returns (text or None for a literal '$', next index)."""
        if i + 1 >= len(raw):
            return None, i + 1
        c = raw[i + 1]
        if c == "(":
            end = _find_close(raw, i + 1, "(", ")")
            if raw.startswith("((", i + 1) and _find_close(raw, i + 2, "(", ")") == end - 1:
                return self.arithmetic(raw[i + 3:end - 1]), end + 1
            return self.sh.capture(raw[i + 2:end]), end + 1
        if c == "{":
            end = _find_close(raw, i + 1, "{", "}")
            return self.braced(raw[i + 2:end]), end + 1
        m = _NAME.match(raw, i + 1)
        if m:
            return self.param(m.group()) or "", m.end()
        if c in "?!$#@*-0123456789":
            return self.param(c) or "", i + 2
        return None, i + 1

    def pieces(self, raw, split=False):
        """raw word text → list of fields, each a list of (text, quoted) pieces. Without `split`
        the result is one field (used for patterns and assignments)."""
        fields = [[]]
        had_quotes = [False]
        i, n = 0, len(raw)

        def add(text, quoted):
            fields[-1].append((text, quoted))

        def add_split(text):
            if not split:
                add(text, False)
                return
            parts = re.split(r"[ \t\n]+", text)
            for j, part in enumerate(parts):
                if j:
                    fields.append([])
                    had_quotes.append(False)
                if part:
                    add(part, False)

        while i < n:
            c = raw[i]
            if c == "'":
                j = raw.find("'", i + 1)
                if j == -1:
                    raise ExpansionError("unexpected EOF while looking for matching `''")
                add(raw[i + 1:j], True)
                had_quotes[-1] = True
                i = j + 1
            elif c == '"':
                had_quotes[-1] = True
                i = self._double(raw, i + 1, add)
            elif c == "\\":
                if i + 1 < n and raw[i + 1] == "\n":
                    i += 2
                    continue
                add(raw[i + 1:i + 2], True)
                i += 2
            elif c == "$":
                text, i = self._dollar(raw, i)
                if text is None:
                    add("$", False)
                else:
                    add_split(text)
            elif c == "`":
                j = raw.find("`", i + 1)
                if j == -1:
                    raise ExpansionError("unexpected EOF while looking for matching ``'")
                add_split(self.sh.capture(raw[i + 1:j]))
                i = j + 1
            else:
                add(c, False)
                i += 1
        if split:
            return [f for f, q in zip(fields, had_quotes) if f or q]
        return [[p for f in fields for p in f]]

    def _double(self, raw, i, add):
        n = len(raw)
        buf = []
        while i < n:
            c = raw[i]
            if c == '"':
                add("".join(buf), True)
                return i + 1
            if c == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
                if raw[i + 1] != "\n":
                    buf.append(raw[i + 1])
                i += 2
            elif c == "$":
                text, i = self._dollar(raw, i)
                buf.append("$" if text is None else text)
            elif c == "`":
                j = raw.find("`", i + 1)
                if j == -1:
                    raise ExpansionError("unexpected EOF while looking for matching ``'")
                buf.append(self.sh.capture(raw[i + 1:j]))
                i = j + 1
            else:
                buf.append(c)
                i += 1
        raise ExpansionError("unexpected EOF while looking for matching `\"'")

    # --- the entry points ----------------------------------------------------------------------

    def expand_string(self, raw):
        """One string, no splitting or globbing (assignments, redirection targets, ${x:-word})."""
        text = "".join(t for f in self.pieces(raw) for t, _ in f)
        self.sh.budget.data(len(text))
        return text

    def expand_words(self, raws):
        """A command's words → argv (split and globbed). Each word made and its bytes are work of
        the call's budget."""
        argv = []
        budget = self.sh.budget
        for raw in raws:
            for field in self.pieces(raw, split=True):
                if any(not q and _GLOB_CHARS & set(t) for t, q in field):
                    matches = self.sh.glob(field)
                    if matches or self.sh.options.get("nullglob"):
                        budget.step(len(matches))
                        budget.data(sum(map(len, matches)))
                        argv.extend(matches)
                        continue
                word = "".join(t for t, _ in field)
                budget.step()
                budget.data(len(word))
                argv.append(word)
        return argv


def glob_pattern_parts(field):
    """Split a field's pieces on '/' into path components, each a list of pieces."""
    comps = [[]]
    for text, quoted in field:
        chunks = text.split("/")
        for j, chunk in enumerate(chunks):
            if j:
                comps.append([])
            if chunk:
                comps[-1].append((chunk, quoted))
    return comps


def has_glob(pieces):
    return any(not q and _GLOB_CHARS & set(t) for t, q in pieces)


def match_component(pieces, name):
    return component_regex(pieces)(name)
