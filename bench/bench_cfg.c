/* bench_cfg — can cfg keep pace with the tracer?  A synthetic trace (2,000
 * TBs of real x86 code, 4,000,000 executions, each TB going on to one of two
 * successors and rarely anywhere, in TRACE_EXEC records of 4,096 entries) is
 * fed through the record decoder plus a bare per-TB execution counter (the
 * reference: the least any consumer of the queue does) and through the
 * decoder plus the cfg library (ours: blocks, edges, counts), in one run.  Also reported: the
 * time to process one full TRACE_EXEC record (the lag it adds), and the time
 * of one whole-graph analysis (dominators, loops, liveness).
 *
 * Crash safety (docs/cfg.md): the same trace once more through decode + cfg
 * + the journal (each record appended to the journal buffer, written to a
 * file every 2 MiB, as the stage does), and the snapshot of the resulting
 * graph, with and without state samples (64 per block), written (temp,
 * fdatasync, rename) and read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "../stages/cfg/cfg.h"
#include "../stages/cfg/cfg_checkpoint.h"
#include "../stages/cfg/cfg_record.h"
#include "records.h"
#include "xorshift.h"

#define NTB 2000u
#define NEXEC 4000000u
#define PER_REC 4096u

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    return (uint32_t)xorshift64(&rng);
}

int main(void)
{
    static const uint8_t alu[][3] = { { 0x01, 0xd8, 0 }, { 0x29, 0xca, 0 }, { 0x31, 0xd2, 0 },
                                      { 0x83, 0xc0, 0x05 }, { 0x21, 0xc8, 0 }, { 0xff, 0xc9, 0 } };
    static const uint8_t alulen[] = { 2, 2, 2, 3, 2, 2 };
    struct rec_buf tbs;
    rec_buf_init(&tbs);
    size_t *tb_off = malloc((NTB + 1) * sizeof *tb_off);
    for (uint32_t i = 0; i < NTB; i++) {
        uint8_t code[64], lens[16];
        uint32_t len = 0, n = 0;
        uint32_t k = 2 + rnd() % 6;
        for (uint32_t j = 0; j < k; j++) {
            uint32_t a = rnd() % 6;
            memcpy(code + len, alu[a], alulen[a]);
            len += alulen[a];
            lens[n++] = alulen[a];
        }
        uint64_t pc = 0x400000 + (uint64_t)i * 64, target = 0x400000 + (uint64_t)((i * 7 + 3) % NTB) * 64;
        int32_t rel = (int32_t)(target - (pc + len + 6));
        code[len] = 0x0f; code[len + 1] = 0x85;
        memcpy(code + len + 2, &rel, 4);
        len += 6;
        lens[n++] = 6;
        struct rec_trace_tb t = { .tb_id = i, .pc = pc, .cpu_mode = 64, .cpl = 3,
                                  .code = { code, len }, .insn_len = { lens, n } };
        struct rec_str dis[16];
        for (uint32_t j = 0; j < n; j++) dis[j] = rec_str_c("x");
        t.disasm.n = n;
        t.disasm.v = dis;
        tb_off[i] = tbs.len;
        if (rec_encode_trace_tb(&tbs, &t, NULL) < 0) { fprintf(stderr, "encode failed\n"); return 1; }
    }
    tb_off[NTB] = tbs.len;

    /* Executions: stay in a "loop" of a few TBs for a while, then move on. */
    uint32_t nrec = NEXEC / PER_REC;
    struct rec_buf *ex = calloc(nrec, sizeof *ex);
    uint8_t *ids = malloc(4 * PER_REC);
    uint32_t cur = 0;
    for (uint32_t r = 0; r < nrec; r++) {
        for (uint32_t k = 0; k < PER_REC; k++) {
            /* Each TB continues to its jcc target or to one other TB (two
             * successors, like a conditional branch), rarely anywhere (an
             * indirect jump, a return to another caller, an interrupt). */
            uint32_t x = rnd();
            if (x % 1024 == 0) cur = rnd() % NTB;
            else if (x % 3 == 0) cur = (cur * 7 + 3) % NTB;
            else if (x % 3 == 1) cur = (cur + 1) % NTB;
            memcpy(ids + 4 * k, &cur, 4);
        }
        struct rec_trace_exec e = { .vcpu = 0, .t0_us = r, .tb_ids = { ids, 4 * PER_REC } };
        rec_buf_init(&ex[r]);
        if (rec_encode_trace_exec(&ex[r], &e, NULL) < 0) { fprintf(stderr, "encode failed\n"); return 1; }
    }

    struct rec_arena a;
    rec_arena_init(&a);
    struct rec rr;
    /* Reference: decoding only. */
    uint64_t *per_tb = calloc(NTB, sizeof *per_tb);
    double t0 = now();
    uint64_t sink = 0;
    for (uint32_t r = 0; r < nrec; r++) {
        if (rec_decode(ex[r].data, ex[r].len, &rr, &a, NULL) != REC_TRACE_EXEC) return 1;
        const uint8_t *p = rr.u.trace_exec.tb_ids.ptr;
        for (uint32_t k = 0; k < rr.u.trace_exec.tb_ids.len / 4; k++) {
            uint32_t id;
            memcpy(&id, p + 4 * k, 4);
            if (id < NTB) per_tb[id]++;
        }
        rec_arena_reset(&a);
    }
    for (uint32_t i = 0; i < NTB; i++) sink += per_tb[i];
    free(per_tb);
    double t_dec = now() - t0;

    /* Ours: decoding + cfg. */
    struct cfg g;
    struct cfg_options o;
    cfg_options_default(&o);
    if (!cfg_init(&g, &o)) return 1;
    t0 = now();
    for (uint32_t i = 0; i < NTB; i++) {
        if (rec_decode(tbs.data + tb_off[i], tb_off[i + 1] - tb_off[i], &rr, &a, NULL) != REC_TRACE_TB) return 1;
        cfg_consume(&g, &rr);
        rec_arena_reset(&a);
    }
    double t_tbs = now() - t0;
    double worst = 0;
    t0 = now();
    for (uint32_t r = 0; r < nrec; r++) {
        double r0 = now();
        if (rec_decode(ex[r].data, ex[r].len, &rr, &a, NULL) != REC_TRACE_EXEC) return 1;
        cfg_consume(&g, &rr);
        rec_arena_reset(&a);
        double dt = now() - r0;
        if (dt > worst) worst = dt;
    }
    double t_cfg = now() - t0;
    t0 = now();
    g.analyzed = false;
    cfg_analyze(&g);
    double t_an = now() - t0;

    double n = (double)nrec * PER_REC;
    printf("bench_cfg: %u TBs -> %u blocks, %.0f executions in %u TRACE_EXEC records of %u (sink %llu)\n",
           NTB, g.nblocks, n, nrec, PER_REC, (unsigned long long)sink);
    printf("  reference  decode + per-TB count: %7.2f ns/execution  %8.1f M executions/s\n",
           t_dec * 1e9 / n, n / t_dec / 1e6);
    printf("  ours       decode + cfg       : %7.2f ns/execution  %8.1f M executions/s\n",
           t_cfg * 1e9 / n, n / t_cfg / 1e6);
    printf("  difference                    : %7.2f ns/execution\n", (t_cfg - t_dec) * 1e9 / n);
    printf("  one %u-entry record (lag added): mean %.1f us, worst %.1f us\n", PER_REC,
           t_cfg * 1e6 / nrec, worst * 1e6);
    printf("  %u TRACE_TB records (decode, split): %.1f us each\n", NTB, t_tbs * 1e6 / NTB);
    printf("  whole-graph analysis (%u blocks): %.2f ms\n", g.nblocks, t_an * 1e3);

    /* Ours + journal: the same records again into a fresh graph, journaled. */
    char jpath[64], spath[64], err[1024];
    snprintf(jpath, sizeof jpath, "/tmp/bench_cfg_%d.journal", (int)getpid());
    snprintf(spath, sizeof spath, "/tmp/bench_cfg_%d.snap", (int)getpid());
    struct cfg gj;
    if (!cfg_init(&gj, &o)) return 1;
    struct cfg_journal j;
    if (!cfg_journal_create(&j, jpath, 0, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    uint64_t pos = 0;
    for (uint32_t i = 0; i < NTB; i++) {
        size_t len = tb_off[i + 1] - tb_off[i];
        if (rec_decode(tbs.data + tb_off[i], len, &rr, &a, NULL) != REC_TRACE_TB) return 1;
        cfg_consume(&gj, &rr);
        cfg_journal_add(&j, CFG_J_RECORD, 0, pos += len + 8, tbs.data + tb_off[i], (uint32_t)len);
        rec_arena_reset(&a);
    }
    if (!cfg_journal_flush(&j, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    t0 = now();
    for (uint32_t r = 0; r < nrec; r++) {
        if (rec_decode(ex[r].data, ex[r].len, &rr, &a, NULL) != REC_TRACE_EXEC) return 1;
        cfg_consume(&gj, &rr);
        cfg_journal_add(&j, CFG_J_RECORD, 0, pos += ex[r].len + 8, ex[r].data, (uint32_t)ex[r].len);
        rec_arena_reset(&a);
        if (j.buf.len >= (2u << 20) && !cfg_journal_flush(&j, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    }
    if (!cfg_journal_flush(&j, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    double t_journal = now() - t0;
    uint64_t jbytes = j.size;
    cfg_journal_close(&j);
    unlink(jpath);
    cfg_free(&gj);

    /* Snapshots of the bench graph, then with 64 samples per block. */
    struct cfg_ckpt_meta meta = { .generation = 1 };
    double ts[2], tl[2];
    uint64_t sbytes[2];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            struct x86_regs regs = { 0 };
            struct x86_mem_access mem[2] = { { 0x7000, 1, 8, false }, { 0x7008, 2, 8, true } };
            for (uint32_t i = 0; i < g.nblocks; i++)
                for (uint64_t k = 0; k < 64; k++) {
                    regs.gpr[1] = k;
                    for (uint32_t t = 0; t < g.ntbs; t++)
                        if (g.tb[t].first == i) {
                            cfg_add_sample(&g, g.tb[t].tb_id, g.tb[t].pc, k, &regs, mem, 2, &regs, g.tb[t].pc);
                            break;
                        }
                }
        }
        t0 = now();
        if (!cfg_snapshot_save(spath, &g, &meta, &sbytes[pass], err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        ts[pass] = now() - t0;
        struct cfg back;
        struct cfg_ckpt_meta mb;
        bool missing;
        t0 = now();
        if (!cfg_snapshot_load(spath, &back, &mb, &missing, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        tl[pass] = now() - t0;
        cfg_free(&back);
        unlink(spath);
    }
    printf("  ours + journal                : %7.2f ns/execution  %8.1f M executions/s  (%.1f MB journaled)\n",
           t_journal * 1e9 / n, n / t_journal / 1e6, (double)jbytes / 1e6);
    printf("  journal cost                  : %7.2f ns/execution\n", (t_journal - t_cfg) * 1e9 / n);
    printf("  snapshot, %u blocks            : %.1f MB written in %.1f ms, read in %.1f ms\n", g.nblocks,
           (double)sbytes[0] / 1e6, ts[0] * 1e3, tl[0] * 1e3);
    printf("  snapshot, %u blocks x 64 samples: %.1f MB written in %.1f ms, read in %.1f ms\n", g.nblocks,
           (double)sbytes[1] / 1e6, ts[1] * 1e3, tl[1] * 1e3);
    cfg_free(&g);
    rec_arena_free(&a);
    for (uint32_t r = 0; r < nrec; r++) rec_buf_free(&ex[r]);
    free(ex);
    free(ids);
    free(tb_off);
    rec_buf_free(&tbs);
    return 0;
}
