"""Scenario files (TOML, ../shared/spec/api.md §1): parse, validate, normalise.

A bad file raises one ScenarioError naming the file, the entry and the problem, before anything
boots; that includes a machine that cannot exist (pci_probe.TOPOLOGY_RULES). The
result is a plain dict the kernel boots from.
"""
import re
import tomllib
from pathlib import Path

from .bus import BUSES, spec_has_iommu
from .bus.pci import parse_pci_id
from .pcidev import DEVICE_KINDS, parse_bdf
from .pci_probe import topology_problems
from .drivers import BUILTIN, BUILTIN_NAMES
from . import schema
from .schema import DEVICE_DEFAULTS as _DEV, DRIVER_DEFAULTS as _DRV, KERNEL_DEFAULTS as _KER, QEMU_NEWEST, types
from .version import REVERTIBLE, VersionError, features_for, parse_version, revertible

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

PCI_ID_RE = re.compile(r"^([0-9a-f]{4}|\*):([0-9a-f]{4}|\*)$", re.I)

CONFIG_SYMBOLS = ("CONFIG_DEBUG_TEST_DRIVER_REMOVE", "CONFIG_IOMMUFD", "CONFIG_VFIO_DEVICE_CDEV",
                  "CONFIG_IOMMUFD_VFIO_CONTAINER", "CONFIG_IOMMU_DMA", "CONFIG_VFIO_NOIOMMU")


class ScenarioError(ValueError):
    """A scenario file that cannot boot: the message names the file, the entry and the problem."""

    def __init__(self, source: str, entry: str, problem: str) -> None:
        self.source, self.entry, self.problem = source, entry, problem
        super().__init__(f"{source}: {entry}: {problem}")


# The keys and their types come from schema.py (one declaration: types, defaults, documentation).
_TOP, _EXPECT, _KERNEL, _QEMU = types(schema.TOP), types(schema.EXPECT), types(schema.KERNEL), types(schema.QEMU)
_DRIVER, _DEVICE = types(schema.DRIVER), types(schema.DEVICE)
ARCHES = ("x86_64", "arm64")
# The IOMMU drivers modelled, and the architecture each belongs to (the first of an arch is its default)
IOMMU_DRIVERS = {"intel": "x86_64", "amd": "x86_64", "arm-smmu-v3": "arm64", "arm-smmu": "arm64"}
_QEMU_VERSION_RE = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(?:\.(0|[1-9][0-9]{0,2}))?")
QEMU_OLDEST = (7, 0)
_QEMU_RANGE = f"modelled: 7.0 to {QEMU_NEWEST}.z"
_TYPE_NAMES = {str: "a string", dict: "a table", list: "an array", bool: "true or false",
               int: "an integer"}


def _check_keys(source, entry, table, schema):
    for key, value in table.items():
        want = schema.get(key)
        if want is None:
            raise ScenarioError(source, entry, f"unknown key {key!r} (allowed: {', '.join(schema)})")
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if not ok:
            raise ScenarioError(source, entry, f"{key!r} must be {_TYPE_NAMES[want]}, "
                                f"not {type(value).__name__} {value!r}")


