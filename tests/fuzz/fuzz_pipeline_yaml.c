/* fuzz_pipeline_yaml.c — libFuzzer target for the pipeline.yaml loader.
 *
 * Any input must either load or fail with a "FILE:LINE:COL: ..." message;
 * never crash, hang, leak or read out of bounds.  Seed corpus:
 * tests/fuzz/corpus/fuzz_pipeline_yaml/ (the valid and malformed examples).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONFIG_ERR_MAX];
    struct config *cfg = config_load_buffer("/fuzz/pipeline.yaml", (const char *)data, size, err, sizeof err);
    if (cfg) {
        /* a loaded config is internally consistent */
        for (int e = 0; e < cfg->nedges; e++) {
            const struct config_edge *ed = &cfg->edges[e];
            if (ed->from < 0 || ed->from >= cfg->nstages || ed->to < 0 || ed->to >= cfg->nstages ||
                ed->from_port < 0 || ed->from_port >= cfg->stages[ed->from].nports || ed->from == ed->to)
                abort();
        }
        for (int s = 0; s < cfg->nstages; s++)
            if (cfg->stages[s].workers < 1 || cfg->stages[s].workers > CONFIG_MAX_WORKERS)
                abort();
        config_free(cfg);
    } else if (strncmp(err, "/fuzz/pipeline.yaml:", 20) != 0) {
        abort();   /* every error names the file and a position */
    }
    return 0;
}
