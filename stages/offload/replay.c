/* replay.c — see replay.h. */
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pixel_interp.h"
#include "pixel_state.h"
#include "../verify/vsample.h"

static const char *const gpr_name[X86_NGPR] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

/* Reads `size` bytes at guest address a from m (little-endian); false when
 * outside every region. */
static bool mem_read(const struct x86_mem *m, uint64_t a, unsigned size, uint64_t *v)
{
    for (uint32_t j = 0; j < m->nregions; j++) {
        const struct x86_mem_region *r = &m->region[j];
        if (a >= r->base && a - r->base + size <= r->size) {
            uint64_t x = 0;
            for (unsigned k = 0; k < size; k++)
                x |= (uint64_t)r->data[a - r->base + k] << (8 * k);
            *v = x;
            return true;
        }
    }
    return false;
}

static bool overlaps(const struct x86_mem_access *a, const struct x86_mem_access *b)
{
    return a->addr < b->addr + b->size && b->addr < a->addr + a->size;
}

enum replay_outcome replay_sample(const struct pixel_insn *ops, size_t n, x86_locset live_in,
                                  x86_locset live_out, size_t code_len,
                                  const struct rec_sample *s, char *why, size_t whylen)
{
    why[0] = '\0';
    if (live_in & X86_LOC_ALL_FLAGS) {
        /* The recorded status flags are not the guest's (see replay.h), so
         * a block whose results depend on them cannot be replayed. */
        snprintf(why, whylen, "block reads status flags, which the trace does not record");
        return REPLAY_SKIPPED;
    }
    struct vsample_state vs;
    char err[200];
    if (vsample_build(&s->pre, s->mem.v, s->mem.n, code_len, &vs, err, sizeof err) < 0) {
        snprintf(why, whylen, "memory not rebuildable: %s", err);
        return REPLAY_SKIPPED;
    }
    if (!s->post.present) {
        /* cluster leaves post out when the block is only part of the
         * sampled TB: then the recorded accesses (and the state after) may
         * belong to the instructions after the block too */
        vsample_free(&vs);
        snprintf(why, whylen, "no post state (the sample may span more than this block)");
        return REPLAY_SKIPPED;
    }

    struct pixel_state ps;
    pixel_state_from_x86(&vs.regs, &vs.mem, &ps);
    struct pixel_result res;
    enum pixel_fault f = pixel_run(ops, n, &ps, 0, &res);
    enum replay_outcome out = REPLAY_AGREE;
    if (f != PIXEL_FAULT_NONE) {
        snprintf(why, whylen, "microcode fault %s at op %u (address 0x%" PRIx64 ")",
                 pixel_fault_name(f), res.pc, res.fault_addr);
        out = REPLAY_DISAGREE;
        goto done;
    }
    struct x86_regs got = vs.regs;
    pixel_state_to_x86(&ps, &got);

    if (s->post.present) {
        const struct x86_regs *want = &s->post.regs;
        for (unsigned r = 0; r < X86_NGPR && out == REPLAY_AGREE; r++)
            if ((live_out & X86_LOC_GPR(r)) && got.gpr[r] != want->gpr[r]) {
                snprintf(why, whylen, "%s: microcode 0x%" PRIx64 ", recorded 0x%" PRIx64,
                         gpr_name[r], got.gpr[r], want->gpr[r]);
                out = REPLAY_DISAGREE;
            }
        /* Status flags are not compared: the recorded ones are not the
         * guest's (replay.h).  verify compares them against both x86 oracles. */
        if (out == REPLAY_AGREE && (live_out & X86_LOC_RIP) && got.rip != want->rip) {
            snprintf(why, whylen, "next rip: microcode 0x%" PRIx64 ", recorded 0x%" PRIx64,
                     got.rip, want->rip);
            out = REPLAY_DISAGREE;
        }
    }
    /* Stores: the last store to each byte decides its final value. */
    for (uint32_t i = 0; i < s->mem.n && out == REPLAY_AGREE; i++) {
        const struct x86_mem_access *a = &s->mem.v[i];
        if (!a->is_store || a->size > 8) continue;
        bool later = false;
        for (uint32_t k = i + 1; k < s->mem.n && !later; k++)
            later = s->mem.v[k].is_store && overlaps(a, &s->mem.v[k]);
        if (later) continue;
        uint64_t v, mask = a->size >= 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * a->size)) - 1);
        if (!mem_read(&vs.mem, a->addr, a->size, &v)) {
            snprintf(why, whylen, "store of %u bytes at 0x%" PRIx64 " outside the rebuilt memory",
                     a->size, a->addr);
            out = REPLAY_SKIPPED;
        } else if (v != (a->value & mask)) {
            snprintf(why, whylen, "memory at 0x%" PRIx64 " (%u bytes): microcode 0x%" PRIx64
                     ", recorded store 0x%" PRIx64, a->addr, a->size, v, a->value & mask);
            out = REPLAY_DISAGREE;
        }
    }
done:
    vsample_free(&vs);
    return out;
}
