"""iommulab.Lab(k): the picture, owner_cnt over time, an action panel, a shell, the logs and time
travel, on one kernel. Every action is shell text run through k.sh() — the same sysfs and process
paths a learner types — never a shortcut into the model. Callbacks never raise into the notebook."""
import html

import ipywidgets as W

from .common import guarded

from ..shell import lines, session_for, timeline_for
from ..viz import refresh
from ..viz.explain import refusal
from ..viz.log import describe, dmesg_html, events_html
from ..viz.plot import OwnerCntPlot

CSS = """<style>
.iommulab-error { color: #D55E00; font-weight: bold; }
.iommulab-error .rule { color: #000; font-weight: normal; }
.iommulab-shell-output pre, .iommulab-dmesg { max-height: 16em; overflow: auto; font-size: 90%; }
.iommulab-events { border-collapse: collapse; font-size: 85%; }
.iommulab-events td, .iommulab-events th { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.iommulab-events tr.refused td { background: #FCE8DC; }
.iommulab-dmesg .warn { color: #D55E00; font-weight: bold; }
.iommulab-graph svg, .iommulab-b-graph svg { max-width: 100%; height: auto; }
</style>"""


ROW = W.Layout(flex_flow="row wrap", align_items="center")


def _button(text, cls, tip=""):
    b = W.Button(description=text, tooltip=tip or text, layout=W.Layout(width="auto", flex="0 0 auto"))
    b.add_class(cls)
    return b


