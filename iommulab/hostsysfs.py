"""The live host's PCI topology and config-space facts, read-only and bounded (issue 17).

`read_pci_facts(sys_root)` gives, per PCI device under SYS/bus/pci/devices, the facts the
re-derivation of groups needs (the contract of /tmp/notes/i17b.md: every key optional, a missing
key means "unknown", nothing is guessed):

- `placed`, `parent` from the device's real path under SYS/devices: the component before the
  device's own directory is the bridge above it, or a root bus ("pci0000:00", "pci10000:e0" of a
  VMD domain: placed, parent None).
- `multifunction`, `secondary`, `subordinate` (type-1 headers), `pcie_type` and `acs` from the
  binary SYS/bus/pci/devices/X/config, walked as drivers/pci/pci.c walks it
  (__pci_find_next_cap_ttl: at most 48 standard capabilities, a pointer below 0x40 ends the list;
  pci_find_next_ext_capability: extended capabilities from 0x100, a zero header means none, a next
  offset below 0x100 ends the list). Where the walk cannot finish (a list that cycles, a pointer
  beyond the bytes read) the answer is unknown, never "absent".
- `config_bytes`: how much of config space the kernel let us read. drivers/pci/pci-sysfs.c
  pci_read_config() (https://github.com/torvalds/linux/blob/master/drivers/pci/pci-sysfs.c) serves
  the device's whole config space (dev->cfg_size: 256, or 4096 with extended space) only to a
  reader with CAP_SYS_ADMIN in the initial user namespace; anyone else gets the first 64 bytes, or
  128 for a CardBus header. So without root the standard capabilities (which live at 0x40 and
  above) and the extended ones are unknown; with 256 bytes the standard ones are known and the
  extended ones unknown.
- `id`, `class`, `revision`, `driver` from the sysfs attribute files, as hostimport.parse_dirs
  reads them.

Rules kept: only files whose real path is inside the sys root are opened (a link out of the tree
is never followed), only regular files, read-only and non-blocking, at most 4096 bytes each; never
anything under /dev; at most MAX_DEVICES devices; a symlink loop or an unreadable file is an
unknown, never an error. `read_cmdline()` reads /proc/cmdline and nothing else under /proc.
"""
import os
import re
import stat

MAX_READ = 4096             # bytes of any one file (config space is at most 4096)
MAX_DEVICES = 20000

PCI_NAME_RE = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$")   # the kernel's names
ROOT_BUS_RE = re.compile(r"^pci[0-9a-f]{4,8}:[0-9a-f]{2}$")                     # a host bridge's root bus

# PCI Express Capabilities register, Device/Port Type (bits 7:4), include/uapi/linux/pci_regs.h
PCIE_TYPES = {0: "endpoint", 1: "legacy-endpoint", 4: "root-port", 5: "upstream-port",
              6: "downstream-port", 7: "pcie-to-pci-bridge", 8: "pci-to-pcie-bridge",
              9: "rc-endpoint", 10: "rc-event-collector"}

CAP_ID_EXP = 0x10
EXT_CAP_ID_ACS = 0x000D
CAP_TTL = 48                                  # PCI_FIND_CAP_TTL
EXT_CAP_TTL = (4096 - 256) // 8               # pci_find_next_ext_capability()'s bound


def _under(real, root):
    return real == root or real.startswith(root + os.sep)


def _forbidden(real):
    return _under(real, "/dev") or _under(real, "/proc")


def read_bytes(path, root, limit=MAX_READ):
    """At most `limit` bytes of the regular file at `path`, whose real path must be inside `root`
    (itself a real path); None for anything else (outside, a loop, missing, unreadable, not a file)."""
    try:
        real = os.path.realpath(path, strict=True)
    except (OSError, ValueError):
        return None
    if not _under(real, root) or real == root or _forbidden(real):
        return None
    return _read_real(real, limit)


def _read_real(real, limit):
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    return _read_fd(fd, limit)


def _read_fd(fd, limit):
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, left = [], limit
        while left > 0:                           # sysfs may hand a file over in pieces
            b = os.read(fd, left)
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_in(real_dir, fname, root, limit=MAX_READ):
    """read_bytes() of a file in a directory already resolved inside `root`: a file that is no
    link is inside too and is opened at once; a link is resolved and checked first."""
    path = os.path.join(real_dir, fname)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:                               # ELOOP: it is a link (or it is missing)
        return read_bytes(path, root, limit)
    return _read_fd(fd, limit)


def _read_text(real_dir, fname, root):
    b = _read_in(real_dir, fname, root)
    return None if b is None else b.decode("ascii", "replace").strip()


def _hex(text):
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


# --- config space -----------------------------------------------------------------------------

def _u8(data, pos):
    return data[pos] if pos < len(data) else None


def _u16(data, pos):
    return int.from_bytes(data[pos:pos + 2], "little") if pos + 2 <= len(data) else None


def _u32(data, pos):
    return int.from_bytes(data[pos:pos + 4], "little") if pos + 4 <= len(data) else None


def _find_cap(data, start, cap_id):
    """The offset of standard capability `cap_id`, 0 when the list ends without it, or None when
    the walk cannot finish (it cycles or points beyond the bytes read)."""
    pos, seen = _u8(data, start), set()
    for _ in range(CAP_TTL):
        if pos is None:
            return None
        pos &= ~3
        if pos < 0x40:                            # 0, or a pointer into the header: the list ends
            return 0
        if pos in seen:
            return None
        seen.add(pos)
        ident, nxt = _u8(data, pos), _u8(data, pos + 1)
        if ident is None or nxt is None:
            return None
        if ident == 0xFF:                         # all ones: the kernel stops here too
            return 0
        if ident == cap_id:
            return pos
        pos = nxt
    return None


