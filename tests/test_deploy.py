"""deploy/jupyterhub/values.yaml: the keys the course relies on, and the file, merged over the chart's
defaults as helm merges it, valid against the Zero to JupyterHub chart's schema (vendored, offline)."""
import copy
import json
import re
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from iommulab.course import progress

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "jupyterhub"
CHART = DEPLOY / "chart"


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


@pytest.fixture(scope="module")
def publish():
    return tomllib.loads((ROOT / "binder" / "publish.toml").read_text())


def helm_merge(base, over):
    """helm's coalescing of user values over a chart's: maps merge key by key, anything else replaces,
    and null deletes the chart's key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged(values):
    return helm_merge(json.loads((CHART / "values.defaults.json").read_text()), values)


def schema_errors(values):
    schema = json.loads((CHART / "values.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(merged(values)))


def bytes_of(quantity):
    """A Kubernetes memory quantity as KubeSpawner reads it (K, M, G, T and their Ki... forms)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?)?", str(quantity))
    assert m, f"not a memory quantity: {quantity!r}"
    unit = m[2] or ""
    scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[unit]
    return float(m[1]) * scale


def test_values_validate_against_the_charts_schema(values):
    assert schema_errors(values) == []


def test_the_schema_check_catches_a_wrong_key(values):
    bad = copy.deepcopy(values)
    bad["singleuser"]["imag"] = bad["singleuser"].pop("image")          # a misspelt key
    bad["cull"]["enabled"] = "yes"                                      # a string where a boolean goes
    errors = schema_errors(bad)
    assert any("imag" in e for e in errors), errors
    assert any(e.startswith("cull.enabled") for e in errors), errors


def test_the_vendored_chart_is_named_and_licensed():
    text = (CHART / "CHART.txt").read_text()
    assert re.search(r"chart \d+\.\d+\.\d+, commit [0-9a-f]{40}", text)
    assert "BSD 3-Clause" in text and "Redistribution" in (CHART / "LICENSE").read_text()
    assert re.search(r"--version " + re.escape(re.search(r"chart (\S+),", text)[1]) + r"\b",
                     (DEPLOY / "values.yaml").read_text()), "the install command names the vendored chart's version"


def test_the_image_is_the_published_binder_build(values, publish):
    image = values["singleuser"]["image"]
    assert image["name"].endswith("/" + publish["repository"])
    assert image["tag"] == publish["ref"]
    copier = values["singleuser"]["initContainers"][0]
    assert copier["image"] == f"{image['name']}:{image['tag']}"   # the course copied from the same image


def test_the_default_url_opens_the_course_index(values, publish):
    url = values["singleuser"]["defaultUrl"]
    assert url == "/lab/tree/" + publish["labpath"]
    assert (ROOT / publish["labpath"]).is_file()


def test_idle_servers_and_kernels_are_culled(values):
    cull = merged(values)["cull"]
    assert cull["enabled"] is True and 0 < cull["timeout"] <= 4 * 3600 and cull["every"] > 0
    assert cull["users"] is False                                        # a culled learner keeps their volume
    kernels = values["singleuser"]["extraFiles"]["kernel-culling"]
    assert kernels["mountPath"].endswith("/jupyter_server_config.json")
    assert kernels["data"]["MappingKernelManager"]["cull_idle_timeout"] > 0


def test_limits_are_at_least_the_guarantees(values):
    su = values["singleuser"]
    assert 0 < bytes_of(su["memory"]["guarantee"]) <= bytes_of(su["memory"]["limit"])
    assert 0 < float(su["cpu"]["guarantee"]) <= float(su["cpu"]["limit"])
    assert bytes_of(su["memory"]["guarantee"]) >= 250e6        # the per-learner figure measured is about 280 MB


def test_the_progress_file_lives_on_the_home_volume(values, monkeypatch):
    su = merged(values)["singleuser"]
    home = su["storage"]["homeMountPath"]
    assert su["storage"]["type"] in ("dynamic", "static")
    where = su["extraEnv"]["IOMMULAB_PROGRESS"]
    monkeypatch.setenv("IOMMULAB_PROGRESS", where)
    path = progress.path()                                     # what the course writes to in that pod
    assert path.is_absolute() and path.name == progress.NAME
    assert path.parent.as_posix().startswith(home.rstrip("/") + "/")
    # The course reaches the volume: the init container mounts the home volume (the chart's volume name)
    # and copies the image's notebooks/ onto it, the folder the progress file and the default URL are in.
    copier = su["initContainers"][0]
    volume = su["storage"]["dynamic"]["volumeNameTemplate"]
    mount = next(m["mountPath"] for m in copier["volumeMounts"] if m["name"] == volume)
    script = " ".join(copier["command"])
    assert re.search(rf"cp -Rn {re.escape(home)}/notebooks {re.escape(mount)}/?(\s|$)", script), script
    assert path.parent.as_posix() == f"{home}/notebooks"
    assert su["defaultUrl"].startswith("/lab/tree/notebooks/")
    assert copier["securityContext"]["runAsUser"] == su["uid"]  # files on the volume belong to the learner


def test_the_classroom_bench_is_bounded():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import classroom
    finally:
        sys.path.remove(str(ROOT / "bench"))
    assert classroom.parse(["--learners", "20", "--minutes", "3"]).learners == 20
    for argv in (["--learners", "41"], ["--learners", "0"], ["--minutes", "31"], ["--think", "5,1"]):
        with pytest.raises(SystemExit):
            classroom.parse(argv)
    assert classroom.DEFAULT_URL == yaml.safe_load((DEPLOY / "values.yaml").read_text())["singleuser"]["defaultUrl"]
    # a kernel message with buffers, framed as Jupyter Server sends it on the websocket
    body = json.dumps({"header": {"msg_type": "comm_msg"}}).encode()
    buf = b"\x89PNG"
    frame = (2).to_bytes(4, "big") + (12).to_bytes(4, "big") + (12 + len(body)).to_bytes(4, "big") + body + buf
    assert classroom._decode(frame)["header"]["msg_type"] == "comm_msg"
    assert classroom._decode('{"a": 1}') == {"a": 1}