def _kernel_section(source, table):
    entry = "[kernel]"
    _check_keys(source, entry, table, _KERNEL)
    text = table.get("version", _KER["version"])
    try:
        version = parse_version(text)
    except VersionError as e:
        raise ScenarioError(source, entry, str(e)) from None
    reverted = []
    for commit in table.get("reverted", ()):
        key = revertible(commit) if isinstance(commit, str) else None
        if key is None:
            raise ScenarioError(source, entry, f"reverted: {commit!r} is not a commit the model can revert "
                                f"(modelled: {', '.join(REVERTIBLE)})")
        if not getattr(features_for(version), REVERTIBLE[key]):
            raise ScenarioError(source, entry, f"reverted: version {text} does not have {key} to revert")
        reverted.append(key)
    f = features_for(version, reverted)
    config = {"CONFIG_DEBUG_TEST_DRIVER_REMOVE": False, "CONFIG_IOMMUFD": f.iommufd,
              "CONFIG_VFIO_DEVICE_CDEV": f.vfio_cdev, "CONFIG_IOMMUFD_VFIO_CONTAINER": False,
              "CONFIG_IOMMU_DMA": True, "CONFIG_VFIO_NOIOMMU": True}
    for sym, val in table.get("config", {}).items():
        if sym not in CONFIG_SYMBOLS:
            raise ScenarioError(source, entry, f"unknown Kconfig symbol {sym!r} in config "
                                f"(modelled: {', '.join(CONFIG_SYMBOLS)})")
        if not isinstance(val, bool):
            raise ScenarioError(source, entry, f"config {sym} must be true or false, not {val!r}")
        config[sym] = val
    if config["CONFIG_IOMMUFD"] and not f.iommufd:
        raise ScenarioError(source, entry, f"CONFIG_IOMMUFD does not exist before 6.2 (version {text})")
    if config["CONFIG_VFIO_DEVICE_CDEV"] and not f.vfio_cdev:
        raise ScenarioError(source, entry, f"CONFIG_VFIO_DEVICE_CDEV does not exist before 6.6 (version {text})")
    if (config["CONFIG_VFIO_DEVICE_CDEV"] or config["CONFIG_IOMMUFD_VFIO_CONTAINER"]) \
            and not config["CONFIG_IOMMUFD"]:
        raise ScenarioError(source, entry, "CONFIG_VFIO_DEVICE_CDEV and CONFIG_IOMMUFD_VFIO_CONTAINER "
                            "depend on CONFIG_IOMMUFD")
    arch = table.get("arch", _KER["arch"])
    iommu_driver = table.get("iommu_driver", next((n for n, a in IOMMU_DRIVERS.items() if a == arch), None))
    for key, value, choices in (("arch", arch, ARCHES), ("iommu_driver", iommu_driver, IOMMU_DRIVERS)):
        if value not in choices:
            raise ScenarioError(source, entry, f"{key} {value!r} is not one of {', '.join(choices)}")
    if IOMMU_DRIVERS[iommu_driver] != arch:
        raise ScenarioError(source, entry, f"iommu_driver {iommu_driver!r} is an "
                            f"{IOMMU_DRIVERS[iommu_driver]} IOMMU, not one an {arch} machine has")
    return {"version": version, "version_text": text, "config": config, "reverted": tuple(reverted),
            "cmdline": table.get("cmdline", _KER["cmdline"]),
            "msi_isolation": table.get("msi_isolation", _KER["msi_isolation"]),
            "arch": arch, "iommu_driver": iommu_driver}


def _qemu_section(source, table):
    """[qemu] version = "9.2": which QEMU's words the shell's qemu-system-* prints."""
    _check_keys(source, "[qemu]", table, _QEMU)
    text = table.get("version", QEMU_NEWEST)
    m = _QEMU_VERSION_RE.fullmatch(text)
    if not m:
        raise ScenarioError(source, "[qemu]", f"version {text!r} is not \"X.Y\" or \"X.Y.Z\" (ASCII "
                            f"digits, at most three each, no leading zeros; {_QEMU_RANGE})")
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if version[:2] < QEMU_OLDEST:
        raise ScenarioError(source, "[qemu]", f"version {text!r} is older than 7.0, the oldest modelled "
                            f"({_QEMU_RANGE})")
    if version[:2] > tuple(int(x) for x in QEMU_NEWEST.split(".")):
        raise ScenarioError(source, "[qemu]", f"version {text!r} is newer than {QEMU_NEWEST}, the newest "
                            f"modelled ({_QEMU_RANGE})")
    return {"version": version, "version_text": text}


NAME_MAX = 255            # include/uapi/linux/limits.h: the longest name a path component may have
MAX_DEPTH = 256           # devices nested deeper than a PCI hierarchy can be (one bus number a level)
MAX_ERRNO = 4095          # include/linux/err.h


def _shown(name):
    """A name as an entry label shows it: as written, or quoted with escapes when it holds a
    control character (a newline would split the message)."""
    return repr(name) if any(ord(c) < 0x20 or ord(c) == 0x7f for c in name) else name


