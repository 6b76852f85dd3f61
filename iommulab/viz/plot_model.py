"""owner_cnt over time, as plain data: what the plot says, apart from how it is drawn.

One small panel per IOMMU group that changed, one bar per timeline step (the numbering of the Lab's
slider, undo and picture), each bar stacked from what the count is made of — kernel DMA drivers
bound, a user-space claim, a leaked count — with event markers in words above it ("driver bound",
"claimed by user space", "released", "WARN") and notes under it (a bind counted twice, groups not
drawn, the kernel before 5.19 that keeps no count).

`Reader.build(k)` (plot_reader.py: the timeline read step by step, from the public surface only)
gives the data (`plot.data`), `picture()` turns it into a `Picture`: every text,
bar, marker position, axis range and tick the plot shows, in the data's units (steps, counts) and
the layout's px. Two drawers draw the same Picture: matplotlib (plot.py) and plain SVG text
(plot_svg.py, for a Python without matplotlib: Pyodide). This module imports no third-party package."""
import textwrap
from dataclasses import dataclass

from .graph import BLACK, BLUE, GREY, SKY, VERMILLION, YELLOW
from .plot_reader import WINDOW, Reader

MARKERS = {"bind": ("^", "driver bound"), "unbind": ("v", "driver unbound"),
           "claim": ("s", "claimed by user space"), "release": ("D", "released"), "warn": ("X", "WARN")}
MARKER_COLORS = {"bind": BLUE, "unbind": BLUE, "claim": VERMILLION, "release": VERMILLION, "warn": BLACK}
# what an owner_cnt is made of: (key, words, face, edge, hatch)
SEGMENTS = (("kernel", "kernel DMA driver", BLUE, BLUE, ""),
            ("user", "user-space claim", "#F3C4A6", VERMILLION, "///"),
            ("leaked", "leaked count", YELLOW, BLACK, "xx"))
COLORS = {"text": BLACK, "warm": VERMILLION, "quiet": GREY, "cursor": SKY}
LABELS = 7                     # count labels per panel at most (each text costs a draw on every refresh)
FONT = 11                      # px: the smallest text
WIDTH = 300                    # CSS px (the Lab's right column: ~316 px at 1280x720)
PANEL, AXES, BOTTOM, NOTE = 80, 56, 36, 16   # px
LEFT, RIGHT = 36, 12           # px between the figure's edges and the axes
BAR = 0.36                     # half a bar's width, in steps
MARK_ROW, Y_TOP = 1.72, 2.0    # the markers' row and the axis top, in multiples of a panel's peak
XLABEL = "timeline step (the slider's numbers)"
TITLE = "owner_cnt per IOMMU group"


def _words(cnt, kernel, user, leaked):
    """owner_cnt 2 = 1 kernel DMA driver + 1 leaked"""
    parts = []
    if kernel:
        parts.append(f"{kernel} kernel DMA driver{'s' if kernel != 1 else ''}")
    if user:
        parts.append(f"user space ({user} claim{'s' if user != 1 else ''})")
    if leaked:
        parts.append(f"{leaked} leaked")
    return f"owner_cnt {cnt}" + (" = " + " + ".join(parts) if parts else ": free")


# --- the picture: everything the plot shows ------------------------------------------------------

@dataclass(frozen=True)
class Legend:
    kind: str                  # a SEGMENTS key (a filled box) or a MARKERS key (a marker)
    words: str
    swatch: bool               # True: a segment's box; False: a marker


@dataclass(frozen=True)
class Bar:
    step: int
    parts: tuple               # ((segment key, bottom, height), ...) bottom up, the empty ones left out

    @property
    def total(self):
        return sum(h for _, _, h in self.parts)


@dataclass(frozen=True)
class Count:
    """A direct label: the count where it changed, above its bar."""
    step: int
    y: float                   # in counts (the bar's top and a little room)
    text: str
    doubled: bool              # one bind counted twice: drawn bold and warm


@dataclass(frozen=True)
class Mark:
    step: int
    x: float                   # in steps: markers of one step sit side by side around it
    y: float                   # in counts: the panel's marker row
    kind: str                  # a MARKERS key
    words: str


@dataclass(frozen=True)
class Panel:
    group: int
    name: str                  # "group 45"
    words: str                 # "owner_cnt 2 = 2 leaked"
    leak: bool                 # the words are warm and bold
    peak: int
    ylim: tuple
    yticks: tuple
    bars: tuple
    counts: tuple
    marks: tuple
    cursor: object             # the step shown, when it is in the window; else None


@dataclass(frozen=True)
class Line:
    text: str
    warm: bool


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    top: int                   # px above the first panel: title and legend
    ncol: int                  # legend columns (filled column by column)
    title: str
    where: str                 # "now: step 7", "step 2 of 7"
    legend: tuple
    xlim: tuple
    xticks: tuple
    xlabel: str
    panels: tuple
    empty: object              # the words in place of panels, or None
    notes: tuple               # Lines, wrapped to the width

    def frame_key(self):
        """What changes the frame (sizes, axes, ticks, group names, notes), not the bars."""
        return (self.notes, self.xlim, self.empty, tuple((p.group, p.peak) for p in self.panels))

    def axes_box(self, j):
        """Panel j's axes in px: (left, top, right, bottom)."""
        top = self.top + PANEL * j + (PANEL - AXES)
        return LEFT, top, self.width - RIGHT, top + AXES


