/* bench_gpu_harness.c — the x86 side of bench_gpu: runs a benchmark
 * block's real x86 instructions over the states of a batch file, natively
 * or under QEMU TCG (the static build run by the static qemu-x86_64), and
 * checks the block against its Pixel microcode on the first states.
 *
 *   bench_gpu_harness BLOCK JOB [--replicate K] [--label NAME] [--check N]
 *       BLOCK: add32 | alu_mix | mem_sum (stages/offload/gpu/programs/BLOCK.pxa)
 *       prints "RESULT executor=NAME block=BLOCK states=N seconds=S states_per_s=R"
 *   bench_gpu_harness            (as `make bench-gpu_harness` runs it)
 *       10^6 generated states per block: native x86 beside the Pixel batched
 *       CPU executor and the reference interpreter, in one run.
 *
 * The harness loop reads each state's inputs from the structure-of-arrays
 * batch and writes the live-out registers back, the same work the Pixel
 * executors do per state.  Built static (bench/bench_gpu.sh --prepare) so
 * that it runs on the GPU machine and under qemu-x86_64. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pixel_asm.h"
#include "pixel_batch.h"
#include "pixel_gen.h"
#include "pixel_gpufile.h"

enum block { B_ADD32, B_ALU_MIX, B_MEM_SUM, B_COUNT };
static const char *const block_name[B_COUNT] = { "add32", "alu_mix", "mem_sum" };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define REG(j, r, i) ((j)->regs[(uint64_t)(r) * (j)->nstates + (i)])

/* Host address of guest address a in region k of state i. */
static uint8_t *host_addr(const struct pixel_job *j, uint64_t i, uint32_t k, uint64_t a)
{
    uint64_t off = 0;
    for (uint32_t x = 0; x < k; x++)
        off += j->region_size[x];
    return j->mem + i * pixel_job_window(j) + off + (a - j->region_base[(uint64_t)k * j->nstates + i]);
}

/* Runs the block's x86 code over every state; live-outs written back. */
static void run_x86(enum block b, struct pixel_job *j)
{
    uint64_t n = j->nstates;
    switch (b) {
    case B_ADD32:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t a = REG(j, 0, i), c = REG(j, 3, i), fl;
            /* add eax, ebx; lahf (SF ZF AF PF CF into AH); seto al */
            __asm__ volatile("addl %k[b], %k[a]\n\tlahf\n\tseto %%al"
                             : [a] "+r"(a), "=a"(fl) : [b] "r"(c) : "cc");
            REG(j, 0, i) = a;
            REG(j, 16, i) = (fl >> 8) & 1;
            REG(j, 17, i) = (fl >> 10) & 1;
            REG(j, 18, i) = (fl >> 12) & 1;
            REG(j, 19, i) = (fl >> 14) & 1;
            REG(j, 20, i) = (fl >> 15) & 1;
            REG(j, 21, i) = fl & 1;
            REG(j, 22, i) += 2;
        }
        break;
    case B_ALU_MIX:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t rax, rcx = REG(j, 1, i), rdi;
            uint64_t rbx = REG(j, 3, i), rdx = REG(j, 2, i), rsi = REG(j, 6, i);
            __asm__ volatile("lea 8(%[rbx],%[rcx],4), %[rax]\n\t"
                             "imul %[rdx], %[rax]\n\t"
                             "xor %[rsi], %[rax]\n\t"
                             "rol $13, %[rax]\n\t"
                             "popcnt %[rax], %[rcx]\n\t"
                             "mov %[rax], %[rdi]\n\t"
                             "bswap %[rdi]"
                             : [rax] "=&r"(rax), [rcx] "+r"(rcx), [rdi] "=&r"(rdi)
                             : [rbx] "r"(rbx), [rdx] "r"(rdx), [rsi] "r"(rsi)
                             : "cc");
            REG(j, 0, i) = rax;
            REG(j, 1, i) = rcx;
            REG(j, 7, i) = rdi;
            REG(j, 22, i) += 28;
        }
        break;
    case B_MEM_SUM:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t rsi = REG(j, 6, i), rdi = REG(j, 7, i), rax;
            uint8_t *hs = host_addr(j, i, 0, rsi), *hd = host_addr(j, i, 1, rdi);
            __asm__ volatile("mov (%[s]), %[rax]\n\t"
                             "add 8(%[s]), %[rax]\n\t"
                             "mov %[rax], (%[d])\n\t"
                             "add $16, %[s]\n\t"
                             "add $8, %[d]"
                             : [rax] "=&r"(rax), [s] "+r"(hs), [d] "+r"(hd)
                             :
                             : "memory", "cc");
            REG(j, 0, i) = rax;
            REG(j, 6, i) = rsi + 16;
            REG(j, 7, i) = rdi + 8;
            REG(j, 22, i) += 17;
        }
        break;
    default:
        break;
    }
}

