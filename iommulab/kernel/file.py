"""struct file (include/linux/fs.h): what a file descriptor points at, reference counted as
fget()/fput() count it (fs/file_table.c). The file operations behind it are in devnodes.py."""
from .kobject import KObject


class File(KObject):
    """struct file: what an fd points at, with its reference count."""

    def __init__(self, k, kind, obj, path, holds=None):
        super().__init__(k)
        self.kind = kind          # vfio-container | vfio-group | vfio-device | vfio-cdev | iommufd | null
        self.obj = obj
        self.path = path
        self.refs = 1
        self.holds = holds        # the file this one keeps alive (a device fd holds its group fd)

    def label(self):
        return self.path

    def ref(self):
        return ("file", self.path)
