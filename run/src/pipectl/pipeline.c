/* pipeline.c — queues, workers, supervision, scale and swap (see pipeline.h).
 *
 * pipectl is single-threaded: one loop (tick) waits on a signalfd (child
 * exits, SIGINT/SIGTERM) and the control socket, reaps and restarts workers,
 * retires drained queues and redraws the status.  A long operation (scale,
 * swap) keeps calling tick without taking new commands, so supervision never
 * pauses while it waits.
 */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shmq.h"

#define SCALE_TIMEOUT_MS 120000
#define SWAP_STOP_TIMEOUT_MS 30000
#define STOP_NOW_KILL_MS 5000

int pipectl_handle_client(struct pipeline *p, int fd);   /* control.c */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A message from pipectl itself; on a tty the status block is redrawn below it. */
__attribute__((format(printf, 3, 4)))
static void say(struct pipeline *p, enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(p->out);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
    p->drawn_lines = 0;
}

/* ---- small helpers ------------------------------------------------------------ */

static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    for (char *s = buf + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
                return -1;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    return 0;
}

void describe_wstatus(int wstatus, char *buf, size_t len)
{
    if (WIFEXITED(wstatus))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        snprintf(buf, len, "killed by signal %d (SIG%s)%s", WTERMSIG(wstatus),
                 sigabbrev_np(WTERMSIG(wstatus)) ? sigabbrev_np(WTERMSIG(wstatus)) : "?",
                 WCOREDUMP(wstatus) ? ", core dumped" : "");
    else
        snprintf(buf, len, "wait status 0x%x", (unsigned)wstatus);
}

int check_executable(const char *exe, char *why, size_t len)
{
    if (strchr(exe, '/')) {
        struct stat sb;
        if (stat(exe, &sb) < 0) {
            snprintf(why, len, "%s does not exist (%s)", exe, strerror(errno));
            return -1;
        }
        if (!S_ISREG(sb.st_mode) || access(exe, X_OK) < 0) {
            snprintf(why, len, "%s is not an executable file", exe);
            return -1;
        }
        return 0;
    }
    const char *path = getenv("PATH");
    if (path) {
        char *copy = strdup(path), *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            char full[PATH_MAX];
            snprintf(full, sizeof full, "%s/%s", dir, exe);
            if (access(full, X_OK) == 0) {
                free(copy);
                return 0;
            }
        }
        free(copy);
    }
    snprintf(why, len, "'%s' is not found in PATH", exe);
    return -1;
}

void print_tail(FILE *out, const char *path, int lines, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(out, "%s(cannot read %s: %s)\n", prefix, path, strerror(errno));
        return;
    }
    /* read the last 64 KiB at most */
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > 65536 ? size - 65536 : 0;
    fseek(f, from, SEEK_SET);
    char *buf = malloc(65537);
    size_t n = fread(buf, 1, 65536, f);
    fclose(f);
    buf[n] = 0;
    int count = 0;
    char *start = buf + n;
    while (start > buf) {
        if (start[-1] == '\n' && start != buf + n && ++count > lines)
            break;
        start--;
    }
    if (n == 0)
        fprintf(out, "%s(the log is empty)\n", prefix);
    for (char *line = start; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        fprintf(out, "%s%s\n", prefix, line);
        if (!nl)
            break;
        line = nl + 1;
    }
    free(buf);
}

/* ---- queues -------------------------------------------------------------------- */

static int add_queue(struct pipeline *p, int edge, int from_w, int to_w, char *err, size_t errlen)
{
    const struct config *cfg = p->cfg;
    const struct config_edge *e = &cfg->edges[edge];
    if (p->nq == p->capq) {
        int cap = p->capq ? p->capq * 2 : 32;
        struct pq *q = realloc(p->q, (size_t)cap * sizeof *q);
        if (!q) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->q = q;
        p->capq = cap;
    }
    struct pq *q = &p->q[p->nq];
    memset(q, 0, sizeof *q);
    q->edge = edge;
    q->from_w = from_w;
    q->to_w = to_w;
    q->state = Q_ACTIVE;
    int k = snprintf(q->path, sizeof q->path, "%s/tcgl-%s-%d-%s.%d.%s-%s.%d", cfg->shm_dir, cfg->name,
                     (int)getpid(), cfg->stages[e->from].name, from_w, cfg->stages[e->from].ports[e->from_port],
                     cfg->stages[e->to].name, to_w);
    if (k >= (int)sizeof q->path) {
        snprintf(err, errlen, "queue path %s... is too long (shm_dir too long?)", q->path);
        return -1;
    }
    shmq_unlink(q->path);   /* a leftover of a crashed run with our pid */
    if (shmq_create(q->path, e->queue_size, e->overflow == CONFIG_OVERFLOW_DROP ? SHMQ_DROP_WHEN_FULL : 0) < 0) {
        snprintf(err, errlen, "cannot create queue %s: %s", q->path, shmq_last_error());
        return -1;
    }
    q->obs = shmq_open(q->path, SHMQ_OBSERVER);
    if (!q->obs) {
        snprintf(err, errlen, "cannot observe queue %s: %s", q->path, shmq_last_error());
        shmq_unlink(q->path);
        return -1;
    }
    p->nq++;
    return 0;
}

static void remove_queue(struct pipeline *p, int i)
{
    if (p->q[i].obs)
        shmq_close(p->q[i].obs);
    shmq_unlink(p->q[i].path);
    memmove(&p->q[i], &p->q[i + 1], (size_t)(p->nq - i - 1) * sizeof p->q[0]);
    p->nq--;
}

