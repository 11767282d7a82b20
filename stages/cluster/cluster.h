/* cluster.h — the cluster stage's logic: hot-path ranking and filtering,
 * template clustering, library lookup, synthesis jobs.
 *
 * Input: BLOCK records from cfg (cluster_add_block), possibly repeated (cfg
 * emits a block when it becomes hot and again at the end of the trace; the
 * higher count wins, a changed extent replaces the old instance).  A record
 * is the same block as a known one when pc and mode match and one code is a
 * prefix of the other (cfg splits blocks, never changes bytes); other bytes
 * at the same pc are another program's block and kept apart.
 * A block is hot when its execution count reaches the threshold (default
 * 10,000).  Hot blocks of the system class (syscall, cpuid, rdtsc,
 * privileged, I/O) are filtered out (counted).  Each hot block is cut into
 * sub-patterns of at most `max_template_insns` instructions (a short block is
 * one sub-pattern), each canonicalized (canon.h) into a template named by the
 * microcode library's key (canonical bytes, cpu mode, canonical live-out,
 * ISA and semantics versions: library.h), and added as an instance (pc,
 * register binding, immediate parameters, execution count) to its template,
 * together with the block's sampled states renamed into canonical registers.
 *
 * Output: cluster_flush() emits a SYNTH_JOB for every template that has hot
 * instances and was not emitted yet (or gained instances since), simple
 * classes first (ALU, memory, control, FP/SIMD), then by execution count.
 * When a microcode library is open, the template is looked up first: a hit
 * sets lib_hit with the cached ops (synthesis is skipped downstream), a miss
 * leaves it to synth.  Hits and misses are counted.
 */
#ifndef TCGL_CLUSTER_H
#define TCGL_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "../cfg/pcmap.h"
#include "canon.h"
#include "library.h"
#include "records.h"

struct cluster_options {
    uint64_t threshold;            /* hot at this many executions (default 10000) */
    uint32_t max_template_insns;   /* longer blocks are cut into sub-patterns (default 16) */
    bool keep_system;              /* do not filter system-class blocks (default false) */
    struct canon_options canon;
};

struct cluster_sample {
    struct x86_regs pre, post;
    bool has_post;
    uint32_t nmem;
    struct x86_mem_access *mem;
};

struct cluster_instance {
    uint64_t pc;                   /* of the sub-pattern */
    uint32_t block;                /* index of its block */
    uint32_t tmpl;
    uint8_t binding[X86_NGPR];
    uint32_t nimm;
    uint64_t imm[CANON_MAX_IMMS];
    bool dead;                     /* replaced by a newer extent of its block */
};

struct cluster_template {
    char key[LIBRARY_KEY_HEX_LEN + 1];
    uint8_t *code;
    uint32_t len, ninsns;
    uint8_t mode, cls;
    x86_locset live_in, live_out;
    uint64_t exec_count;           /* summed over live instances */
    uint32_t *inst;
    uint32_t ninst, capinst, nlive;
    bool emitted;
    bool changed;                  /* gained an instance since it was last emitted */
    int lib;                       /* enum library_result of the last lookup (-2: none yet) */
};

struct cluster_block {
    uint64_t pc;
    uint8_t mode, cls;
    uint64_t exec_count;
    uint8_t *code;
    uint32_t len;
    bool hot, filtered, canon_failed;
    uint32_t first_inst, ninst;    /* its sub-pattern instances (contiguous) */
    uint32_t next_same_pc;         /* another block at the same pc with other code (another program) */
    /* samples kept until the block is hot (then they go to its templates) */
    struct cluster_sample sample[REC_MAX_SAMPLES];
    uint32_t nsample;
    x86_locset live_in, live_out;
};

struct cluster_counters {
    uint64_t blocks_in, blocks_distinct, blocks_hot, filtered_system, canon_failures, canon_fallbacks;
    uint64_t subpatterns, templates, jobs, lib_hits, lib_qemu_only, lib_misses, lib_errors;
    uint64_t bad_records;
};

struct cluster {
    struct cluster_options opt;
    struct library *lib;           /* may be NULL: no lookup, every job is a miss */
    struct cluster_block *block;
    uint32_t nblocks, capblocks;
    struct cluster_instance *inst;
    uint32_t ninst, capinst;
    struct cluster_template *tmpl;
    uint32_t ntmpl, captmpl;
    struct pcmap block_by_pc;      /* (pc, mode) -> first block at that pc (chained by next_same_pc) */
    struct pcmap tmpl_by_key;      /* (first 8 key bytes, 1) -> template */
    uint64_t next_job_id;
    struct cluster_counters n;
};

void cluster_options_default(struct cluster_options *o);
/* lib may be NULL (no library: lookups are skipped and counted as misses). */
bool cluster_init(struct cluster *c, const struct cluster_options *o, struct library *lib);
void cluster_free(struct cluster *c);

/* One BLOCK record.  Returns false for a record that is unusable (counted, logged). */
bool cluster_add_block(struct cluster *c, const struct rec_block *b);

/* Emit SYNTH_JOBs for the templates that are ready (see above), in priority
 * order.  `emit` gets each job record; returning false stops (the template
 * stays ready: at-least-once).  Returns the number emitted or -1. */
typedef bool (*cluster_emit_fn)(void *ctx, const struct rec_synth_job *job);
long cluster_flush(struct cluster *c, cluster_emit_fn emit, void *ctx);

/* Template indices in priority order (class, then exec count); caller frees. */
uint32_t *cluster_rank_templates(const struct cluster *c, uint32_t *n);

/* instances per template over the templates with hot instances (0 when none). */
double cluster_dedup_ratio(const struct cluster *c);

/* cluster.json in dir: hot blocks ranked, templates with instances, counters,
 * deduplication ratio. */
bool cluster_write_report(const struct cluster *c, const char *dir);

#endif
