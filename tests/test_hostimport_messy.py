"""Issue 17: real pastes are messy. One hand-written fragment per rule of "What real pastes
contain": each is imported (booted as a scenario), and what was skipped is checked line by line."""
import time

import pytest

from iommulab import Kernel
from iommulab.hostimport import ImportError_, parse_text, to_document
from iommulab.scenario_file import to_toml


def read(text):
    lst = parse_text(text, "paste.txt")
    return lst, Kernel.from_toml(to_toml(to_document(lst)))


def groups(k):
    return {n: [d.name for d in g.devices] for n, g in k.iommu_groups.items()}


def skipped(lst):
    return {n: reason for n, _text, reason in lst.skipped}


def test_noise_around_the_listing():
    text = ("```\r\n"
            "root@pve:~# cat /proc/cmdline  \r\n"
            "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on iommu=pt\r\n"
            "root@pve:~# for d in /sys/kernel/iommu_groups/*/devices/*; do n=${d#*/iommu_groups/*}; n=${n%%/*}; \\\r\n"
            "    printf 'IOMMU group %s ' \"$n\"; lspci -nns \"${d##*/}\"; done\r\n"
            "IOMMU group 1 00:01.0 PCI bridge [0604]: Intel Corporation Xeon E3-1200 v5/E3-1500 v5/6th Gen Core "
            "Processor PCIe Controller (x16) [8086:1901] (rev 07)   \r\n"
            "\r\n"
            "IOMMU group 1 01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [GeForce GTX 1060 6GB] "
            "[10de:1c03] (rev a1)\t\r\n"
            "IOMMU group 1 01:00.1 Audio device [0403]: NVIDIA Corporation GP106 High Definition Audio Controller "
            "[10de:10f1] (rev a1)\r\n"
            "root@pve:~# lspci -nnk -s 01:00.0\r\n"
            "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [GeForce GTX 1060 6GB] [10de:1c03] (rev a1)\r\n"
            "\tSubsystem: Micro-Star International Co., Ltd. [MSI] GP106 [GeForce GTX 1060 6GB] [1462:3283]\r\n"
            "\tKernel driver in use: vfio-pci\r\n"
            "\tKernel modules: nouveau\r\n"
            "root@pve:~# dmesg | grep -i vfio\r\n"
            "[    4.512233] VFIO - User Level meta-driver version: 0.3\r\n"
            "[    4.529871] vfio-pci 0000:01:00.0: vgaarb: deactivate vga console\r\n"
            "```\r\n")
    lst, k = read(text)
    assert groups(k) == {1: ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]}
    assert k.devices["0000:01:00.0"].driver.name == "vfio-pci"          # from the lspci -nnk after the listing
    assert k.devices["0000:01:00.0"].id == "10de:1c03"
    assert lst.cmdline.endswith("intel_iommu=on iommu=pt")
    assert skipped(lst) == {2: "a shell prompt and its command",
                            3: "the kernel command line (kept for the report)",
                            4: "a shell prompt and its command", 5: "the shell command above, continued",
                            10: "a shell prompt and its command", 15: "a shell prompt and its command",
                            16: "a kernel log (dmesg) line", 17: "a kernel log (dmesg) line"}


LOOP = """\
IOMMU Group 0:
\t00:00.0 Host bridge [0600]: Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex [1022:1480]
IOMMU Group 1:
\t00:01.0 Host bridge [0600]: Advanced Micro Devices, Inc. [AMD] Starship/Matisse PCIe Dummy Host Bridge [1022:1482]
IOMMU Group 2:
\t0a:00.0 Ethernet controller [0200]: Realtek Semiconductor Co., Ltd. RTL8125 2.5GbE Controller [10ec:8125] (rev 05)
"""


