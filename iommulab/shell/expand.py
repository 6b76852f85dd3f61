"""Word expansion as bash does it, in order: parameter and command substitution, field splitting
of unquoted results, pathname expansion over the simulated tree, quote removal."""
import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB_CHARS = set("*?[")


class ExpansionError(Exception):
    """A word bash would reject (e.g. "bad substitution")."""


def _pattern_regex(pattern_pieces):
    """Shell pattern (pieces of (text, quoted)) → compiled regex for whole-string matching."""
    out = []
    for text, quoted in pattern_pieces:
        if quoted:
            out.append(re.escape(text))
            continue
        i = 0
        while i < len(text):
            c = text[i]
            if c == "*":
                out.append(".*")
            elif c == "?":
                out.append(".")
            elif c == "[":
                j = text.find("]", i + 2)
                if j == -1:
                    out.append(re.escape(c))
                else:
                    body = text[i + 1:j]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out.append("[" + body.replace("\\", "\\\\") + "]")
                    i = j
            else:
                out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.S)


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

    # --- scanning ------------------------------------------------------------------------------

    def _dollar(self, raw, i):
        """Expand the $-form at raw[i]; returns (text or None for a literal '$', next index)."""
        if i + 1 >= len(raw):
            return None, i + 1
        c = raw[i + 1]
        if c == "(":
            if raw.startswith("((", i + 1):         # the parser refuses $((...)) before this
                raise ExpansionError("syntax error: arithmetic expansion")
            end = _find_close(raw, i + 1, "(", ")")
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
        return "".join(t for f in self.pieces(raw) for t, _ in f)

    def expand_words(self, raws):
        """A command's words → argv (split and globbed)."""
        argv = []
        for raw in raws:
            for field in self.pieces(raw, split=True):
                if any(not q and _GLOB_CHARS & set(t) for t, q in field):
                    matches = self.sh.glob(field)
                    if matches or self.sh.options.get("nullglob"):
                        argv.extend(matches)
                        continue
                argv.append("".join(t for t, _ in field))
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
    if name.startswith(".") and not "".join(t for t, _ in pieces).startswith("."):
        return False
    return _pattern_regex(pieces).fullmatch(name) is not None
