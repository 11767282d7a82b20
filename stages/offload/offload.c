/* offload.c — see offload.h. */
#include "offload.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "replay.h"
#include "x86_decode.h"
#include "../cfg/cfg.h"

struct offload {
    struct library *lib;
    struct offload_options o;
    struct offload_tmpl *t;
    size_t n, cap;
    struct offload_stats st;
    struct rec_arena arena;
    struct gpu_probe gpu;             /* set by offload_measure */
};

struct offload *offload_new(struct library *lib, const struct offload_options *o)
{
    struct offload *off = calloc(1, sizeof *off);
    if (!off) return NULL;
    off->lib = lib;
    if (o) off->o = *o;
    if (!off->o.workload) off->o.workload = "default";
    if (!o) gpu_options_default(&off->o.gpu);
    snprintf(off->gpu.note, sizeof off->gpu.note, "not measured");
    rec_arena_init(&off->arena);
    return off;
}

static void tmpl_free(struct offload_tmpl *t)
{
    free(t->code);
    free(t->disasm);
    free(t->ops);
    for (uint32_t i = 0; i < t->nsamples; i++) free(t->samples[i].mem.v);
    free(t->samples);
    free(t->sample_param);
}

void offload_free(struct offload *off)
{
    if (!off) return;
    for (size_t i = 0; i < off->n; i++) tmpl_free(&off->t[i]);
    free(off->t);
    rec_arena_free(&off->arena);
    free(off);
}

const struct offload_stats *offload_get_stats(const struct offload *off) { return &off->st; }
size_t offload_ntemplates(const struct offload *off) { return off->n; }
const struct offload_tmpl *offload_template(const struct offload *off, size_t i) { return i < off->n ? &off->t[i] : NULL; }

static struct offload_tmpl *find(const struct offload *off, const char *key)
{
    for (size_t i = 0; i < off->n; i++)
        if (!strcmp(off->t[i].key, key)) return &off->t[i];
    return NULL;
}
const struct offload_tmpl *offload_find(const struct offload *off, const char *key) { return find(off, key); }

/* A new template from a job (code, live sets, instances, samples). */
static struct offload_tmpl *tmpl_add(struct offload *off, const struct rec_synth_job *j)
{
    if (off->n == off->cap) {
        size_t nc = off->cap ? 2 * off->cap : 64;
        struct offload_tmpl *nt = realloc(off->t, nc * sizeof *nt);
        if (!nt) return NULL;
        off->t = nt;
        off->cap = nc;
    }
    struct offload_tmpl *t = &off->t[off->n];
    memset(t, 0, sizeof *t);
    snprintf(t->key, sizeof t->key, "%.*s", (int)j->template_key.len, j->template_key.ptr);
    t->code = malloc(j->code.len ? j->code.len : 1);
    t->samples = calloc(j->samples.n ? j->samples.n : 1, sizeof *t->samples);
    t->sample_param = calloc(j->samples.n ? j->samples.n : 1, sizeof *t->sample_param);
    if (!t->code || !t->samples || !t->sample_param) {
        free(t->code);
        free(t->samples);
        free(t->sample_param);
        return NULL;
    }
    if (j->code.len) memcpy(t->code, j->code.ptr, j->code.len);
    t->code_len = j->code.len;
    t->cpu_mode = j->cpu_mode;
    t->cls = j->class;
    t->live_in = j->live_in;
    t->live_out = j->live_out;
    t->exec_count = j->exec_count;
    t->ninstances = j->instances.n;
    t->first_pc = j->instances.n ? j->instances.v[0].pc : 0;
    t->status = REPORT_BLOCK_PENDING;
    for (uint32_t i = 0; i < j->samples.n; i++) {
        const struct rec_sample *s = &j->samples.v[i];
        struct rec_sample *d = &t->samples[t->nsamples];
        *d = *s;
        d->mem.v = malloc((s->mem.n ? s->mem.n : 1) * sizeof *d->mem.v);
        if (!d->mem.v) break;
        if (s->mem.n) memcpy(d->mem.v, s->mem.v, s->mem.n * sizeof *d->mem.v);
        /* The template's code carries placeholder immediates (0x10 + k,
         * canon.h); the microcode computes with them.  A sample of an
         * instance whose immediates differ is not a run of this code. */
        for (uint32_t k = 0; k < j->instances.n; k++) {
            const struct rec_instance *in = &j->instances.v[k];
            if (in->pc != s->pre.rip) continue;
            for (uint32_t m = 0; m < in->imms.n; m++)
                if (in->imms.v[m] != 0x10u + m) t->sample_param[t->nsamples] = true;
            break;
        }
        t->nsamples++;
    }
    /* instruction count and disassembly */
    static struct x86_insn insns[REC_MAX_TB_INSNS];
    size_t ni = 0;
    char err[160];
    if (x86_decode_block(t->code, t->code_len, t->first_pc, t->cpu_mode, insns, REC_MAX_TB_INSNS, &ni, err,
                         sizeof err) == 0 && ni) {
        t->ninsns = (uint32_t)ni;
        size_t cap = ni * 100 + 1, len = 0;
        t->disasm = malloc(cap);
        if (t->disasm) {
            t->disasm[0] = '\0';
            for (size_t i = 0; i < ni; i++)
                len += (size_t)snprintf(t->disasm + len, cap - len, "%s%.96s", i ? "\n" : "", insns[i].text);
        }
    } else {
        t->ninsns = 1;   /* undecodable: count the block as one instruction */
    }
    off->n++;
    off->st.user_insns += t->exec_count * t->ninsns;
    return t;
}

