/* pixel_z3.c — Z3 semantics of Pixel microcode (pixel_z3.h), generated from
 * the Z3 column of PIXEL_OPCODES. */
#include "pixel_z3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Z3_sort bv_sort(Z3_context c, unsigned bits) { return Z3_mk_bv_sort(c, bits); }

static Z3_ast k64(Z3_context c, uint64_t v) { return Z3_mk_unsigned_int64(c, v, bv_sort(c, 64)); }

/* ---- helpers named by the table's Z3 column ------------------------------- */
#define K(x) k64(c, (uint64_t)(x))
#define ZB(cond) Z3_mk_ite(c, (cond), K(1), K(0))
#define ZEQ(x, k) Z3_mk_eq(c, (x), K(k))
#define M63(x) Z3_mk_bvand(c, (x), K(63))

static Z3_ast z_zext(Z3_context c, Z3_ast a, unsigned bits)
{
    return Z3_mk_zero_ext(c, 64 - bits, Z3_mk_extract(c, bits - 1, 0, a));
}

static Z3_ast z_sext(Z3_context c, Z3_ast a, unsigned bits)
{
    return Z3_mk_sign_ext(c, 64 - bits, Z3_mk_extract(c, bits - 1, 0, a));
}

static Z3_ast z_ins(Z3_context c, Z3_ast d, Z3_ast a, unsigned pos, unsigned width)
{
    uint64_t low = ((uint64_t)1 << width) - 1;
    Z3_ast kept = Z3_mk_bvand(c, d, K(~(low << pos)));
    Z3_ast put = Z3_mk_bvshl(c, Z3_mk_bvand(c, a, K(low)), K(pos));
    return Z3_mk_bvor(c, kept, put);
}

static Z3_ast z_bit(Z3_context c, Z3_ast a, unsigned i) { return Z3_mk_extract(c, i, i, a); }

static Z3_ast z_parity8(Z3_context c, Z3_ast a)
{
    Z3_ast x = z_bit(c, a, 0);
    for (unsigned i = 1; i < 8; i++)
        x = Z3_mk_bvxor(c, x, z_bit(c, a, i));
    return Z3_mk_zero_ext(c, 63, Z3_mk_bvnot(c, x));
}

static Z3_ast z_popcnt(Z3_context c, Z3_ast a)
{
    Z3_ast sum = K(0);
    for (unsigned i = 0; i < 64; i++)
        sum = Z3_mk_bvadd(c, sum, Z3_mk_zero_ext(c, 63, z_bit(c, a, i)));
    return sum;
}

static Z3_ast z_is1(Z3_context c, Z3_ast a, unsigned i)
{
    return Z3_mk_eq(c, z_bit(c, a, i), Z3_mk_unsigned_int(c, 1, bv_sort(c, 1)));
}

static Z3_ast z_clz(Z3_context c, Z3_ast a)
{
    Z3_ast r = K(64);
    for (unsigned i = 0; i < 64; i++)      /* innermost: bit 0 */
        r = Z3_mk_ite(c, z_is1(c, a, i), K(63 - i), r);
    return r;
}

static Z3_ast z_ctz(Z3_context c, Z3_ast a)
{
    Z3_ast r = K(64);
    for (unsigned i = 64; i-- > 0;)        /* innermost: bit 63 */
        r = Z3_mk_ite(c, z_is1(c, a, i), K(i), r);
    return r;
}

static Z3_ast z_bswap(Z3_context c, Z3_ast a, unsigned nbytes)
{
    Z3_ast r = Z3_mk_extract(c, 7, 0, a);  /* byte 0 becomes the most significant */
    for (unsigned k = 1; k < nbytes; k++)
        r = Z3_mk_concat(c, r, Z3_mk_extract(c, 8 * k + 7, 8 * k, a));
    return nbytes == 8 ? r : Z3_mk_zero_ext(c, 64 - 8 * nbytes, r);
}

static Z3_ast z_mulh(Z3_context c, Z3_ast a, Z3_ast b, int is_signed)
{
    Z3_ast wa = is_signed ? Z3_mk_sign_ext(c, 64, a) : Z3_mk_zero_ext(c, 64, a);
    Z3_ast wb = is_signed ? Z3_mk_sign_ext(c, 64, b) : Z3_mk_zero_ext(c, 64, b);
    return Z3_mk_extract(c, 127, 64, Z3_mk_bvmul(c, wa, wb));
}

