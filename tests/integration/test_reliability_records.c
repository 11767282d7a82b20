/* test_reliability_records — malformed records injected into every queue of
 * a real pipeline under the real pipectl are rejected by name, counted, and
 * the pipeline still finishes with every valid record processed.
 *
 * rel_corrupt (tests/tools) sits on each edge: it passes every record through
 * and puts a malformed one derived from it before it (truncated, trailing
 * byte, mistyped version, mistyped field, oversized bin, random bytes,
 * unknown type, huge array count).  Checks per consuming stage: pipectl's
 * summary counts exactly the injected records as bad, the stage's log names
 * the record type / field / byte offset, and the stage's real output equals
 * that of the clean input.
 *
 *   trace:  rel_trace_source (6 loops) -> C -> cfg -> C -> cluster -> C -> synth -> C
 *           -> verify -> C -> rel_collect
 *   verdicts: rel_cand_source -> C -> verify -> C -> offload (library)
 *
 * A stage whose executable is not built skips its chain with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/stat.h>

#include "records.h"
#include "test_reliability_util.h"

static bool have_exe(const char *name)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/bin/%s", prun_build(), name);
    return access(p, X_OK) == 0;
}

/* Every consumer logs each rejection with the record codec's message, which
 * names the type (or says the type is unknown) and the byte offset. */
static void check_log(struct prun *r, const char *stage, long long injected, uint32_t type)
{
    const char *type_name = rec_type_name(type);
    char *log = rel_slurpf("%s/out/logs/%s.0.log", r->dir, stage);
    assert_non_null(log);
    int at_byte = rel_count(log, " at byte ");
    if (at_byte < injected) {
        fprintf(stderr, "%s log names a byte offset %d times for %lld injected records:\n%s\n", stage, at_byte,
                injected, log);
        fail();
    }
    char want[80];
    snprintf(want, sizeof want, "%s v%u: field ", type_name, rec_type_by_tag(type)->version);
    if (!strstr(log, want)) {
        fprintf(stderr, "%s log never names '%s':\n%s\n", stage, want, log);
        fail();
    }
    free(log);
}

static void check_bad(struct prun *r, const char *stage, const char *report)
{
    long long inj = rel_injected(r->dir, report);
    long long bad = rel_summary_bad(r, stage);
    fprintf(stderr, "  %s: %lld malformed injected, pipectl counts %lld bad\n", stage, inj, bad);
    assert_true(inj >= 8);            /* every kind at least once */
    assert_int_equal(bad, inj);
}

