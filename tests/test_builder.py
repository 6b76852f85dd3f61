"""The topology builder: every kind of part, toggles, removal, refused edits, the reasons for every
grouping rule, export → load, and the notebook (issue: learners create groups)."""
import json
from pathlib import Path

import pytest

from iommulab import Builder, Kernel, explain_group
from iommulab.builder import CATALOGUE, BuildError

ROOT = Path(__file__).resolve().parent.parent


def click_add(b, part, parent=None):
    b.part.value = part
    b.parent.value = parent or "(root bus)"
    b.add_b.click()
    return b.device.value


def test_add_every_kind_of_part_with_clicks():
    b = Builder()
    port = click_add(b, "root-port")
    assert port == "0000:00:01.0" and b.error.value == ""
    click_add(b, "switch", port)
    down, down2 = [n for n in b.device.options if n.endswith((":08.0", ":09.0"))]
    bridge = click_add(b, "pcie-to-pci-bridge", down)
    click_add(b, "conventional", bridge)
    click_add(b, "conventional", bridge)                 # a conventional PCI bus carries many devices
    click_add(b, "gpu", down2)
    for part in ("nic-sriov", "nvme", "usb", "sata"):    # a port's link carries one device: one port each
        click_add(b, part, click_add(b, "root-port"))
        assert b.error.value == "", (part, b.error.value)
    click_add(b, "eth-dma-pair")
    k = b.machine.kernel
    kinds = {d.kind for d in k.devices.values()}
    assert {"root-port", "upstream-port", "downstream-port", "pcie-to-pci-bridge", "conventional", "endpoint"} <= kinds
    assert k.devices["ethernet@ff0c0000"].iommu_group is k.devices["dma@ff0d0000"].iommu_group
    assert "<svg" in b.graph.value and f"{len(k.devices)} devices" in b.header.value
    assert set(CATALOGUE) == {"root-port", "switch", "pcie-to-pci-bridge", "gpu", "nic-sriov", "nvme", "usb", "sata",
                              "conventional", "eth-dma-pair"}


def test_toggles_rederive_the_groups():
    b = Builder()
    port = click_add(b, "root-port")
    click_add(b, "switch", port)
    down, down2 = [n for n in b.device.options if n.endswith((":08.0", ":09.0"))]
    gpu = click_add(b, "gpu", down)
    nvme = click_add(b, "nvme", down2)
    b.device.value = port
    b.acs.value = False
    assert b.group_of(gpu) == b.group_of(nvme) == b.group_of(port)
    b.acs.value = True
    assert b.group_of(gpu) != b.group_of(nvme)
    audio = gpu[:-1] + "1"
    assert b.group_of(gpu) == b.group_of(audio)          # functions without ACS share
    b.device.value = gpu
    b.acs.value = True                                   # only functions that both lack ACS are merged
    assert b.group_of(gpu) != b.group_of(audio)
    b.acs.value = False
    assert b.group_of(gpu) == b.group_of(audio)
    before = b.machine.to_toml()
    b.mf.value = False                                   # function 0 without it: Linux never reads function 1
    assert "refused" in b.error.value and "next_fn()" in b.error.value
    assert b.machine.to_toml() == before and b.mf.value is True
    b.device.value = audio
    assert b.mf.value is True                            # found beside function 0: multifunction
    b.mf.value = False
    assert "changes nothing" in b.error.value and "pci_scan_slot()" in b.error.value
    assert b.machine.to_toml() == before and b.mf.value is True


def test_stream_ids_and_removal():
    b = Builder()
    eth = click_add(b, "eth-dma-pair")
    dma = [n for n in b.device.options if n.startswith("dma@")][0]
    assert b.group_of(eth) == b.group_of(dma)
    b.device.value = dma
    assert b.streamid.value == "0x800"
    b.streamid.value = "0x900"
    b.streamid_b.click()
    assert b.group_of(eth) != b.group_of(dma)
    port = click_add(b, "root-port")
    click_add(b, "nvme", port)
    b.device.value = port
    b.remove_b.click()
    assert port not in b.machine.kernel.devices and "0000:01:00.0" not in b.machine.kernel.devices


