"""The simulated machine: boot from a scenario, the kernel log, snapshots and the public surface
of ../shared/spec/api.md (§1 booting, §2 state, §3 the file view, §5 processes)."""
import heapq
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import dd, iommu_init, sysfs
from .bus import BUSES, make_buses
from .device import Device
from .drivers import Driver, builtin_drivers
from .iommu import (iommu_group_add_device,
                    iommu_group_alloc, iommu_group_remove_device)
from .kobject import Snapshot, restore_snapshot, take_snapshot
from .params import default_domain_type, params_from_cmdline
from .process import ALL_CAPS, Process
from .scenario import load, load_text
from .state import observable_state
from .trace import Tracer
from .version import features_for

if TYPE_CHECKING:
    from .pending import PendingWrite


_API_FUNCTIONS = frozenset((
    "iommu_device_use_default_domain", "iommu_device_unuse_default_domain", "iommu_group_claim_dma_owner",
    "iommu_group_release_dma_owner", "iommu_device_claim_dma_owner", "iommu_device_release_dma_owner",
    "iommu_group_dma_owner_claimed", "iommu_attach_group", "iommu_detach_group", "iommu_attach_device",
    "iommu_detach_device", "iommu_paging_domain_alloc", "iommu_attach_device_pasid", "iommu_detach_device_pasid",
    "iommu_device_set_dma_owner"))
_RFC_FUNCTIONS = frozenset(("iommu_device_set_dma_owner", "iommu_device_release_dma_owner"))


class KernelCrashed(RuntimeError):
    """The simulated kernel hit a BUG: every operation fails until k.reboot()."""


# Kernel-level fields a snapshot copies (everything else is in the KObjects). "buses" never changes
# after boot, but reboot() makes new bus objects: restoring a moment before it brings the old back.
_STATE_KEYS = ("devices", "hotplug", "drivers", "iommu_groups", "vfio_groups", "processes", "cdevs",
               "pci_bus_index", "buses",
               "deferred_probe", "unregistering", "pending", "params", "crashed", "retrying_deferred", "taint",
               "domain_seq", "container_seq", "ictx_seq", "pid_seq", "free_cdev", "cdev_next",
               "free_group_minors", "group_minor_next", "free_groups", "group_next", "reserved_groups",
               "printed_once")
# Of those, the id allocators: an action that failed may have used an id up and changed nothing else.
ID_ALLOCATORS = ("pid_seq", "domain_seq", "container_seq", "ictx_seq", "cdev_next", "free_cdev",
                 "group_minor_next", "free_group_minors")


