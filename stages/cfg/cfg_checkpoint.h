/* cfg_checkpoint.h — cfg's durable state: a snapshot of the graph plus a
 * journal of what was consumed since, paired with the input queues' cursors
 * (docs/cfg.md "Crash safety").
 *
 * Files (in the run directory, 0600):
 *   NAME.snap     the graph image (cfg_image.h), the input table with the ring
 *                 position each input was consumed to, and the generation of
 *                 the journal that follows it.  Written to NAME.snap.tmp,
 *                 fdatasync'ed, renamed over NAME.snap.
 *   NAME.journal  a header (its generation) and entries appended as cfg works:
 *                 every consumed input record (raw msgpack; a record that did
 *                 not decode is a payload-less entry), each with its input
 *                 and the ring position after it; and an EMIT mark before
 *                 each batch of BLOCK records cfg pushes, with the stage's
 *                 output count before the batch.  Written (not fsynced: the
 *                 queues it pairs with live in tmpfs and do not outlive the
 *                 machine either) before the input is committed.
 *
 * Every header and entry carries a checksum.  An entry cut short at the end
 * of the journal (a process killed in the middle of a write) was never
 * committed and is dropped; anything else that does not check out is an
 * error that names the file, the entry or field, and the offset.
 */
#ifndef TCGL_CFG_CHECKPOINT_H
#define TCGL_CFG_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "cfg_image.h"

#define CFG_CKPT_VERSION 1u
#define CFG_CKPT_MAX_INPUTS 64
#define CFG_CKPT_PATH_MAX 192

/* The input queues and how far each was consumed. */
struct cfg_ckpt_input {
    char path[CFG_CKPT_PATH_MAX];
    uint64_t capacity;
    uint64_t pos;           /* ring position after the last consumed record */
};

/* What a snapshot holds beside the graph. */
struct cfg_ckpt_meta {
    uint64_t generation;    /* the journal generation that follows this snapshot */
    uint32_t ninputs;
    struct cfg_ckpt_input in[CFG_CKPT_MAX_INPUTS];
    bool dirty;             /* records consumed since the last final emission */
};

/* Index of `path` in meta (added when absent and room is left), or -1. */
int cfg_ckpt_input_slot(struct cfg_ckpt_meta *m, const char *path, uint64_t capacity, bool add);

/* Snapshot: write atomically (temp, fdatasync, rename); read and check.
 * Both return true, or false with err = "FILE: what (field, offset)". */
bool cfg_snapshot_save(const char *path, const struct cfg *g, const struct cfg_ckpt_meta *m,
                       uint64_t *bytes_written, char *err, size_t errlen);
/* g must not be initialised; it is on success only.  ENOENT: *missing = true. */
bool cfg_snapshot_load(const char *path, struct cfg *g, struct cfg_ckpt_meta *m, bool *missing, char *err,
                       size_t errlen);

/* ---- journal ---------------------------------------------------------------------- */

enum cfg_journal_type {
    CFG_J_RECORD = 1,       /* payload: one input record (msgpack) */
    CFG_J_BAD = 2,          /* an input record that did not decode (no payload) */
    CFG_J_INPUT = 3,        /* payload: u64 capacity, path; `input` is its slot */
    CFG_J_EMIT = 4,         /* payload: u8 kind, u64 emit_min, u64 out_base */
};

enum cfg_emit_kind { CFG_EMIT_HOT = 1, CFG_EMIT_FINAL = 2 };

struct cfg_journal {
    int fd;
    char path[4096];
    uint64_t generation;
    uint64_t size;          /* bytes in the file (after the last write) */
    struct cfg_bytes buf;   /* entries not yet written */
};

/* Creates (or replaces, atomically) an empty journal of `generation`. */
bool cfg_journal_create(struct cfg_journal *j, const char *path, uint64_t generation, char *err, size_t errlen);
/* Opens an existing journal for appending at `valid_len` (what replay
 * accepted: a torn tail is cut off). */
bool cfg_journal_reopen(struct cfg_journal *j, const char *path, uint64_t generation, uint64_t valid_len,
                        char *err, size_t errlen);
void cfg_journal_add(struct cfg_journal *j, uint8_t type, uint16_t input, uint64_t pos, const void *payload,
                     uint32_t len);
/* Writes the buffered entries.  False (err) when the write failed. */
bool cfg_journal_flush(struct cfg_journal *j, char *err, size_t errlen);
void cfg_journal_close(struct cfg_journal *j);

/* One journal entry as replay sees it. */
struct cfg_journal_entry {
    uint8_t type;
    uint16_t input;
    uint64_t pos;
    const uint8_t *payload;
    uint32_t len;
    uint64_t offset;        /* in the file */
};
typedef bool (*cfg_journal_fn)(void *ctx, const struct cfg_journal_entry *e, char *err, size_t errlen);

/* Reads the journal and calls fn for each entry (fn NULL: the header only).  *generation gets the
 * file's; *valid_len the length up to the last whole entry; *torn the bytes
 * cut off after it.  ENOENT: *missing = true.  False with err on a bad header,
 * a corrupt entry or when fn fails. */
bool cfg_journal_replay(const char *path, cfg_journal_fn fn, void *ctx, uint64_t *generation,
                        uint64_t *valid_len, uint64_t *torn, bool *missing, char *err, size_t errlen);

#endif
