/* tracer — the pipeline's first stage: runs the tracing VM (QEMU 10 +
 * trace_logger.so) until the guest powers off, and exits with its result.
 * Options, defaults and the config file: docs/tracer.md (and --help). */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "vm_launch.h"

static const char usage[] =
    "usage: tracer [options]\n"
    "Run the tracing VM: QEMU (TCG) with trace_logger.so writing the trace queue\n"
    "/dev/shm/qemu_trace_{vm_id}; exits when the guest has run its workloads and powered off.\n"
    "  --config FILE        take the vm: section of a pipeline.yaml (options below override it)\n"
    "  --vm-id ID           names the queue (/dev/shm/qemu_trace_ID) and the RAM file (default 0;\n"
    "                       under pipectl PIPELINE-PID, so concurrent pipelines never collide)\n"
    "  --out PATH           trace queue path instead (plugin argument queue=PATH)\n"
    "  --kernel PATH        default: BUILD/tracer/vmlinux (uncompressed, PVH boot), else BUILD/deps/vmlinuz\n"
    "                       or BUILD/../deps/vmlinuz\n"
    "  --initrd PATH        default: BUILD/tracer/initramfs.cpio.gz (built when missing)\n"
    "  --plugin PATH        default: BUILD/lib/trace_logger.so\n"
    "  --no-plugin          run the VM without a plugin (benchmark baseline)\n"
    "  --plugin-arg K=V     plugin argument (repeatable; docs/tracer.md); vm_id/queue are added\n"
    "                       only when the plugin is trace_logger*.so\n"
    "  --workloads A,B      workloads to run (default: the image's default list)\n"
    "  --memory MIB         guest RAM (default 512)\n"
    "  --cpus N             vCPUs (default 1)\n"
    "  --icount SHIFT|off   deterministic mode (-icount shift=SHIFT); default off\n"
    "  --timeout SECONDS    stop a guest that has not powered off (default 300)\n"
    "  --console PATH       guest console log (default /tmp/tcgl-tracer-ID.console; under\n"
    "                       pipectl $TCGL_LOG_DIR/tracer-ID.console)\n"
    "  --qemu-log PATH      QEMU's stderr, plugin messages (default: inherited)\n"
    "  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
    "  --keep-ram           keep the RAM file /dev/shm/qemu_ram_ID after the run\n"
    "  --print-cmd          print the QEMU command line and exit\n"
    "BUILD is the directory above this executable's bin/.  Under pipectl, TCGL_CONFIG stands for\n"
    "--config and TCGL_OUTPUT_OUT (its first queue) for --out.\n"
    "Exit status: 0 success; 1 the VM failed; 2 bad options; 3 timeout.\n";

static void on_signal(int sig) { (void)sig; vm_request_stop(); }

static char *build_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return strdup(".");
    exe[n] = 0;
    return strdup(dirname(dirname(exe)));   /* BUILD/bin/tracer -> BUILD */
}

static char *first_existing(const char *a, const char *b, const char *c)
{
    const char *cand[3] = {a, b, c};
    struct stat st;
    for (int i = 0; i < 3; i++)
        if (cand[i] && stat(cand[i], &st) == 0) return strdup(cand[i]);
    return strdup(a);
}