/* Live-out registers of each block (the Pixel microcode may use scratch). */
static const uint32_t live_out[B_COUNT] = {
    1u << 0 | 0x3fu << 16 | 1u << 22,
    1u << 0 | 1u << 1 | 1u << 7 | 1u << 22,
    1u << 0 | 1u << 6 | 1u << 7 | 1u << 22,
};

static int read_prog(enum block b, struct pixel_insn *p, char *err, size_t errlen)
{
    char path[512];
    const char *root = getenv("TCGL_ROOT");
    snprintf(path, sizeof path, "%s/stages/offload/gpu/programs/%s.pxa", root ? root : ".",
             block_name[b]);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %.400s (run from the repository root or set TCGL_ROOT)", path);
        return -1;
    }
    static char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    return pixel_asm(text, p, PIXEL_MAX_INSNS, err, errlen);
}

/* The x86 results of the first `check` states against the reference
 * interpreter running the block's microcode: live-outs and memory. */
static int check_against_pixel(enum block b, const struct pixel_job *in, const struct pixel_job *out,
                               uint64_t check)
{
    static struct pixel_insn p[PIXEL_MAX_INSNS];
    char err[512];
    int n = read_prog(b, p, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "bench_gpu_harness: %s\n", err);
        return -1;
    }
    uint64_t win = pixel_job_window(in);
    uint8_t *mem = malloc(win + 1);
    for (uint64_t i = 0; i < check && i < in->nstates; i++) {
        struct pixel_state s;
        struct x86_mem m;
        memset(&m, 0, sizeof m);
        memcpy(mem, in->mem + i * win, win);
        m.nregions = in->nregions;
        uint64_t off = 0;
        for (uint32_t k = 0; k < in->nregions; k++) {
            m.region[k] = (struct x86_mem_region){ in->region_base[(uint64_t)k * in->nstates + i],
                                                   in->region_size[k], mem + off };
            off += in->region_size[k];
        }
        for (int r = 0; r < 32; r++)
            s.r[r] = REG(in, r, i);
        s.mem = &m;
        struct pixel_result res;
        if (pixel_run(p, (size_t)n, &s, 0, &res) != PIXEL_FAULT_NONE) {
            fprintf(stderr, "bench_gpu_harness: %s state %llu: microcode faulted (%s)\n",
                    block_name[b], (unsigned long long)i, pixel_fault_name(res.fault));
            free(mem);
            return -1;
        }
        for (int r = 0; r < 32; r++)
            if ((live_out[b] >> r & 1) && s.r[r] != REG(out, r, i)) {
                fprintf(stderr, "bench_gpu_harness: %s state %llu: R%d x86 %#llx, Pixel %#llx\n",
                        block_name[b], (unsigned long long)i, r, (unsigned long long)REG(out, r, i),
                        (unsigned long long)s.r[r]);
                free(mem);
                return -1;
            }
        if (memcmp(mem, out->mem + i * win, win) != 0) {
            fprintf(stderr, "bench_gpu_harness: %s state %llu: memory differs\n", block_name[b],
                    (unsigned long long)i);
            free(mem);
            return -1;
        }
    }
    free(mem);
    return 0;
}

static int copy_job(const struct pixel_job *a, struct pixel_job *b)
{
    char err[256];
    if (pixel_job_alloc(b, a->ninsns, a->nstates, a->nregions, a->region_size, err, sizeof err))
        return -1;
    uint64_t n = a->nstates;
    memcpy(b->prog, a->prog, sizeof *a->prog * a->ninsns);
    memcpy(b->regs, a->regs, 32 * n * 8);
    memcpy(b->region_base, a->region_base, a->nregions * n * 8);
    memcpy(b->mem, a->mem, pixel_job_window(a) * n);
    b->step_limit = a->step_limit;
    return 0;
}

