#!/usr/bin/env bash
# Sets up everything the tests need on a bare Debian machine with Python 3.11, then runs them all.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${IOMMULAB_VENV:-.venv}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "iommulab needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))" >&2
  exit 1
fi
bash scripts/system-deps.sh graphviz chromium pci.ids
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    echo "python3 -m venv failed: installing Debian's python3-venv" >&2
    rm -rf "$VENV"
    bash scripts/system-deps.sh python3-venv
    "$PY" -m venv "$VENV"
  fi
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"

# Layering, lint and types first (configured in pyproject.toml; a few seconds): all three run, then
# any failure stops here, before the tests.
failed=()
"$VENV/bin/lint-imports" || failed+=("lint-imports (import-linter contracts)")
"$VENV/bin/ruff" check . || failed+=("ruff check")
"$VENV/bin/mypy" || failed+=("mypy")
if [ ${#failed[@]} -gt 0 ]; then
  printf 'scripts/test.sh: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
exec "$VENV/bin/python" -m pytest "$@"
