/* test_sha256.c — SHA-256 against the FIPS 180-2 / NIST CAVP vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sha256.h"

static void expect_digest(const void *msg, size_t len, const char *want_hex)
{
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256(msg, len, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, want_hex);
}

static void test_sha256_empty(void **state)
{
    (void)state;
    expect_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_abc(void **state)
{
    (void)state;
    expect_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* FIPS 180-2 appendix B.2: 448 bits, padding spills into a second block. */
static const char b2_digest[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";

static void test_sha256_b2_exact(void **state)
{
    (void)state;
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect_digest(m, strlen(m), b2_digest);
}

/* The 896-bit message of FIPS 180-2 / NIST examples (two full blocks). */
static void test_sha256_896_bits(void **state)
{
    (void)state;
    const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    expect_digest(m, strlen(m), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* FIPS 180-2 appendix B.3: one million 'a', fed in uneven pieces. */
static void test_sha256_million_a(void **state)
{
    (void)state;
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    size_t n = 1000000;
    char *m = malloc(n);
    assert_non_null(m);
    memset(m, 'a', n);
    expect_digest(m, n, want);

    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t take = step < n - off ? step : n - off;
        sha256_update(&c, m + off, take);
        off += take;
        step = step * 3 + 1;
        if (step > 9000)
            step = 7;
    }
    sha256_final(&c, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, want);
    free(m);
}

/* Lengths around the padding boundaries (55, 56, 63, 64, 65 bytes): the
 * streaming digest, split at every offset, must equal the one-shot digest,
 * and the one-shot digests are pinned (computed with coreutils sha256sum). */
static void test_sha256_boundaries_and_splits(void **state)
{
    (void)state;
    static const struct { size_t len; const char *hex; } pinned[] = {
        { 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
        { 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
        { 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
        { 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
        { 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
    };
    char m[200];
    memset(m, 'a', sizeof m);
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        size_t len = pinned[i].len;
        expect_digest(m, len, pinned[i].hex);
        for (size_t split = 0; split <= len; split++) {
            struct sha256_ctx c;
            uint8_t d[SHA256_DIGEST_LEN];
            char hex[SHA256_HEX_LEN + 1];
            sha256_init(&c);
            sha256_update(&c, m, split);
            sha256_update(&c, m + split, len - split);
            sha256_final(&c, d);
            sha256_hex(d, hex);
            assert_string_equal(hex, pinned[i].hex);
        }
    }
}

static void test_hex_helpers(void **state)
{
    (void)state;
    uint8_t b[3] = { 0x00, 0xab, 0xff }, back[3];
    char hex[7];
    hex_encode(b, 3, hex);
    assert_string_equal(hex, "00abff");
    assert_true(hex_decode("00ABff", 6, back, 3));
    assert_memory_equal(back, b, 3);
    assert_false(hex_decode("00abf", 5, back, 3));
    assert_false(hex_decode("00abfg", 6, back, 3));
    assert_true(sha256_hex_valid("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(sha256_hex_valid("E3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(sha256_hex_valid("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
    assert_false(sha256_hex_valid("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555"));
    assert_false(sha256_hex_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_empty),
        cmocka_unit_test(test_sha256_abc),
        cmocka_unit_test(test_sha256_b2_exact),
        cmocka_unit_test(test_sha256_896_bits),
        cmocka_unit_test(test_sha256_million_a),
        cmocka_unit_test(test_sha256_boundaries_and_splits),
        cmocka_unit_test(test_hex_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
