/* tl_insns.c — building and expanding TRACE_INSNS records (tl_insns.h). */
#include "tl_insns.h"

#include <stdio.h>
#include <stdlib.h>

int tl_pack_init(struct tl_pack *p)
{
    memset(p, 0, sizeof *p);
    p->runs = malloc(8u * REC_MAX_PACK_INSNS);
    p->dt = malloc(4u * REC_MAX_PACK_INSNS);
    p->mask = malloc(4u * REC_MAX_PACK_INSNS);
    p->mem_n = malloc(2u * REC_MAX_PACK_INSNS);
    p->vals = malloc(8u * 19u * REC_MAX_PACK_INSNS);
    p->mems = malloc((size_t)REC_PACK_MEM_BYTES * REC_MAX_PACK_MEMS);
    if (!p->runs || !p->dt || !p->mask || !p->mem_n || !p->vals || !p->mems) {
        tl_pack_free(p);
        return -1;
    }
    return 0;
}

void tl_pack_free(struct tl_pack *p)
{
    free(p->runs);
    free(p->dt);
    free(p->mask);
    free(p->mem_n);
    free(p->vals);
    free(p->mems);
    memset(p, 0, sizeof *p);
}

void tl_pack_record(const struct tl_pack *p, uint16_t vcpu, struct rec_trace_insns *out)
{
    *out = (struct rec_trace_insns){
        .vcpu = vcpu,
        .t0_us = p->t0_us,
        .runs = { p->runs, 8u * p->nruns },
        .dt_us = { (const uint8_t *)p->dt, 4u * p->n },
        .reg_mask = { (const uint8_t *)p->mask, 4u * p->n },
        .reg_vals = { (const uint8_t *)p->vals, 8u * p->nvals },
        .mem_n = { (const uint8_t *)p->mem_n, 2u * p->n },
        .mems = { p->mems, REC_PACK_MEM_BYTES * p->nmems },
    };
}

struct tl_insn_tb *tl_insn_tb_new(const struct rec_trace_tb *t)
{
    uint32_t n = t->insn_len.len;
    size_t strs = 0;
    for (uint32_t i = 0; i < n && i < t->disasm.n; i++) strs += t->disasm.v[i].len + 1u;
    size_t size = sizeof(struct tl_insn_tb) + n * sizeof(struct rec_str) + (n + 1u) * sizeof(uint16_t) +
                  t->code.len + strs + n;
    struct tl_insn_tb *tb = malloc(size);
    if (!tb) return NULL;
    struct rec_str *dis = (struct rec_str *)(tb + 1);
    uint16_t *off = (uint16_t *)(dis + n);
    uint8_t *code = (uint8_t *)(off + n + 1);
    char *s = (char *)(code + t->code.len);
    tb->pc = t->pc;
    tb->ninsns = n;
    tb->off = off;
    tb->code = code;
    tb->disasm = dis;
    if (t->code.len) memcpy(code, t->code.ptr, t->code.len);
    off[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        off[i + 1] = (uint16_t)(off[i] + t->insn_len.ptr[i]);
        uint32_t len = i < t->disasm.n ? t->disasm.v[i].len : 0;   /* a valid TRACE_TB has one per instruction */
        if (len) memcpy(s, t->disasm.v[i].ptr, len);
        s[len] = '\0';
        dis[i] = (struct rec_str){ s, len };
        s += len + 1;
    }
    return tb;
}

long tl_insns_expand(const struct rec_trace_insns *r, tl_tb_lookup_fn lookup, void *lookup_ctx,
                     tl_insn_view_fn fn, void *fn_ctx, char *err, size_t errlen)
{
    struct x86_mem_access mem[REC_MAX_MEMS];
    struct rec_trace_insn v;
    memset(&v, 0, sizeof v);
    uint64_t *w = (uint64_t *)&v.regs;
    const uint8_t *vals = r->reg_vals.ptr, *mems = r->mems.ptr;
    uint32_t i = 0, nruns = r->runs.len / 8;
    for (uint32_t k = 0; k < nruns; k++) {
        uint32_t tb_id;
        uint16_t first, cnt;
        memcpy(&tb_id, r->runs.ptr + 8u * k, 4);
        memcpy(&first, r->runs.ptr + 8u * k + 4, 2);
        memcpy(&cnt, r->runs.ptr + 8u * k + 6, 2);
        const struct tl_insn_tb *tb = lookup(lookup_ctx, tb_id);
        if (!tb || (uint32_t)first + cnt > tb->ninsns) {
            if (err) {
                if (!tb) snprintf(err, errlen, "TRACE_INSNS run %u: TB %u is unknown (no TRACE_TB before it)", k, tb_id);
                else snprintf(err, errlen, "TRACE_INSNS run %u: instructions %u..%u of TB %u, which has %u", k, first,
                              first + cnt - 1u, tb_id, tb->ninsns);
            }
            return -1;
        }
        for (uint32_t j = first; j < (uint32_t)first + cnt; j++, i++) {
            uint32_t dt, m;
            uint16_t nm;
            memcpy(&dt, r->dt_us.ptr + 4u * i, 4);
            memcpy(&m, r->reg_mask.ptr + 4u * i, 4);
            memcpy(&nm, r->mem_n.ptr + 2u * i, 2);
            for (; m; m &= m - 1) {
                memcpy(&w[__builtin_ctz(m)], vals, 8);
                vals += 8;
            }
            for (uint32_t a = 0; a < nm; a++, mems += REC_PACK_MEM_BYTES) {
                memcpy(&mem[a].addr, mems, 8);
                memcpy(&mem[a].value, mems + 8, 8);
                mem[a].size = mems[16];
                mem[a].is_store = mems[17] != 0;
            }
            v.ts_us = r->t0_us + dt;
            v.pc = tb->pc + tb->off[j];
            v.bytes = (struct rec_bin){ tb->code + tb->off[j], (uint32_t)(tb->off[j + 1] - tb->off[j]) };
            v.disasm = tb->disasm[j];
            v.regs.rip = v.pc;
            v.mem = (struct rec_mems){ nm, mem };
            fn(&v, fn_ctx);
        }
    }
    return (long)i;
}
