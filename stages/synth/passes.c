/* passes.c — the synthesis IR (sir.h): construction, operand queries, and
 * the optimization passes applied to every lowered sequence. */
#include "sir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sir_init(struct sir_prog *p)
{
    p->n = 0;
    p->nextv = SIR_VREG0;
    p->overflow = false;
}

void sir_emit(struct sir_prog *p, uint8_t op, uint16_t rd, uint16_t a, uint16_t b, int32_t imm)
{
    if (p->n >= SIR_MAX) {
        p->overflow = true;
        return;
    }
    p->v[p->n++] = (struct sir){ op, rd, a, b, imm };
}

uint16_t sir_newv(struct sir_prog *p)
{
    if (p->nextv >= SIR_NONE - 1) {
        p->overflow = true;
        return SIR_VREG0;
    }
    return p->nextv++;
}

bool sir_has_imm(uint8_t op)
{
    switch (pixel_op_form(op)) {
    case PXF_RRU6: case PXF_RRS8: case PXF_RRU8: case PXF_RS16: case PXF_RU16: return true;
    default: return false;
    }
}

unsigned sir_reads(const struct sir *s, uint16_t out[3])
{
    unsigned n = 0;
    const struct pixel_opinfo *info = pixel_opinfo(s->op);
    switch (pixel_op_form(s->op)) {
    case PXF_RR: case PXF_RRU6: case PXF_RRS8: case PXF_RRU8: case PXF_LOAD:
        out[n++] = s->a;
        break;
    case PXF_RRR: case PXF_STORE:
        out[n++] = s->a;
        out[n++] = s->b;
        break;
    default:
        break;
    }
    if (info && info->name && info->reads_rd && s->rd != SIR_NONE)
        out[n++] = s->rd;
    return n;
}

uint16_t sir_writes(const struct sir *s)
{
    int k = pixel_op_kind(s->op);
    return (k == PXK_ALU || k == PXK_LOAD) ? s->rd : SIR_NONE;
}

uint32_t sir_live_mask(x86_locset live_out)
{
    uint32_t m = 1u << PIXEL_REG_RIP;
    for (unsigned r = 0; r < X86_NGPR; r++)
        if (live_out & X86_LOC_GPR(r))
            m |= 1u << PIXEL_REG_GPR(r);
    for (unsigned f = 0; f < X86_NFLAG; f++)
        if (live_out & X86_LOC_FLAG(f))
            m |= 1u << PIXEL_REG_FLAG(f);
    return m;
}

static void remove_nops(struct sir_prog *p)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].op != PX_NOP)
            p->v[k++] = p->v[i];
    p->n = k;
}

/* ---- constant folding ---------------------------------------------------- */

/* rs1/rs2 bytes of an immediate form, as the executors see them. */
static void imm_bytes(const struct sir *s, uint8_t *rs1, uint8_t *rs2)
{
    switch (pixel_op_form(s->op)) {
    case PXF_RS16: case PXF_RU16:
        *rs1 = (uint8_t)(s->imm & 0xff);
        *rs2 = (uint8_t)((s->imm >> 8) & 0xff);
        break;
    default:
        *rs1 = 0;
        *rs2 = (uint8_t)(s->imm & 0xff);
        break;
    }
}

struct kv { bool known; uint64_t v; };

static struct kv *kv_at(struct kv *k, uint16_t r) { return &k[r]; }

static void set_ldi(struct sir *s, uint64_t v)
{
    s->op = PX_LDI;
    s->a = s->b = SIR_NONE;
    s->imm = (int32_t)(int64_t)v;
}

static bool fits16(uint64_t v) { return (uint64_t)px_sext(v, 16) == v; }

