/* test_tracer_insns — the compact instruction record TRACE_INSNS: a stream of
 * hand-built literal TRACE_INSN records is packed the way trace_logger.so
 * packs it (tl_pack_*), encoded, decoded by the real validating decoder and
 * expanded (tl_insns_expand); every expanded view must equal its literal
 * record field by field.  Also: records split at any size, the per
 * instruction access limit, and malformed records rejected with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "records.h"
#include "../../stages/tracer/tl_insns.h"
#include "xorshift.h"

/* ---- two TBs, as TRACE_TB records ------------------------------------------------ */
/* TB 1 at 0x401000: mov rax,[rdi]; add rcx,rax; push rbx.  TB 2 at 0x402000: dec rcx; jnz. */
static const uint8_t tb1_code[] = { 0x48, 0x8b, 0x07, 0x48, 0x01, 0xc1, 0x53 };
static const uint8_t tb1_lens[] = { 3, 3, 1 };
static const uint8_t tb2_code[] = { 0x48, 0xff, 0xc9, 0x75, 0xf0 };
static const uint8_t tb2_lens[] = { 3, 2 };
static struct rec_str tb1_dis[3], tb2_dis[2];
static struct tl_insn_tb *tbs[3];

static const struct tl_insn_tb *lookup(void *ctx, uint32_t id)
{
    (void)ctx;
    return id < 3 ? tbs[id] : NULL;
}

static int setup(void **state)
{
    tb1_dis[0] = rec_str_c("mov rax, qword ptr [rdi]");
    tb1_dis[1] = rec_str_c("add rcx, rax");
    tb1_dis[2] = rec_str_c("push rbx");
    tb2_dis[0] = rec_str_c("dec rcx");
    tb2_dis[1] = rec_str_c("jnz 0x401ff5");
    struct rec_trace_tb t1 = { .tb_id = 1, .pc = 0x401000, .cpu_mode = 64, .cpl = 3,
                               .code = { tb1_code, sizeof tb1_code }, .insn_len = { tb1_lens, 3 }, .disasm = { 3, tb1_dis } };
    struct rec_trace_tb t2 = { .tb_id = 2, .pc = 0x402000, .cpu_mode = 64, .cpl = 3,
                               .code = { tb2_code, sizeof tb2_code }, .insn_len = { tb2_lens, 2 }, .disasm = { 2, tb2_dis } };
    tbs[1] = tl_insn_tb_new(&t1);
    tbs[2] = tl_insn_tb_new(&t2);
    return tbs[1] && tbs[2] ? 0 : -1;
}

static int teardown(void **state)
{
    free(tbs[1]);
    free(tbs[2]);
    return 0;
}

/* ---- a literal stream ------------------------------------------------------------------ */
#define NSTREAM 20000
struct lit {
    struct rec_trace_insn r;
    uint32_t tb_id;
    uint16_t idx;
    bool new_run;          /* does not follow the previous instruction within one TB execution */
    uint32_t maybe;        /* words the "plugin" read again */
    struct x86_mem_access mem[REC_MAX_MEMS];
};
static struct lit *stream;

static uint64_t rng = XORSHIFT64_SEED;
static uint64_t next_rand(void)
{
    return xorshift64(&rng);
}

/* Executions of TB 1 and TB 2 (sometimes cut short, as by an exception),
 * registers changing a few words at a time (sometimes all: untraced code
 * ran), 0..3 memory accesses per instruction, one with 1024. */
static void make_stream(void)
{
    stream = calloc(NSTREAM, sizeof *stream);
    assert_non_null(stream);
    struct x86_regs regs;
    uint64_t *w = (uint64_t *)&regs;
    for (int k = 0; k < 20; k++) w[k] = next_rand();
    uint64_t ts = 1000;
    uint32_t i = 0;
    while (i < NSTREAM) {
        uint32_t tb = 1 + (uint32_t)(next_rand() % 2);
        uint32_t n = tbs[tb]->ninsns;
        if (next_rand() % 10 == 0) n = 1 + (uint32_t)(next_rand() % n);    /* left early */
        bool entered_fresh = next_rand() % 7 == 0;                          /* after untraced code */
        for (uint32_t j = 0; j < n && i < NSTREAM; j++, i++) {
            struct lit *l = &stream[i];
            uint32_t maybe;
            if (i == 0 || (j == 0 && entered_fresh)) {
                for (int k = 0; k < 20; k++) if (next_rand() % 3 == 0) w[k] = next_rand();
                maybe = REC_PACK_ALL_REGS;
            } else {
                maybe = (uint32_t)next_rand() & REC_PACK_ALL_REGS & (j == 0 ? 0xfffff : 0x3000f);
                if (j == 0) maybe |= 1u << X86_RSP | 1u << 17;
                /* change some of the words that may change (never others) */
                for (uint32_t b = maybe; b; b &= b - 1)
                    if (next_rand() % 2) w[__builtin_ctz(b)] = next_rand() % 3 == 0 ? 0 : next_rand();
            }
            ts += next_rand() % 4 == 0 ? next_rand() % 50 : 0;
            l->tb_id = tb;
            l->idx = (uint16_t)j;
            l->new_run = j == 0;
            l->maybe = maybe;
            const struct tl_insn_tb *t = tbs[tb];
            regs.rip = t->pc + t->off[j];
            uint32_t nm = (uint32_t)(next_rand() % 4);
            if (i == NSTREAM / 2) nm = REC_MAX_MEMS;    /* the most one instruction may carry */
            for (uint32_t a = 0; a < nm; a++)
                l->mem[a] = (struct x86_mem_access){ next_rand(), next_rand(), (uint8_t)(1u << (next_rand() % 5)),
                                                     next_rand() % 2 == 0 };
            l->r = (struct rec_trace_insn){
                .ts_us = ts, .pc = regs.rip,
                .bytes = { t->code + t->off[j], (uint32_t)(t->off[j + 1] - t->off[j]) },
                .disasm = t->disasm[j], .regs = regs, .mem = { nm, l->mem },
            };
        }
    }
}

