/* bench_verify — time of verification per template: the proof (Z3, common/
 * equiv.h) and the concrete tests (10,000 generated states: Unicorn + native
 * + Pixel batched executor), median and p95 over a corpus of templates with
 * correct microcode (tests/unit/test_verify_patterns.h: ALU with all flags,
 * partial registers, extensions, lea, shifts, multiply, loads, stores,
 * aliasing, push, compare-and-branch).  Reference figures from the same run:
 * the seed's targets, and the same concrete tests with Pixel in the
 * reference interpreter instead of the batched executor.
 *
 *   BENCH_VERIFY_STATES  states per template (default 10000)
 *   BENCH_VERIFY_ROUNDS  rounds over the corpus (default 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../stages/synth/synth.h"
#include "../stages/verify/concrete.h"
#include "../tests/unit/test_verify_patterns.h"
#include "equiv.h"
#include "x86_decode.h"

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static unsigned env_u(const char *name, unsigned def)
{
    const char *s = getenv(name);
    return s && *s ? (unsigned)strtoul(s, NULL, 10) : def;
}

int main(void)
{
    unsigned states = env_u("BENCH_VERIFY_STATES", 10000), rounds = env_u("BENCH_VERIFY_ROUNDS", 3);
    if (!rounds) rounds = 1;
    struct vconc *e = vconc_new();
    struct equiv_ctx *q = equiv_ctx_new();
    if (!e || !q) {
        fprintf(stderr, "bench_verify: cannot start the oracles or Z3\n");
        return 1;
    }
    size_t cap = 2 * TV_NPATTERNS * rounds;
    double *proof = calloc(cap, sizeof *proof), *conc = calloc(cap, sizeof *conc);
    double *interp = calloc(cap, sizeof *interp), *total = calloc(cap, sizeof *total);
    double *ccpu = calloc(cap, sizeof *ccpu);
    double uni = 0, nat = 0, pix = 0, pix_interp = 0;
    size_t n = 0;
    printf("bench_verify: %zu templates, each with hand-written microcode and with the synth stage's baseline "
           "[synth], x %u rounds, %u generated states per template\n", TV_NPATTERNS, rounds, states);
    printf("%-44s %10s %12s %10s %14s\n", "template", "proof ms", "concrete ms", "cpu ms", "interp-conc ms");
    for (unsigned round = 0; round < rounds; round++) {
        for (size_t i = 0; i < 2 * TV_NPATTERNS; i++) {
            bool synth = i >= TV_NPATTERNS;
            const struct tv_pattern *p = &tv_patterns[synth ? i - TV_NPATTERNS : i];
            uint8_t code[32];
            size_t len = tv_hex(p->hex, code, sizeof code);
            static struct pixel_insn prog[SYNTH_MAX_OPS];
            char err[320], name[64];
            snprintf(name, sizeof name, "%s%s", p->name, synth ? " [synth]" : "");
            int np = synth ? synth_baseline(code, len, p->live, false, prog, SYNTH_MAX_OPS, err, sizeof err)
                           : pixel_asm(p->pixel, prog, 64, err, sizeof err);
            struct x86_insn insns[16];
            size_t ni = 0;
            if (np < 0 || x86_decode_block(code, len, 0x1000, 64, insns, 16, &ni, err, sizeof err) < 0) {
                fprintf(stderr, "bench_verify: %s: %s\n", name, err);
                return 1;
            }
            struct equiv_result er;
            struct equiv_opts eo = { .timeout_ms = 10000 };
            if (equiv_prepare(q, insns, ni, p->live, err, sizeof err) < 0 ||
                equiv_check_prepared(q, prog, (size_t)np, &eo, &er) != EQUIV_PROVED) {
                fprintf(stderr, "bench_verify: %s: not proved\n", name);
                return 1;
            }
            struct vconc_opts o;
            vconc_opts_default(&o);
            o.nstates = states;
            struct vconc_result r, ri;
            double c0 = cpu_ms();
            if (vconc_run(e, code, len, p->live, prog, (size_t)np, NULL, 0, &o, &r, err, sizeof err) < 0 ||
                r.failed) {
                fprintf(stderr, "bench_verify: %s: concrete tests failed: %s %s\n", name, err, r.first_failure);
                return 1;
            }
            ccpu[n] = cpu_ms() - c0;
            o.interp_only = true;
            if (vconc_run(e, code, len, p->live, prog, (size_t)np, NULL, 0, &o, &ri, err, sizeof err) < 0) return 1;
            proof[n] = er.us / 1e3;
            conc[n] = r.us / 1e3;
            interp[n] = ri.us / 1e3;
            total[n] = proof[n] + conc[n];
            uni += r.unicorn_us / 1e3;
            nat += r.native_us / 1e3;
            pix += r.pixel_us / 1e3;
            pix_interp += ri.pixel_us / 1e3;
            if (round == rounds - 1)
                printf("%-44s %10.2f %12.1f %10.1f %14.1f\n", name, proof[n], conc[n], ccpu[n], interp[n]);
            n++;
        }
    }
    printf("\n%-44s %10s %10s\n", "per template (all rounds)", "median", "p95");
    printf("%-44s %10.2f %10.2f   (goal: median < 10 ms)\n", "proof ms", pct(proof, n, 0.5), pct(proof, n, 0.95));
    printf("%-44s %10.1f %10.1f   (goal: < 100 ms for 10,000 states)\n", "concrete tests ms (batched Pixel)",
           pct(conc, n, 0.5), pct(conc, n, 0.95));
    printf("%-44s %10.1f %10.1f   (CPU of this process: Unicorn thread + Pixel + comparison; the native child not included)\n",
           "concrete tests CPU ms (batched Pixel)", pct(ccpu, n, 0.5), pct(ccpu, n, 0.95));
    printf("%-44s %10.1f %10.1f   (reference)\n", "concrete tests ms (Pixel interpreter)", pct(interp, n, 0.5),
           pct(interp, n, 0.95));
    printf("%-44s %10.1f %10.1f   (seed: median < 50 ms)\n", "verification ms (proof + concrete)",
           pct(total, n, 0.5), pct(total, n, 0.95));
    printf("time inside the executors, mean per template: Unicorn %.1f ms (own thread), native %.1f ms, "
           "Pixel batched %.2f ms vs interpreter %.2f ms\n",
           uni / n, nat / n, pix / n, pix_interp / n);
    free(ccpu);
    free(proof); free(conc); free(interp); free(total);
    equiv_ctx_free(q);
    vconc_free(e);
    return 0;
}
