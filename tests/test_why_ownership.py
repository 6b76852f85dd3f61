"""iommulab-why explains a group's ownership (owner, owner_cnt and what each count is), and the
simulator-only /sys/kernel/debug/iommulab/ shows the iommu core's private group state.

Seed 001 (../shared/seeds/001_*.txt, spec §9.4): with CONFIG_DEBUG_TEST_DRIVER_REMOVE the
test_remove pass of really_probe() ran dma_configure() twice and dma_cleanup() never, so each bind
of a kernel DMA driver left owner_cnt one too high. Fixed by f429378a9bf8 (6.6-rc1; stable 6.5.3,
6.4.16, 6.1.53)."""
import errno

import pytest

import iommulab
from iommulab import Kernel
from iommulab.kernel.explain import counted_devices, explain_ownership
from iommulab.kernel.iommu import (iommu_device_claim_dma_owner, iommu_device_release_dma_owner,
                                   iommu_device_unuse_default_domain, iommu_device_use_default_domain,
                                   iommu_group_claim_dma_owner, iommu_group_release_dma_owner)
from iommulab.kernel.process import ALL_CAPS
from iommulab.kernel.scenario import SCENARIO_DIR
from iommulab.kernel.version import features_for, parse_version
from conftest import bind, dev, drv, errno_of, make, st, unbind

LEAK = ("group 45 is not viable: owner_cnt 2 counts 1 bound kernel DMA driver (hns3) and 1 count with "
        "no driver behind it — a leaked count; see CONFIG_DEBUG_TEST_DRIVER_REMOVE")
GROUPS = "/sys/kernel/debug/iommulab/groups"
Q = "qemu-system-x86_64"


def seed001(version):
    text = (SCENARIO_DIR / "seed-001.toml").read_text().replace('version = "6.4"', f'version = "{version}"')
    return Kernel.from_toml(text, "seed-001.toml")


def to_vfio(k, name):
    unbind(k, name)
    bind(k, name, "vfio-pci")


def why(k, *args):
    return explain_ownership(k, *args)


# --- seed 001 on both sides of the fix ---------------------------------------------------------

@pytest.mark.parametrize("version", ["6.4", "6.4.15", "6.5.2", "6.1.52", "5.19"])
def test_leaky_kernels_name_the_leaked_count(version):
    k = seed001(version)
    assert st(k, 45)[:2] == (2, "NULL")
    lines = why(k, 45)
    assert lines[0] == LEAK
    assert any(f"this {k.f.release} kernel has CONFIG_DEBUG_TEST_DRIVER_REMOVE=y without f429378a9bf8" in s
               for s in lines)
    assert any(s.startswith("0000:03:00.1 is bound to hns3") for s in lines)
    # after the learner's fix the leaked count is still there: vfio-pci does not count
    to_vfio(k, "0000:03:00.1")
    assert st(k, 45)[0] == 1
    lines = why(k, "0000:03:00.1")
    assert lines[0] == ("group 45 is not viable: owner_cnt 1 counts no bound kernel DMA driver: 1 count "
                        "with no driver behind it — a leaked count; see CONFIG_DEBUG_TEST_DRIVER_REMOVE")
    assert "0000:03:00.1 is bound to vfio-pci, which sets driver_managed_dma: it does not count" in lines


@pytest.mark.parametrize("version", ["6.6", "6.4.16", "6.5.3", "6.1.53"])
def test_fixed_kernels_count_only_the_bound_driver(version):
    k = seed001(version)
    assert st(k, 45)[:2] == (1, "NULL")
    lines = why(k, 45)
    assert lines[0] == "group 45 is not viable: owner_cnt 1 counts 1 bound kernel DMA driver (hns3)"
    assert not any("leaked" in s or "CONFIG_DEBUG_TEST_DRIVER_REMOVE" in s for s in lines)
    to_vfio(k, "0000:03:00.1")
    assert st(k, 45)[:2] == (0, "NULL")
    assert why(k, 45)[0].startswith("group 45 is viable: owner_cnt 0")


