"""Why a device is in its IOMMU group, rule by rule, in plain words: explain_group(k, device).

It replays the IOMMU layer's decision as it was when the device arrived (devices that reach the
IOMMU layer later have no group yet), with the same code that made it (topology.py)."""
from .kernel import enumeration_order
from .topology import (first_without_acs, is_fsl_mc_dprc, is_multifunction, pci_acs_enabled,
                       pci_device_group, upstream_bridge)

PORT_WORDS = {"root-port": "root port", "downstream-port": "switch downstream port",
              "upstream-port": "switch upstream port", "pcie-to-pci-bridge": "PCIe-to-PCI bridge",
              "pci-bridge": "PCI-to-PCI bridge", "conventional": "conventional PCI device", "endpoint": "device"}


def _word(dev):
    return PORT_WORDS.get(dev.kind, "device")


def _arrival(k):
    order = {d.name: i for i, d in enumerate(enumeration_order(list(k.devices.values())))}
    return order


def why(k, dev, order=None):
    """One sentence: why `dev` joined the group it is in (or why it started one)."""
    g = dev.iommu_group
    if g is None:
        return f"{dev.name} has no IOMMU group: it is not behind an IOMMU, so its DMA is not translated"
    n = g.id
    if dev.explicit_group is not None:
        return f"{dev.name} is in group {n} because the scenario says so (group = {n})"
    order = order or _arrival(k)
    me = order[dev.name]
    bus = dev.bus.name
    if bus in ("platform", "amba"):
        first = next((d for d in g.devices if order.get(d.name, me) < me), None)
        if first is not None and dev.streamid is not None:
            return (f"{dev.name} joins {first.name} in group {n}: they share SMMU stream ID "
                    f"{dev.streamid:#x}, so the IOMMU cannot tell their DMA apart")
        return f"{dev.name} starts group {n}: no device that came before it shares its stream ID"
    if bus == "fsl-mc":
        if is_fsl_mc_dprc(dev):
            return f"{dev.name} starts group {n}: a DPRC container has an ICID of its own"
        return f"{dev.name} shares group {n} with its container {dev.parent}: objects use their container's ICID"
    if bus != "pci":
        return f"{dev.name} starts group {n}: each {bus} device has a requester ID of its own"

    def group_of(d):
        return d.iommu_group if order.get(d.name, me + 1) < me else None
    joined, (rule, other) = pci_device_group(k, dev, group_of)
    o = k.devices.get(other)
    if joined is None:
        return _starts(k, dev, n)
    if rule == "dma-alias":
        return (f"{dev.name} shares group {n} with {o.name}: behind the {_word(o)} {o.name} the IOMMU "
                f"sees {o.name}'s requester ID for its DMA, not its own")
    if rule == "no-acs-above":
        culprit = first_without_acs(k, o) or o
        place = f"{_word(culprit)} {culprit.name} has no ACS"
        if culprit is not o:
            place += f" (above {_word(o)} {o.name})"
        return f"{dev.name} shares group {n} with {o.name} because {place}, so everything below it is one group"
    if rule == "multifunction":
        return (f"{dev.name} joins {o.name} in group {n}: they are functions of one multifunction device "
                f"without ACS, which may talk to each other without the IOMMU seeing it")
    if rule == "quirk-alias":
        return f"{dev.name} joins group {n}: a quirk says it uses another function's requester ID ({', '.join(dev.dma_alias) or o.name})"
    return f"{dev.name} is in group {n}"


def _starts(k, dev, n):
    """Why a PCI device got a new group, and what that means for devices after it."""
    above = upstream_bridge(k, dev)
    where = ("it sits on the root bus" if above is None
             else "every port above it up to the root has ACS, so the IOMMU can tell its DMA apart")
    notes = []
    if is_multifunction(k, dev) and not pci_acs_enabled(k, dev):
        notes.append("it is the first function of a multifunction device without ACS: its other functions join it")
    if dev.kind in ("root-port", "downstream-port") and not dev.acs:
        notes.append(f"this {_word(dev)} has no ACS itself, so everything below it will join its group")
    if dev.kind in ("pcie-to-pci-bridge", "pci-bridge"):
        notes.append("devices behind this bridge use its requester ID, so they will join its group")
    return f"{dev.name} starts group {n}: {where}" + "".join(f"; {x}" for x in notes)


def explain_group(k, device):
    """The chain of reasons for a device's group: the device's own, then each other member's."""
    dev = k.devices[device] if isinstance(device, str) else device
    order = _arrival(k)
    lines = [why(k, dev, order)]
    if dev.iommu_group is not None:
        for other in dev.iommu_group.devices:
            if other is not dev:
                lines.append(why(k, other, order))
    return lines
