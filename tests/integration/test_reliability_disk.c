/* test_reliability_disk — a full output disk.  The library directory is a
 * small tmpfs (mounted by the test; it needs root, otherwise it is skipped
 * with the reason):
 *
 *   - the library store directly: entries are written until the disk is
 *     full; every put that failed said so (-1, a message naming the entry and
 *     the error) and left nothing behind; every put that succeeded can be
 *     read back; no temp file and no torn JSON remain;
 *   - the real pipeline (rel_cand_source -> verify -> offload under pipectl)
 *     with 64 templates to store on that disk: offload reports the write
 *     errors, keeps going, the pipeline finishes; again no temp file, every
 *     entry parses, and the entries that fit are there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "library.h"
#include "test_reliability_util.h"

/* Mount a tmpfs of `kib` KiB at dir; false (and the reason) when impossible. */
static bool mount_small(const char *dir, unsigned kib)
{
    char opts[64];
    snprintf(opts, sizeof opts, "size=%uk,mode=0700", kib);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return false;
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        print_message("cannot mount a tmpfs at %s (%s): needs root; skipped\n", dir, strerror(errno));
        return false;
    }
    return true;
}

/* Every file of the library directory: no temp file, every *.json parses
 * under the key its name promises.  Returns the number of entries. */
static int check_library_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, ".lock")) continue;
        if (!strncmp(n, ".tmp", 4)) {
            fprintf(stderr, "  temp file left behind: %s/%s\n", dir, n);
            fail();
        }
        size_t len = strlen(n);
        assert_true(len == LIBRARY_KEY_HEX_LEN + 5 && !strcmp(n + LIBRARY_KEY_HEX_LEN, ".json"));
        char key[LIBRARY_KEY_HEX_LEN + 1];
        memcpy(key, n, LIBRARY_KEY_HEX_LEN);
        key[LIBRARY_KEY_HEX_LEN] = 0;
        char *json = rel_slurpf("%s/%s", dir, n);
        assert_non_null(json);
        struct library_entry le;
        char err[512];
        bool ok = library_entry_parse(json, strlen(json), key, &le, err, sizeof err);
        if (!ok) fprintf(stderr, "  torn or invalid entry %s: %s\n", n, err);
        assert_true(ok);
        library_entry_free(&le);
        free(json);
        entries++;
    }
    closedir(d);
    return entries;
}

static void test_library_store_full(void **state)
{
    (void)state;
    char dir[] = "/tmp/tcgl-reldisk-XXXXXX", lib_dir[300];
    assert_non_null(mkdtemp(dir));
    snprintf(lib_dir, sizeof lib_dir, "%s/library", dir);
    if (!mount_small(lib_dir, 48)) {
        rmdir(dir);
        skip();
    }
    struct library *lib = library_open(lib_dir, NULL);
    assert_non_null(lib);
    int stored = 0, failed = 0;
    static char keys[64][LIBRARY_KEY_HEX_LEN + 1];
    bool ok_put[64];
    for (int i = 0; i < 64; i++) {
        uint8_t code[80];
        memset(code, 0x90, (size_t)i);
        code[i] = 0x0f;
        code[i + 1] = 0xa2;
        struct library_template t = library_template_make(code, (size_t)i + 2, 64, 1);
        library_key(&t, keys[i], NULL);
        /* a long reason makes each entry a few KiB */
        static char reason[3000];
        memset(reason, 'r', sizeof reason - 1);
        int rc = library_put_qemu_only(lib, &t, reason, "cpuid", "reldisk");
        ok_put[i] = rc == 0;
        if (rc == 0) stored++;
        else failed++;
    }
    fprintf(stderr, "  %d entries stored, %d refused on the full disk\n", stored, failed);
    assert_true(stored > 0);
    assert_true(failed > 0);
    for (int i = 0; i < 64; i++) {
        enum library_result lr = library_lookup(lib, keys[i], NULL);
        assert_int_equal(lr, ok_put[i] ? LIBRARY_HIT_QEMU_ONLY : LIBRARY_MISS);
    }
    struct library_stats st;
    library_get_stats(lib, &st);
    library_close(lib);
    assert_int_equal(check_library_files(lib_dir), stored);
    umount(lib_dir);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_pipeline_full_disk(void **state)
{
    (void)state;
    char p[1200];
    snprintf(p, sizeof p, "%s/bin/offload", prun_build());
    if (access(p, X_OK) != 0) {
        print_message("offload not built: skipped\n");
        skip();
    }
    struct prun r;
    prun_init(&r, "reldisk",
              "  library: out/library\n"
              "stages:\n"
              "  - name: source\n"
              "    executable: %B/tests/tools/rel_cand_source\n"
              "    args: [--count, \"64\"]\n"
              "  - name: verify\n"
              "    executable: %B/bin/verify\n"
              "  - name: offload\n"
              "    executable: %B/bin/offload\n"
              "    args: [--speed-blocks, \"0\", --no-native]\n"
              "edges:\n"
              "  - {from: source, to: verify}\n"
              "  - {from: verify, to: offload}\n");
    char lib_dir[400];
    snprintf(lib_dir, sizeof lib_dir, "%s/out", r.dir);
    mkdir(lib_dir, 0700);
    snprintf(lib_dir, sizeof lib_dir, "%s/out/library", r.dir);
    if (!mount_small(lib_dir, 32)) {
        prun_cleanup(&r);
        skip();
    }
    prun_start(&r);
    int rc = prun_wait(&r, 120);
    if (rc != 0) prun_dump(&r);
    int entries = check_library_files(lib_dir);
    umount(lib_dir);
    assert_int_equal(rc, 0);
    fprintf(stderr, "  %d of 64 templates fit on the disk\n", entries);
    assert_true(entries > 0 && entries < 64);
    char *log = rel_slurpf("%s/out/logs/offload.0.log", r.dir);
    assert_non_null(log);
    int enospc = rel_count(log, "No space left on device");
    fprintf(stderr, "  offload logged %d write errors naming ENOSPC\n", enospc);
    assert_true(enospc >= 64 - entries);
    free(log);
    prun_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_store_full),
        cmocka_unit_test(test_pipeline_full_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
