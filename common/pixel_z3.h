/* pixel_z3.h — symbolic execution of Pixel microcode over Z3 bit-vectors:
 * the Pixel side of every equivalence proof.
 *
 * State: 32 registers as 64-bit bit-vectors and guest memory as a Z3 array
 * from 64-bit addresses to bytes (little-endian), the same memory model the
 * x86 model uses, so verify can feed one input state to both.  Semantics
 * come from the Z3 column of PIXEL_OPCODES and are exactly the
 * interpreter's: the first fault freezes the state (later writes are
 * guarded off) and is reported as fault_kind (enum pixel_fault).
 *
 * Control flow is explored path by path (pc and call stack are concrete on
 * each path; a JZ/JNZ whose condition does not simplify to a constant
 * forks), bounded by the step limit and by max_paths; the outputs are
 * if-then-else merges over the paths.  Straight-line microcode is one path.
 *
 * The Z3 context must be a plain Z3_mk_context (not the _rc variant): terms
 * live as long as the context.
 */
#ifndef TCGL_PIXEL_Z3_H
#define TCGL_PIXEL_Z3_H

#include <stdbool.h>
#include <stddef.h>
#include <z3.h>

#include "pixel_isa.h"
#include "x86_state.h"

struct pixel_z3_state {
    Z3_ast r[PIXEL_NREGS];    /* (_ BitVec 64) each */
    Z3_ast mem;               /* (Array (_ BitVec 64) (_ BitVec 8)) */
};

/* Returns a Z3 Bool: "an access of `width` bytes at `addr` is allowed". */
typedef Z3_ast (*pixel_z3_access_ok_fn)(Z3_context c, Z3_ast addr, unsigned width, void *arg);

struct pixel_z3_opts {
    uint32_t step_limit;             /* 0: PIXEL_DEFAULT_STEP_LIMIT */
    unsigned max_paths;              /* 0: 256 */
    pixel_z3_access_ok_fn access_ok; /* NULL: every access is allowed (total memory) */
    void *access_arg;
};

struct pixel_z3_result {
    struct pixel_z3_state out;  /* state at the end (frozen at the first fault) */
    Z3_ast fault_kind;          /* (_ BitVec 8): enum pixel_fault, 0 = none */
    Z3_ast faulted;             /* Bool: fault_kind != 0 */
    unsigned paths;             /* paths explored */
};

/* Fresh constants "<prefix>R0".."<prefix>R31" and "<prefix>mem". */
void pixel_z3_state_fresh(Z3_context c, const char *prefix, struct pixel_z3_state *s);
/* Registers from concrete values, memory the given array (or a fresh
 * constant "<prefix>mem" when mem is NULL). */
void pixel_z3_state_const(Z3_context c, const uint64_t r[PIXEL_NREGS], Z3_ast mem,
                          struct pixel_z3_state *s);

/* Executes `prog` symbolically from `in`.  Returns 0, or -1 with a message
 * (invalid program, too many paths) in err. */
int pixel_z3_exec(Z3_context c, const struct pixel_insn *prog, size_t n,
                  const struct pixel_z3_state *in, const struct pixel_z3_opts *opts,
                  struct pixel_z3_result *res, char *err, size_t errlen);

/* A pixel_z3_access_ok_fn for concrete regions: arg is a const struct
 * x86_mem * (bases and sizes are used; data is not). */
Z3_ast pixel_z3_regions_ok(Z3_context c, Z3_ast addr, unsigned width, void *arg);

/* Reads a term that simplifies to a numeral (bit-vector or Bool);
 * returns false when it does not. */
bool pixel_z3_eval_u64(Z3_context c, Z3_ast t, uint64_t *out);

/* The one-instruction result term of an ALU/load opcode (the table's Z3
 * column), with its DIV fault condition in *fault (NULL: never faults).
 * For tests and for synthesis. */
Z3_ast pixel_z3_alu(Z3_context c, uint8_t op, Z3_ast a, Z3_ast b, Z3_ast d, Z3_ast v,
                    uint8_t rs1, uint8_t rs2, Z3_ast *fault);

#endif /* TCGL_PIXEL_Z3_H */
