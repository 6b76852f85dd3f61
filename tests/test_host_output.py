"""The host's own output (issue 11): uname, /proc/cmdline, the boot log per IOMMU driver, lspci's
names, -v/-vv/-vvv and -k, lsmod, and the device numbers of the VFIO nodes."""
import os
import subprocess
import sys

import pytest

from iommulab import Kernel
from iommulab.scenario_file import to_toml
from iommulab import pciids as pcidb
from conftest import dev, drv, errno_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def boot(version="6.6", devices=(), drivers=(), **kernel):
    doc = {"title": "host output", "kernel": dict({"version": version}, **kernel),
           "driver": list(drivers), "device": list(devices)}
    return Kernel.from_toml(to_toml(doc), "test.toml")


def ok(k, script):
    r = k.sh(script)
    assert r.status == 0, r
    return r.stdout


def lines_of(k, script):
    return ok(k, script).splitlines()


@pytest.fixture
def no_pci_ids(monkeypatch, tmp_path):
    """A host without pci.ids: the reader is pointed at a file that does not exist."""
    monkeypatch.setenv(pcidb.ENV, str(tmp_path / "missing" / "pci.ids"))


SWITCH = [dev("0000:00:01.0", id="8086:2030", kind="root-port"),
          dev("0000:01:00.0", id="10b5:8747", kind="upstream-port", parent="0000:00:01.0"),
          dev("0000:02:08.0", id="10b5:8747", kind="downstream-port", parent="0000:01:00.0", acs=False),
          dev("0000:02:10.0", id="10b5:8747", kind="downstream-port", parent="0000:01:00.0"),
          dev("0000:03:00.0", id="10de:2204", parent="0000:02:08.0", **{"class": 0x030000}),
          dev("0000:04:00.0", id="144d:a808", parent="0000:02:10.0", untrusted=True, **{"class": 0x010802}),
          dev("0000:00:1f.0", id="8086:a145", multifunction=True, **{"class": 0x060100}),
          dev("0000:00:1f.3", id="8086:a170", acs=False, **{"class": 0x040300})]


# --- uname and /proc/cmdline --------------------------------------------------------------------

def test_uname_follows_the_architecture_and_version():
    x86 = boot("6.6")
    assert ok(x86, "uname -m") == "x86_64\n"
    assert ok(x86, "uname -r") == "6.6.0\n"
    assert ok(x86, "uname") == "Linux\n"
    assert ok(x86, "uname -a") == "Linux iommulab 6.6.0 #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n"
    arm = Kernel.from_scenario("seed-001")
    assert ok(arm, "uname -m") == "aarch64\n"                 # utsname machine of arm64 kernels
    assert ok(arm, "uname -srm") == "Linux 6.4.0 aarch64\n"
    assert ok(boot("6.1.52"), "uname -r") == "6.1.52\n"
    r = arm.sh("uname -q")
    assert r.status == 1 and r.stderr.startswith("uname: invalid option -- 'q'")


def test_proc_cmdline_is_the_boot_loaders_line_plus_the_scenarios_parameters():
    k = boot("6.6", cmdline="intel_iommu=on iommu=pt vfio-pci.ids=10de:2204")
    assert k.read("/proc/cmdline") == ("BOOT_IMAGE=/boot/vmlinuz-6.6.0 root=/dev/sda1 ro "
                                       "intel_iommu=on iommu=pt vfio-pci.ids=10de:2204\n")
    assert ok(k, "cat /proc/cmdline | grep -o 'iommu=pt'") == "iommu=pt\n"
    assert boot("6.6").read("/proc/cmdline") == "BOOT_IMAGE=/boot/vmlinuz-6.6.0 root=/dev/sda1 ro\n"


# --- the boot log ---------------------------------------------------------------------------------

