/* trace_logger.c — the QEMU 10 TCG plugin (plugin API v4) that feeds the
 * pipeline: it writes msgpack records (common/records.h) into the shm SPSC
 * queue /dev/shm/qemu_trace_{vm_id}.
 *
 * Block mode (default), per translated TB that passes the filters:
 *   - at translation: one TRACE_TB (pc, bytes, QEMU's instruction lengths,
 *     Zydis disassembly, cpu mode, cpl);
 *   - one exec callback whose user data is the TB id and instruction count
 *     (it touches no per-TB structure unless it samples).  In this order it
 *     ends a sample in flight (reads its post state, sends the TRACE_SAMPLE),
 *     adds the TB's instructions to the vCPU's count, appends the id and a
 *     TSC-derived µs offset to a per-vCPU buffer (flushed as TRACE_EXEC on
 *     size or age), and counts down the TB's sample schedule (a dense
 *     per-vCPU array, see sample_left): at 0 it takes a sample (reads the
 *     pre state, arms the memory callbacks of this vCPU).  Doing all of
 *     this in the one call that block mode needs anyway is cheaper than
 *     QEMU's inline operations and conditional callbacks: those are
 *     generated into every TB and run at every execution (measured: 0.2 s
 *     of a 6.5 s traced boot);
 *   - a NO_REGS memory callback on each instruction that may access memory
 *     (tl_insn_may_access_memory), returning at once unless the vCPU is
 *     sampling (QEMU 10 has no conditional memory callback).
 * A TB outside the filters gets a conditional callback that ends a sample
 * in flight, and an inline store that makes the next traced TB read the
 * clock afresh.  So an unsampled execution costs one small helper call and
 * one helper call per memory access.  A sample's post state is its pre
 * state with the TB's write set read again.
 * check=on verifies both shortcuts (memory classes, partial register reads)
 * against the full answer and counts the misses.
 *
 * Instruction mode: a R_REGS callback per instruction reads the registers
 * that may have changed.  insn_format=compact (default) appends the
 * instruction to the vCPU's TRACE_INSNS batch (tl_insns.h: register deltas,
 * memory accesses, static facts by reference to the TRACE_TB), sent every
 * 4096 instructions, 256 KiB or flush_us; insn_format=literal sends one
 * TRACE_INSN per instruction (with the memory accesses it made) when the
 * vCPU reaches its next instruction.
 *
 * Registers are read through qemu_plugin_read_register (gdbstub layout:
 * rax rbx rcx rdx rsi rdi rbp rsp r8..r15 rip eflags ... fs_base gs_base ...
 * cr0 ... efer) and stored in struct x86_regs (hardware order).
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <qemu-plugin.h>

#include "records.h"
#include "shmq.h"
#include "tl_args.h"
#include "tl_decode.h"
#include "tl_insns.h"
#include "x86_state.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* ---- registers -------------------------------------------------------------- */

/* Index into struct x86_regs viewed as uint64_t[20], by gdb register name. */
static const struct { const char *name; int slot; } reg_names[] = {
    {"rax", 0}, {"rcx", 1}, {"rdx", 2}, {"rbx", 3}, {"rsp", 4}, {"rbp", 5}, {"rsi", 6}, {"rdi", 7},
    {"r8", 8}, {"r9", 9}, {"r10", 10}, {"r11", 11}, {"r12", 12}, {"r13", 13}, {"r14", 14}, {"r15", 15},
    {"rip", 16}, {"eflags", 17}, {"fs_base", 18}, {"gs_base", 19},
};
#define NREG_SLOTS 20

struct reg_handles {
    struct qemu_plugin_register *slot[NREG_SLOTS];
    struct qemu_plugin_register *cr0, *efer, *cs;
};

/* ---- per TB, per vCPU ---------------------------------------------------------- */

struct tb_sched {             /* one per vCPU, per TB; touched only when a sample is taken */
    uint64_t next_sample;     /* exec_seq of the next sampled execution */
};

struct tl_insn {              /* instruction mode: static facts of one instruction */
    uint64_t pc;
    uint32_t tb_id;           /* its TB's id (insn_format=compact refers to it) */
    uint32_t writes;          /* x86_regs words to read again after it (tl_insn_reread) */
    uint16_t idx;             /* position in its TB */
    uint8_t len;
    uint8_t bytes[15];
    uint8_t disasm_len;
    char disasm[TL_DISASM_MAX];
};

struct tl_tb {
    /* Nothing here is touched by an unsampled block-mode execution: the
     * exec callback gets the id as its user data, and the countdown lives
     * in a dense per-vCPU array (struct tb_chunk).  (A per-TB cache line read at every execution
     * was the plugin's largest cost: 5 MB of TBs do not stay in cache.) */
    uint32_t id;
    uint32_t ninsns;
    struct tl_tb *same_pc;    /* the next TB in tb_by_pc's chain for this pc */
    struct tb_sched *sched;   /* [max_vcpus]; &s0 when there is one vCPU */
    struct tb_sched s0;
    uint64_t pc;
    struct tl_insn *insns;    /* instruction mode only */
    uint8_t *may_mem;         /* block mode with mem=on: per instruction, tl_insn_may_access_memory */
    uint32_t writes;          /* block mode: x86_regs words its instructions may write (tl_insn_writes) */
    uint32_t code_len;
    uint8_t code[];           /* for matching a retranslation */
};

/* Flags the conditional callbacks and inline operations of untraced TBs
 * use (a scoreboard: one per vCPU). */
struct vcpu_flags {
    uint64_t post_pending;    /* a sample is in flight */
    uint64_t left_traced;     /* an untraced TB ran since the last traced one (inline store) */
};

/* TBs by id, in chunks of TL_ID_CHUNK ids (made as ids reach them): the TB
 * and, for each vCPU, the executions to let pass before its next sampled
 * one.  The exec callback reads only the latter: 4 dense bytes per TB and
 * vCPU, not a cache line of the TB's structure (81 k TBs of a boot do not
 * stay in cache). */
#define TL_ID_CHUNK 65536u
#define TL_NEVER UINT32_MAX               /* "no more samples": reaches 0 only every 2^32 executions */
struct tb_chunk {
    struct tl_tb *tb[TL_ID_CHUNK];
    uint32_t left[];          /* [vcpu * TL_ID_CHUNK + id % TL_ID_CHUNK] */
};

enum { SLOW_SAMPLING = 1, SLOW_CLOCK = 2 };

