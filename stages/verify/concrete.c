/* concrete.c — concrete differential tests: Unicorn, native, Pixel (see concrete.h). */
#include "concrete.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "oracle_native.h"
#include "oracle_unicorn.h"
#include "pixel_batch.h"
#include "pixel_interp.h"
#include "state_gen.h"
#include "vflags.h"
#include "vsample.h"
#include "x86_decode.h"

#define VCONC_MAX_INSNS 512
#define VCONC_MAX_ORACLE_LOGS 8   /* loud log lines per run; all are counted */

struct vconc {
    struct oracle_native *nat;
    struct oracle_unicorn *uni;
    unsigned cap;                       /* states per chunk the buffers hold */
    struct x86_regs *in, *ou, *on;
    struct x86_mem *min, *mu, *mn, *mp;
    struct oracle_result *ru, *rn;
    struct state_gen_storage *gen;
    uint64_t (*pr)[PIXEL_NREGS];        /* Pixel registers at exit */
    uint8_t *pf;                        /* Pixel fault */
    int64_t *label;                     /* >= 0: generated index; < 0: -(sample + 1) */
    uint8_t *bu, *bn, *bp;              /* region bytes after Unicorn / native / Pixel */
    size_t bcap;
    struct pixel_batch batch;
    bool batch_valid;
    struct x86_insn insns[VCONC_MAX_INSNS];
};

