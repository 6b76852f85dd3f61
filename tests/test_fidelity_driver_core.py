"""Issue 11, second pass: the driver-core, version-table, platform and IOMMU-driver rows of
../shared/spec/kernel-ownership.md §0.1, each checked on both sides of its version boundary."""
import errno
import re

import pytest

from iommulab import Kernel
from iommulab.kernel.iommu import iommu_device_use_default_domain
from iommulab.kernel.scenario import ScenarioError
from conftest import bind, dev, drv, errno_of, make, st, to_toml, unbind


# --- test_remove fix (f429378a9bf8; stable 6.1.53, 6.4.16, 6.5.3) ---------------------------

@pytest.mark.parametrize("version,leaks", [("5.19", True), ("6.1.52", True), ("6.1.53", False),
                                           ("6.3", True), ("6.4.15", True), ("6.4.16", False),
                                           ("6.5.2", True), ("6.5.3", False), ("6.6", False)])
def test_test_remove_leaks_a_count_only_where_the_fix_is_missing(version, leaks):
    k = make(version, devices=[dev("0000:01:00.0", id="8086:1533", group=1)],
             drivers=[drv("igb", ids=["8086:1533"])], config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True})
    assert k.devices["0000:01:00.0"].driver.name == "igb"
    assert st(k, 1)[0] == (2 if leaks else 1)