def test_two_listings_of_one_host_are_merged():
    find = ("$ find /sys/kernel/iommu_groups/ -type l\n/sys/kernel/iommu_groups/2/devices/0000:0a:00.0\n"
            "/sys/kernel/iommu_groups/0/devices/0000:00:00.0\n/sys/kernel/iommu_groups/1/devices/0000:00:01.0\n")
    lst, k = read(LOOP + find)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:00:01.0"], 2: ["0000:0a:00.0"]}
    assert k.devices["0000:0a:00.0"].id == "10ec:8125"                    # facts of the loop, group of both
    assert (0, "2 listings of this host read (loop, find) and merged; they agree") in lst.notes


def test_listings_that_disagree_leave_the_device_out_and_say_so():
    find = ("$ find /sys/kernel/iommu_groups/ -type l\n/sys/kernel/iommu_groups/2/devices/0000:0a:00.0\n"
            "/sys/kernel/iommu_groups/0/devices/0000:00:00.0\n/sys/kernel/iommu_groups/0/devices/0000:00:01.0\n")
    lst, k = read(LOOP + find)
    assert groups(k) == {0: ["0000:00:00.0"], 2: ["0000:0a:00.0"]}        # 00:01.0 is not guessed
    assert skipped(lst)[10] == "0000:00:01.0 is listed in groups 1 and 0 (lines 4, 10): left out, not guessed"
    assert any("disagree on the group of 1 device" in text for _n, text in lst.notes)


GROUP_SCRIPT = (
    "user@box:~$ ./iommu.sh\n"
    "Group 0:\t[1022:1480]     00:00.0  Host bridge                              Starship/Matisse Root Complex\n"
    "Group 1:\t[1022:1483] [R] 00:01.1  PCI bridge                               Starship/Matisse GPP Bridge\n"
    "\t[10de:2484] [R] 01:00.0  VGA compatible controller                GA104 [GeForce RTX 3070]\n"
    "\t[10de:228b]     01:00.1  Audio device                             GA104 High Definition Audio Controller\n"
    "Group 2:\t[1022:149c] [R] 0b:00.3  USB controller                           Matisse USB 3.0 Host Controller\n"
    "USB:\t\t[1d6b:0002]\t\t Bus 001 Device 001                       Linux Foundation 2.0 root hub\n"
    "USB:\t\t[046d:c52b]\t\t Bus 001 Device 002                       Logitech, Inc. Unifying Receiver\n"
    "\t[1022:1487]     0b:00.4  Audio device                             Starship/Matisse HD Audio Controller\n"
    "\t\t\t\t\t\t\t\t  (rev 01, a long name wrapped by the script)\n")


def test_group_script_with_usb_lines_and_continuations():
    lst, k = read(GROUP_SCRIPT)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:00:01.1", "0000:01:00.0", "0000:01:00.1"],
                         2: ["0000:0b:00.3", "0000:0b:00.4"]}
    assert k.devices["0000:01:00.0"].id == "10de:2484" and k.devices["0000:01:00.0"].class_code == 0x030000
    assert k.devices["0000:00:01.1"].class_code == 0x060400 and k.devices["0000:01:00.0"].parent is None
    assert skipped(lst) == {1: "a shell prompt and its command",
                            7: "a USB device behind its controller (not a group member)",
                            8: "a USB device behind its controller (not a group member)",
                            10: "an indented line that continues the device above (not a device)"}
    assert "046d:c52b" not in {d.id for d in k.devices.values()}


def test_per_iommu_unit_tree():
    text = ("IOMMU: dmar0\n  IOMMU Group: 7\n    Group Device: 0000:00:02.0 - VGA compatible controller [0300]: "
            "Intel Corporation CoffeeLake-S GT2 [UHD Graphics 630] [8086:3e92]\n\n"
            "IOMMU: dmar1\n  IOMMU Group: 0\n    Group Device: 0000:00:00.0 - Host bridge [0600]: Intel Corporation "
            "8th Gen Core Processor Host Bridge/DRAM Registers [8086:3ec2] (rev 07)\n"
            "  IOMMU Group: 1\n    Group Device: 0000:00:01.0 - PCI bridge [0604]: Intel Corporation 6th-10th Gen "
            "Core Processor PCIe Controller (x16) [8086:1901] (rev 07)\n"
            "    Group Device: 0000:01:00.0 - Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd "
            "NVMe SSD Controller SM981/PM981/PM983 [144d:a808]\n")
    lst, k = read(text)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:00:01.0", "0000:01:00.0"], 7: ["0000:00:02.0"]}
    assert lst.units == {7: "dmar0", 0: "dmar1", 1: "dmar1"} and lst.skipped == []
    assert k.devices["0000:01:00.0"].id == "144d:a808"


