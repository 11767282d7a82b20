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
 *   - the tracer: a real traced run (QEMU + trace_logger.so, the wl_loop
 *     workload) -> cfg -> cluster -> synth -> verify -> offload with a
 *     library; QEMU is SIGKILLed at a random moment after cfg has taken
 *     records; pipectl restarts the tracer, the VM runs the workload again
 *     from the start, and cfg discards the dead run's partial trace (its log
 *     says so): the library holds the same verified entries as a clean run.
 *
 * A job or verdict repeated after a restart (at-least-once) is harmless: the
 * sinks keep the latest per template key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "library.h"
#include "shmq.h"
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
    prun_subst(body, sizeof body, head, "D", &delay);
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

/* ---- the tracer ------------------------------------------------------------------- */

static const char tracer_body[] =
    "  library: out/library\n"
    "vm:\n"
    "  kernel: %B/tracer/vmlinux\n"
    "  initrd: %B/tracer/initramfs.cpio.gz\n"
    "  memory: 256M\n"
    "  cpus: 1\n"
    "  workloads: [loop]\n"
    "  plugin_args: {sample_first: 8, sample_every: 64, filter: user}\n"
    "  icount: 0\n"
    "  timeout: 3m\n"
    "defaults:\n"
    "  restart: {max_restarts: 5, window: 120s, backoff: 20ms, backoff_max: 200ms}\n"
    "stages:\n"
    "  - name: tracer\n"
    "    executable: %B/bin/tracer\n"
    "  - name: cfg\n"
    "    executable: %B/bin/cfg\n"
    "    args: [--hot, \"1000000000\", --emit-min, \"2000\", --top, \"20\"]\n"
    "    queue_size: 16M\n"
    "  - name: cluster\n"
    "    executable: %B/bin/cluster\n"
    "    args: [--threshold, \"2000\", --no-imm-params]\n"
    "    outputs: [jobs, hits]\n"
    "  - name: synth\n"
    "    executable: %B/bin/synth\n"
    "    args: [--no-optimize]\n"
    "  - name: verify\n"
    "    executable: %B/bin/verify\n"
    "    args: [--states, \"100\"]\n"
    "  - name: offload\n"
    "    executable: %B/bin/offload\n"
    "    args: [--speed-blocks, \"0\", --no-native]\n"
    "edges:\n"
    "  - {from: tracer, to: cfg}\n"
    "  - {from: cfg, to: cluster}\n"
    "  - {from: cluster.jobs, to: synth}\n"
    "  - {from: cluster.hits, to: offload}\n"
    "  - {from: synth, to: verify}\n"
    "  - {from: verify, to: offload}\n";

static const char *tracer_missing(void)
{
    static char why[1300];
    static const char *const need[] = { "tracer/vmlinux", "tracer/initramfs.cpio.gz", "lib/trace_logger.so",
                                        "bin/tracer" };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        snprintf(why, sizeof why, "%s/%s", prun_build(), need[i]);
        if (access(why, R_OK) != 0) {
            strncat(why, " is missing (make build)", sizeof why - strlen(why) - 1);
            return why;
        }
    }
    if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0) return "qemu-system-x86_64 is not installed";
    return "";
}

/* The pid of a child of `parent` whose command name starts with `comm`, or 0. */
static int child_named(int parent, const char *comm)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int found = 0;
    while (d && !found && (de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        int ppid = 0;
        if (!open || !close || sscanf(close + 2, "%*c %d", &ppid) != 1) continue;
        if (ppid == parent && !strncmp(open + 1, comm, strlen(comm))) found = atoi(de->d_name);
    }
    if (d) closedir(d);
    return found;
}

/* The trace queue (tracer -> cfg) of a run, opened as an observer: its
 * published record count measures the tracer's progress. */
static struct shmq *trace_queue(struct prun *r, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/tcgl-%s-%d-tracer.0.out-cfg.0", name, (int)r->pid);
    for (int i = 0; i < 200; i++) {
        struct shmq *q = shmq_open(path, SHMQ_OBSERVER);
        if (q) return q;
        usleep(10000);
    }
    return NULL;
}

static uint64_t published(struct shmq *q)
{
    struct shmq_info info;
    shmq_info(q, &info);
    return info.records_in;
}

/* A traced run.  kill_at > 0: SIGKILL QEMU (or, with kill_launcher, the
 * tracer launcher, whose QEMU must then die with it) once the tracer has
 * published that many records (returns whether it was killed); 0: a clean run, whose
 * total record count goes to *total.  The library's lines into out, cfg.json's
 * hottest blocks with their counts into counts, the cfg log's number of
 * discarded runs into *discarded. */
