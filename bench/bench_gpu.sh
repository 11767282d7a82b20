#!/usr/bin/env bash
# bench_gpu.sh — Pixel microcode on an NVIDIA GPU against QEMU TCG (issue 11).
#
#   bash bench/bench_gpu.sh --prepare [DIR]   here, on the development machine:
#       builds static pixel-gpu-tool and bench_gpu_harness and copies the static
#       qemu-x86_64 into DIR (default $BUILD/gpu), the folder to carry to the
#       GPU machine (it lacks our Debian packages); also DIR/dyn: the offload
#       stage ($BUILD/bin/offload) with its shared libraries and Debian's
#       loader, DIR/library: a copy of the microcode library (LIBRARY,
#       default out/library), and DIR/hot: the HOT (6) hottest offloaded
#       templates of the last `make run` (REPORT, default
#       out/default/report/report.json) whose x86 body can be timed, with
#       their QEMU/native harnesses compiled (static-pie) and keys.txt;
#   bash bench/bench_gpu.sh [DIR]             on the GPU machine (make bench-gpu):
#       builds pixel-cuda, then for each benchmark block (add32, alu_mix,
#       mem_sum: stages/offload/gpu/programs) at 10^4, 10^6 and 10^7 states, in
#       one run, on the same states: the block's x86 code under QEMU TCG (the
#       static harness under the static qemu-x86_64) and natively, the Pixel
#       batched CPU executor (one thread and every core) and reference
#       interpreter, and the CUDA executor
#       kernel alone, with transfers (pageable) and with transfers (pinned) on
#       the full-state path, and the compact pipelined path (--compact: only
#       the block's live-in/live-out data, flags as bits, chunks over streams)
#       with transfers, without overlap (1 chunk) and with overlap (16 chunks,
#       4 streams).  States follow the guest convention (flags 0/1: --guest).
#       10^7 states are 10^6 generated ones tiled 10 times.
#       Then the same for the hottest templates (DIR/hot): their states come
#       from `offload --export-gpu` on the GPU machine (state_gen, as
#       verify's tests), QEMU TCG and native run the template's real x86
#       bytes in the offload stage's speedup harness (speedup.c), and the
#       CUDA compact path runs with (cuda_cmp) and without (cuda_wide) the
#       fewer-bytes plan.
# Prints states/s (= block executions per second) and ratios to QEMU TCG;
# never asserts timings.  Without nvcc or a GPU it says so and exits 0.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD:-build}
if [ "${1:-}" = "--prepare" ]; then
    dir=${2:-$build/gpu}
    mkdir -p "$dir"
    rm -f "$dir/pixel-gpu-tool" "$dir/bench_gpu_harness"
    CC=${CC:-cc} bash stages/offload/gpu/build.sh "$dir" 2>/dev/null || true
    q=$(command -v qemu-x86_64 || true)
    [ -n "$q" ] && cp "$q" "$dir/qemu-x86_64"
    off=$build/bin/offload
    if [ -x "$off" ]; then
        rm -rf "$dir/dyn" "$dir/library" "$dir/hot"
        mkdir -p "$dir/dyn" "$dir/hot"
        cp "$off" "$dir/dyn/offload"
        for l in $(ldd "$off" | awk '/=>/ { print $3 }'); do cp -L "$l" "$dir/dyn/"; done
        cp -L /lib64/ld-linux-x86-64.so.2 "$dir/dyn/"
        cp -r "${LIBRARY:-out/library}" "$dir/library"
        rm -rf "$dir/library/.tmp" "$dir/library/"*.lock 2>/dev/null
        report=${REPORT:-out/default/report/report.json}
        # the hottest offloaded templates, by executions
        keys=$(python3 -c "
import json, sys
r = json.load(open(sys.argv[1])); seen = []
for b in r['hot_blocks']:
    k = b.get('template_key') or ''
    if b['status'] == 'offloaded' and k[:16] not in seen: seen.append(k[:16])
print(','.join(seen[:30]))" "$report")
        "$off" --export-gpu "$dir/hot" --library "$dir/library" --keys "$keys" --export-states 0 --harness >/dev/null
        # keys.txt: the first HOT whose harness compiled, hottest first
        : >"$dir/hot/keys.txt"
        for k in $(echo "$keys" | tr , ' '); do
            [ "$(grep -c . "$dir/hot/keys.txt")" -ge "${HOT:-6}" ] && break
            grep -q "^$k.*yes\$" "$dir/hot/index.tsv" && echo "$k" >>"$dir/hot/keys.txt"
        done
        rm -f "$dir/hot/"*.c "$dir/hot/"*.log
        for h in "$dir/hot/"*.harness; do
            grep -qx "$(basename "$h" .harness)" "$dir/hot/keys.txt" || rm -f "$h"
        done
        # the GPU side of the offload stage's test (test_offload_gpu: gpu_measure on a real GPU)
        t=$build/tests/test_offload_gpu
        if [ -x "$t" ]; then
            cp "$t" "$dir/dyn/"
            for l in $(ldd "$t" | awk '/=>/ { print $3 }'); do [ -f "$dir/dyn/$(basename "$l")" ] || cp -L "$l" "$dir/dyn/"; done
        fi
        cat "$dir/hot/keys.txt"
    fi
    du -sh "$dir"
    ls -la "$dir"
    exit 0
fi
dir=${1:-$build/gpu}
if ! command -v nvcc >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "bench_gpu: no nvcc or no NVIDIA GPU on this machine: nothing measured"
    echo "  (run it on a GPU machine: bash bench/bench_gpu.sh --prepare here, carry $build/gpu)"
    exit 0
fi
bash stages/offload/gpu/build.sh "$dir" || exit 1
tool=$dir/pixel-gpu-tool cuda=${PIXEL_CUDA:-$dir/pixel-cuda} harness=$dir/bench_gpu_harness
qemu=$dir/qemu-x86_64
[ -x "$qemu" ] || qemu=$(command -v qemu-x86_64 || true)
work=${TMPDIR:-/tmp}/bench-gpu.$$
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" | head -1; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "QEMU: ${qemu:-none} $( [ -n "$qemu" ] && "$qemu" --version | head -1)"
echo
parts=${BENCH_GPU_PARTS:-handwritten,templates}   # which tables (dry runs: one)
if [[ $parts == *handwritten* ]]; then
printf '%-8s %9s %10s %10s %10s %10s %10s %10s %10s %10s %10s | %8s %8s %8s %8s %8s %8s\n' \
    block states qemu_tcg native px_interp px_batch px_batchN cuda_kern cuda_xfer cuda_pin cuda_cmp \
    batch/tcg bN/tcg kern/tcg xfer/tcg pin/tcg cmp/tcg
: >"$work/compact"
for block in add32 alu_mix mem_sum; do
    extra="--guest"
    [ $block = mem_sum ] && extra="--guest --ptr RSI:0 --ptr RDI:1"
    # shellcheck disable=SC2086
    "$tool" gen stages/offload/gpu/programs/$block.pxa 10000 "$work/j4" --seed 4 $extra >/dev/null &&
    "$tool" gen stages/offload/gpu/programs/$block.pxa 1000000 "$work/j6" --seed 6 $extra >/dev/null || exit 1
    for n in 10000 1000000 10000000; do
        job=$work/j6 rep=1
        [ $n = 10000 ] && job=$work/j4
        [ $n = 10000000 ] && rep=10
        q=nan
        if [ -n "$qemu" ]; then
            q=$("$qemu" -cpu max "$harness" $block "$job" --replicate $rep --label qemu | val states_per_s)
        fi
        nat=$("$harness" $block "$job" --replicate $rep --label native | val states_per_s)
        bat=$("$tool" run "$job" - --executor batch --replicate $rep --repeat 3 | val states_per_s)
        bmt=$("$tool" run "$job" - --executor batch --threads 0 --replicate $rep --repeat 3 | val states_per_s)
        itp=$("$tool" run "$job" - --executor interp --replicate $rep | val states_per_s)
        c=$("$cuda" "$job" - --replicate $rep --repeat 5)
        ck=$(echo "$c" | val kernel_states_per_s)
        cx=$(echo "$c" | val total_states_per_s)
        cp=$("$cuda" "$job" - --replicate $rep --repeat 1 --pinned | val total_states_per_s)
        c1=$("$cuda" "$job" - --replicate $rep --repeat 3 --compact --chunks 1 --streams 1)
        cc=$("$cuda" "$job" - --replicate $rep --repeat 3 --compact)
        cm=$(echo "$cc" | val total_states_per_s)
        ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.1f", a / b; else print "-" }'; }
        printf '%-8s %9s %10s %10s %10s %10s %10s %10s %10s %10s %10s | %8s %8s %8s %8s %8s %8s\n' \
            $block $n "$q" "$nat" "$itp" "$bat" "$bmt" "$ck" "$cx" "$cp" "$cm" \
            "$(ratio "$bat" "$q")" "$(ratio "$bmt" "$q")" "$(ratio "$ck" "$q")" "$(ratio "$cx" "$q")" \
            "$(ratio "$cp" "$q")" "$(ratio "$cm" "$q")"
        printf '%-8s %9s %5s %5s %10s %10s %10s %10s %7s %7s | %8s %8s %8s\n' $block $n \
            "$(echo "$cc" | val bytes_in)" "$(echo "$cc" | val bytes_out)" \
            "$(echo "$cc" | val kernel_states_per_s)" "$(echo "$c1" | val total_states_per_s)" \
            "$cm" "$(echo "$cc" | val host_states_per_s)" "$(echo "$cc" | val gb_per_s)" \
            "$(echo "$cc" | val expand_ms)" \
            "$(ratio "$(echo "$c1" | val total_states_per_s)" "$q")" "$(ratio "$cm" "$q")" \
            "$(ratio "$(echo "$cc" | val host_states_per_s)" "$q")" >>"$work/compact"
    done
done
echo
echo "The compact path (pixel-cuda --compact), same states:"
printf '%-8s %9s %5s %5s %10s %10s %10s %10s %7s %7s | %8s %8s %8s\n' block states in_B out_B \
    cmp_kern cmp_serial cmp_pipe cmp_host GB/s exp_ms serial/tcg pipe/tcg host/tcg
cat "$work/compact"
echo
echo "in_B/out_B: bytes per state each way (live-in rows, packed flags, windows / live-out rows,"
echo "packed flags, 2-byte status, windows).  cmp_kern: the compact kernel alone; cmp_serial: one"
echo "chunk, one stream (copy in, kernel, copy out in sequence); cmp_pipe (= cuda_cmp): 16 chunks"
echo "over 4 streams (one chunk below 131072 states), copies and kernels overlapped; cmp_host:"
echo "cmp_pipe plus the host's packing of"
echo "live-in flags and expansion of the compact results into full register rows (exp_ms, one"
echo "thread).  Every figure includes moving each state's inputs up and its outputs back."
echo
echo "states/s = block executions per second.  px_batchN: the batched CPU executor on every"
echo "core ($(nproc)); the others are one thread (QEMU TCG runs the guest on one).  cuda_xfer and"
echo "cuda_pin include the host<->device copies of what the microcode touches (pageable /"
echo "page-locked host memory); cuda_kern is the kernel alone."
fi
[[ $parts == *templates* ]] || exit 0

# ---- the hottest templates of the bundled workloads ---------------------------
hot=$dir/hot
if [ ! -s "$hot/keys.txt" ]; then
    echo
    echo "bench_gpu: no hot templates prepared ($hot/keys.txt; bash bench/bench_gpu.sh --prepare after make run)"
    exit 0
fi
if [ -z "${OFFLOAD:-}" ]; then
    if [ -x "$dir/dyn/offload" ]; then
        OFFLOAD="$dir/dyn/ld-linux-x86-64.so.2 --library-path $dir/dyn $dir/dyn/offload"
    else
        OFFLOAD=$build/bin/offload
    fi
fi
lib=${LIBRARY:-$dir/library}
[ -d "$lib" ] || lib=out/library
# the harness's command line (speedup.c): REPS with the states on fd 0,
# outputs on fd 3, times on fd 4; or STATES OUT TIMES REPS (older)
harness_run() {   # label harness states reps  -> seconds
    local h=$2 st=$3 reps=$4 pre=() flag=()
    [ "$1" = qemu ] && pre=("$qemu" -cpu max)
    [ "$1" = native ] && flag=(--sandbox)
    if "$h" 2>&1 | grep -q 'REPS <STATES'; then
        "${pre[@]}" "$h" "${flag[@]}" "$reps" <"$st" 3>"$work/hout" 4>"$work/htime" 2>"$work/herr" || return 1
    else
        "${pre[@]}" "$h" "${flag[@]}" "$st" "$work/hout" "$work/htime" "$reps" 2>"$work/herr" || return 1
    fi
    sed -n 's/^seconds=\([^ ]*\).*/\1/p' "$work/htime"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s + 0 > 0) printf "%.4g", n / s; else print "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.1f", a / b; else print "-" }'; }