/* ---- control files ---------------------------------------------------------------- */

static void fill_ctl_queue(struct stage_ctl_queue *cq, const char *path, const char *peer, int peer_w, uint32_t state)
{
    memset(cq, 0, sizeof *cq);
    snprintf(cq->path, sizeof cq->path, "%s", path);
    snprintf(cq->peer, sizeof cq->peer, "%s", peer);
    cq->peer_worker = (uint32_t)peer_w;
    cq->state = state;
}

/* Regenerate worker (s, j)'s tables from the queue list; bump seq only on change. */
static void sync_ctl(struct pipeline *p, int s, int j)
{
    struct worker *w = &p->st[s].w[j];
    if (!w->ctl)
        return;
    static struct stage_ctl want;   /* large: not on the stack */
    memset(&want, 0, sizeof want);
    const struct config *cfg = p->cfg;
    for (int i = 0; i < p->nq; i++) {
        const struct pq *q = &p->q[i];
        const struct config_edge *e = &cfg->edges[q->edge];
        if (e->to == s && q->to_w == j && want.ninputs < STAGE_MAX_INPUTS)
            fill_ctl_queue(&want.inputs[want.ninputs++], q->path, cfg->stages[e->from].name, q->from_w, STAGE_Q_ACTIVE);
    }
    want.nports = (uint32_t)cfg->stages[s].nports;
    for (int pt = 0; pt < cfg->stages[s].nports; pt++) {
        struct stage_ctl_port *cp = &want.ports[pt];
        snprintf(cp->name, sizeof cp->name, "%s", cfg->stages[s].ports[pt]);
        for (int i = 0; i < p->nq; i++) {
            const struct pq *q = &p->q[i];
            const struct config_edge *e = &cfg->edges[q->edge];
            if (e->from == s && e->from_port == pt && q->from_w == j && q->state != Q_RETIRING &&
                cp->ntargets < STAGE_MAX_TARGETS)
                fill_ctl_queue(&cp->targets[cp->ntargets++], q->path, cfg->stages[e->to].name, q->to_w,
                               q->state == Q_CLOSING ? STAGE_Q_CLOSING : STAGE_Q_ACTIVE);
        }
    }
    struct stage_ctl *c = w->ctl;
    if (c->ninputs == want.ninputs && c->nports == want.nports &&
        !memcmp(c->inputs, want.inputs, sizeof want.inputs) && !memcmp(c->ports, want.ports, sizeof want.ports))
        return;
    stage_ctl_write_begin(c);
    c->ninputs = want.ninputs;
    c->nports = want.nports;
    memcpy(c->inputs, want.inputs, sizeof want.inputs);
    memcpy(c->ports, want.ports, sizeof want.ports);
    stage_ctl_write_end(c);
}

static void sync_all(struct pipeline *p)
{
    /* downstream first: consumers learn about a queue before producers fill it */
    for (int s = p->cfg->nstages - 1; s >= 0; s--)
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++)
            if (p->st[s].w[j].state != W_FREE)
                sync_ctl(p, s, j);
}

static int make_ctl(struct pipeline *p, int s, int j, char *err, size_t errlen)
{
    struct worker *w = &p->st[s].w[j];
    snprintf(w->ctl_path, sizeof w->ctl_path, "%s/ctl/%s.%d.ctl", p->cfg->run_dir, p->cfg->stages[s].name, j);
    snprintf(w->log_path, sizeof w->log_path, "%s/%s.%d.log", p->cfg->log_dir, p->cfg->stages[s].name, j);
    w->ctl = stage_ctl_create(w->ctl_path, err, errlen);
    return w->ctl ? 0 : -1;
}

/* ---- workers ------------------------------------------------------------------------ */

static bool stage_is_source(const struct config *cfg, int s)
{
    for (int e = 0; e < cfg->nedges; e++)
        if (cfg->edges[e].to == s)
            return false;
    return true;
}

static void upper(char *s)
{
    for (; *s; s++)
        *s = (*s >= 'a' && *s <= 'z') ? (char)(*s - 32) : (*s == '-' ? '_' : *s);
}

