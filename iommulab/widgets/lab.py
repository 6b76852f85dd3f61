"""iommulab.Lab(k): the picture, owner_cnt over time, an action panel, a shell, the logs and time
travel, on one kernel. Every action is shell text run through k.sh() — the same sysfs and process
paths a learner types — never a shortcut into the model. Callbacks never raise into the notebook.

Feedback sits beside the action tabs: `.iommulab-feedback` says what the latest action did, and the
log below it (`.iommulab-log`, newest line first) keeps one numbered line per top-level shell line
run ("step 7 — refused: -EBUSY …"), read from the timeline's attempts. One step of the timeline is
one line that changed the machine: the slider, undo, the header and the log count the same steps."""
import html
import re

import ipywidgets as W

from .common import StaticFallback, guarded, picture_widget, show_picture
from .shellbox import ShellBox

from ..kernel.trace import ref
from ..shell import lines, session_for, timeline_for
from ..viz import refresh
from ..viz.explain import refusal
from ..viz.log import changes, describe, dmesg_html, events_html
from ..viz.model import state_at
from ..viz.plot import new_plot

CSS = """<style>
.iommulab-error { color: #D55E00; font-weight: bold; }
.iommulab-error .rule { color: #000; font-weight: normal; }
.iommulab-shell-output pre, .iommulab-dmesg { max-height: 16em; overflow: auto; font-size: 90%; }
.iommulab-events { border-collapse: collapse; font-size: 85%; }
.iommulab-events td, .iommulab-events th { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.iommulab-events tr.refused td { background: #FCE8DC; }
.iommulab-dmesg .warn { color: #D55E00; font-weight: bold; }
.iommulab-graph, .iommulab-b-graph { overflow: hidden !important; min-width: 0; }
.iommulab-graph > .widget-html-content, .iommulab-b-graph > .widget-html-content {
  overflow: visible; width: 100%; min-width: 0; }
.iommulab-graph-box { max-height: 78vh; }
.iommulab-graph svg, .iommulab-b-graph svg { max-width: none !important; max-height: none !important; flex: none; }
.iommulab-feedback, .iommulab-shell-feedback { color: #000; font-weight: normal; border-left: 4px solid #999;
                     padding: 2px 8px; margin: 4px 0; background: #FAFAFA; max-height: 12em; overflow: auto; }
.iommulab-feedback .widget-html-content,
.iommulab-log .widget-html-content,
.iommulab-shell-feedback .widget-html-content,
.iommulab-feedback, .iommulab-log, .iommulab-shell-feedback { line-height: 1.35; }
.iommulab-feedback .what.refused,
.iommulab-log-line .what.refused,
.iommulab-shell-feedback .what.refused { color: #B34700; font-weight: bold; }
.iommulab-feedback .what.changed,
.iommulab-log-line .what.changed,
.iommulab-shell-feedback .what.changed { color: #00704F; font-weight: bold; }
.iommulab-feedback .what.pending,
.iommulab-log-line .what.pending,
.iommulab-shell-feedback .what.pending { color: #0060A0; font-weight: bold; }
.iommulab-feedback .what.completed,
.iommulab-log-line .what.completed,
.iommulab-shell-feedback .what.completed { color: #00704F; font-weight: bold; }
.iommulab-feedback > .refused,
.iommulab-feedback .widget-html-content > .refused,
.iommulab-shell-feedback > .refused,
.iommulab-shell-feedback .widget-html-content > .refused { color: #B34700; }
.iommulab-feedback .rule, .iommulab-shell-feedback .rule { font-weight: normal; color: #000; }
.iommulab-feedback code,
.iommulab-log code,
.iommulab-shell-feedback code { display: block; color: #444; font-size: 90%; word-break: break-all;
                                             white-space: normal; }
.iommulab-feedback ul, .iommulab-shell-feedback ul { margin: 2px 0; padding-left: 1.2em; }
.iommulab-log { max-height: 9.5em; overflow: auto; border: 1px solid #ddd; padding: 2px 6px; font-size: 92%; }
.iommulab-log-line { border-bottom: 1px dotted #ddd; padding: 1px 0; }
.iommulab-stale { color: #8A5A00; font-weight: bold; }
.iommulab-stale-output pre { color: #777; }
.iommulab-vm-hint { color: #444; font-size: 90%; }
.iommulab-lab .lm-TabBar-tab, .iommulab-lab .p-TabBar-tab { flex: 0 0 auto; min-width: fit-content; }
</style>"""

