"""The quick start in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium driven by
Playwright (never a downloaded browser). Runs every cell, clicks an action, and checks that the
picture and the group's label change, with no widget or console errors. Keeps a screenshot in
test-artifacts/. Issue 14's "done when" on the quick start's Lab: a refusal's feedback in view with
its obstacle drawn, a repeated refusal's new log line, a blocked unbind drawn and its completion
announced, undo after `kill %1` (ps, jobs and the picture agree), the picture's text size, and the
click → picture latency (printed, never asserted). IOMMULAB_VIEWPORT=1280x720 for the small screen."""
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
from servers import serving

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# IOMMULAB_VIEWPORT=1280x720 looks at the lab as a learner on a small screen does
_W, _H = os.environ.get("IOMMULAB_VIEWPORT", "1500x1100").lower().split("x")
VIEWPORT = {"width": int(_W), "height": int(_H)}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _under_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_chromium():
    """Debian's chromium and Playwright's driver, or a skip saying what is missing; under CI=true the
    browser test is required, so a missing browser fails instead."""
    missing = []
    if not shutil.which("chromium"):
        missing.append("Debian's chromium is not on PATH (bash scripts/test.sh installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright is not installed (pip install -e '.[test]')")
    if missing and _under_ci():
        pytest.fail("the browser test is required under CI=true: " + "; ".join(missing), pytrace=False)
    if missing:
        pytest.skip("; ".join(missing))
    return shutil.which("chromium")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    require_chromium()
    root = tmp_path / "root"
    shutil.copytree(ROOT / "notebooks", root)
    settings = tmp_path / "settings" / "@jupyterlab"
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        env[var] = str(tmp_path / sub)
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path / "settings")
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.expose_app_in_browser=True"]
    with open(tmp_path / "jupyter.log", "w") as log, serving(
            cmd, f"http://127.0.0.1:{port}/api/status?token={token}", 90, "JupyterLab", log, env=env):
        yield f"http://127.0.0.1:{port}", token


GROUP_LABEL = """(n) => {
  const svg = document.querySelector('.iommulab-graph svg');
  if (!svg) return null;
  for (const g of svg.querySelectorAll('g.cluster')) {
    const t = g.querySelector('title');
    if (t && t.textContent === 'cluster_g' + n)
      return Array.from(g.querySelectorAll('text')).map(x => x.textContent).join(' ');
  }
  return null;
}"""


@contextlib.contextmanager
def notebook_page(jupyterlab, name, console_errors):
    """Open notebooks/<name> in headless Debian Chromium and run all its cells; yields the page."""
    from playwright.sync_api import sync_playwright
    chromium = require_chromium()
    base, token = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.goto(f"{base}/lab/tree/{name}?token={token}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=60_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            yield page
            assert "Error displaying widget" not in page.content()
        finally:
            browser.close()


def test_quickstart_in_a_real_browser(jupyterlab):
    console_errors = []
    started = time.time()
    with notebook_page(jupyterlab, "00-quickstart.ipynb", console_errors) as page:
        page.wait_for_selector(".iommulab-graph svg", timeout=90_000)
        page.wait_for_function("() => document.querySelectorAll('.jp-InputArea-prompt').length > 0 && "
                               "!document.body.innerText.includes('[*]')", timeout=90_000)
        before_label = page.evaluate(GROUP_LABEL, 1)
        before_svg = page.inner_html(".iommulab-graph")
        assert "owner_cnt 1" in before_label and "kernel DMA API" in before_label
        page.select_option(".iommulab-device select", "0000:01:00.1")
        page.click("button.iommulab-unbind")
        page.wait_for_function(f"() => ({GROUP_LABEL})(1) && ({GROUP_LABEL})(1).includes('owner_cnt 0')",
                               timeout=30_000)
        after_label = page.evaluate(GROUP_LABEL, 1)
        assert "owner_cnt 0" in after_label and "▶" in after_label
        assert page.inner_html(".iommulab-graph") != before_svg
        assert "snd_hda_intel/unbind" in page.inner_text(".iommulab-shell-output")
        page.screenshot(path=str(ARTIFACTS / "quickstart.png"), full_page=False)
    assert console_errors == []
    (ARTIFACTS / "browser-test-seconds.txt").write_text(f"{time.time() - started:.1f}\n")


def test_build_notebook_in_a_real_browser(jupyterlab):
    console_errors = []
    with notebook_page(jupyterlab, "02-why-groups.ipynb", console_errors) as page:
        page.wait_for_selector(".iommulab-b-graph svg", timeout=90_000)
        page.wait_for_function("() => document.body.innerText.includes('checked: the GPU is isolated')",
                               timeout=90_000)
        assert "IOMMU group" in page.inner_text(".iommulab-b-graph")
        page.select_option(".iommulab-b-device select", "0000:00:01.0")
        before = page.inner_html(".iommulab-b-graph")
        page.click(".iommulab-acs input")                  # ACS off again: the subtree merges
        page.wait_for_function("(b) => document.querySelector('.iommulab-b-graph').innerHTML !== b",
                               arg=before, timeout=30_000)
        assert "has no ACS" in page.inner_text(".iommulab-why")
        page.screenshot(path=str(ARTIFACTS / "build-a-machine.png"))
    assert console_errors == []


def _notebook(cells):
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                       "source": src} for i, src in enumerate(cells)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


