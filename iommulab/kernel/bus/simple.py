"""Buses without DMA-ownership hooks: usb (drivers/usb/core/driver.c, which has new_id/remove_id),
i2c (drivers/i2c/i2c-core-base.c), spi (drivers/spi/spi.c) and virtio (drivers/virtio/virtio.c).
None has dma_configure/dma_cleanup, a driver_override file in this model or a device_group of
its own: their devices sit behind no IOMMU unless the scenario gives a stream ID or a group."""
from types import SimpleNamespace


def hookless_bus(name, **facts):
    """A bus_type with the defaults of kernel/bus/__init__.py and these facts."""
    return SimpleNamespace(NAME=name, **facts)


usb = hookless_bus("usb", HAS_NEW_ID=True)
i2c = hookless_bus("i2c")
spi = hookless_bus("spi")
virtio = hookless_bus("virtio")
