/* oracle_compare.c — agreement of two executions (oracle_compare.h). */
#include "oracle_compare.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

static const char *const gpr_name[X86_NGPR] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};
static const char *const flag_name[X86_NFLAG] = { "CF", "PF", "AF", "ZF", "SF", "OF" };

__attribute__((format(printf, 3, 4)))
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

bool oracle_exec_agree(x86_locset live, const struct oracle_exec *a, const struct oracle_exec *b,
                       char *why, size_t whylen)
{
    if (a->res->kind != b->res->kind) {
        say(why, whylen, "kind: %s vs %s", oracle_kind_name(a->res->kind), oracle_kind_name(b->res->kind));
        return false;
    }
    if (a->res->kind != ORACLE_OK)
        return true;   /* both faulted the same way; outputs at a fault are not compared */
    for (int r = 0; r < X86_NGPR; r++)
        if ((live & X86_LOC_GPR(r)) && a->regs->gpr[r] != b->regs->gpr[r]) {
            say(why, whylen, "%s: %#" PRIx64 " vs %#" PRIx64, gpr_name[r], a->regs->gpr[r], b->regs->gpr[r]);
            return false;
        }
    for (int f = 0; f < X86_NFLAG; f++) {
        unsigned bit = x86_flag_rflags_bit((enum x86_flag)f);
        uint64_t fa = (a->regs->rflags >> bit) & 1, fb = (b->regs->rflags >> bit) & 1;
        if ((live & X86_LOC_FLAG(f)) && fa != fb) {
            say(why, whylen, "%s: %" PRIu64 " vs %" PRIu64, flag_name[f], fa, fb);
            return false;
        }
    }
    if ((live & X86_LOC_RIP) && a->regs->rip != b->regs->rip) {
        say(why, whylen, "next rip: %#" PRIx64 " vs %#" PRIx64, a->regs->rip, b->regs->rip);
        return false;
    }
    if ((live & X86_LOC_MEM) && a->mem && b->mem) {
        if (a->mem->nregions != b->mem->nregions) {
            say(why, whylen, "memory: %u vs %u regions", a->mem->nregions, b->mem->nregions);
            return false;
        }
        for (unsigned k = 0; k < a->mem->nregions; k++) {
            const struct x86_mem_region *ra = &a->mem->region[k], *rb = &b->mem->region[k];
            if (ra->base != rb->base || ra->size != rb->size) {
                say(why, whylen, "memory: region %u at %#" PRIx64 " (%u bytes) vs %#" PRIx64 " (%u bytes)", k, ra->base, ra->size, rb->base, rb->size);
                return false;
            }
            for (uint32_t i = 0; i < ra->size; i++)
                if (ra->data[i] != rb->data[i]) {
                    say(why, whylen, "memory at %#" PRIx64 ": 0x%02x vs 0x%02x",
                        ra->base + i, ra->data[i], rb->data[i]);
                    return false;
                }
        }
    }
    return true;
}

const char *oracle_format_regs(const struct x86_regs *r, char *buf, size_t len)
{
    size_t used = 0;
    if (!len)
        return buf;
    buf[0] = 0;
    for (int g = 0; g < X86_NGPR && used < len; g++) {
        int n = snprintf(buf + used, len - used, "%s=%#" PRIx64 " ", gpr_name[g], r->gpr[g]);
        if (n < 0)
            return buf;
        used += (size_t)n;
    }
    if (used < len)
        snprintf(buf + used, len - used, "rip=%#" PRIx64 " rflags=%#" PRIx64, r->rip, r->rflags);
    return buf;
}
