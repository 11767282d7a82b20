/* e2e_util.h — the real pipeline, end to end, for the integration tests
 * test_end_to_end_synthesis and test_hybrid_execution.
 *
 * e2e_run writes a pipeline file into a fresh temporary directory and runs
 * the real `TCGL_BUILD/bin/pipectl start` on it: the tracer boots the real
 * QEMU VM (TCGL_BUILD/tracer/vmlinux and initramfs.cpio.gz, the
 * trace_logger.so plugin) on a small workload set (wl_loop and wl_checksum),
 * then cfg -> cluster -> synth x2 -> verify x2 -> offload over real shm
 * queues, with the microcode library in a directory the caller chooses (so
 * that a second run can reuse it).  The outputs are read back as the user
 * would: report.json, cluster.json, the synth audit files, the library's
 * JSON entries (parsed with common/library.h) and the stage logs.
 *
 * Header-only (static) on top of test_pipectl_util.h. */
#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "library.h"
#include "test_pipectl_util.h"

/* The workloads traced (names from stages/tracer/workloads/workloads.conf):
 * wl_loop's loop block runs exactly E2E_LOOP_COUNT times. */
#define E2E_WORKLOADS "[loop, checksum]"
#define E2E_NWORKLOADS 2
#define E2E_LOOP_COUNT 123457u
/* Hot threshold of cluster: low enough that the small workloads give a few
 * dozen templates, high enough to skip one-off startup code. */
#define E2E_THRESHOLD "2000"

static const char e2e_body[] =
    "  library: %L\n"
    "vm:\n"
    "  kernel: %B/tracer/vmlinux\n"
    "  initrd: %B/tracer/initramfs.cpio.gz\n"
    "  memory: 256M\n"
    "  cpus: 1\n"
    "  workloads: " E2E_WORKLOADS "\n"
    "  plugin_args: {sample_first: 8, sample_every: 64, filter: user}\n"
    "  timeout: 4m\n"
    "defaults:\n"
    "  queue_size: 4M\n"
    "stages:\n"
    "  - name: tracer\n"
    "    executable: %B/bin/tracer\n"
    "    restart: {max_restarts: 1}\n"
    "  - name: cfg\n"
    "    executable: %B/bin/cfg\n"
    "    queue_size: 16M\n"
    "  - name: cluster\n"
    "    executable: %B/bin/cluster\n"
    "    outputs: [jobs, hits]\n"
    "    args: [--no-imm-params, --threshold, \"" E2E_THRESHOLD "\"]\n"
    "  - name: synth\n"
    "    executable: %B/bin/synth\n"
    "    workers: 2\n"
    "  - name: verify\n"
    "    executable: %B/bin/verify\n"
    "    workers: 2\n"
    "  - name: offload\n"
    "    executable: %B/bin/offload\n"
    "    args: [--speed-blocks, \"1\", --states, \"256\", --reps, \"4\"]\n"
    "edges:\n"
    "  - {from: tracer,       to: cfg}\n"
    "  - {from: cfg,          to: cluster}\n"
    "  - {from: cluster.jobs, to: synth}\n"
    "  - {from: cluster.hits, to: offload}\n"
    "  - {from: synth,        to: verify}\n"
    "  - {from: verify,       to: offload}\n";

/* Why the pipeline cannot run here ("" when it can). */
static inline const char *e2e_missing(void)
{
    static char why[1400];
    static const char *const need[] = {
        "bin/pipectl", "bin/tracer", "bin/cfg", "bin/cluster", "bin/synth", "bin/verify",
        "bin/offload", "tracer/vmlinux", "tracer/initramfs.cpio.gz", "lib/trace_logger.so",
        "tracer/guest-bin/wl_loop",
    };
    why[0] = 0;
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", prun_build(), need[i]);
        if (access(p, R_OK) != 0) {
            snprintf(why, sizeof why, "%s is missing (make BUILD=%s build)", p, prun_build());
            break;
        }
    }
    if (!*why && system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0)
        snprintf(why, sizeof why, "qemu-system-x86_64 is not installed");
    return why;
}

/* A fresh 0700 temporary directory for a library shared by runs. */
static inline void e2e_tmpdir(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "/tmp/tcgl-e2e-%s-XXXXXX", name);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
}

/* TCGL_E2E_KEEP=1 keeps the temporary directories (outputs, logs, library)
 * for a look after the test; pipectl is stopped either way. */
static inline bool e2e_keep(void)
{
    const char *k = getenv("TCGL_E2E_KEEP");
    return k && !strcmp(k, "1");
}

