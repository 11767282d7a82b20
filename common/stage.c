/* stage.c — the stage runtime (see stage.h for the contract).
 *
 * Everything dynamic comes from the control file: before each record the
 * worker compares the control seq with the one it applied, and if pipectl
 * changed the tables it attaches new queues, ends the outputs being closed
 * (scale-down of the downstream pool) and detaches removed ones.  Idle
 * waiting sleeps on every input doorbell at once (futex_waitv), waking at
 * least every STAGE_POLL_MS to notice control changes.
 *
 * Why futex_waitv and not evloop.h: the input set changes while a stage runs
 * (scaling), which evloop has no call for, and on kernels before 6.7 (Debian
 * 12 ships 6.1) evloop falls back to waking every millisecond, whereas
 * futex_waitv (Linux >= 5.16) sleeps on up to 128 doorbells in one syscall.
 */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shmq.h"

#define STAGE_POLL_MS 50

static volatile sig_atomic_t stage_signalled;

static void on_stop_signal(int sig)
{
    (void)sig;
    stage_signalled = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- control file ------------------------------------------------------------ */

struct stage_ctl *stage_ctl_create(const char *path, char *err, size_t errlen)
{
    char tmp[STAGE_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return NULL;
    }
    if (ftruncate(fd, sizeof(struct stage_ctl)) < 0) {
        snprintf(err, errlen, "%s: cannot size: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return NULL;
    }
    struct stage_ctl *ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (ctl == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", tmp, strerror(errno));
        unlink(tmp);
        return NULL;
    }
    ctl->magic = STAGE_CTL_MAGIC;
    ctl->version = STAGE_CTL_VERSION;
    ctl->size = sizeof *ctl;
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        munmap(ctl, sizeof *ctl);
        unlink(tmp);
        return NULL;
    }
    return ctl;
}

struct stage_ctl *stage_ctl_map(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open the control file: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || (size_t)sb.st_size != sizeof(struct stage_ctl)) {
        snprintf(err, errlen, "%s: control file is %lld bytes; expected %zu (layout version %u)", path,
                 (long long)sb.st_size, sizeof(struct stage_ctl), STAGE_CTL_VERSION);
        close(fd);
        return NULL;
    }
    struct stage_ctl *ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (ctl == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        return NULL;
    }
    if (ctl->magic != STAGE_CTL_MAGIC || ctl->version != STAGE_CTL_VERSION || ctl->size != sizeof *ctl) {
        snprintf(err, errlen, "%s: not a control file of layout version %u", path, STAGE_CTL_VERSION);
        munmap(ctl, sizeof *ctl);
        return NULL;
    }
    return ctl;
}

void stage_ctl_unmap(struct stage_ctl *ctl)
{
    if (ctl)
        munmap(ctl, sizeof *ctl);
}

void stage_ctl_write_begin(struct stage_ctl *ctl)
{
    atomic_fetch_add_explicit(&ctl->seq, 1, memory_order_acq_rel);   /* odd */
    atomic_thread_fence(memory_order_seq_cst);
}

void stage_ctl_write_end(struct stage_ctl *ctl)
{
    atomic_thread_fence(memory_order_seq_cst);
    atomic_fetch_add_explicit(&ctl->seq, 1, memory_order_acq_rel);   /* even */
}

/* ---- applying the tables --------------------------------------------------------- */

struct ctl_tables {
    uint32_t ninputs, nports;
    struct stage_ctl_queue inputs[STAGE_MAX_INPUTS];
    struct stage_ctl_port ports[CONFIG_MAX_PORTS];
};

/* Consistent copy of the tables; returns the (even) seq they belong to. */
static uint32_t ctl_snapshot(struct stage_ctl *ctl, struct ctl_tables *t)
{
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&ctl->seq, memory_order_acquire);
        if (s1 & 1) {
            usleep(100);
            continue;
        }
        atomic_thread_fence(memory_order_seq_cst);
        t->ninputs = ctl->ninputs;
        t->nports = ctl->nports;
        memcpy(t->inputs, ctl->inputs, sizeof t->inputs);
        memcpy(t->ports, ctl->ports, sizeof t->ports);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&ctl->seq, memory_order_acquire) == s1) {
            if (t->ninputs > STAGE_MAX_INPUTS)
                t->ninputs = STAGE_MAX_INPUTS;
            if (t->nports > CONFIG_MAX_PORTS)
                t->nports = CONFIG_MAX_PORTS;
            for (uint32_t p = 0; p < t->nports; p++)
                if (t->ports[p].ntargets > STAGE_MAX_TARGETS)
                    t->ports[p].ntargets = STAGE_MAX_TARGETS;
            return s1;
        }
    }
}

