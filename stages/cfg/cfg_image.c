/* cfg_image.c — the cfg graph as bytes and back (see cfg_image.h). */
#include "cfg_image.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

#define CFG_IMAGE_MAX_VCPUS 4096u
#define CFG_IMAGE_MAX_CODE 4096u

/* ---- bytes out ----------------------------------------------------------------------- */

void cfg_bytes_free(struct cfg_bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void cfg_bytes_put(struct cfg_bytes *b, const void *p, size_t n)
{
    if (b->oom || !n) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) { b->oom = true; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* The host is x86-64 (little-endian): the integers go as they are in memory. */
void cfg_bytes_u8(struct cfg_bytes *b, uint8_t v) { cfg_bytes_put(b, &v, 1); }
void cfg_bytes_u16(struct cfg_bytes *b, uint16_t v) { cfg_bytes_put(b, &v, 2); }
void cfg_bytes_u32(struct cfg_bytes *b, uint32_t v) { cfg_bytes_put(b, &v, 4); }
void cfg_bytes_u64(struct cfg_bytes *b, uint64_t v) { cfg_bytes_put(b, &v, 8); }

/* ---- bytes in ------------------------------------------------------------------------ */

void cfg_reader_init(struct cfg_reader *r, const void *p, size_t len)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->len = len;
}

void cfg_reader_fail(struct cfg_reader *r, const char *fmt, ...)
{
    if (r->failed) return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
}

const uint8_t *cfg_read_bytes(struct cfg_reader *r, size_t n, const char *field)
{
    if (r->failed) return NULL;
    if (n > r->len - r->off) {
        cfg_reader_fail(r, "%s: %zu bytes needed at offset %zu, only %zu left (truncated)", field, n, r->off,
                        r->len - r->off);
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

#define READ_INT(name, type)                                              \
    type name(struct cfg_reader *r, const char *field)                    \
    {                                                                     \
        const uint8_t *p = cfg_read_bytes(r, sizeof(type), field);        \
        type v = 0;                                                       \
        if (p) memcpy(&v, p, sizeof v);                                   \
        return v;                                                         \
    }
READ_INT(cfg_read_u8, uint8_t)
READ_INT(cfg_read_u16, uint16_t)
READ_INT(cfg_read_u32, uint32_t)
READ_INT(cfg_read_u64, uint64_t)

uint64_t cfg_hash64(const void *data, size_t n, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ull * (n + 1));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    if (n > i) memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* ---- writing ----------------------------------------------------------------------- */

static void put_regs(struct cfg_bytes *o, const struct x86_regs *x)
{
    cfg_bytes_put(o, x->gpr, sizeof x->gpr);
    cfg_bytes_u64(o, x->rip);
    cfg_bytes_u64(o, x->rflags);
    cfg_bytes_u64(o, x->fs_base);
    cfg_bytes_u64(o, x->gs_base);
}

static void put_counters(struct cfg_bytes *o, const struct cfg_counters *n)
{
    const uint64_t v[] = { n->tbs, n->tbs_repeated, n->tbs_conflicting, n->execs, n->exec_unknown_tb,
                           n->samples, n->samples_unknown, n->undecodable_insns, n->len_mismatches,
                           n->splits, n->bad_records, n->code_spaces_opened };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) cfg_bytes_u64(o, v[i]);
}

static void put_block(struct cfg_bytes *o, const struct cfg_block *b)
{
    cfg_bytes_u64(o, b->pc);
    cfg_bytes_u64(o, b->end);
    cfg_bytes_u8(o, b->mode);
    cfg_bytes_u8(o, b->kind);
    cfg_bytes_u8(o, (uint8_t)(b->hot_pending | b->emitted << 1));
    cfg_bytes_u16(o, b->space);
    cfg_bytes_u32(o, b->ninsns);
    for (uint32_t i = 0; i < b->ninsns; i++) {
        const struct insn_info *ii = &b->insn[i];
        cfg_bytes_u64(o, ii->pc);
        cfg_bytes_u64(o, ii->target);
        cfg_bytes_u32(o, ii->use);
        cfg_bytes_u32(o, ii->def);
        cfg_bytes_u32(o, ii->kill);
        cfg_bytes_u32(o, ii->flags_undef);
        cfg_bytes_u16(o, ii->mnemonic);
        cfg_bytes_u8(o, ii->len);
        cfg_bytes_u8(o, ii->flow);
        cfg_bytes_u8(o, ii->kind);
    }
    cfg_bytes_put(o, b->code, (size_t)(b->end - b->pc));
    cfg_bytes_u64(o, b->exec_count);
    cfg_bytes_u32(o, b->nsucc);
    for (uint32_t k = 0; k < b->nsucc; k++) {
        cfg_bytes_u32(o, b->succ[k].to);
        cfg_bytes_u64(o, b->succ[k].count);
    }
    cfg_bytes_u32(o, b->last_succ);
    cfg_bytes_u32(o, b->fall);
    cfg_bytes_u64(o, b->samples_seen);
    cfg_bytes_u32(o, b->nsample);
    for (uint32_t k = 0; k < b->nsample; k++) {
        const struct cfg_sample *s = &b->sample[k];
        cfg_bytes_u64(o, s->exec_seq);
        cfg_bytes_u64(o, s->next_pc);
        put_regs(o, &s->pre);
        cfg_bytes_u8(o, s->has_post);
        if (s->has_post) put_regs(o, &s->post);
        cfg_bytes_u32(o, s->nmem);
        for (uint32_t m = 0; m < s->nmem; m++) {
            cfg_bytes_u64(o, s->mem[m].addr);
            cfg_bytes_u64(o, s->mem[m].value);
            cfg_bytes_u8(o, s->mem[m].size);
            cfg_bytes_u8(o, s->mem[m].is_store);
        }
    }
}

bool cfg_image_write(const struct cfg *g, struct cfg_bytes *o)
{
    cfg_bytes_u32(o, CFG_IMAGE_VERSION);
    cfg_bytes_u64(o, g->opt.hot_threshold);
    put_counters(o, &g->n);
    cfg_bytes_u64(o, g->rng);
    cfg_bytes_u32(o, g->nspaces);
    cfg_bytes_u64(o, g->run.runs);
    cfg_bytes_u64(o, g->run.runs_discarded);
    cfg_bytes_u64(o, g->run.runs_replaced);
    cfg_bytes_u32(o, g->run.max_tb_id);
    cfg_bytes_u8(o, (uint8_t)(g->run.has_tb | g->run.ended << 1));
    cfg_bytes_u32(o, g->nblocks);
    for (uint32_t i = 0; i < g->nblocks; i++) put_block(o, &g->block[i]);
    cfg_bytes_u32(o, g->ntbs);
    for (uint32_t i = 0; i < g->ntbs; i++) {
        const struct cfg_tb *t = &g->tb[i];
        cfg_bytes_u32(o, t->tb_id);
        cfg_bytes_u64(o, t->pc);
        cfg_bytes_u64(o, t->end);
        cfg_bytes_u8(o, t->mode);
        cfg_bytes_u8(o, t->cpl);
        cfg_bytes_u32(o, t->first);
        cfg_bytes_u64(o, t->execs);
    }
    cfg_bytes_u32(o, g->nvcpus);
    for (uint32_t v = 0; v < g->nvcpus; v++) {
        cfg_bytes_u32(o, g->vcpu_last[v]);
        cfg_bytes_u32(o, g->vcpu_first[v]);
    }
    cfg_bytes_u32(o, g->nhot);
    for (uint32_t k = 0; k < g->nhot; k++) cfg_bytes_u32(o, g->hot_queue[k]);
    uint64_t nlead = 0;
    for (size_t i = 0; i < g->leaders.cap; i++) nlead += g->leaders.slot[i].tag != 0;
    cfg_bytes_u64(o, nlead);
    for (size_t i = 0; i < g->leaders.cap; i++)
        if (g->leaders.slot[i].tag) {
            cfg_bytes_u64(o, g->leaders.slot[i].pc);
            cfg_bytes_u32(o, g->leaders.slot[i].tag);
        }
    return !o->oom;
}

/* ---- reading ----------------------------------------------------------------------- */

static void get_regs(struct cfg_reader *r, struct x86_regs *x, const char *field)
{
    const uint8_t *p = cfg_read_bytes(r, sizeof x->gpr, field);
    if (p) memcpy(x->gpr, p, sizeof x->gpr);
    x->rip = cfg_read_u64(r, field);
    x->rflags = cfg_read_u64(r, field);
    x->fs_base = cfg_read_u64(r, field);
    x->gs_base = cfg_read_u64(r, field);
}

/* A count that needs at least `min_each` bytes per element must fit in what is left. */
static bool count_fits(struct cfg_reader *r, uint64_t n, size_t min_each, const char *field)
{
    if (r->failed) return false;
    if (n > (r->len - r->off) / min_each) {
        cfg_reader_fail(r, "%s: %llu elements cannot fit in the %zu bytes left", field, (unsigned long long)n,
                        r->len - r->off);
        return false;
    }
    return true;
}

static bool is_mode(unsigned m) { return m == 16 || m == 32 || m == 64; }

static bool get_block(struct cfg_reader *r, struct cfg *g, uint32_t bi, uint32_t nblocks)
{
    struct cfg_block *b = &g->block[bi];
    /* Field names are constants (this runs for every block and sample); the
     * caller adds "block N" to a message that lacks it. */
#define FIELD(name) (name)
    const char *f = "insn";
    b->pc = cfg_read_u64(r, FIELD("pc"));
    b->end = cfg_read_u64(r, FIELD("end"));
    b->mode = cfg_read_u8(r, FIELD("mode"));
    b->kind = cfg_read_u8(r, FIELD("kind"));
    uint8_t marks = cfg_read_u8(r, FIELD("marks"));
    b->hot_pending = marks & 1;
    b->emitted = (marks >> 1) & 1;
    b->space = cfg_read_u16(r, FIELD("space"));
    b->ninsns = cfg_read_u32(r, FIELD("ninsns"));
    b->fall = b->idom = CFG_NONE;
    if (r->failed) return false;
    if (!is_mode(b->mode)) { cfg_reader_fail(r, "block %u mode: %u is not 16, 32 or 64", bi, b->mode); return false; }
    if (b->space >= g->nspaces) {
        cfg_reader_fail(r, "block %u space: %u >= %u code spaces", bi, b->space, g->nspaces);
        return false;
    }
    if (b->end <= b->pc || b->end - b->pc > CFG_IMAGE_MAX_CODE) {
        cfg_reader_fail(r, "block %u end: [%#llx, %#llx) is not 1..%u bytes", bi, (unsigned long long)b->pc,
                        (unsigned long long)b->end, CFG_IMAGE_MAX_CODE);
        return false;
    }
    uint32_t bytes = (uint32_t)(b->end - b->pc);
    if (b->ninsns == 0 || b->ninsns > bytes) {
        cfg_reader_fail(r, "block %u ninsns: %u outside 1..%u (its bytes)", bi, b->ninsns, bytes);
        return false;
    }
    if (!count_fits(r, b->ninsns, 35, FIELD("insns"))) return false;
    b->insn = calloc(b->ninsns, sizeof *b->insn);
    if (!b->insn) { cfg_reader_fail(r, "block %u: out of memory", bi); return false; }
    uint32_t sum = 0;
    for (uint32_t i = 0; i < b->ninsns; i++) {
        struct insn_info *ii = &b->insn[i];
        ii->pc = cfg_read_u64(r, f);
        ii->target = cfg_read_u64(r, f);
        ii->use = cfg_read_u32(r, f);
        ii->def = cfg_read_u32(r, f);
        ii->kill = cfg_read_u32(r, f);
        ii->flags_undef = cfg_read_u32(r, f);
        ii->mnemonic = cfg_read_u16(r, f);
        ii->len = cfg_read_u8(r, f);
        ii->flow = cfg_read_u8(r, f);
        ii->kind = cfg_read_u8(r, f);
        if (r->failed) return false;
        if (ii->len == 0) { cfg_reader_fail(r, "block %u insn %u len: 0", bi, i); return false; }
        if (ii->flow > INSN_FLOW_SYS) {
            cfg_reader_fail(r, "block %u insn %u flow: %u is not an enum insn_flow", bi, i, ii->flow);
            return false;
        }
        sum += ii->len;
    }
    if (sum != bytes) {
        cfg_reader_fail(r, "block %u insns: lengths add up to %u bytes, the block has %u", bi, sum, bytes);
        return false;
    }
    const uint8_t *code = cfg_read_bytes(r, bytes, FIELD("code"));
    if (!code) return false;
    b->code = malloc(bytes);
    if (!b->code) { cfg_reader_fail(r, "block %u: out of memory", bi); return false; }
    memcpy(b->code, code, bytes);
    b->exec_count = cfg_read_u64(r, FIELD("exec_count"));
    b->nsucc = cfg_read_u32(r, FIELD("nsucc"));
    if (!count_fits(r, b->nsucc, 12, FIELD("succs"))) return false;
    if (b->nsucc) {
        b->succ = calloc(b->nsucc, sizeof *b->succ);
        if (!b->succ) { cfg_reader_fail(r, "block %u: out of memory", bi); return false; }
        b->capsucc = b->nsucc;
    }
    for (uint32_t k = 0; k < b->nsucc; k++) {
        f = "succ";
        b->succ[k].to = cfg_read_u32(r, f);
        b->succ[k].count = cfg_read_u64(r, f);
        if (!r->failed && b->succ[k].to >= nblocks) {
            cfg_reader_fail(r, "block %u succ %u to: %u >= %u blocks", bi, k, b->succ[k].to, nblocks);
            return false;
        }
    }
    b->last_succ = cfg_read_u32(r, FIELD("last_succ"));
    b->fall = cfg_read_u32(r, FIELD("fall"));
    b->samples_seen = cfg_read_u64(r, FIELD("samples_seen"));
    b->nsample = cfg_read_u32(r, FIELD("nsample"));
    if (r->failed) return false;
    if (b->nsucc ? b->last_succ >= b->nsucc : b->last_succ != 0) {
        cfg_reader_fail(r, "block %u last_succ: %u with %u successors", bi, b->last_succ, b->nsucc);
        return false;
    }
    if (b->fall != CFG_NONE && b->fall >= nblocks) {
        cfg_reader_fail(r, "block %u fall: %u >= %u blocks", bi, b->fall, nblocks);
        return false;
    }
    if (b->nsample > CFG_MAX_SAMPLES || b->nsample > b->samples_seen) {
        cfg_reader_fail(r, "block %u nsample: %u (at most %u, and at most samples_seen %llu)", bi, b->nsample,
                        CFG_MAX_SAMPLES, (unsigned long long)b->samples_seen);
        return false;
    }
    uint32_t nsample = b->nsample;
    b->nsample = 0;     /* counts what is allocated, for cfg_free on failure */
    if (nsample) {
        b->sample = calloc(CFG_MAX_SAMPLES, sizeof *b->sample);   /* as cfg_add_sample allocates it */
        if (!b->sample) { cfg_reader_fail(r, "block %u: out of memory", bi); return false; }
    }
    for (uint32_t k = 0; k < nsample; k++) {
        struct cfg_sample *s = &b->sample[k];
        f = "sample";
        s->exec_seq = cfg_read_u64(r, f);
        s->next_pc = cfg_read_u64(r, f);
        get_regs(r, &s->pre, f);
        uint8_t has_post = cfg_read_u8(r, f);
        if (has_post > 1) { cfg_reader_fail(r, "block %u sample %u has_post: %u is not 0 or 1", bi, k, has_post); return false; }
        s->has_post = has_post;
        if (has_post) get_regs(r, &s->post, f);
        uint32_t nmem = cfg_read_u32(r, f);
        if (r->failed) return false;
        if (nmem > REC_MAX_MEMS) {
            cfg_reader_fail(r, "block %u sample %u nmem: %u > %u", bi, k, nmem, REC_MAX_MEMS);
            return false;
        }
        if (!count_fits(r, nmem, 18, f)) return false;
        b->nsample = k + 1;
        if (nmem) {
            s->mem = calloc(nmem, sizeof *s->mem);
            if (!s->mem) { cfg_reader_fail(r, "block %u: out of memory", bi); return false; }
            s->nmem = nmem;
        }
        for (uint32_t m = 0; m < nmem; m++) {
            s->mem[m].addr = cfg_read_u64(r, f);
            s->mem[m].value = cfg_read_u64(r, f);
            s->mem[m].size = cfg_read_u8(r, f);
            uint8_t st = cfg_read_u8(r, f);
            if (!r->failed && st > 1) {
                cfg_reader_fail(r, "block %u sample %u mem %u is_store: %u is not 0 or 1", bi, k, m, st);
                return false;
            }
            s->mem[m].is_store = st;
        }
    }
#undef FIELD
    return !r->failed;
}

static void get_counters(struct cfg_reader *r, struct cfg_counters *n)
{
    uint64_t *const v[] = { &n->tbs, &n->tbs_repeated, &n->tbs_conflicting, &n->execs, &n->exec_unknown_tb,
                            &n->samples, &n->samples_unknown, &n->undecodable_insns, &n->len_mismatches,
                            &n->splits, &n->bad_records, &n->code_spaces_opened };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) *v[i] = cfg_read_u64(r, "counters");
}

static bool read_all(struct cfg *g, struct cfg_reader *r)
{
    uint32_t version = cfg_read_u32(r, "image version");
    if (!r->failed && version != CFG_IMAGE_VERSION) {
        cfg_reader_fail(r, "image version: %u, this cfg reads version %u", version, CFG_IMAGE_VERSION);
        return false;
    }
    struct cfg_options o;
    cfg_options_default(&o);
    o.hot_threshold = cfg_read_u64(r, "hot_threshold");
    if (r->failed || !cfg_init(g, &o)) return false;
    get_counters(r, &g->n);
    g->rng = cfg_read_u64(r, "rng");
    g->nspaces = cfg_read_u32(r, "nspaces");
    g->run.runs = cfg_read_u64(r, "run runs");
    g->run.runs_discarded = cfg_read_u64(r, "run runs_discarded");
    g->run.runs_replaced = cfg_read_u64(r, "run runs_replaced");
    g->run.max_tb_id = cfg_read_u32(r, "run max_tb_id");
    uint8_t rf = cfg_read_u8(r, "run flags");
    g->run.has_tb = rf & 1;
    g->run.ended = (rf >> 1) & 1;
    uint32_t nblocks = cfg_read_u32(r, "nblocks");
    if (r->failed) return false;
    if (!g->rng) { cfg_reader_fail(r, "rng: 0 (the sampling generator never holds 0)"); return false; }
    if (g->nspaces > 4096) { cfg_reader_fail(r, "nspaces: %u > 4096", g->nspaces); return false; }
    if (!count_fits(r, nblocks, 60, "blocks")) return false;
    if (nblocks) {
        g->block = calloc(nblocks, sizeof *g->block);
        if (!g->block) { cfg_reader_fail(r, "blocks: out of memory for %u", nblocks); return false; }
        g->capblocks = nblocks;
    }
    for (uint32_t i = 0; i < nblocks; i++) {
        g->nblocks = i + 1;     /* what cfg_free must release */
        if (!get_block(r, g, i, nblocks)) {
            if (r->failed && strncmp(r->err, "block ", 6)) {
                char msg[sizeof r->err + 16];
                snprintf(msg, sizeof msg, "block %u %s", i, r->err);
                memcpy(r->err, msg, sizeof r->err - 1);
                r->err[sizeof r->err - 1] = 0;
            }
            return false;
        }
    }
    uint32_t ntbs = cfg_read_u32(r, "ntbs");
    if (!count_fits(r, ntbs, 31, "tbs")) return false;
    if (ntbs) {
        g->tb = calloc(ntbs, sizeof *g->tb);
        if (!g->tb) { cfg_reader_fail(r, "tbs: out of memory for %u", ntbs); return false; }
        g->captbs = g->ntbs = ntbs;
    }
    for (uint32_t i = 0; i < ntbs; i++) {
        struct cfg_tb *t = &g->tb[i];
        char f[48];
        snprintf(f, sizeof f, "tb %u", i);
        t->tb_id = cfg_read_u32(r, f);
        t->pc = cfg_read_u64(r, f);
        t->end = cfg_read_u64(r, f);
        t->mode = cfg_read_u8(r, f);
        t->cpl = cfg_read_u8(r, f);
        t->first = cfg_read_u32(r, f);
        t->execs = cfg_read_u64(r, f);
        if (r->failed) return false;
        if (!is_mode(t->mode)) { cfg_reader_fail(r, "tb %u mode: %u is not 16, 32 or 64", i, t->mode); return false; }
        if (t->first >= nblocks) { cfg_reader_fail(r, "tb %u first: %u >= %u blocks", i, t->first, nblocks); return false; }
    }
    uint32_t nvcpus = cfg_read_u32(r, "nvcpus");
    if (!r->failed && nvcpus > CFG_IMAGE_MAX_VCPUS) {
        cfg_reader_fail(r, "nvcpus: %u > %u", nvcpus, CFG_IMAGE_MAX_VCPUS);
        return false;
    }
    if (!count_fits(r, nvcpus, 8, "vcpus")) return false;
    if (nvcpus) {
        g->vcpu_last = malloc(nvcpus * sizeof *g->vcpu_last);
        g->vcpu_first = malloc(nvcpus * sizeof *g->vcpu_first);
        if (!g->vcpu_last || !g->vcpu_first) { cfg_reader_fail(r, "vcpus: out of memory"); return false; }
        g->nvcpus = nvcpus;
    }
    for (uint32_t v = 0; v < nvcpus; v++) {
        g->vcpu_last[v] = cfg_read_u32(r, "vcpu last");
        g->vcpu_first[v] = cfg_read_u32(r, "vcpu first");
        if (r->failed) return false;
        if ((g->vcpu_last[v] != CFG_NONE && g->vcpu_last[v] >= nblocks) ||
            (g->vcpu_first[v] != CFG_NONE && g->vcpu_first[v] >= nblocks)) {
            cfg_reader_fail(r, "vcpu %u: last %u / first %u beyond %u blocks", v, g->vcpu_last[v],
                            g->vcpu_first[v], nblocks);
            return false;
        }
    }
    uint32_t nhot = cfg_read_u32(r, "nhot");
    if (!r->failed && nhot > nblocks) { cfg_reader_fail(r, "nhot: %u > %u blocks", nhot, nblocks); return false; }
    if (nhot) {
        g->hot_queue = malloc(nhot * sizeof *g->hot_queue);
        if (!g->hot_queue) { cfg_reader_fail(r, "hot queue: out of memory"); return false; }
        g->caphot = g->nhot = nhot;
    }
    for (uint32_t k = 0; k < nhot; k++) {
        g->hot_queue[k] = cfg_read_u32(r, "hot queue");
        if (!r->failed && (g->hot_queue[k] >= nblocks || !g->block[g->hot_queue[k]].hot_pending)) {
            cfg_reader_fail(r, "hot queue %u: block %u is not a pending hot block", k, g->hot_queue[k]);
            return false;
        }
    }
    uint64_t nlead = cfg_read_u64(r, "nleaders");
    if (!count_fits(r, nlead, 12, "leaders")) return false;
    for (uint64_t k = 0; k < nlead; k++) {
        uint64_t pc = cfg_read_u64(r, "leader pc");
        uint32_t tag = cfg_read_u32(r, "leader tag");
        if (r->failed) return false;
        if (!tag) { cfg_reader_fail(r, "leader %llu tag: 0", (unsigned long long)k); return false; }
        if (!pcmap_put(&g->leaders, pc, tag, 1)) { cfg_reader_fail(r, "leaders: out of memory"); return false; }
    }
    if (r->off != r->len) {
        cfg_reader_fail(r, "image end: %zu bytes left over after the leaders", r->len - r->off);
        return false;
    }
    if (!cfg_rebuild_index(g)) { cfg_reader_fail(r, "lookup maps: out of memory"); return false; }
    return true;
}

bool cfg_image_read(struct cfg *g, struct cfg_reader *r)
{
    memset(g, 0, sizeof *g);
    if (read_all(g, r)) return true;
    if (!r->failed) cfg_reader_fail(r, "image: out of memory");
    if (g->block_by_pc.slot) cfg_free(g);   /* cfg_init ran */
    return false;
}
