"""Bash arithmetic, `$((…))`, as bash 5.2's expr.c evaluates it: 64-bit signed integers that wrap,
C's operators and precedence, variables read as expressions themselves, assignments.

Nothing here calls Python's eval, and every operation is bounded: `**` is computed modulo 2**64
(what bash's repeated squaring in 64 bits gives), a shift count is taken modulo 64 (what x86-64
does with bash's `<<`), numbers wrap at 64 bits.
"""
import re

MASK = (1 << 64) - 1
MAX_RECURSION = 33            # variables whose values name variables...: bash stops such chains too
_TOKEN = re.compile(r"\s*(?:(?P<num>[0-9][0-9A-Za-z@_#]*)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|"
                    r"(?P<op>\*\*=|<<=|>>=|\*\*|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&^|]=|"
                    r"[-+*/%<>=!~&^|?:,()]))")
_ASSIGN = {"=", "*=", "/=", "%=", "+=", "-=", "<<=", ">>=", "&=", "^=", "|="}


class ArithError(Exception):
    """An expression bash refuses: str() is bash's message without the `bash: ` prefix."""


def wrap(n):
    n &= MASK
    return n - (1 << 64) if n >> 63 else n


def _div(a, b):
    q = abs(a) // abs(b)
    return wrap(q if (a < 0) == (b < 0) else -q)


def _mod(a, b):
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


_BINARY = {
    "*": lambda a, b: wrap(a * b), "+": lambda a, b: wrap(a + b), "-": lambda a, b: wrap(a - b),
    "<<": lambda a, b: wrap(a << (b & 63)), ">>": lambda a, b: a >> (b & 63),
    "<": lambda a, b: int(a < b), ">": lambda a, b: int(a > b), "<=": lambda a, b: int(a <= b),
    ">=": lambda a, b: int(a >= b), "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
    "&": lambda a, b: a & b, "^": lambda a, b: a ^ b, "|": lambda a, b: a | b,
}
# binary operators by precedence, lowest first (above them: `**`, the unary ones)
_LEVELS = [("|",), ("^",), ("&",), ("==", "!="), ("<=", ">=", "<", ">"), ("<<", ">>"), ("+", "-"),
           ("*", "/", "%")]


def parse_number(text):
    """A constant as bash reads it: decimal, 0x hex, 0 octal, BASE#DIGITS (2..64)."""
    base, digits = 10, text
    if "#" in text:
        b, _, digits = text.partition("#")
        if not b.isdigit() or not 2 <= int(b) <= 64:
            raise ArithError(f"invalid arithmetic base (error token is \"{text}\")")
        base = int(b)
    elif text[:2] in ("0x", "0X"):
        base, digits = 16, text[2:]
    elif text.startswith("0") and len(text) > 1:
        base, digits = 8, text[1:]
    value = 0
    for c in digits:
        if c.isdigit():
            d = ord(c) - 48
        elif "a" <= c <= "z":
            d = ord(c) - 97 + 10
        elif "A" <= c <= "Z":
            d = ord(c) - 65 + (36 if base > 36 else 10)
        elif c == "@":
            d = 62
        elif c == "_":
            d = 63
        else:
            d = 99
        if d >= base:
            raise ArithError(f"value too great for base (error token is \"{text}\")")
        value = (value * base + d) & MASK
    return wrap(value)


