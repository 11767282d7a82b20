/* bench_queue — the shm SPSC queue against a pipe and a Unix-domain socket,
 * cross-process, in one run, carrying the same msgpack records (TEST_SEQ).
 *
 * Throughput: the producer (parent) sends N records of 16 and of 256 bytes;
 * every transport batches 64 records per publish (shmq: reserve/submit and
 * one flush; pipe/socket: one write() of 64 length-prefixed records), the
 * consumer (child) reads in batches (shmq_peek_batch + commit; read() of
 * 256 KiB) and checks every sequence number.  Records are pre-encoded once
 * and only the seq field is patched, so the figure is the transport's.
 *
 * "unbatched": the same with one publish (shmq_push) / one write() per record.
 *
 * Latency: one record at a time, the producer's CLOCK_MONOTONIC time in the
 * seq field; the consumer computes receive time − send time.  "spinning":
 * the consumer polls without sleeping (shmq_peek(…, 0) / non-blocking read
 * in a loop) and records are 20 µs apart.  "idle": the consumer blocks
 * (shmq_peek(…, -1): brief spin, then futex sleep / blocking read) and records
 * are 2 ms apart, so every record is a wake-up from sleep.
 *
 *   make bench-queue           (BENCH_QUEUE_SCALE=0.2 for a quicker, rougher run)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "records.h"
#include "shmq.h"

enum transport { T_SHMQ, T_PIPE, T_SOCK, T_COUNT };
static const char *const tname[T_COUNT] = { "shmq", "pipe", "unix socket" };

#define BATCH 64
#define MAX_LAT 40000

struct shared_result {
    double first_ns, last_ns;
    uint64_t count, errors;
    uint32_t nlat;
    double lat_ns[MAX_LAT];
};

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ---- a record template whose seq is always 9 bytes at offset 3 (0xcf + BE u64) ---- */
static uint8_t tmpl[512];
static size_t tmpl_len;

static void make_template(size_t total)
{
    static uint8_t payload[512];
    struct rec_test_seq r = { 1ull << 62, { payload, (uint32_t)(total - 14) } };
    struct rec_buf b;
    struct rec_error err;
    rec_buf_init(&b);
    if (rec_encode_test_seq(&b, &r, &err) < 0 || b.len != total || b.data[3] != 0xcf) {
        fprintf(stderr, "bench_queue: template encoding is not %zu bytes\n", total);
        exit(1);
    }
    memcpy(tmpl, b.data, b.len);
    tmpl_len = b.len;
    rec_buf_free(&b);
}

