"""Packaging, read as each tool reads it: environment.yml as conda does (YAML, then its pip list as a pip
requirements file, parsed by pip's own parser); binder/ as repo2docker does (requirements.txt resolved by pip
on top of the base environment's pins); the Python version everywhere one is named; the Binder badge, the
release tag and binder/publish.toml in step; the lab's settings as Jupyter itself loads them."""
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from pip._internal.exceptions import RequirementsFileParseError
from pip._internal.network.session import PipSession
from pip._internal.req.req_file import parse_requirements

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
CONDA_NAMES = {"graphviz": "python-graphviz", "matplotlib": "matplotlib-base"}   # PyPI name -> conda-forge's
CONDA_SPEC = re.compile(r"([A-Za-z0-9_.-]+)\s*(?:(==|=|>=|<=|>|<|!=)\s*([0-9][^\s=,]*))?(?:=\S+)?")


def _pip_file(path):
    """pip's own reading of a requirements file: [(canonical name or None, specifier or path, editable)]."""
    out = []
    for parsed in parse_requirements(str(path), session=PipSession()):
        if parsed.is_editable:
            out.append((None, parsed.requirement, True))
        else:
            req = Requirement(parsed.requirement)
            out.append((canonicalize_name(req.name), str(req.specifier), False))
    return out


def _pip_lines(text, tmp_path, name="requirements.txt"):
    path = tmp_path / name
    path.write_text(text)
    return _pip_file(path)


def _exact(lines):
    pins = {}
    for name, spec, editable in lines:
        assert not editable and re.fullmatch(r"==[0-9][\w.]*", spec), (name, spec)
        pins[name] = spec[2:]
    return pins


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lab_requirements():
    meta = _pyproject()["project"]
    return [Requirement(r) for r in meta["dependencies"] + meta["optional-dependencies"]["lab"]]


def _conda():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs, pip_lists = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, dep
            pip_lists.append(dep["pip"])
            continue
        m = CONDA_SPEC.fullmatch(dep.strip())
        assert m, f"not a conda match spec: {dep!r}"
        specs[m.group(1).lower()] = m.group(3)
    assert len(pip_lists) == 1
    return env, specs, pip_lists[0]


def _base_pins():
    text = (BINDER / "repo2docker-base.txt").read_text()
    python = re.search(r"^# python: (\d+\.\d+)\.\d+$", text, re.M).group(1)
    return python, _exact(_pip_file(BINDER / "repo2docker-base.txt"))


# --- conda: environment.yml ---------------------------------------------------------------------------------

def test_pips_parser_rejects_the_old_pip_line_so_the_parse_below_can_fail(tmp_path):
    with pytest.raises(RequirementsFileParseError, match="no such option: --no-deps"):
        _pip_lines("--no-deps -e .\n", tmp_path)


def test_environment_yml_is_conda_yaml_whose_pip_part_pip_reads_as_an_editable_install_of_iommulab(tmp_path):
    env, specs, pip_list = _conda()
    assert env["name"] == "iommulab" and env["channels"] == ["conda-forge"]
    assert "pip" in specs                          # conda runs the pip part with the environment's own pip
    # conda writes the pip list to a requirements file beside environment.yml and runs pip there
    lines = _pip_lines("\n".join(pip_list) + "\n", tmp_path)
    assert lines == [(None, ".", True)]
    project = tomllib.loads((ROOT / "environment.yml").parent.joinpath(".", "pyproject.toml").read_text())
    assert project["project"]["name"] == "iommulab"


def test_environment_yml_has_every_dependency_of_iommulab_and_its_lab_from_conda_within_pyproject_ranges():
    _, specs, _ = _conda()
    assert "matplotlib" not in specs and "matplotlib-base" in specs     # conda-forge's matplotlib without Qt
    assert specs.get("graphviz") is None                                # the dot program, any version
    for req in _lab_requirements():
        name = CONDA_NAMES.get(req.name, req.name)
        assert specs.get(name), f"environment.yml does not pin {name}"
        assert req.specifier.contains(specs[name]), (name, str(req.specifier), specs[name])


