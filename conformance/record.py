"""Record real kernels: boot each kernel (Debian's, and the variants conformance/build/ describes)
in QEMU on each machine of machines.toml, run the probes of probes/*.toml, and store what the
guest printed as JSON under tests/data/real-kernels/<uname -r>/<machine>.json.

Run by scripts/conformance.sh record (which installs QEMU, fetches and builds the kernels first):
    python conformance/record.py CACHE [--kernel SUBSTRING] [--machine NAME]
CACHE holds the unpacked kernels (CACHE/k/<package>/) and the helper (CACHE/vfh).
"""
import argparse
import base64
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = REPO / "tests" / "data" / "real-kernels"
sys.path.insert(0, str(HERE))
import probes as probes_mod  # noqa: E402

MODULES = ["vfio-pci", "vfio_iommu_type1", "pci-stub", "e1000e", "e1000", "nvme"]
# each module's Kconfig symbol: a kernel without the module file must say why (built in, or not
# configured: vfio_iommu_type1 where iommufd provides the container)
MODULE_SYMBOLS = {"vfio-pci": "VFIO_PCI", "vfio_iommu_type1": "VFIO_IOMMU_TYPE1", "pci-stub": "PCI_STUB",
                  "e1000e": "E1000E", "e1000": "E1000", "nvme": "BLK_DEV_NVME"}
BASE_CMDLINE = "console=ttyS0 intel_iommu=on iommu.strict=1 no_timer_check panic=-1 loglevel=4 rdinit=/init"
HOST_PROGRAMS = ["bash", "cat", "ls", "readlink", "basename", "sleep", "head", "true", "false", "uname"]


def kernels(cache):
    """(package file stem, root dir, release, package version) of each unpacked kernel."""
    out = []
    for root in sorted((cache / "k").glob("linux-image-*")):
        mods = root / "lib" / "modules"
        if not mods.is_dir():
            mods = root / "usr" / "lib" / "modules"
        release = next(mods.iterdir()).name
        version = root.name.split("_")[1]
        out.append((root.name, root, mods / release, release, version))
    return out


def kconfig_value(config, symbol):
    m = re.search(rf"^CONFIG_{symbol}=(\S+)", config, re.M)
    return m.group(1) if m else "n"


def module_files(moddir, config):
    """The modules to insmod, dependencies first, from modules.dep. A module of MODULES that the
    kernel does not have is left out when its config says it is built in or not configured."""
    deps = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()

    def base(path):
        return re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", path.rsplit("/", 1)[-1]).replace("_", "-")

    by_name = {base(m): m for m in deps}
    order = []
    for want in MODULES:
        path = by_name.get(want.replace("_", "-"))
        if path is None:
            if kconfig_value(config, MODULE_SYMBOLS[want]) == "m":
                raise SystemExit(f"record: {moddir}: CONFIG_{MODULE_SYMBOLS[want]}=m but no module {want}")
            continue
        for m in list(reversed(deps[path])) + [path]:
            if m not in order:
                order.append(m)
    return order


def copy_program(prog, root):
    src = shutil.which(prog)
    files = [src]
    ldd = subprocess.run(["ldd", src], capture_output=True, text=True).stdout
    files += re.findall(r"(/\S+\.so[^\s]*)", ldd)
    for f in files:
        dest = root / f.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(f), dest)


def kernel_config(kernel):
    return next((kernel[1] / "boot").glob("config-*")).read_text()


def build_initramfs(cache, moddir, config, steps_text, work):
    root = work / "root"
    shutil.rmtree(root, ignore_errors=True)
    (root / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    for prog in HOST_PROGRAMS:
        copy_program(prog, root)
    for lib in ("lib", "lib64"):
        if (root / "usr" / lib).is_dir() and not (root / lib).exists():
            (root / lib).symlink_to(f"usr/{lib}")
    if (root / "usr" / "bin").is_dir():
        for p in (root / "usr" / "bin").iterdir():
            if not (root / "bin" / p.name).exists():
                (root / "bin" / p.name).symlink_to(f"/usr/bin/{p.name}")
    for applet in ("base64", "od", "tr", "usleep", "dmesg", "mkfifo", "echo", "test", "["):
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    shutil.copy2(cache / "vfh", root / "bin" / "vfh")
    shutil.copy2(HERE / "guest" / "init", root / "init")
    (root / "init").chmod(0o755)
    shutil.copy2(HERE / "guest" / "runner.sh", root / "runner.sh")
    (root / "steps.txt").write_text(steps_text)
    load = []
    for m in module_files(moddir, config):
        src = moddir / m
        name = src.name
        data = src.read_bytes()
        if name.endswith(".xz"):
            data, name = lzma.decompress(data), name[:-3]
        dest = root / "lib" / "modules" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        load.append(name)
    (root / "modules.load").write_text("\n".join(load) + "\n")
    img = work / "initrd.cpio"
    with open(img, "wb") as f:
        find = subprocess.Popen(["find", "."], cwd=root, stdout=subprocess.PIPE)
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, stdin=find.stdout, stdout=f, check=True)
        find.wait()
    return img


