/* bench_synth.c — synthesis time, optimization wins and library reuse over a
 * fixed corpus of 1–5-instruction templates (`make bench-synth`).
 *
 * Corpus (deterministic): single-instruction templates of every 3rd supported
 * form, 2–5-instruction compositions of random forms (no 64-bit multiplies,
 * see docs/synthesis.md "Known limits") and a few code-shaped blocks, each
 * with a pseudo-random live-out set.
 *
 * Pass 1: every template through synth_template with the stage's defaults
 * plus --prove-baseline --store (so that proved microcode lands in a fresh
 * library): per-template time, outcome, cost.  Pass 2: the same corpus again
 * through the same library.  Printed beside the seed's and the goal's
 * figures, and beside the baseline-only lowering time as a reference.
 *
 * Options: --budget-ms N (CEGIS budget, default 200), --templates N (default 200).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../stages/synth/synth.h"
#include "../tests/unit/library_test_util.h"
#include "../tests/unit/test_synth_util.h"

struct tpl { uint8_t code[80]; size_t len; x86_locset live; };

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool wide_mul(unsigned fi)
{
    enum x86_sem s = x86_forms[fi].sem;
    return (s == X86_SEM_IMUL1 || s == X86_SEM_IMUL2 || s == X86_SEM_IMUL3 || s == X86_SEM_MUL) &&
           x86_opkind_bits((enum x86_opkind)x86_forms[fi].op[0]) == 64;
}

static size_t make_corpus(struct tpl *t, size_t max)
{
    uint64_t seed = 0xbe7c4;
    size_t n = 0;
    for (unsigned fi = 0; fi < X86_FORM_COUNT && n < max / 2; fi += 3) {
        t[n].len = 0;
        if (!tsu_encode_form(fi, &seed, t[n].code, &t[n].len))
            continue;
        t[n].live = (x86_locset)(tsu_next(&seed) & X86_LOC_ALL);
        n++;
    }
    static const char *const shaped[] = {
        "48 83 c0 01 48 39 d8 75 f7", "48 8b 06 48 89 07 48 83 c6 08 48 83 c7 08 48 ff c9 75 ea",
        "0f b6 07 48 ff c7 84 c0 75 f6", "55 48 89 e5 48 83 ec 20", "48 89 ec 5d c3",
        "0f af c1 01 d0 25 ff 00 00 00", "48 8d 04 7f 48 c1 e0 03 48 01 f0", "31 c0 39 f7 0f 9c c0",
        "89 f8 c1 f8 1f 31 c7 29 c7", "48 39 f7 48 0f 4c fe 48 89 f8", "89 d8 83 c0 01", "31 c0",
    };
    for (size_t i = 0; i < sizeof shaped / sizeof shaped[0] && n < max; i++) {
        t[n].len = tsu_hex(shaped[i], t[n].code);
        t[n].live = X86_LOC_GPR(X86_RAX) | X86_LOC_GPR(X86_RDI) | X86_LOC_GPR(X86_RSP) | X86_LOC_MEM;
        n++;
    }
    while (n < max) {
        unsigned k = 2 + tsu_below(&seed, 4);
        t[n].len = 0;
        bool ok = true;
        for (unsigned i = 0; i < k && ok; i++) {
            unsigned fi;
            do fi = tsu_below(&seed, X86_FORM_COUNT);
            while ((x86_sems[x86_forms[fi].sem].terminator && i + 1 < k) || wide_mul(fi));
            ok = tsu_encode_form(fi, &seed, t[n].code, &t[n].len);
        }
        if (!ok)
            continue;
        t[n].live = (x86_locset)(tsu_next(&seed) & X86_LOC_ALL) | X86_LOC_GPR(X86_RAX);
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned budget = 200;
    size_t ntpl = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--budget-ms"))
            budget = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--templates"))
            ntpl = (size_t)atoi(argv[i + 1]);
    }
    if (ntpl < 10 || ntpl > 2000) {
        fprintf(stderr, "bench_synth: --templates must be 10..2000\n");
        return 2;
    }
    struct tpl *t = calloc(ntpl, sizeof *t);
    uint64_t *us = calloc(ntpl, sizeof *us), *base_us = calloc(ntpl, sizeof *base_us);
    uint64_t *first = calloc(ntpl, sizeof *first);
    struct synth_result *r = malloc(sizeof *r);
    char *dir = ltu_tempdir();
    if (!t || !us || !base_us || !first || !r || !dir)
        return 1;
    size_t n = make_corpus(t, ntpl);
    struct library *lib = library_open(dir, NULL);
    struct synth_options o;
    synth_options_default(&o);
    o.budget_ms = budget;
    o.prove_baseline = true;
    o.store_proved = true;
    struct synth *s = synth_new(&o, lib, NULL);
    if (!lib || !s)
        return 1;

    unsigned counts[5] = { 0 }, wins = 0;
    double red_sum = 0;
    uint64_t cost = 0, bcost = 0, pass1 = 0, opt_timeouts = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_us();
        synth_template(s, i, t[i].code, t[i].len, 64, t[i].live, r);
        us[i] = first[i] = now_us() - t0;
        pass1 += us[i];
        base_us[i] = r->baseline_us;
        counts[r->outcome]++;
        if (r->outcome == SYNTH_OPTIMIZED) {
            wins++;
            red_sum += 1.0 - (double)r->cost / (double)r->baseline_cost;
        }
        if (r->outcome == SYNTH_BASELINE || r->outcome == SYNTH_OPTIMIZED) {
            cost += r->cost;
            bcost += r->baseline_cost;
        }
        opt_timeouts += r->opt_timed_out;
    }
    uint64_t pass2 = 0, pass1_hit = 0, pass2_hit = 0;
    unsigned hits = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_us();
        synth_template(s, n + i, t[i].code, t[i].len, 64, t[i].live, r);
        uint64_t dt = now_us() - t0;
        pass2 += dt;
        if (r->outcome == SYNTH_HIT || r->outcome == SYNTH_QEMU_ONLY) {
            hits++;
            pass2_hit += dt;
            pass1_hit += first[i];
        } else {
            fprintf(stderr, "  not in the library after pass 1 (proof %s): template %zu, %zu bytes\n",
                    equiv_status_name(r->proof), i, t[i].len);
        }
    }
    qsort(us, n, sizeof *us, cmp_u64);
    qsort(base_us, n, sizeof *base_us, cmp_u64);
    unsigned synthesized = counts[SYNTH_BASELINE] + counts[SYNTH_OPTIMIZED];
    printf("bench_synth: %zu templates (1-5 instructions), CEGIS budget %u ms, baseline proved by Z3 too\n",
           n, budget);
    printf("  outcomes: %u baseline, %u optimized, %u qemu-only, %u errors; %llu optimizations hit the budget\n",
           counts[SYNTH_BASELINE], counts[SYNTH_OPTIMIZED], counts[SYNTH_QEMU_ONLY], counts[SYNTH_ERROR],
           (unsigned long long)opt_timeouts);
    printf("  synthesis time per template: median %.1f ms, p95 %.1f ms   (seed: median < 100 ms; goal < 20 ms)\n",
           us[n / 2] / 1000.0, us[(n * 95) / 100] / 1000.0);
    printf("  reference, baseline lowering alone: median %.3f ms, p95 %.3f ms\n", base_us[n / 2] / 1000.0,
           base_us[(n * 95) / 100] / 1000.0);
    printf("  optimization beat the baseline on %u of %u synthesized templates (%.1f%%), "
           "average cost reduction where it won %.1f%%, overall cost %llu vs baseline %llu (%.1f%% less)\n",
           wins, synthesized, synthesized ? 100.0 * wins / synthesized : 0.0, wins ? 100.0 * red_sum / wins : 0.0,
           (unsigned long long)cost, (unsigned long long)bcost,
           bcost ? 100.0 * (1.0 - (double)cost / (double)bcost) : 0.0);
    printf("  second pass through the library: %u/%zu answered from it, %.1f ms vs %.1f ms first pass "
           "(%.2f%% less; seed >= 90%%, goal >= 99%%)\n",
           hits, n, pass2 / 1000.0, pass1 / 1000.0, pass1 ? 100.0 * (1.0 - (double)pass2 / (double)pass1) : 0.0);
    printf("    over the %u templates the library holds: %.1f ms vs %.1f ms (%.2f%% less)\n", hits,
           pass2_hit / 1000.0, pass1_hit / 1000.0,
           pass1_hit ? 100.0 * (1.0 - (double)pass2_hit / (double)pass1_hit) : 0.0);
    synth_free(s);
    library_close(lib);
    ltu_rmtree(dir);
    free(first);
    free(t);
    free(us);
    free(base_us);
    free(r);
    return 0;
}
