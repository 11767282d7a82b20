/* evloop.c — liburing event loop (see evloop.h for the design). */
#include "evloop.h"

#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* Kernel ABI values that liburing 2.3's headers do not have yet. */
#define EV_IORING_OP_FUTEX_WAIT 51
#define EV_FUTEX2_SIZE_U32 0x02u
#define EV_FUTEX_BITSET_MATCH_ANY 0xffffffffull

enum src_kind { SRC_QUEUE, SRC_TIMER, SRC_SIGNAL };

struct src {
    enum src_kind kind;
    void *ctx;
    /* queue */
    struct shmq *q;
    evloop_queue_fn qfn;
    bool in_flight, ready, dead_reported, removed;
    /* timer */
    evloop_timer_fn tfn;
    struct __kernel_timespec ts;
    bool repeat, armed;
    /* signal */
    evloop_signal_fn sfn;
    int sfd, signo;
    struct signalfd_siginfo si;
};

struct evloop {
    struct io_uring ring;
    struct src **srcs;
    int nsrcs, cap;
    bool native_futex, stop;
    int64_t last_liveness_ms;
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct evloop *evloop_new(void)
{
    struct evloop *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    int r = io_uring_queue_init(64, &ev->ring, 0);
    if (r < 0) {
        free(ev);
        errno = -r;
        return NULL;
    }
    struct io_uring_probe *p = io_uring_get_probe_ring(&ev->ring);
    if (p) {
        ev->native_futex = p->last_op >= EV_IORING_OP_FUTEX_WAIT && io_uring_opcode_supported(p, EV_IORING_OP_FUTEX_WAIT);
        io_uring_free_probe(p);
    }
    /* TCGL_EVLOOP_NO_FUTEX=1 forces the fallback (used by the tests). */
    const char *e = getenv("TCGL_EVLOOP_NO_FUTEX");
    if (e && *e == '1') ev->native_futex = false;
    ev->last_liveness_ms = mono_ms();
    return ev;
}

void evloop_free(struct evloop *ev)
{
    if (!ev) return;
    io_uring_queue_exit(&ev->ring);   /* cancels whatever is still in flight */
    for (int i = 0; i < ev->nsrcs; i++) {
        struct src *s = ev->srcs[i];
        if (s->kind == SRC_SIGNAL) close(s->sfd);
        free(s);
    }
    free(ev->srcs);
    free(ev);
}

bool evloop_futex_native(const struct evloop *ev) { return ev->native_futex; }
void evloop_stop(struct evloop *ev) { ev->stop = true; }

static struct src *add_src(struct evloop *ev, enum src_kind kind, void *ctx)
{
    if (ev->nsrcs == ev->cap) {
        int cap = ev->cap ? ev->cap * 2 : 8;
        struct src **n = realloc(ev->srcs, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        ev->srcs = n;
        ev->cap = cap;
    }
    struct src *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->ctx = ctx;
    s->sfd = -1;
    ev->srcs[ev->nsrcs++] = s;
    return s;
}

static struct io_uring_sqe *get_sqe(struct evloop *ev)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ev->ring);
    if (!sqe) {   /* ring full of unsubmitted entries: push them to the kernel and retry */
        io_uring_submit(&ev->ring);
        sqe = io_uring_get_sqe(&ev->ring);
    }
    return sqe;
}

int evloop_add_queue(struct evloop *ev, struct shmq *q, evloop_queue_fn fn, void *ctx)
{
    struct src *s = add_src(ev, SRC_QUEUE, ctx);
    if (!s) return -ENOMEM;
    s->q = q;
    s->qfn = fn;
    return 0;
}

void evloop_remove_queue(struct evloop *ev, struct shmq *q)
{
    for (int i = 0; i < ev->nsrcs; i++)
        if (ev->srcs[i]->kind == SRC_QUEUE && ev->srcs[i]->q == q) {
            ev->srcs[i]->removed = true;
            ev->srcs[i]->ready = false;
        }
}

static int arm_timer(struct evloop *ev, struct src *s)
{
    struct io_uring_sqe *sqe = get_sqe(ev);
    if (!sqe) return -EBUSY;
    io_uring_prep_timeout(sqe, &s->ts, 0, 0);
    io_uring_sqe_set_data(sqe, s);
    s->armed = true;
    return 0;
}

int evloop_add_timer(struct evloop *ev, uint64_t period_ms, bool repeat, evloop_timer_fn fn, void *ctx)
{
    struct src *s = add_src(ev, SRC_TIMER, ctx);
    if (!s) return -ENOMEM;
    s->tfn = fn;
    s->repeat = repeat;
    s->ts.tv_sec = (long long)(period_ms / 1000);
    s->ts.tv_nsec = (long long)(period_ms % 1000) * 1000000;
    return arm_timer(ev, s);
}

static int arm_signal(struct evloop *ev, struct src *s)
{
    struct io_uring_sqe *sqe = get_sqe(ev);
    if (!sqe) return -EBUSY;
    io_uring_prep_read(sqe, s->sfd, &s->si, sizeof s->si, 0);
    io_uring_sqe_set_data(sqe, s);
    s->armed = true;
    return 0;
}

int evloop_add_signal(struct evloop *ev, int signo, evloop_signal_fn fn, void *ctx)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -errno;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) return -errno;
    struct src *s = add_src(ev, SRC_SIGNAL, ctx);
    if (!s) {
        close(fd);
        return -ENOMEM;
    }
    s->sfn = fn;
    s->sfd = fd;
    s->signo = signo;
    return arm_signal(ev, s);
}

