"""lspci [-k] [-n|-nn] [-v|-vv|-vvv] [-D] [-s [[[[domain]:]bus]:][slot][.[func]]] in the format of
pciutils 3.13 (lspci.c show_terse/show_verbose/show_kernel, ls-caps.c, ls-ecaps.c)."""
from .. import pciids as pcidb
from ..kernel.pcidev import DOWNSTREAM_PORT_KINDS, parse_bdf

PCIUTILS_VERSION = "3.13.0"        # Debian 13's; its Express line says "IntMsgNum" (pciutils 3.11+)


def _parse_selector(sel):
    """→ (domain, bus, slot, func) with None for wildcards, or None if malformed."""
    func = None
    if "." in sel:
        sel, f = sel.rsplit(".", 1)
        func = f
    parts = sel.split(":") if sel else [""]
    if len(parts) > 3:
        return None
    parts = [None] * (3 - len(parts)) + parts
    out = []
    for val, limit in zip(parts + [func], (0x7FFFFFFF, 0xFF, 0x1F, 7)):     # lib/filter.c's limits
        if val in (None, "", "*"):
            out.append(None)
            continue
        try:
            n = int(val, 16)
        except ValueError:
            return None
        if n > limit:
            return None
        out.append(n)
    return tuple(out)


def _hex(text):
    try:
        return int(text, 16)
    except ValueError:
        return None


def _matches(sel, name):
    return all(want is None or want == got for want, got in zip(sel, parse_bdf(name)))


def _class_text(code, numeric, db):
    """pci_lookup_name(PCI_LOOKUP_CLASS) (pciids.class_name), with -n the number only and with
    -nn the number after the name."""
    cls = code >> 8 if code > 0xFFFF else code
    if numeric == 1:
        return f"{cls:04x}"
    name = pcidb.class_name(code, db)
    if numeric != 2 or name.endswith(f"[{cls:04x}]"):
        return name
    return f"Class [{cls:04x}]" if name == f"Class {cls:04x}" else f"{name} [{cls:04x}]"


def _name_pair(vendor, device, vd, numeric):
    """format_name_pair() of pciutils' lib/names.c."""
    num = f"{vd[0]:04x}:{vd[1]:04x}"
    if numeric == 1:
        return num
    if numeric == 2:
        if vendor and device:
            return f"{vendor} {device} [{num}]"
        return f"{vendor} Device [{num}]" if vendor else f"Device [{num}]"
    if vendor and device:
        return f"{vendor} {device}"
    return f"{vendor} Device {vd[1]:04x}" if vendor else f"Device {num}"


def describe(dev, numeric, db=None, verbose=0):
    """The text after the address: class, vendor and device, by name and/or number (names from
    pci.ids, a scenario's vendor_name/device_name overriding), the revision, and with -v the
    programming interface."""
    db = db or pcidb.database()
    vd = dev.vendor_device or (0xFFFF, 0xFFFF)
    rev = f" (rev {dev.revision:02x})" if dev.revision else ""
    vendor = dev.vendor_name if dev.vendor_name is not None else db.vendors.get(vd[0])
    device = dev.device_name if dev.device_name is not None else db.devices.get(vd)
    if numeric != 1 and vendor == "" and device:        # imported text that names no vendor we know
        ids = f" [{vd[0]:04x}:{vd[1]:04x}]" if numeric == 2 else ""
        text = f"{_class_text(dev.class_code, numeric, db)}: {device}{ids}{rev}"
    else:
        text = f"{_class_text(dev.class_code, numeric, db)}: {_name_pair(vendor, device, vd, numeric)}{rev}"
    if verbose:
        pif = dev.class_code & 0xFF if dev.class_code > 0xFFFF else 0
        name = pcidb.prog_if_name(dev.class_code, db)
        if pif or name:
            text += f" (prog-if {pif:02x}" + (f" [{name}]" if name else "") + ")"
    return text


