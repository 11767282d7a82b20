/* test_cfg_insn.c — per-instruction facts (stages/cfg/insn_info.c) and
 * block classes: system/FP-SIMD/memory/control/ALU, flag definitions from
 * the flag table, the count-dependent flags of shifts, partial writes, the
 * cpu mode of decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../stages/cfg/cfg.h"
#include "../../stages/cfg/insn_info.h"

#define F(x) X86_LOC_FLAG(X86_##x)
#define GPR(r) X86_LOC_GPR(X86_##r)
#define STATUS X86_LOC_ALL_FLAGS

static struct insn_info dec(uint8_t mode, const uint8_t *b, unsigned n)
{
    struct insn_info ii;
    assert_true(insn_info_decode(mode, 0x1000, b, n, &ii));
    return ii;
}
#define DEC64(...) dec(64, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))
#define DEC32(...) dec(32, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void test_alu_flags_and_registers(void **state)
{
    (void)state;
    struct insn_info add = DEC64(0x01, 0xd8);               /* add eax, ebx */
    assert_int_equal(add.use, GPR(RAX) | GPR(RBX));
    assert_int_equal(add.kill, GPR(RAX) | STATUS);
    assert_int_equal(add.flags_undef, 0);
    struct insn_info inc = DEC64(0xff, 0xc1);               /* inc ecx: CF untouched */
    assert_int_equal(inc.kill & STATUS, STATUS & ~F(CF));
    struct insn_info adc = DEC64(0x11, 0xfe);               /* adc esi, edi reads CF */
    assert_true(adc.use & F(CF));
    struct insn_info and_ = DEC64(0x21, 0xc8);              /* and eax, ecx: AF undefined */
    assert_int_equal(and_.flags_undef, F(AF));
    assert_true(and_.kill & F(AF));
    struct insn_info imul = DEC64(0x0f, 0xaf, 0xc1);        /* imul eax, ecx: SF ZF AF PF undefined */
    assert_true(imul.flags_undef & F(ZF));
    struct insn_info jz = DEC64(0x74, 0x02);
    assert_int_equal(jz.use, F(ZF));
    assert_int_equal(jz.flow, INSN_FLOW_JCC);
    assert_int_equal(jz.target, 0x1004);
}

static void test_partial_and_conditional_writes(void **state)
{
    (void)state;
    struct insn_info mov8 = DEC64(0xb0, 0x01);              /* mov al, 1 */
    assert_true(mov8.def & GPR(RAX));
    assert_false(mov8.kill & GPR(RAX));
    struct insn_info mov16 = DEC64(0x66, 0xb8, 0x01, 0x00); /* mov ax, 1 */
    assert_false(mov16.kill & GPR(RAX));
    struct insn_info movah = DEC64(0xb4, 0x01);             /* mov ah, 1 */
    assert_true(movah.def & GPR(RAX));
    assert_false(movah.kill & GPR(RAX));
    struct insn_info mov32 = DEC64(0xb8, 1, 0, 0, 0);       /* mov eax, 1: zero-extends */
    assert_true(mov32.kill & GPR(RAX));
    struct insn_info cmov = DEC64(0x48, 0x0f, 0x44, 0xc1);  /* cmovz rax, rcx */
    assert_true(cmov.def & GPR(RAX));
    assert_false(cmov.kill & GPR(RAX));
    assert_true(cmov.use & F(ZF));
    struct insn_info xor_ = DEC64(0x31, 0xc0);              /* xor eax, eax */
    assert_false(xor_.use & GPR(RAX));
    assert_true(xor_.kill & GPR(RAX));
    struct insn_info r8 = DEC64(0x4d, 0x01, 0xc8);          /* add r8, r9 */
    assert_int_equal(r8.use, GPR(R8) | GPR(R9));
}

static void test_shift_count_rules(void **state)
{
    (void)state;
    struct insn_info shl4 = DEC64(0xc1, 0xe0, 0x04);        /* shl eax, 4 */
    assert_true(shl4.kill & F(CF));
    assert_true(shl4.kill & F(ZF));
    struct insn_info shl0 = DEC64(0xc1, 0xe0, 0x00);        /* shl eax, 0: flags untouched */
    assert_int_equal(shl0.def & STATUS, 0);
    assert_int_equal(shl0.kill & STATUS, 0);
    struct insn_info shl32 = DEC64(0xc1, 0xe0, 0x20);       /* count masked to 0 */
    assert_int_equal(shl32.kill & STATUS, 0);
    struct insn_info shlcl = DEC64(0xd3, 0xe0);             /* shl eax, cl: may be 0 */
    assert_true(shlcl.def & F(ZF));
    assert_int_equal(shlcl.kill & STATUS, 0);
    assert_true(shlcl.use & GPR(RCX));
}