def _name_problem(what, name):
    """Why `name` cannot be a directory of sysfs (a device or driver name), or None. Linux's
    kobject_set_name_vargs() turns each '/' into '!' (a sysfs name cannot hold one); "." and
    ".." are the directory itself and its parent; a NUL ends a C string; a newline or other
    control character is a name no echo > bind can write back (sysfs_streq() drops one trailing
    newline); a component longer than NAME_MAX bytes cannot be looked up."""
    if "/" in name:
        return (f"{what} {name!r} has a '/', which a sysfs name cannot hold (Linux's "
                f"kobject_set_name_vargs() would call it {name.replace('/', '!')!r})")
    if name in (".", ".."):
        return f"{what} {name!r} is not a name: '.' and '..' are the directory and its parent"
    bad = next((c for c in name if ord(c) < 0x20 or ord(c) == 0x7f), None)
    if bad is not None:
        return (f"{what} {name!r} holds the control character {bad!r} (a NUL, newline or other "
                "control character cannot be part of a sysfs name one can write back)")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > NAME_MAX:
        return f"{what} is {size} bytes long; a sysfs name has at most {NAME_MAX} (NAME_MAX)"
    return None


# The integer keys of a [[device]] and the range each can hold: (lowest, highest, why)
DEVICE_RANGES = {
    "group": (0, (1 << 31) - 1, "iommu_group_alloc() takes its id from an ida: 0 to INT_MAX"),
    "streamid": (0, (1 << 32) - 1, "a stream ID is at most 32 bits"),
    "max_pasids": (0, 1 << 20, "a PCIe PASID has 20 bits"),
    "class": (0, 0xFFFFFF, "the Class Code register has 24 bits"),
    "revision": (0, 0xFF, "the Revision ID register has 8 bits"),
    "sriov_totalvfs": (0, 0xFFFF, "the SR-IOV TotalVFs register has 16 bits"),
    "vf_offset": (0, 0xFFFF, "the SR-IOV First VF Offset register has 16 bits"),
    "vf_stride": (0, 0xFFFF, "the SR-IOV VF Stride register has 16 bits"),
}


def _check_ranges(source, entry, table):
    for key, (lo, hi, why) in DEVICE_RANGES.items():
        value = table.get(key)
        if value is None:
            continue
        if value < lo:
            raise ScenarioError(source, entry, f"{key} must not be negative: it is {lo} to {hi:#x} ({why})")
        if value > hi:
            raise ScenarioError(source, entry, f"{key} {value:#x} is too big: it is {lo} to {hi:#x} ({why})")


def _driver_entry(source, i, table, names):
    name = table.get("name")
    entry = f"[[driver]] #{i + 1}" + (f" ({_shown(name)})" if isinstance(name, str) else "")
    _check_keys(source, entry, table, _DRIVER)
    if not name:
        raise ScenarioError(source, entry, "a driver needs a 'name'")
    problem = _name_problem("driver name", name)
    if problem:
        raise ScenarioError(source, entry, problem)
    if name in BUILTIN_NAMES:
        raise ScenarioError(source, entry, f"{name!r} is a built-in driver; do not redefine it")
    if name in names:
        raise ScenarioError(source, entry, f"driver {name!r} is defined twice")
    bus = table.get("bus", _DRV["bus"])
    if bus not in BUSES:
        raise ScenarioError(source, entry, f"unknown bus {bus!r} (known: {', '.join(BUSES)})")
    for pat in table.get("ids", _DRV["ids"]):
        if not isinstance(pat, str):
            raise ScenarioError(source, entry, f"ids must be strings, not {pat!r}")
        if bus == "pci" and not PCI_ID_RE.match(pat):
            raise ScenarioError(source, entry, f"PCI id {pat!r} is not \"vendor:device\" in hex "
                                "(\"*\" allowed for either)")
    if not -MAX_ERRNO <= table.get("probe", _DRV["probe"]) <= 0:
        raise ScenarioError(source, entry, "probe must be 0 or a negative errno such as -19 "
                            f"(-1 to -{MAX_ERRNO}, MAX_ERRNO)")
    return dict(table, bus=bus)


