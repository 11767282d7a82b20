#!/usr/bin/env bash
# build.sh OUTDIR — builds the GPU executor's programs into OUTDIR:
#   pixel-cuda          (nvcc; the CUDA runtime is its only dependency)
#   pixel-gpu-tool      (cc; plain C, static when the C library allows)
#   bench_gpu_harness   (cc; static, so that qemu-x86_64 can run it)
# Programs already in OUTDIR (carried from a machine with our Debian
# libraries) are kept, except pixel-cuda, which is always rebuilt when nvcc
# is present.  NVCC_FLAGS overrides the target (default -arch=sm_90, Hopper).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
cd "$root"
src="common/pixel_isa.c common/pixel_asm.c common/pixel_interp.c common/pixel_state.c
     common/pixel_batch.c common/pixel_gpufile.c common/pixel_gen.c common/log.c"
cc=${CC:-cc}
ccflags="-std=c11 -D_GNU_SOURCE -O2 -Icommon"
build_c() {   # name main.c
    [ -x "$out/$1" ] && return 0
    # shellcheck disable=SC2086
    $cc $ccflags -static "$2" $src -o "$out/$1" 2>/dev/null ||
        $cc $ccflags "$2" $src -o "$out/$1"
}
build_c pixel-gpu-tool stages/offload/gpu/pixel_gpu_tool.c
build_c bench_gpu_harness bench/bench_gpu_harness.c
if command -v nvcc >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    nvcc -O3 -std=c++17 ${NVCC_FLAGS:--arch=sm_90} -Icommon -o "$out/pixel-cuda" \
        stages/offload/gpu/pixel_cuda.cu
else
    echo "build.sh: nvcc not found: pixel-cuda not built" >&2
fi
