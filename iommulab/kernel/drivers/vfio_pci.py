"""vfio-pci: drivers/vfio/pci/vfio_pci.c."""
from ..pcidev import BRIDGE_KINDS
from ..errno import EINVAL
from ..reasons import refuse
from .vfio_driver import VfioDriver


class VfioPci(VfioDriver):
    NAME, BUS, MODULE = "vfio-pci", "pci", "vfio_pci"

    def probe(self, dev):
        """vfio_pci_probe(): only a normal header type (no bridge), then register."""
        if dev.kind in BRIDGE_KINDS:
            return refuse(self.k, EINVAL, "not-a-header-type-normal", device=dev, driver=self, kind=dev.kind)
        return super().probe(dev)
