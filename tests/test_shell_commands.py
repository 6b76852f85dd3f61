"""The shell's commands (issue: the shell), each against the simulated machine."""

from conftest import dev, drv, make

LOOP = ('for g in /sys/kernel/iommu_groups/*; do echo "IOMMU Group ${g##*/}:"; '
        'for d in $g/devices/*; do echo -e "\\t$(lspci -nns ${d##*/})"; done; done')


def ok(k, script):
    r = k.sh(script)
    assert r.status == 0, r
    assert "internal error" not in r.stderr
    return r.stdout


# desktop-gpu's groups as `lspci -nns` prints each member (names from pci.ids)
LISTING = (
    "IOMMU Group 0:\n\t00:00.0 Host bridge [0600]: Intel Corporation Xeon E3-1200 v5/E3-1500 v5/6th Gen Core "
    "Processor Host Bridge/DRAM Registers [8086:191f]\n"
    "IOMMU Group 1:\n\t00:01.0 PCI bridge [0604]: Intel Corporation 6th-10th Gen Core Processor PCIe Controller "
    "(x16) [8086:1901]\n"
    "\t01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3090] [10de:2204] (rev a1)\n"
    "\t01:00.1 Audio device [0403]: NVIDIA Corporation GA102 High Definition Audio Controller [10de:1aef] (rev a1)\n"
    "IOMMU Group 2:\n\t00:14.0 USB controller [0c03]: Intel Corporation 100 Series/C230 Series Chipset Family "
    "USB 3.0 xHCI Controller [8086:a12f]\n"
    "IOMMU Group 3:\n\t00:1f.0 ISA bridge [0601]: Intel Corporation Z170 Chipset LPC/eSPI Controller [8086:a145]\n"
    "IOMMU Group 4:\n\t00:1f.3 Audio device [0403]: Intel Corporation 100 Series/C230 Series Chipset Family "
    "HD Audio Controller [8086:a170]\n"
    "IOMMU Group 5:\n\t00:1f.6 Ethernet controller [0200]: Intel Corporation Ethernet Connection (2) I219-V [8086:15b8]\n")


def test_the_classic_listing_loop_runs_unchanged(k):
    assert ok(k, LOOP) == LISTING


def test_loop_orders_groups_like_bash_globbing():
    k = make("6.6", devices=[dev(f"0000:0{n % 10}:00.0", group=n) for n in (1, 2, 10)])
    assert ok(k, "for g in /sys/kernel/iommu_groups/*; do echo ${g##*/}; done") == "1\n10\n2\n"


def test_echo_forms(k):
    assert ok(k, "echo a  b") == "a b\n"
    assert ok(k, "echo -n x") == "x"
    assert ok(k, 'echo -e "a\\tb"') == "a\tb\n"
    assert ok(k, "echo 'single $HOME' \"double $HOME\" \\$HOME") == "single $HOME double /root $HOME\n"


def test_echo_into_sysfs_and_write_errors(k):
    ok(k, "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override")
    assert k.devices["0000:01:00.0"].driver_override == "vfio-pci"
    r = k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
    assert (r.status, r.stderr) == (1, "bash: echo: write error: No such device\n")
    r = k.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind")
    assert (r.status, r.stderr) == (1, "bash: echo: write error: Device or resource busy\n")


def test_cat_ls_readlink(k):
    assert ok(k, "cat /sys/kernel/iommu_groups/1/type") == "DMA-FQ\n"
    assert ok(k, "ls /sys/kernel/iommu_groups/1/devices") == "0000:00:01.0\n0000:01:00.0\n0000:01:00.1\n"
    out = ok(k, "ls -l /sys/kernel/iommu_groups/1/devices")
    assert out.startswith("total 0\nlrwxrwxrwx 1 root root")
    assert "0000:01:00.0 -> ../../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0" in out
    assert ok(k, "readlink /sys/bus/pci/devices/0000:01:00.0/driver") == "../../../../bus/pci/drivers/nouveau\n"
    assert ok(k, "readlink -f /sys/bus/pci/devices/0000:01:00.0/driver") == "/sys/bus/pci/drivers/nouveau\n"
    assert ok(k, "basename /sys/bus/pci/devices/0000:01:00.0; dirname /a/b/c") == "0000:01:00.0\n/a/b\n"


def test_ls_many_directories_like_the_importer_input(k):
    out = ok(k, "ls -l /sys/kernel/iommu_groups/*/devices")
    assert out.startswith("/sys/kernel/iommu_groups/0/devices:\ntotal 0\nlrwxrwxrwx")
    assert "\n\n/sys/kernel/iommu_groups/1/devices:\ntotal 0\n" in out


