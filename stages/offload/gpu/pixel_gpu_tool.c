/* pixel_gpu_tool.c — the CPU side of the GPU executor's files: makes batch
 * files (microcode + random states), runs them on the reference interpreter
 * or the batched CPU executor, and compares result files bit for bit.
 * Plain C (no Debian libraries beyond libc) so that it also builds on the
 * GPU machine; see docs/pixel-gpu.md and `pixel-gpu-tool --help`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pixel_asm.h"
#include "pixel_batch.h"
#include "pixel_gen.h"
#include "pixel_gpufile.h"

static const char usage[] =
    "usage: pixel-gpu-tool gen PROGRAM N OUT [--seed S] [--regions SIZE,SIZE,...]\n"
    "                          [--ptr REG:REGION]... [--step-limit L] [--guest]\n"
    "       pixel-gpu-tool run JOB OUT [--executor interp|batch|compact] [--threads T]\n"
    "                          [--replicate K] [--repeat R]\n"
    "       pixel-gpu-tool compare EXPECTED ACTUAL [--max M] [--guest]\n"
    "\n"
    "gen      writes a job: PROGRAM is an assembly file (docs/pixel-isa.md), 'allops'\n"
    "         (every opcode, with branches, a call and a loop) or 'random:SEED:LEN';\n"
    "         N random states (edge-biased registers; R28..R31 point into, near and past\n"
    "         regions 0 and 1; --ptr REG:REGION makes register REG point safely inside\n"
    "         REGION, 16 bytes from its end).  Default regions: 64,32.  --guest: the flag\n"
    "         registers (R16..R21, DF R23) hold 0 or 1, as in a real x86 state.\n"
    "run      executes a job on the CPU and writes the result file; prints one line\n"
    "         'RESULT executor=... states=... seconds=... states_per_s=...'.  --threads\n"
    "         splits the batch executor over T threads (0: every core).  --replicate\n"
    "         tiles the states K times first (benchmarks); --repeat times R runs\n"
    "         (each on a fresh copy) and reports the fastest.  --executor compact: the\n"
    "         interpreter fed only what the compact GPU path uploads (every other\n"
    "         register poisoned) and keeping only what it downloads, expanded back with\n"
    "         the GPU driver's own pack/expand code: a CPU check of the transfer plan.\n"
    "compare  exits 0 when two result files agree bit for bit on every state\n"
    "         (registers, memory, fault kind, fault pc), else prints up to M (10)\n"
    "         differences and exits 1.  --guest: registers R0..R23 only (scratch\n"
    "         R24..R31 are ignored at exit; compact results do not carry them).\n";

static int die(const char *what)
{
    fprintf(stderr, "pixel-gpu-tool: %s\n", what);
    return 2;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t m;
    while (buf && (m = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += m;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = 0;
    return buf;
}

static int parse_reg_name(const char *s)
{
    static const char *const names[] = { "RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI" };
    for (int k = 0; k < 8; k++)
        if (strcmp(s, names[k]) == 0)
            return k;
    char *end;
    long v = strtol(s + (s[0] == 'R' || s[0] == 'r'), &end, 10);
    return *end || v < 0 || v >= 32 ? -1 : (int)v;
}

static int cmd_gen(int argc, char **argv)
{
    if (argc < 4)
        return die("gen needs PROGRAM N OUT (see --help)");
    const char *prog_arg = argv[1], *out = argv[3];
    char *end;
    unsigned long long nstates = strtoull(argv[2], &end, 10);
    if (*end || nstates == 0 || nstates > 0xffffffffull)
        return die("gen: N must be a positive 32-bit number");
    uint64_t seed = 1;
    uint32_t nregions = 2, sizes[4] = { 64, 32, 0, 0 }, step_limit = 0;
    int ptr_reg[8], ptr_region[8], nptr = 0, guest = 0;
    for (int k = 4; k < argc; k++) {
        if (strcmp(argv[k], "--guest") == 0)
            guest = 1;
        else if (strcmp(argv[k], "--seed") == 0 && k + 1 < argc)
            seed = strtoull(argv[++k], NULL, 0);
        else if (strcmp(argv[k], "--step-limit") == 0 && k + 1 < argc)
            step_limit = (uint32_t)strtoul(argv[++k], NULL, 0);
        else if (strcmp(argv[k], "--regions") == 0 && k + 1 < argc) {
            char *s = argv[++k];
            nregions = 0;
            while (*s && nregions < 4) {
                sizes[nregions++] = (uint32_t)strtoul(s, &s, 0);
                if (*s == ',')
                    s++;
            }
            if (*s)
                return die("gen: --regions takes at most 4 sizes");
        } else if (strcmp(argv[k], "--ptr") == 0 && k + 1 < argc && nptr < 8) {
            char reg[16];
            int region;
            if (sscanf(argv[++k], "%15[^:]:%d", reg, &region) != 2 ||
                (ptr_reg[nptr] = parse_reg_name(reg)) < 0 || region < 0 || region >= 4)
                return die("gen: --ptr takes REG:REGION, e.g. RSI:0");
            ptr_region[nptr++] = region;
        } else {
            fprintf(stderr, "pixel-gpu-tool gen: unknown option '%s'\n", argv[k]);
            return 2;
        }
    }
    struct pixel_gen g;
    pixel_gen_seed(&g, seed);
    static struct pixel_insn prog[PIXEL_MAX_INSNS];
    int n;
    char err[512];
    unsigned long long pseed, plen;
    if (strcmp(prog_arg, "allops") == 0) {
        n = (int)pixel_gen_allops(&g, prog, PIXEL_MAX_INSNS);
    } else if (sscanf(prog_arg, "random:%llu:%llu", &pseed, &plen) == 2 && plen > 0 &&
               plen <= PIXEL_MAX_INSNS) {
        struct pixel_gen pg;
        pixel_gen_seed(&pg, pseed);
        n = (int)plen;
        for (int k = 0; k < n; k++)
            prog[k] = pixel_gen_insn(&pg, pixel_gen_opcode(&pg, 1), (uint32_t)k, (uint32_t)n);
    } else {
        char *text = slurp(prog_arg);
        if (!text) {
            fprintf(stderr, "pixel-gpu-tool gen: cannot read %s: %s\n", prog_arg, strerror(errno));
            return 2;
        }
        n = pixel_asm(text, prog, PIXEL_MAX_INSNS, err, sizeof err);
        free(text);
        if (n < 0) {
            fprintf(stderr, "pixel-gpu-tool gen: %s: %s\n", prog_arg, err);
            return 2;
        }
    }
    struct pixel_job j;
    if (pixel_job_alloc(&j, (uint32_t)n, (uint32_t)nstates, nregions, sizes, err, sizeof err))
        return die(err);
    memcpy(j.prog, prog, sizeof prog[0] * (size_t)n);
    j.step_limit = step_limit;
    uint64_t N = nstates, win = pixel_job_window(&j);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t r[PIXEL_NREGS], bases[4] = { 0, 0, 0, 0 };
        pixel_gen_regs(&g, r, nregions, sizes, bases);
        for (int p = 0; p < nptr; p++) {
            uint32_t sz = sizes[ptr_region[p]];
            r[ptr_reg[p]] = bases[ptr_region[p]] + (sz > 16 ? pixel_gen_u64(&g) % (sz - 15) : 0);
        }
        for (int k = 0; guest && k < PIXEL_NREGS; k++)
            if (PIXEL_FLAG_REG_MASK >> k & 1)
                r[k] &= 1;
        for (int k = 0; k < PIXEL_NREGS; k++)
            j.regs[(uint64_t)k * N + i] = r[k];
        for (uint32_t k = 0; k < nregions; k++)
            j.region_base[(uint64_t)k * N + i] = bases[k];
        uint8_t *w = j.mem + i * win;
        for (uint64_t b = 0; b < win; b += 8) {
            uint64_t v = pixel_gen_u64(&g);
            memcpy(w + b, &v, win - b < 8 ? win - b : 8);
        }
    }
    int rc = pixel_job_write(out, &j, err, sizeof err) ? die(err) : 0;
    if (!rc)
        printf("wrote %s: %d instructions, %llu states, window %llu bytes\n", out, n, nstates,
               (unsigned long long)win);
    pixel_job_free(&j);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A batch viewing the job's arrays (no copy). */
