/* test_cluster_canon.c — canonical templates (stages/cluster/canon.c):
 * renamed-register variants collapse, immediates become parameters, shift
 * counts and live-out sets stay distinguishing, the canonical bytes are
 * valid x86 (decoded back with Zydis), bindings map states exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../stages/cfg/insn_info.h"
#include "../../stages/cluster/canon.h"

#define GPR(r) X86_LOC_GPR(X86_##r)
#define ALLF X86_LOC_ALL_FLAGS

static struct canon_result *canon(uint8_t mode, const uint8_t *code, uint32_t len, x86_locset in, x86_locset out)
{
    struct canon_result *c = malloc(sizeof *c);
    assert_non_null(c);
    assert_true(canon_block(mode, code, len, in, out, NULL, c));
    return c;
}
#define CANON(in, out, ...) canon(64, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), in, out)

static void assert_same(const struct canon_result *a, const struct canon_result *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->code, b->code, a->len);
    assert_int_equal(a->live_out, b->live_out);
    assert_int_equal(a->live_in, b->live_in);
}

static bool same(const struct canon_result *a, const struct canon_result *b)
{
    return a->len == b->len && !memcmp(a->code, b->code, a->len) && a->live_out == b->live_out;
}

/* The canonical bytes decode, instruction by instruction, into `text`. */
static void assert_text(const struct canon_result *c, uint8_t mode, const char *text)
{
    char all[512] = "", one[128];
    uint32_t off = 0;
    while (off < c->len) {
        struct insn_info ii;
        assert_true(insn_info_decode(mode, 0, c->code + off, c->len - off, &ii));
        assert_true(insn_info_format(mode, 0, c->code + off, c->len - off, one, sizeof one));
        if (*all) strcat(all, "; ");
        strcat(all, one);
        off += ii.len;
    }
    assert_string_equal(all, text);
}

static void test_renamed_registers_collapse(void **state)
{
    (void)state;
    /* add eax,ebx; sub ebx,eax     vs     add ecx,edx; sub edx,ecx */
    struct canon_result *a = CANON(GPR(RAX) | GPR(RBX), GPR(RAX) | GPR(RBX) | ALLF, 0x01, 0xd8, 0x29, 0xc3);
    struct canon_result *b = CANON(GPR(RCX) | GPR(RDX), GPR(RCX) | GPR(RDX) | ALLF, 0x01, 0xd1, 0x29, 0xca);
    assert_same(a, b);
    assert_text(a, 64, "add eax, ecx; sub ecx, eax");
    assert_int_equal(a->binding[0], X86_RAX);
    assert_int_equal(a->binding[1], X86_RBX);
    assert_int_equal(b->binding[0], X86_RCX);
    assert_int_equal(b->binding[1], X86_RDX);
    assert_int_equal(a->live_out, GPR(RAX) | GPR(RCX) | ALLF);
    /* the binding is a permutation */
    uint16_t seen = 0;
    for (int i = 0; i < X86_NGPR; i++) seen |= (uint16_t)(1u << b->binding[i]);
    assert_int_equal(seen, 0xffff);
    /* states map through it */
    struct x86_regs real = { 0 }, cr;
    for (int i = 0; i < X86_NGPR; i++) real.gpr[i] = 100 + (uint64_t)i;
    canon_rename_regs(b, &real, &cr);
    assert_int_equal(cr.gpr[0], 100 + X86_RCX);
    assert_int_equal(cr.gpr[1], 100 + X86_RDX);
    /* byte and 64-bit forms too */
    struct canon_result *c = CANON(0, ALLF, 0x00, 0xd8);              /* add al, bl */
    struct canon_result *d = CANON(0, ALLF, 0x00, 0xd1);              /* add cl, dl */
    assert_same(c, d);
    /* ...but never at the price of an instruction's length: r8b/r9b need a
     * REX prefix that al/cl do not, and a shifted layout would change the
     * fall-through rip (and rip-relative operands, return addresses). */
    struct canon_result *g = CANON(0, ALLF, 0x45, 0x00, 0xc8);        /* add r8b, r9b */
    assert_false(same(c, g));
    assert_true(g->fallback);
    assert_int_equal(g->len, 3);
    free(g);
    struct canon_result *e = CANON(0, 0, 0x48, 0x8b, 0x43, 0x08);     /* mov rax, [rbx+8] */
    struct canon_result *f = CANON(0, 0, 0x48, 0x8b, 0x4e, 0x08);     /* mov rcx, [rsi+8] */
    assert_same(e, f);
    assert_text(e, 64, "mov rax, [rcx+0x08]");
    free(a); free(b); free(c); free(d); free(e); free(f);
}

