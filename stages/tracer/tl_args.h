/* tl_args.h — the arguments of trace_logger.so (QEMU `-plugin FILE,k=v,...`).
 *
 * Parsed by a plain function (no QEMU dependency) so unit tests and the
 * launcher check them the same way the plugin does.  docs/tracer.md lists
 * every argument; tl_args_usage() prints the same list.
 */
#ifndef TCGL_TL_ARGS_H
#define TCGL_TL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tl_mode { TL_MODE_BLOCK, TL_MODE_INSN };
enum tl_insn_format { TL_INSN_COMPACT, TL_INSN_LITERAL };
enum tl_filter { TL_FILTER_ALL, TL_FILTER_USER, TL_FILTER_KERNEL };

#define TL_MAX_RANGES 16
/* sample_every's bound: the plugin keeps 32-bit countdowns per TB and vCPU. */
#define TL_SAMPLE_EVERY_MAX (1u << 31)
#define TL_QUEUE_NAME_MAX 200

struct tl_range { uint64_t lo, hi; };   /* [lo, hi) */

struct tl_args {
    char queue[TL_QUEUE_NAME_MAX];     /* shm path, e.g. /dev/shm/qemu_trace_vm1 */
    uint64_t queue_size;               /* bytes, used when the plugin creates the queue */
    enum tl_mode mode;
    enum tl_insn_format insn_format;   /* instruction mode: TRACE_INSNS (compact) or TRACE_INSN per instruction */
    uint64_t sample_first;             /* K: the first K executions of each TB are sampled */
    uint64_t sample_every;             /* N: then every Nth (0: none after the first K) */
    enum tl_filter filter;
    struct tl_range ranges[TL_MAX_RANGES];
    int nranges;                       /* 0: no address restriction */
    bool drop;                         /* overflow=drop: count and drop on a full queue */
    bool timestamps;                   /* per-entry dt_us in TRACE_EXEC */
    uint32_t ts_every;                 /* the TSC is read at every Nth block entry (power of 2, 1..256) */
    bool mem;                          /* memory accesses in samples / insn records */
    bool check;                        /* block mode: check the shortcuts (memory callbacks on every
                                          instruction, every post state read in full) and count misses */
    uint32_t batch;                    /* TRACE_EXEC entries per record (<= 65536) */
    uint32_t flush_us;                 /* a partial batch is sent after this long */
    bool abs_time;                     /* timestamps = CLOCK_MONOTONIC µs instead of since start */
};

void tl_args_default(struct tl_args *a);
/* Parse argv[0..argc) ("key=value" each).  Returns 0, or -1 with a message
 * naming the argument and what was expected in err. */
int tl_args_parse(struct tl_args *a, int argc, char **argv, char *err, size_t errlen);
/* Whether a TB at `pc` translated at privilege level `cpl` is traced. */
bool tl_args_want(const struct tl_args *a, uint64_t pc, int cpl);
/* The argument list, one per line. */
const char *tl_args_usage(void);

#endif /* TCGL_TL_ARGS_H */
