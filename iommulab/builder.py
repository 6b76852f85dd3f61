"""Build a machine part by part and let Linux's grouping rules decide (iommulab.Builder's model).

A MachineBuilder edits a scenario document (the TOML format of ../shared/spec/api.md): add parts
from a small catalogue below a port or bridge, toggle ACS, multifunction and stream IDs, remove
parts. Every edit boots the result with the kernel's own code; an edit that would not boot, or that
makes no sense (a device below an endpoint, a taken address, function 8), or a machine that cannot
exist (the scenario loader's topology rules: a second device on a port's link, a switch on a root
bus…), is refused and nothing changes; a toggle Linux never reads there raises NoEffect.
"""
import copy
import re
from pathlib import Path

from . import scenario_file as sf
from .kernel.kernel import Kernel
from .kernel.scenario import SCENARIO_DIR, ScenarioError
from .kernel.schema import DEVICE_DEFAULTS as _DEV
from .kernel.pcidev import BRIDGE_KINDS, CONVENTIONAL_KINDS, KIND_WORDS, PCI_BRIDGE_KINDS, bdf_fields
from .kernel.topology import is_multifunction, pci_acs_enabled

BRIDGES = BRIDGE_KINDS

# name: (what a learner sees, device templates (functions of one slot), drivers it needs)
CATALOGUE = {
    "root-port": ("PCIe root port", [{"kind": "root-port", "id": "8086:a110", "acs": True}], []),
    "switch": ("PCIe switch (upstream port and two downstream ports)", None, []),
    "pcie-to-pci-bridge": ("PCIe-to-PCI bridge", [{"kind": "pcie-to-pci-bridge", "id": "1b21:1080"}], []),
    "gpu": ("GPU with its HDMI audio function",
            [{"id": "10de:2204", "class": 0x030000, "multifunction": True, "acs": False,
              "device_name": "GA102 [GeForce RTX 3090]"},
             {"id": "10de:1aef", "class": 0x040300, "acs": False,
              "device_name": "GA102 High Definition Audio Controller"}],
            [{"name": "nouveau", "ids": ["10de:2204"]}, {"name": "snd_hda_intel", "ids": ["10de:1aef"]}]),
    "nic-sriov": ("NIC with SR-IOV (X710)",
                  [{"id": "8086:1572", "class": 0x020000, "sriov_totalvfs": 8, "vf_id": "8086:154c",
                    "device_name": "Ethernet Controller X710 for 10GbE SFP+"}],
                  [{"name": "i40e", "ids": ["8086:1572"], "sriov_configure": True},
                   {"name": "iavf", "ids": ["8086:154c"]}]),
    "nvme": ("NVMe SSD",
             [{"id": "144d:a808", "class": 0x010802, "device_name": "NVMe SSD Controller SM981/PM981/PM983"}],
             [{"name": "nvme", "ids": ["144d:a808"]}]),
    "usb": ("USB controller",
            [{"id": "1b21:1242", "class": 0x0c0330, "device_name": "ASM1142 USB 3.1 Host Controller"}],
            [{"name": "xhci_hcd", "ids": ["1b21:1242"]}]),
    "sata": ("SATA controller", [{"id": "8086:a102", "class": 0x010601, "device_name": "SATA Controller [AHCI mode]"}],
             [{"name": "ahci", "ids": ["8086:a102"]}]),
    "conventional": ("conventional PCI card (behind a PCI bridge)",
                     [{"kind": "conventional", "id": "14f1:8800", "class": 0x040000}],
                     [{"name": "cx88xx", "ids": ["14f1:8800"]}]),
    "eth-dma-pair": ("platform Ethernet and DMA engine (an AMBA primecell) sharing a stream ID", None,
                     [{"name": "stmmaceth", "bus": "platform", "ids": ["snps,dwmac-4.20a"]},
                      {"name": "dma-pl330", "bus": "amba", "ids": ["arm,pl330"]}]),
}


class BuildError(ValueError):
    """An edit that was refused; nothing changed."""


class NoEffect(BuildError):
    """A toggle Linux never reads in this place (ACS on a single-function endpoint, multifunction
    on function 1-7): refused with the reason, so that nothing changes silently."""


FIRST_STREAMID = 0x800


def parse_streamid(value):
    """A stream ID as the SMMU documentation writes it: hex, with or without 0x ("0x877", "877"),
    or an int."""
    if isinstance(value, bool):
        raise BuildError(f"{value!r} is not a stream ID")
    if isinstance(value, int):
        n = value
    else:
        text = str(value).strip().lower()
        text = text[2:] if text.startswith("0x") else text
        if not re.fullmatch(r"[0-9a-f]{1,8}", text):
            raise BuildError(f"{value!r} is not a stream ID in hex, such as 0x877 or 877")
        n = int(text, 16)
    if n < 0:
        raise BuildError("a stream ID is not negative")
    if n > 0xFFFFFFFF:
        raise BuildError(f"{n:#x} is wider than a 32-bit stream ID")
    return n