# --- Binder: binder/requirements.txt on repo2docker's base environment ---------------------------------------

def test_binder_pins_what_the_base_lacks_and_leaves_the_base_its_jupyter():
    binder = _exact(_pip_file(BINDER / "requirements.txt"))
    _, base = _base_pins()
    assert {"jupyterlab", "notebook", "jupyter-server", "ipywidgets"} <= set(base)
    assert not set(binder) & set(base), "binder/requirements.txt pins what the base environment owns"
    _, conda, _ = _conda()
    for req in _lab_requirements():
        name = canonicalize_name(req.name)
        version = binder.get(name) or base.get(name)
        assert version, f"neither binder/requirements.txt nor the base environment has {name}"
        assert req.specifier.contains(version), (name, str(req.specifier), version)
        if name in binder:                        # the same pins for conda users
            assert conda[CONDA_NAMES.get(name, name)] == binder[name], name
    assert set(binder) == {canonicalize_name(r.name) for r in _lab_requirements()} - set(base)


def _resolve(tmp_path, requirements):
    """pip's resolution of `requirements` with the base environment's pins as constraints, as repo2docker's
    `pip install -r binder/requirements.txt` meets them: (exit status, stderr, {name: version} to install)."""
    py, _ = _base_pins()
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != py and os.environ.get("CI") != "true":
        pytest.skip(f"pip resolves for this Python; Binder's is {py}")
    req = tmp_path / "requirements.txt"
    req.write_text(requirements)
    report = tmp_path / "report.json"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--disable-pip-version-check", "--report", str(report), "-r", str(req),
                        "-c", str(BINDER / "repo2docker-base.txt")], capture_output=True, text=True, timeout=180)
    offline = re.search(r"NewConnectionError|Failed to establish|Temporary failure in name resolution", r.stderr)
    if r.returncode and offline and os.environ.get("CI") != "true":
        pytest.skip("PyPI is not reachable")
    got = {}
    if r.returncode == 0:
        for item in json.loads(report.read_text())["install"]:
            got[canonicalize_name(item["metadata"]["name"])] = item["metadata"]["version"]
    return r.returncode, r.stderr, got


@pytest.mark.slow
def test_binder_requirements_resolve_against_the_base_pins_and_give_iommulab_all_it_needs(tmp_path):
    status, err, got = _resolve(tmp_path, (BINDER / "requirements.txt").read_text())
    assert status == 0, err
    _, base = _base_pins()
    for name, version in got.items():             # nothing the base holds moves
        assert base.get(name, version) == version, (name, base[name], version)
    have = {**base, **got}
    for req in _lab_requirements():               # postBuild's `pip install --no-deps .` finds them all
        name = canonicalize_name(req.name)
        assert name in have and req.specifier.contains(have[name]), (name, have.get(name))
    # and the constraints bite: the old pin of JupyterLab cannot go on this base (its Notebook 7.4 wants < 4.5)
    status, err, _ = _resolve(tmp_path, "jupyterlab==4.6.6\n")
    assert status != 0 and "ResolutionImpossible" in err


def test_binder_files_are_what_repo2docker_reads():
    assert (BINDER / "apt.txt").read_text().split() == ["graphviz", "pci.ids"]   # lspci's names
    post = (BINDER / "postBuild").read_text()
    assert post.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in post
    assert post.index("pip install --no-deps .") < post.index("python binder/install-settings.py")
    assert not (BINDER / "environment.yml").exists()          # it would take over from requirements.txt


# --- one Python version ---------------------------------------------------------------------------------

