"""VFIO core and the legacy group file, after drivers/vfio/vfio_main.c and drivers/vfio/group.c
(pre-5.19 behaviour from the old drivers/vfio/vfio.c). ../shared/spec/kernel-ownership.md §6.

A vfio_group exists while at least one device of its IOMMU group is bound to a VFIO driver;
/dev/vfio/<N> is its file. vfio_unregister_group_dev() blocks while user space holds the device:
here it returns the VfioDevice as the blocker and finishes when the last user lets go.

From 6.1 every vfio_device is also a struct device named vfio<N> (class vfio-dev, shown as
/sys/bus/pci/devices/BDF/vfio-dev/vfioN); with the cdev (6.6+) it has a /dev/vfio/devices/vfioN node.
"""
from .errno import EBADF, EBADFD, EBUSY, EINVAL, ENODEV
from .iommu import iommu_group_dma_owner_claimed
from .kobject import KObject
from .reasons import refuse
from .trace import traced, wake_up

VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1


class VfioGroup(KObject):
    """struct vfio_group."""
    CONTAINERS = ("devices",)


    def __init__(self, k, iommu_group):
        super().__init__(k)
        self.iommu_group = iommu_group
        self.id = iommu_group.id
        self.devices = []
        self.opened_file = None
        self.container = None
        self.iommufd = None
        self.container_users = 0
        self.cdev_device_open_cnt = 0
        self.drivers = 0                  # registered vfio_devices not yet unregistered (group->drivers)
        self.noiommu = False              # VFIO_NO_IOMMU: a fake group of vfio_noiommu_group_alloc()
        self.noiommu_dev = None           # ... and the one device it was made for
        self.minor = k.alloc_group_minor()    # /dev/vfio/<N>'s minor (not the group number)

    def label(self):
        return f"vfio_group:{self.id}"

    def ref(self):
        return ("vfio_group", self.id)


class VfioDevice(KObject):
    """struct vfio_device: registration, open count and the files that hold it."""
    CONTAINERS = ("holders", "on_done")


    def __init__(self, k, dev, group, index):
        super().__init__(k)
        self.dev = dev
        self.group = group
        self.index = index                # vfio<index> (the vfio-dev ida, 6.1+), or None before 6.1
        self.added = False                # device_add() done: vfio-dev/vfio<index> is in sysfs
        self.cdev_added = False           # /dev/vfio/devices/vfio<index> exists
        self.open_count = 0
        self.users = 0                    # open files (group-path device fds and cdev fds)
        self.holders = []                 # processes holding those files, for request delivery
        self.unregistering = False
        self.waiting_for_container = False
        self.on_done = []                 # continuations run when unregistration finishes
        self.iommufd_device = None        # bound iommufd_device (cdev or compat path)
        self.iommufd_attached = False
        self.requests = 0

    def label(self):
        return f"vfio{self.index}" if self.index is not None else f"vfio:{self.dev.name}"

    def ref(self):
        return ("vfio_device", self.dev.name)

    @property
    def name(self):
        return self.dev.name


def _vg_group(vg, *_):
    return vg.iommu_group


def _vdev_group(vdev, *_):
    return vdev.dev.iommu_group


# --- registration (vfio-pci probe / remove) ----------------------------------------------------

@traced(lambda dev: dev.iommu_group)
def vfio_register_group_dev(dev):
    from .vfio_noiommu import vfio_noiommu_group_alloc
    k = dev.k
    group = dev.iommu_group
    noiommu = group is None
    if noiommu:
        group = vfio_noiommu_group_alloc(dev)      # vfio_group_find_or_alloc()
        if group is None:                 # no IOMMU group and vfio.enable_unsafe_noiommu_mode off
            return refuse(k, EINVAL, "noiommu-disabled", device=dev)
    vg = k.vfio_groups.get(group.id)
    if vg is None or vg.iommu_group is not group:
        vg = VfioGroup(k, group)
        k.vfio_groups[group.id] = vg
        if noiommu:
            vg.noiommu, vg.noiommu_dev = True, dev
    index = k.alloc_cdev_index() if k.f.vfio_device_sysfs else None
    vdev = VfioDevice(k, dev, vg, index)
    if index is not None:
        k.cdevs[index] = vdev
        vfio_device_add(vdev)
    vg.devices.append(vdev)
    vg.drivers += 1
    dev.vfio_device = vdev
    return 0


def vfio_device_add(vdev):
    """device_add() of the vfio_device (6.1, 3c28a76124b2), with cdev_device_add() of its
    /dev/vfio/devices node where the kernel has the cdev (6.6, CONFIG_VFIO_DEVICE_CDEV)."""
    vdev.added = True
    vdev.cdev_added = vdev.k.cdev_enabled