static inline void put_seq(uint8_t *rec, uint64_t v)
{
    for (int i = 0; i < 8; i++) rec[4 + i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint64_t get_seq(const uint8_t *rec)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | rec[4 + i];
    return v;
}

/* ---- channels ------------------------------------------------------------------------- */
struct chan {
    enum transport t;
    struct shmq *q;
    int fd;
    uint8_t *buf;       /* stream: receive buffer / send buffer */
    size_t have, off, wlen;
    struct shmq_msg msgs[256];
    int nmsg, imsg;
};

static char qpath[128];
static int pfd[2];

static void setup_transport(enum transport t)
{
    if (t == T_SHMQ) {
        snprintf(qpath, sizeof qpath, "/dev/shm/tcgl-bench-queue-%d", (int)getpid());
        unlink(qpath);
        if (shmq_create(qpath, 1 << 20, 0) < 0) { fprintf(stderr, "%s\n", shmq_last_error()); exit(1); }
    } else if (t == T_PIPE) {
        if (pipe(pfd) < 0) { perror("pipe"); exit(1); }
        fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
    } else {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pfd) < 0) { perror("socketpair"); exit(1); }
        int sz = 1 << 20;
        setsockopt(pfd[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        setsockopt(pfd[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
}

static void open_chan(struct chan *c, enum transport t, bool producer)
{
    memset(c, 0, sizeof *c);
    c->t = t;
    if (t == T_SHMQ) {
        c->q = shmq_open(qpath, producer ? SHMQ_PRODUCER : SHMQ_CONSUMER);
        if (!c->q) { fprintf(stderr, "%s\n", shmq_last_error()); exit(1); }
    } else {
        c->fd = producer ? pfd[1] : pfd[0];
        close(producer ? pfd[0] : pfd[1]);
        c->buf = malloc(1 << 18);
    }
}

static void close_chan(struct chan *c, bool producer)
{
    if (c->t == T_SHMQ) {
        if (producer) shmq_end(c->q);
        shmq_close(c->q);
    } else {
        close(c->fd);
        free(c->buf);
    }
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; perror("write"); exit(1); }
        p += w;
        n -= (size_t)w;
    }
}

static void send_flush(struct chan *c)
{
    if (c->t == T_SHMQ) shmq_flush(c->q);
    else if (c->wlen) { write_all(c->fd, c->buf, c->wlen); c->wlen = 0; }
}

static void send_rec(struct chan *c, const uint8_t *rec, size_t len)
{
    if (c->t == T_SHMQ) {
        int st;
        void *p = shmq_reserve(c->q, len, -1, &st);
        if (!p) { fprintf(stderr, "reserve: %s\n", shmq_status_str(st)); exit(1); }
        memcpy(p, rec, len);
        shmq_submit(c->q, len);
    } else {
        uint32_t l = (uint32_t)len;
        memcpy(c->buf + c->wlen, &l, 4);
        memcpy(c->buf + c->wlen + 4, rec, len);
        c->wlen += 4 + len;
    }
}

/* Next record; spin: never sleep.  Returns length, or -1 at end of stream. */
static long recv_rec(struct chan *c, const uint8_t **rec, bool spin)
{
    if (c->t == T_SHMQ) {
        if (c->imsg == c->nmsg) {
            shmq_commit(c->q);
            int n;
            while ((n = shmq_peek_batch(c->q, c->msgs, 256, spin ? 0 : -1)) == SHMQ_AGAIN) {}
            if (n < 0) return -1;
            c->nmsg = n;
            c->imsg = 0;
        }
        struct shmq_msg *m = &c->msgs[c->imsg++];
        *rec = m->data;
        return m->len;
    }
    for (;;) {
        if (c->have - c->off >= 4) {
            uint32_t l;
            memcpy(&l, c->buf + c->off, 4);
            if (c->have - c->off >= 4 + (size_t)l) {
                *rec = c->buf + c->off + 4;
                c->off += 4 + l;
                return l;
            }
        }
        memmove(c->buf, c->buf + c->off, c->have - c->off);
        c->have -= c->off;
        c->off = 0;
        /* spinning: the socket reads with MSG_DONTWAIT, the pipe fd is O_NONBLOCK */
        ssize_t r = c->t == T_SOCK && spin ? recv(c->fd, c->buf + c->have, (1 << 18) - c->have, MSG_DONTWAIT)
                                           : read(c->fd, c->buf + c->have, (1 << 18) - c->have);
        if (r == 0) return -1;
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            perror("read");
            exit(1);
        }
        c->have += (size_t)r;
    }
}

/* ---- one measurement ------------------------------------------------------------------ */
enum mode { M_THROUGHPUT, M_UNBATCHED, M_SPIN_LAT, M_IDLE_LAT };

static struct shared_result *run(enum transport t, enum mode mode, uint64_t n, size_t recsize)
{
    static struct shared_result *res;
    if (!res) res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(res, 0, sizeof *res);
    make_template(recsize);
    setup_transport(t);
    bool spin = mode == M_SPIN_LAT;
    pid_t child = fork();
    if (child == 0) {   /* consumer */
        struct chan c;
        open_chan(&c, t, false);
        if (t == T_PIPE && spin) fcntl(c.fd, F_SETFL, O_NONBLOCK);
        const uint8_t *rec;
        long len;
        uint64_t expect = 1ull << 62;
        while ((len = recv_rec(&c, &rec, spin)) >= 0) {
            uint64_t s = get_seq(rec);
            if (mode == M_THROUGHPUT || mode == M_UNBATCHED) {
                /* clock reads cost ~70 ns under kvm-clock: only at the ends */
                if (res->count == 0) res->first_ns = now_ns();
                if (s != expect || (size_t)len != recsize) res->errors++;
                expect++;
            } else if (res->nlat < MAX_LAT) {
                res->lat_ns[res->nlat++] = now_ns() - (double)(s & ~(1ull << 62));
            }
            res->count++;
        }
        res->last_ns = now_ns();
        close_chan(&c, false);
        _exit(0);
    }
    struct chan c;
    open_chan(&c, t, true);
    if (t == T_SHMQ) {   /* wait until the consumer is attached so nothing measures its start-up */
        struct shmq_info in;
        do { shmq_info(c.q, &in); } while (in.consumer != SHMQ_PEER_ALIVE);
    }
    usleep(20000);
    for (uint64_t i = 0; i < n; i++) {
        if (mode == M_THROUGHPUT || mode == M_UNBATCHED) {
            put_seq(tmpl, (1ull << 62) + i);
            send_rec(&c, tmpl, tmpl_len);
            if (mode == M_UNBATCHED || (i + 1) % BATCH == 0) send_flush(&c);
        } else {
            double gap = mode == M_SPIN_LAT ? 20e3 : 2e6;
            double until = now_ns() + gap;
            if (mode == M_IDLE_LAT) {
                struct timespec d = { 0, (long)(gap * 0.9) };
                nanosleep(&d, NULL);
            }
            while (now_ns() < until) {}
            put_seq(tmpl, (1ull << 62) | (uint64_t)now_ns());
            send_rec(&c, tmpl, tmpl_len);
            send_flush(&c);
        }
    }
    send_flush(&c);
    close_chan(&c, true);
    int ws;
    waitpid(child, &ws, 0);
    if (t == T_SHMQ) unlink(qpath);
    if (res->count != n) fprintf(stderr, "bench_queue: %s received %llu of %llu records\n", tname[t],
                                 (unsigned long long)res->count, (unsigned long long)n);
    if (res->errors) fprintf(stderr, "bench_queue: %s: %llu records out of order or wrong size\n", tname[t],
                             (unsigned long long)res->errors);
    return res;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(struct shared_result *r, double p)
{
    if (!r->nlat) return 0;
    qsort(r->lat_ns, r->nlat, sizeof r->lat_ns[0], cmp_d);
    size_t i = (size_t)(p * (double)(r->nlat - 1));
    return r->lat_ns[i] / 1e3;
}

static void cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) { snprintf(out, n, "%s", c + 2); out[strcspn(out, "\n")] = 0; }
            break;
        }
    fclose(f);
}

