/* job.h — SYNTH_JOB record in, CANDIDATE record out (the stage's hand-off,
 * testable without processes).  A job the cluster already answered from the
 * library (lib_hit with cached ops) becomes a library-hit candidate without
 * synthesis; anything else goes through synth_template. */
#ifndef TCGL_SYNTH_JOB_H
#define TCGL_SYNTH_JOB_H

#include "records.h"
#include "synth.h"

struct synth_job_out {
    struct synth_result res;
    uint8_t ops[4 * SYNTH_MAX_OPS];
    struct rec_candidate cand;      /* points into res, ops and the job */
};

/* Fills out->cand for `job`.  Never fails: bad jobs become QEMU-only
 * candidates with the reason. */
void synth_job_run(struct synth *s, const struct rec_synth_job *job, struct synth_job_out *out);

#endif
