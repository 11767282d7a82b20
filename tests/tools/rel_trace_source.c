/* rel_trace_source — test stage for the reliability tests: a deterministic
 * tracer stand-in with several distinct hot loops, emitted slowly enough
 * that a test can kill the downstream stages while it runs.
 *
 * Loop k (k = 0..LOOPS-1, at most 8) lives at pc 0x10000 * (k + 1):
 *     OP_k eax, ebx ; dec ecx ; jnz <pc>
 * with OP_k = add, sub, xor, and, or, adc, sbb, imul (distinct templates).
 * For each loop: its TRACE_TB, then ITERATIONS executions in TRACE_EXEC
 * records of at most 1024 ids (a sleep of DELAY_MS after each record), then
 * one TRACE_SAMPLE.  A TRACE_END closes the trace.
 *
 *   rel_trace_source [--loops N] [--iterations N] [--delay-ms N]
 *                    (defaults 6, 20000, 0)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "records.h"
#include "stage.h"

static int emit(struct stage *st, struct rec_buf *b, const struct rec *r)
{
    struct rec_error err;
    rec_buf_reset(b);
    if (rec_encode(b, r, &err) < 0) {
        log_error("rel_trace_source: %s", err.msg);
        return -1;
    }
    return stage_emit(st, 0, b->data, b->len) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned loops = 6, delay_ms = 0;
    uint64_t iterations = 20000;
    static const struct option opts[] = {
        { "loops", required_argument, NULL, 'l' }, { "iterations", required_argument, NULL, 'n' },
        { "delay-ms", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'l': loops = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'n': iterations = strtoull(optarg, NULL, 10); break;
        case 'd': delay_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: rel_trace_source [--loops N] [--iterations N] [--delay-ms N]\n");
            return 2;
        }
    }
    if (loops > 8) loops = 8;
    static const struct { uint8_t op[3]; uint8_t len; const char *dis; } ops[8] = {
        { { 0x01, 0xd8 }, 2, "add eax, ebx" }, { { 0x29, 0xd8 }, 2, "sub eax, ebx" },
        { { 0x31, 0xd8 }, 2, "xor eax, ebx" }, { { 0x21, 0xd8 }, 2, "and eax, ebx" },
        { { 0x09, 0xd8 }, 2, "or eax, ebx" },  { { 0x11, 0xd8 }, 2, "adc eax, ebx" },
        { { 0x19, 0xd8 }, 2, "sbb eax, ebx" }, { { 0x0f, 0xaf, 0xc3 }, 3, "imul eax, ebx" },
    };
    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    struct rec_buf b;
    rec_buf_init(&b);
    struct rec r;
    int rc = 0;
    uint64_t t = 0, insns = 0, blocks = 0;
    static uint8_t ids[4 * 1024];
    for (unsigned k = 0; k < loops && !rc; k++) {
        uint64_t pc = 0x10000ull * (k + 1);
        uint8_t code[8], lens[3] = { ops[k].len, 2, 2 };
        memcpy(code, ops[k].op, ops[k].len);
        code[ops[k].len] = 0xff;        /* dec ecx */
        code[ops[k].len + 1] = 0xc9;
        code[ops[k].len + 2] = 0x75;    /* jnz pc */
        code[ops[k].len + 3] = (uint8_t)-(int)(ops[k].len + 4);
        char jnz[32];
        snprintf(jnz, sizeof jnz, "jnz 0x%llx", (unsigned long long)pc);
        struct rec_str dis[] = { rec_str_c(ops[k].dis), rec_str_c("dec ecx"), rec_str_c(jnz) };
        memset(&r, 0, sizeof r);
        r.type = REC_TRACE_TB;
        r.u.trace_tb = (struct rec_trace_tb){ .tb_id = k + 1, .pc = pc, .cpu_mode = 64, .cpl = 3,
                                              .code = { code, (uint32_t)ops[k].len + 4 },
                                              .insn_len = { lens, 3 }, .disasm = { 3, dis } };
        rc |= emit(&st, &b, &r);
        uint64_t left = iterations;
        while (!rc && left) {
            uint32_t n = left > 1024 ? 1024 : (uint32_t)left;
            for (uint32_t i = 0; i < n; i++) {
                ids[4 * i] = (uint8_t)(k + 1);
                ids[4 * i + 1] = ids[4 * i + 2] = ids[4 * i + 3] = 0;
            }
            memset(&r, 0, sizeof r);
            r.type = REC_TRACE_EXEC;
            r.u.trace_exec = (struct rec_trace_exec){ .vcpu = 0, .t0_us = t, .tb_ids = { ids, 4 * n } };
            rc |= emit(&st, &b, &r);
            left -= n;
            t += n;
            if (delay_ms) usleep(delay_ms * 1000u);
        }
        memset(&r, 0, sizeof r);
        r.type = REC_TRACE_SAMPLE;
        r.u.trace_sample.tb_id = k + 1;
        r.u.trace_sample.pc = pc;
        r.u.trace_sample.pre.gpr[1] = iterations;
        r.u.trace_sample.pre.rip = pc;
        r.u.trace_sample.next_pc = pc;
        if (!rc) rc |= emit(&st, &b, &r);
        insns += 3 * iterations;
        blocks += iterations;
    }
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_END;
    r.u.trace_end = (struct rec_trace_end){ .insns = insns, .blocks = blocks, .tbs = loops,
                                            .samples = loops, .time_us = t,
                                            .reason = rec_str_c("rel_trace_source done") };
    if (!rc) rc |= emit(&st, &b, &r);
    rec_buf_free(&b);
    int cr = stage_close(&st);
    return rc ? 1 : cr;
}
