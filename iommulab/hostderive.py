"""Re-derive an imported machine's IOMMU groups by Linux's rules and compare them with the groups
its kernel made (`iommulab import-host --live`, or a paste with `lspci -tv` / `lspci -vvv`).

The reader (hostsysfs for the live /sys, hostlspci for a paste) leaves topology facts on each PCI
device of the Listing: where it sits (`placed`, `parent`), its PCI Express type, its ACS Capability
and Control registers (`acs`), its multifunction bit. derive() turns them into a scenario without
explicit groups, lets the simulator group it with the code that groups every scenario
(kernel/topology.py, pci_device_group()), and compares the two partitions group by group.

How a fact becomes the scenario's `acs` (the kernel's pci_acs_enabled(dev, REQ_ACS_FLAGS), with
REQ_ACS_FLAGS = SV|RR|CR|UF from drivers/iommu/iommu.c): pci_acs_flags_enabled() in
drivers/pci/pci.c asks only for the flags the capability implements (egress control aside), so the
test is (ctrl & flags) == flags with flags = REQ & (cap | EC). No ACS capability: not enabled.
Unknown (config space beyond 64 bytes needs root): assumed enabled, and every disagreement that
such an assumption could explain says so.

A disagreement is explained by what can cause it, in order of what the facts show:
- the out-of-tree ACS override patch (`pcie_acs_override=` on the command line: it answers
  "enabled" for root and downstream ports without an ACS capability with `downstream`, for
  multifunction endpoints and upstream ports without one with `multifunction`, and for listed IDs
  with `id:vvvv:dddd`): derived again with the override, the groups agree;
- an ACS fact the reader could not see: derived again with "no ACS" for those, they agree;
- otherwise, where Linux splits what the simulator joins, a device-specific ACS quirk
  (drivers/pci/quirks.c pci_dev_acs_enabled[], e.g. Intel PCH root ports), and where Linux joins
  what the simulator splits, a DMA alias quirk or a bridge the listing does not show.
"""
from dataclasses import dataclass, field

from .kernel.explain import why
from .kernel.kernel import Kernel
from .kernel.pci_probe import topology_problems
from .kernel.scenario import ScenarioError, validate
from .kernel.schema import DEVICE_DEFAULTS
from .kernel.topology import is_multifunction

PCI_ACS_SV, PCI_ACS_RR, PCI_ACS_CR, PCI_ACS_UF, PCI_ACS_EC = 0x01, 0x04, 0x08, 0x10, 0x20
REQ_ACS_FLAGS = PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF

# PCI Express Device/Port Type -> the scenario's kind (endpoint-like types all act as endpoints for
# grouping; a PCI/PCI-X-to-PCIe bridge is, like a conventional bridge, never ACS-capable)
KIND_OF_TYPE = {"endpoint": "endpoint", "legacy-endpoint": "endpoint", "rc-endpoint": "endpoint",
                "rc-event-collector": "endpoint", "root-port": "root-port",
                "downstream-port": "downstream-port", "upstream-port": "upstream-port",
                "pcie-to-pci-bridge": "pcie-to-pci-bridge", "pci-to-pcie-bridge": "pci-bridge"}
DOWNSTREAM = ("root-port", "downstream-port")
OVERRIDE_MF_TYPES = ("endpoint", "upstream-port", "legacy-endpoint", "rc-endpoint")


def acs_flags_enabled(cap, ctrl):
    """pci_acs_flags_enabled(dev, REQ_ACS_FLAGS) on the two registers."""
    flags = REQ_ACS_FLAGS & (cap | PCI_ACS_EC)
    return (ctrl & flags) == flags


def acs_override(cmdline):
    """The `pcie_acs_override=` of a command line as (downstream, multifunction, {ids}), or None."""
    for word in (cmdline or "").split():
        key, _, value = word.partition("=")
        if key != "pcie_acs_override":
            continue
        downstream = multifunction = False
        ids = set()
        for part in value.split(","):
            if part == "downstream":
                downstream = True
            elif part == "multifunction":
                multifunction = True
            elif part.startswith("id:"):
                ids.add(part[3:].lower())
        return downstream, multifunction, ids
    return None


