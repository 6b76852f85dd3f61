#!/usr/bin/env bash
# Installs the Debian packages the lab needs when their programs are missing.
# Usage: bash scripts/system-deps.sh graphviz [chromium] [pci.ids]
set -euo pipefail
# What shows a package is there: a program on PATH, or (a path) a file it installs.
declare -A PROGRAM=([graphviz]=dot [chromium]=chromium [python3-venv]= [pci.ids]=/usr/share/misc/pci.ids)
missing=()
for pkg in "$@"; do
  prog=${PROGRAM[$pkg]-$pkg}
  if [ "${prog:0:1}" = / ] && [ -e "$prog" ]; then continue; fi
  if [ -n "$prog" ] && [ "${prog:0:1}" != / ] && command -v "$prog" >/dev/null 2>&1; then continue; fi
  missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "iommulab needs: ${missing[*]}. Install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (Debian packages)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
