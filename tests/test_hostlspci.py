"""Issue 17, part 2: the topology and ACS facts that `lspci -tv` and `lspci -vvv` pasted with a group
listing show (iommulab/hostlspci.py). One hand-written fragment per rule of the format (pciutils'
ls-tree.c, lspci.c, ls-caps.c, ls-ecaps.c), the publicly posted samples in tests/data/lspci/ with the
facts a person reads in them, and the simulator's own `lspci -vvv` read back against the kernel."""
from pathlib import Path

import pytest

from iommulab import Kernel
from iommulab.hostlspci import scan
from iommulab.kernel.topology import pci_acs_enabled
from iommulab.scenario_file import to_toml
from conftest import dev

DATA = Path(__file__).resolve().parent / "data" / "lspci"
SV, TB, RR, CR, UF, EC, DT = (1 << b for b in range(7))


def sample(name):
    return scan((DATA / name).read_text(encoding="utf-8"))


def parents(r):
    return {n: f["parent"] for n, f in r.facts.items() if f.get("placed")}


def notes(r):
    return " | ".join(t for _n, t in r.notes)


# --- lspci -tv ------------------------------------------------------------------------------------

TREE = """\
$ lspci -tvnn
-[0000:00]-+-00.0  Intel Corporation Host Bridge [8086:3e30] (rev 0d)
           +-01.0-[01]--+-00.0  NVIDIA Corporation GP104 [GeForce GTX 1080] [10de:1b80]
           |            \\-00.1  NVIDIA Corporation GP104 High Definition Audio Controller [10de:10f0]
           +-1c.0-[02-04]----00.0-[03-04]----01.0-[04]----00.0  ASMedia ASM1142 USB 3.1 Host Controller [1b21:1242]
           +-1c.4-[05]--
           \\-1f.3  Intel Corporation Cannon Lake PCH cAVS [8086:a348]
"""


def test_tree_parents_root_bus_ids_and_bus_ranges():
    r = scan(TREE)
    assert parents(r) == {
        "0000:00:00.0": None, "0000:00:01.0": None, "0000:00:1c.0": None, "0000:00:1c.4": None,
        "0000:00:1f.3": None, "0000:01:00.0": "0000:00:01.0", "0000:01:00.1": "0000:00:01.0",
        "0000:02:00.0": "0000:00:1c.0", "0000:03:01.0": "0000:02:00.0", "0000:04:00.0": "0000:03:01.0"}
    f = r.facts
    assert f["0000:01:00.0"]["id"] == "10de:1b80" and f["0000:04:00.0"]["id"] == "1b21:1242"
    assert "id" not in f["0000:00:00.0"]                 # "(rev 0d)" follows the ID: lspci -t prints none
    assert (f["0000:00:1c.0"]["secondary"], f["0000:00:1c.0"]["subordinate"]) == (2, 4)
    assert (f["0000:00:1c.4"]["secondary"], f["0000:00:1c.4"]["subordinate"]) == (5, 5)   # nothing below
    assert "multifunction" not in f["0000:01:00.0"] and "pcie_type" not in f["0000:01:00.0"]
    assert r.lines == {2, 3, 4, 5, 6, 7} and r.formats == {"tree"} and r.notes == []


def test_tree_with_several_root_buses_and_domains():
    text = ("-+-[0000:40]-+-00.0  Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex\n"
            " |           \\-01.1-[41]----00.0  Mellanox Technologies MT28908 Family [ConnectX-6]\n"
            " \\-[0000:00]-+-00.0  Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex\n"
            "             \\-03.1-[01]----00.0  NVIDIA Corporation GA102 [GeForce RTX 3090]\n"
            "-[0001:00]---00.0-[01]----00.0  Broadcom BCM2712 NIC\n")
    r = scan(text)
    assert parents(r) == {"0000:40:00.0": None, "0000:40:01.1": None, "0000:41:00.0": "0000:40:01.1",
                          "0000:00:00.0": None, "0000:00:03.1": None, "0000:01:00.0": "0000:00:03.1",
                          "0001:00:00.0": None, "0001:01:00.0": "0001:00:00.0"}
    assert r.lines == {1, 2, 3, 4, 5}


