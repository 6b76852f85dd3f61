"""Why the model refused: a stable reason code and the facts that caused it, recorded on the
event of the refusing call at the point of refusal.

    return refuse(k, EBUSY, "group-owned", group=g, owner=g.owner, owner_cnt=g.owner_cnt)

records Reason("group-owned", EBUSY, {...}) on the innermost running event and returns -EBUSY.
Linux itself keeps no such record (a refusal is just the errno, sometimes with a printk); the
code is what the kernel source's condition says, so views can word it without reading function
names or errno numbers. Facts are plain data: kernel objects become references (kernel/trace.py
`ref`), ints and strings stay as they are. CODES is the catalogue; every code a refusal site uses
is in it (tests check both ways).
"""
from .trace import ref

# code: the condition in the kernel's words (documentation, not the learner's sentence: views
# keep those).
CODES = {
    # driver core (drivers/base/dd.c, bus.c, driver.c)
    "no-such-device": "no device of that name on this bus (bus_find_device_by_name() failed)",
    "driver-does-not-match": "driver_match_device() says no: not in the id table, no dynamic id, no override",
    "device-not-registered": "the device is not (or no longer) registered",
    "device-already-bound": "the device already has a driver (dev->driver is set)",
    "not-bound-to-driver": "the device is not bound to this driver",
    "probe-failed": "the driver's probe() returned an error",
    "probe-deferred": "probe returned -EPROBE_DEFER: a supplier is not ready",
    "buffer-too-long": "the value does not fit (PAGE_SIZE or the field's size)",
    "bad-id": "new_id/remove_id could not parse the vendor and device numbers",
    "id-already-matched": "the driver already matches that id (new_id_store())",
    "no-such-dynid": "no dynamic id matches (remove_id_store())",
    "attach-failed": "device_attach() failed for the device",
    "bad-value": "the written value is not one this attribute accepts",
    "not-a-header-type-normal": "vfio-pci only takes devices with a normal header (no bridges)",
    "reset-required": "vfio-platform has no reset function for the device and reset_required is set",
    # IOMMU core (drivers/iommu/iommu.c)
    "group-owned": "the group has an explicit owner (group->owner)",
    "group-in-use": "the group's owner_cnt is not 0 (a kernel DMA driver or an owner counts)",
    "owned-by-other": "the group is owned by another owner (iommu_device_claim_dma_owner())",
    "domain-changed": "the group is off its default domain",
    "pasids-attached": "PASIDs are attached to the group (pasid_array is not empty)",
    "no-default-domain-yet": "the group has no default domain yet: probe later (-EPROBE_DEFER)",
    "null-owner": "the owner cookie is NULL",
    "no-group": "the device has no IOMMU group",
    "require-direct": "a device of the group requires a direct (1:1) mapping (require_direct)",
    "rmrr-attach": "VT-d refuses an UNMANAGED domain to a device with a non-relaxable RMRR",
    "group-not-singleton": "iommu_attach_device() only takes a group of one device",
    "pasid-invalid": "the PASID is IOMMU_NO_PASID or beyond a member's max_pasids",
    "pasid-busy": "that PASID is already attached",
    "null-domain": "no domain given (NULL)",
    "type-unknown": "the group type written is not identity, DMA, DMA-FQ or auto",
    "type-conflicts-with-device": "a device of the group requires another default domain type",
    "type-group-busy": "the default domain can only change while no driver is bound",
    "type-not-supported": "the type is not supported here (no DMA-FQ, or not a multi-device group)",
    "type-no-permission": "changing the group type needs CAP_SYS_ADMIN",
    "dma-owner-mode": "the group is in the other DMA-ownership mode (2021 RFC)",
    "dma-owner-file": "a user owner with another file than the group's (2021 RFC)",
    # VFIO (drivers/vfio/)
    "group-not-viable": "not every device of the group is bound to a VFIO driver or free",
    "group-has-no-vfio-device": "no device of the group is bound to a VFIO driver: no /dev/vfio/N",
    "group-file-open": "the group's file is already open",
    "device-open-via-cdev": "a device of the group is open through its cdev",
    "group-has-container": "the group already has a container or an iommufd",
    "group-no-container": "the group has no container (or iommufd) set",
    "container-empty": "no group has been added to the container (VFIO_GROUP_SET_CONTAINER first)",
    "container-users": "devices of the group are still open",
    "no-iommu-driver": "the container has no IOMMU driver set (VFIO_SET_IOMMU first)",
    "iommu-already-set": "the container already has an IOMMU driver",
    "iommu-type-unsupported": "that IOMMU type is not available",
    "no-such-vfio-device": "no VFIO device of that name in the group",
    "not-a-container": "the file descriptor is not a VFIO container or an iommufd",
    "bad-fd": "the file descriptor is not open",
    "noiommu-disabled": "no IOMMU group and vfio.enable_unsafe_noiommu_mode is off",
    "noiommu-needs-rawio": "no-IOMMU mode needs CAP_SYS_RAWIO",
    "noiommu-mismatch": "a no-IOMMU group goes only with the no-IOMMU driver, and the other way round",
    "device-file-bound": "this device file is already bound (or the device is open on another file)",
    "device-file-not-bound": "the device file is not bound to an iommufd",
    "group-open-blocks-cdev": "the group's file is open, so its devices' cdevs cannot be opened",
    # iommufd (drivers/iommu/iommufd/)
    "msi-not-isolated": "the platform does not isolate MSIs and allow_unsafe_interrupts is off",
    "no-such-object": "no iommufd object with that id",
    "wrong-object-type": "the object is not an IOAS or a HWPT",
    "device-not-attached": "the device is not attached",
    "device-already-attached": "the device is already attached",
    "hwpt-incompatible": "the HWPT belongs to another device or IOMMU",
    # files, processes and modules
    "no-such-file": "no such path",
    "is-a-directory": "the path is a directory",
    "not-a-directory": "a component of the path is not a directory",
    "read-only": "the file has no store (read-only)",
    "not-writable": "writing this node is not supported",
    "unknown-ioctl": "the file has no such ioctl",
    "no-such-module": "no module of that name",
    "module-not-loaded": "the module is not loaded",
    "module-builtin": "a built-in module cannot be removed",
    "module-in-use": "the module's devices are held by user space",
    "no-sriov": "the device has no SR-IOV capability or no driver that configures VFs",
    "too-many-vfs": "more VFs than sriov_totalvfs",
    "vfs-enabled": "VFs are enabled: write 0 first",
}


