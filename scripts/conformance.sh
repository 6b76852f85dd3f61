#!/usr/bin/env bash
# The conformance suite (issue 20): real Linux kernels in QEMU against the simulator.
#   bash scripts/conformance.sh record [--kernel S] [--machine M]   boot Debian's kernels, store transcripts
#   bash scripts/conformance.sh replay                             run the recordings' steps in the simulator
#   bash scripts/conformance.sh report                             the same, every difference in full
#   bash scripts/conformance.sh build [VARIANT...]                  build the 6.12 variants (record does it too)
# record installs QEMU, busybox, gcc, cpio and kmod from Debian (as root), fetches the kernel packages with
# apt's own tools into a private cache (a private sources list and state: the system's apt is not touched),
# unpacks them with dpkg -x, builds the guest helper and writes tests/data/real-kernels/<uname -r>/.
# build (run by record when a built kernel is missing) makes the iommulab variants of Debian's
# linux-source-6.12 from one tree in the cache, incrementally: conformance/build/ holds their
# config fragments and the revert patch of the selftest-nofix variant.
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
  apt_install "" "${missing[@]}"
}

apt_install() {   # apt_install WHAT PACKAGE...: Debian's packages as root, else the line to run; none: nothing
  local what=$1; shift
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "conformance: ${what}needs $*: sudo apt-get install -y $*" >&2; exit 1
  fi
  echo "conformance: installing $* (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

private_apt() {   # apt-get/apt-cache with a private sources list, lists, status and archive
  local tool=$1; shift
  local A=$CACHE/apt
  "$tool" -o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts="$A/sources.list.d" \
    -o Dir::Etc::Preferences="$A/preferences" -o Dir::Etc::PreferencesParts="$A/preferences.d" \
    -o Dir::State::Lists="$A/lists" -o Dir::State::status="$A/status" -o Dir::Cache="$A/cache" \
    -o Dir::Cache::Archives="$A/archives" -o APT::Architecture=amd64 -o Debug::NoLocking=1 "$@"
}

fetch_debs() {   # PACKAGE...: download the missing ones into $CACHE/debs with the private apt
  local A=$CACHE/apt missing=() p
  mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/cache" "$A/sources.list.d" "$A/preferences.d" \
           "$CACHE/debs" "$CACHE/k"
  for p in "$@"; do
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
}

fetch_kernels() {
  local p
  fetch_debs "${KERNELS[@]}" "$HEADERS"
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

# The self-built kernels: variants of Debian's linux-source-6.12 (conformance/build/<variant>.config
# on top of base.config), in this order so that each one rebuilds only what its change touches.
VARIANTS=(iommufd selftest selftest-nofix compat)
SOURCE_PKG=linux-source-6.12
BUILD_PACKAGES=(flex bison libelf-dev libssl-dev bc make gcc)

need_build_packages() {
  local missing=() pkg
  for pkg in "${BUILD_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  apt_install "the kernel build " "${missing[@]}"
}

unpack_source() {   # $CACHE/build/linux-source-6.12 from the Debian package (fetched like the kernels)
  SRC=$CACHE/build/$SOURCE_PKG
  [ -f "$SRC/Makefile" ] && return 0
  local deb tarball
  deb=$(ls "$CACHE/debs/${SOURCE_PKG}_"*.deb "$CACHE/src/${SOURCE_PKG}_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    fetch_debs "$SOURCE_PKG"
    deb=$(ls "$CACHE/debs/${SOURCE_PKG}_"*.deb | head -1)
  fi
  mkdir -p "$CACHE/src/x" "$CACHE/build"
  tarball=$CACHE/src/x/usr/src/$SOURCE_PKG.tar.xz
  [ -f "$tarball" ] || dpkg -x "$deb" "$CACHE/src/x"
  echo "conformance: unpacking $tarball into $CACHE/build" >&2
  rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
  tar -xJf "$tarball" -C "$SRC.tmp" --strip-components=1
  mv "$SRC.tmp" "$SRC"
}

kconfig_check() {   # every line of the fragments as wanted in .config (olddefconfig drops refused ones)
  local f line sym bad=0 known
  known=$(cd "$SRC" && grep -rhoE '^(menu)?config [A-Za-z0-9_]+' --include='Kconfig*' . | sed 's/.* /CONFIG_/' | sort -u)
  for f in "$@"; do
    while IFS= read -r line; do
      if [[ $line =~ ^(#\ )?(CONFIG_[A-Za-z0-9_]+)[=\ ] ]] && ! grep -qxF "${BASH_REMATCH[2]}" <<< "$known"; then
        echo "conformance: $f: no symbol ${BASH_REMATCH[2]} in this kernel's Kconfig" >&2; bad=1; continue
      fi
      if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
        grep -qxF -- "$line" "$SRC/.config" || { echo "conformance: $f: wanted $line, .config has: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$SRC/.config" || echo nothing)" >&2; bad=1; }
      elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
        sym=${BASH_REMATCH[1]}
        if grep -qE "^$sym=" "$SRC/.config"; then echo "conformance: $f: wanted $sym off, .config has $(grep -E "^$sym=" "$SRC/.config")" >&2; bad=1; fi
      fi
    done < "$f"
  done
  [ $bad -eq 0 ] || { echo "conformance: the kernel configuration is not as conformance/build/ asks" >&2; exit 1; }
}

kconfig_apply() {   # scripts/config for each line of the fragments
  local f line args=()
  for f in "$@"; do
    while IFS= read -r line; do
      if [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=y$ ]]; then args+=(--enable "${BASH_REMATCH[1]}")
      elif [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=m$ ]]; then args+=(--module "${BASH_REMATCH[1]}")
      elif [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=\"(.*)\"$ ]]; then args+=(--set-str "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
      elif [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=(.*)$ ]]; then args+=(--set-val "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
      elif [[ $line =~ ^#\ CONFIG_([A-Za-z0-9_]+)\ is\ not\ set$ ]]; then args+=(--disable "${BASH_REMATCH[1]}")
      fi
    done < "$f"
  done
  (cd "$SRC" && ./scripts/config --file .config "${args[@]}")
}

patch_state() {   # $1 = applied | reversed: the revert patch of selftest-nofix
  local p=$PWD/conformance/build/revert-f429378a9bf8.patch
  if (cd "$SRC" && patch -p1 -R --dry-run -s -f < "$p" >/dev/null 2>&1); then   # applied now
    [ "$1" = reversed ] && (cd "$SRC" && patch -p1 -R -s < "$p")
  else
    [ "$1" = applied ] && (cd "$SRC" && patch -p1 -s < "$p")
  fi
  return 0
}

source_debver() {   # the Debian version of linux-source-6.12 (6.12.117-1), from the cached package's name
  local deb; deb=$(ls "$CACHE/debs/${SOURCE_PKG}_"*.deb "$CACHE/src/${SOURCE_PKG}_"*.deb 2>/dev/null | head -1 || true)
  [ -n "$deb" ] && basename "$deb" | cut -d_ -f2
}

variants_for() {   # $1 = record's --kernel filter: the variants whose package name it matches
  local v debver; debver=$(source_debver); debver=${debver:-6.12.117-1}
  for v in "${VARIANTS[@]}"; do
    [[ "linux-image-${debver%-*}-iommulab-${v}_$debver+iommulab" == *"$1"* ]] && echo "$v"
  done
  return 0
}

build_kernels() {   # [VARIANT...]: build and install into $CACHE/k/ the variants that are missing or stale
  local want=("$@") v frags dest rel ver debver t0 mk tmp
  [ ${#want[@]} -gt 0 ] || want=("${VARIANTS[@]}")
  mkdir -p "$CACHE/build"
  exec 9>"$CACHE/build/lock"
  flock 9     # one build at a time in the one tree
  local todo=()
  for v in "${want[@]}"; do
    [ -f "conformance/build/$v.config" ] || { echo "conformance: no variant $v (conformance/build/$v.config)" >&2; exit 2; }
    dest=$(ls -d "$CACHE/k/linux-image-"*"-iommulab-${v}_"* 2>/dev/null | head -1 || true)
    if [ -n "$dest" ] && [ -z "$(find conformance/build -newer "$dest/boot" -type f)" ]; then continue; fi
    todo+=("$v")
  done
  [ ${#todo[@]} -gt 0 ] || return 0
  need_build_packages
  unpack_source
  ver=$(make -s -C "$SRC" kernelversion)
  debver=$(source_debver)
  mk=(nice -n 10 make -C "$SRC" -s -j"$(nproc)")
  for v in "${VARIANTS[@]}"; do
    [[ " ${todo[*]} " == *" $v "* ]] || continue
    t0=$(date +%s)
    frags=("$PWD/conformance/build/base.config" "$PWD/conformance/build/$v.config")
    if [ "$v" = selftest-nofix ]; then patch_state applied; else patch_state reversed; fi
    "${mk[@]}" x86_64_defconfig >/dev/null
    "${mk[@]}" kvm_guest.config >/dev/null
    kconfig_apply "${frags[@]}"
    "${mk[@]}" olddefconfig >/dev/null
    kconfig_check "${frags[@]}"
    echo "conformance: building $v ($SRC)" >&2
    "${mk[@]}" bzImage modules
    rel=$(make -s -C "$SRC" kernelrelease)
    dest=$CACHE/k/linux-image-${rel}_${debver:-$ver-1}+iommulab
    tmp=$CACHE/build/install.tmp      # outside k/, where record.py looks for kernels
    rm -rf "$tmp" && mkdir -p "$tmp/boot"
    cp "$SRC/arch/x86/boot/bzImage" "$tmp/boot/vmlinuz-$rel"
    cp "$SRC/.config" "$tmp/boot/config-$rel"
    cp "$SRC/System.map" "$tmp/boot/System.map-$rel"
    "${mk[@]}" modules_install INSTALL_MOD_PATH="$tmp" INSTALL_MOD_STRIP=1 DEPMOD=true >/dev/null
    rm -f "$tmp/lib/modules/$rel/build" "$tmp/lib/modules/$rel/source"
    depmod -b "$tmp" "$rel"
    rm -rf "$CACHE/k/linux-image-"*"-iommulab-${v}_"*
    mv "$tmp" "$dest"
    echo "conformance: built $rel in $(( $(date +%s) - t0 )) s" | tee -a "$CACHE/build/times.log" >&2
  done
}

cmd=${1:-}; shift || true
case $cmd in
  record)
    t0=$(date +%s)
    need_host_packages
    fetch_kernels
    kfilter=""
    for ((i = 1; i <= $#; i++)); do
      case ${!i} in --kernel) j=$((i + 1)); kfilter=${!j:-} ;; --kernel=*) kfilter=${!i#--kernel=} ;; esac
    done
    mapfile -t variants < <(variants_for "$kfilter")
    [ ${#variants[@]} -eq 0 ] || build_kernels "${variants[@]}"
    build_helper
    "$PY" conformance/record.py "$CACHE" "$@"
    echo "conformance: record took $(( $(date +%s) - t0 )) s"
    ;;
  build) build_kernels "$@" ;;
  replay) "$PY" conformance/replay.py "$@" ;;
  report) "$PY" conformance/replay.py --full "$@" ;;
  *) echo "usage: $0 record [--kernel S] [--machine M] [--jobs N] | build [VARIANT...] | replay | report" >&2; exit 2 ;;
esac
