"""iommulab.Lab driven in-kernel with .click() and .value (issue: the lab)."""
import json
from pathlib import Path

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
    assert lab.step.max == 0 and lab.error.value == ""


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
    assert "-ENODEV" in lab.error.value and "set its driver_override first" in lab.error.value
    lab.override_b.click()
    lab.bind_b.click()                                          # matches now, but still bound to snd_hda_intel
    assert "-EBUSY" in lab.error.value and "Device or resource busy" in lab.error.value
    assert "0000:01:00.1 is already bound to snd_hda_intel" in lab.error.value
    lab.unbind_b.click()
    assert lab.error.value == ""


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
        assert lab.error.value == "" and k.iommu_groups[1].owner is not None
        assert "user space" in lab.graph.value and lab.vm_job.value == 1
        lab.vm_stop.click()
        assert k.iommu_groups[1].owner is None and lab.vm_job.options == ()


def test_machine_actions_rescan_remove_sriov_type_reboot():
    lab = Lab(Kernel.from_scenario("server-sriov"))
    k = lab.k
    choose(lab, "0000:3b:00.0")
    lab.numvfs.value = 2
    lab.sriov_b.click()
    assert "0000:3b:02.1" in k.devices and "0000:3b:02.1" in lab.device.options
    lab.numvfs.value = 0
    lab.sriov_b.click()
    assert "0000:3b:02.1" not in k.devices
    choose(lab, "0000:5e:00.0")
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
    assert lab.error.value == "" and k.read("/sys/kernel/iommu_groups/0/type") == "identity\n"
    lab.reboot_b.click()
    assert k.read("/sys/kernel/iommu_groups/0/type") == "DMA-FQ\n"


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
    assert lab.graph.value == svg_now
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
