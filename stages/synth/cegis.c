/* cegis.c — enumerative CEGIS for cheaper microcode (cegis.h). */
#include "cegis.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pixel_interp.h"
#include "pixel_state.h"
#include "synth.h"

#define T_MAX      32        /* test inputs (initial + counterexamples) */
#define T_INIT     16
#define POOL_MAX   60000     /* enumerated values per round */
#define MAX_INPUTS 24
#define MAX_IMMS   24

struct val {
    uint64_t v[T_MAX];
    uint8_t op;              /* 0xff: terminal (a = register) */
    uint16_t a, b;           /* pool indices (terminal: register) */
    int32_t imm;
    uint32_t cost;
};

struct search {
    struct val *pool;
    size_t npool;
    uint64_t *hash;          /* open addressing over vector hashes (0 = empty) */
    uint32_t *hidx;
    size_t hcap;
    unsigned T;
    uint64_t in[T_MAX][PIXEL_NREGS];
    uint64_t want[T_MAX][PIXEL_NREGS];
    uint32_t targets;        /* Pixel registers to find */
    int32_t best[PIXEL_NREGS];   /* pool index of the cheapest match, -1 */
    uint64_t deadline;
    bool timed_out;
    bool all_found;          /* every target has a match: stop enumerating */
    bool core_only;
    int32_t imms[MAX_IMMS];
    unsigned nimms;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t vec_hash(const uint64_t *v, unsigned T)
{
    uint64_t h = 0x1234567;
    for (unsigned t = 0; t < T; t++)
        h = (h ^ v[t]) * 0x100000001b3ull + (h >> 29);
    return h ? h : 1;
}

/* Adds a value unless an observationally equal one exists.  Returns its
 * index or -1. */
static int32_t pool_add(struct search *s, const struct val *v)
{
    if (s->npool >= POOL_MAX)
        return -1;
    uint64_t h = vec_hash(v->v, s->T);
    size_t i = h & (s->hcap - 1);
    while (s->hash[i]) {
        if (s->hash[i] == h && !memcmp(s->pool[s->hidx[i]].v, v->v, s->T * sizeof(uint64_t)))
            return -1;
        i = (i + 1) & (s->hcap - 1);
    }
    s->hash[i] = h;
    s->hidx[i] = (uint32_t)s->npool;
    s->pool[s->npool] = *v;
    int32_t idx = (int32_t)s->npool++;
    /* does it match a target? */
    for (unsigned r = 0; r < PIXEL_NREGS; r++) {
        if (!(s->targets & (1u << r)))
            continue;
        if (s->best[r] >= 0 && s->pool[s->best[r]].cost <= v->cost)
            continue;
        bool ok = true;
        for (unsigned t = 0; t < s->T && ok; t++)
            ok = v->v[t] == s->want[t][r];
        if (ok)
            s->best[r] = idx;
    }
    bool all = true;
    for (unsigned r = 0; r < PIXEL_NREGS && all; r++)
        if ((s->targets & (1u << r)) && s->best[r] < 0)
            all = false;
    s->all_found = all;
    return idx;
}

static const uint8_t bin_ext[] = { PX_ADD, PX_SUB, PX_MUL, PX_AND, PX_OR, PX_XOR, PX_SHL, PX_SHR,
                                   PX_SAR, PX_ROL, PX_ROR, PX_CMPEQ, PX_CMPNE, PX_CMPLTU, PX_CMPLTS,
                                   PX_CMPLEU, PX_CMPLES, PX_MULHU, PX_MULHS };
static const uint8_t un_ext[] = { PX_NOT, PX_NEG, PX_ZEXT8, PX_ZEXT16, PX_ZEXT32, PX_SEXT8,
                                  PX_SEXT16, PX_SEXT32, PX_CMPEQZ, PX_PARITY, PX_EXT8H, PX_BSWAP,
                                  PX_BSWAP32, PX_POPCNT, PX_CLZ, PX_CTZ };
static const uint8_t imm_ext[] = { PX_ADDI, PX_ANDI, PX_ORI, PX_XORI, PX_SHLI, PX_SHRI, PX_SARI,
                                   PX_ROLI, PX_RORI, PX_BIT };
static const uint8_t bin_core[] = { PX_ADD, PX_SUB, PX_MUL, PX_AND, PX_OR, PX_XOR, PX_SHL, PX_SHR };
static const uint8_t un_core[] = { PX_NOT };

static bool imm_ok(uint8_t op, int32_t imm)
{
    switch (pixel_op_form(op)) {
    case PXF_RRU6: return imm > 0 && imm < 64;
    case PXF_RRS8: return imm >= -128 && imm <= 127 && imm != 0;
    case PXF_RRU8: return imm > 0 && imm <= 255;
    default: return false;
    }
}

static bool timeup(struct search *s)
{
    if (s->all_found)
        return true;
    if (now_us() > s->deadline)
        s->timed_out = true;
    return s->timed_out;
}

static void apply(struct search *s, uint8_t op, int32_t ia, int32_t ib, int32_t imm)
{
    struct val v;
    const struct val *A = &s->pool[ia], *B = ib >= 0 ? &s->pool[ib] : NULL;
    uint8_t r1 = 0, r2 = (uint8_t)(imm & 0xff);
    for (unsigned t = 0; t < s->T; t++) {
        int fault = 0;
        v.v[t] = pixel_alu(op, A->v[t], B ? B->v[t] : 0, 0, r1, r2, 0, &fault);
        if (fault)
            return;
    }
    v.op = op;
    v.a = (uint16_t)ia;
    v.b = ib >= 0 ? (uint16_t)ib : 0xffff;
    v.imm = imm;
    v.cost = A->cost + (B ? B->cost : 0) + synth_op_cost(op);
    pool_add(s, &v);
}

/* One level over the values [lo, hi) made by the previous one: first every
 * unary and immediate operation on them (cheap, the most productive), then
 * binary operations with the terminals [0, nterm), then with each other. */
static void level(struct search *s, size_t lo, size_t hi, size_t nterm)
{
    const uint8_t *bin = s->core_only ? bin_core : bin_ext;
    size_t nbin = s->core_only ? sizeof bin_core : sizeof bin_ext;
    const uint8_t *un = s->core_only ? un_core : un_ext;
    size_t nun = s->core_only ? sizeof un_core : sizeof un_ext;
    for (size_t i = lo; i < hi && !timeup(s) && s->npool < POOL_MAX; i++)
        for (size_t k = 0; k < nun; k++)
            apply(s, un[k], (int32_t)i, -1, 0);
    if (!s->core_only)
        for (size_t i = lo; i < hi && !timeup(s) && s->npool < POOL_MAX; i++)
            for (size_t k = 0; k < sizeof imm_ext; k++)
                for (unsigned m = 0; m < s->nimms; m++)
                    if (imm_ok(imm_ext[k], s->imms[m]))
                        apply(s, imm_ext[k], (int32_t)i, -1, s->imms[m]);
    for (size_t i = lo; i < hi && !timeup(s) && s->npool < POOL_MAX; i++)
        for (size_t j = 0; j < nterm; j++)
            for (size_t k = 0; k < nbin; k++) {
                apply(s, bin[k], (int32_t)i, (int32_t)j, 0);
                if (j != i)
                    apply(s, bin[k], (int32_t)j, (int32_t)i, 0);
            }
    if (lo == 0)
        return;   /* the first level's pairs were all terminals */
    for (size_t i = lo; i < hi && !timeup(s) && s->npool < POOL_MAX; i++)
        for (size_t j = lo; j < i; j++)
            for (size_t k = 0; k < nbin; k++) {
                apply(s, bin[k], (int32_t)i, (int32_t)j, 0);
                apply(s, bin[k], (int32_t)j, (int32_t)i, 0);
            }
}

/* ---- composition ----------------------------------------------------------- */

static uint16_t emit_val(struct search *s, struct sir_prog *p, int32_t idx, uint16_t *memo)
{
    const struct val *v = &s->pool[idx];
    if (v->op == 0xff)
        return v->a;
    if (memo[idx] != SIR_NONE)
        return memo[idx];
    uint16_t a = emit_val(s, p, v->a, memo);
    uint16_t b = v->b != 0xffff ? emit_val(s, p, v->b, memo) : SIR_NONE;
    uint16_t d = sir_newv(p);
    sir_emit(p, v->op, d, a, b, v->imm);
    memo[idx] = d;
    return d;
}

/* Builds base with the outputs in `use` replaced by their found expressions. */
static int compose(struct search *s, const struct sir_prog *base, uint32_t live_mask, uint32_t use,
                   struct sir_prog *p, struct pixel_insn *out, size_t max)
{
    uint16_t *memo = malloc(s->npool * sizeof *memo);
    if (!memo)
        return -1;
    for (size_t i = 0; i < s->npool; i++)
        memo[i] = SIR_NONE;
    sir_init(p);
    p->nextv = base->nextv;
    uint16_t tv[PIXEL_NREGS];
    for (unsigned r = 0; r < PIXEL_NREGS; r++)
        if (use & (1u << r))
            tv[r] = emit_val(s, p, s->best[r], memo);
    free(memo);
    for (size_t i = 0; i < base->n; i++)
        sir_emit(p, base->v[i].op, base->v[i].rd, base->v[i].a, base->v[i].b, base->v[i].imm);
    for (unsigned r = 0; r < PIXEL_NREGS; r++)
        if (use & (1u << r))
            sir_emit(p, PX_MOV, (uint16_t)r, tv[r], SIR_NONE, 0);
    if (p->overflow)
        return -1;
    sir_dce(p, live_mask);
    sir_coalesce(p, live_mask);
    sir_dce(p, live_mask);
    char err[128];
    if (sir_regalloc(p, err, sizeof err) != 0)
        return -1;
    return sir_encode(p, out, max, err, sizeof err);
}

static void gen_input(uint64_t *seed, uint64_t r[PIXEL_NREGS], unsigned t)
{
    static const uint64_t edge[] = { 0, 1, ~0ull, 0x80000000ull, 0x7fffffffull, 0xffffffffull,
                                     0x8000000000000000ull, 0x7fffffffffffffffull, 0xff, 0x80, 0xffff, 0x8000 };
    for (unsigned i = 0; i < PIXEL_NREGS; i++) {
        uint64_t x = splitmix(seed);
        switch ((x >> 60) & 3) {
        case 0: r[i] = edge[(x >> 8) % (sizeof edge / sizeof edge[0])]; break;
        case 1: r[i] = x & 0xff; break;
        default: r[i] = splitmix(seed); break;
        }
        if (t < 2)
            r[i] = t ? ~0ull : 0;
    }
    for (unsigned f = 0; f < X86_NFLAG; f++)
        r[PIXEL_REG_FLAG(f)] = splitmix(seed) & 1;
    r[PIXEL_REG_DF] = 0;
}

static bool run_base(const struct pixel_insn *bp, size_t bn, const uint64_t in[PIXEL_NREGS],
                     uint64_t out[PIXEL_NREGS])
{
    struct pixel_state st;
    memcpy(st.r, in, sizeof st.r);
    st.mem = NULL;
    if (pixel_run(bp, bn, &st, 0, NULL) != PIXEL_FAULT_NONE)
        return false;
    memcpy(out, st.r, sizeof st.r);
    return true;
}

int cegis_optimize(struct equiv_ctx *q, const struct sir_prog *base, uint32_t live_mask,
                   uint32_t base_cost, bool core_only, unsigned budget_ms, unsigned proof_timeout_ms,
                   uint64_t seed, struct pixel_insn *out, size_t max, size_t *nout,
                   struct cegis_result *res)
{
    memset(res, 0, sizeof *res);
    *nout = 0;
    uint64_t deadline = now_us() + (uint64_t)budget_ms * 1000u;
    /* register-only blocks: memory would need a memory model per test */
    for (size_t i = 0; i < base->n; i++) {
        int k = pixel_op_kind(base->v[i].op);
        if (k == PXK_LOAD || k == PXK_STORE)
            return 0;
    }
    struct search *s = calloc(1, sizeof *s);
    struct sir_prog *p = malloc(sizeof *p);
    struct pixel_insn *bp = malloc(SIR_MAX * sizeof *bp), *cand = malloc(SIR_MAX * sizeof *cand);
    if (s) {
        s->pool = malloc(POOL_MAX * sizeof *s->pool);
        s->hcap = 131072;
        s->hash = calloc(s->hcap, sizeof *s->hash);
        s->hidx = calloc(s->hcap, sizeof *s->hidx);
    }
    int rc = -1;
    if (!s || !p || !bp || !cand || !s->pool || !s->hash || !s->hidx)
        goto done;
    s->deadline = deadline;
    s->core_only = core_only;

