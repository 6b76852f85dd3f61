"""The %%iommush cell magic: `%load_ext iommulab`, then a cell starting with `%%iommush` (or
`%%iommush k` to name the kernel) runs as shell text on that notebook's simulated kernel."""


def _find_kernel(ns, name):
    from ..kernel.kernel import Kernel
    if name:
        obj = ns.get(name)
        if not isinstance(obj, Kernel):
            return None, f"%%iommush: {name!r} is not an iommulab Kernel in this notebook"
        return obj, None
    kernels = {n: v for n, v in ns.items() if isinstance(v, Kernel) and not n.startswith("_")}
    if len(kernels) == 1:
        return next(iter(kernels.values())), None
    if "k" in kernels:
        return kernels["k"], None
    if not kernels:
        return None, ("%%iommush: no Kernel in this notebook yet; create one first, for example\n"
                      "    from iommulab import Kernel\n    k = Kernel.from_scenario(\"desktop-gpu\")")
    return None, f"%%iommush: several kernels ({', '.join(sorted(kernels))}); name one: %%iommush {sorted(kernels)[0]}"


def iommush(line, cell, ns):
    """Run `cell` on the kernel named by `line` (or the notebook's only kernel); print like a terminal."""
    import sys
    k, err = _find_kernel(ns, line.strip())
    if err:
        print(err, file=sys.stderr)
        return None
    r = k.sh(cell)
    if r.stdout:
        sys.stdout.write(r.stdout)
    if r.stderr:
        sys.stderr.write(r.stderr)
    return None


def register(ipython):
    def magic(line, cell):
        return iommush(line, cell, ipython.user_ns)
    magic.__doc__ = iommush.__doc__
    ipython.register_magic_function(magic, magic_kind="cell", magic_name="iommush")
