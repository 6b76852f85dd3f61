"""Writes sriov-2000.toml: 16 SR-IOV physical functions × 124 VFs behind ACS root ports.

    python -m iommulab.scenarios.make_sriov_2000
"""
from pathlib import Path

from iommulab.scenario_file import to_toml

PFS, VFS = 16, 124


def document():
    devices = []
    for pf in range(PFS):
        port, bus = f"0000:00:{pf + 1:02x}.0", pf + 1
        devices.append({"name": port, "id": "8086:2030", "kind": "root-port"})
        pf_name = f"0000:{bus:02x}:00.0"
        # VFs at PF + 1 + i (First VF Offset 1, VF Stride 1): pci_iov_add_virtfn() puts them there,
        # not a bus scan, so they may use device numbers other than 0 below the root port
        devices.append({"name": pf_name, "id": "8086:1572", "parent": port, "class": 0x020000,
                        "sriov_totalvfs": VFS, "vf_id": "8086:154c", "vf_offset": 1, "vf_stride": 1})
        for vf in range(VFS):
            dev_no, fn = divmod(vf + 1, 8)
            devices.append({"name": f"0000:{bus:02x}:{dev_no:02x}.{fn}", "id": "8086:154c", "parent": port,
                            "class": 0x020000, "physfn": pf_name})
    return {"title": "2,000 devices: 16 PFs x 124 VFs behind ACS root ports",
            "description": ("A scale test and a picture of a cloud host: every virtual function is "
                            "already there (as after `sriov_numvfs`: each VF names its PF with `physfn`), "
                            "each in its own group because "
                            "every root port has ACS. Use it to see how views collapse large machines."),
            "kernel": {"version": "6.6"},
            "driver": [{"name": "i40e", "ids": ["8086:1572"]}, {"name": "iavf", "ids": ["8086:154c"]}],
            "device": devices,
            "expect": {"groups": PFS * (VFS + 2)}}


if __name__ == "__main__":
    out = Path(__file__).with_name("sriov-2000.toml")
    out.write_text(to_toml(document()))
    print(f"wrote {out}")
