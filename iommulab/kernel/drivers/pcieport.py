"""pcieport: drivers/pci/pcie/portdrv.c. Its id table (port_pci_ids) names PCIe ports by class;
its probe sets up the port services, which this model does not need."""
from ..pcidev import PORT_KINDS
from .base import BuiltinDriver


class Pcieport(BuiltinDriver):
    NAME, BUS, KIND, MODULE = "pcieport", "pci", "pcieport", "pcieport"

    def id_table_match(self, dev):
        """port_pci_ids: root ports and switch ports (PCI_CLASS_BRIDGE_PCI_NORMAL)."""
        return dev.kind in PORT_KINDS

    def probe(self, dev):
        return 0