@traced(_vdev_group)
def vfio_device_del(vdev):
    """The vfio-dev directory and the cdev node go (device_del / cdev_device_del)."""
    vdev.added = False
    vdev.cdev_added = False


@traced(_vdev_group)
def vfio_device_group_unregister(vdev):
    """Take the device off its group's list: GET_DEVICE_FD no longer finds it."""
    vdev.group.devices.remove(vdev)


@traced(_vdev_group)
def vfio_unregister_group_dev(vdev, then):
    """Blocks (returns vdev) while files are open; delivers the device 'request' to holders.
    From 6.6 the device leaves its group's list and sysfs/dev before the wait (291872a533a2,
    38c24544e10a); before, only after it, so a second GET_DEVICE_FD still succeeds meanwhile."""
    vdev.unregistering = True
    if then is not None:
        vdev.on_done.append(then)
    if vdev.k.f.vfio_unregister_dels_first:
        vfio_device_group_unregister(vdev)
        if vdev.added:
            vfio_device_del(vdev)
    if vdev.users:
        vfio_device_request(vdev, *vdev.holders)
        vdev.k.unregistering.append(vdev)
        return vdev
    return _unregister_continue(vdev)


@traced(_vdev_group, op="request")
def vfio_device_request(vdev, *holders):
    """vfio_pci_core_request(): ask user space to give the device back (the event names the
    processes it is relayed to, the holders of the device's files)."""
    k = vdev.k
    prefix = f"vfio-pci {vdev.dev.name}" if vdev.dev.bus.name == "pci" else vdev.dev.log_prefix()
    channel = any(p.req_channel for p in holders)
    if channel:
        k.printk(f"{prefix}: Relaying device request to user (#{vdev.requests})")
    elif vdev.requests == 0:
        k.printk(f"{prefix}: No device request channel registered, blocked until released by user")
    vdev.requests += 1
    for p in holders:
        p.deliver_request(vdev)


def _unregister_continue(vdev):
    k = vdev.k
    vg = vdev.group
    if vdev in vg.devices:
        vfio_device_group_unregister(vdev)
    if not vg.devices and vg.container is not None and k.f.vfio_waits_for_container:
        # Up to 5.18 the last device waits until user space takes the group out of its container
        # (group->container_q; deleted for 5.19 by "vfio: Delete container_q").
        vdev.waiting_for_container = True
        if vdev not in k.unregistering:
            k.unregistering.append(vdev)
        return vdev
    vdev.waiting_for_container = False
    if vdev in k.unregistering:
        k.unregistering.remove(vdev)
    if vdev.added:
        vfio_device_del(vdev)
    vg.drivers -= 1
    if vg.drivers == 0:
        vfio_device_remove_group(vg)
    if vdev.index is not None:
        k.cdevs.pop(vdev.index, None)
        k.free_cdev_index(vdev.index)
    vdev.dev.vfio_device = None
    vdev.unregistering = False
    done, vdev.on_done = vdev.on_done, []
    for fn in done:
        fn()
    return None


@traced(_vg_group)
def vfio_device_remove_group(vg):
    """The last VFIO device left. From 6.1 (ca5f21b25749) the group is revoked at once: a real
    container is detached by force (group->iommufd is left for UNSET_CONTAINER or close), the
    node goes. Up to 6.0 it is a vfio_group_put(): an open group file keeps the group, its
    container and the DMA ownership until UNSET_CONTAINER or close."""
    from .vfio_container import vfio_group_detach_container
    from .vfio_noiommu import is_noiommu, vfio_noiommu_remove_device
    if is_noiommu(vg):
        vfio_noiommu_remove_device(vg)
    if not vg.k.f.vfio_force_detach_on_last_unbind:
        if vg.opened_file is None:
            vfio_group_release(vg)
        return
    if vg.container is not None:
        vfio_group_detach_container(vg)
    vfio_group_release(vg)


def vfio_group_release(vg):
    """The vfio_group goes away with its /dev/vfio/<N>; its minor returns to vfio.group_ida."""
    k = vg.k
    vg.iommu_group = None
    if vg.minor is not None:
        k.free_group_minor(vg.minor)
        vg.minor = None
    if k.vfio_groups.get(vg.id) is vg:
        del k.vfio_groups[vg.id]


def _may_continue(vdev):
    if vdev.waiting_for_container:
        return vdev.group.container is None
    return vdev.users == 0


def vfio_kick_unregister(k):
    """After a close/unset: wake every writer blocked in vfio_unregister_group_dev() whose wait
    now ends (the last user gone; up to 5.18, the group out of its container)."""
    for vdev in list(k.unregistering):
        if _may_continue(vdev):
            wake_up(k, vfio_unregister_woken, vdev)


