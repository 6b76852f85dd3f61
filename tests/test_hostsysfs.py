"""The live reader of topology and config space (iommulab/hostsysfs.py) on fake /sys trees
(tests/fakesysfs.py): one test per rule, and four whole machines whose groups the simulator
re-derives from nothing but the facts read."""
import os
import sys
from contextlib import contextmanager

import pytest

import fakesysfs
from conftest import make
from fakesysfs import (ACS_OVERRIDE_DESKTOP, AMD_DESKTOP, INTEL_DESKTOP, PORT_ACS, SWITCH_SERVER, Machine, build,
                       cmdline_path)
from iommulab import hostsysfs
from iommulab.hostimport import parse_live
from iommulab.hostsysfs import parse_config, read_cmdline, read_pci_facts

# --- what the reader opens (an audit hook sees every open and directory scan) ----------------

_SEEN = None


def _audit(event, args):
    if _SEEN is not None and event in ("open", "os.listdir", "os.scandir"):
        _SEEN.append((event, os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) else str(args[0]),
                      args[2] if event == "open" else 0))


sys.addaudithook(_audit)


@contextmanager
def watching():
    global _SEEN
    _SEEN = []
    try:
        yield _SEEN
    finally:
        _SEEN = None


def opened_outside(seen, root):
    """Paths opened or scanned whose real path is not inside `root` (an O_NOFOLLOW open of a link
    is refused by the kernel with ELOOP: nothing is opened)."""
    root = os.path.realpath(root)
    return [p for _e, p, flags in seen if not os.path.realpath(p).startswith(root + os.sep) and p != root
            and not ((flags or 0) & os.O_NOFOLLOW and os.path.islink(p))]


def read(tmp_path, machine, **kw):
    sys_root = build(tmp_path, machine, **kw)
    return sys_root, read_pci_facts(str(sys_root))


def one(tmp_path, **dev):
    """The facts of a lone device (named 0000:00:02.0 unless given) on a root bus."""
    dev.setdefault("name", "00:02.0")
    _root, facts = read(tmp_path, [dev])
    return facts[fakesysfs.full_name(dev["name"])]


# --- placement -------------------------------------------------------------------------------

def test_parent_and_placed_come_from_the_real_path_in_every_domain_and_root_bus(tmp_path):
    machine = [
        {"name": "00:01.0", "pcie_type": "root-port", "id": "8086:460d"},
        {"name": "01:00.0", "parent": "00:01.0", "pcie_type": "upstream-port"},
        {"name": "02:00.0", "parent": "01:00.0", "pcie_type": "downstream-port"},
        {"name": "03:00.0", "parent": "02:00.0"},
        {"name": "0000:40:01.1", "pcie_type": "root-port"},                 # a second root bus (EPYC-style)
        {"name": "0000:41:00.0", "parent": "0000:40:01.1"},
        {"name": "0001:00:00.0", "pcie_type": "root-port"},                 # a second domain
        {"name": "0001:01:00.0", "parent": "0001:00:00.0"},
    ]
    sys_root, facts = read(tmp_path, machine)
    assert os.readlink(sys_root / "bus/pci/devices/0000:03:00.0") == \
        "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0/0000:03:00.0"
    assert {n: (f["placed"], f["parent"]) for n, f in facts.items()} == {
        "0000:00:01.0": (True, None), "0000:01:00.0": (True, "0000:00:01.0"),
        "0000:02:00.0": (True, "0000:01:00.0"), "0000:03:00.0": (True, "0000:02:00.0"),
        "0000:40:01.1": (True, None), "0000:41:00.0": (True, "0000:40:01.1"),
        "0001:00:00.0": (True, None), "0001:01:00.0": (True, "0001:00:00.0")}


def test_a_vmd_domains_first_device_sits_on_a_root_bus(tmp_path):
    machine = [{"name": "00:0e.0", "pcie_type": "rc-endpoint", "class": 0x010400, "driver": "vmd"},
               {"name": "10000:e0:1d.0", "under": "00:0e.0", "pcie_type": "root-port"},
               {"name": "10000:e1:00.0", "parent": "10000:e0:1d.0", "class": 0x010802}]
    sys_root, facts = read(tmp_path, machine)
    assert (sys_root / "devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:1d.0/10000:e1:00.0").is_dir()
    assert (facts["10000:e0:1d.0"]["placed"], facts["10000:e0:1d.0"]["parent"]) == (True, None)
    assert facts["10000:e1:00.0"]["parent"] == "10000:e0:1d.0"


