"""Linux errno values and their wording (include/uapi/asm-generic/errno-base.h, errno.h,
include/linux/errno.h for the kernel-internal ones such as EPROBE_DEFER)."""
import errno as _py
import os

EPERM = _py.EPERM
ENOENT = _py.ENOENT
EIO = _py.EIO
EBADF = _py.EBADF
EAGAIN = _py.EAGAIN
ENOMEM = _py.ENOMEM
EACCES = _py.EACCES
EBUSY = _py.EBUSY
EEXIST = _py.EEXIST
ENODEV = _py.ENODEV
ENOTDIR = _py.ENOTDIR
EISDIR = _py.EISDIR
EINVAL = _py.EINVAL
ENOTTY = _py.ENOTTY
ENOSPC = _py.ENOSPC
ENXIO = _py.ENXIO
EBADFD = _py.EBADFD
ESRCH = _py.ESRCH
ERANGE = _py.ERANGE
ENOSYS = _py.ENOSYS
# Kernel-internal values that never reach user space as such.
EPROBE_DEFER = 517
ENOTSUPP = 524

_INTERNAL = {EPROBE_DEFER: "EPROBE_DEFER", ENOTSUPP: "ENOTSUPP"}


def errname(err):
    """'EBUSY' for 16 or -16."""
    err = abs(err)
    return _INTERNAL.get(err) or _py.errorcode.get(err, f"E{err}")


def strerror(err):
    """Linux's (glibc's) text for an errno: 'Device or resource busy'."""
    err = abs(err)
    if err in _INTERNAL:
        return f"Unknown error {err}"
    return os.strerror(err)


def oserror(err, filename=None):
    """The OSError a user-space call sees for a negative kernel return code."""
    err = abs(err)
    if filename is None:
        return OSError(err, strerror(err))
    return OSError(err, strerror(err), filename)
