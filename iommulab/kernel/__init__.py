"""The simulated kernel: pure Python, standard library only. Module names mirror the kernel's
source files (iommu.py ↔ drivers/iommu/iommu.c, dd.py ↔ drivers/base/dd.c, …)."""
from .kernel import Kernel, KernelCrashed
from .pcidev import BRIDGE_KINDS, DEVICE_KINDS, PORT_KINDS
from .scenario import ScenarioError

# The device kinds of the scenario format (`kind = "root-port"`), for the layers above.
__all__ = ["Kernel", "KernelCrashed", "ScenarioError", "BRIDGE_KINDS", "DEVICE_KINDS", "PORT_KINDS"]
