/* synth.h — the synth stage's logic: one template in, one candidate out.
 *
 * Per job (docs/synthesis.md):
 *   1. library lookup (a hit returns the cached microcode; a QEMU-only
 *      marker returns QEMU-only) — synthesis is skipped;
 *   2. decode; a block the model cannot express (unsupported instruction,
 *      non-64-bit mode, undecodable bytes) becomes QEMU-only with the reason
 *      and the mnemonic, logged for future ISA extension;
 *   3. baseline: table-driven lowering (lower.h) + constant folding, copy
 *      propagation, dead-code elimination against the live-out set,
 *      destination coalescing, register allocation onto R24..R31;
 *      in core-only mode the extension opcodes are first rewritten into the
 *      seeds' 20-opcode core (or the block is reported inexpressible);
 *   4. optimization (cegis.h) within the per-job budget: accepted only when
 *      proved equivalent by the full query AND strictly cheaper;
 *   5. an audit line (JSON) with the outcome and timings.
 * Proved results (the optimized candidate, and the baseline when
 * `prove_baseline` is set) can be stored in the library (`store_proved`).
 */
#ifndef TCGL_SYNTH_H
#define TCGL_SYNTH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "equiv.h"
#include "library.h"
#include "pixel_isa.h"
#include "x86_state.h"

#define SYNTH_MAX_OPS 1024

struct synth_options {
    unsigned budget_ms;        /* optimization time per job (default 200; 0 with optimize=false: none) */
    bool optimize;             /* run CEGIS (default true) */
    bool core_only;            /* restrict to opcodes < PIXEL_CORE_LIMIT */
    bool prove_baseline;       /* prove the baseline with the full query too (default false: verify does) */
    bool store_proved;         /* put proved microcode into the library (default false) */
    unsigned proof_timeout_ms; /* per equivalence query (default 5000) */
    uint64_t seed;             /* CEGIS test-input generator seed */
};

void synth_options_default(struct synth_options *o);

enum synth_outcome {
    SYNTH_HIT,           /* library hit */
    SYNTH_BASELINE,      /* baseline stands */
    SYNTH_OPTIMIZED,     /* a cheaper program was proved */
    SYNTH_QEMU_ONLY,     /* not expressible */
    SYNTH_ERROR,         /* the baseline failed to build (a bug; reported) */
};

struct synth_result {
    enum synth_outcome outcome;
    enum library_method method;          /* as in the CANDIDATE record */
    struct pixel_insn ops[SYNTH_MAX_OPS];
    size_t nops;
    uint32_t cost, baseline_cost;
    uint64_t synth_us, baseline_us, opt_us;
    bool opt_timed_out;                  /* the budget ran out before the search ended */
    unsigned cegis_iterations;           /* full queries made by CEGIS */
    enum equiv_status proof;             /* of the returned ops when synth proved them; else EQUIV_UNKNOWN */
    bool proved;                         /* synth itself proved the returned ops */
    char reason[256];                    /* QEMU-only / error */
    char mnemonic[32];
    char key[LIBRARY_KEY_HEX_LEN + 1];
};

struct synth_stats {
    uint64_t jobs, hits, baseline, optimized, qemu_only, errors, opt_timeouts;
    uint64_t cost_total, baseline_cost_total;   /* over non-hit, non-QEMU-only jobs */
};

struct synth;

/* lib may be NULL (no cache); audit may be NULL (no audit log). */
struct synth *synth_new(const struct synth_options *o, struct library *lib, FILE *audit);
void synth_free(struct synth *s);
const struct synth_options *synth_opts(const struct synth *s);
void synth_get_stats(const struct synth *s, struct synth_stats *st);

/* Synthesizes microcode for one template.  Never fails for bad input: an
 * inexpressible block is a QEMU-only result.  job_id is for the audit log. */
void synth_template(struct synth *s, uint64_t job_id, const uint8_t *code, size_t len,
                    uint8_t cpu_mode, x86_locset live_out, struct synth_result *r);

/* Pixel cost of a program under the documented cost model. */
uint32_t synth_cost(const struct pixel_insn *p, size_t n);
uint32_t synth_op_cost(uint8_t op);

/* The baseline alone (no library, no optimization): for tests and tools.
 * Returns the count, or -1 with err. */
int synth_baseline(const uint8_t *code, size_t len, x86_locset live_out, bool core_only,
                   struct pixel_insn *out, size_t max, char *err, size_t errlen);

const char *synth_outcome_name(enum synth_outcome o);

#endif /* TCGL_SYNTH_H */
