"""The probes (probes/*.toml) as data, and the guest's lines for them.

A probe is a list of steps, each one of
    sh = "a shell line"                      run by bash in the guest, by k.sh() in the simulator
    spawn = "P"                              start a process P (the guest's vfh serve)
    call = "P open|close|ioctl FD ..."       one system call of P (vfh call; p.open/close/ioctl)
    exit = "P"                               P exits
A probe runs on the machines it lists (`machines`, default all), in file order, all in one boot:
each probe leaves the machine as it found it, and the replay runs them in the same order.
"""
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG_SYMBOLS = ("IOMMUFD", "VFIO_DEVICE_CDEV", "IOMMUFD_VFIO_CONTAINER", "VFIO_CONTAINER", "VFIO_GROUP",
                  "DEBUG_TEST_DRIVER_REMOVE", "VFIO_NOIOMMU", "IRQ_REMAP", "INTEL_IOMMU")


def load():
    out = []
    for f in sorted((HERE / "probes").glob("*.toml")):
        d = tomllib.loads(f.read_text())
        d.setdefault("name", f.stem)
        out.append(d)
    return out


def machines():
    return tomllib.loads((HERE / "machines.toml").read_text())["machine"]


def _fill(step, vars):
    out = {}
    for key, val in step.items():
        for name, v in vars.items():
            val = val.replace("{" + name + "}", v)
        out[key] = val
    return out


def plan_for(machine):
    """The probes that run on this machine, their placeholders filled from its `vars`."""
    vars = next(m for m in machines() if m["name"] == machine).get("vars", {})
    return [{"name": p["name"], "steps": [_fill(s, vars) for s in p["step"]]}
            for p in load() if machine in p.get("machines", [machine])]


def guest_line(step):
    if "sh" in step:
        return step["sh"]
    if "spawn" in step:
        n = step["spawn"]
        return (f"vfh serve {n} >/dev/null 2>&1 & disown; while [ ! -p /run/vfh/{n}.out ]; do usleep 10000; done")
    if "call" in step:
        return f"vfh call {step['call']}"
    if "exit" in step:
        return f"vfh call {step['exit']} exit; while [ -p /run/vfh/{step['exit']}.out ]; do usleep 10000; done"
    raise ValueError(f"a step without sh, spawn, call or exit: {step}")


def steps_text(plan):
    lines = []
    for p in plan:
        lines.append(f"#PROBE {p['name']}")
        for s in p["steps"]:
            line = guest_line(s)
            if "\n" in line:
                raise ValueError(f"a step is one line: {line!r}")
            lines.append(line)
    return "\n".join(lines) + "\n"
