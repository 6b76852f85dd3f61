"""The owner_cnt plot as SVG text, where matplotlib is missing (Pyodide: JupyterLite's kernel).

Draws the same `Picture` (plot_model.py) as the matplotlib drawer and in the same layout: title and
legend, one panel per group with its stacked bars, direct count labels, markers and the step shown,
the notes under the panels. Plain string building from the standard library: no third-party import.
The SVG is `width` px across at 1 px per CSS px, text 11 px or larger, in the font matplotlib uses
(DejaVu Sans) or the nearest the browser has.

Each part carries a class (panel, bar, count, mark, xtick, ytick, note, legend) so that a reader (or
a test) finds it; the positions are the drawing itself, in px of the SVG's own coordinates."""
from html import escape

from .plot_model import (AXES, BAR, COLORS, FONT, MARKER_COLORS, MARKERS, NOTE, PANEL, SEGMENTS, WIDTH, Plot)

FAMILY = "DejaVu Sans, Bitstream Vera Sans, Verdana, Geneva, sans-serif"
# DejaVu Sans advance widths in em (the legend's columns are placed by the longest words in each);
# a letter not listed counts as 0.62 em
_EM = dict(zip("abcdefghijklmnopqrstuvwxyz", (0.61, 0.63, 0.55, 0.63, 0.62, 0.35, 0.63, 0.63, 0.28, 0.28, 0.58,
                                               0.28, 0.97, 0.63, 0.61, 0.63, 0.63, 0.41, 0.52, 0.39, 0.63, 0.59,
                                               0.82, 0.59, 0.59, 0.52)))
_EM.update({" ": 0.32, "-": 0.36, "_": 0.5, "(": 0.39, ")": 0.39, ".": 0.32, ",": 0.32, ":": 0.34,
            "D": 0.77, "M": 0.86, "A": 0.68, "R": 0.69, "W": 0.99, "N": 0.75, "X": 0.69})
# matplotlib's hatches at 72 dpi: "///" a line every 8 px, "xx" a cross every 12 px (tiles of that size)
HATCH = {"///": (8, "M-1,1 L1,-1 M0,8 L8,0 M7,9 L9,7"),
         "xx": (12, "M-1,1 L1,-1 M0,12 L12,0 M11,13 L13,11 M-1,11 L1,13 M0,0 L12,12 M11,-1 L13,1")}


def text_width(s, size=FONT):
    """An estimate of s's width in px at `size` px in DejaVu Sans."""
    return sum(_EM.get(c, 0.62) for c in s) * size


def _n(v):
    """A number for an attribute: at most two decimals."""
    return f"{v:.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _text(x, y, s, cls="", size=FONT, anchor="start", color=None, bold=False, extra=""):
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' font-size="{size}"' if size != FONT else ""
    attrs += f' text-anchor="{anchor}"' if anchor != "start" else ""
    attrs += f' fill="{color}"' if color and color != COLORS["text"] else ""
    attrs += ' font-weight="bold"' if bold else ""
    return f'<text x="{_n(x)}" y="{_n(y)}"{attrs}{extra}>{escape(s)}</text>'


def marker(kind, x, y, size=7):
    """A marker of MARKERS' `kind` centred at (x, y) px, `size` px across (matplotlib's markersize)."""
    h, color, shape = size / 2, MARKER_COLORS[kind], MARKERS[kind][0]
    if shape == "^":
        pts = [(0, -h), (h, h), (-h, h)]
    elif shape == "v":
        pts = [(0, h), (h, -h), (-h, -h)]
    elif shape == "s":
        pts = [(-h, -h), (h, -h), (h, h), (-h, h)]
    elif shape == "D":
        r = h * 1.41                       # a square of side `size`, turned 45°
        pts = [(0, -r), (r, 0), (0, r), (-r, 0)]
    else:                                   # "X": a filled cross
        t = h * 0.4
        pts = [(-h, t - h), (t - h, -h), (0, -t), (h - t, -h), (h, t - h), (t, 0), (h, h - t), (h - t, h),
               (0, t), (t - h, h), (-h, h - t), (-t, 0)]
    d = "M" + " L".join(f"{_n(float(a))},{_n(float(b))}" for a, b in pts) + " Z"
    return (f'<path class="mark {kind}" transform="translate({_n(float(x))},{_n(float(y))})" d="{d}" '
            f'fill="{color}" stroke="{color}" stroke-width="1"/>')


def _fill(key):
    face, hatch = {k: (f, h) for k, _, f, _, h in SEGMENTS}[key]
    return f"url(#iommulab-hatch-{key})" if hatch else face


def _defs():
    out = []
    for key, _, face, edge, hatch in SEGMENTS:
        if hatch:
            size, d = HATCH[hatch]
            out.append(f'<pattern id="iommulab-hatch-{key}" width="{size}" height="{size}" '
                       f'patternUnits="userSpaceOnUse"><rect width="{size}" height="{size}" fill="{face}"/>'
                       f'<path d="{d}" stroke="{edge}" stroke-width="1"/></pattern>')
    return "<defs>" + "".join(out) + "</defs>"


