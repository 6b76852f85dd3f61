"""The adversarial suite's long run (issue: robustness). Prints what it found; asserts nothing.

    python bench/fuzz.py                          # every fuzzer, the default (long) counts
    python bench/fuzz.py --shell 5000 --api 0 --scenarios 0 --seed 7
    python bench/fuzz.py --no-shrink --limit 5

The same generators as tests/test_fuzz_shell.py, test_fuzz_api.py and test_fuzz_scenarios.py (CI
runs a fixed few of each), here with more examples, other seeds, and what CI leaves out because
it is slow by design once bounded: endless loops the shell's budget must end, globs 7 to 14
levels deep, 100 nested `$(…)`, arrays nested 5,000 deep, chains of 1,000 bridges, and the
2,000-device scenario. Examples run in a child process with a memory limit (--mem-mb); one
that outlives the time bound by far (a loop in C code that no signal interrupts) is killed there
and counted as overran. Each failure is then shrunk (lines, words, characters or calls dropped
while the same failure stays) and printed with its minimal reproduction.
"""
import argparse
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import test_fuzz_api as fapi  # noqa: E402
import test_fuzz_scenarios as fsc  # noqa: E402
import test_fuzz_shell as fsh  # noqa: E402
from iommulab.kernel.scenario import SCENARIO_DIR  # noqa: E402


# --- one example, addressed by (fuzzer, index), so that a child can run it and a parent retry it ---

class Plan:
    def __init__(self, args):
        self.args = args
        self.shell = fsh.examples(args.seed, args.shell, hostile=True) if args.shell else []
        rng = random.Random(args.seed)
        self.api = [(fapi.SCENARIOS[i % len(fapi.SCENARIOS)], rng.random()) for i in range(args.api)]
        library = fsc.LIBRARY + [SCENARIO_DIR / "sriov-2000.toml"]
        self.scen = fsc.examples(args.seed, args.scenarios, deep=5000, chain=1000, library=library) \
            if args.scenarios else []

    def jobs(self):
        return ([("shell", i) for i in range(len(self.shell))] + [("api", i) for i in range(len(self.api))]
                + [("scenarios", i) for i in range(len(self.scen))])


def run_one(plan, what, i, allowed, limit):
    if what == "shell":
        kind, script = plan.shell[i]
        return fsh.run_script(script, limit=limit, refusal=kind == "write", allowed=allowed)
    if what == "api":
        scenario, seed = plan.api[i]
        return fapi.Run(scenario, random.Random(seed)).run(plan.args.calls, allowed)
    return fsc.check_text(plan.scen[i][1], limit=limit, allowed=allowed)


def check_input(what, inp, allowed, limit):
    """The findings of one concrete input (a script, (scenario, calls), a scenario text)."""
    if what == "shell":
        return fsh.run_script(inp, limit=limit, allowed=allowed)
    if what == "api":
        return fapi.replay(inp[0], inp[1], allowed)
    return fsc.check_text(inp, limit=limit, allowed=allowed)


# --- the child process: a memory limit, and the parent watching the clock ----------------------

def _limit_memory(mb):
    if mb:
        resource.setrlimit(resource.RLIMIT_AS, (mb * 2 ** 20, mb * 2 ** 20))


def _child(conn, plan, jobs, allowed):
    args = plan.args
    _limit_memory(args.mem_mb)
    os.chdir(allowed)
    for what, i in jobs:
        conn.send(("start", what, i))
        t = time.perf_counter()
        try:
            found = run_one(plan, what, i, allowed, args.limit)
        except MemoryError:
            found = [fsh.Finding("exception", None, "MemoryError (the child's memory limit)")]
        conn.send(("done", what, i, [(f.kind, f.input, f.detail) for f in found], time.perf_counter() - t))
    conn.send(("end",))


def run_jobs(plan, jobs, allowed, on_done):
    """Run `jobs` in children; a child that overruns an example by far is killed and a new one
    carries on after it. on_done(what, i, findings, seconds) is called for each example."""
    ctx, args = mp.get_context("fork"), plan.args
    todo = list(jobs)
    while todo:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_child, args=(child, plan, todo, allowed), daemon=True)
        p.start()
        current, started, finished = None, time.monotonic(), 0
        while True:
            if parent.poll(0.2):
                msg = parent.recv()
                if msg[0] == "start":
                    current, started = (msg[1], msg[2]), time.monotonic()
                elif msg[0] == "done":
                    finished += 1
                    on_done(msg[1], msg[2], [fsh.Finding(*f) for f in msg[3]], msg[4])
                    current = None
                else:
                    todo = []
                    break
            elif not p.is_alive() or (current and time.monotonic() - started > 3 * args.limit + 5):
                why = "killed: still running" if p.is_alive() else f"child died (exit {p.exitcode})"
                p.kill()
                p.join()
                if current is None:
                    todo = todo[finished:]
                    break
                on_done(current[0], current[1], [fsh.Finding("overran", None, f"{why} after "
                                                             f"{time.monotonic() - started:.0f} s")], 3 * args.limit)
                todo = todo[finished + 1:]
                break
        p.join(timeout=5)


