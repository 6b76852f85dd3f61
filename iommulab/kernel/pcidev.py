"""What names a PCI function and what kind of function it is, declared once for the kernel, the
scenario loader, the Builder, the host importer, lspci and the views.

A PCI device's name is pci_setup_device()'s dev_set_name(dev, "%04x:%02x:%02x.%d", domain, bus,
PCI_SLOT(devfn), PCI_FUNC(devfn)) (drivers/pci/probe.c, include/uapi/linux/pci.h): lower-case hex,
a 5-bit slot (00-1f) and a 3-bit function (0-7). "%04x" is a minimum width: the domains Intel's
VMD creates for the devices behind it start at 0x10000 (drivers/pci/controller/vmd.c), five digits.
A scenario's `kind` is the PCIe device/port type (pci_pcie_type(), PCI_EXP_TYPE_* in
include/uapi/linux/pci_regs.h) or conventional PCI, which has no PCIe capability.
"""
import re

# The shape of an address as written: domain, bus, slot and function in hex.
_FIELDS = r"([0-9a-fA-F]{4}|[1-9a-fA-F][0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])"
_FIELDS_RE = re.compile(_FIELDS)
_SHORT_RE = re.compile(r"(?:([0-9a-fA-F]{4}|[1-9a-fA-F][0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])")
# lspci's address, domain optional ("01:00.0" or "0000:01:00.0"), for building line patterns.
LSPCI_ADDRESS = r"(?:(?:[0-9a-fA-F]{4}|[1-9a-fA-F][0-9a-fA-F]{4}):)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"

PCI_SLOTS, PCI_FUNCS = 32, 8


def bdf_fields(text):
    """(domain, bus, slot, function) of anything shaped "dddd:bb:ss.f" in lower-case hex, in
    range or not (the caller says what is wrong), or None."""
    m = _FIELDS_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None or text != text.lower():
        return None
    return tuple(int(x, 16) for x in m.groups())


def parse_bdf(name):
    """A device name the kernel gives: '0000:01:00.1' → (0, 1, 0, 1); None for anything else."""
    t = bdf_fields(name)
    return t if t is not None and t[2] < PCI_SLOTS and t[3] < PCI_FUNCS else None


def parse_lspci_address(text):
    """An address as lspci or a learner writes it: the domain optional ("01:00.0" is domain 0),
    any case → (domain, bus, slot, function), or None."""
    m = _SHORT_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    dom, bus, slot, fn = m.groups()
    return int(dom or "0", 16), int(bus, 16), int(slot, 16), int(fn, 16)


def bdf_name(domain, bus, slot, fn):
    """The kernel's name for an address: "%04x:%02x:%02x.%d"."""
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{fn}"


def device_name(devices, text):
    """The name in `devices` that a learner's text means: the name itself (any bus), or a PCI
    address as lspci writes it ("01:00.0"); None if there is no such device."""
    if text in devices:
        return text
    a = parse_lspci_address(text)
    name = bdf_name(*a) if a is not None else None
    return name if name in devices else None


# --- kinds -------------------------------------------------------------------------------------

ENDPOINT_KINDS = ("endpoint", "conventional")
# PCIe ports (PCI_EXP_TYPE_ROOT_PORT, _DOWNSTREAM, _UPSTREAM): portdrv's pcieport binds them.
PORT_KINDS = ("root-port", "downstream-port", "upstream-port")
# pcie_downstream_port() (drivers/pci/pci.h): a port with a link below it, where ACS is read.
DOWNSTREAM_PORT_KINDS = ("root-port", "downstream-port")
# Bridges to a conventional PCI bus (PCI_EXP_TYPE_PCI_BRIDGE, and a conventional PCI-to-PCI one).
PCI_BRIDGE_KINDS = ("pcie-to-pci-bridge", "pci-bridge")
BRIDGE_KINDS = PORT_KINDS + PCI_BRIDGE_KINDS
DEVICE_KINDS = ENDPOINT_KINDS + BRIDGE_KINDS
# No PCIe capability (pci_is_pcie() false): conventional PCI functions and PCI-to-PCI bridges.
CONVENTIONAL_KINDS = ("conventional", "pci-bridge")
# Each kind in a learner's words ("the root port 0000:00:1c.0"), for explanations and errors.
KIND_WORDS = {"root-port": "root port", "downstream-port": "switch downstream port",
              "upstream-port": "switch upstream port", "pcie-to-pci-bridge": "PCIe-to-PCI bridge",
              "pci-bridge": "PCI-to-PCI bridge", "conventional": "conventional PCI device", "endpoint": "device"}