void vconc_opts_default(struct vconc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->nstates = VCONC_DEFAULT_STATES;
    o->seed = 0x7663;   /* "vc" */
    o->chunk = VCONC_DEFAULT_CHUNK;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void free_bufs(struct vconc *e)
{
    free(e->in); free(e->ou); free(e->on);
    free(e->min); free(e->mu); free(e->mn); free(e->mp);
    free(e->ru); free(e->rn); free(e->gen); free(e->pr); free(e->pf); free(e->label);
    e->in = e->ou = e->on = NULL;
    e->min = e->mu = e->mn = e->mp = NULL;
    e->ru = e->rn = NULL;
    e->gen = NULL; e->pr = NULL; e->pf = NULL; e->label = NULL;
    e->cap = 0;
}

static int ensure_cap(struct vconc *e, unsigned n)
{
    if (n <= e->cap) return 0;
    free_bufs(e);
    e->in = calloc(n, sizeof *e->in); e->ou = calloc(n, sizeof *e->ou); e->on = calloc(n, sizeof *e->on);
    e->min = calloc(n, sizeof *e->min); e->mu = calloc(n, sizeof *e->mu);
    e->mn = calloc(n, sizeof *e->mn); e->mp = calloc(n, sizeof *e->mp);
    e->ru = calloc(n, sizeof *e->ru); e->rn = calloc(n, sizeof *e->rn);
    e->gen = malloc((size_t)n * sizeof *e->gen);
    e->pr = calloc(n, sizeof *e->pr); e->pf = calloc(n, 1); e->label = calloc(n, sizeof *e->label);
    if (!e->in || !e->ou || !e->on || !e->min || !e->mu || !e->mn || !e->mp || !e->ru || !e->rn ||
        !e->gen || !e->pr || !e->pf || !e->label) {
        free_bufs(e);
        log_error("verify: out of memory for a chunk of %u states", n);
        return -1;
    }
    e->cap = n;
    return 0;
}

static int ensure_bytes(struct vconc *e, size_t total)
{
    if (total <= e->bcap) return 0;
    free(e->bu); free(e->bn); free(e->bp);
    e->bu = malloc(total); e->bn = malloc(total); e->bp = malloc(total);
    if (!e->bu || !e->bn || !e->bp) {
        free(e->bu); free(e->bn); free(e->bp);
        e->bu = e->bn = e->bp = NULL;
        e->bcap = 0;
        log_error("verify: out of memory for %zu bytes of state memory", total);
        return -1;
    }
    e->bcap = total;
    return 0;
}

struct vconc *vconc_new(void)
{
    struct vconc *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->nat = oracle_native_create(NULL);
    e->uni = oracle_unicorn_create(0);
    if (!e->nat || !e->uni) {
        log_error("verify: could not start the x86 oracles (native %s, unicorn %s)",
                  e->nat ? "ok" : "failed", e->uni ? "ok" : "failed");
        vconc_free(e);
        return NULL;
    }
    return e;
}

void vconc_free(struct vconc *e)
{
    if (!e) return;
    if (e->nat) oracle_native_destroy(e->nat);
    if (e->uni) oracle_unicorn_destroy(e->uni);
    free_bufs(e);
    free(e->bu); free(e->bn); free(e->bp);
    if (e->batch_valid) pixel_batch_free(&e->batch);
    free(e);
}

static const char *const gpr_name[X86_NGPR] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

/* ---- comparison ------------------------------------------------------------------ */

/* Did the oracle execute the state (normally or up to a guest fault)? */
static bool oracle_ran(enum oracle_kind k)
{
    return k == ORACLE_OK || k == ORACLE_FAULT_MEM || k == ORACLE_FAULT_DIV || k == ORACLE_FAULT_ILL ||
           k == ORACLE_FAULT_TRAP || k == ORACLE_FAULT_SYSCALL || k == ORACLE_FAULT_OTHER;
}

/* Fault classes that can match: 0 none, 1 memory, 2 divide; x86's other
 * faults (3) and Pixel's other faults (4) never match anything. */
static int x86_fault_class(enum oracle_kind k)
{
    return k == ORACLE_OK ? 0 : k == ORACLE_FAULT_MEM ? 1 : k == ORACLE_FAULT_DIV ? 2 : 3;
}

static int px_fault_class(uint8_t f)
{
    return f == PIXEL_FAULT_NONE ? 0 : f == PIXEL_FAULT_MEM ? 1 : f == PIXEL_FAULT_DIV ? 2 : 4;
}

static const char *flag_name(unsigned f)
{
    static const char *n[X86_NFLAG] = { "CF", "PF", "AF", "ZF", "SF", "OF" };
    return n[f];
}

static bool mem_agree(const struct x86_mem *a, const struct x86_mem *b, char *why, size_t len)
{
    for (uint32_t k = 0; k < a->nregions; k++) {
        const struct x86_mem_region *x = &a->region[k], *y = &b->region[k];
        if (!memcmp(x->data, y->data, x->size)) continue;
        for (uint32_t i = 0; i < x->size; i++)
            if (x->data[i] != y->data[i]) {
                snprintf(why, len, "memory at 0x%" PRIx64 ": 0x%02x vs 0x%02x", x->base + i, x->data[i],
                         y->data[i]);
                return false;
            }
    }
    return true;
}

/* x86 execution (regs, mem, result) vs Pixel (registers, mem, fault). */
static bool px_agree(x86_locset live, uint8_t undef, const struct x86_regs *xr,
                     const struct x86_mem *xm, const struct oracle_result *res, const uint64_t *pr,
                     const struct x86_mem *pm, uint8_t pf, char *why, size_t len)
{
    int xc = x86_fault_class(res->kind), pc = px_fault_class(pf);
    if (xc || pc) {
        if (xc == pc) return true;
        snprintf(why, len, "fault: x86 %s vs Pixel %s", oracle_kind_name(res->kind),
                 pixel_fault_name((enum pixel_fault)pf));
        return false;
    }
    for (unsigned g = 0; g < X86_NGPR; g++)
        if ((live & X86_LOC_GPR(g)) && xr->gpr[g] != pr[g]) {
            snprintf(why, len, "%s: 0x%" PRIx64 " vs 0x%" PRIx64, gpr_name[g], xr->gpr[g], pr[g]);
            return false;
        }
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (!(live & X86_LOC_FLAG(f))) continue;
        uint64_t pv = pr[PIXEL_REG_FLAG(f)];
        if (undef & (1u << f)) {
            if (pv > 1) {
                snprintf(why, len, "%s (undefined here): Pixel holds %" PRIu64 ", not 0 or 1", flag_name(f), pv);
                return false;
            }
            continue;
        }
        uint64_t xv = (xr->rflags >> x86_flag_rflags_bit(f)) & 1;
        if (xv != pv) {
            snprintf(why, len, "%s: %" PRIu64 " vs %" PRIu64, flag_name(f), xv, pv);
            return false;
        }
    }
    if (xr->rip != pr[PIXEL_REG_RIP]) {
        snprintf(why, len, "rip: 0x%" PRIx64 " vs 0x%" PRIx64, xr->rip, pr[PIXEL_REG_RIP]);
        return false;
    }
    return mem_agree(xm, pm, why, len);
}

