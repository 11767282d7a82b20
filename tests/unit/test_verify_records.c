/* test_verify_records.c — the verify stage's logic on whole records
 * (verify_record, as main.c calls it): a correct candidate gets a VERDICT
 * "proved" with tests from both oracles (samples included) and an audit
 * line; a wrong one "refuted" with a counterexample from the proof and a
 * failing state from the tests; QEMU-only passes through as "not
 * attempted"; malformed, oversized, mistyped or undecodable records are
 * rejected with a clear message, counted, and the next record is verified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../stages/verify/verify.h"
#include "test_verify_patterns.h"

#define STATES 2000u   /* per candidate here; 10,000 is covered by test_concrete_validation */

static const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static struct rec_sample sample = {
    .pre = { .gpr = { [X86_RAX] = 0xffffffff, [X86_RBX] = 1 }, .rip = 0x310000000000ull, .rflags = 0x202 },
};

struct fixture {
    struct verifier *v;
    FILE *audit;
    char *audit_text;
    size_t audit_len;
    struct rec_buf in, out;
    struct rec_arena arena;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->audit = open_memstream(&f->audit_text, &f->audit_len);
    struct verify_options o;
    verify_options_default(&o);
    o.conc.nstates = STATES;
    f->v = verifier_new(&o, f->audit);
    if (!f->v) return -1;
    rec_buf_init(&f->in);
    rec_buf_init(&f->out);
    rec_arena_init(&f->arena);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    verifier_free(f->v);
    fclose(f->audit);
    free(f->audit_text);
    rec_buf_free(&f->in);
    rec_buf_free(&f->out);
    rec_arena_free(&f->arena);
    free(f);
    return 0;
}

/* Encodes a CANDIDATE for x86 `hex` with microcode `pixel` into f->in. */
static void make_candidate(struct fixture *f, uint64_t job_id, const char *hex, x86_locset live, const char *pixel,
                           uint8_t method)
{
    static uint8_t code[64], ops[4 * 64];
    size_t len = tv_hex(hex, code, sizeof code);
    size_t n = 0;
    if (pixel) {
        struct pixel_insn prog[64];
        char err[320];
        int k = pixel_asm(pixel, prog, 64, err, sizeof err);
        if (k < 0) fail_msg("asm: %s", err);
        n = (size_t)k;
        pixel_encode(prog, n, ops);
    }
    struct rec r = { .type = REC_CANDIDATE };
    struct rec_candidate *c = &r.u.candidate;
    c->job.job_id = job_id;
    c->job.template_key = (struct rec_str){ key, 64 };
    c->job.code = (struct rec_bin){ code, (uint32_t)len };
    c->job.cpu_mode = 64;
    c->job.live_out = live;
    c->job.samples = (struct rec_samples){ 1, &sample };
    c->method = method;
    c->pixel_ops = (struct rec_bin){ ops, (uint32_t)(4 * n) };
    c->reason = (struct rec_str){ method == 3 ? "unsupported instruction" : "", method == 3 ? 23 : 0 };
    c->mnemonic = (struct rec_str){ "", 0 };
    rec_buf_reset(&f->in);
    struct rec_error err;
    if (rec_encode(&f->in, &r, &err) < 0) fail_msg("encode: %s", err.msg);
}

static const struct rec_verdict *run_ok(struct fixture *f)
{
    char err[1024] = "";
    int rc = verify_record(f->v, f->in.data, f->in.len, &f->out, err, sizeof err);
    if (rc != 1) fail_msg("rejected: %s", err);
    static struct rec r;
    struct rec_error re;
    rec_arena_reset(&f->arena);
    assert_int_equal(rec_decode(f->out.data, f->out.len, &r, &f->arena, &re), REC_VERDICT);
    return &r.u.verdict;
}

