"""User-space processes, their file descriptors and ioctls (fs/open.c, fs/file.c, fs/ioctl.c
and the file_operations of VFIO and iommufd).

Files are reference counted as in Linux: a VFIO device fd obtained from a group in a real VFIO
container holds a reference to the group's file (vfio_group_use_container()), so closing the
group fd first defers the group's release until the last device fd is closed; with an iommufd
behind the group (compat /dev/vfio/vfio or /dev/iommu) it holds none. A failing call raises OSError
with Linux's errno and changes nothing.
"""
import heapq

from . import devnodes
from .errno import EBADF, oserror
from .kobject import KObject
from .reasons import refuse
from .trace import traced
from .vfio import VfioDevice, VfioGroup, vfio_kick_unregister
from .vfio_cdev import DeviceFile
from .vfio_container import VfioContainer

ALL_CAPS = frozenset({"CAP_SYS_ADMIN", "CAP_SYS_RAWIO", "CAP_DAC_OVERRIDE"})


def _groups_of_file(f):
    o = f.obj
    if isinstance(o, VfioGroup):
        return [o.iommu_group]
    if isinstance(o, VfioDevice):
        return [o.dev.iommu_group]
    if isinstance(o, DeviceFile):
        return [o.vdev.dev.iommu_group]
    if isinstance(o, VfioContainer):
        return [vg.iommu_group for vg in o.groups]
    return []


def _fd_groups(p, fd, *rest):
    """The groups a call on `fd` concerns (an argument fd such as the container is not followed:
    SET_CONTAINER concerns the group whose file it is called on)."""
    f = p.fds.get(fd)
    gs = _groups_of_file(f) if f is not None else []
    return [g for g in gs if g is not None]


class Process(KObject):
    """A user-space process of the simulated machine (root, with all capabilities by default)."""
    CONTAINERS = ("fds", "fd_free", "requests")


    def __init__(self, k, name, caps=ALL_CAPS, pid=None, cmdline=None):
        super().__init__(k)
        self.name = name
        self.cmdline = cmdline or name
        self.pid = pid if pid is not None else k.alloc_pid()
        self.caps = frozenset(caps)
        self.fds = {}
        self.fd_free = []             # closed fds, reused lowest first (like the fdtable)
        self.fd_next = 3
        self.alive = True
        self.killed = False
        self.requests = []            # device requests delivered while it held a VFIO device
        self.req_channel = False      # registered a request eventfd (QEMU does)

    def label(self):
        return f"{self.name}[{self.pid}]"

    def ref(self):
        return ("process", self.pid)

    def __repr__(self):
        return f"<process {self.label()} fds={sorted(self.fds)}>"

    # --- the system calls ------------------------------------------------------------------

    def open(self, path: str) -> int:
        """open(2): returns the new fd or raises OSError."""
        rc = sys_open(self, path)
        if rc < 0:
            raise oserror(rc, path)
        return rc

    def close(self, fd: int) -> None:
        rc = sys_close(self, fd)
        if rc < 0:
            raise oserror(rc)

    def ioctl(self, fd: int, request: str, arg: object = None) -> int:
        """ioctl(2) by name ("VFIO_GROUP_GET_STATUS", ...); returns an int or raises OSError."""
        rc = sys_ioctl(self, fd, request, arg)
        if isinstance(rc, int) and rc < 0:
            raise oserror(rc)
        return rc

    def write(self, path, data):
        """write(2) to a sysfs file with this process's capabilities."""
        return self.k.write(path, data, caps=self.caps)

    def exit(self) -> None:
        sys_exit(self)

    def kill(self):
        """Killed by a signal: the kernel closes everything it held, as at exit."""
        self.killed = True
        sys_exit(self)

    def deliver_request(self, vdev):
        self.requests.append(vdev.dev.name)

    # --- helpers -----------------------------------------------------------------------------

    def install(self, f):
        """__alloc_fd(): the lowest free descriptor."""
        if self.fd_free:
            fd = heapq.heappop(self.fd_free)
        else:
            fd = self.fd_next
            self.fd_next += 1
        self.fds[fd] = f
        return fd

    def release_fd(self, fd):
        heapq.heappush(self.fd_free, fd)

    def file(self, fd):
        return self.fds.get(fd)


def _check(p):
    if not p.alive:
        raise ProcessLookupError(f"process {p.pid} ({p.name}) has exited")


@traced(lambda p, path: [], op="open")
def sys_open(p, path):
    _check(p)
    f = devnodes.open_node(p.k, path, p)
    if isinstance(f, int):
        return f
    fd = p.install(f)
    _track_holder(p, f, +1)
    return fd


def _track_holder(p, f, delta):
    o = f.obj
    vdev = o if isinstance(o, VfioDevice) else (o.vdev if isinstance(o, DeviceFile) else None)
    if vdev is None:
        return
    if delta > 0:
        vdev.holders.append(p)
    elif p in vdev.holders:
        vdev.holders.remove(p)


@traced(_fd_groups, op="close")
def sys_close(p, fd):
    _check(p)
    f = p.fds.pop(fd, None)
    if f is None:
        return refuse(p.k, EBADF, "bad-fd", fd=fd, process=p)
    p.release_fd(fd)
    _track_holder(p, f, -1)
    fput(f)
    vfio_kick_unregister(p.k)
    return 0


def fput(f):
    """Drop one reference; the last one runs the file's release()."""
    f.refs -= 1
    if f.refs:
        return
    devnodes.release(f)
    if f.holds is not None:
        fput(f.holds)


@traced(_fd_groups, op="ioctl")
def sys_ioctl(p, fd, request, arg):
    _check(p)
    f = p.fds.get(fd)
    if f is None:
        return refuse(p.k, EBADF, "bad-fd", fd=fd, process=p)
    rc = devnodes.ioctl(p, f, request, arg)
    vfio_kick_unregister(p.k)
    return rc


@traced(lambda p: [], op="exit")
def sys_exit(p):
    """exit(2): every fd is closed, highest first (as exit_files() does, in fd order)."""
    _check(p)
    for fd in sorted(p.fds):
        f = p.fds.pop(fd)
        _track_holder(p, f, -1)
        fput(f)
    p.alive = False
    p.k.processes.pop(p.pid, None)
    vfio_kick_unregister(p.k)
    return 0