def test_a_device_under_something_that_is_neither_a_bridge_nor_a_root_bus_is_not_placed(tmp_path):
    sys_root = build(tmp_path, [{"name": "00:02.0"}])
    odd = sys_root / "devices" / "platform" / "fd500000.pcie" / "0000:05:00.0"
    odd.mkdir(parents=True)
    (odd / "vendor").write_text("0x14e4\n")
    (odd / "device").write_text("0x2712\n")
    os.symlink("../../../devices/platform/fd500000.pcie/0000:05:00.0", sys_root / "bus/pci/devices/0000:05:00.0")
    facts = read_pci_facts(str(sys_root))["0000:05:00.0"]
    assert "placed" not in facts and "parent" not in facts and facts["id"] == "14e4:2712"


# --- the header and the capability lists ---------------------------------------------------------

@pytest.mark.parametrize("pcie_type", ["endpoint", "legacy-endpoint", "root-port", "upstream-port", "downstream-port",
                                       "pcie-to-pci-bridge", "pci-to-pcie-bridge", "rc-endpoint",
                                       "rc-event-collector", "conventional"])
def test_each_pcie_type_is_read_from_the_express_capability(tmp_path, pcie_type):
    facts = one(tmp_path, pcie_type=pcie_type)
    assert facts["pcie_type"] == pcie_type
    assert facts["config_bytes"] == (256 if pcie_type == "conventional" else 4096)


def test_the_type_field_is_bits_7_to_4_of_the_flags_word():
    """Hand-made bytes, independent of the fake tree: a PM capability at 0x40 leads to the PCI
    Express capability at 0x60 whose flags word 0x0042 says type 4."""
    c = bytearray(256)
    c[0x06], c[0x0E], c[0x34] = 0x10, 0x01, 0x40
    c[0x40:0x42] = bytes([0x01, 0x60])
    c[0x60:0x64] = bytes([0x10, 0x00, 0x42, 0x00])
    assert parse_config(bytes(c))["pcie_type"] == "root-port"
    c[0x62] = 0x32                                      # type 3 is reserved: say nothing
    assert "pcie_type" not in parse_config(bytes(c))


def test_multifunction_is_bit_7_of_the_header_type(tmp_path):
    machine = [{"name": "00:1f.0", "pcie_type": "conventional"}, {"name": "00:1f.3", "pcie_type": "conventional"},
               {"name": "00:02.0"}, {"name": "00:03.0", "multifunction": True}]
    sys_root, facts = read(tmp_path, machine)
    assert (sys_root / "devices/pci0000:00/0000:00:1f.3/config").read_bytes()[0x0E] == 0x80
    assert {n: f["multifunction"] for n, f in facts.items()} == {
        "0000:00:02.0": False, "0000:00:03.0": True, "0000:00:1f.0": True, "0000:00:1f.3": True}


@pytest.mark.parametrize("acs, size, expected", [
    (PORT_ACS, 4096, PORT_ACS), ("none", 4096, "none"), (None, 4096, "none"),
    (PORT_ACS, 256, None), ("none", 256, None), (None, 256, None),
    (PORT_ACS, 64, None), ("none", 64, None), (None, 64, None),
])
def test_acs_is_known_only_where_extended_space_was_read(tmp_path, acs, size, expected):
    facts = one(tmp_path, name="00:1c.0", pcie_type="root-port", acs=acs, config_bytes=size)
    assert facts.get("acs") == expected
    assert facts["config_bytes"] == size
    assert facts.get("pcie_type") == (None if size == 64 else "root-port")     # caps live at 0x40 and above
    assert facts["multifunction"] is False and facts["secondary"] == 1         # the header is always there


def test_an_unprivileged_reader_knows_the_headers_only(tmp_path):
    """What pci_read_config() gives without CAP_SYS_ADMIN: 64 bytes of every device."""
    _root, facts = read(tmp_path, INTEL_DESKTOP, config_bytes=64)
    assert {f["config_bytes"] for f in facts.values()} == {64}
    assert not any("pcie_type" in f or "acs" in f for f in facts.values())
    assert facts["0000:00:1c.4"]["multifunction"] and facts["0000:00:1c.4"]["secondary"] == 3


