"""vfio-cdx: drivers/vfio/cdx/main.c, new in 6.5."""
from .vfio_driver import VfioDriver


class VfioCdx(VfioDriver):
    NAME, BUS, MODULE = "vfio-cdx", "cdx", "vfio_cdx"
    SINCE = "6.5"

    @classmethod
    def exists(cls, f):
        return f.cdx_ownership
