/* verify.c — proof + concrete tests per candidate, VERDICT records, audit
 * log (see verify.h and docs/verification.md). */
#include "verify.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "equiv.h"
#include "log.h"
#include "oracle_result.h"
#include "state_gen.h"
#include "x86_decode.h"

#define VERIFY_MAX_INSNS 512

struct verifier {
    struct verify_options o;
    FILE *audit;
    struct equiv_ctx *eq;
    struct vconc *conc;
    struct verify_stats st;
    struct rec_arena arena;
    struct pixel_insn prog[PIXEL_MAX_INSNS];
    struct x86_insn insns[VERIFY_MAX_INSNS];
    struct vconc_sample samples[REC_MAX_SAMPLES];
    struct verify_outcome out;
};

static const char *const proof_names[] = { "proved", "refuted", "unknown", "timeout", "not attempted" };

void verify_options_default(struct verify_options *o)
{
    memset(o, 0, sizeof *o);
    o->proof_timeout_ms = 5000;
    o->prove = true;
    o->test = true;
    vconc_opts_default(&o->conc);
}

struct verifier *verifier_new(const struct verify_options *o, FILE *audit)
{
    struct verifier *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    if (o) v->o = *o;
    else verify_options_default(&v->o);
    v->audit = audit;
    v->eq = equiv_ctx_new();
    v->conc = vconc_new();
    if (!v->eq || !v->conc) {
        log_error("verify: cannot start (%s)", v->eq ? "x86 oracles" : "Z3 context");
        verifier_free(v);
        return NULL;
    }
    rec_arena_init(&v->arena);
    return v;
}

void verifier_free(struct verifier *v)
{
    if (!v) return;
    if (v->eq) equiv_ctx_free(v->eq);
    vconc_free(v->conc);
    rec_arena_free(&v->arena);
    free(v);
}

const struct verify_stats *verifier_stats(const struct verifier *v)
{
    return &v->st;
}

static enum verify_proof map_status(enum equiv_status s)
{
    switch (s) {
    case EQUIV_PROVED: return VERIFY_PROVED;
    case EQUIV_REFUTED: return VERIFY_REFUTED;
    case EQUIV_UNKNOWN: return VERIFY_UNKNOWN;
    case EQUIV_TIMEOUT: return VERIFY_TIMEOUT;
    default: return VERIFY_NOT_ATTEMPTED;
    }
}

static size_t cat(char *buf, size_t len, size_t k, const char *s)
{
    if (k >= len) return k;
    int w = snprintf(buf + k, len - k, "%s", s);
    return k + (w > 0 ? (size_t)w : 0);
}

static void audit_line(struct verifier *v, const struct rec_candidate *c, const struct verify_outcome *out)
{
    if (!v->audit) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *j = json_object();
    json_object_set_new(j, "ts", json_real((double)ts.tv_sec + ts.tv_nsec / 1e9));
    json_object_set_new(j, "stage", json_string("verify"));
    json_object_set_new(j, "job_id", json_integer((json_int_t)c->job.job_id));
    json_object_set_new(j, "template_key", json_string(c->job.template_key.ptr ? c->job.template_key.ptr : ""));
    json_object_set_new(j, "method", json_integer(c->method));
    json_object_set_new(j, "pixel_insns", json_integer(c->pixel_ops.len / PIXEL_INSN_BYTES));
    json_object_set_new(j, "proof", json_string(proof_names[out->proof]));
    json_object_set_new(j, "proof_us", json_integer((json_int_t)out->proof_us));
    json_object_set_new(j, "states", json_integer(out->conc.states));
    json_object_set_new(j, "samples", json_integer(out->conc.samples_run));
    json_object_set_new(j, "samples_skipped", json_integer(out->conc.samples_skipped));
    json_object_set_new(j, "tests_unicorn", json_integer(out->conc.tests_unicorn));
    json_object_set_new(j, "tests_native", json_integer(out->conc.tests_native));
    json_object_set_new(j, "tests_failed", json_integer(out->conc.failed));
    json_object_set_new(j, "oracle_disagreements", json_integer(out->conc.oracle_disagree));
    json_object_set_new(j, "faulted_alike", json_integer(out->conc.faulted));
    json_object_set_new(j, "test_us", json_integer((json_int_t)out->conc.us));
    json_object_set_new(j, "accepted", json_boolean(out->accepted));
    json_object_set_new(j, "reason", json_string(out->reason));
    json_object_set_new(j, "counterexample", json_string(out->counterexample));
    if (out->conc.first_oracle_disagreement[0])
        json_object_set_new(j, "oracle_disagreement", json_string(out->conc.first_oracle_disagreement));
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) {
        fprintf(v->audit, "%s\n", s);
        fflush(v->audit);
        free(s);
    }
    json_decref(j);
}

