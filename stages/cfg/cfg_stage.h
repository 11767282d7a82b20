/* cfg_stage.h — the cfg stage's loop on top of the stage runtime
 * (common/stage.h): records in, BLOCK records out, and the crash safety of
 * the graph (cfg_checkpoint.h): a cfg killed at any moment and restarted by
 * pipectl continues with the same graph, and its downstream gets every BLOCK
 * record once.  docs/cfg.md "Crash safety". */
#ifndef TCGL_CFG_STAGE_H
#define TCGL_CFG_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "stage.h"

struct cfg_stage_options {
    struct cfg_options graph;
    uint64_t emit_min;          /* final emission: blocks executed at least this often */
    uint64_t emit_execs;        /* hot blocks go out each time the trace passes a multiple of this
                                 * many executions (or when 64 wait): points in the trace, not in
                                 * time, so the same input gives the same BLOCK records */
    uint32_t top;               /* blocks in cfg.json / cfg.dot */
    const char *out_dir;        /* CFG files */
    const char *ckpt_dir;       /* checkpoint directory; NULL: not crash-safe (commit per record) */
    uint64_t sync_bytes;        /* journal and commit after this much input (0: an eighth of the ring) */
    uint32_t sync_ms;           /* ... or after this long (default 50) */
    uint64_t compact_bytes;     /* snapshot when the journal exceeds max(this, 4 x the last snapshot) */
};

void cfg_stage_options_default(struct cfg_stage_options *o);
/* Runs the stage until its inputs end or it is stopped.  Returns the exit
 * status: 0, or 1 after logging why (a checkpoint it must not ignore, a
 * journal it cannot write, a failed input queue). */
int cfg_stage_run(struct stage *st, const struct cfg_stage_options *o);

#endif
