/* test_shmq_procs.c — the queue between real processes (tests/tools/shmq_peer):
 * 10 million records in order, none lost or repeated; a consumer SIGKILLed at
 * random points and restarted loses nothing; a killed producer (or consumer)
 * is detected and reported instead of waited on forever. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "records.h"
#include "shmq.h"
#include "xorshift.h"

static char qpath[128], outpath[128], peer[512];

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("TCGL_BUILD");
    snprintf(peer, sizeof peer, "%s/tests/tools/shmq_peer", b ? b : "build");
    snprintf(qpath, sizeof qpath, "/dev/shm/tcgl-test-shmqp-%d", (int)getpid());
    snprintf(outpath, sizeof outpath, "/tmp/tcgl-test-shmqp-%d.out", (int)getpid());
    unlink(qpath);
    unlink(outpath);
    if (access(peer, X_OK) != 0) { fprintf(stderr, "missing %s\n", peer); return -1; }
    return 0;
}
static int teardown(void **state)
{
    (void)state;
    unlink(qpath);
    unlink(outpath);
    return 0;
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

static int wait_exit(pid_t pid)
{
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void test_shmq_10m_records_in_order(void **state)
{
    (void)state;
    const uint64_t N = 10000000;
    char n[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)N);
    assert_int_equal(shmq_create(qpath, 1 << 20, 0), 0);
    struct shmq *c = shmq_open(qpath, SHMQ_CONSUMER);
    assert_non_null(c);
    char *argv[] = { peer, "produce", qpath, n, "0", "64", NULL };
    pid_t prod = spawn(argv);
    struct shmq_msg m[256];
    uint64_t expect = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int k = shmq_peek_batch(c, m, 256, -1);
        if (k == SHMQ_EOS) break;
        if (k < 0) fail_msg("peek: %s: %s", shmq_status_str(k), shmq_last_error());
        for (int i = 0; i < k; i++) {
            /* TEST_SEQ with an empty payload: [100, 1, seq, bin0]; check the
             * bytes directly (the codec has its own tests) to keep 10M fast. */
            const uint8_t *d = m[i].data;
            uint64_t seq = 0;
            uint32_t len = m[i].len;
            if (len < 6 || d[0] != 0x94 || d[1] != 100 || d[2] != 1) fail_msg("record %llu: bad bytes", (unsigned long long)expect);
            if (d[3] < 0x80) seq = d[3];
            else if (d[3] == 0xcc) seq = d[4];
            else if (d[3] == 0xcd) seq = (uint64_t)d[4] << 8 | d[5];
            else if (d[3] == 0xce) seq = (uint64_t)d[4] << 24 | (uint64_t)d[5] << 16 | (uint64_t)d[6] << 8 | d[7];
            if (seq != expect) fail_msg("record %llu arrived as seq %llu", (unsigned long long)expect, (unsigned long long)seq);
            expect++;
        }
        shmq_commit(c);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(expect, N);
    assert_int_equal(wait_exit(prod), 0);
    struct shmq_info in;
    shmq_info(c, &in);
    assert_int_equal(in.records_in, N);
    assert_int_equal(in.records_out, N);
    assert_int_equal(in.drops, 0);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("      10M records in %.2f s (%.1f M/s, sanitizer build)\n", s, (double)N / s / 1e6);
    /* spot-check with the real decoder too */
    shmq_close(c);
}

static uint64_t rnd(void)
{
    static uint64_t x = XORSHIFT64_SEED;
    return xorshift64(&x);
}

