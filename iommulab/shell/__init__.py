"""The shell: what a learner types on a real host, run against the simulated kernel.

k.sh(script) → ShResult(status, stdout, stderr); the %%iommush cell magic; `iommulab sh`.
(bashlex loads only when a session is made: iommulab.shell.qemu does not need it.)
"""

__all__ = ["Session", "ShResult", "session_for"]


def session_for(k):
    """The shell session bound to a kernel (variables and jobs persist across k.sh calls)."""
    from .session import Session
    s = k.__dict__.get("_shell_session")
    if s is None or s.k is not k:
        s = Session(k)
        k.__dict__["_shell_session"] = s
    return s


def __getattr__(name):
    if name in ("Session", "ShResult"):
        from . import session
        return getattr(session, name)
    raise AttributeError(name)
