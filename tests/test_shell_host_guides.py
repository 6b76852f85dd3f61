"""What VFIO guides (the Arch wiki, the kernel's Documentation/driver-api/vfio.rst) tell people to
type, answered as a Debian host answers: GNU grep 3 / coreutils 9 / procps-ng 4 / bash 5.2 / sudo
1.9 output, messages and exit statuses; QEMU's words by its version (hw/vfio, 7.x-10.x)."""
import re

import pytest

from iommulab import Kernel
from iommulab.scenario_file import to_toml
from iommulab.shell.qemu import QemuWords
from conftest import dev, drv, make, st

GREP_USAGE = "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n"
SUDO_NOTE = "iommulab: you are already root here; sudo runs the command as is\n"
LOG = ("DMAR: IOMMU enabled\\nfoo bar\\nAMD-Vi: x\\niommu: Default domain type: Translated\\n"
       "pci 0000:00:02.0: Adding to iommu group 0\\nDMAR-IR: Enabled IRQ remapping in x2apic mode\\n"
       "foo_bar baz\\n01:00.0 VGA compatible controller [0300]: NVIDIA\\n")


def run(k, script):
    r = k.sh(script)
    assert "internal error" not in r.stderr, r
    return r.status, r.stdout, r.stderr


def grep(k, args):
    """grep over a fixed log (the same text GNU grep 3.8 was checked against)."""
    return run(k, f"printf '{LOG}' | grep {args}")


# --- grep ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,out", [
    ("-i -e DMAR -e IOMMU", "DMAR: IOMMU enabled\niommu: Default domain type: Translated\n"
     "pci 0000:00:02.0: Adding to iommu group 0\nDMAR-IR: Enabled IRQ remapping in x2apic mode\n"),
    ("-E 'DMAR|IOMMU'", "DMAR: IOMMU enabled\nDMAR-IR: Enabled IRQ remapping in x2apic mode\n"),
    ("'DMAR\\|AMD-Vi'", "DMAR: IOMMU enabled\nAMD-Vi: x\nDMAR-IR: Enabled IRQ remapping in x2apic mode\n"),
    ("'DMAR|AMD-Vi'", None),                                  # BRE: | is an ordinary character
    ("-c VGA", "1\n"),
    ("-ci iommu", "3\n"),
    ("-o -i -e dmar -e iommu", "DMAR\nIOMMU\niommu\niommu\nDMAR\n"),
    ("-o -E 'DMAR(-IR)?'", "DMAR\nDMAR-IR\n"),               # leftmost-longest
    ("-o 'iommu group [0-9]*'", "iommu group 0\n"),
    ("-E -o 'group [[:digit:]]+'", "group 0\n"),
    ("-w foo", "foo bar\n"),                                  # not foo_bar: _ is a word character
    ("-ow 'DMAR'", "DMAR\nDMAR\n"),                           # DMAR-IR's DMAR is a word too
    ("-n -o -E 'D[A-Z]+'", "1:DMAR\n6:DMAR\n8:DIA\n"),
    ("-x 'foo bar'", "foo bar\n"),
    ("-v -e o -e a", "AMD-Vi: x\n"),
    ("-v -e o -e A", None),
    ("-A1 foo", "foo bar\nAMD-Vi: x\n--\nfoo_bar baz\n01:00.0 VGA compatible controller [0300]: NVIDIA\n"),
    ("-C1 -n baz", "6-DMAR-IR: Enabled IRQ remapping in x2apic mode\n7:foo_bar baz\n"
     "8-01:00.0 VGA compatible controller [0300]: NVIDIA\n"),
    ("-m1 -c o", "1\n"),
    ("--color=auto -F 'x2apic'", "DMAR-IR: Enabled IRQ remapping in x2apic mode\n"),
    ("VGA -c", "1\n"),                                        # GNU getopt: options after operands
    ("-H DMAR:", "(standard input):DMAR: IOMMU enabled\n"),
])
def test_grep_as_gnu_grep(k, args, out):
    status, stdout, stderr = grep(k, args)
    assert (status, stdout, stderr) == ((0, out, "") if out else (1, "", ""))


def test_grep_nothing_matched_is_exit_1_and_quiet_is_silent(k):
    assert grep(k, "nothing") == (1, "", "")
    assert grep(k, "-q DMAR") == (0, "", "")
    assert grep(k, "-c nothing") == (1, "0\n", "")
    assert grep(k, "-ov foo") == (0, "", "")                  # -o -v selects lines, prints no part


