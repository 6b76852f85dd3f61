"""owner_cnt over time: a step plot per group over event steps, with markers where drivers bind
and unbind, owners claim and release, and the kernel WARNs — read from the event history only.

OwnerCntPlot keeps one matplotlib Figure (no pyplot state) and redraws it in place."""
import io

from .graph import BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, BLACK

COLORS = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK, YELLOW)
STYLES = ("-", "--", "-.", ":")
MARKERS = {"bind": ("^", "driver bound"), "unbind": ("v", "driver unbound"),
           "claim": ("s", "claimed by user space"), "release": ("D", "released"), "warn": ("X", "WARNING")}
MAX_GROUPS = 8


def series(events):
    """{group: [(step, owner_cnt)]}: the value at the end of each step where it changed; plus
    {group: [(step, kind)]} markers and the steps where one bind counted twice."""
    values, points, marks, double = {}, {}, {}, []
    step_start = {}
    for ev in events:
        for n, cnt, *_ in ev.groups:
            if n not in values:
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


def _pick_groups(points, marks):
    changed = [n for n, pts in points.items() if len(pts) > 1 or marks.get(n)]
    rest = [n for n, pts in points.items() if n not in changed and pts[-1][1]]
    return (sorted(changed) + sorted(rest))[:MAX_GROUPS]


class OwnerCntPlot:
    """One Figure, redrawn for each kernel state: plot.update(k); plot.png(); plot.svg().

    Redraws are cheap: axes, ticks and legend are drawn once per change of scale or of the groups
    shown (then kept as a background); each update restores that background and draws only the
    lines, markers and notes (matplotlib's blitting, on the Agg canvas)."""

    def __init__(self, width=6.6, height=2.5, dpi=72):
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        self.fig = Figure(figsize=(width, height), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        ax = self.ax = self.fig.add_axes((0.08, 0.19, 0.60, 0.68))
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("owner_cnt", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.set_title("owner_cnt over time", fontsize=9)
        ax.yaxis.get_major_locator().set_params(integer=True)
        self.lines, self.labels = [], []
        for i in range(MAX_GROUPS):
            color, style = COLORS[i % len(COLORS)], STYLES[i % len(STYLES)]
            self.lines.append(ax.plot([], [], drawstyle="steps-post", color=color, linestyle=style,
                                      linewidth=2, animated=True)[0])
            self.labels.append(ax.text(0, 0, "", color=color, fontsize=8, va="center", animated=True))
        self.markers = {kind: ax.scatter([], [], marker=m, s=30, zorder=3, animated=True)
                        for kind, (m, _) in MARKERS.items()}
        self.notes = ax.text(0.99, 0.97, "", transform=ax.transAxes, ha="right", va="top", fontsize=7.5,
                             color=VERMILLION, fontweight="bold", animated=True,
                             bbox={"facecolor": "white", "edgecolor": VERMILLION, "alpha": 0.9, "boxstyle": "round"})
        self.double = ax.annotate("", (0, 0), xytext=(14, -34), textcoords="offset points", fontsize=7.5,
                                  color=VERMILLION, animated=True,
                                  arrowprops={"arrowstyle": "->", "color": VERMILLION})
        self._static = None
        self._background = None
        self.annotations = []

    def _dynamic(self):
        return self.lines + self.labels + list(self.markers.values()) + [self.notes, self.double]

    def _draw_static(self, shown, xmax, ymax):
        from matplotlib.lines import Line2D
        ax = self.ax
        ax.set_xlim(-0.3, xmax)
        ax.set_ylim(-0.2, ymax)
        handles = [Line2D([], [], color=COLORS[i % len(COLORS)], linestyle=STYLES[i % len(STYLES)], linewidth=2,
                          label=f"group {n}") for i, n in enumerate(shown)]
        handles += [Line2D([], [], marker=m, color=VERMILLION if kind == "warn" else "#555555", linestyle="none",
                           label=text) for kind, (m, text) in MARKERS.items()]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.08, 1.02), fontsize=7, frameon=False)
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def update(self, k):
        events = k.events
        points, marks, double = series(events)
        last = events[-1].step if events else 0
        shown = _pick_groups(points, marks)
        top = max([c for n in shown for _, c in points[n]] + [1])
        xmax, ymax = 10 * ((last + 12) // 10), top + 1.8
        if self._static != (tuple(shown), xmax, ymax):
            self._static = (tuple(shown), xmax, ymax)
            self._draw_static(shown, xmax, ymax)
        offsets = {kind: [] for kind in MARKERS}
        colors = {kind: [] for kind in MARKERS}
        label_rows = {}                          # labels of lines that end at the same value stack up
        for i, line in enumerate(self.lines):
            if i >= len(shown):
                line.set_data([], [])
                self.labels[i].set_text("")
                continue
            n = shown[i]
            pts = points[n]
            xs = [s for s, _ in pts] + [max(last, pts[-1][0]) + 0.5]
            ys = [c for _, c in pts] + [pts[-1][1]]
            line.set_data(xs, ys)
            row = label_rows.get(ys[-1], 0)
            label_rows[ys[-1]] = row + 1
            self.labels[i].set_position((xs[-1] + 0.15, ys[-1] + 0.3 * row))
            self.labels[i].set_text(f"group {n}")
            for step, kind in marks.get(n, ()):
                offsets[kind].append((step, _value_at(pts, step)))
                colors[kind].append(VERMILLION if kind == "warn" else COLORS[i % len(COLORS)])
        for kind, coll in self.markers.items():
            coll.set_offsets(offsets[kind] or [(float("nan"), float("nan"))])
            coll.set_color(colors[kind] or ["none"])
        self.annotations = []
        shown_double = [(n, step, cnt) for n, step, cnt in double if n in shown]
        if shown_double:
            n, step, cnt = shown_double[-1]
            text = f"one bind, owner_cnt +2 in group {n}:\nthe self-test probe counted twice"
            self.double.set_text(text)
            self.double.xy = (step, cnt)
            self.double.set_visible(True)
            self.annotations.append(text)
        else:
            self.double.set_visible(False)
        leaks = self._leaks(k, shown)
        self.notes.set_text("\n".join(leaks))
        self.notes.set_visible(bool(leaks))
        self.annotations += leaks
        self.canvas.restore_region(self._background)
        for artist in self._dynamic():
            if artist.get_visible():
                self.ax.draw_artist(artist)
        return self

    def _leaks(self, k, shown):
        """Where owner_cnt is above the kernel DMA drivers actually bound, say so."""
        st = k.state()
        lines = []
        for n in shown:
            g = st["groups"].get(n)
            if g is None or g["owner_ref"] is not None:
                continue
            bound = sum(1 for d in g["devices"] if st["devices"][d]["managed"] is False)
            if g["owner_cnt"] > bound:
                lines.append(f"group {n}: owner_cnt {g['owner_cnt']}, {bound} kernel DMA "
                             f"driver{'s' if bound != 1 else ''} bound: leaked")
        return lines

    def png(self):
        """The current picture as PNG bytes (fast compression: redrawn on every action)."""
        from PIL import Image
        w, h = self.canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    def svg(self):
        dynamic = self._dynamic()
        for a in dynamic:
            a.set_animated(False)
        try:
            buf = io.StringIO()
            self.fig.savefig(buf, format="svg")
            return buf.getvalue()
        finally:
            for a in dynamic:
                a.set_animated(True)
            self._static = None            # the full draw disturbed the cached background


def _value_at(pts, step):
    y = pts[0][1]
    for s, c in pts:
        if s > step:
            break
        y = c
    return y