static int make_initrd(const char *bld, const char *initrd)
{
    char cmd[3 * PATH_MAX];
    const char *root = getenv("TCGL_ROOT") ? getenv("TCGL_ROOT") : ".";
    snprintf(cmd, sizeof cmd, "bash '%s/stages/tracer/image/mkinitramfs.sh' -o '%s' -w '%s/tracer/guest-bin'",
             root, initrd, bld);
    log_info("initramfs %s is missing; building it: %s", initrd, cmd);
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    log_set_ident("tracer", -1);
    struct vm_spec s;
    vm_spec_default(&s);
    char *bld = build_dir();
    const char *config_path = NULL, *out = NULL;
    char *kernel = NULL, *initrd = NULL, *plugin = NULL, *console = NULL, *arg_vmid = NULL;
    bool no_plugin = false, print_cmd = false;
    const char *cli_args[VM_MAX_PLUGIN_ARGS];
    int ncli_args = 0;
    struct config *cfg = NULL;

    enum { O_CONFIG = 256, O_VMID, O_OUT, O_KERNEL, O_INITRD, O_PLUGIN, O_NOPLUGIN, O_PARG, O_WORKLOADS,
           O_MEMORY, O_CPUS, O_ICOUNT, O_TIMEOUT, O_CONSOLE, O_QLOG, O_QEMU, O_KEEP, O_PRINT, O_HELP };
    static const struct option opts[] = {
        {"config", 1, 0, O_CONFIG}, {"vm-id", 1, 0, O_VMID}, {"out", 1, 0, O_OUT}, {"kernel", 1, 0, O_KERNEL},
        {"initrd", 1, 0, O_INITRD}, {"plugin", 1, 0, O_PLUGIN}, {"no-plugin", 0, 0, O_NOPLUGIN},
        {"plugin-arg", 1, 0, O_PARG}, {"workloads", 1, 0, O_WORKLOADS}, {"memory", 1, 0, O_MEMORY},
        {"cpus", 1, 0, O_CPUS}, {"icount", 1, 0, O_ICOUNT}, {"timeout", 1, 0, O_TIMEOUT},
        {"console", 1, 0, O_CONSOLE}, {"qemu-log", 1, 0, O_QLOG}, {"qemu", 1, 0, O_QEMU},
        {"keep-ram", 0, 0, O_KEEP}, {"print-cmd", 0, 0, O_PRINT}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    /* Two passes: the config file first, so options override it wherever they
     * appear.  Under pipectl, TCGL_CONFIG names it and TCGL_OUTPUT_OUT the
     * output queue(s) (docs/writing-a-stage.md). */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config")) config_path = argv[i + 1];
    if (!config_path && getenv("TCGL_CONFIG") && *getenv("TCGL_CONFIG")) config_path = getenv("TCGL_CONFIG");
    static char env_out[PATH_MAX], buf0_console[PATH_MAX];
    if (getenv("TCGL_OUTPUT_OUT") && *getenv("TCGL_OUTPUT_OUT")) {
        snprintf(env_out, sizeof env_out, "%s", getenv("TCGL_OUTPUT_OUT"));
        char *comma = strchr(env_out, ',');
        if (comma) {
            *comma = 0;
            log_warn("TCGL_OUTPUT_OUT lists several queues; the plugin writes only the first, %s", env_out);
        }
        out = env_out;
    }
    if (config_path) {
        char err[CONFIG_ERR_MAX];
        cfg = config_load(config_path, err, sizeof err);
        if (!cfg) { log_error("%s", err); return 2; }
        if (!cfg->vm.present) { log_error("%s: no vm: section (docs/tracer.md)", config_path); return 2; }
        kernel = strdup(cfg->vm.kernel);
        if (cfg->vm.initrd) initrd = strdup(cfg->vm.initrd);
        s.memory_mib = cfg->vm.memory_mib;
        s.cpus = cfg->vm.cpus;
        s.icount = cfg->vm.icount;
        s.timeout_s = cfg->vm.timeout_s;
        for (int i = 0; i < cfg->vm.nplugin_args && s.nplugin_args < VM_MAX_PLUGIN_ARGS; i++)
            s.plugin_args[s.nplugin_args++] = cfg->vm.plugin_args[i];
        static char wl[4096];
        wl[0] = 0;
        for (int i = 0; i < cfg->vm.nworkloads; i++) {
            if (i) strncat(wl, ",", sizeof wl - strlen(wl) - 1);
            strncat(wl, cfg->vm.workloads[i], sizeof wl - strlen(wl) - 1);
        }
        if (cfg->vm.nworkloads && strcmp(wl, "default") != 0) s.workloads = wl;
    }
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: break;
        case O_VMID: arg_vmid = optarg; break;
        case O_OUT: out = optarg; break;
        case O_KERNEL: free(kernel); kernel = strdup(optarg); break;
        case O_INITRD: free(initrd); initrd = strdup(optarg); break;
        case O_PLUGIN: free(plugin); plugin = strdup(optarg); break;
        case O_NOPLUGIN: no_plugin = true; break;
        case O_PARG:
            if (ncli_args >= VM_MAX_PLUGIN_ARGS) { log_error("--plugin-arg: at most %d", VM_MAX_PLUGIN_ARGS); return 2; }
            cli_args[ncli_args++] = optarg;
            break;
        case O_WORKLOADS: s.workloads = optarg; break;
        case O_MEMORY: s.memory_mib = (uint32_t)strtoul(optarg, NULL, 10); break;
        case O_CPUS: s.cpus = (uint32_t)strtoul(optarg, NULL, 10); break;
        case O_ICOUNT: s.icount = strcmp(optarg, "off") ? atoi(optarg) : -1; break;
        case O_TIMEOUT: s.timeout_s = (uint32_t)strtoul(optarg, NULL, 10); break;
        case O_CONSOLE: free(console); console = strdup(optarg); break;
        case O_QLOG: s.stderr_log = optarg; break;
        case O_QEMU: s.qemu = optarg; break;
        case O_KEEP: s.keep_ram = true; break;
        case O_PRINT: print_cmd = true; break;
        case O_HELP: case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) { log_error("unexpected argument '%s'", argv[optind]); fputs(usage, stderr); return 2; }
    if (arg_vmid) s.vm_id = arg_vmid;
    /* Under pipectl (an output queue was given) two pipelines may trace at
     * once: without an explicit --vm-id, name the VM after this run (the
     * pipeline and its pipectl) so the RAM file and console never collide,
     * and keep the console with the run's logs. */
    static char run_vmid[96];
    if (!arg_vmid && out) {
        snprintf(run_vmid, sizeof run_vmid, "%s-%d", cfg ? cfg->name : "pipe", (int)getppid());
        s.vm_id = run_vmid;
        const char *logdir = getenv("TCGL_LOG_DIR");
        if (!console && logdir && *logdir) {
            snprintf(buf0_console, sizeof buf0_console, "%s/tracer-%s.console", logdir, s.vm_id);
            console = strdup(buf0_console);
        }
    }

    char buf[3][PATH_MAX];
    snprintf(buf[0], sizeof buf[0], "%s/tracer/vmlinux", bld);
    snprintf(buf[1], sizeof buf[1], "%s/deps/vmlinuz", bld);
    snprintf(buf[2], sizeof buf[2], "%s/../deps/vmlinuz", bld);
    if (!kernel) kernel = first_existing(buf[0], buf[1], buf[2]);
    if (!initrd) {
        snprintf(buf[2], sizeof buf[2], "%s/tracer/initramfs.cpio.gz", bld);
        initrd = strdup(buf[2]);
    }
    if (!plugin && !no_plugin) {
        snprintf(buf[0], sizeof buf[0], "%s/lib/trace_logger.so", bld);
        plugin = strdup(buf[0]);
    }
    if (!console) {
        snprintf(buf[1], sizeof buf[1], "/tmp/tcgl-tracer-%s.console", s.vm_id);
        console = strdup(buf[1]);
    }
    s.kernel = kernel;
    s.initrd = initrd;
    s.plugin = no_plugin ? NULL : plugin;
    s.serial_log = console;

    /* Plugin arguments: config, then the vm id / queue, then the command line (later wins in the plugin). */
    static char vmid_arg[128], queue_arg[PATH_MAX + 8];
    /* The queue arguments are for trace_logger.so; another plugin (e.g.
     * QEMU's hotblocks, for the benchmark) gets only --plugin-arg ones. */
    bool ours = s.plugin && strstr(s.plugin, "trace_logger") != NULL;
    if (ours && (arg_vmid || !out)) {
        snprintf(vmid_arg, sizeof vmid_arg, "vm_id=%s", s.vm_id);
        if (s.nplugin_args < VM_MAX_PLUGIN_ARGS) s.plugin_args[s.nplugin_args++] = vmid_arg;
    }
    if (ours && out) {
        snprintf(queue_arg, sizeof queue_arg, "queue=%s", out);
        if (s.nplugin_args < VM_MAX_PLUGIN_ARGS) s.plugin_args[s.nplugin_args++] = queue_arg;
    }
    for (int i = 0; i < ncli_args && s.nplugin_args < VM_MAX_PLUGIN_ARGS; i++) s.plugin_args[s.nplugin_args++] = cli_args[i];

    struct stat st;
    if (stat(s.initrd, &st) != 0 && make_initrd(bld, s.initrd) < 0) {
        log_error("initramfs %s is missing and could not be built", s.initrd);
        return 1;
    }
    char msg[512];
    if (print_cmd) {
        char **qv = vm_build_argv(&s, msg, sizeof msg);
        if (!qv) { log_error("%s", msg); return 2; }
        for (char **p = qv; *p; p++) printf("%s%s", p == qv ? "" : " ", *p);
        printf("\n");
        vm_argv_free(qv);
        return 0;
    }
    if (vm_check(&s, msg, sizeof msg) < 0) { log_error("%s", msg); return 2; }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    log_info("vm %s: kernel %s, initrd %s, %u MiB, %u vCPU(s), workloads %s, plugin %s, console %s",
             s.vm_id, s.kernel, s.initrd, s.memory_mib, s.cpus, s.workloads ? s.workloads : "(default)",
             s.plugin ? s.plugin : "(none)", s.serial_log);
    struct vm_result r;
    int rc = vm_run(&s, &r);
    if (rc == 0)
        log_info("vm %s: done in %.1f s (QEMU cpu %.2f s user, %.2f s sys), %d workload(s) run, %d failed", s.vm_id,
                 r.wall_s, r.cpu_user_s, r.cpu_sys_s, r.workloads_run, r.workloads_failed);
    else
        log_error("vm %s: %s", s.vm_id, r.msg);
    if (r.workloads_failed) log_warn("vm %s: %d workload(s) exited non-zero (see %s)", s.vm_id, r.workloads_failed, s.serial_log);
    free(kernel); free(initrd); free(plugin); free(console); free(bld);
    config_free(cfg);
    return rc == 0 ? 0 : r.timed_out ? 3 : 1;
}
