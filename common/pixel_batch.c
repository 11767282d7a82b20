/* pixel_batch.c — the batched CPU executor (pixel_batch.h). */
#include "pixel_batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The instruction-major loops below are what makes this executor fast;
 * GCC vectorizes them at -O3 only (-O2 keeps its cheapest cost model). */
#if defined(__GNUC__) && !defined(__clang__)
#if defined(__OPTIMIZE__)
#pragma GCC optimize("O3")
#endif
/* element j of the destination depends on element j of the sources only */
#define PIXEL_IVDEP _Pragma("GCC ivdep")
#else
#define PIXEL_IVDEP
#endif
/* AVX2 has the 64-bit lane compares and per-lane shifts the loops need;
 * the baseline copy serves CPUs without it (chosen once, at load time). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__OPTIMIZE__) && \
    !defined(__SANITIZE_ADDRESS__)
#define PIXEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PIXEL_CLONES
#endif

#define CHUNK 512

size_t pixel_batch_window(const struct pixel_batch *b)
{
    size_t w = 0;
    for (uint32_t j = 0; j < b->nregions; j++)
        w += b->region_size[j];
    return w;
}

size_t pixel_batch_region_off(const struct pixel_batch *b, uint32_t j)
{
    size_t off = 0;
    for (uint32_t k = 0; k < j; k++)
        off += b->region_size[k];
    return off;
}

int pixel_batch_alloc(struct pixel_batch *b, uint32_t n, uint32_t nregions, const uint32_t *sizes)
{
    memset(b, 0, sizeof *b);
    if (nregions > X86_MEM_MAX_REGIONS) {
        log_error("pixel batch: %u memory regions (at most %u)", nregions, X86_MEM_MAX_REGIONS);
        return -1;
    }
    b->n = n;
    b->nregions = nregions;
    for (uint32_t j = 0; j < nregions; j++) {
        if (sizes[j] > X86_MEM_MAX_REGION_SIZE) {
            log_error("pixel batch: region %u of %u bytes (at most %u)", j, sizes[j],
                      X86_MEM_MAX_REGION_SIZE);
            return -1;
        }
        b->region_size[j] = sizes[j];
    }
    size_t win = pixel_batch_window(b);
    b->regs = calloc((size_t)PIXEL_NREGS * n + 1, sizeof *b->regs);
    b->region_base = calloc((size_t)nregions * n + 1, sizeof *b->region_base);
    b->mem = calloc(win * n + 1, 1);
    b->fault = calloc((size_t)n + 1, 1);
    b->fault_pc = calloc((size_t)n + 1, sizeof *b->fault_pc);
    if (!b->regs || !b->region_base || !b->mem || !b->fault || !b->fault_pc) {
        log_error("pixel batch: out of memory for %u states (window %zu bytes)", n, win);
        pixel_batch_free(b);
        return -1;
    }
    return 0;
}

void pixel_batch_free(struct pixel_batch *b)
{
    free(b->regs);
    free(b->region_base);
    free(b->mem);
    free(b->fault);
    free(b->fault_pc);
    memset(b, 0, sizeof *b);
}

void pixel_batch_get(const struct pixel_batch *b, uint32_t i, struct pixel_state *s, struct x86_mem *m)
{
    for (unsigned r = 0; r < PIXEL_NREGS; r++)
        s->r[r] = b->regs[(size_t)r * b->n + i];
    size_t win = pixel_batch_window(b), off = 0;
    memset(m, 0, sizeof *m);
    m->nregions = b->nregions;
    for (uint32_t j = 0; j < b->nregions; j++) {
        m->region[j].base = b->region_base[(size_t)j * b->n + i];
        m->region[j].size = b->region_size[j];
        m->region[j].data = b->mem + (size_t)i * win + off;
        off += b->region_size[j];
    }
    s->mem = m;
}

void pixel_batch_put(struct pixel_batch *b, uint32_t i, const struct pixel_state *s)
{
    for (unsigned r = 0; r < PIXEL_NREGS; r++)
        b->regs[(size_t)r * b->n + i] = s->r[r];
}

/* States lo..hi-1 one by one through the reference interpreter (for
 * microcode with control flow). */
