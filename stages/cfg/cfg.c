/* cfg.c — building the control-flow graph from translated blocks and the
 * execution stream (see cfg.h).  Analysis lives in cfg_analysis.c, output
 * files in cfg_output.c. */
#include "cfg.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "log.h"
#include "xorshift.h"

#define TB_DENSE_MAX (1u << 22)     /* tb ids below this index a flat array */
#define CFG_MAX_VCPUS 4096u
#define LEADER_TAG 1
#define CFG_MAX_SPACES 4096u

static inline uint32_t space_tag(uint8_t mode, uint32_t space)
{
    return (uint32_t)mode | space << 8;
}

static const char *const cfg_class_names[CFG_NCLASS] = {
    [CFG_CLASS_ALU] = "alu", [CFG_CLASS_MEM] = "memory", [CFG_CLASS_CONTROL] = "control",
    [CFG_CLASS_FPSIMD] = "fp_simd", [CFG_CLASS_SYSTEM] = "system",
};

const char *cfg_class_name(unsigned cls)
{
    return cls < CFG_NCLASS ? cfg_class_names[cls] : "?";
}

void cfg_options_default(struct cfg_options *o)
{
    memset(o, 0, sizeof *o);
    o->hot_threshold = 1000;
}

bool cfg_init(struct cfg *g, const struct cfg_options *o)
{
    memset(g, 0, sizeof *g);
    if (o) g->opt = *o; else cfg_options_default(&g->opt);
    if (!g->opt.hot_threshold) g->opt.hot_threshold = 1;
    g->rng = 0x9e3779b97f4a7c15ull;
    if (!pcmap_init(&g->block_by_pc, 1024) || !pcmap_init(&g->insn_owner, 4096) ||
        !pcmap_init(&g->leaders, 1024) || !pcmap_init(&g->tb_by_id, 1024)) {
        cfg_free(g);
        return false;
    }
    return true;
}

static void block_free_samples(struct cfg_block *b)
{
    for (uint32_t i = 0; i < b->nsample; i++) free(b->sample[i].mem);
    free(b->sample);
    b->sample = NULL;
    b->nsample = 0;
}

void cfg_free(struct cfg *g)
{
    for (uint32_t i = 0; i < g->nblocks; i++) {
        struct cfg_block *b = &g->block[i];
        free(b->insn);
        free(b->code);
        free(b->succ);
        block_free_samples(b);
    }
    free(g->block);
    free(g->tb);
    free(g->tb_dense);
    free(g->vcpu_last);
    free(g->vcpu_first);
    free(g->hot_queue);
    pcmap_free(&g->block_by_pc);
    pcmap_free(&g->insn_owner);
    pcmap_free(&g->leaders);
    pcmap_free(&g->tb_by_id);
    memset(g, 0, sizeof *g);
}

bool cfg_reset(struct cfg *g)
{
    struct cfg_options o = g->opt;
    struct cfg_run run = g->run;
    cfg_free(g);
    if (!cfg_init(g, &o)) return false;
    g->run = run;
    return true;
}

static void hot_push(struct cfg *g, uint32_t bi)
{
    struct cfg_block *b = &g->block[bi];
    if (b->hot_pending) return;
    if (!array_grow((void **)&g->hot_queue, &g->caphot, g->nhot + 1, sizeof *g->hot_queue)) {
        log_error("cfg: out of memory queueing hot block %#llx", (unsigned long long)b->pc);
        return;
    }
    b->hot_pending = true;
    g->hot_queue[g->nhot++] = bi;
}

static uint32_t block_new(struct cfg *g, uint64_t pc, uint8_t mode, uint16_t space)
{
    if (!array_grow((void **)&g->block, &g->capblocks, g->nblocks + 1, sizeof *g->block)) return CFG_NONE;
    uint32_t bi = g->nblocks++;
    struct cfg_block *b = &g->block[bi];
    memset(b, 0, sizeof *b);
    b->pc = b->end = pc;
    b->mode = mode;
    b->space = space;
    b->fall = CFG_NONE;
    b->idom = CFG_NONE;
    uint32_t tag = space_tag(mode, space);
    if (!pcmap_put(&g->block_by_pc, pc, tag, bi) || !pcmap_put(&g->leaders, pc, tag, LEADER_TAG)) {
        g->nblocks--;
        return CFG_NONE;
    }
    g->analyzed = false;
    return bi;
}

