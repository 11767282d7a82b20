/* shmq.c — the SPSC shared-memory queue (see shmq.h and docs/queue.md). */
#include "shmq.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "futex.h"

/* ---- the header (layout version 1; offsets in docs/queue.md) ------------------------ */
struct shmq_peer_slot {
    _Atomic int32_t pid;          /* 0: none attached */
    uint32_t pad;
    _Atomic uint64_t start_time;  /* /proc/PID/stat field 22: tells a reused pid apart */
};

struct shmq_header {
    /* line 0: fixed at creation */
    uint64_t magic;                 /* 0 */
    uint32_t layout_version;        /* 8 */
    uint32_t header_size;           /* 12 */
    uint64_t capacity;              /* 16 */
    uint32_t flags;                 /* 24 */
    uint32_t pad0;                  /* 28 */
    uint64_t max_record;            /* 32 */
    uint64_t created_ns;            /* 40 (CLOCK_REALTIME) */
    /* line 1: written by the producer only */
    _Alignas(64) _Atomic uint64_t tail;   /* 64: published write position */
    _Atomic uint64_t records_in;          /* 72 */
    _Atomic uint64_t bytes_in;            /* 80: payload bytes */
    _Atomic uint64_t drops;               /* 88 */
    _Atomic uint32_t eos;                 /* 96 */
    /* line 2: written by the consumer only */
    _Alignas(64) _Atomic uint64_t head;   /* 128: committed read position */
    _Atomic uint64_t records_out;         /* 136 */
    _Atomic uint64_t bytes_out;           /* 144 */
    _Atomic uint64_t read_pos;            /* 152: peeked-through position (informational) */
    _Atomic uint64_t corrupt;             /* 160: corrupt frames seen */
    /* line 3: the consumer's doorbell */
    _Alignas(64) _Atomic uint32_t data_seq;         /* 192: futex word */
    _Atomic uint32_t consumer_waiting;              /* 196 */
    /* line 4: the producer's doorbell */
    _Alignas(64) _Atomic uint32_t space_seq;        /* 256: futex word */
    _Atomic uint32_t producer_waiting;              /* 260 */
    /* line 5: who is attached */
    _Alignas(64) struct shmq_peer_slot producer;    /* 320 */
    struct shmq_peer_slot consumer;                 /* 336 */
    _Atomic uint64_t producer_attaches;             /* 352 */
    _Atomic uint64_t consumer_attaches;             /* 360 */
};
_Static_assert(sizeof(struct shmq_header) <= SHMQ_HEADER_SIZE, "header fits its page");
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "futex words are plain u32");

#define FRAME_REC  0x31434552u   /* "REC1" */
#define FRAME_WRAP 0x50415257u   /* "WRAP" */
#define ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)
#define DEFAULT_SPIN 2048   /* pause iterations before sleeping: ~5-30 µs depending on the CPU */

struct shmq {
    struct shmq_header *h;
    uint8_t *ring;
    uint64_t cap, mask, max_rec;
    size_t map_len;
    enum shmq_role role;
    int spin;
    int patience_us;          /* consumer: shmq_set_patience */
    uint64_t late_wakeups, max_overrun_us;   /* consumer: shmq_late_wakeups */
    int64_t data_ms;          /* consumer: when a peek last returned a record (patient queues only) */
    char path[PATH_MAX];
    /* producer */
    uint64_t tail, pub_tail, head_cache;
    uint64_t pend_records, pend_bytes;
    uint64_t res_pos;
    size_t res_max;
    bool reserved;
    /* consumer */
    uint64_t read_pos, tail_cache, committed;
    uint64_t peek_ord, peek_bytes, commit_ord, commit_bytes;
};

/* ---- errors ---------------------------------------------------------------------------- */
static _Thread_local char last_error[512];
const char *shmq_last_error(void) { return last_error; }

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *shmq_status_str(int s)
{
    switch (s) {
    case SHMQ_OK: return "ok";
    case SHMQ_AGAIN: return "nothing ready (timeout)";
    case SHMQ_DROPPED: return "dropped (queue full, drop edge)";
    case SHMQ_EOS: return "end of stream";
    case SHMQ_PEER_DEAD: return "peer process died";
    case SHMQ_TOO_BIG: return "record too big";
    case SHMQ_CORRUPT: return "corrupt queue";
    case SHMQ_ERROR: return "system error";
    default: return "unknown status";
    }
}

const char *shmq_peer_state_str(enum shmq_peer_state s)
{
    return s == SHMQ_PEER_ALIVE ? "alive" : s == SHMQ_PEER_GONE ? "dead" : "none";
}

