/* sha256.h — SHA-256 (FIPS 180-4), our own implementation, plus hex helpers.
 *
 * Used for content addressing: the microcode library key (common/library.h)
 * and the template keys that cluster puts into SYNTH_JOB records are
 * lower-case hex SHA-256 digests.  Checked against the NIST test vectors in
 * tests/unit/test_sha256.c (empty, "abc", the two-block 448-bit message, the
 * 896-bit message, one million 'a', and messages split at every offset).
 *
 * Streaming use:
 *     struct sha256_ctx c;
 *     sha256_init(&c);
 *     sha256_update(&c, part1, n1);
 *     sha256_update(&c, part2, n2);
 *     sha256_final(&c, digest);        // c must be re-initialised to reuse
 */
#ifndef TCGL_SHA256_H
#define TCGL_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN  64
#define SHA256_HEX_LEN    64      /* characters, without the terminating NUL */

struct sha256_ctx {
    uint32_t h[8];
    uint64_t total_len;           /* bytes hashed so far */
    uint8_t buf[SHA256_BLOCK_LEN];
    size_t buf_len;               /* bytes waiting in buf, < 64 */
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);

/* One-shot digest of a buffer. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);

/* Lower-case hex of `len` bytes into `out` (2*len+1 bytes, NUL-terminated). */
void hex_encode(const uint8_t *bytes, size_t len, char *out);

/* Parse exactly 2*len hex digits (either case) from `hex` into `out`.
 * Returns false (and leaves `out` unspecified) on a wrong length or a
 * non-hex character. */
bool hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t len);

/* Digest as 64 lower-case hex digits plus NUL. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN + 1]);

/* True when `s` is exactly 64 lower-case hex digits (a well-formed key). */
bool sha256_hex_valid(const char *s);

#endif /* TCGL_SHA256_H */