def _override_says(d, kind, override):
    """pcie_acs_overrides(): only a PCIe device without an ACS capability."""
    if override is None or d.get("acs") != "none" or d.get("pcie_type") in (None, "conventional"):
        return False
    downstream, multifunction, ids = override
    if d.get("id", "").lower() in ids:
        return True
    if kind in DOWNSTREAM:
        return downstream
    return multifunction and d.get("pcie_type") in OVERRIDE_MF_TYPES and bool(d.get("multifunction"))


def acs_of(d, kind, override=None, unknown=True):
    """The scenario's `acs` for one device's facts (see the module docstring)."""
    if d.get("pcie_type") == "rc-event-collector":      # pci_acs_enabled(): never (kernel-ownership.md §8.1)
        return False
    if _override_says(d, kind, override):
        return True
    acs = d.get("acs")
    if acs is None:
        return unknown
    if acs == "none":
        return False
    return acs_flags_enabled(*acs)


def _is_bridge(d, has_children):
    return d.get("class", 0) >> 8 == 0x0604 or has_children


def kind_of(d, has_children):
    """The scenario kind, and whether it was assumed (no PCI Express type was readable)."""
    t = d.get("pcie_type")
    if t == "conventional":
        return ("pci-bridge" if _is_bridge(d, has_children) else "conventional"), False
    if t in KIND_OF_TYPE:
        return KIND_OF_TYPE[t], False
    return None, True


@dataclass
class Disagreement:
    """One place where the two partitions differ: the kernel's groups and the simulator's, over the
    same devices, and the likely cause (a tag) with the sentences that say it."""
    kernel: list            # [(group number, [device names])]
    derived: list           # [[device names]]
    cause: str              # "acs-override", "acs-unknown", "acs-quirk", "alias-quirk", "unplaced"
    sentences: list = field(default_factory=list)

    def text(self):
        return " ".join(self.sentences)


@dataclass
class Comparison:
    """The re-derivation's result. `possible` is False when the listing does not say where its PCI
    devices sit (then `missing` says what to add); `notes` are the assumptions made."""
    possible: bool
    groups: int = 0                       # the kernel's groups compared (PCI devices only)
    agreeing: int = 0
    disagreements: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    missing: str = ""
    override: tuple | None = None
    kernel: Kernel | None = None          # the simulator's machine, grouped by the rules
    agreed: set = field(default_factory=set)     # devices whose group is the same in both

    def disagreement_of(self, name):
        return next((d for d in self.disagreements if any(name in m for _, m in d.kernel)), None)

    @property
    def agree(self):
        return self.possible and not self.disagreements

    def summary(self):
        if not self.possible:
            return f"Groups not re-derived: {self.missing}"
        if self.agree:
            return (f"Re-derived by Linux's rules, all {self.groups} group{'s' if self.groups != 1 else ''} "
                    "agree with the kernel's.")
        n = len(self.disagreements)
        return (f"Re-derived by Linux's rules, {self.agreeing} of {self.groups} groups agree with the "
                f"kernel's; {n} place{'s differ' if n != 1 else ' differs'}:")

    def lines(self):
        """The summary, then one paragraph per disagreement, then the notes."""
        out = [self.summary()]
        out += [d.text() for d in self.disagreements]
        out += self.notes
        return out


# --- building the scenario --------------------------------------------------------------------

def _pci(lst):
    return [n for n in lst.order if lst.devices[n]["bus"] == "pci"]


def _specs(lst, names, override=None, unknown_acs=True, only=None):
    """Scenario devices without groups, from the facts; (specs, assumed kinds)."""
    parents = {lst.devices[n].get("parent") for n in names}
    specs, assumed = [], []
    for n in names:
        d = lst.devices[n]
        kind, guessed = kind_of(d, n in parents)
        if guessed:                 # no readable PCI Express type: bridges are guessed below, top-down
            assumed.append(n)
            kind = "endpoint"
        spec = {"name": n, "bus": "pci", "kind": kind}
        if d.get("parent") in names:
            spec["parent"] = d["parent"]
        if d.get("id"):
            spec["id"] = d["id"]
        if d.get("class") is not None:
            spec["class"] = d["class"]
        if d.get("multifunction"):
            spec["multifunction"] = True
        specs.append(spec)
    guessed = {n for n in assumed if _is_bridge(lst.devices[n], n in parents)}
    guess_bridge_kinds(specs, lst.devices, lambda s: s["name"] in guessed)
    for spec in specs:
        n = spec["name"]
        spec["acs"] = acs_of(lst.devices[n], spec["kind"], override,
                             unknown_acs if only is None or n in only else True)
    return specs, assumed


