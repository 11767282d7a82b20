/* test_build_env.c — what `make deps` promises is really there:
 * QEMU 10.0 (system and user mode), the plugin header from the matching
 * Debian source package (plugin API version 4), and the VM kernel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root(void)
{
    const char *r = getenv("TCGL_ROOT");
    return r ? r : ".";
}

static void first_line_of(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = 0;
    if (!fgets(out, (int)n, p))
        out[0] = 0;
    pclose(p);
}

static void test_qemu_system_is_10_0(void **state)
{
    (void)state;
    char line[256];
    first_line_of("qemu-system-x86_64 --version 2>&1", line, sizeof line);
    print_message("%s", line);
    assert_non_null(strstr(line, "version 10.0"));
}

static void test_qemu_user_is_10_0(void **state)
{
    (void)state;
    char line[256];
    first_line_of("qemu-x86_64 --version 2>&1", line, sizeof line);
    assert_non_null(strstr(line, "version 10.0"));
}

static void test_plugin_header_from_source_package(void **state)
{
    (void)state;
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/build/deps/include/qemu-plugin.h", root());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int version = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "#define QEMU_PLUGIN_VERSION %d", &version) == 1)
            break;
    fclose(f);
    /* QEMU 10.0's plugin API: register reads, memory values, conditional
     * callbacks, inline ops and scoreboards. */
    assert_int_equal(version, 4);
}

static void test_vm_kernel_unpacked(void **state)
{
    (void)state;
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/build/deps/vmlinuz", root());
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 1024 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qemu_system_is_10_0),
        cmocka_unit_test(test_qemu_user_is_10_0),
        cmocka_unit_test(test_plugin_header_from_source_package),
        cmocka_unit_test(test_vm_kernel_unpacked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