def test_6_4_16_carries_the_fix_and_6_4_15_does_not():
    assert features_for(parse_version("6.4.16")).test_remove_cleanup_fix
    assert not features_for(parse_version("6.4.15")).test_remove_cleanup_fix


def test_each_rebind_of_a_kernel_driver_leaks_one_more():
    k = seed001("6.4")
    for n in (2, 3, 4):
        unbind(k, "0000:03:00.1")
        bind(k, "0000:03:00.1", "hns3")
        assert st(k, 45)[0] == n + 1
        assert why(k, 45)[0] == (f"group 45 is not viable: owner_cnt {n + 1} counts 1 bound kernel DMA "
                                 f"driver (hns3) and {n} counts with no driver behind it — leaked counts; "
                                 "see CONFIG_DEBUG_TEST_DRIVER_REMOVE")


def test_counted_devices_is_what_the_bus_counts():
    k = make("6.6", devices=[dev("0000:00:01.0", kind="root-port", acs=False),
                             dev("0000:01:00.0", parent="0000:00:01.0", id="1234:0001", driver="a"),
                             dev("0000:01:00.1", parent="0000:00:01.0", id="1234:0002", driver="vfio-pci")],
             drivers=[drv("a", ids=["1234:0001"])])
    g = k.devices["0000:01:00.0"].iommu_group
    assert [d.name for d in counted_devices(g)] == ["0000:01:00.0"]
    assert g.owner_cnt == 1 == len(counted_devices(g))


# --- user space holds the group ----------------------------------------------------------------

GPU_TO_VFIO = """
for d in 0000:01:00.0 0000:01:00.1; do
  echo $d > /sys/bus/pci/devices/$d/driver/unbind
  echo vfio-pci > /sys/bus/pci/devices/$d/driver_override
  echo $d > /sys/bus/pci/drivers/vfio-pci/bind
done
"""


def test_desktop_gpu_before_and_while_qemu_runs():
    k = Kernel.from_scenario("desktop-gpu")
    assert why(k, 1)[0] == ("group 1 is not viable: owner_cnt 2 counts 2 bound kernel DMA drivers "
                            "(nouveau, snd_hda_intel)")
    assert k.sh(GPU_TO_VFIO).status == 0
    assert why(k, 1)[0].startswith("group 1 is viable: owner_cnt 0")
    r = k.sh(f"{Q} -m 2G -device vfio-pci,host=0000:01:00.0 -device vfio-pci,host=0000:01:00.1 &")
    assert r.status == 0
    (pid, proc), = k.state()["processes"].items()
    lines = why(k, "0000:01:00.1")
    assert lines[0] == ("group 1 is claimed by user space: its owner is the VFIO group vfio_group:1 "
                        "(its file is /dev/vfio/1)")
    assert "owner_cnt 1 counts that one claim" in lines
    holder = next(s for s in lines if s.startswith(f"{proc['name']} (pid {pid}) holds "))
    for fd, path in proc["fds"].items():
        assert f"fd {fd} {path}" in holder
    assert any(s.startswith("its domain is the owner's page table") for s in lines)
    k.sh("kill %1")
    assert why(k, 1)[0].startswith("group 1 is viable")


@pytest.mark.parametrize("version", ["5.19", "6.0"])
def test_container_file_owner_before_6_1(version):
    k = make(version, devices=[dev("0000:02:00.0", id="8086:1533", group=2, driver="vfio-pci")])
    assert k.sh(f"{Q} -device vfio-pci,host=0000:02:00.0 &").status == 0
    lines = why(k, 2)
    assert lines[0].startswith("group 2 is claimed by user space: its owner is the VFIO container file "
                               "container_file:C1 (/dev/vfio/vfio)")
    assert any(s.startswith("the group is in the VFIO container container_file:C1") for s in lines)


