"""LevelLab(level): a level open in the Lab. Above the Lab, a goal panel: the title and intro, the goal
clauses in words ticked live after every action (the why under each that does not hold yet), the
buttons check / hint / show solution (asks first) / reset, the feedback, and a small picture of the
goal state beside the current one (Learn Git Branching's goal window), both at one fixed scale
(a "pictures" toggle hides them on a small screen). A strip inside the Lab, beside its controls and below
its action tabs (the Lab's `panel` slot, under its feedback line), repeats the ticks and the feedback
where the learner acts; the Lab's `on_action` callback ticks the goal after every action, undo and
move in time.

It receives the course's Level object and uses it by duck typing (this module never imports
iommulab.course): level.k, .d (intro, takeaway, machine, source), .title, .goal_words(),
.check(record=...), .hint(), .solution(confirm=True), .reset(), .focus(), and, when the level has
it, .progress_note(). Callbacks never raise into the notebook: a problem shows in the panel."""
import html
from dataclasses import replace

import ipywidgets as W

from .common import StaticFallback, guarded

from .lab import Lab
from ..kernel import BRIDGE_KINDS
from ..viz.graph import fixed_scale

# The small pictures keep dot's own size times this: dot's 10 pt labels become 10.7 px on screen
# (1 pt = 4/3 px). A fixed scale, never shrink-to-fit: a big machine scrolls in its box instead.
SCALE = 0.8
PICTURE_HEIGHT = 260                      # px; under 800 px of screen height, 190

CSS = """<style>
.iommulab-goal { border: 2px solid #0072B2; border-radius: 6px; padding: 6px 10px; margin-bottom: 6px;
                 background: #F7FBFE; }
.iommulab-level-title { font-size: 115%; }
.iommulab-level-intro { margin: 2px 0 4px 0; line-height: 1.35; }
.iommulab-goal-clauses ul { list-style: none; padding-left: 0.2em; margin: 2px 0; }
.iommulab-goal-clause { margin: 2px 0; line-height: 1.3; }
.iommulab-goal-clause .mark { font-weight: bold; display: inline-block; width: 1.2em; }
.iommulab-goal-clause.ok .mark { color: #009E73; }
.iommulab-goal-clause.not-ok .mark { color: #D55E00; }
.iommulab-goal-clause .why { display: block; margin-left: 1.2em; color: #444; font-size: 92%; }
.iommulab-level-passed { border-left: 5px solid #009E73; background: #E3F4EE; padding: 4px 8px; margin: 4px 0; }
.iommulab-level-feedback .iommulab-level-error { color: #D55E00; font-weight: bold; }
.iommulab-level-feedback { line-height: 1.35; max-height: 14em; overflow: auto; }
.iommulab-level-feedback pre { margin: 2px 0; white-space: pre-wrap; line-height: 1.3; }
.iommulab-level-feedback ul { margin: 2px 0; padding-left: 1.2em; }
.iommulab-level-feedback .box { border-left: 4px solid #E69F00; padding: 2px 8px; margin: 2px 0; }
.iommulab-goal .widget-html-content { line-height: 1.35; }
.iommulab-goal-picture > .widget-html-content { width: 100%; min-width: 0; }
.iommulab-goal-picture .pics { display: flex; flex-flow: row wrap; gap: 8px; max-width: 100%; }
.iommulab-goal-picture figure { margin: 0; flex: 0 1 auto; min-width: 0; max-width: 100%; }
.iommulab-goal-picture figcaption { font-weight: bold; }
.iommulab-goal-picture-note { color: #444; font-size: 90%; margin-top: 2px; }
.iommulab-goal-picture .pic { overflow: auto; border: 1px solid #ccc; background: #fff; max-height: @HEIGHT@px; }
@media (max-height: 800px) { .iommulab-goal-picture .pic { max-height: 190px; } }
.iommulab-level-strip { border-left: 4px solid #0072B2; background: #F7FBFE; padding: 2px 8px; margin: 4px 0; }
.iommulab-level-strip .widget-html-content { line-height: 1.35; }
.iommulab-level-strip .ok { color: #009E73; font-weight: bold; }
.iommulab-level-strip .not-ok { color: #D55E00; font-weight: bold; }
.iommulab-goal-picture svg { max-width: none; }
</style>""".replace("@HEIGHT@", str(PICTURE_HEIGHT))


