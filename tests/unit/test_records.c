/* test_records.c — the record codecs (common/records.c): every type round
 * trips and is valid msgpack for msgpack-c; malformed, truncated and
 * mutated inputs are rejected with a message naming type, field and byte
 * offset, without crashing; the encoder refuses what the decoder would; and
 * docs/records.md matches the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "records_fixture.h"

static void encode_fixture(uint32_t tag, struct rec_buf *b)
{
    struct rec r;
    struct rec_error err;
    assert_int_equal(fx_record(tag, &r), 0);
    rec_buf_init(b);
    if (rec_encode(b, &r, &err) < 0) fail_msg("encode %s: %s", rec_type_name(tag), err.msg);
}

static void expect_error(const void *buf, size_t len, const char *needle)
{
    struct rec r;
    struct rec_arena a;
    struct rec_error err;
    rec_arena_init(&a);
    int t = rec_decode(buf, len, &r, &a, &err);
    rec_arena_free(&a);
    if (t >= 0) fail_msg("decoded as type %d, expected an error containing '%s'", t, needle);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' does not contain '%s'", err.msg, needle);
}

static void test_records_round_trip_every_type(void **state)
{
    (void)state;
    const struct rec_type_desc *const *types;
    size_t n = rec_types(&types);
    assert_int_equal(n, 11);
    for (size_t i = 0; i < n; i++) {
        uint32_t tag = types[i]->tag;
        struct rec_buf b, b2;
        encode_fixture(tag, &b);
        /* msgpack-c agrees it is one well-formed array of 2 + nfields */
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(&up, (const char *)b.data, b.len, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, b.len);
        assert_int_equal(up.data.type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(up.data.via.array.size, 2 + types[i]->nfields);
        assert_int_equal(up.data.via.array.ptr[0].via.u64, tag);
        msgpack_unpacked_destroy(&up);
        /* decode, re-encode: identical bytes (every field survived) */
        struct rec r;
        struct rec_arena a;
        struct rec_error err;
        rec_arena_init(&a);
        int t = rec_decode(b.data, b.len, &r, &a, &err);
        if (t != (int)tag) fail_msg("%s: %s", types[i]->name, err.msg);
        assert_int_equal(rec_peek_type(b.data, b.len), (int)tag);
        rec_buf_init(&b2);
        assert_int_equal(rec_encode(&b2, &r, &err), 0);
        assert_int_equal(b2.len, b.len);
        assert_memory_equal(b2.data, b.data, b.len);
        /* the text dump names the type and every field */
        char *txt = NULL;
        size_t tl = 0;
        FILE *f = open_memstream(&txt, &tl);
        rec_format(f, &r);
        fclose(f);
        assert_non_null(strstr(txt, types[i]->name));
        for (uint32_t k = 0; k < types[i]->nfields; k++) {
            char key[64];
            snprintf(key, sizeof key, " %s=", types[i]->fields[k].name);
            if (!strstr(txt, key)) fail_msg("dump of %s lacks %s: %s", types[i]->name, key, txt);
        }
        free(txt);
        rec_arena_free(&a);
        rec_buf_free(&b);
        rec_buf_free(&b2);
    }
}

