/* rel_cand_source — test stage for the reliability tests: a synth stand-in
 * that emits COUNT valid QEMU-only CANDIDATE records (method 3), each for a
 * distinct template: code = I nops then cpuid (0f a2), 64-bit, live-out rax,
 * with the template key the library computes for it.  verify passes them
 * through as VERDICTs (proof "not attempted") and offload stores one
 * QEMU-only marker per template in the library, so the count of markers at
 * the end says whether any record was lost.
 *
 *   rel_cand_source [--count N]        (default 20, at most 64)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "library.h"
#include "log.h"
#include "records.h"
#include "stage.h"

int main(int argc, char **argv)
{
    unsigned count = 20;
    static const struct option opts[] = { { "count", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'n') count = (unsigned)strtoul(optarg, NULL, 10);
        else { fprintf(stderr, "usage: rel_cand_source [--count N]\n"); return 2; }
    }
    if (count > 64) count = 64;
    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    struct rec_buf b;
    rec_buf_init(&b);
    int rc = 0;
    for (unsigned i = 0; i < count && !rc && !stage_should_stop(&st); i++) {
        uint8_t code[80];
        memset(code, 0x90, i);
        code[i] = 0x0f;
        code[i + 1] = 0xa2;
        size_t len = i + 2;
        x86_locset live_out = 1u;   /* rax */
        struct library_template t = library_template_make(code, len, 64, live_out);
        char key[LIBRARY_KEY_HEX_LEN + 1];
        library_key(&t, key, NULL);
        struct rec r;
        memset(&r, 0, sizeof r);
        r.type = REC_CANDIDATE;
        struct rec_candidate *c = &r.u.candidate;
        c->job.job_id = i + 1;
        c->job.template_key = rec_str_c(key);
        c->job.code = (struct rec_bin){ code, (uint32_t)len };
        c->job.cpu_mode = 64;
        c->job.live_in = 0;
        c->job.live_out = live_out;
        c->job.exec_count = 1000 + i;
        c->method = 3;
        c->reason = rec_str_c("unsupported instruction cpuid");
        c->mnemonic = rec_str_c("cpuid");
        struct rec_error err;
        rec_buf_reset(&b);
        if (rec_encode(&b, &r, &err) < 0) {
            log_error("rel_cand_source: %s", err.msg);
            rc = 1;
        } else if (stage_emit(&st, 0, b.data, b.len) < 0) {
            rc = 1;
        }
    }
    rec_buf_free(&b);
    int cr = stage_close(&st);
    return rc ? 1 : cr;
}
