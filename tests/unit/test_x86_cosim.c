/* test_x86_cosim.c — co-simulation of the x86 model against silicon.
 *
 * For every form of the supported-forms table: several concrete instances
 * (x86_rand_insn.h: Zydis-encoded with random registers, immediates and
 * addressing modes: base + index*scale + disp and rip-relative), each run
 * on random and edge-biased states from state_gen (0, -1, sign boundaries, shift counts
 * 0/1/width-1/width, ...), X86_COSIM_STATES per form in all (default 1000,
 * TCGL_X86_COSIM_STATES overrides).  Each state is executed natively on the
 * host CPU (oracle_native: a seccomp-sandboxed child, memory operands in the
 * scratch arena) and by the Z3 model evaluated concretely (x86_eval).  They
 * must agree on all 16 GPRs, the next rip, every flag the model does not
 * call undefined in that state, and the memory regions.  A mismatch prints
 * the form, the instance, the state and the differing outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oracle_native.h"
#include "state_gen.h"
#include "x86_decode.h"
#include "x86_eval.h"
#include "x86_forms.h"
#include "x86_rand_insn.h"

/* Encodings per form: more where an immediate is part of the form (shift
 * counts come from it), fewer elsewhere (each instance costs a native batch
 * and a lift). */
#define INSTANCES_IMM 8
#define INSTANCES 4
#define MAX_PRINTED 20       /* mismatches printed in full */

static unsigned states_per_form = 1000;
static struct oracle_native *oracle;
static struct x86_evaluator *evaluator;   /* one, retargeted per instance */
static bool host_has_lzcnt;

/* Random instances come from the shared generator (x86_rand_insn.h) with
 * the executable policy: no rsp (the stack pointer is the oracle's and
 * state_gen's business), index != base (state_gen places each address
 * register on its own), rip-relative targets in their own region.  This
 * test's seed states were first used with an rng one step ahead (it
 * mixed state + step); shifting the state by one step draws exactly the
 * instances the test was validated with. */
static bool encode_instance(unsigned fi, uint64_t *s, uint8_t *code, size_t *len, struct x86_insn *insn)
{
    uint64_t t = *s + X86_RAND_STEP;
    bool ok = x86_rand_instance(fi, &x86_rand_executable, &t, STATE_GEN_CODE_BASE, code, len, insn);
    *s = t - X86_RAND_STEP;
    return ok;
}

/* ---- comparison ------------------------------------------------------------------- */