def _device_entry(source, i, table, drivers):
    name = table.get("name")
    entry = f"[[device]] #{i + 1}" + (f" ({_shown(name)})" if isinstance(name, str) else "")
    _check_keys(source, entry, table, _DEVICE)
    if not name:
        raise ScenarioError(source, entry, "a device needs a 'name'")
    problem = _name_problem("device name", name)
    if problem:
        raise ScenarioError(source, entry, problem)
    for key in ("vendor_name", "device_name"):
        value = table.get(key)
        if isinstance(value, str) and any(ord(c) < 0x20 or ord(c) == 0x7f for c in value):
            raise ScenarioError(source, entry, f"{key} {value!r} holds a control character (lspci "
                                "prints it on one line)")
    bus = table.get("bus", _DEV["bus"])
    if bus not in BUSES:
        raise ScenarioError(source, entry, f"unknown bus {bus!r} (known: {', '.join(BUSES)})")
    if bus == "pci":
        if parse_bdf(name) is None:
            raise ScenarioError(source, entry, f"{name!r} is not a PCI address "
                                "domain:bus:device.function such as 0000:01:00.1 (lower-case hex, "
                                "device 00-1f, function 0-7)")
        dev_id = table.get("id")
        if dev_id is not None and not re.match(r"^[0-9a-f]{4}:[0-9a-f]{4}$", dev_id, re.I):
            raise ScenarioError(source, entry, f"id {dev_id!r} is not \"vendor:device\" in hex")
    kind = table.get("kind", _DEV["kind"])
    if kind not in DEVICE_KINDS:
        raise ScenarioError(source, entry, f"unknown kind {kind!r} (known: {', '.join(DEVICE_KINDS)})")
    if kind != "endpoint" and bus != "pci":
        raise ScenarioError(source, entry, f"kind {kind!r} is for PCI devices only")
    _check_ranges(source, entry, table)
    for alias in table.get("dma_alias", []):
        if parse_bdf(alias) is None or parse_bdf(alias)[:2] != parse_bdf(name)[:2]:
            raise ScenarioError(source, entry, f"dma_alias {alias!r} must be a PCI address on the "
                                f"same bus as {name}")
    if table.get("sriov_totalvfs") and not table.get("vf_id"):
        raise ScenarioError(source, entry, "a physical function with sriov_totalvfs needs vf_id "
                            "(the virtual functions' vendor:device)")
    total = table.get("sriov_totalvfs", 0)
    if total and bus == "pci":
        dom, pbus, slot, fn = parse_bdf(name)
        last = (slot << 3 | fn) + table.get("vf_offset", _DEV["vf_offset"]) \
            + (total - 1) * table.get("vf_stride", _DEV["vf_stride"])
        if pbus + (last >> 8) > 0xFF:
            raise ScenarioError(source, entry, f"its last virtual function would be on bus "
                                f"{pbus + (last >> 8):#x}, beyond bus 0xff (pci_iov_virtfn_bus(): PF "
                                "routing ID + vf_offset + i × vf_stride): lower vf_offset, vf_stride "
                                "or sriov_totalvfs")
    vf_id = table.get("vf_id")
    if vf_id is not None and not re.match(r"^[0-9a-f]{4}:[0-9a-f]{4}$", vf_id, re.I):
        raise ScenarioError(source, entry, f"vf_id {vf_id!r} is not \"vendor:device\" in hex")
    drv = table.get("driver")
    if drv is not None:
        if drv not in drivers:
            raise ScenarioError(source, entry, f"unknown driver {drv!r} (define it in a [[driver]] "
                                f"table, or use a built-in one: {', '.join(BUILTIN_NAMES)})")
        if drivers[drv] != bus:
            raise ScenarioError(source, entry, f"driver {drv!r} is a {drivers[drv]} driver, "
                                f"but this is a {bus} device")
    return dict(table, bus=bus, kind=kind)


