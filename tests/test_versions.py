"""Versions: parsing and the feature table (../shared/spec/kernel-ownership.md §10), tested at
both ends of each range and just outside it."""
import pytest

from iommulab.kernel.version import RFC_2021, VersionError, features_for, parse_version


def f(v):
    return features_for(parse_version(v))


@pytest.mark.parametrize("text,want", [("6.6", (6, 6, 0)), ("6.1.52", (6, 1, 52)), ("5.18", (5, 18, 0)),
                                       ("rfc-2021-11", RFC_2021)])
def test_parse(text, want):
    assert parse_version(text) == want


@pytest.mark.parametrize("text", ["5.17.9", "6", "6.x", "v6.6", "6.6.1.2", "", "rfc"])
def test_parse_rejects(text):
    with pytest.raises(VersionError):
        parse_version(text)


TABLE = [
    ("has_ownership", ["5.19", "6.18"], ["5.18", RFC_2021]),
    ("test_remove_cleanup_fix", ["6.6", "6.5.3", "6.4.16", "6.4.20", "6.1.53", "6.18"],
     ["6.5.2", "6.5", "6.4.15", "6.4", "6.1.52", "6.2", "6.3.13", "5.19"]),
    ("amd_identity_hack", ["5.19.9", "6.6.50"], ["5.19.8", "6.7"]),
    ("pasid_checks", ["6.2", "6.18"], ["6.1.99", "5.19"]),
    ("device_claim_api", ["6.2"], ["6.1"]),
    ("vfio_group_owner", ["6.1", "6.18"], ["6.0.19", "5.19"]),
    ("iommufd", ["6.2"], ["6.1"]),
    ("iommufd_msi_check_at_bind", ["6.6", "6.18"], ["6.5.13", "6.3", "6.2"]),
    ("store_type_ownership", ["6.4", "6.18"], ["6.3.13", "5.19"]),
    ("require_direct_blocks", ["6.6"], ["6.5"]),
    ("vfio_cdev", ["6.6"], ["6.5.13"]),
    ("use_default_eprobe_defer", ["6.15", "6.14.2", "6.14.3", "6.6.90", "6.6.100"],
     ["6.14.1", "6.14", "6.6.89", "6.6.88", "6.7", "6.13", "6.12.30"]),
    ("eprobe_defer_needs_iommu_dma", ["6.6.90"], ["6.14.2", "6.15", "6.7"]),
    ("cdx_bus", ["6.4", "6.5", "6.18"], ["6.3.13", "5.19"]),
    ("cdx_ownership", ["6.5", "6.18"], ["6.4.16", "6.4", "6.3"]),
    ("group_empty_warn", ["6.4", "6.6", "6.18"], ["6.3.13", "5.19"]),
    ("group_free_device_fn", ["6.6", "6.18"], ["6.5.13", "6.4"]),
    ("intel_rmrr_attach_check", ["5.18", "5.19", "6.5.13"], ["6.6", "6.18"]),
    ("intel_blocking_domain", ["6.2", "6.18"], ["6.1.100", "5.19"]),
    ("vfio_force_detach_on_last_unbind", ["6.1", "6.18"], ["6.0.19", "5.19"]),
]


@pytest.mark.parametrize("feature,on,off", TABLE, ids=[t[0] for t in TABLE])
def test_feature_table(feature, on, off):
    for v in on:
        assert getattr(f(v), feature), f"{feature} should be on in {v}"
    for v in off:
        assert not getattr(f(v), feature), f"{feature} should be off in {v}"


def test_rfc_and_5_18_use_their_own_viability():
    assert f(RFC_2021).rfc2021 and not f(RFC_2021).old_vfio_viability
    assert f("5.18").old_vfio_viability and not f("5.19").old_vfio_viability


def test_release_text():
    assert f("6.6").release == "6.6" and f("6.1.52").release == "6.1.52"
