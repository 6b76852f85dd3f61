"""Views over the kernel model: the Graphviz picture, owner_cnt over time, the log, describe().

Imported lazily (graphviz and matplotlib load only when a view is used)."""


def render_svg(k, **kw):
    """(svg_text, None), or (None, notice + describe(k)) when Graphviz's dot is missing."""
    from .dotproc import DotMissing
    from .graph import svg
    from .log import describe
    try:
        return svg(k, **kw), None
    except DotMissing as e:
        return None, f"{e}\n\n{describe(k)}"


def refresh(k, plot, timeline=None, **kw):
    """After an action: the new picture and plot, (svg or None, fallback text or None, png).
    The picture follows k's timeline (the Lab's: made before its first picture): the step shown,
    what its action changed, the obstacle of lines refused since. The DOT text is built first; then
    dot runs in its own process while matplotlib draws, so the two overlap on two cores."""
    import threading
    from ..shell import timeline_for
    from .dotproc import DotMissing
    from .graph import graph, pipe_svg
    from .log import describe
    source = graph(k, timeline=timeline if timeline is not None else timeline_for(k), **kw)
    result = {}

    def run_dot():
        try:
            result["svg"] = pipe_svg(source)
        except DotMissing as e:
            result["text"] = f"{e}\n\n{describe(k)}"
    worker = threading.Thread(target=run_dot)
    worker.start()
    png = plot.update(k).png()
    worker.join()
    return result.get("svg"), result.get("text"), png


def __getattr__(name):
    import importlib
    table = {"graph": ".graph", "svg": ".graph", "OwnerCntPlot": ".plot", "describe": ".log",
             "events_html": ".log", "dmesg_html": ".log", "build": ".model"}
    if name not in table:
        raise AttributeError(name)
    return getattr(importlib.import_module(table[name], __name__), name)
