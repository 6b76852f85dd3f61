"""The passthrough report (iommulab/hostreport.py) and its commands: `import-host` prints it after its
summary, `iommulab why --host`, and `iommulab lab` (the notebook it writes and the command it runs).

The expected paragraphs below were written after reading each machine's listing (or scenario): its
groups, classes and drivers; then pinned. Three real listings (tests/data/real-hosts), two of the
package's sample listings (iommulab/data/hosts) and two library scenarios whose groups the simulator
derives itself (so the report's why is the kernel's replay, not "usually")."""
import json
import os
import textwrap
from importlib.resources import files

import pytest

from iommulab import cli
from iommulab.hostimport import import_text
from iommulab.hostreport import device_kind, device_reports, report
from iommulab.kernel import explain
from iommulab.kernel.kernel import Kernel

REAL = "tests/data/real-hosts"          # the shared ground truth's copy
CORPUS = "tests/data/corpus"             # our own corpus of real listings (issue 17)


def listing(machine):
    return f"{REAL}/{machine}.txt" if os.path.exists(f"{REAL}/{machine}.txt") else f"{CORPUS}/{machine}.txt"

PINNED = {
    'asrock-z170-itx': [
        ('The GPU 0000:00:02.0 (VGA compatible controller) is alone in IOMMU group 2: ready for '
         'passthrough; only its own driver has to let it go.'),
        ('The USB controller 0000:00:14.0 shares IOMMU group 3 only with its own function '
         '0000:00:14.2 (Signal processing controller): ready for passthrough, once all functions '
         "have left the host's kernel DMA drivers (to vfio-pci, or no driver); only 0000:00:14.0 "
         'needs to go to the VM.'),
        ('The network controller 0000:00:1f.6 (Ethernet controller) is alone in IOMMU group 11: '
         'ready for passthrough; only its own driver has to let it go.'),
        ('The GPU 0000:01:00.0 (VGA compatible controller) shares IOMMU group 1 only with its own '
         'function 0000:01:00.1 (Audio device): ready for passthrough, once all functions have '
         "left the host's kernel DMA drivers (to vfio-pci, or no driver); only 0000:01:00.0 needs "
         'to go to the VM. The group also holds 0000:00:01.0 (PCI bridge), which may stay with the '
         'host: a port bound to pcieport, or a bridge with no driver, is not a kernel DMA user of '
         'the group.'),
        ('The USB controller 0000:03:00.0 is alone in IOMMU group 12: ready for passthrough; only '
         'its own driver has to let it go.'),
        ('The network controller 0000:04:00.0 is alone in IOMMU group 13: ready for passthrough; '
         'only its own driver has to let it go.'),
    ],
    'fuji-c236': [
        ('The listing shows no device classes (only addresses), so this report cannot tell GPUs, '
         'network controllers, NVMe drives or USB controllers apart; a listing that includes '
         '`lspci -nn` lines (the classic loop) does.'),
    ],
    'vfio-headless-x570': [
        ('The NVMe controller 0000:01:00.0 (Non-Volatile memory controller) is alone in IOMMU '
         'group 17: ready for passthrough; only its own driver has to let it go.'),
        ('The network controller 0000:05:00.0 is alone in IOMMU group 27: ready for passthrough; '
         'only its own driver has to let it go.'),
        ('The network controller 0000:06:00.0 (Ethernet controller) is alone in IOMMU group 28: '
         'ready for passthrough; only its own driver has to let it go.'),
        ('The network controller 0000:07:00.0 (Ethernet controller) is alone in IOMMU group 29: '
         'ready for passthrough; only its own driver has to let it go.'),
        ('The USB controller 0000:08:00.1 shares IOMMU group 23 only with its own functions '
         '0000:08:00.0 (Non-Essential Instrumentation [1300]) and 0000:08:00.3 (USB controller): '
         "ready for passthrough, once all functions have left the host's kernel DMA drivers (to "
         'vfio-pci, or no driver); only 0000:08:00.1 needs to go to the VM. The group also holds '
         '0000:03:08.0 (PCI bridge), which may stay with the host: a port bound to pcieport, or a '
         'bridge with no driver, is not a kernel DMA user of the group.'),
        ('The USB controller 0000:08:00.3 shares IOMMU group 23 only with its own functions '
         '0000:08:00.0 (Non-Essential Instrumentation [1300]) and 0000:08:00.1 (USB controller): '
         "ready for passthrough, once all functions have left the host's kernel DMA drivers (to "
         'vfio-pci, or no driver); only 0000:08:00.3 needs to go to the VM. The group also holds '
         '0000:03:08.0 (PCI bridge), which may stay with the host: a port bound to pcieport, or a '
         'bridge with no driver, is not a kernel DMA user of the group.'),
        ('The GPU 0000:0b:00.0 (VGA compatible controller) shares IOMMU group 30 only with its own '
         'function 0000:0b:00.1 (Audio device): ready for passthrough, once all functions have '
         "left the host's kernel DMA drivers (to vfio-pci, or no driver); only 0000:0b:00.0 needs "
         'to go to the VM.'),
        ('The GPU 0000:0c:00.0 (VGA compatible controller) shares IOMMU group 31 only with its own '
         'function 0000:0c:00.1 (Audio device): ready for passthrough, once all functions have '
         "left the host's kernel DMA drivers (to vfio-pci, or no driver); only 0000:0c:00.0 needs "
         'to go to the VM.'),
        ('The USB controller 0000:0e:00.3 is alone in IOMMU group 35: ready for passthrough; only '
         'its own driver has to let it go.'),
    ],
    'intel-desktop-gpu': [
        ('The GPU 0000:00:02.0 (VGA compatible controller, driver i915) is alone in IOMMU group 2: '
         'ready for passthrough; only its own driver has to let it go.'),
        ('The USB controller 0000:00:14.0 (driver xhci_hcd) shares IOMMU group 3 only with its own '
         'function 0000:00:14.2 (RAM memory, no driver): ready for passthrough, once all functions '
         "have left the host's kernel DMA drivers (to vfio-pci, or no driver); only 0000:00:14.0 "
         'needs to go to the VM.'),
        ('The GPU 0000:01:00.0 (VGA compatible controller, driver nouveau) shares IOMMU group 1 '
         'only with its own function 0000:01:00.1 (Audio device, driver snd_hda_intel): ready for '
         "passthrough, once all functions have left the host's kernel DMA drivers (to vfio-pci, or "
         'no driver); only 0000:01:00.0 needs to go to the VM. The group also holds 0000:00:01.0 '
         '(PCI bridge, driver pcieport), which may stay with the host: a port bound to pcieport, '
         'or a bridge with no driver, is not a kernel DMA user of the group.'),
        ('The network controller 0000:02:00.0 (Ethernet controller, driver igb) shares IOMMU group '
         '5 with other devices: passing it through would take 0000:03:00.0 (USB controller, driver '
         "xhci_hcd) from the host too, since every device of the group must leave the host's "
         'kernel DMA drivers (to vfio-pci, or no driver) while the VM has the group. The group '
         'also holds 0000:00:1c.0 (PCI bridge, driver pcieport) and 0000:00:1c.4 (PCI bridge, '
         'driver pcieport), which may stay with the host: a port bound to pcieport, or a bridge '
         'with no driver, is not a kernel DMA user of the group. The listing records only which '
         'devices share group 5, not why. Usually it is a root port or chipset without ACS '
         '(everything below such a port is one group), or a multifunction device without ACS (its '
         'functions share one group). To see which, run `sudo lspci -vvv -s <address>` on the '
         'bridges of this group (0000:00:1c.0 and 0000:00:1c.4) and read ACSCap (what the port can '
         'do) and ACSCtl (what is enabled): Linux isolates below a port only when ACSCtl shows '
         'SrcValid+ ReqRedir+ CmpltRedir+ UpstreamFwd+.'),
        ('The USB controller 0000:03:00.0 (driver xhci_hcd) shares IOMMU group 5 with other '
         'devices: passing it through would take 0000:02:00.0 (Ethernet controller, driver igb) '
         "from the host too, since every device of the group must leave the host's kernel DMA "
         'drivers (to vfio-pci, or no driver) while the VM has the group. The group also holds '
         '0000:00:1c.0 (PCI bridge, driver pcieport) and 0000:00:1c.4 (PCI bridge, driver '
         'pcieport), which may stay with the host: a port bound to pcieport, or a bridge with no '
         'driver, is not a kernel DMA user of the group. The listing records only which devices '
         'share group 5, not why. Usually it is a root port or chipset without ACS (everything '
         'below such a port is one group), or a multifunction device without ACS (its functions '
         'share one group). To see which, run `sudo lspci -vvv -s <address>` on the bridges of '
         'this group (0000:00:1c.0 and 0000:00:1c.4) and read ACSCap (what the port can do) and '
         'ACSCtl (what is enabled): Linux isolates below a port only when ACSCtl shows SrcValid+ '
         'ReqRedir+ CmpltRedir+ UpstreamFwd+.'),
        ('The NVMe controller 0000:04:00.0 (Non-Volatile memory controller, driver nvme) is alone '
         'in IOMMU group 6: ready for passthrough; only its own driver has to let it go. The group '
         'also holds 0000:00:1d.0 (PCI bridge, driver pcieport), which may stay with the host: a '
         'port bound to pcieport, or a bridge with no driver, is not a kernel DMA user of the '
         'group.'),
    ],
    'amd-desktop-switch': [
        ('The listing shows no device classes (only addresses), so this report cannot tell GPUs, '
         'network controllers, NVMe drives or USB controllers apart; a listing that includes '
         '`lspci -nn` lines (the classic loop) does.'),
    ],
    'desktop-gpu': [
        ('The USB controller 0000:00:14.0 (driver xhci_hcd) is alone in IOMMU group 2: ready for '
         'passthrough; only its own driver has to let it go.'),
        ('The network controller 0000:00:1f.6 (Ethernet controller, driver e1000e) is alone in '
         'IOMMU group 5: ready for passthrough; only its own driver has to let it go.'),
        ('The GPU 0000:01:00.0 (VGA compatible controller, driver nouveau) shares IOMMU group 1 '
         'only with its own function 0000:01:00.1 (Audio device, driver snd_hda_intel): ready for '
         "passthrough, once all functions have left the host's kernel DMA drivers (to vfio-pci, or "
         'no driver); only 0000:01:00.0 needs to go to the VM. The group also holds 0000:00:01.0 '
         '(PCI bridge, driver pcieport), which may stay with the host: a port bound to pcieport, '
         'or a bridge with no driver, is not a kernel DMA user of the group.'),
    ],
    'workstation-no-acs': [
        ('The network controller 0000:02:00.0 (Ethernet controller, driver igb) shares IOMMU group '
         '1 with other devices: passing it through would take 0000:03:00.0 (USB controller, driver '
         "xhci_hcd) from the host too, since every device of the group must leave the host's "
         'kernel DMA drivers (to vfio-pci, or no driver) while the VM has the group. The group '
         'also holds 0000:00:1c.0 (PCI bridge, driver pcieport) and 0000:00:1c.4 (PCI bridge, '
         'driver pcieport), which may stay with the host: a port bound to pcieport, or a bridge '
         'with no driver, is not a kernel DMA user of the group. Why, as the kernel decided it: '
         '0000:02:00.0 shares group 1 with 0000:00:1c.0 because root port 0000:00:1c.0 has no ACS, '
         'so everything below it is one group; 0000:00:1c.0 starts group 1: it sits on the root '
         'bus; it is the first function of a multifunction device without ACS: its other functions '
         'join it; this root port has no ACS itself, so everything below it will join its group; '
         '0000:00:1c.4 joins 0000:00:1c.0 in group 1: they are functions of one multifunction '
         'device without ACS, which may talk to each other without the IOMMU seeing it; '
         '0000:03:00.0 shares group 1 with 0000:00:1c.4 because root port 0000:00:1c.4 has no ACS, '
         'so everything below it is one group.'),
        ('The USB controller 0000:03:00.0 (driver xhci_hcd) shares IOMMU group 1 with other '
         'devices: passing it through would take 0000:02:00.0 (Ethernet controller, driver igb) '
         "from the host too, since every device of the group must leave the host's kernel DMA "
         'drivers (to vfio-pci, or no driver) while the VM has the group. The group also holds '
         '0000:00:1c.0 (PCI bridge, driver pcieport) and 0000:00:1c.4 (PCI bridge, driver '
         'pcieport), which may stay with the host: a port bound to pcieport, or a bridge with no '
         'driver, is not a kernel DMA user of the group. Why, as the kernel decided it: '
         '0000:03:00.0 shares group 1 with 0000:00:1c.4 because root port 0000:00:1c.4 has no ACS, '
         'so everything below it is one group; 0000:00:1c.0 starts group 1: it sits on the root '
         'bus; it is the first function of a multifunction device without ACS: its other functions '
         'join it; this root port has no ACS itself, so everything below it will join its group; '
         '0000:00:1c.4 joins 0000:00:1c.0 in group 1: they are functions of one multifunction '
         'device without ACS, which may talk to each other without the IOMMU seeing it; '
         '0000:02:00.0 shares group 1 with 0000:00:1c.0 because root port 0000:00:1c.0 has no ACS, '
         'so everything below it is one group.'),
        ('The NVMe controller 0000:04:00.0 (Non-Volatile memory controller, driver nvme) is alone '
         'in IOMMU group 2: ready for passthrough; only its own driver has to let it go. The group '
         'also holds 0000:00:1d.0 (PCI bridge, driver pcieport), which may stay with the host: a '
         'port bound to pcieport, or a bridge with no driver, is not a kernel DMA user of the '
         'group.'),
    ],
}


