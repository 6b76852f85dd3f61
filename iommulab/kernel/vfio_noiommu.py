"""VFIO's unsafe no-IOMMU mode (CONFIG_VFIO_NOIOMMU), after drivers/vfio/group.c
(vfio_noiommu_group_alloc, vfio_group_find_or_alloc) and drivers/vfio/container.c
(vfio_noiommu_ops); before 6.1 the same code lived in drivers/vfio/vfio.c.

With vfio.enable_unsafe_noiommu_mode=1 a device that has no IOMMU group gets a fake one from
iommu_group_alloc() (named "vfio-noiommu", so it shows under /sys/kernel/iommu_groups, with no
domain at all), the kernel is tainted (TAINT_USER) and the group's file is /dev/vfio/noiommu-N.
VFIO never claims DMA ownership of such a group (owner_cnt stays 0), opening it needs
CAP_SYS_RAWIO, and the only IOMMU backend its container accepts is VFIO_NOIOMMU_IOMMU.
"""
from .errno import EINVAL, ENODEV, EPERM
from .iommu import iommu_group_remove_device
from .reasons import refuse
from .trace import traced

VFIO_NOIOMMU_IOMMU = "VFIO_NOIOMMU_IOMMU"
TAINT_USER = 1 << 6                     # 'U' in /proc/sys/kernel/tainted
NOIOMMU_GROUP_NAME = "vfio-noiommu"     # iommu_group_set_name() of the fake group


def vfio_noiommu_enabled(k):
    """The vfio.enable_unsafe_noiommu_mode parameter (0644: the command line, modprobe or sysfs)."""
    return bool(k.params.get("vfio.enable_unsafe_noiommu_mode"))


def is_noiommu(vg):
    return vg.noiommu


def is_noiommu_group(group):
    """An iommu_group that VFIO made for a device without an IOMMU (its name says so)."""
    return group.name == NOIOMMU_GROUP_NAME


def vfio_group_devname(vg):
    """The group's node name under /dev/vfio: "noiommu-N" for a no-IOMMU group, else "N"."""
    return f"noiommu-{vg.id}" if is_noiommu(vg) else str(vg.id)


def vfio_noiommu_group_alloc(dev):
    """vfio_group_find_or_alloc() for a device without an IOMMU group: None unless the mode is
    on; else a new iommu_group holding only dev, and the kernel tainted with a warning."""
    k = dev.k
    if not vfio_noiommu_enabled(k):
        return None
    group = k.new_group()
    group.name = NOIOMMU_GROUP_NAME
    group.devices.append(dev)
    dev.iommu_group = group
    k.printk(f"{dev.log_prefix()}: Adding to iommu group {group.id}")
    k.taint |= TAINT_USER
    k.printk(f"{dev.log_prefix()}: Adding kernel taint for vfio-noiommu group on device")
    return group


def vfio_noiommu_remove_device(vg):
    """vfio_device_remove_group(): a no-IOMMU group's device leaves its fake iommu_group."""
    dev = vg.noiommu_dev
    group = dev.iommu_group
    if group is None:
        return
    dev.k.printk(f"{dev.log_prefix()}: Removing from iommu group {group.id}")
    iommu_group_remove_device(dev)


def vfio_noiommu_container_check(container, vg):
    """vfio_container_attach_group(): real and fake groups cannot mix (container->noiommu is
    set by its first group, so the first group says which kind the container holds)."""
    if container.groups and is_noiommu(container.groups[0]) != is_noiommu(vg):
        return refuse(container.k, EPERM, "noiommu-mismatch", container=container, vfio_group=vg)
    return 0


@traced(lambda c, t, caps: [vg.iommu_group for vg in c.groups])
def vfio_noiommu_set_iommu(container, iommu_type, caps):
    """VFIO_SET_IOMMU on a container of no-IOMMU groups: vfio_iommu_driver_allowed() leaves only
    vfio_noiommu_ops, whose open() wants VFIO_NOIOMMU_IOMMU and CAP_SYS_RAWIO."""
    if iommu_type != VFIO_NOIOMMU_IOMMU:
        return refuse(container.k, ENODEV, "noiommu-mismatch", container=container, iommu=iommu_type)
    if caps is not None and "CAP_SYS_RAWIO" not in caps:
        return refuse(container.k, EPERM, "noiommu-needs-rawio", container=container)
    container.iommu_driver = VFIO_NOIOMMU_IOMMU
    return 0


# --- with iommufd behind /dev/vfio/vfio (CONFIG_IOMMUFD_VFIO_CONTAINER, drivers/iommu/iommufd/vfio_compat.c)

@traced(lambda ictx: [])
def iommufd_vfio_compat_set_no_iommu(ictx):
    """SET_CONTAINER of a no-IOMMU group: the context enters no-IOMMU mode unless a compat IOAS
    already exists (-EINVAL). Nothing is claimed or attached."""
    if ictx.compat_ioas is not None:
        return refuse(ictx.k, EINVAL, "noiommu-mismatch", iommufd=ictx)
    ictx.no_iommu_mode = True
    return 0


def iommufd_noiommu_set_iommu(ictx, iommu_type, caps):
    """iommufd_vfio_set_iommu() in no-IOMMU mode: VFIO_NOIOMMU_IOMMU needs CAP_SYS_RAWIO; the
    type1 types are refused with -EINVAL."""
    if iommu_type != VFIO_NOIOMMU_IOMMU:
        return refuse(ictx.k, EINVAL, "noiommu-mismatch", iommufd=ictx, iommu=iommu_type)
    if caps is not None and "CAP_SYS_RAWIO" not in caps:
        return refuse(ictx.k, EPERM, "noiommu-needs-rawio", iommufd=ictx)
    return 0
