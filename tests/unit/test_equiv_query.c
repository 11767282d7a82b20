/* test_equiv_query.c — the equivalence query (common/equiv.h) on correct and
 * deliberately wrong microcode: registers, partial writes, flags with
 * undefined markers, memory with aliasing, branches, faults, liveness, and
 * the counterexample (re-checked concretely in the Pixel interpreter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "equiv.h"
#include "pixel_asm.h"
#include "pixel_interp.h"
#include "pixel_state.h"
#include "x86_decode.h"

#define LIVE_ALL_REGS (X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS | X86_LOC_RIP | X86_LOC_MEM)

static size_t hex_bytes(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') { p++; continue; }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

/* Checks x86 `hex` against Pixel `text` for live-out `live`. */
static enum equiv_status check(const char *hex, const char *text, x86_locset live,
                               struct equiv_result *res)
{
    uint8_t code[64];
    size_t len = hex_bytes(hex, code);
    struct pixel_insn prog[64];
    char err[256];
    int n = pixel_asm(text, prog, 64, err, sizeof err);
    if (n < 0)
        fail_msg("asm: %s", err);
    struct equiv_opts o = { .timeout_ms = 20000 };
    enum equiv_status s = equiv_check_code(code, len, 0x1000, live, prog, (size_t)n, &o, res);
    if (s == EQUIV_ERROR)
        fail_msg("equiv error: %s", res->msg);
    return s;
}

static void expect_proved(const char *hex, const char *text, x86_locset live)
{
    struct equiv_result r;
    enum equiv_status s = check(hex, text, live, &r);
    if (s != EQUIV_PROVED) {
        char buf[2048];
        equiv_cex_format(&r.cex, buf, sizeof buf);
        fail_msg("%s / %s: %s %s %s", hex, text, equiv_status_name(s), r.msg, buf);
    }
}

/* Refuted, the slot `slot` among the differing ones, and the counterexample
 * really distinguishes them when the microcode runs in the interpreter. */
static void expect_refuted(const char *hex, const char *text, x86_locset live, int slot)
{
    struct equiv_result r;
    enum equiv_status s = check(hex, text, live, &r);
    assert_int_equal(s, EQUIV_REFUTED);
    char buf[4096];
    equiv_cex_format(&r.cex, buf, sizeof buf);
    if (slot >= 0 && !(r.cex.differs & (1u << slot)))
        fail_msg("%s / %s: expected %s to differ: %s", hex, text, equiv_out_name((unsigned)slot), buf);
    assert_non_null(strstr(buf, "differs:"));
    /* Concrete replay of the Pixel side for register outputs. */
    if (slot >= 0 && slot < X86_NGPR + X86_NFLAG + 1) {
        struct pixel_insn prog[64];
        char err[256];
        int n = pixel_asm(text, prog, 64, err, sizeof err);
        assert_true(n >= 0);
        struct pixel_state ps;
        equiv_cex_pixel_regs(&r.cex, ps.r);
        /* memory: one region per touched byte run is overkill; use a 64 KiB
         * region around the first byte when there is one */
        static uint8_t arena[65536];
        struct x86_mem mem = { 0 };
        if (r.cex.nbytes) {
            uint64_t base = r.cex.addr[0] - 32768;
            mem.nregions = 1;
            mem.region[0] = (struct x86_mem_region){ base, sizeof arena, arena };
            memset(arena, 0, sizeof arena);
            for (unsigned i = 0; i < r.cex.nbytes; i++)
                if (r.cex.addr[i] - base < sizeof arena)
                    arena[r.cex.addr[i] - base] = r.cex.byte[i];
        }
        ps.mem = &mem;
        pixel_run(prog, (size_t)n, &ps, 0, NULL);
        unsigned reg = slot < X86_NGPR ? (unsigned)slot
                       : slot < X86_NGPR + X86_NFLAG ? (unsigned)PIXEL_REG_FLAG(slot - X86_NGPR) : (unsigned)PIXEL_REG_RIP;
        assert_int_equal(ps.r[reg], r.cex.px_out[slot]);
        assert_int_not_equal(r.cex.x86_out[slot], r.cex.px_out[slot]);
    }
}

#define GPR(r) X86_LOC_GPR(X86_##r)
#define FL(f) X86_LOC_FLAG(X86_##f)
#define SLOT_FLAG(f) (X86_NGPR + X86_##f)
#define SLOT_RIP (X86_NGPR + X86_NFLAG)
#define SLOT_MEM (X86_NGPR + X86_NFLAG + 1)

/* add eax, ebx (01 d8): the seeds' example. */
static const char *const ADD_EAX_EBX_OK =
    "ADD R24, R0, R3\n ZEXT32 R0, R24\n ADDI R22, R22, 2\n";

