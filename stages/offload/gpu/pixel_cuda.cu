// pixel_cuda.cu — the CUDA executor of Pixel microcode, and its driver.
//
// One guest state per GPU thread; states in structure-of-arrays layout
// (struct pixel_batch / the batch file, common/pixel_gpufile.h); the
// microcode in constant memory; every opcode of PIXEL_OPCODES through
// pixel_alu(), the same table-generated function the CPU executors use;
// memory operations against each state's window.  Control flow, faults
// and the step limit follow docs/pixel-isa.md exactly as the reference
// interpreter (common/pixel_interp.c) does: results are bit-identical.
//
// Depends on the CUDA runtime alone:  nvcc -O3 -Icommon -o pixel-cuda pixel_cuda.cu
//
//   pixel-cuda JOB RESULT [--repeat R] [--replicate K] [--block B] [--pinned]
//
// reads a job file, runs it, writes the result file (RESULT '-' writes
// none) and prints one line
//   RESULT executor=cuda device="..." states=N faulted=F h2d_ms= kernel_ms= d2h_ms=
//          total_ms= kernel_states_per_s= total_states_per_s=
// kernel_ms is the fastest of R kernel runs (each on a fresh copy of the
// input, made on the device and not timed); total_ms is one complete
// host→device copy + kernel + device→host copy of the first run.  Only what
// the microcode can touch travels: the register rows it reads or writes
// (in; SoA makes each a contiguous n*8-byte row), the rows it writes (out),
// the memory windows when it loads or stores (back only when it stores),
// and the fault kinds and pcs.  --pinned page-locks the host arrays first
// (not timed), as a resident offload service would keep them.
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixel_isa.h"
#include "pixel_gpufile.c"   // the one reader/writer of batch files (C and C++ alike)

#define CUDA_OK(call)                                                                      \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "pixel-cuda: %s:%d: %s: %s\n", __FILE__, __LINE__, #call,      \
                    cudaGetErrorString(e_));                                               \
            exit(3);                                                                       \
        }                                                                                  \
    } while (0)

__constant__ uint32_t c_prog[PIXEL_MAX_INSNS];

struct kargs {
    uint32_t ninsns, nstates, step_limit, nregions;
    uint32_t region_size[4];
    uint64_t region_off[4];
    uint64_t window;
    uint64_t *regs;
    const uint64_t *bases;
    uint8_t *mem;
    uint8_t *fault;
    uint32_t *fault_pc;
};

// Window address of an access of w bytes by state i, or NULL (MEM fault).
__device__ __forceinline__ uint8_t *win_addr(const kargs &k, uint32_t i, uint64_t addr, unsigned w)
{
    for (uint32_t j = 0; j < k.nregions; j++) {
        uint64_t base = k.bases[(uint64_t)j * k.nstates + i];
        if (pixel_in_region(base, k.region_size[j], addr, w))
            return k.mem + (uint64_t)i * k.window + k.region_off[j] + (addr - base);
    }
    return NULL;
}

__global__ void pixel_kernel(kargs k)
{
    uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= k.nstates)
        return;
    const uint64_t n = k.nstates;
    uint64_t R[PIXEL_NREGS];
