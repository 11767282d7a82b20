/* shmq.h — single-producer single-consumer queue in a /dev/shm file.
 *
 * One queue per pipeline edge.  The file (mode 0600) holds a 4 KiB header
 * and a power-of-two ring of `capacity` bytes.  Records are variable-length
 * frames [len u32, tag u32, payload, pad to 8] that never split across the
 * end of the ring: a frame that does not fit before the end is preceded by a
 * WRAP marker and starts at offset 0.  Positions are 64-bit byte counters
 * that only grow (index = pos & (capacity-1)), so full and empty never look
 * alike.  See docs/queue.md for the layout.
 *
 * Guarantees
 * - Order: records arrive in the order they were pushed.
 * - At-least-once: the consumer PEEKS records (they stay in the ring), does
 *   their effects (e.g. pushes its own output and flushes it), then COMMITS.
 *   The committed cursor lives in the shm header; a consumer killed with
 *   SIGKILL and restarted resumes at the first uncommitted record, so a
 *   record may be seen twice but is never lost.  Stages tolerate repeats.
 * - Lossless by default: a producer waits while the ring is full.  An edge
 *   created with SHMQ_DROP_WHEN_FULL drops instead and counts every drop in
 *   the header (`drops`).
 * - Liveness: each side registers pid + process start time in the header;
 *   a waiting side checks the other every SHMQ_LIVENESS_MS and returns
 *   SHMQ_PEER_DEAD instead of waiting forever on a dead (or zombie) peer.
 *   A peer that never attached (pid 0) is waited for, not reported.
 * - End of stream: the producer's shmq_end() marks it; the consumer gets
 *   SHMQ_EOS once everything before it has been peeked.
 *
 * Waiting costs no syscall when the other side keeps up: each side spins
 * briefly on the peer's index, then raises a waiter flag and sleeps on a
 * futex "doorbell" word in the header; the other side rings (futex wake)
 * only when it sees the flag.  A stage with several inputs uses
 * shmq_consumer_arm() through evloop.h to wait on all doorbells at once.
 *
 * Producer:
 *     struct shmq *q = shmq_open("/dev/shm/tcgl.cfg.in", SHMQ_PRODUCER);
 *     shmq_push(q, buf, len, -1);                 // waits while full
 *     ... or zero-copy / batched:
 *     void *p = shmq_reserve(q, maxlen, -1, &st); // room for up to maxlen
 *     shmq_submit(q, used);  ...  shmq_flush(q);  // publish many at once
 *     shmq_end(q); shmq_close(q);
 * Consumer:
 *     struct shmq_msg m[64];
 *     int n = shmq_peek_batch(q, m, 64, -1);      // n >= 1, or a status < 0
 *     for (i..n) handle(m[i].data, m[i].len);     // data points into the ring
 *     shmq_commit(q);                             // only after the effects
 *
 * One process (thread) per side: the API is not thread-safe within a side.
 */
#ifndef TCGL_SHMQ_H
#define TCGL_SHMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define SHMQ_MAGIC          0x514d48534c474354ull  /* "TCGLSHMQ" little-endian */
#define SHMQ_LAYOUT_VERSION 1u
#define SHMQ_HEADER_SIZE    4096u
#define SHMQ_MIN_CAPACITY   4096u
#define SHMQ_MAX_CAPACITY   (1ull << 34)
#define SHMQ_FRAME_HDR      8u
#define SHMQ_LIVENESS_MS    50          /* how often a sleeping side checks its peer */

/* Flags given to shmq_create (stored in the header). */
#define SHMQ_DROP_WHEN_FULL 0x1u

/* Status codes (negative); 0 is success. */
enum shmq_status {
    SHMQ_OK = 0,
    SHMQ_AGAIN = -1,       /* nothing to read / no room, and the timeout passed */
    SHMQ_DROPPED = -2,     /* drop-when-full edge: the record was dropped (and counted) */
    SHMQ_EOS = -3,         /* consumer: the producer ended the stream and all records were peeked */
    SHMQ_PEER_DEAD = -4,   /* the other side's process died (see shmq_peer_state) */
    SHMQ_TOO_BIG = -5,     /* record larger than shmq_max_record() */
    SHMQ_CORRUPT = -6,     /* a frame or the header is inconsistent (message in shmq_last_error) */
    SHMQ_ERROR = -7,       /* system error (errno, message in shmq_last_error) */
};
const char *shmq_status_str(int status);

