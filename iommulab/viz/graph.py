"""The picture: each IOMMU group a cluster, its devices inside, PCI topology as edges, user-space
processes with edges to what they hold, blocked writes with what they wait for. Written as DOT
text (as the graphviz package writes it); rendered by `dot` at a fixed scale (SCALE px per point:
never shrunk to fit; its box scrolls), with no text below MIN_FONT_PX CSS px at 100 % zoom.

Encoding (colour is never the only signal): Okabe–Ito colours, plus line style, shape and words.
  group free      grey dashed border            "owner_cnt 0 · free"
  group kernel    blue solid border              "owner_cnt N · kernel DMA API"
  group user      vermillion bold border         "owner_cnt N · user space (VFIO group N / iommufd …)"
  device          box: sky-blue fill "(kernel DMA)" | green rounded "(manages DMA itself)" |
                  white dashed "no driver"; bridges and ports are house-shaped
  changed by the step shown: reddish-purple thick border, "▶" and "changed at step S: what changed"
  the obstacle of a refusal: orange double (device) or dashed bold (group) border, "✖ blocks: why"
  a blocked write: a dashed note "blocked write, waiting …", with edges to what it waits for
Node ids are stable (dev_<name>, cluster_g<N>), so the layout does not jump between actions.
"""
import functools
import hashlib
import math
import re
import textwrap
from contextlib import contextmanager

from .dotproc import runner
from ..kernel import BRIDGE_KINDS
from .model import ViewModel, build

BLACK, ORANGE, SKY, GREEN = "#000000", "#E69F00", "#56B4E9", "#009E73"
YELLOW, BLUE, VERMILLION, PURPLE, GREY = "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"
TINT = {"kernel": "#DCEAF4", "user": "#F7DDCC", "free": "#FFFFFF", "sky": "#CDE8F8", "green": "#C8EBDF"}
THRESHOLD = 80
LIGHT_ORANGE, LIGHT_PURPLE = "#FBE3B8", "#F3DCEA"
SCALE = 1.0              # CSS px per point of dot's layout: the picture's fixed scale
FONT = {"graph": 12, "cluster": 12, "node": 11, "edge": 11}      # points; at SCALE 1.0 as many CSS px
MIN_FONT_PX = 11
WRAP = 46


def _wrap(text, width=WRAP):
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def node_id(name):
    return "dev_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _owner_text(g):
    if g.owner_kind == "free":
        return "free"
    if g.owner_kind == "kernel":
        return "kernel DMA API"
    what = {"vfio-group": "VFIO group {}", "container": "VFIO container C{}", "iommufd": "iommufd context I{}"}
    if g.owner_kind not in what:
        return f"user space (owner {g.owner})"
    return f"user space ({what[g.owner_kind].format(g.owner_id)})"


def _domain_text(g):
    if g.domain_kind == "default":
        return f"domain: {g.default_type} (default)"
    if g.domain_kind == "blocking":
        return "domain: blocked (blocking domain)"
    if g.domain_kind == "user":
        return f"domain: user ({g.domain_name})"
    if g.domain_kind == "private":
        return f"domain: kernel driver's own ({g.domain_name})"
    return "domain: none"


