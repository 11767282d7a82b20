/* relay — test stage: passes TEST_SEQ records through, one output per input.
 *
 *   relay [--mark C] [--work-us N]
 *
 * --mark C overwrites the first payload byte with C, so the sink can count
 * which executable carried each record (the swap test uses relay_b, which
 * marks 'B' by default).  --work-us busy-waits N µs per record to make a
 * slow stage.  Records that are not valid TEST_SEQ are counted and dropped.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "records.h"
#include "stage.h"

#ifndef RELAY_DEFAULT_MARK
#define RELAY_DEFAULT_MARK 0
#endif

static void busy_us(unsigned us)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < (long)us);
}

int main(int argc, char **argv)
{
    int mark = RELAY_DEFAULT_MARK;
    unsigned work_us = 0;
    static const struct option opts[] = {
        { "mark", required_argument, NULL, 'm' }, { "work-us", required_argument, NULL, 'w' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "m:w:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': mark = (unsigned char)optarg[0]; break;
        case 'w': work_us = (unsigned)strtoul(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: relay [--mark C] [--work-us N]\n");
            return 2;
        }
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0)
        return 2;
    struct rec_arena arena;
    rec_arena_init(&arena);
    struct rec_buf out;
    rec_buf_init(&out);
    struct stage_rec in;
    int rc = 0, n;
    while ((n = stage_next(&st, &in)) > 0) {
        struct rec r;
        struct rec_error err;
        rec_arena_reset(&arena);
        int type = rec_decode(in.data, in.len, &r, &arena, &err);
        if (type != REC_TEST_SEQ) {
            log_warn("record from %s rejected: %s", in.from,
                     type < 0 ? err.msg : "not a TEST_SEQ record");
            stage_count_bad(&st);
            stage_done(&st, &in);
            continue;
        }
        if (work_us)
            busy_us(work_us);
        const void *data = in.data;
        size_t len = in.len;
        if (mark && r.u.test_seq.payload.len > 0) {
            uint8_t *pl = malloc(r.u.test_seq.payload.len);
            memcpy(pl, r.u.test_seq.payload.ptr, r.u.test_seq.payload.len);
            pl[0] = (uint8_t)mark;
            struct rec_test_seq t = { .seq = r.u.test_seq.seq, .payload = { pl, r.u.test_seq.payload.len } };
            rec_buf_reset(&out);
            int e = rec_encode_test_seq(&out, &t, &err);
            free(pl);
            if (e < 0) {
                log_error("encode: %s", err.msg);
                rc = 1;
                break;
            }
            data = out.data;
            len = out.len;
        }
        if (stage_emit(&st, 0, data, len) < 0) {
            rc = 1;
            break;
        }
        stage_done(&st, &in);
    }
    if (n < 0)
        rc = 1;
    rec_buf_free(&out);
    rec_arena_free(&arena);
    if (rc)
        return rc;   /* do not end the outputs: pipectl restarts us */
    return stage_close(&st);
}