def test_each_member_printed_once_per_member_is_kept_once():
    member = ("\t00:1f.0 ISA bridge [0601]: Intel Corporation H370 Chipset LPC/eSPI Controller [8086:a304] (rev 10)\n"
              "\t00:1f.3 Audio device [0403]: Intel Corporation Cannon Lake PCH cAVS [8086:a348] (rev 10)\n"
              "\t00:1f.4 SMBus [0c05]: Intel Corporation Cannon Lake PCH SMBus Controller [8086:a323] (rev 10)\n")
    lst, k = read(("IOMMU Group 9:\n" + member) * 3)
    assert groups(k) == {9: ["0000:00:1f.0", "0000:00:1f.3", "0000:00:1f.4"]}
    assert any(text.startswith("6 lines repeated a member of the same group") for _n, text in lst.notes)
    assert lst.skipped == []


def test_flat_lines_in_lexicographic_order():
    text = "".join(f"IOMMU Group {g} 00:{s:02x}.0 PCI bridge [0604]: Intel Corporation Device [8086:a3{s:02x}]\n"
                   for g, s in ((1, 1), (10, 0x1b), (11, 0x1c), (2, 2), (20, 0x1d), (3, 0x14)))
    _lst, k = read(text)
    assert groups(k) == {1: ["0000:00:01.0"], 2: ["0000:00:02.0"], 3: ["0000:00:14.0"], 10: ["0000:00:1b.0"],
                         11: ["0000:00:1c.0"], 20: ["0000:00:1d.0"]}


def test_platform_names_with_spaces_quoted_by_ls_and_several_domains():
    text = ("$ ls -l /sys/kernel/iommu_groups/*/devices\n"
            "/sys/kernel/iommu_groups/0/devices:\ntotal 0\n"
            "lrwxrwxrwx 1 root root 0 Jan  9 12:01 0000:00:00.0 -> ../../../../devices/pci0000:00/0000:00:00.0\n\n"
            "/sys/kernel/iommu_groups/1/devices:\ntotal 0\n"
            "lrwxrwxrwx 1 root root 0 Jan  9 12:01 0001:00:00.0 -> ../../../../devices/pci0001:00/0001:00:00.0\n"
            "lrwxrwxrwx 1 root root 0 Jan  9 12:01 0001:01:00.0 -> "
            "../../../../devices/pci0001:00/0001:00:00.0/0001:01:00.0\n\n"
            "/sys/kernel/iommu_groups/2/devices:\ntotal 0\n"
            "lrwxrwxrwx 1 root root 0 Jan  9 12:01 'fd500000.pcie dma' -> "
            "'../../../../devices/platform/scb/fd500000.pcie dma'\n"
            "$ ls /sys/kernel/iommu_groups/3/devices\n/sys/kernel/iommu_groups/3/devices:\n"
            "'fe340000.mmc host'  fe300000.ethernet\n")
    lst, k = read(text)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0001:00:00.0", "0001:01:00.0"], 2: ["fd500000.pcie dma"],
                         3: ["fe340000.mmc host", "fe300000.ethernet"]}
    assert k.devices["fd500000.pcie dma"].bus.name == "platform"
    assert k.devices["0001:01:00.0"].parent == "0001:00:00.0"
    assert {n for n, _t, _r in lst.skipped} == {1, 14}


