/* verify_test_engine.h — the cmocka group fixture of the verify tests: one
 * concrete-testing engine (Unicorn, native oracle, Pixel executors) for the
 * whole group, since starting the native oracle's sandbox per test is slow. */
#ifndef TCGL_VERIFY_TEST_ENGINE_H
#define TCGL_VERIFY_TEST_ENGINE_H

#include "../../stages/verify/concrete.h"

static struct vconc *eng;

static int setup(void **state)
{
    (void)state;
    eng = vconc_new();
    return eng ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vconc_free(eng);
    return 0;
}

#endif /* TCGL_VERIFY_TEST_ENGINE_H */
