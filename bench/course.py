"""Speed of the course engine. Prints figures; asserts nothing (goals: issue 13 "Speed", README).

    python bench/course.py [--runs N] [--only NAME] [--profile NAME [--wrong]]

- `level.check()` and a computed hint (`level.next_step()`) on every library machine
  (iommulab/scenarios/*.toml), each through a level built inline for that machine with one goal
  clause: a VM runs with its first PCI endpoint on a kernel DMA driver (a machine without PCI
  endpoints: its first device is bound to its bus's VFIO driver); and on every level the package
  ships. A goal the search cannot reach is timed too: the hint then searches to the bound and
  says so. Each is timed from a fresh learner state and after two wrong actions (lines that change
  the machine but are not the hint's next step). Goal: each < 100 ms at p95.
- A quiz generated and solved (`iommulab.course.quiz.problem(seed).answers()`) over many seeds.
  Goal: < 50 ms at p95.
- `--profile NAME` runs cProfile on the hint of one machine or level and prints where the time goes.

The learner's progress file goes to a temporary directory: the bench never writes beside the notebooks.
"""
import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from importlib import resources

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ["IOMMULAB_PROGRESS"] = os.path.join(tempfile.mkdtemp(prefix="iommulab-bench-"), "progress.json")
os.environ.pop("IOMMULAB_SOLUTIONS", None)

from iommulab.course import level as open_level  # noqa: E402
from iommulab.course import levels  # noqa: E402
from iommulab.course.level import Level, parse  # noqa: E402
from iommulab.course.search import focus_actions  # noqa: E402
from iommulab.kernel.kernel import Kernel  # noqa: E402

CHECK_GOAL, HINT_GOAL, QUIZ_GOAL = 100.0, 100.0, 50.0        # ms at p95


def library_machines():
    return sorted(p.name[:-5] for p in resources.files("iommulab.scenarios").iterdir() if p.name.endswith(".toml"))


def target(k):
    """(device, goal clause) a learner would try first on this machine: a VM with its first PCI
    endpoint on a kernel DMA driver (else its first PCI endpoint); on a machine without PCI
    endpoints, its first device bound to its bus's VFIO driver."""
    devs = [d for d in sorted(k.devices.values(), key=lambda d: d.name)
            if not d.is_bridge and d.kind in ("endpoint", "conventional") and d.iommu_group is not None]
    pci = [d for d in devs if d.bus.name == "pci"]
    state = k.state()["devices"]
    on_kernel_dma = [d for d in pci if state[d.name]["managed"] is False]
    for d in on_kernel_dma + pci:
        return d.name, f'what = "vm"\ndevices = ["{d.name}"]'
    for d in devs:
        vfio = d.bus.ops.VFIO_DRIVER
        if vfio:
            return d.name, f'what = "driver"\ndevice = "{d.name}"\ndriver = "{vfio}"'
    return None, None


def machine_level(name):
    k = Kernel.from_scenario(name)
    dev, goal = target(k)
    if dev is None:
        return None, None
    text = (f'id = "bench-{name}"\ntitle = "{name}: {dev}"\nscenario = "{name}"\nbound = 6\n'
            f'solution = "# none: the bench asks the search"\n[[goal]]\n{goal}\n')
    return Level(parse(text, f"bench/{name}")), goal.split("\n")[0].split('"')[1]


def wrong_actions(lv, n=2):
    """n lines that take the machine to a state it has not been in and are not the next step of
    the shortest way: a learner's detours (no remove, rescan or kill; no VM start). Chosen in the
    search's own order, so every run makes the same ones."""
    from iommulab.check.explore import state_key
    seen = {state_key(lv.k)}
    done = []
    for _ in range(n):
        best = lv.next_step().line
        for a in focus_actions(lv.k, lv.focus()):
            line = a.script()
            if line == best or not lv.allowed(line) or a.kind in ("vm", "remove", "rescan", "kill"):
                continue
            before = lv.timeline.position
            lv.sh(line)
            if lv.timeline.position > before and state_key(lv.k) not in seen:
                seen.add(state_key(lv.k))
                done.append(line)
                break
            if lv.timeline.position > before:
                lv.sh("undo")
        else:
            break
    return done


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(0.95 * len(xs)) - 1))]


