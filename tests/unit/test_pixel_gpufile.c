/* test_pixel_gpufile.c — batch files (the CPU <-> CUDA executor exchange):
 * round trip, bad input rejected with a message naming file and field,
 * comparison finds every differing state; and the dependency-free validity
 * check the CUDA side uses agrees with pixel_prog_valid; and the compact
 * transfer plan (what the GPU's compact path moves) is exact for add32 and
 * sound for random programs with control flow and faults: fed only the
 * plan's inputs (everything else poisoned) and keeping only its outputs,
 * expanded back, the interpreter's results are unchanged on R0..R23. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pixel_asm.h"
#include "pixel_batch.h"
#include "pixel_interp.h"
#include "pixel_gpufile.h"
#include "test_pixel_gen.h"

static void make_job(struct pixel_job *j, uint32_t nstates)
{
    static const uint32_t sizes[2] = { GEN_R0_SIZE, GEN_R1_SIZE };
    char err[256];
    struct pixel_insn p[32];
    uint32_t n = gen_prog(p, 32, 1);
    assert_int_equal(pixel_job_alloc(j, n, nstates, 2, sizes, err, sizeof err), 0);
    memcpy(j->prog, p, n * sizeof p[0]);
    j->step_limit = 200;
    uint64_t win = pixel_job_window(j);
    for (uint32_t i = 0; i < nstates; i++) {
        uint64_t r[32], base[2];
        gen_state(r, base, j->mem + i * win, j->mem + i * win + GEN_R0_SIZE);
        for (int k = 0; k < 32; k++)
            j->regs[(uint64_t)k * nstates + i] = r[k];
        j->region_base[i] = base[0];
        j->region_base[nstates + i] = base[1];
    }
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/tmp/test_pixel_gpufile.%ld.%s", (long)getpid(), name);
}

static void test_pixel_gpufile_roundtrip_and_compare(void **state)
{
    (void)state;
    struct pixel_job j, back, res, res2;
    char path[256], err[512];
    tmp_path(path, sizeof path, "job");
    make_job(&j, 300);
    assert_int_equal(pixel_job_write(path, &j, err, sizeof err), 0);
    assert_int_equal(pixel_job_read(path, &back, err, sizeof err), 0);
    assert_false(back.has_results);
    assert_int_equal(back.ninsns, j.ninsns);
    assert_int_equal(back.step_limit, 200);
    assert_memory_equal(back.prog, j.prog, j.ninsns * sizeof *j.prog);
    assert_memory_equal(back.regs, j.regs, 32 * 300 * 8);
    assert_memory_equal(back.region_base, j.region_base, 2 * 300 * 8);
    assert_memory_equal(back.mem, j.mem, pixel_job_window(&j) * 300);

    /* run it on the batch executor, write results, read them back, compare */
    struct pixel_batch b = { back.nstates, back.nregions, { GEN_R0_SIZE, GEN_R1_SIZE, 0, 0 },
                             back.regs, back.region_base, back.mem, back.fault, back.fault_pc };
    assert_true(pixel_exec_batch(back.prog, back.ninsns, &b, back.step_limit, err, sizeof err) >= 0);
    back.has_results = true;
    assert_int_equal(pixel_job_write(path, &back, err, sizeof err), 0);
    assert_int_equal(pixel_job_read(path, &res, err, sizeof err), 0);
    assert_true(res.has_results);
    assert_int_equal(pixel_job_compare(&back, &res, NULL, 0), 0);
    assert_int_equal(pixel_job_read(path, &res2, err, sizeof err), 0);
    res2.regs[5 * 300 + 17] ^= 1;          /* R5 of state 17 */
    res2.mem[pixel_job_window(&res2) * 200 + 3] ^= 0x80;
    res2.fault_pc[250]++;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(pixel_job_compare(&res, &res2, out, 10), 3);
    fclose(out);
    assert_non_null(strstr(text, "state 17:"));
    assert_non_null(strstr(text, "R5"));
    free(text);
    pixel_job_free(&j);
    pixel_job_free(&back);
    pixel_job_free(&res);
    pixel_job_free(&res2);
    unlink(path);
}

