/* x86_rand_insn.h — random concrete instances of a supported x86 form
 * (x86_forms.h), encoded with Zydis: random registers of the form's widths,
 * immediates biased to the edges that matter (shift and rotate counts 0, 1,
 * width-1, width, width+1, ...; bit indexes; 8/16/32/64-bit values), and
 * every addressing mode (base, base + index*scale, disp 0/8/32 bits,
 * rip-relative).  One generator for the co-simulation against the host CPU
 * (test_x86_cosim), the synthesis tests and bench_synth; what differs
 * between them is a policy:
 *
 *   no_rsp             never rsp/esp/sp/spl as an operand, base or index: on
 *                      an executor (the native oracle, Unicorn) the stack
 *                      pointer is the executor's business;
 *   index_not_base     an index register differs from its base, so that
 *                      state_gen can place each address register on its own;
 *   riprel_own_region  rip-relative targets lie 64 KiB..96 KiB past the
 *                      code, 8-aligned (their own memory region on an
 *                      executor); otherwise within +-2 KiB of it (symbolic
 *                      memory does not care).
 *
 * Three more fields pin each user's instance set, so that the tests and
 * benchmarks draw exactly the instances they were validated and recorded
 * with (the synthesis tests prove their instances in one shared Z3 context,
 * where proof time depends on the set: a different set took one 2-5
 * instruction composition from 0.3 s to 10 s under ASan, half the proof
 * timeout):
 *
 *   all_byte_regs      byte registers: al..bh, bpl, sil, dil, r8b..r15b (and
 *                      spl unless no_rsp); else the 16 of al..bh, spl, bpl,
 *                      sil, dil, r8b, r9b, r12b, r15b;
 *   width_counts       shift/rotate counts: 0, 2, width-1, width, width+1 and
 *                      the byte/word/dword/qword edges, one draw in four any
 *                      byte; else the fixed edges 0, 1, 2, 7-9, 15-17, 31-33,
 *                      63, 64, 255;
 *   disp32_span        32-bit displacements in [-span/2, span/2); 0: any.
 *
 * Deterministic: the same seed state gives the same instances.
 */
#ifndef TCGL_X86_RAND_INSN_H
#define TCGL_X86_RAND_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x86_decode.h"

struct x86_rand_policy {
    bool no_rsp;
    bool index_not_base;
    bool riprel_own_region;
    bool all_byte_regs;
    bool width_counts;
    uint32_t disp32_span;
};

/* Policies of the two kinds of users. */
extern const struct x86_rand_policy x86_rand_symbolic;   /* synthesis tests, bench_synth: every register,
                                                          * rip-relative near the code */
extern const struct x86_rand_policy x86_rand_executable; /* co-simulation on the host CPU: the three
                                                          * restrictions */

/* splitmix64 step over *s (the state advances by X86_RAND_STEP per draw);
 * below: in [0, n). */
#define X86_RAND_STEP 0x9e3779b97f4a7c15ull
uint64_t x86_rand_next(uint64_t *s);
unsigned x86_rand_below(uint64_t *s, unsigned n);

/* One draw for form fi; false when Zydis refuses this combination (draw
 * again).  The result may decode to a different form (a shorter encoding). */
bool x86_rand_encode_try(unsigned fi, const struct x86_rand_policy *p, uint64_t *s, uint8_t *code, size_t *len);

/* A random instance of form fi that decodes back to exactly fi at `rip`
 * (up to 500 draws); code receives at most 15 bytes, *insn the decoding
 * (may be NULL).  false when none was found. */
bool x86_rand_instance(unsigned fi, const struct x86_rand_policy *p, uint64_t *s, uint64_t rip, uint8_t *code,
                       size_t *len, struct x86_insn *insn);

#endif /* TCGL_X86_RAND_INSN_H */
