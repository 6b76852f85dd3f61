"""The file view of ../shared/spec/api.md §3: sysfs and /dev as os would see them."""
import errno

import pytest

from conftest import bind, dev, drv, errno_of, make


@pytest.fixture
def k():
    return make("6.6", devices=[dev("0000:00:1c.0", kind="root-port", group=11),
                                dev("0000:03:00.0", id="8086:10d3", parent="0000:00:1c.0", group=11),
                                dev("0000:03:00.1", id="8086:1533", parent="0000:00:1c.0", group=45,
                                    driver="vfio-pci"),
                                dev("ethernet@ff0c0000", bus="platform", id="snps,dwmac", streamid=0x877, group=80)],
                drivers=[drv("igb", ids=["8086:1533"])])


def test_api_examples(k):
    assert k.readlink("/sys/bus/pci/devices/0000:03:00.1/driver").endswith("/drivers/vfio-pci")
    assert k.read("/sys/kernel/iommu_groups/45/type") == "DMA-FQ\n"
    assert k.listdir("/sys/kernel/iommu_groups/45/devices") == ["0000:03:00.1"]
    assert k.write("/sys/bus/pci/devices/0000:03:00.0/driver_override", "vfio-pci") is None


def test_links_are_relative_like_sysfs(k):
    assert k.readlink("/sys/bus/pci/devices/0000:03:00.1") == \
        "../../../devices/pci0000:00/0000:00:1c.0/0000:03:00.1"
    assert k.readlink("/sys/bus/pci/devices/0000:03:00.1/iommu_group") == "../../../../kernel/iommu_groups/45"
    assert k.readlink("/sys/kernel/iommu_groups/11/devices/0000:03:00.0") == \
        "../../../../devices/pci0000:00/0000:00:1c.0/0000:03:00.0"
    assert k.readlink("/sys/bus/pci/devices/0000:03:00.1/driver") == "../../../../bus/pci/drivers/vfio-pci"
    assert errno_of(k.readlink, "/sys/kernel/iommu_groups/45/type") == errno.EINVAL


def test_directories(k):
    assert k.listdir("/sys/kernel/iommu_groups") == ["11", "45", "80"]
    assert k.listdir("/sys/kernel/iommu_groups/11/devices") == ["0000:00:1c.0", "0000:03:00.0"]
    assert "0000:03:00.1" in k.listdir("/sys/bus/pci/drivers/vfio-pci")
    assert {"bind", "unbind", "new_id", "remove_id"} <= set(k.listdir("/sys/bus/pci/drivers/vfio-pci"))
    assert {"drivers_probe", "rescan", "devices", "drivers"} <= set(k.listdir("/sys/bus/pci"))
    assert "0000:03:00.0" in k.listdir("/sys/devices/pci0000:00/0000:00:1c.0")
    assert set(k.listdir("/sys/bus")) >= {"pci", "platform", "amba", "fsl-mc", "cdx", "usb"}
    assert k.listdir("/dev/vfio") == ["45", "devices", "vfio"]
    assert k.listdir("/dev/vfio/devices") == ["vfio0"]
    assert k.listdir("/sys/bus/pci/devices/0000:03:00.1/vfio-dev") == ["vfio0"]
    assert k.isdir("/sys/kernel/iommu_groups/45") and not k.isdir("/sys/kernel/iommu_groups/45/type")
    assert errno_of(k.listdir, "/sys/kernel/iommu_groups/45/type") == errno.ENOTDIR


def test_platform_devices_and_their_group(k):
    d = k.devices["ethernet@ff0c0000"]
    n = d.iommu_group.id
    assert k.readlink("/sys/bus/platform/devices/ethernet@ff0c0000") == "../../../devices/platform/ethernet@ff0c0000"
    assert k.listdir(f"/sys/kernel/iommu_groups/{n}/devices") == ["ethernet@ff0c0000"]


def test_pci_attributes(k):
    assert k.read("/sys/bus/pci/devices/0000:03:00.0/vendor") == "0x8086\n"
    assert k.read("/sys/bus/pci/devices/0000:03:00.0/device") == "0x10d3\n"
    assert k.read("/sys/bus/pci/devices/0000:00:1c.0/class") == "0x060400\n"
    assert k.read("/proc/cmdline") == "BOOT_IMAGE=/boot/vmlinuz-6.6.0 root=/dev/sda1 ro\n"   # boot loader's words


def test_permissions_and_errors(k):
    assert errno_of(k.read, "/sys/bus/pci/drivers/vfio-pci/bind") == errno.EACCES
    assert errno_of(k.read, "/sys/kernel/iommu_groups") == errno.EISDIR
    assert errno_of(k.read, "/sys/kernel/iommu_groups/99/type") == errno.ENOENT
    assert errno_of(k.read, "relative/path") == errno.ENOENT
    assert errno_of(k.write, "/sys/bus/pci/devices/0000:03:00.0/vendor", "1") == errno.EACCES
    assert k.read("/dev/null") == "" and k.write("/dev/null", "anything") is None
    assert not k.exists("/sys/bus/pci/devices/0000:09:00.0")
    assert k.exists("/sys/kernel/iommu_groups/45/devices/0000:03:00.1/driver")


def test_write_accepts_bytes_and_trailing_newline(k):
    k.write("/sys/bus/pci/devices/0000:03:00.0/driver_override", b"pci-stub\n")
    k.write("/sys/bus/pci/drivers/pci-stub/bind", "0000:03:00.0\n")
    assert k.devices["0000:03:00.0"].driver.name == "pci-stub"


def test_module_parameters(k):
    path = "/sys/module/iommufd/parameters/allow_unsafe_interrupts"
    assert k.read(path) == "N\n"
    k.write(path, "Y\n")
    assert k.read(path) == "Y\n"
    assert "vfio_pci" in k.listdir("/sys/module")


def test_dev_nodes_come_and_go_with_vfio_binding(k):
    assert not k.exists("/dev/vfio/11")
    bind(k, "0000:03:00.0", "vfio-pci")
    assert k.exists("/dev/vfio/11") and k.listdir("/dev/vfio/devices") == ["vfio0", "vfio1"]
    k.write("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:03:00.0")
    assert not k.exists("/dev/vfio/11") and k.listdir("/dev/vfio/devices") == ["vfio0"]


def test_symlink_traversal_into_devices(k):
    assert k.read("/sys/kernel/iommu_groups/45/devices/0000:03:00.1/driver_override") == "(null)\n"
    assert k.listdir("/sys/bus/pci/drivers/vfio-pci/0000:03:00.1/iommu_group/devices") == ["0000:03:00.1"]
