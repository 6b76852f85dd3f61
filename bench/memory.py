"""Memory and time per action over a long session. Prints figures; asserts nothing.

    python bench/memory.py                      # both machines (several minutes)
    python bench/memory.py desktop-gpu 5000     # one machine, that many actions
    python bench/memory.py sriov-2000 1000 --shell
    python bench/memory.py desktop-gpu 5000 --no-reboot   # one boot's history only grows (no reboot resets it)

A seeded random walk of lab actions, driven the way the Lab drives them: by default through the
Lab widget's own callbacks (choose a device and a driver, press bind / unbind / override / start VM /
stop VM / rescan / remove / write type / reboot / undo / move the step slider), each of which runs
a shell line through k.sh() and the machine's timeline and redraws the picture and the plot; with
--shell, the same lines through k.sh() and the Timeline alone (no widget, no picture).

Goals (issue 19): <= 200 MB RSS after 5,000 Lab actions on desktop-gpu, <= 300 MB after 1,000 on
the 2,000-device host (sriov-2000), time per action not growing with history. Printed: RSS
(/proc/self/status VmRSS, else getrusage's peak) at the start and at each tenth of the walk, the
mean milliseconds per action over that tenth, the timeline's steps, the kernel's objects and events.
"""
import gc
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iommulab import Kernel  # noqa: E402
from iommulab.check.explore import rss_mb  # noqa: E402
from iommulab.shell import lines, timeline_for  # noqa: E402

# Lines a learner types in the shell box between button presses (they read; some change nothing).
SHELL_LINES = ("ls /sys/kernel/iommu_groups", "lspci -nnk | head -5", "dmesg | tail -3", "steps | tail -2",
               "cat /sys/kernel/iommu_groups/*/type", "jobs", "echo 1 > /sys/bus/pci/rescan")
GOALS = {"desktop-gpu": (5000, 200), "sriov-2000": (1000, 300)}


class LabWalk:
    """Presses the Lab's buttons (its own callbacks, as a click runs them)."""

    def __init__(self, k, reboot=True):
        from iommulab.widgets.lab import Lab
        self.k, self.lab, self.reboot = k, Lab(k), reboot

    def device(self, rng):
        names = sorted(self.k.devices)
        return rng.choice(names) if names else None

    def with_a_driver(self, rng, press):
        """Choose one of the drivers the Lab offers for the device chosen, then press the button."""
        drivers = list(self.lab.driver.options)
        if drivers:
            self.lab.driver.value = rng.choice(drivers)
            press()

    def step(self, rng):
        lab, k = self.lab, self.k
        r = rng.random()
        name = self.device(rng)
        if name is None or r < 0.03:
            lab.on_rescan()
            return
        dev = k.devices[name]
        if r < 0.30:
            lab.device.value = name
            if dev.driver is not None:
                lab.on_unbind()
            else:
                self.with_a_driver(rng, lab.on_bind)
        elif r < 0.42:
            lab.device.value = name
            self.with_a_driver(rng, lab.on_override)
        elif r < 0.48:
            lab.device.value = name
            lab.on_clear_override()
        elif r < 0.52:
            lab.device.value = name
            lab.on_probe()
        elif r < 0.64:
            opts = list(lab.vm_devices.options)
            if opts:
                lab.vm_devices.value = (rng.choice(opts),)
                lab.vm_path.value = rng.choice(list(lab.vm_path.options))
                lab.on_vm_start()
        elif r < 0.72:
            if lab.vm_job.options:
                lab.vm_job.value = rng.choice(list(lab.vm_job.options))[1]
                lab.on_vm_stop()
        elif r < 0.76:
            if dev.bus.name == "pci":
                lab.m_device.value = name
                lab.on_remove()
        elif r < 0.82:
            if lab.group.options:
                lab.group.value = rng.choice(list(lab.group.options))
                lab.gtype.value = rng.choice(list(lab.gtype.options))
                lab.on_type()
        elif r < 0.8205:
            if self.reboot:
                lab.on_reboot()
        elif r < 0.83:
            lab.on_undo()
        elif r < 0.89:
            steps = len(lab.timeline.steps)          # look at the past, then come back
            lab.step.value = rng.randrange(max(0, steps - 20), steps)
            lab.on_now()
        elif r < 0.91:
            lab.on_now()
        else:
            lab.shell_in.value = rng.choice(SHELL_LINES)
            lab.on_shell()

    def steps(self):
        return len(self.lab.timeline.steps)


