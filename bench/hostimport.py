"""Speed of `iommulab import-host` on a messy paste. Prints figures; asserts nothing (the goal,
a 500-group listing under 1 s, is asserted in tests/test_hostimport_messy.py).

    python bench/hostimport.py

- a 500-group listing loop with `lspci -k` driver lines, wrapped in a prompt, a /proc/cmdline
  line, code fences and dmesg lines: parse_text alone, then parse + to_document + booting the
  scenario it makes (median of 5).
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iommulab import Kernel  # noqa: E402
from iommulab.hostimport import parse_text, to_document  # noqa: E402
from iommulab.scenario_file import to_toml  # noqa: E402


def listing(groups=500):
    lines = ["```", "root@host:~# cat /proc/cmdline",
             "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro intel_iommu=on",
             "root@host:~# for d in /sys/kernel/iommu_groups/*/devices/*; do ...; done"]
    for g in range(groups):
        bus, dev = divmod(g, 32)
        lines += [f"IOMMU Group {g}:",
                  f"\t{bus:02x}:{dev:02x}.0 Ethernet controller [0200]: Intel Corporation I350 Gigabit Network "
                  f"Connection [8086:1521] (rev 01)", "\t\tSubsystem: Intel Corporation Device [8086:0001]",
                  "\t\tKernel driver in use: igb", "\t\tKernel modules: igb"]
    lines += ["root@host:~# dmesg | grep -i dmar", "[    0.012345] DMAR: IOMMU enabled", "```"]
    return "\r\n".join(lines) + "\r\n"


def median(fn, runs=5):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    text = listing()
    parse = median(lambda: parse_text(text, "bench.txt"))
    whole = median(lambda: Kernel.from_toml(to_toml(to_document(parse_text(text, "bench.txt")))))
    lst = parse_text(text, "bench.txt")
    print(f"500-group messy listing ({len(text.splitlines())} lines, {len(lst.skipped)} skipped): "
          f"parse_text {parse * 1000:.1f} ms; parse + to_document + boot {whole * 1000:.1f} ms (goal < 1000 ms)")


if __name__ == "__main__":
    main()
