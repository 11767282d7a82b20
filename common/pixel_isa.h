/* pixel_isa.h — the Pixel CPU instruction set: ONE table, and everything a
 * C or CUDA executor needs to run it.
 *
 * An instruction is 4 bytes, [opcode, rd, rs1, rs2], stored in that byte
 * order (as a little-endian u32: op | rd<<8 | rs1<<16 | rs2<<24).  There are
 * 32 registers of 64 bits.  Opcodes 0..18 and 255 are the seeds' core;
 * 32 and up are the documented extensions x86 lowering needs.  The full
 * semantics, edge cases and the guest-state convention are in
 * docs/pixel-isa.md (its opcode table is generated from PIXEL_OPCODES and a
 * test checks the committed copy).
 *
 * This header depends on nothing but <stdint.h>, so that nvcc compiles the
 * GPU executor from it alone: the Z3 column of the table is only tokens
 * here, expanded by common/pixel_z3.c and ignored everywhere else.
 *
 * Operand fields seen by the semantics (names used in the table's C column):
 *   a = R[rs1], b = R[rs2], d = R[rd] (before the write),
 *   i2 = the rs2 byte as an unsigned immediate, imm16 = rs1 | rs2 << 8,
 *   v = the value a load read (little-endian, zero-extended to 64 bits).
 * The Z3 column uses A, B, D, V (64-bit bit-vector terms), the same
 * immediates, K(x) for a 64-bit constant and ZB(cond) for cond ? 1 : 0.
 */
#ifndef TCGL_PIXEL_ISA_H
#define TCGL_PIXEL_ISA_H

#include <stdint.h>

#ifdef __CUDACC__
#define PIXEL_HD static __host__ __device__ __forceinline__
#else
#define PIXEL_HD static inline
#endif

/* Bumped whenever an opcode's number or meaning changes: part of every
 * microcode library key. */
#define PIXEL_ISA_VERSION 1

#define PIXEL_NREGS        32
#define PIXEL_INSN_BYTES   4
#define PIXEL_MAX_INSNS    4096      /* a program longer than this is rejected */
#define PIXEL_CALL_DEPTH   8         /* CALL beyond this depth faults */
#define PIXEL_DEFAULT_STEP_LIMIT 16384 /* executed instructions before a STEPS fault */

/* ---- guest-state convention (docs/pixel-isa.md "Guest state") ----------- */
#define PIXEL_REG_GPR(i)   (i)              /* R0..R15: RAX..R15 in hardware order */
#define PIXEL_REG_FLAG(f)  (16 + (f))       /* R16..R21: CF,PF,AF,ZF,SF,OF as 0/1 */
#define PIXEL_REG_CF       16
#define PIXEL_REG_PF       17
#define PIXEL_REG_AF       18
#define PIXEL_REG_ZF       19
#define PIXEL_REG_SF       20
#define PIXEL_REG_OF       21
#define PIXEL_REG_RIP      22               /* in: the block's pc; out: the next rip */
#define PIXEL_REG_DF       23               /* direction flag as 0/1 (read-only by convention) */
#define PIXEL_REG_SCRATCH0 24               /* R24..R31: scratch, undefined at entry */
#define PIXEL_NSCRATCH     8

/* ---- operand forms: which fields are registers, immediates or must be 0 - */
enum pixel_form {
    PXF_NONE,   /* OP                    rd = rs1 = rs2 = 0 */
    PXF_RR,     /* OP Rd, Rs1            rs2 = 0 */
    PXF_RRR,    /* OP Rd, Rs1, Rs2 */
    PXF_RRU6,   /* OP Rd, Rs1, imm       imm = rs2 byte, 0..63 */
    PXF_RRS8,   /* OP Rd, Rs1, imm       imm = rs2 byte as signed, -128..127 */
    PXF_RRU8,   /* OP Rd, Rs1, imm       imm = rs2 byte, 0..255 */
    PXF_RS16,   /* OP Rd, imm            imm = rs1 | rs2<<8 as signed, -32768..32767 */
    PXF_RU16,   /* OP Rd, imm            imm = rs1 | rs2<<8, 0..65535 */
    PXF_LOAD,   /* OP Rd, [Rs1]          rs2 = 0 */
    PXF_STORE,  /* OP [Rs1], Rs2         rd = 0 */
    PXF_J,      /* OP off                rd = 0; off = rs1 | rs2<<8 signed, target = pc + 1 + off */
    PXF_RJ,     /* OP Rd, off            as PXF_J, condition register Rd */
    PXF_COUNT
};

