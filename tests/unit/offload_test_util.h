/* offload_test_util.h — helpers shared by the test_offload_* programs and
 * test_fallback_correctness: jobs and verdicts for a real template, with
 * microcode from synth's real baseline lowering. */
#ifndef TCGL_OFFLOAD_TEST_UTIL_H
#define TCGL_OFFLOAD_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "library.h"
#include "records.h"
#include "../../stages/synth/synth.h"

/* add rax, rbx; mov [rcx], rax */
static const uint8_t otu_add_store[] = { 0x48, 0x01, 0xd8, 0x48, 0x89, 0x01 };
/* sub rax, rbx; mov [rcx], rax (the "wrong" microcode source) */
static const uint8_t otu_sub_store[] = { 0x48, 0x29, 0xd8, 0x48, 0x89, 0x01 };
#define OTU_LIVE_OUT (X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS | X86_LOC_RIP | X86_LOC_MEM)
#define OTU_RIP 0x401000ull
#define OTU_DATA 0x20001000ull

/* Microcode bytes (4 per op) of code's baseline lowering; returns the byte count. */
static inline size_t otu_microcode(const uint8_t *code, size_t len, x86_locset live_out, uint8_t *bytes, size_t max_ops)
{
    struct pixel_insn ops[256];
    char err[200];
    int n = synth_baseline(code, len, live_out, false, ops, 256, err, sizeof err);
    if (n < 0 || (size_t)n > max_ops) {
        fprintf(stderr, "synth_baseline: %s\n", err);
        return 0;
    }
    pixel_encode(ops, (size_t)n, bytes);
    return 4 * (size_t)n;
}

/* A sample of add_store: rax=a, rbx=b, rcx=OTU_DATA; the store of a+b and
 * the post state (flags of the 64-bit add computed here). */
static inline void otu_sample(struct rec_sample *s, struct x86_mem_access *acc, uint64_t a, uint64_t b)
{
    memset(s, 0, sizeof *s);
    s->pre.gpr[X86_RAX] = a;
    s->pre.gpr[X86_RBX] = b;
    s->pre.gpr[X86_RCX] = OTU_DATA;
    s->pre.gpr[X86_RSP] = 0x7ff000;
    s->pre.rip = OTU_RIP;
    s->pre.rflags = 0x202;
    uint64_t r = a + b;
    acc->addr = OTU_DATA;
    acc->value = r;
    acc->size = 8;
    acc->is_store = true;
    s->mem.n = 1;
    s->mem.v = acc;
    s->post.present = true;
    s->post.regs = s->pre;
    s->post.regs.gpr[X86_RAX] = r;
    s->post.regs.rip = OTU_RIP + sizeof otu_add_store;
    uint64_t fl = 0x202;
    if (r < a) fl |= 1u << X86_RFLAGS_CF;
    if (!__builtin_parity((unsigned)(r & 0xff))) fl |= 1u << X86_RFLAGS_PF;
    if ((a ^ b ^ r) & 0x10) fl |= 1u << X86_RFLAGS_AF;
    if (!r) fl |= 1u << X86_RFLAGS_ZF;
    if (r >> 63) fl |= 1u << X86_RFLAGS_SF;
    if ((~(a ^ b) & (a ^ r)) >> 63) fl |= 1u << X86_RFLAGS_OF;
    s->post.regs.rflags = fl;
}

/* A job for code (template key computed as the library does). */
static inline void otu_job(struct rec_synth_job *j, char key[LIBRARY_KEY_HEX_LEN + 1], const uint8_t *code,
                           size_t len, x86_locset live_out, struct rec_instance *inst,
                           struct rec_sample *samples, uint32_t ns)
{
    struct library_template t = library_template_make(code, len, 64, live_out);
    library_key(&t, key, NULL);
    memset(j, 0, sizeof *j);
    j->job_id = 1;
    j->template_key = rec_str_c(key);
    j->code.ptr = code;
    j->code.len = (uint32_t)len;
    j->cpu_mode = 64;
    j->live_in = X86_LOC_GPR(X86_RAX) | X86_LOC_GPR(X86_RBX) | X86_LOC_GPR(X86_RCX);
    j->live_out = live_out;
    j->class = 1;
    j->exec_count = 1000;
    memset(inst, 0, sizeof *inst);
    inst->pc = OTU_RIP;
    for (unsigned i = 0; i < 16; i++) inst->binding[i] = (uint8_t)i;
    j->instances.n = 1;
    j->instances.v = inst;
    j->samples.n = ns;
    j->samples.v = samples;
}

/* A verdict record around job j (encoded into b). */
static inline int otu_verdict(struct rec_buf *b, const struct rec_synth_job *j, uint8_t method,
                              const uint8_t *ops, size_t ops_len, uint8_t proof, uint32_t tests_failed,
                              const char *reason, const char *mnemonic)
{
    struct rec_verdict v;
    memset(&v, 0, sizeof v);
    v.candidate.job = *j;
    v.candidate.method = method;
    v.candidate.pixel_ops.ptr = ops;
    v.candidate.pixel_ops.len = (uint32_t)ops_len;
    v.candidate.cost = (uint32_t)(ops_len / 4);
    v.candidate.baseline_cost = (uint32_t)(ops_len / 4);
    v.candidate.synth_us = 1234;
    v.candidate.reason = rec_str_c(reason);
    v.candidate.mnemonic = rec_str_c(mnemonic);
    v.proof = proof;
    v.counterexample = rec_str_c(proof == 1 ? "rax=1" : "");
    v.tests_unicorn = method == 3 ? 0 : 100;
    v.tests_native = method == 3 ? 0 : 100;
    v.tests_failed = tests_failed;
    v.proof_us = 50;
    v.test_us = 70;
    struct rec_error err;
    int rc = rec_encode_verdict(b, &v, &err);
    if (rc < 0) fprintf(stderr, "encode: %s\n", err.msg);
    return rc;
}

#endif
