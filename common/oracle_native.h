/* oracle_native.h — execute x86-64 blocks on the host CPU, sandboxed.
 *
 * An `oracle_native` owns one long-lived child process (fork + seccomp
 * filter: read/write on its job pipes, anonymous mmap/munmap/mprotect,
 * rt_sigreturn, exit; any other system call is trapped and reported as
 * ORACLE_FAULT_SYSCALL, never executed).  Jobs travel through shared memory:
 * one job is one code block and N input states.  For each state the child
 * maps the state's memory regions (page-granular) at their guest addresses,
 * places the code at its guest rip followed by an exit stub, loads all 16
 * GPRs (RSP included) and RFLAGS (status flags as given, DF forced to 0,
 * TF/AC/IF untouched), jumps to the code and, when the stub is reached,
 * stores the registers, flags and region contents back.  Faults (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) are caught on an alternate stack
 * and reported per state; a state that runs longer than the per-state limit
 * is interrupted by a timer and reported as ORACLE_FAULT_TIMEOUT; a child
 * that dies or stops answering is killed, restarted, and the states it held
 * are reported as ORACLE_FAULT_CRASH.  The caller never crashes.
 *
 * Guest data (traced code) is executed natively only inside this child.
 *
 * Terminators: a last instruction jcc is executed natively (the CPU
 * evaluates the condition; `taken` and the next rip are reported); jmp rel,
 * jmp reg, call rel, call reg and ret [imm16] are applied by the child after
 * the body ran natively (next rip, pushed return address, rsp).  Indirect
 * jmp/call through memory, loop/jrcxz, fs/gs-segment accesses and
 * syscall-like instructions in a terminator position are reported as
 * ORACLE_FAULT_UNSUPPORTED (syscall inside the body is refused by seccomp).
 *
 * Memory convention (docs/oracles.md): generated states live in the arena
 * of state_gen.h (STATE_GEN_ARENA_*), far from anything the child maps.  A
 * state whose region or code pages collide with the child's own mappings,
 * or lie outside the user address space (a kernel address from the tracer),
 * is not executed: ORACLE_FAULT_UNMAPPABLE when a region is unusable; when
 * only the code's page is unusable the code runs relocated (result.relocated).
 * Accesses outside a region but inside one of its 4 KiB pages do not fault
 * (the same holds for Unicorn); pages outside the regions read as zero.
 *
 * Not thread-safe: one oracle per thread.
 */
#ifndef TCGL_ORACLE_NATIVE_H
#define TCGL_ORACLE_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "oracle_result.h"
#include "x86_state.h"

struct oracle_native;

struct oracle_native_opts {
    unsigned state_timeout_ms;  /* per state; 0: default 100 ms */
    unsigned batch_timeout_ms;  /* child must answer a batch within this; 0: default 5000 ms */
};

/* Start the sandboxed child.  NULL on failure (logged). opts may be NULL. */
struct oracle_native *oracle_native_create(const struct oracle_native_opts *opts);
void oracle_native_destroy(struct oracle_native *o);

/* Execute `code` (len bytes, <= ORACLE_MAX_CODE) on n input states.
 *   in[i]       input registers; in[i].rip is where the code is placed.
 *   mem_in[i]   input memory regions (may be NULL: no memory at all).
 *   out[i]      output registers (rip = next rip after the block).
 *   mem_out[i]  may be NULL; else must describe the same regions as
 *               mem_in[i] (same base and size) with its own `data` buffers,
 *               which receive the contents after execution (may alias
 *               mem_in[i].data for in-place update).
 *   res[i]      kind, fault details, branch outcome.
 * Returns 0 when every state got a result (faults are results), -1 when
 * the arguments are invalid (code too long, region too large) — nothing is
 * executed then.  Batches of any size are split internally. */
int oracle_native_run_batch(struct oracle_native *o, const uint8_t *code, size_t len,
                            const struct x86_regs *in, const struct x86_mem *mem_in, size_t n,
                            struct x86_regs *out, struct x86_mem *mem_out,
                            struct oracle_result *res);

/* One state: same as a batch of one. */
int oracle_native_run(struct oracle_native *o, const uint8_t *code, size_t len,
                      const struct x86_regs *in, const struct x86_mem *mem_in,
                      struct x86_regs *out, struct x86_mem *mem_out,
                      struct oracle_result *res);

/* Counters since creation. */
struct oracle_native_stats {
    uint64_t states, batches, faults, timeouts, restarts, unmappable;
};
void oracle_native_get_stats(const struct oracle_native *o, struct oracle_native_stats *st);

#endif /* TCGL_ORACLE_NATIVE_H */
