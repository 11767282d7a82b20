/* test_pixel_gen.h — random Pixel programs and states shared by the
 * test_pixel_* programs (header only: static functions). */
#ifndef TEST_PIXEL_GEN_H
#define TEST_PIXEL_GEN_H

#include <stdint.h>
#include <string.h>

#include "pixel_batch.h"
#include "pixel_isa.h"

/* Two guest regions every generated state has. */
#define GEN_R0_SIZE 64u
#define GEN_R1_SIZE 32u
/* Registers holding addresses (never written by generated ALU code). */
#define GEN_ADDR_REG0 28

static uint64_t gen_rng = 0x9e3779b97f4a7c15ull;

__attribute__((unused)) static uint64_t gen_next(void)
{
    /* splitmix64: deterministic, so a failure reproduces */
    uint64_t z = (gen_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__attribute__((unused)) static uint64_t gen_edge(void)
{
    static const uint64_t e[] = {
        0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 65, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000,
        0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
        0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
        0xfffffffffffffffeull, 0x8000000000000001ull, 0x00000000ffffff80ull,
    };
    return e[gen_next() % (sizeof e / sizeof e[0])];
}

__attribute__((unused)) static uint64_t gen_value(void)
{
    switch (gen_next() % 4) {
    case 0: return gen_edge();
    case 1: return gen_next() & 0xff;
    default: return gen_next();
    }
}

/* A valid instruction of opcode `op` at index pc of an n-instruction
 * program; rd avoids the address registers. */
__attribute__((unused)) static struct pixel_insn gen_insn(uint8_t op, uint32_t pc, uint32_t n)
{
    const struct pixel_opinfo *o = pixel_opinfo(op);
    struct pixel_insn i = { op, 0, 0, 0 };
    uint8_t rd = (uint8_t)(gen_next() % GEN_ADDR_REG0);
    uint8_t r1 = (uint8_t)(gen_next() % 32), r2 = (uint8_t)(gen_next() % 32);
    uint8_t addr = (uint8_t)(gen_next() % 8 ? GEN_ADDR_REG0 + gen_next() % 4 : gen_next() % 32);
    uint16_t imm = (uint16_t)gen_value();
    uint32_t target = (uint32_t)(gen_next() % (n + 1));
    uint16_t off = (uint16_t)(int16_t)((int32_t)target - (int32_t)pc - 1);
    switch ((enum pixel_form)o->form) {
    case PXF_NONE: break;
    case PXF_RR: i.rd = rd; i.rs1 = r1; break;
    case PXF_RRR: i.rd = rd; i.rs1 = r1; i.rs2 = r2; break;
    case PXF_RRU6: i.rd = rd; i.rs1 = r1; i.rs2 = (uint8_t)(gen_next() % 64); break;
    case PXF_RRS8: case PXF_RRU8: i.rd = rd; i.rs1 = r1; i.rs2 = (uint8_t)gen_value(); break;
    case PXF_RS16: case PXF_RU16: i.rd = rd; i.rs1 = (uint8_t)imm; i.rs2 = (uint8_t)(imm >> 8); break;
    case PXF_LOAD: i.rd = rd; i.rs1 = addr; break;
    case PXF_STORE: i.rs1 = addr; i.rs2 = r2; break;
    case PXF_J: i.rs1 = (uint8_t)off; i.rs2 = (uint8_t)(off >> 8); break;
    case PXF_RJ: i.rd = r1; i.rs1 = (uint8_t)off; i.rs2 = (uint8_t)(off >> 8); break;
    default: break;
    }
    return i;
}

/* A random defined opcode; control flow only when allowed. */
__attribute__((unused)) static uint8_t gen_opcode(int control)
{
    for (;;) {
        uint8_t op = (uint8_t)gen_next();
        const struct pixel_opinfo *o = pixel_opinfo(op);
        if (!o->name)
            continue;
        if (!control && (op == PX_JUMP || op == PX_JZ || op == PX_JNZ || op == PX_CALL ||
                         op == PX_RET || op == PX_HALT))
            continue;
        return op;
    }
}

__attribute__((unused)) static uint32_t gen_prog(struct pixel_insn *p, uint32_t max, int control)
{
    uint32_t n = 1 + (uint32_t)(gen_next() % max);
    for (uint32_t k = 0; k < n; k++)
        p[k] = gen_insn(gen_opcode(control), k, n);
    return n;
}

/* Registers and the two regions of one state: address registers point in,
 * near or past the regions so that some accesses fault. */
__attribute__((unused)) static void gen_state(uint64_t r[PIXEL_NREGS], uint64_t base[2], uint8_t *bytes0, uint8_t *bytes1)
{
    for (unsigned k = 0; k < PIXEL_NREGS; k++)
        r[k] = gen_value();
    base[0] = 0x1000 + (gen_next() % 4) * 0x100;
    base[1] = 0x7ffffff0ull + (gen_next() % 2) * 0x1000;
    for (unsigned k = 0; k < 4; k++) {
        uint64_t b = base[k & 1], size = (k & 1) ? GEN_R1_SIZE : GEN_R0_SIZE;
        r[GEN_ADDR_REG0 + k] = b + gen_next() % (size + 4) - (gen_next() % 8 == 0 ? 2 : 0);
    }
    for (unsigned k = 0; k < GEN_R0_SIZE; k++)
        bytes0[k] = (uint8_t)gen_next();
    for (unsigned k = 0; k < GEN_R1_SIZE; k++)
        bytes1[k] = (uint8_t)gen_next();
}

#endif
