"""PCI vendor, device and class names, shared by the shell's lspci, the views and the host
importer (none of them owns them): the names lspci prints, from the PCI ID database a host has
(pciutils reads pci.ids; Debian's package `pci.ids` installs /usr/share/misc/pci.ids, `hwdata`
/usr/share/hwdata/pci.ids).

The file is read the first time a name is needed and kept; `IOMMULAB_PCI_IDS` names another
file (a missing one means "no database"). Without a file, a small built-in table answers: the
class names and the vendors and devices of the built-in scenarios, as pci.ids spells them.
"""
import os

PCI_IDS_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
ENV = "IOMMULAB_PCI_IDS"

# The built-in table (entries copied from pci.ids 2023.04.11, Debian's pci.ids package).
CLASSES = {
    0x0000: "Non-VGA unclassified device", 0x0100: "SCSI storage controller", 0x0101: "IDE interface",
    0x0104: "RAID bus controller", 0x0106: "SATA controller", 0x0107: "Serial Attached SCSI controller",
    0x0108: "Non-Volatile memory controller", 0x0200: "Ethernet controller", 0x0280: "Network controller",
    0x0300: "VGA compatible controller", 0x0302: "3D controller", 0x0380: "Display controller",
    0x0400: "Multimedia video controller", 0x0401: "Multimedia audio controller", 0x0403: "Audio device",
    0x0480: "Multimedia controller", 0x0500: "RAM memory",
    0x0580: "Memory controller", 0x0600: "Host bridge", 0x0601: "ISA bridge", 0x0604: "PCI bridge",
    0x0680: "Bridge", 0x0700: "Serial controller", 0x0780: "Communication controller", 0x0806: "IOMMU",
    0x0880: "System peripheral", 0x0c00: "FireWire (IEEE 1394)", 0x0c03: "USB controller", 0x0c05: "SMBus",
    0x0c80: "Serial bus controller", 0x1080: "Encryption controller", 0x1180: "Signal processing controller",
    0x1200: "Processing accelerators",
}
BASE_CLASSES = {
    0x00: "Unclassified device", 0x01: "Mass storage controller", 0x02: "Network controller",
    0x03: "Display controller", 0x04: "Multimedia controller", 0x05: "Memory controller", 0x06: "Bridge",
    0x07: "Communication controller", 0x08: "Generic system peripheral", 0x0c: "Serial bus controller",
    0x10: "Encryption controller", 0x11: "Signal processing controller", 0x12: "Processing accelerators",
    0x13: "Non-Essential Instrumentation",
}
PROG_IFS = {
    (0x0300, 0x00): "VGA controller", (0x0604, 0x00): "Normal decode", (0x0604, 0x01): "Subtractive decode",
    (0x0106, 0x01): "AHCI 1.0", (0x0108, 0x02): "NVM Express", (0x0c03, 0x30): "XHCI",
    (0x0c03, 0x20): "EHCI", (0x0c00, 0x10): "OHCI",
}

