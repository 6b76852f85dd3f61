"""The file view: sysfs and /dev as user space sees them (../shared/spec/api.md §3).

This module is the tree and the VFS operations (read, write, listdir, readlink, lstat). The
attributes' stores live beside the kernel code they mirror: bus_attrs.py (bind, unbind,
drivers_probe, driver_override, new_id, remove_id), pci_sysfs.py (rescan, remove), iov.py
(sriov_numvfs), iommu_group_type.py (type); pending.py holds the writes Linux blocks on. A store
returns the byte count or a negative errno; write() turns that into None, a PendingWrite, or
OSError with Linux's errno.
"""
import posixpath

from . import devnodes
from .bus_attrs import (strip_newline, bind_store, drivers_autoprobe_store, drivers_probe_store,
                        driver_override_store, new_id_store, param_set_bool, remove_id_store, unbind_store)
from .errno import EACCES, EINVAL, EISDIR, ENOENT, ENOTDIR, oserror
from .iommu_group_type import iommu_group_show_type, iommu_group_store_type
from .iommu_init import saved_command_line
from .pending import PendingWrite
from .reasons import refuse
from .trace import traced
from .debugfs import DebugfsFile, debugfs_dir
from .kernfs import Attr, CharDev, Dir, Link, lazy as _lazy, name_number, once as _once


# --- tree -------------------------------------------------------------------------------------

def root(k):
    """The tree's root. /, /sys and /sys/bus/<bus> have fixed entries, so they are built once per
    boot; everything below resolves against the current state on each lookup."""
    r = k.__dict__.get("_sysfs_root")
    if r is None or r[0] is not k.buses:
        r = (k.buses, _lazy({"dev": lambda: _dev_dir(k, "/dev"), "proc": lambda: _proc(k),
                             "sys": _once(lambda: _sys(k))}), {})
        k.__dict__["_sysfs_root"] = r
    return r[1]


def _node_cache(k):
    """Per-boot cache of directory nodes whose fixed entries belong to one object (a driver, a
    device); their state-dependent entries are looked up on each access."""
    root(k)
    return k.__dict__["_sysfs_root"][2]


def _sys(k):
    return _lazy({"bus": _once(lambda: _bus_root(k)), "devices": lambda: _devices_root(k),
                  "kernel": lambda: _lazy({"iommu_groups": lambda: _groups(k), "debug": lambda: debugfs_dir(k)}),
                  "module": lambda: _modules(k)})


def _proc(k):
    def pid_dir(n):
        p = k.processes.get(name_number(n))
        if p is None:
            return None
        return _lazy({"comm": lambda: Attr(show=lambda: p.name + "\n"),
                      "cmdline": lambda: Attr(show=lambda: p.cmdline + "\n"),
                      "fd": lambda: Dir(lambda: [str(fd) for fd in sorted(p.fds)],
                                        lambda fd: Link(p.fds[name_number(fd)].path, absolute=True)
                                        if name_number(fd) in p.fds else None)})
    return _lazy({"cmdline": lambda: Attr(show=lambda: saved_command_line(k) + "\n"),
                  "sys": lambda: _lazy({"kernel": lambda: _lazy(
                      {"tainted": lambda: Attr(show=lambda: f"{k.taint}\n")})})},
                 lambda: [str(pid) for pid in sorted(k.processes)], pid_dir)


def _dev_dir(k, path):
    nodes = devnodes.dev_nodes(k)
    prefix = path.rstrip("/") + "/"
    children = {}
    for n in nodes:
        if n.startswith(prefix):
            rest = n[len(prefix):]
            head = rest.split("/", 1)[0]
            children[head] = children.get(head) or ("/" in rest)
    return Dir(lambda: sorted(children),
               lambda n: (None if n not in children else
                          _dev_dir(k, prefix + n) if children[n] else CharDev(prefix + n)))


def _bus_root(k):
    buses = {name: _once(lambda bus=bus: _bus(k, bus)) for name, bus in k.buses.items()}
    return Dir(lambda: sorted(k.buses), lambda n: buses[n]() if n in buses else None)


