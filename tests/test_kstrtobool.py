"""lib/kstrtox.c's parsers, one each for the whole model. One kstrtobool() for every boolean the
model parses: bool module parameters on the command line and through modprobe, /sys/module/*/parameters writes (param_set_bool(),
kernel/params.c) and the iommu.strict=/iommu.passthrough= early parameters. It decides by the
first character (the second after 'o'); "true"/"false" count from 5.19, "enabled"/"disabled"
from 6.16. One kstrtoull() (base 0) for the numbers the PCI sysfs stores read."""
import errno

import pytest

from conftest import dev, drv, errno_of, make
from iommulab.kernel.kstrtox import kstrtobool, kstrtoull
from iommulab.kernel.version import features_for, parse_version

PARAM = "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
BAD = (-errno.EINVAL, None)


def kb(text, version):
    return kstrtobool(text, features_for(parse_version(version)))


@pytest.mark.parametrize("text,value", [("y", True), ("Y", True), ("1", True), ("yes", True),
                                        ("1\n", True), ("on", True), ("ON", True), ("oN", True),
                                        ("n", False), ("N", False), ("0", False), ("no way", False),
                                        ("off", False), ("OFF", False), ("of", False)])
def test_letters_every_release_takes(text, value):
    assert kb(text, "5.18") == (0, value)
    assert kb(text, "6.18") == (0, value)


@pytest.mark.parametrize("text", ["", "o", "ok", "2", "-1", " y", "\n", "x"])
def test_what_no_release_takes(text):
    assert kb(text, "5.18") == BAD
    assert kb(text, "6.18") == BAD


def test_true_and_false_from_5_19():
    for text, value in (("true", True), ("T", True), ("tr", True), ("false", False), ("F", False)):
        assert kb(text, "5.18") == BAD
        assert kb(text, "5.19") == (0, value)


def test_enabled_and_disabled_from_6_16():
    for text, value in (("enabled", True), ("E", True), ("disabled", False), ("D", False)):
        assert kb(text, "6.15") == BAD
        assert kb(text, "6.16") == (0, value)


def test_sysfs_param_write_takes_true_like_the_command_line():
    k = make("6.6")
    assert k.read(PARAM) == "N\n"
    k.write(PARAM, "true\n")
    assert k.read(PARAM) == "Y\n"
    k.write(PARAM, "off")
    assert k.read(PARAM) == "N\n"
    assert errno_of(k.write, PARAM, "maybe") == errno.EINVAL
    assert k.read(PARAM) == "N\n"


def test_sysfs_param_write_refuses_true_before_5_19():
    k = make("5.18")
    assert errno_of(k.write, PARAM, "true") == errno.EINVAL
    assert k.read(PARAM) == "N\n"
    k.write(PARAM, "Yes")
    assert k.read(PARAM) == "Y\n"


def test_shell_echo_true_into_the_parameter():
    k = make("6.6")
    r = k.sh(f"echo true > {PARAM}; cat {PARAM}")
    assert (r.status, r.stdout, r.stderr) == (0, "Y\n", "")


@pytest.mark.parametrize("version,expect", [("5.18", False), ("5.19", True)])
def test_cmdline_module_bool_goes_through_kstrtobool(version, expect):
    k = make(version, cmdline="vfio_pci.enable_sriov=true vfio_iommu_type1.allow_unsafe_interrupts")
    assert k.params["vfio_pci.enable_sriov"] is expect
    assert k.params["vfio_iommu_type1.allow_unsafe_interrupts"] is True     # no "=": set


def test_cmdline_refused_value_leaves_the_default():
    k = make("6.6", cmdline="vfio_platform.reset_required=maybe iommufd.allow_unsafe_interrupts=on")
    assert k.params["vfio_platform.reset_required"] is True
    assert k.params["iommufd.allow_unsafe_interrupts"] is True


def test_iommu_strict_takes_kstrtobool_and_stays_unset_otherwise():
    assert make("6.6", cmdline="iommu.strict=Y").params["iommu.strict"] is True
    assert make("6.6", cmdline="iommu.strict=off").params["iommu.strict"] is False
    assert make("6.6", cmdline="iommu.strict=maybe").params["iommu.strict"] is None
    assert make("6.6", cmdline="iommu.passthrough=true").params["iommu.passthrough"] is True
    assert make("5.18", cmdline="iommu.passthrough=true").params["iommu.passthrough"] is None


def test_modprobe_parameter_goes_through_kstrtobool():
    k = make("6.6")
    k.sh("rmmod vfio_pci; modprobe vfio-pci enable_sriov=on")
    assert k.params["vfio_pci.enable_sriov"] is True
    k.sh("rmmod vfio_pci; modprobe vfio-pci enable_sriov=0")
    assert k.params["vfio_pci.enable_sriov"] is False


def test_modprobe_with_a_value_kstrtobool_refuses_fails_the_load():
    k = make("6.6")
    r = k.sh("rmmod vfio_pci; modprobe vfio-pci enable_sriov=maybe")
    assert (r.status, r.stderr) == (1, "modprobe: ERROR: could not insert 'vfio_pci': Invalid argument\n")
    assert k.dmesg()[-1] == "vfio_pci: `maybe' invalid for parameter `enable_sriov'"
    assert not k.drivers["vfio-pci"].registered
    r = k.sh("modprobe vfio-pci enable_sriov=true; lsmod | grep -c '^vfio_pci '")
    assert (r.status, r.stdout) == (0, "1\n")
    assert k.params["vfio_pci.enable_sriov"] is True


@pytest.mark.parametrize("text,result", [
    ("1", (0, 1)), ("1\n", (0, 1)), ("+7", (0, 7)), ("010", (0, 8)), ("0x1f", (0, 31)), ("0X1F\n", (0, 31)),
    ("-1", BAD), (" 1", BAD), ("1 ", BAD), ("1\n\n", BAD), ("", BAD), ("0x", BAD), ("08", BAD),
    ("1_0", BAD), ("0b1", BAD), (str(1 << 64), (-errno.ERANGE, None)), (str((1 << 64) - 1), (0, (1 << 64) - 1))])
def test_kstrtoull_base_0(text, result):
    assert kstrtoull(text) == result


def test_sriov_numvfs_reads_its_number_as_kstrtou16_does():
    k = make("6.6", devices=[dev("0000:00:03.0", kind="root-port"),
                             dev("0000:02:00.0", id="8086:1572", parent="0000:00:03.0", sriov_totalvfs=8,
                                 vf_id="8086:154c")],
             drivers=[drv("i40e", ids=["8086:1572"], sriov_configure=True), drv("iavf", ids=["8086:154c"])])
    pf = "/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs"
    assert errno_of(k.write, pf, " 2") == errno.EINVAL
    assert errno_of(k.write, pf, "-1") == errno.EINVAL
    assert k.read(pf) == "0\n"
    k.write(pf, "010\n")                     # octal: 8
    assert k.read(pf) == "8\n"
    k.write(pf, "0x0")
    assert k.read(pf) == "0\n"
