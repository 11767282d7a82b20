#!/usr/bin/env bash
# lib_check.sh GPUDIR LIBRARY [STATES] [BUDGET_S] — every verified template of
# a microcode library through the CUDA executor and the reference
# interpreter, bit for bit (issue 11).  For each template (in parallel):
#   offload --export-gpu: STATES (10^6) generated states of the template
#     (state_gen, as verify's concrete tests; memory windows cropped around
#     the block's accesses); where one batch would exceed 1 GiB, several
#     batches of other seeds (--export-seed) until STATES are checked
#   pixel-gpu-tool run --executor interp           the reference
#   pixel-cuda                                     full-state path: all 32 registers,
#                                                  memory, fault kind and pc must match
#   pixel-cuda --compact                           compact path (the offload stage's):
#                                                  R0..R23, memory, fault kind and pc
# Prints one line per template and a summary; exits 0 only when every
# template was checked and matched.  BUDGET_S (default 0: none) stops
# starting templates after that many seconds: those are reported "not run",
# and the exit status is 3.  OFFLOAD (environment) is the command that runs
# the offload stage (default GPUDIR/../bin/offload), PIXEL_CUDA the GPU
# executor (default GPUDIR/pixel-cuda); JOBS the parallel
# workers (default half the cores).  Needs nvcc and a GPU: exits 77 (skip)
# without them.  docs/pixel-gpu.md "The check".
set -u
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: lib_check.sh GPUDIR LIBRARY [STATES] [BUDGET_S]}
lib=${2:?usage: lib_check.sh GPUDIR LIBRARY [STATES] [BUDGET_S]}
states=${3:-1000000}
budget=${4:-0}
if ! command -v nvcc >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "SKIP: no nvcc or no NVIDIA GPU here; the library check runs on a GPU machine"
    exit 77
fi
if [ ! -d "$lib" ]; then
    echo "SKIP: no library at $lib (make run first)"
    exit 77
fi
bash "$here/build.sh" "$dir" || exit 1
dir=$(cd "$dir" && pwd)
export LC_TOOL=$dir/pixel-gpu-tool LC_CUDA=${PIXEL_CUDA:-$dir/pixel-cuda} LC_LIB=$lib LC_STATES=$states
export LC_OFFLOAD=${OFFLOAD:-$dir/../bin/offload}
export LC_WORK=${TMPDIR:-/tmp}/pixel-lib-check.$$
mkdir -p "$LC_WORK"
trap 'rm -rf "$LC_WORK"' EXIT
# shellcheck disable=SC2086
$LC_OFFLOAD --export-gpu "$LC_WORK/index" --library "$lib" --export-states 0 >"$LC_WORK/index.log" 2>&1 || {
    echo "FAIL: offload --export-gpu: $(tail -1 "$LC_WORK/index.log")"
    exit 1
}
keys=$(tail -n +2 "$LC_WORK/index/index.tsv" | cut -f1)
if [ -n "${KEYS:-}" ]; then     # KEYS=k1,k2,...: only these templates
    keys=$(echo "$keys" | grep -F -x -f <(echo "$KEYS" | tr , '\n'))
fi
total=$(echo "$keys" | grep -c .)
export LC_DEADLINE=0
[ "$budget" -gt 0 ] && LC_DEADLINE=$(($(date +%s) + budget))
one() {   # key16: STATES states, in several streams (seeds) where one batch would exceed the cap
    local k=$1 w=$LC_WORK/$1 line left=$LC_STATES seed=1 done_n=0 faulted=0 chunks=0
    local ref cu cc
    val() { echo "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p" | head -1; }
    while [ "$left" -gt 0 ]; do
        if [ "$LC_DEADLINE" -gt 0 ] && [ "$(date +%s)" -ge "$LC_DEADLINE" ]; then
            echo "notrun $k (time budget; $done_n states checked)"
            rm -rf "$w"
            return
        fi
        rm -rf "$w"
        mkdir -p "$w"
        # shellcheck disable=SC2086
        if ! $LC_OFFLOAD --export-gpu "$w" --library "$LC_LIB" --keys "$k" --export-states "$left" \
            --export-seed "$seed" >"$w/export.log" 2>&1 || [ ! -f "$w/$k.job" ]; then
            echo "FAIL $k: export: $(tail -1 "$w/export.log")"
            rm -rf "$w"
            return
        fi
        line=$(tail -n 1 "$w/index.tsv")
        if ! ref=$("$LC_TOOL" run "$w/$k.job" "$w/ref" --executor interp 2>&1); then
            echo "FAIL $k: interp: $ref"; rm -rf "$w"; return
        fi
        if ! cu=$("$LC_CUDA" "$w/$k.job" "$w/gpu" --repeat 1 2>&1); then
            echo "FAIL $k: pixel-cuda: $cu"; rm -rf "$w"; return
        fi
        if ! "$LC_TOOL" compare "$w/ref" "$w/gpu" --max 3 >"$w/cmp" 2>&1; then
            echo "FAIL $k (full-state, seed $seed): $(tr '\n' ' ' <"$w/cmp")"; rm -rf "$w"; return
        fi
        rm -f "$w/gpu"
        if ! cc=$("$LC_CUDA" "$w/$k.job" "$w/gpuc" --compact --repeat 1 2>&1); then
            echo "FAIL $k: pixel-cuda --compact: $cc"; rm -rf "$w"; return
        fi
        if ! "$LC_TOOL" compare "$w/ref" "$w/gpuc" --guest --max 3 >"$w/cmp" 2>&1; then
            echo "FAIL $k (compact, seed $seed): $(tr '\n' ' ' <"$w/cmp")"; rm -rf "$w"; return
        fi
        local n f
        n=$(val states "$ref")
        f=$(val faulted "$ref")
        if ! [ "${n:-0}" -gt 0 ] 2>/dev/null; then
            echo "FAIL $k: no state count from the interpreter ($ref)"; rm -rf "$w"; return
        fi
        done_n=$((done_n + n)); faulted=$((faulted + ${f:-0})); left=$((left - n))
        seed=$((seed + 1)); chunks=$((chunks + 1))
    done
    echo "ok   $k states=$done_n faulted=$faulted chunks=$chunks window=$(echo "$line" | cut -f6)" \
         "bytes=$(val bytes_in "$cc")+$(val bytes_out "$cc") in_narrow=$(val in_narrow "$cc")" \
         "out_narrow=$(val out_narrow "$cc") out_uniform=$(val out_uniform "$cc") status=$(val status "$cc")"
    rm -rf "$w"
}
export -f one
jobs=${JOBS:-$(( $(nproc) / 2 ))}
[ "$jobs" -lt 1 ] && jobs=1
start=$(date +%s)
echo "$keys" | xargs -P "$jobs" -I{} bash -c 'one {}' | tee "$LC_WORK/results"
ok=$(grep -c '^ok' "$LC_WORK/results")
failed=$(grep -c '^FAIL' "$LC_WORK/results")
notrun=$(grep -c '^notrun' "$LC_WORK/results")
faulting=$(grep '^ok' "$LC_WORK/results" | awk '{split($3,s,"="); split($4,f,"="); if (f[2] == s[2]) n++} END {print n + 0}')
echo "LIBRARY CHECK: $total verified templates, $ok bit-identical on both paths ($faulting of them fault in" \
     "every state), $failed failed, $notrun not run; $states states each," \
     "$(($(date +%s) - start)) s, $jobs workers"
[ "$failed" -gt 0 ] && exit 1
[ "$notrun" -gt 0 ] && exit 3
exit 0
