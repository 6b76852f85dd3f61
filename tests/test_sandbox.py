"""The sandbox (issue 16, "Sandbox"): any library scenario at any modelled version, the level
picker, and "export my session" as a shell script that, replayed on a fresh boot of the same
machine, gives the same state: the lines on the timeline's present branch, undone ones and `undo`
left out, lines that changed nothing (cd, variables, refused writes) kept."""
import base64
import random
import re
from dataclasses import replace

import pytest

import iommulab
from iommulab.check.explore import possible_actions
from iommulab.course import sandbox as sb
from iommulab.course.sandbox import boot, export_session, session_lines
from iommulab.shell import timeline_for


def script_lines(script):
    """The lines a script runs (its comments and blank lines left out)."""
    return [x for x in script.splitlines() if x.strip() and not x.lstrip().startswith("#")]


def replayed(scenario, version, script):
    k = iommulab.Kernel.from_toml(sb.machine_toml(scenario, version))
    k.sh(script)
    return k


# --- versions -------------------------------------------------------------------------------------

def test_every_feature_set_of_the_kernel_model_has_a_version_to_pick():
    from iommulab.kernel.version import NEWEST, RFC_2021, features_for, parse_version
    offered = {replace(features_for(parse_version(v)), release="") for v, _ in sb.VERSIONS}
    missing, prev = [], None
    for major, minors in ((5, range(18, 20)), (6, range(0, int(NEWEST.split(".")[1]) + 1))):
        for minor in minors:
            for patch in range(300):
                f = replace(features_for((major, minor, patch)), release="")
                if f != prev and f not in offered:
                    missing.append(f"{major}.{minor}.{patch}")
                prev = f
    assert missing == []
    names = [v for v, _ in sb.VERSIONS]
    assert NEWEST in names and RFC_2021 in names and "5.18" == names[0]
    assert len(set(names)) == len(names)


def test_every_version_offered_boots():
    for v, _ in sb.VERSIONS:
        k = boot("desktop-gpu", v)
        assert k.scenario["kernel"]["version_text"] == v


def test_the_timeline_names_python_changes_as_the_sandbox_expects():
    from iommulab.shell.timeline import OUTSIDE
    assert sb.OUTSIDE == OUTSIDE


def test_scenarios_are_the_library_files():
    from iommulab.kernel.scenario import builtin_names
    assert [n for n, _ in sb.scenarios()] == builtin_names()
    import tomllib
    from iommulab.kernel.scenario import SCENARIO_DIR
    for name, title in sb.scenarios():                  # read without parsing the whole file: the same
        assert title and title == tomllib.loads((SCENARIO_DIR / f"{name}.toml").read_text())["title"]


def test_boot_takes_the_version_asked_and_a_bad_one_says_why():
    assert boot("seed-001").version == (6, 4, 0)
    assert boot("seed-001", "6.6").version == (6, 6, 0)
    assert boot("seed-001", "6.6").scenario["kernel"]["config"]["CONFIG_DEBUG_TEST_DRIVER_REMOVE"]
    with pytest.raises(sb.SandboxError, match="older than 5.18"):
        boot("seed-001", "4.19")
    with pytest.raises(sb.SandboxError, match="no library scenario"):
        boot("no-such-machine")


# --- the export replays -------------------------------------------------------------------------

REFUSED = ("echo 0000:99:00.0 > /sys/bus/pci/drivers_probe",          # no such device: -ENODEV
           "echo nosuch > /sys/bus/pci/drivers/vfio-pci/new_id",      # not an id: -EINVAL
           "cat /sys/bus/pci/devices/0000:99:00.0/vendor")            # no such file


