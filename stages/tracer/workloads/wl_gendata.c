/* wl_gendata — deterministic input for the busybox workloads: prints N
 * lines of pseudo-random text ("<number> <word> <word>") from a fixed seed,
 * so that gzip/sort/sha256sum/md5sum see the same data on every run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 0) : 5000;
    uint64_t s = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9e3779b97f4a7c15ULL;
    for (long i = 0; i < n; i++) {
        char w[2][12];
        for (int k = 0; k < 2; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            int len = 3 + (int)(s % 8);
            for (int j = 0; j < len; j++) w[k][j] = (char)('a' + (s >> (8 + 3 * j)) % 26);
            w[k][len] = 0;
        }
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        printf("%llu %s %s\n", (unsigned long long)(s % 1000000), w[0], w[1]);
    }
    return 0;
}
