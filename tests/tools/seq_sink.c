/* seq_sink — test stage: checks that every TEST_SEQ number arrives exactly once.
 *
 *   seq_sink --expect N [--start S] [--out FILE] [--unordered]
 *
 * Keeps a bitmap of S..S+N-1 and, per input queue (one per upstream worker),
 * checks the numbers increase (each producer keeps its order) unless
 * --unordered (when an upstream pool fans in from a pool, a queue carries
 * several producers' records interleaved).  At the end of
 * the stream it writes a report (default REPORT_DIR/seq_sink.WORKER.txt):
 *     expect N / received R / unique U / duplicates D / missing M /
 *     out_of_range X / order_violations O / inputs K,
 *     one line "input PATH COUNT" per input queue seen and
 *     "mark C COUNT" per first payload byte,
 * and exits 0 (the report is its output; a failing check is logged, not a crash).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "records.h"
#include "stage.h"

#define MAX_SEEN_INPUTS 256

struct input_stat {
    char path[STAGE_PATH_MAX];
    uint64_t count, last;
    bool any;
};

int main(int argc, char **argv)
{
    uint64_t expect = 0, start = 0;
    const char *out_path = NULL;
    bool unordered = false;
    static const struct option opts[] = {
        { "expect", required_argument, NULL, 'n' }, { "start", required_argument, NULL, 's' },
        { "out", required_argument, NULL, 'o' }, { "unordered", no_argument, NULL, 'u' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "n:s:o:u", opts, NULL)) != -1) {
        switch (c) {
        case 'n': expect = strtoull(optarg, NULL, 10); break;
        case 's': start = strtoull(optarg, NULL, 10); break;
        case 'o': out_path = optarg; break;
        case 'u': unordered = true; break;
        default:
            fprintf(stderr, "usage: seq_sink --expect N [--start S] [--out FILE] [--unordered]\n");
            return 2;
        }
    }
    if (expect == 0 || expect > (1ull << 32)) {
        fprintf(stderr, "seq_sink: --expect N: expected 1 to 2^32 records\n");
        return 2;
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0)
        return 2;
    uint8_t *seen = calloc((size_t)((expect + 7) / 8), 1);
    static struct input_stat inputs[MAX_SEEN_INPUTS];
    int ninputs = 0;
    uint64_t marks[256] = { 0 };
    uint64_t received = 0, unique = 0, dups = 0, out_of_range = 0, order = 0, bad = 0;
    struct rec_arena arena;
    rec_arena_init(&arena);
    struct stage_rec in;
    int n;
    while ((n = stage_next(&st, &in)) > 0) {
        struct rec r;
        struct rec_error err;
        rec_arena_reset(&arena);
        int type = rec_decode(in.data, in.len, &r, &arena, &err);
        if (type != REC_TEST_SEQ) {
            log_warn("record from %s rejected: %s", in.from, type < 0 ? err.msg : "not a TEST_SEQ record");
            bad++;
            stage_count_bad(&st);
            stage_done(&st, &in);
            continue;
        }
        uint64_t seq = r.u.test_seq.seq;
        received++;
        if (r.u.test_seq.payload.len)
            marks[r.u.test_seq.payload.ptr[0]]++;
        const char *path = st.in[in.input].path;
        int k;
        for (k = 0; k < ninputs; k++)
            if (!strcmp(inputs[k].path, path))
                break;
        if (k == ninputs && ninputs < MAX_SEEN_INPUTS)
            snprintf(inputs[ninputs++].path, STAGE_PATH_MAX, "%s", path);
        if (k < ninputs) {
            if (!unordered && inputs[k].any && seq <= inputs[k].last) {
                if (order < 10)
                    log_warn("order: %llu after %llu on %s", (unsigned long long)seq,
                             (unsigned long long)inputs[k].last, path);
                order++;
            }
            inputs[k].any = true;
            inputs[k].last = seq;
            inputs[k].count++;
        }
        if (seq < start || seq - start >= expect) {
            out_of_range++;
        } else {
            uint64_t i = seq - start;
            if (seen[i / 8] & (1u << (i % 8))) {
                if (dups < 10)
                    log_warn("duplicate: %llu (from %s)", (unsigned long long)seq, path);
                dups++;
            } else {
                seen[i / 8] |= (uint8_t)(1u << (i % 8));
                unique++;
            }
        }
        stage_done(&st, &in);
    }
    bool ended = n == 0 && st.end == STAGE_ST_ENDED;
    if (ended) {
        uint64_t missing = expect - unique;
        char path_buf[1024];
        if (!out_path) {
            snprintf(path_buf, sizeof path_buf, "%s/seq_sink.%d.txt", st.report_dir ? st.report_dir : ".",
                     st.worker);
            out_path = path_buf;
        }
        FILE *f = fopen(out_path, "w");
        if (!f) {
            log_error("%s: cannot write the report", out_path);
        } else {
            fprintf(f, "expect %llu\nreceived %llu\nunique %llu\nduplicates %llu\nmissing %llu\n"
                       "out_of_range %llu\norder_violations %llu\nbad %llu\ninputs %d\n",
                    (unsigned long long)expect, (unsigned long long)received, (unsigned long long)unique,
                    (unsigned long long)dups, (unsigned long long)missing, (unsigned long long)out_of_range,
                    (unsigned long long)order, (unsigned long long)bad, ninputs);
            for (int k = 0; k < ninputs; k++)
                fprintf(f, "input %s %llu\n", inputs[k].path, (unsigned long long)inputs[k].count);
            for (int m = 0; m < 256; m++)
                if (marks[m])
                    fprintf(f, "mark %c %llu\n", m >= 32 && m < 127 ? m : '?', (unsigned long long)marks[m]);
            fclose(f);
        }
        if (missing || dups || out_of_range || order)
            log_error("check FAILED: %llu missing, %llu duplicates, %llu out of range, %llu out of order",
                      (unsigned long long)missing, (unsigned long long)dups,
                      (unsigned long long)out_of_range, (unsigned long long)order);
        else
            log_info("check passed: all %llu numbers exactly once, in order per producer",
                     (unsigned long long)expect);
    }
    free(seen);
    rec_arena_free(&arena);
    if (n < 0)
        return 1;
    return stage_close(&st);
}
