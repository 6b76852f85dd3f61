#!/usr/bin/env bash
# Builds the course as a static JupyterLite site: JupyterLab and a Python kernel (Pyodide) that run
# in the learner's browser, served by any web server, with no Jupyter server and no network.
#   bash scripts/lite.sh            build into build/lite/ (IOMMULAB_LITE_OUT to change)
#   python3 -m http.server -d build/lite -b 127.0.0.1 8000    then open http://127.0.0.1:8000/lab/index.html
# Everything comes from pinned packages (lite/*.txt, lite/package.json and its lock): PyPI for the
# build tools and the kernel's wheels, npm for Pyodide's core and the browser's Graphviz. They are
# fetched once into ~/.cache/iommulab/lite/ (IOMMULAB_LITE_CACHE; outside the tree, so every clone
# on a machine, CI's included, shares it); with that cache the build is offline
# (IOMMULAB_LITE_OFFLINE=1 makes it refuse to fetch). The iommulab wheel is built from this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${IOMMULAB_LITE_OUT:-build/lite}
CACHE=${IOMMULAB_LITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommulab/lite}
PY=${PYTHON:-python3}
OFFLINE=${IOMMULAB_LITE_OFFLINE:-0}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
say() { printf 'lite.sh: %s\n' "$*" >&2; }
started=$(date +%s)

# pip download: from the cache alone, else (unless offline) from the index into the cache
fetch_wheels() {   # DEST ARGS...
  local dest=$1; shift
  mkdir -p "$dest"
  if pip_q download --no-index --find-links "$dest" -d "$dest" "$@" 2>/dev/null; then return 0; fi
  [ "$OFFLINE" = 1 ] && { say "not in the cache and IOMMULAB_LITE_OFFLINE=1: $*"; return 1; }
  say "fetching into $dest"
  pip_q download -d "$dest" "$@"
}
pip_q() { "$PY" -m pip -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }

# 1. The build tools, in a venv of their own (pinned closure, and the two labextensions)
VENV=$CACHE/venv
STAMP=$( (cat lite/build-requirements.txt lite/labextensions.txt; echo "$VENV") | sha256sum | cut -c1-16)
fetch_wheels "$CACHE/build-wheels" --only-binary=:all: -r lite/build-requirements.txt
fetch_wheels "$CACHE/build-wheels" --only-binary=:all: --no-deps -r lite/labextensions.txt
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$STAMP" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip -q --disable-pip-version-check install --no-index --find-links "$CACHE/build-wheels" \
    -r lite/build-requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
  "$VENV/bin/python" -m pip -q --disable-pip-version-check install --no-index --no-deps \
    --find-links "$CACHE/build-wheels" -r lite/labextensions.txt 2> >(grep -v "^WARNING: Location" >&2)
  echo "$STAMP" > "$VENV/.stamp"
fi

# 2. The kernel's wheels: pure Python for Pyodide's Python 3.14
KW=$CACHE/kernel-wheels
fetch_wheels "$KW" --no-deps --only-binary=:all: --python-version 3.14 --implementation py --abi none \
  --platform any -r lite/kernel-requirements.txt

# 3. npm: Pyodide's core and the wasm Graphviz (the lock's exact versions and integrity hashes)
NPM=$CACHE/npm
mkdir -p "$NPM"
if ! cmp -s lite/package-lock.json "$NPM/node_modules/.package-lock.json.src" 2>/dev/null; then
  cp lite/package.json lite/package-lock.json "$NPM/"
  npm_args=(ci --cache "$CACHE/npm-cache" --no-audit --no-fund --omit=dev --ignore-scripts --loglevel=error)
  if ! (cd "$NPM" && npm "${npm_args[@]}" --offline) 2>/dev/null; then
    [ "$OFFLINE" = 1 ] && { say "npm packages not in the cache and IOMMULAB_LITE_OFFLINE=1"; exit 1; }
    say "fetching npm packages into $CACHE/npm-cache"
    (cd "$NPM" && npm "${npm_args[@]}" --prefer-offline)
  fi
  cp lite/package-lock.json "$NPM/node_modules/.package-lock.json.src"
