"""lspci [-k] [-n|-nn] [-D] [-s [[[[domain]:]bus]:][slot][.[func]]] in pciutils' format."""
from .pcidb import VENDORS, class_name


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
    for val, limit in zip(parts + [func], (0xFFFF, 0xFF, 0x1F, 7)):
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


def _bdf(name):
    d, b, rest = name.split(":")
    s, f = rest.split(".")
    return int(d, 16), int(b, 16), int(s, 16), int(f, 16)


def _matches(sel, name):
    return all(want is None or want == got for want, got in zip(sel, _bdf(name)))


def describe(dev, numeric):
    """The text after the address: class, vendor and device, by name and/or number."""
    vd = dev.vendor_device or (0xFFFF, 0xFFFF)
    cls = dev.class_code >> 8 if dev.class_code > 0xFFFF else dev.class_code
    if numeric == 1:
        return f"{cls:04x}: {vd[0]:04x}:{vd[1]:04x}"
    vendor = dev.vendor_name if dev.vendor_name is not None else VENDORS.get(vd[0])
    if vendor == "" and dev.device_name:          # imported text that names no vendor we know
        text = f"{class_name(dev.class_code)}" + (f" [{cls:04x}]" if numeric == 2 else "")
        text += f": {dev.device_name}" + (f" [{vd[0]:04x}:{vd[1]:04x}]" if numeric == 2 else "")
        return text + (f" (rev {dev.revision:02x})" if dev.revision is not None else "")
    if numeric == 2:
        if vendor is None:
            name = f"Device [{vd[0]:04x}:{vd[1]:04x}]"
        else:
            name = f"{vendor} {dev.device_name or 'Device'} [{vd[0]:04x}:{vd[1]:04x}]"
        text = f"{class_name(dev.class_code)} [{cls:04x}]: {name}"
    elif vendor is None:
        text = f"{class_name(dev.class_code)}: Device {vd[0]:04x}:{vd[1]:04x}"
    else:
        text = f"{class_name(dev.class_code)}: {vendor} {dev.device_name or f'Device {vd[1]:04x}'}"
    if dev.revision is not None:
        text += f" (rev {dev.revision:02x})"
    return text


def _kernel_modules(k, dev):
    from ..kernel.buses import modalias_matches
    return list(dict.fromkeys(drv.module for drv in k.drivers.values() if modalias_matches(drv, dev)))


def lspci(sh, argv, io, line):
    k = sh.k
    numeric, show_k, domains, sel = 0, False, False, None
    args = argv[1:]
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
                show_k = True
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
    devs = sorted((d for d in k.devices.values() if d.bus.name == "pci"), key=lambda d: _bdf(d.name))
    domains = domains or any(not d.name.startswith("0000:") for d in devs)
    out = []
    for d in devs:
        if sel is not None and not _matches(sel, d.name):
            continue
        addr = d.name if domains else d.name[5:]
        out.append(f"{addr} {describe(d, min(numeric, 2))}")
        if show_k:
            if d.driver is not None:
                out.append(f"\tKernel driver in use: {d.driver.name}")
            mods = _kernel_modules(k, d)
            if mods:
                out.append(f"\tKernel modules: {', '.join(mods)}")
    io.write("".join(ln + "\n" for ln in out))
    return 0