def _kernel_modules(k, dev):
    """What lspci -k finds in modules.alias for the device's modalias: the modules of drivers
    whose static id table matches. Built-in drivers (pcieport) and driver_override-only tables
    (vfio-pci's "vfio_pci:" aliases, pci-stub) never match a "pci:" modalias."""
    from ..kernel.bus.common import modalias_matches
    from ..kernel.module import BUILTIN_MODULES
    return list(dict.fromkeys(drv.module for drv in k.drivers.values()
                              if modalias_matches(drv, dev) and drv.module not in BUILTIN_MODULES))


# PCI Express capability device/port types as ls-caps.c's cap_express() names them.
_EXPRESS_TYPES = {"root-port": "Root Port (Slot+)", "downstream-port": "Downstream Port (Slot+)",
                  "upstream-port": "Upstream Port", "pcie-to-pci-bridge": "PCI-Express to PCI/PCI-X Bridge"}
_ACS_FLAGS = ("SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "EgressCtrl", "DirectTrans")
# ACS capability bits a port / a multifunction device's function typically implements.
_ACS_CAP_PORT = {"SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd"}
_ACS_CAP_FUNCTION = {"ReqRedir", "CmpltRedir"}


def _express_type(k, dev):
    """The Express capability's type, or None for conventional PCI and host bridges."""
    from ..kernel.topology import is_pcie
    if not is_pcie(dev) or (dev.class_code >> 8 if dev.class_code > 0xFFFF else dev.class_code) == 0x0600:
        return None
    if dev.kind in _EXPRESS_TYPES:
        return _EXPRESS_TYPES[dev.kind]
    if dev.parent is None and dev.physfn is None:
        return "Root Complex Integrated Endpoint"
    return "Endpoint"


def _acs_caps(k, dev):
    """The ACS capability's flags (cap, ctl), or None when the device has none. A port or a
    multifunction device's function with `acs` has one; pci_std_enable_acs() sets in ACSCtl
    what the capability has of SV, RR, CR and UF (and TB for untrusted devices) once an IOMMU
    driver has called pci_request_acs()."""
    from ..kernel.topology import is_multifunction
    if not dev.acs:
        return None
    if dev.kind in DOWNSTREAM_PORT_KINDS:
        cap = _ACS_CAP_PORT
    elif dev.kind != "pcie-to-pci-bridge" and is_multifunction(k, dev):
        cap = _ACS_CAP_FUNCTION
    else:
        return None
    enabled = {"SrcValid", "ReqRedir", "CmpltRedir", "UpstreamFwd"} | ({"TransBlk"} if dev.untrusted else set())
    ctl = cap & enabled if dev.has_iommu else set()
    return cap, ctl


def _flags(names):
    return " ".join(f"{f}{'+' if f in names else '-'}" for f in _ACS_FLAGS)


def _verbose_lines(k, dev, verbose):
    """show_verbose() of lspci.c, for what the model knows: the IOMMU group (its own line with
    -vv, in the Flags line with -v), the Express and ACS capabilities. Registers the model does
    not have (BARs, IRQs, Control/Status, link state) are left out rather than made up."""
    out = []
    group = dev.iommu_group.id if dev.iommu_group is not None else None
    master = dev.driver is not None and dev.driver.builtin not in ("vfio", "pci-stub")
    if verbose > 1:
        if group is not None:
            out.append(f"\tIOMMU group: {group}")
    else:
        out.append("\tFlags: " + ("bus master, " if master else "") + "fast devsel"
                   + (", latency 0" if master else "") + (f", IOMMU group {group}" if group is not None else ""))
    express = _express_type(k, dev)
    if express is None:
        return out
    out.append(f"\tCapabilities: [40] Express {'(v2) ' if verbose > 1 else ''}{express}, IntMsgNum 0")
    acs = _acs_caps(k, dev)
    if acs is not None:
        out.append(f"\tCapabilities: [100{' v1' if verbose > 1 else ''}] Access Control Services")
        if verbose > 1:
            out.append(f"\t\tACSCap:\t{_flags(acs[0])}")
            out.append(f"\t\tACSCtl:\t{_flags(acs[1])}")
    if dev.sriov_totalvfs and dev.physfn is None:
        out += _sriov_lines(dev, verbose)
    return out


def _sriov_lines(pf, verbose):
    """ls-ecaps.c cap_sriov(): the counts, offset, stride and VF device ID are the model's;
    VF Enable and MSE are set while VFs exist (sriov_enable()); the other bits and the page
    sizes are a fixed skeleton."""
    out = [f"\tCapabilities: [160{' v1' if verbose > 1 else ''}] Single Root I/O Virtualization (SR-IOV)"]
    if verbose < 2:
        return out
    on = "+" if pf.num_vfs else "-"
    vf_device = pf.vf_id.split(":")[1] if pf.vf_id and ":" in pf.vf_id else "0000"
    return out + [
        "\t\tIOVCap:\tMigration- 10BitTagReq- IntMsgNum 0",
        f"\t\tIOVCtl:\tEnable{on} Migration- Interrupt- MSE{on} ARIHierarchy- 10BitTagReq-",
        "\t\tIOVSta:\tMigration-",
        f"\t\tInitial VFs: {pf.sriov_totalvfs}, Total VFs: {pf.sriov_totalvfs}, Number of VFs: {pf.num_vfs}, "
        f"Function Dependency Link: {pf.bdf[3]:02x}",
        f"\t\tVF offset: {pf.vf_offset}, stride: {pf.vf_stride}, Device ID: {vf_device}",
        "\t\tSupported Page Size: 00000553, System Page Size: 00000001"]


def lspci(sh, argv, io, line):
    k = sh.k
    numeric, show_k, domains, sel, verbose = 0, False, False, None, 0
    args = argv[1:]
    if "--version" in args:
        io.write(f"lspci version {PCIUTILS_VERSION}\n")
        return 0
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or len(a) < 2:
            io.error(f"lspci: Unknown argument '{a}'")
            return 2
        j = 1
        while j < len(a):
            c = a[j]
            if c == "n":
                numeric += 1
            elif c == "k":
                show_k = True
            elif c == "D":
                domains = True
            elif c == "v":
                verbose += 1
            elif c == "s":
                value = a[j + 1:] or (args[i + 1] if i + 1 < len(args) else None)
                if value is None:
                    io.error("lspci: option requires an argument -- 's'")
                    return 2
                if not a[j + 1:]:
                    i += 1
                sel = _parse_selector(value)
                if sel is None:
                    io.error("lspci: -s: Invalid slot number")
                    return 2
                break
            else:
                io.error(f"lspci: invalid option -- '{c}'")
                return 2
            j += 1
        i += 1
    pci_domains = {n[:-8] for n in k.devices if len(n) > 8 and n[-8] == ":" and n[-5] == ":" and n[-2] == "."}
    domains = domains or any(d != "0000" for d in pci_domains)
    if sel is not None and None not in sel[1:]:        # -s BUS:SLOT.FUNC: one lookup per domain
        names = [f"{d}:{sel[1]:02x}:{sel[2]:02x}.{sel[3]:x}" for d in sorted(pci_domains)
                 if sel[0] is None or _hex(d) == sel[0]]
        found = (k.devices.get(n) for n in names)
        devs = sorted((d for d in found if d is not None and d.bus.name == "pci"), key=lambda d: d.bdf)
    else:
        devs = sorted((d for d in k.devices.values() if d.bus.name == "pci"), key=lambda d: d.bdf)
    out = []
    db = pcidb.database() if numeric != 1 or verbose else pcidb.builtin()   # -n needs no names
    for d in devs:
        if sel is not None and not _matches(sel, d.name):
            continue
        addr = d.name if domains else d.name[5:]
        out.append(f"{addr} {describe(d, min(numeric, 2), db, verbose)}")
        if verbose:
            out += _verbose_lines(k, d, verbose)
        if show_k or verbose:
            from ..kernel.sysfs import driver_sysfs_bound     # lspci reads the `driver` link
            if driver_sysfs_bound(d) is not None:
                out.append(f"\tKernel driver in use: {d.driver.name}")
            mods = _kernel_modules(k, d)
            if mods:
                out.append(f"\tKernel modules: {', '.join(mods)}")
        if verbose:
            out.append("")
    io.write("".join(ln + "\n" for ln in out))
    return 0
