"""The sandbox: free play on any library scenario at any modelled kernel version, the level picker,
and "export my session" as a shell script that replays what the learner did.

    sb = iommulab.sandbox("seed-001", "6.6")   # the widget: scenario, version, boot; level, open; export
    sb.lab.sh("echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind")
    script = export_session(sb.k)              # what sb's "export my session" button shows
    k2 = boot("seed-001", "6.6"); k2.sh(script)
    assert k2.state() == sb.k.state()

The export is the lines of the machine's timeline on its present branch (iommulab.shell.timeline_for(k)
.attempts, filtered with timeline.on_branch): a line of a step that was undone, or of a branch left
by acting in the past, is not in it, and neither is `undo` itself (what it took back is already
gone from the export; replayed, it would take back one more step). Lines that changed nothing are
kept: `cd`, `D=0000:01:00.0` or a QEMU that could not start (it still took a job number and a pid) change no
kernel state, yet later lines depend on them; and a refused write is part of what the learner did
(an instructor replaying the script sees the same refusal; the shell goes on to the next line, so
the replay does not stop there). A refused line carries a comment above it. A change made from
Python between two lines (k.write) has no shell line: it appears as a comment, and the header says
the script cannot replay it. One line can make two steps (`kill %1` ends QEMU, then a write blocked
on it returns); if only the second was undone, the line is kept and followed by an `undo`.
export_session replays its script on a fresh boot and says in the header whether that gave k's state.
"""
import base64
import html
import re
import tomllib
from importlib import resources

from ..kernel.kernel import Kernel
from ..kernel.scenario import ScenarioError, builtin_names
from ..shell import timeline_for
from .errors import CourseError

DEFAULT_SCENARIO = "desktop-gpu"
# The kernel versions worth picking: every mainline release the model knows (5.18, the oldest, to
# iommulab.kernel.version.NEWEST) and each stable release where the feature table
# (kernel/version.py features_for) changes within a series, plus the unmerged 2021 design.
# tests/test_sandbox.py checks that every distinct feature set from 5.18 on has a version here.
VERSIONS = (
    ("5.18", "before the DMA ownership series: VFIO's viability walk and BUG_ON"),
    ("5.19", "owner and owner_cnt (the DMA ownership series)"),
    ("5.19.9", "stable: iommu_is_default_domain() for AMD identity domains"),
    ("6.0", ""),
    ("6.1", "VFIO's owner is the vfio_group"),
    ("6.1.53", "stable: the dma_cleanup() fix on the test_remove path"),
    ("6.2", "iommufd; iommu_device_claim_dma_owner()"),
    ("6.3", ""),
    ("6.4", "a group's type file uses owner_cnt"),
    ("6.4.16", "stable: the dma_cleanup() fix on the test_remove path"),
    ("6.5", ""),
    ("6.5.3", "stable: the dma_cleanup() fix on the test_remove path"),
    ("6.6", "the VFIO device cdev; the dma_cleanup() fix"),
    ("6.6.90", "stable: -EPROBE_DEFER without a default domain"),
    ("6.7", ""),
    ("6.8", ""),
    ("6.9", ""),
    ("6.10", ""),
    ("6.11", ""),
    ("6.12", ""),
    ("6.13", ""),
    ("6.14", ""),
    ("6.14.2", "stable: -EPROBE_DEFER without a default domain"),
    ("6.15", "-EPROBE_DEFER without a default domain"),
    ("6.16", ""),
    ("6.17", ""),
    ("6.18", "the newest modelled"),
    ("rfc-2021-11", "the unmerged November 2021 design (tri-state DMA ownership)"),
)
# The timeline's name for a change made from Python between two shell lines (shell/timeline.py
# OUTSIDE; tests/test_sandbox.py checks the two agree)
OUTSIDE = "(outside the shell)"
_UNDO = re.compile(r"(?:^|[;&|(\n]|\bthen|\bdo|\belse)\s*undo(?:\s|;|&|\||\)|$)")
_TITLE = re.compile(r'^title\s*=\s*"(?:[^"\\\n]|\\.)*"\s*$', re.M)
_ENOUGH_FOR_A_PICK = 30                   # a title longer than this is cut in a dropdown's label


