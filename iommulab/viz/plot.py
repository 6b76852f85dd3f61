"""owner_cnt over time, drawn for reading: one small panel per IOMMU group that changed, one bar
per timeline step (the numbering of the Lab's slider, undo and picture), each bar stacked from what
the count is made of — kernel DMA drivers bound, a user-space claim, a leaked count — with event
markers in words above it ("driver bound", "claimed by user space", "released", "WARN").

Read from the public surface only: the timeline's steps (`timeline_for(k).steps`, each Moment's
kernel snapshot and its events), `k.state()` at each step (groups' owner_cnt and owner, devices'
drivers and `managed`) and the typed events (op, result, marks), never the model's private state.

The PNG is drawn at the size the Lab shows it (300 px wide at 1 image px per CSS px; text is
11 px or larger: at 72 dpi a point is a pixel). OwnerCntPlot keeps one matplotlib Figure (no pyplot
state) and remembers each step's composition by the Moment it came from, so a refresh computes
only the step shown now (steps it never saw, e.g. the middle lines of a multi-line cell, are
read once inside `Timeline.excursion()`, which puts kernel and session back as they were)."""
import io
import textwrap

from .explain import kernel_dma_users
from .graph import BLACK, BLUE, GREY, SKY, VERMILLION, YELLOW

MARKERS = {"bind": ("^", "driver bound"), "unbind": ("v", "driver unbound"),
           "claim": ("s", "claimed by user space"), "release": ("D", "released"), "warn": ("X", "WARN")}
MARKER_COLORS = {"bind": BLUE, "unbind": BLUE, "claim": VERMILLION, "release": VERMILLION, "warn": BLACK}
# what an owner_cnt is made of: (key, words, face, edge, hatch)
SEGMENTS = (("kernel", "kernel DMA driver", BLUE, BLUE, ""),
            ("user", "user-space claim", "#F3C4A6", VERMILLION, "///"),
            ("leaked", "leaked count", YELLOW, BLACK, "xx"))
MAX_PANELS = 3                 # the plot stays short: the Lab's buttons sit under it
WINDOW = 30                    # timeline steps drawn at most (the ones around the step shown); 20 when narrow
LABELS = 7                     # count labels per panel at most (each text costs a draw on every refresh)
FONT = 11                      # px (= pt at 72 dpi): the smallest text
WIDTH, DPI = 300, 72           # CSS px (the Lab's right column: ~316 px at 1280x720); at 72 dpi 1 pt = 1 px
PANEL, AXES, BOTTOM, NOTE = 80, 56, 36, 16   # px


def series(events, initial=None):
    """{group: [(step, owner_cnt)]}: the value at the end of each event step where it changed; plus
    {group: [(step, kind)]} markers and the steps where one bind counted twice. `initial`: each
    group's owner_cnt before the first event (when the events are a slice of a longer history)."""
    values, points, marks, double = dict(initial or {}), {}, {}, []
    step_start = {}
    for ev in events:
        for n, cnt, *_ in ev.groups:
            if n not in points:
                points[n] = [(ev.step, cnt)]
            elif values[n] != cnt:
                pts = points[n]
                if pts[-1][0] == ev.step:
                    pts[-1] = (ev.step, cnt)
                else:
                    pts.append((ev.step, cnt))
            if ev.depth == 0 or (n, ev.step) not in step_start:
                step_start.setdefault((n, ev.step), values.get(n, cnt))
            values[n] = cnt
        kind = _marker_kind(ev)
        if kind:
            for n, *_ in ev.groups:
                if (ev.step, kind) not in marks.setdefault(n, []):
                    marks[n].append((ev.step, kind))
    for n, pts in points.items():
        for step, cnt in pts:
            start = step_start.get((n, step))
            if start is not None and cnt - start >= 2 and any(s == step and k == "bind" for s, k in marks.get(n, ())):
                double.append((n, step, cnt))
    return points, marks, double


def _marker_kind(ev):
    """From the event's typed kind and operation code (kernel/trace.py), never its name."""
    if ev.warned:
        return "warn"
    if ev.op == "probe" and ev.result == 0:
        return "bind"
    if ev.op == "release-driver":
        return "unbind"
    if ev.op == "claim" and ev.result == 0:
        return "claim"
    if ev.op == "release":
        return "release"
    return None


