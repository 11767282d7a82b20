/* report.c — see report.h.  The HTML is assembled with stdio into a memory
 * stream; every string that came from outside (workload names, reasons,
 * disassembly, keys) is HTML-escaped, and embedded SVG pictures are checked
 * for anything active (scripts, event handlers, foreign objects). */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_ROWS 50

static const char *s_or_empty(const char *s) { return s ? s : ""; }

const char *report_block_status_name(enum report_block_status s)
{
    static const char *const names[] = {
        [REPORT_BLOCK_OFFLOADED] = "offloaded",
        [REPORT_BLOCK_QEMU_ONLY] = "qemu_only",
        [REPORT_BLOCK_PENDING] = "pending",
        [REPORT_BLOCK_FAILED] = "failed",
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static double ratio(uint64_t num, uint64_t den) { return den ? (double)num / (double)den : 0.0; }

static size_t rows_limit(const struct report_input *in)
{
    return in->max_rows ? in->max_rows : DEFAULT_ROWS;
}

/* ---- ordering ----------------------------------------------------------------- */

static int cmp_block_exec(const void *a, const void *b)
{
    const struct report_block *x = *(const struct report_block *const *)a;
    const struct report_block *y = *(const struct report_block *const *)b;
    if (x->exec_count != y->exec_count)
        return x->exec_count < y->exec_count ? 1 : -1;
    return x->pc < y->pc ? -1 : x->pc > y->pc;
}

/* Blocks by execution count, most first (array of pointers, malloc'd). */
static const struct report_block **blocks_by_exec(const struct report_block *b, size_t n)
{
    const struct report_block **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = &b[i];
    qsort(v, n, sizeof *v, cmp_block_exec);
    return v;
}

static int cmp_reason(const void *a, const void *b)
{
    const struct report_qemu_reason *x = a, *y = b;
    if (x->exec_count != y->exec_count)
        return x->exec_count < y->exec_count ? 1 : -1;
    if (x->templates != y->templates)
        return x->templates < y->templates ? 1 : -1;
    return strcmp(s_or_empty(x->mnemonic), s_or_empty(y->mnemonic));
}

void report_rank_reasons(struct report_qemu_reason *r, size_t n)
{
    qsort(r, n, sizeof *r, cmp_reason);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of the measured (non-zero) values; 0 when none. */
static double median_measured(double *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > 0 && isfinite(v[i]))
            v[m++] = v[i];
    if (!m)
        return 0;
    qsort(v, m, sizeof *v, cmp_double);
    return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

#define NEXEC 5                      /* executors with a speedup column */

/* Per block class: offloaded blocks and median speedups per executor. */
struct class_summary {
    const char *cls;
    size_t blocks;
    double med[NEXEC];               /* per executor_names */
};

/* cuda: with host<->device transfers; cuda_kernel: the kernel alone */
static const char *const executor_names[NEXEC] = { "batched", "interp", "cuda", "cuda_kernel", "native" };

static double block_speedup(const struct report_block *b, int k)
{
    switch (k) {
    case 0: return b->speedup_batched;
    case 1: return b->speedup_interp;
    case 2: return b->speedup_cuda;
    case 3: return b->speedup_cuda_kernel;
    default: return b->speedup_native;
    }
}

/* Returns the number of classes (summaries malloc'd into *out), -1 on OOM. */
static int class_summaries(const struct report_input *in, struct class_summary **out)
{
    struct class_summary *cs = calloc(in->nblocks ? in->nblocks : 1, sizeof *cs);
    double *tmp = malloc((in->nblocks ? in->nblocks : 1) * sizeof *tmp);
    if (!cs || !tmp) {
        free(cs);
        free(tmp);
        return -1;
    }
    size_t ncls = 0;
    for (size_t i = 0; i < in->nblocks; i++) {
        const char *c = s_or_empty(in->blocks[i].cls);
        size_t j;
        for (j = 0; j < ncls; j++)
            if (strcmp(cs[j].cls, c) == 0)
                break;
        if (j == ncls)
            cs[ncls++].cls = c;
        cs[j].blocks++;
    }
    for (size_t j = 0; j < ncls; j++)
        for (int k = 0; k < NEXEC; k++) {
            size_t m = 0;
            for (size_t i = 0; i < in->nblocks; i++)
                if (strcmp(s_or_empty(in->blocks[i].cls), cs[j].cls) == 0)
                    tmp[m++] = block_speedup(&in->blocks[i], k);
            cs[j].med[k] = median_measured(tmp, m);
        }
    free(tmp);
    *out = cs;
    return (int)ncls;
}

/* ---- JSON ------------------------------------------------------------------------- */

static json_t *jstr(const char *s) { return json_string(s_or_empty(s)); }
static json_t *ju64(uint64_t v) { return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v); }
static json_t *jnum(double v) { return json_real(isfinite(v) ? v : 0.0); }

static void jset(json_t *o, const char *k, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, k, v) != 0)
        *bad = 1;
}