def learner(k, rng, n):
    """n random actions a learner might take on k (the explorer's possible actions, VMs and kills
    preferred, plus cd and a variable used later, read-only lines, refused lines and undo), run one
    k.sh() at a time as the Lab's shell runs them. Returns the lines the export should hold, kept by
    a model of its own: `undo` takes back the lines since the start of the step shown, and itself;
    a line that made two steps (`kill %1` waking a blocked write) whose second is undone stays,
    followed by an `undo` of its own."""
    tl = timeline_for(k)
    kept = []
    marks = []                           # per step after the boot: (index in kept where it began, woken?)
    for _ in range(n):
        roll = rng.random()
        if roll < 0.12 and tl.position > 0:
            k.sh("undo")
            cut, woken = marks.pop()
            if woken:
                kept.append("undo")
            else:
                del kept[cut:]
            continue
        if roll < 0.22:
            line = rng.choice(REFUSED)
        elif roll < 0.28:
            line = rng.choice(("ls /sys/kernel/iommu_groups", "jobs", "cd /sys/bus/pci/devices", "cd /"))
        else:
            acts = possible_actions(k)
            if not acts:
                break
            vms = [a for a in acts if a.kind in ("vm", "kill")]
            a = rng.choice(vms if vms and rng.random() < 0.3 else acts)
            line = a.script()
            if a.kind == "unbind" and rng.random() < 0.5:          # through a variable set on a line of its own
                kept.append(f"DEV={a.args[0]}")
                k.sh(kept[-1])
                line = line.replace(a.args[0], "$DEV", 1)
        steps = len(tl.steps)
        k.sh(line)
        made = len(tl.steps) - steps
        assert made in (0, 1, 2)
        if made:
            marks.append((len(kept), False))
        if made == 2:
            marks.append((len(kept), True))
        kept.append(line)
    return kept


CASES = [("desktop-gpu", None, 1), ("desktop-gpu", "5.18", 2), ("seed-001", None, 3), ("seed-001", "6.6", 4),
         ("server-sriov", None, 5), ("nxp-dpaa2", None, 6), ("arm-soc-streamid", "6.1", 7),
         ("workstation-no-acs", None, 8), ("seed-004-type", "6.3", 9), ("pre-5.19-bug", None, 10),
         ("iommufd-no-msi-isolation", "6.2", 11), ("legacy-pci-bridge", "rfc-2021-11", 12)]


@pytest.mark.parametrize("scenario,version,seed", CASES, ids=[f"{s}@{v or 'own'}" for s, v, _ in CASES])
def test_the_exported_session_replays_to_the_same_state(scenario, version, seed):
    k = boot(scenario, version)
    want = learner(k, random.Random(seed), 14)
    script = export_session(k)
    assert script_lines(script) == want
    assert "# checked: replayed on a fresh boot, it gives the machine as it is now" in script
    head = script.splitlines()[0]
    assert scenario in head and k.scenario["kernel"]["version_text"] in head
    again = replayed(scenario, version, script)
    assert again.state() == k.state()


def test_the_random_sessions_mix_what_they_claim():
    """The mixes above include undo, refused lines, a variable set on one line and used on another,
    a cd, and lines that changed the machine (else the replay test would prove little)."""
    seen = {"undo": 0, "refused": 0, "variable": 0, "cd": 0, "changed": 0}
    for scenario, version, seed in CASES[:6]:
        k = boot(scenario, version)
        want = learner(k, random.Random(seed), 14)
        tl = timeline_for(k)
        seen["undo"] += sum(a.line == "undo" for a in tl.attempts)
        seen["refused"] += sum(line in REFUSED for line in want)
        seen["variable"] += sum("$DEV" in line for line in want)
        seen["cd"] += sum(line.startswith("cd ") for line in want)
        seen["changed"] += tl.position
    assert all(seen.values()), seen


def test_undone_lines_are_not_exported_and_the_filter_matters():
    k = boot("desktop-gpu")
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override")
    k.sh("undo")
    k.sh("cd /sys/bus/pci/devices")
    k.sh("echo vfio-pci > 0000:01:00.1/driver_override")
    script = export_session(k)
    assert script_lines(script) == ["echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind",
                                    "cd /sys/bus/pci/devices",
                                    "echo vfio-pci > 0000:01:00.1/driver_override"]
    assert replayed("desktop-gpu", None, script).state() == k.state()
    # every line ever run, undo left out, would not give this machine: the undone override comes back
    everything = "\n".join(a.line for a in timeline_for(k).attempts if a.line != "undo")
    assert replayed("desktop-gpu", None, everything).state() != k.state()


