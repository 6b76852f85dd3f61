"""iommulab import-host on every input format, on the published real listings, and on garbage."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iommulab import Kernel
from iommulab.hostimport import ImportError_, import_text, parse_dirs, parse_live, parse_text, to_document
from iommulab.scenario_file import to_toml

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "data" / "real-hosts"      # a copy of ../shared/ground-truth/real-hosts (test_data.py)


def boot(text, **kw):
    return Kernel.from_toml(import_text(text, "listing.txt", **kw))


def groups(k):
    return {str(n): [d.name for d in g.devices] for n, g in k.iommu_groups.items()}


@pytest.mark.parametrize("name", sorted(p.stem for p in REAL.glob("*.txt")))
def test_published_real_listings(name):
    expected = json.loads((REAL / f"{name}.expected.json").read_text())
    k = boot((REAL / f"{name}.txt").read_text())
    assert groups(k) == expected["groups"]
    for dev, facts in expected.get("devices", {}).items():
        d = k.devices[dev]
        assert d.id == facts["id"] and f"{d.class_code >> 8:04x}" == facts["class"]
        assert (d.driver.name if d.driver else None) == facts["driver"]


LOOP_K = """\
IOMMU Group 1:
\t00:01.0 PCI bridge [0604]: Intel Corporation 6th-10th Gen Core Processor PCIe Controller (x16) [8086:1901] (rev 07)
\t\tKernel driver in use: pcieport
\t01:00.0 VGA compatible controller [0300]: NVIDIA Corporation TU104 [GeForce RTX 2080] [10de:1e87] (rev a1)
\t\tSubsystem: eVga.com. Corp. Device [3842:2183]
\t\tKernel driver in use: vfio-pci
\t\tKernel modules: nouveau, nvidia_drm, nvidia
\t01:00.1 Audio device [0403]: NVIDIA Corporation TU104 HD Audio Controller [10de:10f8] (rev a1)
\t\tKernel driver in use: snd_hda_intel
\t\tKernel modules: snd_hda_intel
IOMMU Group 2:
\t02:00.0 Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd NVMe SSD Controller SM981/PM981/PM983 [144d:a808]
\t\tKernel driver in use: nvme
"""


def test_loop_with_driver_lines():
    k = boot(LOOP_K)
    assert groups(k) == {"1": ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"], "2": ["0000:02:00.0"]}
    assert {n: d.driver.name for n, d in k.devices.items()} == {
        "0000:00:01.0": "pcieport", "0000:01:00.0": "vfio-pci", "0000:01:00.1": "snd_hda_intel",
        "0000:02:00.0": "nvme"}
    assert k.devices["0000:00:01.0"].kind == "root-port"
    assert k.iommu_groups[1].owner_cnt == 1                      # snd_hda_intel counts
    assert not k.drivers["snd_hda_intel"].driver_managed_dma
    assert k.sh("lspci -nn -s 02:00.0").stdout == ("02:00.0 Non-Volatile memory controller [0108]: Samsung "
                                                   "Electronics Co Ltd NVMe SSD Controller SM981/PM981/PM983 [144d:a808]\n")


def test_one_line_variant_domains_and_prompts():
    text = ("user@host:~$ for d in /sys/kernel/iommu_groups/*/devices/*; do ...; done\n"
            "IOMMU Group 0 0000:00:00.0 Host bridge [0600]: Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex [1022:1480]\n"
            "IOMMU Group 13 0000:0a:00.0 Ethernet controller [0200]: Realtek Semiconductor Co., Ltd. RTL8125 2.5GbE Controller [10ec:8125] (rev 05)\n")
    k = boot(text)
    assert groups(k) == {"0": ["0000:00:00.0"], "13": ["0000:0a:00.0"]}
    assert k.devices["0000:0a:00.0"].vendor_name == "Realtek Semiconductor Co., Ltd."


def test_plain_lspci_without_numbers_and_non_pci_members():
    text = ("IOMMU Group 0:\n\t00:00.0 PCI bridge: Broadcom Inc. and subsidiaries BCM2711 PCIe Bridge (rev 20)\n"
            "IOMMU Group 3:\n\tfe300000.ethernet\n\tfe007000.dma\n"
            "IOMMU Group 4:\n\tdprc.1\n")
    k = boot(text)
    assert groups(k) == {"0": ["0000:00:00.0"], "3": ["fe300000.ethernet", "fe007000.dma"], "4": ["dprc.1"]}
    assert k.devices["fe300000.ethernet"].bus.name == "platform" and k.devices["dprc.1"].bus.name == "fsl-mc"


LS = """\
/sys/kernel/iommu_groups/0/devices:
total 0
lrwxrwxrwx 1 root root 0 Mar  3 10:15 0000:00:00.0 -> ../../../../devices/pci0000:00/0000:00:00.0

