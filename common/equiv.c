/* equiv.c — x86 block vs Pixel microcode equivalence query (equiv.h). */
#include "equiv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <z3.h>

#include "pixel_z3.h"
#include "x86_sem.h"

/* Renew the Z3 context after this many prepared blocks: terms live as long
 * as their context, so a long-running stage would otherwise grow forever. */
#define EQUIV_CTX_RENEW 48

struct equiv_ctx {
    Z3_context c;
    unsigned prepared_blocks;
    bool ready;
    x86_locset live_out;
    struct x86_sym_state x;               /* lifted block */
    struct pixel_z3_state pin;            /* the same inputs, Pixel convention */
    Z3_ast df;                            /* BV1 */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static Z3_ast k64(Z3_context c, uint64_t v) { return Z3_mk_unsigned_int64(c, v, Z3_mk_bv_sort(c, 64)); }

static Z3_context new_z3(void)
{
    Z3_config cfg = Z3_mk_config();
    Z3_set_param_value(cfg, "model", "true");
    Z3_context c = Z3_mk_context(cfg);
    Z3_del_config(cfg);
    /* Errors are checked by the caller through Z3_get_error_code; the
     * default handler would exit the process. */
    Z3_set_error_handler(c, NULL);
    return c;
}

struct equiv_ctx *equiv_ctx_new(void)
{
    struct equiv_ctx *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->c = new_z3();
    return q;
}

void equiv_ctx_free(struct equiv_ctx *q)
{
    if (!q)
        return;
    Z3_del_context(q->c);
    free(q);
}

int equiv_prepare(struct equiv_ctx *q, const struct x86_insn *insns, size_t n,
                  x86_locset live_out, char *err, size_t errlen)
{
    if (++q->prepared_blocks > EQUIV_CTX_RENEW) {
        Z3_del_context(q->c);
        q->c = new_z3();
        q->prepared_blocks = 1;
    }
    Z3_context c = q->c;
    q->ready = false;
    for (size_t i = 0; i < n; i++) {
        if (insns[i].mode != 64) {
            snprintf(err, errlen, "equiv: instruction %zu (%s) is %u-bit; only 64-bit blocks are modelled",
                     i, insns[i].mnemonic, insns[i].mode);
            return -1;
        }
    }
    x86_sym_state_init(c, &q->x, "x_");
    if (x86_lift_block(c, &q->x, insns, n, err, errlen) != 0)
        return -1;
    q->live_out = live_out;

    Z3_sort s64 = Z3_mk_bv_sort(c, 64);
    for (unsigned r = 0; r < X86_NGPR; r++)
        q->pin.r[PIXEL_REG_GPR(r)] = q->x.in_gpr[r];
    for (unsigned f = 0; f < X86_NFLAG; f++)
        q->pin.r[PIXEL_REG_FLAG(f)] = Z3_mk_ite(c, q->x.in_flag[f], k64(c, 1), k64(c, 0));
    q->pin.r[PIXEL_REG_RIP] = q->x.in_rip;
    q->df = Z3_mk_const(c, Z3_mk_string_symbol(c, "x_df"), Z3_mk_bv_sort(c, 1));
    q->pin.r[PIXEL_REG_DF] = Z3_mk_zero_ext(c, 63, q->df);
    for (unsigned s = 0; s < PIXEL_NSCRATCH; s++) {
        char name[16];
        snprintf(name, sizeof name, "x_s%u", s);
        q->pin.r[PIXEL_REG_SCRATCH0 + s] = Z3_mk_const(c, Z3_mk_string_symbol(c, name), s64);
    }
    q->pin.mem = q->x.in_mem;
    if (Z3_get_error_code(c) != Z3_OK) {
        snprintf(err, errlen, "equiv: Z3 error while lifting: %s", Z3_get_error_msg(c, Z3_get_error_code(c)));
        return -1;
    }
    q->ready = true;
    return 0;
}

/* pixel_z3 access check: the microcode may touch only bytes that one of the
 * block's own accesses touches (so it can fault only where x86 does). */
static Z3_ast covered_by_x86(Z3_context c, Z3_ast addr, unsigned width, void *arg)
{
    const struct equiv_ctx *q = arg;
    Z3_ast any[X86_SYM_MAX_ACCESSES];
    unsigned n = 0;
    for (unsigned i = 0; i < q->x.nacc; i++) {
        const struct x86_sym_access *a = &q->x.acc[i];
        if (a->size < width)
            continue;
        any[n++] = Z3_mk_bvule(c, Z3_mk_bvsub(c, addr, a->addr), k64(c, a->size - width));
    }
    return n ? Z3_mk_or(c, n, any) : Z3_mk_false(c);
}

static bool eval_u64(Z3_context c, Z3_model m, Z3_ast t, uint64_t *out)
{
    Z3_ast v;
    *out = 0;
    if (!Z3_model_eval(c, m, t, true, &v))
        return false;
    if (Z3_get_sort_kind(c, Z3_get_sort(c, v)) == Z3_BOOL_SORT) {
        *out = Z3_get_bool_value(c, v) == Z3_L_TRUE;
        return true;
    }
    uint64_t x = 0;
    if (!Z3_get_numeral_uint64(c, v, &x))
        return false;
    *out = x;
    return true;
}

static void cex_add_byte(struct equiv_cex *cx, uint64_t addr, uint8_t b)
{
    for (unsigned i = 0; i < cx->nbytes; i++)
        if (cx->addr[i] == addr)
            return;
    if (cx->nbytes < EQUIV_CEX_MAX_BYTES) {
        cx->addr[cx->nbytes] = addr;
        cx->byte[cx->nbytes++] = b;
    }
}

static void extract_cex(struct equiv_ctx *q, Z3_model m, Z3_ast *diff, Z3_ast *xo, Z3_ast *po,
                        Z3_ast xmem, Z3_ast pmem, Z3_ast witness, struct equiv_cex *cx)
{
    Z3_context c = q->c;
    memset(cx, 0, sizeof *cx);
    for (unsigned r = 0; r < X86_NGPR; r++)
        eval_u64(c, m, q->x.in_gpr[r], &cx->in.gpr[r]);
    eval_u64(c, m, q->x.in_rip, &cx->in.rip);
    uint64_t fl = 0x2, v;   /* bit 1 of RFLAGS reads as 1 */
    for (unsigned f = 0; f < X86_NFLAG; f++)
        if (eval_u64(c, m, q->x.in_flag[f], &v) && v)
            fl |= 1ull << x86_flag_rflags_bit((enum x86_flag)f);
    if (eval_u64(c, m, q->df, &v) && v)
        fl |= 1ull << X86_RFLAGS_DF;
    cx->in.rflags = fl;
    for (unsigned s = 0; s < PIXEL_NSCRATCH; s++)
        eval_u64(c, m, q->pin.r[PIXEL_REG_SCRATCH0 + s], &cx->scratch[s]);
    /* input bytes of every access of the block, then of the witness */
    for (unsigned i = 0; i < q->x.nacc; i++) {
        uint64_t a;
        if (!eval_u64(c, m, q->x.acc[i].addr, &a))
            continue;
        for (unsigned k = 0; k < q->x.acc[i].size; k++) {
            uint64_t b;
            eval_u64(c, m, Z3_mk_select(c, q->x.in_mem, k64(c, a + k)), &b);
            cex_add_byte(cx, a + k, (uint8_t)b);
        }
    }
    for (unsigned s = 0; s < EQUIV_NOUT; s++) {
        if (!diff[s])
            continue;
        uint64_t d;
        if (!eval_u64(c, m, diff[s], &d) || !d)
            continue;
        cx->differs |= 1u << s;
        if (s == X86_NGPR + X86_NFLAG + 1) {         /* memory */
            eval_u64(c, m, witness, &cx->mem_addr);
            Z3_ast wa = k64(c, cx->mem_addr);
            eval_u64(c, m, Z3_mk_select(c, xmem, wa), &cx->x86_out[s]);
            eval_u64(c, m, Z3_mk_select(c, pmem, wa), &cx->px_out[s]);
        } else if (xo[s] && po[s]) {
            eval_u64(c, m, xo[s], &cx->x86_out[s]);
            eval_u64(c, m, po[s], &cx->px_out[s]);
        } else if (po[s]) {
            eval_u64(c, m, po[s], &cx->px_out[s]);
        }
    }
}

enum equiv_status equiv_check_prepared(struct equiv_ctx *q, const struct pixel_insn *prog,
                                       size_t nprog, const struct equiv_opts *opts,
                                       struct equiv_result *res)
{
    uint64_t t0 = now_us();
    memset(res, 0, sizeof *res);
    if (!q->ready) {
        res->status = EQUIV_ERROR;
        snprintf(res->msg, sizeof res->msg, "equiv: no block prepared");
        return res->status;
    }
    Z3_context c = q->c;
    struct pixel_z3_opts po = { .access_ok = covered_by_x86, .access_arg = q };
    struct pixel_z3_result pr;
    char err[200];
    if (pixel_z3_exec(c, prog, nprog, &q->pin, &po, &pr, err, sizeof err) != 0) {
        res->status = EQUIV_ERROR;
        snprintf(res->msg, sizeof res->msg, "equiv: microcode: %s", err);
        res->us = now_us() - t0;
        return res->status;
    }

