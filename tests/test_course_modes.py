"""Student and solution modes (iommulab/course/modes.py) and a learner's progress file
(iommulab/course/progress.py): issue 13, "Modes and progress"."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iommulab.course import SolutionFailed, level, modes, progress

ROOT = Path(__file__).resolve().parent.parent
LEVEL = "gpu-passthrough"


@pytest.fixture(autouse=True)
def fresh_session(monkeypatch, tmp_path):
    """Each test is a new Python session: no forced mode, nothing kept in memory, no problem seen.
    (conftest.py points IOMMULAB_PROGRESS at the test's own directory and clears IOMMULAB_SOLUTIONS.)"""
    monkeypatch.setattr(modes, "_forced", None)
    monkeypatch.setattr(progress, "_memory", {"levels": {}, "checks": {}})
    monkeypatch.setattr(progress, "_problem", "")
    monkeypatch.delenv("BINDER_LAUNCH_HOST", raising=False)
    monkeypatch.delenv("BINDER_REQUEST", raising=False)
    return tmp_path


def new_session(monkeypatch):
    """What closing the lab and opening it again forgets: everything but the file."""
    monkeypatch.setattr(progress, "_memory", {"levels": {}, "checks": {}})
    monkeypatch.setattr(progress, "_problem", "")


# --- modes -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("true", True), ("ON", True), (" 1 ", True),
                                       ("0", False), ("", False), ("no", False), ("off", False)])
def test_solution_mode_comes_from_the_environment(monkeypatch, value, on):
    monkeypatch.setenv("IOMMULAB_SOLUTIONS", value)
    assert modes.solutions() is on


def test_student_mode_is_the_default():
    assert "IOMMULAB_SOLUTIONS" not in os.environ
    assert modes.solutions() is False


def test_set_solutions_overrides_the_environment_until_set_back(monkeypatch):
    monkeypatch.setenv("IOMMULAB_SOLUTIONS", "1")
    modes.set_solutions(False)
    assert modes.solutions() is False
    monkeypatch.setenv("IOMMULAB_SOLUTIONS", "0")
    modes.set_solutions(True)
    assert modes.solutions() is True
    modes.set_solutions(None)
    assert modes.solutions() is False          # the environment again
    monkeypatch.setenv("IOMMULAB_SOLUTIONS", "yes")
    assert modes.solutions() is True


def test_student_mode_an_unpassed_check_says_not_yet_and_does_not_raise():
    lv = level(LEVEL)
    c = lv.check()
    assert not c.passed and not c
    assert str(c).splitlines()[0] == f"level {LEVEL}: not yet"
    assert "not yet" in c._repr_html_()
    assert c.failing and all(why for _, why in c.failing)      # each failing clause says why


def test_solution_mode_solves_on_open_and_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv("IOMMULAB_SOLUTIONS", "1")
    lv = level(LEVEL)                          # runs its reference solution when it opens
    assert lv.actions_taken > 0
    assert lv.check().passed
    lv.reset()                                 # the learner's start again: the goal does not hold
    with pytest.raises(SolutionFailed, match=f"level {LEVEL} does not reach its goal"):
        lv.check()
    assert issubclass(SolutionFailed, AssertionError)   # a notebook cell fails loudly in CI


# --- progress: the file ----------------------------------------------------------------------------------

def test_the_file_is_where_iommulab_progress_says(tmp_path):
    assert progress.path() == tmp_path / "progress.json"
    progress.level_passed("a-level", 3)
    data = json.loads((tmp_path / "progress.json").read_text())
    assert data["levels"]["a-level"]["passed"] is True and data["levels"]["a-level"]["actions"] == 3
    assert str(tmp_path / "progress.json") in progress.where()


def test_without_iommulab_progress_the_file_is_beside_the_notebooks(monkeypatch, tmp_path):
    monkeypatch.delenv("IOMMULAB_PROGRESS")
    monkeypatch.chdir(tmp_path)                # a notebook's kernel runs in the notebook's directory
    progress.level_passed("a-level", 2)
    assert (tmp_path / ".iommulab-progress.json").is_file()


