"""Turn what a learner can copy from their own machine into a scenario (`iommulab import-host`).

Inputs: the output of the classic listing loop (with or without `lspci -k` driver lines), of
`ls -l /sys/kernel/iommu_groups/*/devices`, of `find /sys/kernel/iommu_groups/ -type l`, a
directory copied from /sys/kernel/iommu_groups (and optionally /sys/bus/pci/devices), or the live
/sys, read-only. Groups become explicit `group = N`; IDs, classes, names and bound drivers are
kept where the input has them. Drivers the simulator does not know become scenario drivers that
use the kernel DMA API (driver_managed_dma = false, or true for VFIO variant drivers whose name
contains "vfio"); their ID tables are unknown, so they match only through driver_override/new_id
and boot binds exactly the devices the listing shows bound. Where the input shows parents (sysfs
links), PCIe port types follow the links, and the result obeys the scenario loader's topology
rules (kernel/pci_probe.py TOPOLOGY_RULES): a parent those rules refuse is left out, and said so.
"""
import os
import re

from .kernel.drivers import BUILTIN_NAMES
from .kernel.pcidev import DOWNSTREAM_PORT_KINDS, LSPCI_ADDRESS, bdf_name, parse_lspci_address
from .kernel.pci_probe import topology_problems
from .kernel.schema import DEVICE, DEVICE_DEFAULTS, DRIVER, in_order
from .scenario_file import to_toml
from .pciids import VENDORS

GROUP_RE = re.compile(r"^\s*IOMMU\s+[Gg]roup\s+(\d+)\s*:?\s*(.*)$")
DEVICE_RE = re.compile(
    rf"^(?P<addr>{LSPCI_ADDRESS})\s+"
    r"(?P<cls>[^\[:]+?)(?:\s*\[(?P<cc>[0-9a-fA-F]{4})\])?:\s+(?P<desc>.*?)"
    r"(?:\s*\[(?P<vid>[0-9a-fA-F]{4}):(?P<did>[0-9a-fA-F]{4})\])?"
    r"(?:\s*\(rev (?P<rev>[0-9a-fA-F]{2})\))?(?:\s*\(prog-if [^)]*\))?\s*$")
NUMERIC_RE = re.compile(rf"^(?P<addr>{LSPCI_ADDRESS})\s+"
                        r"(?P<cc>[0-9a-fA-F]{4}):\s+(?P<vid>[0-9a-fA-F]{4}):(?P<did>[0-9a-fA-F]{4})"
                        r"(?:\s*\(rev (?P<rev>[0-9a-fA-F]{2})\))?\s*$")
FIND_RE = re.compile(r"^(?:/sys/kernel/)?iommu_groups/(\d+)/devices/([^/\s]+)/?\s*$")
LS_HEADER_RE = re.compile(r"^(?:/sys/kernel/)?iommu_groups/(\d+)/devices/?:\s*$")
LS_ENTRY_RE = re.compile(r"^l\S{9}\.?\s+\d+\s+\S+\s+\S+\s+\d+\s+.+?\s(\S+)\s+->\s+(\S+)\s*$")
DETAIL_RE = re.compile(r"^\s+[A-Z][\w /().-]*:\s*.*$")
PROMPT_RE = re.compile(r"^(\S+@\S+[:~].*?[$#]\s|[$#]\s|```|~~~)")
NAME_RE = re.compile(r"^[\w.:@,+-]+$")


class ImportError_(ValueError):
    """A listing that cannot be read: names the input, the line and what is wrong."""

    def __init__(self, source, lineno, problem, line=None):
        where = f"{source}: line {lineno}" if lineno else source
        text = f"{where}: {problem}" + (f": {line.strip()!r}" if line is not None else "")
        super().__init__(text)


def normalize(name):
    """'01:00.0' → ('0000:01:00.0', 'pci'); anything else keeps its name on the platform bus."""
    a = parse_lspci_address(name)
    if a is not None:
        return bdf_name(*a), "pci"
    if re.match(r"^dp(rc|ni|mac|io|bp|con|seci|mcp)\.\d+$", name):
        return name, "fsl-mc"
    return name, "platform"