static void replay_all(struct offload *off, struct offload_tmpl *t)
{
    for (uint32_t i = 0; i < t->nsamples; i++) {
        char why[200];
        if (t->sample_param[i]) {
            t->replay_param_skips++;
            t->replay_skipped++;
            off->st.replay_param_skips++;
            off->st.replay_skipped++;
            continue;
        }
        enum replay_outcome r = replay_sample(t->ops, t->nops, t->live_in, t->live_out, t->code_len, &t->samples[i], why,
                                              sizeof why);
        if (r == REPLAY_SKIPPED) {
            t->replay_skipped++;
            off->st.replay_skipped++;
            continue;
        }
        t->replay_checked++;
        off->st.replay_checked++;
        if (r == REPLAY_AGREE) {
            t->replay_agreed++;
            off->st.replay_agreed++;
        } else {
            if (!t->replay_disagreed)
                snprintf(t->replay_diff, sizeof t->replay_diff, "sample %u (pc 0x%" PRIx64 "): %.150s", i,
                         t->samples[i].pre.rip, why);
            t->replay_disagreed++;
            off->st.replay_disagreed++;
        }
    }
    if (t->replay_disagreed)
        log_warn("offload: template %.16s (pc 0x%" PRIx64 "): replay disagrees on %" PRIu64 " of %" PRIu64
                 " sampled states; first: %s", t->key, t->first_pc, t->replay_disagreed, t->replay_checked,
                 t->replay_diff);
}

/* Verified microcode for t: set ops, replay, count coverage. */
static int make_offloaded(struct offload *off, struct offload_tmpl *t, const uint8_t *ops, size_t len)
{
    size_t max = len / 4 ? len / 4 : 1;
    t->ops = malloc(max * sizeof *t->ops);
    if (!t->ops) return -1;
    char err[160];
    int n = pixel_decode(ops, len, t->ops, max, err, sizeof err);
    if (n < 0) {
        log_error("offload: template %.16s: verified microcode does not decode: %s", t->key, err);
        free(t->ops);
        t->ops = NULL;
        t->status = REPORT_BLOCK_FAILED;
        return -1;
    }
    t->nops = (size_t)n;
    t->status = REPORT_BLOCK_OFFLOADED;
    off->st.user_insns_offloaded += t->exec_count * t->ninsns;
    replay_all(off, t);
    return 0;
}

static void fallback_event(struct offload *off, struct offload_tmpl *t, uint64_t n)
{
    t->fallback_events += n;
    off->st.fallback_events += n;
    if (!t->fallback_logged) {
        t->fallback_logged = true;
        off->st.fallback_logged++;
        log_info("offload: fallback: template %.16s (pc 0x%" PRIx64 ", %" PRIu64 " executions) stays in QEMU: %s%s%s",
                 t->key, t->first_pc, t->exec_count, t->reason[0] ? t->reason : "QEMU-only",
                 t->mnemonic[0] ? " — " : "", t->mnemonic);
    }
}