static struct shmq *open_retry(const char *path, enum shmq_role role)
{
    /* EBUSY: the previous process of this role is still being reaped; wait a little. */
    for (int i = 0; i < 100; i++) {
        struct shmq *q = shmq_open(path, role);
        if (q || errno != EBUSY)
            return q;
        usleep(20000);
    }
    return shmq_open(path, role);
}

static int apply_ctl(struct stage *st)
{
    static struct ctl_tables t;   /* ~35 KiB: keep it off the stack */
    uint32_t seq = ctl_snapshot(st->ctl, &t);
    if (seq == st->seq_seen && st->seq_seen != 0)
        return 0;

    /* inputs: attach new ones, drop removed ones */
    for (int i = 0; i < st->nin;) {
        bool keep = false;
        for (uint32_t k = 0; k < t.ninputs; k++)
            if (!strcmp(t.inputs[k].path, st->in[i].path))
                keep = true;
        if (keep) {
            i++;
            continue;
        }
        if (st->pending == i)
            st->pending = -1;   /* pipectl removes an input only once it is drained */
        if (st->in[i].q)
            shmq_close(st->in[i].q);
        st->in[i] = st->in[--st->nin];
        if (st->pending == st->nin)
            st->pending = i;
    }
    for (uint32_t k = 0; k < t.ninputs; k++) {
        bool have = false;
        for (int i = 0; i < st->nin; i++)
            if (!strcmp(t.inputs[k].path, st->in[i].path))
                have = true;
        if (have || st->nin >= STAGE_MAX_INPUTS)
            continue;
        struct stage_input *in = &st->in[st->nin];
        memset(in, 0, sizeof *in);
        snprintf(in->path, sizeof in->path, "%s", t.inputs[k].path);
        snprintf(in->from, sizeof in->from, "%s", t.inputs[k].peer);
        in->q = open_retry(in->path, SHMQ_CONSUMER);
        if (!in->q) {
            log_error("input queue %s (from %s[%u]): cannot attach: %s", in->path, in->from,
                      t.inputs[k].peer_worker, shmq_last_error());
            return -1;
        }
        shmq_set_patience(in->q, st->input_patience_us);
        /* a patient input is a high-rate one (the trace): map it up front,
         * best effort (pages fault in on use otherwise) */
        if (st->input_patience_us) (void)shmq_populate(in->q);
        st->nin++;
        st->has_inputs = true;
    }

    /* outputs */
    st->nports = (int)t.nports;
    for (uint32_t p = 0; p < t.nports; p++) {
        struct stage_port *port = &st->port[p];
        const struct stage_ctl_port *cp = &t.ports[p];
        snprintf(port->name, sizeof port->name, "%s", cp->name);
        for (int i = 0; i < port->nt;) {
            const struct stage_ctl_queue *cq = NULL;
            for (uint32_t k = 0; k < cp->ntargets; k++)
                if (!strcmp(cp->targets[k].path, port->t[i].path))
                    cq = &cp->targets[k];
            if (cq && cq->state == STAGE_Q_CLOSING && !port->t[i].closing) {
                /* downstream worker being removed: it gets nothing more from us */
                shmq_end(port->t[i].q);
                port->t[i].closing = true;
            }
            if (cq) {
                i++;
                continue;
            }
            if (port->t[i].q) {
                if (!port->t[i].closing)
                    shmq_end(port->t[i].q);
                shmq_close(port->t[i].q);
            }
            port->t[i] = port->t[--port->nt];
        }
        for (uint32_t k = 0; k < cp->ntargets; k++) {
            bool have = false;
            for (int i = 0; i < port->nt; i++)
                if (!strcmp(cp->targets[k].path, port->t[i].path))
                    have = true;
            if (have || port->nt >= STAGE_MAX_TARGETS)
                continue;
            struct stage_target *tg = &port->t[port->nt];
            memset(tg, 0, sizeof *tg);
            snprintf(tg->path, sizeof tg->path, "%s", cp->targets[k].path);
            tg->q = open_retry(tg->path, SHMQ_PRODUCER);
            if (!tg->q) {
                log_error("output queue %s (port %s, to %s[%u]): cannot attach: %s", tg->path, port->name,
                          cp->targets[k].peer, cp->targets[k].peer_worker, shmq_last_error());
                return -1;
            }
            if (cp->targets[k].state == STAGE_Q_CLOSING) {
                /* we restarted after pipectl began removing that worker */
                shmq_end(tg->q);
                tg->closing = true;
            }
            port->nt++;
        }
    }
    st->seq_seen = seq;
    atomic_store_explicit(&st->ctl->applied, seq, memory_order_release);
    return 0;
}

