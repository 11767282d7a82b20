/* futex.h — the two futex calls the queue's doorbells need.
 *
 * The words live in MAP_SHARED memory used by several processes, so these
 * are the shared (non-private) futex operations. */
#ifndef TCGL_FUTEX_H
#define TCGL_FUTEX_H

#include <stdint.h>

/* Sleep while *word == val, at most timeout_ms (< 0: no limit).  Returns 0
 * when woken (or the value already differed), -1 with errno ETIMEDOUT on
 * timeout, EINTR on a signal. */
int futex_wait_shared(const uint32_t *word, uint32_t val, int timeout_ms);
/* The same with a timeout in microseconds (< 0: no limit). */
int futex_wait_shared_us(const uint32_t *word, uint32_t val, int64_t timeout_us);

/* Wake up to n sleepers on word; returns how many were woken, or -1. */
int futex_wake_shared(const uint32_t *word, int n);

/* A hint to the CPU that we are spinning. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* TCGL_FUTEX_H */
