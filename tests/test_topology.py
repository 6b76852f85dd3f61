"""How Linux forms groups (../shared/spec/kernel-ownership.md §8), hotplug and SR-IOV."""
import errno

import pytest

from conftest import bind, dev, drv, errno_of, make, st


def groups(k):
    """{group number: [member names]} in kernel order."""
    return {n: [d.name for d in g.devices] for n, g in sorted(k.iommu_groups.items())}


def members(k, name):
    return [d.name for d in k.devices[name].iommu_group.devices]


def rp(name, **kw):
    return dev(name, kind="root-port", **kw)


def test_acs_root_ports_isolate_and_numbers_follow_enumeration():
    k = make(devices=[dev("0000:00:00.0", **{"class": 0x060000}),
                      rp("0000:00:1c.0"), dev("0000:02:00.0", parent="0000:00:1c.0"),
                      rp("0000:00:01.0"), dev("0000:01:00.0", parent="0000:00:01.0"),
                      dev("0000:00:1f.0")])
    # bus 00 in address order first, then each bridge's bus in turn
    assert groups(k) == {0: ["0000:00:00.0"], 1: ["0000:00:01.0"], 2: ["0000:00:1c.0"], 3: ["0000:00:1f.0"],
                         4: ["0000:01:00.0"], 5: ["0000:02:00.0"]}


def test_root_port_without_acs_takes_its_whole_subtree():
    k = make(devices=[rp("0000:00:01.0", acs=False), dev("0000:01:00.0", parent="0000:00:01.0"),
                      dev("0000:01:00.1", parent="0000:00:01.0", acs=True, multifunction=True)])
    assert groups(k) == {0: ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]}


def test_multifunction_root_ports_without_acs_merge_their_subtrees():
    k = make(devices=[rp("0000:00:1c.0", acs=False, multifunction=True), rp("0000:00:1c.4", acs=False),
                      dev("0000:02:00.0", parent="0000:00:1c.0"), dev("0000:03:00.0", parent="0000:00:1c.4"),
                      rp("0000:00:1d.0", acs=False), dev("0000:04:00.0", parent="0000:00:1d.0")])
    assert groups(k) == {0: ["0000:00:1c.0", "0000:00:1c.4", "0000:02:00.0", "0000:03:00.0"],
                         1: ["0000:00:1d.0", "0000:04:00.0"]}


def test_multifunction_device_without_acs_shares_a_group():
    k = make(devices=[rp("0000:00:01.0"), dev("0000:01:00.0", parent="0000:00:01.0", multifunction=True, acs=False),
                      dev("0000:01:00.1", parent="0000:00:01.0", acs=False)])
    assert members(k, "0000:01:00.1") == ["0000:01:00.0", "0000:01:00.1"]
    k2 = make(devices=[rp("0000:00:01.0"), dev("0000:01:00.0", parent="0000:00:01.0", multifunction=True),
                       dev("0000:01:00.1", parent="0000:00:01.0")])
    assert members(k2, "0000:01:00.1") == ["0000:01:00.1"]          # functions with ACS are isolated


def test_pcie_to_pci_bridge_aliases_everything_behind_it():
    k = make(devices=[rp("0000:00:1c.0"), dev("0000:01:00.0", kind="pcie-to-pci-bridge", parent="0000:00:1c.0"),
                      dev("0000:02:00.0", kind="conventional", parent="0000:01:00.0"),
                      dev("0000:02:01.0", kind="conventional", parent="0000:01:00.0"),
                      dev("0000:02:02.0", kind="pci-bridge", parent="0000:01:00.0"),
                      dev("0000:03:00.0", kind="conventional", parent="0000:02:02.0")])
    assert members(k, "0000:02:01.0") == ["0000:01:00.0", "0000:02:00.0", "0000:02:01.0", "0000:02:02.0", "0000:03:00.0"]
    assert members(k, "0000:00:1c.0") == ["0000:00:1c.0"]


def test_switch_downstream_ports_with_and_without_acs():
    k = make(devices=[rp("0000:00:01.0"), dev("0000:01:00.0", kind="upstream-port", parent="0000:00:01.0"),
                      dev("0000:02:00.0", kind="downstream-port", parent="0000:01:00.0"),
                      dev("0000:02:01.0", kind="downstream-port", parent="0000:01:00.0", acs=False),
                      dev("0000:03:00.0", parent="0000:02:00.0"), dev("0000:04:00.0", parent="0000:02:01.0")])
    assert members(k, "0000:03:00.0") == ["0000:03:00.0"]
    assert members(k, "0000:04:00.0") == ["0000:02:01.0", "0000:04:00.0"]
    assert members(k, "0000:01:00.0") == ["0000:01:00.0"]


