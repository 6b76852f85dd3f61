"""Character devices: /dev/vfio/vfio, /dev/vfio/<N>, /dev/vfio/devices/vfioX, /dev/iommu and
/dev/null — their open(), release() and ioctl() (the file_operations of drivers/vfio/group.c,
container.c, device_cdev.c, vfio_main.c and drivers/iommu/iommufd/main.c)."""
from .errno import EINVAL, ENOENT, ENOTTY, EPERM
from .iommufd import IommufdCtx, iommufd_ioas_alloc, iommufd_vfio_set_iommu
from .file import File
from .kernfs import name_number
from .reasons import refuse
from .vfio import (vfio_df_group_close, vfio_group_fops_open,
                   vfio_group_fops_release, vfio_group_ioctl_get_device_fd,
                   vfio_group_ioctl_get_status, vfio_group_ioctl_set_container,
                   vfio_group_ioctl_unset_container)
from .vfio_cdev import (DeviceFile, vfio_device_fops_cdev_open, vfio_device_fops_cdev_release,
                        vfio_df_ioctl_attach_pt, vfio_df_ioctl_bind_iommufd,
                        vfio_df_ioctl_detach_pt)
from .vfio_container import VfioContainer, vfio_ioctl_set_iommu, IOMMU_TYPES
from .vfio_noiommu import (VFIO_NOIOMMU_IOMMU, iommufd_noiommu_set_iommu, is_noiommu, vfio_group_devname,
                           vfio_noiommu_enabled, vfio_noiommu_set_iommu)

VFIO_API_VERSION = 0

# Device numbers (include/uapi/linux/major.h, include/linux/miscdevice.h). vfio_group_init()
# and vfio_cdev_init() take their majors with alloc_chrdev_region(), which hands out dynamic
# majors from 254 down (find_dynamic_major()); what a host gets depends on what registered
# before, so the numbers here are representative: the group major, then the next lower one.
# iommufd is misc_register()ed with MISC_DYNAMIC_MINOR: misc_minor_alloc() counts down from
# DYNAMIC_MINORS - 1 (127), so it gets what the misc devices registered before it left.
MEM_MAJOR, NULL_MINOR = 1, 3
MISC_MAJOR, VFIO_MINOR, IOMMUFD_MINOR = 10, 196, 123
VFIO_GROUP_MAJOR = 242
VFIO_DEVICE_MAJOR = 241


def _group_of_node(k, name):
    """The vfio_group whose /dev/vfio node is `name` ("N" or "noiommu-N"), or None."""
    num = name[len("noiommu-"):] if name.startswith("noiommu-") else name
    vg = k.vfio_groups.get(name_number(num))
    return vg if vg is not None and vfio_group_devname(vg) == name else None


def devt(k, path):
    """(major, minor) of a /dev node that exists, else None."""
    if path == "/dev/null":
        return MEM_MAJOR, NULL_MINOR
    if path == "/dev/vfio/vfio":
        return MISC_MAJOR, VFIO_MINOR
    if path == "/dev/iommu":
        return MISC_MAJOR, IOMMUFD_MINOR
    if path.startswith("/dev/vfio/devices/"):
        vdev = _cdev(k, path.rsplit("/", 1)[1])
        return (VFIO_DEVICE_MAJOR, vdev.index) if vdev is not None else None
    vg = _group_of_node(k, path[len("/dev/vfio/"):])
    return (VFIO_GROUP_MAJOR, vg.minor) if vg is not None else None


def dev_nodes(k):
    """Every /dev path that exists now (for listdir and exists)."""
    nodes = ["/dev/null"]
    if k.f.iommufd and k.config["CONFIG_IOMMUFD"]:
        nodes.append("/dev/iommu")
    nodes.append("/dev/vfio/vfio")
    nodes += [f"/dev/vfio/{vfio_group_devname(vg)}" for _, vg in sorted(k.vfio_groups.items())]
    nodes += [f"/dev/vfio/devices/vfio{i}" for i, v in sorted(k.cdevs.items()) if v.cdev_added]
    return nodes


def _cdev(k, name):
    """The vfio_device whose /dev/vfio/devices node this is (gone once vfio_device_del() ran)."""
    if not name.startswith("vfio") or name_number(name[4:]) is None:
        return None
    vdev = k.cdevs.get(name_number(name[4:]))
    return vdev if vdev is not None and vdev.cdev_added else None


