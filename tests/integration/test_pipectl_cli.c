/* test_pipectl_cli.c — pipectl's outcomes as a user sees them: a crash-looping
 * stage stops the pipeline with a report naming the stage, its exit status or
 * signal and its log tail; a missing executable or a malformed file is a
 * clear set-up error; graceful and immediate stops; --help; logs; no
 * pipeline running.  Real pipectl, real processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_pipectl_util.h"

static const char crash_signal[] =
    "defaults:\n"
    "  queue_size: 64K\n"
    "  restart: {max_restarts: 2, window: 60s, backoff: 20ms, backoff_max: 100ms}\n"
    "stages:\n"
    "  - {name: source, executable: %B/tests/tools/seq_source, args: [--count, '100000']}\n"
    "  - {name: crashy, executable: %B/tests/tools/crashloop, args: [--after, '10', --signal, '6']}\n"
    "  - {name: sink, executable: %B/tests/tools/seq_sink, args: [--expect, '100000']}\n"
    "edges:\n"
    "  - {from: source, to: crashy}\n"
    "  - {from: crashy, to: sink}\n";

static void test_crash_loop_signal(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "crashsig", crash_signal);
    prun_start(&r);
    int rc = prun_wait(&r, 60);
    char *o = prun_slurp(r.out_path);
    assert_non_null(o);
    if (rc != 3)
        fail_msg("exit %d, expected 3; output:\n%s", rc, o);
    assert_non_null(strstr(o, "stage 'crashy' (worker 0) is crash-looping: it died 3 times within 60.0 s "
                              "(restart.max_restarts is 2)"));
    assert_non_null(strstr(o, "last exit: killed by signal 6 (SIGABRT)"));
    assert_non_null(strstr(o, "crashloop: deliberate crash now (signal 6)"));   /* the log tail */
    assert_non_null(strstr(o, "pipeline 'crashsig' FAILED"));
    char path[400];
    snprintf(path, sizeof path, "%s/out/run/summary.txt", r.dir);
    char *sum = prun_slurp(path);
    assert_non_null(sum);
    assert_non_null(strstr(sum, "exit 3 (failed)"));
    assert_non_null(strstr(sum, "is crash-looping"));
    free(sum);
    free(o);
    /* no process of the run is left */
    assert_int_equal(prun_live_workers(&r), 0);
    prun_cleanup(&r);
}

static const char crash_exit[] =
    "stages:\n"
    "  - {name: lonely, executable: %B/tests/tools/crashloop, args: [--exit, '7'], restart: {max_restarts: 1, backoff: 10ms}}\n";

static void test_crash_loop_exit_status(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "crashexit", crash_exit);
    prun_start(&r);
    int rc = prun_wait(&r, 60);
    char *o = prun_slurp(r.out_path);
    if (rc != 3)
        fail_msg("exit %d, expected 3; output:\n%s", rc, o);
    assert_non_null(strstr(o, "stage 'lonely' (worker 0) is crash-looping: it died 2 times"));
    assert_non_null(strstr(o, "last exit: exit status 7"));
    assert_non_null(strstr(o, "deliberate failure now (exit status 7)"));
    free(o);
    prun_cleanup(&r);
}

static void test_missing_executable(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "missing",
              "stages:\n"
              "  - {name: src, executable: %B/tests/tools/seq_source}\n"
              "  - {name: synth, executable: %B/bin/no-such-stage}\n"
              "edges:\n"
              "  - {from: src, to: synth}\n");
    prun_start(&r);
    int rc = prun_wait(&r, 30);
    char *o = prun_slurp(r.out_path);
    if (rc != 1)
        fail_msg("exit %d, expected 1; output:\n%s", rc, o);
    char want[1400];
    snprintf(want, sizeof want, "pipeline.yaml:6: stage 'synth': executable %s/bin/no-such-stage does not exist",
             r.build);
    if (!strstr(o, want))
        fail_msg("output lacks \"%s\":\n%s", want, o);
    assert_non_null(strstr(o, "(is it built? run 'make')"));
    free(o);
    prun_cleanup(&r);
}

static void test_malformed_file(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "malformed", "stages:\n  - name: a\n    executable: /bin/true\n    workers: many\n");
    prun_start(&r);
    int rc = prun_wait(&r, 30);
    char *o = prun_slurp(r.out_path);
    assert_int_equal(rc, 1);
    char want[600];
    snprintf(want, sizeof want, "pipectl: %s:7:14: stage 'a' workers: expected an integer from 1 to 32, found 'many'",
             r.yaml);
    if (!strstr(o, want))
        fail_msg("output lacks \"%s\":\n%s", want, o);
    free(o);
    prun_cleanup(&r);
}

