"""How long the course's notebooks take to run top to bottom. Prints figures; asserts nothing.

    python bench/notebooks.py [NAME ...]

Each notebook in notebooks/ (or those named) runs in a fresh Jupyter kernel with nbclient, as the
tests run it, in student mode and in solution mode (IOMMULAB_SOLUTIONS=1), in a scratch directory
with its own progress file. A first, throw-away run warms the disk cache and the kernel's imports, so
the figures are what a notebook costs, not what starting Python costs the first time. Goals (issue
15): no notebook over 8 s, all of them in one mode within 60 s, both modes within 120 s.
"""
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(path, solutions, work):
    import nbformat
    from nbclient import NotebookClient
    env = {"IOMMULAB_PROGRESS": str(work / "progress.json")}
    old = {k: os.environ.get(k) for k in ("IOMMULAB_PROGRESS", "IOMMULAB_SOLUTIONS")}
    os.environ.update(env)
    if solutions:
        os.environ["IOMMULAB_SOLUTIONS"] = "1"
    else:
        os.environ.pop("IOMMULAB_SOLUTIONS", None)
    try:
        shutil.copy(path, work / path.name)
        nb = nbformat.read(work / path.name, as_version=4)
        t = time.perf_counter()
        NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(work)}}).execute()
        took = time.perf_counter() - t
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    errors = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error")
    return took, errors


def main():
    names = sys.argv[1:]
    paths = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if not names or any(n in p.name for n in names))
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        warm.mkdir()
        run(paths[0], False, warm)                      # throw-away: caches and imports
        rows, totals = [], {False: 0.0, True: 0.0}
        for p in paths:
            row = [p.name]
            for solutions in (False, True):
                work = Path(tmp) / f"{p.stem}-{int(solutions)}"
                work.mkdir()
                took, errors = run(p, solutions, work)
                totals[solutions] += took
                row.append((took, errors))
            rows.append(row)
    print(f"{'notebook':<34} {'student':>9} {'solution':>9}   (seconds, kernel start included)")
    for name, (st, se), (so, soe) in rows:
        flag = "  OVER 8 s" if max(st, so) > 8 else ""
        err = f"  {se + soe} error output(s)" if se + soe else ""
        print(f"{name:<34} {st:9.1f} {so:9.1f}{flag}{err}")
    print(f"{'all, one mode':<34} {totals[False]:9.1f} {totals[True]:9.1f}   (goal <= 60 s each)")
    print(f"{'both modes':<34} {totals[False] + totals[True]:9.1f}             (goal <= 120 s)")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
