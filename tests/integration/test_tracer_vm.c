/* test_tracer_vm — the tracer end to end: a real QEMU 10 VM (TCG) with
 * trace_logger.so writing a real shm queue that this test consumes while the
 * guest runs.  The guest runs wl_loop, whose loop block executes exactly
 * 123,457 times with known register and memory values (see
 * stages/tracer/workloads/wl_loop.c).
 *
 * Five VM runs (each a few seconds under TCG):
 *   1. block mode, filter=user, default sampling, workloads loop and
 *      compat32: plugin load, capture, execution count, sample values,
 *      32-bit code decoded as 32-bit, user-only filter;
 *   2. instruction mode restricted (range=) to the loop's 11 bytes;
 *   3. overflow=drop with a small queue and a slow reader: drops are counted;
 *   4./5. instruction mode, filter=user, deterministic (--icount 0), check=on, once
 *      per insn_format: the compact stream, expanded, equals the literal one;
 *   6. instruction mode on the loop with two vCPUs;
 *   7. block mode with two vCPUs, filter=all, check=on: per-vCPU sample
 *      countdowns, and the plugin's self-checks over the whole boot (kernel
 *      code included): a memory callback on every instruction that counts
 *      the accesses of instructions tl_insn_may_access_memory calls free of
 *      them, and every post state read in full beside the predicted one.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "records.h"
#include "shmq.h"
#include "../../stages/tracer/trace_reader.h"
#include "../../stages/tracer/vm_launch.h"

#define LOOP_COUNT 123457u
#define LOOP_MAGIC 0x7e57c0deULL
#define LOOP_BYTES 11u              /* mov 3 + add 3 + dec 3 + jnz 2 */
#define KERNEL_HALF 0xffff800000000000ULL

static char build[1024];
static uint64_t loop_head, loop_cell, main_lo, main_hi;
static uint64_t c32_loop, c32_lo, c32_hi;   /* wl_compat32: IA-32 code */

/* ---- what a run collected ------------------------------------------------------ */
struct loop_samples {
    uint32_t n, bad_rcx, bad_rbx, bad_rdi, bad_mem, bad_post, with_post;
    uint32_t post_interrupted;   /* samples whose next block was a kernel entry (filter=all) */
    uint64_t first_bad_seq;
};

struct insn_stats {
    uint64_t at_head, bad_regs, bad_mem, other_pc;
    uint64_t by_offset[16];
    uint64_t head_rcx, head_rdx, bad_delta;
    uint64_t status_flags_set;     /* records whose rflags has CF PF AF ZF SF or OF set */
    uint64_t bad_chain;            /* loop heads whose rcx/rdx do not follow from the previous head */
};

struct run {
    struct trace_reader r;
    struct vm_result vm;
    int vm_rc;
    char queue[128], console[1100], qlog[1100];
    struct loop_samples ls;
    struct insn_stats is;
    uint64_t kernel_tbs, nonuser_tbs, tbs_in_main, bad_mode_tbs, c32_tbs, c32_bad_mode;
    int c32_loop_mode, c32_loop_ninsns;
    char c32_loop_disasm[3][64];
    int slow_reader_ms;
    bool deterministic;            /* -icount shift=0 (vm_spec.icount = 0) */
    uint32_t cpus;                 /* 0: the default (1) */
    /* collect: every instruction view's digest (all fields but ts_us), in order */
    bool collect;
    uint64_t *digest;
    size_t ndigest, digest_cap;
    volatile bool stop;
};
static struct run block_run, insn_run, drop_run, compact_run, literal_run, smp_run, smp_block_run;

static void on_tb(const struct rec_trace_tb *t, void *ctx)
{
    struct run *run = ctx;
    if (t->pc >= KERNEL_HALF) run->kernel_tbs++;
    if (t->cpl != 3) run->nonuser_tbs++;
    if (t->pc >= main_lo && t->pc < main_hi) run->tbs_in_main++;
    bool c32 = t->pc >= c32_lo && t->pc < c32_hi;
    if (c32) {
        run->c32_tbs++;
        if (t->cpu_mode != 32) run->c32_bad_mode++;
    } else if (t->pc < 0x800000000000ULL && t->cpu_mode != 64) {
        run->bad_mode_tbs++;
    }
    if (t->pc == c32_loop) {
        run->c32_loop_mode = t->cpu_mode;
        run->c32_loop_ninsns = (int)t->insn_len.len;
        for (uint32_t i = 0; i < 3 && i < t->disasm.n; i++)
            snprintf(run->c32_loop_disasm[i], sizeof run->c32_loop_disasm[i], "%s", t->disasm.v[i].ptr);
    }
}

