"""/sys/kernel/iommu_groups/<n>/type: iommu_group_show_type() and iommu_group_store_type()
from drivers/iommu/iommu.c, in the old (≤ 6.3, device_is_bound) and new (≥ 6.4, owner_cnt)
forms of ../shared/spec/kernel-ownership.md §7."""
from .errno import EACCES, EBUSY, EINVAL, EPERM
from .iommu import (DOMAIN_DMA, DOMAIN_DMA_FQ, DOMAIN_IDENTITY, iommu_def_domain_type,
                    iommu_domain_alloc_default)
from .reasons import refuse
from .trace import traced

# sysfs_streq(): exact and case-sensitive, one trailing newline tolerated. "auto" means 0.
_TYPES = {"identity": DOMAIN_IDENTITY, "DMA": DOMAIN_DMA, "DMA-FQ": DOMAIN_DMA_FQ, "auto": 0}


def iommu_group_show_type(group):
    d = group.default_domain
    return (d.type if d is not None else "unknown") + "\n"


def _parse(buf):
    text = buf[:-1] if buf.endswith("\n") else buf
    return _TYPES.get(text)


def _dev_requirement(group):
    """Per-device requirements combined; None when a conflict makes any choice invalid."""
    req = 0
    for dev in group.devices:
        r = iommu_def_domain_type(dev) or 0
        if r and req and r != req:
            return None
        req = req or r
    return req


def _set_default_type(group, req):
    """Install a default domain of type `req` (a new domain object, like Linux)."""
    old = group.default_domain
    if old.type == req:
        return 0
    new = iommu_domain_alloc_default(group, req)
    group.default_domain = new
    if group.domain is old:
        group.domain = new
    return 0


def iommu_domain_type_str(req):
    """iommu_domain_type_str(): the words the kernel log uses for a domain type."""
    return {DOMAIN_IDENTITY: "Passthrough", DOMAIN_DMA: "Translated", DOMAIN_DMA_FQ: "Translated"}.get(req, "Unknown")


def _cannot_be_in(dev, req):
    dev.k.printk(f"{dev.log_prefix()}: Device cannot be in {iommu_domain_type_str(req)} domain")


def _change_dev_def_domain(group, dev, req):
    """iommu_change_dev_def_domain() (≤ 6.3)."""
    k = group.k
    if group.domain is not group.default_domain:
        k.printk(f"{dev.log_prefix()}: Group not assigned to default domain")
        return refuse(k, EBUSY, "domain-changed", group=group, domain=group.domain, wants="type")
    if len(group.devices) != 1:
        return refuse(k, EINVAL, "type-not-supported", group=group, devices=group.devices)
    dev_req = iommu_def_domain_type(dev) or 0
    if not req:
        req = dev_req or k.default_domain_type
    if dev_req and req != dev_req:
        _cannot_be_in(dev, req)
        return refuse(k, EINVAL, "type-conflicts-with-device", group=group, device=dev, type=req, needs=dev_req)
    cur = group.default_domain.type
    if cur == req:
        return 0
    if req == DOMAIN_DMA_FQ and cur == DOMAIN_DMA:
        group.default_domain.type = DOMAIN_DMA_FQ     # flush queue enabled in place
        return 0
    return _set_default_type(group, req)


def _store_old(group, req):
    k = group.k
    if len(group.devices) != 1:
        k.printk("iommu: Cannot change default domain: Group has more than one device")   # pr_fmt
        return refuse(k, EINVAL, "type-not-supported", group=group, devices=group.devices)
    dev = group.devices[0]
    if dev.driver is not None and not (req == DOMAIN_DMA_FQ and group.default_domain.type == DOMAIN_DMA):
        k.printk("iommu: Device is still bound to driver")
        return refuse(k, EBUSY, "type-group-busy", group=group, device=dev, driver=dev.driver)
    return _change_dev_def_domain(group, dev, req)


def _store_new(group, req):
    k = group.k
    if req == DOMAIN_DMA_FQ and group.default_domain.type == DOMAIN_DMA:
        group.default_domain.type = DOMAIN_DMA_FQ     # allowed even while bound or owned
        return 0
    if not group.devices or group.owner_cnt:
        users = [d for d in group.devices if d.driver is not None and not d.driver.driver_managed_dma]
        return refuse(k, EPERM, "group-owned" if group.owner is not None else "group-in-use", group=group,
                      owner=group.owner, owner_cnt=group.owner_cnt, kernel_users=users,
                      drivers=[d.driver for d in users], wants="type")
    dev_req = _dev_requirement(group)
    if dev_req is None:
        return refuse(k, EINVAL, "type-conflicts-with-device", group=group, type=req)
    # A device's requirement against the one written: iommu_change_dev_def_domain() in 6.4,
    # iommu_get_default_domain_type() from 6.5 both log "Device cannot be in %s domain".
    for d in group.devices:
        need = iommu_def_domain_type(d)             # an untrusted device needs DMA
        if req and need and req != need:
            _cannot_be_in(d, req)
            return refuse(k, EINVAL, "type-conflicts-with-device", group=group, device=d, type=req, needs=need)
    return _set_default_type(group, req or dev_req or k.default_domain_type)


@traced(lambda group, *_: group)
def iommu_group_store_type(group, buf, caps):
    """Returns len(buf) on success, a negative errno otherwise. `caps` are the writer's
    capabilities: both CAP_SYS_ADMIN and CAP_SYS_RAWIO are needed."""
    if "CAP_SYS_ADMIN" not in caps or "CAP_SYS_RAWIO" not in caps:
        return refuse(group.k, EACCES, "type-no-permission", group=group)
    if group.default_domain is None:
        return refuse(group.k, EINVAL, "type-not-supported", group=group)
    req = _parse(buf)
    if req is None:
        return refuse(group.k, EINVAL, "type-unknown", group=group, value=buf.strip())
    rc = _store_new(group, req) if group.k.f.store_type_ownership else _store_old(group, req)
    return rc if rc else len(buf)
