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

/* ---- the compact transfer path (docs/pixel-gpu.md "Compact transfers") ----
 * What one block's microcode needs moved per state, derived from the
 * program: the registers it reads before writing them (live-in), the guest
 * registers (R0..R23) it writes (live-out), flag registers packed as bits of
 * one byte where that is exact, memory windows only when it has memory
 * operations (back only when it stores), and a 16-bit status (fault kind and
 * pc).  Scratch registers R24..R31 are never moved out ("ignored at exit",
 * docs/pixel-isa.md): a compact result equals the interpreter's on R0..R23,
 * memory, fault kind and pc (pixel_job_compare_guest). */
#define PIXEL_GUEST_REG_MASK 0x00ffffffu                 /* R0..R23 */
#define PIXEL_FLAG_REG_MASK (0x3fu << 16 | 1u << 23)     /* CF..OF (R16..R21), DF (R23) */
/* Bit of a flag register in the packed flag byte: CF..OF bits 0..5, DF bit 6. */
#define PIXEL_FLAG_BIT(r) ((r) == 23 ? 6 : (r) - 16)
/* The per-state status word: fault kind (< 8) in bits 13..15, pc (<= 4096) below. */
#define PIXEL_XFER_STATUS(kind, pc) ((uint16_t)((unsigned)(kind) << 13 | (unsigned)(pc)))

struct pixel_xfer_plan {
    uint32_t in_rows, out_rows;     /* registers moved as rows (bit r: Rr), 64-bit unless narrow */
    uint32_t in_flags, out_flags;   /* flag registers moved as bits of the flag byte */
    uint32_t killed;                /* written before any read or possible fault: not uploaded */
    bool mem_in, mem_out;           /* memory windows (and region bases) up / back */
    uint32_t bytes_in, bytes_out;   /* per state, everything included */
    /* Fewer bytes (docs/pixel-gpu.md "Fewer bytes"):
     * in_uniform: registers read before written that hold the same value in
     *   every state (a template instance's rip): not uploaded, in_val[r]
     *   goes to the kernel as a parameter (any program);
     * in_narrow (of in_rows): only their low 32 bits can affect anything
     *   downloaded, so they go up as 32-bit rows (the kernel zero-extends);
     * out_uniform: results the same in every state, computed from constants
     *   and uniform inputs alone: out_val[r], not downloaded;
     * out_narrow (of out_rows): results whose upper 32 bits are known to be
     *   out_hi[r] in every state (zero-extended 32-bit results, or a choice
     *   between constants of the same upper half): 32-bit rows down;
     * status_known: no state can fault (straight-line, no memory, no
     *   division, within the step limit): every status is (NONE, ninsns),
     *   not downloaded.
     * The last four hold only for microcode of that fault-free straight-line
     * kind (`simple`); the others keep 64-bit rows and the status word. */
    bool simple;
    uint32_t in_uniform, in_narrow, out_uniform, out_narrow;
    bool status_known;
    uint64_t in_val[32], out_val[32];
    uint32_t out_hi[32];
};

/* Derives the plan from j's program and, for live-in flags, its input
 * values (a flag travels as a bit only when every state holds 0 or 1 in it;
 * otherwise as a row).  Sound for any program, control flow and faults
 * included (a register written after a possible fault or branch is also
 * uploaded, since a state may stop before writing it). */
void pixel_xfer_plan_make(const struct pixel_job *j, struct pixel_xfer_plan *p);
/* The registers some instruction of prog writes (bit r: Rr): the only rows
 * an execution can change, so the only ones a timed loop must restore. */
uint32_t pixel_prog_writes(const struct pixel_insn *prog, size_t n);
/* As pixel_xfer_plan_make; fewer_bytes false gives the plan without the
 * uniform and 32-bit reductions (64-bit rows, status always; benchmarks
 * compare the two). */
void pixel_xfer_plan_make_ex(const struct pixel_job *j, struct pixel_xfer_plan *p, bool fewer_bytes);

/* Packs the live-in flags of states [first, first+count) into flags[0..count). */
void pixel_xfer_pack_flags(const struct pixel_job *j, const struct pixel_xfer_plan *p,
                           uint64_t first, uint64_t count, uint8_t *flags);

/* Turns res (a copy of the job's input) into the result: the 64-bit out
 * rows (out_rows & ~out_narrow, nstates u64 each, ascending register
 * order), the 32-bit ones (out_narrow, nstates u32 each), the packed out
 * flags (nstates bytes, or NULL when none), the status words (NULL when
 * status_known) and, when the plan stores, the memory windows (nstates *
 * window bytes); uniform results from out_val. */
void pixel_xfer_expand(struct pixel_job *res, const struct pixel_xfer_plan *p,
                       const uint64_t *out_rows, const uint32_t *out_rows32, const uint8_t *out_flags,
                       const uint16_t *status, const uint8_t *mem);

/* As pixel_job_compare, over the guest registers R0..R23 only. */
long pixel_job_compare_guest(const struct pixel_job *a, const struct pixel_job *b, FILE *out,
                             unsigned max_report);

#endif /* TCGL_PIXEL_GPUFILE_H */
