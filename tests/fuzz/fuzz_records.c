/* fuzz_records.c — libFuzzer target for the record decoder (common/records.c).
 *
 * Feeds arbitrary bytes to rec_decode(), the single entry point behind every
 * record type.  Beyond "no crash, no out-of-bounds read, no leak" (ASan/UBSan)
 * it checks the decoder's contract: a rejected input carries a message; an
 * accepted record re-encodes, and its encoding decodes to the same bytes
 * again (encode ∘ decode is a fixed point), and it can be dumped as text.
 * Seeds: tests/fuzz/corpus/fuzz_records/ (one valid record of each type,
 * written by tests/tools/gen_records_corpus). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rec_arena arena;
    static struct rec_buf b1, b2;
    static FILE *devnull;
    static int ready;
    if (!ready) {
        rec_arena_init(&arena);
        rec_buf_init(&b1);
        rec_buf_init(&b2);
        devnull = fopen("/dev/null", "w");
        ready = 1;
    }
    struct rec r, r2;
    struct rec_error err;
    int t = rec_decode(data, size, &r, &arena, &err);
    if (t < 0) {
        if (err.msg[0] == 0) abort();          /* every rejection says why */
    } else {
        rec_buf_reset(&b1);
        rec_buf_reset(&b2);
        if (rec_encode(&b1, &r, &err) < 0) { fprintf(stderr, "accepted record does not re-encode: %s\n", err.msg); abort(); }
        if (rec_decode(b1.data, b1.len, &r2, &arena, &err) != t) { fprintf(stderr, "re-encoded record rejected: %s\n", err.msg); abort(); }
        if (rec_encode(&b2, &r2, &err) < 0 || b2.len != b1.len || memcmp(b1.data, b2.data, b1.len) != 0) abort();
        if (devnull) rec_format(devnull, &r);
    }
    rec_arena_reset(&arena);
    return 0;
}
