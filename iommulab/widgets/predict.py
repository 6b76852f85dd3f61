"""Predict(question): predict, then run. The question in words, an answer box (radio buttons when
the question has computed choices, a text box otherwise) and a "check" button; after checking:
right or wrong, the kernel's answer, the reason, and small pictures of the machine before and after
the action, side by side.

It receives the course's question object and uses it by duck typing (this module never imports
iommulab.course): question.text, .choices, .answer(value) -> feedback (.ok, .answered, .why,
.expected, .given, .verdict()), .kernel_words, .solution(), .pictures() -> [(caption, svg, text)],
.outcome (.lines, .stderr) when the kernel ran something, and .prefill(): the answer to fill in at
once (in solution mode, the kernel's; otherwise None). Callbacks never
raise into the notebook: a problem shows in the feedback.
"""
import html
import re

import ipywidgets as W

from .common import StaticFallback, guarded

CSS = """<style>
.iommulab-predict { border: 2px solid #56B4E9; border-radius: 6px; padding: 6px 10px; margin: 4px 0;
                    background: #F7FBFE; }
.iommulab-predict-question { font-weight: bold; white-space: pre-wrap; line-height: 1.35; }
.iommulab-predict-feedback .right { color: #009E73; font-weight: bold; }
.iommulab-predict-feedback .wrong { color: #D55E00; font-weight: bold; }
.iommulab-predict-feedback .notyet { color: #777; font-weight: bold; }
.iommulab-predict-feedback .why { display: block; margin: 2px 0; line-height: 1.35; }
.iommulab-predict-feedback .widget-html-content, .iommulab-predict-question .widget-html-content { line-height: 1.35; }
.iommulab-predict-feedback pre { margin: 2px 0; white-space: pre-wrap; font-size: 90%; }
.iommulab-predict-pictures .pics { display: flex; flex-flow: row nowrap; gap: 6px; }
.iommulab-predict-pictures figure { margin: 0; max-width: 50%; flex: 1 1 50%; }
.iommulab-predict-pictures figcaption { font-weight: bold; }
.iommulab-predict-pictures svg { max-width: 100%; height: auto; }
</style>"""


def _text(words):
    """Plain text as HTML, with `code` in backticks set as code (the questions and rules use them)."""
    return re.sub(r"`([^`\n]+)`", r"<code>\1</code>", html.escape(words))


class Predict(StaticFallback, W.VBox):
    """Display it in a cell: `Predict(predict.owner_cnt(k, 1))` (a question displays as this)."""

    def __init__(self, question, **kw):
        self.q = question
        self.question = W.HTML(f'<div class="iommulab-predict-question">{_text(question.text)}</div>')
        choices = list(question.choices or [])
        if choices:
            self.box = W.RadioButtons(options=choices, value=None, layout=W.Layout(width="auto"))
        else:
            self.box = W.Text(placeholder=getattr(question, "hint", "") or "your answer",
                              layout=W.Layout(width="40em"))
        self.box.add_class("iommulab-predict-answer")
        self.check = W.Button(description="check", tooltip="check your answer: the kernel runs it on a snapshot",
                              button_style="primary", layout=W.Layout(width="auto", align_self="flex-start"))
        self.check.add_class("iommulab-predict-check")
        self.feedback = W.HTML()
        self.feedback.add_class("iommulab-predict-feedback")
        self.pictures = W.HTML()
        self.pictures.add_class("iommulab-predict-pictures")
        self.check.on_click(lambda _b: self._guard(self.on_check))
        super().__init__([W.HTML(CSS), self.question, self.box, self.check, self.feedback, self.pictures], **kw)
        self.add_class("iommulab-predict")
        prefill = getattr(question, "prefill", None)
        if prefill is not None:
            self._guard(lambda: self._fill(prefill()))

    # --- acting ---------------------------------------------------------------------------------

    def _guard(self, fn):
        guarded(fn, lambda text: setattr(self.feedback, "value", f'<span class="wrong">{text}</span>'),
                "check that")

    def _fill(self, answer):
        """Solution mode: the question's prefill() is the kernel's answer; fill it in and check."""
        if answer is None:
            return
        if isinstance(self.box, W.RadioButtons) and answer not in self.box.options:
            return
        self.box.value = answer
        self.on_check()

    def value(self):
        v = self.box.value
        return None if v is None or (isinstance(v, str) and not v.strip()) else v

    def on_check(self):
        fb = self.q.answer(self.value())
        self.feedback.value = self._feedback_html(fb)
        if getattr(fb, "answered", True):
            self.pictures.value = self._pictures_html()
        else:
            self.pictures.value = ""
        return fb

    # --- showing -----------------------------------------------------------------------------------

    def _feedback_html(self, fb):
        if not getattr(fb, "answered", True):
            text = fb.why if fb.why != fb.verdict() else "choose or type your answer, then check"
            return (f'<span class="notyet">{html.escape(fb.verdict())}</span>'
                    f'<span class="why">{html.escape(text)}</span>')
        cls = "right" if fb.ok else "wrong"
        head = "right" if fb.ok else "not quite"
        kernel = getattr(self.q, "kernel_words", "") or str(fb.expected)
        out = [f'<span class="{cls}">{head}</span>']
        if not fb.ok:
            out.append(f' — you said <b>{html.escape(self._words(fb.given))}</b>')
        out.append(f'<span class="why">the kernel: <b>{html.escape(kernel)}</b></span>')
        out.append(f'<span class="why">{_text(fb.why)}</span>')
        o = getattr(self.q, "outcome", None)
        if o is not None and getattr(o, "lines", None):
            shown = "\n".join(f"$ {x}" for x in o.lines) + ("\n" + o.stderr.rstrip() if o.stderr.strip() else "")
            out.append(f"<details><summary>what ran</summary><pre>{html.escape(shown)}</pre></details>")
        return "".join(out)

    def _words(self, v):
        display = getattr(self.q, "display", None)
        try:
            return display(v) if display is not None and v is not None else str(v)
        except Exception:                        # a learner's odd value: show it as it is
            return str(v)

    def _pictures_html(self):
        pics = self.q.pictures() if hasattr(self.q, "pictures") else []
        if not pics:
            return ""
        figs = []
        for caption, svg, text in pics:
            body = svg if svg else f"<pre>{html.escape(text or '')}</pre>"
            figs.append(f'<figure><figcaption>{html.escape(caption)}</figcaption>{body}</figure>')
        return f'<div class="pics">{"".join(figs)}</div>'
