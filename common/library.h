/* library.h — the content-addressed microcode library (REQ-TL-006).
 *
 * Maps a canonical x86 template (plus everything its microcode depends on)
 * to verified Pixel microcode, or to a QEMU-only marker that says why the
 * template cannot be translated.  Synth looks a template up before
 * synthesizing (a hit skips synthesis; a QEMU-only hit skips the attempt),
 * verify/offload store proved microcode, offload records measured speedups.
 * docs/library.md is the user-facing description.
 *
 * Key.  SHA-256 over a domain tag and, in this order, the ISA version, the
 * semantics version, the cpu mode, the live-out set and the canonical code
 * bytes (all integers little-endian; see library_key).  Any change of the
 * Pixel ISA or of the x86 semantics bumps a version and therefore misses:
 * stale microcode is never served.  Cluster uses the same key as the
 * SYNTH_JOB template_key, so a key names one library entry everywhere.
 *
 * Storage.  One JSON file per key, DIR/<key>.json (0600; DIR is created
 * 0700), written atomically: a temp file in DIR, fsync, rename, fsync of DIR.
 * Readers never see a torn entry; concurrent writers of one key leave one
 * complete entry.  Read-modify-write updates (put over an existing entry,
 * speedup updates, prune) hold an exclusive flock on DIR/.lock so that no
 * update is lost between processes.
 *
 * Index.  The directory itself is the persistent index (the file name is the
 * key; ext4 directories are hashed), so it can never disagree with the
 * entries.  A handle keeps an in-memory hash table, loaded from the names in
 * DIR at open, that caches parsed entries together with the file's identity
 * (inode, size, mtime): a lookup of a cached entry costs one stat(); an entry
 * another process rewrote is re-read; a key missing from the table is
 * re-checked on disk (another process may have added it since open).
 *
 * Corruption.  A file that does not parse, lacks a field, has a field of the
 * wrong type or range, or whose content does not hash to its file name is
 * ignored with one warning naming the file and counted (stats.corrupt); the
 * lookup reports a miss, so synthesis runs again and its put repairs it.
 *
 * A handle is not thread-safe: use one per thread.  Processes may share DIR,
 * and a handle stays correct on both sides of fork() (the lock file is
 * opened per operation, directory listings use their own descriptor).
 */
#ifndef TCGL_LIBRARY_H
#define TCGL_LIBRARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pixel_isa.h"
#include "sha256.h"
#include "x86_state.h"

/* Versions folded into every key.  The ISA version is the Pixel ISA's own
 * (PIXEL_ISA_VERSION in pixel_isa.h, bumped when an opcode's number or
 * meaning or the guest-state convention changes).  Bump
 * LIBRARY_SEMANTICS_VERSION when the x86 model's semantics, the supported
 * forms or the canonicalisation of templates changes.  Callers may pass
 * other values (library_open options, struct library_template) — tests do. */
#define LIBRARY_ISA_VERSION       ((uint32_t)PIXEL_ISA_VERSION)
#define LIBRARY_SEMANTICS_VERSION 1u

/* Format tag stored in every entry ("format" field). */
#define LIBRARY_FORMAT "tcgl-microcode/1"

#define LIBRARY_KEY_HEX_LEN   SHA256_HEX_LEN         /* 64 */
#define LIBRARY_MAX_CODE      4096u                  /* canonical x86 bytes */
#define LIBRARY_MAX_OPS       65536u                 /* Pixel instructions */
#define LIBRARY_MAX_SPEEDUPS  8
#define LIBRARY_TEXT_MAX      256                    /* reason, workload, counterexample */
#define LIBRARY_NAME_MAX      32                     /* mnemonic, executor name */
#define LIBRARY_MAX_ENTRY_BYTES (8u << 20)           /* a larger file is corrupt */

/* What a key is computed over.  code is the canonical template (cluster's
 * register-renamed bytes), cpu_mode 16/32/64. */
struct library_template {
    const uint8_t *code;
    size_t code_len;
    uint8_t cpu_mode;
    x86_locset live_out;
    uint32_t isa_version;
    uint32_t semantics_version;
};

/* Fill isa_version/semantics_version with the compiled-in defaults. */
struct library_template library_template_make(const uint8_t *code, size_t code_len,
                                              uint8_t cpu_mode, x86_locset live_out);

/* Key of a template: 64 lower-case hex digits + NUL.  Also the binary form
 * when `bin` is not NULL. */
void library_key(const struct library_template *t, char key_hex[LIBRARY_KEY_HEX_LEN + 1],
                 uint8_t bin[SHA256_DIGEST_LEN]);

