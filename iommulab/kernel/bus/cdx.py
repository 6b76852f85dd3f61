"""The CDX bus: cdx_bus_type (drivers/cdx/cdx.c), new in 6.4 (2959ab247061).

6.4's cdx_dma_configure() only configures firmware DMA: no default-domain use and no
cdx_dma_cleanup. 6.5 (vfio-cdx, driver_managed_dma for cdx drivers, cdx_dma_cleanup) makes it
count kernel DMA-API drivers like the other buses, but it returns 0 whatever
iommu_device_use_default_domain() answered: a driver can bind uncounted, and its cleanup then
gives back a count it never took. CDX devices sit behind the SMMU, each with a requester ID of
its own (generic_device_group()).
"""
from ..trace import traced
from .common import dev_group, unuse_default_domain, use_default_domain

NAME = "cdx"
BEHIND_IOMMU = True
DMA_HOOKS = True
HAS_OVERRIDE = True
VFIO_DRIVER = "vfio-cdx"
SINCE = "6.4"


def exists(f):
    """There is no cdx bus before 6.4."""
    return f.cdx_bus


def driver_spec_problem(spec, f):
    """struct cdx_driver's driver_managed_dma arrives in 6.5 with the counting cdx_dma_configure()."""
    if spec.get("driver_managed_dma") and not f.cdx_ownership:
        return "cdx drivers have no driver_managed_dma before Linux 6.5"
    return None


def has_dma_cleanup(f):
    """cdx_dma_cleanup() and the counting cdx_dma_configure() arrive in 6.5."""
    return f.cdx_ownership


@traced(dev_group)
def cdx_dma_configure(dev):
    """cdx_dma_configure(): firmware DMA setup, then (6.5+) the default-domain use, whose error
    it drops: it returns 0."""
    use_default_domain(dev)
    return 0


@traced(dev_group)
def cdx_dma_cleanup(dev):
    """cdx_dma_cleanup() (6.5): gives the use back even when configure's use had failed, so it can
    WARN or take someone else's count."""
    unuse_default_domain(dev)


dma_configure, dma_cleanup = cdx_dma_configure, cdx_dma_cleanup
