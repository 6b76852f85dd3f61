"""Which kernel we are: version parsing and the features each release has.

The feature table follows ../shared/spec/kernel-ownership.md §10 (version flags) and §9.5.
"""
import dataclasses
from dataclasses import dataclass
import re

NEWEST = "6.18"
RFC_2021 = "rfc-2021-11"
# The RFC series was posted against v5.16-rc; everything outside its ownership design is 5.16.
_RFC_BASE = (5, 16, 0)

# ASCII digits only (\d would take "٦"), no leading zeros, and no trailing newline ($ would allow one)
_VERSION_RE = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(?:\.(0|[1-9][0-9]{0,2}))?")
OLDEST = (5, 18)
_NEWEST = tuple(int(x) for x in NEWEST.split("."))
_RANGE = f"modelled: 5.18 to {NEWEST}.y, or {RFC_2021}"


class VersionError(ValueError):
    pass


def parse_version(text):
    """'6.1.52' -> (6, 1, 52); 'rfc-2021-11' -> RFC_2021. Raises VersionError."""
    if text == RFC_2021:
        return RFC_2021
    m = _VERSION_RE.fullmatch(str(text))
    if not m:
        raise VersionError(f"version {text!r} is not \"X.Y\", \"X.Y.Z\" or \"{RFC_2021}\" (X, Y "
                           f"and Z in ASCII digits, at most three each, no leading zeros; {_RANGE})")
    v = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if v[:2] < OLDEST:
        raise VersionError(f"version {text!r} is older than 5.18, the oldest modelled ({_RANGE})")
    if v[:2] > _NEWEST:
        raise VersionError(f"version {text!r} is newer than {NEWEST}, the newest modelled ({_RANGE})")
    return v


def _between(v, lo, hi_excl):
    return lo <= v < hi_excl


@dataclass(frozen=True)
class Features:
    """What a kernel release does, as booleans the model branches on."""
    release: str
    rfc2021: bool                   # the unmerged Nov 2021 tri-state design (seed 002)
    has_ownership: bool             # owner_cnt/owner, use/unuse_default_domain (v5.19)
    test_remove_cleanup_fix: bool   # f429378a9bf8: dma_cleanup on the test_remove path (6.6; 6.5.3, 6.4.16, 6.1.53)
    amd_identity_hack: bool         # iommu_is_default_domain() (5.19.9 .. 6.6.y)
    pasid_checks: bool              # pasid_array checks in ownership transitions (6.2)
    device_claim_api: bool          # iommu_device_claim/release_dma_owner (6.2)
    null_owner_warn: bool           # claim with a NULL owner WARNs and fails (6.2)
    vfio_group_owner: bool          # VFIO's owner cookie is the vfio_group, not the container file (6.1)
    iommufd: bool                   # iommufd exists (6.2)
    iommufd_msi_check_at_bind: bool # MSI isolation checked in iommufd_device_bind() (6.6); 6.2-6.5 at attach
    store_type_ownership: bool      # group type store uses owner_cnt (6.4)
    require_direct_blocks: bool     # require_direct refuses blocking domains (6.6)
    vfio_cdev: bool                 # /dev/vfio/devices/vfioX and BIND_IOMMUFD (6.6)
    use_default_eprobe_defer: bool  # -EPROBE_DEFER when the default domain is missing (b46064a18810:
                                    # 6.15; stable 6.14.2 and 6.6.90)
    eprobe_defer_needs_iommu_dma: bool  # the 6.6.y backport: only with CONFIG_IOMMU_DMA and an IOMMU
                                        # driver without set_platform_dma_ops
    cdx_bus: bool                   # drivers/cdx exists (6.4)
    cdx_ownership: bool             # cdx_dma_configure uses the default domain, cdx_dma_cleanup,
                                    # driver_managed_dma and vfio-cdx (6.5)
    group_empty_warn: bool          # WARN when a group empties while counted or off-default (6.4)
    group_free_device_fn: bool      # that WARN sits in __iommu_group_free_device (6.6), before in
                                    # iommu_release_device
    intel_rmrr_attach_check: bool   # intel_iommu_attach_device() refuses UNMANAGED domains for a
                                    # non-relaxable RMRR device with -EPERM (until 6.6)
    intel_blocking_domain: bool     # VT-d has an IOMMU_DOMAIN_BLOCKED domain (35a99c54dd60, 6.2);
                                    # before, the core's blocking domain is an empty UNMANAGED one
    vfio_force_detach_on_last_unbind: bool  # 6.1 (ca5f21b25749): last VFIO unbind detaches the container
    vfio_waits_for_container: bool  # < 5.19: the last VFIO unbind waits for the container (container_q)
    vfio_device_sysfs: bool         # 6.1 (3c28a76124b2): each vfio_device is a device (vfio-dev/vfioN)
    vfio_unregister_dels_first: bool  # 6.6 (291872a533a2, 38c24544e10a): unlist + device_del before the wait
    iommu_log_no_trailing_space: bool  # 32261d10943b (6.5): iommu_subsys_init()'s lines lose the
                                        # space printed before an empty "(set via kernel command line)"
    kstrtobool_true_false: bool     # kstrtobool() takes t/T and f/F ("true"/"false"), 5.19
    kstrtobool_enabled_disabled: bool   # and e/E and d/D ("enabled"/"disabled"), ae5b3500856f (6.16)
    pci_reset_logged: bool          # "resetting"/"reset done" around a function reset: recorded on 6.18.15,
    #                                 not on 6.12.117 (conformance suite); the commit between was not identified

    @property
    def old_vfio_viability(self):
        """Pre-5.19 VFIO: viability by allow-list, BUG_ON on a bad bind into a live group."""
        return not self.has_ownership and not self.rfc2021


