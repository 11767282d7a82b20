/* pixel_gpufile.h — the batch file: Pixel microcode plus a batch of states
 * (and, in a result file, their outcomes), the one format the CPU side
 * (offload stage, pixel-gpu-tool) and the CUDA executor (stages/offload/gpu)
 * exchange.  Layout, all little-endian (docs/pixel-gpu.md):
 *
 *   0   char[8] magic "PXBATCH1"
 *   8   u32 format version (1)        12  u32 PIXEL_ISA_VERSION
 *   16  u32 ninsns                    20  u32 nstates
 *   24  u32 nregions (0..4)           28  u32 region_size[4]
 *   44  u32 step_limit (0: default)   48  u32 has_results (0 job, 1 results)
 *   52  u32 reserved[3] (0)           64  body:
 *   insns      ninsns * 4 bytes ([op, rd, rs1, rs2] each)
 *   regs       32 * nstates u64, register-major (struct pixel_batch)
 *   bases      nregions * nstates u64
 *   mem        nstates * window bytes (window = sum of region sizes)
 *   fault      nstates u8      } only when has_results
 *   fault_pc   nstates u32     }
 *
 * This file and pixel_gpufile.c depend on the C library alone and compile
 * as C and as C++, so that the CUDA driver includes the very same reader and
 * writer (nvcc, without our Debian libraries).
 */
#ifndef TCGL_PIXEL_GPUFILE_H
#define TCGL_PIXEL_GPUFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pixel_isa.h"

#define PIXEL_BATCHFILE_MAGIC "PXBATCH1"
#define PIXEL_BATCHFILE_VERSION 1u
#define PIXEL_BATCHFILE_HEADER 64u

/* One job or result: the same arrays as struct pixel_batch (pixel_batch.h),
 * which pixel_job_batch() views them as. */
struct pixel_job {
    uint32_t ninsns, nstates, nregions, step_limit;
    uint32_t region_size[4];
    bool has_results;
    struct pixel_insn *prog;     /* ninsns */
    uint64_t *regs;              /* 32 * nstates */
    uint64_t *region_base;       /* nregions * nstates */
    uint8_t *mem;                /* nstates * window */
    uint8_t *fault;              /* nstates (zero in a job) */
    uint32_t *fault_pc;          /* nstates */
};

/* Bytes of one state's memory window. */
uint64_t pixel_job_window(const struct pixel_job *j);

/* Allocates zeroed arrays for the given shape; 0, or -1 with err. */
int pixel_job_alloc(struct pixel_job *j, uint32_t ninsns, uint32_t nstates, uint32_t nregions,
                    const uint32_t *sizes, char *err, size_t errlen);
void pixel_job_free(struct pixel_job *j);

/* Writes j (results included when j->has_results) to path atomically
 * (temporary file, then rename); 0, or -1 with err naming the file. */
int pixel_job_write(const char *path, const struct pixel_job *j, char *err, size_t errlen);

/* Reads and validates a file: magic, versions, counts, region sizes, the
 * exact file size and every instruction (pixel_prog_valid).  0, or -1 with
 * err naming the file, the field and the value. */
int pixel_job_read(const char *path, struct pixel_job *j, char *err, size_t errlen);

/* Compares two result files of the same shape bit for bit (registers,
 * memory windows, fault kinds and pcs).  Prints up to max_report
 * differences to out (may be NULL).  Returns the number of differing
 * states, or -1 when the shapes differ (reported). */
long pixel_job_compare(const struct pixel_job *a, const struct pixel_job *b, FILE *out,
                       unsigned max_report);

#endif /* TCGL_PIXEL_GPUFILE_H */