static void test_equiv_add_registers(void **state)
{
    (void)state;
    expect_proved("01 d8", ADD_EAX_EBX_OK, GPR(RAX) | X86_LOC_RIP);
    /* missing zero-extension of the 32-bit result */
    expect_refuted("01 d8", "ADD R0, R0, R3\n ADDI R22, R22, 2\n", GPR(RAX), X86_RAX);
    /* wrong next rip */
    expect_refuted("01 d8", "ADD R24, R0, R3\n ZEXT32 R0, R24\n ADDI R22, R22, 3\n", GPR(RAX), SLOT_RIP);
    /* a live register clobbered that the block leaves alone */
    expect_refuted("01 d8", "ADD R24, R0, R3\n ZEXT32 R0, R24\n LDI R3, 0\n ADDI R22, R22, 2\n",
                   GPR(RAX) | GPR(RBX), X86_RBX);
    /* ... but a dead one may be clobbered */
    expect_proved("01 d8", "ADD R24, R0, R3\n ZEXT32 R0, R24\n LDI R3, 0\n ADDI R22, R22, 2\n",
                  GPR(RAX));
}

static void test_equiv_flags(void **state)
{
    (void)state;
    /* add eax, ebx with ZF and CF live */
    const char *ok =
        "ADD R24, R0, R3\n ZEXT32 R0, R24\n CMPEQZ R19, R0\n SHRI R16, R24, 32\n"
        " ANDI R16, R16, 1\n ADDI R22, R22, 2\n";
    /* R24 = rax + rbx over 64 bits: bit 32 is the carry only when the high
     * halves are zero — so this must be refuted for CF. */
    expect_refuted("01 d8", ok, GPR(RAX) | FL(CF) | FL(ZF), SLOT_FLAG(CF));
    const char *ok2 =
        "ZEXT32 R24, R0\n ZEXT32 R25, R3\n ADD R24, R24, R25\n ZEXT32 R0, R24\n"
        " CMPEQZ R19, R0\n SHRI R16, R24, 32\n ADDI R22, R22, 2\n";
    expect_proved("01 d8", ok2, GPR(RAX) | FL(CF) | FL(ZF));
    /* ZF wrong polarity */
    expect_refuted("01 d8",
                   "ZEXT32 R24, R0\n ZEXT32 R25, R3\n ADD R24, R24, R25\n ZEXT32 R0, R24\n"
                   " CMPEQZ R19, R0\n XORI R19, R19, 1\n ADDI R22, R22, 2\n",
                   GPR(RAX) | FL(ZF), SLOT_FLAG(ZF));
    /* and eax, ebx (21 d8): AF undefined — any 0/1 value passes, 2 does not */
    expect_proved("21 d8", "AND R24, R0, R3\n ZEXT32 R0, R24\n LDI R18, 1\n ADDI R22, R22, 2\n",
                  GPR(RAX) | FL(AF));
    expect_refuted("21 d8", "AND R24, R0, R3\n ZEXT32 R0, R24\n LDI R18, 2\n ADDI R22, R22, 2\n",
                   GPR(RAX) | FL(AF), SLOT_FLAG(AF));
    /* a live flag the block does not write must be preserved */
    expect_refuted("89 d8", "ZEXT32 R0, R3\n LDI R16, 0\n ADDI R22, R22, 2\n",
                   GPR(RAX) | FL(CF), SLOT_FLAG(CF));
    /* shl eax, cl (d3 e0): OF undefined unless count == 1, count 0 keeps flags */
    expect_proved("d3 e0",
                  "ANDI R24, R1, 31\n SHL R25, R0, R24\n ZEXT32 R0, R25\n ADDI R22, R22, 2\n",
                  GPR(RAX));
}

static void test_equiv_memory(void **state)
{
    (void)state;
    /* mov [rdi], eax (89 07) */
    expect_proved("89 07", "ST32 [R7], R0\n ADDI R22, R22, 2\n", X86_LOC_MEM);
    /* wrong width: 8 bytes stored */
    expect_refuted("89 07", "STORE [R7], R0\n ADDI R22, R22, 2\n", X86_LOC_MEM, EQUIV_OUT_FAULT);
    /* dropped store */
    expect_refuted("89 07", "ADDI R22, R22, 2\n", X86_LOC_MEM, SLOT_MEM);
    /* mov [rdi], eax ; mov ebx, [rsi] (89 07 8b 1e): aliasing — loading before
     * the store is wrong when rsi overlaps rdi */
    expect_proved("89 07 8b 1e", "ST32 [R7], R0\n LD32 R3, [R6]\n ADDI R22, R22, 4\n",
                  GPR(RBX) | X86_LOC_MEM);
    expect_refuted("89 07 8b 1e", "LD32 R3, [R6]\n ST32 [R7], R0\n ADDI R22, R22, 4\n",
                   GPR(RBX) | X86_LOC_MEM, X86_RBX);
    /* the microcode may not touch bytes the block does not */
    expect_refuted("8b 1e", "LD32 R3, [R6]\n LD8 R24, [R7]\n ADDI R22, R22, 2\n", GPR(RBX),
                   EQUIV_OUT_FAULT);
}

