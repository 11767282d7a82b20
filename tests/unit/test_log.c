/* test_log.c — the log line format and level filtering (common/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static char *capture(void (*emit)(void))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    log_set_stream(f);
    emit();
    log_set_stream(NULL);
    fclose(f);
    return buf;
}

static void emit_error(void) { log_error("record %d field %s: bad value %#x", 7, "pc", 0xdead); }
static void emit_debug(void) { log_debug("not shown"); }
static void emit_long(void)
{
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    log_warn("%s", big);
}

static void test_line_has_ident_level_and_message(void **state)
{
    (void)state;
    log_set_ident("synth", 2);
    log_set_level(LOG_INFO);
    char *out = capture(emit_error);
    assert_non_null(strstr(out, " synth[2] pid "));
    assert_non_null(strstr(out, " error: record 7 field pc: bad value 0xdead\n"));
    /* ISO-8601 UTC timestamp at the start: 2026-11-23T01:02:03.456Z */
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    assert_int_equal(out[23], 'Z');
    free(out);
}

static void test_level_filter_drops_lower_levels(void **state)
{
    (void)state;
    log_set_level(LOG_INFO);
    char *out = capture(emit_debug);
    assert_string_equal(out, "");
    free(out);
    log_set_level(LOG_DEBUG);
    out = capture(emit_debug);
    assert_non_null(strstr(out, "debug: not shown\n"));
    free(out);
}

static void test_long_message_truncated_with_newline(void **state)
{
    (void)state;
    log_set_level(LOG_INFO);
    char *out = capture(emit_long);
    size_t n = strlen(out);
    assert_true(n < 4096);
    assert_int_equal(out[n - 1], '\n');
    assert_memory_equal(out + n - 4, "...", 3);
    free(out);
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("error"), LOG_ERROR);
    assert_int_equal(log_level_parse("loud"), -1);
    assert_int_equal(log_level_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_has_ident_level_and_message),
        cmocka_unit_test(test_level_filter_drops_lower_levels),
        cmocka_unit_test(test_long_message_truncated_with_newline),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
