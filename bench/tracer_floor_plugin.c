/* tracer_floor_plugin.c — a reference plugin for `make bench-tracer`, built
 * at benchmark time like QEMU's hotblocks: the QEMU callbacks that block
 * mode cannot do without, with next to nothing in them.
 *
 *   - every TB: a NO_REGS exec callback whose user data is a per-TB id and
 *     which stores it in a ring (the ordered block stream needs one call per
 *     executed TB: an inline operation can add or store a constant, not
 *     append to a sequence);
 *   - every instruction, unless mem=off: a NO_REGS memory callback that
 *     returns at once (QEMU 10 has no conditional memory callback, so a
 *     tracer that records the accesses of sampled executions pays this call
 *     on every access of every execution).
 *
 * Its cost over bare QEMU is the floor under trace_logger's block mode on
 * the same machine: everything else (timestamps, batches, the queue,
 * translation records, samples) comes on top.  Not part of the pipeline.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define RING 65536u
static uint32_t ring[RING];
static uint32_t ring_pos, next_id = 1;

static int with_mem = 1;

static void on_exec(unsigned int vcpu, void *udata)
{
    ring[ring_pos++ & (RING - 1)] = (uint32_t)(uintptr_t)udata;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)info; (void)vaddr; (void)udata;
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    /* one vCPU in the benchmark: translation is single-threaded */
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)next_id++);
    if (with_mem)
        for (size_t i = 0; i < qemu_plugin_tb_n_insns(tb); i++)
            qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_mem, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_RW, NULL);
}

static void on_exit_cb(qemu_plugin_id_t id, void *p)
{
    /* read the ring, or the compiler drops the stores into it */
    uint64_t sum = 0;
    for (uint32_t i = 0; i < RING; i++) sum += ring[i];
    char line[160];
    snprintf(line, sizeof line, "tracer_floor_plugin: %u TB ids, %u entries, ring sum %llu, mem=%d\n", next_id - 1,
             ring_pos, (unsigned long long)sum, with_mem);
    qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "mem=off")) with_mem = 0;
    if (info->system_emulation && info->system.max_vcpus > 1) {
        fprintf(stderr, "tracer_floor_plugin: one vCPU only\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