IN_VIEW = """(sel) => Array.from(document.querySelectorAll(sel)).some(e => {
  const r = e.getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
})"""


def test_a_level_in_a_real_browser(jupyterlab, tmp_path):
    """iommulab.level(...) in JupyterLab: the goal panel above the Lab; a hint; the solution typed
    into the Lab's shell box line by line, the ticks following; check says passed."""
    import iommulab.course as course
    level = course.level("gpu-passthrough").d
    lines = [x for x in level.solution.strip().splitlines() if x.strip()]
    (tmp_path / "root" / "level-lab.ipynb").write_text(json.dumps(_notebook(
        ['import iommulab\nlv = iommulab.level("gpu-passthrough")\nlv'])))
    here = course.level("gpu-passthrough")             # what the panel must say after two lines
    here.sh("\n".join(lines[:2]))
    why_after_two = here.check(record=False).failing[-1][1]
    size = f"{VIEWPORT['width']}x{VIEWPORT['height']}"
    console_errors = []
    with notebook_page(jupyterlab, "level-lab.ipynb", console_errors) as page:
        page.wait_for_selector(".iommulab-goal .iommulab-goal-clause", timeout=90_000)
        page.wait_for_selector(".iommulab-graph svg", timeout=90_000)
        page.wait_for_selector(".iommulab-goal-picture svg", timeout=30_000)
        assert page.locator(".iommulab-goal-clause.not-ok").count() == len(level.goal)
        assert page.locator(".iommulab-goal-clause.ok").count() == 0
        page.locator(".iommulab-level").scroll_into_view_if_needed()
        page.evaluate("document.querySelector('.iommulab-level').scrollIntoView({block: 'start'})")
        page.click("button.iommulab-level-hint")
        page.wait_for_function("() => document.querySelector('.iommulab-level-feedback').innerText.includes('hint')",
                               timeout=30_000)
        assert level.hints[0][0].split(":")[0] in page.inner_text(".iommulab-level-feedback")
        for sel in (".iommulab-goal-clause", ".iommulab-level-feedback", "button.iommulab-level-check"):
            assert page.evaluate(IN_VIEW, sel), f"{sel} is not in view at {size}"
        page.screenshot(path=str(ARTIFACTS / f"level-hint-{size}.png"))
        for i, line in enumerate(lines):
            page.fill(".iommulab-shell-input textarea", line)
            page.click("button.iommulab-shell-run")
            page.wait_for_function("(l) => document.querySelector('.iommulab-shell-output').innerText.includes(l)",
                                   arg=line, timeout=30_000)
            if i == 1:                              # the panel follows the learner's shell lines
                page.wait_for_function("(w) => document.querySelector('.iommulab-goal-clauses').innerText"
                                       ".includes(w)", arg=why_after_two, timeout=30_000)
                # beside the shell box, the strip shows the ticks and the hint
                assert page.evaluate(IN_VIEW, "button.iommulab-shell-run")
                assert page.evaluate(IN_VIEW, ".iommulab-level-strip"), f"no goal strip in view at {size}"
                page.screenshot(path=str(ARTIFACTS / f"level-acting-{size}.png"))
        page.wait_for_function("() => document.querySelectorAll('.iommulab-goal-clause.ok').length === "
                               f"{len(level.goal)}", timeout=30_000)
        page.click("button.iommulab-level-check")
        page.wait_for_function("() => document.querySelector('.iommulab-level-feedback').innerText"
                               ".includes('check: passed')", timeout=30_000)
        assert "Level passed" in page.inner_text(".iommulab-level-passed")
        assert " ".join(level.takeaway.split())[:50] in " ".join(page.inner_text(".iommulab-level-passed").split())
        page.evaluate("document.querySelector('.iommulab-level').scrollIntoView({block: 'start'})")
        for sel in (".iommulab-level-passed", ".iommulab-level-feedback", ".iommulab-goal-picture svg"):
            assert page.evaluate(IN_VIEW, sel), f"{sel} is not in view at {size}"
        page.screenshot(path=str(ARTIFACTS / f"level-passed-{size}.png"))
    assert console_errors == []


