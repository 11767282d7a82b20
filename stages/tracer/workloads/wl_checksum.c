/* wl_checksum — integer checksum and hash loops (Adler-32, FNV-1a, a
 * CRC-32 computed bit by bit) over a deterministic pseudo-random buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return *s = x;
}

static uint32_t adler32(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) { a = (a + p[i]) % 65521u; b = (b + a) % 65521u; }
    return (b << 16) | a;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }
    return h;
}

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 65536;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return 1;
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)xorshift32(&s);
    printf("wl_checksum: n=%zu adler32=%08x fnv1a=%016llx crc32=%08x\n", n, adler32(buf, n),
           (unsigned long long)fnv1a(buf, n), crc32_bitwise(buf, n));
    free(buf);
    return 0;
}
