/* test_x86_model.c — the x86 model on hand-computed known answers:
 * decoding (modes, boundaries, unsupported), partial registers, the 32-bit
 * zero-extension rule, flags of add/sub/shifts/imul, memory aliasing,
 * branches, undefined flags and defined outputs, and the coverage document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86_decode.h"
#include "x86_eval.h"
#include "x86_forms.h"
#include "x86_sem.h"

#define RF(f) (1ull << x86_flag_rflags_bit(f))

/* Decodes hex bytes "01 d8" as one 64-bit block at 0x1000 and evaluates it. */
static void run_block(const char *hex, struct x86_regs *regs, struct x86_mem *mem,
                      struct x86_eval_result *res)
{
    uint8_t code[64];
    size_t len = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') { p++; continue; }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        code[len++] = (uint8_t)v;
        p += 2;
    }
    struct x86_insn insns[16];
    size_t n;
    char err[256];
    if (x86_decode_block(code, len, regs->rip, 64, insns, 16, &n, err, sizeof err) != 0)
        fail_msg("%s", err);
    int bad = x86_block_first_unsupported(insns, n);
    if (bad >= 0)
        fail_msg("unsupported: %s", insns[bad].unsupported);
    if (x86_model_eval(insns, n, regs, mem, res, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static bool flag(const struct x86_eval_result *r, enum x86_flag f)
{
    return (r->regs.rflags >> x86_flag_rflags_bit(f)) & 1;
}

static void test_add_eax_ebx_flags_and_zero_extension(void **state)
{
    (void)state;
    struct x86_regs in = { .rip = 0x1000, .rflags = 2 };
    in.gpr[X86_RAX] = 0xdeadbeefffffffffull;
    in.gpr[X86_RBX] = 1;
    struct x86_eval_result r;
    run_block("01 d8", &in, NULL, &r);                 /* add eax, ebx */
    assert_int_equal(r.regs.gpr[X86_RAX], 0);          /* upper half cleared */
    assert_true(flag(&r, X86_CF));
    assert_true(flag(&r, X86_ZF));
    assert_true(flag(&r, X86_PF));
    assert_true(flag(&r, X86_AF));
    assert_false(flag(&r, X86_SF));
    assert_false(flag(&r, X86_OF));
    assert_int_equal(r.regs.rip, 0x1002);
    assert_int_equal(r.defined, X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS | X86_LOC_RIP);

    in.gpr[X86_RAX] = 0x7fffffff;                      /* signed overflow */
    run_block("01 d8", &in, NULL, &r);
    assert_int_equal(r.regs.gpr[X86_RAX], 0x80000000u);
    assert_true(flag(&r, X86_OF));
    assert_true(flag(&r, X86_SF));
    assert_false(flag(&r, X86_CF));
}

static void test_partial_registers(void **state)
{
    (void)state;
    struct x86_regs in = { .rip = 0x1000, .rflags = 2 };
    in.gpr[X86_RAX] = 0x1122334455667788ull;
    in.gpr[X86_RBX] = 0xaabbccddeeff0099ull;
    struct x86_eval_result r;
    run_block("88 d8", &in, NULL, &r);                 /* mov al, bl */
    assert_int_equal(r.regs.gpr[X86_RAX], 0x1122334455667799ull);
    run_block("88 dc", &in, NULL, &r);                 /* mov ah, bl */
    assert_int_equal(r.regs.gpr[X86_RAX], 0x1122334455669988ull);
    run_block("66 89 d8", &in, NULL, &r);              /* mov ax, bx */
    assert_int_equal(r.regs.gpr[X86_RAX], 0x1122334455660099ull);
    run_block("89 d8", &in, NULL, &r);                 /* mov eax, ebx */
    assert_int_equal(r.regs.gpr[X86_RAX], 0xeeff0099ull);
    run_block("0f b6 c7", &in, NULL, &r);              /* movzx eax, bh */
    assert_int_equal(r.regs.gpr[X86_RAX], 0x00ull);
    run_block("48 0f be c3", &in, NULL, &r);           /* movsx rax, bl */
    assert_int_equal(r.regs.gpr[X86_RAX], 0xffffffffffffff99ull);
    in.rflags = 2;                                     /* ZF = 0: cmovz not taken ... */
    run_block("0f 44 c3", &in, NULL, &r);              /* cmovz eax, ebx */
    assert_int_equal(r.regs.gpr[X86_RAX], 0x55667788ull);   /* ... still zero-extends */
}

static void test_shift_by_zero_keeps_flags(void **state)
{
    (void)state;
    struct x86_regs in = { .rip = 0x1000, .rflags = 2 | RF(X86_CF) | RF(X86_OF) | RF(X86_ZF) };
    in.gpr[X86_RAX] = 0xffffffff00000001ull;
    in.gpr[X86_RCX] = 0x40;                            /* masked to 0 for 32-bit */
    struct x86_eval_result r;
    run_block("d3 e0", &in, NULL, &r);                 /* shl eax, cl */
    assert_int_equal(r.regs.gpr[X86_RAX], 1);          /* still zero-extended */
    assert_true(flag(&r, X86_CF));
    assert_true(flag(&r, X86_OF));
    assert_true(flag(&r, X86_ZF));
    assert_int_equal(r.flags_undefined, 0);

    in.gpr[X86_RCX] = 1;                               /* count 1: OF defined, AF undefined */
    in.gpr[X86_RAX] = 0x80000001u;
    run_block("d3 e0", &in, NULL, &r);
    assert_int_equal(r.regs.gpr[X86_RAX], 2);
    assert_true(flag(&r, X86_CF));
    assert_true(flag(&r, X86_OF));                     /* MSB(result) ^ CF = 0 ^ 1 */
    assert_false(flag(&r, X86_ZF));
    assert_int_equal(r.flags_undefined, XF_A);
    assert_false(r.defined & X86_LOC_FLAG(X86_AF));

    in.gpr[X86_RCX] = 3;                               /* count > 1: OF undefined */
    run_block("d3 e0", &in, NULL, &r);
    assert_int_equal(r.regs.gpr[X86_RAX], 8);
    assert_int_equal(r.flags_undefined, XF_A | XF_O);
}

static void test_imul_flags(void **state)
{
    (void)state;
    struct x86_regs in = { .rip = 0x1000, .rflags = 2 };
    in.gpr[X86_RAX] = 0x10000;
    in.gpr[X86_RBX] = 0x10000;
    struct x86_eval_result r;
    run_block("0f af c3", &in, NULL, &r);              /* imul eax, ebx: overflows */
    assert_int_equal(r.regs.gpr[X86_RAX], 0);
    assert_true(flag(&r, X86_CF));
    assert_true(flag(&r, X86_OF));
    assert_int_equal(r.flags_undefined, XF_P | XF_A | XF_Z | XF_S);
    in.gpr[X86_RAX] = (uint64_t)-3;
    in.gpr[X86_RBX] = 5;
    run_block("48 0f af c3", &in, NULL, &r);           /* imul rax, rbx = -15 */
    assert_int_equal(r.regs.gpr[X86_RAX], (uint64_t)-15);
    assert_false(flag(&r, X86_CF));
    in.gpr[X86_RAX] = 0xffffffffffffffffull;
    in.gpr[X86_RBX] = 2;
    run_block("48 f7 e3", &in, NULL, &r);              /* mul rbx */
    assert_int_equal(r.regs.gpr[X86_RAX], 0xfffffffffffffffeull);
    assert_int_equal(r.regs.gpr[X86_RDX], 1);
    assert_true(flag(&r, X86_CF));
}

static void test_memory_aliasing_and_faults(void **state)
{
    (void)state;
    uint8_t buf[64] = { 0 };
    struct x86_mem mem = { .nregions = 1, .region = { { 0x5000, sizeof buf, buf } } };
    struct x86_regs in = { .rip = 0x1000, .rflags = 2 };
    in.gpr[X86_RAX] = 0x5000;
    in.gpr[X86_RBX] = 2;
    in.gpr[X86_RCX] = 0x11223344;
    buf[17] = 0xaa;
    struct x86_eval_result r;
    /* mov [rax+rbx*4+8], ecx ; mov dx, [rax+17] : the load reads the store */
    run_block("89 4c 98 08 66 8b 50 11", &in, &mem, &r);
    assert_false(r.fault);
    assert_int_equal(buf[16], 0x44);
    assert_int_equal(buf[19], 0x11);
    assert_int_equal(r.regs.gpr[X86_RDX] & 0xffff, 0x2233);
    assert_int_equal(r.nacc, 2);
    assert_true(r.acc[0].is_store);
    assert_int_equal(r.acc[0].addr, 0x5010);
    assert_int_equal(r.acc[1].value, 0x2233);
    assert_true(r.defined & X86_LOC_MEM);

    in.gpr[X86_RAX] = 0x9000;                          /* outside the region */
    run_block("89 4c 98 08", &in, &mem, &r);
    assert_true(r.fault);
    assert_int_equal(r.fault_addr, 0x9010);

    /* push / pop through the stack, rip-relative load */
    in.gpr[X86_RSP] = 0x5020;
    in.gpr[X86_RAX] = 0x0102030405060708ull;
    run_block("50 5b", &in, &mem, &r);                 /* push rax ; pop rbx */
    assert_int_equal(r.regs.gpr[X86_RBX], 0x0102030405060708ull);
    assert_int_equal(r.regs.gpr[X86_RSP], 0x5020);
    in.rip = 0x4ffa;
    run_block("8b 05 00 00 00 00", &in, &mem, &r);     /* mov eax, [rip+0] = [0x5000] */
    assert_int_equal(r.regs.gpr[X86_RAX], 0);
}

static void test_branches(void **state)
{
    (void)state;
    struct x86_regs in = { .rip = 0x1000, .rflags = 2 | RF(X86_ZF) };
    struct x86_eval_result r;
    run_block("74 10", &in, NULL, &r);                 /* jz +16 */
    assert_true(r.has_branch);
    assert_true(r.branch_taken);
    assert_int_equal(r.regs.rip, 0x1012);
    in.rflags = 2;
    run_block("74 10", &in, NULL, &r);
    assert_false(r.branch_taken);
    assert_int_equal(r.regs.rip, 0x1002);
    in.gpr[X86_RAX] = 5;                               /* cmp rax, 5 ; jl: not taken */
    run_block("48 83 f8 05 7c f0", &in, NULL, &r);
    assert_false(r.branch_taken);
    assert_int_equal(r.regs.rip, 0x1006);
    in.gpr[X86_RAX] = (uint64_t)-1;
    run_block("48 83 f8 05 7c f0", &in, NULL, &r);     /* -1 < 5: taken, back to 0xff6 */
    assert_true(r.branch_taken);
    assert_int_equal(r.regs.rip, 0xff6);
}

static void test_decode_modes_and_unsupported(void **state)
{
    (void)state;
    const uint8_t code[] = { 0x48, 0x01, 0xd8 };       /* 64: add rax, rbx; 32: dec eax; add eax, ebx */
    struct x86_insn in[4];
    size_t n;
    char err[256];
    assert_int_equal(x86_decode_block(code, 3, 0, 64, in, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(in[0].form, X86_FORM_add_r64_r64);
    assert_int_equal(x86_decode_block(code, 3, 0, 32, in, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(in[0].mnemonic, "dec");
    assert_int_equal(in[0].form, X86_FORM_UNSUPPORTED);  /* 32-bit code is never modelled */
    assert_non_null(strstr(in[0].unsupported, "64-bit"));

    const uint8_t cpuid[] = { 0x0f, 0xa2 };
    assert_int_equal(x86_decode_insn(cpuid, 2, 0, 64, &in[0], err, sizeof err), 0);
    assert_int_equal(in[0].form, X86_FORM_UNSUPPORTED);
    assert_string_equal(in[0].mnemonic, "cpuid");
    const uint8_t lock_add[] = { 0xf0, 0x01, 0x18 };   /* lock add [rax], ebx */
    assert_int_equal(x86_decode_insn(lock_add, 3, 0, 64, &in[0], err, sizeof err), 0);
    assert_int_equal(in[0].form, X86_FORM_UNSUPPORTED);

    Z3_config cfg = Z3_mk_config();
    Z3_context c = Z3_mk_context(cfg);
    Z3_del_config(cfg);
    struct x86_sym_state st;
    x86_sym_state_init(c, &st, "t_");
    assert_int_equal(x86_lift_insn(c, &st, &in[0], err, sizeof err), -1);
    assert_non_null(strstr(err, "unsupported instruction add"));
    Z3_del_context(c);

    const uint8_t truncated[] = { 0x48, 0x8b };
    assert_int_equal(x86_decode_block(truncated, 2, 0x40, 64, in, 4, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "0x40"));
}

static void test_defined_outputs_and_live_in(void **state)
{
    (void)state;
    /* add eax, ebx ; shl eax, cl ; jz : flags after the shift depend on cl */
    const uint8_t code[] = { 0x01, 0xd8, 0xd3, 0xe0, 0x74, 0x00 };
    struct x86_insn in[4];
    size_t n;
    char err[256];
    assert_int_equal(x86_decode_block(code, sizeof code, 0, 64, in, 4, &n, err, sizeof err), 0);
    Z3_config cfg = Z3_mk_config();
    Z3_context c = Z3_mk_context(cfg);
    Z3_del_config(cfg);
    struct x86_sym_state st;
    x86_sym_state_init(c, &st, "");
    assert_int_equal(x86_lift_block(c, &st, in, n, err, sizeof err), 0);
    assert_true(st.terminated);
    x86_locset def = x86_sym_defined_outputs(c, &st);
    assert_true(def & X86_LOC_GPR(X86_RAX));
    assert_true(def & X86_LOC_RIP);
    assert_true(def & X86_LOC_FLAG(X86_CF));           /* undefined only for some counts */
    assert_false(def & X86_LOC_GPR(X86_RBX));
    assert_true(st.read & X86_LOC_GPR(X86_RBX));
    assert_true(st.read & X86_LOC_GPR(X86_RCX));
    assert_false(st.read & X86_LOC_MEM);

    /* and eax, ebx leaves AF undefined: never a defined output */
    x86_sym_state_init(c, &st, "b_");
    const uint8_t andc[] = { 0x21, 0xd8 };
    assert_int_equal(x86_decode_insn(andc, 2, 0, 64, &in[0], err, sizeof err), 0);
    assert_int_equal(x86_lift_insn(c, &st, &in[0], err, sizeof err), 0);
    def = x86_sym_defined_outputs(c, &st);
    assert_false(def & X86_LOC_FLAG(X86_AF));
    assert_true(def & X86_LOC_FLAG(X86_CF));
    Z3_del_context(c);
}

static void test_table_size_and_coverage_doc(void **state)
{
    (void)state;
    assert_true(X86_FORM_COUNT >= 150);
    for (unsigned i = 0; i < X86_FORM_COUNT; i++) {
        assert_non_null(x86_forms[i].name);
        for (unsigned j = 0; j < i; j++)   /* no two forms share a signature */
            assert_false(x86_forms[i].zydis_mnemonic == x86_forms[j].zydis_mnemonic &&
                         x86_forms[i].nops == x86_forms[j].nops &&
                         memcmp(x86_forms[i].op, x86_forms[j].op, 3) == 0);
    }
    char *gen = NULL;
    size_t glen = 0;
    FILE *f = open_memstream(&gen, &glen);
    assert_int_equal(x86_forms_write_coverage_md(f), 0);
    fclose(f);
    const char *root = getenv("TCGL_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/x86-coverage.md", root ? root : ".");
    FILE *doc = fopen(path, "rb");
    if (!doc)
        fail_msg("cannot open %s", path);
    char *have = malloc(glen + 2);
    size_t hlen = fread(have, 1, glen + 1, doc);
    fclose(doc);
    if (hlen != glen || memcmp(have, gen, glen) != 0)
        fail_msg("%s does not match the forms table: regenerate it with "
                 "build/bin/x86-coverage > docs/x86-coverage.md", path);
    free(have);
    free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_eax_ebx_flags_and_zero_extension),
        cmocka_unit_test(test_partial_registers),
        cmocka_unit_test(test_shift_by_zero_keeps_flags),
        cmocka_unit_test(test_imul_flags),
        cmocka_unit_test(test_memory_aliasing_and_faults),
        cmocka_unit_test(test_branches),
        cmocka_unit_test(test_decode_modes_and_unsupported),
        cmocka_unit_test(test_defined_outputs_and_live_in),
        cmocka_unit_test(test_table_size_and_coverage_doc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
