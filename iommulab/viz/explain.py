"""Why an action was refused, in one sentence, from the reason the kernel recorded where it
refused (iommulab.kernel.reasons): "group 1 has owner_cnt 1: 0000:01:00.1 is bound to
snd_hda_intel, a kernel DMA driver". SENTENCES words each reason code with its facts; nothing here
reads function names, errno numbers or argument labels."""
from ..kernel.errno import errname, strerror
from ..kernel.reasons import origin
from ..uapi import VFIO_GROUP_FLAGS_VIABLE


_REF_WORDS = {"group": "group {}", "process": "process {}", "vfio_group": "vfio_group:{}",
              "container": "container_file:C{}", "iommufd": "ictx:I{}", "idev": "idev{}", "ioas": "ioas{}",
              "null": "NULL", "caps": "capabilities", "device": "{}", "driver": "{}", "bus": "{}",
              "domain": "{}", "file": "{}", "vfio_device": "{}", "device_file": "{}'s file",
              "pending_write": "{}", "str": "{}", "int": "{}", "bool": "{}", "object": "{}"}


def words(v):
    """A fact as text: references as the ground truth writes them, lists joined."""
    if isinstance(v, tuple) and len(v) == 2 and v[0] in _REF_WORDS:
        return _REF_WORDS[v[0]].format(v[1])
    if isinstance(v, tuple):
        return ", ".join(words(x) for x in v)
    return "NULL" if v is None else str(v)


class _Facts(dict):
    """The facts as words, for str.format; a missing fact is a KeyError (tests check none is)."""

    def __init__(self, facts):
        super().__init__((n, words(v)) for n, v in facts.items())
        self.raw = facts


# What the refused action wanted, after the state that stopped it.
_WANTS = {"kernel-dma": "a kernel DMA driver may not bind into it",
          "claim": "user space can only own a group nobody else uses",
          "type": "the default domain can only change while nobody uses the group",
          "attach": "attach a domain only while the group is on its default or blocking domain"}


def _wants(f):
    w = f.raw.get("wants")
    return f": {_WANTS[w]}" if w in _WANTS else ""


def _in_use(f):
    users = f.raw.get("kernel_users") or ()
    drivers = f.raw.get("drivers") or ()
    if users:
        why = "; ".join(f"{words(d)} is bound to {words(drv)}, a kernel DMA driver"
                        for d, drv in zip(users, drivers))
    else:
        why = "no kernel DMA driver is bound, yet it counts (a leaked count)"
    return f"{f['group']} has owner_cnt {f['owner_cnt']}: {why}{_wants(f)}"


def _domain_changed(f):
    tail = {"kernel-dma": "so no further kernel DMA user may join",
            "claim": "so user space cannot claim it", "type": "so its default domain cannot change",
            "attach": "so another domain cannot be attached over it"}.get(f.raw.get("wants"), "")
    return f"{f['group']} has a non-default domain attached ({f['domain']})" + (f", {tail}" if tail else "")


def _not_bound(f):
    bound = f.raw.get("bound")
    return f"{f['device']} is not bound to {f['driver']}" + (
        f" (its driver is {words(bound)})" if bound is not None else " (it has no driver)")


def _probe_failed(f):
    return f"{f['driver']}'s probe() of {f['device']} failed with -{errname(f.raw['rc'])}"


def _bad_value(f):
    if "param" in f:
        return f"{f['value']!r} is not a boolean for {f['param']} (y/n, 1/0, on/off)"
    return f"{f['value']!r} is not a value this file accepts"


def _does_not_match(f):
    ov = f.raw.get("driver_override")
    if ov:              # the override is set, to another driver: it is the cause, not the cure
        return (f"{f['device']}'s driver_override is {words(ov)}: only {words(ov)} may bind it — clear it "
                f"(echo > …/driver_override) to bind {f['driver']}")
    return (f"{f['driver']} does not match {f['device']}: set its driver_override first"
            + (f", and unbind it from {f['bound']} (a bound device is not bound again)"
               if f.raw.get("bound") is not None else ""))


def _first(f, *names):
    return next(f[n] for n in names if n in f)


