/* test_concrete_validation.c — correct microcode passes the concrete tests:
 * 10,000 generated states per pattern (never fewer, even under ASan), plus
 * sampled states where a pattern has them, against both x86 oracles (QEMU
 * TCG through Unicorn, the host CPU) with no failure and no disagreement
 * between the oracles; the proof agrees (proved).  Also: the batched Pixel
 * executor and the reference interpreter give the same verdicts and counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../stages/verify/concrete.h"
#include "../../stages/synth/synth.h"
#include "equiv.h"
#include "test_verify_patterns.h"
#include "verify_test_engine.h"

#define STATES 10000u

/* A traced state where rsi == rdi (the aliasing case generated states never
 * produce: they give each base register its own region). */
static const struct x86_regs alias_pre = {
    .gpr = { [X86_RAX] = 0x11223344aabbccddull, [X86_RBX] = 0x5555, [X86_RSI] = 0x300000001010ull,
             [X86_RDI] = 0x300000001010ull, [X86_RSP] = 0x300000002800ull },
    .rip = 0x310000000000ull, .rflags = 0x246,
};
static const struct x86_mem_access alias_acc[] = {
    { .addr = 0x300000001010ull, .value = 0xaabbccdd, .size = 4, .is_store = true },
    { .addr = 0x300000001010ull, .value = 0xaabbccdd, .size = 4, .is_store = false },
};

static void run_pattern(const struct tv_pattern *p, bool interp_only, struct vconc_result *r)
{
    uint8_t code[32];
    size_t len = tv_hex(p->hex, code, sizeof code);
    struct pixel_insn prog[64];
    char err[320];
    int n = pixel_asm(p->pixel, prog, 64, err, sizeof err);
    if (n < 0) fail_msg("%s: asm: %s", p->name, err);
    struct vconc_opts o;
    vconc_opts_default(&o);
    o.nstates = STATES;
    o.interp_only = interp_only;
    struct vconc_sample s = { .pre = &alias_pre, .acc = alias_acc, .nacc = 2 };
    bool with_sample = strstr(p->name, "[rsi]") != NULL;
    if (vconc_run(eng, code, len, p->live, prog, (size_t)n, with_sample ? &s : NULL, with_sample ? 1 : 0, &o, r,
                  err, sizeof err) < 0)
        fail_msg("%s: %s", p->name, err);
}

static void test_concrete_validation_patterns(void **state)
{
    (void)state;
    for (size_t i = 0; i < TV_NPATTERNS; i++) {
        const struct tv_pattern *p = &tv_patterns[i];
        struct vconc_result r;
        run_pattern(p, false, &r);
        printf("  %-36s states %5u  unicorn %5u  native %5u  failed %u  oracle-disagree %u  faulted %u  "
               "%6.1f ms (unicorn %.1f native %.1f pixel %.1f)\n",
               p->name, r.states, r.tests_unicorn, r.tests_native, r.failed, r.oracle_disagree, r.faulted,
               r.us / 1e3, r.unicorn_us / 1e3, r.native_us / 1e3, r.pixel_us / 1e3);
        if (r.failed) fail_msg("%s: %s", p->name, r.first_failure);
        if (r.oracle_disagree) fail_msg("%s: %s", p->name, r.first_oracle_disagreement);
        assert_true(r.states >= STATES);
        assert_true(r.tests_unicorn >= STATES);
        assert_true(r.tests_native >= STATES);
        if (strstr(p->name, "[rsi]")) assert_int_equal(r.samples_run, 1);
    }
}

static void test_concrete_validation_proofs(void **state)
{
    (void)state;
    for (size_t i = 0; i < TV_NPATTERNS; i++) {
        const struct tv_pattern *p = &tv_patterns[i];
        uint8_t code[32];
        size_t len = tv_hex(p->hex, code, sizeof code);
        struct pixel_insn prog[64];
        char err[320];
        int n = pixel_asm(p->pixel, prog, 64, err, sizeof err);
        assert_true(n > 0);
        struct equiv_opts eo = { .timeout_ms = 20000 };
        struct equiv_result er;
        enum equiv_status s = equiv_check_code(code, len, 0x1000, p->live, prog, (size_t)n, &eo, &er);
        if (s != EQUIV_PROVED) {
            char buf[2048];
            equiv_cex_format(&er.cex, buf, sizeof buf);
            fail_msg("%s: %s %s %s", p->name, equiv_status_name(s), er.msg, buf);
        }
    }
}

/* The synth stage's baseline lowering of every pattern passes too: 10,000
 * states against both oracles, no failure, no oracle disagreement. */
static void test_concrete_validation_synth_baseline(void **state)
{
    (void)state;
    unsigned lowered = 0;
    for (size_t i = 0; i < TV_NPATTERNS; i++) {
        const struct tv_pattern *p = &tv_patterns[i];
        uint8_t code[32];
        size_t len = tv_hex(p->hex, code, sizeof code);
        static struct pixel_insn prog[SYNTH_MAX_OPS];
        char err[320];
        int n = synth_baseline(code, len, p->live, false, prog, SYNTH_MAX_OPS, err, sizeof err);
        if (n < 0) {
            printf("  %-36s synth baseline: not lowered (%s)\n", p->name, err);
            continue;
        }
        lowered++;
        struct vconc_opts o;
        vconc_opts_default(&o);
        o.nstates = STATES;
        struct vconc_result r;
        if (vconc_run(eng, code, len, p->live, prog, (size_t)n, NULL, 0, &o, &r, err, sizeof err) < 0)
            fail_msg("%s (synth baseline): %s", p->name, err);
        printf("  %-36s synth baseline %3d ops: states %5u failed %u oracle-disagree %u\n", p->name, n, r.states,
               r.failed, r.oracle_disagree);
        if (r.failed) fail_msg("%s (synth baseline): %s", p->name, r.first_failure);
        assert_int_equal(r.oracle_disagree, 0);
        assert_true(r.tests_unicorn >= STATES && r.tests_native >= STATES);
    }
    assert_true(lowered >= 10);
}

/* The batched executor and the interpreter agree (same counts, no failure)
 * on a flag-heavy and a memory pattern. */
static void test_concrete_validation_batch_vs_interp(void **state)
{
    (void)state;
    const size_t pick[] = { 0, 13, 17 };
    for (size_t k = 0; k < sizeof pick / sizeof pick[0]; k++) {
        struct vconc_result a, b;
        run_pattern(&tv_patterns[pick[k]], false, &a);
        run_pattern(&tv_patterns[pick[k]], true, &b);
        assert_int_equal(a.failed, 0);
        assert_int_equal(b.failed, 0);
        assert_int_equal(a.tests_unicorn, b.tests_unicorn);
        assert_int_equal(a.tests_native, b.tests_native);
        assert_int_equal(a.faulted, b.faulted);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concrete_validation_patterns),
        cmocka_unit_test(test_concrete_validation_proofs),
        cmocka_unit_test(test_concrete_validation_batch_vs_interp),
        cmocka_unit_test(test_concrete_validation_synth_baseline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