#pragma unroll
    for (int r = 0; r < PIXEL_NREGS; r++)
        R[r] = k.regs[r * n + i];
    uint32_t stack[PIXEL_CALL_DEPTH];
    uint32_t pc = 0, steps = 0, depth = 0;
    uint8_t fault = PIXEL_FAULT_NONE;
    const uint32_t limit = k.step_limit ? k.step_limit : PIXEL_DEFAULT_STEP_LIMIT;

    while (pc < k.ninsns) {
        if (steps >= limit) {
            fault = PIXEL_FAULT_STEPS;
            break;
        }
        const struct pixel_insn in = pixel_word_insn(c_prog[pc]);
        uint32_t next = pc + 1;
        const int kind = pixel_op_kind(in.op);
        if (kind == PXK_ALU) {
            int div = 0;
            uint64_t v = pixel_alu(in.op, R[in.rs1 & 31], R[in.rs2 & 31], R[in.rd & 31], in.rs1,
                                   in.rs2, 0, &div);
            if (div) {
                fault = PIXEL_FAULT_DIV;
                break;
            }
            R[in.rd & 31] = v;
        } else if (kind == PXK_LOAD || kind == PXK_STORE) {
            const unsigned w = pixel_op_width(in.op);
            uint8_t *p = win_addr(k, i, R[in.rs1 & 31], w);
            if (!p) {
                fault = PIXEL_FAULT_MEM;
                break;
            }
            if (kind == PXK_STORE) {
                uint64_t v = R[in.rs2 & 31];
                for (unsigned b = 0; b < w; b++)
                    p[b] = (uint8_t)(v >> (8 * b));
            } else {
                uint64_t v = 0;
                int div = 0;
                for (unsigned b = 0; b < w; b++)
                    v |= (uint64_t)p[b] << (8 * b);
                R[in.rd & 31] = pixel_alu(in.op, 0, 0, 0, in.rs1, in.rs2, v, &div);
            }
        } else if (kind == PXK_CTRL) {
            if (in.op == PX_HALT || (in.op == PX_RET && depth == 0)) {
                steps++;
                break;
            }
            if (in.op == PX_RET) {
                next = stack[--depth];
            } else if (in.op != PX_NOP) {   // JUMP, JZ, JNZ, CALL
                bool taken = in.op == PX_JUMP || in.op == PX_CALL ||
                             (in.op == PX_JZ ? R[in.rd & 31] == 0 : R[in.rd & 31] != 0);
                if (taken) {
                    int64_t target = (int64_t)pc + 1 + pixel_insn_off16(in);
                    if (target < 0 || target > (int64_t)k.ninsns) {
                        fault = PIXEL_FAULT_JUMP;
                        break;
                    }
                    if (in.op == PX_CALL) {
                        if (depth == PIXEL_CALL_DEPTH) {
                            fault = PIXEL_FAULT_STACK;
                            break;
                        }
                        stack[depth++] = pc + 1;
                    }
                    next = (uint32_t)target;
                }
            }
        } else {
            fault = PIXEL_FAULT_DECODE;
            break;
        }
        steps++;
        pc = next;
    }
#pragma unroll
    for (int r = 0; r < PIXEL_NREGS; r++)
        k.regs[r * n + i] = R[r];
    k.fault[i] = fault;
    k.fault_pc[i] = pc;
}

static double ms_since(cudaEvent_t a, cudaEvent_t b)
{
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, a, b));
    return ms;
}

static int replicate_job(struct pixel_job *j, uint32_t k)
{
    if (k <= 1)
        return 0;
    uint64_t n = j->nstates, m = n * k;
    char err[256];
    struct pixel_job r;
    if (m > 0xffffffffull ||
        pixel_job_alloc(&r, j->ninsns, (uint32_t)m, j->nregions, j->region_size, err, sizeof err)) {
        fprintf(stderr, "pixel-cuda: --replicate %u: too many states or out of memory\n", k);
        return -1;
    }
    memcpy(r.prog, j->prog, sizeof *j->prog * j->ninsns);
    r.step_limit = j->step_limit;
    uint64_t win = pixel_job_window(j);
    for (uint32_t c = 0; c < k; c++) {
        for (int x = 0; x < 32; x++)
            memcpy(r.regs + (uint64_t)x * m + c * n, j->regs + (uint64_t)x * n, n * 8);
        for (uint32_t x = 0; x < j->nregions; x++)
            memcpy(r.region_base + (uint64_t)x * m + c * n, j->region_base + (uint64_t)x * n, n * 8);
        memcpy(r.mem + c * n * win, j->mem, n * win);
    }
    pixel_job_free(j);
    *j = r;
    return 0;
}

