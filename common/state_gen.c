/* state_gen.c — random and edge-biased input states (state_gen.h). */
#include "state_gen.h"

#include <string.h>

#include <Zydis/Zydis.h>

#include "log.h"

#define PAGE 4096ull

uint64_t state_gen_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return state_gen_mix(r->s);
}

static uint64_t rng_below(struct rng *r, uint64_t n) { return n ? rng_next(r) % n : 0; }

static int gpr_of(ZydisRegister reg)
{
    ZydisRegister big = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg);
    if (big >= ZYDIS_REGISTER_RAX && big <= ZYDIS_REGISTER_R15)
        return (int)(big - ZYDIS_REGISTER_RAX);
    return -1;
}

int state_gen_analyze(const uint8_t *code, size_t len, struct state_gen_block *blk)
{
    ZydisDecoder dec;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    size_t off = 0;

    memset(blk, 0, sizeof *blk);
    blk->rip = STATE_GEN_CODE_BASE;
    blk->len = len;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    while (off < len) {
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code + off, len - off, &insn, ops))) {
            log_error("state_gen: block of %zu bytes does not decode at offset %zu (byte %#x)",
                      len, off, code[off]);
            return -1;
        }
        blk->ninsns++;
        for (unsigned i = 0; i < insn.operand_count; i++) {
            const ZydisDecodedOperand *op = &ops[i];
            if (op->type != ZYDIS_OPERAND_TYPE_MEMORY || op->mem.type != ZYDIS_MEMOP_TYPE_MEM)
                continue;
            if (blk->nmemops == STATE_GEN_MAX_MEMOPS)
                break;
            struct state_gen_memop *m = &blk->memop[blk->nmemops++];
            m->base = op->mem.base == ZYDIS_REGISTER_NONE ? -1
                    : op->mem.base == ZYDIS_REGISTER_RIP ? -2 : (int8_t)gpr_of(op->mem.base);
            m->index = op->mem.index == ZYDIS_REGISTER_NONE ? -1 : (int8_t)gpr_of(op->mem.index);
            m->scale = op->mem.scale ? op->mem.scale : 1;
            m->size = (uint8_t)(op->size / 8 ? op->size / 8 : 1);
            m->disp = op->mem.disp.value;
            m->rip_next = blk->rip + off + insn.length;
            if (m->base >= 0)
                blk->addr_regs |= (uint16_t)(1u << m->base);
            if (m->index >= 0)
                blk->addr_regs |= (uint16_t)(1u << m->index);
        }
        off += insn.length;
    }
    return 0;
}

/* One register value: edge cases for every width, counts, random. */
static uint64_t edge_value(struct rng *r)
{
    static const unsigned widths[4] = { 8, 16, 32, 64 };
    static const uint64_t counts[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255 };
    unsigned w = widths[rng_below(r, 4)];
    uint64_t mask = w == 64 ? ~0ull : (1ull << w) - 1;
    uint64_t sign = 1ull << (w - 1);
    switch (rng_below(r, 16)) {
    case 0:  return 0;
    case 1:  return 1;
    case 2:  return ~0ull;
    case 3:  return sign - 1;                    /* 0x7f, 0x7fff, ... */
    case 4:  return sign;                        /* 0x80, 0x8000, ... */
    case 5:  return mask;                        /* 0xff, 0xffff, ... */
    case 6:  return counts[rng_below(r, sizeof counts / sizeof counts[0])];
    case 7: {                                    /* edge in the low w bits under random upper bits */
        static const int pick[] = { 0, 1, 2, 3, 4 };
        uint64_t low = 0;
        switch (pick[rng_below(r, 5)]) {
        case 0: low = 0; break;
        case 1: low = 1; break;
        case 2: low = mask; break;
        case 3: low = sign - 1; break;
        case 4: low = sign; break;
        }
        return (rng_next(r) & ~mask) | low;
    }
    case 8:  return (uint64_t)-(int64_t)(1 + rng_below(r, 16));   /* small negatives */
    case 9:  return 1ull << rng_below(r, 64);
    case 10: return sign + 1;
    default: return rng_next(r);
    }
}

/* A region key: what register (or fixed address) a group of memory operands hangs on. */
struct key { int kind; int reg; uint64_t addr; };   /* kind 0 base reg, 1 index-only, 2 absolute/rip */

void state_gen_make(const struct state_gen_block *blk, uint64_t seed, uint64_t index,
                    struct x86_regs *regs, struct x86_mem *mem, struct state_gen_storage *storage)
{
    struct rng r = { state_gen_mix(seed ^ state_gen_mix(index + 0x5eed)) };

