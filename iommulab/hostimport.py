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

A paste is read as a person reads it (issue 17): prompts, commands, /proc/cmdline, fences, dmesg
and other commands' output around the listing are skipped (an `lspci -nnk` or a dmesg probe line
still lends a listed device its ID, class or driver); the "Group N:" scripts (`[vvvv:dddd] [R]
BDF class name`, USB lines below a controller), per-IOMMU-unit trees, `dmesg` "Adding to iommu
group" lines, repeated members, lines run together, wrapped or cut off are read; several listings
of one host are merged. Nothing is guessed: a device two lines put in two groups is left out. What
was not imported is in `Listing.skipped` as (line number, text, why); `Listing.notes` says what
else the reader did; parse_text fails (file, line, reason) only when no group can be read.
"""
import os
import re

from . import hostderive, hostlspci, hostsysfs
from .kernel.drivers import BUILTIN_NAMES
from .kernel.pcidev import DOWNSTREAM_PORT_KINDS, LSPCI_ADDRESS, bdf_name, parse_lspci_address
from .kernel.schema import DEVICE, DRIVER, in_order
from .scenario_file import to_toml
from .pciids import CLASSES, VENDORS

GROUP_RE = re.compile(r"^\s*(?:#+\s*)?(?:IOMMU\s+)?[Gg]roup\s*:?\s+(\d+)\b(?:\s*#+)?\s*:?\s*(.*)$")
DEVICE_RE = re.compile(
    rf"^(?P<addr>{LSPCI_ADDRESS})\s+"
    r"(?P<cls>[^\[:]+?)(?:\s*\[(?P<cc>[0-9a-fA-F]{4})\])?:\s+(?P<desc>.*?)"
    r"(?:\s*\[(?P<vid>[0-9a-fA-F]{4}):(?P<did>[0-9a-fA-F]{4})\])?"
    r"(?:\s*\(rev (?P<rev>[0-9a-fA-F]{2})\))?(?:\s*\(prog-if [^)]*\))?\s*$")
NUMERIC_RE = re.compile(rf"^(?P<addr>{LSPCI_ADDRESS})\s+"
                        r"(?P<cc>[0-9a-fA-F]{4}):\s+(?P<vid>[0-9a-fA-F]{4}):(?P<did>[0-9a-fA-F]{4})"
                        r"(?:\s*\(rev (?P<rev>[0-9a-fA-F]{2})\))?\s*$")
# "[10de:1b80] [R] 01:00.0  VGA compatible controller   GeForce GTX 1080" (ID first, [R]: resettable)
IDFIRST_RE = re.compile(rf"^\[(?P<vid>[0-9a-fA-F]{{4}}):(?P<did>[0-9a-fA-F]{{4}})\]\s+(?:\[R\]\s+)?"
                        rf"(?P<addr>{LSPCI_ADDRESS})(?:\s+(?P<rest>.*))?$")
ADDR_START_RE = re.compile(rf"^(?:{LSPCI_ADDRESS})(?=\s|$)")
CUT_ADDR_RE = re.compile(r"^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{0,2}(?:\.)?)?$")
CUT_ID_RE = re.compile(r"\[[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,3})?$|\(rev(?: [0-9a-fA-F]{0,1})?$|\(prog-if[^)]*$")
FIND_PATH = r"(?:/sys/kernel/)?iommu_groups/(\d+)/devices/"
FIND_RE = re.compile(rf"^{FIND_PATH}(.+?)/?$")
FIND_TOKEN_RE = re.compile(rf"^{FIND_PATH}([^/]+)/?$")
LS_HEADER_RE = re.compile(rf"^{FIND_PATH[:-1]}/?:$")
LS_ENTRY_RE = re.compile(r"^l\S{9}[.+@]?\s+\d+\s+\S+\s+\S+\s+\d+\s+(?P<left>.+?)\s+->\s+(?P<target>\S.*)$")
DETAIL_RE = re.compile(r"^\s+[A-Z][\w /().-]*:\s*.*$")
PROMPT_RE = re.compile(r"^(?:\(\S+\)\s*)?(?:\[[^\]\s]+@[^\]]+\][$#]|\S+@\S+?:\S*\s?[$#%]|\S+@\S+\s\S*\s?[$#%]|"
                       r"\S+@\S+(?:\s\S+)?\s?>|[$#%>])(?:\s|$)")
SHELL_RE = re.compile(r"\$\{|\$\(|\bdone\b|\bdo\b|;\s*$|\|\s*$|\\$|^\s*(?:for|while|if|echo|printf|lspci|find|ls)\s")
FENCE_RE = re.compile(r"^\s*(?:```|~~~|\[/?code\]|<\/?pre>|<\/?code>)")
DMESG_RE = re.compile(r"^(?:\[\s*\d+\.\d+\]|\w{3}\s+\d+\s+[\d:]{8}\s+\S+\s+kernel:|<\d>)")
DMESG_GROUP_RE = re.compile(r"(?:pci|platform|\S+)\s+(\S+?):\s+Adding to iommu group (\d+)\s*$|"
                            r"iommu: Adding device (\S+) to group (\d+)\s*$")
DMESG_ID_RE = re.compile(rf"\bpci (?P<addr>{LSPCI_ADDRESS}): \[(?P<vid>[0-9a-fA-F]{{4}}):(?P<did>[0-9a-fA-F]{{4}})\] "
                         r"type [0-9a-fA-F]{2} class 0x(?P<cls>[0-9a-fA-F]{6})\b")
LSPCI_S_RE = re.compile(r"\blspci\b[^|;]*\s-\w*s\s*(?:(?P<d>[0-9a-fA-F]{1,4}):)?(?P<b>[0-9a-fA-F]{1,2}):"
                        r"(?P<s>[0-9a-fA-F]{1,2})\.(?P<f>[0-7])\b")
CMDLINE_RE = re.compile(r"(?:^|\s)(?:BOOT_IMAGE|initrd)=|^(?=.*\broot=)(?=.*\b(?:intel_iommu|amd_iommu|iommu)=)")
UNIT_RE = re.compile(r"^\s*(?:IOMMU(?:\s+unit)?\s*:?\s+(?P<u1>\S+?)\s*:?|"
                     r"(?:/sys/class/iommu/|/sys/devices/virtual/iommu/)"
                     r"(?P<u2>[^/\s]+)(?:/devices)?/?:)$")
USB_MAP_RE = re.compile(rf"^\s*Bus\s+\d+\s+-->\s+(?P<addr>{LSPCI_ADDRESS})\s+\(IOMMU group (?P<g>\d+)\)\s*$")
USB_RE = re.compile(r"^[\s|`├└─┬│\\_-]*(?:USB\s*:|Bus\s+\d+\s+Device\s+\d+|/:\s+Bus\s+\d+|\|__\s+Port\s+\d+|"
                    r"Port\s+\d+:\s+Dev\s+\d+)")
TREE_PREFIX_RE = re.compile(r"^(?:Group\s+Device|Device)\s*:\s*")
NAME_RE = re.compile(r"^[\w.:@,+-]+$")
RUN_TOGETHER_RE = re.compile(r"\s(?=(?:/sys/kernel/)?iommu_groups/\d+/devices/?:(?:\s|$)|l[rwx-]{9}[.+@]?\s+\d+\s|"
                             r"total \d+\s|IOMMU [Gg]roup \d+\b)")
FSL_MC_RE = re.compile(r"^dp(rc|ni|mac|io|bp|con|seci|mcp)\.\d+$")
TOKEN_RE = re.compile(r"'[^']*'|\"[^\"]*\"|\S+")


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
    if FSL_MC_RE.match(name):
        return name, "fsl-mc"
    return name, "platform"


class Listing:
    """What the input told us, device by device, in order. `skipped`: (line number, text, why) of
    each line of a paste that was not imported; `notes`: (line number or 0, what the reader did
    that a person should know: listings merged, repeats, lines joined or read only in part)."""

    def __init__(self, source):
        self.source = source
        self.devices = {}           # name -> dict of facts
        self.order = []
        self.format = None
        self.skipped = []
        self.notes = []
        self.cmdline = None         # a /proc/cmdline line found in the paste
        self.units = {}             # group -> IOMMU unit, where the listing shows it

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


_VENDOR_NAMES = None
_CLASS_BY_NAME = {v.lower(): k for k, v in CLASSES.items()}


def _split_vendor(desc):
    global _VENDOR_NAMES
    if _VENDOR_NAMES is None:
        _VENDOR_NAMES = sorted(set(VENDORS.values()), key=len, reverse=True)
    for vendor in _VENDOR_NAMES:
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


def _unquote(word):
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"" else word


def _is_name(word):
    """A device name as ls or a script prints it: a PCI address, a platform/fsl-mc name, or a
    name in quotes (ls quotes names with spaces)."""
    if word[:1] in "'\"":
        return len(word) >= 3 and word[0] == word[-1]
    return bool(parse_lspci_address(word)) or (bool(NAME_RE.match(word)) and ":" not in word.strip(":"))


def _id_first(m):
    """`[vvvv:dddd] [R] BDF  class  name` (the "Group N:" scripts): class and name are columns."""
    facts = {"id": f"{m.group('vid').lower()}:{m.group('did').lower()}"}
    rest = (m.group("rest") or "").strip()
    if rest:
        parts = re.split(r"\t+|\s{2,}", rest, maxsplit=1)
        cls = parts[0].strip()
        if cls.lower() not in _CLASS_BY_NAME and len(parts) == 1:
            for known in sorted(_CLASS_BY_NAME, key=len, reverse=True):     # one space between columns
                if rest.lower().startswith(known + " "):
                    cls, parts = rest[:len(known)], [rest[:len(known)], rest[len(known) + 1:]]
                    break
        code = _CLASS_BY_NAME.get(cls.lower())
        if code is not None:
            facts["class"] = code << 8
        if len(parts) > 1 and parts[1].strip():
            facts["vendor_name"] = VENDORS.get(int(m.group("vid"), 16), "")
            facts["device_name"] = parts[1].strip()
    return facts


def _device_line(text):
    """One device as a listing prints it → (name, facts, note) or None. `note` says what of a cut
    line could not be read."""
    t = TREE_PREFIX_RE.sub("", text.strip().lstrip("-*|`├└─│ \t"))
    if not t:
        return None
    m = IDFIRST_RE.match(t)
    if m:
        return m.group("addr"), _id_first(m), None
    m = re.match(rf"^({LSPCI_ADDRESS})\s+-\s+(.*)$", t)              # "BDF - class [cc]: name"
    if m:
        t = f"{m.group(1)} {m.group(2)}"
    cut = CUT_ID_RE.search(t)
    if ADDR_START_RE.match(t) and cut:
        addr = ADDR_START_RE.match(t).group(0)
        facts = {}
        cc = re.search(r"\[([0-9a-fA-F]{4})\]:", t)
        if cc:
            facts["class"] = int(cc.group(1), 16) << 8
        return addr, facts, "cut off in the middle of an ID: read the address" + (" and class" if cc else "") + " only"
    m = NUMERIC_RE.match(t) or DEVICE_RE.match(t)
    if m:
        facts = _device_facts(m)
        note = None
        if "class" in facts and "id" not in facts and re.search(r"\[[0-9a-fA-F]{4}:[0-9a-fA-F]{4}\]", t) is None:
            note = "no [vendor:device] ID on this line (cut off?): imported without it"
        return m.group("addr"), facts, note
    if ADDR_START_RE.match(t):
        return ADDR_START_RE.match(t).group(0), {}, "read the address only (the rest is in no lspci format)"
    if _is_name(t) and not CUT_ADDR_RE.match(t):
        return _unquote(t), {}, None
    return None


_NOISE = ("a shell prompt", "the kernel command line", "a kernel log", "a USB device")


class _Reader:
    """One pass over a paste: each line either claims a device for a group, adds facts to a
    device, or is skipped with a reason. Claims are settled at the end (`finish`)."""

    def __init__(self, source):
        self.lst = Listing(source)
        self.claims = {}            # name -> [claim]; claim: dict(group, line, text, facts, kind)
        self.outside = {}           # name -> [(line, text, facts, reason)]: devices seen outside any group
        self.pending = None         # an ls -l target or a find name that the next line may complete
        self.unit = None
        self.in_command = False
        self.run = 0                # a new run of output begins at each prompt and fence
        self.reset()

    def reset(self):
        self.group = self.mode = self.indent = None
        self.member_on_header = self.blank = False
        self.last = None

    def skip(self, n, text, reason):
        self.lst.skipped.append((n, text, reason))

    def claim(self, group, raw, n, text, kind, facts=None):
        name = normalize(raw)[0]
        c = {"group": group, "line": n, "text": text, "facts": dict(facts or {}), "kind": kind, "run": self.run}
        self.claims.setdefault(name, []).append(c)
        if self.unit and kind == "tree":
            self.lst.units.setdefault(group, self.unit)
        self.last = c
        return c

    def seen_outside(self, n, text, name, facts, reason):
        entry = {"line": n, "text": text, "facts": dict(facts), "reason": reason}
        self.outside.setdefault(normalize(name)[0], []).append(entry)
        self.last = entry

    def header_kind(self, line):
        if self.unit:
            return "tree"
        return "loop" if re.match(r"^\s*(?:#+\s*)?IOMMU", line) else "group"

    # --- lines that the line before may have cut -----------------------------------------------
    def complete_pending(self, n, body):
        kind, info = self.pending
        self.pending = None
        if kind == "ls-target":
            c, target, name = info
            joined = target + body
            if " " not in body and joined.rstrip("/").split("/")[-1] == name:
                c["facts"]["parent"] = _parent_from_target(joined, name)
                self.lst.notes.append((n, f"joined to line {c['line']} (an ls -l line wrapped)"))
                return True
            return False
        group, part, line0, text0, fmt = info
        if " " not in body and parse_lspci_address(part + body):
            self.claim(group, part + body, line0, text0 + body, fmt)
            self.lst.notes.append((n, f"joined to line {line0} (a wrapped line)"))
            return True
        self.skip(line0, text0, "cut off in the middle of an address")
        return False

    def flush(self):
        if self.pending and self.pending[0] == "cut-name":
            _g, _p, line0, text0, _f = self.pending[1]
            self.skip(line0, text0, "cut off in the middle of an address")
        self.pending = None

    def find_name(self, group, name, n, text, fmt):
        name = _unquote(name.strip())
        if not parse_lspci_address(name) and (CUT_ADDR_RE.match(name)
                                              or re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F:.]*", name)):
            self.pending = ("cut-name", (group, name, n, text, fmt))
            return
        self.claim(group, name, n, text, fmt)

    # --- one line ------------------------------------------------------------------------------
    def line(self, n, raw):
        line = raw.replace("\r", "").rstrip()
        body = line.strip()
        if self.pending:
            if body and self.complete_pending(n, body):
                return
            self.flush()
        if not body:
            self.blank = True
            return
        if FENCE_RE.match(body):
            self.run += 1
            self.reset()
            return
        if re.fullmatch(r"total \d+", body):
            return
        wide = line.expandtabs(8)
        indent = len(wide) - len(wide.lstrip())
        m = GROUP_RE.match(body)
        if m:
            return self.header(n, line, int(m.group(1)), m.group(2).strip())
        if PROMPT_RE.match(body):
            self.run += 1
            self.reset()
            self.unit = None
            self.in_command = True
            self.skip(n, line, "a shell prompt and its command")
            m = LSPCI_S_RE.search(body)                 # `lspci -s 0:2.0 -vv | grep Kernel`: its lines
            if m:                                        # are about that one device
                dom, bus, slot, fn = m.group("d") or "0", m.group("b"), m.group("s"), m.group("f")
                self.seen_outside(n, line, f"{int(dom, 16):04x}:{int(bus, 16):02x}:{int(slot, 16):02x}.{fn}",
                                  {}, "a shell prompt and its command")
            return
        if self.in_command and SHELL_RE.search(body):
            return self.skip(n, line, "the shell command above, continued")
        self.in_command = False
        if DMESG_RE.match(body):
            self.reset()
            m = DMESG_ID_RE.search(body)
            if m:                                        # "pci 0000:00:02.0: [8086:3e98] type 00 class 0x030000"
                self.seen_outside(n, line, m.group("addr"), {"id": f"{m.group('vid')}:{m.group('did')}".lower(),
                                                             "class": int(m.group("cls"), 16)},
                                  "a kernel log (dmesg) line")
                self.last = None
                return
            m = DMESG_GROUP_RE.search(body)
            if m:
                name, group = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
                self.claim(int(group), name, n, line, "dmesg")
                return
            return self.skip(n, line, "a kernel log (dmesg) line")
        if ("root=" in body or "BOOT_IMAGE=" in body or "initrd=" in body) and CMDLINE_RE.search(body):
            self.reset()
            self.lst.cmdline = self.lst.cmdline or body
            return self.skip(n, line, "the kernel command line (kept for the report)")
        m = UNIT_RE.match(body)
        if m:
            self.reset()
            self.unit = m.group("u1") or m.group("u2")
            self.mode = "unit-list" if m.group("u2") else None
            self.lst.notes.append((n, f"IOMMU unit {self.unit}"))
            return
        m = USB_MAP_RE.match(body)
        if m:
            self.reset()
            self.claim(int(m.group("g")), m.group("addr"), n, line, "usb-map")
            self.last = None
            return
        if USB_RE.match(body):
            return self.skip(n, line, "a USB device behind its controller (not a group member)")
        m = LS_HEADER_RE.match(body)
        if m:
            self.reset()
            self.group, self.mode = int(m.group(1)), "ls"
            return
        m = LS_ENTRY_RE.match(body)
        if m:
            return self.ls_entry(n, line, m.group("left"), m.group("target").strip())
        if body.count("iommu_groups/") == 1 and FIND_RE.match(body):
            m = FIND_RE.match(body)
            return self.find_name(int(m.group(1)), m.group(2), n, line, "find")
        words = TOKEN_RE.findall(body)
        if len(words) > 1 and all(FIND_TOKEN_RE.match(w) for w in words):
            for w in words:                            # `ls -d …/devices/*` prints its paths in columns
                m = FIND_TOKEN_RE.match(w)
                self.find_name(int(m.group(1)), m.group(2), n, line, "ls")
            return
        if self.mode in ("ls", "unit-list") and all(_is_name(w) for w in words):
            if self.mode == "unit-list":
                return self.skip(n, line, f"devices of IOMMU unit {self.unit}: the unit's list gives no group number")
            for w in words:                            # plain `ls` prints names, several per line
                self.claim(self.group, _unquote(w), n, line, "ls")
            return
        m = re.match(r"^Kernel driver in use:\s*(\S+)$", body)
        if m:
            if self.last is None:
                return self.skip(n, line, "a driver line that follows no device")
            self.last["facts"]["driver"] = m.group(1)
            return
        d = _device_line(body)
        if d is not None:
            return self.device(n, line, indent, *d)
        if self.last is not None and DETAIL_RE.match(line):
            return                                       # Subsystem:, Kernel modules:, lspci -v detail
        if self.group is not None and self.mode == "group" and CUT_ADDR_RE.match(body.split()[0].lstrip("-*|`├└─│")):
            return self.skip(n, line, "cut off in the middle of an address")
        if self.group is not None and self.mode == "group" and self.last is not None and indent > (self.indent or 0):
            return self.skip(n, line, "an indented line that continues the device above (not a device)")
        return self.skip(n, line, "not part of an IOMMU group listing")

    def header(self, n, line, group, rest):
        self.reset()
        self.group, self.mode = group, "group"
        self.kind = self.header_kind(line)
        if rest:
            d = _device_line(rest)
            if d is None:
                reason = ("cut off in the middle of an address" if CUT_ADDR_RE.match(rest.split()[0])
                          else "not a device after the group number")
                return self.skip(n, line, reason)
            name, facts, note = d
            self.claim(group, name, n, line, self.kind, facts)
            self.member_on_header = True
            if note:
                self.lst.notes.append((n, note))

    def device(self, n, line, indent, name, facts, note):
        reason = None
        if self.group is None or self.mode != "group":
            reason = "a device outside any IOMMU group listing (another command's output?)"
        elif self.member_on_header and indent == 0:
            reason = "a device line after one-line group entries (another command's output?)"
        elif self.indent is not None and indent < self.indent:
            reason = f"less indented than the members of group {self.group} (another command's output?)"
        elif indent == 0 and any(c["group"] != self.group and c["run"] == self.run and c["kind"] == self.kind
                                 for c in self.claims.get(normalize(name)[0], ())):
            reason = (f"{normalize(name)[0]} is listed above in another group: the listing has ended "
                      "(another command's output?)")
        elif self.blank and indent == 0:
            reason = (f"after a blank line and not indented: could be a member of group {self.group} or "
                      "another command's output (not assigned)")
        if reason:
            self.reset()
            return self.seen_outside(n, line, name, facts, reason)
        if self.indent is None:
            self.indent = indent
        self.blank = False
        self.claim(self.group, name, n, line, self.kind, facts)
        if note:
            self.lst.notes.append((n, note))

    def ls_entry(self, n, line, left, target):
        left = left.strip()
        if left[-1:] in "'\"" and left.count(left[-1]) >= 2:
            name = left[left.rindex(left[-1], 0, len(left) - 1):]
        else:
            name = left.split()[-1]
        name = _unquote(name)
        m = FIND_TOKEN_RE.match(name)
        if m:
            group, name = int(m.group(1)), m.group(2)
        elif self.mode == "ls" and self.group is not None:
            group = self.group
        else:
            return self.skip(n, line, "an ls -l entry before any \"…/iommu_groups/N/devices:\" line")
        facts = {"parent": _parent_from_target(target, name), "linked": True}
        if "/platform/" in target and not parse_lspci_address(name):
            facts["bus"] = "platform"
        c = self.claim(group, name, n, line, "ls -l", facts)
        if target.rstrip("/").split("/")[-1] != name:
            self.pending = ("ls-target", (c, target, name))

    # --- the end: settle the claims ------------------------------------------------------------
    def finish(self):
        self.flush()
        lst = self.lst
        kinds, repeats, conflicts = [], 0, 0
        for name, cs in self.claims.items():
            dm = [c for c in cs if c["kind"] == "dmesg"]
            if len({c["group"] for c in dm}) > 1:        # removed and found again: the later add counts
                lst.notes.append((dm[-1]["line"], f"{name}: the kernel log adds it to group {dm[0]['group']} "
                                                  f"(line {dm[0]['line']}) and later to group {dm[-1]['group']}: "
                                                  "the later counts"))
                cs[:] = [c for c in cs if c["kind"] != "dmesg" or c["group"] == dm[-1]["group"]]
            for c in cs:
                if c["kind"] not in kinds:
                    kinds.append(c["kind"])
            groups = list(dict.fromkeys(c["group"] for c in cs))
            if len(groups) > 1:
                conflicts += 1
                other = next(c for c in cs if c["group"] != groups[0])
                lines = ", ".join(str(c["line"]) for c in cs)
                self.skip(other["line"], other["text"],
                          f"{name} is listed in groups {' and '.join(map(str, groups))} (lines {lines}): "
                          "left out, not guessed")
                continue
            seen = set()
            for c in cs:
                key = (c["kind"], c["group"])
                repeats += key in seen
                seen.add(key)
            d = {"name": name, "bus": normalize(name)[1], "group": groups[0]}
            for entry in cs + self.outside.get(name, []):
                for k, v in entry["facts"].items():
                    if v is None:
                        continue
                    if k not in d or k == "bus":
                        d[k] = v
                    elif k in ("id", "class", "driver") and (d[k] >> 8 != v >> 8 if k == "class" else d[k] != v):
                        lst.notes.append((entry["line"], f"{name}: this line says {k} {_show(k, v)}, an earlier "
                                                         f"one {_show(k, d[k])}: kept the earlier"))
            lst.devices[name] = d
            lst.order.append(name)
        for name, entries in self.outside.items():
            if name not in lst.devices:
                for e in entries:
                    if e["reason"] != "a shell prompt and its command":      # already skipped as such
                        self.skip(e["line"], e["text"], e["reason"])
        listings = [k for k in kinds if k != "usb-map"]
        full = [k for k in listings if k != "dmesg"]          # a kernel log is often grepped: partial
        lst.format = "+".join(listings or kinds) or None
        if repeats:
            lst.notes.append((0, f"{repeats} lines repeated a member of the same group (a script that prints "
                                 "each member once per member?): each device kept once"))
        if len(listings) > 1:
            missing = [(name, [k for k in full if k not in {c["kind"] for c in self.claims[name]}])
                       for name in lst.order]
            missing = [(name, ks) for name, ks in missing if ks]
            words = f"{len(listings)} listings of this host read ({', '.join(listings)}) and merged"
            if conflicts:
                words += f"; they disagree on the group of {conflicts} device(s) (left out, see the skipped lines)"
            if missing:
                shown = ", ".join(f"{name} (not in {'/'.join(ks)})" for name, ks in missing[:5])
                words += (f"; {len(missing)} device(s) only in some of them: {shown}"
                          + (" …" if len(missing) > 5 else ""))
            if not conflicts and not missing:
                words += "; they agree"
            lst.notes.append((0, words))
        lst.skipped.sort(key=lambda s: s[0])
        lst.notes.sort(key=lambda s: s[0])
        return lst


def _show(key, value):
    return f"{value >> 8:04x}" if key == "class" else str(value)


MAX_LINE = 4096


def parse_text(text, source="<input>"):
    """A pasted listing → Listing, read as a person would: noise around it (prompts, commands,
    /proc/cmdline, fences, dmesg, other commands' output) is skipped, several listings of the
    host are merged, and every line not imported is in `.skipped` with its line number and why
    (`.notes` says what else the reader did). Raises ImportError_ (file, line, reason) only when
    no group can be read at all."""
    r = _Reader(source)
    for lineno, line in enumerate(text.splitlines(), 1):
        pieces = (RUN_TOGETHER_RE.split(line) if len(line) > 160 and len(RUN_TOGETHER_RE.findall(line)) > 1
                  else [line])
        pieces = [p for p in pieces if p.strip()] or [line]
        if len(pieces) > 1:                              # a mail or forum that lost the newlines
            r.lst.notes.append((lineno, f"{len(pieces)} lines run together on this line: read one by one"))
        for piece in pieces:
            if len(piece) > MAX_LINE:                    # no listing line is this long: not a device name
                r.skip(lineno, piece[:200], f"{len(piece):,} characters long: no line of a listing is")
                continue
            r.line(lineno, piece)
    lst = r.finish()
    if not lst.devices:
        real = [s for s in lst.skipped if not s[2].startswith(_NOISE)] or lst.skipped
        if real:
            n, line, reason = real[0]
            raise ImportError_(source, n, f"{reason} (no IOMMU group could be read)", line)
        raise ImportError_(source, 0, "no IOMMU groups found (paste the output of the listing loop, "
                           "of ls -l /sys/kernel/iommu_groups/*/devices, or of find /sys/kernel/iommu_groups/ -type l)")
    _lend_lspci(lst, hostlspci.scan(text))
    return lst


TOPOLOGY_KEYS = ("placed", "parent", "pcie_type", "acs", "multifunction", "config_bytes", "config_denied",
                 "secondary", "subordinate")


def lend_facts(lst, facts, note_what):
    """Topology facts (hostlspci, hostsysfs) for the listed PCI devices; the listing's own IDs, classes
    and drivers win. Devices the facts know but no group lists are said, not added."""
    lent, unlisted = 0, []
    for name, f in facts.items():
        d = lst.devices.get(name)
        if d is None:
            unlisted.append(name)
            continue
        if d["bus"] != "pci":
            continue
        lent += 1
        d.update({k: v for k, v in f.items() if k in TOPOLOGY_KEYS})
        for k in ("id", "class", "driver", "revision"):
            if k in f and k not in d:
                d[k] = f[k]
    if lent:
        lst.notes.append((0, f"{note_what}: where {lent} of the listed devices sit"
                             + (", their PCI Express types and ACS registers" if any(
                                 "acs" in f or "pcie_type" in f for f in facts.values()) else "")))
    if unlisted:
        shown = ", ".join(unlisted[:4]) + (f" and {len(unlisted) - 4} more" if len(unlisted) > 4 else "")
        lst.notes.append((0, f"{note_what} shows {len(unlisted)} PCI device{'s' if len(unlisted) != 1 else ''} "
                             f"that no group lists ({shown}): not behind an IOMMU, or left out of the listing"))
    return lent


def _lend_lspci(lst, scanned):
    if not scanned.facts and not scanned.lines:
        return
    consumed = scanned.lines
    lst.skipped = [s for s in lst.skipped if s[0] not in consumed]
    lst.notes.extend(scanned.notes)
    formats = " and ".join(f for f, seen in (("lspci -tv", "tree" in scanned.formats),
                                              ("lspci -vvv", "verbose" in scanned.formats)) if seen)
    for name, f in scanned.facts.items():
        d = lst.devices.get(name)
        g = f.get("iommu_group")
        if d is not None and g is not None and g != d["group"]:
            lst.notes.append((0, f"lspci -vv says {name} is in IOMMU group {g}, the listing says "
                                 f"{d['group']}: the listing's group is kept"))
    lend_facts(lst, scanned.facts, f"read from the pasted {formats or 'lspci output'}")


def _parent_from_target(target, name):
    parts = [p for p in target.split("/") if p and p != ".."]
    pci = [p for p in parts if parse_lspci_address(p)]
    if len(pci) >= 2 and pci[-1] == name:
        return normalize(pci[-2])[0]
    return None


# --- directories and the live /sys ---------------------------------------------------------

MAX_READ = 4096
MAX_ENTRIES = 20000


def _read_small(path, *roots):
    """At most MAX_READ bytes of a regular file inside one of `roots`, as text; None for anything
    else (outside, a link out of the tree, a loop, a FIFO or a device node: never opened to block)."""
    for root in roots:
        b = hostsysfs.read_bytes(path, os.path.realpath(root), MAX_READ)
        if b is not None:
            return b.decode("ascii", "replace").strip()
    return None


def _listed(directory, what):
    """The names in a directory, at most MAX_ENTRIES of them, and how many more there were."""
    try:
        names = os.listdir(directory)
    except OSError as e:
        raise ImportError_(directory, 0, e.strerror or str(e)) from None
    return names, max(0, len(names) - MAX_ENTRIES)


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
    entries, _ = _listed(groups_dir, "groups")
    numbers = sorted(int(n) for n in entries if n.isdigit())
    if len(numbers) > MAX_ENTRIES:
        lst.notes.append((0, f"{groups_dir} has {len(numbers)} groups: only the first {MAX_ENTRIES} were read"))
        numbers = numbers[:MAX_ENTRIES]
    types = {}
    for n in numbers:
        devdir = os.path.join(groups_dir, str(n), "devices")
        names, more = _listed(devdir, "devices")
        names = sorted(names)[:MAX_ENTRIES]
        if more:
            lst.notes.append((0, f"group {n} lists {len(names) + more} devices: "
                                 f"only the first {MAX_ENTRIES} were read"))
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
        roots = (root, pci_dir)
        unread = []
        for name, d in lst.devices.items():
            if d["bus"] != "pci":
                continue
            base = os.path.join(pci_dir, name)
            vid = _read_small(os.path.join(base, "vendor"), *roots)
            did = _read_small(os.path.join(base, "device"), *roots)
            cls = _read_small(os.path.join(base, "class"), *roots)
            rev = _read_small(os.path.join(base, "revision"), *roots)
            if vid is None and cls is None and os.path.islink(base):
                unread.append(name)
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
        if unread:
            links = "entries are links" if len(unread) != 1 else "entry is a link"
            lst.notes.append((0, f"{pci_dir}: {len(unread)} device {links} "
                                 "leading out of the copied folder (as in the real /sys/bus/pci/devices), so their "
                                 "IDs, classes and drivers were not read: copy with `cp -rL` (links followed), or "
                                 "give the whole copied /sys"))
    lst.types = types
    return lst


def parse_live(sys_root="/sys", cmdline_path=None):
    """Read this machine's /sys (read-only, bounded, never following a link out of /sys): its groups,
    and (hostsysfs) where each PCI device sits, its PCI Express type, ACS registers and multifunction
    bit, for hostderive to re-derive the groups; and the kernel command line, from /proc/cmdline
    (for another tree SYS, from SYS/../proc/cmdline when there is one)."""
    lst = parse_dirs(os.path.join(sys_root, "kernel", "iommu_groups"),
                     os.path.join(sys_root, "bus", "pci", "devices"), root=sys_root)
    lst.format = "live"
    facts = hostsysfs.read_pci_facts(sys_root, [n for n in lst.order if lst.devices[n]["bus"] == "pci"])
    lend_facts(lst, facts, f"read from {sys_root}")
    denied = sorted(n for n, f in facts.items() if f.get("config_bytes", 4096) <= 64)
    if denied:
        lst.notes.append((0, f"only the first 64 bytes of config space were readable for {len(denied)} "
                             "devices (a reader without root): their PCI Express types and ACS registers "
                             "are unknown; run as root (sudo) to read them"))
    if cmdline_path is None:
        cmdline_path = ("/proc/cmdline" if os.path.realpath(sys_root) == "/sys"
                        else os.path.join(os.path.dirname(os.path.abspath(sys_root)), "proc", "cmdline"))
    lst.cmdline = hostsysfs.read_cmdline(cmdline_path)
    return lst


# --- to a scenario -------------------------------------------------------------------------------

def _set_kinds(devices, lst):
    """A bridge's kind where the listing shows only a class or a child: a port when the listing shows
    pcieport bound (so boot binds it again), otherwise a bridge no driver takes, so the imported machine
    boots with exactly the drivers it listed (hostderive.port_kind, top-down)."""
    def is_bridge(spec):
        d = lst.devices[spec["name"]]
        return spec["bus"] == "pci" and (d.get("class", 0) >> 8 == 0x0604 or bool(d.get("is_parent")))
    hostderive.guess_bridge_kinds(devices, lst.devices, is_bridge)


def _topology_facts(devices, lst):
    """Where the reader saw them (the live /sys, a pasted `lspci -vvv`), the PCI Express type decides
    the kind, and a known "no ACS" or multifunction bit is written down (hostderive's reading of the
    registers): the groups stay the listing's, but the Lab shows the machine as it is."""
    parents = {spec.get("parent") for spec in devices}
    for spec in devices:
        d = lst.devices[spec["name"]]
        if spec["bus"] != "pci":
            continue
        kind, guessed = hostderive.kind_of(d, spec["name"] in parents)
        if not guessed:
            spec["kind"] = kind
        if d.get("multifunction"):
            spec["multifunction"] = True
        matters = spec.get("kind") in DOWNSTREAM_PORT_KINDS or d.get("multifunction")   # pci_acs_enabled()
        if matters and d.get("acs") is not None and not hostderive.acs_of(d, spec.get("kind", "endpoint")):
            spec["acs"] = False


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
    _topology_facts(devices, lst)
    dropped = hostderive.settle(devices)
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