static struct pixel_batch view(struct pixel_job *j)
{
    struct pixel_batch b;
    memset(&b, 0, sizeof b);
    b.n = j->nstates;
    b.nregions = j->nregions;
    memcpy(b.region_size, j->region_size, sizeof b.region_size);
    b.regs = j->regs;
    b.region_base = j->region_base;
    b.mem = j->mem;
    b.fault = j->fault;
    b.fault_pc = j->fault_pc;
    return b;
}

/* Tiles the states of j k times (k >= 1). */
static int replicate(struct pixel_job *j, uint32_t k, char *err, size_t errlen)
{
    if (k <= 1)
        return 0;
    uint64_t n = j->nstates, m = n * k;
    if (m > 0xffffffffull) {
        snprintf(err, errlen, "%llu states after --replicate: too many", (unsigned long long)m);
        return -1;
    }
    struct pixel_job r;
    if (pixel_job_alloc(&r, j->ninsns, (uint32_t)m, j->nregions, j->region_size, err, errlen))
        return -1;
    memcpy(r.prog, j->prog, sizeof *j->prog * j->ninsns);
    r.step_limit = j->step_limit;
    uint64_t win = pixel_job_window(j);
    for (uint32_t c = 0; c < k; c++) {
        for (int x = 0; x < 32; x++)
            memcpy(r.regs + (uint64_t)x * m + c * n, j->regs + (uint64_t)x * n, n * 8);
        for (uint32_t x = 0; x < j->nregions; x++)
            memcpy(r.region_base + (uint64_t)x * m + c * n, j->region_base + (uint64_t)x * n, n * 8);
        memcpy(r.mem + c * n * win, j->mem, n * win);
    }
    pixel_job_free(j);
    *j = r;
    return 0;
}