class SandboxError(CourseError):
    """A scenario the library does not have, or a version it cannot boot at (the message says why)."""


# --- machines -----------------------------------------------------------------------------------

def scenarios():
    """The library scenarios (iommulab/scenarios/*.toml): [(name, title)]."""
    out = []
    for name in builtin_names():
        try:
            text = _scenario_file(name)
        except SandboxError:
            text = ""
        m = _TITLE.search(text[:4096])          # a top-level key, before the first table: no need to
        try:                                    # parse sriov-2000's 2000 devices for it
            title = tomllib.loads(m.group(0)).get("title", "") if m else ""
        except tomllib.TOMLDecodeError:
            title = ""
        out.append((name, title))
    return out


def versions():
    """The versions the sandbox offers: [(version, what changes there, or "")]."""
    return list(VERSIONS)


def _scenario_file(name):
    try:
        return (resources.files("iommulab.scenarios") / f"{name}.toml").read_text(encoding="utf-8")
    except (OSError, FileNotFoundError):
        raise SandboxError(f"no library scenario {name!r} (the scenarios are: "
                           f"{', '.join(builtin_names())})") from None


def own_version(scenario):
    """The version a library scenario's file boots (its [kernel] version, or the newest)."""
    return load_scenario(scenario)["kernel"]["version_text"]


def load_scenario(scenario):
    from ..kernel.scenario import load_text
    return load_text(_scenario_file(scenario), f"{scenario}.toml")


def machine_toml(scenario, version=None):
    """The TOML text of a library scenario, booting `version` (None or "": the file's own)."""
    text = _scenario_file(scenario)
    if version in (None, ""):
        return text
    import tomlkit
    doc = tomlkit.parse(text)
    table = doc.get("kernel")
    if table is None:
        table = tomlkit.table()
        doc["kernel"] = table
    table["version"] = str(version)
    return tomlkit.dumps(doc)


def boot(scenario, version=None) -> Kernel:
    """A freshly booted library scenario at `version` (the file's own when None). A version the
    scenario cannot have (CONFIG_IOMMUFD before 6.2, …) raises SandboxError with the loader's words."""
    try:
        return Kernel.from_toml(machine_toml(scenario, version), f"{scenario}.toml")
    except ScenarioError as e:
        raise SandboxError(str(e)) from None


# --- the export -------------------------------------------------------------------------------

def is_undo(line):
    """Whether a line runs `undo` (on its own or as a command of a longer line)."""
    return bool(_UNDO.search(line))


def session_lines(k):
    """The attempts of k's timeline on its present branch, in order: what the export is made of."""
    tl = timeline_for(k)
    return [a for a in tl.attempts if tl.on_branch(a)]


def _half_undone(tl, a, before):
    """Whether attempt `a`, off the present branch, made two steps of which the first is still on
    it: a line (`kill %1`) that woke a blocked write makes its own step, then the woken write's
    (timeline.after_action); undoing only the second leaves the line's own change. Moment serials
    grow with time, so the line's own step has a serial between the previous attempt's and a's."""
    i = a.step - 1
    if a.serial not in tl.woken or not 1 <= i <= tl.position or i >= len(tl.steps):
        return False
    own = tl.steps[i]
    return before < own.serial < a.serial and " ".join(own.action.split()) == " ".join(a.line.split())


def _entries(k):
    """(attempt, half_undone) for each attempt the export replays, in order."""
    tl = timeline_for(k)
    out, before = [], tl.steps[0].serial
    for a in tl.attempts:
        if tl.on_branch(a):
            out.append((a, False))
        elif _half_undone(tl, a, before):
            out.append((a, True))
        before = a.serial
    return out


def replays(k, script):
    """Whether `script`, run on a fresh boot of k's scenario (the same parsed file, so the same
    version), gives k's state now."""
    import copy
    fresh = type(k)(copy.deepcopy(k.scenario))
    fresh.sh(script)
    return fresh.state() == k.state()


