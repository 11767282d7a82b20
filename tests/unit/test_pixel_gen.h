/* test_pixel_gen.h — the test_pixel_* programs' shorthand for the random
 * program and state generator of common/pixel_gen.h (one fixed seed, so a
 * failure reproduces). */
#ifndef TEST_PIXEL_GEN_H
#define TEST_PIXEL_GEN_H

#include <stdint.h>

#include "pixel_gen.h"

/* Two guest regions every generated state has. */
#define GEN_R0_SIZE 64u
#define GEN_R1_SIZE 32u

static struct pixel_gen gen_g = { 0x1234567890abcdefull };

__attribute__((unused)) static uint64_t gen_next(void) { return pixel_gen_u64(&gen_g); }
__attribute__((unused)) static uint64_t gen_value(void) { return pixel_gen_value(&gen_g); }
__attribute__((unused)) static struct pixel_insn gen_insn(uint8_t op, uint32_t pc, uint32_t n)
{
    return pixel_gen_insn(&gen_g, op, pc, n);
}
__attribute__((unused)) static uint32_t gen_prog(struct pixel_insn *p, uint32_t max, int control)
{
    return pixel_gen_prog(&gen_g, p, max, control);
}
/* Registers, the two region bases and their bytes. */
__attribute__((unused)) static void gen_state(uint64_t r[PIXEL_NREGS], uint64_t base[2],
                                              uint8_t *bytes0, uint8_t *bytes1)
{
    static const uint32_t sizes[2] = { GEN_R0_SIZE, GEN_R1_SIZE };
    pixel_gen_regs(&gen_g, r, 2, sizes, base);
    for (unsigned k = 0; k < GEN_R0_SIZE; k++)
        bytes0[k] = (uint8_t)pixel_gen_u64(&gen_g);
    for (unsigned k = 0; k < GEN_R1_SIZE; k++)
        bytes1[k] = (uint8_t)pixel_gen_u64(&gen_g);
}

#endif
