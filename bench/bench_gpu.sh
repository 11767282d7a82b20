#!/usr/bin/env bash
# bench_gpu.sh — Pixel microcode on an NVIDIA GPU against QEMU TCG (issue 11).
#
#   bash bench/bench_gpu.sh --prepare [DIR]   here, on the development machine:
#       builds static pixel-gpu-tool and bench_gpu_harness and copies the static
#       qemu-x86_64 into DIR (default $BUILD/gpu), the folder to carry to the
#       GPU machine (it lacks our Debian packages);
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
tool=$dir/pixel-gpu-tool cuda=$dir/pixel-cuda harness=$dir/bench_gpu_harness
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
