/* pixel_batch.h — many Pixel CPU states at once, structure of arrays, and
 * the batched CPU executor.  The same layout is the CUDA executor's device
 * layout and the body of the GPU state file (pixel_gpufile.h).
 *
 * State i of a batch of n:
 *   register r        regs[r * n + i]
 *   memory region j   guest address region_base[j * n + i], size region_size[j]
 *                     (the sizes are shared by all states), bytes at
 *                     mem[i * window + region_off(j)], where window is the sum
 *                     of the sizes and region_off(j) the sum of those before j
 *   outcome           fault[i] (enum pixel_fault), fault_pc[i] (struct pixel_result.pc)
 */
#ifndef TCGL_PIXEL_BATCH_H
#define TCGL_PIXEL_BATCH_H

#include <stddef.h>

#include "pixel_interp.h"

struct pixel_batch {
    uint32_t n;
    uint32_t nregions;
    uint32_t region_size[X86_MEM_MAX_REGIONS];
    uint64_t *regs;          /* PIXEL_NREGS * n */
    uint64_t *region_base;   /* nregions * n */
    uint8_t *mem;            /* n * window */
    uint8_t *fault;          /* n */
    uint32_t *fault_pc;      /* n */
};

/* Bytes of one state's memory window. */
size_t pixel_batch_window(const struct pixel_batch *b);
/* Offset of region j inside a window. */
size_t pixel_batch_region_off(const struct pixel_batch *b, uint32_t j);

/* Allocates a zeroed batch; 0, or -1 (bad layout or out of memory, logged). */
int pixel_batch_alloc(struct pixel_batch *b, uint32_t n, uint32_t nregions, const uint32_t *sizes);
void pixel_batch_free(struct pixel_batch *b);

/* A single-state view of state i: registers copied into s, memory regions
 * of m pointing into the batch's window (so s->mem = m shares the bytes). */
void pixel_batch_get(const struct pixel_batch *b, uint32_t i, struct pixel_state *s, struct x86_mem *m);
/* Writes registers of s back as state i (memory is shared already). */
void pixel_batch_put(struct pixel_batch *b, uint32_t i, const struct pixel_state *s);

/* Runs `prog` on every state of b; fills fault[] and fault_pc[].  Each
 * state ends exactly as pixel_run would leave it.  Straight-line
 * microcode (no JUMP/JZ/JNZ/CALL) runs instruction-major over chunks of
 * states (vectorizable loops generated from the table); microcode with
 * control flow runs state by state.  Returns the number of faulted
 * states, or -1 when the program is invalid (message in err). */
long pixel_exec_batch(const struct pixel_insn *prog, size_t n, struct pixel_batch *b,
                      uint32_t step_limit, char *err, size_t errlen);

/* As pixel_exec_batch, with the states split over `threads` threads
 * (chunks of 512 states; identical results for any thread count). */
long pixel_exec_batch_mt(const struct pixel_insn *prog, size_t n, struct pixel_batch *b,
                         uint32_t step_limit, unsigned threads, char *err, size_t errlen);

#endif /* TCGL_PIXEL_BATCH_H */
