/* tl_decode.h — deciding a translation block's CPU mode and disassembling it.
 *
 * The QEMU 10 plugin API gives the TB's bytes and QEMU's own instruction
 * boundaries (qemu_plugin_insn_size), but no CPU mode.  We take a hint from
 * the control registers read at translation time (CR0.PE, EFER.LMA; CS.L is
 * not exposed, so long mode can still be 32-bit compatibility mode), then
 * confirm it: the mode is the first candidate, hint first, in which Zydis
 * decodes exactly QEMU's boundaries.  In long mode, code whose lengths agree
 * in both 32- and 64-bit mode takes the mode its CS selector has shown
 * (struct tl_mode_memory).  So 32-bit code is
 * never decoded as 64-bit when any of its instructions has a different length
 * there (inc/dec r32 0x40-0x4f, push/pop with prefixes, ...); a TB whose every
 * instruction decodes to the same lengths in both modes is reported in the
 * hinted mode.
 */
#ifndef TCGL_TL_DECODE_H
#define TCGL_TL_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_DISASM_MAX 128

/* Control-register hint: cr0/efer as read, or has_regs=false when unreadable. */
struct tl_mode_hint {
    bool has_regs;
    uint64_t cr0, efer, cs;
};

/* Candidate modes in the order the hint suggests (16/32/64), returns how many (3). */
int tl_mode_candidates(const struct tl_mode_hint *h, uint64_t pc, int out[3]);

/* Modes (bit 0: 16, bit 1: 32, bit 2: 64) in which Zydis decodes exactly
 * QEMU's boundaries lens[0..ninsns) of code. */
unsigned tl_modes_agreeing(const uint8_t *code, const uint8_t *lens, size_t ninsns);

/* What long-mode code segments have shown so far: for each CS selector index,
 * the mode (32 or 64) of the last TB whose boundaries fitted only one of
 * them.  A TB that fits both (most short sequences) takes its selector's
 * learned mode.  Seeded with Linux's __USER32_CS (0x23) = 32; everything
 * else starts as 64 until shown otherwise. */
struct tl_mode_memory { uint8_t by_cs[8192]; };
void tl_mode_memory_init(struct tl_mode_memory *m);

/* Choose the mode of a TB: code[0..len) with ninsns QEMU boundaries lens[].
 * Returns 16, 32 or 64; *confirmed says whether Zydis agreed with every
 * boundary in that mode.  mem (may be NULL) is consulted and updated for
 * long-mode code. */
int tl_mode_resolve(const struct tl_mode_hint *h, uint64_t pc, const uint8_t *code,
                    const uint8_t *lens, size_t ninsns, struct tl_mode_memory *mem, bool *confirmed);

/* Intel-syntax disassembly of one instruction in `mode` at `pc` into out
 * (NUL-terminated, at most TL_DISASM_MAX-1 characters).  Returns the decoded
 * length, or 0 (and "(bad)") when Zydis cannot decode it. */
size_t tl_disasm(int mode, uint64_t pc, const uint8_t *code, size_t len, char *out, size_t outlen);

/* Which struct x86_regs words (bit i = word i: gpr[0..15], 16 rip, 17 rflags,
 * 18 fs_base, 19 gs_base) an instruction may write, from Zydis' explicit and
 * hidden operands and its flag effects.  TL_WRITES_ALL for anything that may
 * change more than Zydis describes (system instructions, segment or
 * control-register writes, fs/gs base writes) or that does not decode.
 * Instruction mode reads only these words again before the next instruction
 * of the same TB (rip is always known: it is that instruction's address). */
#define TL_WRITES_ALL 0xfffffu
/* What may change between two instructions beyond the first one's write
 * set when the second starts a TB: the delivery of an interrupt or exception
 * changes rsp and rflags (and rip), an SMI's entry into SMM also the segment
 * bases (fs_base, gs_base).  Read again at every TB entry. */
#define TL_ENTRY_REREAD (1u << 4 | 1u << 17 | 1u << 18 | 1u << 19)
uint32_t tl_insn_writes(int mode, const uint8_t *code, size_t len);

/* The words instruction mode must read again before the next instruction of
 * the same TB: tl_insn_writes without rip (known: the next instruction's
 * address) and without rflags when the instruction changes only CF PF AF ZF
 * SF OF or DF — QEMU keeps those outside env->eflags while TCG code runs, so
 * the word qemu_plugin_read_register returns cannot change (docs/tracer.md,
 * "Status flags are not recorded"). */
uint32_t tl_insn_reread(int mode, const uint8_t *code, size_t len);

/* Whether an instruction may make a memory access that QEMU reports to a
 * plugin's memory callbacks.  False only for instructions Zydis decodes, of
 * a plain computational category (arithmetic, logic, shifts, bit tests,
 * moves, conditional moves and sets, conversions, near jumps, flag
 * operations, SSE/AVX, NOP, ...), with no memory or far-pointer operand,
 * explicit or hidden (lea's address generation is not an access), and no
 * segment register written (a segment load reads a descriptor).  Anything
 * else — stack, string, I/O-string, system, interrupt, x87 and unknown
 * instructions, and whatever does not decode — may.  Block mode registers
 * its memory callback only where this says true: the callback of an
 * instruction that never accesses memory is never called, but QEMU still
 * sets up its memory-callback state around that instruction. */
bool tl_insn_may_access_memory(int mode, const uint8_t *code, size_t len);

/* What the tracer derives from one instruction, from a single decode. */
struct tl_insn_info {
    uint8_t length;           /* 0: Zydis cannot decode it */
    bool may_mem;             /* tl_insn_may_access_memory */
    uint32_t writes;          /* tl_insn_writes */
    uint32_t reread;          /* tl_insn_reread */
};
/* tl_disasm (into disasm, unless it is NULL) and *info (unless NULL) from
 * one decode; returns the decoded length, 0 when it does not decode. */
size_t tl_insn_decode(int mode, uint64_t pc, const uint8_t *code, size_t len, char *disasm, size_t disasm_len,
                      struct tl_insn_info *info);

/* Privilege level from a CS selector read at translation time: CS.RPL in
 * protected mode, 0 in real mode (CR0.PE clear); -1 when unknown. */
int tl_cpl(const struct tl_mode_hint *h);

#endif /* TCGL_TL_DECODE_H */
