/* synth.c — per-job synthesis: library, baseline, optimization, audit (synth.h). */
#include "synth.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cegis.h"
#include "log.h"
#include "lower.h"
#include "sir.h"
#include "x86_decode.h"

#define SYNTH_MAX_INSNS 256

struct synth {
    struct synth_options o;
    struct library *lib;
    FILE *audit;
    struct equiv_ctx *q;
    struct synth_stats st;
    struct sir_prog ir;          /* large: kept here, not on the stack */
    struct x86_insn insns[SYNTH_MAX_INSNS];
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void synth_options_default(struct synth_options *o)
{
    memset(o, 0, sizeof *o);
    o->budget_ms = 200;
    o->optimize = true;
    o->proof_timeout_ms = 5000;
    o->seed = 0x5eed;
}

/* ---- the cost model (docs/synthesis.md "Cost model") -------------------- */

uint32_t synth_op_cost(uint8_t op)
{
    switch (op) {
    case PX_NOP: case PX_HALT: return 0;
    case PX_MUL: return 3;
    case PX_MULHU: case PX_MULHS: return 4;
    case PX_DIV: case PX_DIVS: case PX_REMU: case PX_REMS: return 20;
    case PX_POPCNT: case PX_CLZ: case PX_CTZ: case PX_PARITY: case PX_BSWAP: case PX_BSWAP32: return 2;
    default: break;
    }
    switch (pixel_op_kind(op)) {
    case PXK_LOAD: case PXK_STORE: return 4;
    case PXK_CTRL: return 2;
    default: return 1;
    }
}

uint32_t synth_cost(const struct pixel_insn *p, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += synth_op_cost(p[i].op);
    return c;
}

const char *synth_outcome_name(enum synth_outcome o)
{
    static const char *const n[] = { "hit", "baseline", "optimized", "qemu_only", "error" };
    return (unsigned)o < sizeof n / sizeof n[0] ? n[o] : "?";
}

struct synth *synth_new(const struct synth_options *o, struct library *lib, FILE *audit)
{
    struct synth *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (o)
        s->o = *o;
    else
        synth_options_default(&s->o);
    s->lib = lib;
    s->audit = audit;
    s->q = equiv_ctx_new();
    if (!s->q) {
        free(s);
        return NULL;
    }
    return s;
}

void synth_free(struct synth *s)
{
    if (!s)
        return;
    equiv_ctx_free(s->q);
    free(s);
}

const struct synth_options *synth_opts(const struct synth *s) { return &s->o; }
void synth_get_stats(const struct synth *s, struct synth_stats *st) { *st = s->st; }

/* ---- baseline ------------------------------------------------------------ */

/* Lowers, legalizes (core-only), optimizes; leaves the pre-allocation IR in p. */
static int build_ir(const struct x86_insn *insns, size_t n, x86_locset live_out, bool core_only,
                    struct sir_prog *p, char *err, size_t errlen)
{
    sir_init(p);
    if (lower_block(insns, n, p, err, errlen) != 0)
        return -1;
    uint32_t live = sir_live_mask(live_out);
    sir_fold_constants(p);
    sir_copy_propagate(p);
    sir_dce(p, live);
    if (core_only && sir_legalize_core(p, err, errlen) != 0)
        return -1;
    if (!core_only) {
        sir_fold_constants(p);
        sir_copy_propagate(p);
    }
    sir_dce(p, live);
    sir_coalesce(p, live);
    sir_dce(p, live);
    return 0;
}

static int allocate_encode(const struct sir_prog *ir, struct sir_prog *tmp, struct pixel_insn *out,
                           size_t max, char *err, size_t errlen)
{
    memcpy(tmp, ir, sizeof *tmp);
    if (sir_regalloc(tmp, err, errlen) != 0)
        return -1;   /* err says "regalloc: more than 8 values live" */
    return sir_encode(tmp, out, max, err, errlen);
}

int synth_baseline(const uint8_t *code, size_t len, x86_locset live_out, bool core_only,
                   struct pixel_insn *out, size_t max, char *err, size_t errlen)
{
    static struct x86_insn insns[SYNTH_MAX_INSNS];
    size_t n;
    if (x86_decode_block(code, len, 0, 64, insns, SYNTH_MAX_INSNS, &n, err, errlen) != 0)
        return -1;
    int bad = x86_block_first_unsupported(insns, n);
    if (bad >= 0) {
        snprintf(err, errlen, "unsupported instruction %s: %s", insns[bad].mnemonic, insns[bad].unsupported);
        return -1;
    }
    struct sir_prog *p = malloc(2 * sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = build_ir(insns, n, live_out, core_only, &p[0], err, errlen);
    if (rc == 0)
        rc = allocate_encode(&p[0], &p[1], out, max, err, errlen);
    free(p);
    return rc;
}

/* ---- audit log ------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void audit(struct synth *s, uint64_t job_id, size_t ninsns, x86_locset live_out,
                  const struct synth_result *r)
{
    if (!s->audit)
        return;
    FILE *f = s->audit;
    fprintf(f, "{\"job\":%llu,\"key\":\"%s\",\"outcome\":\"%s\",\"ninsns\":%zu,\"live_out\":%u,"
               "\"nops\":%zu,\"cost\":%u,\"baseline_cost\":%u,\"synth_us\":%llu,\"baseline_us\":%llu,"
               "\"opt_us\":%llu,\"cegis_queries\":%u,\"opt_timeout\":%s,\"proved\":%s,\"core_only\":%s",
            (unsigned long long)job_id, r->key, synth_outcome_name(r->outcome), ninsns, live_out,
            r->nops, r->cost, r->baseline_cost, (unsigned long long)r->synth_us,
            (unsigned long long)r->baseline_us, (unsigned long long)r->opt_us, r->cegis_iterations,
            r->opt_timed_out ? "true" : "false", r->proved ? "true" : "false",
            s->o.core_only ? "true" : "false");
    if (r->reason[0]) {
        fputs(",\"reason\":", f);
        json_str(f, r->reason);
    }
    if (r->mnemonic[0]) {
        fputs(",\"mnemonic\":", f);
        json_str(f, r->mnemonic);
    }
    fputs("}\n", f);
    fflush(f);
}

/* ---- one job -------------------------------------------------------------- */

/* Index of the first instruction that reads a flag an earlier instruction
 * of the block left architecturally undefined (e.g. cmove after imul), or
 * -1.  Its result is not a function of the inputs, so no microcode can be
 * proved equal to it: such a block stays with QEMU. */
/* Flags a shift or rotate may leave undefined (their definedness depends on
 * the count: x86_forms.h); for a CL count, every flag that may be. */
static unsigned shift_undefined(const struct x86_insn *in, const struct x86_form *f)
{
    bool sh = f->sem == X86_SEM_SHL || f->sem == X86_SEM_SHR || f->sem == X86_SEM_SAR;
    bool ro = f->sem == X86_SEM_ROL || f->sem == X86_SEM_ROR;
    if (!sh && !ro)
        return 0;
    unsigned w = in->op[0].bits;
    if (in->op[1].kind == X86_OK_CL)
        return XF_O | (sh ? XF_A : 0) | (f->sem != X86_SEM_SAR && sh ? XF_C : 0);
    unsigned c = (unsigned)(in->op[1].imm & (w == 64 ? 63 : 31));
    if (c == 0)
        return 0;
    unsigned u = c != 1 ? XF_O : 0;
    if (sh)
        u |= XF_A | ((f->sem != X86_SEM_SAR && c >= w) ? XF_C : 0);
    return u;
}

static int reads_undefined_flag(const struct x86_insn *in, size_t n, unsigned *flagmask)
{
    static const uint8_t cc_reads[8] = { XF_O, XF_C, XF_Z, XF_C | XF_Z, XF_S, XF_P, XF_S | XF_O,
                                         XF_Z | XF_S | XF_O };
    unsigned undef = 0;
    for (size_t i = 0; i < n; i++) {
        const struct x86_form *f = &x86_forms[in[i].form];
        unsigned reads = f->cc != X86_CC_NONE ? cc_reads[(f->cc & 15) >> 1] : 0;
        if (f->sem == X86_SEM_ADC || f->sem == X86_SEM_SBB)
            reads |= XF_C;
        if (reads & undef) {
            *flagmask = reads & undef;
            return (int)i;
        }
        const struct x86_sem_info *si = &x86_sems[f->sem];
        undef = (undef & ~si->flags_written) | si->flags_undefined | shift_undefined(&in[i], f);
    }
    return -1;
}

static void qemu_only(struct synth_result *r, const char *mnemonic, const char *prefix, const char *detail)
{
    r->outcome = SYNTH_QEMU_ONLY;
    r->method = LIBRARY_METHOD_QEMU_ONLY;
    r->nops = 0;
    snprintf(r->mnemonic, sizeof r->mnemonic, "%s", mnemonic ? mnemonic : "");
    snprintf(r->reason, sizeof r->reason, "%s%.200s", prefix, detail);
}

static void store(struct synth *s, const uint8_t *code, size_t len, uint8_t mode,
                  x86_locset live_out, const struct synth_result *r)
{
    if (!s->lib || !s->o.store_proved)
        return;
    if (r->outcome == SYNTH_QEMU_ONLY) {
        struct library_template t = library_template_make(code, len, mode, live_out);
        t.isa_version = library_isa_version(s->lib);
        t.semantics_version = library_semantics_version(s->lib);
        library_put_qemu_only(s->lib, &t, r->reason, r->mnemonic, NULL);
        return;
    }
    if (!r->proved || r->proof != EQUIV_PROVED)
        return;
    struct library_entry e;
    library_entry_init(&e);
    uint8_t bytes[4 * SYNTH_MAX_OPS];
    pixel_encode(r->ops, r->nops, bytes);
    if (library_entry_set_code(&e, code, len) && library_entry_set_ops(&e, bytes, 4 * r->nops)) {
        e.kind = LIBRARY_KIND_VERIFIED;
        e.cpu_mode = mode;
        e.live_out = live_out;
        e.isa_version = library_isa_version(s->lib);
        e.semantics_version = library_semantics_version(s->lib);
        e.method = r->method;
        e.cost = r->cost;
        e.baseline_cost = r->baseline_cost;
        e.proof = LIBRARY_PROOF_PROVED;
        e.synth_us = r->synth_us;
        e.instances = 1;
        library_entry_rekey(&e);
        library_put_verified(s->lib, &e);
    }
    library_entry_free(&e);
}

static void finish(struct synth *s, uint64_t job_id, size_t ninsns, x86_locset live_out,
                   uint64_t t0, struct synth_result *r)
{
    r->synth_us = now_us() - t0;
    s->st.jobs++;
    switch (r->outcome) {
    case SYNTH_HIT: s->st.hits++; break;
    case SYNTH_BASELINE: s->st.baseline++; break;
    case SYNTH_OPTIMIZED: s->st.optimized++; break;
    case SYNTH_QEMU_ONLY: s->st.qemu_only++; break;
    case SYNTH_ERROR: s->st.errors++; break;
    }
    if (r->outcome == SYNTH_BASELINE || r->outcome == SYNTH_OPTIMIZED) {
        s->st.cost_total += r->cost;
        s->st.baseline_cost_total += r->baseline_cost;
    }
    if (r->opt_timed_out)
        s->st.opt_timeouts++;
    audit(s, job_id, ninsns, live_out, r);
}

void synth_template(struct synth *s, uint64_t job_id, const uint8_t *code, size_t len,
                    uint8_t cpu_mode, x86_locset live_out, struct synth_result *r)
{
    uint64_t t0 = now_us();
    memset(r, 0, sizeof *r);
    r->proof = EQUIV_UNKNOWN;
    char err[256];

    /* 1. library */
    if (s->lib) {
        library_key_for(s->lib, code, len, cpu_mode, live_out, r->key);
        struct library_entry e;
        library_entry_init(&e);
        enum library_result lr = library_lookup(s->lib, r->key, &e);
        if (lr == LIBRARY_HIT) {
            int n = pixel_decode(e.pixel_ops, e.pixel_ops_len, r->ops, SYNTH_MAX_OPS, err, sizeof err);
            if (n >= 0) {
                r->outcome = SYNTH_HIT;
                r->method = LIBRARY_METHOD_LIBRARY_HIT;
                r->nops = (size_t)n;
                r->cost = synth_cost(r->ops, r->nops);
                r->baseline_cost = e.baseline_cost;
                r->proved = e.proof == LIBRARY_PROOF_PROVED;
                r->proof = r->proved ? EQUIV_PROVED : EQUIV_UNKNOWN;
                library_entry_free(&e);
                finish(s, job_id, 0, live_out, t0, r);
                return;
            }
            log_warn("synth: job %llu: library entry %s has undecodable ops (%s); synthesizing again",
                     (unsigned long long)job_id, r->key, err);
        } else if (lr == LIBRARY_HIT_QEMU_ONLY) {
            r->outcome = SYNTH_QEMU_ONLY;
            r->method = LIBRARY_METHOD_QEMU_ONLY;
            snprintf(r->reason, sizeof r->reason, "%s", e.reason);
            snprintf(r->mnemonic, sizeof r->mnemonic, "%s", e.mnemonic);
            library_entry_free(&e);
            finish(s, job_id, 0, live_out, t0, r);
            return;
        }
        library_entry_free(&e);
    }

    if (!s->lib) {
        struct library_template t = library_template_make(code, len, cpu_mode, live_out);
        library_key(&t, r->key, NULL);
    }

    /* 2. decode and model coverage */
    size_t n = 0;
    if (cpu_mode != 64) {
        char m[8];
        snprintf(m, sizeof m, "%u", cpu_mode);
        snprintf(m + strlen(m), sizeof m - strlen(m), "-bit");
        qemu_only(r, "", "cpu mode not modelled (only 64-bit): ", m);
        goto out;
    }
    if (x86_decode_block(code, len, 0, 64, s->insns, SYNTH_MAX_INSNS, &n, err, sizeof err) != 0) {
        qemu_only(r, "", "undecodable block: ", err);
        goto out;
    }
    int bad = x86_block_first_unsupported(s->insns, n);
    if (bad >= 0) {
        qemu_only(r, s->insns[bad].mnemonic, "unsupported instruction: ",
                  s->insns[bad].unsupported[0] ? s->insns[bad].unsupported : s->insns[bad].mnemonic);
        log_info("synth: job %llu: QEMU-only, %s (%s) — candidate for an ISA extension",
                 (unsigned long long)job_id, s->insns[bad].mnemonic, r->reason);
        goto out;
    }

    unsigned um = 0;
    int ub = reads_undefined_flag(s->insns, n, &um);
    if (ub >= 0) {
        char what[160];
        snprintf(what, sizeof what, "%s reads flag(s) %#x that an earlier instruction left undefined",
                 s->insns[ub].mnemonic, um);
        qemu_only(r, s->insns[ub].mnemonic, "architecturally undefined result: ", what);
        goto out;
    }

    /* 3. baseline */
    uint64_t tb = now_us();
    struct sir_prog *tmp = malloc(sizeof *tmp);
    if (!tmp) {
        r->outcome = SYNTH_ERROR;
        snprintf(r->reason, sizeof r->reason, "out of memory");
        goto out;
    }
    int np = -1;
    if (build_ir(s->insns, n, live_out, s->o.core_only, &s->ir, err, sizeof err) == 0)
        np = allocate_encode(&s->ir, tmp, r->ops, SYNTH_MAX_OPS, err, sizeof err);
    free(tmp);
    r->baseline_us = now_us() - tb;
    if (np < 0) {
        if (s->o.core_only && (strstr(err, "core") || strstr(err, "regalloc"))) {
            qemu_only(r, "", "", err);
        } else {
            r->outcome = SYNTH_ERROR;
            snprintf(r->reason, sizeof r->reason, "baseline: %.200s", err);
            log_error("synth: job %llu: %s", (unsigned long long)job_id, r->reason);
        }
        goto out;
    }
    r->nops = (size_t)np;
    r->baseline_cost = r->cost = synth_cost(r->ops, r->nops);
    r->outcome = SYNTH_BASELINE;
    r->method = LIBRARY_METHOD_BASELINE;

    /* 4. proof of the baseline (optional) and optimization */
    bool need_q = s->o.prove_baseline || (s->o.optimize && s->o.budget_ms);
    if (need_q) {
        if (equiv_prepare(s->q, s->insns, n, live_out, err, sizeof err) != 0) {
            log_warn("synth: job %llu: cannot prepare the equivalence query: %s",
                     (unsigned long long)job_id, err);
            goto out;
        }
    }
    bool base_ok = true;
    if (s->o.prove_baseline) {
        struct equiv_opts eo = { .timeout_ms = s->o.proof_timeout_ms };
        struct equiv_result er;
        r->proof = equiv_check_prepared(s->q, r->ops, r->nops, &eo, &er);
        r->proved = r->proof == EQUIV_PROVED;
        base_ok = r->proved;
        if (r->proof == EQUIV_REFUTED) {
            char cx[1024];
            equiv_cex_format(&er.cex, cx, sizeof cx);
            char hex[3 * 64 + 1] = "";
            for (size_t i = 0; i < len && i < 64; i++)
                snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", code[i]);
            log_error("synth: job %llu: baseline refuted (lowering bug) for [%s] live %#x: %s",
                      (unsigned long long)job_id, hex, live_out, cx);
        }
    }
    if (s->o.optimize && s->o.budget_ms && base_ok) {
        uint64_t to = now_us();
        struct cegis_result cr;
        struct pixel_insn opt[SYNTH_MAX_OPS];
        size_t nopt = 0;
        cegis_optimize(s->q, &s->ir, sir_live_mask(live_out), r->baseline_cost, s->o.core_only,
                       s->o.budget_ms, s->o.proof_timeout_ms, s->o.seed ^ job_id, opt, SYNTH_MAX_OPS,
                       &nopt, &cr);
        r->opt_us = now_us() - to;
        r->opt_timed_out = cr.timed_out;
        r->cegis_iterations = cr.iterations;
        if (cr.found && cr.cost < r->baseline_cost) {
            memcpy(r->ops, opt, nopt * sizeof opt[0]);
            r->nops = nopt;
            r->cost = cr.cost;
            r->outcome = SYNTH_OPTIMIZED;
            r->method = LIBRARY_METHOD_OPTIMIZED;
            r->proof = EQUIV_PROVED;
            r->proved = true;
        }
    }
out:
    r->synth_us = now_us() - t0;
    store(s, code, len, cpu_mode, live_out, r);
    finish(s, job_id, n, live_out, t0, r);
}