def test_tree_bridge_with_secondary_bus_0_and_the_pre_2009_format():
    r = scan("-[0000:00]-+-01.0----00.0  Some Device\n"           # "-": secondary 0, its bus is not known
             "           \\-1c.0-[0000:02-03]----00.0-[0000:03]----00.0  Old lspci\n")
    assert parents(r) == {"0000:00:01.0": None, "0000:00:1c.0": None, "0000:02:00.0": "0000:00:1c.0",
                          "0000:03:00.0": "0000:02:00.0"}
    assert r.facts["0000:00:01.0"]["secondary"] == 0
    assert "secondary bus is 0" in notes(r)


def test_tree_lines_cut_wrapped_or_moved():
    text = ("-[0000:00]-+-00.0  Intel Corporation Device 6400\n"
            "           +-07.2-[39-70]----00.0-[3a-70]--+-00.0-[3b]--\n"
            "           |                               +-02.0-[4e-5f]----00.0-[4f-50=\n"    # quoted-printable
            "]----01.0-[50]----00.0  Phison Electronics Corporation E12 NVMe Controller\n"
            "           |                               \\-04.0-[70]--\n"
            "      \\-1f.0  lost its leading spaces\n"                                    # matches no branch
            "\n"
            "-[0000:00]-+-00.0  Intel\n"
            "           \\-01.0-[01]----00\n")                                            # cut in a device
    r = scan(text)
    p = parents(r)
    assert p["0000:4f:01.0"] == "0000:4e:00.0" and p["0000:50:00.0"] == "0000:4f:01.0"
    assert p["0000:3a:04.0"] == "0000:39:00.0"
    assert "0000:00:1f.0" not in r.facts and 6 not in r.lines       # left to the group reader's report
    assert {3, 4} <= r.lines and "wrapped tree line" in notes(r)
    assert "continues no branch above" in notes(r) and "cut off in the middle of a device" in notes(r)
    assert p["0000:00:01.0"] is None and "0000:01:00.0" not in r.facts


def test_tree_quoted_in_a_mail_whose_lines_lost_a_space():
    r = sample("lkml-lunarlake-tree-quoted.txt")
    p = parents(r)
    assert p["0000:00:07.0"] is None and p["0000:39:00.0"] == "0000:00:07.2"
    assert p["0000:3a:00.0"] == p["0000:3a:04.0"] == "0000:39:00.0"
    assert p["0000:4e:00.0"] == "0000:3a:02.0" and p["0000:4f:01.0"] == "0000:4e:00.0"
    assert p["0000:50:00.0"] == "0000:4f:01.0"                       # on the line a soft break cut
    assert (r.facts["0000:00:07.0"]["secondary"], r.facts["0000:00:07.0"]["subordinate"]) == (0x01, 0x38)
    assert len(r.facts) == 15 and r.lines == set(range(2, 13))
    assert "1 column(s) left" in notes(r)


# --- lspci -vvv -----------------------------------------------------------------------------------

def block(addr, head, *body, end="\n"):
    return f"{addr} {head}\n" + "".join(f"\t{x}\n" for x in body) + end


STATUS = "Status: Cap+ 66MHz- UDF- FastB2B- ParErr- DEVSEL=fast >TAbort- <TAbort- <MAbort- >SERR- <PERR- INTx-"
ACS_ON = ("Capabilities: [148 v1] Access Control Services",
          "\tACSCap:\tSrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-",
          "\tACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-")
VVV = (block("00:00.0", "Host bridge [0600]: Intel Corporation 8th Gen Core Processor Host Bridge/DRAM Registers "
             "[8086:3e30] (rev 0d)", STATUS, "Capabilities: [e0] Vendor Specific Information: Len=10 <?>",
             "Kernel driver in use: skl_uncore")
       + block("00:01.0", "PCI bridge [0604]: Intel Corporation 6th-10th Gen Core Processor PCIe Controller (x16) "
               "[8086:1901] (rev 0d) (prog-if 00 [Normal decode])", STATUS,
               "Bus: primary=00, secondary=01, subordinate=01, sec-latency=0",
               "Capabilities: [a0] Express (v2) Root Port (Slot+), MSI 00",
               "Capabilities: [100 v1] Virtual Channel", "Kernel driver in use: pcieport")
       + block("00:1c.0", "PCI bridge [0604]: Intel Corporation Cannon Lake PCH PCI Express Root Port #1 "
               "[8086:a338] (rev f0) (prog-if 00 [Normal decode])", STATUS,
               "Bus: primary=00, secondary=02, subordinate=02, sec-latency=0",
               "Capabilities: [40] Express (v2) Root Port (Slot+), MSI 00", "Capabilities: [100 v1] Advanced Error Reporting",
               *ACS_ON, "Kernel driver in use: pcieport")
       + block("01:00.0", "VGA compatible controller [0300]: NVIDIA Corporation GP104 [GeForce GTX 1080] [10de:1b80] "
               "(rev a1) (prog-if 00 [VGA controller])", STATUS, "IOMMU group: 1",
               "Capabilities: [68] Express (v2) Legacy Endpoint, MSI 00", "Capabilities: [100 v1] Virtual Channel",
               "Kernel driver in use: vfio-pci", "Kernel modules: nouveau")
       + block("02:00.0", "USB controller [0c03]: ASMedia Technology Inc. ASM1142 USB 3.1 Host Controller [1b21:1242] "
               "(prog-if 30 [XHCI])", STATUS, "Capabilities: [50] MSI: Enable+ Count=1/8 Maskable- 64bit+",
               "Capabilities: [80] Express (v2) Endpoint, IntMsgNum 0", "Kernel driver in use: xhci_hcd", end=""))