def test_switch_below_a_root_port_without_acs_is_one_group():
    k = make(devices=[rp("0000:00:01.0", acs=False), dev("0000:01:00.0", kind="upstream-port", parent="0000:00:01.0"),
                      dev("0000:02:00.0", kind="downstream-port", parent="0000:01:00.0"),
                      dev("0000:03:00.0", parent="0000:02:00.0")])
    assert len(k.iommu_groups) == 1


def test_quirk_dma_alias_joins_the_aliased_function():
    k = make(devices=[dev("0000:05:00.0"), dev("0000:05:00.1", dma_alias=["0000:05:00.0"])])
    assert members(k, "0000:05:00.1") == ["0000:05:00.0", "0000:05:00.1"]


def test_platform_fslmc_and_cdx_rules():
    k = make(devices=[dev("ethernet@ff0c0000", bus="platform", streamid=0x877),
                      dev("dma@ff0d0000", bus="platform", streamid=0x877),
                      dev("uart@ff000000", bus="platform", streamid=0x10),
                      dev("dprc.1", bus="fsl-mc"), dev("dpni.0", bus="fsl-mc", parent="dprc.1"),
                      dev("dpmac.1", bus="fsl-mc", parent="dprc.1"),
                      dev("cdx-00:00", bus="cdx"), dev("cdx-00:01", bus="cdx")])
    assert groups(k) == {0: ["ethernet@ff0c0000", "dma@ff0d0000"], 1: ["uart@ff000000"],
                         2: ["dprc.1", "dpni.0", "dpmac.1"], 3: ["cdx-00:00"], 4: ["cdx-00:01"]}


def test_explicit_groups_win_and_mixing_is_refused():
    from iommulab import ScenarioError
    k = make(devices=[rp("0000:00:01.0", acs=False, group=7), dev("0000:01:00.0", parent="0000:00:01.0", group=9)])
    assert groups(k) == {7: ["0000:00:01.0"], 9: ["0000:01:00.0"]}
    with pytest.raises(ScenarioError, match=r"#2 \(0000:01:00.0\): has no group while other devices name theirs"):
        make(devices=[rp("0000:00:01.0", group=7), dev("0000:01:00.0", parent="0000:00:01.0")])


def test_hotplug_joins_by_the_same_rules_and_numbers_reuse_the_lowest_free():
    k = make(devices=[rp("0000:00:01.0", acs=False), rp("0000:00:02.0"),
                      dev("0000:01:00.0", parent="0000:00:01.0", present=False),
                      dev("0000:02:00.0", parent="0000:00:02.0", present=False)])
    assert groups(k) == {0: ["0000:00:01.0"], 1: ["0000:00:02.0"]}
    k.write("/sys/bus/pci/rescan", "1")
    assert groups(k) == {0: ["0000:00:01.0", "0000:01:00.0"], 1: ["0000:00:02.0"], 2: ["0000:02:00.0"]}
    k.write("/sys/bus/pci/devices/0000:02:00.0/remove", "1")
    k.write("/sys/bus/pci/devices/0000:00:02.0/remove", "1")
    assert sorted(k.iommu_groups) == [0]
    k.write("/sys/bus/pci/rescan", "1")
    assert groups(k) == {0: ["0000:00:01.0", "0000:01:00.0"], 1: ["0000:00:02.0"], 2: ["0000:02:00.0"]}


def test_hotplug_into_a_user_owned_group():
    k = make(devices=[rp("0000:00:01.0", acs=False), dev("0000:01:00.0", parent="0000:00:01.0", driver="vfio-pci"),
                      dev("0000:01:00.1", id="8086:1533", parent="0000:00:01.0", present=False)],
             drivers=[drv("igb", ids=["8086:1533"])])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/0")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    user = k.iommu_groups[0].domain
    k.write("/sys/bus/pci/rescan", "1")
    new = k.devices["0000:01:00.1"]
    assert new.iommu_group is k.iommu_groups[0] and k.iommu_groups[0].domain is user
    assert new.driver is None                                   # igb's probe was refused: -EBUSY
    assert errno_of(bind, k, "0000:01:00.1", "igb") == errno.EBUSY
    bind(k, "0000:01:00.1", "pci-stub")
    assert new.driver.name == "pci-stub" and st(k, 0)[:2] == (1, "vfio_group:0")


