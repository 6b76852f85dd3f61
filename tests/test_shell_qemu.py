"""qemu-system-x86_64 in the shell: QEMU's order, its messages, jobs and kill; the seed-001 story."""
import pytest

from iommulab import Kernel
from iommulab.kernel.scenario import SCENARIO_DIR
from conftest import dev, drv, make, st

Q = "qemu-system-x86_64"
HINT_VIABLE = "Please ensure all devices within the iommu_group are bound to their vfio bus driver."


def seed001(version):
    text = (SCENARIO_DIR / "seed-001.toml").read_text().replace('version = "6.4"', f'version = "{version}"')
    return Kernel.from_toml(text, "seed-001.toml")


STORY = """
echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind
echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override
echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind
ls /dev/vfio
qemu-system-x86_64 -machine q35 -m 2G -nographic -device vfio-pci,host=0000:03:00.1,id=hostdev0 &
"""


def test_seed_001_story_on_the_leaky_kernel():
    k = seed001("6.4")
    r = k.sh(STORY)
    # `qemu ... &` is a background job: bash prints [1] PID and `$?` is 0; QEMU's words follow,
    # and bash reports the job's exit 1 before the prompt after the next command
    pid = r.stderr.split("\n")[0][len("[1] "):]
    assert r.status == 0 and pid.isdigit()
    assert r.stdout == "45\nvfio\n"
    assert r.stderr == (f"[1] {pid}\n{Q}: -device vfio-pci,host=0000:03:00.1,id=hostdev0: vfio 0000:03:00.1: "
                        f"group 45 is not viable\n{HINT_VIABLE}\n")
    assert st(k, 45) == (1, "NULL", "DEFAULT(DMA)")            # the leaked count; arm64: strict DMA
    assert k.processes == {}                                  # QEMU exited, nothing held
    r = k.sh("true")
    assert r.stderr == ("[1]+  Exit 1                  qemu-system-x86_64 -machine q35 -m 2G -nographic "
                        "-device vfio-pci,host=0000:03:00.1,id=hostdev0\n")
    assert k.sh("jobs").stdout == "" and k.sh("true").stderr == ""     # reported once


def test_seed_001_story_on_the_fixed_kernel_then_kill_releases():
    k = seed001("6.6")
    r = k.sh(STORY)
    assert r.status == 0 and r.stderr == f"[1] {k.sh('echo $!').stdout.strip()}\n"
    assert st(k, 45)[:2] == (1, "vfio_group:45") and st(k, 45)[2].startswith("USER:")
    assert "Running" in k.sh("jobs").stdout
    assert k.sh("kill %1").status == 0
    assert st(k, 45) == (0, "NULL", "DEFAULT(DMA)")
    assert k.sh("jobs").stdout.startswith("[1]+  Terminated")
    assert k.sh("jobs").stdout == ""


def test_kill_by_pid():
    k = seed001("6.6")
    k.sh(STORY)
    pid = k.sh("echo $!").stdout.strip()
    assert k.sh(f"kill -9 {pid}").status == 0
    assert st(k, 45)[0] == 0
    r = k.sh(f"kill {pid}")                 # bash reports the SIGKILLed job after this command
    assert (r.status, r.stderr) == (1, f"bash: kill: ({pid}) - No such process\n[1]+  Killed"
                                       "                  qemu-system-x86_64 -machine q35 -m 2G -nographic "
                                       "-device vfio-pci,host=0000:03:00.1,id=hostdev0\n")


def gpu(version="6.6", **kw):
    return make(version, devices=[dev("0000:01:00.0", id="10de:2204", group=1),
                                  dev("0000:01:00.1", id="10de:1aef", group=1, driver="snd_hda_intel"),
                                  dev("0000:02:00.0", id="8086:1533", group=2, driver="vfio-pci")],
                drivers=[drv("snd_hda_intel", ids=["10de:1aef"])], **kw)


def qemu_err(k, args):
    before = set(k.processes)
    r = k.sh(f"{Q} {args}")
    assert r.status == 1, r
    assert set(k.processes) == before                 # the failed QEMU exited, holding nothing
    return r.stderr


def test_no_such_host_device():
    """vfio_device_get_name(): stat() of the sysfs path fails; the path, not "vfio BDF:", leads."""
    k = gpu()
    assert qemu_err(k, "-device vfio-pci,host=0000:09:00.0") == (
        f"{Q}: -device vfio-pci,host=0000:09:00.0: vfio /sys/bus/pci/devices/0000:09:00.0: "
        "no such host device: No such file or directory\n")


def test_no_iommu_group():
    k = make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", iommu=False)])
    assert qemu_err(k, "-device vfio-pci,host=01:00.0") == \
        f"{Q}: -device vfio-pci,host=01:00.0: vfio 0000:01:00.0: no iommu_group found: No such file or directory\n"


def test_group_file_missing_when_nothing_is_bound_to_vfio():
    k = gpu()
    assert qemu_err(k, "-device vfio-pci,host=01:00.0") == \
        f"{Q}: -device vfio-pci,host=01:00.0: vfio 0000:01:00.0: Could not open '/dev/vfio/1': No such file or directory\n"


def test_error_getting_device_from_group():
    k = gpu()
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.1/driver_override; "
         "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind; "
         "echo 0000:01:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
    assert qemu_err(k, "-device vfio-pci,host=01:00.0") == (
        f"{Q}: -device vfio-pci,host=01:00.0: vfio 0000:01:00.0: error getting device from group 1: No such device\n"
        "Verify all devices in group 1 are bound to vfio-<bus> or pci-stub and not already in use\n")
    assert st(k, 1) == (0, "NULL", "DEFAULT(DMA-FQ)")