static long exec_each(const struct pixel_insn *prog, size_t n, struct pixel_batch *b,
                      uint32_t step_limit, uint32_t lo, uint32_t hi)
{
    long faulted = 0;
    for (uint32_t i = lo; i < hi; i++) {
        struct pixel_state s;
        struct x86_mem m;
        struct pixel_result res;
        pixel_batch_get(b, i, &s, &m);
        pixel_run_valid(prog, n, &s, step_limit, &res);
        pixel_batch_put(b, i, &s);
        b->fault[i] = (uint8_t)res.fault;
        b->fault_pc[i] = res.pc;
        faulted += res.fault != PIXEL_FAULT_NONE;
    }
    return faulted;
}

struct chunk {
    struct pixel_batch *b;
    uint32_t lo, m;          /* states lo .. lo+m-1 */
    size_t win;
    size_t off[X86_MEM_MAX_REGIONS];
    unsigned dead;           /* states of the chunk that have faulted */
};

/* The window address of an access by state i, or NULL (fault). */
static uint8_t *chunk_addr(const struct chunk *ch, uint32_t i, uint64_t addr, unsigned w)
{
    const struct pixel_batch *b = ch->b;
    for (uint32_t j = 0; j < b->nregions; j++) {
        uint64_t base = b->region_base[(size_t)j * b->n + i];
        if (pixel_in_region(base, b->region_size[j], addr, w))
            return b->mem + (size_t)i * ch->win + ch->off[j] + (addr - base);
    }
    return NULL;
}

static void mark(struct chunk *ch, uint32_t i, enum pixel_fault f, uint32_t pc)
{
    ch->b->fault[i] = (uint8_t)f;
    ch->b->fault_pc[i] = pc;
    ch->dead++;
}

/* One instruction over one chunk. */
PIXEL_CLONES
static void chunk_insn(struct chunk *ch, struct pixel_insn in, uint32_t pc)
{
    struct pixel_batch *bt = ch->b;
    size_t n = bt->n;
    uint64_t *D = bt->regs + in.rd * n + ch->lo;
    const uint64_t *A = in.rs1 < PIXEL_NREGS ? bt->regs + in.rs1 * n + ch->lo : D;
    const uint64_t *B = in.rs2 < PIXEL_NREGS ? bt->regs + in.rs2 * n + ch->lo : D;
    uint8_t *F = bt->fault + ch->lo;
    const uint32_t m = ch->m;
    const uint64_t i2 = in.rs2, imm16 = (uint64_t)in.rs1 | ((uint64_t)in.rs2 << 8);
    (void)i2; (void)imm16;
    const struct pixel_opinfo *info = pixel_opinfo(in.op);

    if (info->kind == PXK_LOAD || info->kind == PXK_STORE) {
        unsigned w = info->width;
        for (uint32_t j = 0; j < m; j++) {
            if (ch->dead && F[j])
                continue;
            uint8_t *p = chunk_addr(ch, ch->lo + j, A[j], w);
            if (!p) {
                mark(ch, ch->lo + j, PIXEL_FAULT_MEM, pc);
                continue;
            }
            if (info->kind == PXK_STORE) {
                uint64_t v = B[j];
                for (unsigned k = 0; k < w; k++)
                    p[k] = (uint8_t)(v >> (8 * k));
            } else {
                uint64_t v = 0;
                int div = 0;
                for (unsigned k = 0; k < w; k++)
                    v |= (uint64_t)p[k] << (8 * k);
                D[j] = pixel_alu(in.op, 0, 0, 0, in.rs1, in.rs2, v, &div);
            }
        }
        return;
    }
    if (info->kind != PXK_ALU)
        return;                                   /* NOP */
    switch (in.op) {
#define PIXEL_X_BATCH(name, code, form, kind, w, rdin, cres, cfault, ...) \
    case code: \
        if (kind == PXK_ALU) { \
            if (!ch->dead) { \
                PIXEL_IVDEP \
                for (uint32_t j = 0; j < m; j++) { \
                    const uint64_t a = A[j], b = B[j], d = D[j], v = 0; \
                    (void)a; (void)b; (void)d; (void)v; \
                    if (cfault) { mark(ch, ch->lo + j, PIXEL_FAULT_DIV, pc); continue; } \
                    D[j] = (uint64_t)(cres); \
                } \
            } else { \
                for (uint32_t j = 0; j < m; j++) { \
                    const uint64_t a = A[j], b = B[j], d = D[j], v = 0; \
                    (void)a; (void)b; (void)d; (void)v; \
                    if (F[j]) continue; \
                    if (cfault) { mark(ch, ch->lo + j, PIXEL_FAULT_DIV, pc); continue; } \
                    D[j] = (uint64_t)(cres); \
                } \
            } \
        } \
        break;
    PIXEL_OPCODES(PIXEL_X_BATCH)
#undef PIXEL_X_BATCH
    default:
        break;
    }
}

