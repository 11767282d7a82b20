/* test_offload_replay.c — hybrid replay on constructed samples
 * (stages/offload/replay.c) with microcode from synth's real lowering:
 * correct microcode agrees on registers, flags, next rip and stores; wrong
 * microcode is caught (registers, and stores alone when there is no post
 * state); the offload stage stores proved+tested verdicts with provenance,
 * replays them, never stores refuted ones, and writes the report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "../../stages/offload/offload.h"
#include "../../stages/offload/replay.h"
#include "library_test_util.h"
#include "offload_test_util.h"

static size_t decode_ops(const uint8_t *code, size_t len, struct pixel_insn *ops)
{
    uint8_t bytes[1024];
    size_t nb = otu_microcode(code, len, OTU_LIVE_OUT, bytes, 256);
    assert_true(nb > 0);
    char err[160];
    int n = pixel_decode(bytes, nb, ops, 256, err, sizeof err);
    assert_true(n > 0);
    return (size_t)n;
}

static void test_replay_agrees_for_correct_microcode(void **state)
{
    (void)state;
    struct pixel_insn ops[256];
    size_t n = decode_ops(otu_add_store, sizeof otu_add_store, ops);
    static const uint64_t in[][2] = { { 5, 7 }, { ~0ull, 1 }, { 1ull << 63, 1ull << 63 }, { 0x7fffffffffffffffull, 1 } };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct rec_sample s;
        struct x86_mem_access acc;
        otu_sample(&s, &acc, in[i][0], in[i][1]);
        char why[200];
        enum replay_outcome r = replay_sample(ops, n, 0, OTU_LIVE_OUT, sizeof otu_add_store, &s, why, sizeof why);
        if (r != REPLAY_AGREE) fprintf(stderr, "state %zu: %s\n", i, why);
        assert_int_equal(r, REPLAY_AGREE);
    }
}

static void test_replay_detects_wrong_microcode(void **state)
{
    (void)state;
    struct pixel_insn ops[256];
    size_t n = decode_ops(otu_sub_store, sizeof otu_sub_store, ops);
    struct rec_sample s;
    struct x86_mem_access acc;
    otu_sample(&s, &acc, 5, 7);
    char why[200];
    assert_int_equal(replay_sample(ops, n, 0, OTU_LIVE_OUT, sizeof otu_add_store, &s, why, sizeof why), REPLAY_DISAGREE);
    assert_non_null(strstr(why, "rax"));
    /* registers right, store wrong: the store convicts it */
    struct pixel_insn good[256];
    size_t ng = decode_ops(otu_add_store, sizeof otu_add_store, good);
    acc.value ^= 0x100;
    assert_int_equal(replay_sample(good, ng, 0, OTU_LIVE_OUT, sizeof otu_add_store, &s, why, sizeof why), REPLAY_DISAGREE);
    assert_non_null(strstr(why, "memory"));
    /* no post state: the accesses may span more than the block, skipped */
    s.post.present = false;
    assert_int_equal(replay_sample(ops, n, 0, OTU_LIVE_OUT, sizeof otu_add_store, &s, why, sizeof why), REPLAY_SKIPPED);
    /* Recorded status flags are not the guest's (QEMU keeps them out of
     * env->eflags while TCG code runs): a flag difference alone is no
     * disagreement, and a block that reads flags is not replayed at all. */
    n = decode_ops(otu_add_store, sizeof otu_add_store, ops);
    otu_sample(&s, &acc, 5, 7);
    s.post.regs.rflags ^= 1u << X86_RFLAGS_ZF;
    assert_int_equal(replay_sample(ops, n, 0, OTU_LIVE_OUT, sizeof otu_add_store, &s, why, sizeof why), REPLAY_AGREE);
    assert_int_equal(replay_sample(ops, n, X86_LOC_FLAG(X86_CF), OTU_LIVE_OUT, sizeof otu_add_store, &s, why,
                                   sizeof why), REPLAY_SKIPPED);
    assert_non_null(strstr(why, "status flags"));
}

