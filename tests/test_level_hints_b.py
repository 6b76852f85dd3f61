"""Levels 10-19 (iommufd, MSI isolation, platform and fsl-mc devices, the seed-001 leak, the group
type, the 5.18 crash): a typical wrong attempt gets a check that says why in the kernel's terms and
a computed hint that names the next action; following the computed hints alone reaches the goal."""
import pytest

from iommulab.course import level

from conftest import follow_hints

IOMMUFD_GPU = "qemu-system-x86_64 -object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0 &\n"

# level id -> (a wrong attempt, what the computed hint after it must say: its text and line together)
WRONG = {
    # the audio function asked for through legacy VFIO while the GPU is open through its cdev
    "two-ictx": (IOMMUFD_GPU + "qemu-system-x86_64 -device vfio-pci,host=0000:01:00.1 &\n",
                 ["0000:01:00.1", "iommufd=iommufd0"]),
    # the legacy backend's parameter set, but QEMU uses iommufd
    "msi-isolation": ("echo 1 > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts\n"
                      "qemu-system-x86_64 -object iommufd,id=iommufd0 "
                      "-device vfio-pci,host=0000:09:00.0,iommufd=iommufd0 &\n",
                      ["/sys/module/iommufd/parameters/allow_unsafe_interrupts"]),
    # only the Ethernet moved; the DMA engine with the same stream ID stays on dma-pl330
    "dpdk-soc-ethernet": ("echo ff0c0000.ethernet > /sys/bus/platform/drivers/stmmaceth/unbind\n"
                          "echo vfio-platform > /sys/bus/platform/devices/ff0c0000.ethernet/driver_override\n"
                          "echo ff0c0000.ethernet > /sys/bus/platform/drivers/vfio-platform/bind\n",
                          ["ff0d0000.dma-controller", "dma-pl330"]),
    # one object of the container handled like a PCI function, the others left on their drivers
    "dpaa2-container": ("echo dpni.1 > /sys/bus/fsl-mc/drivers/fsl_dpaa2_eth/unbind\n"
                        "echo vfio-fsl-mc > /sys/bus/fsl-mc/devices/dpni.1/driver_override\n"
                        "echo dpni.1 > /sys/bus/fsl-mc/drivers/vfio-fsl-mc/bind\n",
                        # dpio.1 and the container dprc.2 both still count; either may leave first
                        ["a kernel DMA driver", "/sys/bus/fsl-mc/drivers/fsl_mc_d", "/unbind"]),
    # vfio-pci bound without unbinding hns3 first: -EBUSY, the NIC stays on hns3
    "leak-2023": ("echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override\n"
                  "echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind\n",
                  ["0000:03:00.1", "hns3"]),
    # QEMU started before the NIC is given to vfio-pci
    "leak-fixed": ("qemu-system-aarch64 -device vfio-pci,host=0000:03:00.1 &\n", ["0000:03:00.1", "hns3"]),
    # the NIC removed: its group is gone, and no rescan, write and bind fit in the bound: the way back
    "default-domain-type": ("echo 1 > /sys/bus/pci/devices/0000:00:1f.6/remove\n", ["Undo 1 step"]),
    # the kernel driver bound while no VM holds the group: nothing to crash
    "crash-5.18": ("echo 0000:01:00.1 > /sys/bus/pci/drivers/vfio-pci/unbind\n"
                   "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/bind\n",
                   ["0000:01:00.1", "snd_hda_intel"]),
}

# what the failed check must say (one of its sentences), so its why is more than "not yet"
WHY = {
    "two-ictx": "a device of group 1 is open through its cdev",
    "msi-isolation": "the platform does not isolate MSIs and iommufd.allow_unsafe_interrupts is off",
    "dpdk-soc-ethernet": "ff0d0000.dma-controller is bound to dma-pl330, a kernel DMA driver",
    "dpaa2-container": "dpio.1 is bound to fsl_mc_dpio, a kernel DMA driver",
    "leak-2023": "it is bound to hns3 and its driver_override is vfio-pci",
    "leak-fixed": "no device of group 45 is bound to a VFIO driver",
    "default-domain-type": "group 20 does not exist now",
    "crash-5.18": "no BUG has fired yet",
}

WAY_BACK = {"default-domain-type"}          # attempts that broke the machine: undo first


def test_the_tables_cover_the_same_levels_and_they_ship():
    from iommulab.course.level import level_ids
    assert set(WRONG) == set(WHY) and WAY_BACK <= set(WRONG)
    assert set(WRONG) <= set(level_ids())


