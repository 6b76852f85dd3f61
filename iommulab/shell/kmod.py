"""modprobe, rmmod, lsmod and uname over the kernel's modules (iommulab.kernel.module)."""
from ..kernel.errno import EBUSY, ENOENT, EPERM
from ..kernel.module import delete_module, load_module, module_name


def _release(k):
    r = k.f.release
    return r if r.count(".") == 2 else (r + ".0" if r[0].isdigit() else r)


def modprobe(sh, argv, io, line):
    k = sh.k
    remove = False
    args = []
    for a in argv[1:]:
        if a in ("-r", "--remove"):
            remove = True
        elif a in ("-v", "-q", "--verbose", "--quiet", "-a"):
            continue
        elif a.startswith("-"):
            io.error(f"modprobe: unrecognized option '{a}'")
            return 1
        else:
            args.append(a)
    if not args:
        io.error("modprobe: ERROR: missing parameters. See -h.")
        return 1
    name, params = args[0], {}
    for p in args[1:]:
        key, eq, value = p.partition("=")
        params[key] = value if eq else "1"
    mod = module_name(name)
    if remove:
        rc = delete_module(k, mod)
        msg = {-ENOENT: f"Module {mod} is not in kernel.", -EBUSY: f"Module {mod} is in use.",
               -EPERM: f"Module {mod} is builtin."}.get(rc)
    else:
        rc = load_module(k, mod, params)
        msg = f"Module {name} not found in directory /lib/modules/{_release(k)}" if rc else None
    if rc:
        io.error(f"modprobe: FATAL: {msg}")
        return 1
    return 0


def rmmod(sh, argv, io, line):
    k = sh.k
    names = [a for a in argv[1:] if not a.startswith("-")]
    if not names:
        io.error("rmmod: ERROR: missing module name.")
        return 1
    status = 0
    for name in names:
        mod = module_name(name)
        rc = delete_module(k, mod)
        if rc:
            why = {-ENOENT: "is not currently loaded", -EBUSY: "is in use", -EPERM: "is builtin."}[rc]
            io.error(f"rmmod: ERROR: Module {mod} {why}")
            status = 1
    return status


def lsmod(sh, argv, io, line):
    k = sh.k
    mods = sorted({d.module for d in k.drivers.values() if d.registered and d.builtin != "pcieport"})
    lines = ["Module                  Size  Used by"]
    for m in mods:
        used = sum(1 for dev in k.devices.values() if dev.driver is not None and dev.driver.module == m)
        lines.append(f"{m:<24}{16384:>6}  {used}")
    io.write("\n".join(lines) + "\n")
    return 0


def uname(sh, argv, io, line):
    k = sh.k
    if "-r" in argv:
        io.write(_release(k) + "\n")
    elif "-a" in argv:
        io.write(f"Linux iommulab {_release(k)} #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n")
    else:
        io.write("Linux\n")
    return 0


COMMANDS = {"modprobe": modprobe, "rmmod": rmmod, "lsmod": lsmod, "uname": uname}
