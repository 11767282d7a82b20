/* cfg_record.c — the cfg stage's records: TRACE_* in, BLOCK out. */
#include "cfg_record.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* A trace run begins: the first record of the stream, anything after a
 * TRACE_END, or a TRACE_TB whose id is not above the run's highest (one
 * tracer numbers its TBs 1, 2, 3... in stream order; a restarted one starts
 * again at 1).  The graph of the previous run is replaced, so that the
 * graph and its counts always describe one whole run of the workloads. */
static void run_begin_if_new(struct cfg *g, const struct rec *r)
{
    bool restarted = r->type == REC_TRACE_TB && g->run.has_tb && r->u.trace_tb.tb_id <= g->run.max_tb_id;
    if (g->run.runs && !g->run.ended && !restarted) return;
    if (g->run.runs) {
        if (g->run.ended) {
            g->run.runs_replaced++;
            log_info("cfg: a new trace run begins after a complete one (%s): it replaces the graph of "
                     "%u blocks, %llu executions", rec_type_name(r->type), g->nblocks,
                     (unsigned long long)g->n.execs);
        } else {
            g->run.runs_discarded++;
            log_warn("cfg: the tracer restarted (TRACE_TB id %u after id %u, no TRACE_END): the dead run's "
                     "partial graph (%u blocks, %llu executions) is discarded; the new run starts empty",
                     r->u.trace_tb.tb_id, g->run.max_tb_id, g->nblocks, (unsigned long long)g->n.execs);
        }
        if (!cfg_reset(g)) log_error("cfg: out of memory starting a new trace run");
    }
    g->run.runs++;
    g->run.has_tb = false;
    g->run.ended = false;
    g->run.max_tb_id = 0;
}

int cfg_consume(struct cfg *g, const struct rec *r)
{
    switch (r->type) {
    case REC_TRACE_TB: case REC_TRACE_EXEC: case REC_TRACE_SAMPLE: case REC_TRACE_END: case REC_TRACE_INSN:
    case REC_TRACE_INSNS:
        run_begin_if_new(g, r);
        break;
    default:
        break;
    }
    switch (r->type) {
    case REC_TRACE_TB: {
        const struct rec_trace_tb *t = &r->u.trace_tb;
        if (!g->run.has_tb || t->tb_id > g->run.max_tb_id) g->run.max_tb_id = t->tb_id;
        g->run.has_tb = true;
        cfg_add_tb(g, t->tb_id, t->pc, t->cpu_mode, t->cpl, t->code.ptr, t->code.len,
                   t->insn_len.ptr, t->insn_len.len);
        return CFG_CONSUMED;
    }
    case REC_TRACE_EXEC: {
        const struct rec_trace_exec *e = &r->u.trace_exec;
        uint32_t ids[1024];
        size_t n = e->tb_ids.len / 4;
        /* Packed little-endian; convert in chunks (no allocation). */
        for (size_t k = 0; k < n;) {
            size_t m = n - k < 1024 ? n - k : 1024;
            for (size_t j = 0; j < m; j++) {
                const uint8_t *p = e->tb_ids.ptr + 4 * (k + j);
                ids[j] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            }
            cfg_add_exec(g, e->vcpu, ids, m);
            k += m;
        }
        return CFG_CONSUMED;
    }
    case REC_TRACE_SAMPLE: {
        const struct rec_trace_sample *s = &r->u.trace_sample;
        cfg_add_sample(g, s->tb_id, s->pc, s->exec_seq, &s->pre, s->mem.v, s->mem.n,
                       s->post.present ? &s->post.regs : NULL, s->next_pc);
        return CFG_CONSUMED;
    }
    case REC_TRACE_END:
        g->run.ended = true;
        return CFG_END;
    case REC_TRACE_INSN: case REC_TRACE_INSNS:
        return CFG_IGNORED;     /* instruction-level mode: not used for the CFG */
    default:
        g->n.bad_records++;
        log_warn("cfg: unexpected %s record on the trace input; ignored", rec_type_name(r->type));
        return CFG_IGNORED;
    }
}

int cfg_block_encode(const struct cfg *g, const struct cfg_block *b, struct rec_buf *out,
                     struct rec_error *err)
{
    struct rec_succ succ[REC_MAX_SUCCS];
    struct rec_sample samp[REC_MAX_SAMPLES];
    struct rec_block r;
    memset(&r, 0, sizeof r);
    r.pc = b->pc;
    r.cpu_mode = b->mode;
    r.code.ptr = b->code;
    r.code.len = (uint32_t)(b->end - b->pc);
    r.ninsns = b->ninsns;
    r.exec_count = b->exec_count;
    r.class = b->cls;
    r.loop_depth = b->loop_depth;
    r.loop_header = b->loop_header;
    r.live_in = b->live_in;
    r.live_out = b->live_out;
    /* The most frequent successors when there are more than a record holds. */
    uint32_t ns = 0;
    for (uint32_t k = 0; k < b->nsucc; k++) {
        struct rec_succ e = { g->block[b->succ[k].to].pc, b->succ[k].count };
        if (ns < REC_MAX_SUCCS) {
            succ[ns++] = e;
        } else {
            uint32_t min = 0;
            for (uint32_t j = 1; j < ns; j++) if (succ[j].count < succ[min].count) min = j;
            if (e.count > succ[min].count) succ[min] = e;
        }
    }
    r.succs.n = ns;
    r.succs.v = succ;
    uint32_t nsamp = b->nsample < REC_MAX_SAMPLES ? b->nsample : REC_MAX_SAMPLES;
    for (uint32_t k = 0; k < nsamp; k++) {
        const struct cfg_sample *s = &b->sample[k];
        samp[k].pre = s->pre;
        samp[k].mem.n = s->nmem < REC_MAX_MEMS ? s->nmem : REC_MAX_MEMS;
        samp[k].mem.v = s->mem;
        samp[k].post.present = s->has_post;
        samp[k].post.regs = s->post;
    }
    r.samples.n = nsamp;
    r.samples.v = samp;
    return rec_encode_block(out, &r, err);
}
