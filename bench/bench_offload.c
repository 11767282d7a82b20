/* bench_offload.c — speedup of the Pixel executors over QEMU TCG, per
 * block class (REQ-TL-008; `make bench-offload`).
 *
 * A fixed corpus of x86-64 blocks in three classes (simple ALU, complex
 * ALU, memory-intensive); microcode from synth's baseline lowering (the
 * same lowering the pipeline verifies); 64 generated samples per block with
 * memory at a fixed arena.  Each block goes through speedup_measure (the
 * offload stage's method, docs/offload.md): the generated static harness
 * under the static qemu-x86_64, the sandboxed native harness (ceiling), the
 * batched executor (one thread) and the interpreter, on the same states in
 * one run, outputs checked against the interpreter.  Prints one line per
 * block and the per-class medians.
 *
 *   bench_offload [--states N] [--reps N]     (default 4096 states x 64 passes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../stages/offload/speedup.h"
#include "../stages/synth/synth.h"
#include "xorshift.h"

struct corpus_block {
    const char *name, *cls, *text;
    uint8_t code[32];
    size_t len;
    x86_locset live_in, live_out;   /* as cfg would find them: what the block reads, what it writes */
};
#define R(r) X86_LOC_GPR(X86_##r)
#define FL X86_LOC_ALL_FLAGS
#define MEM X86_LOC_MEM

static const struct corpus_block corpus[] = {
    { "add_xor_sub", "alu", "add rax,rbx; xor rcx,rax; sub rdx,rcx",
      { 0x48, 0x01, 0xd8, 0x48, 0x31, 0xc1, 0x48, 0x29, 0xca }, 9,
      R(RAX) | R(RBX) | R(RCX) | R(RDX), R(RAX) | R(RCX) | R(RDX) | FL },
    { "and_or_shl", "alu", "and eax,ebx; or ecx,eax; shl rdx,3",
      { 0x21, 0xd8, 0x09, 0xc1, 0x48, 0xc1, 0xe2, 0x03 }, 8,
      R(RAX) | R(RBX) | R(RCX) | R(RDX), R(RAX) | R(RCX) | R(RDX) | FL },
    { "inc_dec_neg_not", "alu", "inc rax; dec rbx; neg rcx; not rdx",
      { 0x48, 0xff, 0xc0, 0x48, 0xff, 0xcb, 0x48, 0xf7, 0xd9, 0x48, 0xf7, 0xd2 }, 12,
      R(RAX) | R(RBX) | R(RCX) | R(RDX), R(RAX) | R(RBX) | R(RCX) | R(RDX) | FL },
    { "lea_imul_xor_rol", "alu-complex", "lea rax,[rbx+rcx*4+8]; imul rax,rdx; xor rax,rsi; rol rax,13",
      { 0x48, 0x8d, 0x44, 0x8b, 0x08, 0x48, 0x0f, 0xaf, 0xc2, 0x48, 0x31, 0xf0, 0x48, 0xc1, 0xc0, 0x0d }, 16,
      R(RBX) | R(RCX) | R(RDX) | R(RSI), R(RAX) | FL },
    { "load_add_store", "memory", "mov rdx,[rcx+8]; add rax,rdx; mov [rcx],rax",
      { 0x48, 0x8b, 0x51, 0x08, 0x48, 0x01, 0xd0, 0x48, 0x89, 0x01 }, 10,
      R(RAX) | R(RCX) | MEM, R(RAX) | R(RDX) | FL | MEM },
    { "copy_pair", "memory", "mov rax,[rsi]; mov rbx,[rsi+8]; add rax,rbx; mov [rdi],rax; mov [rdi+8],rbx",
      { 0x48, 0x8b, 0x06, 0x48, 0x8b, 0x5e, 0x08, 0x48, 0x01, 0xd8, 0x48, 0x89, 0x07, 0x48, 0x89, 0x5f, 0x08 }, 17,
      R(RSI) | R(RDI) | MEM, R(RAX) | R(RBX) | FL | MEM },
    { "byte_sum", "memory", "movzx eax,byte [rsi]; add ecx,eax; mov [rdi],ecx",
      { 0x0f, 0xb6, 0x06, 0x01, 0xc1, 0x89, 0x0f }, 7,
      R(RCX) | R(RSI) | R(RDI) | MEM, R(RAX) | R(RCX) | FL | MEM },
};
#define NCORPUS (sizeof corpus / sizeof corpus[0])
#define NSAMPLES 64
#define ARENA 0x20000000ull

static uint64_t rng = XORSHIFT64_SEED;
static uint64_t rnd(void)
{
    return xorshift64(&rng);
}

/* Samples: random registers; rcx, rsi, rdi point into one arena page per
 * sample; the accesses every corpus block makes are listed (loads with
 * random values, stores), so the rebuilt memory covers them. */