@pytest.mark.parametrize("args,err", [
    ("-j x", "grep: invalid option -- 'j'\n" + GREP_USAGE),
    ("--frobnicate x", "grep: unrecognized option '--frobnicate'\n" + GREP_USAGE),
    ("-e", "grep: option requires an argument -- 'e'\n" + GREP_USAGE),
    ("", GREP_USAGE),
    ("-A x y", "grep: x: invalid context length argument\n"),
    ("-E 'a('", "grep: Unmatched ( or \\(\n"),
    ("'a\\('", "grep: Unmatched ( or \\(\n"),
    ("'[[:nope:]]'", "grep: Unmatched [, [^, [:, [., or [=\n"),
])
def test_grep_errors_are_exit_2_with_greps_words(k, args, err):
    assert grep(k, args) == (2, "", err)


def test_grep_files_count_per_file_and_missing_file(k):
    t = "/sys/kernel/iommu_groups/1/type"
    assert run(k, f"grep -c DMA {t} {t}") == (0, f"{t}:1\n{t}:1\n", "")
    assert run(k, f"grep -l DMA {t}") == (0, f"{t}\n", "")
    assert run(k, f"grep DMA /nonexistent {t}") == (2, f"{t}:DMA-FQ\n",
                                                    "grep: /nonexistent: No such file or directory\n")
    assert run(k, "grep -s DMA /nonexistent") == (2, "", "")


def test_dmesg_grep_e_dmar_e_iommu_as_the_arch_wiki_types_it(k):
    """`dmesg | grep -i -e DMAR -e IOMMU`: exactly the kernel log's lines naming either word."""
    status, out, err = run(k, "dmesg | grep -i -e DMAR -e IOMMU")
    want = [ln for ln in k.dmesg() if re.search("dmar|iommu", ln, re.I)]
    assert status == 0 and err == "" and want
    assert out == "".join(ln + "\n" for ln in want)
    assert any(ln.startswith("DMAR:") for ln in want)                 # an Intel VT-d host
    assert any(re.search(r"Adding to iommu group \d+$", ln) for ln in want)
    assert run(k, "dmesg | grep -c 'Adding to iommu group'")[1] == \
        f"{sum('Adding to iommu group' in ln for ln in k.dmesg())}\n"


def test_lspci_nn_grep_c_vga(k):
    assert run(k, "lspci -nn | grep -c VGA") == (0, "1\n", "")
    assert run(k, "lspci -nn | grep -o '\\[10de:[0-9a-f]*\\]'") == (0, "[10de:2204]\n[10de:1aef]\n", "")
    assert run(k, "lspci -nn | grep -ic 'nvidia'") == (0, "2\n", "")


# --- tee, sudo -----------------------------------------------------------------------------------

def test_echo_into_tee_writes_sysfs_and_stdout(k):
    p = "/sys/bus/pci/devices/0000:01:00.0/driver_override"
    assert run(k, f"echo vfio-pci | tee {p}") == (0, "vfio-pci\n", "")
    assert k.devices["0000:01:00.0"].driver_override == "vfio-pci"
    assert run(k, "echo 10de 2204 | tee -a /sys/bus/pci/drivers/vfio-pci/new_id") == (0, "10de 2204\n", "")


def test_tee_refused_write_says_tee_path_strerror_and_exits_1(k):
    """coreutils' tee: error(0, errno, "%s", quotef(file)); quotef quotes a name with a colon."""
    run(k, "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override")
    assert run(k, "echo 0000:01:00.0 | tee /sys/bus/pci/drivers/vfio-pci/bind") == \
        (1, "0000:01:00.0\n", "tee: /sys/bus/pci/drivers/vfio-pci/bind: Device or resource busy\n")
    t = "/sys/bus/pci/devices/0000:01:00.0/iommu_group/type"
    assert run(k, f"echo identity | tee {t}") == (1, "identity\n", f"tee: '{t}': Operation not permitted\n")   # 6.4+: owner_cnt
    assert k.read("/sys/kernel/iommu_groups/1/type") == "DMA-FQ\n"          # refused: nothing changed
    assert run(k, "echo x | tee /sys/nope/file") == (1, "x\n", "tee: /sys/nope/file: No such file or directory\n")
    assert run(k, "echo x | tee -z") == (1, "", "tee: invalid option -- 'z'\nTry 'tee --help' for more information.\n")


