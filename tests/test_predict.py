"""Predict, then run (issue 13): questions whose answers the kernel computes by running the action
on a snapshot of the learner's own machine. The expected values below are Linux's behaviour on the
library machines (desktop-gpu: the GPU and its HDMI audio function behind a root port without ACS,
in group 1 with the port; pcieport sets driver_managed_dma and never counts in owner_cnt)."""
import pytest

from iommulab.course import modes, predict, progress
from iommulab.course.predict import MYTHS, QuestionError
from iommulab.kernel.kernel import Kernel
from iommulab.shell import lines, session_for, timeline_for

GPU, AUDIO, PORT = "0000:01:00.0", "0000:01:00.1", "0000:00:01.0"
GPU_TO_VFIO = "\n".join([lines.unbind("pci", GPU, "nouveau"), lines.set_driver_override("pci", GPU, "vfio-pci"),
                         lines.bind("pci", GPU, "vfio-pci")])
AUDIO_OFF = lines.unbind("pci", AUDIO, "snd_hda_intel")
VM = lines.qemu([GPU])


pytestmark = pytest.mark.usefixtures("student_mode")        # conftest.py


@pytest.fixture
def k():
    return Kernel.from_scenario("desktop-gpu")


def whole(k):
    """Everything a question must leave as it was: the state, the timeline, the shell session."""
    tl = timeline_for(k)
    return (k.state(), len(tl.steps), tl.position, [a.line for a in tl.attempts], len(k.events),
            session_for(k).save_state())


# --- owner_cnt -------------------------------------------------------------------------------------------

def test_owner_cnt_counts_kernel_dma_drivers_not_devices(k):
    q = predict.owner_cnt(k, 1)
    assert q.expected == 2                           # nouveau + snd_hda_intel; pcieport does not count
    assert len(k.state()["groups"][1]["devices"]) == 3
    right, wrong = q.answer(2), q.answer(3)
    assert right.ok and not wrong.ok
    for fb in (right, wrong):
        assert "not its devices" in fb.why and "pcieport" in fb.why and "nouveau" in fb.why
    assert wrong.expected == 2 and wrong.given == 3
    assert "you said 3, the kernel says 2" in str(wrong)


def test_owner_cnt_after_an_unbind_runs_it(k):
    q = predict.owner_cnt(k, 1, after=AUDIO_OFF)
    assert q.expected == 1
    assert q.answer(1).ok and not q.answer(2).ok
    assert q.outcome.before["groups"][1]["owner_cnt"] == 2 and q.outcome.after["groups"][1]["owner_cnt"] == 1
    assert q.outcome.lines == [AUDIO_OFF] and not q.outcome.failed


def test_owner_cnt_is_computed_from_the_learners_own_state(k):
    k.sh(AUDIO_OFF + "\n" + lines.unbind("pci", GPU, "nouveau"))
    assert predict.owner_cnt(k, 1).expected == 0
    assert predict.owner_cnt(k, GPU).expected == 0      # a group named by one of its devices


def test_owner_cnt_while_user_space_owns_the_group(k):
    q = predict.owner_cnt(k, 1, after="\n".join([GPU_TO_VFIO, AUDIO_OFF, VM]))
    assert q.outcome.after["groups"][1]["owner"].startswith("vfio_group")
    assert q.expected == 1 and "owned by user space" in q.rule


def test_a_refused_action_says_so_and_changes_nothing(k):
    q = predict.owner_cnt(k, 1, after=lines.bind("pci", AUDIO, "nouveau"))
    assert q.expected == 2
    assert q.outcome.failed and q.outcome.refusal[0] == "-ENODEV"
    assert q.rule.startswith("The action was refused")


def test_owner_cnt_choices_are_computed(k):
    q = predict.owner_cnt(k, 1)
    assert q.choices == ("0", "1", "2", "3")          # up to the group's device count: the myth's answer
    assert predict.owner_cnt(k, 0).choices == ("0", "1")


# --- errno -----------------------------------------------------------------------------------------------------