@pytest.mark.parametrize("edit,message", [
    (lambda b, p, e: b.add("nvme", parent=e), "cannot add below 0000:01:00.0: it is an endpoint"),
    (lambda b, p, e: b.add("nvme", parent=p, address="0000:01:00.0"), "0000:01:00.0 is taken"),
    (lambda b, p, e: b.add("usb", parent=p), r"0000:01:01\.0: device 01 below the root port 0000:00:01\.0 cannot exist"),
    (lambda b, p, e: b.add("switch"), "a switch upstream port cannot sit on a root bus"),
    (lambda b, p, e: b.add("usb", parent=p, address="0000:01:00.8"), "functions to 7"),
    (lambda b, p, e: b.add("usb", parent=p, address="1:0.0"), "is not a PCI address"),
    (lambda b, p, e: b.add("usb", parent=p, address="0000:05:00.0"), "is not on bus 01"),
    (lambda b, p, e: b.add("conventional", parent=p), "goes below a PCIe-to-PCI"),
    (lambda b, p, e: b.add("toaster"), "unknown part"),
    (lambda b, p, e: b.set(e, streamid=5), "not a platform device"),
    (lambda b, p, e: b.remove("0000:09:00.0"), "no part"),
])
def test_bad_edits_are_refused_and_change_nothing(edit, message):
    b = Builder()
    port = b.add("root-port")[0]
    end = b.add("nvme", parent=port)[0]
    before, svg = b.machine.to_toml(), b.graph.value
    with pytest.raises(BuildError, match=message):
        edit(b, port, end)
    assert b.machine.to_toml() == before and b.graph.value == svg


def test_refusals_in_the_widget_are_shown_not_raised():
    b = Builder()
    b.part.value = "conventional"
    b.add_b.click()
    assert "refused: a conventional PCI card goes below" in b.error.value and "nothing changed" in b.error.value
    assert b.machine.devices == []


# --- the reasons, one per grouping rule -------------------------------------------------------

def reasons(b, name):
    return " ".join(explain_group(b.machine.kernel, name))


def test_reason_for_each_rule():
    m = Builder()
    port = m.add("root-port")[0]
    m.set(port, acs=False)
    gpu, audio = m.add("gpu", parent=port)
    assert "because root port 0000:00:01.0 has no ACS, so everything below it is one group" in reasons(m, gpu)
    m.set(port, acs=True)
    assert f"{audio} joins {gpu} in group" in reasons(m, audio) and "multifunction device without ACS" in reasons(m, audio)
    bridge = m.add("pcie-to-pci-bridge", parent=m.add("root-port")[0])[0]
    card = m.add("conventional", parent=bridge)[0]
    assert f"behind the PCIe-to-PCI bridge {bridge} the IOMMU sees" in reasons(m, card)
    sw = m.add("switch", parent=m.add("root-port")[0])
    down = sw[1]
    m.set(down, acs=False)
    nvme = m.add("nvme", parent=down)[0]
    assert f"switch downstream port {down} has no ACS" in reasons(m, nvme)
    usb = m.add("usb", parent=sw[2])[0]
    assert "starts group" in reasons(m, usb) and "every port above it up to the root has ACS" in reasons(m, usb)
    eth, dma = m.add("eth-dma-pair")
    assert "share SMMU stream ID 0x800" in reasons(m, dma)
    k = Kernel.from_scenario("nxp-dpaa2")
    assert "objects use their container's ICID" in " ".join(explain_group(k, "dpni.1"))
    k = Kernel.from_scenario("seed-001")
    assert "because the scenario says so (group = 45)" in explain_group(k, "0000:03:00.1")[0]
    assert "iommulab-why" in k.sh("help").stdout


def test_the_why_panel_follows_the_selection():
    b = Builder()
    port = click_add(b, "root-port")
    b.acs.value = False
    click_add(b, "gpu", port)
    assert "has no ACS" in b.why.value
    b.device.value = port
    assert "starts group" in b.why.value