enum pixel_kind { PXK_ALU, PXK_LOAD, PXK_STORE, PXK_CTRL };

/* ---- the table -------------------------------------------------------------
 * X(NAME, code, form, kind, width, reads_rd, C result, C fault, Z3 result, Z3 fault, doc)
 *   width: bytes moved by a load/store (0 otherwise);
 *   reads_rd: rd is also a source (the old value d);
 *   C fault / Z3 fault: the condition under which the instruction faults
 *   (PIXEL_FAULT_DIV) instead of writing; 0 when it never does (memory and
 *   control faults are the executors' business, identical everywhere).
 * Control-flow rows (kind CTRL) have no result: executors implement them
 * by opcode, as docs/pixel-isa.md specifies. */
#define PIXEL_OPCODES(X) \
X(NOP,    0, PXF_NONE, PXK_CTRL, 0, 0, 0, 0, 0, 0, "no operation") \
X(MOV,    1, PXF_RR,   PXK_ALU,  0, 0, a, 0, A, 0, "rd = rs1") \
X(ADD,    2, PXF_RRR,  PXK_ALU,  0, 0, a + b, 0, Z3_mk_bvadd(c, A, B), 0, "rd = rs1 + rs2 (mod 2^64)") \
X(SUB,    3, PXF_RRR,  PXK_ALU,  0, 0, a - b, 0, Z3_mk_bvsub(c, A, B), 0, "rd = rs1 - rs2 (mod 2^64)") \
X(MUL,    4, PXF_RRR,  PXK_ALU,  0, 0, a * b, 0, Z3_mk_bvmul(c, A, B), 0, "rd = low 64 bits of rs1 * rs2") \
X(DIV,    5, PXF_RRR,  PXK_ALU,  0, 0, px_divu(a, b), b == 0, Z3_mk_bvudiv(c, A, B), ZEQ(B, 0), "rd = rs1 / rs2 unsigned; rs2 = 0 faults (DIV)") \
X(AND,    6, PXF_RRR,  PXK_ALU,  0, 0, a & b, 0, Z3_mk_bvand(c, A, B), 0, "rd = rs1 & rs2") \
X(OR,     7, PXF_RRR,  PXK_ALU,  0, 0, a | b, 0, Z3_mk_bvor(c, A, B), 0, "rd = rs1 | rs2") \
X(XOR,    8, PXF_RRR,  PXK_ALU,  0, 0, a ^ b, 0, Z3_mk_bvxor(c, A, B), 0, "rd = rs1 ^ rs2") \
X(NOT,    9, PXF_RR,   PXK_ALU,  0, 0, ~a, 0, Z3_mk_bvnot(c, A), 0, "rd = ~rs1") \
X(SHL,   10, PXF_RRR,  PXK_ALU,  0, 0, a << (b & 63), 0, Z3_mk_bvshl(c, A, M63(B)), 0, "rd = rs1 << (rs2 & 63)") \
X(SHR,   11, PXF_RRR,  PXK_ALU,  0, 0, a >> (b & 63), 0, Z3_mk_bvlshr(c, A, M63(B)), 0, "rd = rs1 >> (rs2 & 63), logical") \
X(LOAD,  12, PXF_LOAD, PXK_LOAD, 8, 0, v, 0, V, 0, "rd = mem64[rs1]") \
X(STORE, 13, PXF_STORE,PXK_STORE,8, 0, 0, 0, 0, 0, "mem64[rs1] = rs2") \
X(JUMP,  14, PXF_J,    PXK_CTRL, 0, 0, 0, 0, 0, 0, "pc = pc + 1 + off") \
X(JZ,    15, PXF_RJ,   PXK_CTRL, 0, 1, 0, 0, 0, 0, "if rd == 0: pc = pc + 1 + off") \
X(JNZ,   16, PXF_RJ,   PXK_CTRL, 0, 1, 0, 0, 0, 0, "if rd != 0: pc = pc + 1 + off") \
X(CALL,  17, PXF_J,    PXK_CTRL, 0, 0, 0, 0, 0, 0, "push pc + 1 (depth <= 8, else fault STACK); pc = pc + 1 + off") \
X(RET,   18, PXF_NONE, PXK_CTRL, 0, 0, 0, 0, 0, 0, "pop pc; with an empty call stack: end of program (as HALT)") \
X(LDI,   32, PXF_RS16, PXK_ALU,  0, 0, px_sext(imm16, 16), 0, K(px_sext(imm16, 16)), 0, "rd = imm sign-extended from 16 bits") \
X(LDHI,  33, PXF_RU16, PXK_ALU,  0, 1, (d << 16) | imm16, 0, Z3_mk_bvor(c, Z3_mk_bvshl(c, D, K(16)), K(imm16)), 0, "rd = (rd << 16) | imm (builds wide constants)") \
X(ADDI,  34, PXF_RRS8, PXK_ALU,  0, 0, a + px_sext(i2, 8), 0, Z3_mk_bvadd(c, A, K(px_sext(i2, 8))), 0, "rd = rs1 + imm (imm -128..127)") \
X(ANDI,  35, PXF_RRU8, PXK_ALU,  0, 0, a & i2, 0, Z3_mk_bvand(c, A, K(i2)), 0, "rd = rs1 & imm (imm 0..255, zero-extended)") \
X(ORI,   36, PXF_RRU8, PXK_ALU,  0, 0, a | i2, 0, Z3_mk_bvor(c, A, K(i2)), 0, "rd = rs1 | imm (imm 0..255)") \
X(XORI,  37, PXF_RRU8, PXK_ALU,  0, 0, a ^ i2, 0, Z3_mk_bvxor(c, A, K(i2)), 0, "rd = rs1 ^ imm (imm 0..255)") \
X(SHLI,  38, PXF_RRU6, PXK_ALU,  0, 0, a << i2, 0, Z3_mk_bvshl(c, A, K(i2)), 0, "rd = rs1 << imm (imm 0..63)") \
X(SHRI,  39, PXF_RRU6, PXK_ALU,  0, 0, a >> i2, 0, Z3_mk_bvlshr(c, A, K(i2)), 0, "rd = rs1 >> imm, logical") \
X(SARI,  40, PXF_RRU6, PXK_ALU,  0, 0, px_sar(a, i2), 0, Z3_mk_bvashr(c, A, K(i2)), 0, "rd = rs1 >> imm, arithmetic") \
X(ROLI,  41, PXF_RRU6, PXK_ALU,  0, 0, px_rol(a, i2), 0, Z3_mk_ext_rotate_left(c, A, K(i2)), 0, "rd = rs1 rotated left by imm (64-bit)") \
X(RORI,  42, PXF_RRU6, PXK_ALU,  0, 0, px_rol(a, 64 - i2), 0, Z3_mk_ext_rotate_right(c, A, K(i2)), 0, "rd = rs1 rotated right by imm (64-bit)") \
X(SAR,   43, PXF_RRR,  PXK_ALU,  0, 0, px_sar(a, b), 0, Z3_mk_bvashr(c, A, M63(B)), 0, "rd = rs1 >> (rs2 & 63), arithmetic") \
X(ROL,   44, PXF_RRR,  PXK_ALU,  0, 0, px_rol(a, b), 0, Z3_mk_ext_rotate_left(c, A, M63(B)), 0, "rd = rs1 rotated left by rs2 & 63") \
X(ROR,   45, PXF_RRR,  PXK_ALU,  0, 0, px_rol(a, 64 - (b & 63)), 0, Z3_mk_ext_rotate_right(c, A, M63(B)), 0, "rd = rs1 rotated right by rs2 & 63") \
X(CMPEQ, 46, PXF_RRR,  PXK_ALU,  0, 0, (uint64_t)(a == b), 0, ZB(Z3_mk_eq(c, A, B)), 0, "rd = rs1 == rs2 ? 1 : 0") \
X(CMPNE, 47, PXF_RRR,  PXK_ALU,  0, 0, (uint64_t)(a != b), 0, ZB(Z3_mk_not(c, Z3_mk_eq(c, A, B))), 0, "rd = rs1 != rs2 ? 1 : 0") \
X(CMPLTU,48, PXF_RRR,  PXK_ALU,  0, 0, (uint64_t)(a < b), 0, ZB(Z3_mk_bvult(c, A, B)), 0, "rd = rs1 < rs2 unsigned ? 1 : 0") \
X(CMPLTS,49, PXF_RRR,  PXK_ALU,  0, 0, (uint64_t)((int64_t)a < (int64_t)b), 0, ZB(Z3_mk_bvslt(c, A, B)), 0, "rd = rs1 < rs2 signed ? 1 : 0") \
X(CMPLEU,50, PXF_RRR,  PXK_ALU,  0, 0, (uint64_t)(a <= b), 0, ZB(Z3_mk_bvule(c, A, B)), 0, "rd = rs1 <= rs2 unsigned ? 1 : 0") \
X(CMPLES,51, PXF_RRR,  PXK_ALU,  0, 0, (uint64_t)((int64_t)a <= (int64_t)b), 0, ZB(Z3_mk_bvsle(c, A, B)), 0, "rd = rs1 <= rs2 signed ? 1 : 0") \
X(CMPEQZ,52, PXF_RR,   PXK_ALU,  0, 0, (uint64_t)(a == 0), 0, ZB(ZEQ(A, 0)), 0, "rd = rs1 == 0 ? 1 : 0") \
X(BIT,   53, PXF_RRU6, PXK_ALU,  0, 0, (a >> i2) & 1, 0, Z3_mk_bvand(c, Z3_mk_bvlshr(c, A, K(i2)), K(1)), 0, "rd = bit imm of rs1 (0 or 1)") \
X(CMOVNZ,54, PXF_RRR,  PXK_ALU,  0, 1, a != 0 ? b : d, 0, Z3_mk_ite(c, ZEQ(A, 0), D, B), 0, "rd = rs1 != 0 ? rs2 : rd") \
X(CMOVZ, 55, PXF_RRR,  PXK_ALU,  0, 1, a == 0 ? b : d, 0, Z3_mk_ite(c, ZEQ(A, 0), B, D), 0, "rd = rs1 == 0 ? rs2 : rd") \
X(MULHU, 56, PXF_RRR,  PXK_ALU,  0, 0, px_mulhu(a, b), 0, z_mulh(c, A, B, 0), 0, "rd = high 64 bits of the unsigned 128-bit product") \
X(MULHS, 57, PXF_RRR,  PXK_ALU,  0, 0, px_mulhs(a, b), 0, z_mulh(c, A, B, 1), 0, "rd = high 64 bits of the signed 128-bit product") \
X(DIVS,  58, PXF_RRR,  PXK_ALU,  0, 0, px_divs(a, b), px_sdiv_faults(a, b), Z3_mk_bvsdiv(c, A, B), z_sdiv_faults(c, A, B), "rd = rs1 / rs2 signed, rounded toward 0; rs2 = 0 or INT64_MIN / -1 faults (DIV)") \
X(REMU,  59, PXF_RRR,  PXK_ALU,  0, 0, px_remu(a, b), b == 0, Z3_mk_bvurem(c, A, B), ZEQ(B, 0), "rd = rs1 % rs2 unsigned; rs2 = 0 faults (DIV)") \
X(REMS,  60, PXF_RRR,  PXK_ALU,  0, 0, px_rems(a, b), px_sdiv_faults(a, b), Z3_mk_bvsrem(c, A, B), z_sdiv_faults(c, A, B), "rd = rs1 % rs2 signed (sign of rs1); faults as DIVS") \
X(ZEXT8, 61, PXF_RR,   PXK_ALU,  0, 0, a & 0xffu, 0, z_zext(c, A, 8), 0, "rd = rs1 & 0xff") \
X(ZEXT16,62, PXF_RR,   PXK_ALU,  0, 0, a & 0xffffu, 0, z_zext(c, A, 16), 0, "rd = rs1 & 0xffff") \
X(ZEXT32,63, PXF_RR,   PXK_ALU,  0, 0, a & 0xffffffffu, 0, z_zext(c, A, 32), 0, "rd = rs1 & 0xffffffff") \
X(SEXT8, 64, PXF_RR,   PXK_ALU,  0, 0, px_sext(a, 8), 0, z_sext(c, A, 8), 0, "rd = low 8 bits of rs1, sign-extended") \
X(SEXT16,65, PXF_RR,   PXK_ALU,  0, 0, px_sext(a, 16), 0, z_sext(c, A, 16), 0, "rd = low 16 bits of rs1, sign-extended") \
X(SEXT32,66, PXF_RR,   PXK_ALU,  0, 0, px_sext(a, 32), 0, z_sext(c, A, 32), 0, "rd = low 32 bits of rs1, sign-extended") \
X(INS8,  67, PXF_RR,   PXK_ALU,  0, 1, (d & ~(uint64_t)0xff) | (a & 0xff), 0, z_ins(c, D, A, 0, 8), 0, "rd[7:0] = rs1[7:0], other bits kept (AL)") \
X(INS8H, 68, PXF_RR,   PXK_ALU,  0, 1, (d & ~(uint64_t)0xff00) | ((a & 0xff) << 8), 0, z_ins(c, D, A, 8, 8), 0, "rd[15:8] = rs1[7:0], other bits kept (AH)") \
X(INS16, 69, PXF_RR,   PXK_ALU,  0, 1, (d & ~(uint64_t)0xffff) | (a & 0xffff), 0, z_ins(c, D, A, 0, 16), 0, "rd[15:0] = rs1[15:0], other bits kept (AX)") \
X(EXT8H, 70, PXF_RR,   PXK_ALU,  0, 0, (a >> 8) & 0xff, 0, z_zext(c, Z3_mk_bvlshr(c, A, K(8)), 8), 0, "rd = rs1[15:8] zero-extended (AH)") \
X(PARITY,71, PXF_RR,   PXK_ALU,  0, 0, px_parity8(a), 0, z_parity8(c, A), 0, "rd = 1 if rs1[7:0] has an even number of 1 bits, else 0 (x86 PF)") \
X(POPCNT,72, PXF_RR,   PXK_ALU,  0, 0, px_popcnt(a), 0, z_popcnt(c, A), 0, "rd = number of 1 bits in rs1") \
X(CLZ,   73, PXF_RR,   PXK_ALU,  0, 0, px_clz(a), 0, z_clz(c, A), 0, "rd = leading zero bits of rs1 (64 when rs1 = 0)") \
X(CTZ,   74, PXF_RR,   PXK_ALU,  0, 0, px_ctz(a), 0, z_ctz(c, A), 0, "rd = trailing zero bits of rs1 (64 when rs1 = 0)") \
X(BSWAP, 75, PXF_RR,   PXK_ALU,  0, 0, px_bswap64(a), 0, z_bswap(c, A, 8), 0, "rd = the 8 bytes of rs1 reversed") \
X(BSWAP32,76,PXF_RR,   PXK_ALU,  0, 0, px_bswap64(a << 32), 0, z_bswap(c, A, 4), 0, "rd = the low 4 bytes of rs1 reversed, zero-extended") \
X(NEG,   77, PXF_RR,   PXK_ALU,  0, 0, 0 - a, 0, Z3_mk_bvneg(c, A), 0, "rd = -rs1 (mod 2^64)") \
X(LD8,   78, PXF_LOAD, PXK_LOAD, 1, 0, v, 0, V, 0, "rd = mem8[rs1], zero-extended") \
X(LD16,  79, PXF_LOAD, PXK_LOAD, 2, 0, v, 0, V, 0, "rd = mem16[rs1], zero-extended") \
X(LD32,  80, PXF_LOAD, PXK_LOAD, 4, 0, v, 0, V, 0, "rd = mem32[rs1], zero-extended") \
X(LDS8,  81, PXF_LOAD, PXK_LOAD, 1, 0, px_sext(v, 8), 0, z_sext(c, V, 8), 0, "rd = mem8[rs1], sign-extended") \
X(LDS16, 82, PXF_LOAD, PXK_LOAD, 2, 0, px_sext(v, 16), 0, z_sext(c, V, 16), 0, "rd = mem16[rs1], sign-extended") \
X(LDS32, 83, PXF_LOAD, PXK_LOAD, 4, 0, px_sext(v, 32), 0, z_sext(c, V, 32), 0, "rd = mem32[rs1], sign-extended") \
X(ST8,   84, PXF_STORE,PXK_STORE,1, 0, 0, 0, 0, 0, "mem8[rs1] = rs2[7:0]") \
X(ST16,  85, PXF_STORE,PXK_STORE,2, 0, 0, 0, 0, 0, "mem16[rs1] = rs2[15:0]") \
X(ST32,  86, PXF_STORE,PXK_STORE,4, 0, 0, 0, 0, 0, "mem32[rs1] = rs2[31:0]") \
X(HALT, 255, PXF_NONE, PXK_CTRL, 0, 0, 0, 0, 0, 0, "end of program")