def _bus(k, bus):
    t = {"devices": lambda: Dir(lambda: [d.name for d in k.bus_devices(bus)],
                                lambda n: Link(device_path(k.devices[n]))
                                if n in k.devices and k.devices[n].bus is bus else None),
         "drivers": lambda: Dir(lambda: [d.name for d in k.bus_drivers(bus)],
                                lambda n: _cached_dir(k, k.drivers[n], _driver_dir)
                                if n in k.drivers and k.drivers[n].bus is bus and k.drivers[n].registered
                                else None),
         "drivers_probe": lambda: Attr(store=lambda buf, caps: drivers_probe_store(bus, buf),
                                       lock_named=True),
         "drivers_autoprobe": lambda: Attr(show=lambda: f"{int(bus.drivers_autoprobe)}\n",
                                           store=lambda buf, caps: drivers_autoprobe_store(bus, buf)),
         "uevent": lambda: Attr(store=lambda buf, caps: len(buf))}
    for name, kw in bus.ops.sysfs_bus_attrs(bus).items():      # the bus's own files (pci: rescan)
        t[name] = lambda kw=kw: Attr(**kw)
    return _lazy(t)


def _cached_dir(k, obj, build):
    cache = _node_cache(k)
    node = cache.get(obj)
    if node is None:
        node = cache[obj] = build(k, obj)
    return node


def _driver_dir(k, drv):
    t = {"uevent": lambda: Attr(store=lambda buf, caps: len(buf)),
         "module": lambda: Link(f"/sys/module/{drv.module}")}
    if not drv.suppress_bind_attrs:
        t["bind"] = lambda: Attr(store=lambda buf, caps: bind_store(drv, buf), lock_named=True)
        t["unbind"] = lambda: Attr(store=lambda buf, caps: unbind_store(drv, buf), lock_named=True)
    if drv.bus.has_new_id:
        t["new_id"] = lambda: Attr(store=lambda buf, caps: new_id_store(drv, buf))
        t["remove_id"] = lambda: Attr(store=lambda buf, caps: remove_id_store(drv, buf))

    def bound(n):
        d = k.devices.get(n)
        return Link(device_path(d)) if d is not None and driver_sysfs_bound(d) is drv else None
    return _lazy(t, lambda: [d.name for d in k.bus_devices(drv.bus) if driver_sysfs_bound(d) is drv],
                 bound)


def driver_sysfs_bound(dev):
    """The driver the device's `driver` link (and the driver's entry for it) shows. Unbinding,
    __device_release_driver() calls driver_sysfs_remove() before the driver's remove(), so while
    a VFIO remove() waits for user space both links are gone although dev->driver is still set."""
    return dev.driver if dev.driver_linked else None


def device_path(dev):
    """The canonical /sys/devices/... path of a device: its bus's layout (kernel/bus/)."""
    return dev.bus.ops.device_path(dev)


def _devices_root(k):
    def tops():
        return sorted({device_path(d).split("/")[3] for d in k.devices.values()})

    def get(n):
        # a PCI root "pciDDDD:00" or a bus directory; which devices it holds is checked below it
        if n in k.buses or any(b.ops.owns_devices_dir(n) for b in k.buses.values()):
            return _device_container(k, n)
        return None
    return Dir(tops, get)


def _device_container(k, top):
    def children():
        out = []
        for d in k.devices.values():
            parts = device_path(d).split("/")
            if parts[3] == top and len(parts) == 5:
                out.append(d.name)
        return sorted(out)

    def get(n):
        d = k.devices.get(n)
        if d is not None and device_path(d) == f"/sys/devices/{top}/{n}":
            return _device_dir(k, d)
        return None
    return Dir(children, get)


def _device_dir(k, dev):
    return _cached_dir(k, dev, _build_device_dir)