static inline void e2e_rmdir(const char *dir)
{
    if (e2e_keep()) {
        fprintf(stderr, "e2e: kept %s\n", dir);
        return;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* Run the pipeline once with library `lib`; returns pipectl's exit status
 * (-1: it did not finish within timeout_s and was stopped).  r->dir holds
 * out/report, out/logs, out/run afterwards; the caller checks and then calls
 * prun_cleanup.  Prints the wall time. */
static inline int e2e_run(struct prun *r, const char *name, const char *lib, int timeout_s)
{
    static char body[8192];
    prun_subst(body, sizeof body, e2e_body, "L", &lib);
    prun_init(r, name, body);
    uint64_t t0 = prun_now_ms();
    prun_start(r);
    int rc = prun_wait(r, timeout_s);
    fprintf(stderr, "e2e: pipeline %s finished with status %d in %.1f s (outputs in %s/out)\n", name, rc,
            (double)(prun_now_ms() - t0) / 1000.0, r->dir);
    if (rc != 0) {
        prun_dump(r);
        char cmd[800];
        snprintf(cmd, sizeof cmd, "tail -n 15 %s/out/logs/*.log >&2", r->dir);
        if (system(cmd) != 0) fprintf(stderr, "no logs\n");
    }
    return rc;
}

/* Stop pipectl if it still runs (it stops its stages, the VM, and removes
 * the queues) and remove the run's directory. */
static inline void e2e_cleanup(struct prun *r)
{
    if (!e2e_keep()) {
        prun_cleanup(r);
        return;
    }
    if (r->pid > 0 && !prun_poll_exit(r)) {
        kill(r->pid, SIGTERM);
        prun_wait(r, 10);
    }
    fprintf(stderr, "e2e: kept %s\n", r->dir);
}

/* A JSON file of the run's report directory, parsed (json_decref it). */
static inline json_t *e2e_json(const struct prun *r, const char *file)
{
    char path[600];
    snprintf(path, sizeof path, "%s/out/report/%s", r->dir, file);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
    return j;
}

/* An integer member of an object (-1 when absent or not an integer). */
static inline long long e2e_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static inline const char *e2e_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* The value of `nm`'s symbol in a guest program of the tracer build (0 if none). */
static inline uint64_t e2e_guest_symbol(const char *prog, const char *sym)
{
    char cmd[1300], line[256];
    snprintf(cmd, sizeof cmd, "nm '%s/tracer/guest-bin/%s'", prun_build(), prog);
    FILE *p = popen(cmd, "r");
    uint64_t v = 0;
    if (!p) return 0;
    while (fgets(line, sizeof line, p)) {
        char name[200], type;
        unsigned long long a;
        if (sscanf(line, "%llx %c %199s", &a, &type, name) == 3 && !strcmp(name, sym)) v = a;
    }
    pclose(p);
    return v;
}

/* Read and parse library entry `key` of `lib` into e (library_entry_free it);
 * false, with the reason printed, when it is absent or does not parse. */
static inline bool e2e_library_entry(const char *lib, const char *key, struct library_entry *e)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.json", lib, key);
    char *json = prun_slurp(path);
    if (!json) {
        fprintf(stderr, "no library entry %s\n", path);
        return false;
    }
    char err[300];
    bool ok = library_entry_parse(json, strlen(json), key, e, err, sizeof err);
    if (!ok) fprintf(stderr, "%s: %s\n", path, err);
    free(json);
    return ok;
}

/* The numbers of offload's summary line "offload: N templates: ... replay
 * A/B agree ..." in its log (false when the line is absent). */
static inline bool e2e_offload_replay(const struct prun *r, long long *agreed, long long *checked)
{
    char path[600];
    snprintf(path, sizeof path, "%s/out/logs/offload.0.log", r->dir);
    char *log = prun_slurp(path);
    bool found = false;
    for (char *p = log; p && (p = strstr(p, "offload: ")); p++) {
        char *line_end = strchr(p, '\n');
        char *rp = strstr(p, " templates: ");
        char *rep = strstr(p, "replay ");
        if (rp && rep && (!line_end || (rep < line_end && rp < line_end)) &&
            sscanf(rep, "replay %lld/%lld agree", agreed, checked) == 2)
            found = true;
    }
    free(log);
    return found;
}

/* From the tracer's log line "vm ID: done in ... N workload(s) run, F
 * failed" (the last one, after any restart): the guest ran N workloads, F of
 * them failed.  False when the line is absent. */
static inline bool e2e_tracer_workloads(const struct prun *r, int *run, int *failed)
{
    char path[600];
    snprintf(path, sizeof path, "%s/out/logs/tracer.0.log", r->dir);
    char *log = prun_slurp(path);
    bool found = false;
    for (char *p = log; p && (p = strstr(p, " workload(s) run, ")); p++) {
        char *b = p;
        while (b > log && b[-1] != ' ') b--;
        if (sscanf(b, "%d workload(s) run, %d failed", run, failed) == 2) found = true;
    }
    free(log);
    return found;
}

/* The run finished, the VM ran every workload: assert it. */
static inline void e2e_assert_traced(const struct prun *r)
{
    int run = -1, failed = -1;
    if (!e2e_tracer_workloads(r, &run, &failed))
        fail_msg("%s/out/logs/tracer.0.log has no \"workload(s) run\" line", r->dir);
    if (run != E2E_NWORKLOADS || failed != 0)
        fail_msg("the VM ran %d workload(s), %d failed (expected %d, 0)", run, failed, E2E_NWORKLOADS);
}

#endif /* E2E_UTIL_H */
