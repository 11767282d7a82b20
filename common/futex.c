/* futex.c — shared futex wait/wake (see futex.h). */
#include "futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int futex_wait_shared(const uint32_t *word, uint32_t val, int timeout_ms)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT, val, tp, NULL, 0);
    if (r == 0) return 0;
    if (errno == EAGAIN) return 0;   /* the value had already changed */
    return -1;
}

int futex_wake_shared(const uint32_t *word, int n)
{
    return (int)syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}
