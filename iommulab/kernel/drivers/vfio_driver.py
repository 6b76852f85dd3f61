"""What every VFIO bus driver shares (drivers/vfio/vfio_main.c): probe registers a VFIO device
with its group (vfio_register_group_dev()); remove unregisters it and may block until user space
closes the device (vfio_unregister_group_dev())."""
from ..vfio import vfio_register_group_dev, vfio_unregister_group_dev
from .base import BuiltinDriver


class VfioDriver(BuiltinDriver):
    KIND = "vfio"

    def probe(self, dev):
        return vfio_register_group_dev(dev)

    def remove(self, dev, then):
        if dev.vfio_device is not None:
            return vfio_unregister_group_dev(dev.vfio_device, then)
        return super().remove(dev, then)
