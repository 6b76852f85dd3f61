"""String-to-value conversions of lib/kstrtox.c."""
from .errno import EINVAL, ERANGE


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


ULLONG_MAX = (1 << 64) - 1
_DIGITS = "0123456789abcdef"


def kstrtoull(s, base=0):
    """_kstrtoull(): (0, value), (-EINVAL, None) or (-ERANGE, None). An optional '+', then digits
    of the base; base 0 picks it as _parse_integer_fixup_radix() does ("0x" and a hex digit: 16,
    a leading "0": 8, else 10); one trailing newline is allowed, nothing else (no blanks, no
    sign '-', no '_')."""
    if s[:1] == "+":
        s = s[1:]
    if base == 0:
        if s[:1] == "0" and s[1:2].lower() == "x" and s[2:3].lower() in _DIGITS and s[2:3]:
            base, s = 16, s[2:]
        else:
            base = 8 if s[:1] == "0" else 10
    elif base == 16 and s[:1] == "0" and s[1:2].lower() == "x":
        s = s[2:]
    n = 0
    while n < len(s) and s[n].lower() in _DIGITS[:base]:
        n += 1
    rest = s[n:]
    if n == 0 or rest not in ("", "\n"):
        return -EINVAL, None
    value = int(s[:n], base)
    return (-ERANGE, None) if value > ULLONG_MAX else (0, value)


def kstrtoul(buf):
    """kstrtoul(buf, 0, &val) as the PCI sysfs stores call it: the value, or None when it
    fails (they all answer -EINVAL then)."""
    rc, value = kstrtoull(buf)
    return None if rc else value
