/* gpu_export.c — see gpu_export.h. */
#include "gpu_export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "pixel_gpufile.h"
#include "pixel_interp.h"
#include "pixel_state.h"
#include "speedup.h"
#include "state_gen.h"

#define PROBE_STATES 256u
/* rip of the exported states: state_gen puts code at a 4 GiB-aligned
 * address, where every backward branch target would cross into the next
 * lower 4 GiB; real code rarely straddles such a boundary, so the states
 * start in the middle of a 4 GiB window (blocks without rip-relative
 * operands: their results do not depend on where the code is otherwise). */
#define GPU_EXPORT_RIP (STATE_GEN_CODE_BASE + 0x80000000ull)
#define PAGE STATE_GEN_REGION_SIZE

/* Per region: the lowest and highest entry address of the memory operands
 * that land in it (from the x86 registers at entry). */
static void entry_span(const struct state_gen_block *blk, const struct x86_regs *x, const struct x86_mem *m,
                       uint32_t k, uint64_t *lo, uint64_t *hi)
{
    const struct x86_mem_region *reg = &m->region[k];
    *lo = UINT64_MAX;
    *hi = 0;
    for (unsigned i = 0; i < blk->nmemops; i++) {
        const struct state_gen_memop *op = &blk->memop[i];
        uint64_t a = (uint64_t)op->disp;
        if (op->base >= 0) a += x->gpr[op->base];
        else if (op->base == -2) a += op->rip_next;
        if (op->index >= 0) a += x->gpr[op->index] * op->scale;
        if (a >= reg->base && a < reg->base + reg->size) {
            if (a < *lo) *lo = a;
            if (a + op->size > *hi) *hi = a + op->size;
        }
    }
    if (*lo == UINT64_MAX) {   /* no operand lands here at entry: the whole page */
        *lo = reg->base;
        *hi = reg->base + reg->size;
    }
}

/* Window of region k for pad: [start, start + size) inside the page. */
static void crop(uint64_t lo, uint64_t page, uint32_t size, uint32_t pad, uint64_t *start)
{
    uint64_t s = lo > page + pad ? lo - pad : page;
    s &= ~7ull;
    if (s + size > page + PAGE) s = page + PAGE - size;
    *start = s;
}

struct gen {
    struct state_gen_block blk;
    uint64_t seed;
    uint32_t nregions;
    uint32_t size[X86_MEM_MAX_REGIONS];   /* window bytes per region */
    uint32_t pad;
    bool rip_relative;                    /* some operand is rip-relative: rip stays state_gen's */
};

/* State i as x86 registers and whole-page memory (storage). */
static void gen_state(const struct gen *g, uint64_t i, struct x86_regs *x, struct x86_mem *m,
                      struct state_gen_storage *st)
{
    state_gen_make(&g->blk, g->seed, i, x, m, st);
}

/* Puts state i (cropped) into batch b at slot. */
static void put_cropped(const struct gen *g, const struct x86_regs *x, const struct x86_mem *m, struct pixel_batch *b,
                        uint32_t slot)
{
    struct pixel_state ps;
    struct x86_mem bm;
    pixel_batch_get(b, slot, &ps, &bm);
    for (uint32_t k = 0; k < g->nregions; k++) {
        uint64_t lo, hi, start;
        entry_span(&g->blk, x, m, k, &lo, &hi);
        crop(lo, m->region[k].base, g->size[k], g->pad, &start);
        memcpy(bm.region[k].data, m->region[k].data + (start - m->region[k].base), g->size[k]);
        b->region_base[(size_t)k * b->n + slot] = start;
    }
    pixel_state_from_x86(x, NULL, &ps);
    if (!g->rip_relative)
        ps.r[22] = GPU_EXPORT_RIP;
    pixel_batch_put(b, slot, &ps);
}

