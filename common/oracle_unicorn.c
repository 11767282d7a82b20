/* oracle_unicorn.c — x86-64 blocks in QEMU's TCG through Unicorn 2
 * (oracle_unicorn.h).  One engine per oracle; per state the registers are
 * rewritten and the mappings reused when the pages are the same. */
#include "oracle_unicorn.h"

#include <stdlib.h>
#include <string.h>

#include <unicorn/unicorn.h>

#include "log.h"
#include "oracle_block.h"

#define PAGE 4096ull
#define RFLAGS_IN_MASK (X86_RFLAGS_STATUS_MASK | (1u << X86_RFLAGS_DF))


struct oracle_unicorn {
    uc_engine *uc;
    unsigned timeout_ms;
    struct oracle_range data[X86_MEM_MAX_REGIONS];
    unsigned ndata;
    struct oracle_range code;   /* mapped code pages (empty: none) */
    uint8_t code_bytes[ORACLE_MAX_CODE];
    size_t code_len;
    uint64_t code_rip;
    uc_hook code_hook;          /* on the code pages, added with them */
    bool code_hooked;
    /* Set by the hooks during one run. */
    bool term_armed;            /* the block ends in a terminator */
    bool term_started;          /* ... which is about to execute */
    bool term_left;             /* ... and control reached its target */
    uint64_t term_addr, term_target;
    enum oracle_kind kind;
    int vector;
    uint64_t fault_addr, fault_rip;
    /* Unicorn 2.0.1 never clears an exception its UC_HOOK_INTR hook saw
     * (unicorn-engine/unicorn#1883): the next one is escalated to a double
     * fault (#DF), then a triple fault ends emulation, and later #DE are
     * lost.  So the engine is reopened before the run after one. */
    bool reopen;
};

static const int uc_gpr[X86_NGPR] = {
    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
    UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
    UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};

static enum oracle_kind kind_of_vector(uint32_t v)
{
    switch (v) {
    case 0:  return ORACLE_FAULT_DIV;
    case 1: case 3: return ORACLE_FAULT_TRAP;
    case 6:  return ORACLE_FAULT_ILL;
    case 13: case 14: case 12: case 17: return ORACLE_FAULT_MEM;
    case 0x80: return ORACLE_FAULT_SYSCALL;
    default: return ORACLE_FAULT_OTHER;
    }
}

static void on_intr(uc_engine *uc, uint32_t intno, void *user)
{
    struct oracle_unicorn *o = user;
    o->reopen = true;
    if (o->kind == ORACLE_OK) {
        o->kind = kind_of_vector(intno);
        o->vector = (int)intno;
        uc_reg_read(uc, UC_X86_REG_RIP, &o->fault_rip);
    }
    uc_emu_stop(uc);
}

static void on_syscall(uc_engine *uc, void *user)
{
    struct oracle_unicorn *o = user;
    if (o->kind == ORACLE_OK) {
        o->kind = ORACLE_FAULT_SYSCALL;
        uc_reg_read(uc, UC_X86_REG_RIP, &o->fault_rip);
    }
    uc_emu_stop(uc);
}

/* For a block ending in a terminator: the call at the terminator's address
 * arms the stop, the next call is its target inside the code pages (a
 * target whose translation faults — outside the code pages, or near a code
 * page's end where the translation block runs into the unmapped next page —
 * shows up as a fetch fault instead, see on_mem_invalid; the fall-through
 * address holds the hlt that ends every block).  Stopping here needs no
 * instruction count, which in Unicorn costs a translation-cache flush per
 * run. */
static void on_code(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    struct oracle_unicorn *o = user;
    (void)size;
    if (!o->term_armed || o->term_left)
        return;
    if (!o->term_started) {
        if (addr == o->term_addr)
            o->term_started = true;
        return;
    }
    o->term_left = true;
    o->term_target = addr;
    uc_emu_stop(uc);
}

static bool on_mem_invalid(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
    struct oracle_unicorn *o = user;
    (void)size; (void)value;
    if (o->term_started && !o->term_left && (type == UC_MEM_FETCH_UNMAPPED || type == UC_MEM_FETCH_PROT)) {
        /* The terminator completed and QEMU is translating the block at its
         * target, which faulted before any instruction of it ran (so the
         * code hook never fired).  The fetch address is not the target:
         * an x86 translation block may run on into the next page, so a
         * target in the zero-filled rest of a code page faults at the page
         * end.  RIP already holds the target (set before the jump to the
         * next block). */
        o->term_left = true;
        uc_reg_read(uc, UC_X86_REG_RIP, &o->term_target);
        return false;
    }
    if (o->kind == ORACLE_OK) {
        o->kind = ORACLE_FAULT_MEM;
        o->fault_addr = addr;
        uc_reg_read(uc, UC_X86_REG_RIP, &o->fault_rip);
    }
    return false;
}

