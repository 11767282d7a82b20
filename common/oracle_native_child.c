/* oracle_native_child.c — the sandboxed child of oracle_native.
 *
 * Runs after fork(): installs fault handlers on an alternate stack, a
 * seccomp filter (libseccomp; anything not listed raises SIGSYS, which is
 * reported as ORACLE_FAULT_SYSCALL), then serves jobs from shared memory
 * (oracle_native_shm.h) until its socket closes.  Per state it maps the
 * regions, places the code at its guest rip followed by an exit stub, and
 * enters the guest through a small assembly trampoline that loads every GPR
 * (RSP included) and RFLAGS; the stub jumps back into the trampoline, which
 * stores the registers and flags.  A fault or the per-state timer (SIGALRM)
 * is turned into a result by rewriting the signal context so that sigreturn
 * lands in the trampoline's recovery path on the child's own stack.
 * No logging here: the child must not make system calls beyond the filter.
 */
#include "oracle_block.h"
#include "oracle_native_shm.h"
#include "sandbox.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__x86_64__)
_Noreturn void oracle_native_child_main(void *shm, int sock_fd, const struct sock_fprog *filter)
{
    (void)shm; (void)sock_fd; (void)filter;
    _exit(2);   /* the native oracle needs an x86-64 host */
}

int oracle_native_filter_build(int sock_fd, struct sock_fprog *prog)
{
    (void)sock_fd; (void)prog;
    return -1;
}
#else

#define PAGE            4096ull
#define USER_TOP        0x00007ffffffff000ull
/* Where the code goes when its own rip is unusable on the host. */
#define RELOC_CODE_BASE 0x00001e0000000000ull
#define TICK_MS         10u
#define RFLAGS_IN_MASK  (X86_RFLAGS_STATUS_MASK | (1u << X86_RFLAGS_DF))

/* The trampoline's view of the guest; offsets are used by the assembly. */
struct native_cpu {
    uint64_t in_gpr[16];     /*   0 */
    uint64_t in_rflags;      /* 128 */
    uint64_t code_entry;     /* 136 */
    uint64_t host_rsp;       /* 144 */
    uint64_t exit_kind;      /* 152: 0 fell through, 1 jcc taken */
    uint64_t out_gpr[16];    /* 160 */
    uint64_t out_rflags;     /* 288 */
    uint64_t in_guest;       /* 296 */
};
_Static_assert(offsetof(struct native_cpu, in_rflags) == 128, "asm offsets");
_Static_assert(offsetof(struct native_cpu, out_gpr) == 160, "asm offsets");
_Static_assert(offsetof(struct native_cpu, in_guest) == 296, "asm offsets");

__attribute__((visibility("hidden"))) volatile struct native_cpu oracle_native_cpu;

/* Returns 0 when the exit stub was reached, 1 when a signal ended the run. */
__attribute__((visibility("hidden"))) int oracle_native_enter(void);
__attribute__((visibility("hidden"))) void oracle_native_exit_fall(void);
__attribute__((visibility("hidden"))) void oracle_native_exit_taken(void);
__attribute__((visibility("hidden"))) void oracle_native_recover(void);

