"""qemu-system-x86_64 with -device vfio-pci,host=BDF[,iommufd=ID] and -object iommufd,id=ID.

It does what QEMU's hw/vfio does, in QEMU's order, as a process of the simulated kernel:
legacy: readlink iommu_group, open /dev/vfio/N, GET_STATUS (stop if not viable), open
/dev/vfio/vfio (or reuse the container), GET_API_VERSION, CHECK_EXTENSION, SET_CONTAINER,
SET_IOMMU, GET_DEVICE_FD; iommufd: find vfio-dev/vfioX, open the cdev, open /dev/iommu,
VFIO_DEVICE_BIND_IOMMUFD, IOMMU_IOAS_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT. On failure it prints
QEMU's words and exits 1 (closing everything); on success it runs as a background job.
"""
import re

from ..kernel.errno import ENOENT, strerror
from ..kernel.pcidev import bdf_name
from ..uapi import VFIO_API_VERSION, VFIO_GROUP_FLAGS_VIABLE

FLAG_OPTIONS = {"-nographic", "-enable-kvm", "-S", "-s", "-no-reboot", "-no-shutdown", "-snapshot",
                "-daemonize", "-no-hpet", "-nodefaults", "-no-user-config", "-full-screen",
                "-version", "-help", "-h", "-no-acpi", "-no-fd-bootchk", "-portrait"}
_HOST = re.compile(r"^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")


class QemuError(Exception):
    def __init__(self, message, hint=None, device_prefix=True):
        super().__init__(message)
        self.hint = hint
        self.device_prefix = device_prefix      # reported after "vfio BDF: " (VFIO_MSG_PREFIX)


class QemuWords:
    """Which words this QEMU prints, by its version ([qemu] version of the scenario)."""

    def __init__(self, version):
        self.version = tuple(version)

    def open_error(self, path, errno):
        """hw/vfio group and container opens. Up to 9.0 qemu_open_old() with "failed to open
        PATH"; from 9.1 qemu_open() with errp, whose error_setg_file_open() says "Could not open
        'PATH'" (commit "hw/vfio/container: Get rid of qemu_open_old()", QEMU 9.1)."""
        if self.version >= (9, 1):
            return f"Could not open '{path}': {strerror(errno)}"
        return f"failed to open {path}: {strerror(errno)}"

    @property
    def has_iommufd(self):
        """-object iommufd and vfio-pci's iommufd=/fd= properties: QEMU 8.2 (iommufd backend)."""
        return self.version >= (8, 2)

    def no_host_hint(self):
        """vfio_realize()'s hint; built with CONFIG_IOMMUFD (8.2+) it names fd=DEVICE_FD too,
        in the middle of the line."""
        fd = "or -device vfio-pci,fd=DEVICE_FD " if self.has_iommufd else ""
        return f"Use -device vfio-pci,host=DDDD:BB:DD.F {fd}or -device vfio-pci,sysfsdev=PATH_TO_DEVICE"

    def version_text(self):
        """`qemu-system-x86_64 --version` of an upstream build (the copyright year is the
        release year: x.0 in April, x.2 in December of 2015 + x)."""
        major, minor, patch = self.version
        return (f"QEMU emulator version {major}.{minor}.{patch}\n"
                f"Copyright (c) 2003-{2015 + major} Fabrice Bellard and the QEMU Project developers\n")


def _props(value):
    parts = value.split(",")
    driver, props = parts[0], {}
    for p in parts[1:]:
        key, eq, val = p.partition("=")
        props[key] = val if eq else "on"
    if driver.startswith("driver="):
        driver = driver[len("driver="):]
    return driver, props


