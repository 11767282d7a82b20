/* cfg_analysis.c — block summaries and classes, dominators, natural loops and
 * liveness over the observed CFG; ranking and emission of hot blocks. */
#include "cfg.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

static x86_locset mode_all(uint8_t mode)
{
    return (mode == 64 ? X86_LOC_ALL_GPRS : (x86_locset)0xffu) | X86_LOC_ALL_FLAGS;
}

static unsigned block_class_of(const struct cfg_block *b)
{
    if (b->kind & INSN_K_SYSTEM) return CFG_CLASS_SYSTEM;
    if (b->kind & INSN_K_FPSIMD) return CFG_CLASS_FPSIMD;
    /* The stack access of call/ret belongs to the control transfer. */
    for (uint32_t i = 0; i < b->ninsns; i++)
        if ((b->insn[i].kind & INSN_K_MEM) && !(b->insn[i].kind & INSN_K_CONTROL)) return CFG_CLASS_MEM;
    for (uint32_t i = 0; i < b->ninsns; i++)
        if (!(b->insn[i].kind & (INSN_K_CONTROL | INSN_K_NOP))) return CFG_CLASS_ALU;
    return CFG_CLASS_CONTROL;
}

/* use/kill/def summary, class and successor completeness of one block. */
static void block_summarize(const struct cfg *g, struct cfg_block *b)
{
    x86_locset use = 0, kill = 0, def = 0, undef = 0;
    for (uint32_t i = b->ninsns; i-- > 0;) {
        const struct insn_info *ii = &b->insn[i];
        use = (use & ~ii->kill) | ii->use;
    }
    for (uint32_t i = 0; i < b->ninsns; i++) {
        const struct insn_info *ii = &b->insn[i];
        kill |= ii->kill;
        def |= ii->def;
        undef = (undef & ~(ii->kill & X86_LOC_ALL_FLAGS)) | ii->flags_undef;
    }
    b->use = use;
    b->kill = kill;
    b->def = def;
    b->flags_undef_out = undef;
    b->cls = (uint8_t)block_class_of(b);

    /* Which successors must have been observed for the graph to be complete. */
    uint64_t expect[2];
    unsigned nexpect = 0;
    bool unknown = false;
    const struct insn_info *last = b->ninsns ? &b->insn[b->ninsns - 1] : NULL;
    switch (last ? last->flow : INSN_FLOW_SYS) {
    case INSN_FLOW_NONE: expect[nexpect++] = b->end; break;
    case INSN_FLOW_JCC:  expect[nexpect++] = last->target; expect[nexpect++] = b->end; break;
    case INSN_FLOW_JMP:
    case INSN_FLOW_CALL: expect[nexpect++] = last->target; break;
    default: unknown = true; break;
    }
    for (unsigned e = 0; e < nexpect && !unknown; e++) {
        bool seen = false;
        for (uint32_t k = 0; k < b->nsucc && !seen; k++)
            seen = g->block[b->succ[k].to].pc == expect[e];
        if (!seen) unknown = true;
    }
    b->succ_unknown = unknown;
}

static void liveness(struct cfg *g)
{
    for (uint32_t i = 0; i < g->nblocks; i++) {
        struct cfg_block *b = &g->block[i];
        b->live_out = b->succ_unknown ? mode_all(b->mode) : 0;
        b->live_in = b->use | (b->live_out & ~b->kill);
    }
    /* Round-robin to the fixed point; reverse creation order converges fast
     * on straight-line code.  Sets only grow, so this terminates. */
    bool changed = true;
    while (changed) {
        changed = false;
        for (uint32_t i = g->nblocks; i-- > 0;) {
            struct cfg_block *b = &g->block[i];
            x86_locset out = b->succ_unknown ? mode_all(b->mode) : 0;
            for (uint32_t k = 0; k < b->nsucc; k++) out |= g->block[b->succ[k].to].live_in;
            out &= mode_all(b->mode);
            x86_locset in = b->use | (out & ~b->kill);
            if (out != b->live_out || in != b->live_in) {
                b->live_out = out;
                b->live_in = in;
                changed = true;
            }
        }
    }
}

