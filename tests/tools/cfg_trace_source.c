/* cfg_trace_source — test stage: a tracer stand-in for the cfg and cluster
 * stage tests.  Emits, on its output port, the records of a known trace:
 *
 *   TRACE_TB 1 at 0x1000: add eax,ebx; dec ecx; jnz 0x1000   (the loop)
 *   TRACE_TB 2 at 0x1006: ret
 *   TRACE_EXEC: tb 1 ITERATIONS times (in records of at most 4096), then tb 2
 *   TRACE_SAMPLE of tb 1 (exec_seq 0, rcx = ITERATIONS)
 *   TRACE_END
 *
 *   cfg_trace_source [--iterations N]      (default 20000)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "records.h"
#include "stage.h"

static int emit(struct stage *st, struct rec_buf *b, const struct rec *r)
{
    struct rec_error err;
    rec_buf_reset(b);
    if (rec_encode(b, r, &err) < 0) {
        log_error("cfg_trace_source: %s", err.msg);
        return -1;
    }
    return stage_emit(st, 0, b->data, b->len) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    uint64_t iterations = 20000;
    static const struct option opts[] = { { "iterations", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
    for (int c; (c = getopt_long(argc, argv, "n:", opts, NULL)) != -1;) {
        if (c == 'n') iterations = strtoull(optarg, NULL, 10);
        else { fprintf(stderr, "usage: cfg_trace_source [--iterations N]\n"); return 2; }
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    struct rec_buf b;
    rec_buf_init(&b);
    struct rec r;
    static const uint8_t loop[] = { 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa }, loop_len[] = { 2, 2, 2 };
    static const uint8_t ret[] = { 0xc3 }, ret_len[] = { 1 };
    struct rec_str loop_dis[] = { rec_str_c("add eax, ebx"), rec_str_c("dec ecx"), rec_str_c("jnz 0x1000") };
    struct rec_str ret_dis[] = { rec_str_c("ret") };
    int rc = 0;

    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_TB;
    r.u.trace_tb = (struct rec_trace_tb){ .tb_id = 1, .pc = 0x1000, .cpu_mode = 64, .cpl = 3,
                                          .code = { loop, sizeof loop }, .insn_len = { loop_len, 3 },
                                          .disasm = { 3, loop_dis } };
    rc |= emit(&st, &b, &r);
    r.u.trace_tb = (struct rec_trace_tb){ .tb_id = 2, .pc = 0x1006, .cpu_mode = 64, .cpl = 3,
                                          .code = { ret, sizeof ret }, .insn_len = { ret_len, 1 },
                                          .disasm = { 1, ret_dis } };
    rc |= emit(&st, &b, &r);

    static uint8_t ids[4 * 4096];
    uint64_t left = iterations;
    while (!rc && left) {
        uint32_t n = left > 4096 ? 4096 : (uint32_t)left;
        for (uint32_t k = 0; k < n; k++) { ids[4 * k] = 1; ids[4 * k + 1] = ids[4 * k + 2] = ids[4 * k + 3] = 0; }
        memset(&r, 0, sizeof r);
        r.type = REC_TRACE_EXEC;
        r.u.trace_exec = (struct rec_trace_exec){ .vcpu = 0, .t0_us = iterations - left, .tb_ids = { ids, 4 * n } };
        rc |= emit(&st, &b, &r);
        left -= n;
    }
    ids[0] = 2; ids[1] = ids[2] = ids[3] = 0;
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_EXEC;
    r.u.trace_exec = (struct rec_trace_exec){ .vcpu = 0, .t0_us = iterations, .tb_ids = { ids, 4 } };
    if (!rc) rc |= emit(&st, &b, &r);

    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_SAMPLE;
    r.u.trace_sample.tb_id = 1;
    r.u.trace_sample.pc = 0x1000;
    r.u.trace_sample.pre.gpr[1] = iterations;
    r.u.trace_sample.pre.rip = 0x1000;
    r.u.trace_sample.next_pc = 0x1000;
    if (!rc) rc |= emit(&st, &b, &r);

    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_END;
    r.u.trace_end = (struct rec_trace_end){ .insns = 3 * iterations + 1, .blocks = iterations + 1, .tbs = 2,
                                            .samples = 1, .reason = rec_str_c("cfg_trace_source done") };
    if (!rc) rc |= emit(&st, &b, &r);
    rec_buf_free(&b);
    int cr = stage_close(&st);
    return rc ? 1 : cr;
}
