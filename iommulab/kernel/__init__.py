"""The simulated kernel: pure Python, standard library only. Module names mirror the kernel's
source files (iommu.py ↔ drivers/iommu/iommu.c, dd.py ↔ drivers/base/dd.c, …)."""
from .kernel import Kernel, KernelCrashed
from .scenario import ScenarioError

__all__ = ["Kernel", "KernelCrashed", "ScenarioError"]
