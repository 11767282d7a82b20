/* test_verify_faults.c — the concrete tests' fault rules (docs/verification.md):
 * when x86 faults the microcode must fault too (same class: #DE <-> Pixel
 * DIV, #PF/#GP <-> Pixel MEM), and vice versa; matching faults pass.
 *   - div ebx (f7 f3): #DE on a zero divisor and on a quotient that does not
 *     fit 32 bits; microcode that faults in both cases passes (and some
 *     states do fault), microcode that misses the overflow case fails;
 *   - mov eax, [rdi] on a sampled state with no memory at all: x86 faults
 *     (#PF), microcode that loads faults alike (passes), microcode that does
 *     not load does not fault (fails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../stages/verify/concrete.h"
#include "test_verify_patterns.h"
#include "verify_test_engine.h"

static void run(const char *hex, x86_locset live, const char *pixel, unsigned nstates,
                const struct vconc_sample *s, size_t ns, struct vconc_result *r)
{
    uint8_t code[32];
    size_t len = tv_hex(hex, code, sizeof code);
    struct pixel_insn prog[64];
    char err[320];
    int n = pixel_asm(pixel, prog, 64, err, sizeof err);
    if (n < 0) fail_msg("asm: %s", err);
    struct vconc_opts o;
    vconc_opts_default(&o);
    o.nstates = nstates;
    if (vconc_run(eng, code, len, live, prog, (size_t)n, s, ns, &o, r, err, sizeof err) < 0) fail_msg("%s", err);
    printf("  %-12s states %5u failed %5u faulted alike %5u oracle-disagree %u %.120s\n", hex, r->states, r->failed,
           r->faulted, r->oracle_disagree, r->first_failure);
}

/* edx:eax / ebx; a zero divisor faults in DIV, an oversized quotient makes
 * R29 zero and the second DIV fault. */
#define DIV_BODY \
    "ZEXT32 R24, R3\n SHLI R25, R2, 32\n ZEXT32 R26, R0\n OR R25, R25, R26\n" \
    " DIV R27, R25, R24\n REMU R28, R25, R24\n"
#define DIV_TAIL " ZEXT32 R0, R27\n ZEXT32 R2, R28\n ADDI R22, R22, 2\n"

static void test_verify_faults_divide(void **state)
{
    (void)state;
    struct vconc_result r;
    run("f7 f3", TV_GPR(RAX) | TV_GPR(RDX) | X86_LOC_RIP,
        DIV_BODY " SHRI R29, R27, 32\n CMPEQZ R29, R29\n DIV R30, R29, R29\n" DIV_TAIL, 2000, NULL, 0, &r);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.oracle_disagree, 0);
    assert_true(r.faulted > 100);   /* zero divisors and overflows are edge values */
    assert_true(r.faulted < r.states);
    /* missing overflow check: x86 #DE where Pixel finishes */
    run("f7 f3", TV_GPR(RAX) | TV_GPR(RDX) | X86_LOC_RIP, DIV_BODY DIV_TAIL, 2000, NULL, 0, &r);
    assert_true(r.failed > 0);
    assert_non_null(strstr(r.first_failure, "fault: x86 divide error"));
}

static void test_verify_faults_memory(void **state)
{
    (void)state;
    static const struct x86_regs pre = { .gpr = { [X86_RDI] = 0x300000004000ull }, .rip = 0x310000000000ull,
                                         .rflags = 0x202 };
    struct vconc_sample s = { .pre = &pre, .acc = NULL, .nacc = 0 };
    struct vconc_result r;
    run("8b 07", TV_GPR(RAX), "LD32 R0, [R7]\n ADDI R22, R22, 2\n", 0, &s, 1, &r);
    assert_int_equal(r.states, 1);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.faulted, 1);
    run("8b 07", TV_GPR(RAX), "LDI R0, 0\n ADDI R22, R22, 2\n", 0, &s, 1, &r);
    assert_int_equal(r.failed, 1);
    assert_non_null(strstr(r.first_failure, "fault: x86 memory fault"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_faults_divide),
        cmocka_unit_test(test_verify_faults_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
