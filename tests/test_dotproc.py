"""viz/dotproc.py: one long-running dot answers graph after graph; a graph dot rejects raises
dot's own words and the next graph is drawn by a new dot; the answer is what a fresh dot says."""
import os
import shutil
import subprocess

import pytest

from iommulab import Kernel
from iommulab.viz.dotproc import DotRunner
from iommulab.viz.graph import graph

# Without dot the lab falls back to text; under CI (which installs Graphviz) these must run.
pytestmark = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                                reason="Graphviz's dot is not installed (bash scripts/test.sh installs it)")


def test_one_dot_process_answers_many_graphs_as_a_fresh_dot_would():
    r = DotRunner()
    try:
        src = graph(Kernel.from_scenario("workstation-no-acs")).source
        fresh = subprocess.run(["dot", "-Tsvg"], input=src.encode(), capture_output=True, check=True).stdout.decode()
        first = r.render(src)
        pid = r._proc.pid
        again = [r.render(src) for _ in range(3)]
        assert r._proc.pid == pid                                  # no new process per picture
        assert first == fresh and first.count("</svg>") == 1
        assert all(a.count("<svg") == 1 and '<g id="graph0"' in a for a in again)
    finally:
        r.close()


def test_a_rejected_graph_raises_dots_words_and_the_next_graph_still_draws():
    r = DotRunner()
    try:
        with pytest.raises(RuntimeError, match="syntax error"):
            r.render("digraph broken { a -> -> }")
        assert "<title>b</title>" in r.render('digraph ok { b [label="</svg> iommulab_end_of_answer"] }')
        with pytest.raises(RuntimeError, match="dot failed"):
            r.render("")                                           # no graph at all: no answer, no hang
        assert "<title>c</title>" in r.render("digraph ok { c }")
    finally:
        r.close()


def test_missing_dot_raises_dot_missing(monkeypatch):
    from iommulab.viz.dotproc import DotMissing
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DotMissing):
        DotRunner().render("digraph a { b }")


def test_a_dot_process_is_replaced_after_recycle_graphs(monkeypatch):
    from iommulab.viz import dotproc
    monkeypatch.setattr(dotproc, "RECYCLE", 2)
    r = DotRunner()
    try:
        pids = []
        for name in "abcde":
            assert f"<title>{name}</title>" in r.render(f"digraph g {{ {name} }}")
            pids.append(r._proc.pid)
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    finally:
        r.close()


def test_dot_runs_in_a_process_group_of_its_own_and_ends_with_us():
    """A Jupyter kernel shutting down signals the children of its own process group and waits for
    them to go: dot in the kernel's group held every notebook's shutdown for 2.4 s. At exit, kill()."""
    import os
    from iommulab.viz.dotproc import DotRunner
    r = DotRunner()
    assert "<svg" in r.render("digraph { a }")
    proc = r._proc
    assert os.getpgid(proc.pid) != os.getpgrp()
    r.kill()
    assert proc.poll() is not None and r._proc is None