enum shmq_role { SHMQ_PRODUCER, SHMQ_CONSUMER, SHMQ_OBSERVER /* inspect only: registers nothing */ };
enum shmq_peer_state { SHMQ_PEER_NONE, SHMQ_PEER_ALIVE, SHMQ_PEER_GONE /* dead or zombie */ };

struct shmq;

/* One peeked record: data points into the ring and stays valid until it is
 * committed (or the queue is closed). */
struct shmq_msg {
    const void *data;
    uint32_t len;
    uint64_t pos;          /* ring position of the frame */
    uint64_t end;          /* position after it (what committing it stores) */
};

/* What shmq-inspect shows; all values read from the header. */
struct shmq_info {
    uint64_t capacity, max_record;
    uint32_t flags, layout_version;
    uint64_t tail, head, read_pos;   /* published write, committed read, consumer's peek position */
    uint64_t records_in, bytes_in, records_out, bytes_out, drops, corrupt;
    bool eos;
    int32_t producer_pid, consumer_pid;
    enum shmq_peer_state producer, consumer;
    uint32_t producer_waiting, consumer_waiting;
    uint64_t producer_attaches, consumer_attaches;
};

/* Path rule for every call: a name without '/' means /dev/shm/NAME. */

/* Create a new queue file (O_EXCL, mode 0600).  capacity is rounded up to a
 * power of two (>= SHMQ_MIN_CAPACITY).  Returns 0, or -1 with errno and
 * shmq_last_error() set. */
int shmq_create(const char *path, uint64_t capacity, uint32_t flags);
/* Remove the file (shm_unlink-like); 0 or -1. */
int shmq_unlink(const char *path);

/* Attach as producer, consumer or observer.  Validates magic, layout version,
 * header size and capacity against the file size, refusing anything else.
 * Refuses (EBUSY) a role whose registered process is still alive.  A new
 * producer continues after the last published record (anything a dead
 * producer wrote but had not flushed is gone: its input was not committed
 * either) and clears a previous end-of-stream mark; a new consumer starts
 * at the committed cursor.  Returns NULL with errno and shmq_last_error(). */
struct shmq *shmq_open(const char *path, enum shmq_role role);
/* Detach: flushes a producer, unregisters the role.  Does NOT end the stream. */
void shmq_close(struct shmq *q);

/* ---- producer ---- */
/* Copy one record in and publish it.  timeout_ms: < 0 waits as long as the
 * consumer lives (or has not attached yet), 0 never waits.  Returns SHMQ_OK,
 * SHMQ_DROPPED, SHMQ_AGAIN, SHMQ_PEER_DEAD, SHMQ_TOO_BIG. */
int shmq_push(struct shmq *q, const void *data, size_t len, int timeout_ms);
/* Push n records and publish them together (one doorbell check).  Returns the
 * number pushed (== n on success) or, if none could be pushed, a status. */
int shmq_push_batch(struct shmq *q, const struct iovec *recs, int n, int timeout_ms);
/* Zero-copy: room for up to maxlen bytes; write the record there, then
 * shmq_submit(used <= maxlen).  Submitted records become visible at
 * shmq_flush() (or at the next shmq_push).  NULL with *status on failure. */
void *shmq_reserve(struct shmq *q, size_t maxlen, int timeout_ms, int *status);
void shmq_submit(struct shmq *q, size_t used);
void shmq_flush(struct shmq *q);
/* Mark end of stream (after flushing) and wake the consumer. */
void shmq_end(struct shmq *q);
/* Map the whole queue into this process now, writable for the producer,
 * readable for the consumer, instead of page by page on first use.  Each
 * first touch of a page costs a page fault in the hot path: in a VM, 5-20
 * µs each, so a 16 MiB trace ring's first pass held QEMU for about 2 ms per
 * 512 KiB record.  Returns 0, or -1 (errno set) when the kernel refused:
 * nothing is lost, the pages then fault in on use. */
int shmq_populate(struct shmq *q);
/* Largest record this queue accepts (capacity / 4 - frame header). */
size_t shmq_max_record(const struct shmq *q);
/* How many pause iterations a side spins on the peer's index before it
 * sleeps on the doorbell (default 2048, a few to ~30 µs; environment
 * TCGL_SHMQ_SPIN overrides at open).  0: sleep at once (saves CPU on a
 * crowded machine, costs a wake-up syscall per hop). */
void shmq_set_spin(struct shmq *q, int iterations);

