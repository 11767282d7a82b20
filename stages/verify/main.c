/* verify — the verification stage: CANDIDATE records in, VERDICT records out
 * (port "verdicts").  Proof (Z3) and concrete differential tests (Unicorn,
 * host CPU, Pixel executor) per candidate; the logic is verify.c, concrete.c;
 * this file parses options, runs the stage loop and hands records over.
 * docs/verification.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stage.h"
#include "verify.h"

static const char usage[] =
    "usage: verify [--states N] [--seed N] [--proof-timeout MS] [--no-proof] [--no-tests]\n"
    "              [--audit FILE]\n"
    "\n"
    "Pipeline stage (started by pipectl; a worker pool): reads CANDIDATE records from\n"
    "synth, proves each candidate's Pixel microcode equivalent to its x86 template\n"
    "with Z3, tests it on random, edge-biased and sampled states against QEMU's TCG\n"
    "(Unicorn) and the host CPU, and emits one VERDICT record per candidate on its\n"
    "first output port.  A malformed or oversized record is rejected with a message\n"
    "and counted; the stage goes on.  One JSON line per candidate goes to the audit log.\n"
    "\n"
    "  --states N          generated states per template (default 10000; samples come on top)\n"
    "  --seed N            state generator seed (default 30307)\n"
    "  --proof-timeout MS  Z3 time per template (default 5000)\n"
    "  --no-proof          skip the proof (verdicts then say \"not attempted\": nothing is accepted)\n"
    "  --no-tests          skip the concrete tests\n"
    "  --audit FILE        audit log (default $TCGL_REPORT_DIR/verify.WORKER.audit.jsonl)\n"
    "  -h, --help          this text\n";

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || !*s || *end || s[0] == '-' || v > max) {
        fprintf(stderr, "verify: %s: not an integer in 0..%llu: '%s'\n", opt, (unsigned long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct verify_options o;
    verify_options_default(&o);
    const char *audit_path = NULL;
    uint64_t v;
    static const struct option longopts[] = {
        { "states", required_argument, 0, 'n' }, { "seed", required_argument, 0, 's' },
        { "proof-timeout", required_argument, 0, 't' }, { "no-proof", no_argument, 0, 'P' },
        { "no-tests", no_argument, 0, 'T' }, { "audit", required_argument, 0, 'a' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'n': if (parse_u64("--states", optarg, 100000000, &v)) return 2; o.conc.nstates = (unsigned)v; break;
        case 's': if (parse_u64("--seed", optarg, UINT64_MAX, &v)) return 2; o.conc.seed = v; break;
        case 't': if (parse_u64("--proof-timeout", optarg, 3600000, &v)) return 2; o.proof_timeout_ms = (unsigned)v; break;
        case 'P': o.prove = false; break;
        case 'T': o.test = false; break;
        case 'a': audit_path = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    struct stage st;
    if (stage_open(argc, argv, &st) < 0) return 2;
    char path[4096];
    if (!audit_path) {
        snprintf(path, sizeof path, "%s/verify.%d.audit.jsonl", st.report_dir ? st.report_dir : ".", st.worker);
        audit_path = path;
    }
    FILE *audit = fopen(audit_path, "a");
    if (!audit) log_warn("verify: audit log %s: %s; continuing without", audit_path, strerror(errno));
    struct verifier *vf = verifier_new(&o, audit);
    if (!vf) return 1;
    int port = st.nports > 0 ? 0 : -1;
    struct rec_buf out;
    rec_buf_init(&out);
    int rc;
    struct stage_rec in;
    while ((rc = stage_next(&st, &in)) > 0) {
        char err[1024];
        if (verify_record(vf, in.data, in.len, &out, err, sizeof err) == 0) {
            log_error("%s (record from %s); skipped", err, in.from);
            stage_count_bad(&st);
        } else if (port >= 0 && stage_emit(&st, port, out.data, out.len) < 0) {
            break;   /* stop requested while waiting: the input stays uncommitted */
        }
        stage_done(&st, &in);
    }
    const struct verify_stats *s = verifier_stats(vf);
    log_info("verify: %llu candidates: %llu accepted, %llu rejected, %llu qemu-only, %llu bad records; "
             "proofs %llu proved / %llu refuted / %llu unknown / %llu timeout / %llu not attempted; "
             "tests %llu unicorn, %llu native, %llu failed; %llu x86 oracle disagreements",
             (unsigned long long)s->candidates, (unsigned long long)s->accepted, (unsigned long long)s->rejected,
             (unsigned long long)s->qemu_only, (unsigned long long)s->bad_records, (unsigned long long)s->proved,
             (unsigned long long)s->refuted, (unsigned long long)s->unknown, (unsigned long long)s->timeout,
             (unsigned long long)s->not_attempted, (unsigned long long)s->tests_unicorn,
             (unsigned long long)s->tests_native, (unsigned long long)s->tests_failed,
             (unsigned long long)s->oracle_disagreements);
    verifier_free(vf);
    rec_buf_free(&out);
    if (audit) fclose(audit);
    return stage_close(&st) ? 1 : (rc < 0 ? 1 : 0);
}