class Listing:
    """What the input told us, device by device, in order."""

    def __init__(self, source):
        self.source = source
        self.devices = {}           # name -> dict of facts
        self.order = []
        self.format = None

    def add(self, group, raw_name, lineno, line, **facts):
        name, bus = normalize(raw_name)
        d = self.devices.get(name)
        if d is not None and d["group"] != group:
            raise ImportError_(self.source, lineno, f"{name} is listed in groups {d['group']} and {group}", line)
        if d is None:
            d = {"name": name, "bus": bus, "group": group}
            self.devices[name] = d
            self.order.append(name)
        d.update({k: v for k, v in facts.items() if v is not None})
        return d


def _split_vendor(desc):
    for vendor in sorted(set(VENDORS.values()), key=len, reverse=True):
        if desc.startswith(vendor + " "):
            return vendor, desc[len(vendor) + 1:]
    return "", desc


def _device_facts(m):
    facts = {}
    if m.group("vid"):
        facts["id"] = f"{m.group('vid').lower()}:{m.group('did').lower()}"
    if m.group("cc"):
        facts["class"] = int(m.group("cc"), 16) << 8
    if m.group("rev"):
        facts["revision"] = int(m.group("rev"), 16)
    if "desc" in m.groupdict() and m.group("desc"):
        vendor, dev_name = _split_vendor(m.group("desc").strip())
        if dev_name not in ("Device", ""):
            facts["vendor_name"], facts["device_name"] = vendor, dev_name
    return facts


def _parse_device_text(text):
    m = NUMERIC_RE.match(text) or DEVICE_RE.match(text)
    if m:
        return m.group("addr"), _device_facts(m)
    if NAME_RE.match(text) and ":" not in text.strip(":") or parse_lspci_address(text):
        return text, {}
    return None, None


def parse_text(text, source="<input>"):
    """A pasted listing (loop, ls -l or find) → Listing. Raises ImportError_ on garbage."""
    lst = Listing(source)
    group = None
    last = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or PROMPT_RE.match(line) or stripped.startswith("total "):
            continue
        m = GROUP_RE.match(line)
        if m:
            group, rest = int(m.group(1)), m.group(2).strip()
            lst.format = lst.format or "loop"
            last = None
            if rest:
                addr, facts = _parse_device_text(rest)
                if addr is None:
                    raise ImportError_(source, lineno, "not a device after the group number", line)
                last = lst.add(group, addr, lineno, line, **facts)
            continue
        m = FIND_RE.match(stripped) or FIND_RE.match(stripped.replace("/sys/kernel/", "", 1))
        if m:
            lst.format = lst.format or "find"
            lst.add(int(m.group(1)), m.group(2), lineno, line)
            continue
        m = LS_HEADER_RE.match(stripped)
        if m:
            lst.format = lst.format or "ls"
            group = int(m.group(1))
            continue
        m = LS_ENTRY_RE.match(stripped)
        if m:
            if group is None:
                raise ImportError_(source, lineno, "an ls -l entry before any \"…/iommu_groups/N/devices:\" line", line)
            name, target = m.groups()
            lst.add(group, name, lineno, line, parent=_parent_from_target(target, name), linked=True,
                    **({"bus": "platform"} if "/platform/" in target and not parse_lspci_address(name) else {}))
            continue
        if lst.format == "ls" and group is not None and all(
                normalize(w)[1] == "pci" or NAME_RE.match(w) for w in stripped.split()):
            for word in stripped.split():              # plain `ls` prints names, several per line
                lst.add(group, word, lineno, line)
            continue
        m = re.match(r"^\s*Kernel driver in use:\s*(\S+)\s*$", line)
        if m:
            if last is None:
                raise ImportError_(source, lineno, "a driver line that follows no device", line)
            last["driver"] = m.group(1)
            continue
        if last is not None and DETAIL_RE.match(line):
            continue                                    # Subsystem:, Kernel modules:, lspci -v detail
        if group is not None and lst.format == "loop":
            addr, facts = _parse_device_text(stripped)
            if addr is not None:
                last = lst.add(group, addr, lineno, line, **facts)
                continue
        raise ImportError_(source, lineno, "not part of an IOMMU group listing", line)
    if not lst.devices:
        raise ImportError_(source, 0, "no IOMMU groups found (paste the output of the listing loop, "
                           "of ls -l /sys/kernel/iommu_groups/*/devices, or of find /sys/kernel/iommu_groups/ -type l)")
    return lst


