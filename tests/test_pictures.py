"""issue 14, the pictures: honest highlights (only what the step shown changed; a refusal marks
its obstacle instead), pending work drawn, and a fixed scale with no text below 11 CSS px."""
import re
import shutil

import pytest

from iommulab import Kernel
from iommulab.builder import MachineBuilder
from iommulab.shell import lines, timeline_for
from iommulab.viz.graph import MIN_FONT_PX, PURPLE, fixed_scale, graph, node_id, pipe_svg
from iommulab.viz.model import build

GPU, AUDIO = "0000:01:00.0", "0000:01:00.1"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def lab_kernel():
    k = Kernel.from_scenario("desktop-gpu")
    tl = timeline_for(k)
    build(k, timeline=tl)                      # the first picture, as the Lab draws it
    return k, tl


def run(k, tl, script):
    r = k.sh(script)
    return r, build(k, timeline=tl)


def vm_holds_gpu():
    k, tl = lab_kernel()
    for line in (f"echo vfio-pci > /sys/bus/pci/devices/{GPU}/driver_override",
                 f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind", f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind",
                 f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind", lines.qemu([GPU], "legacy VFIO", memory="4G")):
        assert run(k, tl, line)[0].status == 0, line
    return k, tl


def min_text_px(svg):
    """The smallest <text> of an SVG as drawn at 100 % zoom, in CSS px: font-size (user units) times
    the px per user unit (width in px over the viewBox width) times the graph's own scale()."""
    tag = svg[svg.index("<svg"):svg.index(">", svg.index("<svg"))]
    width = re.search(r'width="([\d.]+)px"', tag)
    assert width, f"the SVG's width is not in px: {tag}"
    view = [float(x) for x in re.search(r'viewBox="([^"]+)"', tag).group(1).split()]
    scale = re.search(r'transform="scale\(([\d.]+)', svg)
    per_unit = float(width.group(1)) / view[2] * (float(scale.group(1)) if scale else 1.0)
    sizes = [float(x) for x in re.findall(r'<text[^>]*font-size="([\d.]+)"', svg)]
    assert sizes
    return min(sizes) * per_unit


def cluster(src, n):
    """The DOT text of group n's cluster (to its first device line)."""
    i = src.index(f"subgraph cluster_g{n} ")
    return src[i:src.index("}", i)]


def statement(src, ident):
    """One node's DOT statement, its label's lines included (statements start on a tab)."""
    i = re.search(rf"\n\t+{re.escape(ident)} \[", src).start()
    return src[i:src.index("\n\t", i + 1)]


def node_line(src, name):
    return statement(src, node_id(name))


def thirty_devices():
    b = MachineBuilder()
    for _ in range(7):
        port = b.add("root-port")[0]
        b.add("nvme", parent=port)
        b.add("gpu", parent=b.add("root-port")[0])
    return b


# --- readable at any size ---------------------------------------------------------------------------

@needs_dot
def test_the_lab_picture_keeps_a_fixed_scale_and_no_text_is_below_11_px():
    from iommulab import Lab
    lab = Lab(Kernel.from_scenario("desktop-gpu"))
    svg = lab.graph.value
    assert min_text_px(svg) >= MIN_FONT_PX
    lab.sh(f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")     # a longer title: the same scale
    assert min_text_px(lab.graph.value) >= MIN_FONT_PX


@needs_dot
def test_a_30_device_machine_and_the_builder_keep_11_px():
    b = thirty_devices()
    assert len(b.kernel.devices) >= 30
    assert min_text_px(pipe_svg(graph(b.kernel, threshold=10_000))) >= MIN_FONT_PX
    from iommulab.widgets.builder import Builder
    w = Builder()
    for _ in range(4):
        w.add("gpu", w.add("root-port")[0])
    w.add("nvme", w.add("root-port")[0])
    assert len(w.machine.kernel.devices) >= 14
    assert min_text_px(w.graph.value) >= MIN_FONT_PX


def test_fixed_scale_sets_px_from_points_and_keeps_px():
    svg = '<?xml?>\n<svg width="300pt" height="120pt" viewBox="0.00 0.00 300.40 120.00">\n<g/></svg>'
    out = fixed_scale(svg, scale=1.5)             # from the viewBox: dot rounds width and height down
    assert 'width="451px" height="180px"' in out and 'viewBox="0.00 0.00 300.40 120.00"' in out
    assert fixed_scale(out, scale=1.5) == out


# --- honest highlights ---------------------------------------------------------------------------------

def test_an_unbind_highlights_that_device_and_its_group_only():
    k, tl = lab_kernel()
    _, m = run(k, tl, f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    assert m.step == 1 and m.changed_groups == {1} and m.changed_devices == {AUDIO}
    assert m.changes[1] == ["owner_cnt 2 → 1"] and not m.obstacles and not m.refused
    src = graph(m).source
    assert PURPLE in cluster(src, 1) and "owner_cnt 2 → 1" in cluster(src, 1)
    assert "▶ " + AUDIO in src and "▶ " + GPU not in src
    assert src.count("▶") == 2                               # the group's label and the device's
    assert all(PURPLE not in cluster(src, n) for n in k.iommu_groups if n != 1)


def test_a_read_only_command_keeps_the_step_and_its_highlight():
    k, tl = lab_kernel()
    run(k, tl, f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    _, m = run(k, tl, "ls /sys/bus/pci/devices")
    assert m.step == 1 and m.changed_devices == {AUDIO} and not m.refused


def test_a_refused_bind_marks_nothing_changed_and_marks_the_obstacle():
    k, tl = vm_holds_gpu()
    r, m = run(k, tl, f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind")
    assert r.status != 0
    assert not (m.changed_groups or m.changed_devices or m.changed_processes or m.changed_edges)
    assert m.refused.startswith(f"echo {AUDIO}") and "EBUSY" in m.refusal
    assert 1 in m.obstacle_groups and set(m.obstacle_processes) == {p.pid for p in m.processes}
    src = graph(m).source
    assert "▶" not in src and "changed at step" not in src
    assert "blocks: " in cluster(src, 1) and "nothing changed" in src
    proc = statement(src, f"proc_{m.processes[0].pid}")
    assert "blocks: holds group 1" in proc and "peripheries=2" in proc


def test_a_vm_refused_marks_the_kernel_dma_device_that_blocks():
    k, tl = lab_kernel()
    for line in (f"echo vfio-pci > /sys/bus/pci/devices/{GPU}/driver_override",
                 f"echo {GPU} > /sys/bus/pci/drivers/nouveau/unbind", f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind"):
        run(k, tl, line)
    _, m = run(k, tl, lines.qemu([GPU], "legacy VFIO", memory="4G"))
    assert not m.changed_groups and not m.changed_devices
    assert set(m.obstacles) == {AUDIO} and "snd_hda_intel, a kernel DMA driver" in m.obstacles[AUDIO]
    line = node_line(graph(m).source, AUDIO)
    words = " ".join(line.split())                          # the label wraps: compare its words
    assert "✖ " + AUDIO in line and "blocks: bound to snd_hda_intel" in words and "dashed" in line
    assert "▶" not in graph(m).source
    _, again = run(k, tl, lines.qemu([GPU], "legacy VFIO", memory="4G"))       # a second click: refused again
    assert set(again.obstacles) == {AUDIO} and again.refused.count("qemu") == 1
    _, after = run(k, tl, "true")                                   # a line that did not fail: no obstacle left
    assert not after.obstacles and not after.refused


def test_every_refused_line_of_a_cell_marks_its_obstacle():
    k, tl = vm_holds_gpu()
    _, m = run(k, tl, f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/bind\n"
                      f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind")
    assert m.refused.count("echo") == 2 and 1 in m.obstacle_groups


def test_a_group_that_lost_a_device_is_highlighted():
    k, tl = lab_kernel()
    _, m = run(k, tl, f"echo 1 > /sys/bus/pci/devices/{AUDIO}/remove")
    assert m.changed_groups == {1} and m.lost == {1: [AUDIO]} and f"{AUDIO} is gone" in m.gone
    block = cluster(graph(m).source, 1)
    assert PURPLE in block and f"lost {AUDIO}" in block


def test_the_picture_of_a_past_step_highlights_that_step():
    k, tl = lab_kernel()
    run(k, tl, f"echo {AUDIO} > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    run(k, tl, "echo 0000:00:1f.6 > /sys/bus/pci/drivers/e1000e/unbind")
    tl.go(1)
    m = build(k, timeline=tl)
    assert m.step == 1 and m.changed_devices == {AUDIO}
    tl.undo()                                   # takes step 1 back: the booted machine, nothing changed
    m = build(k, timeline=tl)
    assert m.step == 0 and not m.changed_devices and not m.changed_groups


def test_without_a_timeline_the_picture_diffs_against_the_last_picture():
    k = Kernel.from_scenario("desktop-gpu")
    build(k)
    k.write("/sys/bus/pci/drivers/snd_hda_intel/unbind", AUDIO)
    m = build(k)
    assert m.changed_devices == {AUDIO} and m.changed_groups == {1} and m.changes[1] == ["owner_cnt 2 → 1"]


# --- pending work ---------------------------------------------------------------------------------------

def test_a_blocked_unbind_is_drawn_waiting_and_its_completion_is_announced():
    k, tl = vm_holds_gpu()
    pid = k.state()["processes"] and next(iter(k.state()["processes"]))
    r, m = run(k, tl, f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/unbind")
    assert r.status == 0 and len(m.pending) == 1
    w = m.pending[0]
    assert (w.device, w.holders, w.new) == (GPU, [pid], True)
    src = graph(m).source
    pend = statement(src, "pending_0")
    assert "waiting" in pend and f"waiting for process {pid}" in pend and f"close {GPU}" in pend
    assert f"pending_0 -> proc_{pid}" in src and f"pending_0 -> {node_id(GPU)}" in src
    _, m = run(k, tl, "ls")                                    # the same step: still waiting, still new
    assert len(m.pending) == 1 and m.pending[0].new and m.step == 6
    _, m = run(k, tl, "kill %1")
    assert m.pending == [] and [w.path for w in m.completed] == ["/sys/bus/pci/drivers/vfio-pci/unbind"]
    src = graph(m).source
    assert "waiting" not in src and "completed at step" in src
    _, m = run(k, tl, "true")
    assert m.completed == [] or m.step == tl.position        # announced in the completion's own step
    tl.undo()                                                  # the kill taken back: waiting again
    m = build(k, timeline=tl)
    assert len(m.pending) == 1 and "waiting" in graph(m).source


def test_a_write_queued_behind_a_blocked_one_waits_for_it():
    k, tl = vm_holds_gpu()
    run(k, tl, f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/unbind")
    _, m = run(k, tl, f"echo {GPU} > /sys/bus/pci/drivers/vfio-pci/bind")
    assert [w.behind for w in m.pending] == [None, 0]
    src = graph(m).source
    assert "pending_1 -> pending_0" in src and "device lock" in src
    _, m = run(k, tl, "kill %1")
    assert m.pending == [] and len(m.completed) == 2


# --- the Builder ------------------------------------------------------------------------------------------

@needs_dot
def test_the_builder_picture_counts_its_edits_and_highlights_the_last_one():
    from iommulab.widgets.builder import Builder
    w = Builder()
    assert "step 0" in w.graph.value
    port = w.add("root-port")[0]
    assert "step 1" in w.graph.value and "added " + port in w.graph.value
    names = w.add("nvme", port)
    svg = w.graph.value
    assert "step 2" in svg and f"▶ {names[0]}" in svg and f"▶ {port}" not in svg


def test_a_change_from_python_behind_the_timeline_still_shows_what_changed():
    k, tl = lab_kernel()
    k.write("/sys/bus/pci/drivers/snd_hda_intel/unbind", AUDIO)     # no shell line: the timeline has not looked
    m = build(k, timeline=tl)
    assert m.changed_devices == {AUDIO} and m.last_action.startswith("outside the shell")
