"""The LevelLab widget (issue 13, "Levels are data"): a level open in the Lab with a goal panel,
driven in-kernel through the Lab's own methods and the panel's buttons' click()."""
import html
import json
import re

import pytest

import iommulab.course as course
from iommulab.course import modes
from iommulab.widgets.level import SCALE, LevelLab, scaled

LEVEL = "gpu-passthrough"


@pytest.fixture
def ll():
    return LevelLab(course.level(LEVEL))


def ticks(w):
    """The marks of the goal clauses as shown: a list of True (✓, .ok) / False (✗, .not-ok)."""
    return [cls == "ok" for cls in re.findall(r'class="iommulab-goal-clause (ok|not-ok)', w.clauses_view.value)]


def solution_lines(w):
    return [x for x in w.level.d.solution.strip().splitlines() if x.strip()]


def visible(widget):
    return widget.layout.display != "none"


def words(text):
    return " ".join(text.split())


def test_the_panel_names_the_level_and_its_goal_above_the_lab(ll):
    lv = ll.level
    assert "iommulab-level" in ll._dom_classes
    assert ll.children[1] is ll.panel and ll.children[2] is ll.lab        # the goal panel first, then the Lab
    assert "iommulab-goal" in ll.panel._dom_classes
    assert lv.title in ll.head.value and words(lv.d.intro)[:40] in ll.head.value
    for w in lv.goal_words():
        assert w in ll.clauses_view.value
    assert ticks(ll) == [False] * len(lv.goal_words())      # the level's start never meets its goal
    assert ll.lab.k is lv.k


def test_the_ticks_follow_every_lab_action_undo_and_step(ll):
    lv, lab = ll.level, ll.lab
    lines = solution_lines(ll)
    why_before = ll.clauses_view.value
    lab.sh(lines[0])                                   # a Lab action: the panel is redrawn with it
    assert ll.clauses_view.value != why_before and "owner_cnt 1" in ll.clauses_view.value
    for line in lines[1:]:
        lab.sh(line)
    assert ticks(ll) == [True] * len(lv.goal_words())
    assert ll.last_check.passed
    lab.undo_b.click()                                 # the Lab's own undo button
    assert ticks(ll) != [True] * len(lv.goal_words())
    assert "Level passed" not in ll.passed_view.value
    lab.step.value = 0                                 # the Lab's slider: the machine as booted
    assert ticks(ll) == [False] * len(lv.goal_words())


def test_check_says_which_clauses_fail_and_why(ll):
    lv = ll.level
    ll.check_b.click()
    fb = ll.feedback.value
    assert "check: not yet" in fb and f"0 of {len(lv.goal_words())}" in fb
    expected = lv.check(record=False)
    for w, why in expected.failing:
        assert w in fb and why.split(":")[0] in fb
    ll.lab.sh(solution_lines(ll)[1])                   # 0000:01:00.1 leaves snd_hda_intel
    ll.check_b.click()
    assert "snd_hda_intel" not in ll.feedback.value.split("owned by user space", 1)[1]


def test_hints_are_the_authored_ones_then_a_computed_next_step_that_do_it_runs(ll):
    lv, lab = ll.level, ll.lab
    authored = [text for text, when in lv.d.hints]
    shown = []
    for _ in authored:
        ll.hint_b.click()
        assert 'kind-authored' in ll.feedback.value and not visible(ll.do_b)
        shown.append(ll.feedback.value)
    for text, fb in zip(authored, shown):
        assert text.split(":")[0] in fb
    ll.hint_b.click()                                  # all authored shown: computed from this state
    h = ll.last_hint
    assert h.kind == "next" and h.line
    assert "kind-next" in ll.feedback.value and f"<code>{h.line.replace('>', '&gt;')}</code>" in ll.feedback.value
    assert visible(ll.do_b)
    steps = len(lab.timeline.steps)
    ll.do_b.click()
    assert len(lab.timeline.steps) == steps + 1 and h.line in lab.shell_out.value.replace("&gt;", ">")
    assert not visible(ll.do_b)
    ll.hint_b.click()
    assert ll.last_hint.kind == "next" and ll.last_hint.line != h.line   # the step after it


def test_a_broken_machine_gets_a_way_back_and_undo_n_takes_it(ll):
    lab = ll.lab
    ll.level.hints_shown = set(range(len(ll.level.d.hints)))
    lab.sh("echo 1 > /sys/bus/pci/devices/0000:01:00.0/remove")     # the GPU leaves the machine
    ll.hint_b.click()
    h = ll.last_hint
    assert h.kind == "way-back" and h.undo >= 1
    assert visible(ll.undo_b) and ll.undo_b.description == f"undo {h.undo}"
    ll.undo_b.click()
    assert "0000:01:00.0" in lab.k.devices
    ll.hint_b.click()
    assert ll.last_hint.kind == "next"


