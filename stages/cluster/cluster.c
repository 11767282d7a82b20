/* cluster.c — hot blocks to templates to synthesis jobs (see cluster.h). */
#include "cluster.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "../cfg/cfg.h"
#include "../cfg/insn_info.h"
#include "log.h"

#define CLUSTER_NONE UINT32_MAX

void cluster_options_default(struct cluster_options *o)
{
    memset(o, 0, sizeof *o);
    o->threshold = 10000;
    o->max_template_insns = 16;
    o->keep_system = false;
    canon_options_default(&o->canon);
}

bool cluster_init(struct cluster *c, const struct cluster_options *o, struct library *lib)
{
    memset(c, 0, sizeof *c);
    if (o) c->opt = *o; else cluster_options_default(&c->opt);
    if (!c->opt.max_template_insns) c->opt.max_template_insns = 16;
    c->lib = lib;
    c->next_job_id = 1;
    if (!pcmap_init(&c->block_by_pc, 1024) || !pcmap_init(&c->tmpl_by_key, 256)) {
        cluster_free(c);
        return false;
    }
    return true;
}

static void samples_free(struct cluster_sample *s, uint32_t *n)
{
    for (uint32_t i = 0; i < *n; i++) free(s[i].mem);
    *n = 0;
}

void cluster_free(struct cluster *c)
{
    for (uint32_t i = 0; i < c->nblocks; i++) {
        free(c->block[i].code);
        samples_free(c->block[i].sample, &c->block[i].nsample);
    }
    for (uint32_t i = 0; i < c->ntmpl; i++) {
        free(c->tmpl[i].code);
        free(c->tmpl[i].inst);
    }
    free(c->block);
    free(c->inst);
    free(c->tmpl);
    pcmap_free(&c->block_by_pc);
    pcmap_free(&c->tmpl_by_key);
    memset(c, 0, sizeof *c);
}

