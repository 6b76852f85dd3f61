"""Which IOMMU group a new device joins: the IOMMU driver's device_group() callbacks
(../shared/spec/kernel-ownership.md §8).

pci_device_group() and its helpers mirror drivers/iommu/iommu.c with pci_for_each_dma_alias()
and pci_acs_enabled() from drivers/pci/search.c and drivers/pci/pci.c; platform and amba devices
sharing a stream ID share a group (arm_smmu_device_group); fsl-mc objects share their container's
group (fsl_mc_device_group); cdx and everything else get one each (generic_device_group). Each
bus module of kernel/bus/ names its rule as its device_group op; device_group() below asks it.
An explicit `group = N` in the scenario decides instead of all of these.
"""

from .pcidev import CONVENTIONAL_KINDS, DOWNSTREAM_PORT_KINDS, PORT_KINDS

# --- PCI topology facts ------------------------------------------------------------------------

def upstream_bridge(k, dev):
    """bus->self: the bridge above the device's bus, or None on a root bus."""
    return k.devices.get(dev.parent) if dev.parent else None


def is_pcie(dev):
    return dev.kind not in CONVENTIONAL_KINDS


def bus_devices(k, dev):
    """The devices on dev's PCI bus (k.pci_bus_index keeps them per domain:bus)."""
    return [d for d in k.pci_bus_index.get(dev.bdf[:2], ()) if d.parent == dev.parent]


def is_multifunction(k, dev):
    """pdev->multifunction: the header says so (any function of the slot that declares it, or
    more than one function present). Virtual functions never are."""
    if dev.physfn is not None:
        return False
    if dev.multifunction:
        return True
    slot = dev.bdf[2]
    return any(o is not dev and o.physfn is None and o.bdf[2] == slot for o in bus_devices(k, dev))


def pci_acs_enabled(k, dev):
    """pci_acs_enabled(dev, REQ_ACS_FLAGS): the scenario's `acs` stands for "the capability has
    SV, RR, CR and UF" (or a device-specific quirk saying so)."""
    if not is_pcie(dev) or dev.kind == "pcie-to-pci-bridge":
        return False
    if dev.kind in DOWNSTREAM_PORT_KINDS:
        return dev.acs
    if is_multifunction(k, dev):
        return dev.acs
    return True


def first_without_acs(k, start):
    """The first device from `start` up to the root bus that lacks ACS, or None."""
    dev = start
    while dev is not None:
        if not pci_acs_enabled(k, dev):
            return dev
        dev = upstream_bridge(k, dev)
    return None


def pci_acs_path_enabled(k, start):
    """Every bridge from `start` up to the root bus has ACS."""
    return first_without_acs(k, start) is None


def pci_for_each_dma_alias(k, dev):
    """The devices whose requester IDs the IOMMU may see for dev's DMA, in the kernel's order: the
    device (and its quirk aliases), then upstream: PCIe ports are transparent, a PCIe-to-PCI
    bridge takes over with (secondary bus, 00.0), a conventional bridge with its own ID."""
    yield dev
    bridge = upstream_bridge(k, dev)
    while bridge is not None:
        if bridge.kind not in PORT_KINDS:
            yield bridge
        bridge = upstream_bridge(k, bridge)


def pci_devs_are_dma_aliases(a, b):
    return b.name in a.dma_alias or a.name in b.dma_alias


# --- the group helpers of drivers/iommu/iommu.c ------------------------------------------------

def _current(dev):
    return dev.iommu_group


def get_pci_alias_group(k, dev, seen, group_of=_current):
    if dev.name in seen:
        return None
    seen.add(dev.name)
    if group_of(dev) is not None:
        return group_of(dev)
    peers = bus_devices(k, dev)
    if not dev.dma_alias and not any(o.dma_alias for o in peers):
        return None                                     # no quirk aliases on this bus
    for other in peers:
        if other is dev:
            continue
        if pci_devs_are_dma_aliases(dev, other):
            g = get_pci_alias_group(k, other, seen, group_of)
            if g is None:
                found = get_pci_function_alias_group(k, other, seen, group_of)
                g = found[0] if found else None
            if g is not None:
                return g
    return None


def get_pci_function_alias_group(k, dev, seen, group_of=_current):
    """Functions of a multifunction slot without ACS isolation share a group."""
    if not is_multifunction(k, dev) or pci_acs_enabled(k, dev):
        return None
    slot = dev.bdf[:3]
    for other in bus_devices(k, dev):
        if other is dev or other.bdf[:3] != slot or pci_acs_enabled(k, other):
            continue
        g = get_pci_alias_group(k, other, seen, group_of)
        if g is not None:
            return g, other
    return None


def pci_device_group(k, dev, group_of=_current):
    """The group a PCI device joins and why: (group or None for a new one, (rule, device)).
    `group_of(d)` says which group a device already has (explain_group() asks "as at d's arrival")."""
    # 1. DMA aliases: the first alias that already has a group decides.
    last = dev
    for alias in pci_for_each_dma_alias(k, dev):
        last = alias
        if group_of(alias) is not None:
            return group_of(alias), ("dma-alias", alias.name)
    pdev = last
    # 2. Up towards the root: stop at the first bridge whose path to the root has ACS; a bridge
    #    without that isolation pulls everything below it into its group.
    bridge = upstream_bridge(k, pdev)
    while bridge is not None:
        if pci_acs_path_enabled(k, bridge):
            break
        pdev = bridge
        if group_of(pdev) is not None:
            return group_of(pdev), ("no-acs-above", pdev.name)
        bridge = upstream_bridge(k, bridge)
    # 3. Quirk DMA aliases on the same bus, 4. functions of a multifunction slot without ACS.
    seen = set()
    g = get_pci_alias_group(k, pdev, seen, group_of)
    if g is not None:
        return g, ("quirk-alias", pdev.name)
    found = get_pci_function_alias_group(k, pdev, seen, group_of)
    if found is not None:
        return found[0], ("multifunction", found[1].name)
    return None, ("own", pdev.name)


def device_group(k, dev):
    """The IommuGroup a newly added device joins (creating it if needed): the scenario's group,
    else the bus's device_group op (kernel/bus/: pci_device_group, arm_smmu_device_group,
    fsl_mc_device_group, generic_device_group)."""
    if dev.explicit_group is not None:
        g = k.iommu_groups.get(dev.explicit_group)
        return g if g is not None else k.new_group(dev.explicit_group)
    g, _ = dev.bus.ops.device_group(k, dev)
    return g if g is not None else k.new_group()