def _group_style(g, m):
    kind = "user" if g.owner_kind not in ("free", "kernel") else g.owner_kind
    if m.old_viability:                          # before 5.19 nothing counts: a VM's domain, or kernel drivers, or none
        kind = "user" if g.domain_kind == "user" else "kernel" if any(
            m.devices[d].driver_kind == "kernel-dma" for d in g.devices if d in m.devices) else "free"
    color = {"free": GREY, "kernel": BLUE, "user": VERMILLION}[kind]
    style = {"free": "rounded,dashed,filled", "kernel": "rounded,filled", "user": "rounded,bold,filled"}[kind]
    if m.old_viability:                          # Linux before 5.19 keeps no owner_cnt: VFIO walks the drivers
        who = "in user space (VFIO)" if kind == "user" else (
            "kernel drivers bound" if kind == "kernel" else "no kernel driver bound")
        label = f"IOMMU group {g.number} · {who} · no owner_cnt before 5.19\n{_domain_text(g)}"
    else:
        label = f"IOMMU group {g.number} · owner_cnt {g.owner_cnt} · {_owner_text(g)}\n{_domain_text(g)}"
    if g.pasids:
        label += f"\nPASIDs attached: {', '.join(map(str, g.pasids))}"
    attrs = {"label": label, "color": color, "style": style, "fillcolor": TINT[kind],
             "penwidth": "3" if kind == "user" else "1.5", "fontname": "Helvetica", "fontsize": str(FONT["cluster"]),
             "labeljust": "l"}
    if g.number in m.changed_groups:
        what = "; ".join(m.changes.get(g.number, ()))
        attrs.update(color=PURPLE, penwidth="5",
                     label=f"▶ {label}\n" + _wrap(f"(changed at step {m.step}" + (f": {what})" if what else ")"), 60))
    if g.number in m.obstacle_groups:
        attrs.update(color=ORANGE, penwidth="5", style="rounded,dashed,bold,filled", fillcolor=LIGHT_ORANGE,
                     label=f"✖ {attrs['label']}\n" + _wrap(f"blocks: {m.obstacle_groups[g.number]}", 60))
    return attrs


def _device_attrs(d, m):
    lines = [d.name, d.what]
    if d.driver is not None and not d.dma_hooks:        # the bus never looks at driver_managed_dma
        lines.append(f"{d.driver} (no DMA hooks: never counts)")
        attrs = {"style": "filled", "fillcolor": "white", "color": GREY}
    elif d.driver_kind == "kernel-dma":
        lines.append(f"{d.driver} (kernel DMA)")
        attrs = {"style": "filled", "fillcolor": TINT["sky"], "color": BLUE}
    elif d.driver_kind == "managed":
        lines.append(f"{d.driver}\n(manages DMA itself)")     # two lines: a bridge's house shape grows wide
        attrs = {"style": "filled,rounded", "fillcolor": TINT["green"], "color": GREEN}
    else:
        lines.append("no driver")
        attrs = {"style": "dashed,filled", "fillcolor": "white", "color": GREY}
    if d.driver_override:
        lines.append(f"driver_override: {d.driver_override}")
    if d.vfio:
        lines.append(f"/dev/vfio/devices/{d.vfio}")
    attrs["shape"] = "house" if d.kind in BRIDGE_KINDS else "box"
    if d.name in m.changed_devices:
        lines[0] = "▶ " + lines[0]
        what = "; ".join(m.changes.get(d.name, ()))
        if what:
            lines.append(_wrap(f"changed at step {m.step}: {what}", 40))
        attrs.update(color=PURPLE, penwidth="3")
    if d.name in m.obstacles:
        lines[0] = "✖ " + lines[0]
        lines.append(_wrap(f"blocks: {m.obstacles[d.name]}", 30))
        attrs.update(color=ORANGE, penwidth="3", peripheries="2", style="filled,dashed,bold",
                     fillcolor=LIGHT_ORANGE)
    attrs["label"] = "\n".join(lines)
    return attrs


_BUS_WORDS = {"usb": "USB", "i2c": "I²C", "spi": "SPI", "virtio": "virtio"}


def _nogroup_caption(loose):
    """The caption of the devices with no IOMMU group, in words true of the devices it holds: on a
    bus without DMA-ownership hooks (USB, I²C, …) a device's DMA is its controller's, in the
    controller's group, and its driver never counts; a device on a bus with the hooks but behind no
    IOMMU does DMA that nothing translates, and has no group to count in."""
    hookless = sorted({d.bus for d in loose if not d.dma_hooks}, key=lambda b: (b != "usb", b))
    behind_none = "DMA not translated; never counted"
    if not hookless:
        return f"no IOMMU group ({behind_none})"
    names = ", ".join(_BUS_WORDS.get(b, b) for b in hookless)
    whose = ("a USB device's DMA is its host controller's" if "usb" in hookless
             else "a device's DMA is its controller's")
    words = (f"devices on buses without DMA ownership hooks ({names}): never counted; {whose}, "
             "in the controller's group")
    if all(not d.dma_hooks for d in loose):
        return _wrap(f"no IOMMU group: {words}", 60)
    return "no IOMMU group\n" + _wrap(words, 60) + "\n" + _wrap(f"the others sit behind no IOMMU: {behind_none}", 60)