# --- issue 14: the lab as a learner sees it ----------------------------------------------------------
# Written against the shared contract of the Lab: .iommulab-feedback beside the action controls,
# .iommulab-log with one .iommulab-log-line per action ("step N — …", modifier .refused/.changed/
# .nochange/.pending/.completed), the picture's obstacle labelled "blocks", a blocked write "waiting".

QUICKSTART_LAB = 'from iommulab import Kernel, Lab\nk = Kernel.from_scenario("desktop-gpu")\nlab = Lab(k)\nlab'
GPU, AUDIO = "0000:01:00.0", "0000:01:00.1"
PREPARE_GPU = (f"echo vfio-pci > /sys/bus/pci/devices/{GPU}/driver_override\n"
               f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind\n"
               f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind")
PREPARE_AUDIO = (f"echo vfio-pci > /sys/bus/pci/devices/{AUDIO}/driver_override\n"
                 f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind\n"
                 f"echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/bind")
STEP_LINE = r"^step \d+ — "

# the whole element inside the viewport, with something in it
WHOLLY_IN_VIEW = """(sel) => {
  const e = document.querySelector(sel);
  if (!e) return false;
  const r = e.getBoundingClientRect();
  return r.height > 0 && r.width > 0 && r.top >= 0 && r.left >= 0
      && r.bottom <= window.innerHeight && r.right <= window.innerWidth && e.innerText.trim() !== '';
}"""
SVG_TEXTS = """(sel) => Array.from(document.querySelectorAll(sel + ' svg text')).map(t => t.textContent)"""
# the smallest text of an SVG as drawn, in CSS px (font size times the SVG's scale on screen)
MIN_TEXT_PX = """(sel) => {
  let least = null;
  for (const t of document.querySelectorAll(sel + ' svg text')) {
    if (!t.textContent.trim()) continue;
    const m = t.getScreenCTM();
    const px = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
    if (least === null || px < least) least = px;
  }
  return least;
}"""
LOG_LINES = """() => Array.from(document.querySelectorAll('.iommulab-log .iommulab-log-line'))
  .map(e => ({text: e.innerText.trim(), cls: Array.from(e.classList)}))"""
# click, then the time until the picture's box holds a different SVG (ms); -1 if none came in 30 s
CLICK_TO_PICTURE = """(sel) => new Promise((resolve) => {
  const box = document.querySelector('.iommulab-graph');
  const before = box.innerHTML;
  let done = false;
  const finish = (v) => { if (!done) { done = true; obs.disconnect(); resolve(v); } };
  const obs = new MutationObserver(() => {
    if (box.querySelector('svg') && box.innerHTML !== before) finish(performance.now() - t0);
  });
  obs.observe(box, {childList: true, subtree: true, characterData: true, attributes: true});
  const t0 = performance.now();
  document.querySelector(sel).click();
  setTimeout(() => finish(-1), 30000);
})"""


def _size():
    return f"{VIEWPORT['width']}x{VIEWPORT['height']}"


@contextlib.contextmanager
def quickstart_lab(jupyterlab, tmp_path, console_errors, log=True):
    """A notebook holding only the quick start's Lab (desktop-gpu), run, its picture drawn."""
    (tmp_path / "root" / "lab14.ipynb").write_text(json.dumps(_notebook([QUICKSTART_LAB])))
    with notebook_page(jupyterlab, "lab14.ipynb", console_errors) as page:
        page.wait_for_selector(".iommulab-graph svg", timeout=90_000)
        if log:
            page.wait_for_selector(".iommulab-log", state="attached", timeout=30_000)
        page.evaluate("document.querySelector('.iommulab-lab').scrollIntoView({block: 'start'})")
        yield page


ACTION_TABS = {"drivers": 0, "virtual machines": 1, "machine": 2}


def _tab(page, title):
    """One of the action tabs, by its place (its title may be shortened)."""
    page.locator(".iommulab-actions [role=tab]").nth(ACTION_TABS[title]).click()


def _log(page):
    return page.evaluate(LOG_LINES)


def _wait_log_grows(page, count, cls=None, timeout=30_000):
    sel = ".iommulab-log .iommulab-log-line" + (f".{cls}" if cls else "")
    page.wait_for_function(f"(n) => document.querySelectorAll('{sel}').length > n", arg=count, timeout=timeout)


def _shell(page, text, timeout=30_000):
    """Run text in the Lab's shell box (the run button) and return what the output box shows once
    it shows this run (its last line carries a comment with a fresh tag: no extra action)."""
    tag = secrets.token_hex(4)
    page.fill(".iommulab-shell-input textarea", f"{text}  # run-{tag}")
    page.click("button.iommulab-shell-run")
    page.wait_for_function("(t) => document.querySelector('.iommulab-shell-output').innerText.includes('run-' + t)",
                           arg=tag, timeout=timeout)
    return page.inner_text(".iommulab-shell-output")


def _idle(page):
    """The kernel went idle: every update of the last action reached the page (iopub keeps order)."""
    page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=30_000)