static uint64_t key_prefix(const char *hex)
{
    uint8_t b[8];
    if (!hex_decode(hex, 16, b, 8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | b[i];
    return v;
}

/* Template of a canonical sub-pattern (created on first sight). */
static uint32_t template_for(struct cluster *c, const struct canon_result *cr, uint8_t mode, uint8_t cls)
{
    char key[LIBRARY_KEY_HEX_LEN + 1];
    if (c->lib) {
        library_key_for(c->lib, cr->code, cr->len, mode, cr->live_out, key);
    } else {
        struct library_template t = library_template_make(cr->code, cr->len, mode, cr->live_out);
        library_key(&t, key, NULL);
    }
    uint64_t pre = key_prefix(key);
    uint32_t ti;
    if (pcmap_get(&c->tmpl_by_key, pre, 1, &ti)) {
        if (!strcmp(c->tmpl[ti].key, key)) return ti;
        log_error("cluster: 64-bit key prefix collision (%s vs %s): template not shared", key, c->tmpl[ti].key);
    }
    if (!array_grow((void **)&c->tmpl, &c->captmpl, c->ntmpl + 1, sizeof *c->tmpl)) return CLUSTER_NONE;
    ti = c->ntmpl;
    struct cluster_template *t = &c->tmpl[ti];
    memset(t, 0, sizeof *t);
    memcpy(t->key, key, sizeof key);
    t->code = malloc(cr->len);
    if (!t->code) return CLUSTER_NONE;
    memcpy(t->code, cr->code, cr->len);
    t->len = cr->len;
    t->ninsns = cr->ninsns;
    t->mode = mode;
    t->cls = cls;
    t->live_in = cr->live_in;
    t->live_out = cr->live_out;
    t->lib = -2;
    if (!pcmap_put(&c->tmpl_by_key, pre, 1, ti)) { free(t->code); return CLUSTER_NONE; }
    c->ntmpl++;
    c->n.templates++;
    return ti;
}

static bool instance_add(struct cluster *c, uint32_t bi, uint64_t pc, const struct canon_result *cr)
{
    struct cluster_block *b = &c->block[bi];
    uint32_t ti = template_for(c, cr, b->mode, b->cls);
    if (ti == CLUSTER_NONE) return false;
    if (!array_grow((void **)&c->inst, &c->capinst, c->ninst + 1, sizeof *c->inst)) return false;
    struct cluster_template *t = &c->tmpl[ti];
    if (!array_grow((void **)&t->inst, &t->capinst, t->ninst + 1, sizeof *t->inst)) return false;
    uint32_t ii = c->ninst++;
    struct cluster_instance *in = &c->inst[ii];
    memset(in, 0, sizeof *in);
    in->pc = pc;
    in->block = bi;
    in->tmpl = ti;
    memcpy(in->binding, cr->binding, sizeof in->binding);
    in->nimm = cr->nimm;
    memcpy(in->imm, cr->imm, (size_t)cr->nimm * sizeof *in->imm);
    t->inst[t->ninst++] = ii;
    t->nlive++;
    t->exec_count += b->exec_count;
    t->changed = true;
    if (cr->fallback) c->n.canon_fallbacks++;
    return true;
}

/* Cut the hot block into sub-patterns, canonicalize each, add instances. */
static void block_instantiate(struct cluster *c, uint32_t bi)
{
    struct cluster_block *b = &c->block[bi];
    struct insn_info *ii = malloc((size_t)b->len * sizeof *ii);
    x86_locset *live_after = malloc((size_t)b->len * sizeof *live_after);
    struct canon_result *cr = malloc(sizeof *cr);
    if (!ii || !live_after || !cr) goto out;
    uint32_t n = 0;
    for (uint32_t off = 0; off < b->len; n++) {
        if (!insn_info_decode(b->mode, b->pc + off, b->code + off, b->len - off, &ii[n])) {
            c->n.canon_failures++;
            b->canon_failed = true;
            log_warn("cluster: block %#llx: code does not decode at +%u; not templated",
                     (unsigned long long)b->pc, off);
            goto out;
        }
        off += ii[n].len;
    }
    /* Liveness inside the block, from the block's live-out backwards. */
    x86_locset live = b->live_out;
    for (uint32_t i = n; i-- > 0;) {
        live_after[i] = live;
        live = (live & ~ii[i].kill) | ii[i].use;
    }
    b->first_inst = c->ninst;
    b->ninst = 0;
    uint32_t max = c->opt.max_template_insns;
    for (uint32_t s = 0; s < n; s += max) {
        uint32_t e = s + max < n ? s + max : n;
        uint32_t off = (uint32_t)(ii[s].pc - b->pc);
        uint32_t end = (uint32_t)(ii[e - 1].pc + ii[e - 1].len - b->pc);
        x86_locset in = live_after[e - 1];
        for (uint32_t i = e; i-- > s;) in = (in & ~ii[i].kill) | ii[i].use;
        if (!canon_block(b->mode, b->code + off, end - off, in, live_after[e - 1], &c->opt.canon, cr)) {
            c->n.canon_failures++;
            continue;
        }
        if (!instance_add(c, bi, b->pc + off, cr)) {
            log_error("cluster: out of memory adding an instance of %#llx", (unsigned long long)b->pc);
            break;
        }
        b = &c->block[bi];
        b->ninst++;
        if (n > max) c->n.subpatterns++;
    }
out:
    free(ii);
    free(live_after);
    free(cr);
}

static void block_kill_instances(struct cluster *c, uint32_t bi)
{
    struct cluster_block *b = &c->block[bi];
    for (uint32_t k = 0; k < b->ninst; k++) {
        struct cluster_instance *in = &c->inst[b->first_inst + k];
        if (in->dead) continue;
        in->dead = true;
        struct cluster_template *t = &c->tmpl[in->tmpl];
        t->nlive--;
        t->exec_count -= b->exec_count;
    }
    b->ninst = 0;
}

static void block_set_samples(struct cluster_block *b, const struct rec_samples *s)
{
    samples_free(b->sample, &b->nsample);
    uint32_t n = s->n < REC_MAX_SAMPLES ? s->n : REC_MAX_SAMPLES;
    for (uint32_t i = 0; i < n; i++) {
        struct cluster_sample *d = &b->sample[b->nsample];
        memset(d, 0, sizeof *d);
        d->pre = s->v[i].pre;
        d->has_post = s->v[i].post.present;
        d->post = s->v[i].post.regs;
        if (s->v[i].mem.n) {
            d->mem = malloc((size_t)s->v[i].mem.n * sizeof *d->mem);
            if (!d->mem) break;
            memcpy(d->mem, s->v[i].mem.v, (size_t)s->v[i].mem.n * sizeof *d->mem);
            d->nmem = s->v[i].mem.n;
        }
        b->nsample++;
    }
}

bool cluster_add_block(struct cluster *c, const struct rec_block *r)
{
    c->n.blocks_in++;
    if ((r->cpu_mode != 16 && r->cpu_mode != 32 && r->cpu_mode != 64) || r->code.len == 0) {
        c->n.bad_records++;
        log_error("cluster: BLOCK pc %#llx: cpu_mode %u / code length %u unusable; ignored",
                  (unsigned long long)r->pc, r->cpu_mode, r->code.len);
        return false;
    }
    uint32_t bi = CLUSTER_NONE, first = CLUSTER_NONE, last = CLUSTER_NONE;
    struct cluster_block *b;
    if (pcmap_get(&c->block_by_pc, r->pc, r->cpu_mode, &first)) {
        for (uint32_t x = first; x != CLUSTER_NONE; x = c->block[x].next_same_pc) {
            const struct cluster_block *k = &c->block[x];
            uint32_t common = k->len < r->code.len ? k->len : r->code.len;
            last = x;
            if (!memcmp(k->code, r->code.ptr, common)) { bi = x; break; }
        }
    }
    if (bi != CLUSTER_NONE) {
        b = &c->block[bi];
        bool same_code = b->len == r->code.len && !memcmp(b->code, r->code.ptr, b->len);
        if (same_code && b->live_out == r->live_out && b->live_in == r->live_in) {
            /* The same block again (re-emitted or redelivered): keep the higher count. */
            if (r->exec_count > b->exec_count) {
                uint64_t delta = r->exec_count - b->exec_count;
                for (uint32_t k = 0; k < b->ninst; k++) {
                    struct cluster_instance *in = &c->inst[b->first_inst + k];
                    if (!in->dead) c->tmpl[in->tmpl].exec_count += delta;
                }
                b->exec_count = r->exec_count;
            }
            if (r->samples.n) block_set_samples(b, &r->samples);
        } else {
            /* A new extent (cfg split the block) or new liveness: re-template. */
            block_kill_instances(c, bi);
            if (!same_code) {
                uint8_t *nc = realloc(b->code, r->code.len);
                if (!nc) return false;
                b->code = nc;
                memcpy(b->code, r->code.ptr, r->code.len);
                b->len = r->code.len;
            }
            b->live_in = r->live_in;
            b->live_out = r->live_out;
            b->cls = r->class;
            if (r->exec_count > b->exec_count) b->exec_count = r->exec_count;
            block_set_samples(b, &r->samples);
            b->canon_failed = false;
            if (b->hot && !b->filtered) block_instantiate(c, bi);
        }
    } else {
        if (!array_grow((void **)&c->block, &c->capblocks, c->nblocks + 1, sizeof *c->block)) return false;
        bi = c->nblocks;
        b = &c->block[bi];
        memset(b, 0, sizeof *b);
        b->pc = r->pc;
        b->mode = r->cpu_mode;
        b->cls = r->class;
        b->exec_count = r->exec_count;
        b->live_in = r->live_in;
        b->live_out = r->live_out;
        b->code = malloc(r->code.len);
        if (!b->code || (first == CLUSTER_NONE && !pcmap_put(&c->block_by_pc, r->pc, r->cpu_mode, bi))) {
            free(b->code);
            return false;
        }
        memcpy(b->code, r->code.ptr, r->code.len);
        b->len = r->code.len;
        b->next_same_pc = CLUSTER_NONE;
        block_set_samples(b, &r->samples);
        c->nblocks++;
        c->n.blocks_distinct++;
        if (last != CLUSTER_NONE) c->block[last].next_same_pc = bi;
    }
    b = &c->block[bi];
    if (!b->hot && b->exec_count >= c->opt.threshold) {
        b->hot = true;
        c->n.blocks_hot++;
        if (b->cls == CFG_CLASS_SYSTEM && !c->opt.keep_system) {
            b->filtered = true;
            c->n.filtered_system++;
        } else {
            block_instantiate(c, bi);
        }
    }
    return true;
}

static int rank_cmp(const void *a, const void *b, void *ctx)
{
    const struct cluster *c = ctx;
    const struct cluster_template *x = &c->tmpl[*(const uint32_t *)a];
    const struct cluster_template *y = &c->tmpl[*(const uint32_t *)b];
    if (x->cls != y->cls) return x->cls < y->cls ? -1 : 1;   /* simple classes first */
    if (x->exec_count != y->exec_count) return x->exec_count > y->exec_count ? -1 : 1;
    return strcmp(x->key, y->key);
}

uint32_t *cluster_rank_templates(const struct cluster *c, uint32_t *n)
{
    uint32_t *idx = malloc((c->ntmpl ? c->ntmpl : 1) * sizeof *idx);
    *n = 0;
    if (!idx) return NULL;
    for (uint32_t i = 0; i < c->ntmpl; i++)
        if (c->tmpl[i].nlive) idx[(*n)++] = i;
    qsort_r(idx, *n, sizeof *idx, rank_cmp, (void *)c);
    return idx;
}

double cluster_dedup_ratio(const struct cluster *c)
{
    uint64_t inst = 0, tm = 0;
    for (uint32_t i = 0; i < c->ntmpl; i++)
        if (c->tmpl[i].nlive) { inst += c->tmpl[i].nlive; tm++; }
    return tm ? (double)inst / (double)tm : 0.0;
}

static int inst_cmp(const void *a, const void *b, void *ctx)
{
    const struct cluster *c = ctx;
    const struct cluster_instance *x = &c->inst[*(const uint32_t *)a];
    const struct cluster_instance *y = &c->inst[*(const uint32_t *)b];
    uint64_t cx = c->block[x->block].exec_count, cy = c->block[y->block].exec_count;
    if (cx != cy) return cx > cy ? -1 : 1;
    return x->pc < y->pc ? -1 : x->pc > y->pc;
}

/* Build and emit the job of template ti. */
static bool emit_job(struct cluster *c, uint32_t ti, cluster_emit_fn emit, void *ctx)
{
    struct cluster_template *t = &c->tmpl[ti];
    uint32_t *live = malloc((t->nlive ? t->nlive : 1) * sizeof *live);
    struct rec_instance *ri = calloc(REC_MAX_INSTANCES, sizeof *ri);
    struct rec_sample *rs = calloc(REC_MAX_SAMPLES, sizeof *rs);
    struct library_entry ent;
    library_entry_init(&ent);
    bool ok = false;
    if (!live || !ri || !rs) goto out;
    uint32_t nl = 0;
    for (uint32_t k = 0; k < t->ninst; k++)
        if (!c->inst[t->inst[k]].dead) live[nl++] = t->inst[k];
    qsort_r(live, nl, sizeof *live, inst_cmp, c);

    struct rec_synth_job j;
    memset(&j, 0, sizeof j);
    j.job_id = c->next_job_id;
    j.template_key = rec_str_c(t->key);
    j.code.ptr = t->code;
    j.code.len = t->len;
    j.cpu_mode = t->mode;
    j.live_in = t->live_in;
    j.live_out = t->live_out;
    j.class = t->cls;
    j.exec_count = t->exec_count;
    uint32_t ni = nl < REC_MAX_INSTANCES ? nl : REC_MAX_INSTANCES;
    for (uint32_t k = 0; k < ni; k++) {
        struct cluster_instance *in = &c->inst[live[k]];
        ri[k].pc = in->pc;
        memcpy(ri[k].binding, in->binding, sizeof ri[k].binding);
        ri[k].imms.n = in->nimm;
        ri[k].imms.v = in->imm;
    }
    j.instances.n = ni;
    j.instances.v = ri;
    /* Samples: states at the entry of instances that start their block,
     * renamed into canonical registers, taken round-robin over instances. */
    uint32_t ns = 0;
    for (uint32_t round = 0; ns < REC_MAX_SAMPLES && round < REC_MAX_SAMPLES; round++) {
        bool any = false;
        for (uint32_t k = 0; k < nl && ns < REC_MAX_SAMPLES; k++) {
            struct cluster_instance *in = &c->inst[live[k]];
            struct cluster_block *b = &c->block[in->block];
            if (in->pc != b->pc || round >= b->nsample) continue;
            const struct cluster_sample *s = &b->sample[round];
            struct canon_result map;
            memcpy(map.binding, in->binding, sizeof map.binding);
            canon_rename_regs(&map, &s->pre, &rs[ns].pre);
            rs[ns].post.present = s->has_post && b->ninst == 1;   /* post = end of the whole block */
            if (rs[ns].post.present) canon_rename_regs(&map, &s->post, &rs[ns].post.regs);
            rs[ns].mem.n = s->nmem;
            rs[ns].mem.v = s->mem;
            ns++;
            any = true;
        }
        if (!any) break;
    }
    j.samples.n = ns;
    j.samples.v = rs;

    if (c->lib) {
        enum library_result lr = library_lookup(c->lib, t->key, &ent);
        t->lib = lr;
        switch (lr) {
        case LIBRARY_HIT:
            c->n.lib_hits++;
            j.lib_hit = true;
            j.cached_ops.ptr = ent.pixel_ops;
            j.cached_ops.len = (uint32_t)ent.pixel_ops_len;
            break;
        case LIBRARY_HIT_QEMU_ONLY: c->n.lib_qemu_only++; break;
        case LIBRARY_MISS: c->n.lib_misses++; break;
        default: c->n.lib_errors++; break;
        }
    } else {
        c->n.lib_misses++;
    }
    ok = emit(ctx, &j);
    if (ok) {
        c->next_job_id++;
        c->n.jobs++;
        t->emitted = true;
        t->changed = false;
    }
out:
    library_entry_free(&ent);
    free(live);
    free(ri);
    free(rs);
    return ok;
}

long cluster_flush(struct cluster *c, cluster_emit_fn emit, void *ctx)
{
    uint32_t n;
    uint32_t *idx = cluster_rank_templates(c, &n);
    if (!idx) return -1;
    long emitted = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct cluster_template *t = &c->tmpl[idx[k]];
        if (t->emitted && !t->changed) continue;
        if (!emit_job(c, idx[k], emit, ctx)) { free(idx); return -1; }
        emitted++;
    }
    free(idx);
    return emitted;
}

static char *hexpc(uint64_t pc, char *buf)
{
    snprintf(buf, 24, "0x%llx", (unsigned long long)pc);
    return buf;
}

static json_t *disasm_json(const uint8_t *code, uint32_t len, uint8_t mode, uint64_t pc)
{
    json_t *a = json_array();
    for (uint32_t off = 0; off < len;) {
        struct insn_info ii;
        char text[160];
        if (!insn_info_decode(mode, pc + off, code + off, len - off, &ii)) break;
        if (!insn_info_format(mode, pc + off, code + off, len - off, text, sizeof text)) break;
        json_array_append_new(a, json_string(text));
        off += ii.len;
    }
    return a;
}

bool cluster_write_report(const struct cluster *c, const char *dir)
{
    char pcb[24], path[4096];
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("tcgl-cluster/1"));
    json_object_set_new(root, "threshold", json_integer((json_int_t)c->opt.threshold));
    json_t *cnt = json_object();
#define CNT(f) json_object_set_new(cnt, #f, json_integer((json_int_t)c->n.f));
    CNT(blocks_in) CNT(blocks_distinct) CNT(blocks_hot) CNT(filtered_system) CNT(canon_failures)
    CNT(canon_fallbacks) CNT(subpatterns) CNT(templates) CNT(jobs) CNT(lib_hits) CNT(lib_qemu_only)
    CNT(lib_misses) CNT(lib_errors) CNT(bad_records)
#undef CNT
    json_object_set_new(root, "counters", cnt);
    json_object_set_new(root, "dedup_ratio", json_real(cluster_dedup_ratio(c)));

    /* Hot blocks, ranked by execution count. */
    uint32_t *bidx = malloc((c->nblocks ? c->nblocks : 1) * sizeof *bidx);
    uint32_t nb = 0;
    if (bidx) {
        for (uint32_t i = 0; i < c->nblocks; i++) if (c->block[i].hot) bidx[nb++] = i;
        for (uint32_t i = 1; i < nb; i++) {          /* insertion sort: hot blocks are few */
            uint32_t v = bidx[i], k = i;
            while (k > 0 && c->block[bidx[k - 1]].exec_count < c->block[v].exec_count) { bidx[k] = bidx[k - 1]; k--; }
            bidx[k] = v;
        }
    }
    json_t *hb = json_array();
    for (uint32_t k = 0; k < nb; k++) {
        const struct cluster_block *b = &c->block[bidx[k]];
        json_t *o = json_object();
        json_object_set_new(o, "pc", json_string(hexpc(b->pc, pcb)));
        json_object_set_new(o, "cpu_mode", json_integer(b->mode));
        json_object_set_new(o, "exec_count", json_integer((json_int_t)b->exec_count));
        json_object_set_new(o, "class", json_string(cfg_class_name(b->cls)));
        json_object_set_new(o, "filtered", json_boolean(b->filtered));
        json_object_set_new(o, "insns", disasm_json(b->code, b->len, b->mode, b->pc));
        json_t *tk = json_array();
        for (uint32_t q = 0; q < b->ninst; q++) {
            const struct cluster_instance *in = &c->inst[b->first_inst + q];
            if (!in->dead) json_array_append_new(tk, json_string(c->tmpl[in->tmpl].key));
        }
        json_object_set_new(o, "templates", tk);
        json_array_append_new(hb, o);
    }
    free(bidx);
    json_object_set_new(root, "hot_blocks", hb);

    uint32_t nt;
    uint32_t *tidx = cluster_rank_templates(c, &nt);
    json_t *ta = json_array();
    for (uint32_t k = 0; tidx && k < nt; k++) {
        const struct cluster_template *t = &c->tmpl[tidx[k]];
        json_t *o = json_object();
        json_object_set_new(o, "key", json_string(t->key));
        json_object_set_new(o, "cpu_mode", json_integer(t->mode));
        json_object_set_new(o, "class", json_string(cfg_class_name(t->cls)));
        json_object_set_new(o, "exec_count", json_integer((json_int_t)t->exec_count));
        json_object_set_new(o, "instances", json_integer(t->nlive));
        json_object_set_new(o, "live_in", json_integer(t->live_in));
        json_object_set_new(o, "live_out", json_integer(t->live_out));
        json_object_set_new(o, "canonical", disasm_json(t->code, t->len, t->mode, 0));
        json_object_set_new(o, "library", json_string(t->lib == LIBRARY_HIT ? "hit" :
                                                      t->lib == LIBRARY_HIT_QEMU_ONLY ? "qemu_only" :
                                                      t->lib == LIBRARY_MISS ? "miss" :
                                                      t->lib == -2 ? "not looked up" : "error"));
        json_array_append_new(ta, o);
    }
    free(tidx);
    json_object_set_new(root, "templates", ta);
    snprintf(path, sizeof path, "%s/cluster.json", dir);
    int rc = json_dump_file(root, path, JSON_INDENT(1));
    json_decref(root);
    if (rc) log_error("cluster: cannot write %s: %s", path, strerror(errno));
    return rc == 0;
}
