"""Linux errno values and their wording, independent of the host the model runs on.

Numbers follow include/uapi/asm-generic/errno-base.h and errno.h (the values of every Linux
architecture the model boots: x86_64 and arm64); EPROBE_DEFER and ENOTSUPP are kernel-internal
(include/linux/errno.h). The wording is glibc's strerror() (its errlist), which is what a
user-space tool on Linux prints. Nothing here reads the host's errno module or os.strerror():
macOS and Windows number and word several of these differently.
"""

EPERM = 1
ENOENT = 2
ESRCH = 3
EINTR = 4
EIO = 5
ENXIO = 6
E2BIG = 7
ENOEXEC = 8
EBADF = 9
ECHILD = 10
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
ENOTBLK = 15
EBUSY = 16
EEXIST = 17
EXDEV = 18
ENODEV = 19
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENFILE = 23
EMFILE = 24
ENOTTY = 25
ETXTBSY = 26
EFBIG = 27
ENOSPC = 28
ESPIPE = 29
EROFS = 30
EMLINK = 31
EPIPE = 32
EDOM = 33
ERANGE = 34
EDEADLK = 35
ENAMETOOLONG = 36
ENOLCK = 37
ENOSYS = 38
ENOTEMPTY = 39
ELOOP = 40
EBADFD = 77
EOPNOTSUPP = 95
ETIMEDOUT = 110
# Kernel-internal values that never reach user space as such.
EPROBE_DEFER = 517
ENOTSUPP = 524

# (name, glibc message) by number.
_TABLE = {
    EPERM: ("EPERM", "Operation not permitted"),
    ENOENT: ("ENOENT", "No such file or directory"),
    ESRCH: ("ESRCH", "No such process"),
    EINTR: ("EINTR", "Interrupted system call"),
    EIO: ("EIO", "Input/output error"),
    ENXIO: ("ENXIO", "No such device or address"),
    E2BIG: ("E2BIG", "Argument list too long"),
    ENOEXEC: ("ENOEXEC", "Exec format error"),
    EBADF: ("EBADF", "Bad file descriptor"),
    ECHILD: ("ECHILD", "No child processes"),
    EAGAIN: ("EAGAIN", "Resource temporarily unavailable"),
    ENOMEM: ("ENOMEM", "Cannot allocate memory"),
    EACCES: ("EACCES", "Permission denied"),
    EFAULT: ("EFAULT", "Bad address"),
    ENOTBLK: ("ENOTBLK", "Block device required"),
    EBUSY: ("EBUSY", "Device or resource busy"),
    EEXIST: ("EEXIST", "File exists"),
    EXDEV: ("EXDEV", "Invalid cross-device link"),
    ENODEV: ("ENODEV", "No such device"),
    ENOTDIR: ("ENOTDIR", "Not a directory"),
    EISDIR: ("EISDIR", "Is a directory"),
    EINVAL: ("EINVAL", "Invalid argument"),
    ENFILE: ("ENFILE", "Too many open files in system"),
    EMFILE: ("EMFILE", "Too many open files"),
    ENOTTY: ("ENOTTY", "Inappropriate ioctl for device"),
    ETXTBSY: ("ETXTBSY", "Text file busy"),
    EFBIG: ("EFBIG", "File too large"),
    ENOSPC: ("ENOSPC", "No space left on device"),
    ESPIPE: ("ESPIPE", "Illegal seek"),
    EROFS: ("EROFS", "Read-only file system"),
    EMLINK: ("EMLINK", "Too many links"),
    EPIPE: ("EPIPE", "Broken pipe"),
    EDOM: ("EDOM", "Numerical argument out of domain"),
    ERANGE: ("ERANGE", "Numerical result out of range"),
    EDEADLK: ("EDEADLK", "Resource deadlock avoided"),
    ENAMETOOLONG: ("ENAMETOOLONG", "File name too long"),
    ENOLCK: ("ENOLCK", "No locks available"),
    ENOSYS: ("ENOSYS", "Function not implemented"),
    ENOTEMPTY: ("ENOTEMPTY", "Directory not empty"),
    ELOOP: ("ELOOP", "Too many levels of symbolic links"),
    EBADFD: ("EBADFD", "File descriptor in bad state"),
    EOPNOTSUPP: ("EOPNOTSUPP", "Operation not supported"),
    ETIMEDOUT: ("ETIMEDOUT", "Connection timed out"),
    # glibc has no text for the kernel-internal ones: strerror() says "Unknown error 517".
    EPROBE_DEFER: ("EPROBE_DEFER", None),
    ENOTSUPP: ("ENOTSUPP", None),
}


def errname(err):
    """'EBUSY' for 16 or -16."""
    err = abs(err)
    return _TABLE[err][0] if err in _TABLE else f"E{err}"


def strerror(err):
    """glibc's text for a Linux errno: 'Device or resource busy'; 'Unknown error N' otherwise."""
    err = abs(err)
    text = _TABLE[err][1] if err in _TABLE else None
    return text or f"Unknown error {err}"


def oserror(err, filename=None):
    """The OSError a user-space call sees for a negative kernel return code: Linux's number
    and glibc's words, whatever the host."""
    err = abs(err)
    if filename is None:
        return OSError(err, strerror(err))
    return OSError(err, strerror(err), filename)