/* Unicorn vs native on the same live, defined outputs. */
static bool x86_agree(x86_locset live, uint8_t undef, const struct x86_regs *a, const struct x86_mem *am,
                      const struct oracle_result *ra, const struct x86_regs *b, const struct x86_mem *bm,
                      const struct oracle_result *rb, char *why, size_t len)
{
    if (ra->kind != rb->kind) {
        snprintf(why, len, "kind: %s vs %s", oracle_kind_name(ra->kind), oracle_kind_name(rb->kind));
        return false;
    }
    if (ra->kind != ORACLE_OK) return true;
    for (unsigned g = 0; g < X86_NGPR; g++)
        if ((live & X86_LOC_GPR(g)) && a->gpr[g] != b->gpr[g]) {
            snprintf(why, len, "%s: 0x%" PRIx64 " vs 0x%" PRIx64, gpr_name[g], a->gpr[g], b->gpr[g]);
            return false;
        }
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (!(live & X86_LOC_FLAG(f)) || (undef & (1u << f))) continue;
        unsigned bit = x86_flag_rflags_bit(f);
        if (((a->rflags ^ b->rflags) >> bit) & 1) {
            snprintf(why, len, "%s: %u vs %u", flag_name(f), (unsigned)((a->rflags >> bit) & 1),
                     (unsigned)((b->rflags >> bit) & 1));
            return false;
        }
    }
    if (a->rip != b->rip) {
        snprintf(why, len, "rip: 0x%" PRIx64 " vs 0x%" PRIx64, a->rip, b->rip);
        return false;
    }
    return mem_agree(am, bm, why, len);
}

static size_t fmt_state(const struct vconc *e, unsigned i, const struct vconc_opts *o, char *buf, size_t len)
{
    const struct x86_regs *r = &e->in[i];
    size_t k = 0;
    if (e->label[i] >= 0)
        k += (size_t)snprintf(buf + k, len - k, "generated state %" PRId64 " (seed 0x%" PRIx64 "):",
                              e->label[i], o->seed);
    else
        k += (size_t)snprintf(buf + k, len - k, "sampled state %" PRId64 ":", -e->label[i] - 1);
    for (unsigned g = 0; g < X86_NGPR && k < len; g++)
        k += (size_t)snprintf(buf + k, len - k, " %s=0x%" PRIx64, gpr_name[g], r->gpr[g]);
    if (k < len)
        k += (size_t)snprintf(buf + k, len - k, " rip=0x%" PRIx64 " rflags=0x%" PRIx64 " regions=%u", r->rip,
                              r->rflags, e->min[i].nregions);
    return k;
}

/* ---- one chunk -------------------------------------------------------------------- */

struct uni_job {
    struct vconc *e;
    const uint8_t *code;
    size_t len;
    unsigned n;
    int rc;
    uint64_t us;
};

static void *uni_thread(void *arg)
{
    struct uni_job *j = arg;
    uint64_t t0 = now_us();
    j->rc = oracle_unicorn_run_batch(j->e->uni, j->code, j->len, j->e->in, j->e->min, j->n, j->e->ou,
                                     j->e->mu, j->e->ru);
    j->us = now_us() - t0;
    return NULL;
}

static uint64_t scratch_value(uint64_t seed, int64_t label, unsigned k)
{
    uint64_t x = state_gen_mix(seed ^ ((uint64_t)label * 0x9e3779b97f4a7c15ull) ^ (0x5c7a7c00ull + k));
    switch (x & 7) {
    case 0: return 0;
    case 1: return ~(uint64_t)0;
    case 2: return 1;
    default: return state_gen_mix(x);
    }
}

static bool same_layout(const struct x86_mem *a, const struct x86_mem *b)
{
    if (a->nregions != b->nregions) return false;
    for (uint32_t k = 0; k < a->nregions; k++)
        if (a->region[k].size != b->region[k].size) return false;
    return true;
}