def test_errno_bind_without_override_is_enodev(k):
    q = predict.errno(k, lines.bind("pci", GPU, "vfio-pci"))
    assert q.expected == "ENODEV"
    assert q.answer("ENODEV").ok and not q.answer("EBUSY").ok and not q.answer("ok").ok
    assert "driver_override" in q.answer("EINVAL").why
    assert q.outcome.refusal[:2] == ("-ENODEV", "No such device")
    assert "No such device" in q.outcome.stderr


def test_errno_kernel_dma_driver_into_an_owned_group_is_ebusy(k):
    q = predict.errno(k, lines.bind("pci", AUDIO, "snd_hda_intel"), after="\n".join([GPU_TO_VFIO, AUDIO_OFF, VM]))
    assert q.expected == "EBUSY"
    fb = q.answer("EBUSY")
    assert fb.ok and "owned by user space" in fb.why
    assert not q.answer("ENODEV").ok


def test_errno_ok_says_what_changed(k):
    q = predict.errno(k, AUDIO_OFF)
    assert q.expected == "ok"
    fb = q.answer("ok")
    assert fb.ok and "owner_cnt 2 → 1" in fb.why
    assert not q.answer("EBUSY").ok


def test_errno_of_a_missing_file_is_enoent(k):
    q = predict.errno(k, "echo x > /sys/bus/pci/drivers/nosuch/bind")
    assert q.expected == "ENOENT"
    assert q.answer("ENOENT").ok


def test_errno_choices_are_the_confusions_sorted_with_the_right_one(k):
    q = predict.errno(k, lines.bind("pci", GPU, "vfio-pci"))
    assert q.choices == tuple(sorted(q.choices))
    assert "ENODEV" in q.choices and "ok" in q.choices and "EBUSY" in q.choices and "EPERM" in q.choices
    assert q.choices == predict.errno(k, AUDIO_OFF).choices     # same set, same order: never by position


@pytest.mark.parametrize("given", ["EBUSY", "ebusy", "-EBUSY", " EBUSY ", "busy", 16, -16, "16",
                                   "Device or resource busy"])
def test_errno_answers_are_normalised(k, given):
    q = predict.errno(k, lines.bind("pci", AUDIO, "snd_hda_intel"), after="\n".join([GPU_TO_VFIO, AUDIO_OFF, VM]))
    fb = q.answer(given)
    assert fb.ok and fb.given == "EBUSY"


# --- group members ----------------------------------------------------------------------------------------------

def test_group_members_desktop(k):
    q = predict.group_members(k, GPU)
    assert q.expected == {PORT, AUDIO}
    assert q.answer([PORT, AUDIO]).ok
    assert q.answer("01:00.1, 00:01.0").ok                     # without the domain, any order
    assert q.answer(f"{GPU} {AUDIO} {PORT}").ok                # with the device itself
    assert not q.answer([AUDIO]).ok                            # the root port is in the group too
    assert "ACS" in q.answer([AUDIO]).why


def test_group_members_is_not_a_slot():
    k = Kernel.from_scenario("workstation-no-acs")
    q = predict.group_members(k, "0000:03:00.0")
    assert q.expected == {"0000:00:1c.0", "0000:00:1c.4", "0000:02:00.0"}
    assert "0000:04:00.0" not in q.expected                    # behind 00:1d.0: its own group
    assert not q.answer("none").ok
    assert q.details and all(isinstance(s, str) for s in q.details)


def test_group_members_unknown_device_is_a_message(k):
    fb = predict.group_members(k, GPU).answer("01:00.1, 99:00.0")
    assert not fb.ok and not fb.answered and "99:00.0" in fb.why


# --- QEMU ---------------------------------------------------------------------------------------------------------

def test_one_function_alone_qemu_is_refused_with_its_message(k):
    q = predict.qemu_starts(k, [GPU], after=GPU_TO_VFIO)
    assert q.expected is False
    assert "group 1 is not viable" in q.outcome.qemu_message
    assert q.answer("no").ok and not q.answer("yes").ok
    assert "snd_hda_intel" in q.rule and "not viable" in q.rule


