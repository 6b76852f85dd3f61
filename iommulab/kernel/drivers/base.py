"""struct device_driver with its probe() and remove(): the generic, data-driven driver of a
scenario's [[driver]] table, and the base of the built-in drivers.

A scenario driver's probe() returns its `probe` value after running a Python hook if a kernel
developer set one (probe_hook/remove_hook, for example iommu_attach_group for a private domain).
"""
from ..bus.common import id_matches
from ..device import DeviceDriver


class Driver(DeviceDriver):
    """A scenario's driver: probe returns `probe` (0 or a negative errno)."""

    def id_table_match(self, dev):
        """The driver's static id table names dev (override-only entries never match alone)."""
        return not self.override_only and any(id_matches(p, dev) for p in self.ids)

    def id_table_driver_data(self):
        """The driver_data of each entry of its static id table (new_id_store() accepts a
        written driver_data only if one entry has it), or None for a NULL id_table. A scenario
        driver's table is its `ids`, each with driver_data 0; no ids: no table."""
        return (0,) * len(self.ids) if self.ids else None

    def probe(self, dev):
        rc = self.probe_rc
        if self.probe_hook is not None:
            hook_rc = self.probe_hook(self.k, dev)
            if isinstance(hook_rc, int) and hook_rc:
                rc = hook_rc
        return rc

    def remove(self, dev, then):
        """The driver's remove(). A remove that may block (VFIO's) returns the blocker and calls
        `then` when it lets go; this one completes at once and returns None."""
        if self.remove_hook is not None:
            self.remove_hook(self.k, dev)
        if then is not None:
            then()
        return None


class BuiltinDriver(Driver):
    """A driver of the kernel itself. Subclasses name it, its bus, its kind (what lspci and the
    explorer ask: "vfio", "pci-stub", "pcieport") and its module; all are driver_managed_dma and
    match only through driver_override (or dynamic ids) unless they say otherwise."""
    NAME = BUS = KIND = MODULE = None
    SINCE = None                 # the first release that has it, where exists() depends on it
    OVERRIDE_ONLY = True
    # The static table's driver_data values: vfio-pci's vfio_pci_table has one override-only
    # PCI_ANY_ID entry, pcieport's port_pci_ids carry 0 (see id_table_driver_data())
    ID_TABLE_DRIVER_DATA: "tuple[int, ...] | None" = (0,)

    def id_table_driver_data(self):
        return self.ID_TABLE_DRIVER_DATA

    @classmethod
    def exists(cls, f):
        """Whether the release of Features f has this driver."""
        return True

    @classmethod
    def spec(cls):
        return {"name": cls.NAME, "bus": cls.BUS, "builtin": cls.KIND, "override_only": cls.OVERRIDE_ONLY,
                "module": cls.MODULE, "driver_managed_dma": True}