@traced(_vdev_group, op="wakeup")
def vfio_unregister_woken(vdev):
    """The blocked writer wakes (its wait in vfio_unregister_group_dev() ends) and finishes the
    unregistration: the driver's remove() returns, the unbind completes, the write returns."""
    if vdev in vdev.k.unregistering and _may_continue(vdev):
        _unregister_continue(vdev)


# --- viability -----------------------------------------------------------------------------

def vfio_dev_viable_old(dev, vg):
    """Pre-5.19 allow-list: driverless, VFIO-bound (also while its unbind waits), pci-stub, or a
    bridge."""
    if dev.driver is None:
        return True
    if dev.vfio_device is not None and dev.vfio_device.group is vg:
        return True
    if dev.driver.name == "pci-stub":
        return True
    return dev.bus.name == "pci" and dev.is_bridge


def vfio_group_viable(vg):
    k = vg.k
    g = vg.iommu_group
    if k.f.rfc2021:
        return g.dma_owner != "DMA_OWNER_KERNEL"
    if k.f.old_vfio_viability:
        return all(vfio_dev_viable_old(d, vg) for d in g.devices)
    return not iommu_group_dma_owner_claimed(g)


def vfio_group_nb_verify_bound(dev):
    """Old vfio_iommu_group_notifier(BOUND_DRIVER): BUG_ON a non-viable driver in a live group."""
    k = dev.k
    g = dev.iommu_group
    vg = k.vfio_groups.get(g.id) if g is not None else None
    if vg is None or vg.container_users == 0 or vfio_dev_viable_old(dev, vg):
        return
    k.crash("drivers/vfio/vfio.c", "vfio_iommu_group_notifier",
            f"{dev.driver.name} bound to {dev.name} in live group {g.id}")


# --- the group file (/dev/vfio/<N>) --------------------------------------------------------

def vfio_group_fops_open(vg, file):
    k = vg.k
    if vg.iommu_group is None:
        return refuse(k, ENODEV, "no-group", vfio_group=vg)
    if vg.opened_file is not None:
        return refuse(k, EBUSY, "group-file-open", vfio_group=vg, group=vg.id)
    if k.f.vfio_cdev and vg.cdev_device_open_cnt:
        return refuse(k, EBUSY, "device-open-via-cdev", vfio_group=vg, group=vg.id,
                      open_count=vg.cdev_device_open_cnt)
    vg.opened_file = file
    return 0


def vfio_group_fops_release(vg):
    """Last reference to the group file. Device fds opened through a real container hold one
    (vfio_group_use_container()), so then this runs after them; with an iommufd they do not."""
    from .vfio_container import vfio_group_detach_container
    if vg.container is not None:
        vfio_group_detach_container(vg)
    if vg.iommufd is not None:
        vg.iommufd.put()
        vg.iommufd = None
    vg.opened_file = None
    if vg.drivers == 0 and vg.iommu_group is not None:    # ≤ 6.0: the file held the last reference
        vfio_group_release(vg)


@traced(_vg_group, op="group-status")
def vfio_group_ioctl_get_status(vg):
    k = vg.k
    if vg.iommu_group is None:
        return refuse(k, ENODEV, "no-group", vfio_group=vg)
    flags = 0
    if k.f.old_vfio_viability:
        if vfio_group_viable(vg):
            flags |= VFIO_GROUP_FLAGS_VIABLE
        if vg.container is not None:
            flags |= VFIO_GROUP_FLAGS_CONTAINER_SET
        return flags
    if vg.container is not None or vg.iommufd is not None:
        return VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET
    if vfio_group_viable(vg):
        flags |= VFIO_GROUP_FLAGS_VIABLE
    return flags


@traced(_vg_group)
def vfio_group_ioctl_set_container(vg, file):
    from .vfio_container import VfioContainer, vfio_container_attach_group
    from .iommufd import IommufdCtx, iommufd_vfio_compat_ioas_create
    k = vg.k
    if file is None:
        return refuse(k, EBADF, "bad-fd", vfio_group=vg)
    if vg.container is not None or vg.iommufd is not None:
        return refuse(k, EINVAL, "group-has-container", vfio_group=vg, group=vg.id,
                      container=vg.container or vg.iommufd)
    if vg.iommu_group is None:
        return refuse(k, ENODEV, "no-group", vfio_group=vg)
    obj = file.obj
    if isinstance(obj, VfioContainer):
        return vfio_container_attach_group(obj, vg)
    if isinstance(obj, IommufdCtx):
        from .vfio_noiommu import iommufd_vfio_compat_set_no_iommu, is_noiommu
        rc = (iommufd_vfio_compat_set_no_iommu(obj) if is_noiommu(vg)
              else iommufd_vfio_compat_ioas_create(obj))
        if rc:
            return rc
        obj.get()
        vg.iommufd = obj
        return 0
    # before iommufd: "is this really our fd?" (-EINVAL)
    return refuse(k, EBADFD if k.f.iommufd else EINVAL, "not-a-container", vfio_group=vg, file=file)


