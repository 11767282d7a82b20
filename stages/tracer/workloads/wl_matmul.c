/* wl_matmul — integer matrix multiply (32-bit wrap-around arithmetic),
 * C = A x B, repeated, with a checksum of C. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 48;
    int reps = argc > 2 ? atoi(argv[2]) : 2;
    if (n < 1 || n > 512) n = 48;
    int32_t *a = malloc(sizeof(int32_t) * n * n), *b = malloc(sizeof(int32_t) * n * n),
            *c = malloc(sizeof(int32_t) * n * n);
    if (!a || !b || !c) return 1;
    for (int i = 0; i < n * n; i++) { a[i] = (i * 7 + 3) % 101 - 50; b[i] = (i * 13 + 5) % 97 - 48; }
    uint32_t check = 0;
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int32_t acc = 0;
                for (int k = 0; k < n; k++) acc += a[i * n + k] * b[k * n + j];
                c[i * n + j] = acc;
            }
        for (int i = 0; i < n * n; i++) check = check * 31u + (uint32_t)c[i];
        a[r % (n * n)] ^= 1;
    }
    printf("wl_matmul: n=%d reps=%d check=%08x\n", n, reps, check);
    free(a); free(b); free(c);
    return 0;
}
