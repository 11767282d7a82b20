/* oracle_unicorn.h — execute x86-64 blocks in QEMU's TCG through Unicorn 2.
 *
 * Same contract as oracle_native.h (same structs, same result kinds, same
 * memory convention: regions mapped page-granular at their guest addresses,
 * the rest of each page zero), so verify and the x86 co-simulation can run
 * both and compare.  One Unicorn engine is kept for the oracle's life;
 * registers and mappings are reset per state (mappings are kept when the
 * next state uses the same pages).  The block runs from in.rip until it
 * reaches rip+len or has executed its instruction count (so a terminator
 * that jumps anywhere, even back to the block start, stops after it).
 * Exceptions are reported, not delivered: #DE -> ORACLE_FAULT_DIV, #UD ->
 * ILL, #BP/#DB -> TRAP, #GP/#PF and unmapped accesses -> MEM, syscall /
 * sysenter / int n -> SYSCALL.
 */
#ifndef TCGL_ORACLE_UNICORN_H
#define TCGL_ORACLE_UNICORN_H

#include <stddef.h>
#include <stdint.h>

#include "oracle_result.h"
#include "x86_state.h"

struct oracle_unicorn;

/* state_timeout_ms: per-state limit (0: default 100 ms). NULL on failure. */
struct oracle_unicorn *oracle_unicorn_create(unsigned state_timeout_ms);
void oracle_unicorn_destroy(struct oracle_unicorn *o);

/* Arguments and return value exactly as oracle_native_run_batch. */
int oracle_unicorn_run_batch(struct oracle_unicorn *o, const uint8_t *code, size_t len,
                             const struct x86_regs *in, const struct x86_mem *mem_in, size_t n,
                             struct x86_regs *out, struct x86_mem *mem_out,
                             struct oracle_result *res);
int oracle_unicorn_run(struct oracle_unicorn *o, const uint8_t *code, size_t len,
                       const struct x86_regs *in, const struct x86_mem *mem_in,
                       struct x86_regs *out, struct x86_mem *mem_out,
                       struct oracle_result *res);

#endif /* TCGL_ORACLE_UNICORN_H */
