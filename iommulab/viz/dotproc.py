"""Running Graphviz's `dot`: one long-running `dot -Tsvg`, fed one graph after another on its
standard input, so an action pays only for the layout, never for starting dot and loading its
libraries and fonts (bench/render.py: 1–4 ms instead of 12–25 ms for a fresh dot; it is renewed
every RECYCLE graphs, as dot keeps a little memory of each).

dot lays out each graph as soon as its closing brace arrives and flushes that graph's output.
After each graph we send a tiny end marker graph: its output, which always comes last, tells where
the answer ends, so a graph that dot rejects without dying (an error, no output) cannot leave us
waiting. A syntax error makes dot exit: its message is raised and the next call starts a new dot
(dot counts lines from its start, so a message's line number is not the graph's own).

Measured (bench/render.py): the same DOT text gives the same picture as a fresh dot, group for
group in the same order; with 20 or more devices drawn in full a node may sit up to 1.4 pt off
(dot's tie-breaking follows its heap addresses, which differ in a process that laid out graphs
before) — invisible, and a far smaller jump than any action makes."""
import atexit
import os
import re
import shutil
import subprocess
import threading


class DotMissing(RuntimeError):
    """Graphviz's `dot` program is not installed."""


DOT_MISSING = ("Graphviz's `dot` is not installed, so here is a text description instead "
               "(install it with: apt-get install graphviz).")

END_NAME = "iommulab_end_of_answer"
END_GRAPH = f"\ndigraph {END_NAME} {{}}\n".encode()
END_MARK = f"<title>{END_NAME}</title>".encode()       # in the end graph's SVG; escaped in any label
SVG_START = b"<?xml"
RECYCLE = 1000        # graphs per dot process: dot 2.43 keeps ~17 KiB of each (+7 MiB after 400 graphs)
PAGE_ID = re.compile(rb'<g id="page[^"]*_graph0"')  # a later graph of one dot process: "page0,1_graph0"


class DotRunner:
    def __init__(self, fmt="svg"):
        if fmt != "svg":
            raise ValueError("the long-running dot speaks SVG only (its end marker is an SVG document)")
        self.fmt = fmt
        self._proc = None
        self._drawn = 0                # graphs the current process has laid out
        self._errors = []              # dot's standard error since the current call began
        self._lock = threading.Lock()
        atexit.register(self.kill)     # at exit dot's work is over: a graceful close could wait

    def _spawn(self):
        exe = shutil.which("dot")
        if exe is None:
            raise DotMissing(DOT_MISSING)
        # A process group of its own: a Jupyter kernel shutting down signals the children in its group
        # and waits until they are gone, and a dot it cannot reap held every notebook run for 2.4 s.
        # It still ends with us (kill, at exit).
        proc = subprocess.Popen([exe, f"-T{self.fmt}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
        errors = self._errors

        def drain():                   # warnings must never fill the pipe and stall dot
            for line in iter(proc.stderr.readline, b""):
                errors.append(line)
        proc.drain = threading.Thread(target=drain, daemon=True)
        proc.drain.start()
        return proc

    def render(self, source):
        """DOT text → output text. Raises DotMissing, or RuntimeError with dot's own message."""
        if shutil.which("dot") is None:
            raise DotMissing(DOT_MISSING)
        with self._lock:
            if self._proc is not None and self._drawn >= RECYCLE:      # a new dot; the old one exits aside
                threading.Thread(target=self._retire, args=(self._proc,), daemon=True).start()
                self._proc = None
            if self._proc is None or self._proc.poll() is not None:
                self._proc, self._drawn = self._spawn(), 0
            self._drawn += 1
            proc = self._proc
            self._errors.clear()
            try:
                proc.stdin.write(source.encode() + END_GRAPH)
                out = self._read_answer(proc)
            except (BrokenPipeError, EOFError):
                self._proc = None
                proc.wait()
                proc.drain.join(timeout=2)             # dot's last words, before it exited
                raise RuntimeError(f"dot failed: {self._error_text()}") from None
        end = out.rfind(SVG_START)                    # the end marker's document starts here
        answer = PAGE_ID.sub(b'<g id="graph0"', out[:end], count=1)   # as a fresh dot names it
        if not answer.strip():
            raise RuntimeError(f"dot failed: {self._error_text()}")
        return answer.decode("utf-8")

    @staticmethod
    def _read_answer(proc):
        fd = proc.stdout.fileno()
        chunks, tail = [], b""
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            tail = (tail + chunk)[-4096:]
            if tail.endswith(b"</svg>\n") and END_MARK in tail:
                return b"".join(chunks)

    def _error_text(self):
        return b"".join(self._errors).decode(errors="replace").strip() or "no message"

    @staticmethod
    def _retire(proc):
        """End of input: dot exits on its own."""
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self):
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            self._retire(proc)

    def kill(self):
        """At the interpreter's exit: end dot at once (nothing it could draw is wanted then)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass


_RUNNER = None


def runner():
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = DotRunner()
    return _RUNNER