def _signature(m, g):
    devs = g.devices                        # most groups hold one device: no set, no sort
    drivers = ((m.devices[devs[0]].driver or "-",) if len(devs) == 1
               else sorted({m.devices[n].driver or "-" for n in devs}))
    return (g.owner_kind, g.owner_cnt, g.domain_kind, g.default_type, len(g.devices), tuple(drivers))


def _title(m):
    title = f"Linux {m.release} · step {m.step}" + (f" · {m.last_action}" if m.last_action else "")
    lines = [_wrap(title, 60)]                 # the title wraps narrow: the picture is as wide as its widest line
    if m.refused:
        lines.append(_wrap(f"✖ refused, nothing changed: {m.refused}", 60))
        if m.refusal:
            lines.append(_wrap(m.refusal, 60))
    elif m.gone:
        lines.append(_wrap("▶ changed: " + "; ".join(m.gone), 60))
    elif m.step and not (m.changed_groups or m.changed_devices or m.changed_processes or m.completed
                         or any(w.new for w in m.pending)):
        lines.append("(nothing drawn here changed in this step)")
    return "".join(line.replace("\n", "\\l") + "\\l" for line in lines)      # each line flush left


_PLAIN = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*|-?(\.[0-9]+|[0-9]+(\.[0-9]*)?))\Z")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}


def _q(value):
    """A DOT ID as the graphviz package writes it: bare when it may be, else quoted."""
    return _q_text(str(value))


@functools.lru_cache(maxsize=8192)          # the same keys, colours and names come back in every picture
def _q_text(text):
    if _PLAIN.match(text) and text.lower() not in _KEYWORDS:
        return text
    return '"' + re.sub(r'(?<!\\)"', '\\"', text) + '"'


def _alist(attrs):
    return " ".join(f"{_q(key)}={_q(value)}" for key, value in sorted(attrs.items()) if value is not None)


class Digraph:
    """The DOT text of the picture, written directly (the graphviz package's quoting cost more than
    the rest of the view model): the same statements and quoting as graphviz.Digraph's `source`,
    with its `graph_attr`, `node`, `edge`, `attr` and `subgraph(name=…)`."""

    def __init__(self, name, graph_attr=None, node_attr=None, edge_attr=None):
        self.name = name
        self.graph_attr, self.node_attr, self.edge_attr = dict(graph_attr or {}), dict(node_attr or {}), \
            dict(edge_attr or {})
        self.body = []

    def node(self, name, **attrs):
        self.body.append(f"\t{_q(name)} [{_alist(attrs)}]\n" if attrs else f"\t{_q(name)}\n")

    def edge(self, tail, head, **attrs):
        self.body.append(f"\t{_q(tail)} -> {_q(head)}" + (f" [{_alist(attrs)}]\n" if attrs else "\n"))

    def attr(self, **attrs):
        self.body.append(f"\t{_alist(attrs)}\n")

    @contextmanager
    def subgraph(self, name):
        sub = Digraph(name)
        yield sub
        self.body.append(f"\tsubgraph {_q(name)} {{\n" + "".join("\t" + line for line in sub.body) + "\t}\n")

    @property
    def source(self):
        head = "".join(f"\t{kind} [{_alist(attrs)}]\n" for kind, attrs in
                       (("graph", self.graph_attr), ("node", self.node_attr), ("edge", self.edge_attr)) if attrs)
        return f"digraph {_q(self.name)} {{\n{head}{''.join(self.body)}}}\n"


def _new_digraph(m):
    return Digraph("iommu", graph_attr={
        "compound": "true", "newrank": "true", "rankdir": "LR", "nodesep": "0.2", "ranksep": "0.45",
        "fontname": "Helvetica", "fontsize": str(FONT["graph"]), "label": _title(m), "labelloc": "t",
        "labeljust": "l"},
        node_attr={"fontname": "Helvetica", "fontsize": str(FONT["node"]), "margin": "0.08,0.04"},
        edge_attr={"fontname": "Helvetica", "fontsize": str(FONT["edge"])})


