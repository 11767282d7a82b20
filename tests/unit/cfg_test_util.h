/* cfg_test_util.h — shared by the cfg unit tests: a record goes through the
 * real codec (encode, decode) before cfg sees it, as it would off the queue. */
#ifndef TCGL_CFG_TEST_UTIL_H
#define TCGL_CFG_TEST_UTIL_H

#include "../../stages/cfg/cfg.h"
#include "records.h"

/* Encodes r, decodes it again and hands it to cfg_consume; returns its status. */
static inline int cfg_test_feed(struct cfg *g, const struct rec *r)
{
    struct rec_buf b;
    struct rec_error err;
    struct rec_arena a;
    struct rec d;
    rec_buf_init(&b);
    rec_arena_init(&a);
    if (rec_encode(&b, r, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(rec_decode(b.data, b.len, &d, &a, &err), (int)r->type);
    int rc = cfg_consume(g, &d);
    rec_arena_free(&a);
    rec_buf_free(&b);
    return rc;
}

#endif
