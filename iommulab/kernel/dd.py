"""The driver core's probe and release paths, after drivers/base/dd.c.

really_probe() with its failure labels and the CONFIG_DEBUG_TEST_DRIVER_REMOVE pass,
__driver_probe_device(), driver_probe_device(), device_driver_attach() (sysfs bind),
__device_attach() (automatic probing), driver_attach(), __device_release_driver() and the
deferred-probe list. ../shared/spec/kernel-ownership.md §3.
"""
from .bus.common import bus_has_dma_cleanup, driver_match_device
from .errno import EAGAIN, EBUSY, ENODEV, EPROBE_DEFER, ENXIO
from .reasons import refuse
from .trace import traced
from .drivers import notify_bound


def _grp(dev, *rest):
    return dev.iommu_group


def _grp2(_, dev, *rest):
    return dev.iommu_group


def _has_dma_hooks(dev):
    return dev.bus.dma_hooks


def _has_dma_cleanup(dev):
    return bus_has_dma_cleanup(dev.bus)


def call_driver_probe(dev, drv):
    """call_driver_probe(): runs probe(); logs a real failure (not -ENODEV/-ENXIO/-EPROBE_DEFER)."""
    rc = drv.probe(dev)
    if rc and rc not in (-EPROBE_DEFER, -ENODEV, -ENXIO):
        dev.k.printk(f"{drv.name} {dev.name}: probe with driver {drv.name} failed with error {rc}")
    if rc:
        refuse(dev.k, abs(rc), "probe-deferred" if rc == -EPROBE_DEFER else "probe-failed",
               device=dev, driver=drv, rc=rc)
    return rc


def _rfc_claim(dev, drv):
    from . import rfc2021
    if not rfc2021.driver_claims_kernel_owner(drv):
        return 0
    return rfc2021.iommu_device_set_dma_owner(dev, "DMA_OWNER_KERNEL", None)


def _rfc_release(dev, drv):
    from . import rfc2021
    if rfc2021.driver_claims_kernel_owner(drv):
        rfc2021.iommu_device_release_dma_owner(dev, "DMA_OWNER_KERNEL")


def _unwind(dev, drv, rc, configured):
    """The probe_failed / sysfs_failed / pinctrl_bind_failed labels."""
    k = dev.k
    if configured and _has_dma_cleanup(dev) and k.f.has_ownership:
        dev.bus.ops.dma_cleanup(dev)
    dev.driver, dev.driver_linked = None, False
    if k.f.rfc2021:
        _rfc_release(dev, drv)
    return rc


@traced(_grp, op="probe")
def really_probe(dev, drv):
    """Bind drv to dev. Returns 0, a negative errno (dma_configure failed) or a positive errno
    (drv's probe failed, so the next driver may try)."""
    k = dev.k
    test_remove = k.config["CONFIG_DEBUG_TEST_DRIVER_REMOVE"] and not drv.suppress_bind_attrs
    if k.f.rfc2021:
        # The RFC claimed kernel ownership before the re_probe label: no test_remove leak.
        rc = _rfc_claim(dev, drv)
        if rc:
            return rc
    while True:                                             # re_probe:
        dev.driver = drv
        dev.driver_linked = True                            # driver_sysfs_add()
        if _has_dma_hooks(dev):
            rc = dev.bus.ops.dma_configure(dev)
            if rc:                                          # skips dma_cleanup: nothing counted
                return _unwind(dev, drv, rc, configured=False)
        rc = call_driver_probe(dev, drv)
        if rc:
            return _unwind(dev, drv, -rc, configured=True)
        if test_remove:
            test_remove = False
            drv.remove(dev, then=None)
            if _has_dma_cleanup(dev) and k.f.test_remove_cleanup_fix:
                dev.bus.ops.dma_cleanup(dev)                # f429378a9bf8; before it, a leak
            dev.driver, dev.driver_linked = None, False     # driver_sysfs_remove(), device_unbind_cleanup()
            continue
        driver_bound(dev)
        return 0


def driver_bound(dev):
    """driver_bound(): the device is bound; tell listeners; retry deferred devices."""
    k = dev.k
    driver_deferred_probe_del(dev)
    notify_bound(dev)
    driver_deferred_probe_trigger(k)


