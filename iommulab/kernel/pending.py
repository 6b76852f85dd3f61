"""Writes that Linux blocks on: unbinding a VFIO device user space still holds (its driver's
remove() waits in vfio_unregister_group_dev()), and writes queued behind it on the same device's
lock. write() returns a PendingWrite that completes, with an event, when the holder lets go."""
from .kobject import KObject
from . import dd


class PendingWrite(KObject):
    """A write that Linux would block on (unbinding a VFIO device user space still holds, or a
    write queued behind it on the same device's lock). `.done` turns True, with an event, when
    the holder lets go; `.errno` is then 0 or the error the write finally returned."""
    CONTAINERS = ("queue", "followers")

    def __init__(self, k, path, data, caps, reason, retry=None):
        KObject.__init__(self, k)
        self.path, self.data, self.caps, self.reason = path, data, caps, reason
        self.retry = retry        # a queued write: runs it again (raising OSError) once the lock frees
        self.done = False
        self.errno = 0
        self.queue = []           # writes waiting for the same device lock
        self.followers = []       # queued writes that blocked again through this one

    def label(self):
        return f"pending write {self.path}"

    def ref(self):
        return ("pending_write", self.path)

    def __repr__(self):
        state = "done" if self.done else f"blocked: {self.reason}"
        return f"<PendingWrite {self.data.strip()!r} > {self.path} ({state})>"


def release_or_block(k, dev, path, buf, after=None, after_blocked=None):
    """Unbind dev; if its driver's remove() blocks, return a PendingWrite that completes (running
    `after`, then `after_blocked`) when user space lets go."""
    blocker = dd.device_release_driver(dev)
    if blocker is None:
        if after is not None:
            after()
        return len(buf)
    pw = PendingWrite(k, path, buf, None,
                      f"{dev.name} is held open by user space; its driver's remove() waits")
    dev.locked_by = pw
    k.pending.append(pw)

    def complete():
        if after is not None:
            after()
        dev.locked_by = None
        if after_blocked is not None:
            after_blocked()
        _complete_pending(k, pw)
    blocker.on_done.append(complete)
    return pw


def _complete_pending(k, pw):
    """The blocked write returns; writes queued on the same device lock run in order."""
    pw.done = True
    for f in pw.followers:
        f.done = True
    if pw in k.pending:
        k.pending.remove(pw)
    k.tracer_note(f"blocked write to {pw.path} completed", ("completion", pw.path))
    queue, pw.queue = pw.queue, []
    while queue:
        nxt = queue.pop(0)
        if nxt in k.pending:
            k.pending.remove(nxt)
        try:
            res = nxt.retry()
        except OSError as e:
            nxt.errno = e.errno
            res = None
        if isinstance(res, PendingWrite):       # blocked again: the rest waits behind it
            res.followers.append(nxt)
            res.queue.extend(queue)
            return
        nxt.done = True
