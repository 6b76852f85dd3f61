#!/usr/bin/env bash
# Runs the course's real-browser tests on Binder's stack before a release is published: a fresh venv
# holding repo2docker's base versions of JupyterLab, Notebook, Jupyter Server, ipywidgets and ipykernel
# (read from binder/repo2docker-base.txt) and the base's two Lab extensions, then binder/requirements.txt,
# then binder/postBuild run as repo2docker runs it (from the repository's root, the venv's programs first
# on PATH; it installs iommulab itself, not editable, as the image holds it), then
# tests/test_browser.py and tests/test_browser_course.py at each viewport in Debian's Chromium.
# Not run by CI: it installs from PyPI and takes about 10 minutes a viewport on a 2-core machine.
#
# Usage: bash scripts/binder-check.sh [REF]
#   REF   a commit or tag to check (what Binder builds: `git archive REF`); without it, the work tree's
#         files (tracked and untracked, less what .gitignore names) as they are now.
# Environment: PYTHON (default python3.11, runtime.txt's), BINDER_VENV (default /tmp/binderenv, made anew),
#   BINDER_CHECK_OUT (default /tmp/binder-check: the copy that is tested, logs and screenshots),
#   BINDER_CHECK_VIEWPORTS (default "1500x1100 1280x720").
# Screenshots and measurements land in $BINDER_CHECK_OUT/shots/<viewport>/, never in the work tree's
# test-artifacts/. Playwright never downloads a browser here: the tests launch /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
REF=${1:-}
PY=${PYTHON:-python3.11}
VENV=${BINDER_VENV:-/tmp/binderenv}
OUT=${BINDER_CHECK_OUT:-/tmp/binder-check}
VIEWPORTS=${BINDER_CHECK_VIEWPORTS:-1500x1100 1280x720}
BASE=binder/repo2docker-base.txt
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PIP_DISABLE_PIP_VERSION_CHECK=1
started=$SECONDS

# 1. The tree Binder would build, copied, so that the tests' screenshots and pip's build files stay out of
#    the work tree.
case "$(realpath -m "$OUT")" in
  /|"$REPO"|"$REPO"/*) echo "binder-check: BINDER_CHECK_OUT=$OUT is not a scratch folder" >&2; exit 1;;
esac
rm -rf "$OUT"
mkdir -p "$OUT/tree" "$OUT/shots" "$OUT/logs"
if [ -n "$REF" ]; then
  git -C "$REPO" archive "$REF" | tar -x -C "$OUT/tree"
else
  git -C "$REPO" ls-files -z -co --exclude-standard | tar -c --null -T - --ignore-failed-read -f - 2>/dev/null \
    | tar -x -C "$OUT/tree"
fi
SRC=$OUT/tree
echo "binder-check: testing ${REF:-the work tree} (copied to $SRC)"
mapfile -t apt < "$SRC/binder/apt.txt"
bash scripts/system-deps.sh chromium "${apt[@]}"     # Binder installs binder/apt.txt's packages

# 2. Binder's environment: the base's Jupyter packages at the base's versions, then ours, then postBuild.
rm -rf "$VENV"
"$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install -q -c "$SRC/$BASE")
mapfile -t jupyter < <(grep -E '^(jupyterlab|notebook|jupyter_server|ipywidgets|ipykernel)==' "$SRC/$BASE")
[ ${#jupyter[@]} -eq 5 ] || { echo "binder-check: $BASE does not pin all five Jupyter packages" >&2; exit 1; }
"${pip[@]}" pip setuptools wheel                   # the base's own pip (postBuild runs it)
"${pip[@]}" "${jupyter[@]}"
"${pip[@]}" jupyter-resource-usage jupyter-offlinenotebook   # the base's two Lab extensions (status bar, toolbar)
"${pip[@]}" -r "$SRC/binder/requirements.txt"
"${pip[@]}" pytest playwright                      # what the browser tests need (pip's package: no browser)
(cd "$SRC" && PATH="$VENV/bin:$PATH" VIRTUAL_ENV=$VENV bash binder/postBuild) > "$OUT/logs/postBuild.txt" 2>&1 \
  || { cat "$OUT/logs/postBuild.txt" >&2; echo "binder-check: binder/postBuild failed" >&2; exit 1; }

# Every package the base pins is still at the base's version (requirements.txt or the test tools moved none).
"$VENV/bin/python" - "$SRC/$BASE" <<'EOF'
import re, sys
from importlib import metadata
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
have = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
moved = []
for line in open(sys.argv[1]):
    m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
    if m and norm(m[1]) in have and have[norm(m[1])] != m[2]:
        moved.append(f"{m[1]} {have[norm(m[1])]} (base: {m[2]})")
if moved:
    sys.exit("binder-check: not the base's versions: " + ", ".join(moved))
print("binder-check: " + ", ".join(f"{n} {have[n]}" for n in
      ("jupyterlab", "notebook", "jupyter-server", "ipywidgets", "ipykernel", "anywidget", "iommulab")))
EOF

# 3. The browser tests at each viewport, each one's artifacts kept apart.
failed=()
for vp in $VIEWPORTS; do
  rm -rf "$SRC/test-artifacts"
  echo "binder-check: browser tests at $vp"
  (cd "$SRC" && CI=true IOMMULAB_VIEWPORT=$vp "$VENV/bin/python" -m pytest -p no:cacheprovider \
      -o addopts=--strict-markers -q -rfEs tests/test_browser.py tests/test_browser_course.py) \
      > "$OUT/logs/pytest-$vp.txt" 2>&1 || failed+=("$vp")
  tail -n 1 "$OUT/logs/pytest-$vp.txt"
  mv "$SRC/test-artifacts" "$OUT/shots/$vp" 2>/dev/null || true
done
echo "binder-check: $((SECONDS - started)) s; logs in $OUT/logs, screenshots in $OUT/shots"
if [ ${#failed[@]} -gt 0 ]; then
  echo "binder-check: FAILED at ${failed[*]} (see $OUT/logs/pytest-<viewport>.txt)" >&2
  exit 1
fi
echo "binder-check: passed on Binder's stack"
