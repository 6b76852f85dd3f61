"""The rules Linux keeps about DMA ownership, checked against a kernel's observable state.

Each broken rule comes back as a Violation with a sentence a learner understands. The rules:
  warn          the kernel WARNed (its own consistency checks fired)
  one-owner     a group is used by the kernel DMA API or by one user-space owner, never both
  count         an unowned group's owner_cnt equals its members bound to kernel DMA drivers
                on buses with DMA hooks (a higher count is a leak, a lower one a theft)
  owned-domain  an owned group's domain is its blocking domain or its owner's, never the default
                (one-owner also covers "no device joins a kernel DMA driver while its group is user-owned")
  old-vfio-bug  (before 5.19) no kernel driver binds into a group VFIO is using
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    rule: str
    group: int | None
    sentence: str

    def __str__(self):
        return self.sentence


def _kernel_dma_members(k, g):
    from ..kernel.bus.common import dma_configure_uses_default_domain     # 6.4's cdx counts nobody
    return [d for d in g.devices if dma_configure_uses_default_domain(d)]


def check(k, snapshot=None, since_dmesg=0):
    """The broken rules of kernel k (or of `snapshot`, restored into k for the check and undone
    after). WARNs are looked for in the kernel log from line `since_dmesg` on."""
    if snapshot is not None:
        now = k.snapshot()
        k.restore(snapshot)
        try:
            return check(k, None, since_dmesg)
        finally:
            k.restore(now)
    out = []
    for line in k.dmesg_lines[since_dmesg:]:
        if line.startswith("WARNING:"):
            func = line.rsplit(" ", 1)[-1]
            out.append(Violation("warn", None, f"the kernel WARNed in {func}(): one of its own consistency "
                                 "checks failed"))
    if k.crashed:
        out.append(Violation("old-vfio-bug", None, f"the kernel crashed: {k.crashed}"))
    if not k.f.has_ownership:
        return out
    for n, g in sorted(k.iommu_groups.items()):
        users = _kernel_dma_members(k, g)
        names = ", ".join(f"{d.name} ({d.driver.name})" for d in users)
        if g.owner is not None:
            if users:
                out.append(Violation("one-owner", n, f"group {n} is owned by user space ({g.owner_label()}) "
                                     f"while kernel DMA drivers are bound: {names}"))
            if g.domain is g.default_domain or g.domain is None:
                out.append(Violation("owned-domain", n, f"group {n} is owned by user space but its domain is "
                                     f"{g.domain_label()}, not its blocking or the owner's domain"))
            if g.owner_cnt <= 0:
                out.append(Violation("count", n, f"group {n} has an owner but owner_cnt {g.owner_cnt}"))
        elif g.owner_cnt != len(users):
            what = ("leaked (counted more than bound)" if g.owner_cnt > len(users)
                    else "stolen (counted less than bound)")
            bound = (f"{len(users)} kernel DMA driver{'s' if len(users) != 1 else ''} bound"
                     + (f": {names}" if users else ""))
            out.append(Violation("count", n, f"group {n} has owner_cnt {g.owner_cnt} but {bound} — the count "
                                 f"was {what}"))
    return out
