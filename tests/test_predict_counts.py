"""Does a driver count in owner_cnt? (notebook 01, "counts / never counts"): predict.driver_counts
and predict.counting_drivers bind a driver the way a learner does (the device's own driver unbound,
driver_override when the driver's id table does not name the device) on the timeline's excursion,
and answer with what the owner_cnts did. The expected values are Linux's: a bus with
dma_configure/dma_cleanup hooks (pci, platform, amba, fsl-mc, cdx from 6.5) counts a driver that
uses the kernel DMA API; driver_managed_dma drivers (vfio-*, pci-stub, pcieport) never count; usb,
i2c, spi and virtio have no hooks (drivers/base/dd.c really_probe(), the bus_types of
drivers/usb/core/driver.c, drivers/i2c/i2c-core-base.c, drivers/virtio/virtio.c)."""
import pytest

from conftest import dev, drv, make
from iommulab.course import modes, predict, progress
from iommulab.course.predict import QuestionError
from iommulab.kernel.kernel import Kernel
from iommulab.shell import lines, session_for, timeline_for

GPU, AUDIO, PORT = "0000:01:00.0", "0000:01:00.1", "0000:00:01.0"
GPU_TO_VFIO = "\n".join([lines.unbind("pci", GPU, "nouveau"), lines.set_driver_override("pci", GPU, "vfio-pci"),
                         lines.bind("pci", GPU, "vfio-pci")])
AUDIO_OFF = lines.unbind("pci", AUDIO, "snd_hda_intel")


pytestmark = pytest.mark.usefixtures("student_mode")        # conftest.py


@pytest.fixture
def k():
    return Kernel.from_scenario("desktop-gpu")


def mixed():
    """A desktop-like machine with an NVMe drive, an xHCI controller and a USB stick, an SMBus
    controller and an SPD EEPROM on it: the stick and the EEPROM have no IOMMU group."""
    return make("6.6", devices=[
        dev("0000:00:1b.0", id="8086:a167", kind="root-port"),
        dev("0000:02:00.0", id="144d:a808", parent="0000:00:1b.0"),
        dev("0000:00:14.0", id="8086:a12f"),
        dev("0000:00:1f.0", id="8086:a145", multifunction=True),
        dev("0000:00:1f.4", id="8086:a123"),
        dev("1-4:1.0", bus="usb", id="0781:5581"),
        dev("0-0050", bus="i2c", id="ee1004")],
        drivers=[drv("nvme", ids=["144d:a808"]), drv("xhci_hcd", ids=["8086:a12f"]),
                 drv("i801_smbus", ids=["8086:a123"]), drv("usb-storage", bus="usb", ids=["0781:5581"]),
                 drv("ee1004", bus="i2c", ids=["ee1004"])])


def whole(k):
    tl = timeline_for(k)
    return (k.state(), len(tl.steps), tl.position, [a.line for a in tl.attempts], len(k.events),
            session_for(k).save_state())


# --- one driver ---------------------------------------------------------------------------------------------

def test_a_kernel_dma_driver_counts(k):
    q = predict.driver_counts(k, "nouveau", GPU)
    assert q.expected is True and q.kind == "driver_counts"
    assert "pci_dma_configure()" in q.rule and "iommu_device_use_default_domain()" in q.rule
    assert "group 1's owner_cnt went 1 → 2" in q.rule            # snd_hda_intel keeps its count
    assert q.outcome.lines == [lines.unbind("pci", GPU, "nouveau"), lines.bind("pci", GPU, "nouveau")]
    assert q.answer("yes").ok and not q.answer("no").ok


@pytest.mark.parametrize("driver, device", [("pcieport", PORT), ("vfio-pci", GPU), ("pci-stub", AUDIO)])
def test_driver_managed_dma_drivers_never_count(k, driver, device):
    q = predict.driver_counts(k, driver, device)
    assert q.expected is False
    assert "driver_managed_dma" in q.rule and "pci_dma_configure() skips" in q.rule
    if driver != "pcieport":                                      # they match only through driver_override
        assert lines.set_driver_override("pci", device, driver) in q.outcome.lines