static void on_sample(const struct rec_trace_sample *s, void *ctx)
{
    struct loop_samples *ls = &((struct run *)ctx)->ls;
    if (s->pc != loop_head) return;
    ls->n++;
    uint64_t rcx = s->pre.gpr[X86_RCX];
    bool bad = false;
    if (rcx != LOOP_COUNT - s->exec_seq) { ls->bad_rcx++; bad = true; }
    if (s->pre.gpr[X86_RBX] != LOOP_MAGIC) { ls->bad_rbx++; bad = true; }
    if (s->pre.gpr[X86_RDI] != loop_cell) { ls->bad_rdi++; bad = true; }
    if (s->pre.rip != loop_head) { ls->bad_rdi++; bad = true; }
    /* movq %rcx,(%rdi): store 8 bytes of rcx; addq (%rdi),%rdx: load them back. */
    if (s->mem.n != 2 || !s->mem.v[0].is_store || s->mem.v[0].addr != loop_cell || s->mem.v[0].size != 8 ||
        s->mem.v[0].value != rcx || s->mem.v[1].is_store || s->mem.v[1].addr != loop_cell ||
        s->mem.v[1].size != 8 || s->mem.v[1].value != rcx) {
        ls->bad_mem++;
        bad = true;
    }
    if (s->post.present) {
        ls->with_post++;
        const struct x86_regs *p = &s->post.regs;
        /* The next block is the loop again (the last iteration falls
         * through), or, where the kernel is traced (filter=all), the entry
         * of an interrupt delivered right after this iteration: the post
         * state is then the handler's entry state, with the iteration's
         * results in rcx and rdx all the same. */
        bool interrupted = s->next_pc >= KERNEL_HALF;
        if (interrupted) ls->post_interrupted++;
        if (p->gpr[X86_RCX] != rcx - 1 || p->gpr[X86_RDX] != s->pre.gpr[X86_RDX] + rcx ||
            p->rip != s->next_pc || (rcx > 1 && s->next_pc != loop_head && !interrupted)) {
            ls->bad_post++;
            bad = true;
        }
    }
    if (bad && !ls->first_bad_seq) {
        ls->first_bad_seq = s->exec_seq + 1;
        printf("first bad loop sample: exec_seq %" PRIu64 " rcx %" PRIu64 " next_pc 0x%" PRIx64 " post %s rcx %" PRIu64
               " rip 0x%" PRIx64 ", %u accesses\n", s->exec_seq, rcx, s->next_pc, s->post.present ? "present" : "absent",
               s->post.regs.gpr[X86_RCX], s->post.regs.rip, s->mem.n);
    }
}

