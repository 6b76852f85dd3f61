"""Every notebook in notebooks/, run top to bottom in a Jupyter kernel in both modes (issue 13,
"Modes and progress"): student mode (the default) has no error and no traceback anywhere, and a
level check the learner has not answered says "not yet"; solution mode (IOMMULAB_SOLUTIONS=1 in
the kernel's environment) has no error either, and since a check that fails there raises
SolutionFailed, "no cell raised" means "every check passed". Each notebook is stored without
outputs. The kernel runs in the test's own directory, with its progress file there too."""
import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TRACEBACK = "Traceback (most recent call last)"
OPENS = re.compile(r"^(\w+)\s*=\s*(?:iommulab\.|iommulab\.course\.)?level\(", re.M)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2
    assert ROOT / "notebooks" / "00-quickstart.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    assert code
    assert [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")] == []
    assert "widgets" not in raw["metadata"]          # no saved widget state either


def output_text(cell):
    out = []
    for o in cell.get("outputs", []):
        out.append(o.get("text", ""))
        data = o.get("data", {})
        out += [data.get("text/plain", ""), data.get("text/html", "")]
        out += o.get("traceback", [])
    return "".join(out)


def unanswered_checks(cells):
    """(cell index, variable) of each `<lv>.check()` cell whose level was opened in an earlier cell
    and not acted on since (no `<lv>.sh(`, `.solve(`, `.k.`): what a learner has not answered yet."""
    acted, out = {}, []
    for i, c in enumerate(cells):
        if c.cell_type != "code":
            continue
        src = c.source
        for var in OPENS.findall(src):
            acted[var] = False
        for var in acted:
            if re.search(rf"\b{var}\.(sh|solve|k\.|timeline)", src):
                acted[var] = True
            if re.search(rf"^\s*{var}\.check\(\)", src, re.M) and not acted[var]:
                out.append((i, var))
    return out


def run(path, tmp_path, monkeypatch, solutions):
    import nbformat
    from nbclient import NotebookClient
    progress = tmp_path / "progress.json"
    monkeypatch.setenv("IOMMULAB_PROGRESS", str(progress))      # the kernel inherits the environment
    if solutions:
        monkeypatch.setenv("IOMMULAB_SOLUTIONS", "1")
    else:
        monkeypatch.delenv("IOMMULAB_SOLUTIONS", raising=False)
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(path, work / path.name)      # files a notebook writes (an exported machine) land here
    nb = nbformat.read(work / path.name, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute()
    return nb, progress


def assert_clean(nb):
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        errors = [o for o in c.outputs if o.output_type == "error"]
        assert not errors, f"cell {i} raised {errors[0].ename}: {errors[0].evalue}\n{c.source}"
        assert TRACEBACK not in output_text(c), f"cell {i} printed a traceback:\n{output_text(c)}"


@pytest.mark.slow              # runs each notebook in a Jupyter kernel: seconds
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_mode_runs_without_an_error_and_unanswered_checks_say_not_yet(path, tmp_path, monkeypatch):
    nb, _ = run(path, tmp_path, monkeypatch, solutions=False)
    assert_clean(nb)
    for i, var in unanswered_checks(nb.cells):
        text = output_text(nb.cells[i])
        assert ": not yet" in text and ": passed" not in text, f"cell {i}, {var}.check(): {text}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solution_mode_runs_without_an_error_so_every_check_passes(path, tmp_path, monkeypatch):
    nb, progress = run(path, tmp_path, monkeypatch, solutions=True)
    assert_clean(nb)
    for i, var in unanswered_checks(nb.cells):        # solved when it opened
        text = output_text(nb.cells[i])
        assert ": passed" in text and ": not yet" not in text, f"cell {i}, {var}.check(): {text}"
    assert not progress.exists(), "solution mode records no progress"


def test_the_quickstart_has_a_level_to_do():
    import nbformat
    nb = nbformat.read(ROOT / "notebooks" / "00-quickstart.ipynb", as_version=4)
    checks = unanswered_checks(nb.cells)
    assert checks, "00-quickstart asks the learner to do a level and check it"
    refused = next(i for i, c in enumerate(nb.cells) if "not viable" in c.source)
    assert all(i > refused for i, _ in checks), "the level comes after the learner has seen the refusal"


def test_unanswered_checks_reads_what_a_notebook_does():
    import nbformat
    cells = [nbformat.v4.new_code_cell(s) for s in (
        'lv = iommulab.level("gpu-passthrough")\nlv', "lv.check()",
        'other = iommulab.level("free-group")', 'other.sh("echo hi")', "other.check()")]
    assert unanswered_checks(cells) == [(1, "lv")]