SENTENCES = {
    "no-such-device": "there is no {bus} device called {name!r}",
    "driver-does-not-match": _does_not_match,
    "device-not-registered": "{device} is not registered (removed, or not there yet)",
    "device-already-bound": "{device} is already bound to {driver}: unbind it first",
    "not-bound-to-driver": _not_bound,
    "probe-failed": _probe_failed,
    "probe-deferred": "{driver}'s probe() of {device} was deferred: something it needs is not ready yet",
    "buffer-too-long": "the value is {length} bytes long; this file takes fewer than {limit}",
    "bad-id": "{value!r} is not \"vendor device [subvendor subdevice class class_mask]\" in hex",
    "id-already-matched": "{driver} already matches {id}",
    "no-such-dynid": "{driver} has no dynamic id {id} (remove_id removes only ids added by new_id)",
    "attach-failed": "probing a driver for {device} failed",
    "bad-value": _bad_value,
    "not-a-header-type-normal": "vfio-pci takes only devices with a normal header; {device} is a {kind}",
    "reset-required": ("vfio-platform has no reset function for {compatible} ({device}) and "
                       "vfio_platform.reset_required is set"),
    "group-owned": lambda f: f"{f['group']} is owned by user space ({f['owner']}, owner_cnt {f['owner_cnt']})"
                             + _wants(f),
    "group-in-use": _in_use,
    "owned-by-other": lambda f: f"{f['group']} is owned by user space ({f['owner']}, owner_cnt "
                                f"{f['owner_cnt']}){_wants(f)}",
    "domain-changed": _domain_changed,
    "pasids-attached": lambda f: f"{f['group']} has PASIDs attached ({f['pasids']}), so "
                                 + ("user space cannot claim it" if f.raw.get("wants") == "claim"
                                    else "no further kernel DMA user may join"),
    "no-default-domain-yet": "{group} has no default domain yet, so {device}'s probe is deferred",
    "null-owner": "the owner given is NULL",
    "no-group": lambda f: f"{_first(f, 'device', 'vfio_group')} has no IOMMU group",
    "require-direct": ("{device} requires a direct mapping, so {group} cannot be given {domain} "
                       "(it cannot be blocked for user space)"),
    "rmrr-attach": "{device} has a non-relaxable RMRR: VT-d refuses it the user domain {domain}",
    "group-not-singleton": "{group} has more than one device ({devices}): attach the whole group instead",
    "pasid-invalid": "PASID {pasid} is not valid for {device} (0 is IOMMU_NO_PASID)",
    "pasid-busy": "PASID {pasid} of {group} is already attached",
    "null-domain": "no domain was given for {group}",
    "type-unknown": "{value!r} is not a group type (identity, DMA, DMA-FQ or auto)",
    "type-conflicts-with-device": lambda f: (
        f"{f['device']} requires another default domain type, so {f['group']} cannot take this one"
        if "device" in f else f"the devices of {f['group']} require different default domain types"),
    "type-group-busy": ("{device} is still bound to {driver}: the group's only device must be unbound "
                        "first (before 6.4 any driver blocks this)"),
    "type-not-supported": "that type change is not supported for {group} (one device only, with a default domain)",
    "type-no-permission": "changing a group's type needs CAP_SYS_ADMIN and CAP_SYS_RAWIO",
    "dma-owner-mode": "{group} is owned in the other mode ({dma_owner}, owner_cnt {owner_cnt})",
    "dma-owner-file": "{group} is owned by user space through another file ({owner})",
    "group-not-viable": ("{group} is not viable (owner_cnt {owner_cnt}): every device of the group must "
                         "leave its kernel driver"),
    "group-has-no-vfio-device": ("no device of {group} is bound to a VFIO driver, so {path} does not exist: "
                                 "bind the device to vfio-pci first"),
    "group-file-open": "/dev/vfio/{group} is already open (another VM?)",
    "device-open-via-cdev": "a device of group {group} is open through its cdev (/dev/vfio/devices/…)",
    "group-has-container": "group {group} is already set to a container ({container})",
    "group-no-container": "group {group} has no container yet: VFIO_GROUP_SET_CONTAINER first",
    "container-empty": "no group was added to the container yet: VFIO_GROUP_SET_CONTAINER first",
    "container-users": "devices of group {group} are still open ({users} file(s))",
    "no-iommu-driver": "the container has no IOMMU driver yet: VFIO_SET_IOMMU first",
    "iommu-already-set": "the container already has an IOMMU driver ({iommu})",
    "iommu-type-unsupported": "{iommu} is not an IOMMU type this container offers",
    "no-such-vfio-device": "group {group} has no VFIO device {name}",
    "not-a-container": "that file descriptor is neither a VFIO container nor an iommufd ({file})",
    "bad-fd": "that file descriptor is not open",
    "noiommu-disabled": "{device} has no IOMMU group and vfio.enable_unsafe_noiommu_mode is off",
    "noiommu-needs-rawio": "no-IOMMU mode needs CAP_SYS_RAWIO",
    "noiommu-mismatch": ("no-IOMMU groups go only with the no-IOMMU backend (VFIO_NOIOMMU_IOMMU), and only "
                         "with each other"),
    "device-file-bound": "{device}'s file is already bound, or the device is open on another file",
    "device-file-not-bound": "{device}'s file is not bound to an iommufd: VFIO_DEVICE_BIND_IOMMUFD first",
    "group-open-blocks-cdev": "/dev/vfio/{group} is open, so {device}'s cdev cannot be bound",
    "msi-not-isolated": "the platform does not isolate MSIs and {param} is off",
    "no-such-object": "iommufd has no object {id}",
    "wrong-object-type": "iommufd object {id} is neither an IOAS nor a page table",
    "device-not-attached": "{device} is not attached to a page table yet",
    "device-already-attached": "{device} is already attached to a page table",
    "hwpt-incompatible": "{group} is attached to another page table ({hwpt}); every device of a group shares one",
    "no-such-file": "{path} does not exist",
    "is-a-directory": "{path} is a directory",
    "not-a-directory": "a part of {path} is not a directory",
    "read-only": "{path} is read-only",
    "not-writable": "{path} cannot be written",
    "unknown-ioctl": "{file} has no ioctl {request}",
    "no-such-module": "there is no module {module}",
    "module-not-loaded": "{module} is not loaded",
    "module-builtin": "{module} is built into the kernel and cannot be removed",
    "module-in-use": "{device} ({driver}) is still open by user space",
    "no-sriov": lambda f: (f"{f['device']} has no driver, so SR-IOV cannot be configured"
                           if f.raw.get("driver") is None else
                           f"{f['driver']} does not configure VFs" + (
                               f" while {f['param']} is off" if "param" in f else "")),
    "too-many-vfs": "{device} supports at most {total} VFs",
    "vfs-enabled": "{device} has {num_vfs} VFs enabled: write 0 first",
}