def _parent_from_target(target, name):
    parts = [p for p in target.split("/") if p and p != ".."]
    pci = [p for p in parts if parse_lspci_address(p)]
    if len(pci) >= 2 and pci[-1] == name:
        return normalize(pci[-2])[0]
    return None


# --- directories and the live /sys ---------------------------------------------------------

MAX_READ = 4096
MAX_ENTRIES = 20000


def _read_small(path, root):
    """Read at most MAX_READ bytes of a file under `root`, never leaving it."""
    real = os.path.realpath(path)
    if not real.startswith(os.path.realpath(root) + os.sep):
        return None
    try:
        with open(real, "rb") as f:
            return f.read(MAX_READ).decode("ascii", "replace").strip()
    except OSError:
        return None


def _link_name(path):
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def parse_dirs(groups_dir, pci_dir=None, root=None):
    """A copied (or the live) /sys/kernel/iommu_groups, with /sys/bus/pci/devices if given."""
    root = root or os.path.dirname(os.path.abspath(groups_dir))
    lst = Listing(groups_dir)
    lst.format = "dir"
    try:
        numbers = sorted((int(n) for n in os.listdir(groups_dir) if n.isdigit()))[:MAX_ENTRIES]
    except OSError as e:
        raise ImportError_(groups_dir, 0, e.strerror or str(e)) from None
    types = {}
    for n in numbers:
        devdir = os.path.join(groups_dir, str(n), "devices")
        try:
            names = sorted(os.listdir(devdir))[:MAX_ENTRIES]
        except OSError as e:
            raise ImportError_(devdir, 0, e.strerror or str(e)) from None
        for name in names:
            link = os.path.join(devdir, name)
            target = os.readlink(link) if os.path.islink(link) else ""
            lst.add(n, name, 0, None, parent=_parent_from_target(target, name) if target else None,
                    linked=bool(target) or None)
        t = _read_small(os.path.join(groups_dir, str(n), "type"), root)
        if t:
            types[n] = t
    if not lst.devices:
        raise ImportError_(groups_dir, 0, "no IOMMU groups with devices in this directory")
    if pci_dir:
        for name, d in lst.devices.items():
            if d["bus"] != "pci":
                continue
            base = os.path.join(pci_dir, name)
            vid, did = _read_small(os.path.join(base, "vendor"), root), _read_small(os.path.join(base, "device"), root)
            cls = _read_small(os.path.join(base, "class"), root)
            rev = _read_small(os.path.join(base, "revision"), root)
            try:
                if vid and did:
                    d["id"] = f"{int(vid, 16):04x}:{int(did, 16):04x}"
                if cls:
                    d["class"] = int(cls, 16)
                if rev:
                    d["revision"] = int(rev, 16)
            except ValueError:
                raise ImportError_(base, 0, "vendor, device, class or revision is not hexadecimal") from None
            drv = _link_name(os.path.join(base, "driver"))
            if drv:
                d["driver"] = drv
    lst.types = types
    return lst


def parse_live(sys_root="/sys"):
    """Read this machine's /sys (read-only, bounded, never following a link out of /sys)."""
    return parse_dirs(os.path.join(sys_root, "kernel", "iommu_groups"),
                      os.path.join(sys_root, "bus", "pci", "devices"), root=sys_root)


# --- to a scenario -------------------------------------------------------------------------------

def _bridge_kind(name, d, parent_kind=None):
    """A port when the listing shows pcieport bound (so boot binds it again); otherwise a bridge
    no driver takes, so the imported machine boots with exactly the drivers it listed. Where the
    sysfs links show the parent, the PCIe port types alternate as on any real link: below a root
    or downstream port sits an upstream port, below an upstream port the downstream ports, and a
    port with no bridge above it is a root port. Without links, bus 00 stands for the root bus."""
    if d.get("driver") != "pcieport":
        return "pci-bridge"
    if parent_kind in DOWNSTREAM_PORT_KINDS:
        return "upstream-port"
    if parent_kind == "upstream-port":
        return "downstream-port"
    if d.get("linked") and parent_kind is None:
        return "root-port"
    return "root-port" if name[5:7] == "00" else "downstream-port"


