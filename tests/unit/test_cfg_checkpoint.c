/* test_cfg_checkpoint.c — cfg's crash safety at the library level: the graph
 * image and the snapshot file round-trip exactly (every block's BLOCK record,
 * counters, the sampling generator: a restored graph continues like the
 * original), the journal replays what was appended and drops a torn tail,
 * corrupt or foreign files are refused with the file and the field named,
 * and a restarted tracer's TB ids begin a new trace run that replaces the
 * dead run's partial graph. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../stages/cfg/cfg.h"
#include "../../stages/cfg/cfg_checkpoint.h"
#include "../../stages/cfg/cfg_image.h"
#include "../../stages/cfg/cfg_record.h"
#include "records.h"
#include "cfg_test_util.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_cfg_ckpt_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void feed(struct cfg *g, const struct rec *r)
{
    cfg_test_feed(g, r);
}

static void feed_tb(struct cfg *g, uint32_t id, uint64_t pc, const uint8_t *code, uint32_t len)
{
    uint8_t lens[64];
    struct rec_str dis[64];
    uint32_t n = 0;
    for (uint32_t off = 0; off < len; n++) {
        struct insn_info ii;
        assert_true(insn_info_decode(64, pc + off, code + off, len - off, &ii));
        lens[n] = ii.len;
        dis[n] = rec_str_c("insn");
        off += ii.len;
    }
    struct rec r;
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_TB;
    r.u.trace_tb = (struct rec_trace_tb){ .tb_id = id, .pc = pc, .cpu_mode = 64, .cpl = 3, .code = { code, len },
                                          .insn_len = { lens, n }, .disasm = { n, dis } };
    feed(g, &r);
}

static void feed_exec(struct cfg *g, uint16_t vcpu, const uint32_t *ids, uint32_t n)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_EXEC;
    r.u.trace_exec = (struct rec_trace_exec){ .vcpu = vcpu, .tb_ids = { (const uint8_t *)ids, 4 * n } };
    feed(g, &r);
}

static void feed_sample(struct cfg *g, uint32_t id, uint64_t pc, uint64_t seq, uint64_t rcx, uint32_t nmem)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    struct x86_mem_access mem[3] = { { 0x7000 + seq, seq * 3, 8, true }, { 0x7100, 1, 4, false }, { 0x7200, 2, 1, false } };
    r.type = REC_TRACE_SAMPLE;
    r.u.trace_sample.tb_id = id;
    r.u.trace_sample.pc = pc;
    r.u.trace_sample.exec_seq = seq;
    r.u.trace_sample.pre.gpr[X86_RCX] = rcx;
    r.u.trace_sample.pre.rip = pc;
    r.u.trace_sample.post.present = seq % 2;
    r.u.trace_sample.post.regs.gpr[X86_RCX] = rcx - 1;
    r.u.trace_sample.next_pc = pc;
    r.u.trace_sample.mem.n = nmem;
    r.u.trace_sample.mem.v = mem;
    feed(g, &r);
}

/* A graph with most of what cfg keeps: two code spaces, a split discovered
 * late, edges, a hot block emitted and one pending, samples with and without
 * post states and memory (more than a reservoir holds). */
static const uint8_t loop[] = { 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa };          /* 0x1000: add; dec; jnz 0x1000 */
static const uint8_t outer[] = { 0x31, 0xc0, 0x48, 0x89, 0xc3, 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xfa, 0xc3 };
static const uint8_t other[] = { 0x31, 0xdb, 0xc3 };                            /* other bytes at 0x1000 */

static void build_graph(struct cfg *g)
{
    struct cfg_options o;
    cfg_options_default(&o);
    o.hot_threshold = 100;
    assert_true(cfg_init(g, &o));
    feed_tb(g, 1, 0x2000, outer, sizeof outer);                 /* 0x2000..: split later at 0x2005 */
    uint32_t ids[300];
    for (int i = 0; i < 300; i++) ids[i] = 1;
    feed_exec(g, 0, ids, 150);
    feed_tb(g, 2, 0x2005, outer + 5, sizeof outer - 5);         /* splits block 0x2000 */
    feed_tb(g, 3, 0x1000, loop, sizeof loop);
    for (int i = 0; i < 300; i++) ids[i] = i % 3 == 0 ? 2 : 3;
    feed_exec(g, 0, ids, 300);
    feed_exec(g, 1, ids, 40);
    for (uint64_t s = 0; s < 80; s++) feed_sample(g, 3, 0x1000, s, 1000 - s, (uint32_t)(s % 4));
    feed_sample(g, 1, 0x2000, 1, 5, 1);
    feed_tb(g, 4, 0x1000 + 0x100, other, sizeof other);
    feed_tb(g, 5, 0x1000, other, sizeof other);                 /* same pc, other bytes: a second code space */
    uint32_t ids2[4] = { 5, 4, 5, 3 };
    feed_exec(g, 2, ids2, 4);
}

