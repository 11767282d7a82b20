#!/usr/bin/env bash
# gpu_check.sh OUTDIR [STATES] — the CUDA executor against the reference
# interpreter, bit for bit: for every representative program (the hand-written
# blocks in programs/, 'allops' = every opcode with branches, a call and a
# loop, and random programs), STATES (default 1000000) generated states run
# on the interpreter (pixel-gpu-tool run --executor interp) and on the GPU
# (pixel-cuda, the full-state path and the compact pipelined path
# --compact); pixel-gpu-tool compare must find no difference in any register
# (compact: R0..R23, the guest registers), memory byte, fault kind or pc.  Needs nvcc and a GPU;
# exits 77 (skip) without them.  Real verified templates from the pipeline
# do not exist yet: these programs stand in for them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: gpu_check.sh OUTDIR [STATES]}
states=${2:-1000000}
if ! command -v nvcc >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "SKIP: no nvcc or no NVIDIA GPU here; the CUDA comparison runs on a GPU machine"
    exit 77
fi
bash "$here/build.sh" "$out" || exit 1
tool=$out/pixel-gpu-tool cuda=$out/pixel-cuda work=${TMPDIR:-/tmp}/pixel-gpu-check.$$
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
fail=0 n=0
check() {   # name program [gen options...]
    local name=$1 prog=$2; shift 2
    n=$((n + 1))
    "$tool" gen "$prog" "$states" "$work/job" --seed "$n" "$@" >/dev/null || { echo "FAIL $name: gen"; fail=1; return; }
    local ref cu
    ref=$("$tool" run "$work/job" "$work/ref" --executor interp) || { echo "FAIL $name: interp"; fail=1; return; }
    cu=$("$cuda" "$work/job" "$work/gpu" --repeat 3) || { echo "FAIL $name: cuda"; fail=1; return; }
    if "$tool" compare "$work/ref" "$work/gpu" --max 5 >"$work/cmp"; then
        echo "ok   $name: $(tail -1 "$work/cmp")"
    else
        echo "FAIL $name:"; cat "$work/cmp"; fail=1
    fi
    local cc
    cc=$("$cuda" "$work/job" "$work/gpuc" --compact --repeat 2) || { echo "FAIL $name: cuda --compact"; fail=1; return; }
    if "$tool" compare "$work/ref" "$work/gpuc" --guest --max 5 >"$work/cmp"; then
        echo "ok   $name (compact): $(tail -1 "$work/cmp")"
    else
        echo "FAIL $name (compact):"; cat "$work/cmp"; fail=1
    fi
    echo "     interp:  ${ref#RESULT }"
    echo "     cuda:    ${cu#RESULT }"
    echo "     compact: ${cc#RESULT }"
}
P=$here/programs
check add32 "$P/add32.pxa"
check add32_guest "$P/add32.pxa" --guest
check alu_mix "$P/alu_mix.pxa"
check mem_sum "$P/mem_sum.pxa" --ptr RSI:0 --ptr RDI:1
check mem_sum_guest "$P/mem_sum.pxa" --ptr RSI:0 --ptr RDI:1 --guest
check mem_faults "$P/mem_sum.pxa"
check partial_regs "$P/partial_regs.pxa"
check partial_regs_guest "$P/partial_regs.pxa" --guest
check loop_call "$P/loop_call.pxa"
check allops allops --ptr R28:0 --ptr R29:1
check allops_steps allops --step-limit 150
check random16 random:11:16
check random48 random:12:48
check random48_guest random:12:48 --guest
check random200 random:13:200 --regions 4096,16,8
if [ $fail = 0 ]; then
    echo "GPU CHECK PASSED: $n programs x $states states, full-state and compact paths bit-identical to the interpreter"
else
    echo "GPU CHECK FAILED"
fi
exit $fail