def _python_versions():
    """Every place that names the Python the project ships for, and the version it names there."""
    seen = []
    m = re.fullmatch(r"python-(\d+\.\d+)\s*", (BINDER / "runtime.txt").read_text())
    assert m, "binder/runtime.txt is not python-X.Y"
    seen.append(("binder/runtime.txt", m.group(1)))
    seen.append(("binder/repo2docker-base.txt", _base_pins()[0]))
    _, conda, _ = _conda()
    seen.append(("environment.yml", conda["python"]))
    meta = _pyproject()
    floors = [s.version for s in SpecifierSet(meta["project"]["requires-python"]) if s.operator == ">="]
    assert len(floors) == 1
    seen.append(("pyproject.toml requires-python", floors[0]))
    for c in meta["project"].get("classifiers", []):
        if m := re.fullmatch(r"Programming Language :: Python :: (\d+\.\d+)", c):
            seen.append(("pyproject.toml classifiers", m.group(1)))
    target = meta["tool"]["ruff"]["target-version"]
    seen.append(("pyproject.toml [tool.ruff]", f"{target[2]}.{target[3:]}"))
    seen.append(("pyproject.toml [tool.mypy]", meta["tool"]["mypy"]["python_version"]))
    for doc in ("README.md", "docs/instructor.md", "scripts/test.sh", "scripts/lab.sh"):
        for v in re.findall(r"Python (\d+\.\d+)", (ROOT / doc).read_text()):
            seen.append((doc, v))
    check = re.search(r"sys\.version_info < \((\d+), (\d+)\)", (ROOT / "scripts/test.sh").read_text())
    seen.append(("scripts/test.sh's check", f"{check.group(1)}.{check.group(2)}"))
    for nb in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        version = json.loads(nb.read_text())["metadata"]["language_info"]["version"]
        seen.append((str(nb.relative_to(ROOT)), ".".join(version.split(".")[:2])))
    return seen


def test_every_place_that_names_a_python_names_the_same_one():
    seen = _python_versions()
    assert len({v for _, v in seen}) == 1, sorted(seen, key=lambda s: s[1])
    places = {p for p, _ in seen}
    assert {"binder/runtime.txt", "environment.yml", "README.md", "scripts/test.sh's check"} <= places
    assert any(p.startswith("notebooks/") for p in places)
    if os.environ.get("CI") == "true":           # CI tests the Python that Binder runs
        assert f"{sys.version_info[0]}.{sys.version_info[1]}" == seen[0][1]


# --- publishing: the badge, binder/publish.toml and the tag ---------------------------------------------

def _check_release():
    spec = importlib.util.spec_from_file_location("check_release", ROOT / "scripts" / "check-release.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_badge_opens_the_index_of_the_release_that_binder_publish_toml_names():
    cr = _check_release()
    publish = tomllib.loads((BINDER / "publish.toml").read_text())
    assert publish["ref"] == f"v{_pyproject()['project']['version']}"
    readme = (ROOT / "README.md").read_text()
    urls = re.findall(r"\((https://mybinder\.org/v2/[^)\s]*)\)", readme)
    assert len(urls) == 1
    url = urlsplit(urls[0])
    assert url.path == f"/v2/gh/{publish['repository']}/{publish['ref']}"
    assert parse_qs(url.query) == {"labpath": ["notebooks/index.ipynb"]} == {"labpath": [publish["labpath"]]}
    assert (ROOT / publish["labpath"]).is_file()
    assert cr.badge_line(publish["repository"], publish["ref"], publish["labpath"]) in readme
    assert cr.problems(cr._worktree(ROOT)) == []
    assert "## Publishing" in readme and "scripts/check-release.py" in readme


def _release_repo(path, with_index=True, ref="v0.1.0", version="0.1.0", tag=True):
    """A tiny git repository shaped like this one's release files, committed and tagged."""
    cr = _check_release()
    (path / "binder").mkdir(parents=True)
    (path / "binder" / "publish.toml").write_text(
        f'repository = "someone/iommulab"\nref = "{ref}"\nlabpath = "notebooks/index.ipynb"\n')
    (path / "pyproject.toml").write_text(f'[project]\nname = "iommulab"\nversion = "{version}"\n')
    (path / "README.md").write_text(f"# x\n{cr.badge_line('someone/iommulab', ref, 'notebooks/index.ipynb')}\n")
    if with_index:
        (path / "notebooks").mkdir()
        (path / "notebooks" / "index.ipynb").write_text("{}")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"]) + ((["tag", "-a", ref, "-m", ref],)
                                                                              if tag else ()):
        subprocess.run(git + cmd, check=True, capture_output=True)
    return cr


