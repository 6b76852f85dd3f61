"""The sample host listings shipped in the package (iommulab/data/hosts/, for learners without a
Linux host; notebook 10 reads them): each is found with importlib.resources, its README says where
it came from, and each imports — through iommulab.hostimport and through `iommulab import-host` —
into a scenario that boots with exactly the groups (and, where the listing shows them, the drivers)
that the listing shows. The listing is read here with regular expressions of its own, not with the
importer's parser, so that the two can disagree."""
import re
from importlib.resources import as_file, files

import pytest

from iommulab import Kernel
from iommulab.cli import main as cli
from iommulab.hostimport import import_text

HOSTS = files("iommulab") / "data" / "hosts"
SAMPLES = sorted(p.name for p in HOSTS.iterdir() if p.name.endswith(".txt") and p.name != "README.txt")
ADDR = r"(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]"


def full(addr):
    return addr if addr.count(":") == 2 else "0000:" + addr


def listed(text):
    """(groups: number -> sorted members, drivers: device -> driver) as the listing shows them."""
    groups, drivers = {}, {}
    group, last = None, None
    for line in text.splitlines():
        if m := re.match(r"^IOMMU [Gg]roup (\d+):?\s*$", line):                      # the loop
            group = int(m.group(1))
        elif m := re.match(rf"^IOMMU [Gg]roup (\d+) ({ADDR}) ", line):                  # the one-line loop
            groups.setdefault(int(m.group(1)), []).append(full(m.group(2)))
        elif m := re.match(rf"^\s+({ADDR}) ", line):
            last = full(m.group(1))
            groups.setdefault(group, []).append(last)
        elif m := re.match(rf"^({ADDR}) \S", line):                                      # lspci -vvv's block
            last = full(m.group(1))
        elif m := re.match(r"^\s+Kernel driver in use: (\S+)$", line):
            drivers[last] = m.group(1)
        elif m := re.match(r"^/sys/kernel/iommu_groups/(\d+)/devices:$", line):       # ls -l
            group = int(m.group(1))
        elif m := re.match(rf"^l\S+ .* ({ADDR}) -> \S+$", line):
            groups.setdefault(group, []).append(full(m.group(1)))
        elif m := re.match(rf"^/sys/kernel/iommu_groups/(\d+)/devices/({ADDR})$", line):  # find
            groups.setdefault(int(m.group(1)), []).append(full(m.group(2)))
    return {n: sorted(m) for n, m in groups.items()}, drivers


def booted(k):
    st = k.state()
    groups = {n: sorted(g["devices"]) for n, g in st["groups"].items()}
    drivers = {n: d["driver"] for n, d in st["devices"].items() if d["driver"]}
    return groups, drivers


def test_there_are_three_or_four_samples_and_a_readme_that_names_each():
    assert 3 <= len(SAMPLES) <= 4
    readme = (HOSTS / "README.txt").read_text(encoding="utf-8")
    for name in SAMPLES:
        assert re.search(rf"^{re.escape(name)}$", readme, re.M), f"README.txt does not say where {name} came from"


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_imports_into_a_scenario_that_boots_with_the_listed_groups(name):
    text = (HOSTS / name).read_text(encoding="utf-8")
    want_groups, want_drivers = listed(text)
    assert want_groups, f"{name}: the test's own reading found no groups"
    k = Kernel.from_toml(import_text(text, name))
    groups, drivers = booted(k)
    assert groups == want_groups
    assert drivers == want_drivers          # samples without driver lines boot with no driver bound
    for n, members in groups.items():       # each listed device is where the listing says
        for d in members:
            assert k.devices[d].iommu_group.id == n


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_through_the_command_line(name, tmp_path, capsys):
    out = tmp_path / "my-machine.toml"
    with as_file(HOSTS / name) as path:
        assert cli(["import-host", str(path), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    text = (HOSTS / name).read_text(encoding="utf-8")
    assert booted(Kernel.from_toml(out.read_text(encoding="utf-8")))[0] == listed(text)[0]


def test_a_gpu_sample_can_be_passed_through_after_its_group_leaves_the_host():
    """The notebook's default sample has a planning problem worth having: a GPU whose group holds a
    second function on a kernel DMA driver, and a port on pcieport that may stay."""
    text = (HOSTS / "intel-desktop-gpu.txt").read_text(encoding="utf-8")
    k = Kernel.from_toml(import_text(text, "intel-desktop-gpu.txt"))
    st = k.state()
    gpu = next(n for n, d in k.devices.items() if d.class_code >> 16 == 0x03 and st["devices"][n]["driver"] == "nouveau")
    n = st["devices"][gpu]["group"]
    on_kernel_dma = [d for d in st["groups"][n]["devices"] if st["devices"][d]["managed"] is False]
    assert gpu in on_kernel_dma and len(on_kernel_dma) >= 2
    script = "".join(f"echo {d} > /sys/bus/pci/drivers/{st['devices'][d]['driver']}/unbind\n" for d in on_kernel_dma)
    script += (f"echo vfio-pci > /sys/bus/pci/devices/{gpu}/driver_override\n"
               f"echo {gpu} > /sys/bus/pci/drivers/vfio-pci/bind\n"
               f"qemu-system-x86_64 -device vfio-pci,host={gpu} &\n")
    k.sh(script)
    after = k.state()
    assert any(gpu in p["holds"]["devices"] for p in after["processes"].values())
    assert any(after["devices"][d]["driver"] == "pcieport" for d in after["groups"][n]["devices"])
