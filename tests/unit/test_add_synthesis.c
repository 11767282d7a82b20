/* test_add_synthesis.c — the seeds' scenario (REQ-TL-004): ADD EAX, EBX
 * produces Pixel microcode that is proved equivalent by Z3 (EAX, ZF, CF and
 * the rest of the flags live), runs right in the interpreter, and is logged;
 * CPUID and RDTSC blocks become QEMU-only with reason and mnemonic, and the
 * stage goes on with the next job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../stages/synth/job.h"
#include "../../stages/synth/synth.h"
#include "equiv.h"
#include "pixel_interp.h"
#include "pixel_state.h"
#include "test_synth_util.h"

#define LIVE_ADD (X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS)

static void test_add_eax_ebx_proved(void **state)
{
    (void)state;
    struct synth_options o;
    synth_options_default(&o);
    o.prove_baseline = true;
    FILE *audit = tmpfile();
    assert_non_null(audit);
    struct synth *s = synth_new(&o, NULL, audit);
    assert_non_null(s);
    static struct synth_result r;
    const uint8_t code[] = { 0x01, 0xd8 };   /* add eax, ebx */
    synth_template(s, 7, code, sizeof code, 64, LIVE_ADD, &r);
    assert_true(r.outcome == SYNTH_BASELINE || r.outcome == SYNTH_OPTIMIZED);
    assert_true(r.proved);
    assert_int_equal(r.proof, EQUIV_PROVED);
    assert_true(r.nops > 0);
    assert_true(r.cost <= r.baseline_cost);
    /* independently: the full query on the returned ops */
    struct equiv_result er;
    struct equiv_opts eo = { .timeout_ms = 20000 };
    assert_int_equal(equiv_check_code(code, sizeof code, 0x1000, LIVE_ADD, r.ops, r.nops, &eo, &er),
                     EQUIV_PROVED);
    /* and concretely: 0xffffffff + 1 = 0 with ZF = CF = 1, upper half cleared */
    struct x86_regs x = { 0 };
    x.gpr[X86_RAX] = 0x12345678ffffffffull;
    x.gpr[X86_RBX] = 1;
    x.rip = 0x1000;
    struct pixel_state ps;
    pixel_state_from_x86(&x, NULL, &ps);
    assert_int_equal(pixel_run(r.ops, r.nops, &ps, 0, NULL), PIXEL_FAULT_NONE);
    assert_int_equal(ps.r[PIXEL_REG_GPR(X86_RAX)], 0);
    assert_int_equal(ps.r[PIXEL_REG_ZF], 1);
    assert_int_equal(ps.r[PIXEL_REG_CF], 1);
    assert_int_equal(ps.r[PIXEL_REG_OF], 0);
    assert_int_equal(ps.r[PIXEL_REG_RIP], 0x1002);
    /* the audit log has the job */
    rewind(audit);
    char line[2048];
    assert_non_null(fgets(line, sizeof line, audit));
    assert_non_null(strstr(line, "\"job\":7"));
    assert_true(strstr(line, "\"outcome\":\"baseline\"") || strstr(line, "\"outcome\":\"optimized\""));
    assert_non_null(strstr(line, "\"synth_us\":"));
    fclose(audit);
    synth_free(s);
}

/* Only EAX live (the seeds' first constraint): the flag computations are
 * dead and eliminated; the result is still proved. */
static void test_add_eax_only_live_is_smaller(void **state)
{
    (void)state;
    struct synth_options o;
    synth_options_default(&o);
    o.prove_baseline = true;
    struct synth *s = synth_new(&o, NULL, NULL);
    static struct synth_result all, one;
    const uint8_t code[] = { 0x01, 0xd8 };
    synth_template(s, 1, code, sizeof code, 64, LIVE_ADD, &all);
    synth_template(s, 2, code, sizeof code, 64, X86_LOC_GPR(X86_RAX), &one);
    assert_true(one.proved);
    assert_true(one.nops < all.nops);
    assert_true(one.baseline_cost < all.baseline_cost);
    synth_free(s);
}

