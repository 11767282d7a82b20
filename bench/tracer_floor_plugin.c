/* tracer_floor_plugin.c — a reference plugin for `make bench-tracer`, built
 * at benchmark time like QEMU's hotblocks: the QEMU callbacks that block
 * mode cannot do without, with next to nothing in them.
 *
 *   - every TB: a NO_REGS exec callback whose user data is a per-TB id and
 *     which stores it in a ring (the ordered block stream needs one call per
 *     executed TB: an inline operation can add or store a constant, not
 *     append to a sequence);
 *   - mem=on (default): on every instruction, a NO_REGS memory callback that
 *     returns at once (QEMU 10 has no conditional memory callback, so a
 *     tracer that records the accesses of sampled executions pays this call
 *     on every access of every execution);
 *   - mem=cond: instead, before every instruction with a memory operand
 *     (Zydis), a conditional callback on a per-vCPU flag that stays 0, so it
 *     never runs.  That is what computing a sample's accesses without
 *     memory callbacks (addresses from the operands, values read through
 *     the plugin API) would cost at the least: the benchmark shows whether
 *     QEMU's test-and-branch is any cheaper than the empty call;
 *   - mem=off: neither.
 *   - samples=on: also take trace_logger's default samples (the first 8
 *     executions of each TB, every 1000th after) in their barest form: the
 *     20 registers of the pre state read through qemu_plugin_read_register
 *     at the sampled execution's entry, and the memory callbacks keep
 *     address, size, direction and value while sampling.  No post state
 *     (trace_logger reads only what the TB may write), nothing encoded or
 *     sent: a lower bound on the API's price of the samples.  The exec
 *     callback then asks for register access (R_REGS).
 *
 * Its cost over bare QEMU is the floor under trace_logger's block mode on
 * the same machine: everything else (timestamps, batches, the queue,
 * translation records, samples) comes on top.  Not part of the pipeline.
 */
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <Zydis/Zydis.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define RING 65536u
static uint32_t ring[RING];
static uint32_t ring_pos, next_id = 1;

static enum { MEM_ON, MEM_OFF, MEM_COND } mem_mode = MEM_ON;
static struct qemu_plugin_scoreboard *never;   /* mem=cond: the flag, 0 throughout */
static uint64_t cond_insns, cond_ran;
static ZydisDecoder decoder;

/* samples=on */
#define MAX_TBS (1u << 22)
#define SAMPLE_FIRST 8
#define SAMPLE_EVERY 1000
static bool samples;
static uint32_t *left;             /* [TB id]: executions before the next sampled one */
static uint8_t *taken;             /* [TB id]: samples taken, counted up to SAMPLE_FIRST */
static struct qemu_plugin_register *reg_handle[20];
static GByteArray *regbuf;
static uint64_t regs_pre[20], reg_sum, nsamples;
static bool sampling;
static struct { uint64_t addr, value; uint8_t size, is_store; } mem[256];
static unsigned nmem;

static void read_all_regs(uint64_t *out)
{
    for (int i = 0; i < 20; i++) {
        regbuf->len = 0;
        int n = reg_handle[i] ? qemu_plugin_read_register(reg_handle[i], regbuf) : 0;
        out[i] = 0;
        if (n > 0) memcpy(&out[i], regbuf->data, n > 8 ? 8 : (size_t)n);
    }
}

static __attribute__((noinline)) void sample_step(uint32_t id)
{
    if (sampling) {                  /* the sample in flight ends here */
        reg_sum += regs_pre[0] ^ nmem;
        sampling = false;
    }
    if (left[id]--) return;
    if (taken[id] < SAMPLE_FIRST) taken[id]++;
    left[id] = taken[id] < SAMPLE_FIRST ? 0 : SAMPLE_EVERY - 1;
    read_all_regs(regs_pre);
    nmem = 0;
    sampling = true;
    nsamples++;
}

