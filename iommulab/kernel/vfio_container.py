"""The legacy VFIO container (/dev/vfio/vfio) and its type1 backend, after
drivers/vfio/container.c and drivers/vfio/vfio_iommu_type1.c.

Attaching a group claims DMA ownership of its IOMMU group (owner: the vfio_group from 6.2, the
container file in 5.19–6.1); VFIO_SET_IOMMU attaches every group to one type1 domain.
"""
from .errno import EINVAL, ENODEV, EPERM
from .iommu import (iommu_attach_group, iommu_detach_group, iommu_group_claim_dma_owner,
                    iommu_group_has_isolated_msi, iommu_group_release_dma_owner, IommuDomain,
                    DOMAIN_UNMANAGED)
from .kobject import KObject
from .reasons import refuse
from .trace import traced
from .vfio_noiommu import VFIO_NOIOMMU_IOMMU, is_noiommu, vfio_noiommu_container_check

IOMMU_TYPES = ("VFIO_TYPE1_IOMMU", "VFIO_TYPE1v2_IOMMU")


class VfioContainer(KObject):
    CONTAINERS = ("groups",)

    def __init__(self, k):
        super().__init__(k)
        k.container_seq += 1
        self.id = k.container_seq
        self.groups = []
        self.iommu_driver = None
        self.domain = None

    def label(self):
        return f"container_file:C{self.id}"

    def ref(self):
        return ("container", self.id)


def _owner_for(container, vg):
    return vg if container.k.f.vfio_group_owner else container


def _claim(container, vg):
    k = container.k
    rc = vfio_noiommu_container_check(container, vg)
    if rc or is_noiommu(vg):                # VFIO does not claim a no-IOMMU group
        return rc
    if k.f.rfc2021:
        from .rfc2021 import vfio_set_user_owner
        return vfio_set_user_owner(vg, container)
    if not k.f.has_ownership:
        return 0
    return iommu_group_claim_dma_owner(vg.iommu_group, _owner_for(container, vg))


def _release(container, vg):
    k = container.k
    if is_noiommu(vg):
        return
    if k.f.rfc2021:
        from .rfc2021 import vfio_release_user_owner
        vfio_release_user_owner(vg)
    elif k.f.has_ownership:
        iommu_group_release_dma_owner(vg.iommu_group)


@traced(lambda c, vg: vg.iommu_group)
def vfio_container_attach_group(container, vg):
    rc = _claim(container, vg)
    if rc:
        return rc
    if container.iommu_driver not in (None, VFIO_NOIOMMU_IOMMU):
        rc = vfio_iommu_type1_attach_group(container, vg)
        if rc:
            _release(container, vg)
            return rc
    vg.container = container
    vg.container_users = 1
    container.groups.append(vg)
    return 0


@traced(lambda vg: vg.iommu_group)
def vfio_group_detach_container(vg):
    """Backend detach (domain → blocking), then release ownership (domain → default)."""
    container = vg.container
    if container.iommu_driver not in (None, VFIO_NOIOMMU_IOMMU):
        vfio_iommu_type1_detach_group(container, vg)
    _release(container, vg)
    vg.container = None
    vg.container_users = 0
    container.groups.remove(vg)
    if not container.groups:            # the container is deprivileged: back to no backend
        container.iommu_driver = None
        container.domain = None


@traced(lambda c, t: [vg.iommu_group for vg in c.groups])
def vfio_ioctl_set_iommu(container, iommu_type):
    if not container.groups:
        return refuse(container.k, EINVAL, "container-empty", container=container)
    if container.iommu_driver is not None:
        return refuse(container.k, EINVAL, "iommu-already-set", container=container,
                      iommu=container.iommu_driver)
    if iommu_type not in IOMMU_TYPES:
        return refuse(container.k, ENODEV, "iommu-type-unsupported", container=container, iommu=iommu_type)
    container.iommu_driver = iommu_type
    done = []
    for vg in container.groups:
        rc = vfio_iommu_type1_attach_group(container, vg)
        if rc:
            for prev in done:
                vfio_iommu_type1_detach_group(container, prev)
            container.iommu_driver = None
            container.domain = None
            return rc
        done.append(vg)
    return 0


@traced(lambda c, vg: vg.iommu_group)
def vfio_iommu_type1_attach_group(container, vg):
    """Attach the group to the container's domain (allocated for the first group), then insist
    on MSI isolation unless vfio_iommu_type1.allow_unsafe_interrupts is set."""
    k = container.k
    domain = container.domain
    if domain is None:
        k.domain_seq += 1
        domain = IommuDomain(k, DOMAIN_UNMANAGED, f"type1-D{k.domain_seq}", user=True)
    rc = iommu_attach_group(domain, vg.iommu_group)
    if rc:
        return rc
    if not k.params["vfio_iommu_type1.allow_unsafe_interrupts"] \
            and not iommu_group_has_isolated_msi(vg.iommu_group):
        k.printk("vfio_iommu_type1_attach_group: No interrupt remapping support.  Use the module "
                 "param \"allow_unsafe_interrupts\" to enable VFIO IOMMU support on this platform")
        iommu_detach_group(domain, vg.iommu_group)
        return refuse(k, EPERM, "msi-not-isolated", group=vg.iommu_group,
                      param="vfio_iommu_type1.allow_unsafe_interrupts")
    container.domain = domain
    return 0


@traced(lambda c, vg: vg.iommu_group)
def vfio_iommu_type1_detach_group(container, vg):
    iommu_detach_group(container.domain, vg.iommu_group)