/* FNV-1a over every field of an instruction view but its timestamp. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t k = 0; k < n; k++) h = (h ^ b[k]) * 0x100000001b3ULL;
    return h;
}

static uint64_t insn_digest(const struct rec_trace_insn *i)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, &i->pc, 8);
    h = fnv(h, i->bytes.ptr, i->bytes.len);
    h = fnv(h, &i->bytes.len, 4);
    h = fnv(h, i->disasm.ptr, i->disasm.len);
    h = fnv(h, &i->regs, sizeof i->regs);
    h = fnv(h, &i->mem.n, 4);
    for (uint32_t k = 0; k < i->mem.n; k++) {
        const struct x86_mem_access *a = &i->mem.v[k];
        uint8_t st = a->is_store;
        h = fnv(h, &a->addr, 8);
        h = fnv(h, &a->value, 8);
        h = fnv(h, &a->size, 1);
        h = fnv(h, &st, 1);
    }
    return h;
}

static void on_insn(const struct rec_trace_insn *i, void *ctx)
{
    struct run *run = ctx;
    if (run->collect) {
        if (run->ndigest == run->digest_cap) {
            size_t cap = run->digest_cap ? 2 * run->digest_cap : 1u << 20;
            uint64_t *d = realloc(run->digest, cap * sizeof *d);
            if (!d) return;     /* ndigest then falls short: the test fails */
            run->digest = d;
            run->digest_cap = cap;
        }
        run->digest[run->ndigest++] = insn_digest(i);
        return;
    }
    struct insn_stats *is = &run->is;
    if (i->pc < loop_head || i->pc >= loop_head + LOOP_BYTES) { is->other_pc++; return; }
    is->by_offset[i->pc - loop_head]++;
    if (i->regs.rflags & 0x8d5) is->status_flags_set++;
    /* Later instructions of the loop: registers follow from the head's (this
     * checks the plugin's re-read-only-what-changed logic). */
    uint64_t c = i->regs.gpr[X86_RCX], d = i->regs.gpr[X86_RDX];
    bool zf = (i->regs.rflags >> 6) & 1;
    bool bad = (i->pc == loop_head + 3 && (c != is->head_rcx || d != is->head_rdx)) ||
               (i->pc == loop_head + 6 && (c != is->head_rcx || d != is->head_rdx + is->head_rcx)) ||
               (i->pc == loop_head + 9 && (c != is->head_rcx - 1 || d != is->head_rdx + is->head_rcx));
    /* rflags inside a TB is not checked: QEMU writes its lazy-flags state back
     * only at TB boundaries, so a mid-TB read can be stale (docs/tracer.md). */
    if (bad && is->bad_delta++ < 3)
        fprintf(stderr, "insn at loop+%d: rcx=%" PRIu64 " rdx=%" PRIu64 " zf=%d; at the head rcx=%" PRIu64
                " rdx=%" PRIu64 "\n", (int)(i->pc - loop_head), c, d, zf, is->head_rcx, is->head_rdx);
    if (i->pc != loop_head) return;
    /* From one iteration to the next (a new TB: registers are then read as
     * what the jnz wrote plus rsp/rflags, or in full after untraced code). */
    if (is->at_head && (i->regs.gpr[X86_RCX] != is->head_rcx - 1 ||
                        i->regs.gpr[X86_RDX] != is->head_rdx + is->head_rcx)) is->bad_chain++;
    is->head_rcx = i->regs.gpr[X86_RCX];
    is->head_rdx = i->regs.gpr[X86_RDX];
    uint64_t rcx = i->regs.gpr[X86_RCX];
    if (rcx < 1 || rcx > LOOP_COUNT || i->regs.gpr[X86_RBX] != LOOP_MAGIC || i->regs.rip != loop_head ||
        i->bytes.len != 3 || strncmp(i->disasm.ptr, "mov", 3) != 0)
        is->bad_regs++;
    if (i->mem.n != 1 || !i->mem.v[0].is_store || i->mem.v[0].addr != loop_cell || i->mem.v[0].value != rcx)
        is->bad_mem++;
    is->at_head++;
}

static void *reader_main(void *p)
{
    struct run *run = p;
    if (run->slow_reader_ms) {
        /* A slow consumer: read in small steps with pauses so the queue fills. */
        struct rec_arena a;
        struct shmq_msg m;
        rec_arena_init(&a);
        while (!run->r.end_seen && !run->stop) {
            int st = shmq_peek(run->r.q, &m, 100);
            if (st == SHMQ_OK) {
                trace_reader_handle(&run->r, m.data, m.len, &a);
                rec_arena_reset(&a);
                shmq_commit(run->r.q);
                if (run->r.records[2] % 4 == 1) {
                    struct timespec d = {0, run->slow_reader_ms * 1000000L};
                    nanosleep(&d, NULL);
                }
            } else if (st != SHMQ_AGAIN) {
                break;
            }
        }
        rec_arena_free(&a);
        return NULL;
    }
    trace_reader_run(&run->r, 600000, &run->stop);
    return NULL;
}