static void on_exec(unsigned int vcpu, void *udata)
{
    uint32_t id = (uint32_t)(uintptr_t)udata;
    ring[ring_pos++ & (RING - 1)] = id;
    if (!samples || id >= MAX_TBS) return;
    if (sampling || left[id] == 0) sample_step(id);
    else left[id]--;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    if (__builtin_expect(!sampling, 1) || nmem >= 256) return;
    qemu_plugin_mem_value mv = qemu_plugin_mem_get_value(info);
    mem[nmem].addr = vaddr;
    mem[nmem].value = mv.type == QEMU_PLUGIN_MEM_VALUE_U8 ? mv.data.u8 : mv.type == QEMU_PLUGIN_MEM_VALUE_U16 ? mv.data.u16
                    : mv.type == QEMU_PLUGIN_MEM_VALUE_U32 ? mv.data.u32 : mv.data.u64;
    mem[nmem].size = (uint8_t)(1u << qemu_plugin_mem_size_shift(info));
    mem[nmem].is_store = qemu_plugin_mem_is_store(info);
    nmem++;
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    static const char *const names[20] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10",
                                           "r11", "r12", "r13", "r14", "r15", "rip", "eflags", "fs_base", "gs_base" };
    GArray *all = qemu_plugin_get_registers();
    for (guint i = 0; i < all->len; i++) {
        qemu_plugin_reg_descriptor *d = &g_array_index(all, qemu_plugin_reg_descriptor, i);
        for (int k = 0; k < 20; k++)
            if (!strcmp(d->name, names[k])) reg_handle[k] = d->handle;
    }
    g_array_free(all, TRUE);
}

static void on_cond(unsigned int vcpu, void *udata)
{
    cond_ran++;   /* never: the flag stays 0 */
}

/* An explicit or implicit memory operand (not an address computation
 * alone); an instruction that does not decode counts as one.  Decoded as
 * 64-bit code: the boot's few 16- and 32-bit TBs may be misjudged, which
 * does not matter to a cost figure. */
static int has_memory_operand(struct qemu_plugin_insn *insn)
{
    uint8_t bytes[16];
    size_t n = qemu_plugin_insn_data(insn, bytes, sizeof bytes);
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_FAILED(ZydisDecoderDecodeFull(&decoder, bytes, n, &in, ops))) return 1;
    for (int i = 0; i < in.operand_count; i++)
        if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.type != ZYDIS_MEMOP_TYPE_AGEN) return 1;
    return 0;
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    /* one vCPU in the benchmark: translation is single-threaded */
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, samples ? QEMU_PLUGIN_CB_R_REGS : QEMU_PLUGIN_CB_NO_REGS,
                                         (void *)(uintptr_t)next_id++);
    for (size_t i = 0; i < qemu_plugin_tb_n_insns(tb); i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (mem_mode == MEM_ON)
            qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
        else if (mem_mode == MEM_COND && has_memory_operand(insn)) {
            cond_insns++;
            qemu_plugin_register_vcpu_insn_exec_cond_cb(insn, on_cond, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_COND_EQ,
                                                        qemu_plugin_scoreboard_u64(never), 1, NULL);
        }
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *p)
{
    /* read the ring, or the compiler drops the stores into it */
    uint64_t sum = 0;
    for (uint32_t i = 0; i < RING; i++) sum += ring[i];
    static const char *const names[] = { "on", "off", "cond" };
    char line[320];
    snprintf(line, sizeof line,
             "tracer_floor_plugin: %u TB ids, %u entries, ring sum %llu, mem=%s, conditional callbacks on %llu "
             "instructions, run %llu times, samples %llu (register sum %llu)\n",
             next_id - 1, ring_pos, (unsigned long long)sum, names[mem_mode], (unsigned long long)cond_insns,
             (unsigned long long)cond_ran, (unsigned long long)nsamples, (unsigned long long)reg_sum);
    qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "mem=off")) mem_mode = MEM_OFF;
        else if (!strcmp(argv[i], "mem=cond")) mem_mode = MEM_COND;
        else if (!strcmp(argv[i], "mem=on")) mem_mode = MEM_ON;
        else if (!strcmp(argv[i], "samples=on")) samples = true;
        else {
            fprintf(stderr, "tracer_floor_plugin: unknown argument '%s' (mem=on|off|cond, samples=on)\n", argv[i]);
            return -1;
        }
    }
    if (info->system_emulation && info->system.max_vcpus > 1) {
        fprintf(stderr, "tracer_floor_plugin: one vCPU only\n");
        return -1;
    }
    ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    never = qemu_plugin_scoreboard_new(sizeof(uint64_t));
    if (samples) {
        left = calloc(MAX_TBS, sizeof *left);   /* 0: the first execution is sampled */
        taken = calloc(MAX_TBS, sizeof *taken);
        regbuf = g_byte_array_sized_new(64);
        if (!left || !taken) return -1;
        qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