    /* the baseline, allocated, is the test oracle */
    memcpy(p, base, sizeof *p);
    char err[128];
    if (sir_regalloc(p, err, sizeof err) != 0)
        goto done;
    int bn = sir_encode(p, bp, SIR_MAX, err, sizeof err);
    if (bn < 0)
        goto done;

    /* inputs: physical registers read before written; immediates of the baseline */
    uint32_t inputs = 0, written = 0;
    static const int32_t std_imms[] = { 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, -1, 0xff };
    for (size_t i = 0; i < sizeof std_imms / sizeof std_imms[0]; i++)
        s->imms[s->nimms++] = std_imms[i];
    for (size_t i = 0; i < base->n; i++) {
        uint16_t rd[3];
        unsigned nr = sir_reads(&base->v[i], rd);
        for (unsigned j = 0; j < nr; j++)
            if (rd[j] < PIXEL_NREGS && !(written & (1u << rd[j])))
                inputs |= 1u << rd[j];
        uint16_t w = sir_writes(&base->v[i]);
        if (w < PIXEL_NREGS)
            written |= 1u << w;
        if (sir_has_imm(base->v[i].op) && s->nimms < MAX_IMMS) {
            bool dup = false;
            for (unsigned m = 0; m < s->nimms; m++)
                dup |= s->imms[m] == base->v[i].imm;
            if (!dup)
                s->imms[s->nimms++] = base->v[i].imm;
        }
    }
    uint32_t cand_targets = live_mask & written & ~(1u << PIXEL_REG_RIP);
    if (!cand_targets) {
        rc = 0;
        goto done;
    }
    uint64_t rs = seed;
    for (unsigned t = 0; t < T_INIT; t++) {
        gen_input(&rs, s->in[t], t);
        if (!run_base(bp, (size_t)bn, s->in[t], s->want[t]))
            goto done;
    }
    s->T = T_INIT;

