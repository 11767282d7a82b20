/* test_reliability_kill — SIGKILL stages at random moments of a real
 * pipeline under the real pipectl (which restarts them): what comes out at
 * the end is the same as in a clean run.
 *
 *   rel_trace_source (6 distinct hot loops, slow) -> cfg -> cluster -> synth -> verify -> SINK
 *
 * A clean run and a run with SIGKILLs of the victims (a fixed seed picks the
 * victim and the moment) are compared:
 *
 *   - SINK = rel_collect: the set of VERDICTs (template key, proof result,
 *     failed tests) that reached the end; victims cluster, synth, verify.
 *   - SINK = offload with a library: the library's entries (key, kind, Pixel
 *     ops) — the "same verified entries as a clean run"; victims
 *     cluster, synth, verify, offload (killed mid-store too: entries are
 *     written atomically, a repeated verdict is idempotent).
 *   - victims cfg and cluster: cfg keeps its graph in a snapshot and a
 *     journal in the run directory and commits its input only after
 *     journaling it (docs/cfg.md "Crash safety"), so a cfg killed mid-trace
 *     resumes with the same graph and the same final counts.
 *
 * A job or verdict repeated after a restart (at-least-once) is harmless: the
 * sinks keep the latest per template key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/stat.h>

#include "library.h"
#include "test_reliability_util.h"

static const char head[] =
    "  library: out/library\n"
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
    "  - name: synth\n"
    "    executable: %B/bin/synth\n"
    "    args: [--no-library, --no-optimize]\n"
    "  - name: verify\n"
    "    executable: %B/bin/verify\n"
    "    args: [--states, \"100\"]\n";

static const char tail_collect[] =
    "  - name: sink\n"
    "    executable: %B/tests/tools/rel_collect\n"
    "    args: [--out, \"collect.txt\"]\n"
    "edges:\n"
    "  - {from: source, to: cfg}\n"
    "  - {from: cfg, to: cluster}\n"
    "  - {from: cluster.jobs, to: synth}\n"
    "  - {from: cluster.hits, to: sink}\n"
    "  - {from: synth, to: verify}\n"
    "  - {from: verify, to: sink}\n";

static const char tail_offload[] =
    "  - name: sink\n"
    "    executable: %B/bin/offload\n"
    "    args: [--speed-blocks, \"0\", --no-native]\n"
    "edges:\n"
    "  - {from: source, to: cfg}\n"
    "  - {from: cfg, to: cluster}\n"
    "  - {from: cluster.jobs, to: synth}\n"
    "  - {from: cluster.hits, to: sink}\n"
    "  - {from: synth, to: verify}\n"
    "  - {from: verify, to: sink}\n";

static bool have_all(bool offload)
{
    static const char *const need[] = { "cfg", "cluster", "synth", "verify", "offload" };
    for (size_t i = 0; i < sizeof need / sizeof need[0] - (offload ? 0 : 1); i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/bin/%s", prun_build(), need[i]);
        if (access(p, X_OK) != 0) {
            print_message("%s not built: skipped\n", need[i]);
            return false;
        }
    }
    return true;
}

/* Library entries as sorted "key kind ops-hex" lines. */
static void library_lines(const char *dir, char *out, size_t len)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep '\\.json$' | sort", dir);
    FILE *p = popen(cmd, "r");
    size_t o = 0;
    out[0] = 0;
    char name[300];
    while (fgets(name, sizeof name, p)) {
        name[strcspn(name, "\n")] = 0;
        char *json = rel_slurpf("%s/%s", dir, name);
        if (!json) continue;
        struct library_entry e;
        char err[300];
        char key[LIBRARY_KEY_HEX_LEN + 1];
        snprintf(key, sizeof key, "%.64s", name);
        if (library_entry_parse(json, strlen(json), key, &e, err, sizeof err)) {
            o += (size_t)snprintf(out + o, len - o, "%s %s ", key, library_kind_name(e.kind));
            for (size_t i = 0; i < e.pixel_ops_len && o + 3 < len; i++)
                o += (size_t)snprintf(out + o, len - o, "%02x", e.pixel_ops[i]);
            o += (size_t)snprintf(out + o, len - o, "\n");
            library_entry_free(&e);
        } else {
            o += (size_t)snprintf(out + o, len - o, "%s CORRUPT %s\n", key, err);
        }
        free(json);
    }
    pclose(p);
}

