"""modprobe, rmmod, lsmod and uname over the kernel's modules (iommulab.kernel.module)."""
from ..kernel.errno import EBUSY, EINVAL, ENOENT, EPERM, strerror
from ..kernel.iommu_init import kernel_release, uname_machine
from ..kernel.module import delete_module, load_module, module_name


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
        if rc == -EINVAL:                   # kmod's insmod error: init_module() failed
            io.error(f"modprobe: ERROR: could not insert '{mod}': {strerror(EINVAL)}")
            return 1
        msg = f"Module {name} not found in directory /lib/modules/{kernel_release(k)}" if rc else None
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
        held = _support_module_in_use(k, mod)
        if held is not None:
            io.error(held)
            status = 1
            continue
        rc = delete_module(k, mod)
        if rc:
            why = {-ENOENT: "is not currently loaded", -EBUSY: "is in use", -EPERM: "is builtin."}[rc]
            io.error(f"rmmod: ERROR: Module {mod} {why}")
            status = 1
    return status


# Representative sizes (bytes of the module's core, as /proc/modules shows them) of a Debian
# amd64 6.x kernel; a module the table does not know shows 16384.
_SIZES = {"vfio_pci": 16384, "vfio_pci_core": 94208, "vfio_iommu_type1": 45056, "vfio": 69632,
          "iommufd": 98304, "irqbypass": 16384, "kvm": 1146880, "kvm_intel": 380928, "kvm_amd": 204800,
          "vfio_platform": 16384, "vfio_platform_base": 28672, "vfio_amba": 16384, "vfio_fsl_mc": 32768,
          "vfio_cdx": 20480, "pci_stub": 16384, "xhci_pci": 24576, "xhci_hcd": 311296, "nvme": 57344,
          "nouveau": 2846720, "snd_hda_intel": 57344, "e1000e": 327680, "i40e": 569344, "iavf": 110592,
          "igb": 282624, "mlx5_core": 2203648, "hns3": 245760}
# Modules a module needs loaded first (its symbol dependencies, `depends:` of modinfo).
_DEPENDS = {"vfio_pci": ("vfio_pci_core", "vfio"), "vfio_pci_core": ("vfio", "irqbypass"),
            "vfio_platform": ("vfio_platform_base", "vfio"), "vfio_amba": ("vfio_platform_base", "vfio"),
            "vfio_platform_base": ("vfio",), "vfio_fsl_mc": ("vfio",), "vfio_cdx": ("vfio",),
            "vfio_iommu_type1": ("vfio",), "vfio": ("iommufd",), "kvm_intel": ("kvm",), "kvm_amd": ("kvm",),
            "kvm": ("irqbypass",), "xhci_pci": ("xhci_hcd",)}


def _module_exists(k, m):
    """Whether the module is a loadable module of this kernel: arm64 builds KVM (and so
    irqbypass) in; iommufd only with CONFIG_IOMMUFD; vfio_iommu_type1 only while the legacy
    container is VFIO's own (not CONFIG_IOMMUFD_VFIO_CONTAINER)."""
    if m in ("kvm", "irqbypass", "kvm_intel", "kvm_amd"):
        return k.arch == "x86_64"
    if m == "iommufd":
        return bool(k.config.get("CONFIG_IOMMUFD"))
    if m == "vfio_iommu_type1":
        return not k.config.get("CONFIG_IOMMUFD_VFIO_CONTAINER")
    return True


def _driver_modules(k):
    """Modules of registered drivers, in load order. The VFIO drivers of platform, amba, fsl-mc
    and cdx exist only on arm64 and are shown when the machine has devices on their bus."""
    from ..kernel.module import BUILTIN_MODULES
    out = []
    for d in k.drivers.values():
        m = d.module
        if not d.registered or m in BUILTIN_MODULES or m in out:
            continue
        arm_vfio = d.name == d.bus.ops.VFIO_DRIVER and d.bus.name != "pci"    # the bus's VFIO driver
        if arm_vfio and (k.arch != "arm64" or not any(x.bus is d.bus for x in k.devices.values())):
            continue
        out.append(m)
    return out


def loaded_modules(k):
    """/proc/modules order reversed: each module after the modules it needs; the CPU's KVM
    module first (udev loads it by CPU modalias), vfio's soft dependency vfio_iommu_type1
    right after vfio (MODULE_SOFTDEP("post: vfio_iommu_type1 ...") in vfio_main.c)."""
    order = []

    def load(m):
        if m in order or not _module_exists(k, m):
            return
        for dep in _DEPENDS.get(m, ()):
            load(dep)
        order.append(m)
        if m == "vfio":
            load("vfio_iommu_type1")
    if k.arch == "x86_64":
        load("kvm_amd" if k.iommu_driver == "amd" else "kvm_intel")
    for m in _driver_modules(k):
        load(m)
    return order


