"""What a learner can observe of a kernel, as plain data: k.state() (api.md §2)."""


def _holds(p):
    """The groups and devices a process holds open (what `ls -l /proc/<pid>/fd` tells a learner)."""
    from .vfio import VfioDevice, VfioGroup
    from .vfio_cdev import DeviceFile
    groups, devices = set(), set()
    for f in p.fds.values():
        o = f.obj
        if isinstance(o, VfioGroup) and o.iommu_group is not None:
            groups.add(o.iommu_group.id)
        vdev = o if isinstance(o, VfioDevice) else (o.vdev if isinstance(o, DeviceFile) else None)
        if vdev is not None:
            devices.add(vdev.dev.name)
            if vdev.dev.iommu_group is not None:
                groups.add(vdev.dev.iommu_group.id)
    return {"groups": sorted(groups), "devices": sorted(devices)}


def _cdev_name(vdev):
    """The device's /dev/vfio/devices node name while it exists (6.6+ with the cdev), else None."""
    return f"vfio{vdev.index}" if vdev is not None and vdev.cdev_added else None


def observable_state(k, devices=None):
    """What user space and the public attributes show. Left out on purpose: a group's cached
    blocking domain (allocated on first claim and kept, as in Linux, even when that claim fails).
    With `devices` (names), only those devices and their groups, with every member of them (a
    course search on a 2,000-device host looks at the few it acts on)."""
    from .iommu import owner_label
    from .trace import ref
    wanted = None
    if devices is not None:
        wanted = {k.devices[n].iommu_group.id for n in devices if n in k.devices and k.devices[n].iommu_group}
    groups = {}
    for n, g in sorted(k.iommu_groups.items()):
        if wanted is not None and n not in wanted:
            continue
        groups[n] = {"owner_cnt": g.owner_cnt, "owner": owner_label(g.owner),
                     "owner_ref": ref(g.owner) if g.owner is not None else None,   # ("vfio_group", 2)
                     "domain": g.domain_label(), "domain_ref": g.domain_ref(),       # ("user", "hwpt2")
                     "default_domain": g.default_domain.type if g.default_domain else None,
                     "devices": [d.name for d in g.devices], "pasids": sorted(g.pasid_array),
                     "dma_owner": g.dma_owner}
    if wanted is None:
        chosen = sorted(k.devices.items())
    else:
        names = set(n for n in devices if n in k.devices)
        names.update(d.name for n in wanted for d in k.iommu_groups[n].devices)
        chosen = sorted((n, k.devices[n]) for n in names)
    devices = {name: {"driver": d.driver.name if d.driver else None,
                      "managed": d.driver.driver_managed_dma if d.driver else None,
                      "driver_override": d.driver_override,
                      "group": d.iommu_group.id if d.iommu_group else None,
                      "vfio": d.vfio_device.label() if d.vfio_device else None,
                      "cdev": _cdev_name(d.vfio_device)}
               for name, d in chosen}
    vfio = {n: {"opened": vg.opened_file is not None,
                "container": vg.container.label() if vg.container else None,
                "iommufd": vg.iommufd.label() if vg.iommufd else None,
                "container_users": vg.container_users, "cdev_open": vg.cdev_device_open_cnt,
                "devices": [v.dev.name for v in vg.devices]}
            for n, vg in sorted(k.vfio_groups.items()) if wanted is None or n in wanted}
    procs = {pid: {"name": p.name, "fds": {fd: f.path for fd, f in sorted(p.fds.items())},
                   "holds": _holds(p)}
             for pid, p in sorted(k.processes.items())}
    return {"groups": groups, "devices": devices, "vfio_groups": vfio, "processes": procs,
            "dynids": {n: list(d.dynids) for n, d in k.drivers.items() if d.dynids},
            "params": dict(k.params), "deferred": [d.name for d in k.deferred_probe],
            "hotplug": sorted(k.hotplug), "crashed": k.crashed}
