/* test_pixel_isa.c — the Pixel ISA table, encoding, validation, assembler
 * and disassembler, the seeds' ADD EAX, EBX example, and that
 * docs/pixel-isa.md carries the table generated from PIXEL_OPCODES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixel_asm.h"
#include "pixel_interp.h"
#include "pixel_isa.h"
#include "test_pixel_gen.h"

static void test_pixel_core_opcodes_at_seed_numbers(void **state)
{
    (void)state;
    static const struct { const char *name; int code; } core[] = {
        { "NOP", 0 }, { "MOV", 1 }, { "ADD", 2 }, { "SUB", 3 }, { "MUL", 4 }, { "DIV", 5 },
        { "AND", 6 }, { "OR", 7 }, { "XOR", 8 }, { "NOT", 9 }, { "SHL", 10 }, { "SHR", 11 },
        { "LOAD", 12 }, { "STORE", 13 }, { "JUMP", 14 }, { "JZ", 15 }, { "JNZ", 16 },
        { "CALL", 17 }, { "RET", 18 }, { "HALT", 255 },
    };
    for (size_t k = 0; k < sizeof core / sizeof core[0]; k++)
        assert_int_equal(pixel_opcode_by_name(core[k].name), core[k].code);
    int ncore = 0;
    for (int op = 0; op < 256; op++) {
        const struct pixel_opinfo *o = pixel_opinfo((uint8_t)op);
        if (!o->name)
            continue;
        assert_int_equal(o->code, op);
        assert_int_equal(pixel_opcode_by_name(o->name), op);
        if (op < PIXEL_CORE_LIMIT || op == 255)
            ncore++;
    }
    assert_int_equal(ncore, 20);   /* extensions only from 32 up */
}

static void test_pixel_asm_disasm_roundtrip_every_opcode(void **state)
{
    (void)state;
    char text[128], err[256];
    for (int op = 0; op < 256; op++) {
        if (!pixel_opinfo((uint8_t)op)->name)
            continue;
        for (int rep = 0; rep < 50; rep++) {
            struct pixel_insn i = gen_insn((uint8_t)op, 5, 40), back[2];
            assert_true(pixel_insn_valid(i, err, sizeof err));
            pixel_disasm_insn(i, text, sizeof text);
            int n = pixel_asm(text, back, 2, err, sizeof err);
            if (n != 1)
                fail_msg("'%s' did not assemble: %s", text, err);
            if (memcmp(&i, &back[0], sizeof i) != 0)
                fail_msg("'%s': %08x assembled back to %08x", text, pixel_insn_word(i),
                         pixel_insn_word(back[0]));
            uint8_t bytes[4];
            struct pixel_insn dec[1];
            pixel_encode(&i, 1, bytes);
            assert_int_equal(bytes[0], i.op);
            assert_int_equal(bytes[1], i.rd);
            assert_int_equal(bytes[2], i.rs1);
            assert_int_equal(bytes[3], i.rs2);
            struct pixel_insn prog[40];
            for (int k = 0; k < 40; k++)
                prog[k] = (struct pixel_insn){ 0, 0, 0, 0 };
            prog[5] = i;
            uint8_t all[160];
            pixel_encode(prog, 40, all);
            struct pixel_insn dprog[40];
            assert_int_equal(pixel_decode(all, sizeof all, dprog, 40, err, sizeof err), 40);
            assert_memory_equal(&dprog[5], &i, sizeof i);
            (void)dec;
        }
    }
}

static void test_pixel_program_text_roundtrip(void **state)
{
    (void)state;
    struct pixel_insn p[64], q[64];
    char err[256];
    for (int rep = 0; rep < 200; rep++) {
        uint32_t n = gen_prog(p, 64, 1);
        size_t need = pixel_disasm(p, n, NULL, 0);
        char *text = malloc(need + 1);
        assert_non_null(text);
        assert_int_equal(pixel_disasm(p, n, text, need + 1), need);
        int m = pixel_asm(text, q, 64, err, sizeof err);
        if (m != (int)n)
            fail_msg("program did not round-trip (%d vs %u): %s\n%s", m, n, err, text);
        assert_memory_equal(p, q, n * sizeof p[0]);
        free(text);
    }
}