def test_the_solution_needs_a_confirmation_then_run_it_passes(ll, tmp_path):
    lv = ll.level
    lines = solution_lines(ll)
    ll.solution_b.click()
    assert visible(ll.confirm_row) and "Are you sure? Try a hint first." in ll.confirm_text.value
    assert lines[0] not in ll.feedback.value.replace("&gt;", ">")
    assert not visible(ll.run_b)
    ll.confirm_b.click()
    assert not visible(ll.confirm_row)
    fb = ll.feedback.value.replace("&gt;", ">")
    assert all(x in fb for x in lines) and visible(ll.run_b)
    ll.run_b.click()
    assert ticks(ll) == [True] * len(lv.goal_words())
    passed = words(ll.passed_view.value)
    assert "Level passed" in passed and words(lv.d.takeaway)[:60] in passed
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert progress["levels"][lv.id]["passed"] is True


def test_cancel_gives_a_hint_instead(ll):
    ll.solution_b.click()
    ll.cancel_b.click()
    assert not visible(ll.confirm_row) and "kind-authored" in ll.feedback.value


def test_check_after_the_solution_says_passed(ll):
    for line in solution_lines(ll):
        ll.lab.shell_in.value = line                   # typed in the Lab's shell box, run by its button
        ll.lab.shell_run.click()
    ll.check_b.click()
    assert "check: passed" in ll.feedback.value and "Level passed" in ll.passed_view.value


def test_reset_gives_a_fresh_machine_and_clears_the_ticks(ll):
    lv = ll.level
    for line in solution_lines(ll):
        ll.lab.sh(line)
    ll.hint_b.click()
    old_k, old_lab = lv.k, ll.lab
    assert ticks(ll) == [True] * len(lv.goal_words())
    ll.reset_b.click()
    assert lv.k is not old_k and ll.lab is not old_lab and ll.lab.k is lv.k
    assert ll.children[2] is ll.lab
    assert ticks(ll) == [False] * len(lv.goal_words()) and ll.passed_view.value == ""
    assert lv.k.devices["0000:01:00.0"].driver.name == "nouveau"
    assert len(ll.lab.timeline.steps) == 1
    ll.lab.sh(solution_lines(ll)[0])                   # the new Lab still ticks the panel
    assert "owner_cnt 1" in ll.clauses_view.value
    ll.hint_b.click()                                  # hints start again from the first
    assert lv.d.hints[0][0].split(":")[0] in ll.feedback.value


def test_a_broken_constraint_shows_as_a_failing_clause(ll):
    ll.lab.sh("echo 0000:00:01.0 > /sys/bus/pci/drivers/pcieport/unbind")
    assert "iommulab-goal-constraint" in ll.clauses_view.value and "0000:00:01.0 must keep its driver" in \
        ll.clauses_view.value


def test_the_goal_picture_is_the_solution_run_from_the_start_beside_now(ll):
    pics = html.unescape(ll.pictures.value)
    assert "iommulab-goal-picture-now" in pics and "iommulab-goal-picture-goal" in pics
    now, goal = pics.split("iommulab-goal-picture-goal", 1)
    assert "qemu" in goal and "user-space process" in goal and "qemu" not in now
    assert "cluster_g1" in goal and "cluster_g2" not in goal      # only the group the goal is about
    ll.lab.sh(solution_lines(ll)[0])                   # the learner acts: now changes, the goal does not
    now2, goal2 = html.unescape(ll.pictures.value).split("iommulab-goal-picture-goal", 1)
    assert goal2 == goal and now2 != now


def test_the_pictures_keep_a_fixed_scale():
    svg = '<?xml version="1.0"?>\n<svg width="300pt" height="150pt" viewBox="0.00 0.00 300.00 150.00"><g/></svg>'
    out = scaled(svg)
    assert f'width="{300 * 4 / 3 * SCALE:.0f}px"' in out and f'height="{150 * 4 / 3 * SCALE:.0f}px"' in out
    assert 'viewBox="0.00 0.00 300.00 150.00"' in out


def test_the_panel_pictures_use_dots_size_times_the_scale(ll):
    m = re.search(r'iommulab-goal-picture-goal.*?<svg width="(\d+)px" height="(\d+)px"\s+viewBox="[\d.]+ [\d.]+ '
                  r'([\d.]+) ([\d.]+)"', ll.pictures.value, re.S)
    assert m, "the goal picture has a px size"
    w, h, vw, vh = map(float, m.groups())
    assert abs(w - vw * 4 / 3 * SCALE) <= 1 and abs(h - vh * 4 / 3 * SCALE) <= 1
    assert "max-width: none" in ll.children[0].value