/* Predecessor lists in CSR form. */
struct preds {
    uint32_t *start;    /* nblocks + 1 */
    uint32_t *list;
};

static bool preds_build(const struct cfg *g, struct preds *p)
{
    uint32_t n = g->nblocks;
    p->start = calloc((size_t)n + 1, sizeof *p->start);
    size_t nedges = 0;
    for (uint32_t i = 0; i < n; i++) nedges += g->block[i].nsucc;
    p->list = malloc((nedges ? nedges : 1) * sizeof *p->list);
    if (!p->start || !p->list) return false;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < g->block[i].nsucc; k++) p->start[g->block[i].succ[k].to + 1]++;
    for (uint32_t i = 0; i < n; i++) p->start[i + 1] += p->start[i];
    uint32_t *fill = malloc(((size_t)n + 1) * sizeof *fill);
    if (!fill) return false;
    memcpy(fill, p->start, ((size_t)n + 1) * sizeof *fill);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < g->block[i].nsucc; k++) p->list[fill[g->block[i].succ[k].to]++] = i;
    free(fill);
    return true;
}

static void preds_free(struct preds *p)
{
    free(p->start);
    free(p->list);
}

/* Iterative DFS from `root` appending postorder into post[]; marks visited. */
static void dfs_post(const struct cfg *g, uint32_t root, uint8_t *visited, uint32_t *post,
                     uint32_t *npost, uint32_t *stack_b, uint32_t *stack_k)
{
    uint32_t sp = 0;
    visited[root] = 1;
    stack_b[sp] = root; stack_k[sp] = 0; sp++;
    while (sp) {
        uint32_t b = stack_b[sp - 1];
        uint32_t k = stack_k[sp - 1];
        if (k < g->block[b].nsucc) {
            stack_k[sp - 1]++;
            uint32_t s = g->block[b].succ[k].to;
            if (!visited[s]) {
                visited[s] = 1;
                stack_b[sp] = s; stack_k[sp] = 0; sp++;
            }
        } else {
            post[(*npost)++] = b;
            sp--;
        }
    }
}

/* Dominators (Cooper, Harvey, Kennedy: "A Simple, Fast Dominance
 * Algorithm") over a virtual root whose children are the entries: blocks
 * without observed predecessors, each vCPU's first block, and whatever the
 * previous ones do not reach. */