static void test_pixel_decode_rejects_malformed(void **state)
{
    (void)state;
    char err[256];
    struct pixel_insn out[4];
    static const uint8_t bad[][4] = {
        { 19, 0, 0, 0 },          /* undefined opcode */
        { 31, 1, 2, 3 },
        { 2, 32, 1, 2 },          /* rd >= 32 */
        { 2, 1, 40, 2 },          /* rs1 >= 32 */
        { 1, 1, 2, 3 },           /* MOV with rs2 != 0 */
        { 0, 1, 0, 0 },           /* NOP with operands */
        { 38, 1, 2, 64 },         /* SHLI by 64 */
        { 13, 1, 2, 3 },          /* STORE with rd != 0 */
        { 14, 0, 5, 0 },          /* JUMP +5 out of a 1-instruction program */
        { 15, 1, 0xfe, 0xff },    /* JZ -2 before the start */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err[0] = 0;
        assert_int_equal(pixel_decode(bad[k], 4, out, 4, err, sizeof err), -1);
        assert_true(strstr(err, "instruction 0") != NULL);
    }
    assert_int_equal(pixel_decode(bad[0], 3, out, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "multiple of 4"));
    /* JUMP +0 (to the end) and JZ -1 (to itself) are fine */
    static const uint8_t ok[] = { 14, 0, 0, 0 };
    assert_int_equal(pixel_decode(ok, 4, out, 4, err, sizeof err), 1);
}

