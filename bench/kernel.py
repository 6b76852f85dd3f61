"""Speed of the simulated kernel. Prints figures; asserts nothing (goals are in the README).

    python bench/kernel.py

- import time of `iommulab` and of the kernel package;
- bind/unbind cycles per second (sysfs writes, a kernel driver in a singleton group);
- claim/release cycles per second (VFIO legacy path: SET_CONTAINER / UNSET_CONTAINER);
- snapshot and restore cost on a small and on the large host;
- boot of a 2,000-device SR-IOV-style host (16 physical functions × 124 virtual functions, each
  PF behind its own ACS root port) through Linux's grouping rules, then bind every VF to vfio-pci
  and claim every group. Goal: boot + bind + claim under 1 s on the project's machine (2 cores);
  and the library's sriov-2000 scenario booted from its TOML file, also under 1 s.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iommulab import Kernel  # noqa: E402
from iommulab.scenario_file import to_toml  # noqa: E402

PFS, VFS_PER_PF = 16, 124


def sriov_host_toml():
    devices = []
    for pf in range(PFS):
        port = f"0000:00:{pf + 1:02x}.0"
        bus = pf + 1
        devices.append({"name": port, "kind": "root-port", "acs": True})
        pf_name = f"0000:{bus:02x}:00.0"
        devices.append({"name": pf_name, "id": "8086:1572", "parent": port, "sriov_totalvfs": VFS_PER_PF,
                        "vf_id": "8086:154c", "vf_offset": 1, "vf_stride": 1})
        for vf in range(VFS_PER_PF):            # enabled VFs: PF + 1 + i, so device numbers past 0
            dev_no, fn = divmod(vf + 1, 8)
            devices.append({"name": f"0000:{bus:02x}:{dev_no:02x}.{fn}", "id": "8086:154c", "parent": port,
                            "physfn": pf_name})
    doc = {"title": "SR-IOV host", "kernel": {"version": "6.6"},
           "driver": [{"name": "i40e", "ids": ["8086:1572"]}], "device": devices}
    return to_toml(doc), sum(1 for d in devices if d.get("kind") != "root-port")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def import_times():
    code = ("import time; t=time.perf_counter(); import iommulab; a=time.perf_counter()-t; "
            "t=time.perf_counter(); import iommulab.kernel; b=time.perf_counter()-t; print(a, b)")
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return map(float, out.stdout.split())


def bind_unbind_rate(n=2000):
    k = Kernel.from_toml('[[driver]]\nname = "e1000e"\nids = ["8086:15b8"]\n'
                         '[[device]]\nname = "0000:00:19.0"\nid = "8086:15b8"\n')
    t = time.perf_counter()
    for _ in range(n):
        k.write("/sys/bus/pci/drivers/e1000e/unbind", "0000:00:19.0")
        k.write("/sys/bus/pci/drivers/e1000e/bind", "0000:00:19.0")
    return n / (time.perf_counter() - t)


def claim_release_rate(n=2000):
    k = Kernel.from_toml('[[device]]\nname = "0000:05:00.0"\ndriver = "vfio-pci"\n')
    p = k.spawn("bench")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/0")
    t = time.perf_counter()
    for _ in range(n):
        p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
        p.ioctl(g, "VFIO_GROUP_UNSET_CONTAINER")
    return n / (time.perf_counter() - t)


def snapshot_cost(k, n=50):
    t = time.perf_counter()
    for _ in range(n):
        snap = k.snapshot()
    s = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        k.restore(snap)
    return s, (time.perf_counter() - t) / n


def big_host():
    text, n_devices = sriov_host_toml()
    boot, k = timed(lambda: Kernel.from_toml(text, "sriov-host.toml"))

    def bind_all():
        k.write("/sys/bus/pci/drivers/vfio-pci/new_id", "8086 154c")

    def claim_all():
        p = k.spawn("qemu")
        c = p.open("/dev/vfio/vfio")
        for n in sorted(k.vfio_groups):
            g = p.open(f"/dev/vfio/{n}")
            p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
        p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
        return p
    bind, _ = timed(bind_all)
    claim, _ = timed(claim_all)
    owned = sum(1 for g in k.iommu_groups.values() if g.owner is not None)
    return n_devices, len(k.iommu_groups), boot, bind, claim, owned, k


def one_by_one():
    """The same host, each VF bound as a learner would: driver_override, then bind."""
    text, _ = sriov_host_toml()
    k = Kernel.from_toml(text, "sriov-host.toml")
    vfs = [d.name for d in k.devices.values() if d.id == "8086:154c"]

    def bind_each():
        for name in vfs:
            k.write(f"/sys/bus/pci/devices/{name}/driver_override", "vfio-pci")
            k.write("/sys/bus/pci/drivers/vfio-pci/bind", name)
    return timed(bind_each)[0], len(vfs)


def main():
    a, b = import_times()
    print(f"import iommulab                      {a * 1000:8.1f} ms")
    print(f"import iommulab.kernel               {b * 1000:8.1f} ms")
    print(f"bind/unbind cycles per second        {bind_unbind_rate():8.0f}")
    print(f"claim/release cycles per second      {claim_release_rate():8.0f}")
    small = Kernel.from_toml('[[device]]\nname = "0000:01:00.0"\ngroup = 1\n'
                             '[[device]]\nname = "0000:01:00.1"\ngroup = 1\n')
    s, r = snapshot_cost(small, 2000)
    print(f"snapshot / restore, 2 devices        {s * 1e6:8.1f} us / {r * 1e6:.1f} us")
    n_dev, n_grp, boot, bind, claim, owned, k = big_host()
    print(f"SR-IOV host: {n_dev} devices in {n_grp} groups ({PFS} PFs x {VFS_PER_PF} VFs behind ACS root ports)")
    print(f"  boot                               {boot * 1000:8.1f} ms")
    print(f"  bind every VF to vfio-pci (new_id) {bind * 1000:8.1f} ms")
    print(f"  claim every VF group (legacy VFIO) {claim * 1000:8.1f} ms  ({owned} groups owned)")
    print(f"  total                              {(boot + bind + claim) * 1000:8.1f} ms  (goal < 1000 ms)")
    t0 = time.perf_counter()
    lib = Kernel.from_scenario("sriov-2000")
    print(f"library host sriov-2000 ({len(lib.devices)} devices, {len(lib.iommu_groups)} groups) booted "
          f"through the grouping rules in {(time.perf_counter() - t0) * 1000:.1f} ms  (goal < 1000 ms)")
    each, n_vfs = one_by_one()
    print(f"  (bind {n_vfs} VFs one by one through sysfs: {each * 1000:.1f} ms)")
    s, r = snapshot_cost(k, 10)
    print(f"  snapshot / restore                 {s * 1000:8.1f} ms / {r * 1000:.1f} ms")


if __name__ == "__main__":
    main()
