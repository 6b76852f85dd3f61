"""Scenario files (TOML, ../shared/spec/api.md §1): parse, validate, normalise.

A bad file raises one ScenarioError naming the file, the entry and the problem, before anything
boots. The result is a plain dict the kernel boots from.
"""
import re
import tomllib
from pathlib import Path

from .buses import BUS_NAMES, parse_pci_id
from .device import DEVICE_KINDS
from .drivers import BUILTIN_NAMES
from .version import NEWEST, VersionError, features_for, parse_version

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

PCI_NAME_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$")
PCI_ID_RE = re.compile(r"^([0-9a-f]{4}|\*):([0-9a-f]{4}|\*)$", re.I)

CONFIG_SYMBOLS = ("CONFIG_DEBUG_TEST_DRIVER_REMOVE", "CONFIG_IOMMUFD", "CONFIG_VFIO_DEVICE_CDEV",
                  "CONFIG_IOMMUFD_VFIO_CONTAINER", "CONFIG_IOMMU_DMA")


class ScenarioError(ValueError):
    """A scenario file that cannot boot: the message names the file, the entry and the problem."""

    def __init__(self, source, entry, problem):
        self.source, self.entry, self.problem = source, entry, problem
        super().__init__(f"{source}: {entry}: {problem}")


_TOP = {"title": str, "description": str, "kernel": dict, "driver": list, "device": list,
        "expect": dict, "qemu": dict}
# [expect]: what the booted machine must show (a scenario's own smoke check)
_EXPECT = {"groups": int, "members": dict, "owner_cnt": dict, "drivers": dict}
_KERNEL = {"version": str, "config": dict, "cmdline": str, "msi_isolation": bool,
           # iommulab additions: the machine's architecture and its IOMMU driver
           "arch": str, "iommu_driver": str}
# [qemu]: the QEMU the shell's qemu-system-* runs (its messages follow the version)
_QEMU = {"version": str}
ARCHES = ("x86_64", "arm64")
# The IOMMU drivers modelled, and the architecture each belongs to (the first of an arch is its default)
IOMMU_DRIVERS = {"intel": "x86_64", "amd": "x86_64", "arm-smmu-v3": "arm64", "arm-smmu": "arm64"}
QEMU_NEWEST = "10.1"
_QEMU_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
_DRIVER = {"name": str, "bus": str, "ids": list, "driver_managed_dma": bool,
           "suppress_bind_attrs": bool, "probe": int,
           "sriov_configure": bool}         # iommulab addition: supports sriov_numvfs
_DEVICE = {"name": str, "bus": str, "id": str, "group": int, "driver": str, "present": bool,
           "parent": str, "kind": str, "multifunction": bool, "acs": bool, "untrusted": bool,
           "require_direct": bool, "streamid": int,
           # iommulab additions (documented in the README): firmware/IOMMU facts
           "iommu": bool, "default_domain": bool, "max_pasids": int, "class": int,
           # names lspci shows (from pci.ids on a real host)
           "vendor_name": str, "device_name": str, "revision": int,
           # quirk DMA aliases, and SR-IOV physical functions
           "dma_alias": list, "sriov_totalvfs": int, "vf_id": str, "vf_offset": int, "vf_stride": int}
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
    text = table.get("version", NEWEST)
    try:
        version = parse_version(text)
    except VersionError as e:
        raise ScenarioError(source, entry, str(e)) from None
    f = features_for(version)
    config = {"CONFIG_DEBUG_TEST_DRIVER_REMOVE": False, "CONFIG_IOMMUFD": f.iommufd,
              "CONFIG_VFIO_DEVICE_CDEV": f.vfio_cdev, "CONFIG_IOMMUFD_VFIO_CONTAINER": False,
              "CONFIG_IOMMU_DMA": True}
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
    arch = table.get("arch", "x86_64")
    if arch not in ARCHES:
        raise ScenarioError(source, entry, f"arch {arch!r} is not one of {', '.join(ARCHES)}")
    default_iommu = next(n for n, a in IOMMU_DRIVERS.items() if a == arch)
    iommu_driver = table.get("iommu_driver", default_iommu)
    if iommu_driver not in IOMMU_DRIVERS:
        raise ScenarioError(source, entry, f"iommu_driver {iommu_driver!r} is not one of "
                            f"{', '.join(IOMMU_DRIVERS)}")
    if IOMMU_DRIVERS[iommu_driver] != arch:
        raise ScenarioError(source, entry, f"iommu_driver {iommu_driver!r} is an "
                            f"{IOMMU_DRIVERS[iommu_driver]} IOMMU, not one an {arch} machine has")
    return {"version": version, "version_text": text, "config": config,
            "cmdline": table.get("cmdline", ""), "msi_isolation": table.get("msi_isolation", True),
            "arch": arch, "iommu_driver": iommu_driver}