enum library_kind { LIBRARY_KIND_VERIFIED, LIBRARY_KIND_QEMU_ONLY };

/* Numbers as in the CANDIDATE record's method field. */
enum library_method {
    LIBRARY_METHOD_BASELINE = 0,
    LIBRARY_METHOD_OPTIMIZED = 1,
    LIBRARY_METHOD_LIBRARY_HIT = 2,
    LIBRARY_METHOD_QEMU_ONLY = 3,
};

/* Numbers as in the VERDICT record's proof field. */
enum library_proof {
    LIBRARY_PROOF_PROVED = 0,
    LIBRARY_PROOF_REFUTED = 1,
    LIBRARY_PROOF_UNKNOWN = 2,
    LIBRARY_PROOF_TIMEOUT = 3,
    LIBRARY_PROOF_NOT_ATTEMPTED = 4,
};

struct library_speedup {
    char executor[LIBRARY_NAME_MAX];   /* "batched", "interp", "cuda", "native", ... */
    double ratio;                      /* QEMU TCG time / executor time (>1: faster) */
};

/* One entry.  code and pixel_ops are heap buffers owned by the entry
 * (library_entry_free); everything else is inline. */
struct library_entry {
    char key[LIBRARY_KEY_HEX_LEN + 1];   /* "x86_hash" */
    enum library_kind kind;

    /* the key parts (the template) */
    uint8_t *code;
    size_t code_len;
    uint8_t cpu_mode;
    x86_locset live_in;                  /* informational, not part of the key */
    x86_locset live_out;
    uint32_t isa_version;
    uint32_t semantics_version;

    /* the microcode: 4 bytes per Pixel instruction [opcode, rd, rs1, rs2];
     * empty for a QEMU-only marker */
    uint8_t *pixel_ops;
    size_t pixel_ops_len;                /* bytes, a multiple of 4 */

    enum library_method method;
    uint32_t cost, baseline_cost;        /* cost model units */

    enum library_proof proof;
    uint32_t tests_unicorn, tests_native, tests_failed;
    uint64_t synth_us, proof_us, test_us;

    struct library_speedup speedup[LIBRARY_MAX_SPEEDUPS];
    unsigned nspeedups;

    uint64_t instances;                  /* blocks seen with this template */
    char first_seen_workload[LIBRARY_TEXT_MAX];

    /* QEMU-only markers */
    char reason[LIBRARY_TEXT_MAX];
    char mnemonic[LIBRARY_NAME_MAX];

    time_t created, updated;             /* UTC, seconds */
};

/* Zero an entry (no buffers). */
void library_entry_init(struct library_entry *e);
/* Release the entry's buffers and zero it. */
void library_entry_free(struct library_entry *e);
/* Deep copy; returns false on allocation failure (dst left initialised). */
bool library_entry_copy(struct library_entry *dst, const struct library_entry *src);
/* Set code / pixel_ops (copied). */
bool library_entry_set_code(struct library_entry *e, const uint8_t *code, size_t len);
bool library_entry_set_ops(struct library_entry *e, const uint8_t *ops, size_t len);
/* Recompute e->key from the template parts in e. */
void library_entry_rekey(struct library_entry *e);

/* Serialize to JSON (malloc'd, NUL-terminated, ends with a newline).  NULL on
 * allocation failure. */
char *library_entry_to_json(const struct library_entry *e);

/* Parse and validate one entry.  `expect_key` (may be NULL) is the key the
 * file name promises.  On failure returns false with a one-line reason in
 * err (field and value named) and `out` initialised and empty.  Never trusts
 * a length, type or count: this is the fuzz target's entry point. */
bool library_entry_parse(const char *json, size_t len, const char *expect_key,
                         struct library_entry *out, char *err, size_t errlen);

/* Names of the enums as stored in JSON ("verified", "optimized", "proved", ...). */
const char *library_kind_name(enum library_kind k);
const char *library_method_name(enum library_method m);
const char *library_proof_name(enum library_proof p);

/* ---- the store ---------------------------------------------------------- */

struct library;

struct library_options {
    uint32_t isa_version;         /* 0: LIBRARY_ISA_VERSION */
    uint32_t semantics_version;   /* 0: LIBRARY_SEMANTICS_VERSION */
    bool read_only;               /* never create DIR, refuse puts */
};

/* Open (creating DIR 0700 unless read_only) and load the index.  opts may
 * be NULL.  NULL on error (logged, naming the directory). */