# --- export, load, edit, open ---------------------------------------------------------------------

def partition(k):
    return {frozenset(d.name for d in g.devices) for g in k.iommu_groups.values()}


def test_export_then_load_gives_the_same_groups_and_reasons(tmp_path):
    b = Builder()
    port = b.add("root-port")[0]
    b.set(port, acs=False)
    sw = b.add("switch", parent=port)
    below = list(sw) + b.add("gpu", parent=sw[1]) + b.add("nic-sriov", parent=sw[2])
    eth, dma = b.add("eth-dma-pair")
    # Linux's grouping by hand: pci_device_group() walks up from each device and stops at the
    # first bridge without ACS, so the root port's group takes everything below it; the two
    # platform masters share one SMMU stream ID, hence one group.
    want = {frozenset([port, *below]), frozenset([eth, dma])}
    assert len(below) == 6 and partition(b.machine.kernel) == want
    path = b.export(tmp_path / "built.toml")
    k = Kernel.from_scenario(path)
    assert partition(k) == want
    for name in below:
        assert "because root port 0000:00:01.0 has no ACS" in explain_group(k, name)[0], name
        assert "so everything below it is one group" in explain_group(k, name)[0]
    assert "it sits on the root bus; this root port has no ACS itself" in explain_group(k, port)[0]
    assert "share SMMU stream ID 0x800" in " ".join(explain_group(k, dma))
    again = Builder(path)
    assert partition(again.machine.kernel) == want


def test_a_library_scenario_can_be_edited(tmp_path):
    b = Builder("desktop-gpu")
    assert b.group_of("0000:01:00.0") == b.group_of("0000:00:01.0")
    b.set("0000:00:01.0", acs=True)
    assert b.group_of("0000:01:00.0") != b.group_of("0000:00:01.0")
    explicit = Builder("seed-001")
    assert explicit.derive_b.layout.display is None
    before = explicit.machine.to_toml()
    explicit.derive_b.click()        # the listing has function 1 only: the topology cannot decide
    assert "function 0 of this slot (0000:03:00.0) is missing" in explicit.error.value
    assert explicit.machine.to_toml() == before and explicit.machine.explicit_groups()
    path = tmp_path / "listed.toml"
    path.write_text(before.replace('group = 45', 'group = 45\n\n[[device]]\nname = "0000:03:00.0"\n'
                                   'parent = "0000:00:10.0"\nmultifunction = true\ngroup = 46', 1))
    listed = Builder(str(path))
    listed.derive_b.click()
    assert listed.error.value == "" and not listed.machine.explicit_groups()
    # The port and both functions have ACS (the schema's default): each function is its own group
    assert partition(listed.machine.kernel) == {frozenset(["0000:00:10.0"]), frozenset(["0000:03:00.0"]),
                                                frozenset(["0000:03:00.1"])}
    assert "every port above it up to the root has ACS" in explain_group(listed.machine.kernel, "0000:03:00.1")[0]


def test_open_in_the_lab():
    b = Builder()
    port = b.add("root-port")[0]
    b.add("gpu", parent=port)
    b.open_b.click()
    assert b.lab is not None and b.lab in b.lab_area.children
    assert "<svg" in b.lab.graph.value and b.lab.k.devices.keys() == b.machine.kernel.devices.keys()


@pytest.mark.slow              # runs the notebook in a Jupyter kernel: seconds
def test_build_notebook_runs_top_to_bottom_and_is_stored_clean(tmp_path):
    import shutil
    import nbformat
    from nbclient import NotebookClient
    path = ROOT / "notebooks" / "02-why-groups.ipynb"
    raw = json.loads(path.read_text())
    assert all(not c.get("outputs") and not c.get("execution_count") for c in raw["cells"] if c["cell_type"] == "code")
    shutil.copy(path, tmp_path / path.name)
    nb = nbformat.read(tmp_path / path.name, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "checked: the GPU is isolated from the NVMe drive" in text and (tmp_path / "my-machine.toml").exists()
