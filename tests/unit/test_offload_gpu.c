/* test_offload_gpu.c — the offload stage's GPU side (stages/offload/gpu_run.c,
 * gpu_export.c, the report's CUDA columns):
 *   - without a GPU (or with --gpu off) the probe says why in its note and
 *     the report's CUDA columns carry that note ("no GPU"), never a 0;
 *   - with GPU figures the report carries them (JSON and HTML);
 *   - a template exported for the GPU gets cropped memory windows, a capped
 *     state count when whole pages would be too large, the mid-window rip,
 *     and the compact transfer plan is exact on its states;
 *   - where an NVIDIA GPU and pixel-cuda ($TCGL_BUILD/gpu/pixel-cuda, `make
 *     pixel-gpu`) exist, gpu_measure runs a real block on it, checked bit
 *     for bit; elsewhere that case skips, saying why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../stages/offload/gpu_export.h"
#include "../../stages/offload/gpu_run.h"
#include "offload_test_util.h"
#include "pixel_gpufile.h"
#include "../../stages/offload/report.h"
#include "state_gen.h"

static void test_gpu_probe_off_and_absent(void **state)
{
    (void)state;
    struct gpu_options o;
    struct gpu_probe p;
    gpu_options_default(&o);
    o.work_dir = "/tmp";
    o.mode = GPU_MODE_OFF;
    gpu_probe_run(&o, &p);
    assert_false(p.available);
    assert_non_null(strstr(p.note, "off"));
    enum gpu_mode m;
    assert_int_equal(gpu_mode_parse("auto", &m), 0);
    assert_int_equal(m, GPU_MODE_AUTO);
    assert_int_equal(gpu_mode_parse("sometimes", &m), -1);
    o.mode = GPU_MODE_AUTO;
    o.pixel_cuda = "/nonexistent/pixel-cuda";
    gpu_probe_run(&o, &p);
    assert_false(p.available);   /* no device here, or no such executor */
    assert_true(p.note[0] != '\0');
    if (access("/dev/nvidia0", F_OK) != 0)
        assert_string_equal(p.note, "no GPU");
    /* an unavailable probe measures nothing and says why */
    struct gpu_result r;
    struct pixel_batch b = {0};
    assert_int_equal(gpu_measure(&o, &p, "x", NULL, 0, &b, &r), 0);
    assert_false(r.measured);
    assert_string_equal(r.why, p.note);
}

static char *report_for(const char *gpu_note, bool measured, char **html)
{
    struct report_block b;
    memset(&b, 0, sizeof b);
    b.pc = 0x401000;
    b.cls = "alu";
    b.ninsns = 3;
    b.exec_count = 1000;
    b.template_key = "51292fdaf6107f389c6335be51499ce47ff2ea6cf43a18b3c659ebfac61360eb";
    b.status = REPORT_BLOCK_OFFLOADED;
    b.speedup_batched = 12.5;
    if (measured) {
        b.speedup_cuda = 95.5;
        b.speedup_cuda_kernel = 210.25;
        b.gpu_states = 1000000;
        b.gpu_checked = 1024;
        b.gpu_states_per_s = 4.5e9;
        b.gpu_kernel_states_per_s = 9.75e9;
    }
    struct report_input in;
    memset(&in, 0, sizeof in);
    in.title = "t";
    in.blocks = &b;
    in.nblocks = 1;
    in.gpu_note = gpu_note;
    in.gpu_device = measured ? "NVIDIA H100" : "";
    *html = report_html(&in);
    return report_json(&in);
}

static void test_report_says_no_gpu_not_zero(void **state)
{
    (void)state;
    char *html, *json = report_for("no GPU", false, &html);
    assert_non_null(json);
    assert_non_null(html);
    assert_non_null(strstr(json, "\"status\": \"no GPU\""));
    assert_non_null(strstr(json, "\"gpu\": \"no GPU\""));   /* the block's entry */
    assert_null(strstr(json, "\"cuda\":"));                  /* no speedup invented */
    /* the block row and the per-class medians: both CUDA columns say it */
    const char *cell = "<td class=\"n note\">no GPU</td>";
    int cells = 0;
    for (const char *p = html; (p = strstr(p, cell)); p += strlen(cell))
        cells++;
    assert_true(cells >= 4);
    assert_null(strstr(html, "<td class=\"n\">0.00x</td>"));
    free(json);
    free(html);
}

static void test_report_carries_gpu_figures(void **state)
{
    (void)state;
    char *html, *json = report_for("", true, &html);
    assert_non_null(strstr(json, "\"status\": \"used\""));
    assert_non_null(strstr(json, "\"cuda\": 95.5"));
    assert_non_null(strstr(json, "\"cuda_kernel\": 210.25"));
    assert_non_null(strstr(json, "\"kernel_states_per_s\": 9750000000"));
    assert_non_null(strstr(json, "\"checked\": 1024"));
    assert_non_null(strstr(html, "95.50x"));
    assert_non_null(strstr(html, "210.25x"));
    assert_non_null(strstr(html, "NVIDIA H100"));
    assert_null(strstr(html, "no GPU"));
    free(json);
    free(html);
}

/* mov eax, [rsi+8]; add [rdi+4], eax — two regions on two base registers */
static const uint8_t load_add_store[] = { 0x8b, 0x46, 0x08, 0x01, 0x47, 0x04 };