static void test_pixel_asm_errors_and_labels(void **state)
{
    (void)state;
    struct pixel_insn p[16];
    char err[256];
    const char *src =
        "; count RCX down to 0, adding RDX to RAX each time\n"
        "loop:  JZ RCX, done      # exit\n"
        "       ADD RAX, RAX, RDX\n"
        "       ADDI RCX, RCX, -1 // next\n"
        "       JUMP loop\n"
        "done:  HALT\n";
    assert_int_equal(pixel_asm(src, p, 16, err, sizeof err), 5);
    assert_int_equal(p[0].op, PX_JZ);
    assert_int_equal(pixel_insn_off16(p[0]), 3);
    assert_int_equal(pixel_insn_off16(p[3]), -4);
    struct pixel_state s = { { 0 }, NULL };
    s.r[1] = 5;
    s.r[2] = 7;
    struct pixel_result res;
    assert_int_equal(pixel_run(p, 5, &s, 0, &res), PIXEL_FAULT_NONE);
    assert_int_equal(s.r[0], 35);
    assert_int_equal(res.pc, 4);
    static const struct { const char *text, *want; } bad[] = {
        { "ADD R1, R2", "takes 3 operand" },
        { "FOO R1", "unknown mnemonic 'FOO'" },
        { "ADD R1, R2, R32", "'R32' is not a register" },
        { "SHLI R1, R2, 64", "'64' is not an integer in 0..63" },
        { "LDI R1, 40000", "in -32768..32767" },
        { "LOAD R1, R2", "must be [Rn]" },
        { "NOP\nJUMP nowhere", "line 2: jump operand 'nowhere'" },
        { "x: NOP\nx: NOP", "defined twice" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err[0] = 0;
        assert_int_equal(pixel_asm(bad[k].text, p, 16, err, sizeof err), -1);
        if (!strstr(err, bad[k].want))
            fail_msg("'%s': message '%s' lacks '%s'", bad[k].text, err, bad[k].want);
    }
}

/* The seeds' example: ADD EAX, EBX as MOV/MOV/ADD/MOV, with the 32-bit
 * zero-extension x86 applies to a 32-bit destination, plus ZF and CF. */
static void test_pixel_seed_add_eax_ebx(void **state)
{
    (void)state;
    const char *src =
        "MOV R24, RAX\n"
        "MOV R25, RBX\n"
        "ADD R24, R24, R25\n"
        "ZEXT32 R24, R24\n"      /* the 32-bit result */
        "ZEXT32 R26, RAX\n"
        "CMPLTU CF, R24, R26\n"  /* carry: result < operand (unsigned, 32 bits) */
        "CMPEQZ ZF, R24\n"
        "MOV RAX, R24\n";
    struct pixel_insn p[16];
    char err[256];
    int n = pixel_asm(src, p, 16, err, sizeof err);
    assert_int_equal(n, 8);
    static const uint64_t cases[][2] = {
        { 0xdeadbeef00000001ull, 0x1122334400000002ull },
        { 0x00000000ffffffffull, 1 },
        { 0xffffffff80000000ull, 0x80000000ull },
        { 5, 7 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct x86_regs x = { { 0 }, 0, 0, 0, 0 };
        x.gpr[X86_RAX] = cases[k][0];
        x.gpr[X86_RBX] = cases[k][1];
        x.rip = 0x401000;
        struct pixel_state s;
        pixel_state_from_x86(&x, NULL, &s);
        assert_int_equal(pixel_run(p, (size_t)n, &s, 0, NULL), PIXEL_FAULT_NONE);
        struct x86_regs y = x;
        pixel_state_to_x86(&s, &y);
        uint32_t sum = (uint32_t)cases[k][0] + (uint32_t)cases[k][1];
        assert_int_equal(y.gpr[X86_RAX], (uint64_t)sum);            /* upper half cleared */
        assert_int_equal(y.gpr[X86_RBX], cases[k][1]);
        assert_int_equal((y.rflags >> X86_RFLAGS_ZF) & 1, sum == 0);
        assert_int_equal((y.rflags >> X86_RFLAGS_CF) & 1, sum < (uint32_t)cases[k][0]);
        assert_int_equal(y.rip, 0x401000);
    }
}

static void test_pixel_state_convention_roundtrip(void **state)
{
    (void)state;
    for (int rep = 0; rep < 100; rep++) {
        struct x86_regs x;
        for (int k = 0; k < X86_NGPR; k++)
            x.gpr[k] = gen_next();
        x.rip = gen_next();
        x.rflags = gen_next() & 0x3fffff;
        x.fs_base = gen_next();
        x.gs_base = gen_next();
        struct pixel_state s;
        pixel_state_from_x86(&x, NULL, &s);
        for (int f = 0; f < X86_NFLAG; f++)
            assert_int_equal(s.r[PIXEL_REG_FLAG(f)],
                             (x.rflags >> x86_flag_rflags_bit((enum x86_flag)f)) & 1);
        assert_int_equal(s.r[PIXEL_REG_DF], (x.rflags >> X86_RFLAGS_DF) & 1);
        for (int k = PIXEL_REG_SCRATCH0; k < PIXEL_NREGS; k++)
            assert_int_equal(s.r[k], 0);
        struct x86_regs y = x;
        y.rflags ^= X86_RFLAGS_STATUS_MASK;     /* to_x86 must rewrite every status bit */
        pixel_state_to_x86(&s, &y);
        assert_memory_equal(&x, &y, sizeof x);
    }
    assert_string_equal(pixel_reg_role(19), "R19/ZF");
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[len] = 0;
    fclose(f);
    return buf;
}

#define DOC_BEGIN "<!-- BEGIN OPCODE TABLE: generated from PIXEL_OPCODES by test_pixel_isa; do not edit -->\n"
#define DOC_END "<!-- END OPCODE TABLE -->"

/* TCGL_PIXEL_DOC_WRITE=1 rewrites the section instead of checking it. */
static void test_pixel_doc_table_matches(void **state)
{
    (void)state;
    const char *root = getenv("TCGL_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/pixel-isa.md", root ? root : ".");
    char *doc = read_file(path);
    if (!doc)
        fail_msg("cannot read %s", path);
    char *b = strstr(doc, DOC_BEGIN), *e = b ? strstr(b, DOC_END) : NULL;
    if (!b || !e)
        fail_msg("%s lacks the markers %s ... %s", path, DOC_BEGIN, DOC_END);
    b += strlen(DOC_BEGIN);
    size_t need = pixel_isa_markdown(NULL, 0);
    char *table = malloc(need + 1);
    assert_non_null(table);
    pixel_isa_markdown(table, need + 1);
    const char *w = getenv("TCGL_PIXEL_DOC_WRITE");
    if (w && strcmp(w, "1") == 0) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(doc, 1, (size_t)(b - doc), f);
        fputs(table, f);
        fputs(e, f);
        fclose(f);
    } else if ((size_t)(e - b) != need || memcmp(b, table, need) != 0) {
        fail_msg("the opcode table in %s is stale: regenerate it with "
                 "TCGL_PIXEL_DOC_WRITE=1 TCGL_ROOT=$PWD BUILD/tests/test_pixel_isa", path);
    }
    free(table);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_core_opcodes_at_seed_numbers),
        cmocka_unit_test(test_pixel_asm_disasm_roundtrip_every_opcode),
        cmocka_unit_test(test_pixel_program_text_roundtrip),
        cmocka_unit_test(test_pixel_decode_rejects_malformed),
        cmocka_unit_test(test_pixel_asm_errors_and_labels),
        cmocka_unit_test(test_pixel_seed_add_eax_ebx),
        cmocka_unit_test(test_pixel_state_convention_roundtrip),
        cmocka_unit_test(test_pixel_doc_table_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