def _button(text, cls, tip="", style=""):
    b = W.Button(description=text, tooltip=tip or text, button_style=style,
                 layout=W.Layout(width="auto", flex="0 0 auto"))
    b.add_class(cls)
    return b


def _show(widget, on):
    widget.layout.display = None if on else "none"


def scaled(svg, scale=SCALE):
    """dot's SVG at `scale` times dot's own size (its viewBox, in pt: 4/3 px each), whatever size it
    was given; without dot's XML prolog and DOCTYPE, which have no place in HTML."""
    return fixed_scale(svg[svg.find("<svg"):] if "<svg" in svg else svg, scale * 4 / 3, resize=True)


def _port(d):
    """A bridge or port on a driver that manages DMA itself (pcieport): it never counts, so a goal
    picture that names no device leaves it out (its house shape would fill the small box)."""
    return d.kind in BRIDGE_KINDS and d.driver_kind != "kernel-dma"


def picture(k, groups=None, devices=None):
    """A small picture of k: only `groups` (and their devices and the processes holding them), with no
    change marks (a goal is a state, not a step); with `devices`, only those of the groups' members
    (what the goal checks: Learn Git Branching's goal window shows more than its checker reads, and
    learners chase what is not checked). The SVG text, or None without Graphviz."""
    from ..viz.dotproc import DotMissing
    from ..viz.graph import graph, pipe_svg
    from ..viz.model import build
    m = build(k)
    m.last_action, m.changed_groups, m.changed_devices = "", set(), set()
    if groups:
        keep = {n for n in groups if n in m.groups}
        if keep:
            names = {d for n in keep for d in m.groups[n].devices if d in devices} if devices else \
                {d for n in keep for d in m.groups[n].devices if not _port(m.devices[d])}
            # new views, not the model's: views are shared between builds (viz.model keeps them)
            m.groups = {n: replace(g, devices=[d for d in g.devices if d in names] or g.devices)
                        for n, g in m.groups.items() if n in keep}
            names = {d for g in m.groups.values() for d in g.devices}      # a group left empty keeps its own
            m.devices = {n: d for n, d in m.devices.items() if n in names}
            m.processes = [p for p in m.processes if set(p.groups) & keep or set(p.devices) & names]
    dot = graph(m)
    dot.graph_attr["label"] = ""             # the caption above it says what it is
    dot.graph_attr["rankdir"] = "TB"         # the VM below its group: a narrow picture fits beside the goal
    from ..viz import dot_html, in_browser
    if in_browser():                         # JupyterLite: the lab's WasmDot lays it out in the page
        return dot_html(dot.source)
    try:
        return scaled(pipe_svg(dot))
    except DotMissing:
        return None


