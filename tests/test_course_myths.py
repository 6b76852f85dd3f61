"""Each misconception of the course design (issues 15 and 16, "Done when") is
addressed by an exercise that checks it. The table below is the design's (../shared/design/
curriculum.md, "Misconceptions the course must address"): the myth and the exercises that kill it.
Each exercise is a code cell of its notebook tagged `"iommulab": {"exercise": ID, "myths": [...]}`;
the test finds it, checks that it names the myth, that it is a check the engine computes (a level, a
predict-then-run question, a seeded problem, or a check function reading the machine), never an
answer typed in, and that the notebook also says the myth in words (a "Myth:" callout). The
notebook runs themselves (tests/test_notebooks.py, both modes) show the checks pass and fail."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent / "notebooks"
# myth key -> [(notebook stem prefix, exercise id)], as the design assigns them
DESIGN = {
    "one-function-alone": [("00", "L00.1"), ("04", "L04.1")],
    "vfio-pci-makes-viable": [("00", "P00.2")],
    "every-function-to-vm": [("04", "L04.1"), ("04", "L04.2")],
    "owner-cnt-counts-devices": [("00", "P00.1"), ("05", "P05.1")],
    "group-is-a-slot": [("02", "L02.1"), ("02", "L02.2")],
    "acs-override-isolates": [("02", "P02.5")],
    "pcieport-must-unbind": [("00", "P00.1"), ("01", "P01.2")],
    "platform-is-virtual": [("06", "P06.1")],
    "not-viable-means-bound": [("07", "L07.1")],
    "type-any-time": [("08", "P08.1")],
}
# what a computed check looks like in a cell: the course engine's entry points
COMPUTED = re.compile(r"\biommulab\.level\(|\bpredict\.\w+\(|\bQuiz\(|\bMYTHS\[|\.check\(|OnePort\(")
TYPED = re.compile(r"^\s*\w+\s*=\s*(True|False|-?\d+|\"(ok|EBUSY|EPERM|yes|no)\")\s*(#.*)?$", re.M)


def notebook(prefix):
    found = sorted(ROOT.glob(f"{prefix}-*.ipynb"))
    assert len(found) == 1, f"one notebook {prefix}-*.ipynb"
    return nbformat.read(found[0], as_version=4)


def exercise_cell(nb, exercise):
    cells = [c for c in nb.cells if c.cell_type == "code"
             and (c.metadata.get("iommulab") or {}).get("exercise") == exercise]
    assert len(cells) == 1, f"exercise {exercise}: {len(cells)} tagged cells"
    return cells[0]


@pytest.mark.parametrize("myth,prefix,exercise", [(m, p, e) for m, rows in DESIGN.items() for p, e in rows],
                         ids=lambda v: str(v))
def test_each_design_myth_is_checked_by_its_exercise(myth, prefix, exercise):
    nb = notebook(prefix)
    cell = exercise_cell(nb, exercise)
    assert myth in cell.metadata["iommulab"]["myths"], f"{exercise} does not say it addresses {myth}"
    assert _computed(nb, cell.source), f"{exercise} is not a check the engine computes:\n{cell.source}"
    assert not TYPED.search(cell.source), f"{exercise} types an answer in:\n{cell.source}"


@pytest.mark.parametrize("prefix", ["00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10"])
def test_each_notebook_has_three_computed_exercises_and_says_its_myths(prefix):
    nb = notebook(prefix)
    tagged = [c for c in nb.cells if c.cell_type == "code" and (c.metadata.get("iommulab") or {}).get("exercise")]
    unchecked = [c.metadata["iommulab"]["exercise"] for c in tagged if not (_computed(nb, c.source) or _checked_below(nb, c))]
    assert len(tagged) >= 3 and unchecked == [], f"exercises without a computed check: {unchecked}"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"\*\*Myth:\*\*.*\n>\s*\n> \*\*What the kernel does:\*\*", text), "a Myth / What the kernel does callout"
    for myth, rows in DESIGN.items():
        if any(p == prefix for p, _ in rows):
            assert any(myth in (c.metadata["iommulab"].get("myths") or []) for c in tagged)


ENGINE = re.compile(r"\bpredict\.\w+\(|\.sh\(|\.state\(|timeline_for\(|\.events\b|explain_group\(")


def _computed(nb, source):
    """A call of the course engine, or of a function this notebook defines that asks the engine
    (a check function of its own: it replays or reads the simulated machine)."""
    if COMPUTED.search(source):
        return True
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    defined = {m.group(1) for m in re.finditer(r"(?ms)^def (\w+)\(.*?(?=^\S|\Z)", code)
               if ENGINE.search(m.group(0))}
    return any(re.search(rf"\b{name}\(", source) for name in defined)


def _checked_below(nb, cell):
    """A learner's answer cell (a dict of predictions): the check is in the next code cell."""
    i = nb.cells.index(cell)
    nxt = next((c for c in nb.cells[i + 1:] if c.cell_type == "code"), None)
    return nxt is not None and _computed(nb, nxt.source)