def test_sudo_runs_the_command_and_notes_once(k):
    p = "/sys/bus/pci/devices/0000:01:00.1/driver_override"
    assert run(k, f"echo vfio-pci | sudo tee {p}") == (0, "vfio-pci\n", SUDO_NOTE)
    assert k.devices["0000:01:00.1"].driver_override == "vfio-pci"
    assert run(k, "sudo cat /sys/kernel/iommu_groups/1/type") == (0, "DMA-FQ\n", "")     # no second note
    assert run(k, "sudo sh -c 'echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind'") == (0, "", "")
    assert k.devices["0000:01:00.1"].driver is None
    assert run(k, "sudo -E dmesg | grep -c 'Adding to iommu group'")[0] == 0
    assert run(k, "sudo cd /tmp") == (1, "", "sudo: cd: command not found\n")
    assert run(k, "sudo nosuchcommand") == (1, "", "sudo: nosuchcommand: command not found\n")
    assert run(k, "sudo -u nobody true") == (1, "", "sudo: unknown user nobody\n")
    status, out, err = run(k, "sudo")
    assert status == 1 and err.startswith("usage: sudo -h | -K | -k | -V\n")


def test_sudo_i_starts_no_shell_and_says_so():
    k = Kernel.from_scenario("desktop-gpu")
    assert run(k, "sudo -i") == (0, "", "iommulab: you are already root here; sudo -i starts no new shell\n")
    assert run(k, "sudo -i; sudo -i true") == (0, "", SUDO_NOTE)


def test_sh_c_is_a_subshell(k):
    assert run(k, "X=1; sh -c 'X=2; cd /sys; echo $X $PWD'; echo $X $PWD") == (0, "2 /sys\n1 /\n", "")
    assert run(k, "bash -c 'exit 3'") == (3, "", "")
    assert run(k, "bash -c") == (2, "", "bash: -c: option requires an argument\n")


def test_sleep_returns_at_once_and_says_so_once(k):
    assert run(k, "sleep 2") == (0, "", "iommulab: sleep returns at once: the simulated machine has no "
                                        "clock, and nothing in it changes while you wait\n")
    assert run(k, "sleep 0.5; sleep 1m") == (0, "", "")
    assert run(k, "sleep x") == (1, "", "sleep: invalid time interval 'x'\nTry 'sleep --help' for more information.\n")
    assert run(k, "sleep") == (1, "", "sleep: missing operand\nTry 'sleep --help' for more information.\n")


# --- processes and jobs ----------------------------------------------------------------------

Q = "qemu-system-x86_64"


def vm_host(qemu=None, version="6.6"):
    doc = {"title": "test", "kernel": {"version": version},
           "device": [dev("0000:05:00.0", id="8086:1533", group=5, driver="vfio-pci"),
                      dev("0000:06:00.0", id="10de:2204", group=6)]}
    if qemu:
        doc["qemu"] = {"version": qemu}
    return Kernel.from_toml(to_toml(doc), "test.toml")


def test_pgrep_lists_simulated_processes():
    k = vm_host()
    assert run(k, "pgrep qemu") == (1, "", "")
    assert run(k, f"{Q} -m 2G -device vfio-pci,host=05:00.0 &")[0] == 0
    pid = run(k, "echo $!")[1].strip()
    assert run(k, "pgrep qemu") == (0, f"{pid}\n", "")
    assert run(k, "pgrep -l qemu") == (0, f"{pid} qemu-system-x86\n", "")      # comm: 15 characters
    assert run(k, "pgrep -a qemu") == (0, f"{pid} {Q} -m 2G -device vfio-pci,host=05:00.0\n", "")
    assert run(k, "pgrep -f 'host=05:00.0'") == (0, f"{pid}\n", "")
    assert run(k, "pgrep -c qemu") == (0, "1\n", "")
    assert run(k, f"pgrep {Q}") == (1, "", "pgrep: pattern that searches for process name longer than 15 "
                                           "characters will result in zero matches\nTry `pgrep -f' option "
                                           "to match against the complete command line.\n")
    assert run(k, "pgrep") == (2, "", "pgrep: no matching criteria specified\nTry `pgrep --help' for more information.\n")
    run(k, "kill %1")
    assert run(k, "pgrep qemu") == (1, "", "[1]+  Terminated              "
                                           f"{Q} -m 2G -device vfio-pci,host=05:00.0\n")


