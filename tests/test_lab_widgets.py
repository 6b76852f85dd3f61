"""iommulab.Lab driven in-kernel with .click() and .value (issue: the lab)."""
import html
import json
import re
from pathlib import Path

import ipywidgets as W
import pytest

from iommulab import Kernel, Lab

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lab():
    return Lab(Kernel.from_scenario("desktop-gpu"))


def choose(lab, device, driver=None):
    lab.device.value = device
    if driver is not None:
        lab.driver.value = driver


def last_command(lab):
    return lab.shell_out.value.split("\n", 1)[0]


def test_it_shows_the_machine(lab):
    assert "<svg" in lab.graph.value and "IOMMU group 1" in lab.graph.value
    assert bytes(lab.plot_view.value).startswith(b"\x89PNG")
    assert "desktop GPU" in lab.header.value and "8 devices in 6 groups" in lab.header.value
    assert "IOMMU group 1: owner_cnt 2" in lab.describe_view.value
    assert "boot" in lab.events_view.value and "Adding to iommu group" in lab.dmesg_view.value
    assert lab.step.max == 0 and lab.feedback.value == "" and "step 0 of 0" in lab.header.value


def test_override_unbind_bind_and_probe_go_through_sysfs(lab):
    k = lab.k
    choose(lab, "0000:01:00.1", "vfio-pci")
    lab.override_b.click()
    assert last_command(lab) == "<pre>$ echo vfio-pci &gt; /sys/bus/pci/devices/0000:01:00.1/driver_override"
    lab.unbind_b.click()
    assert k.devices["0000:01:00.1"].driver is None and k.iommu_groups[1].owner_cnt == 1
    assert "▶ 0000:01:00.1" in lab.graph.value
    lab.bind_b.click()
    assert k.devices["0000:01:00.1"].driver.name == "vfio-pci"
    lab.unbind_b.click()
    lab.probe_b.click()                                        # drivers_probe follows the override
    assert k.devices["0000:01:00.1"].driver.name == "vfio-pci"
    lab.unbind_b.click()
    lab.clear_b.click()
    assert k.devices["0000:01:00.1"].driver_override is None
    lab.probe_b.click()
    assert k.devices["0000:01:00.1"].driver.name == "snd_hda_intel"
    assert lab.step.max == 8


def test_a_refusal_names_errno_text_and_rule(lab):
    choose(lab, "0000:01:00.1", "vfio-pci")
    lab.bind_b.click()                                          # vfio-pci matches nothing by itself
    assert "-ENODEV" in lab.error.value and "driver_override" in lab.error.value
    lab.override_b.click()
    lab.bind_b.click()                                          # matches now, but still bound to snd_hda_intel
    assert "-EBUSY" in lab.error.value and "Device or resource busy" in lab.error.value
    assert "0000:01:00.1 is already bound to snd_hda_intel" in lab.error.value
    lab.unbind_b.click()
    assert "refused" not in lab.feedback.value and "snd_hda_intel → no driver" in lab.feedback.value


def test_vm_refused_then_started_then_stopped_over_both_paths():
    for path in ("legacy VFIO", "iommufd"):
        lab = Lab(Kernel.from_scenario("desktop-gpu"))
        k = lab.k
        lab.shell_in.value = ("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override\n"
                              "echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind\n"
                              "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind")
        lab.shell_run.click()
        lab.vm_devices.value = ("0000:01:00.0",)
        lab.vm_path.value = path
        lab.vm_start.click()
        if path == "legacy VFIO":
            assert "not viable" in lab.error.value
            assert "group 1 has owner_cnt 1: 0000:01:00.1 is bound to snd_hda_intel, a kernel DMA driver" in lab.error.value
        else:
            assert "-EPERM" in lab.error.value and "0000:01:00.1 is bound to snd_hda_intel" in lab.error.value
        choose(lab, "0000:01:00.1", "vfio-pci")
        lab.override_b.click()
        lab.unbind_b.click()
        lab.bind_b.click()
        lab.vm_devices.value = ("0000:01:00.0", "0000:01:00.1")
        lab.vm_start.click()
        assert "refused" not in lab.feedback.value and k.iommu_groups[1].owner is not None
        assert "owner NULL → vfio_group:1" in lab.feedback.value or "owner NULL → ictx" in lab.feedback.value
        assert "user space" in lab.graph.value and lab.vm_job.value == 1
        lab.vm_stop.click()
        assert k.iommu_groups[1].owner is None and lab.vm_job.options == ()


