/* wl_loop — the tracer's ground-truth workload.
 *
 * Its hot loop (label wl_loop_head, exported so tests find its address with
 * nm) runs exactly WL_LOOP_COUNT times.  At the entry of iteration s
 * (s = 0 .. WL_LOOP_COUNT-1):
 *   rcx = WL_LOOP_COUNT - s        (the counter, counts down)
 *   rbx = WL_LOOP_MAGIC            (identifies the loop's state)
 *   rdi = &wl_loop_cell            (one 8-byte memory cell)
 * and the body stores rcx to [rdi] (8 bytes), loads [rdi] back (8 bytes,
 * value rcx) and adds it to rdx.  The loop is entered by a jump so that
 * QEMU starts a translation block exactly at the label.
 */
#include <stdint.h>
#include <stdio.h>

#define WL_LOOP_COUNT 123457
#define WL_LOOP_MAGIC 0x7e57c0deULL

volatile uint64_t wl_loop_cell;

int main(void)
{
    uint64_t sum = 0;
    uint64_t count = WL_LOOP_COUNT, magic = WL_LOOP_MAGIC;
    wl_loop_cell = 0;  /* touch the page before the loop: no fault inside it */
    __asm__ volatile(
        "    jmp wl_loop_head\n"
        "    .p2align 4\n"
        "    .globl wl_loop_head\n"
        "wl_loop_head:\n"
        "    movq %%rcx, (%%rdi)\n"
        "    addq (%%rdi), %%rdx\n"
        "    decq %%rcx\n"
        "    jnz wl_loop_head\n"
        : "+c"(count), "+d"(sum)
        : "D"(&wl_loop_cell), "b"(magic)
        : "memory", "cc");
    /* sum = n(n+1)/2 */
    printf("wl_loop: iterations=%d sum=%llu expect=%llu\n", WL_LOOP_COUNT,
           (unsigned long long)sum,
           (unsigned long long)WL_LOOP_COUNT * (WL_LOOP_COUNT + 1ULL) / 2);
    return sum == (uint64_t)WL_LOOP_COUNT * (WL_LOOP_COUNT + 1ULL) / 2 ? 0 : 1;
}