def _newest(lines, newest_first):
    return lines[0] if newest_first else lines[-1]


# the SVG group (node, edge or cluster) of each text that says "blocks": its title and all its words
BLOCKS = """(sel) => Array.from(document.querySelectorAll(sel + ' svg text'))
  .filter(t => /\\bblocks\\b/.test(t.textContent))
  .map(t => { const g = t.closest('g.node, g.edge, g.cluster') || t.parentNode;
              const title = g.querySelector('title');
              return {title: title ? title.textContent : '',
                      text: Array.from(g.querySelectorAll('text')).map(x => x.textContent).join(' ')}; })"""


# how much of a node (or cluster) of the picture whose words match every pattern the learner sees
# without scrolling: inside both the picture's scrolling box and the viewport ("whole", "part", "none")
SEEN = """([sel, patterns]) => {
  const box = document.querySelector(sel).getBoundingClientRect();
  const vis = {left: Math.max(box.left, 0), top: Math.max(box.top, 0),
               right: Math.min(box.right, window.innerWidth), bottom: Math.min(box.bottom, window.innerHeight)};
  let best = 'none';
  for (const g of document.querySelectorAll(sel + ' svg g.node, ' + sel + ' svg g.cluster')) {
    const words = Array.from(g.querySelectorAll('text')).map(x => x.textContent).join(' ');
    if (!patterns.every(p => new RegExp(p).test(words))) continue;
    const r = g.getBoundingClientRect();
    if (r.left >= vis.left - 1 && r.right <= vis.right + 1 && r.top >= vis.top - 1 && r.bottom <= vis.bottom + 1)
      return 'whole';
    if (r.right > vis.left && r.left < vis.right && r.bottom > vis.top && r.top < vis.bottom) best = 'part';
  }
  return best;
}"""


def _seen(page, patterns, what, size):
    seen = page.evaluate(SEEN, [".iommulab-graph", patterns])
    print(f"{what} at {size}: {seen} in view without scrolling the picture")
    return seen


def _start_vm_click(page, devices):
    _tab(page, "virtual machines")
    page.select_option(".iommulab-vm-devices select", devices)
    page.click("button.iommulab-vm-start")


def _count(page, sel):
    return page.locator(sel).count()


