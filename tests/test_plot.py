"""The owner_cnt plot (issue 14): one panel per group that changed, bars stacked from what the count
is made of, markers in words, a fixed size with text of 11 px or more. Sample PNGs go to
test-artifacts/plot-*.png (look at them). Issue 18: the same model drawn as SVG where matplotlib is
missing; both drawings are read back (SVG elements, the Figure's artists) and must show the same,
sample SVGs in test-artifacts/plot-*.svg."""
import pathlib
import re
import struct
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.text import Text

from iommulab import Kernel

from conftest import leak_story
from iommulab.shell import timeline_for
from iommulab.viz.plot import FONT, MARKERS, MAX_PANELS, SEGMENTS, WIDTH, OwnerCntPlot, composition, new_plot
from iommulab.viz.plot_svg import SvgPlot

ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "test-artifacts"
GPU, AUDIO = "0000:01:00.0", "0000:01:00.1"
QUICK_START = [f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind",
               f"echo {GPU} > /sys/bus/pci/devices/{GPU}/driver/unbind",
               f"echo vfio-pci > /sys/bus/pci/devices/{GPU}/driver_override",
               f"echo vfio-pci > /sys/bus/pci/devices/{AUDIO}/driver_override",
               f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind",
               f"echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/bind",
               f"qemu-system-x86_64 -device vfio-pci,host={GPU} -device vfio-pci,host={AUDIO} &"]


def save(plot, name):
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"plot-{name}.png").write_bytes(plot.png())


def png_size(data):
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def text_px(plot):
    """The size in px, at 1 image px per CSS px, of every text drawn (titles, legend, ticks, labels)."""
    sizes = {}
    for fig in (plot.header, plot.fig):                      # the title and legend are drawn once, apart
        for t in fig.findobj(Text):
            if t.get_visible() and t.get_text().strip():
                sizes[t.get_text()] = min(sizes.get(t.get_text(), 99), t.get_fontsize() * fig.dpi / 72)
    return sizes


def quick_start():
    """desktop-gpu as the quick start drives it, the plot redrawn after each action as the Lab does."""
    k = Kernel.from_scenario("desktop-gpu")
    plot = OwnerCntPlot().update(k)
    for line in QUICK_START:
        k.sh(line)
        plot.update(k)
    return k, plot


def test_the_png_is_drawn_at_the_size_the_lab_shows_it_and_no_text_is_below_11_px():
    k, plot = quick_start()
    png = plot.png()
    w, h = png_size(png)
    assert (w, h) == plot.canvas.get_width_height() and w == WIDTH == 300   # the Lab's column at 1280x720
    assert 150 < h < 720                                        # one panel fits a 1280x720 column with room
    sizes = text_px(plot)
    assert "owner_cnt per IOMMU group" in sizes and "group 1" in sizes and "driver bound" in sizes
    assert "timeline step (the slider's numbers)" in sizes and "0" in sizes   # the tick labels are counted
    small = {t: px for t, px in sizes.items() if px < FONT}
    assert FONT >= 11 and not small, small
    save(plot, "quickstart")


def test_text_stays_readable_with_many_panels_and_notes():
    k = leak_story()
    plot = OwnerCntPlot().update(k)
    assert not {t: px for t, px in text_px(plot).items() if px < 11}
    assert any("counted twice" in a for a in plot.annotations)
    assert "group 45: owner_cnt 2, 0 kernel DMA drivers bound: leaked" in plot.annotations
    save(plot, "leak")


