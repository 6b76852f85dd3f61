"""The shell line a learner would type for each action. The lab's buttons and the explorer's
replay scripts both write these, so what a learner sees is always what a real host would take."""


def bind(bus, dev, driver):
    return f"echo {dev} > /sys/bus/{bus}/drivers/{driver}/bind"


def unbind(bus, dev, driver):
    return f"echo {dev} > /sys/bus/{bus}/drivers/{driver}/unbind"


def set_driver_override(bus, dev, driver):
    return f"echo {driver} > /sys/bus/{bus}/devices/{dev}/driver_override"


def clear_driver_override(bus, dev):
    return f"echo > /sys/bus/{bus}/devices/{dev}/driver_override"


def drivers_probe(bus, dev):
    return f"echo {dev} > /sys/bus/{bus}/drivers_probe"


def group_type(group, value):
    return f"echo {value} > /sys/kernel/iommu_groups/{group}/type"


def pci_rescan():
    return "echo 1 > /sys/bus/pci/rescan"


def pci_remove(dev):
    return f"echo 1 > /sys/bus/pci/devices/{dev}/remove"


def sriov_numvfs(dev, n):
    return f"echo {n} > /sys/bus/pci/devices/{dev}/sriov_numvfs"


QEMU = {"x86_64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"}    # by the host's `uname -m`


def qemu(devs, path="legacy", memory=None, arch="x86_64"):
    """A VM given `devs` through legacy VFIO (group/container) or iommufd (cdev), in the background,
    with the QEMU of the host's architecture."""
    argv = [QEMU.get(arch, "qemu-system-x86_64")]
    if memory:
        argv += ["-m", memory]
    if path == "iommufd":
        argv += ["-object", "iommufd,id=iommufd0"]
        argv += [f"-device vfio-pci,host={d},iommufd=iommufd0" for d in devs]
    else:
        argv += [f"-device vfio-pci,host={d}" for d in devs]
    return " ".join(argv) + " &"
