/* rel_collect — test sink for the reliability tests: consumes any records,
 * rejects (logs by name, counts) those that do not decode, and at the end
 * writes what it kept to FILE, one line per distinct item, sorted:
 *
 *   SYNTH_JOB <template_key> <exec_count> <instances>   (latest job per key)
 *   CANDIDATE <template_key> <method> <pixel_ops bytes> (latest candidate per key)
 *   VERDICT <template_key> <proof> <tests_failed>       (latest verdict per key)
 *   <TYPE> <count>                                      (other record types)
 *
 *   rel_collect --out FILE
 *
 * A bare file name goes into $TCGL_REPORT_DIR.  The file is written only at
 * the end of the stream (not when stopped), so a
 * test comparing two runs compares complete outputs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "records.h"
#include "stage.h"

#define MAX_ITEMS 4096

struct item {
    char key[100];
    uint64_t a, b;
};

static int item_cmp(const void *x, const void *y)
{
    return strcmp(((const struct item *)x)->key, ((const struct item *)y)->key);
}

static struct item items[MAX_ITEMS];
static size_t nitems;

static struct item *item_get(const char *key)
{
    for (size_t i = 0; i < nitems; i++)
        if (!strcmp(items[i].key, key)) return &items[i];
    if (nitems == MAX_ITEMS) return NULL;
    struct item *it = &items[nitems++];
    memset(it, 0, sizeof *it);
    snprintf(it->key, sizeof it->key, "%s", key);
    return it;
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    static const struct option opts[] = { { "out", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 } };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'o') out_path = optarg;
        else { fprintf(stderr, "usage: rel_collect --out FILE\n"); return 2; }
    }
    if (!out_path) { fprintf(stderr, "rel_collect: --out FILE is required\n"); return 2; }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    char out_buf[4096];
    if (!strchr(out_path, '/') && st.report_dir) {
        snprintf(out_buf, sizeof out_buf, "%s/%s", st.report_dir, out_path);
        out_path = out_buf;
    }
    struct rec_arena arena;
    rec_arena_init(&arena);
    struct stage_rec in;
    int n;
    uint64_t good = 0, bad = 0;
    while ((n = stage_next(&st, &in)) > 0) {
        struct rec r;
        struct rec_error err;
        rec_arena_reset(&arena);
        if (rec_decode(in.data, in.len, &r, &arena, &err) < 0) {
            log_warn("rel_collect: record from %s rejected: %s", in.from, err.msg);
            stage_count_bad(&st);
            bad++;
        } else {
            char key[100];
            const struct rec_synth_job *vj = &r.u.verdict.candidate.job;
            if (r.type == REC_SYNTH_JOB)
                snprintf(key, sizeof key, "SYNTH_JOB %.*s", (int)r.u.synth_job.template_key.len,
                         r.u.synth_job.template_key.ptr);
            else if (r.type == REC_CANDIDATE)
                snprintf(key, sizeof key, "CANDIDATE %.*s", (int)r.u.candidate.job.template_key.len,
                         r.u.candidate.job.template_key.ptr);
            else if (r.type == REC_VERDICT)
                snprintf(key, sizeof key, "VERDICT %.*s", (int)vj->template_key.len, vj->template_key.ptr);
            else
                snprintf(key, sizeof key, "%s", rec_type_name(r.type));
            struct item *it = item_get(key);
            if (it && r.type == REC_SYNTH_JOB) {
                it->a = r.u.synth_job.exec_count;
                it->b = r.u.synth_job.instances.n;
            } else if (it && r.type == REC_CANDIDATE) {
                it->a = r.u.candidate.method;
                it->b = r.u.candidate.pixel_ops.len;
            } else if (it && r.type == REC_VERDICT) {
                it->a = r.u.verdict.proof;
                it->b = r.u.verdict.tests_failed;
            } else if (it) {
                it->a++;
            }
            good++;
        }
        stage_done(&st, &in);
    }
    rec_arena_free(&arena);
    log_info("rel_collect: %llu records kept, %llu rejected", (unsigned long long)good, (unsigned long long)bad);
    if (n == 0 && st.end == STAGE_ST_ENDED) {
        qsort(items, nitems, sizeof *items, item_cmp);
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
        FILE *f = fopen(tmp, "w");
        if (!f) { log_error("rel_collect: %s: cannot write", tmp); return 1; }
        for (size_t i = 0; i < nitems; i++) {
            if (strchr(items[i].key, ' '))
                fprintf(f, "%s %llu %llu\n", items[i].key, (unsigned long long)items[i].a,
                        (unsigned long long)items[i].b);
            else
                fprintf(f, "%s %llu\n", items[i].key, (unsigned long long)items[i].a);
        }
        fclose(f);
        rename(tmp, out_path);
    }
    return stage_close(&st);
}
