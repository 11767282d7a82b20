/* test_cfg_graph.c — cfg on synthetic traces of known shape (real x86 bytes,
 * fed through the library API and, for one trace, as real TRACE_* records):
 * self-loop, nested loops (with a TB split discovered late), diamond,
 * indirect jump.  Checks blocks, edges, counts, loops, classes, liveness. */
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
#include "../../stages/cfg/cfg_record.h"
#include "records.h"
#include "cfg_test_util.h"

#define GPR(r) X86_LOC_GPR(X86_##r)
#define ALL_FLAGS X86_LOC_ALL_FLAGS
#define ALL64 (X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS)

static struct cfg *new_cfg(uint64_t hot)
{
    struct cfg *g = malloc(sizeof *g);
    struct cfg_options o;
    cfg_options_default(&o);
    o.hot_threshold = hot;
    assert_non_null(g);
    assert_true(cfg_init(g, &o));
    return g;
}

static void del_cfg(struct cfg *g)
{
    cfg_free(g);
    free(g);
}

static void tb(struct cfg *g, uint32_t id, uint64_t pc, const uint8_t *code, uint32_t len)
{
    assert_true(cfg_add_tb(g, id, pc, 64, 3, code, len, NULL, 0));
}

static void run(struct cfg *g, uint16_t vcpu, const uint32_t *ids, size_t n)
{
    cfg_add_exec(g, vcpu, ids, n);
}

static struct cfg_block *blk(struct cfg *g, uint64_t pc)
{
    struct cfg_block *b = cfg_block_at(g, pc, 64);
    if (!b) fail_msg("no block at %#llx", (unsigned long long)pc);
    return b;
}

/* loop: add eax,ebx; dec ecx; jnz loop      then: ret */
static void test_self_loop(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t loop[] = { 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa };
    static const uint8_t ret[] = { 0xc3 };
    tb(g, 1, 0x1000, loop, sizeof loop);
    tb(g, 2, 0x1006, ret, sizeof ret);
    uint32_t ids[5000];
    for (int i = 0; i < 5000; i++) ids[i] = 1;
    run(g, 0, ids, 5000);
    run(g, 0, (uint32_t[]){ 2 }, 1);
    assert_true(cfg_analyze(g));
    assert_int_equal(g->nblocks, 2);
    struct cfg_block *L = blk(g, 0x1000), *R = blk(g, 0x1006);
    assert_int_equal(L->ninsns, 3);
    assert_int_equal(L->exec_count, 5000);
    assert_int_equal(cfg_edge_count(g, L, L), 4999);
    assert_int_equal(cfg_edge_count(g, L, R), 1);
    assert_int_equal(L->loop_depth, 1);
    assert_true(L->is_loop_header);
    assert_int_equal(L->loop_header, 0x1000);
    assert_int_equal(R->loop_depth, 0);
    assert_int_equal(L->cls, CFG_CLASS_ALU);
    assert_int_equal(R->cls, CFG_CLASS_CONTROL);
    /* add kills every status flag before anything reads one; the ret makes
     * everything live after the loop, so every GPR is live in. */
    assert_int_equal(L->live_in & ALL_FLAGS, 0);
    assert_int_equal(L->live_in & X86_LOC_ALL_GPRS, X86_LOC_ALL_GPRS);
    assert_true(R->succ_unknown);
    assert_int_equal(R->live_out, ALL64);
    /* the hot queue saw the loop block exactly once */
    assert_int_equal(g->nhot, 1);
    assert_int_equal(g->hot_queue[0], (uint32_t)(L - g->block));
    del_cfg(g);
}

/* outer: mov ecx,10            0x2000 (5 bytes)
 * inner: add eax,ebx; dec ecx; jnz inner   0x2005
 *        dec edx; jnz outer    0x200b
 *        ret                   0x200f
 * QEMU's first TB at 0x2000 runs through the first inner iteration; the TB
 * at 0x2005 arrives later and must split it, carrying the counts over. */