def test_find_type_l(k):
    out = ok(k, "find /sys/kernel/iommu_groups/ -type l")
    assert out.splitlines()[:2] == ["/sys/kernel/iommu_groups/0/devices/0000:00:00.0",
                                    "/sys/kernel/iommu_groups/1/devices/0000:00:01.0"]
    assert len(out.splitlines()) == 8                 # with the LPC bridge 00:1f.0
    assert sorted(ok(k, "find /sys/kernel/iommu_groups/1 -maxdepth 1").splitlines()) == [
        "/sys/kernel/iommu_groups/1", "/sys/kernel/iommu_groups/1/devices",
        "/sys/kernel/iommu_groups/1/reserved_regions", "/sys/kernel/iommu_groups/1/type"]


def test_lspci_variants(k):
    assert ok(k, "lspci -s 01:00.1") == \
        "01:00.1 Audio device: NVIDIA Corporation GA102 High Definition Audio Controller (rev a1)\n"
    assert ok(k, "lspci -n -s 0000:01:00.0") == "01:00.0 0300: 10de:2204 (rev a1)\n"   # show_terse: rev with -n too
    assert ok(k, "lspci -D -s 01:00.0") == \
        "0000:01:00.0 VGA compatible controller: NVIDIA Corporation GA102 [GeForce RTX 3090] (rev a1)\n"
    assert ok(k, "lspci -nnk -s 01:00.1") == (
        "01:00.1 Audio device [0403]: NVIDIA Corporation GA102 High Definition Audio Controller [10de:1aef] (rev a1)\n"
        "\tKernel driver in use: snd_hda_intel\n\tKernel modules: snd_hda_intel\n")
    assert ok(k, "lspci -s 01:00") == (
        "01:00.0 VGA compatible controller: NVIDIA Corporation GA102 [GeForce RTX 3090] (rev a1)\n"
        "01:00.1 Audio device: NVIDIA Corporation GA102 High Definition Audio Controller (rev a1)\n")
    assert ok(k, "lspci | wc -l") == "8\n"
    assert ok(k, "lspci -s 00:1f.3") == \
        "00:1f.3 Audio device: Intel Corporation 100 Series/C230 Series Chipset Family HD Audio Controller\n"


def test_lspci_uses_scenario_names():
    k = make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1, vendor_name="NVIDIA Corporation",
                                 device_name="GA102 [GeForce RTX 3090]", revision=0xa1, **{"class": 0x030000})])
    assert ok(k, "lspci -nn") == ("01:00.0 VGA compatible controller [0300]: NVIDIA Corporation "
                                  "GA102 [GeForce RTX 3090] [10de:2204] (rev a1)\n")


def test_dmesg_grep_head_tail_wc_sort(k):
    assert ok(k, "dmesg | grep -c 'Adding to iommu group'") == "8\n"
    assert ok(k, "dmesg | head -n 1") == "Linux version 6.6.0 (builder@localhost) #1 SMP PREEMPT_DYNAMIC\n"
    assert ok(k, "dmesg | grep -i 'group 1$' | tail -1") == "pci 0000:01:00.1: Adding to iommu group 1\n"
    assert ok(k, "ls /sys/bus/pci/devices | sort -r | head -2") == "0000:01:00.1\n0000:01:00.0\n"
    assert ok(k, "lspci -n | grep -c 0403") == "2\n"
    assert ok(k, "printf '%s\\n' b a c | sort | uniq | wc -l") == "3\n"
    r = k.sh("dmesg | grep nothing-like-this")
    assert r.status == 1 and r.stdout == ""


def test_sequences_conditions_variables_and_substitution(k):
    assert ok(k, "true && echo yes || echo no; false && echo yes || echo no") == "yes\nno\n"
    assert ok(k, "G=$(basename $(readlink /sys/bus/pci/devices/0000:01:00.1/iommu_group)); echo group=$G") == "group=1\n"
    assert ok(k, 'D=0000:01:00.1\necho "${D%.*} ${D#*:} ${D##*:} ${#D} ${NOPE:-dflt}"') == \
        "0000:01:00 01:00.1 00.1 12 dflt\n"
    assert ok(k, "if [ -e /dev/vfio/1 ]; then echo y; else echo n; fi") == "n\n"
    assert ok(k, "cd /sys/bus/pci/devices/0000:01:00.0 && cat driver_override && pwd") == \
        "(null)\n/sys/bus/pci/devices/0000:01:00.0\n"             # bash keeps the logical path
    assert ok(k, "echo $?; false; echo $?") == "0\n1\n"


