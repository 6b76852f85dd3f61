"""Fake /sys trees for tests: a machine described in a few lines becomes the files Linux shows.

`build(tmp_path, machine)` writes TMP/sys (returned) and TMP/proc/cmdline. A machine is a list of
device dicts in the order Linux adds the devices (each bus's devices, then the buses below its
bridges in turn, as pci_scan_child_bus() finds them); a `Machine` also carries its kernel command
line and the default-domain type its groups' `type` files read. A device's keys (only `name` is
required):

  name           "00:1c.0" or "0000:00:1c.0"
  parent         the bridge above it; None: it sits on a root bus (SYS/devices/pciDDDD:BB)
  under          for a root-bus device of a host bridge that is itself a PCI device (Intel VMD):
                 that device's name; its root bus directory sits inside that device's directory
  id, class, revision, driver       as the sysfs attribute files and the driver link show them
  group          its IOMMU group number (None: in no group); group_type: its group's type file
  pcie_type      a PCI Express Device/Port Type ("endpoint", "root-port", ...) or "conventional"
                 (no PCI Express capability); default "endpoint"
  multifunction  the header's bit 7 (default: the slot has more than one function)
  acs            (cap, ctrl): an AER and then an ACS extended capability with these registers;
                 "none": the AER capability only; None: no extended capabilities at all.
                 Default "none" for PCI Express devices, None for conventional ones.
  config_bytes   how much of config space a reader gets: 64 (unprivileged), 256 or 4096 (root);
                 default the device's config space size (4096 PCI Express, 256 conventional)
  secondary, subordinate            a bridge's bus numbers; default from the devices below it
  test hooks     cap_cycle / ext_cycle: the last (extended) capability points back at the first;
                 loop: True (its SYS/bus/pci/devices link is a symlink loop) or a list of attribute
                 files made symlink loops; outside: True (that link leads out of the tree) or a
                 list of attribute files that are links to files outside it; config: raw bytes.

Config space is laid out as on real parts: the standard header, a capability list that starts at
a power-management capability (ID 0x01) at 0x80 and goes on to the PCI Express capability
(ID 0x10) at 0x40, and an extended list from 0x100 (AER, ID 0x0001, then ACS, ID 0x000d, at
0x148). The numbers here are written from the PCI specifications' register layout
(include/uapi/linux/pci_regs.h names them), not taken from the reader under test.

The four machines at the bottom are the ones the re-derivation tests use. Their `group` numbers
are those Linux gives: pci_device_group() (kernel/topology.py mirrors it) applied in the order
above, ida numbering from 0. Their IDs are real parts', chosen so that no ACS quirk of
drivers/pci/quirks.c (pci_dev_acs_enabled[]) applies: the ACS facts alone decide.
"""
import os
from pathlib import Path

DEFAULT_CMDLINE = "BOOT_IMAGE=/boot/vmlinuz-6.8.0-49-generic root=UUID=0f3c2a51-7d0e-4c1b-9e55-2b1d8f7a6c10 ro quiet splash"

# Device/Port Type values (PCI Express Capabilities register bits 7:4), PCI_EXP_TYPE_* in pci_regs.h
_TYPE_CODE = {"endpoint": 0x0, "legacy-endpoint": 0x1, "root-port": 0x4, "upstream-port": 0x5,
              "downstream-port": 0x6, "pcie-to-pci-bridge": 0x7, "pci-to-pcie-bridge": 0x8,
              "rc-endpoint": 0x9, "rc-event-collector": 0xA}
_BRIDGE_TYPES = ("root-port", "upstream-port", "downstream-port", "pcie-to-pci-bridge", "pci-to-pcie-bridge")
PM_AT, EXP_AT, AER_AT, ACS_AT = 0x80, 0x40, 0x100, 0x148


class Machine(list):
    """A machine: its device dicts in Linux's order, its /proc/cmdline and its groups' type."""

    def __init__(self, devices, *, cmdline=DEFAULT_CMDLINE, group_type="DMA", title=""):
        super().__init__(devices)
        self.cmdline, self.group_type, self.title = cmdline, group_type, title


def full_name(name):
    return name if name.count(":") == 2 else "0000:" + name


def _split(name):
    dom, bus, rest = name.split(":")
    slot, fn = rest.split(".")
    return dom, int(bus, 16), int(slot, 16), int(fn)


def is_bridge(d):
    return d.get("pcie_type") in _BRIDGE_TYPES or (d.get("class", 0) >> 8) in (0x0604, 0x0609)