def test_iommufd_owner_counts_bound_devices():
    k = make("6.6", devices=[dev("0000:02:00.0", id="8086:1533", group=2, driver="vfio-pci")])
    r = k.sh(f"{Q} -object iommufd,id=iommufd0 -device vfio-pci,host=0000:02:00.0,iommufd=iommufd0 &")
    assert r.status == 0
    lines = why(k, 2)
    assert lines[0] == ("group 2 is claimed by user space: its owner is the iommufd context ictx:I1 "
                        "(a /dev/iommu file, or /dev/vfio/vfio in compat mode)")
    assert lines[1].startswith("owner_cnt 1 counts 1 device bound to ictx:I1 (0000:02:00.0)")
    (pid, proc), = k.state()["processes"].items()
    fds = ", ".join(f"fd {fd} {path}" for fd, path in proc["fds"].items())
    assert f"{Q} (pid {pid}) holds {fds}" in lines and "/dev/iommu" in fds
    assert k.read(GROUPS).startswith("2 owner_cnt=1 owner=ictx:I1 domain=USER:hwpt")


# --- kernel-API callers --------------------------------------------------------------------------

def single(version):
    k = make(version, devices=[dev("0000:0a:00.0", group=60)])
    return k, k.iommu_groups[60], k.devices["0000:0a:00.0"]


@pytest.mark.parametrize("version", ["6.2", "6.6", "6.18"])
def test_a_direct_use_is_a_kernel_api_callers_count(version):
    k, g, a = single(version)
    assert iommu_device_use_default_domain(a) == 0
    lines = why(k, 60)
    assert lines[0] == ("group 60 is not viable: owner_cnt 1 counts no bound kernel DMA driver: 1 count "
                        "taken by a kernel-API caller (iommu_device_use_default_domain() called directly)")
    assert any(s.startswith("step ") and "iommu_device_use_default_domain(0000:0a:00.0)" in s for s in lines)
    assert not any("leaked" in s for s in lines)
    iommu_device_unuse_default_domain(a)
    assert why(k, 60)[0].startswith("group 60 is viable: owner_cnt 0")


def test_a_claim_by_a_kernel_caller_is_not_user_space():
    k, g, a = single("6.6")
    assert iommu_group_claim_dma_owner(g, "X") == 0
    lines = why(k, g)
    assert lines[0] == ("group 60 is claimed by a kernel-API caller, not user space: its owner is X, "
                        "a kernel-API caller's owner cookie")
    assert "its domain is the blocking domain: no page table of the owner is attached yet, DMA is blocked" in lines
    assert iommu_device_claim_dma_owner(a, "X") == 0
    assert ("owner_cnt 2 counts the claim and 1 more claim by the same owner (iommu_device_claim_dma_owner())"
            in why(k, g))
    iommu_device_release_dma_owner(a)
    iommu_group_release_dma_owner(g)
    assert why(k, g)[0].startswith("group 60 is viable")


@pytest.mark.parametrize("version,accepted", [("6.1", True), ("6.2", False)])
def test_a_null_owner_claim(version, accepted):
    k, g, a = single(version)
    rc = iommu_group_claim_dma_owner(g, None)
    assert (rc == 0) == accepted
    head = why(k, 60)[0]
    if accepted:
        assert head.startswith("group 60 is claimed by a kernel-API caller, not user space: its owner is "
                               "a NULL owner")
    else:
        assert head.startswith("group 60 is viable")


def test_stray_count_on_a_leaky_config_kernel_with_the_fix_is_not_the_leak():
    k = make("6.6", devices=[dev("0000:0a:00.0", group=60)], config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True})
    a = k.devices["0000:0a:00.0"]
    k.iommu_groups[60].owner_cnt = 1          # a count whose origin the history does not show
    lines = why(k, a)
    assert "a kernel-API caller's iommu_device_use_default_domain() without its unuse" in lines[0]
    assert any(s.startswith("it is not the test_remove leak: this 6.6 kernel has f429378a9bf8") for s in lines)


# --- before ownership, and the 2021 RFC -----------------------------------------------------------

