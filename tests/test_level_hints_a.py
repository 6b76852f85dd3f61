"""Levels 00-09 (notebooks 00-04 of the course): for each, a wrong attempt a learner typically makes,
what level.check() says about it, and the computed hint that follows from the learner's own state.
Following the computed hints alone, from the start and from the wrong attempt, reaches the goal."""
import pytest

from iommulab.course import level

from conftest import follow_hints

GPU, AUDIO = "0000:01:00.0", "0000:01:00.1"
GPU_TO_VFIO = f"""
echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind
echo vfio-pci > /sys/bus/pci/devices/{GPU}/driver_override
echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind
"""
AUDIO_OFF = f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
AUDIO_TO_VFIO = f"""
echo vfio-pci > /sys/bus/pci/devices/{AUDIO}/driver_override
echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/bind
"""
QEMU_GPU = f"qemu-system-x86_64 -m 4G -device vfio-pci,host={GPU} &\n"
QEMU_BOTH = f"qemu-system-x86_64 -m 4G -device vfio-pci,host={GPU} -device vfio-pci,host={AUDIO} &\n"


def to_vfio(dev, driver):
    return (f"echo {dev} > /sys/bus/pci/drivers/{driver}/unbind\n"
            f"echo vfio-pci > /sys/bus/pci/devices/{dev}/driver_override\n"
            f"echo {dev} > /sys/bus/pci/drivers/vfio-pci/bind\n")


def qemu(dev):
    return f"qemu-system-x86_64 -m 4G -device vfio-pci,host={dev} &\n"


# level id -> (a wrong attempt, what the computed hint after it must say: in its text or its line)
WRONG = {
    # the GPU alone on vfio-pci: QEMU says group 1 is not viable; the audio function must leave
    "gpu-passthrough": (GPU_TO_VFIO + QEMU_GPU, [AUDIO, "snd_hda_intel", "kernel DMA driver"]),
    # "free" taken as "on vfio-pci": the running VM owns the group, owner_cnt 1 means a claim now
    "free-group": (GPU_TO_VFIO + AUDIO_OFF + QEMU_GPU, ["kill 1001", "qemu-system-x86_64", "holds group 1"]),
    # the myth "every function goes to the VM"
    "gpu-only": (GPU_TO_VFIO + AUDIO_OFF + AUDIO_TO_VFIO + QEMU_BOTH, ["kill 1001", "holds group 1"]),
    # the first VM took both functions, so the second VM's refusal proves nothing about the GPU-only VM
    "audio-second-vm": (QEMU_BOTH + qemu(AUDIO), ["kill 1001", "holds group 1"]),
    # drivers_probe lets vfio-pci, which still has the ids from the command line, take them back
    "give-back": (f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/unbind\n"
                  f"echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/unbind\n"
                  f"echo {GPU} > /sys/bus/pci/drivers_probe\n"
                  f"echo {AUDIO} > /sys/bus/pci/drivers_probe\n",
                  [GPU, "vfio-pci/unbind", "must leave vfio-pci"]),
    # the NIC alone: the USB card below the other port shares its group
    "nic-without-acs": (to_vfio("0000:02:00.0", "igb") + qemu("0000:02:00.0"),
                        ["0000:03:00.0", "xhci_hcd", "kernel DMA driver"]),
    # the tuner alone: the FireWire card behind the same bridge shares its group
    "pci-bridge-card": (to_vfio("0000:06:00.0", "cx88xx") + qemu("0000:06:00.0"),
                        ["0000:06:01.0", "firewire_ohci", "kernel DMA driver"]),
    # the bind tried after the VM stopped: it succeeds, and the audio function is on the host again
    "no-mixing": (GPU_TO_VFIO + AUDIO_OFF + QEMU_GPU + "kill %1\n"
                  f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind\n",
                  [AUDIO, "snd_hda_intel/unbind", "kernel DMA driver"]),
    # the PF to the VM: too far from a VF on a PF that keeps i40e; the way back is to undo
    "vf-to-vm": (to_vfio("0000:3b:00.0", "i40e") + qemu("0000:3b:00.0"), ["Undo 4 steps", "back to step 0"]),
}

# what level.check() says about the wrong attempt: a sentence on the failing clause, from the state
WHY = {
    "gpu-passthrough": "group 1 is not viable",
    "free-group": "owned by vfio_group:1",
    "gpu-only": f"{AUDIO} is given to a VM, and should not be",
    "audio-second-vm": f"{AUDIO} is given to a VM, and should not be",
    "give-back": "it is bound to vfio-pci",
    "nic-without-acs": "0000:03:00.0 is bound to xhci_hcd, a kernel DMA driver",
    "pci-bridge-card": "0000:06:01.0 is bound to firewire_ohci, a kernel DMA driver",
    "no-mixing": "snd_hda_intel/bind) succeeded",
    "vf-to-vm": "0000:3b:00.0 is given to a VM, and should not be",
}

WAY_BACK = {"vf-to-vm"}          # the wrong attempt broke the way: the hint is to undo


def test_the_table_covers_exactly_these_levels():
    assert set(WRONG) == set(WHY)
    assert WAY_BACK <= set(WRONG)


@pytest.mark.parametrize("lid", sorted(WRONG))
def test_a_wrong_attempt_fails_the_check_with_a_reason(lid):
    lv = level(lid)
    lv.sh(WRONG[lid][0])
    c = lv.check(record=False)
    assert not c.passed
    whys = [why for _, why in c.failing]
    assert whys and all(w.strip() for w in whys)
    assert not any(w.startswith("not yet") for w in whys), whys
    assert any(WHY[lid] in w for w in whys), whys


