"""Helpers shared by the tests: boot a small machine, read a group's state as the ground-truth
tokens do, and bind a device the way a learner does (driver_override, then bind)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iommulab import Kernel  # noqa: E402
from iommulab.scenario_file import to_toml  # noqa: E402


def make(version="6.6", devices=(), drivers=(), config=None, cmdline=None, msi_isolation=None):
    kernel = {"version": version}
    if config:
        kernel["config"] = config
    if cmdline:
        kernel["cmdline"] = cmdline
    if msi_isolation is not None:
        kernel["msi_isolation"] = msi_isolation
    doc = {"title": "test", "kernel": kernel, "driver": list(drivers), "device": list(devices)}
    return Kernel.from_toml(to_toml(doc), "test.toml")


def st(k, n):
    """(owner_cnt, owner, domain) as ground-truth tokens: NULL, vfio_group:N, ictx:In,
    container_file:Cn; DEFAULT(type), BLOCKING, USER:name, PRIVATE:name."""
    g = k.iommu_groups[n]
    return (g.owner_cnt, g.owner_label(), g.domain_label())


def dom(k, n):
    return st(k, n)[2]


def bind(k, dev, drv, bus="pci"):
    """`bind <dev> <drv>` of the ground truth: make it match (driver_override), then bind."""
    k.write(f"/sys/bus/{bus}/devices/{dev}/driver_override", drv + "\n")
    return k.write(f"/sys/bus/{bus}/drivers/{drv}/bind", dev)


def unbind(k, dev, bus="pci"):
    drv = k.devices[dev].driver.name
    return k.write(f"/sys/bus/{bus}/drivers/{drv}/unbind", dev)


def errno_of(fn, *args):
    """The errno an OSError-raising call fails with, or 0."""
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def drv(name, bus="pci", **kw):
    return dict({"name": name, "bus": bus}, **kw)


def dev(name, **kw):
    return dict({"name": name}, **kw)


@pytest.fixture
def kernel_factory():
    return make


@pytest.fixture
def desktop():
    """The desktop-gpu machine, the one the shell's guide commands are tried on."""
    return Kernel.from_scenario("desktop-gpu")


@pytest.fixture
def k(desktop):
    """A module's own `k` fixture overrides this one."""
    return desktop


@pytest.fixture(autouse=True)
def _progress_file_in_tmp(tmp_path, monkeypatch):
    """A learner's progress file (iommulab/course/progress.py) goes to the test's own directory,
    never beside the notebooks of the work tree; solution mode comes only from the environment."""
    monkeypatch.setenv("IOMMULAB_PROGRESS", str(tmp_path / "progress.json"))
    monkeypatch.delenv("IOMMULAB_SOLUTIONS", raising=False)


def follow_hints(lv, limit):
    """Do what a level's computed hints say, nothing else (run each one's line, or its undos),
    until the goal holds or `limit` hints were taken; the hints seen."""
    from iommulab.shell import timeline_for
    taken = []
    for _ in range(limit):
        h = lv.next_step()
        taken.append(h)
        if h.kind == "done":
            return taken
        assert h.kind in ("next", "way-back"), h.text
        if h.kind == "way-back":
            for _ in range(h.undo):
                timeline_for(lv.k).undo()
        else:
            lv.sh(h.line)
    taken.append(lv.next_step())
    return taken


def leak_story():
    """Seed 001 on 6.4: the NIC's driver rebound, then vfio-pci bound: owner_cnt leaked to 1."""
    k = Kernel.from_scenario("seed-001")
    k.sh("echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind\n"
         "echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/bind\n"
         "echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind\n"
         "echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override\n"
         "echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind\n")
    return k


@pytest.fixture
def student_mode(monkeypatch):
    """Student mode, and a fresh session's progress (the progress file lives in the test's own dir):
    the course's questions answer "not yet" until answered. Use it with
    `pytestmark = pytest.mark.usefixtures("student_mode")`."""
    from iommulab.course import modes, progress
    monkeypatch.setattr(progress, "_memory", {"levels": {}, "checks": {}})
    monkeypatch.setattr(progress, "_problem", "")
    modes.set_solutions(None)
    yield
    modes.set_solutions(None)