/* A fresh engine with the oracle's hooks; nothing mapped.  0, or -1 (logged). */
static int open_engine(struct oracle_unicorn *o)
{
    o->ndata = 0;
    o->code.start = o->code.end = 0;
    o->code_len = 0;
    o->code_hooked = false;
    o->reopen = false;
    uc_err e = uc_open(UC_ARCH_X86, UC_MODE_64, &o->uc);
    if (e != UC_ERR_OK) {
        log_error("oracle_unicorn: uc_open: %s", uc_strerror(e));
        o->uc = NULL;
        return -1;
    }
    uc_hook h;
    if ((e = uc_hook_add(o->uc, &h, UC_HOOK_INTR, (void *)on_intr, o, 1, 0)) != UC_ERR_OK
        || (e = uc_hook_add(o->uc, &h, UC_HOOK_INSN, (void *)on_syscall, o, 1, 0, UC_X86_INS_SYSCALL)) != UC_ERR_OK
        || (e = uc_hook_add(o->uc, &h, UC_HOOK_INSN, (void *)on_syscall, o, 1, 0, UC_X86_INS_SYSENTER)) != UC_ERR_OK
        || (e = uc_hook_add(o->uc, &h, UC_HOOK_MEM_INVALID, (void *)on_mem_invalid, o, 1, 0)) != UC_ERR_OK) {
        log_error("oracle_unicorn: uc_hook_add: %s", uc_strerror(e));
        uc_close(o->uc);
        o->uc = NULL;
        return -1;
    }
    return 0;
}

struct oracle_unicorn *oracle_unicorn_create(unsigned state_timeout_ms)
{
    struct oracle_unicorn *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->timeout_ms = state_timeout_ms ? state_timeout_ms : 100;
    if (open_engine(o) != 0) {
        free(o);
        return NULL;
    }
    return o;
}

void oracle_unicorn_destroy(struct oracle_unicorn *o)
{
    if (!o)
        return;
    if (o->uc)
        uc_close(o->uc);
    free(o);
}


/* Sorted, merged page ranges of a state's regions; -1 when malformed. */
static int data_ranges(const struct x86_mem *m, struct oracle_range *out, unsigned *nout)
{
    unsigned n = 0;
    for (unsigned k = 0; m && k < m->nregions; k++) {
        uint64_t b = m->region[k].base, sz = m->region[k].size;
        if (sz == 0)
            continue;
        if (b + sz < b || ((b + sz + PAGE - 1) & ~(PAGE - 1)) == 0)
            return -1;
        out[n].start = b & ~(PAGE - 1);
        out[n].end = (b + sz + PAGE - 1) & ~(PAGE - 1);
        n++;
    }
    *nout = oracle_ranges_merge(out, n);
    return 0;
}

static void unmap_data(struct oracle_unicorn *o)
{
    for (unsigned i = 0; i < o->ndata; i++)
        uc_mem_unmap(o->uc, o->data[i].start, o->data[i].end - o->data[i].start);
    o->ndata = 0;
}

static void unmap_code(struct oracle_unicorn *o)
{
    if (o->code_hooked) {
        uc_hook_del(o->uc, o->code_hook);
        o->code_hooked = false;
    }
    if (o->code.end > o->code.start) {
        uc_ctl_remove_cache(o->uc, o->code.start, o->code.end);
        uc_mem_unmap(o->uc, o->code.start, o->code.end - o->code.start);
    }
    o->code.start = o->code.end = 0;
    o->code_len = 0;
}

/* Map the code read+exec at rip, followed by a hlt (kept when it is already
 * there).  The hlt ends the run: Unicorn 2.0.1 retranslates the block on
 * every uc_emu_start given an `until` address (measured: one translation
 * per run, 20-100 k runs/s), while a block that stops on hlt stays cached
 * (millions of runs/s). */
