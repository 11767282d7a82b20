/* config.h — pipeline.yaml: what runs, how it is wired, where results go.
 *
 * One loader (libyaml) validates the whole file up front, so pipectl, the
 * tracer launcher and the fuzz target all see the same schema and the same
 * errors.  Every error names file:line:column and says what was expected;
 * docs/pipeline.md documents the schema with a commented example.
 *
 * Strings may use ${VAR} and ${VAR:-default} (environment); relative paths
 * are resolved against the directory holding the YAML file.
 */
#ifndef TCGL_CONFIG_H
#define TCGL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_NAME_MAX      32   /* stage, port and pipeline names: [A-Za-z0-9_-] */
#define CONFIG_MAX_STAGES    32
#define CONFIG_MAX_PORTS     4    /* output ports per stage */
#define CONFIG_MAX_EDGES     64
#define CONFIG_MAX_WORKERS   32   /* per stage */
#define CONFIG_MAX_ARGS      64
#define CONFIG_MAX_WORKLOADS 64
#define CONFIG_QUEUE_MIN     (4u * 1024u)
#define CONFIG_QUEUE_MAX     (1024u * 1024u * 1024u)
#define CONFIG_ERR_MAX       512

enum config_overflow { CONFIG_OVERFLOW_BLOCK, CONFIG_OVERFLOW_DROP };

struct config_restart {
    uint32_t max_restarts;   /* more than this many restarts within window_ms: crash loop */
    uint32_t window_ms;
    uint32_t backoff_ms;     /* first delay; doubles on each restart in the window */
    uint32_t backoff_max_ms;
};

struct config_stage {
    char name[CONFIG_NAME_MAX];
    char *executable;                   /* resolved path */
    char *args[CONFIG_MAX_ARGS];        /* argv[1..]; NULL-terminated */
    int nargs;
    uint32_t workers;
    uint64_t queue_size;                /* bytes, each of this stage's input queues */
    enum config_overflow overflow;      /* of its input queues */
    struct config_restart restart;
    char ports[CONFIG_MAX_PORTS][CONFIG_NAME_MAX];  /* output port names; default "out" */
    int nports;
    int line;                           /* where the stage was declared */
};

struct config_edge {
    int from, from_port;                /* stage index, port index */
    int to;                             /* stage index */
    uint64_t queue_size;                /* bytes (stage's default unless overridden) */
    enum config_overflow overflow;
    int line, col;                      /* where the edge was declared */
};

struct config_vm {
    bool present;
    char *kernel;
    char *initrd;                       /* may be NULL */
    uint32_t memory_mib;
    uint32_t cpus;
    char *workloads[CONFIG_MAX_WORKLOADS];
    int nworkloads;
    char *plugin_args[CONFIG_MAX_ARGS]; /* "key=value" strings given to trace_logger.so */
    int nplugin_args;
    int icount;                         /* -1: off; else the shift */
    uint32_t timeout_s;                 /* guest run time limit */
};

struct config {
    char *path;                         /* absolute path of the YAML file */
    char name[CONFIG_NAME_MAX];
    char *run_dir;
    char *shm_dir;
    char *library_dir, *report_dir, *log_dir;
    struct config_vm vm;
    struct config_stage stages[CONFIG_MAX_STAGES];
    int nstages;
    struct config_edge edges[CONFIG_MAX_EDGES];
    int nedges;
};

/* Load and validate `path`.  Returns NULL on error with a message
 * "FILE:LINE:COL: what was wrong; what was expected" in err. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* Same from memory; `name` is used in messages and as the base for relative paths. */
struct config *config_load_buffer(const char *name, const char *data, size_t len,
                                  char *err, size_t errlen);
void config_free(struct config *cfg);

/* Stages in pipeline order (every stage after the stages that feed it) into
 * order[0..nstages); returns how many could be ordered, fewer than nstages
 * when the edges form a cycle.  indeg_left (may be NULL) receives each
 * stage's inputs not yet ordered: non-zero on or behind a cycle. */
int config_topo_order(const struct config *cfg, int *order, int *indeg_left);

/* Index of the stage called `name`, or -1. */
int config_stage_index(const struct config *cfg, const char *name);
/* Index of `port` among the output ports of stage `s`, or -1. */
int config_port_index(const struct config *cfg, int s, const char *port);

/* Parse helpers shared with the CLI: sizes ("4M", "64KiB", "4096") and
 * durations ("200ms", "5s", "2m"; a bare number is seconds).  0 on success. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration_ms(const char *s, uint32_t *out);

const char *config_overflow_name(enum config_overflow o);

#endif /* TCGL_CONFIG_H */