def test_pre_5_19_allow_list_names_the_device_that_is_not_viable():
    k = Kernel.from_scenario("pre-5.19-bug")
    lines = why(k, 0)
    assert lines[0].startswith("Linux 5.18 has no owner or owner_cnt")
    assert lines[1] == ("group 0 is viable: 0000:00:01.0 is a bridge (pcieport); 0000:01:00.0 is bound to "
                        "vfio-pci; 0000:01:00.1 is bound to vfio-pci")
    unbind(k, "0000:01:00.1")
    bind(k, "0000:01:00.1", "snd_hda_intel")
    lines = why(k, 0)
    assert lines[1] == ("group 0 is not viable: 0000:01:00.1 is bound to snd_hda_intel, a kernel driver "
                        "VFIO does not allow")
    assert not any("owner_cnt " in s and "counts" in s for s in lines)
    assert k.read(GROUPS) == "0 domain=DEFAULT(DMA-FQ) default_domain=DMA-FQ devices=0000:00:01.0,0000:01:00.0,0000:01:00.1\n"


def test_pre_5_19_in_use_warns_of_the_bug_on():
    k = Kernel.from_scenario("pre-5.19-bug")
    assert k.sh(f"{Q} -device vfio-pci,host=0000:01:00.0 -device vfio-pci,host=0000:01:00.1 &").status == 0
    lines = why(k, 0)
    assert any("hits VFIO's BUG_ON" in s for s in lines)
    assert any(s.startswith(f"{Q} (pid ") for s in lines)


def test_rfc_2021_reads_dma_owner_and_cannot_leak():
    k = make("rfc-2021-11", devices=[dev("0000:0a:00.0", group=60, id="1234:0001")], drivers=[drv("a", ids=["1234:0001"])],
             config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True})
    lines = why(k, 60)
    assert lines[0] == ("this kernel has the RFC of November 2021: group 60's dma_owner is DMA_OWNER_KERNEL "
                        "with owner_cnt 1")
    assert lines[1] == "group 60 is not viable: owner_cnt 1 counts 1 bound kernel DMA driver (a)"
    assert any("leaks no count here" in s for s in lines)
    assert "owner_cnt=1 dma_owner=DMA_OWNER_KERNEL" in k.read(GROUPS)


def test_a_device_without_a_group():
    k = make("6.6", devices=[dev("usb1-1", bus="usb")])
    assert why(k, "usb1-1")[0].startswith("usb1-1 has no IOMMU group")
    with pytest.raises(ValueError):
        why(k, 7)


def test_exported_lazily_like_explain_group():
    assert iommulab.explain_ownership is explain_ownership
    assert "explain_ownership" in iommulab.__all__


# --- the simulator-only debugfs files ---------------------------------------------------------------

def test_debugfs_groups_lists_each_groups_private_state():
    k = seed001("6.4")
    assert k.listdir("/sys/kernel/debug") == ["iommulab"]
    assert sorted(k.listdir("/sys/kernel/debug/iommulab")) == ["README", "groups"]
    assert k.read(GROUPS) == (
        "44 owner_cnt=0 owner=NULL domain=DEFAULT(DMA) default_domain=DMA devices=0000:00:10.0\n"
        "45 owner_cnt=2 owner=NULL domain=DEFAULT(DMA) default_domain=DMA devices=0000:03:00.1\n")
    assert "not part of Linux" in k.read("/sys/kernel/debug/iommulab/README")
    to_vfio(k, "0000:03:00.1")
    assert "45 owner_cnt=1 owner=NULL" in k.read(GROUPS)


def test_debugfs_shows_the_owner_and_user_domain():
    k = make("6.6", devices=[dev("0000:02:00.0", id="8086:1533", group=2, driver="vfio-pci")])
    k.sh(f"{Q} -device vfio-pci,host=0000:02:00.0 &")
    line = k.read(GROUPS).splitlines()[0]
    g = k.iommu_groups[2]
    assert line == (f"2 owner_cnt=1 owner=vfio_group:2 domain={g.domain_label()} default_domain=DMA-FQ "
                    "devices=0000:02:00.0")
    assert g.domain_label().startswith("USER:")