VENDORS = {
    0x8086: "Intel Corporation", 0x10de: "NVIDIA Corporation",
    0x1002: "Advanced Micro Devices, Inc. [AMD/ATI]", 0x1022: "Advanced Micro Devices, Inc. [AMD]",
    0x10ec: "Realtek Semiconductor Co., Ltd.", 0x14e4: "Broadcom Inc. and subsidiaries",
    0x15b3: "Mellanox Technologies", 0x144d: "Samsung Electronics Co Ltd", 0x1b21: "ASMedia Technology Inc.",
    0x1912: "Renesas Technology Corp.", 0x19e5: "Huawei Technologies Co., Ltd.", 0x1af4: "Red Hat, Inc.",
    0x1b36: "Red Hat, Inc.", 0x1d0f: "Amazon.com, Inc.", 0x15ad: "VMware", 0x1106: "VIA Technologies, Inc.",
    0x1c5c: "SK hynix", 0x10b5: "PLX Technology, Inc.", 0x1077: "QLogic Corp.", 0x1924: "Solarflare Communications",
    0x168c: "Qualcomm Atheros", 0x17cb: "Qualcomm Technologies, Inc", 0x104c: "Texas Instruments",
    0x1033: "NEC Corporation", 0x12d8: "Pericom Semiconductor", 0x1b4b: "Marvell Technology Group Ltd.",
    0x2646: "Kingston Technology Company, Inc.", 0x1344: "Micron Technology Inc", 0x10ee: "Xilinx Corporation",
    0x1425: "Chelsio Communications Inc", 0x126f: "Silicon Motion, Inc.", 0x1987: "Phison Electronics Corporation",
    0x1e0f: "KIOXIA Corporation", 0x1cc1: "ADATA Technology Co., Ltd.", 0x1bb1: "Seagate Technology PLC",
    0x14f1: "Conexant Systems, Inc.",
}
DEVICES = {
    (0x8086, 0x191f): "Xeon E3-1200 v5/E3-1500 v5/6th Gen Core Processor Host Bridge/DRAM Registers",
    (0x8086, 0x1901): "6th-10th Gen Core Processor PCIe Controller (x16)",
    (0x8086, 0xa12f): "100 Series/C230 Series Chipset Family USB 3.0 xHCI Controller",
    (0x8086, 0xa170): "100 Series/C230 Series Chipset Family HD Audio Controller",
    (0x8086, 0x15b8): "Ethernet Connection (2) I219-V",
    (0x8086, 0xa110): "100 Series/C230 Series Chipset Family PCI Express Root Port #1",
    (0x8086, 0x9bc5): "CometLake-S GT2 [UHD Graphics 630]",
    (0x8086, 0x06d2): "Comet Lake SATA AHCI Controller",
    (0x8086, 0x2020): "Sky Lake-E DMI3 Registers",
    (0x8086, 0x2030): "Sky Lake-E PCI Express Root Port A",
    (0x8086, 0x2031): "Sky Lake-E PCI Express Root Port B",
    (0x8086, 0x1572): "Ethernet Controller X710 for 10GbE SFP+",
    (0x8086, 0x154c): "Ethernet Virtual Function 700 Series",
    (0x8086, 0x0a54): "NVMe Datacenter SSD [3DNAND, Beta Rock Controller]",
    (0x8086, 0x3e30): "8th/9th Gen Core 8-core Desktop Processor Host Bridge/DRAM Registers [Coffee Lake S]",
    (0x8086, 0xa338): "Cannon Lake PCH PCI Express Root Port #1",
    (0x8086, 0xa33c): "Cannon Lake PCH PCI Express Root Port #5",
    (0x8086, 0xa330): "Cannon Lake PCH PCI Express Root Port #9",
    (0x8086, 0x1533): "I210 Gigabit Network Connection",
    (0x8086, 0xa145): "Z170 Chipset LPC/eSPI Controller",
    (0x8086, 0x8d10): "C610/X99 series chipset PCI Express Root Port #1",
    (0x8086, 0x8d44): "C610/X99 series chipset LPC Controller",
    (0x8086, 0x8d62): "C610/X99 series chipset sSATA Controller [AHCI mode]",
    (0x14e4, 0x1657): "NetXtreme BCM5719 Gigabit Ethernet PCIe",
    (0x10de, 0x2204): "GA102 [GeForce RTX 3090]",
    (0x10de, 0x1aef): "GA102 High Definition Audio Controller",
    (0x15b3, 0x101b): "MT28908 Family [ConnectX-6]",
    (0x1b21, 0x1080): "ASM1083/1085 PCIe to PCI Bridge",
    (0x1b21, 0x1242): "ASM1142 USB 3.1 Host Controller",
    (0x14f1, 0x8800): "CX23880/1/2/3 PCI Video and Audio Decoder",
    (0x104c, 0x8023): "TSB43AB22A IEEE-1394a-2000 Controller (PHY/Link) [iOHCI-Lynx]",
    (0x144d, 0xa808): "NVMe SSD Controller SM981/PM981/PM983",
    (0x19e5, 0xa120): "HiSilicon PCIe Root Port with Gen4",
    (0x19e5, 0xa222): "HNS GE/10GE/25GE RDMA Network Controller",
}


