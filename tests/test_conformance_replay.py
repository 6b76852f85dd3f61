"""The simulator against real kernels: every recording under tests/data/real-kernels/ (made by
scripts/conformance.sh record: Debian's kernels booted in QEMU) is replayed in the simulator, and a
difference not explained in conformance/known-differences.toml fails (conformance/replay.py)."""
import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "conformance"))
import replay  # noqa: E402

RECORDINGS = replay.recordings()


def test_there_are_recordings_of_three_kernel_series():
    series = {tuple(json.loads(p.read_text())["release"].split(".")[:2]) for p in RECORDINGS}
    assert len(series) >= 3, f"recordings of {sorted(series)} only"


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_the_simulator_does_what_the_real_kernel_did(path):
    rec = json.loads(path.read_text())
    assert rec["complete"], "the recording stopped before its last probe"
    assert replay.groups_difference(rec) == {}
    known = replay.load_known()
    unexplained = [f"{name} step {d['step']} `{d['line']}` {d['field']}: real {d['real']!r}, sim {d['sim']!r}"
                   for name, _, _, _, diffs in replay.replay(rec, known) for d in diffs if not d["known"]]
    assert not unexplained, "\n".join(unexplained)


def test_a_changed_answer_is_caught():
    """The comparison can fail: a recording whose real answer is altered is a difference."""
    rec = json.loads(RECORDINGS[0].read_text())
    step = next(s for p in rec["probes"] for s in p["steps"] if "call" in s)
    step["stdout"] = "ENOTTY\n"
    diffs = [d for _, _, _, _, ds in replay.replay(rec, replay.load_known()) for d in ds if not d["known"]]
    assert any(d["real"] == "ENOTTY\n" for d in diffs)


def test_replay_runs_in_seconds():
    t0 = time.monotonic()
    for path in RECORDINGS:
        replay.replay(json.loads(path.read_text()), replay.load_known())
    assert time.monotonic() - t0 < 30
