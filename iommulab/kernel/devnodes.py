"""Character devices: /dev/vfio/vfio, /dev/vfio/<N>, /dev/vfio/devices/vfioX, /dev/iommu and
/dev/null — their open(), release() and ioctl() (the file_operations of drivers/vfio/group.c,
container.c, device_cdev.c, vfio_main.c and drivers/iommu/iommufd/main.c)."""
from .errno import EINVAL, ENOENT, ENOTTY
from .iommufd import IommufdCtx, iommufd_ioas_alloc, iommufd_vfio_set_iommu
from .process import File
from .vfio import (vfio_df_group_close, vfio_group_fops_open,
                   vfio_group_fops_release, vfio_group_ioctl_get_device_fd,
                   vfio_group_ioctl_get_status, vfio_group_ioctl_set_container,
                   vfio_group_ioctl_unset_container)
from .vfio_cdev import (DeviceFile, vfio_device_fops_cdev_open, vfio_device_fops_cdev_release,
                        vfio_df_ioctl_attach_pt, vfio_df_ioctl_bind_iommufd,
                        vfio_df_ioctl_detach_pt)
from .vfio_container import VfioContainer, vfio_ioctl_set_iommu, IOMMU_TYPES

VFIO_API_VERSION = 0


def dev_nodes(k):
    """Every /dev path that exists now (for listdir and exists)."""
    nodes = ["/dev/null"]
    if k.f.iommufd and k.config["CONFIG_IOMMUFD"]:
        nodes.append("/dev/iommu")
    nodes.append("/dev/vfio/vfio")
    nodes += [f"/dev/vfio/{n}" for n in sorted(k.vfio_groups)]
    if k.cdev_enabled:
        nodes += [f"/dev/vfio/devices/vfio{i}" for i in sorted(k.cdevs)]
    return nodes


def _cdev(k, name):
    if not name.startswith("vfio") or not name[4:].isdigit():
        return None
    return k.cdevs.get(int(name[4:]))


def open_node(k, path, p):
    """Returns a File or a negative errno."""
    if path == "/dev/null":
        return File(k, "null", None, path)
    if path == "/dev/iommu" and k.f.iommufd and k.config["CONFIG_IOMMUFD"]:
        return _open_iommufd(k, path)
    if path == "/dev/vfio/vfio":
        if k.config["CONFIG_IOMMUFD_VFIO_CONTAINER"]:
            return _open_iommufd(k, path)
        return File(k, "vfio-container", VfioContainer(k), path)
    if path.startswith("/dev/vfio/devices/") and k.cdev_enabled:
        vdev = _cdev(k, path.rsplit("/", 1)[1])
        if vdev is None:
            return -ENOENT
        rc = vfio_device_fops_cdev_open(vdev)
        if rc:
            return rc
        vdev.users += 1
        return File(k, "vfio-cdev", DeviceFile(k, vdev), path)
    if path.startswith("/dev/vfio/"):
        num = path[len("/dev/vfio/"):]
        vg = k.vfio_groups.get(int(num)) if num.isdigit() else None
        if vg is None:
            return -ENOENT
        f = File(k, "vfio-group", vg, path)
        rc = vfio_group_fops_open(vg, f)
        return rc if rc else f
    return -ENOENT


def _open_iommufd(k, path):
    ictx = IommufdCtx(k)
    ictx.get()
    return File(k, "iommufd", ictx, path)


def release(f):
    """The file's release(): the last reference is gone."""
    from .vfio import vfio_kick_unregister
    o = f.obj
    if f.kind == "vfio-group":
        vfio_group_fops_release(o)
    elif f.kind == "vfio-device":
        vfio_df_group_close(o)
        o.users -= 1
    elif f.kind == "vfio-cdev":
        vfio_device_fops_cdev_release(o)
        o.vdev.users -= 1
    elif f.kind == "iommufd":
        o.put()
    vfio_kick_unregister(f.k)


def _file_arg(p, arg):
    return p.fds.get(arg) if isinstance(arg, int) else None


def ioctl(p, f, request, arg):
    handler = _IOCTLS.get((f.kind, request))
    if handler is None:
        return -ENOTTY
    return handler(p, f, arg)


# --- /dev/vfio/vfio ------------------------------------------------------------------------

def _container_check_extension(p, f, arg):
    return 1 if arg in IOMMU_TYPES else 0


def _container_set_iommu(p, f, arg):
    return vfio_ioctl_set_iommu(f.obj, arg)


# --- /dev/vfio/<N> -------------------------------------------------------------------------

def _group_get_status(p, f, arg):
    return vfio_group_ioctl_get_status(f.obj)


def _group_set_container(p, f, arg):
    return vfio_group_ioctl_set_container(f.obj, _file_arg(p, arg))


def _group_unset_container(p, f, arg):
    return vfio_group_ioctl_unset_container(f.obj)


def _group_get_device_fd(p, f, arg):
    if not isinstance(arg, str):
        return -EINVAL
    vdev = vfio_group_ioctl_get_device_fd(f.obj, arg)
    if isinstance(vdev, int):
        return vdev
    f.refs += 1                            # the device file keeps the group file alive
    vdev.users += 1
    df = File(p.k, "vfio-device", vdev, "anon_inode:[vfio-device]", holds=f)
    fd = p.install(df)
    vdev.holders.append(p)
    return fd


# --- /dev/vfio/devices/vfioX ---------------------------------------------------------------

def _cdev_bind(p, f, arg):
    return vfio_df_ioctl_bind_iommufd(f.obj, _file_arg(p, arg))


def _cdev_attach(p, f, arg):
    return vfio_df_ioctl_attach_pt(f.obj, arg)


def _cdev_detach(p, f, arg):
    return vfio_df_ioctl_detach_pt(f.obj)


# --- /dev/iommu ----------------------------------------------------------------------------

def _iommufd_ioas_alloc(p, f, arg):
    return iommufd_ioas_alloc(f.obj).id


def _iommufd_set_iommu(p, f, arg):
    return iommufd_vfio_set_iommu(f.obj, arg)


def _api_version(p, f, arg):
    return VFIO_API_VERSION


_IOCTLS = {
    ("vfio-container", "VFIO_GET_API_VERSION"): _api_version,
    ("vfio-container", "VFIO_CHECK_EXTENSION"): _container_check_extension,
    ("vfio-container", "VFIO_SET_IOMMU"): _container_set_iommu,
    ("vfio-group", "VFIO_GROUP_GET_STATUS"): _group_get_status,
    ("vfio-group", "VFIO_GROUP_SET_CONTAINER"): _group_set_container,
    ("vfio-group", "VFIO_GROUP_UNSET_CONTAINER"): _group_unset_container,
    ("vfio-group", "VFIO_GROUP_GET_DEVICE_FD"): _group_get_device_fd,
    ("vfio-cdev", "VFIO_DEVICE_BIND_IOMMUFD"): _cdev_bind,
    ("vfio-cdev", "VFIO_DEVICE_ATTACH_IOMMUFD_PT"): _cdev_attach,
    ("vfio-cdev", "VFIO_DEVICE_DETACH_IOMMUFD_PT"): _cdev_detach,
    ("iommufd", "IOMMU_IOAS_ALLOC"): _iommufd_ioas_alloc,
    ("iommufd", "VFIO_GET_API_VERSION"): _api_version,
    ("iommufd", "VFIO_CHECK_EXTENSION"): _container_check_extension,
    ("iommufd", "VFIO_SET_IOMMU"): _iommufd_set_iommu,
}
IOCTL_NAMES = tuple(sorted({r for _, r in _IOCTLS}))