def qemu_version():
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0]


def qemu_argv(vmlinuz, initrd, machine, results, console, accel):
    iommu = machine.get("iommu", "intel-iommu,intremap=on,caching-mode=on")
    argv = ["qemu-system-x86_64", "-nodefaults", "-no-reboot", "-display", "none", "-m", "512",
            "-machine", f"q35,kernel-irqchip=split,accel={accel}", "-cpu", "max" if accel == "tcg" else "host",
            "-device", iommu, "-kernel", str(vmlinuz), "-initrd", str(initrd),
            "-append", " ".join([BASE_CMDLINE, machine.get("cmdline", "")]).strip(),
            "-chardev", f"file,id=con,path={console}", "-serial", "chardev:con",
            "-chardev", f"file,id=res,path={results}", "-serial", "chardev:res"]
    for i in range(machine.get("netdevs", 0)):
        argv += ["-netdev", f"user,id=n{i},restrict=on"]
    return argv + list(machine.get("qemu", []))


def boot(vmlinuz, initrd, machine, accel, timeout, work):
    results, console = work / "results.txt", work / "console.txt"
    for f in (results, console):
        f.unlink(missing_ok=True)
    argv = qemu_argv(vmlinuz, initrd, machine, results, console, accel)
    t0 = time.monotonic()
    try:
        subprocess.run(argv, timeout=timeout, capture_output=True, check=False)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    took = time.monotonic() - t0
    text = results.read_text(errors="replace") if results.exists() else ""
    return text, console.read_text(errors="replace") if console.exists() else "", took, timed_out


def pick_accel(vmlinuz, initrd, work):
    """A short test boot with KVM; TCG unless the guest reached its init quickly."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    text, _, _, _ = boot(vmlinuz, initrd, {"name": "kvm-test"}, "kvm", 20, work)
    return "kvm" if "BEGIN" in text else "tcg"


def b64(s):
    return base64.b64decode(s).decode(errors="replace") if s else ""


_TS = re.compile(r"^\[\s*\d+\.\d+\] ")
# bash names a script's file and line where an interactive shell says "bash: "; the steps are typed lines
_RUNNER = re.compile(r"^/runner\.sh: line \d+: ", re.M)


def parse(text, plan):
    """The guest's lines → machine facts and, per probe, each step's result."""
    facts = {"devices": [], "groups": {}}
    probes, cur = [], None
    flat = [(p, s) for p in plan for s in p["steps"]]
    it = iter(flat)
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "UNAME":
            facts["release"] = rest
        elif kind == "CMDLINE":
            facts["cmdline"] = rest
        elif kind == "DEV":
            f = rest.split(" ")
            facts["devices"].append(device_facts(*f))
        elif kind == "GROUP":
            n, _, t = rest.partition(" ")
            facts["groups"][n] = t
        elif kind == "PROBE":
            cur = {"name": rest, "steps": []}
            probes.append(cur)
        elif kind == "STEP":
            rc, out, err, msg = (rest.split(" ") + ["", "", ""])[:4]
            probe, step = next(it)
            msgs = [_TS.sub("", m) for m in b64(msg).splitlines()]
            cur["steps"].append(dict(step, status=int(rc), stdout=b64(out), stderr=_RUNNER.sub("bash: ", b64(err)),
                                     dmesg=msgs))
    return facts, probes, "END" in text


PORT_TYPES = {0: "endpoint", 1: "legacy-endpoint", 4: "root-port", 5: "upstream-port", 6: "downstream-port",
              7: "pcie-to-pci-bridge", 8: "pci-to-pcie-bridge", 9: "rc-integrated-endpoint",
              10: "rc-event-collector"}


def device_facts(name, vendor, device, cls, rev, path, group, driver, config):
    """What the guest's sysfs showed of one PCI function; its config space read for the PCIe port
    type, the header's multifunction bit and the ACS capability and control (not stored whole)."""
    cfg = bytes.fromhex(config)

    def w(off, n):
        return int.from_bytes(cfg[off:off + n], "little") if off + n <= len(cfg) else 0

    header = w(0x0E, 1)
    pcie_type, acs = None, None
    if w(0x06, 2) & 0x10:
        pos, seen = w(0x34, 1) & ~3, 0
        while pos and seen < 48:
            if w(pos, 1) == 0x10:
                pcie_type = PORT_TYPES.get((w(pos + 2, 2) >> 4) & 0xF, "unknown")
            pos, seen = w(pos + 1, 1) & ~3, seen + 1
    if len(cfg) > 0x100 and pcie_type is not None:
        pos, seen = 0x100, 0
        while pos and seen < 64:
            hdr = w(pos, 4)
            if hdr == 0 or hdr == 0xFFFFFFFF:
                break
            if hdr & 0xFFFF == 0x0D:
                acs = {"cap": w(pos + 4, 2), "ctrl": w(pos + 6, 2)}
            pos, seen = (hdr >> 20) & 0xFFC, seen + 1
    parts = path.split("/")
    parent = parts[-2] if len(parts) > 2 and re.match(r"^[0-9a-f]{4}:", parts[-2]) else None
    return {"name": name, "id": f"{vendor[2:]}:{device[2:]}", "class": cls, "revision": rev,
            "parent": parent, "iommu_group": int(group) if group else None, "driver": driver or None,
            "header_type": header & 0x7F, "multifunction": bool(header & 0x80), "pcie_type": pcie_type,
            "acs": acs}


