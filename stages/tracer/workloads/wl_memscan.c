/* wl_memscan — memory copy and scan: copies blocks around a buffer with a
 * hand-written word loop and memcpy, then scans for bytes and counts
 * matches (the access patterns of a copy-heavy program). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_words(uint64_t *dst, const uint64_t *src, size_t nwords)
{
    for (size_t i = 0; i < nwords; i++) dst[i] = src[i];
}

static size_t count_byte(const uint8_t *p, size_t n, uint8_t b)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += p[i] == b;
    return c;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 65536;
    n &= ~(size_t)7;
    if (n < 64) n = 64;
    uint8_t *a = malloc(n), *b = malloc(n);
    if (!a || !b) return 1;
    for (size_t i = 0; i < n; i++) a[i] = (uint8_t)(i * 131u + (i >> 7));
    uint64_t acc = 0;
    for (int round = 0; round < 4; round++) {
        copy_words((uint64_t *)b, (const uint64_t *)a, n / 8);
        memcpy(a + n / 2, b, n / 2);
        acc += count_byte(a, n, (uint8_t)(round * 37));
        const uint8_t *hit = memchr(b, 0xff, n);
        acc += hit ? (size_t)(hit - b) : 0;
    }
    printf("wl_memscan: n=%zu acc=%llu\n", n, (unsigned long long)acc);
    free(a); free(b);
    return 0;
}