static bool run_traced(const char *name, uint64_t kill_at, bool kill_launcher, uint64_t *total, char *out, size_t len, char *counts,
                       size_t clen, int *discarded)
{
    struct prun r;
    prun_init(&r, name, tracer_body);
    prun_start(&r);
    assert_true(prun_ready(&r, 60));
    struct shmq *q = trace_queue(&r, name);
    assert_non_null(q);
    bool killed = false;
    uint64_t n = 0;
    int tracer = 0, qemu = 0;
    while (!prun_poll_exit(&r) && !killed) {
        /* The pids first, so that the kill follows the threshold at once:
         * the tracer publishes thousands of records per millisecond. */
        if (kill_at && qemu <= 0) {
            tracer = prun_worker_pid(&r, "tracer", 0);
            qemu = tracer > 0 ? child_named(tracer, "qemu-system") : 0;
        }
        n = published(q);
        if (kill_at && n >= kill_at) {
            if (qemu > 0 && kill(kill_launcher ? tracer : qemu, SIGKILL) == 0) {
                killed = true;
                fprintf(stderr, "  killed %s (QEMU pid %d, tracer pid %d) after %llu trace records\n",
                        kill_launcher ? "the tracer launcher" : "QEMU", qemu, tracer, (unsigned long long)n);
            }
            break;
        }
        usleep(kill_at && qemu > 0 ? 500 : 5000);
    }
    if (total) *total = n > published(q) ? n : published(q);
    shmq_close(q);
    int rc = prun_wait(&r, 420);
    if (rc != 0) {
        prun_dump(&r);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n 20 %s/out/logs/*.log >&2", r.dir);
        if (system(cmd) != 0) fprintf(stderr, "no logs\n");
    }
    assert_int_equal(rc, 0);
    char lib[400];
    snprintf(lib, sizeof lib, "%s/out/library", r.dir);
    library_lines(lib, out, len);
    /* cfg's final graph: the hottest blocks and their counts. */
    char *cj = rel_slurpf("%s/out/report/cfg.json", r.dir);
    assert_non_null(cj);
    json_error_t jerr;
    json_t *root = json_loads(cj, 0, &jerr);
    assert_non_null(root);
    size_t o = 0, k;
    json_t *b;
    json_array_foreach(json_object_get(root, "hot_blocks"), k, b)
        o += (size_t)snprintf(counts + o, clen - o, "%s x%lld\n", json_string_value(json_object_get(b, "pc")),
                              (long long)json_integer_value(json_object_get(b, "exec_count")));
    json_decref(root);
    free(cj);
    char *log = rel_slurpf("%s/out/logs/cfg.0.log", r.dir);
    *discarded = rel_count(log, "the tracer restarted");
    free(log);
    prun_cleanup(&r);
    return killed;
}

static void test_sigkill_tracer(void **state)
{
    (void)state;
    const char *why = tracer_missing();
    if (*why) {
        print_message("%s: skipped\n", why);
        skip();
    }
    if (!have_all(true)) skip();
    static char clean[65536], killed[65536], clean_counts[8192], killed_counts[8192];
    int discarded = 0;
    uint64_t total = 0;
    run_traced("reltrace0", 0, false, &total, clean, sizeof clean, clean_counts, sizeof clean_counts, &discarded);
    fprintf(stderr, "clean run: %llu trace records\n", (unsigned long long)total);
    assert_true(total > 100);
    assert_int_equal(discarded, 0);
    fprintf(stderr, "clean run:\n%s%s", clean_counts, clean);
    assert_true(rel_count(clean, " verified ") >= 1);
    /* At a pseudo-random point between 10% and 50% of the trace; a kill can
     * miss (QEMU just done, its TRACE_END already sent: then nothing is
     * discarded, and the library must still equal the clean run's): up to
     * three tries to land one inside the trace. */
    uint64_t seed = 0x243f6a8885a308d3ull ^ (uint64_t)time(NULL);
    /* First QEMU, then the launcher (QEMU dies with it: PR_SET_PDEATHSIG;
     * an orphaned QEMU would hold the queue and the pipeline would stop). */
    for (int victim = 0; victim < 2; victim++) {
        bool done = false;
        for (int attempt = 0; attempt < 3 && !done; attempt++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t at = total / 10 + (seed >> 33) % (total * 4 / 10);
            bool hit = run_traced(victim ? "reltrace2" : "reltrace1", at, victim == 1, NULL, killed, sizeof killed,
                                  killed_counts, sizeof killed_counts, &discarded);
            fprintf(stderr, "%s killed: %s, then (%d partial runs discarded):\n%s%s", victim ? "the launcher" : "QEMU",
                    hit ? "yes" : "no", discarded, killed_counts, killed);
            assert_true(discarded <= 1);
            assert_string_equal(clean_counts, killed_counts);   /* counts of one whole run, not more */
            assert_string_equal(clean, killed);
            done = hit && discarded == 1;      /* cfg saw the restart and dropped the partial run */
        }
        assert_true(done);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_cluster_synth_verify),
        cmocka_unit_test(test_sigkill_with_offload),
        cmocka_unit_test(test_sigkill_cfg),
        cmocka_unit_test(test_sigkill_tracer),
    };
    /* TCGL_TEST_CASE=test_sigkill_tracer runs one case (cmocka's pattern). */
    const char *only = getenv("TCGL_TEST_CASE");
    if (only && *only) cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
