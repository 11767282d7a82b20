/* test_library_tool.c — the tcgl-lib command (built into $TCGL_BUILD/bin)
 * over a library populated through the API: list, show (key and prefix),
 * verify (finds a corrupt file), prune, usage errors, --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>

#include "library_test_util.h"

#define LIVE_OUT (X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS)

static char tool[1024];

/* Run `tcgl-lib ARGS` (a shell fragment); returns the exit status and the
 * captured stdout+stderr in *out (malloc'd). */
static int run_tool(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", tool, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 1024)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
    const char *b = getenv("TCGL_BUILD");
    if (!b)
        b = "build";
    snprintf(tool, sizeof tool, "%s/bin/tcgl-lib", b);
    char *dir = ltu_tempdir();
    if (!dir)
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    ltu_rmtree(*state);
    return 0;
}

static void test_library_tool_commands(void **state)
{
    const char *dir = *state;
    if (access(tool, X_OK) != 0)
        fail_msg("%s is not built (make BUILD=... build)", tool);

    struct library *lib = library_open(dir, NULL);
    struct library_entry e;
    ltu_sample_entry(&e, 0, LIVE_OUT, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_put_verified(lib, &e), 0);
    assert_int_equal(library_update_speedup(lib, e.key, "batched", 7.25), 0);
    const uint8_t rdtsc[] = { 0x0f, 0x31 };
    struct library_template t = library_template_make(rdtsc, 2, 64, X86_LOC_ALL_GPRS);
    assert_int_equal(library_put_qemu_only(lib, &t, "reads the time-stamp counter", "rdtsc", "boot"), 0);
    library_close(lib);

    char args[2048], *out;
    snprintf(args, sizeof args, "list '%s'", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "1 verified, 1 qemu-only, 0 corrupt"));
    assert_non_null(strstr(out, "7.25x batched"));
    assert_non_null(strstr(out, "rdtsc"));
    free(out);

    snprintf(args, sizeof args, "list '%s' --json", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "\"verified\": 1"));
    free(out);

    char prefix[7];
    memcpy(prefix, e.key, 6);
    prefix[6] = '\0';
    snprintf(args, sizeof args, "show '%s' %s", dir, prefix);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, e.key));
    assert_non_null(strstr(out, "add eax, ebx"));        /* x86 disassembly of the template */
    assert_non_null(strstr(out, "[  2,  0,  0,  3]"));    /* the microcode */
    assert_non_null(strstr(out, "10000 unicorn, 10000 native, 0 failed"));
    free(out);

    snprintf(args, sizeof args, "show '%s' %s --raw", dir, e.key);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "\"x86_hash\""));
    free(out);

    snprintf(args, sizeof args, "show '%s' 0123456789", dir);
    assert_int_equal(run_tool(args, &out), 1);
    free(out);
    snprintf(args, sizeof args, "show '%s' XYZ", dir);
    assert_int_equal(run_tool(args, &out), 2);
    free(out);

    snprintf(args, sizeof args, "verify '%s'", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "2 entries valid"));
    free(out);

    /* Corrupt one file: verify names it and fails; prune --corrupt removes it. */
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.json", dir, e.key);
    assert_int_equal(ltu_write(path, "{\"format\": \"tcgl-micro", 22), 0);
    snprintf(args, sizeof args, "verify '%s'", dir);
    assert_int_equal(run_tool(args, &out), 1);
    assert_non_null(strstr(out, "CORRUPT"));
    assert_non_null(strstr(out, path));
    free(out);

    snprintf(args, sizeof args, "prune '%s' --corrupt --qemu-only --dry-run", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "would remove 2 of 2"));
    free(out);
    snprintf(args, sizeof args, "prune '%s' --corrupt", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "removed 1 of 2"));
    free(out);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(args, sizeof args, "prune '%s' --older-than 1d --version-mismatch", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "removed 0 of 1"));        /* current and fresh: kept */
    free(out);
    snprintf(args, sizeof args, "prune '%s' --qemu-only", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "removed 1 of 1"));
    free(out);
    snprintf(args, sizeof args, "list '%s'", dir);
    assert_int_equal(run_tool(args, &out), 0);
    assert_non_null(strstr(out, "0 verified, 0 qemu-only, 0 corrupt"));
    free(out);

    /* Usage errors and help. */
    assert_int_equal(run_tool("frobnicate /nonexistent", &out), 2);
    free(out);
    snprintf(args, sizeof args, "prune '%s' --older-than soon", dir);
    assert_int_equal(run_tool(args, &out), 2);
    free(out);
    snprintf(args, sizeof args, "list '%s' --qemu-only", dir);
    assert_int_equal(run_tool(args, &out), 2);
    free(out);
    assert_int_equal(run_tool("list /nonexistent/library", &out), 3);
    assert_non_null(strstr(out, "/nonexistent/library"));
    free(out);
    assert_int_equal(run_tool("--help", &out), 0);
    assert_non_null(strstr(out, "SYNOPSIS"));
    assert_non_null(strstr(out, "EXIT STATUS"));
    free(out);
    library_entry_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_library_tool_commands, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
