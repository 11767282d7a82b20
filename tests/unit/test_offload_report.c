/* test_offload_report.c — the run report (stages/offload/report.c):
 * report.json content (ordering, coverage, per-class medians, ranked
 * QEMU-only reasons), a self-contained and escaped report.html with the
 * speedup chart, refusal of active SVG, reasons collected from a real
 * library, and an empty run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "../../stages/offload/report.h"
#include "library_test_util.h"

static const char cfg_svg[] =
    "<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"20\"><g id=\"cfgnode\">"
    "<rect width=\"10\" height=\"10\"/></g></svg>\n";
static const char evil_svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\"><rect onclick=\"alert(1)\"/></svg>";

static struct report_block blocks[] = {
    { .pc = 0x401000, .workload = "sha256sum", .cls = "alu", .ninsns = 5, .exec_count = 500,
      .template_key = "aaaa", .status = REPORT_BLOCK_OFFLOADED, .speedup_batched = 4.0,
      .speedup_interp = 1.5, .speedup_native = 20.0, .replay_checked = 64, .replay_agreed = 64 },
    { .pc = 0x401040, .workload = "sha256sum", .cls = "alu", .ninsns = 3, .exec_count = 9000,
      .template_key = "bbbb", .status = REPORT_BLOCK_OFFLOADED, .speedup_batched = 10.0,
      .speedup_interp = 2.5, .replay_checked = 64, .replay_agreed = 64 },
    { .pc = 0x401080, .workload = "sha256sum", .cls = "alu", .ninsns = 4, .exec_count = 700,
      .template_key = "cccc", .status = REPORT_BLOCK_OFFLOADED, .speedup_batched = 6.0,
      .speedup_interp = 2.0 },
    { .pc = 0x402000, .workload = "<b>evil</b>", .cls = "memory", .ninsns = 6, .exec_count = 3000,
      .template_key = "dddd", .status = REPORT_BLOCK_OFFLOADED, .speedup_batched = 3.0 },
    { .pc = 0x403000, .workload = "boot", .cls = "system", .ninsns = 2, .exec_count = 100,
      .status = REPORT_BLOCK_QEMU_ONLY },
};

static void fill_input(struct report_input *in, struct report_picture *pics,
                       struct report_qemu_reason *reasons, struct report_workload *w,
                       struct report_template *t)
{
    memset(in, 0, sizeof *in);
    in->title = "test run";
    in->run_id = "run-42";
    in->generated = 1700000000;
    in->library_dir = "out/library";
    w[0] = (struct report_workload){ .name = "<b>evil</b>", .insns = 1000000, .blocks = 5000,
                                     .tbs = 300, .samples = 640, .time_us = 2500000,
                                     .end_reason = "guest exit" };
    in->workloads = w;
    in->nworkloads = 1;
    in->blocks = blocks;
    in->nblocks = sizeof blocks / sizeof blocks[0];
    t[0] = (struct report_template){ .key = "bbbb", .ninsns = 3, .instances = 2, .exec_count = 9000,
                                     .method = "optimized", .cost = 3, .baseline_cost = 5,
                                     .status = "verified", .disasm = "add eax, ebx\nxor ecx, ecx" };
    in->templates = t;
    in->ntemplates = 1;
    in->coverage = (struct report_coverage){ .user_insns = 1000, .user_insns_offloaded = 250,
                                             .replay_checked = 128, .replay_agreed = 128,
                                             .fallback_events = 1 };
    in->pipeline = (struct report_pipeline){ .jobs = 10, .lib_hits = 2, .baseline = 4, .optimized = 3,
                                             .qemu_only = 1, .cost_before = 40, .cost_after = 30,
                                             .proved = 7, .tests_unicorn = 70000, .tests_native = 70000 };
    reasons[0] = (struct report_qemu_reason){ "reads the time-stamp counter", "rdtsc", 1, 5 };
    reasons[1] = (struct report_qemu_reason){ "unsupported instruction", "cpuid", 2, 100 };
    reasons[2] = (struct report_qemu_reason){ "system call", "syscall", 3, 40 };
    in->reasons = reasons;
    in->nreasons = 3;
    pics[0] = (struct report_picture){ "cfg of sha256sum", cfg_svg };
    pics[1] = (struct report_picture){ "hostile picture", evil_svg };
    in->pictures = pics;
    in->npictures = 2;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_offload_report_files(void **state)
{
    (void)state;
    struct report_input in;
    struct report_picture pics[2];
    struct report_qemu_reason reasons[3];
    struct report_workload w[1];
    struct report_template t[1];
    fill_input(&in, pics, reasons, w, t);

    char *dir = ltu_tempdir();
    assert_non_null(dir);
    char out[1024], path[1100];
    snprintf(out, sizeof out, "%s/out/report", dir);
    assert_int_equal(report_write(&in, out), 0);

    snprintf(path, sizeof path, "%s/report.json", out);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        fail_msg("report.json: %s", err.text);
    json_t *cov = json_object_get(root, "coverage");
    assert_true(json_real_value(json_object_get(cov, "dynamic_coverage")) == 0.25);
    assert_true(json_real_value(json_object_get(cov, "replay_agreement")) == 1.0);
    /* Hot blocks, hottest first. */
    json_t *hb = json_object_get(root, "hot_blocks");
    assert_int_equal(json_array_size(hb), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(hb, 0), "pc")), "0x401040");
    assert_string_equal(json_string_value(json_object_get(json_array_get(hb, 1), "pc")), "0x402000");
    assert_string_equal(json_string_value(json_object_get(json_array_get(hb, 4), "pc")), "0x403000");
    /* Per-class medians: alu batched {4, 10, 6} -> 6, interp {1.5, 2.5, 2} -> 2,
     * native {20} -> 20; memory batched 3. */
    json_t *cls = json_object_get(root, "speedup_by_class");
    assert_int_equal(json_array_size(cls), 3);
    json_t *alu = json_array_get(cls, 0);
    assert_string_equal(json_string_value(json_object_get(alu, "class")), "alu");
    assert_true(json_real_value(json_object_get(alu, "median_speedup_batched")) == 6.0);
    assert_true(json_real_value(json_object_get(alu, "median_speedup_interp")) == 2.0);
    assert_true(json_real_value(json_object_get(alu, "median_speedup_native")) == 20.0);
    assert_true(json_real_value(json_object_get(alu, "median_speedup_cuda")) == 0.0);
    /* Reasons ranked by executions: cpuid 100, syscall 40, rdtsc 5. */
    json_t *rs = json_object_get(root, "qemu_only_reasons");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rs, 0), "mnemonic")), "cpuid");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rs, 1), "mnemonic")), "syscall");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rs, 2), "mnemonic")), "rdtsc");
    assert_true(json_real_value(json_object_get(json_object_get(root, "pipeline"), "cost_reduction")) == 0.25);
    json_decref(root);

    snprintf(path, sizeof path, "%s/report.html", out);
    char *html = ltu_slurp(path, NULL);
    assert_non_null(html);
    /* Self-contained: no script, no external reference. */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "onclick"));
    /* Escaped input, and the hostile picture refused with a note. */
    assert_null(strstr(html, "<b>evil</b>"));
    assert_non_null(strstr(html, "&lt;b&gt;evil&lt;/b&gt;"));
    assert_non_null(strstr(html, "picture not embedded"));
    assert_non_null(strstr(html, "id=\"cfgnode\""));       /* the passive CFG picture is inline */
    assert_null(strstr(html, "<?xml"));
    /* The chart: one bar per measured speedup (4 blocks: 3+2+2+1 = 8), the 1x line. */
    assert_int_equal(count(html, "</title></rect>"), 8);
    assert_non_null(strstr(html, "1x (QEMU TCG)"));
    assert_non_null(strstr(html, "25.00% (250 of 1000"));
    /* Ranked reasons: cpuid's row comes before rdtsc's. */
    assert_true(strstr(html, "<code>cpuid</code>") < strstr(html, "<code>rdtsc</code>"));
    free(html);
    ltu_rmtree(dir);
}