enum pixel_opcode {
#define PIXEL_X_ENUM(name, code, ...) PX_##name = code,
    PIXEL_OPCODES(PIXEL_X_ENUM)
#undef PIXEL_X_ENUM
};

/* The seeds' core: synthesis may be restricted to opcodes below this. */
#define PIXEL_CORE_LIMIT 32

struct pixel_insn {
    uint8_t op, rd, rs1, rs2;
};

/* Why an execution stopped early.  Every executor (interpreter, batched
 * CPU, CUDA) reports the same kind at the same pc for the same input; the
 * faulting instruction has no effect (registers and memory are as before it). */
enum pixel_fault {
    PIXEL_FAULT_NONE = 0,
    PIXEL_FAULT_DECODE,  /* unknown opcode or malformed operands (caught by pixel_decode) */
    PIXEL_FAULT_MEM,     /* access not entirely inside one guest memory region */
    PIXEL_FAULT_DIV,     /* division by zero, or signed INT64_MIN / -1 */
    PIXEL_FAULT_JUMP,    /* JUMP/JZ/JNZ/CALL target outside 0..n (n = program end) */
    PIXEL_FAULT_STACK,   /* CALL with PIXEL_CALL_DEPTH returns already pending */
    PIXEL_FAULT_STEPS,   /* the step limit was reached before the program ended */
    PIXEL_FAULT_COUNT
};

