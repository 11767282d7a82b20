/* oracle_result.h — what an x86 execution oracle says about one state.
 *
 * Both oracles (oracle_native: the host CPU in a sandboxed child;
 * oracle_unicorn: QEMU's TCG through Unicorn) fill one `struct oracle_result`
 * per input state, beside the output registers and memory.  Callers compare
 * `kind` first: two oracles agree on a faulting state when both report the
 * same kind (and, for ORACLE_FAULT_MEM page faults, the same address).
 * See docs/oracles.md.
 */
#ifndef TCGL_ORACLE_RESULT_H
#define TCGL_ORACLE_RESULT_H

#include <stdbool.h>
#include <stdint.h>

/* Longest block either oracle accepts, in bytes. */
#define ORACLE_MAX_CODE 4096u

/* X-macro: name, text.  ORACLE_OK is the only non-fault kind. */
#define ORACLE_KINDS(X)                                                        \
    X(ORACLE_OK,               "ok")                                           \
    X(ORACLE_FAULT_MEM,        "memory fault (#PF/#GP: access outside the regions)") \
    X(ORACLE_FAULT_DIV,        "divide error (#DE)")                           \
    X(ORACLE_FAULT_ILL,        "invalid opcode (#UD)")                         \
    X(ORACLE_FAULT_TRAP,       "breakpoint or debug trap (#BP/#DB)")           \
    X(ORACLE_FAULT_SYSCALL,    "system call refused by the sandbox")           \
    X(ORACLE_FAULT_TIMEOUT,    "did not finish within the time limit")         \
    X(ORACLE_FAULT_UNMAPPABLE, "state not executable by this oracle (address unusable)") \
    X(ORACLE_FAULT_UNSUPPORTED,"block form not supported by this oracle")      \
    X(ORACLE_FAULT_CRASH,      "oracle process died; restarted")               \
    X(ORACLE_FAULT_OTHER,      "other exception")

enum oracle_kind {
#define ORACLE_KIND_ENUM(name, text) name,
    ORACLE_KINDS(ORACLE_KIND_ENUM)
#undef ORACLE_KIND_ENUM
    ORACLE_NKINDS
};

struct oracle_result {
    enum oracle_kind kind;
    /* Fault details (kind != ORACLE_OK): the host signal (native) or the
     * x86 exception vector (Unicorn, -1 when none), the data address of a
     * memory fault (0 when unknown, e.g. #GP), the guest rip of the faulting
     * instruction (0 when unknown). */
    int signo;
    int vector;
    uint64_t fault_addr;
    uint64_t fault_rip;
    /* Block terminator (kind == ORACLE_OK): the output regs' rip is the next
     * rip; `taken` says whether a jcc/jmp/call/ret transferred control
     * (false for a block that falls through, or a jcc not taken). */
    bool taken;
    /* Native only: the code did not run at its guest rip (rip unusable on the
     * host) — results stay exact unless the block reads rip as data
     * (rip-relative operand, call's pushed return address is fixed up). */
    bool relocated;
};

/* Short English text for a kind ("divide error (#DE)"). */
const char *oracle_kind_name(enum oracle_kind kind);

#endif /* TCGL_ORACLE_RESULT_H */
