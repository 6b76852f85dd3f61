"""Loading and unloading driver modules (kernel/module.c's load_module()/delete_module(), with
driver_register()/driver_unregister() of drivers/base/driver.c).

Every driver of a scenario is loaded at boot. Unloading unbinds its devices and forgets its
dynamic ids; loading again applies parameters such as vfio-pci's ids= (only at load: modprobe of
an already loaded module changes nothing) and probes matching devices.
"""
from .bus.pci import parse_pci_id
from .errno import EBUSY, EINVAL, ENOENT, EPERM
from .kstrtox import kstrtobool
from .reasons import refuse
from .trace import traced
from . import dd

BUILTIN_MODULES = ("pcieport",)            # =y in every config: cannot be unloaded
_IDS_PARAM = {"vfio_pci": "vfio_pci: add [{0:04x}:{1:04x}[{2:04x}:{3:04x}]] class {4:#08x}/{5:08x}",
              "pci_stub": "pci-stub: add {0:04X}:{1:04X} sub={2:04X}:{3:04X} cls={4:08X}/{5:08X}"}
_KNOWN_PARAMS = {"vfio_pci": ("ids", "disable_vga", "disable_idle_d3", "enable_sriov", "nointxmask",
                              "disable_denylist"),
                 "pci_stub": ("ids",)}


def module_name(name):
    return name.replace("-", "_")


def module_drivers(k, module):
    module = module_name(module)
    return [d for d in k.drivers.values() if d.module == module]


def apply_ids(k, drv, ids):
    """vfio_pci_fill_ids() / pci_stub_init(): each id becomes a dynamic id, or a warning."""
    fmt = _IDS_PARAM.get(drv.module)
    for one in filter(None, ids.split(",")):
        try:
            dynid = parse_pci_id(one)
        except ValueError:
            k.printk(f"{drv.module}: invalid id string \"{one}\"")
            continue
        drv.dynids.append(dynid)
        if fmt:
            k.printk(fmt.format(*[x & 0xFFFF if i < 4 else x for i, x in enumerate(dynid)]))


@traced(lambda k, module, params: None)
def load_module(k, module, params):
    """modprobe: 0 (also when already loaded), -ENOENT for an unknown module, -EINVAL for a
    parameter value the module's parameter parser refuses."""
    drivers = module_drivers(k, module)
    if not drivers:
        return refuse(k, ENOENT, "no-such-module", module=module)
    mod = module_name(module)
    if all(d.registered for d in drivers):
        return 0
    for key in params:
        if key not in _KNOWN_PARAMS.get(mod, ()):
            k.printk(f"{mod}: unknown parameter '{key}' ignored")
    if mod == "vfio_pci" and "enable_sriov" in params:
        # parse_args() (kernel/params.c) before the module's init: a bool parameter kstrtobool()
        # refuses fails the whole load with -EINVAL, nothing registered
        rc, on = kstrtobool(params["enable_sriov"], k.f)
        if rc:
            k.printk(f"{mod}: `{params['enable_sriov']}' invalid for parameter `enable_sriov'")
            return refuse(k, EINVAL, "bad-value", module=mod, param="enable_sriov",
                          value=params["enable_sriov"])
        k.params["vfio_pci.enable_sriov"] = on
    for drv in drivers:
        if "ids" in params and drv.module in _IDS_PARAM:
            apply_ids(k, drv, params["ids"])
        driver_register(drv)
    return 0


@traced(lambda k, module: None)
def delete_module(k, module):
    """rmmod: -ENOENT not loaded, -EPERM built in, -EBUSY while user space holds its devices."""
    mod = module_name(module)
    drivers = [d for d in module_drivers(k, mod) if d.registered]
    if not drivers:
        return refuse(k, ENOENT, "module-not-loaded", module=mod)
    if mod in BUILTIN_MODULES:
        return refuse(k, EPERM, "module-builtin", module=mod)
    for drv in drivers:
        for dev in k.bus_devices(drv.bus):
            if dev.driver is drv and dev.vfio_device is not None and dev.vfio_device.users:
                return refuse(k, EBUSY, "module-in-use", module=mod, device=dev, driver=drv,
                              users=dev.vfio_device.holders)
    for drv in drivers:
        driver_unregister(drv)
    return 0


def driver_register(drv):
    """driver_register(): join the end of the bus's driver list, then probe every unbound device
    that matches."""
    k = drv.k
    k.drivers[drv.name] = k.drivers.pop(drv.name)
    drv.registered = True
    dd.driver_attach(drv)


def driver_unregister(drv):
    """driver_unregister(): unbind every device, then disappear (dynamic ids are freed)."""
    k = drv.k
    for dev in list(k.bus_devices(drv.bus)):
        if dev.driver is drv:
            dd.device_release_driver(dev)
    drv.registered = False
    drv.dynids.clear()
