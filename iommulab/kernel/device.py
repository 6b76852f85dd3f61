"""struct device, struct device_driver and struct bus_type (drivers/base/core.c, driver.c, bus.c)."""
from .kobject import KObject
from .schema import DEVICE_DEFAULTS as _DEV, DRIVER_DEFAULTS as _DRV

from .pcidev import BRIDGE_KINDS, DEVICE_KINDS, KIND_WORDS, PORT_KINDS, parse_bdf  # noqa: F401 (re-exported)

# PCI class codes the model uses when a scenario gives none (include/linux/pci_ids.h).
CLASS_BRIDGE_PCI = 0x060400


def device_has_iommu(spec, behind_iommu):
    """Whether a device sits behind an IOMMU: the scenario's `iommu` if given, else its bus's
    default (BEHIND_IOMMU of kernel/bus/), a stream ID or an explicit group."""
    if "iommu" in spec:
        return spec["iommu"]
    return behind_iommu or spec.get("streamid") is not None or spec.get("group") is not None


class Device(KObject):
    """A device on a bus. Topology and firmware facts come from the scenario; the rest is state."""

    def __init__(self, k, spec, bus):
        super().__init__(k)
        self.name = spec["name"]
        self.bus = bus
        self.bdf = bus.ops.device_address(self.name)     # PCI: (domain, bus, slot, fn); else None
        self.id = spec.get("id", _DEV["id"])
        self.kind = spec.get("kind", _DEV["kind"])
        self.parent = spec.get("parent")
        self.multifunction = spec.get("multifunction", _DEV["multifunction"])
        self.acs = spec.get("acs", _DEV["acs"])
        self.untrusted = spec.get("untrusted", _DEV["untrusted"])
        self.require_direct = spec.get("require_direct", _DEV["require_direct"])
        self.streamid = spec.get("streamid", _DEV["streamid"])
        self.explicit_group = spec.get("group")
        self.dma_alias = tuple(spec.get("dma_alias", _DEV["dma_alias"]))    # quirk aliases on the same bus
        self.physfn = spec.get("physfn", _DEV["physfn"])                   # the PF of a virtual function
        self.sriov_totalvfs = spec.get("sriov_totalvfs", _DEV["sriov_totalvfs"])
        self.vf_id = spec.get("vf_id", _DEV["vf_id"])
        self.vf_offset = spec.get("vf_offset", _DEV["vf_offset"])
        self.vf_stride = spec.get("vf_stride", _DEV["vf_stride"])
        self.num_vfs = 0
        self.has_iommu = device_has_iommu(spec, bus.behind_iommu)
        self.default_domain_support = spec.get("default_domain", _DEV["default_domain"])
        self.max_pasids = spec.get("max_pasids", _DEV["max_pasids"])
        self.class_code = spec.get("class", CLASS_BRIDGE_PCI if self.kind in BRIDGE_KINDS else 0)
        self.wanted_driver = spec.get("driver")
        self.vendor_name = spec.get("vendor_name")
        self.device_name = spec.get("device_name")
        self.revision = spec.get("revision", _DEV["revision"])
        # state
        self.present = spec.get("present", _DEV["present"])
        self.registered = False
        self.driver = None
        self.driver_linked = False            # the `driver` link and the driver's entry exist
        self.driver_override = None
        self.iommu_group = None
        self.vfio_device = None
        self.deferred = False
        self.locked_by = None          # a PendingWrite holding device_lock (a blocked remove)

    def label(self):
        return self.name

    def ref(self):
        return ("device", self.name)

    @property
    def vendor_device(self):
        """(vendor, device) as ints for PCI-style 'vvvv:dddd' ids, else None."""
        try:
            v, d = self.id.split(":")
            return int(v, 16), int(d, 16)
        except ValueError:
            return None

    @property
    def is_bridge(self):
        return self.kind in BRIDGE_KINDS

    def log_prefix(self):
        """What dev_info() puts in front: '<driver> <device>' (or the bus name when unbound)."""
        return f"{self.driver.name if self.driver else self.bus.name} {self.name}"

    def __repr__(self):
        drv = self.driver.name if self.driver else None
        grp = self.iommu_group.id if self.iommu_group else None
        return f"<device {self.name} bus={self.bus.name} driver={drv} group={grp}>"


# Drivers whose module has another name (their struct pci_driver .name is not KBUILD_MODNAME):
# drivers/usb/host/xhci-pci.c registers "xhci_hcd" from xhci_pci.ko, i2c-i801.c "i801_smbus".
DRIVER_MODULES = {"xhci_hcd": "xhci_pci", "i801_smbus": "i2c_i801"}


def driver_module(name):
    """The module a driver of this name comes from: its name with '-' as '_' unless listed."""
    return DRIVER_MODULES.get(name, name.replace("-", "_"))


class DeviceDriver(KObject):
    """A driver. `probe_rc` is what probe() returns; hooks let a kernel developer run model
    code inside probe/remove (for example iommu_attach_group for a private domain)."""
    CONTAINERS = ("dynids",)


    def __init__(self, k, spec, bus):
        super().__init__(k)
        self.name = spec["name"]
        self.bus = bus
        self.ids = tuple(spec.get("ids", _DRV["ids"]))
        self.driver_managed_dma = spec.get("driver_managed_dma", _DRV["driver_managed_dma"])
        self.suppress_bind_attrs = spec.get("suppress_bind_attrs", _DRV["suppress_bind_attrs"])
        self.probe_rc = spec.get("probe", _DRV["probe"])
        # vfio-pci's sriov_configure (enable_sriov=1 decides whether it acts) is built in
        self.sriov_configure = spec.get("sriov_configure",
                                        spec.get("name") == "vfio-pci" or _DRV["sriov_configure"])
        self.builtin = spec.get("builtin")          # "vfio", "pci-stub", "pcieport" or None
        self.override_only = spec.get("override_only", False)
        self.module = spec.get("module") or driver_module(self.name)
        self.dynids = []                            # (vendor, device, subvendor, subdevice, class, mask)
        self.registered = True                      # its module is loaded
        self.probe_hook = None
        self.remove_hook = None

    def label(self):
        return self.name

    def ref(self):
        return ("driver", self.name)

    def __repr__(self):
        return f"<driver {self.name} bus={self.bus.name} managed={self.driver_managed_dma}>"


class BusType(KObject):
    """struct bus_type: `ops` is the bus's registered module (kernel/bus/), the facts that matter
    for DMA ownership (spec §4 bus table) are copied from it, drivers_autoprobe is state."""

    def __init__(self, k, ops):
        super().__init__(k)
        self.ops = ops
        self.name = ops.NAME
        self.dma_hooks = ops.DMA_HOOKS          # has dma_configure/dma_cleanup calling use/unuse
        self.behind_iommu = ops.BEHIND_IOMMU    # devices get IOMMU groups by default
        self.has_override = ops.HAS_OVERRIDE    # devices have a driver_override file
        self.has_new_id = ops.HAS_NEW_ID        # drivers have new_id/remove_id files
        self.drivers_autoprobe = True

    def label(self):
        return self.name

    def ref(self):
        return ("bus", self.name)