static void test_equiv_branch(void **state)
{
    (void)state;
    /* cmp eax, ebx ; je +0x10 (39 d8 74 10): rip = zf ? 0x1014 : 0x1004 */
    const char *ok =
        "ZEXT32 R24, R0\n ZEXT32 R25, R3\n CMPEQ R24, R24, R25\n"
        " ADDI R25, R22, 4\n ADDI R26, R22, 20\n CMOVNZ R25, R24, R26\n MOV R22, R25\n";
    expect_proved("39 d8 74 10", ok, 0);
    const char *wrong_target =
        "ZEXT32 R24, R0\n ZEXT32 R25, R3\n CMPEQ R24, R24, R25\n"
        " ADDI R25, R22, 4\n ADDI R26, R22, 19\n CMOVNZ R25, R24, R26\n MOV R22, R25\n";
    expect_refuted("39 d8 74 10", wrong_target, 0, SLOT_RIP);
    const char *inverted =
        "ZEXT32 R24, R0\n ZEXT32 R25, R3\n CMPNE R24, R24, R25\n"
        " ADDI R25, R22, 4\n ADDI R26, R22, 20\n CMOVNZ R25, R24, R26\n MOV R22, R25\n";
    expect_refuted("39 d8 74 10", inverted, 0, SLOT_RIP);
}

static void test_equiv_faults_and_scratch(void **state)
{
    (void)state;
    /* a division by a register that may be zero faults */
    expect_refuted("89 d8", "DIV R24, R3, R3\n ZEXT32 R0, R3\n ADDI R22, R22, 2\n", GPR(RAX),
                   EQUIV_OUT_FAULT);
    /* scratch registers are not zero at entry: reading one is wrong */
    expect_refuted("89 d8", "ADD R24, R24, R3\n ZEXT32 R0, R24\n ADDI R22, R22, 2\n", GPR(RAX), X86_RAX);
}

static void test_equiv_prepared_reuse(void **state)
{
    (void)state;
    uint8_t code[8];
    size_t len = hex_bytes("01 d8", code);
    struct x86_insn in[4];
    size_t n;
    char err[256];
    assert_int_equal(x86_decode_block(code, len, 0x1000, 64, in, 4, &n, err, sizeof err), 0);
    struct equiv_ctx *q = equiv_ctx_new();
    assert_non_null(q);
    struct pixel_insn good[8], bad[8];
    int ng = pixel_asm(ADD_EAX_EBX_OK, good, 8, err, sizeof err);
    int nb = pixel_asm("SUB R24, R0, R3\n ZEXT32 R0, R24\n ADDI R22, R22, 2\n", bad, 8, err, sizeof err);
    struct equiv_result r;
    /* more than the context-renewal period, alternating */
    for (int i = 0; i < 60; i++) {
        assert_int_equal(equiv_prepare(q, in, n, GPR(RAX), err, sizeof err), 0);
        assert_int_equal(equiv_check_prepared(q, good, (size_t)ng, NULL, &r), EQUIV_PROVED);
        assert_int_equal(equiv_check_prepared(q, bad, (size_t)nb, NULL, &r), EQUIV_REFUTED);
    }
    /* invalid program → error */
    struct pixel_insn inv = { 200, 0, 0, 0 };
    assert_int_equal(equiv_check_prepared(q, &inv, 1, NULL, &r), EQUIV_ERROR);
    assert_true(strlen(r.msg) > 0);
    equiv_ctx_free(q);
    /* unsupported instruction → error naming it */
    len = hex_bytes("0f a2", code);   /* cpuid */
    struct pixel_insn nop = { 0, 0, 0, 0 };
    assert_int_equal(equiv_check_code(code, len, 0, GPR(RAX), &nop, 1, NULL, &r), EQUIV_ERROR);
    assert_non_null(strstr(r.msg, "cpuid"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equiv_add_registers),
        cmocka_unit_test(test_equiv_flags),
        cmocka_unit_test(test_equiv_memory),
        cmocka_unit_test(test_equiv_branch),
        cmocka_unit_test(test_equiv_faults_and_scratch),
        cmocka_unit_test(test_equiv_prepared_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
