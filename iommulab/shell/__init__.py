"""The shell: what a learner types on a real host, run against the simulated kernel.

k.sh(script) → ShResult(status, stdout, stderr); the %%iommush cell magic; `iommulab sh`.
(bashlex loads only when a session is made: iommulab.shell.qemu does not need it.)
"""

__all__ = ["Session", "ShResult", "session_for", "timeline_for"]


def session_for(k):
    """The shell session bound to a kernel (variables and jobs persist across k.sh calls): the
    session of the kernel's timeline, which snapshots them together with the kernel."""
    return timeline_for(k).session


def timeline_for(k):
    """The Timeline (timeline.py) that owns kernel k and its shell session."""
    from .timeline import timeline_for as of
    return of(k)


def __getattr__(name):
    if name in ("Session", "ShResult"):
        from . import session
        return getattr(session, name)
    raise AttributeError(name)