struct vcpu_state {
    /* block stream */
    uint32_t *ids, *dts;
    uint32_t n;
    uint32_t dt;              /* µs offset of the last TSC reading from t0 */
    uint64_t t0_us, t0_tsc;
    struct vcpu_flags *flags; /* this vCPU's scoreboard entry (refreshed at every vCPU init) */
    /* on_tb_exec's reasons for its slow path, in one byte it tests:
     * SLOW_SAMPLING = flags->post_pending (without the extra load),
     * SLOW_CLOCK = a translation ran on this vCPU since its last clock reading. */
    uint8_t slow;
    /* sample in flight */
    bool mem_active;
    struct tl_tb *sample_tb;
    uint64_t sample_seq;
    struct x86_regs pre;
    struct x86_regs post;     /* the last post state read ... */
    uint64_t post_at_block;   /* ... valid for the pre state while blocks + n == post_at_block (0: never) */
    struct x86_mem_access *mem;
    uint32_t nmem;
    uint64_t mem_truncated;
    /* instruction mode: the instruction in flight */
    const struct tl_insn *insn;
    uint64_t insn_ts;
    uint64_t ts_base_us, ts_base_tsc, ts_last_us;   /* vcpu_now_us's anchor */
    uint64_t pub_tsc, unpub_bytes;                  /* TRACE_INSN records not yet published */
    struct tl_pack *pack;                           /* insn_format=compact: the TRACE_INSNS being built */
    /* counters (block mode: blocks counts the entries flushed; insns is in flags) */
    uint64_t insns, blocks, samples;
    GByteArray *regbuf;
    struct rec_buf rb;
} __attribute__((aligned(64)));

/* ---- global state ---------------------------------------------------------------- */

static struct tl_args args;
static struct shmq *queue;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t tb_lock = PTHREAD_MUTEX_INITIALIZER;
static GHashTable *tb_by_pc;          /* &pc -> struct tl_tb * (chained by same_pc), under tb_lock */
static uint32_t next_tb_id = 1;
static int max_vcpus = 1;
static struct vcpu_state *vcpus;
static struct qemu_plugin_scoreboard *flags_sb;
/* [id / TL_ID_CHUNK]: every u32 id has a slot, so the table never moves;
 * a slot and its entries are set under tb_lock before the TB exists for
 * QEMU, and read without the lock by the vCPUs executing it. */
static struct tb_chunk *tb_chunks[(UINT64_C(1) << 32) / TL_ID_CHUNK];
/* Set (under tb_lock, before QEMU runs it) when a TB is left untraced: only
 * then can left_traced be raised, and only then does on_tb_exec load it. */
static _Atomic bool any_untraced;
static struct reg_handles regs;
static bool regs_found;
static uint64_t start_us, tsc_start;
static double us_per_tsc;
static uint64_t flush_tsc, tsc_to_us_mult;
static uint32_t tsc_mask;             /* the TSC is read when (entry index & tsc_mask) == 0 */
static _Atomic uint64_t dropped, drop_bytes, tbs_sent, mode_unconfirmed, encode_errors, tbs_too_big;
static _Atomic uint64_t mem_misclassified;   /* check=on: accesses by instructions classified as making none */
static struct rec_buf trans_rb;        /* under tb_lock */
static struct tl_mode_memory mode_memory;  /* under tb_lock */
static _Atomic bool push_error_said;
static size_t pack_max_bytes;          /* insn_format=compact: largest TRACE_INSNS */

static uint64_t now_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t trace_us(uint64_t mono_us)
{
    return args.abs_time ? mono_us : mono_us - start_us;
}

/* TSC ticks → µs, calibrated at install against CLOCK_MONOTONIC. */
static void calibrate_tsc(void)
{
    uint64_t m0 = now_mono_us(), c0 = __rdtsc();
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    uint64_t m1 = now_mono_us(), c1 = __rdtsc();
    us_per_tsc = (c1 > c0 && m1 > m0) ? (double)(m1 - m0) / (double)(c1 - c0) : 1e-3;
    flush_tsc = (uint64_t)((double)args.flush_us / us_per_tsc);
    /* µs = ticks * mult >> 32; a batch spans at most flush_us, far from overflow. */
    tsc_to_us_mult = (uint64_t)(us_per_tsc * 4294967296.0);
}

/* The queue is one SPSC ring: vCPU threads push under queue_lock.  With one
 * vCPU every push from a vCPU callback comes from that vCPU's thread (the
 * translation, idle and exec callbacks all run there), so the lock is
 * skipped; the exit callback runs after the vCPUs stopped and locks. */
static void queue_lock_vcpu(void)
{
    if (max_vcpus > 1) pthread_mutex_lock(&queue_lock);
}

static void queue_unlock_vcpu(void)
{
    if (max_vcpus > 1) pthread_mutex_unlock(&queue_lock);
}

/* Trace time (µs) from a TSC reading: CLOCK_MONOTONIC read at most every
 * flush_us, the TSC in between; never decreasing. */
static uint64_t vcpu_now_us(struct vcpu_state *v, uint64_t tsc)
{
    uint64_t us;
    if (tsc - v->ts_base_tsc > flush_tsc) {
        /* a new anchor: the clock and a TSC reading taken together (`tsc`
         * may be older: a send can have run since, and offsets from it
         * would run ahead of real time) */
        v->ts_base_us = us = trace_us(now_mono_us());
        v->ts_base_tsc = __rdtsc();
    } else {
        us = v->ts_base_us + (((tsc - v->ts_base_tsc) * tsc_to_us_mult) >> 32);
    }
    if (us < v->ts_last_us) us = v->ts_last_us;
    return v->ts_last_us = us;
}

/* ---- the queue --------------------------------------------------------------------- */

static void encode_failed(const char *what, const struct rec_error *err)
{
    if (atomic_fetch_add(&encode_errors, 1) < 10) {
        char line[400];
        snprintf(line, sizeof line, "trace_logger: cannot encode %s: %s\n", what, err->msg);
        qemu_plugin_outs(line);
    }
}

/* A record that did not go in is counted, and the reason said once. */
static void push_failed(int rc, size_t len)
{
    atomic_fetch_add(&dropped, 1);
    atomic_fetch_add(&drop_bytes, len);
    if (rc != SHMQ_DROPPED && rc != SHMQ_AGAIN && !atomic_exchange(&push_error_said, true)) {
        char line[300];
        snprintf(line, sizeof line, "trace_logger: queue %s: %s; records are dropped from now on\n",
                 args.queue, shmq_status_str(rc));
        qemu_plugin_outs(line);
    }
}

/* publish: make it (and every record written before it) visible to the
 * consumer now.  TRACE_TB and TRACE_SAMPLE records are written without
 * publishing: the next TRACE_EXEC batch (sent at least every flush_us while
 * traced code runs, and when the vCPU idles) publishes them, so the
 * consumer is woken once per batch instead of once per record. */
static void push_record(const struct rec_buf *b, bool publish)
{
    /* overflow=block waits as long as the consumer lives (or has not
     * attached yet); overflow=drop never waits.  Either way a record that
     * does not go in is counted, and the reason is said once. */
    int rc, timeout = args.drop ? 0 : -1;
    queue_lock_vcpu();
    if (publish) rc = shmq_push(queue, b->data, b->len, timeout);
    else {
        void *dst = shmq_reserve(queue, b->len, timeout, &rc);
        if (dst) {
            memcpy(dst, b->data, b->len);
            shmq_submit(queue, b->len);
        }
    }
    queue_unlock_vcpu();
    if (rc != SHMQ_OK) push_failed(rc, b->len);
}