def _check_topology(source, devices):
    """Parent links: no loop, at most MAX_DEPTH devices above one (walked without recursion,
    each device's depth found once), then the PCI scan rules (pci_probe.TOPOLOGY_RULES)."""
    by_name = {d["name"]: d for d in devices}
    depth = {}
    for i, d in enumerate(devices):
        chain, p = [], d
        while p is not None and p["name"] not in depth:
            if p in chain:
                raise ScenarioError(source, f"[[device]] #{i + 1} ({d['name']})", "parent links form a loop")
            chain.append(p)
            p = by_name.get(p.get("parent")) if p.get("parent") is not None else None
        below = depth[p["name"]] if p is not None else 0
        for n, x in enumerate(reversed(chain)):
            depth[x["name"]] = below + n + 1
        if depth[d["name"]] > MAX_DEPTH:
            raise ScenarioError(source, f"[[device]] #{i + 1} ({d['name']})",
                                f"{depth[d['name']] - 1} devices above it: parent links nest at most "
                                f"{MAX_DEPTH} deep (deeper than a PCI hierarchy, with its 256 bus "
                                "numbers, can go)")
    problems = topology_problems(devices)
    if problems:
        i, name, problem = problems[0]
        raise ScenarioError(source, f"[[device]] #{i + 1} ({name})", problem)


def validate(data, source):
    """Checks a parsed TOML document; returns the normalised scenario dict."""
    _check_keys(source, "top level", data, _TOP)
    kernel = _kernel_section(source, data.get("kernel", {}))
    drivers, names = [], {name: cls.BUS for name, cls in BUILTIN.items()}
    for i, t in enumerate(data.get("driver", [])):
        if not isinstance(t, dict):
            raise ScenarioError(source, f"[[driver]] #{i + 1}", "must be a table")
        d = _driver_entry(source, i, t, {x["name"] for x in drivers})
        drivers.append(d)
        names[d["name"]] = d["bus"]
    devices, seen = [], {}
    for i, t in enumerate(data.get("device", [])):
        if not isinstance(t, dict):
            raise ScenarioError(source, f"[[device]] #{i + 1}", "must be a table")
        d = _device_entry(source, i, t, names)
        if d["name"] in seen:
            other = seen[d["name"]]
            what = (f"a device in two groups ({other.get('group')} and {d.get('group')})"
                    if other.get("group") != d.get("group") else "a device listed twice")
            raise ScenarioError(source, f"[[device]] #{i + 1} ({d['name']})", what)
        seen[d["name"]] = d
        devices.append(d)
    _check_topology(source, devices)
    _check_group_mix(source, devices)
    _check_cmdline_ids(source, kernel["cmdline"])
    _check_release_facts(source, kernel, drivers, devices)
    expect = data.get("expect", {})
    _check_keys(source, "[expect]", expect, _EXPECT)
    return {"source": source, "title": data.get("title", ""), "description": data.get("description", ""),
            "kernel": kernel, "qemu": _qemu_section(source, data.get("qemu", {})),
            "drivers": drivers, "devices": devices, "expect": expect}


def check_expectations(k):
    """The scenario's [expect] table against the booted kernel: a list of mismatches (empty: ok)."""
    exp = k.scenario.get("expect", {})
    bad = []
    if "groups" in exp and len(k.iommu_groups) != exp["groups"]:
        bad.append(f"{len(k.iommu_groups)} groups, expected {exp['groups']}")
    for n, names in exp.get("members", {}).items():
        g = k.iommu_groups.get(int(n))
        got = [d.name for d in g.devices] if g else None
        if got != names:
            bad.append(f"group {n} has {got}, expected {names}")
    for n, cnt in exp.get("owner_cnt", {}).items():
        g = k.iommu_groups.get(int(n))
        if g is None or g.owner_cnt != cnt:
            bad.append(f"group {n} owner_cnt {g.owner_cnt if g else None}, expected {cnt}")
    for name, drv in exp.get("drivers", {}).items():
        d = k.devices.get(name)
        got = d.driver.name if d is not None and d.driver is not None else None
        if got != (drv or None):
            bad.append(f"{name} bound to {got}, expected {drv or None}")
    return bad


def _check_group_mix(source, devices):
    """Either every IOMMU-backed device names its group, or none does (topology decides)."""
    grouped = [d for d in devices if spec_has_iommu(d)]
    explicit = [d for d in grouped if "group" in d]
    if explicit and len(explicit) != len(grouped):
        i, d = next((i, d) for i, d in enumerate(devices) if spec_has_iommu(d) and "group" not in d)
        raise ScenarioError(source, f"[[device]] #{i + 1} ({d['name']})",
                            "has no group while other devices name theirs: give every device "
                            "behind an IOMMU a group, or none and let the topology decide")