bool offload_fallback(struct offload *off, const char *key)
{
    struct offload_tmpl *t = find(off, key);
    if (!t || t->status != REPORT_BLOCK_QEMU_ONLY) return false;
    fallback_event(off, t, 1);
    return true;
}

static void mark_qemu_only(struct offload *off, struct offload_tmpl *t, const char *reason, const char *mnemonic)
{
    t->status = REPORT_BLOCK_QEMU_ONLY;
    snprintf(t->reason, sizeof t->reason, "%s", reason && reason[0] ? reason : "QEMU-only");
    snprintf(t->mnemonic, sizeof t->mnemonic, "%s", mnemonic ? mnemonic : "");
    /* every sampled execution of the block ran in QEMU */
    fallback_event(off, t, t->nsamples ? t->nsamples : 1);
}

/* A template already known: at-least-once delivery or a later record. */
static bool seen_before(struct offload *off, struct offload_tmpl *t)
{
    if (!t) return false;
    off->st.duplicates++;
    if (t->status == REPORT_BLOCK_QEMU_ONLY) fallback_event(off, t, 1);   /* not retried */
    return true;
}

/* A template whose microcode was rejected is remembered in the library as
 * QEMU-only, with the reason, so that no later run of the same library
 * version spends synthesis and verification on it again (`tcgl-lib prune
 * --qemu-only` forgets such markers, e.g. to retry with longer timeouts). */
static void store_rejection(struct offload *off, const struct library_template *lt, const char *reason)
{
    if (!off->lib) return;
    int rc = library_put_qemu_only(off->lib, lt, reason, "", off->o.workload);
    if (rc < 0) off->st.store_errors++;
    else if (rc == 0) off->st.stored_qemu_only++;
}

