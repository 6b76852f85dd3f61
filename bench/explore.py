"""How fast the explorer searches. Prints figures; asserts nothing.

    python bench/explore.py

- transitions per second on the desktop-gpu machine, depth 3 (goal >= 10,000/s);
- time to the seed-001 counterexamples on 6.4: the broken count rule, and the goal "QEMU cannot
  start although no kernel driver is bound" (goal < 1 s);
- on 6.6 (the fix): the time to search the same depth and find nothing.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iommulab import Kernel  # noqa: E402
from iommulab.check.explore import explore  # noqa: E402
from iommulab.kernel.scenario import SCENARIO_DIR  # noqa: E402


def seed001(version):
    text = (SCENARIO_DIR / "seed-001.toml").read_text().replace('version = "6.4"', f'version = "{version}"')
    return Kernel.from_toml(text)


def main():
    k = Kernel.from_scenario("desktop-gpu")
    explore(k, depth=2)                                  # warm up
    runs = [explore(k, depth=3) for _ in range(5)]
    rate = statistics.median(r.transitions / r.seconds for r in runs)
    print(f"desktop-gpu, depth 3: {runs[0].transitions} transitions, {runs[0].states} states, "
          f"{rate:,.0f} transitions/s (median of 5; goal >= 10,000/s)")
    t = time.perf_counter()
    r = explore(seed001("6.4"), depth=4)
    print(f"seed-001 on 6.4, rule search: found after {len(r.actions)} actions in "
          f"{(time.perf_counter() - t) * 1000:.1f} ms: {r.reason}")
    t = time.perf_counter()
    r = explore(seed001("6.4"), depth=5, goal="vm-refused-without-kernel-drivers")
    print(f"seed-001 on 6.4, QEMU refused without kernel drivers: found after {len(r.actions)} actions in "
          f"{(time.perf_counter() - t) * 1000:.1f} ms ({r.transitions} transitions)  (goal < 1000 ms)")
    t = time.perf_counter()
    r = explore(seed001("6.6"), depth=5, goal="vm-refused-without-kernel-drivers")
    print(f"seed-001 on 6.6, same goal: {'found' if r.found else 'nothing'} within 5 actions "
          f"({r.states} states, {r.transitions} transitions, {(time.perf_counter() - t) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
