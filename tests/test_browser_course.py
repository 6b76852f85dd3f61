"""The course's notebooks 00–05 in a real browser (issue 15: "runs … in the real-browser test, which
may sample: one level solved through the widgets per notebook"). One JupyterLab server for all of
them (test_browser's own server, started once for this module), Debian's Chromium driven by
Playwright, never a downloaded browser. For each notebook: run every cell; no cell may fail, show a
traceback or write to stderr, no "Error displaying widget", no console error. Then one level the
notebook opens is solved as a learner does: the level's reference solution (read from its TOML by
iommulab.course, never written here) typed into that level's own Lab shell box, the goal ticks
followed, the level's check button pressed; the page must say the level passed. Notebook 01 opens no
level: there, its driver-sorting question is answered in its own box and checked instead.

Screenshots go to test-artifacts/course-NN-<what>-<WxH>.png: every cell with a widget (scrolled to
its top, as a learner reaching it sees it), the level before acting, and the page right after the
check button (nothing scrolled by the test). What each widget cell measures (its width against the
notebook's, whether it is cut on the right, the smallest text of its pictures) and whether the
check's feedback is in view after the click go to course-layout-<WxH>.txt; the times to
course-browser-seconds-<WxH>.txt. IOMMULAB_VIEWPORT=1280x720 for the small screen."""
import contextlib
import json
import os
import re
import time
import urllib.request

import pytest

from test_browser import ARTIFACTS, ROOT, VIEWPORT, notebook_page
import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
NO_LEVEL = {"01", "10", "index", "sandbox"}     # 01: its sort question instead; 10, the index and the sandbox run whole
EVERY_LEVEL = {"07"}                           # the debugging lab is worked end to end: both its levels
SIZE = f"{VIEWPORT['width']}x{VIEWPORT['height']}"
OPENS_LEVEL = re.compile(r"""iommulab\.level\(\s*["']([a-z0-9.-]+)["']\s*\)""")
TIMES: dict = {}
LAYOUT: list = []


def _cells(name):
    return json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def levels_opened(name):
    """The ids of the levels the notebook's code cells open, in order."""
    return [m for c in _cells(name) if c["cell_type"] == "code" for m in OPENS_LEVEL.findall(_source(c))]


def sampled_level(name):
    """The one level this notebook's browser test solves: the last it opens (the one a learner
    reaches last, after the notebook's other cells have run; 00 opens one)."""
    ids = levels_opened(name)
    return ids[-1] if ids else None