int offload_handle_verdict(struct offload *off, const struct rec_verdict *v)
{
    const struct rec_candidate *c = &v->candidate;
    const struct rec_synth_job *j = &c->job;
    off->st.verdicts++;
    char key[LIBRARY_KEY_HEX_LEN + 1];
    snprintf(key, sizeof key, "%.*s", (int)j->template_key.len, j->template_key.ptr);
    if (seen_before(off, find(off, key))) return 0;
    struct offload_tmpl *t = tmpl_add(off, j);
    if (!t) return -1;
    t->method = (enum library_method)c->method;
    t->proof = (enum library_proof)v->proof;
    t->cost = c->cost;
    t->baseline_cost = c->baseline_cost;
    t->synth_us = c->synth_us;
    t->proof_us = v->proof_us;
    t->test_us = v->test_us;
    t->tests_unicorn = v->tests_unicorn;
    t->tests_native = v->tests_native;
    t->tests_failed = v->tests_failed;
    off->st.tests_unicorn += v->tests_unicorn;
    off->st.tests_native += v->tests_native;
    off->st.tests_failed += v->tests_failed;
    struct library_template lt = library_template_make(j->code.ptr, j->code.len, j->cpu_mode, j->live_out);

    if (c->method == LIBRARY_METHOD_QEMU_ONLY) {
        mark_qemu_only(off, t, c->reason.ptr, c->mnemonic.ptr);
        if (off->lib) {
            int rc = library_put_qemu_only(off->lib, &lt, t->reason, t->mnemonic, off->o.workload);
            if (rc < 0) off->st.store_errors++;
            else if (rc == 0) off->st.stored_qemu_only++;
        }
        return 0;
    }
    switch (v->proof) {
    case LIBRARY_PROOF_PROVED: off->st.proved++; break;
    case LIBRARY_PROOF_REFUTED: off->st.refuted++; break;
    case LIBRARY_PROOF_UNKNOWN: off->st.unknown++; break;
    case LIBRARY_PROOF_TIMEOUT: off->st.timeouts++; break;
    default: off->st.not_attempted++; break;
    }
    if (v->proof != LIBRARY_PROOF_PROVED || v->tests_failed || !(v->tests_unicorn + v->tests_native)) {
        t->status = REPORT_BLOCK_FAILED;
        if (v->proof == LIBRARY_PROOF_PROVED && v->tests_failed) off->st.tests_failed_rejects++;
        else if (v->proof == LIBRARY_PROOF_PROVED) off->st.untested_rejects++;
        log_info("offload: template %.16s (pc 0x%" PRIx64 ") not stored: proof %s, tests %u unicorn + %u native, "
                 "%u failed%s%.200s", t->key, t->first_pc, library_proof_name((enum library_proof)v->proof),
                 v->tests_unicorn, v->tests_native, v->tests_failed, v->counterexample.len ? "; counterexample: " : "",
                 v->counterexample.len ? v->counterexample.ptr : "");
        char reason[160];
        snprintf(reason, sizeof reason, "not verified: proof %s, %u of %u concrete tests failed",
                 library_proof_name((enum library_proof)v->proof), v->tests_failed,
                 v->tests_unicorn + v->tests_native);
        store_rejection(off, &lt, reason);
        return 0;
    }
    if (make_offloaded(off, t, c->pixel_ops.ptr, c->pixel_ops.len) < 0) return 0;
    if (t->replay_disagreed) {
        /* proved and tested, yet it disagrees with what QEMU recorded: never
         * trust it (a bug in verify, the model or the tracer to look at) */
        log_error("offload: template %.16s: proved microcode disagrees with the trace; not stored, not offloaded",
                  t->key);
        off->st.user_insns_offloaded -= t->exec_count * t->ninsns;
        t->status = REPORT_BLOCK_FAILED;
        off->st.replay_rejects++;
        store_rejection(off, &lt, "not verified: proved microcode disagrees with the traced execution");
        return 0;
    }
    if (off->lib) {
        struct library_entry e;
        library_entry_init(&e);
        e.kind = LIBRARY_KIND_VERIFIED;
        e.cpu_mode = j->cpu_mode;
        e.live_in = j->live_in;
        e.live_out = j->live_out;
        e.isa_version = lt.isa_version;
        e.semantics_version = lt.semantics_version;
        e.method = (enum library_method)c->method;
        e.cost = c->cost;
        e.baseline_cost = c->baseline_cost;
        e.proof = LIBRARY_PROOF_PROVED;
        e.tests_unicorn = v->tests_unicorn;
        e.tests_native = v->tests_native;
        e.tests_failed = v->tests_failed;
        e.synth_us = c->synth_us;
        e.proof_us = v->proof_us;
        e.test_us = v->test_us;
        e.instances = j->instances.n;
        snprintf(e.first_seen_workload, sizeof e.first_seen_workload, "%s", off->o.workload);
        if (!library_entry_set_code(&e, j->code.ptr, j->code.len)
            || !library_entry_set_ops(&e, c->pixel_ops.ptr, c->pixel_ops.len)) {
            off->st.store_errors++;
        } else {
            library_entry_rekey(&e);
            if (strcmp(e.key, t->key))
                log_warn("offload: template %.16s: job key differs from the library key %.16s (versions?)",
                         t->key, e.key);
            if (library_put_verified(off->lib, &e) < 0) off->st.store_errors++;
            else off->st.stored_verified++;
        }
        library_entry_free(&e);
    }
    return 0;
}

int offload_handle_job(struct offload *off, const struct rec_synth_job *j)
{
    off->st.hit_jobs++;
    char key[LIBRARY_KEY_HEX_LEN + 1];
    snprintf(key, sizeof key, "%.*s", (int)j->template_key.len, j->template_key.ptr);
    if (seen_before(off, find(off, key))) return 0;
    struct offload_tmpl *t = tmpl_add(off, j);
    if (!t) return -1;
    t->method = LIBRARY_METHOD_LIBRARY_HIT;
    if (j->lib_hit && j->cached_ops.len) {
        off->st.lib_hits++;
        t->proof = LIBRARY_PROOF_PROVED;
        struct library_entry e;
        library_entry_init(&e);
        if (off->lib && library_lookup(off->lib, key, &e) == LIBRARY_HIT) {
            t->cost = e.cost;
            t->baseline_cost = e.baseline_cost;
            t->tests_unicorn = e.tests_unicorn;
            t->tests_native = e.tests_native;
            library_add_instances(off->lib, key, j->instances.n);
        }
        library_entry_free(&e);
        make_offloaded(off, t, j->cached_ops.ptr, j->cached_ops.len);
        return 0;
    }
    /* not a verified hit: the library may mark it QEMU-only */
    struct library_entry e;
    library_entry_init(&e);
    enum library_result lr = off->lib ? library_lookup(off->lib, key, &e) : LIBRARY_MISS;
    if (lr == LIBRARY_HIT_QEMU_ONLY) mark_qemu_only(off, t, e.reason, e.mnemonic);
    else log_warn("offload: job %" PRIu64 " (template %.16s) came as a hit without microcode; left pending",
                  j->job_id, key);
    library_entry_free(&e);
    return 0;
}