def test_a_kernel_driver_count_and_a_user_claim_are_drawn_differently():
    k, plot = quick_start()
    (panel,) = plot.data["panels"]
    bars = {step: parts for step, *parts in panel["bars"]}
    assert bars[0] == [2, 0, 0]                  # booted: GPU and audio drivers, two kernel DMA drivers
    assert bars[7] == [0, 1, 0]                  # QEMU claimed the group: owner_cnt 1, a user-space claim
    assert panel["now"] == (1, 0, 1, 0) and "owner_cnt 1 = user space (1 claim)" in text_px(plot)
    # the same owner_cnt 1 from a kernel driver looks different: its own segment, colour and hatching
    k.sh("kill %1")
    k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/unbind")
    k.sh(f"echo > /sys/bus/pci/devices/{AUDIO}/driver_override")
    k.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind")
    plot.update(k)
    (panel,) = plot.data["panels"]
    assert panel["now"] == (1, 1, 0, 0) and "owner_cnt 1 = 1 kernel DMA driver" in text_px(plot)
    colls = [c for c in plot.fig.axes[0].collections if isinstance(c, PolyCollection)]
    kernel, user = colls[0], colls[1]
    assert len(kernel.get_paths()) >= 2 and len(user.get_paths()) == 1      # steps 0, 1, the last; step 7
    assert tuple(kernel.get_facecolor()[0]) != tuple(user.get_facecolor()[0])
    assert kernel.get_hatch() != user.get_hatch()
    legend = [t.get_text() for t in plot.header.legends[0].get_texts()]
    assert [words for _, words, *_ in SEGMENTS] == legend[:3]
    assert {"driver bound", "driver unbound", "claimed by user space", "released", "WARN"} <= set(legend)
    save(plot, "kernel-then-user")


def test_composition_reads_the_owner_and_the_kernel_dma_drivers():
    k = Kernel.from_scenario("desktop-gpu")
    assert composition(k.state())[1] == (2, 2, 0, 0)
    k.sh(QUICK_START[0] + "\n" + QUICK_START[1])
    assert composition(k.state())[1] == (0, 0, 0, 0)
    leak = composition(leak_story().state())[45]
    assert leak == (2, 0, 0, 2)                  # vfio-pci bound (managed), yet owner_cnt 2: leaked


def test_equal_counts_of_two_groups_do_not_lie_on_one_line():
    k = Kernel.from_scenario("desktop-gpu")
    plot = OwnerCntPlot().update(k)
    for dev in ("0000:00:1f.3", "0000:00:1f.6"):              # groups 4 and 5: both 1 -> 0, step by step
        k.sh(f"echo {dev} > /sys/bus/pci/devices/{dev}/driver/unbind")
        plot.update(k)
    panels = plot.data["panels"]
    assert [p["group"] for p in panels] == [4, 5]
    assert [p["now"] for p in panels] == [(0, 0, 0, 0), (0, 0, 0, 0)]
    boxes = [ax.get_position() for ax in plot.fig.axes]
    assert len(boxes) == 2 and boxes[0].y0 >= boxes[1].y1               # one panel each, one above the other
    sizes = text_px(plot)
    assert "group 4" in sizes and "group 5" in sizes
    save(plot, "equal-counts")


def test_groups_that_never_changed_are_left_out_and_counted():
    k, plot = quick_start()
    assert [p["group"] for p in plot.data["panels"]] == [1]
    assert plot.data["unchanged"] == len(k.iommu_groups) - 1
    assert f"{len(k.iommu_groups) - 1} groups never changed (left out)" in plot.annotations


def test_more_changed_groups_than_panels_are_named_not_drawn():
    k = Kernel.from_scenario("desktop-gpu")
    boot = composition(k.state())
    plot = OwnerCntPlot().update(k)
    for dev in ("0000:00:14.0", "0000:00:1f.3", "0000:00:1f.6", AUDIO):       # groups 2, 4, 5, 1: 1 -> 0
        k.sh(f"echo {dev} > /sys/bus/pci/devices/{dev}/driver/unbind")
        plot.update(k)
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:00:1f.0/driver_override\n"
         "echo 0000:00:1f.0 > /sys/bus/pci/drivers/vfio-pci/bind")              # group 3: a bind, owner_cnt 0
    plot.update(k)
    now = composition(k.state())
    assert {n for n in now if now[n] != boot[n]} == {1, 2, 4, 5} and k.state()["devices"]["0000:00:1f.0"]["driver"]
    drawn, hidden = [p["group"] for p in plot.data["panels"]], plot.data["hidden"]
    assert len(drawn) == MAX_PANELS and set(drawn) | set(hidden) == {1, 2, 3, 4, 5}
    assert drawn == sorted(drawn) and 3 in drawn and 1 in drawn  # the most recent changes are drawn
    assert "also changed, not drawn: " + ", ".join(f"group {n}" for n in hidden) in plot.annotations
    assert not {t: px for t, px in text_px(plot).items() if px < 11}
    save(plot, "many-groups")


