"""pyproject.toml, binder/requirements.txt and environment.yml agree on the lab's dependencies;
Binder's files are what repo2docker expects; the README has its two set-up commands."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"graphviz": "python-graphviz"}          # the PyPI package's name on conda-forge


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^-?\s*([A-Za-z0-9_.-]+)\s*(?:==|=)\s*([0-9][\w.]*)$", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _pyproject_lab():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["lab"]
    return {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower(): r for r in reqs}


def _satisfies(spec, version):
    low = re.search(r">=\s*([0-9][\w.]*)", spec)
    if not low:
        return True
    as_tuple = lambda v: tuple(int(x) for x in re.findall(r"\d+", v)[:3])  # noqa: E731
    return as_tuple(version) >= as_tuple(low.group(1))


def test_binder_and_conda_pin_every_lab_dependency_within_pyproject_ranges():
    wanted = _pyproject_lab()
    binder = _pins((ROOT / "binder" / "requirements.txt").read_text().splitlines())
    conda = _pins((ROOT / "environment.yml").read_text().splitlines())
    assert set(binder) == set(wanted)
    for name, spec in wanted.items():
        assert _satisfies(spec, binder[name]), (name, spec, binder[name])
        cname = CONDA_NAMES.get(name, name)
        assert conda.get(cname) == binder[name], (name, conda.get(cname), binder[name])


def test_binder_files():
    assert (ROOT / "binder" / "apt.txt").read_text().split() == ["graphviz", "pci.ids"]   # lspci's names
    assert re.fullmatch(r"python-3\.1[1-9]\s*", (ROOT / "binder" / "runtime.txt").read_text())
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "set -euo pipefail" in post and "pip install --no-deps ." in post
    assert "-e ." not in (ROOT / "binder" / "requirements.txt").read_text()


def test_readme_has_exactly_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme.split("## A first look")[0], re.S)
    commands = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines() if ln.strip()]
    assert commands == ["bash scripts/lab.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert "mybinder.org/v2/gh/" in readme and "labpath=notebooks%2F00-quickstart.ipynb" in readme


def test_test_sh_runs_the_layering_lint_and_type_checks_before_the_tests_from_the_test_extra():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    test_extra = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower() for r in meta["project"]["optional-dependencies"]["test"]}
    assert {"import-linter", "ruff", "mypy"} <= test_extra
    assert {"importlinter", "ruff", "mypy"} <= set(meta["tool"])          # each configured in pyproject.toml
    script = (ROOT / "scripts" / "test.sh").read_text()
    at = [script.index(cmd) for cmd in ('bin/lint-imports"', 'bin/ruff" check', 'bin/mypy"', "-m pytest")]
    assert at == sorted(at), "lint-imports, ruff check and mypy run before pytest"
    assert script.index('-e ".[test]"') < at[0]