def test_qemu_starts_when_every_function_left_its_driver(k):
    q = predict.qemu_starts(k, [GPU], after=GPU_TO_VFIO + "\n" + AUDIO_OFF)
    assert q.expected is True
    assert q.answer("yes").ok and q.answer(True).ok and not q.answer("no").ok
    assert AUDIO in q.rule and "need not go to the VM" in q.rule


def test_qemu_without_vfio_pci_cannot_open_the_group(k):
    q = predict.qemu_starts(k, GPU)
    assert q.expected is False and "/dev/vfio/1" in q.rule


def test_qemu_through_iommufd(k):
    assert predict.qemu_starts(k, [GPU], path="iommufd", after=GPU_TO_VFIO + "\n" + AUDIO_OFF).expected is True
    refused = predict.qemu_starts(k, [GPU], path="iommufd", after=GPU_TO_VFIO)
    assert refused.expected is False and "Operation not permitted" in refused.outcome.qemu_message


# --- viability ---------------------------------------------------------------------------------------------------

def test_binding_vfio_pci_does_not_make_the_group_viable(k):
    q = predict.viable(k, 1, after=GPU_TO_VFIO)
    assert q.expected is False
    assert q.answer("no").ok and not q.answer("yes").ok
    assert "snd_hda_intel" in q.rule and "every device of the group" in q.rule


def test_viable_once_no_kernel_dma_driver_is_left(k):
    q = predict.viable(k, 1, after=GPU_TO_VFIO + "\n" + AUDIO_OFF)
    assert q.expected is True and q.answer("yes").ok


def test_viable_at_boot_vfio_does_not_know_the_group(k):
    q = predict.viable(k, 1)
    assert q.expected is False and "/dev/vfio/1 does not exist" in q.rule


# --- the machine comes back ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda k: predict.owner_cnt(k, 1, after=AUDIO_OFF),
    lambda k: predict.errno(k, lines.bind("pci", AUDIO, "snd_hda_intel"), after="\n".join([GPU_TO_VFIO, AUDIO_OFF, VM])),
    lambda k: predict.group_members(k, GPU),
    lambda k: predict.qemu_starts(k, [GPU], after=GPU_TO_VFIO + "\n" + AUDIO_OFF),
    lambda k: predict.viable(k, 1, after=GPU_TO_VFIO + "\n" + AUDIO_OFF),
], ids=["owner_cnt", "errno", "group_members", "qemu_starts", "viable"])
def test_a_question_leaves_the_machine_as_it_was(k, make):
    k.sh("X=1\n" + lines.unbind("pci", GPU, "nouveau"))    # the learner has done something already
    before = whole(k)
    q = make(k)
    q.pictures()                                              # drawing the pictures travels too
    assert whole(k) == before
    # and the machine goes on as if nothing had happened: the same as a twin that was never asked
    twin = Kernel.from_scenario("desktop-gpu")
    twin.sh("X=1\n" + lines.unbind("pci", GPU, "nouveau"))
    script = "\n".join([lines.set_driver_override("pci", GPU, "vfio-pci"), lines.bind("pci", GPU, "vfio-pci"),
                        AUDIO_OFF, VM])
    r1, r2 = k.sh(script), twin.sh(script)
    assert (r1.stdout, r1.stderr) == (r2.stdout, r2.stderr)
    assert k.state() == twin.state()
    assert len(timeline_for(k).steps) == len(timeline_for(twin).steps)


# --- modes, progress, junk ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("unanswered", [None, ..., "", "   "])
def test_student_mode_unanswered_is_not_yet(k, unanswered):
    q = predict.owner_cnt(k, 1)
    fb = q.answer(unanswered)
    assert not fb.ok and not fb.answered and fb.why == "not yet" and str(fb) == "not yet"
    assert progress.load()["checks"] == {}