/* Encode straight into the queue, unpublished (no copy through a rec_buf:
 * TRACE_EXEC records carry up to 512 KiB).  Returns the bytes written, 0
 * when the record did not go in (counted and said). */
static size_t push_encoded(const struct rec *r, const char *what)
{
    struct rec_error err;
    size_t max = rec_encode_bound(r, &err), len = 0;
    if (max == (size_t)-1) {
        encode_failed(what, &err);
        return 0;
    }
    int rc;
    queue_lock_vcpu();
    void *dst = shmq_reserve(queue, max, args.drop ? 0 : -1, &rc);
    if (dst) {
        /* the bound validated r, so this cannot fail; if it did, the
         * reservation is simply not submitted (the next one reuses it) */
        if (rec_encode_to(dst, max, r, &len, &err) < 0) rc = -1;
        else shmq_submit(queue, len);
    }
    queue_unlock_vcpu();
    if (rc == -1) encode_failed(what, &err);
    else if (rc != SHMQ_OK) push_failed(rc, max);
    return rc == SHMQ_OK ? len : 0;
}

/* ---- registers ---------------------------------------------------------------------- */

static uint64_t read_reg(struct vcpu_state *v, struct qemu_plugin_register *h)
{
    if (!h) return 0;
    /* Emptied by hand: g_byte_array_set_size(b, 0) goes through
     * g_array_remove_range, which cost more than the read itself (the
     * bytes stay allocated either way; QEMU appends to the array). */
    v->regbuf->len = 0;
    int n = qemu_plugin_read_register(h, v->regbuf);
    uint64_t val = 0;
    if (n > 0) memcpy(&val, v->regbuf->data, n > 8 ? 8 : (size_t)n);
    return val;
}

static void read_regs(struct vcpu_state *v, struct x86_regs *out)
{
    uint64_t *w = (uint64_t *)out;
    for (int i = 0; i < NREG_SLOTS; i++) w[i] = read_reg(v, regs.slot[i]);
}

/* Re-read only the words in `mask` (the others are known unchanged). */
static void read_regs_mask(struct vcpu_state *v, struct x86_regs *io, uint32_t mask)
{
    uint64_t *w = (uint64_t *)io;
    for (int i = 0; i < NREG_SLOTS; i++)
        if (mask & (1u << i)) w[i] = read_reg(v, regs.slot[i]);
}

/* check=on: registers partly read again (the other words predicted
 * unchanged) against a full read; a difference is counted, the first ten
 * are said, and the full read is kept (true: the caller sends all words).
 * rip is left out where the caller knows it without reading it. */
static _Atomic uint64_t regs_mispredicted;
static bool check_regs(struct vcpu_state *v, struct x86_regs *predicted, bool skip_rip, uint32_t tb_id, uint64_t pc,
                       uint32_t mask)
{
    struct x86_regs full;
    read_regs(v, &full);
    if (skip_rip) full.rip = predicted->rip;
    if (!memcmp(&full, predicted, sizeof full)) return false;
    if (atomic_fetch_add(&regs_mispredicted, 1) < 10) {
        const uint64_t *a = (const uint64_t *)&full, *b = (const uint64_t *)predicted;
        int w = 0;
        while (w < NREG_SLOTS && a[w] == b[w]) w++;
        char line[220];
        snprintf(line, sizeof line, "trace_logger: check: registers at TB %u (pc 0x%" PRIx64 "): word %d is 0x%" PRIx64
                 ", predicted 0x%" PRIx64 " (words read again 0x%x)\n", tb_id, pc, w, a[w], b[w], mask);
        qemu_plugin_outs(line);
    }
    *predicted = full;
    return true;
}

static void find_registers(void)
{
    GArray *all = qemu_plugin_get_registers();
    for (guint i = 0; i < all->len; i++) {
        qemu_plugin_reg_descriptor *d = &g_array_index(all, qemu_plugin_reg_descriptor, i);
        for (size_t k = 0; k < G_N_ELEMENTS(reg_names); k++)
            if (!strcmp(d->name, reg_names[k].name)) regs.slot[reg_names[k].slot] = d->handle;
        if (!strcmp(d->name, "cr0")) regs.cr0 = d->handle;
        if (!strcmp(d->name, "efer")) regs.efer = d->handle;
        if (!strcmp(d->name, "cs")) regs.cs = d->handle;
    }
    g_array_free(all, TRUE);
    int missing = 0;
    for (int i = 0; i < NREG_SLOTS; i++) missing += regs.slot[i] == NULL;
    if (missing) {
        char line[160];
        snprintf(line, sizeof line, "trace_logger: %d of the 20 x86_regs registers are not exposed by QEMU; "
                 "they are recorded as 0\n", missing);
        qemu_plugin_outs(line);
    }
    regs_found = true;
}

/* ---- TB memory ---------------------------------------------------------------------- */

/* What a TB keeps until QEMU exits (its struct, code, schedules, memory
 * classes) comes from 1 MiB slabs, under tb_lock: a boot translates ~81 k
 * TBs, and an allocation each (64-byte aligned, growing the heap a page at
 * a time) showed in the profile of translation. */
static void *tb_arena_alloc(size_t n)
{
    static uint8_t *slab;
    static size_t used, cap;
    n = (n + 63) & ~(size_t)63;
    if (!slab || cap - used < n) {
        cap = n > (1u << 20) ? n : (1u << 20);
        if (posix_memalign((void **)&slab, 64, cap)) g_error("trace_logger: out of memory");
        used = 0;
    }
    void *p = slab + used;
    used += n;
    return memset(p, 0, n);
}

/* ---- sample schedules ----------------------------------------------------------------- */

/* Sampled executions (exec_seq) of a TB on a vCPU: 0..K-1, then K-1+N,
 * K-1+2N, ... (K = 0: N-1, 2N-1, ...).  The next one after `e`; UINT64_MAX
 * for never. */
static uint64_t next_sampled(uint64_t e)
{
    if (e == UINT64_MAX) return args.sample_first ? 0 : args.sample_every ? args.sample_every - 1 : UINT64_MAX;
    return e + 1 < args.sample_first ? e + 1 : args.sample_every ? e + args.sample_every : UINT64_MAX;
}

static uint32_t *sample_left(uint32_t id, unsigned int vcpu)
{
    return &tb_chunks[id / TL_ID_CHUNK]->left[(size_t)vcpu * TL_ID_CHUNK + id % TL_ID_CHUNK];
}

