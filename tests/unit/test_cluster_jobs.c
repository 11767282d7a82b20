/* test_cluster_jobs.c — cluster on BLOCK records: hot threshold, system
 * filtering, templates with instances and bindings, sub-patterns of long
 * blocks, priority order of the SYNTH_JOBs (valid records), library hits
 * and misses against a real library directory, re-emission, report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../stages/cfg/cfg.h"
#include "../../stages/cluster/cluster.h"
#include "library.h"
#include "records.h"

#define ALL64 (X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS)

static bool add(struct cluster *c, uint64_t pc, const uint8_t *code, uint32_t len, uint64_t count,
                uint8_t cls, x86_locset live_out, const struct rec_sample *samples, uint32_t nsamples)
{
    struct rec_block b;
    memset(&b, 0, sizeof b);
    b.pc = pc;
    b.cpu_mode = 64;
    b.code.ptr = code;
    b.code.len = len;
    b.exec_count = count;
    b.class = cls;
    b.live_in = ALL64;
    b.live_out = live_out;
    b.samples.n = nsamples;
    b.samples.v = (struct rec_sample *)samples;
    return cluster_add_block(c, &b);
}

struct jobs {
    int n;
    char key[16][65];
    uint8_t cls[16];
    uint64_t count[16];
    uint32_t ninst[16];
    bool hit[16];
    uint32_t nsamples[16];
    uint64_t sample_rax[16];
    uint8_t binding0[16][16];
    uint64_t imm0[16];
};

static bool collect(void *ctx, const struct rec_synth_job *j)
{
    struct jobs *J = ctx;
    /* every job is a valid record */
    struct rec_buf b;
    struct rec_error err;
    rec_buf_init(&b);
    if (rec_encode_synth_job(&b, j, &err) < 0) fail_msg("SYNTH_JOB does not encode: %s", err.msg);
    struct rec r;
    struct rec_arena a;
    rec_arena_init(&a);
    assert_int_equal(rec_decode(b.data, b.len, &r, &a, &err), REC_SYNTH_JOB);
    assert_string_equal(r.u.synth_job.template_key.ptr, j->template_key.ptr);
    rec_arena_free(&a);
    rec_buf_free(&b);
    assert_true(J->n < 16);
    int k = J->n++;
    snprintf(J->key[k], sizeof J->key[k], "%s", j->template_key.ptr);
    J->cls[k] = j->class;
    J->count[k] = j->exec_count;
    J->ninst[k] = j->instances.n;
    J->hit[k] = j->lib_hit;
    J->nsamples[k] = j->samples.n;
    J->sample_rax[k] = j->samples.n ? j->samples.v[0].pre.gpr[X86_RAX] : 0;
    if (j->instances.n) {
        memcpy(J->binding0[k], j->instances.v[0].binding, 16);
        J->imm0[k] = j->instances.v[0].imms.n ? j->instances.v[0].imms.v[0] : 0;
    }
    return true;
}

/* loop bodies: add eax,ebx; dec ecx; jnz -6   and the renamed add esi,edi; dec edx; jnz -6 */
static const uint8_t loop_a[] = { 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa };
static const uint8_t loop_b[] = { 0x01, 0xfe, 0xff, 0xca, 0x75, 0xfa };
static const uint8_t mem_a[]  = { 0x8b, 0x03, 0x83, 0xc0, 0x07, 0xc3 };   /* mov eax,[rbx]; add eax,7; ret */
static const uint8_t shl3[]   = { 0xc1, 0xe0, 0x03, 0x74, 0x00 };         /* shl eax,3; jz +0 */
static const uint8_t shl4[]   = { 0xc1, 0xe0, 0x04, 0x74, 0x00 };
static const uint8_t sys[]    = { 0x0f, 0xa2, 0xc3 };                     /* cpuid; ret */