def test_check_release_passes_a_tag_in_step_and_names_what_is_missing_from_one_that_is_not(tmp_path):
    cr = _release_repo(tmp_path / "good")
    problems, notes = cr.check(tmp_path / "good")
    assert problems == [] and notes == ["tag v0.1.0 exists here"]
    cr = _release_repo(tmp_path / "bad", with_index=False)
    (tmp_path / "bad" / "notebooks").mkdir()
    (tmp_path / "bad" / "notebooks" / "index.ipynb").write_text("{}")     # added after tagging: not in the tag
    problems, _ = cr.check(tmp_path / "bad")
    assert problems == ["tag v0.1.0 has no notebooks/index.ipynb, the notebook the badge opens"]
    readme = tmp_path / "bad" / "README.md"
    readme.write_text(readme.read_text().replace("/v0.1.0?", "/main?"))
    problems, _ = cr.check(tmp_path / "bad")
    assert len(problems) == 2 and "README.md's Binder links" in problems[0]


def test_check_release_says_how_to_tag_when_the_tag_does_not_exist_yet(tmp_path):
    cr = _release_repo(tmp_path / "r", tag=False)
    problems, notes = cr.check(tmp_path / "r")
    assert problems == [] and notes[0].startswith("tag v0.1.0 does not exist here yet: git tag -a v0.1.0 ")
    assert "git push origin v0.1.0" in notes[0]
    pyproject = tmp_path / "r" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("0.1.0", "0.2.0"))      # a new version, publish.toml not
    problems, _ = cr.check(tmp_path / "r")
    assert problems == ["the work tree: binder/publish.toml's ref 'v0.1.0' is not 'v' + pyproject.toml's version '0.2.0'"]


# --- the README's commands and scripts/test.sh ----------------------------------------------------------

def test_readme_has_exactly_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme.split("## A first look")[0], re.S)
    commands = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines() if ln.strip()]
    assert commands == ["bash scripts/lab.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_test_sh_runs_the_layering_lint_and_type_checks_before_the_tests_from_the_test_extra():
    meta = _pyproject()
    test_extra = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower() for r in meta["project"]["optional-dependencies"]["test"]}
    assert {"import-linter", "ruff", "mypy", "pyyaml", "packaging"} <= test_extra
    assert {"importlinter", "ruff", "mypy"} <= set(meta["tool"])          # each configured in pyproject.toml
    script = (ROOT / "scripts" / "test.sh").read_text()
    at = [script.index(cmd) for cmd in ('bin/lint-imports"', 'bin/ruff" check', 'bin/mypy"', "-m pytest")]
    assert at == sorted(at), "lint-imports, ruff check and mypy run before pytest"
    assert script.index('-e ".[test]"') < at[0]


# --- the lab's settings: no news toast, no update check, as Jupyter loads them -----------------------------

def _notification_schema():
    path = Path(sys.prefix) / "share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"
    if not path.exists():
        pytest.skip("JupyterLab's schemas are not installed in this environment")
    return json.loads(path.read_text())