static void expect_rejected(struct fixture *f, const void *data, size_t len, const char *needle)
{
    char err[1024] = "";
    uint64_t bad = verifier_stats(f->v)->bad_records;
    assert_int_equal(verify_record(f->v, data, len, &f->out, err, sizeof err), 0);
    printf("  rejected: %s\n", err);
    if (!strstr(err, needle)) fail_msg("message '%s' lacks '%s'", err, needle);
    assert_int_equal(verifier_stats(f->v)->bad_records, bad + 1);
}

static void test_verify_records_proved(void **state)
{
    struct fixture *f = *state;
    make_candidate(f, 7, "01 d8", TV_GPR(RAX) | TV_ALLFL | X86_LOC_RIP, TV_ADD32, 0);
    const struct rec_verdict *v = run_ok(f);
    assert_int_equal(v->proof, VERIFY_PROVED);
    assert_int_equal(v->candidate.job.job_id, 7);
    assert_int_equal(v->tests_unicorn, STATES + 1);   /* generated + the sample */
    assert_int_equal(v->tests_native, STATES + 1);
    assert_int_equal(v->tests_failed, 0);
    assert_int_equal(v->counterexample.len, 0);
    assert_true(v->proof_us > 0 && v->test_us > 0);
    fflush(f->audit);
    assert_non_null(strstr(f->audit_text, "\"job_id\":7"));
    assert_non_null(strstr(f->audit_text, "\"accepted\":true"));
    assert_int_equal(verifier_stats(f->v)->accepted, 1);
}

static void test_verify_records_refuted(void **state)
{
    struct fixture *f = *state;
    make_candidate(f, 8, "48 8d 43 10", TV_GPR(RAX), "ADDI R0, R3, 17\n ADDI R22, R22, 4\n", 1);
    const struct rec_verdict *v = run_ok(f);
    assert_int_equal(v->proof, VERIFY_REFUTED);
    assert_true(v->tests_failed > 0);
    printf("  counterexample: %.300s\n", v->counterexample.ptr);
    assert_non_null(strstr(v->counterexample.ptr, "proof:"));
    assert_non_null(strstr(v->counterexample.ptr, "concrete:"));
    fflush(f->audit);
    assert_non_null(strstr(f->audit_text, "\"accepted\":false"));
}

static void test_verify_records_qemu_only(void **state)
{
    struct fixture *f = *state;
    make_candidate(f, 9, "0f 05", 0, NULL, 3);
    const struct rec_verdict *v = run_ok(f);
    assert_int_equal(v->proof, VERIFY_NOT_ATTEMPTED);
    assert_int_equal(v->tests_unicorn + v->tests_native, 0);
    assert_int_equal(verifier_stats(f->v)->qemu_only, 1);
}

static void test_verify_records_bad_then_good(void **state)
{
    struct fixture *f = *state;
    static const uint8_t garbage[] = { 0x93, 0x12, 0x01, 0xc1, 0xff, 0x00 };
    expect_rejected(f, garbage, sizeof garbage, "malformed");
    /* truncated candidate */
    make_candidate(f, 10, "89 d8", TV_GPR(RAX), "ZEXT32 R0, R3\n ADDI R22, R22, 2\n", 0);
    expect_rejected(f, f->in.data, f->in.len - 3, "malformed");
    /* oversized record */
    size_t big = VERIFY_MAX_RECORD + 1;
    uint8_t *huge = calloc(1, big);
    assert_non_null(huge);
    expect_rejected(f, huge, big, "oversized");
    free(huge);
    /* another record type */
    struct rec r = { .type = REC_TEST_SEQ };
    r.u.test_seq.seq = 1;
    struct rec_buf b;
    rec_buf_init(&b);
    assert_int_equal(rec_encode(&b, &r, NULL), 0);
    expect_rejected(f, b.data, b.len, "TEST_SEQ");
    rec_buf_free(&b);
    /* the stage goes on */
    make_candidate(f, 11, "89 d8", TV_GPR(RAX), "ZEXT32 R0, R3\n ADDI R22, R22, 2\n", 0);
    assert_int_equal(run_ok(f)->proof, VERIFY_PROVED);
}

