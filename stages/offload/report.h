/* report.h — the run report: report.json and a self-contained report.html.
 *
 * The offload stage fills a struct report_input from what it gathered (the
 * workload summaries of TRACE_END, the hot blocks and templates, replay and
 * coverage counts, synthesis and verification statistics, QEMU-only reasons,
 * per-block speedups, the CFG pictures cfg drew) and calls report_write.
 * The HTML has no external reference (no script, no stylesheet, no image
 * file): tables, and inline SVG for the speedup chart and the CFGs, so it
 * can be mailed or archived as one file.  report.json carries the same data
 * for programs.  Both are written atomically (temp file + rename).
 *
 * Every pointer in the input is borrowed; NULL strings print as "".
 */
#ifndef TCGL_OFFLOAD_REPORT_H
#define TCGL_OFFLOAD_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "library.h"

struct report_workload {
    const char *name;
    uint64_t insns, blocks, tbs, samples, dropped, time_us;
    const char *end_reason;          /* TRACE_END reason */
};

/* Status of a hot block in this run. */
enum report_block_status {
    REPORT_BLOCK_OFFLOADED,          /* verified microcode, replayed */
    REPORT_BLOCK_QEMU_ONLY,          /* marked QEMU-only */
    REPORT_BLOCK_PENDING,            /* not (yet) synthesized or verified */
    REPORT_BLOCK_FAILED,             /* refuted, timeout, unknown */
};

/* Speedups are QEMU-TCG time / executor time on the same block and states;
 * 0 means not measured. */
struct report_block {
    uint64_t pc;
    const char *workload;
    const char *cls;                 /* block class name (cfg_class_name) */
    uint32_t ninsns;
    uint64_t exec_count;
    const char *template_key;        /* hex; may be NULL */
    enum report_block_status status;
    double speedup_batched, speedup_interp, speedup_cuda, speedup_native;
    double speedup_cuda_kernel;      /* CUDA kernel alone (speedup_cuda includes host<->device copies) */
    uint64_t replay_checked, replay_agreed;
    /* the GPU run (0: none): states timed, block executions per second with
     * and without transfers, states checked bit for bit against the interpreter */
    uint64_t gpu_states, gpu_checked;
    double gpu_states_per_s, gpu_kernel_states_per_s;
};

struct report_template {
    const char *key;
    uint32_t ninsns;
    uint32_t instances;              /* blocks of this run with the template */
    uint64_t exec_count;
    const char *method;              /* library_method_name, or "" */
    uint32_t cost, baseline_cost;
    const char *status;              /* "verified", "qemu_only", "pending", ... */
    const char *disasm;              /* one line per instruction, may be NULL */
};

struct report_coverage {
    uint64_t user_insns;             /* traced user-mode instructions */
    uint64_t user_insns_offloaded;   /* of those, in blocks with verified microcode */
    uint64_t replay_checked, replay_agreed;   /* sampled states replayed / agreeing */
    uint64_t fallback_events;        /* QEMU-only blocks met (each logged once) */
};

struct report_pipeline {
    uint64_t jobs, lib_hits, lib_qemu_only, baseline, optimized, qemu_only, synth_timeouts;
    uint64_t synth_median_us, synth_p95_us;
    uint64_t cost_before, cost_after;           /* summed over optimized templates */
    uint64_t proved, refuted, unknown, timeouts;
    uint64_t tests_unicorn, tests_native, tests_failed;
};

struct report_qemu_reason {
    const char *reason;
    const char *mnemonic;
    uint64_t templates;              /* distinct templates */
    uint64_t exec_count;             /* dynamic executions of their blocks (or instances) */
};

struct report_picture {
    const char *title;
    const char *svg;                 /* an <svg> document; anything else is shown as a note */
};

struct report_input {
    const char *title;               /* e.g. the pipeline name */
    const char *run_id;
    time_t generated;                /* 0: now */
    const char *library_dir;
    const struct report_workload *workloads; size_t nworkloads;
    const struct report_block *blocks; size_t nblocks;
    const struct report_template *templates; size_t ntemplates;
    struct report_coverage coverage;
    struct report_pipeline pipeline;
    const struct report_qemu_reason *reasons; size_t nreasons;
    const struct report_picture *pictures; size_t npictures;
    size_t max_rows;                 /* rows per table and bars in the chart; 0: 50 */
    /* GPU: NULL/"" when the CUDA executor ran (gpu_device names it); else why
     * not, e.g. "no GPU", shown in the CUDA columns instead of a figure */
    const char *gpu_note;
    const char *gpu_device;
};

/* The report as JSON (malloc'd text) and as HTML (malloc'd text); NULL on
 * allocation failure. */
char *report_json(const struct report_input *in);
char *report_html(const struct report_input *in);

/* The per-block speedup chart alone (an <svg> element; malloc'd). */
char *report_speedup_svg(const struct report_block *blocks, size_t n, size_t max_bars);

/* Write DIR/report.json and DIR/report.html (DIR created 0755 if absent).
 * Returns 0, or -1 with a logged message naming the file. */
int report_write(const struct report_input *in, const char *dir);

/* QEMU-only reasons from a library's markers, grouped by (reason, mnemonic),
 * ranked by instances then templates, most first.  *out is malloc'd; its
 * strings are owned by it and freed by report_reasons_free.  Returns the
 * count or -1. */
int report_reasons_from_library(struct library *lib, struct report_qemu_reason **out);
void report_reasons_free(struct report_qemu_reason *r, size_t n);

/* Sort reasons in place, most frequent first (exec_count, then templates). */
void report_rank_reasons(struct report_qemu_reason *r, size_t n);

const char *report_block_status_name(enum report_block_status s);

#endif /* TCGL_OFFLOAD_REPORT_H */
