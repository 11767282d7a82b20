/* test_cfg_trace — cfg and cluster on a real trace: a QEMU 10 VM (TCG) runs
 * the bundled workloads (wl_loop first, then the default set) with
 * trace_logger.so writing a real shm queue;
 * this test consumes the queue while the guest runs, feeds every record to
 * the cfg library (as the cfg stage does), then feeds cfg's BLOCK records to
 * the cluster library.  wl_loop's loop block (label wl_loop_head) runs
 * exactly 123,457 times: cfg must find it as a loop header with that count
 * and the 123,456 back-edge executions, and cluster must make a template of it.
 * The run's report (hot blocks, templates, deduplication ratio, the CFG
 * files) is printed and left in BUILD/test-logs/cfg_trace_out/.
 * TCGL_CFG_TRACE_WORKLOADS overrides the workload list (it must contain loop). */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "records.h"
#include "shmq.h"
#include "../../stages/cfg/cfg.h"
#include "../../stages/cfg/cfg_record.h"
#include "../../stages/cluster/cluster.h"
#include "../../stages/tracer/trace_reader.h"
#include "../../stages/tracer/vm_launch.h"

#define LOOP_COUNT 123457u
#define LOOP_MAGIC 0x7e57c0deULL

static char build[1024];
static uint64_t loop_head;
static struct cfg graph;
static struct trace_reader reader;
static volatile bool stop_reader;
static bool end_seen;
static uint64_t records_fed, records_bad;
static int vm_rc;
static struct vm_result vmres;
static char missing[2600];

static void *consume(void *p)
{
    (void)p;
    struct rec_arena a;
    rec_arena_init(&a);
    while (!stop_reader && !end_seen) {
        struct shmq_msg m;
        int st = shmq_peek(reader.q, &m, 100);
        if (st == SHMQ_AGAIN) continue;
        if (st != SHMQ_OK) break;
        struct rec r;
        struct rec_error err;
        if (rec_decode(m.data, m.len, &r, &a, &err) < 0) {
            records_bad++;
        } else {
            records_fed++;
            if (cfg_consume(&graph, &r) == CFG_END) end_seen = true;
        }
        rec_arena_reset(&a);
        shmq_commit(reader.q);
    }
    rec_arena_free(&a);
    return NULL;
}