static void test_nested_loops_and_late_split(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t ta[] = { 0xb9, 0x0a, 0, 0, 0, 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa };
    static const uint8_t tbb[] = { 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa };
    static const uint8_t tc[] = { 0xff, 0xca, 0x75, 0xf1 };
    static const uint8_t td[] = { 0xc3 };
    tb(g, 10, 0x2000, ta, sizeof ta);
    /* Before the split: the TB is one chain [0x2000,0x2005) + [0x2005, 0x200b)?
     * No: 0x2005 is a jnz target, so the decoder already split it. */
    assert_non_null(cfg_block_at(g, 0x2005, 64));
    run(g, 0, (uint32_t[]){ 10 }, 1);
    tb(g, 11, 0x2005, tbb, sizeof tbb);
    run(g, 0, (uint32_t[]){ 11, 11, 11 }, 3);
    tb(g, 12, 0x200b, tc, sizeof tc);
    run(g, 0, (uint32_t[]){ 12 }, 1);
    for (int o = 0; o < 2; o++) run(g, 0, (uint32_t[]){ 10, 11, 11, 11, 12 }, 5);
    tb(g, 13, 0x200f, td, sizeof td);
    run(g, 0, (uint32_t[]){ 13 }, 1);
    assert_true(cfg_analyze(g));
    struct cfg_block *O = blk(g, 0x2000), *I = blk(g, 0x2005), *C = blk(g, 0x200b), *R = blk(g, 0x200f);
    assert_int_equal(g->nblocks, 4);
    assert_int_equal(O->exec_count, 3);
    assert_int_equal(I->exec_count, 12);
    assert_int_equal(C->exec_count, 3);
    assert_int_equal(R->exec_count, 1);
    assert_int_equal(cfg_edge_count(g, O, I), 3);
    assert_int_equal(cfg_edge_count(g, I, I), 9);
    assert_int_equal(cfg_edge_count(g, I, C), 3);
    assert_int_equal(cfg_edge_count(g, C, O), 2);
    assert_int_equal(cfg_edge_count(g, C, R), 1);
    assert_int_equal(I->loop_depth, 2);
    assert_int_equal(I->loop_header, 0x2005);
    assert_int_equal(O->loop_depth, 1);
    assert_int_equal(O->loop_header, 0x2000);
    assert_int_equal(C->loop_depth, 1);
    assert_int_equal(C->loop_header, 0x2000);
    assert_int_equal(R->loop_depth, 0);
    assert_true(O->is_loop_header && I->is_loop_header && !C->is_loop_header);
    /* mov ecx,10 kills rcx: the outer block does not need it. */
    assert_false(O->live_in & GPR(RCX));
    assert_true(I->live_in & GPR(RCX));
    /* dec writes every flag but CF, and nothing reads a flag across blocks
     * except through the ret; CF stays live through dec into the inner loop's add? No:
     * add kills CF first. */
    assert_int_equal(I->live_in & ALL_FLAGS, 0);
    del_cfg(g);
}

/* A split TB arriving AFTER executions moves counts: every earlier
 * execution of the long block ran both halves. */
static void test_split_after_execution(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(3);
    /* nop; nop; add eax,ebx; ret  at 0x6000; later a TB at 0x6002 */
    static const uint8_t t1[] = { 0x90, 0x90, 0x01, 0xd8, 0xc3 };
    static const uint8_t t2[] = { 0x01, 0xd8, 0xc3 };
    tb(g, 1, 0x6000, t1, sizeof t1);
    run(g, 0, (uint32_t[]){ 1, 1, 1, 1 }, 4);
    assert_int_equal(g->nblocks, 1);
    assert_int_equal(g->nhot, 1);
    tb(g, 2, 0x6002, t2, sizeof t2);
    assert_int_equal(g->nblocks, 2);
    struct cfg_block *H = blk(g, 0x6000), *T = blk(g, 0x6002);
    assert_int_equal(H->exec_count, 4);
    assert_int_equal(T->exec_count, 4);
    assert_int_equal(cfg_edge_count(g, H, T), 4);
    assert_int_equal(cfg_edge_count(g, T, H), 3);   /* ret -> next call of the TB */
    run(g, 0, (uint32_t[]){ 2, 1 }, 2);
    assert_int_equal(H->exec_count, 5);
    assert_int_equal(T->exec_count, 6);
    assert_int_equal(cfg_edge_count(g, T, T), 1);
    assert_int_equal(H->ninsns, 2);
    assert_int_equal(T->ninsns, 2);
    assert_int_equal(T->end - T->pc, 3);
    assert_memory_equal(T->code, t2, 3);
    /* both halves are queued as hot (the tail inherited a hot count) */
    assert_int_equal(g->nhot, 2);
    del_cfg(g);
}

