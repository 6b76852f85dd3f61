"""The "run me first" cell of every notebook: is this environment able to run the course, and what
to do when it is not. `iommulab.run_me_first()` checks what the notebooks need (Python, Graphviz's
`dot` drawing a real graph, matplotlib, ipywidgets) and shows one box.

Whether widgets *render* cannot be seen from the kernel, only from the page: the box is a widget
whose static stand-in (the text/html of the same output, which a front end shows when it has no
widget renderer) says that widgets do not render here and what to do about it.
"""
import html
import shutil
import sys
from dataclasses import dataclass, field

from . import progress

REPO_FIX = "run `bash scripts/lab.sh` from the repository, which installs what is missing"


@dataclass
class Item:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class Setup:
    """What run_me_first found: `ok` when every item is; `items` each with what to do if not."""
    items: list = field(default_factory=list)

    @property
    def ok(self):
        return all(i.ok for i in self.items)

    @property
    def problems(self):
        return [i for i in self.items if not i.ok]

    def text(self):
        lines = [f"{'ok ' if i.ok else 'NO '} {i.name}: {i.detail}" + ("" if i.ok else f" -> {i.fix}")
                 for i in self.items]
        head = "ready: every check passed" if self.ok else f"{len(self.problems)} problem(s): see below"
        return "\n".join([head, *lines])

    def html(self, widgets_render):
        rows = "".join(
            f"<tr><td>{'✔' if i.ok else '✖'}</td><td><b>{html.escape(i.name)}</b></td>"
            f"<td>{html.escape(i.detail)}{'' if i.ok else ' — <b>to fix:</b> ' + _md_code(i.fix)}</td></tr>"
            for i in self.items)
        if widgets_render:
            verdict = ("<div class='iommulab-setup-widgets' style='color:#006100'>✔ widgets render: "
                       "the lab's buttons will work here.</div>")
        else:
            verdict = ("<div class='iommulab-setup-widgets' style='color:#9c0006'>✖ You are reading a static "
                       "copy: this front end shows no interactive widgets (in JupyterLab: is the "
                       "notebook trusted, and is <code>jupyterlab_widgets</code> installed? "
                       + _md_code(REPO_FIX) + "). The pictures below each lab still show the machine, "
                       "and every exercise can be answered in code.</div>")
        ok = self.ok and widgets_render
        colour = "#006100" if ok else "#9c0006"
        return (f"<div class='iommulab-setup' style='border:2px solid {colour};padding:6px 10px;"
                f"font-size:14px;max-width:760px'><b>Run me first</b> — "
                f"{'ready' if ok else 'something needs attention'}"
                f"<table style='font-size:13px'>{rows}</table>{verdict}</div>")


def _md_code(text):
    out, parts = [], text.split("`")
    for j, part in enumerate(parts):
        out.append(f"<code>{html.escape(part)}</code>" if j % 2 else html.escape(part))
    return "".join(out)


def _python():
    v = sys.version_info
    ok = v >= (3, 11)
    return Item("Python", ok, f"{v.major}.{v.minor}.{v.micro}", "use Python 3.11 or newer")


def _graphviz():
    from ..viz import in_browser
    if in_browser():
        return Item("Graphviz", True, "the browser lays out the pictures (Graphviz compiled to WebAssembly)")
    if shutil.which("dot") is None:
        return Item("Graphviz", False, "`dot` is not on PATH: pictures fall back to text",
                    "install Graphviz (`bash scripts/system-deps.sh`, or `apt install graphviz`)")
    from ..viz.dotproc import DotMissing, runner
    try:
        svg = runner().render('digraph { a -> b }')
    except DotMissing as e:
        return Item("Graphviz", False, f"`dot` did not draw: {e}", "reinstall Graphviz")
    ok = "<svg" in svg
    return Item("Graphviz", ok, "dot draws the pictures" if ok else "dot gave no SVG", "reinstall Graphviz")


def _module(name, what):
    try:
        mod = __import__(name)
    except ImportError:
        return Item(name, False, f"not installed: {what} will not appear", REPO_FIX)
    return Item(name, True, f"{getattr(mod, '__version__', '?')}: {what}")


def _matplotlib():
    """Not needed: without it (JupyterLite, a bare Python) viz.plot_svg draws the same plots."""
    try:
        mod = __import__("matplotlib")
    except ImportError:
        return Item("matplotlib", True, "not installed: iommulab draws the owner_cnt plots itself (SVG)")
    return Item("matplotlib", True, f"{getattr(mod, '__version__', '?')}: the owner_cnt plots")


def _progress():
    where = progress.where()
    return Item("progress", True, where)


def check():
    """The checks, without displaying anything (usable in a terminal or a test)."""
    return Setup([_python(), _graphviz(), _matplotlib(),
                  _module("ipywidgets", "the lab's buttons"), _progress()])


def run_me_first():
    """Check the environment and show the result: a widget saying widgets render, whose static
    stand-in says they do not. Without ipywidgets, the plain result (its text and HTML)."""
    setup = check()
    try:
        import ipywidgets as W
    except ImportError:
        return _Static(setup)

    class SetupBox(W.HTML):
        def _repr_mimebundle_(self, **kw):
            data = super()._repr_mimebundle_(**kw)
            data["text/plain"] = setup.text()
            data["text/html"] = setup.html(widgets_render=False)
            return data

    box = SetupBox(value=setup.html(widgets_render=True))
    box.setup = setup
    return box


class _Static:
    def __init__(self, setup):
        self.setup = setup

    def _repr_html_(self):
        return self.setup.html(widgets_render=False)

    def __repr__(self):
        return self.setup.text()
