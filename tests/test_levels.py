"""Every level the package ships, replayed as Learn Git Branching's CI replays its levels: the
reference solution reaches the goal and keeps the constraints, the start does not already meet
the goal, the search finds a way within the level's bound, every authored hint can be shown, and
a wrong attempt gets a computed hint (tests/test_level_hints_*.py hold one per level)."""
import pytest

from iommulab.course import level, levels
from iommulab.course.level import _files, definition, parse, LevelError
from iommulab.course.goals import Observed

IDS = levels()


def wrong_attempts():
    """The WRONG tables of tests/test_level_hints_*.py: level id -> (a wrong attempt, what the hint says)."""
    import importlib.util
    from pathlib import Path
    out = {}
    for p in sorted(Path(__file__).parent.glob("test_level_hints_*.py")):
        spec = importlib.util.spec_from_file_location(p.stem, p)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out.update(mod.WRONG)
    return out


def test_there_are_at_least_twelve_levels_with_unique_ids():
    assert len(IDS) >= 12
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("lid", IDS)
def test_a_level_says_what_it_teaches(lid):
    d = definition(lid)
    assert d.title and d.intro.strip() and d.takeaway.strip() and d.solution.strip()
    assert len(d.hints) >= 2, "each level has at least two authored hints"
    assert d.goal


@pytest.mark.parametrize("lid", IDS)
def test_the_start_does_not_already_meet_the_goal(lid):
    lv = level(lid)
    assert not lv.check(record=False).passed


@pytest.mark.parametrize("lid", IDS)
def test_the_solution_reaches_the_goal_and_keeps_the_constraints(lid):
    lv = level(lid)
    lv.solve()
    c = lv.check(record=False)
    assert c.passed, str(c)
    assert not c.broken


@pytest.mark.parametrize("lid", IDS)
def test_the_search_finds_a_way_within_the_bound(lid):
    from iommulab.shell import timeline_for
    lv = level(lid)
    tl = timeline_for(lv.k)
    before = (lv.k.state(), [a.line for a in tl.attempts], tl.listing(), len(lv.k.events))
    found = lv._search()
    assert found.found, f"no way to the goal within {lv.d.bound} actions ({found.states} states)"
    assert lv.next_step().kind == "next"
    assert (lv.k.state(), [a.line for a in tl.attempts], tl.listing(), len(lv.k.events)) == before


@pytest.mark.parametrize("lid", IDS)
def test_the_a_star_estimate_never_lengthens_the_way(lid):
    """Each clause's actions_left is a lower bound: A* finds paths as short as breadth-first search."""
    from iommulab.course.search import search
    lv = level(lid)
    astar = lv._search()
    bfs = search(lv.k, lv.goal_holds, lv.focus(), lv.d.bound, start_attempts=lv.start_attempts,
                 start_state=lv.start_state, allow=lv.d.search_actions, allowed=lv.allowed,
                 named=set(lv.d.search_devices) | lv.named_devices(), history=any(c.history for c in lv.d.goal))
    assert bfs.found and len(astar.actions) == len(bfs.actions)


def _prefixes(lv):
    """The observed state at the start and after each top-level line of the solution."""
    lines = [x for x in lv.d.solution.strip().splitlines() if x.strip() and not x.lstrip().startswith("#")]
    lv.reset()
    yield lv.observed()
    for line in lines:
        lv.sh(line)
        yield lv.observed()


@pytest.mark.parametrize("lid", IDS)
def test_every_authored_hint_can_be_shown(lid):
    lv = level(lid)
    for text, when in lv.d.hints:
        if when is None:
            continue
        assert any(when.holds(obs) for obs in _prefixes(lv)), f"hint never shown on the way: {text}"


@pytest.mark.parametrize("lid", IDS)
def test_every_level_has_a_wrong_attempt_test(lid):
    assert lid in wrong_attempts()


def test_hints_come_in_order_then_the_computed_next_step():
    lv = level("gpu-passthrough")
    first = lv.hint()
    assert first.kind == "authored" and first.text == lv.d.hints[0][0]
    seen = [lv.hint() for _ in range(len(lv.d.hints) + 1)]
    assert seen[-1].kind == "next" and seen[-1].line


def test_a_hint_whose_condition_does_not_hold_is_skipped():
    lv = level("gpu-passthrough")
    lv.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    texts = [lv.hint().text for _ in range(len(lv.d.hints))]
    assert lv.d.hints[1][0] not in texts            # its `when`: the audio still on snd_hda_intel