static bool dominators(struct cfg *g, const struct preds *p, uint32_t *rpo_num)
{
    uint32_t n = g->nblocks;
    uint8_t *visited = calloc(n ? n : 1, 1);
    uint8_t *is_entry = calloc(n ? n : 1, 1);
    uint32_t *post = malloc((n ? n : 1) * sizeof *post);
    uint32_t *sb = malloc((n ? n : 1) * sizeof *sb);
    uint32_t *sk = malloc((n ? n : 1) * sizeof *sk);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);   /* rpo index -> block */
    if (!visited || !is_entry || !post || !sb || !sk || !order) {
        free(visited); free(is_entry); free(post); free(sb); free(sk); free(order);
        return false;
    }
    uint32_t npost = 0;
    for (uint32_t v = 0; v < g->nvcpus; v++) {
        uint32_t e = g->vcpu_first[v];
        if (e != CFG_NONE && !visited[e]) { is_entry[e] = 1; dfs_post(g, e, visited, post, &npost, sb, sk); }
    }
    for (uint32_t i = 0; i < n; i++)
        if (p->start[i] == p->start[i + 1] && !visited[i]) { is_entry[i] = 1; dfs_post(g, i, visited, post, &npost, sb, sk); }
    for (uint32_t i = 0; i < n; i++)
        if (!visited[i]) { is_entry[i] = 1; dfs_post(g, i, visited, post, &npost, sb, sk); }
    /* Reverse postorder numbers; the virtual root is number 0. */
    for (uint32_t k = 0; k < npost; k++) {
        uint32_t b = post[npost - 1 - k];
        rpo_num[b] = k + 1;
        order[k] = b;
    }
    /* idom as rpo numbers; 0 = virtual root. */
    uint32_t *idom = malloc(((size_t)n + 1) * sizeof *idom);
    if (!idom) { free(visited); free(is_entry); free(post); free(sb); free(sk); free(order); return false; }
    const uint32_t UNDEF = UINT32_MAX;
    for (uint32_t k = 0; k <= n; k++) idom[k] = UNDEF;
    idom[0] = 0;
    bool changed = true;
    while (changed) {
        changed = false;
        for (uint32_t k = 0; k < npost; k++) {
            uint32_t b = order[k];
            uint32_t bn = k + 1;
            uint32_t new_idom = is_entry[b] ? 0 : UNDEF;
            for (uint32_t q = p->start[b]; q < p->start[b + 1]; q++) {
                uint32_t pn = rpo_num[p->list[q]];
                if (idom[pn] == UNDEF) continue;
                if (new_idom == UNDEF) { new_idom = pn; continue; }
                uint32_t f1 = pn, f2 = new_idom;
                while (f1 != f2) {
                    while (f1 > f2) f1 = idom[f1];
                    while (f2 > f1) f2 = idom[f2];
                }
                new_idom = f1;
            }
            if (new_idom != UNDEF && idom[bn] != new_idom) {
                idom[bn] = new_idom;
                changed = true;
            }
        }
    }
    for (uint32_t k = 0; k < npost; k++) {
        uint32_t b = order[k];
        uint32_t d = idom[k + 1];
        g->block[b].idom = (d == 0 || d == UNDEF) ? CFG_NONE : order[d - 1];
    }
    free(idom); free(visited); free(is_entry); free(post); free(sb); free(sk); free(order);
    return true;
}

bool cfg_dominates(const struct cfg *g, uint32_t h, uint32_t b)
{
    for (uint32_t x = b; x != CFG_NONE; x = g->block[x].idom)
        if (x == h) return true;
    return false;
}

/* Natural loops: for each header h with back edges t->h (h dominates t), the
 * body is h plus everything that reaches a tail without passing through h. */
static bool loops(struct cfg *g, const struct preds *p)
{
    uint32_t n = g->nblocks;
    uint32_t *stamp = calloc(n ? n : 1, sizeof *stamp);
    uint32_t *stack = malloc((n ? n : 1) * sizeof *stack);
    uint32_t *inner_size = malloc((n ? n : 1) * sizeof *inner_size);
    uint32_t *body = malloc((n ? n : 1) * sizeof *body);
    if (!stamp || !stack || !inner_size || !body) {
        free(stamp); free(stack); free(inner_size); free(body);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        g->block[i].loop_depth = 0;
        g->block[i].loop_header = 0;
        g->block[i].is_loop_header = false;
        inner_size[i] = UINT32_MAX;
    }
    for (uint32_t h = 0; h < n; h++) {
        uint32_t sp = 0, mark = h + 1;
        bool is_header = false;
        for (uint32_t q = p->start[h]; q < p->start[h + 1]; q++) {
            uint32_t t = p->list[q];
            if (cfg_dominates(g, h, t)) {
                is_header = true;
                if (t != h && stamp[t] != mark) {   /* a self-loop adds no body */
                    stamp[t] = mark;
                    stack[sp++] = t;
                }
            }
        }
        if (!is_header) continue;
        g->block[h].is_loop_header = true;
        stamp[h] = mark;
        /* Collect the body (stamp == mark), then walk it again to count. */
        uint32_t size = 1;
        uint32_t nbody = 0;
        body[nbody++] = h;
        while (sp) {
            uint32_t x = stack[--sp];
            body[nbody++] = x;
            size++;
            for (uint32_t q = p->start[x]; q < p->start[x + 1]; q++) {
                uint32_t y = p->list[q];
                if (stamp[y] != mark) { stamp[y] = mark; stack[sp++] = y; }
            }
        }
        for (uint32_t k = 0; k < nbody; k++) {
            struct cfg_block *b = &g->block[body[k]];
            if (b->loop_depth < 255) b->loop_depth++;
            if (size < inner_size[body[k]]) {
                inner_size[body[k]] = size;
                b->loop_header = g->block[h].pc;
            }
        }
    }
    free(stamp); free(stack); free(inner_size); free(body);
    return true;
}

