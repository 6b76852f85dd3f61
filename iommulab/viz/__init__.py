"""Views over the kernel model: the Graphviz picture, owner_cnt over time, the log, describe().

Imported lazily (graphviz and matplotlib load only when a view is used)."""


def render_svg(k, **kw):
    """(svg_text, None), or (None, notice + describe(k)) when Graphviz's dot is missing."""
    from .graph import DotMissing, svg
    from .log import describe
    try:
        return svg(k, **kw), None
    except DotMissing as e:
        return None, f"{e}\n\n{describe(k)}"


def __getattr__(name):
    import importlib
    table = {"graph": ".graph", "svg": ".graph", "OwnerCntPlot": ".plot", "describe": ".log",
             "events_html": ".log", "dmesg_html": ".log", "build": ".model"}
    if name not in table:
        raise AttributeError(name)
    return getattr(importlib.import_module(table[name], __name__), name)
