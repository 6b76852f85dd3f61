"""Replay the real kernels' recordings (tests/data/real-kernels/<release>/<machine>.json) in the
simulator and compare every step: exit status, standard output, standard error and the kernel
log lines the step produced.

    python conformance/replay.py [--full] [RECORDING.json ...]

For each recording the simulator's scenario is built from what the guest's sysfs showed (the
functions' IDs, classes, topology, PCIe port types, multifunction bits, ACS, the drivers bound at
boot, the kernel's version, Kconfig and command line, MSI isolation); the probes' steps then run in
the recorded order in one simulated boot, as they ran in one real boot. Differences listed in
conformance/known-differences.toml (each with the reason found in the kernel source) are counted
apart; any other one is reported in full.
"""
import argparse
import fnmatch
import json
import re
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO / "tests" / "data" / "real-kernels"
KNOWN = HERE / "known-differences.toml"
FIELDS = ("status", "stdout", "stderr", "dmesg")
# The simulator's built-in drivers: a scenario must not define them again.
BUILTIN = ("vfio-pci", "pci-stub", "pcieport")
# PCIe port types (the PCIe capability) → the scenario's kinds.
KINDS = {"root-port": "root-port", "upstream-port": "upstream-port", "downstream-port": "downstream-port",
         "pcie-to-pci-bridge": "pcie-to-pci-bridge"}
# ACS flags Linux requires of a downstream port (REQ_ACS_FLAGS in drivers/pci/pci.c: SV, RR, CF, UF).
REQ_ACS = 0x01 | 0x04 | 0x08 | 0x10
# The kernel command line's parameters the simulator models; the rest (console=, rdinit=) are the harness's.
MODELLED_PARAMS = ("intel_iommu", "iommu.strict", "iommu.passthrough", "vfio_iommu_type1.", "vfio-pci.",
                   "vfio_pci.", "iommufd.")


def recordings(paths=None):
    if paths:
        return [Path(p) for p in paths]
    return sorted(DATA.glob("*/*.json"))


def kernel_version(rec):
    """The upstream release: 6.1.0-57-amd64 is Debian's ABI name for 6.1.192 (the package version)."""
    m = re.match(r"(\d+\.\d+\.\d+)", rec["package_version"])
    return m.group(1) if m else rec["release"].split("-")[0].split("+")[0]


# The recording's Kconfig symbols that become the scenario's [kernel] config, and the release each
# first exists in (before it, the symbol is left out: the simulator refuses a feature its version lacks).
CONFIG_FROM = {"IOMMUFD": (6, 2), "VFIO_DEVICE_CDEV": (6, 6), "IOMMUFD_VFIO_CONTAINER": (6, 2),
               "VFIO_CONTAINER": (6, 2), "DEBUG_TEST_DRIVER_REMOVE": (0, 0), "VFIO_NOIOMMU": (0, 0)}
# Kernels built without a commit (conformance/build/): the end of the release names them; a recording
# may also say so itself (`reverted`). f429378a9bf8: "driver core: Call dma_cleanup() on the test_remove path".
REVERTED_BY_RELEASE = {"-selftest-nofix": ["f429378a9bf8"]}


def modelled_config():
    """The Kconfig symbols the simulator's scenarios accept (iommulab.kernel.scenario.CONFIG_SYMBOLS)."""
    from iommulab.kernel.scenario import CONFIG_SYMBOLS
    return set(CONFIG_SYMBOLS)


def kernel_config(rec):
    """({CONFIG_X: bool} the simulator models, [CONFIG_X it does not model yet]) from the recording's Kconfig."""
    kc = rec["facts"].get("kconfig", {})
    release = tuple(int(x) for x in kernel_version(rec).split(".")[:2])
    known, config, unmodelled = modelled_config(), {}, []
    for sym, since in CONFIG_FROM.items():
        if release < since or sym not in kc:
            continue
        if f"CONFIG_{sym}" in known:
            config[f"CONFIG_{sym}"] = kc[sym] == "y"
        else:
            unmodelled.append(f"CONFIG_{sym}={kc[sym]}")
    return config, unmodelled


def reverted(rec):
    if "reverted" in rec:
        return list(rec["reverted"])
    return next((v for end, v in REVERTED_BY_RELEASE.items() if rec["release"].endswith(end)), [])


