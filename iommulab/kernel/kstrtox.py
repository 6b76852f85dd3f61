"""String-to-value conversions of lib/kstrtox.c, and the integer conversions of lib/vsprintf.c's
vsscanf() that the sysfs stores use (simple_strtoull() and the "%x %x ..." of new_id/remove_id).

Each function keeps its C name and answers as C does: (0, value) or (-errno, None). Text is
read character by character with the C library's ASCII classes (isxdigit(), isspace()): no
Unicode digits, no '_' separators, no "0b"/"0o" prefixes, which Python's int() would take.
"""
from .errno import EINVAL, ERANGE

KSTRTOX_OVERFLOW = 1 << 31
ULLONG_MAX = (1 << 64) - 1
ULONG_MAX = ULLONG_MAX                  # the 64-bit architectures modelled (x86_64, arm64)
UINT_MAX = (1 << 32) - 1
INT_MAX = (1 << 31) - 1
USHRT_MAX = 0xFFFF
UCHAR_MAX = 0xFF
_HEX = "0123456789abcdefABCDEF"
_SPACE = " \t\n\v\f\r"                  # isspace() of include/linux/ctype.h, ASCII part


def _at(s, i):
    """s[i] as C reads a NUL-terminated string: '' past the end (or at a NUL)."""
    c = s[i:i + 1]
    return "" if c == "\0" else c


def isxdigit(c):
    return c != "" and c in _HEX


def isspace(c):
    return c != "" and c in _SPACE


def _parse_integer_fixup_radix(s, base):
    """_parse_integer_fixup_radix(): base 0 picks 16 for "0x" and a hex digit, 8 for a leading
    "0", else 10; base 16 then skips a "0x"/"0X" (even with no digit after it). Returns
    (base, the number of prefix characters skipped)."""
    if base == 0:
        if _at(s, 0) == "0":
            base = 16 if _at(s, 1).lower() == "x" and isxdigit(_at(s, 2)) else 8
        else:
            base = 10
    if base == 16 and _at(s, 0) == "0" and _at(s, 1).lower() == "x":
        return base, 2
    return base, 0


def _parse_integer_limit(s, base, max_chars=None):
    """_parse_integer_limit(): the digits of `base` at the start of s, at most max_chars.
    Returns (value modulo 2**64 as the C loop computes it, digits read | KSTRTOX_OVERFLOW if the
    true value did not fit in 64 bits)."""
    res, rv, overflow = 0, 0, False
    limit = len(s) if max_chars is None else min(max_chars, len(s))
    while rv < limit:
        c = _at(s, rv)
        if "0" <= c <= "9":
            val = ord(c) - ord("0")
        elif c != "" and "a" <= c.lower() <= "f":
            val = ord(c.lower()) - ord("a") + 10
        else:
            break
        if val >= base:
            break
        res = res * base + val
        if res > ULLONG_MAX:
            overflow = True
            res &= ULLONG_MAX
        rv += 1
    return res, rv | (KSTRTOX_OVERFLOW if overflow else 0)


def _parse_integer(s, base):
    return _parse_integer_limit(s, base)


def _kstrtoull(s, base):
    """_kstrtoull(): overflow is -ERANGE (checked first), no digit or anything after the digits
    but one newline is -EINVAL."""
    base, skip = _parse_integer_fixup_radix(s, base)
    s = s[skip:]
    res, rv = _parse_integer(s, base)
    if rv & KSTRTOX_OVERFLOW:
        return -ERANGE, None
    if rv == 0:
        return -EINVAL, None
    rest = s[rv:]
    if rest[:1] == "\n":
        rest = rest[1:]
    if _at(rest, 0):
        return -EINVAL, None
    return 0, res


def kstrtoull(s, base=0):
    """kstrtoull(): an optional '+' (never '-'), then _kstrtoull()."""
    if s[:1] == "+":
        s = s[1:]
    return _kstrtoull(s, base)


def kstrtoll(s, base=0):
    """kstrtoll(): a '-' is allowed here (the signed variants), and the value must fit."""
    if s[:1] == "-":
        rc, tmp = _kstrtoull(s[1:], base)
        if rc:
            return rc, None
        if tmp > 1 << 63:
            return -ERANGE, None
        return 0, -tmp
    rc, tmp = kstrtoull(s, base)
    if rc:
        return rc, None
    if tmp > (1 << 63) - 1:
        return -ERANGE, None
    return 0, tmp