def record_one(cache, kernel, machine, accel, timeout, qver):
    stem, root, moddir, release, version = kernel
    vmlinuz = next((root / "boot").glob("vmlinuz-*"))
    config = kernel_config(kernel)
    kconfig = {s: kconfig_value(config, s) for s in probes_mod.CONFIG_SYMBOLS}
    plan = probes_mod.plan_for(machine["name"])
    with tempfile.TemporaryDirectory(prefix="conf-") as tmp:
        work = Path(tmp)
        initrd = build_initramfs(cache, moddir, config, probes_mod.steps_text(plan), work)
        text, console, took, timed_out = boot(vmlinuz, initrd, machine, accel, timeout, work)
    facts, results, complete = parse(text, plan)
    if not facts.get("release"):
        return (f"{release} {machine['name']}: no output ({took:.0f} s); console tail:\n"
                + "\n".join(console.splitlines()[-15:]))
    facts["kconfig"] = kconfig
    rec = {"release": facts.pop("release"), "package": stem.split("_")[0], "package_version": version,
           "qemu": qver, "accel": accel, "machine": machine["name"], "qemu_args": machine.get("qemu", []),
           "iommu": machine.get("iommu", "intel-iommu,intremap=on,caching-mode=on"),
           "complete": complete and not timed_out, "seconds": round(took, 1), "facts": facts,
           "probes": results}
    dest = OUT / rec["release"] / f"{machine['name']}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rec, indent=1) + "\n")
    n = sum(len(p["steps"]) for p in results)
    return (f"{rec['release']} {machine['name']}: {len(results)} probes, {n} steps, {took:.0f} s"
            + ("" if rec["complete"] else " (INCOMPLETE: the guest did not finish; see its console)"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache", type=Path)
    ap.add_argument("--kernel", default="", help="only kernels whose package name contains this")
    ap.add_argument("--machine", default="", help="only this machine")
    ap.add_argument("--timeout", type=int, default=420, help="seconds one boot may take")
    ap.add_argument("--accel", default="", help="kvm or tcg (default: a test boot decides)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    qver = qemu_version()
    t_all = time.monotonic()
    ks = [k for k in kernels(a.cache) if a.kernel in k[0]]
    ms = [m for m in probes_mod.machines() if not a.machine or m["name"] == a.machine]
    if not ks or not ms:
        sys.exit("record: no kernel or machine matches")
    accel = a.accel
    if not accel:
        with tempfile.TemporaryDirectory(prefix="conf-") as tmp:
            initrd = build_initramfs(a.cache, ks[0][2], kernel_config(ks[0]), "", Path(tmp))
            accel = pick_accel(next((ks[0][1] / "boot").glob("vmlinuz-*")), initrd, Path(tmp))
    print(f"accelerator: {accel}; {len(ks)} kernels x {len(ms)} machines, {a.jobs} at a time", flush=True)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(a.jobs) as pool:
        futs = [pool.submit(record_one, a.cache, k, m, accel, a.timeout, qver) for k in ks for m in ms]
        for f in futs:
            print(f.result(), flush=True)
    print(f"record: {time.monotonic() - t_all:.0f} s in all")


if __name__ == "__main__":
    main()
