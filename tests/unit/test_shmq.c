/* test_shmq.c — the SPSC queue in one process (both roles, real shm file):
 * create/attach validation, empty/full, wrap-around, batches, drop policy,
 * at-least-once re-delivery, patience and late wake-ups, mapping up front,
 * end of stream, corrupt headers and frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmq.h"

static char qpath[128];

static int setup(void **state)
{
    (void)state;
    snprintf(qpath, sizeof qpath, "/dev/shm/tcgl-test-shmq-%d", (int)getpid());
    unlink(qpath);
    return 0;
}
static int teardown(void **state)
{
    (void)state;
    unlink(qpath);
    return 0;
}

/* A forked child's checks: it exits 0 when they held. */
static void assert_child_exited_ok(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void open_pair(uint64_t cap, uint32_t flags, struct shmq **p, struct shmq **c)
{
    assert_int_equal(shmq_create(qpath, cap, flags), 0);
    *p = shmq_open(qpath, SHMQ_PRODUCER);
    assert_non_null(*p);
    *c = shmq_open(qpath, SHMQ_CONSUMER);
    assert_non_null(*c);
}

static void test_shmq_create_mode_and_exclusive(void **state)
{
    (void)state;
    assert_int_equal(shmq_create(qpath, 5000, 0), 0);
    struct stat sb;
    assert_int_equal(stat(qpath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal((uint64_t)sb.st_size, SHMQ_HEADER_SIZE + 8192);   /* rounded up to a power of two */
    assert_int_equal(shmq_create(qpath, 5000, 0), -1);
    assert_int_equal(errno, EEXIST);
    struct shmq *o = shmq_open(qpath, SHMQ_OBSERVER);
    assert_non_null(o);
    struct shmq_info in;
    shmq_info(o, &in);
    assert_int_equal(in.capacity, 8192);
    assert_int_equal(in.max_record, 8192 / 4 - 8);
    assert_int_equal(in.producer, SHMQ_PEER_NONE);
    shmq_close(o);
}

static void test_shmq_empty_then_one(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    struct shmq_msg m;
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_AGAIN);
    assert_int_equal(shmq_peek(c, &m, 20), SHMQ_AGAIN);    /* producer alive: a timeout, not an error */
    assert_int_equal(shmq_push(p, "hello", 5, 0), SHMQ_OK);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "hello", 5);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_AGAIN);
    assert_int_equal(shmq_uncommitted(c), 1);
    shmq_commit(c);
    struct shmq_info in;
    shmq_info(c, &in);
    assert_int_equal(in.records_in, 1);
    assert_int_equal(in.bytes_in, 5);
    assert_int_equal(in.records_out, 1);
    assert_int_equal(in.bytes_out, 5);
    assert_int_equal(in.head, in.tail);
    assert_int_equal(in.producer, SHMQ_PEER_ALIVE);
    assert_int_equal(in.consumer, SHMQ_PEER_ALIVE);
    /* a zero-length record is a record */
    assert_int_equal(shmq_push(p, NULL, 0, 0), SHMQ_OK);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    assert_int_equal(m.len, 0);
    shmq_close(p);
    shmq_close(c);
}

/* Varying sizes over many laps of a small ring: order and bytes survive every wrap. */
static void test_shmq_wrap_around(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    uint8_t buf[1024];
    uint32_t next_push = 0, next_pop = 0;
    for (int round = 0; round < 3000; round++) {
        /* push until full */
        for (;;) {
            size_t len = (next_push * 37u) % 1017u;
            for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(next_push + i);
            if (len >= 4) memcpy(buf, &next_push, 4);
            int st = shmq_push(p, buf, len, 0);
            if (st == SHMQ_AGAIN) break;
            assert_int_equal(st, SHMQ_OK);
            next_push++;
        }
        /* pop some (not all), so the ring offset keeps moving */
        int take = 1 + round % 3;
        for (int k = 0; k < take && next_pop < next_push; k++) {
            struct shmq_msg m;
            assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
            size_t len = (next_pop * 37u) % 1017u;
            assert_int_equal(m.len, len);
            const uint8_t *d = m.data;
            if (len >= 4) { uint32_t s; memcpy(&s, d, 4); assert_int_equal(s, next_pop); }
            for (size_t i = 4; i < len; i++) assert_int_equal(d[i], (uint8_t)(next_pop + i));
            next_pop++;
            shmq_commit(c);
        }
    }
    struct shmq_info in;
    shmq_info(c, &in);
    assert_true(in.tail > 100 * in.capacity);   /* many laps */
    assert_int_equal(in.records_out, next_pop);
    shmq_close(p);
    shmq_close(c);
}