def fig(xs, goal):
    med, top = statistics.median(xs), p95(xs)
    return f"{med:7.1f} {top:7.1f}{'  OVER' if top >= goal else ''}"


def bench_level(label, make, runs, over):
    """Time check() and next_step() fresh and after two wrong actions; one line per state."""
    rows = []
    for when in ("fresh", "2 wrong"):
        lv = make()
        extra = ""
        if when == "2 wrong":
            lines = wrong_actions(lv)
            extra = f"  after: {' ; '.join(lines) or '(no wrong action found)'}"
        checks = timed(lambda lv=lv: lv.check(record=False), runs)
        hint = lv.next_step()
        hints = timed(lv.next_step, runs)
        for what, xs, goal in (("check", checks, CHECK_GOAL), ("hint", hints, HINT_GOAL)):
            if p95(xs) >= goal:
                over.append((label, when, what, p95(xs)))
        rows.append(f"  {label:<46} {when:<8} {fig(checks, CHECK_GOAL)}   {fig(hints, HINT_GOAL)}   "
                    f"{hint.kind}{extra}")
    return rows


def bench_quiz(runs):
    try:
        from iommulab.course import quiz
    except ImportError:
        return None, "iommulab.course.quiz is not there yet: quiz not timed"
    xs = []
    for seed in range(runs):
        t = time.perf_counter()
        quiz.problem(seed).answers()
        xs.append((time.perf_counter() - t) * 1000)
    return xs, ""


def profile(name, wrong=False, top=25):
    if name in levels():
        lv = open_level(name)
    else:
        lv, _ = machine_level(name)
        if lv is None:
            print(f"{name}: no device to pass through")
            return
    detour = wrong_actions(lv) if wrong else []
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(5):
        lv.next_step()
        lv.check(record=False)
    pr.disable()
    print(f"--- cProfile: 5 x (next_step + check) on {name}" + (f" after {' ; '.join(detour)}" if wrong else "")
          + f": {lv.next_step().kind}, by cumulative time")
    pstats.Stats(pr).sort_stats("cumulative").print_stats(top)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--only", help="one library machine or level id")
    ap.add_argument("--profile", help="profile the hint of one library machine or level id, then stop")
    ap.add_argument("--wrong", action="store_true", help="with --profile: after the two wrong actions")
    args = ap.parse_args()
    if args.profile:
        profile(args.profile, args.wrong)
        return
    print(f"bench/course.py --runs {args.runs}" + (f" --only {args.only}" if args.only else ""))
    print(f"{'':48} {'':8} {'check ms':>15}   {'hint ms':>15}")
    print(f"{'':48} {'':8} {'median':>7} {'p95':>7}   {'median':>7} {'p95':>7}   hint kind")
    over = []
    print("library machines (a level: a VM with the first PCI endpoint on a kernel DMA driver, or a VFIO driver)")
    for name in library_machines():
        if args.only and args.only != name:
            continue
        lv, kind = machine_level(name)
        if lv is None:
            print(f"  {name:<46} no device to pass through")
            continue
        label = f"{name} ({kind} {lv.title.split(': ')[1]})"
        for row in bench_level(label, lambda n=name: machine_level(n)[0], args.runs, over):
            print(row)
    print("shipped levels")
    for lid in levels():
        if args.only and args.only != lid:
            continue
        for row in bench_level(lid, lambda i=lid: open_level(i), args.runs, over):
            print(row)
    if not args.only:
        xs, note = bench_quiz(max(args.runs, 50))
        if xs is None:
            print(note)
        else:
            print(f"quiz generated and solved ({len(xs)} seeds)   median {statistics.median(xs):.1f} ms, "
                  f"p95 {p95(xs):.1f} ms  (goal < {QUIZ_GOAL:.0f} ms){'  OVER' if p95(xs) >= QUIZ_GOAL else ''}")
    print(f"goals: check and hint < {CHECK_GOAL:.0f} ms at p95 -- "
          + ("all met" if not over else "over: " + "; ".join(f"{a} {b} {c} {d:.0f} ms" for a, b, c, d in over)))


if __name__ == "__main__":
    main()