struct library *library_open(const char *dir, const struct library_options *opts);
void library_close(struct library *lib);

const char *library_dir(const struct library *lib);
uint32_t library_isa_version(const struct library *lib);
uint32_t library_semantics_version(const struct library *lib);

/* Key of a template under this library's versions. */
void library_key_for(const struct library *lib, const uint8_t *code, size_t code_len,
                     uint8_t cpu_mode, x86_locset live_out,
                     char key_hex[LIBRARY_KEY_HEX_LEN + 1]);

enum library_result {
    LIBRARY_ERROR = -1,           /* I/O error, bad argument (logged) */
    LIBRARY_MISS = 0,             /* no usable entry (absent, or corrupt: counted) */
    LIBRARY_HIT = 1,              /* verified microcode */
    LIBRARY_HIT_QEMU_ONLY = 2,    /* a QEMU-only marker: do not attempt */
};

/* Look a key up.  On a hit `out` (may be NULL) receives a deep copy (free
 * it with library_entry_free); otherwise it is left initialised and empty. */
enum library_result library_lookup(struct library *lib, const char *key,
                                   struct library_entry *out);

/* Store verified microcode.  e->key must equal the key of e's template (it
 * is recomputed if empty).  Over an existing entry of the same key, keeps
 * its created time, first_seen_workload and speedups (unless e brings its
 * own), and adds instance counts.  Replaces a QEMU-only marker.  Returns 0
 * or -1 (logged; nothing half-written is left behind). */
int library_put_verified(struct library *lib, const struct library_entry *e);

/* Mark a template QEMU-only.  Does nothing (returns 1) when verified
 * microcode already exists for the key: verified microcode wins.  Returns 0
 * when stored, -1 on error. */
int library_put_qemu_only(struct library *lib, const struct library_template *t,
                          const char *reason, const char *mnemonic, const char *workload);

/* Record (replace) the measured speedup of one executor for an entry.
 * Returns 0, 1 when the key is absent or corrupt, -1 on error. */
int library_update_speedup(struct library *lib, const char *key, const char *executor,
                           double ratio);

/* Add to an entry's instance count.  Returns as library_update_speedup. */
int library_add_instances(struct library *lib, const char *key, uint64_t n);

/* Visit every entry in key order.  For a corrupt file, e is NULL and err
 * says why (the file is also counted in stats.corrupt).  A non-zero return
 * from the callback stops the walk and is returned. */
typedef int (*library_visit_fn)(const char *path, const struct library_entry *e,
                                const char *err, void *ctx);
int library_foreach(struct library *lib, library_visit_fn fn, void *ctx);

/* Find the keys starting with `prefix` (lower-case hex).  Writes at most
 * `max` keys into `keys` and returns how many matched in all (-1 on error). */
int library_find_prefix(struct library *lib, const char *prefix,
                        char (*keys)[LIBRARY_KEY_HEX_LEN + 1], int max);

enum library_prune_flags {
    LIBRARY_PRUNE_VERSION_MISMATCH = 1u << 0,  /* entries of other ISA/semantics versions */
    LIBRARY_PRUNE_QEMU_ONLY        = 1u << 1,  /* QEMU-only markers */
    LIBRARY_PRUNE_OLDER_THAN       = 1u << 2,  /* entries last updated before `before` */
    LIBRARY_PRUNE_CORRUPT          = 1u << 3,  /* files that fail validation */
    LIBRARY_PRUNE_DRY_RUN          = 1u << 4,  /* only count */
};

struct library_prune_result {
    unsigned examined, removed, kept;
    unsigned removed_version, removed_qemu_only, removed_old, removed_corrupt;
    unsigned stale_temp_files;   /* leftovers of crashed writers, always removed */
};

/* Remove the entries selected by `flags` (an entry matching any selected
 * criterion goes).  Returns 0 or -1. */
int library_prune(struct library *lib, unsigned flags, time_t before,
                  struct library_prune_result *res);

struct library_stats {
    uint64_t lookups, hits, qemu_only_hits, misses;
    uint64_t corrupt;             /* corrupt files met (each file counted once per change) */
    uint64_t rechecks;            /* misses re-checked on disk */
    uint64_t puts, updates, write_errors;
    uint64_t entries;             /* keys in the in-memory index */
};
void library_get_stats(const struct library *lib, struct library_stats *st);

/* File of a key inside the library: DIR/<key>.json. */
int library_entry_path(const struct library *lib, const char *key, char *buf, size_t len);

#endif /* TCGL_LIBRARY_H */