def test_the_lab_undo_button_and_acting_in_the_past_leave_lines_out():
    from iommulab.widgets.lab import Lab
    k = boot("desktop-gpu")
    lab = Lab(k)
    lab.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    lab.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind")
    lab.undo_b.click()
    lab.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.1/driver_override")
    timeline_for(k).go(0)               # back to the boot (the slider), then act there: a new branch
    lab.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override")
    lines = script_lines(export_session(k))
    assert lines == ["echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override"]
    assert replayed("desktop-gpu", None, export_session(k)).state() == k.state()


def test_a_refused_line_is_kept_marked_and_does_not_stop_the_replay():
    k = boot("desktop-gpu")
    k.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind")          # no id match: refused
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    script = export_session(k)
    assert "# refused or failed when you ran it (exit status" in script
    assert script_lines(script)[0].endswith("vfio-pci/bind")
    again = replayed("desktop-gpu", None, script)
    assert again.state() == k.state()
    assert again.state()["devices"]["0000:01:00.1"]["driver"] is None       # the line after it ran


def test_a_change_from_python_is_named_not_replayed():
    k = boot("desktop-gpu")
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.write("/sys/bus/pci/devices/0000:01:00.0/driver_override", "vfio-pci")
    k.sh("ls")
    script = export_session(k)
    assert "not shell lines" in script and sb.OUTSIDE not in script_lines(script)
    assert script_lines(script) == ["echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind", "ls"]


def test_a_line_with_undo_inside_is_left_out_with_a_comment():
    assert sb.is_undo("undo") and sb.is_undo("undo 2") and sb.is_undo("echo 1 > f; undo")
    assert not sb.is_undo("echo undo") and not sb.is_undo("cat /tmp/undone")
    k = boot("desktop-gpu")
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override; undo")
    script = export_session(k)
    assert script_lines(script) == ["echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind"]
    assert "# left out, it runs `undo`" in script
    assert replayed("desktop-gpu", None, script).state() == k.state()


def test_the_header_says_how_to_replay():
    own = export_session(boot("seed-001"))
    assert own.startswith("# iommulab session: scenario seed-001, Linux 6.4 (the scenario's own version)")
    assert 'iommulab sh --scenario seed-001 -c "$(cat session.sh)"' in own
    other = export_session(boot("seed-001", "6.6"))
    assert other.startswith("# iommulab session: scenario seed-001, Linux 6.6\n")
    assert "boot('seed-001', '6.6')" in other and "--scenario seed-001 -c" not in other


def test_an_empty_session_replays_without_a_syntax_error():
    k = boot("desktop-gpu")
    script = export_session(k)
    assert script_lines(script) == ["true  # nothing to replay yet"]
    r = boot("desktop-gpu").sh(script)
    assert (r.status, r.stderr) == (0, "")


def test_the_terminal_replay_the_header_names_works(capsys):
    from iommulab.cli import main
    k = boot("seed-001")
    k.sh("echo 0000:03:00.1 > /sys/bus/pci/drivers/hns3/unbind")
    k.sh("cat /sys/bus/pci/devices/0000:03:00.1/uevent")
    script = export_session(k)
    assert main(["sh", "--scenario", "seed-001", "-c", script + "ls /sys/bus/pci/devices/0000:03:00.1/driver"]) != 0
    out = capsys.readouterr()
    assert "DRIVER=" not in out.out and "No such file" in out.err           # the unbind ran: no driver


def test_session_lines_are_the_branch_filter():
    k = boot("desktop-gpu")
    k.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    k.sh("undo")
    tl = timeline_for(k)
    assert [a.line for a in session_lines(k)] == [a.line for a in tl.attempts if tl.on_branch(a)] == ["undo"]