/* Runs every state of b on the interpreter in place. */
static void run_all(const struct pixel_insn *ops, size_t nops, struct pixel_batch *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        struct pixel_state s;
        struct x86_mem m;
        struct pixel_result r;
        pixel_batch_get(b, i, &s, &m);
        pixel_run_valid(ops, nops, &s, 0, &r);
        pixel_batch_put(b, i, &s);
        b->fault[i] = (uint8_t)r.fault;
        b->fault_pc[i] = r.pc;
    }
}

/* Whether the cropped probe states end as the whole-page ones: R0..R23,
 * fault kind and pc, and the window bytes. */
static bool same_outcome(const struct pixel_batch *full, const struct pixel_batch *cut)
{
    for (uint32_t i = 0; i < full->n; i++) {
        if (full->fault[i] != cut->fault[i] || full->fault_pc[i] != cut->fault_pc[i]) return false;
        for (unsigned r = 0; r < 24; r++)
            if (full->regs[(size_t)r * full->n + i] != cut->regs[(size_t)r * cut->n + i]) return false;
        struct pixel_state a, c;
        struct x86_mem ma, mc;
        pixel_batch_get(full, i, &a, &ma);
        pixel_batch_get(cut, i, &c, &mc);
        for (uint32_t k = 0; k < cut->nregions; k++) {
            uint64_t off = cut->region_base[(size_t)k * cut->n + i] - full->region_base[(size_t)k * full->n + i];
            if (memcmp(ma.region[k].data + off, mc.region[k].data, cut->region_size[k])) return false;
        }
    }
    return true;
}

int gpu_template_states(const uint8_t *code, size_t len, const struct pixel_insn *ops, size_t nops,
                        uint32_t n, uint64_t seed, uint64_t max_bytes, struct pixel_batch *out,
                        uint32_t *probe_faults, char *why, size_t wl)
{
    memset(out, 0, sizeof *out);
    struct gen g;
    memset(&g, 0, sizeof g);
    if (state_gen_analyze(code, len, &g.blk) < 0) {
        snprintf(why, wl, "the x86 bytes do not decode");
        return -1;
    }
    g.seed = seed;
    for (unsigned i = 0; i < g.blk.nmemops; i++)
        if (g.blk.memop[i].base == -2) g.rip_relative = true;
    struct state_gen_storage *st = malloc(sizeof *st);
    struct x86_regs *px = calloc(PROBE_STATES, sizeof *px);
    struct x86_mem *pm = calloc(PROBE_STATES, sizeof *pm);
    uint8_t *pages = malloc((size_t)PROBE_STATES * X86_MEM_MAX_REGIONS * PAGE);
    struct pixel_batch full = {0}, cut = {0};
    int rc = -1;
    if (!st || !px || !pm || !pages) {
        snprintf(why, wl, "out of memory");
        goto out;
    }
    /* probe states on whole pages */
    for (uint32_t i = 0; i < PROBE_STATES; i++) {
        gen_state(&g, i, &px[i], &pm[i], st);
        for (uint32_t k = 0; k < pm[i].nregions; k++) {
            uint8_t *d = pages + ((size_t)i * X86_MEM_MAX_REGIONS + k) * PAGE;
            memcpy(d, pm[i].region[k].data, PAGE);
            pm[i].region[k].data = d;
        }
    }
    g.nregions = pm[0].nregions;
    uint32_t whole[X86_MEM_MAX_REGIONS];
    for (uint32_t k = 0; k < g.nregions; k++) whole[k] = PAGE;
    if (pixel_batch_alloc(&full, PROBE_STATES, g.nregions, whole) < 0) {
        snprintf(why, wl, "out of memory");
        goto out;
    }
    g.pad = 0;
    for (uint32_t k = 0; k < g.nregions; k++) g.size[k] = PAGE;
    for (uint32_t i = 0; i < PROBE_STATES; i++) put_cropped(&g, &px[i], &pm[i], &full, i);
    run_all(ops, nops, &full);
    /* the narrowest pad under which every probe state ends the same */
    static const uint32_t pads[] = { 32, 64, 128, 256, 512, 1024 };
    bool found = g.nregions == 0;
    for (size_t p = 0; p < sizeof pads / sizeof pads[0] && !found; p++) {
        g.pad = pads[p];
        for (uint32_t k = 0; k < g.nregions; k++) {
            uint64_t span = 0;
            for (uint32_t i = 0; i < PROBE_STATES; i++) {
                uint64_t lo, hi;
                entry_span(&g.blk, &px[i], &pm[i], k, &lo, &hi);
                if (hi - lo > span) span = hi - lo;
            }
            uint64_t w = (2 * g.pad + span + 7) & ~7ull;
            g.size[k] = (uint32_t)(w < PAGE ? w : PAGE);
        }
        pixel_batch_free(&cut);
        if (pixel_batch_alloc(&cut, PROBE_STATES, g.nregions, g.size) < 0) {
            snprintf(why, wl, "out of memory");
            goto out;
        }
        for (uint32_t i = 0; i < PROBE_STATES; i++) put_cropped(&g, &px[i], &pm[i], &cut, i);
        run_all(ops, nops, &cut);
        found = same_outcome(&full, &cut);
    }
    if (!found) {   /* whole pages */
        g.pad = PAGE;
        for (uint32_t k = 0; k < g.nregions; k++) g.size[k] = PAGE;
    }
    if (probe_faults) {
        *probe_faults = 0;
        for (uint32_t i = 0; i < PROBE_STATES; i++) *probe_faults += full.fault[i] != 0;
    }
    uint64_t per = (uint64_t)PIXEL_NREGS * 8 + 8 * g.nregions;
    for (uint32_t k = 0; k < g.nregions; k++) per += g.size[k];
    if (max_bytes && (uint64_t)n * per > max_bytes) n = (uint32_t)(max_bytes / per);
    if (n) {
        if (pixel_batch_alloc(out, n, g.nregions, g.size) < 0) {
            snprintf(why, wl, "out of memory for %u states", n);
            goto out;
        }
        for (uint32_t i = 0; i < n; i++) {
            struct x86_regs x;
            struct x86_mem m;
            gen_state(&g, i, &x, &m, st);
            put_cropped(&g, &x, &m, out, i);
        }
    }
    rc = 0;
out:
    pixel_batch_free(&full);
    pixel_batch_free(&cut);
    free(st);
    free(px);
    free(pm);
    free(pages);
    return rc;
}