static void test_records_decoded_values(void **state)
{
    (void)state;
    struct rec_buf b;
    encode_fixture(REC_VERDICT, &b);
    struct rec r;
    struct rec_arena a;
    struct rec_error err;
    rec_arena_init(&a);
    assert_int_equal(rec_decode(b.data, b.len, &r, &a, &err), REC_VERDICT);
    const struct rec_synth_job *j = &r.u.verdict.candidate.job;
    assert_int_equal(j->job_id, 42);
    assert_int_equal(j->samples.n, 2);
    assert_int_equal(j->samples.v[0].mem.n, 3);
    assert_int_equal(j->samples.v[0].mem.v[1].is_store, true);
    assert_int_equal(j->samples.v[0].post.present, true);
    assert_int_equal(j->samples.v[1].post.present, false);
    assert_int_equal(j->samples.v[0].pre.gpr[X86_RCX], 1 + 0x1111);
    assert_int_equal(j->instances.v[0].imms.v[1], 0xffffffffffffffffull);
    assert_int_equal(j->instances.v[1].binding[0], 1);
    assert_string_equal(j->template_key.ptr, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    assert_string_equal(r.u.verdict.counterexample.ptr, "rax=1 rbx=2");
    /* a second record in the same arena leaves the first valid */
    struct rec_buf b2;
    encode_fixture(REC_TRACE_TB, &b2);
    struct rec r2;
    assert_int_equal(rec_decode(b2.data, b2.len, &r2, &a, &err), REC_TRACE_TB);
    assert_string_equal(r2.u.trace_tb.disasm.v[2].ptr, "ret");
    assert_string_equal(r.u.verdict.counterexample.ptr, "rax=1 rbx=2");
    rec_arena_free(&a);
    rec_buf_free(&b);
    rec_buf_free(&b2);
}

static void test_records_malformed_named_precisely(void **state)
{
    (void)state;
    /* TRACE_EXEC = [2, 2, vcpu, t0_us, sent_us, tb_ids, dt_us] */
    const uint8_t str_for_uint[] = { 0x97, 0x02, 0x02, 0xa1, 'x', 0x00, 0x00, 0xc4, 0x00, 0xc4, 0x00 };
    expect_error(str_for_uint, sizeof str_for_uint, "TRACE_EXEC v2: field vcpu at byte 3: expected unsigned integer, found str (0xa1)");
    const uint8_t too_big[] = { 0x97, 0x02, 0x02, 0xce, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xc4, 0x00, 0xc4, 0x00 };
    expect_error(too_big, sizeof too_big, "field vcpu at byte 3: value 65536 exceeds 65535");
    const uint8_t negative[] = { 0x97, 0x02, 0x02, 0xff, 0x00, 0x00, 0xc4, 0x00, 0xc4, 0x00 };
    expect_error(negative, sizeof negative, "field vcpu at byte 3: negative integer");
    const uint8_t not_mult4[] = { 0x97, 0x02, 0x02, 0x00, 0x00, 0x00, 0xc4, 0x03, 1, 2, 3, 0xc4, 0x00 };
    expect_error(not_mult4, sizeof not_mult4, "field tb_ids at byte 6: 3 bytes is not a multiple of 4");
    const uint8_t dt_mismatch[] = { 0x97, 0x02, 0x02, 0x00, 0x00, 0x00, 0xc4, 0x04, 1, 0, 0, 0, 0xc4, 0x08, 0, 0, 0, 0, 0, 0, 0, 0 };
    expect_error(dt_mismatch, sizeof dt_mismatch, "field dt_us at byte 0: 2 offsets for 1 tb ids");
    const uint8_t count[] = { 0x98, 0x02, 0x02, 0x00, 0x00, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0x00 };
    expect_error(count, sizeof count, "TRACE_EXEC v2: at byte 0: TRACE_EXEC record array has 8 elements, expected 7");
    const uint8_t unknown[] = { 0x93, 0x63, 0x01, 0x00 };
    expect_error(unknown, sizeof unknown, "unknown record type 99");
    const uint8_t version[] = { 0x97, 0x02, 0x03, 0x00, 0x00, 0x00, 0xc4, 0x00, 0xc4, 0x00 };
    expect_error(version, sizeof version, "field schema_version at byte 2: schema version 3 of TRACE_EXEC is not supported");
    const uint8_t trailing[] = { 0x97, 0x02, 0x02, 0x00, 0x00, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc0 };
    expect_error(trailing, sizeof trailing, "at byte 10: 1 trailing bytes");
    const uint8_t not_array[] = { 0x82, 0x01, 0x02 };
    expect_error(not_array, sizeof not_array, "expected array, found map");
    expect_error(NULL, 0, "truncated");
    /* bin length claims more than is there */
    const uint8_t short_bin[] = { 0x97, 0x02, 0x02, 0x00, 0x00, 0x00, 0xc6, 0x7f, 0xff, 0xff, 0xfc, 1, 2, 3, 4 };
    expect_error(short_bin, sizeof short_bin, "field tb_ids at byte 6: bin of 2147483644 bytes exceeds the limit 262144");
    const uint8_t short_bin2[] = { 0x97, 0x02, 0x02, 0x00, 0x00, 0x00, 0xc5, 0x01, 0x00, 1, 2, 3, 4 };
    expect_error(short_bin2, sizeof short_bin2, "field tb_ids at byte 6: truncated: bin of 256 bytes, 4 left");
    /* a huge array count is refused before anything is allocated */
    const uint8_t huge[] = { 0x99, 0x01, 0x01, 0x00, 0x00, 0x40, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff };
    expect_error(huge, sizeof huge, "TRACE_TB v1: field disasm at byte 11: array of 4294967295 elements exceeds the limit 512");
    /* BLOCK samples: a count within the limit that the bytes cannot back */
    const uint8_t block[] = { 0xdc, 0x00, 0x0e, 0x10, 0x01, 0x00, 0x40, 0xc4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                              0x00, 0x90, 0xdc, 0x00, 0x40 };
    expect_error(block, sizeof block, "BLOCK v1: field samples at byte 17: truncated: array of 64 elements cannot fit");
    /* TRACE_INSN bytes longer than an instruction */
    const uint8_t insn[] = { 0x98, 0x04, 0x01, 0x00, 0x00, 0xc4, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    expect_error(insn, sizeof insn, "TRACE_INSN v1: field bytes at byte 5: bin of 16 bytes exceeds the limit 15");
    /* str where bin is required */
    const uint8_t strbin[] = { 0x94, 0x64, 0x01, 0x05, 0xa2, 'h', 'i' };
    expect_error(strbin, sizeof strbin, "TEST_SEQ v1: field payload at byte 4: expected bin, found str");
    /* non-minimal integer encodings are fine */
    const uint8_t wide[] = { 0x94, 0x64, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 5, 0xc4, 0x00 };
    struct rec r;
    struct rec_arena a;
    rec_arena_init(&a);
    assert_int_equal(rec_decode(wide, sizeof wide, &r, &a, NULL), REC_TEST_SEQ);
    assert_int_equal(r.u.test_seq.seq, 5);
    rec_arena_free(&a);
}

static void patch_first(struct rec_buf *b, const uint8_t *pat, size_t n, size_t at, uint8_t v)
{
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, pat, n) == 0) { b->data[i + at] = v; return; }
    fail_msg("pattern not found");
}