static void test_verify_records_bad_microcode(void **state)
{
    struct fixture *f = *state;
    /* oversized microcode: more than PIXEL_MAX_INSNS instructions */
    size_t n = PIXEL_MAX_INSNS + 10;
    uint8_t *ops = calloc(n, 4);
    uint8_t code[] = { 0x89, 0xd8 };
    struct rec r = { .type = REC_CANDIDATE };
    r.u.candidate.job = (struct rec_synth_job){ .job_id = 12, .template_key = { key, 64 }, .code = { code, 2 },
                                                .cpu_mode = 64, .live_out = TV_GPR(RAX) };
    r.u.candidate.pixel_ops = (struct rec_bin){ ops, (uint32_t)(4 * n) };
    rec_buf_reset(&f->in);
    assert_int_equal(rec_encode(&f->in, &r, NULL), 0);
    expect_rejected(f, f->in.data, f->in.len, "oversized");
    /* an undefined opcode */
    ops[0] = 250;
    r.u.candidate.pixel_ops.len = 8;
    rec_buf_reset(&f->in);
    assert_int_equal(rec_encode(&f->in, &r, NULL), 0);
    expect_rejected(f, f->in.data, f->in.len, "pixel_ops");
    /* 32-bit code */
    ops[0] = 0;
    r.u.candidate.job.cpu_mode = 32;
    rec_buf_reset(&f->in);
    assert_int_equal(rec_encode(&f->in, &r, NULL), 0);
    expect_rejected(f, f->in.data, f->in.len, "64-bit");
    free(ops);
}

/* A proof that runs out of its per-template time is recorded as a timeout
 * and not accepted, even though the concrete tests pass: imul rax, rbx
 * against a 64-bit multiply built from 32-bit halves (equivalent, but hard
 * for Z3) under a 1 ms budget. */
static void test_verify_records_timeout(void **state)
{
    (void)state;
    struct verify_options o;
    verify_options_default(&o);
    o.proof_timeout_ms = 1;
    o.conc.nstates = 200;
    struct verifier *v = verifier_new(&o, NULL);
    assert_non_null(v);
    struct fixture f = { .v = v };
    rec_buf_init(&f.in);
    rec_buf_init(&f.out);
    rec_arena_init(&f.arena);
    make_candidate(&f, 13, "48 0f af c3", TV_GPR(RAX),
                   "ZEXT32 R24, R0\n SHRI R25, R0, 32\n ZEXT32 R26, R3\n SHRI R27, R3, 32\n"
                   " MUL R28, R24, R26\n MUL R29, R24, R27\n MUL R30, R25, R26\n ADD R29, R29, R30\n"
                   " SHLI R29, R29, 32\n ADD R0, R28, R29\n ADDI R22, R22, 4\n", 0);
    const struct rec_verdict *vd = run_ok(&f);
    printf("  proof: %u (3 = timeout, 2 = unknown) in %llu us; tests failed %u\n", vd->proof,
           (unsigned long long)vd->proof_us, vd->tests_failed);
    assert_true(vd->proof == VERIFY_TIMEOUT || vd->proof == VERIFY_UNKNOWN);
    assert_int_equal(vd->tests_failed, 0);
    assert_int_equal(verifier_stats(v)->accepted, 0);
    assert_int_equal(verifier_stats(v)->rejected, 1);
    verifier_free(v);
    rec_buf_free(&f.in);
    rec_buf_free(&f.out);
    rec_arena_free(&f.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_records_proved),
        cmocka_unit_test(test_verify_records_refuted),
        cmocka_unit_test(test_verify_records_qemu_only),
        cmocka_unit_test(test_verify_records_bad_then_good),
        cmocka_unit_test(test_verify_records_bad_microcode),
        cmocka_unit_test(test_verify_records_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