def _find_ext_cap(data, cap_id):
    """Like _find_cap for the extended list at 0x100 (header: ID 15:0, version 19:16, next 31:20)."""
    pos, seen = 0x100, set()
    header = _u32(data, pos)
    if header is None or header == 0xFFFFFFFF:
        return None
    if header == 0:
        return 0
    for _ in range(EXT_CAP_TTL):
        if pos in seen:
            return None
        seen.add(pos)
        header = _u32(data, pos)
        if header is None:
            return None
        if header & 0xFFFF == cap_id:
            return pos
        pos = (header >> 20) & 0xFFC
        if pos < 0x100:
            return 0
    return None


def parse_config(data):
    """The facts config-space bytes show (see the module's docstring); `data` as read from sysfs."""
    facts = {"config_bytes": len(data)}
    header = _u8(data, 0x0E)
    if header is None or header == 0xFF:          # nothing there, or an all-ones read
        return facts
    facts["multifunction"] = bool(header & 0x80)
    layout = header & 0x7F
    if layout == 1:
        for key, off in (("secondary", 0x19), ("subordinate", 0x1A)):
            v = _u8(data, off)
            if v is not None:
                facts[key] = v
    status = _u16(data, 0x06)
    start = {0: 0x34, 1: 0x34, 2: 0x14}.get(layout)
    if status is None or start is None:
        return facts
    pos = _find_cap(data, start, CAP_ID_EXP) if status & 0x10 else 0     # bit 4: a capability list
    if pos == 0:
        facts["pcie_type"] = "conventional"
    elif pos:
        flags = _u16(data, pos + 2)
        if flags is not None and (flags >> 4) & 0xF in PCIE_TYPES:
            facts["pcie_type"] = PCIE_TYPES[(flags >> 4) & 0xF]
    if len(data) > 0x100:
        pos = _find_ext_cap(data, EXT_CAP_ID_ACS)
        if pos == 0:
            facts["acs"] = "none"
        elif pos:
            cap, ctrl = _u16(data, pos + 4), _u16(data, pos + 6)
            if cap is not None and ctrl is not None:
                facts["acs"] = (cap, ctrl)
    return facts


# --- placement ---------------------------------------------------------------------------------

def _placement(real, name, root):
    """{"placed": True, "parent": ...} from the device's real path, or {} when it does not say."""
    parts = os.path.relpath(real, root).split(os.sep)
    if len(parts) < 2 or parts[-1] != name:
        return {}
    above = parts[-2]
    if ROOT_BUS_RE.match(above):
        return {"placed": True, "parent": None}
    if PCI_NAME_RE.match(above):
        return {"placed": True, "parent": above}
    return {}


def _kernel_name(name):
    """'01:00.0' or '0000:01:00.0' → the kernel's '0000:01:00.0'; other names as given."""
    n = name.strip().lower()
    if re.fullmatch(r"[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", n):
        n = "0000:" + n
    return n


def _device_facts(link, name, root):
    try:
        real = os.path.realpath(link, strict=True)
    except (OSError, ValueError):                 # a symlink loop, a dangling link
        return {}
    if not _under(real, root) or real == root or _forbidden(real) or not os.path.isdir(real):
        return {}                                 # never read anything out of the tree
    facts = _placement(real, name, root)
    vid, did = _read_text(real, "vendor", root), _read_text(real, "device", root)
    vendor, device = _hex(vid), _hex(did)
    if vendor is not None and device is not None:
        facts["id"] = f"{vendor:04x}:{device:04x}"
    for key in ("class", "revision"):
        v = _hex(_read_text(real, key, root))
        if v is not None:
            facts[key] = v
    drv = os.path.join(real, "driver")
    try:
        if os.path.islink(drv):
            facts["driver"] = os.path.basename(os.readlink(drv))
    except OSError:
        pass
    data = _read_in(real, "config", root)
    if data:
        facts.update(parse_config(data))
    return facts


def read_pci_facts(sys_root="/sys", names=None):
    """{kernel name: facts} for the PCI devices under SYS/bus/pci/devices (or only those in
    `names` that are there), in name order, at most MAX_DEVICES of them. Reads only; see above."""
    root = os.path.realpath(sys_root)
    if _forbidden(root) or root == os.sep:
        raise ValueError(f"{sys_root}: not a sysfs tree this reader may read")
    devdir = os.path.join(root, "bus", "pci", "devices")
    if names is None:
        try:
            with os.scandir(devdir) as it:
                wanted = []
                for entry in it:
                    if len(wanted) >= MAX_DEVICES:
                        break
                    if PCI_NAME_RE.match(entry.name):
                        wanted.append(entry.name)
        except OSError:
            return {}
    else:
        wanted, asked = [], set()
        for n in names:
            k = _kernel_name(n)
            if PCI_NAME_RE.match(k) and k not in asked and os.path.lexists(os.path.join(devdir, k)):
                wanted.append(k)
                asked.add(k)
            if len(wanted) >= MAX_DEVICES:
                break
    return {name: _device_facts(os.path.join(devdir, name), name, root) for name in sorted(wanted)}


def read_cmdline(path="/proc/cmdline"):
    """The kernel command line (at most 4096 bytes), or None. Under /proc only /proc/cmdline itself
    is opened, and nothing under /dev."""
    try:
        real = os.path.realpath(path, strict=True)
    except (OSError, ValueError):
        return None
    if _under(real, "/dev") or (_under(real, "/proc") and real != "/proc/cmdline"):
        return None
    b = _read_real(real, MAX_READ)
    if b is None:
        return None
    text = b.replace(b"\0", b" ").decode("ascii", "replace").strip()
    return text or None