echo
echo "The hottest templates of the bundled workloads (library $lib), states from offload --export-gpu:"
printf '%-16s %9s %10s %10s %10s %10s %10s %10s %10s %7s %7s | %8s %8s %8s %8s %8s\n' template states \
    qemu_tcg native px_batch px_batchN cuda_kern cuda_wide cuda_cmp wide_B cmp_B batch/tcg bN/tcg kern/tcg \
    wide/tcg cmp/tcg
for k in $(cat "$hot/keys.txt"); do
    h=$hot/$k.harness
    for n in 10000 1000000; do
        rm -rf "$work/e$n"
        # shellcheck disable=SC2086
        $OFFLOAD --export-gpu "$work/e$n" --library "$lib" --keys "$k" --export-states $n \
            $([ $n = 10000 ] && echo --harness-states) >"$work/export.log" 2>&1 ||
            { echo "$k: export failed: $(tail -1 "$work/export.log")"; continue 2; }
    done
    for n in 10000 1000000 10000000; do
        e=$work/e$n rep=1
        [ $n = 10000000 ] && { e=$work/e1000000; rep=10; }
        # QEMU/native: the 10^4 states, n/10^4 passes (at least 100): the
        # harness's rate, not first-touch page faults of a 10^6-state array
        hreps=$(( n / 10000 < 100 ? 100 : n / 10000 ))
        job=$e/$k.job st=$work/e10000/$k.hs
        execs=$(( hreps * 10000 ))
        qs=$(harness_run qemu "$h" "$st" $hreps) || qs=
        ns=$(harness_run native "$h" "$st" $hreps) || ns=
        q=$(rate "$execs" "$qs") nat=$(rate "$execs" "$ns")
        bat=$("$tool" run "$job" - --executor batch --replicate $rep --repeat 3 | val states_per_s)
        bmt=$("$tool" run "$job" - --executor batch --threads 0 --replicate $rep --repeat 3 | val states_per_s)
        cw=$("$cuda" "$job" - --compact --wide --replicate $rep --repeat 3)
        cc=$("$cuda" "$job" - --compact --replicate $rep --repeat 3)
        ck=$(echo "$cc" | val kernel_states_per_s)
        cwt=$(echo "$cw" | val total_states_per_s)
        cct=$(echo "$cc" | val total_states_per_s)
        printf '%-16s %9s %10s %10s %10s %10s %10s %10s %10s %7s %7s | %8s %8s %8s %8s %8s\n' "$k" $n "$q" "$nat" \
            "$bat" "$bmt" "$ck" "$cwt" "$cct" \
            "$(echo "$cw" | val bytes_in)+$(echo "$cw" | val bytes_out)" \
            "$(echo "$cc" | val bytes_in)+$(echo "$cc" | val bytes_out)" \
            "$(ratio "$bat" "$q")" "$(ratio "$bmt" "$q")" "$(ratio "$ck" "$q")" "$(ratio "$cwt" "$q")" \
            "$(ratio "$cct" "$q")"
    done
    grep "^$k" "$hot/index.tsv" | cut -f3,4,6 | sed 's/^/    x86 insns, Pixel insns, window bytes: /'
done
echo
echo "qemu_tcg/native: the template's x86 body in the offload stage's speedup harness (its lean entry:"
echo "the block's live registers loaded and stored around each execution), under qemu-x86_64 -cpu max / natively"
echo "(seccomp), over the 10^4 states in n/10^4 passes (at least 100): TCG runs one state after another,"
echo "so its rate does not depend on the batch; the passes keep its data in cache.  px_batch(N): the batched CPU executor, one"
echo "thread (every core).  cuda_kern: compact kernel alone; cuda_wide: compact pipelined path with the"
echo "earlier plan (64-bit rows, rip and status always); cuda_cmp: with the fewer-bytes plan (uniform"
echo "rows as parameters, 32-bit rows, uniform results computed once, no status for fault-free blocks)."
echo "wide_B/cmp_B: bytes per state up+down.  cuda_wide and cuda_cmp include every host<->device copy."