#define CPU "oracle_native_cpu"
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl oracle_native_enter\n.hidden oracle_native_enter\n"
    ".type oracle_native_enter,@function\n"
    "oracle_native_enter:\n"
    "  push %rbp\n  push %rbx\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov %rsp, " CPU "+144(%rip)\n"
    "  pushq " CPU "+128(%rip)\n"
    "  popfq\n"
    "  mov " CPU "+0(%rip), %rax\n"
    "  mov " CPU "+8(%rip), %rcx\n"
    "  mov " CPU "+16(%rip), %rdx\n"
    "  mov " CPU "+24(%rip), %rbx\n"
    "  mov " CPU "+40(%rip), %rbp\n"
    "  mov " CPU "+48(%rip), %rsi\n"
    "  mov " CPU "+56(%rip), %rdi\n"
    "  mov " CPU "+64(%rip), %r8\n"
    "  mov " CPU "+72(%rip), %r9\n"
    "  mov " CPU "+80(%rip), %r10\n"
    "  mov " CPU "+88(%rip), %r11\n"
    "  mov " CPU "+96(%rip), %r12\n"
    "  mov " CPU "+104(%rip), %r13\n"
    "  mov " CPU "+112(%rip), %r14\n"
    "  mov " CPU "+120(%rip), %r15\n"
    "  movq $1, " CPU "+296(%rip)\n"
    "  mov " CPU "+32(%rip), %rsp\n"
    "  jmp *" CPU "+136(%rip)\n"
    ".size oracle_native_enter, .-oracle_native_enter\n"
    /* Exit stubs: mov imm -> mem and jmp leave the flags alone. */
    ".p2align 4\n"
    ".globl oracle_native_exit_taken\n.hidden oracle_native_exit_taken\n"
    "oracle_native_exit_taken:\n"
    "  movq $1, " CPU "+152(%rip)\n"
    "  jmp 1f\n"
    ".globl oracle_native_exit_fall\n.hidden oracle_native_exit_fall\n"
    "oracle_native_exit_fall:\n"
    "  movq $0, " CPU "+152(%rip)\n"
    "1:\n"
    "  movq $0, " CPU "+296(%rip)\n"
    "  mov %rax, " CPU "+160(%rip)\n"
    "  mov %rcx, " CPU "+168(%rip)\n"
    "  mov %rdx, " CPU "+176(%rip)\n"
    "  mov %rbx, " CPU "+184(%rip)\n"
    "  mov %rsp, " CPU "+192(%rip)\n"
    "  mov %rbp, " CPU "+200(%rip)\n"
    "  mov %rsi, " CPU "+208(%rip)\n"
    "  mov %rdi, " CPU "+216(%rip)\n"
    "  mov %r8, " CPU "+224(%rip)\n"
    "  mov %r9, " CPU "+232(%rip)\n"
    "  mov %r10, " CPU "+240(%rip)\n"
    "  mov %r11, " CPU "+248(%rip)\n"
    "  mov %r12, " CPU "+256(%rip)\n"
    "  mov %r13, " CPU "+264(%rip)\n"
    "  mov %r14, " CPU "+272(%rip)\n"
    "  mov %r15, " CPU "+280(%rip)\n"
    "  mov " CPU "+144(%rip), %rsp\n"
    "  pushfq\n"
    "  popq " CPU "+288(%rip)\n"
    "  cld\n"
    "  xor %eax, %eax\n"
    "  jmp 2f\n"
    /* The signal handler resumes here, on the child's own stack. */
    ".globl oracle_native_recover\n.hidden oracle_native_recover\n"
    "oracle_native_recover:\n"
    "  cld\n"
    "  mov $1, %eax\n"
    "2:\n"
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbx\n  pop %rbp\n"
    "  ret\n");

/* ---- signals ---------------------------------------------------------------- */

struct fault_info {
    int signo, code;
    uint64_t addr;
    uint64_t gpr[16], rip, rflags;
};

static volatile struct fault_info g_fault;
static volatile uint64_t g_state_serial, g_alarm_serial;
static volatile unsigned g_alarm_ticks, g_limit_ticks;
static uint8_t g_altstack[64 * 1024] __attribute__((aligned(16)));

/* ucontext register index of each GPR in hardware order. */
static const int greg_of_gpr[16] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void on_signal(int sig, siginfo_t *si, void *ctxp)
{
    ucontext_t *uc = ctxp;
    if (!oracle_native_cpu.in_guest) {
        if (sig == SIGALRM)
            return;
        _exit(100 + sig);   /* a fault in the child itself: the parent restarts us */
    }
    if (sig == SIGALRM) {
        if (g_alarm_serial != g_state_serial) {
            g_alarm_serial = g_state_serial;
            g_alarm_ticks = 0;
        }
        if (++g_alarm_ticks < g_limit_ticks)
            return;
    }
    g_fault.signo = sig;
    g_fault.code = si->si_code;
    g_fault.addr = (uint64_t)(uintptr_t)si->si_addr;
    for (int r = 0; r < 16; r++)
        g_fault.gpr[r] = (uint64_t)uc->uc_mcontext.gregs[greg_of_gpr[r]];
    g_fault.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    g_fault.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
    oracle_native_cpu.in_guest = 0;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)oracle_native_recover;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)oracle_native_cpu.host_rsp;
    uc->uc_mcontext.gregs[REG_EFL] = 0x202;
}

