"""Levels as data: a TOML file names the machine, the goal as clauses over what a learner can
observe, constraints, ordered hints, a reference solution and the take-away (README "Levels";
ARCHITECTURE.md "Add a level"). `iommulab.level(id)` opens one on a freshly booted machine.

    lv = iommulab.level("gpu-passthrough")
    lv                      # in a notebook: the Lab with a goal panel (check, hint, solution, reset)
    lv.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    lv.check()              # which clauses hold, and for each that does not, why
    lv.hint()               # the next authored hint, then the next step computed from *your* state
"""
import fnmatch
import html
import posixpath
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import CourseError
from ..kernel.kernel import Kernel
from ..shell import timeline_for
from . import modes, progress
from .goals import GoalError, Observed, clause, is_qemu, program as _command
from .hints import Hint, action_reason
from .search import search

LEVELS = "levels"                  # the directory of level files, in this package
TOP_KEYS = {"id", "title", "story", "scenario", "machine", "version", "cmdline", "intro", "takeaway", "bound",
            "solution", "goal", "constraints", "hints", "search"}
CONSTRAINT_KEYS = {"max_actions", "never_unbind", "forbid_commands", "forbid_writes"}


class LevelError(CourseError):
    """A level file that cannot be used: which file, and what is wrong with it."""


# --- loading ---------------------------------------------------------------------------------------

@dataclass
class Definition:
    id: str
    title: str
    machine: str                     # the scenario's TOML text
    scenario: str                    # its name (a library scenario) or "inline"
    goal: list
    solution: str
    hints: list                      # [(text, when-clause or None)]
    bound: int
    story: str = ""
    intro: str = ""
    takeaway: str = ""
    version: str = ""
    constraints: dict = field(default_factory=dict)
    search_actions: tuple | None = None
    search_devices: tuple = ()
    source: str = ""


def _scenario_text(name, kernel, source, base):
    import tomlkit
    if name.endswith(".toml"):
        path = Path(base or ".") / name
    else:
        path = resources.files("iommulab.scenarios") / f"{name}.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, FileNotFoundError):
        raise LevelError(f"{source}: no scenario {name!r}") from None
    if kernel:
        doc = tomlkit.parse(text)
        table = doc.setdefault("kernel", tomlkit.table())
        for key, value in kernel.items():
            table[key] = value
        text = tomlkit.dumps(doc)
    return text


def parse(text, source="<level>", base=None):
    """A level Definition from its TOML text; LevelError says what is wrong. A `scenario` that is
    a .toml file name is looked for in `base` (a directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LevelError(f"{source}: not TOML: {e}") from None
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise LevelError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(sorted(unknown))}")
    for key in ("id", "title", "goal", "solution"):
        if key not in data:
            raise LevelError(f"{source}: a level needs `{key}`")
    if ("scenario" in data) == ("machine" in data):
        raise LevelError(f"{source}: name a library `scenario` or give an inline [machine], one of them")
    version = str(data.get("version", ""))
    kernel = {key: str(data[key]) for key in ("version", "cmdline") if key in data}   # over the machine's
    if "machine" in data:
        import tomlkit
        machine = dict(data["machine"])
        machine["kernel"] = {**machine.get("kernel", {}), **kernel}
        text_m, scen = tomlkit.dumps(machine), "inline"
    else:
        text_m, scen = _scenario_text(data["scenario"], kernel, source, base), data["scenario"]
    try:
        goal = [clause(c) for c in data["goal"]]
        hints = [(h["text"], clause(h["when"]) if "when" in h else None) if isinstance(h, dict) else (h, None)
                 for h in data.get("hints", [])]
    except (GoalError, KeyError, TypeError) as e:
        raise LevelError(f"{source}: {e}") from None
    cons = dict(data.get("constraints", {}))
    if set(cons) - CONSTRAINT_KEYS:
        raise LevelError(f"{source}: unknown constraint {', '.join(sorted(set(cons) - CONSTRAINT_KEYS))}")
    srch = data.get("search", {})
    return Definition(id=data["id"], title=data["title"], machine=text_m, scenario=scen, goal=goal,
                      solution=data["solution"], hints=hints, bound=int(data.get("bound", 6)),
                      story=data.get("story", ""), intro=data.get("intro", ""), takeaway=data.get("takeaway", ""),
                      version=version, constraints=cons,
                      search_actions=tuple(srch["actions"]) if "actions" in srch else None,
                      search_devices=tuple(srch.get("devices", ())), source=source)


def level_ids():
    """The ids of the levels the package ships, in their files' order (NN-name.toml)."""
    return [definition_file(p)["id"] for p in _files()]