static uint64_t symbol(const char *bin, const char *name)
{
    char cmd[1300], line[256];
    snprintf(cmd, sizeof cmd, "nm '%s'", bin);
    FILE *p = popen(cmd, "r");
    uint64_t v = 0;
    if (!p) return 0;
    while (fgets(line, sizeof line, p)) {
        char sym[200], type;
        unsigned long long a;
        if (sscanf(line, "%llx %c %199s", &a, &type, sym) == 3 && !strcmp(sym, name)) v = a;
    }
    pclose(p);
    return v;
}

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("TCGL_BUILD");
    snprintf(build, sizeof build, "%s", b ? b : "build");
    const char *need[] = { "tracer/vmlinux", "tracer/initramfs.cpio.gz", "lib/trace_logger.so",
                           "tracer/guest-bin/wl_loop" };
    char p[1200];
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", build, need[i]);
        if (stat(p, &sb) != 0) {
            snprintf(missing, sizeof missing, "%s is missing (make BUILD=%s build)", p, build);
            return 0;
        }
    }
    snprintf(p, sizeof p, "%s/tracer/guest-bin/wl_loop", build);
    loop_head = symbol(p, "wl_loop_head");
    if (!loop_head) { snprintf(missing, sizeof missing, "no wl_loop_head in %s", p); return 0; }
    snprintf(p, sizeof p, "%s/test-logs", build);
    mkdir(p, 0755);

    struct cfg_options o;
    cfg_options_default(&o);
    if (!cfg_init(&graph, &o)) return -1;
    char queue[128], qarg[160], vmid[64];
    static char kernel[1100], initrd[1100], plugin[1100], console[1100], qlog[1100];
    snprintf(queue, sizeof queue, "/dev/shm/tcgl_test_cfg_trace_%d", (int)getpid());
    snprintf(qarg, sizeof qarg, "queue=%s", queue);
    unlink(queue);
    if (trace_reader_open(&reader, queue, 16u << 20) < 0) return -1;
    snprintf(kernel, sizeof kernel, "%s/tracer/vmlinux", build);
    snprintf(initrd, sizeof initrd, "%s/tracer/initramfs.cpio.gz", build);
    snprintf(plugin, sizeof plugin, "%s/lib/trace_logger.so", build);
    snprintf(console, sizeof console, "%s/test-logs/cfg_trace.console", build);
    snprintf(qlog, sizeof qlog, "%s/test-logs/cfg_trace.qemu", build);
    snprintf(vmid, sizeof vmid, "test_cfg_%d", (int)getpid());
    struct vm_spec s;
    vm_spec_default(&s);
    s.kernel = kernel;
    s.initrd = initrd;
    s.plugin = plugin;
    s.workloads = getenv("TCGL_CFG_TRACE_WORKLOADS");
    if (!s.workloads)
        s.workloads = "loop,checksum,memscan,strings,sort,matmul,interp,bb_gzip,bb_sha256,bb_md5,bb_sort";
    s.memory_mib = 256;
    s.timeout_s = 240;
    s.vm_id = vmid;
    s.serial_log = console;
    s.stderr_log = qlog;
    s.plugin_args[s.nplugin_args++] = qarg;
    s.plugin_args[s.nplugin_args++] = "filter=user";
    s.plugin_args[s.nplugin_args++] = "sample_first=8";
    s.plugin_args[s.nplugin_args++] = "sample_every=1000";
    pthread_t th;
    pthread_create(&th, NULL, consume, NULL);
    vm_rc = vm_run(&s, &vmres);
    for (int i = 0; i < 300 && !end_seen; i++) {
        struct timespec d = { 0, 20 * 1000 * 1000 };
        nanosleep(&d, NULL);
    }
    stop_reader = true;
    pthread_join(th, NULL);
    unlink(queue);
    if (vm_rc != 0) fprintf(stderr, "vm: %s\n", vmres.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    trace_reader_close(&reader);
    cfg_free(&graph);
    return 0;
}

static void test_loop_block_exact_count(void **state)
{
    (void)state;
    if (*missing) { fprintf(stderr, "SKIP: %s\n", missing); skip(); }
    assert_int_equal(vm_rc, 0);
    assert_true(end_seen);
    assert_int_equal(records_bad, 0);
    assert_true(cfg_analyze(&graph));
    struct cfg_block *L = cfg_block_at(&graph, loop_head, 64);
    assert_non_null(L);
    printf("trace: %" PRIu64 " TBs, %" PRIu64 " block executions, %u basic blocks in %u code space(s), "
           "%" PRIu64 " splits\n", graph.n.tbs, graph.n.execs, graph.nblocks, graph.nspaces, graph.n.splits);
    printf("loop block %#" PRIx64 ": %u insns, %" PRIu64 " executions, class %s, depth %u\n",
           loop_head, L->ninsns, L->exec_count, cfg_class_name(L->cls), L->loop_depth);
    assert_int_equal(L->exec_count, LOOP_COUNT);
    assert_int_equal(L->ninsns, 4);                       /* mov, add, dec, jnz */
    assert_int_equal(cfg_edge_count(&graph, L, L), LOOP_COUNT - 1);
    assert_true(L->is_loop_header);
    assert_true(L->loop_depth >= 1);
    assert_int_equal(L->loop_header, loop_head);
    assert_int_equal(L->cls, CFG_CLASS_MEM);
    x86_locset need = X86_LOC_GPR(X86_RCX) | X86_LOC_GPR(X86_RDX) | X86_LOC_GPR(X86_RDI);
    assert_int_equal(L->live_in & need, need);
    /* dec defines every flag jnz reads; add's are dead: no flag is live in */
    assert_int_equal(L->live_in & X86_LOC_ALL_FLAGS, 0);
    assert_true(L->nsample >= 1);
    for (uint32_t i = 0; i < L->nsample; i++) {
        assert_int_equal(L->sample[i].pre.gpr[X86_RBX], LOOP_MAGIC);
        assert_int_equal(L->sample[i].pre.gpr[X86_RCX], LOOP_COUNT - L->sample[i].exec_seq);
    }
    assert_int_equal(graph.n.exec_unknown_tb, 0);
    assert_int_equal(graph.n.len_mismatches, 0);
}