def _check_text_sizes(page, size):
    least = page.evaluate(MIN_TEXT_PX, ".iommulab-graph")
    print(f"\nsmallest text of the picture at {size}: {least} CSS px")
    plot_least = page.evaluate(MIN_TEXT_PX, ".iommulab-plot")
    if plot_least is not None:
        print(f"smallest text of the owner_cnt plot at {size}: {plot_least} CSS px")
    else:                                   # a PNG: how much the browser scales it down
        scale = page.evaluate("() => { const i = document.querySelector('.iommulab-plot img, img.iommulab-plot');"
                              " return i && i.naturalWidth ? i.getBoundingClientRect().width / i.naturalWidth : null; }")
        print(f"the owner_cnt plot (PNG) is shown at {scale} of its pixels at {size}")
    assert least is not None and least >= 10.95, f"picture text of {least} CSS px at {size} (11 at least)"
    if plot_least is not None:
        assert plot_least >= 10.95, f"plot text of {plot_least} CSS px at {size} (11 at least)"


def test_lab_refusal_feedback_in_view(jupyterlab, tmp_path):
    """issue 14, feedback next to the action: QEMU refused (group 1 not viable: the audio function
    on snd_hda_intel). Right after the click the feedback line is wholly in the viewport, the
    picture names the obstacle ("blocks" on the audio function), a numbered .refused log line
    appears; clicking again adds a new numbered line for the same step."""
    size = _size()
    console_errors = []
    with quickstart_lab(jupyterlab, tmp_path, console_errors) as page:
        _check_text_sizes(page, size)
        _shell(page, PREPARE_GPU)
        page.evaluate("document.querySelector('.iommulab-lab').scrollIntoView({block: 'start'})")
        refused, total = _count(page, ".iommulab-log-line.refused"), _count(page, ".iommulab-log-line")
        _start_vm_click(page, [GPU])
        _wait_log_grows(page, refused, "refused")
        in_view = page.evaluate(WHOLLY_IN_VIEW, ".iommulab-feedback")     # before anything scrolls
        feedback = page.inner_text(".iommulab-feedback")
        page.wait_for_function(f"(s) => ({BLOCKS})(s).length > 0", arg=".iommulab-graph", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / f"lab-refusal-{size}.png"))
        assert in_view, f".iommulab-feedback is not wholly in the viewport at {size} after the click"
        assert "group 1" in feedback or AUDIO in feedback, feedback
        lines = _log(page)
        assert len(lines) > total
        refused_at = [i for i, x in enumerate(lines) if "refused" in x["cls"]]
        assert len(refused_at) == 1 and refused_at[0] in (0, len(lines) - 1), lines
        newest_first = refused_at[0] == 0 and len(lines) > 1
        first = _newest(lines, newest_first)
        assert re.match(STEP_LINE, first["text"]), first
        obstacles = page.evaluate(BLOCKS, ".iommulab-graph")
        assert any(AUDIO in o["text"] or "snd_hda_intel" in o["text"] or "01_00_1" in o["title"]
                   for o in obstacles), obstacles
        # at least part of the obstacle shows without scrolling (wholly, once the Lab scrolls to it)
        assert _seen(page, [r"\bblocks\b", re.escape(AUDIO)], "the obstacle (the audio function)", size) == "whole"
        changed = [t for t in page.evaluate(SVG_TEXTS, ".iommulab-graph") if "▶" in t]
        assert changed == [], f"a refusal changed nothing, yet the picture marks {changed}"

        total = len(lines)                                    # the same refusal again
        page.click("button.iommulab-vm-start")
        _wait_log_grows(page, total)
        page.wait_for_function("(n) => document.querySelectorAll('.iommulab-log-line.refused').length > n",
                               arg=1, timeout=30_000)
        in_view = page.evaluate(WHOLLY_IN_VIEW, ".iommulab-feedback")
        page.screenshot(path=str(ARTIFACTS / f"lab-refusal-again-{size}.png"))
        assert in_view, f".iommulab-feedback is not wholly in the viewport at {size} after the second click"
        again = _newest(_log(page), newest_first)
        assert "refused" in again["cls"] and re.match(STEP_LINE, again["text"]), again
        # nothing changed: both name the step shown
        assert re.match(STEP_LINE, again["text"]).group() == re.match(STEP_LINE, first["text"]).group()
    assert console_errors == []


# the picture draws a running QEMU as a node saying "qemu-system-… [PID] user-space process"
VM_DRAWN = """(sel) => Array.from(document.querySelectorAll(sel + ' svg g.node')).some(g => {
  const t = Array.from(g.querySelectorAll('text')).map(x => x.textContent).join(' ');
  return t.includes('qemu') && t.includes('user-space process');
})"""


