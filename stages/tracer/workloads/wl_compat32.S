/* wl_compat32 — a 32-bit (IA-32, compatibility mode) program without libc,
 * so the tracer's CPU-mode detection is checked in a real VM: its loop
 * (wl32_loop) is "inc eax; dec ecx; jnz" = bytes 40 49 75 fc, which in 64-bit
 * mode would decode as ONE instruction (two REX prefixes and a jnz).  The
 * loop runs exactly 100,000 times; eax ends at 100000; exit status 0. */
    .text
    .globl _start
_start:
    mov $100000, %ecx
    xor %eax, %eax
    jmp wl32_loop
    .p2align 4
    .globl wl32_loop
wl32_loop:
    inc %eax
    dec %ecx
    jnz wl32_loop
    cmp $100000, %eax
    setne %bl
    movzbl %bl, %ebx
    mov $1, %eax            /* exit(ebx) through the i386 system call gate */
    int $0x80