def test_the_file_is_written_atomically(tmp_path, monkeypatch):
    f = tmp_path / "progress.json"
    progress.level_passed("first", 4)
    before = f.read_text()
    assert list(tmp_path.iterdir()) == [f]     # no temporary file left behind

    def crash(src, dst):                       # the write is cut off before the new file is in place
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(progress.os, "replace", crash)
    progress.level_passed("second", 1)         # does not raise
    assert f.read_text() == before             # the old file is whole: the new one never half-replaced it
    assert json.loads(f.read_text())["levels"].keys() == {"first"}
    assert "kept for this session only" in progress.where()


def test_what_could_not_be_written_is_still_known_in_this_session(tmp_path, monkeypatch):
    progress.level_passed("first", 4)          # in the file
    monkeypatch.setattr(progress.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(28, "No space")))
    progress.level_passed("second", 1)         # only in this session
    progress.answered("q1", True, "EBUSY")
    assert "kept for this session only" in progress.where()
    assert progress.summary() == {"levels_passed": ["first", "second"], "checks_answered": 1, "checks_right": 1}


def test_progress_is_read_back_in_a_new_session(monkeypatch):
    progress.level_passed("a-level", 6)
    progress.answered("q1", True, "EBUSY")
    progress.answered("q2", False, "EPERM")
    new_session(monkeypatch)
    assert progress._memory == {"levels": {}, "checks": {}}
    assert progress.load()["levels"]["a-level"]["actions"] == 6
    assert progress.summary() == {"levels_passed": ["a-level"], "checks_answered": 2, "checks_right": 1}