/* Run the VM with `args` while a reader thread consumes the queue. */
static int run_vm(struct run *run, const char *tag, const char *workloads, uint64_t qsize, const char **args, int nargs)
{
    char qarg[160];
    snprintf(run->queue, sizeof run->queue, "/dev/shm/tcgl_test_trace_%s_%d", tag, (int)getpid());
    snprintf(run->console, sizeof run->console, "%s/test-logs/tracer_%s.console", build, tag);
    snprintf(run->qlog, sizeof run->qlog, "%s/test-logs/tracer_%s.qemu", build, tag);
    snprintf(qarg, sizeof qarg, "queue=%s", run->queue);
    unlink(run->queue);
    if (trace_reader_open(&run->r, run->queue, qsize) < 0) return -1;
    run->r.on_tb = on_tb;
    run->r.on_sample = on_sample;
    run->r.on_insn = on_insn;
    run->r.ctx = run;

    static char kernel[1100], initrd[1100], plugin[1100];
    snprintf(kernel, sizeof kernel, "%s/tracer/vmlinux", build);
    snprintf(initrd, sizeof initrd, "%s/tracer/initramfs.cpio.gz", build);
    snprintf(plugin, sizeof plugin, "%s/lib/trace_logger.so", build);
    struct vm_spec s;
    vm_spec_default(&s);
    s.kernel = kernel;
    s.initrd = initrd;
    s.plugin = plugin;
    s.workloads = workloads;
    s.memory_mib = 256;
    s.timeout_s = 240;
    char vmid[64];
    snprintf(vmid, sizeof vmid, "test_%s_%d", tag, (int)getpid());
    s.vm_id = vmid;
    s.serial_log = run->console;
    s.stderr_log = run->qlog;
    if (run->deterministic) s.icount = 0;
    if (run->cpus) s.cpus = run->cpus;
    s.plugin_args[s.nplugin_args++] = qarg;
    for (int i = 0; i < nargs; i++) s.plugin_args[s.nplugin_args++] = args[i];

    pthread_t th;
    pthread_create(&th, NULL, reader_main, run);
    run->vm_rc = vm_run(&s, &run->vm);
    /* The plugin ends the stream at exit; give the reader time to drain it. */
    for (int i = 0; i < 300 && !run->r.end_seen; i++) {
        struct timespec d = {0, 20 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    run->stop = true;
    pthread_join(th, NULL);
    shmq_close(run->r.q);
    run->r.q = NULL;
    unlink(run->queue);
    if (run->vm_rc != 0) fprintf(stderr, "vm (%s): %s\n", tag, run->vm.msg);
    return 0;
}

static uint64_t symbol(const char *bin, const char *name)
{
    char cmd[1200], line[256];
    snprintf(cmd, sizeof cmd, "nm '%s'", bin);
    FILE *p = popen(cmd, "r");
    uint64_t v = 0;
    if (!p) return 0;
    while (fgets(line, sizeof line, p)) {
        char sym[200], type;
        unsigned long long a;
        if (sscanf(line, "%llx %c %199s", &a, &type, sym) == 3 && !strcmp(sym, name)) v = a;
    }
    pclose(p);
    return v;
}

static bool have(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool no_qemu;    /* qemu-system-x86_64 is not installed: every case skips */

#define NEED_QEMU() do { if (no_qemu) { fprintf(stderr, "SKIP: qemu-system-x86_64 not found (make deps installs it)\n"); skip(); } } while (0)

static int setup(void **state)
{
    if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0) {
        no_qemu = true;
        return 0;
    }
    const char *b = getenv("TCGL_BUILD");
    snprintf(build, sizeof build, "%s", b ? b : "build");
    char p[1200];
    const char *need[] = {"tracer/vmlinux", "tracer/initramfs.cpio.gz", "lib/trace_logger.so",
                          "tracer/guest-bin/wl_loop"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        snprintf(p, sizeof p, "%s/%s", build, need[i]);
        if (!have(p)) { fprintf(stderr, "setup: %s is missing (make BUILD=%s build)\n", p, build); return -1; }
    }
    snprintf(p, sizeof p, "%s/test-logs", build);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/tracer/guest-bin/wl_loop", build);
    loop_head = symbol(p, "wl_loop_head");
    loop_cell = symbol(p, "wl_loop_cell");
    main_lo = symbol(p, "main");
    main_hi = loop_head + 16;
    if (!loop_head || !loop_cell || !main_lo) { fprintf(stderr, "setup: symbols missing in %s\n", p); return -1; }
    snprintf(p, sizeof p, "%s/tracer/guest-bin/wl_compat32", build);
    c32_loop = symbol(p, "wl32_loop");
    c32_lo = symbol(p, "_start");
    c32_hi = c32_loop + 64;
    if (!c32_loop || !c32_lo) { fprintf(stderr, "setup: symbols missing in %s\n", p); return -1; }

    const char *block_args[] = {"filter=user", "sample_first=8", "sample_every=1000"};
    if (run_vm(&block_run, "block", "loop,compat32", 16u << 20, block_args, 3) < 0) return -1;
    char range[80];
    snprintf(range, sizeof range, "range=0x%" PRIx64 "-0x%" PRIx64, loop_head, loop_head + LOOP_BYTES);
    const char *insn_args[] = {"mode=insn", range};
    if (run_vm(&insn_run, "insn", "loop", 16u << 20, insn_args, 2) < 0) return -1;
    const char *drop_args[] = {"filter=user", "overflow=drop", "batch=256", "sample_every=16"};
    drop_run.slow_reader_ms = 2;
    if (run_vm(&drop_run, "drop", "loop", 64u << 10, drop_args, 4) < 0) return -1;
    const char *compact_args[] = {"mode=insn", "filter=user", "insn_format=compact", "check=on"};
    const char *literal_args[] = {"mode=insn", "filter=user", "insn_format=literal", "check=on"};
    compact_run.deterministic = literal_run.deterministic = true;
    compact_run.collect = literal_run.collect = true;
    if (run_vm(&compact_run, "compact", "loop", 16u << 20, compact_args, 4) < 0) return -1;
    if (run_vm(&literal_run, "literal", "loop", 16u << 20, literal_args, 4) < 0) return -1;
    smp_run.cpus = 2;
    if (run_vm(&smp_run, "smp", "loop", 16u << 20, insn_args, 2) < 0) return -1;
    smp_block_run.cpus = 2;
    const char *smp_block_args[] = {"filter=all", "sample_first=8", "sample_every=1000", "check=on"};
    if (run_vm(&smp_block_run, "smpblock", "loop", 16u << 20, smp_block_args, 4) < 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    trace_reader_close(&block_run.r);
    trace_reader_close(&insn_run.r);
    trace_reader_close(&drop_run.r);
    trace_reader_close(&compact_run.r);
    trace_reader_close(&literal_run.r);
    trace_reader_close(&smp_run.r);
    trace_reader_close(&smp_block_run.r);
    free(compact_run.digest);
    free(literal_run.digest);
    return 0;
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    bool found = false;
    if (!f) return false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* The plugin loads in a real VM, the guest runs its workload and powers off,
 * and the plugin's end record arrives. */
static void test_tcg_plugin_load(void **state)
{
    NEED_QEMU();
    assert_int_equal(block_run.vm_rc, 0);
    assert_int_equal(block_run.vm.exit_status, 0);
    assert_true(block_run.vm.guest_done);
    assert_int_equal(block_run.vm.workloads_failed, 0);
    assert_true(file_has(block_run.qlog, "trace_logger: queue"));
    assert_true(file_has(block_run.console, "wl_loop: iterations=123457 sum=7620877153"));
    /* QEMU created the console log (and the guest RAM file) under the
     * tracer's umask 077: nobody else may read what the guest printed. */
    struct stat cst;
    assert_int_equal(stat(block_run.console, &cst), 0);
    assert_int_equal(cst.st_mode & 077, 0);
    assert_true(block_run.r.end_seen);
    assert_string_equal(block_run.r.end_reason, "guest exit");
    assert_int_equal(block_run.r.bad_records, 0);
}

/* ≥ 10,000 instructions captured, every executed TB announced, totals agree,
 * and the workload's own blocks (wl_loop's main and loop) are in the trace. */
static void test_trace_capture(void **state)
{
    NEED_QEMU();
    struct trace_reader *r = &block_run.r;
    assert_true(r->insns_executed >= 10000);
    assert_int_equal(r->unknown_tb_ids, 0);
    assert_int_equal(r->end.dropped, 0);
    assert_int_equal(r->end.insns, r->insns_executed);
    assert_int_equal(r->end.blocks, r->exec_entries);
    assert_int_equal(r->end.tbs, r->records[REC_TRACE_TB]);
    assert_int_equal(r->end.samples, r->records[REC_TRACE_SAMPLE]);
    assert_true(block_run.tbs_in_main >= 2);
    assert_int_equal(block_run.bad_mode_tbs, 0);     /* 64-bit user code decoded as 64-bit */
}

/* The loop block executes exactly 123,457 times; its samples (exec_seq 0..7,
 * then every 1000th) carry the known counter, magic, pointer and the store
 * and load of the counter with its value; the post state is one iteration on. */
static void test_loop_count_and_samples(void **state)
{
    NEED_QEMU();
    struct loop_samples *ls = &block_run.ls;
    assert_int_equal(trace_reader_execs_at(&block_run.r, loop_head), LOOP_COUNT);
    /* exec_seq 0..7 and 7+1000k <= 123456: 8 + 123 samples */
    assert_int_equal(ls->n, 131);
    if (ls->first_bad_seq) fprintf(stderr, "first bad sample: exec_seq %" PRIu64 "\n", ls->first_bad_seq - 1);
    assert_int_equal(ls->bad_rcx, 0);
    assert_int_equal(ls->bad_rbx, 0);
    assert_int_equal(ls->bad_rdi, 0);
    assert_int_equal(ls->bad_mem, 0);
    assert_int_equal(ls->bad_post, 0);
    assert_true(ls->with_post >= ls->n - 1);
}

/* 32-bit code is never decoded as 64-bit: wl_compat32's loop (40 49 75 fc:
 * "inc eax; dec ecx; jnz", one instruction in 64-bit mode) runs in
 * compatibility mode under the 64-bit kernel; its TB is reported as 32-bit
 * with QEMU's three instructions and 32-bit disassembly, and executes
 * exactly 100,000 times. */
static void test_compat32_mode(void **state)
{
    NEED_QEMU();
    assert_true(file_has(block_run.console, "TCGL-END compat32 rc=0"));
    assert_true(block_run.c32_tbs >= 2);
    assert_int_equal(block_run.c32_bad_mode, 0);
    assert_int_equal(block_run.c32_loop_mode, 32);
    assert_int_equal(block_run.c32_loop_ninsns, 3);
    assert_string_equal(block_run.c32_loop_disasm[0], "inc eax");
    assert_string_equal(block_run.c32_loop_disasm[1], "dec ecx");
    assert_int_equal(trace_reader_execs_at(&block_run.r, c32_loop), 100000);
}

/* filter=user: no kernel-half address and no ring-0 TB in the trace. */
static void test_user_filter(void **state)
{
    NEED_QEMU();
    assert_true(block_run.r.records[REC_TRACE_TB] > 0);
    assert_int_equal(block_run.kernel_tbs, 0);
    assert_int_equal(block_run.nonuser_tbs, 0);
}

/* mode=insn with range= on the loop: one TRACE_INSN per executed instruction
 * of the loop (4 x 123,457), each at the loop head with registers and the store.
 * The range covers exactly the loop's 11 bytes: a TB is traced when it starts
 * inside a range, and the code after the loop would start one. */
static void test_insn_mode_range(void **state)
{
    NEED_QEMU();
    assert_int_equal(insn_run.vm_rc, 0);
    assert_true(insn_run.r.end_seen);
    for (int k = 0; k < 16; k++)
        if (insn_run.is.by_offset[k]) fprintf(stderr, "insn records at loop+%d: %" PRIu64 "\n", k, insn_run.is.by_offset[k]);
    assert_int_equal(insn_run.is.at_head, LOOP_COUNT);
    assert_int_equal(insn_run.r.insn_views, 4u * LOOP_COUNT);
    assert_true(insn_run.r.records[REC_TRACE_INSNS] > 0);    /* insn_format=compact is the default */
    assert_int_equal(insn_run.r.records[REC_TRACE_INSN], 0);
    assert_int_equal(insn_run.r.bad_insns, 0);
    assert_int_equal(insn_run.is.other_pc, 0);
    assert_int_equal(insn_run.is.bad_regs, 0);
    assert_int_equal(insn_run.is.bad_mem, 0);
    assert_int_equal(insn_run.is.bad_delta, 0);
    assert_int_equal(insn_run.is.bad_chain, 0);
    /* QEMU keeps the status flags out of the rflags it exposes while TCG
     * code runs, which is why the plugin does not read rflags again after
     * an instruction that changes only those (tl_insn_reread); if a QEMU
     * exposed them, this fails and that shortcut must go. */
    assert_int_equal(insn_run.is.status_flags_set, 0);
    assert_int_equal(insn_run.r.end.insns, 4u * LOOP_COUNT);
}

/* Timestamps never go backwards: exec entries (the TSC is read at every
 * ts_every-th entry, after untraced code and after translations;
 * CLOCK_MONOTONIC at each batch) and instruction records; they advance (the
 * runs take seconds); and no entry is stamped later than the moment its
 * record was pushed (sent_us, read from CLOCK_MONOTONIC at the push): the
 * TSC-derived offsets do not run ahead of real time.  They did, by the time
 * a flush took, when a new batch counted from a TSC reading made before the
 * flush: hundreds of records per boot, which the whole two-vCPU boot of
 * smp_block_run shows. */
static void test_timestamps_monotonic(void **state)
{
    NEED_QEMU();
    assert_int_equal(block_run.r.ts_backwards, 0);
    assert_true(block_run.r.last_ts_us > block_run.r.first_ts_us + 1000);
    assert_int_equal(block_run.r.ts_after_sent, 0);
    assert_int_equal(insn_run.r.ts_backwards, 0);
    assert_true(insn_run.r.last_ts_us > insn_run.r.first_ts_us + 1000);
    assert_int_equal(insn_run.r.ts_after_sent, 0);
    assert_true(smp_block_run.r.records[REC_TRACE_EXEC] > 100);
    assert_int_equal(smp_block_run.r.ts_backwards, 0);
    assert_int_equal(smp_block_run.r.ts_after_sent, 0);
}

/* The two instruction formats describe the same execution identically: the
 * same workload under --icount 0 (same instructions, same values), once with
 * insn_format=compact (TRACE_INSNS, expanded by trace_reader) and once with
 * insn_format=literal (one TRACE_INSN each); every instruction view (pc,
 * bytes, disassembly, all 20 register words, memory accesses; not the
 * timestamp, which is host time) agrees, in order.  filter=user over a whole
 * workload: system calls, page faults and signals leave traced code, so
 * full register reads, TB entries and within-TB deltas all occur. */
static void test_insn_formats_agree(void **state)
{
    NEED_QEMU();
    struct run *c = &compact_run, *l = &literal_run;
    assert_int_equal(c->vm_rc, 0);
    assert_int_equal(l->vm_rc, 0);
    assert_true(c->r.end_seen && l->r.end_seen);
    assert_int_equal(c->r.bad_records + c->r.bad_insns + l->r.bad_records, 0);
    assert_int_equal(c->r.records[REC_TRACE_INSN], 0);
    assert_true(c->r.records[REC_TRACE_INSNS] > 0);
    assert_int_equal(l->r.records[REC_TRACE_INSNS], 0);
    assert_int_equal(l->r.records[REC_TRACE_INSN], l->r.end.insns);
    assert_int_equal(c->r.end.dropped + l->r.end.dropped, 0);
    /* both ran check=on: every partial register read agreed with a full one */
    assert_true(file_has(c->qlog, " regs_mispredicted=0 "));
    assert_true(file_has(l->qlog, " regs_mispredicted=0 "));
    fprintf(stderr, "compact: %zu instructions in %" PRIu64 " TRACE_INSNS; literal: %zu TRACE_INSN\n", c->ndigest,
            c->r.records[REC_TRACE_INSNS], l->ndigest);
    assert_true(c->ndigest > 100000);
    assert_int_equal(c->ndigest, c->r.end.insns);
    assert_int_equal(c->ndigest, l->ndigest);
    size_t first_diff = c->ndigest, ndiff = 0;
    for (size_t k = 0; k < c->ndigest; k++)
        if (c->digest[k] != l->digest[k]) {
            if (first_diff == c->ndigest) first_diff = k;
            ndiff++;
        }
    if (ndiff) fprintf(stderr, "%zu instructions differ, the first at index %zu\n", ndiff, first_diff);
    assert_int_equal(ndiff, 0);
}

/* Two vCPUs (each has its own batch; they share the queue under a lock):
 * every instruction of the loop arrives, expanded, with the loop's values.
 * The order of records from different vCPUs is not the execution order (a
 * migrated process's iterations may interleave), so the chain is not checked. */
static void test_insn_mode_two_vcpus(void **state)
{
    NEED_QEMU();
    struct run *r = &smp_run;
    assert_int_equal(r->vm_rc, 0);
    assert_true(r->r.end_seen);
    assert_int_equal(r->r.bad_records + r->r.bad_insns + r->r.end.dropped, 0);
    assert_int_equal(r->r.insn_views, 4u * LOOP_COUNT);
    assert_int_equal(r->r.end.insns, 4u * LOOP_COUNT);
    assert_int_equal(r->is.at_head, LOOP_COUNT);
    assert_int_equal(r->is.other_pc, 0);
    assert_int_equal(r->is.bad_regs, 0);
    assert_int_equal(r->is.bad_mem, 0);
}

/* Block mode with two vCPUs: each vCPU has its own sample countdown per TB
 * (a column of the countdown scoreboards), so the loop keeps its exact
 * count and every sample its known values.  The guest may move the loop
 * from one vCPU to the other; each vCPU then samples its own first 8 and
 * every 1000th after, which is never fewer than one vCPU's 131.  With the
 * kernel traced, a sample's next block may be an interrupt's entry (the
 * post-state check allows it; it once failed a CI run before it did). */
static void test_block_mode_two_vcpus(void **state)
{
    NEED_QEMU();
    struct run *r = &smp_block_run;
    struct loop_samples *ls = &r->ls;
    assert_int_equal(r->vm_rc, 0);
    assert_true(r->r.end_seen);
    assert_int_equal(r->r.bad_records + r->r.end.dropped, 0);
    assert_int_equal(trace_reader_execs_at(&r->r, loop_head), LOOP_COUNT);
    assert_true(ls->n >= 131);
    printf("two vCPUs: %u loop samples, %u with a post state, %u of them at an interrupt's entry\n", ls->n,
           ls->with_post, ls->post_interrupted);
    assert_int_equal(ls->bad_rcx, 0);
    assert_int_equal(ls->bad_rbx, 0);
    assert_int_equal(ls->bad_rdi, 0);
    assert_int_equal(ls->bad_mem, 0);
    assert_int_equal(ls->bad_post, 0);
}

/* The plugin's shortcuts, checked by the plugin itself under check=on, over
 * the whole boot and workload, kernel and user code, both vCPUs:
 *  - block mode puts its memory callback only on instructions that may
 *    access memory (tl_insn_may_access_memory); the others get one too,
 *    marked, and no access of theirs arrives;
 *  - a sample's post state is its pre state with the sampled TB's write
 *    set and rsp, rip, rflags read again; the full read agrees every time. */
static void test_plugin_shortcuts(void **state)
{
    NEED_QEMU();
    struct run *r = &smp_block_run;
    assert_int_equal(r->vm_rc, 0);
    assert_true(r->kernel_tbs > 10000);
    assert_true(file_has(r->qlog, "trace_logger: end: "));
    assert_true(file_has(r->qlog, " mem_misclassified=0 "));
    assert_true(file_has(r->qlog, " regs_mispredicted=0 "));
}

/* overflow=drop on a 64 KiB queue with a slow reader: records are dropped,
 * counted in TRACE_END, and the guest still finishes. */
static void test_overflow_drop_counts(void **state)
{
    NEED_QEMU();
    assert_int_equal(drop_run.vm_rc, 0);
    assert_true(drop_run.r.end_seen);
    assert_true(drop_run.r.end.dropped > 0);
    assert_true(drop_run.r.exec_entries < drop_run.r.end.blocks);
    assert_int_equal(drop_run.r.bad_records, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcg_plugin_load),
        cmocka_unit_test(test_trace_capture),
        cmocka_unit_test(test_loop_count_and_samples),
        cmocka_unit_test(test_compat32_mode),
        cmocka_unit_test(test_user_filter),
        cmocka_unit_test(test_insn_mode_range),
        cmocka_unit_test(test_timestamps_monotonic),
        cmocka_unit_test(test_overflow_drop_counts),
        cmocka_unit_test(test_insn_formats_agree),
        cmocka_unit_test(test_insn_mode_two_vcpus),
        cmocka_unit_test(test_block_mode_two_vcpus),
        cmocka_unit_test(test_plugin_shortcuts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