def devices(machine):
    """The machine's devices with full names and every default filled in."""
    devs = [dict(d, name=full_name(d["name"]),
                 parent=full_name(d["parent"]) if d.get("parent") else None,
                 under=full_name(d["under"]) if d.get("under") else None) for d in machine]
    slots = {}
    for d in devs:
        dom, bus, slot, _fn = _split(d["name"])
        slots[(dom, bus, slot)] = slots.get((dom, bus, slot), 0) + 1
    for d in devs:
        dom, bus, slot, _fn = _split(d["name"])
        d.setdefault("pcie_type", "endpoint")
        d.setdefault("multifunction", slots[(dom, bus, slot)] > 1)
        pcie = d["pcie_type"] != "conventional"
        d.setdefault("acs", "none" if pcie else None)
        d.setdefault("config_bytes", 4096 if pcie else 256)
    _bus_numbers(devs)
    return devs


def _bus_numbers(devs):
    """secondary/subordinate of each bridge: given, or the lowest bus right below it and the
    highest anywhere below it; a bridge with nothing below gets a bus number no one uses."""
    below = {}
    for d in devs:
        if d["parent"]:
            below.setdefault(d["parent"], []).append(d)
    used = {(_split(d["name"])[0], _split(d["name"])[1]) for d in devs}
    by_name = {d["name"]: d for d in devs}

    def fill(d):
        if not is_bridge(d) or "subordinate" in d and "secondary" in d:
            return
        kids = below.get(d["name"], [])
        for k in kids:
            fill(k)
        dom = _split(d["name"])[0]
        if "secondary" not in d:
            if kids:
                d["secondary"] = min(_split(k["name"])[1] for k in kids)
            else:
                d["secondary"] = max(b for dm, b in used if dm == dom) + 1
                used.add((dom, d["secondary"]))
        highest = [d["secondary"]] + [k.get("subordinate", _split(k["name"])[1]) for k in kids]
        d.setdefault("subordinate", max(highest))

    for d in devs:
        fill(d)
    return by_name


def config_space(d):
    """The config space bytes of device dict `d` (defaults filled in), cut to its config_bytes."""
    if "config" in d:
        return bytes(d["config"])
    c = bytearray(4096 if d["pcie_type"] != "conventional" else 256)
    vid, did = (int(x, 16) for x in d.get("id", "ffff:ffff").split(":"))
    cls = d.get("class", 0x060400 if is_bridge(d) else 0)
    c[0x00:0x02], c[0x02:0x04] = vid.to_bytes(2, "little"), did.to_bytes(2, "little")
    c[0x04:0x06] = (0x0406).to_bytes(2, "little")             # memory space, bus master, INTx off
    c[0x06:0x08] = (0x0010).to_bytes(2, "little")             # status: a capability list
    c[0x08] = d.get("revision", 0)
    c[0x09:0x0C] = cls.to_bytes(3, "little")                  # prog-if, subclass, base class
    bridge = is_bridge(d)
    c[0x0E] = (0x01 if bridge else 0x00) | (0x80 if d["multifunction"] else 0)
    if bridge:
        c[0x18], c[0x19], c[0x1A] = _split(d["name"])[1], d["secondary"], d["subordinate"]
    caps = [PM_AT] + ([EXP_AT] if d["pcie_type"] != "conventional" else [])
    c[0x34] = caps[0]
    for i, at in enumerate(caps):
        nxt = caps[i + 1] if i + 1 < len(caps) else (caps[0] if d.get("cap_cycle") else 0)
        c[at], c[at + 1] = (0x01 if at == PM_AT else 0x10), nxt
    c[PM_AT + 2:PM_AT + 4] = (0x0003).to_bytes(2, "little")   # PM capabilities: version 3
    if d["pcie_type"] != "conventional":
        flags = 0x0002 | (_TYPE_CODE[d["pcie_type"]] << 4)    # capability version 2
        if d["pcie_type"] in ("root-port", "downstream-port"):
            flags |= 0x0100                                   # slot implemented
        c[EXP_AT + 2:EXP_AT + 4] = flags.to_bytes(2, "little")
        ext = [] if d["acs"] is None else [(AER_AT, 0x0001, 2)] + (
            [(ACS_AT, 0x000D, 1)] if isinstance(d["acs"], tuple) else [])
        for i, (at, ident, ver) in enumerate(ext):
            nxt = ext[i + 1][0] if i + 1 < len(ext) else (ext[0][0] if d.get("ext_cycle") else 0)
            c[at:at + 4] = (ident | ver << 16 | nxt << 20).to_bytes(4, "little")
        if isinstance(d["acs"], tuple):
            cap, ctrl = d["acs"]
            c[ACS_AT + 4:ACS_AT + 6], c[ACS_AT + 6:ACS_AT + 8] = cap.to_bytes(2, "little"), ctrl.to_bytes(2, "little")
    return bytes(c[:min(d["config_bytes"], len(c))])


