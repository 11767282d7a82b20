/* offload.h — the offload stage's logic (docs/offload.md).
 *
 * Input: VERDICT records from verify and SYNTH_JOB records with lib_hit from
 * cluster's `hits` port.  Per template (keyed by template_key):
 *   - a proved verdict whose concrete tests ran and all passed is stored with
 *     library_put_verified (provenance: proof, tests per oracle, synth/proof/
 *     test times, cost, instance count, first-seen workload);
 *   - a QEMU-only candidate (method 3) is stored with library_put_qemu_only;
 *   - refuted / unknown / timeout / not attempted / failed tests are logged
 *     and counted, never stored as verified;
 *   - proved microcode that disagrees with a replayed sample is not stored;
 *   - a library hit (cluster) is taken as verified microcode as it stands.
 * Verified microcode is replayed on the template's samples (replay.h); a
 * QEMU-only template is a fallback: logged once, never offloaded, never
 * retried — a later record for it only counts another fallback event.
 * At the end, offload_measure times the hottest verified templates against
 * QEMU TCG (speedup.h) and offload_write_report writes report.json/html.
 */
#ifndef TCGL_OFFLOAD_OFFLOAD_H
#define TCGL_OFFLOAD_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "library.h"
#include "records.h"
#include "gpu_run.h"
#include "report.h"
#include "speedup.h"

struct offload_options {
    const char *workload;             /* first-seen workload stored in entries; NULL: "default" */
    unsigned speed_blocks;            /* hottest verified templates timed; 0: none */
    struct speedup_options speed;     /* work_dir must be set when speed_blocks > 0 */
    struct gpu_options gpu;           /* the CUDA executor (gpu_run.h); work_dir: speed.work_dir */
};

/* One template as offload knows it. */
struct offload_tmpl {
    char key[LIBRARY_KEY_HEX_LEN + 1];
    uint8_t *code;
    size_t code_len;
    uint8_t cpu_mode, cls;
    uint32_t ninsns;
    char *disasm;                     /* one line per instruction (malloc'd) */
    x86_locset live_in, live_out;
    uint64_t exec_count;
    uint32_t ninstances;
    uint64_t first_pc;
    enum report_block_status status;
    struct pixel_insn *ops;           /* verified microcode (status OFFLOADED) */
    size_t nops;
    enum library_method method;
    enum library_proof proof;
    uint32_t cost, baseline_cost;
    uint32_t tests_unicorn, tests_native, tests_failed;
    uint64_t synth_us, proof_us, test_us;
    char reason[LIBRARY_TEXT_MAX], mnemonic[LIBRARY_NAME_MAX];
    bool fallback_logged;
    uint64_t fallback_events;
    uint64_t replay_checked, replay_agreed, replay_disagreed, replay_skipped;
    char replay_diff[200];            /* the first disagreement */
    struct rec_sample *samples;       /* deep copies */
    bool *sample_param;               /* sample i's instance has immediates other than the
                                         template's placeholders: not replayable */
    uint32_t nsamples;
    uint64_t replay_param_skips;
    bool timed;
    struct speedup_result speed;
    struct gpu_result gpu;            /* the CUDA executor on the same states (tiled) */
    double ratio_cuda, ratio_cuda_kernel;   /* QEMU time / CUDA time per execution; 0: none */
};

struct offload_stats {
    uint64_t records, bad_records, verdicts, hit_jobs, duplicates;
    uint64_t stored_verified, stored_qemu_only, store_errors;
    uint64_t proved, refuted, unknown, timeouts, not_attempted, tests_failed_rejects, untested_rejects;
    uint64_t lib_hits;
    uint64_t fallback_events, fallback_logged;
    uint64_t replay_checked, replay_agreed, replay_disagreed, replay_skipped, replay_rejects, replay_param_skips;
    uint64_t user_insns, user_insns_offloaded;
    uint64_t tests_unicorn, tests_native, tests_failed;
};

struct offload;

struct offload *offload_new(struct library *lib, const struct offload_options *o);
void offload_free(struct offload *off);

/* Decode one input record and handle it.  0 handled, -1 rejected (err says
 * why; counted in bad_records). */
int offload_handle_record(struct offload *off, const void *data, size_t len, char *err, size_t errlen);
int offload_handle_verdict(struct offload *off, const struct rec_verdict *v);
int offload_handle_job(struct offload *off, const struct rec_synth_job *j);

/* A QEMU-only template's block is about to run: returns true (it runs in
 * QEMU), logging the fallback once per template; false when the template
 * has verified microcode (or is unknown). */
bool offload_fallback(struct offload *off, const char *key);

/* Time the hottest verified templates (options.speed_blocks) and record
 * the ratios in the library.  Returns how many were measured. */
int offload_measure(struct offload *off);

/* Whether the CUDA executor ran, and why not (valid after offload_measure). */
const struct gpu_probe *offload_gpu_probe(const struct offload *off);

/* report.json + report.html into dir (CFG pictures: dir/ *.svg). */
int offload_write_report(struct offload *off, const char *dir, const char *title);

const struct offload_stats *offload_get_stats(const struct offload *off);
size_t offload_ntemplates(const struct offload *off);
const struct offload_tmpl *offload_template(const struct offload *off, size_t i);
const struct offload_tmpl *offload_find(const struct offload *off, const char *key);

#endif /* TCGL_OFFLOAD_OFFLOAD_H */
