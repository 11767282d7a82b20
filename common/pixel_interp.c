/* pixel_interp.c — the reference interpreter (pixel_interp.h).  Straight
 * from the table: ALU and load results come from pixel_alu(), control flow
 * and memory follow docs/pixel-isa.md. */
#include "pixel_interp.h"

#include <string.h>

/* Region of `mem` that holds [addr, addr+w), or NULL. */
static struct x86_mem_region *find_region(struct x86_mem *mem, uint64_t addr, unsigned w)
{
    if (!mem)
        return NULL;
    for (uint32_t k = 0; k < mem->nregions && k < X86_MEM_MAX_REGIONS; k++)
        if (pixel_in_region(mem->region[k].base, mem->region[k].size, addr, w))
            return &mem->region[k];
    return NULL;
}

static uint64_t load_le(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < w; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static void store_le(uint8_t *p, unsigned w, uint64_t v)
{
    for (unsigned k = 0; k < w; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

enum pixel_fault pixel_run_valid(const struct pixel_insn *prog, size_t n, struct pixel_state *s,
                                 uint32_t step_limit, struct pixel_result *res)
{
    struct pixel_result r = { PIXEL_FAULT_NONE, 0, 0, 0 };
    uint32_t stack[PIXEL_CALL_DEPTH];
    unsigned depth = 0;
    uint32_t pc = 0;
    if (!step_limit)
        step_limit = PIXEL_DEFAULT_STEP_LIMIT;
    uint64_t *R = s->r;

    while (pc < n) {
        if (r.steps >= step_limit) {
            r.fault = PIXEL_FAULT_STEPS;
            break;
        }
        struct pixel_insn i = prog[pc];
        const struct pixel_opinfo *info = pixel_opinfo(i.op);
        uint32_t next = pc + 1;
        switch ((enum pixel_kind)info->kind) {
        case PXK_ALU: {
            int div = 0;
            uint64_t v = pixel_alu(i.op, R[i.rs1 & 31], R[i.rs2 & 31], R[i.rd & 31], i.rs1, i.rs2,
                                   0, &div);
            if (div) {
                r.fault = PIXEL_FAULT_DIV;
                goto out;
            }
            R[i.rd] = v;
            break;
        }
        case PXK_LOAD: {
            uint64_t addr = R[i.rs1];
            struct x86_mem_region *reg = find_region(s->mem, addr, info->width);
            if (!reg) {
                r.fault = PIXEL_FAULT_MEM;
                r.fault_addr = addr;
                goto out;
            }
            int div = 0;
            uint64_t raw = load_le(reg->data + (addr - reg->base), info->width);
            R[i.rd] = pixel_alu(i.op, 0, 0, 0, i.rs1, i.rs2, raw, &div);
            break;
        }
        case PXK_STORE: {
            uint64_t addr = R[i.rs1];
            struct x86_mem_region *reg = find_region(s->mem, addr, info->width);
            if (!reg) {
                r.fault = PIXEL_FAULT_MEM;
                r.fault_addr = addr;
                goto out;
            }
            store_le(reg->data + (addr - reg->base), info->width, R[i.rs2]);
            break;
        }
        case PXK_CTRL:
            switch (i.op) {
            case PX_NOP:
                break;
            case PX_HALT:
                r.steps++;
                goto out;
            case PX_RET:
                if (depth == 0) {
                    r.steps++;
                    goto out;
                }
                next = stack[--depth];
                break;
            case PX_JUMP: case PX_JZ: case PX_JNZ: case PX_CALL: {
                bool taken = i.op == PX_JUMP || i.op == PX_CALL ||
                             (i.op == PX_JZ ? R[i.rd] == 0 : R[i.rd] != 0);
                if (!taken)
                    break;
                int64_t target = (int64_t)pc + 1 + pixel_insn_off16(i);
                if (target < 0 || target > (int64_t)n) {
                    r.fault = PIXEL_FAULT_JUMP;
                    goto out;
                }
                if (i.op == PX_CALL) {
                    if (depth == PIXEL_CALL_DEPTH) {
                        r.fault = PIXEL_FAULT_STACK;
                        goto out;
                    }
                    stack[depth++] = pc + 1;
                }
                next = (uint32_t)target;
                break;
            }
            default:
                r.fault = PIXEL_FAULT_DECODE;
                goto out;
            }
            break;
        }
        r.steps++;
        pc = next;
    }
out:
    r.pc = pc;
    if (res)
        *res = r;
    return r.fault;
}

enum pixel_fault pixel_run(const struct pixel_insn *prog, size_t n, struct pixel_state *s,
                           uint32_t step_limit, struct pixel_result *res)
{
    for (size_t k = 0; k < n; k++) {
        if (!pixel_insn_valid(prog[k], NULL, 0) || k >= PIXEL_MAX_INSNS) {
            if (res)
                *res = (struct pixel_result){ PIXEL_FAULT_DECODE, (uint32_t)k, 0, 0 };
            return PIXEL_FAULT_DECODE;
        }
    }
    return pixel_run_valid(prog, n, s, step_limit, res);
}
