"""Regenerates the two files beside this one from a checkout of the Zero to JupyterHub chart's source
(https://github.com/jupyterhub/zero-to-jupyterhub-k8s, BSD 3-Clause, LICENSE beside this file):

  values.schema.json    the chart's jupyterhub/values.schema.yaml as JSON without its "description" texts,
                        which is what the chart's tools/generate-json-schema.py packages for `helm lint`
  values.defaults.json  the chart's jupyterhub/values.yaml as JSON (what helm merges our values over)

    python deploy/jupyterhub/chart/refresh.py /path/to/zero-to-jupyterhub-k8s 4.4.0

tests/test_deploy.py merges deploy/jupyterhub/values.yaml over the defaults as helm does and validates the
result against the schema, offline. Refresh both when you move to a newer chart (and say so in CHART.txt).
"""
import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def clean(d):
    d.pop("description", None)
    for v in d.get("properties", {}).values():
        if isinstance(v, dict):
            clean(v)
    for key in ("items", "additionalProperties"):
        if isinstance(d.get(key), dict):
            clean(d[key])
    for v in d.get("patternProperties", {}).values():
        if isinstance(v, dict):
            clean(v)
    return d


def show(repo, ref, path):
    return subprocess.run(["git", "-C", repo, "show", f"{ref}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def main(repo, ref):
    commit = subprocess.run(["git", "-C", repo, "rev-parse", f"{ref}^{{commit}}"], check=True, capture_output=True,
                            text=True).stdout.strip()
    schema = clean(yaml.safe_load(show(repo, ref, "jupyterhub/values.schema.yaml")))
    defaults = yaml.safe_load(show(repo, ref, "jupyterhub/values.yaml"))
    (HERE / "values.schema.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    (HERE / "values.defaults.json").write_text(json.dumps(defaults, indent=1, sort_keys=True) + "\n")
    (HERE / "LICENSE").write_text(show(repo, ref, "LICENSE"))
    (HERE / "CHART.txt").write_text(f"Zero to JupyterHub chart {ref}, commit {commit}\n"
                                    "https://github.com/jupyterhub/zero-to-jupyterhub-k8s (BSD 3-Clause: LICENSE)\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
