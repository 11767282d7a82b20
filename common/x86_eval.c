/* x86_eval.c — concrete evaluation of the Z3 x86 model (see x86_eval.h). */
#include "x86_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Z3 keeps every AST of a non-reference-counted context alive until the
 * context goes away, so the evaluator starts a fresh one after this many
 * evaluations (a few KiB each; creating a context costs about a thousand
 * evaluations' worth of time). */
#define EV_REBUILD_EVERY 4000
/* A lift costs about this many evaluations' worth of context memory. */
#define EV_LIFT_WEIGHT 8

enum field_kind { F_GPR, F_RIP, F_FLAG, F_UNDEF, F_BRANCH, F_ACCVAL };

struct field {
    uint8_t kind;
    uint8_t idx;
    uint16_t bits;
    uint32_t lo;          /* bit offset inside the packed outputs */
};

#define EV_MAX_FIELDS (X86_NGPR + 1 + 2 * X86_NFLAG + 1 + X86_SYM_MAX_ACCESSES)

struct x86_evaluator {
    struct x86_insn *insns;
    size_t n;
    Z3_context c;
    struct x86_sym_state st;
    Z3_ast bundle;
    unsigned bundle_bits;
    struct field fields[EV_MAX_FIELDS];
    unsigned nfields;
    /* Substitution sources: 16 GPRs, rip, 6 flags, the fresh (undefined)
     * variables, and last the input memory array. */
    Z3_ast *from;
    Z3_func_decl *decl;   /* the declarations of `from` */
    /* One model, its interpretations replaced for every evaluation: a new
     * model per evaluation would rebuild Z3's evaluator each time. */
    Z3_model model;
    Z3_ast *to;
    unsigned nfrom;
    Z3_ast zero_mem;
    Z3_sort s64, s8;
    unsigned runs;        /* evaluations (and lifts, weighted) since the context was made */
    x86_locset written;
};

static void ev_release(struct x86_evaluator *ev)
{
    free(ev->from);
    free(ev->to);
    free(ev->decl);
    ev->from = ev->to = NULL;
    ev->decl = NULL;
    if (ev->c && ev->model)
        Z3_model_dec_ref(ev->c, ev->model);
    ev->model = NULL;
    if (ev->c)
        Z3_del_context(ev->c);
    ev->c = NULL;
}

static void add_field(struct x86_evaluator *ev, enum field_kind k, unsigned idx, Z3_ast e)
{
    Z3_context c = ev->c;
    if (Z3_get_sort_kind(c, Z3_get_sort(c, e)) == Z3_BOOL_SORT)
        e = Z3_mk_ite(c, e, Z3_mk_unsigned_int(c, 1, Z3_mk_bv_sort(c, 1)),
                      Z3_mk_unsigned_int(c, 0, Z3_mk_bv_sort(c, 1)));
    unsigned bits = Z3_get_bv_sort_size(c, Z3_get_sort(c, e));
    ev->fields[ev->nfields++] = (struct field){ (uint8_t)k, (uint8_t)idx, (uint16_t)bits, ev->bundle_bits };
    ev->bundle = ev->bundle ? Z3_mk_concat(c, e, ev->bundle) : e;
    ev->bundle_bits += bits;
}

/* Lifts the block into the private context, (re)creating the context when
 * it is missing or has accumulated enough garbage. */
static int ev_build(struct x86_evaluator *ev, char *err, size_t errlen)
{
    free(ev->from);
    free(ev->to);
    free(ev->decl);
    ev->from = ev->to = NULL;
    ev->decl = NULL;
    if (!ev->c || ev->runs >= EV_REBUILD_EVERY) {
        ev_release(ev);
        Z3_config cfg = Z3_mk_config();
        ev->c = Z3_mk_context(cfg);
        Z3_del_config(cfg);
        if (!ev->c) {
            snprintf(err, errlen, "x86 eval: cannot create a Z3 context");
            return -1;
        }
        Z3_set_error_handler(ev->c, NULL);
        ev->model = Z3_mk_model(ev->c);
        Z3_model_inc_ref(ev->c, ev->model);
        ev->runs = 0;
    }
    Z3_context c = ev->c;
    ev->runs += EV_LIFT_WEIGHT;
    ev->s64 = Z3_mk_bv_sort(c, 64);
    ev->s8 = Z3_mk_bv_sort(c, 8);
    x86_sym_state_init(c, &ev->st, "");
    if (x86_lift_block(c, &ev->st, ev->insns, ev->n, err, errlen) != 0)
        return -1;
    struct x86_sym_state *st = &ev->st;
    ev->written = st->written;
    ev->bundle = NULL;
    ev->bundle_bits = 0;
    ev->nfields = 0;
    for (unsigned r = 0; r < X86_NGPR; r++)
        if (!Z3_is_eq_ast(c, st->gpr[r], st->in_gpr[r]))
            add_field(ev, F_GPR, r, st->gpr[r]);
    add_field(ev, F_RIP, 0, st->rip);
    Z3_ast f_false = Z3_mk_false(c);
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (!(st->written & X86_LOC_FLAG(f)))
            continue;
        add_field(ev, F_FLAG, f, st->flag[f]);
        if (!Z3_is_eq_ast(c, st->flag_undef[f], f_false))
            add_field(ev, F_UNDEF, f, st->flag_undef[f]);
    }
    if (st->terminated)
        add_field(ev, F_BRANCH, 0, st->branch_cond);
    for (unsigned k = 0; k < st->nacc; k++)
        add_field(ev, F_ACCVAL, k, st->acc[k].value);

    ev->nfrom = X86_NGPR + 1 + X86_NFLAG + st->nfresh + 1;
    ev->from = calloc(ev->nfrom, sizeof *ev->from);
    ev->to = calloc(ev->nfrom, sizeof *ev->to);
    ev->decl = calloc(ev->nfrom, sizeof *ev->decl);
    if (!ev->from || !ev->to || !ev->decl) {
        snprintf(err, errlen, "x86 eval: out of memory");
        return -1;
    }
    unsigned k = 0;
    for (unsigned r = 0; r < X86_NGPR; r++)
        ev->from[k++] = st->in_gpr[r];
    ev->from[k++] = st->in_rip;
    for (unsigned f = 0; f < X86_NFLAG; f++)
        ev->from[k++] = st->in_flag[f];
    for (unsigned i = 0; i < st->nfresh; i++) {
        char name[48];
        snprintf(name, sizeof name, "%sundef%u", st->prefix, i);
        ev->from[k] = Z3_mk_const(c, Z3_mk_string_symbol(c, name), Z3_mk_bool_sort(c));
        ev->to[k++] = f_false;          /* any value: the marker says it is undefined */
    }
    ev->from[k++] = st->in_mem;
    for (unsigned i = 0; i < ev->nfrom; i++)
        ev->decl[i] = Z3_get_app_decl(c, Z3_to_app(c, ev->from[i]));
    ev->zero_mem = Z3_mk_const_array(c, ev->s64, Z3_mk_unsigned_int(c, 0, ev->s8));
    return 0;
}