static int malformed(struct verifier *v, struct verify_outcome *out, uint64_t job, const char *field,
                     const char *what)
{
    snprintf(out->reason, sizeof out->reason, "CANDIDATE job %" PRIu64 ": field %s: %s", job, field, what);
    v->st.bad_records++;
    return -1;
}

int verify_candidate(struct verifier *v, const struct rec_candidate *c, struct verify_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->proof = VERIFY_NOT_ATTEMPTED;
    uint64_t job = c->job.job_id;
    char err[320];
    if (c->method == 3) {
        v->st.candidates++;
        v->st.qemu_only++;
        v->st.not_attempted++;
        snprintf(out->reason, sizeof out->reason, "qemu_only: %s", c->reason.ptr ? c->reason.ptr : "");
        audit_line(v, c, out);
        return 0;
    }
    if (c->job.cpu_mode != 64) {
        char m[64];
        snprintf(m, sizeof m, "%u: only 64-bit code is verified", c->job.cpu_mode);
        return malformed(v, out, job, "job.cpu_mode", m);
    }
    if (c->job.code.len == 0 || c->job.code.len > ORACLE_MAX_CODE)
        return malformed(v, out, job, "job.code",
                         c->job.code.len ? "longer than the oracles' 4096 bytes" : "empty");
    size_t nops = c->pixel_ops.len / PIXEL_INSN_BYTES;
    if (nops == 0) return malformed(v, out, job, "pixel_ops", "empty (method is not qemu_only)");
    if (nops > PIXEL_MAX_INSNS) {
        char m[96];
        snprintf(m, sizeof m, "oversized: %zu instructions, at most %d", nops, PIXEL_MAX_INSNS);
        return malformed(v, out, job, "pixel_ops", m);
    }
    int np = pixel_decode(c->pixel_ops.ptr, c->pixel_ops.len, v->prog, PIXEL_MAX_INSNS, err, sizeof err);
    if (np < 0) return malformed(v, out, job, "pixel_ops", err);
    size_t ninsns = 0;
    if (x86_decode_block(c->job.code.ptr, c->job.code.len, STATE_GEN_CODE_BASE, 64, v->insns, VERIFY_MAX_INSNS,
                         &ninsns, err, sizeof err) < 0)
        return malformed(v, out, job, "job.code", err);
    v->st.candidates++;
    x86_locset live = c->job.live_out;

    /* Proof. */
    size_t k = 0;
    if (v->o.prove) {
        struct equiv_result er;
        memset(&er, 0, sizeof er);
        if (equiv_prepare(v->eq, v->insns, ninsns, live, er.msg, sizeof er.msg) < 0) {
            er.status = EQUIV_ERROR;
        } else {
            struct equiv_opts eo = { .timeout_ms = v->o.proof_timeout_ms };
            equiv_check_prepared(v->eq, v->prog, (size_t)np, &eo, &er);
        }
        out->proof = map_status(er.status);
        out->proof_us = er.us;
        if (er.status == EQUIV_REFUTED) {
            k = cat(out->counterexample, sizeof out->counterexample, k, "proof: ");
            if (k < sizeof out->counterexample)
                k += equiv_cex_format(&er.cex, out->counterexample + k, sizeof out->counterexample - k);
        } else if (er.status != EQUIV_PROVED) {
            snprintf(out->reason, sizeof out->reason, "proof %s: %s", equiv_status_name(er.status), er.msg);
        }
    }
    /* Concrete tests. */
    if (v->o.test) {
        size_t ns = c->job.samples.n < REC_MAX_SAMPLES ? c->job.samples.n : REC_MAX_SAMPLES;
        for (size_t s = 0; s < ns; s++)
            v->samples[s] = (struct vconc_sample){ .pre = &c->job.samples.v[s].pre,
                                                   .acc = c->job.samples.v[s].mem.v,
                                                   .nacc = c->job.samples.v[s].mem.n };
        if (vconc_run(v->conc, c->job.code.ptr, c->job.code.len, live, v->prog, (size_t)np, v->samples, ns,
                      &v->o.conc, &out->conc, err, sizeof err) < 0) {
            out->conc.failed = out->conc.failed ? out->conc.failed : 1;
            if (!out->reason[0]) snprintf(out->reason, sizeof out->reason, "concrete tests could not run: %s", err);
        }
        if (out->conc.first_failure[0]) {
            if (k) k = cat(out->counterexample, sizeof out->counterexample, k, "\n");
            k = cat(out->counterexample, sizeof out->counterexample, k, "concrete: ");
            k = cat(out->counterexample, sizeof out->counterexample, k, out->conc.first_failure);
        }
    }
    /* The seeds: 10,000+ passing tests before deployment: every oracle must
     * have compared at least the configured number of states. */
    uint32_t need = v->o.conc.nstates ? v->o.conc.nstates : 1;
    bool tested = !v->o.test || (out->conc.tests_unicorn >= need && out->conc.tests_native >= need);
    out->accepted = out->proof == VERIFY_PROVED && out->conc.failed == 0 && tested;
    if (!out->accepted && !out->reason[0]) {
        if (out->proof != VERIFY_PROVED)
            snprintf(out->reason, sizeof out->reason, "proof %s", proof_names[out->proof]);
        else if (out->conc.failed)
            snprintf(out->reason, sizeof out->reason, "%u of %u states disagree (the proof said equivalent: "
                     "a model or oracle problem)", out->conc.failed, out->conc.states);
        else
            snprintf(out->reason, sizeof out->reason, "too few tests: %u with Unicorn, %u native, %u required each",
                     out->conc.tests_unicorn, out->conc.tests_native, need);
    }
    if (out->conc.oracle_disagree)
        log_error("verify: job %" PRIu64 ": %u states where Unicorn and the host CPU disagree: %s", job,
                  out->conc.oracle_disagree, out->conc.first_oracle_disagreement);
    switch (out->proof) {
    case VERIFY_PROVED: v->st.proved++; break;
    case VERIFY_REFUTED: v->st.refuted++; break;
    case VERIFY_UNKNOWN: v->st.unknown++; break;
    case VERIFY_TIMEOUT: v->st.timeout++; break;
    default: v->st.not_attempted++; break;
    }
    if (out->accepted) v->st.accepted++;
    else v->st.rejected++;
    v->st.tests_unicorn += out->conc.tests_unicorn;
    v->st.tests_native += out->conc.tests_native;
    v->st.tests_failed += out->conc.failed;
    v->st.oracle_disagreements += out->conc.oracle_disagree;
    v->st.samples_skipped += out->conc.samples_skipped;
    audit_line(v, c, out);
    return 0;
}

