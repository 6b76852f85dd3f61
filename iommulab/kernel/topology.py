"""Which group a new device joins (the IOMMU driver's device_group(), ../shared/spec/
kernel-ownership.md §8). An explicit `group = N` in the scenario wins; otherwise platform
devices sharing a stream ID share a group (arm_smmu_device_group) and everything else gets a
new group (generic_device_group). The PCI rules (ACS, aliases, multifunction) come with the
topology issue."""


def device_group(k, dev):
    if dev.explicit_group is not None:
        g = k.iommu_groups.get(dev.explicit_group)
        return g if g is not None else k.new_group(dev.explicit_group)
    if dev.streamid is not None:
        for other in k.devices.values():
            if other is not dev and other.streamid == dev.streamid and other.iommu_group is not None:
                return other.iommu_group
    return k.new_group()
