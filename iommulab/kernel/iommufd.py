"""iommufd: /dev/iommu contexts, IOAS, hardware page tables and device binding, after
drivers/iommu/iommufd/{main.c,device.c,vfio_compat.c}. ../shared/spec/kernel-ownership.md §6.3.

A bound device claims DMA ownership per device with the context as owner, so several devices of
one group may be bound by the same context. Attachment is per group: the first device attaches
the group's hwpt, later ones must use the same hwpt.
"""
from .errno import EINVAL, ENODEV, ENOENT, EPERM
from .iommu import (DOMAIN_UNMANAGED, IommuDomain, iommu_attach_group, iommu_detach_group,
                    iommu_device_claim_dma_owner, iommu_device_release_dma_owner,
                    iommu_group_has_isolated_msi, iommu_group_replace_domain)
from .kobject import KObject
from .reasons import refuse
from .trace import traced


class IommufdCtx(KObject):
    """struct iommufd_ctx. Alive while its file or any bound device holds a reference."""
    CONTAINERS = ("objects", "igroups")


    def __init__(self, k):
        super().__init__(k)
        k.ictx_seq += 1
        self.id = k.ictx_seq
        self.objects = {}
        self.igroups = {}                 # iommu group id -> IommufdGroup
        self.compat_ioas = None
        self.no_iommu_mode = False        # ictx->no_iommu_mode (vfio_compat.c): a no-IOMMU group joined
        self.refs = 0

    def label(self):
        return f"ictx:I{self.id}"

    def ref(self):
        return ("iommufd", self.id)

    def alloc_id(self, obj):
        """_iommufd_object_alloc()'s xa_alloc(&ictx->objects, ..., xa_limit_31b) on an xarray
        made with XA_FLAGS_ALLOC1 (iommufd_fops_open()): the lowest free index from 1. An ID
        comes free again when its object goes: iommufd_object_abort() after a failed ioctl
        (a refused VFIO_DEVICE_ATTACH_IOMMUFD_PT's automatic hwpt) and iommufd_object_remove()
        both store NULL in its slot, so the next allocation gets it back."""
        oid = 1
        while oid in self.objects:
            oid += 1
        self.objects[oid] = obj
        return oid

    def get(self):
        self.refs += 1

    def put(self):
        self.refs -= 1


class Ioas(KObject):
    CONTAINERS = ("hwpts",)

    def __init__(self, k, ictx):
        super().__init__(k)
        self.ictx = ictx
        self.id = ictx.alloc_id(self)
        self.hwpts = []

    def label(self):
        return f"ioas{self.id}"

    def ref(self):
        return ("ioas", self.id)


class Hwpt(IommuDomain):
    """An automatic hardware page table: a user paging domain mapping one IOAS."""

    def __init__(self, k, ictx, ioas):
        IommuDomain.__init__(self, k, DOMAIN_UNMANAGED, "hwpt", user=True)
        self.ioas = ioas
        self.id = ictx.alloc_id(self)
        self.name = f"hwpt{self.id}"
        self.users = 0


class IommufdGroup(KObject):
    """struct iommufd_group: the group's attached hwpt and the devices attached through it."""
    CONTAINERS = ("devices",)


    def __init__(self, k, group):
        super().__init__(k)
        self.group = group
        self.hwpt = None
        self.devices = []


class IommufdDevice(KObject):
    def __init__(self, k, ictx, dev):
        super().__init__(k)
        self.ictx = ictx
        self.dev = dev
        self.id = ictx.alloc_id(self)
        self.hwpt = None

    def label(self):
        return f"idev{self.id}:{self.dev.name}"

    def ref(self):
        return ("idev", self.id)

    def unbind(self):
        iommufd_device_unbind(self)


def _msi_ok(k, dev):
    """The MSI isolation rule: -EPERM unless isolated or iommufd.allow_unsafe_interrupts.
    Checked in iommufd_device_bind() from 6.6 ("iommufd: Move isolated msi enforcement to
    iommufd_device_bind()"); 6.2-6.5 check it in iommufd_device_setup_msi() at attach."""
    if iommu_group_has_isolated_msi(dev.iommu_group):
        return 0
    if not k.params["iommufd.allow_unsafe_interrupts"]:
        return refuse(k, EPERM, "msi-not-isolated", group=dev.iommu_group, device=dev,
                      param="iommufd.allow_unsafe_interrupts")
    k.printk(f"{dev.log_prefix()}: MSI interrupts are not secure, they cannot be isolated by the "
             "platform. Check that platform features like interrupt remapping are enabled. Use "
             "the \"allow_unsafe_interrupts\" module parameter to override")
    return 0


@traced(lambda ictx, dev: dev.iommu_group)
def iommufd_device_bind(ictx, dev):
    """Returns the new IommufdDevice or a negative errno."""
    k = dev.k
    if dev.iommu_group is None:
        return refuse(k, ENODEV, "no-group", device=dev)
    if k.f.iommufd_msi_check_at_bind:
        rc = _msi_ok(k, dev)
        if rc:
            return rc
    rc = iommu_device_claim_dma_owner(dev, ictx)
    if rc:
        return rc
    ictx.get()
    return IommufdDevice(k, ictx, dev)


@traced(lambda idev: idev.dev.iommu_group)
def iommufd_device_unbind(idev):
    if idev.hwpt is not None:
        iommufd_device_detach(idev)
    iommu_device_release_dma_owner(idev.dev)
    idev.ictx.objects.pop(idev.id, None)
    idev.ictx.put()


def iommufd_ioas_alloc(ictx):
    return Ioas(ictx.k, ictx)