def test_ls_columns_and_lines_wrapped_onto_the_next_line():
    text = ("/sys/kernel/iommu_groups/4/devices:\n0000:00:1c.0  0000:00:1c.4  0000:02:00.0\n0000:02:00.1\n"
            "$ ls -d /sys/kernel/iommu_groups/*/devices/*\n"
            "/sys/kernel/iommu_groups/0/devices/0000:00:00.0  /sys/kernel/iommu_groups/1/devices/0000:00:01.0\n"
            "/sys/kernel/iommu_groups/5/devices/0000:0\n3:00.0\n"                        # find's name wrapped
            "/sys/kernel/iommu_groups/6/devices:\n"
            "lrwxrwxrwx 1 root root 0 Mar  3 10:15 0000:04:00.0 -> ../../../../devices/pci0000:00/0000:00:1d.0/00\n"
            "00:04:00.0\n"                                                                  # ls -l target wrapped
            "lrwxrwxrwx 1 root root 0 Mar  3 10:15 0000:00:1d.0 -> ../../../../devices/pci0000:00/0000:00:1d.0\n")
    lst, k = read(text)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:00:01.0"],
                         4: ["0000:00:1c.0", "0000:00:1c.4", "0000:02:00.0", "0000:02:00.1"],
                         5: ["0000:03:00.0"], 6: ["0000:00:1d.0", "0000:04:00.0"]}
    assert k.devices["0000:04:00.0"].parent == "0000:00:1d.0"                     # read from the joined target
    assert (7, "joined to line 6 (a wrapped line)") in lst.notes and (10, "joined to line 9 (an ls -l line wrapped)") in lst.notes
    assert skipped(lst) == {4: "a shell prompt and its command"}


def test_lines_cut_off_in_the_middle_of_an_id_or_an_address():
    text = ("IOMMU Group 1:\n"
            "\t01:00.0 VGA compatible controller [0300]: NVIDIA Corporation TU104 [GeForce RTX 2080] [10de:1e\n"
            "\t01:00.1 Audio device [0403]: NVIDIA Corporation TU104 HD Audio Controller [10de:10f8] (rev a1)\n"
            "IOMMU Group 2:\n\t02:0\n"
            "IOMMU Group 3 03:00.0 Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd NVMe SSD Contr\n")
    lst, k = read(text)
    assert groups(k) == {1: ["0000:01:00.0", "0000:01:00.1"], 3: ["0000:03:00.0"]}
    assert k.devices["0000:01:00.0"].class_code == 0x030000 and k.devices["0000:01:00.0"].id != "10de:1e00"
    assert (2, "cut off in the middle of an ID: read the address and class only") in lst.notes
    assert (6, "no [vendor:device] ID on this line (cut off?): imported without it") in lst.notes
    assert skipped(lst) == {5: "cut off in the middle of an address"}


def test_a_line_that_could_belong_to_two_groups_is_not_assigned():
    text = ("IOMMU Group 1:\n00:01.0 PCI bridge [0604]: Intel Corporation Device [8086:1901]\n\n"
            "00:14.0 USB controller [0c03]: Intel Corporation Device [8086:a36d]\n"
            "IOMMU Group 2:\n00:02.0 VGA compatible controller [0300]: Intel Corporation Device [8086:3e92]\n")
    lst, k = read(text)
    assert groups(k) == {1: ["0000:00:01.0"], 2: ["0000:00:02.0"]}
    assert "could be a member of group 1 or another command's output (not assigned)" in skipped(lst)[4]


def test_a_device_in_two_groups_of_one_listing_is_reported_not_assigned():
    text = ("/sys/kernel/iommu_groups/1/devices/0000:00:01.0\n/sys/kernel/iommu_groups/1/devices/0000:01:00.0\n"
            "/sys/kernel/iommu_groups/2/devices/0000:01:00.0\n")
    lst, k = read(text)
    assert groups(k) == {1: ["0000:00:01.0"]}
    assert skipped(lst) == {3: "0000:01:00.0 is listed in groups 1 and 2 (lines 2, 3): left out, not guessed"}