def _full_groups(m, threshold, focus_group, focus_device):
    """Which groups are drawn in full; the rest are summarised."""
    numbers = sorted(m.groups)
    if focus_device is not None:
        d = m.devices.get(focus_device)
        if d is None:
            raise KeyError(f"no device {focus_device}")
        near = {focus_device, d.parent} | {n for n, x in m.devices.items() if x.parent == focus_device}
        focus = {m.devices[n].group for n in near if n in m.devices and m.devices[n].group is not None}
        return [n for n in numbers if n in focus]
    if focus_group is not None:
        if focus_group not in m.groups:
            raise KeyError(f"no IOMMU group {focus_group}")
        parents = {m.devices[n].parent for n in m.groups[focus_group].devices}
        near = {m.devices[p].group for p in parents if p in m.devices}
        return [n for n in numbers if n == focus_group or n in near]
    if len(m.devices) <= threshold:
        return numbers
    held = {n for p in m.processes for n in p.groups}
    marked = {m.devices[d].group for d in set(m.obstacles) | m.changed_devices
              | {p.device for p in m.pending + m.completed} if d in m.devices}
    keep = {n for n in numbers if n in m.changed_groups or n in held or n in marked or n in m.obstacle_groups
            or m.groups[n].owner_kind not in ("free", "kernel")}
    return [n for n in numbers if n in keep]


def graph(k_or_model, legend=False, threshold=THRESHOLD, focus_group=None, focus_device=None, timeline=None):
    """A Digraph (DOT text, as graphviz.Digraph's) of the machine. Above `threshold` devices (or
    with a focus) the groups not of interest collapse into summary nodes: one per kind of group,
    with counts. `timeline`: the steps the picture counts and compares (model.build)."""
    m = k_or_model if isinstance(k_or_model, ViewModel) else build(k_or_model, timeline=timeline)
    dot = _new_digraph(m)
    full = _full_groups(m, threshold, focus_group, focus_device)
    full_set = set(full)
    shown = set()
    for n in reversed(full):                 # dot stacks left-to-right ranks bottom-up: group 0 on top
        g = m.groups[n]
        with dot.subgraph(name=f"cluster_g{n}") as c:
            c.attr(**_group_style(g, m))
            for name in g.devices:
                c.node(node_id(name), **_device_attrs(m.devices[name], m))
                shown.add(name)
    loose = [d for d in m.devices.values() if d.group is None]
    if loose and len(m.devices) <= threshold and focus_group is None and focus_device is None:
        with dot.subgraph(name="cluster_nogroup") as c:
            c.attr(label=_nogroup_caption(loose), style="dotted", color=GREY,
                   fontname="Helvetica", fontsize=str(FONT["cluster"]))
            for d in loose:
                c.node(node_id(d.name), **_device_attrs(d, m))
                shown.add(d.name)
    _summaries(dot, m, full_set)
    for d in m.devices.values():                       # PCI topology: why subtrees share groups
        if d.parent in shown and d.name in shown:
            dot.edge(node_id(d.parent), node_id(d.name), color=GREY, arrowhead="none", style="dashed")
    _processes(dot, m, shown, full_set)
    _pending(dot, m, shown)
    for i, ident in enumerate(_focus(m, shown)):
        dot.node(ident, **{"class": FOCUS if i == 0 else ALSO})
    if legend:
        _legend(dot)
    return dot


FOCUS = "iommulab_focus"      # the SVG class of what the step shown is about (anchored() scrolls to it)
ALSO = "iommulab_focus_also"  # what goes with it, shown too when both fit in the box