static bool collect(void *ctx, const struct cfg *g, const struct cfg_block *b)
{
    struct rec_buf *out = ctx;
    struct rec_error err;
    if (cfg_block_encode(g, b, out, &err) < 0) fail_msg("%s", err.msg);
    return true;
}

/* Every block's BLOCK record, in block order, after analysis. */
static void all_blocks(struct cfg *g, struct rec_buf *out)
{
    assert_true(cfg_analyze(g));
    for (uint32_t i = 0; i < g->nblocks; i++) collect(out, g, &g->block[i]);
}

static void assert_same_graph(struct cfg *a, struct cfg *b)
{
    assert_int_equal(a->nblocks, b->nblocks);
    assert_int_equal(a->ntbs, b->ntbs);
    assert_int_equal(a->nspaces, b->nspaces);
    assert_int_equal(a->nhot, b->nhot);
    assert_int_equal(a->nvcpus, b->nvcpus);
    assert_int_equal(a->rng, b->rng);
    assert_memory_equal(&a->n, &b->n, sizeof a->n);
    assert_memory_equal(&a->run, &b->run, sizeof a->run);
    for (uint32_t i = 0; i < a->nblocks; i++) {
        const struct cfg_block *x = &a->block[i], *y = &b->block[i];
        assert_int_equal(x->pc, y->pc);
        assert_int_equal(x->exec_count, y->exec_count);
        assert_int_equal(x->emitted, y->emitted);
        assert_int_equal(x->hot_pending, y->hot_pending);
        assert_int_equal(x->samples_seen, y->samples_seen);
        assert_int_equal(x->fall, y->fall);
        assert_int_equal(x->space, y->space);
        assert_int_equal(x->nsample, y->nsample);
        for (uint32_t s = 0; s < x->nsample; s++) {
            assert_int_equal(x->sample[s].exec_seq, y->sample[s].exec_seq);
            assert_int_equal(x->sample[s].nmem, y->sample[s].nmem);
            assert_int_equal(x->sample[s].has_post, y->sample[s].has_post);
        }
    }
    struct rec_buf ra, rb;
    rec_buf_init(&ra);
    rec_buf_init(&rb);
    all_blocks(a, &ra);
    all_blocks(b, &rb);
    assert_int_equal(ra.len, rb.len);
    assert_memory_equal(ra.data, rb.data, ra.len);
    rec_buf_free(&ra);
    rec_buf_free(&rb);
}

/* The more of the trace after a restore, the same as without a restore. */
static void continue_trace(struct cfg *g)
{
    for (uint64_t s = 80; s < 200; s++) feed_sample(g, 3, 0x1000, s, 1000 - s, 2);
    uint32_t ids[64];
    for (int i = 0; i < 64; i++) ids[i] = i % 2 ? 3 : 4;
    feed_exec(g, 0, ids, 64);
    feed_tb(g, 6, 0x2007, outer + 7, sizeof outer - 7);         /* another late split */
}