static void block_recompute_kind(struct cfg_block *b)
{
    b->kind = 0;
    for (uint32_t i = 0; i < b->ninsns; i++) b->kind |= b->insn[i].kind;
}

/* Appends instructions [first, first+n) (with their bytes) to block bi. */
static bool block_append(struct cfg *g, uint32_t bi, const struct insn_info *ins, uint32_t n,
                         const uint8_t *code)
{
    struct cfg_block *b = &g->block[bi];
    uint32_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) bytes += ins[i].len;
    size_t old = (size_t)(b->end - b->pc);
    struct insn_info *ni = realloc(b->insn, (size_t)(b->ninsns + n) * sizeof *ni);
    if (!ni) return false;
    b->insn = ni;
    uint8_t *nc = realloc(b->code, old + bytes);
    if (!nc) return false;
    b->code = nc;
    memcpy(b->insn + b->ninsns, ins, (size_t)n * sizeof *ins);
    memcpy(b->code + old, code, bytes);
    for (uint32_t i = 0; i < n; i++)
        if (!pcmap_put(&g->insn_owner, ins[i].pc, space_tag(b->mode, b->space), bi)) return false;
    b->ninsns += n;
    b->end += bytes;
    block_recompute_kind(b);
    g->analyzed = false;
    return true;
}

/* Splits block bi at instruction address `at` (which must be an instruction
 * boundary inside it).  Every execution of the old block ran both halves, so
 * the tail inherits the count and the out-edges, and the head gets one edge
 * to the tail with that count.  Returns the tail, or CFG_NONE. */
static uint32_t block_split(struct cfg *g, uint32_t bi, uint64_t at)
{
    uint32_t k = 0;
    {
        struct cfg_block *b = &g->block[bi];
        while (k < b->ninsns && b->insn[k].pc != at) k++;
        if (k == 0 || k >= b->ninsns) return CFG_NONE;  /* not a boundary inside: leave it */
    }
    uint32_t yi = block_new(g, at, g->block[bi].mode, g->block[bi].space);
    if (yi == CFG_NONE) return CFG_NONE;
    struct cfg_block *b = &g->block[bi];
    struct cfg_block *y = &g->block[yi];
    uint32_t tail = b->ninsns - k;
    struct cfg_edge *head_edge = malloc(sizeof *head_edge);
    if (!head_edge || !block_append(g, yi, b->insn + k, tail, b->code + (at - b->pc))) {
        free(head_edge);
        log_error("cfg: out of memory splitting block %#llx at %#llx",
                  (unsigned long long)b->pc, (unsigned long long)at);
        return CFG_NONE;
    }
    y->exec_count = b->exec_count;
    y->succ = b->succ; y->nsucc = b->nsucc; y->capsucc = b->capsucc; y->last_succ = b->last_succ;
    y->fall = b->fall;
    head_edge->to = yi;
    head_edge->count = b->exec_count;
    b->succ = head_edge; b->nsucc = b->capsucc = 1; b->last_succ = 0;
    b->fall = yi;
    b->ninsns = k;
    b->end = at;
    block_recompute_kind(b);
    /* Samples stay with the head (they were taken at its entry); post
     * states no longer describe the head's exit. */
    for (uint32_t s = 0; s < b->nsample; s++) b->sample[s].has_post = false;
    for (uint32_t v = 0; v < g->nvcpus; v++)
        if (g->vcpu_last[v] == bi) g->vcpu_last[v] = yi;
    if (b->hot_pending || b->emitted) {
        /* What was emitted for the old extent is stale: emit both again. */
        b->emitted = false;
        hot_push(g, bi);
    }
    if (y->exec_count >= g->opt.hot_threshold) hot_push(g, yi);
    g->n.splits++;
    return yi;
}

/* Records that `pc` starts a basic block; splits the block containing it. */
static void add_leader(struct cfg *g, uint64_t pc, uint32_t tag)
{
    uint32_t v;
    if (pcmap_get(&g->leaders, pc, tag, &v)) return;
    if (!pcmap_put(&g->leaders, pc, tag, LEADER_TAG)) return;
    uint32_t owner;
    if (pcmap_get(&g->insn_owner, pc, tag, &owner) && g->block[owner].pc != pc)
        block_split(g, owner, pc);
}

