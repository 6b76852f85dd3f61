"""iommulab.Builder(): build a machine from parts, toggle ACS, multifunction and stream IDs, and
watch Linux's grouping rules decide — with the reasons for the selected device. Export the machine
as a scenario file, or open it in the lab with one click."""
import html

import ipywidgets as W

from ..builder import CATALOGUE, BuildError, MachineBuilder, NoEffect
from ..kernel.explain import explain_group
from ..viz import render_svg
from ..viz.graph import anchored
from ..viz.model import build
from .common import StaticFallback
from .lab import CSS, ROW, Lab, _button

ROOT_BUS = "(root bus)"


class Builder(StaticFallback, W.VBox):
    """Builder() starts from an empty machine; Builder("desktop-gpu") or Builder("my.toml") edits one."""

    def __init__(self, scenario=None, **kw):
        self.machine = MachineBuilder.from_scenario(scenario) if scenario else MachineBuilder()
        self.lab = None
        self.edits = 0                         # the picture's step: one per accepted edit
        self._shown = self._before = None      # the machine's state drawn last, and before the last edit
        self._last_edit = "booted"
        self._build()
        super().__init__([W.HTML(CSS), self.header, W.HBox([self.graph, self.side]), self.error, self.note,
                          self.lab_area], **kw)
        self.add_class("iommulab-builder")
        self._redraw()

    def _build(self):
        self.header = W.HTML()
        self.graph = W.HTML(layout=W.Layout(width="60%", overflow="auto"))
        self.graph.add_class("iommulab-b-graph")
        self.error = W.HTML()
        self.error.add_class("iommulab-b-error")
        self.note = W.HTML()                   # what an accepted edit did not change
        self.note.add_class("iommulab-b-note")
        self.part = W.Dropdown(options=[(text, name) for name, (text, _, _) in CATALOGUE.items()], description="part")
        self.part.add_class("iommulab-part")
        self.parent = W.Dropdown(description="below")
        self.parent.add_class("iommulab-parent")
        self.add_b = _button("add", "iommulab-add")
        self.device = W.Dropdown(description="device")
        self.device.add_class("iommulab-b-device")
        self.acs = W.Checkbox(description="ACS", indent=False)
        self.acs.add_class("iommulab-acs")
        self.mf = W.Checkbox(description="multifunction", indent=False)
        self.mf.add_class("iommulab-mf")
        self.streamid = W.Text(description="stream ID", placeholder="0x877", layout=W.Layout(width="12em"))
        self.streamid.add_class("iommulab-streamid")
        self.streamid_b = _button("set stream ID", "iommulab-streamid-set")
        self.remove_b = _button("remove (and what is below)", "iommulab-b-remove")
        self.derive_b = _button("let the topology decide the groups", "iommulab-derive")
        self.why = W.HTML()
        self.why.add_class("iommulab-why")
        self.path = W.Text(value="my-machine.toml", description="file")
        self.path.add_class("iommulab-export-path")
        self.export_b = _button("save scenario", "iommulab-export")
        self.open_b = _button("open in the lab", "iommulab-open-lab")
        self.lab_area = W.VBox()
        self.lab_area.add_class("iommulab-lab-area")

        self.add_b.on_click(lambda b: self._guard(self.on_add))
        self.streamid_b.on_click(lambda b: self._guard(self.on_streamid))
        self.remove_b.on_click(lambda b: self._guard(self.on_remove))
        self.derive_b.on_click(lambda b: self._guard(self.on_derive))
        self.export_b.on_click(lambda b: self._guard(self.on_export))
        self.open_b.on_click(lambda b: self._guard(self.on_open))
        self.device.observe(lambda c: self._guard(self._show_device), names="value")
        self._watch(True)
        self.side = W.VBox([
            W.HTML("<b>Add a part</b>"), self.part, W.HBox([self.parent, self.add_b], layout=ROW),
            W.HTML("<b>Change a part</b>"), self.device, W.HBox([self.acs, self.mf], layout=ROW),
            W.HBox([self.streamid, self.streamid_b], layout=ROW), W.HBox([self.remove_b, self.derive_b], layout=ROW),
            W.HTML("<b>Why is it in its group?</b>"), self.why,
            W.HTML("<b>Keep it</b>"), W.HBox([self.path, self.export_b], layout=ROW), self.open_b,
        ], layout=W.Layout(width="40%"))

    def _watch(self, on):
        for box, fn in ((self.acs, self.on_acs), (self.mf, self.on_mf)):
            if on:
                box.observe(lambda c, fn=fn: self._guard(fn), names="value")
            else:
                box.unobserve_all("value")

    def _guard(self, fn):
        """Run a callback; its refusal is shown in words, and a later success clears it."""
        try:
            fn()
            self.error.value = ""
        except NoEffect as e:
            self.error.value = f"not changed: {html.escape(str(e))}"
            self.note.value = ""
            self._show_device()                # the checkbox shows the machine again
        except BuildError as e:
            self.error.value = f"refused: {html.escape(str(e))} — nothing changed"
            self.note.value = ""
            self._show_device()
        except Exception as e:                 # callbacks never raise into the notebook
            self.error.value = f"iommulab could not do that: {html.escape(type(e).__name__)}: {html.escape(str(e))}"

    # --- edits (also usable from code) -------------------------------------------------------

    def add(self, part, parent=None, address=None, streamid=None):
        names = self.machine.add(part, parent, address, streamid)
        self.error.value = self.note.value = ""
        self._redraw(select=names[0], edit=f"added {', '.join(names)} ({part})"
                     + (f" below {parent}" if parent else ""))
        return names

    def set(self, name, **kw):
        notes = self.machine.set(name, **kw)
        self.error.value = ""
        self.note.value = "".join(f"<p>note: {html.escape(n)}</p>" for n in notes)
        what = ", ".join(f"{key} {value}" for key, value in kw.items() if value is not None)
        self._redraw(select=name, edit=f"set {name}: {what}")
        return notes

    def remove(self, name):
        gone = self.machine.remove(name)
        self.error.value = self.note.value = ""
        self._redraw(edit=f"removed {name}" + (" and what was below it" if gone and len(gone) > 1 else ""))
        return gone

    def group_of(self, name):
        d = self.machine.kernel.devices[name]
        return d.iommu_group.id if d.iommu_group is not None else None

    def export(self, path):
        return self.machine.export(path)

    def on_add(self):
        parent = None if self.parent.value in (None, ROOT_BUS) else self.parent.value
        self.add(self.part.value, parent)

    def on_acs(self):
        if self.device.value:
            self.set(self.device.value, acs=self.acs.value)

    def on_mf(self):
        if self.device.value:
            self.set(self.device.value, multifunction=self.mf.value)

    def on_streamid(self):
        if not self.device.value:
            raise BuildError("choose a device first")
        self.set(self.device.value, streamid=self.streamid.value)

    def on_remove(self):
        if not self.device.value:
            raise BuildError("choose a device first")
        self.remove(self.device.value)

    def on_derive(self):
        self.machine.derive_groups()
        self.error.value = ""
        self._redraw(edit="let the topology decide the groups")

    def on_export(self):
        path = self.export(self.path.value)
        self.error.value = ""
        self.why.value += f"<p>saved {html.escape(path)}: open it with <code>Kernel.from_scenario({path!r})</code></p>"

    def on_open(self):
        from ..kernel.kernel import Kernel
        self.lab = Lab(Kernel.from_toml(self.machine.to_toml(), "built.toml"))
        self.lab_area.children = [W.HTML("<h3>Your machine in the lab</h3>"), self.lab]

    # --- views -----------------------------------------------------------------------------

    def _redraw(self, select=None, edit=None):
        """Draw the machine: step = the accepted edits so far, highlighting what the last one changed."""
        k = self.machine.kernel
        if edit is not None and self._shown is not None:
            self.edits += 1
            self._before, self._last_edit = self._shown, edit
        now = k.state()
        m = build(k, before=self._before if self._before is not None else now, step=self.edits,
                  action=self._last_edit)
        self._shown = now
        svg, text = render_svg(m, threshold=10_000)
        names = [d["name"] for d in self.machine.devices]
        current = self.device.value
        self.device.options = names            # (resets the selection)
        if select in names:
            self.device.value = select
        elif current in names:
            self.device.value = current
        elif names:
            self.device.value = names[-1]
        keep = self.parent.value
        self.parent.options = [ROOT_BUS] + self.machine.bridges()
        self.parent.value = keep if keep in self.parent.options else ROOT_BUS
        self.derive_b.layout.display = None if self.machine.explicit_groups() else "none"
        n = len(k.iommu_groups)
        self.header.value = (f"<b>{html.escape(self.machine.doc.get('title', ''))}</b> · {len(k.devices)} "
                             f"devices in {n} IOMMU group{'s' if n != 1 else ''}")
        self._show_device()
        # the picture last: when it arrives in the browser, the reasons beside it are already new
        self.graph.value = anchored(svg) if svg is not None else f"<pre>{html.escape(text)}</pre>"

    def _show_device(self):
        name = self.device.value
        if not name or name not in self.machine.kernel.devices:
            self.why.value = "<i>add a part to begin</i>"
            return
        spec = self.machine.find(name)
        self._watch(False)
        try:
            pci = self.machine.setting(name, "bus") == "pci"
            self.acs.disabled = self.mf.disabled = not pci
            self.acs.value = bool(self.machine.setting(name, "acs"))
            self.mf.value = self.machine.is_multifunction(name) if pci else False
            self.streamid.disabled = self.streamid_b.disabled = pci
            self.streamid.value = f"{spec['streamid']:#x}" if "streamid" in spec else ""
        finally:
            self._watch(True)
        sid = f"<p>{html.escape(name)}: stream ID {spec['streamid']:#x}</p>" if "streamid" in spec else ""
        self.why.value = sid + "<ul>" + "".join(f"<li>{html.escape(line)}</li>"
                                                for line in explain_group(self.machine.kernel, name)) + "</ul>"
