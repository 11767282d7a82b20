/* cfg_image.h — the whole cfg graph as bytes and back: the state part of
 * cfg's checkpoint (cfg_checkpoint.h adds the files, the journal and the
 * queue cursors around it).
 *
 * The image holds everything that later records or emissions depend on:
 * options, counters, the sampling generator, the current trace run, every
 * block (instructions, code, counts, edges, emission marks, samples), the
 * TB table, each vCPU's last and first block, the hot queue and the leader
 * set.  Analysis results are not kept: they are recomputed (cfg_analyze) from
 * the rest.  The lookup maps are rebuilt on reading.  Fields are
 * little-endian fixed-width integers; the reader checks every count, index
 * and range and names the field it refuses ("block 12 insn 3 len: 0 outside
 * 1..15"), it never trusts a length. */
#ifndef TCGL_CFG_IMAGE_H
#define TCGL_CFG_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

#define CFG_IMAGE_VERSION 1u

/* A growing byte buffer (the writer's output). */
struct cfg_bytes {
    uint8_t *p;
    size_t len, cap;
    bool oom;               /* an append failed: the content is incomplete */
};
void cfg_bytes_free(struct cfg_bytes *b);
void cfg_bytes_put(struct cfg_bytes *b, const void *p, size_t n);
void cfg_bytes_u8(struct cfg_bytes *b, uint8_t v);
void cfg_bytes_u16(struct cfg_bytes *b, uint16_t v);
void cfg_bytes_u32(struct cfg_bytes *b, uint32_t v);
void cfg_bytes_u64(struct cfg_bytes *b, uint64_t v);

/* A bounds-checked reader that remembers the first error. */
struct cfg_reader {
    const uint8_t *p;
    size_t len, off;
    bool failed;
    char err[256];
};
void cfg_reader_init(struct cfg_reader *r, const void *p, size_t len);
/* Each getter returns 0 (and fails the reader, naming `field`) past the end. */
uint8_t cfg_read_u8(struct cfg_reader *r, const char *field);
uint16_t cfg_read_u16(struct cfg_reader *r, const char *field);
uint32_t cfg_read_u32(struct cfg_reader *r, const char *field);
uint64_t cfg_read_u64(struct cfg_reader *r, const char *field);
const uint8_t *cfg_read_bytes(struct cfg_reader *r, size_t n, const char *field);
/* Fails the reader with a printf-style message (the first failure wins). */
__attribute__((format(printf, 2, 3))) void cfg_reader_fail(struct cfg_reader *r, const char *fmt, ...);

/* 64-bit checksum of a byte range (not cryptographic: it catches torn and
 * corrupted files, the files are 0600 in the run directory). */
uint64_t cfg_hash64(const void *p, size_t n, uint64_t seed);

/* Appends the image of g to out.  False only when memory ran out. */
bool cfg_image_write(const struct cfg *g, struct cfg_bytes *out);
/* Builds g (which must not be initialised) from an image; on failure g is
 * left freed and err names the field ("block 12 succ 3 to: 9999 >= 120 blocks"). */
bool cfg_image_read(struct cfg *g, struct cfg_reader *r);

#endif
