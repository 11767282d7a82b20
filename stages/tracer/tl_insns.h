/* tl_insns.h — instruction mode's compact record, TRACE_INSNS
 * (common/records.h): building it on the producer side (trace_logger.so,
 * one batch per vCPU) and expanding it into the literal TRACE_INSN views
 * on the consumer side (trace_reader, tests).  No QEMU dependency.
 *
 * Why: a literal TRACE_INSN repeats the instruction's static facts (pc,
 * bytes, disassembly) and all 20 register words; encoding it per
 * instruction and decoding it (msgpack arrays, ~170 ns) limited instruction
 * mode.  A TRACE_INSNS carries, per instruction, only its timestamp offset,
 * the register words that changed since the previous instruction of the
 * record (the first carries all of them, so every record stands alone), and
 * its memory accesses; pc, bytes and disassembly come from the TRACE_TB of
 * each run's tb_id, which the stream delivers before any execution of it.
 * Every array is a bin (zero-copy to decode).
 *
 * The packed arrays are little-endian and written/read with memcpy: this
 * code runs on x86-64 hosts only (QEMU's plugin API is host-endian too).
 */
#ifndef TCGL_TL_INSNS_H
#define TCGL_TL_INSNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "records.h"
#include "x86_state.h"

/* ---- building (producer) -------------------------------------------------------- */

/* Encoded bytes one instruction may add at most: a run, dt, mask, mem_n,
 * 19 register words and REC_MAX_MEMS accesses. */
#define TL_PACK_INSN_MAX (8u + 4u + 4u + 2u + 19u * 8u + REC_MAX_MEMS * REC_PACK_MEM_BYTES)

struct tl_pack {                  /* one vCPU's TRACE_INSNS being built */
    uint32_t n, nruns, nvals, nmems;
    uint64_t t0_us;
    uint8_t *runs;                /* 8 B per run: u32 tb_id, u16 first, u16 count */
    uint32_t *dt, *mask;
    uint16_t *mem_n;
    uint64_t *vals;
    uint8_t *mems;                /* REC_PACK_MEM_BYTES per access */
    uint64_t last[REC_NREGS];     /* the words as of the last instruction added */
    uint64_t mem_dropped;         /* accesses beyond REC_MAX_MEMS per instruction, or with no instruction */
};

/* 0, or -1 when out of memory. */
int tl_pack_init(struct tl_pack *p);
void tl_pack_free(struct tl_pack *p);

/* Start a new record (keeps the memory and mem_dropped). */
static inline void tl_pack_reset(struct tl_pack *p)
{
    p->n = p->nruns = p->nvals = p->nmems = 0;
}

/* Encoded size so far (an upper bound, msgpack headers included). */
static inline size_t tl_pack_bytes(const struct tl_pack *p)
{
    return 64u + 8u * p->nruns + 10u * p->n + 8u * p->nvals + REC_PACK_MEM_BYTES * p->nmems;
}

/* Whether one more instruction (with up to REC_MAX_MEMS accesses) fits in
 * a record of at most max_bytes: send the record first when not. */
static inline bool tl_pack_room(const struct tl_pack *p, size_t max_bytes)
{
    return p->n < REC_MAX_PACK_INSNS && p->nmems + REC_MAX_MEMS <= REC_MAX_PACK_MEMS &&
           tl_pack_bytes(p) + TL_PACK_INSN_MAX <= max_bytes;
}

/* Append an instruction (the caller checked tl_pack_room).  It is
 * instruction `idx` of TB `tb_id`; new_run: it does not directly follow the
 * previous instruction added within one execution of that TB.  `regs` is the
 * state before it; `maybe` the words that may differ from the previous
 * instruction's state (the others are known equal, so they are not even
 * compared); the first instruction of a record carries every word but rip.
 * ts_us must not be below the record's first. */