def test_a_callback_that_fails_shows_the_error_instead_of_raising(ll, monkeypatch):
    def broken():
        raise RuntimeError("the hint search fell over")
    monkeypatch.setattr(ll.level, "hint", broken)
    ll.hint_b.click()                                  # no exception reaches the notebook
    assert "RuntimeError" in ll.feedback.value and "the hint search fell over" in ll.feedback.value

    def bad_check(record=True):
        raise ValueError("no state")
    monkeypatch.setattr(ll.level, "check", bad_check)
    ll.lab.sh(solution_lines(ll)[0])                   # the action still happens; the panel says why it did not tick
    assert ll.lab.k.devices["0000:01:00.0"].driver is None
    assert "ValueError" in ll.feedback.value and "could not" not in ll.lab.feedback.value


def test_passing_says_where_the_progress_is_kept(ll, tmp_path):
    for line in solution_lines(ll):
        ll.lab.sh(line)
    assert str(tmp_path / "progress.json") in ll.passed_view.value       # the level's progress_note()


def test_a_level_without_a_progress_note_still_passes(monkeypatch):
    monkeypatch.delattr(course.Level, "progress_note", raising=False)
    ll = LevelLab(course.level(LEVEL))
    for line in solution_lines(ll):
        ll.lab.sh(line)
    assert "Level passed" in ll.passed_view.value and "iommulab-level-progress" not in ll.passed_view.value


def test_solution_mode_opens_the_level_passed(tmp_path):
    modes.set_solutions(True)
    try:
        ll = LevelLab(course.level(LEVEL))
        assert ticks(ll) == [True] * len(ll.level.goal_words()) and "Level passed" in ll.passed_view.value
        assert "qemu" in html.unescape(ll.pictures.value).split("iommulab-goal-picture-goal", 1)[1]
    finally:
        modes.set_solutions(None)
    assert not (tmp_path / "progress.json").exists()   # solution mode records nothing


def test_level_displays_as_the_level_lab(monkeypatch):
    shown = []
    import IPython.display
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.extend(a))
    course.level(LEVEL)._ipython_display_()
    assert len(shown) == 1 and isinstance(shown[0], LevelLab)


def test_a_strip_in_the_lab_repeats_the_ticks_and_the_feedback_where_the_learner_acts(ll):
    lab = ll.lab
    side = list(lab.side.children)                     # the Lab's panel slot: beside the controls,
    assert side.index(ll.strip) == side.index(lab.feedback) + 1 > side.index(lab.actions)  # under its feedback
    assert ll.strip.value.count('class="not-ok"') == len(ll.level.goal_words())
    ll.hint_b.click()
    assert ll.level.d.hints[0][0].split(":")[0] in ll.strip.value
    for line in solution_lines(ll):
        lab.sh(line)
    assert "Level passed" in ll.strip.value and 'class="not-ok"' not in ll.strip.value
    old = ll.lab
    ll.reset_b.click()                                 # the new Lab gets the strip too
    assert ll.strip in ll.lab.side.children and ll.strip not in old.side.children
    assert 'class="not-ok"' in ll.strip.value


def test_the_pictures_toggle_hides_them_and_brings_them_back_up_to_date(ll):
    ll.pictures_t.value = False
    assert not visible(ll.pictures)
    before = ll.pictures.value
    ll.lab.sh(solution_lines(ll)[0])                   # hidden: not drawn again
    assert ll.pictures.value == before
    ll.pictures_t.value = True
    assert visible(ll.pictures) and ll.pictures.value != before


def test_a_line_run_in_code_is_seen_by_the_displayed_level():
    """lv.sh() while the level is displayed runs in its Lab: the goal ticks, the picture and the
    log follow (they did not: the line went to the kernel behind the widget's back)."""
    import iommulab
    from iommulab.widgets.level import LevelLab
    lv = iommulab.level("gpu-only")
    view = LevelLab(lv)
    ticks = view.clauses_view.value
    for chunk in lv.solution_chunks():
        lv.sh(chunk)
    assert view.clauses_view.value != ticks and "not-ok" not in view.clauses_view.value
    assert view.lab.step.max == lv.timeline.position and view.lab.entries
    lv.reset()                                       # a new machine: lines no longer go to the old view
    assert lv.shell is None and lv.sh("true").status == 0


def test_a_broken_rule_gets_the_way_back_before_the_authored_hints():
    import iommulab
    lv = iommulab.level("gpu-passthrough")
    lv.sh("echo 0000:00:01.0 > /sys/bus/pci/drivers/pcieport/unbind")
    h = lv.hint()
    assert h.kind == "way-back" and h.undo == 1 and "0000:00:01.0 must keep its driver" in h.text, h