static void load_pixel(const struct x86_regs *in, const struct vconc_opts *o, int64_t label,
                       struct pixel_state *s)
{
    pixel_state_from_x86(in, s->mem, s);
    for (unsigned k = 0; k < PIXEL_NSCRATCH; k++) s->r[PIXEL_REG_SCRATCH0 + k] = scratch_value(o->seed, label, k);
}

/* The batched executor takes a chunk whose states share one memory layout. */
static bool use_batch(const struct vconc *e, unsigned n, const struct vconc_opts *o)
{
    bool batched = !o->interp_only && n > 0;
    for (unsigned i = 1; batched && i < n; i++) batched = same_layout(&e->min[0], &e->min[i]);
    return batched;
}

static int run_pixel(struct vconc *e, unsigned n, bool batched, const struct pixel_insn *prog, size_t nprog,
                     const struct vconc_opts *o, char *err, size_t errlen)
{
    if (!batched) {
        for (unsigned i = 0; i < n; i++) {
            struct pixel_state s = { .mem = &e->mp[i] };
            load_pixel(&e->in[i], o, e->label[i], &s);
            struct pixel_result res;
            pixel_run_valid(prog, nprog, &s, 0, &res);
            memcpy(e->pr[i], s.r, sizeof s.r);
            e->pf[i] = (uint8_t)res.fault;
        }
        return 0;
    }
    uint32_t sizes[X86_MEM_MAX_REGIONS] = { 0 };
    for (uint32_t k = 0; k < e->min[0].nregions; k++) sizes[k] = e->min[0].region[k].size;
    struct pixel_batch *b = &e->batch;
    bool fits = e->batch_valid && b->n == n && b->nregions == e->min[0].nregions &&
                !memcmp(b->region_size, sizes, sizeof(uint32_t) * b->nregions);
    if (!fits) {
        if (e->batch_valid) pixel_batch_free(b);
        e->batch_valid = false;
        if (pixel_batch_alloc(b, n, e->min[0].nregions, sizes) < 0) {
            snprintf(err, errlen, "cannot allocate a Pixel batch of %u states", n);
            return -1;
        }
        e->batch_valid = true;
    }
    size_t window = pixel_batch_window(b);
    for (unsigned i = 0; i < n; i++) {
        struct pixel_state s = { .mem = NULL };
        load_pixel(&e->in[i], o, e->label[i], &s);
        for (unsigned r = 0; r < PIXEL_NREGS; r++) b->regs[(size_t)r * n + i] = s.r[r];
        for (uint32_t k = 0; k < b->nregions; k++) {
            b->region_base[(size_t)k * n + i] = e->min[i].region[k].base;
            memcpy(b->mem + (size_t)i * window + pixel_batch_region_off(b, k), e->min[i].region[k].data,
                   sizes[k]);
        }
    }
    if (pixel_exec_batch(prog, nprog, b, 0, err, errlen) < 0) return -1;
    for (unsigned i = 0; i < n; i++) {
        struct pixel_state s;
        pixel_batch_get(b, i, &s, &e->mp[i]);
        memcpy(e->pr[i], s.r, sizeof s.r);
        e->pf[i] = b->fault[i];
    }
    return 0;
}