def test_background_jobs_print_pid_and_later_notices():
    """bash 5.2 interactive: `[N] PID` at once; the end is told before the prompt after the next command."""
    k = vm_host()
    status, out, err = run(k, "true &")
    assert status == 0 and re.fullmatch(r"\[1\] \d+\n", err)
    assert run(k, "echo next") == (0, "next\n", "[1]+  Done                    true\n")
    assert run(k, "false &")[2].startswith("[1] ")
    assert run(k, "jobs") == (0, "[1]+  Exit 1                  false\n", "")     # jobs reports it instead
    assert run(k, "true") == (0, "", "")
    run(k, f"{Q} -device vfio-pci,host=05:00.0 &")
    assert run(k, "jobs") == (0, f"[1]+  Running                 {Q} -device vfio-pci,host=05:00.0 &\n", "")
    assert run(k, "kill %1") == (0, "", "")
    assert run(k, "jobs") == (0, f"[1]+  Terminated              {Q} -device vfio-pci,host=05:00.0\n", "")
    run(k, f"{Q} -device vfio-pci,host=05:00.0 &")
    run(k, "kill -9 %1")
    assert run(k, "true")[2] == f"[1]+  Killed                  {Q} -device vfio-pci,host=05:00.0\n"


def test_a_qemu_that_fails_in_the_background_prints_its_error_then_exit_1():
    k = vm_host()
    status, out, err = run(k, f"{Q} -m 2G -device vfio-pci,host=06:00.0 &")
    pid = err.split("\n")[0][len("[1] "):]
    assert status == 0 and out == ""
    assert err == (f"[1] {pid}\n{Q}: -device vfio-pci,host=06:00.0: vfio 0000:06:00.0: "
                   "Could not open '/dev/vfio/6': No such file or directory\n")
    assert k.processes == {}
    assert run(k, "true") == (0, "", f"[1]+  Exit 1                  {Q} -m 2G -device vfio-pci,host=06:00.0\n")


def test_two_jobs_get_numbers_and_marks():
    k = vm_host()
    run(k, f"{Q} -device vfio-pci,host=05:00.0 & true &")
    jobs = run(k, "jobs")[1]
    assert jobs == (f"[1]-  Running                 {Q} -device vfio-pci,host=05:00.0 &\n"
                    "[2]+  Done                    true\n")


# --- QEMU's words, version by version ------------------------------------------------------------

@pytest.mark.parametrize("qemu,first,year", [("9.2", "9.2.0", 2024), ("10.1", "10.1.0", 2025),
                                             ("8.2.2", "8.2.2", 2023), ("7.2", "7.2.0", 2022)])
def test_qemu_version_prints_the_scenarios_qemu(qemu, first, year):
    k = vm_host(qemu)
    assert run(k, f"{Q} --version") == (0, f"QEMU emulator version {first}\nCopyright (c) 2003-{year} "
                                           "Fabrice Bellard and the QEMU Project developers\n", "")
    assert run(k, f"{Q} -version")[1].startswith(f"QEMU emulator version {first}\n")


def test_default_qemu_is_10_1():
    assert run(vm_host(), f"{Q} --version")[1].startswith("QEMU emulator version 10.1.0\n")


@pytest.mark.parametrize("qemu,message", [
    ("8.2", "failed to open /dev/vfio/6: No such file or directory"),
    ("9.0", "failed to open /dev/vfio/6: No such file or directory"),
    ("9.1", "Could not open '/dev/vfio/6': No such file or directory"),
    ("9.2", "Could not open '/dev/vfio/6': No such file or directory"),
    ("10.1", "Could not open '/dev/vfio/6': No such file or directory"),
])
def test_group_open_failure_by_qemu_version(qemu, message):
    """qemu_open_old() + "failed to open %s" until 9.0; qemu_open(errp) from 9.1."""
    k = vm_host(qemu)
    r = k.sh(f"{Q} -device vfio-pci,host=06:00.0")
    assert (r.status, r.stderr) == (1, f"{Q}: -device vfio-pci,host=06:00.0: vfio 0000:06:00.0: {message}\n")


def test_container_open_words_by_version():
    assert QemuWords((9, 0, 0)).open_error("/dev/vfio/vfio", 13) == \
        "failed to open /dev/vfio/vfio: Permission denied"
    assert QemuWords((9, 1, 0)).open_error("/dev/vfio/vfio", 13) == \
        "Could not open '/dev/vfio/vfio': Permission denied"