def _open_files(k):
    """Every open file once, however many descriptors share it."""
    seen = {}
    for p in k.processes.values():
        for f in p.fds.values():
            seen[id(f)] = f
    return list(seen.values())


def _refcounts(k, order):
    """module_refcount(): one per module that uses its symbols (ref_module()), plus what holds
    it: an open file of a misc or chardev it owns (fops_get()), a VFIO device opened through
    its driver (try_module_get() in vfio_df_device_first_open), a container whose IOMMU driver
    it is (vfio_ioctl_set_iommu()), a VM of its KVM module (kvm_create_vm())."""
    users = {m: [] for m in order}
    for m in order:
        for dep in _DEPENDS.get(m, ()):
            if dep in users:
                users[dep].append(m)
    counts = {m: len(u) for m, u in users.items()}

    def hold(m, n=1):
        if m in counts:
            counts[m] += n
    for f in _open_files(k):
        if f.kind in ("vfio-group", "vfio-device", "vfio-cdev"):
            hold("vfio")
        elif f.kind == "vfio-container":
            hold("vfio")
            if f.obj.iommu_driver is not None:
                hold("vfio_iommu_type1")
        elif f.kind == "iommufd":             # /dev/iommu, or /dev/vfio/vfio in compat mode
            hold("iommufd")
    for dev in k.devices.values():
        vdev = dev.vfio_device
        if vdev is not None and vdev.open_count and dev.driver is not None:
            hold(dev.driver.module)
    vms = sum(1 for p in k.processes.values() if "qemu-system" in p.name
              and any(w in (p.cmdline or "") for w in ("-enable-kvm", "accel=kvm")))
    hold("kvm_amd" if k.iommu_driver == "amd" else "kvm_intel", vms)
    return counts, users


def _support_module_in_use(k, mod):
    """kmod's check_module_inuse() for a loaded module that has no driver of its own (vfio,
    vfio_pci_core, iommufd, ...): "in use by: <holders>" or "in use" (refcount), else a note that
    the simulator does not unload it. None for any other module (delete_module() answers)."""
    from ..kernel.module import module_drivers
    order = loaded_modules(k)
    if mod not in order or module_drivers(k, mod):
        return None
    counts, users = _refcounts(k, order)
    if users[mod]:
        return f"rmmod: ERROR: Module {mod} is in use by: {' '.join(reversed(users[mod]))}"
    if counts[mod]:
        return f"rmmod: ERROR: Module {mod} is in use"
    return f"iommulab: unloading {mod} is not modelled (it has no driver of its own); it stays loaded"


def lsmod(sh, argv, io, line):
    """kmod's lsmod: /proc/modules, newest first, "%-19s %8lu  %d" with the users' names."""
    k = sh.k
    order = loaded_modules(k)
    counts, users = _refcounts(k, order)
    lines = ["Module                  Size  Used by"]
    for m in reversed(order):
        names = ",".join(reversed(users[m]))
        lines.append(f"{m:<19} {_SIZES.get(m, 16384):>8}  {counts[m]}" + (f" {names}" if names else ""))
    io.write("\n".join(lines) + "\n")
    return 0


def uname(sh, argv, io, line):
    """uname [-a|-r|-m|-s|-n|-v]: the kernel's utsname (iommulab.kernel.iommu_init)."""
    k = sh.k
    fields = {"s": "Linux", "n": "iommulab", "r": kernel_release(k), "v": "#1 SMP PREEMPT_DYNAMIC",
              "m": uname_machine(k)}
    want = []
    for a in argv[1:]:
        if a in ("-a", "--all"):
            want = ["s", "n", "r", "v", "m", "o"]
            break
        if not a.startswith("-") or any(c not in "snrvmo" for c in a[1:]):
            io.error(f"uname: invalid option -- '{a.lstrip('-')[:1]}'\nTry 'uname --help' for more information.")
            return 1
        want += list(a[1:])
    want = [c for c in "snrvmo" if c in (want or ["s"])]
    io.write(" ".join("GNU/Linux" if c == "o" else fields[c] for c in want) + "\n")
    return 0


COMMANDS = {"modprobe": modprobe, "rmmod": rmmod, "lsmod": lsmod, "uname": uname}
