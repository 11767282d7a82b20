/* wl_interp — a bytecode interpreter loop: a small stack machine (switch
 * dispatch) running a program that counts primes below a bound by trial
 * division and sums them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum op { PUSH, LOAD, STORE, ADD, SUB, MUL, MOD, LT, JZ, JMP, DUP, POP, HALT };
struct insn { uint8_t op; int32_t arg; };

static int64_t run(const struct insn *prog, int64_t *vars)
{
    int64_t stack[64];
    int sp = 0, pc = 0;
    for (;;) {
        const struct insn in = prog[pc++];
        switch (in.op) {
        case PUSH:  stack[sp++] = in.arg; break;
        case LOAD:  stack[sp++] = vars[in.arg]; break;
        case STORE: vars[in.arg] = stack[--sp]; break;
        case ADD:   sp--; stack[sp - 1] += stack[sp]; break;
        case SUB:   sp--; stack[sp - 1] -= stack[sp]; break;
        case MUL:   sp--; stack[sp - 1] *= stack[sp]; break;
        case MOD:   sp--; stack[sp - 1] = stack[sp] ? stack[sp - 1] % stack[sp] : 0; break;
        case LT:    sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case JZ:    if (!stack[--sp]) pc = in.arg; break;
        case JMP:   pc = in.arg; break;
        case DUP:   stack[sp] = stack[sp - 1]; sp++; break;
        case POP:   sp--; break;
        case HALT:  return vars[1];
        }
    }
}

int main(int argc, char **argv)
{
    int bound = argc > 1 ? atoi(argv[1]) : 1500;
    /* vars: 0 n, 1 sum, 2 d, 3 count, 4 bound */
    const struct insn prog[] = {
        /* 0 */ {PUSH, 2}, {STORE, 0},
        /* 2 */ {LOAD, 0}, {LOAD, 4}, {LT, 0}, {JZ, 30},
        /* 6 */ {PUSH, 2}, {STORE, 2},
        /* 8 */ {LOAD, 2}, {LOAD, 2}, {MUL, 0}, {LOAD, 0}, {PUSH, 1}, {ADD, 0}, {LT, 0}, {JZ, 22},
        /* 16 */ {LOAD, 0}, {LOAD, 2}, {MOD, 0}, {JZ, 26},
        /* 20 */ {JMP, 23}, {HALT, 0},
        /* 22 */ {JMP, 32},
        /* 23 */ {LOAD, 2}, {PUSH, 1}, {JMP, 36},
        /* 26 */ {JMP, 40}, {HALT, 0}, {HALT, 0}, {HALT, 0},
        /* 30 */ {HALT, 0}, {HALT, 0},
        /* 32: prime */ {LOAD, 1}, {LOAD, 0}, {ADD, 0}, {JMP, 44},
        /* 36: d++ */ {ADD, 0}, {STORE, 2}, {JMP, 8}, {HALT, 0},
        /* 40: next n */ {LOAD, 0}, {PUSH, 1}, {ADD, 0}, {JMP, 47},
        /* 44 */ {STORE, 1}, {LOAD, 3}, {JMP, 50},
        /* 47 */ {STORE, 0}, {JMP, 2}, {HALT, 0},
        /* 50 */ {PUSH, 1}, {ADD, 0}, {STORE, 3}, {JMP, 40},
    };
    int64_t vars[8] = {0, 0, 0, 0, bound, 0, 0, 0};
    int64_t sum = run(prog, vars);
    printf("wl_interp: bound=%d primes=%lld sum=%lld\n", bound, (long long)vars[3], (long long)sum);
    return 0;
}