def _link(target, at):
    os.symlink(os.path.relpath(target, at.parent), at)


def _write_attrs(path, d, outside_dir):
    path.mkdir(parents=True, exist_ok=True)
    files = {"config": config_space(d)}
    if "id" in d:
        vid, did = d["id"].split(":")
        files["vendor"], files["device"] = f"0x{vid}\n".encode(), f"0x{did}\n".encode()
    if "class" in d:
        files["class"] = f"0x{d['class']:06x}\n".encode()
    if "revision" in d:
        files["revision"] = f"0x{d['revision']:02x}\n".encode()
    if is_bridge(d):
        files["secondary_bus_number"] = f"{d['secondary']}\n".encode()
        files["subordinate_bus_number"] = f"{d['subordinate']}\n".encode()
    loops = d.get("loop") if isinstance(d.get("loop"), list) else ()
    out = d.get("outside") if isinstance(d.get("outside"), list) else ()
    for fname, content in files.items():
        if fname in loops:                                     # a -> a.loop -> a
            os.symlink(fname + ".loop", path / fname)
            os.symlink(fname, path / (fname + ".loop"))
        elif fname in out:                                     # a link out of the tree
            outside_dir.mkdir(parents=True, exist_ok=True)
            target = outside_dir / f"{d['name']}-{fname}"
            target.write_bytes(content)
            os.symlink(target, path / fname)
        else:
            (path / fname).write_bytes(content)


def build(tmp_path, machine, *, config_bytes=None):
    """Write the machine's /sys under TMP/sys and its /proc/cmdline at TMP/proc/cmdline; returns
    TMP/sys. `config_bytes` (e.g. 64) cuts every device's config file as that reader would see it."""
    tmp = Path(tmp_path)
    sys_root, outside = tmp / "sys", tmp / "outside"
    devs = devices(machine)
    if config_bytes is not None:
        for d in devs:
            d["config_bytes"] = config_bytes
    by_name = {d["name"]: d for d in devs}
    paths = {}

    def path_of(d):
        if d["name"] not in paths:
            if d.get("outside") is True:
                paths[d["name"]] = outside / d["name"]
            elif d["parent"]:
                paths[d["name"]] = path_of(by_name[d["parent"]]) / d["name"]
            else:
                dom, bus, _s, _f = _split(d["name"])
                top = path_of(by_name[d["under"]]) if d["under"] else sys_root / "devices"
                paths[d["name"]] = top / f"pci{dom}:{bus:02x}" / d["name"]
        return paths[d["name"]]

    pci = sys_root / "bus" / "pci" / "devices"
    pci.mkdir(parents=True)
    (sys_root / "kernel" / "iommu_groups").mkdir(parents=True)
    group_type = getattr(machine, "group_type", "DMA")
    for d in devs:
        path = path_of(d)
        _write_attrs(path, d, outside)
        if d.get("driver"):
            drv = sys_root / "bus" / "pci" / "drivers" / d["driver"]
            drv.mkdir(parents=True, exist_ok=True)
            _link(drv, path / "driver")
            if not (drv / d["name"]).exists():
                _link(path, drv / d["name"])
        if d.get("group") is not None:
            g = sys_root / "kernel" / "iommu_groups" / str(d["group"])
            (g / "devices").mkdir(parents=True, exist_ok=True)
            if not (g / "type").exists():
                (g / "type").write_text(d.get("group_type", group_type) + "\n")
            _link(path, g / "devices" / d["name"])
            _link(g, path / "iommu_group")
        if d.get("loop") is True:
            os.symlink(d["name"], pci / d["name"])            # a link to itself: ELOOP
        elif d.get("outside") is True:
            os.symlink(path, pci / d["name"])
        else:
            _link(path, pci / d["name"])
    proc = tmp / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "cmdline").write_text(getattr(machine, "cmdline", DEFAULT_CMDLINE) + "\n")
    return sys_root


def cmdline_path(sys_root):
    """Where build() wrote the machine's /proc/cmdline."""
    return Path(sys_root).parent / "proc" / "cmdline"