class Kernel:
    """A booted kernel. Build one with Kernel.from_scenario(name_or_path) or Kernel.from_toml(text)."""

    @property
    def k(self):
        """Kernel functions find their kernel as `arg.k`; for the kernel itself that is itself."""
        return self

    # --- booting -----------------------------------------------------------------------------

    @classmethod
    def from_scenario(cls, name_or_path: "str | os.PathLike[str]") -> "Kernel":
        return cls(load(name_or_path))

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> "Kernel":
        return cls(load_text(text, source))

    def __init__(self, scenario):
        self.scenario = scenario
        kern = scenario["kernel"]
        self.version = kern["version"]
        self.f = features_for(self.version, kern.get("reverted", ()))
        self.config = dict(kern["config"])
        self.cmdline = kern["cmdline"]
        self.msi_isolation = kern["msi_isolation"]
        self.arch = kern["arch"]                    # "x86_64" | "arm64": uname -m, lspci's words
        self.iommu_driver = kern["iommu_driver"]    # "intel" | "amd" | "arm-smmu-v3" | "arm-smmu"
        self.qemu_version = scenario["qemu"]["version"]    # (major, minor, patch) of the shell's QEMU
        self.objects = []
        self.tracer = Tracer()
        self.dmesg_lines = []
        self.crashed = None
        self.taint = 0                      # /proc/sys/kernel/tainted bits (TAINT_USER: noiommu)
        self.retrying_deferred = False
        self.devices, self.hotplug, self.drivers = {}, {}, {}
        self.iommu_groups, self.vfio_groups, self.processes = {}, {}, {}
        self.cdevs = {}                     # vfio_device index (vfio<N>, 6.1+) -> VfioDevice
        self.pci_bus_index = {}             # (domain, bus) -> tuple of the PCI devices on it
        self.deferred_probe, self.unregistering, self.pending = [], [], []
        self.domain_seq = self.container_seq = self.ictx_seq = 0
        self.pid_seq = 1000
        self.printed_once = frozenset()      # pr_info_once() lines already printed this boot
        self.free_cdev, self.cdev_next = [], 0
        self.free_group_minors, self.group_minor_next = [], 0     # vfio.group_ida
        self.free_groups, self.group_next = [], 0
        self.reserved_groups = {d["group"] for d in scenario["devices"] if "group" in d}
        self.params = params_from_cmdline(self.cmdline, self.f, self.arch, self.config)
        self.default_domain_type = default_domain_type(self.params, self.arch)
        self.buses = make_buses(self)
        self._boot()

    def _boot(self):
        iommu_init.start_kernel(self)
        iommu_init.iommu_subsys_init(self)
        iommu_init.iommu_driver_probe(self)
        for cls in builtin_drivers(self.f):
            self._register_driver(cls.spec(), cls)
        for spec in self.scenario["drivers"]:
            self._register_driver(spec, Driver)
        devs = [Device(self, spec, self.buses[spec["bus"]]) for spec in self.scenario["devices"]]
        added = []
        for dev in enumeration_order(devs):
            if dev.present and (dev.parent is None or dev.parent in self.devices):
                self.device_add(dev, probe=False)
                added.append(dev)
            else:
                dev.present = False
                self.hotplug[dev.name] = dev
        for dev in added:                    # VFs listed in the scenario: SR-IOV already enabled
            if dev.physfn in self.devices:
                self.devices[dev.physfn].num_vfs += 1
        iommu_init.iommu_driver_registered(self)
        iommu_init.vfio_init(self)
        self._apply_module_ids()               # vfio_pci / pci_stub module init, before their probes
        for dev in added:                    # drivers load after enumeration, then probe in that order
            self.probe_at_boot(dev)
        dd.driver_deferred_probe_trigger(self)     # late_initcall retry
        self.tracer.record_boot(f"boot {self.f.release}", self.iommu_groups.values())

    def _register_driver(self, spec, cls):
        drv = cls(self, spec, self.buses[spec["bus"]])
        self.drivers[drv.name] = drv

    def _apply_module_ids(self):
        """vfio-pci.ids= / pci-stub.ids= from the command line become dynamic ids at module init."""
        from .module import apply_ids
        for drv_name in ("vfio-pci", "pci-stub"):
            drv = self.drivers[drv_name]
            apply_ids(self, drv, self.params.get(f"{drv.module}.ids", ""))

    def probe_at_boot(self, dev):
        want = dev.wanted_driver
        if want is not None:
            dd.probe_named_driver(dev, self.drivers[want])
        else:
            dd.bus_probe_device(dev)

    def reboot(self):
        """Boot the same scenario again (the only way out of a crashed kernel)."""
        self.__init__(self.scenario)

    # --- devices and groups ------------------------------------------------------------------

    def enumeration_order(self, devs):
        """enumeration_order() below, for the modules kernel.py itself imports (pci_sysfs)."""
        return enumeration_order(devs)

    def device_add(self, dev, probe=True):
        """device_add(): register, join an IOMMU group (iommu_probe_device), then probe."""
        self.devices[dev.name] = dev
        dev.registered = True
        dev.bus.ops.add_device(self, dev)
        self.iommu_probe_device(dev)
        if probe:
            self.probe_at_boot(dev)

    def iommu_probe_device(self, dev):
        if not dev.has_iommu:
            return
        from .topology import device_group
        group = device_group(self, dev)
        if self.f.old_vfio_viability and group.id in self.vfio_groups \
                and self.vfio_groups[group.id].container_users:
            self.warn("drivers/vfio/vfio.c", "vfio_group_nb_add_dev",      # dev_WARN: device prefix
                      f"{dev.log_prefix()}: Device added to live group {group.id}!")
        rc = iommu_group_add_device(group, dev)
        if rc:
            self.printk(f"{dev.bus.name} {dev.name}: Failed to add to iommu group {group.id}: {rc}")
            if not group.devices:
                del self.iommu_groups[group.id]
                self.free_group_number(group.id)
            return
        self.printk(f"{dev.bus.name} {dev.name}: Adding to iommu group {group.id}")

    def new_group(self, number=None):
        if number is None:
            number = self._alloc_group_number()
        return iommu_group_alloc(self, number)

    def _alloc_group_number(self):
        """iommu_group_alloc()'s ida_alloc(&iommu_group_ida), skipping a scenario's explicit numbers."""
        return self._ida_alloc(self.free_groups, "group_next",
                               lambda n: n in self.iommu_groups or n in self.reserved_groups)

    def _ida_alloc(self, free, next_name, taken=lambda n: False):
        """ida_alloc() (lib/idr.c): the lowest number not in use; `free` is a heap of freed numbers
        below the high-water mark kept in the attribute `next_name`."""
        while free:
            n = heapq.heappop(free)
            if not taken(n):
                return n
        n = getattr(self, next_name)
        while taken(n):
            n += 1
        setattr(self, next_name, n + 1)
        return n

    def free_group_number(self, n):
        if n not in self.reserved_groups:
            heapq.heappush(self.free_groups, n)

    def device_del(self, dev):
        """The end of device removal: leave the IOMMU group and the bus."""
        iommu_group_remove_device(dev)
        dev.registered = False
        self.devices.pop(dev.name, None)
        dev.bus.ops.remove_device(self, dev)
        dd.driver_deferred_probe_del(dev)

    def bus_drivers(self, bus):
        """The bus's registered drivers, in registration order."""
        return [d for d in self.drivers.values() if d.bus is bus and d.registered]

    def bus_devices(self, bus):
        return [d for d in self.devices.values() if d.bus is bus]

    @property
    def cdev_enabled(self):
        return self.f.vfio_cdev and self.config["CONFIG_VFIO_DEVICE_CDEV"]

    def alloc_cdev_index(self):
        """vfio_device_set_name()'s ida_alloc(&vfio.device_ida): vfio<N>'s N."""
        return self._ida_alloc(self.free_cdev, "cdev_next")

    def free_cdev_index(self, i):
        heapq.heappush(self.free_cdev, i)

    def alloc_group_minor(self):
        """vfio_group_alloc()'s ida_alloc_max(&vfio.group_ida): the lowest free minor."""
        return self._ida_alloc(self.free_group_minors, "group_minor_next")

    def free_group_minor(self, minor):
        heapq.heappush(self.free_group_minors, minor)

    # --- the kernel log ----------------------------------------------------------------------

    def printk(self, line):
        self.dmesg_lines.append(line)

    def printk_once(self, line):
        """pr_info_once(): the line, the first time this boot only."""
        if line not in self.printed_once:
            self.printed_once = self.printed_once | {line}
            self.dmesg_lines.append(line)

    def warn(self, file, func, text=""):
        """A WARN splat: the first line starts with WARNING: and names the function."""
        self.dmesg_lines.append(f"WARNING: CPU: 0 PID: 1 at {file} {func}")
        if text:
            self.dmesg_lines.append(text)
        self.tracer_note(f"WARN in {func}", ("warn", func))

    def tracer_note(self, text, mark=None):
        """Attach a note to the innermost running event (WARNs, completions), and the typed
        mark views read: ("warn", func), ("bug", func), ("completion", path), ("unbound", dev)."""
        tr = self.tracer
        if tr.events and tr.enabled:
            ev = tr.events[-1]
            ev.note = f"{ev.note}; {text}" if ev.note else text
            if mark is not None:
                ev.marks += (mark,)

    def crash(self, file, func, text):
        self.dmesg_lines += ["------------[ cut here ]------------",
                             f"kernel BUG at {file}! ({func}: {text})",
                             "invalid opcode: 0000 [#1] PREEMPT SMP",
                             "Kernel panic - not syncing: Fatal exception"]
        self.crashed = f"kernel BUG at {file} in {func}(): {text}"
        self.tracer_note("kernel BUG", ("bug", func))
        raise KernelCrashed(self._crash_text())

    def oops(self, text):
        self.dmesg_lines += [text, "Oops: 0000 [#1] PREEMPT SMP",
                             "Kernel panic - not syncing: Fatal exception"]
        self.crashed = text
        raise KernelCrashed(self._crash_text())

    def _crash_text(self):
        return f"the kernel has crashed ({self.crashed}); reboot the scenario with k.reboot()"

    def check_alive(self):
        if self.crashed:
            raise KernelCrashed(self._crash_text())

    def dmesg(self) -> list[str]:
        """Kernel log lines, oldest first."""
        return list(self.dmesg_lines)

    @property
    def events(self):
        return self.tracer.events

    # --- snapshots ---------------------------------------------------------------------------

    def snapshot(self, base: Snapshot | None = None) -> Snapshot:
        """A frozen copy of the whole kernel (kobject.take_snapshot); `base`, an earlier snapshot,
        lets unchanged objects (in chunks) and unchanged kernel-level containers share its copies.
        Events and the log are shared with the last snapshot or restore either way."""
        return take_snapshot(self, _STATE_KEYS, base)

    def restore(self, snap: Snapshot) -> None:
        """Put the kernel back as it was at `snap`, into the same objects (kobject.restore_snapshot)."""
        restore_snapshot(self, snap)

    def state(self, devices: Iterable[str] | None = None) -> dict[str, Any]:
        """Everything a learner can observe, as plain data (for comparisons and checks); with
        `devices`, only those devices, their groups and every member of those groups."""
        return observable_state(self, None if devices is None else set(devices))

    # --- the file view (§3) -------------------------------------------------------------------

    def write(self, path: str, data: str | bytes, caps: frozenset[str] = ALL_CAPS) -> "PendingWrite | None":
        return sysfs.write(self, path, data, caps)

    def read(self, path: str) -> str:
        return sysfs.read(self, path)

    def listdir(self, path: str) -> list[str]:
        return sysfs.listdir(self, path)

    def readlink(self, path: str) -> str:
        return sysfs.readlink(self, path)

    def exists(self, path):
        return sysfs.exists(self, path)

    def isdir(self, path):
        return sysfs.isdir(self, path)

    def lstat(self, path):
        return sysfs.lstat(self, path)

    def realpath(self, path):
        return sysfs.realpath(self, path)

    # What k.sh() runs: runner(kernel, script) -> ShResult. The shell is a layer above the kernel,
    # so the kernel imports none of it: by default the runner is iommulab.run_shell, provided by
    # the top package (always imported before any of its subpackages) and looked up on it.
    shell_runner: Any = None

    def sh(self, script: str) -> Any:
        """Run shell text as a learner types it (iommulab.shell); returns its ShResult (status,
        stdout, stderr). Typed Any here: ShResult belongs to the shell, above the kernel."""
        runner = Kernel.shell_runner or sys.modules["iommulab"].run_shell
        return runner(self, script)

    # --- user space (§5) ---------------------------------------------------------------------

    def spawn(self, name: str, caps: frozenset[str] = ALL_CAPS, cmdline: str | None = None) -> Process:
        self.check_alive()
        p = Process(self, name, caps, cmdline=cmdline)
        self.processes[p.pid] = p
        return p

    def alloc_pid(self):
        self.pid_seq += 1
        return self.pid_seq

    def __getattr__(self, name):
        """The iommu core's functions of api.md §6 also as methods, as the ground-truth scenarios
        write them: k.iommu_group_claim_dma_owner(g, owner) is iommu.iommu_group_claim_dma_owner(g, owner)."""
        if name in _API_FUNCTIONS:
            from . import iommu, rfc2021
            module = rfc2021 if (name in _RFC_FUNCTIONS and self.f.rfc2021) else iommu
            fn = getattr(module, name, None)
            if fn is not None:
                return fn
        raise AttributeError(f"'Kernel' object has no attribute {name!r}")

    def __repr__(self):
        return (f"<Kernel {self.f.release} {len(self.devices)} devices "
                f"{len(self.iommu_groups)} groups>")