/*   0x3000: cmp eax,ebx; jz L          (39 d8 74 04)
 *   0x3004: mov ecx,edx; jmp J         (89 d1 eb 02)
 *   0x3008: L: mov ecx,esi             (89 f1)
 *   0x300a: J: add ecx,1; ret          (83 c1 01 c3)
 * Each pass runs on its own vCPU so that no edge joins passes. */
static void test_diamond(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t t1[] = { 0x39, 0xd8, 0x74, 0x04 };
    static const uint8_t t2[] = { 0x89, 0xd1, 0xeb, 0x02 };
    static const uint8_t t3[] = { 0x89, 0xf1, 0x83, 0xc1, 0x01, 0xc3 };   /* L falls into J */
    static const uint8_t t4[] = { 0x83, 0xc1, 0x01, 0xc3 };
    tb(g, 1, 0x3000, t1, sizeof t1);
    tb(g, 3, 0x3008, t3, sizeof t3);
    /* 0x300a is a jmp target only once t2 is seen: t3 gets split then. */
    for (uint16_t v = 0; v < 5; v++) run(g, v, (uint32_t[]){ 1, 3 }, 2);
    tb(g, 2, 0x3004, t2, sizeof t2);
    tb(g, 4, 0x300a, t4, sizeof t4);
    for (uint16_t v = 5; v < 8; v++) run(g, v, (uint32_t[]){ 1, 2, 4 }, 3);
    assert_true(cfg_analyze(g));
    assert_int_equal(g->nblocks, 4);
    struct cfg_block *A = blk(g, 0x3000), *B = blk(g, 0x3004), *L = blk(g, 0x3008), *J = blk(g, 0x300a);
    assert_int_equal(A->exec_count, 8);
    assert_int_equal(B->exec_count, 3);
    assert_int_equal(L->exec_count, 5);
    assert_int_equal(J->exec_count, 8);
    assert_int_equal(cfg_edge_count(g, A, L), 5);
    assert_int_equal(cfg_edge_count(g, A, B), 3);
    assert_int_equal(cfg_edge_count(g, B, J), 3);
    assert_int_equal(cfg_edge_count(g, L, J), 5);
    assert_int_equal(A->nsucc, 2);
    assert_int_equal(J->nsucc, 0);
    for (uint32_t i = 0; i < g->nblocks; i++) assert_int_equal(g->block[i].loop_depth, 0);
    assert_int_equal(J->idom, (uint32_t)(A - g->block));
    assert_int_equal(L->idom, (uint32_t)(A - g->block));
    /* both directions of the jz were seen: A's successors are complete */
    assert_false(A->succ_unknown);
    assert_false(B->succ_unknown);
    assert_false(L->succ_unknown);
    /* J: add kills the flags, ret makes the rest live */
    assert_int_equal(J->live_in, X86_LOC_ALL_GPRS);
    /* L and B overwrite ecx: rcx is dead on entry to them */
    assert_int_equal(L->live_in, X86_LOC_ALL_GPRS & ~GPR(RCX));
    assert_int_equal(B->live_in, X86_LOC_ALL_GPRS & ~GPR(RCX));
    /* no flag is live after A (cmp's flags are consumed by its own jz) */
    assert_int_equal(A->live_out & ALL_FLAGS, 0);
    assert_int_equal(A->live_out, X86_LOC_ALL_GPRS & ~GPR(RCX));
    assert_int_equal(A->live_in, X86_LOC_ALL_GPRS & ~GPR(RCX));
    assert_int_equal(A->cls, CFG_CLASS_ALU);
    del_cfg(g);
}

/* A jz seen in one direction only: the other side is an unseen edge, so
 * the block's outputs are conservatively live. */
static void test_one_sided_branch_is_conservative(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t t1[] = { 0x39, 0xd8, 0x74, 0x04 };
    static const uint8_t t2[] = { 0x89, 0xd1, 0xeb, 0x02 };
    tb(g, 1, 0x3000, t1, sizeof t1);
    tb(g, 2, 0x3004, t2, sizeof t2);
    run(g, 0, (uint32_t[]){ 1, 2 }, 2);
    assert_true(cfg_analyze(g));
    struct cfg_block *A = blk(g, 0x3000);
    assert_true(A->succ_unknown);
    assert_int_equal(A->live_out, ALL64);
    del_cfg(g);
}

