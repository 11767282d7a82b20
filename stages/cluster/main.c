/* cluster — the template stage: BLOCK records in, SYNTH_JOB records out
 * (port "jobs" for synthesis, port "hits" for library hits, which go
 * straight to offload).  The logic is stages/cluster/cluster.c and canon.c;
 * this file parses options, runs the stage loop and hands records over.
 * docs/cluster.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "library.h"
#include "log.h"
#include "records.h"
#include "stage.h"

static const char usage[] =
    "usage: cluster [--threshold N] [--max-insns N] [--keep-system] [--no-imm-params]\n"
    "               [--library DIR | --no-library] [--out DIR]\n"
    "\n"
    "Pipeline stage (started by pipectl): reads BLOCK records from cfg, keeps the hot\n"
    "blocks (at least --threshold executions; system, privileged and I/O blocks are\n"
    "filtered out), canonicalizes them into register-renamed templates with immediate\n"
    "parameters, looks each template up in the microcode library and emits one\n"
    "SYNTH_JOB per template, simple classes first: on port \"jobs\" for a miss, on port\n"
    "\"hits\" for a library hit (cached microcode attached).  At the end it writes\n"
    "cluster.json (hot blocks, templates, deduplication ratio) to the output directory.\n"
    "\n"
    "  --threshold N    hot at N executions (default 10000)\n"
    "  --max-insns N    blocks longer than N instructions are cut into sub-patterns\n"
    "                   of at most N instructions (default 16)\n"
    "  --keep-system    do not filter system-class blocks\n"
    "  --no-imm-params  keep immediates concrete (templates then differ by value)\n"
    "  --library DIR    microcode library (default $TCGL_LIBRARY_DIR)\n"
    "  --no-library     no lookup: every template is a miss\n"
    "  --out DIR        where cluster.json goes (default $TCGL_REPORT_DIR, else .)\n"
    "  -h, --help       this text\n";

struct emit_ctx {
    struct stage *st;
    int port_jobs, port_hits;
    struct rec_buf buf;
};

static bool emit_job(void *vctx, const struct rec_synth_job *j)
{
    struct emit_ctx *e = vctx;
    struct rec_error err;
    rec_buf_reset(&e->buf);
    if (rec_encode_synth_job(&e->buf, j, &err) < 0) {
        log_error("cluster: SYNTH_JOB %s not encodable (%s); skipped", j->template_key.ptr, err.msg);
        return true;
    }
    int port = (j->lib_hit && e->port_hits >= 0) ? e->port_hits : e->port_jobs;
    return stage_emit(e->st, port, e->buf.data, e->buf.len) >= 0;
}

static bool parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || s[0] == '-') {
        fprintf(stderr, "cluster: %s: not a non-negative integer: '%s'\n", opt, s);
        return false;
    }
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    struct cluster_options o;
    cluster_options_default(&o);
    const char *lib_dir = NULL, *out_dir = NULL;
    bool no_lib = false;
    uint64_t v;
    static const struct option longopts[] = {
        { "threshold", required_argument, 0, 'T' }, { "max-insns", required_argument, 0, 'M' },
        { "keep-system", no_argument, 0, 'S' }, { "no-imm-params", no_argument, 0, 'I' },
        { "library", required_argument, 0, 'L' }, { "no-library", no_argument, 0, 'N' },
        { "out", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'T': if (!parse_u64("--threshold", optarg, &o.threshold)) return 2; break;
        case 'M':
            if (!parse_u64("--max-insns", optarg, &v) || v == 0 || v > 512) {
                fprintf(stderr, "cluster: --max-insns must be 1..512\n");
                return 2;
            }
            o.max_template_insns = (uint32_t)v;
            break;
        case 'S': o.keep_system = true; break;
        case 'I': o.canon.abstract_imms = false; break;
        case 'L': lib_dir = optarg; break;
        case 'N': no_lib = true; break;
        case 'o': out_dir = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }

    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    if (!out_dir) out_dir = st.report_dir ? st.report_dir : ".";
    if (!lib_dir) lib_dir = st.library_dir;
    struct library *lib = NULL;
    if (!no_lib && lib_dir) {
        lib = library_open(lib_dir, NULL);
        if (!lib) log_warn("cluster: library %s unavailable: every template goes to synthesis", lib_dir);
    }
    struct cluster *c = malloc(sizeof *c);
    if (!c || !cluster_init(c, &o, lib)) {
        log_error("cluster: out of memory");
        return 1;
    }
    struct emit_ctx e = { .st = &st, .port_jobs = stage_port(&st, "jobs"), .port_hits = -1 };
    for (int p = 0; p < st.nports; p++)
        if (!strcmp(st.port[p].name, "hits")) e.port_hits = p;
    rec_buf_init(&e.buf);
    struct rec_arena arena;
    rec_arena_init(&arena);
    int rc;
    struct stage_rec in;
    while ((rc = stage_next(&st, &in)) > 0) {
        struct rec r;
        struct rec_error err;
        if (rec_decode(in.data, in.len, &r, &arena, &err) < 0) {
            log_error("cluster: input record from %s rejected: %s", in.from, err.msg);
            stage_count_bad(&st);
        } else if (r.type != REC_BLOCK) {
            log_warn("cluster: unexpected %s record from %s; ignored", rec_type_name(r.type), in.from);
            stage_count_bad(&st);
        } else if (!cluster_add_block(c, &r.u.block)) {
            stage_count_bad(&st);
        }
        rec_arena_reset(&arena);
        /* Jobs out before the input is committed (at-least-once). */
        if (cluster_flush(c, emit_job, &e) < 0) break;
        stage_done(&st, &in);
    }
    if (!cluster_write_report(c, out_dir)) log_error("cluster: could not write cluster.json into %s", out_dir);
    log_info("cluster: %llu hot blocks (%llu system filtered), %llu templates, %.2f instances/template, "
             "%llu jobs, library %llu hits / %llu misses / %llu qemu-only",
             (unsigned long long)c->n.blocks_hot, (unsigned long long)c->n.filtered_system,
             (unsigned long long)c->n.templates, cluster_dedup_ratio(c), (unsigned long long)c->n.jobs,
             (unsigned long long)c->n.lib_hits, (unsigned long long)c->n.lib_misses,
             (unsigned long long)c->n.lib_qemu_only);
    rec_arena_free(&arena);
    rec_buf_free(&e.buf);
    cluster_free(c);
    free(c);
    if (lib) library_close(lib);
    return stage_close(&st) ? 1 : (rc < 0 ? 1 : 0);
}