static int install_signals(void)
{
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGALRM };
    stack_t ss = { .ss_sp = g_altstack, .ss_size = sizeof g_altstack, .ss_flags = 0 };
    if (sigaltstack(&ss, NULL) != 0)
        return -1;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return -1;
    }
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    return sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- seccomp ------------------------------------------------------------------ */

/* The child's policy, one row per system call (common/sandbox.h); the
 * default action traps (SIGSYS, reported as ORACLE_FAULT_SYSCALL), also for
 * foreign architectures (int 0x80 enters the i386 table).  Built in the
 * parent (libseccomp allocates, and malloc after fork() in a multi-threaded
 * parent can deadlock); the child only installs the BPF. */
int oracle_native_filter_build(int sock_fd, struct sock_fprog *prog)
{
    const uint64_t fd = (uint64_t)sock_fd;
    const struct sandbox_rule rules[] = {
        { SYS_read, SANDBOX_ALLOW, SANDBOX_EQ, 0, 0, fd, 0, "job numbers from the parent" },
        { SYS_write, SANDBOX_ALLOW, SANDBOX_EQ, 0, 0, fd, 0, "answers to the parent" },
        { SYS_write, SANDBOX_ALLOW, SANDBOX_EQ, 0, 0, 2, 0, "stderr" },
        { SYS_mmap, SANDBOX_ALLOW, SANDBOX_MASKED_EQ, 3, MAP_ANONYMOUS, MAP_ANONYMOUS, 0,
          "state pages (anonymous only)" },
        { SYS_munmap, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, "state pages" },
        { SYS_mprotect, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, "code pages" },
        { SYS_madvise, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, "faulting the job area in" },
        { SYS_setitimer, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, "the per-state timer" },
        { SYS_rt_sigreturn, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, "returning from fault handlers" },
        { SYS_exit, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, "exit" },
        { SYS_exit_group, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, "exit" },
    };
    return sandbox_filter_build(rules, sizeof rules / sizeof rules[0], SCMP_ACT_TRAP, SCMP_ACT_TRAP, prog);
}

/* ---- mappings ------------------------------------------------------------------- */

static struct oracle_range g_data[X86_MEM_MAX_REGIONS];
static unsigned g_ndata;
static struct oracle_range g_code;
static uint64_t g_code_seq, g_code_entry;

static void unmap_data(void)
{
    for (unsigned i = 0; i < g_ndata; i++)
        munmap((void *)(uintptr_t)g_data[i].start, g_data[i].end - g_data[i].start);
    g_ndata = 0;
}

static void unmap_code(void)
{
    if (g_code.end > g_code.start)
        munmap((void *)(uintptr_t)g_code.start, g_code.end - g_code.start);
    g_code.start = g_code.end = 0;
    g_code_seq = 0;
}

/* Page ranges of a slot's regions, sorted and merged.  -1 when a region is
 * malformed or outside the user address space. */
static int data_ranges(const struct oracle_shm_slot *s, struct oracle_range *out, unsigned *nout)
{
    unsigned n = 0;
    if (s->nregions > X86_MEM_MAX_REGIONS)
        return -1;
    for (unsigned k = 0; k < s->nregions; k++) {
        uint64_t b = s->region[k].base, sz = s->region[k].size;
        if (sz == 0)
            continue;
        if (sz > X86_MEM_MAX_REGION_SIZE || b >= USER_TOP || sz > USER_TOP - b
            || (uint64_t)s->region[k].off + sz > ORACLE_SHM_SIZE)
            return -1;
        out[n].start = b & ~(PAGE - 1);
        out[n].end = (b + sz + PAGE - 1) & ~(PAGE - 1);
        n++;
    }
    *nout = oracle_ranges_merge(out, n);
    return 0;
}

/* True when every region is whole pages: the copy-in then overwrites every
 * byte of the mapped pages and zeroing them first is wasted work. */
static bool regions_tile_pages(const struct oracle_shm_slot *s)
{
    for (unsigned k = 0; k < s->nregions; k++)
        if (s->region[k].base % PAGE != 0 || s->region[k].size % PAGE != 0)
            return false;
    return true;
}