# Fixes a kernel can be built without ([kernel] reverted in a scenario: a kernel developer's build
# with the commit reverted, as the conformance suite boots one): commit -> the feature it brought
REVERTIBLE = {"f429378a9bf8": "test_remove_cleanup_fix"}


def revertible(commit):
    """The REVERTIBLE key an abbreviated or full commit id names, or None."""
    c = commit.lower()
    if len(c) < 7 or any(ch not in "0123456789abcdef" for ch in c):
        return None
    return next((key for key in REVERTIBLE if key.startswith(c) or c.startswith(key)), None)


def features_for(version, reverted=()):
    """The Features of a parsed version (a tuple or RFC_2021), less the fixes `reverted` (REVERTIBLE
    commit ids) brought."""
    f = _features_for(version)
    gone = {REVERTIBLE[c]: False for c in reverted}
    return dataclasses.replace(f, **gone) if gone else f


def _features_for(version):
    if version == RFC_2021:
        v, rfc = _RFC_BASE, True
        release = RFC_2021
    else:
        v, rfc = version, False
        release = ".".join(map(str, v if v[2] else v[:2]))
    own = v >= (5, 19, 0) and not rfc
    fix = (v >= (6, 6, 0) or _between(v, (6, 5, 3), (6, 6, 0)) or _between(v, (6, 4, 16), (6, 5, 0))
           or _between(v, (6, 1, 53), (6, 2, 0)))
    eprobe = (v >= (6, 15, 0) or _between(v, (6, 14, 2), (6, 15, 0))
              or _between(v, (6, 6, 90), (6, 7, 0)))
    return Features(
        release=release,
        rfc2021=rfc,
        has_ownership=own,
        test_remove_cleanup_fix=own and fix,
        amd_identity_hack=own and _between(v, (5, 19, 9), (6, 7, 0)),
        pasid_checks=own and v >= (6, 2, 0),
        device_claim_api=own and v >= (6, 2, 0),
        null_owner_warn=own and v >= (6, 2, 0),
        vfio_group_owner=own and v >= (6, 1, 0),
        iommufd=v >= (6, 2, 0),
        iommufd_msi_check_at_bind=v >= (6, 6, 0),
        store_type_ownership=own and v >= (6, 4, 0),
        require_direct_blocks=v >= (6, 6, 0),
        vfio_cdev=v >= (6, 6, 0),
        use_default_eprobe_defer=own and eprobe,
        eprobe_defer_needs_iommu_dma=own and _between(v, (6, 6, 0), (6, 7, 0)),
        vfio_force_detach_on_last_unbind=v >= (6, 1, 0),
        vfio_waits_for_container=v < (5, 19, 0),
        vfio_device_sysfs=v >= (6, 1, 0),
        vfio_unregister_dels_first=v >= (6, 6, 0),
        cdx_bus=v >= (6, 4, 0),
        cdx_ownership=own and v >= (6, 5, 0),
        group_empty_warn=own and v >= (6, 4, 0),
        group_free_device_fn=v >= (6, 6, 0),
        intel_rmrr_attach_check=v < (6, 6, 0),
        intel_blocking_domain=v >= (6, 2, 0),
        iommu_log_no_trailing_space=v >= (6, 5, 0),
        kstrtobool_true_false=v >= (5, 19, 0),
        kstrtobool_enabled_disabled=v >= (6, 16, 0),
        pci_reset_logged=v >= (6, 18, 0),
    )