def port_kind(name, d, parent_kind):
    """A bridge whose PCI Express type is unknown: a port when pcieport is bound to it, a bridge no
    driver takes otherwise. Port types alternate as on any real link: below a root or downstream port
    sits an upstream port, below an upstream port the downstream ports; a port whose place is known
    (sysfs links, lspci's tree) with no bridge above is a root port; else bus 00 stands for the root bus."""
    if d.get("driver") != "pcieport":
        return "pci-bridge"
    if parent_kind in DOWNSTREAM:
        return "upstream-port"
    if parent_kind == "upstream-port":
        return "downstream-port"
    if (d.get("linked") or d.get("placed")) and parent_kind is None:
        return "root-port"
    return "root-port" if name.split(":")[1] == "00" else "downstream-port"


def _depth(spec, by):
    n, seen = 0, set()
    while spec.get("parent") in by and spec["name"] not in seen:
        seen.add(spec["name"])
        spec, n = by[spec["parent"]], n + 1
    return n


def guess_bridge_kinds(specs, facts, which):
    """port_kind() for the specs `which` selects, top-down, so that each port knows its parent's kind."""
    by = {s["name"]: s for s in specs}
    for s in sorted(specs, key=lambda s: _depth(s, by)):
        if which(s):
            parent = by.get(s.get("parent"))
            s["kind"] = port_kind(s["name"], facts[s["name"]], parent.get("kind") if parent else None)


def settle(devices):
    """Make a synthesised topology obey the scenario loader's rules (kernel/pci_probe.py
    TOPOLOGY_RULES): where a placement breaks one (a virtual function or an ARI function at a device
    number other than 0 below a port, a link the listing got wrong), leave that parent out, else the
    kind, rather than write a machine that cannot exist. Returns the devices whose parent went;
    ValueError when no key is left to drop (a slot without its function 0, in a derivation)."""
    dropped = []
    for _ in range(2 * len(devices) + 1):
        problems = topology_problems([dict(x, kind=x.get("kind", DEVICE_DEFAULTS["kind"])) for x in devices])
        if not problems:
            return dropped
        for i, name, _problem in problems:
            if devices[i].pop("parent", None) is not None:
                dropped.append(name)
            elif devices[i].pop("kind", None) is None:
                raise ValueError(f"{name}: {_problem}")
    raise ValueError("the topology does not settle")


def _boot(specs):
    doc = {"title": "re-derived", "kernel": {}, "driver": [], "device": specs}
    return Kernel(validate(doc, "<re-derived>"))


def _partition(k, names):
    """{device name: frozenset of its group's members among `names`}."""
    out = {}
    for n in names:
        g = k.devices[n].iommu_group
        members = [d.name for d in g.devices] if g is not None else [n]
        out[n] = frozenset(m for m in members if m in names)
    return out


def _derive(lst, names, override=None, unknown_acs=True, only=None):
    specs, assumed = _specs(lst, names, override, unknown_acs, only)
    dropped = settle(specs)
    k = _boot(specs)
    return k, _partition(k, names), assumed, dropped


# --- comparing ---------------------------------------------------------------------------------

def _components(kernel_part, derived_part, names):
    """Sets of devices closed under both "same kernel group" and "same derived group"."""
    seen, out = set(), []
    for n in names:
        if n in seen:
            continue
        todo, comp = [n], set()
        while todo:
            x = todo.pop()
            if x in comp:
                continue
            comp.add(x)
            todo.extend(kernel_part[x] | derived_part[x])
        seen |= comp
        out.append(comp)
    return out


def _short(name):
    return name[5:] if name.startswith("0000:") else name