static void test_cpuid_rdtsc_qemu_only_and_go_on(void **state)
{
    (void)state;
    struct synth_options o;
    synth_options_default(&o);
    FILE *audit = tmpfile();
    struct synth *s = synth_new(&o, NULL, audit);
    static struct synth_result r;
    const uint8_t cpuid[] = { 0x31, 0xc0, 0x0f, 0xa2 };          /* xor eax, eax; cpuid */
    const uint8_t rdtsc[] = { 0x0f, 0x31, 0x48, 0x01, 0xd8 };    /* rdtsc; add rax, rbx */
    const uint8_t syscall_[] = { 0x0f, 0x05 };
    const uint8_t add[] = { 0x01, 0xd8 };
    synth_template(s, 1, cpuid, sizeof cpuid, 64, X86_LOC_ALL, &r);
    assert_int_equal(r.outcome, SYNTH_QEMU_ONLY);
    assert_int_equal(r.method, LIBRARY_METHOD_QEMU_ONLY);
    assert_string_equal(r.mnemonic, "cpuid");
    assert_non_null(strstr(r.reason, "cpuid"));
    assert_int_equal(r.nops, 0);
    synth_template(s, 2, rdtsc, sizeof rdtsc, 64, X86_LOC_ALL, &r);
    assert_int_equal(r.outcome, SYNTH_QEMU_ONLY);
    assert_string_equal(r.mnemonic, "rdtsc");
    synth_template(s, 3, syscall_, sizeof syscall_, 64, X86_LOC_ALL, &r);
    assert_int_equal(r.outcome, SYNTH_QEMU_ONLY);
    assert_string_equal(r.mnemonic, "syscall");
    /* 32-bit code and garbage are QEMU-only too, with a reason */
    synth_template(s, 4, add, sizeof add, 32, X86_LOC_ALL, &r);
    assert_int_equal(r.outcome, SYNTH_QEMU_ONLY);
    assert_non_null(strstr(r.reason, "64-bit"));
    const uint8_t junk[] = { 0x48, 0x8b };   /* mov, cut short */
    synth_template(s, 5, junk, sizeof junk, 64, X86_LOC_ALL, &r);
    assert_int_equal(r.outcome, SYNTH_QEMU_ONLY);
    assert_non_null(strstr(r.reason, "undecodable"));
    /* the stage goes on */
    synth_template(s, 6, add, sizeof add, 64, X86_LOC_GPR(X86_RAX), &r);
    assert_true(r.outcome == SYNTH_BASELINE || r.outcome == SYNTH_OPTIMIZED);
    struct synth_stats st;
    synth_get_stats(s, &st);
    assert_int_equal(st.jobs, 6);
    assert_int_equal(st.qemu_only, 5);
    /* every attempt is in the audit log, QEMU-only ones with the mnemonic */
    rewind(audit);
    char line[2048];
    int n = 0, with_mn = 0;
    while (fgets(line, sizeof line, audit)) {
        n++;
        if (strstr(line, "\"outcome\":\"qemu_only\"") && strstr(line, "\"mnemonic\":\""))
            with_mn++;
    }
    assert_int_equal(n, 6);
    assert_int_equal(with_mn, 3);
    fclose(audit);
    synth_free(s);
}

/* The record hand-off: a job becomes a candidate with the job nested. */
static void test_job_to_candidate(void **state)
{
    (void)state;
    struct synth_options o;
    synth_options_default(&o);
    o.optimize = false;
    struct synth *s = synth_new(&o, NULL, NULL);
    static struct synth_job_out jo;
    const uint8_t add[] = { 0x01, 0xd8 };
    struct rec_synth_job job = { 0 };
    static const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    job.job_id = 42;
    job.template_key = (struct rec_str){ key, 64 };
    job.code = (struct rec_bin){ add, sizeof add };
    job.cpu_mode = 64;
    job.live_out = X86_LOC_GPR(X86_RAX);
    synth_job_run(s, &job, &jo);
    assert_int_equal(jo.cand.method, LIBRARY_METHOD_BASELINE);
    assert_int_equal(jo.cand.job.job_id, 42);
    assert_int_equal(jo.cand.pixel_ops.len % 4, 0);
    assert_true(jo.cand.pixel_ops.len > 0);
    struct rec_buf b;
    rec_buf_init(&b);
    struct rec_error err;
    if (rec_encode_candidate(&b, &jo.cand, &err) != 0)
        fail_msg("candidate not encodable: %s", err.msg);
    rec_buf_free(&b);
    /* a lib_hit job is passed through without synthesis */
    job.lib_hit = true;
    job.cached_ops = jo.cand.pixel_ops;
    static struct synth_job_out jo2;
    synth_job_run(s, &job, &jo2);
    assert_int_equal(jo2.cand.method, LIBRARY_METHOD_LIBRARY_HIT);
    assert_int_equal(jo2.cand.pixel_ops.len, jo.cand.pixel_ops.len);
    synth_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_eax_ebx_proved),
        cmocka_unit_test(test_add_eax_only_live_is_smaller),
        cmocka_unit_test(test_cpuid_rdtsc_qemu_only_and_go_on),
        cmocka_unit_test(test_job_to_candidate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
