"""How fast the views follow an action. Prints figures; asserts nothing.

    python bench/render.py [--profile]

Machines: a 32-device machine (8 root ports, half without ACS, each with a GPU, its audio function
and a NIC function: no library scenario is near 30 devices, the largest, desktop-gpu, has 8), and
the 2,016-device SR-IOV host (library scenario sriov-2000) with its groups collapsed.

For each, per action (a shell line that unbinds or binds one function, as the Lab's buttons run it:
one timeline step), the medians of:
  ours   everything the lab does besides Graphviz's layout: the view model (viz.model.build with
         the machine's timeline, as the Lab calls it), the
         DOT text (viz.graph.graph(...).source), the fixed scale applied to dot's SVG, the owner_cnt
         plot (update + PNG);
  dot    dot's layout of the same DOT text, on the long-running dot process the lab uses
         (viz/dotproc.py), round trip through its pipes;
and their ratio, against the issue's goals (ours ≤ 25 % of dot for the 32-device machine, ≤ 100 %
for the 2,016-device host collapsed). Then the wall time of viz.refresh (dot and the plot overlap
on two cores) and, for comparison, a fresh `dot -Tsvg` per picture (what starting dot costs).
With --profile: where the time of "ours" goes (cProfile, top functions by own time).
"""
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iommulab import Kernel  # noqa: E402
from iommulab.scenario_file import to_toml  # noqa: E402
from iommulab.shell import timeline_for  # noqa: E402
from iommulab.viz import graph as graph_mod  # noqa: E402
from iommulab.viz import refresh  # noqa: E402
from iommulab.viz.dotproc import runner  # noqa: E402
from iommulab.viz.model import build  # noqa: E402
from iommulab.viz.plot import OwnerCntPlot  # noqa: E402


def machine(n_ports):
    """n_ports root ports, half without ACS; behind each (a port's link carries one device) a GPU with
    its audio function and a NIC function."""
    devices, drivers = [], [{"name": "nic", "ids": ["8086:1533"]}, {"name": "snd_hda_intel", "ids": ["10de:1aef"]}]
    for i in range(n_ports):
        port = f"0000:00:{1 + i // 8:02x}.{i % 8}"
        devices.append({"name": port, "kind": "root-port", "acs": i % 2 == 0, "id": "8086:1901"})
        bus = i + 1
        devices.append({"name": f"0000:{bus:02x}:00.0", "parent": port, "id": "10de:2204", "multifunction": True,
                        "acs": False, "class": 0x030000})
        devices.append({"name": f"0000:{bus:02x}:00.1", "parent": port, "id": "10de:1aef", "acs": False,
                        "class": 0x040300})
        devices.append({"name": f"0000:{bus:02x}:00.2", "parent": port, "id": "8086:1533", "class": 0x020000})
    doc = {"title": "bench", "kernel": {"version": "6.6"}, "driver": drivers, "device": devices}
    return Kernel.from_toml(to_toml(doc))


def toggler(driver, target):
    """The action, as the Lab's buttons run it: a shell line, one step of the machine's timeline."""
    def toggle(k):
        verb = "unbind" if k.devices[target].driver is not None else "bind"
        k.sh(f"echo {target} > /sys/bus/pci/drivers/{driver}/{verb}")
    return toggle


def ours_once(k, plot, kw, stages):
    """The lab's own work for one picture; returns the DOT text. Adds each stage's time to stages."""
    t0 = time.perf_counter()
    m = build(k, timeline=timeline_for(k))
    t1 = time.perf_counter()
    source = graph_mod.graph(m, **kw).source
    t2 = time.perf_counter()
    plot.update(k)
    t3 = time.perf_counter()
    plot.png()
    t4 = time.perf_counter()
    for name, t in (("view model", t1 - t0), ("DOT text", t2 - t1), ("plot update", t3 - t2), ("plot PNG", t4 - t3)):
        stages.setdefault(name, []).append(t)
    return source


def dot_once(source, stages):
    t = time.perf_counter()
    svg = runner().render(source)
    t1 = time.perf_counter()
    if hasattr(graph_mod, "fixed_scale"):
        graph_mod.fixed_scale(svg)
    t2 = time.perf_counter()
    stages.setdefault("dot layout", []).append(t1 - t)
    stages.setdefault("fixed scale", []).append(t2 - t1)


def fresh_dot(source, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(title, k, toggle, rounds, goal, kw=None, profile=False):
    kw = kw or {}
    plot = OwnerCntPlot()
    for _ in range(3):                                   # warm up imports, caches and dot
        toggle(k)
        dot_once(ours_once(k, plot, kw, {}), {})
    stages, ours = {}, []
    for _ in range(rounds):
        toggle(k)
        before = {n: sum(v) for n, v in stages.items()}
        source = ours_once(k, plot, kw, stages)
        dot_once(source, stages)
        ours.append(sum(sum(v) - before.get(n, 0) for n, v in stages.items() if n != "dot layout"))
    med = {n: statistics.median(v) * 1000 for n, v in stages.items()}
    low = {n: min(v) * 1000 for n, v in stages.items()}
    ours_ms, dot_ms = statistics.median(ours) * 1000, med["dot layout"]
    ours_min, dot_min = min(ours) * 1000, low["dot layout"]
    print(f"\n{title}: {len(k.devices)} devices, {rounds} actions (median, and least: the machine may be busy)")
    for name in ("view model", "DOT text", "fixed scale", "plot update", "plot PNG"):
        print(f"  {name:<12} {med[name]:7.2f} ms  {low[name]:7.2f} ms")
    print(f"  {'ours':<12} {ours_ms:7.2f} ms  {ours_min:7.2f} ms   (everything except dot's layout)")
    print(f"  {'dot layout':<12} {dot_ms:7.2f} ms  {dot_min:7.2f} ms   (the lab's long-running dot, "
          f"{len(source) // 1024} KiB of DOT)")
    print(f"  ratio ours/dot {100 * ours_ms / dot_ms:5.0f} %  {100 * ours_min / dot_min:5.0f} %   (goal <= {goal} %: "
          f"{'met' if ours_ms <= dot_ms * goal / 100 else 'NOT met'})")
    picture = med["view model"] + med["DOT text"] + med["fixed scale"]
    print(f"  the picture alone (view model, DOT text, fixed scale) {picture:.2f} ms = {100 * picture / dot_ms:.0f} % "
          f"of dot; the plot's PNG encoding alone {med['plot PNG']:.2f} ms = {100 * med['plot PNG'] / dot_ms:.0f} %")
    walls = []
    for _ in range(max(5, rounds // 3)):
        toggle(k)
        t = time.perf_counter()
        svg, text, _ = refresh(k, plot, timeline=timeline_for(k), **kw)
        walls.append(time.perf_counter() - t)
        assert svg is not None, text
    print(f"  viz.refresh wall time {statistics.median(walls) * 1000:7.2f} ms; a fresh `dot -Tsvg` per picture "
          f"would take {fresh_dot(source, 5) * 1000:.1f} ms for the layout alone")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(rounds):
            toggle(k)
            ours_once(k, plot, kw, {})
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
        print("  where the time of 'ours' goes (own time, all rounds):")
        lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
        print("\n".join("    " + ln for ln in lines[-16:]))


def main():
    profile = "--profile" in sys.argv
    bench("32-device machine", machine(8), toggler("snd_hda_intel", "0000:01:00.1"), 30, 25, profile=profile)
    big = Kernel.from_scenario("sriov-2000")
    bench("2,016-device SR-IOV host, collapsed", big, toggler("iavf", "0000:05:03.2"), 15, 100, profile=profile)


if __name__ == "__main__":
    main()
