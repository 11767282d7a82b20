/* fuzz_library_entry.c — libFuzzer target for the microcode library's entry
 * parser (library_entry_parse), which reads files anyone with access to the
 * library directory may have altered.  Beyond "never crash", it checks the
 * round trip: an accepted entry serializes to JSON that parses back to the
 * same entry and the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "library.h"

static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_library_entry: round trip broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct library_entry e, back;
    char err[256];
    if (!library_entry_parse((const char *)data, size, NULL, &e, err, sizeof err)) {
        require(e.code == NULL && e.pixel_ops == NULL, "a rejected entry keeps buffers");
        require(err[0] != '\0', "a rejection without a reason");
        return 0;
    }
    /* Accepted: the key check must also pass against its own key. */
    char *json = library_entry_to_json(&e);
    require(json != NULL, "serialize");
    require(library_entry_parse(json, strlen(json), e.key, &back, err, sizeof err), err);
    require(strcmp(back.key, e.key) == 0, "key");
    require(back.kind == e.kind && back.code_len == e.code_len &&
            back.pixel_ops_len == e.pixel_ops_len, "sizes");
    require(memcmp(back.code, e.code, e.code_len) == 0, "code");
    require(e.pixel_ops_len == 0 || memcmp(back.pixel_ops, e.pixel_ops, e.pixel_ops_len) == 0, "ops");
    require(back.instances == e.instances && back.cost == e.cost && back.created == e.created,
            "scalars");
    char *json2 = library_entry_to_json(&back);
    require(json2 && strcmp(json, json2) == 0, "serialization is not stable");
    free(json);
    free(json2);
    library_entry_free(&back);
    library_entry_free(&e);
    return 0;
}
