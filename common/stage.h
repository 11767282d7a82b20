/* stage.h — the runtime contract between pipectl and every stage executable.
 *
 * A stage is a process started by pipectl with (docs/writing-a-stage.md):
 *   argv             the stage's `executable` and `args` from pipeline.yaml
 *   stdout, stderr   appended to LOG_DIR/STAGE.WORKER.log
 *   environment      TCGL_PIPELINE, TCGL_STAGE, TCGL_WORKER (0-based index in
 *                    the pool), TCGL_CONFIG (absolute path of pipeline.yaml:
 *                    the tracer reads its `vm` section there), TCGL_CTL (this
 *                    worker's control file), TCGL_RUN_DIR, TCGL_LIBRARY_DIR,
 *                    TCGL_REPORT_DIR, TCGL_LOG_DIR, and a snapshot of the
 *                    queues at start: TCGL_INPUTS (comma-separated shm paths)
 *                    and TCGL_OUTPUT_<PORT> (one per output port, upper case).
 * The control file (struct stage_ctl below, mapped shared) is the live truth:
 * pipectl rewrites its queue tables when a neighbouring pool is scaled, and
 * asks the worker to drain or stop through `request`.
 *
 * The library below is what a C stage uses; its whole loop is
 *
 *     struct stage st;
 *     if (stage_open(argc, argv, &st) < 0) return 2;
 *     struct stage_rec r;
 *     while (stage_next(&st, &r) > 0) {
 *         ... decode r.data/r.len, compute, stage_emit(&st, port, buf, len) ...
 *         stage_done(&st, &r);              // commit the input AFTER the outputs
 *     }
 *     return stage_close(&st);
 *
 * and a source (no inputs) loops `while (!stage_should_stop(&st)) stage_emit(...)`.
 *
 * Semantics
 * - Fan-in: stage_next takes records round-robin from every input queue
 *   (one per upstream worker), waiting on all of them at once.
 * - Fan-out: stage_emit(port) pushes to the least-filled queue among the
 *   downstream pool's workers for that port, following scale changes.
 * - At-least-once: a record is committed only by stage_done (or by the next
 *   stage_next); a worker killed in between sees it again after restart.
 * - End of stream: when every input has ended and been consumed, stage_next
 *   returns 0 and stage_close ends every output (the end travels downstream).
 * - Stop at a record boundary (pipectl swap, stop --now, SIGTERM/SIGINT):
 *   stage_next returns 0 before taking another record, stage_close leaves the
 *   outputs open so the next process on the same queues continues exactly
 *   where this one stopped.
 */
#ifndef TCGL_STAGE_H
#define TCGL_STAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* ---- the control file (shared with pipectl; layout is part of the contract) ---- */

#define STAGE_CTL_MAGIC      0x314c544347435354ull   /* "TSCGCTL1" little-endian */
#define STAGE_CTL_VERSION    1u
#define STAGE_MAX_INPUTS     64
#define STAGE_MAX_TARGETS    CONFIG_MAX_WORKERS
#define STAGE_PATH_MAX       192

enum stage_q_state {
    STAGE_Q_ACTIVE = 1,     /* use it */
    STAGE_Q_CLOSING = 2,    /* output only: send nothing more, end the stream (scale-down) */
};

enum stage_request {
    STAGE_REQ_RUN = 0,
    STAGE_REQ_DRAIN = 1,    /* a source stops producing and ends its outputs; others end with their inputs */
    STAGE_REQ_STOP = 2,     /* stop at the next record boundary, leave the outputs open (swap) */
};

enum stage_status {
    STAGE_ST_STARTING = 0,
    STAGE_ST_RUNNING = 1,
    STAGE_ST_ENDED = 2,     /* inputs drained, outputs ended: the worker is finished */
    STAGE_ST_STOPPED = 3,   /* stopped at a record boundary; outputs left open */
};

struct stage_ctl_queue {
    char path[STAGE_PATH_MAX];          /* shm file */
    char peer[CONFIG_NAME_MAX];         /* the stage at the other end */
    uint32_t peer_worker;
    uint32_t state;                     /* enum stage_q_state */
};

