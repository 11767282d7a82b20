/* test_fallback_correctness.c — a QEMU-only block is logged once, never
 * offloaded, never retried (stages/offload/offload.c): the QEMU-only
 * candidate becomes a library marker, every later record or execution of
 * the block only counts a fallback event, and microcode that turns up later
 * for the same template is not taken in the same run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../stages/offload/offload.h"
#include "library_test_util.h"
#include "offload_test_util.h"

/* cpuid; add rax, rbx — QEMU-only because of cpuid */
static const uint8_t cpuid_code[] = { 0x0f, 0xa2, 0x48, 0x01, 0xd8 };

static void test_fallback_correctness(void **state)
{
    (void)state;
    char *dir = ltu_tempdir();
    assert_non_null(dir);
    struct library *lib = library_open(dir, NULL);
    assert_non_null(lib);
    struct offload_options o = { .workload = "unit" };
    struct offload *off = offload_new(lib, &o);
    assert_non_null(off);
    const struct offload_stats *st = offload_get_stats(off);

    struct rec_sample s[3];
    struct x86_mem_access acc[3];
    for (unsigned i = 0; i < 3; i++) otu_sample(&s[i], &acc[i], i, i + 1);
    struct rec_synth_job j;
    struct rec_instance inst;
    char key[LIBRARY_KEY_HEX_LEN + 1];
    x86_locset lo = X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS;
    otu_job(&j, key, cpuid_code, sizeof cpuid_code, lo, &inst, s, 3);
    struct rec_buf b;
    rec_buf_init(&b);
    char err[400];

    /* the QEMU-only candidate: a marker, one log line, one event per sampled execution */
    assert_int_equal(otu_verdict(&b, &j, 3, NULL, 0, 4, 0, "cpuid is not modelled", "cpuid"), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    const struct offload_tmpl *t = offload_find(off, key);
    assert_non_null(t);
    assert_int_equal(t->status, REPORT_BLOCK_QEMU_ONLY);
    assert_null(t->ops);
    assert_int_equal(st->stored_qemu_only, 1);
    assert_int_equal(st->fallback_logged, 1);
    assert_int_equal(st->fallback_events, 3);
    struct library_entry e;
    library_entry_init(&e);
    assert_int_equal(library_lookup(lib, key, &e), LIBRARY_HIT_QEMU_ONLY);
    assert_string_equal(e.mnemonic, "cpuid");
    library_entry_free(&e);

    /* the same record again (at-least-once delivery): not retried, not logged again */
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    assert_int_equal(st->fallback_logged, 1);
    assert_int_equal(st->fallback_events, 4);
    assert_int_equal(st->stored_qemu_only, 1);

    /* the block executes again: it runs in QEMU, logged once in all */
    for (int i = 0; i < 5; i++) assert_true(offload_fallback(off, key));
    assert_int_equal(st->fallback_logged, 1);
    assert_int_equal(st->fallback_events, 9);

    /* microcode that turns up later for the same template is not taken */
    uint8_t ops[1024];
    size_t nb = otu_microcode(otu_add_store, sizeof otu_add_store, OTU_LIVE_OUT, ops, 256);
    rec_buf_reset(&b);
    assert_int_equal(otu_verdict(&b, &j, 0, ops, nb, 0, 0, "", ""), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    t = offload_find(off, key);
    assert_int_equal(t->status, REPORT_BLOCK_QEMU_ONLY);
    assert_null(t->ops);
    assert_int_equal(t->replay_checked, 0);
    assert_int_equal(st->stored_verified, 0);
    assert_int_equal(st->replay_checked, 0);
    assert_int_equal(st->user_insns_offloaded, 0);
    assert_int_equal(st->fallback_logged, 1);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_HIT_QEMU_ONLY);

    /* a cluster job for it (no microcode) changes nothing either */
    rec_buf_reset(&b);
    assert_int_equal(rec_encode_synth_job(&b, &j, NULL), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    assert_int_equal(offload_find(off, key)->status, REPORT_BLOCK_QEMU_ONLY);
    assert_int_equal(st->fallback_logged, 1);
    assert_int_equal(offload_ntemplates(off), 1);

    /* a block with verified microcode is no fallback */
    otu_job(&j, key, otu_add_store, sizeof otu_add_store, OTU_LIVE_OUT, &inst, s, 3);
    rec_buf_reset(&b);
    assert_int_equal(otu_verdict(&b, &j, 0, ops, nb, 0, 0, "", ""), 0);
    assert_int_equal(offload_handle_record(off, b.data, b.len, err, sizeof err), 0);
    assert_false(offload_fallback(off, key));
    assert_int_equal(st->fallback_logged, 1);

    /* a fresh handle on the same library: the marker still holds */
    struct offload *off2 = offload_new(lib, &o);
    otu_job(&j, key, cpuid_code, sizeof cpuid_code, lo, &inst, s, 3);
    rec_buf_reset(&b);
    assert_int_equal(rec_encode_synth_job(&b, &j, NULL), 0);
    assert_int_equal(offload_handle_record(off2, b.data, b.len, err, sizeof err), 0);
    assert_int_equal(offload_find(off2, key)->status, REPORT_BLOCK_QEMU_ONLY);
    assert_int_equal(offload_get_stats(off2)->fallback_logged, 1);
    offload_free(off2);

    rec_buf_free(&b);
    offload_free(off);
    library_close(lib);
    ltu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fallback_correctness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