    Z3_ast diff[EQUIV_NOUT] = { 0 }, xo[EQUIV_NOUT] = { 0 }, pout[EQUIV_NOUT] = { 0 };
    Z3_ast one = k64(c, 1), zero = k64(c, 0);
    Z3_ast mem_witness = NULL;
    for (unsigned r = 0; r < X86_NGPR; r++) {
        if (!(q->live_out & X86_LOC_GPR(r)))
            continue;
        xo[r] = q->x.gpr[r];
        pout[r] = pr.out.r[PIXEL_REG_GPR(r)];
        diff[r] = Z3_mk_not(c, Z3_mk_eq(c, xo[r], pout[r]));
    }
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (!(q->live_out & X86_LOC_FLAG(f)))
            continue;
        unsigned s = X86_NGPR + f;
        xo[s] = Z3_mk_ite(c, q->x.flag[f], one, zero);
        pout[s] = pr.out.r[PIXEL_REG_FLAG(f)];
        Z3_ast undef = q->x.flag_undef[f];
        Z3_ast wrong = Z3_mk_not(c, Z3_mk_eq(c, xo[s], pout[s]));
        Z3_ast not01 = Z3_mk_bvugt(c, pout[s], one);
        diff[s] = Z3_mk_ite(c, undef, not01, wrong);
    }
    unsigned srip = X86_NGPR + X86_NFLAG, smem = srip + 1;
    xo[srip] = q->x.rip;
    pout[srip] = pr.out.r[PIXEL_REG_RIP];
    diff[srip] = Z3_mk_not(c, Z3_mk_eq(c, xo[srip], pout[srip]));
    /* Memory: the microcode may touch only bytes the block touches (the
     * access check above), so the final memories can differ only at the
     * bytes of the block's own accesses: compare exactly those.  The witness
     * names the first differing one for the counterexample. */
    if (q->x.nacc) {
        Z3_ast bytes_differ[EQUIV_CEX_MAX_BYTES];
        unsigned nb = 0;
        Z3_ast wdef = NULL;
        for (unsigned i = 0; i < q->x.nacc; i++) {
            for (unsigned k = 0; k < q->x.acc[i].size && nb < EQUIV_CEX_MAX_BYTES; k++) {
                Z3_ast a = k ? Z3_mk_bvadd(c, q->x.acc[i].addr, k64(c, k)) : q->x.acc[i].addr;
                Z3_ast d = Z3_mk_not(c, Z3_mk_eq(c, Z3_mk_select(c, q->x.mem, a),
                                                 Z3_mk_select(c, pr.out.mem, a)));
                bytes_differ[nb++] = d;
                wdef = wdef ? Z3_mk_ite(c, d, a, wdef) : a;
            }
        }
        diff[smem] = Z3_mk_or(c, nb, bytes_differ);
        mem_witness = wdef;
    }
    pout[EQUIV_OUT_FAULT] = pr.fault_kind;
    diff[EQUIV_OUT_FAULT] = pr.faulted;

