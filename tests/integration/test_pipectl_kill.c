/* test_pipectl_kill.c — SIGKILL relay workers again and again while a million
 * records flow: pipectl restarts each (with backoff), the restarted worker
 * resumes from its committed cursor, and no number is lost.  At-least-once:
 * a worker killed between pushing a record and committing its input repeats
 * that one record, so duplicates are bounded by the number of kills. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_pipectl_util.h"

#define COUNT 1000000
#define KILLS 6

static const char pipeline[] =
    "defaults:\n"
    "  queue_size: 64K\n"
    "  restart: {max_restarts: 10, window: 60s, backoff: 20ms, backoff_max: 200ms}\n"
    "stages:\n"
    "  - {name: source, executable: %B/tests/tools/seq_source, args: [--count, '1000000', --payload, '8', --rate, '100000']}\n"
    "  - {name: relay, executable: %B/tests/tools/relay, workers: 2}\n"
    "  - {name: sink, executable: %B/tests/tools/seq_sink, args: [--expect, '1000000']}\n"
    "edges:\n"
    "  - {from: source, to: relay}\n"
    "  - {from: relay, to: sink}\n";

static void test_sigkill_workers(void **state)
{
    (void)state;
    struct prun r;
    prun_init(&r, "kill", pipeline);
    prun_start(&r);
    assert_true(prun_ready(&r, 30));
    assert_true(prun_wait_count(&r, "sink", "in", 50000, 60));
    int kills = 0;
    for (int k = 0; k < KILLS; k++) {
        int j = k % 2;
        int pid = prun_worker_pid(&r, "relay", j);
        if (pid <= 0)
            break;   /* the stream already ended */
        if (kill(pid, SIGKILL) < 0) {
            assert_int_equal(errno, ESRCH);
            break;   /* it finished (end of stream) between status and kill */
        }
        kills++;
        /* wait for the replacement */
        uint64_t end = prun_now_ms() + 20000;
        int npid = 0;
        while (prun_now_ms() < end && ((npid = prun_worker_pid(&r, "relay", j)) == pid || npid == 0) &&
               !prun_poll_exit(&r))
            usleep(20000);
        if (prun_poll_exit(&r))
            break;
        assert_true(npid > 0 && npid != pid);
        long long in = prun_stage_count(&r, "sink", "in");
        prun_wait_count(&r, "sink", "in", in + 40000, 30);
    }
    assert_true(kills >= 3);   /* the stream was long enough to kill repeatedly */
    int rc = prun_wait(&r, 120);
    if (rc != 0)
        prun_dump(&r);
    assert_int_equal(rc, 0);
    assert_int_equal(prun_report(&r, "unique"), COUNT);
    assert_int_equal(prun_report(&r, "missing"), 0);
    assert_true(prun_report(&r, "duplicates") <= kills);
    /* pipectl counted the restarts and logged each death with its signal */
    char *o = prun_slurp(r.out_path);
    assert_non_null(o);
    int deaths = 0;
    for (char *p = o; (p = strstr(p, "killed by signal 9 (SIGKILL)")); p++)
        deaths++;
    assert_int_equal(deaths, kills);
    free(o);
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