def _isolation(k):
    """What Linux's grouping reads of each PCI device: (pci_acs_enabled(), pdev->multifunction)."""
    return {d.name: (pci_acs_enabled(k, d), is_multifunction(k, d))
            for d in k.devices.values() if d.bus.name == "pci"}


def _groups(k):
    return sorted(sorted(d.name for d in g.devices) for g in k.iommu_groups.values())


def _bdf(name):
    """The fields of an address shaped like a kernel device name, in range or not."""
    return bdf_fields(name)


class MachineBuilder:
    """Edits a scenario document in place (a tomlkit document, see scenario_file.py): what an
    edit does not touch comes out of to_toml() byte for byte as it was read, comments and all."""

    def __init__(self, doc=None):
        if doc is None:
            doc = {"title": "A machine I built", "description": "Built with iommulab.Builder.",
                   "kernel": {"version": "6.6"}}
        self.doc = doc if sf.is_document(doc) else sf.document(doc)
        self.kernel = self._boot(self.doc)

    @classmethod
    def from_scenario(cls, name_or_path):
        path = Path(str(name_or_path))
        if not path.exists():
            path = SCENARIO_DIR / f"{name_or_path}.toml"
        try:
            doc = sf.parse(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BuildError(f"{name_or_path}: {e}") from None
        return cls(doc)

    # --- queries -------------------------------------------------------------------------------

    @property
    def devices(self):
        """The [[device]] entries, as plain dicts."""
        return [sf.plain(d) for d in sf.tables(self.doc, "device")]

    def find(self, name):
        for d in sf.tables(self.doc, "device"):
            if d["name"] == name:
                return sf.plain(d)
        raise BuildError(f"there is no part {name!r} in this machine")

    def setting(self, name, key):
        """A part's `key` as the kernel reads it: the file's value, or the schema's default."""
        return self.find(name).get(key, _DEV.get(key))

    def bridges(self):
        return [d["name"] for d in self.devices if d.get("kind") in BRIDGES]

    def explicit_groups(self):
        return any("group" in d for d in self.devices)

    def is_multifunction(self, name):
        """pdev->multifunction of a booted PCI device, as the grouping rules read it."""
        return is_multifunction(self.kernel, self.kernel.devices[name])

    # --- edits: each works on a copy, boots it, and only then replaces the machine --------------

    def _boot(self, doc):
        try:
            return Kernel.from_toml(sf.to_toml(doc), "built.toml")
        except ScenarioError as e:
            m = re.search(r"\((.+)\)$", e.entry)
            raise BuildError(f"{m.group(1)}: {e.problem}" if m else e.problem) from None

    def _commit(self, doc):
        sf.remove_section(doc, "expect")        # it described the machine before the edit
        k = self._boot(doc)
        self.doc, self.kernel = doc, k
        return k

    def add(self, part, parent=None, address=None, streamid=None):
        """Add a catalogue part below `parent` (a port or bridge; None: the root bus). Returns the
        new devices' names. A platform pair gets a stream ID no other device uses, unless
        `streamid` names one (hex text such as "0x877", or an int) — a shared one shares a group."""
        if part not in CATALOGUE:
            raise BuildError(f"unknown part {part!r}; the catalogue has: {', '.join(CATALOGUE)}")
        doc = copy.deepcopy(self.doc)
        if part == "eth-dma-pair":
            names = self._platform_pair(doc, self._free_streamid(doc) if streamid is None
                                        else parse_streamid(streamid))
        else:
            names = self._add_pci(doc, part, parent, address)
        for spec in CATALOGUE[part][2]:
            if not any(x["name"] == spec["name"] for x in sf.tables(doc, "driver")):
                sf.append_table(doc, "driver", dict(spec))
        self._commit(doc)
        return names

    def _add_pci(self, doc, part, parent, address):
        devices = sf.tables(doc, "device")
        if parent is not None:
            p = next((d for d in devices if d["name"] == parent), None)
            if p is None:
                raise BuildError(f"there is no part {parent!r} to put it below")
            if p.get("kind", _DEV["kind"]) not in BRIDGES:
                raise BuildError(f"cannot add below {parent}: it is an {p.get('kind', _DEV['kind'])}, "
                                 "not a port or bridge")
        if part == "conventional" and (parent is None or p.get("kind") not in PCI_BRIDGE_KINDS):
            raise BuildError("a conventional PCI card goes below a PCIe-to-PCI (or PCI-to-PCI) bridge")
        if part == "switch":
            return self._add_switch(doc, parent)
        templates = CATALOGUE[part][1]
        bus = self._bus_below(doc, parent)
        if address is not None:
            a = _bdf(address)
            if a is None:
                raise BuildError(f"{address!r} is not a PCI address like 0000:03:00.0 (lower-case hex, "
                                 "device 00-1f, function 0-7)")
            if a[2] > 0x1F or a[3] > 7:
                raise BuildError(f"{address}: device numbers go to 1f and functions to 7")
            if a[1] != bus:
                raise BuildError(f"{address} is not on bus {bus:02x}, the bus below "
                                 f"{parent or 'the root'}")
            slot = a[2]
            taken = {(_bdf(d['name'])[1], _bdf(d['name'])[2], _bdf(d['name'])[3]) for d in devices if _bdf(d['name'])}
            for fn in range(len(templates)):
                if (bus, slot, a[3] + fn) in taken:
                    raise BuildError(f"0000:{bus:02x}:{slot:02x}.{a[3] + fn} is taken")
            first_fn = a[3]
            if first_fn + len(templates) > 8:
                raise BuildError(f"{part} needs {len(templates)} functions: not from function {first_fn}")
        else:
            slot, first_fn = self._free_slot(doc, bus), 0
        names = []
        for fn, tmpl in enumerate(templates):
            spec = {"name": f"0000:{bus:02x}:{slot:02x}.{first_fn + fn}", **copy.deepcopy(tmpl)}
            if parent is not None:
                spec["parent"] = parent
            sf.append_table(doc, "device", spec)
            names.append(spec["name"])
        return names

    def _add_switch(self, doc, parent):
        bus = self._bus_below(doc, parent)
        up = {"name": f"0000:{bus:02x}:{self._free_slot(doc, bus):02x}.0", "kind": "upstream-port", "id": "10b5:8747"}
        if parent is not None:
            up["parent"] = parent
        sf.append_table(doc, "device", up)
        inner = self._new_bus(doc, above=bus)
        downs = [{"name": f"0000:{inner:02x}:{slot:02x}.0", "kind": "downstream-port", "id": "10b5:8747",
                  "parent": up["name"], "acs": True} for slot in (8, 9)]
        for down in downs:
            sf.append_table(doc, "device", down)
        return [up["name"]] + [d["name"] for d in downs]

    def _bus_below(self, doc, parent):
        if parent is None:
            return 0
        kids = [d for d in sf.tables(doc, "device") if d.get("parent") == parent]
        if kids:
            return _bdf(kids[0]["name"])[1]
        p = next((d for d in sf.tables(doc, "device") if d["name"] == parent), None)
        return self._new_bus(doc, above=_bdf(p["name"])[1] if p and _bdf(p["name"]) else 0)

    def _new_bus(self, doc, above=0):
        """The lowest free bus number above the bridge's own bus (a secondary bus is numbered
        above its primary)."""
        devices = sf.tables(doc, "device")
        used = {_bdf(d["name"])[1] for d in devices if _bdf(d["name"])}
        used |= {b for d in devices if d.get("kind") in BRIDGES for b in self._children_buses(doc, d)}
        n = above + 1
        while n in used:
            n += 1
        if n > 0xFF:
            raise BuildError("no free bus numbers left")
        return n

    def _children_buses(self, doc, bridge):
        return {_bdf(d["name"])[1] for d in sf.tables(doc, "device")
                if d.get("parent") == bridge["name"] and _bdf(d["name"])}

    def _free_slot(self, doc, bus):
        used = {_bdf(d["name"])[2] for d in sf.tables(doc, "device") if _bdf(d["name"]) and _bdf(d["name"])[1] == bus}
        for slot in range(0 if bus else 1, 0x20):
            if slot not in used:
                return slot
        raise BuildError(f"bus {bus:02x} is full (32 devices)")

    def _free_streamid(self, doc):
        used = {d["streamid"] for d in sf.tables(doc, "device") if "streamid" in d}
        n = FIRST_STREAMID
        while n in used:
            n += 1
        return n

    def _platform_pair(self, doc, streamid):
        names = {d["name"] for d in sf.tables(doc, "device")}
        base = 0xFF0C0000
        while f"ethernet@{base:x}" in names or f"dma@{base + 0x10000:x}" in names:
            base += 0x40000
        eth = {"name": f"ethernet@{base:x}", "bus": "platform", "id": "snps,dwmac-4.20a", "streamid": streamid}
        dma = {"name": f"dma@{base + 0x10000:x}", "bus": "amba", "id": "arm,pl330", "streamid": streamid}
        sf.append_table(doc, "device", eth)
        sf.append_table(doc, "device", dma)
        return [eth["name"], dma["name"]]

    def set(self, name, acs=None, multifunction=None, streamid=None):
        """Toggle a part's ACS, multifunction bit, or stream ID (platform devices; hex text such as
        "0x877" or an int). Returns notes for the learner (an edit that changes no group yet says
        so); raises NoEffect, changing nothing, for a toggle Linux never reads there."""
        doc = copy.deepcopy(self.doc)
        d = next((x for x in sf.tables(doc, "device") if x["name"] == name), None)
        if d is None:
            raise BuildError(f"there is no part {name!r} in this machine")
        if acs is not None:
            if d.get("bus", _DEV["bus"]) != "pci":
                raise BuildError(f"{name} is not a PCI device: ACS is a PCIe capability")
            sf.set_key(d, "acs", bool(acs))
        if multifunction is not None:
            if d.get("bus", _DEV["bus"]) != "pci":
                raise BuildError(f"{name} is not a PCI device")
            sf.set_key(d, "multifunction", bool(multifunction))
        if streamid is not None:
            if d.get("bus") not in ("platform", "amba"):
                raise BuildError(f"{name} is not a platform device: stream IDs are for the SMMU's platform devices")
            sf.set_key(d, "streamid", parse_streamid(streamid))
        sf.remove_section(doc, "expect")
        k = self._boot(doc)
        if acs is not None or multifunction is not None:
            self._check_effect(name, acs, multifunction, k)
        notes = self._notes(name, k)
        self.doc, self.kernel = doc, k
        return notes

    def _check_effect(self, name, acs, multifunction, k):
        """pci_acs_enabled() and pdev->multifunction are all that grouping reads of these bits:
        if neither changes for any device, the toggle changes nothing Linux sees."""
        if _isolation(k) != _isolation(self.kernel):
            return
        old, dev = self.find(name), k.devices[name]
        what = "ACS" if acs is not None else "multifunction"
        value = acs if acs is not None else multifunction
        current = (old.get("acs", _DEV["acs"]) if acs is not None
                   else bool(old.get("multifunction", _DEV["multifunction"])))
        if acs is not None and dev.kind in CONVENTIONAL_KINDS + ("pcie-to-pci-bridge",):
            why = (f"Linux never counts a {KIND_WORDS[dev.kind]} as isolated: pci_acs_enabled() is false for "
                   "conventional PCI and PCIe-to-PCI bridges whatever their ACS says")
        elif multifunction is not None and dev.bdf[3] != 0:
            why = (f"function {dev.bdf[3]} is multifunction because Linux found it beside function 0 "
                   "(pci_scan_slot() marks functions 1-7 so), whatever its header bit says")
        elif bool(value) == bool(current):
            why = f"{what} is already {'on' if value else 'off'}"
        elif acs is not None:
            why = (f"Linux reads ACS only on root ports, downstream ports and multifunction devices "
                   f"(pci_acs_enabled()); a single-function {KIND_WORDS.get(dev.kind, dev.kind)} "
                   "is isolated with or without it")
        else:
            why = "no grouping rule reads it here"
        raise NoEffect(f"{what} {'on' if value else 'off'} on {name} changes nothing: {why}")

    def _notes(self, name, k):
        if _groups(k) != _groups(self.kernel):
            return []
        return [f"no group changed: Linux reads this on {name}, but no device's group depends on it yet"]

    def remove(self, name):
        """Remove a part and everything below it (function 0 takes the slot's other functions)."""
        doc = copy.deepcopy(self.doc)
        devices = sf.tables(doc, "device")
        if not any(d["name"] == name for d in devices):
            raise BuildError(f"there is no part {name!r} in this machine")
        gone, changed = {name}, True
        if name.endswith(".0") and _bdf(name):        # without function 0 Linux finds no function of the slot
            gone |= {d["name"] for d in devices if d["name"][:-1] == name[:-1]
                     and d.get("parent") == self.find(name).get("parent")}
        while changed:
            changed = False
            for d in devices:
                if d.get("parent") in gone and d["name"] not in gone:
                    gone.add(d["name"])
                    changed = True
        sf.remove_tables(doc, "device", lambda d: d["name"] in gone)
        self._commit(doc)
        return sorted(gone)

    def derive_groups(self):
        """Forget explicit `group = N` keys: let the topology decide."""
        doc = copy.deepcopy(self.doc)
        for d in sf.tables(doc, "device"):
            if "group" in d:
                del d["group"]
        self._commit(doc)

    def to_toml(self):
        return sf.to_toml(self.doc)

    def export(self, path):
        """Write the scenario file; a path it cannot write is a BuildError saying why, in words."""
        if not str(path).strip():
            raise BuildError("give the file a name (for example my-machine.toml)")
        try:
            Path(path).write_text(self.to_toml(), encoding="utf-8")
        except OSError as e:
            hint = " (make the directory first)" if isinstance(e, FileNotFoundError) else ""
            raise BuildError(f"cannot save to {path}: {e.strerror or e}{hint}") from None
        return str(path)
