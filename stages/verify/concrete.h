/* concrete.h — concrete differential testing of Pixel microcode against an
 * x86 block (docs/verification.md, "Concrete tests").
 *
 * Inputs: `nstates` generated states (state_gen.h: random and edge-biased,
 * deterministic from (seed, index)) plus every sampled state given.  Each
 * state runs in QEMU's TCG (oracle_unicorn), natively on the host CPU in the
 * sandboxed child (oracle_native) and, as microcode, in the Pixel batched
 * executor (pixel_exec_batch; bit-identical to the reference interpreter,
 * which runs the states whose memory layout differs from the batch's).  The
 * Pixel scratch registers R24..R31 get random values per state (the proof
 * treats them as free inputs too).
 *
 * Compared, bit for bit, per state and per oracle: every live-out GPR, every
 * live-out flag the block leaves defined in that state (vflags.h; an
 * undefined live flag must still be 0 or 1 in Pixel), the next rip, and every
 * byte of every memory region.  Faults: when x86 faults the microcode must
 * fault too, and vice versa; x86 memory faults (#PF/#GP) match Pixel MEM
 * faults and #DE matches Pixel DIV, any other pairing is a disagreement;
 * after a matching fault nothing else is compared (QEMU re-executes the
 * block).  An oracle that could not run a state (timeout, unmappable
 * address, unsupported form, crash) is not counted for it.  The two x86
 * oracles are also compared with each other on the same outputs: such a
 * disagreement is a model/oracle problem, counted and logged loudly.
 */
#ifndef TCGL_VERIFY_CONCRETE_H
#define TCGL_VERIFY_CONCRETE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pixel_isa.h"
#include "x86_state.h"

#define VCONC_DEFAULT_STATES 10000u
#define VCONC_DEFAULT_CHUNK  512u

struct vconc_opts {
    unsigned nstates;       /* generated states (0: none, only samples) */
    uint64_t seed;          /* state_gen stream */
    unsigned chunk;         /* states per oracle batch (0: default) */
    bool stop_on_fail;      /* stop after the batch holding the first failure */
    bool interp_only;       /* run Pixel in the reference interpreter only (for tests) */
};

void vconc_opts_default(struct vconc_opts *o);

/* One sampled state: registers at entry and the accesses of that execution. */
struct vconc_sample {
    const struct x86_regs *pre;
    const struct x86_mem_access *acc;
    size_t nacc;
};

struct vconc_result {
    uint32_t states;             /* states tried (generated + samples built) */
    uint32_t samples_run;        /* sampled states built and run */
    uint32_t samples_skipped;    /* sampled states whose memory could not be rebuilt */
    uint32_t tests_unicorn;      /* states where Pixel was compared with Unicorn */
    uint32_t tests_native;       /* ... with the native oracle */
    uint32_t failed;             /* states where Pixel disagreed with an oracle */
    uint32_t oracle_disagree;    /* states where Unicorn and native disagreed */
    uint32_t faulted;            /* states where x86 and Pixel faulted alike */
    uint32_t unicorn_not_run;    /* states Unicorn could not execute */
    uint32_t native_not_run;     /* states the native oracle could not execute */
    uint64_t us;                 /* wall time */
    uint64_t unicorn_us, native_us, pixel_us;
    char first_failure[1536];    /* the first failing state and what differs ("" when none) */
    char first_oracle_disagreement[1536];
};

struct vconc;

/* Starts both oracles (the native child process, one Unicorn engine), reused
 * by every vconc_run.  NULL on failure (logged). */
struct vconc *vconc_new(void);
void vconc_free(struct vconc *e);

/* Tests `prog` against `code` (64-bit x86, live-out set `live_out`).
 * Returns 0 (r filled; r->failed says the verdict), or -1 with err when the
 * block or the program cannot be tested at all (undecodable bytes, invalid
 * microcode, oracle failure). */
int vconc_run(struct vconc *e, const uint8_t *code, size_t len, x86_locset live_out,
              const struct pixel_insn *prog, size_t nprog, const struct vconc_sample *samples,
              size_t nsamples, const struct vconc_opts *o, struct vconc_result *r, char *err,
              size_t errlen);

#endif /* TCGL_VERIFY_CONCRETE_H */
