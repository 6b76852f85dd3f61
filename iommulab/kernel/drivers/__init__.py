"""The drivers: one class per built-in driver, registered below with one line each, and the
generic data-driven Driver for a scenario's [[driver]] tables.

vfio-pci ↔ drivers/vfio/pci/vfio_pci.c, pci-stub ↔ drivers/pci/pci-stub.c, pcieport ↔
drivers/pci/pcie/portdrv.c, vfio-platform/-amba ↔ drivers/vfio/platform/, vfio-fsl-mc ↔
drivers/vfio/fsl-mc/, vfio-cdx ↔ drivers/vfio/cdx/ (6.5). Registration order is the order the
kernel registers them at boot (before the scenario's drivers).
Adding a driver: one module here with a BuiltinDriver subclass and one register() line.
"""
from .base import BuiltinDriver, Driver
from .pci_stub import PciStub
from .pcieport import Pcieport
from .vfio_amba import VfioAmba
from .vfio_cdx import VfioCdx
from .vfio_fsl_mc import VfioFslMc
from .vfio_pci import VfioPci
from .vfio_platform import VfioPlatform
from ..vfio import vfio_group_nb_verify_bound

BUILTIN = {}


def register(cls):
    """Register a built-in driver class (by its NAME)."""
    BUILTIN[cls.NAME] = cls
    return cls


def unregister(name):
    """Remove a driver registered by a test."""
    BUILTIN.pop(name, None)


register(VfioPci)
register(PciStub)
register(Pcieport)
register(VfioPlatform)
register(VfioAmba)
register(VfioFslMc)
register(VfioCdx)

BUILTIN_NAMES = tuple(BUILTIN)


def builtin_drivers(f):
    """The built-in driver classes the release of Features f has (vfio-cdx is new in 6.5)."""
    return [cls for cls in BUILTIN.values() if cls.exists(f)]


def notify_bound(dev):
    """BUS_NOTIFY_BOUND_DRIVER listeners: pre-5.19 VFIO checks viability of live groups."""
    if dev.k.f.old_vfio_viability:
        vfio_group_nb_verify_bound(dev)


__all__ = ["BUILTIN", "BUILTIN_NAMES", "BuiltinDriver", "Driver", "builtin_drivers", "notify_bound",
           "register", "unregister"]