// Register rows a program reads or writes (uploaded) and writes (downloaded),
// and whether it touches memory at all / stores.
static void usage_masks(const struct pixel_job *j, uint32_t *in, uint32_t *out, bool *mem, bool *store)
{
    *in = *out = 0;
    *mem = *store = false;
    for (uint32_t x = 0; x < j->ninsns; x++) {
        struct pixel_insn i = j->prog[x];
        int f = pixel_op_form(i.op), kind = pixel_op_kind(i.op);
        uint32_t rd = 1u << (i.rd & 31), r1 = 1u << (i.rs1 & 31), r2 = 1u << (i.rs2 & 31);
        switch (f) {
        case PXF_RR: *in |= rd | r1; *out |= rd; break;
        case PXF_RRR: *in |= rd | r1 | r2; *out |= rd; break;
        case PXF_RRU6: case PXF_RRS8: case PXF_RRU8: case PXF_LOAD: *in |= rd | r1; *out |= rd; break;
        case PXF_RS16: case PXF_RU16: *in |= rd; *out |= rd; break;
        case PXF_STORE: *in |= r1 | r2; break;
        case PXF_RJ: *in |= rd; break;
        default: break;
        }
        if (kind == PXK_LOAD || kind == PXK_STORE)
            *mem = true;
        if (kind == PXK_STORE)
            *store = true;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 3 ? stderr : stdout,
                "usage: pixel-cuda JOB RESULT [--repeat R] [--replicate K] [--block B] [--pinned]\n"
                "Runs the Pixel microcode of a batch file on the GPU, one state per thread,\n"
                "and writes the result file (RESULT '-': none).  See docs/pixel-gpu.md.\n");
        return argc < 3 ? 2 : 0;
    }
    int repeat = 5, block = 128, pinned = 0;
    uint32_t rep = 1;
    for (int a = 3; a < argc; a++) {
        if (strcmp(argv[a], "--repeat") == 0 && a + 1 < argc)
            repeat = atoi(argv[++a]);
        else if (strcmp(argv[a], "--replicate") == 0 && a + 1 < argc)
            rep = (uint32_t)strtoul(argv[++a], NULL, 0);
        else if (strcmp(argv[a], "--block") == 0 && a + 1 < argc)
            block = atoi(argv[++a]);
        else if (strcmp(argv[a], "--pinned") == 0)
            pinned = 1;
        else {
            fprintf(stderr, "pixel-cuda: unknown option '%s'\n", argv[a]);
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    if (block < 32 || block > 1024)
        block = 128;
    char err[512];
    struct pixel_job j;
    if (pixel_job_read(argv[1], &j, err, sizeof err)) {
        fprintf(stderr, "pixel-cuda: %s\n", err);
        return 2;
    }
    if (replicate_job(&j, rep))
        return 2;
    int dev = 0;
    cudaDeviceProp prop;
    if (cudaGetDeviceCount(&dev) != cudaSuccess || dev == 0) {
        fprintf(stderr, "pixel-cuda: no CUDA device\n");
        return 4;
    }
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    CUDA_OK(cudaFree(0));   // create the context before timing anything

    const uint64_t n = j.nstates, win = pixel_job_window(&j);
    const size_t regs_b = 32 * n * 8, bases_b = j.nregions * n * 8, mem_b = win * n;
    uint32_t words[PIXEL_MAX_INSNS];
    for (uint32_t x = 0; x < j.ninsns; x++)
        words[x] = pixel_insn_word(j.prog[x]);
    if (j.ninsns)
        CUDA_OK(cudaMemcpyToSymbol(c_prog, words, j.ninsns * 4));

    kargs k;
    memset(&k, 0, sizeof k);
    k.ninsns = j.ninsns;
    k.nstates = (uint32_t)n;
    k.step_limit = j.step_limit;
    k.nregions = j.nregions;
    k.window = win;
    uint64_t off = 0;
    for (uint32_t x = 0; x < j.nregions; x++) {
        k.region_size[x] = j.region_size[x];
        k.region_off[x] = off;
        off += j.region_size[x];
    }
    uint64_t *d_regs, *d_bases, *d_regs0;
    uint8_t *d_mem, *d_mem0, *d_fault;
    uint32_t *d_pc;
    CUDA_OK(cudaMalloc(&d_regs, regs_b + 8));
    CUDA_OK(cudaMalloc(&d_regs0, regs_b + 8));
    CUDA_OK(cudaMalloc(&d_bases, bases_b + 8));
    CUDA_OK(cudaMalloc(&d_mem, mem_b + 8));
    CUDA_OK(cudaMalloc(&d_mem0, mem_b + 8));
    CUDA_OK(cudaMalloc(&d_fault, n + 8));
    CUDA_OK(cudaMalloc(&d_pc, n * 4 + 8));
    // pinned staging would be faster; plain pageable memory is what the
    // offload stage would hand over, so that is what "with transfers" measures.
    k.regs = d_regs;
    k.bases = d_bases;
    k.mem = d_mem;
    k.fault = d_fault;
    k.fault_pc = d_pc;
    const unsigned grid = (unsigned)((n + block - 1) / block);

    cudaEvent_t e0, e1, e2, e3;
    CUDA_OK(cudaEventCreate(&e0));
    CUDA_OK(cudaEventCreate(&e1));
    CUDA_OK(cudaEventCreate(&e2));
    CUDA_OK(cudaEventCreate(&e3));

    uint32_t rin, rout;
    bool has_mem, has_store;
    usage_masks(&j, &rin, &rout, &has_mem, &has_store);
    CUDA_OK(cudaMemset(d_regs, 0, regs_b + 8));
    CUDA_OK(cudaMemset(d_mem, 0, mem_b + 8));
    CUDA_OK(cudaMemset(d_bases, 0, bases_b + 8));
    if (pinned) {
        CUDA_OK(cudaHostRegister(j.regs, regs_b + 8, cudaHostRegisterDefault));
        CUDA_OK(cudaHostRegister(j.mem, mem_b + 1, cudaHostRegisterDefault));
        CUDA_OK(cudaHostRegister(j.fault, n + 1, cudaHostRegisterDefault));
        CUDA_OK(cudaHostRegister(j.fault_pc, n * 4 + 4, cudaHostRegisterDefault));
        if (bases_b)
            CUDA_OK(cudaHostRegister(j.region_base, bases_b, cudaHostRegisterDefault));
    }

    // Run 1: complete, timed with its transfers; its results are the output.
    CUDA_OK(cudaEventRecord(e0));
    for (int r = 0; r < 32; r++)
        if (rin >> r & 1)
            CUDA_OK(cudaMemcpy(d_regs + r * n, j.regs + r * n, n * 8, cudaMemcpyHostToDevice));
    if (has_mem) {
        CUDA_OK(cudaMemcpy(d_bases, j.region_base, bases_b, cudaMemcpyHostToDevice));
        CUDA_OK(cudaMemcpy(d_mem, j.mem, mem_b, cudaMemcpyHostToDevice));
    }
    CUDA_OK(cudaEventRecord(e1));
    if (n)
        pixel_kernel<<<grid, block>>>(k);
    CUDA_OK(cudaGetLastError());
    CUDA_OK(cudaEventRecord(e2));
    for (int r = 0; r < 32; r++)
        if (rout >> r & 1)
            CUDA_OK(cudaMemcpy(j.regs + r * n, d_regs + r * n, n * 8, cudaMemcpyDeviceToHost));
    if (has_store)
        CUDA_OK(cudaMemcpy(j.mem, d_mem, mem_b, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(j.fault, d_fault, n, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(j.fault_pc, d_pc, n * 4, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaEventRecord(e3));
    CUDA_OK(cudaEventSynchronize(e3));
    double h2d = ms_since(e0, e1), kern1 = ms_since(e1, e2), d2h = ms_since(e2, e3),
           total = ms_since(e0, e3);

    // Kernel-only runs on fresh device-side copies of the input.
    double best = kern1;
    if (repeat > 1) {
        struct pixel_job in;
        if (pixel_job_read(argv[1], &in, err, sizeof err) || replicate_job(&in, rep)) {
            fprintf(stderr, "pixel-cuda: %s\n", err);
            return 2;
        }
        CUDA_OK(cudaMemcpy(d_regs0, in.regs, regs_b, cudaMemcpyHostToDevice));
        CUDA_OK(cudaMemcpy(d_mem0, in.mem, mem_b, cudaMemcpyHostToDevice));
        CUDA_OK(cudaMemcpy(d_bases, in.region_base, bases_b, cudaMemcpyHostToDevice));
        pixel_job_free(&in);
        for (int r = 1; r < repeat; r++) {
            CUDA_OK(cudaMemcpy(d_regs, d_regs0, regs_b, cudaMemcpyDeviceToDevice));
            CUDA_OK(cudaMemcpy(d_mem, d_mem0, mem_b, cudaMemcpyDeviceToDevice));
            CUDA_OK(cudaEventRecord(e1));
            if (n)
                pixel_kernel<<<grid, block>>>(k);
            CUDA_OK(cudaGetLastError());
            CUDA_OK(cudaEventRecord(e2));
            CUDA_OK(cudaEventSynchronize(e2));
            double t = ms_since(e1, e2);
            if (t < best)
                best = t;
        }
    }
    long faulted = 0;
    for (uint64_t x = 0; x < n; x++)
        faulted += j.fault[x] != 0;
    printf("RESULT executor=cuda%s device=\"%s\" states=%llu faulted=%ld regs_in=%d regs_out=%d "
           "h2d_ms=%.3f kernel_ms=%.3f d2h_ms=%.3f total_ms=%.3f kernel_states_per_s=%.4g "
           "total_states_per_s=%.4g\n",
           pinned ? "-pinned" : "", prop.name, (unsigned long long)n, faulted,
           __builtin_popcount(rin), __builtin_popcount(rout), h2d, best, d2h, total,
           best > 0 ? (double)n / (best * 1e-3) : 0.0, total > 0 ? (double)n / (total * 1e-3) : 0.0);
    if (pinned) {
        cudaHostUnregister(j.regs);
        cudaHostUnregister(j.mem);
        cudaHostUnregister(j.fault);
        cudaHostUnregister(j.fault_pc);
        if (bases_b)
            cudaHostUnregister(j.region_base);
    }
    j.has_results = true;
    int rc = 0;
    if (strcmp(argv[2], "-") != 0 && pixel_job_write(argv[2], &j, err, sizeof err)) {
        fprintf(stderr, "pixel-cuda: %s\n", err);
        rc = 2;
    }
    cudaFree(d_regs);
    cudaFree(d_regs0);
    cudaFree(d_bases);
    cudaFree(d_mem);
    cudaFree(d_mem0);
    cudaFree(d_fault);
    cudaFree(d_pc);
    pixel_job_free(&j);
    return rc;
}
