"""What the built-in drivers do in probe() and remove().

vfio-pci ↔ drivers/vfio/pci/vfio_pci.c (refuses non-normal headers, registers a VFIO device),
vfio-platform/-amba/-fsl-mc/-cdx ↔ drivers/vfio/{platform,fsl-mc,cdx}/, pci-stub ↔
drivers/pci/pci-stub.c, pcieport ↔ drivers/pci/pcie/portdrv.c. Scenario drivers return their
`probe` value, after running a Python hook if a kernel developer set one.
"""
from .device import BRIDGE_KINDS
from .errno import EINVAL, ENOENT

# The reset handlers of drivers/vfio/platform/reset/, by the compatible each registers with
# module_vfio_reset_handler(); a platform device has a reset function iff its compatible is here.
VFIO_PLATFORM_RESET_HANDLERS = {
    "calxeda,hb-xgmac": "vfio-platform-calxedaxgmac",
    "amd,xgbe-seattle-v1a": "vfio-platform-amdxgbe",
    "brcm,iproc-flexrm-mbox": "vfio-platform-bcmflexrm",
}

# name, bus, builtin kind, override_only, module
BUILTIN_DRIVERS = (
    ("vfio-pci", "pci", "vfio", True, "vfio_pci"),
    ("pci-stub", "pci", "pci-stub", True, "pci_stub"),
    ("pcieport", "pci", "pcieport", True, "pcieport"),
    ("vfio-platform", "platform", "vfio", True, "vfio_platform"),
    ("vfio-amba", "amba", "vfio", True, "vfio_amba"),
    ("vfio-fsl-mc", "fsl-mc", "vfio", True, "vfio_fsl_mc"),
    ("vfio-cdx", "cdx", "vfio", True, "vfio_cdx"),
)
BUILTIN_NAMES = tuple(d[0] for d in BUILTIN_DRIVERS)


def builtin_exists(name, f):
    """Whether a built-in driver exists in the release: vfio-cdx is new in 6.5."""
    return name != "vfio-cdx" or f.cdx_ownership


def builtin_specs(f=None):
    for name, bus, kind, override_only, module in BUILTIN_DRIVERS:
        if f is not None and not builtin_exists(name, f):
            continue
        yield {"name": name, "bus": bus, "builtin": kind, "override_only": override_only,
               "module": module, "driver_managed_dma": True}


def probe(dev, drv):
    k = dev.k
    if drv.builtin == "vfio":
        from .vfio import vfio_register_group_dev
        if drv.name == "vfio-pci" and dev.kind in BRIDGE_KINDS:
            return -EINVAL                     # vfio_pci_probe(): only normal header type
        if drv.name == "vfio-platform":
            rc = vfio_platform_get_reset(dev)
            if rc:
                return rc
        return vfio_register_group_dev(dev)
    if drv.builtin == "pci-stub":
        k.printk(f"pci-stub {dev.name}: claimed by stub")
        return 0
    if drv.builtin == "pcieport":
        return 0
    rc = drv.probe_rc
    if drv.probe_hook is not None:
        hook_rc = drv.probe_hook(k, dev)
        if isinstance(hook_rc, int) and hook_rc:
            rc = hook_rc
    return rc


def vfio_platform_get_reset(dev):
    """vfio_platform_init_common(): a device without a reset function fails the probe with
    -ENOENT while vfio_platform.reset_required is set (the default, a read-only 0444 parameter:
    only the command line or modprobe change it). vfio-amba sets reset_required = false."""
    k = dev.k
    if dev.id in VFIO_PLATFORM_RESET_HANDLERS or not k.params.get("vfio_platform.reset_required", True):
        return 0
    k.printk(f"{dev.log_prefix()}: No reset function found for device {dev.name}")
    return -ENOENT


def remove(dev, drv, then):
    """The driver's remove(). VFIO drivers may block: they return the blocker and call `then`
    when it lets go; every other remove completes at once. Returns None when done."""
    if drv.builtin == "vfio" and dev.vfio_device is not None:
        from .vfio import vfio_unregister_group_dev
        return vfio_unregister_group_dev(dev.vfio_device, then)
    if drv.remove_hook is not None:
        drv.remove_hook(dev.k, dev)
    if then is not None:
        then()
    return None


def notify_bound(dev):
    """BUS_NOTIFY_BOUND_DRIVER listeners: pre-5.19 VFIO checks viability of live groups."""
    if dev.k.f.old_vfio_viability:
        from .vfio import vfio_group_nb_verify_bound
        vfio_group_nb_verify_bound(dev)