def export_session(k, scenario=None, version=None, level=None, check=True) -> str:
    """A shell script that replays, on a fresh boot of the same machine, what was done on k: the
    lines on the present branch of its timeline (see the module docstring for what is kept and
    why), after a header naming the scenario and the version (read from k when not given) and how
    to replay it. `level`: the id of the level whose machine k is. With `check`, the script is
    replayed on a fresh boot first, and the header says whether that gave k's state."""
    source = str(k.scenario.get("source", "") or "")
    if scenario is None:
        scenario = source[:-5] if source.endswith(".toml") else source or "(unknown)"
    if version is None:
        version = k.scenario["kernel"].get("version_text") or ".".join(map(str, k.version))
    library = scenario in builtin_names()
    own = own_version(scenario) if library else None
    tl = timeline_for(k)
    body, outside, left_out, refused = [], 0, 0, 0
    for a, half in _entries(k):
        line = a.line.rstrip("\n")
        if a.line == OUTSIDE:
            outside += 1
            body.append("# (a change made from Python here, not a shell line: this script cannot replay it)")
            continue
        if is_undo(line):
            left_out += 1
            if line.strip() != "undo" and not re.fullmatch(r"\s*undo\s+\d+\s*", line):
                body.append("# left out, it runs `undo` (what it undid is not in this script): "
                            + " ".join(line.split()))
            continue
        if a.failed:
            refused += 1
            why = "the kernel crashed" if a.status is None else f"exit status {a.status}" if a.status else \
                f"its background job ended with status {a.bg_status}"
            body.append(f"# refused or failed when you ran it ({why}): it changed nothing")
        if half:
            body += ["# this line also woke a blocked write; you undid the write's return, so undo follows it",
                     line, "undo"]
            continue
        body.append(line)
    head = ["# iommulab session: " + (f"level {level}, on its machine ({scenario}, Linux {version})" if level
                                      else f"scenario {scenario}, Linux {version}"
                                      + (" (the scenario's own version)" if own == version else ""))]
    if tl.steps[0].action != "boot":
        head.append("# warning: the timeline began after the machine had already changed; the replay starts "
                    "from a fresh boot")
    n = len(body) - sum(1 for b in body if b.startswith("#"))
    head.append(f"# {n} line(s): the timeline as it is now, undone lines and `undo` left out"
                + (f" ({left_out} undo)" if left_out else "") + ";")
    head.append("# lines that changed nothing kept (cd, variables and refusals are part of the session)"
                + (f": {refused} refused" if refused else ""))
    if outside:
        head.append(f"# warning: {outside} change(s) made from Python are not shell lines and are not replayed")
    if level:
        head += ["# replay, in Python:", f"#   lv = iommulab.level({level!r}); lv.sh(open('session.sh').read())"]
    elif library:
        head += ["# replay, in Python:",
                 "#   from iommulab.course.sandbox import boot",
                 f"#   k = boot({scenario!r}, {version!r}); k.sh(open('session.sh').read())"]
        if own == version:
            head.append(f"# or in a terminal:  iommulab sh --scenario {scenario} -c \"$(cat session.sh)\"")
        else:
            head += [f"# or in a terminal, with a copy of {scenario}.toml whose [kernel] version is \"{version}\":",
                     "#   iommulab sh --scenario my.toml -c \"$(cat session.sh)\""]
    else:
        head.append("# replay: k.sh(open('session.sh').read()) on a fresh boot of the same scenario file")
    if not any(not b.startswith("#") for b in body):      # a script of comments alone is a syntax error to
        body.append("true  # nothing to replay yet")       # iommulab's shell (bashlex): one command that does nothing
    script = "\n".join(body) + "\n"
    if check:
        head.append("# checked: replayed on a fresh boot, it gives the machine as it is now" if replays(k, script)
                    else "# warning: replayed on a fresh boot, it does NOT give the machine as it is now")
    return "\n".join(head + [""]) + "\n" + script


def download_link(script, filename="iommulab-session.sh"):
    """An HTML link that saves `script` as a file (a data: URL; nothing leaves the browser)."""
    data = base64.b64encode(script.encode("utf-8")).decode("ascii")
    return (f'<a download="{html.escape(filename)}" href="data:text/x-shellscript;base64,{data}" '
            f'class="iommulab-sandbox-download" style="color:#0060A0;text-decoration:underline">'
            f'download {html.escape(filename)}</a>')


