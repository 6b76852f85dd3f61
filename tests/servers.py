"""A local server for a browser test: started, waited for until a URL answers, stopped by its PID."""
import contextlib
import subprocess
import time
import urllib.request


@contextlib.contextmanager
def serving(cmd, ready_url, timeout, what, log=None, **popen):
    """Run `cmd` until the block ends; before the block, wait (at most `timeout` s) until
    `ready_url` answers 200. A server that exits or never answers fails with `what` and its log."""
    server = subprocess.Popen(cmd, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            gone = server.poll() is not None
            assert not gone and time.time() < deadline, (
                f"{what} {'exited' if gone else f'did not start in {timeout} s'}"
                + (f":\n{open(log.name).read()}" if log is not None else ""))
            time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