static void test_snapshot_round_trip(void **state)
{
    (void)state;
    struct cfg a, b;
    build_graph(&a);
    struct rec_buf sink;
    rec_buf_init(&sink);
    assert_true(cfg_emit_hot(&a, collect, &sink) > 0);     /* some blocks emitted ... */
    uint32_t more[200];
    for (int i = 0; i < 200; i++) more[i] = 4;
    feed_exec(&a, 0, more, 200);                            /* ... and one pending */
    assert_true(a.nhot > 0);

    struct cfg_ckpt_meta m = { .generation = 7, .ninputs = 1, .dirty = true };
    snprintf(m.in[0].path, sizeof m.in[0].path, "/dev/shm/tcgl-x-1-tracer.0.out-cfg.0");
    m.in[0].capacity = 1u << 24;
    m.in[0].pos = 123456;
    char path[128], err[1024];
    snprintf(path, sizeof path, "%s/cfg.0.snap", dir);
    uint64_t bytes = 0;
    assert_true(cfg_snapshot_save(path, &a, &m, &bytes, err, sizeof err));
    assert_true(bytes > 1000);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal((uint64_t)sb.st_size, bytes);

    struct cfg_ckpt_meta m2;
    bool missing = true;
    if (!cfg_snapshot_load(path, &b, &m2, &missing, err, sizeof err)) fail_msg("%s", err);
    assert_false(missing);
    assert_int_equal(m2.generation, 7);
    assert_int_equal(m2.ninputs, 1);
    assert_string_equal(m2.in[0].path, m.in[0].path);
    assert_int_equal(m2.in[0].capacity, 1u << 24);
    assert_int_equal(m2.in[0].pos, 123456);
    assert_true(m2.dirty);
    assert_same_graph(&a, &b);

    /* Both continue identically (lookup maps rebuilt, reservoir generator kept). */
    continue_trace(&a);
    continue_trace(&b);
    assert_same_graph(&a, &b);
    struct rec_buf ea, eb;
    rec_buf_init(&ea);
    rec_buf_init(&eb);
    assert_int_equal(cfg_emit_final(&a, 1, collect, &ea), cfg_emit_final(&b, 1, collect, &eb));
    assert_int_equal(ea.len, eb.len);
    assert_memory_equal(ea.data, eb.data, ea.len);

    /* An absent file is "missing", not an error of content. */
    struct cfg c;
    snprintf(path, sizeof path, "%s/none.snap", dir);
    assert_false(cfg_snapshot_load(path, &c, &m2, &missing, err, sizeof err));
    assert_true(missing);
    rec_buf_free(&ea);
    rec_buf_free(&eb);
    rec_buf_free(&sink);
    cfg_free(&a);
    cfg_free(&b);
}

/* Whole file into memory. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*len ? *len : 1);
    assert_int_equal(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

/* Loads `bad` and expects a failure whose message contains every needle. */
static void expect_refused(const char *path, const char *needle1, const char *needle2)
{
    struct cfg g;
    struct cfg_ckpt_meta m;
    char err[1024];
    bool missing;
    assert_false(cfg_snapshot_load(path, &g, &m, &missing, err, sizeof err));
    assert_false(missing);
    print_message("refused: %s\n", err);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, needle1));
    if (needle2) assert_non_null(strstr(err, needle2));
}

/* Re-seals a modified snapshot (payload and header checksums), so that only
 * the structural checks of the image can refuse it. */
static void reseal(uint8_t *p, size_t len)
{
    uint64_t payload = len - 48, h;
    memcpy(p + 24, &payload, 8);
    h = cfg_hash64(p + 48, payload, 0x636667736e617031ull);
    memcpy(p + 32, &h, 8);
    h = cfg_hash64(p, 40, 0x636667736e617031ull);
    memcpy(p + 40, &h, 8);
}

static void test_snapshot_corrupt(void **state)
{
    (void)state;
    struct cfg a;
    build_graph(&a);
    struct cfg_ckpt_meta m = { .generation = 1 };
    char good[128], bad[128], err[1024];
    snprintf(good, sizeof good, "%s/good.snap", dir);
    snprintf(bad, sizeof bad, "%s/bad.snap", dir);
    assert_true(cfg_snapshot_save(good, &a, &m, NULL, err, sizeof err));
    size_t len;
    uint8_t *p = slurp(good, &len);
    uint8_t *q = malloc(len);

    memcpy(q, p, len);                       /* not a snapshot at all */
    memcpy(q, "NOTASNAP", 8);
    spit(bad, q, len);
    expect_refused(bad, "magic", NULL);

    memcpy(q, p, len);                       /* a later format */
    q[8] = 9;
    spit(bad, q, len);
    expect_refused(bad, "version: 9", NULL);

    spit(bad, p, len - 100);                 /* truncated */
    expect_refused(bad, "payload length", "truncated");

    spit(bad, p, 20);                        /* truncated inside the header */
    expect_refused(bad, "header", "truncated");

    memcpy(q, p, len);                       /* one flipped bit in the graph */
    q[len / 2] ^= 0x10;
    spit(bad, q, len);
    expect_refused(bad, "payload checksum", NULL);

    memcpy(q, p, len);                       /* header field changed */
    q[16] ^= 1;
    spit(bad, q, len);
    expect_refused(bad, "header checksum", NULL);

    /* Structurally wrong but correctly sealed: the field is named.  The
     * payload starts with the input table (u32 0), dirty (u8), then the
     * image: version u32, hot u64, 12 counters, rng u64, nspaces u32,
     * run (3 u64, u32, u8), nblocks u32, then block 0: pc, end, mode. */
    size_t img = 48 + 4 + 1;
    size_t block0 = img + 4 + 8 + 12 * 8 + 8 + 4 + 3 * 8 + 4 + 1 + 4;
    memcpy(q, p, len);
    q[block0 + 16] = 48;                     /* block 0 mode */
    reseal(q, len);
    spit(bad, q, len);
    expect_refused(bad, "block 0 mode: 48", NULL);

    memcpy(q, p, len);
    uint32_t huge = 0x7fffffff;
    memcpy(q + block0 - 4, &huge, 4);        /* nblocks */
    reseal(q, len);
    spit(bad, q, len);
    expect_refused(bad, "blocks", "cannot fit");

    memcpy(q, p, len);
    uint32_t v = 2;
    memcpy(q + img, &v, 4);                  /* image version */
    reseal(q, len);
    spit(bad, q, len);
    expect_refused(bad, "image version: 2", NULL);

    /* An extra byte at the end of a sealed image. */
    uint8_t *r = malloc(len + 1);
    memcpy(r, p, len);
    r[len] = 0;
    reseal(r, len + 1);
    spit(bad, r, len + 1);
    expect_refused(bad, "left over", NULL);

    free(r);
    free(q);
    free(p);
    cfg_free(&a);
}

