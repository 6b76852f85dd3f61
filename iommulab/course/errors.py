"""What a learner's mistake in a call raises: a level id or a quiz kind mistyped, a question that
cannot be asked on this machine. In a notebook it shows as its one-line message, not a traceback
(IPython prints what _render_traceback_ returns)."""


class CourseError(ValueError):
    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]