def test_a_hint_asked_for_too_early_is_kept_for_when_it_applies():
    lv = level("leak-2023")
    early = [lv.hint() for _ in range(len(lv.d.hints))]
    guarded = [text for text, when in lv.d.hints if when is not None]
    assert guarded and not all(t in [h.text for h in early] for t in guarded)
    later = []
    for line in [x for x in lv.d.solution.strip().splitlines() if x.strip()]:
        lv.sh(line)
        later += [lv.hint().text for _ in range(2)]
    assert all(t in [h.text for h in early] + later for t in guarded)


@pytest.mark.parametrize("lid", IDS)
def test_hint_delivers_every_authored_hint_along_the_solution_or_the_wrong_attempt(lid):
    wrong = wrong_attempts()[lid][0]
    for path in (lv_lines(definition(lid).solution), lv_lines(wrong) + lv_lines(definition(lid).solution)):
        lv = level(lid)
        seen = set()
        _ask_until_no_authored_hint(lv, seen)
        for line in path:
            lv.sh(line)
            _ask_until_no_authored_hint(lv, seen)
        if all(text in seen for text, _ in lv.d.hints):
            return
    pytest.fail(f"hint() never gave: {[t for t, _ in lv.d.hints if t not in seen]}")


def _ask_until_no_authored_hint(lv, seen):
    """A learner asking for hints until the level's own run out at this point."""
    for _ in lv.d.hints:
        h = lv.hint()
        if h.kind != "authored":
            break
        seen.add(h.text)


def lv_lines(script):
    return [x for x in script.strip().splitlines() if x.strip() and not x.lstrip().startswith("#")]


def test_an_undone_refusal_is_not_counted_by_the_next_step():
    lv = level("audio-second-vm")
    lv.sh("qemu-system-x86_64 -m 4G -device vfio-pci,host=0000:01:00.0 &")
    lv.sh("qemu-system-x86_64 -m 2G -device vfio-pci,host=0000:01:00.1 &")
    lv.sh("undo")                                   # takes back the first VM, and the refusal made beside it
    h = lv.next_step()
    assert h.kind == "next"
    lv.sh(h.line)
    if "1 action from the goal" in h.text:
        assert lv.check(record=False).passed


def test_a_broken_constraint_gets_a_way_back_not_a_next_step():
    lv = level("gpu-passthrough")
    lv.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind")
    lv.sh("echo 0000:00:01.0 > /sys/bus/pci/drivers/pcieport/unbind")
    h = lv.next_step()
    assert h.kind == "way-back" and h.undo == 1 and "0000:00:01.0 must keep its driver" in h.text
    from iommulab.shell import timeline_for
    timeline_for(lv.k).undo()
    assert lv.next_step().kind == "next" and not lv.check(record=False).broken


def test_done_when_the_goal_holds():
    lv = level("gpu-passthrough")
    lv.solve()
    assert lv.hint().kind == "done" and lv.next_step().kind == "done"


def test_a_broken_machine_gets_the_way_back():
    lv = level("gpu-passthrough")
    lv.sh("echo 1 > /sys/bus/pci/devices/0000:01:00.0/remove")      # the GPU is gone: no VM can get it
    h = lv.next_step()
    assert h.kind == "way-back" and h.undo == 1
    assert "Undo 1 step" in h.text


def test_solution_is_behind_a_confirmation():
    lv = level("gpu-passthrough")
    assert "confirm=True" in lv.solution()
    assert lv.solution(confirm=True) == lv.d.solution


def test_the_constraint_is_checked_on_what_happened():
    lv = level("gpu-passthrough")
    lv.sh("echo 0000:00:01.0 > /sys/bus/pci/drivers/pcieport/unbind")
    lv.sh(lv.d.solution)
    c = lv.check(record=False)
    assert all(ok for _, ok, _ in c.clauses)
    assert not c.passed and any("0000:00:01.0 must keep its driver" in b for b in c.broken)


def test_a_level_file_with_mistakes_is_refused_with_its_reason():
    with pytest.raises(LevelError, match="unknown goal clause 'owned'"):
        parse('id="x"\ntitle="x"\nscenario="desktop-gpu"\nsolution=""\n[[goal]]\nwhat="owned"\n', "x.toml")
    with pytest.raises(LevelError, match="needs group, owner; missing owner"):
        parse('id="x"\ntitle="x"\nscenario="desktop-gpu"\nsolution=""\n[[goal]]\nwhat="owner"\ngroup=1\n', "x.toml")
    with pytest.raises(LevelError, match="no scenario 'nope'"):
        parse('id="x"\ntitle="x"\nscenario="nope"\nsolution=""\n[[goal]]\nwhat="running"\n', "x.toml")
    with pytest.raises(LevelError, match="unknown key"):
        parse('id="x"\ntitle="x"\nscenario="desktop-gpu"\nsolution=""\ngoals=[]\n[[goal]]\nwhat="running"\n', "x.toml")


