"""User-space API constants (include/uapi/linux/vfio.h, iommufd.h)."""
from .kernel.vfio import VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_VIABLE
from .kernel.devnodes import IOCTL_NAMES, VFIO_API_VERSION
from .kernel.vfio_container import IOMMU_TYPES

VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU = IOMMU_TYPES

__all__ = ["VFIO_GROUP_FLAGS_VIABLE", "VFIO_GROUP_FLAGS_CONTAINER_SET", "VFIO_API_VERSION",
           "VFIO_TYPE1_IOMMU", "VFIO_TYPE1v2_IOMMU", "IOCTL_NAMES"]
