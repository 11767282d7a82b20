/* tcgl-summary — the short account of a pipeline run that `make run` prints.
 *
 * Reads what the stages left in the run's report directory (cluster.json,
 * report.json, the synth audit logs), prints hot blocks, templates, library
 * reuse, verified and QEMU-only counts, coverage, replay agreement, synthesis
 * time and speedups, and appends one JSON line per run to
 * REPORT_DIR/runs.jsonl so the next run can say how much the library saved.
 *
 * The synth audit logs are append-only across runs; runs.jsonl remembers how
 * many bytes of each had been read, so a run's synthesis time counts only
 * its own attempts.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAX_AUDIT 64

static const char usage[] =
    "usage: tcgl-summary [PIPELINE.yaml]\n"
    "\n"
    "Prints the summary of the last run of PIPELINE.yaml (default: pipeline.yaml):\n"
    "hot blocks, templates, library hits, verified and QEMU-only templates,\n"
    "dynamic coverage, replay agreement, synthesis time and median speedups over\n"
    "QEMU TCG per block class, compared with the previous run when there is one.\n"
    "Appends the run's figures to REPORT_DIR/runs.jsonl.  Exit status: 0, or 1\n"
    "when the run left no report to summarise.\n";

static json_t *load_json(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fprintf(stderr, "tcgl-summary: %s: %s (line %d)\n", path, e.text, e.line);
    return j;
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* Sums synth_us over the audit lines of one file past `offset`; returns the
 * new end offset. */
static long sum_audit(const char *path, long offset, double *synth_us, long *attempts)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) < offset)
        offset = 0;                       /* the file was replaced: read it all */
    fseek(f, offset, SEEK_SET);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            continue;
        *synth_us += json_number_value(json_object_get(j, "synth_us"));
        (*attempts)++;
        json_decref(j);
    }
    long end = ftell(f);
    free(line);
    fclose(f);
    return end;
}

