/* gpu_export.h — a library's verified templates as GPU batch files
 * (`offload --export-gpu DIR`, docs/offload.md "GPU export").
 *
 * For each verified 64-bit template: N input states from state_gen (the
 * generator verify's concrete tests use: edge-biased registers, one region
 * per base register placed so that the accesses land inside it), as a Pixel
 * batch with the template's microcode, written as DIR/<key16>.job
 * (common/pixel_gpufile.h).  state_gen gives every region a whole 4 KiB
 * page; 10^6 states of that would be 4 GiB per region, so each region is
 * cropped to a window around the block's accesses: the narrowest window
 * (pads of 32 .. 2048 bytes around the lowest entry address of the memory
 * operands on that region) under which 256 probe states end exactly as
 * with whole pages (registers R0..R23, fault kind and pc, the window's
 * bytes).  rip is state_gen's code address moved to the middle of a 4 GiB
 * window (GPU_EXPORT_RIP).  The check (stages/offload/gpu/lib_check.sh) runs the very same
 * file through the interpreter and the GPU, so the comparison holds for
 * any window; the window only decides how many states run to the end
 * rather than fault.
 *
 * With harness, also DIR/<key16>.harness (the speedup harness of
 * speedup.h for the template's timed body, compiled static-pie with cc) and,
 * with N states, DIR/<key16>.hs, its state file for the same states.
 * DIR/index.tsv lists every template: key16, key, x86 instructions, Pixel
 * instructions, regions, window bytes, states written (fewer than N where
 * N states would exceed max_bytes: templates on whole pages), probe states
 * that fault, harness ("yes" or why not).
 */
#ifndef TCGL_OFFLOAD_GPU_EXPORT_H
#define TCGL_OFFLOAD_GPU_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "library.h"
#include "pixel_batch.h"

struct gpu_export_options {
    uint32_t nstates;                 /* states per template; 0: no job file */
    uint64_t seed;                    /* state_gen stream (default 1) */
    bool harness;                     /* compile the harness (needs cc with static libc) */
    bool harness_states;              /* write the harness state file for the nstates states */
    const char *cc;                   /* NULL: gcc */
    uint64_t max_bytes;               /* one job's registers and memory; fewer states beyond (0: no cap) */
};

/* The states of one template: n states of stream seed, regions cropped as
 * above; fewer than n when n would take more than max_bytes (0: no cap).
 * 0 (out allocated: pixel_batch_free; out->n states), or -1 with why. */
int gpu_template_states(const uint8_t *code, size_t len, const struct pixel_insn *ops, size_t nops,
                        uint32_t n, uint64_t seed, uint64_t max_bytes, struct pixel_batch *out,
                        uint32_t *probe_faults, char *why, size_t wl);

/* Exports the verified templates of lib (only those whose keys start with
 * one of keys[0..nkeys), when nkeys > 0) into dir.  Returns the number
 * exported, -1 on error (logged). */
int gpu_export_library(struct library *lib, const char *dir, const char *const *keys, size_t nkeys,
                       const struct gpu_export_options *o);

#endif /* TCGL_OFFLOAD_GPU_EXPORT_H */