def _depth(name, specs):
    n, seen = 0, set()
    while name in specs and specs[name].get("parent") and name not in seen:
        seen.add(name)
        name, n = specs[name]["parent"], n + 1
    return n


def _set_kinds(devices, lst):
    """Bridge kinds top-down, so that each port knows its parent's kind."""
    specs = {spec["name"]: spec for spec in devices}
    for spec in sorted(devices, key=lambda x: _depth(x["name"], specs)):
        d = lst.devices[spec["name"]]
        if spec["bus"] != "pci" or not (d.get("class", 0) >> 8 == 0x0604 or d.get("is_parent")):
            continue
        parent = specs.get(spec.get("parent"))
        spec["kind"] = _bridge_kind(spec["name"], d, parent.get("kind") if parent else None)


def _keep_to_the_rules(devices):
    """The listing's groups are explicit, so a parent is only a picture of where a device sits:
    where the synthesised placement breaks a topology rule (a virtual function or an ARI function
    at a device number other than 0 below a port, a link the listing got wrong), leave that parent
    out rather than write a machine that cannot exist. Returns the devices whose parent went."""
    dropped = []
    for _ in range(len(devices) + 1):
        problems = topology_problems([dict(x, kind=x.get("kind", DEVICE_DEFAULTS["kind"])) for x in devices])
        if not problems:
            return dropped
        for i, name, _problem in problems:
            if devices[i].pop("parent", None) is not None:
                dropped.append(name)
            else:
                devices[i].pop("kind", None)
    raise ValueError("the imported topology does not settle")       # cannot happen: each pass removes keys


def to_document(lst, version=None, title=None):
    devices, drivers = [], {}
    names = set(lst.devices)
    for name in lst.order:
        d = lst.devices[name]
        spec = {"name": name, "bus": d["bus"], "group": d["group"]}
        for key in ("id", "class", "vendor_name", "device_name", "revision"):
            if key in d and (d["bus"] == "pci" or key != "id"):
                spec[key] = d[key]
        parent = d.get("parent")
        if parent in names and lst.devices[parent]["bus"] == d["bus"]:
            spec["parent"] = parent
            lst.devices[parent].setdefault("is_parent", True)
        drv = d.get("driver")
        if drv:
            spec["driver"] = drv
            if drv not in BUILTIN_NAMES:
                drivers.setdefault(drv, {"name": drv, "bus": d["bus"],
                                         "driver_managed_dma": "vfio" in drv})
        devices.append(spec)
    _set_kinds(devices, lst)                           # a parent found only through links is a bridge
    dropped = _keep_to_the_rules(devices)
    doc = {"title": title or f"Imported from {os.path.basename(str(lst.source))}",
           "description": (f"Imported by `iommulab import-host` from {lst.source} ({lst.format} format). "
                           "Groups are as the host listed them."
                           + (f" Left out the parent of {', '.join(dropped)}: a PCIe port's link carries "
                              "one device, and these (virtual functions?) cannot be placed by the "
                              "rules the simulator knows." if dropped else "")),
           "kernel": {"version": version} if version else {}}
    types = set(getattr(lst, "types", {}).values())
    if types == {"identity"}:
        doc["kernel"]["cmdline"] = "iommu.passthrough=1"
    elif types == {"DMA"}:
        doc["kernel"]["cmdline"] = "iommu.strict=1"
    if not doc["kernel"]:
        del doc["kernel"]
    doc["driver"] = [in_order(x, DRIVER) for x in drivers.values()]      # keys in the README's order
    doc["device"] = [in_order(x, DEVICE) for x in devices]
    return doc


def import_text(text, source="<input>", version=None):
    """Listing text → scenario TOML text."""
    return to_toml(to_document(parse_text(text, source), version))
