"""Installs the lab's JupyterLab settings into the environment of the Python that runs it:
no news toast and no update check, however JupyterLab is started there (scripts/lab.sh, Binder,
a plain `jupyter lab`).

  {sys.prefix}/share/jupyter/lab/settings/overrides.json    the front end's defaults (binder/overrides.json)
  {sys.prefix}/etc/jupyter/jupyter_server_config.d/iommulab.json   the server: no news feed, no update check

Settings already in overrides.json are kept; ours are merged in."""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def install(prefix):
    prefix = Path(prefix)
    overrides = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    current = json.loads(overrides.read_text()) if overrides.exists() else {}
    for plugin, values in json.loads((HERE / "overrides.json").read_text()).items():
        current.setdefault(plugin, {}).update(values)
    overrides.parent.mkdir(parents=True, exist_ok=True)
    overrides.write_text(json.dumps(current, indent=2) + "\n")
    server = prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "iommulab.json"
    server.parent.mkdir(parents=True, exist_ok=True)
    server.write_text((HERE / "jupyter_server_config.json").read_text())
    return overrides, server


if __name__ == "__main__":
    for path in install(sys.argv[1] if len(sys.argv) > 1 else sys.prefix):
        print(f"installed {path}")