/* Under tb_lock, before a TB with this id is instrumented: its chunk, with
 * every countdown at the first sampled execution (for every vCPU QEMU may
 * ever have, so a vCPU that comes up later needs nothing). */
static void tb_chunk_reserve(uint32_t id)
{
    if (tb_chunks[id / TL_ID_CHUNK]) return;
    struct tb_chunk *c = g_malloc0(sizeof *c + (size_t)max_vcpus * TL_ID_CHUNK * sizeof(uint32_t));
    /* tl_args bounds sample_every, so a countdown fits 32 bits */
    uint64_t first = next_sampled(UINT64_MAX);
    uint32_t left0 = first == UINT64_MAX ? TL_NEVER : (uint32_t)first;
    for (size_t i = 0; i < (size_t)max_vcpus * TL_ID_CHUNK; i++) c->left[i] = left0;
    tb_chunks[id / TL_ID_CHUNK] = c;
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    if ((int)vcpu_index >= max_vcpus) return;
    pthread_mutex_lock(&tb_lock);
    if (!regs_found) find_registers();
    /* QEMU grows (reallocates) scoreboards before a new vCPU's init
     * callback, and all vCPUs of a system VM exist before any runs, so
     * every cached entry pointer is refreshed here (only those of vCPUs
     * that exist yet: QEMU asserts the index). */
    int exist = qemu_plugin_num_vcpus();
    for (int i = 0; i < max_vcpus && i < exist; i++) vcpus[i].flags = qemu_plugin_scoreboard_find(flags_sb, (unsigned)i);
    pthread_mutex_unlock(&tb_lock);
}

/* ---- block stream --------------------------------------------------------------------- */

static void publish_queue(void)
{
    queue_lock_vcpu();
    if (queue) shmq_flush(queue);
    queue_unlock_vcpu();
}

/* Sends the batch (and publishes it with every record written before it). */
static void flush_exec(unsigned int vcpu_index, struct vcpu_state *v)
{
    if (v->n == 0) {
        publish_queue();   /* nothing to send, but records written unpublished go out now */
        return;
    }
    struct rec r = { .type = REC_TRACE_EXEC };
    r.u.trace_exec = (struct rec_trace_exec){
        .vcpu = (uint16_t)vcpu_index,
        .t0_us = v->t0_us,
        .sent_us = trace_us(now_mono_us()),
        .tb_ids = { (const uint8_t *)v->ids, 4 * v->n },
        .dt_us = { (const uint8_t *)v->dts, args.timestamps ? 4 * v->n : 0 },
    };
    push_encoded(&r, "TRACE_EXEC");
    publish_queue();
    v->ts_last_us = v->t0_us + v->dts[v->n - 1];
    v->blocks += v->n;
    v->n = 0;
}

/* The vCPU whose thread this is, for the translation callback (which QEMU
 * does not tell): set at each clock reading, which runs on that thread. */
static __thread struct vcpu_state *thread_vcpu;

/* The TSC reading behind the entries' µs offsets, and the age flush: at
 * every ts_every-th entry of a batch (rdtsc costs more than the rest of
 * on_tb_exec), at the first entry after untraced code ran (an inline store
 * on every untraced TB raises left_traced), so a shared reading never spans
 * untraced time, and at the first entry after a translation on the vCPU
 * (SLOW_CLOCK, from on_tb_trans: translations are the vCPU's commonest long
 * pauses between two blocks, and the entries after one would otherwise carry
 * the time from before it). */
static __attribute__((noinline)) void exec_clock(unsigned int vcpu_index, struct vcpu_state *v)
{
    uint64_t tsc = __rdtsc();
    thread_vcpu = v;
    v->slow &= (uint8_t)~SLOW_CLOCK;
    v->flags->left_traced = 0;
    /* Flush on age: a partial batch goes out once its first entry is
     * flush_us old (checked at each reading: every ts_every-th entry with
     * timestamps on, every 256th otherwise). */
    if (v->n && tsc - v->t0_tsc > flush_tsc) flush_exec(vcpu_index, v);
    if (v->n == 0) {
        /* never before the previous batch's last entry (its offsets come
         * from the TSC, this from CLOCK_MONOTONIC) */
        uint64_t now = trace_us(now_mono_us());
        /* The TSC read again with the clock: a flush above takes time, and
         * offsets counted from before it would run ahead of real time by as
         * much (up to 0.9 ms was seen, carried on by the clamp). */
        v->t0_tsc = __rdtsc();
        v->t0_us = now > v->ts_last_us ? now : v->ts_last_us;
        v->dt = 0;
    } else {
        v->dt = (uint32_t)(((tsc - v->t0_tsc) * tsc_to_us_mult) >> 32);
    }
}

/* A sample in flight ends at the entry of the next block: next_id is that
 * TB's id, 0 when it lies outside the filters. */
static void sample_end(unsigned int vcpu_index, struct vcpu_state *v, uint32_t next_id)
{
    struct rec_trace_sample s = {
        .tb_id = v->sample_tb->id,
        .pc = v->sample_tb->pc,
        .exec_seq = v->sample_seq,
        .pre = v->pre,
        .mem = { v->nmem, v->mem },
    };
    if (next_id) {
        /* Since the pre state only the sampled TB ran (a traced TB follows
         * it directly: untraced ones end the sample with next_id = 0),
         * perhaps cut short by an exception, perhaps followed by the
         * delivery of an interrupt, exception or SMI (TL_ENTRY_REREAD).  So
         * only the TB's write set, those and rip are read again. */
        uint32_t mask = v->sample_tb->writes | TL_ENTRY_REREAD | 1u << 16;
        s.post.present = true;
        if (mask == TL_WRITES_ALL) read_regs(v, &v->post);
        else {
            v->post = v->pre;
            read_regs_mask(v, &v->post, mask);
        }
        if (args.check && mask != TL_WRITES_ALL) check_regs(v, &v->post, false, next_id, v->post.rip, mask);
        v->post_at_block = v->blocks + v->n + 1;   /* on_tb_exec counts the next block right after */
        s.post.regs = v->post;
        s.next_pc = s.post.regs.rip;
    } else {
        s.next_pc = read_reg(v, regs.slot[16]);
    }
    v->flags->post_pending = 0;
    v->slow &= (uint8_t)~SLOW_SAMPLING;
    v->mem_active = false;
    struct rec_error err;
    rec_buf_reset(&v->rb);
    if (rec_encode_trace_sample(&v->rb, &s, &err) < 0) {
        encode_failed("TRACE_SAMPLE", &err);
        return;
    }
    push_record(&v->rb, false);
    v->samples++;
}

/* The countdown of TB `id` on this vCPU reached 0: this execution (exec_seq
 * = the scheduled one) is sampled, unless a sample is still in flight. */