def _build_device_dir(k, dev):
    """Fixed attributes in the table; the driver and group links, vfio-dev, VF links and child
    devices depend on the state and are looked up on each access."""
    t = {"uevent": lambda: Attr(show=lambda: f"DRIVER={dev.driver.name}\n" if dev.driver else "",
                                store=lambda buf, caps: len(buf)),
         "subsystem": lambda: Link(f"/sys/bus/{dev.bus.name}")}
    if dev.bus.has_override:
        t["driver_override"] = lambda: Attr(
            show=lambda: f"{dev.driver_override if dev.driver_override is not None else '(null)'}\n",
            store=lambda buf, caps: driver_override_store(dev, buf), dev=dev)
    for name, kw in dev.bus.ops.sysfs_device_attrs(dev).items():   # pci: vendor, device, class, remove
        t[name] = lambda kw=kw: Attr(**kw)
    if dev.sriov_totalvfs:
        from .iov import sriov_numvfs_store
        t["sriov_totalvfs"] = lambda: Attr(show=lambda: f"{dev.sriov_totalvfs}\n")
        t["sriov_numvfs"] = lambda: Attr(show=lambda: f"{dev.num_vfs}\n",
                                         store=lambda buf, caps: sriov_numvfs_store(dev, buf), dev=dev)

    def dynamic():
        from .iov import virtfns
        d = {}
        if driver_sysfs_bound(dev) is not None:
            d["driver"] = lambda: Link(f"/sys/bus/{dev.bus.name}/drivers/{dev.driver.name}")
        if dev.iommu_group is not None:
            d["iommu_group"] = lambda: Link(f"/sys/kernel/iommu_groups/{dev.iommu_group.id}")
        if dev.sriov_totalvfs:
            for i, vf in enumerate(virtfns(dev)):
                d[f"virtfn{i}"] = (lambda vf=vf: Link(device_path(vf)))
        if dev.physfn is not None and dev.physfn in k.devices:
            d["physfn"] = lambda: Link(device_path(k.devices[dev.physfn]))
        vdev = dev.vfio_device
        if vdev is not None and vdev.added:
            d["vfio-dev"] = lambda: _lazy({f"vfio{vdev.index}": lambda: _vfio_dev_dir(k, vdev)})
        return d

    def more_names():
        return list(dynamic()) + [c.name for c in k.devices.values() if c.parent == dev.name]

    def more_get(n):
        d = dynamic()
        if n in d:
            return d[n]()
        c = k.devices.get(n)
        return _device_dir(k, c) if c is not None and c.parent == dev.name else None
    return _lazy(t, more_names, more_get)


def _vfio_dev_dir(k, vdev):
    """vfio-dev/vfio<N>: a class vfio-dev device; `dev` (major:minor) only where it has a cdev."""
    t = {"uevent": lambda: Attr(show=lambda: f"MAJOR={devnodes.VFIO_DEVICE_MAJOR}\nMINOR={vdev.index}\n"
                                f"DEVNAME=vfio/devices/vfio{vdev.index}\n" if vdev.cdev_added else "",
                                store=lambda buf, caps: len(buf))}
    if vdev.cdev_added:
        t["dev"] = lambda: Attr(show=lambda: f"{devnodes.VFIO_DEVICE_MAJOR}:{vdev.index}\n")
    return _lazy(t)


def _groups(k):
    return Dir(lambda: [str(n) for n in sorted(k.iommu_groups)],
               lambda n: _group_dir(k, k.iommu_groups[name_number(n)])
               if name_number(n) in k.iommu_groups else None)


def _group_dir(k, g):
    return _lazy({
        "devices": lambda: Dir(lambda: [d.name for d in g.devices],
                               lambda n: next((Link(device_path(d)) for d in g.devices
                                               if d.name == n), None)),
        "type": lambda: Attr(show=lambda: iommu_group_show_type(g),
                             store=lambda buf, caps: iommu_group_store_type(g, buf, caps)),
        # a VFIO no-IOMMU group is not an IOMMU-API group: no regions, and a "name" file
        "reserved_regions": lambda: Attr(show=lambda: "" if g.name else _reserved_regions(k)),
        **({"name": lambda: Attr(show=lambda: g.name + "\n")} if g.name else {}),
    })


def _reserved_regions(k):
    """iommu_get_group_resv_regions(): x86 VT-d/AMD-Vi reserve the interrupt window (IOAPIC_RANGE
    / MSI_RANGE, 0xfee00000-0xfeefffff, IOMMU_RESV_MSI); the Arm SMMU drivers a software MSI
    window at MSI_IOVA_BASE 0x8000000, length 0x100000 (IOMMU_RESV_SW_MSI, also shown "msi")."""
    if k.iommu_driver in ("arm-smmu-v3", "arm-smmu"):
        return "0x0000000008000000 0x00000000080fffff msi\n"
    return "0x00000000fee00000 0x00000000feefffff msi\n"


