/* gen_records_corpus DIR — write one valid encoded record of every type (the
 * fixtures of tests/unit/records_fixture.h) to DIR/<TYPE>.bin: the seed
 * corpus of tests/fuzz/fuzz_records.c.  Regenerate after changing the table:
 *     build/tests/tools/gen_records_corpus tests/fuzz/corpus/fuzz_records */
#include <stdio.h>

#include "../unit/records_fixture.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_records_corpus DIR\n");
        return 64;
    }
    const struct rec_type_desc *const *types;
    size_t n = rec_types(&types);
    for (size_t i = 0; i < n; i++) {
        struct rec r;
        struct rec_buf b;
        struct rec_error err;
        rec_buf_init(&b);
        if (fx_record(types[i]->tag, &r) < 0 || rec_encode(&b, &r, &err) < 0) {
            fprintf(stderr, "%s: cannot encode the fixture: %s\n", types[i]->name, err.msg);
            return 1;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.bin", argv[1], types[i]->name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        rec_buf_free(&b);
    }
    return 0;
}