@pytest.mark.parametrize("lid", sorted(WRONG))
def test_a_wrong_attempt_gets_a_useful_computed_hint(lid):
    lv = level(lid)
    lv.sh(WRONG[lid][0])
    before = lv.k.state()
    h = lv.next_step()
    assert h.kind == ("way-back" if lid in WAY_BACK else "next"), h.text
    said = h.text + "\n" + h.line
    for s in WRONG[lid][1]:
        assert s in said, f"{s!r} not in the hint: {said}"
    if h.kind == "next":
        assert h.line and h.line in said
    else:
        assert h.undo > 0 and not h.line
    assert lv.k.state() == before                     # asking for a hint changed nothing


@pytest.mark.parametrize("lid", sorted(WRONG))
def test_following_the_computed_hints_from_the_wrong_attempt_reaches_the_goal(lid):
    lv = level(lid)
    lv.sh(WRONG[lid][0])
    taken = follow_hints(lv, lv.d.bound + 2)
    assert taken[-1].kind == "done", [h.text for h in taken]
    c = lv.check(record=False)
    assert c.passed, str(c)
    assert ("way-back" in [h.kind for h in taken]) == (lid in WAY_BACK)


@pytest.mark.parametrize("lid", sorted(WRONG))
def test_following_the_computed_hints_from_the_start_reaches_the_goal_within_the_bound(lid):
    lv = level(lid)
    taken = follow_hints(lv, lv.d.bound)
    assert taken[-1].kind == "done", [h.text for h in taken]
    assert all(h.kind == "next" for h in taken[:-1])
    c = lv.check(record=False)
    assert c.passed and not c.broken, str(c)


# --- what single levels teach ------------------------------------------------------------------------

def test_free_group_owner_cnt_counts_kernel_dma_drivers_not_devices():
    lv = level("free-group")
    assert lv.k.state()["groups"][1]["owner_cnt"] == 2      # three devices, two kernel DMA drivers
    lv.sh(f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind")
    assert lv.k.state()["groups"][1]["owner_cnt"] == 1
    h = lv.next_step()
    assert h.kind == "next" and h.line == AUDIO_OFF.strip()
    assert "snd_hda_intel, a kernel DMA driver" in h.text


def test_free_group_is_not_reached_by_removing_the_devices():
    lv = level("free-group")
    lv.sh(f"echo 1 > /sys/bus/pci/devices/{GPU}/remove\necho 1 > /sys/bus/pci/devices/{AUDIO}/remove")
    c = lv.check(record=False)
    assert all(ok for _, ok, _ in c.clauses)                   # the state is "free" ...
    assert not c.passed and any("remove" in b for b in c.broken)  # ... but not the way the level asks


def test_gpu_only_the_audio_function_needs_no_vfio_driver():
    lv = level("gpu-only")
    lv.sh(GPU_TO_VFIO + AUDIO_OFF + QEMU_GPU)
    assert lv.k.state()["devices"][AUDIO]["driver"] is None
    assert lv.check(record=False).passed


def test_audio_second_vm_is_refused_while_the_first_keeps_running():
    lv = level("audio-second-vm")
    r = lv.sh(QEMU_GPU + qemu(AUDIO) + "jobs")
    assert "Could not open '/dev/vfio/1': Device or resource busy" in r.stderr
    procs = [p for p in lv.k.state()["processes"].values() if p["name"].startswith("qemu")]
    assert [p["holds"]["devices"] for p in procs] == [[GPU]]
    assert lv.check(record=False).passed


def test_audio_second_vm_after_the_first_stopped_is_not_refused():
    lv = level("audio-second-vm")
    lv.sh(QEMU_GPU + "kill %1\n" + qemu(AUDIO))
    c = lv.check(record=False)
    assert not c.passed
    assert any("succeeded" in why for _, why in c.failing)


def test_no_mixing_the_refused_bind_changes_nothing():
    lv = level("no-mixing")
    lv.sh(GPU_TO_VFIO + AUDIO_OFF + QEMU_GPU)
    before = lv.k.state()
    r = lv.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind")
    assert r.status != 0 and "Device or resource busy" in r.stderr
    assert lv.k.state() == before
    assert lv.check(record=False).passed


def test_give_back_starts_on_vfio_pci_from_the_command_line():
    lv = level("give-back")
    assert "vfio-pci.ids=10de:2204,10de:1aef" in lv.sh("cat /proc/cmdline").stdout
    s = lv.k.state()
    assert s["devices"][GPU]["driver"] == "vfio-pci" and s["devices"][AUDIO]["driver"] == "vfio-pci"
    assert s["groups"][1]["owner_cnt"] == 0                   # vfio-pci does not count
    lv.solve()
    assert lv.k.state()["groups"][1]["owner_cnt"] == 2        # nouveau and snd_hda_intel count again


def test_vf_to_vm_the_vf_has_a_group_of_its_own_and_the_pf_keeps_i40e():
    lv = level("vf-to-vm")
    h = lv.next_step()
    assert h.kind == "next" and h.line == "echo 1 > /sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs"
    lv.solve()
    s = lv.k.state()
    assert s["devices"]["0000:3b:00.0"]["driver"] == "i40e"
    assert s["devices"]["0000:3b:02.0"]["group"] != s["devices"]["0000:3b:00.0"]["group"]
    assert lv.check(record=False).passed