def _self_test(version, reverted):
    doc = {"title": "t", "kernel": {"version": version, "config": {"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True},
                                    "reverted": reverted},
           "driver": [drv("igb", ids=["8086:1533"])], "device": [dev("0000:01:00.0", id="8086:1533", group=1)]}
    return Kernel.from_toml(to_toml(doc), "selftest.toml")


def test_a_kernel_built_with_the_fix_reverted_leaks_as_before_it():
    """[kernel] reverted: 6.12 built without f429378a9bf8 (the conformance suite boots such a build)
    leaks the count the self-test's second probe takes, as 6.5.2 does."""
    assert st(_self_test("6.12", ["f429378a9bf8"]), 1)[0] == 2
    assert st(_self_test("6.12", ["f429378a"]), 1)[0] == 2             # an abbreviated id, as git prints it
    assert st(_self_test("6.12", []), 1)[0] == 1
    for reverted, words in ((["f429378a9bf8"], "version 6.5.2 does not have f429378a9bf8 to revert"),
                            (["0123456789ab"], "'0123456789ab' is not a commit the model can revert"),
                            (["f42"], "'f42' is not a commit")):
        with pytest.raises(ScenarioError, match=re.escape(words)):
            _self_test("6.5.2" if "6.5.2" in words else "6.12", reverted)


# --- -EPROBE_DEFER without a default domain (b46064a18810: 6.15; 6.14.2, 6.6.90) --------------

def _no_default_domain(version, config=None):
    return make(version, devices=[dev("0000:01:00.0", id="8086:1533", group=1, default_domain=False)],
                drivers=[drv("nic", ids=["8086:1533"])], config=config)


@pytest.mark.parametrize("version,defers", [("6.14.1", False), ("6.14.2", True), ("6.15", True),
                                            ("6.6.89", False), ("6.6.90", False), ("6.7", False),
                                            ("6.13", False)])
def test_eprobe_defer_releases(version, defers):
    k = _no_default_domain(version)
    d = k.devices["0000:01:00.0"]
    assert (d.driver is None) == defers
    assert (d in k.deferred_probe) == defers


def test_the_6_6_backport_needs_iommu_dma_and_a_driver_with_default_domains():
    # A group without a default domain means its IOMMU driver has none, which in 6.6 is exactly
    # a driver with set_platform_dma_ops: the 6.6 variant does not defer then.
    assert _no_default_domain("6.6.90").devices["0000:01:00.0"].driver.name == "nic"
    assert _no_default_domain("6.6.90", {"CONFIG_IOMMU_DMA": False}).devices["0000:01:00.0"].driver.name == "nic"
    # 6.14.2+ has no such condition.
    assert _no_default_domain("6.14.2", {"CONFIG_IOMMU_DMA": False}).devices["0000:01:00.0"].driver is None


# --- cdx: no bus before 6.4, no ownership hooks and no vfio-cdx in 6.4 ------------------------

def _cdx(version, **kw):
    return make(version, devices=[dev("cdx-00:00", bus="cdx", id="10ee:8084", group=3, **kw)],
                drivers=[drv("cdx_drv", bus="cdx", ids=["10ee:8084"])])


@pytest.mark.parametrize("version", ["6.3.13", "5.19"])
def test_no_cdx_bus_before_6_4(version):
    with pytest.raises(ScenarioError, match="no cdx bus before Linux 6.4"):
        _cdx(version)
    k = make(version)
    assert "cdx" not in k.buses and "vfio-cdx" not in k.drivers
    assert "cdx" not in k.listdir("/sys/bus")


def test_cdx_in_6_4_binds_without_counting_and_has_no_vfio_cdx():
    k = _cdx("6.4")
    assert k.devices["cdx-00:00"].driver.name == "cdx_drv"
    assert st(k, 3)[0] == 0                          # cdx_dma_configure: firmware DMA only
    from iommulab.check import check
    assert check(k) == []                            # nothing leaked or stolen: 6.4 counts nobody
    assert not any(e.func == "cdx_dma_cleanup" for e in k.events)
    unbind(k, "cdx-00:00", bus="cdx")
    assert st(k, 3)[0] == 0 and not any(line.startswith("WARNING:") for line in k.dmesg())
    assert not any(e.func == "cdx_dma_cleanup" for e in k.events)
    assert "vfio-cdx" not in k.drivers and "vfio-cdx" not in k.listdir("/sys/bus/cdx/drivers")
    with pytest.raises(ScenarioError, match="vfio-cdx does not exist before Linux 6.5"):
        _cdx("6.4", driver="vfio-cdx")


def test_cdx_from_6_5_counts_and_binds_vfio_cdx():
    k = _cdx("6.5")
    assert st(k, 3)[0] == 1
    unbind(k, "cdx-00:00", bus="cdx")
    assert st(k, 3)[0] == 0 and any(e.func == "cdx_dma_cleanup" for e in k.events)
    bind(k, "cdx-00:00", "vfio-cdx", bus="cdx")
    assert k.devices["cdx-00:00"].driver.name == "vfio-cdx" and 3 in k.vfio_groups


def test_cdx_driver_managed_dma_is_a_6_5_field():
    doc = dict(devices=[dev("cdx-00:00", bus="cdx", id="10ee:8084", group=3)],
               drivers=[drv("cdx_drv", bus="cdx", driver_managed_dma=True)])
    with pytest.raises(ScenarioError, match="no driver_managed_dma before Linux 6.5"):
        make("6.4", **doc)
    assert make("6.5", **doc).drivers["cdx_drv"].driver_managed_dma


# --- the WARN when a group empties while counted (6.4+) ---------------------------------------

@pytest.mark.parametrize("version,fn", [("5.19", None), ("6.3.13", None), ("6.4", "iommu_release_device"),
                                        ("6.5", "iommu_release_device"), ("6.6", "__iommu_group_free_device"),
                                        ("6.18", "__iommu_group_free_device")])
def test_group_empties_while_counted(version, fn):
    k = make(version, devices=[dev("0000:05:00.0", group=5)])
    iommu_device_use_default_domain(k.devices["0000:05:00.0"])
    k.write("/sys/bus/pci/devices/0000:05:00.0/remove", "1")
    warns = [line for line in k.dmesg() if line.startswith("WARNING:")]
    assert 5 not in k.iommu_groups
    if fn is None:
        assert warns == []
    else:
        assert len(warns) == 1 and warns[0].endswith(" " + fn)


# --- drivers_probe (drivers/base/bus.c drivers_probe_store) -----------------------------------

def test_drivers_probe_errno_mapping():
    k = make("6.6", devices=[dev("0000:01:00.0", id="8086:1533", group=1),
                             dev("0000:02:00.0", id="1234:5678", group=2),
                             dev("ff000000.uart", bus="platform", id="snps,dw-apb-uart")],
             drivers=[drv("igb", ids=["8086:1533"], probe=-5)])
    assert errno_of(k.write, "/sys/bus/pci/drivers_probe", "0000:09:00.0") == errno.ENODEV
    assert errno_of(k.write, "/sys/bus/pci/drivers_probe", "ff000000.uart") == errno.ENODEV   # not a PCI device
    assert errno_of(k.write, "/sys/bus/pci/drivers_probe", "0000:02:00.0\n") == 0          # nothing matches
    assert k.devices["0000:02:00.0"].driver is None
    # a driver's own probe failure is not device_attach() < 0: the write still succeeds
    assert errno_of(k.write, "/sys/bus/pci/drivers_probe", "0000:01:00.0") == 0
    assert k.devices["0000:01:00.0"].driver is None


# --- vfio-platform needs a reset function -----------------------------------------------------

def _soc(cmdline=None, compatible="snps,dwmac-4.20a"):
    return make("6.6", devices=[dev("ff0c0000.ethernet", bus="platform", id=compatible, streamid=0x10),
                                dev("ff0e0000.codec", bus="amba", id="arm,pl041", streamid=0x11)],
                cmdline=cmdline)


def test_vfio_platform_refuses_a_device_without_reset():
    k = _soc()
    before = k.state()
    assert errno_of(bind, k, "ff0c0000.ethernet", "vfio-platform", "platform") == errno.ENOENT
    assert "vfio-platform ff0c0000.ethernet: No reset function found for device ff0c0000.ethernet" in k.dmesg()
    assert k.devices["ff0c0000.ethernet"].driver is None and not k.vfio_groups
    assert {n: g for n, g in k.state()["groups"].items()} == before["groups"]
    assert k.read("/sys/module/vfio_platform/parameters/reset_required") == "Y\n"
    assert errno_of(k.write, "/sys/module/vfio_platform/parameters/reset_required", "0") == errno.EACCES


@pytest.mark.parametrize("compatible", ["calxeda,hb-xgmac", "amd,xgbe-seattle-v1a", "brcm,iproc-flexrm-mbox"])
def test_vfio_platform_binds_a_device_with_a_reset_handler(compatible):
    k = _soc(compatible=compatible)
    bind(k, "ff0c0000.ethernet", "vfio-platform", bus="platform")
    assert k.devices["ff0c0000.ethernet"].driver.name == "vfio-platform"


def test_reset_required_0_on_the_command_line_lifts_it_and_vfio_amba_never_needs_one():
    k = _soc(cmdline="vfio_platform.reset_required=0")
    assert k.read("/sys/module/vfio_platform/parameters/reset_required") == "N\n"
    bind(k, "ff0c0000.ethernet", "vfio-platform", bus="platform")
    assert k.devices["ff0c0000.ethernet"].driver.name == "vfio-platform"
    k = _soc()
    bind(k, "ff0e0000.codec", "vfio-amba", bus="amba")
    assert k.devices["ff0e0000.codec"].driver.name == "vfio-amba"


# --- noiommu mode -----------------------------------------------------------------------------

def _noiommu(cmdline="vfio.enable_unsafe_noiommu_mode=1", version="6.6"):
    return make(version, devices=[dev("0000:00:03.0", id="8086:1533", iommu=False)], cmdline=cmdline)


def test_without_noiommu_mode_vfio_pci_refuses_a_device_without_iommu():
    k = _noiommu(cmdline=None)
    assert errno_of(bind, k, "0000:00:03.0", "vfio-pci") == errno.EINVAL
    assert k.iommu_groups == {} and k.taint == 0 and k.read("/proc/sys/kernel/tainted") == "0\n"


@pytest.mark.parametrize("version", ["5.18", "6.1", "6.6"])
def test_noiommu_group_node_taint_and_no_ownership(version):
    k = _noiommu(version=version)
    assert k.taint == 0
    bind(k, "0000:00:03.0", "vfio-pci")
    assert k.dmesg()[-2:] == ["vfio-pci 0000:00:03.0: Adding to iommu group 0",
                              "vfio-pci 0000:00:03.0: Adding kernel taint for vfio-noiommu group on device"]
    assert k.read("/proc/sys/kernel/tainted") == "64\n"               # TAINT_USER
    assert "noiommu-0" in k.listdir("/dev/vfio") and "0" not in k.listdir("/dev/vfio")
    assert k.listdir("/sys/kernel/iommu_groups/0/devices") == ["0000:00:03.0"]
    assert st(k, 0) == (0, "NULL", "NULL")                           # a fake group: no domain
    assert k.read("/sys/kernel/iommu_groups/0/name") == "vfio-noiommu\n"
    assert k.read("/sys/kernel/iommu_groups/0/type") == "unknown\n"
    assert k.read("/sys/kernel/iommu_groups/0/reserved_regions") == ""
    assert errno_of(k.write, "/sys/kernel/iommu_groups/0/type", "identity") == errno.EINVAL
    user = k.spawn("user", caps=())
    assert errno_of(user.open, "/dev/vfio/noiommu-0") == errno.EPERM  # CAP_SYS_RAWIO
    p = k.spawn("dpdk")
    assert errno_of(p.open, "/dev/vfio/0") == errno.ENOENT
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/noiommu-0")
    assert p.ioctl(c, "VFIO_CHECK_EXTENSION", "VFIO_NOIOMMU_IOMMU") == 1
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert st(k, 0) == (0, "NULL", "NULL")                           # VFIO does not claim it
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.ENODEV
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_NOIOMMU_IOMMU")
    p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:00:03.0")
    assert f"vfio-pci 0000:00:03.0: vfio-noiommu device opened by user (dpdk:{p.pid})" in k.dmesg()


def test_noiommu_group_goes_with_the_unbind_and_the_mode_can_be_set_at_runtime():
    k = _noiommu(cmdline=None)
    k.write("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "1")
    bind(k, "0000:00:03.0", "vfio-pci")
    assert 0 in k.iommu_groups
    unbind(k, "0000:00:03.0")
    assert k.iommu_groups == {} and k.devices["0000:00:03.0"].iommu_group is None
    assert "vfio-pci 0000:00:03.0: Removing from iommu group 0" in k.dmesg()
    assert "noiommu-0" not in k.listdir("/dev/vfio")
    assert k.taint == 64                                             # a taint stays


def test_without_config_vfio_noiommu_the_parameter_and_the_mode_do_not_exist():
    """Debian builds VFIO without CONFIG_VFIO_NOIOMMU (recorded on 6.1, 6.12 and 6.18 in QEMU,
    conformance probe 15): vfio then has no parameters at all, so no parameters directory, and
    the command line cannot turn the mode on."""
    k = make("6.12", devices=[dev("0000:00:03.0", id="8086:1533", iommu=False)],
             config={"CONFIG_VFIO_NOIOMMU": False}, cmdline="vfio.enable_unsafe_noiommu_mode=1")
    assert "vfio" in k.listdir("/sys/module")
    assert errno_of(k.listdir, "/sys/module/vfio/parameters") == errno.ENOENT
    assert errno_of(k.read, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode") == errno.ENOENT
    r = k.sh("ls /sys/module/vfio/parameters")
    assert r.status == 2 and "No such file or directory" in r.stderr
    assert errno_of(bind, k, "0000:00:03.0", "vfio-pci") == errno.EINVAL
    assert k.iommu_groups == {} and k.taint == 0
    on = _noiommu()                                                  # the default: built in
    assert on.listdir("/sys/module/vfio/parameters") == ["enable_unsafe_noiommu_mode"]


def test_a_normal_container_takes_no_noiommu_group():
    k = make("6.6", devices=[dev("0000:00:03.0", id="8086:1533", iommu=False, driver="vfio-pci"),
                             dev("0000:01:00.0", id="8086:1521", group=1, driver="vfio-pci")],
             cmdline="vfio.enable_unsafe_noiommu_mode=1")
    n = k.devices["0000:00:03.0"].iommu_group.id
    p = k.spawn("qemu")
    c, g1 = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g1, "VFIO_GROUP_SET_CONTAINER", c)
    g0 = p.open(f"/dev/vfio/noiommu-{n}")
    assert errno_of(p.ioctl, g0, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_NOIOMMU_IOMMU") == errno.ENODEV


# --- kernel log wording -----------------------------------------------------------------------

TYPE = "/sys/kernel/iommu_groups/{}/type"


@pytest.mark.parametrize("version", ["5.19", "6.3"])
def test_old_type_store_lines_carry_the_iommu_prefix(version):
    k = make(version, devices=[dev("0000:00:1f.6", id="8086:15b8", group=20, driver="pci-stub"),
                               dev("0000:02:00.0", group=21), dev("0000:02:00.1", group=21)])
    assert errno_of(k.write, TYPE.format(20), "identity") == errno.EBUSY
    assert k.dmesg()[-1] == "iommu: Device is still bound to driver"
    assert errno_of(k.write, TYPE.format(21), "identity") == errno.EINVAL
    assert k.dmesg()[-1] == "iommu: Cannot change default domain: Group has more than one device"


@pytest.mark.parametrize("version", ["5.19", "6.3", "6.4", "6.5", "6.18"])
def test_device_cannot_be_in_domain_names_the_type_in_words(version):
    k = make(version, devices=[dev("0000:05:00.0", group=5, untrusted=True)])
    assert errno_of(k.write, TYPE.format(5), "identity") == errno.EINVAL
    assert k.dmesg()[-1] == "pci 0000:05:00.0: Device cannot be in Passthrough domain"


def test_hot_add_into_a_live_group_before_5_19_warns_with_the_device_prefix():
    k = make("5.18", devices=[dev("0000:01:00.0", group=0, driver="vfio-pci"),
                              dev("0000:01:00.1", group=0, present=False)])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/0")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    k.write("/sys/bus/pci/rescan", "1")
    assert "pci 0000:01:00.1: Device added to live group 0!" in k.dmesg()


# --- Intel RMRR -------------------------------------------------------------------------------

def _rmrr(version, iommu_driver="intel"):
    from iommulab import Kernel
    from iommulab.scenario_file import to_toml
    nic = dev("0000:03:00.0", id="14e4:1657", group=3, require_direct=True, driver="vfio-pci",
              **{"class": 0x020000})
    doc = {"title": "rmrr", "kernel": {"version": version, "iommu_driver": iommu_driver},
           "device": [nic]}
    return Kernel.from_toml(to_toml(doc), "rmrr.toml")


def _vfio_steps(k, n=3):
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open(f"/dev/vfio/{n}")
    return p, c, g


MSG = ("vfio-pci 0000:03:00.0: Device is ineligible for IOMMU domain attach due to platform RMRR "
       "requirement.  Contact your platform vendor.")


@pytest.mark.parametrize("version", ["6.2", "6.5.13"])
def test_intel_rmrr_6_2_to_6_5_refuses_set_iommu(version):
    k = _rmrr(version)
    p, c, g = _vfio_steps(k)
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)                 # VT-d's blocking domain skips the check
    assert st(k, 3) == (1, "vfio_group:3", "BLOCKING")
    before = k.state()
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.EPERM
    assert k.dmesg()[-1] == MSG and k.state() == before


@pytest.mark.parametrize("version", ["5.19", "6.1.100"])
def test_intel_rmrr_before_6_2_already_refuses_set_container(version):
    k = _rmrr(version)
    p, c, g = _vfio_steps(k)
    before = k.state()
    assert errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c) == errno.EPERM   # UNMANAGED stand-in
    assert k.dmesg()[-1] == MSG and k.state() == before


def test_intel_rmrr_5_18_fails_at_set_iommu():
    k = _rmrr("5.18")
    p, c, g = _vfio_steps(k)
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.EPERM
    assert k.dmesg()[-1] == MSG


def test_intel_rmrr_6_6_is_the_cores_require_direct():
    k = _rmrr("6.6")
    p, c, g = _vfio_steps(k)
    assert errno_of(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c) == errno.EINVAL
    assert not any("ineligible" in line for line in k.dmesg())
    assert any("1:1 IOMMU mapping" in line for line in k.dmesg())


@pytest.mark.parametrize("version", ["5.19", "6.5"])
def test_other_iommu_drivers_have_no_vt_d_check_before_6_6(version):
    k = _rmrr(version, iommu_driver="amd")      # the check is VT-d's own
    p, c, g = _vfio_steps(k)
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    assert st(k, 3)[2].startswith("USER:")


@pytest.mark.parametrize("cls", [0x0c0330, 0x030000, 0x038000])
def test_usb_and_graphics_rmrrs_are_relaxable_on_intel(cls):
    with pytest.raises(ScenarioError, match="relaxable"):
        make("6.6", devices=[dev("0000:00:02.0", id="8086:9bc5", require_direct=True, **{"class": cls})])


def test_require_direct_scenario_teaches_a_nic():
    from iommulab import Kernel
    from iommulab.kernel.scenario import check_expectations
    k = Kernel.from_scenario("require-direct")
    assert check_expectations(k) == []
    nic = k.devices["0000:03:00.0"]
    assert nic.require_direct and nic.class_code >> 16 == 0x02 and k.iommu_driver == "intel"


def test_a_snapshot_restores_the_taint_and_the_noiommu_group():
    k = _noiommu()
    snap = k.snapshot()
    bind(k, "0000:00:03.0", "vfio-pci")
    assert k.taint == 64 and "noiommu-0" in k.listdir("/dev/vfio")
    k.restore(snap)
    assert k.taint == 0 and k.iommu_groups == {} and "noiommu-0" not in k.listdir("/dev/vfio")
    assert k.devices["0000:00:03.0"].iommu_group is None
    bind(k, "0000:00:03.0", "vfio-pci")                  # and it all happens again
    assert k.taint == 64 and "noiommu-0" in k.listdir("/dev/vfio")


def test_noiommu_through_the_iommufd_compat_container():
    k = make("6.6", devices=[dev("0000:00:03.0", id="8086:1533", iommu=False, driver="vfio-pci")],
             cmdline="vfio.enable_unsafe_noiommu_mode=1",
             config={"CONFIG_IOMMUFD": True, "CONFIG_IOMMUFD_VFIO_CONTAINER": True})
    p = k.spawn("dpdk")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/noiommu-0")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)               # iommufd_vfio_compat_set_no_iommu()
    assert errno_of(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == errno.EINVAL
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_NOIOMMU_IOMMU")
    fd = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:00:03.0")
    assert st(k, 0) == (0, "NULL", "NULL")                   # no iommufd_device_bind(), no claim
    p.close(fd)
    p.close(g)
    unbind(k, "0000:00:03.0")
    assert k.iommu_groups == {}


@pytest.mark.parametrize("version", ["6.2", "6.5", "6.6"])
def test_an_rmrr_device_joining_a_group_on_a_user_domain(version):
    from iommulab import Kernel
    from iommulab.scenario_file import to_toml
    doc = {"title": "t", "kernel": {"version": version, "iommu_driver": "intel"},
           "device": [dev("0000:00:14.0", group=3, driver="vfio-pci"),
                      dev("0000:00:14.2", id="14e4:1657", group=3, require_direct=True, present=False,
                          **{"class": 0x020000})]}
    k = Kernel.from_toml(to_toml(doc), "t.toml")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/3")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    k.write("/sys/bus/pci/rescan", "1")
    new = k.devices["0000:00:14.2"]
    if version == "6.6":         # VT-d's check is gone; the core refuses only blocking domains
        assert new.iommu_group is k.iommu_groups[3]
    else:
        assert new.iommu_group is None
        assert "pci 0000:00:14.2: Failed to add to iommu group 3: -1" in k.dmesg()


@pytest.mark.parametrize("version,logged", [("6.12", False), ("6.18", True)])
def test_the_first_open_of_a_vfio_pci_device_resets_it_and_6_18_says_so(version, logged):
    """Recorded in QEMU (conformance probes 08, 11, 12, 16): Debian's 6.18.15 logs the function reset of
    vfio_pci_core_enable() on the first GET_DEVICE_FD, 6.12.117 does not; a second open does not reset."""
    k = make(version, devices=[dev("0000:01:00.0", id="8086:1533", group=1, driver="vfio-pci")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    before = len(k.dmesg())
    p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    want = ["vfio-pci 0000:01:00.0: resetting", "vfio-pci 0000:01:00.0: reset done"] if logged else []
    assert k.dmesg()[before:] == want
    before = len(k.dmesg())
    p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    assert k.dmesg()[before:] == []


def _compat(noiommu=True):
    return make("6.12", devices=[dev("0000:01:00.0", id="8086:1533", group=1, driver="vfio-pci")],
                config={"CONFIG_IOMMUFD_VFIO_CONTAINER": True, "CONFIG_VFIO_NOIOMMU": noiommu})


def test_where_iommufd_provides_dev_vfio_vfio_there_is_no_type1_module_and_it_says_so_once():
    """Recorded on the 6.12 build with CONFIG_IOMMUFD_VFIO_CONTAINER (conformance probes 08, 13, 22):
    iommufd_fops_open() says once that it provides /dev/vfio/vfio; vfio_iommu_type1 is not built;
    iommufd_vfio_check_extension() answers VFIO_NOIOMMU_IOMMU from the Kconfig alone."""
    k = _compat()
    mods = k.listdir("/sys/module")
    assert "iommufd" in mods and "vfio" in mods and "vfio_iommu_type1" not in mods
    p = k.spawn("qemu")
    c = p.open("/dev/vfio/vfio")
    p.open("/dev/vfio/vfio")
    assert k.dmesg().count("iommufd: IOMMUFD is providing /dev/vfio/vfio, not VFIO.") == 1
    assert p.ioctl(c, "VFIO_CHECK_EXTENSION", "VFIO_NOIOMMU_IOMMU") == 1          # the mode is off
    assert p.ioctl(c, "VFIO_CHECK_EXTENSION", "VFIO_TYPE1v2_IOMMU") == 1
    off = _compat(noiommu=False)
    q = off.spawn("qemu")
    assert q.ioctl(q.open("/dev/vfio/vfio"), "VFIO_CHECK_EXTENSION", "VFIO_NOIOMMU_IOMMU") == 0
    legacy = make("6.12", devices=[dev("0000:01:00.0", id="8086:1533", group=1)])
    r = legacy.spawn("qemu")
    assert r.ioctl(r.open("/dev/vfio/vfio"), "VFIO_CHECK_EXTENSION", "VFIO_NOIOMMU_IOMMU") == 0   # mode off
    assert "vfio_iommu_type1" in legacy.listdir("/sys/module") and "IOMMUFD is providing" not in \
        " ".join(legacy.dmesg())


def test_a_kernel_without_iommufd_has_no_iommufd_module():
    """Debian's kernels build no iommufd (conformance probe 26): no /sys/module/iommufd at all."""
    k = make("6.12", devices=[dev("0000:01:00.0", id="8086:1533", group=1)], config={"CONFIG_IOMMUFD": False,
                                                                                    "CONFIG_VFIO_DEVICE_CDEV": False})
    assert "iommufd" not in k.listdir("/sys/module")
    assert errno_of(k.read, "/sys/module/iommufd/parameters/allow_unsafe_interrupts") == errno.ENOENT
    assert make("6.1").listdir("/sys/module").count("iommufd") == 0                 # before 6.2: none at all
    assert "allow_unsafe_interrupts" in make("6.12").listdir("/sys/module/iommufd/parameters")
