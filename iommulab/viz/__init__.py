"""Views over the kernel model: the Graphviz picture, owner_cnt over time, the log, describe().

Imported lazily (graphviz and matplotlib load only when a view is used).

Where Python runs in the browser (Pyodide, `sys.platform == "emscripten"`: no threads, no
subprocesses, so no `dot`), Python still writes the picture's DOT text, and the browser lays it out
with its own Graphviz (wasm; iommulab.widgets.wasmdot): refresh() hands the Lab a `Dot`, and
render_svg() an HTML placeholder carrying the DOT, which the page's renderer replaces with the
picture (its text description shows until then, or where no renderer runs). Python cannot wait
for the browser, so the SVG never comes back to Python there."""
import html
import os
import sys


class Dot(str):
    """DOT text for the browser's Graphviz to lay out (what refresh() returns instead of SVG where
    `dot` cannot run here)."""


def in_browser():
    """True where the picture is laid out in the browser: Pyodide, or IOMMULAB_RENDER=browser (to
    measure the browser's Graphviz in JupyterLab; the lab's widget needs the site's copy of it)."""
    return sys.platform == "emscripten" or os.environ.get("IOMMULAB_RENDER") == "browser"


DOT_CLASS = "iommulab-dot"      # the placeholder's class: widgets.wasmdot's page renderer looks for it


def dot_html(source, text=""):
    """A placeholder for the browser's Graphviz: the DOT in a data attribute, `text` shown until the
    picture replaces it (or for good where nothing renders it)."""
    return (f'<div class="{DOT_CLASS}" data-dot="{html.escape(source, quote=True)}">'
            f'<pre>{html.escape(text)}</pre></div>')


def render_svg(k, **kw):
    """(svg_text, None), or (None, notice + describe(k)) when Graphviz's dot is missing. In the
    browser: (dot_html(...), None), an HTML placeholder the page's Graphviz draws."""
    from .dotproc import DotMissing
    from .graph import graph, svg
    from .log import describe
    if in_browser():           # a kernel is described until the picture comes; a view model (no state) is not
        text = describe(k) if hasattr(k, "state") else "The picture is drawn by the browser's Graphviz."
        return dot_html(graph(k, **kw).source, text), None
    try:
        return svg(k, **kw), None
    except DotMissing as e:
        return None, f"{e}\n\n{describe(k)}"


def _image(plot, k):
    p = plot.update(k)
    return p.image() if hasattr(p, "image") else p.png()


def refresh(k, plot, timeline=None, **kw):
    """After an action: the new picture and plot, (svg or None, fallback text or None, png).
    The picture follows k's timeline (the Lab's: made before its first picture): the step shown,
    what its action changed, the obstacle of lines refused since. The DOT text is built first; then
    dot runs in its own process while matplotlib draws, so the two overlap on two cores. In the
    browser (in_browser()) the steps run in order and the picture is a Dot for the browser's
    Graphviz: (Dot, None, png)."""
    from ..shell import timeline_for
    from .dotproc import DotMissing
    from .graph import graph, pipe_svg
    from .log import describe
    source = graph(k, timeline=timeline if timeline is not None else timeline_for(k), **kw)
    if in_browser():
        return Dot(source.source), None, _image(plot, k)
    import threading
    result = {}

    def run_dot():
        try:
            result["svg"] = pipe_svg(source)
        except DotMissing as e:
            result["text"] = f"{e}\n\n{describe(k)}"
    worker = threading.Thread(target=run_dot)
    worker.start()
    png = _image(plot, k)
    worker.join()
    return result.get("svg"), result.get("text"), png


def __getattr__(name):
    import importlib
    table = {"graph": ".graph", "svg": ".graph", "OwnerCntPlot": ".plot", "describe": ".log",
             "events_html": ".log", "dmesg_html": ".log", "build": ".model"}
    if name not in table:
        raise AttributeError(name)
    return getattr(importlib.import_module(table[name], __name__), name)