def findings_of(args, what, inp, allowed):
    """check_input in a child (for shrinking): the (kind, first detail line) pairs, or overran."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()

    def body(conn):
        _limit_memory(args.mem_mb)
        os.chdir(allowed)
        try:
            found = check_input(what, inp, allowed, args.shrink_limit)
        except MemoryError:
            found = [fsh.Finding("exception", inp, "MemoryError")]
        conn.send([(f.kind, f.detail.split("\n")[-1][:60]) for f in found])
    p = ctx.Process(target=body, args=(child,), daemon=True)
    p.start()
    if parent.poll(3 * args.shrink_limit + 5):
        out = parent.recv()
    else:
        out = [("overran", "")]
    p.kill()
    p.join()
    return out


# --- shrinking -------------------------------------------------------------------------------------

def _ddmin(items, still_fails, budget):
    """Drop chunks of `items` (halves, then quarters, ... then single ones) while it still fails."""
    n = 2
    while len(items) >= 2 and budget[0] > 0:
        size = max(1, len(items) // n)
        for start in range(0, len(items), size):
            trial = items[:start] + items[start + size:]
            budget[0] -= 1
            if trial and still_fails(trial):
                items, n = trial, max(n - 1, 2)
                break
        else:
            if size == 1:
                break
            n = min(len(items), n * 2)
    return items


def shrink(args, what, inp, kind, allowed):
    def same(found):
        return any(k == kind[0] and (kind[0] in ("overran", "file-touched") or d == kind[1]) for k, d in found)
    budget = [args.shrink_steps]
    if what == "api":
        scenario, calls = inp
        calls = _ddmin(list(calls), lambda c: same(findings_of(args, what, (scenario, c), allowed)), budget)
        return scenario, calls
    sep_sets = ["\n", " ", ""] if what == "shell" else ["\n", ""]
    text = inp
    for sep in sep_sets:
        parts = text.split(sep) if sep else list(text)
        if len(parts) > 400 and not sep:
            continue
        parts = _ddmin(parts, lambda p, sep=sep: same(findings_of(args, what, sep.join(p), allowed)), budget)
        text = sep.join(parts)
    return text


# --- main --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--shell", type=int, default=20_000, help="shell scripts")
    ap.add_argument("--api", type=int, default=2_000, help="API call sequences")
    ap.add_argument("--calls", type=int, default=60, help="calls per API sequence")
    ap.add_argument("--scenarios", type=int, default=20_000, help="mutated scenario files")
    ap.add_argument("--limit", type=float, default=fsh.LIMIT_S, help="seconds an example may take")
    ap.add_argument("--mem-mb", type=int, default=2048, help="the child's address-space limit (0: none)")
    ap.add_argument("--no-shrink", dest="shrink", action="store_false")
    ap.add_argument("--shrink-limit", type=float, default=3.0, help="seconds per try while shrinking")
    ap.add_argument("--shrink-steps", type=int, default=300, help="tries per failure while shrinking")
    ap.add_argument("--show", type=int, default=40, help="distinct failures to print")
    args = ap.parse_args(argv)
    allowed = tempfile.mkdtemp(prefix="iommulab-fuzz-")
    plan = Plan(args)
    stats = {w: {"n": 0, "failed": 0, "seconds": 0.0, "slowest": (0.0, None)} for w in ("shell", "api", "scenarios")}
    distinct = {}

    def on_done(what, i, found, seconds):
        s = stats[what]
        s["n"] += 1
        s["seconds"] += seconds
        s["slowest"] = max(s["slowest"], (seconds, i), key=lambda x: x[0])
        if found:
            s["failed"] += 1
        for f in found:
            key = (what, f.kind, f.detail.split("\n")[-1][:60] if f.kind != "overran" else "")
            if key not in distinct:
                inp = (plan.shell[i][1] if what == "shell" else
                       (plan.api[i][0], None) if what == "api" else plan.scen[i][1])
                if what == "api" and f.input is not None:
                    inp = f.input
                distinct[key] = (inp, f.detail, 1)
            else:
                inp, detail, count = distinct[key]
                distinct[key] = (inp, detail, count + 1)

    t0 = time.perf_counter()
    run_jobs(plan, plan.jobs(), allowed, on_done)
    print(f"seed {args.seed}, time bound {args.limit:g} s per example, memory {args.mem_mb} MB; "
          f"{time.perf_counter() - t0:.0f} s in all")
    for what, s in stats.items():
        if s["n"]:
            print(f"  {what:10} {s['n']:6} examples, {s['failed']:5} failing, {s['seconds']:7.1f} s, "
                  f"slowest {s['slowest'][0]:.2f} s (#{s['slowest'][1]})")
    print(f"{len(distinct)} distinct failures")
    for n, ((what, kind, first), (inp, detail, count)) in enumerate(sorted(distinct.items(), key=str)):
        if n >= args.show:
            print(f"... and {len(distinct) - n} more")
            break
        small = inp
        if args.shrink and inp is not None and not (what == "api" and inp[1] is None):
            small = shrink(args, what, inp, (kind, first), allowed)
        shown = repr(small)
        print(f"\n[{what} / {kind}] x{count}: {detail.strip()[:300]}")
        print(f"  minimal input ({len(shown)} chars): {shown[:1500]}")


if __name__ == "__main__":
    main()