static int spawn(struct pipeline *p, int s, int j)
{
    struct stage_rt *sr = &p->st[s];
    struct worker *w = &sr->w[j];
    const struct config *cfg = p->cfg;
    bool drain = sr->is_source && (w->state == W_DRAINING || p->stopping == STOP_GRACEFUL);
    atomic_store(&w->ctl->request, drain ? STAGE_REQ_DRAIN : STAGE_REQ_RUN);
    atomic_store(&w->ctl->status, STAGE_ST_STARTING);
    atomic_store(&w->ctl->pid, 0);
    w->stop_expected = false;
    w->restart_at_ms = 0;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        say(p, LOG_ERROR, "stage %s[%d]: fork failed: %s", cfg->stages[s].name, j, strerror(errno));
        w->restart_at_ms = now_ms() + 1000;
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        setpgid(0, 0);   /* a Ctrl-C on pipectl's terminal is pipectl's to handle */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        int fd = open(w->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        char buf[32];
        setenv("TCGL_PIPELINE", cfg->name, 1);
        setenv("TCGL_STAGE", cfg->stages[s].name, 1);
        snprintf(buf, sizeof buf, "%d", j);
        setenv("TCGL_WORKER", buf, 1);
        setenv("TCGL_CONFIG", cfg->path, 1);
        setenv("TCGL_CTL", w->ctl_path, 1);
        setenv("TCGL_RUN_DIR", cfg->run_dir, 1);
        setenv("TCGL_LIBRARY_DIR", cfg->library_dir, 1);
        setenv("TCGL_REPORT_DIR", cfg->report_dir, 1);
        setenv("TCGL_LOG_DIR", cfg->log_dir, 1);
        /* the queue snapshot, for stages that do not follow the control file */
        size_t cap = (size_t)(STAGE_MAX_INPUTS + 1) * (STAGE_PATH_MAX + 1);
        char *list = calloc(1, cap);
        if (list) {
            size_t n = 0;
            for (uint32_t i = 0; i < w->ctl->ninputs && i < STAGE_MAX_INPUTS; i++)
                n += (size_t)snprintf(list + n, cap - n, "%s%s", n ? "," : "", w->ctl->inputs[i].path);
            setenv("TCGL_INPUTS", list, 1);
            for (uint32_t pt = 0; pt < w->ctl->nports && pt < CONFIG_MAX_PORTS; pt++) {
                n = 0;
                list[0] = 0;
                for (uint32_t i = 0; i < w->ctl->ports[pt].ntargets && i < STAGE_MAX_TARGETS; i++)
                    if (w->ctl->ports[pt].targets[i].state == STAGE_Q_ACTIVE)
                        n += (size_t)snprintf(list + n, cap - n, "%s%s", n ? "," : "",
                                              w->ctl->ports[pt].targets[i].path);
                char var[64];
                snprintf(var, sizeof var, "TCGL_OUTPUT_%s", w->ctl->ports[pt].name);
                upper(var + 12);
                setenv(var, list, 1);
            }
        }
        char *argv[CONFIG_MAX_ARGS + 2];
        int a = 0;
        argv[a++] = sr->exe;
        for (int i = 0; i < cfg->stages[s].nargs; i++)
            argv[a++] = cfg->stages[s].args[i];
        argv[a] = NULL;
        dprintf(2, "--- pipectl: starting %s[%d] (pid %d): %s\n", cfg->stages[s].name, j, (int)getpid(), sr->exe);
        if (strchr(sr->exe, '/'))
            execv(sr->exe, argv);
        else
            execvp(sr->exe, argv);
        dprintf(2, "--- pipectl: cannot execute %s: %s\n", sr->exe, strerror(errno));
        _exit(127);
    }
    w->pid = pid;
    w->started_ms = now_ms();
    return 0;
}

static int active_workers(const struct stage_rt *sr)
{
    int n = 0;
    for (int j = 0; j < CONFIG_MAX_WORKERS; j++)
        if (sr->w[j].state == W_ACTIVE)
            n++;
    return n;
}

/* Worker (s, j) finished draining: its inputs are consumed (remove them), its
 * outputs are ended (retire them once their consumers drained them). */
static void finish_removal(struct pipeline *p, int s, int j)
{
    struct stage_rt *sr = &p->st[s];
    struct worker *w = &sr->w[j];
    const struct config *cfg = p->cfg;
    for (int i = p->nq - 1; i >= 0; i--) {
        const struct config_edge *e = &cfg->edges[p->q[i].edge];
        if (e->to == s && p->q[i].to_w == j)
            remove_queue(p, i);
        else if (e->from == s && p->q[i].from_w == j)
            p->q[i].state = Q_RETIRING;
    }
    sr->retired_in += atomic_load(&w->ctl->records_in);
    sr->retired_out += atomic_load(&w->ctl->records_out);
    sr->retired_bad += atomic_load(&w->ctl->records_bad);
    sr->retired_dropped += atomic_load(&w->ctl->records_dropped);
    stage_ctl_unmap(w->ctl);
    unlink(w->ctl_path);
    unsigned restarts = w->restarts_total;
    memset(w, 0, sizeof *w);
    w->restarts_total = restarts;   /* the stage's restart count survives scaling down */
    w->state = W_FREE;
    sync_all(p);
    say(p, LOG_INFO, "stage %s: worker %d drained and removed (%d workers now)", cfg->stages[s].name, j,
        active_workers(sr));
}

static void crash_loop(struct pipeline *p, int s, int j, int wstatus)
{
    struct worker *w = &p->st[s].w[j];
    const struct config_stage *cs = &p->cfg->stages[s];
    char how[128];
    describe_wstatus(wstatus, how, sizeof how);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "stage '%s' (worker %d) is crash-looping: it died %d times within %.1f s "
               "(restart.max_restarts is %u)\n", cs->name, j, w->nrestarts + 1, cs->restart.window_ms / 1000.0,
            cs->restart.max_restarts);
    fprintf(f, "  last exit: %s\n", how);
    fprintf(f, "  executable: %s\n", p->st[s].exe);
    fprintf(f, "  log: %s; its last lines:\n", w->log_path);
    print_tail(f, w->log_path, 15, "    | ");
    fclose(f);
    p->fail.failed = true;
    snprintf(p->fail.stage, sizeof p->fail.stage, "%s", cs->name);
    p->fail.worker = j;
    p->fail.wstatus = wstatus;
    snprintf(p->fail.text, sizeof p->fail.text, "%s", buf ? buf : "");
    free(buf);
    say(p, LOG_ERROR, "%s", p->fail.text);
    say(p, LOG_ERROR, "stopping the pipeline because stage '%s' keeps failing", cs->name);
    pipeline_request_stop(p, true);
}

