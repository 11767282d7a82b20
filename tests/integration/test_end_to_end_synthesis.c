/* test_end_to_end_synthesis — the whole pipeline, for real, twice.
 *
 * Run 1 (fresh library): pipectl runs tracer (QEMU VM with trace_logger.so,
 * workloads wl_loop and wl_checksum) -> cfg -> cluster -> synth x2 ->
 * verify x2 -> offload (e2e_util.h).  Checked on the real outputs:
 *   - report.json and report.html exist, report.json has its sections and
 *     counts that account for every library entry;
 *   - the library holds verified entries, each proved (unsat) with at least
 *     10,000 concrete tests on each oracle (Unicorn and native) and none
 *     failed, and one entry per template that went through synthesis;
 *   - wl_loop's loop block (label wl_loop_head, 123,457 executions) is a hot
 *     block whose template is verified in the library, or a QEMU-only marker
 *     with its reason recorded.
 * Run 2 (same library): at least 90% of the jobs are library hits (verified
 * or QEMU-only: cluster.json's counters), and synth's audit shows that no
 * hit was synthesized again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "e2e_util.h"

#define MIN_TESTS 10000u

/* parsed outputs, released by the teardown (also after a failed check) */
static json_t *cluster1, *cluster2, *report1;

/* Library checks of run 1: every entry file parses; a verified entry is
 * proved with at least MIN_TESTS concrete tests per oracle, none failed; a
 * QEMU-only marker has its reason.  Returns the number of verified entries
 * and sets *markers to the number of QEMU-only markers. */
static int check_library(const char *lib, const json_t *cluster, int *markers)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls '%s'", lib);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int verified = 0, qemu_only = 0;
    char name[400];
    while (fgets(name, sizeof name, p)) {
        name[strcspn(name, "\n")] = 0;
        size_t n = strlen(name);
        if (n != LIBRARY_KEY_HEX_LEN + 5 || strcmp(name + LIBRARY_KEY_HEX_LEN, ".json"))
            fail_msg("stray file in the library: %s/%s", lib, name);   /* e.g. a temp file left behind */
        char key[LIBRARY_KEY_HEX_LEN + 1];
        snprintf(key, sizeof key, "%.64s", name);
        struct library_entry e;
        assert_true(e2e_library_entry(lib, key, &e));
        if (e.kind == LIBRARY_KIND_VERIFIED) {
            verified++;
            if (e.proof != LIBRARY_PROOF_PROVED || e.tests_unicorn < MIN_TESTS || e.tests_native < MIN_TESTS ||
                e.tests_failed != 0 || e.pixel_ops_len == 0 || e.pixel_ops_len % 4)
                fail_msg("library entry %s: proof %s, tests unicorn %u native %u failed %u, %zu op bytes", key,
                         library_proof_name(e.proof), e.tests_unicorn, e.tests_native, e.tests_failed,
                         e.pixel_ops_len);
        } else {
            qemu_only++;
            if (!e.reason[0]) fail_msg("QEMU-only entry %s has no reason", key);
            assert_int_equal(e.pixel_ops_len, 0);
        }
        library_entry_free(&e);
    }
    pclose(p);
    /* templates of cluster.json that have an entry (the others were refuted,
     * unknown or timed out: never stored) */
    json_t *templates = json_object_get(cluster, "templates"), *t;
    size_t i;
    int with_entry = 0;
    json_array_foreach(templates, i, t) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s.json", lib, e2e_str(t, "key"));
        with_entry += access(path, F_OK) == 0;
    }
    fprintf(stderr, "library: %d verified, %d QEMU-only entries; %d of %zu templates have one\n", verified,
            qemu_only, with_entry, json_array_size(templates));
    assert_true(with_entry >= 1);
    *markers = qemu_only;
    return verified;
}

