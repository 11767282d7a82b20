/* records_fixture.h — one filled-in sample of every record type, for the
 * codec tests (test_records.c) and the fuzz seed corpus generator
 * (tests/tools/gen_records_corpus.c).  Every field is non-default so a field
 * the codec forgot would show up in a round trip. */
#ifndef TCGL_RECORDS_FIXTURE_H
#define TCGL_RECORDS_FIXTURE_H

#include <string.h>

#include "records.h"

static const uint8_t fx_code[] = { 0x48, 0x01, 0xd8, 0x48, 0x83, 0xc1, 0x01, 0xc3 };  /* add rax,rbx; add rcx,1; ret */
static const uint8_t fx_lens[] = { 3, 4, 1 };
static struct rec_str fx_disasm[3];
static struct x86_mem_access fx_mem[3];
static struct rec_sample fx_samples[2];
static struct rec_succ fx_succs[2] = { { 0x401000, 10 }, { 0x401020, 5 } };
static uint64_t fx_imms[2] = { 1, 0xffffffffffffffffull };
static struct rec_instance fx_inst[2];
static uint32_t fx_ids[5] = { 1, 2, 3, 70000, 2 };
static uint32_t fx_dts[5] = { 0, 1, 1, 5, 300 };
static uint8_t fx_ops[8] = { 2, 0, 0, 3, 2, 1, 1, 20 };
static uint8_t fx_payload[40];
/* TRACE_INSNS: runs (tb 7 from instruction 0, two; tb 9 from instruction 1,
 * one), three instructions with dt, masks (all, rax+rcx, none), 21 register
 * words, access counts 1, 0, 2 and three packed accesses. */
static const uint8_t fx_runs[16] = { 7, 0, 0, 0, 0, 0, 2, 0, 9, 0, 0, 0, 1, 0, 1, 0 };
static const uint32_t fx_pdt[3] = { 0, 0, 3 };
static const uint32_t fx_pmask[3] = { REC_PACK_ALL_REGS, 0x3, 0 };
static uint64_t fx_pvals[21];
static const uint16_t fx_pmem_n[3] = { 1, 0, 2 };
static uint8_t fx_pmems[3 * REC_PACK_MEM_BYTES];

static void fx_regs(struct x86_regs *r, uint64_t base)
{
    for (int i = 0; i < X86_NGPR; i++) r->gpr[i] = base + (uint64_t)i * 0x1111;
    r->rip = 0x401000 + base;
    r->rflags = 0x246;
    r->fs_base = 0x7f0000000000ull;
    r->gs_base = base ^ 0xdeadbeef;
}

