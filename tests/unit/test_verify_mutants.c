/* test_verify_mutants.c — mutation testing of the verifier: planted faults
 * in otherwise correct microcode (test_verify_patterns.h) must ALL be
 * rejected, by the proof (Z3: refuted) AND, independently, by the concrete
 * tests (Unicorn + native + Pixel: some state disagrees).  Each mutant's
 * correct original passes both (checked by test_concrete_validation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../stages/verify/concrete.h"
#include "equiv.h"
#include "test_verify_patterns.h"
#include "verify_test_engine.h"

struct mutant {
    const char *what;
    const char *hex;
    x86_locset live;
    const char *pixel;
    bool alias_sample;      /* test ONLY a traced state where rsi == rdi (no generated states) */
};

#define ADD32_PFX "ZEXT32 R24, R0\n ZEXT32 R25, R3\n ADD R26, R24, R25\n"
#define ADD32_LIVE (TV_GPR(RAX) | TV_ALLFL | X86_LOC_RIP)
#define ADD64_LIVE ADD32_LIVE

static const struct mutant mutants[] = {
    { "off-by-one rip", "01 d8", ADD32_LIVE,
      ADD32_PFX " ZEXT32 R0, R26\n SHRI R16, R26, 32\n CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n"
      " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n XOR R28, R24, R0\n XOR R29, R25, R0\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 3\n", false },
    { "missing zero-extension of a 32-bit result", "01 d8", ADD32_LIVE,
      ADD32_PFX " MOV R0, R26\n SHRI R16, R26, 32\n ZEXT32 R30, R26\n CMPEQZ R19, R30\n BIT R20, R26, 31\n PARITY R17, R26\n"
      " XOR R27, R24, R25\n XOR R27, R27, R26\n BIT R18, R27, 4\n XOR R28, R24, R26\n XOR R29, R25, R26\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n", false },
    { "wrong flag: CF from bit 31", "01 d8", ADD32_LIVE,
      ADD32_PFX " ZEXT32 R0, R26\n SHRI R16, R26, 31\n CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n"
      " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n XOR R28, R24, R0\n XOR R29, R25, R0\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n", false },
    { "wrong flag: ZF of a source operand", "01 d8", ADD32_LIVE,
      ADD32_PFX " ZEXT32 R0, R26\n SHRI R16, R26, 32\n CMPEQZ R19, R3\n BIT R20, R0, 31\n PARITY R17, R0\n"
      " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n XOR R28, R24, R0\n XOR R29, R25, R0\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n", false },
    { "wrong width: SF from bit 63 of a 32-bit result", "01 d8", ADD32_LIVE,
      ADD32_PFX " ZEXT32 R0, R26\n SHRI R16, R26, 32\n CMPEQZ R19, R0\n BIT R20, R0, 63\n PARITY R17, R0\n"
      " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n XOR R28, R24, R0\n XOR R29, R25, R0\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n", false },
    { "swapped operand in OF", "01 d8", ADD32_LIVE,
      ADD32_PFX " ZEXT32 R0, R26\n SHRI R16, R26, 32\n CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n"
      " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n XOR R28, R24, R0\n XOR R29, R24, R0\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n", false },
    { "off-by-one AF bit", "01 d8", ADD32_LIVE,
      ADD32_PFX " ZEXT32 R0, R26\n SHRI R16, R26, 32\n CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n"
      " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 3\n XOR R28, R24, R0\n XOR R29, R25, R0\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n", false },
    { "wrong flag: PF of a source", "01 d8", ADD32_LIVE,
      ADD32_PFX " ZEXT32 R0, R26\n SHRI R16, R26, 32\n CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R24\n"
      " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n XOR R28, R24, R0\n XOR R29, R25, R0\n"
      " AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n", false },
    { "off-by-one comparison for CF (<= instead of <)", "48 01 d8", ADD64_LIVE,
      "ADD R26, R0, R3\n CMPLEU R16, R26, R0\n XOR R27, R0, R3\n XOR R27, R27, R26\n BIT R18, R27, 4\n"
      " XOR R28, R0, R26\n XOR R29, R3, R26\n AND R28, R28, R29\n BIT R21, R28, 63\n"
      " MOV R0, R26\n CMPEQZ R19, R0\n BIT R20, R0, 63\n PARITY R17, R0\n ADDI R22, R22, 3\n", false },
    { "swapped operands of sub", "48 29 d8", ADD64_LIVE,
      "SUB R26, R3, R0\n CMPLTU R16, R0, R3\n XOR R27, R0, R3\n XOR R27, R27, R26\n BIT R18, R27, 4\n"
      " XOR R28, R0, R3\n XOR R29, R0, R26\n AND R28, R28, R29\n BIT R21, R28, 63\n"
      " MOV R0, R26\n CMPEQZ R19, R0\n BIT R20, R0, 63\n PARITY R17, R0\n ADDI R22, R22, 3\n", false },
    { "signed instead of unsigned borrow", "48 29 d8", ADD64_LIVE,
      "SUB R26, R0, R3\n CMPLTS R16, R0, R3\n XOR R27, R0, R3\n XOR R27, R27, R26\n BIT R18, R27, 4\n"
      " XOR R28, R0, R3\n XOR R29, R0, R26\n AND R28, R28, R29\n BIT R21, R28, 63\n"
      " MOV R0, R26\n CMPEQZ R19, R0\n BIT R20, R0, 63\n PARITY R17, R0\n ADDI R22, R22, 3\n", false },
    { "logic op leaves CF as it was", "21 d8", ADD32_LIVE,
      "AND R24, R0, R3\n ZEXT32 R0, R24\n LDI R21, 0\n LDI R18, 0\n"
      " CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n ADDI R22, R22, 2\n", false },
    { "wrong width: 16-bit move", "89 d8", TV_GPR(RAX) | TV_GPR(RBX), "ZEXT16 R0, R3\n ADDI R22, R22, 2\n", false },
    { "uninitialized scratch read", "89 d8", TV_GPR(RAX) | TV_GPR(RBX), "ZEXT32 R0, R25\n ADDI R22, R22, 2\n", false },
    { "clobbered live register", "89 d8", TV_GPR(RAX) | TV_GPR(RBX),
      "ZEXT32 R0, R3\n LDI R3, 0\n ADDI R22, R22, 2\n", false },
    { "partial write clobbers the upper bits", "88 d8", TV_GPR(RAX), "ZEXT8 R0, R3\n ADDI R22, R22, 2\n", false },
    { "high byte instead of low byte", "88 d8", TV_GPR(RAX), "INS8H R0, R3\n ADDI R22, R22, 2\n", false },
    { "missing sign extension", "48 0f be c3", TV_GPR(RAX), "ZEXT8 R0, R3\n ADDI R22, R22, 4\n", false },
    { "sign extension from the wrong width", "48 0f be c3", TV_GPR(RAX), "SEXT16 R0, R3\n ADDI R22, R22, 4\n", false },
    { "wrong scale", "48 8d 04 8b", TV_GPR(RAX), "SHLI R24, R1, 3\n ADD R0, R3, R24\n ADDI R22, R22, 4\n", false },
    { "off-by-one displacement", "48 8d 43 10", TV_GPR(RAX), "ADDI R0, R3, 17\n ADDI R22, R22, 4\n", false },
    { "off-by-one shift count", "48 c1 e0 05", TV_GPR(RAX), "SHLI R0, R0, 4\n ADDI R22, R22, 4\n", false },
    { "wrong shift masking (31 for a 64-bit shift)", "48 d3 e0", TV_GPR(RAX),
      "ANDI R24, R1, 31\n SHL R0, R0, R24\n ADDI R22, R22, 3\n", false },
    { "high half of the product", "48 0f af c3", TV_GPR(RAX), "MULHS R0, R0, R3\n ADDI R22, R22, 4\n", false },
    { "wrong memory width: 16-bit load", "8b 07", TV_GPR(RAX) | X86_LOC_MEM, "LD16 R0, [R7]\n ADDI R22, R22, 2\n", false },
    { "wrong memory width: 64-bit load", "8b 07", TV_GPR(RAX) | X86_LOC_MEM, "LOAD R0, [R7]\n ADDI R22, R22, 2\n", false },
    { "wrong memory width: 64-bit store", "89 07", X86_LOC_MEM, "STORE [R7], R0\n ADDI R22, R22, 2\n", false },
    { "dropped store", "89 07", X86_LOC_MEM, "ADDI R22, R22, 2\n", false },
    { "aliasing: load hoisted above an overlapping store", "89 07 8b 5f 02", TV_GPR(RBX) | X86_LOC_MEM,
      "ADDI R24, R7, 2\n LD32 R3, [R24]\n ST32 [R7], R0\n ADDI R22, R22, 5\n", false },
    { "aliasing through another register, caught by a traced sample alone", "89 07 8b 1e",
      TV_GPR(RBX) | X86_LOC_MEM, "LD32 R3, [R6]\n ST32 [R7], R0\n ADDI R22, R22, 4\n", true },
    { "aliasing, as above, caught by generated aliased states (no sample)", "89 07 8b 1e",
      TV_GPR(RBX) | X86_LOC_MEM, "LD32 R3, [R6]\n ST32 [R7], R0\n ADDI R22, R22, 4\n", false },
    { "aliasing: store hoisted above a load through another register", "8b 1e 89 07",
      TV_GPR(RBX) | X86_LOC_MEM, "ST32 [R7], R0\n LD32 R3, [R6]\n ADDI R22, R22, 4\n", false },
    { "stack pointer moved the wrong way", "50", TV_GPR(RSP) | X86_LOC_MEM,
      "ADDI R4, R4, 8\n STORE [R4], R0\n ADDI R22, R22, 1\n", false },
    { "store before the stack pointer update", "50", TV_GPR(RSP) | X86_LOC_MEM,
      "STORE [R4], R0\n ADDI R4, R4, -8\n ADDI R22, R22, 1\n", false },
    { "wrong condition code (ne for e)", "39 d8 74 10", X86_LOC_RIP,
      "ZEXT32 R24, R0\n ZEXT32 R25, R3\n CMPNE R24, R24, R25\n"
      " ADDI R25, R22, 4\n ADDI R26, R22, 20\n CMOVNZ R25, R24, R26\n MOV R22, R25\n", false },
    { "wrong condition width (64-bit compare)", "39 d8 74 10", X86_LOC_RIP,
      "CMPEQ R24, R0, R3\n ADDI R25, R22, 4\n ADDI R26, R22, 20\n CMOVNZ R25, R24, R26\n MOV R22, R25\n", false },
    { "off-by-one branch target", "39 d8 74 10", X86_LOC_RIP,
      "ZEXT32 R24, R0\n ZEXT32 R25, R3\n CMPEQ R24, R24, R25\n"
      " ADDI R25, R22, 4\n ADDI R26, R22, 19\n CMOVNZ R25, R24, R26\n MOV R22, R25\n", false },
};
#define NMUTANTS (sizeof mutants / sizeof mutants[0])