@pytest.mark.parametrize("driver, device", [("usb-storage", "1-4:1.0"), ("ee1004", "0-0050")])
def test_drivers_on_buses_without_hooks_never_count(driver, device):
    q = predict.driver_counts(mixed(), driver, device)
    assert q.expected is False
    assert "has no dma_configure/dma_cleanup hooks" in q.rule and "no IOMMU group" in q.rule


def test_their_host_controllers_count():
    k = mixed()
    for driver, device in (("xhci_hcd", "0000:00:14.0"), ("i801_smbus", "0000:00:1f.4")):
        assert predict.driver_counts(k, driver, device).expected is True


def test_a_platform_device_behind_no_iommu_has_nothing_to_count():
    k = Kernel.from_scenario("arm-soc-streamid")
    q = predict.driver_counts(k, "dw-apb-uart", "ff1a0000.serial")
    assert q.expected is False and "sits behind no IOMMU" in q.rule
    assert predict.driver_counts(k, "stmmaceth", "ff0c0000.ethernet").expected is True
    assert predict.driver_counts(k, "vfio-platform", "ff0c0000.ethernet").expected is False


@pytest.mark.parametrize("version, counts", [("6.4", False), ("6.5", True)])
def test_cdx_counts_from_6_5(version, counts):
    k = make(version, devices=[dev("cdx-00:00", bus="cdx", id="x,y", group=7)],
             drivers=[drv("kdrv", bus="cdx", ids=["x,y"])])
    q = predict.driver_counts(k, "kdrv", "cdx-00:00")
    assert q.expected is counts
    if not counts:
        assert "cdx_dma_configure() ran but did not call" in q.rule


def test_fsl_mc_counts():
    k = Kernel.from_scenario("nxp-dpaa2")
    assert predict.driver_counts(k, "fsl_dpaa2_eth", "dpni.1").expected is True
    assert predict.driver_counts(k, "vfio-fsl-mc", "dpni.1").expected is False


def test_after_sets_the_machine_up_first(k):
    q = predict.driver_counts(k, "nouveau", GPU, after=AUDIO_OFF)
    assert "group 1's owner_cnt went 0 → 1" in q.rule
    assert q.outcome.lines[0] == AUDIO_OFF


def test_a_driver_that_cannot_bind_is_a_question_error(k):
    owned = "\n".join([GPU_TO_VFIO, AUDIO_OFF, lines.qemu([GPU])])
    with pytest.raises(QuestionError, match="snd_hda_intel cannot bind 0000:01:00.1"):
        predict.driver_counts(k, "snd_hda_intel", AUDIO, after=owned)


def test_questions_that_cannot_be_asked_say_why(k):
    with pytest.raises(QuestionError, match="no device"):
        predict.driver_counts(k, "nouveau", "0000:09:00.0")
    with pytest.raises(QuestionError, match="no driver 'usb-storage'"):
        predict.driver_counts(k, "usb-storage", GPU)
    old = make("5.18", devices=[dev("0000:02:00.0", id="144d:a808", group=1)], drivers=[drv("nvme", ids=["144d:a808"])])
    with pytest.raises(QuestionError, match="5.19"):
        predict.driver_counts(old, "nvme", "0000:02:00.0")


@pytest.mark.parametrize("ask", [
    lambda k: predict.driver_counts(k, "nouveau", GPU),
    lambda k: predict.driver_counts(k, "vfio-pci", AUDIO, after=AUDIO_OFF),
    lambda k: predict.counting_drivers(k, {"nouveau": GPU, "pcieport": PORT, "pci-stub": AUDIO}),
], ids=["counts", "after", "sort"])
def test_a_question_leaves_the_machine_as_it_was(k, ask):
    k.sh(lines.unbind("pci", AUDIO, "snd_hda_intel"))              # the learner has done something already
    before = whole(k)
    q = ask(k)
    q.pictures()
    assert whole(k) == before


# --- the sort ----------------------------------------------------------------------------------------------