    while (!timeup(s)) {
        /* enumerate from scratch over the current tests */
        s->npool = 0;
        memset(s->hash, 0, s->hcap * sizeof *s->hash);
        s->targets = cand_targets;
        s->all_found = false;
        for (unsigned r = 0; r < PIXEL_NREGS; r++)
            s->best[r] = -1;
        for (unsigned r = 0; r < PIXEL_NREGS; r++) {
            if (!(inputs & (1u << r)))
                continue;
            struct val v = { .op = 0xff, .a = (uint16_t)r, .b = 0xffff, .cost = 0 };
            for (unsigned t = 0; t < s->T; t++)
                v.v[t] = s->in[t][r];
            pool_add(s, &v);
        }
        size_t l0 = s->npool;
        level(s, 0, l0, l0);
        size_t l1 = s->npool;
        uint32_t missing = 0;
        for (unsigned r = 0; r < PIXEL_NREGS; r++)
            if ((cand_targets & (1u << r)) && s->best[r] < 0)
                missing |= 1u << r;
        if (missing && !timeup(s))
            level(s, l0, l1, l0);
        s->all_found = false;
        uint32_t found = 0;
        for (unsigned r = 0; r < PIXEL_NREGS; r++)
            if ((cand_targets & (1u << r)) && s->best[r] >= 0)
                found |= 1u << r;
        if (!found)
            break;
        /* choose the subset of found outputs that minimizes the cost (greedy) */
        uint32_t use = found;
        int n = compose(s, base, live_mask, use, p, cand, SIR_MAX);
        uint32_t cost = n >= 0 ? synth_cost(cand, (size_t)n) : UINT32_MAX;
        for (unsigned r = 0; r < PIXEL_NREGS; r++) {
            if (!(use & (1u << r)))
                continue;
            uint32_t u2 = use & ~(1u << r);
            int n2 = compose(s, base, live_mask, u2, p, cand, SIR_MAX);
            uint32_t c2 = n2 >= 0 ? synth_cost(cand, (size_t)n2) : UINT32_MAX;
            if (c2 <= cost) {
                use = u2;
                cost = c2;
            }
        }
        if (!use || cost >= base_cost)
            break;
        n = compose(s, base, live_mask, use, p, cand, SIR_MAX);
        if (n < 0)
            break;
        struct equiv_opts eo = { .timeout_ms = proof_timeout_ms };
        struct equiv_result er;
        res->iterations++;
        enum equiv_status st = equiv_check_prepared(q, cand, (size_t)n, &eo, &er);
        if (st == EQUIV_PROVED) {
            if ((size_t)n <= max) {
                memcpy(out, cand, (size_t)n * sizeof *cand);
                *nout = (size_t)n;
                res->found = true;
                res->cost = cost;
            }
            break;
        }
        if (st != EQUIV_REFUTED || s->T >= T_MAX)
            break;
        /* the counterexample becomes a test input */
        equiv_cex_pixel_regs(&er.cex, s->in[s->T]);
        if (!run_base(bp, (size_t)bn, s->in[s->T], s->want[s->T]))
            break;
        s->T++;
    }
    rc = 0;
done:
    if (s) {
        res->timed_out = s->timed_out;
        res->tests = s->T;
        free(s->pool);
        free(s->hash);
        free(s->hidx);
    }
    free(s);
    free(p);
    free(bp);
    free(cand);
    return rc;
}