int offload_handle_record(struct offload *off, const void *data, size_t len, char *err, size_t errlen)
{
    off->st.records++;
    struct rec r;
    struct rec_error re;
    rec_arena_reset(&off->arena);
    int type = rec_decode(data, len, &r, &off->arena, &re);
    if (type < 0) {
        off->st.bad_records++;
        snprintf(err, errlen, "%s", re.msg);
        return -1;
    }
    if (type == REC_VERDICT) return offload_handle_verdict(off, &r.u.verdict);
    if (type == REC_SYNTH_JOB) return offload_handle_job(off, &r.u.synth_job);
    if (type == REC_TRACE_END) return 0;
    off->st.bad_records++;
    snprintf(err, errlen, "unexpected record type %s (%d): offload takes VERDICT and SYNTH_JOB",
             rec_type_name((uint32_t)type), type);
    return -1;
}

static int hotter(const void *a, const void *b)
{
    const struct offload_tmpl *x = *(const struct offload_tmpl *const *)a, *y = *(const struct offload_tmpl *const *)b;
    return x->exec_count != y->exec_count ? (x->exec_count > y->exec_count ? -1 : 1) : strcmp(x->key, y->key);
}

const struct gpu_probe *offload_gpu_probe(const struct offload *off) { return &off->gpu; }

/* The CUDA executor on the states speedup timed (tiled to gpu.nstates):
 * checked against the interpreter, then its rate beside QEMU's. */
static void measure_gpu(struct offload *off, struct offload_tmpl *t, const struct speedup_block *b)
{
    struct pixel_batch pb;
    char why[256];
    if (speedup_build_batch(b, off->o.speed.nstates, &pb, why, sizeof why) != 0) {
        snprintf(t->gpu.why, sizeof t->gpu.why, "no states: %.200s", why);
        return;
    }
    struct gpu_options go = off->o.gpu;
    if (!go.work_dir) go.work_dir = off->o.speed.work_dir;
    gpu_measure(&go, &off->gpu, b->name, t->ops, t->nops, &pb, &t->gpu);
    pixel_batch_free(&pb);
    const struct speedup_result *r = &t->speed;
    if (!t->gpu.measured) {
        log_info("offload: GPU figures of %.16s not measured: %s", t->key, t->gpu.why);
        return;
    }
    double qemu_rate = r->qemu_s > 0 ? (double)r->nstates * r->reps / r->qemu_s : 0;
    if (qemu_rate > 0) {
        t->ratio_cuda = t->gpu.states_per_s / qemu_rate;
        t->ratio_cuda_kernel = t->gpu.kernel_states_per_s / qemu_rate;
    }
    log_info("offload: GPU %.16s: %u states bit-identical to the interpreter; %" PRIu64 " states: %.3g "
             "blocks/s with transfers (%u+%u bytes/state), %.3g kernel alone; QEMU %.3g: cuda %.1fx, kernel %.1fx",
             t->key, t->gpu.checked, t->gpu.states, t->gpu.states_per_s, t->gpu.bytes_in, t->gpu.bytes_out,
             t->gpu.kernel_states_per_s, qemu_rate, t->ratio_cuda, t->ratio_cuda_kernel);
    if (off->lib && t->ratio_cuda > 0) {
        library_update_speedup(off->lib, t->key, "cuda", t->ratio_cuda);
        library_update_speedup(off->lib, t->key, "cuda_kernel", t->ratio_cuda_kernel);
    }
}