static __attribute__((noinline)) void sample_take(unsigned int vcpu_index, struct vcpu_state *v, uint32_t id,
                                                  uint32_t *left)
{
    struct tl_tb *t = tb_chunks[id / TL_ID_CHUNK]->tb[id % TL_ID_CHUNK];
    struct tb_sched *c = &t->sched[vcpu_index];
    uint64_t e = c->next_sample;
    if (e == UINT64_MAX) {           /* "never" came round: 2^32 executions since */
        *left = TL_NEVER;
        return;
    }
    c->next_sample = next_sampled(e);
    *left = c->next_sample == UINT64_MAX ? TL_NEVER : (uint32_t)(c->next_sample - e - 1);
    if (v->slow & SLOW_SAMPLING) return;     /* one sample in flight per vCPU */
    v->sample_tb = t;
    v->sample_seq = e;
    /* The previous sample's post state, read at the entry of this very
     * block execution (sample_end runs first, then on_tb_exec counts the
     * block), is this sample's pre state: nothing ran in between. */
    if (v->post_at_block == v->blocks + v->n) v->pre = v->post;
    else read_regs(v, &v->pre);
    v->nmem = 0;
    v->mem_active = args.mem;
    v->flags->post_pending = 1;
    v->slow |= SLOW_SAMPLING;
}

/* on_tb_exec's rare work: a sample to end, a clock reading (every
 * ts_every-th entry, after untraced code, after a translation), a full
 * batch, a sample to take.  Out of line, so the common path saves no
 * registers and calls nothing. */
static __attribute__((noinline)) void tb_exec_slow(unsigned int vcpu_index, struct vcpu_state *v, uint32_t id)
{
    if (v->slow & SLOW_SAMPLING) sample_end(vcpu_index, v, id);
    if ((v->n & tsc_mask) == 0 || (v->slow & SLOW_CLOCK) ||
        (atomic_load_explicit(&any_untraced, memory_order_relaxed) && v->flags->left_traced))
        exec_clock(vcpu_index, v);
    uint32_t n = v->n;
    v->ids[n] = id;
    v->dts[n] = v->dt;
    v->n = ++n;
    if (n >= args.batch) flush_exec(vcpu_index, v);
    uint32_t *left = sample_left(id, vcpu_index);
    if (*left == 0) sample_take(vcpu_index, v, id, left);
    else --*left;
}

/* Every execution of a traced TB (R_REGS: it may read registers for a
 * sample).  udata = the TB id | its instruction count << 32.  In order: end
 * a sample in flight, count the instructions, read the clock when due,
 * append the entry, flush a full batch, count down the sample schedule. */
static void on_tb_exec(unsigned int vcpu_index, void *udata)
{
    struct vcpu_state *v = &vcpus[vcpu_index];
    uint32_t id = (uint32_t)(uintptr_t)udata, n = v->n;
    v->insns += (uintptr_t)udata >> 32;
    uint32_t *left = sample_left(id, vcpu_index);
    if (__builtin_expect(v->slow || (n & tsc_mask) == 0 || n + 1 >= args.batch || *left == 0 ||
                         (atomic_load_explicit(&any_untraced, memory_order_relaxed) && v->flags->left_traced), 0)) {
        tb_exec_slow(vcpu_index, v, id);
        return;
    }
    v->ids[n] = id;
    v->dts[n] = v->dt;
    v->n = n + 1;
    --*left;
}

/* The first TB outside the filters after a sampled one ends the sample. */
static void on_sample_end_untraced(unsigned int vcpu_index, void *udata)
{
    sample_end(vcpu_index, &vcpus[vcpu_index], 0);
}

/* The value an access loaded or stored (the low 64 bits of a 128-bit one). */
static uint64_t mem_value(qemu_plugin_meminfo_t info)
{
    qemu_plugin_mem_value mv = qemu_plugin_mem_get_value(info);
    switch (mv.type) {
    case QEMU_PLUGIN_MEM_VALUE_U8: return mv.data.u8;
    case QEMU_PLUGIN_MEM_VALUE_U16: return mv.data.u16;
    case QEMU_PLUGIN_MEM_VALUE_U32: return mv.data.u32;
    case QEMU_PLUGIN_MEM_VALUE_U64: return mv.data.u64;
    case QEMU_PLUGIN_MEM_VALUE_U128: return mv.data.u128.low;
    }
    return 0;
}

static __attribute__((noinline)) void mem_record(struct vcpu_state *v, qemu_plugin_meminfo_t info, uint64_t vaddr)
{
    if (v->nmem >= REC_MAX_MEMS) { v->mem_truncated++; return; }
    struct x86_mem_access *a = &v->mem[v->nmem++];
    a->addr = vaddr;
    a->value = mem_value(info);
    a->size = (uint8_t)(1u << qemu_plugin_mem_size_shift(info));
    a->is_store = qemu_plugin_mem_is_store(info);
}

/* Every access of an instruction that may access memory: recorded only
 * while this vCPU samples (the common path saves no registers). */
static void on_mem(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    struct vcpu_state *v = &vcpus[vcpu_index];
    if (__builtin_expect(udata != NULL, 0)) atomic_fetch_add(&mem_misclassified, 1);   /* check=on: tl_insn_may_access_memory said no */
    if (__builtin_expect(v->mem_active, 0)) mem_record(v, info, vaddr);
}

/* ---- instruction mode ------------------------------------------------------------------ */

/* insn_format=literal: the instruction in flight as one TRACE_INSN, encoded
 * straight into the queue (no rec_buf and copy), published later in a bunch
 * (publish_insns). */
static void send_insn(struct vcpu_state *v)
{
    if (!v->insn) return;
    struct rec r = { .type = REC_TRACE_INSN };
    r.u.trace_insn = (struct rec_trace_insn){
        .ts_us = v->insn_ts,
        .pc = v->insn->pc,
        .bytes = { v->insn->bytes, v->insn->len },
        .disasm = { v->insn->disasm, v->insn->disasm_len },
        .regs = v->pre,
        .mem = { v->nmem, v->mem },
    };
    v->insn = NULL;
    v->unpub_bytes += push_encoded(&r, "TRACE_INSN");
}

/* Instruction records are published in bunches (256 KiB, or flush_us after
 * the last publication): one consumer wake-up per bunch, not per record. */
static void publish_insns(struct vcpu_state *v, uint64_t tsc)
{
    if (v->unpub_bytes < (256u << 10) && tsc - v->pub_tsc <= flush_tsc) return;
    publish_queue();
    v->unpub_bytes = 0;
    v->pub_tsc = tsc;
}

