/* test_hybrid_execution — hybrid replay on a real trace agrees everywhere.
 *
 * The real pipeline (e2e_util.h: QEMU VM tracing wl_loop and wl_checksum,
 * cfg, cluster, synth x2, verify x2, offload) runs with a fresh library.
 * Offload replays the verified microcode of every block on that block's
 * sampled executions (recorded pre-state -> microcode -> compared with the
 * state recorded at the next block's entry and the recorded stores).  Checked
 * on report.json, and cross-checked with offload's summary log line:
 *   - states were checked (> 0) and every one agreed;
 *   - every offloaded hot block agrees on all of its replayed samples, and
 *     several blocks had samples replayed;
 *   - wl_loop's loop block, when its template is verified, is among them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "e2e_util.h"

static struct prun run;
static char lib[128];
static json_t *rep;   /* released by the teardown, also after a failed check */

static void test_hybrid_execution(void **state)
{
    (void)state;
    const char *why = e2e_missing();
    if (*why) {
        fprintf(stderr, "SKIP: %s\n", why);
        skip();
    }
    e2e_tmpdir(lib, sizeof lib, "hyblib");
    assert_int_equal(e2e_run(&run, "e2e_hybrid", lib, 300), 0);
    e2e_assert_traced(&run);

    rep = e2e_json(&run, "report.json");
    assert_non_null(rep);
    json_t *cov = json_object_get(rep, "coverage");
    long long checked = e2e_int(cov, "replay_checked"), agreed = e2e_int(cov, "replay_agreed");
    long long log_agreed = -1, log_checked = -1;
    assert_true(e2e_offload_replay(&run, &log_agreed, &log_checked));
    fprintf(stderr, "replay: %lld/%lld sampled states agree (offload log: %lld/%lld); dynamic coverage %.1f%%\n",
            agreed, checked, log_agreed, log_checked,
            100.0 * json_number_value(json_object_get(cov, "dynamic_coverage")));
    assert_true(checked > 0);
    assert_int_equal(agreed, checked);
    assert_int_equal(log_checked, checked);
    assert_int_equal(log_agreed, agreed);

    uint64_t head = e2e_guest_symbol("wl_loop", "wl_loop_head");
    assert_true(head != 0);
    json_t *hot = json_object_get(rep, "hot_blocks"), *b;
    size_t i;
    int offloaded = 0, replayed = 0;
    long long sum_checked = 0;
    bool loop_offloaded = false, loop_replayed = false;
    json_array_foreach(hot, i, b) {
        long long bc = e2e_int(b, "replay_checked"), ba = e2e_int(b, "replay_agreed");
        uint64_t pc = strtoull(e2e_str(b, "pc"), NULL, 16);
        if (strcmp(e2e_str(b, "status"), "offloaded")) continue;
        offloaded++;
        if (bc != ba)
            fail_msg("block %#" PRIx64 " (template %.16s): replay %lld/%lld agree", pc, e2e_str(b, "template_key"),
                     ba, bc);
        if (bc > 0) replayed++;
        sum_checked += bc > 0 ? bc : 0;
        if (pc == head) {
            loop_offloaded = true;
            loop_replayed = bc > 0;
        }
    }
    fprintf(stderr, "%d offloaded hot blocks of %zu, %d with replayed samples (%lld states); wl_loop_head %s\n",
            offloaded, json_array_size(hot), replayed, sum_checked,
            loop_offloaded ? (loop_replayed ? "offloaded and replayed" : "offloaded, no sample replayed")
                           : "not offloaded");
    assert_true(replayed >= 2);
    assert_true(sum_checked <= checked);
    if (loop_offloaded) assert_true(loop_replayed);
}

/* Also after a failed check: pipectl (and with it its stages, the VM and
 * the queues) stopped, temporary directories removed. */
static int teardown(void **state)
{
    (void)state;
    if (run.dir[0]) e2e_cleanup(&run);
    if (lib[0]) e2e_rmdir(lib);
    json_decref(rep);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hybrid_execution),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
