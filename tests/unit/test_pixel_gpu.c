/* test_pixel_gpu.c — the CUDA executor (stages/offload/gpu) is bit-identical
 * to the reference interpreter, on its full-state path and on its compact
 * pipelined path (--compact):
 *   - on 1,000,000 states for each representative program
 *     (stages/offload/gpu/gpu_check.sh: hand-written blocks, every opcode,
 *     faults, control flow, random programs);
 *   - on 1,000,000 states for every verified template of the library of the
 *     bundled workloads (stages/offload/gpu/lib_check.sh over
 *     $TCGL_ROOT/out/library, written by `make run`).
 * Skips, saying why, where nvcc, an NVIDIA GPU or the library is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_pixel_gpu_matches_interpreter_on_1m_states(void **state)
{
    (void)state;
    if (system("command -v nvcc >/dev/null 2>&1") != 0) {
        printf("SKIP: nvcc is not installed here; the CUDA executor check needs a GPU machine "
               "(bash stages/offload/gpu/gpu_check.sh DIR there)\n");
        skip();
    }
    if (system("nvidia-smi -L >/dev/null 2>&1") != 0) {
        printf("SKIP: no NVIDIA GPU here (nvidia-smi -L fails); the CUDA executor check needs one "
               "(bash stages/offload/gpu/gpu_check.sh DIR on a GPU machine)\n");
        skip();
    }
    const char *root = getenv("TCGL_ROOT"), *build = getenv("TCGL_BUILD");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "bash '%s/stages/offload/gpu/gpu_check.sh' '%s/gpu' 1000000",
             root ? root : ".", build ? build : "build");
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
}

static void test_pixel_gpu_matches_interpreter_on_every_verified_template(void **state)
{
    (void)state;
    if (system("command -v nvcc >/dev/null 2>&1") != 0 || system("nvidia-smi -L >/dev/null 2>&1") != 0) {
        printf("SKIP: no nvcc or no NVIDIA GPU here; the library check runs on a GPU machine "
               "(OFFLOAD=... bash stages/offload/gpu/lib_check.sh DIR LIBRARY there)\n");
        skip();
    }
    const char *root = getenv("TCGL_ROOT"), *build = getenv("TCGL_BUILD");
    char lib[1024], cmd[4096];
    snprintf(lib, sizeof lib, "%s/out/library", root ? root : ".");
    if (access(lib, F_OK) != 0) {
        printf("SKIP: no library at %s: `make run` makes it, then this check covers its templates\n", lib);
        skip();
    }
    snprintf(cmd, sizeof cmd, "OFFLOAD='%s/bin/offload' bash '%s/stages/offload/gpu/lib_check.sh' '%s/gpu' '%s' 1000000",
             build ? build : "build", root ? root : ".", build ? build : "build", lib);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_gpu_matches_interpreter_on_1m_states),
        cmocka_unit_test(test_pixel_gpu_matches_interpreter_on_every_verified_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
