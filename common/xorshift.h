/* xorshift.h — the tree's one small pseudo-random generator: xorshift64
 * (Marsaglia's 13/7/17), for reproducible test data, benchmark inputs and
 * cfg's sampling.  Deterministic by design; never for anything that must be
 * unpredictable. */
#ifndef TCGL_XORSHIFT_H
#define TCGL_XORSHIFT_H

#include <stdint.h>

#define XORSHIFT64_SEED UINT64_C(0x9e3779b97f4a7c15)   /* any non-zero state works */

/* The next value; *state must not be 0. */
static inline uint64_t xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif /* TCGL_XORSHIFT_H */
