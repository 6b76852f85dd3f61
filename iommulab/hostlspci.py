"""Topology and ACS facts from `lspci -tv` and `lspci -vvv` pasted with a group listing (issue 17).

`scan(text)` reads the two formats wherever they stand in a paste and returns LspciFacts:
`.facts` (normalized name "0000:01:00.0" -> dict of the facts of the contract, each key only where
the text shows it: `placed`/`parent`, `pcie_type`, `acs`, `config_denied`, `secondary`/`subordinate`,
`id`, `class`, `revision`, `driver`, and `iommu_group` where `lspci -vv` printed one), `.lines`
(1-based numbers of the lines read as tree or -vvv output), `.formats` ({"tree", "verbose"}) and
`.notes` [(line, text)].

The formats are pciutils' (ls-tree.c, lspci.c, ls-caps.c, ls-ecaps.c):
- The tree: each domain's root starts at column 0 with "-" and one bus "[dddd:bb]-" or several,
  "+-[dddd:bb]-" / "\\-[dddd:bb]-". A bus prints its devices with "--" (one), "+-" (more) and "\\-"
  (the last); a device is "dd.f", a bridge adds "-[ss]-", "-[ss-uu]-" (before 2009 with the domain)
  or "-" (secondary bus 0), then "-" and its bus. When a line ends, lspci keeps "+" and "|" as "|"
  and blanks the rest, so a later line's connector column names the bus it continues.
- `-v`: a block per device, "[dddd:]bb:dd.f class[ [cccc]]: name[ [vvvv:dddd]][ (rev rr)][ (prog-if
  pp ...)]", then TAB-indented lines; a bridge's "Bus: primary=, secondary=, subordinate=" (readable
  without root: the first 64 bytes), "Capabilities: [xx] Express (v2) Root Port (Slot+), ..." (types
  of cap_express), "Capabilities: [1xx vN] Access Control Services" and with -vv its ACSCap:/ACSCtl:
  lines, "Capabilities: <access denied>" (not root), "Kernel driver in use:", "IOMMU group:" (-vv).
  lspci ends every block with an empty line.

Nothing is guessed. A device's parent in -vvv is the bridge of the same domain whose secondary bus
is the device's bus; a bus no bridge reaches is a root bus only when it is bus 00 or carries a root
port, an RC endpoint or event collector, or a host bridge (otherwise a bridge may be missing from a
partial paste). "conventional" and acs "none" are said only of a block that shows the whole output
(a Status: line, and the block ended by an empty line or by its kernel driver lines): a grep'd or
hand-edited block has capabilities left out. ACSCap shows bits 0-6 only (the egress vector size is
not printed). Two sources that disagree on a fact leave it out and say so in `.notes`.
"""
import re

from .kernel.pcidev import bdf_name
from .pciids import CLASSES

__all__ = ["LspciFacts", "scan"]

HEX = "[0-9a-fA-F]"
ADDR = rf"(?:(?P<dom>{HEX}{{4,8}}):)?(?P<bus>{HEX}{{2}}):(?P<slot>{HEX}{{2}})\.(?P<fn>[0-7])"
HEADER_RE = re.compile(rf"^{ADDR} (?P<rest>\S.*?)\s*$")
CLASS_RE = re.compile(rf"^(?P<cls>[^:]*?)(?:\s*\[(?P<cc>{HEX}{{4}})\])?:\s(?P<desc>.*)$")
NUMERIC_RE = re.compile(rf"^(?P<cc>{HEX}{{4}}):\s(?P<vid>{HEX}{{4}}):(?P<did>{HEX}{{4}})\b")
ID_RE = re.compile(rf"\[(?P<vid>{HEX}{{4}}):(?P<did>{HEX}{{4}})\](?=\s*(?:\(rev|\(prog-if|$))")
REV_RE = re.compile(rf"\(rev (?P<rev>{HEX}{{2}})\)")
PROGIF_RE = re.compile(rf"\(prog-if (?P<pi>{HEX}{{2}})")
BUS_RE = re.compile(rf"^Bus: primary=(?P<p>{HEX}{{2}}), secondary=(?P<s>{HEX}{{2}}), subordinate=(?P<u>{HEX}{{2}})")
CAP_RE = re.compile(rf"^Capabilities: \[(?P<off>{HEX}{{2,3}})(?: v\d+)?\] (?P<what>.*)$")
EXPRESS_RE = re.compile(r"^Express (?:\(v\d+\) )?(?P<type>.+?)(?: \(Slot[+-]\))?, (?:MSI|IntMsgNum) ")
ACS_LINE_RE = re.compile(r"^(?P<reg>ACSCap|ACSCtl):\s*(?P<flags>.*)$")
VERBOSE_ONLY = ("Control:", "Status:", "Flags:", "Capabilities:", "Bus: primary=", "Latency:", "Interrupt:",
                "Region ", "IOMMU group:", "NUMA node:", "Physical Slot:", "Memory behind bridge",
                "I/O behind bridge", "Prefetchable memory behind bridge", "BridgeCtl:", "Secondary status:")
