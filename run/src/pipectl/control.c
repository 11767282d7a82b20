/* control.c — the control socket RUN_DIR/pipectl.sock.
 *
 * Protocol (docs/pipectl.md): the client sends one line
 *     status | scale STAGE N | swap STAGE EXECUTABLE | stop | stop --now | ping
 * and reads the answer until the server closes: text lines, the last of which
 * is "ok" or "error: WHY".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "pipeline.h"

int pipectl_handle_client(struct pipeline *p, int fd);

static int read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        if (poll(&pf, 1, 2000) <= 0)
            return -1;
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = 0;
    return 0;
}

int pipectl_handle_client(struct pipeline *p, int fd)
{
    char line[1200];
    if (read_line(fd, line, sizeof line) < 0)
        return -1;
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    FILE *out = fdopen(fcntl(fd, F_DUPFD_CLOEXEC, 0), "w");   /* CLOEXEC: workers started meanwhile must not hold the client open */
    if (!out)
        return -1;
    char *save = NULL;
    char *cmd = strtok_r(line, " \t", &save);
    char *a1 = strtok_r(NULL, " \t", &save);
    char *a2 = strtok_r(NULL, " \t", &save);
    int rc = 0;
    if (!cmd) {
        fprintf(out, "error: empty command\n");
        rc = -1;
    } else if (!strcmp(cmd, "ping")) {
        fprintf(out, "pipeline %s pid %d\n", p->cfg->name, (int)getpid());
    } else if (!strcmp(cmd, "status")) {
        bool tty = p->tty;
        p->tty = false;
        pipeline_status(p, out, true);
        p->tty = tty;
    } else if (!strcmp(cmd, "scale")) {
        char *end = NULL;
        long n = a2 ? strtol(a2, &end, 10) : 0;
        if (!a1 || !a2 || *end) {
            fprintf(out, "error: usage: scale STAGE N\n");
            rc = -1;
        } else {
            rc = pipeline_scale(p, a1, (int)n, out);
        }
    } else if (!strcmp(cmd, "swap")) {
        if (!a1 || !a2) {
            fprintf(out, "error: usage: swap STAGE EXECUTABLE\n");
            rc = -1;
        } else {
            rc = pipeline_swap(p, a1, a2, out);
        }
    } else if (!strcmp(cmd, "stop")) {
        bool now = a1 && !strcmp(a1, "--now");
        pipeline_request_stop(p, now);
        fprintf(out, "stopping pipeline %s %s\n", p->cfg->name,
                now ? "now (stages stop at a record boundary, then are killed after 5 s)"
                    : "gracefully (sources drain; each stage ends when its input has)");
    } else {
        fprintf(out, "error: unknown command '%s'\n", cmd);
        rc = -1;
    }
    if (rc == 0)
        fprintf(out, "ok\n");
    fclose(out);
    return rc;
}

int control_request(const char *run_dir, const char *request, FILE *out, int *server_ok)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char path[sizeof sa.sun_path + 16];
    if (snprintf(path, sizeof path, "%s/pipectl.sock", run_dir) >= (int)sizeof sa.sun_path) {
        fprintf(stderr, "pipectl: %s/pipectl.sock: path too long\n", run_dir);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    size_t len = strlen(request);
    if (write(fd, request, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        close(fd);
        return -1;
    }
    /* stream the answer; remember the last line */
    char buf[4096], last[1024] = "";
    size_t ll = 0;
    ssize_t r;
    *server_ok = 0;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\n') {
                last[ll] = 0;
                if (strcmp(last, "ok") != 0 && strncmp(last, "error: ", 7) != 0)
                    fprintf(out, "%s\n", last);
                else if (!strcmp(last, "ok"))
                    *server_ok = 1;
                else
                    fprintf(stderr, "pipectl: %s\n", last + 7);
                ll = 0;
            } else if (ll + 1 < sizeof last) {
                last[ll++] = buf[i];
            }
        }
    }
    close(fd);
    fflush(out);
    return 0;
}
