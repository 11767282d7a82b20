/* cfg — the control-flow-graph stage: TRACE_* records in, BLOCK records out.
 * The logic is stages/cfg/cfg*.c, the loop and its crash safety
 * cfg_stage.c; this file parses options.  docs/cfg.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_stage.h"
#include "log.h"
#include "shmq.h"
#include "stage.h"

static const char usage[] =
    "usage: cfg [--hot N] [--emit-min N] [--emit-execs N] [--top N] [--out DIR]\n"
    "           [--checkpoint-dir DIR | --no-checkpoint] [--sync-ms N] [--sync-bytes N] [--compact-bytes N]\n"
    "\n"
    "Pipeline stage (started by pipectl): reads the tracer's TRACE_TB, TRACE_EXEC,\n"
    "TRACE_SAMPLE and TRACE_END records, builds basic blocks, the control-flow graph\n"
    "with edge and execution counts, loops, block classes and liveness, and emits a\n"
    "BLOCK record for every block when it becomes hot and again, with final counts,\n"
    "at the end of the trace.  At the end it writes cfg.json, cfg.dot and cfg.svg\n"
    "(when Graphviz is installed) with the hottest blocks into the output directory.\n"
    "A restarted tracer begins a new trace run: the dead run's partial graph is\n"
    "discarded.  The graph is crash-safe: a snapshot and a journal in the checkpoint\n"
    "directory let a cfg killed at any moment continue where it was.\n"
    "\n"
    "  --hot N            a block is emitted when it reaches N executions (default 1000;\n"
    "                     keep it at or below cluster's --threshold)\n"
    "  --emit-min N       at the end, emit every block executed at least N times\n"
    "                     (default: the --hot value)\n"
    "  --emit-execs N     blocks that became hot go out each time the trace passes a\n"
    "                     multiple of N executions, or when 64 wait (default 4194304):\n"
    "                     points in the trace, so the output never depends on timing\n"
    "  --top N            blocks shown in cfg.json / cfg.dot / cfg.svg (default 50)\n"
    "  --out DIR          where the CFG files go (default $TCGL_REPORT_DIR, else .)\n"
    "  --checkpoint-dir DIR  snapshot and journal (cfg.W.snap, cfg.W.journal; default\n"
    "                     $TCGL_RUN_DIR); they are removed when the input has ended\n"
    "  --no-checkpoint    no crash safety: commit every record at once (a restarted cfg\n"
    "                     starts a new graph where its input cursor stood)\n"
    "  --sync-ms N        write the journal and commit the input at least every N ms\n"
    "                     (default 50; also whenever the input is idle)\n"
    "  --sync-bytes N     ... and after N bytes of input (default: an eighth of the\n"
    "                     input ring, at most 2 MiB)\n"
    "  --compact-bytes N  a snapshot replaces the journal when it exceeds N bytes and\n"
    "                     four times the last snapshot (default 128 MiB)\n"
    "  -h, --help         this text\n";

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
    struct cfg_stage_options o;
    cfg_stage_options_default(&o);
    uint64_t emit_min = 0, top = 50, sync_ms = o.sync_ms;
    const char *out_dir = NULL, *ckpt_dir = NULL;
    bool no_ckpt = false;
    static const struct option longopts[] = {
        { "hot", required_argument, 0, 'H' }, { "emit-min", required_argument, 0, 'm' },
        { "top", required_argument, 0, 't' }, { "out", required_argument, 0, 'o' },
        { "checkpoint-dir", required_argument, 0, 'c' }, { "no-checkpoint", no_argument, 0, 'n' },
        { "sync-ms", required_argument, 0, 's' }, { "sync-bytes", required_argument, 0, 'b' },
        { "compact-bytes", required_argument, 0, 'C' },
        { "emit-execs", required_argument, 0, 'E' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'H': if (!parse_u64("--hot", optarg, &o.graph.hot_threshold)) return 2; break;
        case 'm': if (!parse_u64("--emit-min", optarg, &emit_min)) return 2; break;
        case 't': if (!parse_u64("--top", optarg, &top)) return 2; break;
        case 'o': out_dir = optarg; break;
        case 'c': ckpt_dir = optarg; break;
        case 'n': no_ckpt = true; break;
        case 's': if (!parse_u64("--sync-ms", optarg, &sync_ms)) return 2; break;
        case 'b': if (!parse_u64("--sync-bytes", optarg, &o.sync_bytes)) return 2; break;
        case 'C': if (!parse_u64("--compact-bytes", optarg, &o.compact_bytes)) return 2; break;
        case 'E':
            if (!parse_u64("--emit-execs", optarg, &o.emit_execs)) return 2;
            if (!o.emit_execs) { fputs("cfg: --emit-execs must be at least 1\n", stderr); return 2; }
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    o.emit_min = emit_min ? emit_min : o.graph.hot_threshold;
    o.top = top > UINT32_MAX ? UINT32_MAX : (uint32_t)top;
    o.sync_ms = sync_ms > 60000 ? 60000 : (uint32_t)sync_ms;

    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    stage_set_input_patience(&st, SHMQ_TRACE_PATIENCE_US);   /* fed by the tracer (QEMU) */
    o.out_dir = out_dir ? out_dir : st.report_dir ? st.report_dir : ".";
    if (!no_ckpt) {
        o.ckpt_dir = ckpt_dir ? ckpt_dir : st.run_dir;
        if (!o.ckpt_dir) log_warn("cfg: no checkpoint directory ($TCGL_RUN_DIR unset, no --checkpoint-dir): "
                                  "not crash-safe");
    }
    return cfg_stage_run(&st, &o);
}
