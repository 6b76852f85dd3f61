"""The IOMMU core's DMA-ownership machinery, after drivers/iommu/iommu.c.

Groups, domains, iommu_device_use/unuse_default_domain, the claim/release API, attach/detach
and PASID attachment, with the version differences of ../shared/spec/kernel-ownership.md §2.
Every function here takes the group mutex in the kernel; the model is single-threaded, so the
mutex is implicit. Functions return 0 or a negative errno like C; void ones return None.
"""
from typing import TYPE_CHECKING

from .errno import EBUSY, EINVAL, ENODEV, EPERM, EPROBE_DEFER
from .kobject import KObject
from .reasons import refuse
from .trace import traced

if TYPE_CHECKING:
    from .device import Device

IOMMU_NO_PASID = 0

# Domain types as the sysfs `type` file and g.domain.type spell them.
DOMAIN_DMA, DOMAIN_DMA_FQ, DOMAIN_IDENTITY = "DMA", "DMA-FQ", "identity"
DOMAIN_BLOCKED, DOMAIN_UNMANAGED = "blocked", "unmanaged"


class IommuDomain(KObject):
    """struct iommu_domain. `user` marks domains made for user space (VFIO type1, iommufd hwpt);
    it only changes how state is labelled (USER:… versus PRIVATE:…)."""

    def __init__(self, k, type, name, user=False):
        super().__init__(k)
        self.type = type
        self.name = name
        self.user = user

    def label(self):
        return self.name

    def ref(self):
        return ("domain", self.name)

    def __repr__(self):
        return f"<iommu_domain {self.name} type={self.type}>"


class IommuGroup(KObject):
    """struct iommu_group (fields of ../shared/spec/kernel-ownership.md §1.1)."""
    CONTAINERS = ("devices", "pasid_array")


    def __init__(self, k, number):
        super().__init__(k)
        self.id = number
        self.devices = []
        self.owner_cnt = 0
        self.owner = None
        self.domain = None
        self.default_domain = None
        self.blocking_domain = None
        self.pasid_array = {}
        self.name = None                # iommu_group_set_name(): "vfio-noiommu" for VFIO's fake groups
        # The unmerged 2021 design (iommulab.kernel.rfc2021) tracks these instead.
        self.dma_owner = "DMA_OWNER_NONE"
        self.owner_user_file = None

    @property
    def number(self):
        return self.id

    def label(self):
        return f"group {self.id}"

    def ref(self):
        return ("group", self.id)

    def owner_label(self):
        return owner_label(self.owner)

    def domain_kind(self):
        """Which of the group's domains is attached: None, "default", "blocking", "user" or "private"."""
        d = self.domain
        if d is None:
            return None
        if d is self.default_domain:
            return "default"
        if d is self.blocking_domain:
            return "blocking"
        return "user" if d.user else "private"

    def domain_label(self):
        kind, d = self.domain_kind(), self.domain
        if kind is None:
            return "NULL"
        if kind == "default":
            return f"DEFAULT({d.type})"
        if kind == "blocking":
            return "BLOCKING"
        return f"{kind.upper()}:{d.name}"

    def domain_ref(self):
        """domain_label() as data: ("default", type), ("blocking", None), ("user", name),
        ("private", name), or None without a domain."""
        kind, d = self.domain_kind(), self.domain
        if kind is None:
            return None
        return (kind, {"default": d.type, "blocking": None}.get(kind, d.name))

    def state_tuple(self):
        return (self.id, self.owner_cnt, self.owner_label(), self.domain_label())

    def __repr__(self):
        return (f"<iommu_group {self.id} owner_cnt={self.owner_cnt} owner={self.owner_label()} "
                f"domain={self.domain_label()}>")


def owner_label(owner):
    if owner is None:
        return "NULL"
    if isinstance(owner, str):
        return owner
    lab = getattr(owner, "label", None)
    if lab is not None:
        return lab() if callable(lab) else str(lab)
    return f"{type(owner).__name__}@{id(owner):x}"


def _group_of_dev(dev, *_):
    return dev.iommu_group


def _group_arg(group, *_):
    return group


def _group_of_2nd(_, x, *__):
    return x if isinstance(x, IommuGroup) else x.iommu_group