static inline void tl_pack_add(struct tl_pack *p, uint32_t tb_id, uint16_t idx, bool new_run, uint64_t ts_us,
                               const struct x86_regs *regs, uint32_t maybe)
{
    const uint64_t *w = (const uint64_t *)regs;
    uint32_t i = p->n, m = 0;
    if (i == 0) {
        p->t0_us = ts_us;
        new_run = true;
        m = REC_PACK_ALL_REGS;
        for (uint32_t k = 0; k < REC_NREGS; k++)
            if (k != 16) p->vals[p->nvals++] = p->last[k] = w[k];
    } else {
        for (uint32_t b = maybe & REC_PACK_ALL_REGS; b; b &= b - 1) {
            uint32_t k = (uint32_t)__builtin_ctz(b);
            if (w[k] != p->last[k]) {
                m |= 1u << k;
                p->last[k] = w[k];
            }
        }
        /* values in word order: the bits of m ascending */
        for (uint32_t b = m; b; b &= b - 1) p->vals[p->nvals++] = w[__builtin_ctz(b)];
    }
    if (new_run) {
        uint8_t *r = p->runs + 8u * p->nruns++;
        uint16_t one = 1;
        memcpy(r, &tb_id, 4);
        memcpy(r + 4, &idx, 2);
        memcpy(r + 6, &one, 2);
    } else {
        uint8_t *c = p->runs + 8u * (p->nruns - 1) + 6;
        uint16_t cnt;
        memcpy(&cnt, c, 2);
        cnt++;
        memcpy(c, &cnt, 2);
    }
    p->dt[i] = (uint32_t)(ts_us - p->t0_us);
    p->mask[i] = m;
    p->mem_n[i] = 0;
    p->n = i + 1;
}

/* A memory access of the last instruction added. */
static inline void tl_pack_mem(struct tl_pack *p, uint64_t addr, uint64_t value, uint8_t size, bool is_store)
{
    if (p->n == 0 || p->mem_n[p->n - 1] >= REC_MAX_MEMS) {
        p->mem_dropped++;
        return;
    }
    uint8_t *a = p->mems + REC_PACK_MEM_BYTES * p->nmems++;
    memcpy(a, &addr, 8);
    memcpy(a + 8, &value, 8);
    a[16] = size;
    a[17] = is_store;
    p->mem_n[p->n - 1]++;
}

/* The record view of the batch (pointers into p; valid until p changes). */
void tl_pack_record(const struct tl_pack *p, uint16_t vcpu, struct rec_trace_insns *out);

/* ---- expanding (consumer) --------------------------------------------------------- */

/* What expansion needs of a TRACE_TB: one allocation (free() it). */
struct tl_insn_tb {
    uint64_t pc;
    uint32_t ninsns;
    const uint16_t *off;          /* ninsns + 1 offsets into code */
    const uint8_t *code;
    const struct rec_str *disasm; /* ninsns, NUL-terminated */
};
/* A copy of what t says (NULL when out of memory). */
struct tl_insn_tb *tl_insn_tb_new(const struct rec_trace_tb *t);

typedef const struct tl_insn_tb *(*tl_tb_lookup_fn)(void *ctx, uint32_t tb_id);
typedef void (*tl_insn_view_fn)(const struct rec_trace_insn *i, void *ctx);

/* Call `fn` once per instruction of r, in order, with exactly the
 * TRACE_INSN the literal format would carry (ts_us, pc, bytes, disasm, all
 * 20 register words with rip = pc, memory accesses); the view is valid
 * during the call.  r must have passed rec_decode/rec_encode's checks.
 * Returns the number of instructions delivered, or -1 with a message in err
 * (a run names a TB that `lookup` does not know, or reaches past its last
 * instruction): the instructions before that run were delivered. */
long tl_insns_expand(const struct rec_trace_insns *r, tl_tb_lookup_fn lookup, void *lookup_ctx,
                     tl_insn_view_fn fn, void *fn_ctx, char *err, size_t errlen);

#endif /* TCGL_TL_INSNS_H */
