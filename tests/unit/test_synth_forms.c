/* test_synth_forms.c — THE core correctness test of the baseline lowering:
 * every form of x86_forms.h, in random Zydis-encoded instances (registers,
 * immediates, addressing modes incl. rip-relative), is lowered with the
 * whole state live (all GPRs and flags: nothing may be dropped) and with a
 * random live-out subset, and the microcode is PROVED equivalent by the
 * full query (common/equiv.h).  A form whose proof times out would be
 * listed in slow_forms[] (and reported), never silently skipped: the list
 * is empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "equiv.h"
#include "../../stages/synth/synth.h"
#include "test_synth_util.h"

static const char *const slow_forms[] = { NULL };

static bool is_slow(const char *name)
{
    for (unsigned i = 0; slow_forms[i]; i++)
        if (!strcmp(slow_forms[i], name))
            return true;
    return false;
}

static void test_synth_every_form_proved(void **state)
{
    (void)state;
    unsigned per_form = 2;
    const char *e = getenv("TCGL_SYNTH_FORM_INSTANCES");
    if (e && atoi(e) > 0)
        per_form = (unsigned)atoi(e);
    uint64_t seed = 0xf0f0;
    unsigned proved = 0, failed = 0, slow = 0;
    struct equiv_opts eo = { .timeout_ms = 20000 };
    static struct pixel_insn prog[SYNTH_MAX_OPS];
    struct equiv_ctx *q = equiv_ctx_new();
    assert_non_null(q);
    for (unsigned fi = 0; fi < X86_FORM_COUNT; fi++) {
        for (unsigned k = 0; k < per_form; k++) {
            uint8_t code[32];
            size_t len = 0;
            if (!tsu_encode_form(fi, &seed, code, &len)) {
                fprintf(stderr, "form %s: no encoding found\n", x86_forms[fi].name);
                failed++;
                break;
            }
            x86_locset live = X86_LOC_ALL;
            if (k & 1)
                live = (x86_locset)(tsu_next(&seed) & X86_LOC_ALL);
            char err[256];
            int n = synth_baseline(code, len, live, false, prog, SYNTH_MAX_OPS, err, sizeof err);
            if (n < 0) {
                fprintf(stderr, "form %s: baseline failed: %s\n", x86_forms[fi].name, err);
                failed++;
                continue;
            }
            struct equiv_result r;
            struct x86_insn in[4];
            size_t ni;
            assert_int_equal(x86_decode_block(code, len, 0x401000, 64, in, 4, &ni, err, sizeof err), 0);
            assert_int_equal(equiv_prepare(q, in, ni, live, err, sizeof err), 0);
            enum equiv_status st = equiv_check_prepared(q, prog, (size_t)n, &eo, &r);
            if (st == EQUIV_PROVED) {
                proved++;
            } else if ((st == EQUIV_TIMEOUT || st == EQUIV_UNKNOWN) && is_slow(x86_forms[fi].name)) {
                slow++;
                fprintf(stderr, "form %s: listed as slow, proof %s\n", x86_forms[fi].name, equiv_status_name(st));
            } else {
                char cx[2048] = "";
                if (st == EQUIV_REFUTED)
                    equiv_cex_format(&r.cex, cx, sizeof cx);
                char hex[100] = "";
                for (size_t i = 0; i < len; i++)
                    snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", code[i]);
                fprintf(stderr, "form %s [%s] live %#x: %s %s %s\n", x86_forms[fi].name, hex, live,
                        equiv_status_name(st), r.msg, cx);
                failed++;
            }
        }
    }
    equiv_ctx_free(q);
    fprintf(stderr, "forms: %u instances proved, %u failed, %u slow (of %u forms)\n", proved, failed,
            slow, (unsigned)X86_FORM_COUNT);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_every_form_proved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