int offload_measure(struct offload *off)
{
    if (!off->o.speed_blocks || !off->o.speed.work_dir) return 0;
    struct gpu_options go = off->o.gpu;
    if (!go.work_dir) go.work_dir = off->o.speed.work_dir;
    gpu_probe_run(&go, &off->gpu);
    struct offload_tmpl **v = malloc((off->n ? off->n : 1) * sizeof *v);
    if (!v) return -1;
    size_t nv = 0;
    for (size_t i = 0; i < off->n; i++)
        if (off->t[i].status == REPORT_BLOCK_OFFLOADED && off->t[i].cpu_mode == 64 && !off->t[i].replay_disagreed)
            v[nv++] = &off->t[i];
    qsort(v, nv, sizeof *v, hotter);
    int measured = 0;
    for (size_t i = 0; i < nv && i < off->o.speed_blocks; i++) {
        struct offload_tmpl *t = v[i];
        char name[24];
        snprintf(name, sizeof name, "%.16s", t->key);
        struct speedup_block b = { name, t->code, t->code_len, t->live_in, t->live_out, t->ops, t->nops, t->samples, t->nsamples };
        t->timed = true;
        if (speedup_measure(&b, &off->o.speed, &t->speed) < 0) continue;
        const struct speedup_result *r = &t->speed;
        if (!r->measured) {
            log_info("offload: speedup of %.16s not measured: %s", t->key, r->why);
            continue;
        }
        measured++;
        log_info("offload: speedup %.16s (pc 0x%" PRIx64 ", %u insns, %u states x %u): qemu %.3f ms, "
                 "batched %.2fx, interp %.2fx, native %.2fx; perf: %s%s", t->key, t->first_pc, r->x86_insns,
                 r->nstates, r->reps, r->qemu_s * 1e3, r->ratio_batched, r->ratio_interp, r->ratio_native,
                 r->perf_available ? "" : "unavailable ", r->perf_note);
        if (off->lib) {
            library_update_speedup(off->lib, t->key, "batched", r->ratio_batched);
            library_update_speedup(off->lib, t->key, "interp", r->ratio_interp);
            if (r->ratio_native > 0) library_update_speedup(off->lib, t->key, "native", r->ratio_native);
        }
        if (off->gpu.available) measure_gpu(off, t, &b);
    }
    free(v);
    return measured;
}

/* ---- report -------------------------------------------------------------------- */

static char *read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    return buf;
}

