/* bench_library.c — cost of microcode library operations, beside the
 * floors they are built on, in one run:
 *   cached hit   library_lookup of an entry this handle has read (one stat + copy)
 *                vs a bare stat() of the same file;
 *   cold hit     a fresh handle's first lookup (read + validate JSON)
 *                vs reading the file and json_loadb alone (no validation);
 *   miss         lookup of an absent key vs stat() of an absent file;
 *   put          library_put_verified (lock, temp file, fsync, rename, fsync dir)
 *                vs write + fsync of a file of the same size.
 * Prints nanoseconds per operation.  Usage: bench_library [ENTRIES] (default 1000). */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "library.h"
#include "log.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void make_entry(struct library_entry *e, unsigned i)
{
    uint8_t code[12] = { 0x48, 0x83, 0xc0, (uint8_t)i, 0x48, 0x31, 0xd8, 0x01, 0xd8,
                         (uint8_t)(i >> 8), (uint8_t)(i >> 16), 0x90 };
    uint8_t ops[24];
    for (unsigned k = 0; k < sizeof ops; k++)
        ops[k] = (uint8_t)(k * 7 + i);
    library_entry_init(e);
    library_entry_set_code(e, code, sizeof code);
    library_entry_set_ops(e, ops, sizeof ops);
    e->cpu_mode = 64;
    e->live_out = X86_LOC_GPR(X86_RAX) | X86_LOC_ALL_FLAGS;
    e->isa_version = LIBRARY_ISA_VERSION;
    e->semantics_version = LIBRARY_SEMANTICS_VERSION;
    e->method = LIBRARY_METHOD_OPTIMIZED;
    e->proof = LIBRARY_PROOF_PROVED;
    e->cost = 5;
    e->baseline_cost = 8;
    e->tests_unicorn = e->tests_native = 10000;
    e->instances = 1;
    snprintf(e->first_seen_workload, sizeof e->first_seen_workload, "bench");
    library_entry_rekey(e);
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
    if (n == 0 || n > 1000000) {
        fprintf(stderr, "usage: bench_library [ENTRIES 1..1000000]\n");
        return 2;
    }
    char dir[] = "/tmp/tcgl-benchlib-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char libdir[64];
    snprintf(libdir, sizeof libdir, "%s/lib", dir);
    struct library *lib = library_open(libdir, NULL);
    if (!lib)
        return 1;
    char (*keys)[LIBRARY_KEY_HEX_LEN + 1] = malloc(n * sizeof *keys);
    struct library_entry e;

    /* put, and its floor: write + fsync of a same-sized file */
    double t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        make_entry(&e, i);
        if (library_put_verified(lib, &e) != 0)
            return 1;
        memcpy(keys[i], e.key, sizeof keys[i]);
        library_entry_free(&e);
    }
    double put_ns = (now_ns() - t0) / n;
    make_entry(&e, 0);
    char *json = library_entry_to_json(&e);
    size_t jlen = strlen(json);
    library_entry_free(&e);
    char path[256];
    t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/plain-%u", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, json, jlen) != (ssize_t)jlen || fsync(fd) != 0)
            return 1;
        close(fd);
    }
    double plain_ns = (now_ns() - t0) / n;

    /* cold hit (fresh handle), and its floor: read + json_loadb */
    library_close(lib);
    lib = library_open(libdir, NULL);
    t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        if (library_lookup(lib, keys[i], &e) != LIBRARY_HIT)
            return 1;
        library_entry_free(&e);
    }
    double cold_ns = (now_ns() - t0) / n;
    t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        library_entry_path(lib, keys[i], path, sizeof path);
        char buf[8192];
        int fd = open(path, O_RDONLY);
        ssize_t r = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
        if (fd >= 0)
            close(fd);
        json_t *j = r > 0 ? json_loadb(buf, (size_t)r, 0, NULL) : NULL;
        if (!j)
            return 1;
        json_decref(j);
    }
    double parse_ns = (now_ns() - t0) / n;

    /* cached hit, and its floor: stat */
    const int rounds = 5;
    t0 = now_ns();
    for (int r = 0; r < rounds; r++)
        for (unsigned i = 0; i < n; i++) {
            if (library_lookup(lib, keys[i], &e) != LIBRARY_HIT)
                return 1;
            library_entry_free(&e);
        }
    double hit_ns = (now_ns() - t0) / (n * rounds);
    struct stat st;
    t0 = now_ns();
    for (int r = 0; r < rounds; r++)
        for (unsigned i = 0; i < n; i++) {
            library_entry_path(lib, keys[i], path, sizeof path);
            if (stat(path, &st) != 0)
                return 1;
        }
    double stat_ns = (now_ns() - t0) / (n * rounds);

    /* miss, and its floor: stat of an absent file */
    char absent[LIBRARY_KEY_HEX_LEN + 1];
    t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        snprintf(absent, sizeof absent, "%064x", i + 1);
        if (library_lookup(lib, absent, NULL) != LIBRARY_MISS)
            return 1;
    }
    double miss_ns = (now_ns() - t0) / n;
    t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%064x.json", libdir, i + 1);
        if (stat(path, &st) == 0)
            return 1;
    }
    double nstat_ns = (now_ns() - t0) / n;

    printf("library operations over %u entries of %zu bytes (ns per operation)\n", n, jlen);
    printf("%-12s %12s   %-36s %12s\n", "operation", "library", "reference", "reference");
    printf("%-12s %12.0f   %-36s %12.0f\n", "cached hit", hit_ns, "stat() of the entry file", stat_ns);
    printf("%-12s %12.0f   %-36s %12.0f\n", "cold hit", cold_ns, "open+read+json_loadb (no checks)", parse_ns);
    printf("%-12s %12.0f   %-36s %12.0f\n", "miss", miss_ns, "stat() of an absent file", nstat_ns);
    printf("%-12s %12.0f   %-36s %12.0f\n", "put", put_ns, "write+fsync of a same-size file", plain_ns);

    library_close(lib);
    free(json);
    free(keys);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_library: could not remove %s\n", dir);
    return 0;
}
