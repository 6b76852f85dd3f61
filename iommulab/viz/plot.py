"""owner_cnt over time: a step plot per group over event steps, with markers where drivers bind
and unbind, owners claim and release, and the kernel WARNs — read from the event history only.

OwnerCntPlot keeps one matplotlib Figure (no pyplot state) and redraws it in place."""
import io

from .graph import BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, BLACK

COLORS = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK, YELLOW)
STYLES = ("-", "--", "-.", ":")
MARKERS = {"bind": ("^", "driver bound"), "unbind": ("v", "driver unbound"),
           "claim": ("s", "claimed by user space"), "release": ("D", "released"), "warn": ("X", "WARNING")}
_CLAIM = ("iommu_group_claim_dma_owner", "iommu_device_claim_dma_owner")
_RELEASE = ("iommu_group_release_dma_owner", "iommu_device_release_dma_owner")
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
    if ev.note and "WARN" in ev.note:
        return "warn"
    if ev.func == "really_probe" and ev.result == 0:
        return "bind"
    if ev.func == "device_release_driver":
        return "unbind"
    if ev.func in _CLAIM and ev.result == 0:
        return "claim"
    if ev.func in _RELEASE:
        return "release"
    return None


def _pick_groups(points, marks):
    changed = [n for n, pts in points.items() if len(pts) > 1 or marks.get(n)]
    rest = [n for n, pts in points.items() if n not in changed and pts[-1][1]]
    return (sorted(changed) + sorted(rest))[:MAX_GROUPS]


class OwnerCntPlot:
    """One Figure, redrawn for each kernel state: plot.update(k); plot.png(); plot.svg()."""

    def __init__(self, width=7.0, height=2.8, dpi=80):
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        self.fig = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.07, 0.17, 0.64, 0.70))
        self.annotations = []

    def update(self, k):
        ax = self.ax
        ax.cla()
        events = k.events
        points, marks, double = series(events)
        last = events[-1].step if events else 0
        shown = _pick_groups(points, marks)
        self.annotations = []
        for i, n in enumerate(shown):
            pts = points[n]
            xs = [s for s, _ in pts] + [max(last, pts[-1][0]) + 0.5]
            ys = [c for _, c in pts] + [pts[-1][1]]
            color, style = COLORS[i % len(COLORS)], STYLES[(i // len(COLORS) + i) % len(STYLES)]
            ax.step(xs, ys, where="post", color=color, linestyle=style, linewidth=2, label=f"group {n}")
            ax.annotate(f"group {n}", (xs[-1], ys[-1]), xytext=(3, 0), textcoords="offset points",
                        color=color, fontsize=8, va="center")
            for step, kind in marks.get(n, ()):
                y = _value_at(pts, step)
                m, _ = MARKERS[kind]
                ax.plot([step], [y], marker=m, color=VERMILLION if kind == "warn" else color,
                        markersize=8 if kind == "warn" else 6, linestyle="none")
        for n, step, cnt in double:
            if n in shown:
                text = f"one bind, owner_cnt +2 in group {n}:\nthe self-test probe counted twice"
                ax.annotate(text, (step, cnt), xytext=(14, -34), textcoords="offset points", fontsize=7.5,
                            color=VERMILLION, arrowprops={"arrowstyle": "->", "color": VERMILLION})
                self.annotations.append(text)
        self._leaks(k, shown, points)
        for kind, (m, text) in MARKERS.items():
            ax.plot([], [], marker=m, color=VERMILLION if kind == "warn" else "#555555", linestyle="none", label=text)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("owner_cnt", fontsize=8)
        ax.set_xlim(-0.3, max(last, 1) + 1.5)
        top = max([c for n in shown for _, c in points[n]] + [1])
        ax.set_ylim(-0.2, top + 1.6)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.set_title("owner_cnt over time", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.1, 1.02), fontsize=7, frameon=False)
        return self

    def _leaks(self, k, shown, points):
        """Where owner_cnt is above the kernel DMA drivers actually bound, say so at the end."""
        st = k.state()
        lines = []
        for n in shown:
            g = st["groups"].get(n)
            if g is None or g["owner"] != "NULL":
                continue
            bound = sum(1 for d in g["devices"] if st["devices"][d]["managed"] is False)
            if g["owner_cnt"] > bound:
                text = f"group {n}: owner_cnt {g['owner_cnt']}, {bound} kernel DMA driver{'s' if bound != 1 else ''} bound: leaked"
                lines.append(text)
                self.annotations.append(text)
        if lines:
            self.ax.text(0.99, 0.97, "\n".join(lines), transform=self.ax.transAxes, ha="right", va="top",
                         fontsize=7.5, color=VERMILLION, fontweight="bold",
                         bbox={"facecolor": "white", "edgecolor": VERMILLION, "alpha": 0.9, "boxstyle": "round"})

    def png(self):
        buf = io.BytesIO()
        self.fig.canvas.print_png(buf)
        return buf.getvalue()

    def svg(self):
        buf = io.StringIO()
        self.fig.savefig(buf, format="svg")
        return buf.getvalue()


def _value_at(pts, step):
    y = pts[0][1]
    for s, c in pts:
        if s > step:
            break
        y = c
    return y