def _warn(k, func, text=""):
    k.warn("drivers/iommu/iommu.c", func, text)


def _need(k, feature, func):
    if not getattr(k.f, feature):
        raise NotImplementedError(f"{func}() does not exist in Linux {k.f.release}")


# --- groups and their domains -------------------------------------------------------------

def iommu_group_alloc(k, number):
    """iommu_group_alloc(): a new, empty group with the given id."""
    g = IommuGroup(k, number)
    k.iommu_groups[number] = g
    return g


def iommu_domain_alloc_default(group, type):
    k = group.k
    k.domain_seq += 1
    return IommuDomain(k, type, f"dflt{k.domain_seq}")


@traced(lambda dev, *_: None)
def iommu_paging_domain_alloc(dev: "Device", name: str | None = None, user: bool = False) -> "IommuDomain":
    """iommu_paging_domain_alloc(): an empty paging (UNMANAGED) domain for dev's IOMMU."""
    k = dev.k
    k.domain_seq += 1
    return IommuDomain(k, DOMAIN_UNMANAGED, name or f"D{k.domain_seq}", user)


def iommu_def_domain_type(dev):
    """iommu_get_def_domain_type(): the type a device needs (untrusted PCI → DMA), or None."""
    if dev.untrusted:
        return DOMAIN_DMA
    return None


def iommu_group_has_isolated_msi(group):
    """iommu_group_has_isolated_msi(): true when the platform remaps/isolates MSIs."""
    return group.k.msi_isolation


def _alloc_blocking_domain(group):
    """__iommu_group_alloc_blocking_domain(): cached for the group's lifetime, never freed on
    release (a failed claim leaves it allocated, as in Linux). A driver without an
    IOMMU_DOMAIN_BLOCKED domain (VT-d before 35a99c54dd60, 6.2) gets an empty UNMANAGED one."""
    k = group.k
    if group.blocking_domain is None:
        kind = DOMAIN_UNMANAGED if k.iommu_driver == "intel" and not k.f.intel_blocking_domain else DOMAIN_BLOCKED
        group.blocking_domain = IommuDomain(k, kind, f"blocking{group.id}")
    return 0


def intel_rmrr_refuses(dev, new):
    """intel_iommu_attach_device() until 6.6 (removed when the core's require_direct took over):
    an UNMANAGED domain is refused with -EPERM for a device whose RMRR is not relaxable."""
    k = dev.k
    if not (k.iommu_driver == "intel" and k.f.intel_rmrr_attach_check and dev.require_direct
            and new.type == DOMAIN_UNMANAGED):
        return 0
    k.printk(f"{dev.log_prefix()}: Device is ineligible for IOMMU domain attach due to platform "
             "RMRR requirement.  Contact your platform vendor.")
    return refuse(k, EPERM, "rmrr-attach", device=dev, domain=new)


def _refuses(dev, new, group):
    """__iommu_device_set_domain()'s require_direct rule (a48ce36e2786, v6.6)."""
    return (dev.k.f.require_direct_blocks and dev.require_direct
            and (new.type == DOMAIN_BLOCKED or new is group.blocking_domain))


def __iommu_group_set_domain_internal(group, new, must_succeed=False):
    """Attach every member to `new`; on any refusal nothing changes (Linux rolls back)."""
    k = group.k
    if new is group.domain:
        return 0
    if new is None:
        if group.default_domain is None:      # legacy IOMMU driver without default domains
            group.domain = None
            return 0
        _warn(k, "__iommu_group_set_domain_internal")
        return refuse(k, EINVAL, "null-domain", group=group)
    for dev in group.devices:
        if _refuses(dev, new, group):
            k.printk(f"{dev.log_prefix()}: Firmware has requested this device have a 1:1 IOMMU "
                     "mapping, rejecting configuring the device without a 1:1 mapping. "
                     "Contact your platform vendor.")
            if must_succeed:
                _warn(k, "__iommu_group_set_domain_internal", "iommu driver failed to attach a domain")
            return refuse(k, EINVAL, "require-direct", group=group, device=dev, domain=new)
        rc = intel_rmrr_refuses(dev, new)
        if rc:
            return rc
    group.domain = new
    return 0


