"""Simulator-only: /sys/kernel/debug/iommulab, the iommu core's private group state, which no real
host shows (real debugfs has no such directory). Documented as not part of Linux in the README."""
from .errno import EACCES, EINVAL
from .kernfs import Attr, lazy
from .reasons import refuse


class DebugfsFile(Attr):
    """A read-only (0444) debugfs file. Root may open it for writing (CAP_DAC_OVERRIDE), but the
    file has no write method, so write(2) fails with -EINVAL (do_dentry_open() sets no
    FMODE_CAN_WRITE); without CAP_DAC_OVERRIDE the open itself fails with -EACCES."""
    __slots__ = ()

    def __init__(self, k, path, show):
        super().__init__(show=show, store=lambda buf, caps: refuse(
            k, EINVAL if "CAP_DAC_OVERRIDE" in caps else EACCES, "read-only", path=path))


_DEBUGFS_README = """\
not part of Linux: iommulab shows the iommu core's private group state here.
Real debugfs has no iommulab directory, and on a real host no file shows a group's
owner or owner_cnt; iommulab-why GROUP explains them in words.

groups   one line per IOMMU group (struct iommu_group, drivers/iommu/iommu.c):
         its number, owner_cnt, owner, the attached domain (DEFAULT(type), BLOCKING,
         USER:name, PRIVATE:name or NULL), the default domain's type and its devices.
         Before 5.19 there is no owner or owner_cnt; the RFC of November 2021 has a
         tri-state dma_owner instead of owner.
"""


def debugfs_dir(k):
    d = "/sys/kernel/debug/iommulab"
    return lazy({"iommulab": lambda: lazy({
        "README": lambda: DebugfsFile(k, f"{d}/README", lambda: _DEBUGFS_README),
        "groups": lambda: DebugfsFile(k, f"{d}/groups", lambda: debugfs_groups_show(k))})})


def debugfs_groups_show(k):
    """The text of /sys/kernel/debug/iommulab/groups (simulator-only)."""
    lines = []
    for n, g in sorted(k.iommu_groups.items()):
        own = ""
        if k.f.rfc2021:
            own = f" owner_cnt={g.owner_cnt} dma_owner={g.dma_owner}"
        elif k.f.has_ownership:
            own = f" owner_cnt={g.owner_cnt} owner={g.owner_label()}"
        dflt = g.default_domain.type if g.default_domain is not None else "none"
        devs = ",".join(d.name for d in g.devices)
        lines.append(f"{n}{own} domain={g.domain_label()} default_domain={dflt} devices={devs}\n")
    return "".join(lines)
