"""The nodes of the file tree (after fs/kernfs: directories, attributes, symlinks, device nodes)
and the two ways a directory finds its children: built once, or looked up lazily."""


def name_number(name):
    """The number a directory entry made with "%d"/"%u" spells (iommu_groups/N, /proc/PID,
    /proc/PID/fd/N, vfioN), or None: only that spelling exists, so "01", "+1" or "١" (which
    str.isdigit() and int() take) name nothing."""
    if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0"):
        return int(name)
    return None


class Dir:
    __slots__ = ("names", "get")

    def __init__(self, names, get):
        self.names, self.get = names, get


class Attr:
    """A sysfs attribute: show() -> str, store(buf, caps) -> count or -errno. A store takes a
    device's device_lock: `dev` names it, or `lock_named` says the written text names it."""
    __slots__ = ("show", "store", "dev", "lock_named")

    def __init__(self, show=None, store=None, dev=None, lock_named=False):
        self.show, self.store, self.dev, self.lock_named = show, store, dev, lock_named


class Link:
    """A symlink. sysfs writes relative targets; /proc/<pid>/fd links are absolute."""
    __slots__ = ("target", "absolute")

    def __init__(self, target, absolute=False):
        self.target, self.absolute = target, absolute


class CharDev:
    __slots__ = ("path",)

    def __init__(self, path):
        self.path = path


def once(factory):
    """A child factory that builds its node once: for directories whose own entries are fixed
    (their contents are still looked up when asked)."""
    cache = []

    def get():
        if not cache:
            cache.append(factory())
        return cache[0]
    return get


def lazy(table, more_names=None, more_get=None):
    """A Dir from a dict of name -> zero-argument node factory, plus optional further entries
    (`more_names()` lists them, `more_get(name)` finds one) so big directories stay lazy."""
    def names():
        return list(table) + (list(more_names()) if more_names else [])

    def get(n):
        if n in table:
            return table[n]()
        return more_get(n) if more_get else None
    return Dir(names, get)
