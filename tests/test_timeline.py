"""One timeline per machine (issue 12, item 3): kernel and shell session are snapshotted together;
undo takes back one action (one shell line or one button); lines that change nothing add no step.
The Lab, k.sh / `iommulab sh` (undo, steps) and the explorer share it."""
import os
import subprocess
import sys

import pytest

from iommulab import Kernel, Lab
from iommulab.check.explore import explore
from iommulab.shell import session_for, timeline_for
from iommulab.viz.model import build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU, AUDIO = "0000:01:00.0", "0000:01:00.1"
TO_VFIO = (f"echo vfio-pci > /sys/bus/pci/devices/{GPU}/driver_override\n"
           f"echo vfio-pci > /sys/bus/pci/devices/{AUDIO}/driver_override\n"
           f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind\n"
           f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
           f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind\n"
           f"echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/bind\n")
QEMU = f"qemu-system-x86_64 -m 4G -device vfio-pci,host={GPU} -device vfio-pci,host={AUDIO} &"


def steps_of(k):
    return len(timeline_for(k).steps) - 1


def vm_ready():
    k = Kernel.from_scenario("desktop-gpu")
    assert k.sh(TO_VFIO).status == 0
    return k


def qemu_pids(k):
    return [p.pid for p in k.processes.values() if p.name.startswith("qemu")]


# --- the sequence of the issue ------------------------------------------------------------------

def test_lab_start_vm_kill_undo_leaves_ps_jobs_and_picture_consistent():
    lab = Lab(Kernel.from_scenario("desktop-gpu"))
    k = lab.k
    lab.sh(TO_VFIO)
    lab.vm_devices.value = (GPU, AUDIO)
    lab.vm_start.click()
    assert "iommulab-feedback-line changed" in lab.feedback.value and lab.vm_job.value == 1   # not refused
    pid = qemu_pids(k)[0]
    lab.vm_stop.click()                                         # kill %1
    assert qemu_pids(k) == [] and k.iommu_groups[1].owner is None
    assert k.sh("jobs").stdout == f"[1]+  Terminated              {QEMU[:-2]}\n"      # reported once
    lab.undo_b.click()                                          # the kill is taken back
    assert qemu_pids(k) == [pid]
    assert f"{pid} pts/0    00:00:00 qemu-system-x86" in k.sh("ps").stdout
    assert k.sh("jobs").stdout == f"[1]+  Running                 {QEMU}\n"
    model = build(k)                                            # the picture's view model, from state
    assert [p.pid for p in model.processes] == [pid] and 1 in model.processes[0].groups
    assert model.groups[1].owner_kind == "vfio-group" and model.groups[1].owner_cnt == 1
    assert "user space" in lab.graph.value and lab.vm_job.options == ((f"[1] {QEMU[:-2][:60]}", 1),)
    lab.vm_stop.click()                                         # and the restored VM can be stopped again
    assert qemu_pids(k) == [] and k.iommu_groups[1].owner is None
    r = k.sh("true")
    assert r.stderr == f"[1]+  Terminated              {QEMU[:-2]}\n"


def test_the_job_counter_travels_in_time():
    k = vm_ready()
    r = k.sh(QEMU)
    first_pid = qemu_pids(k)[0]
    assert r.stderr == f"[1] {first_pid}\n"
    assert k.sh("undo").status == 0                             # the VM never started
    assert qemu_pids(k) == [] and k.sh("jobs").stdout == "" and k.iommu_groups[1].owner is None
    r = k.sh(QEMU)
    assert r.stderr == f"[1] {first_pid}\n"                     # job 1 again, and the same pid
    k.sh("kill %1")
    k.sh("true")                                                # the notice; job 1 leaves the table
    r = k.sh(QEMU)
    assert r.stderr.startswith("[1] ") and len(qemu_pids(k)) == 1
    k.sh("undo")                                                # back to after the kill, its job reported
    assert qemu_pids(k) == [] and k.sh("jobs").stdout == ""
    assert session_for(k).jobs == []