/*   0x4000: mov eax,ebx; jmp rcx      (89 d8 ff e1)
 *   0x4010: xor edx,edx; ret          (31 d2 c3)
 *   0x4020: mov edx,1; ret            (ba 01 00 00 00 c3)  */
static void test_indirect_jump(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t t0[] = { 0x89, 0xd8, 0xff, 0xe1 };
    static const uint8_t t1[] = { 0x31, 0xd2, 0xc3 };
    static const uint8_t t2[] = { 0xba, 0x01, 0, 0, 0, 0xc3 };
    tb(g, 0, 0x4000, t0, sizeof t0);
    tb(g, 1, 0x4010, t1, sizeof t1);
    tb(g, 2, 0x4020, t2, sizeof t2);
    for (int i = 0; i < 7; i++) run(g, (uint16_t)i, (uint32_t[]){ 0, 1 }, 2);
    for (int i = 7; i < 10; i++) run(g, (uint16_t)i, (uint32_t[]){ 0, 2 }, 2);
    assert_true(cfg_analyze(g));
    struct cfg_block *J = blk(g, 0x4000), *X = blk(g, 0x4010), *Y = blk(g, 0x4020);
    assert_int_equal(g->nblocks, 3);
    assert_int_equal(J->exec_count, 10);
    assert_int_equal(cfg_edge_count(g, J, X), 7);
    assert_int_equal(cfg_edge_count(g, J, Y), 3);
    /* Both observed successors kill rdx and the flags, but an indirect jump
     * can go anywhere: everything stays live. */
    assert_true(J->succ_unknown);
    assert_int_equal(J->live_out, ALL64);
    assert_int_equal(J->live_in, ALL64 & ~GPR(RAX));
    /* zero idiom: xor edx,edx does not read rdx */
    assert_false(X->live_in & GPR(RDX));
    assert_false(Y->live_in & GPR(RDX));
    assert_int_equal(J->cls, CFG_CLASS_ALU);
    assert_int_equal(J->insn[1].flow, INSN_FLOW_JMP_IND);
    del_cfg(g);
}

/* Flags and partial registers across a known edge:
 *   0x5000: mov al,1; add ecx,edx; jmp 0x5010   (b0 01 01 d1 eb 09)
 *   0x5010: adc esi,edi; ret                    (11 fe c3)
 * adc reads CF: CF must be live out of 0x5000; mov al does not kill rax. */
static void test_flag_and_partial_liveness(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t t0[] = { 0xb0, 0x01, 0x01, 0xd1, 0xeb, 0x0a };
    static const uint8_t t1[] = { 0x11, 0xfe, 0xc3 };
    tb(g, 0, 0x5000, t0, sizeof t0);
    tb(g, 1, 0x5010, t1, sizeof t1);
    run(g, 0, (uint32_t[]){ 0, 1 }, 2);
    assert_true(cfg_analyze(g));
    struct cfg_block *A = blk(g, 0x5000), *B = blk(g, 0x5010);
    assert_false(A->succ_unknown);
    assert_true(B->live_in & X86_LOC_FLAG(X86_CF));
    assert_int_equal(B->live_in & ALL_FLAGS, X86_LOC_FLAG(X86_CF));
    assert_int_equal(A->live_out & ALL_FLAGS, X86_LOC_FLAG(X86_CF));
    /* add defines CF: no flag live into A */
    assert_int_equal(A->live_in & ALL_FLAGS, 0);
    /* mov al,1 is a partial write: rax stays live in */
    assert_true(A->live_in & GPR(RAX));
    del_cfg(g);
}

/* The same self-loop through real TRACE_* records (encode, decode, consume),
 * then BLOCK emission: hot when crossing the threshold, final at the end. */
struct sink { int blocks; uint64_t last_count; uint64_t last_pc; struct rec_buf buf; };

