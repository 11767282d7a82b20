/* pipeline.h — pipectl's run time: the queues, the workers, supervision,
 * scaling and swapping of one running pipeline (docs/pipectl.md).
 *
 * Topology model: every edge of pipeline.yaml becomes one SPSC queue per
 * (producer worker, consumer worker) pair, so every worker has its own input
 * queues (one per upstream worker) and its own output queues (one per
 * downstream worker); producers fan out least-loaded, consumers fan in.  The
 * queue list below is the single truth; each worker's control file
 * (stage.h) is regenerated from it whenever it changes.
 */
#ifndef PIPECTL_PIPELINE_H
#define PIPECTL_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "stage.h"

struct shmq;

/* exit statuses of `pipectl start` */
enum pipectl_exit {
    PIPECTL_EXIT_OK = 0,          /* every stage drained and ended */
    PIPECTL_EXIT_SETUP = 1,       /* bad file, missing executable, cannot create queues */
    PIPECTL_EXIT_STOPPED = 2,     /* stopped with `stop --now` (or a second signal) before the end */
    PIPECTL_EXIT_FAILED = 3,      /* a stage crash-looped: see the report */
};

enum worker_state {
    W_FREE = 0,       /* slot unused */
    W_ACTIVE,         /* running, or waiting for a restart */
    W_DRAINING,       /* being removed: its inputs are closing, it ends when they are drained */
    W_FINISHED,       /* exited after ending its outputs */
};

enum queue_state {
    Q_ACTIVE = 1,
    Q_CLOSING,        /* consumer being removed: the producer ends it */
    Q_RETIRING,       /* producer gone: remove once the consumer consumed everything */
};

struct pq {
    int edge, from_w, to_w;
    enum queue_state state;
    char path[STAGE_PATH_MAX];
    struct shmq *obs;             /* observer handle: fill, end of stream */
};

#define RESTART_HISTORY 64

struct worker {
    enum worker_state state;
    pid_t pid;                    /* 0: not running */
    struct stage_ctl *ctl;
    char ctl_path[STAGE_PATH_MAX + 64];
    char log_path[1024];
    uint64_t started_ms;
    uint64_t restart_at_ms;       /* a restart is due (0: none) */
    uint64_t restarts[RESTART_HISTORY];   /* times of recent restarts */
    int nrestarts;                /* in restarts[] */
    unsigned restarts_total;
    int last_wstatus;             /* waitpid status of the last exit */
    bool stop_expected;           /* swap / stop --now: an exit is not a crash */
};

struct stage_rt {
    const struct config_stage *cs;
    char *exe;                    /* current executable (swap changes it) */
    struct worker w[CONFIG_MAX_WORKERS];
    uint64_t retired_in, retired_out, retired_bad, retired_dropped;   /* of removed workers */
    uint64_t prev_in, prev_out, prev_ms;
    double rate_in;
    bool is_source;
};

struct failure {
    bool failed;
    char stage[CONFIG_NAME_MAX];
    int worker;
    int wstatus;
    char text[4096];              /* the whole report */
};

struct pipeline {
    struct config *cfg;
    struct stage_rt st[CONFIG_MAX_STAGES];
    struct pq *q;
    int nq, capq;
    char sock_path[1024];
    int listen_fd, sig_fd;
    uint64_t t0_ms;
    enum { RUNNING, STOP_GRACEFUL, STOP_NOW } stopping;
    uint64_t stop_now_at_ms;
    struct failure fail;
    bool tty;
    int interval_ms;
    uint64_t next_status_ms;
    int drawn_lines;
    FILE *out;                    /* status output */
    bool ended;                   /* every worker has exited */
};

/* Load `cfg` into a running pipeline: check executables, create directories,
 * queues and control files, start every stage (downstream first), listen on
 * RUN_DIR/pipectl.sock.  0, or -1 with a message in err. */
int pipeline_start(struct pipeline *p, struct config *cfg, bool tty, int interval_ms,
                   char *err, size_t errlen);
/* Supervise until the pipeline ends; returns an enum pipectl_exit. */
int pipeline_run(struct pipeline *p);
void pipeline_free(struct pipeline *p);

/* Operations (the control socket calls these; they write their answer to out). */
int pipeline_scale(struct pipeline *p, const char *stage, int n, FILE *out);
int pipeline_swap(struct pipeline *p, const char *stage, const char *exe, FILE *out);
void pipeline_status(struct pipeline *p, FILE *out, bool verbose);
void pipeline_request_stop(struct pipeline *p, bool now);

/* "exit status 3", "killed by signal 9 (SIGKILL)" */
void describe_wstatus(int wstatus, char *buf, size_t len);
/* Is `exe` runnable (a path, or a name found in PATH)?  0, or -1 with why. */
int check_executable(const char *exe, char *why, size_t len);
/* Print the last `lines` lines of a file, each prefixed. */
void print_tail(FILE *out, const char *path, int lines, const char *prefix);

#endif /* PIPECTL_PIPELINE_H */