static void test_shmq_full_blocks_then_resumes(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    char rec[100] = { 0 };
    int n = 0;
    while (shmq_push(p, rec, sizeof rec, 0) == SHMQ_OK) n++;
    assert_int_equal(n, 4096 / 112);                        /* 8 B header + 100 B padded to 112 */
    assert_int_equal(shmq_fill_bytes(c), 36 * 112);
    assert_int_equal(shmq_capacity(p), 4096);
    assert_int_equal(shmq_push(p, rec, sizeof rec, 30), SHMQ_AGAIN);   /* waited 30 ms, consumer alive */
    struct shmq_msg m;
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    assert_int_equal(shmq_push(p, rec, sizeof rec, 0), SHMQ_AGAIN);    /* peeked is not committed: no room */
    shmq_commit(c);
    assert_int_equal(shmq_push(p, rec, sizeof rec, 0), SHMQ_OK);
    struct shmq_info in;
    shmq_info(c, &in);
    assert_int_equal(in.drops, 0);
    shmq_close(p);
    shmq_close(c);
}

static void test_shmq_drop_policy_counts(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, SHMQ_DROP_WHEN_FULL, &p, &c);
    char rec[100] = { 0 };
    int ok = 0, dropped = 0;
    for (int i = 0; i < 100; i++) {
        int st = shmq_push(p, rec, sizeof rec, -1);    /* never waits on a drop edge */
        if (st == SHMQ_OK) ok++;
        else { assert_int_equal(st, SHMQ_DROPPED); dropped++; }
    }
    assert_int_equal(ok, 36);
    assert_int_equal(dropped, 64);
    struct shmq_info in;
    shmq_info(p, &in);
    assert_int_equal(in.drops, 64);
    assert_int_equal(in.records_in, 36);
    shmq_close(p);
    shmq_close(c);
}

static void test_shmq_batch_commit_through_and_rewind(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(1 << 16, 0, &p, &c);
    uint32_t vals[100];
    struct iovec iov[100];
    for (int i = 0; i < 100; i++) { vals[i] = (uint32_t)i; iov[i].iov_base = &vals[i]; iov[i].iov_len = 4; }
    assert_int_equal(shmq_push_batch(p, iov, 100, 0), 100);
    struct shmq_msg m[64];
    int n = shmq_peek_batch(c, m, 64, 0);
    assert_int_equal(n, 64);
    for (int i = 0; i < n; i++) assert_int_equal(*(const uint32_t *)m[i].data, (uint32_t)i);
    shmq_commit_through(c, &m[9]);              /* records 0..9 done */
    struct shmq_info in;
    shmq_info(c, &in);
    assert_int_equal(in.records_out, 10);
    assert_int_equal(in.bytes_out, 40);
    shmq_rewind(c);                              /* 10..63 were peeked, not done: see them again */
    n = shmq_peek_batch(c, m, 64, 0);
    assert_int_equal(n, 64);
    assert_int_equal(*(const uint32_t *)m[0].data, 10);
    assert_int_equal(*(const uint32_t *)m[63].data, 73);
    shmq_commit(c);
    n = shmq_peek_batch(c, m, 64, 0);
    assert_int_equal(n, 26);
    assert_int_equal(*(const uint32_t *)m[25].data, 99);
    shmq_commit(c);
    shmq_info(c, &in);
    assert_int_equal(in.records_out, 100);

    /* zero-copy reserve/submit is invisible until flushed */
    int st;
    char *w = shmq_reserve(p, 16, 0, &st);
    assert_non_null(w);
    memcpy(w, "abc", 3);
    shmq_submit(p, 3);
    assert_int_equal(shmq_peek(c, &m[0], 0), SHMQ_AGAIN);
    shmq_flush(p);
    assert_int_equal(shmq_peek(c, &m[0], 0), SHMQ_OK);
    assert_int_equal(m[0].len, 3);
    shmq_close(p);
    shmq_close(c);
}

