/* test_library_store.c — the microcode library in one process: round trips
 * of verified entries and QEMU-only markers, misses on a version or live-out
 * change, entries added or rewritten by another handle, corrupt entries
 * detected and counted, updates, walking, prune. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <time.h>

#include "library_test_util.h"
#include "log.h"

#define LIVE_OUT_ADD (X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS)

struct fixture {
    char *dir;
    char *logbuf;
    size_t loglen;
    FILE *log;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = ltu_tempdir();
    if (!f->dir)
        return -1;
    /* A subdirectory that does not exist yet: library_open creates it. */
    char *sub = malloc(strlen(f->dir) + 16);
    sprintf(sub, "%s/lib", f->dir);
    free(f->dir);
    f->dir = sub;
    f->log = open_memstream(&f->logbuf, &f->loglen);
    log_set_stream(f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    log_set_stream(NULL);
    fclose(f->log);
    free(f->logbuf);
    char *parent = strdup(f->dir);
    *strrchr(parent, '/') = '\0';
    free(f->dir);
    ltu_rmtree(parent);
    free(f);
    return 0;
}

/* What was logged since the last call. */
static const char *logged(struct fixture *f)
{
    fflush(f->log);
    return f->logbuf ? f->logbuf : "";
}

static void assert_entries_equal(const struct library_entry *a, const struct library_entry *b)
{
    assert_string_equal(a->key, b->key);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->code_len, b->code_len);
    assert_memory_equal(a->code, b->code, a->code_len);
    assert_int_equal(a->pixel_ops_len, b->pixel_ops_len);
    if (a->pixel_ops_len)
        assert_memory_equal(a->pixel_ops, b->pixel_ops, a->pixel_ops_len);
    assert_int_equal(a->cpu_mode, b->cpu_mode);
    assert_int_equal(a->live_in, b->live_in);
    assert_int_equal(a->live_out, b->live_out);
    assert_int_equal(a->isa_version, b->isa_version);
    assert_int_equal(a->semantics_version, b->semantics_version);
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->cost, b->cost);
    assert_int_equal(a->baseline_cost, b->baseline_cost);
    assert_int_equal(a->proof, b->proof);
    assert_int_equal(a->tests_unicorn, b->tests_unicorn);
    assert_int_equal(a->tests_native, b->tests_native);
    assert_int_equal(a->tests_failed, b->tests_failed);
    assert_int_equal(a->synth_us, b->synth_us);
    assert_int_equal(a->proof_us, b->proof_us);
    assert_int_equal(a->test_us, b->test_us);
    assert_int_equal(a->instances, b->instances);
    assert_string_equal(a->first_seen_workload, b->first_seen_workload);
    assert_string_equal(a->reason, b->reason);
    assert_string_equal(a->mnemonic, b->mnemonic);
}

static void test_library_verified_round_trip(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    assert_non_null(lib);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    struct library_entry e, got;
    ltu_sample_entry(&e, 0, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    char key[LIBRARY_KEY_HEX_LEN + 1];
    library_key_for(lib, e.code, e.code_len, 64, LIVE_OUT_ADD, key);
    assert_string_equal(key, e.key);

    assert_int_equal(library_lookup(lib, key, &got), LIBRARY_MISS);
    assert_int_equal(library_put_verified(lib, &e), 0);
    assert_int_equal(library_lookup(lib, key, &got), LIBRARY_HIT);
    assert_entries_equal(&e, &got);
    assert_true(got.created > 0 && got.updated >= got.created);
    library_entry_free(&got);

    char path[512];
    assert_int_equal(library_entry_path(lib, key, path, sizeof path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* The seeds' shape: x86_hash and pixel_ops at the top level. */
    char *json = ltu_slurp(path, NULL);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"x86_hash\": \""));
    assert_non_null(strstr(json, key));
    assert_non_null(strstr(json, "\"pixel_ops\": ["));
    free(json);
    library_close(lib);

    /* A fresh handle (a later run) finds it through the index loaded at open. */
    lib = library_open(f->dir, NULL);
    assert_int_equal(library_lookup(lib, key, &got), LIBRARY_HIT);
    assert_entries_equal(&e, &got);
    library_entry_free(&got);
    struct library_stats s;
    library_get_stats(lib, &s);
    assert_int_equal(s.lookups, 1);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.rechecks, 0);
    library_close(lib);
    library_entry_free(&e);
}