struct replay_log { int n; uint8_t types[16]; uint64_t pos[16]; char payload[16][16]; };

static bool log_entry(void *ctx, const struct cfg_journal_entry *e, char *err, size_t errlen)
{
    (void)err; (void)errlen;
    struct replay_log *l = ctx;
    if (l->n < 16) {
        l->types[l->n] = e->type;
        l->pos[l->n] = e->pos;
        snprintf(l->payload[l->n], sizeof l->payload[0], "%.*s", (int)e->len, (const char *)e->payload);
    }
    l->n++;
    return true;
}

static void test_journal(void **state)
{
    (void)state;
    char path[128], err[1024];
    snprintf(path, sizeof path, "%s/cfg.0.journal", dir);
    struct cfg_journal j;
    assert_true(cfg_journal_create(&j, path, 3, err, sizeof err));
    cfg_journal_add(&j, CFG_J_INPUT, 0, 0, "\0\0\0\1\0\0\0\0/q", 10);
    cfg_journal_add(&j, CFG_J_RECORD, 0, 24, "first", 5);
    cfg_journal_add(&j, CFG_J_BAD, 0, 48, NULL, 0);
    assert_true(cfg_journal_flush(&j, err, sizeof err));
    cfg_journal_add(&j, CFG_J_RECORD, 0, 80, "second", 6);
    assert_true(cfg_journal_flush(&j, err, sizeof err));
    uint64_t whole = j.size;
    cfg_journal_close(&j);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal((uint64_t)sb.st_size, whole);

    struct replay_log l = { 0 };
    uint64_t gen, valid, torn;
    bool missing;
    assert_true(cfg_journal_replay(path, log_entry, &l, &gen, &valid, &torn, &missing, err, sizeof err));
    assert_int_equal(gen, 3);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.types[1], CFG_J_RECORD);
    assert_string_equal(l.payload[1], "first");
    assert_int_equal(l.types[2], CFG_J_BAD);
    assert_int_equal(l.pos[3], 80);
    assert_int_equal(valid, whole);
    assert_int_equal(torn, 0);

    /* A process killed in the middle of a write: the cut entry is dropped,
     * and appending resumes after the last whole one. */
    size_t len;
    uint8_t *p = slurp(path, &len);
    for (size_t cut = 1; cut < 32 + 6; cut += 7) {
        spit(path, p, len - cut);
        memset(&l, 0, sizeof l);
        assert_true(cfg_journal_replay(path, log_entry, &l, &gen, &valid, &torn, &missing, err, sizeof err));
        assert_int_equal(l.n, 3);
        assert_int_equal(torn, (32 + 6) - cut);
    }
    assert_true(cfg_journal_reopen(&j, path, 3, valid, err, sizeof err));
    cfg_journal_add(&j, CFG_J_RECORD, 0, 90, "third", 5);
    assert_true(cfg_journal_flush(&j, err, sizeof err));
    cfg_journal_close(&j);
    memset(&l, 0, sizeof l);
    assert_true(cfg_journal_replay(path, log_entry, &l, &gen, &valid, &torn, &missing, err, sizeof err));
    assert_int_equal(l.n, 4);
    assert_string_equal(l.payload[3], "third");
    assert_int_equal(torn, 0);

    /* Corruption inside a whole entry is an error naming the entry and offset. */
    uint8_t *q = slurp(path, &len);
    q[40 + 32 + 10 + 32 + 2] ^= 0x40;       /* the payload of entry 1 ("first") */
    spit(path, q, len);
    assert_false(cfg_journal_replay(path, log_entry, &l, &gen, &valid, &torn, &missing, err, sizeof err));
    print_message("refused: %s\n", err);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "entry 1 at offset 82"));
    assert_non_null(strstr(err, "payload checksum"));
    free(q);
    q = slurp(path, &len);
    q[40 + 32 + 10 + 8] ^= 1;               /* the position in entry 1's header */
    spit(path, q, len);
    assert_false(cfg_journal_replay(path, log_entry, &l, &gen, &valid, &torn, &missing, err, sizeof err));
    assert_non_null(strstr(err, "header checksum"));
    free(q);
    spit(path, (const uint8_t *)"TCGLCKPT-not-a-journal-but-long-enough-for-a-header", 50);
    assert_false(cfg_journal_replay(path, log_entry, &l, &gen, &valid, &torn, &missing, err, sizeof err));
    assert_non_null(strstr(err, "magic"));
    free(p);
}

