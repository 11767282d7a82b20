/* test_microcode_cache.c — REQ-TL-006 through synth: the first request for a
 * template synthesizes and (proved) stores it; a second request for the same
 * template is a library hit with the same microcode and no synthesis; a
 * changed live-out set or another ISA version is a miss; a QEMU-only
 * template is remembered as such. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../stages/synth/synth.h"
#include "library_test_util.h"

static struct synth *new_synth(struct library *lib)
{
    struct synth_options o;
    synth_options_default(&o);
    o.prove_baseline = true;
    o.store_proved = true;
    o.budget_ms = 50;
    return synth_new(&o, lib, NULL);
}

static void test_cache_hit_and_misses(void **state)
{
    (void)state;
    char *dir = ltu_tempdir();
    assert_non_null(dir);
    struct library *lib = library_open(dir, NULL);
    assert_non_null(lib);
    struct synth *s = new_synth(lib);
    static struct synth_result a, b, c;
    /* lea eax, [rbx + rcx*4 + 8]; add eax, edx; mov [rdi], eax */
    const uint8_t code[] = { 0x8d, 0x44, 0x8b, 0x08, 0x01, 0xd0, 0x89, 0x07 };
    x86_locset live = X86_LOC_GPR(X86_RAX) | X86_LOC_FLAG(X86_ZF) | X86_LOC_MEM;
    synth_template(s, 1, code, sizeof code, 64, live, &a);
    assert_true(a.outcome == SYNTH_BASELINE || a.outcome == SYNTH_OPTIMIZED);
    assert_true(a.proved);
    synth_template(s, 2, code, sizeof code, 64, live, &b);
    assert_int_equal(b.outcome, SYNTH_HIT);
    assert_int_equal(b.method, LIBRARY_METHOD_LIBRARY_HIT);
    assert_int_equal(b.nops, a.nops);
    assert_memory_equal(b.ops, a.ops, a.nops * sizeof a.ops[0]);
    assert_string_equal(b.key, a.key);
    assert_int_equal(b.baseline_us, 0);   /* no synthesis happened */
    /* another live-out set: another key, a miss */
    synth_template(s, 3, code, sizeof code, 64, live | X86_LOC_FLAG(X86_CF), &c);
    assert_int_not_equal(c.outcome, SYNTH_HIT);
    assert_string_not_equal(c.key, a.key);
    synth_free(s);
    library_close(lib);

    /* another ISA version: the same template misses */
    struct library_options lo = { .isa_version = LIBRARY_ISA_VERSION + 1 };
    lib = library_open(dir, &lo);
    assert_non_null(lib);
    s = new_synth(lib);
    synth_template(s, 4, code, sizeof code, 64, live, &c);
    assert_int_not_equal(c.outcome, SYNTH_HIT);
    assert_string_not_equal(c.key, a.key);
    synth_free(s);
    library_close(lib);

    /* reopened with the default versions: still a hit (persisted) */
    lib = library_open(dir, NULL);
    s = new_synth(lib);
    synth_template(s, 5, code, sizeof code, 64, live, &c);
    assert_int_equal(c.outcome, SYNTH_HIT);
    struct synth_stats st;
    synth_get_stats(s, &st);
    assert_int_equal(st.hits, 1);
    synth_free(s);
    library_close(lib);
    ltu_rmtree(dir);
}

static void test_cache_qemu_only_marker(void **state)
{
    (void)state;
    char *dir = ltu_tempdir();
    struct library *lib = library_open(dir, NULL);
    struct synth *s = new_synth(lib);
    static struct synth_result a, b;
    const uint8_t code[] = { 0x0f, 0xa2 };   /* cpuid */
    synth_template(s, 1, code, sizeof code, 64, X86_LOC_ALL, &a);
    assert_int_equal(a.outcome, SYNTH_QEMU_ONLY);
    synth_template(s, 2, code, sizeof code, 64, X86_LOC_ALL, &b);
    assert_int_equal(b.outcome, SYNTH_QEMU_ONLY);
    assert_string_equal(b.mnemonic, "cpuid");
    struct library_stats ls;
    library_get_stats(lib, &ls);
    assert_int_equal(ls.qemu_only_hits, 1);
    synth_free(s);
    library_close(lib);
    ltu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_hit_and_misses),
        cmocka_unit_test(test_cache_qemu_only_marker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
