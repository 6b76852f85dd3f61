"""owner_cnt over time, drawn for reading (what it shows: plot_model.py). `new_plot()` picks the
drawer: matplotlib (`OwnerCntPlot`, a PNG) where it imports, else the package's own SVG drawer
(`SvgPlot` in plot_svg.py, for Pyodide, which has no matplotlib); IOMMULAB_PLOT=svg (or
`new_plot(drawer="svg")`) asks for the SVG one anyway. Both draw the same `Picture`.

The PNG is drawn at the size the Lab shows it (300 px wide at 1 image px per CSS px; text is
11 px or larger: at 72 dpi a point is a pixel). OwnerCntPlot keeps one matplotlib Figure (no pyplot
state); the model's Reader remembers each step's composition, so a refresh computes only the step
shown now."""
import io
import os

from .plot_model import (  # noqa: F401  (the names the plot has always offered)
    AXES, BOTTOM, COLORS, FONT, LABELS, LEFT, MARKER_COLORS, MARKERS, NOTE, PANEL, RIGHT, SEGMENTS, WIDTH, Plot)
from .plot_reader import MAX_PANELS, WINDOW, composition, series  # noqa: F401

DPI = 72                       # at 72 dpi 1 pt = 1 px
DRAWERS = ("matplotlib", "svg")


def new_plot(width=WIDTH, scale=1, drawer=None):
    """The owner_cnt plot for this Python: drawer "matplotlib" or "svg"; None: IOMMULAB_PLOT if set,
    else matplotlib when it imports, else SVG. scale: the PNG's pixels per CSS px (SVG ignores it)."""
    drawer = drawer or os.environ.get("IOMMULAB_PLOT") or None
    if drawer not in (None, *DRAWERS):
        raise ValueError(f"IOMMULAB_PLOT / drawer: one of {', '.join(DRAWERS)}, not {drawer!r}")
    if drawer is None:
        try:
            import matplotlib  # noqa: F401
            drawer = "matplotlib"
        except ImportError:
            drawer = "svg"
    if drawer == "svg":
        from .plot_svg import SvgPlot
        return SvgPlot(width)
    return OwnerCntPlot(width, scale)


