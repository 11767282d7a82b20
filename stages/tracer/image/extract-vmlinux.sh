#!/usr/bin/env bash
# extract-vmlinux.sh BZIMAGE OUT — the uncompressed ELF kernel inside a bzImage.
#
# Booting the ELF directly (QEMU -kernel loads it through the PVH entry point
# that Debian's kernels have) skips the in-guest decompressor, which under
# TCG executes about six billion instructions (two thirds of a traced boot)
# before the kernel proper starts.  Tries each compression the kernel may use
# at every offset where its magic appears, and keeps the first result that is
# an x86-64 ELF with a PVH note (Xen note type 18).
set -euo pipefail
in=${1:?usage: extract-vmlinux.sh BZIMAGE OUT}
out=${2:?usage: extract-vmlinux.sh BZIMAGE OUT}
[ -f "$in" ] || { echo "extract-vmlinux: '$in' does not exist (run make deps)" >&2; exit 1; }
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
try() {   # magic (grep -P bytes), decompressor...
    local magic=$1; shift
    local off
    for off in $(LC_ALL=C grep -obUaP "$magic" "$in" 2>/dev/null | cut -d: -f1 | head -n 8); do
        tail -c +$((off + 1)) "$in" | "$@" >"$tmp" 2>/dev/null || true
        if [ -s "$tmp" ] && head -c 4 "$tmp" | grep -q 'ELF' && readelf -n "$tmp" 2>/dev/null | grep -q '0x00000012'; then
            mv -f "$tmp" "$out"
            echo "extract-vmlinux: $out ($(stat -c %s "$out") bytes, $1 at offset $off)" >&2
            exit 0
        fi
    done
}
try '\xfd\x37\x7a\x58\x5a\x00' xz -dc
try '\x28\xb5\x2f\xfd' zstd -dc
try '\x1f\x8b\x08' gzip -dc
try '\x5d\x00\x00\x00' xz -dc --format=lzma
echo "extract-vmlinux: no PVH-capable ELF kernel found in $in; boot the bzImage instead" >&2
exit 1