    Z3_ast any[EQUIV_NOUT];
    unsigned nany = 0;
    for (unsigned s = 0; s < EQUIV_NOUT; s++)
        if (diff[s])
            any[nany++] = diff[s];

    /* QF_ABV's tactic is an order of magnitude faster than the default
     * solver on these queries (measured: docs/equivalence.md). */
    Z3_solver sol = Z3_mk_solver_for_logic(c, Z3_mk_string_symbol(c, "QF_ABV"));
    Z3_solver_inc_ref(c, sol);
    Z3_params p = Z3_mk_params(c);
    Z3_params_inc_ref(c, p);
    unsigned tmo = opts && opts->timeout_ms ? opts->timeout_ms : 10000;
    Z3_params_set_uint(c, p, Z3_mk_string_symbol(c, "timeout"), tmo);
    Z3_solver_set_params(c, sol, p);
    /* Normalize before solving: sums of monomials and multiplications by
     * powers of two as concatenations make the x86 model's and the
     * microcode's address terms syntactically equal (x*8 vs x<<3, argument
     * order), and select-over-store is expanded where addresses compare. */
    Z3_params sp = Z3_mk_params(c);
    Z3_params_inc_ref(c, sp);
    Z3_params_set_bool(c, sp, Z3_mk_string_symbol(c, "expand_select_store"), true);
    Z3_params_set_bool(c, sp, Z3_mk_string_symbol(c, "mul2concat"), true);
    Z3_params_set_bool(c, sp, Z3_mk_string_symbol(c, "som"), true);
    Z3_ast goal = Z3_simplify_ex(c, Z3_mk_or(c, nany, any), sp);
    Z3_solver_assert(c, sol, goal);
    Z3_params_dec_ref(c, sp);
    Z3_lbool r = Z3_solver_check(c, sol);
    if (Z3_get_error_code(c) != Z3_OK) {
        res->status = EQUIV_ERROR;
        snprintf(res->msg, sizeof res->msg, "equiv: Z3 error: %s",
                 Z3_get_error_msg(c, Z3_get_error_code(c)));
    } else if (r == Z3_L_FALSE) {
        res->status = EQUIV_PROVED;
    } else if (r == Z3_L_TRUE) {
        res->status = EQUIV_REFUTED;
        Z3_model m = Z3_solver_get_model(c, sol);
        Z3_model_inc_ref(c, m);
        extract_cex(q, m, diff, xo, pout, q->x.mem, pr.out.mem, mem_witness, &res->cex);
        Z3_model_dec_ref(c, m);
    } else {
        const char *why = Z3_solver_get_reason_unknown(c, sol);
        bool tmo_hit = why && (strstr(why, "timeout") || strstr(why, "canceled"));
        res->status = tmo_hit ? EQUIV_TIMEOUT : EQUIV_UNKNOWN;
        snprintf(res->msg, sizeof res->msg, "z3: %s", why ? why : "unknown");
    }
    Z3_params_dec_ref(c, p);
    Z3_solver_dec_ref(c, sol);
    res->us = now_us() - t0;
    return res->status;
}