def test_steps_are_the_timeline_steps_and_the_past_is_marked():
    k, plot = quick_start()
    tl = timeline_for(k)
    assert plot.data["last"] == len(tl.steps) - 1 == len(QUICK_START)
    k.sh("ls /sys/bus/pci/devices")                              # read-only: no step, the same plot
    plot.update(k)
    assert plot.data["last"] == len(QUICK_START)
    (panel,) = plot.data["panels"]
    marks = dict(panel["marks"])
    assert marks[1] == "unbind" and marks[5] == "bind" and marks[7] == "claim"
    before = [p["bars"] for p in plot.data["panels"]]
    now_png = plot.png()
    tl.go(2)
    plot.update(k)
    assert plot.data["position"] == 2 and "step 2 of 7" in text_px(plot)
    assert [p["bars"] for p in plot.data["panels"]] == before      # the whole timeline, the step shown marked
    assert plot.png() != now_png
    assert plot.data["panels"][0]["now"] == (0, 0, 0, 0)
    save(plot, "past")
    tl.now()


def test_a_multi_line_cell_gets_every_step_and_leaves_the_machine_as_it_was():
    k = Kernel.from_scenario("desktop-gpu")
    plot = OwnerCntPlot().update(k)
    k.sh("\n".join(QUICK_START))                                  # several steps, the plot sees only the end
    tl = timeline_for(k)
    state, steps, position = k.state(), list(tl.steps), tl.position
    plot.update(k)
    assert k.state() == state and tl.steps == steps and tl.position == position
    bars = {step: parts for step, *parts in plot.data["panels"][0]["bars"]}
    assert bars[1] == [1, 0, 0] and bars[2] == [0, 0, 0] and bars[7] == [0, 1, 0]


def test_a_machine_where_nothing_changed_says_so():
    k = Kernel.from_scenario("desktop-gpu")
    plot = OwnerCntPlot().update(k)
    assert plot.data["panels"] == [] and "no group's owner_cnt has changed yet" in " ".join(text_px(plot))
    assert not {t: px for t, px in text_px(plot).items() if px < 11}
    save(plot, "boot")


def test_svg_then_png_redraws_in_place():
    k, plot = quick_start()
    assert "<svg" in plot.svg()
    plot.update(k)
    assert png_size(plot.png())[0] == WIDTH


def test_a_hidpi_plot_has_twice_the_pixels_and_the_same_layout():
    k, plot = quick_start()
    sharp = OwnerCntPlot(scale=2).update(k)
    w, h = png_size(plot.png())
    assert png_size(sharp.png()) == (2 * w, 2 * h)
    for a, b in ((sharp.fig, plot.fig), (sharp.header, plot.header)):
        assert {t.get_text(): t.get_fontsize() for t in a.findobj(Text)} == \
            {t.get_text(): t.get_fontsize() for t in b.findobj(Text)}


def test_step_by_step_reading_agrees_with_reading_every_step_afresh():
    k, plot = quick_start()                                      # read as the Lab does: only what each step touched
    for line in ("kill %1", f"echo {AUDIO} > /sys/bus/pci/drivers/vfio-pci/unbind",
                 f"echo > /sys/bus/pci/devices/{AUDIO}/driver_override", "echo 1 > /sys/bus/pci/rescan"):
        k.sh(line)
        plot.update(k)
    fresh = OwnerCntPlot().update(k)                             # every step read whole, by going back to it
    assert plot.data == fresh.data and plot.annotations == fresh.annotations


# --- one model, two drawers (issue 18: the plot where matplotlib is missing) ----------------------

def _fit(pairs):
    """The line through (px, value) pairs: px -> value (ticks give the drawing's own scale)."""
    (p0, v0), (p1, v1) = pairs[0], pairs[-1]
    return lambda p: v0 + (p - p0) * (v1 - v0) / (p1 - p0)


def _num(s):
    return float(s) if "." in s else int(s)