/* wl_loop's loop block: hot, and its template verified (or QEMU-only with a reason). */
static void check_loop_block(const char *lib, const json_t *cluster)
{
    uint64_t head = e2e_guest_symbol("wl_loop", "wl_loop_head");
    assert_true(head != 0);
    json_t *hot = json_object_get(cluster, "hot_blocks"), *b, *found = NULL;
    size_t i;
    json_array_foreach(hot, i, b) {
        if (strtoull(e2e_str(b, "pc"), NULL, 16) == head) found = b;
    }
    if (!found) fail_msg("wl_loop_head %#" PRIx64 " is not among the %zu hot blocks", head, json_array_size(hot));
    assert_int_equal(e2e_int(found, "exec_count"), E2E_LOOP_COUNT);
    json_t *keys = json_object_get(found, "templates");
    assert_true(json_array_size(keys) >= 1);
    const char *key = json_string_value(json_array_get(keys, 0));
    assert_non_null(key);
    struct library_entry e;
    assert_true(e2e_library_entry(lib, key, &e));
    if (e.kind == LIBRARY_KIND_VERIFIED) {
        fprintf(stderr, "wl_loop_head %#" PRIx64 ": template %.16s verified (%s, %zu Pixel ops, %u+%u tests)\n",
                head, key, library_method_name(e.method), e.pixel_ops_len / 4, e.tests_unicorn, e.tests_native);
        assert_int_equal(e.proof, LIBRARY_PROOF_PROVED);
        assert_true(e.tests_unicorn >= MIN_TESTS && e.tests_native >= MIN_TESTS);
    } else {
        fprintf(stderr, "wl_loop_head %#" PRIx64 ": template %.16s QEMU-only: %s\n", head, key, e.reason);
        assert_true(e.reason[0] != 0);
    }
    library_entry_free(&e);
}

/* report.json: its sections, and counts that account for the library
 * (every stored entry comes from a proved verdict or a QEMU-only candidate
 * that offload counted). */
static void check_report(const struct prun *r, const json_t *cluster, int verified, int markers)
{
    json_t *rep = report1 = e2e_json(r, "report.json");
    assert_non_null(rep);
    static const char *const sections[] = { "workloads", "coverage", "pipeline", "hot_blocks",
                                            "speedup_by_class", "templates", "qemu_only_reasons" };
    for (size_t k = 0; k < sizeof sections / sizeof sections[0]; k++)
        if (!json_object_get(rep, sections[k])) fail_msg("report.json has no section '%s'", sections[k]);
    json_t *pl = json_object_get(rep, "pipeline");
    json_t *cc = json_object_get(cluster, "counters");
    long long jobs = e2e_int(pl, "jobs");
    fprintf(stderr, "report: %lld jobs, %lld baseline, %lld optimized, %lld qemu-only, %lld proved, %lld "
            "library hits; cluster: %lld templates, %lld jobs\n", jobs, e2e_int(pl, "baseline"),
            e2e_int(pl, "optimized"), e2e_int(pl, "qemu_only"), e2e_int(pl, "proved"), e2e_int(pl, "lib_hits"),
            e2e_int(cc, "templates"), e2e_int(cc, "jobs"));
    assert_true(e2e_int(cc, "templates") >= 3);
    assert_true(jobs >= 1);
    assert_true(e2e_int(pl, "proved") >= verified);
    assert_true(e2e_int(pl, "qemu_only") >= markers);
    assert_true(e2e_int(pl, "tests_unicorn") >= MIN_TESTS);
    assert_true(e2e_int(pl, "tests_native") >= MIN_TESTS);
    assert_true(json_array_size(json_object_get(rep, "templates")) >= 1);
    char html[600];
    snprintf(html, sizeof html, "%s/out/report/report.html", r->dir);
    struct stat sb;
    assert_int_equal(stat(html, &sb), 0);
    assert_true(sb.st_size > 0);
}

