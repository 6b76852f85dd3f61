"""Rewrites Pyodide's lock for the site (scripts/lite.sh runs it with the build venv's Python).

The npm package `pyodide` is the core alone: its pyodide-lock.json names ~350 packages whose wheels
it does not carry. The new lock keeps only what the site ships:
  - the lock's own pure-Python packages whose wheels lite.sh fetched from PyPI (IPython and its
    closure, jedi, micropip), pointed at those files and their hashes (PyPI's wheels are not the
    bytes Pyodide's own build made, so every hash changes);
  - new entries for iommulab and what it needs (the wheels piplite also offers, referenced where the
    piplite addon puts them), so the kernel's loadPackagesFromImports loads them on `import iommulab`
    and a notebook needs no install cell.
Every other package is left out, so `import numpy` fails as a missing module, never as a request
for a wheel that is not there.

Usage: python lite/lock.py LOCK_IN LOCK_OUT_DIR PYPI_URL_PREFIX WHEEL...
  writes LOCK_OUT_DIR/pyodide-lock.json; a wheel of a package the lock names is copied into
  LOCK_OUT_DIR; every other one is referenced as PYPI_URL_PREFIX + its file name (a URL relative to
  the lock's folder) and its path printed, one a line: the wheels to hand the piplite addon."""
import hashlib
import json
import re
import shutil
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

# Requires-Dist of iommulab names only its core; the lab's views and widgets need these too
# (pyproject's `lab` extra, less matplotlib and jupyterlab, which the browser has no use for).
EXTRA_DEPENDS = {"iommulab": ["graphviz", "ipywidgets", "anywidget"]}


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def metadata(wheel):
    """(name, version, requirement names without markers, top-level import names) of a wheel."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode("utf-8"))
        tops = next((n for n in names if n.endswith(".dist-info/top_level.txt")), None)
        if tops:
            imports = [t.strip() for t in z.read(tops).decode().splitlines() if t.strip()]
        else:
            imports = sorted({n.split("/")[0].removesuffix(".py") for n in names
                              if not n.split("/")[0].endswith((".dist-info", ".data"))
                              and (n.count("/") or n.endswith(".py"))})
    requires = []
    for req in meta.get_all("Requires-Dist") or []:
        head, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        requires.append(norm(re.split(r"[\s<>=!~\[(]", head.strip(), maxsplit=1)[0]))
    return norm(meta["Name"]), meta["Version"], requires, [i for i in imports if not i.startswith("_")] or imports


def main(lock_in, out_dir, pypi_prefix, *wheels):
    lock = json.loads(Path(lock_in).read_text())
    old = lock["packages"]
    out_dir = Path(out_dir)
    new = {}
    for path in map(Path, wheels):
        name, version, requires, imports = metadata(path)
        own = name in old
        if own:
            shutil.copyfile(path, out_dir / path.name)
        else:
            print(path)
        entry = dict(old.get(name) or {"name": name, "install_dir": "site", "package_type": "package",
                                       "unvendored_tests": False, "imports": imports,
                                       "depends": requires + EXTRA_DEPENDS.get(name, [])})
        entry.update(version=version, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                     file_name=path.name if own else pypi_prefix + path.name)
        new[name] = entry
    for entry in new.values():        # a dependency the site does not ship is left out (as micropip would not find it)
        entry["depends"] = sorted({norm(d) for d in entry["depends"] if norm(d) in new})
    lock["packages"] = dict(sorted(new.items()))
    (out_dir / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    print(f"pyodide-lock.json: {len(new)} packages ({len(old)} in the npm package's lock)", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