static int place_code(struct oracle_unicorn *o, const uint8_t *code, size_t len, uint64_t rip,
                      const struct oracle_range *dr, unsigned nd)
{
    if (rip + len + 1 < rip)
        return -1;
    struct oracle_range r = { rip & ~(PAGE - 1), (rip + len + 1 + PAGE - 1) & ~(PAGE - 1) };
    if (r.end == 0)
        return -1;
    for (unsigned i = 0; i < nd; i++)
        if (oracle_range_overlaps(r, dr[i]))
            return -1;
    if (o->code_len == len && o->code_rip == rip && o->code.start == r.start && o->code.end == r.end
        && memcmp(o->code_bytes, code, len) == 0)
        return 0;
    unmap_code(o);
    if (uc_mem_map(o->uc, r.start, r.end - r.start, UC_PROT_READ | UC_PROT_EXEC) != UC_ERR_OK)
        return -1;
    static const uint8_t hlt = 0xf4;
    uc_mem_write(o->uc, rip, code, len);
    uc_mem_write(o->uc, rip + len, &hlt, 1);
    if (uc_hook_add(o->uc, &o->code_hook, UC_HOOK_CODE, (void *)on_code, o, r.start, r.end - 1) != UC_ERR_OK) {
        uc_mem_unmap(o->uc, r.start, r.end - r.start);
        return -1;
    }
    o->code_hooked = true;
    o->code = r;
    memcpy(o->code_bytes, code, len);
    o->code_len = len;
    o->code_rip = rip;
    return 0;
}

/* True when every region is whole pages (the copy-in rewrites every mapped
 * byte, so the reused pages need no zeroing). */
static bool regions_tile_pages(const struct x86_mem *m)
{
    for (unsigned k = 0; m && k < m->nregions; k++)
        if (m->region[k].base % PAGE != 0 || m->region[k].size % PAGE != 0)
            return false;
    return true;
}

static const uint8_t zero_page[X86_MEM_MAX_REGION_SIZE + PAGE];

static void run_one(struct oracle_unicorn *o, const struct oracle_block *blk, const uint8_t *code, size_t len,
                    const struct x86_regs *in, const struct x86_mem *mem_in,
                    struct x86_regs *out, struct x86_mem *mem_out, struct oracle_result *res)
{
    struct oracle_range dr[X86_MEM_MAX_REGIONS];
    unsigned nd = 0;

    memset(res, 0, sizeof *res);
    res->vector = -1;
    *out = *in;
    if (o->reopen || !o->uc) {
        if (o->uc)
            uc_close(o->uc);
        if (open_engine(o) != 0) {
            res->kind = ORACLE_FAULT_CRASH;
            return;
        }
    }
    if (data_ranges(mem_in, dr, &nd) != 0) {
        res->kind = ORACLE_FAULT_UNMAPPABLE;
        return;
    }
    bool same = nd == o->ndata;
    for (unsigned i = 0; same && i < nd; i++)
        same = dr[i].start == o->data[i].start && dr[i].end == o->data[i].end;
    if (!same)
        unmap_data(o);
    if (place_code(o, code, len, in->rip, dr, nd) != 0) {
        res->kind = ORACLE_FAULT_UNMAPPABLE;
        return;
    }
    if (!same) {
        for (unsigned i = 0; i < nd; i++) {
            if (uc_mem_map(o->uc, dr[i].start, dr[i].end - dr[i].start, UC_PROT_READ | UC_PROT_WRITE) != UC_ERR_OK) {
                unmap_data(o);
                res->kind = ORACLE_FAULT_UNMAPPABLE;
                return;
            }
            o->data[o->ndata++] = dr[i];
        }
    } else if (!regions_tile_pages(mem_in)) {
        for (unsigned i = 0; i < nd; i++)
            for (uint64_t a = dr[i].start; a < dr[i].end; a += sizeof zero_page) {
                uint64_t chunk = dr[i].end - a < sizeof zero_page ? dr[i].end - a : sizeof zero_page;
                uc_mem_write(o->uc, a, zero_page, chunk);
            }
    }
    for (unsigned k = 0; mem_in && k < mem_in->nregions; k++)
        if (mem_in->region[k].size)
            uc_mem_write(o->uc, mem_in->region[k].base, mem_in->region[k].data, mem_in->region[k].size);

    for (int r = 0; r < X86_NGPR; r++)
        uc_reg_write(o->uc, uc_gpr[r], &in->gpr[r]);
    uint64_t fl = (in->rflags & RFLAGS_IN_MASK) | 0x2;
    uc_reg_write(o->uc, UC_X86_REG_EFLAGS, &fl);
    uc_reg_write(o->uc, UC_X86_REG_FS_BASE, &in->fs_base);
    uc_reg_write(o->uc, UC_X86_REG_GS_BASE, &in->gs_base);