/* ---- semantic helpers (host and device; total functions, no UB) -------- */
PIXEL_HD uint64_t px_sext(uint64_t x, unsigned bits)
{
    uint64_t m = (uint64_t)1 << (bits - 1);
    x &= bits >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1);
    return (x ^ m) - m;
}
PIXEL_HD uint64_t px_sar(uint64_t a, uint64_t n)
{
    n &= 63;
    uint64_t r = a >> n;
    if ((a >> 63) && n)
        r |= ~(~(uint64_t)0 >> n);
    return r;
}
PIXEL_HD uint64_t px_rol(uint64_t a, uint64_t n)
{
    n &= 63;
    return n ? (a << n) | (a >> (64 - n)) : a;
}
PIXEL_HD uint64_t px_divu(uint64_t a, uint64_t b) { return b ? a / b : 0; }
PIXEL_HD uint64_t px_remu(uint64_t a, uint64_t b) { return b ? a % b : 0; }
PIXEL_HD int px_sdiv_faults(uint64_t a, uint64_t b)
{
    return b == 0 || (a == ((uint64_t)1 << 63) && b == ~(uint64_t)0);
}
PIXEL_HD uint64_t px_divs(uint64_t a, uint64_t b)
{
    return px_sdiv_faults(a, b) ? 0 : (uint64_t)((int64_t)a / (int64_t)b);
}
PIXEL_HD uint64_t px_rems(uint64_t a, uint64_t b)
{
    return px_sdiv_faults(a, b) ? 0 : (uint64_t)((int64_t)a % (int64_t)b);
}
PIXEL_HD uint64_t px_mulhu(uint64_t a, uint64_t b)
{
#ifdef __CUDA_ARCH__
    return __umul64hi(a, b);
#else
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
#endif
}
PIXEL_HD uint64_t px_mulhs(uint64_t a, uint64_t b)
{
#ifdef __CUDA_ARCH__
    return (uint64_t)__mul64hi((long long)a, (long long)b);
#else
    return (uint64_t)(((__int128)(int64_t)a * (int64_t)b) >> 64);
#endif
}
PIXEL_HD uint64_t px_popcnt(uint64_t a)
{
#ifdef __CUDA_ARCH__
    return (uint64_t)__popcll(a);
#else
    return (uint64_t)__builtin_popcountll(a);
#endif
}
PIXEL_HD uint64_t px_parity8(uint64_t a) { return (px_popcnt(a & 0xff) & 1) ^ 1; }
PIXEL_HD uint64_t px_clz(uint64_t a)
{
#ifdef __CUDA_ARCH__
    return (uint64_t)__clzll((long long)a);
#else
    return a ? (uint64_t)__builtin_clzll(a) : 64;
#endif
}
PIXEL_HD uint64_t px_ctz(uint64_t a)
{
#ifdef __CUDA_ARCH__
    return a ? (uint64_t)(__ffsll((long long)a) - 1) : 64;
#else
    return a ? (uint64_t)__builtin_ctzll(a) : 64;
#endif
}
PIXEL_HD uint64_t px_bswap64(uint64_t a)
{
    uint64_t r = 0;
    for (int i = 0; i < 8; i++)
        r = (r << 8) | ((a >> (8 * i)) & 0xff);
    return r;
}