/* Raise the queue's waiter flag and sleep on its doorbell, or mark it ready. */
static void arm_queue(struct evloop *ev, struct src *s)
{
    if (s->in_flight || s->ready) return;
    const uint32_t *word;
    uint32_t val;
    if (shmq_consumer_arm(s->q, &word, &val)) {
        s->ready = true;
        return;
    }
    if (!ev->native_futex) return;   /* fallback: the short wait timeout re-checks */
    struct io_uring_sqe *sqe = get_sqe(ev);
    if (!sqe) return;
    io_uring_prep_rw(EV_IORING_OP_FUTEX_WAIT, sqe, (int)EV_FUTEX2_SIZE_U32, word, 0, val);
    sqe->rw_flags = 0;               /* futex_flags: must be 0 */
    sqe->addr3 = EV_FUTEX_BITSET_MATCH_ANY;
    io_uring_sqe_set_data(sqe, s);
    s->in_flight = true;
}

static int dispatch_cqe(struct evloop *ev, struct io_uring_cqe *cqe, int *ran)
{
    /* liburing's own timeout entry (kernels without IORING_FEAT_EXT_ARG) is not ours */
    if (cqe->user_data == LIBURING_UDATA_TIMEOUT) return 0;
    struct src *s = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    if (!s) return 0;
    switch (s->kind) {
    case SRC_QUEUE:
        s->in_flight = false;
        if (s->removed) return 0;
        if (res == -EINVAL && ev->native_futex) ev->native_futex = false;   /* kernel refused the SQE: fall back */
        s->ready = true;   /* woken, value changed (-EAGAIN) or cancelled: peek decides */
        return 0;
    case SRC_TIMER: {
        s->armed = false;
        (*ran)++;
        int r = s->tfn(ev, s->ctx);
        if (r < 0) return r;
        if (s->repeat) return arm_timer(ev, s);
        return 0;
    }
    case SRC_SIGNAL: {
        s->armed = false;
        if (res == (int)sizeof s->si) {
            (*ran)++;
            int r = s->sfn(ev, (int)s->si.ssi_signo, s->ctx);
            if (r < 0) return r;
        }
        return arm_signal(ev, s);
    }
    }
    return 0;
}

int evloop_run_once(struct evloop *ev, int timeout_ms)
{
    int ran = 0, nqueues = 0;
    bool any_ready = false;
    for (int i = 0; i < ev->nsrcs; i++) {
        struct src *s = ev->srcs[i];
        if (s->kind != SRC_QUEUE || s->removed) continue;
        nqueues++;
        arm_queue(ev, s);
        any_ready |= s->ready;
    }
    /* How long to sleep: not at all when a queue is ready; a little when
     * doorbells are polled (fallback); at most the liveness period. */
    int wait_ms = timeout_ms;
    if (any_ready) wait_ms = 0;
    else if (nqueues) {
        int cap = ev->native_futex ? SHMQ_LIVENESS_MS : EVLOOP_FALLBACK_POLL_MS;
        if (wait_ms < 0 || wait_ms > cap) wait_ms = cap;
    }
    struct io_uring_cqe *cqe = NULL;
    int r;
    if (wait_ms < 0) {
        r = io_uring_submit_and_wait(&ev->ring, 1);
        if (r >= 0) r = io_uring_peek_cqe(&ev->ring, &cqe);
    } else if (wait_ms == 0) {
        io_uring_submit(&ev->ring);
        r = io_uring_peek_cqe(&ev->ring, &cqe);
    } else {
        struct __kernel_timespec ts = { wait_ms / 1000, (long long)(wait_ms % 1000) * 1000000 };
        r = io_uring_submit_and_wait_timeout(&ev->ring, &cqe, 1, &ts, NULL);
    }
    if (r < 0 && r != -ETIME && r != -EAGAIN && r != -EINTR) return r;
    /* Everything that completed. */
    unsigned head, n = 0;
    int err = 0;
    io_uring_for_each_cqe(&ev->ring, head, cqe) {
        n++;
        if (!err) err = dispatch_cqe(ev, cqe, &ran);
    }
    io_uring_cq_advance(&ev->ring, n);
    if (err < 0) return err;
    /* Fallback mode and timeouts: look at every queue again. */
    int64_t now = mono_ms();
    bool liveness = now - ev->last_liveness_ms >= SHMQ_LIVENESS_MS;
    if (liveness) ev->last_liveness_ms = now;
    for (int i = 0; i < ev->nsrcs; i++) {
        struct src *s = ev->srcs[i];
        if (s->kind != SRC_QUEUE || s->removed) continue;
        if (!s->ready && !s->in_flight) arm_queue(ev, s);
        if (s->ready) {
            s->ready = false;
            ran++;
            int cr = s->qfn(ev, s->q, EVLOOP_READABLE, s->ctx);
            if (cr < 0) return cr;
            continue;
        }
        if (liveness) {
            enum shmq_peer_state st = shmq_peer_state(s->q);
            if (st == SHMQ_PEER_GONE && !s->dead_reported) {
                /* deliver what is left first */
                const uint32_t *w;
                uint32_t v;
                if (shmq_consumer_arm(s->q, &w, &v)) {
                    ran++;
                    int cr = s->qfn(ev, s->q, EVLOOP_READABLE, s->ctx);
                    if (cr < 0) return cr;
                }
                s->dead_reported = true;
                ran++;
                int cr = s->qfn(ev, s->q, EVLOOP_PEER_DEAD, s->ctx);
                if (cr < 0) return cr;
            } else if (st != SHMQ_PEER_GONE) {
                s->dead_reported = false;
            }
        }
    }
    return ran;
}

int evloop_run(struct evloop *ev)
{
    ev->stop = false;
    while (!ev->stop) {
        int r = evloop_run_once(ev, -1);
        if (r < 0) return r;
    }
    return 0;
}