/* A consumer that goes away without committing sees the record again. */
static void test_shmq_uncommitted_redelivered(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    assert_int_equal(shmq_push(p, "one", 3, 0), SHMQ_OK);
    assert_int_equal(shmq_push(p, "two", 3, 0), SHMQ_OK);
    struct shmq_msg m;
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    shmq_commit(c);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    assert_memory_equal(m.data, "two", 3);
    shmq_close(c);                                /* "crash" before committing "two" */
    c = shmq_open(qpath, SHMQ_CONSUMER);
    assert_non_null(c);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    assert_memory_equal(m.data, "two", 3);
    shmq_close(p);
    shmq_close(c);
}

/* A patient consumer (shmq_set_patience) is not rung for a small publish,
 * only once a quarter of the ring waits; an eager one is rung at once.  And
 * it still finds a record published while it sleeps, by waking itself. */
static void test_shmq_patient_consumer(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    char rec[100] = { 0 };
    const uint32_t *word;
    uint32_t val;
    int64_t sleep_us;
    struct shmq_info in;

    /* eager: the first publish rings (doorbell bumped, flag cleared) */
    assert_int_equal(shmq_consumer_arm_patient(c, &word, &val, &sleep_us), 0);
    assert_true(sleep_us < 0);
    assert_int_equal(shmq_push(p, rec, sizeof rec, 0), SHMQ_OK);
    assert_int_not_equal(*word, val);
    shmq_info(c, &in);
    assert_int_equal(in.consumer_waiting, 0);
    struct shmq_msg m;
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    shmq_commit(c);

    /* patient: no ring below a quarter of the ring (4096 / 4 = 1024 bytes,
     * 112 bytes a frame), a ring at it */
    shmq_set_patience(c, 5000);
    assert_int_equal(shmq_patience(c), 5000);
    assert_int_equal(shmq_consumer_arm_patient(c, &word, &val, &sleep_us), 0);
    assert_int_equal(sleep_us, 5000);
    for (int i = 0; i < 9; i++) {             /* 9 * 112 = 1008 < 1024 */
        assert_int_equal(shmq_push(p, rec, sizeof rec, 0), SHMQ_OK);
        assert_int_equal(*word, val);
        shmq_info(c, &in);
        assert_int_equal(in.consumer_waiting, 2);
    }
    assert_int_equal(shmq_push(p, rec, sizeof rec, 0), SHMQ_OK);   /* 1120 >= 1024 */
    assert_int_not_equal(*word, val);
    shmq_info(c, &in);
    assert_int_equal(in.consumer_waiting, 0);
    while (shmq_peek(c, &m, 0) == SHMQ_OK) {}
    shmq_commit(c);

    /* nothing for longer than 50 ms: the consumer asks for the ring again
     * (an idle queue does not wake it every 5 ms), until records flow */
    usleep(60 * 1000);
    assert_int_equal(shmq_consumer_arm_patient(c, &word, &val, &sleep_us), 0);
    assert_true(sleep_us < 0);
    assert_int_equal(shmq_push(p, rec, sizeof rec, 0), SHMQ_OK);
    assert_int_not_equal(*word, val);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    shmq_commit(c);
    assert_int_equal(shmq_consumer_arm_patient(c, &word, &val, &sleep_us), 0);
    assert_int_equal(sleep_us, 5000);
    shmq_info(c, &in);
    assert_int_equal(in.consumer_waiting, 2);

    /* a record published (without a ring) while the consumer sleeps is
     * found when it wakes itself: long before the 2 s timeout */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        usleep(20 * 1000);     /* the consumer stays patient for 50 ms without records */
        struct shmq_info ci;
        shmq_info(p, &ci);
        int rc = shmq_push(p, "late", 4, 0);
        _exit(rc == SHMQ_OK && ci.consumer_waiting == 2 ? 0 : 1);   /* it was sleeping patiently */
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(shmq_peek(c, &m, 2000), SHMQ_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(m.len, 4);
    assert_memory_equal(m.data, "late", 4);
    double waited_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(waited_ms < 1000);
    assert_child_exited_ok(pid);
    shmq_close(p);
    shmq_close(c);
}

/* A patient consumer's sleeps that the machine lets overrun are counted
 * (shmq_late_wakeups): here the overrun is made by stopping the consumer
 * (SIGSTOP) for 20 ms while it sleeps, five times. */
static void test_shmq_late_wakeups(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    uint64_t late, overrun;
    shmq_late_wakeups(c, &late, &overrun);
    assert_int_equal(late, 0);
    assert_int_equal(overrun, 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shmq_set_patience(c, 200);
        shmq_set_spin(c, 0);         /* asleep at once: a stop lands in a sleep */
        struct shmq_msg m;
        for (int i = 0; i < 5; i++) {
            if (shmq_peek(c, &m, 5000) != SHMQ_OK) _exit(2);
            shmq_commit(c);
        }
        shmq_late_wakeups(c, &late, &overrun);
        _exit(late >= 1 && overrun >= 10000 ? 0 : 1);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(shmq_push(p, "rec", 3, 0), SHMQ_OK);
        struct shmq_info in;
        do {                         /* consumed: the consumer is patient for 50 ms from now */
            usleep(200);
            shmq_info(p, &in);
        } while (in.records_out < (uint64_t)i + 1);
        usleep(2000);                /* back asleep */
        kill(pid, SIGSTOP);
        usleep(20 * 1000);
        kill(pid, SIGCONT);
    }
    assert_child_exited_ok(pid);
    shmq_close(p);
    shmq_close(c);
}

/* shmq_populate maps the whole queue up front: for the producer the file's
 * pages exist afterwards (a fresh queue is a sparse file: only the header's
 * page is there), seen through a separate mapping of the same file. */
static void test_shmq_populate(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(1u << 20, 0, &p, &c);
    int fd = open(qpath, O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    size_t len = (size_t)sb.st_size, page = (size_t)sysconf(_SC_PAGESIZE), npages = (len + page - 1) / page;
    void *view = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(view != MAP_FAILED);
    unsigned char *vec = malloc(npages);
    assert_non_null(vec);
    size_t before = 0, after = 0;
    assert_int_equal(mincore(view, len, vec), 0);
    for (size_t i = 0; i < npages; i++) before += vec[i] & 1;
    assert_true(before < npages / 2);
    assert_int_equal(shmq_populate(p), 0);
    assert_int_equal(shmq_populate(c), 0);
    assert_int_equal(mincore(view, len, vec), 0);
    for (size_t i = 0; i < npages; i++) after += vec[i] & 1;
    assert_int_equal(after, npages);
    /* and the queue works as before */
    assert_int_equal(shmq_push(p, "x", 1, 0), SHMQ_OK);
    struct shmq_msg m;
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    assert_int_equal(m.len, 1);
    free(vec);
    munmap(view, len);
    close(fd);
    shmq_close(p);
    shmq_close(c);
}

static void test_shmq_end_of_stream(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    assert_int_equal(shmq_push(p, "last", 4, 0), SHMQ_OK);
    shmq_end(p);
    struct shmq_msg m;
    assert_int_equal(shmq_peek(c, &m, -1), SHMQ_OK);
    assert_int_equal(shmq_peek(c, &m, -1), SHMQ_EOS);
    struct shmq_info in;
    shmq_info(c, &in);
    assert_true(in.eos);
    shmq_close(p);
    shmq_close(c);
}

static void test_shmq_too_big_and_roles(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    static char big[2000];
    assert_int_equal(shmq_max_record(p), 1016);
    assert_int_equal(shmq_push(p, big, 1017, 0), SHMQ_TOO_BIG);
    assert_non_null(strstr(shmq_last_error(), "exceeds the queue's limit"));
    assert_int_equal(shmq_push(p, big, 1016, 0), SHMQ_OK);
    /* a second live producer is refused: try from a child process */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct shmq *p2 = shmq_open(qpath, SHMQ_PRODUCER);
        _exit(p2 == NULL && errno == EBUSY && strstr(shmq_last_error(), "live producer") ? 0 : 1);
    }
    assert_child_exited_ok(pid);
    shmq_close(p);
    shmq_close(c);
}

static void write_at(off_t off, const void *v, size_t n)
{
    int fd = open(qpath, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, v, n, off), (ssize_t)n);
    close(fd);
}