static bool sink_emit(void *ctx, const struct cfg *g, const struct cfg_block *b)
{
    struct sink *s = ctx;
    struct rec_error err;
    rec_buf_reset(&s->buf);
    if (cfg_block_encode(g, b, &s->buf, &err) < 0) fail_msg("%s", err.msg);
    struct rec r;
    struct rec_arena a;
    rec_arena_init(&a);
    assert_int_equal(rec_decode(s->buf.data, s->buf.len, &r, &a, &err), REC_BLOCK);
    assert_int_equal(r.u.block.pc, b->pc);
    assert_int_equal(r.u.block.exec_count, b->exec_count);
    assert_int_equal(r.u.block.live_out, b->live_out);
    assert_int_equal(r.u.block.class, b->cls);
    s->last_count = r.u.block.exec_count;
    s->last_pc = r.u.block.pc;
    if (b->pc == 0x1000) {
        assert_int_equal(r.u.block.loop_depth, 1);
        assert_int_equal(r.u.block.loop_header, 0x1000);
        assert_int_equal(r.u.block.samples.n, 1);
        assert_int_equal(r.u.block.samples.v[0].pre.gpr[X86_RCX], 77);
        assert_int_equal(r.u.block.samples.v[0].mem.n, 0);
        assert_true(r.u.block.samples.v[0].post.present);
    }
    rec_arena_free(&a);
    s->blocks++;
    return true;
}

static void feed(struct cfg *g, const struct rec *r)
{
    int rc = cfg_test_feed(g, r);
    assert_int_equal(rc, r->type == REC_TRACE_END ? CFG_END : CFG_CONSUMED);
}

static void test_records_and_emission(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t loop[] = { 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa };
    static const uint8_t lens[] = { 2, 2, 2 };
    struct rec_str dis[3] = { rec_str_c("add eax, ebx"), rec_str_c("dec ecx"), rec_str_c("jnz 0x1000") };
    struct rec r;
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_TB;
    r.u.trace_tb = (struct rec_trace_tb){ .tb_id = 1, .pc = 0x1000, .cpu_mode = 64, .cpl = 3,
                                          .code = { loop, sizeof loop }, .insn_len = { lens, 3 },
                                          .disasm = { 3, dis } };
    feed(g, &r);
    uint8_t ids[4 * 1500];
    for (int i = 0; i < 1500; i++) { ids[4 * i] = 1; ids[4 * i + 1] = ids[4 * i + 2] = ids[4 * i + 3] = 0; }
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_EXEC;
    r.u.trace_exec = (struct rec_trace_exec){ .vcpu = 0, .t0_us = 1, .tb_ids = { ids, sizeof ids } };
    feed(g, &r);
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_SAMPLE;
    r.u.trace_sample.tb_id = 1;
    r.u.trace_sample.pc = 0x1000;
    r.u.trace_sample.exec_seq = 5;
    r.u.trace_sample.pre.gpr[X86_RCX] = 77;
    r.u.trace_sample.post.present = true;
    r.u.trace_sample.post.regs.gpr[X86_RCX] = 76;
    r.u.trace_sample.next_pc = 0x1000;
    feed(g, &r);

    struct sink s = { 0 };
    rec_buf_init(&s.buf);
    assert_int_equal(cfg_emit_hot(g, sink_emit, &s), 1);
    assert_int_equal(s.blocks, 1);
    assert_int_equal(s.last_count, 1500);     /* the count at emission time */
    assert_int_equal(cfg_emit_hot(g, sink_emit, &s), 0);   /* nothing new */

    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_END;
    r.u.trace_end.reason = rec_str_c("test");
    feed(g, &r);
    assert_int_equal(cfg_emit_final(g, 1, sink_emit, &s), 1);
    assert_int_equal(s.last_count, 1500);
    rec_buf_free(&s.buf);

    /* Outputs: JSON, DOT and (graphviz is installed here) SVG. */
    char dir[] = "/tmp/test_cfg_outXXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_true(cfg_write_outputs(g, dir, 50));
    char path[256];
    const char *names[] = { "cfg.json", "cfg.dot", "cfg.svg" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        if (!f && i == 2 && access("/usr/bin/dot", X_OK) != 0) continue;
        assert_non_null(f);
        char buf[8192] = { 0 };
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        assert_true(n > 0);
        if (i == 0) {
            assert_non_null(strstr(buf, "\"exec_count\": 1500"));
            assert_non_null(strstr(buf, "add eax, ebx"));
        }
        if (i == 1) assert_non_null(strstr(buf, "label=\"1499\" color=red"));
        unlink(path);
    }
    rmdir(dir);
    del_cfg(g);
}

/* Two programs with different code at the same addresses (static binaries
 * of different workloads): their blocks are kept apart (code spaces), and a
 * branch target in one program never splits the other program's block. */