def test_solution_mode_fills_in_the_kernels_answer_and_raises_on_a_wrong_one(k):
    q = predict.owner_cnt(k, 1, after=AUDIO_OFF)
    modes.set_solutions(True)
    try:
        fb = q.answer(None)
        assert fb.ok and fb.given == 1 == fb.expected
        assert q.answer(1).ok
        with pytest.raises(modes.SolutionFailed, match="the kernel says 1"):
            q.answer(2)
        with pytest.raises(modes.SolutionFailed):
            q.answer("lots")
        assert q.prefill() == "1"
    finally:
        modes.set_solutions(None)
    assert progress.load()["checks"] == {}                    # solution mode records nothing
    assert q.prefill() is None


def test_answers_are_recorded_in_progress_under_a_stable_qid(k):
    q = predict.owner_cnt(k, 1, after=AUDIO_OFF)
    assert q.qid == predict.owner_cnt(Kernel.from_scenario("desktop-gpu"), 1, after=AUDIO_OFF).qid
    assert q.qid != predict.owner_cnt(k, 1).qid
    q.answer(2)
    assert progress.load()["checks"][q.qid]["ok"] is False
    q.answer("1")
    rec = progress.load()["checks"][q.qid]
    assert rec["ok"] is True and rec["answer"] == "1"


@pytest.mark.parametrize("given, value", [("two", 2), (" 2 ", 2), (2, 2), ("2", 2), (2.0, 2), ("0x2", 2)])
def test_owner_cnt_answers_are_normalised(k, given, value):
    fb = predict.owner_cnt(k, 1).answer(given)
    assert fb.ok and fb.given == value


@pytest.mark.parametrize("junk", ["lots", "-1", -1, True, [2], {"a": 1}, object()])
def test_junk_answers_get_a_message_never_a_traceback(k, junk):
    fb = predict.owner_cnt(k, 1).answer(junk)
    assert not fb.ok and not fb.answered and "answer with a number" in fb.why


@pytest.mark.parametrize("make, junk", [
    (lambda k: predict.errno(k, AUDIO_OFF), "banana"),
    (lambda k: predict.errno(k, AUDIO_OFF), True),
    (lambda k: predict.viable(k, 1), "maybe"),
    (lambda k: predict.qemu_starts(k, GPU), 7),
    (lambda k: predict.group_members(k, GPU), 42),
])
def test_junk_answers_of_every_kind(k, make, junk):
    fb = make(k).answer(junk)
    assert not fb.ok and not fb.answered and "answer with" in fb.why


def test_questions_that_cannot_be_asked_say_why(k):
    with pytest.raises(QuestionError, match="no group 99"):
        predict.owner_cnt(k, 99)
    with pytest.raises(QuestionError, match="no device"):
        predict.group_members(k, "0000:42:00.0")
    with pytest.raises(QuestionError, match="no device"):
        predict.qemu_starts(k, ["nope"])


def test_a_question_reads_as_text(k):
    q = predict.errno(k, lines.bind("pci", GPU, "vfio-pci"))
    text = str(q)
    assert text == repr(q)
    assert "vfio-pci/bind" in text and "errno" in text and "ENODEV" in text     # the choices are listed
    setup = predict.owner_cnt(k, 1, after=GPU_TO_VFIO)
    assert str(setup).startswith("After these lines:") and "nouveau/unbind" in str(setup)


# --- the misconceptions ------------------------------------------------------------------------------------------

KERNEL_SAYS = {"vfio-pci-makes-viable": False, "one-function-alone": False, "owner-cnt-counts-devices": 2,
               "every-function-to-vm": True,
               "group-is-a-slot": {"0000:00:1c.0", "0000:00:1c.4", "0000:02:00.0"},
               "pcieport-must-unbind": False}


@pytest.mark.parametrize("name", sorted(MYTHS))
def test_each_myth_is_answered_by_the_kernel(name):
    m = MYTHS[name]
    q = m.question()
    assert m.myth and m.kernel
    believed = q.answer(m.myth_answer)
    assert believed.answered and not believed.ok, f"{name}: the myth's answer should be wrong"
    assert q.answer(q.solution()).ok
    if name in KERNEL_SAYS:
        assert q.expected == KERNEL_SAYS[name]
        assert q.outcome is not None                           # computed by running the simulator
    else:
        assert q.kind == "concept" and q.outcome is None       # about hardware: authored