def test_machine_actions_rescan_remove_sriov_type_reboot():
    lab = Lab(Kernel.from_scenario("server-sriov"))
    k = lab.k
    lab.m_device.value = "0000:3b:00.0"                        # the machine tab's own device choice
    lab.numvfs.value = 2
    lab.sriov_b.click()
    assert "0000:3b:02.1" in k.devices and "0000:3b:02.1" in lab.device.options
    lab.numvfs.value = 0
    lab.sriov_b.click()
    assert "0000:3b:02.1" not in k.devices
    choose(lab, "0000:3b:00.0")                                 # the drivers tab's choice does not count
    lab.m_device.value = "0000:5e:00.0"
    lab.remove_b.click()
    assert "0000:5e:00.0" not in k.devices
    lab.rescan_b.click()
    assert "0000:5e:00.0" in k.devices
    lab.group.value = k.devices["0000:5e:00.0"].iommu_group.id
    lab.gtype.value = "identity"
    lab.type_b.click()
    assert "-EPERM" in lab.error.value and "nvme, a kernel DMA driver" in lab.error.value
    lab.group.value = 0
    lab.type_b.click()
    assert "refused" not in lab.feedback.value and k.read("/sys/kernel/iommu_groups/0/type") == "identity\n"
    lab.reboot_b.click()
    assert k.read("/sys/kernel/iommu_groups/0/type") == "DMA-FQ\n"


def svg_texts(svg):
    return sorted(re.findall(r">([^<>]+)</text>", svg))


def test_undo_and_the_step_slider(lab):
    k = lab.k
    lab.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    lab.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind")
    assert k.iommu_groups[1].owner_cnt == 0 and lab.step.max == 2
    png_now, svg_now = lab.plot_view.value, lab.graph.value
    lab.step.value = 0                                          # the past: picture and plot as they were
    assert k.iommu_groups[1].owner_cnt == 2 and "viewing the past" in lab.header.value
    assert lab.graph.value != svg_now and lab.plot_view.value != png_now
    lab.now_b.click()
    assert k.iommu_groups[1].owner_cnt == 0 and lab.step.value == 2
    assert svg_texts(lab.graph.value) == svg_texts(svg_now)     # the same picture (its clusters' order may differ)
    lab.undo_b.click()
    assert k.iommu_groups[1].owner_cnt == 1 and lab.step.max == 1
    lab.undo_b.click()
    assert k.iommu_groups[1].owner_cnt == 2 and lab.step.max == 0
    lab.undo_b.click()
    assert "nothing to undo" in lab.error.value


def test_acting_in_the_past_starts_a_new_branch(lab):
    k = lab.k
    lab.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    lab.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind")
    lab.step.value = 1
    lab.sh("echo 0000:00:1f.6 > /sys/bus/pci/drivers/e1000e/unbind")
    assert lab.step.max == 2 and k.devices["0000:01:00.0"].driver.name == "nouveau"


def test_callbacks_never_raise(lab):
    lab.device.options = []
    lab.bind_b.click()
    assert "choose a device first" in lab.error.value
    lab.vm_stop.click()
    assert "no VM is running" in lab.error.value
    lab.shell_in.value = "echo 'unterminated"
    lab.shell_run.click()
    assert "syntax error" in lab.shell_out.value


def log_lines(lab):
    """The log's lines, newest first: (modifier class, text)."""
    return [(m.group(1), html.unescape(re.sub(r"<[^>]+>", "", m.group(2))))
            for m in re.finditer(r'<div class="iommulab-log-line (\w+)">(.*?)</div>', lab.log_view.value)]


