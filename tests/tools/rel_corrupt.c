/* rel_corrupt — test stage for the reliability tests: a relay that passes
 * every input record through unchanged and, before every EVERY-th one,
 * injects a malformed record derived from it.  Put it on any edge of a
 * pipeline to check that the downstream stage rejects bad records by name,
 * counts them, keeps the good ones and finishes.
 *
 *   rel_corrupt [--every N] [--per N] [--seed S] [--delay-ms N] [--report FILE]
 *
 * --per N injects N malformed records (consecutive kinds) at each point
 * (default 1; 8 gives every kind before every valid record).
 *
 * --every 0 injects nothing (a plain relay); --delay-ms sleeps N ms per
 * record (a slow stage, so that a test can look at the queues while they
 * exist).
 *
 * The malformed records cycle through these kinds (derived from the valid
 * record that follows, so they look like that queue's real traffic):
 *   0 truncated      the first half of the record's bytes
 *   1 trailing       the record followed by one extra byte (nil)
 *   2 bad version    schema_version replaced by a string
 *   3 mistyped       the first field replaced by a string
 *   4 oversized      the first bin (searched depth-first, nested records
 *                    included) replaced by 300,000 bytes: over every limit
 *   5 random         1..300 random bytes (half of them starting like an array)
 *   6 unknown type   [77, 1, 5]
 *   7 huge count     an array header claiming 2^32-1 elements, then nothing
 * At the end (inputs ended) it writes "injected N passed M" to FILE (a bare
 * file name goes into $TCGL_REPORT_DIR).
 */
#include <getopt.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stage.h"
#include "xorshift.h"

#define OVERSIZE 300000u

static uint64_t rng_state = XORSHIFT64_SEED;
static uint64_t rng(void)
{
    return xorshift64(&rng_state);
}

/* Depth-first: the first bin object in the tree, or NULL. */
static msgpack_object *first_bin(msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_BIN) return o;
    if (o->type != MSGPACK_OBJECT_ARRAY) return NULL;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        msgpack_object *b = first_bin(&o->via.array.ptr[i]);
        if (b) return b;
    }
    return NULL;
}

/* Build malformed record `kind` from the valid record (data, len) into sb.
 * Returns 0, or -1 when this record cannot yield that kind. */
static int make_bad(int kind, const uint8_t *data, size_t len, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    switch (kind) {
    case 0:
        if (len < 2) return -1;
        msgpack_sbuffer_write(sb, (const char *)data, len / 2);
        return 0;
    case 1:
        msgpack_sbuffer_write(sb, (const char *)data, len);
        msgpack_pack_nil(&pk);
        return 0;
    case 2:
    case 3:
    case 4: {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        int rc = -1;
        if (msgpack_unpack_next(&u, (const char *)data, len, &off) == MSGPACK_UNPACK_SUCCESS &&
            u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 3) {
            msgpack_object *root = &u.data;
            static char big[OVERSIZE];
            if (kind == 2 || kind == 3) {
                msgpack_object *f = &root->via.array.ptr[kind == 2 ? 1 : 2];
                f->type = MSGPACK_OBJECT_STR;
                f->via.str.ptr = "x";
                f->via.str.size = 1;
                rc = 0;
            } else {
                msgpack_object *b = first_bin(root);
                if (!b) b = &root->via.array.ptr[2];
                b->type = MSGPACK_OBJECT_BIN;
                b->via.bin.ptr = big;
                b->via.bin.size = OVERSIZE;
                rc = 0;
            }
            if (!rc) msgpack_pack_object(&pk, *root);
        }
        msgpack_unpacked_destroy(&u);
        return rc;
    }
    case 5: {
        size_t n = 1 + rng() % 300;
        uint8_t buf[300];
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rng();
        if (rng() & 1) buf[0] = (uint8_t)(0x90 | (rng() % 16));
        msgpack_sbuffer_write(sb, (const char *)buf, n);
        return 0;
    }
    case 6:
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint32(&pk, 77);
        msgpack_pack_uint32(&pk, 1);
        msgpack_pack_uint32(&pk, 5);
        return 0;
    case 7: {
        static const uint8_t huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
        msgpack_sbuffer_write(sb, (const char *)huge, sizeof huge);
        return 0;
    }
    }
    return -1;
}

int main(int argc, char **argv)
{
    unsigned every = 1, delay_ms = 0, per = 1;
    const char *report = NULL;
    static const struct option opts[] = {
        { "every", required_argument, NULL, 'e' }, { "seed", required_argument, NULL, 's' },
        { "report", required_argument, NULL, 'r' }, { "delay-ms", required_argument, NULL, 'd' },
        { "per", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 },
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'e': every = (unsigned)strtoul(optarg, NULL, 10); break;
        case 's': rng_state ^= strtoull(optarg, NULL, 10) * 0x2545f4914f6cdd1dull; break;
        case 'r': report = optarg; break;
        case 'p': per = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'd': delay_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: rel_corrupt [--every N] [--per N] [--seed S] [--delay-ms N] [--report FILE]\n");
            return 2;
        }
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    int out = stage_port(&st, "out");
    if (out < 0) return 2;
    uint64_t nin = 0, injected = 0, passed = 0;
    int kind = 0, n;
    struct stage_rec in;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    while ((n = stage_next(&st, &in)) > 0) {
        if (delay_ms) usleep(delay_ms * 1000u);
        for (unsigned m = 0; every && nin % every == 0 && m < per; m++) {
            for (int tries = 0; tries < 8; tries++) {
                msgpack_sbuffer_clear(&sb);
                int k = kind;
                kind = (kind + 1) % 8;
                if (make_bad(k, in.data, in.len, &sb) == 0) {
                    if (stage_emit(&st, out, sb.data, sb.size) < 0) goto stop;
                    injected++;
                    break;
                }
            }
        }
        nin++;
        if (stage_emit(&st, out, in.data, in.len) < 0) goto stop;
        passed++;
        stage_done(&st, &in);
    }
    msgpack_sbuffer_destroy(&sb);
    log_info("rel_corrupt: %llu records passed, %llu malformed injected", (unsigned long long)passed,
             (unsigned long long)injected);
    if (report && n == 0 && st.end == STAGE_ST_ENDED) {
        char path[4200];
        if (!strchr(report, '/') && st.report_dir) snprintf(path, sizeof path, "%s/%s", st.report_dir, report);
        else snprintf(path, sizeof path, "%s", report);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "injected %llu passed %llu\n", (unsigned long long)injected, (unsigned long long)passed);
            fclose(f);
        }
    }
    return stage_close(&st);
stop:
    msgpack_sbuffer_destroy(&sb);
    return 1;
}