def _auto_hwpt(ioas):
    for hwpt in ioas.hwpts:
        return hwpt
    hwpt = Hwpt(ioas.k, ioas.ictx, ioas)
    ioas.hwpts.append(hwpt)
    return hwpt


def _resolve_pt(ictx, pt_id):
    obj = ictx.objects.get(pt_id)
    if isinstance(obj, Ioas):
        return _auto_hwpt(obj)
    if isinstance(obj, Hwpt):
        return obj
    return None


def _igroup(idev):
    group = idev.dev.iommu_group
    ig = idev.ictx.igroups.get(group.id)
    if ig is None or ig.group is not group:
        ig = IommufdGroup(idev.k, group)
        idev.ictx.igroups[group.id] = ig
    return ig


def _drop_hwpt(hwpt):
    if hwpt.users == 0 and hwpt in hwpt.ioas.hwpts:
        hwpt.ioas.hwpts.remove(hwpt)
        hwpt.ioas.ictx.objects.pop(hwpt.id, None)


@traced(lambda idev, pt: idev.dev.iommu_group)
def iommufd_device_attach(idev, pt_id):
    k = idev.k
    ictx = idev.ictx
    if idev.hwpt is not None:
        return refuse(k, EINVAL, "device-already-attached", device=idev.dev, hwpt=idev.hwpt)
    if pt_id not in ictx.objects:
        return refuse(k, ENOENT, "no-such-object", id=pt_id, iommufd=ictx)
    hwpt = _resolve_pt(ictx, pt_id)
    if hwpt is None:
        return refuse(k, EINVAL, "wrong-object-type", id=pt_id, iommufd=ictx)
    ig = _igroup(idev)
    if ig.hwpt is not None and ig.hwpt is not hwpt:
        _drop_hwpt(hwpt)
        return refuse(k, EINVAL, "hwpt-incompatible", group=ig.group, device=idev.dev, hwpt=ig.hwpt)
    if not k.f.iommufd_msi_check_at_bind:
        rc = iommufd_device_setup_msi(idev, hwpt)
        if rc:
            _drop_hwpt(hwpt)
            return rc
    if ig.hwpt is None:
        rc = iommu_attach_group(hwpt, ig.group)
        if rc:
            _drop_hwpt(hwpt)
            return rc
        ig.hwpt = hwpt
    ig.devices.append(idev)
    idev.hwpt = hwpt
    hwpt.users += 1
    return 0


@traced(lambda idev, hwpt: idev.dev.iommu_group)
def iommufd_device_setup_msi(idev, hwpt):
    """6.2-6.5: the MSI isolation check made when a device attaches to a page table."""
    return _msi_ok(idev.k, idev.dev)


@traced(lambda idev, pt: idev.dev.iommu_group)
def iommufd_device_replace(idev, pt_id):
    """iommufd_device_do_replace() (6.6, "iommufd: Add iommufd_device_replace()"): every device
    attached through the group moves in one step to the new page table. Same table: nothing to
    do. Not attached: -EINVAL."""
    ictx = idev.ictx
    if pt_id not in ictx.objects:
        return refuse(idev.k, ENOENT, "no-such-object", id=pt_id, iommufd=ictx)
    hwpt = _resolve_pt(ictx, pt_id)
    if hwpt is None:
        return refuse(idev.k, EINVAL, "wrong-object-type", id=pt_id, iommufd=ictx)
    ig = _igroup(idev)
    if ig.hwpt is None or idev not in ig.devices:
        _drop_hwpt(hwpt)
        return refuse(idev.k, EINVAL, "device-not-attached", device=idev.dev)
    if hwpt is ig.hwpt:
        return 0
    rc = iommu_group_replace_domain(ig.group, hwpt)
    if rc:
        _drop_hwpt(hwpt)
        return rc
    old = ig.hwpt
    for cur in ig.devices:
        cur.hwpt = hwpt
    hwpt.users += len(ig.devices)
    old.users -= len(ig.devices)
    ig.hwpt = hwpt
    _drop_hwpt(old)
    return 0


@traced(lambda idev: idev.dev.iommu_group)
def iommufd_device_detach(idev):
    ig = _igroup(idev)
    hwpt = idev.hwpt
    ig.devices.remove(idev)
    idev.hwpt = None
    hwpt.users -= 1
    if not ig.devices:
        iommu_detach_group(hwpt, ig.group)      # back to the blocking domain: still owned
        ig.hwpt = None
    _drop_hwpt(hwpt)


# --- VFIO compatibility (a /dev/iommu file used as a VFIO container) ----------------------------

def iommufd_vfio_compat_ioas_create(ictx):
    if ictx.compat_ioas is None:
        ictx.compat_ioas = iommufd_ioas_alloc(ictx)
    return 0


def iommufd_vfio_compat_attach(idev):
    ioas = idev.ictx.compat_ioas
    if ioas is None:
        return refuse(idev.k, ENODEV, "no-iommu-driver", iommufd=idev.ictx)
    return iommufd_device_attach(idev, ioas.id)


@traced(lambda ictx, t: [])
def iommufd_vfio_set_iommu(ictx, iommu_type):
    """VFIO_SET_IOMMU on an iommufd behind /dev/vfio/vfio: no compat IOAS yet (no group did
    SET_CONTAINER with it) -> -ENODEV, as VFIO fails SET_IOMMU without a group."""
    from .vfio_container import IOMMU_TYPES
    if iommu_type not in IOMMU_TYPES:
        return refuse(ictx.k, EINVAL, "iommu-type-unsupported", iommufd=ictx, iommu=iommu_type)
    if ictx.compat_ioas is None:
        return refuse(ictx.k, ENODEV, "container-empty", iommufd=ictx)
    return 0