def test_intel_boot_log_in_the_kernels_order_and_words():
    k = boot("6.6", devices=[dev("0000:00:02.0", id="8086:9bc5")], cmdline="intel_iommu=on")
    log = k.dmesg()
    assert log[0] == "Linux version 6.6.0 (builder@localhost) #1 SMP PREEMPT_DYNAMIC"
    assert log[1] == "Command line: BOOT_IMAGE=/boot/vmlinuz-6.6.0 root=/dev/sda1 ro intel_iommu=on"
    assert log[2] == "Kernel command line: BOOT_IMAGE=/boot/vmlinuz-6.6.0 root=/dev/sda1 ro intel_iommu=on"
    order = ["DMAR: IOMMU enabled", "iommu: Default domain type: Translated",
             "iommu: DMA domain TLB invalidation policy: lazy mode", "DMAR: Host address width 39",
             "DMAR-IR: Enabled IRQ remapping in x2apic mode", "pci 0000:00:02.0: Adding to iommu group 0",
             "DMAR: Intel(R) Virtualization Technology for Directed I/O",
             "VFIO - User Level meta-driver version: 0.3"]
    assert [log.index(line) for line in order] == sorted(log.index(line) for line in order)
    assert not any(line.startswith(("AMD-Vi", "arm-smmu")) for line in log)


def test_dmar_iommu_enabled_only_when_the_command_line_says_intel_iommu_on():
    assert "DMAR: IOMMU enabled" not in boot("6.6").dmesg()
    assert "DMAR: IOMMU enabled" in boot("6.6", cmdline="intel_iommu=on").dmesg()
    assert "DMAR: IOMMU enabled" not in boot("6.6", cmdline="intel_iommu=on", iommu_driver="amd").dmesg()


def test_without_interrupt_remapping_no_remapping_line():
    assert not any(line.startswith("DMAR-IR") for line in boot("6.6", msi_isolation=False).dmesg())
    amd = boot("6.6", iommu_driver="amd")
    assert "AMD-Vi: Interrupt remapping enabled" in amd.dmesg()
    assert "AMD-Vi: Interrupt remapping enabled" not in boot("6.6", iommu_driver="amd", msi_isolation=False).dmesg()
    assert not any(line.startswith("DMAR") for line in amd.dmesg())


def test_default_domain_line_lost_its_trailing_space_in_6_5():
    """32261d10943b (6.5): before, "%s %s" left a space before an empty suffix."""
    assert "iommu: Default domain type: Translated " in boot("6.4").dmesg()
    assert "iommu: DMA domain TLB invalidation policy: lazy mode " in boot("6.4").dmesg()
    assert "iommu: Default domain type: Translated" in boot("6.5").dmesg()
    assert "iommu: Default domain type: Translated " not in boot("6.5").dmesg()
    assert "iommu: DMA domain TLB invalidation policy: lazy mode" in boot("6.5").dmesg()


def test_default_domain_line_says_when_the_command_line_chose():
    pt = boot("6.6", cmdline="iommu.passthrough=1")
    assert "iommu: Default domain type: Passthrough (set via kernel command line)" in pt.dmesg()
    assert not any("TLB invalidation policy" in line for line in pt.dmesg())   # only for translated
    assert "iommu: Default domain type: Passthrough (set via kernel command line)" in \
        boot("6.4", cmdline="iommu=pt").dmesg()
    strict = boot("6.6", cmdline="iommu.strict=1")
    assert "iommu: Default domain type: Translated" in strict.dmesg()
    assert "iommu: DMA domain TLB invalidation policy: strict mode (set via kernel command line)" in strict.dmesg()


def test_unknown_parameters_are_handed_to_user_space():
    k = boot("6.6", cmdline="intel_iommu=on pcie_acs_override=downstream vfio-pci.ids=10de:2204")
    assert ('Unknown kernel command line parameters "BOOT_IMAGE=/boot/vmlinuz-6.6.0 '
            'pcie_acs_override=downstream", will be passed to user space.') in k.dmesg()
    arm = boot("6.6", arch="arm64", cmdline="iommu=pt")          # iommu= is x86's early_param
    assert any('"BOOT_IMAGE=/boot/vmlinuz-6.6.0 iommu=pt"' in line for line in arm.dmesg())


