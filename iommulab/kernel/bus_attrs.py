"""The sysfs attribute stores of the driver core and the PCI driver layer: bind/unbind,
drivers_probe and drivers_autoprobe (drivers/base/bus.c), driver_override (drivers/base/driver.c,
driver_set_override()), new_id/remove_id (drivers/pci/pci-driver.c) and bool module parameters
(kernel/params.c). Each returns the byte count or a negative errno, as in C."""
from types import SimpleNamespace

from . import dd
from .bus import pci
from .bus.common import driver_match_device
from .errno import EEXIST, EINVAL, ENODEV
from .kstrtox import kstrtobool
from .pending import release_or_block
from .reasons import refuse
from .trace import traced

PAGE_SIZE = 4096


def strip_newline(buf):
    """sysfs_streq()'s tolerance: one trailing newline does not count."""
    return buf[:-1] if buf.endswith("\n") else buf


def _find_bus_device(k, bus, buf):
    """bus_find_device_by_name(): sysfs_streq, so one trailing newline is fine."""
    dev = k.devices.get(strip_newline(buf))
    return dev if dev is not None and dev.bus is bus and dev.registered else None


@traced(lambda drv, buf: None)
def bind_store(drv, buf):
    k = drv.k
    dev = _find_bus_device(k, drv.bus, buf)
    if dev is None:
        return refuse(k, ENODEV, "no-such-device", name=strip_newline(buf), bus=drv.bus, driver=drv)
    if not driver_match_device(drv, dev):
        return refuse(k, ENODEV, "driver-does-not-match", device=dev, driver=drv,
                      driver_override=dev.driver_override, bound=dev.driver)
    rc = dd.device_driver_attach(drv, dev)
    return rc if rc else len(buf)


@traced(lambda drv, buf: None)
def unbind_store(drv, buf):
    k = drv.k
    dev = _find_bus_device(k, drv.bus, buf)
    if dev is None:
        return refuse(k, ENODEV, "no-such-device", name=strip_newline(buf), bus=drv.bus, driver=drv)
    if dev.driver is not drv:
        return refuse(k, ENODEV, "not-bound-to-driver", device=dev, driver=drv, bound=dev.driver)
    return release_or_block(k, dev, f"/sys/bus/{drv.bus.name}/drivers/{drv.name}/unbind", buf)


@traced(lambda dev, buf: dev.iommu_group)
def driver_override_store(dev, buf):
    if len(buf) >= PAGE_SIZE:
        return refuse(dev.k, EINVAL, "buffer-too-long", device=dev, length=len(buf), limit=PAGE_SIZE)
    text = buf.split("\n", 1)[0]
    dev.driver_override = text or None
    return len(buf)


@traced(lambda drv, buf: None)
def new_id_store(drv, buf):
    """Adds a dynamic id and probes unbound devices; -EEXIST if the driver already matches it."""
    try:
        vendor, device, subv, subd, cls, mask = pci.parse_new_id(buf)
    except ValueError:
        return refuse(drv.k, EINVAL, "bad-id", driver=drv, value=strip_newline(buf))

    probe = SimpleNamespace(id=f"{vendor & 0xFFFF:04x}:{device & 0xFFFF:04x}", driver_override=None,
                            kind="endpoint", class_code=cls, vendor_device=(vendor, device))
    if pci.pci_match_device(drv, probe):            # the fake pci_dev new_id_store() checks with
        return refuse(drv.k, EEXIST, "id-already-matched", driver=drv, id=probe.id)
    drv.dynids.append((vendor, device, subv, subd, cls, mask))
    dd.driver_attach(drv)
    return len(buf)


@traced(lambda drv, buf: None)
def remove_id_store(drv, buf):
    fields = buf.split()
    if len(fields) < 2 or len(fields) > 6:
        return refuse(drv.k, EINVAL, "bad-id", driver=drv, value=strip_newline(buf))
    try:
        vendor, device, subv, subd, cls, mask = pci.parse_new_id(buf)
    except ValueError:
        return refuse(drv.k, EINVAL, "bad-id", driver=drv, value=strip_newline(buf))
    for i, (v, d, sv, sd, c, _mask) in enumerate(drv.dynids):    # remove_id_store() uses the written mask
        if (v == vendor and d == device and (subv == pci.PCI_ANY_ID or sv == subv)
                and (subd == pci.PCI_ANY_ID or sd == subd) and not ((c ^ cls) & mask)):
            del drv.dynids[i]
            return len(buf)
    return refuse(drv.k, ENODEV, "no-such-dynid", driver=drv, id=f"{vendor & 0xFFFF:04x}:{device & 0xFFFF:04x}")


@traced(lambda bus, buf: None)
def drivers_probe_store(bus, buf):
    k = bus.k
    dev = _find_bus_device(k, bus, buf)
    if dev is None:
        return refuse(k, ENODEV, "no-such-device", name=strip_newline(buf), bus=bus)
    if dev.driver is None and dd.device_attach(dev) < 0:
        return refuse(k, EINVAL, "attach-failed", device=dev)
    return len(buf)


def drivers_autoprobe_store(bus, buf):
    bus.drivers_autoprobe = not buf.startswith("0")
    return len(buf)


@traced(lambda k, key, buf: None)
def param_set_bool(k, key, buf):
    """param_set_bool() (kernel/params.c) behind param_attr_store(): kstrtobool() of the
    written text, -EINVAL when it refuses."""
    rc, on = kstrtobool(buf, k.f)
    if rc:
        return refuse(k, EINVAL, "bad-value", param=key, value=strip_newline(buf))
    k.params[key] = on
    return len(buf)