static int maybe_apply_ctl(struct stage *st)
{
    if (atomic_load_explicit(&st->ctl->seq, memory_order_acquire) != st->seq_seen)
        return apply_ctl(st);
    return 0;
}

/* ---- open / close ----------------------------------------------------------------- */

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

int stage_open(int argc, char **argv, struct stage *st)
{
    (void)argc;
    memset(st, 0, sizeof *st);
    st->pending = -1;
    const char *name = getenv("TCGL_STAGE");
    const char *ctl_path = getenv("TCGL_CTL");
    const char *prog = argv && argv[0] ? argv[0] : "stage";
    if (!name || !ctl_path) {
        fprintf(stderr, "%s: TCGL_STAGE and TCGL_CTL are not set: a stage runs under pipectl "
                        "(see docs/writing-a-stage.md)\n", prog);
        return -1;
    }
    snprintf(st->name, sizeof st->name, "%s", name);
    snprintf(st->pipeline, sizeof st->pipeline, "%s", env_or("TCGL_PIPELINE", ""));
    st->worker = atoi(env_or("TCGL_WORKER", "0"));
    st->config_path = getenv("TCGL_CONFIG");
    st->run_dir = getenv("TCGL_RUN_DIR");
    st->library_dir = getenv("TCGL_LIBRARY_DIR");
    st->report_dir = getenv("TCGL_REPORT_DIR");
    st->log_dir = getenv("TCGL_LOG_DIR");
    log_set_ident(st->name, st->worker);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[300];
    st->ctl = stage_ctl_map(ctl_path, err, sizeof err);
    if (!st->ctl) {
        log_error("%s", err);
        return -1;
    }
    atomic_store(&st->ctl->pid, (int32_t)getpid());
    if (apply_ctl(st) < 0) {
        stage_ctl_unmap(st->ctl);
        st->ctl = NULL;
        return -1;
    }
    atomic_store(&st->ctl->status, STAGE_ST_RUNNING);
    atomic_store(&st->ctl->heartbeat_ms, now_ms());
    return 0;
}

int stage_port(const struct stage *st, const char *name)
{
    for (int p = 0; p < st->nports; p++)
        if (!strcmp(st->port[p].name, name))
            return p;
    log_error("no output port '%s' (this stage's ports come from 'outputs:' in %s)", name,
              st->config_path ? st->config_path : "pipeline.yaml");
    return -1;
}

static bool stop_requested(const struct stage *st)
{
    return stage_signalled ||
           atomic_load_explicit(&st->ctl->request, memory_order_acquire) == STAGE_REQ_STOP;
}

bool stage_should_stop(struct stage *st)
{
    maybe_apply_ctl(st);
    atomic_store_explicit(&st->ctl->heartbeat_ms, now_ms(), memory_order_relaxed);
    if (stop_requested(st))
        return true;
    return atomic_load_explicit(&st->ctl->request, memory_order_acquire) == STAGE_REQ_DRAIN;
}