void sir_fold_constants(struct sir_prog *p)
{
    struct kv *k = calloc((size_t)p->nextv + 1, sizeof *k);
    if (!k)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct sir *s = &p->v[i];
        int kind = pixel_op_kind(s->op);
        if (kind != PXK_ALU) {
            uint16_t w = sir_writes(s);
            if (w != SIR_NONE)
                kv_at(k, w)->known = false;
            continue;
        }
        uint16_t rd[3];
        unsigned nr = sir_reads(s, rd);
        bool all = true;
        for (unsigned j = 0; j < nr; j++)
            all &= kv_at(k, rd[j])->known;
        struct kv A = s->a != SIR_NONE ? *kv_at(k, s->a) : (struct kv){ false, 0 };
        struct kv B = s->b != SIR_NONE ? *kv_at(k, s->b) : (struct kv){ false, 0 };
        const struct pixel_opinfo *info = pixel_opinfo(s->op);
        if (all) {
            uint8_t r1, r2;
            imm_bytes(s, &r1, &r2);
            int fault = 0;
            uint64_t d = info->reads_rd ? kv_at(k, s->rd)->v : 0;
            uint64_t v = pixel_alu(s->op, A.v, B.v, d, r1, r2, 0, &fault);
            if (!fault) {
                if (fits16(v) && s->op != PX_LDI)
                    set_ldi(s, v);
                kv_at(k, s->rd)->known = true;
                kv_at(k, s->rd)->v = v;
                continue;
            }
        }
        /* strength reduction with one known operand */
        switch (s->op) {
        case PX_SHL: case PX_SHR: case PX_SAR: case PX_ROL: case PX_ROR:
            if (B.known) {
                static const uint8_t imm_op[] = { [PX_SHL] = PX_SHLI, [PX_SHR] = PX_SHRI,
                                                  [PX_SAR] = PX_SARI, [PX_ROL] = PX_ROLI,
                                                  [PX_ROR] = PX_RORI };
                unsigned c = (unsigned)(B.v & 63);
                if (c == 0) {
                    s->op = PX_MOV;
                } else {
                    s->op = imm_op[s->op];
                    s->imm = (int32_t)c;
                }
                s->b = SIR_NONE;
            }
            break;
        case PX_ADD:
            if (A.known && !B.known) {
                uint16_t t = s->a; s->a = s->b; s->b = t;
                struct kv tk = A; A = B; B = tk;
            }
            if (B.known && (int64_t)B.v >= -128 && (int64_t)B.v <= 127) {
                s->op = B.v ? PX_ADDI : PX_MOV;
                s->imm = (int32_t)(int64_t)B.v;
                s->b = SIR_NONE;
            }
            break;
        case PX_SUB:
            if (B.known && (int64_t)B.v >= -127 && (int64_t)B.v <= 128) {
                s->op = B.v ? PX_ADDI : PX_MOV;
                s->imm = -(int32_t)(int64_t)B.v;
                s->b = SIR_NONE;
            }
            break;
        case PX_AND: case PX_OR: case PX_XOR:
            if (A.known && !B.known) {
                uint16_t t = s->a; s->a = s->b; s->b = t;
                struct kv tk = A; A = B; B = tk;
            }
            if (B.known) {
                if (s->op == PX_AND && B.v == 0xff) { s->op = PX_ZEXT8; s->b = SIR_NONE; }
                else if (s->op == PX_AND && B.v == 0xffff) { s->op = PX_ZEXT16; s->b = SIR_NONE; }
                else if (s->op == PX_AND && B.v == 0xffffffffu) { s->op = PX_ZEXT32; s->b = SIR_NONE; }
                else if (s->op == PX_AND && B.v == ~0ull) { s->op = PX_MOV; s->b = SIR_NONE; }
                else if (s->op != PX_AND && B.v == 0) { s->op = PX_MOV; s->b = SIR_NONE; }
                else if (B.v <= 255) {
                    s->op = s->op == PX_AND ? PX_ANDI : s->op == PX_OR ? PX_ORI : PX_XORI;
                    s->imm = (int32_t)B.v;
                    s->b = SIR_NONE;
                }
            }
            break;
        case PX_CMOVNZ: case PX_CMOVZ:
            if (A.known) {
                bool take = (A.v != 0) == (s->op == PX_CMOVNZ);
                if (take) {
                    s->op = PX_MOV;
                    s->a = s->b;
                    s->b = SIR_NONE;
                    kv_at(k, s->rd)->known = B.known;
                    kv_at(k, s->rd)->v = B.v;
                } else {
                    s->op = PX_NOP;   /* rd unchanged */
                }
                continue;
            }
            break;
        default:
            break;
        }
        kv_at(k, s->rd)->known = false;
    }
    free(k);
    remove_nops(p);
}

/* ---- copy propagation ---------------------------------------------------- */