def _files():
    return sorted((p for p in _dir().iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)


def _dir():
    return resources.files("iommulab.course") / LEVELS


def definition_file(p):
    return tomllib.loads(p.read_text(encoding="utf-8"))


def definition(level_id):
    for p in _files():
        text = p.read_text(encoding="utf-8")
        if tomllib.loads(text).get("id") == level_id:
            return parse(text, f"levels/{p.name}", base=_dir())
    raise LevelError(f"no level {level_id!r}; the levels are: {', '.join(level_ids())}")


# --- a level being played ---------------------------------------------------------------------------

@dataclass(repr=False)
class Check:
    """What level.check() returns: `passed`, and per clause (words, holds, why it does not)."""
    level: str
    clauses: list                    # [(words, holds, why or "")]
    broken: list                     # constraint sentences
    actions: int

    @property
    def passed(self):
        return all(ok for _, ok, _ in self.clauses) and not self.broken

    @property
    def failing(self):
        return [(w, why) for w, ok, why in self.clauses if not ok]

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return str(self)

    def __str__(self):
        out = [f"level {self.level}: {'passed' if self.passed else 'not yet'}"]
        for words, ok, why in self.clauses:
            out.append(f"  {'✓' if ok else '✗'} {words}" + ("" if ok else f"\n      {why}"))
        out += [f"  ✗ constraint: {b}" for b in self.broken]
        return "\n".join(out)

    def _repr_html_(self):
        rows = []
        for words, ok, why in self.clauses:
            mark = '<span style="color:#009E73">✓</span>' if ok else '<span style="color:#D55E00">✗</span>'
            rows.append(f"<li>{mark} {html.escape(words)}"
                        + ("" if ok else f'<br><span class="why">{html.escape(why)}</span>') + "</li>")
        rows += [f'<li><span style="color:#D55E00">✗</span> constraint: {html.escape(b)}</li>' for b in self.broken]
        head = "passed" if self.passed else "not yet"
        return (f'<div class="iommulab-check"><b>{html.escape(self.level)}: {head}</b>'
                f'<ul style="list-style:none;padding-left:0.5em">{"".join(rows)}</ul></div>')


class Level:
    """A level on its own machine. Acting: `sh()` (or the Lab it displays as). Asking: `check()`,
    `hint()`, `next_step()`, `solution()` (asks first). `reset()` boots the machine again."""

    def __init__(self, d: Definition):
        self.d = d
        self.id, self.title = d.id, d.title
        self.hints_shown = set()
        self.k = None
        self.shell = None        # a displayed view's shell (LevelLab sets it): lv.sh() runs there, so
        self.reset()             # its picture, log and goal ticks follow a line typed in code
        if modes.solutions():
            self.solve()

    # --- the machine ---------------------------------------------------------------------------

    def reset(self):
        """A freshly booted machine; hints start again from the first."""
        self.k = Kernel.from_toml(self.d.machine, self.d.source or self.d.id)
        self.shell = None                        # a view of the old machine no longer runs this one's lines
        self.timeline = timeline_for(self.k)
        self.start_state = self.k.state()
        self.start_attempts = len(self.timeline.attempts)
        self.start_step = len(self.timeline.steps) - 1
        self.hints_shown = set()
        return self

    def sh(self, script):
        """Run shell text on the level's machine (as the Lab's shell box does; through it, when
        the level is displayed)."""
        if self.shell is not None:
            return self.shell(script)
        return self.k.sh(script)

    def observed(self, devices=None):
        """The state now and the tries on the timeline's present branch since the level began
        (an undone step takes back what was tried at it); with `devices`, the state of only those
        and their groups (a hint's focus)."""
        tl = self.timeline
        tries = [a for a in tl.attempts[self.start_attempts:] if tl.on_branch(a)]
        return Observed.of(self.k, tries, self.start_state, devices)

    @property
    def actions_taken(self):
        """Steps that changed the machine since the level began (undo takes one back)."""
        return max(0, self.timeline.position - self.start_step)

    # --- checking -------------------------------------------------------------------------------

    def goal_holds(self, obs):
        return all(c.holds(obs) for c in self.d.goal)

    def check(self, record=True):
        """Which goal clauses hold now, why each other does not, and the constraints broken."""
        obs = self.observed()
        clauses = [(c.words(), ok, "" if ok else c.why_not(obs)) for c in self.d.goal for ok in [c.holds(obs)]]
        result = Check(self.id, clauses, self.broken_constraints(obs), self.actions_taken)
        if record and result.passed and not modes.solutions():
            progress.level_passed(self.id, result.actions)
        if modes.solutions() and not result.passed:
            raise modes.SolutionFailed(f"the solution of level {self.id} does not reach its goal:\n{result}")
        return result

    def broken_constraints(self, obs):
        """The constraints broken on the present branch, in words."""
        return list(dict.fromkeys(words for words, _ in self._breaches(obs)))

    def _breaches(self, obs):
        """(words, the attempt that broke it or None) for each constraint broken."""
        c = self.d.constraints
        out = []
        if "max_actions" in c and self.actions_taken > c["max_actions"]:
            out.append((f"at most {c['max_actions']} actions that change the machine "
                        f"(you have taken {self.actions_taken}; undo takes them back)", None))
        for a in obs.attempts:
            word = _command(a.line)
            if word in c.get("forbid_commands", ()):
                out.append((f"this level is done without {word} (you ran: {a.line})", a))
            for e in a.events:
                if e.op == "release-driver" and e.refs and e.refs[0][1] in c.get("never_unbind", ()):
                    out.append((f"{e.refs[0][1]} must keep its driver (it lost it in: {a.line})", a))
                written = posixpath.normpath(str(e.refs[1][1])) if len(e.refs) > 1 else ""
                if (e.depth == 0 and e.op == "write" and not e.refused
                        and any(fnmatch.fnmatchcase(written, g) for g in c.get("forbid_writes", ()))):
                    out.append((f"this level is done without writing {e.refs[1][1]}", a))
        return out

    def _undo_breaches(self, obs):
        """A way-back hint when a constraint is broken (what was done stays done: only undoing
        the step that broke it helps), or None."""
        breaches = self._breaches(obs)
        if not breaches:
            return None
        words, a = breaches[0]
        here = self.timeline.position
        if a is None:                                       # too many actions
            back = self.actions_taken - self.d.constraints["max_actions"]
        else:                                               # back to the step before it
            back = here - a.step + 1
        back = max(0, min(back, here - self.start_step))
        if back == 0:
            return Hint("stuck", f"A constraint is broken: {words}. Reset the level.")
        return Hint("way-back", f"A constraint is broken: {words}. Undo {back} step{'s' if back > 1 else ''} "
                    "to take it back (or reset the level), and go on from there.", undo=back)

    def allowed(self, line):
        """Whether the search may use this line (it keeps the level's constraints)."""
        c = self.d.constraints
        if _command(line) in c.get("forbid_commands", ()):
            return False
        for dev in c.get("never_unbind", ()):
            if dev in line and (line.endswith("/unbind") or line.endswith("/remove")):
                return False
        path = line.split("> ", 1)[-1].strip() if line.startswith("echo") else ""
        return not any(fnmatch.fnmatchcase(path, g) for g in c.get("forbid_writes", ()))

    # --- hints --------------------------------------------------------------------------------------

    def named_devices(self):
        """The devices the goal's clauses name (what the goal window draws)."""
        return set().union(*(c.device_set() for c in self.d.goal))

    def focus(self):
        """The devices a computed hint may act on: those the goal names, every member of the
        groups it names, and the level's [search] devices."""
        named = set(self.d.search_devices) | self.named_devices()
        for c in self.d.goal:                   # a group named by its number: its members (api.md §2)
            ref = c.spec.get("group")
            if isinstance(ref, int) and ref in self.k.iommu_groups:
                named |= {d.name for d in self.k.iommu_groups[ref].devices}
            elif isinstance(ref, str):
                named.add(ref)
        obs = self.observed(named)
        devs = set(self.d.search_devices)
        groups = set()
        for c in self.d.goal:
            devs |= c.device_set()
            groups |= c.groups(obs)
        for d in list(devs):
            g = obs.state["devices"].get(d, {}).get("group")
            if g is not None:
                groups.add(g)
        for n in groups:
            devs |= set(obs.state["groups"].get(n, {}).get("devices", ()))
        return devs

    def _search(self, depth=None, focus=None):
        named = set(self.d.search_devices) | self.named_devices()
        return search(self.k, self.goal_holds, focus or self.focus(), depth or self.d.bound,
                      start_attempts=self.start_attempts, start_state=self.start_state,
                      allow=self.d.search_actions, allowed=self.allowed, named=named,
                      estimate=self.actions_left, history=any(c.history for c in self.d.goal))

    def actions_left(self, obs):
        """A lower bound of the actions from this state to the goal: the largest clause's, or the
        clauses' moves together (each device that must leave a driver, each that must bind one,
        and a program that must start, take an action each), whichever is more."""
        one = max((c.actions_left(obs) for c in self.d.goal), default=0)
        leave, join, start = set(), set(), False
        for c in self.d.goal:
            m = c.moves(obs)
            if m is not None:
                leave |= m[0]
                join |= m[1]
                start = start or m[2]
        return max(one, len(leave) + len(join) + start)

    def hint(self):
        """The next authored hint that applies now; when they are all shown, the next step
        computed from your own state (next_step)."""
        obs = self.observed()
        broken = self._breaches(obs)
        if self.goal_holds(obs) and not broken:
            return Hint("done", "The goal holds: run check() (or press check).")
        if broken:                               # a broken rule first: the way back, not the next hint
            back = self._undo_breaches(self.observed(self.focus()))
            if back is not None:
                return back
        for i, (text, when) in enumerate(self.d.hints):
            if i not in self.hints_shown and (when is None or when.holds(obs)):
                self.hints_shown.add(i)          # a hint whose time has not come is kept for later
                return Hint("authored", text)
        return self.next_step()

    def next_step(self):
        """The first action of the shortest way from here to the goal, and why; if there is none
        within the level's bound, the fewest undos that lead back to a step from which there is."""
        focus = self.focus()
        obs = self.observed(focus)
        back = self._undo_breaches(obs)
        if back is not None:
            return back
        if self.goal_holds(obs):
            return Hint("done", "The goal holds: run check() (or press check).")
        found = self._search(focus=focus)
        if found.found:
            a = found.actions[0]
            why = action_reason(self.k, a, focus)
            left = len(found.actions)
            text = (f"Next: {why}." if why else "Next:") + (
                f" ({left} action{'s' if left > 1 else ''} from the goal, this one included.)")
            return Hint("next", text, a.script())
        return self._way_back(found)

    def _way_back(self, found):
        tl = self.timeline
        here = tl.position
        for back in range(1, here - self.start_step + 1):
            with tl.excursion():
                tl.go(here - back)
                f = self._search()
            if f.found:
                step = tl.steps[here - back]
                return Hint("way-back",
                            f"From here the goal cannot be reached within {self.d.bound} actions. "
                            f"Undo {back} step{'s' if back > 1 else ''} (back to step {here - back}: {step.action}), "
                            f"or reset the level, and go on from there.", undo=back)
        return Hint("stuck", f"No way to the goal within {self.d.bound} actions from here: reset the level."
                    + (" (The search stopped at its state limit.)" if found.limit else ""))

    # --- the solution -----------------------------------------------------------------------------------

    def solution(self, confirm=None):
        """The reference solution's shell text. Asks first, as a learner should try before looking:
        solution(confirm=True) shows it without asking."""
        if confirm is None and not modes.solutions():
            return ("Try first — hint() gives the next step. To see the solution, call "
                    "solution(confirm=True).")
        return self.d.solution

    def solve(self):
        """Reset and run the reference solution (what CI replays; solution mode does this on open)."""
        self.reset()
        r = None
        for chunk in self.solution_chunks():
            r = self.k.sh(chunk)
        return r

    def solution_chunks(self):
        """The solution as a learner types it: a panic ends a script (as on a real host), so each
        `reboot` line is typed on its own, after the script that crashed."""
        chunks, cur = [], []
        for line in self.d.solution.strip("\n").splitlines():
            if line.strip() == "reboot":
                chunks += ["\n".join(cur), "reboot"] if cur else ["reboot"]
                cur = []
            else:
                cur.append(line)
        if cur:
            chunks.append("\n".join(cur))
        return [c for c in chunks if c.strip()]

    # --- display ------------------------------------------------------------------------------------

    def progress_note(self):
        """Where the learner's progress is kept, and whether it lasts (Binder forgets)."""
        return progress.where()

    def goal_words(self):
        return [c.words() for c in self.d.goal]

    def __repr__(self):
        goal = "\n".join(f"  - {w}" for w in self.goal_words())
        return f"level {self.id}: {self.title}\n{self.d.intro.strip()}\ngoal:\n{goal}"

    def _ipython_display_(self):
        from IPython.display import display
        from ..widgets.level import LevelLab
        display(LevelLab(self))


def open_level(level_id) -> Level:
    return Level(definition(level_id))


__all__ = ["Level", "LevelError", "Check", "open_level", "level_ids", "definition", "parse", "is_qemu"]
