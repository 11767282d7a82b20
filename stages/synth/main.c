/* synth — the synthesis stage: SYNTH_JOB records in, CANDIDATE records out.
 * The logic is stages/synth/ (synth.c, lower.c, passes.c, cegis.c, job.c);
 * this file parses options, runs the stage loop and hands records over.
 * docs/synthesis.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "library.h"
#include "log.h"
#include "records.h"
#include "stage.h"

static const char usage[] =
    "usage: synth [--budget-ms N] [--no-optimize] [--core-only] [--prove-baseline]\n"
    "             [--store] [--proof-timeout-ms N] [--library DIR | --no-library]\n"
    "             [--audit FILE]\n"
    "\n"
    "Pipeline stage (started by pipectl): reads SYNTH_JOB records from cluster and\n"
    "emits one CANDIDATE per job on port \"out\" (to verify).  Per job: library lookup\n"
    "(a hit skips synthesis), baseline lowering of the x86 template into Pixel\n"
    "microcode (constant folding, copy propagation, dead-code elimination against\n"
    "the live-out set, register allocation), then CEGIS with Z3 for a cheaper\n"
    "program, accepted only when proved equivalent and strictly cheaper.  Blocks\n"
    "outside the x86 model (cpuid, rdtsc, syscall, ...) become QEMU-only candidates\n"
    "with the reason and the mnemonic.  Every job is one JSON line in the audit log.\n"
    "\n"
    "  --budget-ms N         optimization time per job (default 200)\n"
    "  --no-optimize         baseline only\n"
    "  --core-only           restrict microcode to the seeds' 20 core opcodes\n"
    "  --prove-baseline      prove the baseline with Z3 here too (verify does anyway)\n"
    "  --store               put microcode synth proved itself into the library\n"
    "  --proof-timeout-ms N  per equivalence query (default 5000)\n"
    "  --library DIR         microcode library (default $TCGL_LIBRARY_DIR)\n"
    "  --no-library          no lookup\n"
    "  --audit FILE          audit log, JSON lines (default $TCGL_REPORT_DIR/synth-audit.<worker>.jsonl)\n"
    "  -h, --help            this text\n";

static bool parse_uint(const char *opt, const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !*s || *end || s[0] == '-' || v > 3600000) {
        fprintf(stderr, "synth: %s: not an integer in 0..3600000: '%s'\n", opt, s);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

int main(int argc, char **argv)
{
    struct synth_options o;
    synth_options_default(&o);
    const char *lib_dir = NULL, *audit_path = NULL;
    bool no_lib = false;
    static const struct option longopts[] = {
        { "budget-ms", required_argument, 0, 'b' }, { "no-optimize", no_argument, 0, 'n' },
        { "core-only", no_argument, 0, 'c' }, { "prove-baseline", no_argument, 0, 'p' },
        { "store", no_argument, 0, 's' }, { "proof-timeout-ms", required_argument, 0, 't' },
        { "library", required_argument, 0, 'L' }, { "no-library", no_argument, 0, 'N' },
        { "audit", required_argument, 0, 'a' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'b': if (!parse_uint("--budget-ms", optarg, &o.budget_ms)) return 2; break;
        case 'n': o.optimize = false; break;
        case 'c': o.core_only = true; break;
        case 'p': o.prove_baseline = true; break;
        case 's': o.store_proved = true; break;
        case 't': if (!parse_uint("--proof-timeout-ms", optarg, &o.proof_timeout_ms)) return 2; break;
        case 'L': lib_dir = optarg; break;
        case 'N': no_lib = true; break;
        case 'a': audit_path = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0)
        return 2;
    if (!lib_dir)
        lib_dir = st.library_dir;
    struct library *lib = NULL;
    if (!no_lib && lib_dir) {
        lib = library_open(lib_dir, NULL);
        if (!lib)
            log_warn("synth: library %s unavailable: no lookups", lib_dir);
    }
    char apath[512];
    if (!audit_path) {
        const char *w = getenv("TCGL_WORKER");
        snprintf(apath, sizeof apath, "%s/synth-audit.%s.jsonl", st.report_dir ? st.report_dir : ".",
                 w ? w : "0");
        audit_path = apath;
    }
    FILE *audit = fopen(audit_path, "a");
    if (!audit)
        log_warn("synth: audit log %s: %s; continuing without", audit_path, strerror(errno));
    struct synth *s = synth_new(&o, lib, audit);
    struct synth_job_out *jo = malloc(sizeof *jo);
    if (!s || !jo) {
        log_error("synth: out of memory");
        return 1;
    }
    int out = stage_port(&st, "out");
    struct rec_buf buf;
    rec_buf_init(&buf);
    struct rec_arena arena;
    rec_arena_init(&arena);
    struct stage_rec in;
    int rc;
    while ((rc = stage_next(&st, &in)) > 0) {
        struct rec r;
        struct rec_error err;
        if (rec_decode(in.data, in.len, &r, &arena, &err) < 0) {
            log_error("synth: input record from %s rejected: %s", in.from, err.msg);
            stage_count_bad(&st);
        } else if (r.type != REC_SYNTH_JOB) {
            log_warn("synth: unexpected %s record from %s; ignored", rec_type_name(r.type), in.from);
            stage_count_bad(&st);
        } else {
            synth_job_run(s, &r.u.synth_job, jo);
            rec_buf_reset(&buf);
            if (rec_encode_candidate(&buf, &jo->cand, &err) < 0) {
                log_error("synth: job %llu: CANDIDATE not encodable (%s); skipped",
                          (unsigned long long)r.u.synth_job.job_id, err.msg);
                stage_count_bad(&st);
            } else if (stage_emit(&st, out, buf.data, buf.len) < 0) {
                break;
            }
        }
        rec_arena_reset(&arena);
        stage_done(&st, &in);
    }
    struct synth_stats ss;
    synth_get_stats(s, &ss);
    log_info("synth: %llu jobs: %llu hits, %llu baseline, %llu optimized, %llu qemu-only, %llu errors; "
             "cost %llu vs baseline %llu",
             (unsigned long long)ss.jobs, (unsigned long long)ss.hits, (unsigned long long)ss.baseline,
             (unsigned long long)ss.optimized, (unsigned long long)ss.qemu_only,
             (unsigned long long)ss.errors, (unsigned long long)ss.cost_total,
             (unsigned long long)ss.baseline_cost_total);
    synth_free(s);
    free(jo);
    if (audit)
        fclose(audit);
    rec_buf_free(&buf);
    rec_arena_free(&arena);
    if (lib)
        library_close(lib);
    return stage_close(&st) < 0 || rc < 0 ? 1 : 0;
}
