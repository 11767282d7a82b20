/* x86_forms.h — THE table of supported x86-64 instruction forms.
 *
 * A form is one mnemonic with one operand signature (operand kinds and
 * widths).  Everything about x86 support derives from the two X-macro tables
 * below: the decoder maps a decoded instruction onto a form (or reports it
 * unsupported with its mnemonic), the Z3 lifter (x86_sem.c) gives each
 * semantic operation its meaning, docs/x86-coverage.md is generated from it
 * (run/src/x86-coverage), and the co-simulation test runs every form against
 * the host CPU.  Nothing outside this table is ever guessed.
 *
 * Operand kinds (visible operands in Intel order, as Zydis reports them;
 * implicit-but-visible operands such as the `1` of `shl eax, 1` or the CL of
 * `shl eax, cl` have kinds of their own):
 *   R8..R64  general register of that width (R8 includes AH..BH)
 *   M8..M64  memory operand of that width: [base + index*scale + disp] or
 *            [rip + disp]; no segment override, 64-bit addressing only
 *   MA       memory operand whose address only is used (lea)
 *   I        immediate, sign-extended by the encoding to the operand width
 *   ONE      the implicit constant 1 of the shift/rotate-by-one encodings
 *   CL       the implicit CL count register of shifts and rotates
 *   REL      a rip-relative branch displacement (rel8 or rel32)
 */
#ifndef TCGL_X86_FORMS_H
#define TCGL_X86_FORMS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "x86_state.h"

enum x86_opkind {
    X86_OK_NONE, X86_OK_R8, X86_OK_R16, X86_OK_R32, X86_OK_R64,
    X86_OK_M8, X86_OK_M16, X86_OK_M32, X86_OK_M64, X86_OK_MA,
    X86_OK_I, X86_OK_ONE, X86_OK_CL, X86_OK_REL,
    X86_OK_COUNT
};

/* Condition codes in their encoding order (the low nibble of Jcc/SETcc/CMOVcc). */
enum x86_cc {
    X86_CC_O, X86_CC_NO, X86_CC_B, X86_CC_AE, X86_CC_E, X86_CC_NE, X86_CC_BE, X86_CC_A,
    X86_CC_S, X86_CC_NS, X86_CC_P, X86_CC_NP, X86_CC_L, X86_CC_GE, X86_CC_LE, X86_CC_G,
    X86_CC_NONE = 0xff
};

/* Flag masks for the semantic table (bit f = enum x86_flag f). */
#define XF_C  (1u << X86_CF)
#define XF_P  (1u << X86_PF)
#define XF_A  (1u << X86_AF)
#define XF_Z  (1u << X86_ZF)
#define XF_S  (1u << X86_SF)
#define XF_O  (1u << X86_OF)
#define XF_ALL (XF_C | XF_P | XF_A | XF_Z | XF_S | XF_O)
#define XF_NONE 0u

/* Semantic operations: X(name, flags written, flags left undefined, kind, what).
 * "written" includes the undefined ones.  kind: 0 straight-line, 1 block
 * terminator.  Flags whose definedness depends on the operands (shift and
 * rotate counts) are listed as written and documented in `what`; the lifter
 * computes their undefinedness per state. */