def parse(argv, prog, words):
    """→ (vfio devices [(option text, host, iommufd id)], iommufd object ids); raises QemuError.
    words: the QemuWords of the QEMU being run."""
    devices, objects = [], []
    i = 1
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            raise QemuError(f"{prog}: {a}: drive with bus=0, unit=0 (index=0) exists")
        opt = "-" + a.lstrip("-")
        if opt in FLAG_OPTIONS:
            i += 1
            continue
        if i + 1 >= len(argv):
            raise QemuError(f"{prog}: {a}: requires an argument")
        value = argv[i + 1]
        if opt == "-device":
            driver, props = _props(value)
            if driver == "vfio-pci":
                host = props.get("host")
                if host is None and "sysfsdev" in props:
                    host = props["sysfsdev"].rstrip("/").rsplit("/", 1)[-1]
                if host is None:
                    raise QemuError(f"{prog}: -device {value}: No provided host device",
                                    words.no_host_hint())
                if "iommufd" in props and not words.has_iommufd:
                    raise QemuError(f"{prog}: -device {value}: Property 'vfio-pci.iommufd' not found")
                m = _HOST.match(host)
                if not m:
                    raise QemuError(f"{prog}: -device {value}: Property 'vfio-pci.host' doesn't take "
                                    f"value '{host}'")
                dom, bus, slot, fn = m.groups()
                bdf = bdf_name(int(dom or "0", 16), int(bus, 16), int(slot, 16), int(fn))
                devices.append((value, bdf, props.get("iommufd")))
        elif opt == "-object":
            kind, props = _props(value)
            if kind == "iommufd":
                if not words.has_iommufd:
                    raise QemuError(f"{prog}: -object {value}: invalid object type: iommufd")
                if "id" not in props:
                    raise QemuError(f"{prog}: -object {value}: Parameter 'id' is missing")
                objects.append(props["id"])
        i += 2
    for value, _, ifd in devices:
        if ifd is not None and ifd not in objects:
            raise QemuError(f"{prog}: -device {value}: Property 'vfio-pci.iommufd' can't find value '{ifd}'")
    return devices, objects