class _Eval:
    def __init__(self, text, get, set_, depth):
        self.text, self.get, self.set, self.depth = text, get, set_, depth
        self.toks, pos = [], 0           # (kind, value, start)
        while True:
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                rest = text[pos:].lstrip()
                if rest:
                    self.toks.append(("bad", rest, len(text) - len(rest)))
                break
            kind = m.lastgroup
            self.toks.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.noeval = 0

    # --- tokens ----------------------------------------------------------------------------
    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "", len(self.text))

    def error(self, what, at=None):
        tok = self.peek() if at is None else at
        if tok[0] == "end":
            last = self.toks[-1] if self.toks else ("end", "", 0)
            token = last[1]
        else:
            token = self.text[tok[2]:]
        raise ArithError(f"{self.text.lstrip()}: {what} (error token is \"{token}\")")

    def take(self, *ops):
        k, v, _ = self.peek()
        if k == "op" and v in ops:
            self.i += 1
            return v
        return None

    # --- grammar ---------------------------------------------------------------------------
    def run(self):
        if not self.toks:
            return 0
        v = self.comma()
        if self.peek()[0] != "end":
            self.error("syntax error in expression")
        return v

    def comma(self):
        v = self.assign()
        while self.take(","):
            v = self.assign()
        return v

    def assign(self):
        k, name, _ = self.peek()
        nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
        if nxt is not None and nxt[0] == "op" and nxt[1] in _ASSIGN:
            if k != "name":
                self.error("attempted assignment to non-variable", nxt)
            self.i += 2
            op = nxt[1]
            rhs = self.assign()
            if self.noeval:
                return rhs
            if op != "=":
                rhs = self.binary(op[:-1], self.var(name), rhs, nxt)
            self.set(name, rhs)
            return rhs
        return self.cond()

    def cond(self):
        c = self.level(-2)
        if not self.take("?"):
            return c
        if not c:
            self.noeval += 1
        a = self.comma()
        if not c:
            self.noeval -= 1
        if not self.take(":"):
            self.error("`:' expected for conditional expression")
        if c:
            self.noeval += 1
        b = self.cond()
        if c:
            self.noeval -= 1
        return a if c else b

    def level(self, n):
        if n == -2:                                   # ||
            v = self.level(-1)
            while self.take("||"):
                if v:
                    self.noeval += 1
                r = self.level(-1)
                if v:
                    self.noeval -= 1
                v = int(bool(v) or bool(r))
            return v
        if n == -1:                                   # &&
            v = self.level(0)
            while self.take("&&"):
                if not v:
                    self.noeval += 1
                r = self.level(0)
                if not v:
                    self.noeval -= 1
                v = int(bool(v) and bool(r))
            return v
        if n == len(_LEVELS):
            return self.power()
        v = self.level(n + 1)
        while True:
            tok = self.peek()
            op = self.take(*_LEVELS[n])
            if op is None:
                return v
            r = self.level(n + 1)
            v = self.binary(op, v, r, tok)

    def binary(self, op, a, b, tok):
        if self.noeval:
            return 0
        if op in ("/", "%"):
            if b == 0:
                self.error("division by 0", self.toks[self.i - 1] if self.i else tok)
            return _div(a, b) if op == "/" else _mod(a, b)
        if op == "**":
            if b < 0:
                self.error("exponent less than 0", self.toks[self.i - 1] if self.i else tok)
            return wrap(pow(a, b, 1 << 64))
        return _BINARY[op](a, b)

    def power(self):
        v = self.unary()
        tok = self.peek()
        if self.take("**"):
            r = self.power()                          # right associative
            return self.binary("**", v, r, tok)
        return v

    def unary(self):
        op = self.take("-", "+", "!", "~", "++", "--")
        if op in ("++", "--"):
            k, name, _ = self.peek()
            if k != "name":
                self.error("syntax error: operand expected")
            self.i += 1
            v = wrap(self.var(name) + (1 if op == "++" else -1))
            if not self.noeval:
                self.set(name, v)
            return v
        if op is not None:
            v = self.unary()
            return {"-": lambda: wrap(-v), "+": lambda: v, "!": lambda: int(not v), "~": lambda: ~v}[op]()
        return self.postfix()

    def postfix(self):
        k, v, _ = self.peek()
        if k == "name":
            self.i += 1
            op = self.take("++", "--")
            cur = self.var(v)
            if op and not self.noeval:
                self.set(v, wrap(cur + (1 if op == "++" else -1)))
            return cur
        if k == "num":
            self.i += 1
            try:
                return parse_number(v)
            except ArithError as e:
                raise ArithError(f"{self.text.lstrip()}: {e}") from None
        if self.take("("):
            r = self.comma()
            if not self.take(")"):
                self.error("missing `)'")
            return r
        self.error("syntax error: operand expected")

    def var(self, name):
        value = self.get(name)
        if value is None or value.strip() == "":
            return 0
        if self.noeval:
            return 0
        if self.depth + 1 >= MAX_RECURSION:
            text = value.strip()
            raise ArithError(f"{text}: expression recursion level exceeded (error token is \"{text}\")")
        return _Eval(value, self.get, self.set, self.depth + 1).run()


def evaluate(text, get, set_):
    """The value of expression `text`; get(name) → str or None, set_(name, int)."""
    return _Eval(text, get, set_, 0).run()