@traced(_vg_group)
def vfio_group_ioctl_unset_container(vg):
    from .vfio_container import vfio_group_detach_container
    if vg.container is None and vg.iommufd is None:
        return refuse(vg.k, EINVAL, "group-no-container", vfio_group=vg, group=vg.id)
    if vg.container is not None:
        if vg.container_users != 1:
            return refuse(vg.k, EBUSY, "container-users", vfio_group=vg, group=vg.id,
                          users=vg.container_users - 1)
        vfio_group_detach_container(vg)
    if vg.iommufd is not None:
        vg.iommufd.put()
        vg.iommufd = None
    return 0


def _find_device(vg, name):
    """vfio_device_get_from_name(): a device still on the group's list whose registration
    reference can be taken. Before 6.6 a device whose unbind waits for its users is still listed
    and its open files keep that reference, so it is found."""
    for vdev in vg.devices:
        if vdev.dev.name == name.strip() and (not vdev.unregistering or vdev.users):
            return vdev
    return None


@traced(_vg_group)
def vfio_group_ioctl_get_device_fd(vg, name):
    """Returns the vfio_device to open, or a negative errno. The caller makes the file."""
    k = vg.k
    if k.f.old_vfio_viability:
        if vg.container is None:
            return refuse(k, EINVAL, "group-no-container", vfio_group=vg, group=vg.id)
        if vg.container.iommu_driver is None:
            return refuse(k, EINVAL, "no-iommu-driver", vfio_group=vg, container=vg.container)
        if not vfio_group_viable(vg):
            return refuse(k, EINVAL, "group-not-viable", vfio_group=vg, group=vg.iommu_group,
                          owner_cnt=vg.iommu_group.owner_cnt)
    vdev = _find_device(vg, name)
    if vdev is None:
        return refuse(k, ENODEV, "no-such-vfio-device", vfio_group=vg, group=vg.id, name=name.strip())
    if vg.container is None and vg.iommufd is None:
        return refuse(k, EINVAL, "group-no-container", vfio_group=vg, group=vg.id)
    if vg.container is not None and vg.container.iommu_driver is None:
        return refuse(k, EINVAL, "no-iommu-driver", vfio_group=vg, container=vg.container)
    rc = vfio_df_group_open(vdev)
    return rc if rc else vdev


def vfio_df_group_open(vdev):
    """vfio_df_open() on the group path: the first open binds to iommufd in compat mode."""
    from .iommufd import iommufd_device_bind, iommufd_vfio_compat_attach
    from .vfio_noiommu import is_noiommu
    vg = vdev.group
    if vg.iommufd is not None and vdev.open_count == 0 and not is_noiommu(vg):   # noiommu: no bind
        idev = iommufd_device_bind(vg.iommufd, vdev.dev)
        if isinstance(idev, int):
            return idev
        rc = iommufd_vfio_compat_attach(idev)
        if rc:
            idev.unbind()
            return rc
        vdev.iommufd_device = idev
        vdev.iommufd_attached = True
    if vdev.open_count == 0:
        vfio_pci_core_enable(vdev)
    vdev.open_count += 1
    if vg.container is not None:
        vg.container_users += 1
    return 0


def vfio_pci_core_enable(vdev):
    """The first open of a PCI device (vfio_df_open() -> open_device -> vfio_pci_core_enable()):
    vfio-pci resets the function with pci_try_reset_function(), which from 6.18 logs around it
    (every PCI device of the model can be reset). The reset on the last close goes through
    __pci_reset_function_locked(), which logs nothing (what the recordings show)."""
    dev = vdev.dev
    if dev.bus.name == "pci" and dev.k.f.pci_reset_logged:
        dev.k.printk(f"{dev.log_prefix()}: resetting")
        dev.k.printk(f"{dev.log_prefix()}: reset done")


def vfio_df_group_close(vdev):
    vg = vdev.group
    vdev.open_count -= 1
    if vdev.open_count == 0 and vdev.iommufd_device is not None:
        vdev.iommufd_device.unbind()
        vdev.iommufd_device = None
        vdev.iommufd_attached = False
    if vg.container is not None:
        vg.container_users -= 1