bool cfg_analyze(struct cfg *g)
{
    if (g->analyzed) return true;
    for (uint32_t i = 0; i < g->nblocks; i++) block_summarize(g, &g->block[i]);
    liveness(g);
    struct preds p = { 0 };
    uint32_t *rpo = calloc(g->nblocks ? g->nblocks : 1, sizeof *rpo);
    bool ok = rpo && preds_build(g, &p) && dominators(g, &p, rpo) && loops(g, &p);
    preds_free(&p);
    free(rpo);
    if (!ok) {
        log_error("cfg: out of memory analysing %u blocks", g->nblocks);
        return false;
    }
    g->analyzed = true;
    return true;
}

long cfg_emit_hot(struct cfg *g, cfg_emit_fn emit, void *ctx)
{
    if (!g->nhot) return 0;
    if (!cfg_analyze(g)) return -1;
    long n = 0;
    uint32_t k = 0;
    for (; k < g->nhot; k++) {
        struct cfg_block *b = &g->block[g->hot_queue[k]];
        if (!emit(ctx, g, b)) break;
        b->hot_pending = false;
        b->emitted = true;
        n++;
    }
    memmove(g->hot_queue, g->hot_queue + k, (g->nhot - k) * sizeof *g->hot_queue);
    g->nhot -= k;
    return g->nhot ? -1 : n;
}

static int rank_cmp(const void *a, const void *b, void *ctx)
{
    const struct cfg *g = ctx;
    const struct cfg_block *x = &g->block[*(const uint32_t *)a];
    const struct cfg_block *y = &g->block[*(const uint32_t *)b];
    if (x->exec_count != y->exec_count) return x->exec_count > y->exec_count ? -1 : 1;
    if (x->pc != y->pc) return x->pc < y->pc ? -1 : 1;
    return (int)x->mode - (int)y->mode;
}

uint32_t *cfg_rank_blocks(const struct cfg *g, uint32_t *n)
{
    uint32_t *idx = malloc((g->nblocks ? g->nblocks : 1) * sizeof *idx);
    *n = 0;
    if (!idx) return NULL;
    for (uint32_t i = 0; i < g->nblocks; i++) idx[i] = i;
    qsort_r(idx, g->nblocks, sizeof *idx, rank_cmp, (void *)g);
    *n = g->nblocks;
    return idx;
}

long cfg_emit_final(struct cfg *g, uint64_t min_count, cfg_emit_fn emit, void *ctx)
{
    if (!cfg_analyze(g)) return -1;
    uint32_t n;
    uint32_t *idx = cfg_rank_blocks(g, &n);
    if (!idx) return -1;
    long emitted = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct cfg_block *b = &g->block[idx[k]];
        if (b->exec_count < min_count || b->exec_count == 0) break;
        if (!emit(ctx, g, b)) { free(idx); return -1; }
        b->emitted = true;
        b->hot_pending = false;
        emitted++;
    }
    /* Everything queued is covered by this emission (or below min_count). */
    for (uint32_t k = 0; k < g->nhot; k++) g->block[g->hot_queue[k]].hot_pending = false;
    g->nhot = 0;
    free(idx);
    return emitted;
}
