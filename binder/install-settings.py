"""Installs the lab's JupyterLab settings into the environment of the Python that runs it:
no news toast and no update check, however JupyterLab is started there (scripts/lab.sh, Binder's
postBuild, a plain `jupyter lab`, a server started by JupyterHub).

  {sys.prefix}/share/jupyter/lab/settings/overrides.json    the front end's defaults (binder/overrides.json)
  {sys.prefix}/etc/jupyter/jupyter_lab_config.json         the server side (binder/jupyter_server_config.json):
                                                           no news feed, no update check

JupyterLab reads the first file from its application directory's settings folder, and LabApp reads the second
from the Jupyter config path, whether `jupyter lab` or a server loading JupyterLab as an extension starts it.
(A file in etc/jupyter/jupyter_server_config.d/ would not do: Jupyter Server reads that folder only for which
extensions are enabled.) Settings already in either file are kept; ours are merged in."""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _merge(path, ours):
    current = json.loads(path.read_text()) if path.exists() else {}
    for section, values in ours.items():
        current.setdefault(section, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def install(prefix):
    prefix = Path(prefix)
    overrides = _merge(prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json",
                       json.loads((HERE / "overrides.json").read_text()))
    server = _merge(prefix / "etc" / "jupyter" / "jupyter_lab_config.json",
                    json.loads((HERE / "jupyter_server_config.json").read_text()))
    (prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "iommulab.json").unlink(missing_ok=True)  # older place
    return overrides, server


if __name__ == "__main__":
    for path in install(sys.argv[1] if len(sys.argv) > 1 else sys.prefix):
        print(f"installed {path}")