static Z3_ast z_sdiv_faults(Z3_context c, Z3_ast a, Z3_ast b)
{
    Z3_ast args[2] = { ZEQ(b, 0),
                       Z3_mk_and(c, 2, (Z3_ast[]){ ZEQ(a, (uint64_t)1 << 63), ZEQ(b, ~(uint64_t)0) }) };
    return Z3_mk_or(c, 2, args);
}

Z3_ast pixel_z3_alu(Z3_context c, uint8_t op, Z3_ast A, Z3_ast B, Z3_ast D, Z3_ast V,
                    uint8_t rs1, uint8_t rs2, Z3_ast *fault)
{
    uint64_t i2 = rs2, imm16 = (uint64_t)rs1 | ((uint64_t)rs2 << 8);
    (void)i2; (void)imm16;
    *fault = NULL;
    switch (op) {
#define PIXEL_X_Z3(name, code, form, kind, w, rdin, cres, cfault, zres, zfault, doc) \
    case code: *fault = (Z3_ast)(zfault); return (Z3_ast)(zres);
    PIXEL_OPCODES(PIXEL_X_Z3)
#undef PIXEL_X_Z3
    default:
        return NULL;
    }
}

/* ---- states --------------------------------------------------------------- */

static Z3_sort mem_sort(Z3_context c) { return Z3_mk_array_sort(c, bv_sort(c, 64), bv_sort(c, 8)); }

void pixel_z3_state_fresh(Z3_context c, const char *prefix, struct pixel_z3_state *s)
{
    char name[64];
    for (unsigned i = 0; i < PIXEL_NREGS; i++) {
        snprintf(name, sizeof name, "%sR%u", prefix, i);
        s->r[i] = Z3_mk_const(c, Z3_mk_string_symbol(c, name), bv_sort(c, 64));
    }
    snprintf(name, sizeof name, "%smem", prefix);
    s->mem = Z3_mk_const(c, Z3_mk_string_symbol(c, name), mem_sort(c));
}

void pixel_z3_state_const(Z3_context c, const uint64_t r[PIXEL_NREGS], Z3_ast mem,
                          struct pixel_z3_state *s)
{
    for (unsigned i = 0; i < PIXEL_NREGS; i++)
        s->r[i] = K(r[i]);
    s->mem = mem ? mem : Z3_mk_const(c, Z3_mk_string_symbol(c, "mem"), mem_sort(c));
}

Z3_ast pixel_z3_regions_ok(Z3_context c, Z3_ast addr, unsigned width, void *arg)
{
    const struct x86_mem *m = arg;
    Z3_ast any[X86_MEM_MAX_REGIONS];
    unsigned n = 0;
    for (uint32_t k = 0; m && k < m->nregions && k < X86_MEM_MAX_REGIONS; k++) {
        if (m->region[k].size < width)
            continue;
        Z3_ast base = K(m->region[k].base);
        Z3_ast both[2] = { Z3_mk_bvuge(c, addr, base),
                           Z3_mk_bvule(c, Z3_mk_bvsub(c, addr, base), K(m->region[k].size - width)) };
        any[n++] = Z3_mk_and(c, 2, both);
    }
    return n ? Z3_mk_or(c, n, any) : Z3_mk_false(c);
}

bool pixel_z3_eval_u64(Z3_context c, Z3_ast t, uint64_t *out)
{
    Z3_ast s = Z3_simplify(c, t);
    if (Z3_get_sort_kind(c, Z3_get_sort(c, s)) == Z3_BOOL_SORT) {
        Z3_lbool b = Z3_get_bool_value(c, s);
        if (b == Z3_L_UNDEF)
            return false;
        *out = b == Z3_L_TRUE;
        return true;
    }
    uint64_t v;
    if (!Z3_is_numeral_ast(c, s) || !Z3_get_numeral_uint64(c, s, &v))
        return false;
    *out = v;
    return true;
}

/* ---- symbolic execution ---------------------------------------------------- */

struct zpath {
    Z3_ast r[PIXEL_NREGS];
    Z3_ast mem;
    Z3_ast cond;          /* path condition (Bool) */
    Z3_ast faulted;       /* Bool: a fault happened on this path */
    Z3_ast fkind;         /* bv8: first fault kind */
    uint32_t pc, steps;
    uint32_t stack[PIXEL_CALL_DEPTH];
    unsigned depth;
};

static Z3_lbool lit(Z3_context c, Z3_ast b) { return Z3_get_bool_value(c, Z3_simplify(c, b)); }

static Z3_ast k8(Z3_context c, unsigned v) { return Z3_mk_unsigned_int(c, v, bv_sort(c, 8)); }

