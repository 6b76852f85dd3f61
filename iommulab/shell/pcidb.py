"""Names lspci prints: PCI class names and a few vendors (from the public pci.ids list)."""

CLASSES = {
    0x0000: "Non-VGA unclassified device", 0x0100: "SCSI storage controller", 0x0101: "IDE interface",
    0x0104: "RAID bus controller", 0x0106: "SATA controller", 0x0107: "Serial Attached SCSI controller",
    0x0108: "Non-Volatile memory controller", 0x0200: "Ethernet controller", 0x0280: "Network controller",
    0x0300: "VGA compatible controller", 0x0302: "3D controller", 0x0380: "Display controller",
    0x0401: "Multimedia audio controller", 0x0403: "Audio device", 0x0500: "RAM memory",
    0x0580: "Memory controller", 0x0600: "Host bridge", 0x0601: "ISA bridge", 0x0604: "PCI bridge",
    0x0680: "Bridge", 0x0700: "Serial controller", 0x0780: "Communication controller", 0x0806: "IOMMU",
    0x0880: "System peripheral", 0x0c03: "USB controller", 0x0c05: "SMBus", 0x0c80: "Serial bus controller",
    0x1080: "Encryption controller", 0x1180: "Signal processing controller",
    0x1200: "Processing accelerators", 0x1300: "Non-Essential Instrumentation",
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
}


def class_name(code):
    """A 24-bit class code (0x030000) or 16-bit (0x0300) → lspci's class name."""
    cc = code >> 8 if code > 0xFFFF else code
    return CLASSES.get(cc) or CLASSES.get(cc & 0xFF00) or f"Class {cc:04x}"


def vendor_name(vendor):
    return VENDORS.get(vendor, f"Device {vendor:04x}")