def enumeration_order(devs):
    """The order devices reach the IOMMU layer, which numbers groups: bus by bus in the order of
    kernel/bus/'s registry (iommu_buses[] first); on each bus parents first, siblings by the bus's
    enumeration_key (PCI: pci_bus_add_devices() walks a bus's devices by address, then each
    bridge's secondary bus in turn) or, without one, in file order."""
    children = {}
    for d in devs:
        children.setdefault(d.parent, []).append(d)
    out = []

    def walk(parent, key):
        kids = sorted(children.get(parent, []), key=key)
        out.extend(kids)
        for kid in kids:
            walk(kid.name, key)

    by_bus, ops = {}, {}
    for d in devs:
        by_bus.setdefault(d.bus.name, []).append(d)
        ops[d.bus.name] = d.bus.ops
    names = {d.name for d in devs}
    file_order = {id(x): i for i, x in enumerate(devs)}
    rank = {name: i for i, name in enumerate(BUSES)}
    for bus in sorted(by_bus, key=lambda b: (rank.get(b, len(rank)), b)):
        members = by_bus[bus]
        sub = {d.name for d in members}
        roots = [d for d in members if d.parent is None or d.parent not in sub]
        start = len(out)
        order_key = ops[bus].enumeration_key or (lambda d: file_order[id(d)])
        out.extend(sorted(roots, key=order_key))
        for r in list(out[start:]):
            walk(r.name, order_key)
    seen, result = set(), []
    for d in out:
        if id(d) not in seen and d.name in names:
            seen.add(id(d))
            result.append(d)
    return result
