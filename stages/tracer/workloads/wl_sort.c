/* wl_sort — sorting: an in-place quicksort (median of three, insertion
 * sort below 16 elements) of pseudo-random 32-bit integers, checked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void insertion_sort(uint32_t *a, long n)
{
    for (long i = 1; i < n; i++) {
        uint32_t v = a[i];
        long j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}

static void quick_sort(uint32_t *a, long n)
{
    while (n > 16) {
        uint32_t x = a[0], y = a[n / 2], z = a[n - 1];
        uint32_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        long i = 0, j = n - 1;
        for (;;) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i >= j) break;
            uint32_t t = a[i]; a[i] = a[j]; a[j] = t;
            i++; j--;
        }
        quick_sort(a, j + 1);
        a += j + 1; n -= j + 1;
    }
    insertion_sort(a, n);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 0) : 20000;
    if (n < 1) n = 1;
    uint32_t *a = malloc((size_t)n * sizeof *a);
    if (!a) return 1;
    uint64_t s = 88172645463325252ULL;
    for (long i = 0; i < n; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; a[i] = (uint32_t)s; }
    quick_sort(a, n);
    long bad = 0;
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) { sum += a[i] * (uint64_t)(i + 1); bad += i && a[i - 1] > a[i]; }
    printf("wl_sort: n=%ld unsorted_pairs=%ld weighted_sum=%llu\n", n, bad, (unsigned long long)sum);
    free(a);
    return bad != 0;
}