def sentence(reason):
    """The reason in words."""
    f = _Facts(reason.facts)
    s = SENTENCES[reason.code]
    return s(f) if callable(s) else s.format_map(f)


def kernel_dma_users(st, n):
    """(device, driver) of group n's members bound to a driver that does not manage DMA itself,
    from k.state() (the members whose drivers count in an unowned group's owner_cnt)."""
    g = st["groups"].get(n)
    if g is None:
        return []
    devs = st["devices"]
    return [(d, devs[d]["driver"]) for d in g["devices"]
            if d in devs and devs[d]["driver"] and devs[d]["managed"] is False]


def _owned(st, n, old=False):
    """A group's users, from the public state, for QEMU's viability check (not a kernel refusal).
    `old`: Linux before 5.19, which keeps no owner_cnt (VFIO walks the members' drivers itself)."""
    g = st["groups"][n]
    cnt = g["owner_cnt"]
    if old:
        users = [f"{d} is bound to {drv}, a driver VFIO's check does not allow" for d, drv in kernel_dma_users(st, n)]
        return f"VFIO's check of group {n}'s drivers fails: " + ("; ".join(users) or "a member is not allowed")
    if g["owner"] != "NULL":
        return f"group {n} is owned by user space ({g['owner']}, owner_cnt {cnt})"
    users = [f"{d} is bound to {drv}, a kernel DMA driver" for d, drv in kernel_dma_users(st, n)]
    if users:
        return f"group {n} has owner_cnt {cnt}: " + "; ".join(users)
    return f"group {n} has owner_cnt {cnt} although no kernel DMA driver is bound (a leaked count)"


def _not_viable(events):
    """The group of a VFIO_GROUP_GET_STATUS answer without the VIABLE flag, if any."""
    for ev in events:
        if ev.op == "group-status" and isinstance(ev.result, int) and ev.result >= 0 \
                and not ev.result & VFIO_GROUP_FLAGS_VIABLE and ev.groups:
            return ev.groups[0][0]
    return None


def refusal(k, step_events, stderr=""):
    """(errno name, Linux's text, the rule in one sentence) for a refused step, or None. A user
    program that stopped on its own (QEMU on a group that is not viable) is explained too, from
    the VFIO_GROUP_GET_STATUS answer it read; `stderr` is accepted for callers and not read."""
    top = next((e for e in step_events if e.depth == 0 and e.refused), None)
    if top is not None:
        reason = origin([e for e in step_events if e.step == top.step])
    else:
        n = _not_viable(step_events)
        if n is not None and n in k.state()["groups"]:
            st = k.state()
            tail = ("every device of the group must leave its kernel driver" if kernel_dma_users(st, n)
                    else f"a count no bound driver explains: iommulab-why {n} says where it came from")
            old = bool(getattr(getattr(k, "f", None), "old_vfio_viability", False))
            return ("not viable", "QEMU's VFIO_GROUP_GET_STATUS check", f"QEMU stops because "
                    f"{_owned(st, n, old)} — {tail}")
        reason = origin([e for e in step_events if e.refused])      # an inner call refused; none did at the top
        if reason is None:
            return None
    err = top.errno if top is not None else reason.errno
    rule = sentence(reason) if reason is not None else "the kernel refused it"
    return f"-{errname(err)}", strerror(err), rule