def read_svg(text):
    """What an SVG of SvgPlot shows, read back from its elements and their px positions alone:
    {"texts", "panels": {group: {bars: {step: [kernel, user, leaked]}, marks, counts, words, warm}}}."""
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(text)
    texts = {t.strip() for el in root.iter() if el.tag in (ns + "text", ns + "tspan")
             for t in [el.text or ""] if t.strip()}
    sizes = {float(el.get("font-size", root.get("font-size"))) for el in root.iter() if el.tag in (ns + "text", ns + "tspan")}
    groups = root.findall(f"{ns}g[@class='panel']")
    xticks = sorted((float(t.get("x")), int(t.text)) for g in groups for t in g.findall(f"{ns}text[@class='xtick']"))
    step_of = _fit(xticks) if len(xticks) > 1 else None
    panels = {}
    for g in groups:
        marks = sorted(_path_y(p) for p in g.findall(f"{ns}path[@class='tick y']"))
        labels = sorted((float(t.get("y")), int(t.text)) for t in g.findall(f"{ns}text[@class='ytick']"))
        value_of = _fit([(y, v) for y, (_, v) in zip(marks, labels)])
        bars = {}
        for r in g.findall(f"{ns}rect"):
            cls = r.get("class").split()
            if cls[0] != "bar":
                continue
            x, w, y, h = (float(r.get(a)) for a in ("x", "width", "y", "height"))
            step = step_of(x + w / 2)
            assert abs(step - round(step)) < 0.01
            bars.setdefault(round(step), []).append((cls[1], round(value_of(y + h), 2), round(value_of(y), 2)))
        ms = []
        for p in g.findall(f"{ns}path"):
            if p.get("class", "").startswith("mark "):
                x, y = (float(v) for v in re.match(r"translate\(([-\d.]+),([-\d.]+)\)", p.get("transform")).groups())
                ms.append((round(step_of(x), 3), round(value_of(y), 2), p.get("class").split()[1]))
        counts = {round(step_of(float(t.get("x")))): (t.text, t.get("font-weight") == "bold")
                  for t in g.findall(f"{ns}text[@class='count']")}
        name, words = g.find(f"{ns}text/{ns}tspan[@class='name']"), g.find(f"{ns}text/{ns}tspan[@class='words']")
        panels[int(name.text.split()[1])] = {"bars": bars, "marks": sorted(ms), "counts": counts,
                                             "words": words.text, "warm": words.get("font-weight") == "bold"}
    return {"texts": texts, "panels": _stacked(panels), "sizes": sizes,
            "size": (int(root.get("width")), int(root.get("height")))}


def _path_y(p):
    return float(re.match(r"M[-\d.]+,([-\d.]+)", p.get("d")).group(1))


def read_mpl(plot):
    """The same, read from the matplotlib Figure's artists (in data units: the axes' own scale)."""
    symbols = {m: kind for kind, (m, _) in MARKERS.items()}
    texts = set(text_px(plot))
    panels, names = {}, {}
    for t in plot.fig.texts:                                 # group names and their words, side by side
        if t.get_visible() and t.get_text().startswith("group "):
            names[round(t.get_position()[1], 4)] = int(t.get_text().split()[1])
    words = {round(t.get_position()[1], 4): t for t in plot.fig.texts if t.get_text().startswith("owner_cnt")}
    for ax in plot.fig.axes:
        if not ax.axison:
            continue
        top = round(ax.get_position().y1, 4)
        group = next(n for y, n in names.items() if y > top and abs(y - top) < 0.2)
        bars = {}
        for (key, *_), coll in zip(SEGMENTS, (c for c in ax.collections if isinstance(c, PolyCollection))):
            for path in coll.get_paths():
                xs, ys = path.vertices[:, 0], path.vertices[:, 1]
                step = (xs.min() + xs.max()) / 2
                assert abs(step - round(step)) < 0.01
                bars.setdefault(round(step), []).append((key, round(float(ys.min()), 2), round(float(ys.max()), 2)))
        ms = sorted((round(float(x), 3), round(float(y), 2), symbols[line.get_marker()])
                    for line in ax.lines for x, y in zip(*line.get_data()))
        counts = {round(t.get_position()[0]): (t.get_text(), t.get_fontweight() == "bold")
                  for t in ax.texts if t.get_visible() and t.get_text()}
        w = next(t for y, t in words.items() if abs(y - next(y2 for y2, n in names.items() if n == group)) < 1e-3)
        panels[group] = {"bars": bars, "marks": ms, "counts": counts, "words": w.get_text(),
                         "warm": w.get_fontweight() == "bold"}
    return {"texts": texts, "panels": _stacked(panels)}