def test_myths_cover_the_costly_misconceptions():
    assert set(MYTHS) == {"vfio-pci-makes-viable", "one-function-alone", "owner-cnt-counts-devices",
                          "every-function-to-vm", "group-is-a-slot", "acs-override-isolates",
                          "pcieport-must-unbind"}


# --- the widget -------------------------------------------------------------------------------------------------

def test_widget_checks_an_answer_and_shows_the_kernels(k):
    from iommulab.widgets.predict import Predict
    w = Predict(predict.owner_cnt(k, 1, after=AUDIO_OFF))
    assert "iommulab-predict" in w._dom_classes
    assert "iommulab-predict-answer" in w.box._dom_classes and "iommulab-predict-check" in w.check._dom_classes
    assert "iommulab-predict-feedback" in w.feedback._dom_classes
    assert list(w.box.options) == ["0", "1", "2", "3"]
    w.check.click()
    assert "not yet" in w.feedback.value and w.pictures.value == ""
    w.box.value = "2"
    w.check.click()
    assert "not quite" in w.feedback.value and "you said <b>2</b>" in w.feedback.value
    assert "the kernel: <b>1</b>" in w.feedback.value
    assert w.pictures.value.count("<svg") == 2 and "before" in w.pictures.value and "after" in w.pictures.value
    assert "<?xml" not in w.pictures.value
    w.box.value = "1"
    w.check.click()
    assert 'class="right"' in w.feedback.value


def test_widget_text_box_for_free_answers(k):
    from iommulab.widgets.predict import Predict
    w = Predict(predict.group_members(k, GPU))
    w.box.value = "01:00.1, 00:01.0"
    w.check.click()
    assert 'class="right"' in w.feedback.value
    w.box.value = "01:00.1, zz:zz"
    w.check.click()
    assert "zz:zz" in w.feedback.value and "answer with" in w.feedback.value


def test_widget_in_solution_mode_is_filled_and_checked(k):
    from iommulab.widgets.predict import Predict
    modes.set_solutions(True)
    try:
        w = Predict(predict.errno(k, lines.bind("pci", GPU, "vfio-pci")))
    finally:
        modes.set_solutions(None)
    assert w.box.value == "ENODEV" and 'class="right"' in w.feedback.value
    modes.set_solutions(True)
    try:
        free = Predict(predict.group_members(k, GPU))            # a text box is filled in too
    finally:
        modes.set_solutions(None)
    assert free.box.value == f"{PORT}, {AUDIO}" and 'class="right"' in free.feedback.value


def test_widget_callbacks_never_raise(k):
    from iommulab.widgets.predict import Predict
    q = predict.owner_cnt(k, 1)

    def broken(value):
        raise RuntimeError("boom")
    q.answer = broken
    w = Predict(q)
    w.box.value = "2"
    w.check.click()
    assert "could not check" in w.feedback.value and "boom" in w.feedback.value


def test_question_displays_as_the_widget(k, monkeypatch):
    import IPython.display
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    predict.viable(k, 1)._ipython_display_()
    from iommulab.widgets.predict import Predict
    assert len(shown) == 1 and isinstance(shown[0], Predict)


# --- versions: the same question, the kernel's answer of each release --------------------------------------------

def _pre_519(version):
    from importlib import resources
    text = (resources.files("iommulab.scenarios") / "pre-5.19-bug.toml").read_text(encoding="utf-8")
    assert 'version = "5.18"' in text
    return Kernel.from_toml(text.replace('version = "5.18"', f'version = "{version}"'), "pre-5.19-bug.toml")


def test_a_kernel_dma_driver_into_a_live_group_crashes_5_18_and_is_ebusy_since_5_19():
    setup = "\n".join([lines.qemu([GPU]), lines.unbind("pci", AUDIO, "vfio-pci"),
                       lines.set_driver_override("pci", AUDIO, "snd_hda_intel")])
    line = lines.bind("pci", AUDIO, "snd_hda_intel")
    old = _pre_519("5.18")
    q = predict.errno(old, line, after=setup)
    assert q.expected == "crashed" and "crashed" in q.choices
    assert q.answer("it crashes").ok and not q.answer("EBUSY").ok
    assert "vfio_iommu_group_notifier" in q.rule
    assert not old.state()["crashed"]                          # the learner's machine did not crash
    new = predict.errno(_pre_519("6.6"), line, after=setup)
    assert new.expected == "EBUSY" and "owned by user space" in new.rule