def test_unreadable_lines_inside_a_listing_are_skipped_and_the_rest_imported():
    text = "IOMMU Group 1:\n\t01:00.0 VGA [0300]: X [10de:1e87]\nhello world\nIOMMU Group 2:\n\t02:00.0 X [0108]: Y [144d:a808]\n"
    lst, k = read(text)
    assert groups(k) == {1: ["0000:01:00.0"], 2: ["0000:02:00.0"]}
    assert lst.skipped == [(3, "hello world", "not part of an IOMMU group listing")]


@pytest.mark.parametrize("text,line,problem", [
    ("user@host:~$ lspci -nn\n00:00.0 Host bridge [0600]: Intel Corporation Device [8086:3ec2]\n", 2,
     "a device outside any IOMMU group listing"),
    ("[    0.5] DMAR: IOMMU enabled\nthis is not a listing\n", 2, "not part of an IOMMU group listing"),
    ("```\n$ ls /sys/kernel/iommu_groups\n```\n", 2, "a shell prompt and its command"),
    ("\n\r\n  \n", 0, "no IOMMU groups found"),
])
def test_fails_with_file_line_and_reason_only_when_no_group_can_be_read(text, line, problem):
    with pytest.raises(ImportError_) as e:
        parse_text(text, "paste.txt")
    msg = str(e.value)
    assert problem in msg and (msg.startswith(f"paste.txt: line {line}: ") if line else msg.startswith("paste.txt: "))


def test_run_together_lines_and_dmesg_group_lines():
    text = ("$ ls -l /sys/kernel/iommu_groups/*/devices /sys/kernel/iommu_groups/0/devices: total 0 lrwxrwxrwx 1 root "
            "root 0 Feb 4 10:29 0000:00:00.0 -> ../../../../devices/pci0000:00/0000:00:00.0 /sys/kernel/iommu_groups/1"
            "/devices: total 0 lrwxrwxrwx 1 root root 0 Feb 4 10:29 0000:00:01.0 -> ../../../../devices/pci0000:00/"
            "0000:00:01.0 lrwxrwxrwx 1 root root 0 Feb 4 10:29 0000:01:00.0 -> ../../../../devices/pci0000:00/"
            "0000:00:01.0/0000:01:00.0\n"
            "[    0.518702] pci 0000:00:00.0: Adding to iommu group 0\n"
            "[    0.518802] pci 0000:01:00.0: Adding to iommu group 3\n"
            "[    5.899262] pci 0000:01:00.0: Adding to iommu group 1\n")
    lst, k = read(text)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:00:01.0", "0000:01:00.0"]}
    assert (1, "8 lines run together on this line: read one by one") in lst.notes
    assert any("adds it to group 3 (line 3) and later to group 1" in t for _n, t in lst.notes)
    assert any("2 listings of this host read (ls -l, dmesg) and merged; they agree" == t for _n, t in lst.notes)


def big_listing(groups_n=500):
    lines = []
    for g in range(groups_n):
        bus, dev = divmod(g, 32)
        lines.append(f"IOMMU Group {g}:")
        lines.append(f"\t{bus:02x}:{dev:02x}.0 Ethernet controller [0200]: Intel Corporation I350 Gigabit Network "
                     f"Connection [8086:1521] (rev 01)")
        lines.append("\t\tKernel driver in use: igb")
    return "\n".join(lines) + "\n"


def test_500_groups_in_under_a_second():
    text = big_listing()
    start = time.perf_counter()
    lst = parse_text(text, "big.txt")
    to_document(lst)
    assert time.perf_counter() - start < 1.0 and len({d["group"] for d in lst.devices.values()}) == 500


