/* test_verify_stage — the verify executable as a real process in a real
 * pipeline under pipectl, on real shared-memory queues:
 * verify_peer --feed -> verify (a pool of 2 workers) -> verify_peer --collect.
 * Six input records: two correct candidates, one wrong, one QEMU-only, one
 * with oversized microcode and one of garbage bytes.  The stage must reject
 * the two bad records (counted) and go on: four VERDICTs arrive (2 proved,
 * 1 refuted, 1 not attempted) and the audit logs hold four lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "test_pipectl_util.h"

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; p && *p; p++) n += *p == '\n';
    return n;
}

static void test_verify_stage_pipeline(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "verifystage",
              "stages:\n"
              "  - name: feed\n"
              "    executable: %B/tests/tools/verify_peer\n"
              "    args: [--feed]\n"
              "  - name: verify\n"
              "    executable: %B/bin/verify\n"
              "    args: [--states, \"500\"]\n"
              "    workers: 2\n"
              "  - name: collect\n"
              "    executable: %B/tests/tools/verify_peer\n"
              "    args: [--collect]\n"
              "edges:\n"
              "  - {from: feed, to: verify}\n"
              "  - {from: verify, to: collect}\n");
    prun_start(&r);
    int rc = prun_wait(&r, 180);
    if (rc != 0) prun_dump(&r);
    assert_int_equal(rc, 0);
    char path[600];
    snprintf(path, sizeof path, "%s/out/report/verify_peer.txt", r.dir);
    char *rep = prun_slurp(path);
    if (!rep) {
        prun_dump(&r);
        fail_msg("no collector report at %s", path);
    }
    printf("  %s", rep);
    unsigned long long v, pr, rf, na, other, bad, tests, failed;
    assert_int_equal(sscanf(rep, "verdicts %llu proved %llu refuted %llu not_attempted %llu other %llu bad %llu tests %llu failed %llu",
                            &v, &pr, &rf, &na, &other, &bad, &tests, &failed), 8);
    free(rep);
    assert_int_equal(v, 4);
    assert_int_equal(pr, 2);
    assert_int_equal(rf, 1);
    assert_int_equal(na, 1);
    assert_int_equal(bad, 0);
    assert_true(tests >= 3 * 2 * 500);
    assert_true(failed > 0);
    int audit_lines = 0;
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "%s/out/report/verify.%d.audit.jsonl", r.dir, w);
        char *a = prun_slurp(path);
        audit_lines += count_lines(a);
        free(a);
    }
    assert_int_equal(audit_lines, 4);
    /* the two bad records were rejected with a message, and the stage went on */
    int rejected = 0;
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "%s/out/logs/verify.%d.log", r.dir, w);
        char *l = prun_slurp(path);
        for (const char *p = l; p && (p = strstr(p, "); skipped")); p++) rejected++;
        if (l && strstr(l, "oversized")) printf("  verify.%d.log mentions the oversized microcode\n", w);
        free(l);
    }
    assert_int_equal(rejected, 2);
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_stage_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
