/* gpu_run.c — see gpu_run.h. */
#include "gpu_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pixel_gpufile.h"
#include "pixel_interp.h"
#include "speedup.h"

int gpu_mode_parse(const char *s, enum gpu_mode *m)
{
    if (!strcmp(s, "auto")) *m = GPU_MODE_AUTO;
    else if (!strcmp(s, "on")) *m = GPU_MODE_ON;
    else if (!strcmp(s, "off")) *m = GPU_MODE_OFF;
    else return -1;
    return 0;
}

const char *gpu_mode_name(enum gpu_mode m)
{
    return m == GPU_MODE_ON ? "on" : m == GPU_MODE_OFF ? "off" : "auto";
}

void gpu_options_default(struct gpu_options *o)
{
    memset(o, 0, sizeof *o);
    o->mode = GPU_MODE_AUTO;
    o->nstates = 1000000;
    o->max_bytes = 1ull << 30;
    o->timeout_s = 120;
}

static bool executable(const char *p) { return access(p, X_OK) == 0; }

/* pixel-cuda: the option, else beside this program or in ../gpu/ (where
 * `make pixel-gpu` puts it), else on PATH. */
static bool find_pixel_cuda(const char *opt, char *out, size_t len)
{
    if (opt) {
        snprintf(out, len, "%s", opt);
        return executable(out);
    }
    char self[2048];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%.2000s/pixel-cuda", self);
            if (executable(out)) return true;
            snprintf(out, len, "%.2000s/../gpu/pixel-cuda", self);
            if (executable(out)) return true;
        }
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t l = end ? (size_t)(end - path) : strlen(path);
        snprintf(out, len, "%.*s/pixel-cuda", (int)l, path);
        if (l && executable(out)) return true;
        path = end ? end + 1 : NULL;
    }
    snprintf(out, len, "pixel-cuda");
    return false;
}

/* A `key=value` (or key="value") from pixel-cuda's RESULT line. */
static bool field(const char *line, const char *key, char *val, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (!p) return false;
    p += strlen(pat);
    size_t k = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && k + 1 < len; p++) val[k++] = *p;
    } else {
        for (; *p && *p != ' ' && *p != '\n' && k + 1 < len; p++) val[k++] = *p;
    }
    val[k] = '\0';
    return true;
}

/* The last RESULT line of a log (or the last line, for messages). */
static void last_line(const char *path, const char *prefix, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!prefix || !strncmp(line, prefix, strlen(prefix))) snprintf(out, len, "%s", line);
    }
    fclose(f);
}

void gpu_probe_run(const struct gpu_options *o, struct gpu_probe *p)
{
    memset(p, 0, sizeof *p);
    if (o->mode == GPU_MODE_OFF) {
        snprintf(p->note, sizeof p->note, "GPU off (--gpu off)");
        log_info("offload: GPU off (--gpu off): no GPU figures");
        return;
    }
    if (access("/dev/nvidia0", F_OK) != 0 && access("/dev/nvidiactl", F_OK) != 0) {
        snprintf(p->note, sizeof p->note, "no GPU");
        if (o->mode == GPU_MODE_ON)
            log_warn("offload: --gpu on, but there is no GPU (no /dev/nvidia0): GPU columns say \"no GPU\"");
        else
            log_info("offload: no GPU (no /dev/nvidia0): GPU columns say \"no GPU\"");
        return;
    }
    if (!find_pixel_cuda(o->pixel_cuda, p->path, sizeof p->path)) {
        snprintf(p->note, sizeof p->note, "no GPU executor (pixel-cuda not found: make pixel-gpu, or --pixel-cuda PATH)");
        log_warn("offload: an NVIDIA device is present but %s is not an executable pixel-cuda "
                 "(build it with `make pixel-gpu` or give --pixel-cuda PATH): no GPU figures", p->path);
        return;
    }
    char logp[4200];
    snprintf(logp, sizeof logp, "%s/gpu_probe.log", o->work_dir ? o->work_dir : ".");
    char *argv[] = { p->path, "--probe", NULL };
    int rc = speedup_run(argv, 30, logp);
    char line[1024];
    last_line(logp, NULL, line, sizeof line);
    if (rc != 0 || !field(line, "device", p->device, sizeof p->device)) {
        snprintf(p->note, sizeof p->note, "no GPU (pixel-cuda --probe: %.200s)", line[0] ? line : "failed");
        log_warn("offload: %s --probe exited %d (%s): no GPU figures", p->path, rc, line);
        return;
    }
    p->available = true;
    log_info("offload: GPU %s, executor %s: CUDA figures for the timed blocks", p->device, p->path);
}

/* The interpreter's result for every state of a job (the reference). */
static void run_interp(struct pixel_job *j)
{
    struct pixel_batch b = {
        .n = j->nstates, .nregions = j->nregions, .regs = j->regs, .region_base = j->region_base,
        .mem = j->mem, .fault = j->fault, .fault_pc = j->fault_pc,
    };
    memcpy(b.region_size, j->region_size, sizeof j->region_size);
    for (uint32_t i = 0; i < j->nstates; i++) {
        struct pixel_state s;
        struct x86_mem m;
        struct pixel_result res;
        pixel_batch_get(&b, i, &s, &m);
        pixel_run_valid(j->prog, j->ninsns, &s, j->step_limit, &res);
        pixel_batch_put(&b, i, &s);
        j->fault[i] = (uint8_t)res.fault;
        j->fault_pc[i] = res.pc;
    }
    j->has_results = true;
}