static void test_pixel_gpufile_rejects_bad_files(void **state)
{
    (void)state;
    struct pixel_job j, back;
    char path[256], err[512];
    tmp_path(path, sizeof path, "bad");
    make_job(&j, 10);
    assert_int_equal(pixel_job_write(path, &j, err, sizeof err), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    static const struct { size_t off; uint8_t val; int truncate; const char *want; } cases[] = {
        { 0, 'X', 0, "not a batch file" },
        { 12, 9, 0, "ISA version 9" },
        { 24, 7, 0, "7 memory regions" },
        { 20, 11, 0, "needs" },               /* nstates 10 -> 11: size mismatch */
        { 48, 2, 0, "has_results field is 2" },
        { 64, 200, 0, "instruction 0" },      /* undefined opcode */
        { 8, 1, 1, "needs" },                 /* truncated (byte 8 unchanged) */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t copy[sizeof buf];
        memcpy(copy, buf, len);
        copy[cases[k].off] = cases[k].val;
        f = fopen(path, "wb");
        fwrite(copy, 1, cases[k].truncate ? len - 5 : len, f);
        fclose(f);
        err[0] = 0;
        assert_int_equal(pixel_job_read(path, &back, err, sizeof err), -1);
        if (!strstr(err, cases[k].want) || !strstr(err, path))
            fail_msg("case %zu: message '%s' lacks '%s' or the file name", k, err, cases[k].want);
    }
    assert_int_equal(pixel_job_read("/nonexistent/x.pxb", &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.pxb"));
    pixel_job_free(&j);
    unlink(path);
}

static void test_pixel_prog_check_agrees_with_validator(void **state)
{
    (void)state;
    for (int rep = 0; rep < 20000; rep++) {
        struct pixel_insn p[6];
        uint32_t n = 1 + (uint32_t)(gen_next() % 6);
        for (uint32_t k = 0; k < n; k++) {
            if (gen_next() % 3)
                p[k] = gen_insn((uint8_t)gen_next(), k, n);   /* often undefined opcodes */
            else
                p[k] = pixel_word_insn((uint32_t)gen_next());
        }
        uint8_t bytes[24];
        pixel_encode(p, n, bytes);
        assert_int_equal(pixel_prog_first_bad(bytes, n) < 0, pixel_prog_valid(p, n, NULL, 0));
    }
}

/* The compact path's data flow on the CPU (as pixel-gpu-tool run --executor
 * compact): returns the expanded result of running j's states. */
static void run_compact_cpu(const struct pixel_job *j, const struct pixel_xfer_plan *p,
                            struct pixel_job *res)
{
    char err[256];
    const uint64_t n = j->nstates, win = pixel_job_window(j);
    assert_int_equal(pixel_job_alloc(res, j->ninsns, j->nstates, j->nregions, j->region_size, err,
                                     sizeof err), 0);
    memcpy(res->prog, j->prog, j->ninsns * sizeof *j->prog);
    res->step_limit = j->step_limit;
    memcpy(res->regs, j->regs, 32 * n * 8);
    memcpy(res->region_base, j->region_base, j->nregions * n * 8);
    memcpy(res->mem, j->mem, win * n);
    int nout = __builtin_popcount(p->out_rows);
    uint8_t *fin = calloc(n, 1), *fout = calloc(n, 1);
    uint64_t *rows = calloc(nout * n + 1, 8);
    uint32_t *rows32 = calloc(nout * n + 1, 4);
    uint16_t *status = calloc(n, 2);
    pixel_xfer_pack_flags(j, p, 0, n, fin);
    struct pixel_batch b = { res->nstates, res->nregions, { 0 }, res->regs, res->region_base,
                             res->mem, res->fault, res->fault_pc };
    memcpy(b.region_size, res->region_size, sizeof b.region_size);
    for (uint64_t i = 0; i < n; i++) {
        struct pixel_state st;
        struct x86_mem m;
        struct pixel_result r;
        pixel_batch_get(&b, (uint32_t)i, &st, &m);
        for (int k = 0; k < 32; k++) {
            /* what the plan does not upload is poison: upper halves of 32-bit rows too */
            const uint64_t poison = 0x5aa5c33c0ff0e11eull * (k + 1) + i;
            st.r[k] = (p->in_narrow >> k & 1) ? (poison & ~0xffffffffull) | (uint32_t)j->regs[k * n + i]
                      : (p->in_rows >> k & 1) ? j->regs[k * n + i]
                      : (p->in_uniform >> k & 1) ? p->in_val[k]
                      : (p->in_flags >> k & 1) ? (uint64_t)(fin[i] >> PIXEL_FLAG_BIT(k) & 1)
                      : poison;
        }
        pixel_run_valid(j->prog, j->ninsns, &st, j->step_limit, &r);
        int slot = 0, slot32 = 0;
        for (int k = 0; k < 32; k++) {
            if (p->out_narrow >> k & 1)
                rows32[slot32++ * n + i] = (uint32_t)st.r[k];
            else if (p->out_rows >> k & 1)
                rows[slot++ * n + i] = st.r[k];
            if (p->out_flags >> k & 1)
                fout[i] |= (uint8_t)((st.r[k] & 1) << PIXEL_FLAG_BIT(k));
        }
        status[i] = PIXEL_XFER_STATUS(r.fault, r.pc);
    }
    pixel_xfer_expand(res, p, rows, rows32, fout, p->status_known ? NULL : status, NULL);
    free(fin);
    free(fout);
    free(rows);
    free(rows32);
    free(status);
}

static void test_pixel_xfer_plan_add32_is_exact(void **state)
{
    (void)state;
    static const char add32[] =
        "ZEXT32 R24, RAX\nZEXT32 R25, RBX\nADD R26, R24, R25\nZEXT32 RAX, R26\n"
        "BIT CF, R26, 32\nPARITY PF, R26\nXOR R27, R24, R25\nXOR R27, R27, R26\n"
        "BIT AF, R27, 4\nCMPEQZ ZF, RAX\nBIT SF, RAX, 31\nXOR R28, R24, R26\n"
        "XOR R29, R25, R26\nAND R28, R28, R29\nBIT OF, R28, 31\nADDI RIP, RIP, 2\n";
    struct pixel_insn prog[32];
    char err[256];
    int n = pixel_asm(add32, prog, 32, err, sizeof err);
    assert_int_equal(n, 16);
    struct pixel_job j;
    uint32_t none[4] = { 0 };
    assert_int_equal(pixel_job_alloc(&j, (uint32_t)n, 4, 0, none, err, sizeof err), 0);
    memcpy(j.prog, prog, sizeof prog[0] * n);
    for (int i = 0; i < 4; i++)   /* every register differs between states */
        for (int k = 0; k < 32; k++)
            j.regs[k * 4 + i] = 0x0123456789abcdefull * (uint64_t)(k + 1) + (uint64_t)i * 0x100000001ull;
    /* the rows a timed loop restores: RAX, the six flags, RIP, R24..R29 (not RBX) */
    assert_int_equal(pixel_prog_writes(prog, (size_t)n),
                     1u << 0 | 0x3fu << 16 | 1u << 22 | 0x3fu << 24);
    struct pixel_xfer_plan p;
    pixel_xfer_plan_make(&j, &p);
    assert_true(p.simple);
    assert_true(p.status_known);
    assert_int_equal(p.in_rows, 1u << 0 | 1u << 3 | 1u << 22);   /* RAX, RBX, RIP */
    assert_int_equal(p.in_narrow, 1u << 0 | 1u << 3);             /* RAX, RBX: low halves only */
    assert_int_equal(p.in_flags, 0);
    assert_int_equal(p.out_rows, 1u << 0 | 1u << 22);             /* RAX, RIP */
    assert_int_equal(p.out_narrow, 1u << 0);                      /* RAX zero-extended */
    assert_int_equal(p.out_hi[0], 0);
    assert_int_equal(p.out_flags, 0x3fu << 16);                   /* CF..OF as bits */
    assert_false(p.mem_in);
    assert_int_equal(p.bytes_in, 4 + 4 + 8);
    assert_int_equal(p.bytes_out, 4 + 8 + 1);
    /* one rip for every state (a template instance): rip neither goes up nor
     * comes down (rip + 2 is computed once) */
    for (int i = 0; i < 4; i++)
        j.regs[22 * 4 + i] = 0x401000;
    pixel_xfer_plan_make(&j, &p);
    assert_int_equal(p.in_uniform, 1u << 22);
    assert_int_equal(p.in_val[22], 0x401000);
    assert_int_equal(p.out_uniform, 1u << 22);
    assert_int_equal(p.out_val[22], 0x401002);
    assert_int_equal(p.bytes_in, 8);
    assert_int_equal(p.bytes_out, 4 + 1);
    struct pixel_job cmp, ref;
    run_compact_cpu(&j, &p, &cmp);
    struct pixel_xfer_plan all;
    memset(&all, 0, sizeof all);
    all.in_rows = all.out_rows = 0xffffffffu;
    run_compact_cpu(&j, &all, &ref);
    assert_int_equal(pixel_job_compare_guest(&ref, &cmp, NULL, 0), 0);
    pixel_job_free(&cmp);
    pixel_job_free(&ref);
    for (int i = 0; i < 4; i++)
        for (int k = 16; k < 24; k++)
            j.regs[k * 4 + i] = (uint64_t)i & 1;
    /* a flag that is read, with a value other than 0/1 in some state, travels as a row */
    j.prog[0] = (struct pixel_insn){ PX_MOV, 24, PIXEL_REG_CF, 0 };
    pixel_xfer_plan_make(&j, &p);
    assert_int_equal(p.in_flags, 1u << 16);
    j.regs[16 * 4 + 2] = 7;
    pixel_xfer_plan_make(&j, &p);
    assert_int_equal(p.in_flags, 0);
    assert_true(p.in_rows >> 16 & 1);
    pixel_job_free(&j);
}

static void test_pixel_xfer_plan_sound_on_random_programs(void **state)
{
    (void)state;
    int simple = 0, narrowed = 0;
    for (int rep = 0; rep < 300; rep++) {
        struct pixel_job j, ref, cmp;
        make_job(&j, 64);
        /* a third of them straight-line (jumps, calls and returns become NOPs) */
        for (uint32_t x = 0; rep % 3 == 0 && x < j.ninsns; x++) {
            uint8_t op = j.prog[x].op;
            if (op == PX_JUMP || op == PX_JZ || op == PX_JNZ || op == PX_CALL || op == PX_RET)
                j.prog[x] = (struct pixel_insn){ PX_NOP, 0, 0, 0 };
        }
        /* a sixth of them fault-free straight-line (memory and division become
         * NOPs too): the narrowing analyses apply */
        for (uint32_t x = 0; rep % 6 == 0 && x < j.ninsns; x++) {
            uint8_t op = j.prog[x].op;
            int kind = pixel_op_kind(op);
            if (kind == PXK_LOAD || kind == PXK_STORE || op == PX_DIV || op == PX_DIVS || op == PX_REMU ||
                op == PX_REMS)
                j.prog[x] = (struct pixel_insn){ PX_NOP, 0, 0, 0 };
        }
        /* in a fifth of them some registers hold one value in every state (uniform) */
        for (int k = 0; rep % 5 == 1 && k < 32; k += 3)
            for (uint64_t i = 1; i < 64; i++)
                j.regs[k * 64 + i] = j.regs[k * 64];
        /* half the jobs follow the guest convention: flags 0/1 (packed as bits) */
        for (uint64_t i = 0; rep % 2 && i < 64 * 32; i++)
            if (PIXEL_FLAG_REG_MASK >> (i / 64) & 1)
                j.regs[i] &= 1;
        struct pixel_xfer_plan p;
        pixel_xfer_plan_make(&j, &p);
        run_compact_cpu(&j, &p, &cmp);
        /* the reference: every register in, everything out */
        struct pixel_xfer_plan all;
        memset(&all, 0, sizeof all);
        all.in_rows = all.out_rows = 0xffffffffu;
        all.mem_in = all.mem_out = true;
        run_compact_cpu(&j, &all, &ref);
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        long d = pixel_job_compare_guest(&ref, &cmp, out, 3);
        fclose(out);
        if (d != 0)
            fail_msg("program %d (%u insns, plan in %#x/%#x narrow %#x uniform %#x out %#x/%#x narrow %#x "
                     "uniform %#x): %ld states differ:\n%s", rep, j.ninsns, p.in_rows, p.in_flags, p.in_narrow,
                     p.in_uniform, p.out_rows, p.out_flags, p.out_narrow, p.out_uniform, d, text);
        simple += p.simple;
        narrowed += p.in_narrow || p.out_narrow || p.out_uniform;
        free(text);
        pixel_job_free(&j);
        pixel_job_free(&ref);
        pixel_job_free(&cmp);
    }
    /* the narrowing was exercised, not only the general plan */
    assert_true(simple >= 40);
    assert_true(narrowed >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_gpufile_roundtrip_and_compare),
        cmocka_unit_test(test_pixel_gpufile_rejects_bad_files),
        cmocka_unit_test(test_pixel_prog_check_agrees_with_validator),
        cmocka_unit_test(test_pixel_xfer_plan_add32_is_exact),
        cmocka_unit_test(test_pixel_xfer_plan_sound_on_random_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