/sys/kernel/iommu_groups/1/devices:
total 0
lrwxrwxrwx 1 root root 0 Mar  3 10:15 0000:00:01.0 -> ../../../../devices/pci0000:00/0000:00:01.0
lrwxrwxrwx 1 root root 0 Mar  3 10:15 0000:01:00.0 -> ../../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0
lrwxrwxrwx 1 root root 0 Mar  3 10:15 0000:01:00.1 -> ../../../../devices/pci0000:00/0000:00:01.0/0000:01:00.1

/sys/kernel/iommu_groups/7/devices:
total 0
lrwxrwxrwx 1 root root 0 Mar  3 10:15 fe300000.ethernet -> ../../../../devices/platform/scb/fe300000.ethernet
"""


def test_ls_l_recovers_parents():
    k = boot(LS)
    assert groups(k) == {"0": ["0000:00:00.0"], "1": ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"],
                         "7": ["fe300000.ethernet"]}
    assert k.devices["0000:01:00.1"].parent == "0000:00:01.0"
    assert k.devices["0000:00:01.0"].kind == "pci-bridge"           # a bridge; no pcieport line was shown


def test_plain_ls_lists_names_after_each_header():
    text = ("/sys/kernel/iommu_groups/0/devices:\n0000:00:00.0\n\n"
            "/sys/kernel/iommu_groups/1/devices:\n0000:00:01.0  0000:01:00.0  0000:01:00.1\n")
    assert groups(boot(text)) == {"0": ["0000:00:00.0"], "1": ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]}


def test_find_output_unsorted():
    text = ("/sys/kernel/iommu_groups/2/devices/0000:00:14.2\n/sys/kernel/iommu_groups/0/devices/0000:00:00.0\n"
            "/sys/kernel/iommu_groups/2/devices/0000:00:14.0\n")
    k = boot(text)
    assert groups(k) == {"0": ["0000:00:00.0"], "2": ["0000:00:14.0", "0000:00:14.2"]}   # enumeration order


@pytest.mark.parametrize("text,line,problem", [
    ("\tKernel driver in use: nvme\n", 1, "a driver line that follows no device"),
    ("/sys/kernel/iommu_groups/1/devices/0000:01:00.0\n/sys/kernel/iommu_groups/2/devices/0000:01:00.0\n", 2,
     "0000:01:00.0 is listed in groups 1 and 2"),
    ("lrwxrwxrwx 1 root root 0 Mar  3 10:15 0000:00:00.0 -> ../../devices/pci0000:00/0000:00:00.0\n", 1, "ls -l entry"),
    ("", 0, "no IOMMU groups found"),
    ("IOMMU Group x:\n", 1, "not part of an IOMMU group listing"),
])
def test_garbage_names_the_line(text, line, problem):
    """Nothing to import: the first line that could not be read, and why."""
    with pytest.raises(ImportError_) as e:
        import_text(text, "paste.txt")
    msg = str(e.value)
    assert problem in msg and (f"paste.txt: line {line}" in msg if line else msg.startswith("paste.txt"))


def fake_sys(tmp_path):
    """A small /sys-like tree: groups with relative links into devices, PCI attribute files."""
    sysroot = tmp_path / "sys"
    devs = sysroot / "devices" / "pci0000:00"
    (devs / "0000:00:01.0" / "0000:01:00.0").mkdir(parents=True)
    pci = sysroot / "bus" / "pci" / "devices"
    pci.mkdir(parents=True)
    drivers = sysroot / "bus" / "pci" / "drivers"
    (drivers / "vfio-pci").mkdir(parents=True)
    for name, path, vid, did, cls in [("0000:00:01.0", devs / "0000:00:01.0", "0x8086", "0x1901", "0x060400"),
                                      ("0000:01:00.0", devs / "0000:00:01.0" / "0000:01:00.0", "0x10de", "0x1e87", "0x030000")]:
        for f, v in (("vendor", vid), ("device", did), ("class", cls)):
            (path / f).write_text(v + "\n")
        os.symlink(os.path.relpath(path, pci), pci / name)
    os.symlink(os.path.relpath(drivers / "vfio-pci", devs / "0000:00:01.0" / "0000:01:00.0"),
               devs / "0000:00:01.0" / "0000:01:00.0" / "driver")
    outside = tmp_path / "secret"
    outside.write_text("0x1234\n")
    os.symlink(outside, devs / "0000:00:01.0" / "revision")          # a link out of /sys: never read
    g = sysroot / "kernel" / "iommu_groups" / "1" / "devices"
    g.mkdir(parents=True)
    (sysroot / "kernel" / "iommu_groups" / "1" / "type").write_text("identity\n")
    for name, path in [("0000:00:01.0", devs / "0000:00:01.0"), ("0000:01:00.0", devs / "0000:00:01.0" / "0000:01:00.0")]:
        os.symlink(os.path.relpath(path, g), g / name)
    return sysroot


def test_live_reads_sys_without_leaving_it(tmp_path):
    sysroot = fake_sys(tmp_path)
    lst = parse_live(str(sysroot))
    k = Kernel.from_toml(to_toml(to_document(lst)))
    assert groups(k) == {"1": ["0000:00:01.0", "0000:01:00.0"]}
    assert k.devices["0000:01:00.0"].id == "10de:1e87" and k.devices["0000:01:00.0"].driver.name == "vfio-pci"
    assert k.devices["0000:01:00.0"].parent == "0000:00:01.0"
    assert k.devices["0000:00:01.0"].revision is None                # the outside link was not followed
    assert k.read("/sys/kernel/iommu_groups/1/type") == "identity\n"  # every group was identity


def test_directory_copy(tmp_path):
    sysroot = fake_sys(tmp_path)
    lst = parse_dirs(str(sysroot / "kernel" / "iommu_groups"))
    assert sorted(lst.devices) == ["0000:00:01.0", "0000:01:00.0"] and "id" not in lst.devices["0000:01:00.0"]


def cli(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "iommulab.cli", "import-host", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT)


def test_cli_stdin_file_and_errors(tmp_path):
    r = cli(stdin=LOOP_K)
    assert r.returncode == 0 and 'name = "0000:01:00.0"' in r.stdout and "group = 1" in r.stdout
    out = tmp_path / "mine.toml"
    r = cli(str(REAL / "fuji-c236.txt"), "-o", str(out), "--version", "6.1")
    assert r.returncode == 0 and "14 groups" in r.stderr
    k = Kernel.from_scenario(str(out))
    assert k.f.release == "6.1" and len(k.iommu_groups) == 14
    r = cli(stdin="this is not a listing\n")
    assert r.returncode == 2 and "<stdin>: line 1: not part of an IOMMU group listing" in r.stderr
    r = cli(str(tmp_path / "nope.txt"))
    assert r.returncode == 2 and "No such file or directory" in r.stderr
    sysroot = fake_sys(tmp_path / "live")
    r = cli("--live", "--sys-root", str(sysroot))
    assert r.returncode == 0 and 'driver = "vfio-pci"' in r.stdout


def test_a_listing_with_a_line_it_cannot_read_imports_the_rest_and_says_which(capsys, tmp_path):
    """Issue 17's rule: import everything readable; list what was skipped, with its line and why."""
    paste = tmp_path / "paste.txt"
    paste.write_text("IOMMU Group 1:\n\t01:00.0 VGA [0300]: X [10de:1e87]\nhello world\n")
    lst = parse_text(paste.read_text(), "paste.txt")
    assert list(lst.devices) == ["0000:01:00.0"] and [(n, t) for n, t, _ in lst.skipped] == [(3, "hello world")]
    from iommulab import cli
    assert cli.main(["import-host", str(paste), "-o", str(tmp_path / "mine.toml")]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 line (not imported):" in err and "line 3: 'hello world' — not part of an IOMMU group listing" in err