def test_smmuv3_boot_log_on_the_kunpeng_host():
    k = Kernel.from_scenario("seed-001")
    log = k.dmesg()
    assert "Command line: " not in "\n".join(log).replace("Kernel command line: ", "")   # x86 only
    assert "arm-smmu-v3 arm-smmu-v3.0.auto: option mask 0x0" in log
    assert "arm-smmu-v3 arm-smmu-v3.0.auto: ias 48-bit, oas 48-bit (features 0x00000fef)" in log
    assert log.index("arm-smmu-v3 arm-smmu-v3.0.auto: option mask 0x0") < \
        log.index("pci 0000:03:00.1: Adding to iommu group 45")
    assert not any(line.startswith(("DMAR", "AMD-Vi")) for line in log)
    assert ok(k, "dmesg | grep -i -e smmu -e iommu | head -2") == (
        "iommu: Default domain type: Translated \n"
        "iommu: DMA domain TLB invalidation policy: strict mode \n")    # arm64's Kconfig default
    assert k.read("/sys/kernel/iommu_groups/45/type") == "DMA\n"
    v2 = boot("6.6", arch="arm64", iommu_driver="arm-smmu")
    assert "arm-smmu arm-smmu.0.auto: SMMUv2 with:" in v2.dmesg()


# --- pci.ids -------------------------------------------------------------------------------------

TINY_IDS = """\
# a pci.ids in miniature
10de  NVIDIA Corporation
\t2204  GA102 [GeForce RTX 3090]
\t\t10de 1454  An RTX 3090 card
abcd  Example Vendor
C 03  Display controller
\t00  VGA compatible controller
\t\t00  VGA controller
C 0c  Serial bus controller
\t03  USB controller
\t\t30  XHCI
"""


def test_parse_reads_vendors_devices_classes_and_prog_ifs():
    db = pcidb.parse(TINY_IDS.splitlines(True), "tiny")
    assert db.vendors == {0x10de: "NVIDIA Corporation", 0xabcd: "Example Vendor"}
    assert db.devices == {(0x10de, 0x2204): "GA102 [GeForce RTX 3090]"}     # subsystems skipped
    assert db.classes == {0x0300: "VGA compatible controller", 0x0c03: "USB controller"}
    assert db.base_classes == {0x03: "Display controller", 0x0c: "Serial bus controller"}
    assert db.prog_ifs == {(0x0300, 0x00): "VGA controller", (0x0c03, 0x30): "XHCI"}


def test_lspci_reads_the_file_named_by_the_environment(monkeypatch, tmp_path):
    path = tmp_path / "pci.ids"
    path.write_text(TINY_IDS)
    monkeypatch.setenv(pcidb.ENV, str(path))
    k = boot("6.6", devices=[dev("0000:01:00.0", id="10de:2204", revision=0xa1, **{"class": 0x030000}),
                             dev("0000:02:00.0", id="abcd:0001", **{"class": 0x0c0330}),
                             dev("0000:03:00.0", id="8086:1533", **{"class": 0x020000})])
    assert ok(k, "lspci") == (
        "01:00.0 VGA compatible controller: NVIDIA Corporation GA102 [GeForce RTX 3090] (rev a1)\n"
        "02:00.0 USB controller: Example Vendor Device 0001\n"
        "03:00.0 Class 0200: Device 8086:1533\n")             # neither class nor vendor in this file
    assert ok(k, "lspci -nn -s 03:00.0") == "03:00.0 Class [0200]: Device [8086:1533]\n"
    assert ok(k, "lspci -nn -s 02:00.0") == "02:00.0 USB controller [0c03]: Example Vendor Device [abcd:0001]\n"
    assert ok(k, "lspci -v -s 02:00.0").splitlines()[0] == \
        "02:00.0 USB controller: Example Vendor Device 0001 (prog-if 30 [XHCI])"


