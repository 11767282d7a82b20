/* pixel_gen.c — random Pixel programs and states (pixel_gen.h). */
#include "pixel_gen.h"

void pixel_gen_seed(struct pixel_gen *g, uint64_t seed) { g->s = seed ^ 0x9e3779b97f4a7c15ull; }

uint64_t pixel_gen_u64(struct pixel_gen *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t pixel_gen_edge(struct pixel_gen *g)
{
    static const uint64_t e[] = {
        0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 65, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000,
        0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
        0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
        0xfffffffffffffffeull, 0x8000000000000001ull, 0x00000000ffffff80ull,
    };
    return e[pixel_gen_u64(g) % (sizeof e / sizeof e[0])];
}

uint64_t pixel_gen_value(struct pixel_gen *g)
{
    switch (pixel_gen_u64(g) % 4) {
    case 0: return pixel_gen_edge(g);
    case 1: return pixel_gen_u64(g) & 0xff;
    default: return pixel_gen_u64(g);
    }
}

struct pixel_insn pixel_gen_insn(struct pixel_gen *g, uint8_t op, uint32_t pc, uint32_t n)
{
    struct pixel_insn i = { op, 0, 0, 0 };
    uint8_t rd = (uint8_t)(pixel_gen_u64(g) % PIXEL_GEN_COUNTER_REG);
    uint8_t r1 = (uint8_t)(pixel_gen_u64(g) % 32), r2 = (uint8_t)(pixel_gen_u64(g) % 32);
    uint8_t addr = (uint8_t)(pixel_gen_u64(g) % 8 ? PIXEL_GEN_ADDR_REG0 + pixel_gen_u64(g) % 4
                                                  : pixel_gen_u64(g) % 32);
    uint16_t imm = (uint16_t)pixel_gen_value(g);
    uint32_t target = (uint32_t)(pixel_gen_u64(g) % ((uint64_t)n + 1));
    uint16_t off = (uint16_t)(int16_t)((int32_t)target - (int32_t)pc - 1);
    switch (pixel_op_form(op)) {
    case PXF_NONE: break;
    case PXF_RR: i.rd = rd; i.rs1 = r1; break;
    case PXF_RRR: i.rd = rd; i.rs1 = r1; i.rs2 = r2; break;
    case PXF_RRU6: i.rd = rd; i.rs1 = r1; i.rs2 = (uint8_t)(pixel_gen_u64(g) % 64); break;
    case PXF_RRS8: case PXF_RRU8: i.rd = rd; i.rs1 = r1; i.rs2 = (uint8_t)pixel_gen_value(g); break;
    case PXF_RS16: case PXF_RU16: i.rd = rd; i.rs1 = (uint8_t)imm; i.rs2 = (uint8_t)(imm >> 8); break;
    case PXF_LOAD: i.rd = rd; i.rs1 = addr; break;
    case PXF_STORE: i.rs1 = addr; i.rs2 = r2; break;
    case PXF_J: i.rs1 = (uint8_t)off; i.rs2 = (uint8_t)(off >> 8); break;
    case PXF_RJ: i.rd = r1; i.rs1 = (uint8_t)off; i.rs2 = (uint8_t)(off >> 8); break;
    default: break;
    }
    return i;
}

static int is_control(uint8_t op)
{
    return op == PX_JUMP || op == PX_JZ || op == PX_JNZ || op == PX_CALL || op == PX_RET ||
           op == PX_HALT;
}

uint8_t pixel_gen_opcode(struct pixel_gen *g, int control)
{
    for (;;) {
        uint8_t op = (uint8_t)pixel_gen_u64(g);
        if (pixel_op_form(op) < 0 || (!control && is_control(op)))
            continue;
        return op;
    }
}

uint32_t pixel_gen_prog(struct pixel_gen *g, struct pixel_insn *p, uint32_t max, int control)
{
    uint32_t n = 1 + (uint32_t)(pixel_gen_u64(g) % max);
    for (uint32_t k = 0; k < n; k++)
        p[k] = pixel_gen_insn(g, pixel_gen_opcode(g, control), k, n);
    return n;
}

static struct pixel_insn mk(uint8_t op, uint8_t rd, uint8_t rs1, uint8_t rs2)
{
    struct pixel_insn i = { op, rd, rs1, rs2 };
    return i;
}

static struct pixel_insn mkj(uint8_t op, uint8_t rd, int off)
{
    uint16_t u = (uint16_t)(int16_t)off;
    return mk(op, rd, (uint8_t)u, (uint8_t)(u >> 8));
}

uint32_t pixel_gen_allops(struct pixel_gen *g, struct pixel_insn *p, uint32_t max)
{
    uint32_t n = 0;
    if (max < 128)
        return 0;
    /* R27 counts a loop of 3 rounds over the body; the body calls a
     * subroutine at the end and branches forward both ways. */
    p[n++] = mk(PX_LDI, 27, 3, 0);
    uint32_t body = n;
    for (int op = 0; op < 256; op++) {
        if (pixel_op_form((uint8_t)op) < 0 || is_control((uint8_t)op) || op == PX_NOP)
            continue;
        p[n] = pixel_gen_insn(g, (uint8_t)op, n, n + 1);
        int kind = pixel_op_kind((uint8_t)op);
        if (kind == PXK_LOAD || kind == PXK_STORE)   /* through R28/R29 only */
            p[n].rs1 = (uint8_t)(PIXEL_GEN_ADDR_REG0 + (op & 1));
        n++;
    }
    p[n++] = mk(PX_NOP, 0, 0, 0);
    p[n++] = mkj(PX_JZ, 1, 1);          /* skip one instruction when R1 == 0 */
    p[n++] = mk(PX_XOR, 2, 2, 3);
    p[n++] = mkj(PX_JNZ, 4, 1);         /* and when R4 != 0 */
    p[n++] = mk(PX_ADD, 5, 5, 6);
    p[n++] = mkj(PX_CALL, 0, 3);        /* to sub */
    p[n++] = mk(PX_ADDI, 27, 27, 0xff); /* R27 -= 1 */
    p[n] = mkj(PX_JNZ, 27, (int)body - (int)(n + 1));
    n++;
    p[n++] = mkj(PX_JUMP, 0, 2);        /* over sub, to the HALT */
    p[n++] = mk(PX_ROLI, 7, 7, 9);      /* sub: */
    p[n++] = mk(PX_RET, 0, 0, 0);
    p[n++] = mk(PX_HALT, 0, 0, 0);
    return n;
}

void pixel_gen_regs(struct pixel_gen *g, uint64_t r[PIXEL_NREGS], uint32_t nregions,
                    const uint32_t *sizes, uint64_t *bases)
{
    for (unsigned k = 0; k < PIXEL_NREGS; k++)
        r[k] = pixel_gen_value(g);
    for (uint32_t j = 0; j < nregions; j++)
        bases[j] = 0x10000ull * (1 + 2 * j) + (pixel_gen_u64(g) % 16) * 0x100 +
                   (j == 1 ? 0x7fff0000ull : 0);
    for (unsigned k = 0; k < 4 && nregions; k++) {
        uint32_t j = nregions > 1 ? (k & 1) : 0;
        r[PIXEL_GEN_ADDR_REG0 + k] = bases[j] + pixel_gen_u64(g) % ((uint64_t)sizes[j] + 4) -
                                     (pixel_gen_u64(g) % 8 == 0 ? 2 : 0);
    }
}
