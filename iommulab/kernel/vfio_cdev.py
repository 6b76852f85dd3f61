"""The VFIO device cdev (/dev/vfio/devices/vfioX, v6.6), after drivers/vfio/device_cdev.c and
the cdev parts of drivers/vfio/group.c and vfio_main.c.

Opening the cdev changes no ownership; VFIO_DEVICE_BIND_IOMMUFD does (through iommufd).
A bound cdev and an open group file of the same group exclude each other.
"""
from .errno import EBADF, EBADFD, EBUSY, EINVAL, ENODEV
from .iommufd import (IommufdCtx, iommufd_device_attach, iommufd_device_bind,
                      iommufd_device_detach, iommufd_device_replace)
from .kobject import KObject
from .reasons import refuse
from .trace import traced


class DeviceFile(KObject):
    """struct vfio_device_file for the cdev path."""

    def __init__(self, k, vdev):
        super().__init__(k)
        self.vdev = vdev
        self.access_granted = False

    def label(self):
        return f"{self.vdev.label()} file"

    def ref(self):
        return ("device_file", self.vdev.dev.name)


def _grp(df, *_):
    return df.vdev.dev.iommu_group


def vfio_device_block_group(vdev):
    vg = vdev.group
    if vg.opened_file is not None:
        return refuse(vg.k, EBUSY, "group-open-blocks-cdev", vfio_group=vg, group=vg.id, device=vdev.dev)
    vg.cdev_device_open_cnt += 1
    return 0


def vfio_device_unblock_group(vdev):
    vdev.group.cdev_device_open_cnt -= 1


@traced(_grp)
def vfio_df_ioctl_bind_iommufd(df, iommufd_file):
    """Errors: -EBUSY (group file open), -EINVAL (this file already bound, or the device is open
    on another cdev file), -EBADF/-EBADFD (not an iommufd), then iommufd_device_bind()'s."""
    vdev = df.vdev
    rc = vfio_device_block_group(vdev)
    if rc:
        return rc
    k = df.k
    if df.access_granted:
        vfio_device_unblock_group(vdev)
        return refuse(k, EINVAL, "device-file-bound", device=vdev.dev)
    if iommufd_file is None:
        vfio_device_unblock_group(vdev)
        return refuse(k, EBADF, "bad-fd", device=vdev.dev)
    ictx = iommufd_file.obj
    if not isinstance(ictx, IommufdCtx):
        vfio_device_unblock_group(vdev)
        return refuse(k, EBADFD, "not-a-container", device=vdev.dev, file=iommufd_file)
    if vdev.open_count != 0:
        vfio_device_unblock_group(vdev)
        return refuse(k, EINVAL, "device-file-bound", device=vdev.dev, open_count=vdev.open_count)
    idev = iommufd_device_bind(ictx, vdev.dev)
    if isinstance(idev, int):
        vfio_device_unblock_group(vdev)
        return idev
    from .vfio import vfio_pci_core_enable
    vfio_pci_core_enable(vdev)
    vdev.open_count = 1
    vdev.iommufd_device = idev
    df.access_granted = True
    return idev.id


@traced(_grp)
def vfio_df_ioctl_attach_pt(df, pt_id):
    """vfio_iommufd_physical_attach_ioas(): an attached device is replaced, not refused (6.6,
    "vfio: Support IO page table replacement"). Returns the hwpt id the kernel writes to pt_id."""
    vdev = df.vdev
    if not df.access_granted:
        return refuse(df.k, EINVAL, "device-file-not-bound", device=vdev.dev)
    if vdev.iommufd_attached:
        rc = iommufd_device_replace(vdev.iommufd_device, pt_id)
    else:
        rc = iommufd_device_attach(vdev.iommufd_device, pt_id)
    if rc:
        return rc
    vdev.iommufd_attached = True
    return vdev.iommufd_device.hwpt.id


@traced(_grp)
def vfio_df_ioctl_detach_pt(df):
    vdev = df.vdev
    if not df.access_granted:
        return refuse(df.k, EINVAL, "device-file-not-bound", device=vdev.dev)
    if vdev.iommufd_attached:
        iommufd_device_detach(vdev.iommufd_device)
        vdev.iommufd_attached = False
    return 0


def vfio_device_fops_cdev_open(vdev):
    if vdev.unregistering or vdev.dev.vfio_device is not vdev:
        return refuse(vdev.k, ENODEV, "device-not-registered", device=vdev.dev)
    return 0


def vfio_device_fops_cdev_release(df):
    """Close: unbind (detach, release ownership) if this file was bound."""
    vdev = df.vdev
    if df.access_granted:
        vdev.iommufd_device.unbind()
        vdev.iommufd_device = None
        vdev.iommufd_attached = False
        vdev.open_count = 0
        df.access_granted = False
        vfio_device_unblock_group(vdev)
