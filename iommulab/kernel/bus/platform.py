"""The platform bus: platform_bus_type (drivers/base/platform.c).

platform_match() (driver_override, then the id table), platform_dma_configure() and
platform_dma_cleanup() (v5.19, 512881eacfa7). Platform devices sit behind an SMMU only when
firmware gives them a stream ID (iommus = <...>), and the SMMU driver's device_group
(arm_smmu_device_group(), drivers/iommu/arm/arm-smmu/arm-smmu.c) puts devices whose stream
IDs match in one group.
"""
from ..trace import traced
from .common import current_group, dev_group, unuse_default_domain, use_default_domain

NAME = "platform"
DMA_HOOKS = True
HAS_OVERRIDE = True          # driver_override (v4.0, 3d713e0e382e)
VFIO_DRIVER = "vfio-platform"
DEVICES_DIR = "platform"


@traced(dev_group)
def platform_dma_configure(dev):
    """platform_dma_configure(): of_dma_configure()/acpi_dma_configure(), then the default-domain
    use of a kernel DMA-API driver."""
    return use_default_domain(dev)


@traced(dev_group)
def platform_dma_cleanup(dev):
    """platform_dma_cleanup() (v5.19): give the driver's default-domain use back."""
    unuse_default_domain(dev)


def arm_smmu_device_group(k, dev, group_of=current_group):
    """arm_smmu_device_group(): a device whose stream ID an earlier device already uses joins
    that device's group; otherwise a new one. (group or None, ("stream-id", other or None)).
    The SMMUv3 driver's device_group gives a non-PCI device a group of its own
    (generic_device_group(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c): ("smmu-v3", None)."""
    if k.iommu_driver == "arm-smmu-v3":
        return None, ("smmu-v3", None)
    if dev.streamid is not None:
        for other in k.devices.values():
            if other is not dev and other.streamid == dev.streamid and group_of(other) is not None:
                return group_of(other), ("stream-id", other.name)
    return None, ("stream-id", None)


dma_configure, dma_cleanup = platform_dma_configure, platform_dma_cleanup
device_group = arm_smmu_device_group