def test_second_qemu_finds_the_group_busy():
    k = gpu()
    assert k.sh(f"{Q} -device vfio-pci,host=0000:02:00.0").status == 0
    assert qemu_err(k, "-device vfio-pci,host=0000:02:00.0").endswith(
        "vfio 0000:02:00.0: Could not open '/dev/vfio/2': Device or resource busy\n")


def test_device_attached_twice():
    k = gpu()
    assert qemu_err(k, "-device vfio-pci,host=02:00.0 -device vfio-pci,host=02:00.0").endswith(
        "vfio 0000:02:00.0: device is already attached\n")


def test_iommufd_path_and_its_bind_error():
    k = gpu()
    r = k.sh(f"{Q} -object iommufd,id=iommufd0 -device vfio-pci,host=0000:02:00.0,iommufd=iommufd0")
    assert r.status == 0
    assert st(k, 2)[:2] == (1, "ictx:I1") and st(k, 2)[2].startswith("USER:hwpt")
    k.sh("kill %1")
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override; "
         "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind")
    err = qemu_err(k, "-object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0")
    assert err == (f"{Q}: -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0: vfio 0000:01:00.0: "
                   "error bind device fd=3 to iommufd=4: Operation not permitted\n")
    assert st(k, 1) == (1, "NULL", "DEFAULT(DMA-FQ)")


def test_iommufd_path_without_a_vfio_driver():
    k = gpu()
    d = "/sys/bus/pci/devices/0000:01:00.0/vfio-dev"
    assert qemu_err(k, "-object iommufd,id=i0 -device vfio-pci,host=01:00.0,iommufd=i0") == (
        f"{Q}: -device vfio-pci,host=01:00.0,iommufd=i0: vfio 0000:01:00.0: vfio {d}: "
        f"couldn't open directory {d}: No such file or directory\n")


def test_iommufd_needs_a_kernel_that_has_it():
    k = gpu("6.0")                        # no vfio-dev before 6.1
    assert "vfio-dev: couldn't open directory" in qemu_err(k, "-object iommufd,id=i0 -device vfio-pci,host=02:00.0,iommufd=i0")
    k = gpu("6.1")                        # vfio-dev/vfio0 from 6.1, but no cdev (no `dev`) before 6.6
    d = "/sys/bus/pci/devices/0000:02:00.0/vfio-dev"
    assert f'failed to load "{d}/vfio0/dev"' in qemu_err(
        k, "-object iommufd,id=i0 -device vfio-pci,host=02:00.0,iommufd=i0")


@pytest.mark.parametrize("args,message", [
    ("-device vfio-pci", f"{Q}: -device vfio-pci: No provided host device\n"
     "Use -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,fd=DEVICE_FD "
     "or -device vfio-pci,sysfsdev=PATH_TO_DEVICE\n"),
    ("-device vfio-pci,host=zz", f"{Q}: -device vfio-pci,host=zz: Property 'vfio-pci.host' doesn't take value 'zz'\n"),
    ("-device vfio-pci,host=02:00.0,iommufd=nope",
     f"{Q}: -device vfio-pci,host=02:00.0,iommufd=nope: Property 'vfio-pci.iommufd' can't find value 'nope'\n"),
    ("-object iommufd", f"{Q}: -object iommufd: Parameter 'id' is missing\n"),
    ("-device", f"{Q}: -device: requires an argument\n"),
])
def test_command_line_errors(args, message):
    assert qemu_err(gpu(), args) == message


def test_unrelated_options_are_ignored_and_several_devices_share_a_container():
    k = make("6.6", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci"),
                             dev("0000:06:00.0", group=6, driver="vfio-pci")])
    r = k.sh(f"{Q} -enable-kvm -m 8G -smp 4 -cpu host -nographic -drive file=disk.img,if=virtio "
             "-device virtio-net-pci -device vfio-pci,host=05:00.0,x-vga=on -device vfio-pci,host=06:00.0 &")
    assert r.status == 0
    assert k.iommu_groups[5].domain is k.iommu_groups[6].domain        # one type1 container
    p = next(iter(k.processes.values()))
    assert sorted(f.path for f in p.fds.values()) == ["/dev/vfio/5", "/dev/vfio/6", "/dev/vfio/vfio",
                                                      "anon_inode:[vfio-device]", "anon_inode:[vfio-device]"]


def test_unbind_under_a_running_vm_becomes_a_job_until_kill():
    k = make("6.6", devices=[dev("0000:05:00.0", group=5, driver="vfio-pci")])
    k.sh(f"{Q} -device vfio-pci,host=05:00.0 &")
    r = k.sh("echo 0000:05:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind")
    assert r.status == 0 and "[2]" in r.stderr and "blocks this write" in r.stderr
    assert "vfio-pci 0000:05:00.0: Relaying device request to user (#0)" in k.dmesg()
    assert k.devices["0000:05:00.0"].driver.name == "vfio-pci"
    jobs = k.sh("jobs").stdout
    assert "[2]+  Running" in jobs and "unbind" in jobs
    k.sh("kill %2")                                       # the writer sleeps in the kernel: no effect
    assert any("blocked until device is released" in line for line in k.dmesg())
    k.sh("kill %1")
    assert k.devices["0000:05:00.0"].driver is None
    out = k.sh("jobs").stdout
    assert "[1]" in out and "Terminated" in out and "[2]" in out and "Done" in out