def test_verbose_parents_from_the_bridges_bus_numbers():
    r = scan(VVV)
    assert parents(r) == {"0000:00:00.0": None, "0000:00:01.0": None, "0000:00:1c.0": None,
                          "0000:01:00.0": "0000:00:01.0", "0000:02:00.0": "0000:00:1c.0"}
    assert (r.facts["0000:00:1c.0"]["secondary"], r.facts["0000:00:1c.0"]["subordinate"]) == (2, 2)
    assert r.formats == {"verbose"} and r.lines == set(range(1, len(VVV.splitlines()) + 1)) - {
        n for n, x in enumerate(VVV.splitlines(), 1) if not x}


def test_verbose_a_bus_no_bridge_in_the_paste_leads_to_is_not_placed():
    r = scan(block("03:00.0", "Ethernet controller [0200]: Intel Corporation I210 [8086:1533] (rev 03)", STATUS,
                   "Capabilities: [a0] Express (v2) Endpoint, MSI 00")
             + block("40:01.1", "PCI bridge [0604]: AMD Starship/Matisse GPP Bridge [1022:1483]", STATUS,
                     "Bus: primary=40, secondary=41, subordinate=41, sec-latency=0",
                     "Capabilities: [58] Express (v2) Root Port (Slot+), MSI 00")
             + block("41:00.0", "Non-Volatile memory controller [0108]: Samsung NVMe [144d:a808]", STATUS))
    assert parents(r) == {"0000:40:01.1": None, "0000:41:00.0": "0000:40:01.1"}   # a root port: a root bus
    assert "bus 0000:03: no bridge" in notes(r)


@pytest.mark.parametrize("line, kind", [
    ("Express (v2) Endpoint, MSI 00", "endpoint"), ("Express Legacy Endpoint, MSI 00", "legacy-endpoint"),
    ("Express (v2) Root Port (Slot+), IntMsgNum 0", "root-port"), ("Express (v2) Upstream Port, MSI 00", "upstream-port"),
    ("Express (v2) Downstream Port (Slot-), MSI 00", "downstream-port"),
    ("Express (v1) PCI-Express to PCI/PCI-X Bridge, MSI 00", "pcie-to-pci-bridge"),
    ("Express (v1) PCI/PCI-X Bridge, MSI 00", "pcie-to-pci-bridge"),              # pciutils before 3.2.1
    ("Express (v2) PCI/PCI-X to PCI-Express Bridge (Slot-), MSI 00", "pci-to-pcie-bridge"),
    ("Express (v2) Root Complex Integrated Endpoint, IntMsgNum 0", "rc-endpoint"),
    ("Express (v2) Root Complex Event Collector, IntMsgNum 0", "rc-event-collector")])
def test_verbose_pcie_type_from_the_express_capability(line, kind):
    r = scan(block("00:1f.0", "ISA bridge [0601]: Intel Corporation Device [8086:a305]", f"Capabilities: [40] {line}"))
    assert r.facts["0000:00:1f.0"]["pcie_type"] == kind


