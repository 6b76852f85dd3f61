"""struct device, struct device_driver and struct bus_type (drivers/base/core.c, driver.c, bus.c)."""
from .kobject import KObject

PORT_KINDS = ("root-port", "downstream-port", "upstream-port")
BRIDGE_KINDS = PORT_KINDS + ("pcie-to-pci-bridge", "pci-bridge")
DEVICE_KINDS = ("endpoint", "conventional") + BRIDGE_KINDS

# PCI class codes the model uses when a scenario gives none (include/linux/pci_ids.h).
CLASS_BRIDGE_PCI = 0x060400


class Device(KObject):
    """A device on a bus. Topology and firmware facts come from the scenario; the rest is state."""

    def __init__(self, k, spec, bus):
        super().__init__(k)
        self.name = spec["name"]
        self.bus = bus
        self.bdf = _parse_bdf(self.name) if bus.name == "pci" else None   # (domain, bus, slot, fn)
        self.id = spec.get("id", "")
        self.kind = spec.get("kind", "endpoint")
        self.parent = spec.get("parent")
        self.multifunction = spec.get("multifunction", False)
        self.acs = spec.get("acs", True)
        self.untrusted = spec.get("untrusted", False)
        self.require_direct = spec.get("require_direct", False)
        self.streamid = spec.get("streamid")
        self.explicit_group = spec.get("group")
        self.dma_alias = tuple(spec.get("dma_alias", ()))    # quirk aliases on the same bus
        self.physfn = spec.get("physfn")                   # the PF of a virtual function
        self.sriov_totalvfs = spec.get("sriov_totalvfs", 0)
        self.vf_id = spec.get("vf_id")
        self.vf_offset = spec.get("vf_offset", 16)
        self.vf_stride = spec.get("vf_stride", 1)
        self.num_vfs = 0
        self.has_iommu = spec.get("iommu", bus.behind_iommu or self.streamid is not None
                                  or self.explicit_group is not None)
        self.default_domain_support = spec.get("default_domain", True)
        self.max_pasids = spec.get("max_pasids", 1 << 20)
        self.class_code = spec.get("class", CLASS_BRIDGE_PCI if self.kind in BRIDGE_KINDS else 0)
        self.wanted_driver = spec.get("driver")
        self.vendor_name = spec.get("vendor_name")
        self.device_name = spec.get("device_name")
        self.revision = spec.get("revision")
        # state
        self.present = spec.get("present", True)
        self.registered = False
        self.driver = None
        self.driver_override = None
        self.iommu_group = None
        self.vfio_device = None
        self.deferred = False
        self.locked_by = None          # a PendingWrite holding device_lock (a blocked remove)

    def label(self):
        return self.name

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


def _parse_bdf(name):
    dom, bus, rest = name.split(":")
    slot, fn = rest.split(".")
    return int(dom, 16), int(bus, 16), int(slot, 16), int(fn, 16)


# Drivers whose module has another name (their struct pci_driver .name is not KBUILD_MODNAME):
# drivers/usb/host/xhci-pci.c registers "xhci_hcd" from xhci_pci.ko, i2c-i801.c "i801_smbus".
DRIVER_MODULES = {"xhci_hcd": "xhci_pci", "i801_smbus": "i2c_i801", "ehci-pci": "ehci_pci",
                  "ohci-pci": "ohci_pci", "nvidia": "nvidia", "mpt3sas": "mpt3sas"}


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
        self.ids = tuple(spec.get("ids", ()))
        self.driver_managed_dma = spec.get("driver_managed_dma", False)
        self.suppress_bind_attrs = spec.get("suppress_bind_attrs", False)
        self.probe_rc = spec.get("probe", 0)
        self.sriov_configure = spec.get("sriov_configure", spec.get("name") == "vfio-pci")
        self.builtin = spec.get("builtin")          # "vfio", "pci-stub", "pcieport" or None
        self.override_only = spec.get("override_only", False)
        self.module = spec.get("module") or driver_module(self.name)
        self.dynids = []                            # (vendor, device, subvendor, subdevice, class, mask)
        self.registered = True                      # its module is loaded
        self.probe_hook = None
        self.remove_hook = None

    def label(self):
        return self.name

    def __repr__(self):
        return f"<driver {self.name} bus={self.bus.name} managed={self.driver_managed_dma}>"


class BusType(KObject):
    """struct bus_type with the facts that matter for DMA ownership (spec §4 bus table)."""

    def __init__(self, k, name, dma_hooks, behind_iommu, has_override=True, has_new_id=False,
                 cdx_quirk=False):
        super().__init__(k)
        self.name = name
        self.dma_hooks = dma_hooks          # has dma_configure/dma_cleanup calling use/unuse
        self.behind_iommu = behind_iommu    # devices get IOMMU groups by default
        self.has_override = has_override    # devices have a driver_override file
        self.has_new_id = has_new_id        # drivers have new_id/remove_id files
        self.cdx_quirk = cdx_quirk          # dma_configure swallows use_default errors
        self.drivers_autoprobe = True

    def label(self):
        return self.name
