#!/usr/bin/env bash
# Installs what the lab needs on a bare Debian machine with Python 3.11, then opens JupyterLab on the
# course's index (notebooks/index.ipynb). Usage: bash scripts/lab.sh [extra jupyter lab options]
# A restart skips the installation when the venv already holds this pyproject.toml's install (the
# stamp $VENV/.iommulab-installed: a hash of what the installation depends on, written after it succeeded).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${IOMMULAB_VENV:-.venv}
bash scripts/system-deps.sh graphviz || echo "continuing without Graphviz: pictures fall back to text" >&2
bash scripts/system-deps.sh pci.ids || echo "continuing without pci.ids: lspci uses its built-in names" >&2
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; bash scripts/system-deps.sh python3-venv; "$PY" -m venv "$VENV"; }
fi
STAMP="$VENV/.iommulab-installed"
want=$(cat pyproject.toml binder/overrides.json binder/jupyter_server_config.json binder/install-settings.py \
       | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ] || [ ! -x "$VENV/bin/jupyter" ]; then
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[lab]"
  "$VENV/bin/python" binder/install-settings.py >/dev/null       # no news toast, no update check
  echo "$want" > "$STAMP"
fi
args=(--ip=127.0.0.1 --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate)
[ "$(id -u)" = 0 ] && args+=(--allow-root)
exec "$VENV/bin/jupyter" lab "${args[@]}" "$@" notebooks/index.ipynb
