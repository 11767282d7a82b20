/* test_reliability_kill — SIGKILL the analysis stages at random moments of a
 * real pipeline under the real pipectl (which restarts them): the templates
 * that come out at the end are the same as in a clean run.
 *
 *   rel_trace_source (6 distinct hot loops, slow) -> cfg -> cluster -> rel_collect
 *
 * A clean run and a run with random SIGKILLs of cluster (a fixed seed picks
 * the moments) are compared on rel_collect's output:
 * the set of SYNTH_JOB template keys and, per key, its instance count.  The
 * execution counts are printed, not compared (a job carries the count of
 * the moment its template became hot, which depends on timing).  Killing cfg
 * as well is the second test, skipped by default: cfg is not crash-safe yet
 * (below).
 *
 * The whole pipeline (synth, verify, offload; comparing library entries)
 * is not covered here yet: synth has no executable at the time of writing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "test_reliability_util.h"

static const char pipeline[] =
    "defaults:\n"
    "  restart: {max_restarts: 20, window: 60s, backoff: 20ms, backoff_max: 200ms}\n"
    "stages:\n"
    "  - name: source\n"
    "    executable: %B/tests/tools/rel_trace_source\n"
    "    args: [--loops, \"6\", --iterations, \"20000\", --delay-ms, \"%D\"]\n"
    "  - name: cfg\n"
    "    executable: %B/bin/cfg\n"
    "    args: [--hot, \"1000\", --top, \"10\"]\n"
    "  - name: cluster\n"
    "    executable: %B/bin/cluster\n"
    "    args: [--threshold, \"5000\", --no-library]\n"
    "    outputs: [jobs, hits]\n"
    "  - name: collect\n"
    "    executable: %B/tests/tools/rel_collect\n"
    "    args: [--out, \"collect.txt\"]\n"
    "edges:\n"
    "  - {from: source, to: cfg}\n"
    "  - {from: cfg, to: cluster}\n"
    "  - {from: cluster.jobs, to: collect}\n"
    "  - {from: cluster.hits, to: collect}\n";

/* Runs the pipeline; with kills > 0, SIGKILLs a victim (victims: "cfg",
 * "cluster" or "cfg,cluster") that many times at pseudo-random moments.  Returns rel_collect's output (malloc'd)
 * and the number of kills done in *done. */
static char *run(const char *name, int kills, const char *victims, int *done)
{
    char body[sizeof pipeline + 64];
    const char *delay = kills ? "25" : "0";
    size_t o = 0;
    for (const char *p = pipeline; *p; p++) {
        if (p[0] == '%' && p[1] == 'D') {
            o += (size_t)snprintf(body + o, sizeof body - o, "%s", delay);
            p++;
        } else {
            body[o++] = *p;
        }
    }
    body[o] = 0;
    struct prun r;
    prun_init(&r, name, body);
    prun_start(&r);
    assert_true(prun_ready(&r, 60));
    uint64_t seed = 12345;
    *done = 0;
    for (int k = 0; k < kills && !prun_poll_exit(&r); k++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        usleep(150000 + (unsigned)((seed >> 33) % 250000));
        const char *stage = strchr(victims, ',') ? ((seed >> 20) & 1 ? "cfg" : "cluster") : victims;
        int pid = prun_worker_pid(&r, stage, 0);
        if (pid > 0 && kill(pid, SIGKILL) == 0) {
            (*done)++;
            fprintf(stderr, "  killed %s (pid %d)\n", stage, pid);
        }
    }
    int rc = prun_wait(&r, 150);
    if (rc != 0) prun_dump(&r);
    assert_int_equal(rc, 0);
    char *c = rel_slurpf("%s/%s", r.dir, "out/report/collect.txt");
    assert_non_null(c);
    prun_cleanup(&r);
    return c;
}

/* "SYNTH_JOB key exec instances" lines -> "key instances" lines. */
static void keys_and_instances(const char *in, char *out, size_t len)
{
    size_t o = 0;
    out[0] = 0;
    const char *p = in;
    while ((p = strstr(p, "SYNTH_JOB "))) {
        char key[80];
        unsigned long long ex, inst;
        if (sscanf(p, "SYNTH_JOB %79s %llu %llu", key, &ex, &inst) == 3)
            o += (size_t)snprintf(out + o, len - o, "%s %llu\n", key, inst);
        p += 10;
    }
}

/* Clean run vs a run with `kills` SIGKILLs of `victims`: same templates. */
static void compare_with_clean(const char *victims, int kills)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/bin/cluster", prun_build());
    if (access(p, X_OK) != 0) {
        print_message("cfg/cluster not built: skipped\n");
        skip();
    }
    int done;
    static char clean[8192], killed[8192], a[8192], b[8192];
    char *c = run("relkill0", 0, NULL, &done);
    snprintf(clean, sizeof clean, "%s", c);
    free(c);
    c = run("relkill1", kills, victims, &done);
    snprintf(killed, sizeof killed, "%s", c);
    free(c);
    fprintf(stderr, "clean run:\n%s%d kills of %s, then:\n%s", clean, done, victims, killed);
    assert_true(done >= kills / 2);
    assert_int_equal(rel_count(clean, "SYNTH_JOB "), 6);
    keys_and_instances(clean, a, sizeof a);
    keys_and_instances(killed, b, sizeof b);
    assert_string_equal(a, b);
}

static void test_sigkill_cluster(void **state)
{
    (void)state;
    compare_with_clean("cluster", 8);
}

/* Known to lose templates today: cfg keeps its graph (and the final counts
 * it emits at TRACE_END) in memory while committing its input, so a cfg
 * killed mid-trace forgets every TB defined before (docs/cfg.md "Limits").
 * Run with TCGL_REL_KILL_CFG=1 to check (it fails until cfg is crash-safe). */
static void test_sigkill_cfg_and_cluster(void **state)
{
    (void)state;
    const char *e = getenv("TCGL_REL_KILL_CFG");
    if (!e || strcmp(e, "1")) {
        print_message("cfg is not crash-safe yet (its graph lives in memory while its input is committed: "
                      "docs/cfg.md Limits); set TCGL_REL_KILL_CFG=1 to run this check\n");
        skip();
    }
    compare_with_clean("cfg,cluster", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_cluster),
        cmocka_unit_test(test_sigkill_cfg_and_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
