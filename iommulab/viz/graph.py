"""The picture: each IOMMU group a cluster, its devices inside, PCI topology as edges, user-space
processes with edges to what they hold. Built with the graphviz package; rendered by `dot`.

Encoding (colour is never the only signal): Okabe–Ito colours, plus line style, shape and words.
  group free      grey dashed border            "owner_cnt 0 · free"
  group kernel    blue solid border              "owner_cnt N · kernel DMA API"
  group user      vermillion bold border         "owner_cnt N · user space (VFIO group N / iommufd …)"
  device          box: sky-blue fill "(kernel DMA)" | green rounded "(manages DMA itself)" |
                  white dashed "no driver"; bridges and ports are house-shaped
  changed by the last action: reddish-purple thick border and "▶ … changed at step S"
Node ids are stable (dev_<name>, cluster_g<N>), so the layout does not jump between actions.
"""
import hashlib
import re

from .dotproc import runner
from ..kernel import BRIDGE_KINDS
from .model import ViewModel, build

BLACK, ORANGE, SKY, GREEN = "#000000", "#E69F00", "#56B4E9", "#009E73"
YELLOW, BLUE, VERMILLION, PURPLE, GREY = "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"
TINT = {"kernel": "#DCEAF4", "user": "#F7DDCC", "free": "#FFFFFF", "sky": "#CDE8F8", "green": "#C8EBDF"}
THRESHOLD = 80


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


def _group_style(g, changed, step):
    kind = "user" if g.owner_kind not in ("free", "kernel") else g.owner_kind
    color = {"free": GREY, "kernel": BLUE, "user": VERMILLION}[kind]
    style = {"free": "rounded,dashed,filled", "kernel": "rounded,filled", "user": "rounded,bold,filled"}[kind]
    label = f"IOMMU group {g.number} · owner_cnt {g.owner_cnt} · {_owner_text(g)}\n{_domain_text(g)}"
    if g.pasids:
        label += f"\nPASIDs attached: {', '.join(map(str, g.pasids))}"
    attrs = {"label": label, "color": color, "style": style, "fillcolor": TINT[kind],
             "penwidth": "3" if kind == "user" else "1.5", "fontname": "Helvetica", "fontsize": "11",
             "labeljust": "l"}
    if changed:
        attrs.update(color=PURPLE, penwidth="5", label=f"▶ {label}\n(changed at step {step})")
    return attrs


def _device_attrs(d, changed):
    lines = [d.name, d.what]
    if d.driver_kind == "kernel-dma":
        lines.append(f"{d.driver} (kernel DMA)")
        attrs = {"style": "filled", "fillcolor": TINT["sky"], "color": BLUE}
    elif d.driver_kind == "managed":
        lines.append(f"{d.driver} (manages DMA itself)")
        attrs = {"style": "filled,rounded", "fillcolor": TINT["green"], "color": GREEN}
    else:
        lines.append("no driver")
        attrs = {"style": "dashed,filled", "fillcolor": "white", "color": GREY}
    if d.vfio:
        lines.append(f"/dev/vfio/devices/{d.vfio}")
    attrs["shape"] = "house" if d.kind in BRIDGE_KINDS else "box"
    if changed:
        lines[0] = "▶ " + lines[0]
        attrs.update(color=PURPLE, penwidth="3")
    attrs["label"] = "\n".join(lines)
    return attrs


def _signature(m, g):
    drivers = sorted({f"{m.devices[n].driver or '-'}" for n in g.devices})
    return (g.owner_kind, g.owner_cnt, g.domain_kind, g.default_type, len(g.devices), tuple(drivers))


