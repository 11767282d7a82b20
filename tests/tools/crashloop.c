/* crashloop — test stage that keeps crashing, for pipectl's crash-loop detection.
 *
 *   crashloop [--after N] [--signal SIG | --exit STATUS]
 *
 * Passes N records through (default 0), then logs a line saying it will
 * crash and dies by signal SIG (default 6, SIGABRT) or exits with STATUS.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "stage.h"

int main(int argc, char **argv)
{
    long after = 0, sig = SIGABRT, status = -1;
    static const struct option opts[] = {
        { "after", required_argument, NULL, 'a' }, { "signal", required_argument, NULL, 's' },
        { "exit", required_argument, NULL, 'e' }, { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "a:s:e:", opts, NULL)) != -1) {
        switch (c) {
        case 'a': after = strtol(optarg, NULL, 10); break;
        case 's': sig = strtol(optarg, NULL, 10); break;
        case 'e': status = strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: crashloop [--after N] [--signal SIG | --exit STATUS]\n");
            return 2;
        }
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0)
        return 2;
    struct stage_rec r;
    for (long i = 0; i < after && stage_next(&st, &r) > 0; i++) {
        if (st.nports > 0 && stage_emit(&st, 0, r.data, r.len) < 0)
            return 1;
        stage_done(&st, &r);
    }
    if (status >= 0) {
        log_error("crashloop: deliberate failure now (exit status %ld)", status);
        return (int)status;
    }
    log_error("crashloop: deliberate crash now (signal %ld)", sig);
    signal((int)sig, SIG_DFL);
    raise((int)sig);
    return 99;
}