static int run_chunk(struct vconc *e, unsigned n, const uint8_t *code, size_t len, x86_locset live,
                     const struct vflags *vf, const struct pixel_insn *prog, size_t nprog,
                     const struct vconc_opts *o, struct vconc_result *r, char *err, size_t errlen)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        for (uint32_t k = 0; k < e->min[i].nregions; k++) total += e->min[i].region[k].size;
    if (ensure_bytes(e, total ? total : 1) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool batched = use_batch(e, n, o);
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        e->mu[i] = e->mn[i] = e->mp[i] = e->min[i];
        for (uint32_t k = 0; k < e->min[i].nregions; k++) {
            uint32_t sz = e->min[i].region[k].size;
            e->mu[i].region[k].data = e->bu + off;
            e->mn[i].region[k].data = e->bn + off;
            e->mp[i].region[k].data = e->bp + off;
            if (!batched) memcpy(e->bp + off, e->min[i].region[k].data, sz);   /* the batch copies its own */
            off += sz;
        }
    }
    /* Unicorn in a second thread while the native oracle and Pixel run here. */
    struct uni_job uj = { .e = e, .code = code, .len = len, .n = n, .rc = -1 };
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, uni_thread, &uj) == 0;
    if (!threaded) uni_thread(&uj);
    uint64_t t0 = now_us();
    int nrc = oracle_native_run_batch(e->nat, code, len, e->in, e->min, n, e->on, e->mn, e->rn);
    uint64_t t1 = now_us();
    int prc = run_pixel(e, n, batched, prog, nprog, o, err, errlen);
    uint64_t t2 = now_us();
    if (threaded) pthread_join(th, NULL);
    r->native_us += t1 - t0;
    r->pixel_us += t2 - t1;
    r->unicorn_us += uj.us;
    if (prc < 0) return -1;
    if (nrc < 0 || uj.rc < 0) {
        snprintf(err, errlen, "the %s oracle refused the block (%zu bytes)", nrc < 0 ? "native" : "Unicorn", len);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        uint8_t undef = vflags_undefined(vf, &e->in[i]);
        bool u_ran = oracle_ran(e->ru[i].kind), n_ran = oracle_ran(e->rn[i].kind);
        char why[256];
        bool bad = false;
        if (u_ran) {
            r->tests_unicorn++;
            if (!px_agree(live, undef, &e->ou[i], &e->mu[i], &e->ru[i], e->pr[i], &e->mp[i], e->pf[i], why,
                          sizeof why)) {
                bad = true;
                if (!r->first_failure[0]) {
                    size_t k = (size_t)snprintf(r->first_failure, sizeof r->first_failure,
                                                "Unicorn vs Pixel: %s; on ", why);
                    fmt_state(e, i, o, r->first_failure + k, sizeof r->first_failure - k);
                }
            }
        } else {
            r->unicorn_not_run++;
        }
        if (n_ran) {
            r->tests_native++;
            if (!px_agree(live, undef, &e->on[i], &e->mn[i], &e->rn[i], e->pr[i], &e->mp[i], e->pf[i], why,
                          sizeof why)) {
                if (!bad && !r->first_failure[0]) {
                    size_t k = (size_t)snprintf(r->first_failure, sizeof r->first_failure,
                                                "native vs Pixel: %s; on ", why);
                    fmt_state(e, i, o, r->first_failure + k, sizeof r->first_failure - k);
                }
                bad = true;
            }
        } else {
            r->native_not_run++;
        }
        if (bad) r->failed++;
        else if ((u_ran || n_ran) && e->pf[i] != PIXEL_FAULT_NONE) r->faulted++;
        if (u_ran && n_ran &&
            !x86_agree(live, undef, &e->ou[i], &e->mu[i], &e->ru[i], &e->on[i], &e->mn[i], &e->rn[i], why,
                       sizeof why)) {
            r->oracle_disagree++;
            char st[1024];
            fmt_state(e, i, o, st, sizeof st);
            if (!r->first_oracle_disagreement[0])
                snprintf(r->first_oracle_disagreement, sizeof r->first_oracle_disagreement,
                         "Unicorn vs native: %s; on %s", why, st);
            if (r->oracle_disagree <= VCONC_MAX_ORACLE_LOGS)
                log_error("verify: X86 ORACLE DISAGREEMENT (model/oracle problem, not the microcode's): "
                          "Unicorn vs native: %s; on %s", why, st);
        }
    }
    r->states += n;
    return 0;
}

/* Pairs of memory operands with different base registers (and no index):
 * state_gen gives each base its own region, so they never alias; every
 * VCONC_ALIAS_EVERY-th generated state is rewritten so that the second
 * operand's address lands on or near the first's (offset 0, 1, 2, 4, -1,
 * -4, 3 or 8 bytes), inside the first one's region. */
#define VCONC_ALIAS_EVERY 8
#define VCONC_MAX_ALIAS_PAIRS 16

struct alias_pair { uint8_t a, b; };

static unsigned alias_pairs(const struct state_gen_block *blk, struct alias_pair *out)
{
    unsigned n = 0;
    for (unsigned i = 0; i < blk->nmemops; i++)
        for (unsigned j = 0; j < blk->nmemops && n < VCONC_MAX_ALIAS_PAIRS; j++) {
            const struct state_gen_memop *a = &blk->memop[i], *b = &blk->memop[j];
            if (a->base < 0 || b->base < 0 || a->index >= 0 || b->index >= 0 || a->base == b->base) continue;
            out[n++] = (struct alias_pair){ (uint8_t)i, (uint8_t)j };
        }
    return n;
}