def test_verbose_conventional_only_when_the_whole_capability_list_is_shown():
    pci = "Ethernet controller [0200]: Realtek RTL8169 [10ec:8169] (rev 10)"
    assert scan(block("05:00.0", pci, STATUS, "Capabilities: [dc] Power Management version 2",
                      "Kernel driver in use: r8169")).facts["0000:05:00.0"]["pcie_type"] == "conventional"
    assert scan(block("05:00.0", pci, "Status: Cap- 66MHz+ UDF- FastB2B+ ParErr- DEVSEL=medium", end="")
                ).facts["0000:05:00.0"]["pcie_type"] == "conventional"       # no capability list at all
    grep = scan(f"05:00.0 {pci}\n\tCapabilities: [dc] Power Management version 2\n06:00.0 {pci}\n")
    assert "pcie_type" not in grep.facts["0000:05:00.0"]                       # grep'd or edited
    cut = scan(f"05:00.0 {pci}\n\t{STATUS}\n\tCapabilities: [dc] Power Management version 2\n")
    assert "pcie_type" not in cut.facts["0000:05:00.0"]                        # the paste ends inside the list


def test_verbose_acs_registers_and_none():
    r = scan(VVV)
    assert r.facts["0000:00:1c.0"]["acs"] == (SV | TB | RR | CR | UF, SV | RR | CR | UF)
    assert r.facts["0000:00:01.0"]["acs"] == "none"           # [100 v1] shown, no ACS among them
    assert r.facts["0000:01:00.0"]["acs"] == "none"
    assert "acs" not in r.facts["0000:02:00.0"]               # no extended capability shown: not readable?
    assert "acs" not in r.facts["0000:00:00.0"]


def test_verbose_acs_without_its_registers_and_in_an_edited_block():
    r = scan(block("00:1c.1", "PCI bridge: Intel Corporation Device 7a39 (rev 11)", STATUS,
                   "Capabilities: [40] Express Root Port (Slot+), MSI 00", "Capabilities: [220] Access Control Services",
                   "Kernel driver in use: pcieport")
             + block("00:1c.2", "PCI bridge: Intel Corporation Device 7a3a (rev 11)",
                     "Capabilities: [40] Express (v2) Root Port (Slot+), MSI 00", "Capabilities: [100 v1] Advanced Error Reporting"))
    assert "acs" not in r.facts["0000:00:1c.1"] and "ACSCap/ACSCtl lines are not in the paste" in notes(r)
    assert "acs" not in r.facts["0000:00:1c.2"]               # no Status line: capabilities may be left out
    assert r.facts["0000:00:1c.1"]["class"] == 0x060400       # "PCI bridge" without -nn


def test_verbose_access_denied():
    r = sample("kvm-matisse-denied.txt")
    f = r.facts["0000:03:05.0"]
    assert f["config_denied"] is True and "pcie_type" not in f and "acs" not in f
    assert (f["secondary"], f["subordinate"], f["driver"]) == (9, 9, "pcieport")   # the header is readable
    assert "run as root" in notes(r)
    assert r.lines == set(range(15, 29))                      # the block, not the shell trace above it


def test_verbose_ids_class_revision_driver_domain_and_group():
    f = scan(VVV).facts
    assert f["0000:01:00.0"] | {} == {**f["0000:01:00.0"], "id": "10de:1b80", "class": 0x030000, "revision": 0xa1,
                                       "driver": "vfio-pci", "iommu_group": 1, "pcie_type": "legacy-endpoint"}
    assert f["0000:02:00.0"]["class"] == 0x0c0330             # with the prog-if
    d = scan(block("0001:02:00.0", "0300: 10de:1b80 (rev a1)", STATUS)).facts["0001:02:00.0"]   # -D -n
    assert (d["id"], d["class"], d["revision"]) == ("10de:1b80", 0x030000, 0xa1)


def test_verbose_lines_of_other_lspci_modes_are_not_taken():
    text = ("00:1f.3 Audio device [0403]: Intel Corporation Cannon Lake PCH cAVS [8086:a348] (rev 10)\n"
            "\tSubsystem: ASUSTeK Computer Inc. Device 8694\n\tKernel driver in use: snd_hda_intel\n"    # -nnk
            "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP104 [10de:1b80] (rev a1)\n"   # -nn
            "IOMMU Group 1:\n\t01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP104 [10de:1b80]\n")
    r = scan(text)
    assert r.facts == {} and r.lines == set() and r.formats == set()


# --- both, and what disagrees ----------------------------------------------------------------------

