/* test_cfg_crash — cfg's checkpoint under the real pipectl, with real
 * processes and queues (docs/cfg.md "Crash safety"):
 *
 *   rel_trace_source (6 hot loops, slow) -> cfg -> rel_collect
 *
 *   - cfg SIGKILLed six times at random moments: it resumes from its
 *     checkpoint (its log says so) and the sink gets exactly as many BLOCK
 *     records as in a clean run — none lost, none repeated;
 *   - a stale, corrupt checkpoint in the run directory while the input is
 *     still complete: cfg says which file and why, keeps it as *.rejected,
 *     starts empty, and builds the whole graph (every execution counted);
 *   - the journal corrupted under a cfg that has already committed input:
 *     the restarted cfg refuses (naming the file and entry) instead of
 *     silently losing the committed records, and pipectl stops the pipeline
 *     as crash-looping (exit status 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/stat.h>

#include "test_reliability_util.h"

static const char body[] =
    "defaults:\n"
    "  restart: {max_restarts: %R, window: 60s, backoff: 20ms, backoff_max: 200ms}\n"
    "stages:\n"
    "  - name: source\n"
    "    executable: %B/tests/tools/rel_trace_source\n"
    "    args: [--loops, \"6\", --iterations, \"20000\", --delay-ms, \"%D\"]\n"
    "  - name: cfg\n"
    "    executable: %B/bin/cfg\n"
    "    args: [--hot, \"1000\", --top, \"10\"]\n"
    "  - name: sink\n"
    "    executable: %B/tests/tools/rel_collect\n"
    "    args: [--out, \"collect.txt\"]\n"
    "edges:\n"
    "  - {from: source, to: cfg}\n"
    "  - {from: cfg, to: sink}\n";

static bool have_tools(void)
{
    static const char *const need[] = { "bin/cfg", "tests/tools/rel_trace_source", "tests/tools/rel_collect" };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", prun_build(), need[i]);
        if (access(p, X_OK) != 0) {
            print_message("%s not built: skipped\n", p);
            return false;
        }
    }
    return true;
}

static void start(struct prun *r, const char *name, const char *delay, const char *restarts)
{
    static char text[4096];
    prun_subst(text, sizeof text, body, "DR", (const char *const[]){ delay, restarts });
    prun_init(r, name, text);
}

/* The sink's BLOCK count ("BLOCK N" line), -1 when absent. */
static long long blocks_collected(struct prun *r)
{
    char *c = rel_slurpf("%s/out/report/collect.txt", r->dir);
    if (!c) return -1;
    char *b = strstr(c, "BLOCK ");
    long long n = b ? strtoll(b + 6, NULL, 10) : -1;
    free(c);
    return n;
}

static int log_count(struct prun *r, const char *needle)
{
    char *log = rel_slurpf("%s/out/logs/cfg.0.log", r->dir);
    int n = rel_count(log, needle);
    free(log);
    return n;
}

/* The largest executions count of cfg's closing lines ("..., N executions,
 * ..."): the whole trace is 6 loops x 20,000.  The largest, not the last: a
 * kill that lands just after cfg finished makes pipectl start one more cfg,
 * which finds the input ended and closes with 0 executions.  A SIGKILLed
 * cfg writes no closing line, so a lost or doubled execution still shows. */
static long long final_executions(struct prun *r)
{
    char *log = rel_slurpf("%s/out/logs/cfg.0.log", r->dir);
    long long n = -1;
    for (char *p = log; p && (p = strstr(p, " TBs, ")); p++) {
        long long v = strtoll(p + 6, NULL, 10);
        if (v > n) n = v;
    }
    free(log);
    return n;
}

static long long clean_blocks;