static const struct x86_regs alias_pre = {
    .gpr = { [X86_RAX] = 0x11223344aabbccddull, [X86_RBX] = 0x5555, [X86_RSI] = 0x300000001010ull,
             [X86_RDI] = 0x300000001010ull, [X86_RSP] = 0x300000002800ull },
    .rip = 0x310000000000ull, .rflags = 0x246,
};
static const struct x86_mem_access alias_acc[] = {
    { .addr = 0x300000001010ull, .value = 0x01020304, .size = 4, .is_store = true },
    { .addr = 0x300000001010ull, .value = 0x01020304, .size = 4, .is_store = false },
};

static int assemble(const struct mutant *m, struct pixel_insn *prog)
{
    char err[320];
    int n = pixel_asm(m->pixel, prog, 64, err, sizeof err);
    if (n < 0) fail_msg("%s: asm: %s", m->what, err);
    return n;
}

static void test_verify_mutants_count(void **state)
{
    (void)state;
    assert_true(NMUTANTS >= 25);
}

static void test_verify_mutants_proof(void **state)
{
    (void)state;
    for (size_t i = 0; i < NMUTANTS; i++) {
        const struct mutant *m = &mutants[i];
        uint8_t code[32];
        size_t len = tv_hex(m->hex, code, sizeof code);
        struct pixel_insn prog[64];
        int n = assemble(m, prog);
        struct equiv_opts eo = { .timeout_ms = 20000 };
        struct equiv_result er;
        enum equiv_status s = equiv_check_code(code, len, 0x1000, m->live, prog, (size_t)n, &eo, &er);
        if (s != EQUIV_REFUTED)
            fail_msg("mutant %zu (%s) not refuted by the proof: %s %s", i, m->what, equiv_status_name(s), er.msg);
        char buf[2048];
        equiv_cex_format(&er.cex, buf, sizeof buf);
        assert_true(er.cex.differs != 0);
        printf("  proof   %-60s refuted in %6.2f ms (differs 0x%x)\n", m->what, er.us / 1e3, er.cex.differs);
    }
}