/* Run 2: library hits from cluster.json's counters; none of them synthesized. */
static void check_second_run(const struct prun *r)
{
    json_t *cluster = cluster2 = e2e_json(r, "cluster.json");
    assert_non_null(cluster);
    json_t *cc = json_object_get(cluster, "counters");
    long long hits = e2e_int(cc, "lib_hits"), qo = e2e_int(cc, "lib_qemu_only"), miss = e2e_int(cc, "lib_misses");
    assert_true(hits >= 0 && qo >= 0 && miss >= 0);
    long long total = hits + qo + miss;
    fprintf(stderr, "second run: library %lld hits / %lld misses / %lld qemu-only (%.1f%% hits)\n", hits, miss, qo,
            total ? 100.0 * (double)(hits + qo) / (double)total : 0.0);
    assert_true(total > 0);
    assert_true(hits >= 1);
    assert_true((hits + qo) * 10 >= total * 9);
    /* Synth's audit of this run: a verified hit bypasses synth (cluster sends
     * it to offload with its cached ops), or passes through as "hit"; a
     * QEMU-only marker goes to synth, which answers from the library without
     * an attempt ("qemu_only", no CEGIS).  Anything else is a synthesis. */
    json_t *templates = json_object_get(cluster, "templates"), *t;
    size_t i;
    int nhit = 0, synthesized_hits = 0, audit_lines = 0;
    for (int w = 0; w < 2; w++) {
        char path[600];
        snprintf(path, sizeof path, "%s/out/report/synth-audit.%d.jsonl", r->dir, w);
        FILE *f = fopen(path, "r");
        if (!f) continue;   /* a worker that got no job writes no audit */
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            json_error_t err;
            json_t *a = json_loads(line, 0, &err);
            if (!a) {
                fclose(f);
                fail_msg("%s: bad line: %s", path, err.text);
            }
            audit_lines++;
            const char *key = e2e_str(a, "key"), *outcome = e2e_str(a, "outcome");
            const char *was = "miss";
            json_array_foreach(templates, i, t) {
                if (!strcmp(e2e_str(t, "key"), key)) was = e2e_str(t, "library");
            }
            bool ok = !strcmp(was, "hit")         ? !strcmp(outcome, "hit")
                      : !strcmp(was, "qemu_only") ? !strcmp(outcome, "qemu_only") && e2e_int(a, "cegis_queries") <= 0
                                                  : true;
            fprintf(stderr, "  synth job %lld %.16s (library %s): %s, %lld us\n", e2e_int(a, "job"), key, was,
                    outcome, e2e_int(a, "synth_us"));
            if (!ok) synthesized_hits++;
            json_decref(a);
        }
        fclose(f);
    }
    json_array_foreach(templates, i, t) {
        const char *l = e2e_str(t, "library");
        nhit += !strcmp(l, "hit") || !strcmp(l, "qemu_only");
    }
    fprintf(stderr, "second run: %d of %zu templates were hits, synth audited %d job(s)\n", nhit,
            json_array_size(templates), audit_lines);
    assert_true(nhit >= 1);
    assert_int_equal(synthesized_hits, 0);
}

static struct prun r1, r2;
static char lib[128];

static void test_end_to_end_synthesis(void **state)
{
    (void)state;
    const char *why = e2e_missing();
    if (*why) {
        fprintf(stderr, "SKIP: %s\n", why);
        skip();
    }
    e2e_tmpdir(lib, sizeof lib, "lib");
    assert_int_equal(e2e_run(&r1, "e2e_synth1", lib, 300), 0);
    e2e_assert_traced(&r1);
    json_t *cluster = cluster1 = e2e_json(&r1, "cluster.json");
    assert_non_null(cluster);
    int markers = 0;
    int verified = check_library(lib, cluster, &markers);
    assert_true(verified >= 1);
    check_loop_block(lib, cluster);
    check_report(&r1, cluster, verified, markers);

    assert_int_equal(e2e_run(&r2, "e2e_synth2", lib, 300), 0);
    e2e_assert_traced(&r2);
    check_second_run(&r2);
}

/* Also after a failed check: no pipectl, stage, QEMU or queue stays behind
 * (prun_cleanup stops pipectl, which stops its stages and removes the
 * queues), and no temporary directory. */
static int teardown(void **state)
{
    (void)state;
    if (r1.dir[0]) e2e_cleanup(&r1);
    if (r2.dir[0]) e2e_cleanup(&r2);
    if (lib[0]) e2e_rmdir(lib);
    json_decref(cluster1);
    json_decref(cluster2);
    json_decref(report1);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_to_end_synthesis),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