static void test_records_nested_and_consistency_errors(void **state)
{
    (void)state;
    struct rec_buf b;
    encode_fixture(REC_VERDICT, &b);
    /* first memory access of the first sample: [.., size 8, false] -> size 3 */
    const uint8_t pat[] = { 0x08, 0xc2 };
    patch_first(&b, pat, 2, 0, 0x03);
    expect_error(b.data, b.len, "VERDICT v1: field candidate.job.samples[0].mem[0].size at byte ");
    expect_error(b.data, b.len, "value 3 is not an access size (1,2,4,8,16)");
    rec_buf_free(&b);

    encode_fixture(REC_TRACE_TB, &b);
    const uint8_t lens[] = { 0xc4, 0x03, 0x03, 0x04, 0x01 };
    patch_first(&b, lens, 5, 4, 0x02);
    expect_error(b.data, b.len, "TRACE_TB v1: field insn_len at byte 0: instruction lengths add up to 9 but code has 8 bytes");
    rec_buf_free(&b);

    encode_fixture(REC_SYNTH_JOB, &b);
    const uint8_t key[] = { 0xd9, 0x40, '9', 'f' };
    patch_first(&b, key, 4, 3, 'F');
    expect_error(b.data, b.len, "SYNTH_JOB v1: field template_key at byte 0: character 1 is not a lower-case hex digit");
    rec_buf_free(&b);
}

static void test_records_encode_to_matches_rec_encode(void **state)
{
    (void)state;
    const struct rec_type_desc *const *types;
    size_t n = rec_types(&types);
    for (size_t i = 0; i < n; i++) {
        struct rec r;
        struct rec_error err;
        struct rec_buf b;
        encode_fixture(types[i]->tag, &b);
        assert_int_equal(fx_record(types[i]->tag, &r), 0);
        size_t bound = rec_encode_bound(&r, &err);
        assert_true(bound >= b.len);
        uint8_t *dst = malloc(bound);
        size_t len = 0;
        assert_int_equal(rec_encode_to(dst, bound, &r, &len, &err), 0);
        assert_int_equal(len, b.len);
        assert_memory_equal(dst, b.data, len);
        assert_int_equal(rec_encode_to(dst, bound - 1, &r, &len, &err), -1);
        assert_non_null(strstr(err.msg, "needs up to"));
        free(dst);
        rec_buf_free(&b);
    }
}