def test_owner_cnt_before_5_19_cannot_be_asked():
    with pytest.raises(QuestionError, match="5.19"):
        predict.owner_cnt(_pre_519("5.18"), 0)


def test_a_write_the_kernel_blocks_is_neither_ok_nor_an_errno(k):
    """A VM holds the GPU: unbinding vfio-pci from it waits in the driver's remove(); the answer
    is "blocks", the rule says why, and an accepted line's rule words only what that line did."""
    setup = "\n".join([lines_gpu_to_vfio(), "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind",
                       "qemu-system-x86_64 -device vfio-pci,host=0000:01:00.0 &"])
    q = predict.errno(k, "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind", after=setup)
    assert q.expected == "blocks" and "blocks" in q.choices and "held open by user space" in q.rule
    assert not q.answer("ok").ok and q.answer("it waits").ok
    bind = predict.errno(k, "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/bind",
                         after="echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    assert bind.expected == "ok" and "owner_cnt 1 → 2" in bind.rule, bind.rule


def lines_gpu_to_vfio():
    return ("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override\n"
            "echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind\n"
            "echo 0000:01:00.0 > /sys/bus/pci/drivers_probe")


def test_an_unanswered_feedback_never_shows_the_kernels_answer(k):
    """A console (text/plain) or nbconvert shows the Feedback of `q.answer(None)`: "not yet", not the
    dataclass with expected='EBUSY' in it."""
    q = predict.errno(k, "echo 0000:01:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
    f = q.answer(None)
    assert repr(f) == str(f) == "not yet" and q.expected not in f._repr_html_()
    wrong = q.answer("ok" if q.expected != "ok" else "EBUSY")
    assert repr(wrong).startswith("not quite: you said") and wrong._repr_html_().count("not quite") == 1


def test_the_step_of_a_claim_is_read_off_the_timeline():
    """predict.step_of: the plot-reading question. The answer is the timeline step whose events hold
    the group's claim, whatever was clicked or undone before; refused lines add no step."""
    from iommulab.shell import timeline_for
    k = Kernel.from_scenario("desktop-gpu")
    k.sh(lines_gpu_to_vfio() + "\necho 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/nouveau/bind")              # refused: no step
    k.sh("qemu-system-x86_64 -device vfio-pci,host=0000:01:00.0 &")
    tl = timeline_for(k)
    q = predict.step_of(k, "claim", 1)
    assert q.expected == tl.position == 5 and "qemu" in q.rule
    assert q.answer("step 5").ok and not q.answer(4).ok and not q.answer("five?").answered
    assert predict.step_of(k, "unbind", "0000:01:00.1").expected == 4
    k.sh("kill %1")
    assert predict.step_of(k, "release", 1).expected == tl.position
    k.sh("undo 2")                                                              # the claim undone
    with pytest.raises(predict.QuestionError):
        predict.step_of(k, "claim", 1)
    with pytest.raises(predict.QuestionError):
        predict.step_of(k, "explode", 1)


def test_a_leaked_count_is_not_explained_as_a_driver_still_bound():
    """seed-001 on 6.4: the NIC alone on vfio-pci and still not viable — the rule says the count
    leaked (no unbind helps), not the myth "every device must leave its kernel DMA driver"."""
    k = Kernel.from_scenario("seed-001")
    q = predict.viable(k, 45, after="echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind\n"
                                    "echo vfio-pci > /sys/bus/pci/devices/0000:03:00.1/driver_override\n"
                                    "echo 0000:03:00.1 > /sys/bus/pci/drivers/vfio-pci/bind")
    assert q.expected is False and "leaked" in q.rule and "must leave its kernel DMA driver" not in q.rule
