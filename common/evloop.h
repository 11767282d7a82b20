/* evloop.h — a stage's event loop on liburing: ONE io_uring wait covers the
 * doorbells of every input queue, timers and signals, so a fan-in stage
 * sleeps on all of its inputs at once and wakes for whichever rings first.
 *
 * Doorbells.  Each input queue's consumer doorbell is a futex word in the
 * queue header (shmq.h).  When the kernel supports IORING_OP_FUTEX_WAIT
 * (Linux >= 6.7) the loop submits one FUTEX_WAIT SQE per idle input and the
 * producer's ordinary futex wake completes it: no extra thread, no polling.
 * liburing 2.3 (Debian 12) predates io_uring_prep_futex_wait(), so the SQE is
 * filled by hand with the kernel's ABI values (opcode 51, futex2 flags in
 * sqe->fd, value in sqe->off, mask in sqe->addr3); the loop probes the kernel
 * at start.  On an older kernel it falls back to waking every
 * EVLOOP_FALLBACK_POLL_MS to re-check the queues (bounded extra latency, a
 * little CPU); evloop_futex_native() tells which mode is in use.
 *
 * Timers are IORING_OP_TIMEOUT; signals are read from a signalfd through
 * IORING_OP_READ (the signals are blocked for the process while registered).
 *
 * A dead producer is noticed within SHMQ_LIVENESS_MS: the queue's callback
 * is called once with EVLOOP_PEER_DEAD (after everything published was
 * delivered as readable).
 *
 *     struct evloop *ev = evloop_new();
 *     evloop_add_queue(ev, in0, on_input, &st);   // on_input drains with shmq_peek(q, &m, 0)
 *     evloop_add_queue(ev, in1, on_input, &st);
 *     evloop_add_timer(ev, 1000, true, on_tick, &st);
 *     evloop_add_signal(ev, SIGTERM, on_term, &st); // on_term calls evloop_stop(ev)
 *     evloop_run(ev);
 *     evloop_free(ev);
 *
 * Callbacks return 0 to go on, or a negative value to make evloop_run_once()
 * / evloop_run() return it.  Not thread-safe: one loop per thread.
 */
#ifndef TCGL_EVLOOP_H
#define TCGL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "shmq.h"

#define EVLOOP_FALLBACK_POLL_MS 1

struct evloop;

enum evloop_queue_event {
    EVLOOP_READABLE = 1,     /* records (or end of stream, or a corrupt frame): call shmq_peek(q, &m, 0) */
    EVLOOP_PEER_DEAD = 2,    /* the producer died and everything it published was delivered */
};

typedef int (*evloop_queue_fn)(struct evloop *ev, struct shmq *q, enum evloop_queue_event what, void *ctx);
typedef int (*evloop_timer_fn)(struct evloop *ev, void *ctx);
typedef int (*evloop_signal_fn)(struct evloop *ev, int signo, void *ctx);

/* NULL with errno on failure (io_uring not available). */
struct evloop *evloop_new(void);
void evloop_free(struct evloop *ev);

/* q must be a consumer handle; the loop does not own it. */
int evloop_add_queue(struct evloop *ev, struct shmq *q, evloop_queue_fn fn, void *ctx);
/* Stop watching q (e.g. from its callback after SHMQ_EOS: an ended queue
 * is otherwise always "readable").  Any in-flight doorbell wait is ignored. */
void evloop_remove_queue(struct evloop *ev, struct shmq *q);
/* First expiry after period_ms, then every period_ms when repeat. */
int evloop_add_timer(struct evloop *ev, uint64_t period_ms, bool repeat, evloop_timer_fn fn, void *ctx);
/* Blocks signo for the process and delivers it to fn. */
int evloop_add_signal(struct evloop *ev, int signo, evloop_signal_fn fn, void *ctx);

/* Wait until something happens (at most timeout_ms; < 0 no limit), run the
 * callbacks of everything ready.  Returns the number of callbacks run (0 on
 * timeout), or a callback's negative return value, or -errno. */
int evloop_run_once(struct evloop *ev, int timeout_ms);
/* run_once until evloop_stop() or a negative return; returns 0 or that value. */
int evloop_run(struct evloop *ev);
void evloop_stop(struct evloop *ev);

/* True when input doorbells are waited on with IORING_OP_FUTEX_WAIT. */
bool evloop_futex_native(const struct evloop *ev);

#endif /* TCGL_EVLOOP_H */
