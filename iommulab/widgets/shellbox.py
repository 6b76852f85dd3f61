"""The Lab's shell box: a text box where Enter runs what is typed and Shift+Enter starts a new line
(as in a chat box; a notebook cell uses Shift+Enter the other way round, but there it runs the cell).
ipywidgets' Textarea sends no key events, so this box is an anywidget: a small ES module that draws
a <textarea>, keeps `value` in step as the learner types, and on Enter empties itself and sends
{"event": "enter", "value": text}: Python's side runs that text (`on_enter`), as the Lab's run
button runs `value`. (The browser empties the box itself: a value set back from Python could race
the echo of the learner's own typing.)"""
import anywidget
import traitlets

_ESM = r"""
function render({ model, el }) {
  const box = document.createElement("textarea");
  box.className = "iommulab-shell-textarea";
  box.rows = model.get("rows");
  box.placeholder = model.get("placeholder");
  box.value = model.get("value");
  box.spellcheck = false;
  const fit = () => { box.rows = Math.min(12, Math.max(model.get("rows"), box.value.split("\n").length + 1)); };
  const sync = () => { fit(); model.set("value", box.value); model.save_changes(); };
  fit();
  box.addEventListener("input", sync);
  box.addEventListener("keydown", (e) => {
    e.stopPropagation();                      // the notebook's own shortcuts stay out of the box
    if (e.key === "Enter" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && !e.isComposing) {
      e.preventDefault();
      const text = box.value;
      box.value = "";                         // the box empties for the next command, as a terminal's does
      sync();
      model.send({ event: "enter", value: text });
    }
  });
  model.on("change:value", () => { if (box.value !== model.get("value")) { box.value = model.get("value"); fit(); } });
  model.on("change:placeholder", () => { box.placeholder = model.get("placeholder"); });
  el.appendChild(box);
}
export default { render };
"""

_CSS = """
.iommulab-shell-textarea { width: 100%; box-sizing: border-box; font-family: var(--jp-code-font-family, monospace);
  font-size: 13px; padding: 4px 6px; resize: vertical; border: 1px solid var(--jp-border-color1, #999);
  background: var(--jp-layout-color1, white); color: var(--jp-content-font-color1, black); }
.iommulab-shell-textarea:focus { outline: 2px solid var(--jp-brand-color1, #1976d2); }
"""


class ShellBox(anywidget.AnyWidget):
    """value: the text in the box. on_enter(fn): fn(text) runs when the learner presses Enter."""
    _esm = _ESM
    _css = _CSS
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.Int(3).tag(sync=True)

    def __init__(self, **kw):
        super().__init__(**kw)
        self._on_enter = []
        self.on_msg(self._message)

    def on_enter(self, fn):
        """fn(text) runs when the learner presses Enter, with what the box held (the box empties)."""
        self._on_enter.append(fn)

    def enter(self, text=None):
        """What Enter in the browser does: each on_enter runs with the text (the box's value if none is
        given), and the box is empty after it."""
        text = self.value if text is None else text
        self.value = ""
        for fn in list(self._on_enter):
            fn(text)

    def _message(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("event") == "enter" and isinstance(content.get("value"), str):
            self.enter(content["value"])