def _stacked(panels):
    """Each bar as [kernel, user, leaked] heights, after checking that its segments stack from 0."""
    for p in panels.values():
        for step, parts in p["bars"].items():
            parts.sort(key=lambda part: part[1])
            assert parts[0][1] == 0 and all(a[2] == b[1] for a, b in zip(parts, parts[1:])), parts
            p["bars"][step] = [sum(top - bottom for key, bottom, top in parts if key == s) for s, *_ in SEGMENTS]
    return panels


def both(k, width=WIDTH):
    return OwnerCntPlot(width).update(k), SvgPlot(width).update(k)


def shown(plot):
    """What the model says each panel shows, in the readers' terms."""
    return {p.group: {"bars": {b.step: [sum(h for key, _, h in b.parts if key == s) for s, *_ in SEGMENTS]
                               for b in p.bars if b.parts},
                      "marks": sorted((round(m.x, 3), round(m.y, 2), m.kind) for m in p.marks),
                      "counts": {c.step: (c.text, c.doubled) for c in p.counts},
                      "words": p.words, "warm": p.leak} for p in plot.picture.panels}


def save_svg(plot, name):
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"plot-{name}.svg").write_text(plot.svg())


def test_both_drawers_draw_the_same_model_of_the_quick_start():
    k, _ = quick_start()
    mpl, svg = both(k)
    assert mpl.picture == svg.picture and mpl.data == svg.data and mpl.annotations == svg.annotations
    drawn_svg, drawn_mpl = read_svg(svg.svg()), read_mpl(mpl)
    assert drawn_svg["panels"] == drawn_mpl["panels"] == shown(mpl)
    (group,) = drawn_svg["panels"]
    panel = drawn_svg["panels"][group]
    assert group == 1 and panel["bars"][0] == [2, 0, 0] and panel["bars"][1] == [1, 0, 0]     # two, then one driver
    assert panel["bars"][7] == [0, 1, 0] and 2 not in panel["bars"]                            # QEMU's claim; none
    assert [(round(x), kind) for x, _, kind in panel["marks"]] == \
        [(1, "unbind"), (2, "unbind"), (5, "bind"), (6, "bind"), (7, "claim")]
    assert panel["words"] == "owner_cnt 1 = user space (1 claim)" and not panel["warm"]
    assert panel["counts"] == {0: ("2", False), 1: ("1", False), 2: ("0", False), 7: ("1", False)}
    assert drawn_svg["texts"] == drawn_mpl["texts"]          # titles, legend, ticks, axis label, notes
    assert {"owner_cnt per IOMMU group", "now: step 7", "timeline step (the slider's numbers)",
            "5 groups never changed (left out)", "claimed by user space", "WARN"} <= drawn_svg["texts"]
    assert drawn_svg["size"] == (WIDTH, svg.picture.height) == mpl.canvas.get_width_height()
    assert min(drawn_svg["sizes"]) >= FONT
    save_svg(svg, "quickstart")


def test_both_drawers_show_the_leak_and_the_bind_counted_twice():
    mpl, svg = both(leak_story())
    drawn_svg, drawn_mpl = read_svg(svg.svg()), read_mpl(mpl)
    assert drawn_svg["panels"] == drawn_mpl["panels"] == shown(svg)
    panel = drawn_svg["panels"][45]
    assert panel["words"] == "owner_cnt 2 = 2 leaked" and panel["warm"]                 # nobody holds it
    assert panel["counts"][2] == ("3 (+2)", True) and panel["bars"][2] == [1, 0, 2]
    assert panel["bars"][5] == [0, 0, 2]
    assert drawn_svg["texts"] == drawn_mpl["texts"]
    assert "step 2: one bind, owner_cnt +2 in group 45:" in drawn_svg["texts"]
    save_svg(svg, "leak")


def test_both_drawers_say_a_kernel_before_5_19_has_no_owner_cnt():
    k = Kernel.from_scenario("pre-5.19-bug")
    for plots in (both(k), both(k, 480)):
        mpl, svg = plots
        drawn_svg, drawn_mpl = read_svg(svg.svg()), read_mpl(mpl)
        assert drawn_svg["panels"] == drawn_mpl["panels"] == {}
        assert drawn_svg["texts"] == drawn_mpl["texts"]
        assert "no owner_cnt to draw before 5.19" in drawn_svg["texts"]
        assert any(t.startswith("Linux 5.18 keeps no owner_cnt") for t in drawn_svg["texts"])
    save_svg(svg, "before-5.19")