def _vm_in_picture(page):
    return page.evaluate(VM_DRAWN, ".iommulab-graph")


def _waiting_in_picture(page):
    return any(re.search(r"\bwaiting\b", t) for t in page.evaluate(SVG_TEXTS, ".iommulab-graph"))


def test_lab_blocked_unbind_and_undo(jupyterlab, tmp_path):
    """issue 14, pending work is visible; one step = one action: a VM holds the GPU; unbinding
    vfio-pci from it blocks (drawn "waiting", a .pending log line); `kill %1` lets it finish (a
    .completed line, nothing waits any more); undo brings the VM back, and ps, jobs and the
    picture agree at every press."""
    size = _size()
    console_errors = []
    with quickstart_lab(jupyterlab, tmp_path, console_errors) as page:
        _shell(page, PREPARE_GPU + "\n" + PREPARE_AUDIO)
        page.evaluate("document.querySelector('.iommulab-lab').scrollIntoView({block: 'start'})")
        _start_vm_click(page, [GPU])
        page.wait_for_function(VM_DRAWN, arg=".iommulab-graph", timeout=30_000)
        _tab(page, "drivers")
        page.select_option(".iommulab-device select", GPU)
        pending = _count(page, ".iommulab-log-line.pending")
        page.click("button.iommulab-unbind")
        _wait_log_grows(page, pending, "pending")
        page.wait_for_function(f"(s) => ({SVG_TEXTS})(s).some(t => /\\bwaiting\\b/.test(t))",
                               arg=".iommulab-graph", timeout=30_000)
        in_view = page.evaluate(WHOLLY_IN_VIEW, ".iommulab-feedback")
        page.screenshot(path=str(ARTIFACTS / f"lab-pending-{size}.png"))
        _check_text_sizes(page, size)                        # the widest picture keeps the scale
        assert _seen(page, [r"\bwaiting\b", "unbind"], "the waiting write", size) == "whole"
        _seen(page, ["qemu", "user-space process"], "the process it waits for", size)
        _seen(page, [r"IOMMU group 1\b"], "group 1", size)
        assert in_view, f".iommulab-feedback is not wholly in the viewport at {size} after the unbind"
        assert page.locator(".iommulab-log-line.pending").last.inner_text().startswith("step ")

        completed = _count(page, ".iommulab-log-line.completed")
        page.fill(".iommulab-shell-input textarea", "kill %1")
        page.click("button.iommulab-shell-run")
        _wait_log_grows(page, completed, "completed")
        try:
            page.wait_for_function(f"(s) => !({SVG_TEXTS})(s).some(t => /\\bwaiting\\b/.test(t)) && !({VM_DRAWN})(s)",
                                   arg=".iommulab-graph", timeout=30_000)
        except Exception:
            raise AssertionError(f"after kill %1 the picture still says {page.evaluate(SVG_TEXTS, '.iommulab-graph')}; "
                                 f"log: {_log(page)[:4]}") from None
        done = page.locator(".iommulab-log-line.completed").last.inner_text()
        assert re.match(STEP_LINE, done) and "unbind" in done, done
        page.evaluate("document.querySelector('.iommulab-lab').scrollIntoView({block: 'start'})")
        page.screenshot(path=str(ARTIFACTS / f"lab-pending-done-{size}.png"))

        for press in range(3):                  # the kill and the completion may be one step or two
            before = page.inner_html(".iommulab-graph")
            page.click("button.iommulab-undo")
            page.wait_for_function("(b) => document.querySelector('.iommulab-graph').innerHTML !== b",
                                   arg=before, timeout=30_000)
            _idle(page)                             # the slider's update follows the picture's
            step = page.inner_text(".iommulab-step .widget-readout")
            out = _shell(page, "ps; jobs")
            assert page.inner_text(".iommulab-step .widget-readout") == step, "ps and jobs added a step"
            picture, waiting = _vm_in_picture(page), _waiting_in_picture(page)
            in_ps = re.search(r"(?m)^\s*\d+ pts/\d+ +[\d:]+ qemu", out) is not None
            in_jobs = re.search(r"(?m)^\[1\][+-]? +Running +qemu", out) is not None
            unbind_job = re.search(r"(?m)^\[2\][+-]? +Running +echo .*unbind", out) is not None
            assert picture == in_ps == in_jobs, (press, picture, out)
            assert waiting == unbind_job, (press, waiting, out)
            if picture:
                break
        assert picture, "undo never brought the VM back"
        tag = secrets.token_hex(4)                  # the shell box: Shift+Enter a new line, Enter runs it all
        box = ".iommulab-shell-input textarea"
        page.fill(box, "")
        page.click(box)
        page.keyboard.type(f"jobs  # enter-{tag}")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type(f"echo second-{tag}")
        assert page.input_value(box) == f"jobs  # enter-{tag}\necho second-{tag}", "Shift+Enter makes a new line"
        page.keyboard.press("Enter")
        page.wait_for_function("(t) => document.querySelector('.iommulab-shell-output').innerText"
                               ".includes('second-' + t + '\\n')", arg=tag, timeout=30_000)
        assert re.search(r"(?m)^\[1\][+-]? +Running +qemu", page.inner_text(".iommulab-shell-output"))
        assert page.input_value(box) == "", "Enter empties the box for the next command"
        page.evaluate("document.querySelector('.iommulab-lab').scrollIntoView({block: 'start'})")
        page.screenshot(path=str(ARTIFACTS / f"lab-undo-{size}.png"))
        # the VM node scrolled into the picture's box: what undo brought back
        page.evaluate("""(sel) => { for (const g of document.querySelectorAll(sel + ' svg g.node'))
            if (g.textContent.includes('user-space process') && g.textContent.includes('qemu'))
              { g.scrollIntoView({block: 'nearest', inline: 'center'}); return; } }""", ".iommulab-graph")
        page.screenshot(path=str(ARTIFACTS / f"lab-undo-vm-{size}.png"))
        page.locator(".iommulab-shell-output").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"lab-undo-shell-{size}.png"))
    assert console_errors == []