enum equiv_status equiv_check(const struct x86_insn *insns, size_t n, x86_locset live_out,
                              const struct pixel_insn *prog, size_t nprog,
                              const struct equiv_opts *opts, struct equiv_result *res)
{
    uint64_t t0 = now_us();
    struct equiv_ctx *q = equiv_ctx_new();
    memset(res, 0, sizeof *res);
    if (!q) {
        res->status = EQUIV_ERROR;
        snprintf(res->msg, sizeof res->msg, "equiv: out of memory");
        return res->status;
    }
    char err[200];
    if (equiv_prepare(q, insns, n, live_out, err, sizeof err) != 0) {
        res->status = EQUIV_ERROR;
        snprintf(res->msg, sizeof res->msg, "%s", err);
    } else {
        equiv_check_prepared(q, prog, nprog, opts, res);
    }
    equiv_ctx_free(q);
    res->us = now_us() - t0;
    return res->status;
}

enum equiv_status equiv_check_code(const uint8_t *code, size_t len, uint64_t pc,
                                   x86_locset live_out, const struct pixel_insn *prog,
                                   size_t nprog, const struct equiv_opts *opts,
                                   struct equiv_result *res)
{
    struct x86_insn insns[64];
    size_t n = 0;
    char err[200];
    if (x86_decode_block(code, len, pc, 64, insns, 64, &n, err, sizeof err) != 0) {
        memset(res, 0, sizeof *res);
        res->status = EQUIV_ERROR;
        snprintf(res->msg, sizeof res->msg, "equiv: decode: %s", err);
        return res->status;
    }
    return equiv_check(insns, n, live_out, prog, nprog, opts, res);
}