/* A memory access of w bytes at addr lies inside the region [base, base+size)
 * (entirely: an access straddling two regions faults, even adjacent ones). */
PIXEL_HD int pixel_in_region(uint64_t base, uint32_t size, uint64_t addr, unsigned w)
{
    return addr >= base && size >= w && addr - base <= (uint64_t)(size - w);
}

/* The result of one ALU or load instruction (kind ALU / LOAD), and its DIV
 * fault condition: generated from the table, shared by every C and CUDA
 * executor so that they cannot disagree. */
PIXEL_HD uint64_t pixel_alu(uint8_t op, uint64_t a, uint64_t b, uint64_t d,
                            uint8_t rs1, uint8_t rs2, uint64_t v, int *div_fault)
{
    uint64_t i2 = rs2, imm16 = (uint64_t)rs1 | ((uint64_t)rs2 << 8);
    (void)a; (void)b; (void)d; (void)i2; (void)imm16; (void)v;
    switch (op) {
#define PIXEL_X_ALU(name, code, form, kind, w, rdin, cres, cfault, ...) \
    case code: if (kind == PXK_ALU || kind == PXK_LOAD) { \
            if (cfault) { *div_fault = 1; return 0; } \
            return (uint64_t)(cres); } \
        return 0;
    PIXEL_OPCODES(PIXEL_X_ALU)
#undef PIXEL_X_ALU
    default:
        return 0;
    }
}

