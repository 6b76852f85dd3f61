"""The unmerged first design (Lu Baolu's RFC of 15 Nov 2021, seed 002): a per-group tri-state
DMA owner set through a per-device interface. ../shared/spec/kernel-ownership.md §9.2.

Kernels booted with version = "rfc-2021-11" use this instead of owner/owner_cnt: the driver core
claims DMA_OWNER_KERNEL in really_probe() before its re_probe label (so the later test_remove leak
cannot happen) and VFIO claims DMA_OWNER_USER with the container's file for each of its devices.
"""
from typing import TYPE_CHECKING

from .errno import EBUSY, EINVAL, ENODEV, EPERM
from .reasons import refuse
from .trace import traced

if TYPE_CHECKING:
    from .device import Device

DMA_OWNER_NONE = "DMA_OWNER_NONE"
DMA_OWNER_KERNEL = "DMA_OWNER_KERNEL"
DMA_OWNER_USER = "DMA_OWNER_USER"
_MODES = (DMA_OWNER_KERNEL, DMA_OWNER_USER)


def driver_claims_kernel_owner(drv):
    """The RFC's really_probe() claims DMA_OWNER_KERNEL for every driver that uses the kernel DMA
    API, whatever its bus (drivers managing DMA themselves set the flag and skip it)."""
    return not drv.driver_managed_dma


def _grp(dev, *_):
    return dev.iommu_group


def _warn(k, func):
    k.warn("drivers/iommu/iommu.c", func)


@traced(_grp)
def iommu_device_set_dma_owner(dev: "Device", mode: str, user_file: object) -> int:
    """0, or -EBUSY (the group is in the other mode), -EINVAL (USER without a file), -EPERM
    (USER with another file than the group's), -ENODEV (USER for a device without a group)."""
    k = dev.k
    if mode not in _MODES:
        return refuse(k, EINVAL, "bad-value", device=dev, value=mode)
    group = dev.iommu_group
    if group is None:
        return 0 if mode == DMA_OWNER_KERNEL else refuse(k, ENODEV, "no-group", device=dev)
    if mode == DMA_OWNER_USER and user_file is None:
        return refuse(k, EINVAL, "null-owner", group=group, device=dev)
    if group.dma_owner != DMA_OWNER_NONE:
        if group.dma_owner != mode:
            return refuse(k, EBUSY, "dma-owner-mode", group=group, device=dev, mode=mode,
                          dma_owner=group.dma_owner, owner_cnt=group.owner_cnt)
        if mode == DMA_OWNER_USER and group.owner_user_file is not user_file:
            return refuse(k, EPERM, "dma-owner-file", group=group, device=dev, owner=group.owner_user_file)
        group.owner_cnt += 1
        return 0
    group.dma_owner = mode
    group.owner_user_file = user_file if mode == DMA_OWNER_USER else None
    group.owner_cnt = 1
    return 0


@traced(_grp, op="release")
def iommu_device_release_dma_owner(dev: "Device", mode: str) -> None:
    group = dev.iommu_group
    if group is None:
        return None
    if group.dma_owner != mode or group.owner_cnt == 0:
        _warn(dev.k, "iommu_device_release_dma_owner")
        return None
    group.owner_cnt -= 1
    if group.owner_cnt == 0:
        group.dma_owner = DMA_OWNER_NONE
        group.owner_user_file = None
    return None


def vfio_set_user_owner(vg, container):
    """The RFC's VFIO side: every VFIO device of the group becomes user-owned, or none does."""
    done = []
    for vdev in vg.devices:
        rc = iommu_device_set_dma_owner(vdev.dev, DMA_OWNER_USER, container)
        if rc:
            for d in done:
                iommu_device_release_dma_owner(d, DMA_OWNER_USER)
            return rc
        done.append(vdev.dev)
    return 0


def vfio_release_user_owner(vg):
    g = vg.iommu_group
    if g is None:
        return
    while g.dma_owner == DMA_OWNER_USER and g.owner_cnt:
        iommu_device_release_dma_owner(vg.devices[0].dev if vg.devices else g.devices[0],
                                       DMA_OWNER_USER)
