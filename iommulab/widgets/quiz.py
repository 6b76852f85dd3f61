"""The quiz widget: a seeded problem (its machine, steps and questions), an input per question,
"check", "reveal" (the answers, each with the rule behind it) and "new problem" (the next seed).

It is given a problem-like object and does not import the course layer (the layers go one way):
`iommulab.course.quiz.Quiz(seed)` makes one. What it reads of the problem: `seed`, `command`,
`text()`, `questions()` (each with `id`, `text`, `choices`), `answers()` (each with `question`,
`value`, `rule`) and `check(answers)` (each verdict with `question`, `ok`, `given`, `why`); `make`
is a function seed -> problem for "new problem", `on_check(problem, verdicts)` is told of each check
(the course keeps the learner's progress with it). Callbacks never raise into the notebook.
"""
import html

import ipywidgets as W

from .common import StaticFallback, guarded

from .lab import CSS, ROW, _button

QUIZ_CSS = """<style>
.iommulab-quiz pre { font-size: 90%; overflow: auto; }
.iommulab-quiz-feedback .right { color: #009E73; font-weight: bold; }
.iommulab-quiz-feedback .wrong { color: #D55E00; font-weight: bold; }
.iommulab-quiz-feedback .notyet { color: #666; font-weight: bold; }
</style>"""
UNANSWERED = "(your answer)"


class Quiz(StaticFallback, W.VBox):
    """Quiz(problem, make=None, fill=False, on_check=None): `fill` puts the kernel's answers in
    (solution mode)."""

    def __init__(self, problem, make=None, fill=False, on_check=None, **kw):
        self.make, self.fill, self.on_checked = make, fill, on_check
        self.header = W.HTML()
        self.text = W.HTML()
        self.inputs_box = W.VBox()
        self.check_b = _button("check", "iommulab-quiz-check", "check my answers against the kernel's")
        self.reveal_b = _button("reveal", "iommulab-quiz-reveal", "show the answers and the rules behind them")
        self.new_b = _button("new problem", "iommulab-quiz-new", "the next seed's problem")
        self.feedback = W.HTML()
        self.feedback.add_class("iommulab-quiz-feedback")
        self.check_b.on_click(lambda b: self._guard(self.on_check))
        self.reveal_b.on_click(lambda b: self._guard(self.on_reveal))
        self.new_b.on_click(lambda b: self._guard(self.on_new))
        super().__init__([W.HTML(CSS + QUIZ_CSS), self.header, self.text, self.inputs_box,
                          W.HBox([self.check_b, self.reveal_b, self.new_b], layout=ROW), self.feedback], **kw)
        self.add_class("iommulab-quiz")
        self.show(problem)

    def _guard(self, fn):
        guarded(fn, lambda text: setattr(self.feedback, "value", f"<span class='wrong'>{text}</span>"))

    # --- the problem -------------------------------------------------------------------------------

    def show(self, problem):
        self.problem = problem
        self.header.value = f"<b>Seeded problem</b> — share it as <code>{html.escape(problem.command)}</code>"
        self.text.value = f"<pre>{html.escape(problem.text())}</pre>"
        self.inputs = {}
        rows = []
        for q in problem.questions():
            if q.choices:
                w = W.Dropdown(options=[UNANSWERED] + list(q.choices), value=UNANSWERED,
                               layout=W.Layout(width="12em"))
            else:
                w = W.Text(placeholder="e.g. 0000:01:00.1, 0000:00:01.0 — or none", layout=W.Layout(width="30em"))
            w.add_class("iommulab-quiz-answer")
            self.inputs[q.id] = w
            rows.append(W.HBox([W.HTML(f"<b>{html.escape(q.id)}</b>&nbsp;{html.escape(q.text)}"), w], layout=ROW))
        self.inputs_box.children = rows
        self.feedback.value = ""
        if self.fill:
            for a in problem.answers():
                self.inputs[a.question].value = a.value
            self.on_check()

    def given(self):
        """The learner's answers by question id (an unanswered Dropdown gives None)."""
        out = {}
        for qid, w in self.inputs.items():
            v = w.value
            out[qid] = None if v in (UNANSWERED, None) or (isinstance(v, str) and not v.strip()) else v
        return out

    # --- buttons (also usable from code) -----------------------------------------------------------

    def on_check(self):
        verdicts = self.problem.check(self.given())
        rows, right = [], 0
        for v in verdicts:
            cls, word = (("right", "right") if v.ok else ("notyet", "not yet") if v.given is None
                         else ("wrong", "wrong"))
            right += bool(v.ok)
            rows.append(f"<li><b>{html.escape(v.question)}</b> <span class='{cls}'>{word}</span>"
                        f"{'' if v.given is None else ': ' + html.escape(v.why)}</li>")
        self.verdicts = verdicts
        self.feedback.value = f"<p>{right} of {len(verdicts)} right</p><ul>{''.join(rows)}</ul>"
        if self.on_checked is not None and any(v.given is not None for v in verdicts):
            self.on_checked(self.problem, verdicts)

    def on_reveal(self):
        rows = [f"<li><b>{html.escape(a.question)}</b> {html.escape(a.value)} — {html.escape(a.rule)}</li>"
                for a in self.problem.answers()]
        self.feedback.value = f"<p>The kernel's answers, and why:</p><ul>{''.join(rows)}</ul>"

    def on_new(self):
        if self.make is None:
            self.feedback.value = "<span class='notyet'>this quiz has no next problem</span>"
            return
        self.show(self.make(self.problem.seed + 1))