def _focus(m, shown):
    """The nodes the learner should see first, the most important first: a refusal's obstacle;
    else a new blocked write, the device it is about and the process it waits for; else one that
    completed and its device; else what changed. Empty when nothing is marked."""
    def dev(n):
        return node_id(n) if n in shown else None

    def first_of(n):
        g = m.groups.get(n)
        return dev(g.devices[0]) if g is not None and g.devices else None
    picks = [dev(n) for n in sorted(m.obstacles)]
    picks += [f"proc_{pid}" for pid in sorted(m.obstacle_processes)]
    picks += [first_of(n) for n in sorted(m.obstacle_groups)]
    for i, w in enumerate(m.pending):
        if w.new:
            picks += [f"pending_{i}", dev(w.device) if w.device else None]
            picks += [f"proc_{pid}" for pid in w.holders]
    for i, w in enumerate(m.completed):
        picks += [f"completed_{i}", dev(w.device) if w.device else None]
    picks += [dev(n) for n in sorted(m.changed_devices)]
    picks += [first_of(n) for n in sorted(m.changed_groups)]
    out = []
    for p in picks:
        if p is not None and p not in out:
            out.append(p)
    return out[:4]


def _summaries(dot, m, full_set):
    buckets = {}
    for n in sorted(m.groups):
        if n not in full_set:
            buckets.setdefault(_signature(m, m.groups[n]), []).append(n)
    for sig, numbers in buckets.items():
        g = m.groups[numbers[0]]
        owner_kind, cnt, _, _, ndev, drivers = sig
        ident = "sum_" + hashlib.sha1(repr(sig).encode()).hexdigest()[:10]
        span = f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]} … {numbers[-1]}"
        label = (f"{len(numbers)} group{'s' if len(numbers) > 1 else ''} like this (IOMMU group {span})\n"
                 f"{ndev} device{'s' if ndev > 1 else ''} each · owner_cnt {cnt} · {_owner_text(g)}\n"
                 f"{_domain_text(g)} · drivers: {', '.join(drivers)}")
        dot.node(ident, label=label, shape="folder", style="filled", fillcolor="#F2F2F2", color=GREY)


def _processes(dot, m, shown, full_set):
    for p in m.processes:
        pid = f"proc_{p.pid}"
        attrs = {"shape": "component", "style": "filled", "fillcolor": YELLOW, "color": BLACK}
        label = f"{p.name} [{p.pid}]\nuser-space process"
        if p.pid in m.changed_processes:
            label = f"▶ {label}\n(changed at step {m.step})"
            attrs.update(color=PURPLE, penwidth="3")
        if p.pid in m.obstacle_processes:
            label = f"✖ {label}\n" + _wrap(f"blocks: {m.obstacle_processes[p.pid]}", 40)
            attrs.update(color=ORANGE, penwidth="3", peripheries="2", style="filled,dashed,bold")
        dot.node(pid, label=label, **attrs)
        for name in p.devices:
            if name in shown:
                new = (p.pid, "device", name) in m.changed_edges
                dot.edge(pid, node_id(name), label="▶ device fd (new)" if new else "device fd",
                         color=PURPLE if new else BLACK, penwidth="3" if new else "2")
        for n in p.groups:
            g = m.groups.get(n)
            if n in full_set and g is not None and g.devices and not set(g.devices) & set(p.devices):
                new = (p.pid, "group", n) in m.changed_edges
                dot.edge(pid, node_id(g.devices[0]), lhead=f"cluster_g{n}",
                         label="▶ group fd (new)" if new else "group fd", color=PURPLE if new else BLACK,
                         style="bold", penwidth="3" if new else "1")


def _short(path):
    parts = path.split("/")
    return path if len(parts) <= 4 else "…/" + "/".join(parts[-2:])