def boot(machine):
    if machine in ("desktop-gpu", "workstation-no-acs"):
        return Kernel.from_scenario(machine)
    try:
        with open(listing(machine), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = (files("iommulab") / "data" / "hosts" / f"{machine}.txt").read_text(encoding="utf-8")
    return Kernel.from_toml(import_text(text, f"{machine}.txt"), machine)


@pytest.mark.parametrize("machine", sorted(PINNED))
def test_report_pinned(machine):
    assert report(boot(machine)) == PINNED[machine]


def test_device_kinds_by_class_code():
    assert [device_kind(c) for c in (0x030000, 0x030200, 0x020000, 0x028000, 0x010802, 0x0c0330,
                                     0x0c0320, 0x040300, 0x010601, 0x060400, None)] == [
        "GPU", "GPU", "network controller", "network controller", "NVMe controller", "USB controller",
        "USB controller", None, None, None, None]


def test_shared_group_names_what_is_taken_and_the_kernels_reason():
    k = Kernel.from_scenario("workstation-no-acs")
    reports, _ = device_reports(k)
    by = {r.device: r for r in reports}
    assert {n: (r.sharing, r.taken) for n, r in by.items()} == {
        "0000:02:00.0": ("shared", ["0000:03:00.0"]), "0000:03:00.0": ("shared", ["0000:02:00.0"]),
        "0000:04:00.0": ("alone", [])}
    # the why is the kernel's own replay of its rules, every line of it
    assert by["0000:02:00.0"].sentences[-1] == (
        "Why, as the kernel decided it: " + "; ".join(explain.explain_group(k, "0000:02:00.0")) + ".")


def test_imported_shared_group_says_usually_never_a_cause():
    r = {x.device: x for x in device_reports(boot("intel-desktop-gpu"))[0]}["0000:02:00.0"]
    assert r.sharing == "shared" and r.taken == ["0000:03:00.0"]
    text = r.text()
    assert "Usually" in text and "ACSCtl" in text and "as the kernel decided" not in text
    assert "has no ACS" not in text                 # the listing does not show it


def test_report_follows_the_drivers_now_bound():
    """What passthrough takes is read from the state: a device moved to vfio-pci is named with it."""
    k = Kernel.from_scenario("workstation-no-acs")
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:03:00.0/driver_override; "
         "echo 0000:03:00.0 > /sys/bus/pci/devices/0000:03:00.0/driver/unbind; "
         "echo 0000:03:00.0 > /sys/bus/pci/drivers_probe")
    assert k.state()["devices"]["0000:03:00.0"]["driver"] == "vfio-pci"
    nic = report(k)[0]
    assert nic.startswith("The network controller 0000:02:00.0 (Ethernet controller, driver igb) shares "
                          "IOMMU group 1 with other devices: passing it through would take 0000:03:00.0 "
                          "(USB controller, driver vfio-pci) from the host too")