UNBIND_AUDIO = "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind"
TO_VFIO = ("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override\n"
           "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.1/driver_override\n"
           "echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind\n"
           "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
           "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind\n"
           "echo 0000:01:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
QEMU = "qemu-system-x86_64 -m 4G -device vfio-pci,host=0000:01:00.0 -device vfio-pci,host=0000:01:00.1 &"


def test_the_feedback_sits_by_the_action_tabs_and_the_log_keeps_every_action(lab):
    side = list(lab.side.children)
    assert side.index(lab.feedback) == side.index(lab.actions) + 1          # not below the picture
    assert lab.feedback not in lab.children and "iommulab-feedback" in lab.feedback._dom_classes
    assert lab.log_view in side and side.index(lab.log_view) < side.index(lab.plot_view)
    lab.sh(UNBIND_AUDIO)
    assert "step 1 — group 1: owner_cnt 2 → 1; 0000:01:00.1: snd_hda_intel → no driver" in \
        re.sub(r"<[^>]+>", "", lab.feedback.value)
    assert log_lines(lab)[0][0] == "changed" and log_lines(lab)[0][1].startswith("step 1 — ")
    assert f"$ {UNBIND_AUDIO}" in log_lines(lab)[0][1]            # the shell text that ran


def test_a_refusal_changes_nothing_claims_nothing_and_a_repeat_is_a_new_line(lab):
    choose(lab, "0000:01:00.1", "vfio-pci")
    lab.bind_b.click()
    first = lab.feedback.value
    assert "refused: -ENODEV" in first and "changed" not in first and lab.step.max == 0
    lab.bind_b.click()                                          # the same refusal again
    assert [c for c, _ in log_lines(lab)] == ["refused", "refused"]
    assert all(t.startswith("step 0 — refused: -ENODEV") for _, t in log_lines(lab))
    assert lab.feedback.value != first and "again: 2×" in lab.feedback.value   # the second click shows
    assert lab.step.max == 0


def test_each_line_of_a_script_gets_its_own_entry_and_each_failure_its_reason(lab):
    lab.sh("ls /sys/bus/pci/devices\n"
           "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind\n"
           f"{UNBIND_AUDIO}\n"
           "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind")
    got = list(reversed(log_lines(lab)))                        # oldest first
    assert [c for c, _ in got] == ["nochange", "refused", "changed", "refused"]
    assert got[0][1].startswith("step 0 — nothing changed")
    assert got[1][1].startswith("step 0 — refused: -ENODEV") and got[3][1].startswith("step 1 — refused: -ENODEV")
    assert got[2][1].startswith("step 1 — group 1: owner_cnt 2 → 1")
    text = re.sub(r"<[^>]+>", "", lab.feedback.value)
    assert "4 lines ran" in text and text.count("refused: -ENODEV") == 2 and "does not match" in text
    assert lab.step.max == 1                                    # read-only and refused lines add no step


def test_a_script_that_changes_several_things_says_what_each_line_changed(lab):
    lab.sh(TO_VFIO)
    got = [t for _, t in reversed(log_lines(lab))]
    assert got[0].startswith("step 1 — 0000:01:00.0: driver_override (none) → vfio-pci")
    assert got[2].startswith("step 3 — group 1: owner_cnt 2 → 1; 0000:01:00.0: nouveau → no driver")
    assert got[3].startswith("step 4 — group 1: owner_cnt 1 → 0; 0000:01:00.1: snd_hda_intel → no driver")
    assert got[5].startswith("step 6 — 0000:01:00.1: no driver → vfio-pci")
    assert lab.k.devices["0000:01:00.1"].driver.name == "vfio-pci"           # the machine is where it was left
    assert lab.step.max == 6 and lab.step.value == 6


def test_a_blocked_unbind_is_pending_then_completes_as_its_own_entry(lab):
    lab.sh(TO_VFIO)
    lab.sh(QEMU)
    lab.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind")
    kind, text = log_lines(lab)[0]
    assert kind == "pending" and "waiting" in text and "job [2]" in text
    assert 'class="iommulab-feedback-line pending"' in lab.feedback.value
    assert "PendingWrite" not in lab.events_view.value and "waiting" in lab.events_view.value
    lab.vm_stop.click()                                         # QEMU lets go: the write goes through
    (k1, t1), (k2, t2) = log_lines(lab)[:2]
    # two steps: the kill (QEMU ends, the group is released), then the woken writer's return (the unbind)
    assert k1 == "completed" and "0000:01:00.0 unbound: the blocked write to /sys/bus/pci/drivers/vfio-pci/unbind" in t1
    assert t1.startswith("step 10 — ") and "0000:01:00.0: vfio-pci → no driver" in t1
    assert k2 == "changed" and t2.startswith("step 9 — ") and "kill %1" in t2 and "qemu-system-x86_64 [1001] ended" in t2
    assert "vfio-pci → no driver" not in t2
    assert "completed" in lab.feedback.value and lab.k.devices["0000:01:00.0"].driver is None
    assert lab.step.value == lab.step.max == 10


def test_undo_after_kill_brings_back_the_vm_and_marks_the_output_stale(lab):
    lab.sh(TO_VFIO)
    lab.sh(QEMU)
    lab.vm_stop.click()
    assert lab.vm_job.options == () and "kill %1" in lab.shell_out.value
    lab.undo_b.click()
    assert "output of an undone step" in lab.shell_out.value and "iommulab-stale-output" in lab.shell_out._dom_classes
    assert lab.vm_job.value == 1 and "took back step 8 (kill %1)" in lab.feedback.value
    lab.sh("jobs")
    assert "Running" in lab.shell_out.value and "qemu-system-x86_64" in lab.shell_out.value
    lab.sh("ps")
    assert "1001 pts/0" in lab.shell_out.value and lab.step.max == 7     # ps agrees; read-only: no step


def test_slider_undo_and_header_count_the_same_steps(lab):
    assert lab.step.description == "step"
    lab.sh(UNBIND_AUDIO)
    lab.sh("ls /sys")                                           # no step for a read-only line
    lab.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind")
    assert lab.step.max == 2 and "step 2 of 2" in lab.header.value
    assert log_lines(lab)[0][1].startswith("step 2 — ")
    lab.step.value = 1
    assert "viewing the past: step 1 of 2" in lab.header.value
    assert "output of step 2" in lab.shell_out.value and "showing step 1 of 2" in lab.feedback.value
    lab.now_b.click()
    assert "iommulab-stale" not in lab.shell_out.value


def test_no_driver_chosen_disables_bind_and_never_types_none(lab):
    choose(lab, "0000:00:00.0")                                 # the host bridge: no driver
    assert lab.driver.value is None and lab.bind_b.disabled and lab.override_b.disabled
    lab.bind_b.click()                                          # a click that gets through anyway
    assert "choose a driver first" in lab.feedback.value and lab.shell_out.value == ""
    assert "None" not in lab.log_view.value
    choose(lab, "0000:01:00.1", "vfio-pci")
    assert not lab.bind_b.disabled


def test_the_vm_list_shows_endpoints_fits_its_rows_and_says_how_to_choose_several(lab):
    opts = list(lab.vm_devices.options)
    assert "0000:00:01.0" not in opts and "0000:00:00.0" not in opts             # bridges are not offered
    assert "0000:01:00.0" in opts and "0000:01:00.1" in opts
    assert lab.vm_devices.rows == min(8, len(opts)) and "Ctrl/Shift-click" in lab.vm_hint.value


def test_enter_runs_the_shell_box_and_empties_it(lab):
    script = UNBIND_AUDIO + "\nls /sys/bus/pci/drivers/snd_hda_intel"     # Shift+Enter made the second line
    lab.shell_in._message(lab.shell_in, {"event": "enter", "value": script}, [])   # what the browser sends
    assert lab.k.devices["0000:01:00.1"].driver is None and lab.shell_in.value == ""
    assert html.escape(UNBIND_AUDIO) in lab.shell_out.value and "bind" in lab.shell_out.value
    lab.shell_in._message(lab.shell_in, {"event": "enter", "value": "   "}, [])   # an empty box runs nothing
    assert [e.line for e in lab.last_entries][-1] == "ls /sys/bus/pci/drivers/snd_hda_intel"
    lab.shell_in._message(lab.shell_in, {"event": "other"}, [])             # not ours: ignored
    lab.shell_in.value = "jobs"
    lab.shell_run.click()                                              # the run button runs the box, keeps it
    assert lab.shell_in.value == "jobs" and "$ jobs" in lab.shell_out.value


def test_a_panel_slot_and_an_after_action_callback():
    panel = W.HTML("goal")
    lab = Lab(Kernel.from_scenario("desktop-gpu"), panel=panel)
    seen = []
    lab.on_action(lambda: seen.append(lab.timeline.position))
    assert list(lab.side.children).index(panel) == list(lab.side.children).index(lab.feedback) + 1
    lab.sh(UNBIND_AUDIO)
    lab.undo_b.click()
    assert seen == [1, 0]

    def broken():
        raise RuntimeError("listener fell over")
    lab.on_action(broken)
    lab.sh(UNBIND_AUDIO)                                        # never raises into the notebook
    assert "listener fell over" in lab.feedback.value and lab.k.devices["0000:01:00.1"].driver is None


def test_the_plot_is_shown_at_its_own_size(lab):
    assert lab.plot_view.layout.width == "auto" and lab.plot_view.layout.max_width == "100%"
    assert lab.plot_view.layout.align_self == "flex-start"                 # not stretched to the column


@pytest.mark.slow              # runs the notebook in a Jupyter kernel: seconds
def test_notebook_runs_top_to_bottom_and_is_stored_clean():
    import nbformat
    from nbclient import NotebookClient
    path = ROOT / "notebooks" / "00-quickstart.ipynb"
    raw = json.loads(path.read_text())
    assert all(not c.get("outputs") and not c.get("execution_count") for c in raw["cells"] if c["cell_type"] == "code")
    assert "widgets" not in raw["metadata"]
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "group 1 is not viable" in text and "owner=vfio_group:1" in text