static void resolve_path(const char *path, char *out, size_t n)
{
    if (strchr(path, '/')) snprintf(out, n, "%s", path);
    else snprintf(out, n, "/dev/shm/%s", path);
}

const char *shmq_path(const struct shmq *q) { return q->path; }
size_t shmq_max_record(const struct shmq *q) { return (size_t)q->max_rec; }
void shmq_set_spin(struct shmq *q, int iterations) { q->spin = iterations < 0 ? 0 : iterations; }

/* ---- time and processes ------------------------------------------------------------------- */
static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void) { return now_us() / 1000; }

void shmq_set_patience(struct shmq *q, int us)
{
    q->patience_us = us < 0 ? 0 : us;
    q->data_ms = now_ms();
}
int shmq_patience(const struct shmq *q) { return q->patience_us; }

void shmq_late_wakeups(const struct shmq *q, uint64_t *count, uint64_t *max_overrun_us)
{
    *count = q->late_wakeups;
    *max_overrun_us = q->max_overrun_us;
}

/* State letter and start time (field 22) of a process; -1 if it does not exist. */
static int proc_stat(int32_t pid, char *state, uint64_t *start)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *s = strrchr(buf, ')');      /* the command name may hold spaces and ')' */
    if (!s || s[1] != ' ') return -1;
    s += 2;
    *state = *s;
    /* fields after ')' start at field 3 (state); starttime is field 22 */
    for (int field = 3; field < 22; field++) {
        s = strchr(s, ' ');
        if (!s) return -1;
        s++;
    }
    *start = strtoull(s, NULL, 10);
    return 0;
}

static uint64_t self_start_time(void)
{
    char st;
    uint64_t start = 0;
    if (proc_stat((int32_t)getpid(), &st, &start) < 0) return 0;
    return start;
}

static enum shmq_peer_state slot_state(const struct shmq_peer_slot *s)
{
    int32_t pid = atomic_load(&s->pid);
    if (pid == 0) return SHMQ_PEER_NONE;
    char st;
    uint64_t start;
    if (proc_stat(pid, &st, &start) < 0) return SHMQ_PEER_GONE;
    if (st == 'Z' || st == 'X') return SHMQ_PEER_GONE;
    uint64_t want = atomic_load(&s->start_time);
    if (want && start != want) return SHMQ_PEER_GONE;   /* the pid was reused */
    return SHMQ_PEER_ALIVE;
}

enum shmq_peer_state shmq_peer_state(const struct shmq *q)
{
    return slot_state(q->role == SHMQ_PRODUCER ? &q->h->consumer : &q->h->producer);
}

/* ---- create / open / close ---------------------------------------------------------------------- */
static uint64_t round_pow2(uint64_t x)
{
    uint64_t c = SHMQ_MIN_CAPACITY;
    while (c < x && c < SHMQ_MAX_CAPACITY) c <<= 1;
    return c;
}

int shmq_create(const char *path, uint64_t capacity, uint32_t flags)
{
    char p[PATH_MAX];
    resolve_path(path, p, sizeof p);
    if (capacity > SHMQ_MAX_CAPACITY || (flags & ~SHMQ_DROP_WHEN_FULL)) {
        set_error("%s: capacity %llu or flags %#x out of range", p, (unsigned long long)capacity, flags);
        errno = EINVAL;
        return -1;
    }
    uint64_t cap = round_pow2(capacity);
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        set_error("%s: cannot create queue: %s", p, strerror(e));
        errno = e;
        return -1;
    }
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)(SHMQ_HEADER_SIZE + cap)) < 0) {
        int e = errno;
        set_error("%s: cannot size queue to %llu bytes: %s", p, (unsigned long long)(SHMQ_HEADER_SIZE + cap), strerror(e));
        close(fd);
        unlink(p);
        errno = e;
        return -1;
    }
    struct shmq_header *h = mmap(NULL, SHMQ_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED) {
        int e = errno;
        set_error("%s: mmap: %s", p, strerror(e));
        unlink(p);
        errno = e;
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->layout_version = SHMQ_LAYOUT_VERSION;
    h->header_size = SHMQ_HEADER_SIZE;
    h->capacity = cap;
    h->flags = flags;
    h->max_record = cap / 4 - SHMQ_FRAME_HDR;
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    /* The magic goes last: a half-made file is refused, never misread. */
    atomic_thread_fence(memory_order_release);
    __atomic_store_n(&h->magic, SHMQ_MAGIC, __ATOMIC_RELEASE);
    munmap(h, SHMQ_HEADER_SIZE);
    return 0;
}