def test_lab_click_latency(jupyterlab, tmp_path):
    """issue 14's speed goal, measured and printed (never asserted): click → new picture over 30
    clicks on the quick start's machine, unbinding and binding the audio function in turn."""
    import statistics
    size = _size()
    console_errors = []
    times = []
    with quickstart_lab(jupyterlab, tmp_path, console_errors, log=False) as page:
        page.select_option(".iommulab-device select", AUDIO)
        page.wait_for_function("() => document.querySelector('.iommulab-driver select').value === 'snd_hda_intel'",
                               timeout=30_000)
        bound = re.search(r"owner_cnt (\d+)", page.evaluate(GROUP_LABEL, 1)).group()
        unbound = f"owner_cnt {int(bound.split()[1]) - 1}"
        for i in range(30):
            unbind = i % 2 == 0
            if not unbind and page.input_value(".iommulab-driver select") != "snd_hda_intel":
                page.select_option(".iommulab-driver select", "snd_hda_intel")
            ms = page.evaluate(CLICK_TO_PICTURE, "button.iommulab-unbind" if unbind else "button.iommulab-bind")
            assert ms >= 0, f"click {i}: no new picture in 30 s"
            times.append(ms)
            want = unbound if unbind else bound
            try:
                page.wait_for_function(f"() => ({GROUP_LABEL})(1) && /owner_cnt \\d+/.exec(({GROUP_LABEL})(1))[0] === "
                                       f"'{want}'",
                                       timeout=30_000)
            except Exception:
                raise AssertionError(f"click {i}: group 1 says {page.evaluate(GROUP_LABEL, 1)!r}, not {want!r}; "
                                     f"shell: {page.inner_text('.iommulab-shell-output')!r}") from None
            _idle(page)
    times.sort()
    median = statistics.median(times)
    p95 = times[max(0, -(-95 * len(times) // 100) - 1)]            # nearest rank
    report = (f"click → new picture over {len(times)} clicks at {size}: median {median:.0f} ms (goal ≤ 150), "
              f"p95 {p95:.0f} ms (goal ≤ 300), min {times[0]:.0f}, max {times[-1]:.0f}")
    print("\n" + report)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"lab-click-latency-{size}.txt").write_text(report + "\n" + " ".join(f"{t:.0f}" for t in times) + "\n")
    assert console_errors == []