static void test_export_crops_windows_and_caps_states(void **state)
{
    (void)state;
    uint8_t bytes[4 * 256];
    x86_locset lo = X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS | X86_LOC_RIP | X86_LOC_MEM;
    size_t nb = otu_microcode(load_add_store, sizeof load_add_store, lo, bytes, 256);
    struct pixel_insn ops[256];
    char why[256];
    int nops = pixel_decode(bytes, nb, ops, 256, why, sizeof why);
    assert_true(nops > 0);
    struct pixel_batch b;
    uint32_t pf = 99;
    assert_int_equal(gpu_template_states(load_add_store, sizeof load_add_store, ops, (size_t)nops, 5000, 1, 0, &b,
                                         &pf, why, sizeof why), 0);
    assert_int_equal(b.n, 5000);
    assert_int_equal(b.nregions, 2);
    assert_int_equal(pf, 0);                          /* every probe state runs to the end */
    assert_true(b.region_size[0] < STATE_GEN_REGION_SIZE / 4);   /* cropped, not whole pages */
    assert_true(b.region_size[1] < STATE_GEN_REGION_SIZE / 4);
    for (uint32_t i = 0; i < b.n; i++)
        assert_int_equal(b.regs[22 * (size_t)b.n + i], STATE_GEN_CODE_BASE + 0x80000000ull);
    /* the states run without a fault on the interpreter, and the compact
     * plan (what the GPU moves) reproduces the interpreter exactly */
    struct pixel_job j, ref;
    assert_int_equal(pixel_job_alloc(&j, (uint32_t)nops, b.n, b.nregions, b.region_size, why, sizeof why), 0);
    memcpy(j.prog, ops, (size_t)nops * sizeof ops[0]);
    memcpy(j.regs, b.regs, (size_t)32 * b.n * 8);
    memcpy(j.region_base, b.region_base, (size_t)b.nregions * b.n * 8);
    memcpy(j.mem, b.mem, (size_t)b.n * pixel_batch_window(&b));
    assert_int_equal(pixel_exec_batch(ops, (size_t)nops, &b, 0, why, sizeof why), 0);
    struct pixel_xfer_plan p;
    pixel_xfer_plan_make(&j, &p);
    assert_int_equal(p.in_uniform, 1u << 22);        /* rip: one value, not uploaded */
    assert_true(p.mem_in && p.mem_out);
    assert_int_equal(pixel_job_alloc(&ref, j.ninsns, j.nstates, j.nregions, j.region_size, why, sizeof why), 0);
    pixel_batch_free(&b);
    /* a cap on the bytes of one job: fewer states */
    assert_int_equal(gpu_template_states(load_add_store, sizeof load_add_store, ops, (size_t)nops, 5000, 1, 100000,
                                         &b, &pf, why, sizeof why), 0);
    assert_true(b.n > 0 && b.n < 5000);
    assert_true((uint64_t)b.n * (32 * 8 + 16 + pixel_batch_window(&b)) <= 100000);
    pixel_batch_free(&b);
    pixel_job_free(&j);
    pixel_job_free(&ref);
}

static void test_gpu_measure_on_a_real_gpu(void **state)
{
    (void)state;
    const char *build = getenv("TCGL_BUILD");
    char cuda[1024];
    snprintf(cuda, sizeof cuda, "%s/gpu/pixel-cuda", build ? build : "build");
    if (system("nvidia-smi -L >/dev/null 2>&1") != 0) {
        printf("SKIP: no NVIDIA GPU here (nvidia-smi -L fails); gpu_measure runs on a GPU machine\n");
        skip();
    }
    if (access(cuda, X_OK) != 0) {
        printf("SKIP: %s not built (make pixel-gpu on the GPU machine)\n", cuda);
        skip();
    }
    uint8_t bytes[4 * 256];
    x86_locset lo = X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS | X86_LOC_RIP | X86_LOC_MEM;
    size_t nb = otu_microcode(load_add_store, sizeof load_add_store, lo, bytes, 256);
    struct pixel_insn ops[256];
    char why[256];
    int nops = pixel_decode(bytes, nb, ops, 256, why, sizeof why);
    struct pixel_batch b;
    assert_int_equal(gpu_template_states(load_add_store, sizeof load_add_store, ops, (size_t)nops, 4096, 7, 0, &b,
                                         NULL, why, sizeof why), 0);
    struct gpu_options o;
    gpu_options_default(&o);
    o.pixel_cuda = cuda;
    o.work_dir = "/tmp";
    o.nstates = 100000;
    struct gpu_probe p;
    gpu_probe_run(&o, &p);
    assert_true(p.available);
    struct gpu_result r;
    assert_int_equal(gpu_measure(&o, &p, "test_offload_gpu", ops, (size_t)nops, &b, &r), 0);
    assert_true(r.measured);
    assert_int_equal(r.checked, 4096);
    assert_true(r.states >= 100000);
    assert_true(r.states_per_s > 0 && r.kernel_states_per_s > 0);
    pixel_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpu_probe_off_and_absent),
        cmocka_unit_test(test_report_says_no_gpu_not_zero),
        cmocka_unit_test(test_report_carries_gpu_figures),
        cmocka_unit_test(test_export_crops_windows_and_caps_states),
        cmocka_unit_test(test_gpu_measure_on_a_real_gpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