static void handle_exit(struct pipeline *p, pid_t pid, int wstatus)
{
    for (int s = 0; s < p->cfg->nstages; s++) {
        struct stage_rt *sr = &p->st[s];
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++) {
            struct worker *w = &sr->w[j];
            if (w->state == W_FREE || w->pid != pid)
                continue;
            const struct config_stage *cs = &p->cfg->stages[s];
            w->pid = 0;
            w->last_wstatus = wstatus;
            uint32_t status = atomic_load(&w->ctl->status);
            bool clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
            if (clean && status != STAGE_ST_STOPPED && !w->stop_expected) {
                if (w->state == W_DRAINING) {
                    finish_removal(p, s, j);
                } else {
                    w->state = W_FINISHED;
                    say(p, LOG_INFO, "stage %s[%d] finished (%llu in, %llu out)", cs->name, j,
                        (unsigned long long)atomic_load(&w->ctl->records_in),
                        (unsigned long long)atomic_load(&w->ctl->records_out));
                }
                return;
            }
            if (w->stop_expected)
                return;   /* swap: the operation restarts it */
            if (p->stopping == STOP_NOW) {
                w->state = W_FINISHED;
                return;
            }
            /* a crash (or an unrequested stop): restart with backoff, unless it loops */
            char how[128];
            describe_wstatus(wstatus, how, sizeof how);
            uint64_t now = now_ms();
            int keep = 0;
            for (int k = 0; k < w->nrestarts; k++)
                if (now - w->restarts[k] <= cs->restart.window_ms)
                    w->restarts[keep++] = w->restarts[k];
            w->nrestarts = keep;
            if ((unsigned)w->nrestarts >= cs->restart.max_restarts) {
                crash_loop(p, s, j, wstatus);
                w->state = W_FINISHED;
                return;
            }
            uint64_t backoff = cs->restart.backoff_ms;
            for (int k = 0; k < w->nrestarts && backoff < cs->restart.backoff_max_ms; k++)
                backoff *= 2;
            if (backoff > cs->restart.backoff_max_ms)
                backoff = cs->restart.backoff_max_ms;
            if (w->nrestarts < RESTART_HISTORY)
                w->restarts[w->nrestarts++] = now;
            w->restart_at_ms = now + backoff + 1;
            say(p, LOG_WARN, "stage %s[%d] (pid %d) died: %s; restart %d of %u in this window, in %llu ms (log: %s)",
                cs->name, j, (int)pid, how, w->nrestarts, cs->restart.max_restarts,
                (unsigned long long)backoff, w->log_path);
            return;
        }
    }
}

/* ---- the loop ------------------------------------------------------------------------- */

static void reap(struct pipeline *p)
{
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
        handle_exit(p, pid, wstatus);
}

static void retire_drained_queues(struct pipeline *p)
{
    bool changed = false;
    for (int i = p->nq - 1; i >= 0; i--) {
        if (p->q[i].state != Q_RETIRING)
            continue;
        struct shmq_info info;
        shmq_info(p->q[i].obs, &info);
        if (info.eos && info.head == info.tail) {
            remove_queue(p, i);
            changed = true;
        }
    }
    if (changed)
        sync_all(p);
}

/* Input rate of each stage (output rate for a source), smoothed; once a second. */
static void update_rates(struct pipeline *p, uint64_t now)
{
    for (int s = 0; s < p->cfg->nstages; s++) {
        struct stage_rt *sr = &p->st[s];
        if (now < sr->prev_ms + 1000)
            continue;
        uint64_t in = sr->retired_in, outn = sr->retired_out;
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++)
            if (sr->w[j].state != W_FREE) {
                in += atomic_load(&sr->w[j].ctl->records_in);
                outn += atomic_load(&sr->w[j].ctl->records_out);
            }
        uint64_t cur = sr->is_source ? outn : in, prev = sr->is_source ? sr->prev_out : sr->prev_in;
        double inst = (double)(cur - prev) * 1000.0 / (double)(now - sr->prev_ms);
        sr->rate_in = sr->rate_in == 0 ? inst : 0.5 * sr->rate_in + 0.5 * inst;
        sr->prev_in = in;
        sr->prev_out = outn;
        sr->prev_ms = now;
    }
}

static void tick(struct pipeline *p, int timeout_ms, bool accept_commands)
{
    uint64_t now = now_ms();
    update_rates(p, now);
    /* restarts due */
    for (int s = 0; s < p->cfg->nstages; s++)
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++) {
            struct worker *w = &p->st[s].w[j];
            if (w->state != W_FREE && w->state != W_FINISHED && w->pid == 0 && w->restart_at_ms &&
                now >= w->restart_at_ms && p->stopping != STOP_NOW) {
                w->restarts_total++;
                spawn(p, s, j);
            }
            if (w->restart_at_ms && w->restart_at_ms > now && (int)(w->restart_at_ms - now) < timeout_ms)
                timeout_ms = (int)(w->restart_at_ms - now);
        }
    if (p->stopping == STOP_NOW && p->stop_now_at_ms && now >= p->stop_now_at_ms) {
        for (int s = 0; s < p->cfg->nstages; s++)
            for (int j = 0; j < CONFIG_MAX_WORKERS; j++)
                if (p->st[s].w[j].pid > 0)
                    kill(p->st[s].w[j].pid, SIGKILL);
        p->stop_now_at_ms = 0;
    }
    if (p->next_status_ms && now >= p->next_status_ms) {
        pipeline_status(p, p->out, false);
        p->next_status_ms = now + (uint64_t)p->interval_ms;
    }
    struct pollfd pf[2] = { { .fd = p->sig_fd, .events = POLLIN }, { .fd = p->listen_fd, .events = POLLIN } };
    int n = poll(pf, accept_commands && p->listen_fd >= 0 ? 2 : 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (n > 0 && (pf[0].revents & POLLIN)) {
        struct signalfd_siginfo si;
        while (read(p->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP) {
                bool now_stop = p->stopping != RUNNING;
                say(p, LOG_WARN, "signal %s: %s", sigabbrev_np((int)si.ssi_signo) ? sigabbrev_np((int)si.ssi_signo) : "?",
                    now_stop ? "stopping now" : "stopping gracefully (sources drain; a second signal stops now)");
                pipeline_request_stop(p, now_stop);
            }
        }
    }
    reap(p);
    retire_drained_queues(p);
    if (n > 0 && accept_commands && p->listen_fd >= 0 && (pf[1].revents & POLLIN)) {
        int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            pipectl_handle_client(p, fd);
            close(fd);
        }
    }
}