def composition(st):
    """{group: (owner_cnt, kernel, user, leaked)} from k.state(): with an owner (user space claimed
    the group) the whole count is its claim; without one, each kernel DMA driver bound (`managed`
    False) holds one, and what is left over nobody holds: leaked."""
    out = {}
    for n, g in st["groups"].items():
        cnt = g["owner_cnt"]
        if g["owner_ref"] is not None:
            out[n] = (cnt, 0, cnt, 0)
        else:
            kernel = min(cnt, len(kernel_dma_users(st, n)))
            out[n] = (cnt, kernel, 0, cnt - kernel)
    return out


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


def _leaks(now, shown):
    """Where owner_cnt is above the kernel DMA drivers actually bound (and no user space owns the
    group), say so."""
    return [f"group {n}: owner_cnt {now[n][0]}, {now[n][1]} kernel DMA driver{'s' if now[n][1] != 1 else ''} "
            "bound: leaked" for n in shown if now[n][3]]


class OwnerCntPlot:
    """One Figure, redrawn for each kernel state: plot.update(k); plot.png(); plot.svg().
    After update, `data` holds what was drawn (steps, panels with their bars and markers, notes)
    and `annotations` the notes in words."""

    def __init__(self, width=WIDTH, scale=1):
        """width: in CSS px (the PNG's width at scale 1); scale 2 draws a PNG twice as many pixels
        across for a HiDPI screen, to be shown at `width` CSS px (the same layout, the same text sizes)."""
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        self.width, self.dpi = width, DPI * scale
        self.wide = width >= 440       # room for a 3-column legend, 30 steps and the longer words
        self.window = WINDOW if self.wide else 20
        self.ncol = 3 if self.wide else 2
        self.top = 30 + 15 * -(-(len(SEGMENTS) + len(MARKERS)) // self.ncol) + 4
        self.fig = Figure(figsize=(width / DPI, 2), dpi=self.dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self._cache = {}               # Moment serial -> (Moment, composition): the serial stays when amended
        self._events = {}              # (serial before, serial, events) -> a step's markers and double counts
        self._members = {}             # group -> its devices, as last read
        self.data = None
        self.annotations = []
        self._layout = None
        self._dynamic, self._slots = [], []
        self.header, self._pixels = None, None
        self._shape, self._notes = None, []
        self._empty, self._old = None, False

    # --- the data: one composition per timeline step ---------------------------------------------

    def _history(self, k):
        from ..shell import timeline_for
        tl = timeline_for(k)
        steps, pos = tl.steps, tl.position
        comps, missing = [None] * len(steps), []
        for i, m in enumerate(steps):
            hit = self._cache.get(m.serial)
            if i == pos:                   # the step shown is the machine now (even after a k.write from Python)
                comps[i] = self._now(k, steps, pos)
            elif hit is not None:          # a Moment amended keeps its serial and its state
                comps[i] = hit[1]
            else:
                missing.append(i)
        if missing:                    # steps never seen (a multi-line cell; a plot made late): look back
            with tl.excursion():
                for i in missing:
                    tl.restore(steps[i])
                    comps[i] = self._full(k)
        deltas = []                    # per step: the groups whose composition differs from the step before
        for i, (m, c) in enumerate(zip(steps, comps)):
            hit = self._cache.get(m.serial)
            if hit is not None and i != pos and hit[2] is not None:
                deltas.append(hit[2])
            else:
                before = comps[i - 1] if i else c
                deltas.append({n for n, v in c.items() if before.get(n) != v} | (set(before) - set(c)))
        self._cache = {m.serial: (m, c, dl) for m, c, dl in zip(steps, comps, deltas)}
        return steps, pos, comps, deltas

    def _full(self, k):
        st = k.state()
        self._members = {n: g["devices"] for n, g in st["groups"].items()}
        return composition(st)

    def _now(self, k, steps, pos):
        """The composition now: the step before's, with the groups that this step's events touched
        read again (every change of a group is a traced event naming it: a 2,000-device host reads
        a few groups, not all of them)."""
        hit = self._cache.get(steps[pos - 1].serial) if pos else None
        if hit is None or len(hit[1]) != len(k.iommu_groups):
            return self._full(k)
        groups, devices = set(), set()
        for ev in k.events[len(steps[pos - 1].kernel.events):]:
            groups.update(g[0] for g in ev.groups)
            devices.update(v for kind, v in ev.refs if kind == "device")
        if not groups and not devices:
            return hit[1]
        for n in groups:
            if not self._members.get(n):
                return self._full(k)
            devices.add(self._members[n][0])
        st = k.state(devices=devices)
        if not set(st["groups"]) >= groups:
            return self._full(k)
        self._members.update((n, g["devices"]) for n, g in st["groups"].items())
        return {**hit[1], **composition(st)}

    def build(self, k):
        """What the plot shows, as plain data (drawn by update)."""
        steps, pos, comps, deltas = self._history(k)
        last = len(steps) - 1
        marks, double, seen = {}, [], {}
        for i in range(1, len(steps)):
            step_marks, step_double = self._step_events(steps, i, comps[i - 1], seen)
            for n, kinds in step_marks.items():
                marks.setdefault(n, []).extend((i, kind) for kind in kinds)
            double += [(n, i, cnt) for n, cnt in step_double]
        self._events = seen                     # the steps of the timeline now: the rest is forgotten
        now = comps[pos]
        leaked_now = {n for n, c in now.items() if c[3]}
        last_change = {n: 0 for n in leaked_now}
        for i, delta in enumerate(deltas):
            for n in delta:
                last_change[n] = i
        for n, ms in marks.items():
            last_change[n] = max([last_change.get(n, 0)] + [i for i, _ in ms])
        changed = [n for n in last_change if n in now]
        drawn = sorted(sorted(changed, key=lambda n: (-last_change[n], n))[:MAX_PANELS])
        hidden = sorted(set(changed) - set(drawn))
        window = self.window
        end = last if pos > last - window // 2 else min(last, pos + window // 2)
        hi = max(9, end // 5 * 5 + 5)                   # the axis grows by fives: most refreshes keep it
        lo = max(0, hi - window + 1)
        start = lo
        panels = []
        for n in drawn:
            bars = [(i, *(comps[i].get(n) or (0, 0, 0, 0))[1:]) for i in range(start, end + 1)]
            peak = max([sum(b[1:]) for b in bars] + [1])
            panels.append({"group": n, "bars": bars, "now": now.get(n, (0, 0, 0, 0)), "top": peak,
                           "marks": [(i, kind) for i, kind in marks.get(n, ()) if start <= i <= end],
                           "double": [(i, cnt) for g, i, cnt in double if g == n and start <= i <= end]})
        self.data = {"position": pos, "last": last, "steps": (start, end), "axis": (lo, hi), "panels": panels,
                     "hidden": hidden,
                     "unchanged": len(now) - len(changed), "leaks": _leaks(now, drawn),
                     "double": [(n, i, cnt) for n, i, cnt in double if n in drawn]}
        return self.data

    def _step_events(self, steps, i, before, seen):
        """What timeline step i's own events show: {group: [marker kinds]} and [(group, owner_cnt)]
        where one bind counted twice; read once per step (by the serials of the step and the one
        before it), so a refresh reads only the newest step's events, not the whole history."""
        key = (steps[i - 1].serial, steps[i].serial, len(steps[i].kernel.events))
        hit = self._events.get(key)
        if hit is None:
            events = steps[i].kernel.events[len(steps[i - 1].kernel.events):]
            _, by_step, double = series(events, initial={n: c[0] for n, c in before.items()})
            marks = {}
            for n, ms in by_step.items():
                for _, kind in ms:
                    if kind not in marks.setdefault(n, []):
                        marks[n].append(kind)
            hit = (marks, [(n, cnt) for n, _, cnt in double])
        seen[key] = hit
        return hit

    # --- drawing ---------------------------------------------------------------------------------
    # The frame (title, legend, axes, ticks, group names) is drawn once per layout and kept as a
    # background; each update restores it and draws only the bars, counts, markers and words
    # (matplotlib's blitting on the Agg canvas): a refresh after an action costs a few ms.

    def update(self, k):
        d = self.build(k)
        panels = d["panels"]
        notes = [f"step {i}: one bind, owner_cnt +2 in group {n}: the self-test probe counted twice"
                 for n, i, _ in d["double"]]
        self.annotations = notes + d["leaks"]
        self._old = k.f.old_vfio_viability
        if self._old:                           # nothing to count: the plot says why it stays empty
            notes.append(f"Linux {k.f.release} keeps no owner_cnt (it came with 5.19): VFIO walks each "
                         "group's drivers when asked")
        if d["hidden"]:
            notes.append("also changed, not drawn: " + ", ".join(f"group {n}" for n in d["hidden"][:6])
                         + (" …" if len(d["hidden"]) > 6 else ""))
        if d["unchanged"]:
            notes.append(f"{d['unchanged']} group{'s' if d['unchanged'] != 1 else ''} never changed (left out)")
        self.annotations += notes[len(d["double"]):]
        key = (tuple(notes), d["axis"], tuple((p["group"], p["top"]) for p in panels))
        if key != self._layout:
            self._layout = key
            self._draw_frame(d, notes)
        self.canvas.restore_region(self._background)
        self._fill(d)
        for artist in self._dynamic:
            if artist.get_visible():
                artist.axes.draw_artist(artist) if artist.axes else self.fig.draw_artist(artist)
        return self

    def _header_pixels(self):
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
            hf.text(6 / self.width, 1 - 15 / self.top, "owner_cnt per IOMMU group", fontsize=FONT + 1,
                    fontweight="bold")
            handles = [Patch(facecolor=face, edgecolor=edge, hatch=hatch, label=words)
                       for _, words, face, edge, hatch in SEGMENTS]
            handles += [Line2D([], [], marker=m, color=MARKER_COLORS[kind], linestyle="none", markersize=8, label=w)
                        for kind, (m, w) in MARKERS.items()]
            hf.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, 1 - 20 / self.top), ncol=self.ncol,
                      fontsize=FONT, frameon=False, handlelength=1.4 if self.wide else 1.1, handletextpad=0.4,
                      columnspacing=0.8 if self.wide else 0.6,
                      borderaxespad=0.2, labelspacing=0.25)
            hf.canvas.draw()
            self._pixels = np.asarray(hf.canvas.buffer_rgba()).copy()
        return self._pixels

    def _draw_frame(self, d, notes):
        """The parts that change seldom: sizes, axes, ticks, group names, notes. The axes and their
        artists are made again only when the number of panels changes (making axes and ticks costs)."""
        panels, fig = d["panels"], self.fig
        lines = [(part, note.startswith("step")) for note in notes
                 for part in textwrap.wrap(note, int((self.width - 12) / 6.5))]
        height = self.top + PANEL * max(1, len(panels)) + BOTTOM + NOTE * len(lines)
        self.height = height
        if self._shape != len(panels):
            self._shape = len(panels)
            self._make_axes(len(panels))
        fig.set_size_inches(self.width / DPI, height / DPI)

        def y(px):                                    # a distance from the top, in px -> figure fraction
            return 1 - px / height

        def x(px):
            return px / self.width
        self._image.oy = round((height - self.top) * self.dpi / DPI)
        self._where.set_position((1 - x(8), y(15)))
        lo, hi = d["axis"]
        left, right = x(36), 1 - x(12)
        for j, slot in enumerate(self._slots):
            top = self.top + PANEL * j + (PANEL - AXES)
            ax = slot["ax"]
            ax.set_position((left, y(top + AXES), right - left, AXES / height))
            if j >= len(panels):
                continue
            p = panels[j]
            slot["peak"] = peak = p["top"]
            ax.set_xlim(lo - 0.6, hi + 0.6)
            ax.set_ylim(0, peak * 2.0)
            ax.set_yticks(sorted({0, peak}))
            if j == len(panels) - 1:
                ax.set_xticks(range(lo, hi + 1, 1 if hi - lo < 12 else (2 if hi - lo < 24 else 5)))
            slot["cursor"].set_height(peak * 2.0)
            name = f"group {p['group']}"
            slot["label"].set_position((x(6), y(top - 5)))
            slot["label"].set_text(name)
            slot["words"].set_position((x(6 + 7.7 * len(name) + 8), y(top - 5)))   # bold 12 px: ~7.7 px a letter
        if not panels and getattr(self, "_empty", None) is not None:
            self._empty.set_text("no owner_cnt to draw before 5.19" if self._old else
                                 "no group's owner_cnt has changed yet:\nbind, unbind or claim a device")
        for t in self._notes:
            t.remove()
        base = self.top + PANEL * max(1, len(panels)) + BOTTOM
        self._notes = [fig.text(x(6), y(base + NOTE * j + 12), part, fontsize=FONT,
                                color=VERMILLION if warm else BLACK) for j, (part, warm) in enumerate(lines)]
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(fig.bbox)

    def _make_axes(self, n):
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Rectangle
        fig = self.fig
        fig.clear()
        self._notes = []
        dyn = self._dynamic = []
        self._image = fig.figimage(self._header_pixels(), xo=0, yo=0, origin="upper")
        self._where = fig.text(0, 0, "", fontsize=FONT + 1, ha="right", animated=True)
        dyn.append(self._where)
        self._slots = []
        for j in range(max(1, n)):
            ax = fig.add_axes((0, 0, 1, 1))
            if n == 0:
                ax.set_axis_off()
                self._empty = ax.text(0.5, 0.5, "", ha="center", va="center", fontsize=FONT, color=GREY,
                                      transform=ax.transAxes)
                self._slots.append({"ax": ax})
                continue
            ax.tick_params(labelsize=FONT, length=3, pad=1)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            if j == n - 1:
                ax.set_xlabel("timeline step (the slider's numbers)", fontsize=FONT, labelpad=1)
            else:
                ax.set_xticks([])
            slot = {"ax": ax, "peak": 1}
            slot["label"] = fig.text(0, 0, "", fontsize=FONT + 1, fontweight="bold", va="bottom")
            slot["cursor"] = ax.add_patch(Rectangle((0, 0), 1, 1, color=SKY, alpha=0.3, linewidth=0, zorder=0,
                                                    animated=True))
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

    def _fill(self, d):
        pos, last = d["position"], d["last"]
        self._where.set_text(f"now: step {last}" if pos == last else f"step {pos} of {last}")
        for slot, p in zip(self._slots, d["panels"]):
            peak = slot["peak"]
            cursor = slot["cursor"]
            cursor.set_visible(d["steps"][0] <= pos <= d["steps"][1])
            cursor.set_x(pos - 0.5)
            verts = [[] for _ in SEGMENTS]
            totals = []
            for step, *parts in p["bars"]:
                b = 0
                for s, h in enumerate(parts):
                    if h:
                        verts[s].append([(step - 0.36, b), (step + 0.36, b), (step + 0.36, b + h),
                                         (step - 0.36, b + h)])
                    b += h
                totals.append((step, b))
            for coll, v in zip(slot["bars"], verts):
                coll.set_verts(v)
            labels, prev = [], None
            for step, total in totals:             # direct labels: the count where it changed
                if total != prev:
                    labels.append((step, total))
                prev = total
            labels = labels[:1] + labels[1:][-(LABELS - 1):]     # the first and the latest changes
            doubled = {i for i, _ in p["double"]}
            for t, (step, total) in zip(slot["counts"], labels):
                t.set_position((step, total + 0.08 * peak))
                t.set_text(f"{total} (+2)" if step in doubled else str(total))   # one bind counted twice
                t.set_color(VERMILLION if step in doubled else BLACK)
                t.set_fontweight("bold" if step in doubled else "normal")
                t.set_visible(True)
            for t in slot["counts"][len(labels):]:
                t.set_visible(False)
            row = peak * 1.72
            by_step = {}
            for i, kind in p["marks"]:
                by_step.setdefault(i, []).append(kind)
            xs = {kind: [] for kind in MARKERS}
            for i, kinds in by_step.items():
                for j, kind in enumerate(kinds):
                    xs[kind].append(i + (j - (len(kinds) - 1) / 2) * 0.45)
            for kind, line in slot["marks"].items():
                line.set_data(xs[kind], [row] * len(xs[kind]))
            leak = p["now"][3]
            slot["words"].set_text(_words(*p["now"]) + (" (nobody holds it)" if leak and self.wide else ""))
            slot["words"].set_color(VERMILLION if leak else BLACK)
            slot["words"].set_fontweight("bold" if leak else "normal")

    # --- output ----------------------------------------------------------------------------------

    def png(self):
        """The current picture as PNG bytes (fast compression: redrawn on every action)."""
        from PIL import Image
        w, h = self.canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

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
