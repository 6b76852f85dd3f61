"""Machines that can exist: the PCI scan rules a scenario's topology must obey
(drivers/pci/probe.c: only_one_child(), pci_scan_slot()/next_fn(), pci_scan_bridge_extend()).

Each rule looks at one device entry `d` (a normalised [[device]] dict) and its parent entry `p`
(None: no parent given) in a Machine, and returns what is wrong in a learner's words, or None.
The scenario loader, iommulab.Builder (which boots through the loader) and the host importer
(which validates what it synthesises) all use these; nothing else re-implements them.
"""
from .pcidev import DOWNSTREAM_PORT_KINDS, ENDPOINT_KINDS, KIND_WORDS, bdf_fields
from .schema import DEVICE_DEFAULTS as _DEV


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


def rule_same_domain_as_parent(m, d, p):
    """A bridge's secondary bus belongs to the bridge's own PCI domain (pci_add_new_bus() gives
    the child bus its parent's domain; only a host bridge, such as a VMD controller's, starts a
    new one, at a root bus with no parent here)."""
    if p is None or d["bus"] != "pci" or p["bus"] != "pci" or _bdf(d)[0] == _bdf(p)[0]:
        return None
    return (f"{d['name']} is in PCI domain {_bdf(d)[0]:04x} but its parent {p['name']} is in domain "
            f"{_bdf(p)[0]:04x}: the bus below a bridge is in the bridge's own domain (a new domain "
            "starts at a root bus: give it no parent)")


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


TOPOLOGY_RULES = (rule_same_bus_as_parent, rule_parent_is_a_bridge, rule_same_domain_as_parent,
                  rule_root_port_on_a_root_bus,
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