@traced(_grp2)
def __driver_probe_device(drv, dev):
    if not dev.registered:
        return refuse(dev.k, ENODEV, "device-not-registered", device=dev, driver=drv)
    if dev.driver is not None:
        return refuse(dev.k, EBUSY, "device-already-bound", device=dev, driver=dev.driver, wanted=drv)
    return really_probe(dev, drv)


def driver_probe_device(drv, dev):
    """__driver_probe_device() plus the deferred list on ±EPROBE_DEFER."""
    rc = __driver_probe_device(drv, dev)
    if rc in (-EPROBE_DEFER, EPROBE_DEFER):
        driver_deferred_probe_add(dev)
    return rc


@traced(_grp2)
def device_driver_attach(drv, dev):
    """The sysfs bind path: probe errors become negative, -EPROBE_DEFER becomes -EAGAIN."""
    rc = __driver_probe_device(drv, dev)
    if rc > 0:
        rc = -rc
    if rc == -EPROBE_DEFER:
        return refuse(dev.k, EAGAIN, "probe-deferred", device=dev, driver=drv)
    return rc


def __device_attach_driver(drv, dev):
    """One driver of the iteration: 0 try the next, 1 bound, negative stop."""
    if not driver_match_device(drv, dev):
        return 0
    rc = driver_probe_device(drv, dev)
    if rc < 0:
        return rc
    return 1 if rc == 0 else 0


@traced(_grp)
def device_attach(dev):
    """__device_attach(): try every driver of the bus in registration order. 1 bound, 0 none,
    negative when a driver's dma_configure stopped the iteration."""
    if dev.driver is not None:
        return 1
    for drv in dev.k.bus_drivers(dev.bus):
        rc = __device_attach_driver(drv, dev)
        if rc:
            return rc
    return 0


def bus_probe_device(dev):
    """Automatic probing on device add: results are ignored, the device just stays unbound."""
    if dev.bus.drivers_autoprobe:
        device_attach(dev)


@traced(lambda drv: None)
def driver_attach(drv):
    """driver_attach(): a driver appeared (or gained an id): probe every unbound device it matches."""
    for dev in list(drv.k.bus_devices(drv.bus)):
        if dev.driver is None and dev.registered and driver_match_device(drv, dev):
            driver_probe_device(drv, dev)
    return 0


def probe_named_driver(dev, drv):
    """Boot with a scenario's `driver = …`: the same probe path, without the id match."""
    return driver_probe_device(drv, dev)


# --- release -------------------------------------------------------------------------------

@traced(_grp, op="release-driver")
def device_release_driver(dev):
    """__device_release_driver(): driver remove() (VFIO may block here), then dma_cleanup, then
    dev->driver = NULL. Returns None when done, or the blocker object when remove() waits."""
    drv = dev.driver
    if drv is None:
        return None

    def finish():
        _release_finish(dev, drv)

    dev.driver_linked = False              # driver_sysfs_remove(): before the driver's remove()
    return drv.remove(dev, then=finish)


def _release_finish(dev, drv):
    k = dev.k
    if _has_dma_cleanup(dev) and k.f.has_ownership:
        dev.bus.ops.dma_cleanup(dev)
    dev.driver = None
    if k.f.rfc2021:
        _rfc_release(dev, drv)
    k.tracer_note(f"{dev.name} unbound from {drv.name}", ("unbound", dev.name))


# --- deferred probing ------------------------------------------------------------------------

def driver_deferred_probe_add(dev):
    k = dev.k
    if dev not in k.deferred_probe:
        k.deferred_probe.append(dev)
        dev.deferred = True


def driver_deferred_probe_del(dev):
    k = dev.k
    if dev in k.deferred_probe:
        k.deferred_probe.remove(dev)
    dev.deferred = False


def driver_deferred_probe_trigger(k):
    """Retry every deferred device (Linux does it from a workqueue after any successful bind)."""
    if k.retrying_deferred or not k.deferred_probe:
        return
    k.retrying_deferred = True
    try:
        progress = True
        while progress:
            progress = False
            for dev in list(k.deferred_probe):
                if dev.driver is None and dev.registered:
                    device_attach(dev)
                if dev.driver is not None:
                    driver_deferred_probe_del(dev)
                    progress = True
    finally:
        k.retrying_deferred = False