/* A static leader (direct branch target, fall-through after a control
 * transfer) splits the TB being added.  Outside it, it is not recorded: the
 * code there may belong to another program that shares the address (a TB
 * does not say which address space it comes from), and a branch that is
 * ever taken makes QEMU start a TB at its target, which is a leader that
 * splits the block already known there ("targets discovered later"). */
static void add_static_leader(struct cfg *g, uint64_t pc, uint32_t tag, uint64_t tb_pc, uint64_t tb_end)
{
    if (pc >= tb_pc && pc < tb_end) add_leader(g, pc, tag);
}

static bool is_leader(const struct cfg *g, uint64_t pc, uint32_t tag)
{
    uint32_t v;
    return pcmap_get(&g->leaders, pc, tag, &v);
}

/* Do the bytes of the decoded TB agree with what space `sp` knows at its addresses? */
static bool space_agrees(const struct cfg *g, uint32_t sp, uint8_t mode, const struct insn_info *ins,
                         uint32_t n, const uint8_t *code, uint64_t pc)
{
    uint32_t tag = space_tag(mode, sp);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bi;
        if (!pcmap_get(&g->insn_owner, ins[i].pc, tag, &bi)) continue;
        const struct cfg_block *b = &g->block[bi];
        uint64_t off = ins[i].pc - b->pc;
        uint64_t len = ins[i].len;
        if (off + len > b->end - b->pc) return false;
        if (memcmp(b->code + off, code + (ins[i].pc - pc), len) != 0) return false;
    }
    return true;
}

static void unknown_insn(struct insn_info *ii, uint64_t pc, uint8_t len)
{
    memset(ii, 0, sizeof *ii);
    ii->pc = pc;
    ii->len = len;
    /* Nothing known: reads everything, kills nothing, ends the block. */
    ii->use = ii->def = X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS;
    ii->flow = INSN_FLOW_SYS;
    ii->kind = INSN_K_SYSTEM | INSN_K_CONTROL;
}

static bool tb_register(struct cfg *g, uint32_t tb_id, uint32_t ti)
{
    if (tb_id < TB_DENSE_MAX) {
        if (tb_id >= g->captb_dense) {
            uint32_t old = g->captb_dense;
            if (!array_grow((void **)&g->tb_dense, &g->captb_dense, tb_id + 1, sizeof *g->tb_dense))
                return false;
            for (uint32_t i = old; i < g->captb_dense; i++) g->tb_dense[i] = CFG_NONE;
        }
        g->tb_dense[tb_id] = ti;
        return true;
    }
    return pcmap_put(&g->tb_by_id, tb_id, 1, ti);
}

static uint32_t tb_lookup(const struct cfg *g, uint32_t tb_id)
{
    if (tb_id < TB_DENSE_MAX) return tb_id < g->captb_dense ? g->tb_dense[tb_id] : CFG_NONE;
    uint32_t v;
    return pcmap_get(&g->tb_by_id, tb_id, 1, &v) ? v : CFG_NONE;
}

bool cfg_rebuild_index(struct cfg *g)
{
    for (uint32_t bi = 0; bi < g->nblocks; bi++) {
        const struct cfg_block *b = &g->block[bi];
        uint32_t tag = space_tag(b->mode, b->space);
        if (!pcmap_put(&g->block_by_pc, b->pc, tag, bi)) return false;
        for (uint32_t i = 0; i < b->ninsns; i++)
            if (!pcmap_put(&g->insn_owner, b->insn[i].pc, tag, bi)) return false;
    }
    /* Registration order = table order: a redefined id maps to its latest TB. */
    for (uint32_t ti = 0; ti < g->ntbs; ti++)
        if (!tb_register(g, g->tb[ti].tb_id, ti)) return false;
    return true;
}

