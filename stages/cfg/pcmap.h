/* pcmap.h — open-addressing hash map from a guest code address and a tag
 * (cfg: cpu mode and code space; cluster: any non-zero tag) to a 32-bit index.
 *
 * cfg looks up every executed translation block and every block start by pc,
 * at the tracer's full rate, so the map is flat (no per-entry allocation),
 * linear-probing, and grows by doubling at 50 % load.  Entries are never
 * removed (blocks only split, they never disappear).
 */
#ifndef TCGL_CFG_PCMAP_H
#define TCGL_CFG_PCMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pcmap_slot {
    uint64_t pc;
    uint32_t value;
    uint32_t tag;       /* 0 = empty slot; keys always have a non-zero tag */
};

struct pcmap {
    struct pcmap_slot *slot;
    size_t cap;         /* power of two */
    size_t count;
};

bool pcmap_init(struct pcmap *m, size_t initial_cap);
void pcmap_free(struct pcmap *m);
/* Returns true and sets *value when (pc, tag) is present. tag must be non-zero. */
bool pcmap_get(const struct pcmap *m, uint64_t pc, uint32_t tag, uint32_t *value);
/* Inserts or overwrites.  Returns false only when memory runs out. */
bool pcmap_put(struct pcmap *m, uint64_t pc, uint32_t tag, uint32_t value);

#endif
