/* test_evloop.c — the liburing event loop with real queues and processes:
 * fan-in over two queues until both end, wake-up of an idle loop by a
 * producer in another process, timers, signals, a dead producer reported,
 * and the same fan-in in the polling fallback mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "shmq.h"

static char qa[128], qb[128];

static int setup(void **state)
{
    (void)state;
    snprintf(qa, sizeof qa, "/dev/shm/tcgl-test-ev-a-%d", (int)getpid());
    snprintf(qb, sizeof qb, "/dev/shm/tcgl-test-ev-b-%d", (int)getpid());
    unlink(qa);
    unlink(qb);
    return 0;
}
static int teardown(void **state)
{
    (void)state;
    unlink(qa);
    unlink(qb);
    unsetenv("TCGL_EVLOOP_NO_FUTEX");
    return 0;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Child: push n u64 counters (optionally after a delay, in bursts), then end. */
static pid_t spawn_producer(const char *path, uint64_t n, int delay_ms, bool forever)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid) return pid;
    struct shmq *p = shmq_open(path, SHMQ_PRODUCER);
    if (!p) _exit(2);
    if (delay_ms) usleep((useconds_t)delay_ms * 1000);
    for (uint64_t i = 0; forever || i < n; i++) {
        if (shmq_push(p, &i, sizeof i, -1) != SHMQ_OK) _exit(3);
        if (i % 1000 == 999) usleep(200);   /* let the consumer go idle now and then */
    }
    shmq_end(p);
    shmq_close(p);
    _exit(0);
}

struct fanin {
    uint64_t next[2];
    int ended, dead;
    struct shmq *q[2];
    double first_ms, sent_ms;
};

static int on_input(struct evloop *ev, struct shmq *q, enum evloop_queue_event what, void *vctx)
{
    struct fanin *f = vctx;
    int k = q == f->q[0] ? 0 : 1;
    if (what == EVLOOP_PEER_DEAD) {
        f->dead++;
        return 0;
    }
    struct shmq_msg m;
    int st;
    while ((st = shmq_peek(q, &m, 0)) == SHMQ_OK) {
        uint64_t v;
        assert_true(m.len == 8 || m.len == 16);
        memcpy(&v, m.data, 8);
        if (m.len == 16) memcpy(&f->sent_ms, (const char *)m.data + 8, 8);   /* the producer's push time */
        if (v != f->next[k]) fail_msg("queue %d: got %llu, expected %llu", k, (unsigned long long)v, (unsigned long long)f->next[k]);
        if (f->first_ms == 0) f->first_ms = now_ms();
        f->next[k]++;
    }
    shmq_commit(q);
    if (st == SHMQ_EOS) {
        evloop_remove_queue(ev, q);
        f->ended++;
        if (f->ended == 2) evloop_stop(ev);
    } else if (st != SHMQ_AGAIN) fail_msg("peek: %s", shmq_status_str(st));
    return 0;
}

static void fan_in(void)
{
    const uint64_t N = 200000;
    assert_int_equal(shmq_create(qa, 16384, 0), 0);
    assert_int_equal(shmq_create(qb, 16384, 0), 0);
    struct fanin f = { { 0, 0 }, 0, 0, { shmq_open(qa, SHMQ_CONSUMER), shmq_open(qb, SHMQ_CONSUMER) }, 0, 0 };
    assert_non_null(f.q[0]);
    assert_non_null(f.q[1]);
    struct evloop *ev = evloop_new();
    assert_non_null(ev);
    assert_int_equal(evloop_add_queue(ev, f.q[0], on_input, &f), 0);
    assert_int_equal(evloop_add_queue(ev, f.q[1], on_input, &f), 0);
    pid_t a = spawn_producer(qa, N, 0, false), b = spawn_producer(qb, N / 2, 20, false);
    assert_int_equal(evloop_run(ev), 0);
    assert_int_equal(f.next[0], N);
    assert_int_equal(f.next[1], N / 2);
    int ws;
    assert_int_equal(waitpid(a, &ws, 0), a);
    assert_int_equal(WEXITSTATUS(ws), 0);
    assert_int_equal(waitpid(b, &ws, 0), b);
    assert_int_equal(WEXITSTATUS(ws), 0);
    print_message("      fan-in of %llu records, doorbells via %s\n", (unsigned long long)(N + N / 2),
                  evloop_futex_native(ev) ? "IORING_OP_FUTEX_WAIT" : "polling fallback");
    evloop_free(ev);
    shmq_close(f.q[0]);
    shmq_close(f.q[1]);
}

static void test_evloop_fan_in_two_queues(void **state)
{
    (void)state;
    fan_in();
}

static void test_evloop_fan_in_polling_fallback(void **state)
{
    (void)state;
    setenv("TCGL_EVLOOP_NO_FUTEX", "1", 1);
    fan_in();
}