def open_node(k, path, p):
    """Returns a File or a negative errno."""
    if path == "/dev/null":
        return File(k, "null", None, path)
    if path == "/dev/iommu" and k.f.iommufd and k.config["CONFIG_IOMMUFD"]:
        return _open_iommufd(k, path)
    if path == "/dev/vfio/vfio":
        if k.config["CONFIG_IOMMUFD_VFIO_CONTAINER"]:
            k.printk_once("iommufd: IOMMUFD is providing /dev/vfio/vfio, not VFIO.")   # iommufd_fops_open()
            return _open_iommufd(k, path)
        return File(k, "vfio-container", VfioContainer(k), path)
    if path.startswith("/dev/vfio/devices/") and k.cdev_enabled:
        vdev = _cdev(k, path.rsplit("/", 1)[1])
        if vdev is None:
            return refuse(k, ENOENT, "no-such-file", path=path)
        rc = vfio_device_fops_cdev_open(vdev)
        if rc:
            return rc
        vdev.users += 1
        return File(k, "vfio-cdev", DeviceFile(k, vdev), path)
    if path.startswith("/dev/vfio/"):
        name = path[len("/dev/vfio/"):]
        vg = _group_of_node(k, name)
        if vg is None:
            if name_number(name) in k.iommu_groups:
                g = k.iommu_groups[name_number(name)]
                return refuse(k, ENOENT, "group-has-no-vfio-device", path=path, group=g, devices=g.devices)
            return refuse(k, ENOENT, "no-such-file", path=path)
        if is_noiommu(vg) and "CAP_SYS_RAWIO" not in p.caps:      # vfio_group_fops_open()
            return refuse(k, EPERM, "noiommu-needs-rawio", path=path, process=p)
        f = File(k, "vfio-group", vg, path)
        rc = vfio_group_fops_open(vg, f)
        return rc if rc else f
    return refuse(k, ENOENT, "no-such-file", path=path)


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
        return refuse(p.k, ENOTTY, "unknown-ioctl", request=request, file=f)
    return handler(p, f, arg)


# --- /dev/vfio/vfio ------------------------------------------------------------------------

def _container_check_extension(p, f, arg):
    if arg == VFIO_NOIOMMU_IOMMU:               # vfio_noiommu_ops: only while the mode is on
        return 1 if vfio_noiommu_enabled(p.k) else 0
    return 1 if arg in IOMMU_TYPES else 0


def _iommufd_check_extension(p, f, arg):
    """iommufd_vfio_check_extension() (vfio_compat.c): no-IOMMU whenever it is built in, whatever
    the mode parameter says; the type1 types unless a no-IOMMU device made the context one."""
    if arg == VFIO_NOIOMMU_IOMMU:
        return 1 if p.k.config["CONFIG_VFIO_NOIOMMU"] else 0
    return 1 if arg in IOMMU_TYPES and not f.obj.no_iommu_mode else 0


def _container_set_iommu(p, f, arg):
    c = f.obj
    if c.groups and c.iommu_driver is None and is_noiommu(c.groups[0]):
        return vfio_noiommu_set_iommu(c, arg, p.caps)
    return vfio_ioctl_set_iommu(c, arg)


# --- /dev/vfio/<N> -------------------------------------------------------------------------

def _group_get_status(p, f, arg):
    return vfio_group_ioctl_get_status(f.obj)


def _group_set_container(p, f, arg):
    return vfio_group_ioctl_set_container(f.obj, _file_arg(p, arg))


def _group_unset_container(p, f, arg):
    return vfio_group_ioctl_unset_container(f.obj)


def _group_get_device_fd(p, f, arg):
    if not isinstance(arg, str):
        return refuse(p.k, EINVAL, "bad-value", request="VFIO_GROUP_GET_DEVICE_FD", value=repr(arg))
    vg = f.obj
    vdev = vfio_group_ioctl_get_device_fd(vg, arg)
    if isinstance(vdev, int):
        return vdev
    holds = None
    if vg.container is not None:           # vfio_group_use_container(): get_file(group file)
        f.refs += 1
        holds = f
    vdev.users += 1
    if is_noiommu(vg):
        p.k.printk(f"{vdev.dev.log_prefix()}: vfio-noiommu device opened by user ({p.name}:{p.pid})")
    df = File(p.k, "vfio-device", vdev, "anon_inode:[vfio-device]", holds=holds)
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
    if f.obj.no_iommu_mode:
        return iommufd_noiommu_set_iommu(f.obj, arg, p.caps)
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
    ("iommufd", "VFIO_CHECK_EXTENSION"): _iommufd_check_extension,
    ("iommufd", "VFIO_SET_IOMMU"): _iommufd_set_iommu,
}
IOCTL_NAMES = tuple(sorted({r for _, r in _IOCTLS}))