def _pending(dot, m, shown):
    """Blocked writes: a dashed note each, with an edge to the device it is about and to what it waits
    for (the process holding the device, or the blocked write ahead of it on the device lock); the
    writes that completed in the step shown, announced."""
    names = {p.pid: p.name for p in m.processes}
    for i, w in enumerate(m.pending):
        ident = f"pending_{i}"
        if w.behind is not None:
            why = f"waiting for {w.device}'s device lock, behind the blocked write ahead of it"
        elif w.holders:
            who = ", ".join(f"process {pid} ({names.get(pid, '?')})" for pid in w.holders)
            why = f"waiting for {who} to close {w.device}"
        else:
            why = f"waiting for user space to let go of {w.device}"
        label = (("▶ new at step {}: ".format(m.step) if w.new else "")
                 + f"blocked write, waiting (a background job)\necho {w.data} > {_short(w.path)}\n"
                 + _wrap(f"— {why}", 44))
        dot.node(ident, label=label, shape="note", style="filled,dashed", fillcolor=LIGHT_ORANGE,
                 color=PURPLE if w.new else ORANGE, penwidth="3" if w.new else "2")
        if w.device is not None and w.device in shown:
            dot.edge(ident, node_id(w.device), label="for device", color=ORANGE, style="dashed", constraint="false")
        if w.behind is not None:
            dot.edge(ident, f"pending_{w.behind}", label="queued behind", color=ORANGE, style="dashed")
            continue
        for pid in w.holders:
            dot.edge(ident, f"proc_{pid}", label="waits for it to close the device", color=ORANGE, style="dashed",
                     penwidth="2", constraint="false")     # no rank of its own: the picture stays narrow
        for pid in w.asked:
            if w.device is not None and w.device in shown:
                dot.edge(node_id(w.device), f"proc_{pid}", label="asked to release (request relayed)",
                         color=ORANGE, style="dotted", penwidth="2", constraint="false")
    for i, w in enumerate(m.completed):
        ident = f"completed_{i}"
        dot.node(ident, label=f"✓ completed at step {m.step}: the blocked write returned\n"
                 f"echo {w.data} > {_short(w.path)}", shape="note", style="filled", fillcolor=LIGHT_PURPLE,
                 color=PURPLE, penwidth="3")
        if w.device is not None and w.device in shown:
            dot.edge(ident, node_id(w.device), color=PURPLE, style="dashed")


def _legend(dot):
    with dot.subgraph(name="cluster_legend") as c:
        c.attr(label="Legend", style="rounded", color=GREY, fontname="Helvetica", fontsize=str(FONT["cluster"]))
        c.node("legend_k", label="kernel DMA driver\n(counts in owner_cnt)", shape="box", style="filled",
               fillcolor=TINT["sky"], color=BLUE)
        c.node("legend_m", label="driver manages DMA itself\n(vfio-pci, pci-stub, pcieport)", shape="box",
               style="filled,rounded", fillcolor=TINT["green"], color=GREEN)
        c.node("legend_u", label="no driver", shape="box", style="dashed,filled", fillcolor="white", color=GREY)
        c.node("legend_b", label="bridge or port", shape="house")
        c.node("legend_p", label="user-space process", shape="component", style="filled", fillcolor=YELLOW)
        c.node("legend_g", label="group borders: grey dashed = free,\nblue = kernel DMA API,\n"
               "vermillion bold = user space,\nreddish purple ▶ = changed in this step", shape="note")
        c.node("legend_x", label="✖ blocks: the obstacle of a refusal\n(orange, double dashed border)", shape="box",
               style="filled,dashed,bold", peripheries="2", fillcolor=LIGHT_ORANGE, color=ORANGE)
        c.node("legend_w", label="a blocked write, waiting", shape="note", style="filled,dashed",
               fillcolor=LIGHT_ORANGE, color=ORANGE)
        c.edge("legend_k", "legend_m", style="invis")
        c.edge("legend_m", "legend_u", style="invis")


def svg(k_or_model, **kw):
    """The picture as SVG text; raises DotMissing when Graphviz's dot is not installed."""
    return pipe_svg(graph(k_or_model, **kw))


_SIZE = re.compile(r'\b(width|height)="([\d.]+)(pt|px|)"')


def fixed_scale(text, scale=SCALE, resize=False):
    """dot's SVG with its width and height set in CSS px at `scale` px per point of its viewBox (the
    viewBox keeps the drawing whole): the same size on every machine and every title, never shrunk
    to its box. Sizes already in px stay, unless `resize` (a picture drawn at another scale)."""
    head, sep, rest = text.partition("<svg")
    if not sep:
        return text
    tag, close, body = rest.partition(">")
    box = re.search(r'viewBox="[\d.-]+ [\d.-]+ ([\d.]+) ([\d.]+)"', tag)
    full = {"width": float(box.group(1)), "height": float(box.group(2))} if box else {}

    def px(mt):
        if mt.group(3) == "px" and not resize:
            return mt.group(0)
        value = full.get(mt.group(1), float(mt.group(2)))
        return f'{mt.group(1)}="{math.ceil(value * scale - 1e-9)}px"'
    return head + sep + _SIZE.sub(px, tag, count=2) + close + body


