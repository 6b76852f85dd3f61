"""The course layer: levels (goals over state, computed hints), predict-then-run questions and
seeded problems. It uses only the public surface of the kernel, the shell, the checker and the
views; its widgets live in iommulab.widgets and are imported only when a level is displayed.
"""
from . import predict, quiz
from .level import Check, Level, LevelError, level_ids, open_level
from .modes import SolutionFailed, set_solutions, solutions


def level(level_id) -> Level:
    """Open a level on a freshly booted machine: `iommulab.level("gpu-passthrough")`."""
    return open_level(level_id)


def levels():
    """The ids of the levels the package ships."""
    return level_ids()


__all__ = ["predict", "quiz", "Check", "Level", "LevelError", "SolutionFailed", "level", "levels",
           "set_solutions", "solutions"]