class Reason:
    """A refusal's code, errno and facts."""
    __slots__ = ("code", "errno", "facts")

    def __init__(self, code, errno, facts):
        self.code, self.errno, self.facts = code, errno, facts

    def as_dict(self):
        return {"code": self.code, "errno": self.errno,
                "facts": {n: (list(v) if isinstance(v, tuple) else v) for n, v in self.facts.items()}}

    def __repr__(self):
        return f"<reason {self.code} -{self.errno} {self.facts}>"


def fact(value):
    """Facts are plain data: ints, strings, bools and None stay; objects become references."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(fact(v) for v in value)
    return ref(value)


def refuse(k, err, code, **facts):
    """Record why on the innermost running event and return -err (err positive, as in errno.h)."""
    if code not in CODES:
        raise KeyError(f"unknown reason code {code!r}: add it to kernel/reasons.py CODES")
    ev = k.tracer.current()
    # The first reason for an errno stays: an outer site returning the same errno passes it on.
    if ev is not None and (ev.reason is None or ev.reason.errno != err):
        ev.reason = Reason(code, err, {n: fact(v) for n, v in facts.items()})
    return -err


def origin(events):
    """The reason for a step's refusal: the last recorded reason with the errno the action
    returned (inner refusals may be tolerated or translated on the way up), else the last one."""
    top = next((e for e in events if e.depth == 0), None)
    err = top.errno if top is not None else 0
    found = [e.reason for e in events if e.reason is not None
             and (e.refused or e.result == e.reason.errno)]     # really_probe(): positive errno
    if not found:
        return None
    same = [r for r in found if r.errno == err]
    return (same or found)[-1]