static void test_records_encoder_refuses_what_decoder_would(void **state)
{
    (void)state;
    struct rec_buf b;
    rec_buf_init(&b);
    struct rec_error err;
    uint8_t bytes[16] = { 0 };
    struct rec_trace_insn in = { .bytes = { bytes, 16 }, .disasm = rec_str_c("x") };
    assert_int_equal(rec_encode_trace_insn(&b, &in, &err), -1);
    assert_non_null(strstr(err.msg, "TRACE_INSN v1: field bytes"));
    assert_non_null(strstr(err.msg, "16 bytes exceed the limit 15"));
    assert_int_equal(b.len, 0);

    struct rec r;
    assert_int_equal(fx_record(REC_CANDIDATE, &r), 0);
    r.u.candidate.job.cpu_mode = 8;
    assert_int_equal(rec_encode(&b, &r, &err), -1);
    assert_non_null(strstr(err.msg, "CANDIDATE v1: field job.cpu_mode"));
    assert_int_equal(fx_record(REC_CANDIDATE, &r), 0);
    r.u.candidate.method = 4;
    assert_int_equal(rec_encode(&b, &r, &err), -1);
    assert_non_null(strstr(err.msg, "field method at byte 0: value 4 exceeds 3"));
    r.type = 77;
    assert_int_equal(rec_encode(&b, &r, &err), -1);
    assert_non_null(strstr(err.msg, "unknown record type 77"));
    assert_int_equal(b.len, 0);
    rec_buf_free(&b);
}

/* Every prefix of every record is rejected; every single-byte mutation is
 * either rejected with a message or decodes to something that re-encodes. */
static void test_records_truncation_and_mutation_sweep(void **state)
{
    (void)state;
    const struct rec_type_desc *const *types;
    size_t n = rec_types(&types);
    static const uint8_t vals[] = { 0x00, 0x01, 0x7f, 0x80, 0x90, 0xa0, 0xc0, 0xc4, 0xc6, 0xcc, 0xcf, 0xd9, 0xdc, 0xdd, 0xff };
    uint64_t before = rec_decode_errors(), rejected = 0;
    struct rec_arena a;
    rec_arena_init(&a);
    for (size_t i = 0; i < n; i++) {
        struct rec_buf b;
        encode_fixture(types[i]->tag, &b);
        for (size_t cut = 0; cut < b.len; cut++) {
            struct rec r;
            struct rec_error err;
            uint8_t *copy = malloc(cut ? cut : 1);   /* exact-size copy: ASan sees any overread */
            memcpy(copy, b.data, cut);
            int t = rec_decode(copy, cut, &r, &a, &err);
            free(copy);
            if (t >= 0) fail_msg("%s truncated to %zu of %zu bytes was accepted", types[i]->name, cut, b.len);
            if (cut >= 2 && !strstr(err.msg, types[i]->name)) fail_msg("error for truncated %s: %s", types[i]->name, err.msg);
            rejected++;
            rec_arena_reset(&a);
        }
        for (size_t pos = 0; pos < b.len; pos++) {
            for (size_t k = 0; k < sizeof vals; k++) {
                uint8_t *copy = malloc(b.len);
                memcpy(copy, b.data, b.len);
                copy[pos] = vals[k];
                struct rec r;
                struct rec_error err;
                int t = rec_decode(copy, b.len, &r, &a, &err);
                if (t < 0) {
                    assert_true(err.msg[0] != 0);
                    rejected++;
                } else {
                    struct rec_buf re;
                    rec_buf_init(&re);
                    if (rec_encode(&re, &r, &err) < 0) fail_msg("accepted mutation does not re-encode: %s", err.msg);
                    rec_buf_free(&re);
                }
                free(copy);
                rec_arena_reset(&a);
            }
        }
        rec_buf_free(&b);
    }
    rec_arena_free(&a);
    assert_int_equal(rec_decode_errors() - before, rejected);
}

static void test_records_doc_matches_table(void **state)
{
    (void)state;
    const char *root = getenv("TCGL_ROOT");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/records.md", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s missing: generate it with `run/shmq-inspect --records-doc > docs/records.md`", path);
    char *doc = malloc(1 << 20);
    size_t dl = fread(doc, 1, (1 << 20) - 1, f);
    fclose(f);
    doc[dl] = 0;
    char *gen = NULL;
    size_t gl = 0;
    FILE *m = open_memstream(&gen, &gl);
    rec_write_markdown(m);
    fclose(m);
    if (gl != dl || memcmp(gen, doc, gl) != 0)
        fail_msg("docs/records.md differs from the table in common/records.h; regenerate it with "
                 "`run/shmq-inspect --records-doc > docs/records.md`");
    free(doc);
    free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_round_trip_every_type),
        cmocka_unit_test(test_records_decoded_values),
        cmocka_unit_test(test_records_malformed_named_precisely),
        cmocka_unit_test(test_records_nested_and_consistency_errors),
        cmocka_unit_test(test_records_encode_to_matches_rec_encode),
        cmocka_unit_test(test_records_encoder_refuses_what_decoder_would),
        cmocka_unit_test(test_records_truncation_and_mutation_sweep),
        cmocka_unit_test(test_records_doc_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