class Lab(W.VBox):
    """Display it in a cell: `Lab(Kernel.from_scenario("desktop-gpu"))`."""

    def __init__(self, k, **kw):
        self.k = k
        self.plot = OwnerCntPlot()
        self.timeline = timeline_for(k)         # kernel and shell session travel in time together
        self.timeline.sync()                    # what Python changed before: a step of its own
        self.last_result = None
        self._build()
        super().__init__([W.HTML(CSS), self.header, W.HBox([self.graph, self.side]), self.error, self.tabs], **kw)
        self.add_class("iommulab-lab")
        self._redraw()

    # --- layout --------------------------------------------------------------------------------

    def _build(self):
        self.header = W.HTML()
        self.header.add_class("iommulab-header")
        self.graph = W.HTML(layout=W.Layout(width="62%", overflow="auto"))
        self.graph.add_class("iommulab-graph")
        self.plot_view = W.Image(format="png", layout=W.Layout(width="100%"))
        self.plot_view.add_class("iommulab-plot")
        self.error = W.HTML()
        self.error.add_class("iommulab-error")
        # devices and drivers
        self.device = W.Dropdown(description="device")
        self.device.add_class("iommulab-device")
        self.driver = W.Dropdown(description="driver")
        self.driver.add_class("iommulab-driver")
        self.device.observe(lambda change: self._guard(lambda: self._refresh_drivers(True)), names="value")
        self.bind_b = _button("bind", "iommulab-bind", "echo DEVICE > /sys/bus/BUS/drivers/DRIVER/bind")
        self.unbind_b = _button("unbind", "iommulab-unbind", "echo DEVICE > …/drivers/CURRENT/unbind")
        self.override_b = _button("set driver_override", "iommulab-override")
        self.clear_b = _button("clear driver_override", "iommulab-override-clear")
        self.probe_b = _button("drivers_probe", "iommulab-probe")
        # VMs
        self.vm_devices = W.SelectMultiple(description="VM devices", rows=4)
        self.vm_devices.add_class("iommulab-vm-devices")
        self.vm_path = W.ToggleButtons(options=["legacy VFIO", "iommufd"], value="legacy VFIO")
        self.vm_path.add_class("iommulab-vm-path")
        self.vm_start = _button("start VM", "iommulab-vm-start", "qemu-system-x86_64 -device vfio-pci,host=… &")
        self.vm_job = W.Dropdown(description="VM")
        self.vm_job.add_class("iommulab-vm-job")
        self.vm_stop = _button("stop VM", "iommulab-vm-stop", "kill %N")
        # machine
        self.rescan_b = _button("rescan PCI", "iommulab-rescan", "echo 1 > /sys/bus/pci/rescan")
        self.remove_b = _button("remove device", "iommulab-remove", "echo 1 > …/DEVICE/remove")
        self.numvfs = W.BoundedIntText(description="VFs", min=0, max=4096, value=0, layout=W.Layout(width="10em"))
        self.numvfs.add_class("iommulab-numvfs")
        self.sriov_b = _button("set sriov_numvfs", "iommulab-sriov")
        self.group = W.Dropdown(description="group")
        self.group.add_class("iommulab-group")
        self.gtype = W.Dropdown(options=["identity", "DMA", "DMA-FQ", "auto"], description="type")
        self.gtype.add_class("iommulab-type-value")
        self.type_b = _button("write type", "iommulab-type")
        self.reboot_b = _button("reboot", "iommulab-reboot")
        # shell
        self.shell_in = W.Textarea(placeholder="shell commands, as on a real host", layout=W.Layout(width="100%"))
        self.shell_in.add_class("iommulab-shell-input")
        self.shell_run = _button("run", "iommulab-shell-run")
        self.shell_out = W.HTML()
        self.shell_out.add_class("iommulab-shell-output")
        # time travel
        self.undo_b = _button("undo", "iommulab-undo")
        self.step = W.IntSlider(description="action", min=0, max=0, value=0, continuous_update=False,
                                tooltip="0 is the machine as booted; each action that changed it is one notch")
        self.step.add_class("iommulab-step")
        self.now_b = _button("back to now", "iommulab-now")
        # logs
        self.events_view = W.HTML()
        self.events_view.add_class("iommulab-events-view")
        self.dmesg_view = W.HTML()
        self.dmesg_view.add_class("iommulab-dmesg-view")
        self.describe_view = W.HTML()
        self.describe_view.add_class("iommulab-describe")

        for button, fn in ((self.bind_b, self.on_bind), (self.unbind_b, self.on_unbind),
                           (self.override_b, self.on_override), (self.clear_b, self.on_clear_override),
                           (self.probe_b, self.on_probe), (self.vm_start, self.on_vm_start),
                           (self.vm_stop, self.on_vm_stop), (self.rescan_b, self.on_rescan),
                           (self.remove_b, self.on_remove), (self.sriov_b, self.on_sriov),
                           (self.type_b, self.on_type), (self.reboot_b, self.on_reboot),
                           (self.shell_run, self.on_shell), (self.undo_b, self.on_undo), (self.now_b, self.on_now)):
            button.on_click(lambda b, fn=fn: self._guard(fn))
        self.step.observe(lambda change: self._guard(self.on_step), names="value")

        driver_box = W.VBox([W.HBox([self.device, self.driver], layout=ROW),
                             W.HBox([self.bind_b, self.unbind_b, self.override_b, self.clear_b, self.probe_b],
                                    layout=ROW)])
        vm_box = W.VBox([W.HBox([self.vm_devices, self.vm_path], layout=ROW), self.vm_start,
                         W.HBox([self.vm_job, self.vm_stop], layout=ROW)])
        machine_box = W.VBox([W.HBox([self.rescan_b, self.remove_b], layout=ROW),
                              W.HBox([self.numvfs, self.sriov_b], layout=ROW),
                              W.HBox([self.group, self.gtype, self.type_b], layout=ROW), self.reboot_b])
        actions = W.Tab([driver_box, vm_box, machine_box])
        for i, title in enumerate(("drivers", "virtual machines", "machine")):
            actions.set_title(i, title)
        travel = W.HBox([self.undo_b, self.step, self.now_b], layout=ROW)
        travel.add_class("iommulab-travel")
        self.side = W.VBox([self.plot_view, actions, travel], layout=W.Layout(width="38%"))
        self.tabs = W.Tab([W.VBox([self.shell_in, self.shell_run, self.shell_out]), self.events_view,
                           self.dmesg_view, self.describe_view])
        for i, title in enumerate(("shell", "events", "kernel log", "description")):
            self.tabs.set_title(i, title)

    # --- running actions ------------------------------------------------------------------------

    def _guard(self, fn):
        guarded(fn, lambda text: setattr(self.error, "value", text))

    def sh(self, script):
        """Run shell text as actions of the lab: each line that changes the machine is a step of
        its timeline (acting in the past starts a new branch); shown in the views."""
        start = len(self.k.events)
        r = self.k.sh(script)
        self.last_result = r
        self._show_result(script, r, self.k.events[start:])
        self._redraw()
        return r

    def _show_result(self, script, r, step_events):
        out = f"$ {script}\n{r.stdout}{r.stderr}"
        self.shell_out.value = f"<pre>{html.escape(out)}</pre>"
        from ..shell import session_for
        # `qemu … &` exits 0 in bash; a QEMU that failed at once is a job that already ended
        status = r.status or session_for(self.k).bg_status
        why = refusal(self.k, step_events, r.stderr) if status else None
        if why is None and status:
            why = (f"exit status {status}", r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "", "")
        if why is None:
            self.error.value = ""
            return
        name, text, rule = why
        self.error.value = (f"refused: <b>{html.escape(name)}</b> {html.escape(text)}"
                            + (f' — <span class="rule">{html.escape(rule)}</span>' if rule else ""))

    def _selected(self):
        name = self.device.value
        if not name or name not in self.k.devices:
            raise ValueError("choose a device first")
        return self.k.devices[name]

    def on_bind(self):
        d = self._selected()
        self.sh(lines.bind(d.bus.name, d.name, self.driver.value))

    def on_unbind(self):
        d = self._selected()
        if d.driver is None:
            self.error.value = f"{html.escape(d.name)} has no driver to unbind"
            return
        self.sh(lines.unbind(d.bus.name, d.name, d.driver.name))

    def on_override(self):
        d = self._selected()
        self.sh(lines.set_driver_override(d.bus.name, d.name, self.driver.value))

    def on_clear_override(self):
        d = self._selected()
        self.sh(lines.clear_driver_override(d.bus.name, d.name))

    def on_probe(self):
        d = self._selected()
        self.sh(lines.drivers_probe(d.bus.name, d.name))

    def on_vm_start(self):
        names = list(self.vm_devices.value)
        if not names:
            self.error.value = "choose the VM's devices first"
            return
        self.sh(lines.qemu(names, self.vm_path.value, memory="4G"))

    def on_vm_stop(self):
        if self.vm_job.value is None:
            self.error.value = "no VM is running"
            return
        self.sh(f"kill %{self.vm_job.value}")

    def on_rescan(self):
        self.sh(lines.pci_rescan())

    def on_remove(self):
        d = self._selected()
        self.sh(lines.pci_remove(d.name))

    def on_sriov(self):
        d = self._selected()
        self.sh(lines.sriov_numvfs(d.name, self.numvfs.value))

    def on_type(self):
        if self.group.value is None:
            raise ValueError("choose a group first")
        self.sh(lines.group_type(self.group.value, self.gtype.value))

    def on_reboot(self):
        self.sh("reboot")

    def on_shell(self):
        text = self.shell_in.value
        if text.strip():
            self.sh(text)

    # --- time travel ------------------------------------------------------------------------------

    def on_undo(self):
        if self.timeline.undo() is None:
            self.error.value = "nothing to undo"
            return
        self.error.value = ""
        self._redraw()

    def on_step(self):
        i = self.step.value
        if i == self.timeline.position or not 0 <= i < len(self.timeline.steps):
            return
        self.timeline.go(i)
        self._redraw()

    def on_now(self):
        self.step.value = len(self.timeline.steps) - 1

    # --- views --------------------------------------------------------------------------------------

    def _refresh_drivers(self, device_changed=False):
        """The drivers of the chosen device's bus; keep the learner's choice unless the device changed."""
        name = self.device.value
        d = self.k.devices.get(name) if name else None
        drivers = [drv.name for drv in self.k.drivers.values() if d is not None and drv.bus is d.bus and drv.registered]
        chosen = self.driver.value
        if list(self.driver.options) != drivers:
            self.driver.options = drivers
        if not device_changed and chosen in drivers:
            self.driver.value = chosen
        elif d is not None and d.driver is not None and d.driver.name in drivers:
            self.driver.value = d.driver.name

    def _redraw(self):
        k = self.k
        svg, text, png = refresh(k, self.plot)
        self.graph.value = svg if svg is not None else f"<pre>{html.escape(text)}</pre>"
        self.plot_view.value = png
        devices = sorted(k.devices)
        keep = self.device.value
        if list(self.device.options) != devices:
            self.device.options = devices
        if keep in devices:
            self.device.value = keep
        elif devices:
            self.device.value = devices[0]
        self._refresh_drivers()
        self.vm_devices.options = [n for n in devices if k.devices[n].bus.name == "pci"]
        session = session_for(k)
        session.refresh_jobs()
        vms = [(f"[{j.num}] {j.cmdline[:60]}", j.num) for j in session.jobs
               if j.process is not None and j.state == "Running"]
        self.vm_job.options = vms
        self.vm_job.value = vms[-1][1] if vms else None            # the most recent VM
        keep = self.group.value
        groups = sorted(k.iommu_groups)
        if list(self.group.options) != groups:
            self.group.options = groups
        self.group.value = keep if keep in groups else (groups[0] if groups else None)
        last, position = len(self.timeline.steps) - 1, self.timeline.position
        self.step.unobserve_all()
        self.step.max = last
        self.step.value = position
        self.step.observe(lambda change: self._guard(self.on_step), names="value")
        viewing = "" if position == last else f" — viewing the past (action {position} of {last})"
        title = html.escape(k.scenario.get("title") or "")
        self.header.value = (f"<b>{title}</b> · Linux {html.escape(k.f.release)} · "
                             f"{len(k.devices)} devices in {len(k.iommu_groups)} groups{html.escape(viewing)}")
        self.events_view.value = events_html(k, limit=40)
        self.dmesg_view.value = dmesg_html(k, limit=80)
        self.describe_view.value = f"<pre>{html.escape(describe(k))}</pre>"
