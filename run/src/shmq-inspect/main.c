/* shmq-inspect — look at a live queue without disturbing it (see --help). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "records.h"
#include "shmq.h"

static const char usage[] =
    "usage: shmq-inspect [--dump [N]] QUEUE...\n"
    "       shmq-inspect --records-doc\n"
    "\n"
    "Show the state of shared-memory queues (common/shmq.h) without changing them:\n"
    "capacity, fill, the three cursors (published tail, committed head, the\n"
    "consumer's peek position), the counters kept in the header (records and bytes\n"
    "in and out, drops, corrupt frames), end of stream, and both peers (pid, alive\n"
    "or dead, whether waiting on the doorbell, how often attached).\n"
    "\n"
    "QUEUE is a path, or a name under /dev/shm.  The queue is opened read-only as\n"
    "an observer: it registers nothing and moves no cursor.\n"
    "\n"
    "  --dump [N]      also print the first N (default 20, 0 = all) records that\n"
    "                  are not yet committed, one per line, decoded as text with the\n"
    "                  record table (common/records.h); a record that does not\n"
    "                  decode is shown with the decoder's message.\n"
    "  --records-doc   print docs/records.md (generated from the record table).\n"
    "  -h, --help      this text.\n"
    "\n"
    "Exit status: 0 fine, 1 a queue could not be opened or is corrupt, 2 usage.\n";

struct dump_ctx {
    long limit, shown;
    struct rec_arena arena;
};

static bool dump_one(const void *data, uint32_t len, uint64_t pos, void *vctx)
{
    struct dump_ctx *c = vctx;
    struct rec r;
    struct rec_error err;
    printf("  @%llu %u B: ", (unsigned long long)pos, len);
    if (rec_decode(data, len, &r, &c->arena, &err) < 0) printf("undecodable record: %s\n", err.msg);
    else {
        rec_format(stdout, &r);
        putchar('\n');
    }
    rec_arena_reset(&c->arena);
    c->shown++;
    return c->limit == 0 || c->shown < c->limit;
}

static bool count_one(const void *data, uint32_t len, uint64_t pos, void *vctx)
{
    (void)data; (void)len; (void)pos;
    (*(uint64_t *)vctx)++;
    return true;
}

static void show_peer(const char *role, int32_t pid, enum shmq_peer_state st, uint32_t waiting, uint64_t attaches)
{
    if (pid) printf("  %s: pid %d %s%s, attached %llu time%s\n", role, (int)pid, shmq_peer_state_str(st),
                    waiting ? ", waiting on doorbell" : "", (unsigned long long)attaches, attaches == 1 ? "" : "s");
    else printf("  %s: none attached (attached %llu time%s before)\n", role, (unsigned long long)attaches, attaches == 1 ? "" : "s");
}

static int inspect(const char *path, bool dump, long limit)
{
    struct shmq *q = shmq_open(path, SHMQ_OBSERVER);
    if (!q) {
        log_error("%s", shmq_last_error());
        return 1;
    }
    struct shmq_info in;
    shmq_info(q, &in);
    uint64_t pending = 0;
    int scanned = shmq_scan(q, count_one, &pending);
    uint64_t fill = in.tail - in.head;
    printf("queue %s\n", shmq_path(q));
    printf("  layout version %u, capacity %llu B, max record %llu B, when full: %s\n", in.layout_version,
           (unsigned long long)in.capacity, (unsigned long long)in.max_record, in.flags & SHMQ_DROP_WHEN_FULL ? "drop" : "wait");
    printf("  fill %llu B (%.1f%%), %s%llu uncommitted record%s\n", (unsigned long long)fill,
           100.0 * (double)fill / (double)in.capacity, scanned < 0 ? "≥ " : "", (unsigned long long)pending, pending == 1 ? "" : "s");
    printf("  cursors: tail %llu (published), head %llu (committed), read %llu (peeked)\n", (unsigned long long)in.tail,
           (unsigned long long)in.head, (unsigned long long)in.read_pos);
    printf("  records in %llu, out %llu; bytes in %llu, out %llu; drops %llu; corrupt frames %llu\n",
           (unsigned long long)in.records_in, (unsigned long long)in.records_out, (unsigned long long)in.bytes_in,
           (unsigned long long)in.bytes_out, (unsigned long long)in.drops, (unsigned long long)in.corrupt);
    printf("  end of stream: %s\n", in.eos ? "yes" : "no");
    show_peer("producer", in.producer_pid, in.producer, in.producer_waiting, in.producer_attaches);
    show_peer("consumer", in.consumer_pid, in.consumer, in.consumer_waiting, in.consumer_attaches);
    int rc = 0;
    if (scanned < 0) {
        printf("  CORRUPT: %s\n", shmq_last_error());
        rc = 1;
    }
    if (dump) {
        struct dump_ctx c = { limit, 0, { 0 } };
        rec_arena_init(&c.arena);
        printf("  records from the committed cursor:\n");
        if (shmq_scan(q, dump_one, &c) < 0) {
            printf("  CORRUPT: %s\n", shmq_last_error());
            rc = 1;
        }
        rec_arena_free(&c.arena);
    }
    shmq_close(q);
    return rc;
}

int main(int argc, char **argv)
{
    log_set_ident("shmq-inspect", -1);
    bool dump = false;
    long limit = 20;
    static const struct option opts[] = {
        { "dump", no_argument, NULL, 'd' },
        { "records-doc", no_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            dump = true;
            /* optional count: "--dump 5" (a bare number that is not a queue path) */
            if (optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9' && !strchr(argv[optind], '/')) {
                char *end;
                long n = strtol(argv[optind], &end, 10);
                if (*end == 0 && n >= 0) { limit = n; optind++; }
            }
            break;
        case 'r': rec_write_markdown(stdout); return 0;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    int rc = 0;
    for (int i = optind; i < argc; i++)
        if (inspect(argv[i], dump, limit)) rc = 1;
    return rc;
}
