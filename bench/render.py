"""How fast the views follow an action. Prints figures; asserts nothing.

    python bench/render.py

For a 30-device machine: the median time from an action (a sysfs unbind or bind) to a new SVG
picture and a new PNG owner_cnt plot, next to the median time of bare `dot -Tsvg` on the same DOT
text, and their ratio (goal ≤ 1.25). Then the same for 200 devices and for the 2,000-device host
collapsed.
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iommulab import Kernel  # noqa: E402
from iommulab.scenario_file import to_toml  # noqa: E402
from iommulab.viz import refresh  # noqa: E402
from iommulab.viz.graph import graph  # noqa: E402
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


def toggle(k, target="0000:01:00.1"):
    """The action: unbind the audio function if bound, else bind it again."""
    verb = "unbind" if k.devices[target].driver is not None else "bind"
    k.write(f"/sys/bus/pci/drivers/snd_hda_intel/{verb}", target)


def measure(k, rounds, **kw):
    plot = OwnerCntPlot()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        toggle(k)
        svg, text, png = refresh(k, plot, **kw)
        times.append(time.perf_counter() - t)
        assert svg is not None, text
    return statistics.median(times)


def bare_dot(k, rounds, **kw):
    source = graph(k, **kw).source.encode()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    k30 = machine(8)                                  # 8 ports + 24 devices behind them = 32 devices
    for _ in range(3):
        measure(k30, 1)                               # warm up imports and caches
    ours = measure(k30, 30)
    bare = bare_dot(k30, 30)
    print(f"{len(k30.devices)}-device machine: action -> SVG + PNG plot  {ours * 1000:7.1f} ms (median of 30)")
    print(f"{'':{len(str(len(k30.devices)))}}               bare dot -Tsvg, same DOT  {bare * 1000:7.1f} ms")
    pad = f"{'':{len(str(len(k30.devices)))}}"
    print(f"{pad}               ratio                      {ours / bare:7.2f}  (goal <= 1.25)")
    k200 = machine(50)
    print(f"{len(k200.devices)}-device machine, in full: action -> SVG + PNG plot "
          f"{measure(k200, 7, threshold=10_000) * 1000:7.1f} ms "
          f"(bare dot {bare_dot(k200, 5, threshold=10_000) * 1000:.1f} ms)")
    print(f"{len(k200.devices)}-device machine, collapsed: action -> SVG + PNG plot "
          f"{measure(k200, 7) * 1000:7.1f} ms (bare dot {bare_dot(k200, 5) * 1000:.1f} ms)")
    big = Kernel.from_scenario("sriov-2000")
    big.write("/sys/bus/pci/drivers/iavf/unbind", "0000:05:03.2")

    def big_round():
        t = time.perf_counter()
        big.write("/sys/bus/pci/drivers/iavf/bind" if big.devices["0000:05:03.2"].driver is None
                  else "/sys/bus/pci/drivers/iavf/unbind", "0000:05:03.2")
        refresh(big, OwnerCntPlot())
        return time.perf_counter() - t
    big_times = [big_round() for _ in range(5)]
    print(f"{len(big.devices)}-device host, collapsed: action -> SVG + PNG plot "
          f"{statistics.median(big_times) * 1000:7.1f} ms (bare dot {bare_dot(big, 5) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