def test_no_capability_list_means_conventional_even_from_64_bytes():
    c = bytearray(64)
    c[0x0E], c[0x34] = 0x00, 0x40                         # a pointer, but the status bit says no list
    assert parse_config(bytes(c))["pcie_type"] == "conventional"
    assert "acs" not in parse_config(bytes(c))
    assert parse_config(bytes(c) + bytes(4096 - 64))["acs"] == "none"   # as root: no extended capabilities


def test_a_capability_list_that_cycles_is_unknown(tmp_path):
    assert "pcie_type" not in one(tmp_path / "a", pcie_type="conventional", cap_cycle=True)   # PM -> PM -> ...
    assert one(tmp_path / "b", pcie_type="root-port", cap_cycle=True)["pcie_type"] == "root-port"  # found first
    assert "acs" not in one(tmp_path / "c", pcie_type="root-port", acs="none", ext_cycle=True)  # AER -> AER
    assert one(tmp_path / "d", pcie_type="root-port", acs=PORT_ACS, ext_cycle=True)["acs"] == PORT_ACS


def test_the_walks_end_where_the_kernel_ends_them_and_are_unknown_past_the_bytes_read():
    c = bytearray(4096)
    c[0x06], c[0x0E], c[0x34] = 0x10, 0x00, 0x3C          # a pointer into the header ends the list,
    c[0x3C:0x3F] = bytes([0x10, 0x01, 0x40])              # whatever IRQ line, pin and MIN_GNT read there
    assert parse_config(bytes(c))["pcie_type"] == "conventional"
    assert parse_config(bytes(c))["acs"] == "none"        # extended header 0: no extended capabilities
    c[0x100:0x104] = (0x0001 | 1 << 16 | 0x040 << 20).to_bytes(4, "little")   # AER, next below 0x100: the end
    assert parse_config(bytes(c))["acs"] == "none"
    c[0x34] = 0xF0                                       # beyond 128 bytes read
    assert "pcie_type" not in parse_config(bytes(c[:128]))
    c[0x100:0x104] = (0x0001 | 1 << 16 | 0xFFC << 20).to_bytes(4, "little")
    assert "acs" not in parse_config(bytes(c[:0x200]))   # the next header lies beyond what was read
    assert parse_config(b"\xff" * 256) == {"config_bytes": 256}     # an all-ones read says nothing


def test_a_cardbus_header_keeps_its_capability_pointer_at_0x14():
    c = bytearray(128)                                   # what an unprivileged reader gets of CardBus
    c[0x06], c[0x0E], c[0x14] = 0x10, 0x02, 0x48
    c[0x48:0x4C] = bytes([0x10, 0x00, 0x02, 0x00])
    assert parse_config(bytes(c))["pcie_type"] == "endpoint"


def test_bus_numbers_of_bridges(tmp_path):
    _root, facts = read(tmp_path, SWITCH_SERVER)
    assert {n: (f["secondary"], f["subordinate"]) for n, f in facts.items() if "secondary" in f} == {
        "0000:00:01.0": (1, 6), "0000:01:00.0": (2, 6), "0000:02:08.0": (3, 3), "0000:02:09.0": (4, 4),
        "0000:02:10.0": (5, 5), "0000:02:11.0": (6, 6), "0000:00:1c.0": (7, 7), "0000:00:1c.1": (8, 9),
        "0000:08:00.0": (9, 9)}


# --- staying inside the tree -------------------------------------------------------------------

def test_links_out_of_the_tree_are_never_read(tmp_path):
    machine = [{"name": "00:02.0", "id": "8086:3e92", "class": 0x030000, "outside": ["config", "vendor"]},
               {"name": "00:03.0", "id": "8086:1234", "outside": True}]
    sys_root = build(tmp_path, machine)
    with watching() as seen:
        facts = read_pci_facts(str(sys_root))
    assert opened_outside(seen, sys_root) == []
    assert facts["0000:00:02.0"]["class"] == 0x030000
    assert "id" not in facts["0000:00:02.0"] and "config_bytes" not in facts["0000:00:02.0"]
    assert facts["0000:00:03.0"] == {}


def test_symlink_loops_are_unknowns(tmp_path):
    machine = [{"name": "00:02.0", "id": "8086:3e92", "loop": ["config"]}, {"name": "00:03.0", "loop": True}]
    _root, facts = read(tmp_path, machine)
    assert facts["0000:00:02.0"]["id"] == "8086:3e92" and "config_bytes" not in facts["0000:00:02.0"]
    assert facts["0000:00:03.0"] == {}


