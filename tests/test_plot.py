"""The owner_cnt plot (issue 14): one panel per group that changed, bars stacked from what the count
is made of, markers in words, a fixed size with text of 11 px or more. Sample PNGs go to
test-artifacts/plot-*.png (look at them)."""
import pathlib
import struct

from matplotlib.collections import PolyCollection
from matplotlib.text import Text

from iommulab import Kernel

from conftest import leak_story
from iommulab.shell import timeline_for
from iommulab.viz.plot import FONT, MAX_PANELS, SEGMENTS, WIDTH, OwnerCntPlot, composition

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