# --- the widget -----------------------------------------------------------------------------------

@pytest.fixture
def w():
    return iommulab.sandbox()


def shown(w):
    return w.stage.children[0]


def test_the_sandbox_boots_the_default_machine_with_its_choices(w):
    from iommulab.widgets.lab import Lab
    assert isinstance(shown(w), Lab) and shown(w) is w.lab and w.lab.k is w.k
    assert w.scenario_d.value == sb.DEFAULT_SCENARIO
    assert [o[1] for o in w.scenario_d.options] == [n for n, _ in sb.scenarios()]
    assert w.version_d.value == "" and "6.6 (the scenario's own)" == w.version_d.options[0][0]
    assert [o[1] for o in w.level_d.options] == iommulab.levels()
    assert "iommulab-error" not in w.status.value and "booted" in w.status.value


def test_boot_shows_the_chosen_machine_at_the_chosen_version(w):
    first = w.lab
    w.scenario_d.value = "seed-001"
    assert w.version_d.options[0] == ("6.4 (the scenario's own)", "")
    w.version_d.value = "6.6"
    w.boot_b.click()
    assert shown(w) is w.lab and w.lab is not first
    assert w.k.version == (6, 6, 0) and "0000:03:00.1" in w.k.state()["devices"]
    assert "seed-001" in w.status.value and "6.6" in w.status.value


def test_export_shows_the_script_and_a_download_link_and_it_replays(w):
    assert w.export_box.layout.display == "none"
    w.lab.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    w.lab.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")      # refused: not bound
    w.lab.undo_b.click()                  # takes back the unbind (the refusal made no step)
    w.lab.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.1/driver_override")
    w.export_b.click()
    text = w.script.value
    assert w.export_box.layout.display is None and text == w.export() == export_session(w.k)
    assert script_lines(text) == ["echo vfio-pci > /sys/bus/pci/devices/0000:01:00.1/driver_override"]
    m = re.search(r'<a download="iommulab-desktop-gpu.sh" href="data:text/x-shellscript;base64,([^"]+)"',
                  w.download.value)
    assert m and base64.b64decode(m.group(1)).decode("utf-8") == text
    assert replayed("desktop-gpu", None, text).state() == w.k.state()
    w.boot_b.click()                     # a new machine: the old export goes
    assert w.export_box.layout.display == "none" and w.script.value == ""


def test_open_shows_the_level_and_its_export_replays_on_the_level_machine(w):
    from iommulab.widgets.level import LevelLab
    w.level_d.value = "gpu-passthrough"
    w.open_b.click()
    view = shown(w)
    assert isinstance(view, LevelLab) and w.level is view.level and w.k is view.level.k
    assert view.level.title in w.status.value
    line = view.level.d.solution.strip().splitlines()[0]
    view.lab.sh(line)
    w.export_b.click()
    text = w.script.value
    assert text.startswith("# iommulab session: level gpu-passthrough")
    assert script_lines(text) == [line]
    again = iommulab.Kernel.from_toml(view.level.d.machine)
    again.sh(text)
    assert again.state() == w.k.state()
    assert 'download="iommulab-gpu-passthrough.sh"' in w.download.value


def test_bad_choices_say_so_without_a_traceback():
    w = iommulab.sandbox("no-such-machine", "4.19")
    assert "no library scenario" in w.status.value and "no version" in w.status.value
    assert w.scenario_d.value == sb.DEFAULT_SCENARIO and w.k is not None
    w2 = iommulab.sandbox("seed-001", "6.6")
    assert w2.k.version == (6, 6, 0) and "iommulab-error" not in w2.status.value


def test_a_failing_boot_keeps_the_machine_and_says_why(w, monkeypatch):
    lab = w.lab

    def broken(scenario, version=None):
        raise sb.SandboxError("seed-001.toml: [kernel]: a reason")
    monkeypatch.setattr(sb, "boot", broken)
    w.boot_b.click()
    assert w.lab is lab and "cannot boot" in w.status.value and "a reason" in w.status.value
    monkeypatch.setattr(sb, "boot", lambda *a: 1 / 0)      # a bug of ours: the guard shows it
    w.boot_b.click()
    assert "ZeroDivisionError" in w.status.value and w.lab is lab


