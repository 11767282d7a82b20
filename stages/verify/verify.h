/* verify.h — the verify stage's logic: one CANDIDATE in, one VERDICT out.
 *
 * Per candidate (docs/verification.md):
 *   1. checks: the record decodes, the job is 64-bit code the oracles take,
 *      the microcode decodes and is at most PIXEL_MAX_INSNS instructions;
 *      a bad record is rejected with a message naming it, counted, and the
 *      stage goes on;
 *   2. proof (common/equiv.h) with a per-template timeout: unsat = proved,
 *      sat = refuted with the counterexample and the differing outputs,
 *      unknown / timeout / not encodable = not accepted, recorded as such;
 *   3. concrete tests (concrete.h): generated states plus every sampled
 *      state of the job, Unicorn and native x86 against the Pixel executor;
 *   4. a VERDICT record (proof, counterexample, tests per oracle, failures,
 *      timings) and one JSON line in the audit log.
 * Accepted = proved AND no failed test AND each x86 oracle compared at
 * least the configured number of states (default 10,000; the seeds' rule).
 * QEMU-only candidates (method 3) carry no microcode: their VERDICT says
 * "not attempted" with no tests, so offload sees every template.
 */
#ifndef TCGL_VERIFY_H
#define TCGL_VERIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "concrete.h"
#include "records.h"

/* The VERDICT proof field. */
enum verify_proof {
    VERIFY_PROVED = 0,
    VERIFY_REFUTED = 1,
    VERIFY_UNKNOWN = 2,
    VERIFY_TIMEOUT = 3,
    VERIFY_NOT_ATTEMPTED = 4,
};

#define VERIFY_MAX_RECORD (8u << 20)   /* larger input records are rejected unread */

struct verify_options {
    unsigned proof_timeout_ms;   /* per template (default 5000) */
    bool prove;                  /* default true */
    bool test;                   /* default true */
    struct vconc_opts conc;      /* states (default 10,000), seed, chunk */
};

void verify_options_default(struct verify_options *o);

struct verify_stats {
    uint64_t candidates, accepted, rejected, qemu_only, bad_records;
    uint64_t proved, refuted, unknown, timeout, not_attempted;
    uint64_t tests_unicorn, tests_native, tests_failed, oracle_disagreements, samples_skipped;
};

struct verify_outcome {
    enum verify_proof proof;
    bool accepted;
    uint64_t proof_us;
    struct vconc_result conc;    /* zero when not tested */
    char reason[512];            /* why not accepted ("" when accepted) */
    char counterexample[8192];   /* the proof's counterexample and/or the first failing state */
};

struct verifier;

/* audit: JSON lines appended per candidate (may be NULL).  NULL on failure
 * (the oracles could not start; logged). */
struct verifier *verifier_new(const struct verify_options *o, FILE *audit);
void verifier_free(struct verifier *v);
const struct verify_stats *verifier_stats(const struct verifier *v);

/* Verifies a decoded candidate.  Returns 0, or -1 when the candidate is
 * malformed (out->reason says what and where; counted as a bad record). */
int verify_candidate(struct verifier *v, const struct rec_candidate *c, struct verify_outcome *out);

/* The stage step: decodes one input record, verifies it and encodes its
 * VERDICT into `out` (reset first).  Returns 1 when a VERDICT was encoded,
 * 0 when the record was rejected (err says why, counted, nothing emitted). */
int verify_record(struct verifier *v, const void *data, size_t len, struct rec_buf *out, char *err,
                  size_t errlen);

#endif /* TCGL_VERIFY_H */