def test_a_tree_and_a_verbose_listing_that_disagree_about_a_parent():
    tree = "-[0000:00]-+-01.0-[01]----00.0  NVIDIA\n           \\-1c.0-[02]----00.0  ASMedia\n\n"
    vvv = (block("00:01.0", "PCI bridge [0604]: Intel [8086:1901]", STATUS,
                 "Bus: primary=00, secondary=02, subordinate=02, sec-latency=0")
           + block("02:00.0", "USB controller [0c03]: ASMedia [1b21:1242]", STATUS))
    r = scan(tree + vvv)
    assert r.formats == {"tree", "verbose"}
    assert "parent" not in r.facts["0000:02:00.0"] and "placed" not in r.facts["0000:02:00.0"]
    assert "0000:02:00.0: the paste disagrees on its parent" in notes(r)
    assert r.facts["0000:01:00.0"]["parent"] == "0000:00:01.0"         # the tree alone: kept
    assert "secondary" not in r.facts["0000:00:01.0"]                   # 01 (tree) or 02 (-vvv)


def test_two_blocks_of_one_device_that_disagree_leave_the_fact_out():
    port = "PCI bridge: Chengdu Haiguang IC Design Co., Ltd. Device 14c3 (prog-if 00 [Normal decode])"
    off = "\tACSCtl:\tSrcValid+ TransBlk- ReqRedir- CmpltRedir- UpstreamFwd- EgressCtrl- DirectTrans-"
    r = scan(block("00:01.1", port, STATUS, "Capabilities: [58] Express (v2) Root Port (Slot+), MSI 00", *ACS_ON)
             + block("00:01.1", port, STATUS, "Capabilities: [58] Express (v2) Root Port (Slot+), MSI 00",
                     *ACS_ON[:2], off))
    assert "acs" not in r.facts["0000:00:01.1"] and r.facts["0000:00:01.1"]["pcie_type"] == "root-port"
    assert "disagrees on its acs" in notes(r)


# --- the samples ------------------------------------------------------------------------------------

def test_sample_raphael_tree_and_edited_vvv():
    r = sample("lkml-raphael-tree-vvv.txt")
    p = parents(r)
    assert len(p) == 51 and sum(v is None for v in p.values()) == 25
    assert p["0000:03:00.0"] == p["0000:03:00.3"] == "0000:02:00.0" and p["0000:02:00.0"] == "0000:01:00.0"
    assert p["0000:01:00.0"] == "0000:00:01.1" and p["0000:08:00.1"] == "0000:07:01.0"
    assert p["0000:0e:00.6"] == "0000:00:08.1" and p["0000:07:03.0"] == "0000:06:00.0"
    for port in ("0000:00:01.1", "0000:00:01.2"):
        f = r.facts[port]
        assert f["pcie_type"] == "root-port" and f["acs"] == (SV | TB | RR | CR | UF | DT, SV | RR | CR | UF)
    assert "0000:00:01.0" not in {n for n in r.facts if "class" in r.facts[n]}   # a header with no block lines
    assert r.formats == {"tree", "verbose"} and r.notes == []
    assert 46 not in r.lines and {2, 38, 49, 53, 59} <= r.lines


def test_sample_vmd_domain_quoted_with_an_elided_line():
    r = sample("lkml-vmd-tree-quoted.txt")
    assert parents(r) == {"0000:00:00.0": None, "10000:e0:06.0": None, "10000:e0:17.0": None,
                          "10000:e1:00.0": "10000:e0:06.0"}
    assert r.lines == {3, 4, 5, 6} and "elided" in notes(r)


def test_sample_rccl_tree_cut_above_and_a_vvv_block_with_elisions():
    r = sample("rccl-547-matisse.txt")
    p = parents(r)
    assert len(p) == 28 and p["0000:40:01.1"] is None and p["0000:43:00.1"] == "0000:40:01.1"
    assert p["0000:4a:00.0"] == "0000:49:00.0" and p["0000:50:00.0"] == "0000:4f:00.0"
    assert p["0000:53:00.0"] == "0000:44:04.0" and p["0000:4c:00.1"] == "0000:44:02.0"
    f = r.facts["0000:40:01.1"]
    assert f["acs"] == (SV | TB | RR | CR | UF | DT, SV | RR | CR | UF) and "pcie_type" not in f   # elided
    assert (f["secondary"], f["subordinate"]) == (0x43, 0x53)
    assert "first line is missing" in notes(r) and "no bridge in the lspci -vvv" not in notes(r)
    assert {3, 4, 5, 6, 7, 8, 9, 10} <= r.lines and 2 not in r.lines and 11 not in r.lines