int shmq_unlink(const char *path)
{
    char p[PATH_MAX];
    resolve_path(path, p, sizeof p);
    if (unlink(p) < 0) {
        int e = errno;
        set_error("%s: unlink: %s", p, strerror(e));
        errno = e;
        return -1;
    }
    return 0;
}

/* Checks a header copy against the file size; returns NULL or what is wrong. */
static const char *header_problem(const struct shmq_header *h, uint64_t fsize, char *why, size_t n)
{
    if (h->magic != SHMQ_MAGIC) {
        snprintf(why, n, "not a shmq queue (magic %#llx, expected %#llx)", (unsigned long long)h->magic,
                 (unsigned long long)SHMQ_MAGIC);
        return why;
    }
    if (h->layout_version != SHMQ_LAYOUT_VERSION) {
        snprintf(why, n, "layout version %u, this build reads version %u", h->layout_version, SHMQ_LAYOUT_VERSION);
        return why;
    }
    if (h->header_size != SHMQ_HEADER_SIZE) {
        snprintf(why, n, "header size %u, expected %u", h->header_size, SHMQ_HEADER_SIZE);
        return why;
    }
    uint64_t c = h->capacity;
    if (c < SHMQ_MIN_CAPACITY || c > SHMQ_MAX_CAPACITY || (c & (c - 1))) {
        snprintf(why, n, "capacity %llu is not a power of two in [%u, 2^34]", (unsigned long long)c, SHMQ_MIN_CAPACITY);
        return why;
    }
    if (fsize != SHMQ_HEADER_SIZE + c) {
        snprintf(why, n, "file is %llu bytes but header + capacity is %llu", (unsigned long long)fsize,
                 (unsigned long long)(SHMQ_HEADER_SIZE + c));
        return why;
    }
    if (h->max_record != c / 4 - SHMQ_FRAME_HDR) {
        snprintf(why, n, "max_record %llu inconsistent with capacity %llu", (unsigned long long)h->max_record,
                 (unsigned long long)c);
        return why;
    }
    if (h->flags & ~SHMQ_DROP_WHEN_FULL) {
        snprintf(why, n, "unknown flags %#x", h->flags);
        return why;
    }
    uint64_t head = atomic_load(&h->head), tail = atomic_load(&h->tail);
    if (head > tail || tail - head > c || (head & 7) || (tail & 7)) {
        snprintf(why, n, "cursors inconsistent: head %llu tail %llu capacity %llu", (unsigned long long)head,
                 (unsigned long long)tail, (unsigned long long)c);
        return why;
    }
    return NULL;
}

static int register_slot(struct shmq_peer_slot *s, const char *role, const char *path)
{
    int32_t me = (int32_t)getpid();
    uint64_t st = self_start_time();
    for (;;) {
        int32_t old = atomic_load(&s->pid);
        if (old != 0 && old != me && slot_state(s) == SHMQ_PEER_ALIVE) {
            set_error("%s: already has a live %s (pid %d)", path, role, (int)old);
            errno = EBUSY;
            return -1;
        }
        if (atomic_compare_exchange_strong(&s->pid, &old, me)) {
            atomic_store(&s->start_time, st);
            return 0;
        }
    }
}

