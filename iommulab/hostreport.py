"""A passthrough report in words: for each GPU, NIC, NVMe drive and USB controller of a machine,
what passing it to a VM would take from the host, and why (`iommulab import-host`, `iommulab why
--host mine.toml`).

For each such device (by PCI class code: base class 0x03 display, 0x02 network, 0x0108 NVMe,
0x0c03 USB) it says one of three things:
- alone in its group (ports and bridges aside: a port bound to pcieport, or a bridge with no
  driver, is not a kernel DMA user of the group and stays with the host): ready;
- shares its group only with its own functions: ready, but all of them must leave the host's
  kernel DMA drivers (vfio-pci or no driver), although only the one device need go to the VM;
- shares its group with other devices: names what passthrough would take from the host, and why
  that usually happens. On a machine whose groups the simulator derived, the why is the kernel's
  own replay (kernel.explain.explain_group); on an imported machine the listing records only the
  membership, so the report says what usually causes it and what to check (`lspci -vvv`'s ACSCap
  and ACSCtl), never a cause the input does not show.

It reads only the kernel's public surface: k.state(), the sysfs class files, kernel.explain.
"""
from dataclasses import dataclass, field

from .kernel import explain
from .pciids import builtin, class_name

ACS_FLAGS = "SrcValid+ ReqRedir+ CmpltRedir+ UpstreamFwd+"      # PCI_ACS_SV|RR|CR|UF (pci_acs_enabled)


@dataclass
class DeviceReport:
    """One device's passthrough report: its name, what it is, how it shares its group, the sentences."""
    device: str
    kind: str                     # "GPU", "network controller", "NVMe controller", "USB controller"
    group: int | None
    sharing: str                  # "alone", "own-functions", "shared", "no-group"
    taken: list[str] = field(default_factory=list)      # other devices passthrough takes from the host
    sentences: list[str] = field(default_factory=list)

    def text(self):
        return " ".join(self.sentences)


def device_kind(code):
    """The report's word for a 24-bit PCI class code, or None when it is not a device the report is about."""
    if code is None:
        return None
    if code >> 16 == 0x03:
        return "GPU"
    if code >> 16 == 0x02:
        return "network controller"
    if code >> 8 == 0x0108:
        return "NVMe controller"
    if code >> 8 == 0x0c03:
        return "USB controller"
    return None


def _class(k, name):
    """The device's class code from sysfs (…/class), or None (not PCI, or not readable)."""
    try:
        return int(k.read(f"/sys/bus/pci/devices/{name}/class").strip(), 16)
    except (OSError, ValueError):
        return None


def _slot(name):
    return name.rsplit(".", 1)[0]


def _is_bridge(code):
    return code is not None and code >> 8 in (0x0600, 0x0604)          # host bridge, PCI bridge


def _words(name, facts, kind=None):
    """'0000:01:00.1 (Audio device, driver snd_hda_intel)'; where the machine shows no drivers at all
    (a listing without `lspci -k` lines), the driver is left out rather than called absent."""
    code, drv = facts["class"], facts["driver"]
    what = [class_name(code, builtin()) if code is not None else "not a PCI device"]
    if kind is not None and what[0].lower() == kind.lower():      # not "USB controller … (USB controller)"
        what = []
    if facts["drivers_shown"]:
        what.append(f"driver {drv}" if drv else "no driver")
    return f"{name} ({', '.join(what)})" if what else name


def _listing(items):
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _why_imported(names, facts, g):
    bridges = [n for n in names if _is_bridge(facts[n]["class"]) and facts[n]["class"] >> 8 == 0x0604]
    where = (f"the bridges of this group ({_listing(bridges)})" if bridges
             else "the root ports above these devices (`lspci -tv` shows which)")
    return [f"The listing records only which devices share group {g}, not why.",
            "Usually it is a root port or chipset without ACS (everything below such a port is one "
            "group), or a multifunction device without ACS (its functions share one group).",
            f"To see which, run `sudo lspci -vvv -s <address>` on {where} and read ACSCap (what the "
            f"port can do) and ACSCtl (what is enabled): Linux isolates below a port only when "
            f"ACSCtl shows {ACS_FLAGS}."]


def _why_derived(k, name):
    lines = explain.explain_group(k, name)
    return ["Why, as the kernel decided it: " + "; ".join(lines) + "."]


def _why_compared(cmp, name, others, facts, g):
    """An imported machine whose groups were re-derived (hostderive.Comparison): the rules' reason
    where they give the kernel's group, else what the disagreement says."""
    if name in cmp.agreed:
        return ["Why, re-derived by Linux's rules from this machine's topology and ACS registers (they "
                "give the same group as its kernel): " + "; ".join(explain.explain_group(cmp.kernel, name)) + "."]
    d = cmp.disagreement_of(name)
    if d is None:
        return _why_imported(others, facts, g)
    return ["Linux's rules, applied to this machine's topology and ACS registers, give another group "
            "here: " + d.text()]