/* ---- pack, encode, decode, expand, compare ------------------------------------------------- */
struct check { uint32_t next, bad; };

static void compare(const struct rec_trace_insn *v, void *ctx)
{
    struct check *c = ctx;
    assert_true(c->next < NSTREAM);
    const struct rec_trace_insn *l = &stream[c->next].r;
    bool same = v->ts_us == l->ts_us && v->pc == l->pc && v->bytes.len == l->bytes.len &&
                !memcmp(v->bytes.ptr, l->bytes.ptr, l->bytes.len) && v->disasm.len == l->disasm.len &&
                !strcmp(v->disasm.ptr, l->disasm.ptr) && !memcmp(&v->regs, &l->regs, sizeof l->regs) &&
                v->mem.n == l->mem.n;
    for (uint32_t a = 0; same && a < l->mem.n; a++)
        same = v->mem.v[a].addr == l->mem.v[a].addr && v->mem.v[a].value == l->mem.v[a].value &&
               v->mem.v[a].size == l->mem.v[a].size && v->mem.v[a].is_store == l->mem.v[a].is_store;
    if (!same && c->bad++ < 3) fprintf(stderr, "instruction %u differs (pc 0x%llx)\n", c->next, (unsigned long long)l->pc);
    c->next++;
}

static void ship(struct tl_pack *p, struct check *c, uint32_t *records)
{
    struct rec r = { .type = REC_TRACE_INSNS };
    struct rec_buf b;
    struct rec_arena a;
    struct rec dec;
    struct rec_error err;
    char msg[200];
    tl_pack_record(p, 3, &r.u.trace_insns);
    rec_buf_init(&b);
    rec_arena_init(&a);
    if (rec_encode(&b, &r, &err) < 0) fail_msg("encode: %s", err.msg);
    if (rec_decode(b.data, b.len, &dec, &a, &err) != REC_TRACE_INSNS) fail_msg("decode: %s", err.msg);
    assert_int_equal(dec.u.trace_insns.vcpu, 3);
    long n = tl_insns_expand(&dec.u.trace_insns, lookup, NULL, compare, c, msg, sizeof msg);
    if (n < 0) fail_msg("expand: %s", msg);
    assert_int_equal(n, p->n);
    rec_arena_free(&a);
    rec_buf_free(&b);
    tl_pack_reset(p);
    (*records)++;
}

static void pack_stream(size_t max_bytes, uint32_t *records)
{
    struct tl_pack p;
    struct check c = {0};
    assert_int_equal(tl_pack_init(&p), 0);
    for (uint32_t i = 0; i < NSTREAM; i++) {
        const struct lit *l = &stream[i];
        if (p.n && !tl_pack_room(&p, max_bytes)) ship(&p, &c, records);
        tl_pack_add(&p, l->tb_id, l->idx, l->new_run, l->r.ts_us, &l->r.regs, l->maybe);
        for (uint32_t a = 0; a < l->r.mem.n; a++)
            tl_pack_mem(&p, l->mem[a].addr, l->mem[a].value, l->mem[a].size, l->mem[a].is_store);
    }
    if (p.n) ship(&p, &c, records);
    assert_int_equal(c.next, NSTREAM);
    assert_int_equal(c.bad, 0);
    assert_int_equal(p.mem_dropped, 0);
    tl_pack_free(&p);
}

/* The expanded stream equals the literal one, with large records (the
 * plugin's 256 KiB) and with records cut every few instructions (runs then
 * start in the middle of a TB, and every record repeats the full state). */
static void test_expand_equals_literal(void **state)
{
    make_stream();
    uint32_t big = 0, small = 0;
    pack_stream(256u << 10, &big);
    pack_stream(TL_PACK_INSN_MAX + 600, &small);
    fprintf(stderr, "%d instructions: %u records of up to 256 KiB, %u small ones\n", NSTREAM, big, small);
    assert_true(big >= 5);          /* REC_MAX_PACK_INSNS per record at most */
    assert_true(small > big * 10);
    free(stream);
}

/* Only changed words travel: an instruction whose re-read words are equal
 * carries none; the first of a record carries all 19 (not rip). */