int verify_record(struct verifier *v, const void *data, size_t len, struct rec_buf *out, char *err,
                  size_t errlen)
{
    rec_buf_reset(out);
    rec_arena_reset(&v->arena);
    if (len > VERIFY_MAX_RECORD) {
        snprintf(err, errlen, "verify: input record of %zu bytes rejected (oversized: at most %u)", len,
                 VERIFY_MAX_RECORD);
        v->st.bad_records++;
        return 0;
    }
    struct rec r;
    struct rec_error re;
    if (rec_decode(data, len, &r, &v->arena, &re) < 0) {
        snprintf(err, errlen, "verify: malformed input record rejected: %s", re.msg);
        v->st.bad_records++;
        return 0;
    }
    if (r.type != REC_CANDIDATE) {
        snprintf(err, errlen, "verify: %s record rejected: this stage takes CANDIDATE records",
                 rec_type_name(r.type));
        v->st.bad_records++;
        return 0;
    }
    struct verify_outcome *o = &v->out;
    if (verify_candidate(v, &r.u.candidate, o) < 0) {
        snprintf(err, errlen, "verify: %s", o->reason);
        return 0;
    }
    struct rec_verdict vd = {
        .candidate = r.u.candidate,
        .proof = (uint8_t)o->proof,
        .counterexample = { o->counterexample, (uint32_t)strlen(o->counterexample) },
        .tests_unicorn = o->conc.tests_unicorn,
        .tests_native = o->conc.tests_native,
        .tests_failed = o->conc.failed,
        .proof_us = o->proof_us,
        .test_us = o->conc.us,
    };
    if (rec_encode_verdict(out, &vd, &re) < 0) {
        snprintf(err, errlen, "verify: VERDICT for job %" PRIu64 " not encodable: %s", r.u.candidate.job.job_id,
                 re.msg);
        v->st.bad_records++;
        return 0;
    }
    return 1;
}