typedef bool (*cond_fn)(struct pipeline *p, void *arg);

/* Keep supervising until cond holds; false on timeout. */
static bool wait_until(struct pipeline *p, cond_fn cond, void *arg, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (!cond(p, arg)) {
        if (now_ms() >= end)
            return false;
        tick(p, 20, false);
    }
    return true;
}

/* ---- start ------------------------------------------------------------------------------ */

static int setup_signals(struct pipeline *p, char *err, size_t errlen)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    p->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (p->sig_fd < 0) {
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int listen_control(struct pipeline *p, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (snprintf(p->sock_path, sizeof p->sock_path, "%s/pipectl.sock", p->cfg->run_dir) >= (int)sizeof sa.sun_path) {
        snprintf(err, errlen, "control socket path %s is too long (max %zu bytes); choose a shorter output.run",
                 p->sock_path, sizeof sa.sun_path - 1);
        return -1;
    }
    memcpy(sa.sun_path, p->sock_path, strlen(p->sock_path) + 1);   /* length checked above */
    /* another pipectl on this run directory? */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(probe);
        snprintf(err, errlen, "a pipeline is already running on %s (pipectl --run-dir %s status)", p->cfg->run_dir,
                 p->cfg->run_dir);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(p->sock_path);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(p->listen_fd, 16) < 0) {
        snprintf(err, errlen, "control socket %s: %s", p->sock_path, strerror(errno));
        return -1;
    }
    chmod(p->sock_path, 0600);
    return 0;
}

int pipeline_start(struct pipeline *p, struct config *cfg, bool tty, int interval_ms, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->listen_fd = -1;
    p->sig_fd = -1;
    p->tty = tty;
    p->interval_ms = interval_ms;
    p->out = stdout;
    p->t0_ms = now_ms();
    log_set_ident("pipectl", -1);

    /* every executable first: a clear error before anything is created */
    for (int s = 0; s < cfg->nstages; s++) {
        char why[600];
        if (check_executable(cfg->stages[s].executable, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%d: stage '%s': executable %s%s", cfg->path, cfg->stages[s].line,
                     cfg->stages[s].name, why,
                     strstr(cfg->stages[s].executable, "/bin/") ? " (is it built? run 'make')" : "");
            return -1;
        }
    }
    const char *dirs[] = { cfg->run_dir, cfg->log_dir, cfg->report_dir, cfg->library_dir };
    for (size_t i = 0; i < 4; i++)
        if (mkdir_p(dirs[i], err, errlen) < 0)
            return -1;
    char ctl_dir[PATH_MAX];
    snprintf(ctl_dir, sizeof ctl_dir, "%s/ctl", cfg->run_dir);
    if (mkdir_p(ctl_dir, err, errlen) < 0)
        return -1;
    if (mkdir_p(cfg->shm_dir, err, errlen) < 0)
        return -1;
    /* RUN_DIR/logs and RUN_DIR/config point at the logs and the file, for `pipectl logs` */
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/logs", cfg->run_dir);
    struct stat sb;
    if (lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode))
        unlink(link);
    if (strcmp(link, cfg->log_dir) != 0 && symlink(cfg->log_dir, link) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot link %s -> %s: %s", link, cfg->log_dir, strerror(errno));
        return -1;
    }
    if (listen_control(p, err, errlen) < 0)
        return -1;
    if (setup_signals(p, err, errlen) < 0)
        return -1;

    for (int s = 0; s < cfg->nstages; s++) {
        p->st[s].cs = &cfg->stages[s];
        p->st[s].exe = strdup(cfg->stages[s].executable);
        p->st[s].is_source = stage_is_source(cfg, s);
        p->st[s].prev_ms = p->t0_ms;
        for (uint32_t j = 0; j < cfg->stages[s].workers; j++)
            p->st[s].w[j].state = W_ACTIVE;
    }
    for (int e = 0; e < cfg->nedges; e++) {
        const struct config_edge *ed = &cfg->edges[e];
        for (uint32_t i = 0; i < cfg->stages[ed->from].workers; i++)
            for (uint32_t j = 0; j < cfg->stages[ed->to].workers; j++)
                if (add_queue(p, e, (int)i, (int)j, err, errlen) < 0)
                    return -1;
    }
    for (int s = 0; s < cfg->nstages; s++)
        for (uint32_t j = 0; j < cfg->stages[s].workers; j++)
            if (make_ctl(p, s, (int)j, err, errlen) < 0)
                return -1;
    sync_all(p);
    /* downstream first: every consumer is up before its producers start */
    for (int s = cfg->nstages - 1; s >= 0; s--)
        for (uint32_t j = 0; j < cfg->stages[s].workers; j++)
            spawn(p, s, (int)j);
    p->next_status_ms = now_ms() + (uint64_t)(tty ? 500 : interval_ms);
    if (tty)
        p->interval_ms = 500;
    say(p, LOG_INFO, "pipeline '%s' started: %d stages, %d queues; control socket %s", cfg->name, cfg->nstages,
        p->nq, p->sock_path);
    return 0;
}