class OwnerCntPlot(Plot):
    """One matplotlib Figure, redrawn for each kernel state: plot.update(k); plot.png(); plot.svg()."""
    format = "png"

    def __init__(self, width=WIDTH, scale=1):
        """width: in CSS px (the PNG's width at scale 1); scale 2 draws a PNG twice as many pixels
        across for a HiDPI screen, to be shown at `width` CSS px (the same layout, the same text sizes)."""
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        super().__init__(width)
        self.dpi = DPI * scale
        self.fig = Figure(figsize=(width / DPI, 2), dpi=self.dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self._layout = None
        self._dynamic, self._slots = [], []
        self.header, self._pixels = None, None
        self._shape, self._notes = None, []
        self._empty = None

    # --- drawing ---------------------------------------------------------------------------------
    # The frame (title, legend, axes, ticks, group names) is drawn once per layout and kept as a
    # background; each update restores it and draws only the bars, counts, markers and words
    # (matplotlib's blitting on the Agg canvas): a refresh after an action costs a few ms.

    def draw(self, pic):
        key = pic.frame_key()
        if key != self._layout:
            self._layout = key
            self._draw_frame(pic)
        self.canvas.restore_region(self._background)
        self._fill(pic)
        for artist in self._dynamic:
            if artist.get_visible():
                artist.axes.draw_artist(artist) if artist.axes else self.fig.draw_artist(artist)

    def _header_pixels(self, pic):
        """The title and the legend in words, drawn once into `header` (a Figure of its own) and
        pasted into each new frame as pixels: a legend costs tens of ms to lay out."""
        if self._pixels is None:
            import numpy as np
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            from matplotlib.lines import Line2D
            from matplotlib.patches import Patch
            hf = self.header = Figure(figsize=(self.width / DPI, self.top / DPI), dpi=self.dpi)
            FigureCanvasAgg(hf)
            hf.text(6 / self.width, 1 - 15 / self.top, pic.title, fontsize=FONT + 1, fontweight="bold")
            segments = {key: (face, edge, hatch) for key, _, face, edge, hatch in SEGMENTS}
            handles = []
            for e in pic.legend:
                if e.swatch:
                    face, edge, hatch = segments[e.kind]
                    handles.append(Patch(facecolor=face, edgecolor=edge, hatch=hatch, label=e.words))
                else:
                    handles.append(Line2D([], [], marker=MARKERS[e.kind][0], color=MARKER_COLORS[e.kind],
                                          linestyle="none", markersize=8, label=e.words))
            hf.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, 1 - 20 / self.top), ncol=pic.ncol,
                      fontsize=FONT, frameon=False, handlelength=1.4 if self.wide else 1.1, handletextpad=0.4,
                      columnspacing=0.8 if self.wide else 0.6,
                      borderaxespad=0.2, labelspacing=0.25)
            hf.canvas.draw()
            self._pixels = np.asarray(hf.canvas.buffer_rgba()).copy()
        return self._pixels

    def _draw_frame(self, pic):
        """The parts that change seldom: sizes, axes, ticks, group names, notes. The axes and their
        artists are made again only when the number of panels changes (making axes and ticks costs)."""
        panels, fig = pic.panels, self.fig
        height = self.height = pic.height
        if self._shape != len(panels):
            self._shape = len(panels)
            self._make_axes(pic)
        fig.set_size_inches(self.width / DPI, height / DPI)

        def y(px):                                    # a distance from the top, in px -> figure fraction
            return 1 - px / height

        def x(px):
            return px / self.width
        self._image.oy = round((height - self.top) * self.dpi / DPI)
        self._where.set_position((1 - x(8), y(15)))
        for j, slot in enumerate(self._slots):
            left, top, right, bottom = pic.axes_box(j)
            ax = slot["ax"]
            ax.set_position((x(left), y(bottom), x(right - left), AXES / height))
            if j >= len(panels):
                continue
            p = panels[j]
            slot["peak"] = p.peak
            ax.set_xlim(*pic.xlim)
            ax.set_ylim(*p.ylim)
            ax.set_yticks(p.yticks)
            if j == len(panels) - 1:
                ax.set_xticks(pic.xticks)
            slot["cursor"].set_height(p.ylim[1])
            slot["label"].set_position((x(6), y(top - 5)))
            slot["label"].set_text(p.name)
            slot["words"].set_position((x(6 + 7.7 * len(p.name) + 8), y(top - 5)))   # bold 12 px: ~7.7 px a letter
        if not panels and self._empty is not None:
            self._empty.set_text(pic.empty)
        for t in self._notes:
            t.remove()
        base = self.top + PANEL * max(1, len(panels)) + BOTTOM
        self._notes = [fig.text(x(6), y(base + NOTE * j + 12), line.text, fontsize=FONT,
                                color=COLORS["warm"] if line.warm else COLORS["text"])
                       for j, line in enumerate(pic.notes)]
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(fig.bbox)

    def _make_axes(self, pic):
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Rectangle
        n, fig = len(pic.panels), self.fig
        fig.clear()
        self._notes = []
        dyn = self._dynamic = []
        self._image = fig.figimage(self._header_pixels(pic), xo=0, yo=0, origin="upper")
        self._where = fig.text(0, 0, "", fontsize=FONT + 1, ha="right", animated=True)
        dyn.append(self._where)
        self._slots = []
        for j in range(max(1, n)):
            ax = fig.add_axes((0, 0, 1, 1))
            if n == 0:
                ax.set_axis_off()
                self._empty = ax.text(0.5, 0.5, "", ha="center", va="center", fontsize=FONT, color=COLORS["quiet"],
                                      transform=ax.transAxes)
                self._slots.append({"ax": ax})
                continue
            ax.tick_params(labelsize=FONT, length=3, pad=1)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            if j == n - 1:
                ax.set_xlabel(pic.xlabel, fontsize=FONT, labelpad=1)
            else:
                ax.set_xticks([])
            slot = {"ax": ax, "peak": 1}
            slot["label"] = fig.text(0, 0, "", fontsize=FONT + 1, fontweight="bold", va="bottom")
            slot["cursor"] = ax.add_patch(Rectangle((0, 0), 1, 1, color=COLORS["cursor"], alpha=0.3, linewidth=0,
                                                    zorder=0, animated=True))
            slot["bars"] = [ax.add_collection(PolyCollection([], facecolors=face, edgecolors=edge, hatch=hatch,
                                                             linewidths=1, animated=True))
                            for _, _, face, edge, hatch in SEGMENTS]
            slot["counts"] = [ax.text(0, 0, "", ha="center", va="bottom", fontsize=FONT, animated=True)
                              for _ in range(LABELS)]
            slot["marks"] = {kind: ax.plot([], [], marker=m, linestyle="none", color=MARKER_COLORS[kind],
                                           markersize=7, clip_on=False, animated=True)[0]
                             for kind, (m, _) in MARKERS.items()}
            slot["words"] = fig.text(0, 0, "", fontsize=FONT, va="bottom", animated=True)
            dyn += [slot["cursor"], *slot["bars"], *slot["counts"], *slot["marks"].values(), slot["words"]]
            self._slots.append(slot)

    def _fill(self, pic):
        from .plot_model import BAR
        self._where.set_text(pic.where)
        segments = [key for key, *_ in SEGMENTS]
        for slot, p in zip(self._slots, pic.panels):
            cursor = slot["cursor"]
            cursor.set_visible(p.cursor is not None)
            cursor.set_x((p.cursor or 0) - 0.5)
            verts = {key: [] for key in segments}
            for bar in p.bars:
                for key, b, h in bar.parts:
                    verts[key].append([(bar.step - BAR, b), (bar.step + BAR, b), (bar.step + BAR, b + h),
                                       (bar.step - BAR, b + h)])
            for coll, key in zip(slot["bars"], segments):
                coll.set_verts(verts[key])
            for t, c in zip(slot["counts"], p.counts):
                t.set_position((c.step, c.y))
                t.set_text(c.text)
                t.set_color(COLORS["warm"] if c.doubled else COLORS["text"])
                t.set_fontweight("bold" if c.doubled else "normal")
                t.set_visible(True)
            for t in slot["counts"][len(p.counts):]:
                t.set_visible(False)
            for kind, line in slot["marks"].items():
                ms = [m for m in p.marks if m.kind == kind]
                line.set_data([m.x for m in ms], [m.y for m in ms])
            slot["words"].set_text(p.words)
            slot["words"].set_color(COLORS["warm"] if p.leak else COLORS["text"])
            slot["words"].set_fontweight("bold" if p.leak else "normal")

    # --- output ----------------------------------------------------------------------------------

    def png(self):
        """The current picture as PNG bytes (fast compression: redrawn on every action)."""
        from PIL import Image
        w, h = self.canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    image = png

    def svg(self):
        for a in self._dynamic:
            a.set_animated(False)
        try:
            buf = io.StringIO()
            self.fig.savefig(buf, format="svg")
            return buf.getvalue()
        finally:
            for a in self._dynamic:
                a.set_animated(True)
            self._layout = None            # the full draw disturbed the kept background
