/* equiv.h — the equivalence query between an x86 block and Pixel microcode,
 * shared by synth (the CEGIS check) and verify (the proof).
 *
 * From ONE symbolic input state (the x86 model's inputs: 16 GPRs, rip, six
 * flags, memory as a byte array; plus DF and the eight Pixel scratch
 * registers, which are free), the x86 block is lifted (x86_sem.h) and the
 * microcode is executed symbolically (pixel_z3.h) under the guest-state
 * convention of pixel_state.h.  Then Z3 is asked whether some live, defined
 * output can differ.  The exact list of what counts as an output is in
 * docs/equivalence.md; in short:
 *
 *   - every GPR in live_out (written by the block or not: an unwritten live
 *     GPR must come out unchanged);
 *   - every flag in live_out, where the x86 model does not mark it
 *     undefined; the Pixel flag register must also hold 0 or 1 always;
 *   - the next rip (R22), always — it encodes the branch condition and
 *     target of a terminator;
 *   - the whole memory, always (byte-array equality: aliasing between the
 *     block's accesses is the array theory's business);
 *   - the microcode must not fault (DIV, STEPS, ...) and must access only
 *     bytes the x86 block accesses itself (so it cannot fault where x86
 *     would not).
 *
 * Result: PROVED (unsat), REFUTED (sat: a counterexample input state with
 * the differing outputs, printable), UNKNOWN or TIMEOUT, or ERROR (the
 * block or the program could not be encoded; msg says why).
 *
 * Reuse: an equiv_ctx owns one Z3 context; equiv_prepare lifts one block
 * once and equiv_check_prepared checks any number of candidate programs
 * against it (CEGIS).  The context is renewed every few dozen blocks to
 * bound Z3's memory.  Not thread-safe: one ctx per thread.
 */
#ifndef TCGL_EQUIV_H
#define TCGL_EQUIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pixel_isa.h"
#include "x86_decode.h"
#include "x86_state.h"

enum equiv_status {
    EQUIV_PROVED = 0,   /* no live output can differ (unsat) */
    EQUIV_REFUTED,      /* a counterexample exists (sat) */
    EQUIV_UNKNOWN,      /* Z3 gave up for another reason */
    EQUIV_TIMEOUT,      /* the per-query timeout elapsed */
    EQUIV_ERROR,        /* could not encode (unsupported block, invalid program) */
};

/* Output slots of a comparison: 0..15 GPRs, 16..21 flags CF..OF, 22 rip,
 * 23 memory, 24 the microcode faulted / left the block's bytes. */
#define EQUIV_OUT_FAULT 24
#define EQUIV_NOUT      25

#define EQUIV_CEX_MAX_BYTES 512

struct equiv_cex {
    /* input state */
    struct x86_regs in;              /* GPRs, rip, status flags and DF in rflags */
    uint64_t scratch[PIXEL_NSCRATCH];/* Pixel R24..R31 at entry (free inputs) */
    unsigned nbytes;                 /* memory bytes the block touches, with their input values */
    uint64_t addr[EQUIV_CEX_MAX_BYTES];
    uint8_t byte[EQUIV_CEX_MAX_BYTES];
    /* what differs: bit i = output slot i */
    uint32_t differs;
    uint64_t x86_out[EQUIV_NOUT];    /* expected value per differing slot (memory: the byte at mem_addr) */
    uint64_t px_out[EQUIV_NOUT];     /* the microcode's */
    uint64_t mem_addr;               /* a differing memory byte's address (slot 23) */
};

struct equiv_result {
    enum equiv_status status;
    uint64_t us;                     /* wall time of the query (lift + solve) */
    struct equiv_cex cex;            /* valid when REFUTED */
    char msg[256];                   /* ERROR / UNKNOWN reason */
};

struct equiv_opts {
    unsigned timeout_ms;             /* per query; 0: 10000 */
};

struct equiv_ctx;

struct equiv_ctx *equiv_ctx_new(void);
void equiv_ctx_free(struct equiv_ctx *q);

/* Lifts a decoded 64-bit block (every instruction supported) for the live-out
 * set.  Returns 0, or -1 with err (unsupported form, lift error). */
int equiv_prepare(struct equiv_ctx *q, const struct x86_insn *insns, size_t n,
                  x86_locset live_out, char *err, size_t errlen);

/* Checks microcode against the prepared block.  Returns res->status. */
enum equiv_status equiv_check_prepared(struct equiv_ctx *q, const struct pixel_insn *prog,
                                       size_t nprog, const struct equiv_opts *opts,
                                       struct equiv_result *res);

/* One-shot: a private context, prepare, check. */
enum equiv_status equiv_check(const struct x86_insn *insns, size_t n, x86_locset live_out,
                              const struct pixel_insn *prog, size_t nprog,
                              const struct equiv_opts *opts, struct equiv_result *res);

/* Convenience for callers holding raw bytes: decodes `code` (64-bit, at
 * address `pc`) and checks.  ERROR when decoding fails. */
enum equiv_status equiv_check_code(const uint8_t *code, size_t len, uint64_t pc,
                                   x86_locset live_out, const struct pixel_insn *prog,
                                   size_t nprog, const struct equiv_opts *opts,
                                   struct equiv_result *res);

/* Builds a concrete Pixel state from a counterexample input (the CEGIS test
 * inputs): registers per the convention, the scratch registers as in cex.
 * Memory is not included (see equiv_cex_mem). */
void equiv_cex_pixel_regs(const struct equiv_cex *cex, uint64_t r[PIXEL_NREGS]);

/* Name of output slot i ("rax", "cf", "rip", "mem", "fault"). */
const char *equiv_out_name(unsigned slot);
const char *equiv_status_name(enum equiv_status s);

/* Human-readable counterexample (input registers, memory bytes, differing
 * outputs x86 vs Pixel); returns the length needed, like snprintf. */
size_t equiv_cex_format(const struct equiv_cex *cex, char *buf, size_t len);

#endif /* TCGL_EQUIV_H */