fi
PYODIDE=$NPM/node_modules/pyodide
GRAPHVIZ_JS=$NPM/node_modules/@hpcc-js/wasm-graphviz/dist/index.js

# 4. iommulab's wheel, built from a copy of this tree (nothing is written into it)
SRC=$CACHE/src
rm -rf "$SRC" "$CACHE/iommulab-wheel"
mkdir -p "$SRC" "$CACHE/iommulab-wheel"
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md LICENSE iommulab \
  | tar -C "$SRC" -xf -
"$VENV/bin/python" -m pip -q --disable-pip-version-check wheel --no-deps --no-build-isolation --no-index \
  -w "$CACHE/iommulab-wheel" "$SRC" 2> >(grep -v -e "^WARNING: Location" -e "^\s*$" >&2)
IOMMULAB_WHL=$(ls "$CACHE"/iommulab-wheel/iommulab-*.whl)

# 5. The site's sources: lite/'s config, Pyodide with the rewritten lock, the notebooks
STAGE=$CACHE/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/static/pyodide" "$STAGE/files"
cp lite/jupyter-lite.json lite/jupyter_lite_config.json lite/overrides.json "$STAGE/"
for f in pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip package.json; do
  cp "$PYODIDE/$f" "$STAGE/static/pyodide/"
done
# the lock: Pyodide's own packages from PyPI next to it, iommulab and what it needs offered to piplite
wheels=()
while read -r req; do
  req=${req%%#*}; req=${req// /}
  [ -n "$req" ] || continue
  name=${req%%==*}; version=${req##*==}
  whl=$(find "$KW" -maxdepth 1 -iname "$(echo "$name" | tr -- '-' '_')-$version-*.whl" | head -1)
  [ -n "$whl" ] || { say "no wheel for $req in $KW"; exit 1; }
  wheels+=("$whl")
done < lite/kernel-requirements.txt
PYPI=../../pypi/          # where the piplite addon puts the wheels it offers, seen from static/pyodide/
mapfile -t ours < <("$VENV/bin/python" lite/lock.py "$PYODIDE/pyodide-lock.json" "$STAGE/static/pyodide" "$PYPI" \
  "${wheels[@]}" "$IOMMULAB_WHL")
[ ${#ours[@]} -gt 0 ] || { say "lite/lock.py failed"; exit 1; }
cp notebooks/*.ipynb notebooks/README.md "$STAGE/files/"     # the course (a learner's .toml and .txt stay out)

# 6. Build. The wasm Graphviz is served by the site itself (the picture widget imports it from there)
rm -rf "$OUT"
piplite=()
for w in "${ours[@]}"; do piplite+=(--piplite-wheels "$w"); done
if ! (cd "$STAGE" && "$VENV/bin/jupyter" lite build --lite-dir "$STAGE" --output-dir "$OUT" \
      --contents "$STAGE/files" --no-sourcemaps "${piplite[@]}") > "$CACHE/build.log" 2>&1; then
  tail -40 "$CACHE/build.log" >&2
  say "jupyter lite build failed (its whole log: $CACHE/build.log)"
  exit 1
fi
[ -f "$OUT/static/pyodide/pyodide-lock.json" ] && [ -f "$OUT/files/00-quickstart.ipynb" ] \
  || { say "jupyter lite build made no Pyodide or no notebooks (its log: $CACHE/build.log)"; exit 1; }
mkdir -p "$OUT/iommulab"
cp "$GRAPHVIZ_JS" "$OUT/iommulab/wasm-graphviz.js"
cp "$NPM/node_modules/@hpcc-js/wasm-graphviz/LICENSE" "$OUT/iommulab/wasm-graphviz.LICENSE.txt"
say "built $OUT ($(du -sh "$OUT" | cut -f1), $(find "$OUT" -type f | wc -l) files) in $(( $(date +%s) - started )) s"
say "serve it: python3 -m http.server -d $OUT -b 127.0.0.1 8000   (then open http://127.0.0.1:8000/lab/index.html)"