SORT = {"nvme": "0000:02:00.0", "xhci_hcd": "0000:00:14.0", "vfio-pci": "0000:02:00.0",
        "pci-stub": "0000:02:00.0", "usb-storage": "1-4:1.0", "ee1004": "0-0050"}


def test_counting_drivers_is_the_set_that_counts():
    q = predict.counting_drivers(mixed(), SORT)
    assert q.expected == frozenset({"nvme", "xhci_hcd"}) and q.kind == "counting_drivers"
    assert [t.driver for t in q.tries] == list(SORT)
    assert q.details == [t.rule for t in q.tries]
    assert q.rule.startswith("nvme, xhci_hcd: counted — pci_dma_configure() called iommu_device_use_default_domain()")
    assert "vfio-pci, pci-stub: never counted — driver_managed_dma" in q.rule
    assert "usb-storage: never counted — the usb bus has no dma_configure/dma_cleanup hooks" in q.rule
    assert "ee1004: never counted — the i2c bus has no" in q.rule
    assert q.choices is None and q.solution() == "nvme, xhci_hcd"
    assert "nvme → 0000:02:00.0" in q.text


@pytest.mark.parametrize("given", ["nvme, xhci_hcd", "xhci-hcd nvme", "NVME;xhci_hcd", ["nvme", "xhci_hcd"],
                                   {"xhci_hcd", "nvme"}])
def test_sort_answers_are_normalised(given):
    fb = predict.counting_drivers(mixed(), SORT).answer(given)
    assert fb.ok and fb.given == frozenset({"nvme", "xhci_hcd"})


def test_a_wrong_sort_names_only_the_misplaced_drivers(k):
    q = predict.counting_drivers(k, {"nouveau": GPU, "pcieport": PORT, "vfio-pci": AUDIO})
    fb = q.answer("nouveau, pcieport")
    assert fb.answered and not fb.ok
    assert "pcieport" in fb.why and "driver_managed_dma" in fb.why
    assert "nouveau" not in fb.why and "vfio-pci" not in fb.why
    assert "you said nouveau, pcieport, the kernel says nouveau" in str(fb)
    none = predict.counting_drivers(k, {"pcieport": PORT, "pci-stub": GPU})
    assert none.expected == frozenset() and none.answer("none").ok


@pytest.mark.parametrize("junk", ["e1000e", 7, True, "nvme, banana"])
def test_sort_junk_gets_a_message_never_a_traceback(junk):
    fb = predict.counting_drivers(mixed(), SORT).answer(junk)
    assert not fb.ok and not fb.answered and "answer with" in fb.why


def test_sort_in_student_and_solution_mode():
    q = predict.counting_drivers(mixed(), SORT)
    fb = q.answer(None)
    assert not fb.answered and fb.why == "not yet"
    modes.set_solutions(True)
    try:
        assert q.answer(None).ok and q.prefill() == "nvme, xhci_hcd"
        with pytest.raises(modes.SolutionFailed):
            q.answer("nvme")
    finally:
        modes.set_solutions(None)
    assert progress.load()["checks"] == {}


def test_sort_answers_are_recorded_under_a_stable_qid():
    q = predict.counting_drivers(mixed(), SORT)
    assert q.qid == predict.counting_drivers(mixed(), SORT).qid
    q.answer("nvme")
    assert progress.load()["checks"][q.qid]["ok"] is False


def test_an_empty_sort_cannot_be_asked(k):
    with pytest.raises(QuestionError, match="at least one driver"):
        predict.counting_drivers(k, {})


def test_widget_text_box_filled_in_solution_mode():
    from iommulab.widgets.predict import Predict
    modes.set_solutions(True)
    try:
        w = Predict(predict.counting_drivers(mixed(), SORT))
    finally:
        modes.set_solutions(None)
    assert w.box.value == "nvme, xhci_hcd" and 'class="right"' in w.feedback.value
    student = Predict(predict.counting_drivers(mixed(), SORT))
    student.box.value = "nvme, xhci_hcd, vfio-pci"
    student.check.click()
    assert 'class="wrong"' in student.feedback.value and "vfio-pci" in student.feedback.value
