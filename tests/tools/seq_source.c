/* seq_source — test stage: emits TEST_SEQ records numbered START..START+COUNT-1.
 *
 *   seq_source [--count N] [--start S] [--payload BYTES] [--rate RECORDS_PER_S]
 *
 * The payload is BYTES bytes of 'A' (relays may overwrite the first byte to
 * mark which executable carried a record).  A drain request (pipectl stop)
 * ends the stream early; the records emitted so far are then complete.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "records.h"
#include "stage.h"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int main(int argc, char **argv)
{
    uint64_t count = 1000, start = 0, rate = 0;
    size_t payload = 16;
    static const struct option opts[] = {
        { "count", required_argument, NULL, 'n' }, { "start", required_argument, NULL, 's' },
        { "payload", required_argument, NULL, 'p' }, { "rate", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "n:s:p:r:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': count = strtoull(optarg, NULL, 10); break;
        case 's': start = strtoull(optarg, NULL, 10); break;
        case 'p': payload = (size_t)strtoull(optarg, NULL, 10); break;
        case 'r': rate = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: seq_source [--count N] [--start S] [--payload BYTES] [--rate R]\n");
            return 2;
        }
    }
    if (payload > 65536) {
        fprintf(stderr, "seq_source: --payload %zu: expected at most 65536\n", payload);
        return 2;
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0)
        return 2;
    uint8_t *pl = malloc(payload ? payload : 1);
    memset(pl, 'A', payload ? payload : 1);
    struct rec_buf b;
    rec_buf_init(&b);
    struct rec_error err;
    uint64_t t0 = now_us(), sent = 0;
    int rc = 0;
    for (uint64_t i = 0; i < count; i++) {
        if ((i & 1023) == 0 && stage_should_stop(&st)) {
            log_info("asked to stop after %llu records", (unsigned long long)sent);
            break;
        }
        if (rate && (i & 255) == 0) {
            uint64_t due = t0 + i * 1000000u / rate, now = now_us();
            if (due > now)
                usleep((useconds_t)(due - now));
        }
        struct rec_test_seq r = { .seq = start + i, .payload = { pl, (uint32_t)payload } };
        rec_buf_reset(&b);
        if (rec_encode_test_seq(&b, &r, &err) < 0) {
            log_error("encode: %s", err.msg);
            rc = 1;
            break;
        }
        if (stage_emit(&st, 0, b.data, b.len) < 0) {
            rc = 1;
            break;
        }
        sent++;
    }
    log_info("emitted %llu records from %llu", (unsigned long long)sent, (unsigned long long)start);
    rec_buf_free(&b);
    free(pl);
    int crc = stage_close(&st);
    return rc ? rc : crc;
}