bool cfg_add_tb(struct cfg *g, uint32_t tb_id, uint64_t pc, uint8_t cpu_mode, uint8_t cpl,
                const uint8_t *code, uint32_t code_len, const uint8_t *insn_len, uint32_t ninsn)
{
    if (cpu_mode != 16 && cpu_mode != 32 && cpu_mode != 64) {
        log_error("cfg: TRACE_TB tb_id %u pc %#llx: cpu_mode %u is not 16, 32 or 64; TB ignored",
                  tb_id, (unsigned long long)pc, cpu_mode);
        g->n.bad_records++;
        return false;
    }
    if (!code || code_len == 0 || code_len > 4096) {
        log_error("cfg: TRACE_TB tb_id %u pc %#llx: code length %u out of range 1..4096; TB ignored",
                  tb_id, (unsigned long long)pc, code_len);
        g->n.bad_records++;
        return false;
    }
    uint32_t known = tb_lookup(g, tb_id);
    if (known != CFG_NONE) {
        const struct cfg_tb *t = &g->tb[known];
        if (t->pc == pc && t->mode == cpu_mode) {
            g->n.tbs_repeated++;       /* a redelivered record (at-least-once) */
            return true;
        }
        g->n.tbs_conflicting++;
        log_warn("cfg: TRACE_TB tb_id %u redefined (pc %#llx -> %#llx); using the new one",
                 tb_id, (unsigned long long)t->pc, (unsigned long long)pc);
    }

    /* Decode the whole TB. */
    struct insn_info *ins = malloc((size_t)code_len * sizeof *ins);
    if (!ins) return false;
    uint32_t n = 0, off = 0;
    while (off < code_len) {
        struct insn_info *ii = &ins[n];
        uint64_t ipc = pc + off;
        if (cpu_mode != 64) ipc &= 0xffffffffull;
        bool ok = insn_info_decode(cpu_mode, ipc, code + off, code_len - off, ii);
        uint32_t tracer_len = (insn_len && n < ninsn) ? insn_len[n] : 0;
        if (ok && tracer_len && tracer_len != ii->len) {
            g->n.len_mismatches++;
            log_warn("cfg: TB %u insn %u at %#llx: Zydis length %u, tracer length %u (using Zydis)",
                     tb_id, n, (unsigned long long)ipc, ii->len, tracer_len);
        }
        if (!ok) {
            g->n.undecodable_insns++;
            uint32_t len = (tracer_len && tracer_len <= code_len - off) ? tracer_len : code_len - off;
            log_warn("cfg: TB %u at %#llx: %u bytes at %#llx do not decode in %u-bit mode",
                     tb_id, (unsigned long long)pc, len, (unsigned long long)ipc, cpu_mode);
            unknown_insn(ii, ipc, (uint8_t)(len > 255 ? 255 : len));
        }
        off += ii->len;
        n++;
    }
    const uint8_t mode = cpu_mode;
    uint64_t tb_end = ins[n - 1].pc + ins[n - 1].len;

    /* The code space: the first whose known bytes agree with this TB. */
    uint32_t space = 0;
    while (space < g->nspaces && !space_agrees(g, space, mode, ins, n, code, pc)) space++;
    if (space >= CFG_MAX_SPACES) {
        log_error("cfg: TB %u at %#llx: more than %u different codes at the same addresses; TB ignored",
                  tb_id, (unsigned long long)pc, CFG_MAX_SPACES);
        g->n.bad_records++;
        free(ins);
        return false;
    }
    if (space == g->nspaces) {
        if (g->nspaces) {
            g->n.code_spaces_opened++;
            log_info("cfg: TB %u at %#llx: code differs from every known code at that address "
                     "(another program, or modified code): code space %u", tb_id, (unsigned long long)pc, space);
        }
        g->nspaces++;
    }
    const uint32_t tag = space_tag(mode, space);

    /* Leaders: the TB start, direct targets, what follows a control
     * transfer, and where execution resumes after a TB cut short. */
    add_leader(g, ins[0].pc, tag);
    for (uint32_t i = 0; i < n; i++) {
        const struct insn_info *ii = &ins[i];
        if (ii->flow == INSN_FLOW_JCC || ii->flow == INSN_FLOW_JMP || ii->flow == INSN_FLOW_CALL)
            add_static_leader(g, ii->target, tag, pc, tb_end);
        if (ii->flow != INSN_FLOW_NONE || i == n - 1)
            add_static_leader(g, ii->pc + ii->len, tag, pc, tb_end);
    }

    /* Chain of blocks covering the TB, reusing (and splitting) existing ones. */
    uint32_t i = 0, prev = CFG_NONE, first = CFG_NONE;
    const uint8_t *cp = code;
    while (i < n) {
        uint64_t p = ins[i].pc;
        uint32_t bi;
        if (pcmap_get(&g->insn_owner, p, tag, &bi)) {
            if (g->block[bi].pc != p) {
                uint32_t t = block_split(g, bi, p);
                if (t == CFG_NONE) break;     /* misaligned overlap: stop the chain here */
                bi = t;
            }
            uint64_t bend = g->block[bi].end;
            while (i < n && ins[i].pc < bend) { cp += ins[i].len; i++; }
            if (i < n && ins[i].pc != bend) {
                g->n.tbs_conflicting++;      /* decodings disagree: keep what we have */
                if (prev != CFG_NONE && g->block[prev].end == g->block[bi].pc) g->block[prev].fall = bi;
                if (first == CFG_NONE) first = bi;
                prev = bi;
                break;
            }
        } else {
            bi = block_new(g, p, mode, (uint16_t)space);
            if (bi == CFG_NONE) break;
            uint32_t j = i;
            while (j < n) {
                bool ends = ins[j].flow != INSN_FLOW_NONE;
                j++;
                if (ends || (j < n && (is_leader(g, ins[j].pc, tag) ||
                                       pcmap_get(&g->insn_owner, ins[j].pc, tag, &(uint32_t){0}))))
                    break;
            }
            if (!block_append(g, bi, ins + i, j - i, cp)) {
                log_error("cfg: out of memory adding TB %u", tb_id);
                break;
            }
            for (uint32_t k = i; k < j; k++) cp += ins[k].len;
            i = j;
        }
        if (prev != CFG_NONE && g->block[prev].end == g->block[bi].pc) g->block[prev].fall = bi;
        if (first == CFG_NONE) first = bi;
        prev = bi;
    }
    free(ins);
    if (first == CFG_NONE) {
        g->n.bad_records++;
        return false;
    }

    if (!array_grow((void **)&g->tb, &g->captbs, g->ntbs + 1, sizeof *g->tb)) return false;
    uint32_t ti = g->ntbs++;
    struct cfg_tb *t = &g->tb[ti];
    t->tb_id = tb_id;
    t->pc = pc;
    t->mode = mode;
    t->cpl = cpl;
    t->first = first;
    t->end = g->block[prev].end;
    t->execs = 0;
    if (!tb_register(g, tb_id, ti)) return false;
    g->n.tbs++;
    return true;
}