static void japp(json_t *a, json_t *v, int *bad)
{
    if (!v || json_array_append_new(a, v) != 0)
        *bad = 1;
}

char *report_json(const struct report_input *in)
{
    int bad = 0;
    char when[32];
    time_t t = in->generated ? in->generated : time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));

    json_t *root = json_object();
    if (!root)
        return NULL;
    jset(root, "format", json_string("tcgl-report/1"), &bad);
    jset(root, "title", jstr(in->title), &bad);
    jset(root, "run_id", jstr(in->run_id), &bad);
    jset(root, "generated", json_string(when), &bad);
    jset(root, "library_dir", jstr(in->library_dir), &bad);
    json_t *gj = json_object();
    if (gj) {
        jset(gj, "status", json_string(in->gpu_note && in->gpu_note[0] ? in->gpu_note : "used"), &bad);
        jset(gj, "device", jstr(in->gpu_device), &bad);
    }
    jset(root, "gpu", gj, &bad);

    json_t *ws = json_array();
    for (size_t i = 0; ws && i < in->nworkloads; i++) {
        const struct report_workload *w = &in->workloads[i];
        json_t *o = json_object();
        if (!o) { bad = 1; break; }
        jset(o, "name", jstr(w->name), &bad);
        jset(o, "insns", ju64(w->insns), &bad);
        jset(o, "blocks", ju64(w->blocks), &bad);
        jset(o, "tbs", ju64(w->tbs), &bad);
        jset(o, "samples", ju64(w->samples), &bad);
        jset(o, "dropped", ju64(w->dropped), &bad);
        jset(o, "time_us", ju64(w->time_us), &bad);
        jset(o, "end_reason", jstr(w->end_reason), &bad);
        japp(ws, o, &bad);
    }
    jset(root, "workloads", ws, &bad);

    const struct report_coverage *c = &in->coverage;
    json_t *cov = json_object();
    if (cov) {
        jset(cov, "user_insns", ju64(c->user_insns), &bad);
        jset(cov, "user_insns_offloaded", ju64(c->user_insns_offloaded), &bad);
        jset(cov, "dynamic_coverage", jnum(ratio(c->user_insns_offloaded, c->user_insns)), &bad);
        jset(cov, "replay_checked", ju64(c->replay_checked), &bad);
        jset(cov, "replay_agreed", ju64(c->replay_agreed), &bad);
        jset(cov, "replay_agreement", jnum(ratio(c->replay_agreed, c->replay_checked)), &bad);
        jset(cov, "fallback_events", ju64(c->fallback_events), &bad);
    }
    jset(root, "coverage", cov, &bad);

    const struct report_pipeline *p = &in->pipeline;
    json_t *pj = json_object();
    if (pj) {
        const struct { const char *k; uint64_t v; } f[] = {
            { "jobs", p->jobs }, { "lib_hits", p->lib_hits }, { "lib_qemu_only", p->lib_qemu_only },
            { "baseline", p->baseline }, { "optimized", p->optimized }, { "qemu_only", p->qemu_only },
            { "synth_timeouts", p->synth_timeouts }, { "synth_median_us", p->synth_median_us },
            { "synth_p95_us", p->synth_p95_us }, { "cost_before", p->cost_before },
            { "cost_after", p->cost_after }, { "proved", p->proved }, { "refuted", p->refuted },
            { "unknown", p->unknown }, { "timeouts", p->timeouts },
            { "tests_unicorn", p->tests_unicorn }, { "tests_native", p->tests_native },
            { "tests_failed", p->tests_failed },
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            jset(pj, f[i].k, ju64(f[i].v), &bad);
        jset(pj, "cost_reduction", jnum(p->cost_before ? 1.0 - ratio(p->cost_after, p->cost_before) : 0),
             &bad);
    }
    jset(root, "pipeline", pj, &bad);

    const struct report_block **order = blocks_by_exec(in->blocks, in->nblocks);
    json_t *bs = json_array();
    for (size_t i = 0; order && bs && i < in->nblocks; i++) {
        const struct report_block *b = order[i];
        json_t *o = json_object();
        if (!o) { bad = 1; break; }
        char pc[24];
        snprintf(pc, sizeof pc, "0x%" PRIx64, b->pc);
        jset(o, "pc", json_string(pc), &bad);
        jset(o, "workload", jstr(b->workload), &bad);
        jset(o, "class", jstr(b->cls), &bad);
        jset(o, "ninsns", ju64(b->ninsns), &bad);
        jset(o, "exec_count", ju64(b->exec_count), &bad);
        jset(o, "template_key", jstr(b->template_key), &bad);
        jset(o, "status", json_string(report_block_status_name(b->status)), &bad);
        json_t *sp = json_object();
        for (int k = 0; sp && k < NEXEC; k++)
            if (block_speedup(b, k) > 0)
                jset(sp, executor_names[k], jnum(block_speedup(b, k)), &bad);
        jset(o, "speedups", sp, &bad);
        if (b->gpu_states) {
            json_t *g = json_object();
            if (g) {
                jset(g, "states", ju64(b->gpu_states), &bad);
                jset(g, "checked", ju64(b->gpu_checked), &bad);
                jset(g, "states_per_s", jnum(b->gpu_states_per_s), &bad);
                jset(g, "kernel_states_per_s", jnum(b->gpu_kernel_states_per_s), &bad);
            }
            jset(o, "gpu", g, &bad);
        } else if (in->gpu_note && in->gpu_note[0]) {
            jset(o, "gpu", jstr(in->gpu_note), &bad);
        }
        jset(o, "replay_checked", ju64(b->replay_checked), &bad);
        jset(o, "replay_agreed", ju64(b->replay_agreed), &bad);
        japp(bs, o, &bad);
    }
    if (!order)
        bad = 1;
    free(order);
    jset(root, "hot_blocks", bs, &bad);

    struct class_summary *cs = NULL;
    int ncls = class_summaries(in, &cs);
    json_t *cj = json_array();
    for (int i = 0; cj && i < ncls; i++) {
        json_t *o = json_object();
        if (!o) { bad = 1; break; }
        jset(o, "class", jstr(cs[i].cls), &bad);
        jset(o, "blocks", ju64(cs[i].blocks), &bad);
        for (int k = 0; k < NEXEC; k++) {
            char key[32];
            snprintf(key, sizeof key, "median_speedup_%s", executor_names[k]);
            jset(o, key, jnum(cs[i].med[k]), &bad);
        }
        japp(cj, o, &bad);
    }
    if (ncls < 0)
        bad = 1;
    free(cs);
    jset(root, "speedup_by_class", cj, &bad);

    json_t *ts = json_array();
    for (size_t i = 0; ts && i < in->ntemplates; i++) {
        const struct report_template *tp = &in->templates[i];
        json_t *o = json_object();
        if (!o) { bad = 1; break; }
        jset(o, "key", jstr(tp->key), &bad);
        jset(o, "ninsns", ju64(tp->ninsns), &bad);
        jset(o, "instances", ju64(tp->instances), &bad);
        jset(o, "exec_count", ju64(tp->exec_count), &bad);
        jset(o, "method", jstr(tp->method), &bad);
        jset(o, "cost", ju64(tp->cost), &bad);
        jset(o, "baseline_cost", ju64(tp->baseline_cost), &bad);
        jset(o, "status", jstr(tp->status), &bad);
        jset(o, "disasm", jstr(tp->disasm), &bad);
        japp(ts, o, &bad);
    }
    jset(root, "templates", ts, &bad);

    struct report_qemu_reason *rs = malloc((in->nreasons ? in->nreasons : 1) * sizeof *rs);
    json_t *rj = json_array();
    if (rs) {
        if (in->nreasons)
            memcpy(rs, in->reasons, in->nreasons * sizeof *rs);
        report_rank_reasons(rs, in->nreasons);
        for (size_t i = 0; rj && i < in->nreasons; i++)
            japp(rj, json_pack("{s:s,s:s,s:I,s:I}", "reason", s_or_empty(rs[i].reason),
                               "mnemonic", s_or_empty(rs[i].mnemonic),
                               "templates", (json_int_t)(rs[i].templates > INT64_MAX ? INT64_MAX : rs[i].templates),
                               "exec_count", (json_int_t)(rs[i].exec_count > INT64_MAX ? INT64_MAX : rs[i].exec_count)),
                 &bad);
    } else {
        bad = 1;
    }
    free(rs);
    jset(root, "qemu_only_reasons", rj, &bad);

    json_t *pics = json_array();
    for (size_t i = 0; pics && i < in->npictures; i++)
        japp(pics, jstr(in->pictures[i].title), &bad);
    jset(root, "pictures", pics, &bad);

    char *s = bad ? NULL : json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return s;
}