static bool data_contains(uint64_t a, uint64_t len)
{
    for (unsigned i = 0; i < g_ndata; i++)
        if (a >= g_data[i].start && a < g_data[i].end && len <= g_data[i].end - a)
            return true;
    return false;
}

static int map_data(const struct oracle_range *r, unsigned n)
{
    g_ndata = 0;
    for (unsigned i = 0; i < n; i++) {
        void *want = (void *)(uintptr_t)r[i].start;
        void *p = mmap(want, r[i].end - r[i].start, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        if (p != want) {    /* a kernel without MAP_FIXED_NOREPLACE treats it as a hint */
            munmap(p, r[i].end - r[i].start);
            return -1;
        }
        g_data[g_ndata++] = r[i];
    }
    return 0;
}

/* Emit the code and its exit stub(s) at `entry`. Returns bytes written. */
static size_t emit_code(uint8_t *dst, const struct oracle_shm_hdr *h)
{
    const struct oracle_block *b = &h->blk;
    size_t n = b->body_len;
    memcpy(dst, h->code, n);
    if (b->term == ORACLE_TERM_JCC) {
        /* jcc rel32 over the fall-through stub to the taken stub */
        dst[n++] = 0x0f;
        dst[n++] = (uint8_t)(0x80 | b->jcc_cond);
        int32_t rel = 14;
        memcpy(dst + n, &rel, 4);
        n += 4;
    }
    uint64_t fall = (uint64_t)(uintptr_t)oracle_native_exit_fall;
    uint64_t taken = (uint64_t)(uintptr_t)oracle_native_exit_taken;
    static const uint8_t jmp_abs[6] = { 0xff, 0x25, 0, 0, 0, 0 };   /* jmp *0(%rip) */
    memcpy(dst + n, jmp_abs, 6); memcpy(dst + n + 6, &fall, 8); n += 14;
    if (b->term == ORACLE_TERM_JCC) {
        memcpy(dst + n, jmp_abs, 6); memcpy(dst + n + 6, &taken, 8); n += 14;
    }
    return n;
}

static size_t code_bytes(const struct oracle_block *b)
{
    return b->body_len + 14 + (b->term == ORACLE_TERM_JCC ? 6 + 14 : 0);
}

static bool try_code_at(const struct oracle_shm_hdr *h, uint64_t entry, const struct oracle_range *dr, unsigned nd)
{
    size_t total = code_bytes(&h->blk);
    if (entry >= USER_TOP || total > USER_TOP - entry)
        return false;
    struct oracle_range r = { entry & ~(PAGE - 1), (entry + total + PAGE - 1) & ~(PAGE - 1) };
    for (unsigned i = 0; i < nd; i++)
        if (oracle_range_overlaps(r, dr[i]))
            return false;
    if (g_code_seq == h->seq && g_code_entry == entry && g_code.start == r.start && g_code.end == r.end)
        return true;
    unmap_code();
    void *p = mmap((void *)(uintptr_t)r.start, r.end - r.start, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if (p != (void *)(uintptr_t)r.start) {
        munmap(p, r.end - r.start);
        return false;
    }
    emit_code((uint8_t *)(uintptr_t)entry, h);
    if (mprotect(p, r.end - r.start, PROT_READ | PROT_EXEC) != 0) {
        munmap(p, r.end - r.start);
        return false;
    }
    g_code = r;
    g_code_seq = h->seq;
    g_code_entry = entry;
    return true;
}

/* ---- one state --------------------------------------------------------------------- */

static enum oracle_kind kind_of_signal(int sig)
{
    switch (sig) {
    case SIGSEGV: case SIGBUS: return ORACLE_FAULT_MEM;
    case SIGFPE:  return ORACLE_FAULT_DIV;
    case SIGILL:  return ORACLE_FAULT_ILL;
    case SIGTRAP: return ORACLE_FAULT_TRAP;
    case SIGSYS:  return ORACLE_FAULT_SYSCALL;
    case SIGALRM: return ORACLE_FAULT_TIMEOUT;
    default:      return ORACLE_FAULT_OTHER;
    }
}

static void resolve_terminator(const struct oracle_shm_hdr *h, struct oracle_shm_slot *s)
{
    const struct oracle_block *b = &h->blk;
    uint64_t end = s->in.rip + b->len;
    uint64_t *rsp = &s->out.gpr[X86_RSP];
    uint64_t target = end;

    switch (b->term) {
    case ORACLE_TERM_NONE:
        break;
    case ORACLE_TERM_JCC:
        s->res.taken = oracle_native_cpu.exit_kind == 1;
        if (s->res.taken)
            target = end + (uint64_t)b->rel;
        break;
    case ORACLE_TERM_JMP_REL:
        target = end + (uint64_t)b->rel;
        s->res.taken = true;
        break;
    case ORACLE_TERM_JMP_REG:
        target = s->out.gpr[b->reg];
        s->res.taken = true;
        break;
    case ORACLE_TERM_CALL_REL:
    case ORACLE_TERM_CALL_REG:
        target = b->term == ORACLE_TERM_CALL_REL ? end + (uint64_t)b->rel : s->out.gpr[b->reg];
        if (!data_contains(*rsp - 8, 8)) {
            s->res.kind = ORACLE_FAULT_MEM;
            s->res.fault_addr = *rsp - 8;
            s->res.fault_rip = s->in.rip + b->body_len;
            return;
        }
        *rsp -= 8;
        memcpy((void *)(uintptr_t)*rsp, &end, 8);
        s->res.taken = true;
        break;
    case ORACLE_TERM_RET:
        if (!data_contains(*rsp, 8)) {
            s->res.kind = ORACLE_FAULT_MEM;
            s->res.fault_addr = *rsp;
            s->res.fault_rip = s->in.rip + b->body_len;
            return;
        }
        memcpy(&target, (void *)(uintptr_t)*rsp, 8);
        *rsp += 8 + b->ret_imm;
        s->res.taken = true;
        break;
    case ORACLE_TERM_UNSUPPORTED:
        break;
    }
    s->out.rip = target;
}

static void run_state(uint8_t *shm, const struct oracle_shm_hdr *h, struct oracle_shm_slot *s)
{
    struct oracle_range dr[X86_MEM_MAX_REGIONS];
    unsigned nd = 0;

    memset(&s->res, 0, sizeof s->res);
    s->res.vector = -1;
    s->out = s->in;
    if (h->blk.term == ORACLE_TERM_UNSUPPORTED || h->blk.uses_fs_gs) {
        s->res.kind = ORACLE_FAULT_UNSUPPORTED;
        return;
    }
    if (data_ranges(s, dr, &nd) != 0) {
        s->res.kind = ORACLE_FAULT_UNMAPPABLE;
        return;
    }
    bool same = nd == g_ndata;
    for (unsigned i = 0; same && i < nd; i++)
        same = dr[i].start == g_data[i].start && dr[i].end == g_data[i].end;
    if (!same)
        unmap_data();
    /* Code first: at its rip when possible, else relocated (same page offset). */
    uint64_t entry = s->in.rip;
    if (!try_code_at(h, entry, dr, nd)) {
        entry = RELOC_CODE_BASE + (s->in.rip & (PAGE - 1));
        if (!try_code_at(h, entry, dr, nd)) {
            s->res.kind = ORACLE_FAULT_UNMAPPABLE;
            return;
        }
        s->res.relocated = true;
    }
    if (!same) {
        if (map_data(dr, nd) != 0) {
            unmap_data();
            s->res.kind = ORACLE_FAULT_UNMAPPABLE;
            return;
        }
    } else if (!regions_tile_pages(s)) {
        /* Reused pages: what the last state left outside the regions goes. */
        for (unsigned i = 0; i < nd; i++)
            memset((void *)(uintptr_t)dr[i].start, 0, dr[i].end - dr[i].start);
    }
    for (unsigned k = 0; k < s->nregions; k++)
        memcpy((void *)(uintptr_t)s->region[k].base, shm + s->region[k].off, s->region[k].size);

    for (int r = 0; r < 16; r++)
        oracle_native_cpu.in_gpr[r] = s->in.gpr[r];
    oracle_native_cpu.in_rflags = (s->in.rflags & RFLAGS_IN_MASK) | 0x202;
    oracle_native_cpu.code_entry = entry;
    g_state_serial++;
    g_fault.signo = 0;

    int faulted = oracle_native_enter();

    uint64_t flags;
    if (!faulted) {
        for (int r = 0; r < 16; r++)
            s->out.gpr[r] = oracle_native_cpu.out_gpr[r];
        flags = oracle_native_cpu.out_rflags;
    } else {
        for (int r = 0; r < 16; r++)
            s->out.gpr[r] = g_fault.gpr[r];
        flags = g_fault.rflags;
        s->res.kind = kind_of_signal(g_fault.signo);
        s->res.signo = g_fault.signo;
        s->res.fault_addr = g_fault.signo == SIGSEGV || g_fault.signo == SIGBUS ? g_fault.addr : 0;
        uint64_t frip = g_fault.rip;
        if (frip >= entry && frip < entry + code_bytes(&h->blk))
            frip = frip - entry + s->in.rip;
        if (g_fault.signo == SIGSYS)
            frip -= 2;   /* the kernel reports the rip after syscall / int 0x80 / sysenter */
        /* int n (0xcd n, n != 3) is a system call gate or a #GP (a kernel
         * without ia32 emulation): either way a refused system call, as
         * Unicorn reports it. */
        uint64_t off = frip - s->in.rip;
        if (g_fault.signo == SIGSEGV && frip >= s->in.rip && off + 1 < h->blk.body_len
            && h->code[off] == 0xcd && h->code[off + 1] != 3)
            s->res.kind = ORACLE_FAULT_SYSCALL;
        s->res.fault_rip = frip;
        s->out.rip = frip;
    }
    s->out.rflags = (s->in.rflags & ~(uint64_t)RFLAGS_IN_MASK) | (flags & RFLAGS_IN_MASK);
    if (!faulted)
        resolve_terminator(h, s);
    for (unsigned k = 0; k < s->nregions; k++)
        memcpy(shm + s->region[k].off, (void *)(uintptr_t)s->region[k].base, s->region[k].size);
}

static void set_timer(unsigned ms)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    if (ms) {
        it.it_interval.tv_usec = (suseconds_t)ms * 1000;
        it.it_value.tv_usec = (suseconds_t)ms * 1000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

_Noreturn void oracle_native_child_main(void *shm_v, int sock_fd, const struct sock_fprog *filter)
{
    uint8_t *shm = shm_v;
    struct oracle_shm_hdr *h = shm_v;

    /* Fault the shared pages in now, before the first job measures anything
     * (fork does not copy the page tables of shared mappings). */
    madvise(shm, ORACLE_SHM_SIZE, 23 /* MADV_POPULATE_WRITE, Linux 5.14 */);
    if (install_signals() != 0)
        _exit(3);
    if (sandbox_install(filter, false) != 0)
        _exit(4);
    for (;;) {
        uint64_t seq;
        ssize_t got = read(sock_fd, &seq, sizeof seq);
        if (got == 0)
            _exit(0);
        if (got != (ssize_t)sizeof seq)
            _exit(got < 0 && errno == EINTR ? 5 : 6);
        /* A private copy of the header: the guest runs with the job area
         * mapped and must not be able to change the block or the count
         * under our feet. */
        static struct oracle_shm_hdr job;
        memcpy(&job, h, sizeof job);
        if (job.magic != ORACLE_SHM_MAGIC || job.seq != seq || job.blk.body_len > job.code_len
            || job.blk.len != job.code_len || job.code_len > ORACLE_SHM_CODE || job.code_len == 0)
            _exit(7);
        uint64_t nmax = (ORACLE_SHM_SIZE - sizeof *h) / sizeof(struct oracle_shm_slot);
        if (job.nstates > nmax)
            _exit(8);
        unsigned limit = job.state_timeout_ms ? job.state_timeout_ms : 100;
        g_limit_ticks = limit / TICK_MS + 2;
        set_timer(TICK_MS);
        struct oracle_shm_slot *slots = (struct oracle_shm_slot *)(h + 1);
        for (uint32_t i = 0; i < job.nstates; i++) {
            run_state(shm, &job, &slots[i]);
            __atomic_store_n(&h->progress, i + 1, __ATOMIC_RELEASE);
        }
        set_timer(0);
        if (write(sock_fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
            _exit(9);
    }
}
#endif
