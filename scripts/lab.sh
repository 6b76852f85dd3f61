#!/usr/bin/env bash
# Installs what the lab needs on a bare Debian machine with Python 3.11, then opens JupyterLab on the
# quick-start notebook. Usage: bash scripts/lab.sh [extra jupyter lab options]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${IOMMULAB_VENV:-.venv}
bash scripts/system-deps.sh graphviz || echo "continuing without Graphviz: pictures fall back to text" >&2
bash scripts/system-deps.sh pci.ids || echo "continuing without pci.ids: lspci uses its built-in names" >&2
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; bash scripts/system-deps.sh python3-venv; "$PY" -m venv "$VENV"; }
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[lab]"
args=(--ip=127.0.0.1 --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate)
[ "$(id -u)" = 0 ] && args+=(--allow-root)
exec "$VENV/bin/jupyter" lab "${args[@]}" "$@" notebooks/00-quickstart.ipynb
