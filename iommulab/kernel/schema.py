"""Every key a scenario file may hold (../shared/spec/api.md §1): its name, type, default and
meaning, declared once.

The loader (scenario.py) checks keys and types against it, the devices and drivers (device.py)
take their defaults from it, the writer (iommulab/scenario_file.py) writes the hex keys in hex,
the Builder and the host importer read defaults and key order from it, and the README's key table
is generated from it (readme_table(); tests/test_schema.py checks that the README has it).
"""
from dataclasses import dataclass

from .version import NEWEST

QEMU_NEWEST = "10.1"          # the newest QEMU modelled


@dataclass(frozen=True)
class Rule:
    """A default that depends on other keys; `text` says how (the README shows it)."""
    text: str


REQUIRED = Rule("required")
NOT_CHECKED = Rule("not checked")


@dataclass(frozen=True)
class Key:
    """One key: `hex` > 0 means it is written in hex with at least that many digits, as hardware
    documentation writes it; `extension` marks an iommulab addition beyond api.md's format."""
    name: str
    type: type
    default: object
    doc: str
    hex: int = 0
    extension: bool = False


TOP = (
    Key("title", str, "", "the machine's name, shown in the lab"),
    Key("description", str, "", "what the machine shows, in Markdown (shown in the lab)"),
    Key("kernel", dict, Rule("see [kernel]"), "the kernel that boots"),
    Key("driver", list, (), "drivers besides the built-in ones: [[driver]] tables"),
    Key("device", list, (), "the devices: [[device]] tables"),
    Key("expect", dict, NOT_CHECKED, "what the booted machine must show (a scenario's smoke check)",
        extension=True),
    Key("qemu", dict, Rule("see [qemu]"), "the QEMU the shell's qemu-system-* runs", extension=True),
)

KERNEL = (
    Key("version", str, NEWEST, '"X.Y" or "X.Y.Z" from 5.18 on, or "rfc-2021-11" (the unmerged first design)'),
    Key("config", dict, Rule("CONFIG_IOMMUFD from 6.2, CONFIG_VFIO_DEVICE_CDEV from 6.6, CONFIG_IOMMU_DMA and "
                             "CONFIG_VFIO_NOIOMMU on; CONFIG_DEBUG_TEST_DRIVER_REMOVE and "
                             "CONFIG_IOMMUFD_VFIO_CONTAINER off"),
        "Kconfig symbols, true or false"),
    Key("cmdline", str, "", "kernel parameters, such as iommu.strict=1 vfio-pci.ids=10de:2204"),
    Key("msi_isolation", bool, True, "the platform remaps interrupts (iommufd's MSI isolation check)"),
    Key("reverted", list, (), "commits the kernel was built without (a developer's revert), such as "
        '["f429378a9bf8"]: the self-test path\'s dma_cleanup() fix', extension=True),
    Key("arch", str, "x86_64", "the machine's architecture: x86_64 or arm64", extension=True),
    Key("iommu_driver", str, Rule("the architecture's first: intel on x86_64, arm-smmu-v3 on arm64"),
        "the IOMMU driver: intel, amd, arm-smmu-v3 or arm-smmu", extension=True),
)

QEMU = (
    Key("version", str, QEMU_NEWEST, '"X.Y" or "X.Y.Z" from 7.0 on: whose messages qemu-system-* prints',
        extension=True),
)

DRIVER = (
    Key("name", str, REQUIRED, "the driver's name (not a built-in driver's)"),
    Key("bus", str, "pci", "pci, platform, amba, fsl-mc, cdx, usb, i2c, spi or virtio"),
    Key("ids", list, (), 'vendor:device in hex, "*" for either (pci), or compatible strings (platform)'),
    Key("driver_managed_dma", bool, False, "the driver does not use the kernel DMA API (VFIO does that)"),
    Key("suppress_bind_attrs", bool, False, "no bind/unbind files in sysfs"),
    Key("probe", int, 0, "what probe() returns: 0, or a negative errno such as -19"),
    Key("sriov_configure", bool, False, "the driver supports sriov_numvfs", extension=True),
)

