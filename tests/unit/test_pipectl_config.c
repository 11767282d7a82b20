/* test_pipectl_config.c — the pipeline.yaml loader (common/config.c).
 *
 * Every tests/data/pipeline/bad_*.yaml starts with a line
 *     # expect: LINE:COL: message
 * and must fail with exactly "FILE:LINE:COL: message".  The valid examples
 * (the root pipeline.yaml, tests/data/pipeline/seq.yaml) must load and say
 * what they declare.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static const char *root_dir(void)
{
    const char *r = getenv("TCGL_ROOT");
    return r && *r ? r : ".";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_malformed_files(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/pipeline", root_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[128];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 128)
        if (!strncmp(de->d_name, "bad_", 4) && strstr(de->d_name, ".yaml"))
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    assert_true(n >= 15);
    unsetenv("TCGL_SURELY_UNSET_VARIABLE");
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char first[600] = "";
        assert_non_null(fgets(first, sizeof first, f));
        fclose(f);
        first[strcspn(first, "\n")] = 0;
        const char *tag = "# expect: ";
        assert_true(strncmp(first, tag, strlen(tag)) == 0);
        char want[2100];
        snprintf(want, sizeof want, "%s:%s", path, first + strlen(tag));
        char err[CONFIG_ERR_MAX];
        struct config *cfg = config_load(path, err, sizeof err);
        if (cfg) {
            print_error("%s: loaded, but expected the error: %s\n", names[i], want);
            config_free(cfg);
            failures++;
        } else if (strcmp(err, want) != 0) {
            print_error("%s:\n  got:  %s\n  want: %s\n", names[i], err, want);
            failures++;
        }
        free(names[i]);
    }
    assert_int_equal(failures, 0);
}

static void test_seq_example(void **state)
{
    (void)state;
    char path[1024], err[CONFIG_ERR_MAX];
    snprintf(path, sizeof path, "%s/tests/data/pipeline/seq.yaml", root_dir());
    setenv("TCGL_BUILD", "/nonexistent/build", 0);
    struct config *cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->name, "seq");
    assert_int_equal(cfg->nstages, 3);
    int relay = config_stage_index(cfg, "relay");
    assert_true(relay >= 0);
    assert_int_equal(cfg->stages[relay].workers, 2);
    assert_int_equal(cfg->nedges, 2);
    assert_int_equal(cfg->edges[0].to, relay);
    config_free(cfg);
}

static void test_default_pipeline(void **state)
{
    (void)state;
    char path[1024], err[CONFIG_ERR_MAX];
    snprintf(path, sizeof path, "%s/pipeline.yaml", root_dir());
    struct config *cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    static const char *names[] = { "tracer", "cfg", "cluster", "synth", "verify", "offload" };
    for (size_t i = 0; i < 6; i++)
        assert_true(config_stage_index(cfg, names[i]) >= 0);
    int cluster = config_stage_index(cfg, "cluster"), offload = config_stage_index(cfg, "offload");
    assert_int_equal(cfg->stages[config_stage_index(cfg, "synth")].workers, 2);
    assert_int_equal(cfg->stages[config_stage_index(cfg, "verify")].workers, 2);
    int hits = config_port_index(cfg, cluster, "hits");
    assert_true(hits >= 0);
    bool hits_to_offload = false;
    for (int e = 0; e < cfg->nedges; e++)
        if (cfg->edges[e].from == cluster && cfg->edges[e].from_port == hits && cfg->edges[e].to == offload)
            hits_to_offload = true;
    assert_true(hits_to_offload);
    assert_true(cfg->vm.present);
    assert_non_null(cfg->vm.kernel);
    config_free(cfg);
}

static void test_values_and_defaults(void **state)
{
    (void)state;
    static const char yaml[] =
        "pipeline: demo\n"
        "output: {dir: /tmp/demo-out, library: /tmp/lib}\n"
        "defaults: {queue_size: 64K, overflow: drop, restart: {max_restarts: 2, window: 10s, backoff: 50ms, backoff_max: 1s}}\n"
        "stages:\n"
        "  - {name: src, executable: ./bin/src, args: [--count, \"${TCGL_TEST_COUNT:-7}\"]}\n"
        "  - {name: mid, executable: cat, workers: 3, queue_size: 1M, overflow: block, outputs: [a, b]}\n"
        "  - {name: sink, executable: /bin/sink}\n"
        "edges:\n"
        "  - {from: src, to: mid}\n"
        "  - {from: mid.a, to: sink, queue_size: 8K}\n"
        "  - {from: mid.b, to: sink}\n";
    char err[CONFIG_ERR_MAX];
    unsetenv("TCGL_TEST_COUNT");
    struct config *cfg = config_load_buffer("/etc/demo/p.yaml", yaml, sizeof yaml - 1, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->stages[0].executable, "/etc/demo/./bin/src");
    assert_string_equal(cfg->stages[0].args[1], "7");
    assert_int_equal(cfg->stages[0].queue_size, 64 * 1024);
    assert_int_equal(cfg->stages[0].overflow, CONFIG_OVERFLOW_DROP);
    assert_int_equal(cfg->stages[0].restart.max_restarts, 2);
    assert_int_equal(cfg->stages[0].restart.window_ms, 10000);
    assert_int_equal(cfg->stages[0].restart.backoff_ms, 50);
    assert_string_equal(cfg->stages[1].executable, "cat");
    assert_int_equal(cfg->stages[1].workers, 3);
    assert_int_equal(cfg->stages[1].nports, 2);
    assert_int_equal(cfg->edges[0].queue_size, 1u << 20);
    assert_int_equal(cfg->edges[0].overflow, CONFIG_OVERFLOW_BLOCK);
    assert_int_equal(cfg->edges[1].queue_size, 8 * 1024);
    assert_int_equal(cfg->edges[1].from_port, 0);
    assert_int_equal(cfg->edges[2].from_port, 1);
    assert_int_equal(cfg->edges[2].overflow, CONFIG_OVERFLOW_DROP);
    assert_string_equal(cfg->library_dir, "/tmp/lib");
    assert_string_equal(cfg->report_dir, "/tmp/demo-out/report");
    assert_string_equal(cfg->log_dir, "/tmp/demo-out/logs");
    assert_string_equal(cfg->run_dir, "/tmp/demo-out/run");
    assert_string_equal(cfg->shm_dir, "/dev/shm");
    config_free(cfg);
}

static void test_parse_helpers(void **state)
{
    (void)state;
    uint64_t sz;
    uint32_t ms;
    assert_int_equal(config_parse_size("4096", &sz), 0);
    assert_int_equal(sz, 4096);
    assert_int_equal(config_parse_size("64KiB", &sz), 0);
    assert_int_equal(sz, 65536);
    assert_int_equal(config_parse_size("16M", &sz), 0);
    assert_int_equal(sz, 16u << 20);
    assert_int_equal(config_parse_size("2 G", &sz), 0);
    assert_int_equal(sz, 2ull << 30);
    assert_int_not_equal(config_parse_size("-1", &sz), 0);
    assert_int_not_equal(config_parse_size("4X", &sz), 0);
    assert_int_not_equal(config_parse_size("99999999999999999999", &sz), 0);
    assert_int_not_equal(config_parse_size("17179869184G", &sz), 0);
    assert_int_equal(config_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(config_parse_duration_ms("3", &ms), 0);
    assert_int_equal(ms, 3000);
    assert_int_equal(config_parse_duration_ms("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_not_equal(config_parse_duration_ms("2 weeks", &ms), 0);
    assert_int_not_equal(config_parse_duration_ms("9999999h", &ms), 0);
}

static void test_hostile_input(void **state)
{
    (void)state;
    char err[CONFIG_ERR_MAX];
    /* deep nesting is refused with a position, not a stack overflow */
    char deep[400];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = 0;
    assert_null(config_load_buffer("deep.yaml", deep, strlen(deep), err, sizeof err));
    assert_non_null(strstr(err, "deep.yaml:1:"));
    /* NUL bytes and binary garbage */
    static const char garbage[] = "pipeline: \"a\\0b\"\nstages: [\x01\xff]";
    assert_null(config_load_buffer("g.yaml", garbage, sizeof garbage - 1, err, sizeof err));
    assert_non_null(strstr(err, "g.yaml:"));
    /* two documents */
    static const char two[] = "pipeline: a\nstages: [{name: a, executable: x}]\n---\npipeline: b\n";
    assert_null(config_load_buffer("two.yaml", two, sizeof two - 1, err, sizeof err));
    assert_non_null(strstr(err, "two.yaml:3:1: more than one YAML document"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_seq_example),
        cmocka_unit_test(test_default_pipeline),
        cmocka_unit_test(test_values_and_defaults),
        cmocka_unit_test(test_parse_helpers),
        cmocka_unit_test(test_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
