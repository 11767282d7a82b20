/* pcmap.c — see pcmap.h. */
#include "pcmap.h"

#include <stdlib.h>

static size_t pcmap_hash(uint64_t pc, uint32_t tag)
{
    /* splitmix64 finaliser: code addresses differ in low bits, spread them. */
    uint64_t x = pc ^ ((uint64_t)tag << 40);
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (size_t)x;
}

bool pcmap_init(struct pcmap *m, size_t initial_cap)
{
    size_t cap = 64;
    while (cap < initial_cap * 2) cap <<= 1;
    m->slot = calloc(cap, sizeof *m->slot);
    m->cap = m->slot ? cap : 0;
    m->count = 0;
    return m->slot != NULL;
}

void pcmap_free(struct pcmap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = m->count = 0;
}

bool pcmap_get(const struct pcmap *m, uint64_t pc, uint32_t tag, uint32_t *value)
{
    if (!m->cap) return false;
    size_t mask = m->cap - 1;
    for (size_t i = pcmap_hash(pc, tag) & mask;; i = (i + 1) & mask) {
        const struct pcmap_slot *s = &m->slot[i];
        if (!s->tag) return false;
        if (s->pc == pc && s->tag == tag) {
            *value = s->value;
            return true;
        }
    }
}

static void pcmap_insert_nogrow(struct pcmap *m, uint64_t pc, uint32_t tag, uint32_t value)
{
    size_t mask = m->cap - 1;
    for (size_t i = pcmap_hash(pc, tag) & mask;; i = (i + 1) & mask) {
        struct pcmap_slot *s = &m->slot[i];
        if (!s->tag) {
            s->pc = pc; s->tag = tag; s->value = value;
            m->count++;
            return;
        }
        if (s->pc == pc && s->tag == tag) {
            s->value = value;
            return;
        }
    }
}

bool pcmap_put(struct pcmap *m, uint64_t pc, uint32_t tag, uint32_t value)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        struct pcmap_slot *old = m->slot;
        size_t ocap = m->cap;
        m->slot = calloc(ncap, sizeof *m->slot);
        if (!m->slot) { m->slot = old; return false; }
        m->cap = ncap;
        m->count = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].tag) pcmap_insert_nogrow(m, old[i].pc, old[i].tag, old[i].value);
        free(old);
    }
    pcmap_insert_nogrow(m, pc, tag, value);
    return true;
}
