/* speedup.h — one offloaded block against QEMU TCG, on the same N states in
 * one run (docs/offload.md "Speedup").
 *
 * Executors, all over the same N states built from the block's samples
 * (memory rebuilt as verify does) and the same number of repetitions:
 *   qemu     a static-pie x86-64 harness generated for this block (C with
 *            the block body embedded as bytes, compiled with `gcc
 *            -static-pie` into the work directory), run under the static
 *            qemu-x86_64; it times itself with clock_gettime
 *            (CLOCK_THREAD_CPUTIME_ID: CPU time, robust on a shared
 *            machine; under QEMU it is the CPU time of QEMU's thread that
 *            translates and runs the guest).
 *   native   the same harness run on the host CPU — the ceiling.
 * Both harness runs happen only inside the sandbox (common/sandbox.h,
 * sandbox_exec): a child with no_new_privs, a seccomp allow-list installed
 * before execve (what qemu-user needs to start; no open after the
 * harness's ready marker, no socket, no process, no signal to another
 * process), rlimits (CPU, address space, file size, no core) and a
 * timeout; the native harness adds its own narrower filter (read, write,
 * ioctl, clock_gettime, exit) before the first guest instruction.  A run
 * the sandbox stops is reported naming the block and the system call, and
 * counted (speedup_result.sandbox_stops, sandbox_get_stats); the block gets
 * no figure and the caller goes on with the next.
 *   batched  pixel_exec_batch (one thread) on a pixel_batch of the states.
 *   interp   pixel_run per state.
 * One untimed pass per executor runs every state from its exact registers
 * and memory (the harness copies each state's memory in and out); its
 * outputs are the ones checked.  The timed passes then reload every state's
 * registers before each execution but leave memory as the previous pass
 * left it (restoring whole 4 KiB+ windows per state would time memcpy, not
 * the block): fine for straight-line code, whose time does not depend on
 * the values (a division could fault on changed values: such a run fails
 * and the block is reported as not measured).
 *
 * Only straight-line bodies are timed: a final jcc/jmp rel is left out of
 * the harness (it changes no GPR, flag or memory; rip is not compared); a
 * block ending in call/ret/indirect jumps, using rip-relative operands, or
 * containing an instruction outside the supported forms is not measured
 * (the reason is reported).  The harness outputs (live-out GPRs, live-out
 * status flags, region bytes) are compared with the interpreter's on every
 * state — the speedup of a block whose outputs differ is not reported.
 */
#ifndef TCGL_OFFLOAD_SPEEDUP_H
#define TCGL_OFFLOAD_SPEEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pixel_isa.h"
#include "records.h"

struct speedup_block {
    const char *name;                 /* file names in work_dir (key prefix) */
    const uint8_t *code;              /* canonical x86-64 bytes */
    size_t code_len;
    x86_locset live_in;               /* what the timed entry loads (checked against the full one) */
    x86_locset live_out;
    const struct pixel_insn *ops;     /* verified microcode */
    size_t nops;
    const struct rec_sample *samples; /* canonical samples (pre + memory accesses) */
    size_t nsamples;
};

struct speedup_options {
    const char *work_dir;             /* harness sources, binaries, state files */
    uint32_t nstates;                 /* 0: 1024 */
    uint32_t reps;                    /* passes over the states; 0: 64 */
    const char *qemu;                 /* NULL: /usr/bin/qemu-x86_64 */
    const char *cc;                   /* NULL: gcc */
    bool run_native;                  /* default true via speedup_options_default */
    unsigned timeout_s;               /* per harness run; 0: 60 */
    bool skip_form_check;             /* tests of the sandbox only: time bodies with instructions
                                       * outside the supported forms (syscall...) */
};

struct speedup_result {
    bool measured;                    /* all times below are valid */
    char why[256];                    /* when not measured, or a note */
    uint32_t nstates, reps;
    double qemu_s, native_s, batched_s, interp_s;   /* whole run: reps x nstates */
    double ratio_batched, ratio_interp, ratio_native; /* qemu_s / x_s; 0: not measured */
    uint64_t outputs_checked;         /* states compared (qemu and native) */
    uint64_t outputs_mismatched;
    char mismatch[200];               /* the first mismatch */
    /* hardware counters of the native run (perf_event_open) */
    bool perf_available;
    char perf_note[160];
    double cycles_per_exec, insns_per_exec;
    uint32_t x86_insns;               /* instructions of the timed body */
    uint32_t predicted_cost;          /* synth's cost model for the microcode */
    uint32_t sandbox_stops;           /* harness runs the sandbox stopped (forbidden system call,
                                       * timeout, kernel-side kill); why names the call */
};

void speedup_options_default(struct speedup_options *o);

/* Measures one block.  Returns 0 (r->measured says whether times exist),
 * -1 on an internal error (logged). */
int speedup_measure(const struct speedup_block *b, const struct speedup_options *o,
                    struct speedup_result *r);

/* The states speedup_measure runs (the block's samples rebuilt as verify
 * does, repeated cyclically up to nstates) as a Pixel batch, for the GPU
 * executor (gpu_run.h).  0; 1 when no sample can be built (why says so);
 * -1 out of memory.  *out is allocated on 0 (pixel_batch_free). */
struct pixel_batch;
int speedup_build_batch(const struct speedup_block *b, uint32_t nstates, struct pixel_batch *out, char *why,
                        size_t wl);

/* The harness's state file for the states of a Pixel batch (registers as
 * x86, regions as they are), in the format the harness reads. 0, or -1
 * (logged). */
int speedup_write_batch_states(const char *path, const struct pixel_batch *b);

/* Length of the timed body of code (a final jcc/jmp rel dropped); -1 with
 * why when the block cannot be timed (unsupported, rip-relative, control
 * transfer, empty). */
int speedup_body_len(const uint8_t *code, size_t len, size_t *body_len, char *why, size_t wl);

/* Runs argv (searched on PATH) with stdout and stderr into outlog, killed
 * after timeout_s; returns the exit status, 128+signal when killed, -1 or
 * 127 when it could not start. */
int speedup_run(char *const argv[], unsigned timeout_s, const char *outlog);

/* Writes the harness C source for a body (exposed for tests and docs). */
int speedup_write_harness(const char *path, const uint8_t *body, size_t body_len, x86_locset live_in,
                          x86_locset live_out);

#endif /* TCGL_OFFLOAD_SPEEDUP_H */