/* Records a fault of `kind` happening when `when` holds (and none before). */
static void add_fault(Z3_context c, struct zpath *p, Z3_ast when, enum pixel_fault kind)
{
    Z3_lbool w = lit(c, when);
    if (w == Z3_L_FALSE)
        return;
    Z3_ast fresh = Z3_mk_and(c, 2, (Z3_ast[]){ Z3_mk_not(c, p->faulted), when });
    p->fkind = Z3_simplify(c, Z3_mk_ite(c, fresh, k8(c, kind), p->fkind));
    p->faulted = Z3_simplify(c, Z3_mk_or(c, 2, (Z3_ast[]){ p->faulted, when }));
}

/* The new value of a location, unless the path has faulted. */
static Z3_ast guard(Z3_context c, const struct zpath *p, Z3_ast old, Z3_ast val)
{
    Z3_lbool f = Z3_get_bool_value(c, p->faulted);
    if (f == Z3_L_FALSE)
        return val;
    if (f == Z3_L_TRUE)
        return old;
    return Z3_mk_ite(c, p->faulted, old, val);
}

static Z3_ast z_load(Z3_context c, Z3_ast mem, Z3_ast addr, unsigned w)
{
    Z3_ast v = NULL;
    for (unsigned k = w; k-- > 0;) {
        Z3_ast b = Z3_mk_select(c, mem, Z3_mk_bvadd(c, addr, K(k)));
        v = v ? Z3_mk_concat(c, v, b) : b;
    }
    return w == 8 ? v : Z3_mk_zero_ext(c, 64 - 8 * w, v);
}

static Z3_ast z_store(Z3_context c, Z3_ast mem, Z3_ast addr, unsigned w, Z3_ast val)
{
    for (unsigned k = 0; k < w; k++)
        mem = Z3_mk_store(c, mem, Z3_mk_bvadd(c, addr, K(k)),
                          Z3_mk_extract(c, 8 * k + 7, 8 * k, val));
    return mem;
}

struct zrun {
    Z3_context c;
    const struct insn_view { const struct pixel_insn *p; size_t n; } prog;
    const struct pixel_z3_opts *o;
    uint32_t step_limit;
    struct zpath *work;    /* pending paths */
    unsigned nwork;
    struct zpath *done;    /* finished paths */
    unsigned ndone, max_paths;
};

/* Runs path p to its end; a fork pushes the other side onto work.
 * Returns 0, or -1 when the path budget is exhausted. */
static int run_path(struct zrun *z, struct zpath *p)
{
    Z3_context c = z->c;
    const struct pixel_insn *prog = z->prog.p;
    size_t n = z->prog.n;
    while (p->pc < n) {
        if (Z3_get_bool_value(c, p->faulted) == Z3_L_TRUE)
            break;                                   /* frozen for good */
        if (p->steps >= z->step_limit) {
            add_fault(c, p, Z3_mk_true(c), PIXEL_FAULT_STEPS);
            break;
        }
        struct pixel_insn i = prog[p->pc];
        const struct pixel_opinfo *info = pixel_opinfo(i.op);
        uint32_t next = p->pc + 1;
        switch ((enum pixel_kind)info->kind) {
        case PXK_ALU: {
            Z3_ast fault;
            Z3_ast v = pixel_z3_alu(c, i.op, p->r[i.rs1 & 31], p->r[i.rs2 & 31], p->r[i.rd & 31],
                                    NULL, i.rs1, i.rs2, &fault);
            if (fault)
                add_fault(c, p, fault, PIXEL_FAULT_DIV);
            p->r[i.rd] = guard(c, p, p->r[i.rd], v);
            break;
        }
        case PXK_LOAD: case PXK_STORE: {
            Z3_ast addr = p->r[i.rs1];
            if (z->o && z->o->access_ok)
                add_fault(c, p, Z3_mk_not(c, z->o->access_ok(c, addr, info->width, z->o->access_arg)),
                          PIXEL_FAULT_MEM);
            if (info->kind == PXK_LOAD) {
                Z3_ast fault;
                Z3_ast raw = z_load(c, p->mem, addr, info->width);
                Z3_ast v = pixel_z3_alu(c, i.op, NULL, NULL, NULL, raw, i.rs1, i.rs2, &fault);
                p->r[i.rd] = guard(c, p, p->r[i.rd], v);
            } else {
                p->mem = guard(c, p, p->mem, z_store(c, p->mem, addr, info->width, p->r[i.rs2]));
            }
            break;
        }
        case PXK_CTRL:
            switch (i.op) {
            case PX_NOP:
                break;
            case PX_HALT:
                p->steps++;
                return 0;
            case PX_RET:
                if (p->depth == 0) {
                    p->steps++;
                    return 0;
                }
                next = p->stack[--p->depth];
                break;
            case PX_JUMP: case PX_CALL:
                if (i.op == PX_CALL) {
                    if (p->depth == PIXEL_CALL_DEPTH) {
                        add_fault(c, p, Z3_mk_true(c), PIXEL_FAULT_STACK);
                        return 0;
                    }
                    p->stack[p->depth++] = p->pc + 1;
                }
                next = (uint32_t)((int64_t)p->pc + 1 + pixel_insn_off16(i));
                break;
            case PX_JZ: case PX_JNZ: {
                Z3_ast is0 = Z3_simplify(c, ZEQ(p->r[i.rd], 0));
                Z3_ast take = i.op == PX_JZ ? is0 : Z3_simplify(c, Z3_mk_not(c, is0));
                uint32_t target = (uint32_t)((int64_t)p->pc + 1 + pixel_insn_off16(i));
                Z3_lbool t = Z3_get_bool_value(c, take);
                if (t == Z3_L_TRUE)
                    next = target;
                else if (t == Z3_L_UNDEF) {
                    if (z->nwork + z->ndone + 1 >= z->max_paths)
                        return -1;
                    struct zpath *q = &z->work[z->nwork++];
                    *q = *p;
                    q->cond = Z3_simplify(c, Z3_mk_and(c, 2, (Z3_ast[]){ p->cond, take }));
                    q->pc = target;
                    q->steps++;
                    p->cond = Z3_simplify(c, Z3_mk_and(c, 2, (Z3_ast[]){ p->cond, Z3_mk_not(c, take) }));
                }
                break;
            }
            default:
                add_fault(c, p, Z3_mk_true(c), PIXEL_FAULT_DECODE);
                return 0;
            }
            break;
        }
        p->steps++;
        p->pc = next;
    }
    return 0;
}

