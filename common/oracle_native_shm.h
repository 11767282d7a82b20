/* oracle_native_shm.h — the job layout shared by oracle_native (parent) and
 * its sandboxed child (oracle_native_child.c).  Internal to the oracle.
 *
 * One shared anonymous mapping of ORACLE_SHM_SIZE bytes:
 *   [struct oracle_shm_hdr][struct oracle_shm_slot × nstates][region bytes]
 * The parent fills the header, the slots' inputs and the region bytes, then
 * sends the job's sequence number on the socket; the child runs every slot
 * in order, overwriting region bytes in place and filling each slot's
 * outputs, bumping `progress` after each, and answers with the same
 * sequence number.  If the child dies mid-job, slots below `progress` are
 * complete.  The child trusts nothing it did not check (offsets, sizes).
 */
#ifndef TCGL_ORACLE_NATIVE_SHM_H
#define TCGL_ORACLE_NATIVE_SHM_H

#include <stdint.h>

#include "oracle_block.h"
#include "oracle_result.h"
#include "x86_state.h"

#define ORACLE_SHM_SIZE   (32u << 20)
#define ORACLE_SHM_CODE   4096u
#define ORACLE_SHM_MAGIC  0x4f52434c4e415456ull   /* "ORCLNATV" */

struct oracle_shm_hdr {
    uint64_t magic;
    uint64_t seq;
    uint32_t nstates;
    uint32_t code_len;
    volatile uint32_t progress;         /* slots completed (child writes) */
    uint32_t state_timeout_ms;
    struct oracle_block blk;
    uint8_t code[ORACLE_SHM_CODE];
};

struct oracle_shm_region {
    uint64_t base;
    uint32_t size;
    uint32_t off;                       /* offset of the bytes in the mapping */
};

struct oracle_shm_slot {
    struct x86_regs in;
    struct x86_regs out;
    struct oracle_result res;
    uint32_t nregions;
    struct oracle_shm_region region[X86_MEM_MAX_REGIONS];
};

struct sock_fprog;

/* The child's seccomp program for a child whose socket is `sock_fd`, built
 * in the parent (prog->filter is malloc'ed).  0, or -1 when libseccomp
 * fails. */
int oracle_native_filter_build(int sock_fd, struct sock_fprog *prog);

/* Child entry point: never returns.  sock_fd is its socket end; filter is
 * the program from oracle_native_filter_build. */
_Noreturn void oracle_native_child_main(void *shm, int sock_fd, const struct sock_fprog *filter);

#endif /* TCGL_ORACLE_NATIVE_SHM_H */
