/* pipectl — start, watch, scale, swap and stop a tcglearn pipeline.
 * Options and dispatch only; the run time is pipeline.c, the control socket
 * control.c.  docs/pipectl.md is the manual. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "pipeline.h"

static const char usage[] =
"usage: pipectl [--run-dir DIR | -f FILE] COMMAND [ARGS]\n"
"\n"
"Run a tcglearn pipeline (pipeline.yaml) and control it while it runs.\n"
"\n"
"Commands:\n"
"  start FILE [--detach] [--interval SECONDS]\n"
"        Validate FILE, create the queues, start every stage (downstream\n"
"        first) and supervise them until the pipeline ends.  On a terminal a\n"
"        live table shows each stage's workers, records in and out, input\n"
"        rate, fullest input queue, restarts and state; otherwise the table\n"
"        is printed every SECONDS (default 5).  --detach runs it in the\n"
"        background (output in RUN_DIR/pipectl.log) and returns once the\n"
"        stages are started.\n"
"  status\n"
"        The table, one line per worker (pid, state, counts, log file).\n"
"  logs STAGE [-n LINES] [-f]\n"
"        The last LINES (default 40) lines of each worker's log of STAGE;\n"
"        -f keeps following them.  Works after the pipeline ended too.\n"
"  scale STAGE N\n"
"        Run N workers of STAGE.  New workers get their own input and output\n"
"        queues; removed ones stop receiving, drain their input and exit.\n"
"        No record is lost or processed twice.  Returns when done.\n"
"  swap STAGE EXECUTABLE\n"
"        Stop each worker of STAGE at a record boundary and start\n"
"        EXECUTABLE (same arguments) on the same queues.  Nothing is lost.\n"
"  stop [--now] [--no-wait]\n"
"        Graceful: sources stop producing and every stage ends once its input\n"
"        has, in pipeline order.  --now: every stage stops at its next record\n"
"        boundary (killed after 5 s).  Waits for the end unless --no-wait.\n"
"\n"
"Where the running pipeline is found (all commands but start):\n"
"  --run-dir DIR   its run directory (output.run in the file);\n"
"  -f FILE         the pipeline file it was started from;\n"
"  otherwise $PIPECTL_RUN_DIR, otherwise ./pipeline.yaml.\n"
"\n"
"Exit status of start: 0 every stage finished; 1 the file or the set-up is\n"
"wrong (the message names the file, line and column, or the missing\n"
"executable); 2 stopped with 'stop --now' or a second SIGINT/SIGTERM before\n"
"the end; 3 a stage crash-looped (the report names it, its exit status or\n"
"signal, and the end of its log).  Other commands: 0 done, 1 error, 3 no\n"
"pipeline is running there.\n"
"\n"
"Stages learn their queues, worker index and directories from environment\n"
"variables and a control file: see docs/writing-a-stage.md.  The file format\n"
"is in docs/pipeline.md.\n";

static void die_usage(const char *msg)
{
    fprintf(stderr, "pipectl: %s\n(pipectl --help for usage)\n", msg);
    exit(1);
}

static int cmd_start(const char *file, bool detach, int interval_s)
{
    char err[CONFIG_ERR_MAX + 512];
    struct config *cfg = config_load(file, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "pipectl: %s\n", err);
        return PIPECTL_EXIT_SETUP;
    }
    int fds[2] = { -1, -1 };
    if (detach) {
        if (pipe(fds) < 0) {
            perror("pipectl: pipe");
            return PIPECTL_EXIT_SETUP;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("pipectl: fork");
            return PIPECTL_EXIT_SETUP;
        }
        if (pid > 0) {
            close(fds[1]);
            char msg[2048];
            ssize_t n = read(fds[0], msg, sizeof msg - 1);
            close(fds[0]);
            msg[n > 0 ? n : 0] = 0;
            if (n > 0 && !strncmp(msg, "ok", 2)) {
                printf("pipectl: pipeline '%s' runs in the background (pid %d)\n"
                       "  control: pipectl --run-dir %s status|scale|swap|stop\n"
                       "  output:  %s/pipectl.log\n",
                       cfg->name, (int)pid, cfg->run_dir, cfg->run_dir);
                config_free(cfg);
                return 0;
            }
            fprintf(stderr, "pipectl: %s\n", n > 0 ? msg : "the background pipectl died while starting");
            config_free(cfg);
            return PIPECTL_EXIT_SETUP;
        }
        close(fds[0]);
        setsid();
    }
    struct pipeline *p = calloc(1, sizeof *p);
    bool tty = !detach && isatty(STDOUT_FILENO);
    if (pipeline_start(p, cfg, tty, interval_s * 1000, err, sizeof err) < 0) {
        if (detach) {
            if (write(fds[1], err, strlen(err)) < 0) {
                /* the parent is gone: nothing more to tell */
            }
        } else {
            fprintf(stderr, "pipectl: %s\n", err);
        }
        pipeline_free(p);
        free(p);
        config_free(cfg);
        return PIPECTL_EXIT_SETUP;
    }
    if (detach) {
        char logp[PATH_MAX];
        snprintf(logp, sizeof logp, "%s/pipectl.log", cfg->run_dir);
        FILE *f = freopen(logp, "a", stdout);
        if (f)
            dup2(fileno(stdout), STDERR_FILENO);
        freopen("/dev/null", "r", stdin);
        if (write(fds[1], "ok", 2) < 0) {
            /* the parent is gone; keep running */
        }
        close(fds[1]);
    }
    int rc = pipeline_run(p);
    pipeline_free(p);
    free(p);
    config_free(cfg);
    return rc;
}