LEGEND = tuple([Legend(key, words, True) for key, words, *_ in SEGMENTS]
               + [Legend(kind, words, False) for kind, (_, words) in MARKERS.items()])


def layout(width):
    """(wide, window, ncol, top) for a plot `width` px across."""
    wide = width >= 440        # room for a 3-column legend, 30 steps and the longer words
    ncol = 3 if wide else 2
    return wide, WINDOW if wide else 20, ncol, 30 + 15 * -(-len(LEGEND) // ncol) + 4


def notes_of(d, old, release):
    """(notes drawn under the panels, annotations: the notes and the leaks in words)."""
    notes = [f"step {i}: one bind, owner_cnt +2 in group {n}: the self-test probe counted twice"
             for n, i, _ in d["double"]]
    annotations = notes + d["leaks"]
    if old:                                 # nothing to count: the plot says why it stays empty
        notes.append(f"Linux {release} keeps no owner_cnt (it came with 5.19): VFIO walks each "
                     "group's drivers when asked")
    if d["hidden"]:
        notes.append("also changed, not drawn: " + ", ".join(f"group {n}" for n in d["hidden"][:6])
                     + (" …" if len(d["hidden"]) > 6 else ""))
    if d["unchanged"]:
        notes.append(f"{d['unchanged']} group{'s' if d['unchanged'] != 1 else ''} never changed (left out)")
    return notes, annotations + notes[len(d["double"]):]


def _panel(p, d, wide):
    peak, (start, end), pos = p["top"], d["steps"], d["position"]
    bars, labels, prev = [], [], None
    for step, *heights in p["bars"]:
        parts, b = [], 0
        for (key, *_), h in zip(SEGMENTS, heights):
            if h:
                parts.append((key, b, h))
            b += h
        bars.append(Bar(step, tuple(parts)))
        if b != prev:                          # direct labels: the count where it changed
            labels.append((step, b))
        prev = b
    labels = labels[:1] + labels[1:][-(LABELS - 1):]     # the first and the latest changes
    doubled = {i for i, _ in p["double"]}
    counts = tuple(Count(step, total + 0.08 * peak, f"{total} (+2)" if step in doubled else str(total),
                         step in doubled) for step, total in labels)
    by_step = {}
    for i, kind in p["marks"]:
        by_step.setdefault(i, []).append(kind)
    marks = tuple(Mark(i, i + (j - (len(kinds) - 1) / 2) * 0.45, peak * MARK_ROW, kind, MARKERS[kind][1])
                  for i, kinds in by_step.items() for j, kind in enumerate(kinds))
    leak = bool(p["now"][3])
    return Panel(p["group"], f"group {p['group']}",
                 _words(*p["now"]) + (" (nobody holds it)" if leak and wide else ""), leak,
                 peak, (0, peak * Y_TOP), tuple(sorted({0, peak})), tuple(bars), counts, marks,
                 pos if start <= pos <= end else None)


def picture(d, width=WIDTH, old=False, release=""):
    """The Picture of Reader.build's data `d` at `width` px; `old`: a kernel before 5.19 (no owner_cnt)."""
    wide, _, ncol, top = layout(width)
    notes, _ = notes_of(d, old, release)
    lines = tuple(Line(part, note.startswith("step")) for note in notes
                  for part in textwrap.wrap(note, int((width - 12) / 6.5)))
    panels = tuple(_panel(p, d, wide) for p in d["panels"])
    lo, hi = d["axis"]
    pos, last = d["position"], d["last"]
    empty = None if panels else ("no owner_cnt to draw before 5.19" if old else
                                 "no group's owner_cnt has changed yet:\nbind, unbind or claim a device")
    return Picture(width, top + PANEL * max(1, len(panels)) + BOTTOM + NOTE * len(lines), top, ncol, TITLE,
                   f"now: step {last}" if pos == last else f"step {pos} of {last}", LEGEND,
                   (lo - 0.6, hi + 0.6), tuple(range(lo, hi + 1, 1 if hi - lo < 12 else (2 if hi - lo < 24 else 5))),
                   XLABEL, panels, empty, lines)


class Plot:
    """What every drawer of the plot shares: plot.update(k) reads the kernel and draws it;
    plot.image() is the picture as bytes of `format` ("png", "svg+xml": an ipywidgets Image's
    format), plot.svg() as SVG text. After update, `data` holds what was read (steps, panels with
    their bars and markers, notes), `picture` what is drawn, `annotations` the notes in words."""
    format = ""

    def __init__(self, width=WIDTH):
        self.width = width
        self.wide, self.window, self.ncol, self.top = layout(width)
        self.reader = Reader(self.window)
        self.data = None
        self.picture = None
        self.annotations = []

    def build(self, k):
        """What the plot shows, as plain data (drawn by update)."""
        self.data = self.reader.build(k)
        return self.data

    def update(self, k):
        d = self.build(k)
        old, release = k.f.old_vfio_viability, k.f.release
        self.annotations = notes_of(d, old, release)[1]
        self.picture = picture(d, self.width, old, release)
        self.draw(self.picture)
        return self

    def draw(self, pic):
        raise NotImplementedError

    def image(self):
        raise NotImplementedError

    def svg(self):
        raise NotImplementedError
