"""vfio-platform: drivers/vfio/platform/vfio_platform.c and vfio_platform_common.c."""
from ..errno import ENOENT
from ..reasons import refuse
from .vfio_driver import VfioDriver

# The reset handlers of drivers/vfio/platform/reset/, by the compatible each registers with
# module_vfio_reset_handler(); a platform device has a reset function iff its compatible is here.
VFIO_PLATFORM_RESET_HANDLERS = {
    "calxeda,hb-xgmac": "vfio-platform-calxedaxgmac",
    "amd,xgbe-seattle-v1a": "vfio-platform-amdxgbe",
    "brcm,iproc-flexrm-mbox": "vfio-platform-bcmflexrm",
}


def vfio_platform_get_reset(dev):
    """vfio_platform_init_common(): a device without a reset function fails the probe with
    -ENOENT while vfio_platform.reset_required is set (the default, a read-only 0444 parameter:
    only the command line or modprobe change it). vfio-amba sets reset_required = false."""
    k = dev.k
    if dev.id in VFIO_PLATFORM_RESET_HANDLERS or not k.params.get("vfio_platform.reset_required", True):
        return 0
    k.printk(f"{dev.log_prefix()}: No reset function found for device {dev.name}")
    return refuse(k, ENOENT, "reset-required", device=dev, compatible=dev.id)


class VfioPlatform(VfioDriver):
    NAME, BUS, MODULE = "vfio-platform", "platform", "vfio_platform"

    def probe(self, dev):
        """vfio_platform_probe() → vfio_platform_init_common(): a reset function is required."""
        rc = vfio_platform_get_reset(dev)
        if rc:
            return rc
        return super().probe(dev)
