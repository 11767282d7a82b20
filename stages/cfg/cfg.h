/* cfg.h — the cfg stage's logic: basic blocks, control-flow graph, execution
 * and edge counts, loops, block classes and liveness, built incrementally
 * from the tracer's records.
 *
 * Feeding (one call per record, in stream order):
 *     cfg_add_tb()      TRACE_TB: a translated block (code bytes, cpu mode)
 *     cfg_add_exec()    TRACE_EXEC: which TBs a vCPU executed, in order
 *     cfg_add_sample()  TRACE_SAMPLE: a state sample of one TB execution
 * Translated blocks (QEMU TBs) are split into true basic blocks: a block ends
 * at a control transfer or just before a leader (a TB start or a direct
 * branch target), including leaders discovered later, which split blocks
 * that already exist (their counts and edges are carried over exactly).
 * Execution counting costs a few array increments per executed block and
 * never allocates.
 *
 * Analysis (cfg_analyze(), run before reading loops, classes or liveness):
 * dominators (Cooper–Harvey–Kennedy) over the observed CFG, back edges whose
 * head dominates their tail, natural loops with nesting depth, and live-in /
 * live-out GPRs and status flags by backward dataflow.  Successors the trace
 * cannot have shown completely (indirect jumps and calls, returns, system
 * exits, branch directions never taken, fall-throughs never followed) make a
 * block's outputs conservatively live.
 */
#ifndef TCGL_CFG_H
#define TCGL_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "insn_info.h"
#include "pcmap.h"
#include "x86_state.h"

/* Block classes (the `class` field of BLOCK and SYNTH_JOB records).  A block
 * takes the first class that applies, in this order: system (any syscall,
 * cpuid, rdtsc, privileged or I/O instruction), FP/SIMD, memory (any memory
 * access, stack included), control (nothing but control transfers and nops),
 * simple ALU (register-only integer work). */
enum cfg_block_class {
    CFG_CLASS_ALU = 0,
    CFG_CLASS_MEM = 1,
    CFG_CLASS_CONTROL = 2,
    CFG_CLASS_FPSIMD = 3,
    CFG_CLASS_SYSTEM = 4,
    CFG_NCLASS
};
const char *cfg_class_name(unsigned cls);

#define CFG_NONE UINT32_MAX
#define CFG_MAX_SAMPLES 64          /* state samples kept per block (reservoir) */

struct cfg_edge {
    uint32_t to;                    /* block index */
    uint64_t count;
};

/* One state sample attached to a block: registers at block entry, the memory
 * accesses of that execution, and (when the sample covered exactly this
 * block) the registers at the entry of the next block. */
struct cfg_sample {
    uint64_t exec_seq;
    uint64_t next_pc;
    struct x86_regs pre;
    struct x86_regs post;
    bool has_post;
    uint32_t nmem;
    struct x86_mem_access *mem;
};

struct cfg_block {
    uint64_t pc, end;               /* [pc, end) */
    uint8_t mode;                   /* 16, 32, 64 */
    uint8_t cls;                    /* enum cfg_block_class (after cfg_analyze) */
    uint8_t kind;                   /* union of INSN_K_* of its instructions */
    uint8_t loop_depth;             /* natural loops containing it (after cfg_analyze) */
    uint16_t space;                 /* code space (see cfg_add_tb) */
    uint32_t ninsns;
    struct insn_info *insn;         /* ninsns entries */
    uint8_t *code;                  /* end - pc bytes */
    uint64_t exec_count;
    struct cfg_edge *succ;
    uint32_t nsucc, capsucc;
    uint32_t last_succ;             /* index into succ of the last edge taken (fast path) */
    uint32_t fall;                  /* block starting at `end` inside a TB chain, or CFG_NONE */
    /* analysis results */
    x86_locset use, kill;           /* upward-exposed uses, certain kills of the block */
    x86_locset def;                 /* everything it may write */
    x86_locset flags_undef_out;     /* flags whose last write in the block is undefined */
    x86_locset live_in, live_out;
    bool succ_unknown;              /* some successor may not have been observed */
    uint64_t loop_header;           /* pc of the innermost loop's header (0: none) */
    bool is_loop_header;
    uint32_t idom;                  /* immediate dominator (CFG_NONE for entries) */
    /* emission */
    bool hot_pending;               /* crossed the hot threshold, not yet emitted */
    bool emitted;
    /* samples */
    struct cfg_sample *sample;
    uint32_t nsample;
    uint64_t samples_seen;
};

struct cfg_tb {
    uint32_t tb_id;
    uint64_t pc, end;
    uint8_t mode;
    uint8_t cpl;
    uint32_t first;                 /* first block of the chain */
    uint64_t execs;
};

struct cfg_counters {
    uint64_t tbs, tbs_repeated, tbs_conflicting;
    uint64_t execs, exec_unknown_tb;
    uint64_t samples, samples_unknown;
    uint64_t undecodable_insns, len_mismatches;
    uint64_t splits;
    uint64_t bad_records;
    uint64_t code_spaces_opened;    /* TBs whose bytes disagreed with every known space */
};

/* Trace runs.  One tracer process sends one run: TRACE_TBs numbered 1, 2, 3...
 * in stream order, executions and samples, and a TRACE_END.  A tracer that is
 * restarted runs the workloads again from the start, so its records begin a
 * new run: cfg_consume (cfg_record.h) replaces the graph by an empty one when
 * a run begins (docs/cfg.md "Tracer restarts"). */
struct cfg_run {
    uint64_t runs;                  /* runs begun on this stream */
    uint64_t runs_discarded;        /* runs replaced before their TRACE_END (a tracer died) */
    uint64_t runs_replaced;         /* complete runs replaced by a later one */
    uint32_t max_tb_id;             /* highest tb_id of the current run */
    bool has_tb;                    /* the current run sent a TRACE_TB */
    bool ended;                     /* the current run's TRACE_END was consumed */
};