def _override_caution(cmp, name):
    """A device alone (or with its own functions) only because the ACS override patch said so."""
    d = cmp.disagreement_of(name)
    if d is None or d.cause != "acs-override" or name not in cmp.kernel.devices:
        return []
    g = cmp.kernel.devices[name].iommu_group
    others = [x.name for x in g.devices if x.name != name and _slot(x.name) != _slot(name)] if g else []
    if not others:
        return []
    return [f"But its group is this small only because of the ACS override patch (pcie_acs_override= on the "
            f"kernel's command line): by Linux's own rules it would share a group with {_listing(others)}. "
            "The patch tells Linux to trust an isolation the hardware does not promise, so these devices may "
            "still reach each other without the IOMMU seeing it."]


def _one(k, name, kind, facts, members, cmp=None):
    f = facts[name]
    g = f["group"]
    me = _words(name, f, kind)
    if g is None:
        return DeviceReport(name, kind, None, "no-group", [], [
            f"The {kind} {me} has no IOMMU group: no IOMMU translates its DMA, so VFIO cannot give "
            "it to a VM."])
    others = [n for n in members[g] if n != name]
    functions = [n for n in others if _slot(n) == _slot(name)]
    stays = [n for n in others if n not in functions and _is_bridge(facts[n]["class"])
             and (facts[n]["driver"] is None or facts[n]["managed"])]
    taken = [n for n in others if n not in functions and n not in stays]
    s = []
    if taken:
        sharing = "shared"
        s.append(f"The {kind} {me} shares IOMMU group {g} with other devices: passing it through "
                 f"would take {_listing(_words(n, facts[n]) for n in taken)} from the host too, "
                 "since every device of the group must leave the host's kernel DMA drivers (to vfio-pci, "
                 "or no driver) while the VM has the group.")
    elif functions:
        sharing = "own-functions"
        s.append(f"The {kind} {me} shares IOMMU group {g} only with its own "
                 f"function{'s' if len(functions) > 1 else ''} "
                 f"{_listing(_words(n, facts[n]) for n in functions)}: ready for passthrough, once all "
                 f"functions have left the host's kernel DMA drivers (to vfio-pci, or no driver); only "
                 f"{name} needs to go to the VM.")
    else:
        sharing = "alone"
        s.append(f"The {kind} {me} is alone in IOMMU group {g}: ready for passthrough; only its own "
                 "driver has to let it go." if f["driver"] or not f["drivers_shown"] else
                 f"The {kind} {me} is alone in IOMMU group {g}: ready for passthrough.")
    if stays:
        s.append(f"The group also holds {_listing(_words(n, facts[n]) for n in stays)}, which may stay "
                 "with the host: a port bound to pcieport, or a bridge with no driver, is not a kernel "
                 "DMA user of the group.")
    if cmp is not None and cmp.possible and sharing != "shared":
        s.extend(_override_caution(cmp, name))
    if taken:
        rule = explain.group_rule(k, name)
        if rule != "scenario":
            s.extend(_why_derived(k, name))
        elif cmp is not None and cmp.possible:
            s.extend(_why_compared(cmp, name, others, facts, g))
        else:
            s.extend(_why_imported(others, facts, g))
    return DeviceReport(name, kind, g, sharing, taken, s)


def device_reports(k, comparison=None):
    """A DeviceReport for each GPU, NIC, NVMe and USB controller of kernel k, in address order;
    `comparison` (hostderive.derive of the listing k was imported from) lends its reasons."""
    st = k.state()
    facts = {n: {"group": d["group"], "driver": d["driver"], "managed": d["managed"], "class": _class(k, n)}
             for n, d in st["devices"].items()}
    shown = any(f["driver"] for f in facts.values())
    for f in facts.values():
        f["drivers_shown"] = shown
    members = {g: v["devices"] for g, v in st["groups"].items()}
    out = []
    for name in sorted(facts):
        kind = device_kind(facts[name]["class"])
        if kind is not None:
            out.append(_one(k, name, kind, facts, members, comparison))
    return out, facts


def report(k, comparison=None):
    """The passthrough report as a list of paragraphs, one per device (each a few sentences)."""
    reports, facts = device_reports(k, comparison)
    if reports:
        return [r.text() for r in reports]
    pci = [f["class"] for f in facts.values() if f["class"] is not None]
    if not pci:
        return ["This machine has no PCI devices: the report covers PCI GPUs, network controllers, "
                "NVMe controllers and USB controllers (by class code), and leaves other buses' "
                "devices out."]
    if all(c == 0 or _is_bridge(c) for c in pci):
        return ["The listing shows no device classes (only addresses), so this report cannot tell "
                "GPUs, network controllers, NVMe drives or USB controllers apart; a listing that "
                "includes `lspci -nn` lines (the classic loop) does."]
    return ["This machine has no GPU, network controller, NVMe controller or USB controller."]
