"""The AMBA bus: amba_bustype (drivers/amba/bus.c).

amba_dma_configure()/amba_dma_cleanup() (v5.19, 512881eacfa7) count like the platform bus's;
AMBA primecells sit behind an SMMU by stream ID like platform devices and are grouped by the
same arm_smmu_device_group(); sysfs shows them under /sys/devices/platform.
"""
from ..trace import traced
from .common import dev_group, unuse_default_domain, use_default_domain
from .platform import arm_smmu_device_group

NAME = "amba"
DMA_HOOKS = True
HAS_OVERRIDE = True
VFIO_DRIVER = "vfio-amba"
DEVICES_DIR = "platform"


@traced(dev_group)
def amba_dma_configure(dev):
    """amba_dma_configure(): of_dma_configure(), then the default-domain use of a kernel
    DMA-API driver."""
    return use_default_domain(dev)


@traced(dev_group)
def amba_dma_cleanup(dev):
    """amba_dma_cleanup() (v5.19): give the driver's default-domain use back."""
    unuse_default_domain(dev)


dma_configure, dma_cleanup = amba_dma_configure, amba_dma_cleanup
device_group = arm_smmu_device_group