def test_no_such_devices():
    assert report(Kernel.from_scenario("legacy-pci-bridge")) == [
        "This machine has no GPU, network controller, NVMe controller or USB controller."]
    assert report(Kernel.from_scenario("arm-soc-streamid")) == [
        "This machine has no PCI devices: the report covers PCI GPUs, network controllers, NVMe "
        "controllers and USB controllers (by class code), and leaves other buses' devices out."]
    k2 = Kernel.from_toml('[[device]]\nname = "0000:00:00.0"\nclass = 0x060000\n'
                          '[[device]]\nname = "0000:00:1f.0"\nclass = 0x040300\n')
    assert report(k2) == ["This machine has no GPU, network controller, NVMe controller or USB controller."]


# --- the command line ---------------------------------------------------------------------------

def _wrapped(paragraphs):
    import textwrap
    return "".join(textwrap.fill(p, 100, initial_indent="- ", subsequent_indent="  ") + "\n"
                   for p in paragraphs)


HEADER = "\nPassthrough report (what giving each device to a VM would take from the host):\n"
NOT_DERIVED = "\n" + textwrap.fill(                     # a listing without topology: what to add
    "Groups not re-derived: the listing does not show where its PCI devices sit (the bridge above each). "
    "Paste `lspci -tv` (and, as root, `lspci -vvv`) in the same file, or run `iommulab import-host --live` "
    "on the machine.", 100) + "\n"