static void on_insn_exec(unsigned int vcpu_index, void *udata)
{
    struct vcpu_state *v = &vcpus[vcpu_index];
    const struct tl_insn *in = udata, *prev = v->insn;
    uint64_t tsc = __rdtsc();
    send_insn(v);
    publish_insns(v, tsc);
    v->insn = in;
    v->insn_ts = vcpu_now_us(v, tsc);
    /* After the previous traced instruction only what it can write has
     * changed, unless other code ran in between: within one TB nothing
     * does (interrupts and exceptions leave the TB, and a resumed TB is
     * another TB); between TBs, untraced code (a kernel entry under
     * filter=user, a signal frame, ...) raises left_traced through the
     * inline store every untraced TB carries, and the delivery of an
     * interrupt, exception or SMI into traced code changes only rsp, rip,
     * rflags and the segment bases of x86_regs (rip is known; the others
     * are read at every TB entry: TL_ENTRY_REREAD).  System, segment and
     * fs/gs-base instructions, far transfers and iret, rsm, sysret (...)
     * have every word in their write set.  check=on verifies all this. */
    struct vcpu_flags *f = v->flags;
    if (!prev || f->left_traced) read_regs(v, &v->pre);
    else {
        uint32_t mask = in->idx > 0 && prev == in - 1 ? prev->writes : prev->writes | TL_ENTRY_REREAD;
        read_regs_mask(v, &v->pre, mask);
        if (args.check) check_regs(v, &v->pre, true, in->tb_id, in->pc, mask);
    }
    f->left_traced = 0;
    v->pre.rip = in->pc;      /* the callback runs before this instruction, at its address */
    v->nmem = 0;
    v->mem_active = args.mem;
    v->insns++;
}

/* insn_format=compact: send the vCPU's TRACE_INSNS batch (published at
 * once, with the TRACE_TB records written before it). */
static void send_pack(unsigned int vcpu_index, struct vcpu_state *v, uint64_t tsc)
{
    if (v->pack->n == 0) return;
    struct rec r = { .type = REC_TRACE_INSNS };
    tl_pack_record(v->pack, (uint16_t)vcpu_index, &r.u.trace_insns);
    r.u.trace_insns.sent_us = trace_us(now_mono_us());
    push_encoded(&r, "TRACE_INSNS");
    publish_queue();
    tl_pack_reset(v->pack);
    v->pub_tsc = tsc;
}

/* insn_format=compact: the instruction joins the vCPU's batch.  The
 * registers are read as in on_insn_exec (only what can have changed); the
 * batch keeps only the words that did change, and sends itself when the
 * next instruction might not fit or flush_us after the last send. */
static void on_insn_exec_compact(unsigned int vcpu_index, void *udata)
{
    struct vcpu_state *v = &vcpus[vcpu_index];
    const struct tl_insn *in = udata, *prev = v->insn;
    struct tl_pack *p = v->pack;
    uint64_t tsc = __rdtsc();
    if (p->n && (!tl_pack_room(p, pack_max_bytes) || tsc - v->pub_tsc > flush_tsc)) send_pack(vcpu_index, v, tsc);
    /* the reasoning of on_insn_exec: within a TB only what the previous
     * instruction writes changes; at a TB entry also rsp and rflags; after
     * untraced code everything */
    struct vcpu_flags *f = v->flags;
    uint32_t maybe;
    bool follows = prev && !f->left_traced && in->idx > 0 && prev == in - 1;
    if (!prev || f->left_traced) {
        read_regs(v, &v->pre);
        maybe = REC_PACK_ALL_REGS;
    } else {
        maybe = follows ? prev->writes : prev->writes | TL_ENTRY_REREAD;
        read_regs_mask(v, &v->pre, maybe);
        if (args.check && check_regs(v, &v->pre, true, in->tb_id, in->pc, maybe)) maybe = REC_PACK_ALL_REGS;
    }
    f->left_traced = 0;
    v->pre.rip = in->pc;
    v->insn = in;
    tl_pack_add(p, in->tb_id, in->idx, !follows, vcpu_now_us(v, tsc), &v->pre, maybe);
    v->insns++;
}

/* insn_format=compact: memory accesses go straight into the batch. */
static void on_insn_mem_compact(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    tl_pack_mem(vcpus[vcpu_index].pack, vaddr, mem_value(info), (uint8_t)(1u << qemu_plugin_mem_size_shift(info)),
                qemu_plugin_mem_is_store(info));
}

static void on_insn_tb_exec(unsigned int vcpu_index, void *udata)
{
    vcpus[vcpu_index].blocks++;
}

/* ---- translation ------------------------------------------------------------------------- */

static struct tl_tb *tb_lookup_or_add(uint64_t pc, const uint8_t *code, uint32_t len, uint32_t ninsns, bool *is_new)
{
    struct tl_tb *chain = g_hash_table_lookup(tb_by_pc, &pc);
    for (struct tl_tb *t = chain; t; t = t->same_pc) {
        if (t->code_len == len && t->ninsns == ninsns && !memcmp(t->code, code, len)) {
            *is_new = false;
            return t;
        }
    }
    struct tl_tb *t = tb_arena_alloc(sizeof *t + len);
    t->id = next_tb_id++;
    t->pc = pc;
    t->ninsns = ninsns;
    t->code_len = len;
    memcpy(t->code, code, len);
    t->sched = max_vcpus == 1 ? &t->s0 : tb_arena_alloc((size_t)max_vcpus * sizeof *t->sched);
    for (int i = 0; i < max_vcpus; i++) t->sched[i].next_sample = next_sampled(UINT64_MAX);
    tb_chunk_reserve(t->id);
    tb_chunks[t->id / TL_ID_CHUNK]->tb[t->id % TL_ID_CHUNK] = t;
    t->same_pc = chain;
    g_hash_table_replace(tb_by_pc, &t->pc, t);   /* the key lives as long as t: TBs are never freed */
    *is_new = true;
    return t;
}

static struct tl_mode_hint read_mode_hint(void)
{
    /* QEMU 10.0 lets the translation callback read the translating vCPU's
     * registers (the state at the TB's start); a QEMU that refuses it
     * returns -1 and we fall back to the address heuristic. */
    static __thread GByteArray *b;   /* translation runs on vCPU threads */
    struct tl_mode_hint h = {0};
    if (!regs.cr0 || !regs.efer || !regs.cs) return h;
    if (!b) b = g_byte_array_sized_new(16);
    uint64_t vals[3] = {0};
    struct qemu_plugin_register *hs[3] = {regs.cr0, regs.efer, regs.cs};
    h.has_regs = true;
    for (int i = 0; i < 3; i++) {
        b->len = 0;     /* as in read_reg */
        int n = qemu_plugin_read_register(hs[i], b);
        if (n <= 0) { h.has_regs = false; break; }
        memcpy(&vals[i], b->data, n > 8 ? 8 : (size_t)n);
    }
    h.cr0 = vals[0]; h.efer = vals[1]; h.cs = vals[2];
    return h;
}