def _qemu_section(source, table):
    """[qemu] version = "9.2": which QEMU's words the shell's qemu-system-* prints."""
    _check_keys(source, "[qemu]", table, _QEMU)
    text = table.get("version", QEMU_NEWEST)
    m = _QEMU_VERSION_RE.match(text)
    if not m:
        raise ScenarioError(source, "[qemu]", f"version {text!r} is not \"X.Y\" or \"X.Y.Z\"")
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if version < (7, 0, 0):
        raise ScenarioError(source, "[qemu]", f"version {text!r} is older than 7.0, the oldest modelled")
    return {"version": version, "version_text": text}


def _driver_entry(source, i, table, names):
    name = table.get("name")
    entry = f"[[driver]] #{i + 1}" + (f" ({name})" if isinstance(name, str) else "")
    _check_keys(source, entry, table, _DRIVER)
    if not name:
        raise ScenarioError(source, entry, "a driver needs a 'name'")
    if name in BUILTIN_NAMES:
        raise ScenarioError(source, entry, f"{name!r} is a built-in driver; do not redefine it")
    if name in names:
        raise ScenarioError(source, entry, f"driver {name!r} is defined twice")
    bus = table.get("bus", "pci")
    if bus not in BUS_NAMES:
        raise ScenarioError(source, entry, f"unknown bus {bus!r} (known: {', '.join(BUS_NAMES)})")
    for pat in table.get("ids", []):
        if not isinstance(pat, str):
            raise ScenarioError(source, entry, f"ids must be strings, not {pat!r}")
        if bus == "pci" and not PCI_ID_RE.match(pat):
            raise ScenarioError(source, entry, f"PCI id {pat!r} is not \"vendor:device\" in hex "
                                "(\"*\" allowed for either)")
    if table.get("probe", 0) > 0:
        raise ScenarioError(source, entry, "probe must be 0 or a negative errno such as -19")
    return dict(table, bus=bus)


