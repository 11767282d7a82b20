/* oracle_native.c — the parent side of the native x86 oracle (oracle_native.h):
 * starts and supervises the sandboxed child (oracle_native_child.c), packs
 * batches of states into shared memory, collects the results, and turns a
 * dead or silent child into per-state results and a restart. */
#include "oracle_native.h"

#include <errno.h>
#include <linux/filter.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "oracle_block.h"
#include "oracle_native_shm.h"
#include "sandbox.h"

struct oracle_native {
    pid_t pid;
    int sock;
    uint8_t *shm;
    uint64_t seq;
    struct sock_fprog filter;   /* the child's seccomp program, built once */
    unsigned state_timeout_ms, batch_timeout_ms;
    struct oracle_native_stats st;
};

static void child_stop(struct oracle_native *o)
{
    if (o->sock >= 0)
        close(o->sock);
    o->sock = -1;
    if (o->pid > 0) {
        kill(o->pid, SIGKILL);
        while (waitpid(o->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    o->pid = -1;
}

static int child_start(struct oracle_native *o)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        log_error("oracle_native: socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("oracle_native: fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        /* The shared sandbox (common/sandbox.h): die with the parent, no
         * core dumps; the seccomp filter comes last, in the child's main. */
        if (sandbox_child_init(parent) != 0 || sandbox_set_limits(NULL) != 0)
            _exit(1);
        /* Keep only stdio and the socket (as fd 3). */
        if (dup2(sv[1], 3) != 3)
            _exit(1);
        close_range(4, ~0u, 0);
        oracle_native_child_main(o->shm, 3, &o->filter);
    }
    close(sv[1]);
    o->sock = sv[0];
    o->pid = pid;
    return 0;
}

struct oracle_native *oracle_native_create(const struct oracle_native_opts *opts)
{
#if !defined(__x86_64__)
    (void)opts;
    log_error("oracle_native: the host is not x86-64");
    return NULL;
#else
    struct oracle_native *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->pid = -1;
    o->sock = -1;
    o->state_timeout_ms = opts && opts->state_timeout_ms ? opts->state_timeout_ms : 100;
    o->batch_timeout_ms = opts && opts->batch_timeout_ms ? opts->batch_timeout_ms : 5000;
    void *shm = mmap(NULL, ORACLE_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) {
        log_error("oracle_native: mmap of %u bytes of shared memory: %s", ORACLE_SHM_SIZE, strerror(errno));
        free(o);
        return NULL;
    }
    o->shm = shm;
    if (oracle_native_filter_build(3, &o->filter) != 0) {
        log_error("oracle_native: building the seccomp filter (libseccomp) failed");
        munmap(o->shm, ORACLE_SHM_SIZE);
        free(o);
        return NULL;
    }
    /* Map every page writable now (MAP_POPULATE would map a shared mapping
     * read-only and every first store would fault again); best effort:
     * kernels before 5.14 lack it and fault lazily. */
    madvise(shm, ORACLE_SHM_SIZE, 23 /* MADV_POPULATE_WRITE */);
    if (child_start(o) != 0) {
        munmap(o->shm, ORACLE_SHM_SIZE);
        sandbox_filter_free(&o->filter);
        free(o);
        return NULL;
    }
    return o;
#endif
}

void oracle_native_destroy(struct oracle_native *o)
{
    if (!o)
        return;
    child_stop(o);
    munmap(o->shm, ORACLE_SHM_SIZE);
    sandbox_filter_free(&o->filter);
    free(o);
}

void oracle_native_get_stats(const struct oracle_native *o, struct oracle_native_stats *st)
{
    *st = o->st;
}

static int check_mem(const struct x86_mem *m, size_t i, const char *what)
{
    if (m->nregions > X86_MEM_MAX_REGIONS) {
        log_error("oracle: state %zu: %s has %u regions (at most %u)", i, what, m->nregions, X86_MEM_MAX_REGIONS);
        return -1;
    }
    for (unsigned k = 0; k < m->nregions; k++) {
        const struct x86_mem_region *r = &m->region[k];
        if (r->size > X86_MEM_MAX_REGION_SIZE || (r->size && !r->data)) {
            log_error("oracle: state %zu: %s region %u (base %#llx): size %u invalid or no data",
                      i, what, k, (unsigned long long)r->base, r->size);
            return -1;
        }
    }
    return 0;
}

int oracle_check_batch(const uint8_t *code, size_t len, const struct x86_mem *mem_in, size_t n,
                       const struct x86_mem *mem_out)
{
    if (!code || len == 0 || len > ORACLE_MAX_CODE) {
        log_error("oracle: code of %zu bytes (1..%u accepted)", len, ORACLE_MAX_CODE);
        return -1;
    }
    for (size_t i = 0; mem_in && i < n; i++) {
        if (check_mem(&mem_in[i], i, "input memory") != 0)
            return -1;
        if (mem_out) {
            if (mem_out[i].nregions != mem_in[i].nregions) {
                log_error("oracle: state %zu: output memory has %u regions, input %u",
                          i, mem_out[i].nregions, mem_in[i].nregions);
                return -1;
            }
            for (unsigned k = 0; k < mem_in[i].nregions; k++)
                if (mem_out[i].region[k].base != mem_in[i].region[k].base
                    || mem_out[i].region[k].size != mem_in[i].region[k].size
                    || (mem_out[i].region[k].size && !mem_out[i].region[k].data)) {
                    log_error("oracle: state %zu: output region %u differs from input region "
                              "(base %#llx size %u)", i, k,
                              (unsigned long long)mem_in[i].region[k].base, mem_in[i].region[k].size);
                    return -1;
                }
        }
    }
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for the child's answer to `seq`.  0: answered; 1: no progress within
 * the batch timeout; 2: the child died or answered garbage. */
static int wait_answer(struct oracle_native *o, struct oracle_shm_hdr *h, uint64_t seq)
{
    uint32_t last = __atomic_load_n(&h->progress, __ATOMIC_ACQUIRE);
    uint64_t since = now_ms();
    for (;;) {
        struct pollfd p = { .fd = o->sock, .events = POLLIN };
        int r = poll(&p, 1, 200);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return 2;
        if (r > 0) {
            uint64_t got = 0;
            ssize_t k = recv(o->sock, &got, sizeof got, 0);
            if (k == (ssize_t)sizeof got && got == seq)
                return 0;
            return 2;
        }
        uint32_t cur = __atomic_load_n(&h->progress, __ATOMIC_ACQUIRE);
        if (cur != last) {
            last = cur;
            since = now_ms();
        } else if (now_ms() - since >= o->batch_timeout_ms) {
            return 1;
        }
    }
}

int oracle_native_run_batch(struct oracle_native *o, const uint8_t *code, size_t len,
                            const struct x86_regs *in, const struct x86_mem *mem_in, size_t n,
                            struct x86_regs *out, struct x86_mem *mem_out,
                            struct oracle_result *res)
{
    if (oracle_check_batch(code, len, mem_in, n, mem_out) != 0)
        return -1;
    struct oracle_shm_hdr *h = (struct oracle_shm_hdr *)o->shm;
    struct oracle_shm_slot *slots = (struct oracle_shm_slot *)(h + 1);
    struct oracle_block blk;
    oracle_block_decode(code, len, &blk);

    size_t i = 0;
    while (i < n) {
        if (o->pid <= 0 && child_start(o) != 0) {
            for (; i < n; i++) {
                memset(&res[i], 0, sizeof res[i]);
                res[i].kind = ORACLE_FAULT_CRASH;
                out[i] = in[i];
            }
            return 0;
        }
        /* Pack states [i, i+cnt) into the mapping. */
        size_t data_off = ORACLE_SHM_SIZE;   /* data grows down from the end */
        size_t cnt = 0;
        while (i + cnt < n) {
            size_t need = 0;
            const struct x86_mem *m = mem_in ? &mem_in[i + cnt] : NULL;
            for (unsigned k = 0; m && k < m->nregions; k++)
                need += (m->region[k].size + 15u) & ~15u;
            size_t slots_end = sizeof *h + (cnt + 1) * sizeof *slots;
            if (slots_end + need > data_off)
                break;
            struct oracle_shm_slot *s = &slots[cnt];
            s->in = in[i + cnt];
            s->nregions = m ? m->nregions : 0;
            for (unsigned k = 0; k < s->nregions; k++) {
                data_off -= (m->region[k].size + 15u) & ~15u;
                s->region[k].base = m->region[k].base;
                s->region[k].size = m->region[k].size;
                s->region[k].off = (uint32_t)data_off;
                if (m->region[k].size)
                    memcpy(o->shm + data_off, m->region[k].data, m->region[k].size);
            }
            cnt++;
        }
        h->magic = ORACLE_SHM_MAGIC;
        h->seq = ++o->seq;
        h->nstates = (uint32_t)cnt;
        h->code_len = (uint32_t)len;
        h->progress = 0;
        h->state_timeout_ms = o->state_timeout_ms;
        h->blk = blk;
        memcpy(h->code, code, len);

        int rc = 2;
        if (send(o->sock, &h->seq, sizeof h->seq, MSG_NOSIGNAL) == (ssize_t)sizeof h->seq)
            rc = wait_answer(o, h, h->seq);
        o->st.batches++;
        size_t done = rc == 0 ? cnt : __atomic_load_n(&h->progress, __ATOMIC_ACQUIRE);
        if (done > cnt)
            done = cnt;
        /* Read back only what we wrote ourselves: guest code runs in the
         * child with the job area mapped, so the slots' offsets and sizes
         * are recomputed here rather than trusted. */
        size_t back_off = ORACLE_SHM_SIZE;
        for (size_t j = 0; j < done; j++) {
            const struct oracle_shm_slot *s = &slots[j];
            const struct x86_mem *m = mem_in ? &mem_in[i + j] : NULL;
            out[i + j] = s->out;
            res[i + j] = s->res;
            if ((unsigned)res[i + j].kind >= ORACLE_NKINDS)
                res[i + j].kind = ORACLE_FAULT_OTHER;
            for (unsigned k = 0; m && k < m->nregions; k++) {
                back_off -= (m->region[k].size + 15u) & ~15u;
                if (mem_out && m->region[k].size)
                    memcpy(mem_out[i + j].region[k].data, o->shm + back_off, m->region[k].size);
            }
            o->st.states++;
            if (res[i + j].kind != ORACLE_OK)
                o->st.faults++;
            if (res[i + j].kind == ORACLE_FAULT_TIMEOUT)
                o->st.timeouts++;
            if (res[i + j].kind == ORACLE_FAULT_UNMAPPABLE)
                o->st.unmappable++;
        }
        i += done;
        if (rc != 0) {
            /* The state in progress killed or hung the child: report it, restart. */
            log_warn("oracle_native: child %d %s at state %zu of the batch; restarting",
                     (int)o->pid, rc == 1 ? "stopped answering" : "died", i);
            child_stop(o);
            o->st.restarts++;
            if (i < n) {
                memset(&res[i], 0, sizeof res[i]);
                res[i].kind = rc == 1 ? ORACLE_FAULT_TIMEOUT : ORACLE_FAULT_CRASH;
                res[i].vector = -1;
                out[i] = in[i];
                if (mem_out && mem_in)
                    for (unsigned k = 0; k < mem_in[i].nregions; k++)
                        if (mem_in[i].region[k].size && mem_out[i].region[k].data != mem_in[i].region[k].data)
                            memcpy(mem_out[i].region[k].data, mem_in[i].region[k].data, mem_in[i].region[k].size);
                o->st.states++;
                o->st.faults++;
                i++;
            }
        }
    }
    return 0;
}

int oracle_native_run(struct oracle_native *o, const uint8_t *code, size_t len,
                      const struct x86_regs *in, const struct x86_mem *mem_in,
                      struct x86_regs *out, struct x86_mem *mem_out, struct oracle_result *res)
{
    return oracle_native_run_batch(o, code, len, in, mem_in, 1, out, mem_out, res);
}