/* The compact GPU path's data flow on the CPU: each state starts from
 * poison except what the plan uploads, runs on the interpreter, and only
 * what the plan downloads comes back, expanded with pixel_xfer_expand. */
static int run_compact(struct pixel_job *work, const struct pixel_job *in,
                       const struct pixel_xfer_plan *p)
{
    const uint64_t n = in->nstates;
    const int nout = __builtin_popcount(p->out_rows);
    uint8_t *fin = malloc((size_t)n + 1), *fout = calloc((size_t)n + 1, 1);
    uint64_t *rows = malloc((size_t)(nout * n + 1) * 8);
    uint32_t *rows32 = malloc((size_t)(nout * n + 1) * 4);
    uint16_t *status = malloc((size_t)(n + 1) * 2);
    if (!fin || !fout || !rows || !rows32 || !status) {
        free(fin), free(fout), free(rows), free(rows32), free(status);
        return -1;
    }
    pixel_xfer_pack_flags(in, p, 0, n, fin);
    struct pixel_batch b = view(work);
    for (uint64_t i = 0; i < n; i++) {
        struct pixel_state s;
        struct x86_mem m;
        struct pixel_result res;
        pixel_batch_get(&b, (uint32_t)i, &s, &m);
        for (int r = 0; r < PIXEL_NREGS; r++) {
            const uint64_t poison = 0xa5a5a5a5a5a5a5a5ull ^ (uint64_t)r << 56 ^ i;
            s.r[r] = (p->in_narrow >> r & 1) ? (poison & ~0xffffffffull) | (uint32_t)in->regs[(uint64_t)r * n + i]
                     : (p->in_rows >> r & 1) ? in->regs[(uint64_t)r * n + i]
                     : (p->in_uniform >> r & 1) ? p->in_val[r]
                     : (p->in_flags >> r & 1) ? (uint64_t)(fin[i] >> PIXEL_FLAG_BIT(r) & 1)
                     : poison;
        }
        pixel_run_valid(work->prog, work->ninsns, &s, work->step_limit, &res);
        int slot = 0, slot32 = 0;
        for (int r = 0; r < PIXEL_NREGS; r++) {
            if (p->out_narrow >> r & 1)
                rows32[(uint64_t)slot32++ * n + i] = (uint32_t)s.r[r];
            else if (p->out_rows >> r & 1)
                rows[(uint64_t)slot++ * n + i] = s.r[r];
            if (p->out_flags >> r & 1)
                fout[i] |= (uint8_t)((s.r[r] & 1) << PIXEL_FLAG_BIT(r));
        }
        status[i] = PIXEL_XFER_STATUS(res.fault, res.pc);
    }
    /* the windows were run in place (work->mem); the registers restart from the input */
    memcpy(work->regs, in->regs, (size_t)(32 * n * 8));
    pixel_xfer_expand(work, p, rows, rows32, p->out_flags ? fout : NULL, p->status_known ? NULL : status, NULL);
    free(fin), free(fout), free(rows), free(rows32), free(status);
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    if (argc < 3)
        return die("run needs JOB OUT (see --help)");
    const char *executor = "batch";
    uint32_t rep = 1, repeat = 1, threads = 1;
    for (int k = 3; k < argc; k++) {
        if (strcmp(argv[k], "--executor") == 0 && k + 1 < argc)
            executor = argv[++k];
        else if (strcmp(argv[k], "--threads") == 0 && k + 1 < argc) {
            threads = (uint32_t)strtoul(argv[++k], NULL, 0);
            if (threads == 0)
                threads = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
        }
        else if (strcmp(argv[k], "--replicate") == 0 && k + 1 < argc)
            rep = (uint32_t)strtoul(argv[++k], NULL, 0);
        else if (strcmp(argv[k], "--repeat") == 0 && k + 1 < argc)
            repeat = (uint32_t)strtoul(argv[++k], NULL, 0);
        else {
            fprintf(stderr, "pixel-gpu-tool run: unknown option '%s'\n", argv[k]);
            return 2;
        }
    }
    int interp = strcmp(executor, "interp") == 0, compact = strcmp(executor, "compact") == 0;
    if (!interp && !compact && strcmp(executor, "batch") != 0)
        return die("run: --executor is interp, batch or compact");
    char err[512];
    struct pixel_job j, work;
    if (pixel_job_read(argv[1], &j, err, sizeof err) || replicate(&j, rep, err, sizeof err))
        return die(err);
    if (pixel_job_alloc(&work, j.ninsns, j.nstates, j.nregions, j.region_size, err, sizeof err))
        return die(err);
    memcpy(work.prog, j.prog, sizeof *j.prog * j.ninsns);
    work.step_limit = j.step_limit;
    uint64_t n = j.nstates, win = pixel_job_window(&j);
    double best = 1e300;
    for (uint32_t r = 0; r < (repeat ? repeat : 1); r++) {
        memcpy(work.regs, j.regs, 32 * n * 8);
        memcpy(work.region_base, j.region_base, j.nregions * n * 8);
        memcpy(work.mem, j.mem, win * n);
        struct pixel_batch b = view(&work);
        double t0 = now_s();
        if (compact) {
            struct pixel_xfer_plan plan;
            pixel_xfer_plan_make(&j, &plan);
            if (run_compact(&work, &j, &plan))
                return die("run: out of memory");
            if (r == 0)
                printf("PLAN in_rows=%#x in_narrow=%#x in_uniform=%#x in_flags=%#x out_rows=%#x "
                       "out_narrow=%#x out_uniform=%#x out_flags=%#x status=%d mem_in=%d "
                       "mem_out=%d bytes_in=%u bytes_out=%u\n", plan.in_rows, plan.in_narrow,
                       plan.in_uniform, plan.in_flags, plan.out_rows, plan.out_narrow,
                       plan.out_uniform, plan.out_flags, !plan.status_known, plan.mem_in,
                       plan.mem_out, plan.bytes_in, plan.bytes_out);
        } else if (interp) {
            for (uint64_t i = 0; i < n; i++) {
                struct pixel_state s;
                struct x86_mem m;
                struct pixel_result res;
                pixel_batch_get(&b, (uint32_t)i, &s, &m);
                pixel_run_valid(work.prog, work.ninsns, &s, work.step_limit, &res);
                pixel_batch_put(&b, (uint32_t)i, &s);
                work.fault[i] = (uint8_t)res.fault;
                work.fault_pc[i] = res.pc;
            }
        } else if (pixel_exec_batch_mt(work.prog, work.ninsns, &b, work.step_limit, threads, err,
                                       sizeof err) < 0) {
            return die(err);
        }
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    }
    work.has_results = true;
    long faulted = 0;
    for (uint64_t i = 0; i < n; i++)
        faulted += work.fault[i] != 0;
    printf("RESULT executor=%s threads=%u states=%llu faulted=%ld seconds=%.6f states_per_s=%.4g\n",
           executor, interp || compact ? 1 : threads, (unsigned long long)n, faulted, best,
           (double)n / best);
    int rc = 0;
    if (strcmp(argv[2], "-") != 0 && pixel_job_write(argv[2], &work, err, sizeof err))
        rc = die(err);
    pixel_job_free(&j);
    pixel_job_free(&work);
    return rc;
}

