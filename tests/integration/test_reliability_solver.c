/* test_reliability_solver — a solver timeout in a real pipeline under the
 * real pipectl: verify with a 1 ms Z3 budget on the templates of 8 hot loops
 * (add, sub, xor, and, or, adc, sbb, imul; the jnz terminator and the flags
 * make every proof non-trivial):
 *
 *   rel_trace_source -> cfg -> cluster -> synth -> verify --proof-timeout 1 -> rel_collect
 *
 * Every template still gets exactly one VERDICT (nothing lost, the pipeline
 * finishes); templates whose proof ran out of time have proof 3 ("timeout")
 * and are not accepted, with the reason in verify's audit log; the closing
 * log line counts them.  A clean pipeline with the default budget proves
 * them all (the same chain is checked in test_reliability_records).
 * Second case: synth with tiny proof and search budgets still emits a
 * candidate (the baseline) for every job.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "test_reliability_util.h"

static void test_proof_timeout(void **state)
{
    (void)state;
    static const char *const need[] = { "cfg", "cluster", "synth", "verify" };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/bin/%s", prun_build(), need[i]);
        if (access(p, X_OK) != 0) {
            print_message("%s not built: skipped\n", need[i]);
            skip();
        }
    }
    struct prun r;
    prun_init(&r, "relsolver",
              "stages:\n"
              "  - name: source\n"
              "    executable: %B/tests/tools/rel_trace_source\n"
              "    args: [--loops, \"8\", --iterations, \"20000\"]\n"
              "  - name: cfg\n"
              "    executable: %B/bin/cfg\n"
              "  - name: cluster\n"
              "    executable: %B/bin/cluster\n"
              "    args: [--threshold, \"5000\", --no-library]\n"
              "    outputs: [jobs, hits]\n"
              "  - name: synth\n"
              "    executable: %B/bin/synth\n"
              "    args: [--no-library, --no-optimize]\n"
              "  - name: verify\n"
              "    executable: %B/bin/verify\n"
              "    args: [--states, \"100\", --proof-timeout, \"1\"]\n"
              "  - name: collect\n"
              "    executable: %B/tests/tools/rel_collect\n"
              "    args: [--out, \"collect.txt\"]\n"
              "edges:\n"
              "  - {from: source, to: cfg}\n"
              "  - {from: cfg, to: cluster}\n"
              "  - {from: cluster.jobs, to: synth}\n"
              "  - {from: cluster.hits, to: collect}\n"
              "  - {from: synth, to: verify}\n"
              "  - {from: verify, to: collect}\n");
    prun_start(&r);
    int rc = prun_wait(&r, 150);
    if (rc != 0) prun_dump(&r);
    assert_int_equal(rc, 0);

    char *c = rel_slurpf("%s/out/report/collect.txt", r.dir);
    assert_non_null(c);
    fprintf(stderr, "  verdicts (key, proof, tests failed):\n%s", c);
    assert_int_equal(rel_count(c, "VERDICT "), 8);
    int timeouts = 0;
    for (const char *p = c; (p = strstr(p, "VERDICT ")); p += 8) {
        char key[80];
        unsigned proof, failed;
        assert_int_equal(sscanf(p, "VERDICT %79s %u %u", key, &proof, &failed), 3);
        assert_true(proof == 0 || proof == 3);     /* proved, or out of time: never refuted */
        assert_int_equal(failed, 0);
        timeouts += proof == 3;
    }
    free(c);
    fprintf(stderr, "  %d of 8 proofs ran out of time\n", timeouts);
    assert_true(timeouts >= 1);

    /* each timeout is rejected with its reason in the audit log */
    char *audit = rel_slurpf("%s/out/report/verify.0.audit.jsonl", r.dir);
    assert_non_null(audit);
    assert_int_equal(rel_count(audit, "\"proof\":\"timeout\""), timeouts);
    assert_int_equal(rel_count(audit, "\"accepted\":false,\"reason\":\"proof timeout"), timeouts);
    free(audit);
    char *log = rel_slurpf("%s/out/logs/verify.0.log", r.dir);
    assert_non_null(log);
    char want[64];
    snprintf(want, sizeof want, " %d timeout /", timeouts);
    assert_non_null(strstr(log, want));
    free(log);
    prun_cleanup(&r);
}

/* synth with a 1 ms proof budget and a 50 ms optimization budget: the
 * classical (baseline) lowering always exists, so every job still yields a
 * CANDIDATE with microcode, and synth's audit says which proofs or searches
 * ran out of time. */
static void test_synth_budget(void **state)
{
    (void)state;
    static const char *const need[] = { "cfg", "cluster", "synth" };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/bin/%s", prun_build(), need[i]);
        if (access(p, X_OK) != 0) {
            print_message("%s not built: skipped\n", need[i]);
            skip();
        }
    }
    struct prun r;
    prun_init(&r, "relsynth",
              "stages:\n"
              "  - name: source\n"
              "    executable: %B/tests/tools/rel_trace_source\n"
              "    args: [--loops, \"8\", --iterations, \"20000\"]\n"
              "  - name: cfg\n"
              "    executable: %B/bin/cfg\n"
              "  - name: cluster\n"
              "    executable: %B/bin/cluster\n"
              "    args: [--threshold, \"5000\", --no-library]\n"
              "    outputs: [jobs, hits]\n"
              "  - name: synth\n"
              "    executable: %B/bin/synth\n"
              "    args: [--no-library, --prove-baseline, --proof-timeout-ms, \"1\", --budget-ms, \"50\"]\n"
              "  - name: collect\n"
              "    executable: %B/tests/tools/rel_collect\n"
              "    args: [--out, \"collect.txt\"]\n"
              "edges:\n"
              "  - {from: source, to: cfg}\n"
              "  - {from: cfg, to: cluster}\n"
              "  - {from: cluster.jobs, to: synth}\n"
              "  - {from: cluster.hits, to: collect}\n"
              "  - {from: synth, to: collect}\n");
    prun_start(&r);
    int rc = prun_wait(&r, 150);
    if (rc != 0) prun_dump(&r);
    assert_int_equal(rc, 0);
    char *c = rel_slurpf("%s/out/report/collect.txt", r.dir);
    assert_non_null(c);
    fprintf(stderr, "  candidates (key, method, op bytes):\n%s", c);
    assert_int_equal(rel_count(c, "CANDIDATE "), 8);
    for (const char *p = c; (p = strstr(p, "CANDIDATE ")); p += 10) {
        char key[80];
        unsigned method, bytes;
        assert_int_equal(sscanf(p, "CANDIDATE %79s %u %u", key, &method, &bytes), 3);
        assert_true(method == 0 || method == 1);   /* baseline or optimized: never dropped to QEMU */
        assert_true(bytes > 0 && bytes % 4 == 0);
    }
    free(c);
    char *audit = rel_slurpf("%s/out/report/synth-audit.0.jsonl", r.dir);
    assert_non_null(audit);
    int lines = rel_count(audit, "\n");
    int unproved = rel_count(audit, "\"proved\":false");
    fprintf(stderr, "  synth audit: %d jobs, %d baselines not proved within 1 ms\n", lines, unproved);
    assert_int_equal(lines, 8);
    assert_true(unproved >= 1);
    free(audit);
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proof_timeout),
        cmocka_unit_test(test_synth_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