struct export_ctx {
    const char *dir;
    const char *const *keys;
    size_t nkeys;
    const struct gpu_export_options *o;
    FILE *index;
    int exported, failed;
};

static bool wanted(const struct export_ctx *c, const char *key)
{
    if (!c->nkeys) return true;
    for (size_t i = 0; i < c->nkeys; i++)
        if (!strncmp(key, c->keys[i], strlen(c->keys[i]))) return true;
    return false;
}

/* The harness for the template's timed body, compiled static-pie. */
static void export_harness(const struct export_ctx *c, const struct library_entry *e, const char *k16, char *note,
                           size_t nl)
{
    size_t body = 0;
    char why[200];
    if (speedup_body_len(e->code, e->code_len, &body, why, sizeof why) < 0) {
        snprintf(note, nl, "%s", why);
        return;
    }
    char src[4200], bin[4200], logp[4200];
    snprintf(src, sizeof src, "%s/%s.harness.c", c->dir, k16);
    snprintf(bin, sizeof bin, "%s/%s.harness", c->dir, k16);
    snprintf(logp, sizeof logp, "%s/%s.harness.log", c->dir, k16);
    if (speedup_write_harness(src, e->code, body, e->live_in, e->live_out) < 0) {
        snprintf(note, nl, "cannot write %.200s", src);
        return;
    }
    char *cc[] = { (char *)(c->o->cc ? c->o->cc : "gcc"), "-O2", "-static-pie", "-o", bin, src, NULL };
    int rc = speedup_run(cc, 120, logp);
    if (rc != 0) snprintf(note, nl, "harness compile failed (status %d, %.200s)", rc, logp);
    else snprintf(note, nl, "yes");
}