int stage_close(struct stage *st)
{
    if (!st->ctl)
        return 0;
    /* Outputs are ended only when this worker really finished: a fed stage
     * once stage_next reported that every input ended and was consumed; a
     * source unless it was told to stop at a record boundary.  Anything else
     * (an early return, an uncommitted record) leaves them open: pipectl
     * restarts the worker and nothing downstream mistakes it for the end. */
    bool stopped;
    if (st->has_inputs)
        stopped = !(st->finished && st->end == STAGE_ST_ENDED) || st->pending >= 0;
    else
        stopped = st->finished ? st->end == STAGE_ST_STOPPED : stop_requested(st);
    if (st->pending >= 0)
        log_warn("closing with an uncommitted input record: it will be delivered again");
    for (int p = 0; p < st->nports; p++)
        for (int i = 0; i < st->port[p].nt; i++) {
            struct stage_target *t = &st->port[p].t[i];
            if (!stopped && !t->closing)
                shmq_end(t->q);
            shmq_close(t->q);
        }
    for (int i = 0; i < st->nin; i++)
        shmq_close(st->in[i].q);
    atomic_store(&st->ctl->status, stopped ? STAGE_ST_STOPPED : STAGE_ST_ENDED);
    log_info("%s: %llu records in, %llu out%s", stopped ? "stopped at a record boundary" : "finished",
             (unsigned long long)atomic_load(&st->ctl->records_in),
             (unsigned long long)atomic_load(&st->ctl->records_out),
             stopped ? " (outputs left open for the next process)" : " (outputs ended)");
    stage_ctl_unmap(st->ctl);
    st->ctl = NULL;
    return 0;
}

/* ---- input ------------------------------------------------------------------------ */

void stage_done(struct stage *st, struct stage_rec *rec)
{
    (void)rec;
    if (st->pending < 0)
        return;
    struct stage_input *in = &st->in[st->pending];
    shmq_commit(in->q);
    in->pending_end = 0;
    st->pending = -1;
    atomic_fetch_add_explicit(&st->ctl->records_in, 1, memory_order_relaxed);
}

void stage_count_bad(struct stage *st)
{
    atomic_fetch_add_explicit(&st->ctl->records_bad, 1, memory_order_relaxed);
}

void stage_set_input_patience(struct stage *st, int us)
{
    st->input_patience_us = us < 0 ? 0 : us;
    for (int i = 0; i < st->nin; i++)
        if (st->in[i].q) {
            shmq_set_patience(st->in[i].q, st->input_patience_us);
            if (st->input_patience_us) (void)shmq_populate(st->in[i].q);
        }
}

/* Sleep until an input has something (or STAGE_POLL_MS, or the shortest
 * patience of an input). */
