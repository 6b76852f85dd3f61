"""Why an action was refused, in one sentence, from the step's events and the public state:
"group 1 has owner_cnt 1: 0000:01:00.1 is bound to snd_hda_intel, a kernel DMA driver"."""
from ..kernel.errno import errname, strerror
from .model import _unquote


def _kernel_users(st, n):
    g = st["groups"].get(n)
    if g is None:
        return []
    return [f"{d} is bound to {st['devices'][d]['driver']}, a kernel DMA driver"
            for d in g["devices"] if st["devices"][d]["managed"] is False]


def _owned(st, n):
    g = st["groups"][n]
    cnt = g["owner_cnt"]
    if g["owner"] != "NULL":
        return f"group {n} is owned by user space ({g['owner']}, owner_cnt {cnt})"
    users = _kernel_users(st, n)
    if users:
        return f"group {n} has owner_cnt {cnt}: " + "; ".join(users)
    return f"group {n} has owner_cnt {cnt} although no kernel DMA driver is bound (a leaked count)"


def _group_of(ev):
    return ev.groups[0][0] if ev.groups else None


def refusal(k, step_events, stderr=""):
    """(errno name, Linux's text, the rule in one sentence) for a refused step, or None."""
    st = k.state()
    refused = [e for e in step_events if e.refused]
    deepest = next((e for e in reversed(refused) if e.func.startswith(("iommu", "vfio", "iommufd", "__driver_probe",
                                                                       "bind_store", "really_probe", "sriov"))), None)
    top = next((e for e in refused if e.depth == 0), None) or deepest
    if top is None:
        if "is not viable" in stderr:
            n = int(stderr.split("group ", 1)[1].split()[0])
            return ("not viable", "QEMU's VFIO_GROUP_GET_STATUS check",
                    f"QEMU stops because {_owned(st, n)} — every device of the group must leave its kernel driver")
        return None
    err = (deepest or top).errno or top.errno
    name, text = f"-{errname(err)}", strerror(err)
    return name, text, _rule(k, st, deepest or top, step_events)


def _rule(k, st, ev, events):
    f, n = ev.func, _group_of(ev)
    a = [_unquote(x) for x in ev.args]
    if f == "iommu_device_use_default_domain" and n is not None:
        g = st["groups"][n]
        if g["owner"] != "NULL":
            return f"{_owned(st, n)}: a kernel DMA driver may not bind into it"
        if g["pasids"]:
            return f"group {n} has PASIDs attached, so no further kernel DMA user may join"
        return f"group {n} has a non-default domain attached ({g['domain']}), so no further kernel DMA user may join"
    if f in ("iommu_group_claim_dma_owner", "iommu_device_claim_dma_owner") and n is not None:
        if ev.errno == 1:
            return f"{_owned(st, n)}: user space can only own a group nobody else uses"
        if ev.errno == 22:
            return f"a device of group {n} requires a direct mapping, so the group cannot be blocked for user space"
        return f"group {n} has a foreign domain attached ({st['groups'][n]['domain']})"
    if f == "iommufd_device_bind" and ev.errno == 1:
        inner = [e for e in events if e.func == "iommu_device_claim_dma_owner" and e.refused]
        if inner:
            return _rule(k, st, inner[-1], events)
        return "the platform does not isolate MSIs and iommufd.allow_unsafe_interrupts is off"
    if f == "iommufd_device_setup_msi" and ev.errno == 1:      # 6.2-6.5: checked at attach
        return "the platform does not isolate MSIs and iommufd.allow_unsafe_interrupts is off"
    if f == "__driver_probe_device" and ev.errno == 16:
        return f"{a[1]} is already bound to {st['devices'].get(a[1], {}).get('driver')}: unbind it first"
    if f == "bind_store" and ev.errno == 19:
        return f"{a[0]} does not match that device (or it does not exist): set its driver_override first"
    if f == "unbind_store":
        return f"that device is not bound to {a[0]}"
    if f == "iommu_group_store_type" and n is not None:
        if ev.errno == 1:
            return f"{_owned(st, n)}: the default domain can only change while nobody uses the group"
        if ev.errno == 16:
            return "the group's only device is still bound to a driver (before 6.4 any driver blocks this)"
        return "that type is not accepted here (identity, DMA, DMA-FQ or auto; a device may require one)"
    if f == "vfio_group_ioctl_set_container" and ev.errno == 1 and n is not None:
        return f"{_owned(st, n)}: user space can only own a group nobody else uses"
    if f == "sys_open" and len(a) > 1 and a[1].startswith("/dev/vfio/") and a[1][10:].isdigit():
        if ev.errno == 2:
            return (f"no device of group {a[1][10:]} is bound to a VFIO driver, so {a[1]} does not exist: "
                    "bind the device to vfio-pci first")
        if ev.errno == 16:
            return f"{a[1]} is already open (another VM?), or a device of the group is open through its cdev"
    if f == "vfs_write" and ev.errno == 2:
        return f"{a[1]} does not exist"
    return f"{f} refused it"
