/* offload — the last pipeline stage: VERDICT records from verify and
 * library-hit SYNTH_JOB records from cluster in; the library, hybrid replay,
 * speedups against QEMU TCG and the run report out.  The logic is
 * offload.c, replay.c, speedup.c, report.c; docs/offload.md. */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu_export.h"
#include "log.h"
#include "offload.h"
#include "stage.h"

static const char usage[] =
    "usage: offload [--speed-blocks N] [--states N] [--reps N] [--workload NAME]\n"
    "               [--work-dir DIR] [--no-native] [--gpu auto|on|off] [--no-gpu]\n"
    "               [--pixel-cuda PATH] [--gpu-states N]\n"
    "       offload --export-gpu DIR [--library DIR] [--keys PREFIX,...] [--export-states N]\n"
    "               [--harness] [--harness-states]\n"
    "\n"
    "Pipeline stage (started by pipectl): reads VERDICT records (verify) and library-hit\n"
    "SYNTH_JOB records (cluster `hits`).  Proved and tested microcode goes into the\n"
    "library ($TCGL_LIBRARY_DIR) with its provenance, QEMU-only candidates become\n"
    "markers, refuted/unknown verdicts are logged and counted.  Verified microcode is\n"
    "replayed on the sampled states of its blocks; QEMU-only blocks fall back (logged\n"
    "once).  At the end of the input the hottest offloaded blocks are timed against\n"
    "QEMU TCG (generated static harness under qemu-x86_64), the Pixel executors and\n"
    "sandboxed native execution, and report.json/report.html go to $TCGL_REPORT_DIR.\n"
    "\n"
    "  --speed-blocks N  blocks to time (default 8; 0: none)\n"
    "  --states N        states per timed block (default 1024)\n"
    "  --reps N          passes over the states (default 64)\n"
    "  --workload NAME   first-seen workload recorded in new entries (default: pipeline name)\n"
    "  --work-dir DIR    harness sources/binaries (default $TCGL_RUN_DIR/offload)\n"
    "  --no-native       skip the sandboxed native ceiling\n"
    "  --gpu MODE        the CUDA executor for the timed blocks: auto (default: when an\n"
    "                    NVIDIA device and pixel-cuda are present), on (say loudly when\n"
    "                    not), off; without a GPU the report's CUDA columns say \"no GPU\"\n"
    "  --no-gpu          = --gpu off\n"
    "  --pixel-cuda PATH the GPU executor (default: beside this program, ../gpu/, PATH)\n"
    "  --gpu-states N    states per block on the GPU (the timed states tiled; default 1000000)\n"
    "\n"
    "  --export-gpu DIR  no pipeline: write every verified template of the library\n"
    "                    ($TCGL_LIBRARY_DIR or --library) as DIR/<key16>.job, a batch of\n"
    "                    --export-states (1000000) generated states, and DIR/index.tsv;\n"
    "                    --keys limits it to templates whose keys start with a prefix;\n"
    "                    --export-seed N draws another stream of states (default 1);\n"
    "                    --harness also compiles the QEMU/native harness of each template,\n"
    "                    --harness-states writes its state file (DIR/<key16>.hs)\n"
    "  -h, --help        this text\n";

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || !*s || *end || s[0] == '-' || v > 100000000ul) {
        fprintf(stderr, "offload: %s: not an integer in 0..100000000: '%s'\n", opt, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* --export-gpu: the library's verified templates as GPU batch files. */
static int export_gpu(const char *dir, const char *libdir, const char *keys, const struct gpu_export_options *ex)
{
    if (!libdir) libdir = getenv("TCGL_LIBRARY_DIR");
    if (!libdir) {
        fprintf(stderr, "offload: --export-gpu needs --library DIR or TCGL_LIBRARY_DIR\n");
        return 2;
    }
    struct library *lib = library_open(libdir, NULL);
    if (!lib) return 2;
    const char *kv[256];
    size_t nk = 0;
    char *copy = keys ? strdup(keys) : NULL;
    for (char *save = NULL, *k = copy ? strtok_r(copy, ",", &save) : NULL; k && nk < 256; k = strtok_r(NULL, ",", &save))
        kv[nk++] = k;
    int n = gpu_export_library(lib, dir, kv, nk, ex);
    free(copy);
    library_close(lib);
    return n < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct offload_options o;
    memset(&o, 0, sizeof o);
    speedup_options_default(&o.speed);
    o.speed_blocks = 8;
    const char *work_dir = NULL, *export_dir = NULL, *export_lib = NULL, *export_keys = NULL;
    struct gpu_export_options ex = { .nstates = 1000000, .seed = 1, .max_bytes = 1ull << 30 };
    gpu_options_default(&o.gpu);
    uint32_t v;
    static const struct option longopts[] = {
        { "speed-blocks", required_argument, 0, 'b' }, { "states", required_argument, 0, 'n' },
        { "reps", required_argument, 0, 'r' }, { "workload", required_argument, 0, 'w' },
        { "work-dir", required_argument, 0, 'd' }, { "no-native", no_argument, 0, 'N' },
        { "gpu", required_argument, 0, 'g' }, { "no-gpu", no_argument, 0, 'G' },
        { "pixel-cuda", required_argument, 0, 'c' }, { "gpu-states", required_argument, 0, 's' },
        { "export-gpu", required_argument, 0, 'E' }, { "library", required_argument, 0, 'L' },
        { "keys", required_argument, 0, 'K' }, { "export-states", required_argument, 0, 'X' },
        { "export-seed", required_argument, 0, 'Z' },
        { "harness", no_argument, 0, 'H' }, { "harness-states", no_argument, 0, 'S' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'b': if (parse_u32("--speed-blocks", optarg, &v)) return 2; o.speed_blocks = v; break;
        case 'n': if (parse_u32("--states", optarg, &v) || !v) return 2; o.speed.nstates = v; break;
        case 'r': if (parse_u32("--reps", optarg, &v) || !v) return 2; o.speed.reps = v; break;
        case 'w': o.workload = optarg; break;
        case 'd': work_dir = optarg; break;
        case 'N': o.speed.run_native = false; break;
        case 'g':
            if (gpu_mode_parse(optarg, &o.gpu.mode) < 0) {
                fprintf(stderr, "offload: --gpu: expected auto, on or off, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'G': o.gpu.mode = GPU_MODE_OFF; break;
        case 'c': o.gpu.pixel_cuda = optarg; break;
        case 's': if (parse_u32("--gpu-states", optarg, &v) || !v) return 2; o.gpu.nstates = v; break;
        case 'E': export_dir = optarg; break;
        case 'L': export_lib = optarg; break;
        case 'K': export_keys = optarg; break;
        case 'X': if (parse_u32("--export-states", optarg, &v)) return 2; ex.nstates = v; break;
        case 'Z': if (parse_u32("--export-seed", optarg, &v) || !v) return 2; ex.seed = v; break;
        case 'H': ex.harness = true; break;
        case 'S': ex.harness_states = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "offload: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }

    if (export_dir) return export_gpu(export_dir, export_lib, export_keys, &ex);

    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    if (!o.workload) o.workload = st.pipeline[0] ? st.pipeline : "default";
    char wd[4096];
    if (!work_dir) {
        snprintf(wd, sizeof wd, "%s/offload", st.run_dir ? st.run_dir : ".");
        work_dir = wd;
    }
    mkdir(work_dir, 0700);
    o.speed.work_dir = work_dir;
    struct library *lib = st.library_dir ? library_open(st.library_dir, NULL) : NULL;
    if (st.library_dir && !lib) return 2;
    struct offload *off = offload_new(lib, &o);
    if (!off) return 2;

    struct stage_rec r;
    int rc;
    while ((rc = stage_next(&st, &r)) > 0) {
        char err[400];
        if (offload_handle_record(off, r.data, r.len, err, sizeof err) < 0) {
            log_error("offload: record from %s rejected: %s", r.from, err);
            stage_count_bad(&st);
        }
        stage_done(&st, &r);
    }
    bool ended = st.end == STAGE_ST_ENDED;
    if (rc == 0 && ended) {
        offload_measure(off);
        const char *dir = st.report_dir ? st.report_dir : ".";
        offload_write_report(off, dir, st.pipeline);
        const struct offload_stats *s = offload_get_stats(off);
        log_info("offload: %zu templates: %" PRIu64 " stored verified, %" PRIu64 " QEMU-only, %" PRIu64
                 " library hits, %" PRIu64 " refuted, %" PRIu64 " unknown/timeout; replay %" PRIu64 "/%" PRIu64
                 " agree (%" PRIu64 " skipped, %" PRIu64 " of them instances with other immediates); coverage %.1f%%; fallback events %" PRIu64,
                 offload_ntemplates(off), s->stored_verified, s->stored_qemu_only, s->lib_hits, s->refuted,
                 s->unknown + s->timeouts, s->replay_agreed, s->replay_checked, s->replay_skipped, s->replay_param_skips,
                 s->user_insns ? 100.0 * (double)s->user_insns_offloaded / (double)s->user_insns : 0.0,
                 s->fallback_events);
    }
    offload_free(off);
    library_close(lib);
    stage_close(&st);
    return rc < 0 ? 1 : 0;
}