static void test_library_qemu_only_round_trip(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    const uint8_t cpuid[] = { 0x0f, 0xa2 };
    struct library_template t = library_template_make(cpuid, sizeof cpuid, 64, X86_LOC_ALL_GPRS);
    char key[LIBRARY_KEY_HEX_LEN + 1];
    library_key(&t, key, NULL);

    assert_int_equal(library_put_qemu_only(lib, &t, "unsupported instruction", "cpuid", "boot"), 0);
    struct library_entry got;
    assert_int_equal(library_lookup(lib, key, &got), LIBRARY_HIT_QEMU_ONLY);
    assert_int_equal(got.kind, LIBRARY_KIND_QEMU_ONLY);
    assert_string_equal(got.reason, "unsupported instruction");
    assert_string_equal(got.mnemonic, "cpuid");
    assert_int_equal(got.pixel_ops_len, 0);
    assert_int_equal(got.instances, 1);
    library_entry_free(&got);
    library_close(lib);

    /* Another run marks it again: still a marker, instances add up; a new
     * handle reports it as QEMU-only (never attempted again). */
    lib = library_open(f->dir, NULL);
    assert_int_equal(library_put_qemu_only(lib, &t, "unsupported instruction", "cpuid", "other"), 0);
    assert_int_equal(library_lookup(lib, key, &got), LIBRARY_HIT_QEMU_ONLY);
    assert_int_equal(got.instances, 2);
    assert_string_equal(got.first_seen_workload, "boot");
    library_entry_free(&got);
    struct library_stats s;
    library_get_stats(lib, &s);
    assert_int_equal(s.qemu_only_hits, 1);
    assert_int_equal(s.hits, 0);

    /* Verified microcode for the same key replaces the marker, and a later
     * marker does not overwrite verified microcode. */
    struct library_entry e;
    ltu_sample_entry(&e, 0, X86_LOC_ALL_GPRS, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    library_entry_set_code(&e, cpuid, sizeof cpuid);
    library_entry_rekey(&e);
    assert_string_equal(e.key, key);
    assert_int_equal(library_put_verified(lib, &e), 0);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_HIT);
    assert_int_equal(library_put_qemu_only(lib, &t, "x", "cpuid", "w"), 1);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_HIT);
    library_entry_free(&e);
    library_close(lib);
}

static void test_library_version_and_live_out_changes_miss(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    struct library_entry e;
    ltu_sample_entry(&e, 0, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_put_verified(lib, &e), 0);

    char key[LIBRARY_KEY_HEX_LEN + 1];
    struct library_template t = library_template_make(e.code, e.code_len, 64, LIVE_OUT_ADD);
    library_key(&t, key, NULL);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_HIT);

    t.live_out = X86_LOC_GPR(X86_RAX);                /* flags dead now */
    library_key(&t, key, NULL);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_MISS);
    t.live_out = LIVE_OUT_ADD;
    t.isa_version++;
    library_key(&t, key, NULL);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_MISS);
    t.isa_version--;
    t.semantics_version++;
    library_key(&t, key, NULL);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_MISS);
    t.semantics_version--;
    t.cpu_mode = 32;
    library_key(&t, key, NULL);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_MISS);
    library_close(lib);

    /* A library opened for the next ISA version derives other keys. */
    struct library_options o = { .isa_version = LIBRARY_ISA_VERSION + 1 };
    lib = library_open(f->dir, &o);
    library_key_for(lib, e.code, e.code_len, 64, LIVE_OUT_ADD, key);
    assert_string_not_equal(key, e.key);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_MISS);

    /* Storing an entry whose key does not match its template is refused. */
    struct library_entry bad;
    library_entry_copy(&bad, &e);
    bad.live_out = X86_LOC_GPR(X86_RBX);
    assert_int_equal(library_put_verified(lib, &bad), -1);
    library_entry_free(&bad);
    library_close(lib);
    library_entry_free(&e);
}