def groups(machine):
    """{group: [full names, in the machine's order]}: what the machine says Linux gives."""
    out = {}
    for d in machine:
        if d.get("group") is not None:
            out.setdefault(d["group"], []).append(full_name(d["name"]))
    return dict(sorted(out.items()))


# --- the machines ------------------------------------------------------------------------------

def _dev(name, ident, cls, driver, group, **facts):
    return dict(name=name, id=ident, driver=driver, group=group, **{"class": cls}, **facts)


PORT_ACS = (0x001F, 0x001D)      # ACSCap SV TB RR CR UF; ACSCtl SV RR CR UF (what Linux enables)
SWITCH_ACS = (0x007F, 0x001D)    # a switch's downstream port that also has Egress Control and Direct Translated
FUNCTION_ACS = (0x0000, 0x0000)  # a multifunction endpoint with an ACS capability that implements no control
RP, DP, UP = "root-port", "downstream-port", "upstream-port"
CONV = {"pcie_type": "conventional"}

# An Alder Lake-class desktop (no integrated graphics): the CPU's x16 root port 00:01.0 has ACS,
# the PCH's root ports 00:1c.0 and 00:1c.4 (one multifunction slot) have no ACS capability, so
# they and everything below them (the NIC and the NVMe drive) share group 5; the chipset's
# conventional multifunction devices share a group per slot (2 and 6); the GPU's two functions
# (no ACS capability) share group 7 behind their isolated root port.
_INTEL = [
    _dev("00:00.0", "8086:4660", 0x060000, None, 0, **CONV),
    _dev("00:01.0", "8086:460d", 0x060400, "pcieport", 1, pcie_type=RP, acs=PORT_ACS),
    _dev("00:14.0", "8086:7ae0", 0x0C0330, "xhci_hcd", 2, **CONV),
    _dev("00:14.2", "8086:7aa7", 0x050000, None, 2, **CONV),
    _dev("00:16.0", "8086:7ae8", 0x078000, "mei_me", 3, **CONV),
    _dev("00:17.0", "8086:7ae2", 0x010601, "ahci", 4, **CONV),
    _dev("00:1c.0", "8086:7ab8", 0x060400, "pcieport", 5, pcie_type=RP, acs="none"),
    _dev("00:1c.4", "8086:7abc", 0x060400, "pcieport", 5, pcie_type=RP, acs="none"),
    _dev("00:1f.0", "8086:7a84", 0x060100, None, 6, **CONV),
    _dev("00:1f.3", "8086:7ad0", 0x040300, "snd_hda_intel", 6, **CONV),
    _dev("00:1f.4", "8086:7aa3", 0x0C0500, "i801_smbus", 6, **CONV),
    _dev("00:1f.5", "8086:7aa4", 0x0C8000, "intel-spi", 6, **CONV),
    _dev("01:00.0", "10de:1b80", 0x030000, "nouveau", 7, parent="00:01.0", pcie_type="legacy-endpoint", revision=0xA1),
    _dev("01:00.1", "10de:10f0", 0x040300, "snd_hda_intel", 7, parent="00:01.0", pcie_type="legacy-endpoint", revision=0xA1),
    _dev("02:00.0", "8086:15f3", 0x020000, "igc", 5, parent="00:1c.0", revision=0x03),
    _dev("03:00.0", "144d:a808", 0x010802, "nvme", 5, parent="00:1c.4"),
]
INTEL_DESKTOP = Machine(_INTEL, group_type="DMA-FQ", title="Intel desktop: PCH root ports without ACS",
                        cmdline=DEFAULT_CMDLINE + " intel_iommu=on")

# The same desktop on a kernel with the out-of-tree ACS override patch and
# pcie_acs_override=downstream,multifunction: the PCH root ports (no ACS capability) count as
# isolated ("downstream"), so do the GPU's functions (PCI Express, multifunction, no ACS
# capability: "multifunction"); the conventional chipset functions are never overridden.
_OVERRIDE_GROUPS = {"00:00.0": 0, "00:01.0": 1, "00:14.0": 2, "00:14.2": 2, "00:16.0": 3, "00:17.0": 4,
                    "00:1c.0": 5, "00:1c.4": 6, "00:1f.0": 7, "00:1f.3": 7, "00:1f.4": 7, "00:1f.5": 7,
                    "01:00.0": 8, "01:00.1": 9, "02:00.0": 10, "03:00.0": 11}