def test_the_static_copy_shows_the_sandbox():
    w = iommulab.sandbox("seed-001")
    page = w._repr_mimebundle_()["text/html"]
    assert "booted" in page and "seed-001" in page


GPU_TO_VM = ["echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind",
             "echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind",
             "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override",
             "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind",
             "qemu-system-x86_64 -m 4G -device vfio-pci,host=0000:01:00.0 &",
             "qemu-system-x86_64 -m 4G -device vfio-pci,host=0000:01:00.0 &",       # refused: the group is taken
             "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind",             # blocks while QEMU holds it
             "kill %1"]                                                              # QEMU ends; the write returns


@pytest.mark.parametrize("back", ["none", "undo", "undo 2", "past"])
def test_a_vm_a_blocked_unbind_and_the_kill_that_wakes_it_replay(back):
    k = boot("desktop-gpu")
    for line in GPU_TO_VM:
        k.sh(line)
    tl = timeline_for(k)
    assert len(tl.woken) == 1 and tl.woke(len(tl.steps) - 1)       # kill %1 made two steps
    if back == "past":
        tl.go(len(tl.steps) - 2)                                    # the slider: QEMU gone, the write not back yet
    elif back != "none":
        k.sh(back)
    k.sh("jobs")
    script = export_session(k)
    want = {"none": GPU_TO_VM, "undo": GPU_TO_VM + ["undo"], "undo 2": GPU_TO_VM[:-1],
            "past": GPU_TO_VM + ["undo"]}[back] + ["jobs"]
    assert script_lines(script) == want
    assert replayed("desktop-gpu", None, script).state() == k.state()
    assert "# checked: replayed on a fresh boot" in script


def test_the_check_says_when_the_script_cannot_give_the_machine():
    k = boot("desktop-gpu")
    k.write("/sys/bus/pci/drivers/snd_hda_intel/unbind", "0000:01:00.1")
    script = export_session(k)
    assert "# warning: replayed on a fresh boot, it does NOT give the machine as it is now" in script
    assert not sb.replays(k, script)
    assert "checked" not in export_session(k, check=False)


def test_lines_that_changed_nothing_matter_to_the_replay():
    """Why the export keeps them: a QEMU that could not start took a pid (the next QEMU's state
    shows it), and a cd or a variable is what a later line's relative path or $D means."""
    k = boot("desktop-gpu")
    k.sh("qemu-system-x86_64 -m 4G -device vfio-pci,host=0000:01:00.0 &")          # not viable: no step
    k.sh("cd /sys/bus/pci/devices")
    k.sh("D=0000:01:00.1")
    for line in GPU_TO_VM[:5]:
        k.sh(line)
    k.sh("echo $D > 0000:01:00.1/driver_override")
    tl = timeline_for(k)
    quiet = [a.line for a in session_lines(k)[:3]]
    assert all(a.step == 0 for a in session_lines(k)[:3])                          # they made no step
    script = export_session(k)
    assert script_lines(script)[:3] == quiet
    assert replayed("desktop-gpu", None, script).state() == k.state()
    without = "\n".join(a.line for a in session_lines(k)[3:])
    assert replayed("desktop-gpu", None, without).state() != k.state()
    assert len(tl.steps) == 7


def test_after_the_level_reset_the_export_is_of_the_new_machine(w):
    w.level_d.value = "gpu-passthrough"
    w.open_b.click()
    view = shown(w)
    view.lab.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    old = w.k
    view.reset_b.click()                 # the level boots its machine again, in a new Lab
    assert w.k is view.level.k is not old and w.lab is view.lab
    w.lab.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override")
    w.export_b.click()
    assert script_lines(w.script.value) == ["echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override"]