def test_other_commands_output_right_after_the_listing_is_not_a_member():
    text = (LOOP + "00:00.0 Host bridge [0600]: Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex "
            "[1022:1480]\n\tSubsystem: ASUSTeK Computer Inc. Device [1043:87c0]\n"
            "0a:00.0 Ethernet controller [0200]: Realtek Semiconductor Co., Ltd. RTL8125 2.5GbE Controller "
            "[10ec:8125] (rev 05)\n\tKernel driver in use: r8169\n\tKernel modules: r8169\n"
            "0b:00.0 Non-Volatile memory controller [0108]: Phison Electronics Corporation E12 NVMe Controller "
            "[1987:5012] (rev 01)\n\tKernel driver in use: nvme\n")
    lst, k = read(text)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:00:01.0"], 2: ["0000:0a:00.0"]}
    assert k.devices["0000:0a:00.0"].driver.name == "r8169"            # lspci -nnk's facts, not its membership
    assert skipped(lst) == {12: "a device outside any IOMMU group listing (another command's output?)"}


def test_unindented_listing_followed_by_lspci_without_a_prompt():
    text = ("IOMMU Group 0:\n00:00.0 Host bridge [0600]: Intel Corporation Device [8086:3ec2]\n"
            "IOMMU Group 1:\n01:00.0 VGA compatible controller [0300]: NVIDIA Corporation Device [10de:1c03]\n"
            "00:00.0 Host bridge [0600]: Intel Corporation Device [8086:3ec2]\n\tKernel driver in use: skl_uncore\n"
            "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation Device [10de:1c03]\n"
            "\tKernel driver in use: vfio-pci\n")
    lst, k = read(text)
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:01:00.0"]}
    assert k.devices["0000:01:00.0"].driver.name == "vfio-pci" and lst.skipped == []


def test_a_second_listing_that_disagrees_is_not_taken_for_other_output():
    text = ("$ ./loop.sh\nIOMMU Group 0:\n00:00.0 Host bridge [0600]: Intel Corporation Device [8086:3ec2]\n"
            "00:14.0 USB controller [0c03]: Intel Corporation Device [8086:a36d]\n"
            "$ ./loop.sh   # after a BIOS update\nIOMMU Group 0:\n00:00.0 Host bridge [0600]: Intel Corporation Device [8086:3ec2]\n"
            "IOMMU Group 5:\n00:14.0 USB controller [0c03]: Intel Corporation Device [8086:a36d]\n")
    lst, k = read(text)
    assert groups(k) == {0: ["0000:00:00.0"]}
    assert skipped(lst)[9] == "0000:00:14.0 is listed in groups 0 and 5 (lines 4, 9): left out, not guessed"


def test_vmd_domains_have_five_digits_and_are_kept():
    # Intel's VMD puts the drives behind it in domains from 0x10000 (drivers/pci/controller/vmd.c):
    # the kernel's "%04x" prints five digits, and they are devices like any other.
    text = ("IOMMU Group 1 0000:00:0e.0 RAID bus controller [0104]: Intel Corporation Volume Management "
            "Device NVMe RAID Controller [8086:467f]\n"
            "IOMMU Group 1 10000:e0:06.0 PCI bridge [0604]: Intel Corporation 12th Gen Core Processor PCI "
            "Express x4 Controller #0 [8086:464d] (rev 05)\n"
            "IOMMU Group 1 10000:e1:00.0 Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd "
            "NVMe SSD Controller PM9A1/PM9A3/980PRO [144d:a80a]\n")
    lst, k = read(text)
    assert groups(k) == {1: ["0000:00:0e.0", "10000:e0:06.0", "10000:e1:00.0"]} and not lst.skipped
    r = k.sh("lspci -n -s 10000:e1:00.0; echo vfio-pci > /sys/bus/pci/devices/10000:e1:00.0/driver_override; "
             "cat /sys/bus/pci/devices/10000:e1:00.0/driver_override")
    assert (r.status, r.stdout) == (0, "10000:e1:00.0 0108: 144d:a80a\nvfio-pci\n")