static void alias_state(const struct state_gen_block *blk, const struct alias_pair *pairs, unsigned npairs,
                        uint64_t index, struct x86_regs *r)
{
    static const int64_t delta[8] = { 0, 1, 2, 4, -1, -4, 3, 8 };
    uint64_t k = index / VCONC_ALIAS_EVERY;
    const struct alias_pair *p = &pairs[k % npairs];
    const struct state_gen_memop *a = &blk->memop[p->a], *b = &blk->memop[p->b];
    r->gpr[b->base] = r->gpr[a->base] + (uint64_t)(a->disp - b->disp + delta[(k / npairs) % 8]);
}

int vconc_run(struct vconc *e, const uint8_t *code, size_t len, x86_locset live_out,
              const struct pixel_insn *prog, size_t nprog, const struct vconc_sample *samples,
              size_t nsamples, const struct vconc_opts *opts, struct vconc_result *r, char *err,
              size_t errlen)
{
    struct vconc_opts o;
    if (opts) o = *opts;
    else vconc_opts_default(&o);
    unsigned chunk = o.chunk ? o.chunk : VCONC_DEFAULT_CHUNK;
    memset(r, 0, sizeof *r);
    uint64_t t0 = now_us();
    if (!pixel_prog_valid(prog, nprog, err, errlen)) return -1;
    size_t ninsns = 0;
    if (x86_decode_block(code, len, STATE_GEN_CODE_BASE, 64, e->insns, VCONC_MAX_INSNS, &ninsns, err,
                         errlen) < 0)
        return -1;
    struct vflags vf;
    vflags_analyze(e->insns, ninsns, &vf);
    struct state_gen_block blk;
    if (state_gen_analyze(code, len, &blk) < 0) {
        snprintf(err, errlen, "state generator cannot analyse the block (%zu bytes)", len);
        return -1;
    }
    if (ensure_cap(e, chunk) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct alias_pair pairs[VCONC_MAX_ALIAS_PAIRS];
    unsigned npairs = alias_pairs(&blk, pairs);
    for (unsigned base = 0; base < o.nstates; base += chunk) {
        unsigned n = o.nstates - base < chunk ? o.nstates - base : chunk;
        for (unsigned i = 0; i < n; i++) {
            state_gen_make(&blk, o.seed, base + i, &e->in[i], &e->min[i], &e->gen[i]);
            if (npairs && (base + i) % VCONC_ALIAS_EVERY == VCONC_ALIAS_EVERY - 1)
                alias_state(&blk, pairs, npairs, base + i, &e->in[i]);
            e->label[i] = base + i;
        }
        if (run_chunk(e, n, code, len, live_out, &vf, prog, nprog, &o, r, err, errlen) < 0) return -1;
        if (o.stop_on_fail && r->failed) break;
    }
    struct vsample_state *vs = nsamples ? calloc(nsamples, sizeof *vs) : NULL;
    if (nsamples && !vs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t base = 0; base < nsamples && !(o.stop_on_fail && r->failed); base += chunk) {
        unsigned n = 0;
        for (size_t s = base; s < nsamples && s < base + chunk; s++) {
            char why[160];
            if (vsample_build(samples[s].pre, samples[s].acc, samples[s].nacc, len, &vs[s], why, sizeof why) < 0) {
                log_warn("verify: sampled state %zu not rebuilt: %s; skipped", s, why);
                r->samples_skipped++;
                continue;
            }
            e->in[n] = vs[s].regs;
            e->min[n] = vs[s].mem;
            e->label[n] = -(int64_t)s - 1;
            n++;
        }
        r->samples_run += n;
        if (n && run_chunk(e, n, code, len, live_out, &vf, prog, nprog, &o, r, err, errlen) < 0) {
            rc = -1;
            break;
        }
    }
    for (size_t s = 0; s < nsamples; s++) vsample_free(&vs[s]);
    free(vs);
    r->us = now_us() - t0;
    return rc;
}