def _list(names):
    names = [_short(n) for n in sorted(names)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _same(part_a, part_b, comp):
    return all(part_a[n] == part_b[n] for n in comp)


def derive(lst):
    """Compare the listing's groups with the simulator's own, derived from the listing's facts."""
    names = _pci(lst)
    if not names:
        return Comparison(False, missing="the listing has no PCI devices.")
    unplaced = [n for n in names if not lst.devices[n].get("placed")]
    if unplaced:
        which = ("its PCI devices" if len(unplaced) == len(names) else _list(unplaced) if len(unplaced) <= 3
                 else f"{', '.join(_short(n) for n in unplaced[:3])} and {len(unplaced) - 3} more")
        return Comparison(False, missing=(
            f"the listing does not show where {which} sit (the bridge above each). Paste `lspci -tv` (and, "
            "as root, `lspci -vvv`) in the same file, or run `iommulab import-host --live` on the machine."))
    names_set = set(names)
    kernel_part = {}
    by_group = {}
    for n in names:
        by_group.setdefault(lst.devices[n]["group"], set()).add(n)
    for members in by_group.values():
        for n in members:
            kernel_part[n] = frozenset(members)
    try:
        k, derived, assumed, dropped = _derive(lst, names_set)
    except (ScenarioError, ValueError) as e:
        return Comparison(False, missing=f"the simulator cannot build this topology ({e}).")
    override = acs_override(lst.cmdline)
    cmp = Comparison(True, groups=len(by_group), override=override, kernel=k)
    variants = {}
    if override is not None:
        variants["acs-override"] = _derive(lst, names_set, override=override)[1]
    unknown = [n for n in names if lst.devices[n].get("acs") is None and _acs_matters(k.devices[n])]
    for comp in _components(kernel_part, derived, names):
        if _same(kernel_part, derived, comp):
            continue
        if comp & set(unknown):             # those of this place's unread registers assumed not to isolate
            variants["acs-unknown"] = _derive(lst, names_set, unknown_acs=False, only=comp)[1]
        dis = _explain(lst, k, comp, kernel_part, derived, variants, dropped)
        if any(d.cause == dis.cause for d in cmp.disagreements) and dis.cause in _AGAIN:
            dis.sentences[-1] = _AGAIN[dis.cause]          # said in full at its first place
        cmp.disagreements.append(dis)
        variants.pop("acs-unknown", None)
    cmp.agreed = {n for n in names if kernel_part[n] == derived[n]}
    cmp.agreeing = sum(1 for members in by_group.values() if members <= cmp.agreed)
    cmp.notes += _notes(lst, names, assumed, dropped, unknown, override, cmp)
    return cmp


def _acs_matters(dev):
    """pci_acs_enabled() reads the registers of root and downstream ports and of the functions of a
    multifunction device; for anything else the answer does not depend on them."""
    return dev.kind in DOWNSTREAM or (dev.kind not in ("conventional", "pci-bridge")
                                      and is_multifunction(dev.k, dev))


def _explain(lst, k, comp, kernel_part, derived, variants, dropped):
    kgroups = sorted({(lst.devices[n]["group"], kernel_part[n]) for n in comp}, key=lambda x: x[0])
    dgroups = sorted({derived[n] for n in comp}, key=lambda s: sorted(s))
    kernel = [(g, sorted(m)) for g, m in kgroups]
    dis = Disagreement(kernel, [sorted(m) for m in dgroups], "")
    dis.sentences.append(f"The kernel has {_groups_words(kernel)}; by Linux's rules the simulator "
                         f"makes {_groups_words([(None, sorted(m)) for m in dgroups])}.")
    finer = len(kgroups) > len(dgroups)            # Linux splits what the simulator joins
    reasons = _simulator_reasons(k, comp, derived)
    if finer and reasons:
        dis.sentences.append("The simulator's reasons (in its own group numbers): " + "; ".join(reasons) + ".")
    for tag, part in variants.items():
        if _same(kernel_part, part, comp):
            dis.cause = tag
            break
    if not dis.cause and comp & set(dropped):
        dis.cause = "unplaced"
    if not dis.cause:
        dis.cause = "acs-quirk" if finer else "alias-quirk"
    dis.sentences.append(_CAUSES[dis.cause](lst, comp, k))
    return dis


def _groups_words(groups):
    """"groups 2 (00:1c.0) and 3 (00:1c.4)", "one group (…)", "two groups: (…) and (…)"."""
    numbered = groups[0][0] is not None
    parts = [f"{g} ({_list(m)})" if numbered else f"({_list(m)})" for g, m in groups]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    if numbered:
        return f"group{'s' if len(parts) > 1 else ''} {joined}"
    if len(parts) == 1:
        return f"one group {joined}"
    return f"{len(parts)} groups: {joined}"


def _simulator_reasons(k, comp, derived):
    """why() of each device that joined another's group in the simulator's derivation."""
    out = []
    for n in sorted(comp):
        if len(derived[n]) > 1:
            sentence = why(k, k.devices[n])
            if " starts group " not in sentence and sentence not in out:
                out.append(sentence)
    return out[:3]


def _override_words(lst, comp, k):
    return ("The running kernel carries the out-of-tree ACS override patch: `"
            + next(w for w in (lst.cmdline or "").split() if w.startswith("pcie_acs_override="))
            + "` on its command line tells Linux that ports and multifunction devices without an ACS "
            "capability isolate their devices, which the hardware does not promise. Derived again with "
            "that override, the groups agree; a mainline kernel would make the simulator's groups, and "
            "the finer groups it gives are a promise no hardware check stands behind (devices in them "
            "may still reach each other without the IOMMU).")


def _unknown_words(lst, comp, k):
    who = [n for n in sorted(comp) if lst.devices[n].get("acs") is None and _acs_matters(k.devices[n])]
    return (f"The ACS registers of {_list(who) if who else 'these devices'} were not read (config space "
            "beyond its first 64 bytes needs root), so the simulator assumed they isolate; assumed not to, "
            "the groups agree: Linux read them and found no usable ACS. Run the import (or `lspci -vvv`) as "
            "root to know for sure.")


def _quirk_words(lst, comp, k):
    ports = [n for n in sorted(comp) if lst.devices[n].get("acs") == "none"]
    intel = [n for n in ports if lst.devices[n].get("id", "").startswith("8086:")]
    text = ("Linux keeps them apart, so it knows something the listing's registers do not show: most "
            "likely a device-specific ACS quirk (drivers/pci/quirks.c, the pci_dev_acs_enabled table), "
            "which says a device isolates although it has no usable ACS capability")
    if intel:
        text += (f"; {_list(intel)} {'is an Intel device' if len(intel) == 1 else 'are Intel devices'}, "
                 "and Intel PCH root ports are on that table (pci_quirk_intel_pch_acs)")
    return text + ". The simulator does not model these quirks."


def _alias_words(lst, comp, k):
    return ("Linux joins devices the simulator keeps apart: most likely a DMA alias quirk "
            "(drivers/pci/quirks.c: a function that issues DMA with another function's requester ID, or a "
            "bridge that takes ownership of its devices' DMA), or a bridge the listing does not show. The "
            "simulator does not model these quirks.")


def _unplaced_words(lst, comp, k):
    return ("The simulator could not place some of these devices where Linux has them (its topology rules "
            "know no virtual functions or ARI numbers below a port), so its groups here are not a fair test.")


_AGAIN = {"acs-override": "Again the ACS override patch: derived with it, the groups agree.",
          "acs-quirk": "Again most likely an ACS quirk the simulator does not model (see above)."}

_CAUSES = {"acs-override": _override_words, "acs-unknown": _unknown_words, "acs-quirk": _quirk_words,
           "alias-quirk": _alias_words, "unplaced": _unplaced_words}


def _notes(lst, names, assumed, dropped, unknown, override, cmp):
    notes = []
    others = [n for n in lst.order if lst.devices[n]["bus"] != "pci"]
    if others:
        notes.append(f"Not compared: {len(others)} non-PCI device{'s' if len(others) != 1 else ''} "
                     "(their groups come from firmware stream IDs the listing does not show).")
    if assumed:
        notes.append(f"No PCI Express type was readable for {len(assumed)} device"
                     f"{'s' if len(assumed) != 1 else ''}: assumed from the class and the driver.")
    if unknown:
        notes.append(f"ACS not known for {_list(unknown) if len(unknown) <= 3 else f'{len(unknown)} devices'} "
                     "(ports and multifunction devices, whose ACS registers decide; their extended capabilities "
                     "were not read): assumed to isolate.")
    if dropped:
        notes.append(f"Placed on the root bus against the listing: {_list(dropped[:5])}.")
    if override is not None and not any(d.cause == "acs-override" for d in cmp.disagreements):
        notes.append("The command line has pcie_acs_override=, but no group here depends on it.")
    return notes