static void test_library_put_merges_and_refuses_unproved(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    struct library_entry e, got;
    ltu_sample_entry(&e, 7, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_put_verified(lib, &e), 0);
    assert_int_equal(library_update_speedup(lib, e.key, "batched", 7.5), 0);

    struct library_entry e2;
    library_entry_copy(&e2, &e);
    snprintf(e2.first_seen_workload, sizeof e2.first_seen_workload, "later");
    e2.cost = 2;
    assert_int_equal(library_put_verified(lib, &e2), 0);
    assert_int_equal(library_lookup(lib, e.key, &got), LIBRARY_HIT);
    assert_int_equal(got.instances, 4);                       /* 2 + 2 */
    assert_string_equal(got.first_seen_workload, "sha256sum");
    assert_int_equal(got.cost, 2);
    assert_int_equal(got.nspeedups, 1);                         /* kept */
    library_entry_free(&got);

    e2.proof = LIBRARY_PROOF_TIMEOUT;
    assert_int_equal(library_put_verified(lib, &e2), -1);
    e2.proof = LIBRARY_PROOF_PROVED;
    e2.tests_failed = 1;
    assert_int_equal(library_put_verified(lib, &e2), -1);
    assert_non_null(strstr(logged(f), "only proved microcode"));
    library_entry_free(&e2);
    library_close(lib);

    struct library_options ro = { .read_only = true };
    lib = library_open(f->dir, &ro);
    assert_non_null(lib);
    assert_int_equal(library_lookup(lib, e.key, NULL), LIBRARY_HIT);
    assert_int_equal(library_put_verified(lib, &e), -1);
    library_close(lib);
    library_entry_free(&e);
}

static void test_library_speedups_and_instances(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    struct library_entry e, got;
    ltu_sample_entry(&e, 3, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_put_verified(lib, &e), 0);
    assert_int_equal(library_update_speedup(lib, e.key, "batched", 6.25), 0);
    assert_int_equal(library_update_speedup(lib, e.key, "interp", 1.5), 0);
    assert_int_equal(library_update_speedup(lib, e.key, "batched", 8.0), 0);
    assert_int_equal(library_add_instances(lib, e.key, 5), 0);
    assert_int_equal(library_update_speedup(lib, e.key, "batched", -1.0), -1);
    char absent[LIBRARY_KEY_HEX_LEN + 1];
    memset(absent, 'a', LIBRARY_KEY_HEX_LEN);
    absent[LIBRARY_KEY_HEX_LEN] = '\0';
    assert_int_equal(library_update_speedup(lib, absent, "batched", 2.0), 1);
    library_close(lib);

    lib = library_open(f->dir, NULL);
    assert_int_equal(library_lookup(lib, e.key, &got), LIBRARY_HIT);
    assert_int_equal(got.nspeedups, 2);
    assert_string_equal(got.speedup[0].executor, "batched");
    assert_true(got.speedup[0].ratio == 8.0);
    assert_string_equal(got.speedup[1].executor, "interp");
    assert_true(got.speedup[1].ratio == 1.5);
    assert_int_equal(got.instances, 7);
    library_entry_free(&got);
    library_close(lib);
    library_entry_free(&e);
}

/* Another handle (standing for another process) adds and rewrites entries
 * after this one was opened: lookups see both. */