def test_files_that_are_not_regular_or_not_readable_are_unknowns(tmp_path):
    sys_root = build(tmp_path, [{"name": "00:02.0", "id": "8086:3e92"}, {"name": "00:03.0", "id": "8086:1234"}])
    dev2, dev3 = sys_root / "devices/pci0000:00/0000:00:02.0", sys_root / "devices/pci0000:00/0000:00:03.0"
    (dev2 / "config").unlink()
    (dev2 / "config").mkdir()
    (dev2 / "vendor").unlink()
    os.mkfifo(dev2 / "vendor")                           # opening it must neither block nor count
    (dev3 / "config").chmod(0)
    facts = read_pci_facts(str(sys_root))
    assert facts["0000:00:02.0"] == {"placed": True, "parent": None}
    if os.geteuid() != 0:                                # root reads a mode-000 file anyway
        assert "config_bytes" not in facts["0000:00:03.0"]


def test_it_reads_only_under_the_sys_root_and_never_writes(tmp_path):
    for name, machine in fakesysfs.MACHINES.items():
        sys_root = build(tmp_path / name, machine)
        with watching() as seen:
            read_pci_facts(str(sys_root))
        assert seen and opened_outside(seen, sys_root) == []
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        assert [p for e, p, flags in seen if e == "open" and (flags or 0) & writes] == []
    with pytest.raises(ValueError):
        read_pci_facts("/dev")


def test_only_the_names_asked_for_and_never_more_than_the_cap(tmp_path, monkeypatch):
    sys_root = build(tmp_path, SWITCH_SERVER)
    assert sorted(read_pci_facts(str(sys_root), names=["01:00.0", "0000:03:00.0", "0000:7f:00.0"])) == \
        ["0000:01:00.0", "0000:03:00.0"]
    monkeypatch.setattr(hostsysfs, "MAX_DEVICES", 3)
    assert len(read_pci_facts(str(sys_root))) == 3
    assert len(read_pci_facts(str(sys_root), names=[d["name"] for d in SWITCH_SERVER])) == 3


@pytest.mark.parametrize("name", sorted(fakesysfs.MACHINES))
def test_ids_classes_revisions_and_drivers_as_the_importer_reads_them(tmp_path, name):
    sys_root, facts = read(tmp_path, fakesysfs.MACHINES[name])
    lst = parse_live(str(sys_root))
    for dev, d in lst.devices.items():
        assert {k: facts[dev][k] for k in ("id", "class", "revision", "driver") if k in facts[dev]} == \
            {k: d[k] for k in ("id", "class", "revision", "driver") if k in d}


# --- /proc/cmdline ----------------------------------------------------------------------------------

def test_read_cmdline(tmp_path):
    sys_root = build(tmp_path, ACS_OVERRIDE_DESKTOP)
    assert read_cmdline(str(cmdline_path(sys_root))).endswith("pcie_acs_override=downstream,multifunction")
    assert read_cmdline(str(tmp_path / "missing")) is None
    big = tmp_path / "big"
    big.write_bytes(b"a" * 10000)
    assert len(read_cmdline(str(big))) == 4096
    with watching() as seen:
        assert read_cmdline("/proc/self/environ") is None            # nothing else under /proc
        assert read_cmdline("/dev/zero") is None                     # nothing under /dev
    assert [p for _e, p, _f in seen if p.startswith(("/proc", "/dev"))] == []
    live = read_cmdline()
    assert live is None or isinstance(live, str)


# --- whole machines: the simulator re-derives their groups from the facts read ---------------------

REQ_ACS = 0x01 | 0x04 | 0x08 | 0x10        # SV, RR, CR, UF: what pci_acs_enabled() asks of a port
KINDS = {"endpoint": "endpoint", "legacy-endpoint": "endpoint", "rc-endpoint": "endpoint",
         "root-port": "root-port", "upstream-port": "upstream-port", "downstream-port": "downstream-port",
         "pcie-to-pci-bridge": "pcie-to-pci-bridge"}


def acs_enabled(f, override=()):
    """pci_acs_flags_enabled(): only the flags the capability implements are required; and what
    the out-of-tree pcie_acs_override patch says for a PCI Express device with no ACS capability."""
    if f["pcie_type"] == "conventional":
        return False                            # no ACS on conventional PCI (acs is unknown at 256 bytes)
    if isinstance(f["acs"], tuple):
        cap, ctrl = f["acs"]
        return ctrl & (REQ_ACS & cap) == REQ_ACS & cap
    if "downstream" in override and f["pcie_type"] in ("root-port", "downstream-port"):
        return True
    return ("multifunction" in override and f["multifunction"]
            and f["pcie_type"] in ("endpoint", "upstream-port", "legacy-endpoint", "rc-endpoint"))


