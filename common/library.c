/* library.c — the content-addressed microcode library; see library.h and
 * docs/library.md.
 *
 * Layout of this file: names and entry helpers; the key; JSON (serialize,
 * validating parse); the in-memory index; file I/O (atomic write, lock);
 * the store operations (lookup, put, update, walk, prune).
 */
#include "library.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* ---- names --------------------------------------------------------------- */

static const char *const kind_names[] = {
    [LIBRARY_KIND_VERIFIED] = "verified",
    [LIBRARY_KIND_QEMU_ONLY] = "qemu_only",
};
static const char *const method_names[] = {
    [LIBRARY_METHOD_BASELINE] = "baseline",
    [LIBRARY_METHOD_OPTIMIZED] = "optimized",
    [LIBRARY_METHOD_LIBRARY_HIT] = "library_hit",
    [LIBRARY_METHOD_QEMU_ONLY] = "qemu_only",
};
static const char *const proof_names[] = {
    [LIBRARY_PROOF_PROVED] = "proved",
    [LIBRARY_PROOF_REFUTED] = "refuted",
    [LIBRARY_PROOF_UNKNOWN] = "unknown",
    [LIBRARY_PROOF_TIMEOUT] = "timeout",
    [LIBRARY_PROOF_NOT_ATTEMPTED] = "not_attempted",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, unsigned v)
{
    return v < n && names[v] ? names[v] : "?";
}

static int name_lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

const char *library_kind_name(enum library_kind k) { return name_of(kind_names, NELEM(kind_names), k); }
const char *library_method_name(enum library_method m) { return name_of(method_names, NELEM(method_names), m); }
const char *library_proof_name(enum library_proof p) { return name_of(proof_names, NELEM(proof_names), p); }

/* ---- entries ----------------------------------------------------------------- */

void library_entry_init(struct library_entry *e)
{
    memset(e, 0, sizeof *e);
}

void library_entry_free(struct library_entry *e)
{
    free(e->code);
    free(e->pixel_ops);
    library_entry_init(e);
}

static bool dup_bytes(uint8_t **dst, const uint8_t *src, size_t len)
{
    *dst = NULL;
    if (len == 0)
        return true;
    *dst = malloc(len);
    if (!*dst)
        return false;
    memcpy(*dst, src, len);
    return true;
}

bool library_entry_copy(struct library_entry *dst, const struct library_entry *src)
{
    *dst = *src;
    dst->code = NULL;
    dst->pixel_ops = NULL;
    if (!dup_bytes(&dst->code, src->code, src->code_len) ||
        !dup_bytes(&dst->pixel_ops, src->pixel_ops, src->pixel_ops_len)) {
        free(dst->code);
        library_entry_init(dst);
        return false;
    }
    return true;
}

bool library_entry_set_code(struct library_entry *e, const uint8_t *code, size_t len)
{
    uint8_t *c;
    if (!dup_bytes(&c, code, len))
        return false;
    free(e->code);
    e->code = c;
    e->code_len = len;
    return true;
}

bool library_entry_set_ops(struct library_entry *e, const uint8_t *ops, size_t len)
{
    uint8_t *o;
    if (!dup_bytes(&o, ops, len))
        return false;
    free(e->pixel_ops);
    e->pixel_ops = o;
    e->pixel_ops_len = len;
    return true;
}

/* ---- the key ------------------------------------------------------------------- */