#define X86_SEM_TABLE(X) \
    X(MOV,    XF_NONE, XF_NONE, 0, "dst = src (32-bit destinations zero-extend into the 64-bit register)") \
    X(MOVZX,  XF_NONE, XF_NONE, 0, "dst = zero-extend(src)") \
    X(MOVSX,  XF_NONE, XF_NONE, 0, "dst = sign-extend(src) (movsx, movsxd)") \
    X(LEA,    XF_NONE, XF_NONE, 0, "dst = effective address truncated to the destination width; no memory access") \
    X(ADD,    XF_ALL,  XF_NONE, 0, "dst = dst + src") \
    X(ADC,    XF_ALL,  XF_NONE, 0, "dst = dst + src + CF") \
    X(SUB,    XF_ALL,  XF_NONE, 0, "dst = dst - src") \
    X(SBB,    XF_ALL,  XF_NONE, 0, "dst = dst - (src + CF)") \
    X(CMP,    XF_ALL,  XF_NONE, 0, "flags of dst - src; no write") \
    X(AND,    XF_ALL,  XF_A,    0, "dst = dst & src; CF = OF = 0") \
    X(OR,     XF_ALL,  XF_A,    0, "dst = dst | src; CF = OF = 0") \
    X(XOR,    XF_ALL,  XF_A,    0, "dst = dst ^ src; CF = OF = 0") \
    X(TEST,   XF_ALL,  XF_A,    0, "flags of dst & src; CF = OF = 0; no write") \
    X(INC,    XF_P | XF_A | XF_Z | XF_S | XF_O, XF_NONE, 0, "dst = dst + 1; CF unchanged") \
    X(DEC,    XF_P | XF_A | XF_Z | XF_S | XF_O, XF_NONE, 0, "dst = dst - 1; CF unchanged") \
    X(NEG,    XF_ALL,  XF_NONE, 0, "dst = 0 - dst; CF = (dst != 0)") \
    X(NOT,    XF_NONE, XF_NONE, 0, "dst = ~dst") \
    X(SHL,    XF_ALL,  XF_NONE, 0, "count masked to 5 bits (6 for 64-bit); count 0: nothing changes; else AF undefined, OF defined only for count 1, CF undefined for count >= width") \
    X(SHR,    XF_ALL,  XF_NONE, 0, "logical right shift; flags as SHL") \
    X(SAR,    XF_ALL,  XF_NONE, 0, "arithmetic right shift; flags as SHL but OF = 0 for count 1 and CF = last bit out (the sign when count >= width)") \
    X(ROL,    XF_C | XF_O, XF_NONE, 0, "rotate left by (masked count) mod width; masked count 0: nothing changes; CF = low bit of the result; OF defined only for masked count 1") \
    X(ROR,    XF_C | XF_O, XF_NONE, 0, "rotate right; CF = top bit of the result; OF as ROL") \
    X(IMUL1,  XF_ALL,  XF_P | XF_A | XF_Z | XF_S, 0, "rDX:rAX = rAX * src signed (AX = AL * src for 8-bit); CF = OF = high half is not the sign extension of the low") \
    X(IMUL2,  XF_ALL,  XF_P | XF_A | XF_Z | XF_S, 0, "dst = dst * src (truncated); CF = OF = signed overflow") \
    X(IMUL3,  XF_ALL,  XF_P | XF_A | XF_Z | XF_S, 0, "dst = src * imm (truncated); CF = OF = signed overflow") \
    X(MUL,    XF_ALL,  XF_P | XF_A | XF_Z | XF_S, 0, "rDX:rAX = rAX * src unsigned (AX = AL * src for 8-bit); CF = OF = high half != 0") \
    X(SETCC,  XF_NONE, XF_NONE, 0, "dst8 = cc ? 1 : 0") \
    X(CMOVCC, XF_NONE, XF_NONE, 0, "dst = cc ? src : dst; a 32-bit destination is zero-extended even when cc is false") \
    X(BSWAP,  XF_NONE, XF_NONE, 0, "reverse the bytes of dst") \
    X(XCHG,   XF_NONE, XF_NONE, 0, "swap dst and src (with memory: implicitly locked)") \
    X(PUSH,   XF_NONE, XF_NONE, 0, "rsp -= 8; [rsp] = src (the value of rsp before the push for push rsp; immediates sign-extended)") \
    X(POP,    XF_NONE, XF_NONE, 0, "dst = [rsp]; rsp += 8 (pop rsp: rsp = loaded value)") \
    X(CBW,    XF_NONE, XF_NONE, 0, "cbw/cwde/cdqe: rAX(width) = sign-extend(rAX(width/2))") \
    X(CWD,    XF_NONE, XF_NONE, 0, "cwd/cdq/cqo: rDX(width) = sign of rAX(width) replicated") \
    X(BT,     XF_ALL,  XF_P | XF_A | XF_S | XF_O, 0, "CF = bit (src mod width) of dst; ZF unchanged; register or memory base with immediate bit offset only") \
    X(POPCNT, XF_ALL,  XF_NONE, 0, "dst = number of set bits of src; ZF = (src == 0); CF = PF = AF = SF = OF = 0") \
    X(LZCNT,  XF_ALL,  XF_P | XF_A | XF_S | XF_O, 0, "dst = leading zero bits of src (width if 0); CF = (src == 0); ZF = (dst == 0)") \
    X(TZCNT,  XF_ALL,  XF_P | XF_A | XF_S | XF_O, 0, "dst = trailing zero bits of src (width if 0); CF = (src == 0); ZF = (dst == 0)") \
    X(NOP,    XF_NONE, XF_NONE, 0, "nothing") \
    X(JCC,    XF_NONE, XF_NONE, 1, "branch condition = cc; taken target = next rip + rel; else falls through") \
    X(JMP,    XF_NONE, XF_NONE, 1, "rip = target (relative or register; through memory is unsupported)") \
    X(CALL,   XF_NONE, XF_NONE, 1, "push the next rip; rip = target (relative or register)") \
    X(RET,    XF_NONE, XF_NONE, 1, "rip = [rsp]; rsp += 8")