static void test_library_sees_other_writers(void **state)
{
    struct fixture *f = *state;
    struct library *a = library_open(f->dir, NULL), *b = library_open(f->dir, NULL);
    struct library_entry e, got;
    ltu_sample_entry(&e, 11, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_lookup(a, e.key, NULL), LIBRARY_MISS);
    assert_int_equal(library_put_verified(b, &e), 0);
    assert_int_equal(library_lookup(a, e.key, &got), LIBRARY_HIT);
    assert_int_equal(got.nspeedups, 0);
    library_entry_free(&got);
    assert_int_equal(library_update_speedup(b, e.key, "cuda", 42.0), 0);
    assert_int_equal(library_lookup(a, e.key, &got), LIBRARY_HIT);
    assert_int_equal(got.nspeedups, 1);
    assert_true(got.speedup[0].ratio == 42.0);
    library_entry_free(&got);
    struct library_stats s;
    library_get_stats(a, &s);
    assert_true(s.rechecks >= 1);
    library_close(a);
    library_close(b);
    library_entry_free(&e);
}

/* Write a valid entry, then damage its file with `damage`; the lookup must
 * miss, count it and name the file; an unchanged damaged file is reported
 * once; a new put repairs it. */
static void check_corruption(struct fixture *f, unsigned seed,
                             void (*damage)(const char *path, const char *dir),
                             const char *expect_in_message)
{
    struct library *lib = library_open(f->dir, NULL);
    struct library_entry e;
    ltu_sample_entry(&e, seed, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_put_verified(lib, &e), 0);
    library_close(lib);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", f->dir, e.key);
    damage(path, f->dir);

    lib = library_open(f->dir, NULL);
    fflush(f->log);
    size_t before = f->loglen;
    assert_int_equal(library_lookup(lib, e.key, NULL), LIBRARY_MISS);
    assert_int_equal(library_lookup(lib, e.key, NULL), LIBRARY_MISS);
    struct library_stats s;
    library_get_stats(lib, &s);
    assert_int_equal(s.corrupt, 1);
    assert_int_equal(s.misses, 2);
    const char *msg = logged(f) + before;
    assert_non_null(strstr(msg, "ignoring corrupt entry"));
    assert_non_null(strstr(msg, path));
    if (expect_in_message && !strstr(msg, expect_in_message))
        fail_msg("message \"%s\" lacks \"%s\"", msg, expect_in_message);

    assert_int_equal(library_put_verified(lib, &e), 0);
    assert_int_equal(library_lookup(lib, e.key, NULL), LIBRARY_HIT);
    library_close(lib);
    library_entry_free(&e);
}

static void damage_truncate(const char *path, const char *dir)
{
    (void)dir;
    size_t n = 0;
    char *s = ltu_slurp(path, &n);
    assert_int_equal(ltu_write(path, s, n / 2), 0);
    free(s);
}

static void damage_wrong_type(const char *path, const char *dir)
{
    (void)dir;
    size_t n = 0;
    char *s = ltu_slurp(path, &n);
    char *p = strstr(s, "\"cost\": ");
    assert_non_null(p);
    /* "cost": 3  ->  "cost": "3" is not possible in place; use true (4 chars
     * plus padding spaces keep the rest intact). */
    char *out = malloc(n + 16);
    size_t head = (size_t)(p - s) + 8;
    memcpy(out, s, head);
    strcpy(out + head, "true");
    char *rest = p + 8;
    while (*rest >= '0' && *rest <= '9')
        rest++;
    strcat(out, rest);
    assert_int_equal(ltu_write(path, out, strlen(out)), 0);
    free(out);
    free(s);
}

static void damage_altered_code(const char *path, const char *dir)
{
    (void)dir;
    size_t n = 0;
    char *s = ltu_slurp(path, &n);
    char *p = strstr(s, "\"code\": \"01d8");
    assert_non_null(p);
    p[10] = '3';        /* 01 (add) -> 03 (add r, r/m): the content no longer hashes to the name */
    assert_int_equal(ltu_write(path, s, n), 0);
    free(s);
}