struct library_template library_template_make(const uint8_t *code, size_t code_len,
                                              uint8_t cpu_mode, x86_locset live_out)
{
    struct library_template t = {
        .code = code, .code_len = code_len, .cpu_mode = cpu_mode, .live_out = live_out,
        .isa_version = LIBRARY_ISA_VERSION, .semantics_version = LIBRARY_SEMANTICS_VERSION,
    };
    return t;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void library_key(const struct library_template *t, char key_hex[LIBRARY_KEY_HEX_LEN + 1],
                 uint8_t bin[SHA256_DIGEST_LEN])
{
    /* Domain tag, then fixed-width little-endian fields, then the code with
     * its length in front: no two different templates serialize alike. */
    static const char tag[] = "tcgl-library-key/1";
    uint8_t hdr[4 + 4 + 1 + 4 + 8];
    put_le(hdr, t->isa_version, 4);
    put_le(hdr + 4, t->semantics_version, 4);
    hdr[8] = t->cpu_mode;
    put_le(hdr + 9, t->live_out, 4);
    put_le(hdr + 13, t->code_len, 8);

    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_init(&c);
    sha256_update(&c, tag, sizeof tag);  /* includes the NUL */
    sha256_update(&c, hdr, sizeof hdr);
    sha256_update(&c, t->code, t->code_len);
    sha256_final(&c, d);
    sha256_hex(d, key_hex);
    if (bin)
        memcpy(bin, d, sizeof d);
}

static void entry_template(const struct library_entry *e, struct library_template *t)
{
    t->code = e->code;
    t->code_len = e->code_len;
    t->cpu_mode = e->cpu_mode;
    t->live_out = e->live_out;
    t->isa_version = e->isa_version;
    t->semantics_version = e->semantics_version;
}

void library_entry_rekey(struct library_entry *e)
{
    struct library_template t;
    entry_template(e, &t);
    library_key(&t, e->key, NULL);
}

/* ---- JSON ---------------------------------------------------------------------- */

static void format_time(time_t t, char buf[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool parse_time(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return false;
    *out = timegm(&tm);
    return true;
}

/* json_object_set_new that tracks failure instead of leaking or crashing. */
static void set(json_t *obj, const char *k, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(obj, k, v) != 0)
        *ok = false;
}

static json_t *u64_json(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

#define OPS_PLACEHOLDER "@@pixel_ops@@"

char *library_entry_to_json(const struct library_entry *e)
{
    bool ok = true;
    char tbuf[32];
    json_t *root = json_object();
    if (!root)
        return NULL;

    set(root, "format", json_string(LIBRARY_FORMAT), &ok);
    set(root, "x86_hash", json_string(e->key), &ok);
    set(root, "kind", json_string(library_kind_name(e->kind)), &ok);

    json_t *tmpl = json_object();
    char *code_hex = malloc(2 * e->code_len + 1);
    if (code_hex) {
        hex_encode(e->code, e->code_len, code_hex);
        set(tmpl, "code", json_string(code_hex), &ok);
        free(code_hex);
    } else {
        ok = false;
    }
    set(tmpl, "cpu_mode", json_integer(e->cpu_mode), &ok);
    set(tmpl, "live_in", json_integer(e->live_in), &ok);
    set(tmpl, "live_out", json_integer(e->live_out), &ok);
    set(tmpl, "isa_version", json_integer(e->isa_version), &ok);
    set(tmpl, "semantics_version", json_integer(e->semantics_version), &ok);
    set(root, "template", tmpl, &ok);

    /* A placeholder, replaced below by one [opcode, rd, rs1, rs2] per line. */
    set(root, "pixel_ops", json_string(OPS_PLACEHOLDER), &ok);

    set(root, "method", json_string(library_method_name(e->method)), &ok);
    set(root, "cost", json_integer(e->cost), &ok);
    set(root, "baseline_cost", json_integer(e->baseline_cost), &ok);
    set(root, "proof", json_string(library_proof_name(e->proof)), &ok);
    set(root, "tests", json_pack("{s:I,s:I,s:I}", "unicorn", (json_int_t)e->tests_unicorn,
                                 "native", (json_int_t)e->tests_native,
                                 "failed", (json_int_t)e->tests_failed), &ok);
    json_t *times = json_object();
    set(times, "synth", u64_json(e->synth_us), &ok);
    set(times, "proof", u64_json(e->proof_us), &ok);
    set(times, "test", u64_json(e->test_us), &ok);
    set(root, "times_us", times, &ok);

    json_t *sp = json_object();
    for (unsigned i = 0; sp && i < e->nspeedups && i < LIBRARY_MAX_SPEEDUPS; i++)
        set(sp, e->speedup[i].executor, json_real(e->speedup[i].ratio), &ok);
    set(root, "speedups", sp, &ok);

    set(root, "instances", u64_json(e->instances), &ok);
    set(root, "first_seen_workload", json_string(e->first_seen_workload), &ok);
    if (e->kind == LIBRARY_KIND_QEMU_ONLY)
        set(root, "qemu_only", json_pack("{s:s,s:s}", "reason", e->reason,
                                         "mnemonic", e->mnemonic), &ok);
    format_time(e->created, tbuf);
    set(root, "created", json_string(tbuf), &ok);
    format_time(e->updated, tbuf);
    set(root, "updated", json_string(tbuf), &ok);

    char *s = ok ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (!s)
        return NULL;
    /* Splice the microcode in, one instruction per line: jansson would give
     * every byte a line of its own.  The placeholder cannot occur elsewhere:
     * inside any other string its quotes would be escaped. */
    static const char marker[] = "\"pixel_ops\": \"" OPS_PLACEHOLDER "\"";
    char *at = strstr(s, marker);
    size_t nops = e->pixel_ops_len / 4;
    size_t cap = strlen(s) + nops * 32 + 64;
    char *outbuf = at ? malloc(cap) : NULL;
    if (!outbuf) {
        free(s);
        return NULL;
    }
    size_t n = (size_t)(at - s);
    memcpy(outbuf, s, n);
    n += (size_t)snprintf(outbuf + n, cap - n, "\"pixel_ops\": [%s", nops ? "\n" : "");
    for (size_t i = 0; i < nops; i++)
        n += (size_t)snprintf(outbuf + n, cap - n, "    [%u, %u, %u, %u]%s\n",
                              e->pixel_ops[4 * i], e->pixel_ops[4 * i + 1], e->pixel_ops[4 * i + 2],
                              e->pixel_ops[4 * i + 3], i + 1 < nops ? "," : "");
    n += (size_t)snprintf(outbuf + n, cap - n, "%s]%s\n", nops ? "  " : "", at + strlen(marker));
    free(s);
    return outbuf;
}

/* Validating getters: each names the field and what is wrong with it. */
struct pctx {
    char *err;
    size_t errlen;
    bool failed;
};

static void perr(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(struct pctx *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
}

static json_t *get(struct pctx *p, json_t *obj, const char *path, const char *k)
{
    json_t *v = json_object_get(obj, k);
    if (!v)
        perr(p, "missing field '%s%s'", path, k);
    return v;
}

static uint64_t get_uint(struct pctx *p, json_t *obj, const char *path, const char *k, uint64_t max)
{
    json_t *v = get(p, obj, path, k);
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        perr(p, "field '%s%s' is not an integer", path, k);
        return 0;
    }
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max) {
        perr(p, "field '%s%s' = %lld is out of range 0..%" PRIu64, path, k, (long long)i, max);
        return 0;
    }
    return (uint64_t)i;
}

static const char *get_str(struct pctx *p, json_t *obj, const char *path, const char *k,
                           size_t maxlen, size_t *len_out)
{
    json_t *v = get(p, obj, path, k);
    if (!v)
        return "";
    if (!json_is_string(v)) {
        perr(p, "field '%s%s' is not a string", path, k);
        return "";
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > maxlen || strlen(s) != n) {
        perr(p, "field '%s%s' is too long (%zu bytes, at most %zu) or holds a NUL", path, k, n, maxlen);
        return "";
    }
    if (len_out)
        *len_out = n;
    return s;
}

static void copy_text(struct pctx *p, char *dst, size_t dstlen, json_t *obj, const char *path,
                      const char *k)
{
    const char *s = get_str(p, obj, path, k, dstlen - 1, NULL);
    snprintf(dst, dstlen, "%s", s);
}

static int get_enum(struct pctx *p, json_t *obj, const char *k, const char *const *names, size_t n)
{
    const char *s = get_str(p, obj, "", k, 64, NULL);
    if (p->failed)
        return 0;
    int v = name_lookup(names, n, s);
    if (v < 0)
        perr(p, "field '%s' has unknown value \"%s\"", k, s);
    return v < 0 ? 0 : v;
}

static json_t *get_obj(struct pctx *p, json_t *obj, const char *k)
{
    json_t *v = get(p, obj, "", k);
    if (v && !json_is_object(v)) {
        perr(p, "field '%s' is not an object", k);
        return NULL;
    }
    return v;
}

static void get_time(struct pctx *p, json_t *obj, const char *k, time_t *out)
{
    const char *s = get_str(p, obj, "", k, 40, NULL);
    if (!p->failed && !parse_time(s, out))
        perr(p, "field '%s' = \"%s\" is not a UTC time YYYY-MM-DDTHH:MM:SSZ", k, s);
}

static void parse_template(struct pctx *p, json_t *root, struct library_entry *e)
{
    json_t *t = get_obj(p, root, "template");
    if (!t)
        return;
    size_t hexlen = 0;
    const char *hex = get_str(p, t, "template.", "code", 2 * LIBRARY_MAX_CODE, &hexlen);
    if (p->failed)
        return;
    if (hexlen == 0 || hexlen % 2) {
        perr(p, "field 'template.code' must be a non-empty even number of hex digits (has %zu)", hexlen);
        return;
    }
    e->code_len = hexlen / 2;
    e->code = malloc(e->code_len);
    if (!e->code) {
        e->code_len = 0;
        perr(p, "out of memory for template.code (%zu bytes)", hexlen / 2);
        return;
    }
    if (!hex_decode(hex, hexlen, e->code, e->code_len)) {
        perr(p, "field 'template.code' is not hex");
        return;
    }
    uint64_t mode = get_uint(p, t, "template.", "cpu_mode", 64);
    if (!p->failed && mode != 16 && mode != 32 && mode != 64)
        perr(p, "field 'template.cpu_mode' = %" PRIu64 " is not 16, 32 or 64", mode);
    e->cpu_mode = (uint8_t)mode;
    e->live_in = (x86_locset)get_uint(p, t, "template.", "live_in", X86_LOC_ALL);
    e->live_out = (x86_locset)get_uint(p, t, "template.", "live_out", X86_LOC_ALL);
    if (!p->failed && ((e->live_in | e->live_out) & ~X86_LOC_ALL))
        perr(p, "field 'template.live_in/live_out' has bits outside the location set");
    e->isa_version = (uint32_t)get_uint(p, t, "template.", "isa_version", UINT32_MAX);
    e->semantics_version = (uint32_t)get_uint(p, t, "template.", "semantics_version", UINT32_MAX);
}

static void parse_ops(struct pctx *p, json_t *root, struct library_entry *e)
{
    json_t *ops = get(p, root, "", "pixel_ops");
    if (!ops)
        return;
    if (!json_is_array(ops)) {
        perr(p, "field 'pixel_ops' is not an array");
        return;
    }
    size_t n = json_array_size(ops);
    if (n > LIBRARY_MAX_OPS) {
        perr(p, "field 'pixel_ops' has %zu instructions, at most %u", n, LIBRARY_MAX_OPS);
        return;
    }
    if (n == 0)
        return;
    e->pixel_ops = malloc(4 * n);
    if (!e->pixel_ops) {
        perr(p, "out of memory for pixel_ops (%zu instructions)", n);
        return;
    }
    e->pixel_ops_len = 4 * n;
    for (size_t i = 0; i < n; i++) {
        json_t *op = json_array_get(ops, i);
        if (!json_is_array(op) || json_array_size(op) != 4) {
            perr(p, "pixel_ops[%zu] is not an array [opcode, rd, rs1, rs2]", i);
            return;
        }
        for (size_t j = 0; j < 4; j++) {
            json_t *b = json_array_get(op, j);
            json_int_t v = json_is_integer(b) ? json_integer_value(b) : -1;
            if (v < 0 || v > 255) {
                perr(p, "pixel_ops[%zu][%zu] is not an integer 0..255", i, j);
                return;
            }
            e->pixel_ops[4 * i + j] = (uint8_t)v;
        }
    }
}

static void parse_speedups(struct pctx *p, json_t *root, struct library_entry *e)
{
    json_t *sp = get_obj(p, root, "speedups");
    if (!sp)
        return;
    const char *name;
    json_t *v;
    json_object_foreach(sp, name, v) {
        if (e->nspeedups >= LIBRARY_MAX_SPEEDUPS) {
            perr(p, "field 'speedups' has more than %d executors", LIBRARY_MAX_SPEEDUPS);
            return;
        }
        size_t nl = strlen(name);
        if (nl == 0 || nl >= LIBRARY_NAME_MAX) {
            perr(p, "speedups: executor name \"%.40s\" is empty or too long", name);
            return;
        }
        if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0) {
            perr(p, "speedups.%s is not a finite non-negative number", name);
            return;
        }
        struct library_speedup *s = &e->speedup[e->nspeedups++];
        memcpy(s->executor, name, nl + 1);
        s->ratio = json_number_value(v);
    }
}

bool library_entry_parse(const char *json, size_t len, const char *expect_key,
                         struct library_entry *out, char *err, size_t errlen)
{
    char dummy[8];
    struct pctx p = { .err = err ? err : dummy, .errlen = err ? errlen : sizeof dummy };
    library_entry_init(out);
    if (len > LIBRARY_MAX_ENTRY_BYTES) {
        perr(&p, "entry is %zu bytes, larger than the %u-byte limit", len, LIBRARY_MAX_ENTRY_BYTES);
        return false;
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        perr(&p, "JSON error at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return false;
    }
    if (!json_is_object(root)) {
        perr(&p, "top level is not an object");
        goto done;
    }

    const char *fmt = get_str(&p, root, "", "format", 64, NULL);
    if (!p.failed && strcmp(fmt, LIBRARY_FORMAT) != 0)
        perr(&p, "field 'format' = \"%s\", expected \"%s\"", fmt, LIBRARY_FORMAT);
    const char *key = get_str(&p, root, "", "x86_hash", LIBRARY_KEY_HEX_LEN, NULL);
    if (!p.failed && !sha256_hex_valid(key))
        perr(&p, "field 'x86_hash' = \"%s\" is not 64 lower-case hex digits", key);
    if (!p.failed && expect_key && strcmp(key, expect_key) != 0)
        perr(&p, "field 'x86_hash' = %.16s… does not match the file name %.16s…", key, expect_key);
    if (!p.failed)
        memcpy(out->key, key, LIBRARY_KEY_HEX_LEN + 1);

    out->kind = (enum library_kind)get_enum(&p, root, "kind", kind_names, NELEM(kind_names));
    parse_template(&p, root, out);
    if (!p.failed) {
        char k2[LIBRARY_KEY_HEX_LEN + 1];
        struct library_template t;
        entry_template(out, &t);
        library_key(&t, k2, NULL);
        if (strcmp(k2, out->key) != 0)
            perr(&p, "content hashes to %.16s…, not to its x86_hash %.16s… (altered entry)",
                 k2, out->key);
    }
    parse_ops(&p, root, out);
    out->method = (enum library_method)get_enum(&p, root, "method", method_names, NELEM(method_names));
    out->cost = (uint32_t)get_uint(&p, root, "", "cost", UINT32_MAX);
    out->baseline_cost = (uint32_t)get_uint(&p, root, "", "baseline_cost", UINT32_MAX);
    out->proof = (enum library_proof)get_enum(&p, root, "proof", proof_names, NELEM(proof_names));

    json_t *tests = get_obj(&p, root, "tests");
    if (tests) {
        out->tests_unicorn = (uint32_t)get_uint(&p, tests, "tests.", "unicorn", UINT32_MAX);
        out->tests_native = (uint32_t)get_uint(&p, tests, "tests.", "native", UINT32_MAX);
        out->tests_failed = (uint32_t)get_uint(&p, tests, "tests.", "failed", UINT32_MAX);
    }
    json_t *times = get_obj(&p, root, "times_us");
    if (times) {
        out->synth_us = get_uint(&p, times, "times_us.", "synth", INT64_MAX);
        out->proof_us = get_uint(&p, times, "times_us.", "proof", INT64_MAX);
        out->test_us = get_uint(&p, times, "times_us.", "test", INT64_MAX);
    }
    parse_speedups(&p, root, out);
    out->instances = get_uint(&p, root, "", "instances", INT64_MAX);
    copy_text(&p, out->first_seen_workload, sizeof out->first_seen_workload, root, "",
              "first_seen_workload");
    get_time(&p, root, "created", &out->created);
    get_time(&p, root, "updated", &out->updated);

    if (!p.failed && out->kind == LIBRARY_KIND_QEMU_ONLY) {
        json_t *q = get_obj(&p, root, "qemu_only");
        if (q) {
            copy_text(&p, out->reason, sizeof out->reason, q, "qemu_only.", "reason");
            copy_text(&p, out->mnemonic, sizeof out->mnemonic, q, "qemu_only.", "mnemonic");
        }
        if (!p.failed && out->pixel_ops_len)
            perr(&p, "a qemu_only marker carries pixel_ops");
    }
    if (!p.failed && out->kind == LIBRARY_KIND_VERIFIED) {
        if (out->proof != LIBRARY_PROOF_PROVED)
            perr(&p, "a verified entry has proof \"%s\", not \"proved\"", library_proof_name(out->proof));
        else if (out->tests_failed)
            perr(&p, "a verified entry records %u failed tests", out->tests_failed);
        else if (out->method == LIBRARY_METHOD_QEMU_ONLY)
            perr(&p, "a verified entry has method \"qemu_only\"");
    }

done:
    json_decref(root);
    if (p.failed) {
        library_entry_free(out);
        return false;
    }
    return true;
}

/* ---- the in-memory index ------------------------------------------------------ */

/* The identity of an entry file: changes whenever the file is replaced. */
struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

static bool sig_equal(const struct file_sig *a, const struct file_sig *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void sig_of(const struct stat *st, struct file_sig *s)
{
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
}

enum slot_state { SLOT_EMPTY, SLOT_NAMED, SLOT_PARSED, SLOT_CORRUPT, SLOT_ABSENT };

struct slot {
    enum slot_state state;
    char key[LIBRARY_KEY_HEX_LEN + 1];
    struct file_sig sig;             /* valid for PARSED and CORRUPT */
    struct library_entry entry;      /* valid for PARSED */
};

struct library {
    char *dir;
    int dirfd;
    int lockfd;                      /* open only while a locked operation runs */
    uint32_t isa_version, semantics_version;
    bool read_only;
    struct slot *slots;
    size_t cap, used;                /* cap is a power of two; used counts non-empty slots */
    struct library_stats st;
    unsigned tmp_seq;
};

static size_t key_hash(const char *key)
{
    /* The key is already a uniform hash: its first 16 hex digits will do. */
    uint8_t b[8];
    uint64_t h = 0;
    if (hex_decode(key, 16, b, 8))
        for (int i = 0; i < 8; i++)
            h = h << 8 | b[i];
    return (size_t)h;
}

static struct slot *index_find(struct library *lib, const char *key)
{
    size_t mask = lib->cap - 1;
    for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask) {
        struct slot *s = &lib->slots[i];
        if (s->state == SLOT_EMPTY)
            return NULL;
        if (strcmp(s->key, key) == 0)
            return s;
    }
}

static bool index_grow(struct library *lib)
{
    size_t ncap = lib->cap ? lib->cap * 2 : 256;
    struct slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < lib->cap; i++) {
        struct slot *s = &lib->slots[i];
        if (s->state == SLOT_EMPTY)
            continue;
        size_t j = key_hash(s->key) & (ncap - 1);
        while (ns[j].state != SLOT_EMPTY)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(lib->slots);
    lib->slots = ns;
    lib->cap = ncap;
    return true;
}

/* The slot of a key, created (state NAMED) if absent; NULL on OOM. */
static struct slot *index_get(struct library *lib, const char *key)
{
    struct slot *s = lib->cap ? index_find(lib, key) : NULL;
    if (s)
        return s;
    if ((lib->used + 1) * 4 > lib->cap * 3 && !index_grow(lib))
        return NULL;
    size_t mask = lib->cap - 1, i = key_hash(key) & mask;
    while (lib->slots[i].state != SLOT_EMPTY)
        i = (i + 1) & mask;
    s = &lib->slots[i];
    s->state = SLOT_NAMED;
    memcpy(s->key, key, LIBRARY_KEY_HEX_LEN + 1);
    lib->used++;
    return s;
}

static void slot_forget(struct slot *s, enum slot_state state)
{
    if (s->state == SLOT_PARSED)
        library_entry_free(&s->entry);
    s->state = state;
}

/* ---- file I/O ------------------------------------------------------------------ */

/* "<key>.json" → key (true), anything else false. */
static bool entry_name_key(const char *name, char key[LIBRARY_KEY_HEX_LEN + 1])
{
    if (strlen(name) != LIBRARY_KEY_HEX_LEN + 5 || strcmp(name + LIBRARY_KEY_HEX_LEN, ".json") != 0)
        return false;
    memcpy(key, name, LIBRARY_KEY_HEX_LEN);
    key[LIBRARY_KEY_HEX_LEN] = '\0';
    return sha256_hex_valid(key);
}

int library_entry_path(const struct library *lib, const char *key, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s.json", lib->dir, key);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Read and parse one entry through the directory fd.  Returns 1 parsed,
 * 0 absent, -2 corrupt (err filled), -1 I/O error (err filled). */
static int read_entry(struct library *lib, const char *key, struct library_entry *e,
                      struct file_sig *sig, char *err, size_t errlen)
{
    char name[LIBRARY_KEY_HEX_LEN + 8];
    snprintf(name, sizeof name, "%s.json", key);
    library_entry_init(e);
    int fd = openat(lib->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        int saved = errno;
        snprintf(err, errlen, "cannot open: %s", strerror(saved));
        return saved == ELOOP ? -2 : -1;   /* a symlink is not an entry */
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat: %s", strerror(errno));
        close(fd);
        return -1;
    }
    sig_of(&st, sig);
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)LIBRARY_MAX_ENTRY_BYTES) {
        snprintf(err, errlen, "not a regular file of at most %u bytes", LIBRARY_MAX_ENTRY_BYTES);
        close(fd);
        return -2;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory (%zu bytes)", size);
        close(fd);
        return -1;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int rc = library_entry_parse(buf, got, key, e, err, errlen) ? 1 : -2;
    free(buf);
    return rc;
}

static void note_corrupt(struct library *lib, const char *key, const char *err)
{
    lib->st.corrupt++;
    log_warn("library: ignoring corrupt entry %s/%s.json: %s", lib->dir, key, err);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Serialize e and install it as DIR/<key>.json atomically: temp file in DIR,
 * fsync, rename over, fsync DIR.  On success *sig is the new file's identity. */
static int write_entry(struct library *lib, const struct library_entry *e, struct file_sig *sig)
{
    char *json = library_entry_to_json(e);
    if (!json) {
        log_error("library: cannot serialize entry %s (out of memory)", e->key);
        lib->st.write_errors++;
        return -1;
    }
    char tmp[LIBRARY_KEY_HEX_LEN + 64], name[LIBRARY_KEY_HEX_LEN + 8];
    snprintf(tmp, sizeof tmp, ".tmp-%.16s-%ld-%u", e->key, (long)getpid(), lib->tmp_seq++);
    snprintf(name, sizeof name, "%s.json", e->key);
    int fd = openat(lib->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const char *what = "create";
    struct stat st;
    if (fd < 0)
        goto fail;
    what = "write";
    if (write_all(fd, json, strlen(json)) != 0)
        goto fail;
    what = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    what = "stat";
    if (fstat(fd, &st) != 0)
        goto fail;
    close(fd);
    fd = -1;
    what = "rename";
    if (renameat(lib->dirfd, tmp, lib->dirfd, name) != 0)
        goto fail;
    (void)fsync(lib->dirfd);  /* durability of the name; the entry is complete either way */
    sig_of(&st, sig);
    free(json);
    lib->st.puts++;
    return 0;

fail:;
    int saved = errno;
    log_error("library: cannot %s %s/%s for entry %s: %s", what, lib->dir, tmp, e->key,
              strerror(saved));
    if (fd >= 0)
        close(fd);
    unlinkat(lib->dirfd, tmp, 0);
    free(json);
    lib->st.write_errors++;
    return -1;
}

/* The lock file is opened for each locked operation rather than once per
 * handle: flock belongs to the open file description, so a descriptor
 * inherited across fork() would let parent and child "share" the lock. */
static int lock_library(struct library *lib)
{
    if (lib->read_only) {
        log_error("library: %s is open read-only; refusing to write", lib->dir);
        return -1;
    }
    lib->lockfd = openat(lib->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lib->lockfd < 0) {
        log_error("library: cannot open lock file %s/.lock: %s", lib->dir, strerror(errno));
        return -1;
    }
    while (flock(lib->lockfd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            log_error("library: cannot lock %s/.lock: %s", lib->dir, strerror(errno));
            close(lib->lockfd);
            lib->lockfd = -1;
            return -1;
        }
    }
    return 0;
}

static void unlock_library(struct library *lib)
{
    if (lib->lockfd >= 0) {
        flock(lib->lockfd, LOCK_UN);
        close(lib->lockfd);
        lib->lockfd = -1;
    }
}

/* Remember what is now on disk for key. */
static void cache_entry(struct library *lib, const struct library_entry *e, const struct file_sig *sig)
{
    struct slot *s = index_get(lib, e->key);
    if (!s)
        return;
    slot_forget(s, SLOT_NAMED);
    if (library_entry_copy(&s->entry, e)) {
        s->state = SLOT_PARSED;
        s->sig = *sig;
    }
}

/* ---- open / close ------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

struct library *library_open(const char *dir, const struct library_options *opts)
{
    struct library *lib = calloc(1, sizeof *lib);
    if (!lib || !dir || !*dir) {
        log_error("library: cannot open library '%s': %s", dir ? dir : "(null)",
                  lib ? "empty path" : "out of memory");
        free(lib);
        return NULL;
    }
    lib->dirfd = lib->lockfd = -1;
    lib->isa_version = opts && opts->isa_version ? opts->isa_version : LIBRARY_ISA_VERSION;
    lib->semantics_version = opts && opts->semantics_version ? opts->semantics_version
                                                             : LIBRARY_SEMANTICS_VERSION;
    lib->read_only = opts && opts->read_only;
    lib->dir = strdup(dir);
    if (!lib->dir)
        goto fail;
    if (!lib->read_only && mkdir_p(dir) != 0) {
        log_error("library: cannot create directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    lib->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lib->dirfd < 0) {
        log_error("library: cannot open directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (!index_grow(lib))
        goto fail;

    int dfd = openat(lib->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* own offset, even after fork */
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        log_error("library: cannot list %s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        goto fail;
    }
    struct dirent *de;
    char key[LIBRARY_KEY_HEX_LEN + 1];
    while ((de = readdir(d)) != NULL)
        if (entry_name_key(de->d_name, key) && !index_get(lib, key)) {
            closedir(d);
            goto fail;
        }
    closedir(d);
    return lib;

fail:
    library_close(lib);
    return NULL;
}

void library_close(struct library *lib)
{
    if (!lib)
        return;
    for (size_t i = 0; i < lib->cap; i++)
        slot_forget(&lib->slots[i], SLOT_EMPTY);
    free(lib->slots);
    if (lib->lockfd >= 0)
        close(lib->lockfd);
    if (lib->dirfd >= 0)
        close(lib->dirfd);
    free(lib->dir);
    free(lib);
}

const char *library_dir(const struct library *lib) { return lib->dir; }
uint32_t library_isa_version(const struct library *lib) { return lib->isa_version; }
uint32_t library_semantics_version(const struct library *lib) { return lib->semantics_version; }

void library_key_for(const struct library *lib, const uint8_t *code, size_t code_len,
                     uint8_t cpu_mode, x86_locset live_out, char key_hex[LIBRARY_KEY_HEX_LEN + 1])
{
    struct library_template t = {
        .code = code, .code_len = code_len, .cpu_mode = cpu_mode, .live_out = live_out,
        .isa_version = lib->isa_version, .semantics_version = lib->semantics_version,
    };
    library_key(&t, key_hex, NULL);
}

void library_get_stats(const struct library *lib, struct library_stats *st)
{
    *st = lib->st;
    st->entries = 0;
    for (size_t i = 0; i < lib->cap; i++)
        if (lib->slots[i].state != SLOT_EMPTY && lib->slots[i].state != SLOT_ABSENT)
            st->entries++;
}

/* ---- lookup -------------------------------------------------------------------- */

/* The current valid entry of key, through the cache.  Returns the slot
 * (state PARSED) or NULL for absent/corrupt/error (*rc: 0 absent or corrupt,
 * -1 error). */
static struct slot *current(struct library *lib, const char *key, int *rc)
{
    char name[LIBRARY_KEY_HEX_LEN + 8];
    struct stat st;
    struct file_sig sig;
    *rc = 0;
    struct slot *s = index_find(lib, key);
    if (!s || s->state == SLOT_ABSENT)
        lib->st.rechecks++;   /* not known at open: another process may have added it */
    snprintf(name, sizeof name, "%s.json", key);
    if (fstatat(lib->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
            log_error("library: cannot stat %s/%s: %s", lib->dir, name, strerror(errno));
            *rc = -1;
            return NULL;
        }
        if (s)
            slot_forget(s, SLOT_ABSENT);
        return NULL;
    }
    sig_of(&st, &sig);
    if (s && (s->state == SLOT_PARSED || s->state == SLOT_CORRUPT) && sig_equal(&sig, &s->sig))
        return s->state == SLOT_PARSED ? s : NULL;   /* unchanged since we read it */

    char err[256];
    struct library_entry e;
    int r = read_entry(lib, key, &e, &sig, err, sizeof err);
    if (!s)
        s = index_get(lib, key);
    if (r == 0) {
        if (s)
            slot_forget(s, SLOT_ABSENT);
        return NULL;
    }
    if (r == -1) {
        log_error("library: cannot read %s/%s: %s", lib->dir, name, err);
        *rc = -1;
        return NULL;
    }
    if (r == -2) {
        note_corrupt(lib, key, err);
        if (s) {
            slot_forget(s, SLOT_CORRUPT);
            s->sig = sig;
        }
        return NULL;
    }
    if (!s) {                    /* out of memory for the cache: serve uncached */
        library_entry_free(&e);
        *rc = -1;
        return NULL;
    }
    slot_forget(s, SLOT_PARSED);
    s->entry = e;
    s->sig = sig;
    return s;
}

enum library_result library_lookup(struct library *lib, const char *key, struct library_entry *out)
{
    if (out)
        library_entry_init(out);
    if (!sha256_hex_valid(key)) {
        log_error("library: lookup of malformed key \"%.70s\" (want 64 lower-case hex digits)",
                  key ? key : "(null)");
        return LIBRARY_ERROR;
    }
    lib->st.lookups++;
    int rc;
    struct slot *s = current(lib, key, &rc);
    if (!s) {
        if (rc < 0)
            return LIBRARY_ERROR;
        lib->st.misses++;
        return LIBRARY_MISS;
    }
    if (out && !library_entry_copy(out, &s->entry)) {
        log_error("library: out of memory copying entry %s", key);
        return LIBRARY_ERROR;
    }
    if (s->entry.kind == LIBRARY_KIND_QEMU_ONLY) {
        lib->st.qemu_only_hits++;
        return LIBRARY_HIT_QEMU_ONLY;
    }
    lib->st.hits++;
    return LIBRARY_HIT;
}

/* ---- puts and updates ------------------------------------------------------------ */

static bool entry_well_formed(const struct library_entry *e, const char **why)
{
    if (!e->code || e->code_len == 0 || e->code_len > LIBRARY_MAX_CODE)
        return *why = "template code is empty or longer than LIBRARY_MAX_CODE", false;
    if (e->cpu_mode != 16 && e->cpu_mode != 32 && e->cpu_mode != 64)
        return *why = "cpu_mode is not 16, 32 or 64", false;
    if ((e->live_in | e->live_out) & ~X86_LOC_ALL)
        return *why = "live-in/live-out has bits outside the location set", false;
    if (e->pixel_ops_len % 4 || e->pixel_ops_len / 4 > LIBRARY_MAX_OPS)
        return *why = "pixel_ops is not whole 4-byte instructions (or too many)", false;
    if (e->pixel_ops_len && !e->pixel_ops)
        return *why = "pixel_ops length without a buffer", false;
    if (e->nspeedups > LIBRARY_MAX_SPEEDUPS)
        return *why = "too many speedups", false;
    for (unsigned i = 0; i < e->nspeedups; i++)
        if (!e->speedup[i].executor[0] || !isfinite(e->speedup[i].ratio) || e->speedup[i].ratio < 0)
            return *why = "a speedup has no executor name or a non-finite/negative ratio", false;
    return true;
}

static time_t now_s(void) { return time(NULL); }

int library_put_verified(struct library *lib, const struct library_entry *in)
{
    const char *why = NULL;
    struct library_entry e;
    if (!library_entry_copy(&e, in)) {
        log_error("library: out of memory storing entry");
        return -1;
    }
    char key[LIBRARY_KEY_HEX_LEN + 1] = "";
    struct library_template t;
    entry_template(&e, &t);
    if (!entry_well_formed(&e, &why))
        goto reject;
    library_key(&t, key, NULL);
    if (e.key[0] && strcmp(e.key, key) != 0) {
        why = "its key is not the key of its template (wrong versions, live-out or code?)";
        goto reject;
    }
    memcpy(e.key, key, sizeof key);
    if (e.proof != LIBRARY_PROOF_PROVED || e.tests_failed) {
        why = "only proved microcode with no failed test may be stored";
        goto reject;
    }
    if (e.method == LIBRARY_METHOD_QEMU_ONLY) {
        why = "method qemu_only is not verified microcode (use library_put_qemu_only)";
        goto reject;
    }
    e.kind = LIBRARY_KIND_VERIFIED;
    e.reason[0] = e.mnemonic[0] = '\0';

    if (lock_library(lib) != 0)
        goto fail;
    struct library_entry old;
    struct file_sig sig;
    char err[256];
    int r = read_entry(lib, e.key, &old, &sig, err, sizeof err);
    if (r == -2)
        log_warn("library: replacing corrupt entry %s/%s.json: %s", lib->dir, e.key, err);
    e.updated = now_s();
    if (r == 1) {
        e.created = old.created;
        if (old.first_seen_workload[0])
            memcpy(e.first_seen_workload, old.first_seen_workload, sizeof e.first_seen_workload);
        if (e.nspeedups == 0) {
            memcpy(e.speedup, old.speedup, sizeof e.speedup);
            e.nspeedups = old.nspeedups;
        }
        if (old.kind == LIBRARY_KIND_VERIFIED)
            e.instances += old.instances;
        else
            log_info("library: verified microcode replaces the QEMU-only marker %s (%s: %s)",
                     e.key, old.mnemonic, old.reason);
        library_entry_free(&old);
    } else {
        e.created = e.updated;
    }
    int rc = write_entry(lib, &e, &sig);
    unlock_library(lib);
    if (rc == 0)
        cache_entry(lib, &e, &sig);
    library_entry_free(&e);
    return rc;

reject:
    log_error("library: refusing to store entry %.16s…: %s", e.key[0] ? e.key : key, why);
fail:
    library_entry_free(&e);
    return -1;
}

int library_put_qemu_only(struct library *lib, const struct library_template *t,
                          const char *reason, const char *mnemonic, const char *workload)
{
    struct library_entry e;
    library_entry_init(&e);
    if (!library_entry_set_code(&e, t->code, t->code_len)) {
        log_error("library: out of memory storing a QEMU-only marker");
        return -1;
    }
    e.kind = LIBRARY_KIND_QEMU_ONLY;
    e.cpu_mode = t->cpu_mode;
    e.live_out = t->live_out;
    e.isa_version = t->isa_version;
    e.semantics_version = t->semantics_version;
    e.method = LIBRARY_METHOD_QEMU_ONLY;
    e.proof = LIBRARY_PROOF_NOT_ATTEMPTED;
    e.instances = 1;
    snprintf(e.reason, sizeof e.reason, "%s", reason ? reason : "");
    snprintf(e.mnemonic, sizeof e.mnemonic, "%s", mnemonic ? mnemonic : "");
    snprintf(e.first_seen_workload, sizeof e.first_seen_workload, "%s", workload ? workload : "");
    library_entry_rekey(&e);
    const char *why = NULL;
    if (!entry_well_formed(&e, &why)) {
        log_error("library: refusing QEMU-only marker %.16s…: %s", e.key, why);
        library_entry_free(&e);
        return -1;
    }

    if (lock_library(lib) != 0) {
        library_entry_free(&e);
        return -1;
    }
    struct library_entry old;
    struct file_sig sig;
    char err[256];
    int r = read_entry(lib, e.key, &old, &sig, err, sizeof err), rc;
    if (r == -2)
        log_warn("library: replacing corrupt entry %s/%s.json: %s", lib->dir, e.key, err);
    e.created = e.updated = now_s();
    if (r == 1 && old.kind == LIBRARY_KIND_VERIFIED) {
        unlock_library(lib);
        log_info("library: not marking %.16s… QEMU-only (%s): verified microcode exists",
                 e.key, e.mnemonic);
        library_entry_free(&old);
        library_entry_free(&e);
        return 1;
    }
    if (r == 1) {
        e.created = old.created;
        e.instances += old.instances;
        if (old.first_seen_workload[0])
            memcpy(e.first_seen_workload, old.first_seen_workload, sizeof e.first_seen_workload);
        library_entry_free(&old);
    }
    rc = write_entry(lib, &e, &sig);
    unlock_library(lib);
    if (rc == 0)
        cache_entry(lib, &e, &sig);
    library_entry_free(&e);
    return rc;
}

/* Locked read-modify-write of one valid entry. */
typedef void (*modify_fn)(struct library_entry *e, const void *arg);

static int modify_entry(struct library *lib, const char *key, modify_fn fn, const void *arg)
{
    if (!sha256_hex_valid(key)) {
        log_error("library: update of malformed key \"%.70s\"", key ? key : "(null)");
        return -1;
    }
    if (lock_library(lib) != 0)
        return -1;
    struct library_entry e;
    struct file_sig sig;
    char err[256];
    int r = read_entry(lib, key, &e, &sig, err, sizeof err), rc;
    if (r != 1) {
        unlock_library(lib);
        if (r == -2)
            note_corrupt(lib, key, err);
        else if (r == -1)
            log_error("library: cannot read %s/%s.json: %s", lib->dir, key, err);
        return r == -1 ? -1 : 1;
    }
    fn(&e, arg);
    e.updated = now_s();
    rc = write_entry(lib, &e, &sig);
    unlock_library(lib);
    if (rc == 0) {
        lib->st.updates++;
        cache_entry(lib, &e, &sig);
    }
    library_entry_free(&e);
    return rc;
}

struct speedup_arg {
    const char *executor;
    double ratio;
};

static void set_speedup(struct library_entry *e, const void *varg)
{
    const struct speedup_arg *a = varg;
    unsigned i;
    for (i = 0; i < e->nspeedups; i++)
        if (strcmp(e->speedup[i].executor, a->executor) == 0)
            break;
    if (i == e->nspeedups) {
        if (e->nspeedups == LIBRARY_MAX_SPEEDUPS)
            i = LIBRARY_MAX_SPEEDUPS - 1;   /* full: the newest replaces the last */
        else
            e->nspeedups++;
    }
    snprintf(e->speedup[i].executor, sizeof e->speedup[i].executor, "%s", a->executor);
    e->speedup[i].ratio = a->ratio;
}

int library_update_speedup(struct library *lib, const char *key, const char *executor, double ratio)
{
    if (!executor || !*executor || strlen(executor) >= LIBRARY_NAME_MAX || !isfinite(ratio) ||
        ratio < 0) {
        log_error("library: bad speedup for %.16s…: executor \"%s\", ratio %g",
                  key ? key : "(null)", executor ? executor : "(null)", ratio);
        return -1;
    }
    struct speedup_arg a = { executor, ratio };
    return modify_entry(lib, key, set_speedup, &a);
}

static void add_instances(struct library_entry *e, const void *arg)
{
    uint64_t n = *(const uint64_t *)arg;
    e->instances = e->instances + n < e->instances ? UINT64_MAX : e->instances + n;
}

int library_add_instances(struct library *lib, const char *key, uint64_t n)
{
    return modify_entry(lib, key, add_instances, &n);
}

/* ---- walking ---------------------------------------------------------------------- */

static int cmp_keys(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Sorted keys of the entry files now in DIR (malloc'd); -1 on error. */
static int list_keys(struct library *lib, char (**keys)[LIBRARY_KEY_HEX_LEN + 1])
{
    int dfd = openat(lib->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* own offset, even after fork */
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        log_error("library: cannot list %s: %s", lib->dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    rewinddir(d);
    size_t n = 0, cap = 64;
    char (*k)[LIBRARY_KEY_HEX_LEN + 1] = malloc(cap * sizeof *k);
    struct dirent *de;
    while (k && (de = readdir(d)) != NULL) {
        if (n == cap) {
            void *nk = realloc(k, 2 * cap * sizeof *k);
            if (!nk) {
                free(k);
                k = NULL;
                break;
            }
            k = nk;
            cap *= 2;
        }
        if (entry_name_key(de->d_name, k[n]))
            n++;
    }
    closedir(d);
    if (!k) {
        log_error("library: out of memory listing %s", lib->dir);
        return -1;
    }
    qsort(k, n, sizeof *k, cmp_keys);
    *keys = k;
    return (int)n;
}

int library_foreach(struct library *lib, library_visit_fn fn, void *ctx)
{
    char (*keys)[LIBRARY_KEY_HEX_LEN + 1];
    int n = list_keys(lib, &keys);
    if (n < 0)
        return -1;
    int ret = 0;
    for (int i = 0; i < n && ret == 0; i++) {
        char path[4200], err[256] = "";
        struct library_entry e;
        struct file_sig sig;
        library_entry_path(lib, keys[i], path, sizeof path);
        int r = read_entry(lib, keys[i], &e, &sig, err, sizeof err);
        if (r == 0)
            continue;    /* removed meanwhile */
        if (r < 0) {
            if (r == -2)
                lib->st.corrupt++;
            ret = fn(path, NULL, err, ctx);
        } else {
            ret = fn(path, &e, NULL, ctx);
            library_entry_free(&e);
        }
    }
    free(keys);
    return ret;
}

int library_find_prefix(struct library *lib, const char *prefix,
                        char (*out)[LIBRARY_KEY_HEX_LEN + 1], int max)
{
    char (*keys)[LIBRARY_KEY_HEX_LEN + 1];
    int n = list_keys(lib, &keys);
    if (n < 0)
        return -1;
    size_t pl = strlen(prefix);
    int found = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(keys[i], prefix, pl) == 0) {
            if (found < max)
                memcpy(out[found], keys[i], sizeof keys[i]);
            found++;
        }
    free(keys);
    return found;
}

/* ---- prune ---------------------------------------------------------------------- */

/* Crashed writers leave .tmp-* files; one older than this is certainly dead. */
#define STALE_TEMP_SECONDS 3600

static void prune_temp_files(struct library *lib, struct library_prune_result *res)
{
    int dfd = openat(lib->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* own offset, even after fork */
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    rewinddir(d);
    struct dirent *de;
    time_t now = now_s();
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(de->d_name, ".tmp-", 5) != 0 ||
            fstatat(lib->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            now - st.st_mtime < STALE_TEMP_SECONDS)
            continue;
        if (unlinkat(lib->dirfd, de->d_name, 0) == 0)
            res->stale_temp_files++;
    }
    closedir(d);
}

int library_prune(struct library *lib, unsigned flags, time_t before,
                  struct library_prune_result *res)
{
    struct library_prune_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof *res);
    bool dry = flags & LIBRARY_PRUNE_DRY_RUN;
    if (lock_library(lib) != 0)
        return -1;
    char (*keys)[LIBRARY_KEY_HEX_LEN + 1];
    int n = list_keys(lib, &keys);
    if (n < 0) {
        unlock_library(lib);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        struct library_entry e;
        struct file_sig sig;
        char err[256];
        int r = read_entry(lib, keys[i], &e, &sig, err, sizeof err);
        if (r == 0)
            continue;
        res->examined++;
        bool go = false;
        if (r == -2) {
            go = flags & LIBRARY_PRUNE_CORRUPT;
            if (go)
                res->removed_corrupt++;
        } else if (r == 1) {
            if ((flags & LIBRARY_PRUNE_VERSION_MISMATCH) &&
                (e.isa_version != lib->isa_version || e.semantics_version != lib->semantics_version)) {
                go = true;
                res->removed_version++;
            } else if ((flags & LIBRARY_PRUNE_QEMU_ONLY) && e.kind == LIBRARY_KIND_QEMU_ONLY) {
                go = true;
                res->removed_qemu_only++;
            } else if ((flags & LIBRARY_PRUNE_OLDER_THAN) && e.updated < before) {
                go = true;
                res->removed_old++;
            }
            library_entry_free(&e);
        }
        if (!go) {
            res->kept++;
            continue;
        }
        char name[LIBRARY_KEY_HEX_LEN + 8];
        snprintf(name, sizeof name, "%s.json", keys[i]);
        if (!dry && unlinkat(lib->dirfd, name, 0) != 0 && errno != ENOENT) {
            log_error("library: cannot remove %s/%s: %s", lib->dir, name, strerror(errno));
            rc = -1;
            continue;
        }
        res->removed++;
        struct slot *s = index_find(lib, keys[i]);
        if (s && !dry)
            slot_forget(s, SLOT_ABSENT);
    }
    free(keys);
    if (!dry) {
        prune_temp_files(lib, res);
        (void)fsync(lib->dirfd);
    }
    unlock_library(lib);
    return rc;
}