void sir_copy_propagate(struct sir_prog *p)
{
    size_t nv = (size_t)p->nextv + 1;
    uint16_t *alias = malloc(nv * sizeof *alias);
    if (!alias)
        return;
    for (size_t i = 0; i < nv; i++)
        alias[i] = SIR_NONE;
    for (size_t i = 0; i < p->n; i++) {
        struct sir *s = &p->v[i];
        if (s->a != SIR_NONE && s->a < nv && alias[s->a] != SIR_NONE)
            s->a = alias[s->a];
        if (s->b != SIR_NONE && s->b < nv && alias[s->b] != SIR_NONE)
            s->b = alias[s->b];
        uint16_t w = sir_writes(s);
        if (w == SIR_NONE)
            continue;
        for (size_t r = 0; r < nv; r++)
            if (alias[r] == w)
                alias[r] = SIR_NONE;
        alias[w] = SIR_NONE;
        if (s->op == PX_MOV && w >= SIR_VREG0 && s->a != w)
            alias[w] = s->a;
    }
    free(alias);
}

/* ---- dead-code elimination ----------------------------------------------- */

void sir_dce(struct sir_prog *p, uint32_t live_out)
{
    size_t nv = (size_t)p->nextv + 1;
    uint8_t *live = calloc(nv, 1);
    if (!live)
        return;
    for (unsigned r = 0; r < 32; r++)
        live[r] = (live_out >> r) & 1;
    for (size_t i = p->n; i-- > 0;) {
        struct sir *s = &p->v[i];
        if (s->op == PX_NOP)
            continue;
        uint16_t w = sir_writes(s);
        if (w != SIR_NONE) {
            if (!live[w]) {
                s->op = PX_NOP;
                continue;
            }
            live[w] = 0;
        }
        uint16_t rd[3];
        unsigned nr = sir_reads(s, rd);
        for (unsigned j = 0; j < nr; j++)
            live[rd[j]] = 1;
    }
    free(live);
    remove_nops(p);
}

/* ---- destination coalescing: v = op ...; MOV P, v  →  P = op ... --------- */

void sir_coalesce(struct sir_prog *p, uint32_t live_out)
{
    (void)live_out;
    size_t nv = (size_t)p->nextv + 1;
    uint16_t *uses = calloc(nv, sizeof *uses), *defs = calloc(nv, sizeof *defs);
    if (!uses || !defs) {
        free(uses);
        free(defs);
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        uint16_t rd[3];
        unsigned nr = sir_reads(&p->v[i], rd);
        for (unsigned j = 0; j < nr; j++)
            uses[rd[j]]++;
        uint16_t w = sir_writes(&p->v[i]);
        if (w != SIR_NONE)
            defs[w]++;
    }
    for (size_t j = 0; j < p->n; j++) {
        struct sir *m = &p->v[j];
        if (m->op != PX_MOV || m->rd >= SIR_VREG0 || m->a < SIR_VREG0)
            continue;
        uint16_t v = m->a, P = m->rd;
        if (uses[v] != 1 || defs[v] != 1)
            continue;
        /* find the definition of v */
        size_t i = j;
        while (i-- > 0)
            if (sir_writes(&p->v[i]) == v)
                break;
        if (i >= j)
            continue;
        const struct pixel_opinfo *info = pixel_opinfo(p->v[i].op);
        if (info->reads_rd)
            continue;
        bool clash = false;
        for (size_t k = i + 1; k < j && !clash; k++) {
            uint16_t rd[3];
            unsigned nr = sir_reads(&p->v[k], rd);
            for (unsigned t = 0; t < nr; t++)
                clash |= rd[t] == P;
            clash |= sir_writes(&p->v[k]) == P;
        }
        if (clash)
            continue;
        p->v[i].rd = P;
        m->op = PX_NOP;
    }
    free(uses);
    free(defs);
    remove_nops(p);
}

/* ---- register allocation (linear scan, straight-line code) --------------- */