static void test_evloop_idle_wakeup_by_other_process(void **state)
{
    (void)state;
    assert_int_equal(shmq_create(qa, 16384, 0), 0);
    struct fanin f = { { 0, 0 }, 0, 0, { shmq_open(qa, SHMQ_CONSUMER), NULL }, 0, 0 };
    struct evloop *ev = evloop_new();
    assert_non_null(ev);
    assert_int_equal(evloop_add_queue(ev, f.q[0], on_input, &f), 0);
    double t0 = now_ms();
    pid_t a = fork();
    assert_true(a >= 0);
    if (a == 0) {
        struct shmq *p = shmq_open(qa, SHMQ_PRODUCER);
        usleep(150000);
        char rec[16] = { 0 };
        double t = now_ms();
        memcpy(rec + 8, &t, 8);
        _exit(p && shmq_push(p, rec, 16, -1) == SHMQ_OK ? 0 : 1);
    }
    while (f.next[0] == 0) {
        int r = evloop_run_once(ev, 5000);
        assert_true(r >= 0);
        assert_true(now_ms() - t0 < 5000);
    }
    assert_true(f.first_ms - t0 >= 140);   /* it really slept until the push */
    print_message("      idle loop woke %.3f ms after the push (%s)\n", f.first_ms - f.sent_ms,
                  evloop_futex_native(ev) ? "IORING_OP_FUTEX_WAIT" : "polling fallback");
    int ws;
    assert_int_equal(waitpid(a, &ws, 0), a);
    assert_int_equal(WEXITSTATUS(ws), 0);
    evloop_free(ev);
    shmq_close(f.q[0]);
}

static int ticks;
static int on_tick(struct evloop *ev, void *ctx)
{
    (void)ctx;
    if (++ticks == 5) evloop_stop(ev);
    return 0;
}

static void test_evloop_repeating_timer(void **state)
{
    (void)state;
    struct evloop *ev = evloop_new();
    assert_non_null(ev);
    ticks = 0;
    double t0 = now_ms();
    assert_int_equal(evloop_add_timer(ev, 10, true, on_tick, NULL), 0);
    assert_int_equal(evloop_run(ev), 0);
    double dt = now_ms() - t0;
    assert_int_equal(ticks, 5);
    assert_true(dt >= 45);
    assert_true(dt < 2000);
    evloop_free(ev);
}

static int got_signo;
static int on_signal(struct evloop *ev, int signo, void *ctx)
{
    (void)ctx;
    got_signo = signo;
    evloop_stop(ev);
    return 0;
}
static int on_timeout_fail(struct evloop *ev, void *ctx)
{
    (void)ev; (void)ctx;
    return -ETIMEDOUT;
}

static void test_evloop_signal_from_other_process(void **state)
{
    (void)state;
    struct evloop *ev = evloop_new();
    assert_non_null(ev);
    assert_int_equal(evloop_add_signal(ev, SIGUSR1, on_signal, NULL), 0);
    assert_int_equal(evloop_add_timer(ev, 5000, false, on_timeout_fail, NULL), 0);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        usleep(30000);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    assert_int_equal(evloop_run(ev), 0);
    assert_int_equal(got_signo, SIGUSR1);
    int ws;
    waitpid(c, &ws, 0);
    evloop_free(ev);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static int on_dead(struct evloop *ev, struct shmq *q, enum evloop_queue_event what, void *vctx)
{
    struct fanin *f = vctx;
    if (what == EVLOOP_PEER_DEAD) {
        f->dead++;
        evloop_stop(ev);
        return 0;
    }
    struct shmq_msg m;
    while (shmq_peek(q, &m, 0) == SHMQ_OK) f->next[0]++;
    shmq_commit(q);
    return 0;
}

static void test_evloop_dead_producer_reported(void **state)
{
    (void)state;
    assert_int_equal(shmq_create(qa, 16384, 0), 0);
    struct fanin f = { { 0, 0 }, 0, 0, { shmq_open(qa, SHMQ_CONSUMER), NULL }, 0, 0 };
    struct evloop *ev = evloop_new();
    assert_non_null(ev);
    assert_int_equal(evloop_add_queue(ev, f.q[0], on_dead, &f), 0);
    pid_t a = spawn_producer(qa, 0, 0, true);
    while (f.next[0] < 5000) assert_true(evloop_run_once(ev, 1000) >= 0);
    kill(a, SIGKILL);
    int ws;
    waitpid(a, &ws, 0);
    double t0 = now_ms();
    assert_int_equal(evloop_run(ev), 0);
    assert_int_equal(f.dead, 1);
    assert_true(now_ms() - t0 < 3000);
    struct shmq_info in;
    shmq_info(f.q[0], &in);
    assert_int_equal(in.records_out, in.records_in);   /* all published records were delivered first */
    evloop_free(ev);
    shmq_close(f.q[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evloop_fan_in_two_queues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evloop_fan_in_polling_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evloop_idle_wakeup_by_other_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evloop_repeating_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evloop_signal_from_other_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evloop_dead_producer_reported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