enum x86_sem {
#define X86_SEM_ENUM(name, w, u, k, d) X86_SEM_##name,
    X86_SEM_TABLE(X86_SEM_ENUM)
#undef X86_SEM_ENUM
    X86_SEM_COUNT
};

/* ---- the forms: X(id, Zydis mnemonic, semantic op, condition, op1, op2, op3) ---- */

/* Two-operand ALU ops with their register, immediate and memory variants. */
#define X86_FORMS_ALU(X, m, M) \
    X(m##_r8_r8,   M, M, NONE, R8,  R8,  NONE) \
    X(m##_r16_r16, M, M, NONE, R16, R16, NONE) \
    X(m##_r32_r32, M, M, NONE, R32, R32, NONE) \
    X(m##_r64_r64, M, M, NONE, R64, R64, NONE) \
    X(m##_r8_i,    M, M, NONE, R8,  I,   NONE) \
    X(m##_r16_i,   M, M, NONE, R16, I,   NONE) \
    X(m##_r32_i,   M, M, NONE, R32, I,   NONE) \
    X(m##_r64_i,   M, M, NONE, R64, I,   NONE) \
    X(m##_r8_m8,   M, M, NONE, R8,  M8,  NONE) \
    X(m##_r32_m32, M, M, NONE, R32, M32, NONE) \
    X(m##_r64_m64, M, M, NONE, R64, M64, NONE) \
    X(m##_m32_r32, M, M, NONE, M32, R32, NONE) \
    X(m##_m64_r64, M, M, NONE, M64, R64, NONE) \
    X(m##_m32_i,   M, M, NONE, M32, I,   NONE) \
    X(m##_m64_i,   M, M, NONE, M64, I,   NONE)

/* Unary ops on registers and memory. */
#define X86_FORMS_UNARY(X, m, M) \
    X(m##_r8,  M, M, NONE, R8,  NONE, NONE) \
    X(m##_r16, M, M, NONE, R16, NONE, NONE) \
    X(m##_r32, M, M, NONE, R32, NONE, NONE) \
    X(m##_r64, M, M, NONE, R64, NONE, NONE) \
    X(m##_m32, M, M, NONE, M32, NONE, NONE) \
    X(m##_m64, M, M, NONE, M64, NONE, NONE)

/* Shifts and rotates: by one, by an immediate, by CL, in every width. */
#define X86_FORMS_SHIFT(X, m, M) \
    X(m##_r8_1,   M, M, NONE, R8,  ONE, NONE) \
    X(m##_r16_1,  M, M, NONE, R16, ONE, NONE) \
    X(m##_r32_1,  M, M, NONE, R32, ONE, NONE) \
    X(m##_r64_1,  M, M, NONE, R64, ONE, NONE) \
    X(m##_r8_i,   M, M, NONE, R8,  I,   NONE) \
    X(m##_r16_i,  M, M, NONE, R16, I,   NONE) \
    X(m##_r32_i,  M, M, NONE, R32, I,   NONE) \
    X(m##_r64_i,  M, M, NONE, R64, I,   NONE) \
    X(m##_r8_cl,  M, M, NONE, R8,  CL,  NONE) \
    X(m##_r16_cl, M, M, NONE, R16, CL,  NONE) \
    X(m##_r32_cl, M, M, NONE, R32, CL,  NONE) \
    X(m##_r64_cl, M, M, NONE, R64, CL,  NONE) \
    X(m##_m32_i,  M, M, NONE, M32, I,   NONE)

/* The 16 condition codes, for Jcc / SETcc / CMOVcc: X(cc suffix, Zydis suffix). */
#define X86_CC_LIST(Y, X) \
    Y(X, o, O) Y(X, no, NO) Y(X, b, B) Y(X, ae, NB) Y(X, e, Z) Y(X, ne, NZ) Y(X, be, BE) Y(X, a, NBE) \
    Y(X, s, S) Y(X, ns, NS) Y(X, p, P) Y(X, np, NP) Y(X, l, L) Y(X, ge, NL) Y(X, le, LE) Y(X, g, NLE)
/* Condition enumerators by suffix (X86_CC_ae etc. alias the canonical names). */
enum {
    X86_CC_o = X86_CC_O, X86_CC_no = X86_CC_NO, X86_CC_b = X86_CC_B, X86_CC_ae = X86_CC_AE,
    X86_CC_e = X86_CC_E, X86_CC_ne = X86_CC_NE, X86_CC_be = X86_CC_BE, X86_CC_a = X86_CC_A,
    X86_CC_s = X86_CC_S, X86_CC_ns = X86_CC_NS, X86_CC_p = X86_CC_P, X86_CC_np = X86_CC_NP,
    X86_CC_l = X86_CC_L, X86_CC_ge = X86_CC_GE, X86_CC_le = X86_CC_LE, X86_CC_g = X86_CC_G
};
#define X86_FORM_JCC(X, c, Z)    X(j##c##_rel,       J##Z,    JCC,    c, REL, NONE, NONE)
#define X86_FORM_SETCC(X, c, Z)  X(set##c##_r8,      SET##Z,  SETCC,  c, R8,  NONE, NONE)
#define X86_FORM_CMOVCC(X, c, Z) X(cmov##c##_r32_r32, CMOV##Z, CMOVCC, c, R32, R32, NONE) \
                                 X(cmov##c##_r64_r64, CMOV##Z, CMOVCC, c, R64, R64, NONE)

#define X86_FORM_TABLE(X) \
    X(mov_r8_r8,     MOV, MOV, NONE, R8,  R8,  NONE) \
    X(mov_r16_r16,   MOV, MOV, NONE, R16, R16, NONE) \
    X(mov_r32_r32,   MOV, MOV, NONE, R32, R32, NONE) \
    X(mov_r64_r64,   MOV, MOV, NONE, R64, R64, NONE) \
    X(mov_r8_i,      MOV, MOV, NONE, R8,  I,   NONE) \
    X(mov_r16_i,     MOV, MOV, NONE, R16, I,   NONE) \
    X(mov_r32_i,     MOV, MOV, NONE, R32, I,   NONE) \
    X(mov_r64_i,     MOV, MOV, NONE, R64, I,   NONE) \
    X(mov_r8_m8,     MOV, MOV, NONE, R8,  M8,  NONE) \
    X(mov_r16_m16,   MOV, MOV, NONE, R16, M16, NONE) \
    X(mov_r32_m32,   MOV, MOV, NONE, R32, M32, NONE) \
    X(mov_r64_m64,   MOV, MOV, NONE, R64, M64, NONE) \
    X(mov_m8_r8,     MOV, MOV, NONE, M8,  R8,  NONE) \
    X(mov_m16_r16,   MOV, MOV, NONE, M16, R16, NONE) \
    X(mov_m32_r32,   MOV, MOV, NONE, M32, R32, NONE) \
    X(mov_m64_r64,   MOV, MOV, NONE, M64, R64, NONE) \
    X(mov_m8_i,      MOV, MOV, NONE, M8,  I,   NONE) \
    X(mov_m32_i,     MOV, MOV, NONE, M32, I,   NONE) \
    X(mov_m64_i,     MOV, MOV, NONE, M64, I,   NONE) \
    X(movzx_r16_r8,  MOVZX, MOVZX, NONE, R16, R8,  NONE) \
    X(movzx_r32_r8,  MOVZX, MOVZX, NONE, R32, R8,  NONE) \
    X(movzx_r32_r16, MOVZX, MOVZX, NONE, R32, R16, NONE) \
    X(movzx_r64_r8,  MOVZX, MOVZX, NONE, R64, R8,  NONE) \
    X(movzx_r64_r16, MOVZX, MOVZX, NONE, R64, R16, NONE) \
    X(movzx_r32_m8,  MOVZX, MOVZX, NONE, R32, M8,  NONE) \
    X(movzx_r32_m16, MOVZX, MOVZX, NONE, R32, M16, NONE) \
    X(movsx_r16_r8,  MOVSX, MOVSX, NONE, R16, R8,  NONE) \
    X(movsx_r32_r8,  MOVSX, MOVSX, NONE, R32, R8,  NONE) \
    X(movsx_r32_r16, MOVSX, MOVSX, NONE, R32, R16, NONE) \
    X(movsx_r64_r8,  MOVSX, MOVSX, NONE, R64, R8,  NONE) \
    X(movsx_r64_r16, MOVSX, MOVSX, NONE, R64, R16, NONE) \
    X(movsx_r32_m8,  MOVSX, MOVSX, NONE, R32, M8,  NONE) \
    X(movsx_r64_m16, MOVSX, MOVSX, NONE, R64, M16, NONE) \
    X(movsxd_r64_r32, MOVSXD, MOVSX, NONE, R64, R32, NONE) \
    X(movsxd_r64_m32, MOVSXD, MOVSX, NONE, R64, M32, NONE) \
    X(lea_r32_m,     LEA, LEA, NONE, R32, MA, NONE) \
    X(lea_r64_m,     LEA, LEA, NONE, R64, MA, NONE) \
    X86_FORMS_ALU(X, add, ADD) \
    X86_FORMS_ALU(X, adc, ADC) \
    X86_FORMS_ALU(X, sub, SUB) \
    X86_FORMS_ALU(X, sbb, SBB) \
    X86_FORMS_ALU(X, and, AND) \
    X86_FORMS_ALU(X, or,  OR) \
    X86_FORMS_ALU(X, xor, XOR) \
    X86_FORMS_ALU(X, cmp, CMP) \
    X(test_r8_r8,    TEST, TEST, NONE, R8,  R8,  NONE) \
    X(test_r16_r16,  TEST, TEST, NONE, R16, R16, NONE) \
    X(test_r32_r32,  TEST, TEST, NONE, R32, R32, NONE) \
    X(test_r64_r64,  TEST, TEST, NONE, R64, R64, NONE) \
    X(test_r8_i,     TEST, TEST, NONE, R8,  I,   NONE) \
    X(test_r32_i,    TEST, TEST, NONE, R32, I,   NONE) \
    X(test_r64_i,    TEST, TEST, NONE, R64, I,   NONE) \
    X(test_m32_r32,  TEST, TEST, NONE, M32, R32, NONE) \
    X(test_m8_i,     TEST, TEST, NONE, M8,  I,   NONE) \
    X86_FORMS_UNARY(X, inc, INC) \
    X86_FORMS_UNARY(X, dec, DEC) \
    X86_FORMS_UNARY(X, neg, NEG) \
    X86_FORMS_UNARY(X, not, NOT) \
    X86_FORMS_SHIFT(X, shl, SHL) \
    X86_FORMS_SHIFT(X, shr, SHR) \
    X86_FORMS_SHIFT(X, sar, SAR) \
    X86_FORMS_SHIFT(X, rol, ROL) \
    X86_FORMS_SHIFT(X, ror, ROR) \
    X(imul_r8,         IMUL, IMUL1, NONE, R8,  NONE, NONE) \
    X(imul_r16,        IMUL, IMUL1, NONE, R16, NONE, NONE) \
    X(imul_r32,        IMUL, IMUL1, NONE, R32, NONE, NONE) \
    X(imul_r64,        IMUL, IMUL1, NONE, R64, NONE, NONE) \
    X(imul_r16_r16,    IMUL, IMUL2, NONE, R16, R16, NONE) \
    X(imul_r32_r32,    IMUL, IMUL2, NONE, R32, R32, NONE) \
    X(imul_r64_r64,    IMUL, IMUL2, NONE, R64, R64, NONE) \
    X(imul_r32_m32,    IMUL, IMUL2, NONE, R32, M32, NONE) \
    X(imul_r64_m64,    IMUL, IMUL2, NONE, R64, M64, NONE) \
    X(imul_r16_r16_i,  IMUL, IMUL3, NONE, R16, R16, I) \
    X(imul_r32_r32_i,  IMUL, IMUL3, NONE, R32, R32, I) \
    X(imul_r64_r64_i,  IMUL, IMUL3, NONE, R64, R64, I) \
    X(imul_r32_m32_i,  IMUL, IMUL3, NONE, R32, M32, I) \
    X(mul_r8,          MUL, MUL, NONE, R8,  NONE, NONE) \
    X(mul_r16,         MUL, MUL, NONE, R16, NONE, NONE) \
    X(mul_r32,         MUL, MUL, NONE, R32, NONE, NONE) \
    X(mul_r64,         MUL, MUL, NONE, R64, NONE, NONE) \
    X(mul_m32,         MUL, MUL, NONE, M32, NONE, NONE) \
    X(mul_m64,         MUL, MUL, NONE, M64, NONE, NONE) \
    X86_CC_LIST(X86_FORM_SETCC, X) \
    X(setne_m8,        SETNZ, SETCC, ne, M8, NONE, NONE) \
    X86_CC_LIST(X86_FORM_CMOVCC, X) \
    X(cmove_r64_m64,   CMOVZ, CMOVCC, e, R64, M64, NONE) \
    X(bswap_r32,       BSWAP, BSWAP, NONE, R32, NONE, NONE) \
    X(bswap_r64,       BSWAP, BSWAP, NONE, R64, NONE, NONE) \
    X(xchg_r8_r8,      XCHG, XCHG, NONE, R8,  R8,  NONE) \
    X(xchg_r16_r16,    XCHG, XCHG, NONE, R16, R16, NONE) \
    X(xchg_r32_r32,    XCHG, XCHG, NONE, R32, R32, NONE) \
    X(xchg_r64_r64,    XCHG, XCHG, NONE, R64, R64, NONE) \
    X(xchg_m32_r32,    XCHG, XCHG, NONE, M32, R32, NONE) \
    X(xchg_m64_r64,    XCHG, XCHG, NONE, M64, R64, NONE) \
    X(push_r64,        PUSH, PUSH, NONE, R64, NONE, NONE) \
    X(push_m64,        PUSH, PUSH, NONE, M64, NONE, NONE) \
    X(push_i,          PUSH, PUSH, NONE, I,   NONE, NONE) \
    X(pop_r64,         POP,  POP,  NONE, R64, NONE, NONE) \
    X(pop_m64,         POP,  POP,  NONE, M64, NONE, NONE) \
    X(cbw,             CBW,  CBW,  NONE, NONE, NONE, NONE) \
    X(cwde,            CWDE, CBW,  NONE, NONE, NONE, NONE) \
    X(cdqe,            CDQE, CBW,  NONE, NONE, NONE, NONE) \
    X(cwd,             CWD,  CWD,  NONE, NONE, NONE, NONE) \
    X(cdq,             CDQ,  CWD,  NONE, NONE, NONE, NONE) \
    X(cqo,             CQO,  CWD,  NONE, NONE, NONE, NONE) \
    X(bt_r16_r16,      BT, BT, NONE, R16, R16, NONE) \
    X(bt_r32_r32,      BT, BT, NONE, R32, R32, NONE) \
    X(bt_r64_r64,      BT, BT, NONE, R64, R64, NONE) \
    X(bt_r32_i,        BT, BT, NONE, R32, I,   NONE) \
    X(bt_r64_i,        BT, BT, NONE, R64, I,   NONE) \
    X(bt_m32_i,        BT, BT, NONE, M32, I,   NONE) \
    X(popcnt_r16_r16,  POPCNT, POPCNT, NONE, R16, R16, NONE) \
    X(popcnt_r32_r32,  POPCNT, POPCNT, NONE, R32, R32, NONE) \
    X(popcnt_r64_r64,  POPCNT, POPCNT, NONE, R64, R64, NONE) \
    X(popcnt_r32_m32,  POPCNT, POPCNT, NONE, R32, M32, NONE) \
    X(lzcnt_r16_r16,   LZCNT, LZCNT, NONE, R16, R16, NONE) \
    X(lzcnt_r32_r32,   LZCNT, LZCNT, NONE, R32, R32, NONE) \
    X(lzcnt_r64_r64,   LZCNT, LZCNT, NONE, R64, R64, NONE) \
    X(lzcnt_r32_m32,   LZCNT, LZCNT, NONE, R32, M32, NONE) \
    X(tzcnt_r16_r16,   TZCNT, TZCNT, NONE, R16, R16, NONE) \
    X(tzcnt_r32_r32,   TZCNT, TZCNT, NONE, R32, R32, NONE) \
    X(tzcnt_r64_r64,   TZCNT, TZCNT, NONE, R64, R64, NONE) \
    X(tzcnt_r64_m64,   TZCNT, TZCNT, NONE, R64, M64, NONE) \
    X(nop,             NOP, NOP, NONE, NONE, NONE, NONE) \
    X86_CC_LIST(X86_FORM_JCC, X) \
    X(jmp_rel,         JMP,  JMP,  NONE, REL, NONE, NONE) \
    X(jmp_r64,         JMP,  JMP,  NONE, R64, NONE, NONE) \
    X(call_rel,        CALL, CALL, NONE, REL, NONE, NONE) \
    X(call_r64,        CALL, CALL, NONE, R64, NONE, NONE) \
    X(ret,             RET,  RET,  NONE, NONE, NONE, NONE)

enum x86_form_id {
#define X86_FORM_ENUM(id, mn, sem, cc, o1, o2, o3) X86_FORM_##id,
    X86_FORM_TABLE(X86_FORM_ENUM)
#undef X86_FORM_ENUM
    X86_FORM_COUNT,
    X86_FORM_UNSUPPORTED = 0xffff
};

struct x86_form {
    const char *name;          /* "add_r32_i" */
    int zydis_mnemonic;        /* ZydisMnemonic */
    enum x86_sem sem;
    uint8_t cc;                /* enum x86_cc or X86_CC_NONE */
    uint8_t nops;              /* visible operands */
    uint8_t op[3];             /* enum x86_opkind */
};

struct x86_sem_info {
    const char *name;
    uint8_t flags_written;     /* XF_* mask */
    uint8_t flags_undefined;   /* XF_* mask, always undefined after the op */
    bool terminator;
    const char *what;
};

extern const struct x86_form x86_forms[X86_FORM_COUNT];
extern const struct x86_sem_info x86_sems[X86_SEM_COUNT];

const char *x86_opkind_name(enum x86_opkind k);   /* "r32", "m64", "imm", "1", "cl", "rel" */
unsigned x86_opkind_bits(enum x86_opkind k);      /* 8..64 for R/M kinds, else 0 */
bool x86_opkind_is_reg(enum x86_opkind k);
bool x86_opkind_is_mem(enum x86_opkind k);        /* M8..M64 and MA */
const char *x86_cc_name(enum x86_cc cc);          /* "e", "ne", ... */

/* The form with this Zydis mnemonic and operand signature, or X86_FORM_UNSUPPORTED. */
unsigned x86_form_lookup(int zydis_mnemonic, unsigned nops, const uint8_t *kinds);

/* Writes docs/x86-coverage.md's content, generated from the table, to `out`. */
int x86_forms_write_coverage_md(FILE *out);

#endif /* TCGL_X86_FORMS_H */