/* ---- HTML ---------------------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (s = s_or_empty(s); *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

/* An event-handler attribute: whitespace, "on", letters, optional spaces, '='. */
static bool has_event_handler(const char *s)
{
    for (; *s; s++) {
        if (!isspace((unsigned char)s[0]) || tolower((unsigned char)s[1]) != 'o' ||
            tolower((unsigned char)s[2]) != 'n')
            continue;
        const char *p = s + 3;
        if (!isalpha((unsigned char)*p))
            continue;
        while (isalpha((unsigned char)*p))
            p++;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '=')
            return true;
    }
    return false;
}

/* The <svg ...> element of a picture, or NULL with *why when it is not a
 * passive SVG document. */
static const char *passive_svg(const char *svg, const char **why)
{
    const char *start = svg ? strstr(svg, "<svg") : NULL;
    if (!start)
        return *why = "not an SVG document", NULL;
    if (contains_ci(start, "<script") || contains_ci(start, "javascript:") ||
        contains_ci(start, "<foreignobject") || contains_ci(start, "<iframe") ||
        has_event_handler(start))
        return *why = "contains active content (script, event handler or foreign object)", NULL;
    return start;
}

static const char *const executor_colors[NEXEC] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#98df8a", "#7f7f7f" };

char *report_speedup_svg(const struct report_block *blocks, size_t n, size_t max_bars)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const struct report_block **order = blocks_by_exec(blocks, n);
    if (!order) {
        fclose(f);
        free(buf);
        return NULL;
    }
    /* Only blocks with at least one measurement, hottest first. */
    size_t m = 0;
    double maxv = 1.0;
    for (size_t i = 0; i < n && m < max_bars; i++) {
        bool any = false;
        for (int k = 0; k < NEXEC; k++) {
            double v = block_speedup(order[i], k);
            if (v > 0 && isfinite(v)) {
                any = true;
                if (v > maxv)
                    maxv = v;
            }
        }
        if (any)
            order[m++] = order[i];
    }
    const int label_w = 190, plot_w = 520, row_h = 40, top = 40;
    int height = top + (int)(m ? m : 1) * row_h + 30;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"11\" role=\"img\" "
               "aria-label=\"speedup over QEMU TCG per block\">\n",
            label_w + plot_w + 60, height);
    for (int k = 0; k < NEXEC; k++)
        fprintf(f, "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"17\">%s</text>\n",
                label_w + k * 110, executor_colors[k], label_w + k * 110 + 14, executor_names[k]);
    if (!m) {
        fprintf(f, "<text x=\"10\" y=\"%d\">no speedup measured yet</text>\n", top + 16);
    } else {
        double scale = plot_w / (maxv * 1.05);
        int x1 = label_w + (int)lround(scale);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c00\" "
                   "stroke-dasharray=\"4,3\"/><text x=\"%d\" y=\"%d\" fill=\"#c00\">1x (QEMU TCG)</text>\n",
                x1, top - 6, x1, top + (int)m * row_h, x1 + 3, top + (int)m * row_h + 14);
        for (size_t i = 0; i < m; i++) {
            const struct report_block *b = order[i];
            int y = top + (int)i * row_h;
            fprintf(f, "<text x=\"4\" y=\"%d\">0x%" PRIx64 " ", y + 18, b->pc);
            esc(f, b->cls);
            fprintf(f, " (%" PRIu64 "x)</text>\n", b->exec_count);
            int bar = 0;
            for (int k = 0; k < NEXEC; k++) {
                double v = block_speedup(b, k);
                if (!(v > 0 && isfinite(v)))
                    continue;
                int w = (int)lround(v * scale);
                int by = y + 2 + bar * 7;
                fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"6\" fill=\"%s\">"
                           "<title>%s %.2fx</title></rect>"
                           "<text x=\"%d\" y=\"%d\" font-size=\"8\">%.2fx</text>\n",
                        label_w, by, w > 0 ? w : 1, executor_colors[k], executor_names[k], v,
                        label_w + (w > 0 ? w : 1) + 3, by + 6, v);
                bar++;
            }
        }
    }
    fputs("</svg>\n", f);
    free(order);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void html_kv(FILE *f, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void html_kv(FILE *f, const char *k, const char *fmt, ...)
{
    fputs("<tr><th>", f);
    esc(f, k);
    fputs("</th><td>", f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputs("</td></tr>\n", f);
}

static const char html_style[] =
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}"
    "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 8px;"
    "text-align:left;font-size:.9em;vertical-align:top}th{background:#f3f3f3}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}code,pre{font-size:.85em}"
    ".ok{color:#060}.bad{color:#a00}.note{color:#666;font-style:italic}";

/* A table cell without a figure: "-", or for the CUDA columns why the GPU
 * did not run ("no GPU"), so that a missing GPU never reads as 0. */
static void html_no_figure(FILE *f, const struct report_input *in, int k)
{
    if ((k == 2 || k == 3) && in->gpu_note && in->gpu_note[0]) {
        fputs("<td class=\"n note\">", f);
        esc(f, in->gpu_note);
        fputs("</td>", f);
    } else {
        fputs("<td class=\"n\">-</td>", f);
    }
}

static void html_blocks(FILE *f, const struct report_input *in)
{
    const struct report_block **order = blocks_by_exec(in->blocks, in->nblocks);
    uint64_t total = 0;
    for (size_t i = 0; i < in->nblocks; i++)
        total += in->blocks[i].exec_count;
    fputs("<h2>Hot blocks</h2>\n", f);
    if (!order || !in->nblocks) {
        fputs("<p class=\"note\">no hot blocks</p>\n", f);
        free(order);
        return;
    }
    fputs("<table><tr><th>#</th><th>pc</th><th>workload</th><th>class</th><th>insns</th>"
          "<th>executions</th><th>share</th><th>template</th><th>status</th>"
          "<th>batched</th><th>interp</th><th>cuda</th><th>cuda kernel</th><th>native</th><th>replay</th>"
          "<th>GPU blocks/s (with / without transfers)</th></tr>\n", f);
    size_t lim = rows_limit(in);
    for (size_t i = 0; i < in->nblocks && i < lim; i++) {
        const struct report_block *b = order[i];
        fprintf(f, "<tr><td class=\"n\">%zu</td><td><code>0x%" PRIx64 "</code></td><td>", i + 1, b->pc);
        esc(f, b->workload);
        fputs("</td><td>", f);
        esc(f, b->cls);
        fprintf(f, "</td><td class=\"n\">%u</td><td class=\"n\">%" PRIu64 "</td>"
                   "<td class=\"n\">%.1f%%</td><td><code>",
                b->ninsns, b->exec_count, 100.0 * ratio(b->exec_count, total));
        fprintf(f, "%.12s", s_or_empty(b->template_key));
        fprintf(f, "</code></td><td class=\"%s\">%s</td>",
                b->status == REPORT_BLOCK_OFFLOADED ? "ok"
                : b->status == REPORT_BLOCK_FAILED  ? "bad" : "",
                report_block_status_name(b->status));
        for (int k = 0; k < NEXEC; k++) {
            double v = block_speedup(b, k);
            if (v > 0 && isfinite(v))
                fprintf(f, "<td class=\"n\">%.2fx</td>", v);
            else
                html_no_figure(f, in, k);
        }
        if (b->replay_checked)
            fprintf(f, "<td class=\"n %s\">%" PRIu64 "/%" PRIu64 "</td>",
                    b->replay_agreed == b->replay_checked ? "ok" : "bad", b->replay_agreed,
                    b->replay_checked);
        else
            fputs("<td class=\"n\">-</td>", f);
        if (b->gpu_states)
            fprintf(f, "<td class=\"n\">%.3g / %.3g (%" PRIu64 " states; %" PRIu64 " checked)</td></tr>\n",
                    b->gpu_states_per_s, b->gpu_kernel_states_per_s, b->gpu_states, b->gpu_checked);
        else
            html_no_figure(f, in, 2), fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    if (in->nblocks > lim)
        fprintf(f, "<p class=\"note\">%zu more blocks in report.json</p>\n", in->nblocks - lim);
    free(order);
}

static void html_templates(FILE *f, const struct report_input *in)
{
    fputs("<h2>Templates</h2>\n", f);
    if (!in->ntemplates) {
        fputs("<p class=\"note\">no templates</p>\n", f);
        return;
    }
    fputs("<table><tr><th>key</th><th>insns</th><th>instances</th><th>executions</th><th>status</th>"
          "<th>method</th><th>cost / baseline</th><th>x86</th></tr>\n", f);
    size_t lim = rows_limit(in);
    for (size_t i = 0; i < in->ntemplates && i < lim; i++) {
        const struct report_template *t = &in->templates[i];
        fputs("<tr><td><code>", f);
        fprintf(f, "%.16s", s_or_empty(t->key));
        fprintf(f, "</code></td><td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%" PRIu64
                   "</td><td>", t->ninsns, t->instances, t->exec_count);
        esc(f, t->status);
        fputs("</td><td>", f);
        esc(f, t->method);
        fprintf(f, "</td><td class=\"n\">%u / %u</td><td><pre>", t->cost, t->baseline_cost);
        esc(f, t->disasm);
        fputs("</pre></td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (in->ntemplates > lim)
        fprintf(f, "<p class=\"note\">%zu more templates in report.json</p>\n", in->ntemplates - lim);
}

static void html_reasons(FILE *f, const struct report_input *in)
{
    fputs("<h2>QEMU-only reasons (most frequent first)</h2>\n", f);
    struct report_qemu_reason *rs = malloc((in->nreasons ? in->nreasons : 1) * sizeof *rs);
    if (!rs || !in->nreasons) {
        fputs("<p class=\"note\">no QEMU-only template</p>\n", f);
        free(rs);
        return;
    }
    memcpy(rs, in->reasons, in->nreasons * sizeof *rs);
    report_rank_reasons(rs, in->nreasons);
    fputs("<table><tr><th>#</th><th>mnemonic</th><th>reason</th><th>templates</th>"
          "<th>executions</th></tr>\n", f);
    for (size_t i = 0; i < in->nreasons && i < rows_limit(in); i++) {
        fprintf(f, "<tr><td class=\"n\">%zu</td><td><code>", i + 1);
        esc(f, rs[i].mnemonic);
        fputs("</code></td><td>", f);
        esc(f, rs[i].reason);
        fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
                rs[i].templates, rs[i].exec_count);
    }
    fputs("</table>\n", f);
    free(rs);
}

static void html_speedups(FILE *f, const struct report_input *in)
{
    fputs("<h2>Speedup over QEMU TCG per block</h2>\n"
          "<p>Time of QEMU TCG divided by the time of each executor on the same block and the "
          "same states, measured in one run; native execution is the ceiling.</p>\n", f);
    fputs("<p>GPU (CUDA executor, compact pipelined path; <em>cuda</em> includes the host&harr;device "
          "copies, <em>cuda kernel</em> is the kernel alone): ", f);
    esc(f, in->gpu_note && in->gpu_note[0] ? in->gpu_note : in->gpu_device && in->gpu_device[0] ? in->gpu_device : "used");
    fputs("</p>\n", f);
    struct class_summary *cs = NULL;
    int ncls = class_summaries(in, &cs);
    if (ncls > 0) {
        fputs("<table><tr><th>class</th><th>blocks</th><th>median batched</th><th>median interp</th>"
              "<th>median cuda</th><th>median cuda kernel</th><th>median native</th></tr>\n", f);
        for (int i = 0; i < ncls; i++) {
            fputs("<tr><td>", f);
            esc(f, cs[i].cls);
            fprintf(f, "</td><td class=\"n\">%zu</td>", cs[i].blocks);
            for (int k = 0; k < NEXEC; k++)
                if (cs[i].med[k] > 0)
                    fprintf(f, "<td class=\"n\">%.2fx</td>", cs[i].med[k]);
                else
                    html_no_figure(f, in, k);
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    free(cs);
    char *svg = report_speedup_svg(in->blocks, in->nblocks, rows_limit(in));
    if (svg)
        fputs(svg, f);
    free(svg);
}

static void html_pictures(FILE *f, const struct report_input *in)
{
    if (!in->npictures)
        return;
    fputs("<h2>Control-flow graphs</h2>\n", f);
    for (size_t i = 0; i < in->npictures; i++) {
        fputs("<h3>", f);
        esc(f, in->pictures[i].title);
        fputs("</h3>\n", f);
        const char *why = NULL;
        const char *svg = passive_svg(in->pictures[i].svg, &why);
        if (svg) {
            fputs("<div style=\"overflow:auto;max-height:900px;border:1px solid #ddd\">\n", f);
            fputs(svg, f);
            fputs("\n</div>\n", f);
        } else {
            fputs("<p class=\"note\">picture not embedded: ", f);
            esc(f, why);
            fputs("</p>\n", f);
        }
    }
}

char *report_html(const struct report_input *in)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    char when[32];
    time_t t = in->generated ? in->generated : time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    esc(f, in->title ? in->title : "tcglearn report");
    fprintf(f, "</title>\n<style>%s</style></head><body>\n<h1>", html_style);
    esc(f, in->title ? in->title : "tcglearn report");
    fputs("</h1>\n<p>run <code>", f);
    esc(f, in->run_id);
    fprintf(f, "</code>, generated %s; microcode library <code>", when);
    esc(f, in->library_dir);
    fputs("</code></p>\n", f);

    fputs("<h2>Workloads</h2>\n", f);
    if (in->nworkloads) {
        fputs("<table><tr><th>workload</th><th>instructions</th><th>blocks</th><th>TBs</th>"
              "<th>samples</th><th>dropped</th><th>time</th><th>end</th></tr>\n", f);
        for (size_t i = 0; i < in->nworkloads; i++) {
            const struct report_workload *w = &in->workloads[i];
            fputs("<tr><td>", f);
            esc(f, w->name);
            fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
                       "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
                       "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%.3f s</td><td>",
                    w->insns, w->blocks, w->tbs, w->samples, w->dropped, w->time_us / 1e6);
            esc(f, w->end_reason);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    } else {
        fputs("<p class=\"note\">no workload summary</p>\n", f);
    }

    const struct report_coverage *c = &in->coverage;
    fputs("<h2>Coverage</h2>\n<table>\n", f);
    html_kv(f, "dynamic coverage", "%.2f%% (%" PRIu64 " of %" PRIu64 " traced user instructions "
            "ran in blocks with verified microcode)", 100.0 * ratio(c->user_insns_offloaded, c->user_insns),
            c->user_insns_offloaded, c->user_insns);
    html_kv(f, "replay agreement", "<span class=\"%s\">%.2f%%</span> (%" PRIu64 " of %" PRIu64
            " sampled states)", c->replay_agreed == c->replay_checked ? "ok" : "bad",
            100.0 * ratio(c->replay_agreed, c->replay_checked), c->replay_agreed, c->replay_checked);
    html_kv(f, "fallback events", "%" PRIu64 " (QEMU-only blocks, each logged once)", c->fallback_events);
    fputs("</table>\n", f);

    const struct report_pipeline *p = &in->pipeline;
    fputs("<h2>Synthesis and verification</h2>\n<table>\n", f);
    html_kv(f, "synthesis jobs", "%" PRIu64, p->jobs);
    html_kv(f, "library hits", "%" PRIu64 " verified, %" PRIu64 " QEMU-only", p->lib_hits, p->lib_qemu_only);
    html_kv(f, "results", "%" PRIu64 " baseline, %" PRIu64 " optimized, %" PRIu64 " QEMU-only, %" PRIu64
            " timeouts", p->baseline, p->optimized, p->qemu_only, p->synth_timeouts);
    html_kv(f, "synthesis time", "median %.1f ms, p95 %.1f ms", p->synth_median_us / 1e3, p->synth_p95_us / 1e3);
    html_kv(f, "optimization", "cost %" PRIu64 " &rarr; %" PRIu64 " (%.1f%% less)", p->cost_before,
            p->cost_after, p->cost_before ? 100.0 * (1.0 - ratio(p->cost_after, p->cost_before)) : 0.0);
    html_kv(f, "proofs", "%" PRIu64 " proved, %" PRIu64 " refuted, %" PRIu64 " unknown, %" PRIu64
            " timeouts", p->proved, p->refuted, p->unknown, p->timeouts);
    html_kv(f, "concrete tests", "%" PRIu64 " Unicorn, %" PRIu64 " native, <span class=\"%s\">%" PRIu64
            " failed</span>", p->tests_unicorn, p->tests_native, p->tests_failed ? "bad" : "ok",
            p->tests_failed);
    fputs("</table>\n", f);

    html_blocks(f, in);
    html_templates(f, in);
    html_reasons(f, in);
    html_speedups(f, in);
    html_pictures(f, in);
    fputs("</body></html>\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- files -------------------------------------------------------------------------- */

static int write_file_atomic(const char *dir, const char *name, const char *text)
{
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        log_error("report: path %s/%s is too long", dir, name);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("report: cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_error("report: cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        log_error("report: cannot install %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int report_write(const struct report_input *in, const char *dir)
{
    if (mkdirs(dir) != 0) {
        log_error("report: cannot create directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char *json = report_json(in);
    char *html = json ? report_html(in) : NULL;
    int rc = -1;
    if (!json || !html)
        log_error("report: out of memory building the report for %s", dir);
    else if (write_file_atomic(dir, "report.json", json) == 0 &&
             write_file_atomic(dir, "report.html", html) == 0)
        rc = 0;
    free(json);
    free(html);
    return rc;
}

/* ---- QEMU-only reasons from the library ------------------------------------------ */

struct reason_acc {
    struct report_qemu_reason *v;
    size_t n, cap;
    int oom;
};

static int add_reason(const char *path, const struct library_entry *e, const char *err, void *ctx)
{
    (void)path; (void)err;
    struct reason_acc *a = ctx;
    if (!e || e->kind != LIBRARY_KIND_QEMU_ONLY)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].reason, e->reason) == 0 && strcmp(a->v[i].mnemonic, e->mnemonic) == 0) {
            a->v[i].templates++;
            a->v[i].exec_count += e->instances;
            return 0;
        }
    if (a->n == a->cap) {
        size_t nc = a->cap ? 2 * a->cap : 16;
        void *nv = realloc(a->v, nc * sizeof *a->v);
        if (!nv) {
            a->oom = 1;
            return 1;
        }
        a->v = nv;
        a->cap = nc;
    }
    struct report_qemu_reason *r = &a->v[a->n];
    r->reason = strdup(e->reason);
    r->mnemonic = strdup(e->mnemonic);
    if (!r->reason || !r->mnemonic) {
        free((char *)r->reason);
        free((char *)r->mnemonic);
        a->oom = 1;
        return 1;
    }
    r->templates = 1;
    r->exec_count = e->instances;
    a->n++;
    return 0;
}

int report_reasons_from_library(struct library *lib, struct report_qemu_reason **out)
{
    struct reason_acc a = { 0 };
    int rc = library_foreach(lib, add_reason, &a);
    if (rc < 0 || a.oom) {
        log_error("report: cannot collect QEMU-only reasons from %s", library_dir(lib));
        report_reasons_free(a.v, a.n);
        return -1;
    }
    report_rank_reasons(a.v, a.n);
    *out = a.v;
    return (int)a.n;
}

void report_reasons_free(struct report_qemu_reason *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free((char *)r[i].reason);
        free((char *)r[i].mnemonic);
    }
    free(r);
}