/* Operand form, kind and memory width of an opcode, from the table
 * (form -1: undefined opcode).  Usable on the device. */
PIXEL_HD int pixel_op_form(uint8_t op)
{
    switch (op) {
#define PIXEL_X_FORM(name, code, form, ...) case code: return form;
    PIXEL_OPCODES(PIXEL_X_FORM)
#undef PIXEL_X_FORM
    default: return -1;
    }
}
PIXEL_HD int pixel_op_kind(uint8_t op)
{
    switch (op) {
#define PIXEL_X_KIND(name, code, form, kind, ...) case code: return kind;
    PIXEL_OPCODES(PIXEL_X_KIND)
#undef PIXEL_X_KIND
    default: return -1;
    }
}
PIXEL_HD unsigned pixel_op_width(uint8_t op)
{
    switch (op) {
#define PIXEL_X_WIDTH(name, code, form, kind, w, ...) case code: return w;
    PIXEL_OPCODES(PIXEL_X_WIDTH)
#undef PIXEL_X_WIDTH
    default: return 0;
    }
}

/* One instruction is well formed: defined opcode, registers < 32, shift
 * immediates < 64, unused fields 0 (jump targets are checked per program). */
PIXEL_HD int pixel_insn_ok(uint8_t op, uint8_t rd, uint8_t rs1, uint8_t rs2)
{
    const unsigned R = PIXEL_NREGS;
    switch (pixel_op_form(op)) {
    case PXF_NONE: return !rd && !rs1 && !rs2;
    case PXF_RR: return rd < R && rs1 < R && !rs2;
    case PXF_RRR: return rd < R && rs1 < R && rs2 < R;
    case PXF_RRU6: return rd < R && rs1 < R && rs2 < 64;
    case PXF_RRS8: case PXF_RRU8: return rd < R && rs1 < R;
    case PXF_RS16: case PXF_RU16: return rd < R;
    case PXF_LOAD: return rd < R && rs1 < R && !rs2;
    case PXF_STORE: return !rd && rs1 < R && rs2 < R;
    case PXF_J: return !rd;
    case PXF_RJ: return rd < R;
    default: return 0;
    }
}

