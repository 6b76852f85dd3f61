"""What the built-in drivers do in probe() and remove().

vfio-pci ↔ drivers/vfio/pci/vfio_pci.c (refuses non-normal headers, registers a VFIO device),
vfio-platform/-amba/-fsl-mc/-cdx ↔ drivers/vfio/{platform,fsl-mc,cdx}/, pci-stub ↔
drivers/pci/pci-stub.c, pcieport ↔ drivers/pci/pcie/portdrv.c. Scenario drivers return their
`probe` value, after running a Python hook if a kernel developer set one.
"""
from .device import BRIDGE_KINDS
from .errno import EINVAL

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


def builtin_specs():
    for name, bus, kind, override_only, module in BUILTIN_DRIVERS:
        yield {"name": name, "bus": bus, "builtin": kind, "override_only": override_only,
               "module": module, "driver_managed_dma": True}


def probe(dev, drv):
    k = dev.k
    if drv.builtin == "vfio":
        from .vfio import vfio_register_group_dev
        if drv.name == "vfio-pci" and dev.kind in BRIDGE_KINDS:
            return -EINVAL                     # vfio_pci_probe(): only normal header type
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