class PciIds:
    """The parsed database: vendors, devices, classes (base, sub) and prog-ifs."""

    def __init__(self, source, vendors, devices, base_classes, classes, prog_ifs):
        self.source = source                # the file read, or None for the built-in table
        self.vendors, self.devices = vendors, devices
        self.base_classes, self.classes, self.prog_ifs = base_classes, classes, prog_ifs


def builtin():
    return PciIds(None, VENDORS, DEVICES, BASE_CLASSES, CLASSES, PROG_IFS)


def parse(lines, source=None):
    """pci.ids text: vendor lines, tab-indented devices (two tabs: subsystems, skipped), then
    'C cc  name' class lines with tab-indented subclasses and two-tab prog-ifs."""
    vendors, devices, bases, classes, progifs = {}, {}, {}, {}, {}
    vendor = cls = sub = None
    in_classes = False
    for line in lines:
        if not line.strip() or line[0] == "#":
            continue
        depth = len(line) - len(line.lstrip("\t"))
        head, _, name = line.strip().partition(" ")
        name = name.strip()
        try:
            if depth == 0:
                in_classes = head == "C"
                if in_classes:
                    code, _, name = name.partition(" ")
                    cls = int(code, 16)
                    bases[cls] = name.strip()
                elif len(head) == 4:
                    vendor = int(head, 16)
                    vendors[vendor] = name
                else:
                    vendor = None            # device-class lists after the classes (e.g. "X")
            elif depth == 1 and in_classes:
                sub = (cls << 8) | int(head, 16)
                classes[sub] = name
            elif depth == 1 and vendor is not None:
                devices[(vendor, int(head, 16))] = name
            elif depth == 2 and in_classes:
                progifs[(sub, int(head, 16))] = name
        except ValueError:
            continue
    return PciIds(source, vendors, devices, bases, classes, progifs)


def find_file():
    """The pci.ids lspci would read: $IOMMULAB_PCI_IDS if set, else the first that exists."""
    path = os.environ.get(ENV)
    if path is not None:
        return path if os.path.isfile(path) else None
    return next((p for p in PCI_IDS_PATHS if os.path.isfile(p)), None)


_cache = {}


def database(path=...):
    """The database for `path` (default: find_file()), parsed once per path; None → built in."""
    if path is ...:
        path = find_file()
    db = _cache.get(path)
    if db is None:
        if path is None:
            db = builtin()
        else:
            with open(path, encoding="utf-8", errors="replace") as f:
                db = parse(f, path)
        _cache[path] = db
    return db


def class_name(code, db=None):
    """A 24-bit class code (0x030000) or 16-bit (0x0300) → lspci's class name; a class known
    only by its base class prints as pciutils does, with the number ("Bridge [0680]")."""
    db = db or database()
    cc = code >> 8 if code > 0xFFFF else code
    name = db.classes.get(cc)
    if name is not None:
        return name
    base = db.base_classes.get(cc >> 8)
    return f"{base} [{cc:04x}]" if base else f"Class {cc:04x}"


def prog_if_name(code, db=None):
    """The prog-if name of a 24-bit class code, or None."""
    db = db or database()
    return db.prog_ifs.get((code >> 8, code & 0xFF)) if code > 0xFFFF else None


def vendor_name(vendor, db=None):
    return (db or database()).vendors.get(vendor)


def device_name(vendor, device, db=None):
    return (db or database()).devices.get((vendor, device))