def test_sample_matisse_downstream_port_with_acs():
    r = sample("kvm-matisse-acs.txt")
    f = r.facts["0000:03:02.0"]
    assert f == {"acs": (SV | TB | RR | CR | UF | DT, SV | RR | CR | UF), "class": 0x060400, "driver": "pcieport",
                 "pcie_type": "downstream-port", "secondary": 6, "subordinate": 6}
    assert "bus 0000:03: no bridge" in notes(r)                 # its upstream port is not in the paste
    assert min(r.lines) == 9 and max(r.lines) == 82


# --- the simulator's own lspci -vvv, read back against the kernel -----------------------------------

def test_the_simulators_lspci_vvv_reads_back_to_what_the_kernel_decides():
    devices = [dev("0000:00:01.0", id="8086:2030", kind="root-port"),
               dev("0000:01:00.0", id="10b5:8747", kind="upstream-port", parent="0000:00:01.0"),
               dev("0000:02:08.0", id="10b5:8747", kind="downstream-port", parent="0000:01:00.0", acs=False),
               dev("0000:02:10.0", id="10b5:8747", kind="downstream-port", parent="0000:01:00.0"),
               dev("0000:03:00.0", id="10de:2204", parent="0000:02:08.0", **{"class": 0x030000}),
               dev("0000:00:1f.0", id="8086:a145", multifunction=True, **{"class": 0x060100})]
    doc = {"title": "lspci read back", "kernel": {"version": "6.6"}, "driver": [], "device": devices}
    k = Kernel.from_toml(to_toml(doc), "t.toml")
    r = scan(k.sh("lspci -vvv").stdout)
    kinds = {"root-port", "upstream-port", "downstream-port"}
    for name, d in k.devices.items():
        f = r.facts.get(name, {})
        if d.kind in kinds:
            assert f["pcie_type"] == d.kind
        if "acs" in f:                      # pci_acs_flags_enabled(): the required flags the capability has
            cap, ctl = f["acs"]
            req = (SV | RR | CR | UF) & (cap | EC)
            assert ((ctl & req) == req) == pci_acs_enabled(k, d), name
        elif d.kind == "downstream-port":
            assert not pci_acs_enabled(k, d)
    assert "acs" in r.facts["0000:02:10.0"] and "acs" in r.facts["0000:00:1f.0"]
    assert "acs" not in r.facts["0000:02:08.0"]


def test_group_listings_alone_give_no_facts_and_take_no_lines():
    """The corpus of real group listings (loop output, -nnk, dmesg, ls -l, find): none of it is
    lspci -t or -v output, so the group reader keeps every line to read or report."""
    data = Path(__file__).resolve().parent / "data"
    texts = sorted([*(data / "real-hosts").glob("*.txt"), *(data / "corpus").glob("*.txt")])
    assert len(texts) >= 13
    for p in texts:
        r = scan(p.read_text(encoding="utf-8"))
        assert (r.facts, r.lines, r.formats) == ({}, set(), set()), p.name


def test_a_500_device_tree_and_vvv_scan_quickly():
    import time
    rows = ["-[0000:00]-+-00.0  Host"]
    blocks = []
    for i in range(1, 251):
        rows.append(f"           +-{i % 32:02x}.{i // 32}-[{i:02x}]----00.0  Device [10de:{i:04x}]")
        blocks.append(block(f"{i:02x}:00.0", f"3D controller [0302]: NVIDIA [10de:{i:04x}]", STATUS,
                            "Capabilities: [60] Express (v2) Endpoint, MSI 00", "Capabilities: [100 v1] Virtual Channel"))
    rows.append("           \\-1f.7  Last")
    text = "\n".join(rows) + "\n\n" + "".join(blocks)
    t = time.perf_counter()
    r = scan(text)
    assert time.perf_counter() - t < 1.0
    assert len([n for n, f in r.facts.items() if f.get("placed")]) == 502
    assert sum(f.get("acs") == "none" for f in r.facts.values()) == 250


def test_a_name_cut_inside_a_bracket_does_not_swallow_the_next_line():
    r = scan("-[0000:00]-+-00.0  Intel Corporation Host\n"
             "           \\-01.0-[01]----00.0  NVIDIA Corporation GP104 [GeForce GTX 10\n"
             "$ cat /proc/cmdline\n")
    assert r.lines == {1, 2} and parents(r)["0000:01:00.0"] == "0000:00:01.0"
    r = scan("-[0000:00]-+-00.0  Intel\n           \\-01.0-[01-0\n2]----00.0  NVIDIA\n")   # wrapped in the tree
    assert r.lines == {1, 2, 3} and parents(r)["0000:01:00.0"] == "0000:00:01.0"