static char *find_run_dir(const char *run_dir, const char *file)
{
    if (run_dir)
        return strdup(run_dir);
    if (!file && getenv("PIPECTL_RUN_DIR") && *getenv("PIPECTL_RUN_DIR"))
        return strdup(getenv("PIPECTL_RUN_DIR"));
    if (!file)
        file = "pipeline.yaml";
    char err[CONFIG_ERR_MAX];
    struct config *cfg = config_load(file, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "pipectl: cannot find the run directory: %s\n(give --run-dir DIR or -f FILE)\n", err);
        return NULL;
    }
    char *r = strdup(cfg->run_dir);
    config_free(cfg);
    return r;
}

static int send(const char *run_dir, const char *req)
{
    int ok = 0;
    if (control_request(run_dir, req, stdout, &ok) < 0) {
        fprintf(stderr, "pipectl: no pipeline is running in %s (%s)\n", run_dir, strerror(errno));
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/summary.txt", run_dir);
        FILE *f = strcmp(req, "status") ? NULL : fopen(path, "r");
        if (f) {
            /* the last run's outcome is still worth showing */
            fprintf(stderr, "pipectl: the last run ended; its summary (%s):\n", path);
            char line[1024];
            while (fgets(line, sizeof line, f))
                fputs(line, stdout);
            fclose(f);
        }
        return 3;
    }
    return ok ? 0 : 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_logs(const char *run_dir, const char *stage, int lines, bool follow)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/logs", run_dir);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "pipectl: %s: %s (has this pipeline been started?)\n", dir, strerror(errno));
        return 1;
    }
    char *names[CONFIG_MAX_WORKERS * 4];
    int n = 0;
    size_t sl = strlen(stage);
    struct dirent *de;
    while ((de = readdir(d)) && n < (int)(sizeof names / sizeof names[0])) {
        size_t l = strlen(de->d_name);
        if (!strncmp(de->d_name, stage, sl) && de->d_name[sl] == '.' && l > 4 && !strcmp(de->d_name + l - 4, ".log"))
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "pipectl: no log of stage '%s' in %s\n", stage, dir);
        return 1;
    }
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    off_t sizes[CONFIG_MAX_WORKERS * 4];
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        printf("==> %s <==\n", path);
        print_tail(stdout, path, lines, "");
        struct stat sb;
        sizes[i] = stat(path, &sb) == 0 ? sb.st_size : 0;
    }
    fflush(stdout);
    while (follow) {
        usleep(300000);
        for (int i = 0; i < n; i++) {
            char path[PATH_MAX + 256];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            fseek(f, sizes[i], SEEK_SET);
            char buf[4096];
            size_t r;
            while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
                fwrite(buf, 1, r, stdout);
                sizes[i] += (off_t)r;
            }
            fclose(f);
        }
        fflush(stdout);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *run_dir = NULL, *file = NULL;
    char *args[64];
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--run-dir")) {
            if (++i >= argc)
                die_usage("--run-dir needs a directory");
            run_dir = argv[i];
        } else if (!strcmp(argv[i], "-f") && nargs > 0 && !strcmp(args[0], "logs")) {
            args[nargs++] = argv[i];   /* logs -f: follow */
        } else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
            if (++i >= argc)
                die_usage("-f needs a pipeline file");
            file = argv[i];
        } else if (nargs < 64) {
            args[nargs++] = argv[i];
        }
    }
    if (nargs == 0)
        die_usage("no command (start, status, logs, scale, swap, stop)");
    const char *cmd = args[0];

    if (!strcmp(cmd, "start")) {
        bool detach = false;
        int interval = 5;
        const char *f = file;
        for (int i = 1; i < nargs; i++) {
            if (!strcmp(args[i], "--detach") || !strcmp(args[i], "-d"))
                detach = true;
            else if (!strcmp(args[i], "--interval") && i + 1 < nargs)
                interval = atoi(args[++i]);
            else if (args[i][0] != '-' && !f)
                f = args[i];
            else {
                fprintf(stderr, "pipectl start: unexpected argument '%s'\n", args[i]);
                return 1;
            }
        }
        if (!f)
            die_usage("start needs a pipeline file (e.g. pipectl start pipeline.yaml)");
        if (interval < 1)
            interval = 1;
        return cmd_start(f, detach, interval);
    }

    char *rd = find_run_dir(run_dir, file);
    if (!rd)
        return 1;
    int rc;
    char req[1200];
    if (!strcmp(cmd, "status")) {
        rc = send(rd, "status");
    } else if (!strcmp(cmd, "logs")) {
        const char *stage = NULL;
        int lines = 40;
        bool follow = false;
        for (int i = 1; i < nargs; i++) {
            if (!strcmp(args[i], "-n") && i + 1 < nargs)
                lines = atoi(args[++i]);
            else if (!strcmp(args[i], "-f"))
                follow = true;
            else if (!stage)
                stage = args[i];
        }
        if (!stage) {
            free(rd);
            die_usage("logs needs a stage name");
        }
        rc = cmd_logs(rd, stage, lines > 0 ? lines : 40, follow);
    } else if (!strcmp(cmd, "scale")) {
        if (nargs != 3) {
            free(rd);
            die_usage("usage: pipectl scale STAGE N");
        }
        snprintf(req, sizeof req, "scale %s %s", args[1], args[2]);
        rc = send(rd, req);
    } else if (!strcmp(cmd, "swap")) {
        if (nargs != 3) {
            free(rd);
            die_usage("usage: pipectl swap STAGE EXECUTABLE");
        }
        /* the server resolves relative paths against its own directory: send an absolute one */
        char *abs = strchr(args[2], '/') ? realpath(args[2], NULL) : NULL;
        snprintf(req, sizeof req, "swap %s %s", args[1], abs ? abs : args[2]);
        free(abs);
        rc = send(rd, req);
    } else if (!strcmp(cmd, "stop")) {
        bool now = false, wait = true;
        for (int i = 1; i < nargs; i++) {
            if (!strcmp(args[i], "--now"))
                now = true;
            else if (!strcmp(args[i], "--no-wait"))
                wait = false;
            else {
                fprintf(stderr, "pipectl stop: unexpected argument '%s'\n", args[i]);
                free(rd);
                return 1;
            }
        }
        rc = send(rd, now ? "stop --now" : "stop");
        if (rc == 0 && wait) {
            /* the pipeline is gone when its socket no longer answers */
            int ok;
            FILE *null = fopen("/dev/null", "w");
            while (control_request(rd, "ping", null, &ok) == 0)
                usleep(200000);
            fclose(null);
            printf("stopped\n");
        }
    } else {
        fprintf(stderr, "pipectl: unknown command '%s'\n(pipectl --help for usage)\n", cmd);
        rc = 1;
    }
    free(rd);
    return rc;
}