static void edge_inc(struct cfg *g, uint32_t from, uint32_t to)
{
    struct cfg_block *f = &g->block[from];
    if (f->nsucc && f->succ[f->last_succ].to == to) {
        f->succ[f->last_succ].count++;
        return;
    }
    for (uint32_t k = 0; k < f->nsucc; k++) {
        if (f->succ[k].to == to) {
            f->succ[k].count++;
            f->last_succ = k;
            return;
        }
    }
    if (!array_grow((void **)&f->succ, &f->capsucc, f->nsucc + 1, sizeof *f->succ)) {
        log_error("cfg: out of memory adding edge %#llx -> %#llx",
                  (unsigned long long)f->pc, (unsigned long long)g->block[to].pc);
        return;
    }
    f->succ[f->nsucc].to = to;
    f->succ[f->nsucc].count = 1;
    f->last_succ = f->nsucc++;
    g->analyzed = false;
}

static bool vcpu_ensure(struct cfg *g, uint16_t vcpu)
{
    if (vcpu < g->nvcpus) return true;
    if (vcpu >= CFG_MAX_VCPUS) return false;
    uint32_t need = (uint32_t)vcpu + 1;
    uint32_t *a = realloc(g->vcpu_last, need * sizeof *a);
    if (!a) return false;
    g->vcpu_last = a;
    uint32_t *f = realloc(g->vcpu_first, need * sizeof *f);
    if (!f) return false;
    g->vcpu_first = f;
    for (uint32_t v = g->nvcpus; v < need; v++) g->vcpu_last[v] = g->vcpu_first[v] = CFG_NONE;
    g->nvcpus = need;
    return true;
}

