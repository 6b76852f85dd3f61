"""The log: the event history as an HTML table, the kernel log, and describe(k) — every group's
state in plain sentences (the fallback without Graphviz, and what a screen reader gets)."""
import html

from ..kernel.errno import errname, strerror
from ..kernel.reasons import origin
from ..kernel.trace import ref
from .explain import sentence
from .graph import _domain_text, _owner_text
from .model import build, device_words, group_words


def _result(ev):
    if ev.errno:
        return f'<span class="err">-{errname(ev.errno)}</span> {html.escape(strerror(ev.errno))}'
    if ev.result is None:
        return "done"
    r = ref(ev.result)
    if r[0] == "pending_write":                     # the kernel blocked the write: it waits
        return f"waiting: blocked, goes on when the holder lets go ({html.escape(str(r[1]))})"
    if r[0] == "object":
        return html.escape(str(r[1]))
    return html.escape(str(ev.result))


def changes(before, after):
    """What changed between two k.state() dicts, one short phrase each, in learner words:
    "group 1: owner_cnt 2 → 1", "0000:01:00.1: snd_hda_intel → no driver". Empty if nothing did.
    (The words are the picture's: viz.model.group_words / device_words.)"""
    out = []
    for table, name_of, words_of, came, went in (("groups", "group {}".format, group_words, "appeared", "is gone"),
                                                 ("devices", str, device_words, "added", "removed")):
        was, now = before.get(table, {}), after.get(table, {})
        for key in sorted(set(was) | set(now), key=str):
            b, a = was.get(key), now.get(key)
            if b is None or a is None:
                out.append(f"{name_of(key)} {came if b is None else went}")
            elif b != a:
                words = words_of(b, a)
                if words:
                    out.append(f"{name_of(key)}: " + ", ".join(words))
    pb, pa = before.get("processes", {}), after.get("processes", {})
    for pid in sorted(set(pb) | set(pa)):
        if pid not in pb:
            out.append(f"{pa[pid]['name']} [{pid}] started")
        elif pid not in pa:
            out.append(f"{pb[pid]['name']} [{pid}] ended")
    par_b, par_a = before.get("params") or {}, after.get("params") or {}
    for key in sorted(set(par_b) | set(par_a)):
        if par_b.get(key) != par_a.get(key):
            out.append(f"{key} {par_b.get(key)} → {par_a.get(key)}")
    for key, what in (("dynids", "new_id table"), ("hotplug", "hotplug"), ("crashed", "crash state")):
        if before.get(key) != after.get(key):
            out.append(f"{what} changed")
    return out


def _last_actions(events, limit):
    """The last `limit` top-level events and every event of their steps, read from the end back
    only as far as they go (a long session's history is not walked on every refresh)."""
    tops, by_step = [], {}
    for i in range(len(events) - 1, -1, -1):
        e = events[i]
        if len(tops) == limit and e.step < tops[-1].step:
            break
        by_step.setdefault(e.step, []).append(e)
        if e.depth == 0 and len(tops) < limit:
            tops.append(e)
    for evs in by_step.values():
        evs.reverse()
    tops.reverse()
    return tops, by_step


def events_html(k, limit=100):
    """The last `limit` actions: step, action, result (errno name and Linux's text), changed state,
    and what happened inside (WARNs, refused inner calls)."""
    tops, by_step = _last_actions(k.events, limit)
    rows = []
    for ev in tops:
        inner = [e for e in by_step.get(ev.step, []) if e.depth > 0]
        groups = {}
        for e in by_step.get(ev.step, []):
            for g in e.groups:
                groups[g[0]] = g
        notes = [e.note for e in inner if e.note] + [
            f"{e.func} → -{errname(e.errno)}" for e in inner if e.errno and e.depth == 1]
        why = origin(by_step.get(ev.step, [])) if ev.refused else None
        if why is not None:
            notes.append(f"why: {sentence(why)}")
        action = f"{ev.func}({', '.join(ev.args)})"
        after = "; ".join(f"group {n}: owner_cnt {c}, owner {o}, {d}" for n, c, o, d in groups.values())
        rows.append(
            f'<tr class="{"refused" if ev.refused else "ok"}"><td>{ev.step}</td>'
            f"<td><code>{html.escape(action)}</code></td><td>{_result(ev)}</td><td>{html.escape(after)}</td>"
            f"<td>{html.escape('; '.join(notes))}</td></tr>")
    return ('<table class="iommulab-events"><thead><tr><th>step</th><th>action</th><th>result</th>'
            "<th>groups after</th><th>inside</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def dmesg_html(k, limit=200):
    lines = k.dmesg()[-limit:]
    out = []
    for line in lines:
        cls = ' class="warn"' if line.startswith(("WARNING:", "kernel BUG")) else ""
        out.append(f"<span{cls}>{html.escape(line)}</span>")
    return '<pre class="iommulab-dmesg">' + "\n".join(out) + "</pre>"


def describe(k):
    """Every group's state in plain text."""
    m = build(k)
    out = [f"Linux {m.release}, step {m.step}" + (f"; last action: {m.last_action}" if m.last_action else "") + "."]
    for n in sorted(m.groups):
        g = m.groups[n]
        changed = " (changed by the last action)" if n in m.changed_groups else ""
        out.append(f"IOMMU group {n}{changed}: owner_cnt {g.owner_cnt}, {_owner_text(g)}; {_domain_text(g)}.")
        for name in g.devices:
            d = m.devices[name]
            drv = {"kernel-dma": f"bound to {d.driver}, a kernel DMA driver",
                   "managed": f"bound to {d.driver}, which manages DMA itself",
                   "unbound": "no driver"}[d.driver_kind]
            out.append(f"  - {name} ({d.what}): {drv}.")
    loose = [d for d in m.devices.values() if d.group is None]
    if loose:
        out.append("Devices without an IOMMU group: " + ", ".join(
            f"{d.name} ({d.driver or 'no driver'})" for d in loose) + ".")
    for p in m.processes:
        held = [f"group {n}" for n in p.groups] + [f"device {d}" for d in p.devices]
        out.append(f"Process {p.name} [{p.pid}] holds " + (", ".join(held) if held else "no VFIO files") + ".")
    return "\n".join(out)
