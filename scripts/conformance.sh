#!/usr/bin/env bash
# The conformance suite (issue 20): real Linux kernels in QEMU against the simulator.
#   bash scripts/conformance.sh record [--kernel S] [--machine M]   boot Debian's kernels, store transcripts
#   bash scripts/conformance.sh replay                             run the recordings' steps in the simulator
#   bash scripts/conformance.sh report                             the same, every difference in full
# record installs QEMU, busybox, gcc, cpio and kmod from Debian (as root), fetches the kernel packages with
# apt's own tools into a private cache (a private sources list and state: the system's apt is not touched),
# unpacks them with dpkg -x, builds the guest helper and writes tests/data/real-kernels/<uname -r>/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
CACHE=${IOMMULAB_CONFORMANCE_CACHE:-$HOME/.cache/iommulab/conformance}
# The kernels: bookworm's 6.1, trixie's 6.12, trixie-backports' 6.18 (package names pin the ABI).
KERNELS=(linux-image-6.1.0-57-amd64 linux-image-6.12.117+deb13-amd64 linux-image-6.18.15+deb13-amd64)
HEADERS=linux-headers-6.12.117+deb13-common     # the helper's uapi headers (vfio.h, iommufd.h)
SUITES=("bookworm main" "trixie main" "trixie-backports main")
SECURITY="bookworm-security main"

need_host_packages() {
  local missing=() pkg prog
  declare -A prog_of=([qemu-system-x86]=qemu-system-x86_64 [busybox-static]=/bin/busybox [gcc]=gcc
                      [libc6-dev]=/usr/lib/x86_64-linux-gnu/libc.a [cpio]=cpio [kmod]=depmod)
  for pkg in "${!prog_of[@]}"; do
    prog=${prog_of[$pkg]}
    if [ "${prog:0:1}" = / ]; then [ -e "$prog" ] || missing+=("$pkg")
    else command -v "$prog" >/dev/null 2>&1 || missing+=("$pkg"); fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "conformance: needs ${missing[*]}: sudo apt-get install -y ${missing[*]}" >&2; exit 1
  fi
  echo "conformance: installing ${missing[*]} (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

private_apt() {   # apt-get/apt-cache with a private sources list, lists, status and archive
  local tool=$1; shift
  local A=$CACHE/apt
  "$tool" -o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts="$A/sources.list.d" \
    -o Dir::Etc::Preferences="$A/preferences" -o Dir::Etc::PreferencesParts="$A/preferences.d" \
    -o Dir::State::Lists="$A/lists" -o Dir::State::status="$A/status" -o Dir::Cache="$A/cache" \
    -o Dir::Cache::Archives="$A/archives" -o APT::Architecture=amd64 -o Debug::NoLocking=1 "$@"
}

fetch_kernels() {
  local A=$CACHE/apt missing=() p
  mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/cache" "$A/sources.list.d" "$A/preferences.d" \
           "$CACHE/debs" "$CACHE/k"
  for p in "${KERNELS[@]}" "$HEADERS"; do
    ls "$CACHE/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local key=/usr/share/keyrings/debian-archive-keyring.gpg s
    : > "$A/sources.list"
    for s in "${SUITES[@]}"; do echo "deb [signed-by=$key] http://deb.debian.org/debian $s" >> "$A/sources.list"; done
    echo "deb [signed-by=$key] http://deb.debian.org/debian-security $SECURITY" >> "$A/sources.list"
    touch "$A/status"
    echo "conformance: fetching ${missing[*]} (private apt cache in $A)" >&2
    private_apt apt-get update -qq 2>&1 | grep -v "unsandboxed" >&2 || true
    (cd "$CACHE/debs" && private_apt apt-get download -qq "${missing[@]}" 2>&1 | grep -v "unsandboxed" >&2 || true)
  fi
  for p in "${KERNELS[@]}" "$HEADERS"; do
    local deb; deb=$(ls "$CACHE/debs/${p}_"*.deb)
    local dir=$CACHE/k/$(basename "$deb" .deb)
    [ -d "$dir" ] && continue
    mkdir -p "$dir.tmp" && dpkg -x "$deb" "$dir.tmp" && mv "$dir.tmp" "$dir"
    local mods; mods=$(ls -d "$dir"/lib/modules/* "$dir"/usr/lib/modules/* 2>/dev/null | head -1 || true)
    if [ -n "$mods" ]; then depmod -b "${mods%/lib/modules/*}" "$(basename "$mods")"; fi
  done
}

build_helper() {
  local hdr inc=$CACHE/include
  hdr=$(ls -d "$CACHE"/k/linux-headers-*/usr/src/*/include/uapi | head -1)
  mkdir -p "$inc/linux"
  cp "$hdr/linux/vfio.h" "$hdr/linux/iommufd.h" "$inc/linux/"
  if [ ! -x "$CACHE/vfh" ] || [ conformance/vfh.c -nt "$CACHE/vfh" ]; then
    gcc -static -O2 -Wall -D__user= -DHAVE_IOMMUFD -I"$inc" -o "$CACHE/vfh" conformance/vfh.c
  fi
}

cmd=${1:-}; shift || true
case $cmd in
  record)
    t0=$(date +%s)
    need_host_packages
    fetch_kernels
    build_helper
    "$PY" conformance/record.py "$CACHE" "$@"
    echo "conformance: record took $(( $(date +%s) - t0 )) s"
    ;;
  replay) "$PY" conformance/replay.py "$@" ;;
  report) "$PY" conformance/replay.py --full "$@" ;;
  *) echo "usage: $0 record [--kernel S] [--machine M] [--jobs N] | replay | report" >&2; exit 2 ;;
esac
