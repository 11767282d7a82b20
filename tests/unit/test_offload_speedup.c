/* test_offload_speedup.c — the speedup harness (stages/offload/speedup.c)
 * really runs: the generated static-pie harness is compiled with gcc, runs
 * under the static qemu-x86_64 and natively under its seccomp filter, and
 * its outputs (live-out registers, flags, memory) equal the reference
 * interpreter's on every state.  Outputs are checked, never times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../stages/offload/speedup.h"
#include "library_test_util.h"
#include "offload_test_util.h"

/* mov rdx, [rcx+8]; add rax, rbx; imul rdx, rax; xor rsi, rdx; mov [rcx], rsi; jne +0 */
static const uint8_t mem_alu[] = { 0x48, 0x8b, 0x51, 0x08, 0x48, 0x01, 0xd8, 0x48, 0x0f, 0xaf, 0xd0,
                                   0x48, 0x31, 0xd6, 0x48, 0x89, 0x31, 0x75, 0x00 };

static void make_samples(struct rec_sample *s, struct x86_mem_access (*acc)[2], unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].pre.gpr[X86_RAX] = 0x1234567 * (i + 1);
        s[i].pre.gpr[X86_RBX] = ~0ull - 77 * i;
        s[i].pre.gpr[X86_RCX] = OTU_DATA + 16 * i;
        s[i].pre.gpr[X86_RSI] = 0xdeadbeef00ull + i;
        s[i].pre.rip = OTU_RIP;
        s[i].pre.rflags = 0x202;
        acc[i][0] = (struct x86_mem_access){ OTU_DATA + 16 * i + 8, 0x1111 * (i + 3), 8, false };
        acc[i][1] = (struct x86_mem_access){ OTU_DATA + 16 * i, 0, 8, true };
        s[i].mem.n = 2;
        s[i].mem.v = acc[i];
    }
}

static bool have(const char *path) { return access(path, X_OK) == 0; }

static void test_harness_matches_interpreter(void **state)
{
    (void)state;
    if (!have("/usr/bin/qemu-x86_64") || !have("/usr/bin/gcc")) {
        skip();
        return;
    }
    x86_locset lo = X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS | X86_LOC_MEM | X86_LOC_RIP;
    struct pixel_insn ops[256];
    char err[200];
    int n = synth_baseline(mem_alu, sizeof mem_alu, lo, false, ops, 256, err, sizeof err);
    if (n < 0) fprintf(stderr, "baseline: %s\n", err);
    assert_true(n > 0);
    struct rec_sample s[8];
    struct x86_mem_access acc[8][2];
    make_samples(s, acc, 8);
    char *dir = ltu_tempdir();
    assert_non_null(dir);
    struct speedup_block b = { "t1", mem_alu, sizeof mem_alu, X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS, lo, ops, (size_t)n, s, 8 };
    struct speedup_options o;
    speedup_options_default(&o);
    o.work_dir = dir;
    o.nstates = 64;
    o.reps = 2;
    struct speedup_result r;
    assert_int_equal(speedup_measure(&b, &o, &r), 0);
    if (!r.measured) fprintf(stderr, "not measured: %s\n", r.why);
    assert_true(r.measured);
    assert_int_equal(r.outputs_checked, 2 * 64);   /* qemu and native, every state */
    assert_int_equal(r.outputs_mismatched, 0);
    assert_int_equal(r.x86_insns, 5);               /* the jne is not timed */
    assert_true(r.qemu_s > 0 && r.batched_s > 0 && r.interp_s > 0 && r.native_s > 0);
    assert_true(r.predicted_cost > 0);
    printf("perf: %s (%s)\n", r.perf_available ? "available" : "unavailable", r.perf_note);

    /* The timed entry loads only the live-ins (and live-outs): with the
     * exact sets it is measured; with a live-in left out (rbx) the check
     * pass catches it. */
    b.live_in = X86_LOC_GPR(X86_RAX) | X86_LOC_GPR(X86_RBX) | X86_LOC_GPR(X86_RCX) | X86_LOC_GPR(X86_RSI);
    b.live_out = X86_LOC_GPR(X86_RAX) | X86_LOC_GPR(X86_RDX) | X86_LOC_GPR(X86_RSI) | X86_LOC_MEM;
    b.name = "t1_lean";
    assert_int_equal(speedup_measure(&b, &o, &r), 0);
    if (!r.measured) fprintf(stderr, "not measured: %s\n", r.why);
    assert_true(r.measured);
    b.live_in &= ~X86_LOC_GPR(X86_RBX);
    b.name = "t1_short";
    assert_int_equal(speedup_measure(&b, &o, &r), 0);
    fprintf(stderr, "live-in without rbx: %s\n", r.why);
    assert_false(r.measured);
    assert_non_null(strstr(r.why, "live-in set incomplete"));
    b.live_in = X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS;
    b.live_out = lo;

    /* wrong microcode: the harness outputs expose it, no speedup is reported */
    static const uint8_t other[] = { 0x48, 0x8b, 0x51, 0x08, 0x48, 0x29, 0xd8, 0x48, 0x0f, 0xaf, 0xd0,
                                     0x48, 0x31, 0xd6, 0x48, 0x89, 0x31, 0x75, 0x00 };
    n = synth_baseline(other, sizeof other, lo, false, ops, 256, err, sizeof err);
    assert_true(n > 0);
    b.ops = ops;
    b.nops = (size_t)n;
    b.name = "t2";
    o.run_native = false;
    assert_int_equal(speedup_measure(&b, &o, &r), 0);
    assert_false(r.measured);
    assert_true(r.outputs_mismatched > 0);
    assert_non_null(strstr(r.why, "differ"));

    /* a block ending in ret is not timed, and says why */
    static const uint8_t with_ret[] = { 0x48, 0x01, 0xd8, 0xc3 };
    b.code = with_ret;
    b.code_len = sizeof with_ret;
    assert_int_equal(speedup_measure(&b, &o, &r), 0);
    assert_false(r.measured);
    assert_non_null(strstr(r.why, "ret"));
    ltu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_harness_matches_interpreter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