static int export_one(const char *path, const struct library_entry *e, const char *err, void *ctx)
{
    struct export_ctx *c = ctx;
    if (!e) {
        log_warn("offload: export: %s: %s (skipped)", path, err ? err : "corrupt");
        return 0;
    }
    if (e->kind != LIBRARY_KIND_VERIFIED || e->cpu_mode != 64 || !wanted(c, e->key)) return 0;
    char k16[17];
    snprintf(k16, sizeof k16, "%.16s", e->key);
    size_t max = e->pixel_ops_len / 4 ? e->pixel_ops_len / 4 : 1;
    struct pixel_insn *ops = malloc(max * sizeof *ops);
    char why[256] = "", harness[300] = "no";
    if (!ops) return -1;
    int nops = pixel_decode(e->pixel_ops, e->pixel_ops_len, ops, max, why, sizeof why);
    struct pixel_batch b = {0};
    uint32_t pf = 0;
    if (nops < 0 || gpu_template_states(e->code, e->code_len, ops, (size_t)nops, c->o->nstates, c->o->seed,
                                        c->o->max_bytes, &b, &pf, why, sizeof why) < 0) {
        log_warn("offload: export: template %s: %s (skipped)", k16, why);
        c->failed++;
        free(ops);
        return 0;
    }
    uint64_t win = pixel_batch_window(&b);
    if (c->o->nstates) {
        struct pixel_job j;
        char p[4200], jerr[512];
        snprintf(p, sizeof p, "%s/%s.job", c->dir, k16);
        if (pixel_job_alloc(&j, (uint32_t)nops, b.n, b.nregions, b.region_size, jerr, sizeof jerr) < 0) {
            log_error("offload: export: %s: %s", k16, jerr);
            c->failed++;
            goto done;
        }
        memcpy(j.prog, ops, (size_t)nops * sizeof *ops);
        memcpy(j.regs, b.regs, (size_t)PIXEL_NREGS * b.n * 8);
        if (b.nregions) {
            memcpy(j.region_base, b.region_base, (size_t)b.nregions * b.n * 8);
            memcpy(j.mem, b.mem, (size_t)b.n * win);
        }
        int wrc = pixel_job_write(p, &j, jerr, sizeof jerr);
        pixel_job_free(&j);
        if (wrc < 0) {
            log_error("offload: export: %s", jerr);
            c->failed++;
            goto done;
        }
        if (c->o->harness_states) {
            snprintf(p, sizeof p, "%s/%s.hs", c->dir, k16);
            if (speedup_write_batch_states(p, &b) < 0) c->failed++;
        }
    }
    if (c->o->harness) export_harness(c, e, k16, harness, sizeof harness);
    {
        uint32_t nx = 0;
        struct state_gen_block blk;
        if (state_gen_analyze(e->code, e->code_len, &blk) == 0) nx = blk.ninsns;
        fprintf(c->index, "%s\t%s\t%u\t%d\t%u\t%" PRIu64 "\t%u\t%u/%u\t%s\n", k16, e->key, nx, nops, b.nregions, win,
                b.n, pf, PROBE_STATES, harness);
    }
    c->exported++;
done:
    pixel_batch_free(&b);
    free(ops);
    return 0;
}

int gpu_export_library(struct library *lib, const char *dir, const char *const *keys, size_t nkeys,
                       const struct gpu_export_options *o)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        log_error("offload: export: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    char ip[4200];
    snprintf(ip, sizeof ip, "%s/index.tsv", dir);
    struct export_ctx c = { dir, keys, nkeys, o, fopen(ip, "w"), 0, 0 };
    if (!c.index) {
        log_error("offload: export: cannot write %s: %s", ip, strerror(errno));
        return -1;
    }
    fprintf(c.index, "key16\tkey\tx86_insns\tpixel_insns\tregions\twindow_bytes\tstates\tprobe_faults\tharness\n");
    int rc = library_foreach(lib, export_one, &c);
    if (fclose(c.index) != 0) rc = -1;
    log_info("offload: export: %d verified templates into %s (%u states each), %d failed", c.exported, dir,
             o->nstates, c.failed);
    return rc < 0 ? -1 : c.exported;
}