static void make_samples(struct rec_sample *s, struct x86_mem_access (*acc)[6])
{
    for (unsigned i = 0; i < NSAMPLES; i++) {
        memset(&s[i], 0, sizeof s[i]);
        for (unsigned r = 0; r < 16; r++) s[i].pre.gpr[r] = rnd();
        uint64_t page = ARENA + 0x1000ull * (i % 4);
        s[i].pre.gpr[1] = page + 0x100;   /* rcx */
        s[i].pre.gpr[6] = page + 0x200;   /* rsi */
        s[i].pre.gpr[7] = page + 0x300;   /* rdi */
        s[i].pre.gpr[4] = page + 0x800;   /* rsp: never used by the corpus */
        s[i].pre.rip = 0x401000;
        s[i].pre.rflags = 0x202;
        unsigned k = 0;
        acc[i][k++] = (struct x86_mem_access){ page + 0x108, rnd(), 8, false };
        acc[i][k++] = (struct x86_mem_access){ page + 0x100, 0, 8, true };
        acc[i][k++] = (struct x86_mem_access){ page + 0x200, rnd(), 8, false };
        acc[i][k++] = (struct x86_mem_access){ page + 0x208, rnd(), 8, false };
        acc[i][k++] = (struct x86_mem_access){ page + 0x300, 0, 8, true };
        acc[i][k++] = (struct x86_mem_access){ page + 0x308, 0, 8, true };
        s[i].mem.n = k;
        s[i].mem.v = acc[i];
    }
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    if (!n) return 0;
    qsort(v, n, sizeof *v, dcmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    struct speedup_options o;
    speedup_options_default(&o);
    o.nstates = 4096;
    o.reps = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--states")) o.nstates = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps")) o.reps = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    }
    char dir[] = "/tmp/tcgl-bench-offload-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    o.work_dir = dir;
    static struct rec_sample s[NSAMPLES];
    static struct x86_mem_access acc[NSAMPLES][6];
    make_samples(s, acc);

    printf("bench_offload: %u states x %u passes per block; QEMU TCG = static harness under "
           "/usr/bin/qemu-x86_64; batched executor on 1 thread\n", o.nstates, o.reps);
    printf("%-18s %-12s %5s %5s %10s %10s %10s %10s %9s %9s %9s  %s\n", "block", "class", "insns", "ops",
           "qemu_ns", "batch_ns", "interp_ns", "native_ns", "batch_x", "interp_x", "native_x", "perf");
    static const char *const classes[] = { "alu", "alu-complex", "memory" };
    double rb[3][NCORPUS], ri[3][NCORPUS], rn[3][NCORPUS];
    size_t nc[3] = { 0, 0, 0 };
    for (size_t k = 0; k < NCORPUS; k++) {
        const struct corpus_block *c = &corpus[k];
        struct pixel_insn ops[256];
        char err[200];
        int n = synth_baseline(c->code, c->len, c->live_out, false, ops, 256, err, sizeof err);
        if (n < 0) {
            printf("%-18s lowering failed: %s\n", c->name, err);
            continue;
        }
        struct speedup_block b = { c->name, c->code, c->len, c->live_in, c->live_out, ops, (size_t)n, s, NSAMPLES };
        struct speedup_result r;
        if (speedup_measure(&b, &o, &r) < 0 || !r.measured) {
            printf("%-18s not measured: %s\n", c->name, r.why);
            continue;
        }
        double execs = (double)r.nstates * r.reps;
        char perf[256];
        if (r.perf_available)
            snprintf(perf, sizeof perf, "%.1f cyc, %.1f insn/exec (cost model %u)", r.cycles_per_exec,
                     r.insns_per_exec, r.predicted_cost);
        else
            snprintf(perf, sizeof perf, "no counters (%s); cost model %u", r.perf_note, r.predicted_cost);
        printf("%-18s %-12s %5u %5d %10.1f %10.1f %10.1f %10.1f %9.2f %9.2f %9.2f  %s\n", c->name, c->cls,
               r.x86_insns, n, r.qemu_s / execs * 1e9, r.batched_s / execs * 1e9, r.interp_s / execs * 1e9,
               r.native_s / execs * 1e9, r.ratio_batched, r.ratio_interp, r.ratio_native, perf);
        for (size_t ci = 0; ci < 3; ci++)
            if (!strcmp(c->cls, classes[ci])) {
                rb[ci][nc[ci]] = r.ratio_batched;
                ri[ci][nc[ci]] = r.ratio_interp;
                rn[ci][nc[ci]] = r.ratio_native;
                nc[ci]++;
            }
    }
    printf("\nper class, median speedup over QEMU TCG (seed targets: >5x simple ALU, >2x memory):\n");
    for (size_t ci = 0; ci < 3; ci++)
        printf("  %-12s blocks %zu  batched %.2fx  interpreter %.2fx  native (ceiling) %.2fx\n", classes[ci],
               nc[ci], median(rb[ci], nc[ci]), median(ri[ci], nc[ci]), median(rn[ci], nc[ci]));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
