/* cfg_record.h — glue between the record codecs (common/records.h) and the
 * cfg library: one call per decoded input record, one encoder for BLOCK. */
#ifndef TCGL_CFG_RECORD_H
#define TCGL_CFG_RECORD_H

#include "cfg.h"
#include "records.h"

enum { CFG_CONSUMED = 0, CFG_IGNORED = 1, CFG_END = 2 };

/* Feed one decoded record.  Returns CFG_END for TRACE_END (the caller then
 * emits the final blocks and writes the outputs), CFG_IGNORED for a record
 * cfg does not use (counted), CFG_CONSUMED otherwise.  Bad content inside a
 * record is counted and logged by the cfg library, never fatal. */
int cfg_consume(struct cfg *g, const struct rec *r);

/* Append the BLOCK record of block b (counts, class, loops, liveness, up to
 * 64 most frequent successors, up to 64 samples) to out.  0 or -1 (err). */
int cfg_block_encode(const struct cfg *g, const struct cfg_block *b, struct rec_buf *out,
                     struct rec_error *err);

#endif