static void test_templates_and_priority(void **state)
{
    (void)state;
    struct cluster_options o;
    cluster_options_default(&o);
    struct cluster *c = malloc(sizeof *c);
    assert_true(cluster_init(c, &o, NULL));
    struct rec_sample s = { 0 };
    s.pre.gpr[X86_RSI] = 1234;      /* loop_b's first canonical register is rsi */
    assert_true(add(c, 0x1000, loop_a, sizeof loop_a, 20000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_true(add(c, 0x2000, loop_b, sizeof loop_b, 30000, CFG_CLASS_ALU, ALL64, &s, 1));
    assert_true(add(c, 0x3000, mem_a, sizeof mem_a, 90000, CFG_CLASS_MEM, ALL64, NULL, 0));
    assert_true(add(c, 0x4000, shl3, sizeof shl3, 15000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_true(add(c, 0x5000, shl4, sizeof shl4, 16000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_true(add(c, 0x6000, sys, sizeof sys, 50000, CFG_CLASS_SYSTEM, ALL64, NULL, 0));
    assert_true(add(c, 0x7000, loop_a, sizeof loop_a, 9999, CFG_CLASS_ALU, ALL64, NULL, 0));   /* cold */
    /* same code as loop_a but no flag live after it: another template */
    assert_true(add(c, 0x8000, loop_a, sizeof loop_a, 11000, CFG_CLASS_ALU, X86_LOC_ALL_GPRS, NULL, 0));
    assert_int_equal(c->n.blocks_hot, 7);
    assert_int_equal(c->n.filtered_system, 1);
    assert_int_equal(c->n.templates, 5);     /* loop (x2 instances), loop w/o flags, mem, shl3, shl4 */

    struct jobs J = { 0 };
    assert_int_equal(cluster_flush(c, collect, &J), 5);
    /* ALU first by count: loop (50000), shl4, shl3, loop-without-flags; then memory */
    assert_int_equal(J.cls[0], CFG_CLASS_ALU);
    assert_int_equal(J.count[0], 50000);
    assert_int_equal(J.ninst[0], 2);
    assert_int_equal(J.count[1], 16000);
    assert_int_equal(J.count[2], 15000);
    assert_int_equal(J.count[3], 11000);
    assert_int_equal(J.cls[4], CFG_CLASS_MEM);
    assert_string_not_equal(J.key[1], J.key[2]);          /* shift counts differ */
    assert_string_not_equal(J.key[0], J.key[3]);          /* live-outs differ */
    /* hottest instance first: loop_b at 0x2000, canonical r0 = rsi */
    assert_int_equal(J.binding0[0][0], X86_RSI);
    assert_int_equal(J.binding0[0][1], X86_RDI);
    assert_int_equal(J.nsamples[0], 1);
    assert_int_equal(J.sample_rax[0], 1234);              /* renamed into canonical registers */
    assert_int_equal(J.imm0[4], 7);                       /* add eax,7: parameter */
    assert_true(cluster_dedup_ratio(c) > 1.19 && cluster_dedup_ratio(c) < 1.21);   /* 6 instances / 5 */

    /* Nothing changed: nothing to emit.  The cold block turning hot joins
     * the loop template, which is emitted again with 3 instances. */
    J.n = 0;
    assert_int_equal(cluster_flush(c, collect, &J), 0);
    assert_true(add(c, 0x7000, loop_a, sizeof loop_a, 10000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_int_equal(cluster_flush(c, collect, &J), 1);
    assert_int_equal(J.ninst[0], 3);
    assert_int_equal(J.count[0], 60000);
    /* a redelivered record with a higher count updates the sum, not the instances */
    assert_true(add(c, 0x1000, loop_a, sizeof loop_a, 25000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_int_equal(c->tmpl[c->inst[0].tmpl].exec_count, 65000);
    assert_int_equal(c->tmpl[c->inst[0].tmpl].nlive, 3);

    char dir[] = "/tmp/test_cluster_reportXXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_true(cluster_write_report(c, dir));
    char path[256];
    snprintf(path, sizeof path, "%s/cluster.json", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[65536] = { 0 };
    assert_true(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"dedup_ratio\""));
    assert_non_null(strstr(buf, "add eax, ecx"));
    unlink(path);
    rmdir(dir);
    cluster_free(c);
    free(c);
}

static void test_long_block_subpatterns(void **state)
{
    (void)state;
    struct cluster_options o;
    cluster_options_default(&o);
    o.max_template_insns = 8;
    o.threshold = 100;
    struct cluster c;
    assert_true(cluster_init(&c, &o, NULL));
    uint8_t code[41];
    for (int i = 0; i < 20; i++) { code[2 * i] = 0x01; code[2 * i + 1] = 0xd8; }   /* 20 x add eax,ebx */
    code[40] = 0xc3;
    assert_true(add(&c, 0x9000, code, sizeof code, 500, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_int_equal(c.n.subpatterns, 3);
    assert_int_equal(c.ninst, 3);
    assert_int_equal(c.inst[0].pc, 0x9000);
    assert_int_equal(c.inst[1].pc, 0x9010);
    assert_int_equal(c.inst[2].pc, 0x9020);
    /* the first two chunks are the same 8 adds with only eax live after
     * (the next add kills the flags): one template */
    assert_int_equal(c.inst[0].tmpl, c.inst[1].tmpl);
    assert_int_not_equal(c.inst[1].tmpl, c.inst[2].tmpl);
    assert_int_equal(c.tmpl[c.inst[0].tmpl].live_out, X86_LOC_GPR(0));
    assert_int_equal(c.n.templates, 2);
    cluster_free(&c);
}

static void test_library_hit_and_miss(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cluster_libXXXXXX";
    assert_non_null(mkdtemp(dir));
    struct library *lib = library_open(dir, NULL);
    assert_non_null(lib);
    struct cluster_options o;
    cluster_options_default(&o);
    struct cluster c;
    assert_true(cluster_init(&c, &o, lib));
    assert_true(add(&c, 0x4000, shl3, sizeof shl3, 15000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_true(add(&c, 0x5000, shl4, sizeof shl4, 16000, CFG_CLASS_ALU, ALL64, NULL, 0));
    /* store microcode for the shl-3 template under its key */
    uint32_t ti = c.inst[0].tmpl;
    struct library_entry e;
    library_entry_init(&e);
    assert_true(library_entry_set_code(&e, c.tmpl[ti].code, c.tmpl[ti].len));
    e.cpu_mode = 64;
    e.live_out = c.tmpl[ti].live_out;
    e.isa_version = library_isa_version(lib);
    e.semantics_version = library_semantics_version(lib);
    static const uint8_t ops[] = { 10, 0, 0, 1, 0, 0, 0, 0 };
    assert_true(library_entry_set_ops(&e, ops, sizeof ops));
    e.method = LIBRARY_METHOD_BASELINE;
    e.proof = LIBRARY_PROOF_PROVED;
    e.tests_unicorn = e.tests_native = 10000;
    library_entry_rekey(&e);
    assert_string_equal(e.key, c.tmpl[ti].key);      /* cluster's key is the library's key */
    assert_int_equal(library_put_verified(lib, &e), 0);
    library_entry_free(&e);

    struct jobs J = { 0 };
    assert_int_equal(cluster_flush(&c, collect, &J), 2);
    assert_int_equal(c.n.lib_hits, 1);
    assert_int_equal(c.n.lib_misses, 1);
    assert_false(J.hit[0]);                           /* shl4: hotter, a miss */
    assert_true(J.hit[1]);                            /* shl3: a hit */
    cluster_free(&c);
    library_close(lib);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The same pc with other code is another program's block; a cfg split (the
 * new code is a prefix of the old) replaces the old extent. */
static void test_same_pc_other_code(void **state)
{
    (void)state;
    struct cluster_options o;
    cluster_options_default(&o);
    struct cluster c;
    assert_true(cluster_init(&c, &o, NULL));
    assert_true(add(&c, 0x4000, shl3, sizeof shl3, 15000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_true(add(&c, 0x4000, loop_a, sizeof loop_a, 20000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_int_equal(c.n.blocks_distinct, 2);
    assert_int_equal(c.n.templates, 2);
    /* cfg split loop_a after "add eax,ebx": the head comes again, shorter */
    assert_true(add(&c, 0x4000, loop_a, 2, 20000, CFG_CLASS_ALU, ALL64, NULL, 0));
    assert_int_equal(c.n.blocks_distinct, 2);
    assert_int_equal(c.block[1].len, 2);
    assert_int_equal(c.n.templates, 3);
    uint32_t live = 0;
    for (uint32_t i = 0; i < c.ntmpl; i++) live += c.tmpl[i].nlive;
    assert_int_equal(live, 2);            /* the old extent's instance is gone */
    cluster_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templates_and_priority),
        cmocka_unit_test(test_long_block_subpatterns),
        cmocka_unit_test(test_library_hit_and_miss),
        cmocka_unit_test(test_same_pc_other_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
