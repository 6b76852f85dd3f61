"""Running Graphviz's `dot`: one spare process is kept started and waiting on its input, so an
action pays only for the layout, not for starting dot and loading its libraries."""
import atexit
import shutil
import subprocess
import threading


class DotMissing(RuntimeError):
    """Graphviz's `dot` program is not installed."""


DOT_MISSING = ("Graphviz's `dot` is not installed, so here is a text description instead "
               "(install it with: apt-get install graphviz).")


class DotRunner:
    def __init__(self, fmt="svg"):
        self.fmt = fmt
        self._spare = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _spawn(self):
        exe = shutil.which("dot")
        if exe is None:
            raise DotMissing(DOT_MISSING)
        return subprocess.Popen([exe, f"-T{self.fmt}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def render(self, source):
        """DOT text → output text. Raises DotMissing, or RuntimeError with dot's own message."""
        with self._lock:
            proc, self._spare = self._spare, None
        if proc is None or proc.poll() is not None or shutil.which("dot") is None:
            proc = self._spawn()
        out, err = proc.communicate(source.encode())
        if proc.returncode:
            raise RuntimeError(f"dot failed: {err.decode(errors='replace').strip()}")
        try:
            spare = self._spawn()                      # ready for the next action
        except DotMissing:
            spare = None
        with self._lock:
            self._spare = spare
        return out.decode("utf-8")

    def close(self):
        with self._lock:
            proc, self._spare = self._spare, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


_RUNNER = None


def runner():
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = DotRunner()
    return _RUNNER
