/* test_trace_reader_lag — how the trace reader measures a TRACE_EXEC's
 * lag (pop time - sent_us) and "behind" (pop time - newest entry), counts
 * the records over 1 ms and, among them, those popped right after the
 * consumer had been idle for SHMQ_PATIENCE_IDLE_MS and those pushed while
 * it still handled its previous batch, and counts entries stamped after
 * their record's push.  Real encoder, real validating decoder, the
 * reader's own handler; the pop time is set by hand as trace_reader_run
 * sets it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "records.h"
#include "../../stages/tracer/trace_reader.h"

/* One TRACE_EXEC of TB 1 run twice: t0_us, entries at +0 and +last_dt, pushed at sent_us. */
static void handle_exec(struct trace_reader *r, uint64_t t0_us, uint32_t last_dt, uint64_t sent_us)
{
    uint32_t ids[2] = { 1, 1 }, dts[2] = { 0, last_dt };
    struct rec rec = { .type = REC_TRACE_EXEC };
    rec.u.trace_exec = (struct rec_trace_exec){
        .vcpu = 0, .t0_us = t0_us, .sent_us = sent_us,
        .tb_ids = { (const uint8_t *)ids, sizeof ids }, .dt_us = { (const uint8_t *)dts, sizeof dts },
    };
    struct rec_buf b;
    struct rec_error err;
    struct rec_arena a;
    rec_buf_init(&b);
    rec_arena_init(&a);
    assert_int_equal(rec_encode(&b, &rec, &err), 0);
    trace_reader_handle(r, b.data, b.len, &a);
    rec_arena_free(&a);
    rec_buf_free(&b);
}

static void test_lag_and_behind(void **state)
{
    (void)state;
    struct trace_reader r;
    memset(&r, 0, sizeof r);
    r.measure_lag = true;

    r.pop_us = 5500;                                   /* lag 500, behind 5500 - 1100 */
    handle_exec(&r, 1000, 100, 5000);
    r.pop_us = 9000;                                   /* lag 2000: over 1 ms, not after idle */
    handle_exec(&r, 6000, 200, 7000);
    r.pop_us = 90000;                                  /* lag 4000, the first pop after an idle spell */
    r.pop_after_idle = true;
    handle_exec(&r, 85000, 300, 86000);
    r.pop_us = 95000;                                  /* lag 3000, pushed while the consumer still worked */
    r.pop_after_idle = false;
    r.prev_done_us = 94000;
    handle_exec(&r, 91000, 100, 92000);

    assert_int_equal(r.records[REC_TRACE_EXEC], 4);
    assert_int_equal(r.bad_records, 0);
    assert_int_equal(r.lag.n, 4);
    assert_int_equal(r.lag_over_1ms, 3);
    assert_int_equal(r.lag_over_1ms_after_idle, 1);
    assert_int_equal(r.lag_over_1ms_busy, 1);
    assert_int_equal(trace_latency_pct(&r.lag, 0), 500);
    assert_int_equal(trace_latency_pct(&r.lag, 100), 4000);
    assert_int_equal(trace_latency_pct(&r.behind, 0), 2800);    /* 9000 - 6200 */
    assert_int_equal(trace_latency_pct(&r.behind, 100), 4700);  /* 90000 - 85300 */
    assert_int_equal(r.ts_after_sent, 0);
    trace_reader_close(&r);
}

static void test_stamped_after_push(void **state)
{
    (void)state;
    struct trace_reader r;
    memset(&r, 0, sizeof r);   /* counted with or without lag measurement */
    handle_exec(&r, 1000, 600, 1500);                  /* newest entry at 1600 > sent 1500 */
    handle_exec(&r, 2000, 500, 2500);                  /* at the push: fine */
    assert_int_equal(r.ts_after_sent, 1);
    assert_int_equal(r.lag.n, 0);
    assert_int_equal(r.lag_over_1ms, 0);
    trace_reader_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lag_and_behind),
        cmocka_unit_test(test_stamped_after_push),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
