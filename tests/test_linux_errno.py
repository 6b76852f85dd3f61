"""The model's errno numbers and words are Linux's (asm-generic numbers, glibc's strerror), not
the host's: the kernel package boots, refuses and words the refusal the same with the host's
errno module replaced by one that numbers everything differently and has no EBADFD (as macOS)."""
import errno
import os
import subprocess
import sys
import textwrap

import pytest

from iommulab.kernel import errno as lerrno

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# glibc 2.36's errlist for the values the model returns (and asm-generic's numbers).
GLIBC = {
    "EPERM": (1, "Operation not permitted"), "ENOENT": (2, "No such file or directory"),
    "ESRCH": (3, "No such process"), "EIO": (5, "Input/output error"),
    "ENXIO": (6, "No such device or address"), "EBADF": (9, "Bad file descriptor"),
    "EAGAIN": (11, "Resource temporarily unavailable"), "ENOMEM": (12, "Cannot allocate memory"),
    "EACCES": (13, "Permission denied"), "EBUSY": (16, "Device or resource busy"),
    "EEXIST": (17, "File exists"), "ENODEV": (19, "No such device"),
    "ENOTDIR": (20, "Not a directory"), "EISDIR": (21, "Is a directory"),
    "EINVAL": (22, "Invalid argument"), "ENOTTY": (25, "Inappropriate ioctl for device"),
    "ENOSPC": (28, "No space left on device"), "ERANGE": (34, "Numerical result out of range"),
    "ENOSYS": (38, "Function not implemented"), "EBADFD": (77, "File descriptor in bad state"),
}


@pytest.mark.parametrize("name", sorted(GLIBC))
def test_numbers_names_and_words_are_linux_and_glibc(name):
    number, text = GLIBC[name]
    assert getattr(lerrno, name) == number
    assert lerrno.errname(-number) == name
    assert lerrno.strerror(number) == text
    e = lerrno.oserror(-number, "/sys/x")
    assert (e.errno, e.strerror, e.filename) == (number, text, "/sys/x")


def test_kernel_internal_values_have_no_glibc_text():
    assert (lerrno.EPROBE_DEFER, lerrno.ENOTSUPP) == (517, 524)
    assert lerrno.errname(-517) == "EPROBE_DEFER"
    assert lerrno.strerror(517) == "Unknown error 517"
    assert lerrno.strerror(4095) == "Unknown error 4095"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with a Linux host's libc")
def test_table_agrees_with_a_linux_hosts_libc():
    for number, (name, text) in lerrno._TABLE.items():
        if text is not None:
            assert os.strerror(number) == text, name
            assert getattr(errno, name) == number, name


HOSTILE_HOST = textwrap.dedent("""
    import os, sys, types
    import errno as real
    fake = types.ModuleType("errno")
    for k, v in vars(real).items():
        if k.startswith("E") and isinstance(v, int):
            setattr(fake, k, v + 1000)
    del fake.EBADFD
    fake.errorcode = {v: k for k, v in vars(fake).items() if k.startswith("E")}
    sys.modules["errno"] = fake
    def host_strerror(n):
        raise AssertionError("the model read the host's strerror")
    os.strerror = host_strerror

    import iommulab.kernel
    from iommulab.kernel import errno as lerrno
    from iommulab.scenario_file import to_toml
    assert (lerrno.EBUSY, lerrno.EBADFD) == (16, 77)
    doc = {"title": "t", "kernel": {"version": "5.19"}, "driver": [{"name": "e1000e", "bus": "pci"}],
           "device": [{"name": "0000:00:1f.6", "id": "8086:15b8", "group": 20, "driver": "e1000e"}]}
    k = iommulab.kernel.Kernel.from_toml(to_toml(doc), "t.toml")
    try:
        k.write("/sys/kernel/iommu_groups/20/type", "identity")
    except OSError as e:
        print(e.errno, e.strerror)
    r = k.sh("echo identity > /sys/kernel/iommu_groups/20/type; cat /nonexistent")
    print(r.stderr, end="")
    print(lerrno.strerror(lerrno.EBADFD))
""")


def test_the_kernel_boots_and_refuses_in_linux_terms_on_a_host_that_numbers_differently():
    out = subprocess.run([sys.executable, "-c", HOSTILE_HOST], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "16 Device or resource busy",
        "bash: echo: write error: Device or resource busy",
        "cat: /nonexistent: No such file or directory",
        "File descriptor in bad state",
    ]
