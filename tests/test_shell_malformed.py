"""What a learner may mistype: each gets a clear error like bash's, never a traceback, and leaves
the machine exactly as it was."""
import pytest

from iommulab import Kernel

MALFORMED = [
    ("unterminated double quote", 'echo "vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override', 2, "syntax error"),
    ("unterminated single quote", "echo 'abc", 2, "syntax error"),
    ("stray closing paren", "echo hi)", 2, "syntax error"),
    ("unfinished for", "for g in /sys/kernel/iommu_groups/*; do echo $g", 2, "syntax error"),
    ("unknown command", "lsgroups", 127, "bash: lsgroups: command not found"),
    ("typo in echo", "ehco vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override", 127, "ehco: command not found"),
    ("redirect to a missing device", "echo vfio-pci > /sys/bus/pci/devices/0000:09:00.0/driver_override", 1,
     "bash: /sys/bus/pci/devices/0000:09:00.0/driver_override: No such file or directory"),
    ("redirect to a read-only file", "echo 0x1234 > /sys/bus/pci/devices/0000:01:00.0/vendor", 1,
     "bash: /sys/bus/pci/devices/0000:01:00.0/vendor: Permission denied"),
    ("redirect to a directory", "echo x > /sys/kernel/iommu_groups/1", 1, "bash: /sys/kernel/iommu_groups/1: Is a directory"),
    ("redirect outside sysfs", "echo x > /etc/modprobe.d/vfio.conf", 1, "No such file or directory"),
    ("bind junk", "echo not-a-device > /sys/bus/pci/drivers/vfio-pci/bind", 1, "bash: echo: write error: No such device"),
    ("new_id junk", "echo hello > /sys/bus/pci/drivers/vfio-pci/new_id", 1, "bash: echo: write error: Invalid argument"),
    ("type junk", "echo passthrough > /sys/kernel/iommu_groups/3/type", 1, "bash: echo: write error: Invalid argument"),
    ("type on a bound group", "echo identity > /sys/kernel/iommu_groups/1/type", 1,
     "bash: echo: write error: Operation not permitted"),
    ("rescan junk", "echo yes > /sys/bus/pci/rescan", 1, "bash: echo: write error: Invalid argument"),
    ("remove junk", "echo now > /sys/bus/pci/devices/0000:00:1f.6/remove", 1, "bash: echo: write error: Invalid argument"),
    ("unbind from the wrong driver", "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind", 1,
     "bash: echo: write error: No such device"),
    ("cat a missing file", "cat /sys/kernel/iommu_groups/99/type", 1, "cat: /sys/kernel/iommu_groups/99/type: No such file or directory"),
    ("cat a write-only file", "cat /sys/bus/pci/drivers/vfio-pci/bind", 1, "Permission denied"),
    ("cat a directory", "cat /sys/kernel/iommu_groups", 1, "cat: /sys/kernel/iommu_groups: Is a directory"),
    ("ls a missing path", "ls /sys/kernel/iommu_group", 2, "ls: cannot access '/sys/kernel/iommu_group': No such file or directory"),
    ("ls unknown option", "ls -j /sys", 2, "ls: invalid option"),
    ("lspci unknown option", "lspci -q", 2, "lspci: invalid option -- 'q'"),
    ("lspci bad selector", "lspci -s zz:yy", 2, "lspci: -s: Invalid slot number"),
    ("grep unknown option", "dmesg | grep -j vfio", 2, "grep: invalid option"),
    ("grep bad regex", "dmesg | grep -E '('", 2, "grep:"),
    ("find unknown predicate", "find /sys/kernel/iommu_groups -foo", 1, "find: unknown predicate `-foo'"),
    ("find bad type", "find /sys/kernel/iommu_groups -type q", 1, "find: Unknown argument to -type: q"),
    ("head bad count", "dmesg | head -n many", 1, "head: invalid number of lines: 'many'"),
    ("kill a missing job", "kill %7", 1, "bash: kill: %7: no such job"),
    ("kill junk", "kill banana", 1, "bash: kill: banana: arguments must be process or job IDs"),
    ("kill without arguments", "kill", 2, "kill: usage:"),
    ("sleep junk", "sleep forever", 1, "sleep: invalid time interval 'forever'"),
    ("modprobe unknown", "modprobe vfio-pcii", 1, "modprobe: FATAL: Module vfio-pcii not found"),
    ("rmmod unknown", "rmmod nouveau2", 1, "rmmod: ERROR: Module nouveau2 is not currently loaded"),
    ("bad substitution", "echo ${g##", 2, "syntax error"),
    ("bad parameter", "echo ${1abc}", 1, "bad substitution"),
    ("cd to a file", "cd /sys/kernel/iommu_groups/1/type", 1, "bash: cd: /sys/kernel/iommu_groups/1/type: Not a directory"),
    ("test without ]", "[ -e /dev/vfio/1", 2, "bash: [: missing `]'"),
    ("qemu bad host", "qemu-system-x86_64 -device vfio-pci,host=banana", 1, "doesn't take value 'banana'"),
    ("qemu missing argument", "qemu-system-x86_64 -m 4G -device", 1, "-device: requires an argument"),
    ("readlink of a file", "readlink /sys/kernel/iommu_groups/1/type", 1, None),   # GNU readlink: silent, status 1
]


@pytest.mark.parametrize("what,script,status,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input(what, script, status, message):
    k = Kernel.from_scenario("desktop-gpu")
    before = k.state()
    r = k.sh(script)
    assert r.status == status, r
    assert (r.stderr == "") if message is None else (message in r.stderr), r
    assert r.stdout == "", r            # each fails before it prints anything
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert k.state() == before


@pytest.mark.parametrize("what,script,status,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_the_shell_goes_on_after_a_mistake(what, script, status, message):
    """As in bash, the next line runs normally and `$?` is the failed line's status."""
    k = Kernel.from_scenario("desktop-gpu")
    k.sh(script)
    assert tuple(k.sh("echo $?")) == (0, f"{status}\n", "")
    assert tuple(k.sh("cat /sys/kernel/iommu_groups/1/type")) == (0, "DMA-FQ\n", "")


@pytest.mark.parametrize("src", ["#", "# a b", "  # x y", "# ab\n", "\n# one\n\n# two words\n"])
def test_a_script_of_comments_only_does_nothing(src):
    k = Kernel.from_scenario("desktop-gpu")
    k.sh("false")
    assert tuple(k.sh(src)) == (1, "", "")          # nothing ran: $? is still false's
    assert tuple(k.sh("true\n" + src)) == (0, "", "")