/* Index of the first malformed instruction or out-of-range jump target
 * (0..n allowed) of a program, or -1 when it is valid. */
PIXEL_HD long pixel_prog_first_bad(const uint8_t *bytes, uint32_t n)
{
    if (n > PIXEL_MAX_INSNS)
        return PIXEL_MAX_INSNS;
    for (uint32_t k = 0; k < n; k++) {
        const uint8_t *b = bytes + 4 * (uint64_t)k;
        if (!pixel_insn_ok(b[0], b[1], b[2], b[3]))
            return (long)k;
        int f = pixel_op_form(b[0]);
        if (f == PXF_J || f == PXF_RJ) {
            long t = (long)k + 1 + (int16_t)(uint16_t)(b[2] | b[3] << 8);
            if (t < 0 || t > (long)n)
                return (long)k;
        }
    }
    return -1;
}

/* Instruction fields as a little-endian u32 and back. */
PIXEL_HD uint32_t pixel_insn_word(struct pixel_insn i)
{
    return (uint32_t)i.op | (uint32_t)i.rd << 8 | (uint32_t)i.rs1 << 16 | (uint32_t)i.rs2 << 24;
}
PIXEL_HD struct pixel_insn pixel_word_insn(uint32_t w)
{
    struct pixel_insn i = { (uint8_t)w, (uint8_t)(w >> 8), (uint8_t)(w >> 16), (uint8_t)(w >> 24) };
    return i;
}
/* Jump offset (PXF_J / PXF_RJ) and 16-bit immediates. */
PIXEL_HD int32_t pixel_insn_off16(struct pixel_insn i) { return (int16_t)(uint16_t)(i.rs1 | i.rs2 << 8); }