static void fx_job(struct rec_synth_job *j)
{
    memset(j, 0, sizeof *j);
    j->job_id = 42;
    j->template_key = rec_str_c("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    j->code = (struct rec_bin){ fx_code, sizeof fx_code };
    j->cpu_mode = 64;
    j->live_in = 0x3u | (1u << 16);
    j->live_out = 0x1u;
    j->class = 2;
    j->exec_count = 123456789;
    j->instances = (struct rec_instances){ 2, fx_inst };
    j->samples = (struct rec_samples){ 2, fx_samples };
    j->lib_hit = true;
    j->cached_ops = (struct rec_bin){ fx_ops, sizeof fx_ops };
}

static void fx_candidate(struct rec_candidate *c)
{
    memset(c, 0, sizeof *c);
    fx_job(&c->job);
    c->method = 1;
    c->pixel_ops = (struct rec_bin){ fx_ops, sizeof fx_ops };
    c->cost = 2;
    c->baseline_cost = 5;
    c->synth_us = 1500;
    c->reason = rec_str_c("");
    c->mnemonic = rec_str_c("");
}

/* Fill *r with the sample of type `tag`; returns 0, or -1 for an unknown tag. */
static int fx_record(uint32_t tag, struct rec *r)
{
    fx_disasm[0] = rec_str_c("add rax, rbx");
    fx_disasm[1] = rec_str_c("add rcx, 1");
    fx_disasm[2] = rec_str_c("ret");
    fx_mem[0] = (struct x86_mem_access){ 0x7ffc0000, 0x1122334455667788ull, 8, false };
    fx_mem[1] = (struct x86_mem_access){ 0x7ffc0008, 0xff, 1, true };
    fx_mem[2] = (struct x86_mem_access){ 0x601000, 0xabcd, 2, false };
    fx_regs(&fx_samples[0].pre, 1);
    fx_samples[0].mem = (struct rec_mems){ 3, fx_mem };
    fx_samples[0].post.present = true;
    fx_regs(&fx_samples[0].post.regs, 2);
    fx_regs(&fx_samples[1].pre, 3);
    fx_samples[1].mem = (struct rec_mems){ 0, NULL };
    fx_samples[1].post.present = false;
    for (int i = 0; i < 2; i++) {
        fx_inst[i].pc = 0x401000 + 0x100 * (uint64_t)i;
        for (int k = 0; k < 16; k++) fx_inst[i].binding[k] = (uint8_t)((k + i) % 16);
        fx_inst[i].imms = (struct rec_u64s){ (uint32_t)(2 - i), fx_imms };
    }
    for (size_t i = 0; i < sizeof fx_payload; i++) fx_payload[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < 21; i++) fx_pvals[i] = 0x1000 * i + 1;
    for (size_t i = 0; i < 3; i++) {     /* little-endian packing of fx_mem */
        uint8_t *q = fx_pmems + REC_PACK_MEM_BYTES * i;
        for (int k = 0; k < 8; k++) q[k] = (uint8_t)(fx_mem[i].addr >> (8 * k));
        for (int k = 0; k < 8; k++) q[8 + k] = (uint8_t)(fx_mem[i].value >> (8 * k));
        q[16] = fx_mem[i].size;
        q[17] = fx_mem[i].is_store;
    }
    memset(r, 0, sizeof *r);
    r->type = tag;
    switch (tag) {
    case REC_TRACE_TB: {
        struct rec_trace_tb *t = &r->u.trace_tb;
        t->tb_id = 7;
        t->pc = 0xffffffff81000000ull;
        t->cpu_mode = 64;
        t->cpl = 3;
        t->code = (struct rec_bin){ fx_code, sizeof fx_code };
        t->insn_len = (struct rec_bin){ fx_lens, sizeof fx_lens };
        t->disasm = (struct rec_strs){ 3, fx_disasm };
        return 0;
    }
    case REC_TRACE_EXEC: {
        struct rec_trace_exec *t = &r->u.trace_exec;
        t->vcpu = 1;
        t->t0_us = 1000000;
        t->sent_us = 1000250;
        t->tb_ids = (struct rec_bin){ (const uint8_t *)fx_ids, sizeof fx_ids };
        t->dt_us = (struct rec_bin){ (const uint8_t *)fx_dts, sizeof fx_dts };
        return 0;
    }
    case REC_TRACE_SAMPLE: {
        struct rec_trace_sample *t = &r->u.trace_sample;
        t->tb_id = 7;
        t->pc = 0x401000;
        t->exec_seq = 99;
        fx_regs(&t->pre, 5);
        t->mem = (struct rec_mems){ 3, fx_mem };
        t->post.present = true;
        fx_regs(&t->post.regs, 6);
        t->next_pc = 0x401008;
        return 0;
    }
    case REC_TRACE_INSN: {
        struct rec_trace_insn *t = &r->u.trace_insn;
        t->ts_us = 77;
        t->pc = 0x401003;
        t->bytes = (struct rec_bin){ fx_code + 3, 4 };
        t->disasm = rec_str_c("add rcx, 1");
        fx_regs(&t->regs, 9);
        t->mem = (struct rec_mems){ 2, fx_mem };
        return 0;
    }
    case REC_TRACE_INSNS: {      /* the arrays are little-endian; so is every host we build on */
        struct rec_trace_insns *t = &r->u.trace_insns;
        t->vcpu = 2;
        t->t0_us = 5000;
        t->sent_us = 5400;
        t->runs = (struct rec_bin){ fx_runs, sizeof fx_runs };
        t->dt_us = (struct rec_bin){ (const uint8_t *)fx_pdt, sizeof fx_pdt };
        t->reg_mask = (struct rec_bin){ (const uint8_t *)fx_pmask, sizeof fx_pmask };
        t->reg_vals = (struct rec_bin){ (const uint8_t *)fx_pvals, sizeof fx_pvals };
        t->mem_n = (struct rec_bin){ (const uint8_t *)fx_pmem_n, sizeof fx_pmem_n };
        t->mems = (struct rec_bin){ fx_pmems, sizeof fx_pmems };
        return 0;
    }
    case REC_TRACE_END: {
        struct rec_trace_end *t = &r->u.trace_end;
        t->insns = 1000000000ull;
        t->blocks = 200000000;
        t->tbs = 5000;
        t->samples = 64000;
        t->dropped = 3;
        t->time_us = 12000000;
        t->reason = rec_str_c("guest exit");
        return 0;
    }
    case REC_BLOCK: {
        struct rec_block *t = &r->u.block;
        t->pc = 0x401000;
        t->cpu_mode = 64;
        t->code = (struct rec_bin){ fx_code, sizeof fx_code };
        t->ninsns = 3;
        t->exec_count = 1u << 20;
        t->class = 1;
        t->loop_depth = 2;
        t->loop_header = 0x400ff0;
        t->live_in = 0x10003;
        t->live_out = 0x1;
        t->succs = (struct rec_succs){ 2, fx_succs };
        t->samples = (struct rec_samples){ 2, fx_samples };
        return 0;
    }
    case REC_SYNTH_JOB: fx_job(&r->u.synth_job); return 0;
    case REC_CANDIDATE: fx_candidate(&r->u.candidate); return 0;
    case REC_VERDICT: {
        struct rec_verdict *t = &r->u.verdict;
        fx_candidate(&t->candidate);
        t->proof = 0;
        t->counterexample = rec_str_c("rax=1 rbx=2");
        t->tests_unicorn = 10000;
        t->tests_native = 10000;
        t->tests_failed = 0;
        t->proof_us = 250000;
        t->test_us = 90000;
        return 0;
    }
    case REC_TEST_SEQ:
        r->u.test_seq.seq = 123456;
        r->u.test_seq.payload = (struct rec_bin){ fx_payload, sizeof fx_payload };
        return 0;
    default:
        return -1;
    }
}

#endif /* TCGL_RECORDS_FIXTURE_H */