def __iommu_group_set_core_domain(group):
    """Back to whatever the core owns: the blocking domain while owned, else the default."""
    new = group.blocking_domain if group.owner is not None else group.default_domain
    __iommu_group_set_domain_internal(group, new, must_succeed=True)


def iommu_is_default_domain(group):
    """iommu_is_default_domain() (5.19.9 … 6.6.y): identity-on-identity counts as default."""
    if group.domain is group.default_domain:
        return True
    return (group.k.f.amd_identity_hack and group.default_domain is not None
            and group.domain is not None and group.default_domain.type == DOMAIN_IDENTITY
            and group.domain.type == DOMAIN_IDENTITY)


# --- kernel DMA API users (bus dma_configure / dma_cleanup) -------------------------------

def _defer_allowed(dev):
    """The 6.6.90 backport of b46064a18810 defers only with CONFIG_IOMMU_DMA and when the IOMMU
    driver has no set_platform_dma_ops. Only drivers without default domains had that op (ARM32
    exynos/rockchip, tegra-smmu, fsl_pamu, s390, ...): none of intel, amd, arm-smmu-v3 and
    arm-smmu in 6.6 do, so a device whose driver gives it no default domain
    (`default_domain = false`) stands for one that has it."""
    k = dev.k
    if not k.f.eprobe_defer_needs_iommu_dma:
        return True
    return k.config["CONFIG_IOMMU_DMA"] and dev.default_domain_support


@traced(_group_of_dev)
def iommu_device_use_default_domain(dev: "Device") -> int:
    """A kernel driver that uses the DMA API is about to probe: count it, unless the group is
    owned or its domain was changed."""
    group = dev.iommu_group
    k = dev.k
    if group is None or not k.f.has_ownership:
        return 0
    if k.f.use_default_eprobe_defer and group.default_domain is None and _defer_allowed(dev):
        return refuse(k, EPROBE_DEFER, "no-default-domain-yet", group=group, device=dev)
    if group.owner_cnt:
        facts = dict(group=group, device=dev, owner=group.owner, owner_cnt=group.owner_cnt, wants="kernel-dma")
        if group.owner is not None:
            return refuse(k, EBUSY, "group-owned", **facts)
        if not iommu_is_default_domain(group):
            return refuse(k, EBUSY, "domain-changed", domain=group.domain, **facts)
        if k.f.pasid_checks and group.pasid_array:
            return refuse(k, EBUSY, "pasids-attached", pasids=sorted(group.pasid_array), **facts)
    group.owner_cnt += 1
    return 0


@traced(_group_of_dev)
def iommu_device_unuse_default_domain(dev: "Device") -> None:
    """The driver went away. Never lets owner_cnt go negative; note it does not look at owner."""
    group = dev.iommu_group
    k = dev.k
    if group is None or not k.f.has_ownership:
        return None
    if group.owner_cnt == 0 or (k.f.pasid_checks and group.pasid_array):
        _warn(k, "iommu_device_unuse_default_domain")
        return None
    group.owner_cnt -= 1
    return None


# --- explicit owners (VFIO, iommufd) ------------------------------------------------------

def __iommu_take_dma_ownership(group, owner):
    k = group.k
    if group.domain is not None and group.domain is not group.default_domain:
        return refuse(k, EBUSY, "domain-changed", group=group, domain=group.domain, wants="claim")
    if k.f.pasid_checks and group.pasid_array:
        return refuse(k, EBUSY, "pasids-attached", group=group, pasids=sorted(group.pasid_array), wants="claim")
    rc = _alloc_blocking_domain(group)
    if rc:
        return rc
    rc = __iommu_group_set_domain_internal(group, group.blocking_domain)
    if rc:
        return rc
    group.owner = owner
    group.owner_cnt += 1
    return 0


def __iommu_release_dma_ownership(group):
    k = group.k
    if group.owner_cnt == 0 or group.owner is None or (k.f.pasid_checks and group.pasid_array):
        fn = "__iommu_release_dma_ownership" if k.f.device_claim_api else "iommu_group_release_dma_owner"
        _warn(k, fn)
        return
    group.owner_cnt = 0
    group.owner = None
    __iommu_group_set_domain_internal(group, group.default_domain, must_succeed=True)