struct stage_ctl_port {
    char name[CONFIG_NAME_MAX];
    uint32_t ntargets;
    uint32_t reserved;
    struct stage_ctl_queue targets[STAGE_MAX_TARGETS];
};

struct stage_ctl {
    uint64_t magic;
    uint32_t version;
    uint32_t size;                      /* sizeof(struct stage_ctl) */
    /* written by pipectl */
    _Atomic uint32_t seq;               /* seqlock over the tables: odd while they change */
    _Atomic uint32_t request;           /* enum stage_request */
    /* written by the worker */
    _Atomic uint32_t applied;           /* the (even) seq whose tables the worker uses */
    _Atomic uint32_t status;            /* enum stage_status */
    _Atomic int32_t pid;
    uint32_t reserved;
    _Atomic uint64_t records_in;        /* committed input records (all runs of this worker) */
    _Atomic uint64_t records_out;       /* records pushed */
    _Atomic uint64_t records_dropped;   /* pushes dropped on a drop-when-full edge */
    _Atomic uint64_t records_bad;       /* rejected by the stage (stage_count_bad) */
    _Atomic uint64_t heartbeat_ms;      /* CLOCK_MONOTONIC ms of the last stage_next/emit */
    /* the tables (under seq) */
    uint32_t ninputs;
    uint32_t nports;
    struct stage_ctl_queue inputs[STAGE_MAX_INPUTS];
    struct stage_ctl_port ports[CONFIG_MAX_PORTS];
};

/* Create (or replace) a control file, and map it.  Used by pipectl. */
struct stage_ctl *stage_ctl_create(const char *path, char *err, size_t errlen);
struct stage_ctl *stage_ctl_map(const char *path, char *err, size_t errlen);
void stage_ctl_unmap(struct stage_ctl *ctl);
/* pipectl's side of the seqlock: begin (seq odd), change tables, end (seq even). */
void stage_ctl_write_begin(struct stage_ctl *ctl);
void stage_ctl_write_end(struct stage_ctl *ctl);

/* ---- the runtime a stage uses -------------------------------------------------- */

struct shmq;

struct stage_rec {
    const void *data;       /* one msgpack record, valid until stage_done / the next stage_next */
    size_t len;
    int input;              /* internal: which input it came from */
    const char *from;       /* the upstream stage's name */
    uint64_t end;           /* ring position after it in its input queue */
};

struct stage_input {
    char path[STAGE_PATH_MAX];
    char from[CONFIG_NAME_MAX];
    struct shmq *q;
    bool ended;
    uint64_t pending_end;   /* ring position after the peeked record (0: none) */
    uint64_t deferred;      /* records taken and deferred, not committed */
};

struct stage_target {
    char path[STAGE_PATH_MAX];
    struct shmq *q;
    bool closing;           /* ended: never pushed to again */
    uint64_t fill;          /* bytes queued at the last refresh + bytes pushed since */
    uint64_t refreshed_ms;
};

struct stage_port {
    char name[CONFIG_NAME_MAX];
    struct stage_target t[STAGE_MAX_TARGETS];
    int nt;
    unsigned rr;            /* tie breaker for least-loaded */
};

struct stage {
    char pipeline[CONFIG_NAME_MAX];
    char name[CONFIG_NAME_MAX];
    int worker;
    const char *config_path, *run_dir, *library_dir, *report_dir, *log_dir;

    /* private */
    struct stage_ctl *ctl;
    uint32_t seq_seen;
    struct stage_input in[STAGE_MAX_INPUTS];
    int nin;
    bool has_inputs;        /* the stage is fed (it is not a source) */
    int next_in;            /* round-robin cursor */
    int pending;            /* input holding an uncommitted record, or -1 */
    struct stage_port port[CONFIG_MAX_PORTS];
    int nports;
    enum stage_status end;  /* how stage_next finished: ENDED or STOPPED */
    bool finished;
    int input_patience_us;  /* stage_set_input_patience */
};

/* Read the environment pipectl set, map the control file, attach the queues,
 * set the log identity, catch SIGTERM/SIGINT (stop at a record boundary).
 * Returns 0, or -1 after logging why. */