static bool all_done(struct pipeline *p)
{
    for (int s = 0; s < p->cfg->nstages; s++)
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++) {
            const struct worker *w = &p->st[s].w[j];
            if (w->pid > 0)
                return false;
            if (w->state == W_ACTIVE || w->state == W_DRAINING) {
                if (p->stopping != STOP_NOW)
                    return false;
            }
        }
    return true;
}

static void summary(struct pipeline *p, int rc)
{
    FILE *out = p->out;
    const struct config *cfg = p->cfg;
    double secs = (double)(now_ms() - p->t0_ms) / 1000.0;
    if (p->tty && p->drawn_lines)
        p->drawn_lines = 0;
    pipeline_status(p, out, false);
    fprintf(out, "pipeline '%s' %s after %.1f s\n", cfg->name,
            rc == PIPECTL_EXIT_OK ? "finished" : rc == PIPECTL_EXIT_STOPPED ? "was stopped" : "FAILED", secs);
    fprintf(out, "  report:  %s\n  library: %s\n  logs:    %s\n", cfg->report_dir, cfg->library_dir, cfg->log_dir);
    if (p->fail.failed)
        fprintf(out, "%s", p->fail.text);
    fflush(out);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/summary.txt", cfg->run_dir);
    FILE *f = fopen(path, "w");
    if (f) {
        p->drawn_lines = 0;
        bool tty = p->tty;
        p->tty = false;
        pipeline_status(p, f, true);
        p->tty = tty;
        fprintf(f, "exit %d (%s) after %.1f s\n", rc,
                rc == PIPECTL_EXIT_OK ? "finished" : rc == PIPECTL_EXIT_STOPPED ? "stopped" : "failed", secs);
        if (p->fail.failed)
            fprintf(f, "%s", p->fail.text);
        fclose(f);
    }
}

int pipeline_run(struct pipeline *p)
{
    while (!all_done(p))
        tick(p, 100, true);
    p->ended = true;
    int rc = p->fail.failed ? PIPECTL_EXIT_FAILED : p->stopping == STOP_NOW ? PIPECTL_EXIT_STOPPED : PIPECTL_EXIT_OK;
    summary(p, rc);
    return rc;
}

void pipeline_free(struct pipeline *p)
{
    if (p->listen_fd >= 0) {
        close(p->listen_fd);
        unlink(p->sock_path);
    }
    if (p->sig_fd >= 0)
        close(p->sig_fd);
    while (p->nq > 0)
        remove_queue(p, p->nq - 1);
    free(p->q);
    for (int s = 0; s < CONFIG_MAX_STAGES; s++) {
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++)
            if (p->st[s].w[j].ctl) {
                stage_ctl_unmap(p->st[s].w[j].ctl);
                unlink(p->st[s].w[j].ctl_path);
            }
        free(p->st[s].exe);
    }
}

/* ---- operations ------------------------------------------------------------------------------ */

void pipeline_request_stop(struct pipeline *p, bool now)
{
    if (!now) {
        if (p->stopping != RUNNING)
            return;
        p->stopping = STOP_GRACEFUL;
        for (int s = 0; s < p->cfg->nstages; s++)
            if (p->st[s].is_source)
                for (int j = 0; j < CONFIG_MAX_WORKERS; j++)
                    if (p->st[s].w[j].ctl)
                        atomic_store(&p->st[s].w[j].ctl->request, STAGE_REQ_DRAIN);
        return;
    }
    if (p->stopping == STOP_NOW)
        return;
    p->stopping = STOP_NOW;
    p->stop_now_at_ms = now_ms() + STOP_NOW_KILL_MS;
    for (int s = 0; s < p->cfg->nstages; s++)
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++) {
            struct worker *w = &p->st[s].w[j];
            w->restart_at_ms = 0;
            if (w->ctl)
                atomic_store(&w->ctl->request, STAGE_REQ_STOP);
            if (w->pid > 0)
                kill(w->pid, SIGTERM);
        }
}

struct drain_arg { int s; bool which[CONFIG_MAX_WORKERS]; };

static bool drained(struct pipeline *p, void *arg)
{
    struct drain_arg *d = arg;
    for (int j = 0; j < CONFIG_MAX_WORKERS; j++)
        if (d->which[j] && p->st[d->s].w[j].state == W_DRAINING)
            return false;
    return true;
}