@traced(_group_arg, op="claim")
def iommu_group_claim_dma_owner(group: "IommuGroup", owner: object) -> int:
    """Exclusive, non-recursive claim of a whole group: -EPERM if anyone (a kernel driver or any
    owner, even the same one) already counts."""
    k = group.k
    _need(k, "has_ownership", "iommu_group_claim_dma_owner")
    if owner is None and k.f.null_owner_warn:
        _warn(k, "iommu_group_claim_dma_owner")
        return refuse(k, EINVAL, "null-owner", group=group)
    if group.owner_cnt:
        return _refuse_in_use(group, EPERM)
    return __iommu_take_dma_ownership(group, owner)


def _refuse_in_use(group, err):
    """The group counts already: say who (an owner, or the kernel DMA drivers bound in it)."""
    users = [d for d in group.devices if d.driver is not None and not d.driver.driver_managed_dma]
    return refuse(group.k, err, "group-owned" if group.owner is not None else "group-in-use",
                  group=group, owner=group.owner, owner_cnt=group.owner_cnt, kernel_users=users,
                  drivers=[d.driver for d in users], wants="claim")


@traced(_group_of_dev, op="claim")
def iommu_device_claim_dma_owner(dev: "Device", owner: object) -> int:
    """Per-device claim (iommufd): the same owner may claim again and just counts."""
    k = dev.k
    _need(k, "device_claim_api", "iommu_device_claim_dma_owner")
    if owner is None:
        _warn(k, "iommu_device_claim_dma_owner")
        return refuse(k, EINVAL, "null-owner", device=dev)
    group = dev.iommu_group
    if group is None:
        return refuse(k, ENODEV, "no-group", device=dev)
    if group.owner_cnt:
        if group.owner is not owner:
            if group.owner is not None:
                return refuse(k, EPERM, "owned-by-other", group=group, device=dev, owner=group.owner,
                              owner_cnt=group.owner_cnt, wants="claim")
            return _refuse_in_use(group, EPERM)
        group.owner_cnt += 1
        return 0
    return __iommu_take_dma_ownership(group, owner)


@traced(_group_arg, op="release")
def iommu_group_release_dma_owner(group: "IommuGroup") -> None:
    """Drops the whole claim (owner_cnt to 0, whatever it was) and reattaches the default domain."""
    _need(group.k, "has_ownership", "iommu_group_release_dma_owner")
    __iommu_release_dma_ownership(group)


@traced(_group_of_dev, op="release")
def iommu_device_release_dma_owner(dev: "Device") -> None:
    """Counterpart of iommu_device_claim_dma_owner(); it does not compare owners."""
    k = dev.k
    _need(k, "device_claim_api", "iommu_device_release_dma_owner")
    group = dev.iommu_group
    if group is None:                        # Linux dereferences NULL here
        k.oops("BUG: kernel NULL pointer dereference in iommu_device_release_dma_owner "
               f"({dev.name} has no IOMMU group)")
    if group.owner_cnt > 1:
        group.owner_cnt -= 1
    else:
        __iommu_release_dma_ownership(group)


@traced(_group_arg)
def iommu_group_dma_owner_claimed(group: "IommuGroup") -> bool:
    """True while anyone counts: kernel DMA users as well as explicit owners (this is what VFIO
    calls viability)."""
    return group.owner_cnt != 0


# --- attaching domains --------------------------------------------------------------------

def __iommu_attach_group(domain, group):
    if group.domain not in (None, group.default_domain, group.blocking_domain):
        return refuse(group.k, EBUSY, "domain-changed", group=group, domain=group.domain, wants="attach")
    return __iommu_group_set_domain_internal(group, domain)


@traced(_group_of_2nd)
def iommu_attach_group(domain: "IommuDomain", group: "IommuGroup") -> int:
    """No ownership check: the caller must own the group or be its only kernel user."""
    return __iommu_attach_group(domain, group)


@traced(_group_of_2nd)
def iommu_attach_device(domain: "IommuDomain", dev: "Device") -> int:
    """Only for singleton groups."""
    group = dev.iommu_group
    if group is None:
        return refuse(dev.k, ENODEV, "no-group", device=dev)
    if len(group.devices) != 1:
        return refuse(dev.k, EINVAL, "group-not-singleton", group=group, device=dev, devices=group.devices)
    return __iommu_attach_group(domain, group)