def test_debugfs_files_are_read_only():
    k = seed001("6.4")
    before = k.state()
    # root may open a 0444 file for writing, but a debugfs file without a write method fails write(2)
    assert errno_of(k.write, GROUPS, "0\n") == errno.EINVAL
    # without CAP_DAC_OVERRIDE the open itself is refused
    assert errno_of(k.write, GROUPS, "0\n", ALL_CAPS - {"CAP_DAC_OVERRIDE"}) == errno.EACCES
    assert errno_of(k.write, "/sys/kernel/debug/iommulab/README", "x") == errno.EINVAL
    assert k.state() == before
    r = k.sh(f"echo 0 > {GROUPS}")
    assert (r.status, r.stderr) == (1, "bash: echo: write error: Invalid argument\n")
    r = k.sh("ls -l /sys/kernel/debug/iommulab")
    assert "-r--r--r-- 1 root root" in r.stdout and " groups\n" in r.stdout
    assert k.lstat("/sys/kernel/debug").mode == "drwx------"       # DEBUGFS_DEFAULT_MODE 0700
    assert k.state() == before


def test_shell_reads_debugfs_with_cat_and_grep():
    k = seed001("6.4")
    r = k.sh(f"grep owner_cnt=2 {GROUPS}")
    assert (r.status, r.stdout) == (0, k.read(GROUPS).splitlines(True)[1])
    assert r.stdout.startswith("45 owner_cnt=2 ")
    r = k.sh("cat /sys/kernel/debug/iommulab/README | head -1")
    assert r.stdout == "not part of Linux: iommulab shows the iommu core's private group state here.\n"
    assert k.sh("ls /sys/kernel/debug/iommulab").stdout == "README\ngroups\n"


# --- the shell command ------------------------------------------------------------------------------

def test_iommulab_why_group_and_device_forms():
    k = seed001("6.4")
    for cmd in ("iommulab-why 45", "iommulab-why group 45", "iommulab-why 0000:03:00.1", "iommulab-why 03:00.1"):
        r = k.sh(cmd)
        assert r.status == 0, cmd
        out = r.stdout.splitlines()
        assert out[0] == "0000:03:00.1 is in group 45 because the scenario says so (group = 45)"
        assert out[1].startswith("ownership (iommulab shows the kernel's private state here")
        assert out[2] == "  " + LEAK
    r = k.sh("iommulab-why -o group 45")
    assert r.stdout.splitlines()[1] == "  " + LEAK and "scenario says so" not in r.stdout
    assert k.sh("iommulab-why -m -o 45").stdout == k.sh("iommulab-why 45").stdout
    r = k.sh("iommulab-why --membership 0000:03:00.1")
    assert r.stdout == "0000:03:00.1 is in group 45 because the scenario says so (group = 45)\n"


def test_iommulab_why_errors_and_help():
    k = seed001("6.6")
    r = k.sh("iommulab-why group 99")
    assert (r.status, r.stderr) == (1, "iommulab-why: group 99: no such IOMMU group\n")
    r = k.sh("iommulab-why 0000:09:00.0")
    assert (r.status, r.stderr) == (1, "iommulab-why: 0000:09:00.0: no such device\n")
    assert k.sh("iommulab-why").status == 2
    assert k.sh("iommulab-why -z 45").status == 2
    r = k.sh("iommulab-why --help")
    assert r.status == 0 and r.stdout.startswith("Usage: iommulab-why")
    assert "group N" in r.stdout and "/sys/kernel/debug/iommulab/groups" in r.stdout


