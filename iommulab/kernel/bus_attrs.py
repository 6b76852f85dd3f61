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
    """driver_override_store() → driver_set_override() (drivers/base/driver.c, 5.19; before it
    pci-sysfs.c's store had the same test): `count >= PAGE_SIZE - 1` is -EINVAL, counted in
    bytes (the store keeps room for the newline sysfs_emit() adds); then strlen(), so a NUL ends
    the name; up to the first newline; empty (or just a newline) clears the override."""
    count = len(buf.encode("utf-8", "surrogatepass"))
    if count >= PAGE_SIZE - 1:
        return refuse(dev.k, EINVAL, "buffer-too-long", device=dev, length=count, limit=PAGE_SIZE - 1)
    text = buf.split("\0", 1)[0].split("\n", 1)[0]
    dev.driver_override = text or None
    return len(buf)


def _id_text(vendor, device):
    return f"{vendor & 0xFFFF:04x}:{device & 0xFFFF:04x}"


@traced(lambda drv, buf: None)
def new_id_store(drv, buf):
    """new_id_store() (drivers/pci/pci-driver.c): sscanf(buf, "%x %x %x %x %x %x %lx") must
    convert vendor and device (-EINVAL); unless all seven were given, a pci_dev with those ids
    that the driver already matches (pci_match_device()) is -EEXIST; with a static id table the
    driver_data must be one of its entries' (-EINVAL); then pci_add_dynid() and driver_attach().
    PCI_ANY_ID (ffffffff) in vendor or device matches every device; "-1" converts nothing."""
    fields, (vendor, device, subv, subd, cls, mask, driver_data) = pci.parse_new_id(buf)
    if fields < 2:
        return refuse(drv.k, EINVAL, "bad-id", driver=drv, value=strip_newline(buf))
    if fields != 7:
        probe = SimpleNamespace(id=_id_text(vendor, device), driver_override=None, kind="endpoint",
                                class_code=cls, vendor_device=(vendor & 0xFFFF, device & 0xFFFF))
        if pci.pci_match_device(drv, probe):        # the fake pci_dev new_id_store() checks with
            return refuse(drv.k, EEXIST, "id-already-matched", driver=drv, id=probe.id)
    table = drv.id_table_driver_data()
    if table is not None and driver_data not in table:
        return refuse(drv.k, EINVAL, "bad-id", driver=drv, value=strip_newline(buf))
    drv.dynids.append((vendor, device, subv, subd, cls, mask))
    dd.driver_attach(drv)
    return len(buf)


@traced(lambda drv, buf: None)
def remove_id_store(drv, buf):
    """remove_id_store(): sscanf(buf, "%x %x %x %x %x %x") (more text after six fields is
    ignored), at least vendor and device (-EINVAL); the first dynamic id with that vendor and
    device, matching subvendor/subdevice unless PCI_ANY_ID and the class under the written
    mask, goes; none: -ENODEV."""
    fields, (vendor, device, subv, subd, cls, mask, _) = pci.parse_new_id(buf, "%x %x %x %x %x %x")
    if fields < 2:
        return refuse(drv.k, EINVAL, "bad-id", driver=drv, value=strip_newline(buf))
    for i, (v, d, sv, sd, c, _mask) in enumerate(drv.dynids):    # remove_id_store() uses the written mask
        if (v == vendor and d == device and (subv == pci.PCI_ANY_ID or sv == subv)
                and (subd == pci.PCI_ANY_ID or sd == subd) and not ((c ^ cls) & mask)):
            del drv.dynids[i]
            return len(buf)
    return refuse(drv.k, ENODEV, "no-such-dynid", driver=drv, id=_id_text(vendor, device))


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