struct to_cluster { struct cluster *c; struct rec_buf buf; struct rec_arena a; };

static bool to_cluster(void *ctx, const struct cfg *g, const struct cfg_block *b)
{
    struct to_cluster *t = ctx;
    struct rec_error err;
    struct rec r;
    rec_buf_reset(&t->buf);
    if (cfg_block_encode(g, b, &t->buf, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(rec_decode(t->buf.data, t->buf.len, &r, &t->a, &err), REC_BLOCK);
    assert_true(cluster_add_block(t->c, &r.u.block));
    rec_arena_reset(&t->a);
    return true;
}

static int njobs;
static bool loop_job;
static bool count_job(void *ctx, const struct rec_synth_job *j)
{
    (void)ctx;
    njobs++;
    for (uint32_t i = 0; i < j->instances.n; i++)
        if (j->instances.v[i].pc == loop_head) {
            loop_job = true;
            assert_int_equal(j->exec_count >= LOOP_COUNT, true);
            assert_true(j->samples.n >= 1);
        }
    return true;
}

static void test_cluster_and_outputs(void **state)
{
    (void)state;
    if (*missing) { fprintf(stderr, "SKIP: %s\n", missing); skip(); }
    struct cluster_options o;
    cluster_options_default(&o);
    struct cluster *c = malloc(sizeof *c);
    assert_true(cluster_init(c, &o, NULL));
    struct to_cluster t = { .c = c };
    rec_buf_init(&t.buf);
    rec_arena_init(&t.a);
    assert_true(cfg_emit_final(&graph, 1, to_cluster, &t) > 0);
    assert_true(cluster_flush(c, count_job, NULL) >= 1);
    assert_true(loop_job);
    assert_true(c->n.blocks_hot >= 1);
    assert_true(c->n.templates >= 1);
    assert_true(cluster_dedup_ratio(c) >= 1.0);
    assert_int_equal(c->n.canon_failures, 0);
    /* the report: hot blocks and templates, hottest first */
    uint32_t nt;
    uint32_t *rank = cluster_rank_templates(c, &nt);
    assert_non_null(rank);
    printf("templates (simple classes first, then by executions):\n");
    for (uint32_t k = 0; k < nt && k < 15; k++) {
        const struct cluster_template *tm = &c->tmpl[rank[k]];
        printf("  %.16s  %-7s %9" PRIu64 " execs  %u instance(s)  %u insns\n", tm->key,
               cfg_class_name(tm->cls), tm->exec_count, tm->nlive, tm->ninsns);
    }
    free(rank);
    printf("real trace: %u blocks, %" PRIu64 " hot (>= %" PRIu64 "), %" PRIu64 " templates, "
           "%.2f instances/template, %d jobs\n", graph.nblocks, c->n.blocks_hot, o.threshold,
           c->n.templates, cluster_dedup_ratio(c), njobs);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/test-logs/cfg_trace_out", build);
    mkdir(dir, 0755);
    assert_true(cfg_write_outputs(&graph, dir, 30));
    assert_true(cluster_write_report(c, dir));
    char path[1300];
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fclose(f);
    printf("CFG files and cluster.json in %s\n", dir);
    rec_buf_free(&t.buf);
    rec_arena_free(&t.a);
    cluster_free(c);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_block_exact_count),
        cmocka_unit_test(test_cluster_and_outputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
