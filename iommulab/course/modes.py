"""Student and solution modes. Student mode (the default): a check not answered yet says "not
yet" and never raises. Solution mode (IOMMULAB_SOLUTIONS=1 in the environment, or
`iommulab.course.modes.set_solutions(True)` at the top of a notebook): every level runs its
reference solution when it opens, every unanswered question takes the kernel's answer, and a check
that still fails raises SolutionFailed — so CI, running each notebook in this mode, fails loudly.
"""
import os

_forced = None


class SolutionFailed(AssertionError):
    """In solution mode, a check that the reference solution did not pass."""
    propagate = True        # a widget's callback guard lets it through (widgets/common.guarded)


def solutions():
    if _forced is not None:
        return _forced
    return os.environ.get("IOMMULAB_SOLUTIONS", "").strip().lower() in ("1", "yes", "true", "on")


def set_solutions(on):
    """Force solution mode on or off for this Python session (None: back to the environment)."""
    global _forced
    _forced = None if on is None else bool(on)
