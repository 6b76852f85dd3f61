"""The shell: what a learner types on a real host, run against the simulated kernel.

k.sh(script) → ShResult(status, stdout, stderr); the %%iommush cell magic; `iommulab sh`.
"""
from .session import Session, ShResult

__all__ = ["Session", "ShResult", "session_for"]


def session_for(k):
    """The shell session bound to a kernel (variables and jobs persist across k.sh calls)."""
    s = k.__dict__.get("_shell_session")
    if s is None or s.k is not k:
        s = Session(k)
        k.__dict__["_shell_session"] = s
    return s
