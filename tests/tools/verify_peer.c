/* verify_peer — test stage around verify (tests/integration/test_verify_stage.c).
 *
 *   verify_peer --feed      source: emits six records: a correct candidate
 *                           (mov eax, ebx), garbage bytes, a correct candidate
 *                           (add eax, ebx with flags), a candidate with
 *                           oversized microcode, a wrong candidate (lea with
 *                           an off-by-one displacement), a QEMU-only one.
 *   verify_peer --collect   sink: decodes VERDICT records and writes
 *                           REPORT_DIR/verify_peer.txt:
 *                           "verdicts V proved P refuted R not_attempted N other O bad B tests T failed F"
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pixel_asm.h"
#include "records.h"
#include "stage.h"

static const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static int emit_candidate(struct stage *st, struct rec_buf *b, uint64_t id, const uint8_t *code, uint32_t len,
                          x86_locset live, const char *pixel, uint32_t force_ninsns, uint8_t method)
{
    static uint8_t ops[4 * 8192];
    struct pixel_insn prog[64];
    char err[320];
    uint32_t n = 0;
    if (pixel) {
        int k = pixel_asm(pixel, prog, 64, err, sizeof err);
        if (k < 0) {
            log_error("asm: %s", err);
            return -1;
        }
        n = (uint32_t)k;
        pixel_encode(prog, n, ops);
    }
    if (force_ninsns) {
        memset(ops, 0, 4 * (size_t)force_ninsns);   /* NOPs */
        n = force_ninsns;
    }
    struct rec r = { .type = REC_CANDIDATE };
    struct rec_candidate *c = &r.u.candidate;
    c->job = (struct rec_synth_job){ .job_id = id, .template_key = { key, 64 }, .code = { code, len },
                                     .cpu_mode = 64, .live_out = live };
    c->method = method;
    c->pixel_ops = (struct rec_bin){ ops, 4 * n };
    c->reason = (struct rec_str){ method == 3 ? "syscall" : "", method == 3 ? 7 : 0 };
    c->mnemonic = (struct rec_str){ "", 0 };
    rec_buf_reset(b);
    struct rec_error re;
    if (rec_encode(b, &r, &re) < 0) {
        log_error("encode: %s", re.msg);
        return -1;
    }
    return stage_emit(st, 0, b->data, b->len);
}

static int feed(struct stage *st)
{
    struct rec_buf b;
    rec_buf_init(&b);
    static const uint8_t mov[] = { 0x89, 0xd8 }, add[] = { 0x01, 0xd8 }, lea[] = { 0x48, 0x8d, 0x43, 0x10 },
                         sys[] = { 0x0f, 0x05 };
    static const uint8_t garbage[] = { 0x95, 0x12, 0x01, 0xc0, 0xc0, 0xc0 };
    const char *add_ok =
        "ZEXT32 R24, R0\n ZEXT32 R25, R3\n ADD R26, R24, R25\n ZEXT32 R0, R26\n"
        " SHRI R16, R26, 32\n CMPEQZ R19, R0\n BIT R20, R0, 31\n PARITY R17, R0\n"
        " XOR R27, R24, R25\n XOR R27, R27, R0\n BIT R18, R27, 4\n"
        " XOR R28, R24, R0\n XOR R29, R25, R0\n AND R28, R28, R29\n BIT R21, R28, 31\n ADDI R22, R22, 2\n";
    int rc = 0;
    rc |= emit_candidate(st, &b, 1, mov, 2, X86_LOC_GPR(X86_RAX), "ZEXT32 R0, R3\n ADDI R22, R22, 2\n", 0, 0);
    rc |= stage_emit(st, 0, garbage, sizeof garbage);
    rc |= emit_candidate(st, &b, 2, add, 2, X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS | X86_LOC_RIP, add_ok, 0, 1);
    rc |= emit_candidate(st, &b, 3, mov, 2, X86_LOC_GPR(X86_RAX), NULL, 8000, 0);
    rc |= emit_candidate(st, &b, 4, lea, 4, X86_LOC_GPR(X86_RAX), "ADDI R0, R3, 17\n ADDI R22, R22, 4\n", 0, 0);
    rc |= emit_candidate(st, &b, 5, sys, 2, 0, NULL, 0, 3);
    rec_buf_free(&b);
    return rc < 0 ? 1 : 0;
}

static int collect(struct stage *st)
{
    unsigned long long v = 0, proof[5] = { 0 }, other = 0, bad = 0, tests = 0, failed = 0;
    struct rec_arena a;
    rec_arena_init(&a);
    struct stage_rec in;
    while (stage_next(st, &in) > 0) {
        struct rec r;
        struct rec_error err;
        rec_arena_reset(&a);
        if (rec_decode(in.data, in.len, &r, &a, &err) < 0 || r.type != REC_VERDICT) {
            bad++;
        } else {
            v++;
            if (r.u.verdict.proof < 5) proof[r.u.verdict.proof]++;
            else other++;
            tests += r.u.verdict.tests_unicorn + r.u.verdict.tests_native;
            failed += r.u.verdict.tests_failed;
        }
        stage_done(st, &in);
    }
    rec_arena_free(&a);
    char path[4096];
    snprintf(path, sizeof path, "%s/verify_peer.txt", st->report_dir ? st->report_dir : ".");
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "verdicts %llu proved %llu refuted %llu not_attempted %llu other %llu bad %llu tests %llu failed %llu\n",
            v, proof[0], proof[1], proof[4], other + proof[2] + proof[3], bad, tests, failed);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    int mode = 0;
    static const struct option opts[] = { { "feed", no_argument, NULL, 'f' }, { "collect", no_argument, NULL, 'c' },
                                          { NULL, 0, NULL, 0 } };
    for (int ch; (ch = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (ch == 'f') mode = 1;
        else if (ch == 'c') mode = 2;
        else {
            fprintf(stderr, "usage: verify_peer --feed | --collect\n");
            return 2;
        }
    }
    if (!mode) {
        fprintf(stderr, "usage: verify_peer --feed | --collect\n");
        return 2;
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    int rc = mode == 1 ? feed(&st) : collect(&st);
    int crc = stage_close(&st);
    return rc ? rc : crc;
}
