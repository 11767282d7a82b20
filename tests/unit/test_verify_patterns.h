/* test_verify_patterns.h — x86 blocks with hand-written, correct Pixel
 * microcode (the guest-state convention of docs/pixel-isa.md), shared by
 * test_concrete_validation (all must pass 10,000+ states and the proof) and
 * test_verify_mutants (planted faults in them must be rejected).
 * test_concrete_validation also runs the synth stage's baseline lowering of
 * every pattern; bench_verify uses both as its corpus. */
#ifndef TEST_VERIFY_PATTERNS_H
#define TEST_VERIFY_PATTERNS_H

#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "pixel_asm.h"
#include "x86_state.h"

#define TV_GPR(r) X86_LOC_GPR(X86_##r)
#define TV_FL(f)  X86_LOC_FLAG(X86_##f)

struct tv_pattern {
    const char *name;
    const char *hex;        /* x86 bytes */
    x86_locset live;        /* live-out */
    const char *pixel;      /* correct microcode */
};

/* add eax, ebx with every flag */
#define TV_ADD32 \
    "ZEXT32 R24, R0\n ZEXT32 R25, R3\n ADD R26, R24, R25\n ZEXT32 R0, R26\n" \
    " SHRI R16, R26, 32\n CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n" \
    " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n" \
    " XOR R28, R24, R0\n XOR R29, R25, R0\n AND R28, R28, R29\n BIT R21, R28, 31\n" \
    " ADDI R22, R22, 2\n"
/* add rax, rbx with every flag */
#define TV_ADD64 \
    "ADD R26, R0, R3\n CMPLTU R16, R26, R0\n" \
    " XOR R27, R0, R3\n XOR R27, R27, R26\n BIT R18, R27, 4\n" \
    " XOR R28, R0, R26\n XOR R29, R3, R26\n AND R28, R28, R29\n BIT R21, R28, 63\n" \
    " MOV R0, R26\n CMPEQZ R19, R0\n BIT R20, R0, 63\n PARITY R17, R0\n ADDI R22, R22, 3\n"
/* sub rax, rbx with every flag */
#define TV_SUB64 \
    "SUB R26, R0, R3\n CMPLTU R16, R0, R3\n" \
    " XOR R27, R0, R3\n XOR R27, R27, R26\n BIT R18, R27, 4\n" \
    " XOR R28, R0, R3\n XOR R29, R0, R26\n AND R28, R28, R29\n BIT R21, R28, 63\n" \
    " MOV R0, R26\n CMPEQZ R19, R0\n BIT R20, R0, 63\n PARITY R17, R0\n ADDI R22, R22, 3\n"
/* and eax, ebx: CF = OF = 0, AF undefined (0 here) */
#define TV_AND32 \
    "AND R24, R0, R3\n ZEXT32 R0, R24\n LDI R16, 0\n LDI R21, 0\n LDI R18, 0\n" \
    " CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n ADDI R22, R22, 2\n"
#define TV_JE \
    "ZEXT32 R24, R0\n ZEXT32 R25, R3\n CMPEQ R24, R24, R25\n" \
    " ADDI R25, R22, 4\n ADDI R26, R22, 20\n CMOVNZ R25, R24, R26\n MOV R22, R25\n"

#define TV_ALLFL (TV_FL(CF) | TV_FL(PF) | TV_FL(AF) | TV_FL(ZF) | TV_FL(SF) | TV_FL(OF))

static const struct tv_pattern tv_patterns[] = {
    { "add eax, ebx",           "01 d8",       TV_GPR(RAX) | TV_ALLFL | X86_LOC_RIP, TV_ADD32 },
    { "add rax, rbx",           "48 01 d8",    TV_GPR(RAX) | TV_ALLFL | X86_LOC_RIP, TV_ADD64 },
    { "sub rax, rbx",           "48 29 d8",    TV_GPR(RAX) | TV_ALLFL | X86_LOC_RIP, TV_SUB64 },
    { "and eax, ebx",           "21 d8",       TV_GPR(RAX) | TV_ALLFL | X86_LOC_RIP, TV_AND32 },
    { "mov eax, ebx",           "89 d8",       TV_GPR(RAX) | TV_GPR(RBX), "ZEXT32 R0, R3\n ADDI R22, R22, 2\n" },
    { "mov al, bl",             "88 d8",       TV_GPR(RAX), "INS8 R0, R3\n ADDI R22, R22, 2\n" },
    { "movzx eax, bl",          "0f b6 c3",    TV_GPR(RAX), "ZEXT8 R0, R3\n ADDI R22, R22, 3\n" },
    { "movsx rax, bl",          "48 0f be c3", TV_GPR(RAX), "SEXT8 R0, R3\n ADDI R22, R22, 4\n" },
    { "lea rax, [rbx+rcx*4]",   "48 8d 04 8b", TV_GPR(RAX), "SHLI R24, R1, 2\n ADD R0, R3, R24\n ADDI R22, R22, 4\n" },
    { "lea rax, [rbx+0x10]",    "48 8d 43 10", TV_GPR(RAX), "ADDI R0, R3, 16\n ADDI R22, R22, 4\n" },
    { "shl rax, 5",             "48 c1 e0 05", TV_GPR(RAX), "SHLI R0, R0, 5\n ADDI R22, R22, 4\n" },
    { "shl rax, cl",            "48 d3 e0",    TV_GPR(RAX), "ANDI R24, R1, 63\n SHL R0, R0, R24\n ADDI R22, R22, 3\n" },
    { "imul rax, rbx",          "48 0f af c3", TV_GPR(RAX), "MUL R0, R0, R3\n ADDI R22, R22, 4\n" },
    { "mov eax, [rdi]",         "8b 07",       TV_GPR(RAX) | X86_LOC_MEM, "LD32 R0, [R7]\n ADDI R22, R22, 2\n" },
    { "mov [rdi], eax",         "89 07",       X86_LOC_MEM, "ST32 [R7], R0\n ADDI R22, R22, 2\n" },
    { "mov [rdi], eax; mov ebx, [rdi+2]", "89 07 8b 5f 02", TV_GPR(RBX) | X86_LOC_MEM,
      "ST32 [R7], R0\n ADDI R24, R7, 2\n LD32 R3, [R24]\n ADDI R22, R22, 5\n" },
    { "mov [rdi], eax; mov ebx, [rsi]", "89 07 8b 1e", TV_GPR(RBX) | X86_LOC_MEM,
      "ST32 [R7], R0\n LD32 R3, [R6]\n ADDI R22, R22, 4\n" },
    { "push rax",               "50",          TV_GPR(RSP) | X86_LOC_MEM, "ADDI R4, R4, -8\n STORE [R4], R0\n ADDI R22, R22, 1\n" },
    { "cmp eax, ebx; je +0x10", "39 d8 74 10", X86_LOC_RIP, TV_JE },
};
#define TV_NPATTERNS (sizeof tv_patterns / sizeof tv_patterns[0])

static inline size_t tv_hex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = 0;
    for (const char *p = hex; *p && n < max;) {
        if (*p == ' ') { p++; continue; }
        unsigned v;
        if (sscanf(p, "%2x", &v) != 1) break;
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

#endif /* TEST_VERIFY_PATTERNS_H */
