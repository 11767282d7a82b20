/* test_pipectl_scale.c — scale a relay pool 1 -> 4 -> 2 while a million
 * numbered records flow (real pipectl, real processes, real shm queues); the
 * sink must see every number exactly once, in order per producer. */
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
    "  - {name: source, executable: %B/tests/tools/seq_source, args: [--count, '1000000', --payload, '16', --rate, '100000']}\n"
    "  - {name: relay, executable: %B/tests/tools/relay, workers: 1}\n"
    "  - {name: sink, executable: %B/tests/tools/seq_sink, args: [--expect, '1000000']}\n"
    "edges:\n"
    "  - {from: source, to: relay}\n"
    "  - {from: relay, to: sink}\n";

static void test_scale_1_4_2(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "scale", pipeline);
    prun_start(&r);
    assert_true(prun_ready(&r, 30));
    char out[8192];
    assert_true(prun_wait_count(&r, "sink", "in", 50000, 60));

    /* bad requests are refused with a reason */
    int rc = prun_ctl(&r, out, sizeof out, "scale nosuch 2");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "no stage named 'nosuch'"));
    rc = prun_ctl(&r, out, sizeof out, "scale relay 0");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "expected 1 to 32"));

    /* up to 4 while records flow */
    rc = prun_ctl(&r, out, sizeof out, "scale relay 4");
    if (rc != 0)
        fail_msg("scale relay 4: exit %d: %s", rc, out);
    assert_non_null(strstr(out, "stage relay: 4 workers (was 1)"));
    long long src_out = prun_stage_count(&r, "source", "out");
    if (!(src_out > 0 && src_out < COUNT)) {
        prun_ctl(&r, out, sizeof out, "status");
        fail_msg("source out %lld after scaling up; status:\n%s", src_out, out);
    }
    assert_int_equal(prun_ctl(&r, out, sizeof out, "status"), 0);
    for (int j = 0; j < 4; j++) {
        char key[64];
        snprintf(key, sizeof key, "  worker relay %d pid ", j);
        char *p = strstr(out, key);
        if (!p || atoi(p + strlen(key)) <= 0)
            fail_msg("relay worker %d is not running:\n%s", j, out);
    }

    /* let the four share the load, then down to 2 (two drain and leave) */
    long long sink_in = prun_stage_count(&r, "sink", "in");
    if (!prun_wait_count(&r, "sink", "in", sink_in + 50000, 60)) {
        prun_dump(&r);
        fail_msg("sink in was %lld, now %lld; pipectl %s", sink_in, prun_stage_count(&r, "sink", "in"),
                 prun_poll_exit(&r) ? "exited" : "runs");
    }
    rc = prun_ctl(&r, out, sizeof out, "scale relay 2");
    if (rc != 0)
        fail_msg("scale relay 2: exit %d: %s", rc, out);
    assert_non_null(strstr(out, "stage relay: 2 workers (was 4)"));
    src_out = prun_stage_count(&r, "source", "out");
    assert_true(src_out > 0 && src_out < COUNT);
    assert_int_equal(prun_ctl(&r, out, sizeof out, "status"), 0);
    assert_null(strstr(out, "  worker relay 2 "));
    assert_null(strstr(out, "  worker relay 3 "));
    assert_non_null(strstr(out, "  worker relay 1 "));

    rc = prun_wait(&r, 120);
    if (rc != 0)
        prun_dump(&r);
    assert_int_equal(rc, 0);
    assert_int_equal(prun_report(&r, "expect"), COUNT);
    assert_int_equal(prun_report(&r, "received"), COUNT);
    assert_int_equal(prun_report(&r, "unique"), COUNT);
    assert_int_equal(prun_report(&r, "duplicates"), 0);
    assert_int_equal(prun_report(&r, "missing"), 0);
    assert_int_equal(prun_report(&r, "order_violations"), 0);
    /* every relay worker that ever ran delivered records: 4 distinct producer queues */
    assert_int_equal(prun_report(&r, "inputs"), 4);
    char *rep;
    char path[400];
    snprintf(path, sizeof path, "%s/out/report/seq_sink.0.txt", r.dir);
    rep = prun_slurp(path);
    assert_non_null(rep);
    for (int j = 0; j < 4; j++) {
        char key[64];
        snprintf(key, sizeof key, "-relay.%d.out-sink.0 ", j);
        char *p = strstr(rep, key);
        assert_non_null(p);
        assert_true(strtoll(p + strlen(key), NULL, 10) > 0);
    }
    free(rep);
    /* the queues of the run are gone from /dev/shm */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls /dev/shm | grep -q 'tcgl-scale-%d-'", (int)r.pid);
    assert_int_not_equal(system(cmd), 0);
    prun_cleanup(&r);
}

/* Two pools in a row: every relay worker feeds every relay2 worker (one queue
 * per pair).  Shrink the first pool while the second one is also a pool and
 * grow the second: still every number exactly once. */
static const char two_pools[] =
    "defaults:\n"
    "  queue_size: 64K\n"
    "stages:\n"
    "  - {name: source, executable: %B/tests/tools/seq_source, args: [--count, '1000000', --payload, '16', --rate, '100000']}\n"
    "  - {name: relay, executable: %B/tests/tools/relay, workers: 3}\n"
    "  - {name: relay2, executable: %B/tests/tools/relay, workers: 2}\n"
    "  - {name: sink, executable: %B/tests/tools/seq_sink, args: [--expect, '1000000', --unordered]}\n"
    "edges:\n"
    "  - {from: source, to: relay}\n"
    "  - {from: relay, to: relay2}\n"
    "  - {from: relay2, to: sink}\n";

static void test_scale_two_pools(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "pools", two_pools);
    prun_start(&r);
    assert_true(prun_ready(&r, 30));
    assert_true(prun_wait_count(&r, "sink", "in", 50000, 60));
    char out[8192];
    int rc = prun_ctl(&r, out, sizeof out, "scale relay 1");
    if (rc != 0)
        fail_msg("scale relay 1: exit %d: %s", rc, out);
    assert_non_null(strstr(out, "stage relay: 1 workers (was 3)"));
    rc = prun_ctl(&r, out, sizeof out, "scale relay2 3");
    if (rc != 0)
        fail_msg("scale relay2 3: exit %d: %s", rc, out);
    assert_non_null(strstr(out, "stage relay2: 3 workers (was 2)"));
    long long src_out = prun_stage_count(&r, "source", "out");
    assert_true(src_out > 0 && src_out < COUNT);
    rc = prun_wait(&r, 120);
    if (rc != 0)
        prun_dump(&r);
    assert_int_equal(rc, 0);
    assert_int_equal(prun_report(&r, "received"), COUNT);
    assert_int_equal(prun_report(&r, "unique"), COUNT);
    assert_int_equal(prun_report(&r, "duplicates"), 0);
    assert_int_equal(prun_report(&r, "missing"), 0);
    assert_int_equal(prun_report(&r, "inputs"), 3);   /* relay2 workers 0, 1 and the new 2 */
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_1_4_2),
        cmocka_unit_test(test_scale_two_pools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