/* ---- consumer ---- */
/* Patience: a consumer that sleeps at most `us` microseconds at a time
 * instead of asking the producer to wake it.  While it sleeps so, the
 * producer rings only once a quarter of the ring waits unconsumed (and at
 * the end of the stream), so a producer that publishes small batches often
 * pays no wake-up syscall per batch; records wait up to `us` longer.  Worth
 * it where a cross-CPU wake-up is expensive (20-40 µs of the producer's
 * time in a VM) and the producer is the bottleneck, as QEMU is for the
 * trace queue.  A patient consumer that found nothing for 50 ms asks for
 * the ring again until a record arrives (SHMQ_PATIENCE_IDLE_MS), so an
 * idle queue does not wake it every `us`.  0 (default): the producer rings
 * at every publish.  Honoured by shmq_peek and by
 * shmq_consumer_arm_patient's callers; plain shmq_consumer_arm always asks
 * for the ring. */
void shmq_set_patience(struct shmq *q, int us);
#define SHMQ_PATIENCE_IDLE_MS 50
/* The patience of the trace queue's consumers (trace_reader, the cfg
 * stage): QEMU publishes a batch every few ms and a wake-up costs its vCPU
 * thread 20-40 µs in a VM; 200 µs more lag is far below a batch's own age. */
#define SHMQ_TRACE_PATIENCE_US 200
int shmq_patience(const struct shmq *q);
/* A patient consumer's sleeps that ended more than SHMQ_LATE_WAKEUP_US
 * after their time-out (shmq_peek), and the longest such overrun: the
 * machine did not run this process when due, so records waited that much
 * longer.  Tells a consumer's lag tail caused by the host apart from one it
 * caused itself. */
#define SHMQ_LATE_WAKEUP_US 1000
void shmq_late_wakeups(const struct shmq *q, uint64_t *count, uint64_t *max_overrun_us);

/* Next record after the last peeked one.  timeout_ms as for push.  Returns
 * SHMQ_OK, SHMQ_AGAIN, SHMQ_EOS, SHMQ_PEER_DEAD (producer died and nothing is
 * left), SHMQ_CORRUPT. */
int shmq_peek(struct shmq *q, struct shmq_msg *m, int timeout_ms);
/* Up to max records; waits (as peek) only for the first.  Returns n >= 1 or a status. */
int shmq_peek_batch(struct shmq *q, struct shmq_msg *m, int max, int timeout_ms);
/* Commit every peeked record / every record up to and including m. */
void shmq_commit(struct shmq *q);
void shmq_commit_through(struct shmq *q, const struct shmq_msg *m);
/* Forget uncommitted peeks: the next peek returns the first uncommitted record. */
void shmq_rewind(struct shmq *q);
/* Number of peeked, uncommitted records. */
uint64_t shmq_uncommitted(const struct shmq *q);

/* For event loops (evloop.h): prepare to sleep on the consumer doorbell.
 * Returns 1 when there is something to do now (a record, end of stream, a
 * corrupt frame: call shmq_peek), else 0 after raising the waiter flag: then
 * sleep while *word == val (futex), and call shmq_peek when woken. */
int shmq_consumer_arm(struct shmq *q, const uint32_t **word, uint32_t *val);
/* The same, for a caller that honours the queue's patience: when it returns
 * 0 and *sleep_us >= 0, sleep at most *sleep_us microseconds (the producer
 * may not ring); *sleep_us < 0: no limit beyond the caller's own. */
int shmq_consumer_arm_patient(struct shmq *q, const uint32_t **word, uint32_t *val, int64_t *sleep_us);

/* ---- both ---- */
/* Bytes published but not yet committed (frames, headers and padding
 * included): a cheap load measure for least-loaded fan-out. */
uint64_t shmq_fill_bytes(const struct shmq *q);
uint64_t shmq_capacity(const struct shmq *q);
enum shmq_peer_state shmq_peer_state(const struct shmq *q);   /* the OTHER side */
void shmq_info(const struct shmq *q, struct shmq_info *out);
const char *shmq_path(const struct shmq *q);
const char *shmq_peer_state_str(enum shmq_peer_state s);
/* Observer only: walk the records between the committed cursor and the
 * published tail without consuming them; returns how many were visited, or
 * SHMQ_CORRUPT.  fn returns false to stop. */
int shmq_scan(const struct shmq *q, bool (*fn)(const void *data, uint32_t len, uint64_t pos, void *ctx), void *ctx);

/* The last error message of this thread (open/create/corrupt). */
const char *shmq_last_error(void);

#endif /* TCGL_SHMQ_H */