def scenario(rec):
    """The simulator's scenario (a dict as the TOML loader returns it) for the machine the guest saw."""
    facts = rec["facts"]
    config, _ = kernel_config(rec)
    cmdline = " ".join(p for p in facts["cmdline"].split() if p.startswith(MODELLED_PARAMS))
    kernel = {"version": kernel_version(rec), "config": config, "cmdline": cmdline,
              "msi_isolation": "intremap=off" not in rec["iommu"]}
    if reverted(rec):
        kernel["reverted"] = reverted(rec)
    qv = re.search(r"version (\d+\.\d+)", rec["qemu"])
    drivers, devices = {}, []
    for d in facts["devices"]:
        dev = {"name": d["name"], "id": d["id"], "class": int(d["class"], 16)}
        if d["pcie_type"] in KINDS:
            dev["kind"] = KINDS[d["pcie_type"]]
        elif d["header_type"] == 1:
            dev["kind"] = "pci-bridge"
        elif d["pcie_type"] is None:
            dev["kind"] = "conventional"
        if d["parent"]:
            dev["parent"] = d["parent"]
        if d["multifunction"]:
            dev["multifunction"] = True
        if dev.get("kind") in ("root-port", "downstream-port"):
            acs = d["acs"]
            dev["acs"] = bool(acs) and (acs["ctrl"] & REQ_ACS) == REQ_ACS
        else:
            dev["acs"] = bool(d["acs"])
        if d["revision"] not in (None, "-"):
            dev["revision"] = int(d["revision"], 16)
        if d["driver"]:
            dev["driver"] = d["driver"]
            if d["driver"] not in BUILTIN:
                drivers.setdefault(d["driver"], [])
                if d["id"] not in drivers[d["driver"]]:
                    drivers[d["driver"]].append(d["id"])
        devices.append(dev)
    return {"title": f"{rec['machine']} on {rec['release']}", "kernel": kernel,
            "qemu": {"version": qv.group(1) if qv else "7.2"},
            "driver": [{"name": n, "ids": ids} for n, ids in drivers.items()],
            "device": devices}


def boot(rec):
    import iommulab  # noqa: F401  (the shell runner k.sh uses)
    from iommulab.kernel.kernel import Kernel
    from iommulab.kernel.scenario import validate
    data = scenario(rec)
    return Kernel(validate(data, f"<{rec['release']} {rec['machine']}>"))


# errno's names as vfh.c prints them where Python's table picks another alias of the number
_ALIASES = {95: "EOPNOTSUPP", 35: "EDEADLK"}


def _errname(e):
    import errno
    if not isinstance(e, OSError) or not e.errno:
        return type(e).__name__
    return _ALIASES.get(e.errno) or errno.errorcode.get(e.errno, f"E{e.errno}")


# The simulator's shell adds teaching notes on standard error ("iommulab: sleep returns at once…"),
# and, as an interactive bash does, a job's number and pid when it goes to the background and its
# "Done" line when it ends; the
# guest's bash runs the steps as a script, which prints neither. Neither is the kernel's.
_SIM_NOTES = re.compile(r"^(iommulab: .*|\[\d+\] \d+|\[\d+\][+-]? +Done .*)\n", re.M)


class Adapter:
    """Runs one recorded step in the simulator and returns it as the guest printed it."""

    def __init__(self, k):
        self.k, self.procs, self.fds, self.vars = k, {}, {}, {}

    def run(self, step):
        before = len(self.k.dmesg())
        if "sh" in step:
            r = self.k.sh(step["sh"])
            status, out, err = r.status, r.stdout, _SIM_NOTES.sub("", r.stderr)
        elif "spawn" in step:
            self.procs[step["spawn"]] = self.k.spawn(step["spawn"], cmdline=f"vfh serve {step['spawn']}")
            status, out, err = 0, "", ""
        elif "exit" in step:
            p = self.procs.pop(step["exit"])
            p.exit()
            self.fds = {key: v for key, v in self.fds.items() if key[0] != step["exit"]}
            self.vars = {key: v for key, v in self.vars.items() if key[0] != step["exit"]}
            status, out, err = 0, "ok\n", ""
        else:
            status, out, err = self.call(step["call"].split())
        return {"status": status, "stdout": out, "stderr": err, "dmesg": self.k.dmesg()[before:]}

    def call(self, argv):
        name, op, args = argv[0], argv[1], argv[2:]
        p = self.procs[name]
        value = None
        try:
            if op == "open":
                self.fds[(name, args[0])] = p.open(args[1])
            elif op == "close":
                fd = self.fds.get((name, args[0]), -1)
                p.close(fd)
                self.fds.pop((name, args[0]), None)
            elif op == "ioctl":
                fd = self.fds.get((name, args[0]), -1)
                req, rest = args[1], args[2:]
                if req == "VFIO_GROUP_SET_CONTAINER":
                    p.ioctl(fd, req, self.fds.get((name, rest[0]), -1))
                elif req == "VFIO_GROUP_GET_DEVICE_FD":
                    self.fds[(name, rest[0])] = p.ioctl(fd, req, rest[1])
                elif req in ("VFIO_GET_API_VERSION", "VFIO_GROUP_GET_STATUS"):
                    value = p.ioctl(fd, req)
                elif req == "VFIO_CHECK_EXTENSION":
                    value = p.ioctl(fd, req, rest[0])
                elif req == "IOMMU_IOAS_ALLOC":        # vfh keeps the ID under the name given, per process
                    value = p.ioctl(fd, req)
                    self.vars[(name, rest[0])] = value
                elif req == "VFIO_DEVICE_BIND_IOMMUFD":  # answers out_devid
                    value = p.ioctl(fd, req, self.fds.get((name, rest[0]), -1))
                elif req == "VFIO_DEVICE_ATTACH_IOMMUFD_PT":   # an IOAS by its name, or a number; answers pt_id
                    pt = self.vars.get((name, rest[0]))
                    value = p.ioctl(fd, req, pt if pt is not None else (int(rest[0]) if rest[0].isdigit() else 0))
                elif req == "VFIO_DEVICE_DETACH_IOMMUFD_PT":
                    p.ioctl(fd, req)
                else:
                    p.ioctl(fd, req, *(rest[:1]))
            else:
                return 2, f"unknown command {op}\n", ""
        except OSError as e:
            return 1, _errname(e) + "\n", ""
        return 0, ("ok\n" if value is None else f"ok {int(value)}\n"), ""


