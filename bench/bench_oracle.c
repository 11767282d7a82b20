/* bench_oracle.c — executions per second of the two x86 oracles on the same
 * blocks and the same generated states, side by side: the native oracle
 * (host CPU in the seccomp sandbox, batches through shared memory) and the
 * Unicorn oracle (QEMU TCG as a library).  `make bench-oracle`.
 * BENCH_ORACLE_STATES (default 20000) sets the states per block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oracle_native.h"
#include "oracle_unicorn.h"
#include "state_gen.h"

struct bench_block { const char *name; uint8_t code[32]; size_t len; };

static const struct bench_block blocks[] = {
    { "alu: add/adc/sub/sbb/neg/inc/xor/cmp",
      { 0x48,0x01,0xd8,0x48,0x11,0xd1,0x48,0x29,0xfe,0x4d,0x19,0xc8,0x49,0xf7,0xda,0x49,0xff,0xc3,0x4d,0x31,0xec,0x48,0x39,0xc8 }, 24 },
    { "mem: load/add-to-mem/movzx/store",
      { 0x48,0x8b,0x46,0x08,0x01,0x44,0x8f,0x10,0x0f,0xb6,0x56,0x03,0x48,0x89,0x56,0x20,0x66,0x29,0x53,0xfa }, 20 },
    { "stack: push/pop x3", { 0x50,0x53,0x59,0x5a,0xff,0x36,0x41,0x58 }, 8 },
    { "branch: cmp; jl", { 0x48,0x39,0xd8,0x7c,0x3e }, 5 },
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    size_t n = 20000;
    const char *env = getenv("BENCH_ORACLE_STATES");
    if (env && atol(env) > 0)
        n = (size_t)atol(env);
    /* The oracles first: the native child is forked, and every page the
     * parent owns at fork time costs a copy-on-write fault on its next write
     * (docs/oracles.md); buffers allocated afterwards do not. */
    struct oracle_native *on = oracle_native_create(NULL);
    struct oracle_unicorn *ou = oracle_unicorn_create(0);
    struct x86_regs *in = calloc(n, sizeof *in), *out = calloc(n, sizeof *out);
    struct x86_mem *mem = calloc(n, sizeof *mem);
    struct oracle_result *res = calloc(n, sizeof *res);
    struct state_gen_storage *st = calloc(n, sizeof *st);
    if (!in || !out || !mem || !res || !st || !on || !ou) {
        fprintf(stderr, "bench_oracle: set-up failed\n");
        return 1;
    }
    /* touch the output buffers once so the first block does not pay their page faults */
    memset(out, 0, n * sizeof *out);
    memset(res, 0, n * sizeof *res);
    /* One untimed full-size batch: the first large batch after start-up
     * pays one-time page faults (about 80 ms on the development VM). */
    {
        struct state_gen_block blk;
        if (state_gen_analyze(blocks[0].code, blocks[0].len, &blk) != 0)
            return 1;
        for (size_t i = 0; i < n; i++)
            state_gen_make(&blk, 41, i, &in[i], &mem[i], &st[i]);
        oracle_native_run_batch(on, blocks[0].code, blocks[0].len, in, mem, n, out, mem, res);
        oracle_unicorn_run_batch(ou, blocks[0].code, blocks[0].len, in, mem, n, out, mem, res);
    }
    printf("bench_oracle: %zu generated states per block (memory written back in place)\n", n);
    printf("%-40s %16s %16s %8s\n", "block", "native exec/s", "unicorn exec/s", "ratio");
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        struct state_gen_block blk;
        if (state_gen_analyze(blocks[b].code, blocks[b].len, &blk) != 0)
            return 1;
        for (size_t i = 0; i < n; i++)
            state_gen_make(&blk, 42, i, &in[i], &mem[i], &st[i]);
        /* warm-up: map the code and the regions, translate the block */
        oracle_native_run_batch(on, blocks[b].code, blocks[b].len, in, mem, 16, out, NULL, res);
        oracle_unicorn_run_batch(ou, blocks[b].code, blocks[b].len, in, mem, 16, out, NULL, res);
        double t0 = now_s();
        oracle_native_run_batch(on, blocks[b].code, blocks[b].len, in, mem, n, out, mem, res);
        double t1 = now_s();
        oracle_unicorn_run_batch(ou, blocks[b].code, blocks[b].len, in, mem, n, out, mem, res);
        double t2 = now_s();
        double rn = (double)n / (t1 - t0), ru = (double)n / (t2 - t1);
        printf("%-40s %16.0f %16.0f %7.1fx\n", blocks[b].name, rn, ru, rn / ru);
    }
    oracle_unicorn_destroy(ou);
    oracle_native_destroy(on);
    free(in); free(out); free(mem); free(res); free(st);
    return 0;
}