@traced(_group_of_2nd)
def iommu_detach_group(domain: "IommuDomain", group: "IommuGroup") -> None:
    __iommu_group_set_core_domain(group)


@traced(_group_of_2nd)
def iommu_detach_device(domain: "IommuDomain", dev: "Device") -> None:
    group = dev.iommu_group
    if group is None:
        return None
    if domain is not group.domain or len(group.devices) != 1:
        _warn(dev.k, "iommu_detach_device")
        return None
    __iommu_group_set_core_domain(group)


@traced(_group_of_2nd)
def iommu_group_replace_domain(group, new_domain):
    """iommufd's replace: swaps domains without the default/blocking precondition (v6.3)."""
    if new_domain is None:
        return refuse(group.k, EINVAL, "null-domain", group=group)
    return __iommu_group_set_domain_internal(group, new_domain)


# --- PASIDs -------------------------------------------------------------------------------

@traced(_group_of_2nd)
def iommu_attach_device_pasid(domain: "IommuDomain", dev: "Device", pasid: int) -> int:
    """Attach a domain to one PASID of a device. Does not check ownership."""
    k = dev.k
    _need(k, "pasid_checks", "iommu_attach_device_pasid")
    group = dev.iommu_group
    if group is None:
        return refuse(k, ENODEV, "no-group", device=dev)
    if pasid == IOMMU_NO_PASID:
        return refuse(k, EINVAL, "pasid-invalid", group=group, device=dev, pasid=pasid)
    for member in group.devices:
        if pasid >= member.max_pasids:
            return refuse(k, EINVAL, "pasid-invalid", group=group, device=member, pasid=pasid,
                          max_pasids=member.max_pasids)
    if pasid in group.pasid_array:
        return refuse(k, EBUSY, "pasid-busy", group=group, device=dev, pasid=pasid)
    group.pasid_array[pasid] = domain
    return 0


@traced(_group_of_2nd)
def iommu_detach_device_pasid(domain: "IommuDomain", dev: "Device", pasid: int) -> None:
    _need(dev.k, "pasid_checks", "iommu_detach_device_pasid")
    group = dev.iommu_group
    if group is not None:
        group.pasid_array.pop(pasid, None)


# --- group membership (iommu_probe_device / iommu_release_device) --------------------------

def iommu_group_add_device(group, dev):
    """Join a group: attach the group's current domain; the first member sets up the default
    domain. Returns 0, or -EINVAL when the current domain refuses this device (v6.6 require_direct),
    -EPERM when VT-d refuses it an UNMANAGED domain (before 6.6)."""
    k = dev.k
    if not group.devices and group.domain is None and dev.default_domain_support:
        req = iommu_def_domain_type(dev) or k.default_domain_type
        group.default_domain = iommu_domain_alloc_default(group, req)
        group.domain = group.default_domain
    elif group.domain is not None and _refuses(dev, group.domain, group):
        return refuse(k, EINVAL, "require-direct", group=group, device=dev, domain=group.domain)
    elif group.domain is not None and intel_rmrr_refuses(dev, group.domain):
        return -EPERM                                  # joining a group on a user (UNMANAGED) domain
    elif group.default_domain is not None and iommu_def_domain_type(dev) == DOMAIN_DMA \
            and group.default_domain.type == DOMAIN_DMA_FQ and group.domain is group.default_domain:
        group.default_domain.type = DOMAIN_DMA        # an untrusted member forces strict mode
    group.devices.append(dev)
    dev.iommu_group = group
    return 0


def iommu_group_remove_device(dev):
    """iommu_release_device(): leave the group. From 6.4 the last member's departure WARNs when
    the group is still counted or off its default domain (iommu_release_device() in 6.4/6.5,
    __iommu_group_free_device() from 6.6); 5.19-6.3 have no such check."""
    group = dev.iommu_group
    if group is None:
        return
    k = dev.k
    group.devices.remove(dev)
    dev.iommu_group = None
    if not group.devices:
        if k.f.group_empty_warn and (group.owner_cnt or group.domain is not group.default_domain):
            fn = "__iommu_group_free_device" if k.f.group_free_device_fn else "iommu_release_device"
            _warn(k, fn)
        del k.iommu_groups[group.id]
        k.free_group_number(group.id)