    uc_reg_write(o->uc, UC_X86_REG_RIP, &in->rip);
    o->kind = ORACLE_OK;
    o->term_armed = blk->term != ORACLE_TERM_NONE;
    o->term_started = o->term_left = false;
    o->term_addr = in->rip + blk->body_len;
    o->vector = -1;
    o->fault_addr = o->fault_rip = 0;
    /* One run from rip; it ends on the hlt after the block, at the
     * terminator's target (code hook or fetch fault), or on a fault.  No
     * instruction count (QEMU would count each iteration of a rep string
     * instruction); only a body that branches internally can loop, and only
     * then is the (thread-backed) timeout on. */
    uint64_t timeout_us = blk->body_branches ? (uint64_t)o->timeout_ms * 1000u : 0;
    bool timed_out = false;
    uc_err e = uc_emu_start(o->uc, in->rip, 0, timeout_us, 0);
    if (timeout_us) {
        size_t t = 0;
        if (uc_query(o->uc, UC_QUERY_TIMEOUT, &t) == UC_ERR_OK && t)
            timed_out = true;
    }
    if (o->term_left)
        e = UC_ERR_OK;   /* the fetch of the target is where we stop, not a fault */

    for (int r = 0; r < X86_NGPR; r++)
        uc_reg_read(o->uc, uc_gpr[r], &out->gpr[r]);
    uc_reg_read(o->uc, UC_X86_REG_RIP, &out->rip);
    if (o->term_left)
        out->rip = o->term_target;
    else if (out->rip == in->rip + len + 1 && o->kind == ORACLE_OK && e == UC_ERR_OK)
        out->rip = in->rip + len;   /* stopped by the hlt after the block */
    uc_reg_read(o->uc, UC_X86_REG_EFLAGS, &fl);
    out->rflags = (in->rflags & ~(uint64_t)RFLAGS_IN_MASK) | (fl & RFLAGS_IN_MASK);

    if (timed_out) {
        res->kind = ORACLE_FAULT_TIMEOUT;
    } else if (o->kind != ORACLE_OK) {
        res->kind = o->kind;
        res->vector = o->vector;
        res->fault_addr = o->fault_addr;
        res->fault_rip = o->fault_rip;
    } else if (e != UC_ERR_OK) {
        switch (e) {
        case UC_ERR_INSN_INVALID: res->kind = ORACLE_FAULT_ILL; break;
        case UC_ERR_READ_UNMAPPED: case UC_ERR_WRITE_UNMAPPED: case UC_ERR_FETCH_UNMAPPED:
        case UC_ERR_READ_PROT: case UC_ERR_WRITE_PROT: case UC_ERR_FETCH_PROT:
        case UC_ERR_READ_UNALIGNED: case UC_ERR_WRITE_UNALIGNED: case UC_ERR_FETCH_UNALIGNED:
            res->kind = ORACLE_FAULT_MEM; break;
        default: res->kind = ORACLE_FAULT_OTHER; break;
        }
        res->fault_rip = out->rip;
    } else if (blk->term != ORACLE_TERM_NONE) {
        res->taken = blk->term != ORACLE_TERM_JCC || out->rip != in->rip + len;
    }
    if (res->kind != ORACLE_OK && res->fault_rip)
        out->rip = res->fault_rip;
    for (unsigned k = 0; mem_out && k < mem_out->nregions; k++)
        if (mem_out->region[k].size)
            uc_mem_read(o->uc, mem_out->region[k].base, mem_out->region[k].data, mem_out->region[k].size);
}

int oracle_unicorn_run_batch(struct oracle_unicorn *o, const uint8_t *code, size_t len,
                             const struct x86_regs *in, const struct x86_mem *mem_in, size_t n,
                             struct x86_regs *out, struct x86_mem *mem_out,
                             struct oracle_result *res)
{
    if (oracle_check_batch(code, len, mem_in, n, mem_out) != 0)
        return -1;
    struct oracle_block blk;
    oracle_block_decode(code, len, &blk);
    for (size_t i = 0; i < n; i++)
        run_one(o, &blk, code, len, &in[i], mem_in ? &mem_in[i] : NULL, &out[i],
                mem_out ? &mem_out[i] : NULL, &res[i]);
    return 0;
}

int oracle_unicorn_run(struct oracle_unicorn *o, const uint8_t *code, size_t len,
                       const struct x86_regs *in, const struct x86_mem *mem_in,
                       struct x86_regs *out, struct x86_mem *mem_out, struct oracle_result *res)
{
    return oracle_unicorn_run_batch(o, code, len, in, mem_in, 1, out, mem_out, res);
}