def _check_cmdline_ids(source, cmdline):
    for word in cmdline.split():
        key, _, value = word.partition("=")
        if key.replace("-", "_") in ("vfio_pci.ids", "pci_stub.ids") and value:
            for one in value.split(","):
                try:
                    parse_pci_id(one)
                except ValueError:
                    raise ScenarioError(source, "[kernel] cmdline",
                                        f"{key}: {one!r} is not vendor:device[:subvendor[:subdevice"
                                        "[:class[:class_mask]]]] in hex") from None


def load_text(text, source="<string>"):
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(source, "TOML syntax", str(e)) from None
    except RecursionError:              # tomllib recurses once per nested array or inline table
        raise ScenarioError(source, "TOML syntax", "arrays or inline tables nested too deep for the "
                            "TOML parser (a scenario file needs only a few levels)") from None
    return validate(data, source)


def builtin_names():
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load(name_or_path):
    """A path to a .toml file, or the name of a built-in scenario."""
    p = Path(str(name_or_path))
    if p.suffix == ".toml" or p.exists():
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise ScenarioError(str(p), "file", e.strerror or str(e)) from None
        except UnicodeDecodeError as e:
            raise ScenarioError(str(p), "file", f"not UTF-8 text ({e.reason})") from None
        return load_text(text, str(p))
    builtin = SCENARIO_DIR / f"{name_or_path}.toml"
    if builtin.exists():
        return load_text(builtin.read_text(encoding="utf-8"), f"{name_or_path}.toml")
    raise ScenarioError(str(name_or_path), "scenario", "no such file or built-in scenario (built-in: "
                        + ", ".join(builtin_names()) + ")")


# Intel VT-d: device_rmrr_is_relaxable() treats RMRRs of USB controllers (class 0x0c03) and
# graphics devices (base class 0x03) as relaxable, so they are never require_direct.
PCI_CLASS_SERIAL_USB, PCI_BASE_CLASS_DISPLAY = 0x0c03, 0x03


def _rmrr_is_relaxable(d):
    cls = d.get("class", 0)
    return d["bus"] == "pci" and (cls >> 8 == PCI_CLASS_SERIAL_USB or cls >> 16 == PCI_BASE_CLASS_DISPLAY)


def _check_release_facts(source, kernel, drivers, devices):
    """Things the chosen release or IOMMU driver cannot have: a bus or built-in driver the release
    has not got (the cdx bus before 6.4, vfio-cdx before 6.5), a driver field its bus has not got
    (cdx_driver.driver_managed_dma before 6.5), a require_direct USB/graphics device on VT-d."""
    f = features_for(kernel["version"], kernel["reverted"])
    text = kernel["version_text"]
    for i, d in enumerate(drivers):
        entry = f"[[driver]] #{i + 1} ({d['name']})"
        bus = BUSES[d["bus"]]
        if not bus.exists(f):
            raise ScenarioError(source, entry, f"there is no {bus.NAME} bus before Linux {bus.SINCE} (version {text})")
        problem = bus.driver_spec_problem(d, f)
        if problem:
            raise ScenarioError(source, entry, f"{problem} (version {text})")
    for i, d in enumerate(devices):
        entry = f"[[device]] #{i + 1} ({d['name']})"
        bus = BUSES[d["bus"]]
        if not bus.exists(f):
            raise ScenarioError(source, entry, f"there is no {bus.NAME} bus before Linux {bus.SINCE} (version {text})")
        builtin = BUILTIN.get(d.get("driver"))
        if builtin is not None and not builtin.exists(f):
            raise ScenarioError(source, entry, f"{builtin.NAME} does not exist before Linux {builtin.SINCE} "
                                f"(version {text})")
        if d.get("require_direct") and kernel["iommu_driver"] == "intel" and _rmrr_is_relaxable(d):
            raise ScenarioError(source, entry, "require_direct cannot hold for a USB or graphics device "
                                "on Intel VT-d: their RMRRs are relaxable (device_rmrr_is_relaxable())")
