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
    return futex_wait_shared_us(word, val, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000);
}

int futex_wait_shared_us(const uint32_t *word, uint32_t val, int64_t timeout_us)
{
    struct timespec ts, *tp = NULL;
    if (timeout_us >= 0) {
        ts.tv_sec = (time_t)(timeout_us / 1000000);
        ts.tv_nsec = (long)(timeout_us % 1000000) * 1000L;
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