/* One worker's share: states lo..hi-1 (lo a multiple of CHUNK). */
struct batch_work {
    const struct pixel_insn *prog;
    size_t n;
    struct pixel_batch *b;
    uint32_t step_limit, lo, hi;
    bool straight, steps_fault;
    size_t exec;
    uint32_t end_pc;
    long faulted;
};

static void *batch_worker(void *arg)
{
    struct batch_work *w = arg;
    struct pixel_batch *b = w->b;
    if (!w->straight) {
        w->faulted = exec_each(w->prog, w->n, b, w->step_limit, w->lo, w->hi);
        return NULL;
    }
    long faulted = 0;
    struct chunk ch = { .b = b, .win = pixel_batch_window(b) };
    for (uint32_t j = 0; j < b->nregions; j++)
        ch.off[j] = pixel_batch_region_off(b, j);
    for (uint32_t lo = w->lo; lo < w->hi; lo += CHUNK) {
        ch.lo = lo;
        ch.m = w->hi - lo < CHUNK ? w->hi - lo : CHUNK;
        ch.dead = 0;
        memset(b->fault + lo, 0, ch.m);
        for (size_t k = 0; k < w->exec; k++)
            chunk_insn(&ch, w->prog[k], (uint32_t)k);
        for (uint32_t j = 0; j < ch.m; j++) {
            if (b->fault[lo + j] == PIXEL_FAULT_NONE) {
                b->fault_pc[lo + j] = w->end_pc;
                if (w->steps_fault)
                    b->fault[lo + j] = PIXEL_FAULT_STEPS;
            }
            faulted += b->fault[lo + j] != PIXEL_FAULT_NONE;
        }
    }
    w->faulted = faulted;
    return NULL;
}

long pixel_exec_batch_mt(const struct pixel_insn *prog, size_t n, struct pixel_batch *b,
                         uint32_t step_limit, unsigned threads, char *err, size_t errlen)
{
    if (!pixel_prog_valid(prog, n, err, errlen))
        return -1;
    if (!step_limit)
        step_limit = PIXEL_DEFAULT_STEP_LIMIT;
    struct batch_work base = { .prog = prog, .n = n, .b = b, .step_limit = step_limit,
                               .straight = true };
    size_t stop = n;                 /* first HALT/RET (a top-level RET ends like HALT) */
    for (size_t k = 0; k < n; k++) {
        uint8_t op = prog[k].op;
        if (op == PX_JUMP || op == PX_JZ || op == PX_JNZ || op == PX_CALL)
            base.straight = false;
        if ((op == PX_HALT || op == PX_RET) && stop == n)
            stop = k;
    }
    /* Straight line: instruction k runs with k steps done.  The end (n, or
     * the HALT at `stop`, which is itself a step) needs stop < limit, or
     * n <= limit when there is no HALT. */
    base.steps_fault = stop == n ? n > step_limit : stop >= step_limit;
    base.exec = stop < step_limit ? stop : step_limit;
    base.end_pc = base.steps_fault ? step_limit : (uint32_t)stop;

    uint32_t nchunks = (b->n + CHUNK - 1) / CHUNK;
    if (threads < 1)
        threads = 1;
    if (threads > 256)
        threads = 256;
    if (threads > nchunks)
        threads = nchunks ? nchunks : 1;
    struct batch_work w[256];
    pthread_t tid[256];
    bool started[256] = { false };
    long faulted = 0;
    for (unsigned t = 0; t < threads; t++) {
        w[t] = base;
        w[t].lo = (uint32_t)((uint64_t)nchunks * t / threads) * CHUNK;
        w[t].hi = (uint32_t)((uint64_t)nchunks * (t + 1) / threads) * CHUNK;
        if (w[t].hi > b->n)
            w[t].hi = b->n;
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, batch_worker, &w[t]) == 0;
    }
    for (unsigned t = 0; t < threads; t++)
        if (t == 0 || !started[t])
            batch_worker(&w[t]);     /* this thread's share, and any that failed to start */
    for (unsigned t = 0; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        faulted += w[t].faulted;
    }
    return faulted;
}

long pixel_exec_batch(const struct pixel_insn *prog, size_t n, struct pixel_batch *b,
                      uint32_t step_limit, char *err, size_t errlen)
{
    return pixel_exec_batch_mt(prog, n, b, step_limit, 1, err, errlen);
}
