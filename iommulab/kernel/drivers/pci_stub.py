"""pci-stub: drivers/pci/pci-stub.c. Its probe claims the device and does nothing else."""
from .base import BuiltinDriver


class PciStub(BuiltinDriver):
    NAME, BUS, KIND, MODULE = "pci-stub", "pci", "pci-stub", "pci_stub"
    ID_TABLE_DRIVER_DATA = None             # stub_driver.id_table = NULL: only dynamic ids

    def probe(self, dev):
        """pci_stub_probe(): "claimed by stub"."""
        self.k.printk(f"pci-stub {dev.name}: claimed by stub")
        return 0