def test_undo_keeps_a_blocked_unbind_and_its_job_together():
    k = vm_ready()
    k.sh(QEMU)
    k.sh(f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/unbind")       # blocks: QEMU holds the device
    blocked = "[2]+  Running                 echo ... > /sys/bus/pci/drivers/vfio-pci/unbind &\n"
    assert k.sh("jobs").stdout.endswith(blocked) and len(k.pending) == 1
    k.sh("kill %1")                                             # QEMU lets go: the unbind completes
    assert k.devices[GPU].driver is None and k.pending == []
    steps = timeline_for(k).listing()
    assert steps[-2].split(None, 1)[1] == "kill %1"             # the kill is a step, and the write's return the next
    assert "the blocked write to /sys/bus/pci/drivers/vfio-pci/unbind returns" in steps[-1]
    k.sh("undo")                                                # QEMU gone, the writer not yet returned
    assert qemu_pids(k) == [] and k.devices[GPU].driver.name == "vfio-pci" and len(k.pending) == 1
    assert k.sh("jobs").stdout.endswith(blocked)
    k.sh("undo")
    assert k.sh("jobs").stdout == f"[1]-  Running                 {QEMU}\n" + blocked
    assert k.devices[GPU].driver.name == "vfio-pci" and len(k.pending) == 1 and not k.pending[0].done
    k.sh("kill %1")                                             # the restored write completes again
    assert k.devices[GPU].driver is None and k.pending == []
    assert k.sh("jobs").stdout.endswith("[2]+  Done                    echo ... > /sys/bus/pci/drivers/vfio-pci/unbind\n")


# --- undo in the shell ------------------------------------------------------------------------

def test_undo_and_steps_in_k_sh():
    k = Kernel.from_scenario("desktop-gpu")
    assert tuple(k.sh("undo")) == (1, "", "iommulab: undo: nothing to undo (the machine is as the timeline began)\n")
    k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.sh(f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind")
    assert k.iommu_groups[1].owner_cnt == 0
    assert k.sh("steps").stdout == ("    0  boot\n"
                                    f"    1  echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
                                    f"*   2  echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind\n")
    r = k.sh("undo")
    assert tuple(r) == (0, f"undone: echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind\n", "")
    assert k.iommu_groups[1].owner_cnt == 1 and k.devices[GPU].driver.name == "nouveau"
    assert k.sh("undo; steps").stdout.endswith("*   0  boot\n")
    assert k.iommu_groups[1].owner_cnt == 2 and k.devices[AUDIO].driver.name == "snd_hda_intel"


def test_undo_on_the_line_that_changed_takes_back_that_line():
    k = Kernel.from_scenario("desktop-gpu")
    r = k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind; undo")
    assert r.status == 0 and k.devices[AUDIO].driver.name == "snd_hda_intel" and steps_of(k) == 0
    assert k.sh("undo 2 3").status == 2 and k.sh("echo $(undo)").stderr.startswith("iommulab: undo: type it")


def test_undo_n_steps_and_the_session_comes_back_with_the_kernel():
    k = Kernel.from_scenario("desktop-gpu")
    k.sh(f"BDF={AUDIO}")
    k.sh("echo $BDF > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.sh("cd /sys/bus/pci/devices; NOTE=kept")                  # no step: kept in step 1
    k.sh(f"echo {GPU} > ../drivers/nouveau/unbind")
    assert steps_of(k) == 2
    k.sh("cd /; NOTE=lost")
    assert k.sh("undo").status == 0
    assert k.sh("pwd; echo $BDF $NOTE").stdout == f"/sys/bus/pci/devices\n{AUDIO} kept\n"
    assert k.sh("undo 5").stdout == "undone: echo $BDF > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
    assert k.sh("pwd; echo $BDF").stdout == f"/\n{AUDIO}\n"          # set before the first step


def test_a_multi_line_cell_is_undone_one_line_at_a_time():
    lab = Lab(Kernel.from_scenario("desktop-gpu"))
    k = lab.k
    lab.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
           "ls /sys/bus/pci/devices\n"
           f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind\n"
           "for g in /sys/kernel/iommu_groups/*; do\n  cat $g/type\ndone\n"
           "echo vfio-pci > /sys/bus/pci/devices/0000:00:1f.6/driver_override\n")
    assert lab.step.max == 3 and k.iommu_groups[1].owner_cnt == 0
    assert [m.action for m in timeline_for(k).steps][1:] == [
        f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind",
        f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind",
        "echo vfio-pci > /sys/bus/pci/devices/0000:00:1f.6/driver_override"]
    lab.undo_b.click()                                          # the driver_override
    assert lab.step.max == 2 and k.iommu_groups[1].owner_cnt == 0
    lab.undo_b.click()                                          # the nouveau unbind
    assert lab.step.max == 1 and k.iommu_groups[1].owner_cnt == 1 and k.devices[GPU].driver.name == "nouveau"
    lab.undo_b.click()
    assert lab.step.max == 0 and k.iommu_groups[1].owner_cnt == 2


def test_read_only_lines_typos_and_refused_writes_add_no_step():
    k = Kernel.from_scenario("desktop-gpu")
    state = k.state()
    for line in ("ls /sys/bus/pci/devices", "cat /sys/kernel/iommu_groups/1/type", "lspci -k", "lspci -nnv -s 01:00.0",
                 "nosuchcommand", "echo 'unterminated", "for g in /sys/kernel/iommu_groups/*; do ls $g/devices; done",
                 "dmesg | tail -2", "ps", "jobs", "readlink /sys/bus/pci/devices/0000:01:00.0/driver",
                 "iommulab-why group 1", "steps", "history", "ls /sys &",
                 f"qemu-system-x86_64 -m 4G -device vfio-pci,host={GPU} &"):        # QEMU fails: nouveau has it
        k.sh(line)
    events = len(k.events)
    r = k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/bind")          # refused: -ENODEV
    assert r.status == 1 and len(k.events) > events                  # it is an event ...
    assert steps_of(k) == 0 and k.state() == state                    # ... but not a step
    assert k.sh("undo").status == 1


def test_a_refused_button_adds_no_step_but_shows_the_refusal():
    lab = Lab(Kernel.from_scenario("desktop-gpu"))
    lab.device.value, lab.driver.value = AUDIO, "vfio-pci"
    lab.bind_b.click()                                          # vfio-pci matches nothing by itself
    assert "-ENODEV" in lab.error.value and lab.step.max == 0
    lab.override_b.click()
    lab.bind_b.click()                                          # still bound to snd_hda_intel: -EBUSY
    assert "-EBUSY" in lab.error.value and lab.step.max == 1
    lab.undo_b.click()
    assert lab.k.devices[AUDIO].driver_override is None and lab.step.max == 0


def test_the_lab_slider_and_the_shell_share_one_timeline():
    k = Kernel.from_scenario("desktop-gpu")
    k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    lab = Lab(k)                                                # a lab on a kernel used before
    assert lab.step.max == 1 and lab.timeline is timeline_for(k)
    lab.shell_in.value = f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind\nundo\nundo"
    lab.shell_run.click()
    assert lab.step.max == 0 and k.iommu_groups[1].owner_cnt == 2
    lab.sh(f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind")
    lab.step.value = 0                                          # viewing the past: ls keeps the future
    lab.sh("ls /sys")
    assert lab.step.max == 1 and k.devices[GPU].driver.name == "nouveau"
    lab.now_b.click()
    assert k.devices[GPU].driver is None and "*   1  echo" in k.sh("steps").stdout


def test_a_change_made_from_python_is_a_step_of_its_own():
    k = Kernel.from_scenario("desktop-gpu")
    k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.write("/sys/bus/pci/drivers/nouveau/unbind", GPU)          # not through the shell
    k.sh("echo 1 > /sys/bus/pci/rescan")                        # nothing to find: no step
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:00:1f.6/driver_override")
    assert [m.action for m in timeline_for(k).steps][2:] == [
        "(outside the shell)", "echo vfio-pci > /sys/bus/pci/devices/0000:00:1f.6/driver_override"]
    k.sh("undo")
    assert k.devices["0000:00:1f.6"].driver_override is None and k.devices[GPU].driver is None
    k.sh("undo")                                                # the Python write
    assert k.devices[GPU].driver.name == "nouveau" and k.devices[AUDIO].driver is None
    k.write("/sys/bus/pci/devices/0000:00:1f.6/driver_override", "pci-stub\n")
    lab = Lab(k)                                                # the lab sees it as a step, and undoes it
    assert lab.step.max == 2
    lab.undo_b.click()
    assert k.devices["0000:00:1f.6"].driver_override is None and k.devices[AUDIO].driver is None


def test_back_to_now_after_a_change_from_python_in_the_past_ends_its_new_branch():
    k = Kernel.from_scenario("desktop-gpu")
    for line in (f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind",
                 f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind",
                 f"echo {GPU} > /sys/bus/pci/drivers/nouveau/bind"):
        k.sh(line)
    tl = timeline_for(k)
    tl.go(1)
    k.write("/sys/bus/pci/devices/0000:00:1f.6/driver_override", "pci-stub")   # looking back, from Python
    tl.now()                                                    # was IndexError: the branch cut the later steps
    assert [m.action for m in tl.steps][2:] == ["(outside the shell)"] and tl.position == 2
    assert k.devices[GPU].driver.name == "nouveau" and k.devices[AUDIO].driver is None
    assert k.devices["0000:00:1f.6"].driver_override == "pci-stub"


def test_a_crash_and_a_reboot_can_be_undone():
    k = Kernel.from_scenario("desktop-gpu")
    k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.sh("reboot")
    assert k.devices[AUDIO].driver.name == "snd_hda_intel" and steps_of(k) == 2
    k.sh("undo")
    assert k.devices[AUDIO].driver is None and k.devices[AUDIO].bus is k.buses["pci"]
    k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind")
    assert k.devices[AUDIO].driver.name == "snd_hda_intel"
    k = Kernel.from_scenario("pre-5.19-bug")                   # 5.18's BUG_ON (see test_check.py)
    script = explore(k, depth=3, allow={"unbind", "bind", "vm"}).script
    assert "Kernel panic" in k.sh(script).stderr and k.crashed
    assert k.sh("undo").status == 0 and k.crashed is None        # the line that crashed it, taken back
    assert k.sh("ls /sys/kernel/iommu_groups").status == 0 and "[1]+  Running" in k.sh("jobs").stdout


def test_history_lists_what_was_typed():
    k = Kernel.from_scenario("desktop-gpu")
    k.sh("ls /sys >/dev/null\ncd /sys")
    assert k.sh("history").stdout == "    1  ls /sys >/dev/null\n    2  cd /sys\n    3  history\n"
    assert k.sh("history 1").stdout == "    4  history 1\n"
    k.sh("true\n" * 1000)                                      # HISTSIZE=1000: the oldest go, numbers go on
    assert k.sh("history 2").stdout == " 1004  true\n 1005  history 2\n"
    assert len(session_for(k).history) == 1000


# --- the command line -------------------------------------------------------------------------

def cli(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "iommulab.cli", "sh", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_undo_and_steps_in_iommulab_sh():
    r = cli("-c", f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\nls /sys\nundo\n"
            f"readlink /sys/bus/pci/devices/{AUDIO}/driver\nsteps")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(f"undone: echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
                             "../../../../bus/pci/drivers/snd_hda_intel\n*   0  boot\n")
    r = cli(stdin=f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\ncat /sys/kernel/iommu_groups/1/type\n"
                  "steps\nundo\nundo\n")
    assert r.returncode == 1 and "*   1  echo" in r.stdout and "nothing to undo" in r.stderr


# --- the explorer --------------------------------------------------------------------------------

def test_the_explorer_leaves_the_timeline_as_it_found_it():
    k = vm_ready()
    k.sh(QEMU)
    tl = timeline_for(k)
    steps, position, state = list(tl.steps), tl.position, k.state()
    result = explore(k, depth=2)                                # its search kills the VM, among others
    assert result.states > 1
    assert tl.steps == steps and tl.position == position and k.state() == state
    assert len(qemu_pids(k)) == 1 and k.sh("jobs").stdout.startswith("[1]+  Running")
    assert k.sh("kill %1; undo").status == 0 and len(qemu_pids(k)) == 1


# --- the kernel's snapshots under it ---------------------------------------------------------

def test_a_snapshot_shares_what_did_not_change_and_compares_states():
    k = Kernel.from_scenario("desktop-gpu")
    a = k.snapshot()
    k.sh("cat /sys/kernel/iommu_groups/1/type")
    b = k.snapshot(base=a)
    assert all(x is y for x, y in zip(a.fields, b.fields)) and a.same_state(b)
    k.write("/sys/bus/pci/drivers/snd_hda_intel/unbind", AUDIO)
    c = k.snapshot(base=b)
    assert not c.same_state(b)
    changed = [o for o, x, y in zip(c.objects, b.fields, c.fields) if x is not y]
    assert k.devices[AUDIO] in changed and k.devices["0000:00:1f.6"] not in changed
    k.restore(a)
    assert k.devices[AUDIO].driver.name == "snd_hda_intel" and k.snapshot().same_state(a)


@pytest.mark.parametrize("scenario", ["sriov-2000"])
def test_read_only_lines_on_a_big_machine_take_no_snapshot(scenario, monkeypatch):
    k = Kernel.from_scenario(scenario)
    tl = timeline_for(k)
    taken = []
    real = type(k).snapshot
    monkeypatch.setattr(type(k), "snapshot", lambda self, base=None: taken.append(1) or real(self, base))
    k.sh("ls /sys/bus/pci/devices | tail -1\ncat /sys/kernel/iommu_groups/1/type\nlspci -s 00:00.0")
    assert taken == [] and len(tl.steps) == 1
