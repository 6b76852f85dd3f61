"""vfio-fsl-mc: drivers/vfio/fsl-mc/vfio_fsl_mc.c."""
from .vfio_driver import VfioDriver


class VfioFslMc(VfioDriver):
    NAME, BUS, MODULE = "vfio-fsl-mc", "fsl-mc", "vfio_fsl_mc"