_NODE = re.compile(r'<g id="[^"]*" class="node (' + FOCUS + '|' + ALSO + r')">(.*?)</g>', re.S)
_TRANSFORM = re.compile(r'<g id="graph0" class="graph" transform="scale\(([\d.]+)[^)]*\)[^"]*'
                        r'translate\(([\d.-]+) ([\d.-]+)\)"')
_SVG_BOX = re.compile(r'<svg[^>]*width="([\d.]+)px"[^>]*height="([\d.]+)px"'
                      r'[^>]*viewBox="[\d.-]+ [\d.-]+ ([\d.]+) ([\d.]+)"')
_NUMBERS = re.compile(r'(?:points|d)="([^"]*)"')


def focus_boxes(svg):
    """The focus nodes' boxes (left, top, right, bottom) in CSS px from the picture's top-left,
    the most important first (graph() marks them; dot keeps the order of its nodes)."""
    tr, box = _TRANSFORM.search(svg), _SVG_BOX.search(svg)
    if tr is None or box is None:
        return []
    per = float(box.group(1)) / float(box.group(3))          # CSS px per unit of the viewBox
    zoom, dx, dy = float(tr.group(1)), float(tr.group(2)), float(tr.group(3))
    found = []
    for hit in _NODE.finditer(svg):
        nums = [float(v) for attr in _NUMBERS.findall(hit.group(2)) for v in re.findall(r"-?[\d.]+", attr)]
        xs, ys = nums[0::2], nums[1::2]
        if not xs or not ys:
            continue
        px = [(x * zoom + dx) * per for x in xs]
        py = [(y * zoom + dy) * per for y in ys]
        found.append((hit.group(1) == FOCUS, (min(px), min(py), max(px), max(py))))
    found.sort(key=lambda f: not f[0])                       # the focus first, then what goes with it
    return [b for _, b in found]


def anchored(svg, fits=(480, 400), pad=4):
    """The picture in a scrolling box of its own that opens showing its focus: the focus node (and
    what goes with it, while the whole fits in `fits` CSS px) marks the far corner of an anchor box
    that starts at the picture's top-left and carries `scroll-initial-target` with `scroll-snap-align:
    end`, so the browser scrolls only as far as the focus needs — none when it is in view already, the
    caption and the groups on the left kept as far as they fit. Each new picture is a new box: the view
    follows the action. A browser without the property opens it at its top-left, as before."""
    boxes = focus_boxes(svg)
    mark = ""
    size = _SVG_BOX.search(svg)
    if boxes and size is not None:
        width, height = float(size.group(1)), float(size.group(2))
        left, top, right, bottom = boxes[0]
        for b in boxes[1:]:
            grown = (min(left, b[0]), min(top, b[1]), max(right, b[2]), max(bottom, b[3]))
            if grown[2] - grown[0] <= fits[0] and grown[3] - grown[1] <= fits[1]:
                left, top, right, bottom = grown
        right, bottom = min(width, right + pad), min(height, bottom + pad)
        mark = (f'<div class="iommulab-focus-anchor" style="position:absolute;left:0;top:0;width:{right:.0f}px;'
                f'height:{bottom:.0f}px;pointer-events:none;scroll-initial-target:nearest;'
                'scroll-snap-align:end"></div>')
    return (f'<div class="iommulab-graph-box" style="overflow:auto;max-width:100%">'
            f'<div style="position:relative;width:max-content;line-height:0">{svg}{mark}</div></div>')


def pipe_svg(digraph):
    """Lay out a Digraph (or a graphviz.Digraph) with dot, at the fixed scale; raises DotMissing
    without Graphviz."""
    return fixed_scale(runner().render(digraph.source))