def test_both_drawers_agree_with_several_panels_wide_and_in_the_past():
    k = Kernel.from_scenario("desktop-gpu")
    for dev in ("0000:00:14.0", "0000:00:1f.3", "0000:00:1f.6", AUDIO):
        k.sh(f"echo {dev} > /sys/bus/pci/devices/{dev}/driver/unbind")
    bind = f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind"
    k.sh(f"{bind}; echo {AUDIO} > /sys/bus/pci/devices/{AUDIO}/driver/unbind; {bind}")   # one step, two markers
    timeline_for(k).go(2)
    for width in (WIDTH, 480):
        mpl, svg = both(k, width)
        drawn_svg, drawn_mpl = read_svg(svg.svg()), read_mpl(mpl)
        assert drawn_svg["panels"] == drawn_mpl["panels"] == shown(mpl) and len(drawn_svg["panels"]) == MAX_PANELS
        assert drawn_svg["texts"] == drawn_mpl["texts"] and "step 2 of 5" in drawn_svg["texts"]
        assert "also changed, not drawn: group 2" in drawn_svg["texts"]      # the oldest change
        marks = [(x, kind) for x, _, kind in drawn_svg["panels"][1]["marks"]]
        assert marks == [(4, "unbind"), (4.775, "bind"), (5.225, "unbind")]     # side by side at step 5
    save_svg(svg, "many-groups-past-480")
    timeline_for(k).now()


def test_new_plot_draws_with_matplotlib_and_else_svg(monkeypatch):
    monkeypatch.delenv("IOMMULAB_PLOT", raising=False)
    assert type(new_plot()) is OwnerCntPlot and new_plot().format == "png"
    assert type(new_plot(drawer="svg")) is SvgPlot
    monkeypatch.setenv("IOMMULAB_PLOT", "svg")
    assert type(new_plot()) is SvgPlot and new_plot().format == "svg+xml"
    assert type(new_plot(drawer="matplotlib")) is OwnerCntPlot
    monkeypatch.setenv("IOMMULAB_PLOT", "gnuplot")
    with pytest.raises(ValueError, match="gnuplot"):
        new_plot()
    monkeypatch.delenv("IOMMULAB_PLOT")
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # as under Pyodide: no matplotlib
    assert type(new_plot()) is SvgPlot


def test_without_matplotlib_numpy_or_pillow_the_plot_is_svg_from_the_standard_library():
    code = textwrap.dedent("""
        import sys
        for name in ("matplotlib", "numpy", "PIL", "ipywidgets"):
            sys.modules[name] = None                            # what Pyodide's core does not have
        from iommulab import Kernel
        k = Kernel.from_scenario("desktop-gpu")
        k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")     # the shell's bashlex
        before = set(sys.modules)                                   # from here: the plot's own imports
        from iommulab.viz.plot import new_plot
        plot = new_plot()
        svg = plot.update(k).svg()
        assert type(plot).__name__ == "SvgPlot" and "group 1" in svg, svg[:200]
        tops = {m.split(".")[0] for m in set(sys.modules) - before if sys.modules[m] is not None}
        print(sorted(tops - set(sys.stdlib_module_names) - {"iommulab"}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ARTIFACTS.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"                            # nothing third-party came in


def test_the_lab_shows_the_svg_plot_and_its_static_copy(monkeypatch):
    import base64
    from iommulab import Lab
    monkeypatch.setenv("IOMMULAB_PLOT", "svg")
    lab = Lab(Kernel.from_scenario("desktop-gpu"))
    assert lab.plot_view.format == "svg+xml"
    boot = read_svg(bytes(lab.plot_view.value).decode())
    assert boot["panels"] == {} and "no group's owner_cnt has changed yet:" in boot["texts"]
    lab.device.value = AUDIO
    lab.unbind_b.click()                                        # through the Lab's own refresh
    after = read_svg(bytes(lab.plot_view.value).decode())
    assert after["panels"][1]["bars"] == {0: [2, 0, 0], 1: [1, 0, 0]} and "now: step 1" in after["texts"]
    assert [(round(x), kind) for x, _, kind in after["panels"][1]["marks"]] == [(1, "unbind")]
    html = lab._repr_mimebundle_()["text/html"]
    data = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)
    assert read_svg(base64.b64decode(data).decode())["panels"] == after["panels"]
