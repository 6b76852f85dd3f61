"""Every operation the kernel refuses returns Linux's errno and leaves the observable state — and
the very objects — exactly as they were (../shared/spec/api.md §3, §5; issue: errno paths)."""
import errno

import pytest

from iommulab.kernel.iommu import (iommu_attach_device, iommu_attach_device_pasid, iommu_attach_group,
                                   iommu_device_claim_dma_owner, iommu_device_use_default_domain,
                                   iommu_group_claim_dma_owner, iommu_paging_domain_alloc)
from conftest import dev, drv, make

E = errno


def machine(version="6.6", **kw):
    """Group 1: GPU (vfio-pci) + audio (kernel driver). Group 2: a lone vfio-pci NIC, already owned
    by a running process. Group 3: a port + stub. Group 4: unbound device. A usb device."""
    k = make(version, devices=[
        dev("0000:01:00.0", id="10de:2204", group=1, driver="vfio-pci"),
        dev("0000:01:00.1", id="10de:1aef", group=1, driver="snd_hda_intel"),
        dev("0000:02:00.0", id="8086:1533", group=2, driver="vfio-pci"),
        dev("0000:00:1c.0", kind="root-port", group=3),
        dev("0000:03:00.0", id="8086:10d3", group=3, parent="0000:00:1c.0", driver="pci-stub"),
        dev("0000:04:00.0", id="1b21:1242", group=4),
        dev("0000:05:00.0", id="8086:15b8", group=5, driver="e1000e"),
        dev("0000:06:00.0", id="104c:8240", group=6, kind="pcie-to-pci-bridge"),
        dev("usb1-1", bus="usb", id="046d:c52b"),
    ], drivers=[drv("snd_hda_intel", ids=["10de:1aef"]), drv("e1000e", ids=["8086:15b8"]),
                drv("failing", probe=-12), drv("usbhid", bus="usb")], **kw)
    p = k.spawn("qemu")
    fds = {"c": p.open("/dev/vfio/vfio"), "g2": p.open("/dev/vfio/2")}
    p.ioctl(fds["g2"], "VFIO_GROUP_SET_CONTAINER", fds["c"])
    p.ioctl(fds["c"], "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    fds["d2"] = p.ioctl(fds["g2"], "VFIO_GROUP_GET_DEVICE_FD", "0000:02:00.0")
    fds["g1"] = p.open("/dev/vfio/1")
    fds["i"] = p.open("/dev/iommu")
    fds["null"] = p.open("/dev/null")
    return k, p, fds


W = "write"
CASES = [
    # sysfs writes
    ("bind unknown device", W, "/sys/bus/pci/drivers/vfio-pci/bind", "0000:09:00.0", E.ENODEV),
    ("bind without a match", W, "/sys/bus/pci/drivers/e1000e/bind", "0000:04:00.0", E.ENODEV),
    ("bind an already bound device", W, "/sys/bus/pci/drivers/snd_hda_intel/bind", "0000:01:00.1", E.EBUSY),
    ("probe fails", "override-bind", "0000:04:00.0", "failing", E.ENOMEM),
    ("kernel driver into a user-owned group", "override-bind", "0000:02:00.0", "e1000e", E.EBUSY),
    ("vfio-pci refuses a bridge", "override-bind", "0000:06:00.0", "vfio-pci", E.EINVAL),
    ("a port is already bound to pcieport", "override-bind", "0000:00:1c.0", "vfio-pci", E.EBUSY),
    ("unbind a device of another driver", W, "/sys/bus/pci/drivers/vfio-pci/unbind", "0000:01:00.1", E.ENODEV),
    ("unbind an unbound device", W, "/sys/bus/pci/drivers/vfio-pci/unbind", "0000:04:00.0", E.ENODEV),
    ("new_id junk", W, "/sys/bus/pci/drivers/vfio-pci/new_id", "zz", E.EINVAL),
    ("new_id one field", W, "/sys/bus/pci/drivers/vfio-pci/new_id", "10de", E.EINVAL),
    ("new_id already matched", W, "/sys/bus/pci/drivers/e1000e/new_id", "8086 15b8", E.EEXIST),
    ("remove_id unknown", W, "/sys/bus/pci/drivers/vfio-pci/remove_id", "10de 2204", E.ENODEV),
    ("drivers_probe unknown device", W, "/sys/bus/pci/drivers_probe", "0000:0f:00.0", E.ENODEV),
    ("rescan junk", W, "/sys/bus/pci/rescan", "yes", E.EINVAL),
    ("remove junk", W, "/sys/bus/pci/devices/0000:04:00.0/remove", "please", E.EINVAL),
    ("override too long", W, "/sys/bus/pci/devices/0000:04:00.0/driver_override", "x" * 5000, E.EINVAL),
    ("type while bound", W, "/sys/kernel/iommu_groups/5/type", "identity", E.EPERM),
    ("type junk", W, "/sys/kernel/iommu_groups/4/type", "fast", E.EINVAL),
    ("type of an owned group", W, "/sys/kernel/iommu_groups/2/type", "identity", E.EPERM),
    ("module parameter junk", W, "/sys/module/iommufd/parameters/allow_unsafe_interrupts", "maybe", E.EINVAL),
    ("read-only file", W, "/sys/bus/pci/devices/0000:04:00.0/vendor", "0x1234", E.EACCES),
    ("a directory", W, "/sys/kernel/iommu_groups/4", "x", E.EISDIR),
    ("no such file", W, "/sys/bus/pci/devices/0000:04:00.0/nope", "1", E.ENOENT),
    ("usb has no driver_override", W, "/sys/bus/usb/devices/usb1-1/driver_override", "usbhid", E.ENOENT),
    # opens
    ("open a group with no VFIO device", "open", "/dev/vfio/4", None, E.ENOENT),
    ("open a group file twice", "open", "/dev/vfio/1", None, E.EBUSY),
    ("open a missing cdev", "open", "/dev/vfio/devices/vfio9", None, E.ENOENT),
    ("open a missing node", "open", "/dev/vfio/devices", None, E.ENOENT),
    # ioctls
    ("SET_CONTAINER not viable", "ioctl", "g1", ("VFIO_GROUP_SET_CONTAINER", "c"), E.EPERM),
    ("SET_CONTAINER bad fd", "ioctl", "g1", ("VFIO_GROUP_SET_CONTAINER", 99), E.EBADF),
    ("SET_CONTAINER /dev/null", "ioctl", "g1", ("VFIO_GROUP_SET_CONTAINER", "null"), E.EBADFD),
    ("SET_CONTAINER twice", "ioctl", "g2", ("VFIO_GROUP_SET_CONTAINER", "c"), E.EINVAL),
    ("UNSET_CONTAINER nothing set", "ioctl", "g1", ("VFIO_GROUP_UNSET_CONTAINER", None), E.EINVAL),
    ("UNSET_CONTAINER devices open", "ioctl", "g2", ("VFIO_GROUP_UNSET_CONTAINER", None), E.EBUSY),
    ("GET_DEVICE_FD unknown", "ioctl", "g2", ("VFIO_GROUP_GET_DEVICE_FD", "0000:07:00.0"), E.ENODEV),
    ("GET_DEVICE_FD no container", "ioctl", "g1", ("VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0"), E.EINVAL),
    ("SET_IOMMU twice", "ioctl", "c", ("VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU"), E.EINVAL),
    ("unknown ioctl", "ioctl", "g1", ("VFIO_DEVICE_RESET", None), E.ENOTTY),
    ("ioctl on a closed fd", "ioctl", 42, ("VFIO_GROUP_GET_STATUS", None), E.EBADF),
    ("close a closed fd", "close", 42, None, E.EBADF),
    # kernel API
    ("claim a kernel-used group", "api", iommu_group_claim_dma_owner, ("G1", "X"), -E.EPERM),
    ("claim an owned group", "api", iommu_group_claim_dma_owner, ("G2", "X"), -E.EPERM),
    ("device claim, other owner", "api", iommu_device_claim_dma_owner, ("D2", "X"), -E.EPERM),
    ("device claim, no group", "api", iommu_device_claim_dma_owner, ("USB", "X"), -E.ENODEV),
    ("use_default in an owned group", "api", iommu_device_use_default_domain, ("D2",), -E.EBUSY),
    ("attach over a user domain", "api", iommu_attach_group, ("DOM", "G2"), -E.EBUSY),
    ("attach_device, two devices", "api", iommu_attach_device, ("DOM", "D1"), -E.EINVAL),
    ("pasid 0", "api", iommu_attach_device_pasid, ("DOM", "D4", 0), -E.EINVAL),
]


def _resolve(k, fds, a):
    table = {"G1": k.iommu_groups[1], "G2": k.iommu_groups[2], "D1": k.devices["0000:01:00.0"],
             "D2": k.devices["0000:02:00.0"], "D4": k.devices["0000:04:00.0"], "USB": k.devices["usb1-1"]}
    if a == "DOM":
        return iommu_paging_domain_alloc(k.devices["0000:04:00.0"], "Dx")
    if isinstance(a, str) and a in fds:
        return fds[a]
    return table.get(a, a) if isinstance(a, str) else a


def identities(k):
    return {"groups": {n: (id(g), id(g.domain), id(g.default_domain), id(g.owner)) for n, g in k.iommu_groups.items()},
            "devices": {n: (id(d), id(d.driver), id(d.iommu_group)) for n, d in k.devices.items()}}


def user_op(p, fds, kind, target, arg):
    """A table row's system call from user space: open, ioctl (fd names resolved) or close."""
    if kind == "open":
        p.open(target)
    elif kind == "ioctl":
        req, a = arg
        p.ioctl(fds.get(target, target), req, fds.get(a, a) if isinstance(a, str) else a)
    elif kind == "close":
        p.close(target)


@pytest.mark.parametrize("name,kind,target,arg,want", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("version", ["6.6", "6.18"])
def test_refused_operation_changes_nothing(version, name, kind, target, arg, want):
    k, p, fds = machine(version)
    if kind == "api" and target is iommu_attach_group:
        arg = (iommu_paging_domain_alloc(k.devices["0000:04:00.0"], "Dx"), "G2")
    args = [_resolve(k, fds, a) for a in (arg or ())] if kind == "api" else None
    before, ids, n_events = k.state(), identities(k), len(k.events)
    if kind == "api":
        assert target(*args) == want
    else:
        with pytest.raises(OSError) as exc:
            if kind == W:
                k.write(target, arg)
            elif kind == "override-bind":
                k.write(f"/sys/bus/pci/devices/{target}/driver_override", arg)
                before, ids, n_events = k.state(), identities(k), len(k.events)
                k.write(f"/sys/bus/pci/drivers/{arg}/bind", target)
            else:
                user_op(p, fds, kind, target, arg)
        assert exc.value.errno == want, exc.value
    assert k.state() == before
    assert identities(k) == ids
    # One action, traced as the call the table names, that returned the table's errno
    actions = [e for e in k.events[n_events:] if e.depth == 0]
    assert len(actions) == 1, actions
    ev = actions[0]
    op = {W: "write", "override-bind": "write", "open": "open", "ioctl": "ioctl", "close": "close"}
    if kind == "api":
        assert ev.func == target.__name__, ev
    else:
        assert ev.op == op[kind], ev
    assert ev.refused and ev.kind == "refusal" and ev.errno == abs(want), ev
