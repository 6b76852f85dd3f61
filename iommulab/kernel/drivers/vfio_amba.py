"""vfio-amba: drivers/vfio/platform/vfio_amba.c (reset_required = false: no reset check)."""
from .vfio_driver import VfioDriver


class VfioAmba(VfioDriver):
    NAME, BUS, MODULE = "vfio-amba", "amba", "vfio_amba"
