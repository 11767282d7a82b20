/* gpu_run.h — the offload stage's use of the CUDA executor (docs/offload.md
 * "GPU", docs/pixel-gpu.md).
 *
 * The executor (stages/offload/gpu/pixel_cuda.cu) builds with nvcc alone and
 * runs as a child process, `pixel-cuda`, over batch files
 * (common/pixel_gpufile.h): the stage writes a block's microcode and states
 * as a job, runs `pixel-cuda --compact` on it, reads the result back and
 * compares it bit for bit with the reference interpreter on every state;
 * then times the same states tiled up to `nstates` (no result file) and
 * reports block executions per second with host<->device transfers and
 * without (the kernel alone).  Without a GPU, an NVIDIA device or
 * pixel-cuda, gpu_probe says why in one line and nothing is run.
 */
#ifndef TCGL_OFFLOAD_GPU_RUN_H
#define TCGL_OFFLOAD_GPU_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pixel_batch.h"

enum gpu_mode { GPU_MODE_AUTO, GPU_MODE_ON, GPU_MODE_OFF };

/* "auto", "on", "off" -> mode; 0, or -1 for anything else. */
int gpu_mode_parse(const char *s, enum gpu_mode *m);
const char *gpu_mode_name(enum gpu_mode m);

struct gpu_options {
    enum gpu_mode mode;               /* auto: use a GPU when one is present */
    const char *pixel_cuda;           /* NULL: next to this program, in ../gpu/, or on PATH */
    uint32_t nstates;                 /* states timed per block (its states tiled); 0: 1000000 */
    uint64_t max_bytes;               /* host memory for one timed batch; 0: 1 GiB */
    const char *work_dir;             /* batch files (removed after use) */
    unsigned timeout_s;               /* per pixel-cuda run; 0: 120 */
};

void gpu_options_default(struct gpu_options *o);

struct gpu_probe {
    bool available;
    char note[256];                   /* why not, e.g. "no GPU (no /dev/nvidia0)"; "" when available */
    char device[128];                 /* the device pixel-cuda found */
    char path[4096];                  /* pixel-cuda */
};

/* Decides whether the CUDA executor can run: mode off, no NVIDIA device
 * node, no pixel-cuda, or `pixel-cuda --probe` finding no CUDA device each
 * make it unavailable with a note.  Logs one line either way. */
void gpu_probe_run(const struct gpu_options *o, struct gpu_probe *p);

struct gpu_result {
    bool measured;
    char why[256];                    /* when not measured */
    uint32_t checked;                 /* distinct states compared bit for bit with the interpreter */
    uint64_t states;                  /* states timed */
    double states_per_s;              /* transfers included */
    double kernel_states_per_s;       /* the kernel alone */
    uint32_t bytes_in, bytes_out;     /* per state, each way */
};

/* Runs ops over states on the GPU (p->available must hold): checks every
 * state against the interpreter, then times states tiled to o->nstates.
 * Returns 0 (r->measured says whether figures exist; r->why otherwise). */
int gpu_measure(const struct gpu_options *o, const struct gpu_probe *p, const char *name,
                const struct pixel_insn *ops, size_t nops, const struct pixel_batch *states,
                struct gpu_result *r);

#endif /* TCGL_OFFLOAD_GPU_RUN_H */