static void test_verify_mutants_concrete(void **state)
{
    (void)state;
    for (size_t i = 0; i < NMUTANTS; i++) {
        const struct mutant *m = &mutants[i];
        uint8_t code[32];
        size_t len = tv_hex(m->hex, code, sizeof code);
        struct pixel_insn prog[64];
        int n = assemble(m, prog);
        struct vconc_opts o;
        vconc_opts_default(&o);     /* 10,000 states */
        o.stop_on_fail = true;      /* rejected once a batch holds a failure */
        if (m->alias_sample) o.nstates = 0;
        struct vconc_sample s = { .pre = &alias_pre, .acc = alias_acc, .nacc = 2 };
        struct vconc_result r;
        char err[320];
        if (vconc_run(eng, code, len, m->live, prog, (size_t)n, m->alias_sample ? &s : NULL,
                      m->alias_sample ? 1 : 0, &o, &r, err, sizeof err) < 0)
            fail_msg("mutant %zu (%s): %s", i, m->what, err);
        if (r.failed == 0)
            fail_msg("mutant %zu (%s) passed %u concrete states", i, m->what, r.states);
        assert_int_equal(r.oracle_disagree, 0);
        assert_true(r.first_failure[0] != 0);
        printf("  concrete %-60s %4u/%5u states fail; first: %.110s\n", m->what, r.failed, r.states,
               r.first_failure);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_mutants_count),
        cmocka_unit_test(test_verify_mutants_proof),
        cmocka_unit_test(test_verify_mutants_concrete),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
