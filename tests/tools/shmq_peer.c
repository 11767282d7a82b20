/* shmq_peer — a real producer or consumer process for the queue tests.
 *
 *   shmq_peer produce QUEUE N [PAYLOAD_BYTES [BATCH]]
 *       push TEST_SEQ records seq 0..N-1 (N = 0: forever), then end the stream.
 *   shmq_peer create QUEUE CAPACITY [drop]
 *       create the queue file (drop: drop-when-full edge).
 *   shmq_peer consume QUEUE OUTFILE [COMMIT_EVERY]
 *       peek batches, append each record's seq (8 bytes LE) to OUTFILE (the
 *       record's "effect"), then commit (every COMMIT_EVERY batches, default 1); exits 0 at end of stream, 3 when
 *       the producer died, 2 on a bad record or queue error.
 *
 * The consumer writes its effects before committing, as every stage does,
 * so a SIGKILL at any point can repeat records but never lose one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "records.h"
#include "shmq.h"

static int produce(const char *path, uint64_t n, size_t payload, int batch)
{
    struct shmq *q = shmq_open(path, SHMQ_PRODUCER);
    if (!q) { log_error("%s", shmq_last_error()); return 2; }
    struct rec_buf b;
    rec_buf_init(&b);
    uint8_t *pl = calloc(1, payload ? payload : 1);
    struct rec_test_seq r = { 0, { pl, (uint32_t)payload } };
    struct rec_error err;
    int inbatch = 0;
    for (uint64_t seq = 0; n == 0 || seq < n; seq++) {
        r.seq = seq;
        if (payload >= 8) memcpy(pl, &seq, 8);
        rec_buf_reset(&b);
        if (rec_encode_test_seq(&b, &r, &err) < 0) { log_error("%s", err.msg); return 2; }
        int st;
        void *p = shmq_reserve(q, b.len, -1, &st);
        while (!p && st == SHMQ_PEER_DEAD) p = shmq_reserve(q, b.len, -1, &st);   /* wait for a restarted consumer */
        if (!p) { log_error("push %llu: %s: %s", (unsigned long long)seq, shmq_status_str(st), shmq_last_error()); return 2; }
        memcpy(p, b.data, b.len);
        shmq_submit(q, b.len);
        if (++inbatch >= batch) { shmq_flush(q); inbatch = 0; }
    }
    shmq_end(q);
    shmq_close(q);
    rec_buf_free(&b);
    free(pl);
    return 0;
}

static int consume(const char *path, const char *outfile, int commit_every)
{
    struct shmq *q = shmq_open(path, SHMQ_CONSUMER);
    if (!q) { log_error("%s", shmq_last_error()); return 2; }
    int fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) { log_error("%s: %s", outfile, strerror(errno)); return 2; }
    struct rec_arena a;
    rec_arena_init(&a);
    struct shmq_msg m[64];
    uint64_t seqs[64];
    long batches = 0;
    if (commit_every < 1) commit_every = 1;
    for (;;) {
        int n = shmq_peek_batch(q, m, 64, -1);
        if (n == SHMQ_EOS) { shmq_commit(q); break; }
        if (n == SHMQ_PEER_DEAD) { log_error("%s", shmq_last_error()); return 3; }
        if (n < 0) { log_error("peek: %s: %s", shmq_status_str(n), shmq_last_error()); return 2; }
        for (int i = 0; i < n; i++) {
            struct rec r;
            struct rec_error err;
            if (rec_decode(m[i].data, m[i].len, &r, &a, &err) != REC_TEST_SEQ) { log_error("%s", err.msg); return 2; }
            seqs[i] = r.u.test_seq.seq;
        }
        rec_arena_reset(&a);
        size_t want = (size_t)n * 8;
        if (write(fd, seqs, want) != (ssize_t)want) { log_error("%s: short write", outfile); return 2; }
        if (++batches % commit_every == 0) shmq_commit(q);
    }
    close(fd);
    rec_arena_free(&a);
    shmq_close(q);
    return 0;
}

int main(int argc, char **argv)
{
    log_set_ident("shmq_peer", -1);
    if (argc >= 4 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], strtoull(argv[3], NULL, 0), argc > 4 ? strtoull(argv[4], NULL, 0) : 8,
                       argc > 5 ? atoi(argv[5]) : 32);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "consume") == 0) return consume(argv[2], argv[3], argc == 5 ? atoi(argv[4]) : 1);
    if (argc >= 4 && strcmp(argv[1], "create") == 0) {
        if (shmq_create(argv[2], strtoull(argv[3], NULL, 0), argc > 4 && strcmp(argv[4], "drop") == 0 ? SHMQ_DROP_WHEN_FULL : 0) < 0) {
            log_error("%s", shmq_last_error());
            return 2;
        }
        return 0;
    }
    fprintf(stderr, "usage: shmq_peer create QUEUE CAPACITY [drop] | produce QUEUE N [PAYLOAD [BATCH]] | consume QUEUE OUTFILE [COMMIT_EVERY]\n");
    return 64;
}
