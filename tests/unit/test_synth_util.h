/* test_synth_util.h — helpers shared by the synth tests: random instances
 * of a supported form (the shared generator, common/x86_rand_insn.h, with
 * the symbolic policy: every register, rip-relative operands near the
 * code), hex parsing. */
#ifndef TCGL_TEST_SYNTH_UTIL_H
#define TCGL_TEST_SYNTH_UTIL_H

#include <stdio.h>
#include <string.h>

#include "x86_decode.h"
#include "x86_forms.h"
#include "x86_rand_insn.h"

static inline uint64_t tsu_next(uint64_t *s) { return x86_rand_next(s); }
static inline unsigned tsu_below(uint64_t *s, unsigned n) { return x86_rand_below(s, n); }

/* Appends one random instance of form fi to code (at *len); false when none found. */
static inline bool tsu_encode_form(unsigned fi, uint64_t *s, uint8_t *code, size_t *len)
{
    size_t n;
    if (!x86_rand_instance(fi, &x86_rand_symbolic, s, 0, code + *len, &n, NULL))
        return false;
    *len += n;
    return true;
}

static inline size_t tsu_hex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') { p++; continue; }
        unsigned v;
        if (sscanf(p, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

#endif
