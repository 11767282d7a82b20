/* test_x86_cosim.c — co-simulation of the x86 model against silicon.
 *
 * For every form of the supported-forms table: several concrete instances
 * (Zydis-encoded with random registers, immediates and addressing modes:
 * base + index*scale + disp and rip-relative), each run on random and
 * edge-biased states from state_gen (0, -1, sign boundaries, shift counts
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
#include <Zydis/Zydis.h>

#include "oracle_native.h"
#include "state_gen.h"
#include "x86_decode.h"
#include "x86_eval.h"
#include "x86_forms.h"

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

/* ---- random instances ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) { *s += 0x9e3779b97f4a7c15ull; return state_gen_mix(*s); }
static unsigned rng_below(uint64_t *s, unsigned n) { return (unsigned)(rng_next(s) % n); }

/* A general register of `bits` width, never RSP (the stack pointer is the
 * oracle's and state_gen's business). */
static ZydisRegister pick_reg(uint64_t *s, unsigned bits)
{
    static const ZydisRegister r8[] = {
        ZYDIS_REGISTER_AL, ZYDIS_REGISTER_CL, ZYDIS_REGISTER_DL, ZYDIS_REGISTER_BL,
        ZYDIS_REGISTER_AH, ZYDIS_REGISTER_CH, ZYDIS_REGISTER_DH, ZYDIS_REGISTER_BH,
        ZYDIS_REGISTER_BPL, ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_DIL, ZYDIS_REGISTER_R8B,
        ZYDIS_REGISTER_R9B, ZYDIS_REGISTER_R10B, ZYDIS_REGISTER_R11B, ZYDIS_REGISTER_R12B,
        ZYDIS_REGISTER_R13B, ZYDIS_REGISTER_R14B, ZYDIS_REGISTER_R15B,
    };
    if (bits == 8)
        return r8[rng_below(s, sizeof r8 / sizeof r8[0])];
    unsigned g;
    do g = rng_below(s, 16); while (g == X86_RSP);
    ZydisRegister first = bits == 16 ? ZYDIS_REGISTER_AX : bits == 32 ? ZYDIS_REGISTER_EAX : ZYDIS_REGISTER_RAX;
    return (ZydisRegister)(first + g);
}

static int64_t pick_imm(uint64_t *s, const struct x86_form *f, unsigned w, bool is_reg_dst)
{
    switch (f->sem) {
    case X86_SEM_SHL: case X86_SEM_SHR: case X86_SEM_SAR: case X86_SEM_ROL: case X86_SEM_ROR: {
        const int64_t counts[] = { 0, 2, (int64_t)w - 1, w, (int64_t)w + 1, 7, 8, 9, 15, 16, 17,
                                   31, 32, 33, 63, 64, 255 };
        return rng_below(s, 4) ? counts[rng_below(s, sizeof counts / sizeof counts[0])]
                               : (int64_t)rng_below(s, 256);
    }
    case X86_SEM_BT:
        return (int64_t)rng_below(s, 256);
    default:
        break;
    }
    uint64_t r = rng_next(s);
    if (w == 8)
        return (int8_t)r;
    if (w == 16)
        return rng_below(s, 2) ? (int8_t)r : (int16_t)r;
    if (f->sem == X86_SEM_MOV && w == 64 && is_reg_dst && rng_below(s, 2))
        return (int64_t)r;
    return rng_below(s, 2) ? (int8_t)r : (int32_t)r;
}

/* Encodes one random instance of form `fi`; false when this draw does not
 * encode (an illegal register combination): the caller draws again. */
static bool encode_try(unsigned fi, uint64_t *s, uint8_t *code, size_t *len)
{
    const struct x86_form *f = &x86_forms[fi];
    ZydisEncoderRequest req;
    memset(&req, 0, sizeof req);
    req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
    req.mnemonic = (ZydisMnemonic)f->zydis_mnemonic;
    req.operand_count = f->nops;
    unsigned w = x86_opkind_bits((enum x86_opkind)f->op[0]);
    if (!w)
        w = 64;
    for (unsigned k = 0; k < f->nops; k++) {
        ZydisEncoderOperand *op = &req.operands[k];
        enum x86_opkind kind = (enum x86_opkind)f->op[k];
        if (x86_opkind_is_reg(kind)) {
            op->type = ZYDIS_OPERAND_TYPE_REGISTER;
            op->reg.value = pick_reg(s, x86_opkind_bits(kind));
        } else if (x86_opkind_is_mem(kind)) {
            op->type = ZYDIS_OPERAND_TYPE_MEMORY;
            /* lea: Zydis wants some memory size; which one depends on the encoding. */
            static const ZyanU16 lea_sizes[] = { 0, 2, 4, 8 };
            op->mem.size = kind == X86_OK_MA ? lea_sizes[rng_below(s, 4)]
                                             : (ZyanU16)(x86_opkind_bits(kind) / 8);
            if (rng_below(s, 6) == 0) {
                /* rip-relative, far enough from the code page to get its own region */
                op->mem.base = ZYDIS_REGISTER_RIP;
                op->mem.displacement = 0x10000 + 8 * (int64_t)rng_below(s, 4096);
            } else {
                op->mem.base = pick_reg(s, 64);
                if (rng_below(s, 2)) {
                    do op->mem.index = pick_reg(s, 64); while (op->mem.index == op->mem.base);
                    op->mem.scale = (ZyanU8)(1u << rng_below(s, 4));
                }
                unsigned d = rng_below(s, 3);
                op->mem.displacement = d == 0 ? 0 : d == 1 ? (int8_t)rng_next(s)
                                                           : (int64_t)(rng_next(s) % 2048) - 1024;
            }
        } else if (kind == X86_OK_I) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.s = pick_imm(s, f, w, k > 0 && x86_opkind_is_reg((enum x86_opkind)f->op[0]));
        } else if (kind == X86_OK_ONE) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.u = 1;
        } else if (kind == X86_OK_CL) {
            op->type = ZYDIS_OPERAND_TYPE_REGISTER;
            op->reg.value = ZYDIS_REGISTER_CL;
        } else if (kind == X86_OK_REL) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.s = rng_below(s, 2) ? (int8_t)rng_next(s) : (int32_t)(rng_next(s) & 0xffffff);
        }
    }
    ZyanUSize n = ZYDIS_MAX_INSTRUCTION_LENGTH;
    if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(&req, code, &n)))
        return false;
    *len = n;
    return true;
}

/* A random instance that decodes back to exactly this form. */
static bool encode_instance(unsigned fi, uint64_t *s, uint8_t *code, size_t *len, struct x86_insn *insn)
{
    char err[256];
    for (int attempt = 0; attempt < 500; attempt++) {
        if (!encode_try(fi, s, code, len))
            continue;
        if (x86_decode_insn(code, *len, STATE_GEN_CODE_BASE, 64, insn, err, sizeof err) != 0)
            continue;
        if (insn->form == fi)
            return true;
    }
    return false;
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
