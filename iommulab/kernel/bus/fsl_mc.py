"""The fsl-mc bus: fsl_mc_bus_type (drivers/bus/fsl-mc/fsl-mc-bus.c).

fsl_mc_dma_configure()/fsl_mc_dma_cleanup() (v5.19, 512881eacfa7) count like PCI's. Every
object sits behind the SMMU with its container's ICID, so fsl_mc_device_group()
(drivers/iommu/iommu.c) puts an object in its DPRC container's group; a DPRC is its own
container (fsl_mc_cont_dev()) and starts a group.
"""
from ..trace import traced
from .common import current_group, dev_group, unuse_default_domain, use_default_domain

NAME = "fsl-mc"
BEHIND_IOMMU = True
DMA_HOOKS = True
HAS_OVERRIDE = True
VFIO_DRIVER = "vfio-fsl-mc"


@traced(dev_group)
def fsl_mc_dma_configure(dev):
    """fsl_mc_dma_configure(): of_dma_configure_id() with the container's ICID, then the
    default-domain use of a kernel DMA-API driver."""
    return use_default_domain(dev)


@traced(dev_group)
def fsl_mc_dma_cleanup(dev):
    """fsl_mc_dma_cleanup() (v5.19): give the driver's default-domain use back."""
    unuse_default_domain(dev)


def is_fsl_mc_dprc(dev):
    return dev.id == "dprc" or dev.name.startswith("dprc.")


def fsl_mc_device_group(k, dev, group_of=current_group):
    """fsl_mc_device_group(): the container's group. (group or None, reason): ("dprc", name)
    for a container, ("container", parent) for an object."""
    if is_fsl_mc_dprc(dev):
        return None, ("dprc", dev.name)
    container = k.devices.get(dev.parent) if dev.parent is not None else None
    group = group_of(container) if container is not None else None
    return group, ("container", dev.parent)


dma_configure, dma_cleanup = fsl_mc_dma_configure, fsl_mc_dma_cleanup
device_group = fsl_mc_device_group