int pixel_z3_exec(Z3_context c, const struct pixel_insn *prog, size_t n,
                  const struct pixel_z3_state *in, const struct pixel_z3_opts *opts,
                  struct pixel_z3_result *res, char *err, size_t errlen)
{
    if (!pixel_prog_valid(prog, n, err, errlen))
        return -1;
    struct zrun z = { .c = c, .prog = { prog, n }, .o = opts };
    z.step_limit = opts && opts->step_limit ? opts->step_limit : PIXEL_DEFAULT_STEP_LIMIT;
    z.max_paths = opts && opts->max_paths ? opts->max_paths : 256;
    z.work = calloc(z.max_paths, sizeof *z.work);
    z.done = calloc(z.max_paths, sizeof *z.done);
    int rc = -1;
    if (!z.work || !z.done) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    struct zpath *first = &z.work[z.nwork++];
    memcpy(first->r, in->r, sizeof first->r);
    first->mem = in->mem;
    first->cond = Z3_mk_true(c);
    first->faulted = Z3_mk_false(c);
    first->fkind = k8(c, PIXEL_FAULT_NONE);
    while (z.nwork) {
        struct zpath p = z.work[--z.nwork];
        if (run_path(&z, &p) || z.ndone == z.max_paths) {
            if (err && errlen)
                snprintf(err, errlen, "microcode of %zu instructions: more than %u paths", n,
                         z.max_paths);
            goto out;
        }
        z.done[z.ndone++] = p;
    }
    /* Merge: the last path is the default, earlier ones guard by their condition. */
    struct zpath *last = &z.done[z.ndone - 1];
    res->out.mem = last->mem;
    memcpy(res->out.r, last->r, sizeof res->out.r);
    res->fault_kind = last->fkind;
    for (unsigned k = z.ndone - 1; k-- > 0;) {
        struct zpath *p = &z.done[k];
        for (unsigned r = 0; r < PIXEL_NREGS; r++)
            res->out.r[r] = Z3_mk_ite(c, p->cond, p->r[r], res->out.r[r]);
        res->out.mem = Z3_mk_ite(c, p->cond, p->mem, res->out.mem);
        res->fault_kind = Z3_mk_ite(c, p->cond, p->fkind, res->fault_kind);
    }
    res->faulted = Z3_mk_not(c, Z3_mk_eq(c, res->fault_kind, k8(c, PIXEL_FAULT_NONE)));
    res->paths = z.ndone;
    rc = 0;
out:
    free(z.work);
    free(z.done);
    return rc;
}