struct x86_evaluator *x86_evaluator_create(const struct x86_insn *insns, size_t n,
                                           char *err, size_t errlen)
{
    struct x86_evaluator *ev = calloc(1, sizeof *ev);
    if (!ev || !(ev->insns = malloc((n ? n : 1) * sizeof *insns))) {
        free(ev);
        snprintf(err, errlen, "x86 eval: out of memory");
        return NULL;
    }
    memcpy(ev->insns, insns, n * sizeof *insns);
    ev->n = n;
    if (ev_build(ev, err, errlen) != 0) {
        x86_evaluator_destroy(ev);
        return NULL;
    }
    return ev;
}

int x86_evaluator_retarget(struct x86_evaluator *ev, const struct x86_insn *insns, size_t n,
                           char *err, size_t errlen)
{
    struct x86_insn *copy = malloc((n ? n : 1) * sizeof *insns);
    if (!copy) {
        snprintf(err, errlen, "x86 eval: out of memory");
        return -1;
    }
    memcpy(copy, insns, n * sizeof *insns);
    free(ev->insns);
    ev->insns = copy;
    ev->n = n;
    return ev_build(ev, err, errlen);
}

void x86_evaluator_destroy(struct x86_evaluator *ev)
{
    if (!ev)
        return;
    ev_release(ev);
    free(ev->insns);
    free(ev);
}

static const struct x86_mem_region *region_of(const struct x86_mem *mem, uint64_t addr, unsigned size)
{
    for (uint32_t i = 0; mem && i < mem->nregions && i < X86_MEM_MAX_REGIONS; i++) {
        const struct x86_mem_region *r = &mem->region[i];
        if (addr >= r->base && addr - r->base < r->size && r->size - (addr - r->base) >= size)
            return r;
    }
    return NULL;
}

/* Evaluates e in a model that gives the inputs their current values. */
static Z3_ast ev_eval(struct x86_evaluator *ev, Z3_ast e)
{
    Z3_context c = ev->c;
    for (unsigned i = 0; i < ev->nfrom; i++)
        Z3_add_const_interp(c, ev->model, ev->decl[i], ev->to[i]);
    Z3_ast r = NULL;
    if (!Z3_model_eval(c, ev->model, e, true, &r))
        r = e;
    return r;
}

/* Bits [lo, lo+bits) of a numeral given as a binary string (MSB first, no
 * leading zeros). */
static uint64_t bits_of(const char *s, size_t len, unsigned lo, unsigned bits)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bits; i++) {
        size_t p = lo + i;
        if (p < len && s[len - 1 - p] == '1')
            v |= 1ull << i;
    }
    return v;
}

int x86_evaluator_run(struct x86_evaluator *ev, const struct x86_regs *in, struct x86_mem *mem,
                      struct x86_eval_result *out, char *err, size_t errlen)
{
    if (ev->runs >= EV_REBUILD_EVERY && ev_build(ev, err, errlen) != 0)
        return -1;
    ev->runs++;
    Z3_context c = ev->c;
    const struct x86_sym_state *st = &ev->st;
    memset(out, 0, sizeof *out);
    out->regs = *in;