static void test_code_spaces(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    /* program A at 0x401000: add eax,ebx; dec ecx; jnz 0x401000 */
    static const uint8_t a[] = { 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa };
    /* program B at 0x400ff0: nop x 14; jmp 0x401002 ... then at 0x401000 other code */
    static const uint8_t b0[] = { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
                                  0x90, 0x90, 0x90, 0x90, 0xeb, 0x00 };   /* jmp 0x401000 */
    static const uint8_t b1[] = { 0x31, 0xc0, 0x31, 0xdb, 0xc3 };      /* xor eax,eax; xor ebx,ebx; ret */
    /* B's jz into 0x401003 (code not known in B yet) */
    static const uint8_t b2[] = { 0x74, 0x01 };                        /* at 0x401000+0x100: jz +1 */
    tb(g, 1, 0x401000, a, sizeof a);
    run(g, 0, (uint32_t[]){ 1, 1, 1 }, 3);
    tb(g, 2, 0x400ff0, b0, sizeof b0);
    tb(g, 3, 0x401000, b1, sizeof b1);       /* same pc, other bytes: another space */
    tb(g, 4, 0x401100, b2, sizeof b2);
    run(g, 1, (uint32_t[]){ 2, 3 }, 2);
    assert_int_equal(g->nspaces, 2);
    assert_int_equal(g->n.code_spaces_opened, 1);
    struct cfg_block *A = cfg_block_at_space(g, 0x401000, 64, 0);
    struct cfg_block *B = cfg_block_at_space(g, 0x401000, 64, 1);
    assert_non_null(A);
    assert_non_null(B);
    assert_true(A != B);
    assert_int_equal(A->exec_count, 3);
    assert_int_equal(B->exec_count, 1);
    assert_int_equal(A->ninsns, 3);          /* not split by B's code */
    assert_int_equal(B->ninsns, 3);
    assert_memory_equal(B->code, b1, sizeof b1);
    /* B's nops+jmp block (space 0: no conflict there) leads to B's block in space 1 */
    struct cfg_block *B0 = cfg_block_at(g, 0x400ff0, 64);
    assert_non_null(B0);
    assert_int_equal(cfg_edge_count(g, B0, B), 1);
    assert_int_equal(cfg_edge_count(g, B0, A), 0);
    /* the same bytes again at the same pc join the first space */
    tb(g, 5, 0x401000, a, sizeof a);
    assert_int_equal(g->nspaces, 2);
    run(g, 2, (uint32_t[]){ 5 }, 1);
    assert_int_equal(A->exec_count, 4);
    del_cfg(g);
}

static void test_bad_input_is_counted(void **state)
{
    (void)state;
    struct cfg *g = new_cfg(1000);
    static const uint8_t code[] = { 0x90 };
    assert_false(cfg_add_tb(g, 1, 0x1000, 48, 0, code, 1, NULL, 0));
    assert_false(cfg_add_tb(g, 1, 0x1000, 64, 0, code, 0, NULL, 0));
    assert_int_equal(g->n.bad_records, 2);
    /* undecodable bytes: kept as an opaque instruction of the tracer's length */
    static const uint8_t bad[] = { 0x06, 0xc3 };      /* push es: invalid in 64-bit mode */
    static const uint8_t lens[] = { 1, 1 };
    assert_true(cfg_add_tb(g, 2, 0x2000, 64, 0, bad, sizeof bad, lens, 2));
    assert_int_equal(g->n.undecodable_insns, 1);
    run(g, 0, (uint32_t[]){ 99, 2 }, 2);
    assert_int_equal(g->n.exec_unknown_tb, 1);
    assert_true(cfg_analyze(g));
    struct cfg_block *b = blk(g, 0x2000);
    assert_int_equal(b->exec_count, 1);
    assert_int_equal(b->cls, CFG_CLASS_SYSTEM);
    /* repeated TRACE_TB (at-least-once delivery) is harmless */
    assert_true(cfg_add_tb(g, 2, 0x2000, 64, 0, bad, sizeof bad, lens, 2));
    assert_int_equal(g->n.tbs_repeated, 1);
    del_cfg(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_loop),
        cmocka_unit_test(test_nested_loops_and_late_split),
        cmocka_unit_test(test_split_after_execution),
        cmocka_unit_test(test_diamond),
        cmocka_unit_test(test_one_sided_branch_is_conservative),
        cmocka_unit_test(test_indirect_jump),
        cmocka_unit_test(test_flag_and_partial_liveness),
        cmocka_unit_test(test_records_and_emission),
        cmocka_unit_test(test_code_spaces),
        cmocka_unit_test(test_bad_input_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
