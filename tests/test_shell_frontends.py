"""The %%iommush magic (in a real IPython shell) and `iommulab sh` (through a subprocess)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def ip():
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext iommulab")
    yield shell
    shell.user_ns.pop("k", None)
    shell.user_ns.pop("k2", None)
    InteractiveShell.clear_instance()


def test_magic_runs_on_the_notebook_kernel(ip, capsys):
    ip.run_cell("from iommulab import Kernel\nk = Kernel.from_scenario('desktop-gpu')")
    capsys.readouterr()
    ip.run_cell_magic("iommush", "", "cat /sys/kernel/iommu_groups/1/type\necho 1 > /sys/bus/pci/rescan")
    assert capsys.readouterr().out == "DMA-FQ\n"
    ip.run_cell_magic("iommush", "", "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    assert ip.user_ns["k"].devices["0000:01:00.1"].driver is None
    ip.run_cell_magic("iommush", "", "nosuch")
    assert "bash: nosuch: command not found" in capsys.readouterr().err


def test_magic_names_a_kernel_or_explains(ip, capsys):
    ip.run_cell_magic("iommush", "", "ls")
    assert "no Kernel in this notebook yet" in capsys.readouterr().err
    ip.run_cell("from iommulab import Kernel\nk = Kernel.from_scenario('desktop-gpu')\n"
                "k2 = Kernel.from_scenario('seed-001')")
    ip.run_cell_magic("iommush", "k2", "ls /sys/kernel/iommu_groups")
    assert capsys.readouterr().out == "44\n45\n"
    ip.run_cell_magic("iommush", "nothere", "ls")
    assert "'nothere' is not an iommulab Kernel" in capsys.readouterr().err


def sh(stdin, *args):
    return subprocess.run([sys.executable, "-m", "iommulab.cli", "sh", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_cli_reads_a_script_from_stdin():
    script = ("echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind\n"
              "echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override\n"
              "echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind\n"
              "for g in /sys/kernel/iommu_groups/*; do\n  echo ${g##*/}\ndone\n"
              "qemu-system-x86_64 -device vfio-pci,host=0000:03:00.1\n"
              "echo status=$?\n")
    r = sh(script, "--scenario", "seed-001")
    assert r.stdout == "44\n45\nstatus=1\n"
    assert "group 45 is not viable" in r.stderr
    assert r.returncode == 0


def test_cli_exit_status_command_and_bad_scenario(tmp_path):
    assert sh("false\n").returncode == 1
    assert sh("exit 4\necho never\n").returncode == 4
    r = subprocess.run([sys.executable, "-m", "iommulab.cli", "sh", "-c", "lspci -s 01:00.1"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.stdout == "01:00.1 Audio device: NVIDIA Corporation GA102 High Definition Audio Controller (rev a1)\n"
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n")
    r = sh("", "--scenario", str(bad))
    assert r.returncode == 2 and "bad.toml: top level: unknown key 'nonsense'" in r.stderr


def test_cli_interactive_prompt_and_job_notice():
    """A terminal session: prompt, continuation lines, the job notice before the next prompt."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.environ["HOME"] = "/tmp"
        os.execv(sys.executable, [sys.executable, "-m", "iommulab.cli", "sh", "--scenario", "seed-001"])
    out = b""

    def expect(token, timeout=20):
        nonlocal out
        import time
        end = time.time() + timeout
        while token.encode() not in out and time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return token.encode() in out

    assert expect("root@iommulab:/# ")
    os.write(fd, b"for g in /sys/kernel/iommu_groups/*; do\r")
    assert expect("> ")
    os.write(fd, b"echo G${g##*/}; done\r")
    assert expect("G45")
    os.write(fd, b"exit\r")
    os.waitpid(pid, 0)