def derive(sys_root, override=()):
    """Boot the facts read from the tree (no groups given) and return the simulator's groups."""
    facts, grouped = read_pci_facts(str(sys_root)), parse_live(str(sys_root)).devices
    specs = []
    for name, f in facts.items():
        kind = KINDS.get(f["pcie_type"]) or ("pci-bridge" if f["class"] >> 8 == 0x0604 else "conventional")
        spec = {"name": name, "kind": kind, "multifunction": f["multifunction"], "acs": acs_enabled(f, override),
                "class": f["class"]}
        if f["parent"]:
            spec["parent"] = f["parent"]
        if name not in grouped:
            spec["iommu"] = False
        specs.append(spec)
    k = make(devices=specs)
    return {n: sorted(d.name for d in g.devices) for n, g in sorted(k.iommu_groups.items())}


def kernel_groups(sys_root):
    out = {}
    for name, d in parse_live(str(sys_root)).devices.items():
        out.setdefault(d["group"], []).append(name)
    return {n: sorted(v) for n, v in sorted(out.items())}


@pytest.mark.parametrize("machine", [INTEL_DESKTOP, AMD_DESKTOP, SWITCH_SERVER], ids=lambda m: m.title)
def test_the_three_machines_groups_are_what_linux_gives(tmp_path, machine):
    sys_root = build(tmp_path, machine)
    expected = {n: sorted(v) for n, v in fakesysfs.groups(machine).items()}
    assert kernel_groups(sys_root) == expected
    assert derive(sys_root) == expected


def test_the_machines_show_what_makes_their_groups(tmp_path):
    g = fakesysfs.groups
    assert g(INTEL_DESKTOP)[5] == ["0000:00:1c.0", "0000:00:1c.4", "0000:02:00.0", "0000:03:00.0"]
    assert g(INTEL_DESKTOP)[7] == ["0000:01:00.0", "0000:01:00.1"]
    assert g(AMD_DESKTOP)[15] == ["0000:03:09.0", "0000:05:00.0"] and len(g(AMD_DESKTOP)[17]) == 4
    assert g(SWITCH_SERVER)[17] == ["0000:08:00.0", "0000:09:00.0"]
    assert [len(g(m)) for m in (INTEL_DESKTOP, AMD_DESKTOP, SWITCH_SERVER, ACS_OVERRIDE_DESKTOP)] == [8, 23, 18, 12]
    assert [(sys_root / "kernel/iommu_groups/0/type").read_text() for sys_root in
            (build(tmp_path / "i", INTEL_DESKTOP), build(tmp_path / "s", SWITCH_SERVER))] == ["DMA-FQ\n", "identity\n"]


def test_the_acs_override_desktop_disagrees_until_the_override_is_applied(tmp_path):
    sys_root = build(tmp_path, ACS_OVERRIDE_DESKTOP)
    cmdline = read_cmdline(str(cmdline_path(sys_root)))
    assert "pcie_acs_override=downstream,multifunction" in cmdline.split()
    kernel = kernel_groups(sys_root)
    assert kernel == {n: sorted(v) for n, v in fakesysfs.groups(ACS_OVERRIDE_DESKTOP).items()}
    plain = derive(sys_root)
    assert plain == {n: sorted(v) for n, v in fakesysfs.groups(INTEL_DESKTOP).items()}
    assert plain != kernel
    assert ["0000:00:1c.0"] in kernel.values() and ["0000:01:00.1"] in kernel.values()
    assert derive(sys_root, override=("downstream", "multifunction")) == kernel
    # the chipset's conventional functions keep sharing: the patch never overrides those
    assert ["0000:00:1f.0", "0000:00:1f.3", "0000:00:1f.4", "0000:00:1f.5"] in kernel.values()


def test_a_machine_is_a_list_with_its_command_line(tmp_path):
    m = Machine([{"name": "00:02.0"}], cmdline="root=/dev/sda1 iommu=pt", group_type="identity")
    assert read_cmdline(str(cmdline_path(build(tmp_path, m)))) == "root=/dev/sda1 iommu=pt"
    assert fakesysfs.devices([{"name": "00:02.0"}])[0]["acs"] == "none"
