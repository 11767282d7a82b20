/* trace_reader.h — a consumer of the tracer's queue that keeps what tests,
 * benchmarks and the trace_consume tool need: every TB (pc, mode, cpl,
 * instruction count) with its execution count from the TRACE_EXEC stream,
 * record/byte totals, the TRACE_END totals, consumer lag, and callbacks for
 * samples and instruction records.  Compact instruction records
 * (TRACE_INSNS) are expanded into the literal TRACE_INSN view
 * (tl_insns.h), so on_insn sees the same instructions whichever
 * insn_format the plugin used.
 *
 * It is a real shmq consumer: it peeks, handles, commits.  Opening creates
 * the queue when it does not exist yet, so the reader can attach before QEMU
 * starts (the plugin then opens the existing queue).
 */
#ifndef TCGL_TRACE_READER_H
#define TCGL_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "records.h"

struct shmq;
struct tl_insn_tb;

struct trace_tb_info {
    bool seen;            /* a TRACE_TB announced it */
    uint64_t pc;
    uint8_t cpu_mode, cpl;
    uint32_t ninsns;
    uint64_t execs;       /* occurrences in TRACE_EXEC */
    struct tl_insn_tb *code;   /* pc, bytes, disassembly per instruction (expanding TRACE_INSNS) */
};

/* Latency observations in µs, for percentiles. */
struct trace_latency {
    uint64_t *us;
    size_t n, cap;
};

struct trace_reader {
    struct shmq *q;
    struct trace_tb_info *tbs;   /* indexed by tb_id */
    uint32_t tbs_cap;
    uint64_t records[7];         /* by type tag 1..6 ([0]: other) */
    /* Instructions delivered as TRACE_INSN views: literal TRACE_INSN
     * records plus the instructions expanded from TRACE_INSNS. */
    uint64_t insn_views;
    uint64_t bad_insns;          /* TRACE_INSNS runs that could not be expanded (unknown TB, ...) */
    uint64_t bytes, exec_entries, insns_executed, bad_records, unknown_tb_ids;
    uint64_t first_ts_us, last_ts_us;   /* span of the traced timestamps (exec entries, insn records) */
    /* Timestamps that went backwards: an exec entry earlier than the one
     * before it on the same vCPU (within or across TRACE_EXEC records, vCPUs
     * 0..7), an insn record earlier than the previous insn record. */
    uint64_t ts_backwards;
    uint64_t exec_prev_ts[8], insn_prev_ts;
    bool end_seen;
    struct rec_trace_end end;
    char end_reason[64];
    /* Latency of TRACE_EXEC and TRACE_INSNS records (needs the plugin's
     * time=monotonic, so that its clock is the reader's): `lag` is pop time
     * - sent_us (push to pop); `behind` is pop time - the timestamp of the
     * record's last entry (how far the consumer is behind the guest's
     * execution: lag plus the batch's wait in the tracer). */
    bool measure_lag;
    /* Entries stamped later than their record's sent_us: the tracer's clock
     * ran ahead of real time (0 in a correct trace; any clock). */
    uint64_t ts_after_sent;
    /* Count TRACE_SAMPLE / TRACE_INSN records by their tag without decoding
     * them (measures the producer, not the decoder); one TRACE_INSN in 4096
     * is still decoded for the timestamp span.  TRACE_INSNS records are
     * decoded (their arrays are bins: no per-instruction work) but not
     * expanded: insn_views counts their instructions, on_insn is not called. */
    bool raw;
    struct trace_latency lag, behind;
    /* Records with a lag over 1 ms, and among them:
     *  - after_idle: the first pop after the consumer had found nothing for
     *    SHMQ_PATIENCE_IDLE_MS (it then sleeps until rung, so the lag
     *    includes a futex wake-up that shmq_late_wakeups does not see);
     *  - busy: pushed before the consumer had finished handling its
     *    previous batch (the record waited for the consumer's own work). */
    uint64_t lag_over_1ms, lag_over_1ms_after_idle, lag_over_1ms_busy;
    uint64_t pop_us;             /* trace_reader_run: when the batch being handled was popped */
    bool pop_after_idle;         /* ... after SHMQ_PATIENCE_IDLE_MS or more without a record */
    uint64_t prev_done_us;       /* ... when the batch before it was handled */
    /* Optional hooks (the decoded record is valid during the call). */
    void (*on_sample)(const struct rec_trace_sample *s, void *ctx);
    void (*on_insn)(const struct rec_trace_insn *i, void *ctx);
    void (*on_tb)(const struct rec_trace_tb *t, void *ctx);
    void *ctx;
};

/* Open (creating with `capacity` bytes when missing) `path` as consumer,
 * patient (SHMQ_TRACE_PATIENCE_US). 0 or -1 (message logged). */
int trace_reader_open(struct trace_reader *r, const char *path, uint64_t capacity);
/* Consume until TRACE_END / end of stream, `stop` becomes true, or nothing
 * arrives for idle_ms.  Returns 0 when the end was seen, 1 otherwise, -1 on a queue error. */
int trace_reader_run(struct trace_reader *r, int idle_ms, const volatile bool *stop);
/* Handle one encoded record (also usable without a queue). */
void trace_reader_handle(struct trace_reader *r, const void *data, size_t len, struct rec_arena *arena);
/* Percentile (0..100) of r->lag or r->behind in µs; 0 when none measured. */
uint64_t trace_latency_pct(struct trace_latency *l, double pct);
/* Total executions of TBs starting at pc. */
uint64_t trace_reader_execs_at(const struct trace_reader *r, uint64_t pc);
void trace_reader_close(struct trace_reader *r);

#endif /* TCGL_TRACE_READER_H */