@pytest.mark.parametrize("qemu,hint", [
    ("8.1", "Use -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,sysfsdev=PATH_TO_DEVICE"),
    ("8.2", "Use -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,fd=DEVICE_FD "
            "or -device vfio-pci,sysfsdev=PATH_TO_DEVICE"),
    ("10.1", "Use -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,fd=DEVICE_FD "
             "or -device vfio-pci,sysfsdev=PATH_TO_DEVICE"),
])
def test_no_provided_host_device_hint_names_fd_from_8_2(qemu, hint):
    assert run(vm_host(qemu), f"{Q} -device vfio-pci") == \
        (1, "", f"{Q}: -device vfio-pci: No provided host device\n{hint}\n")


def test_iommufd_backend_needs_qemu_8_2():
    k = vm_host("8.1")
    assert run(k, f"{Q} -object iommufd,id=i0 -device vfio-pci,host=05:00.0,iommufd=i0") == \
        (1, "", f"{Q}: -object iommufd,id=i0: invalid object type: iommufd\n")
    assert run(k, f"{Q} -device vfio-pci,host=05:00.0,iommufd=i0") == \
        (1, "", f"{Q}: -device vfio-pci,host=05:00.0,iommufd=i0: Property 'vfio-pci.iommufd' not found\n")
    k = vm_host("8.2")
    assert run(k, f"{Q} -object iommufd,id=i0 -device vfio-pci,host=05:00.0,iommufd=i0")[0] == 0


@pytest.mark.parametrize("qemu", ["7.2", "10.1"])
def test_no_such_host_device_has_the_sysfs_path_and_no_vfio_bdf_prefix(qemu):
    r = vm_host(qemu).sh(f"{Q} -device vfio-pci,host=0000:09:00.0")
    assert (r.status, r.stderr) == (1, f"{Q}: -device vfio-pci,host=0000:09:00.0: vfio "
                                       "/sys/bus/pci/devices/0000:09:00.0: no such host device: "
                                       "No such file or directory\n")


def test_set_container_failure_words():
    """A device whose firmware asks for a 1:1 mapping (require_direct) on 6.6: the kernel refuses
    the blocking domain with -EINVAL; QEMU's vfio_connect_container() words, as hosts report them."""
    k = make("6.6", devices=[dev("0000:00:02.0", id="8086:9bc4", group=0, require_direct=True, driver="vfio-pci")])
    r = k.sh(f"{Q} -device vfio-pci,host=00:02.0")
    assert (r.status, r.stderr) == (1, f"{Q}: -device vfio-pci,host=00:02.0: vfio 0000:00:02.0: failed to "
                                       "setup container for group 0: Failed to set group container: "
                                       "Invalid argument\n")
    assert st(k, 0)[:2] == (0, "NULL")                           # refused: nothing claimed


def test_qemu_system_aarch64_on_the_arm64_seed_host():
    k = Kernel.from_scenario("seed-001")
    assert k.arch == "arm64"
    r = k.sh("qemu-system-aarch64 -M virt -cpu host -enable-kvm -device vfio-pci,host=0000:03:00.1")
    assert r.status == 1
    assert r.stderr.startswith("qemu-system-aarch64: -device vfio-pci,host=0000:03:00.1: vfio 0000:03:00.1: ")
    assert run(k, "qemu-system-aarch64 --version")[1].startswith("QEMU emulator version ")


# --- the kernel's Documentation/driver-api/vfio.rst, "VFIO Usage Example" ---------------------------

def vfio_rst_host():
    """Its machine: a Sound Blaster Live! (1102:0002 and its game port) behind the 82801 PCI
    bridge 00:1e.0; bridge and both functions share IOMMU group 26."""
    return make("6.6", devices=[
        dev("0000:00:1e.0", id="8086:244e", kind="pci-bridge", group=26, revision=0xa5, **{"class": 0x060401}),
        dev("0000:06:0d.0", id="1102:0002", kind="conventional", parent="0000:00:1e.0", group=26,
            multifunction=True, revision=8, driver="snd_emu10k1", **{"class": 0x040100}),
        dev("0000:06:0d.1", id="1102:7002", kind="conventional", parent="0000:00:1e.0", group=26,
            multifunction=True, revision=8, driver="emu10k1_gp", **{"class": 0x098000})],
        drivers=[drv("snd_emu10k1", ids=["1102:0002"]), drv("emu10k1_gp", ids=["1102:7002"])])