static void test_kill_exact_blocks(void **state)
{
    (void)state;
    if (!have_tools()) skip();
    struct prun r;
    start(&r, "cfgcrash0", "40", "20");
    prun_start(&r);
    assert_true(prun_ready(&r, 60));
    assert_int_equal(prun_wait(&r, 120), 0);
    clean_blocks = blocks_collected(&r);
    print_message("clean run: %lld BLOCK records\n", clean_blocks);
    assert_true(clean_blocks >= 6);
    assert_int_equal(final_executions(&r), 120000);
    prun_cleanup(&r);

    start(&r, "cfgcrash1", "40", "20");
    prun_start(&r);
    assert_true(prun_ready(&r, 60));
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);
    int kills = 0;
    for (int k = 0; k < 6 && !prun_poll_exit(&r); k++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        usleep(300000 + (unsigned)((seed >> 33) % 700000));
        int pid = prun_worker_pid(&r, "cfg", 0);
        if (pid > 0 && kill(pid, SIGKILL) == 0) kills++;
    }
    int rc = prun_wait(&r, 180);
    if (rc) prun_dump(&r);
    assert_int_equal(rc, 0);
    long long got = blocks_collected(&r);
    int resumed = log_count(&r, "resumed from the checkpoint");
    print_message("%d kills of cfg (%d resumed from a checkpoint): %lld BLOCK records\n", kills, resumed, got);
    assert_true(kills >= 3);
    assert_true(resumed >= 1);
    assert_int_equal(got, clean_blocks);
    assert_int_equal(final_executions(&r), 120000);    /* the restored graph saw every execution once */
    prun_cleanup(&r);
}

static void test_stale_checkpoint(void **state)
{
    (void)state;
    if (!have_tools()) skip();
    struct prun r;
    start(&r, "cfgcrash2", "0", "20");
    /* A stale snapshot and journal where this run's cfg keeps its own. */
    char path[400];
    snprintf(path, sizeof path, "%s/out", r.dir);
    mkdir(path, 0700);
    mkdir(r.run_dir, 0700);
    snprintf(path, sizeof path, "%s/cfg.0.snap", r.run_dir);
    FILE *f = fopen(path, "w");
    fputs("not a snapshot, but long enough to have a header of forty-eight bytes", f);
    fclose(f);
    prun_start(&r);
    assert_true(prun_ready(&r, 60));
    int rc = prun_wait(&r, 120);
    if (rc) prun_dump(&r);
    assert_int_equal(rc, 0);
    long long got = blocks_collected(&r);
    print_message("%lld BLOCK records\n", got);
    assert_true(got >= 6);
    assert_int_equal(final_executions(&r), 120000);
    assert_int_equal(log_count(&r, "cfg.0.snap: magic"), 1);
    assert_int_equal(log_count(&r, "starting with an empty graph"), 1);
    snprintf(path, sizeof path, "%s/cfg.0.snap.rejected", r.run_dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/cfg.0.snap", r.run_dir);
    assert_int_not_equal(access(path, F_OK), 0);      /* the run ended: its own checkpoint is removed */
    prun_cleanup(&r);
}

static void test_corrupt_journal_refused(void **state)
{
    (void)state;
    if (!have_tools()) skip();
    struct prun r;
    start(&r, "cfgcrash3", "60", "2");
    prun_start(&r);
    assert_true(prun_ready(&r, 60));
    assert_true(prun_wait_count(&r, "cfg", "in", 20, 60));
    /* Flip a byte inside the first entries (committed input is journaled there). */
    char path[400];
    snprintf(path, sizeof path, "%s/cfg.0.journal", r.run_dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 200), 1);
    b ^= 0x20;
    assert_int_equal(pwrite(fd, &b, 1, 200), 1);
    close(fd);
    int pid = prun_worker_pid(&r, "cfg", 0);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int rc = prun_wait(&r, 120);
    print_message("pipectl exit status %d\n", rc);
    assert_int_equal(rc, 3);                            /* crash loop: the pipeline stops */
    assert_true(log_count(&r, "refuses to start") >= 1);
    assert_true(log_count(&r, "cfg.0.journal: entry") >= 1);
    assert_true(log_count(&r, "checksum mismatch") >= 1);
    char *out = rel_slurp(r.out_path);
    assert_non_null(strstr(out, "crash-looping"));
    free(out);
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_exact_blocks),
        cmocka_unit_test(test_stale_checkpoint),
        cmocka_unit_test(test_corrupt_journal_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