_MODULE_PARAMS = {"iommufd": ("allow_unsafe_interrupts",),
                  "vfio_iommu_type1": ("allow_unsafe_interrupts",),
                  "vfio": ("enable_unsafe_noiommu_mode",),        # 0644 (vfio_main.c)
                  "vfio_platform": ("reset_required",)}           # 0444 (vfio_platform.c)
_READ_ONLY_PARAMS = frozenset(("vfio_platform.reset_required",))


def _modules(k):
    mods = set(_MODULE_PARAMS) | {d.module for d in k.drivers.values() if d.registered}
    if k.config["CONFIG_IOMMUFD_VFIO_CONTAINER"]:
        mods.discard("vfio_iommu_type1")            # CONFIG_VFIO_CONTAINER is off: not built
    if not (k.f.iommufd and k.config["CONFIG_IOMMUFD"]):
        mods.discard("iommufd")                     # not built (every Debian kernel)
    mods = sorted(mods)

    def module(m):
        params = [p for p in _MODULE_PARAMS.get(m, ()) if f"{m}.{p}" in k.params]
        # module_param_sysfs_setup(): no parameters, no directory (vfio without CONFIG_VFIO_NOIOMMU);
        # a module whose parameters the model does not list keeps an empty one
        t = {"parameters": lambda: _lazy({p: (lambda p=p: _param_attr(k, f"{m}.{p}")) for p in params})} \
            if params or m not in _MODULE_PARAMS else {}
        drvs = [d for d in k.drivers.values() if d.module == m]
        if drvs:
            t["drivers"] = lambda: _lazy({f"{d.bus.name}:{d.name}": (lambda d=d: Link(
                f"/sys/bus/{d.bus.name}/drivers/{d.name}")) for d in drvs})
        return _lazy(t)
    return Dir(lambda: mods, lambda n: module(n) if n in mods else None)


def _param_attr(k, key):
    store = None if key in _READ_ONLY_PARAMS else (lambda buf, caps: param_set_bool(k, key, buf))
    return Attr(show=lambda: "Y\n" if k.params[key] else "N\n", store=store)


# --- path resolution --------------------------------------------------------------------------

def _resolve(k, path, follow_last=True):
    """(canonical_path, node) or raises OSError(ENOENT/ENOTDIR)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise oserror(-ENOENT, str(path))          # the model resolves absolute paths only
    if "/." in path or "//" in path:
        path = posixpath.normpath(path)
    parts = [p for p in path.split("/") if p]
    node, cur = root(k), "/"
    hops = 0
    i = 0
    while i < len(parts):
        name = parts[i]
        if not isinstance(node, Dir):
            raise oserror(refuse(k, ENOTDIR, "not-a-directory", path=path), path)
        child = node.get(name)
        if child is None:
            raise oserror(refuse(k, ENOENT, "no-such-file", path=path), path)
        here = cur + name if cur == "/" else cur + "/" + name
        last = i == len(parts) - 1
        if isinstance(child, Link) and (follow_last or not last):
            if not child.target.startswith("/"):         # anon_inode:[...] leads nowhere
                raise oserror(refuse(k, ENOENT, "no-such-file", path=path), path)
            hops += 1
            if hops > 40:
                raise oserror(refuse(k, ENOENT, "no-such-file", path=path), path)
            rest = parts[i + 1:]
            parts = [p for p in child.target.split("/") if p] + rest
            node, cur, i = root(k), "/", 0
            continue
        node, cur = child, here
        i += 1
    return cur, node


def exists(k, path):
    try:
        _resolve(k, path)
        return True
    except OSError:
        return False


def isdir(k, path):
    try:
        return isinstance(_resolve(k, path)[1], Dir)
    except OSError:
        return False


def listdir(k, path):
    _, node = _resolve(k, path)
    if not isinstance(node, Dir):
        raise oserror(-ENOTDIR, path)
    return list(node.names())


def readlink(k, path):
    """The link text, relative like sysfs's own links."""
    cur, node = _resolve(k, path, follow_last=False)
    if not isinstance(node, Link):
        raise oserror(-EINVAL, path)
    if node.absolute:
        return node.target
    return posixpath.relpath(node.target, posixpath.dirname(cur))