def test_binder_overrides_turn_off_news_and_update_check_in_the_installed_jupyterlab_schema():
    overrides = json.loads((BINDER / "overrides.json").read_text())
    ours = overrides["@jupyterlab/apputils-extension:notification"]
    assert ours == {"fetchNews": "false", "checkForUpdates": False}      # "false" is the schema's "Never"
    props = _notification_schema()["properties"]
    assert "false" in {c["const"] for c in props["fetchNews"]["oneOf"]} and props["checkForUpdates"]["type"] == "boolean"
    server = json.loads((BINDER / "jupyter_server_config.json").read_text())["LabApp"]
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
    etc = tmp_path / "etc/jupyter"
    (etc / "jupyter_server_config.d").mkdir(parents=True)
    (etc / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {"collaborative": True}}))
    (etc / "jupyter_server_config.d" / "iommulab.json").write_text("{}")        # where an older version wrote
    subprocess.run([sys.executable, str(BINDER / "install-settings.py"), str(tmp_path)], check=True,
                   capture_output=True)
    got = json.loads((settings / "overrides.json").read_text())
    assert got["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert got["@jupyterlab/apputils-extension:notification"] == {"doNotDisturbMode": True, "fetchNews": "false",
                                                                   "checkForUpdates": False}
    assert json.loads((etc / "jupyter_lab_config.json").read_text()) == {"LabApp": {
        "collaborative": True, "news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}
    assert not (etc / "jupyter_server_config.d" / "iommulab.json").exists()


_AS_JUPYTER_LOADS = """
import json, sys
from jupyter_server.serverapp import ServerApp
from jupyterlab.labapp import LabApp
from jupyterlab_server.settings_utils import get_settings
server = ServerApp()
server.load_config_file()
lab = LabApp()
lab.load_config_file()                 # what LabApp does when a server loads it as an extension,
lab.update_config(server.config)       # then the server's config on top
settings, _ = get_settings(lab.app_settings_dir, sys.prefix + "/share/jupyter/lab/schemas", sys.argv[1],
                           "@jupyterlab/apputils-extension:notification")
defaults = {k: v.get("default") for k, v in settings["schema"]["properties"].items()}
print(json.dumps({"news_url": lab.news_url, "check": lab.check_for_updates_class.__name__,
                  "fetchNews": defaults["fetchNews"], "checkForUpdates": defaults["checkForUpdates"]}))
"""


def _as_jupyter_loads(prefix, tmp_path):
    """The settings JupyterLab and its server end up with, Jupyter's own loaders reading `prefix` as the
    environment's prefix (its etc/jupyter on the config path, its share/jupyter/lab the app directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    user = tmp_path / "user"
    user.mkdir(exist_ok=True)
    env.update(JUPYTER_CONFIG_DIR=str(user), JUPYTER_CONFIG_PATH=str(prefix / "etc/jupyter"),
               JUPYTERLAB_DIR=str(prefix / "share/jupyter/lab"), JUPYTER_PLATFORM_DIRS="0")
    r = subprocess.run([sys.executable, "-c", _AS_JUPYTER_LOADS, str(user / "lab")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


@pytest.mark.slow
def test_install_settings_turns_news_and_update_check_off_as_jupyter_itself_loads_them(tmp_path):
    _notification_schema()
    before = _as_jupyter_loads(tmp_path / "bare", tmp_path)
    assert before["news_url"] and before["check"] == "CheckForUpdate" and before["checkForUpdates"] is True
    subprocess.run([sys.executable, str(BINDER / "install-settings.py"), str(tmp_path / "env")], check=True,
                   capture_output=True)
    after = _as_jupyter_loads(tmp_path / "env", tmp_path)
    assert after == {"news_url": None, "check": "NeverCheckForUpdate", "fetchNews": "false",
                     "checkForUpdates": False}


@pytest.mark.slow
def test_install_settings_default_prefix_is_where_this_jupyter_reads():
    """postBuild runs `python binder/install-settings.py` with the image's notebook environment first on PATH:
    its sys.prefix is the environment JupyterLab runs from, whose app directory and config path these are."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    code = ("import json, sys; from jupyterlab.commands import get_app_dir; "
            "from jupyter_core.paths import jupyter_config_path; "
            "print(json.dumps([sys.prefix, get_app_dir(), jupyter_config_path()]))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    prefix, app_dir, config_path = json.loads(r.stdout)
    assert Path(app_dir) == Path(prefix) / "share/jupyter/lab"
    assert str(Path(prefix) / "etc/jupyter") in config_path


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
