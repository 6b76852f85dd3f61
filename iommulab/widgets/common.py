"""What every widget shares: its callbacks' guard, its static stand-in, and where the picture is
shown (dot's SVG in an HTML widget; in the browser, DOT for the browser's Graphviz)."""
import base64
import html

import ipywidgets as W


def guarded(fn, show, what="do that"):
    """Run a widget callback; it never raises into the notebook: show(html) says what went wrong."""
    try:
        fn()
    except Exception as e:                  # the last line of defence, not a control flow
        if getattr(e, "propagate", False):  # solution mode's failed check: the notebook's run must fail
            raise
        show(f"iommulab could not {what}: {html.escape(type(e).__name__)}: {html.escape(str(e))}")


def picture_widget(**kw):
    """The widget the picture is shown in: HTML for dot's SVG; where the picture is laid out in the
    browser (iommulab.viz.in_browser(): Pyodide), a WasmDot fed DOT text."""
    from ..viz import in_browser
    if in_browser():
        from .wasmdot import WasmDot
        return WasmDot(**kw)
    return W.HTML(**kw)


def show_picture(widget, svg, text):
    """Show what viz.refresh() made in a picture_widget(): a Dot (DOT for the browser), dot's SVG
    (in its focus-anchored box), or the text that stands in when Graphviz is missing."""
    from ..viz import Dot
    from ..viz.graph import anchored
    if isinstance(svg, Dot):
        widget.dot = str(svg)
    elif svg is not None:
        widget.value = anchored(svg)
    else:
        widget.value = f"<pre>{html.escape(str(text))}</pre>"


def static_html(w):
    """The widget as a page without widgets shows it: its text, pictures and plots as they are now,
    the choices of a question as a list; buttons and input boxes (which would do nothing) left out."""
    if getattr(w.layout, "display", None) == "none":
        return ""
    if isinstance(w, (W.HTML, W.HTMLMath)):
        return w.value
    if isinstance(w, W.Image):
        if not w.value:
            return ""
        data = base64.b64encode(bytes(w.value)).decode("ascii")
        return f'<img src="data:image/{w.format};base64,{data}" alt="owner_cnt plot">'
    if isinstance(w, (W.RadioButtons, W.Select, W.SelectMultiple)) and w.options:
        items = "".join(f"<li>{html.escape(str(o[0] if isinstance(o, tuple) else o))}</li>" for o in w.options)
        return f"<ul>{items}</ul>"
    if isinstance(w, W.Tab):              # the tab shown, under its title
        i = w.selected_index or 0
        if not w.children:
            return ""
        inner = static_html(w.children[i])
        return inner and f"<div><b>{html.escape(w.get_title(i) or '')}</b>{inner}</div>"
    if isinstance(w, W.Box):
        row = isinstance(w, W.HBox)
        style = "display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start" if row else ""
        parts = [static_html(c) for c in w.children]
        return f'<div style="{style}">' + "".join(f"<div>{p}</div>" if row else p for p in parts if p) + "</div>"
    return ""


class StaticFallback:
    """Mixed into a widget: its output also carries text/html, its static stand-in, which front ends
    without a widget renderer show (JupyterLab and Notebook rank the widget first)."""

    def _repr_mimebundle_(self, **kw):
        data = super()._repr_mimebundle_(**kw)
        try:
            data["text/html"] = ('<div class="iommulab-static">' + static_html(self)
                                 + '<p><i>A static copy: run the notebook in JupyterLab to use the buttons.'
                                 '</i></p></div>')
        except Exception as e:              # a missing stand-in must never hide the widget
            data["text/html"] = f"<i>no static copy: {html.escape(type(e).__name__)}</i>"
        return data