# --- the widget -----------------------------------------------------------------------------------

def _short(title):
    return title if len(title) <= _ENOUGH_FOR_A_PICK + 10 else title[:_ENOUGH_FOR_A_PICK].rstrip() + "…"


def _level_titles():
    """[(id, title)] of the levels the package ships, in their order (level_ids()), read from the
    files alone (definition() would also build each level's machine text)."""
    from .level import _files, definition_file
    return [(d["id"], str(d.get("title", ""))) for d in map(definition_file, _files())]


class SandboxView:
    """The sandbox's behaviour; sandbox() mixes it with an ipywidgets VBox (iommulab.widgets stays
    free of the course, and `import iommulab` of ipywidgets). `k` is the machine shown (a booted
    scenario, or the open level's), `lab` its Lab, `level` the open Level or None."""

    def __init__(self, scenario=None, version=None, **kw):
        super().__init__(**kw)
        self._setup(scenario, version)

    def _setup(self, scenario, version):
        import ipywidgets as W
        self.level = self.view = self._machine = None
        self.scenario, self.version = None, None
        self._pending = ""
        names = scenarios()
        self.scenario_d = W.Dropdown(options=[(f"{n} — {_short(t)}" if t else n, n) for n, t in names],
                                     description="scenario", layout=W.Layout(width="28em"))
        self.version_d = W.Dropdown(description="version", layout=W.Layout(width="24em"))
        self.boot_b = self._button("boot", "iommulab-sandbox-boot", "boot the chosen machine at the chosen version")
        self.level_d = W.Dropdown(options=[(f"{i} — {_short(t)}" if t else i, i) for i, t in _level_titles()],
                                  description="level", layout=W.Layout(width="28em"))
        self.open_b = self._button("open", "iommulab-sandbox-open", "open the level on its own machine")
        self.export_b = self._button("export my session", "iommulab-sandbox-export",
                                     "the lines you ran, as a shell script that replays them")
        self.status = W.HTML()
        self.status.add_class("iommulab-sandbox-status")
        self.script = W.Textarea(layout=W.Layout(width="100%", height="12em"))
        self.script.add_class("iommulab-sandbox-script")
        self.download = W.HTML()
        self.download.add_class("iommulab-sandbox-download-box")
        self.export_box = W.VBox([self.script, self.download])
        self.export_box.layout.display = "none"
        self.stage = W.VBox()
        self.stage.add_class("iommulab-sandbox-stage")
        self.boot_b.on_click(lambda b: self._guard(self.on_boot))
        self.open_b.on_click(lambda b: self._guard(self.on_open))
        self.export_b.on_click(lambda b: self._guard(self.on_export))
        self.scenario_d.observe(lambda change: self._guard(self._versions_for), names="value")
        rows = [W.HBox([self.scenario_d, self.version_d, self.boot_b], layout=W.Layout(flex_flow="row wrap")),
                W.HBox([self.level_d, self.open_b, self.export_b], layout=W.Layout(flex_flow="row wrap")),
                self.status, self.export_box, self.stage]
        self.children = tuple(rows)
        self.add_class("iommulab-sandbox")
        if scenario is not None and scenario not in dict(names):
            self._warn(f"no library scenario {html.escape(repr(scenario))}: showing {DEFAULT_SCENARIO}")
            scenario = None
        self.scenario_d.value = scenario or DEFAULT_SCENARIO
        self._guard(self._versions_for)
        if version not in (None, ""):
            if str(version) in dict(self.version_d.options).values():
                self.version_d.value = str(version)
            else:
                self._warn(f"no version {html.escape(repr(version))} to pick: showing the scenario's own")
        self._guard(self.on_boot)

    @property
    def k(self):
        """The machine shown: the booted scenario's, or the open level's (its reset boots a new one)."""
        return self.level.k if self.level is not None else self._machine

    @property
    def lab(self):
        """The Lab shown (inside the level's panel when a level is open)."""
        return self.view.lab if self.level is not None else self.view

    @staticmethod
    def _button(text, cls, tip):
        import ipywidgets as W
        b = W.Button(description=text, tooltip=tip, layout=W.Layout(width="auto", flex="0 0 auto"))
        b.add_class(cls)
        return b

    def _guard(self, fn):
        from ..widgets.common import guarded
        guarded(fn, lambda text: self._say(text, error=True))

    def _say(self, text, error=False):
        cls = "iommulab-error" if error else "iommulab-sandbox-note"
        self.status.value = self._pending + f'<div class="{cls}">{text}</div>'
        self._pending = ""

    def _warn(self, text):
        """A note about the sandbox's arguments, kept above what the first boot says."""
        self._pending += f'<div class="iommulab-error">{text}</div>'

    def _versions_for(self):
        """The version choices, the first being the chosen scenario's own version."""
        try:
            own = own_version(self.scenario_d.value)
        except (SandboxError, ScenarioError):
            own = "?"
        keep = self.version_d.value
        options = [(f"{own} (the scenario's own)", "")]
        options += [(f"{v} — {note}" if note else v, v) for v, note in VERSIONS if v != own]
        self.version_d.options = options
        self.version_d.value = keep if keep in [o[1] for o in options] else ""

    def on_boot(self):
        """Boot the chosen scenario at the chosen version into a new Lab (a bad combination keeps the
        machine shown and says why)."""
        from ..widgets.lab import Lab
        scenario, version = self.scenario_d.value, self.version_d.value or None
        try:
            k = boot(scenario, version)
        except SandboxError as e:
            self._say(f"cannot boot {html.escape(scenario)} at {html.escape(str(version))}: {html.escape(str(e))}",
                      error=True)
            return
        self._show(Lab(k), k, None)
        self.scenario, self.version = scenario, k.scenario["kernel"]["version_text"]
        self._say(f"booted <b>{html.escape(scenario)}</b> at Linux {html.escape(self.version)}: act in the Lab below, "
                  "then “export my session”")

    def on_open(self):
        """Open the chosen level (a LevelLab on the level's own machine) in place of the Lab."""
        from ..widgets.level import LevelLab
        from .level import open_level
        lv = open_level(self.level_d.value)
        view = LevelLab(lv)
        self._show(view, lv.k, lv)
        self.scenario = lv.d.scenario
        self.version = lv.k.scenario["kernel"]["version_text"]
        self._say(f"level <b>{html.escape(lv.id)}</b>: {html.escape(lv.title)} (on its own machine, "
                  f"{html.escape(self.scenario)} at Linux {html.escape(self.version)})")

    def _show(self, view, k, level):
        old = self.view
        self.view, self._machine, self.level = view, k, level
        self.stage.children = (view,)
        self.export_box.layout.display = "none"
        self.script.value, self.download.value = "", ""
        if old is not None:
            old.close()

    def on_export(self):
        if self.k is None:
            self._say("nothing to export yet: boot a machine or open a level first", error=True)
            return
        text = self.export()
        self.script.value = text
        name = f"iommulab-{self.level.id if self.level else self.scenario}.sh"
        self.download.value = download_link(text, name)
        self.export_box.layout.display = None
        self._say(f"your session as a script ({text.count(chr(10))} lines): copy it, or download it below")

    def export(self):
        """The script of the machine shown (what "export my session" puts in the text box)."""
        if self.level is not None:
            return export_session(self.k, self.level.d.scenario, self.version, level=self.level.id)
        return export_session(self.k, self.scenario, self.version)


_CLASS = None


def sandbox(scenario=None, version=None):
    """The sandbox widget: `iommulab.sandbox()`, or `iommulab.sandbox("seed-001", "6.6")` to boot
    that machine at once. A bad choice says so in the widget (no exception)."""
    global _CLASS
    if _CLASS is None:
        import ipywidgets as W
        from ..widgets.common import StaticFallback

        class Sandbox(SandboxView, StaticFallback, W.VBox):
            __doc__ = SandboxView.__doc__

        _CLASS = Sandbox
    return _CLASS(scenario, version)


__all__ = ["VERSIONS", "SandboxError", "boot", "download_link", "export_session", "machine_toml", "own_version",
           "replays", "sandbox", "scenarios", "session_lines", "versions"]