ACS_OVERRIDE_CMDLINE = DEFAULT_CMDLINE + " intel_iommu=on pcie_acs_override=downstream,multifunction"
ACS_OVERRIDE_DESKTOP = Machine([dict(d, group=_OVERRIDE_GROUPS[d["name"]]) for d in _INTEL], group_type="DMA-FQ",
                               title="Intel desktop with the ACS override patch", cmdline=ACS_OVERRIDE_CMDLINE)

# A Ryzen (Matisse) desktop on an X570-class board. The IOMMU's own function 00:00.2 and the root
# complex 00:00.0 are in no group (the AMD IOMMU driver gives them none). Root ports (1483, 1484)
# have ACS; the dummy host bridges beside them are conventional and alone; the chipset hangs
# below 00:01.2: its upstream port, a downstream port with ACS (the NIC alone) and one without
# (its SATA controller shares the port's group 15); the GPU's four functions share group 17;
# the internal functions on bus 08 have an ACS capability each and are alone.
_AMD = [
    _dev("00:00.0", "1022:1480", 0x060000, None, None, **CONV),
    _dev("00:00.2", "1022:1481", 0x080600, None, None, **CONV),
    _dev("00:01.0", "1022:1482", 0x060000, None, 0, **CONV),
    _dev("00:01.1", "1022:1483", 0x060400, "pcieport", 1, pcie_type=RP, acs=PORT_ACS),
    _dev("00:01.2", "1022:1483", 0x060400, "pcieport", 2, pcie_type=RP, acs=PORT_ACS),
    _dev("00:02.0", "1022:1482", 0x060000, None, 3, **CONV),
    _dev("00:03.0", "1022:1482", 0x060000, None, 4, **CONV),
    _dev("00:03.1", "1022:1483", 0x060400, "pcieport", 5, pcie_type=RP, acs=PORT_ACS),
    _dev("00:07.0", "1022:1482", 0x060000, None, 6, **CONV),
    _dev("00:07.1", "1022:1484", 0x060400, "pcieport", 7, pcie_type=RP, acs=PORT_ACS),
    _dev("00:08.0", "1022:1482", 0x060000, None, 8, **CONV),
    _dev("00:08.1", "1022:1484", 0x060400, "pcieport", 9, pcie_type=RP, acs=PORT_ACS),
    _dev("00:14.0", "1022:790b", 0x0C0500, "piix4_smbus", 10, revision=0x61, **CONV),
    _dev("00:14.3", "1022:790e", 0x060100, None, 10, revision=0x51, **CONV),
    *[_dev(f"00:18.{f}", f"1022:144{f}", 0x060000, "k10temp" if f == 3 else None, 11, **CONV) for f in range(8)],
    _dev("01:00.0", "144d:a808", 0x010802, "nvme", 12, parent="00:01.1"),
    _dev("02:00.0", "1022:57ad", 0x060400, "pcieport", 13, parent="00:01.2", pcie_type=UP),
    _dev("03:04.0", "1022:57a3", 0x060400, "pcieport", 14, parent="02:00.0", pcie_type=DP, acs=PORT_ACS),
    _dev("03:09.0", "1022:57a4", 0x060400, "pcieport", 15, parent="02:00.0", pcie_type=DP, acs="none"),
    _dev("04:00.0", "8086:1539", 0x020000, "igb", 16, parent="03:04.0", revision=0x03),
    _dev("05:00.0", "1022:7901", 0x010601, "ahci", 15, parent="03:09.0", revision=0x51),
    _dev("06:00.0", "10de:1e84", 0x030000, "nouveau", 17, parent="00:03.1", revision=0xA1),
    _dev("06:00.1", "10de:10f8", 0x040300, "snd_hda_intel", 17, parent="00:03.1", revision=0xA1),
    _dev("06:00.2", "10de:1ad8", 0x0C0330, "xhci_hcd", 17, parent="00:03.1", revision=0xA1),
    _dev("06:00.3", "10de:1ad9", 0x0C8000, "nvidia-gpu", 17, parent="00:03.1", revision=0xA1),
    _dev("07:00.0", "1022:148a", 0x130000, None, 18, parent="00:07.1"),
    _dev("08:00.0", "1022:1485", 0x130000, None, 19, parent="00:08.1", acs=FUNCTION_ACS),
    _dev("08:00.1", "1022:1486", 0x108000, "ccp", 20, parent="00:08.1", acs=FUNCTION_ACS),
    _dev("08:00.3", "1022:149c", 0x0C0330, "xhci_hcd", 21, parent="00:08.1", acs=FUNCTION_ACS),
    _dev("08:00.4", "1022:1487", 0x040300, "snd_hda_intel", 22, parent="00:08.1", acs=FUNCTION_ACS),
]
AMD_DESKTOP = Machine(_AMD, group_type="DMA-FQ", title="AMD desktop: a four-function GPU",
                      cmdline=DEFAULT_CMDLINE + " amd_iommu=on")