def realpath(k, path):
    return _resolve(k, path)[0]


class Stat:
    """What lstat(2) tells: kind (dir, file, link, chardev), the ls -l mode string, size, and
    whether the file can be read and written."""
    __slots__ = ("kind", "mode", "size", "readable", "writable", "rdev")

    def __init__(self, kind, mode, size, readable, writable, rdev=None):
        self.kind, self.mode, self.size, self.readable, self.writable = kind, mode, size, readable, writable
        self.rdev = rdev                # (major, minor) of a character device


_PRIVATE_NODES = ("/dev/iommu",)


def lstat(k, path):
    """lstat(2) of a path (a final link is not followed); raises OSError(ENOENT)."""
    cur, node = _resolve(k, path, follow_last=False)
    if isinstance(node, Dir):
        if cur == "/sys/kernel/debug":        # debugfs's root is mode 0700 by default
            return Stat("dir", "drwx------", 0, True, False)
        return Stat("dir", "drwxr-xr-x", 0, True, False)
    if isinstance(node, Link):
        return Stat("link", "lrwxrwxrwx", 0, True, True)
    if isinstance(node, CharDev):
        shared = node.path in ("/dev/null", "/dev/vfio/vfio")
        return Stat("chardev", "crw-rw-rw-" if shared else "crw-------", 0, True, True,
                    devnodes.devt(k, node.path))
    if isinstance(node, DebugfsFile):
        return Stat("file", "-r--r--r--", 0, True, True)    # root passes access(W_OK); write() fails
    r, w = node.show is not None, node.store is not None
    mode = "-" + ("r" if r else "-") + ("w" if w else "-") + "-" + ("r--r--" if r else "------")
    return Stat("file", mode, 4096, r, w)


def read(k, path):
    k.check_alive()
    _, node = _resolve(k, path)
    if isinstance(node, Dir):
        raise oserror(-EISDIR, path)
    if isinstance(node, CharDev):
        if node.path == "/dev/null":
            return ""
        raise oserror(-EINVAL, path)
    if node.show is None:
        raise oserror(-EACCES, path)
    return node.show()


def write(k, path, data, caps):
    """Returns None, or a PendingWrite when Linux would block; raises OSError on failure."""
    k.check_alive()
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if not isinstance(data, str):
        data = str(data)
    rc = vfs_write(k, path, data, caps)
    if isinstance(rc, PendingWrite):
        return rc
    if rc < 0:
        raise oserror(rc, path)
    return None


def _write_groups(k, path, data, caps):
    """The groups a write concerns: the device named by the path or the data, or the group file."""
    names = [p for p in path.split("/") if p] + [strip_newline(data)]
    out = []
    for n in names:
        d = k.devices.get(n)
        if d is not None and d.iommu_group is not None:
            out.append(d.iommu_group)
    if "/iommu_groups/" in path:
        num = path.split("/iommu_groups/")[1].split("/")[0]
        if name_number(num) in k.iommu_groups:
            out.append(k.iommu_groups[name_number(num)])
    return out


@traced(_write_groups, op="write")
def vfs_write(k, path, data, caps):
    """write(2) on a sysfs or /dev path: the byte count, a negative errno, or a PendingWrite."""
    try:
        _, node = _resolve(k, path)
    except OSError as e:
        return -e.errno
    if isinstance(node, Dir):
        return refuse(k, EISDIR, "is-a-directory", path=path)
    if isinstance(node, CharDev):
        return len(data) if node.path == "/dev/null" else refuse(k, EINVAL, "not-writable", path=path)
    if node.store is None:
        return refuse(k, EACCES, "read-only", path=path)
    dev = _locked_device(k, node, data)
    if dev is not None:
        pw = PendingWrite(k, path, data, caps, f"waiting for {dev.name}'s device lock",
                          retry=lambda: write(k, path, data, caps))
        dev.locked_by.queue.append(pw)
        k.pending.append(pw)
        return pw
    return node.store(data, caps)


def _locked_device(k, node, data):
    """The device whose lock this write needs while a blocked write holds it, if any."""
    dev = node.dev
    if dev is None and node.lock_named:
        dev = k.devices.get(strip_newline(data))
    if dev is None or dev.locked_by is None:
        return None
    return dev