    memset(regs, 0, sizeof *regs);
    memset(mem, 0, sizeof *mem);
    for (int g = 0; g < X86_NGPR; g++)
        regs->gpr[g] = edge_value(&r);
    regs->rip = blk->rip;
    regs->rflags = 0x2;
    for (int f = 0; f < X86_NFLAG; f++)
        if (rng_next(&r) & 1)
            regs->rflags |= 1ull << x86_flag_rflags_bit((enum x86_flag)f);

    /* Index registers of memory operands: small values. */
    for (unsigned i = 0; i < blk->nmemops; i++)
        if (blk->memop[i].index >= 0)
            regs->gpr[blk->memop[i].index] = (uint64_t)((int64_t)rng_below(&r, 17) - 8);

    struct range_code { uint64_t start, end; } code = {
        blk->rip & ~(PAGE - 1), (blk->rip + blk->len + 64 + PAGE - 1) & ~(PAGE - 1) };
    struct key keys[X86_MEM_MAX_REGIONS];
    unsigned nkeys = 0;
    for (unsigned i = 0; i < blk->nmemops; i++) {
        const struct state_gen_memop *m = &blk->memop[i];
        struct key k = { 0, -1, 0 };
        if (m->base >= 0) {
            k.kind = 0; k.reg = m->base;
        } else if (m->index >= 0) {
            k.kind = 1; k.reg = m->index;
        } else {
            k.kind = 2;
            k.addr = (m->base == -2 ? m->rip_next + (uint64_t)m->disp : (uint64_t)m->disp) & ~(PAGE - 1);
        }
        bool seen = false;
        for (unsigned j = 0; j < nkeys; j++)
            if (keys[j].kind == k.kind && keys[j].reg == k.reg && keys[j].addr == k.addr)
                seen = true;
        if (seen || nkeys == X86_MEM_MAX_REGIONS)
            continue;
        if (k.kind == 2 && k.addr < code.end && code.start < k.addr + STATE_GEN_REGION_SIZE)
            continue;   /* would overlap the code: no region, the access faults in both oracles */
        unsigned slot = nkeys;
        keys[nkeys++] = k;
        struct x86_mem_region *reg = &mem->region[slot];
        reg->base = k.kind == 2 ? k.addr : STATE_GEN_ARENA_BASE + slot * STATE_GEN_REGION_STRIDE;
        reg->size = STATE_GEN_REGION_SIZE;
        reg->data = storage->bytes[slot];
        mem->nregions = nkeys;
        if (k.kind == 2)
            continue;
        /* Span of the displacements of every operand on this register. */
        int64_t dmin = m->disp, dmax = m->disp + m->size;
        for (unsigned j = i + 1; j < blk->nmemops; j++) {
            const struct state_gen_memop *o = &blk->memop[j];
            bool same = k.kind == 0 ? o->base == k.reg : (o->base == -1 && o->index == k.reg);
            if (!same)
                continue;
            if (o->disp < dmin) dmin = o->disp;
            if (o->disp + o->size > dmax) dmax = o->disp + o->size;
        }
        uint64_t span = (uint64_t)(dmax - dmin);
        uint64_t room = STATE_GEN_REGION_SIZE / 2 > span ? STATE_GEN_REGION_SIZE / 2 - span : 0;
        unsigned align = m->size >= 8 ? 8 : m->size >= 4 ? 4 : m->size >= 2 ? 2 : 1;
        /* lowest operand lands in [size/4, size/4 + room), naturally aligned */
        uint64_t target = reg->base + STATE_GEN_REGION_SIZE / 4 + (rng_below(&r, room + 1) & ~(uint64_t)(align - 1));
        if (k.kind == 0) {
            uint64_t idx = m->index >= 0 ? regs->gpr[m->index] * m->scale : 0;
            regs->gpr[k.reg] = target - (uint64_t)dmin - idx;
        } else {
            regs->gpr[k.reg] = (target - (uint64_t)dmin) / m->scale;
        }
    }
    /* Region contents: random bytes, one word in four an edge value. */
    for (unsigned k = 0; k < mem->nregions; k++) {
        uint8_t *d = mem->region[k].data;
        for (uint32_t o = 0; o < mem->region[k].size; o += 8) {
            uint64_t v = (rng_next(&r) & 3) == 0 ? edge_value(&r) : rng_next(&r);
            memcpy(d + o, &v, 8);
        }
    }
}