struct shmq *shmq_open(const char *path, enum shmq_role role)
{
    char p[PATH_MAX];
    resolve_path(path, p, sizeof p);
    bool ro = role == SHMQ_OBSERVER;
    int fd = open(p, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_error("%s: cannot open queue: %s", p, strerror(e));
        errno = e;
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < SHMQ_HEADER_SIZE) {
        set_error("%s: not a shmq queue (not a regular file of at least %u bytes)", p, SHMQ_HEADER_SIZE);
        close(fd);
        errno = EPROTO;
        return NULL;
    }
    /* A producer or consumer only uses a queue private to its own user: a
     * file someone else made (the names in /dev/shm are predictable) could
     * read the trace or inject records (docs/security.md). */
    if (!ro && (sb.st_uid != geteuid() || (sb.st_mode & 077))) {
        set_error("%s: refusing a queue owned by uid %u with mode %04o (must be ours and 0600)", p,
                  (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
        close(fd);
        errno = EACCES;
        return NULL;
    }
    struct shmq_header copy;
    if (pread(fd, &copy, sizeof copy, 0) != (ssize_t)sizeof copy) {
        set_error("%s: cannot read header", p);
        close(fd);
        errno = EPROTO;
        return NULL;
    }
    char why[256];
    if (header_problem(&copy, (uint64_t)sb.st_size, why, sizeof why)) {
        set_error("%s: %s", p, why);
        close(fd);
        errno = EPROTO;
        return NULL;
    }
    size_t map_len = (size_t)sb.st_size;
    void *m = mmap(NULL, map_len, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        int e = errno;
        set_error("%s: mmap %zu bytes: %s", p, map_len, strerror(e));
        errno = e;
        return NULL;
    }
    struct shmq *q = calloc(1, sizeof *q);
    if (!q) {
        munmap(m, map_len);
        errno = ENOMEM;
        return NULL;
    }
    q->h = m;
    q->ring = (uint8_t *)m + SHMQ_HEADER_SIZE;
    q->cap = copy.capacity;
    q->mask = q->cap - 1;
    q->max_rec = copy.max_record;
    q->map_len = map_len;
    q->role = role;
    q->spin = DEFAULT_SPIN;
    const char *sp = getenv("TCGL_SHMQ_SPIN");
    if (sp && *sp) q->spin = atoi(sp);
    snprintf(q->path, sizeof q->path, "%s", p);
    struct shmq_header *h = q->h;
    if (role == SHMQ_PRODUCER) {
        if (register_slot(&h->producer, "producer", p) < 0) goto fail;
        q->tail = q->pub_tail = atomic_load(&h->tail);
        q->head_cache = atomic_load(&h->head);
        atomic_store(&h->eos, 0);
        atomic_fetch_add(&h->producer_attaches, 1);
    } else if (role == SHMQ_CONSUMER) {
        if (register_slot(&h->consumer, "consumer", p) < 0) goto fail;
        q->read_pos = q->committed = q->tail_cache = atomic_load(&h->head);
        atomic_store(&h->read_pos, q->read_pos);
        atomic_fetch_add(&h->consumer_attaches, 1);
    }
    return q;
fail:;
    int e = errno;
    munmap(m, map_len);
    free(q);
    errno = e;
    return NULL;
}

int shmq_populate(struct shmq *q)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(q->h, q->map_len, q->role == SHMQ_PRODUCER ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0) return 0;
    if (errno != EINVAL) return -1;
#endif
    /* kernels before 5.14: touch one byte per page (a read maps a shared
     * memory page writable too: shmem keeps no dirty accounting) */
    long page = sysconf(_SC_PAGESIZE);
    volatile const uint8_t *m = (const uint8_t *)q->h;
    for (size_t off = 0; off < q->map_len; off += (size_t)page) (void)m[off];
    return 0;
}

void shmq_close(struct shmq *q)
{
    if (!q) return;
    int32_t me = (int32_t)getpid();
    if (q->role == SHMQ_PRODUCER) {
        shmq_flush(q);
        atomic_compare_exchange_strong(&q->h->producer.pid, &me, 0);
    } else if (q->role == SHMQ_CONSUMER) {
        atomic_store(&q->h->consumer_waiting, 0);
        atomic_compare_exchange_strong(&q->h->consumer.pid, &me, 0);
    }
    munmap(q->h, q->map_len);
    free(q);
}

/* ---- doorbells ---------------------------------------------------------------------------------- */
/* Values of a waiter flag: the side sleeps until rung, or (consumer only)
 * it sleeps at most its patience and wants a ring only when a quarter of
 * the ring waits (shmq_set_patience). */
#define WAITING         1u
#define WAITING_PATIENT 2u
static bool patient_now(struct shmq *q)
{
    return q->patience_us && now_ms() - q->data_ms < SHMQ_PATIENCE_IDLE_MS;
}
/* Called right after a seq_cst store of our index: that store and this
 * seq_cst load of the flag pair with the sleeper's seq_cst flag store and
 * index re-read (Dekker), so either we see the flag or it sees our index.
 * On x86 the store is one xchg, cheaper than a release store + mfence. */
static void ring_bell(_Atomic uint32_t *waiting, _Atomic uint32_t *seq)
{
    if (atomic_load_explicit(waiting, memory_order_seq_cst)) {
        atomic_store_explicit(waiting, 0, memory_order_relaxed);
        atomic_fetch_add(seq, 1);
        futex_wake_shared((const uint32_t *)seq, INT_MAX);
    }
}

static int slice_ms(int timeout_ms, int64_t deadline)
{
    if (timeout_ms < 0) return SHMQ_LIVENESS_MS;
    int64_t left = deadline - now_ms();
    if (left <= 0) return 0;
    return left < SHMQ_LIVENESS_MS ? (int)left : SHMQ_LIVENESS_MS;
}

/* ---- producer ------------------------------------------------------------------------------------- */
static inline void add_counter(_Atomic uint64_t *c, uint64_t n)
{
    /* single writer: a plain load + store, no locked instruction */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

void shmq_flush(struct shmq *q)
{
    if (q->role != SHMQ_PRODUCER || q->tail == q->pub_tail) return;
    struct shmq_header *h = q->h;
    add_counter(&h->records_in, q->pend_records);
    add_counter(&h->bytes_in, q->pend_bytes);
    q->pend_records = q->pend_bytes = 0;
    atomic_store_explicit(&h->tail, q->tail, memory_order_seq_cst);
    q->pub_tail = q->tail;
    /* A patient consumer wakes up by itself; ring only when it falls a
     * quarter of the ring behind (head is the committed position: a stale
     * or lagging one only makes us ring earlier). */
    if (atomic_load_explicit(&h->consumer_waiting, memory_order_seq_cst) == WAITING_PATIENT &&
        q->tail - atomic_load_explicit(&h->head, memory_order_relaxed) < q->cap / 4)
        return;
    ring_bell(&h->consumer_waiting, &h->data_seq);
}

static inline bool fits(struct shmq *q, uint64_t total) { return q->tail + total - q->head_cache <= q->cap; }

static int wait_space(struct shmq *q, uint64_t total, int timeout_ms)
{
    struct shmq_header *h = q->h;
    q->head_cache = atomic_load_explicit(&h->head, memory_order_acquire);
    if (fits(q, total)) return SHMQ_OK;
    if (h->flags & SHMQ_DROP_WHEN_FULL) return SHMQ_DROPPED;
    shmq_flush(q);   /* the consumer can only drain what is published */
    if (timeout_ms == 0) return SHMQ_AGAIN;
    for (int i = 0; i < q->spin; i++) {
        cpu_relax();
        q->head_cache = atomic_load_explicit(&h->head, memory_order_acquire);
        if (fits(q, total)) return SHMQ_OK;
    }
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    for (;;) {
        uint32_t seq = atomic_load(&h->space_seq);
        atomic_store(&h->producer_waiting, 1);
        atomic_thread_fence(memory_order_seq_cst);
        q->head_cache = atomic_load_explicit(&h->head, memory_order_acquire);
        if (fits(q, total)) {
            atomic_store(&h->producer_waiting, 0);
            return SHMQ_OK;
        }
        int s = slice_ms(timeout_ms, deadline);
        if (s == 0) return SHMQ_AGAIN;
        if (futex_wait_shared((const uint32_t *)&h->space_seq, seq, s) < 0 && errno == ETIMEDOUT &&
            slot_state(&h->consumer) == SHMQ_PEER_GONE) {
            q->head_cache = atomic_load_explicit(&h->head, memory_order_acquire);
            if (fits(q, total)) return SHMQ_OK;
            set_error("%s: consumer pid %d died while the queue is full", q->path, (int)atomic_load(&h->consumer.pid));
            return SHMQ_PEER_DEAD;
        }
    }
}

void *shmq_reserve(struct shmq *q, size_t maxlen, int timeout_ms, int *status)
{
    if (q->role != SHMQ_PRODUCER) { *status = SHMQ_ERROR; errno = EPERM; return NULL; }
    if (maxlen > q->max_rec) {
        set_error("%s: record of %zu bytes exceeds the queue's limit %llu", q->path, maxlen, (unsigned long long)q->max_rec);
        *status = SHMQ_TOO_BIG;
        return NULL;
    }
    uint64_t need = ALIGN8(SHMQ_FRAME_HDR + maxlen);
    uint64_t idx = q->tail & q->mask, to_end = q->cap - idx;
    uint64_t total = need <= to_end ? need : to_end + need;
    if (!fits(q, total)) {
        int s = wait_space(q, total, timeout_ms);
        if (s != SHMQ_OK) {
            if (s == SHMQ_DROPPED) add_counter(&q->h->drops, 1);
            *status = s;
            return NULL;
        }
    }
    if (need > to_end) {   /* never split a frame: mark the rest of the ring and start at 0 */
        uint32_t wrap[2] = { 0, FRAME_WRAP };
        memcpy(q->ring + idx, wrap, sizeof wrap);
        q->tail += to_end;
        idx = 0;
    }
    q->reserved = true;
    q->res_max = maxlen;
    *status = SHMQ_OK;
    return q->ring + idx + SHMQ_FRAME_HDR;
}

void shmq_submit(struct shmq *q, size_t used)
{
    if (!q->reserved) return;
    if (used > q->res_max) used = q->res_max;
    uint32_t hdr[2] = { (uint32_t)used, FRAME_REC };
    memcpy(q->ring + (q->tail & q->mask), hdr, sizeof hdr);
    q->tail += ALIGN8(SHMQ_FRAME_HDR + used);
    q->pend_records++;
    q->pend_bytes += used;
    q->reserved = false;
}

int shmq_push(struct shmq *q, const void *data, size_t len, int timeout_ms)
{
    int st;
    void *p = shmq_reserve(q, len, timeout_ms, &st);
    if (!p) return st;
    if (len) memcpy(p, data, len);
    shmq_submit(q, len);
    shmq_flush(q);
    return SHMQ_OK;
}

int shmq_push_batch(struct shmq *q, const struct iovec *recs, int n, int timeout_ms)
{
    int i;
    for (i = 0; i < n; i++) {
        int st;
        void *p = shmq_reserve(q, recs[i].iov_len, timeout_ms, &st);
        if (!p) {
            shmq_flush(q);
            return i ? i : st;
        }
        if (recs[i].iov_len) memcpy(p, recs[i].iov_base, recs[i].iov_len);
        shmq_submit(q, recs[i].iov_len);
    }
    shmq_flush(q);
    return n;
}

void shmq_end(struct shmq *q)
{
    if (q->role != SHMQ_PRODUCER) return;
    shmq_flush(q);
    struct shmq_header *h = q->h;
    atomic_store_explicit(&h->eos, 1, memory_order_release);
    atomic_fetch_add(&h->data_seq, 1);
    futex_wake_shared((const uint32_t *)&h->data_seq, INT_MAX);
}

/* ---- consumer --------------------------------------------------------------------------------------- */
static int corrupt(struct shmq *q, uint64_t pos, const char *what, unsigned long long v)
{
    add_counter(&q->h->corrupt, 1);
    set_error("%s: corrupt frame at position %llu (ring offset %llu): %s %llu", q->path, (unsigned long long)pos,
              (unsigned long long)(pos & q->mask), what, v);
    return SHMQ_CORRUPT;
}

/* Next frame without waiting: SHMQ_OK, SHMQ_AGAIN or SHMQ_CORRUPT. */
static int next_frame(struct shmq *q, struct shmq_msg *m)
{
    for (;;) {
        if (q->read_pos == q->tail_cache) {
            q->tail_cache = atomic_load_explicit(&q->h->tail, memory_order_acquire);
            if (q->read_pos == q->tail_cache) return SHMQ_AGAIN;
        }
        uint64_t avail = q->tail_cache - q->read_pos;
        if (avail > q->cap || avail < SHMQ_FRAME_HDR) return corrupt(q, q->read_pos, "published bytes", avail);
        uint64_t idx = q->read_pos & q->mask, to_end = q->cap - idx;
        uint32_t hdr[2];
        memcpy(hdr, q->ring + idx, sizeof hdr);   /* read once: the shm is not trusted */
        if (hdr[1] == FRAME_WRAP) {
            if (to_end > avail) return corrupt(q, q->read_pos, "wrap marker skips past the published tail by", to_end - avail);
            q->read_pos += to_end;
            continue;
        }
        if (hdr[1] != FRAME_REC) return corrupt(q, q->read_pos, "unknown frame tag", hdr[1]);
        uint64_t frame = ALIGN8(SHMQ_FRAME_HDR + (uint64_t)hdr[0]);
        if (hdr[0] > q->max_rec) return corrupt(q, q->read_pos, "record length beyond the queue's limit:", hdr[0]);
        if (frame > to_end) return corrupt(q, q->read_pos, "frame crosses the end of the ring, length", hdr[0]);
        if (frame > avail) return corrupt(q, q->read_pos, "frame longer than the published bytes, length", hdr[0]);
        m->data = q->ring + idx + SHMQ_FRAME_HDR;
        m->len = hdr[0];
        m->pos = q->read_pos;
        m->end = q->read_pos + frame;
        q->read_pos = m->end;
        q->peek_ord++;
        q->peek_bytes += hdr[0];
        return SHMQ_OK;
    }
}

static bool ended(struct shmq *q)
{
    if (!atomic_load_explicit(&q->h->eos, memory_order_acquire)) return false;
    q->tail_cache = atomic_load_explicit(&q->h->tail, memory_order_acquire);
    return q->tail_cache == q->read_pos;
}

int shmq_peek(struct shmq *q, struct shmq_msg *m, int timeout_ms)
{
    if (q->role != SHMQ_CONSUMER) { errno = EPERM; return SHMQ_ERROR; }
    struct shmq_header *h = q->h;
    int r = next_frame(q, m);
    if (r != SHMQ_AGAIN) goto out;
    if (ended(q)) return SHMQ_EOS;
    if (timeout_ms == 0) return SHMQ_AGAIN;
    for (int i = 0; i < q->spin; i++) {
        cpu_relax();
        if ((r = next_frame(q, m)) != SHMQ_AGAIN) goto out;
    }
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    int patient_sleeps = 0;
    for (;;) {
        uint32_t seq = atomic_load(&h->data_seq);
        bool patient = patient_now(q);
        atomic_store(&h->consumer_waiting, patient ? WAITING_PATIENT : WAITING);
        atomic_thread_fence(memory_order_seq_cst);
        if ((r = next_frame(q, m)) != SHMQ_AGAIN) {
            atomic_store(&h->consumer_waiting, 0);
            goto out;
        }
        if (ended(q)) {
            atomic_store(&h->consumer_waiting, 0);
            return SHMQ_EOS;
        }
        int s = slice_ms(timeout_ms, deadline);
        if (s == 0) return SHMQ_AGAIN;
        int64_t s_us = (int64_t)s * 1000;
        /* patient: wake up by ourselves; the liveness check below runs
         * about every SHMQ_LIVENESS_MS all the same */
        bool check_peer = true;
        if (patient && q->patience_us < s_us) {
            s_us = q->patience_us;
            check_peer = ++patient_sleeps * (int64_t)q->patience_us >= SHMQ_LIVENESS_MS * 1000;
            if (check_peer) patient_sleeps = 0;
        }
        int64_t slept_from = patient ? now_us() : 0;
        int w = futex_wait_shared_us((const uint32_t *)&h->data_seq, seq, s_us);
        if (w < 0 && errno == ETIMEDOUT && patient) {
            int e = errno;
            int64_t overrun = now_us() - slept_from - s_us;
            if (overrun > SHMQ_LATE_WAKEUP_US) {
                q->late_wakeups++;
                if ((uint64_t)overrun > q->max_overrun_us) q->max_overrun_us = (uint64_t)overrun;
            }
            errno = e;
        }
        if (w < 0 && errno == ETIMEDOUT && check_peer && slot_state(&h->producer) == SHMQ_PEER_GONE) {
            if ((r = next_frame(q, m)) != SHMQ_AGAIN) goto out;
            if (ended(q)) return SHMQ_EOS;
            set_error("%s: producer pid %d died (queue empty)", q->path, (int)atomic_load(&h->producer.pid));
            return SHMQ_PEER_DEAD;
        }
    }
out:
    if (r == SHMQ_OK) {
        atomic_store_explicit(&h->read_pos, q->read_pos, memory_order_relaxed);
        if (q->patience_us) q->data_ms = now_ms();
    }
    return r;
}

int shmq_peek_batch(struct shmq *q, struct shmq_msg *m, int max, int timeout_ms)
{
    if (max <= 0) return 0;
    int r = shmq_peek(q, m, timeout_ms);
    if (r != SHMQ_OK) return r;
    int n = 1;
    while (n < max && next_frame(q, &m[n]) == SHMQ_OK) n++;
    atomic_store_explicit(&q->h->read_pos, q->read_pos, memory_order_relaxed);
    return n;
}

static void commit_to(struct shmq *q, uint64_t pos, uint64_t ord, uint64_t bytes)
{
    if (pos <= q->committed || pos > q->read_pos) return;
    struct shmq_header *h = q->h;
    add_counter(&h->records_out, ord - q->commit_ord);
    add_counter(&h->bytes_out, bytes - q->commit_bytes);
    q->commit_ord = ord;
    q->commit_bytes = bytes;
    q->committed = pos;
    atomic_store_explicit(&h->head, pos, memory_order_seq_cst);
    ring_bell(&h->producer_waiting, &h->space_seq);
}

void shmq_commit(struct shmq *q)
{
    if (q->role != SHMQ_CONSUMER) return;
    commit_to(q, q->read_pos, q->peek_ord, q->peek_bytes);
}

void shmq_commit_through(struct shmq *q, const struct shmq_msg *m)
{
    if (q->role != SHMQ_CONSUMER || m->end > q->read_pos) return;
    /* Count the records and bytes up to m by walking the frames we peeked:
     * commits are rare next to peeks, and this keeps shmq_msg small. */
    if (m->end == q->read_pos) { shmq_commit(q); return; }
    uint64_t pos = q->committed, ord = q->commit_ord, bytes = q->commit_bytes;
    while (pos < m->end) {
        uint32_t hdr[2];
        memcpy(hdr, q->ring + (pos & q->mask), sizeof hdr);
        if (hdr[1] == FRAME_WRAP) { pos += q->cap - (pos & q->mask); continue; }
        pos += ALIGN8(SHMQ_FRAME_HDR + (uint64_t)hdr[0]);
        ord++;
        bytes += hdr[0];
    }
    commit_to(q, m->end, ord, bytes);
}

void shmq_rewind(struct shmq *q)
{
    if (q->role != SHMQ_CONSUMER) return;
    q->read_pos = q->committed;
    q->peek_ord = q->commit_ord;
    q->peek_bytes = q->commit_bytes;
}

uint64_t shmq_uncommitted(const struct shmq *q) { return q->peek_ord - q->commit_ord; }

static int consumer_arm(struct shmq *q, const uint32_t **word, uint32_t *val, uint32_t how)
{
    struct shmq_header *h = q->h;
    if (q->read_pos != q->tail_cache) return 1;
    *val = atomic_load(&h->data_seq);
    atomic_store(&h->consumer_waiting, how);
    atomic_thread_fence(memory_order_seq_cst);
    q->tail_cache = atomic_load_explicit(&h->tail, memory_order_acquire);
    if (q->tail_cache != q->read_pos || atomic_load(&h->eos)) {
        atomic_store(&h->consumer_waiting, 0);
        return 1;
    }
    *word = (const uint32_t *)&h->data_seq;
    return 0;
}

int shmq_consumer_arm(struct shmq *q, const uint32_t **word, uint32_t *val)
{
    return consumer_arm(q, word, val, WAITING);
}

int shmq_consumer_arm_patient(struct shmq *q, const uint32_t **word, uint32_t *val, int64_t *sleep_us)
{
    bool patient = patient_now(q);
    *sleep_us = patient ? q->patience_us : -1;
    return consumer_arm(q, word, val, patient ? WAITING_PATIENT : WAITING);
}

/* ---- inspection ------------------------------------------------------------------------------------- */
uint64_t shmq_fill_bytes(const struct shmq *q)
{
    uint64_t tail = atomic_load_explicit(&q->h->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
    return tail >= head ? tail - head : 0;
}

uint64_t shmq_capacity(const struct shmq *q) { return q->cap; }

void shmq_info(const struct shmq *q, struct shmq_info *o)
{
    const struct shmq_header *h = q->h;
    memset(o, 0, sizeof *o);
    o->capacity = h->capacity;
    o->max_record = h->max_record;
    o->flags = h->flags;
    o->layout_version = h->layout_version;
    o->tail = atomic_load(&h->tail);
    o->head = atomic_load(&h->head);
    o->read_pos = atomic_load(&h->read_pos);
    o->records_in = atomic_load(&h->records_in);
    o->bytes_in = atomic_load(&h->bytes_in);
    o->records_out = atomic_load(&h->records_out);
    o->bytes_out = atomic_load(&h->bytes_out);
    o->drops = atomic_load(&h->drops);
    o->corrupt = atomic_load(&h->corrupt);
    o->eos = atomic_load(&h->eos) != 0;
    o->producer_pid = atomic_load(&h->producer.pid);
    o->consumer_pid = atomic_load(&h->consumer.pid);
    o->producer = slot_state(&h->producer);
    o->consumer = slot_state(&h->consumer);
    o->producer_waiting = atomic_load(&h->producer_waiting);
    o->consumer_waiting = atomic_load(&h->consumer_waiting);
    o->producer_attaches = atomic_load(&h->producer_attaches);
    o->consumer_attaches = atomic_load(&h->consumer_attaches);
}

int shmq_scan(const struct shmq *q, bool (*fn)(const void *, uint32_t, uint64_t, void *), void *ctx)
{
    const struct shmq_header *h = q->h;
    uint64_t pos = atomic_load_explicit(&h->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    int n = 0;
    while (pos < tail) {
        uint64_t idx = pos & q->mask, to_end = q->cap - idx, avail = tail - pos;
        uint32_t hdr[2];
        if (avail > q->cap || avail < SHMQ_FRAME_HDR) goto bad;
        memcpy(hdr, q->ring + idx, sizeof hdr);
        if (hdr[1] == FRAME_WRAP) {
            if (to_end > avail) goto bad;
            pos += to_end;
            continue;
        }
        uint64_t frame = ALIGN8(SHMQ_FRAME_HDR + (uint64_t)hdr[0]);
        if (hdr[1] != FRAME_REC || hdr[0] > q->max_rec || frame > to_end || frame > avail) goto bad;
        n++;
        if (!fn(q->ring + idx + SHMQ_FRAME_HDR, hdr[0], pos, ctx)) break;
        pos += frame;
    }
    return n;
bad:
    set_error("%s: corrupt frame at position %llu (ring offset %llu)", q->path, (unsigned long long)pos,
              (unsigned long long)(pos & q->mask));
    return SHMQ_CORRUPT;
}