void equiv_cex_pixel_regs(const struct equiv_cex *cx, uint64_t r[PIXEL_NREGS])
{
    memset(r, 0, sizeof(uint64_t) * PIXEL_NREGS);
    for (unsigned i = 0; i < X86_NGPR; i++)
        r[PIXEL_REG_GPR(i)] = cx->in.gpr[i];
    for (unsigned f = 0; f < X86_NFLAG; f++)
        r[PIXEL_REG_FLAG(f)] = (cx->in.rflags >> x86_flag_rflags_bit((enum x86_flag)f)) & 1;
    r[PIXEL_REG_RIP] = cx->in.rip;
    r[PIXEL_REG_DF] = (cx->in.rflags >> X86_RFLAGS_DF) & 1;
    for (unsigned s = 0; s < PIXEL_NSCRATCH; s++)
        r[PIXEL_REG_SCRATCH0 + s] = cx->scratch[s];
}

const char *equiv_out_name(unsigned s)
{
    if (s < X86_NGPR)
        return x86_gpr_name(s);
    if (s < X86_NGPR + X86_NFLAG)
        return x86_flag_name(s - X86_NGPR);
    switch (s) {
    case X86_NGPR + X86_NFLAG: return "rip";
    case X86_NGPR + X86_NFLAG + 1: return "mem";
    case EQUIV_OUT_FAULT: return "fault";
    default: return "?";
    }
}

const char *equiv_status_name(enum equiv_status s)
{
    static const char *const names[] = { "proved", "refuted", "unknown", "timeout", "error" };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

size_t equiv_cex_format(const struct equiv_cex *cx, char *buf, size_t len)
{
    size_t o = 0;
#define P(...) do { int k_ = snprintf(buf ? buf + (o < len ? o : len) : NULL, \
                                     o < len ? len - o : 0, __VA_ARGS__); \
                    if (k_ > 0) o += (size_t)k_; } while (0)
    if (buf && len)
        buf[0] = 0;
    P("input:");
    for (unsigned r = 0; r < X86_NGPR; r++)
        P(" %s=%#llx", x86_gpr_name(r), (unsigned long long)cx->in.gpr[r]);
    P(" rip=%#llx rflags=%#llx", (unsigned long long)cx->in.rip, (unsigned long long)cx->in.rflags);
    for (unsigned s = 0; s < PIXEL_NSCRATCH; s++)
        if (cx->scratch[s])
            P(" R%u=%#llx", PIXEL_REG_SCRATCH0 + s, (unsigned long long)cx->scratch[s]);
    if (cx->nbytes) {
        P("; mem:");
        for (unsigned i = 0; i < cx->nbytes; i++)
            P(" [%#llx]=%02x", (unsigned long long)cx->addr[i], cx->byte[i]);
    }
    P("; differs:");
    for (unsigned s = 0; s < EQUIV_NOUT; s++) {
        if (!(cx->differs & (1u << s)))
            continue;
        if (s == EQUIV_OUT_FAULT)
            P(" fault(kind %llu)", (unsigned long long)cx->px_out[s]);
        else if (s == X86_NGPR + X86_NFLAG + 1)
            P(" mem[%#llx] x86=%02llx pixel=%02llx", (unsigned long long)cx->mem_addr,
              (unsigned long long)cx->x86_out[s], (unsigned long long)cx->px_out[s]);
        else
            P(" %s x86=%#llx pixel=%#llx", equiv_out_name(s), (unsigned long long)cx->x86_out[s],
              (unsigned long long)cx->px_out[s]);
    }
#undef P
    return o;
}