def _device_entry(source, i, table, drivers):
    name = table.get("name")
    entry = f"[[device]] #{i + 1}" + (f" ({name})" if isinstance(name, str) else "")
    _check_keys(source, entry, table, _DEVICE)
    if not name:
        raise ScenarioError(source, entry, "a device needs a 'name'")
    bus = table.get("bus", "pci")
    if bus not in BUS_NAMES:
        raise ScenarioError(source, entry, f"unknown bus {bus!r} (known: {', '.join(BUS_NAMES)})")
    if bus == "pci":
        if not PCI_NAME_RE.match(name):
            raise ScenarioError(source, entry, f"{name!r} is not a PCI address "
                                "domain:bus:device.function such as 0000:01:00.1 (lower-case hex, "
                                "device 00-1f, function 0-7)")
        dev_id = table.get("id")
        if dev_id is not None and not re.match(r"^[0-9a-f]{4}:[0-9a-f]{4}$", dev_id, re.I):
            raise ScenarioError(source, entry, f"id {dev_id!r} is not \"vendor:device\" in hex")
    kind = table.get("kind", "endpoint")
    if kind not in DEVICE_KINDS:
        raise ScenarioError(source, entry, f"unknown kind {kind!r} (known: {', '.join(DEVICE_KINDS)})")
    if kind != "endpoint" and bus != "pci":
        raise ScenarioError(source, entry, f"kind {kind!r} is for PCI devices only")
    for key in ("group", "streamid", "max_pasids", "class", "sriov_totalvfs", "vf_offset", "vf_stride"):
        if key in table and table[key] < 0:
            raise ScenarioError(source, entry, f"{key} must not be negative")
    for alias in table.get("dma_alias", []):
        if not isinstance(alias, str) or not PCI_NAME_RE.match(alias) or alias[:7] != name[:7]:
            raise ScenarioError(source, entry, f"dma_alias {alias!r} must be a PCI address on the "
                                f"same bus as {name}")
    if table.get("sriov_totalvfs") and not table.get("vf_id"):
        raise ScenarioError(source, entry, "a physical function with sriov_totalvfs needs vf_id "
                            "(the virtual functions' vendor:device)")
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
    by_name = {d["name"]: d for d in devices}
    for i, d in enumerate(devices):
        parent = d.get("parent")
        if parent is None:
            continue
        entry = f"[[device]] #{i + 1} ({d['name']})"
        p = by_name.get(parent)
        if p is None:
            raise ScenarioError(source, entry, f"parent {parent!r} is not a device of this scenario")
        if p["bus"] != d["bus"]:
            raise ScenarioError(source, entry, f"parent {parent!r} is on the {p['bus']} bus, not {d['bus']}")
        if d["bus"] == "pci" and p["kind"] in ("endpoint", "conventional"):
            raise ScenarioError(source, entry, f"parent {parent!r} is an {p['kind']}, not a bridge or port")
        seen = {d["name"]}
        while p is not None and p.get("parent") is not None:
            if p["name"] in seen:
                raise ScenarioError(source, entry, "parent links form a loop")
            seen.add(p["name"])
            p = by_name.get(p["parent"])


def validate(data, source):
    """Checks a parsed TOML document; returns the normalised scenario dict."""
    _check_keys(source, "top level", data, _TOP)
    kernel = _kernel_section(source, data.get("kernel", {}))
    drivers, names = [], {n: b for n, b, *_ in _builtin_buses()}
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


def _has_iommu(d):
    if "iommu" in d:
        return d["iommu"]
    return d["bus"] in ("pci", "fsl-mc", "cdx") or "streamid" in d or "group" in d


def _check_group_mix(source, devices):
    """Either every IOMMU-backed device names its group, or none does (topology decides)."""
    grouped = [d for d in devices if _has_iommu(d)]
    explicit = [d for d in grouped if "group" in d]
    if explicit and len(explicit) != len(grouped):
        i, d = next((i, d) for i, d in enumerate(devices) if _has_iommu(d) and "group" not in d)
        raise ScenarioError(source, f"[[device]] #{i + 1} ({d['name']})",
                            "has no group while other devices name theirs: give every device "
                            "behind an IOMMU a group, or none and let the topology decide")


def _builtin_buses():
    from .drivers import BUILTIN_DRIVERS
    return BUILTIN_DRIVERS


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


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def _toml_key(k):
    k = str(k)
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def to_toml(data):
    """Writes a scenario document (the shape load_text() reads) as TOML text."""
    lines = []
    for key in ("title", "description"):
        if key in data:
            lines.append(f"{key} = {_toml_value(data[key])}")
    if data.get("kernel"):
        lines += ["", "[kernel]"] + [f"{k} = {_toml_value(v)}" for k, v in data["kernel"].items()]
    if data.get("qemu"):
        lines += ["", "[qemu]"] + [f"{k} = {_toml_value(v)}" for k, v in data["qemu"].items()]
    for section in ("driver", "device"):
        for table in data.get(section, ()):
            lines += ["", f"[[{section}]]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    if data.get("expect"):
        lines += ["", "[expect]"] + [f"{k} = {_toml_value(v)}" for k, v in data["expect"].items()]
    return "\n".join(lines) + "\n"