/* The last line of runs.jsonl, or NULL. */
static json_t *previous_run(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *line = NULL, *last = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        free(last);
        last = strdup(line);
    }
    free(line);
    fclose(f);
    json_t *j = last ? json_loads(last, 0, NULL) : NULL;
    free(last);
    return j;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fputs(usage, argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    char err[512];
    struct config *cfg = config_load(argc == 2 ? argv[1] : "pipeline.yaml", err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "tcgl-summary: %s\n", err);
        return 1;
    }
    json_t *cluster = load_json(cfg->report_dir, "cluster.json");
    json_t *report = load_json(cfg->report_dir, "report.json");
    if (!cluster || !report) {
        config_free(cfg);
        return 1;
    }

    char runs_path[4096];
    snprintf(runs_path, sizeof runs_path, "%s/runs.jsonl", cfg->report_dir);
    json_t *prev = previous_run(runs_path);
    json_t *offsets = json_object();
    double synth_us = 0;
    long attempts = 0;
    for (int w = 0; w < MAX_AUDIT; w++) {
        char name[64], path[4096];
        snprintf(name, sizeof name, "synth-audit.%d.jsonl", w);
        snprintf(path, sizeof path, "%s/%s", cfg->report_dir, name);
        json_t *po = prev ? json_object_get(json_object_get(prev, "audit_offsets"), name) : NULL;
        long end = sum_audit(path, po ? (long)json_integer_value(po) : 0, &synth_us, &attempts);
        if (end > 0)
            json_object_set_new(offsets, name, json_integer(end));
    }

    const json_t *cc = json_object_get(cluster, "counters");
    double jobs = num(cc, "jobs"), hits = num(cc, "lib_hits"), qonly_hits = num(cc, "lib_qemu_only");
    double hit_rate = jobs > 0 ? (hits + qonly_hits) / jobs : 0;
    size_t verified = 0, qemu_only = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(report, "templates"), i, t) {
        const char *st = json_string_value(json_object_get(t, "status"));
        if (st && !strcmp(st, "verified")) verified++;
        else if (st && !strcmp(st, "qemu_only")) qemu_only++;
    }
    const json_t *cov = json_object_get(report, "coverage");

    printf("\nrun summary (%s)\n", cfg->path);
    printf("  hot blocks        %.0f of %.0f distinct blocks (threshold %.0f)\n", num(cc, "blocks_hot"),
           num(cc, "blocks_distinct"), json_number_value(json_object_get(cluster, "threshold")));
    printf("  templates         %.0f (%.2f instances per template), %.0f synthesis jobs\n",
           num(cc, "templates"), json_number_value(json_object_get(cluster, "dedup_ratio")), jobs);
    printf("  library           %.0f hits, %.0f QEMU-only markers, %.0f misses: %.1f%% of jobs served by the library\n",
           hits, qonly_hits, num(cc, "lib_misses"), 100 * hit_rate);
    printf("  verified          %zu templates with proved and tested microcode; %zu QEMU-only\n", verified,
           qemu_only);
    printf("  coverage          %.1f%% of traced user instructions ran in blocks with verified microcode\n",
           100 * num(cov, "dynamic_coverage"));
    printf("  replay            %.0f of %.0f sampled executions agree\n", num(cov, "replay_agreed"),
           num(cov, "replay_checked"));
    printf("  synthesis time    %.2f s over %ld attempts", synth_us / 1e6, attempts);
    if (prev) {
        double before = json_number_value(json_object_get(prev, "synth_us"));
        if (before > 0)
            printf(" (previous run %.2f s: %.1f%% %s)", before / 1e6, 100 * fabs(1 - synth_us / before),
                   synth_us <= before ? "less" : "more");
    }
    printf("\n  speedup over QEMU TCG, median per class (Pixel batched / interpreter / native):\n");
    json_array_foreach(json_object_get(report, "speedup_by_class"), i, t) {
        double b = num(t, "median_speedup_batched");
        if (b <= 0)
            continue;                     /* no block of this class was timed */
        printf("    %-10s %4.0f blocks  %6.2fx / %5.2fx / %5.2fx",
               json_string_value(json_object_get(t, "class")), num(t, "blocks"), b,
               num(t, "median_speedup_interp"), num(t, "median_speedup_native"));
        if (num(t, "median_speedup_cuda") > 0)   /* the CUDA executor ran (docs/offload.md "GPU") */
            printf("; GPU %.1fx with transfers, %.1fx kernel", num(t, "median_speedup_cuda"),
                   num(t, "median_speedup_cuda_kernel"));
        printf("\n");
    }
    const char *gpu = json_string_value(json_object_get(json_object_get(report, "gpu"), "status"));
    if (gpu && strcmp(gpu, "used") != 0)
        printf("    GPU: %s\n", gpu);
    printf("  report            %s/report.html\n", cfg->report_dir);

    json_t *rec = json_pack("{s:s, s:f, s:f, s:I, s:I, s:f, s:f, s:I, s:O}", "generated",
                            json_string_value(json_object_get(report, "generated")), "synth_us", synth_us,
                            "library_hit_rate", hit_rate, "verified", (json_int_t)verified, "qemu_only",
                            (json_int_t)qemu_only, "coverage", num(cov, "dynamic_coverage"), "jobs", jobs,
                            "attempts", (json_int_t)attempts, "audit_offsets", offsets);
    FILE *f = fopen(runs_path, "a");
    if (!f || json_dumpf(rec, f, JSON_COMPACT) < 0 || fputc('\n', f) == EOF || fclose(f) != 0)
        fprintf(stderr, "tcgl-summary: cannot append to %s: %s\n", runs_path, strerror(errno));
    json_decref(rec);
    json_decref(offsets);
    json_decref(prev);
    json_decref(cluster);
    json_decref(report);
    config_free(cfg);
    return 0;
}