def test_remove_of_a_counted_device_warns_when_its_group_empties():
    from iommulab.kernel.iommu import iommu_device_use_default_domain
    k = make(devices=[dev("0000:05:00.0")])
    iommu_device_use_default_domain(k.devices["0000:05:00.0"])
    k.write("/sys/bus/pci/devices/0000:05:00.0/remove", "1")
    assert any(line.startswith("WARNING:") and "__iommu_group_free_device" in line for line in k.dmesg())


def sriov(acs=True, **kw):
    return make(devices=[rp("0000:00:03.0", acs=acs),
                         dev("0000:02:00.0", id="8086:1572", parent="0000:00:03.0", sriov_totalvfs=8,
                             vf_id="8086:154c", **kw)],
                drivers=[drv("i40e", ids=["8086:1572"], sriov_configure=True), drv("iavf", ids=["8086:154c"])])


def test_sriov_create_and_destroy():
    k = sriov()
    pf = "/sys/bus/pci/devices/0000:02:00.0"
    assert k.read(f"{pf}/sriov_totalvfs") == "8\n" and k.read(f"{pf}/sriov_numvfs") == "0\n"
    k.write(f"{pf}/sriov_numvfs", "4")
    vfs = [n for n, d in k.devices.items() if d.physfn]
    assert vfs == ["0000:02:02.0", "0000:02:02.1", "0000:02:02.2", "0000:02:02.3"]
    assert all(k.devices[v].driver.name == "iavf" and members(k, v) == [v] for v in vfs)
    assert k.readlink(f"{pf}/virtfn2").endswith("/0000:02:02.2")
    assert k.readlink("/sys/bus/pci/devices/0000:02:02.2/physfn").endswith("/0000:02:00.0")
    assert k.read("/sys/bus/pci/devices/0000:02:02.0/device") == "0x154c\n"
    assert errno_of(k.write, f"{pf}/sriov_numvfs", "2") == errno.EBUSY
    assert errno_of(k.write, f"{pf}/sriov_numvfs", "9") == errno.ERANGE
    k.write(f"{pf}/sriov_numvfs", "0")
    assert not any(d.physfn for d in k.devices.values())
    assert sorted(k.iommu_groups) == [0, 1]


def test_vfs_share_the_group_below_a_port_without_acs():
    k = sriov(acs=False)
    k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "2")
    assert members(k, "0000:02:02.1") == ["0000:00:03.0", "0000:02:00.0", "0000:02:02.0", "0000:02:02.1"]


def test_sriov_needs_a_driver_that_can_configure_it():
    k = sriov()
    pf = "/sys/bus/pci/devices/0000:02:00.0"
    k.write("/sys/bus/pci/drivers/i40e/unbind", "0000:02:00.0")
    assert errno_of(k.write, f"{pf}/sriov_numvfs", "1") == errno.ENOENT
    bind(k, "0000:02:00.0", "vfio-pci")
    assert errno_of(k.write, f"{pf}/sriov_numvfs", "1") == errno.ENOENT        # vfio-pci without enable_sriov
    k.sh("rmmod vfio_pci; modprobe vfio-pci enable_sriov=1")   # its driver_override makes it bind again
    assert k.devices["0000:02:00.0"].driver.name == "vfio-pci"
    k.write(f"{pf}/sriov_numvfs", "1")
    assert "0000:02:02.0" in k.devices
    assert errno_of(k.write, f"{pf}/sriov_numvfs", "x") == errno.EINVAL


def test_destroying_vfs_waits_for_a_vm_holding_one():
    k = sriov()
    k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "2")
    k.sh("echo 0000:02:02.1 > /sys/bus/pci/drivers/iavf/unbind; echo vfio-pci > /sys/bus/pci/devices/0000:02:02.1/driver_override;"
         "echo 0000:02:02.1 > /sys/bus/pci/drivers/vfio-pci/bind; qemu-system-x86_64 -device vfio-pci,host=02:02.1 &")
    pw = k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "0")
    assert pw is not None and not pw.done
    assert "0000:02:02.0" not in k.devices and "0000:02:02.1" in k.devices
    k.sh("kill %1")
    assert pw.done and not any(d.physfn for d in k.devices.values())


def test_removing_a_pf_removes_its_vfs_first():
    k = sriov()
    k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "2")
    k.write("/sys/bus/pci/devices/0000:02:00.0/remove", "1")
    assert set(k.devices) == {"0000:00:03.0"}
    k.write("/sys/bus/pci/rescan", "1")
    assert set(k.devices) == {"0000:00:03.0", "0000:02:00.0"}