static void expect_refused(const char *needle)
{
    struct shmq *q = shmq_open(qpath, SHMQ_CONSUMER);
    assert_null(q);
    if (!strstr(shmq_last_error(), needle)) fail_msg("error '%s' does not mention '%s'", shmq_last_error(), needle);
}

static void test_shmq_corrupt_headers_refused(void **state)
{
    (void)state;
    /* not a queue at all */
    int fd = open(qpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    expect_refused("not a shmq queue");
    assert_int_equal(truncate(qpath, 4096 + 4096), 0);   /* zeros: bad magic */
    expect_refused("magic");
    unlink(qpath);

    assert_int_equal(shmq_create(qpath, 4096, 0), 0);
    uint32_t v = 99;
    write_at(8, &v, 4);
    expect_refused("layout version 99");
    v = 1;
    write_at(8, &v, 4);
    uint64_t cap = 3000;
    write_at(16, &cap, 8);
    expect_refused("not a power of two");
    cap = 8192;
    write_at(16, &cap, 8);
    expect_refused("file is 8192 bytes");
    cap = 4096;
    write_at(16, &cap, 8);
    uint64_t head = 64, tail = 8;
    write_at(128, &head, 8);
    write_at(64, &tail, 8);
    expect_refused("cursors inconsistent");
    head = 0;
    write_at(128, &head, 8);
    struct shmq *q = shmq_open(qpath, SHMQ_CONSUMER);     /* repaired: accepted again */
    assert_non_null(q);
    shmq_close(q);
}

static void test_shmq_corrupt_frames_detected(void **state)
{
    (void)state;
    struct shmq *p, *c;
    open_pair(4096, 0, &p, &c);
    struct shmq_msg m;
    /* bad tag */
    assert_int_equal(shmq_push(p, "abcdefgh", 8, 0), SHMQ_OK);
    uint32_t bad = 0x12345678;
    write_at(SHMQ_HEADER_SIZE + 4, &bad, 4);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_CORRUPT);
    assert_non_null(strstr(shmq_last_error(), "unknown frame tag"));
    assert_non_null(strstr(shmq_last_error(), "position 0"));
    /* length beyond the published bytes */
    uint32_t hdr[2] = { 200, 0x31434552u };
    write_at(SHMQ_HEADER_SIZE, hdr, 8);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_CORRUPT);
    assert_non_null(strstr(shmq_last_error(), "longer than the published bytes"));
    /* length beyond the queue's record limit */
    hdr[0] = 0xffffffffu;
    write_at(SHMQ_HEADER_SIZE, hdr, 8);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_CORRUPT);
    assert_non_null(strstr(shmq_last_error(), "limit"));
    struct shmq_info in;
    shmq_info(c, &in);
    assert_int_equal(in.corrupt, 3);
    /* repaired frame reads fine */
    hdr[0] = 8;
    write_at(SHMQ_HEADER_SIZE, hdr, 8);
    assert_int_equal(shmq_peek(c, &m, 0), SHMQ_OK);
    assert_memory_equal(m.data, "abcdefgh", 8);
    shmq_close(p);
    shmq_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shmq_create_mode_and_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_empty_then_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_wrap_around, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_full_blocks_then_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_drop_policy_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_batch_commit_through_and_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_uncommitted_redelivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_patient_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_late_wakeups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_populate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_end_of_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_too_big_and_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_corrupt_headers_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shmq_corrupt_frames_detected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