def test_state_persists_across_calls(k):
    ok(k, "X=42")
    assert ok(k, "echo $X") == "42\n"


def test_sleep_and_help(k):
    assert ok(k, "sleep 1; echo after") == "after\n"
    assert "qemu-system-x86_64" in ok(k, "help")


def test_modprobe_rmmod_with_ids():
    k = make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1)], drivers=[drv("nouveau", ids=["10de:2204"])])
    assert k.devices["0000:01:00.0"].driver.name == "nouveau"
    ok(k, "rmmod nouveau")
    assert k.devices["0000:01:00.0"].driver is None and "nouveau" not in k.listdir("/sys/bus/pci/drivers")
    ok(k, "rmmod vfio_pci && modprobe vfio-pci ids=10de:2204")
    assert k.devices["0000:01:00.0"].driver.name == "vfio-pci"
    assert "vfio_pci: add [10de:2204[ffff:ffff]] class 0x000000/00000000" in k.dmesg()
    ok(k, "modprobe nouveau")                       # vfio-pci already has it
    assert k.devices["0000:01:00.0"].driver.name == "vfio-pci"
    assert "vfio_pci" in ok(k, "lsmod")
    r = k.sh("modprobe nosuch")
    assert r.status == 1 and r.stderr == "modprobe: FATAL: Module nosuch not found in directory /lib/modules/6.6.0\n"
    r = k.sh("rmmod nosuch")
    assert r.stderr == "rmmod: ERROR: Module nosuch is not currently loaded\n"
    assert k.sh("rmmod pcieport").stderr == "rmmod: ERROR: Module pcieport is builtin.\n"


def test_rmmod_refuses_while_user_space_holds_a_device():
    k = make("6.6", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")])
    ok(k, "qemu-system-x86_64 -device vfio-pci,host=0000:05:00.0")
    r = k.sh("rmmod vfio_pci")
    assert (r.status, r.stderr) == (1, "rmmod: ERROR: Module vfio_pci is in use\n")
    ok(k, "kill %1; rmmod vfio_pci")


def test_ps_and_proc(k):
    k.write("/sys/bus/pci/drivers/nouveau/unbind", "0000:01:00.0")
    k.write("/sys/bus/pci/drivers/snd_hda_intel/unbind", "0000:01:00.1")
    ok(k, "echo 10de 2204 > /sys/bus/pci/drivers/vfio-pci/new_id; echo 10de 1aef > /sys/bus/pci/drivers/vfio-pci/new_id")
    k.sh("qemu-system-x86_64 -enable-kvm -m 4G -device vfio-pci,host=01:00.0 -device vfio-pci,host=01:00.1")
    out = ok(k, "ps")
    assert "qemu-system-x86" in out
    pid = ok(k, "echo $!").strip()
    assert ok(k, f"cat /proc/{pid}/comm") == "qemu-system-x86_64\n"
    assert "/dev/vfio/1" in ok(k, f"ls -l /proc/{pid}/fd")


ARCH_WIKI_SCRIPT = """#!/bin/bash
shopt -s nullglob
for g in $(find /sys/kernel/iommu_groups/* -maxdepth 0 -type d | sort -V); do
    echo "IOMMU Group ${g##*/}:"
    for d in $g/devices/*; do
        echo -e "\\t$(lspci -nns ${d##*/})"
    done;
done;
"""


def test_the_arch_wiki_variant_of_the_listing_script(k):
    assert ok(k, ARCH_WIKI_SCRIPT) == LISTING          # version-sorted groups: 0 to 5, the same order here


def test_version_sort_orders_group_numbers_numerically():
    k = make("6.6", devices=[dev(f"0000:0{n % 10}:00.0", group=n) for n in (1, 2, 10)])
    out = ok(k, "find /sys/kernel/iommu_groups/* -maxdepth 0 -type d | sort -V")
    assert out.splitlines() == [f"/sys/kernel/iommu_groups/{n}" for n in (1, 2, 10)]


def test_grep_context_and_nullglob(k):
    out = ok(k, "lspci -nnk | grep -A2 VGA")
    assert out.splitlines() == ["01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3090] "
                                "[10de:2204] (rev a1)", "\tKernel driver in use: nouveau", "\tKernel modules: nouveau"]
    assert ok(k, "dmesg | grep -B1 -c 'group 1$'") == "3\n"
    assert ok(k, "echo /nothing/*") == "/nothing/*\n"
    assert ok(k, "shopt -s nullglob; echo /nothing/* end") == "end\n"
    assert k.sh("set -euo pipefail; echo fine").stdout == "fine\n"