static void test_offload_stores_replays_and_reports(void **state)
{
    (void)state;
    char *dir = ltu_tempdir();
    assert_non_null(dir);
    char libdir[600], repdir[600];
    snprintf(libdir, sizeof libdir, "%s/lib", dir);
    snprintf(repdir, sizeof repdir, "%s/report", dir);
    struct library *lib = library_open(libdir, NULL);
    assert_non_null(lib);
    struct offload_options o = { .workload = "unit" };
    struct offload *off = offload_new(lib, &o);
    assert_non_null(off);

    struct rec_sample s[8];
    struct x86_mem_access acc[8];
    for (unsigned i = 0; i < 8; i++) otu_sample(&s[i], &acc[i], 1000 * i + 3, (uint64_t)-1 - i);
    struct rec_synth_job j;
    struct rec_instance inst;
    char key[LIBRARY_KEY_HEX_LEN + 1];
    otu_job(&j, key, otu_add_store, sizeof otu_add_store, OTU_LIVE_OUT, &inst, s, 8);
    uint8_t ops[1024];
    size_t nb = otu_microcode(otu_add_store, sizeof otu_add_store, OTU_LIVE_OUT, ops, 256);
    struct rec_buf b;
    rec_buf_init(&b);
    char err[400];
    assert_int_equal(otu_verdict(&b, &j, 0, ops, nb, 0, 0, "", ""), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);

    const struct offload_stats *st = offload_get_stats(off);
    assert_int_equal(st->stored_verified, 1);
    assert_int_equal(st->replay_checked, 8);
    assert_int_equal(st->replay_agreed, 8);
    assert_int_equal(st->user_insns, 2000);
    assert_int_equal(st->user_insns_offloaded, 2000);
    struct library_entry e;
    library_entry_init(&e);
    assert_int_equal(library_lookup(lib, key, &e), LIBRARY_HIT);
    assert_int_equal(e.proof, LIBRARY_PROOF_PROVED);
    assert_int_equal(e.tests_unicorn, 100);
    assert_int_equal(e.tests_native, 100);
    assert_int_equal(e.synth_us, 1234);
    assert_int_equal(e.proof_us, 50);
    assert_int_equal(e.instances, 1);
    assert_string_equal(e.first_seen_workload, "unit");
    assert_int_equal(e.pixel_ops_len, nb);
    library_entry_free(&e);

    /* wrong microcode that (wrongly) claims a proof: replay catches it */
    otu_job(&j, key, otu_sub_store, sizeof otu_sub_store, OTU_LIVE_OUT, &inst, s, 8);
    nb = otu_microcode(otu_sub_store, sizeof otu_sub_store, OTU_LIVE_OUT, ops, 256);
    rec_buf_reset(&b);
    assert_int_equal(otu_verdict(&b, &j, 0, ops, nb, 0, 0, "", ""), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    assert_int_equal(st->replay_disagreed, 8);
    const struct offload_tmpl *t = offload_find(off, key);
    assert_non_null(t);
    assert_non_null(strstr(t->replay_diff, "rax"));
    assert_int_equal(st->replay_rejects, 1);
    assert_int_equal(st->stored_verified, 1);
    /* not verified, and remembered as QEMU-only so no later run retries it */
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_HIT_QEMU_ONLY);
    assert_int_equal(st->user_insns_offloaded, 2000);

    /* refuted: counted, not stored */
    static const uint8_t xor_code[] = { 0x48, 0x31, 0xd8 };
    otu_job(&j, key, xor_code, sizeof xor_code, X86_LOC_GPR(X86_RAX), &inst, NULL, 0);
    nb = otu_microcode(xor_code, sizeof xor_code, X86_LOC_GPR(X86_RAX), ops, 256);
    rec_buf_reset(&b);
    assert_int_equal(otu_verdict(&b, &j, 1, ops, nb, 1, 0, "", ""), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    assert_int_equal(st->refuted, 1);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_HIT_QEMU_ONLY);
    /* proved but a test failed: not stored either */
    static const uint8_t and_code[] = { 0x48, 0x21, 0xd8 };
    otu_job(&j, key, and_code, sizeof and_code, X86_LOC_GPR(X86_RAX), &inst, NULL, 0);
    nb = otu_microcode(and_code, sizeof and_code, X86_LOC_GPR(X86_RAX), ops, 256);
    rec_buf_reset(&b);
    assert_int_equal(otu_verdict(&b, &j, 1, ops, nb, 0, 3, "", ""), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    assert_int_equal(st->tests_failed_rejects, 1);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_HIT_QEMU_ONLY);

    /* a malformed record is rejected with a message */
    static const uint8_t junk[] = { 0x93, 0x13, 0x01, 0xc0 };
    assert_int_equal(offload_handle_record(off, junk, sizeof junk, err, sizeof err), -1);
    assert_int_equal(st->bad_records, 1);

    /* the report, with cfg's summary and picture in the same directory */
    mkdir(repdir, 0700);
    char cfgf[700];
    snprintf(cfgf, sizeof cfgf, "%s/cfg.json", repdir);
    FILE *cf = fopen(cfgf, "w");
    assert_non_null(cf);
    fputs("{\"format\":\"tcgl-cfg/1\",\"tbs\":77,\"executions\":12345,\"counters\":{\"samples\":640}}\n", cf);
    fclose(cf);
    snprintf(cfgf, sizeof cfgf, "%s/cfg.svg", repdir);
    cf = fopen(cfgf, "w");
    assert_non_null(cf);
    fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><g id=\"cfgpic\"/></svg>\n", cf);
    fclose(cf);
    assert_int_equal(offload_write_report(off, repdir, "unit run"), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/report.json", repdir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    assert_non_null(root);
    json_t *cov = json_object_get(root, "coverage");
    assert_non_null(cov);
    assert_non_null(json_object_get(root, "hot_blocks"));
    assert_int_equal(json_array_size(json_object_get(root, "hot_blocks")), 4);
    json_t *w0 = json_array_get(json_object_get(root, "workloads"), 0);
    assert_non_null(w0);
    assert_int_equal(json_integer_value(json_object_get(w0, "blocks")), 12345);
    assert_int_equal(json_integer_value(json_object_get(w0, "tbs")), 77);
    json_decref(root);
    snprintf(path, sizeof path, "%s/report.html", repdir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char html[1 << 20];
    size_t hl = fread(html, 1, sizeof html - 1, f);
    html[hl] = '\0';
    fclose(f);
    assert_non_null(strstr(html, "<svg"));
    assert_non_null(strstr(html, "cfgpic"));   /* the CFG picture is embedded */

    rec_buf_free(&b);
    offload_free(off);
    library_close(lib);
    ltu_rmtree(dir);
}

/* A sample of an instance whose immediate differs from the template's
 * placeholder is not replayed against the template's microcode (skipped,
 * counted); one whose immediate is the placeholder is. */
static void test_replay_skips_parameterised_instances(void **state)
{
    (void)state;
    static const uint8_t add_imm[] = { 0x48, 0x83, 0xc0, 0x10 };   /* add rax, 0x10 (placeholder) */
    x86_locset lo = X86_LOC_GPR(X86_RAX);
    struct offload_options o = { .workload = "unit" };
    struct offload *off = offload_new(NULL, &o);
    assert_non_null(off);
    struct rec_sample s[2];
    memset(s, 0, sizeof s);
    for (unsigned i = 0; i < 2; i++) {
        s[i].pre.gpr[X86_RAX] = 100;
        s[i].pre.rip = 0x401000 + 0x100 * i;
        s[i].pre.rflags = 2;
        s[i].post.present = true;
        s[i].post.regs = s[i].pre;
        s[i].post.regs.gpr[X86_RAX] = i == 0 ? 105 : 116;
        s[i].post.regs.rip = s[i].pre.rip + 4;
    }
    struct rec_synth_job j;
    struct rec_instance inst[2];
    char key[LIBRARY_KEY_HEX_LEN + 1];
    otu_job(&j, key, add_imm, sizeof add_imm, lo, &inst[0], s, 2);
    uint64_t imm5 = 5, imm16 = 0x10;
    inst[1] = inst[0];
    inst[0].imms.n = 1; inst[0].imms.v = &imm5;                      /* real add rax, 5 */
    inst[1].pc = 0x401100; inst[1].imms.n = 1; inst[1].imms.v = &imm16;
    j.instances.n = 2;
    j.instances.v = inst;
    uint8_t ops[1024];
    size_t nb = otu_microcode(add_imm, sizeof add_imm, lo, ops, 256);
    struct rec_buf b;
    rec_buf_init(&b);
    char err[400];
    assert_int_equal(otu_verdict(&b, &j, 0, ops, nb, 0, 0, "", ""), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    const struct offload_stats *st = offload_get_stats(off);
    assert_int_equal(st->replay_param_skips, 1);
    assert_int_equal(st->replay_checked, 1);
    assert_int_equal(st->replay_agreed, 1);
    assert_int_equal(st->replay_disagreed, 0);
    assert_int_equal(offload_find(off, key)->status, REPORT_BLOCK_OFFLOADED);
    rec_buf_free(&b);
    offload_free(off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_agrees_for_correct_microcode),
        cmocka_unit_test(test_replay_detects_wrong_microcode),
        cmocka_unit_test(test_offload_stores_replays_and_reports),
        cmocka_unit_test(test_replay_skips_parameterised_instances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