static int cmd_compare(int argc, char **argv)
{
    if (argc < 3)
        return die("compare needs EXPECTED ACTUAL");
    unsigned max = 10;
    int guest = 0;
    for (int k = 3; k < argc; k++) {
        if (strcmp(argv[k], "--max") == 0 && k + 1 < argc)
            max = (unsigned)strtoul(argv[++k], NULL, 0);
        else if (strcmp(argv[k], "--guest") == 0)
            guest = 1;
        else {
            fprintf(stderr, "pixel-gpu-tool compare: unknown option '%s'\n", argv[k]);
            return 2;
        }
    }
    char err[512];
    struct pixel_job a, b;
    if (pixel_job_read(argv[1], &a, err, sizeof err))
        return die(err);
    if (pixel_job_read(argv[2], &b, err, sizeof err)) {
        pixel_job_free(&a);
        return die(err);
    }
    if (!a.has_results || !b.has_results) {
        pixel_job_free(&a);
        pixel_job_free(&b);
        return die("compare: both files must be result files");
    }
    long d = guest ? pixel_job_compare_guest(&a, &b, stdout, max)
                   : pixel_job_compare(&a, &b, stdout, max);
    long faulted = 0;
    for (uint32_t i = 0; i < a.nstates; i++)
        faulted += a.fault[i] != 0;
    if (d == 0)
        printf("MATCH %u states bit for bit%s (%ld of them faulted, same kind and pc)\n",
               a.nstates, guest ? " on R0..R23 and memory" : "", faulted);
    else
        printf("MISMATCH %ld of %u states differ\n", d, a.nstates);
    pixel_job_free(&a);
    pixel_job_free(&b);
    return d == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc - 1, argv + 1);
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "compare") == 0)
        return cmd_compare(argc - 1, argv + 1);
    fprintf(stderr, "pixel-gpu-tool: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
