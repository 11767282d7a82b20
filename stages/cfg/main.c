/* cfg — the control-flow-graph stage: TRACE_* records in, BLOCK records out.
 * The logic is stages/cfg/cfg*.c; this file parses options, runs the
 * stage loop (common/stage.h) and hands records over.  docs/cfg.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "cfg_record.h"
#include "log.h"
#include "records.h"
#include "stage.h"

static const char usage[] =
    "usage: cfg [--hot N] [--emit-min N] [--top N] [--out DIR]\n"
    "\n"
    "Pipeline stage (started by pipectl): reads the tracer's TRACE_TB, TRACE_EXEC,\n"
    "TRACE_SAMPLE and TRACE_END records, builds basic blocks, the control-flow graph\n"
    "with edge and execution counts, loops, block classes and liveness, and emits a\n"
    "BLOCK record for every block when it becomes hot and again, with final counts,\n"
    "at the end of the trace.  At the end it writes cfg.json, cfg.dot and cfg.svg\n"
    "(when Graphviz is installed) with the hottest blocks into the output directory.\n"
    "\n"
    "  --hot N        a block is emitted when it reaches N executions (default 1000;\n"
    "                 keep it at or below cluster's --threshold)\n"
    "  --emit-min N   at the end, emit every block executed at least N times\n"
    "                 (default: the --hot value)\n"
    "  --top N        blocks shown in cfg.json / cfg.dot / cfg.svg (default 50)\n"
    "  --out DIR      where the CFG files go (default $TCGL_REPORT_DIR, else .)\n"
    "  -h, --help     this text\n";

struct emit_ctx {
    struct stage *st;
    int port;
    struct rec_buf buf;
    uint64_t sent;
};

static bool emit_block(void *vctx, const struct cfg *g, const struct cfg_block *b)
{
    struct emit_ctx *e = vctx;
    struct rec_error err;
    rec_buf_reset(&e->buf);
    if (cfg_block_encode(g, b, &e->buf, &err) < 0) {
        log_error("cfg: BLOCK %#llx not encodable (%s); skipped", (unsigned long long)b->pc, err.msg);
        return true;    /* never retried: a bug, not a transient condition */
    }
    if (stage_emit(e->st, e->port, e->buf.data, e->buf.len) < 0) return false;
    e->sent++;
    return true;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || s[0] == '-') {
        fprintf(stderr, "cfg: %s: not a non-negative integer: '%s'\n", opt, s);
        return false;
    }
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    struct cfg_options o;
    cfg_options_default(&o);
    uint64_t emit_min = 0, top = 50;
    const char *out_dir = NULL;
    static const struct option longopts[] = {
        { "hot", required_argument, 0, 'H' }, { "emit-min", required_argument, 0, 'm' },
        { "top", required_argument, 0, 't' }, { "out", required_argument, 0, 'o' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'H': if (!parse_u64("--hot", optarg, &o.hot_threshold)) return 2; break;
        case 'm': if (!parse_u64("--emit-min", optarg, &emit_min)) return 2; break;
        case 't': if (!parse_u64("--top", optarg, &top)) return 2; break;
        case 'o': out_dir = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!emit_min) emit_min = o.hot_threshold;

    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    if (!out_dir) out_dir = st.report_dir ? st.report_dir : ".";
    struct cfg *g = malloc(sizeof *g);
    if (!g || !cfg_init(g, &o)) {
        log_error("cfg: out of memory");
        return 1;
    }
    struct emit_ctx e = { .st = &st, .port = stage_port(&st, "out") };
    rec_buf_init(&e.buf);
    struct rec_arena arena;
    rec_arena_init(&arena);
    uint64_t last_emit = now_ms();
    bool dirty = false;      /* records consumed since the last end-of-trace emission */
    int rc = 0;
    struct stage_rec in;
    while ((rc = stage_next(&st, &in)) > 0) {
        struct rec r;
        struct rec_error err;
        bool end = false;
        if (rec_decode(in.data, in.len, &r, &arena, &err) < 0) {
            log_error("cfg: input record from %s rejected: %s", in.from, err.msg);
            stage_count_bad(&st);
        } else if (cfg_consume(g, &r) == CFG_END) {
            end = true;
            log_info("cfg: TRACE_END (%s): %llu insns, %llu blocks executed",
                     r.u.trace_end.reason.ptr, (unsigned long long)r.u.trace_end.insns,
                     (unsigned long long)r.u.trace_end.blocks);
        } else {
            dirty = true;
        }
        rec_arena_reset(&arena);
        if (end) {
            /* End of a trace: final counts for every block, and the pictures. */
            if (cfg_emit_final(g, emit_min, emit_block, &e) < 0) break;
            if (!cfg_write_outputs(g, out_dir, (uint32_t)(top > UINT32_MAX ? UINT32_MAX : top)))
                log_error("cfg: could not write the CFG files into %s", out_dir);
            dirty = false;
        } else if (g->nhot && (g->nhot >= 64 || now_ms() - last_emit >= 100)) {
            /* Hot blocks go out promptly, but the whole-graph analysis runs
             * at most every 100 ms (or when many are waiting). */
            if (cfg_emit_hot(g, emit_block, &e) < 0 && g->nhot) break;   /* must stop */
            last_emit = now_ms();
        }
        stage_done(&st, &in);
    }
    if (rc < 0) log_error("cfg: input queue failed; emitting what was built");
    if (dirty) {
        /* The stream ended (or we are asked to stop) without a TRACE_END. */
        cfg_emit_final(g, emit_min, emit_block, &e);
        if (!cfg_write_outputs(g, out_dir, (uint32_t)(top > UINT32_MAX ? UINT32_MAX : top)))
            log_error("cfg: could not write the CFG files into %s", out_dir);
    }
    log_info("cfg: %u blocks, %llu TBs, %llu executions, %llu splits, %llu unknown tb ids, "
             "%llu bad records, %llu BLOCK records sent",
             g->nblocks, (unsigned long long)g->n.tbs, (unsigned long long)g->n.execs,
             (unsigned long long)g->n.splits, (unsigned long long)g->n.exec_unknown_tb,
             (unsigned long long)g->n.bad_records, (unsigned long long)e.sent);
    rec_arena_free(&arena);
    rec_buf_free(&e.buf);
    cfg_free(g);
    free(g);
    return stage_close(&st) ? 1 : (rc < 0 ? 1 : 0);
}
