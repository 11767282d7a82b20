/* replay.h — hybrid replay of one sampled block execution on Pixel microcode.
 *
 * A sample (SYNTH_JOB.samples, canonical registers, as cluster sends it) is
 * the registers at the block's entry, the memory accesses of that execution
 * in order, and (when the tracer had it) the registers at the entry of the
 * next block.  Replay rebuilds the input memory from the accesses (the same
 * rule verify uses: vsample_build), runs the verified microcode from the
 * pre-state with the reference interpreter, and compares with what QEMU
 * recorded:
 *   - every GPR in the template's live-out set, and the next rip when the
 *     live-out set holds X86_LOC_RIP, against the post state;
 *   - every recorded store that no later store overlaps: the bytes at its
 *     address after the microcode ran must be the stored value.
 * A sample without a post state is skipped: cluster sends none when the
 * block is only part of the sampled TB, and then the recorded accesses may
 * include those of the instructions after the block.
 *
 * Status flags are neither compared nor trusted as inputs.  The tracer reads
 * registers through QEMU's gdb register interface, which reports
 * env->eflags; while TCG code runs, QEMU keeps CF/PF/AF/ZF/SF/OF (and DF)
 * out of env->eflags (x86_cpu_exec_enter moves them into CC_SRC/CC_OP and
 * evaluates them lazily), so every recorded status bit reads 0.  A block
 * that reads a status flag (live-in) is therefore skipped, and flag outputs
 * are checked by verify against the two x86 oracles instead.
 */
#ifndef TCGL_OFFLOAD_REPLAY_H
#define TCGL_OFFLOAD_REPLAY_H

#include <stddef.h>

#include "pixel_isa.h"
#include "records.h"

enum replay_outcome {
    REPLAY_AGREE = 1,       /* every compared location matched */
    REPLAY_DISAGREE = 0,    /* some location differs (described in `why`) */
    REPLAY_SKIPPED = -1,    /* not replayable (memory not rebuildable, nothing to compare) */
};

/* Replays sample s of a template (code_len bytes of canonical x86) on the
 * microcode ops[0..n).  `why` receives the first difference, the fault, or
 * the reason for a skip.  live_in: the template's live-in set (a block that
 * reads status flags is skipped). */
enum replay_outcome replay_sample(const struct pixel_insn *ops, size_t n, x86_locset live_in,
                                  x86_locset live_out, size_t code_len,
                                  const struct rec_sample *s, char *why, size_t whylen);

#endif /* TCGL_OFFLOAD_REPLAY_H */