static void test_trace_edges(void **state)
{
    (void)state;
    if (!have_exe("cfg") || !have_exe("cluster") || !have_exe("synth") || !have_exe("verify")) {
        print_message("cfg, cluster, synth or verify not built: skipped\n");
        skip();
    }
    struct prun r;
    prun_init(&r, "relrec",
              "defaults:\n"
              "  queue_size: 2M\n"
              "stages:\n"
              "  - name: source\n"
              "    executable: %B/tests/tools/rel_trace_source\n"
              "    args: [--loops, \"6\", --iterations, \"20000\"]\n"
              "  - name: c1\n"
              "    executable: %B/tests/tools/rel_corrupt\n"
              "    args: [--seed, \"1\", --report, \"c1.txt\"]\n"
              "  - name: cfg\n"
              "    executable: %B/bin/cfg\n"
              "    args: [--hot, \"1000\", --top, \"10\"]\n"
              "  - name: c2\n"
              "    executable: %B/tests/tools/rel_corrupt\n"
              "    args: [--per, \"8\", --seed, \"2\", --report, \"c2.txt\"]\n"
              "  - name: cluster\n"
              "    executable: %B/bin/cluster\n"
              "    args: [--threshold, \"5000\", --no-library]\n"
              "    outputs: [jobs, hits]\n"
              "  - name: c3\n"
              "    executable: %B/tests/tools/rel_corrupt\n"
              "    args: [--per, \"8\", --seed, \"3\", --report, \"c3.txt\"]\n"
              "  - name: synth\n"
              "    executable: %B/bin/synth\n"
              "    args: [--no-library, --no-optimize]\n"
              "  - name: c4\n"
              "    executable: %B/tests/tools/rel_corrupt\n"
              "    args: [--per, \"8\", --seed, \"4\", --report, \"c4.txt\"]\n"
              "  - name: verify\n"
              "    executable: %B/bin/verify\n"
              "    args: [--states, \"100\"]\n"
              "  - name: c5\n"
              "    executable: %B/tests/tools/rel_corrupt\n"
              "    args: [--per, \"8\", --seed, \"5\", --report, \"c5.txt\"]\n"
              "  - name: collect\n"
              "    executable: %B/tests/tools/rel_collect\n"
              "    args: [--out, \"collect.txt\"]\n"
              "edges:\n"
              "  - {from: source, to: c1}\n"
              "  - {from: c1, to: cfg}\n"
              "  - {from: cfg, to: c2}\n"
              "  - {from: c2, to: cluster}\n"
              "  - {from: cluster.jobs, to: c3}\n"
              "  - {from: c3, to: synth}\n"
              "  - {from: synth, to: c4}\n"
              "  - {from: c4, to: verify}\n"
              "  - {from: verify, to: c5}\n"
              "  - {from: c5, to: collect}\n"
              "  - {from: cluster.hits, to: collect}\n");
    prun_start(&r);
    int rc = prun_wait(&r, 150);
    if (rc != 0) prun_dump(&r);
    assert_int_equal(rc, 0);
    char rep[400];
    snprintf(rep, sizeof rep, "%s/out/report", r.dir);

    /* counted */
    check_bad(&r, "cfg", "out/report/c1.txt");
    check_bad(&r, "cluster", "out/report/c2.txt");
    check_bad(&r, "synth", "out/report/c3.txt");
    check_bad(&r, "verify", "out/report/c4.txt");
    check_bad(&r, "collect", "out/report/c5.txt");
    /* named */
    check_log(&r, "cfg", rel_injected(r.dir, "out/report/c1.txt"), REC_TRACE_EXEC);
    check_log(&r, "cluster", rel_injected(r.dir, "out/report/c2.txt"), REC_BLOCK);
    check_log(&r, "synth", rel_injected(r.dir, "out/report/c3.txt"), REC_SYNTH_JOB);
    check_log(&r, "verify", rel_injected(r.dir, "out/report/c4.txt"), REC_CANDIDATE);
    check_log(&r, "collect", rel_injected(r.dir, "out/report/c5.txt"), REC_VERDICT);

    /* nothing valid lost: every execution of the 6 loops counted, the 6
     * templates were synthesized, and each was proved and tested */
    char *j = rel_slurpf("%s/cfg.json", rep);
    assert_non_null(j);
    assert_int_equal(rel_count(j, "\"exec_count\": 20000,"), 6);
    free(j);
    j = rel_slurpf("%s/cluster.json", rep);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"templates\": 6"));
    free(j);
    j = rel_slurpf("%s/collect.txt", rep);
    assert_non_null(j);
    fprintf(stderr, "  collected:\n%s", j);
    assert_int_equal(rel_count(j, "VERDICT "), 6);
    assert_int_equal(rel_count(j, " 0 0\n"), 6);      /* proof 0 (proved), 0 tests failed */
    free(j);
    prun_cleanup(&r);
}

static int count_entries(const char *dir, const char *must_contain)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "grep -rl --include='*.json' -- '%s' %s 2>/dev/null | wc -l", must_contain, dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
    return n;
}

static void test_verdict_edges(void **state)
{
    (void)state;
    if (!have_exe("verify") || !have_exe("offload")) {
        print_message("verify or offload not built: skipped\n");
        skip();
    }
    struct prun r;
    prun_init(&r, "relverd",
              "defaults:\n"
              "  queue_size: 2M\n"
              "stages:\n"
              "  - name: source\n"
              "    executable: %B/tests/tools/rel_cand_source\n"
              "    args: [--count, \"20\"]\n"
              "  - name: c1\n"
              "    executable: %B/tests/tools/rel_corrupt\n"
              "    args: [--seed, \"4\", --report, \"c1.txt\"]\n"
              "  - name: verify\n"
              "    executable: %B/bin/verify\n"
              "    args: [--states, \"100\"]\n"
              "  - name: c2\n"
              "    executable: %B/tests/tools/rel_corrupt\n"
              "    args: [--seed, \"5\", --report, \"c2.txt\"]\n"
              "  - name: offload\n"
              "    executable: %B/bin/offload\n"
              "    args: [--speed-blocks, \"0\", --no-native]\n"
              "edges:\n"
              "  - {from: source, to: c1}\n"
              "  - {from: c1, to: verify}\n"
              "  - {from: verify, to: c2}\n"
              "  - {from: c2, to: offload}\n");
    prun_start(&r);
    int rc = prun_wait(&r, 150);
    if (rc != 0) prun_dump(&r);
    assert_int_equal(rc, 0);
    check_bad(&r, "verify", "out/report/c1.txt");
    check_bad(&r, "offload", "out/report/c2.txt");
    check_log(&r, "verify", rel_injected(r.dir, "out/report/c1.txt"), REC_CANDIDATE);
    check_log(&r, "offload", rel_injected(r.dir, "out/report/c2.txt"), REC_VERDICT);
    /* all 20 templates reached the library as QEMU-only markers */
    char lib[400];
    snprintf(lib, sizeof lib, "%s/out/library", r.dir);
    int n = count_entries(lib, "cpuid");
    fprintf(stderr, "  library: %d QEMU-only entries for 20 templates\n", n);
    assert_int_equal(n, 20);
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_edges),
        cmocka_unit_test(test_verdict_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