int sir_regalloc(struct sir_prog *p, char *err, size_t errlen)
{
    size_t nv = (size_t)p->nextv + 1;
    int32_t *last = malloc(nv * sizeof *last);
    int16_t *phys = malloc(nv * sizeof *phys);
    if (!last || !phys) {
        free(last);
        free(phys);
        snprintf(err, errlen, "regalloc: out of memory");
        return -1;
    }
    for (size_t r = 0; r < nv; r++) {
        last[r] = -1;
        phys[r] = -1;
    }
    for (size_t i = 0; i < p->n; i++) {
        uint16_t rd[3];
        unsigned nr = sir_reads(&p->v[i], rd);
        for (unsigned j = 0; j < nr; j++)
            last[rd[j]] = (int32_t)i;
        uint16_t w = sir_writes(&p->v[i]);
        if (w != SIR_NONE && last[w] < (int32_t)i)
            last[w] = (int32_t)i;
    }
    int16_t owner[PIXEL_NSCRATCH];
    for (unsigned s = 0; s < PIXEL_NSCRATCH; s++)
        owner[s] = -1;
    int rc = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        struct sir *s = &p->v[i];
        uint16_t w = sir_writes(s);
        /* registers whose last use is this instruction are free for its result */
        for (unsigned k = 0; k < PIXEL_NSCRATCH; k++)
            if (owner[k] >= 0 && last[owner[k]] <= (int32_t)i && owner[k] != (int16_t)w)
                owner[k] = -1;
        if (w != SIR_NONE && w >= SIR_VREG0 && phys[w] < 0) {
            int got = -1;
            for (unsigned k = 0; k < PIXEL_NSCRATCH && got < 0; k++)
                if (owner[k] < 0)
                    got = (int)k;
            if (got < 0) {
                snprintf(err, errlen, "regalloc: more than %d values live at IR instruction %zu (the Pixel has 8 scratch registers)",
                         PIXEL_NSCRATCH, i);
                rc = -1;
                break;
            }
            owner[got] = (int16_t)w;
            phys[w] = (int16_t)(PIXEL_REG_SCRATCH0 + got);
        }
        uint16_t *f[3] = { &s->rd, &s->a, &s->b };
        for (unsigned t = 0; t < 3; t++) {
            if (*f[t] == SIR_NONE || *f[t] < SIR_VREG0)
                continue;
            if (phys[*f[t]] < 0) {
                snprintf(err, errlen, "regalloc: virtual register v%u read before written at %zu",
                         *f[t], i);
                rc = -1;
                break;
            }
            *f[t] = (uint16_t)phys[*f[t]];
        }
        /* a result nobody reads frees its register at once */
        if (w != SIR_NONE && w >= SIR_VREG0 && last[w] <= (int32_t)i)
            for (unsigned k = 0; k < PIXEL_NSCRATCH; k++)
                if (owner[k] == (int16_t)w)
                    owner[k] = -1;
    }
    free(last);
    free(phys);
    return rc;
}

int sir_encode(const struct sir_prog *p, struct pixel_insn *out, size_t max, char *err, size_t errlen)
{
    if (p->n > max) {
        snprintf(err, errlen, "encode: %zu instructions exceed the buffer of %zu", p->n, max);
        return -1;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct sir *s = &p->v[i];
        struct pixel_insn x = { s->op, 0, 0, 0 };
        int form = pixel_op_form(s->op);
        uint16_t regs[3] = { s->rd, s->a, s->b };
        for (unsigned t = 0; t < 3; t++) {
            if (regs[t] != SIR_NONE && regs[t] >= PIXEL_NREGS) {
                snprintf(err, errlen, "encode: instruction %zu uses unallocated register v%u", i, regs[t]);
                return -1;
            }
        }
#define R(x) ((uint8_t)((x) == SIR_NONE ? 0 : (x)))
        switch (form) {
        case PXF_RR: x.rd = R(s->rd); x.rs1 = R(s->a); break;
        case PXF_RRR: x.rd = R(s->rd); x.rs1 = R(s->a); x.rs2 = R(s->b); break;
        case PXF_RRU6: case PXF_RRS8: case PXF_RRU8:
            x.rd = R(s->rd); x.rs1 = R(s->a); x.rs2 = (uint8_t)(s->imm & 0xff); break;
        case PXF_RS16: case PXF_RU16:
            x.rd = R(s->rd); x.rs1 = (uint8_t)(s->imm & 0xff); x.rs2 = (uint8_t)((s->imm >> 8) & 0xff); break;
        case PXF_LOAD: x.rd = R(s->rd); x.rs1 = R(s->a); break;
        case PXF_STORE: x.rs1 = R(s->a); x.rs2 = R(s->b); break;
        default: break;
        }
#undef R
        char e[128];
        if (!pixel_insn_valid(x, e, sizeof e)) {
            snprintf(err, errlen, "encode: instruction %zu: %s", i, e);
            return -1;
        }
        out[i] = x;
    }
    return (int)p->n;
}
