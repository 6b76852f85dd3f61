"""Views (issue: views): the DOT text and the view model, not pixels."""
import re
import shutil

import pytest

from iommulab import Kernel
from iommulab.kernel.iommu import iommu_attach_device_pasid, iommu_attach_group, iommu_paging_domain_alloc
from iommulab.viz import describe, dmesg_html, events_html, render_svg
from iommulab.viz.graph import BLUE, GREY, ORANGE, PURPLE, VERMILLION, graph, node_id
from iommulab.viz.model import build
from iommulab.viz.plot import OwnerCntPlot, series
from conftest import bind, dev, drv, leak_story, make, unbind


def cluster_block(src, n):
    m = re.search(r"subgraph cluster_g%d \{(.*?)\n\t\}" % n, src, re.S)
    assert m, f"no cluster for group {n}"
    return m.group(1)


ATTR = re.compile(r'\s*(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s\]"]+))')


def dot_attrs(src, pos):
    """The attributes of the DOT statement that starts at `pos` (a cluster's header, or what
    follows a node's `[`), read by their syntax: key=value or key="quoted value"."""
    out = {}
    while (m := ATTR.match(src, pos)):
        out[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
        pos = m.end()
    return out


def node_attrs(block, name):
    m = re.search(r"\n\t\t%s \[" % re.escape(node_id(name)), block)
    assert m, f"no node for {name}"
    return dot_attrs(block, m.end())


# What a group's owner label names, as the picture says it (owner tokens as the ground truth writes them)
OWNER_WORDS = {"vfio_group": "VFIO group {}", "container_file": "VFIO container C{}", "ictx": "iommufd context I{}"}


def expected_owner(g):
    """(kind, words) from the kernel's facts: who owns the group, or how many kernel drivers use it."""
    if g.owner is not None:
        kind, _, number = g.owner_label().partition(":")
        return "user", "user space (" + OWNER_WORDS[kind].format(number.lstrip("IC")) + ")"
    return ("kernel", "kernel DMA API") if g.owner_cnt else ("free", "free")


def expected_domain(g):
    kind, d = g.domain_kind(), g.domain
    return {None: "domain: none", "default": f"domain: {d.type} (default)" if d else "",
            "blocking": "domain: blocked (blocking domain)", "user": f"domain: user ({d.name})" if d else "",
            "private": f"domain: kernel driver's own ({d.name})" if d else ""}[kind]


def expected_driver_line(d):
    if d.driver is None:
        return "no driver"
    if d.driver.driver_managed_dma:
        return f"{d.driver.name}\n(manages DMA itself)"
    if not d.bus.dma_hooks:
        return f"{d.driver.name} (no DMA hooks: never counts)"
    return f"{d.driver.name} (kernel DMA)"


def check_picture(k):
    """Every group's cluster says what the kernel says (its own header: label, border colour and
    style, never a colour a device inside it carries); every device node shows its driver state."""
    src = graph(k, threshold=10_000).source
    for n, g in k.iommu_groups.items():
        block = cluster_block(src, n)
        head = dot_attrs(block, 0)
        label = head["label"]
        assert f"IOMMU group {n} " in label.split("\n")[0]
        assert expected_domain(g) in label.split("\n")
        if k.f.old_vfio_viability:          # before 5.19 there is no owner_cnt to show, and the picture says so
            assert "no owner_cnt before 5.19" in label and "owner_cnt" not in label.replace("no owner_cnt", "")
            kernel_drivers = any(d.driver is not None and not d.driver.driver_managed_dma for d in g.devices)
            kind = "user" if g.domain_kind() == "user" else "kernel" if kernel_drivers else "free"
            words = {"user": "in user space (VFIO)", "kernel": "kernel drivers bound",
                     "free": "no kernel driver bound"}[kind]
        else:
            kind, words = expected_owner(g)
            assert f"· owner_cnt {g.owner_cnt} · {words}\n" in label
        assert words in label
        colour = {"user": VERMILLION, "kernel": BLUE, "free": GREY}[kind]
        if label.startswith("▶ "):           # changed in the last step: reddish purple replaces the border colour
            colour = PURPLE
        elif label.startswith("✖ "):
            colour = ORANGE
        assert head["color"] == colour, (n, head)
        style = head["style"].split(",")
        assert ("bold" in style) == (kind == "user") and ("dashed" in style) == (kind == "free" or "✖" in label)
        nodes = set(re.findall(r"\n\t\t(dev_\w+) \[", block))
        assert nodes == {node_id(d.name) for d in g.devices}, n
        for d in g.devices:
            node = node_attrs(block, d.name)
            assert node["label"].removeprefix("▶ ").removeprefix("✖ ").split("\n")[0] == d.name
            assert expected_driver_line(d) in node["label"], (d.name, node["label"])
    return src


class Recorder:
    """Runs a ground-truth flow and checks the picture after every step."""

    def __init__(self, k):
        self.k, self.count = k, 0

    def __call__(self, fn, *args):
        try:
            out = fn(*args)
        except OSError:
            out = None
        check_picture(self.k)
        self.count += 1
        return out


def test_ground_truth_states_render_with_matching_labels():
    # S01/S02: kernel sibling, then both VFIO, container, type1, device fds, closes
    k = make("6.6", devices=[dev("0000:01:00.0", group=1), dev("0000:01:00.1", group=1)], drivers=[drv("snd_hda_intel")])
    r = Recorder(k)
    r(bind, k, "0000:01:00.1", "snd_hda_intel")
    r(bind, k, "0000:01:00.0", "vfio-pci")
    p = k.spawn("qemu")
    c, g = r(p.open, "/dev/vfio/vfio"), r(p.open, "/dev/vfio/1")
    r(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c)
    r(unbind, k, "0000:01:00.1")
    r(bind, k, "0000:01:00.1", "vfio-pci")
    r(p.ioctl, g, "VFIO_GROUP_SET_CONTAINER", c)
    r(p.ioctl, c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    fd = r(p.ioctl, g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    assert "device fd" in graph(k).source
    r(p.close, g)
    r(p.close, fd)
    # S09/S12: iommufd, cdevs, hwpt
    k2 = make("6.6", devices=[dev("0000:03:00.0", group=3, driver="vfio-pci"), dev("0000:03:00.1", group=3, driver="vfio-pci")])
    r2 = Recorder(k2)
    q = k2.spawn("qemu")
    i = r2(q.open, "/dev/iommu")
    d0, d1 = r2(q.open, "/dev/vfio/devices/vfio0"), r2(q.open, "/dev/vfio/devices/vfio1")
    r2(q.ioctl, d0, "VFIO_DEVICE_BIND_IOMMUFD", i)
    r2(q.ioctl, d1, "VFIO_DEVICE_BIND_IOMMUFD", i)
    ioas = r2(q.ioctl, i, "IOMMU_IOAS_ALLOC")
    r2(q.ioctl, d0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", ioas)
    assert "iommufd context I1" in graph(k2).source and "domain: user (hwpt" in graph(k2).source
    r2(q.exit)
    # S05 leak, S17 type store, S23 private domain, S25 PASIDs, S33 crash-free part
    k3 = Kernel.from_scenario("seed-001")
    r3 = Recorder(k3)
    r3(unbind, k3, "0000:03:00.1")
    r3(k3.write, "/sys/kernel/iommu_groups/45/type", "identity")
    a = k3.devices["0000:03:00.1"]
    dp = iommu_paging_domain_alloc(a, "Dp")
    r3(iommu_attach_group, dp, k3.iommu_groups[45])
    assert "kernel driver's own (Dp)" in graph(k3).source
    k4 = make("6.6", devices=[dev("0000:6a:00.0", group=50)], drivers=[drv("accel")])
    r4 = Recorder(k4)
    r4(bind, k4, "0000:6a:00.0", "accel")
    r4(iommu_attach_device_pasid, iommu_paging_domain_alloc(k4.devices["0000:6a:00.0"]), k4.devices["0000:6a:00.0"], 5)
    assert "PASIDs attached: 5" in graph(k4).source
    assert r.count + r2.count + r3.count + r4.count > 20


@pytest.mark.parametrize("name", ["desktop-gpu", "workstation-no-acs", "legacy-pci-bridge", "arm-soc-streamid",
                                  "nxp-dpaa2", "seed-004-type", "require-direct", "pre-5.19-bug"])
def test_every_small_library_machine_renders(name):
    check_picture(Kernel.from_scenario(name))


def test_highlight_follows_the_last_event():
    k = Kernel.from_scenario("desktop-gpu")
    assert PURPLE not in graph(k).source                       # just booted: nothing changed yet
    unbind(k, "0000:01:00.1")
    src = graph(k).source
    assert PURPLE in cluster_block(src, 1) and "changed at step 1" in cluster_block(src, 1)
    assert "▶ 0000:01:00.1" in src and "▶ 0000:01:00.0" not in src
    unbind(k, "0000:00:1f.6")
    src = graph(k).source
    assert PURPLE not in cluster_block(src, 1) and PURPLE in cluster_block(src, k.devices["0000:00:1f.6"].iommu_group.id)
    assert "▶ 0000:00:1f.6" in src and "▶ 0000:01:00.1" not in src


def test_ids_are_stable_between_actions():
    k = Kernel.from_scenario("desktop-gpu")

    def ids(src):
        return set(re.findall(r"(dev_\w+|cluster_g\d+)", src))
    before = ids(graph(k).source)
    unbind(k, "0000:01:00.1")
    assert ids(graph(k).source) == before


def test_encoding_is_never_colour_alone():
    k = Kernel.from_scenario("desktop-gpu")
    src = graph(k, legend=True).source
    assert "kernel DMA API" in src and "free" in src and GREY in src and BLUE in src
    assert "Legend" in src and "vermillion bold = user space" in src
    assert "shape=house" in src                                # bridges and ports have their own shape


def test_collapse_above_the_threshold_and_focus():
    k = Kernel.from_scenario("sriov-2000")
    src = graph(k).source
    assert "cluster_g" not in src                               # nothing owned or changed yet
    assert "1984 groups like this" in src and "drivers: iavf" in src
    assert src.count("shape=folder") < 10
    unbind(k, "0000:05:03.2")
    src = graph(k).source
    assert "cluster_g" in src and "▶ 0000:05:03.2" in src
    focused = graph(k, focus_device="0000:05:03.2").source
    assert node_id("0000:05:03.2") in focused and node_id("0000:05:00.0") not in focused
    assert "groups like this" in focused
    g = k.devices["0000:05:00.0"].iommu_group.id
    assert node_id("0000:05:00.0") in graph(k, focus_group=g).source
    small = Kernel.from_scenario("desktop-gpu")
    assert "shape=folder" in graph(small, threshold=3).source
    with pytest.raises(KeyError):
        graph(small, focus_group=99)


def test_svg_renders_with_dot():
    assert shutil.which("dot"), "scripts/test.sh installs Graphviz; the views need its dot"
    k = Kernel.from_scenario("desktop-gpu")
    svg, fallback = render_svg(k)
    assert fallback is None and svg.lstrip().startswith(("<?xml", "<svg")) and "IOMMU group 1" in svg


def test_refresh_gives_picture_and_plot_together():
    from iommulab.viz import refresh
    k = leak_story()
    svg, text, png = refresh(k, OwnerCntPlot())
    assert text is None and "<svg" in svg and png.startswith(b"\x89PNG")


def test_missing_dot_falls_back_to_text(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    k = Kernel.from_scenario("desktop-gpu")
    svg, text = render_svg(k)
    assert svg is None
    first, rest = text.split("\n", 1)
    assert "Graphviz's `dot` is not installed" in first and "apt-get install graphviz" in first
    assert "IOMMU group 1: owner_cnt 2, kernel DMA API" in rest




def test_plot_series_markers_and_the_leak():
    k = leak_story()
    points, marks, double = series(k.events)
    assert points[45] == [(0, 2), (1, 1), (2, 3), (3, 2)]
    assert [m for m in marks[45] if m[1] in ("bind", "unbind")] == [(1, "unbind"), (2, "bind"), (3, "unbind"),
                                                                    (5, "bind")]
    assert double == [(45, 2, 3)]
    plot = OwnerCntPlot().update(k)
    assert any("counted twice" in a for a in plot.annotations)
    assert "group 45: owner_cnt 2, 0 kernel DMA drivers bound: leaked" in plot.annotations
    assert plot.png().startswith(b"\x89PNG") and "<svg" in plot.svg()


def test_plot_on_a_fixed_kernel_has_no_leak_and_shows_claims():
    k = make("6.6", config={"CONFIG_DEBUG_TEST_DRIVER_REMOVE": True},
             devices=[dev("0000:03:00.1", id="8086:1533", group=45)], drivers=[drv("nic", ids=["8086:1533"])])
    unbind(k, "0000:03:00.1")
    bind(k, "0000:03:00.1", "vfio-pci")
    k.sh("qemu-system-x86_64 -device vfio-pci,host=0000:03:00.1 &")
    k.sh("kill %1")
    points, marks, double = series(k.events)
    assert double == [] and {kind for _, kind in marks[45]} >= {"unbind", "bind", "claim", "release"}
    plot = OwnerCntPlot().update(k)
    assert not any("leaked" in a for a in plot.annotations)
    plot.update(k)                                               # the same Figure redraws


def test_warn_markers():
    from iommulab.kernel.iommu import iommu_device_unuse_default_domain
    k = make("6.6", devices=[dev("0000:01:00.0", group=1)])
    iommu_device_unuse_default_domain(k.devices["0000:01:00.0"])
    assert series(k.events)[1][1] == [(1, "warn")]


def test_log_and_describe():
    k = leak_story()
    k.sh("qemu-system-x86_64 -device vfio-pci,host=0000:03:00.1")
    table = events_html(k)
    assert "VFIO_GROUP_GET_STATUS" in table and "group 45: owner_cnt 2" in table
    k.write("/sys/bus/pci/devices/0000:03:00.1/driver_override", "\n")
    try:
        k.write("/sys/bus/pci/drivers/hns3/bind", "0000:03:00.1")
    except OSError:
        pass
    table = events_html(k)
    assert "-EBUSY" in table and "Device or resource busy" in table
    text = describe(k)
    assert "IOMMU group 45" in text and "owner_cnt 2, kernel DMA API" in text and "vfio-pci, which manages DMA itself" in text
    assert "<pre class=\"iommulab-dmesg\">" in dmesg_html(k)


def test_the_event_table_of_the_last_actions_is_the_end_of_the_whole_table():
    """events_html reads back from the end only as far as its last `limit` actions go (issue 19: a
    refresh must not walk a long session's history); its rows are the whole table's last rows."""
    import random
    import re
    from iommulab.check.explore import possible_actions
    k = leak_story()
    rng = random.Random(3)
    for _ in range(60):
        acts = possible_actions(k)
        k.sh(rng.choice(acts).script() if acts and rng.random() < 0.8 else "echo 1 > /sys/bus/pci/rescan")
    rows = lambda table: re.findall(r"<tr class=.*?</tr>", table)        # noqa: E731
    whole = rows(events_html(k, limit=10 ** 9))
    assert len(whole) > 12
    for limit in (1, 5, 12):
        assert rows(events_html(k, limit=limit)) == whole[-limit:]


def test_view_model_kinds_of_owner_and_driver():
    """(What views may import and read is checked in test_layers.py.)"""
    k = Kernel.from_scenario("desktop-gpu")
    m = build(k)
    assert m.groups[1].owner_kind == "kernel" and m.devices["0000:01:00.0"].driver_kind == "kernel-dma"
    assert m.devices["0000:00:01.0"].driver_kind == "managed" and m.step == 0