@pytest.mark.parametrize("lid", sorted(WRONG))
def test_a_wrong_attempt_gets_a_useful_check_and_computed_hint(lid):
    attempt, words = WRONG[lid]
    lv = level(lid)
    lv.sh(attempt)
    c = lv.check(record=False)
    assert not c.passed
    whys = [why for _, why in c.failing]
    assert whys and all(why and not why.startswith("not yet") for why in whys), str(c)
    assert WHY[lid] in str(c), str(c)
    h = lv.next_step()
    assert h.kind == ("way-back" if lid in WAY_BACK else "next"), h.text
    said = f"{h.text}\n{h.line}"
    for w in words:
        assert w in said, said
    if h.kind == "way-back":
        assert h.undo >= 1 and not h.line
    else:
        assert h.line and h.undo == 0


@pytest.mark.parametrize("after", ["start", "wrong attempt"])
@pytest.mark.parametrize("lid", sorted(WRONG))
def test_following_the_computed_hints_alone_reaches_the_goal(lid, after):
    lv = level(lid)
    if after == "wrong attempt":
        lv.sh(WRONG[lid][0])
    seen = follow_hints(lv, lv.d.bound + 2)
    c = lv.check(record=False)
    assert c.passed, f"{c}\nhints: {[h.text for h in seen]}"
    assert not c.broken


def test_the_type_write_refused_while_bound_says_why_and_what_comes_first():
    lv = level("default-domain-type")
    r = lv.sh("echo identity > /sys/kernel/iommu_groups/20/type")
    assert "Operation not permitted" in r.stderr               # -EPERM since 6.4, owner_cnt is 1
    c = lv.check(record=False)
    assert "your last write was refused" in str(c) and "0000:00:1f.6 is bound to e1000e" in str(c)
    h = lv.next_step()
    assert h.kind == "next" and h.line == "echo 0000:00:1f.6 > /sys/bus/pci/drivers/e1000e/unbind"


def test_both_functions_in_one_iommufd_context_refuse_nothing_and_need_the_way_back():
    lv = level("two-ictx")
    lv.sh("qemu-system-x86_64 -object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0 "
          "-device vfio-pci,host=0000:01:00.1,iommufd=iommufd0 &")
    c = lv.check(record=False)
    assert [w for w, _ in c.failing] == ["QEMU was refused with 0000:01:00.1 (-EPERM)"]
    assert "succeeded" in str(c)
    h = lv.next_step()
    assert h.kind == "way-back" and h.undo == 1


def test_the_second_iommufd_context_is_refused_with_eperm_by_the_group_owner():
    lv = level("two-ictx")
    lv.solve()
    st = lv.k.state()
    assert st["groups"][1]["owner"].startswith("ictx:") and st["groups"][1]["owner_cnt"] == 1
    assert lv.check(record=False).passed


def test_the_legacy_parameter_lets_legacy_vfio_through_but_not_iommufd():
    lv = level("msi-isolation")
    lv.sh("echo 1 > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts")
    r = lv.sh("qemu-system-x86_64 -object iommufd,id=iommufd0 -device vfio-pci,host=0000:09:00.0,iommufd=iommufd0")
    assert "Operation not permitted" in r.stderr
    r = lv.sh("qemu-system-x86_64 -device vfio-pci,host=0000:09:00.0 &")
    assert lv.k.state()["groups"][0]["owner"].startswith("vfio_group:")
    c = lv.check(record=False)
    assert not c.passed and "is owned by vfio_group" in str(c)


def test_the_leak_is_there_on_6_4_and_gone_on_6_6():
    old, new = level("leak-2023"), level("leak-fixed")
    for lv in (old, new):
        lv.sh("echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind")
    assert old.k.state()["groups"][45]["owner_cnt"] == 1       # no driver bound, one count leaked
    assert new.k.state()["groups"][45]["owner_cnt"] == 0


def test_the_crash_needs_the_vm_and_the_reboot_brings_the_machine_back():
    lv = level("crash-5.18")
    lv.sh("qemu-system-x86_64 -device vfio-pci,host=0000:01:00.0 &")
    lv.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/vfio-pci/unbind")
    lv.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/bind")
    c = lv.check(record=False)
    assert [w for w, _ in c.failing] == ["the kernel is running"]
    h = lv.next_step()
    assert h.kind == "next" and h.line == "reboot"
    lv.sh(h.line)
    assert lv.check(record=False).passed