class Qemu:
    """The VFIO part of one QEMU process."""

    def __init__(self, k, p):
        self.k, self.p = k, p
        self.words = QemuWords(k.qemu_version)
        self.groups = {}          # group id -> fd
        self.container = None
        self.iommufd = {}         # object id -> /dev/iommu fd
        self.ioas = {}            # object id -> IOAS id
        self.attached = set()

    def _ioctl(self, fd, req, arg=None):
        return self.p.ioctl(fd, req, arg)

    def attach_legacy(self, bdf):
        k, p = self.k, self.p
        try:
            link = k.readlink(f"/sys/bus/pci/devices/{bdf}/iommu_group")
        except OSError as e:
            raise QemuError(f"no iommu_group found: {strerror(e.errno)}")
        gid = int(link.rsplit("/", 1)[-1])
        if gid not in self.groups:
            path = f"/dev/vfio/{gid}"
            try:
                gfd = p.open(path)
            except OSError as e:
                raise QemuError(self.words.open_error(path, e.errno))
            try:
                status = self._ioctl(gfd, "VFIO_GROUP_GET_STATUS")
            except OSError as e:
                p.close(gfd)
                raise QemuError(f"failed to get group {gid} status: {strerror(e.errno)}")
            if not status & VFIO_GROUP_FLAGS_VIABLE:
                p.close(gfd)
                raise QemuError(f"group {gid} is not viable",
                                "Please ensure all devices within the iommu_group are bound to their "
                                "vfio bus driver.")
            try:
                self.connect_container(gfd, gid)
            except QemuError:
                p.close(gfd)
                raise
            self.groups[gid] = gfd
        gfd = self.groups[gid]
        try:
            return self._ioctl(gfd, "VFIO_GROUP_GET_DEVICE_FD", bdf)
        except OSError as e:
            raise QemuError(f"error getting device from group {gid}: {strerror(e.errno)}",
                            f"Verify all devices in group {gid} are bound to vfio-<bus> or pci-stub "
                            "and not already in use")

    def connect_container(self, gfd, gid):
        p = self.p
        if self.container is not None:
            try:
                self._ioctl(gfd, "VFIO_GROUP_SET_CONTAINER", self.container)
                return
            except OSError:
                pass
        prefix = f"failed to setup container for group {gid}: "
        try:
            cfd = p.open("/dev/vfio/vfio")
        except OSError as e:
            raise QemuError(prefix + self.words.open_error("/dev/vfio/vfio", e.errno))
        try:
            version = self._ioctl(cfd, "VFIO_GET_API_VERSION")
            if version != VFIO_API_VERSION:
                raise QemuError(prefix + f"supported vfio version: {VFIO_API_VERSION}, reported version: {version}")
            if not self._ioctl(cfd, "VFIO_CHECK_EXTENSION", "VFIO_TYPE1v2_IOMMU"):
                raise QemuError(prefix + "No available IOMMU models")
            try:
                self._ioctl(gfd, "VFIO_GROUP_SET_CONTAINER", cfd)
            except OSError as e:
                raise QemuError(prefix + f"Failed to set group container: {strerror(e.errno)}")
            try:
                self._ioctl(cfd, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
            except OSError as e:
                self._ioctl(gfd, "VFIO_GROUP_UNSET_CONTAINER")
                raise QemuError(prefix + f"Failed to set iommu for container: {strerror(e.errno)}")
        except QemuError:
            p.close(cfd)
            raise
        self.container = cfd

    def attach_iommufd(self, bdf, obj):
        k, p = self.k, self.p
        vdir = f"/sys/bus/pci/devices/{bdf}/vfio-dev"
        try:
            names = [n for n in k.listdir(vdir) if n.startswith("vfio")]
        except OSError as e:
            raise QemuError(f"vfio {vdir}: couldn't open directory {vdir}: {strerror(e.errno)}")
        if not names:
            raise QemuError(f"vfio {vdir}: failed to find vfio-dev/vfioX/dev")
        if not k.exists(f"{vdir}/{names[0]}/dev"):        # vfio-dev without the cdev (6.1-6.5)
            raise QemuError(f"vfio {vdir}: failed to load \"{vdir}/{names[0]}/dev\"")
        cdev = f"/dev/vfio/devices/{names[0]}"
        try:
            dfd = p.open(cdev)
        except OSError:
            raise QemuError(f"vfio {vdir}: Failed to open {cdev}")
        try:
            if obj not in self.iommufd:
                try:
                    self.iommufd[obj] = p.open("/dev/iommu")
                except OSError as e:
                    raise QemuError(f"Could not open '/dev/iommu': {strerror(e.errno)}")
            ifd = self.iommufd[obj]
            try:
                self._ioctl(dfd, "VFIO_DEVICE_BIND_IOMMUFD", ifd)
            except OSError as e:
                raise QemuError(f"error bind device fd={dfd} to iommufd={ifd}: {strerror(e.errno)}")
            if obj not in self.ioas:
                self.ioas[obj] = self._ioctl(ifd, "IOMMU_IOAS_ALLOC")
            try:
                self._ioctl(dfd, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", self.ioas[obj])
            except OSError as e:
                raise QemuError(f"[iommufd={ifd}] error attach {bdf} ({dfd}) to id={self.ioas[obj]}: "
                                f"{strerror(e.errno)}")
        except QemuError:
            p.close(dfd)
            raise
        return dfd


def qemu_system(sh, argv, io, line):
    """qemu-system-x86_64 / qemu-system-aarch64 (both exist on either architecture; the
    messages name the program as typed, like QEMU's error_report() does)."""
    k = sh.k
    prog = argv[0]
    words = QemuWords(k.qemu_version)
    if any(a in ("-version", "--version") for a in argv[1:]):
        io.write(words.version_text())
        return 0
    if any(a in ("-h", "-help", "--help") for a in argv[1:]):
        io.write(words.version_text().splitlines()[0] + "\n"
                 f"usage: {prog} [options] [disk_image]\n\n"
                 "iommulab: only -device vfio-pci,host=BDF[,iommufd=ID] and -object iommufd,id=ID "
                 "do something here; other options are accepted and ignored\n")
        return 0
    try:
        devices, objects = parse(argv, prog, words)
    except QemuError as e:
        io.error(str(e) + (f"\n{e.hint}" if e.hint else ""))
        return 1
    p = k.spawn(prog, cmdline=" ".join(argv))
    p.req_channel = True                        # QEMU registers the device request eventfd
    if sh.background:
        sh.start_process(p, line, io)           # `&`: bash prints [N] PID before QEMU's words
    q = Qemu(k, p)
    for value, bdf, ifd in devices:
        try:
            if not k.exists(f"/sys/bus/pci/devices/{bdf}"):
                # vfio_device_get_name() (QEMU 8.2+; inline in vfio_realize() before): stat()
                # of the sysfs path fails, reported with the path and without "vfio BDF: "
                raise QemuError(f"vfio /sys/bus/pci/devices/{bdf}: no such host device: "
                                f"{strerror(ENOENT)}", device_prefix=False)
            if bdf in q.attached:
                raise QemuError("device is already attached")
            if ifd is None:
                q.attach_legacy(bdf)
            else:
                q.attach_iommufd(bdf, ifd)
            q.attached.add(bdf)
        except QemuError as e:
            p.exit()
            where = f"vfio {bdf}: " if e.device_prefix else ""
            io.error(f"{prog}: -device {value}: {where}{e}" + (f"\n{e.hint}" if e.hint else ""))
            return 1
    if not sh.background:
        sh.start_process(p, line, io)
    return 0


COMMANDS = {"qemu-system-x86_64": qemu_system, "qemu-system-aarch64": qemu_system}