static int tile(struct pixel_job *j, uint32_t k)
{
    if (k <= 1)
        return 0;
    struct pixel_job r;
    char err[256];
    uint64_t n = j->nstates, m = n * k, win = pixel_job_window(j);
    if (m > 0xffffffffull || pixel_job_alloc(&r, j->ninsns, (uint32_t)m, j->nregions,
                                             j->region_size, err, sizeof err))
        return -1;
    memcpy(r.prog, j->prog, sizeof *j->prog * j->ninsns);
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

static int lookup_block(const char *s)
{
    for (int b = 0; b < B_COUNT; b++)
        if (strcmp(s, block_name[b]) == 0)
            return b;
    return -1;
}

/* A job for block b with n generated states (mem_sum: RSI/RDI in range). */
static int gen_job(enum block b, uint32_t n, struct pixel_job *j)
{
    static struct pixel_insn p[PIXEL_MAX_INSNS];
    char err[512];
    int ni = read_prog(b, p, err, sizeof err);
    static const uint32_t sizes[2] = { 64, 32 };
    if (ni < 0 || pixel_job_alloc(j, (uint32_t)ni, n, 2, sizes, err, sizeof err)) {
        fprintf(stderr, "bench_gpu_harness: %s\n", err);
        return -1;
    }
    memcpy(j->prog, p, sizeof p[0] * (size_t)ni);
    struct pixel_gen g;
    pixel_gen_seed(&g, 42);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r[32], bases[2];
        pixel_gen_regs(&g, r, 2, sizes, bases);
        r[6] = bases[0] + pixel_gen_u64(&g) % (64 - 15);
        r[7] = bases[1] + pixel_gen_u64(&g) % (32 - 15);
        for (int k = 0; k < 32; k++)
            j->regs[(uint64_t)k * n + i] = r[k];
        j->region_base[i] = bases[0];
        j->region_base[n + i] = bases[1];
        for (int k = 0; k < 96; k++)
            j->mem[i * 96 + k] = (uint8_t)pixel_gen_u64(&g);
    }
    return 0;
}

static int self_bench(void)
{
    const uint32_t n = 1000000;
    printf("bench_gpu_harness: %u states per block; native x86 vs the Pixel CPU executors "
           "(same states, one run)\n", n);
    printf("%-8s %14s %14s %14s %10s\n", "block", "native st/s", "batch st/s", "interp st/s",
           "batch/nat");
    for (int b = 0; b < B_COUNT; b++) {
        struct pixel_job in, x, px;
        if (gen_job((enum block)b, n, &in) || copy_job(&in, &x) || copy_job(&in, &px))
            return 1;
        double t0 = now_s();
        run_x86((enum block)b, &x);
        double tn = now_s() - t0;
        if (check_against_pixel((enum block)b, &in, &x, 1000))
            return 1;
        struct pixel_batch bt = { px.nstates, px.nregions, { 64, 32, 0, 0 }, px.regs,
                                  px.region_base, px.mem, px.fault, px.fault_pc };
        char err[256];
        t0 = now_s();
        if (pixel_exec_batch(px.prog, px.ninsns, &bt, 0, err, sizeof err) < 0)
            return 1;
        double tb = now_s() - t0;
        t0 = now_s();
        for (uint32_t i = 0; i < n / 10; i++) {   /* a tenth: the interpreter is slower */
            struct pixel_state s;
            struct x86_mem m;
            pixel_batch_get(&bt, i, &s, &m);
            pixel_run_valid(px.prog, px.ninsns, &s, 0, NULL);
        }
        double ti = (now_s() - t0) * 10;
        printf("%-8s %14.4g %14.4g %14.4g %10.3f\n", block_name[b], n / tn, n / tb, n / ti, tn / tb);
        pixel_job_free(&in);
        pixel_job_free(&x);
        pixel_job_free(&px);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 1)
        return self_bench();
    if (argc < 3 || lookup_block(argv[1]) < 0) {
        fprintf(stderr, "usage: bench_gpu_harness add32|alu_mix|mem_sum JOB [--replicate K] "
                        "[--label NAME] [--check N]\n");
        return 2;
    }
    enum block b = (enum block)lookup_block(argv[1]);
    const char *label = "native";
    uint32_t rep = 1;
    uint64_t check = 1000;
    for (int a = 3; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--replicate") == 0)
            rep = (uint32_t)strtoul(argv[a + 1], NULL, 0);
        else if (strcmp(argv[a], "--label") == 0)
            label = argv[a + 1];
        else if (strcmp(argv[a], "--check") == 0)
            check = strtoull(argv[a + 1], NULL, 0);
    }
    char err[512];
    struct pixel_job in, x;
    if (pixel_job_read(argv[2], &in, err, sizeof err)) {
        fprintf(stderr, "bench_gpu_harness: %s\n", err);
        return 2;
    }
    if (tile(&in, rep) || copy_job(&in, &x)) {
        fprintf(stderr, "bench_gpu_harness: out of memory\n");
        return 2;
    }
    double t0 = now_s();
    run_x86(b, &x);
    double dt = now_s() - t0;
    if (check && check_against_pixel(b, &in, &x, check))
        return 1;
    printf("RESULT executor=%s block=%s states=%u seconds=%.6f states_per_s=%.4g checked=%llu\n",
           label, block_name[b], in.nstates, dt, in.nstates / dt, (unsigned long long)check);
    pixel_job_free(&in);
    pixel_job_free(&x);
    return 0;
}