def test_vfio_rst_usage_example_step_by_step():
    k = vfio_rst_host()
    d = "/sys/bus/pci/devices/0000:06:0d.0"
    assert run(k, f"readlink {d}/iommu_group") == (0, "../../../../kernel/iommu_groups/26\n", "")
    assert run(k, "modprobe vfio-pci")[0] == 0
    assert run(k, "lspci -n -s 0000:06:0d.0") == (0, "06:0d.0 0401: 1102:0002 (rev 08)\n", "")
    assert run(k, f"echo 0000:06:0d.0 > {d}/driver/unbind") == (0, "", "")
    assert run(k, "echo 1102 0002 > /sys/bus/pci/drivers/vfio-pci/new_id") == (0, "", "")
    assert k.devices["0000:06:0d.0"].driver.name == "vfio-pci"          # new_id probed it
    assert run(k, f"ls {d}/iommu_group/devices") == (0, "0000:00:1e.0\n0000:06:0d.0\n0000:06:0d.1\n", "")
    out = run(k, f"ls -l {d}/iommu_group/devices")[1].splitlines()
    assert out[0] == "total 0"
    assert [ln.split(" 00:00 ", 1)[1] for ln in out[1:]] == [
        "0000:00:1e.0 -> ../../../../devices/pci0000:00/0000:00:1e.0",
        "0000:06:0d.0 -> ../../../../devices/pci0000:00/0000:00:1e.0/0000:06:0d.0",
        "0000:06:0d.1 -> ../../../../devices/pci0000:00/0000:00:1e.0/0000:06:0d.1"]
    assert "26" in run(k, "ls /dev/vfio")[1].split()
    # the group is not viable until 06:0d.1 leaves its driver too ("the same procedure as above")
    assert "group 26 is not viable" in k.sh(f"{Q} -device vfio-pci,host=06:0d.0").stderr
    assert run(k, "echo 0000:06:0d.1 > /sys/bus/pci/devices/0000:06:0d.1/driver/unbind") == (0, "", "")
    assert run(k, "echo 1102 7002 > /sys/bus/pci/drivers/vfio-pci/new_id") == (0, "", "")
    # the final step: the simulated host has only root
    assert run(k, "chown user:user /dev/vfio/26") == (1, "", "chown: invalid user: 'user:user'\n")
    status, out, err = run(k, f"{Q} -device vfio-pci,host=06:0d.0 &")
    assert status == 0 and re.fullmatch(r"\[1\] \d+\n", err)
    assert st(k, 26)[1] == "vfio_group:26"


def test_programs_by_path_and_who_you_are(k):
    assert run(k, "/usr/bin/lspci -n -s 01:00.0") == run(k, "lspci -n -s 01:00.0")
    assert run(k, "/bin/cd /") == (127, "", "bash: /bin/cd: No such file or directory\n")
    assert run(k, "whoami; id") == (0, "root\nuid=0(root) gid=0(root) groups=0(root)\n", "")
    assert run(k, "sudo FOO=1 /usr/bin/whoami") == (0, "root\n", SUDO_NOTE)
    assert run(k, "sudo /opt/x") == (1, "", "sudo: /opt/x: command not found\n")


def test_tee_into_an_unbind_that_linux_blocks_becomes_a_job():
    k = vm_host()
    run(k, f"{Q} -device vfio-pci,host=05:00.0 &")
    status, out, err = run(k, "echo 0000:05:00.0 | tee /sys/bus/pci/drivers/vfio-pci/unbind")
    assert (status, out) == (0, "0000:05:00.0\n")
    assert err.startswith("[2] ") and "Linux blocks this write" in err
    assert k.devices["0000:05:00.0"].driver.name == "vfio-pci"
    run(k, "kill %1")
    assert k.devices["0000:05:00.0"].driver is None
    assert run(k, "jobs")[1] == (f"[1]-  Terminated              {Q} -device vfio-pci,host=05:00.0\n"
                                 "[2]+  Done                    tee /sys/bus/pci/drivers/vfio-pci/unbind\n")


def test_wait_returns_a_finished_jobs_status():
    k = vm_host()
    run(k, f"{Q} -device vfio-pci,host=06:00.0 &")
    assert run(k, "wait $!; echo $?") == (0, "1\n", "")          # QEMU's exit 1, and no notice after
    assert run(k, "true") == (0, "", "")
    run(k, f"{Q} -device vfio-pci,host=05:00.0 &")
    status, out, err = run(k, "wait %1")
    assert status == 0 and err == f"iommulab: wait returns at once: job [1] ({Q} -device vfio-pci,host=05:00.0) runs until it is killed\n"
    run(k, "kill %1")
    assert run(k, "wait %1") == (143, "", "")
    assert run(k, "wait %7") == (127, "", "bash: wait: %7: no such job\n")
