"""pyproject.toml, binder/requirements.txt and environment.yml agree on the lab's dependencies;
Binder's files are what repo2docker expects; the README has its two set-up commands."""
import json
import os
import re
import subprocess
import sys
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
    assert "mybinder.org/v2/gh/" in readme and "labpath=notebooks%2Findex.ipynb" in readme


def test_test_sh_runs_the_layering_lint_and_type_checks_before_the_tests_from_the_test_extra():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    test_extra = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower() for r in meta["project"]["optional-dependencies"]["test"]}
    assert {"import-linter", "ruff", "mypy"} <= test_extra
    assert {"importlinter", "ruff", "mypy"} <= set(meta["tool"])          # each configured in pyproject.toml
    script = (ROOT / "scripts" / "test.sh").read_text()
    at = [script.index(cmd) for cmd in ('bin/lint-imports"', 'bin/ruff" check', 'bin/mypy"', "-m pytest")]
    assert at == sorted(at), "lint-imports, ruff check and mypy run before pytest"
    assert script.index('-e ".[test]"') < at[0]


# The lab's start: no news toast, no update check, however JupyterLab is started; lab.sh reinstalls
# only when what the installation depends on changed.

def _notification_schema():
    import sys
    path = Path(sys.prefix) / "share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"
    if not path.exists():
        import pytest
        pytest.skip("JupyterLab's schemas are not installed in this environment")
    return json.loads(path.read_text())


def test_binder_overrides_turn_off_news_and_update_check_in_the_installed_jupyterlab_schema():
    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
    ours = overrides["@jupyterlab/apputils-extension:notification"]
    assert ours == {"fetchNews": "false", "checkForUpdates": False}      # "false" is the schema's "Never"
    props = _notification_schema()["properties"]
    assert "false" in {c["const"] for c in props["fetchNews"]["oneOf"]} and props["checkForUpdates"]["type"] == "boolean"
    server = json.loads((ROOT / "binder" / "jupyter_server_config.json").read_text())["LabApp"]
    assert server == {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}
    from jupyterlab.handlers.announcements import NeverCheckForUpdate  # noqa: F401  (the class named exists)
    from jupyterlab.labapp import LabApp
    assert {"news_url", "check_for_updates_class"} <= set(LabApp.class_traits())


def test_install_settings_writes_the_overrides_and_keeps_what_was_there(tmp_path):
    settings = tmp_path / "share/jupyter/lab/settings"
    settings.mkdir(parents=True)
    (settings / "overrides.json").write_text(json.dumps({
        "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
        "@jupyterlab/apputils-extension:notification": {"doNotDisturbMode": True, "fetchNews": "true"}}))
    subprocess.run([sys.executable, str(ROOT / "binder" / "install-settings.py"), str(tmp_path)], check=True,
                   capture_output=True)
    got = json.loads((settings / "overrides.json").read_text())
    assert got["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert got["@jupyterlab/apputils-extension:notification"] == {"doNotDisturbMode": True, "fetchNews": "false",
                                                                   "checkForUpdates": False}
    server = tmp_path / "etc/jupyter/jupyter_server_config.d/iommulab.json"
    assert json.loads(server.read_text())["LabApp"]["news_url"] is None
    post = (ROOT / "binder" / "postBuild").read_text()
    assert post.index("pip install --no-deps .") < post.index("python binder/install-settings.py")


def _fake_venv(tmp_path, install_status=0):
    """A venv whose python and jupyter only log how they were called; an apt-get that refuses, so
    nothing here reaches a network."""
    venv, fakebin, log = tmp_path / "venv", tmp_path / "fakebin", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    fakebin.mkdir()
    for exe, status in ((venv / "bin" / "python", install_status), (venv / "bin" / "jupyter", 0),
                        (fakebin / "apt-get", 1)):
        exe.write_text(f'#!/bin/sh\necho "{exe.name} $*" >> "{log}"\nexit {status}\n')
        exe.chmod(0o755)
    env = dict(os.environ, IOMMULAB_VENV=str(venv), PATH=f"{fakebin}:{os.environ['PATH']}")
    return venv, env, log


def _lab_sh(env):
    return subprocess.run(["bash", str(ROOT / "scripts" / "lab.sh"), "--no-browser"], env=env, capture_output=True,
                          text=True)


def test_lab_sh_installs_once_then_starts_without_installing(tmp_path):
    venv, env, log = _fake_venv(tmp_path)
    first = _lab_sh(env)
    assert first.returncode == 0, first.stderr
    calls = log.read_text().splitlines()
    assert "python -m pip install -q --disable-pip-version-check -e .[lab]" in calls
    assert "python binder/install-settings.py" in calls
    start = [c for c in calls if c.startswith("jupyter lab")]
    assert len(start) == 1 and "--LabApp.news_url=None" in start[0] and start[0].endswith(
        "--no-browser notebooks/index.ipynb")
    assert "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate" in start[0]
    stamp = (venv / ".iommulab-installed").read_text()
    log.write_text("")
    assert _lab_sh(env).returncode == 0
    assert [c.split()[:2] for c in log.read_text().splitlines()] == [["jupyter", "lab"]]    # no pip this time
    (venv / ".iommulab-installed").write_text("another pyproject.toml\n")
    log.write_text("")
    assert _lab_sh(env).returncode == 0
    assert any("pip install" in c for c in log.read_text().splitlines())
    assert (venv / ".iommulab-installed").read_text() == stamp


def test_lab_sh_does_not_start_or_stamp_after_a_failed_install(tmp_path):
    venv, env, log = _fake_venv(tmp_path, install_status=1)
    assert _lab_sh(env).returncode != 0
    assert not (venv / ".iommulab-installed").exists()
    assert not any(c.startswith("jupyter") for c in log.read_text().splitlines())