int offload_write_report(struct offload *off, const char *dir, const char *title)
{
    struct offload_tmpl **v = malloc((off->n ? off->n : 1) * sizeof *v);
    struct report_block *blocks = calloc(off->n ? off->n : 1, sizeof *blocks);
    struct report_template *tm = calloc(off->n ? off->n : 1, sizeof *tm);
    struct report_qemu_reason *rs = calloc(off->n ? off->n : 1, sizeof *rs);
    struct report_picture pics[8];
    char *pic_text[8] = {0}, *pic_title[8] = {0};
    size_t npics = 0, nrs = 0;
    int rc = -1;
    if (!v || !blocks || !tm || !rs) goto out;
    for (size_t i = 0; i < off->n; i++) v[i] = &off->t[i];
    qsort(v, off->n, sizeof *v, hotter);
    for (size_t i = 0; i < off->n; i++) {
        const struct offload_tmpl *t = v[i];
        struct report_block *b = &blocks[i];
        b->pc = t->first_pc;
        b->workload = off->o.workload;
        b->cls = cfg_class_name(t->cls);
        b->ninsns = t->ninsns;
        b->exec_count = t->exec_count;
        b->template_key = t->key;
        b->status = t->status;
        if (t->speed.measured) {
            b->speedup_batched = t->speed.ratio_batched;
            b->speedup_interp = t->speed.ratio_interp;
            b->speedup_native = t->speed.ratio_native;
            b->speedup_cuda = t->ratio_cuda;
            b->speedup_cuda_kernel = t->ratio_cuda_kernel;
        }
        if (t->gpu.measured) {
            b->gpu_states = t->gpu.states;
            b->gpu_checked = t->gpu.checked;
            b->gpu_states_per_s = t->gpu.states_per_s;
            b->gpu_kernel_states_per_s = t->gpu.kernel_states_per_s;
        }
        b->replay_checked = t->replay_checked;
        b->replay_agreed = t->replay_agreed;
        struct report_template *r = &tm[i];
        r->key = t->key;
        r->ninsns = t->ninsns;
        r->instances = t->ninstances;
        r->exec_count = t->exec_count;
        r->method = t->status == REPORT_BLOCK_QEMU_ONLY ? "qemu_only" : library_method_name(t->method);
        r->cost = t->cost;
        r->baseline_cost = t->baseline_cost;
        r->status = t->status == REPORT_BLOCK_OFFLOADED ? "verified" : report_block_status_name(t->status);
        r->disasm = t->disasm;
        if (t->status == REPORT_BLOCK_QEMU_ONLY) {
            size_t k;
            for (k = 0; k < nrs; k++)
                if (!strcmp(rs[k].reason, t->reason) && !strcmp(rs[k].mnemonic, t->mnemonic)) break;
            if (k == nrs) {
                rs[nrs].reason = t->reason;
                rs[nrs].mnemonic = t->mnemonic;
                nrs++;
            }
            rs[k].templates++;
            rs[k].exec_count += t->exec_count;
        }
    }
    report_rank_reasons(rs, nrs);

    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *e; (e = readdir(d)) && npics < 8;) {
            size_t l = strlen(e->d_name);
            if (l < 5 || strcmp(e->d_name + l - 4, ".svg")) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            pic_text[npics] = read_file(path, 4u << 20);
            pic_title[npics] = strdup(e->d_name);
            if (!pic_text[npics] || !pic_title[npics]) continue;
            pics[npics].title = pic_title[npics];
            pics[npics].svg = pic_text[npics];
            npics++;
        }
        closedir(d);
    }

    uint64_t synth_sum = 0, nsyn = 0, cb = 0, ca = 0, base = 0, opt = 0, qo = 0;
    for (size_t i = 0; i < off->n; i++) {
        const struct offload_tmpl *t = &off->t[i];
        if (t->synth_us) { synth_sum += t->synth_us; nsyn++; }
        if (t->method == LIBRARY_METHOD_OPTIMIZED && t->status == REPORT_BLOCK_OFFLOADED) {
            cb += t->baseline_cost;
            ca += t->cost;
        }
        base += t->method == LIBRARY_METHOD_BASELINE;
        opt += t->method == LIBRARY_METHOD_OPTIMIZED;
        qo += t->status == REPORT_BLOCK_QEMU_ONLY;
    }
    /* Offload sees no TRACE_END; cfg's summary (same report dir) has the
     * trace totals it counted. */
    struct report_workload wl = { off->o.workload, 0, 0, 0, 0, 0, 0, "cfg.json not found" };
    char cfgp[4096];
    snprintf(cfgp, sizeof cfgp, "%s/cfg.json", dir);
    json_error_t je;
    json_t *cj = json_load_file(cfgp, 0, &je);
    if (cj) {
        wl.blocks = (uint64_t)json_integer_value(json_object_get(cj, "executions"));
        wl.tbs = (uint64_t)json_integer_value(json_object_get(cj, "tbs"));
        wl.samples = (uint64_t)json_integer_value(json_object_get(json_object_get(cj, "counters"), "samples"));
        wl.end_reason = "totals from cfg.json";
    }
    struct report_input in = {
        .title = title ? title : "tcglearn run",
        .run_id = "",
        .library_dir = off->lib ? library_dir(off->lib) : "",
        .workloads = &wl, .nworkloads = 1,
        .blocks = blocks, .nblocks = off->n,
        .templates = tm, .ntemplates = off->n,
        .coverage = { off->st.user_insns, off->st.user_insns_offloaded, off->st.replay_checked,
                      off->st.replay_agreed, off->st.fallback_events },
        .pipeline = { .jobs = off->n, .lib_hits = off->st.lib_hits, .baseline = base, .optimized = opt,
                      .qemu_only = qo, .synth_median_us = nsyn ? synth_sum / nsyn : 0,
                      .cost_before = cb, .cost_after = ca, .proved = off->st.proved,
                      .refuted = off->st.refuted, .unknown = off->st.unknown, .timeouts = off->st.timeouts,
                      .tests_unicorn = off->st.tests_unicorn, .tests_native = off->st.tests_native,
                      .tests_failed = off->st.tests_failed },
        .reasons = rs, .nreasons = nrs,
        .pictures = pics, .npictures = npics,
        .gpu_note = off->gpu.available ? "" : off->gpu.note,
        .gpu_device = off->gpu.device,
    };
    rc = report_write(&in, dir);
    json_decref(cj);
out:
    for (size_t i = 0; i < 8; i++) { free(pic_text[i]); free(pic_title[i]); }
    free(v);
    free(blocks);
    free(tm);
    free(rs);
    return rc;
}