/* Runs the pipeline; kills > 0 SIGKILLs one of `victims` (comma-separated)
 * that many times at pseudo-random moments.  Returns the outcome in out
 * (rel_collect's file, or the library's lines) and the kills done. */
static int run(const char *name, bool offload, int kills, const char *victims, char *out, size_t len)
{
    static char body[8192];
    const char *delay = kills ? "60" : "0";
    size_t o = 0;
    for (const char *p = head; *p; p++) {
        if (p[0] == '%' && p[1] == 'D') {
            o += (size_t)snprintf(body + o, sizeof body - o, "%s", delay);
            p++;
        } else {
            body[o++] = *p;
        }
    }
    body[o] = 0;
    strncat(body, offload ? tail_offload : tail_collect, sizeof body - strlen(body) - 1);
    char vlist[8][32];
    int nv = 0;
    for (const char *v = victims; v && *v && nv < 8;) {
        size_t n = strcspn(v, ",");
        snprintf(vlist[nv++], sizeof vlist[0], "%.*s", (int)n, v);
        v += n + (v[n] == ',');
    }
    struct prun r;
    prun_init(&r, name, body);
    prun_start(&r);
    assert_true(prun_ready(&r, 60));
    uint64_t seed = 12345;
    int done = 0;
    for (int k = 0; k < kills && !prun_poll_exit(&r); k++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        usleep(250000 + (unsigned)((seed >> 33) % 500000));
        const char *stage = vlist[(seed >> 20) % (uint64_t)nv];
        int pid = prun_worker_pid(&r, stage, 0);
        if (pid > 0 && kill(pid, SIGKILL) == 0) {
            done++;
            fprintf(stderr, "  killed %s (pid %d)\n", stage, pid);
        }
    }
    int rc = prun_wait(&r, 240);
    if (rc != 0) prun_dump(&r);
    assert_int_equal(rc, 0);
    if (offload) {
        char lib[400];
        snprintf(lib, sizeof lib, "%s/out/library", r.dir);
        library_lines(lib, out, len);
    } else {
        char *c = rel_slurpf("%s/out/report/collect.txt", r.dir);
        assert_non_null(c);
        snprintf(out, len, "%s", c);
        free(c);
    }
    prun_cleanup(&r);
    return done;
}

static void compare_with_clean(bool offload, const char *victims, int kills)
{
    static char clean[65536], killed[65536];
    run("relkill0", offload, 0, NULL, clean, sizeof clean);
    int done = run("relkill1", offload, kills, victims, killed, sizeof killed);
    fprintf(stderr, "clean run:\n%s%d kills of %s, then:\n%s", clean, done, victims, killed);
    assert_true(done >= kills / 2);
    if (offload)
        assert_int_equal(rel_count(clean, " verified "), 6);
    else
        assert_int_equal(rel_count(clean, "VERDICT "), 6);
    assert_string_equal(clean, killed);
}

static void test_sigkill_cluster_synth_verify(void **state)
{
    (void)state;
    if (!have_all(false)) skip();
    compare_with_clean(false, "cluster,synth,verify", 10);
}

static void test_sigkill_with_offload(void **state)
{
    (void)state;
    if (!have_all(true)) skip();
    compare_with_clean(true, "cluster,synth,verify,sink", 10);
}

static void test_sigkill_cfg(void **state)
{
    (void)state;
    if (!have_all(false)) skip();
    compare_with_clean(false, "cfg,cluster", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_cluster_synth_verify),
        cmocka_unit_test(test_sigkill_with_offload),
        cmocka_unit_test(test_sigkill_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