static void test_kinds(void **state)
{
    (void)state;
    assert_true(DEC64(0x0f, 0xa2).kind & INSN_K_SYSTEM);              /* cpuid */
    assert_true(DEC64(0x0f, 0x31).kind & INSN_K_SYSTEM);              /* rdtsc */
    struct insn_info sc = DEC64(0x0f, 0x05);                          /* syscall */
    assert_true(sc.kind & INSN_K_SYSTEM);
    assert_int_equal(sc.flow, INSN_FLOW_SYS);
    struct insn_info in = DEC64(0xe4, 0x60);                          /* in al, 0x60 */
    assert_true(in.kind & INSN_K_IO);
    assert_true(in.kind & INSN_K_SYSTEM);
    struct insn_info cli = DEC64(0xfa);
    assert_true(cli.kind & INSN_K_PRIV);
    struct insn_info wcr = DEC64(0x0f, 0x22, 0xd8);                   /* mov cr3, rax */
    assert_true(wcr.kind & INSN_K_PRIV);
    assert_true(DEC64(0xf3, 0x0f, 0x58, 0xc1).kind & INSN_K_FPSIMD);  /* addss */
    assert_true(DEC64(0xd9, 0xc9).kind & INSN_K_FPSIMD);              /* fxch */
    assert_true(DEC64(0x8b, 0x03).kind & INSN_K_MEM);                 /* mov eax, [rbx] */
    assert_true(DEC64(0x8b, 0x03).use & GPR(RBX));
    struct insn_info lea = DEC64(0x8d, 0x04, 0x0b);                   /* lea eax, [rbx+rcx] */
    assert_false(lea.kind & INSN_K_MEM);
    assert_int_equal(lea.use, GPR(RBX) | GPR(RCX));
    struct insn_info push = DEC64(0x53);                              /* push rbx */
    assert_true(push.kind & INSN_K_MEM);
    assert_true(push.use & GPR(RSP));
    assert_true(push.kill & GPR(RSP));
    assert_int_equal(DEC64(0xc3).flow, INSN_FLOW_RET);
    assert_int_equal(DEC64(0xff, 0xd0).flow, INSN_FLOW_CALL_IND);
    struct insn_info call = DEC64(0xe8, 0x10, 0, 0, 0);
    assert_int_equal(call.flow, INSN_FLOW_CALL);
    assert_int_equal(call.target, 0x1015);
    assert_int_equal(DEC64(0x0f, 0x0b).flow, INSN_FLOW_SYS);           /* ud2 */
}

/* 32-bit code is decoded as 32-bit code: 0x40 is "inc eax", not a REX prefix. */
static void test_cpu_mode(void **state)
{
    (void)state;
    struct insn_info inc = DEC32(0x40);
    assert_int_equal(inc.len, 1);
    assert_int_equal(inc.kill & GPR(RAX), GPR(RAX));
    struct insn_info rex_ret = DEC64(0x40, 0xc3);
    assert_int_equal(rex_ret.len, 2);
    assert_int_equal(rex_ret.flow, INSN_FLOW_RET);

    struct cfg g;
    assert_true(cfg_init(&g, NULL));
    static const uint8_t code[] = { 0x40, 0xc3 };
    assert_true(cfg_add_tb(&g, 1, 0x8000, 32, 0, code, 2, NULL, 0));
    assert_true(cfg_add_tb(&g, 2, 0x8000, 64, 0, code, 2, NULL, 0));
    struct cfg_block *b32 = cfg_block_at(&g, 0x8000, 32), *b64 = cfg_block_at(&g, 0x8000, 64);
    assert_non_null(b32);
    assert_non_null(b64);
    assert_int_equal(b32->ninsns, 2);
    assert_int_equal(b64->ninsns, 1);
    cfg_add_exec(&g, 0, (uint32_t[]){ 1 }, 1);
    assert_true(cfg_analyze(&g));
    /* the conservative live-out of a 32-bit block has only 8 GPRs */
    assert_int_equal(b32->live_out, 0xffu | STATUS);
    cfg_free(&g);
}

static void block_class_of(const uint8_t *code, uint32_t len, unsigned expect)
{
    struct cfg g;
    assert_true(cfg_init(&g, NULL));
    assert_true(cfg_add_tb(&g, 1, 0x1000, 64, 0, code, len, NULL, 0));
    assert_true(cfg_analyze(&g));
    struct cfg_block *b = cfg_block_at(&g, 0x1000, 64);
    assert_non_null(b);
    if (b->cls != expect) fail_msg("class %s, expected %s", cfg_class_name(b->cls), cfg_class_name(expect));
    cfg_free(&g);
}
#define CLASS(expect, ...) block_class_of((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), expect)

static void test_block_classes(void **state)
{
    (void)state;
    CLASS(CFG_CLASS_ALU, 0x01, 0xd8, 0xc3);                  /* add; ret */
    CLASS(CFG_CLASS_MEM, 0x8b, 0x03, 0xc3);                  /* mov eax,[rbx]; ret */
    CLASS(CFG_CLASS_CONTROL, 0xc3);                          /* ret */
    CLASS(CFG_CLASS_CONTROL, 0x90, 0xeb, 0x00);              /* nop; jmp */
    CLASS(CFG_CLASS_FPSIMD, 0xf3, 0x0f, 0x58, 0xc1, 0xc3);   /* addss; ret */
    CLASS(CFG_CLASS_SYSTEM, 0x0f, 0xa2, 0xc3);               /* cpuid */
    CLASS(CFG_CLASS_SYSTEM, 0x0f, 0x31, 0xc3);               /* rdtsc */
    CLASS(CFG_CLASS_SYSTEM, 0x0f, 0x05);                     /* syscall */
    CLASS(CFG_CLASS_SYSTEM, 0xe4, 0x60, 0xc3);               /* in al, 0x60 */
    CLASS(CFG_CLASS_SYSTEM, 0x01, 0xd8, 0xfa, 0xc3);         /* add; cli */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alu_flags_and_registers),
        cmocka_unit_test(test_partial_and_conditional_writes),
        cmocka_unit_test(test_shift_count_rules),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_cpu_mode),
        cmocka_unit_test(test_block_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