def test_the_sampled_levels_are_the_notebooks_own():
    """Every notebook but 01 (its question instead) opens a level, and the one sampled is a level
    of the course."""
    from iommulab.course.level import level_ids
    assert [n.split("-")[0].split(".")[0] for n in NOTEBOOKS] == [
        "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "index", "sandbox"], NOTEBOOKS
    known = set(level_ids())
    for name in NOTEBOOKS:
        lid = sampled_level(name)
        assert lid in known or (lid is None and _nn(name) in NO_LEVEL), (name, lid)
    assert len(levels_opened("07-the-leak-of-2023.ipynb")) == 2


@pytest.fixture(scope="module")
def course_server(tmp_path_factory):
    """test_browser's JupyterLab server, once for every notebook of this module, in student mode
    (no IOMMULAB_SOLUTIONS) and with the learner's progress file in the server's own directory."""
    tmp = tmp_path_factory.mktemp("course")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("IOMMULAB_SOLUTIONS", raising=False)
        mp.setenv("IOMMULAB_PROGRESS", str(tmp / "progress.json"))
        # the fixture's own generator (pytest keeps it as __wrapped__), entered once for the module
        server = contextlib.contextmanager(test_browser.jupyterlab.__wrapped__)(tmp)
        started = time.time()
        base_token = server.__enter__()
        TIMES["server start"] = time.time() - started
    try:
        yield base_token
    finally:
        server.__exit__(None, None, None)
        _write_reports()


def _api(server, method, path):
    base, token = server
    req = urllib.request.Request(f"{base}{path}?token={token}", method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


def _clean_up(server):
    """After each notebook: its kernel shut down (one kernel at a time on the 2-core machine) and
    JupyterLab's saved workspace deleted, so the next notebook opens alone in its tab."""
    for s in _api(server, "GET", "/api/sessions"):
        _api(server, "DELETE", f"/api/sessions/{s['id']}")
    for w in _api(server, "GET", "/lab/api/workspaces")["workspaces"]["ids"]:
        _api(server, "DELETE", f"/lab/api/workspaces/{w}")


# --- what the page shows -------------------------------------------------------------------------------

# every code cell's prompt: all ran when none says [*] and at least one has a number
RAN_ALL = """() => {
  const ps = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt'))
    .map(p => p.textContent.trim());
  return ps.length > 0 && !ps.some(t => t.includes('*')) && ps.some(t => /\\d/.test(t))
    && document.body.innerText.includes('| Idle');
}"""

# each cell's execution count in the notebook's model (a cell whose source is hidden shows no prompt)
EXECUTION_COUNTS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(
  c => c.model.type === 'code' ? c.model.executionCount : -1)"""

# per cell of the notebook (its index in the .ipynb): its prompt, and what its outputs show as an error
CELL_PROBLEMS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map((c, i) => {
  const prompt = c.querySelector('.jp-InputArea-prompt');
  const outs = Array.from(c.querySelectorAll('.jp-OutputArea-output'));
  const bad = outs.filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr'
                            || /Traceback \\(most recent call last\\)|Error displaying widget/.test(o.innerText))
                  .map(o => o.innerText.slice(0, 600));
  return {i, code: c.classList.contains('jp-CodeCell'), prompt: prompt ? prompt.textContent.trim() : '', bad};
})"""

# how much of an element the learner sees: inside the window and every scrolling box around it
# (the notebook's own scroller is below JupyterLab's toolbar): "whole", "part" or "none"
SEEN = """(e) => {
  if (!e) return 'none';
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return 'none';
  let vis = {left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight};
  for (let p = e.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p);
    const b = p.getBoundingClientRect();
    if (s.display !== 'contents' && b.width > 0 && b.height > 0 && /(auto|scroll|hidden)/.test(s.overflowY + s.overflowX)) {
      vis = {left: Math.max(vis.left, b.left), top: Math.max(vis.top, b.top),
             right: Math.min(vis.right, b.right), bottom: Math.min(vis.bottom, b.bottom)};
    }
  }
  if (r.left >= vis.left - 1 && r.right <= vis.right + 1 && r.top >= vis.top - 1 && r.bottom <= vis.bottom + 1)
    return 'whole';
  if (r.right > vis.left && r.left < vis.right && r.bottom > vis.top && r.top < vis.bottom) return 'part';
  return 'none';
}"""

# each cell whose output holds a widget: its index, the output's width against the notebook's, its
# height, and what in it is wider than the output: each outermost such element, with the box that
# stops it (its scroll bar: "scrolls", or a box that clips it, or the output itself: "cut")
WIDGET_CELLS = """() => {
  const nb = document.querySelector('.jp-Notebook').getBoundingClientRect();
  const name = (e) => (typeof e.className === 'string' && e.className.trim() ? e.className.trim().split(/\\s+/)
    .filter(c => !c.startsWith('lm-') && !c.startsWith('jupyter-widgets') && !c.startsWith('widget-inline'))
    .slice(-2).join('.') : e.tagName.toLowerCase()) || e.tagName.toLowerCase();
  return Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map((c, i) => {
    const w = c.querySelector('.jp-OutputArea-output .jupyter-widgets, .jp-OutputArea-output .widget-box');
    if (!w) return null;
    const out = w.closest('.jp-OutputArea-output');
    const o = out.getBoundingClientRect();
    const wide = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > o.right + 2; };
    const found = [];
    for (const e of out.querySelectorAll('*')) {
      if (e.closest('svg') || !wide(e) || (e.parentElement !== out && wide(e.parentElement))) continue;
      let how = 'cut by the output', p = e.parentElement;
      for (; p && p !== out; p = p.parentElement) {
        const ox = getComputedStyle(p).overflowX;
        if (ox !== 'visible') { how = (/(auto|scroll)/.test(ox) ? 'scrolls in ' : 'cut by ') + name(p); break; }
      }
      found.push(name(e) + ' (' + Math.round(e.getBoundingClientRect().right - o.right) + ' px too wide, ' + how + ')');
    }
    return {i, width: Math.round(o.width), notebook: Math.round(nb.width), height: Math.round(o.height),
            cut: found.slice(0, 4)};
  }).filter(x => x);
}"""


def _seen(locator):
    """SEEN of the best placed of the elements (a widget shown in two places has two views)."""
    order = ["none", "part", "whole"]
    return max(locator.evaluate_all(f"(es) => es.map({SEEN})") or ["none"], key=order.index)


def _scroll_cell_to_top(page, i):
    page.evaluate("(i) => document.querySelectorAll('.jp-Notebook .jp-Cell')[i]"
                  ".querySelector('.jp-OutputArea').scrollIntoView({block: 'start'})", i)
    page.wait_for_timeout(150)


def _run_all_and_check(page, name):
    """Wait for run-all to end; every code cell ran, none shows an error; the widgets drawn."""
    page.wait_for_function(RAN_ALL, timeout=120_000, polling=250)
    cells = page.evaluate(CELL_PROBLEMS)
    stored = _cells(name)
    assert len(cells) == len(stored), f"{name}: {len(cells)} cells on the page, {len(stored)} in the file"
    counts = page.evaluate(EXECUTION_COUNTS)
    not_run = [i for i, (c, n) in enumerate(zip(stored, counts)) if c["cell_type"] == "code" and n is None]
    bad = [(c["i"], c["bad"]) for c in cells if c["bad"]]
    assert not bad, f"{name}: cells with an error or stderr output: {bad}"
    assert not not_run, f"{name}: code cells that did not run: {not_run}"
    # every widget view rendered (no cell left with a model it could not show)
    page.wait_for_function("() => !document.querySelector('.jp-OutputArea-output .widget-loading, "
                           ".jupyter-widgets-disconnected')", timeout=30_000)


def _screenshot(page, nn, what):
    path = ARTIFACTS / f"course-{nn}-{what}-{SIZE}.png"
    page.screenshot(path=str(path))
    return path


def _widget_cells(page, name, nn):
    """Each widget cell scrolled to its top and photographed; what it measures, kept for the report."""
    for w in page.evaluate(WIDGET_CELLS):
        _scroll_cell_to_top(page, w["i"])
        least = page.evaluate("""(i) => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
            let least = null;
            for (const t of c.querySelectorAll('.jp-OutputArea-output svg text')) {
              if (!t.textContent.trim() || !t.getBoundingClientRect().width) continue;
              const m = t.getScreenCTM();
              const px = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
              if (least === null || px < least) least = px;
            }
            return least; }""", w["i"])
        _screenshot(page, nn, f"cell{w['i']:02d}")
        LAYOUT.append(f"{name} cell {w['i']}: widget output {w['width']} of the notebook's {w['notebook']} px wide, "
                      f"{w['height']} px high; smallest picture text "
                      f"{'-' if least is None else f'{least:.1f} px'}; wider than the output: {w['cut'] or 'nothing'}")


# --- acting as a learner ----------------------------------------------------------------------------

def _solve_level(page, nn, name, level_id):
    from iommulab.course.level import Level, definition
    d = definition(level_id)
    chunks = Level(d).solution_chunks()        # the reference solution as a learner types it
    assert chunks, f"level {level_id} has no solution"
    lv = page.locator(".iommulab-level", has=page.locator(".iommulab-level-title", has_text=d.title))
    assert lv.count() >= 1, f"{name}: level {level_id!r} ({d.title!r}) is not on the page"
    lv = lv.first
    lv.locator(".iommulab-goal-clause").first.wait_for(timeout=30_000)
    lv.locator(".iommulab-graph svg").first.wait_for(timeout=30_000)
    assert lv.locator(".iommulab-goal-clause.not-ok").count() > 0, f"{level_id} opens already solved"
    assert lv.locator(".iommulab-level-passed").count() == 0
    lv.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(150)
    _screenshot(page, nn, "level")

    out = lv.locator(".iommulab-shell-output")
    for chunk in chunks:
        box = lv.locator(".iommulab-shell-input textarea")
        box.fill(chunk)
        lv.locator("button.iommulab-shell-run").click()
        last = chunk.strip().splitlines()[-1].strip()
        try:
            out.filter(has_text=last).wait_for(timeout=30_000)
        except Exception:
            raise AssertionError(f"{name}, level {level_id}: the shell never showed {last!r}; "
                                 f"it shows {out.inner_text()[:600]!r}") from None
    try:                                        # the goal ticks follow the learner's lines
        page.wait_for_function("(e) => e.querySelectorAll('.iommulab-goal-clause.not-ok').length === 0 && "
                               "e.querySelectorAll('.iommulab-goal-clause.ok').length > 0",
                               arg=lv.element_handle(), timeout=30_000)
    except Exception:
        raise AssertionError(f"{name}, level {level_id}: after the solution the goal says "
                             f"{lv.locator('.iommulab-goal-clauses').inner_text()!r}; shell: "
                             f"{out.inner_text()[:800]!r}") from None
    assert lv.locator(".iommulab-goal-clause.ok").count() == len(d.goal)
    strip_seen = _seen(lv.locator(".iommulab-level-strip"))
    _screenshot(page, nn, "acting")

    lv.locator("button.iommulab-level-check").click()
    feedback = lv.locator(".iommulab-level-feedback")
    feedback.filter(has_text="check: passed").wait_for(timeout=30_000)
    seen = {"check button": _seen(lv.locator("button.iommulab-level-check")),
            "check feedback": _seen(feedback),
            "passed banner": _seen(lv.locator(".iommulab-level-passed")),
            "strip beside the shell (before the click)": strip_seen,
            "strip beside the shell": _seen(lv.locator(".iommulab-level-strip"))}
    _screenshot(page, nn, "passed")             # as the click left the page: nothing scrolled by the test
    passed = lv.locator(".iommulab-level-passed").inner_text()
    assert "Level passed" in passed, passed
    takeaway = " ".join(d.takeaway.split())[:40]
    assert takeaway in " ".join(passed.split()), (takeaway, passed)
    assert "Level passed" in lv.locator(".iommulab-level-strip").first.inner_text()
    LAYOUT.append(f"{name} level {level_id}: after the check click, in view: "
                  + ", ".join(f"{k} {v}" for k, v in seen.items()))
    # the learner must be able to see that it passed without hunting for it
    assert "whole" in (seen["check feedback"], seen["passed banner"], seen["strip beside the shell"]), \
        f"{name}, level {level_id}: after the check click nothing saying 'passed' is wholly in view: {seen}"


def _answer_the_sort(page, nn, name):
    """Notebook 01 opens no level: its driver-sorting question, answered in its box and checked. The
    answer is computed here by running the notebook's own cells that build the question."""
    ns: dict = {"display": lambda *a, **kw: None}
    cells = [_source(c) for c in _cells(name) if c["cell_type"] == "code"]
    setup = next(s for s in cells if "MACHINE = " in s)
    asking = next(s for s in cells if re.search(r"^q_sort\s*=", s, re.M))
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exec(compile(setup, f"{name}:MACHINE", "exec"), ns)
        exec(compile(asking, f"{name}:q_sort", "exec"), ns)
    q = ns["q_sort"]
    answer = q.solution()
    box = page.locator(".iommulab-predict", has=page.locator(".iommulab-predict-question",
                                                             has_text="Which of them add"))
    assert box.count() == 1, f"{name}: the driver-sorting question is not on the page once"
    box.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(150)
    _screenshot(page, nn, "predict")
    box.locator(".iommulab-predict-answer input").fill(answer)
    box.locator("button.iommulab-predict-check").click()
    fb = box.locator(".iommulab-predict-feedback")
    fb.locator(".right").wait_for(timeout=30_000)
    seen = _seen(fb)
    _screenshot(page, nn, "predict-checked")
    assert "the kernel" in fb.inner_text()
    LAYOUT.append(f"{name} question q_sort answered {answer!r}: after the check click, feedback {seen}")
    assert seen != "none", f"{name}: the question's feedback is out of view after the click"


def _nn(name):
    return name.split("-")[0].split(".")[0]


@pytest.mark.parametrize("name", NOTEBOOKS, ids=[_nn(n) for n in NOTEBOOKS])
def test_course_notebook_in_a_real_browser(course_server, name):
    nn = _nn(name)
    console_errors: list = []
    started, ran = time.time(), None
    try:
        with notebook_page(course_server, name, console_errors) as page:
            _run_all_and_check(page, name)
            ran = time.time() - started
            _widget_cells(page, name, nn)
            level_id = sampled_level(name)
            if nn in EVERY_LEVEL:
                for lid in levels_opened(name):
                    _solve_level(page, f"{nn}-{lid}", name, lid)
            elif level_id is not None:
                _solve_level(page, nn, name, level_id)
            elif nn == "01":
                _answer_the_sort(page, nn, name)
        assert console_errors == [], f"{name}: console errors {console_errors}"
    finally:
        TIMES[name] = (time.time() - started, ran)
        _clean_up(course_server)


def _write_reports():
    ARTIFACTS.mkdir(exist_ok=True)
    lines = [f"course notebooks in the browser at {SIZE}"]
    total = 0.0
    for what, t in TIMES.items():
        if isinstance(t, tuple):
            total += t[0]
            lines.append(f"{what}: {t[0]:.1f} s (opened and run: {'-' if t[1] is None else f'{t[1]:.1f} s'})")
        else:
            total += t
            lines.append(f"{what}: {t:.1f} s")
    lines.append(f"total: {total:.1f} s")
    (ARTIFACTS / f"course-browser-seconds-{SIZE}.txt").write_text("\n".join(lines) + "\n")
    (ARTIFACTS / f"course-layout-{SIZE}.txt").write_text("\n".join(LAYOUT) + "\n")
    print("\n" + "\n".join(lines))