static void test_offload_report_empty_run(void **state)
{
    (void)state;
    struct report_input in;
    memset(&in, 0, sizeof in);
    char *html = report_html(&in);
    char *json = report_json(&in);
    assert_non_null(html);
    assert_non_null(json);
    assert_non_null(strstr(html, "no hot blocks"));
    assert_non_null(strstr(html, "no speedup measured yet"));
    assert_non_null(strstr(json, "\"hot_blocks\": []"));
    free(html);
    free(json);
}

static void test_offload_report_reasons_from_library(void **state)
{
    (void)state;
    char *dir = ltu_tempdir();
    struct library *lib = library_open(dir, NULL);
    assert_non_null(lib);
    const uint8_t cpuid[] = { 0x0f, 0xa2 }, cpuid2[] = { 0x31, 0xc0, 0x0f, 0xa2 },
                  rdtsc[] = { 0x0f, 0x31 };
    struct library_template t1 = library_template_make(cpuid, 2, 64, X86_LOC_ALL_GPRS);
    struct library_template t2 = library_template_make(cpuid2, 4, 64, X86_LOC_ALL_GPRS);
    struct library_template t3 = library_template_make(rdtsc, 2, 64, X86_LOC_ALL_GPRS);
    assert_int_equal(library_put_qemu_only(lib, &t1, "unsupported instruction", "cpuid", "w"), 0);
    assert_int_equal(library_put_qemu_only(lib, &t2, "unsupported instruction", "cpuid", "w"), 0);
    assert_int_equal(library_put_qemu_only(lib, &t3, "reads the time-stamp counter", "rdtsc", "w"), 0);
    assert_int_equal(library_put_qemu_only(lib, &t3, "reads the time-stamp counter", "rdtsc", "w"), 0);
    assert_int_equal(library_put_qemu_only(lib, &t3, "reads the time-stamp counter", "rdtsc", "w"), 0);
    struct library_entry e;
    ltu_sample_entry(&e, 0, X86_LOC_GPR(X86_RAX), LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_put_verified(lib, &e), 0);     /* not a reason */
    library_entry_free(&e);

    struct report_qemu_reason *r = NULL;
    int n = report_reasons_from_library(lib, &r);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].mnemonic, "rdtsc");     /* 3 instances of one template */
    assert_int_equal(r[0].exec_count, 3);
    assert_int_equal(r[0].templates, 1);
    assert_string_equal(r[1].mnemonic, "cpuid");
    assert_int_equal(r[1].templates, 2);
    assert_int_equal(r[1].exec_count, 2);
    report_reasons_free(r, (size_t)n);
    library_close(lib);
    ltu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offload_report_files),
        cmocka_unit_test(test_offload_report_empty_run),
        cmocka_unit_test(test_offload_report_reasons_from_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