def _legend(pic, wide):
    """The legend's entries column by column (as matplotlib fills them), each a box or a marker."""
    edges = {k: e for k, _, _, e, _ in SEGMENTS}
    rows = -(-len(pic.legend) // pic.ncol)
    handle, pad, gap = FONT * (1.4 if wide else 1.1), FONT * 0.4, FONT * (0.8 if wide else 0.6)
    out, x = ['<g class="legend">'], 6.6
    for c in range(pic.ncol):
        column = pic.legend[c * rows:(c + 1) * rows]
        for r, e in enumerate(column):
            cy = 31 + 14.4 * r
            if e.swatch:
                out.append(f'<rect class="swatch {e.kind}" x="{_n(x)}" y="{_n(cy - 3.85)}" width="{_n(handle)}" '
                           f'height="7.7" fill="{_fill(e.kind)}" stroke="{edges[e.kind]}" stroke-width="1"/>')
            else:
                out.append(marker(e.kind, x + handle / 2, cy, size=9))
            out.append(_text(x + handle + pad, cy + 4, e.words, cls=f"legend {e.kind}"))
        x += handle + pad + max([text_width(e.words) for e in column] + [0]) + gap
    out.append("</g>")
    return out


def _panel(pic, j, p, last):
    left, top, right, bottom = pic.axes_box(j)
    lo, hi = pic.xlim
    y0, y1 = p.ylim

    def px(step):
        return left + (step - lo) / (hi - lo) * (right - left)

    def py(value):
        return bottom - (value - y0) / (y1 - y0) * (bottom - top)

    out = [f'<g class="panel" data-group="{p.group}">',
           f'<text y="{top - 8}"><tspan x="6" class="name" font-size="{FONT + 1}" font-weight="bold">'
           f'{escape(p.name)}</tspan><tspan dx="8" class="words"'
           + (f' fill="{COLORS["warm"]}" font-weight="bold"' if p.leak else "")
           + f">{escape(p.words)}</tspan></text>"]
    if p.cursor is not None:
        out.append(f'<rect class="cursor" x="{_n(px(p.cursor - 0.5))}" y="{top}" '
                   f'width="{_n(px(p.cursor + 0.5) - px(p.cursor - 0.5))}" height="{AXES}" '
                   f'fill="{COLORS["cursor"]}" fill-opacity="0.3"/>')
    edges = {k: e for k, _, _, e, _ in SEGMENTS}
    for bar in p.bars:
        for key, b, h in bar.parts:
            out.append(f'<rect class="bar {key}" x="{_n(px(bar.step - BAR))}" y="{_n(py(b + h))}" '
                       f'width="{_n(px(bar.step + BAR) - px(bar.step - BAR))}" height="{_n(py(b) - py(b + h))}" '
                       f'fill="{_fill(key)}" stroke="{edges[key]}" stroke-width="1"/>')
    for c in p.counts:
        out.append(_text(px(c.step), py(c.y) - 2.6, c.text, cls="count", anchor="middle",
                         color=COLORS["warm"] if c.doubled else None, bold=c.doubled))
    out += [marker(m.kind, px(m.x), py(m.y)) for m in p.marks]
    out.append(f'<path class="spine" d="M{left},{top} V{bottom} H{right}" fill="none" stroke="{COLORS["text"]}" '
               'stroke-width="0.8" shape-rendering="crispEdges"/>')
    for v in p.yticks:
        out.append(f'<path class="tick y" d="M{left - 3},{_n(py(v))} H{left}" stroke="{COLORS["text"]}" '
                   'stroke-width="0.8" shape-rendering="crispEdges"/>')
        out.append(_text(left - 4, py(v) + 4, str(v), cls="ytick", anchor="end"))
    if last:
        for s in pic.xticks:
            out.append(f'<path class="tick x" d="M{_n(px(s))},{bottom} V{bottom + 3}" stroke="{COLORS["text"]}" '
                       'stroke-width="0.8" shape-rendering="crispEdges"/>')
            out.append(_text(px(s), bottom + 14, str(s), cls="xtick", anchor="middle"))
        out.append(_text((left + right) / 2, bottom + 28, pic.xlabel, cls="xlabel", anchor="middle"))
    out.append("</g>")
    return out


def render(pic, wide=None):
    """The SVG text of a Picture."""
    wide = pic.width >= 440 if wide is None else wide
    w, h = pic.width, pic.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           f'font-family="{FAMILY}" font-size="{FONT}" fill="{COLORS["text"]}" role="img" '
           f'aria-label="{escape(pic.title)}">', _defs(),
           f'<rect class="background" width="{w}" height="{h}" fill="#FFFFFF"/>',
           _text(6, 15, pic.title, cls="title", size=FONT + 1, bold=True),
           _text(w - 8, 15, pic.where, cls="where", size=FONT + 1, anchor="end")]
    out += _legend(pic, wide)
    for j, p in enumerate(pic.panels):
        out += _panel(pic, j, p, j == len(pic.panels) - 1)
    if pic.empty is not None:
        left, top, right, bottom = pic.axes_box(0)
        lines = pic.empty.split("\n")
        first = (top + bottom) / 2 - 13.2 * (len(lines) - 1) / 2 + 4
        out += [_text((left + right) / 2, first + 13.2 * i, s, cls="empty", anchor="middle", color=COLORS["quiet"])
                for i, s in enumerate(lines)]
    base = pic.top + PANEL * max(1, len(pic.panels)) + 36
    out += [_text(6, base + NOTE * j + 12, line.text, cls="note", color=COLORS["warm"] if line.warm else None)
            for j, line in enumerate(pic.notes)]
    out.append("</svg>")
    return "\n".join(out)


class SvgPlot(Plot):
    """The plot drawn as SVG text: plot.update(k); plot.svg(); plot.image() (UTF-8 bytes, format
    "svg+xml", for an ipywidgets Image)."""
    format = "svg+xml"

    def __init__(self, width=WIDTH, scale=1):
        super().__init__(width)             # scale: a vector picture is sharp at any
        self._svg = ""

    def draw(self, pic):
        self._svg = render(pic, self.wide)

    def svg(self):
        return self._svg

    def image(self):
        return self._svg.encode()