def _new_digraph(m):
    import graphviz
    return graphviz.Digraph("iommu", graph_attr={
        "compound": "true", "newrank": "true", "rankdir": "LR", "nodesep": "0.2", "ranksep": "0.45",
        "fontname": "Helvetica", "fontsize": "11", "label": f"Linux {m.release} · step {m.step}"
        + (f" · last action: {m.last_action}" if m.last_action else ""), "labelloc": "t"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "margin": "0.08,0.04"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"})


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
    keep = {n for n in numbers if n in m.changed_groups or n in held
            or m.groups[n].owner_kind not in ("free", "kernel")}
    return [n for n in numbers if n in keep]


def graph(k_or_model, legend=False, threshold=THRESHOLD, focus_group=None, focus_device=None):
    """A graphviz.Digraph of the machine. Above `threshold` devices (or with a focus) the groups not
    of interest collapse into summary nodes: one per kind of group, with counts."""
    m = k_or_model if isinstance(k_or_model, ViewModel) else build(k_or_model)
    dot = _new_digraph(m)
    full = _full_groups(m, threshold, focus_group, focus_device)
    full_set = set(full)
    shown = set()
    for n in reversed(full):                 # dot stacks left-to-right ranks bottom-up: group 0 on top
        g = m.groups[n]
        with dot.subgraph(name=f"cluster_g{n}") as c:
            c.attr(**_group_style(g, n in m.changed_groups, m.step))
            for name in g.devices:
                c.node(node_id(name), **_device_attrs(m.devices[name], name in m.changed_devices))
                shown.add(name)
    loose = [d for d in m.devices.values() if d.group is None]
    if loose and len(m.devices) <= threshold and focus_group is None and focus_device is None:
        with dot.subgraph(name="cluster_nogroup") as c:
            c.attr(label="no IOMMU group (DMA not translated; never counted)", style="dotted", color=GREY,
                   fontname="Helvetica", fontsize="11")
            for d in loose:
                c.node(node_id(d.name), **_device_attrs(d, d.name in m.changed_devices))
                shown.add(d.name)
    _summaries(dot, m, full_set)
    for d in m.devices.values():                       # PCI topology: why subtrees share groups
        if d.parent in shown and d.name in shown:
            dot.edge(node_id(d.parent), node_id(d.name), color=GREY, arrowhead="none", style="dashed")
    _processes(dot, m, shown, full_set)
    if legend:
        _legend(dot)
    return dot


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
        dot.node(pid, label=f"{p.name} [{p.pid}]\nuser-space process", shape="component", style="filled",
                 fillcolor=YELLOW, color=BLACK)
        for name in p.devices:
            if name in shown:
                dot.edge(pid, node_id(name), label="device fd", color=BLACK, penwidth="2")
        for n in p.groups:
            g = m.groups.get(n)
            if n in full_set and g is not None and g.devices and not set(g.devices) & set(p.devices):
                dot.edge(pid, node_id(g.devices[0]), lhead=f"cluster_g{n}", label="group fd",
                         color=BLACK, style="bold")


def _legend(dot):
    with dot.subgraph(name="cluster_legend") as c:
        c.attr(label="Legend", style="rounded", color=GREY, fontname="Helvetica", fontsize="11")
        c.node("legend_k", label="kernel DMA driver\n(counts in owner_cnt)", shape="box", style="filled",
               fillcolor=TINT["sky"], color=BLUE)
        c.node("legend_m", label="driver manages DMA itself\n(vfio-pci, pci-stub, pcieport)", shape="box",
               style="filled,rounded", fillcolor=TINT["green"], color=GREEN)
        c.node("legend_u", label="no driver", shape="box", style="dashed,filled", fillcolor="white", color=GREY)
        c.node("legend_b", label="bridge or port", shape="house")
        c.node("legend_p", label="user-space process", shape="component", style="filled", fillcolor=YELLOW)
        c.node("legend_g", label="group borders: grey dashed = free,\nblue = kernel DMA API,\n"
               "vermillion bold = user space,\nreddish purple ▶ = changed", shape="note")
        c.edge("legend_k", "legend_m", style="invis")
        c.edge("legend_m", "legend_u", style="invis")


def svg(k_or_model, **kw):
    """The picture as SVG text; raises DotMissing when Graphviz's dot is not installed."""
    return pipe_svg(graph(k_or_model, **kw))


def pipe_svg(digraph):
    """Lay out a graphviz.Digraph with dot; raises DotMissing without Graphviz."""
    return runner().render(digraph.source)
