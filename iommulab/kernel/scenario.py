"""Scenario files (TOML, ../shared/spec/api.md §1): parse, validate, normalise.

A bad file raises one ScenarioError naming the file, the entry and the problem, before anything
boots; that includes a machine that cannot exist (TOPOLOGY_RULES, after drivers/pci/probe.c). The
result is a plain dict the kernel boots from.
"""
import re
import tomllib
from pathlib import Path

from .bus import BUSES, spec_has_iommu
from .bus.pci import parse_pci_id
from .pcidev import DEVICE_KINDS, DOWNSTREAM_PORT_KINDS, ENDPOINT_KINDS, KIND_WORDS, bdf_fields, parse_bdf
from .drivers import BUILTIN, BUILTIN_NAMES
from . import schema
from .schema import DEVICE_DEFAULTS as _DEV, DRIVER_DEFAULTS as _DRV, KERNEL_DEFAULTS as _KER, QEMU_NEWEST, types
from .version import VersionError, features_for, parse_version

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

PCI_ID_RE = re.compile(r"^([0-9a-f]{4}|\*):([0-9a-f]{4}|\*)$", re.I)

CONFIG_SYMBOLS = ("CONFIG_DEBUG_TEST_DRIVER_REMOVE", "CONFIG_IOMMUFD", "CONFIG_VFIO_DEVICE_CDEV",
                  "CONFIG_IOMMUFD_VFIO_CONTAINER", "CONFIG_IOMMU_DMA")


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
_QEMU_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
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
    arch = table.get("arch", _KER["arch"])
    iommu_driver = table.get("iommu_driver", next((n for n, a in IOMMU_DRIVERS.items() if a == arch), None))
    for key, value, choices in (("arch", arch, ARCHES), ("iommu_driver", iommu_driver, IOMMU_DRIVERS)):
        if value not in choices:
            raise ScenarioError(source, entry, f"{key} {value!r} is not one of {', '.join(choices)}")
    if IOMMU_DRIVERS[iommu_driver] != arch:
        raise ScenarioError(source, entry, f"iommu_driver {iommu_driver!r} is an "
                            f"{IOMMU_DRIVERS[iommu_driver]} IOMMU, not one an {arch} machine has")
    return {"version": version, "version_text": text, "config": config,
            "cmdline": table.get("cmdline", _KER["cmdline"]),
            "msi_isolation": table.get("msi_isolation", _KER["msi_isolation"]),
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
    bus = table.get("bus", _DRV["bus"])
    if bus not in BUSES:
        raise ScenarioError(source, entry, f"unknown bus {bus!r} (known: {', '.join(BUSES)})")
    for pat in table.get("ids", _DRV["ids"]):
        if not isinstance(pat, str):
            raise ScenarioError(source, entry, f"ids must be strings, not {pat!r}")
        if bus == "pci" and not PCI_ID_RE.match(pat):
            raise ScenarioError(source, entry, f"PCI id {pat!r} is not \"vendor:device\" in hex "
                                "(\"*\" allowed for either)")
    if table.get("probe", _DRV["probe"]) > 0:
        raise ScenarioError(source, entry, "probe must be 0 or a negative errno such as -19")
    return dict(table, bus=bus)


def _device_entry(source, i, table, drivers):
    name = table.get("name")
    entry = f"[[device]] #{i + 1}" + (f" ({name})" if isinstance(name, str) else "")
    _check_keys(source, entry, table, _DEVICE)
    if not name:
        raise ScenarioError(source, entry, "a device needs a 'name'")
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
    for key in ("group", "streamid", "max_pasids", "class", "sriov_totalvfs", "vf_offset", "vf_stride"):
        if key in table and table[key] < 0:
            raise ScenarioError(source, entry, f"{key} must not be negative")
    for alias in table.get("dma_alias", []):
        if parse_bdf(alias) is None or alias[:7] != name[:7]:
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


# --- machines that can exist: the PCI topology rules ------------------------------------------
# Each rule looks at one device entry `d` (a normalised [[device]] dict) and its parent entry `p`
# (None: no parent given) in a Machine, and returns what is wrong in a learner's words, or None.
# The loader, iommulab.Builder (which boots through the loader) and the host importer (which
# validates what it synthesises) all use these; nothing else re-implements them.



class Machine:
    """The device entries of one scenario, indexed for the topology rules."""

    def __init__(self, devices):
        self.devices = devices
        self.by_name = {d["name"]: d for d in devices}
        # explicit `group = N` everywhere (imported hosts): a missing parent means "not known"
        self.explicit = any("group" in d for d in devices)
        self._children, self.on_bus, self.in_slot = {}, {}, {}
        for d in devices:
            self._children.setdefault(d.get("parent"), []).append(d)
            if d["bus"] == "pci" and not d.get("physfn"):
                dom, bus, slot, _ = _bdf(d)
                self.on_bus.setdefault((dom, bus), []).append(d)
                self.in_slot.setdefault((dom, bus, slot), []).append(d)

    def children(self, name):
        return self._children.get(name, [])


def _bdf(d):
    return bdf_fields(d["name"])


def _what(p):
    kind = p.get("kind", _DEV["kind"])
    return "endpoint" if kind == "endpoint" else KIND_WORDS.get(kind, kind)


def _a(word):
    return ("an " if word[:1] in "aeiou" else "a ") + word


def rule_same_bus_as_parent(m, d, p):
    """A device's parent is on its own kind of bus: a platform (or amba, fsl-mc…) device never sits
    below a PCI port or bridge, whose secondary side is a PCI bus carrying only PCI functions."""
    if p is None or p["bus"] == d["bus"]:
        return None
    if p["bus"] == "pci":
        return (f"{_a(d['bus'])} device cannot sit below the {_what(p)} {p['name']}: the bus below a "
                "PCI port or bridge carries only PCI devices (give it no parent, or a parent on the "
                f"{d['bus']} bus)")
    return f"parent {p['name']!r} is on the {p['bus']} bus, not {d['bus']}"


def rule_parent_is_a_bridge(m, d, p):
    """Only a bridge or port has a bus below it."""
    if p is None or d["bus"] != "pci" or p["kind"] not in ENDPOINT_KINDS:
        return None
    return f"parent {p['name']!r} is {_a(p['kind'])}, not a bridge or port: nothing sits below it"


def rule_only_device_0_below_a_port(m, d, p):
    """only_one_child() (drivers/pci/probe.c): below a PCIe root port or switch downstream port
    Linux scans only device 0, because the port's link carries one device (functions 0-7).
    Virtual functions are not found by scanning (pci_iov_add_virtfn()), so they are exempt;
    PCI_SCAN_ALL_PCIE_DEVS and ARI are not modelled. The rule is older than every kernel modelled
    (5.18 on), so it has no version boundary here."""
    if p is None or d["bus"] != "pci" or p["kind"] not in DOWNSTREAM_PORT_KINDS or d.get("physfn"):
        return None
    slot = _bdf(d)[2]
    if slot == 0:
        return None
    return (f"device {slot:02x} below the {_what(p)} {p['name']} cannot exist: a PCIe port's link carries "
            "one device, and Linux scans only device 0 there (only_one_child() in drivers/pci/probe.c), so "
            f"only {d['name'][:8]}00.0 to .7 can exist. For a second device use another root port, "
            "or a switch (an upstream port with downstream ports)")


def rule_upstream_port_on_a_link(m, d, p):
    """A switch's upstream port is the far end of the link of a root port or downstream port; it
    is never on a root bus and never inside another switch."""
    if d.get("kind") != "upstream-port":
        return None
    if p is None:
        if m.explicit:
            return None                        # an imported host that did not say where it sits
        return ("a switch upstream port cannot sit on a root bus: it is the far end of the link of a "
                "root port or switch downstream port, so give it one of those as its parent")
    if p["kind"] not in DOWNSTREAM_PORT_KINDS:
        return (f"a switch upstream port sits on the link below a root port or downstream port, not "
                f"below the {_what(p)} {p['name']}")
    return None


def rule_root_port_on_a_root_bus(m, d, p):
    """Root ports belong to the root complex: they live on a root bus, with no bridge above them."""
    if d.get("kind") != "root-port" or p is None:
        return None
    return (f"a root port lives on a root bus (it is part of the root complex), not below the "
            f"{_what(p)} {p['name']}: remove its parent, or make it a switch downstream port")


def rule_downstream_port_inside_a_switch(m, d, p):
    """A switch's downstream ports sit on the switch's internal bus, below its upstream port."""
    if d.get("kind") != "downstream-port":
        return None
    if p is None:
        if m.explicit:
            return None
        return ("a switch downstream port sits inside a switch, below its upstream port, not on a "
                "root bus (a port on a root bus is a root port)")
    if p["kind"] != "upstream-port":
        return (f"a switch downstream port sits below its switch's upstream port, not below the "
                f"{_what(p)} {p['name']}")
    return None


def rule_one_secondary_bus(m, d, p):
    """A bridge forwards one secondary bus: every device directly below it is on that bus, a bus
    number above the bridge's own (pci_scan_bridge_extend() renumbers a bridge whose secondary
    bus is not above its primary), and no other bridge or root bus has that number."""
    if p is None or d["bus"] != "pci" or p["bus"] != "pci":
        return None
    bus, own = _bdf(d)[1], _bdf(p)[1]
    if d.get("physfn"):
        return None                            # VFs may sit on the PF's bus or a higher one
    first = next(c for c in m.children(p["name"]) if not c.get("physfn"))
    if _bdf(first)[1] != bus:
        return (f"bus {bus:02x} cannot be below {p['name']}: {first['name']} is on bus {_bdf(first)[1]:02x}, "
                "and everything directly below a bridge is on its one secondary bus")
    if bus <= own:
        return (f"bus {bus:02x} cannot be below {p['name']}, which is on bus {own:02x}: a bridge's "
                "secondary bus has a higher number than its own (Linux renumbers a bridge whose secondary "
                "bus is not above its own)")
    other = next((o for o in m.on_bus.get(_bdf(d)[:2], ()) if o.get("parent") != p["name"]
                  and (o.get("parent") is not None or not m.explicit)), None)
    if other is not None:
        where = f"below {other['parent']}" if other.get("parent") else "on a root bus"
        return (f"bus {bus:02x} is the bus below {p['name']}, but {other['name']} is on bus {bus:02x} "
                f"{where}: one bus has one bridge above it")
    return None


def rule_function_0_first(m, d, p):
    """pci_scan_slot() (drivers/pci/probe.c) starts at function 0 and gives up on a slot without
    it; a virtual function is not scanned. (hypervisor_isolated_pci_functions() is not modelled.)"""
    if d["bus"] != "pci" or d.get("physfn") or _bdf(d)[3] == 0 or m.explicit:
        return None
    fn0 = d["name"][:-1] + "0"
    if fn0 in m.by_name and m.by_name[fn0].get("parent") == d.get("parent"):
        return None
    return (f"function 0 of this slot ({fn0}) is missing: Linux scans a slot from function 0 and "
            "finds nothing in it without one (pci_scan_slot() in drivers/pci/probe.c)")


def rule_more_functions_need_multifunction(m, d, p):
    """next_fn() (drivers/pci/probe.c): after function 0, Linux reads functions 1-7 only when
    function 0's header says multifunction."""
    if d["bus"] != "pci" or _bdf(d)[3] != 0 or d.get("multifunction", True):
        return None
    more = [o["name"] for o in m.in_slot.get(_bdf(d)[:3], ())
            if o is not d and o.get("parent") == d.get("parent")]
    if not more:
        return None
    return (f"multifunction = false on function 0 hides {', '.join(more)}: Linux "
            "reads functions 1-7 of a slot only when function 0 is multifunction (next_fn() in "
            "drivers/pci/probe.c)")


def rule_virtual_function_of_its_pf(m, d, p):
    """A VF present at boot (as after sriov_numvfs) sits where pci_iov_add_virtfn() puts it:
    PF routing ID + First VF Offset + i * VF Stride, i below TotalVFs, below the PF's bridge."""
    pf_name = d.get("physfn")
    if pf_name is None:
        return None
    pf = m.by_name.get(pf_name)
    if pf is None or pf["bus"] != "pci" or not pf.get("sriov_totalvfs") or pf.get("physfn"):
        return f"physfn {pf_name!r} is not a physical function (with sriov_totalvfs) of this scenario"
    if d.get("parent") != pf.get("parent"):
        return f"a virtual function sits below the same bridge as its PF {pf_name}"
    dom, bus, slot, fn = _bdf(pf)
    offset, stride = pf.get("vf_offset", _DEV["vf_offset"]), pf.get("vf_stride", _DEV["vf_stride"])
    rid = (bus << 8 | slot << 3 | fn) + offset
    dom_, vbus, vslot, vfn = _bdf(d)
    i, rest = divmod((vbus << 8 | vslot << 3 | vfn) - rid, stride or 1)
    if dom_ != dom or rest or not 0 <= i < pf["sriov_totalvfs"]:
        return (f"no virtual function of {pf_name} can be here: SR-IOV puts them at PF + vf_offset "
                f"{offset} + i × vf_stride {stride}, i below "
                f"sriov_totalvfs {pf['sriov_totalvfs']}")
    return None


TOPOLOGY_RULES = (rule_same_bus_as_parent, rule_parent_is_a_bridge, rule_root_port_on_a_root_bus,
                  rule_upstream_port_on_a_link, rule_downstream_port_inside_a_switch,
                  rule_only_device_0_below_a_port, rule_one_secondary_bus, rule_function_0_first,
                  rule_more_functions_need_multifunction, rule_virtual_function_of_its_pf)


def topology_problems(devices):
    """Every rule broken by a list of normalised device entries: [(index, name, problem)]."""
    m = Machine(devices)
    out = []
    for i, d in enumerate(devices):
        parent = d.get("parent")
        p = m.by_name.get(parent) if parent is not None else None
        if parent is not None and p is None:
            out.append((i, d["name"], f"parent {parent!r} is not a device of this scenario"))
            continue
        for rule in TOPOLOGY_RULES:
            problem = rule(m, d, p)
            if problem:
                out.append((i, d["name"], problem))
                break
    return out


def _check_topology(source, devices):
    by_name = {d["name"]: d for d in devices}
    for i, d in enumerate(devices):
        p = by_name.get(d.get("parent")) if d.get("parent") is not None else None
        seen = {d["name"]}
        while p is not None and p.get("parent") is not None:
            if p["name"] in seen:
                raise ScenarioError(source, f"[[device]] #{i + 1} ({d['name']})", "parent links form a loop")
            seen.add(p["name"])
            p = by_name.get(p["parent"])
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
    f = features_for(kernel["version"])
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