static int add_worker(struct pipeline *p, int s, char *err, size_t errlen)
{
    const struct config *cfg = p->cfg;
    struct stage_rt *sr = &p->st[s];
    int j = -1;
    for (int k = 0; k < CONFIG_MAX_WORKERS && j < 0; k++)
        if (sr->w[k].state == W_FREE)
            j = k;
    if (j < 0) {
        snprintf(err, errlen, "stage %s: no free worker slot (max %d)", cfg->stages[s].name, CONFIG_MAX_WORKERS);
        return -1;
    }
    unsigned restarts = sr->w[j].restarts_total;
    memset(&sr->w[j], 0, sizeof sr->w[j]);
    sr->w[j].restarts_total = restarts;
    for (int e = 0; e < cfg->nedges; e++) {
        const struct config_edge *ed = &cfg->edges[e];
        if (ed->to == s) {
            for (int i = 0; i < CONFIG_MAX_WORKERS; i++)
                if (p->st[ed->from].w[i].state == W_ACTIVE && add_queue(p, e, i, j, err, errlen) < 0)
                    return -1;
        }
        if (ed->from == s) {
            for (int k = 0; k < CONFIG_MAX_WORKERS; k++)
                if (p->st[ed->to].w[k].state == W_ACTIVE && add_queue(p, e, j, k, err, errlen) < 0)
                    return -1;
        }
    }
    if (make_ctl(p, s, j, err, errlen) < 0)
        return -1;
    sr->w[j].state = W_ACTIVE;
    sync_all(p);
    return spawn(p, s, j);
}

static void begin_drain(struct pipeline *p, int s, int j)
{
    const struct config *cfg = p->cfg;
    struct worker *w = &p->st[s].w[j];
    w->state = W_DRAINING;
    for (int i = 0; i < p->nq; i++)
        if (cfg->edges[p->q[i].edge].to == s && p->q[i].to_w == j)
            p->q[i].state = Q_CLOSING;
    sync_all(p);
    if (p->st[s].is_source)
        atomic_store(&w->ctl->request, STAGE_REQ_DRAIN);
}

int pipeline_scale(struct pipeline *p, const char *stage, int n, FILE *out)
{
    int s = config_stage_index(p->cfg, stage);
    if (s < 0) {
        fprintf(out, "error: no stage named '%s'\n", stage);
        return -1;
    }
    if (n < 1 || n > CONFIG_MAX_WORKERS) {
        fprintf(out, "error: %d workers: expected 1 to %d\n", n, CONFIG_MAX_WORKERS);
        return -1;
    }
    if (p->stopping != RUNNING) {
        fprintf(out, "error: the pipeline is stopping\n");
        return -1;
    }
    struct stage_rt *sr = &p->st[s];
    int have = active_workers(sr);
    if (have == 0) {
        fprintf(out, "error: stage %s has finished (its input ended); nothing to scale\n", stage);
        return -1;
    }
    char err[512];
    for (int k = have; k < n; k++)
        if (add_worker(p, s, err, sizeof err) < 0) {
            fprintf(out, "error: stage %s: %s\n", stage, err);
            return -1;
        }
    struct drain_arg d = { .s = s };
    int remove = have - n;
    for (int j = CONFIG_MAX_WORKERS - 1; j >= 0 && remove > 0; j--)
        if (sr->w[j].state == W_ACTIVE) {
            d.which[j] = true;
            begin_drain(p, s, j);
            remove--;
        }
    if (have > n) {
        say(p, LOG_INFO, "stage %s: draining %d worker(s)", stage, have - n);
        if (!wait_until(p, drained, &d, SCALE_TIMEOUT_MS)) {
            fprintf(out, "error: stage %s: workers still draining after %d s (they finish in the background)\n",
                    stage, SCALE_TIMEOUT_MS / 1000);
            return -1;
        }
    }
    say(p, LOG_INFO, "stage %s: %d worker(s) (was %d)", stage, active_workers(sr), have);
    fprintf(out, "stage %s: %d workers (was %d)\n", stage, active_workers(sr), have);
    return 0;
}

struct stopped_arg { int s, j; };

static bool worker_stopped(struct pipeline *p, void *arg)
{
    struct stopped_arg *a = arg;
    return p->st[a->s].w[a->j].pid == 0;
}

int pipeline_swap(struct pipeline *p, const char *stage, const char *exe, FILE *out)
{
    int s = config_stage_index(p->cfg, stage);
    if (s < 0) {
        fprintf(out, "error: no stage named '%s'\n", stage);
        return -1;
    }
    if (p->stopping != RUNNING) {
        fprintf(out, "error: the pipeline is stopping\n");
        return -1;
    }
    char why[600];
    if (check_executable(exe, why, sizeof why) < 0) {
        fprintf(out, "error: cannot swap stage %s: %s\n", stage, why);
        return -1;
    }
    struct stage_rt *sr = &p->st[s];
    char *abs = strchr(exe, '/') ? realpath(exe, NULL) : strdup(exe);
    if (!abs) {
        fprintf(out, "error: %s: %s\n", exe, strerror(errno));
        return -1;
    }
    free(sr->exe);
    sr->exe = abs;
    int swapped = 0;
    for (int j = 0; j < CONFIG_MAX_WORKERS; j++) {
        struct worker *w = &sr->w[j];
        if (w->state != W_ACTIVE && w->state != W_DRAINING)
            continue;
        if (w->pid > 0) {
            w->stop_expected = true;
            atomic_store(&w->ctl->request, STAGE_REQ_STOP);
            struct stopped_arg a = { s, j };
            if (!wait_until(p, worker_stopped, &a, SWAP_STOP_TIMEOUT_MS)) {
                say(p, LOG_WARN, "stage %s[%d] did not stop within %d s; killing it (its current record will be repeated)",
                    stage, j, SWAP_STOP_TIMEOUT_MS / 1000);
                kill(w->pid, SIGKILL);
                wait_until(p, worker_stopped, &a, 5000);
            }
            if (w->state == W_FREE || w->state == W_FINISHED)
                continue;   /* it finished (or drained away) on its own meanwhile */
        }
        if (p->stopping == STOP_NOW)
            break;
        spawn(p, s, j);
        swapped++;
    }
    say(p, LOG_INFO, "stage %s: now runs %s (%d worker(s) restarted at a record boundary)", stage, sr->exe, swapped);
    fprintf(out, "stage %s: swapped to %s (%d workers restarted at a record boundary)\n", stage, sr->exe, swapped);
    return 0;
}