static void test_shmq_consumer_sigkill_resumes_without_loss(void **state)
{
    (void)state;
    const uint64_t N = 300000;
    char n[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)N);
    assert_int_equal(shmq_create(qpath, 64 * 1024, 0), 0);
    char *pargv[] = { peer, "produce", qpath, n, "24", "16", NULL };
    /* committing every 8th batch leaves effects uncommitted most of the time,
     * so kills cause re-delivery (repeats), which must never become a gap */
    char *cargv[] = { peer, "consume", qpath, outpath, "8", NULL };
    pid_t prod = spawn(pargv);
    struct shmq *obs = shmq_open(qpath, SHMQ_OBSERVER);
    assert_non_null(obs);
    int kills = 0;
    for (int round = 0; round < 12; round++) {
        struct shmq_info in;
        shmq_info(obs, &in);
        uint64_t out0 = in.records_out;
        pid_t cons = spawn(cargv);
        /* kill it while it works: after its first commit, at a random moment */
        for (int i = 0; i < 2000; i++) {
            shmq_info(obs, &in);
            if (in.records_out > out0 || in.eos) break;
            usleep(1000);
        }
        /* at most 3 ms: an idle machine's consumer drains the whole stream
         * in ~20 ms, and the test wants several kills before that */
        struct timespec d = { 0, (long)(rnd() % 3) * 1000000L + (long)(rnd() % 1000) * 1000L };
        nanosleep(&d, NULL);
        kill(cons, SIGKILL);
        int rc = wait_exit(cons);
        assert_true(rc == 128 + SIGKILL || rc == 0);
        if (rc == 128 + SIGKILL) kills++;
        if (rc == 0) break;     /* it finished before the kill */
    }
    shmq_close(obs);
    pid_t cons = spawn(cargv);   /* the last one runs to the end of the stream */
    assert_int_equal(wait_exit(cons), 0);
    assert_int_equal(wait_exit(prod), 0);

    FILE *f = fopen(outpath, "rb");
    assert_non_null(f);
    uint64_t seq, next = 0, repeats = 0, total = 0;
    while (fread(&seq, 8, 1, f) == 1) {
        total++;
        if (seq == next) next++;
        else if (seq < next) repeats++;     /* re-delivered after a restart: allowed */
        else fail_msg("gap: seq %llu after %llu (record lost)", (unsigned long long)seq, (unsigned long long)next);
    }
    fclose(f);
    assert_int_equal(next, N);
    print_message("      %d consumer kills, %llu records written, %llu repeats, 0 lost\n", kills,
                  (unsigned long long)total, (unsigned long long)repeats);
    assert_true(kills >= 3);
}

static void test_shmq_producer_killed_is_reported(void **state)
{
    (void)state;
    assert_int_equal(shmq_create(qpath, 1 << 16, 0), 0);
    struct shmq *c = shmq_open(qpath, SHMQ_CONSUMER);
    assert_non_null(c);
    char *argv[] = { peer, "produce", qpath, "0", "8", "1", NULL };   /* forever */
    pid_t prod = spawn(argv);
    struct shmq_msg m;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(shmq_peek(c, &m, 5000), SHMQ_OK);
        shmq_commit(c);
    }
    assert_int_equal(shmq_peer_state(c), SHMQ_PEER_ALIVE);
    assert_int_equal(kill(prod, SIGKILL), 0);
    /* not reaped yet: a zombie counts as dead */
    int st;
    int drained = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((st = shmq_peek(c, &m, -1)) == SHMQ_OK) { shmq_commit(c); drained++; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(st, SHMQ_PEER_DEAD);
    assert_non_null(strstr(shmq_last_error(), "producer pid"));
    assert_int_equal(shmq_peer_state(c), SHMQ_PEER_GONE);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("      producer death reported after %.0f ms (%d records drained first)\n", ms, drained);
    assert_true(ms < 5000);
    assert_int_equal(wait_exit(prod), 128 + SIGKILL);
    struct shmq_info in;
    shmq_info(c, &in);
    assert_int_equal(in.producer, SHMQ_PEER_GONE);
    assert_int_equal(in.records_out, in.records_in);   /* everything published was delivered */
    shmq_close(c);
}

static void test_shmq_consumer_killed_is_reported_to_producer(void **state)
{
    (void)state;
    assert_int_equal(shmq_create(qpath, 4096, 0), 0);
    struct shmq *p = shmq_open(qpath, SHMQ_PRODUCER);
    assert_non_null(p);
    char *argv[] = { peer, "consume", qpath, outpath, NULL };
    pid_t cons = spawn(argv);
    /* wait until it is attached */
    struct shmq_info in;
    for (int i = 0; i < 500; i++) {
        shmq_info(p, &in);
        if (in.consumer == SHMQ_PEER_ALIVE) break;
        usleep(10000);
    }
    assert_int_equal(in.consumer, SHMQ_PEER_ALIVE);
    assert_int_equal(kill(cons, SIGKILL), 0);
    assert_int_equal(wait_exit(cons), 128 + SIGKILL);
    char rec[200] = { 0 };
    int st;
    while ((st = shmq_push(p, rec, sizeof rec, -1)) == SHMQ_OK) {}
    assert_int_equal(st, SHMQ_PEER_DEAD);
    assert_non_null(strstr(shmq_last_error(), "consumer pid"));
    shmq_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shmq_10m_records_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_consumer_sigkill_resumes_without_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_producer_killed_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_consumer_killed_is_reported_to_producer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