def test_level_files_are_named_by_order_and_id():
    for p in _files():
        d = definition(p.name.split("-", 1)[1].removesuffix(".toml"))
        assert p.name[:2].isdigit() and p.name.endswith(f"-{d.id}.toml")


def test_refused_clause_reads_the_tries_not_the_state():
    lv = level("gpu-passthrough")
    from iommulab.course.goals import clause
    c = clause({"what": "refused", "program": "qemu", "because": "not-viable"})
    assert not c.holds(lv.observed())
    lv.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind\n"
          "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override\n"
          "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind\n"
          "qemu-system-x86_64 -device vfio-pci,host=0000:01:00.0 &")
    assert c.holds(lv.observed())
    assert isinstance(lv.observed(), Observed)


def test_an_undone_step_takes_back_what_was_tried_at_it():
    lv = level("gpu-passthrough")
    lv.sh("echo 0000:00:01.0 > /sys/bus/pci/drivers/pcieport/unbind")
    assert lv.check(record=False).broken
    from iommulab.shell import timeline_for
    timeline_for(lv.k).undo()
    assert not lv.check(record=False).broken         # the root port has its driver again, as if never unbound
    lv.sh(lv.d.solution)
    assert lv.check(record=False).passed


def test_a_refusal_undone_with_its_step_no_longer_counts():
    from iommulab.shell import timeline_for
    lv = level("no-mixing")
    lv.solve()
    assert lv.check(record=False).passed
    tl = timeline_for(lv.k)
    while tl.position > lv.start_step:
        tl.undo()
    c = lv.check(record=False)
    refused = [ok for words, ok, _ in c.clauses if "was refused" in words]
    assert refused == [False]


def test_the_crash_level_is_typed_in_two_parts():
    lv = level("crash-5.18")
    chunks = lv.solution_chunks()
    assert chunks[-1] == "reboot" and len(chunks) == 2


@pytest.mark.parametrize("cell, says", [
    ('import iommulab; iommulab.level("gpu-passthru")', "LevelError: no level 'gpu-passthru'; the levels are: "),
    ('from iommulab import quiz; quiz.Quiz(4, kind="ownr")', "QuizError: "),
    ('from iommulab import Kernel, predict; predict.owner_cnt(Kernel.from_scenario("desktop-gpu"), 99)',
     "QuestionError: "),
])
def test_a_mistyped_call_shows_one_line_not_a_traceback(cell, says, capsys):
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    try:
        r = shell.run_cell(cell)
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr()
    text = out.out + out.err
    assert not r.success and says in text
    assert "Traceback" not in text and "File " not in text, text


def test_qemu_by_full_path_through_sudo_or_with_a_short_host_is_still_qemu():
    lv = level("gpu-passthrough")
    lv.sh(lv.d.solution.replace("qemu-system", "sudo -E /usr/bin/qemu-system"))
    assert lv.check(record=False).passed
    lv = level("audio-second-vm")
    lv.sh("qemu-system-x86_64 -m 4G -device vfio-pci,host=0000:01:00.0 &")
    lv.sh("qemu-system-x86_64 -m 2G -device vfio-pci,host=01:00.1 &")          # QEMU's domain is 0 when left out
    assert lv.check(record=False).passed


def test_a_write_from_python_counts_as_a_try():
    lv = level("gpu-passthrough")
    lv.k.write("/sys/bus/pci/drivers/pcieport/unbind", "0000:00:01.0\n")
    lv.sh(lv.d.solution)
    c = lv.check(record=False)
    assert not c.passed and any("0000:00:01.0 must keep its driver" in b for b in c.broken)


def test_a_forbidden_write_is_found_whatever_the_path_looks_like():
    lv = level("free-group")
    assert "/sys/bus/pci/devices/*/remove" in lv.d.constraints.get("forbid_writes", [])
    lv.sh("echo 1 > /sys/bus/pci/devices/0000:01:00.1/../0000:01:00.1/remove")
    assert lv.check(record=False).broken


@pytest.mark.parametrize("text", ['{"levels": {"gpu-passthrough": "yes"}}', '{"levels": {"x": {"actions": "3"}}}',
                                  '{"checks": {"q1": 5}}', '[1, 2]', '{"levels": 7}'])
def test_a_hand_edited_progress_file_never_stops_a_check(text, tmp_path, monkeypatch):
    from iommulab.course import progress
    p = tmp_path / "p.json"
    p.write_text(text)
    monkeypatch.setenv("IOMMULAB_PROGRESS", str(p))
    lv = level("gpu-passthrough")
    lv.solve()
    assert lv.check().passed
    assert "gpu-passthrough" in progress.summary()["levels_passed"]
