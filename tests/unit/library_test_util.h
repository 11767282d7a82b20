/* library_test_util.h — helpers shared by the test_library_* programs
 * (temporary library directories, sample entries, file edits). */
#ifndef TCGL_LIBRARY_TEST_UTIL_H
#define TCGL_LIBRARY_TEST_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "library.h"

static inline int ltu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

/* A fresh empty directory under TMPDIR (or /tmp); caller frees and removes. */
static inline char *ltu_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/tcgl-libtest-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(buf);
    return d ? strdup(d) : NULL;
}

static inline void ltu_rmtree(char *dir)
{
    if (dir) {
        nftw(dir, ltu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
    }
}

/* A verified entry for a template made from `seed` (so different seeds give
 * different keys): code "01 d8" (add eax, ebx) followed by seed bytes. */
static inline void ltu_sample_entry(struct library_entry *e, unsigned seed, x86_locset live_out,
                                    uint32_t isa, uint32_t sem)
{
    uint8_t code[8] = { 0x01, 0xd8, 0x90, 0x90 };
    size_t code_len = 2;
    if (seed) {
        code[2] = 0x48; code[3] = 0x83; code[4] = 0xc0;   /* add rax, imm8 */
        code[5] = (uint8_t)seed; code[6] = (uint8_t)(seed >> 8);
        code_len = 7;
    }
    uint8_t ops[8] = { 2, 0, 0, 3, 33, 0, 0, (uint8_t)seed };
    library_entry_init(e);
    library_entry_set_code(e, code, code_len);
    library_entry_set_ops(e, ops, seed ? 8 : 4);
    e->kind = LIBRARY_KIND_VERIFIED;
    e->cpu_mode = 64;
    e->live_in = X86_LOC_GPR(X86_RAX) | X86_LOC_GPR(X86_RBX);
    e->live_out = live_out;
    e->isa_version = isa;
    e->semantics_version = sem;
    e->method = LIBRARY_METHOD_OPTIMIZED;
    e->cost = 3 + seed % 5;
    e->baseline_cost = 9;
    e->proof = LIBRARY_PROOF_PROVED;
    e->tests_unicorn = 10000;
    e->tests_native = 10000;
    e->synth_us = 1234 + seed;
    e->proof_us = 567;
    e->test_us = 8901;
    e->instances = 2;
    snprintf(e->first_seen_workload, sizeof e->first_seen_workload, "sha256sum");
    library_entry_rekey(e);
}

/* Whole file into a malloc'd NUL-terminated buffer. */
static inline char *ltu_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return b;
}

static inline int ltu_write(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

#endif /* TCGL_LIBRARY_TEST_UTIL_H */