def test_progress_is_read_back_by_another_python_process(tmp_path):
    progress.level_passed("a-level", 6)
    env = dict(os.environ, IOMMULAB_PROGRESS=str(tmp_path / "progress.json"))
    out = subprocess.run([sys.executable, "-c", "import json; from iommulab.course import progress; "
                          "print(json.dumps(progress.summary()))"],
                         capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    assert json.loads(out.stdout)["levels_passed"] == ["a-level"]


def test_the_best_action_count_is_kept(monkeypatch):
    for n in (7, 5, 9):
        progress.level_passed("a-level", n)
        new_session(monkeypatch)               # also across sessions, from the file alone
    assert progress.load()["levels"]["a-level"]["actions"] == 5


def test_an_answer_is_recorded_with_the_last_try():
    progress.answered("q1", False, "EPERM")
    progress.answered("q1", True, "EBUSY")
    assert progress.load()["checks"]["q1"]["ok"] is True
    assert progress.load()["checks"]["q1"]["answer"] == "EBUSY"
    assert progress.summary()["checks_right"] == 1


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe", ""])
def test_a_corrupt_file_does_not_raise_and_progress_is_kept_for_this_session(tmp_path, content):
    (tmp_path / "progress.json").write_text(content, encoding="latin-1")
    assert progress.summary()["levels_passed"] == []
    progress.level_passed("a-level", 3)
    progress.answered("q1", True, "3")
    assert "could not be read" in progress.where() and "kept for this session only" in progress.where()
    assert progress.summary() == {"levels_passed": ["a-level"], "checks_answered": 1, "checks_right": 1}


@pytest.mark.parametrize("where", ["missing-dir/progress.json", "a-file/progress.json"])
def test_an_unwritable_place_does_not_raise_and_progress_is_kept_for_this_session(monkeypatch, tmp_path, where):
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("IOMMULAB_PROGRESS", str(tmp_path / where))
    progress.level_passed("a-level", 3)
    assert "kept for this session only" in progress.where()
    assert str(tmp_path / where) in progress.where()
    assert progress.summary()["levels_passed"] == ["a-level"]
    assert not (tmp_path / where).exists()


def test_on_binder_where_says_the_files_are_lost_when_the_session_ends(monkeypatch):
    assert "lost" not in progress.where() and not progress.on_binder()
    monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    assert progress.on_binder()
    assert "Binder" in progress.where() and "lost when it ends" in progress.where()


def test_solution_mode_records_nothing(monkeypatch, tmp_path):
    modes.set_solutions(True)
    progress.level_passed("a-level", 3)
    progress.answered("q1", True, "3")
    monkeypatch.setenv("IOMMULAB_SOLUTIONS", "1")
    modes.set_solutions(None)
    lv = level(LEVEL)
    assert lv.check().passed                   # solved on open, and passed...
    assert not (tmp_path / "progress.json").exists()     # ...but not the learner's pass
    assert progress.summary() == {"levels_passed": [], "checks_answered": 0, "checks_right": 0}


# --- progress: a level played ----------------------------------------------------------------------------

def test_a_level_passed_in_student_mode_is_in_the_summary(tmp_path):
    lv = level(LEVEL)
    assert not lv.check().passed
    assert progress.summary()["levels_passed"] == []     # a check that does not pass records nothing
    lv.solve()
    c = lv.check()
    assert c.passed
    assert progress.summary()["levels_passed"] == [LEVEL]
    kept = json.loads((tmp_path / "progress.json").read_text())["levels"][LEVEL]
    assert kept["actions"] == c.actions == lv.actions_taken > 0


def test_check_record_false_records_nothing(tmp_path):
    lv = level(LEVEL)
    lv.solve()
    assert lv.check(record=False).passed
    assert progress.summary()["levels_passed"] == []


# --- the README documents what a level file may say ---------------------------------------------------

def readme_section():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Levels, predictions and problems")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_names_every_level_key_clause_kind_and_constraint():
    from iommulab.course.goals import KINDS
    from iommulab.course.level import CONSTRAINT_KEYS, TOP_KEYS
    from iommulab.course.search import EXTRA
    from iommulab.check.explore import possible_actions
    sec = readme_section()
    assert [k for k in sorted(TOP_KEYS) if f"`{k}`" not in sec] == []
    assert [k for k in sorted(KINDS) if f"`{k}`" not in sec] == []
    assert [k for k in sorted(CONSTRAINT_KEYS) if f"`{k}`" not in sec] == []
    assert [k for k in EXTRA if f"`{k}`" not in sec] == []
    assert "`when`" in sec and "IOMMULAB_SOLUTIONS=1" in sec and ".iommulab-progress.json" in sec
    assert progress.NAME in sec and "IOMMULAB_PROGRESS" in sec
    from iommulab import Kernel
    kinds = {a.kind for a in possible_actions(Kernel.from_scenario("desktop-gpu"))} - {"rescan"}
    assert [k for k in sorted(kinds) if f"`{k}`" not in sec] == []


def test_the_readme_level_snippet_runs():
    """The level lines of the README's section, run as written (a notebook's display line left out)."""
    import re
    block = re.search(r"```python\n(.*?)```", readme_section(), re.S).group(1)
    code = "\n".join(ln for ln in block.splitlines() if ln.split("#")[0].strip() != "lv")
    env = {}
    exec(compile(code, "README.md", "exec"), env)           # noqa: S102 - the README's own example
    lv = env["lv"]
    assert lv.id == LEVEL and lv.actions_taken == 1
    assert not lv.check(record=False).passed


def test_in_solution_mode_a_failed_check_inside_a_widget_fails_the_run(monkeypatch):
    """A widget's callbacks never raise into a notebook, except solution mode's failed check:
    CI's run in solution mode must fail when a kernel answer is judged wrong."""
    from iommulab import Kernel
    from iommulab.course import modes, predict
    from iommulab.widgets.predict import Predict
    modes.set_solutions(True)
    try:
        q = predict.viable(Kernel.from_scenario("desktop-gpu"), 1)
        monkeypatch.setattr(type(q), "prefill", lambda self: "yes" if self.expected is False else "no")
        with pytest.raises(modes.SolutionFailed):
            Predict(q)
    finally:
        modes.set_solutions(None)
