/* test_pipectl_swap.c — swap the relay for another executable (relay_b, which
 * marks what it carries) while a million records flow: nothing lost, nothing
 * repeated, and both executables carried part of the stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_pipectl_util.h"

#define COUNT 1000000

static const char pipeline[] =
    "defaults:\n"
    "  queue_size: 64K\n"
    "stages:\n"
    "  - {name: source, executable: %B/tests/tools/seq_source, args: [--count, '1000000', --payload, '8', --rate, '100000']}\n"
    "  - {name: relay, executable: %B/tests/tools/relay, workers: 2}\n"
    "  - {name: sink, executable: %B/tests/tools/seq_sink, args: [--expect, '1000000']}\n"
    "edges:\n"
    "  - {from: source, to: relay}\n"
    "  - {from: relay, to: sink}\n";

static void test_swap_midstream(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "swap", pipeline);
    prun_start(&r);
    assert_true(prun_ready(&r, 30));
    assert_true(prun_wait_count(&r, "sink", "in", 100000, 60));
    int old0 = prun_worker_pid(&r, "relay", 0);
    assert_true(old0 > 0);

    char out[8192], exe[1200];
    /* a missing executable is refused and the stage keeps running */
    int rc = prun_ctl(&r, out, sizeof out, "swap relay /nonexistent/relay");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "/nonexistent/relay does not exist"));
    assert_int_equal(prun_worker_pid(&r, "relay", 0), old0);

    /* relay leaves the source's payload ('A...'); relay_b marks what it carries 'B' */
    snprintf(exe, sizeof exe, "%s/tests/tools/relay_b", r.build);
    rc = prun_ctl(&r, out, sizeof out, "swap relay %s", exe);
    if (rc != 0)
        fail_msg("swap: exit %d: %s", rc, out);
    assert_non_null(strstr(out, "2 workers restarted at a record boundary"));
    long long src_out = prun_stage_count(&r, "source", "out");
    assert_true(src_out > 0 && src_out < COUNT);   /* mid-stream */
    int new0 = prun_worker_pid(&r, "relay", 0);
    assert_true(new0 > 0 && new0 != old0);

    rc = prun_wait(&r, 120);
    if (rc != 0)
        prun_dump(&r);
    assert_int_equal(rc, 0);
    assert_int_equal(prun_report(&r, "unique"), COUNT);
    assert_int_equal(prun_report(&r, "received"), COUNT);
    assert_int_equal(prun_report(&r, "duplicates"), 0);
    assert_int_equal(prun_report(&r, "missing"), 0);
    assert_int_equal(prun_report(&r, "order_violations"), 0);
    /* both executables carried part of the stream, and every record exactly one of them */
    char path[400];
    snprintf(path, sizeof path, "%s/out/report/seq_sink.0.txt", r.dir);
    char *rep = prun_slurp(path);
    assert_non_null(rep);
    char *a = strstr(rep, "mark A "), *b = strstr(rep, "mark B ");
    if (!a || !b)
        fail_msg("expected records marked A and B:\n%s", rep);
    long long na = strtoll(a + 7, NULL, 10), nb = strtoll(b + 7, NULL, 10);
    assert_true(na > 0 && nb > 0);
    assert_int_equal(na + nb, COUNT);
    free(rep);
    snprintf(path, sizeof path, "%s/out/logs/relay.0.log", r.dir);
    char *log = prun_slurp(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "stopped at a record boundary"));
    assert_non_null(strstr(log, "tests/tools/relay_b"));
    free(log);
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_midstream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