DEVICE = (
    Key("name", str, REQUIRED, "PCI: domain:bus:device.function (0000:01:00.1); platform: a node name "
        "(ethernet@ff0c0000)"),
    Key("bus", str, "pci", "the device's bus, as for drivers"),
    Key("id", str, "", "vendor:device in hex (pci), a compatible string (platform)"),
    Key("group", int, Rule("from the topology rules"), "an explicit IOMMU group number: every device "
        "behind an IOMMU has one, or none does"),
    Key("driver", str, Rule("the first matching driver"), "the driver boot probes it with"),
    Key("present", bool, True, "false: it appears only after a rescan (hotplug)"),
    Key("parent", str, Rule("the root bus"), "the bridge or port above it"),
    Key("kind", str, "endpoint", "endpoint, conventional, root-port, downstream-port, upstream-port, "
        "pcie-to-pci-bridge or pci-bridge"),
    Key("multifunction", bool, False, "the header's multifunction bit (a slot listing several functions "
        "has it anyway; false on its function 0 is refused)"),
    Key("acs", bool, True, "has ACS with the isolation flags Linux requires"),
    Key("untrusted", bool, False, "behind an external-facing port (forces DMA domains)"),
    Key("require_direct", bool, False, "the firmware demands a 1:1 mapping (a non-relaxable RMRR, an RMR)"),
    Key("streamid", int, None, "platform devices sharing a stream ID share a group", hex=3),
    Key("iommu", bool, Rule("true on pci, fsl-mc and cdx, or with a streamid or group"),
        "false: the device sits behind no IOMMU", extension=True),
    Key("default_domain", bool, True, "false: its IOMMU driver offers no default domain (type reads unknown)",
        extension=True),
    Key("max_pasids", int, 1 << 20, "the PASIDs the device supports", extension=True),
    Key("class", int, Rule("0x060400 for ports and bridges, else 0"), "the PCI class code", hex=6,
        extension=True),
    Key("vendor_name", str, Rule("from pci.ids"), "the vendor's name lspci prints", extension=True),
    Key("device_name", str, Rule("from pci.ids"), "the device's name lspci prints", extension=True),
    Key("revision", int, None, "the revision lspci prints as (rev a1)", hex=2, extension=True),
    Key("dma_alias", list, (), "quirk DMA aliases: PCI addresses on the same bus", extension=True),
    Key("sriov_totalvfs", int, 0, "an SR-IOV physical function's TotalVFs", extension=True),
    Key("vf_id", str, None, "its virtual functions' vendor:device", extension=True),
    Key("vf_offset", int, 16, "First VF Offset (routing IDs after the PF's)", extension=True),
    Key("vf_stride", int, 1, "VF Stride", extension=True),
    Key("physfn", str, None, "a virtual function enabled at boot: its physical function", extension=True),
)

EXPECT = (
    Key("groups", int, NOT_CHECKED, "how many IOMMU groups", extension=True),
    Key("members", dict, NOT_CHECKED, "group number = the names of its devices, in order", extension=True),
    Key("owner_cnt", dict, NOT_CHECKED, "group number = its owner_cnt", extension=True),
    Key("drivers", dict, NOT_CHECKED, 'device name = the driver bound to it ("": none)', extension=True),
)

# (the README's heading, the keys): in the order a scenario file is written
SECTIONS = (("top level", TOP), ("[kernel]", KERNEL), ("[qemu]", QEMU), ("[[driver]]", DRIVER),
            ("[[device]]", DEVICE), ("[expect]", EXPECT))
FILE_ORDER = ("title", "description", "kernel", "qemu", "driver", "device", "expect")


def types(keys):
    """{name: type}, in declaration order (the loader's key check)."""
    return {k.name: k.type for k in keys}


def defaults(keys):
    """{name: default} of the keys whose default is a value (None: absent)."""
    return {k.name: k.default for k in keys if not isinstance(k.default, Rule)}


HEX_DIGITS = {k.name: k.hex for _, keys in SECTIONS for k in keys if k.hex}

DEVICE_DEFAULTS = defaults(DEVICE)
DRIVER_DEFAULTS = defaults(DRIVER)
KERNEL_DEFAULTS = defaults(KERNEL)


def in_order(entry, keys):
    """The entry's keys in declaration order (unknown keys last, as given)."""
    rank = {k.name: i for i, k in enumerate(keys)}
    return dict(sorted(entry.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def _shown(k):
    d = k.default
    if isinstance(d, Rule):
        return d.text
    if d is None:
        return "none"
    if isinstance(d, bool):
        return f"`{'true' if d else 'false'}`"
    if isinstance(d, int) and k.hex:
        return f"`0x{d:0{k.hex}x}`"
    if isinstance(d, int):
        return "`2^20`" if d == 1 << 20 else f"`{d}`"
    if isinstance(d, tuple):
        return "`[]`"
    return f'`"{d}"`'


_TYPE_WORDS = {str: "string", bool: "boolean", int: "integer", list: "array", dict: "table"}


def readme_table():
    """The README's key table (Markdown), one table per section."""
    out = []
    for title, keys in SECTIONS:
        out += [f"**{title}**", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for k in keys:
            kind = _TYPE_WORDS[k.type] + (", hex" if k.hex else "")
            doc = k.doc + (" *(iommulab)*" if k.extension else "")
            out.append(f"| `{k.name}` | {kind} | {_shown(k)} | {doc} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"

