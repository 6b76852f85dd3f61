"""A learner's progress, kept in a small JSON file beside the notebooks (`.iommulab-progress.json`
in the working directory, or the file IOMMULAB_PROGRESS names), so a self-paced learner can close
the lab and come back. Solution mode records nothing. A file that cannot be read or written never
stops the course: the progress is then kept for this session only, and `where()` says so.
"""
import json
import os
import time
from pathlib import Path

NAME = ".iommulab-progress.json"
_memory = {"levels": {}, "checks": {}}
_problem = ""
_unreadable = set()            # files found corrupt: never overwritten (a learner may mend them)


def path():
    return Path(os.environ.get("IOMMULAB_PROGRESS") or NAME)


def on_binder():
    """Binder sets BINDER_LAUNCH_HOST (and BINDER_REQUEST) in the session's environment."""
    return bool(os.environ.get("BINDER_LAUNCH_HOST") or os.environ.get("BINDER_REQUEST"))


def load():
    global _problem
    p = path()
    if str(p) in _unreadable:
        return {"levels": dict(_memory["levels"]), "checks": dict(_memory["checks"])}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return {"levels": dict(_memory["levels"]), "checks": dict(_memory["checks"])}
    except (OSError, ValueError) as e:
        _problem = f"{p} could not be read ({e}); progress is kept for this session only"
        _unreadable.add(str(p))
        return {"levels": dict(_memory["levels"]), "checks": dict(_memory["checks"])}
    for key in ("levels", "checks"):
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data[key] = {n: v for n, v in data[key].items() if isinstance(v, dict)}   # a hand edit gone wrong
        data[key].update(_memory[key])      # what this session knows but could not write
    return data


def _save(data):
    global _problem
    _memory["levels"].update(data["levels"])
    _memory["checks"].update(data["checks"])
    p = path()
    if str(p) in _unreadable:
        return
    tmp = p.with_name(p.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, p)
        _problem = ""
    except OSError as e:
        _problem = f"{p} could not be written ({e.strerror or e}); progress is kept for this session only"
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def level_passed(level_id, actions):
    from . import modes
    if modes.solutions():
        return
    data = load()
    prev = data["levels"].get(level_id, {})
    was = prev.get("actions")
    best = min(actions, was) if isinstance(was, int) else actions
    data["levels"][level_id] = {"passed": True, "actions": best, "when": time.strftime("%Y-%m-%d %H:%M")}
    _save(data)


def answered(check_id, ok, answer):
    from . import modes
    if modes.solutions():
        return
    data = load()
    data["checks"][check_id] = {"ok": bool(ok), "answer": str(answer)[:200],
                                "when": time.strftime("%Y-%m-%d %H:%M")}
    _save(data)


def where():
    """One sentence for the lab: where progress is kept, and whether it will last."""
    if _problem:
        return _problem
    text = f"Your progress is kept in {path()}."
    if on_binder():
        text += (" This is a Binder session: its files are lost when it ends — download that file to keep "
                 "your progress, and upload it next time.")
    return text


def summary():
    data = load()
    passed = sorted(n for n, v in data["levels"].items() if v.get("passed"))
    right = sum(1 for v in data["checks"].values() if v.get("ok"))
    return {"levels_passed": passed, "checks_answered": len(data["checks"]), "checks_right": right}