struct cosim_stats {
    unsigned long states, compared, mismatches, faults_both;
    double native_s, model_s;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_state(const char *what, const struct x86_regs *r)
{
    fprintf(stderr, "    %s:", what);
    for (unsigned g = 0; g < X86_NGPR; g++)
        fprintf(stderr, "%s %s=%#" PRIx64, g % 4 ? "" : "\n     ", x86_gpr_name(g), r->gpr[g]);
    fprintf(stderr, "\n      rip=%#" PRIx64 " rflags=%#" PRIx64 "\n", r->rip, r->rflags);
}

static void report(struct cosim_stats *st, const struct x86_insn *insn, const struct x86_regs *in,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void report(struct cosim_stats *st, const struct x86_insn *insn, const struct x86_regs *in,
                   const char *fmt, ...)
{
    st->mismatches++;
    if (st->mismatches > MAX_PRINTED)
        return;
    fprintf(stderr, "MISMATCH form %s (%s; bytes", x86_forms[insn->form].name, insn->text);
    for (unsigned i = 0; i < insn->len; i++)
        fprintf(stderr, " %02x", insn->bytes[i]);
    fprintf(stderr, "): ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    print_state("input", in);
}

static void compare_one(struct cosim_stats *st, const struct x86_insn *insn, const struct x86_regs *in,
                        const struct x86_eval_result *model, const struct x86_mem *model_mem,
                        const struct x86_regs *nat, const struct x86_mem *nat_mem,
                        const struct oracle_result *res)
{
    st->compared++;
    if (res->kind != ORACLE_OK || model->fault) {
        if (res->kind == ORACLE_FAULT_MEM && model->fault) {
            st->faults_both++;
            return;
        }
        report(st, insn, in, "native %s (addr %#" PRIx64 "), model %s (addr %#" PRIx64 ")",
               oracle_kind_name(res->kind), res->fault_addr, model->fault ? "faults" : "runs",
               model->fault_addr);
        return;
    }
    for (unsigned g = 0; g < X86_NGPR; g++)
        if (model->regs.gpr[g] != nat->gpr[g])
            report(st, insn, in, "%s: model %#" PRIx64 ", native %#" PRIx64, x86_gpr_name(g),
                   model->regs.gpr[g], nat->gpr[g]);
    if (model->regs.rip != nat->rip)
        report(st, insn, in, "rip: model %#" PRIx64 ", native %#" PRIx64, model->regs.rip, nat->rip);
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (model->flags_undefined >> f & 1)
            continue;
        unsigned b = x86_flag_rflags_bit((enum x86_flag)f);
        if ((model->regs.rflags >> b & 1) != (nat->rflags >> b & 1))
            report(st, insn, in, "%s: model %u, native %u", x86_flag_name(f),
                   (unsigned)(model->regs.rflags >> b & 1), (unsigned)(nat->rflags >> b & 1));
    }
    for (uint32_t r = 0; r < model_mem->nregions; r++) {
        const struct x86_mem_region *a = &model_mem->region[r], *b = &nat_mem->region[r];
        if (memcmp(a->data, b->data, a->size) == 0)
            continue;
        for (uint32_t i = 0; i < a->size; i++)
            if (a->data[i] != b->data[i]) {
                report(st, insn, in, "memory at %#" PRIx64 ": model %#04x, native %#04x",
                       a->base + i, a->data[i], b->data[i]);
                break;
            }
    }
}

/* Copies a state's memory description onto other storage. */
static void mem_clone(const struct x86_mem *src, struct x86_mem *dst, struct state_gen_storage *sto)
{
    *dst = *src;
    for (uint32_t r = 0; r < src->nregions; r++) {
        dst->region[r].data = sto->bytes[r];
        memcpy(sto->bytes[r], src->region[r].data, src->region[r].size);
    }
}

/* Runs `nstates` states of one instance through both; returns 0 or -1 on a harness error. */
static int cosim_instance(struct cosim_stats *st, const struct x86_insn *insn, uint64_t seed,
                          unsigned nstates)
{
    static struct state_gen_storage *sto_in, *sto_model, *sto_nat;
    static struct x86_regs *in, *out;
    static struct x86_mem *mem_in, *mem_model, *mem_nat;
    static struct oracle_result *res;
    static unsigned cap;
    if (nstates > cap) {
        cap = nstates;
        sto_in = realloc(sto_in, cap * sizeof *sto_in);
        sto_model = realloc(sto_model, cap * sizeof *sto_model);
        sto_nat = realloc(sto_nat, cap * sizeof *sto_nat);
        in = realloc(in, cap * sizeof *in);
        out = realloc(out, cap * sizeof *out);
        mem_in = realloc(mem_in, cap * sizeof *mem_in);
        mem_model = realloc(mem_model, cap * sizeof *mem_model);
        mem_nat = realloc(mem_nat, cap * sizeof *mem_nat);
        res = realloc(res, cap * sizeof *res);
        assert_non_null(sto_in); assert_non_null(sto_model); assert_non_null(sto_nat);
        assert_non_null(in); assert_non_null(out); assert_non_null(res);
        assert_non_null(mem_in); assert_non_null(mem_model); assert_non_null(mem_nat);
    }
    if (nstates == 0) {   /* release */
        free(sto_in); free(sto_model); free(sto_nat); free(in); free(out);
        free(mem_in); free(mem_model); free(mem_nat); free(res);
        cap = 0;
        return 0;
    }
    struct state_gen_block blk;
    if (state_gen_analyze(insn->bytes, insn->len, &blk) != 0) {
        fprintf(stderr, "state_gen_analyze failed on %s\n", insn->text);
        return -1;
    }
    for (unsigned i = 0; i < nstates; i++) {
        state_gen_make(&blk, seed, i, &in[i], &mem_in[i], &sto_in[i]);
        mem_clone(&mem_in[i], &mem_model[i], &sto_model[i]);
        mem_clone(&mem_in[i], &mem_nat[i], &sto_nat[i]);
    }
    double t0 = now_s();
    if (oracle_native_run_batch(oracle, insn->bytes, insn->len, in, mem_in, nstates, out, mem_nat, res) != 0) {
        fprintf(stderr, "oracle_native_run_batch rejected %s\n", insn->text);
        return -1;
    }
    double t1 = now_s();
    st->native_s += t1 - t0;
    char err[512];
    if (!evaluator)
        evaluator = x86_evaluator_create(insn, 1, err, sizeof err);
    else if (x86_evaluator_retarget(evaluator, insn, 1, err, sizeof err) != 0)
        x86_evaluator_destroy(evaluator), evaluator = NULL;
    struct x86_evaluator *ev = evaluator;
    if (!ev) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    for (unsigned i = 0; i < nstates; i++) {
        struct x86_eval_result mr;
        if (x86_evaluator_run(ev, &in[i], &mem_model[i], &mr, err, sizeof err) != 0) {
            fprintf(stderr, "model evaluation of %s failed: %s\n", insn->text, err);
            return -1;
        }
        st->states++;
        compare_one(st, insn, &in[i], &mr, &mem_model[i], &out[i], &mem_nat[i], &res[i]);
    }
    st->model_s += now_s() - t1;
    return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

/* Under ASan, every allocation records its stack, and Z3 allocates a lot:
 * record only two frames, keep a small quarantine and skip filling new
 * blocks, so that the model's
 * evaluation does not drown in bookkeeping.  (The runner's ASAN_OPTIONS
 * still override these defaults; the stack of a faulting access stays
 * complete, only allocation/free stacks in reports are cut to two frames.) */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "malloc_context_size=2:quarantine_size_mb=1:thread_local_quarantine_size_kb=64:max_malloc_fill_size=0";
}

static bool form_skipped(unsigned fi)
{
    return x86_forms[fi].sem == X86_SEM_LZCNT && !host_has_lzcnt;
}

static void test_every_form_encodes_and_roundtrips(void **state)
{
    (void)state;
    unsigned bad = 0;
    for (unsigned fi = 0; fi < X86_FORM_COUNT; fi++) {
        uint64_t s = 0x5eed0000u + fi;
        uint8_t code[16];
        size_t len;
        struct x86_insn insn;
        if (!encode_instance(fi, &s, code, &len, &insn)) {
            fprintf(stderr, "form %s: no encoding found that decodes back to it\n", x86_forms[fi].name);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_cosim_every_form_against_host_cpu(void **state)
{
    (void)state;
    struct cosim_stats st = { 0 };
    unsigned skipped = 0;
    for (unsigned fi = 0; fi < X86_FORM_COUNT; fi++) {
        if (form_skipped(fi)) {
            skipped++;
            continue;
        }
        bool has_imm = false;
        for (unsigned k = 0; k < x86_forms[fi].nops; k++)
            has_imm |= x86_forms[fi].op[k] == X86_OK_I;
        unsigned ninst = has_imm ? INSTANCES_IMM : INSTANCES;
        unsigned per_inst = (states_per_form + ninst - 1) / ninst;
        uint64_t s = 0xc051u * 1000003u + fi;
        unsigned long before = st.states;
        for (unsigned k = 0; k < ninst; k++) {
            uint8_t code[16];
            size_t len;
            struct x86_insn insn;
            if (!encode_instance(fi, &s, code, &len, &insn))
                fail_msg("form %s: cannot encode an instance", x86_forms[fi].name);
            if (cosim_instance(&st, &insn, s ^ k, per_inst) != 0)
                fail_msg("form %s: harness error (see above)", x86_forms[fi].name);
        }
        assert_true(st.states - before >= states_per_form);
    }
    cosim_instance(&st, NULL, 0, 0);
    fprintf(stderr, "cosim: %u forms (%u skipped: host lacks LZCNT), %lu states, %lu both fault, "
            "%lu mismatches; native %.1f s, model %.1f s\n", X86_FORM_COUNT - skipped, skipped, st.states,
            st.faults_both, st.mismatches, st.native_s, st.model_s);
    if (st.mismatches)
        fail_msg("%lu mismatches between the x86 model and the host CPU (first %d printed above)",
                 st.mismatches, MAX_PRINTED);
}

static int setup(void **state)
{
    (void)state;
    const char *env = getenv("TCGL_X86_COSIM_STATES");
    if (env && atoi(env) > 0)
        states_per_form = (unsigned)atoi(env);
    /* LZCNT without the ABM/LZCNT feature executes as BSR: detect by behaviour. */
    uint64_t x = 1, r = 0;
    __asm__ volatile("lzcnt %1, %0" : "=r"(r) : "r"(x) : "cc");
    host_has_lzcnt = r == 63;
    if (!host_has_lzcnt)
        fprintf(stderr, "note: host CPU executes LZCNT as BSR; lzcnt forms are not co-simulated\n");
    oracle = oracle_native_create(NULL);
    return oracle ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    oracle_native_destroy(oracle);
    x86_evaluator_destroy(evaluator);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_form_encodes_and_roundtrips),
        cmocka_unit_test(test_cosim_every_form_against_host_cpu),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