struct cfg_options {
    uint64_t hot_threshold;         /* a block becomes "hot" at this exec count (default 1000) */
};

struct cfg {
    struct cfg_options opt;
    struct cfg_block *block;
    uint32_t nblocks, capblocks;
    struct cfg_tb *tb;
    uint32_t ntbs, captbs;
    struct pcmap block_by_pc;       /* (start pc, tag) -> block */
    struct pcmap insn_owner;        /* (insn pc, tag) -> block containing it */
    struct pcmap leaders;           /* (pc, tag) -> 1: known block starts */
    uint32_t nspaces;               /* code spaces in use (tag = mode | space << 8) */
    struct pcmap tb_by_id;          /* (tb_id, 1) -> tb index, for large ids */
    uint32_t *tb_dense;             /* tb_id -> tb index for small ids (CFG_NONE: unknown) */
    uint32_t captb_dense;
    uint32_t *vcpu_last;            /* per vCPU: last block executed, or CFG_NONE */
    uint32_t *vcpu_first;           /* per vCPU: first block executed (a CFG entry) */
    uint32_t nvcpus;
    uint32_t *hot_queue;            /* blocks that crossed the threshold */
    uint32_t nhot, caphot;
    uint64_t rng;                   /* reservoir sampling (deterministic) */
    bool analyzed;
    struct cfg_counters n;
    struct cfg_run run;
};

void cfg_options_default(struct cfg_options *o);
bool cfg_init(struct cfg *g, const struct cfg_options *o);
void cfg_free(struct cfg *g);
/* An empty graph with the same options; the run tallies (g->run) are kept. */
bool cfg_reset(struct cfg *g);
/* Rebuilds the lookup maps (block_by_pc, insn_owner, TB ids) from the block
 * and TB tables: what reading a checkpoint image needs (cfg_image.h). */
bool cfg_rebuild_index(struct cfg *g);

/* TRACE_TB.  `insn_len` (one byte per instruction, may be NULL/0) is the
 * tracer's view of instruction boundaries; Zydis decodes, the tracer's lengths
 * are cross-checked and used to step over bytes Zydis cannot decode.
 * Code spaces: different programs (or self-modified code) can put different
 * bytes at the same guest address, and a TRACE_TB does not say which address
 * space it belongs to.  A TB joins the first code space whose known bytes at
 * its addresses agree with its own, or opens a new one, so blocks with
 * different contents are never merged.
 * Returns false on invalid input (bad mode, empty code): counted and logged. */
bool cfg_add_tb(struct cfg *g, uint32_t tb_id, uint64_t pc, uint8_t cpu_mode, uint8_t cpl,
                const uint8_t *code, uint32_t code_len, const uint8_t *insn_len, uint32_t ninsn);

/* TRACE_EXEC: tb_ids executed in order by `vcpu`. Unknown ids are counted
 * and break the edge chain (no edge is invented). */
void cfg_add_exec(struct cfg *g, uint16_t vcpu, const uint32_t *tb_ids, size_t n);

/* TRACE_SAMPLE.  `mem` may be NULL when nmem is 0; `post` may be NULL. */
bool cfg_add_sample(struct cfg *g, uint32_t tb_id, uint64_t pc, uint64_t exec_seq,
                    const struct x86_regs *pre, const struct x86_mem_access *mem, uint32_t nmem,
                    const struct x86_regs *post, uint64_t next_pc);

/* Block lookup by start address (the first code space that has one). */
struct cfg_block *cfg_block_at(struct cfg *g, uint64_t pc, uint8_t mode);
/* The same in one code space. */
struct cfg_block *cfg_block_at_space(struct cfg *g, uint64_t pc, uint8_t mode, uint16_t space);
/* Count of the edge from -> to (0 if never taken). */
uint64_t cfg_edge_count(const struct cfg *g, const struct cfg_block *from, const struct cfg_block *to);

/* Dominators, loops, classes, liveness.  Cheap enough to rerun whenever hot
 * blocks are about to be emitted (linear in blocks + edges, a few passes). */
bool cfg_analyze(struct cfg *g);
/* After cfg_analyze: does block h dominate block b (indices)?  An edge
 * t -> h is a back edge (h a loop header) exactly when h dominates t. */
bool cfg_dominates(const struct cfg *g, uint32_t h, uint32_t b);

/* Calls `emit` for every block that became hot since the last call (after
 * re-running the analysis), marking it emitted.  Returns the number emitted,
 * or -1 when `emit` failed (the block stays pending: at-least-once). */
typedef bool (*cfg_emit_fn)(void *ctx, const struct cfg *g, const struct cfg_block *b);
long cfg_emit_hot(struct cfg *g, cfg_emit_fn emit, void *ctx);

/* End of trace: analysis, then `emit` for every block executed at least
 * `min_count` times, hottest first (a block emitted before is emitted again
 * with its final counts; consumers keep the latest record per pc). */
long cfg_emit_final(struct cfg *g, uint64_t min_count, cfg_emit_fn emit, void *ctx);

/* Block indices sorted by execution count, descending (ties: lower pc
 * first).  Caller frees.  *n receives the count. */
uint32_t *cfg_rank_blocks(const struct cfg *g, uint32_t *n);

/* Writes cfg.json, cfg.dot and (when Graphviz' `dot` is on PATH) cfg.svg
 * into `dir`: the `top` hottest blocks with their edges and loops. */
bool cfg_write_outputs(struct cfg *g, const char *dir, uint32_t top);

#endif
