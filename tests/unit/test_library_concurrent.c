/* test_library_concurrent.c — several real processes write the same and
 * different keys of one library at the same time while others read:
 * readers never see a torn or invalid entry, no update is lost (instance
 * counts and speedups of every writer are all there), and the final
 * library is complete with no temp files left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>

#include "library_test_util.h"

#define WRITERS 5
#define READERS 2
#define ROUNDS 20
#define LIVE_OUT (X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS)

static void wait_for_go(int fd)
{
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

/* Writer i: ROUNDS puts of the shared key, ROUNDS puts of keys of its own,
 * ROUNDS speedup updates of the shared key under its own executor name. */
static int writer(const char *dir, int i, int go)
{
    wait_for_go(go);
    struct library *lib = library_open(dir, NULL);
    if (!lib)
        return 10;
    int bad = 0;
    for (int j = 0; j < ROUNDS; j++) {
        struct library_entry e;
        ltu_sample_entry(&e, 0, LIVE_OUT, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
        e.instances = 1;
        e.cost = (uint32_t)(100 * i + j);          /* distinct content per writer and round */
        bad |= library_put_verified(lib, &e) != 0;
        char exec[16];
        snprintf(exec, sizeof exec, "w%d", i);
        bad |= library_update_speedup(lib, e.key, exec, (double)j) != 0;
        library_entry_free(&e);

        ltu_sample_entry(&e, (unsigned)(1000 + i * ROUNDS + j), LIVE_OUT, LIBRARY_ISA_VERSION,
                         LIBRARY_SEMANTICS_VERSION);
        bad |= library_put_verified(lib, &e) != 0;
        library_entry_free(&e);
    }
    library_close(lib);
    return bad ? 11 : 0;
}

/* Reader: until `stop` exists, read the shared entry's file raw and through
 * a handle; every complete read must parse and validate. */
static int reader(const char *dir, const char *key, const char *stop, int go)
{
    wait_for_go(go);
    struct library *lib = library_open(dir, NULL);
    if (!lib)
        return 20;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", dir, key);
    unsigned reads = 0;
    int rc = 0;
    while (rc == 0 && access(stop, F_OK) != 0) {
        size_t n = 0;
        char *s = ltu_slurp(path, &n);
        if (s) {
            struct library_entry e;
            char err[256];
            if (!library_entry_parse(s, n, key, &e, err, sizeof err)) {
                fprintf(stderr, "reader: torn or invalid entry (%zu bytes): %s\n", n, err);
                rc = 21;
            }
            library_entry_free(&e);
            free(s);
            reads++;
        }
        enum library_result r = library_lookup(lib, key, NULL);
        if (r != LIBRARY_HIT && !(r == LIBRARY_MISS && !s && reads == 0)) {
            fprintf(stderr, "reader: lookup returned %d after the entry existed\n", (int)r);
            rc = 22;
        }
    }
    struct library_stats st;
    library_get_stats(lib, &st);
    if (rc == 0 && st.corrupt) {
        fprintf(stderr, "reader: %llu corrupt entries seen\n", (unsigned long long)st.corrupt);
        rc = 23;
    }
    library_close(lib);
    fprintf(stderr, "reader: %u complete reads\n", reads);
    return rc;
}

struct walk {
    int valid, corrupt;
};

static int count(const char *path, const struct library_entry *e, const char *err, void *ctx)
{
    (void)path; (void)err;
    struct walk *w = ctx;
    if (e)
        w->valid++;
    else
        w->corrupt++;
    return 0;
}

static void test_library_concurrent_writers_and_readers(void **state)
{
    (void)state;
    char *root = ltu_tempdir();
    assert_non_null(root);
    char dir[512], stop[512];
    snprintf(dir, sizeof dir, "%s/lib", root);
    snprintf(stop, sizeof stop, "%s/stop", root);

    struct library_entry shared;
    ltu_sample_entry(&shared, 0, LIVE_OUT, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);

    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t w[WRITERS], r[READERS];
    fflush(NULL);
    for (int i = 0; i < WRITERS; i++) {
        w[i] = fork();
        assert_true(w[i] >= 0);
        if (w[i] == 0) {
            close(go[1]);
            _exit(writer(dir, i, go[0]));
        }
    }
    for (int i = 0; i < READERS; i++) {
        r[i] = fork();
        assert_true(r[i] >= 0);
        if (r[i] == 0) {
            close(go[1]);
            _exit(reader(dir, shared.key, stop, go[0]));
        }
    }
    close(go[0]);
    close(go[1]);   /* everyone starts now */

    for (int i = 0; i < WRITERS; i++) {
        int st;
        assert_int_equal(waitpid(w[i], &st, 0), w[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("writer %d failed (status 0x%x)", i, st);
    }
    assert_int_equal(ltu_write(stop, "", 0), 0);
    for (int i = 0; i < READERS; i++) {
        int st;
        assert_int_equal(waitpid(r[i], &st, 0), r[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("reader %d failed (status 0x%x)", i, st);
    }

    /* Final state: complete, nothing lost. */
    struct library *lib = library_open(dir, NULL);
    assert_non_null(lib);
    struct library_entry got;
    assert_int_equal(library_lookup(lib, shared.key, &got), LIBRARY_HIT);
    assert_int_equal(got.instances, WRITERS * ROUNDS);     /* every put's instance counted */
    assert_int_equal(got.nspeedups, WRITERS);               /* every writer's executor */
    for (unsigned k = 0; k < got.nspeedups; k++)
        assert_true(got.speedup[k].ratio == ROUNDS - 1);
    library_entry_free(&got);
    for (int i = 0; i < WRITERS; i++)
        for (int j = 0; j < ROUNDS; j++) {
            struct library_entry e;
            ltu_sample_entry(&e, (unsigned)(1000 + i * ROUNDS + j), LIVE_OUT, LIBRARY_ISA_VERSION,
                             LIBRARY_SEMANTICS_VERSION);
            assert_int_equal(library_lookup(lib, e.key, NULL), LIBRARY_HIT);
            library_entry_free(&e);
        }
    struct walk wk = { 0, 0 };
    assert_int_equal(library_foreach(lib, count, &wk), 0);
    assert_int_equal(wk.valid, 1 + WRITERS * ROUNDS);
    assert_int_equal(wk.corrupt, 0);
    library_close(lib);

    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".tmp-", 5) == 0)
            fail_msg("temp file %s left behind", de->d_name);
    closedir(d);

    library_entry_free(&shared);
    ltu_rmtree(root);
}

/* A handle opened before fork() and used by the parent and its children at
 * once: the lock must still exclude them (flock is per open file
 * description, so an inherited lock descriptor would not). */
static void test_library_concurrent_inherited_handle(void **state)
{
    (void)state;
    char *root = ltu_tempdir();
    assert_non_null(root);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/lib", root);
    struct library *lib = library_open(dir, NULL);
    assert_non_null(lib);
    struct library_entry e;
    ltu_sample_entry(&e, 77, LIVE_OUT, LIBRARY_ISA_VERSION, LIBRARY_SEMANTICS_VERSION);
    e.instances = 0;
    assert_int_equal(library_put_verified(lib, &e), 0);

    enum { CHILDREN = 4, ADDS = 25 };
    pid_t pid[CHILDREN];
    fflush(NULL);
    for (int i = 0; i < CHILDREN; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            int bad = 0;
            for (int j = 0; j < ADDS; j++)
                bad |= library_add_instances(lib, e.key, 1) != 0;
            _exit(bad);
        }
    }
    for (int j = 0; j < ADDS; j++)
        assert_int_equal(library_add_instances(lib, e.key, 1), 0);
    for (int i = 0; i < CHILDREN; i++) {
        int st;
        assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    struct library_entry got;
    assert_int_equal(library_lookup(lib, e.key, &got), LIBRARY_HIT);
    assert_int_equal(got.instances, (CHILDREN + 1) * ADDS);
    library_entry_free(&got);
    library_close(lib);
    library_entry_free(&e);
    ltu_rmtree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_concurrent_writers_and_readers),
        cmocka_unit_test(test_library_concurrent_inherited_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
