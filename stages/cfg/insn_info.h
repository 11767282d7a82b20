/* insn_info.h — what cfg and cluster need to know about one x86 instruction.
 *
 * The only file of the cfg stage that talks to the x86 decoder (Zydis).  It
 * answers: how long is the instruction, does it end a basic block and where
 * can control go, which GPRs and status flags it reads (uses), writes
 * (defines) and fully overwrites (kills), which flags it leaves undefined,
 * and what kind of instruction it is (memory, FP/SIMD, system, control).
 * Keeping this behind a small struct lets the stage later switch to the
 * shared decoder (common/x86_decode.h) without touching the graph code.
 *
 * Liveness rules encoded here (see docs/cfg.md):
 *  - an 8- or 16-bit register write does not kill the full register (the
 *    upper bits survive); a 32-bit write kills in every mode (zero-extends in
 *    64-bit mode, is the whole register in 16/32-bit modes); a conditional
 *    write (CMOVcc) never kills;
 *  - flags come from Zydis' per-instruction flag table (tested / modified /
 *    set_0 / set_1 / undefined); a flag written with an undefined value is
 *    killed (its old value is not needed) and reported in `flags_undef`;
 *  - shifts and rotates whose count is not a known non-zero immediate leave
 *    the flags unchanged when the count is zero, so their flag writes do not
 *    kill (they are may-definitions);
 *  - zero idioms (xor r,r / sub r,r) do not read r.
 */
#ifndef TCGL_CFG_INSN_INFO_H
#define TCGL_CFG_INSN_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "x86_state.h"

/* How an instruction affects control flow.  Everything but NONE ends a basic block. */
enum insn_flow {
    INSN_FLOW_NONE,       /* falls through */
    INSN_FLOW_JCC,        /* conditional direct branch: target or fall-through */
    INSN_FLOW_JMP,        /* unconditional direct jump */
    INSN_FLOW_JMP_IND,    /* indirect jump (target from a register or memory) */
    INSN_FLOW_CALL,       /* direct call */
    INSN_FLOW_CALL_IND,   /* indirect call */
    INSN_FLOW_RET,        /* return */
    INSN_FLOW_SYS,        /* syscall, sysret, int, iret, hlt, ud2, ...: leaves the block to unknown code */
};

/* Instruction kind bits (a block's class is derived from them; see cfg.h). */
#define INSN_K_MEM      0x01u   /* accesses memory (explicit operand, stack, string op) */
#define INSN_K_FPSIMD   0x02u   /* x87, MMX, SSE, AVX registers or operations */
#define INSN_K_SYSTEM   0x04u   /* syscall, cpuid, rdtsc, privileged, I/O, interrupts */
#define INSN_K_CONTROL  0x08u   /* changes control flow */
#define INSN_K_NOP      0x10u   /* no architectural effect besides rip */
#define INSN_K_PRIV     0x20u   /* privileged (ring 0) */
#define INSN_K_IO       0x40u   /* port I/O */

struct insn_info {
    uint64_t pc;
    uint64_t target;      /* direct branch/call target (JCC, JMP, CALL); 0 otherwise */
    x86_locset use;       /* GPRs and flags whose incoming value the instruction may read */
    x86_locset def;       /* GPRs and flags it may write (partial and conditional writes included) */
    x86_locset kill;      /* subset of def: locations it certainly overwrites completely */
    x86_locset flags_undef; /* flags it leaves with an architecturally undefined value */
    uint16_t mnemonic;    /* ZydisMnemonic */
    uint8_t len;
    uint8_t flow;         /* enum insn_flow */
    uint8_t kind;         /* INSN_K_* */
};

/* Decode one instruction at `code` (at most `avail` bytes) located at guest
 * address `pc` in `cpu_mode` (16, 32 or 64).  Returns false when the bytes do
 * not decode (or the mode is not 16/32/64). */
bool insn_info_decode(uint8_t cpu_mode, uint64_t pc, const uint8_t *code, unsigned avail,
                      struct insn_info *out);

/* Lower-case mnemonic ("add", "jnz") of a decoded instruction. */
const char *insn_info_mnemonic_name(const struct insn_info *ii);

/* Intel-syntax text of one instruction into buf; returns false when it does not decode. */
bool insn_info_format(uint8_t cpu_mode, uint64_t pc, const uint8_t *code, unsigned avail,
                      char *buf, unsigned bufsize);

#endif