class LevelLab(StaticFallback, W.VBox):
    """What a level displays as in a notebook: `iommulab.level("gpu-passthrough")`."""

    def __init__(self, level, **kw):
        self.level = level
        self.lab = None
        self.last_check = None
        self.last_hint = None
        self._recorded = False
        self._goal_svg = None
        self._groups = None
        self._build()
        super().__init__([W.HTML(CSS), self.panel, W.HTML()], **kw)
        self.add_class("iommulab-level")
        self._guard(self._new_lab)

    # --- layout ----------------------------------------------------------------------------------

    def _build(self):
        self.head = W.HTML(self._head_html())
        self.head.add_class("iommulab-level-head")
        self.passed_view = W.HTML()
        self.passed_view.add_class("iommulab-level-passed-view")
        self.clauses_view = W.HTML()
        self.clauses_view.add_class("iommulab-goal-clauses")
        self.check_b = _button("check", "iommulab-level-check", "which goal clauses hold, and why the others do not")
        self.hint_b = _button("hint", "iommulab-level-hint", "the next hint; then the next step from your own state")
        self.solution_b = _button("show solution", "iommulab-level-solution", "the reference solution (asks first)")
        self.reset_b = _button("reset", "iommulab-level-reset", "boot the level's machine again")
        self.confirm_text = W.HTML("Are you sure? Try a hint first.")
        self.confirm_b = _button("yes, show the solution", "iommulab-level-confirm", style="warning")
        self.cancel_b = _button("no, give me a hint", "iommulab-level-cancel")
        self.confirm_row = W.HBox([self.confirm_text, self.confirm_b, self.cancel_b],
                                  layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.confirm_row.add_class("iommulab-level-confirm-row")
        self.feedback = W.HTML()
        self.feedback.add_class("iommulab-level-feedback")
        self.strip = W.HTML()                   # the goal's ticks and the feedback again, beside the Lab's controls
        self.strip.add_class("iommulab-level-strip")
        self.do_b = _button("do it", "iommulab-level-do", "run this line in the lab", style="info")
        self.undo_b = _button("undo", "iommulab-level-undo", "undo steps, back to where the goal can be reached")
        self.run_b = _button("run it", "iommulab-level-run", "run the reference solution in the lab's shell")
        self.act_row = W.HBox([self.do_b, self.undo_b, self.run_b])
        for b in (self.do_b, self.undo_b, self.run_b):
            _show(b, False)
        _show(self.confirm_row, False)
        self.pictures = W.HTML(layout=W.Layout(flex="1 1 420px", min_width="0"))
        self.pictures.add_class("iommulab-goal-picture")
        for button, fn in ((self.check_b, self.on_check), (self.hint_b, self.on_hint),
                           (self.solution_b, self.on_solution), (self.confirm_b, self.on_confirm),
                           (self.cancel_b, self.on_cancel), (self.reset_b, self.on_reset),
                           (self.do_b, self.on_do), (self.undo_b, self.on_undo_back), (self.run_b, self.on_run)):
            button.on_click(lambda b, fn=fn: self._guard(fn))
        self.pictures_t = W.ToggleButton(value=True, description="pictures", tooltip="show or hide the pictures",
                                         layout=W.Layout(width="auto", flex="0 0 auto"))
        self.pictures_t.add_class("iommulab-level-pictures-toggle")
        self.pictures_t.observe(lambda change: self._guard(self._toggle_pictures), names="value")
        buttons = W.HBox([self.check_b, self.hint_b, self.solution_b, self.reset_b, self.pictures_t],
                         layout=W.Layout(flex_flow="row wrap"))
        left = W.VBox([self.passed_view, self.clauses_view, buttons, self.confirm_row, self.feedback, self.act_row],
                      layout=W.Layout(flex="1 1 380px", min_width="0", overflow="visible"))
        row = W.HBox([left, self.pictures], layout=W.Layout(flex_flow="row wrap", align_items="flex-start",
                                                            overflow="visible"))
        self.panel = W.VBox([self.head, row], layout=W.Layout(overflow="visible"))
        self.panel.add_class("iommulab-goal")

    def _head_html(self):
        lv = self.level
        intro = " ".join((getattr(lv.d, "intro", "") or "").split())
        return (f'<div class="iommulab-level-title"><b>Level: {html.escape(lv.title)}</b></div>'
                + (f'<div class="iommulab-level-intro">{html.escape(intro)}</div>' if intro else ""))

    # --- the machine --------------------------------------------------------------------------------

    def _new_lab(self):
        """The Lab on the level's machine now (at construction, and after reset's new kernel)."""
        old = self.lab
        if old is not None:
            old.off_actions()
            old.side.children = tuple(c for c in old.side.children if c is not self.strip)
        self.lab = Lab(self.level.k, panel=self.strip)      # the strip sits under the Lab's feedback
        self.level.shell = self.lab.sh                      # lv.sh("...") in code runs in this Lab
        self.children = (self.children[0], self.panel, self.lab)
        if old is not None:
            old.close()
        self._recorded = False
        if self._goal_svg is None:
            try:
                self._goal_svg = self._goal_picture()
            except Exception as e:          # the machine stays usable without its goal picture
                self._goal_svg = (f"<i>no goal picture: {html.escape(type(e).__name__)}: "
                                  f"{html.escape(str(e))}</i>")
        self.lab.on_action(lambda: self._guard(self.refresh))
        self.refresh()

    def _goal_groups(self):
        """The groups the goal is about (of the devices the level focuses on), for the small pictures."""
        focus = getattr(self.level, "focus", None)
        if focus is None:
            return None
        devices = self.level.k.state()["devices"]
        return sorted({devices[d]["group"] for d in focus() if d in devices and devices[d]["group"] is not None})

    def _named(self):
        """The devices the goal's clauses name (all of a group's members when none is named)."""
        named = getattr(self.level, "named_devices", None)
        return set(named()) if named is not None else None

    def _goal_picture(self):
        """The goal state: the level's solution run from the level's start, on a machine of its own
        (the learner's may already have moved on)."""
        lv = self.level
        k = type(lv.k).from_toml(lv.d.machine, getattr(lv.d, "source", "") or lv.id)
        for chunk in _chunks(lv):
            k.sh(chunk)
        self._groups = self._goal_groups()
        return picture(k, self._groups, self._named())

    # --- callbacks ----------------------------------------------------------------------------------

    def _guard(self, fn):
        guarded(fn, lambda text: self._say(f'<div class="iommulab-level-error">{text}</div>'))

    def _say(self, text):
        """Feedback: in the panel, and in the strip beside the Lab's controls."""
        self.feedback.value = text
        self._strip()

    def _strip(self):
        c = self.last_check
        if c is None:
            self.strip.value = ""
            return
        marks = " · ".join(f'<span class="{"ok" if ok else "not-ok"}">{"✓" if ok else "✗"}</span> {html.escape(w)}'
                           for w, ok, _ in c.clauses)
        marks += "".join(f' · <span class="not-ok">✗</span> constraint: {html.escape(b)}' for b in c.broken)
        head = '<b class="ok">✓ Level passed.</b> ' if c.passed else ""
        self.strip.value = f"<div>{head}<b>goal</b>: {marks}</div>{self.feedback.value}"

    def refresh(self):
        """Tick the goal clauses on the machine as it is now; the picture of now beside the goal's."""
        c = self.level.check(record=False)
        self.last_check = c
        items = []
        for words, ok, why in c.clauses:
            cls, mark = ("ok", "✓") if ok else ("not-ok", "✗")
            items.append(f'<li class="iommulab-goal-clause {cls}"><span class="mark">{mark}</span>'
                         f'{html.escape(words)}'
                         + ("" if ok or not why else f'<span class="why">{html.escape(why)}</span>') + "</li>")
        items += [f'<li class="iommulab-goal-clause not-ok iommulab-goal-constraint"><span class="mark">✗</span>'
                  f'constraint: {html.escape(b)}</li>' for b in c.broken]
        self.clauses_view.value = f"<b>Goal</b><ul>{''.join(items)}</ul>"
        if c.passed:
            if not self._recorded:
                self.level.check(record=True)         # the learner's progress file keeps it
                self._recorded = True
            self.passed_view.value = self._passed_html()
        else:
            self.passed_view.value = ""
        if self.pictures_t.value:
            self.pictures.value = self._pictures_html()
        self._strip()

    def _toggle_pictures(self):
        on = self.pictures_t.value
        _show(self.pictures, on)
        if on and self.lab is not None:
            self.pictures.value = self._pictures_html()

    def _passed_html(self):
        lv = self.level
        note = ""
        fn = getattr(lv, "progress_note", None)
        if callable(fn):
            try:
                note = fn() or ""
            except Exception:                   # the note is a courtesy: never lose the banner for it
                note = ""
        takeaway = " ".join((getattr(lv.d, "takeaway", "") or "").split())
        return ('<div class="iommulab-level-passed"><b>✓ Level passed.</b> '
                + (f"{html.escape(takeaway)}" if takeaway else "")
                + (f'<br><small class="iommulab-level-progress">{html.escape(note)}</small>' if note else "")
                + "</div>")

    def _pictures_html(self):
        now = picture(self.level.k, self._groups, self._named())

        def fig(caption, svg):
            body = svg if svg is not None else "<i>no picture: Graphviz's dot is not installed</i>"
            return (f'<figure class="iommulab-goal-picture-{caption}"><figcaption>{caption}</figcaption>'
                    f'<div class="pic">{body}</div></figure>')
        note = ('<div class="iommulab-goal-picture-note">Only what the goal checks is drawn here; the whole '
                "machine is in the lab below.</div>") if self._named() else ""
        return f'<div class="pics">{fig("now", now)}{fig("goal", self._goal_svg)}</div>{note}'

    def _clear_actions(self):
        for b in (self.do_b, self.undo_b, self.run_b):
            _show(b, False)
        _show(self.confirm_row, False)

    def on_check(self):
        self._clear_actions()
        c = self.level.check(record=True)
        self.last_check = c
        held = sum(1 for _, ok, _ in c.clauses if ok)
        if c.passed:
            text = f"<b>check: passed</b> — all {len(c.clauses)} goal clauses hold."
        else:
            rows = "".join(f"<li>✗ {html.escape(w)}<br><i>{html.escape(why)}</i></li>" for w, why in c.failing)
            rows += "".join(f"<li>✗ constraint: {html.escape(b)}</li>" for b in c.broken)
            text = (f"<b>check: not yet</b> — {held} of {len(c.clauses)} goal clauses hold"
                    + (f", {len(c.broken)} constraint{'s' if len(c.broken) > 1 else ''} broken" if c.broken else "")
                    + f".<ul>{rows}</ul>")
        self._say(f'<div class="box iommulab-level-check-result">{text}</div>')
        self.refresh()

    def on_hint(self):
        self._clear_actions()
        h = self.level.hint()
        self.last_hint = h
        kind = getattr(h, "kind", "authored")
        line = getattr(h, "line", "") or ""
        code = f"<br><code>{html.escape(line)}</code>" if line else ""
        self._say(f'<div class="box iommulab-hint kind-{html.escape(kind)}"><b>hint</b> — '
                  f"{html.escape(str(h.text))}{code}</div>")
        if kind == "next" and line:
            _show(self.do_b, True)
        undo = getattr(h, "undo", 0) or 0
        if kind == "way-back" and undo:
            self.undo_b.description = f"undo {undo}"
            _show(self.undo_b, True)

    def on_do(self):
        h = self.last_hint
        _show(self.do_b, False)
        if h is None or not getattr(h, "line", ""):
            return
        self.lab.sh(h.line)
        self._say(f'<div class="box">ran <code>{html.escape(h.line)}</code> — ask for a hint again '
                  "for the step after it.</div>")

    def on_undo_back(self):
        h = self.last_hint
        _show(self.undo_b, False)
        n = getattr(h, "undo", 0) if h is not None else 0
        done = 0
        for _ in range(n):
            before = len(self.lab.timeline.steps)
            self.lab.on_undo()                  # the Lab's own undo: its views and the panel follow
            if len(self.lab.timeline.steps) == before:
                break
            done += 1
        self._say(f'<div class="box">undid {done} step{"s" if done != 1 else ""}.</div>')

    def on_solution(self):
        self._clear_actions()
        self._say("")
        _show(self.confirm_row, True)

    def on_cancel(self):
        _show(self.confirm_row, False)
        self.on_hint()

    def on_confirm(self):
        _show(self.confirm_row, False)
        text = self.level.solution(confirm=True).strip()
        self._say('<div class="box iommulab-level-solution-text"><b>solution</b> (from the level\'s '
                  "start: reset first if you have changed the machine)"
                  f"<pre>{html.escape(text)}</pre></div>")
        _show(self.run_b, True)

    def on_run(self):
        _show(self.run_b, False)
        for chunk in _chunks(self.level):        # a panic ends a script: each reboot is typed after it
            self.lab.sh(chunk)

    def on_reset(self):
        self._clear_actions()
        self.level.reset()
        self._say('<div class="box">The machine is booted again, as the level starts.</div>')
        self._new_lab()


def _chunks(level):
    """The solution as the learner would type it (Level.solution_chunks), or whole."""
    chunks = getattr(level, "solution_chunks", None)
    return chunks() if chunks is not None else [level.solution(confirm=True)]