ROW = W.Layout(flex_flow="row wrap", align_items="center")
LOG_LINES = 200                   # the log keeps this many lines (newest first)


def _button(text, cls, tip=""):
    b = W.Button(description=text, tooltip=tip or text, layout=W.Layout(width="auto", flex="0 0 auto"))
    b.add_class(cls)
    return b


def _e(text):
    return html.escape(str(text))


class Entry:
    """One line of the log: the step it left shown, its kind (refused, changed, nochange, pending,
    completed), what happened in words, the rule (for a refusal) and the shell text that ran."""
    __slots__ = ("step", "kind", "text", "rule", "line")

    def __init__(self, step, kind, text, rule="", line=""):
        self.step, self.kind, self.text, self.rule, self.line = step, kind, text, rule, line

    def key(self):
        return self.kind, self.text, self.rule, self.line

    def html(self, tag="div", cls="iommulab-log-line"):
        rule = f' — <span class="rule">{_e(self.rule)}</span>' if self.rule else ""
        line = f" <code>$ {_e(' '.join(self.line.split()))}</code>" if self.line else ""
        return (f'<{tag} class="{cls} {self.kind}">step {self.step} — <span class="what {self.kind}">'
                f"{_e(self.text)}</span>{rule}{line}</{tag}>")


class Lab(StaticFallback, W.VBox):
    """Display it in a cell: `Lab(Kernel.from_scenario("desktop-gpu"))`. `panel`: a widget shown
    beside the action controls, under the feedback (a level's goal strip); `on_action(fn)`: fn() runs
    after every action, undo and move in time."""

    def __init__(self, k, panel=None, **kw):
        self.k = k
        self.plot = new_plot()                  # matplotlib's PNG, or SVG where it is missing
        self.timeline = timeline_for(k)         # kernel and shell session travel in time together
        self.timeline.sync()                    # what Python changed before: a step of its own
        self.last_result = None
        self.last_entries = []                  # the log entries of the latest action
        self.entries = []                       # the whole log, oldest first
        self._listeners = []
        self._repeat = 1
        self._out_step = None                   # the step shown when the shell output was made
        self._out_html = ""
        self._bridge = {}
        self.panel = panel
        self._build()
        super().__init__([W.HTML(CSS), self.header, W.HBox([self.graph, self.side]), self.tabs], **kw)
        self.add_class("iommulab-lab")
        self._redraw()
        _follow_cells(self)

    def on_action(self, fn, remove=False):
        """Call fn() after every action, undo and move of the step slider (remove=True: stop)."""
        if remove:
            self._listeners = [f for f in self._listeners if f is not fn]
        else:
            self._listeners.append(fn)

    def off_actions(self):
        """Forget every after-action callback (a LevelLab replacing this Lab)."""
        self._listeners = []

    def _tell(self):
        for fn in list(self._listeners):
            self._guard(fn)

    # --- layout --------------------------------------------------------------------------------

    def _build(self):
        self.header = W.HTML()
        self.header.add_class("iommulab-header")
        self.graph = picture_widget(layout=W.Layout(width="62%", overflow="auto"))   # HTML, or the browser's Graphviz
        self.graph.add_class("iommulab-graph")
        self.plot_view = W.Image(format=self.plot.format,             # "png" or "svg+xml"
                                 layout=W.Layout(width="auto", max_width="100%", align_self="flex-start"))
        self.plot_view.add_class("iommulab-plot")
        self.feedback = W.HTML()
        self.feedback.add_class("iommulab-feedback")
        self.error = self.feedback              # the latest result (older name)
        self.log_view = W.HTML()
        self.log_view.add_class("iommulab-log")
        # devices and drivers
        self.device = W.Dropdown(description="device")
        self.device.add_class("iommulab-device")
        self.driver = W.Dropdown(description="driver")
        self.driver.add_class("iommulab-driver")
        self.device.observe(lambda change: self._guard(lambda: self._refresh_drivers(True)), names="value")
        self.driver.observe(lambda change: self._guard(self._enable), names="value")
        self.bind_b = _button("bind", "iommulab-bind", "echo DEVICE > /sys/bus/BUS/drivers/DRIVER/bind")
        self.unbind_b = _button("unbind", "iommulab-unbind", "echo DEVICE > …/drivers/CURRENT/unbind")
        self.override_b = _button("set driver_override", "iommulab-override")
        self.clear_b = _button("clear driver_override", "iommulab-override-clear")
        self.probe_b = _button("drivers_probe", "iommulab-probe")
        # VMs
        self.vm_devices = W.SelectMultiple(description="VM devices", rows=4)
        self.vm_devices.add_class("iommulab-vm-devices")
        self.vm_hint = W.HTML("Ctrl/Shift-click for several devices")
        self.vm_hint.add_class("iommulab-vm-hint")
        self.vm_path = W.ToggleButtons(options=["legacy VFIO", "iommufd"], value="legacy VFIO")
        self.vm_path.add_class("iommulab-vm-path")
        self.vm_start = _button("start VM", "iommulab-vm-start", "qemu-system-x86_64 -device vfio-pci,host=… &")
        self.vm_job = W.Dropdown(description="VM")
        self.vm_job.add_class("iommulab-vm-job")
        self.vm_stop = _button("stop VM", "iommulab-vm-stop", "kill %N")
        # machine (its own device choice, seen on its own tab)
        self.m_device = W.Dropdown(description="device")
        self.m_device.add_class("iommulab-m-device")
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
        # shell: Enter runs what is typed, Shift+Enter starts a new line; the run button runs the box too
        self.shell_in = ShellBox(placeholder="a command, as on a real host: Enter runs it, Shift+Enter starts a new "
                                             "line (a script runs line by line)", layout=W.Layout(width="100%"))
        self.shell_in.add_class("iommulab-shell-input")
        self.shell_in.on_enter(lambda text: self._guard(lambda: self.on_shell_enter(text)))
        self.shell_run = _button("run", "iommulab-shell-run", "run the text above, line by line")
        self.shell_out = W.HTML()
        self.shell_out.add_class("iommulab-shell-output")
        # time travel
        self.undo_b = _button("undo", "iommulab-undo", "take back the step shown (one line that changed the machine)")
        self.step = W.IntSlider(description="step", min=0, max=0, value=0, continuous_update=False,
                                layout=W.Layout(width="auto", flex="1 1 16em", min_width="16em"),
                                style={"description_width": "initial"},
                                tooltip="0 is the machine as booted; each line that changed it is one step")
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
        vm_box = W.VBox([W.HBox([W.VBox([self.vm_devices, self.vm_hint]), self.vm_path], layout=ROW),
                         self.vm_start, W.HBox([self.vm_job, self.vm_stop], layout=ROW)])
        machine_box = W.VBox([W.HBox([self.m_device, self.remove_b], layout=ROW),
                              W.HBox([self.numvfs, self.sriov_b], layout=ROW), self.rescan_b,
                              W.HBox([self.group, self.gtype, self.type_b], layout=ROW), self.reboot_b])
        self.actions = W.Tab([driver_box, vm_box, machine_box])
        for i, title in enumerate(("drivers", "VMs", "machine")):
            self.actions.set_title(i, title)
        self.actions.add_class("iommulab-actions")
        travel = W.HBox([self.undo_b, self.step, self.now_b],          # a narrow column: "back to now" wraps
                        layout=W.Layout(flex_flow="row wrap", align_items="center"))
        travel.add_class("iommulab-travel")
        side = [self.actions, self.feedback] + ([self.panel] if self.panel is not None else [])
        self.side = W.VBox(side + [travel, self.log_view, self.plot_view], layout=W.Layout(width="38%"))
        # The shell is a control too: its result (and a level's goal strip) shows beside it as well,
        # for a learner typing there has the side column out of view on a small screen.
        self.shell_feedback = W.HTML()
        self.shell_feedback.add_class("iommulab-shell-feedback")
        self.feedback.observe(lambda change: setattr(self.shell_feedback, "value", change["new"]), names="value")
        by_shell = [self.shell_feedback] + ([self.panel] if self.panel is not None else [])
        self.tabs = W.Tab([W.VBox(by_shell + [self.shell_in, self.shell_run, self.shell_out]),
                           self.events_view, self.dmesg_view, self.describe_view])
        for i, title in enumerate(("shell", "events", "kernel log", "description")):
            self.tabs.set_title(i, title)

    # --- running actions ------------------------------------------------------------------------

    def _guard(self, fn):
        guarded(fn, self.say_refused)

    def say_refused(self, text):
        """What a callback could not do, in the feedback line."""
        self.feedback.value = f'<span class="refused">{text}</span>'

    def _say(self, text):
        """A note that is no action (nothing ran): only the feedback line shows it."""
        self.feedback.value = _e(text)

    def sh(self, script):
        """Run shell text as actions of the lab: each line that changes the machine is a step of
        its timeline (acting in the past starts a new branch); every line gets a line in the log."""
        tl = self.timeline
        tl.sync()
        first, before = len(tl.attempts), state_at(tl, self.k, tl.position)
        prev = (tl.position, tl.steps[tl.position].serial)
        r = self.k.sh(script)
        self.last_result = r
        entries = self._entries(tl.attempts[first:], before, prev)
        self._show_output(script, r)
        self._report(entries)
        self._redraw()
        self._tell()
        return r

    def catch_up(self):
        """Show what changed the kernel outside the lab (`k.sh` or `%%iommush` in another cell, a
        `k.write`): its steps enter the log and the picture, as the lab's own actions do. Runs after
        every cell (IPython's post_run_cell); True when there was something new."""
        tl, k = self.timeline, self.k
        if self._drawn == (len(tl.attempts), len(tl.steps), tl.position, len(k.events)):
            return False
        drawn_attempts, drawn_position = self._drawn[0], min(self._drawn[2], len(tl.steps) - 1)
        tl.sync()
        before = state_at(tl, k, drawn_position)
        entries = self._entries(tl.attempts[drawn_attempts:], before,
                                (drawn_position, tl.steps[drawn_position].serial))
        if entries:
            self._report(entries)
        self._redraw()
        self._tell()
        return True

    def _states(self, attempts, before, prev):
        """The machine's state after each attempt that made a step (restoring those steps' snapshots
        only when one script made several)."""
        tl = self.timeline
        made = []
        for a in attempts:
            if (a.step, a.serial) != prev:
                made.append(a)
            prev = (a.step, a.serial)
        return made, {id(a): state_at(tl, self.k, a.step) for a in made if tl.on_branch(a)}

    def _entries(self, attempts, before, prev):
        made, states = self._states(attempts, before, prev)
        tl = self.timeline
        entries, state = [], before
        for a in attempts:
            after = states.get(id(a), state)
            # a line that woke a blocked writer made two steps: its own, then the writer's return
            woke = a in made and id(a) in states and a.step > 0 and tl.woke(a.step)
            mine = state_at(tl, self.k, a.step - 1) if woke else after
            changed = [] if a not in made else (changes(state, mine) or ["changed the machine"])
            entry = self._entry(a, changed)
            if woke:
                entry.step = a.step - 1
            entries.append(entry)
            for e in a.events:
                done = [m[1] for m in e.marks if m[0] == "completion"]
                gone = [m[1] for m in e.marks if m[0] == "unbound"]
                for path in done:
                    what = f"{', '.join(gone)} unbound: " if gone else ""
                    then = "; ".join(changes(mine, after)) if woke else ""
                    entries.append(Entry(a.step, "completed", f"completed: {what}the blocked write to {path} "
                                                              "went through (the holder let go)"
                                                              + (f" — {then}" if then else "")))
            state = after
        return entries

    def _entry(self, a, changed):
        blocked = [ref(e.result)[1] for e in a.events if e.depth == 0 and ref(e.result)[0] == "pending_write"]
        if blocked:                             # the kernel blocked the write: it goes on as a job
            job = re.search(r"goes on as job \[(\d+)\]", a.stderr)
            tail = f"; it goes on as job [{job.group(1)}]" if job else ""
            return Entry(a.step, "pending", f"waiting: the write to {blocked[-1]} is blocked until user space "
                                            f"lets go of the device{tail}", line=a.line)
        if a.status is None:
            return Entry(a.step, "refused", "the kernel crashed under this line", line=a.line)
        if a.failed:
            why = refusal(self.k, a.events, a.stderr)
            if why is None:
                status = a.status or a.bg_status
                last = a.stderr.strip().splitlines()[-1] if a.stderr.strip() else ""
                why = (f"exit status {status}", last, "")
            name, text, rule = why
            if changed:
                rule = (rule + "; " if rule else "") + "changed: " + "; ".join(changed)
            return Entry(a.step, "refused", f"refused: {name}" + (f" ({text})" if text else ""), rule, a.line)
        if changed:
            return Entry(a.step, "changed", "; ".join(changed), line=a.line)
        return Entry(a.step, "nochange", "nothing changed", line=a.line)

    def _report(self, entries):
        """The latest action's result beside the controls; its lines at the top of the log."""
        if not entries:
            return
        same = [e.key() for e in entries] == [e.key() for e in self.last_entries]
        self._repeat = self._repeat + 1 if same else 1
        self.last_entries = entries
        self.entries.extend(entries)
        del self.entries[:-LOG_LINES]
        again = f' <span class="again">(again: {self._repeat}×)</span>' if self._repeat > 1 else ""
        if len(entries) == 1:
            self.feedback.value = entries[0].html("div", "iommulab-feedback-line") + again
        else:
            count = {}
            for e in entries:
                count[e.kind] = count.get(e.kind, 0) + 1
            words = {"refused": "refused", "changed": "changed the machine", "nochange": "changed nothing",
                     "pending": "waiting", "completed": "completed"}
            head = ", ".join(f"{n} {words[kind]}" for kind, n in count.items())
            items = "".join(e.html("li", "iommulab-feedback-line") for e in entries[:10])
            more = f"<li>… and {len(entries) - 10} more in the log</li>" if len(entries) > 10 else ""
            self.feedback.value = f"<b>{len(entries)} lines ran</b>: {_e(head)}{again}<ul>{items}{more}</ul>"
        self.log_view.value = "".join(e.html() for e in reversed(self.entries))

    def _show_output(self, script, r):
        self._out_step = self.timeline.position
        self._out_html = f"<pre>{_e(f'$ {script}'.rstrip() + chr(10) + r.stdout + r.stderr)}</pre>"
        self.shell_out.value = self._out_html
        self.shell_out.remove_class("iommulab-stale-output")

    def _mark_output(self):
        """After time travel the shell output may belong to a step not shown."""
        if not self._out_html:
            return
        pos, last = self.timeline.position, len(self.timeline.steps) - 1
        if self._out_step is not None and self._out_step == pos:
            self.shell_out.value = self._out_html
            self.shell_out.remove_class("iommulab-stale-output")
            return
        why = ("output of an undone step" if self._out_step is None or self._out_step > last
               else f"output of step {self._out_step}")
        self.shell_out.value = (f'<div class="iommulab-stale">{why} — the machine now shows step {pos}</div>'
                                + self._out_html)
        self.shell_out.add_class("iommulab-stale-output")

    def _selected(self, widget=None):
        name = (widget or self.device).value
        if not name or name not in self.k.devices:
            raise ValueError("choose a device first")
        return self.k.devices[name]

    def on_bind(self):
        d = self._selected()
        if not self.driver.value:
            self._say("choose a driver first")
            return
        self.sh(lines.bind(d.bus.name, d.name, self.driver.value))

    def on_unbind(self):
        d = self._selected()
        if d.driver is None:
            self._say(f"{d.name} has no driver to unbind")
            return
        self.sh(lines.unbind(d.bus.name, d.name, d.driver.name))

    def on_override(self):
        d = self._selected()
        if not self.driver.value:
            self._say("choose a driver first")
            return
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
            self._say("choose the VM's devices first")
            return
        self.sh(lines.qemu(names, self.vm_path.value, memory="4G", arch=self.k.arch))

    def on_vm_stop(self):
        if self.vm_job.value is None:
            self._say("no VM is running")
            return
        self.sh(f"kill %{self.vm_job.value}")

    def on_rescan(self):
        self.sh(lines.pci_rescan())

    def on_remove(self):
        d = self._selected(self.m_device)
        self.sh(lines.pci_remove(d.name))

    def on_sriov(self):
        d = self._selected(self.m_device)
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

    def on_shell_enter(self, text):
        """Enter in the box: run what it held (the box is empty for the next command; the output stays below)."""
        if text.strip():
            self.sh(text)

    # --- time travel ------------------------------------------------------------------------------

    def on_undo(self):
        tl = self.timeline
        cut = max(1, tl.position)
        undone = tl.undo()
        if undone is None:
            self._say("nothing to undo: this is the machine as booted")
            return
        pos = tl.position
        entry = Entry(pos, "changed", f"undo: took back step {cut} ({' '.join(undone.action.split())}); "
                                      f"the machine is as after step {pos}")
        self._report([entry])
        self._redraw()
        self._mark_output()
        self._tell()

    def on_step(self):
        i = self.step.value
        if i == self.timeline.position or not 0 <= i < len(self.timeline.steps):
            return
        self.timeline.go(i)
        last = len(self.timeline.steps) - 1
        self.feedback.value = (f"showing step {i} of {last}" + (
            " — the past: acting here drops the later steps" if i < last else " (now)"))
        self._redraw()
        self._mark_output()
        self._tell()

    def on_now(self):
        self.step.value = len(self.timeline.steps) - 1

    # --- views --------------------------------------------------------------------------------------

    def _enable(self):
        """No driver chosen: nothing to bind or override to (never a path with None in it)."""
        none = not self.driver.value
        self.bind_b.disabled = none
        self.override_b.disabled = none

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
        self._enable()

    def _is_bridge(self, name):
        """A PCI bridge (class 0x06xxxx), read from sysfs as a learner would."""
        if name not in self._bridge:
            try:
                self._bridge[name] = self.k.read(f"/sys/bus/pci/devices/{name}/class").strip().startswith("0x06")
            except Exception:           # a device without a class file is an endpoint to the VM list
                self._bridge[name] = False
        return self._bridge[name]

    @staticmethod
    def _choose(widget, options, fallback=True):
        keep = widget.value
        if list(widget.options) != options:
            widget.options = options
        if keep in options:
            widget.value = keep
        elif options and fallback:
            widget.value = options[0]

    def _redraw(self):
        k = self.k
        svg, text, png = refresh(k, self.plot)
        show_picture(self.graph, svg, text)
        self.plot_view.value = png
        devices = sorted(k.devices)
        self._choose(self.device, devices)
        self._choose(self.m_device, devices)
        self._refresh_drivers()
        endpoints = [n for n in devices if k.devices[n].bus.name == "pci" and not self._is_bridge(n)]
        if list(self.vm_devices.options) != endpoints:
            keep = [n for n in self.vm_devices.value if n in endpoints]
            self.vm_devices.options = endpoints
            self.vm_devices.value = tuple(keep)
        self.vm_devices.rows = max(2, min(8, len(endpoints)))
        session = session_for(k)
        session.refresh_jobs()
        vms = [(f"[{j.num}] {j.cmdline[:60]}", j.num) for j in session.jobs
               if j.process is not None and j.state == "Running"]
        self.vm_job.options = vms
        self.vm_job.value = vms[-1][1] if vms else None            # the most recent VM
        self._choose(self.group, sorted(k.iommu_groups))
        last, position = len(self.timeline.steps) - 1, self.timeline.position
        self.step.unobserve_all()
        self.step.max = last
        self.step.value = position
        self.step.observe(lambda change: self._guard(self.on_step), names="value")
        where = (f"step {position} of {last}" if position == last
                 else f"viewing the past: step {position} of {last} (acting here drops the later steps)")
        title = _e(k.scenario.get("title") or "")
        self.header.value = (f"<b>{title}</b> · Linux {_e(k.f.release)} · "
                             f"{len(k.devices)} devices in {len(k.iommu_groups)} groups · {_e(where)}")
        tl = self.timeline
        self._drawn = (len(tl.attempts), len(tl.steps), tl.position, len(k.events))
        self.events_view.value = events_html(k, limit=40)
        self.dmesg_view.value = dmesg_html(k, limit=80)
        self.describe_view.value = f"<pre>{_e(describe(k))}</pre>"


def _follow_cells(lab):
    """After every cell of the notebook, the lab catches up with the kernel (Lab.catch_up). The
    callback holds the lab weakly and removes itself once the lab is gone."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or not hasattr(ip, "events"):
        return
    import weakref
    ref_ = weakref.ref(lab)

    def after_cell(*_):
        live = ref_()
        if live is None:
            ip.events.unregister("post_run_cell", after_cell)
            return
        guarded(live.catch_up, live.say_refused)
    ip.events.register("post_run_cell", after_cell)