int main(void)
{
    double scale = 1.0;
    const char *s = getenv("BENCH_QUEUE_SCALE");
    if (s) scale = atof(s);
    if (scale <= 0) scale = 1;
    char cpu[128];
    cpu_model(cpu, sizeof cpu);
    struct utsname u;
    uname(&u);
    printf("bench_queue: SPSC shm queue vs pipe vs Unix socket, cross-process, msgpack TEST_SEQ records\n");
    printf("machine: %ld cores, %s, Linux %s\n\n", sysconf(_SC_NPROCESSORS_ONLN), cpu, u.release);

    double thr[3][T_COUNT];
    const size_t sizes[2] = { 16, 256 };
    for (int si = 0; si < 2; si++)
        for (int t = 0; t < T_COUNT; t++) {
            uint64_t n = (uint64_t)((t == T_SHMQ ? (si ? 4e6 : 20e6) : (si ? 1e6 : 4e6)) * scale);
            struct shared_result *r = run((enum transport)t, M_THROUGHPUT, n, sizes[si]);
            thr[si][t] = (double)(r->count - 1) / ((r->last_ns - r->first_ns) / 1e9);   /* first to end of stream */
        }
    for (int t = 0; t < T_COUNT; t++) {
        uint64_t n = (uint64_t)((t == T_SHMQ ? 10e6 : 1e6) * scale);
        struct shared_result *r = run((enum transport)t, M_UNBATCHED, n, 16);
        thr[2][t] = (double)(r->count - 1) / ((r->last_ns - r->first_ns) / 1e9);
    }
    double lat[4][T_COUNT];
    for (int t = 0; t < T_COUNT; t++) {
        struct shared_result *r = run((enum transport)t, M_SPIN_LAT, (uint64_t)(20000 * scale), 16);
        lat[0][t] = pct(r, 0.50);
        lat[1][t] = pct(r, 0.99);
        r = run((enum transport)t, M_IDLE_LAT, (uint64_t)(500 * scale), 16);
        lat[2][t] = pct(r, 0.50);
        lat[3][t] = pct(r, 0.99);
    }
    printf("%-30s %12s %12s %12s %10s %10s\n", "", tname[0], tname[1], tname[2], "shmq/pipe", "shmq/sock");
    static const char *const tn[3] = { "16 B records/s (batch 64)", "256 B records/s (batch 64)", "16 B records/s (unbatched)" };
    for (int si = 0; si < 3; si++)
        printf("%-30s %11.2fM %11.2fM %11.2fM %9.1fx %9.1fx\n", tn[si],
               thr[si][0] / 1e6, thr[si][1] / 1e6, thr[si][2] / 1e6, thr[si][0] / thr[si][1], thr[si][0] / thr[si][2]);
    static const char *const ln[4] = { "hop p50, spinning consumer (µs)", "hop p99, spinning consumer (µs)",
                                       "hop p50, idle consumer (µs)", "hop p99, idle consumer (µs)" };
    for (int k = 0; k < 4; k++)
        printf("%-30s %12.2f %12.2f %12.2f %9.1fx %9.1fx\n", ln[k], lat[k][0], lat[k][1], lat[k][2],
               lat[k][1] / (lat[k][0] > 0 ? lat[k][0] : 1), lat[k][2] / (lat[k][0] > 0 ? lat[k][0] : 1));
    printf("\n(latency ratios are pipe/shmq and socket/shmq: > 1 means the queue is faster)\n");
    printf("goals: >= 20M small records/s, p50 hop < 1 µs spinning, p99 idle wake-up < 50 µs, >= 10x pipe\n");
    return 0;
}