def test_without_the_file_the_built_in_table_gives_the_same_names(no_pci_ids):
    assert pcidb.find_file() is None
    k = Kernel.from_scenario("desktop-gpu")
    assert ok(k, "lspci -s 00:01.0") == \
        "00:01.0 PCI bridge: Intel Corporation 6th-10th Gen Core Processor PCIe Controller (x16)\n"
    arm = Kernel.from_scenario("seed-001")
    assert ok(arm, "lspci -nn") == (
        "00:10.0 PCI bridge [0604]: Huawei Technologies Co., Ltd. HiSilicon PCIe Root Port with Gen4 [19e5:a120]\n"
        "03:00.1 Ethernet controller [0200]: Huawei Technologies Co., Ltd. HNS GE/10GE/25GE RDMA Network "
        "Controller [19e5:a222]\n")


def test_built_in_scenarios_print_the_same_with_and_without_the_file(monkeypatch, tmp_path):
    """The built-in table holds what pci.ids says for every device of the library."""
    from iommulab.scenarios import __file__ as lib
    names = sorted(f[:-5] for f in os.listdir(os.path.dirname(lib)) if f.endswith(".toml"))
    path = tmp_path / "pci.ids"
    real = next((p for p in pcidb.PCI_IDS_PATHS if os.path.isfile(p)), None)
    # Where the host has pci.ids, compare against it; elsewhere against the table's own entries
    # written out in pci.ids syntax (which at least checks the reader and the table agree).
    path.write_text(open(real, encoding="utf-8", errors="replace").read() if real else _as_pci_ids(pcidb.builtin()))
    for name in names:
        k = Kernel.from_scenario(name)
        monkeypatch.setenv(pcidb.ENV, str(path))
        with_file = k.sh("lspci -nn -vv").stdout
        monkeypatch.setenv(pcidb.ENV, str(tmp_path / "missing"))
        assert k.sh("lspci -nn -vv").stdout == with_file, name


def _as_pci_ids(db):
    out = []
    for v, name in sorted(db.vendors.items()):
        out.append(f"{v:04x}  {name}")
        out += [f"\t{d:04x}  {n}" for (vv, d), n in sorted(db.devices.items()) if vv == v]
    for b, name in sorted(db.base_classes.items()):
        out.append(f"C {b:02x}  {name}")
        for c, n in sorted(db.classes.items()):
            if c >> 8 == b:
                out.append(f"\t{c & 0xFF:02x}  {n}")
                out += [f"\t\t{p:02x}  {pn}" for (cc, p), pn in sorted(db.prog_ifs.items()) if cc == c]
    return "\n".join(out) + "\n"


def test_scenario_names_still_override_the_database():
    k = boot("6.6", devices=[dev("0000:01:00.0", id="10de:2204", device_name="My GPU", **{"class": 0x030000})])
    assert ok(k, "lspci") == "01:00.0 VGA compatible controller: NVIDIA Corporation My GPU\n"