/* ---- host-side API (common/pixel_isa.c) ---------------------------------- */
#ifndef __CUDACC__
#include <stdbool.h>
#include <stddef.h>

struct pixel_opinfo {
    const char *name;        /* NULL: opcode not defined */
    uint8_t code;
    uint8_t form;            /* enum pixel_form */
    uint8_t kind;            /* enum pixel_kind */
    uint8_t width;           /* bytes for loads/stores */
    bool reads_rd;
    bool can_div_fault;
    const char *doc;
};

/* Information about opcode `op`; ->name is NULL when it is undefined. */
const struct pixel_opinfo *pixel_opinfo(uint8_t op);
/* Opcode by (case-insensitive) mnemonic; -1 when unknown. */
int pixel_opcode_by_name(const char *name);
const char *pixel_form_name(enum pixel_form f);
const char *pixel_fault_name(enum pixel_fault f);

/* Checks one instruction: opcode defined, registers < 32, immediates in
 * range, fields the form does not use are 0.  On error writes a message
 * (naming the field and value) to err when given and returns false. */
bool pixel_insn_valid(struct pixel_insn i, char *err, size_t errlen);

/* Decodes `len` bytes (a multiple of 4) into out (capacity max); checks
 * every instruction and every jump target (0..n).  Returns the count, or
 * -1 with a message naming the instruction index. */
int pixel_decode(const uint8_t *bytes, size_t len, struct pixel_insn *out, size_t max,
                 char *err, size_t errlen);
/* Encodes n instructions into 4*n bytes. */
void pixel_encode(const struct pixel_insn *in, size_t n, uint8_t *bytes);

/* The opcode table of docs/pixel-isa.md (Markdown), generated from
 * PIXEL_OPCODES; returns the length needed, like snprintf. */
size_t pixel_isa_markdown(char *buf, size_t len);

/* Checks a whole program (as pixel_decode does after decoding). */
bool pixel_prog_valid(const struct pixel_insn *p, size_t n, char *err, size_t errlen);
#endif

#endif /* TCGL_PIXEL_ISA_H */
