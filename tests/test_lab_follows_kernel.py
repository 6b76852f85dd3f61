"""Issue 19: the Lab follows the kernel. A change made outside it (`k.sh` or `k.write` in another
cell) shows in its picture, log and header after that cell, not only at its next action."""
from iommulab import Kernel
from iommulab.widgets.lab import Lab

UNBIND_AUDIO = "echo 0000:01:00.1 > /sys/bus/pci/devices/0000:01:00.1/driver/unbind"


def test_catch_up_shows_a_change_made_outside_the_lab():
    k = Kernel.from_scenario("desktop-gpu")
    lab = Lab(k)
    picture = lab.graph.value
    assert lab.catch_up() is False                       # nothing new: nothing redrawn
    k.sh(UNBIND_AUDIO)
    assert lab.catch_up() is True
    assert "step 1 of 1" in lab.header.value
    assert "0000:01:00.1: snd_hda_intel → no driver" in lab.log_view.value and UNBIND_AUDIO.split(">")[0].strip() in lab.log_view.value
    assert lab.graph.value != picture
    k.write("/sys/bus/pci/devices/0000:01:00.1/driver_override", "vfio-pci")     # Python, not the shell
    assert lab.catch_up() is True and "step 2 of 2" in lab.header.value


def test_after_every_cell_the_lab_catches_up_by_itself():
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    k = Kernel.from_scenario("desktop-gpu")
    ip.user_ns["k"] = k
    lab = Lab(k)
    ip.run_cell(f"r = k.sh({UNBIND_AUDIO!r})")
    assert ip.user_ns["r"].status == 0
    assert "step 1 of 1" in lab.header.value and "snd_hda_intel → no driver" in lab.log_view.value
    del lab                                                 # a lab that is gone unhooks itself
    ip.run_cell("k.sh('true')")