def load_known():
    if not KNOWN.exists():
        return []
    return tomllib.loads(KNOWN.read_text()).get("difference", [])


def is_known(known, release, probe, step, field, real, sim):
    line = step.get("sh") or step.get("call") or step.get("spawn") or step.get("exit") or ""
    for d in known:
        if not fnmatch.fnmatch(release, d.get("kernel", "*")) or not fnmatch.fnmatch(probe, d.get("probe", "*")):
            continue
        if field not in d.get("fields", FIELDS) or not re.search(d.get("step", ""), line):
            continue
        if "real" in d and not re.search(d["real"], _text(real)):
            continue
        if "sim" in d and not re.search(d["sim"], _text(sim)):
            continue
        return d
    return None


def _text(v):
    return "\n".join(v) if isinstance(v, list) else str(v)


def replay(rec, known=()):
    """[(probe, equal, known, total, [difference dicts])] for one recording: `known` steps differ only
    in ways known-differences.toml explains."""
    k = boot(rec)
    a = Adapter(k)
    out = []
    for probe in rec["probes"]:
        equal, known_only, diffs = 0, 0, []
        for i, step in enumerate(probe["steps"]):
            try:
                got = a.run(step)
            except Exception as e:       # the simulator raised where the kernel answered: a difference
                got = {"status": None, "stdout": f"<{type(e).__name__}: {e}>", "stderr": "", "dmesg": []}
            bad = []
            for f in FIELDS:
                if got[f] != step[f]:
                    kn = is_known(known, rec["release"], probe["name"], step, f, step[f], got[f])
                    bad.append({"field": f, "real": step[f], "sim": got[f], "known": kn["reason"] if kn else None})
            if not bad:
                equal += 1
            elif all(b["known"] for b in bad):
                known_only += 1
            for b in bad:
                diffs.append(dict(b, step=i, line=step.get("sh") or step.get("call") or step.get("spawn")
                                  or f"exit {step.get('exit')}"))
        out.append((probe["name"], equal, known_only, len(probe["steps"]), diffs))
    return out


def groups_difference(rec):
    """The partition and numbering of the simulator's groups against the real kernel's."""
    k = boot(rec)
    real = {d["name"]: d["iommu_group"] for d in rec["facts"]["devices"]}
    sim = {name: (dev.iommu_group.id if getattr(dev, "iommu_group", None) is not None else None)
           for name, dev in k.devices.items()}
    return {n: (real[n], sim.get(n)) for n in real if real[n] != sim.get(n)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="also print the differences listed as known")
    ap.add_argument("paths", nargs="*")
    a = ap.parse_args()
    known = load_known()
    unknown = 0
    for path in recordings(a.paths):
        rec = json.loads(path.read_text())
        print(f"== {rec['release']} ({rec['package_version']}) on {rec['machine']}, {rec['qemu']}")
        _, unmodelled = kernel_config(rec)
        if unmodelled:
            print(f"   config the simulator does not model (left out of the scenario): {', '.join(unmodelled)}")
        try:
            g = groups_difference(rec)
        except Exception as e:       # the scenario itself refused (a key the simulator lacks yet)
            print(f"   SCENARIO REFUSED: {type(e).__name__}: {e}")
            unknown += 1
            continue
        print("   groups: " + ("equal (partition and numbering)" if not g else f"DIFFER {g}"))
        unknown += bool(g)
        te = tk = tt = 0
        for name, equal, known_only, total, diffs in replay(rec, known):
            te, tk, tt = te + equal, tk + known_only, tt + total
            print(f"   {name:22} {equal:3} / {total:3} equal" + (f", {known_only} known" if known_only else ""))
            for d in diffs:
                if d["known"] and not a.full:
                    continue
                unknown += not d["known"]
                tag = f"known: {d['known']}" if d["known"] else "DIFFERENCE"
                print(f"      step {d['step']} `{d['line']}` {d['field']} ({tag})\n"
                      f"         real: {d['real']!r}\n         sim:  {d['sim']!r}")
        print(f"   all probes             {te:3} / {tt:3} equal, {tk} known, {tt - te - tk} unexplained")
    print(f"unexplained differences: {unknown}")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
