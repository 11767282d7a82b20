/* array.h — growing a heap array by doubling, shared by the stages that keep
 * tables of blocks, edges and templates. */
#ifndef TCGL_ARRAY_H
#define TCGL_ARRAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Makes *arr (of *cap elements of `elem` bytes) hold at least `need`
 * elements: capacity doubles from 16, new elements are zeroed.  Returns false
 * (and leaves *arr and *cap as they were) when memory runs out or the
 * capacity would overflow. */
static inline bool array_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint64_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX || ncap > SIZE_MAX / elem)
        return false;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return false;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *arr = p;
    *cap = (uint32_t)ncap;
    return true;
}

#endif /* TCGL_ARRAY_H */