static void damage_missing_field(const char *path, const char *dir)
{
    (void)dir;
    size_t n = 0;
    char *s = ltu_slurp(path, &n);
    char *p = strstr(s, "\"proof\"");
    assert_non_null(p);
    memcpy(p, "\"prxxf\"", 7);
    assert_int_equal(ltu_write(path, s, n), 0);
    free(s);
}

static void damage_empty(const char *path, const char *dir)
{
    (void)dir;
    assert_int_equal(ltu_write(path, "", 0), 0);
}

static void test_library_corrupt_truncated(void **state)
{
    check_corruption(*state, 21, damage_truncate, "JSON error");
}
static void test_library_corrupt_wrong_type(void **state)
{
    check_corruption(*state, 22, damage_wrong_type, "'cost' is not an integer");
}
static void test_library_corrupt_altered_content(void **state)
{
    check_corruption(*state, 0, damage_altered_code, "altered entry");
}
static void test_library_corrupt_missing_field(void **state)
{
    check_corruption(*state, 24, damage_missing_field, "missing field 'proof'");
}
static void test_library_corrupt_empty_file(void **state)
{
    check_corruption(*state, 25, damage_empty, NULL);
}

/* A valid entry stored under another key's file name. */
static void test_library_corrupt_key_mismatch(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    struct library_entry e, other;
    ltu_sample_entry(&e, 31, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    ltu_sample_entry(&other, 32, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    assert_int_equal(library_put_verified(lib, &e), 0);
    char from[512], to[512];
    snprintf(from, sizeof from, "%s/%s.json", f->dir, e.key);
    snprintf(to, sizeof to, "%s/%s.json", f->dir, other.key);
    assert_int_equal(rename(from, to), 0);
    fflush(f->log);
    size_t before = f->loglen;
    assert_int_equal(library_lookup(lib, other.key, NULL), LIBRARY_MISS);
    assert_int_equal(library_lookup(lib, e.key, NULL), LIBRARY_MISS);
    assert_non_null(strstr(logged(f) + before, "does not match the file name"));
    struct library_stats s;
    library_get_stats(lib, &s);
    assert_int_equal(s.corrupt, 1);
    library_close(lib);
    library_entry_free(&e);
    library_entry_free(&other);
}

static void test_library_bad_key_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    assert_int_equal(library_lookup(lib, "abc", NULL), LIBRARY_ERROR);
    assert_int_equal(library_lookup(lib, "../../etc/passwd", NULL), LIBRARY_ERROR);
    assert_int_equal(library_lookup(lib, NULL, NULL), LIBRARY_ERROR);
    library_close(lib);
}

struct walk {
    int valid, corrupt;
    char last[LIBRARY_KEY_HEX_LEN + 1];
    bool ordered;
};

static int walk_fn(const char *path, const struct library_entry *e, const char *err, void *ctx)
{
    struct walk *w = ctx;
    const char *name = strrchr(path, '/') + 1;
    if (strncmp(name, w->last, LIBRARY_KEY_HEX_LEN) < 0)
        w->ordered = false;
    memcpy(w->last, name, LIBRARY_KEY_HEX_LEN);
    if (e)
        w->valid++;
    else if (err && *err)
        w->corrupt++;
    return 0;
}

static void test_library_walk_and_prefix(void **state)
{
    struct fixture *f = *state;
    struct library *lib = library_open(f->dir, NULL);
    struct library_entry e;
    char first[LIBRARY_KEY_HEX_LEN + 1] = "";
    for (unsigned i = 1; i <= 10; i++) {
        ltu_sample_entry(&e, i, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
        assert_int_equal(library_put_verified(lib, &e), 0);
        if (i == 1)
            memcpy(first, e.key, sizeof first);
        library_entry_free(&e);
    }
    char junk[512];
    snprintf(junk, sizeof junk, "%s/%s.json", f->dir,
             "00000000000000000000000000000000000000000000000000000000000000ff");
    assert_int_equal(ltu_write(junk, "{not json", 9), 0);
    snprintf(junk, sizeof junk, "%s/README", f->dir);       /* not an entry name: skipped */
    assert_int_equal(ltu_write(junk, "x", 1), 0);

    struct walk w = { .ordered = true };
    assert_int_equal(library_foreach(lib, walk_fn, &w), 0);
    assert_int_equal(w.valid, 10);
    assert_int_equal(w.corrupt, 1);
    assert_true(w.ordered);

    char keys[4][LIBRARY_KEY_HEX_LEN + 1];
    char prefix[9];
    memcpy(prefix, first, 8);
    prefix[8] = '\0';
    assert_int_equal(library_find_prefix(lib, prefix, keys, 4), 1);
    assert_string_equal(keys[0], first);
    assert_int_equal(library_find_prefix(lib, "", keys, 4), 11);
    library_close(lib);
}

static void test_library_prune(void **state)
{
    struct fixture *f = *state;
    /* Two entries of an old ISA version, three current, two QEMU-only
     * markers, one corrupt file, one stale temp file of a crashed writer. */
    struct library_options old = { .isa_version = LIBRARY_ISA_VERSION + 100 };
    struct library *lib = library_open(f->dir, &old);
    struct library_entry e;
    for (unsigned i = 1; i <= 2; i++) {
        ltu_sample_entry(&e, i, LIVE_OUT_ADD, LIBRARY_ISA_VERSION + 100, LIBRARY_SEMANTICS_VERSION);
        assert_int_equal(library_put_verified(lib, &e), 0);
        library_entry_free(&e);
    }
    library_close(lib);
    lib = library_open(f->dir, NULL);
    char keep[LIBRARY_KEY_HEX_LEN + 1];
    for (unsigned i = 1; i <= 3; i++) {
        ltu_sample_entry(&e, i, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
        assert_int_equal(library_put_verified(lib, &e), 0);
        memcpy(keep, e.key, sizeof keep);
        library_entry_free(&e);
    }
    const uint8_t rdtsc[] = { 0x0f, 0x31 }, cpuid[] = { 0x0f, 0xa2 };
    struct library_template t1 = library_template_make(rdtsc, 2, 64, X86_LOC_ALL_GPRS);
    struct library_template t2 = library_template_make(cpuid, 2, 64, X86_LOC_ALL_GPRS);
    assert_int_equal(library_put_qemu_only(lib, &t1, "reads the time-stamp counter", "rdtsc", "w"), 0);
    assert_int_equal(library_put_qemu_only(lib, &t2, "unsupported instruction", "cpuid", "w"), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", f->dir,
             "1111111111111111111111111111111111111111111111111111111111111111");
    assert_int_equal(ltu_write(path, "{\"format\":", 10), 0);
    snprintf(path, sizeof path, "%s/.tmp-deadbeef-1-0", f->dir);
    assert_int_equal(ltu_write(path, "{", 1), 0);
    struct timespec ts[2] = { { .tv_sec = time(NULL) - 7200 }, { .tv_sec = time(NULL) - 7200 } };
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);

    struct library_prune_result r;
    assert_int_equal(library_prune(lib, LIBRARY_PRUNE_VERSION_MISMATCH | LIBRARY_PRUNE_QEMU_ONLY |
                                   LIBRARY_PRUNE_CORRUPT | LIBRARY_PRUNE_DRY_RUN, 0, &r), 0);
    assert_int_equal(r.examined, 8);
    assert_int_equal(r.removed, 5);
    assert_int_equal(r.stale_temp_files, 0);

    assert_int_equal(library_prune(lib, LIBRARY_PRUNE_VERSION_MISMATCH, 0, &r), 0);
    assert_int_equal(r.removed, 2);
    assert_int_equal(r.removed_version, 2);
    assert_int_equal(r.stale_temp_files, 1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(library_prune(lib, LIBRARY_PRUNE_QEMU_ONLY, 0, &r), 0);
    assert_int_equal(r.removed_qemu_only, 2);
    char key[LIBRARY_KEY_HEX_LEN + 1];
    library_key(&t1, key, NULL);
    assert_int_equal(library_lookup(lib, key, NULL), LIBRARY_MISS);
    assert_int_equal(library_prune(lib, LIBRARY_PRUNE_CORRUPT, 0, &r), 0);
    assert_int_equal(r.removed_corrupt, 1);
    assert_int_equal(r.kept, 3);

    /* Older than: nothing is older than an hour ago; everything is older
     * than a minute from now. */
    assert_int_equal(library_prune(lib, LIBRARY_PRUNE_OLDER_THAN, time(NULL) - 3600, &r), 0);
    assert_int_equal(r.removed, 0);
    assert_int_equal(library_lookup(lib, keep, NULL), LIBRARY_HIT);
    assert_int_equal(library_prune(lib, LIBRARY_PRUNE_OLDER_THAN, time(NULL) + 60, &r), 0);
    assert_int_equal(r.removed_old, 3);
    assert_int_equal(library_lookup(lib, keep, NULL), LIBRARY_MISS);
    struct library_stats s;
    library_get_stats(lib, &s);
    assert_int_equal(s.entries, 0);
    library_close(lib);
}

static void test_library_parse_rejects(void **state)
{
    (void)state;
    struct library_entry e, got;
    ltu_sample_entry(&e, 5, LIVE_OUT_ADD, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    e.created = e.updated = 1700000000;
    library_entry_rekey(&e);
    char *json = library_entry_to_json(&e);
    assert_non_null(json);
    char err[256];
    assert_true(library_entry_parse(json, strlen(json), e.key, &got, err, sizeof err));
    assert_int_equal(got.created, 1700000000);
    library_entry_free(&got);

    static const struct { const char *from, *to, *why; } edits[] = {
        { "\"kind\": \"verified\"", "\"kind\": \"maybe\"", "unknown value" },
        { "\"cpu_mode\": 64", "\"cpu_mode\": 48", "not 16, 32 or 64" },
        { "\"format\": \"tcgl-microcode/1\"", "\"format\": \"tcgl-microcode/9\"", "format" },
        { "\"proof\": \"proved\"", "\"proof\": \"timeout\"", "not \"proved\"" },
        { "\"failed\": 0", "\"failed\": 3", "failed tests" },
        { "\"instances\": 2", "\"instances\": -2", "out of range" },
        { "    [2, 0,", "    [256, 0,", "0..255" },
        { "    [2, 0, 0, 3]", "    [2, 0, 0]", "[opcode, rd, rs1, rs2]" },
        { "\"created\": \"", "\"created\": \"x", "UTC time" },
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *p = strstr(json, edits[i].from);
        if (!p)
            fail_msg("serialized entry lacks %s:\n%s", edits[i].from, json);
        size_t fl = strlen(edits[i].from), tl = strlen(edits[i].to), n = strlen(json);
        char *m = malloc(n + tl + 1);
        memcpy(m, json, (size_t)(p - json));
        memcpy(m + (p - json), edits[i].to, tl);
        strcpy(m + (p - json) + tl, p + fl);
        assert_false(library_entry_parse(m, strlen(m), e.key, &got, err, sizeof err));
        if (!strstr(err, edits[i].why))
            fail_msg("edit %zu: error \"%s\" lacks \"%s\"", i, err, edits[i].why);
        assert_null(got.code);
        free(m);
    }
    assert_false(library_entry_parse("[]", 2, NULL, &got, err, sizeof err));
    assert_false(library_entry_parse("{\"x86_hash\":1}", 14, NULL, &got, err, sizeof err));
    free(json);
    library_entry_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_library_verified_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_qemu_only_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_version_and_live_out_changes_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_put_merges_and_refuses_unproved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_speedups_and_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_sees_other_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_corrupt_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_corrupt_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_corrupt_altered_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_corrupt_missing_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_corrupt_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_corrupt_key_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_bad_key_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_walk_and_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_prune, setup, teardown),
        cmocka_unit_test(test_library_parse_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
