#!/usr/bin/env bash
# mk/deps.sh — install everything the project needs on a Debian 12 machine.
#
# Idempotent, and a fast no-op when everything is present: each step first
# checks the real state of the machine (installed packages, files in the
# build tree) and only then acts.  Run as root (apt); `make deps` calls it.
#
#   mk/deps.sh [BUILD_DIR]        default BUILD_DIR: build
#
# What it provides:
#   - Debian packages (bookworm) listed in DEB_PACKAGES below;
#   - qemu-system-x86 and qemu-user 10.0 from bookworm-backports;
#   - BUILD_DIR/deps/include/qemu-plugin.h, extracted from the matching Debian
#     source package (the .orig.tar.xz; the .debian.tar.xz may 404 on mirrors);
#   - BUILD_DIR/deps/qemu-src/contrib/plugins/*.c (QEMU's own plugins, for the
#     tracer benchmark);
#   - BUILD_DIR/deps/vmlinuz, Debian's linux-image-amd64 kernel, for the VM.
# Downloads are cached machine-wide in $TCGL_CACHE (default
# /var/cache/tcglearn) so a fresh clone does not fetch them again.
set -euo pipefail

BUILD_DIR=${1:-build}
CACHE=${TCGL_CACHE:-/var/cache/tcglearn}
DEPS="$BUILD_DIR/deps"

DEB_PACKAGES=(
    build-essential pkg-config clang libclang-rt-14-dev
    liburing-dev libz3-dev z3 libzydis-dev libmsgpack-dev libyaml-dev
    libcmocka-dev libunicorn-dev libseccomp-dev libglib2.0-dev
    libjansson-dev
    busybox-static cpio xz-utils dpkg-dev graphviz
)
BPO_PACKAGES=(qemu-system-x86 qemu-user)
QEMU_WANT=10.0

say() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $* (run make deps as root)"; fi
}

missing_packages() {
    # dpkg-query prints one status line per package; anything not
    # "install ok installed" (or unknown to dpkg) is missing.
    local p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$st" = "install ok installed" ] || printf '%s\n' "$p"
    done
}

APT_UPDATED=0
apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 0
    say "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
}

apt_install() {
    apt_update_once
    say "installing: $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_backports_source() {
    # bookworm-backports, with deb-src for the plugin header's source package.
    if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ \
       && grep -rqsE '^(deb-src .*bookworm-backports|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ \
       && apt-cache showsrc qemu 2>/dev/null | grep -q '~bpo12'; then
        return 0
    fi
    say "enabling bookworm-backports (deb and deb-src)"
    as_root tee /etc/apt/sources.list.d/tcglearn-backports.sources >/dev/null <<'EOF'
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    APT_UPDATED=0
    apt_update_once
}

qemu_version_ok() {
    command -v qemu-system-x86_64 >/dev/null || return 1
    qemu-system-x86_64 --version | head -n1 | grep -q "version $QEMU_WANT" || return 1
    command -v qemu-x86_64 >/dev/null || return 1
    qemu-x86_64 --version | head -n1 | grep -q "version $QEMU_WANT"
}

# 1. Debian packages -------------------------------------------------------
mapfile -t need < <(missing_packages "${DEB_PACKAGES[@]}")
if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi

# 2. QEMU 10 from bookworm-backports ------------------------------------------
if ! qemu_version_ok; then
    ensure_backports_source
    apt_update_once
    say "installing QEMU $QEMU_WANT from bookworm-backports"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -t bookworm-backports "${BPO_PACKAGES[@]}" >/dev/null
    qemu_version_ok || die "qemu-system-x86_64 / qemu-x86_64 $QEMU_WANT not found after install"
fi

# 3. qemu-plugin.h from the matching source package ---------------------------
qemu_src_version() {
    # Source version of the installed qemu-system-x86, e.g. 1:10.0.2+ds-2+deb13u1~bpo12+1
    dpkg-query -W -f='${source:Version}' qemu-system-x86
}
if [ ! -s "$DEPS/include/qemu-plugin.h" ] || [ ! -s "$DEPS/qemu-src/contrib/plugins/hotblocks.c" ]; then
    ver=$(qemu_src_version)
    upstream=${ver#*:}; upstream=${upstream%%-*}       # 10.0.2+ds
    orig="$CACHE/qemu-src/qemu_${upstream}.orig.tar.xz"
    if [ ! -s "$orig" ]; then
        ensure_backports_source
        as_root mkdir -p "$CACHE/qemu-src"
        say "fetching the qemu $ver source package (for qemu-plugin.h)"
        # The .debian.tar.xz (and .dsc) of a backport can 404 on mirrors while
        # the .orig.tar.xz is there: only the latter is needed, so tolerate the
        # failure and check for the file itself.
        (cd "$CACHE/qemu-src" && as_root apt-get source --download-only -qq "qemu=$ver" >/dev/null 2>&1) || true
        [ -s "$orig" ] || die "could not download $orig (apt-get source --download-only qemu=$ver)"
    fi
    say "extracting qemu-plugin.h and contrib plugins from $(basename "$orig")"
    tmp=$(mktemp -d)
    tar -xJf "$orig" -C "$tmp" --wildcards '*/include/qemu/qemu-plugin.h' '*/contrib/plugins/*'
    mkdir -p "$DEPS/include" "$DEPS/qemu-src"
    cp "$tmp"/qemu-*/include/qemu/qemu-plugin.h "$DEPS/include/qemu-plugin.h"
    rm -rf "$DEPS/qemu-src/contrib"
    mv "$tmp"/qemu-*/contrib "$DEPS/qemu-src/contrib"
    rm -rf "$tmp"
    grep -q 'QEMU_PLUGIN_VERSION' "$DEPS/include/qemu-plugin.h" || die "extracted qemu-plugin.h looks wrong"
fi

# 4. Debian's kernel for the tracing VM ---------------------------------------
if [ ! -s "$DEPS/vmlinuz" ]; then
    apt_update_once
    kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
    [ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
    deb=$(ls "$CACHE"/"${kpkg}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        as_root mkdir -p "$CACHE"
        say "downloading $kpkg"
        (cd "$CACHE" && as_root apt-get download -qq "$kpkg" >/dev/null 2>&1) || die "apt-get download $kpkg failed"
        deb=$(ls "$CACHE"/"${kpkg}"_*.deb | head -n1)
    fi
    say "unpacking the kernel from $(basename "$deb")"
    tmp=$(mktemp -d)
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
    mkdir -p "$DEPS"
    cp "$tmp"/boot/vmlinuz-* "$DEPS/vmlinuz"
    basename "$tmp"/boot/vmlinuz-* > "$DEPS/vmlinuz.version"
    rm -rf "$tmp"
fi

exit 0