    unsigned k = 0;
    for (unsigned r = 0; r < X86_NGPR; r++)
        ev->to[k++] = Z3_mk_unsigned_int64(c, in->gpr[r], ev->s64);
    ev->to[k++] = Z3_mk_unsigned_int64(c, in->rip, ev->s64);
    for (unsigned f = 0; f < X86_NFLAG; f++)
        ev->to[k++] = (in->rflags >> x86_flag_rflags_bit((enum x86_flag)f)) & 1 ? Z3_mk_true(c) : Z3_mk_false(c);
    k += st->nfresh;
    unsigned mem_slot = k;
    ev->to[mem_slot] = ev->zero_mem;

    /* Phase 1: the accesses in program order.  Each address depends only on
     * earlier loads, whose bytes are already in the concrete array. */
    Z3_ast cmem = ev->zero_mem;
    uint64_t addrs[X86_SYM_MAX_ACCESSES];
    for (unsigned a = 0; a < st->nacc; a++) {
        ev->to[mem_slot] = cmem;
        Z3_ast e = ev_eval(ev, st->acc[a].addr);
        uint64_t addr;
        if (!Z3_get_numeral_uint64(c, e, &addr)) {
            snprintf(err, errlen, "x86 eval: address of access %u did not evaluate to a constant (%s)",
                     a, Z3_ast_to_string(c, e));
            return -1;
        }
        addrs[a] = addr;
        const struct x86_mem_region *reg = region_of(mem, addr, st->acc[a].size);
        if (!reg) {
            out->fault = true;
            out->fault_addr = addr;
            out->nacc = a;
            return 0;
        }
        if (!st->acc[a].is_store)
            for (unsigned b = 0; b < st->acc[a].size; b++)
                cmem = Z3_mk_store(c, cmem, Z3_mk_unsigned_int64(c, addr + b, ev->s64),
                                   Z3_mk_unsigned_int(c, reg->data[addr + b - reg->base], ev->s8));
    }
    ev->to[mem_slot] = cmem;

    /* Phase 2: every output at once. */
    Z3_ast v = ev_eval(ev, ev->bundle);
    if (Z3_get_ast_kind(c, v) != Z3_NUMERAL_AST) {
        snprintf(err, errlen, "x86 eval: outputs did not evaluate to a constant: %.200s",
                 Z3_ast_to_string(c, v));
        return -1;
    }
    const char *bin = Z3_get_numeral_binary_string(c, v);
    size_t blen = strlen(bin);

    uint8_t flag_val = 0, flag_undef = 0;
    for (unsigned i = 0; i < ev->nfields; i++) {
        const struct field *fd = &ev->fields[i];
        uint64_t x = bits_of(bin, blen, fd->lo, fd->bits);
        switch (fd->kind) {
        case F_GPR: out->regs.gpr[fd->idx] = x; break;
        case F_RIP: out->regs.rip = x; break;
        case F_FLAG: flag_val |= (uint8_t)(x << fd->idx); break;
        case F_UNDEF: flag_undef |= (uint8_t)(x << fd->idx); break;
        case F_BRANCH: out->branch_taken = x != 0; break;
        case F_ACCVAL:
            out->acc[fd->idx] = (struct x86_mem_access){ addrs[fd->idx], x, st->acc[fd->idx].size,
                                                         st->acc[fd->idx].is_store };
            break;
        }
    }
    out->nacc = st->nacc;
    out->has_branch = st->terminated;
    out->flags_undefined = flag_undef;
    out->defined = (ev->written & (X86_LOC_ALL_GPRS | X86_LOC_MEM)) | X86_LOC_RIP;
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (!(ev->written & X86_LOC_FLAG(f)) || (flag_undef >> f & 1))
            continue;
        out->defined |= X86_LOC_FLAG(f);
        uint64_t m = 1ull << x86_flag_rflags_bit((enum x86_flag)f);
        out->regs.rflags = (flag_val >> f & 1) ? out->regs.rflags | m : out->regs.rflags & ~m;
    }
    /* Stores, in program order (all addresses were checked above). */
    for (unsigned a = 0; a < out->nacc; a++) {
        if (!out->acc[a].is_store)
            continue;
        const struct x86_mem_region *reg = region_of(mem, out->acc[a].addr, out->acc[a].size);
        for (unsigned b = 0; b < out->acc[a].size; b++)
            reg->data[out->acc[a].addr + b - reg->base] = (uint8_t)(out->acc[a].value >> (8 * b));
    }
    return 0;
}

int x86_model_eval(const struct x86_insn *insns, size_t n, const struct x86_regs *in,
                   struct x86_mem *mem, struct x86_eval_result *out, char *err, size_t errlen)
{
    struct x86_evaluator *ev = x86_evaluator_create(insns, n, err, errlen);
    if (!ev)
        return -1;
    int rc = x86_evaluator_run(ev, in, mem, out, err, errlen);
    x86_evaluator_destroy(ev);
    return rc;
}