static void send_tb(struct tl_tb *t, int mode, int cpl, const uint8_t *lens, char (*dis)[TL_DISASM_MAX])
{
    static struct rec_str strs[REC_MAX_TB_INSNS];   /* under tb_lock */
    for (uint32_t i = 0; i < t->ninsns; i++) strs[i] = rec_str_c(dis[i]);
    struct rec_trace_tb r = {
        .tb_id = t->id, .pc = t->pc, .cpu_mode = (uint8_t)mode, .cpl = (uint8_t)(cpl < 0 ? (t->pc >> 63 ? 0 : 3) : cpl),
        .code = { t->code, t->code_len }, .insn_len = { lens, t->ninsns }, .disasm = { t->ninsns, strs },
    };
    struct rec_error err;
    rec_buf_reset(&trans_rb);
    if (rec_encode_trace_tb(&trans_rb, &r, &err) < 0) encode_failed("TRACE_TB", &err);
    else { push_record(&trans_rb, false); atomic_fetch_add(&tbs_sent, 1); }
}

/* Filtered code: only the post-state hook, so a sample whose next block
 * lies outside the filter still ends (with post = nil), and an inline store
 * telling on_tb_exec to read the clock afresh. */
static void register_untraced(struct qemu_plugin_tb *tb)
{
    atomic_store_explicit(&any_untraced, true, memory_order_release);
    if (args.mode == TL_MODE_BLOCK)
        qemu_plugin_register_vcpu_tb_exec_cond_cb(tb, on_sample_end_untraced, QEMU_PLUGIN_CB_R_REGS,
            QEMU_PLUGIN_COND_NE, qemu_plugin_scoreboard_u64_in_struct(flags_sb, struct vcpu_flags, post_pending),
            0, NULL);
    qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_STORE_U64,
        qemu_plugin_scoreboard_u64_in_struct(flags_sb, struct vcpu_flags, left_traced), 1);
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    uint64_t pc = qemu_plugin_tb_vaddr(tb);
    struct tl_mode_hint hint = read_mode_hint();
    int cpl = tl_cpl(&hint);
    bool want = n > 0 && tl_args_want(&args, pc, cpl);
    size_t total = 0;
    for (size_t i = 0; want && i < n; i++) total += qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, i));
    if (want && (n > REC_MAX_TB_INSNS || total > REC_MAX_CODE)) {
        /* Beyond what a TRACE_TB can carry (QEMU's TBs stay far below). */
        atomic_fetch_add(&tbs_too_big, 1);
        want = false;
    }

    if (!want) {
        register_untraced(tb);
        return;
    }

    uint8_t code[REC_MAX_CODE], lens[REC_MAX_TB_INSNS];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        size_t sz = qemu_plugin_insn_size(insn);
        if (sz == 0 || sz > 15 || len + sz > sizeof code) {   /* checked above; x86 sizes are 1..15 */
            atomic_fetch_add(&tbs_too_big, 1);
            register_untraced(tb);
            return;
        }
        qemu_plugin_insn_data(insn, code + len, sz);
        lens[i] = (uint8_t)sz;
        len += sz;
    }

    pthread_mutex_lock(&tb_lock);
    bool is_new;
    struct tl_tb *t = tb_lookup_or_add(pc, code, (uint32_t)len, (uint32_t)n, &is_new);
    if (is_new) {
        bool confirmed;
        int mode = tl_mode_resolve(&hint, pc, code, lens, n, &mode_memory, &confirmed);
        if (!confirmed) atomic_fetch_add(&mode_unconfirmed, 1);
        static char dis[REC_MAX_TB_INSNS][TL_DISASM_MAX];   /* under tb_lock */
        size_t off = 0;
        if (args.mode == TL_MODE_INSN) t->insns = g_new0(struct tl_insn, n);
        if (args.mode == TL_MODE_BLOCK && args.mem) t->may_mem = tb_arena_alloc(n);
        for (size_t i = 0; i < n; i++) {
            struct tl_insn_info info;
            tl_insn_decode(mode, pc + off, code + off, lens[i], dis[i], TL_DISASM_MAX, &info);
            if (t->may_mem) t->may_mem[i] = info.may_mem;
            t->writes |= info.writes;
            if (t->insns) {
                t->insns[i].pc = pc + off;
                t->insns[i].idx = (uint16_t)i;
                t->insns[i].writes = info.reread;
                t->insns[i].len = lens[i];
                memcpy(t->insns[i].bytes, code + off, lens[i]);
                memcpy(t->insns[i].disasm, dis[i], TL_DISASM_MAX);
                t->insns[i].disasm_len = (uint8_t)strnlen(dis[i], TL_DISASM_MAX - 1);
                t->insns[i].tb_id = t->id;
            }
            off += lens[i];
        }
        send_tb(t, mode, cpl, lens, dis);
    }
    pthread_mutex_unlock(&tb_lock);

    if (args.mode == TL_MODE_BLOCK) {
        /* The next entry reads the clock: QEMU generates the TB's code after
         * this callback, so the reading cannot be made here. */
        struct vcpu_state *v = max_vcpus == 1 ? &vcpus[0] : thread_vcpu;
        if (v) v->slow |= SLOW_CLOCK;
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_R_REGS,
                                             (void *)(uintptr_t)(t->id | (uint64_t)n << 32));
        /* Not on instructions that never access memory: their callback
         * would never run, but QEMU would still arm and disarm its
         * memory-callback state around each of them.  check=on puts it on
         * those too, marked, and counts any access they make. */
        if (args.mem)
            for (size_t i = 0; i < n; i++)
                if (t->may_mem[i] || args.check)
                    qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_mem, QEMU_PLUGIN_CB_NO_REGS,
                                                     QEMU_PLUGIN_MEM_RW, t->may_mem[i] ? NULL : (void *)1);
    } else {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_insn_tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
        bool compact = args.insn_format == TL_INSN_COMPACT;
        for (size_t i = 0; i < n; i++) {
            struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
            qemu_plugin_register_vcpu_insn_exec_cb(insn, compact ? on_insn_exec_compact : on_insn_exec,
                                                   QEMU_PLUGIN_CB_R_REGS, &t->insns[i]);
            if (args.mem)
                qemu_plugin_register_vcpu_mem_cb(insn, compact ? on_insn_mem_compact : on_mem, QEMU_PLUGIN_CB_NO_REGS,
                                                 QEMU_PLUGIN_MEM_RW, NULL);
        }
    }
}

/* ---- idle and exit ------------------------------------------------------------------------- */

static void on_vcpu_idle(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    /* A halted vCPU sends what it has so the consumer's lag stays bounded
     * (its instruction in flight is complete: it cannot make more accesses). */
    if ((int)vcpu_index >= max_vcpus) return;
    if (vcpus[vcpu_index].pack) send_pack(vcpu_index, &vcpus[vcpu_index], __rdtsc());
    flush_exec(vcpu_index, &vcpus[vcpu_index]);
}