def test_import_host_prints_the_report_after_its_summary(tmp_path, capsys):
    out = tmp_path / "mine.toml"
    assert cli.main(["import-host", f"{REAL}/asrock-z170-itx.txt", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"wrote {out}: 20 devices in 14 groups\n" + HEADER
                            + _wrapped(PINNED["asrock-z170-itx"]) + NOT_DERIVED)


def test_import_host_to_stdout_keeps_the_report_out_of_the_toml(capsys):
    assert cli.main(["import-host", f"{REAL}/fuji-c236.txt"]) == 0
    captured = capsys.readouterr()
    Kernel.from_toml(captured.out)                         # stdout is the scenario alone
    skipped = ("skipped 1 line (not imported):\n"           # what the reader left out, before the report
               "  line 1: 'root@fuji:~# find /sys/kernel/iommu_groups/ -type l' — a shell prompt and its command\n")
    assert captured.err == skipped + HEADER + _wrapped(PINNED["fuji-c236"]) + NOT_DERIVED


def test_why_host(tmp_path, capsys):
    out = tmp_path / "mine.toml"
    out.write_text(import_text((files("iommulab") / "data" / "hosts" / "intel-desktop-gpu.txt")
                               .read_text(encoding="utf-8"), "intel-desktop-gpu.txt"), encoding="utf-8")
    assert cli.main(["why", "--host", str(out)]) == 0
    assert capsys.readouterr().out == HEADER + _wrapped(PINNED["intel-desktop-gpu"])
    assert cli.main(["why", "--host", "workstation-no-acs"]) == 0
    assert capsys.readouterr().out == HEADER + _wrapped(PINNED["workstation-no-acs"])
    assert cli.main(["why", "--host", str(tmp_path / "missing.toml")]) == 2
    assert "iommulab why:" in capsys.readouterr().err


def test_lab_writes_the_notebook_and_prints_the_command(tmp_path, capsys, monkeypatch):
    out = tmp_path / "mine.toml"
    out.write_text(import_text(open(f"{REAL}/asrock-z170-itx.txt", encoding="utf-8").read(), "x"),
                   encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lab", "mine.toml", "--print-only"]) == 0
    captured = capsys.readouterr()
    nb_path = tmp_path / "mine.ipynb"
    argv = captured.out.split()
    assert argv[1:3] == ["lab", "--ip=127.0.0.1"] and argv[0].endswith("jupyter") and argv[-1] == str(nb_path)
    assert f"wrote {nb_path}" in captured.err
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code == ["import iommulab\n\niommulab.run_me_first()",
                    f"from iommulab import Kernel, Lab\n\nLab(Kernel.from_scenario({str(out)!r}))"]
    assert nb["nbformat"] == 4
    # the Lab cell boots this machine, by its path, from any working directory
    monkeypatch.chdir("/")
    ns = {}
    exec(code[1].replace("Lab(Kernel", "lab = Lab(Kernel"), ns)
    assert sorted(ns["lab"].k.state()["devices"]) == sorted(Kernel.from_scenario(str(out)).state()["devices"])
    # a second run keeps the learner's notebook unless told otherwise
    nb_path.write_text("{}", encoding="utf-8")
    assert cli.main(["lab", str(out), "--print-only"]) == 0
    assert "exists" in capsys.readouterr().err and nb_path.read_text(encoding="utf-8") == "{}"
    assert cli.main(["lab", str(out), "--print-only", "--force"]) == 0
    assert json.loads(nb_path.read_text(encoding="utf-8"))["cells"]


def test_lab_plan_for_a_library_name_and_a_bad_file(tmp_path, capsys):
    path, nb, argv = cli.lab_plan("desktop-gpu", str(tmp_path))
    assert path == str(tmp_path / "desktop-gpu.ipynb") and argv[-1] == path
    assert "Lab(Kernel.from_scenario('desktop-gpu'))" in "".join(nb["cells"][2]["source"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[[device]]\nname = 3\n", encoding="utf-8")
    assert cli.main(["lab", str(bad), "--print-only"]) == 2
    assert "iommulab lab:" in capsys.readouterr().err and not (tmp_path / "bad.ipynb").exists()