static void wait_inputs(struct stage *st)
{
    struct futex_waitv w[STAGE_MAX_INPUTS];
    int n = 0;
    int64_t sleep_ns = STAGE_POLL_MS * 1000000L;
    for (int i = 0; i < st->nin; i++) {
        if (st->in[i].ended)
            continue;
        const uint32_t *word;
        uint32_t val;
        int64_t patience_us;
        if (shmq_consumer_arm_patient(st->in[i].q, &word, &val, &patience_us))
            return;   /* something arrived meanwhile */
        if (patience_us >= 0 && patience_us * 1000 < sleep_ns)
            sleep_ns = patience_us * 1000;   /* its producer may not ring */
        w[n].val = val;
        w[n].uaddr = (uintptr_t)word;
        w[n].flags = FUTEX_32;
        w[n].__reserved = 0;
        n++;
    }
    if (n == 0) {
        usleep(STAGE_POLL_MS * 1000);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(sleep_ns / 1000000000L);
    ts.tv_nsec += (long)(sleep_ns % 1000000000L);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (syscall(SYS_futex_waitv, w, (unsigned)n, 0, &ts, CLOCK_MONOTONIC) < 0 && errno == ENOSYS)
        usleep(1000);   /* kernels before 5.16: short sleeps */
}

void stage_defer(struct stage *st, struct stage_rec *rec)
{
    (void)rec;
    if (st->pending < 0)
        return;
    struct stage_input *in = &st->in[st->pending];
    in->deferred++;
    in->pending_end = 0;
    st->pending = -1;
}

uint64_t stage_commit_deferred(struct stage *st)
{
    uint64_t n = 0;
    for (int i = 0; i < st->nin; i++) {
        struct stage_input *in = &st->in[i];
        if (!in->deferred || st->pending == i)
            continue;   /* a record taken and not yet deferred is the caller's: never committed here */
        shmq_commit(in->q);
        n += in->deferred;
        in->deferred = 0;
    }
    if (n)
        atomic_fetch_add_explicit(&st->ctl->records_in, n, memory_order_relaxed);
    return n;
}

uint64_t stage_deferred(const struct stage *st)
{
    uint64_t n = 0;
    for (int i = 0; i < st->nin; i++)
        n += st->in[i].deferred;
    return n;
}

int stage_ninputs(const struct stage *st)
{
    return st->nin;
}

void stage_input_pos(const struct stage *st, int i, struct stage_input_pos *out)
{
    struct shmq_info info;
    shmq_info(st->in[i].q, &info);
    out->path = st->in[i].path;
    out->capacity = info.capacity;
    out->head = info.head;
    out->read = info.read_pos;
    out->tail = info.tail;
    out->eos = info.eos;
}

const char *stage_input_path(const struct stage *st, int i)
{
    return i >= 0 && i < st->nin ? st->in[i].path : "";
}

int stage_input_skip(struct stage *st, int i, uint64_t pos, uint64_t *skipped, char *err, size_t errlen)
{
    struct stage_input *in = &st->in[i];
    struct shmq_info info;
    shmq_info(in->q, &info);
    *skipped = 0;
    if (pos < info.head || pos > info.tail) {
        snprintf(err, errlen, "%s: position %llu is outside the queue's committed..published range [%llu, %llu]",
                 in->path, (unsigned long long)pos, (unsigned long long)info.head, (unsigned long long)info.tail);
        return -1;
    }
    shmq_rewind(in->q);
    uint64_t at = info.head, n = 0;
    while (at < pos) {
        struct shmq_msg m;
        int rc = shmq_peek(in->q, &m, 0);
        if (rc != SHMQ_OK) {
            snprintf(err, errlen, "%s: no record at position %llu on the way to %llu (%s)", in->path,
                     (unsigned long long)at, (unsigned long long)pos, shmq_status_str(rc));
            shmq_rewind(in->q);
            return -1;
        }
        at = m.end;
        n++;
    }
    if (at != pos) {
        snprintf(err, errlen, "%s: position %llu is not a record boundary (a record ends at %llu)", in->path,
                 (unsigned long long)pos, (unsigned long long)at);
        shmq_rewind(in->q);
        return -1;
    }
    shmq_commit(in->q);
    atomic_fetch_add_explicit(&st->ctl->records_in, n, memory_order_relaxed);
    *skipped = n;
    return 0;
}

uint64_t stage_records_out(const struct stage *st)
{
    return atomic_load_explicit(&st->ctl->records_out, memory_order_acquire);
}

int stage_next(struct stage *st, struct stage_rec *rec)
{
    return stage_next_wait(st, rec, -1);
}

int stage_next_wait(struct stage *st, struct stage_rec *rec, int timeout_ms)
{
    if (st->finished)
        return 0;
    if (st->pending >= 0)
        stage_done(st, rec);
    uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
    for (;;) {
        atomic_store_explicit(&st->ctl->heartbeat_ms, now_ms(), memory_order_relaxed);
        if (maybe_apply_ctl(st) < 0)
            return -1;
        if (stop_requested(st)) {
            st->finished = true;
            st->end = STAGE_ST_STOPPED;
            return 0;
        }
        if (!st->has_inputs) {
            /* a source: nothing to read */
            st->finished = true;
            st->end = STAGE_ST_ENDED;
            return 0;
        }
        int live = 0;
        for (int k = 0; k < st->nin; k++) {
            int i = (st->next_in + k) % st->nin;
            struct stage_input *in = &st->in[i];
            if (in->ended)
                continue;
            struct shmq_msg m;
            int rc = shmq_peek(in->q, &m, 0);
            if (rc == SHMQ_OK) {
                st->next_in = (i + 1) % st->nin;
                st->pending = i;
                in->pending_end = m.end;
                rec->data = m.data;
                rec->len = m.len;
                rec->input = i;
                rec->from = in->from;
                rec->end = m.end;
                return 1;
            }
            if (rc == SHMQ_EOS) {
                in->ended = true;
                continue;
            }
            if (rc == SHMQ_CORRUPT || rc == SHMQ_ERROR) {
                log_error("input queue %s (from %s): %s: %s", in->path, in->from, shmq_status_str(rc),
                          shmq_last_error());
                return -1;
            }
            /* AGAIN, or PEER_DEAD: the producer is being restarted by pipectl */
            live++;
        }
        if (live == 0 && st->nin > 0) {
            st->finished = true;
            st->end = STAGE_ST_ENDED;
            return 0;
        }
        if (timeout_ms == 0 || (timeout_ms > 0 && now_ms() >= deadline))
            return STAGE_IDLE;
        wait_inputs(st);
    }
}

/* ---- output ------------------------------------------------------------------------ */

/* Queue fill for least-loaded fan-out.  shmq_info also checks both peers'
 * liveness (a /proc read), too slow per record, so the fill is refreshed
 * every STAGE_FILL_REFRESH_MS and estimated in between from what we pushed. */
#define STAGE_FILL_REFRESH_MS 2

static uint64_t fill_of(struct stage_target *t, uint64_t now)
{
    if (now - t->refreshed_ms >= STAGE_FILL_REFRESH_MS || t->refreshed_ms == 0) {
        struct shmq_info info;
        shmq_info(t->q, &info);
        t->fill = info.tail - info.head;
        t->refreshed_ms = now;
    }
    return t->fill;
}

int stage_emit(struct stage *st, int port, const void *buf, size_t len)
{
    if (port < 0 || port >= st->nports) {
        log_error("stage_emit: port %d does not exist (this stage has %d)", port, st->nports);
        return -1;
    }
    uint64_t now = now_ms();
    atomic_store_explicit(&st->ctl->heartbeat_ms, now, memory_order_relaxed);
    uint64_t waited_since = 0;
    for (;;) {
        if (maybe_apply_ctl(st) < 0)
            return -1;
        if (stage_signalled)
            return -1;   /* stop now: the uncommitted input will be seen again */
        struct stage_port *p = &st->port[port];
        /* least-filled open target; ties go round-robin */
        int best = -1;
        uint64_t best_fill = UINT64_MAX;
        for (int k = 0; k < p->nt; k++) {
            int i = (int)((p->rr + (unsigned)k) % (unsigned)p->nt);
            if (p->t[i].closing)
                continue;
            uint64_t f = fill_of(&p->t[i], now);
            if (f < best_fill) {
                best_fill = f;
                best = i;
            }
        }
        if (best < 0) {
            /* no open target right now (the pool is being rebuilt): wait for pipectl */
            if (!waited_since)
                waited_since = now_ms();
            else if (now_ms() - waited_since > 10000) {
                log_warn("port %s: no downstream queue for %llu s; still waiting", p->name,
                         (unsigned long long)(now_ms() - waited_since) / 1000);
                waited_since = now_ms();
            }
            usleep(STAGE_POLL_MS * 1000);
            continue;
        }
        p->rr++;
        int rc = shmq_push(p->t[best].q, buf, len, STAGE_POLL_MS);
        if (rc == SHMQ_OK) {
            p->t[best].fill += SHMQ_FRAME_HDR + ((len + 7) & ~(size_t)7);
            atomic_fetch_add_explicit(&st->ctl->records_out, 1, memory_order_relaxed);
            return 0;
        }
        if (rc == SHMQ_DROPPED) {
            atomic_fetch_add_explicit(&st->ctl->records_dropped, 1, memory_order_relaxed);
            return 1;
        }
        if (rc == SHMQ_TOO_BIG) {
            log_error("port %s: a %zu-byte record is larger than the queue accepts (%zu bytes; raise queue_size)",
                      p->name, len, shmq_max_record(p->t[best].q));
            return -1;
        }
        if (rc == SHMQ_CORRUPT || rc == SHMQ_ERROR) {
            log_error("output queue %s: %s: %s", p->t[best].path, shmq_status_str(rc), shmq_last_error());
            return -1;
        }
        /* AGAIN (full) or PEER_DEAD (consumer restarting): look again */
        if (rc == SHMQ_PEER_DEAD)
            usleep(10000);
        now = now_ms();
        p->t[best].refreshed_ms = 0;   /* it was full: look at the real fills again */
    }
}