def _unsigned(s, base, limit):
    rc, tmp = kstrtoull(s, base)
    if rc:
        return rc, None
    return (-ERANGE, None) if tmp > limit else (0, tmp)


def kstrtoul(s, base=0):
    """kstrtoul() (what remove_store() and rescan_store() of drivers/pci/pci-sysfs.c call)."""
    return _unsigned(s, base, ULONG_MAX)


def kstrtouint(s, base=0):
    return _unsigned(s, base, UINT_MAX)


def kstrtou16(s, base=0):
    """kstrtou16() (sriov_numvfs_store() of drivers/pci/iov.c)."""
    return _unsigned(s, base, USHRT_MAX)


def kstrtou8(s, base=0):
    return _unsigned(s, base, UCHAR_MAX)


def kstrtoint(s, base=0):
    rc, tmp = kstrtoll(s, base)
    if rc:
        return rc, None
    return (-ERANGE, None) if not -INT_MAX - 1 <= tmp <= INT_MAX else (0, tmp)


def kstrtobool(s, f):
    """kstrtobool(): (0, value) or (-EINVAL, None), decided by the first character only (and the
    second after an 'o'): y/Y/1 true and n/N/0 false; "on"/"off" by [oO][nNfF]; t/T true and
    f/F false since 5.19 (Jagdish Gediya's "add "false"/"true" support"); e/E true and d/D
    false since 6.16 (ae5b3500856f, "enabled"/"disabled"). `f` is the kernel's Features.
    Anything after the decisive characters is ignored: "yes", "1\\n", "no way" are fine."""
    first = s[:1]
    if first in ("y", "Y", "1") or f.kstrtobool_true_false and first in ("t", "T") \
            or f.kstrtobool_enabled_disabled and first in ("e", "E"):
        return 0, True
    if first in ("n", "N", "0") or f.kstrtobool_true_false and first in ("f", "F") \
            or f.kstrtobool_enabled_disabled and first in ("d", "D"):
        return 0, False
    if first in ("o", "O") and s[1:2] in ("n", "N", "f", "F"):
        return 0, s[1:2] in ("n", "N")
    return -EINVAL, None


# --- lib/vsprintf.c -------------------------------------------------------------------------

def simple_strtoull(s, base):
    """simple_strntoull() without a field width: (value modulo 2**64, characters consumed,
    prefix included). No digit after a "0x" still consumes the prefix and gives 0."""
    base, skip = _parse_integer_fixup_radix(s, base)
    res, rv = _parse_integer_limit(s[skip:], base)
    return res, skip + (rv & ~KSTRTOX_OVERFLOW)


def vsscanf(buf, fmt):
    """vsscanf() for the formats the model's stores and parameters use: %x (an unsigned int),
    %lx (an unsigned long), blanks and literal characters. Returns the values converted, in
    order (len() is what sscanf() returns). As in C: a blank in the format matches any run of
    blanks in the input, even none; any other format character must match the input exactly;
    a conversion skips blanks, needs a hex digit first (is_sign is false for %x, so "-1"
    converts nothing), takes what simple_strtoul() takes and stores it truncated to its width;
    scanning stops at the first mismatch, and whatever follows is ignored."""
    out, i, f = [], 0, 0
    while f < len(fmt):
        if isspace(fmt[f]):
            while f < len(fmt) and isspace(fmt[f]):
                f += 1
            while isspace(_at(buf, i)):
                i += 1
            continue
        if fmt[f] != "%":
            if fmt[f] != _at(buf, i):
                break
            f, i = f + 1, i + 1
            continue
        width = 64 if fmt[f + 1:f + 2] == "l" else 32
        f += 3 if width == 64 else 2          # "%lx" or "%x" (the only conversions modelled)
        if not _at(buf, i):                   # `if (!*str) break;`
            break
        while isspace(_at(buf, i)):
            i += 1
        if not isxdigit(_at(buf, i)):
            break
        val, used = simple_strtoull(buf[i:], 16)
        out.append(val & ((1 << width) - 1))
        i += used
    return out