static int job_of(const struct pixel_insn *ops, size_t nops, const struct pixel_batch *s, struct pixel_job *j,
                  char *err, size_t el)
{
    if (pixel_job_alloc(j, (uint32_t)nops, s->n, s->nregions, s->region_size, err, el) < 0) return -1;
    memcpy(j->prog, ops, nops * sizeof *ops);
    memcpy(j->regs, s->regs, (size_t)PIXEL_NREGS * s->n * 8);
    if (s->nregions) {
        memcpy(j->region_base, s->region_base, (size_t)s->nregions * s->n * 8);
        memcpy(j->mem, s->mem, (size_t)s->n * pixel_job_window(j));
    }
    return 0;
}

int gpu_measure(const struct gpu_options *o, const struct gpu_probe *p, const char *name,
                const struct pixel_insn *ops, size_t nops, const struct pixel_batch *states,
                struct gpu_result *r)
{
    memset(r, 0, sizeof *r);
    if (!p->available) {
        snprintf(r->why, sizeof r->why, "%s", p->note);
        return 0;
    }
    const char *wd = o->work_dir ? o->work_dir : ".";
    char jobp[4200], resp[4200], logp[4200], err[512];
    snprintf(jobp, sizeof jobp, "%s/gpu_%s.job", wd, name);
    snprintf(resp, sizeof resp, "%s/gpu_%s.result", wd, name);
    snprintf(logp, sizeof logp, "%s/gpu_%s.log", wd, name);
    struct pixel_job job, ref, res;
    memset(&res, 0, sizeof res);
    if (job_of(ops, nops, states, &job, err, sizeof err) < 0 || job_of(ops, nops, states, &ref, err, sizeof err) < 0) {
        snprintf(r->why, sizeof r->why, "batch: %.200s", err);
        return -1;
    }
    int ret = 0;
    if (pixel_job_write(jobp, &job, err, sizeof err) < 0) {
        snprintf(r->why, sizeof r->why, "%.250s", err);
        ret = -1;
        goto out;
    }
    run_interp(&ref);

    /* 1: the block's own states, result read back and checked bit for bit */
    char *check[] = { (char *)p->path, jobp, resp, "--compact", "--repeat", "1", NULL };
    unsigned tmo = o->timeout_s ? o->timeout_s : 120;
    int rc = speedup_run(check, tmo, logp);
    char line[2048];
    if (rc != 0 || pixel_job_read(resp, &res, err, sizeof err) < 0) {
        last_line(logp, NULL, line, sizeof line);
        snprintf(r->why, sizeof r->why, "pixel-cuda exited %d: %.200s", rc, rc ? line : err);
        goto out;
    }
    long diff = pixel_job_compare_guest(&ref, &res, NULL, 0);
    if (diff != 0) {
        snprintf(r->why, sizeof r->why, "GPU results differ from the interpreter on %ld of %u states", diff,
                 job.nstates);
        log_error("offload: %s: %s (%s, %s): not reported", name, r->why, jobp, resp);
        goto out_keep;
    }
    r->checked = job.nstates;

    /* 2: the same states tiled to nstates, timed (no result file) */
    uint64_t want = o->nstates ? o->nstates : 1000000, per = (uint64_t)PIXEL_NREGS * 8 * 3 + 2 * pixel_job_window(&job);
    uint64_t cap = (o->max_bytes ? o->max_bytes : 1ull << 30) / (per ? per : 1);
    if (want > cap) want = cap;
    uint64_t k = (want + job.nstates - 1) / job.nstates;
    if (k < 1) k = 1;
    char ks[24];
    snprintf(ks, sizeof ks, "%llu", (unsigned long long)k);
    char *timed[] = { (char *)p->path, jobp, "-", "--compact", "--replicate", ks, "--repeat", "3", NULL };
    rc = speedup_run(timed, tmo, logp);
    last_line(logp, "RESULT", line, sizeof line);
    char v[64];
    if (rc != 0 || !field(line, "total_states_per_s", v, sizeof v)) {
        last_line(logp, NULL, line, sizeof line);
        snprintf(r->why, sizeof r->why, "timed pixel-cuda exited %d: %.200s", rc, line);
        goto out;
    }
    r->states_per_s = strtod(v, NULL);
    if (field(line, "kernel_states_per_s", v, sizeof v)) r->kernel_states_per_s = strtod(v, NULL);
    if (field(line, "states", v, sizeof v)) r->states = strtoull(v, NULL, 10);
    if (field(line, "bytes_in", v, sizeof v)) r->bytes_in = (uint32_t)strtoul(v, NULL, 10);
    if (field(line, "bytes_out", v, sizeof v)) r->bytes_out = (uint32_t)strtoul(v, NULL, 10);
    r->measured = r->states_per_s > 0;
    if (!r->measured) snprintf(r->why, sizeof r->why, "pixel-cuda reported no rate: %.200s", line);
out:
    unlink(jobp);
    unlink(resp);
out_keep:
    pixel_job_free(&job);
    pixel_job_free(&ref);
    pixel_job_free(&res);
    return ret;
}