ACS_FLAGS = ("SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "EgressCtrl", "DirectTrans")
EXPRESS_TYPES = {
    "Endpoint": "endpoint", "Legacy Endpoint": "legacy-endpoint", "Root Port": "root-port",
    "Upstream Port": "upstream-port", "Downstream Port": "downstream-port",
    "PCI-Express to PCI/PCI-X Bridge": "pcie-to-pci-bridge", "PCI/PCI-X Bridge": "pcie-to-pci-bridge",  # < 3.2.1
    "PCI/PCI-X to PCI-Express Bridge": "pci-to-pcie-bridge", "Root Complex Integrated Endpoint": "rc-endpoint",
    "Root Complex Event Collector": "rc-event-collector",
}
CLASS_BY_NAME = {name: code for code, name in CLASSES.items()}
ROOT_BUS_TYPES = ("root-port", "rc-endpoint", "rc-event-collector")
# The tree's pieces (ls-tree.c): a bus "[dddd:bb]" (pciutils before 2003: "[bb]"), a bridge's buses
# "-[ss]-" / "-[ss-uu]-" (before 2009 with the domain) or "-" alone, a device "dd.f".
TREE_ROOT_RE = re.compile(rf"^(?P<quote>(?:>[ \t]?)*[ \t]*)(?P<tree>-(?:\+-|\\-)?\[(?:{HEX}{{4,8}}:)?{HEX}{{2}}\]-.*)$")
TREE_CUT_ROOT_RE = re.compile(rf"^(?P<quote>(?:>[ \t]?)*[ \t]*)(?P<tree>[+\\]-\[{HEX}{{4,8}}:{HEX}{{2}}\]-.*)$")
BUSMARK_RE = re.compile(rf"\[(?:(?P<dom>{HEX}{{4,8}}):)?(?P<bus>{HEX}{{2}})\]-")
DEV_RE = re.compile(rf"(?P<slot>{HEX}{{2}})\.(?P<fn>[0-7])")
BRIDGE_RE = re.compile(rf"-\[(?:{HEX}{{4,8}}:)?(?P<sec>{HEX}{{2}})(?:-(?P<sub>{HEX}{{2}}))?\]-")
NAME_ID_RE = re.compile(rf"(?:\[(?P<vid>{HEX}{{4}}):(?P<did>{HEX}{{4}})\]"
                        rf"|^(?P<nvid>{HEX}{{4}}):(?P<ndid>{HEX}{{4}}))\s*$")


class LspciFacts:
    """What `lspci -tv` and `lspci -vvv` in a paste show (see the module's docstring)."""

    def __init__(self):
        self.facts: dict[str, dict] = {}
        self.lines: set[int] = set()
        self.formats: set[str] = set()
        self.notes: list[tuple[int, str]] = []


def _name(dom, bus, slot, fn):
    return bdf_name(int(dom or "0", 16), int(bus, 16), int(slot, 16), int(fn))


class _Sources:
    """Facts as each source tells them: name -> key -> [(value, line, source)]."""

    def __init__(self):
        self.seen: dict[str, dict[str, list]] = {}

    def add(self, name, key, value, line, source):
        self.seen.setdefault(name, {}).setdefault(key, []).append((value, line, source))

    def settle(self, out):
        for name, keys in self.seen.items():
            facts = out.facts.setdefault(name, {})
            for key, said in keys.items():
                values = list(dict.fromkeys(v for v, _l, _s in said))
                if len(values) == 1:
                    facts[key] = values[0]
                    continue
                where = ", ".join(f"line {ln} ({src}): {_show(key, v)}" for v, ln, src in said)
                what = "parent" if key == "parent" else key
                out.notes.append((said[-1][1], f"{name}: the paste disagrees on its {what} ({where}): left out"))
                if key == "parent":
                    facts.pop("placed", None)
            if "parent" not in facts:
                facts.pop("placed", None)
        for name in list(out.facts):
            if not out.facts[name]:
                del out.facts[name]


def _show(key, value):
    if key == "acs" and isinstance(value, tuple):
        return f"cap {value[0]:#06x} ctl {value[1]:#06x}"
    if key == "class":
        return f"{value:06x}"
    return "the root bus" if key == "parent" and value is None else str(value)


# --- the tree ------------------------------------------------------------------------------------

class _Tree:
    """One `lspci -t` tree: `branches` maps a connector column to what hangs there: ("bus", domain,
    bus, parent) for a bus's devices, ("buses", domain, parent) for a bridge's (or a domain's) buses.
    `shift`: how far the lines below the first sit from it (a quote that lost a space), once known."""

    def __init__(self):
        self.branches: dict[int, tuple] = {}
        self.shift: int | None = None


def _tree_line(tree, s, n, out, src, continuation):
    """Read one line of a tree (without its quote prefix). Returns False when it is no tree line."""
    col = 0
    state: tuple
    if not continuation:
        state = ("buses", None, None)
        if s.startswith("-"):
            col = 1
        else:                                            # a tree whose first line was cut off
            tree.branches[0] = state
            col = 0
    else:
        m = re.match(r"^[ |]*", s)
        col = m.end() if m else 0
        if col >= len(s) or s[col] not in "+\\":
            return False
        shift = tree.shift
        if shift is None:                                # calibrate once: a quote may add or lose a space
            shift = next((d for d in (0, 1, -1, 2, -2) if col + d in tree.branches), None)
            if shift is None:
                out.notes.append((n, "a tree line that continues no branch above (lines cut or spaces lost?): "
                                     "not read"))
                return False
            tree.shift = shift
            if shift:
                out.notes.append((n, f"the tree's lines below its first are {abs(shift)} column(s) "
                                     f"{'left' if shift > 0 else 'right'} of it (a quote or paste "
                                     "moved them): read with that shift"))
        for i, ch in enumerate(s[:col]):
            if ch == "|" and i + shift not in tree.branches:
                out.notes.append((n, "a tree line whose '|' columns match no branch above: not read"))
                return False
        if col + shift not in tree.branches:
            out.notes.append((n, "a tree line that continues no branch above (lines cut or spaces lost?): not read"))
            return False
        state = tree.branches[col + shift]
        for c in [c for c in tree.branches if c > col + shift]:
            del tree.branches[c]
        col_shift = shift
        s = " " * col_shift + s if col_shift > 0 else s[-col_shift:] if col_shift < 0 else s
        col += col_shift
    read_any = False
    while col < len(s):
        kind = state[0]
        if kind == "buses":
            _k, dom, parent = state
            rest = s[col:]
            m = re.match(r"(\+-|\\-)?", rest)
            conn = m.group(1) if m else None
            if conn == "+-":
                tree.branches[col] = state
            elif conn == "\\-":
                tree.branches.pop(col, None)
            j = col + (2 if conn else 0)
            bm = BUSMARK_RE.match(s, j)
            if bm is None:
                break
            bdom = bm.group("dom") or dom or "0000"
            bus_parent = parent
            if parent is not None and int(bm.group("bus"), 16) != src.get(("secondary", parent)):
                bus_parent = "?"                       # a bus of a bridge other than its secondary
            state = ("bus", bdom, bm.group("bus"), bus_parent)
            col = bm.end()
            continue
        _k, dom, bus, parent = state
        rest = s[col:]
        if rest == "" or rest.isspace():
            break
        conn = rest[:2]
        if conn not in ("--", "+-", "\\-"):
            break
        if conn == "+-":
            tree.branches[col] = state
        else:
            tree.branches.pop(col, None)
        col += 2
        dm = DEV_RE.match(s, col)
        if dm is None or bus is None:
            if bus is None:
                out.notes.append((n, "a bridge whose secondary bus is 0 (unconfigured): its devices' bus is not known"))
            else:
                out.notes.append((n, "a tree line cut off in the middle of a device"))
            break
        name = _name(dom, bus, dm.group("slot"), dm.group("fn"))
        read_any = True
        add = src["add"]
        if parent == "?":
            out.notes.append((n, f"{name}: on a bus below a bridge that is not the bridge's secondary: not placed"))
        else:
            add(name, "parent", parent, n, "tree")
            add(name, "placed", True, n, "tree")
        col = dm.end()
        br = BRIDGE_RE.match(s, col)
        if br is not None or s[col:col + 2] in ("--", "-+", "-\\"):
            if br is not None:
                sec, sub = br.group("sec"), br.group("sub") or br.group("sec")
                add(name, "secondary", int(sec, 16), n, "tree")
                add(name, "subordinate", int(sub, 16), n, "tree")
                src[("secondary", name)] = int(sec, 16)
                col = br.end()
            else:                                       # "-": secondary bus 0
                sec = None
                add(name, "secondary", 0, n, "tree")
                col += 1
            if s[col:col + 1] != "-":
                break
            col += 1
            nxt = s[col:col + 3]
            if nxt.startswith("[") or nxt in ("+-[", "\\-["):
                state = ("buses", dom, name)
            else:
                state = ("bus", dom, sec, name)
            continue
        m = NAME_ID_RE.search(s[col:].strip())
        if m is not None:
            vid, did = m.group("vid") or m.group("nvid"), m.group("did") or m.group("ndid")
            add(name, "id", f"{vid}:{did}".lower(), n, "tree")
        break
    return read_any or not continuation


def _scan_tree(lines, out, src):
    i = 0
    while i < len(lines):
        n, raw = i + 1, lines[i]
        line = raw.rstrip("\r\n").expandtabs(8)
        m = TREE_ROOT_RE.match(line) or TREE_CUT_ROOT_RE.match(line)
        if m is None:
            i += 1
            continue
        quote = m.group("quote")
        tree = _Tree()
        if not m.group("tree").startswith("-"):
            out.notes.append((n, "a tree whose first line is missing (cut off above): read from here"))
        text, joined = _joined(m.group("tree"), lines, i, quote)
        if _tree_line(tree, text, n, out, src, False):
            out.lines.add(n)
            out.lines.update(range(n + 1, n + 1 + joined))
            out.formats.add("tree")
        i += 1 + joined
        while i < len(lines):
            n = i + 1
            body = _unquote(lines[i].rstrip("\r\n").expandtabs(8), quote)
            if body is None or not body.strip():
                break
            text, joined = _joined(body, lines, i, quote)
            if not _tree_line(tree, text, n, out, src, True):
                if body.strip() in ("...", "|", "| ...") or body.strip().endswith("..."):
                    out.notes.append((n, "an elided part of the tree ('...'): its devices are not known"))
                    out.lines.add(n)
                    i += 1
                    continue
                break
            out.lines.add(n)
            out.lines.update(range(n + 1, n + 1 + joined))
            if joined:
                out.notes.append((n, f"joined with the next {joined} line(s) (a wrapped tree line)"))
            i += 1 + joined


def _unquote(line, quote):
    """The line without the tree's quote prefix ("> > " of a mail, a Markdown indent), or None
    when it does not carry it."""
    if not quote:
        return line
    if line.startswith(quote):
        return line[len(quote):]
    q = quote.rstrip()
    if q and line.startswith(q):                        # "> >" where the first line had "> > "
        return line[len(q):]
    return None


def _joined(text, lines, i, quote):
    """A tree line a mail wrapped: quoted-printable's soft break ("=" at the end), or a line that
    stops inside a bracket, continued by a line that is not a tree line. → (text, lines joined)."""
    joined = 0
    while i + joined + 1 < len(lines):
        cut_qp = text.endswith("=")
        opened = text.rfind("[")
        cut_bracket = text.count("[") > text.count("]") and not re.search(r"\.[0-7]  ", text[:opened])   # not a name's
        if not (cut_qp or cut_bracket):
            break
        nxt = lines[i + joined + 1].rstrip("\r\n")
        if not nxt or nxt[:1] in " |+\\>" or nxt.startswith(quote.rstrip() or "\0"):
            break
        text = (text[:-1] if cut_qp else text) + nxt
        joined += 1
    return text, joined


# --- lspci -v / -vv / -vvv -------------------------------------------------------------------------

class _Block:
    def __init__(self, name, n, header):
        self.name = name
        self.first = n
        self.header = header
        self.lines: list[tuple[int, str]] = []
        self.ended = False
        self.elided: list[int] = []       # "...." lines a person put in for what they left out


def _scan_verbose(lines, out, src):
    blocks = []
    cur = None
    for i, raw in enumerate(lines):
        n = i + 1
        line = raw.rstrip("\r\n")
        if not line.strip():
            if cur is not None:
                cur.ended = True
                cur = None
            continue
        m = HEADER_RE.match(line)
        if m and CLASS_RE.match(m.group("rest")):
            cur = _Block(_name(m.group("dom"), m.group("bus"), m.group("slot"), m.group("fn")), n, m.group("rest"))
            blocks.append(cur)
            continue
        if cur is not None and line[:1] in "\t " and line.strip():
            cur.lines.append((n, line.strip()))
            continue
        if cur is not None and re.fullmatch(r"\s*(?:\.{3,}|\[\.\.\.\]|\u2026)\s*", line):
            cur.elided.append(n)
            continue
        cur = None
    bridges: dict[str, list] = {}
    for b in blocks:
        body = [t for _n, t in b.lines]
        if not any(t.startswith(VERBOSE_ONLY) for t in body):
            continue                                       # lspci (-nn, -k) without -v: not ours
        out.formats.add("verbose")
        out.lines.add(b.first)
        out.lines.update(ln for ln, _t in b.lines)
        out.lines.update(b.elided)
        _block_facts(b, out, src, bridges)
    _place_verbose(blocks, out, src, bridges)


def _header_facts(b, add):
    rest = b.header
    m = NUMERIC_RE.match(rest)
    if m:                                                  # -n: "0300: 10de:1b80 (rev a1)"
        cc, vid, did = m.group("cc"), m.group("vid"), m.group("did")
    else:
        m = CLASS_RE.match(rest)
        cc = m.group("cc") if m else None
        if m and cc is None and m.group("cls") in CLASS_BY_NAME:      # without -nn: the class's name
            cc = f"{CLASS_BY_NAME[m.group('cls')]:04x}"
        ids = ID_RE.search(rest)
        vid, did = (ids.group("vid"), ids.group("did")) if ids else (None, None)
    if vid:
        add(b.name, "id", f"{vid}:{did}".lower(), b.first, "-vvv")
    rev = REV_RE.search(rest)
    if rev:
        add(b.name, "revision", int(rev.group("rev"), 16), b.first, "-vvv")
    if cc:                                                 # -v prints "(prog-if pp)" whenever it is not 0
        pi = PROGIF_RE.search(rest)
        add(b.name, "class", (int(cc, 16) << 8) | (int(pi.group("pi"), 16) if pi else 0), b.first, "-vvv")


def _block_facts(b, out, src, bridges):
    add = src["add"]
    _header_facts(b, add)
    body = [t for _n, t in b.lines]
    last = body[-1] if body else ""
    whole = not b.elided and any(t.startswith("Status:") for t in body) and (
        b.ended or last.startswith(("Kernel driver in use:", "Kernel modules:")))
    denied = False
    caps_readable = None          # None: not shown; True: a capability list read to its end
    express = None
    ext_seen = acs_seen = broken = no_list = False
    acs: dict[str, int] = {}
    for n, t in b.lines:
        if t.startswith("Status:"):
            if re.match(r"^Status: Cap-", t):
                no_list = True                            # no capability list at all: not PCIe
        m = BUS_RE.match(t)
        if m:
            sec, sub = int(m.group("s"), 16), int(m.group("u"), 16)
            add(b.name, "secondary", sec, n, "-vvv")
            add(b.name, "subordinate", sub, n, "-vvv")
            bridges.setdefault(b.name, []).append((sec, sub, n))
            continue
        if t.startswith("Capabilities: <access denied"):
            denied = True
            continue
        if t.startswith("<access denied to the rest>"):
            denied = True
            continue
        m = CAP_RE.match(t)
        if m:
            if caps_readable is None:
                caps_readable = True
            what = m.group("what")
            if what.startswith(("<chain broken>", "<chain looped>")):
                broken = True
            if int(m.group("off"), 16) >= 0x100:
                ext_seen = True
                if what.startswith("Access Control Services"):
                    acs_seen = True
            em = EXPRESS_RE.match(what)
            if em:
                express = em.group("type")
            continue
        m = ACS_LINE_RE.match(t)
        if m and acs_seen:
            bits = 0
            for bit, flag in enumerate(ACS_FLAGS):
                fm = re.search(rf"\b{flag}([+-])", m.group("flags"))
                if fm is None:
                    bits = -1
                    break
                bits |= (fm.group(1) == "+") << bit
            if bits >= 0:
                acs[m.group("reg")] = bits
            continue
        m = re.match(r"^Kernel driver in use:\s*(\S+)$", t)
        if m:
            add(b.name, "driver", m.group(1), n, "-vvv")
            continue
        m = re.match(r"^IOMMU group:\s*(\d+)$", t)
        if m:
            add(b.name, "iommu_group", int(m.group(1)), n, "-vvv")
    if denied:
        add(b.name, "config_denied", True, b.first, "-vvv")
        out.notes.append((b.first, f"{b.name}: \"Capabilities: <access denied>\": its capabilities (PCIe type, "
                                   "ACS) need lspci -vvv run as root"))
    if express is not None:
        kind = EXPRESS_TYPES.get(express)
        if kind:
            add(b.name, "pcie_type", kind, b.first, "-vvv")
        else:
            out.notes.append((b.first, f"{b.name}: PCI Express type {express!r} is not one the simulator knows"))
    elif no_list or (caps_readable and whole and not denied and not broken):
        add(b.name, "pcie_type", "conventional", b.first, "-vvv")
    if acs_seen:
        if "ACSCap" in acs and "ACSCtl" in acs:
            add(b.name, "acs", (acs["ACSCap"], acs["ACSCtl"]), b.first, "-vvv")
        else:
            out.notes.append((b.first, f"{b.name}: has Access Control Services, but its ACSCap/ACSCtl lines are "
                                       "not in the paste (lspci -vv or more shows them)"))
    elif ext_seen and whole and not denied and not broken:
        add(b.name, "acs", "none", b.first, "-vvv")


def _place_verbose(blocks, out, src, bridges):
    """Each device's parent: the bridge whose secondary bus is its bus (same domain)."""
    add = src["add"]
    shown = [b for b in blocks if b.first in out.lines]
    if not shown:
        return
    by_sec: dict[tuple[str, int], set] = {}
    ranges = []
    for name, said in bridges.items():
        for sec, sub, _n in said:
            if sec == 0:
                continue                               # not configured
            by_sec.setdefault((name[:-8], sec), set()).add(name)
            ranges.append((name[:-8], sec, sub))
    types = {name: keys.get("pcie_type", [])
             for name, keys in src["sources"].seen.items()}
    classes = {name: keys.get("class", []) for name, keys in src["sources"].seen.items()}
    root_buses = set()
    for b in shown:
        dom, bus = b.name[:-8], int(b.name[-7:-5], 16)
        kinds = {v for v, _l, _s in types.get(b.name, [])}
        cls = {v >> 8 for v, _l, _s in classes.get(b.name, [])}
        if bus == 0 or kinds & set(ROOT_BUS_TYPES) or 0x0600 in cls:
            root_buses.add((dom, bus))
    noted = set()
    for b in shown:
        dom, bus = b.name[:-8], int(b.name[-7:-5], 16)
        above = by_sec.get((dom, bus), set())
        if len(above) == 1:
            add(b.name, "parent", next(iter(above)), b.first, "-vvv")
            add(b.name, "placed", True, b.first, "-vvv")
        elif len(above) > 1:
            out.notes.append((b.first, f"{b.name}: bridges {', '.join(sorted(above))} all say bus {bus:02x} is "
                                       "theirs: not placed"))
        elif (dom, bus) in root_buses and not any(d == dom and s <= bus <= u for d, s, u in ranges):
            add(b.name, "parent", None, b.first, "-vvv")
            add(b.name, "placed", True, b.first, "-vvv")
        elif (dom, bus) not in noted and not any(src_ == "tree" for _v, _l, src_ in
                                                 src["sources"].seen.get(b.name, {}).get("placed", [])):
            noted.add((dom, bus))                      # (the tree, where pasted too, places it)
            out.notes.append((b.first, f"bus {dom}:{bus:02x}: no bridge in the lspci -vvv output leads to it "
                                       "(a bridge left out of the paste, or a root bus lspci -tv would show): "
                                       "its devices are not placed"))


def scan(text: str) -> LspciFacts:
    """`lspci -tv` and `lspci -vvv` output anywhere in `text` → LspciFacts."""
    out = LspciFacts()
    sources = _Sources()
    src: dict = {"sources": sources, "add": sources.add}
    lines = text.splitlines()
    _scan_tree(lines, out, src)
    _scan_verbose(lines, out, src)
    sources.settle(out)
    out.notes.sort(key=lambda x: x[0])
    return out