int stage_open(int argc, char **argv, struct stage *st);
/* Wait for input records patiently (shmq_set_patience) on every input, now
 * and attached later: for a stage fed by a producer that must not pay a
 * wake-up per publish (the tracer).  Such an input is mapped up front too
 * (shmq_populate).  0: the default eager wake-ups. */
void stage_set_input_patience(struct stage *st, int us);
/* Index of output port `name`, or -1 (logged). */
int stage_port(const struct stage *st, const char *name);
/* Next input record: 1 with *rec filled, 0 at the end (all inputs ended, or a
 * stop was requested), -1 on a fatal queue error (logged).  Commits the
 * previous record if stage_done was not called for it. */
int stage_next(struct stage *st, struct stage_rec *rec);
/* Push one record to `port` (least-filled downstream worker).  Waits while
 * the queues are full on a blocking edge.  0 pushed, 1 dropped (drop edge,
 * counted), -1 the stage must stop now (SIGTERM) or a fatal error (logged). */
int stage_emit(struct stage *st, int port, const void *buf, size_t len);
/* Commit the input record: its effects are pushed. */
void stage_done(struct stage *st, struct stage_rec *rec);
/* Count a rejected input record (shown by pipectl status). */
void stage_count_bad(struct stage *st);
/* For sources: true once pipectl asked to drain or stop (or on SIGTERM). */
bool stage_should_stop(struct stage *st);
/* ---- deferred commits (a stage that keeps its own durable state) ----------------
 * A stage whose effects are not only its outputs (cfg keeps a graph) may hold
 * several records uncommitted while it makes its state durable, then commit
 * them all at once.  stage_defer instead of stage_done leaves the record in
 * its queue (it is not committed by the next stage_next); stage_commit_deferred
 * commits every record taken so far on every input.  Uncommitted records keep
 * their space in the ring: commit often enough that the producer never waits
 * long (docs/cfg.md "Crash safety"). */
#define STAGE_IDLE 2
void stage_defer(struct stage *st, struct stage_rec *rec);
/* Commits every deferred record; returns how many. */
uint64_t stage_commit_deferred(struct stage *st);
/* Records deferred and not yet committed. */
uint64_t stage_deferred(const struct stage *st);
/* stage_next with a limit: STAGE_IDLE when no record came within timeout_ms
 * (0: do not wait; < 0: as stage_next). */
int stage_next_wait(struct stage *st, struct stage_rec *rec, int timeout_ms);

/* Where each input stands, to pair a stage's own state with its cursors. */
struct stage_input_pos {
    const char *path;       /* the queue (shm file) */
    uint64_t capacity;      /* its ring size */
    uint64_t head;          /* committed cursor */
    uint64_t read;          /* after the last record taken (deferred included) */
    uint64_t tail;          /* published by the producer */
    bool eos;               /* the producer ended the stream */
};
int stage_ninputs(const struct stage *st);
void stage_input_pos(const struct stage *st, int i, struct stage_input_pos *out);
/* The queue path of input i (cheap: no header read). */
const char *stage_input_path(const struct stage *st, int i);
/* At start, before taking records: take and commit the records of input i
 * up to ring position `pos` (they were consumed by a previous process whose
 * state says so).  0, or -1 with a message in err (pos behind the committed
 * cursor, beyond the published tail, or not on a record boundary). */
int stage_input_skip(struct stage *st, int i, uint64_t pos, uint64_t *skipped, char *err, size_t errlen);
/* Records this worker pushed so far (all its processes: kept in the control file). */
uint64_t stage_records_out(const struct stage *st);

/* Detach.  Ends every output stream only after a normal end (stage_next
 * returned 0 because the inputs ended; for a source: it was not stopped);
 * otherwise leaves them open and reports "stopped", so pipectl restarts the
 * worker.  An uncommitted record is NOT committed.  Returns 0.  On a fatal
 * error a stage may also just exit non-zero without calling it. */
int stage_close(struct stage *st);

#endif /* TCGL_STAGE_H */