static void test_only_changes_travel(void **state)
{
    struct tl_pack p;
    struct x86_regs regs;
    memset(&regs, 0, sizeof regs);
    assert_int_equal(tl_pack_init(&p), 0);
    tl_pack_add(&p, 1, 0, true, 5, &regs, REC_PACK_ALL_REGS);
    assert_int_equal(p.nvals, 19);
    regs.gpr[X86_RCX] = 7;
    regs.rip = 0x401003;          /* rip never travels */
    tl_pack_add(&p, 1, 1, false, 5, &regs, 1u << X86_RCX | 1u << X86_RAX);
    assert_int_equal(p.nvals, 20);
    assert_int_equal(p.mask[1], 1u << X86_RCX);
    tl_pack_add(&p, 1, 2, false, 6, &regs, REC_PACK_ALL_REGS);
    assert_int_equal(p.nvals, 20);
    assert_int_equal(p.mask[2], 0);
    assert_int_equal(p.nruns, 1);
    tl_pack_add(&p, 1, 0, true, 6, &regs, 0);      /* the TB again: a new run */
    assert_int_equal(p.nruns, 2);
    /* accesses past REC_MAX_MEMS for one instruction are counted, not kept */
    for (uint32_t a = 0; a < REC_MAX_MEMS + 3; a++) tl_pack_mem(&p, a, a, 8, false);
    assert_int_equal(p.mem_n[3], REC_MAX_MEMS);
    assert_int_equal(p.mem_dropped, 3);
    tl_pack_reset(&p);
    tl_pack_mem(&p, 1, 1, 1, true);                /* no instruction yet */
    assert_int_equal(p.mem_dropped, 4);
    assert_int_equal(p.nmems, 0);
    tl_pack_free(&p);
}

/* ---- malformed records ------------------------------------------------------------------- */
static void expect_rejected(const struct rec_trace_insns *t, const char *needle)
{
    struct rec r = { .type = REC_TRACE_INSNS };
    struct rec_buf b;
    struct rec_error err;
    r.u.trace_insns = *t;
    rec_buf_init(&b);
    assert_int_equal(rec_encode(&b, &r, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("expected '%s' in: %s", needle, err.msg);
    rec_buf_free(&b);
}

static void noop(const struct rec_trace_insn *v, void *ctx)
{
    (*(uint32_t *)ctx)++;
}

static void test_malformed(void **state)
{
    struct tl_pack p;
    struct x86_regs regs;
    memset(&regs, 0, sizeof regs);
    assert_int_equal(tl_pack_init(&p), 0);
    tl_pack_add(&p, 2, 0, true, 5, &regs, REC_PACK_ALL_REGS);
    tl_pack_add(&p, 2, 1, false, 5, &regs, 0);
    tl_pack_mem(&p, 0x1000, 1, 4, false);
    struct rec_trace_insns good, t;
    tl_pack_record(&p, 0, &good);

    t = good; t.dt_us.len = 0; t.reg_mask.len = 0; t.mem_n.len = 0; t.runs.len = 0;
    t.reg_vals.len = 0; t.mems.len = 0;
    expect_rejected(&t, "no instructions");
    t = good; t.mem_n.len = 2;
    expect_rejected(&t, "1 counts for 2 instructions");
    t = good; t.reg_vals.len -= 8;
    expect_rejected(&t, "masks name 19 words");
    uint8_t mems[REC_PACK_MEM_BYTES];
    memcpy(mems, good.mems.ptr, sizeof mems);
    mems[16] = 3;
    t = good; t.mems.ptr = mems;
    expect_rejected(&t, "access 0: size 3");
    uint32_t masks[2] = { REC_PACK_ALL_REGS, 1u << 16 };   /* rip never travels */
    t = good; t.reg_mask.ptr = (const uint8_t *)masks;
    expect_rejected(&t, "instruction 1: mask 0x10000");
    uint8_t runs[8];
    memcpy(runs, good.runs.ptr, 8);
    runs[6] = 3;                                          /* 3 instructions for 2 */
    t = good; t.runs.ptr = runs;
    expect_rejected(&t, "runs hold 3 instructions");

    /* valid records the expander cannot place: it says why, delivers nothing of that run */
    char msg[200];
    uint32_t seen = 0;
    runs[6] = 2;
    runs[0] = 9;                                          /* TB 9: no TRACE_TB */
    t = good; t.runs.ptr = runs;
    assert_int_equal(tl_insns_expand(&t, lookup, NULL, noop, &seen, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "TB 9 is unknown"));
    runs[0] = 2;
    runs[4] = 1;                                          /* instructions 1..2 of a 2-instruction TB */
    assert_int_equal(tl_insns_expand(&t, lookup, NULL, noop, &seen, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "instructions 1..2 of TB 2, which has 2"));
    assert_int_equal(seen, 0);
    assert_int_equal(tl_insns_expand(&good, lookup, NULL, noop, &seen, msg, sizeof msg), 2);
    assert_int_equal(seen, 2);
    tl_pack_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_equals_literal),
        cmocka_unit_test(test_only_changes_travel),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
