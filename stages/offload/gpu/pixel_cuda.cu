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
//
//   pixel-cuda JOB RESULT --compact [--chunks C] [--streams S] ...
//
// moves only what the block needs (pixel_xfer_plan, common/pixel_gpufile.h):
// live-in register rows and flags packed as bits up, live-out rows, packed
// flags and a 16-bit status (fault kind, pc) down, memory windows only for
// memory microcode; chunked over streams so that copies and kernels overlap.
// Its result carries R0..R23 (the guest registers), memory and faults.
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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


// What a thread needs to address its state's memory window.
struct memview {
    uint32_t nstates, nregions;
    uint32_t region_size[4];
    uint64_t region_off[4];
    uint64_t window;
    const uint64_t *bases;
    uint8_t *mem;
};

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
__device__ __forceinline__ uint8_t *win_addr(const memview &k, uint32_t i, uint64_t addr, unsigned w)
{
    for (uint32_t j = 0; j < k.nregions; j++) {
        uint64_t base = k.bases[(uint64_t)j * k.nstates + i];
        if (pixel_in_region(base, k.region_size[j], addr, w))
            return k.mem + (uint64_t)i * k.window + k.region_off[j] + (addr - base);
    }
    return NULL;
}

// Runs the microcode in constant memory on state i (registers R), exactly as
// the reference interpreter does; returns the fault kind and sets *pc_out.
__device__ __forceinline__ uint8_t run_state(const memview &k, uint32_t i, uint64_t *R,
                                              uint32_t ninsns, uint32_t step_limit, uint32_t *pc_out)
{
    uint32_t stack[PIXEL_CALL_DEPTH];
    uint32_t pc = 0, steps = 0, depth = 0;
    uint8_t fault = PIXEL_FAULT_NONE;
    const uint32_t limit = step_limit ? step_limit : PIXEL_DEFAULT_STEP_LIMIT;

    while (pc < ninsns) {
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
                    if (target < 0 || target > (int64_t)ninsns) {
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
    *pc_out = pc;
    return fault;
}

__device__ __forceinline__ memview view_of(const kargs &k)
{
    memview m;
    m.nstates = k.nstates;
    m.nregions = k.nregions;
    for (int x = 0; x < 4; x++) {
        m.region_size[x] = k.region_size[x];
        m.region_off[x] = k.region_off[x];
    }
    m.window = k.window;
    m.bases = k.bases;
    m.mem = k.mem;
    return m;
}

// The full-state path: all 32 register rows in place.
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
    uint32_t pc;
    uint8_t fault = run_state(view_of(k), i, R, k.ninsns, k.step_limit, &pc);
#pragma unroll
    for (int r = 0; r < PIXEL_NREGS; r++)
        k.regs[r * n + i] = R[r];
    k.fault[i] = fault;
    k.fault_pc[i] = pc;
}

// The compact path (pixel_xfer_plan): live-in rows and packed flags in,
// live-out rows, packed flags and a 16-bit status out, for the states
// [first, first + count) of one pipeline chunk.
struct cargs {
    memview m;
    uint32_t ninsns, step_limit, first, count;
    uint32_t nin, nout, in_flags, out_flags;
    uint32_t nin32, nout32, in_uniform, status_known;
    uint8_t in_reg[32], out_reg[32], in32_reg[32], out32_reg[32];
    uint64_t in_val[32];     // uniform inputs (plan.in_val)
    const uint64_t *in;      // nin rows of nstates
    const uint32_t *in32;    // nin32 rows of nstates (low halves; zero-extended here)
    uint64_t *out;           // nout rows of nstates
    uint32_t *out32;         // nout32 rows of nstates (low halves)
    const uint8_t *fin;      // nstates packed live-in flags
    uint8_t *fout;           // nstates packed live-out flags
    uint16_t *status;        // nstates PIXEL_XFER_STATUS words (unless status_known)
};

__global__ void pixel_kernel_compact(cargs k)
{
    uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= k.count)
        return;
    const uint32_t i = k.first + t;
    const uint64_t n = k.m.nstates;
    uint64_t R[PIXEL_NREGS];
#pragma unroll
    for (int r = 0; r < PIXEL_NREGS; r++)
        R[r] = 0;   // never read unless uploaded (the plan guarantees it)
    for (uint32_t s = 0; s < k.nin; s++)
        R[k.in_reg[s]] = k.in[s * n + i];
    for (uint32_t s = 0; s < k.nin32; s++)
        R[k.in32_reg[s]] = k.in32[s * n + i];
    if (k.in_uniform)
        for (int r = 0; r < PIXEL_NREGS; r++)
            if (k.in_uniform >> r & 1)
                R[r] = k.in_val[r];
    if (k.in_flags) {
        const uint32_t b = k.fin[i];
        for (int r = 16; r < 24; r++)
            if (k.in_flags >> r & 1)
                R[r] = b >> PIXEL_FLAG_BIT(r) & 1;
    }
    uint32_t pc;
    uint8_t fault = run_state(k.m, i, R, k.ninsns, k.step_limit, &pc);
    for (uint32_t s = 0; s < k.nout; s++)
        k.out[s * n + i] = R[k.out_reg[s]];
    for (uint32_t s = 0; s < k.nout32; s++)
        k.out32[s * n + i] = (uint32_t)R[k.out32_reg[s]];
    if (k.out_flags) {
        uint32_t b = 0;
        for (int r = 16; r < 24; r++)
            if (k.out_flags >> r & 1)
                b |= (uint32_t)(R[r] & 1) << PIXEL_FLAG_BIT(r);
        k.fout[i] = (uint8_t)b;
    }
    if (!k.status_known)
        k.status[i] = PIXEL_XFER_STATUS(fault, pc);
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

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// The compact, pipelined path: the plan's live-in data goes up and its
// live-out data comes back, chunk by chunk over several streams so that
// host->device copies, kernels and device->host copies overlap.  All host
// buffers are page-locked (registered or allocated before timing, as a
// resident offload service keeps them).  total_ms: best of R complete
// pipelines (every chunk's inputs up, kernel, outputs down); kernel_ms: best
// of R kernels over all states, no copies.  pack_ms / expand_ms: the host
// work of packing live-in flags and expanding the compact results into full
// register rows, timed apart (wall clock, one thread).  Results (expanded)
// replace j's arrays.
static int run_compact(struct pixel_job &j, const cudaDeviceProp &prop, int repeat, int block,
                       int nchunks, int nstreams, bool wide)
{
    struct pixel_xfer_plan p;
    pixel_xfer_plan_make_ex(&j, &p, !wide);
    const uint64_t n = j.nstates, win = pixel_job_window(&j);
    const size_t bases_b = j.nregions * n * 8, mem_b = win * n;
    cargs k;
    memset(&k, 0, sizeof k);
    k.m.nstates = (uint32_t)n;
    k.m.nregions = j.nregions;
    k.m.window = win;
    uint64_t off = 0;
    for (uint32_t x = 0; x < j.nregions; x++) {
        k.m.region_size[x] = j.region_size[x];
        k.m.region_off[x] = off;
        off += j.region_size[x];
    }
    k.ninsns = j.ninsns;
    k.step_limit = j.step_limit;
    k.in_flags = p.in_flags;
    k.out_flags = p.out_flags;
    k.in_uniform = p.in_uniform;
    k.status_known = p.status_known;
    for (int r = 0; r < 32; r++) {
        k.in_val[r] = p.in_val[r];
        if (p.in_narrow >> r & 1)
            k.in32_reg[k.nin32++] = (uint8_t)r;
        else if (p.in_rows >> r & 1)
            k.in_reg[k.nin++] = (uint8_t)r;
        if (p.out_narrow >> r & 1)
            k.out32_reg[k.nout32++] = (uint8_t)r;
        else if (p.out_rows >> r & 1)
            k.out_reg[k.nout++] = (uint8_t)r;
    }
    // page-locked host side: the job's arrays registered, result buffers allocated
    CUDA_OK(cudaHostRegister(j.regs, 32 * n * 8 + 8, cudaHostRegisterDefault));
    if (p.mem_in) {
        CUDA_OK(cudaHostRegister(j.mem, mem_b + 1, cudaHostRegisterDefault));
        if (bases_b)
            CUDA_OK(cudaHostRegister(j.region_base, bases_b, cudaHostRegisterDefault));
    }
    uint8_t *h_fin, *h_fout, *h_mem = NULL;
    uint64_t *h_out;
    uint32_t *h_in32, *h_out32;
    uint16_t *h_status;
    CUDA_OK(cudaMallocHost(&h_fin, n + 1));
    CUDA_OK(cudaMallocHost(&h_fout, n + 1));
    CUDA_OK(cudaMallocHost(&h_out, k.nout * n * 8 + 8));
    CUDA_OK(cudaMallocHost(&h_in32, k.nin32 * n * 4 + 8));
    CUDA_OK(cudaMallocHost(&h_out32, k.nout32 * n * 4 + 8));
    CUDA_OK(cudaMallocHost(&h_status, n * 2 + 2));
    if (p.mem_out)
        CUDA_OK(cudaMallocHost(&h_mem, mem_b + 1));
    double t = wall_ms();
    if (p.in_flags)
        pixel_xfer_pack_flags(&j, &p, 0, n, h_fin);
    for (uint32_t x = 0; x < k.nin32; x++) {   // the low halves of the 32-bit live-in rows
        const uint64_t *src = j.regs + (uint64_t)k.in32_reg[x] * n;
        uint32_t *dst = h_in32 + (uint64_t)x * n;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = (uint32_t)src[i];
    }
    const double pack_ms = wall_ms() - t;

    uint64_t *d_in, *d_out, *d_bases;
    uint32_t *d_in32, *d_out32;
    uint8_t *d_fin, *d_fout, *d_mem;
    uint16_t *d_status;
    CUDA_OK(cudaMalloc(&d_in, k.nin * n * 8 + 8));
    CUDA_OK(cudaMalloc(&d_out, k.nout * n * 8 + 8));
    CUDA_OK(cudaMalloc(&d_in32, k.nin32 * n * 4 + 8));
    CUDA_OK(cudaMalloc(&d_out32, k.nout32 * n * 4 + 8));
    CUDA_OK(cudaMalloc(&d_fin, n + 8));
    CUDA_OK(cudaMalloc(&d_fout, n + 8));
    CUDA_OK(cudaMalloc(&d_status, n * 2 + 8));
    CUDA_OK(cudaMalloc(&d_bases, bases_b + 8));
    CUDA_OK(cudaMalloc(&d_mem, mem_b + 8));
    k.in = d_in;
    k.out = d_out;
    k.in32 = d_in32;
    k.out32 = d_out32;
    k.fin = d_fin;
    k.fout = d_fout;
    k.status = d_status;
    k.m.bases = d_bases;
    k.m.mem = d_mem;

    if (nstreams < 1)
        nstreams = 1;
    if (nstreams > 16)
        nstreams = 16;
    // default: 16 chunks, but one below 2^17 states, where each chunk's
    // copy and launch overheads cost more than the overlap gains (measured:
    // add32 at 10^4 states 2.6e8 states/s in one chunk, 5.8e7 in 16)
    if (nchunks < 1)
        nchunks = n < (1u << 17) ? 1 : 16;
    uint64_t chunk = (n + nchunks - 1) / nchunks;
    chunk = (chunk + 1023) / 1024 * 1024;
    if (chunk == 0)
        chunk = 1024;
    cudaStream_t st[16];
    cudaEvent_t done[16], e0, e1, e2, e3;
    for (int s = 0; s < nstreams; s++) {
        CUDA_OK(cudaStreamCreateWithFlags(&st[s], cudaStreamNonBlocking));
        CUDA_OK(cudaEventCreateWithFlags(&done[s], cudaEventDisableTiming));
    }
    CUDA_OK(cudaEventCreate(&e0));
    CUDA_OK(cudaEventCreate(&e1));
    CUDA_OK(cudaEventCreate(&e2));
    CUDA_OK(cudaEventCreate(&e3));

    double best_total = 1e300;
    for (int rep = 0; rep < repeat; rep++) {
        CUDA_OK(cudaEventRecord(e0, st[0]));
        for (int s = 1; s < nstreams; s++)
            CUDA_OK(cudaStreamWaitEvent(st[s], e0, 0));
        int c = 0;
        for (uint64_t first = 0; first < n; first += chunk, c++) {
            const uint64_t cnt = n - first < chunk ? n - first : chunk;
            cudaStream_t s = st[c % nstreams];
            for (uint32_t x = 0; x < k.nin; x++)
                CUDA_OK(cudaMemcpyAsync(d_in + x * n + first, j.regs + k.in_reg[x] * n + first,
                                        cnt * 8, cudaMemcpyHostToDevice, s));
            for (uint32_t x = 0; x < k.nin32; x++)
                CUDA_OK(cudaMemcpyAsync(d_in32 + x * n + first, h_in32 + x * n + first, cnt * 4,
                                        cudaMemcpyHostToDevice, s));
            if (p.in_flags)
                CUDA_OK(cudaMemcpyAsync(d_fin + first, h_fin + first, cnt, cudaMemcpyHostToDevice, s));
            if (p.mem_in) {
                for (uint32_t x = 0; x < j.nregions; x++)
                    CUDA_OK(cudaMemcpyAsync(d_bases + x * n + first, j.region_base + x * n + first,
                                            cnt * 8, cudaMemcpyHostToDevice, s));
                CUDA_OK(cudaMemcpyAsync(d_mem + first * win, j.mem + first * win, cnt * win,
                                        cudaMemcpyHostToDevice, s));
            }
            k.first = (uint32_t)first;
            k.count = (uint32_t)cnt;
            pixel_kernel_compact<<<(unsigned)((cnt + block - 1) / block), block, 0, s>>>(k);
            CUDA_OK(cudaGetLastError());
            for (uint32_t x = 0; x < k.nout; x++)
                CUDA_OK(cudaMemcpyAsync(h_out + x * n + first, d_out + x * n + first, cnt * 8,
                                        cudaMemcpyDeviceToHost, s));
            for (uint32_t x = 0; x < k.nout32; x++)
                CUDA_OK(cudaMemcpyAsync(h_out32 + x * n + first, d_out32 + x * n + first, cnt * 4,
                                        cudaMemcpyDeviceToHost, s));
            if (p.out_flags)
                CUDA_OK(cudaMemcpyAsync(h_fout + first, d_fout + first, cnt, cudaMemcpyDeviceToHost, s));
            if (!p.status_known)
                CUDA_OK(cudaMemcpyAsync(h_status + first, d_status + first, cnt * 2,
                                        cudaMemcpyDeviceToHost, s));
            if (p.mem_out)
                CUDA_OK(cudaMemcpyAsync(h_mem + first * win, d_mem + first * win, cnt * win,
                                        cudaMemcpyDeviceToHost, s));
        }
        for (int s = 1; s < nstreams; s++) {
            CUDA_OK(cudaEventRecord(done[s], st[s]));
            CUDA_OK(cudaStreamWaitEvent(st[0], done[s], 0));
        }
        CUDA_OK(cudaEventRecord(e3, st[0]));
        CUDA_OK(cudaEventSynchronize(e3));
        double tt = ms_since(e0, e3);
        if (tt < best_total)
            best_total = tt;
    }
    // kernel alone over all states (inputs are on the device; outputs go to
    // separate rows, so each run is the same computation; memory windows are
    // re-run in place, which changes the data, not the work)
    double best_kern = 1e300;
    k.first = 0;
    k.count = (uint32_t)n;
    for (int rep = 0; rep < repeat && n; rep++) {
        CUDA_OK(cudaEventRecord(e1, st[0]));
        pixel_kernel_compact<<<(unsigned)((n + block - 1) / block), block, 0, st[0]>>>(k);
        CUDA_OK(cudaGetLastError());
        CUDA_OK(cudaEventRecord(e2, st[0]));
        CUDA_OK(cudaEventSynchronize(e2));
        double tk = ms_since(e1, e2);
        if (tk < best_kern)
            best_kern = tk;
    }
    CUDA_OK(cudaDeviceSynchronize());
    t = wall_ms();
    pixel_xfer_expand(&j, &p, h_out, h_out32, p.out_flags ? h_fout : NULL, p.status_known ? NULL : h_status,
                      h_mem);
    const double expand_ms = wall_ms() - t;
    long faulted = 0;
    for (uint64_t x = 0; x < n; x++)
        faulted += j.fault[x] != 0;
    const double host_ms = best_total + pack_ms + expand_ms;
    printf("RESULT executor=cuda-compact device=\"%s\" states=%llu faulted=%ld bytes_in=%u "
           "bytes_out=%u in_rows=%#x in_narrow=%#x in_uniform=%#x in_flags=%#x out_rows=%#x "
           "out_narrow=%#x out_uniform=%#x out_flags=%#x status=%d mem_in=%d mem_out=%d "
           "chunks=%llu streams=%d kernel_ms=%.3f total_ms=%.3f pack_ms=%.3f expand_ms=%.3f "
           "kernel_states_per_s=%.4g total_states_per_s=%.4g host_states_per_s=%.4g "
           "gb_per_s=%.1f\n",
           prop.name, (unsigned long long)n, faulted, p.bytes_in, p.bytes_out, p.in_rows, p.in_narrow,
           p.in_uniform, p.in_flags, p.out_rows, p.out_narrow, p.out_uniform, p.out_flags,
           !p.status_known, p.mem_in, p.mem_out, (unsigned long long)((n + chunk - 1) / chunk),
           nstreams, n ? best_kern : 0.0, best_total, pack_ms, expand_ms,
           n && best_kern > 0 ? n / (best_kern * 1e-3) : 0.0,
           best_total > 0 ? n / (best_total * 1e-3) : 0.0, host_ms > 0 ? n / (host_ms * 1e-3) : 0.0,
           best_total > 0 ? (double)n * (p.bytes_in + p.bytes_out) / (best_total * 1e-3) / 1e9 : 0.0);
    for (int s = 0; s < nstreams; s++) {
        cudaStreamDestroy(st[s]);
        cudaEventDestroy(done[s]);
    }
    cudaHostUnregister(j.regs);
    if (p.mem_in) {
        cudaHostUnregister(j.mem);
        if (bases_b)
            cudaHostUnregister(j.region_base);
    }
    cudaFreeHost(h_fin);
    cudaFreeHost(h_fout);
    cudaFreeHost(h_out);
    cudaFreeHost(h_status);
    cudaFreeHost(h_in32);
    cudaFreeHost(h_out32);
    cudaFree(d_in32);
    cudaFree(d_out32);
    if (h_mem)
        cudaFreeHost(h_mem);
    cudaFree(d_in);
    cudaFree(d_out);
    cudaFree(d_fin);
    cudaFree(d_fout);
    cudaFree(d_status);
    cudaFree(d_bases);
    cudaFree(d_mem);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--probe") == 0) {   // for the offload stage: is there a GPU?
        int ndev = 0;
        cudaDeviceProp prop;
        if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0 ||
            cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
            printf("PROBE no CUDA device\n");
            return 4;
        }
        printf("PROBE device=\"%s\" devices=%d\n", prop.name, ndev);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 3 ? stderr : stdout,
                "usage: pixel-cuda JOB RESULT [--repeat R] [--replicate K] [--block B] [--pinned]\n"
                "       pixel-cuda --probe     (prints the device; exit 4 without one)\n"
                "       pixel-cuda JOB RESULT --compact [--chunks C] [--streams S] [--repeat R]\n"
                "                             [--replicate K] [--block B] [--wide]\n"
                "Runs the Pixel microcode of a batch file on the GPU, one state per thread,\n"
                "and writes the result file (RESULT '-': none).  --compact moves only the\n"
                "block's live-in and live-out data (packed flags, 16-bit status), pipelined\n"
                "over C chunks (16; 1 below 131072 states) and S streams (4); its result\n"
                "carries R0..R23, memory and faults (pixel-gpu-tool compare --guest).\n"
                "--wide: without the fewer-bytes reductions (uniform rows, 32-bit rows,\n"
                "uniform results, no status for fault-free blocks), for comparison.\n"
                "See docs/pixel-gpu.md.\n");
        return argc < 3 ? 2 : 0;
    }
    int repeat = 5, block = 128, pinned = 0, compact = 0, chunks = 0, streams = 4, wide = 0;
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
        else if (strcmp(argv[a], "--compact") == 0)
            compact = 1;
        else if (strcmp(argv[a], "--wide") == 0)
            wide = 1;
        else if (strcmp(argv[a], "--chunks") == 0 && a + 1 < argc)
            chunks = atoi(argv[++a]);
        else if (strcmp(argv[a], "--streams") == 0 && a + 1 < argc)
            streams = atoi(argv[++a]);
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
    if (compact) {
        uint32_t words[PIXEL_MAX_INSNS];
        for (uint32_t x = 0; x < j.ninsns; x++)
            words[x] = pixel_insn_word(j.prog[x]);
        if (j.ninsns)
            CUDA_OK(cudaMemcpyToSymbol(c_prog, words, j.ninsns * 4));
        int rc = run_compact(j, prop, repeat, block, chunks, streams, wide != 0);
        j.has_results = true;
        if (!rc && strcmp(argv[2], "-") != 0 && pixel_job_write(argv[2], &j, err, sizeof err)) {
            fprintf(stderr, "pixel-cuda: %s\n", err);
            rc = 2;
        }
        pixel_job_free(&j);
        return rc;
    }

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
