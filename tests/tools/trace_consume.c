/* trace_consume — drain a tracer queue and print what came through.
 *
 *   trace_consume QUEUE [--capacity BYTES] [--idle-ms MS] [--lag] [--raw] [--top N] [--pc ADDR]...
 *
 * Creates the queue when missing (so it can attach before QEMU starts),
 * consumes until TRACE_END, end of stream or MS of silence (default 60000),
 * and prints key=value lines: records per type, bytes, exec entries,
 * instructions executed (from the exec stream), the TRACE_END totals, latency
 * percentiles (--lag: needs the plugin's time=monotonic; lag = push to pop,
 * behind = the record's last entry to pop), and the execution
 * count of every --pc address, and the N hottest TBs (--top N).  Instruction
 * records: records_insn (literal TRACE_INSN), records_insns (compact
 * TRACE_INSNS, each expanded into TRACE_INSN views) and insn_views (the
 * instructions either way).  --raw counts TRACE_SAMPLE and TRACE_INSN records
 * by tag without decoding them, and TRACE_INSNS without expanding them.  Used by bench/bench_tracer.sh and by hand. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"
#include "shmq.h"
#include "../../stages/tracer/trace_reader.h"

int main(int argc, char **argv)
{
    log_set_ident("trace_consume", -1);
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: trace_consume QUEUE [--capacity BYTES] [--idle-ms MS] [--lag] [--raw] [--top N] [--pc ADDR]...\n");
        return argc < 2 ? 2 : 0;
    }
    uint64_t capacity = 16u << 20, pcs[16];
    int npcs = 0, idle_ms = 60000;
    bool lag = false;
    int top = 0;
    bool raw = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--capacity") && i + 1 < argc) capacity = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc) idle_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lag")) lag = true;
        else if (!strcmp(argv[i], "--raw")) raw = true;
        else if (!strcmp(argv[i], "--top") && i + 1 < argc) top = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pc") && i + 1 < argc && npcs < 16) pcs[npcs++] = strtoull(argv[++i], NULL, 0);
        else { fprintf(stderr, "trace_consume: unknown argument '%s'\n", argv[i]); return 2; }
    }
    struct trace_reader r;
    if (trace_reader_open(&r, argv[1], capacity) < 0) return 1;
    r.measure_lag = lag;
    r.raw = raw;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = trace_reader_run(&r, idle_ms, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("records_tb=%" PRIu64 "\nrecords_exec=%" PRIu64 "\nrecords_sample=%" PRIu64 "\nrecords_insn=%" PRIu64
           "\nrecords_insns=%" PRIu64 "\ninsn_views=%" PRIu64 "\nbad_insns=%" PRIu64
           "\nrecords_end=%" PRIu64 "\nbad_records=%" PRIu64 "\nbytes=%" PRIu64 "\nexec_entries=%" PRIu64
           "\ninsns_from_exec=%" PRIu64 "\nunknown_tb_ids=%" PRIu64 "\nconsume_s=%.3f\nspan_us=%" PRIu64 "\n",
           r.records[1], r.records[2], r.records[3], r.records[4], r.records[REC_TRACE_INSNS], r.insn_views,
           r.bad_insns, r.records[5], r.bad_records, r.bytes,
           r.exec_entries, r.insns_executed, r.unknown_tb_ids, secs,
           r.last_ts_us - r.first_ts_us);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("cpu_s=%.2f\n", (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6);
    if (r.end_seen)
        printf("end_insns=%" PRIu64 "\nend_blocks=%" PRIu64 "\nend_tbs=%" PRIu64 "\nend_samples=%" PRIu64
               "\nend_dropped=%" PRIu64 "\nend_time_us=%" PRIu64 "\nend_reason=%s\n",
               r.end.insns, r.end.blocks, r.end.tbs, r.end.samples, r.end.dropped, r.end.time_us, r.end_reason);
    printf("ts_after_sent=%" PRIu64 "\n", r.ts_after_sent);
    uint64_t late, overrun;
    shmq_late_wakeups(r.q, &late, &overrun);
    printf("late_wakeups=%" PRIu64 "\nlate_wakeup_max_us=%" PRIu64 "\n", late, overrun);
    if (lag)
        printf("lag_n=%zu\nlag_p50_us=%" PRIu64 "\nlag_p99_us=%" PRIu64 "\nlag_max_us=%" PRIu64 "\nbehind_p50_us=%" PRIu64
               "\nbehind_p99_us=%" PRIu64 "\nlag_over_1ms=%" PRIu64 "\nlag_over_1ms_after_idle=%" PRIu64
               "\nlag_over_1ms_busy=%" PRIu64 "\n",
               r.lag.n, trace_latency_pct(&r.lag, 50), trace_latency_pct(&r.lag, 99), trace_latency_pct(&r.lag, 100),
               trace_latency_pct(&r.behind, 50), trace_latency_pct(&r.behind, 99), r.lag_over_1ms,
               r.lag_over_1ms_after_idle, r.lag_over_1ms_busy);
    for (int i = 0; i < npcs; i++) printf("execs_at_0x%" PRIx64 "=%" PRIu64 "\n", pcs[i], trace_reader_execs_at(&r, pcs[i]));
    for (int k = 0; k < top; k++) {        /* the k-th hottest TB by executions */
        uint32_t best = 0;
        for (uint32_t i = 1; i < r.tbs_cap; i++)
            if (r.tbs[i].seen && r.tbs[i].execs > (best ? r.tbs[best].execs : 0)) best = i;
        if (!best) break;
        printf("top%d tb=%u pc=0x%" PRIx64 " mode=%u cpl=%u ninsns=%u execs=%" PRIu64 "\n", k + 1, best,
               r.tbs[best].pc, r.tbs[best].cpu_mode, r.tbs[best].cpl, r.tbs[best].ninsns, r.tbs[best].execs);
        r.tbs[best].execs = 0;
    }
    trace_reader_close(&r);
    return rc == 0 ? 0 : 1;
}