static void test_implicit_registers_are_pinned(void **state)
{
    (void)state;
    struct canon_result *a = CANON(0, 0, 0xf7, 0xe3);    /* mul ebx */
    struct canon_result *b = CANON(0, 0, 0xf7, 0xe6);    /* mul esi */
    assert_same(a, b);
    assert_text(a, 64, "mul ecx");
    assert_int_equal(a->binding[X86_RAX], X86_RAX);
    assert_int_equal(a->binding[X86_RDX], X86_RDX);
    /* ah keeps rax in place */
    struct canon_result *c = CANON(0, 0, 0x00, 0xe1);    /* add cl, ah */
    assert_int_equal(c->rename[X86_RAX], X86_RAX);
    assert_false(c->fallback);
    free(a); free(b); free(c);
}

static void test_immediates_become_parameters(void **state)
{
    (void)state;
    struct canon_result *a = CANON(0, ALLF, 0x83, 0xc0, 0x05);                    /* add eax, 5 */
    struct canon_result *b = CANON(0, ALLF, 0x83, 0xc1, 0x07);                    /* add ecx, 7 */
    assert_same(a, b);
    assert_int_equal(a->nimm, 1);
    assert_int_equal(a->imm[0], 5);
    assert_int_equal(b->imm[0], 7);
    struct canon_result *n = CANON(0, ALLF, 0x83, 0xc0, 0xff);                    /* add eax, -1 */
    assert_same(a, n);
    assert_int_equal(n->imm[0], UINT64_MAX);
    /* an imm32 whose placeholder would encode as imm8 keeps its bytes:
     * the instruction's length must not change */
    struct canon_result *w = CANON(0, ALLF, 0x81, 0xc1, 0xe8, 0x03, 0x00, 0x00);  /* add ecx, 1000 */
    assert_false(same(a, w));
    assert_true(w->fallback);
    free(a); free(b); free(n); free(w);
}

static void test_shift_counts_and_live_outs_distinguish(void **state)
{
    (void)state;
    struct canon_result *a = CANON(0, ALLF, 0xc1, 0xe0, 0x03);    /* shl eax, 3 */
    struct canon_result *b = CANON(0, ALLF, 0xc1, 0xe1, 0x04);    /* shl ecx, 4 */
    struct canon_result *c = CANON(0, ALLF, 0xc1, 0xe1, 0x03);    /* shl ecx, 3 */
    assert_false(same(a, b));
    assert_same(a, c);
    assert_int_equal(a->nimm, 0);
    /* same code, different live-out flags: different templates */
    struct canon_result *d = CANON(0, GPR(RAX) | X86_LOC_FLAG(X86_CF), 0x01, 0xd8);
    struct canon_result *e = CANON(0, GPR(RAX), 0x01, 0xd8);
    assert_memory_equal(d->code, e->code, d->len);
    assert_false(same(d, e));
    /* live-outs the block never writes do not split templates */
    struct canon_result *f = CANON(0, GPR(RAX) | GPR(R12), 0x01, 0xd8);
    assert_same(e, f);
    free(a); free(b); free(c); free(d); free(e); free(f);
}

static void test_32bit_mode(void **state)
{
    (void)state;
    static const uint8_t a32[] = { 0x41, 0x01, 0xd8 };    /* inc ecx; add eax, ebx */
    static const uint8_t b32[] = { 0x42, 0x01, 0xf7 };    /* inc edx; add edi, esi */
    struct canon_result *a = canon(32, a32, 3, 0, ALLF);
    struct canon_result *b = canon(32, b32, 3, 0, ALLF);
    assert_same(a, b);
    assert_text(a, 32, "inc eax; add ecx, edx");
    for (int i = 8; i < 16; i++) assert_int_equal(a->binding[i], i);
    free(a); free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renamed_registers_collapse),
        cmocka_unit_test(test_implicit_registers_are_pinned),
        cmocka_unit_test(test_immediates_become_parameters),
        cmocka_unit_test(test_shift_counts_and_live_outs_distinguish),
        cmocka_unit_test(test_32bit_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