/* A tracer restarted mid-run sends TB id 1 again: the partial run is
 * discarded, and the graph is exactly the one a clean run builds.  A run
 * after a complete one (TRACE_END) replaces it too. */
static void test_tracer_restart(void **state)
{
    (void)state;
    struct cfg clean, restarted;
    struct cfg_options o;
    cfg_options_default(&o);
    o.hot_threshold = 100;
    assert_true(cfg_init(&clean, &o));
    assert_true(cfg_init(&restarted, &o));
    uint32_t ids[300];
    for (int i = 0; i < 300; i++) ids[i] = i % 3 == 0 ? 1 : 2;

    /* the dead run: part of the trace, no TRACE_END */
    feed_tb(&restarted, 1, 0x2000, outer, sizeof outer);
    feed_tb(&restarted, 2, 0x1000, loop, sizeof loop);
    feed_exec(&restarted, 0, ids, 120);
    feed_tb(&restarted, 3, 0x3000, other, sizeof other);
    assert_int_equal(restarted.run.runs, 1);
    /* the whole run, in both */
    struct cfg *both[2] = { &clean, &restarted };
    for (int k = 0; k < 2; k++) {
        feed_tb(both[k], 1, 0x2000, outer, sizeof outer);
        feed_tb(both[k], 2, 0x1000, loop, sizeof loop);
        feed_exec(both[k], 0, ids, 300);
        feed_sample(both[k], 2, 0x1000, 3, 9, 1);
    }
    assert_int_equal(restarted.run.runs, 2);
    assert_int_equal(restarted.run.runs_discarded, 1);
    assert_int_equal(restarted.n.execs, 300);
    assert_null(cfg_block_at(&restarted, 0x3000, 64));      /* only the dead run had it */
    clean.run = restarted.run;                               /* the tallies differ, the graphs do not */
    assert_same_graph(&clean, &restarted);

    /* TRACE_END, then another run: it replaces the complete one. */
    struct rec r;
    memset(&r, 0, sizeof r);
    r.type = REC_TRACE_END;
    r.u.trace_end.reason = rec_str_c("test");
    feed(&restarted, &r);
    assert_true(restarted.run.ended);
    feed_tb(&restarted, 1, 0x3000, other, sizeof other);
    assert_int_equal(restarted.run.runs, 3);
    assert_int_equal(restarted.run.runs_replaced, 1);
    assert_int_equal(restarted.n.execs, 0);
    assert_int_equal(restarted.nblocks, 1);
    /* Ids above the run's highest are the same run. */
    feed_tb(&restarted, 7, 0x2000, outer, sizeof outer);
    assert_int_equal(restarted.run.runs, 3);
    cfg_free(&clean);
    cfg_free(&restarted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_round_trip),
        cmocka_unit_test(test_snapshot_corrupt),
        cmocka_unit_test(test_journal),
        cmocka_unit_test(test_tracer_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