/* ---- status ---------------------------------------------------------------------------------------- */

static void human(double v, char *buf, size_t len)
{
    if (v >= 1e9) snprintf(buf, len, "%.1fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, len, "%.1fM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, len, "%.1fk", v / 1e3);
    else snprintf(buf, len, "%.0f", v);
}

static const char *worker_state_name(const struct pipeline *p, const struct worker *w)
{
    if (w->state == W_FINISHED)
        return "finished";
    if (w->state == W_DRAINING)
        return w->pid ? "draining" : "restarting";
    if (w->pid == 0)
        return w->restart_at_ms ? "restarting" : "stopped";
    return p->stopping == STOP_NOW ? "stopping" : "running";
}

void pipeline_status(struct pipeline *p, FILE *out, bool verbose)
{
    const struct config *cfg = p->cfg;
    uint64_t now = now_ms();
    int order[CONFIG_MAX_STAGES];
    /* the config's stage order is not necessarily a pipeline order; this is
     * (a loaded config has no cycle, so every stage is ordered) */
    config_topo_order(cfg, order, NULL);
    if (p->tty && out == p->out && p->drawn_lines > 0)
        fprintf(out, "\033[%dA", p->drawn_lines);
    int lines = 0;
    const char *eol = p->tty && out == p->out ? "\033[K\n" : "\n";
    fprintf(out, "%-10s %7s %12s %12s %9s %6s %8s  %s%s", "stage", "workers", "in", "out", "in/s", "queue",
            "restarts", "state", eol);
    lines++;
    for (int k = 0; k < cfg->nstages; k++) {
        int s = order[k];
        struct stage_rt *sr = &p->st[s];
        uint64_t in = sr->retired_in, outn = sr->retired_out, bad = sr->retired_bad, drop = sr->retired_dropped;
        unsigned restarts = 0;
        int workers = 0, running = 0, draining = 0, restarting = 0, finished = 0;
        for (int j = 0; j < CONFIG_MAX_WORKERS; j++) {
            const struct worker *w = &sr->w[j];
            restarts += w->restarts_total;
            if (w->state == W_FREE)
                continue;
            in += atomic_load(&w->ctl->records_in);
            outn += atomic_load(&w->ctl->records_out);
            bad += atomic_load(&w->ctl->records_bad);
            drop += atomic_load(&w->ctl->records_dropped);
            if (w->state == W_ACTIVE)
                workers++;
            const char *st = worker_state_name(p, w);
            if (!strcmp(st, "running")) running++;
            else if (!strcmp(st, "draining")) draining++;
            else if (!strcmp(st, "restarting")) restarting++;
            else if (!strcmp(st, "finished")) finished++;
        }
        /* fill: the fullest input queue of the stage */
        uint64_t fill_pct = 0;
        for (int i = 0; i < p->nq; i++)
            if (cfg->edges[p->q[i].edge].to == s) {
                struct shmq_info info;
                shmq_info(p->q[i].obs, &info);
                uint64_t pct = info.capacity ? (info.tail - info.head) * 100 / info.capacity : 0;
                if (pct > fill_pct)
                    fill_pct = pct;
            }
        char a[16], b[16], c[16], state[64];
        human((double)in, a, sizeof a);
        human((double)outn, b, sizeof b);
        human(sr->rate_in, c, sizeof c);
        if (running)
            snprintf(state, sizeof state, "running%s%s", draining ? ", draining" : "", restarting ? ", restarting" : "");
        else if (draining)
            snprintf(state, sizeof state, "draining");
        else if (restarting)
            snprintf(state, sizeof state, "restarting");
        else if (finished)
            snprintf(state, sizeof state, "finished");
        else
            snprintf(state, sizeof state, "stopped");
        char extra[64] = "";
        if (bad || drop)
            snprintf(extra, sizeof extra, " (bad %llu, dropped %llu)", (unsigned long long)bad, (unsigned long long)drop);
        fprintf(out, "%-10s %7d %12s %12s %9s %5llu%% %8u  %s%s%s", cfg->stages[s].name, workers, a, b, c,
                (unsigned long long)fill_pct, restarts, state, extra, eol);
        lines++;
        if (verbose)
            for (int j = 0; j < CONFIG_MAX_WORKERS; j++) {
                const struct worker *w = &sr->w[j];
                if (w->state == W_FREE)
                    continue;
                fprintf(out, "  worker %s %d pid %d state %s in %llu out %llu restarts %u log %s%s", cfg->stages[s].name,
                        j, (int)w->pid, worker_state_name(p, w),
                        (unsigned long long)atomic_load(&w->ctl->records_in),
                        (unsigned long long)atomic_load(&w->ctl->records_out), w->restarts_total, w->log_path, eol);
                lines++;
            }
    }
    if (verbose) {
        fprintf(out, "queues %d, uptime %.1f s, state %s%s", p->nq, (double)(now - p->t0_ms) / 1000.0,
                p->ended ? "ended" : p->stopping == RUNNING ? "running"
                : p->stopping == STOP_GRACEFUL ? "stopping (draining)" : "stopping now",
                eol);
        lines++;
    }
    if (!p->tty || out != p->out)
        fprintf(out, "%s", "");
    fflush(out);
    if (out == p->out)
        p->drawn_lines = p->tty ? lines : 0;
}