static void on_plugin_exit(qemu_plugin_id_t id, void *p)
{
    struct rec_trace_end e = { .reason = rec_str_c("guest exit") };
    for (int i = 0; i < max_vcpus; i++) {
        struct vcpu_state *v = &vcpus[i];
        if (v->pack) send_pack((unsigned)i, v, __rdtsc());
        else if (args.mode == TL_MODE_INSN) send_insn(v);
        flush_exec((unsigned)i, v);
        e.insns += v->insns;
        e.blocks += v->blocks;
        e.samples += v->samples;
    }
    e.tbs = atomic_load(&tbs_sent);
    e.dropped = atomic_load(&dropped);
    e.time_us = now_mono_us() - start_us;
    struct rec_buf b;
    struct rec_error err;
    rec_buf_init(&b);
    if (rec_encode_trace_end(&b, &e, &err) < 0) encode_failed("TRACE_END", &err);
    else {
        /* The end record waits for room (as long as the consumer lives);
         * with overflow=drop only for a while, so an absent reader cannot
         * hold QEMU's exit forever. */
        pthread_mutex_lock(&queue_lock);
        int rc = shmq_push(queue, b.data, b.len, args.drop ? 5000 : -1);
        pthread_mutex_unlock(&queue_lock);
        if (rc != SHMQ_OK) {
            char line[300];
            snprintf(line, sizeof line, "trace_logger: TRACE_END not delivered to %s: %s\n", args.queue,
                     shmq_status_str(rc));
            qemu_plugin_outs(line);
        }
    }
    rec_buf_free(&b);
    char line[400];
    snprintf(line, sizeof line,
             "trace_logger: end: insns=%" PRIu64 " blocks=%" PRIu64 " tbs=%" PRIu64 " samples=%" PRIu64
             " dropped=%" PRIu64 " (%" PRIu64 " bytes) mode_unconfirmed=%" PRIu64 " encode_errors=%" PRIu64
             " tbs_too_big=%" PRIu64 " mem_misclassified=%" PRIu64 " regs_mispredicted=%" PRIu64
             " time_us=%" PRIu64 "\n",
             e.insns, e.blocks, e.tbs, e.samples, e.dropped, atomic_load(&drop_bytes),
             atomic_load(&mode_unconfirmed), atomic_load(&encode_errors), atomic_load(&tbs_too_big),
             atomic_load(&mem_misclassified), atomic_load(&regs_mispredicted), e.time_us);
    qemu_plugin_outs(line);
    pthread_mutex_lock(&queue_lock);
    shmq_end(queue);
    shmq_close(queue);
    queue = NULL;
    pthread_mutex_unlock(&queue_lock);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    char err[256];
    tl_args_default(&args);
    if (tl_args_parse(&args, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "trace_logger: %s\nvalid arguments:\n%s", err, tl_args_usage());
        return -1;
    }
    if (!info->system_emulation) {
        fprintf(stderr, "trace_logger: needs system emulation (qemu-system-x86_64)\n");
        return -1;
    }
    if (strcmp(info->target_name, "x86_64") != 0) {
        fprintf(stderr, "trace_logger: target is %s; only x86_64 is supported\n", info->target_name);
        return -1;
    }
    max_vcpus = info->system.max_vcpus > 0 ? info->system.max_vcpus : 1;
    /* pipectl creates the queue; standing alone, the plugin creates it. */
    if (access(args.queue, F_OK) != 0 &&
        shmq_create(args.queue, args.queue_size, args.drop ? SHMQ_DROP_WHEN_FULL : 0) != 0 && errno != EEXIST) {
        fprintf(stderr, "trace_logger: cannot create the queue %s (%" PRIu64 " bytes): %s\n",
                args.queue, args.queue_size, shmq_last_error());
        return -1;
    }
    queue = shmq_open(args.queue, SHMQ_PRODUCER);
    if (!queue) {
        fprintf(stderr, "trace_logger: cannot open the queue %s as producer: %s\n", args.queue, shmq_last_error());
        return -1;
    }
    if (shmq_populate(queue) != 0)   /* else the first pass through the ring faults page by page on the vCPU */
        fprintf(stderr, "trace_logger: the queue %s stays mapped on demand: %s\n", args.queue, strerror(errno));
    /* A TRACE_EXEC (8 bytes per entry) stays within a quarter of the queue,
     * so a small queue still takes every batch. */
    uint64_t fit = shmq_capacity(queue) / 4 / 8;
    if (args.mode == TL_MODE_BLOCK && args.batch > fit) {
        char line[200];
        snprintf(line, sizeof line, "trace_logger: batch=%u lowered to %" PRIu64 " to fit the %" PRIu64
                 "-byte queue\n", args.batch, fit ? fit : 1, shmq_capacity(queue));
        qemu_plugin_outs(line);
        args.batch = fit ? (uint32_t)fit : 1;
    }
    vcpus = g_new0(struct vcpu_state, max_vcpus);
    for (int i = 0; i < max_vcpus; i++) {
        vcpus[i].ids = g_new(uint32_t, args.batch);
        vcpus[i].dts = g_new(uint32_t, args.batch);
        vcpus[i].mem = g_new(struct x86_mem_access, REC_MAX_MEMS);
        vcpus[i].regbuf = g_byte_array_sized_new(64);
        rec_buf_init(&vcpus[i].rb);
        if (args.mode == TL_MODE_INSN && args.insn_format == TL_INSN_COMPACT) {
            vcpus[i].pack = g_new0(struct tl_pack, 1);
            if (tl_pack_init(vcpus[i].pack) < 0) g_error("trace_logger: out of memory");
        }
    }
    /* A TRACE_INSNS stays well inside the queue's largest record and is
     * published at least every 256 KiB (one consumer wake-up per batch). */
    pack_max_bytes = shmq_max_record(queue) < (256u << 10) ? (size_t)shmq_max_record(queue) : (256u << 10);
    rec_buf_init(&trans_rb);
    tl_mode_memory_init(&mode_memory);
    flags_sb = qemu_plugin_scoreboard_new(sizeof(struct vcpu_flags));
    tb_by_pc = g_hash_table_new(g_int64_hash, g_int64_equal);
    start_us = now_mono_us();
    tsc_start = __rdtsc();
    calibrate_tsc();
    tsc_mask = args.timestamps ? args.ts_every - 1 : 255;

    qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_vcpu_idle_cb(id, on_vcpu_idle);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);

    char line[400];
    snprintf(line, sizeof line, "trace_logger: queue %s mode=%s sample_first=%" PRIu64 " sample_every=%" PRIu64
             " filter=%s ranges=%d overflow=%s start_monotonic_us=%" PRIu64 "\n",
             args.queue, args.mode == TL_MODE_BLOCK ? "block" : "insn", args.sample_first, args.sample_every,
             args.filter == TL_FILTER_ALL ? "all" : args.filter == TL_FILTER_USER ? "user" : "kernel",
             args.nranges, args.drop ? "drop" : "block", start_us);
    qemu_plugin_outs(line);
    return 0;
}