# A Xeon E-2200 server on a C246-class board, iommu=pt (identity domains): a PLX PEX 8747 switch
# in the CPU's x16 slot (upstream port alone; each downstream port with ACS alone, its NVMe drive
# alone; the fourth port empty), the PCH's two root ports with ACS, the BMC's VGA behind its
# PCIe-to-PCI bridge (conventional, so it shares the bridge's group 17: its DMA carries the
# bridge's requester ID).
_SERVER = [
    _dev("00:00.0", "8086:3e1f", 0x060000, None, 0, revision=0x08, **CONV),
    _dev("00:01.0", "8086:1901", 0x060400, "pcieport", 1, pcie_type=RP, acs=PORT_ACS, revision=0x08),
    _dev("00:14.0", "8086:a36d", 0x0C0330, "xhci_hcd", 2, **CONV),
    _dev("00:14.2", "8086:a36f", 0x050000, None, 2, **CONV),
    _dev("00:16.0", "8086:a360", 0x078000, "mei_me", 3, **CONV),
    _dev("00:17.0", "8086:a352", 0x010601, "ahci", 4, **CONV),
    _dev("00:1c.0", "8086:a338", 0x060400, "pcieport", 5, pcie_type=RP, acs=(0x001D, 0x001D)),
    _dev("00:1c.1", "8086:a339", 0x060400, "pcieport", 6, pcie_type=RP, acs=(0x001D, 0x001D)),
    _dev("00:1f.0", "8086:a30a", 0x060100, None, 7, **CONV),
    _dev("00:1f.4", "8086:a323", 0x0C0500, "i801_smbus", 7, **CONV),
    _dev("00:1f.5", "8086:a324", 0x0C8000, "intel-spi", 7, **CONV),
    _dev("01:00.0", "10b5:8747", 0x060400, "pcieport", 8, parent="00:01.0", pcie_type=UP, revision=0xCA),
    _dev("02:08.0", "10b5:8747", 0x060400, "pcieport", 9, parent="01:00.0", pcie_type=DP, acs=SWITCH_ACS),
    _dev("02:09.0", "10b5:8747", 0x060400, "pcieport", 10, parent="01:00.0", pcie_type=DP, acs=SWITCH_ACS),
    _dev("02:10.0", "10b5:8747", 0x060400, "pcieport", 11, parent="01:00.0", pcie_type=DP, acs=SWITCH_ACS),
    _dev("02:11.0", "10b5:8747", 0x060400, "pcieport", 12, parent="01:00.0", pcie_type=DP, acs=SWITCH_ACS,
         secondary=6, subordinate=6),
    _dev("03:00.0", "144d:a808", 0x010802, "nvme", 13, parent="02:08.0"),
    _dev("04:00.0", "144d:a808", 0x010802, "nvme", 14, parent="02:09.0"),
    _dev("05:00.0", "144d:a808", 0x010802, "nvme", 15, parent="02:10.0"),
    _dev("07:00.0", "8086:1533", 0x020000, "igb", 16, parent="00:1c.0", revision=0x03),
    _dev("08:00.0", "1a03:1150", 0x060400, None, 17, parent="00:1c.1", pcie_type="pcie-to-pci-bridge", revision=0x04),
    _dev("09:00.0", "1a03:2000", 0x030000, "ast", 17, parent="08:00.0", revision=0x41, **CONV),
]
SWITCH_SERVER = Machine(_SERVER, group_type="identity", title="Xeon server with a PCIe switch and NVMe",
                        cmdline="BOOT_IMAGE=/boot/vmlinuz-6.5.11-8-pve root=/dev/mapper/pve-root ro quiet "
                                "intel_iommu=on iommu=pt")

MACHINES = {"INTEL_DESKTOP": INTEL_DESKTOP, "AMD_DESKTOP": AMD_DESKTOP, "SWITCH_SERVER": SWITCH_SERVER,
            "ACS_OVERRIDE_DESKTOP": ACS_OVERRIDE_DESKTOP}