class ShellWalk:
    """The same lines through k.sh() and the timeline the Lab uses, with no widget."""

    def __init__(self, k, reboot=True):
        self.k, self.tl, self.reboot = k, timeline_for(k), reboot

    def step(self, rng):
        k, tl = self.k, self.tl
        r = rng.random()
        names = sorted(k.devices)
        if not names or r < 0.03:
            k.sh(lines.pci_rescan())
            return
        dev = k.devices[rng.choice(names)]
        bus = dev.bus.name
        drivers = [d.name for d in k.drivers.values() if d.bus is dev.bus and d.registered]
        if r < 0.30:
            if dev.driver is not None:
                k.sh(lines.unbind(bus, dev.name, dev.driver.name))
            elif drivers:
                k.sh(lines.bind(bus, dev.name, rng.choice(drivers)))
        elif r < 0.42 and drivers:
            k.sh(lines.set_driver_override(bus, dev.name, rng.choice(drivers)))
        elif r < 0.48:
            k.sh(lines.clear_driver_override(bus, dev.name))
        elif r < 0.52:
            k.sh(lines.drivers_probe(bus, dev.name))
        elif r < 0.64 and bus == "pci" and not dev.is_bridge:
            k.sh(lines.qemu([dev.name], rng.choice(["legacy VFIO", "iommufd"]), memory="4G", arch=k.arch))
        elif r < 0.72:
            k.sh(f"kill %{rng.randrange(1, 4)}")
        elif r < 0.76 and bus == "pci":
            k.sh(lines.pci_remove(dev.name))
        elif r < 0.82 and k.iommu_groups:
            k.sh(lines.group_type(rng.choice(sorted(k.iommu_groups)),
                                  rng.choice(["identity", "DMA", "DMA-FQ", "auto"])))
        elif r < 0.8205:
            if self.reboot:
                k.sh("reboot")
        elif r < 0.83:
            tl.undo()
        elif r < 0.89:
            n = len(tl.steps)
            tl.go(rng.randrange(max(0, n - 20), n))
            tl.now()
        elif r < 0.91:
            tl.now()
        else:
            k.sh(rng.choice(SHELL_LINES))

    def steps(self):
        return len(self.tl.steps)


def run(scenario, actions, shell=False, seed=19, reboot=True):
    gc.collect()
    start_rss = rss_mb()
    k = Kernel.from_scenario(scenario)
    walk = (ShellWalk if shell else LabWalk)(k, reboot)
    rng = random.Random(seed)
    gc.collect()
    print(f"{scenario}, {'k.sh + Timeline' if shell else 'Lab callbacks'}, {actions} actions (seed {seed}): "
          f"{'' if reboot else 'no reboot, '}RSS {start_rss:.0f} MB before boot, "
          f"{rss_mb():.0f} MB with the machine shown", flush=True)
    tenth = max(1, actions // 10)
    done, t0, times = 0, time.perf_counter(), []
    while done < actions:
        t = time.perf_counter()
        walk.step(rng)
        times.append(time.perf_counter() - t)
        done += 1
        if done % tenth == 0 or done == actions:
            window = times[-tenth:]
            print(f"  {done:6} actions: RSS {rss_mb():7.1f} MB, {1000 * sum(window) / len(window):6.1f} ms/action "
                  f"(max {1000 * max(window):6.1f}), {walk.steps():5} steps, {len(k.objects):6} objects, "
                  f"{len(k.events):7} events", flush=True)
    total = time.perf_counter() - t0
    goal = GOALS.get(scenario)
    end = rss_mb()
    verdict = ""
    if goal is not None and actions >= goal[0]:
        verdict = f" — goal <= {goal[1]} MB after {goal[0]}: {'met' if end <= goal[1] else 'MISSED'}"
    first, last = times[:tenth], times[-tenth:]
    print(f"  end: RSS {end:.1f} MB{verdict}; {total:.1f} s in all; ms/action first tenth "
          f"{1000 * sum(first) / len(first):.1f}, last tenth {1000 * sum(last) / len(last):.1f}", flush=True)
    return end


def main(argv):
    shell, reboot = "--shell" in argv, "--no-reboot" not in argv
    args = [a for a in argv if not a.startswith("--")]
    if args:
        run(args[0], int(args[1]) if len(args) > 1 else GOALS.get(args[0], (1000,))[0], shell, reboot=reboot)
        return
    for scenario, (n, _) in GOALS.items():
        run(scenario, n, shell, reboot=reboot)


if __name__ == "__main__":
    main(sys.argv[1:])