static const char slow[] =
    "defaults:\n"
    "  queue_size: 64K\n"
    "stages:\n"
    "  - {name: source, executable: %B/tests/tools/seq_source, args: [--count, '100000000', --rate, '50000']}\n"
    "  - {name: relay, executable: %B/tests/tools/relay, workers: 2}\n"
    "  - {name: sink, executable: %B/tests/tools/seq_sink, args: [--expect, '100000000']}\n"
    "edges:\n"
    "  - {from: source, to: relay}\n"
    "  - {from: relay, to: sink}\n";

static void test_graceful_stop(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "stop", slow);
    prun_start(&r);
    assert_true(prun_ready(&r, 30));
    assert_true(prun_wait_count(&r, "sink", "in", 20000, 60));
    char out[8192];
    /* status: one line per stage and per worker */
    assert_int_equal(prun_ctl(&r, out, sizeof out, "status"), 0);
    assert_non_null(strstr(out, "stage      workers"));
    assert_non_null(strstr(out, "  worker relay 1 pid "));
    /* logs of a stage, by name */
    assert_int_equal(prun_ctl(&r, out, sizeof out, "logs relay -n 5"), 0);
    assert_non_null(strstr(out, "relay.0.log <=="));
    assert_non_null(strstr(out, "--- pipectl: starting relay[1]"));
    /* graceful: the source stops, everything it emitted reaches the sink once */
    int rc = prun_ctl(&r, out, sizeof out, "stop");
    if (rc != 0)
        fail_msg("stop: exit %d: %s", rc, out);
    assert_non_null(strstr(out, "stopped"));
    assert_int_equal(prun_wait(&r, 30), 0);
    long long unique = prun_report(&r, "unique");
    assert_true(unique >= 20000);
    assert_int_equal(prun_report(&r, "received"), unique);
    assert_int_equal(prun_report(&r, "duplicates"), 0);
    assert_int_equal(prun_report(&r, "order_violations"), 0);
    /* and exactly the numbers 0..unique-1: the missing ones are the tail never emitted */
    assert_int_equal(prun_report(&r, "missing"), 100000000LL - unique);
    prun_cleanup(&r);
}

static void test_stop_now(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "stopnow", slow);
    prun_start(&r);
    assert_true(prun_ready(&r, 30));
    assert_true(prun_wait_count(&r, "sink", "in", 10000, 60));
    assert_int_equal(prun_live_workers(&r), 4);
    char out[4096];
    assert_int_equal(prun_ctl(&r, out, sizeof out, "stop --now"), 0);
    assert_int_equal(prun_wait(&r, 30), 2);
    char *o = prun_slurp(r.out_path);
    assert_non_null(strstr(o, "pipeline 'stopnow' was stopped"));
    free(o);
    /* nothing is left running and the socket is gone */
    assert_int_equal(prun_live_workers(&r), 0);
    assert_int_equal(prun_ctl(&r, out, sizeof out, "status"), 3);
    assert_non_null(strstr(out, "no pipeline is running in"));
    prun_cleanup(&r);
}

static void test_detach(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "detach", slow);
    char cmd[2400], out[8192];
    snprintf(cmd, sizeof cmd, "%s/bin/pipectl start %s --detach 2>&1", r.build, r.yaml);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);   /* returns once the stages run */
    assert_non_null(strstr(out, "runs in the background"));
    assert_true(prun_wait_count(&r, "sink", "in", 1000, 60));
    assert_int_equal(prun_live_workers(&r), 4);
    assert_int_equal(prun_ctl(&r, out, sizeof out, "stop"), 0);   /* waits for the end */
    assert_int_equal(prun_live_workers(&r), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/out/run/summary.txt", r.dir);
    char *sum = prun_slurp(path);
    assert_non_null(sum);
    assert_non_null(strstr(sum, "exit 0 (finished)"));
    free(sum);
    snprintf(path, sizeof path, "%s/out/run/pipectl.log", r.dir);
    char *log = prun_slurp(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "pipeline 'detach' finished"));
    free(log);
    prun_cleanup(&r);
}

static void test_help(void **state)
{
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s/bin/pipectl --help", prun_build());
    FILE *p = popen(cmd, "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    assert_int_equal(pclose(p), 0);
    static const char *words[] = { "start FILE [--detach]", "scale STAGE N", "swap STAGE EXECUTABLE",
                                   "stop [--now]", "logs STAGE", "Exit status of start", "docs/writing-a-stage.md" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strstr(buf, words[i]))
            fail_msg("--help lacks '%s'", words[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_loop_signal),
        cmocka_unit_test(test_crash_loop_exit_status),
        cmocka_unit_test(test_missing_executable),
        cmocka_unit_test(test_malformed_file),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_stop_now),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
