/* job.c — SYNTH_JOB → CANDIDATE (job.h). */
#include "job.h"

#include <string.h>

void synth_job_run(struct synth *s, const struct rec_synth_job *job, struct synth_job_out *out)
{
    struct synth_result *r = &out->res;
    memset(&out->cand, 0, sizeof out->cand);
    if (job->lib_hit && job->cached_ops.len && job->cached_ops.len % 4 == 0 &&
        job->cached_ops.len <= sizeof out->ops) {
        memset(r, 0, sizeof *r);
        r->outcome = SYNTH_HIT;
        r->method = LIBRARY_METHOD_LIBRARY_HIT;
        memcpy(out->ops, job->cached_ops.ptr, job->cached_ops.len);
        r->nops = job->cached_ops.len / 4;
        for (size_t i = 0; i < r->nops; i++)
            r->ops[i] = (struct pixel_insn){ out->ops[4 * i], out->ops[4 * i + 1], out->ops[4 * i + 2],
                                             out->ops[4 * i + 3] };
        r->cost = r->baseline_cost = synth_cost(r->ops, r->nops);
    } else {
        synth_template(s, job->job_id, job->code.ptr, job->code.len, job->cpu_mode, job->live_out, r);
        pixel_encode(r->ops, r->nops, out->ops);
    }
    out->cand.job = *job;
    out->cand.method = (uint8_t)r->method;
    out->cand.pixel_ops = (struct rec_bin){ out->ops, (uint32_t)(4 * r->nops) };
    out->cand.cost = r->cost;
    out->cand.baseline_cost = r->baseline_cost;
    out->cand.synth_us = r->synth_us;
    out->cand.reason = (struct rec_str){ r->reason, (uint32_t)strlen(r->reason) };
    out->cand.mnemonic = (struct rec_str){ r->mnemonic, (uint32_t)strlen(r->mnemonic) };
}