def test_names_are_read_only_when_lspci_needs_them():
    code = ("import iommulab.pciids as p, iommulab; from iommulab import Kernel\n"
            "k = Kernel.from_scenario('desktop-gpu'); k.sh('dmesg; lspci -n; uname -a')\n"
            "before = dict(p._cache); k.sh('lspci'); print(before == {}, len(p._cache))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "1"]


def test_a_base_class_without_its_subclass_prints_with_its_number(no_pci_ids):
    k = boot("6.6", devices=[dev("0000:01:00.0", id="8086:ffff", **{"class": 0x0cff00})])
    assert ok(k, "lspci") == "01:00.0 Serial bus controller [0cff]: Intel Corporation Device ffff\n"
    assert ok(k, "lspci -nn") == "01:00.0 Serial bus controller [0cff]: Intel Corporation Device [8086:ffff]\n"


# --- lspci -v / -vv / -vvv / -k ------------------------------------------------------------------

def test_verbose_puts_the_group_in_the_flags_line_and_vv_on_its_own():
    """lspci.c show_verbose(): verbose <= 1 → ", IOMMU group N" in Flags; > 1 → "IOMMU group: N"."""
    k = boot("6.6", devices=SWITCH, drivers=[drv("nouveau", ids=["10de:2204"])])
    n = k.devices["0000:03:00.0"].iommu_group.id
    v = lines_of(k, "lspci -v -s 03:00.0")
    assert v[1] == f"\tFlags: bus master, fast devsel, latency 0, IOMMU group {n}"
    assert v[-1] == ""                                           # a blank line after each device
    vv = lines_of(k, "lspci -vv -s 03:00.0")
    assert f"\tIOMMU group: {n}" in vv and not any(line.startswith("\tFlags:") for line in vv)
    assert lines_of(k, "lspci -vvv -s 03:00.0") == vv
    assert f"\tIOMMU group: {n}" not in lines_of(k, "lspci -k -s 03:00.0")


def test_express_capability_names_the_port_type():
    k = boot("6.6", devices=SWITCH)
    express = {d: next(x for x in lines_of(k, f"lspci -vv -s {d}") if "] Express" in x) for d in
               ("00:01.0", "01:00.0", "02:08.0", "03:00.0", "00:1f.3")}
    assert express == {
        "00:01.0": "\tCapabilities: [40] Express (v2) Root Port (Slot+), IntMsgNum 0",
        "01:00.0": "\tCapabilities: [40] Express (v2) Upstream Port, IntMsgNum 0",
        "02:08.0": "\tCapabilities: [40] Express (v2) Downstream Port (Slot+), IntMsgNum 0",
        "03:00.0": "\tCapabilities: [40] Express (v2) Endpoint, IntMsgNum 0",
        "00:1f.3": "\tCapabilities: [40] Express (v2) Root Complex Integrated Endpoint, IntMsgNum 0"}
    assert "\tCapabilities: [40] Express Root Port (Slot+), IntMsgNum 0" in lines_of(k, "lspci -v -s 00:01.0")
    conventional = boot("6.6", devices=[dev("0000:00:1e.0", kind="pcie-to-pci-bridge", id="8086:244e"),
                                        dev("0000:05:00.0", kind="conventional", parent="0000:00:1e.0")])
    assert not any("] Express" in x for x in lines_of(conventional, "lspci -vv -s 05:00.0"))
    assert "\tCapabilities: [40] Express (v2) PCI-Express to PCI/PCI-X Bridge, IntMsgNum 0" in \
        lines_of(conventional, "lspci -vv -s 00:1e.0")


def test_acs_capability_and_its_flags_follow_the_scenario():
    k = boot("6.6", devices=SWITCH)
    acs = lines_of(k, "lspci -vvv -s 02:10.0")
    assert acs[acs.index("\tCapabilities: [100 v1] Access Control Services"):][:3] == [
        "\tCapabilities: [100 v1] Access Control Services",
        "\t\tACSCap:\tSrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-",
        "\t\tACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-"]
    assert not any("Access Control" in x for x in lines_of(k, "lspci -vvv -s 02:08.0"))   # acs = false
    assert not any("Access Control" in x for x in lines_of(k, "lspci -vvv -s 03:00.0"))   # one function
    assert "\tCapabilities: [100] Access Control Services" in lines_of(k, "lspci -v -s 00:01.0")
    assert not any("ACSCap" in x for x in lines_of(k, "lspci -v -s 00:01.0"))           # flags need -vv
    mf = lines_of(k, "lspci -vv -s 00:1f.0")                                            # multifunction
    assert mf[mf.index("\tCapabilities: [100 v1] Access Control Services") + 1:][:2] == [
        "\t\tACSCap:\tSrcValid- TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd- EgressCtrl- DirectTrans-",
        "\t\tACSCtl:\tSrcValid- TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd- EgressCtrl- DirectTrans-"]
    # what the VFIO guides type: 2 ports and 1 function with ACS, two lines each
    assert len(lines_of(k, "lspci -vvv | grep -i acs")) == 6


def test_an_untrusted_device_gets_translation_blocking():
    k = boot("6.6", devices=[dev("0000:00:1c.0", kind="root-port", untrusted=True)])
    assert "\t\tACSCtl:\tSrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-" in \
        lines_of(k, "lspci -vv")


def test_kernel_modules_names_the_module_not_the_driver():
    k = Kernel.from_scenario("desktop-gpu")
    assert lines_of(k, "lspci -k -s 00:14.0")[1:] == ["\tKernel driver in use: xhci_hcd",
                                                      "\tKernel modules: xhci_pci"]
    assert lines_of(k, "lspci -k -s 00:01.0")[1:] == ["\tKernel driver in use: pcieport"]   # built in
    ok(k, "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override;"
          "echo 0000:01:00.0 > /sys/bus/pci/devices/0000:01:00.0/driver/unbind;"
          "echo 0000:01:00.0 > /sys/bus/pci/drivers_probe")
    # vfio-pci's id table is driver_override-only ("vfio_pci:" aliases): never in Kernel modules
    assert lines_of(k, "lspci -nnk -s 01:00.0")[1:] == ["\tKernel driver in use: vfio-pci",
                                                        "\tKernel modules: nouveau"]


def test_lspci_on_the_arm64_host_prints_no_intel_device():
    k = Kernel.from_scenario("seed-001")
    out = ok(k, "lspci -vv")
    assert "Intel" not in out and "Huawei Technologies" in out
    assert "\tIOMMU group: 45" in out


# --- lsmod ---------------------------------------------------------------------------------------

def _lsmod(k):
    rows = lines_of(k, "lsmod")
    assert rows[0] == "Module                  Size  Used by"
    out = {}
    for row in rows[1:]:
        assert row[19] == " " and row[28:30] == "  "          # "%-19s %8lu  %d"
        name, size, count, *users = row.split()
        out[name] = (int(count), users[0].split(",") if users else [])
    return out


def test_lsmod_lists_the_vfio_chain_with_its_users():
    k = Kernel.from_scenario("desktop-gpu")
    mods = _lsmod(k)
    assert mods["vfio_pci"] == (0, [])
    assert mods["vfio_pci_core"] == (1, ["vfio_pci"])
    assert mods["vfio_iommu_type1"] == (0, [])
    assert sorted(mods["vfio"][1]) == ["vfio_iommu_type1", "vfio_pci", "vfio_pci_core"] and mods["vfio"][0] == 3
    assert mods["iommufd"] == (1, ["vfio"])                        # CONFIG_IOMMUFD on 6.6
    assert mods["kvm"] == (1, ["kvm_intel"]) and sorted(mods["irqbypass"][1]) == ["kvm", "vfio_pci_core"]
    assert "xhci_pci" in mods and mods["xhci_hcd"] == (1, ["xhci_pci"])
    assert "pcieport" not in mods and "vfio_platform" not in mods    # built in; arm-only
    rows = lines_of(k, "lsmod")[1:]
    names = [r.split()[0] for r in rows]
    assert names.index("vfio_pci") < names.index("vfio_pci_core") < names.index("vfio")   # newest first


def test_lsmod_counts_open_files_devices_and_containers():
    k = boot("6.6", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")])
    p = k.spawn("user")
    c = p.open("/dev/vfio/vfio")
    g = p.open("/dev/vfio/5")
    assert p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c) == 0
    assert p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU") == 0
    mods = _lsmod(k)
    assert mods["vfio"][0] == 3 + 2 and mods["vfio_iommu_type1"][0] == 1
    d = p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:05:00.0")
    assert d >= 0
    mods = _lsmod(k)
    assert mods["vfio"][0] == 3 + 3 and mods["vfio_pci"][0] == 1      # the device holds its driver
    p.exit()
    mods = _lsmod(k)
    assert mods["vfio"][0] == 3 and mods["vfio_pci"][0] == 0 and mods["vfio_iommu_type1"][0] == 0


def test_lsmod_follows_version_config_and_architecture():
    assert "iommufd" not in _lsmod(boot("6.1"))                               # no iommufd before 6.2
    assert "iommufd" not in _lsmod(boot("6.6", config={"CONFIG_IOMMUFD": False,
                                                                   "CONFIG_VFIO_DEVICE_CDEV": False}))
    compat = _lsmod(boot("6.6", config={"CONFIG_IOMMUFD_VFIO_CONTAINER": True}))
    assert "vfio_iommu_type1" not in compat and compat["vfio"][1].count("vfio_iommu_type1") == 0
    arm = _lsmod(Kernel.from_scenario("seed-001"))
    assert not {"kvm", "kvm_intel", "irqbypass"} & set(arm)                    # KVM is built in on arm64
    assert arm["vfio_pci_core"] == (1, ["vfio_pci"]) and "hns3" in arm
    assert "kvm_amd" in _lsmod(boot("6.6", iommu_driver="amd"))


# --- device numbers ------------------------------------------------------------------------------

def test_vfio_nodes_have_the_kernels_device_numbers():
    k = Kernel.from_scenario("seed-001")
    ok(k, "echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override;"
          "echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind;"
          "echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
    rows = lines_of(k, "ls -l /dev/vfio")
    assert rows[1].startswith("crw------- 1 root root 242,   0 ") and rows[1].endswith(" 45")  # minor 0: first group
    assert rows[-1].startswith("crw-rw-rw- 1 root root  10, 196 ") and rows[-1].endswith(" vfio")
    assert lines_of(k, "ls -l /dev/vfio/vfio")[0].startswith("crw-rw-rw- 1 root root 10, 196 ")
    assert lines_of(k, "ls -l /dev/null")[0].startswith("crw-rw-rw- 1 root root 1, 3 ")


def test_group_minors_count_in_creation_order_not_by_group_number():
    k = boot("6.6", devices=[dev("0000:05:00.0", group=9, driver="vfio-pci"),
                             dev("0000:06:00.0", group=3)], drivers=[drv("e1000e", ids=["8086:10d3"])])
    k.write("/sys/bus/pci/devices/0000:06:00.0/driver_override", "vfio-pci")
    k.write("/sys/bus/pci/drivers_probe", "0000:06:00.0")
    rows = lines_of(k, "ls -l /dev/vfio")
    assert [r.split()[4:6] + [r.split()[-1]] for r in rows[1:3]] == [["242,", "1", "3"], ["242,", "0", "9"]]
    assert rows[-1].split()[4:6] == ["10,", "196"]


def test_cdev_and_iommufd_numbers():
    k = boot("6.6", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")],
             config={"CONFIG_VFIO_DEVICE_CDEV": True})
    assert k.read("/sys/bus/pci/devices/0000:05:00.0/vfio-dev/vfio0/dev") == "241:0\n"
    assert lines_of(k, "ls -l /dev/vfio/devices")[1].startswith("crw------- 1 root root 241, 0 ")
    assert lines_of(k, "ls -l /dev/iommu")[0].startswith("crw------- 1 root root 10, 123 ")


def test_reserved_regions_follow_the_iommu_driver():
    x86 = boot("6.6", devices=[dev("0000:05:00.0", group=5)])
    assert x86.read("/sys/kernel/iommu_groups/5/reserved_regions") == "0x00000000fee00000 0x00000000feefffff msi\n"
    arm = Kernel.from_scenario("seed-001")
    assert arm.read("/sys/kernel/iommu_groups/45/reserved_regions") == "0x0000000008000000 0x00000000080fffff msi\n"
    assert errno_of(arm.read, "/sys/kernel/iommu_groups/46/reserved_regions") != 0


def test_rmmod_of_a_module_others_use_names_its_holders():
    k = Kernel.from_scenario("desktop-gpu")
    r = k.sh("rmmod vfio")
    assert (r.status, r.stderr) == (1, "rmmod: ERROR: Module vfio is in use by: vfio_pci vfio_pci_core "
                                       "vfio_iommu_type1\n")
    assert k.sh("rmmod vfio_pci_core").stderr == "rmmod: ERROR: Module vfio_pci_core is in use by: vfio_pci\n"
    assert k.sh("rmmod vfio_iommu_type1").stderr.startswith("iommulab: unloading vfio_iommu_type1 is not modelled")
    assert k.sh("rmmod nosuch").stderr == "rmmod: ERROR: Module nosuch is not currently loaded\n"


def test_module_parameters_from_the_command_line_show_in_sys_module():
    k = boot("6.6", cmdline="vfio_iommu_type1.allow_unsafe_interrupts=1 vfio-pci.ids=10de:2204")
    assert k.read("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts") == "Y\n"
    assert k.read("/sys/module/iommufd/parameters/allow_unsafe_interrupts") == "N\n"
    # vfio-pci's ids is module_param_string(..., 0): no sysfs file, but the boot applied it
    assert "ids" not in k.listdir("/sys/module/vfio_pci/parameters")
    assert "vfio_pci: add [10de:2204[ffff:ffff]] class 0x000000/00000000" in k.dmesg()
    assert boot("6.6").read("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts") == "N\n"


def test_sriov_capability_shows_the_vf_counts():
    k = Kernel.from_scenario("server-sriov")
    assert "\tCapabilities: [160] Single Root I/O Virtualization (SR-IOV)" in lines_of(k, "lspci -v -s 3b:00.0")
    before = lines_of(k, "lspci -vv -s 3b:00.0")
    assert "\t\tIOVCtl:\tEnable- Migration- Interrupt- MSE- ARIHierarchy- 10BitTagReq-" in before
    assert "\t\tInitial VFs: 32, Total VFs: 32, Number of VFs: 0, Function Dependency Link: 00" in before
    assert "\t\tVF offset: 16, stride: 1, Device ID: 154c" in before
    ok(k, "echo 2 > /sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs")
    after = lines_of(k, "lspci -vv -s 3b:00.0")
    assert "\t\tIOVCtl:\tEnable+ Migration- Interrupt- MSE+ ARIHierarchy- 10BitTagReq-" in after
    assert "\t\tInitial VFs: 32, Total VFs: 32, Number of VFs: 2, Function Dependency Link: 00" in after
    assert not any("SR-IOV" in x for x in lines_of(k, "lspci -vv -s 3b:02.0"))     # a VF has none


def test_lspci_says_which_pciutils_it_formats_like():
    assert ok(boot("6.6"), "lspci --version") == "lspci version 3.13.0\n"


def test_the_project_scripts_install_pci_ids():
    deps = open(os.path.join(ROOT, "scripts", "system-deps.sh")).read()
    assert "[pci.ids]=/usr/share/misc/pci.ids" in deps            # a file, not a program, shows it
    assert "system-deps.sh graphviz chromium pci.ids" in open(os.path.join(ROOT, "scripts", "test.sh")).read()
    assert "system-deps.sh pci.ids" in open(os.path.join(ROOT, "scripts", "lab.sh")).read()
    if os.path.isfile("/usr/share/misc/pci.ids"):                   # then the script has nothing to do
        import shutil
        r = subprocess.run([shutil.which("bash"), os.path.join(ROOT, "scripts", "system-deps.sh"), "pci.ids"],
                           capture_output=True, text=True, env={"PATH": "/nonexistent"})   # no apt-get reachable
        assert (r.returncode, r.stderr) == (0, "")


def test_intel_iommu_options_are_parsed_as_the_kernel_does():
    assert "DMAR: IOMMU enabled" in boot("6.6", cmdline="intel_iommu=on,igfx_off").dmesg()
    log = boot("6.6", cmdline="intel_iommu=1").dmesg()             # a common mistake
    assert "DMAR: Unknown option - '1'" in log and "DMAR: IOMMU enabled" not in log
    log = boot("6.6", cmdline="intel_iommu=bogus,on").dmesg()
    assert log.index("DMAR: Unknown option - 'bogus,on'") < log.index("DMAR: IOMMU enabled")


@pytest.mark.parametrize("arch, cmdline, want", [
    ("x86_64", "", "DMA-FQ"), ("arm64", "", "DMA"),                  # CONFIG_IOMMU_DEFAULT_DMA_LAZY only on x86
    ("arm64", "iommu.strict=0", "DMA-FQ"), ("x86_64", "iommu.strict=1", "DMA"),
    ("x86_64", "iommu=pt", "identity"), ("arm64", "iommu=pt", "DMA"),  # iommu=pt is an x86 parameter
    ("arm64", "iommu.passthrough=1", "identity")])
def test_default_domain_type_follows_the_architecture(arch, cmdline, want):
    k = boot("6.6", arch=arch, cmdline=cmdline)
    assert k.default_domain_type == want