void cfg_add_exec(struct cfg *g, uint16_t vcpu, const uint32_t *tb_ids, size_t n)
{
    if (!vcpu_ensure(g, vcpu)) {
        log_error("cfg: TRACE_EXEC vcpu %u out of range (max %u); %zu executions dropped",
                  vcpu, CFG_MAX_VCPUS - 1, n);
        g->n.bad_records++;
        return;
    }
    uint32_t last = g->vcpu_last[vcpu];
    const uint64_t hot = g->opt.hot_threshold;
    for (size_t k = 0; k < n; k++) {
        uint32_t ti = tb_lookup(g, tb_ids[k]);
        if (ti == CFG_NONE) {
            if (g->n.exec_unknown_tb++ < 10)
                log_warn("cfg: TRACE_EXEC vcpu %u: unknown tb_id %u (no TRACE_TB seen)", vcpu, tb_ids[k]);
            last = CFG_NONE;       /* never invent an edge across a gap */
            continue;
        }
        struct cfg_tb *t = &g->tb[ti];
        t->execs++;
        uint32_t b = t->first;
        if (g->vcpu_first[vcpu] == CFG_NONE) g->vcpu_first[vcpu] = b;
        for (;;) {
            if (last != CFG_NONE) edge_inc(g, last, b);
            struct cfg_block *bb = &g->block[b];
            if (++bb->exec_count == hot) hot_push(g, b);
            last = b;
            if (bb->end >= t->end || bb->fall == CFG_NONE) break;
            b = bb->fall;
        }
    }
    g->vcpu_last[vcpu] = last;
    g->n.execs += n;
}

struct cfg_block *cfg_block_at_space(struct cfg *g, uint64_t pc, uint8_t mode, uint16_t space)
{
    uint32_t bi;
    return pcmap_get(&g->block_by_pc, pc, space_tag(mode, space), &bi) ? &g->block[bi] : NULL;
}

struct cfg_block *cfg_block_at(struct cfg *g, uint64_t pc, uint8_t mode)
{
    for (uint32_t sp = 0; sp < g->nspaces; sp++) {
        struct cfg_block *b = cfg_block_at_space(g, pc, mode, (uint16_t)sp);
        if (b) return b;
    }
    return NULL;
}

uint64_t cfg_edge_count(const struct cfg *g, const struct cfg_block *from, const struct cfg_block *to)
{
    uint32_t ti = (uint32_t)(to - g->block);
    for (uint32_t k = 0; k < from->nsucc; k++)
        if (from->succ[k].to == ti) return from->succ[k].count;
    return 0;
}

static uint64_t cfg_rand(struct cfg *g)
{
    return xorshift64(&g->rng);
}

bool cfg_add_sample(struct cfg *g, uint32_t tb_id, uint64_t pc, uint64_t exec_seq,
                    const struct x86_regs *pre, const struct x86_mem_access *mem, uint32_t nmem,
                    const struct x86_regs *post, uint64_t next_pc)
{
    uint32_t ti = tb_lookup(g, tb_id);
    uint32_t bi = CFG_NONE;
    bool single = false;
    if (ti != CFG_NONE && g->tb[ti].pc == pc) {
        bi = g->tb[ti].first;
        single = g->block[bi].end >= g->tb[ti].end;
    } else {
        static const uint8_t modes[] = { 64, 32, 16 };
        for (unsigned m = 0; m < 3 && bi == CFG_NONE; m++) {
            struct cfg_block *fb = cfg_block_at(g, pc, modes[m]);
            if (fb) bi = (uint32_t)(fb - g->block);
        }
    }
    g->n.samples++;
    if (bi == CFG_NONE) {
        g->n.samples_unknown++;
        if (g->n.samples_unknown <= 10)
            log_warn("cfg: TRACE_SAMPLE tb_id %u pc %#llx: no such block; sample dropped",
                     tb_id, (unsigned long long)pc);
        return false;
    }
    struct cfg_block *b = &g->block[bi];
    b->samples_seen++;
    uint32_t slot;
    if (b->nsample < CFG_MAX_SAMPLES) {
        if (!b->sample) {
            b->sample = calloc(CFG_MAX_SAMPLES, sizeof *b->sample);
            if (!b->sample) return false;
        }
        slot = b->nsample++;
    } else {
        /* Reservoir sampling: every execution sampled so far equally likely kept. */
        uint64_t r = cfg_rand(g) % b->samples_seen;
        if (r >= CFG_MAX_SAMPLES) return true;
        slot = (uint32_t)r;
        free(b->sample[slot].mem);
    }
    struct cfg_sample *s = &b->sample[slot];
    memset(s, 0, sizeof *s);
    s->exec_seq = exec_seq;
    s->next_pc = next_pc;
    s->pre = *pre;
    if (post && single) { s->post = *post; s->has_post = true; }
    if (nmem) {
        s->mem = malloc((size_t)nmem * sizeof *s->mem);
        if (!s->mem) { s->nmem = 0; return false; }
        memcpy(s->mem, mem, (size_t)nmem * sizeof *s->mem);
        s->nmem = nmem;
    }
    return true;
}
