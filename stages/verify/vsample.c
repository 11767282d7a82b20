/* vsample.c — input states from tracer samples (see vsample.h). */
#include "vsample.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096ull
#define MAX_PAGES 64u   /* distinct pages of one sample we accept */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool add_page(uint64_t *pages, unsigned *n, uint64_t p)
{
    for (unsigned i = 0; i < *n; i++)
        if (pages[i] == p) return true;
    if (*n >= MAX_PAGES) return false;
    pages[(*n)++] = p;
    return true;
}

static uint8_t *byte_at(struct x86_mem *m, uint64_t a)
{
    for (uint32_t k = 0; k < m->nregions; k++)
        if (a >= m->region[k].base && a - m->region[k].base < m->region[k].size)
            return &m->region[k].data[a - m->region[k].base];
    return NULL;
}

int vsample_build(const struct x86_regs *pre, const struct x86_mem_access *acc, size_t nacc,
                  size_t code_len, struct vsample_state *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->regs = *pre;
    out->regs.rflags = (pre->rflags & (X86_RFLAGS_STATUS_MASK | (1u << X86_RFLAGS_DF))) | 2u;
    uint64_t pages[MAX_PAGES];
    unsigned np = 0;
    for (size_t i = 0; i < nacc; i++) {
        unsigned sz = acc[i].size ? acc[i].size : 1;
        uint64_t first = acc[i].addr & ~(PAGE - 1), last = (acc[i].addr + sz - 1) & ~(PAGE - 1);
        if (last < first) {
            snprintf(why, whylen, "access %zu at 0x%llx wraps around the address space", i,
                     (unsigned long long)acc[i].addr);
            return -1;
        }
        for (uint64_t p = first;; p += PAGE) {
            if (!add_page(pages, &np, p)) {
                snprintf(why, whylen, "more than %u distinct pages accessed", MAX_PAGES);
                return -1;
            }
            if (p == last) break;
        }
    }
    qsort(pages, np, sizeof pages[0], cmp_u64);
    /* Merge adjacent pages into regions. */
    uint64_t base[X86_MEM_MAX_REGIONS], size[X86_MEM_MAX_REGIONS];
    unsigned nr = 0;
    for (unsigned i = 0; i < np; i++) {
        if (nr && base[nr - 1] + size[nr - 1] == pages[i]) {
            size[nr - 1] += PAGE;
        } else {
            if (nr == X86_MEM_MAX_REGIONS) {
                snprintf(why, whylen, "accesses need more than %d memory regions", X86_MEM_MAX_REGIONS);
                return -1;
            }
            base[nr] = pages[i];
            size[nr++] = PAGE;
        }
        if (size[nr - 1] > X86_MEM_MAX_REGION_SIZE) {
            snprintf(why, whylen, "a region of more than %u bytes", X86_MEM_MAX_REGION_SIZE);
            return -1;
        }
    }
    uint64_t code_first = pre->rip & ~(PAGE - 1);
    uint64_t code_end = ((pre->rip + (code_len ? code_len : 1) - 1) & ~(PAGE - 1)) + PAGE;
    size_t total = 0;
    for (unsigned k = 0; k < nr; k++) {
        if (base[k] < code_end && code_first < base[k] + size[k]) {
            snprintf(why, whylen, "data at 0x%llx shares a page with the code at 0x%llx",
                     (unsigned long long)base[k], (unsigned long long)pre->rip);
            return -1;
        }
        total += size[k];
    }
    if (total) {
        out->bytes = calloc(1, total);
        if (!out->bytes) {
            snprintf(why, whylen, "out of memory (%zu bytes)", total);
            return -1;
        }
    }
    size_t off = 0;
    out->mem.nregions = nr;
    for (unsigned k = 0; k < nr; k++) {
        out->mem.region[k] = (struct x86_mem_region){ .base = base[k], .size = (uint32_t)size[k],
                                                      .data = out->bytes + off };
        off += size[k];
    }
    /* Input bytes: the value of a byte's first access when it is a load.
     * `seen` marks bytes already touched, in a shadow of the same layout. */
    uint8_t *seen = total ? calloc(1, total) : NULL;
    if (total && !seen) {
        vsample_free(out);
        snprintf(why, whylen, "out of memory (%zu bytes)", total);
        return -1;
    }
    for (size_t i = 0; i < nacc; i++) {
        unsigned sz = acc[i].size > 8 ? 8 : acc[i].size;
        for (unsigned b = 0; b < sz; b++) {
            uint64_t a = acc[i].addr + b;
            uint8_t *p = byte_at(&out->mem, a);
            if (!p) continue;
            size_t idx = (size_t)(p - out->bytes);
            if (seen[idx]) continue;
            seen[idx] = 1;
            if (!acc[i].is_store) *p = (uint8_t)(acc[i].value >> (8 * b));
        }
    }
    free(seen);
    return 0;
}

void vsample_free(struct vsample_state *s)
{
    free(s->bytes);
    s->bytes = NULL;
    s->mem.nregions = 0;
}