def test_iommulab_why_on_6_6_after_the_story():
    k = seed001("6.6")
    r = k.sh("iommulab-why -o 45")
    assert r.stdout.splitlines()[1] == "  group 45 is not viable: owner_cnt 1 counts 1 bound kernel DMA driver (hns3)"
    k.sh("echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind\n"
         "echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override\n"
         "echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
    r = k.sh("iommulab-why -o 45")
    assert r.stdout.splitlines()[1].startswith("  group 45 is viable: owner_cnt 0")


@pytest.mark.parametrize("version,counts", [("6.15", True), ("6.4", False)])
def test_cdx_driver_bound_without_a_count(version, counts):
    # 6.15: cdx_dma_configure() swallows use_default's -EPROBE_DEFER and binds anyway (uncounted);
    # 6.4: the cdx bus has no ownership hooks at all, so its drivers never count
    k = make(version, devices=[dev("cdx-00:00", bus="cdx", group=3, default_domain=False)],
             drivers=[drv("cdx_drv", bus="cdx")])
    bind(k, "cdx-00:00", "cdx_drv", bus="cdx")
    assert k.devices["cdx-00:00"].driver.name == "cdx_drv" and st(k, 3)[0] == 0
    head = why(k, 3)[0]
    if counts:
        assert head == ("group 3 is viable for VFIO (owner_cnt 0) although it has 1 bound kernel DMA driver "
                        "(cdx_drv): a driver is bound without its count (cdx_dma_configure() returns 0 when "
                        "the use failed), or someone gave back a count that was not theirs")
    else:
        assert head.startswith("group 3 is viable: owner_cnt 0")
        assert ("cdx-00:00 is bound to cdx_drv, but the cdx bus of this kernel has no DMA-ownership hooks: "
                "it does not count") in why(k, 3)


@pytest.mark.parametrize("version,claimed", [("6.0", True), ("6.1", False)])
def test_group_left_in_its_container_after_the_last_unbind(version, claimed):
    k = make(version, devices=[dev("0000:02:00.0", id="8086:1533", group=2, driver="vfio-pci")])
    p = k.spawn("app")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/2")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    unbind(k, "0000:02:00.0")
    lines = why(k, 2)
    if claimed:      # 5.19/6.0: no wait and no forced detach (spec §0.1)
        assert lines[0].startswith("group 2 is claimed by user space: its owner is the VFIO container file")
        assert any(s.startswith("no device of the group is bound to a VFIO driver any more") and
                   "5.19 and 6.0 do not detach" in s for s in lines)
        assert f"app (pid {p.pid}) holds fd {c} /dev/vfio/vfio, fd {g} /dev/vfio/2" in lines
    else:            # 6.1 (ca5f21b25749) detached the container when the last device went
        assert lines[0].startswith("group 2 is viable: owner_cnt 0")


def test_noiommu_group_is_never_claimed():
    k = make("6.6", devices=[dev("0000:02:00.0", id="8086:1533", iommu=False, driver="vfio-pci")],
             cmdline="vfio.enable_unsafe_noiommu_mode=1")
    (n, g), = k.iommu_groups.items()
    assert why(k, n) == [f"group {n} is a VFIO no-IOMMU group: nothing translates or isolates its DMA, so VFIO "
                         "never claims it (owner_cnt stays 0); user space with CAP_SYS_RAWIO opens "
                         f"/dev/vfio/noiommu-{n}, and the kernel is tainted"]
    out = k.sh("iommulab-why -m 0000:02:00.0").stdout
    assert out == (f"0000:02:00.0 is alone in group {n}, a VFIO no-IOMMU group: no IOMMU sees its DMA, and "
                   "vfio.enable_unsafe_noiommu_mode=1 let VFIO make a group for it\n")


def test_a_device_is_named_as_lspci_or_the_kernel_names_it():
    k = seed001("6.4")
    assert explain_ownership(k, "03:00.1") == explain_ownership(k, "0000:03:00.1")
    assert k.sh("iommulab-why -o 03:00.1").stdout == k.sh("iommulab-why -o 0000:03:00.1").stdout
    with pytest.raises(ValueError):
        explain_ownership(k, "03:00.7")
    assert k.sh("iommulab-why 03:00.7").status == 1
