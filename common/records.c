/* records.c — encoder, validating decoder, text dump and docs, all driven by
 * the table in records.h.
 *
 * The msgpack reader here is our own, not msgpack-c's unpacker, on purpose:
 * it reports byte offsets, checks every count against the table and the
 * bytes left BEFORE allocating (msgpack-c's unpacker allocates count *
 * sizeof(msgpack_object) for an array header it has not validated, so a
 * 5-byte hostile record could ask for 68 GiB), and copies nothing it does not
 * need.  The writer is also our own (appending to rec_buf without a callback
 * per item keeps the TRACE_EXEC hot path cheap).  Both produce and accept
 * standard msgpack; tests/unit/test_records.c cross-checks every encoded
 * record with msgpack-c's msgpack_unpack_next.
 */
#include "records.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- table descriptors -------------------------------------------------------------- */
/* One entry macro per type: offsetof needs the struct's name. */
#define DEF_FIELDS(NAME, lname, tag, ver, doc)                                                  \
    static const struct rec_field_desc fields_##lname[] = {                                    \
        REC_FIELDS_##lname(ENTRY_##lname)                                                       \
    };
#define ENTRY_trace_tb(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_trace_tb, fname), fdoc },
#define ENTRY_trace_exec(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_trace_exec, fname), fdoc },
#define ENTRY_trace_sample(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_trace_sample, fname), fdoc },
#define ENTRY_trace_insn(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_trace_insn, fname), fdoc },
#define ENTRY_trace_insns(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_trace_insns, fname), fdoc },
#define ENTRY_trace_end(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_trace_end, fname), fdoc },
#define ENTRY_block(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_block, fname), fdoc },
#define ENTRY_synth_job(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_synth_job, fname), fdoc },
#define ENTRY_candidate(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_candidate, fname), fdoc },
#define ENTRY_verdict(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_verdict, fname), fdoc },
#define ENTRY_test_seq(kind, fname, fmax, funit, fdoc) { #fname, REC_K_##kind, (fmax), (funit), offsetof(struct rec_test_seq, fname), fdoc },
REC_TYPES(DEF_FIELDS)

#define DEF_TYPE(NAME, lname, tag, ver, doc) \
    static const struct rec_type_desc type_##lname = { #NAME, tag, ver, doc, fields_##lname, \
        (uint32_t)(sizeof fields_##lname / sizeof fields_##lname[0]), sizeof(struct rec_##lname) };
REC_TYPES(DEF_TYPE)

#define TYPE_PTR(NAME, lname, tag, ver, doc) &type_##lname,
static const struct rec_type_desc *const all_types[] = { REC_TYPES(TYPE_PTR) };
#define NTYPES (sizeof all_types / sizeof all_types[0])

static const char *const kind_names[] = {
#define KIND_NAME(k, ctype, form) #k,
    REC_KINDS(KIND_NAME)
};
static const char *const kind_forms[] = {
#define KIND_FORM(k, ctype, form) form,
    REC_KINDS(KIND_FORM)
};

const struct rec_type_desc *rec_type_by_tag(uint32_t tag)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (all_types[i]->tag == tag) return all_types[i];
    return NULL;
}
const char *rec_type_name(uint32_t tag)
{
    const struct rec_type_desc *d = rec_type_by_tag(tag);
    return d ? d->name : "unknown";
}
size_t rec_types(const struct rec_type_desc *const **out)
{
    *out = all_types;
    return NTYPES;
}
const char *rec_kind_form(enum rec_kind k) { return (unsigned)k < REC_K_COUNT ? kind_forms[k] : "?"; }
const char *rec_kind_name(enum rec_kind k) { return (unsigned)k < REC_K_COUNT ? kind_names[k] : "?"; }

/* Cross-field rules the column types cannot express; one function per type
 * that has any.  Return NULL when fine, else the offending field's name and
 * a message in `why`. */
static int valid_cpu_mode(unsigned m) { return m == 16 || m == 32 || m == 64; }

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* TRACE_INSNS: the per-instruction arrays agree with each other and with the
 * runs, so an expander can walk them without further bounds checks (the
 * TB-related checks, tb_id known and index within the TB, are the
 * expander's: they need the TRACE_TB). */
static const char *check_trace_insns(const struct rec_trace_insns *r, char *why, size_t whylen)
{
    uint32_t n = r->dt_us.len / 4, sum = 0;
    if (n == 0) { snprintf(why, whylen, "no instructions"); return "dt_us"; }
    if (r->reg_mask.len / 4 != n) { snprintf(why, whylen, "%u masks for %u instructions", r->reg_mask.len / 4, n); return "reg_mask"; }
    if (r->mem_n.len / 2 != n) { snprintf(why, whylen, "%u counts for %u instructions", r->mem_n.len / 2, n); return "mem_n"; }
    for (uint32_t k = 0; k < r->runs.len / 8; k++) {
        uint32_t first = le16(r->runs.ptr + 8 * k + 4), cnt = le16(r->runs.ptr + 8 * k + 6);
        if (cnt == 0 || first + cnt > REC_MAX_TB_INSNS) {
            snprintf(why, whylen, "run %u: instructions %u..%u+%u outside 1..%u", k, first, first, cnt, REC_MAX_TB_INSNS);
            return "runs";
        }
        sum += cnt;
    }
    if (sum != n) { snprintf(why, whylen, "runs hold %u instructions, dt_us %u", sum, n); return "runs"; }
    uint32_t words = 0, mems = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m = le32(r->reg_mask.ptr + 4 * i), c = le16(r->mem_n.ptr + 2 * i);
        if ((m & ~REC_PACK_ALL_REGS) || (i == 0 && m != REC_PACK_ALL_REGS)) {
            snprintf(why, whylen, "instruction %u: mask 0x%x (%s)", i, m,
                     i == 0 ? "the first must be 0xeffff" : "bits outside 0xeffff");
            return "reg_mask";
        }
        if (c > REC_MAX_MEMS) { snprintf(why, whylen, "instruction %u: %u accesses exceed %u", i, c, REC_MAX_MEMS); return "mem_n"; }
        for (uint32_t b = m; b; b &= b - 1) words++;   /* masks are sparse; __builtin_popcount is a libgcc call without -mpopcnt */
        mems += c;
    }
    if ((uint64_t)words * 8 != r->reg_vals.len) { snprintf(why, whylen, "masks name %u words, %u bytes hold %u", words, r->reg_vals.len, r->reg_vals.len / 8); return "reg_vals"; }
    if ((uint64_t)mems * REC_PACK_MEM_BYTES != r->mems.len) {
        snprintf(why, whylen, "counts name %u accesses, %u bytes hold %u", mems, r->mems.len, r->mems.len / REC_PACK_MEM_BYTES);
        return "mems";
    }
    for (uint32_t k = 0; k < mems; k++) {
        const uint8_t *a = r->mems.ptr + REC_PACK_MEM_BYTES * k;
        unsigned sz = a[16];
        if (!(sz == 1 || sz == 2 || sz == 4 || sz == 8 || sz == 16) || a[17] > 1) {
            snprintf(why, whylen, "access %u: size %u, is_store %u", k, sz, a[17]);
            return "mems";
        }
    }
    return NULL;
}

static const char *check_record(uint32_t tag, const void *rv, char *why, size_t whylen)
{
    switch (tag) {
    case REC_TRACE_TB: {
        const struct rec_trace_tb *r = rv;
        if (!valid_cpu_mode(r->cpu_mode)) { snprintf(why, whylen, "cpu_mode %u is not 16, 32 or 64", r->cpu_mode); return "cpu_mode"; }
        uint32_t sum = 0;
        for (uint32_t i = 0; i < r->insn_len.len; i++) {
            uint8_t l = r->insn_len.ptr[i];
            if (l < 1 || l > 15) { snprintf(why, whylen, "instruction %u has length %u (must be 1..15)", i, l); return "insn_len"; }
            sum += l;
        }
        if (sum != r->code.len) { snprintf(why, whylen, "instruction lengths add up to %u but code has %u bytes", sum, r->code.len); return "insn_len"; }
        if (r->disasm.n != r->insn_len.len) { snprintf(why, whylen, "%u strings for %u instructions", r->disasm.n, r->insn_len.len); return "disasm"; }
        return NULL;
    }
    case REC_TRACE_EXEC: {
        const struct rec_trace_exec *r = rv;
        if (r->dt_us.len != 0 && r->dt_us.len != r->tb_ids.len) {
            snprintf(why, whylen, "%u offsets for %u tb ids (must be equal, or none)", r->dt_us.len / 4, r->tb_ids.len / 4);
            return "dt_us";
        }
        return NULL;
    }
    case REC_TRACE_INSNS: return check_trace_insns(rv, why, whylen);
    case REC_BLOCK: {
        const struct rec_block *r = rv;
        if (!valid_cpu_mode(r->cpu_mode)) { snprintf(why, whylen, "cpu_mode %u is not 16, 32 or 64", r->cpu_mode); return "cpu_mode"; }
        return NULL;
    }
    case REC_SYNTH_JOB: {
        const struct rec_synth_job *r = rv;
        if (!valid_cpu_mode(r->cpu_mode)) { snprintf(why, whylen, "cpu_mode %u is not 16, 32 or 64", r->cpu_mode); return "cpu_mode"; }
        if (r->template_key.len != 64) { snprintf(why, whylen, "length %u, expected 64 hex digits", r->template_key.len); return "template_key"; }
        for (uint32_t i = 0; i < 64; i++) {
            char c = r->template_key.ptr[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) { snprintf(why, whylen, "character %u is not a lower-case hex digit", i); return "template_key"; }
        }
        if (!r->lib_hit && r->cached_ops.len) { snprintf(why, whylen, "%u bytes but lib_hit is false", r->cached_ops.len); return "cached_ops"; }
        return NULL;
    }
    default:
        return NULL;
    }
}

/* ---- arena ------------------------------------------------------------------------------ */
struct rec_arena_chunk {
    struct rec_arena_chunk *next;
    size_t cap, used;
    _Alignas(8) unsigned char data[];
};
#define ARENA_CHUNK (64u * 1024u)
#define ARENA_DEFAULT_LIMIT ((size_t)256 << 20)

void rec_arena_init(struct rec_arena *a)
{
    a->head = NULL;
    a->total = 0;
    a->limit = ARENA_DEFAULT_LIMIT;
}

void rec_arena_reset(struct rec_arena *a)
{
    struct rec_arena_chunk *c = a->head, *last = NULL;
    while (c) {
        struct rec_arena_chunk *n = c->next;
        if (n == NULL) { last = c; break; }
        free(c);
        c = n;
    }
    a->head = last;
    a->total = 0;
    if (last) { last->used = 0; a->total = last->cap; }
}

void rec_arena_free(struct rec_arena *a)
{
    struct rec_arena_chunk *c = a->head;
    while (c) { struct rec_arena_chunk *n = c->next; free(c); c = n; }
    a->head = NULL;
    a->total = 0;
}

void *rec_arena_alloc(struct rec_arena *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    if (size == 0) size = 8;
    struct rec_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        if (a->total + cap > a->limit) return NULL;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += cap;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

/* ---- msgpack writer ------------------------------------------------------------------------ */
void rec_buf_init(struct rec_buf *b) { b->data = NULL; b->len = b->cap = 0; }
void rec_buf_reset(struct rec_buf *b) { b->len = 0; }
void rec_buf_free(struct rec_buf *b) { free(b->data); rec_buf_init(b); }

static int buf_reserve(struct rec_buf *b, size_t more)
{
    if (b->cap - b->len >= more) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* The writer only runs after buf_reserve() for the record's worst-case size,
 * so the put_* helpers do no checks. */
static inline uint8_t *put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
    return p + n;
}
static inline uint8_t *put_uint(uint8_t *p, uint64_t v)
{
    if (v < 128) { *p++ = (uint8_t)v; return p; }
    if (v <= 0xff) { *p++ = 0xcc; return put_be(p, v, 1); }
    if (v <= 0xffff) { *p++ = 0xcd; return put_be(p, v, 2); }
    if (v <= 0xffffffffu) { *p++ = 0xce; return put_be(p, v, 4); }
    *p++ = 0xcf;
    return put_be(p, v, 8);
}
static inline uint8_t *put_array(uint8_t *p, uint32_t n)
{
    if (n < 16) { *p++ = (uint8_t)(0x90 | n); return p; }
    if (n <= 0xffff) { *p++ = 0xdc; return put_be(p, n, 2); }
    *p++ = 0xdd;
    return put_be(p, n, 4);
}
static inline uint8_t *put_bin(uint8_t *p, const void *d, uint32_t n)
{
    if (n <= 0xff) { *p++ = 0xc4; p = put_be(p, n, 1); }
    else if (n <= 0xffff) { *p++ = 0xc5; p = put_be(p, n, 2); }
    else { *p++ = 0xc6; p = put_be(p, n, 4); }
    if (n) memcpy(p, d, n);
    return p + n;
}
static inline uint8_t *put_str(uint8_t *p, const char *d, uint32_t n)
{
    if (n < 32) *p++ = (uint8_t)(0xa0 | n);
    else if (n <= 0xff) { *p++ = 0xd9; p = put_be(p, n, 1); }
    else if (n <= 0xffff) { *p++ = 0xda; p = put_be(p, n, 2); }
    else { *p++ = 0xdb; p = put_be(p, n, 4); }
    if (n) memcpy(p, d, n);
    return p + n;
}
static inline uint8_t *put_bool(uint8_t *p, bool v) { *p++ = v ? 0xc3 : 0xc2; return p; }
static inline uint8_t *put_nil(uint8_t *p) { *p++ = 0xc0; return p; }

#define MAX_UINT 9u
#define MAX_HDR 5u
#define REGS_BYTES (1 + REC_NREGS * MAX_UINT)
#define MEM_BYTES (1 + 2 * MAX_UINT + MAX_UINT + 1)
#define SAMPLE_BYTES(nmem) (1 + REGS_BYTES + MAX_HDR + (size_t)(nmem) * MEM_BYTES + REGS_BYTES)

/* ---- encoding (validation, size bound, write) ------------------------------------------------ */
struct enc {
    struct rec_error *err;
    const struct rec_type_desc *top;
};

static void set_err(struct rec_error *err, const struct rec_type_desc *top, const char *field, const char *path,
                    size_t off, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void set_err(struct rec_error *err, const struct rec_type_desc *top, const char *field, const char *path,
                    size_t off, const char *fmt, ...)
{
    if (!err) return;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    err->type = top ? top->tag : 0;
    err->field = field;
    err->offset = off;
    if (top && path && *path)
        snprintf(err->msg, sizeof err->msg, "%s v%u: field %s at byte %zu: %s", top->name, top->version, path, off, what);
    else if (top)
        snprintf(err->msg, sizeof err->msg, "%s v%u: at byte %zu: %s", top->name, top->version, off, what);
    else
        snprintf(err->msg, sizeof err->msg, "record at byte %zu: %s", off, what);
}

static const struct rec_type_desc *desc_of_kind(enum rec_kind k)
{
    return k == REC_K_JOB ? &type_synth_job : k == REC_K_CAND ? &type_candidate : NULL;
}

/* Validates the record against the table and returns an upper bound of its
 * encoded size, or (size_t)-1 with err set. */
static size_t enc_bound_record(const struct rec_type_desc *d, const void *rv, struct enc *e, const char *prefix);

#define EFAIL(...) do { enc_fail(e, f, prefix, __VA_ARGS__); return (size_t)-1; } while (0)
static void enc_fail(struct enc *e, const struct rec_field_desc *f, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void enc_fail(struct enc *e, const struct rec_field_desc *f, const char *prefix, const char *fmt, ...)
{
    char what[200], path[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%.150s%s", prefix, f->name);
    set_err(e->err, e->top, f->name, path, 0, "%s", what);
}

static size_t enc_bound_field(const struct rec_field_desc *f, const void *p, struct enc *e, const char *prefix)
{
    switch (f->kind) {
    case REC_K_U8: {
        uint8_t v = *(const uint8_t *)p;
        if (f->max && v > f->max) EFAIL("value %u exceeds %u", v, f->max);
        return 2;
    }
    case REC_K_U16: case REC_K_U32: case REC_K_U64: return MAX_UINT;
    case REC_K_BOOL: return 1;
    case REC_K_BIN: {
        const struct rec_bin *b = p;
        if (b->len > f->max) EFAIL("%u bytes exceed the limit %u", b->len, f->max);
        if (f->unit > 1 && b->len % f->unit) EFAIL("%u bytes is not a multiple of %u", b->len, f->unit);
        if (b->len && !b->ptr) EFAIL("NULL data for %u bytes", b->len);
        return MAX_HDR + b->len;
    }
    case REC_K_STR: {
        const struct rec_str *s = p;
        if (s->len > f->max) EFAIL("%u bytes exceed the limit %u", s->len, f->max);
        if (s->len && !s->ptr) EFAIL("NULL string of %u bytes", s->len);
        return MAX_HDR + s->len;
    }
    case REC_K_STRS: {
        const struct rec_strs *s = p;
        if (s->n > f->max) EFAIL("%u strings exceed the limit %u", s->n, f->max);
        size_t n = MAX_HDR;
        for (uint32_t i = 0; i < s->n; i++) {
            if (s->v[i].len > f->unit) EFAIL("string %u: %u bytes exceed the limit %u", i, s->v[i].len, f->unit);
            if (s->v[i].len && !s->v[i].ptr) EFAIL("string %u is NULL", i);
            n += MAX_HDR + s->v[i].len;
        }
        return n;
    }
    case REC_K_REGS: return REGS_BYTES;
    case REC_K_OPT_REGS: return REGS_BYTES;
    case REC_K_MEMS: {
        const struct rec_mems *m = p;
        if (m->n > f->max) EFAIL("%u accesses exceed the limit %u", m->n, f->max);
        for (uint32_t i = 0; i < m->n; i++) {
            unsigned s = m->v[i].size;
            if (s != 1 && s != 2 && s != 4 && s != 8 && s != 16) EFAIL("access %u: size %u is not 1,2,4,8,16", i, s);
        }
        return MAX_HDR + (size_t)m->n * MEM_BYTES;
    }
    case REC_K_SUCCS: {
        const struct rec_succs *s = p;
        if (s->n > f->max) EFAIL("%u successors exceed the limit %u", s->n, f->max);
        return MAX_HDR + (size_t)s->n * (1 + 2 * MAX_UINT);
    }
    case REC_K_SAMPLES: {
        const struct rec_samples *s = p;
        if (s->n > f->max) EFAIL("%u samples exceed the limit %u", s->n, f->max);
        size_t n = MAX_HDR;
        for (uint32_t i = 0; i < s->n; i++) {
            const struct rec_mems *m = &s->v[i].mem;
            if (m->n > REC_MAX_MEMS) EFAIL("sample %u: %u accesses exceed the limit %u", i, m->n, REC_MAX_MEMS);
            for (uint32_t j = 0; j < m->n; j++) {
                unsigned sz = m->v[j].size;
                if (sz != 1 && sz != 2 && sz != 4 && sz != 8 && sz != 16) EFAIL("sample %u access %u: size %u is not 1,2,4,8,16", i, j, sz);
            }
            n += SAMPLE_BYTES(m->n);
        }
        return n;
    }
    case REC_K_INSTANCES: {
        const struct rec_instances *s = p;
        if (s->n > f->max) EFAIL("%u instances exceed the limit %u", s->n, f->max);
        size_t n = MAX_HDR;
        for (uint32_t i = 0; i < s->n; i++) {
            if (s->v[i].imms.n > REC_MAX_IMMS) EFAIL("instance %u: %u imm params exceed the limit %u", i, s->v[i].imms.n, REC_MAX_IMMS);
            n += 1 + MAX_UINT + 2 + 16 + MAX_HDR + (size_t)s->v[i].imms.n * MAX_UINT;
        }
        return n;
    }
    case REC_K_JOB: case REC_K_CAND: {
        char sub[200];
        snprintf(sub, sizeof sub, "%.120s%s.", prefix, f->name);
        return enc_bound_record(desc_of_kind(f->kind), p, e, sub);
    }
    case REC_K_COUNT: break;
    }
    return (size_t)-1;
}

static size_t enc_bound_record(const struct rec_type_desc *d, const void *rv, struct enc *e, const char *prefix)
{
    size_t n = MAX_HDR + 2 * MAX_UINT;
    for (uint32_t i = 0; i < d->nfields; i++) {
        const struct rec_field_desc *f = &d->fields[i];
        /* the path text is only built when something is wrong (hot path) */
        size_t b = enc_bound_field(f, (const char *)rv + f->offset, e, prefix);
        if (b == (size_t)-1) return b;
        n += b;
    }
    char why[160];
    const char *bad = check_record(d->tag, rv, why, sizeof why);
    if (bad) {
        char path[160];
        snprintf(path, sizeof path, "%s%s", prefix, bad);
        set_err(e->err, e->top, bad, path, 0, "%s", why);
        return (size_t)-1;
    }
    return n;
}

static uint8_t *put_regs(uint8_t *p, const struct x86_regs *r)
{
    p = put_array(p, REC_NREGS);
    for (int i = 0; i < X86_NGPR; i++) p = put_uint(p, r->gpr[i]);
    p = put_uint(p, r->rip);
    p = put_uint(p, r->rflags);
    p = put_uint(p, r->fs_base);
    return put_uint(p, r->gs_base);
}
static uint8_t *put_mems(uint8_t *p, const struct rec_mems *m)
{
    p = put_array(p, m->n);
    for (uint32_t i = 0; i < m->n; i++) {
        p = put_array(p, 4);
        p = put_uint(p, m->v[i].addr);
        p = put_uint(p, m->v[i].value);
        p = put_uint(p, m->v[i].size);
        p = put_bool(p, m->v[i].is_store);
    }
    return p;
}
static uint8_t *put_opt_regs(uint8_t *p, const struct rec_opt_regs *r)
{
    return r->present ? put_regs(p, &r->regs) : put_nil(p);
}

static uint8_t *put_record(uint8_t *p, const struct rec_type_desc *d, const void *rv);

static uint8_t *put_field(uint8_t *p, const struct rec_field_desc *f, const void *v)
{
    switch (f->kind) {
    case REC_K_U8: return put_uint(p, *(const uint8_t *)v);
    case REC_K_U16: return put_uint(p, *(const uint16_t *)v);
    case REC_K_U32: return put_uint(p, *(const uint32_t *)v);
    case REC_K_U64: return put_uint(p, *(const uint64_t *)v);
    case REC_K_BOOL: return put_bool(p, *(const bool *)v);
    case REC_K_BIN: { const struct rec_bin *b = v; return put_bin(p, b->ptr, b->len); }
    case REC_K_STR: { const struct rec_str *s = v; return put_str(p, s->ptr, s->len); }
    case REC_K_STRS: {
        const struct rec_strs *s = v;
        p = put_array(p, s->n);
        for (uint32_t i = 0; i < s->n; i++) p = put_str(p, s->v[i].ptr, s->v[i].len);
        return p;
    }
    case REC_K_REGS: return put_regs(p, v);
    case REC_K_OPT_REGS: return put_opt_regs(p, v);
    case REC_K_MEMS: return put_mems(p, v);
    case REC_K_SUCCS: {
        const struct rec_succs *s = v;
        p = put_array(p, s->n);
        for (uint32_t i = 0; i < s->n; i++) {
            p = put_array(p, 2);
            p = put_uint(p, s->v[i].pc);
            p = put_uint(p, s->v[i].count);
        }
        return p;
    }
    case REC_K_SAMPLES: {
        const struct rec_samples *s = v;
        p = put_array(p, s->n);
        for (uint32_t i = 0; i < s->n; i++) {
            p = put_array(p, 3);
            p = put_regs(p, &s->v[i].pre);
            p = put_mems(p, &s->v[i].mem);
            p = put_opt_regs(p, &s->v[i].post);
        }
        return p;
    }
    case REC_K_INSTANCES: {
        const struct rec_instances *s = v;
        p = put_array(p, s->n);
        for (uint32_t i = 0; i < s->n; i++) {
            p = put_array(p, 3);
            p = put_uint(p, s->v[i].pc);
            p = put_bin(p, s->v[i].binding, 16);
            p = put_array(p, s->v[i].imms.n);
            for (uint32_t j = 0; j < s->v[i].imms.n; j++) p = put_uint(p, s->v[i].imms.v[j]);
        }
        return p;
    }
    case REC_K_JOB: case REC_K_CAND: return put_record(p, desc_of_kind(f->kind), v);
    case REC_K_COUNT: break;
    }
    return p;
}

static uint8_t *put_record(uint8_t *p, const struct rec_type_desc *d, const void *rv)
{
    p = put_array(p, 2 + d->nfields);
    p = put_uint(p, d->tag);
    p = put_uint(p, d->version);
    for (uint32_t i = 0; i < d->nfields; i++) p = put_field(p, &d->fields[i], (const char *)rv + d->fields[i].offset);
    return p;
}

static int encode_desc(struct rec_buf *b, const struct rec_type_desc *d, const void *rv, struct rec_error *err)
{
    struct enc e = { err, d };
    size_t bound = enc_bound_record(d, rv, &e, "");
    if (bound == (size_t)-1) return -1;
    if (buf_reserve(b, bound) < 0) { set_err(err, d, NULL, NULL, b->len, "out of memory for %zu bytes", bound); return -1; }
    uint8_t *end = put_record(b->data + b->len, d, rv);
    b->len = (size_t)(end - b->data);
    return 0;
}

int rec_encode(struct rec_buf *b, const struct rec *r, struct rec_error *err)
{
    const struct rec_type_desc *d = rec_type_by_tag(r->type);
    if (!d) { set_err(err, NULL, NULL, NULL, 0, "unknown record type %u", r->type); return -1; }
    return encode_desc(b, d, &r->u, err);
}

size_t rec_encode_bound(const struct rec *r, struct rec_error *err)
{
    const struct rec_type_desc *d = rec_type_by_tag(r->type);
    if (!d) { set_err(err, NULL, NULL, NULL, 0, "unknown record type %u", r->type); return (size_t)-1; }
    struct enc e = { err, d };
    return enc_bound_record(d, &r->u, &e, "");
}

int rec_encode_to(void *dst, size_t cap, const struct rec *r, size_t *len, struct rec_error *err)
{
    size_t bound = rec_encode_bound(r, err);
    if (bound == (size_t)-1) return -1;
    const struct rec_type_desc *d = rec_type_by_tag(r->type);
    if (bound > cap) { set_err(err, d, NULL, NULL, 0, "needs up to %zu bytes, %zu given", bound, cap); return -1; }
    uint8_t *end = put_record(dst, d, &r->u);
    *len = (size_t)(end - (uint8_t *)dst);
    return 0;
}

#define DEF_ENCODER(NAME, lname, tag, ver, doc) \
    int rec_encode_##lname(struct rec_buf *b, const struct rec_##lname *r, struct rec_error *err) \
    { return encode_desc(b, &type_##lname, r, err); }
REC_TYPES(DEF_ENCODER)

/* ---- msgpack reader ------------------------------------------------------------------------------ */
static atomic_uint_fast64_t decode_errors;
uint64_t rec_decode_errors(void) { return atomic_load(&decode_errors); }

/* A field path is a chain of frames on the stack, printed only on error. */
struct path {
    const struct path *up;
    const char *name;     /* field name, or NULL for an index */
    long index;
};

struct dec {
    const uint8_t *p;
    size_t len, off;
    struct rec_arena *arena;
    struct rec_error *err;
    const struct rec_type_desc *top;
    const char *topfield;
    bool failed;
};

static void path_str(const struct path *pa, char *out, size_t n)
{
    const struct path *chain[32];
    int k = 0;
    for (; pa && k < 32; pa = pa->up) chain[k++] = pa;
    size_t o = 0;
    out[0] = 0;
    for (int i = k - 1; i >= 0 && o < n; i--) {
        int w;
        if (chain[i]->name) w = snprintf(out + o, n - o, "%s%s", o ? "." : "", chain[i]->name);
        else w = snprintf(out + o, n - o, "[%ld]", chain[i]->index);
        if (w < 0) break;
        o += (size_t)w;
    }
}

static int fail(struct dec *d, const struct path *pa, size_t off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct dec *d, const struct path *pa, size_t off, const char *fmt, ...)
{
    if (d->failed) return -1;
    d->failed = true;
    if (!d->err) return -1;
    char what[200], path[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    path_str(pa, path, sizeof path);
    set_err(d->err, d->top, d->topfield, path, off, "%s", what);
    return -1;
}

static const char *mp_name(uint8_t b)
{
    if (b <= 0x7f || b >= 0xe0) return "int";
    if (b <= 0x8f) return "map";
    if (b <= 0x9f) return "array";
    if (b <= 0xbf) return "str";
    switch (b) {
    case 0xc0: return "nil";
    case 0xc1: return "invalid byte 0xc1";
    case 0xc2: case 0xc3: return "bool";
    case 0xc4: case 0xc5: case 0xc6: return "bin";
    case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return "ext";
    case 0xca: case 0xcb: return "float";
    case 0xcc: case 0xcd: case 0xce: case 0xcf: return "uint";
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: return "negative-capable int";
    case 0xd9: case 0xda: case 0xdb: return "str";
    case 0xdc: case 0xdd: return "array";
    default: return "map";
    }
}

static int need(struct dec *d, const struct path *pa, size_t start, size_t n, const char *what)
{
    if (d->len - d->off < n)
        return fail(d, pa, start, "truncated: %s needs %zu bytes, %zu left", what, n, d->len - d->off);
    return 0;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

static int rd_uint(struct dec *d, const struct path *pa, uint64_t max, uint64_t *out)
{
    size_t start = d->off;
    if (need(d, pa, start, 1, "an integer") < 0) return -1;
    uint8_t b = d->p[d->off];
    uint64_t v;
    int n;
    if (b <= 0x7f) { d->off++; v = b; goto range; }
    switch (b) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        /* signed encodings are fine if the value is not negative */
        n = 1 << (b - 0xd0);
        if (need(d, pa, start, 1 + (size_t)n, "an integer") < 0) return -1;
        uint64_t raw = get_be(d->p + d->off + 1, n);
        if (raw >> (8 * n - 1) & 1) return fail(d, pa, start, "negative integer where an unsigned one is required");
        d->off += 1 + (size_t)n;
        v = raw;
        goto range;
    }
    default:
        if (b >= 0xe0) return fail(d, pa, start, "negative integer where an unsigned one is required");
        return fail(d, pa, start, "expected unsigned integer, found %s (0x%02x)", mp_name(b), b);
    }
    if (need(d, pa, start, 1 + (size_t)n, "an integer") < 0) return -1;
    v = get_be(d->p + d->off + 1, n);
    d->off += 1 + (size_t)n;
range:
    if (v > max) return fail(d, pa, start, "value %llu exceeds %llu", (unsigned long long)v, (unsigned long long)max);
    *out = v;
    return 0;
}

static int rd_bool(struct dec *d, const struct path *pa, bool *out)
{
    if (need(d, pa, d->off, 1, "a bool") < 0) return -1;
    uint8_t b = d->p[d->off];
    if (b != 0xc2 && b != 0xc3) return fail(d, pa, d->off, "expected bool, found %s (0x%02x)", mp_name(b), b);
    d->off++;
    *out = b == 0xc3;
    return 0;
}

/* Array header; the count is bounded by `max` and by the bytes left (every
 * element takes at least `min_elem` bytes), so nothing is allocated for a
 * count the input cannot back. */
static int rd_array(struct dec *d, const struct path *pa, uint32_t max, size_t min_elem, uint32_t *out)
{
    size_t start = d->off;
    if (need(d, pa, start, 1, "an array") < 0) return -1;
    uint8_t b = d->p[d->off];
    uint64_t n;
    if ((b & 0xf0) == 0x90) { n = b & 0x0f; d->off++; }
    else if (b == 0xdc || b == 0xdd) {
        int w = b == 0xdc ? 2 : 4;
        if (need(d, pa, start, 1 + (size_t)w, "an array header") < 0) return -1;
        n = get_be(d->p + d->off + 1, w);
        d->off += 1 + (size_t)w;
    } else return fail(d, pa, start, "expected array, found %s (0x%02x)", mp_name(b), b);
    if (n > max) return fail(d, pa, start, "array of %llu elements exceeds the limit %u", (unsigned long long)n, max);
    if (n * min_elem > d->len - d->off)
        return fail(d, pa, start, "truncated: array of %llu elements cannot fit in the %zu bytes left", (unsigned long long)n, d->len - d->off);
    *out = (uint32_t)n;
    return 0;
}

static int rd_raw(struct dec *d, const struct path *pa, bool is_str, uint32_t max, const uint8_t **ptr, uint32_t *len)
{
    size_t start = d->off;
    const char *what = is_str ? "str" : "bin";
    if (need(d, pa, start, 1, what) < 0) return -1;
    uint8_t b = d->p[d->off];
    int w;
    uint64_t n;
    if (is_str && (b & 0xe0) == 0xa0) { n = b & 0x1f; w = 0; }
    else if (is_str && b >= 0xd9 && b <= 0xdb) w = 1 << (b - 0xd9);
    else if (!is_str && b >= 0xc4 && b <= 0xc6) w = 1 << (b - 0xc4);
    else return fail(d, pa, start, "expected %s, found %s (0x%02x)", what, mp_name(b), b);
    if (w) {
        if (need(d, pa, start, 1 + (size_t)w, "a length") < 0) return -1;
        n = get_be(d->p + d->off + 1, w);
    }
    if (n > max) return fail(d, pa, start, "%s of %llu bytes exceeds the limit %u", what, (unsigned long long)n, max);
    if (n > d->len - d->off - 1 - (size_t)w)
        return fail(d, pa, start, "truncated: %s of %llu bytes, %zu left", what, (unsigned long long)n, d->len - d->off - 1 - (size_t)w);
    d->off += 1 + (size_t)w;
    *ptr = d->p + d->off;
    *len = (uint32_t)n;
    d->off += n;
    return 0;
}

static void *dalloc(struct dec *d, const struct path *pa, size_t n, size_t size)
{
    void *p = rec_arena_alloc(d->arena, n * size);
    if (!p) fail(d, pa, d->off, "arena limit reached (%zu bytes)", d->arena->limit);
    return p;
}

static int rd_str(struct dec *d, const struct path *pa, uint32_t max, struct rec_str *s)
{
    const uint8_t *p;
    uint32_t n;
    if (rd_raw(d, pa, true, max, &p, &n) < 0) return -1;
    char *c = dalloc(d, pa, (size_t)n + 1, 1);
    if (!c) return -1;
    memcpy(c, p, n);
    c[n] = 0;
    s->ptr = c;
    s->len = n;
    return 0;
}

static int rd_regs(struct dec *d, const struct path *pa, struct x86_regs *r)
{
    size_t start = d->off;
    uint32_t n;
    if (rd_array(d, pa, REC_NREGS, 1, &n) < 0) return -1;
    if (n != REC_NREGS) return fail(d, pa, start, "register array has %u elements, expected %u", n, REC_NREGS);
    uint64_t w[REC_NREGS];
    for (uint32_t i = 0; i < REC_NREGS; i++) {
        struct path ip = { pa, NULL, (long)i };
        if (rd_uint(d, &ip, UINT64_MAX, &w[i]) < 0) return -1;
    }
    memcpy(r->gpr, w, sizeof r->gpr);
    r->rip = w[16];
    r->rflags = w[17];
    r->fs_base = w[18];
    r->gs_base = w[19];
    return 0;
}

static int rd_opt_regs(struct dec *d, const struct path *pa, struct rec_opt_regs *r)
{
    if (need(d, pa, d->off, 1, "nil or registers") < 0) return -1;
    if (d->p[d->off] == 0xc0) { d->off++; r->present = false; return 0; }
    r->present = true;
    return rd_regs(d, pa, &r->regs);
}

static int rd_tuple(struct dec *d, const struct path *pa, uint32_t want, const char *what)
{
    size_t start = d->off;
    uint32_t n;
    if (rd_array(d, pa, 64, 1, &n) < 0) return -1;
    if (n != want) return fail(d, pa, start, "%s has %u elements, expected %u", what, n, want);
    return 0;
}

static int rd_mems(struct dec *d, const struct path *pa, uint32_t max, struct rec_mems *m)
{
    uint32_t n;
    if (rd_array(d, pa, max, 5, &n) < 0) return -1;
    m->n = n;
    m->v = NULL;
    if (!n) return 0;
    if (!(m->v = dalloc(d, pa, n, sizeof *m->v))) return -1;
    for (uint32_t i = 0; i < n; i++) {
        struct path ip = { pa, NULL, (long)i };
        uint64_t a, v, s;
        if (rd_tuple(d, &ip, 4, "a memory access") < 0) return -1;
        struct path pa_addr = { &ip, "addr", 0 }, pa_val = { &ip, "value", 0 }, pa_size = { &ip, "size", 0 },
                    pa_st = { &ip, "is_store", 0 };
        if (rd_uint(d, &pa_addr, UINT64_MAX, &a) < 0 || rd_uint(d, &pa_val, UINT64_MAX, &v) < 0) return -1;
        size_t so = d->off;
        if (rd_uint(d, &pa_size, 16, &s) < 0) return -1;
        if (s != 1 && s != 2 && s != 4 && s != 8 && s != 16)
            return fail(d, &pa_size, so, "value %llu is not an access size (1,2,4,8,16)", (unsigned long long)s);
        if (rd_bool(d, &pa_st, &m->v[i].is_store) < 0) return -1;
        m->v[i].addr = a;
        m->v[i].value = v;
        m->v[i].size = (uint8_t)s;
    }
    return 0;
}

static int dec_record(struct dec *d, const struct path *pa, const struct rec_type_desc *t, void *out);

static int dec_field(struct dec *d, const struct path *pa, const struct rec_field_desc *f, void *v)
{
    uint64_t x;
    switch (f->kind) {
    case REC_K_U8:
        if (rd_uint(d, pa, f->max ? f->max : 0xff, &x) < 0) return -1;
        *(uint8_t *)v = (uint8_t)x;
        return 0;
    case REC_K_U16:
        if (rd_uint(d, pa, 0xffff, &x) < 0) return -1;
        *(uint16_t *)v = (uint16_t)x;
        return 0;
    case REC_K_U32:
        if (rd_uint(d, pa, 0xffffffffu, &x) < 0) return -1;
        *(uint32_t *)v = (uint32_t)x;
        return 0;
    case REC_K_U64: return rd_uint(d, pa, UINT64_MAX, (uint64_t *)v);
    case REC_K_BOOL: return rd_bool(d, pa, (bool *)v);
    case REC_K_BIN: {
        struct rec_bin *b = v;
        size_t start = d->off;
        if (rd_raw(d, pa, false, f->max, &b->ptr, &b->len) < 0) return -1;
        if (f->unit > 1 && b->len % f->unit)
            return fail(d, pa, start, "%u bytes is not a multiple of %u", b->len, f->unit);
        return 0;
    }
    case REC_K_STR: return rd_str(d, pa, f->max, v);
    case REC_K_STRS: {
        struct rec_strs *s = v;
        uint32_t n;
        if (rd_array(d, pa, f->max, 1, &n) < 0) return -1;
        s->n = n;
        s->v = NULL;
        if (!n) return 0;
        if (!(s->v = dalloc(d, pa, n, sizeof *s->v))) return -1;
        for (uint32_t i = 0; i < n; i++) {
            struct path ip = { pa, NULL, (long)i };
            if (rd_str(d, &ip, f->unit, &s->v[i]) < 0) return -1;
        }
        return 0;
    }
    case REC_K_REGS: return rd_regs(d, pa, v);
    case REC_K_OPT_REGS: return rd_opt_regs(d, pa, v);
    case REC_K_MEMS: return rd_mems(d, pa, f->max, v);
    case REC_K_SUCCS: {
        struct rec_succs *s = v;
        uint32_t n;
        if (rd_array(d, pa, f->max, 3, &n) < 0) return -1;
        s->n = n;
        s->v = NULL;
        if (!n) return 0;
        if (!(s->v = dalloc(d, pa, n, sizeof *s->v))) return -1;
        for (uint32_t i = 0; i < n; i++) {
            struct path ip = { pa, NULL, (long)i };
            struct path pp = { &ip, "pc", 0 }, pc = { &ip, "count", 0 };
            if (rd_tuple(d, &ip, 2, "a successor") < 0 || rd_uint(d, &pp, UINT64_MAX, &s->v[i].pc) < 0 ||
                rd_uint(d, &pc, UINT64_MAX, &s->v[i].count) < 0)
                return -1;
        }
        return 0;
    }
    case REC_K_SAMPLES: {
        struct rec_samples *s = v;
        uint32_t n;
        if (rd_array(d, pa, f->max, 24, &n) < 0) return -1;
        s->n = n;
        s->v = NULL;
        if (!n) return 0;
        if (!(s->v = dalloc(d, pa, n, sizeof *s->v))) return -1;
        for (uint32_t i = 0; i < n; i++) {
            struct path ip = { pa, NULL, (long)i };
            struct path ppre = { &ip, "pre", 0 }, pmem = { &ip, "mem", 0 }, ppost = { &ip, "post", 0 };
            if (rd_tuple(d, &ip, 3, "a sample") < 0 || rd_regs(d, &ppre, &s->v[i].pre) < 0 ||
                rd_mems(d, &pmem, REC_MAX_MEMS, &s->v[i].mem) < 0 || rd_opt_regs(d, &ppost, &s->v[i].post) < 0)
                return -1;
        }
        return 0;
    }
    case REC_K_INSTANCES: {
        struct rec_instances *s = v;
        uint32_t n;
        if (rd_array(d, pa, f->max, 21, &n) < 0) return -1;
        s->n = n;
        s->v = NULL;
        if (!n) return 0;
        if (!(s->v = dalloc(d, pa, n, sizeof *s->v))) return -1;
        for (uint32_t i = 0; i < n; i++) {
            struct rec_instance *in = &s->v[i];
            struct path ip = { pa, NULL, (long)i };
            struct path ppc = { &ip, "pc", 0 }, pb = { &ip, "binding", 0 }, pim = { &ip, "imms", 0 };
            const uint8_t *bp;
            uint32_t bl, m;
            if (rd_tuple(d, &ip, 3, "an instance") < 0 || rd_uint(d, &ppc, UINT64_MAX, &in->pc) < 0) return -1;
            size_t bo = d->off;
            if (rd_raw(d, &pb, false, 16, &bp, &bl) < 0) return -1;
            if (bl != 16) return fail(d, &pb, bo, "binding has %u bytes, expected 16", bl);
            memcpy(in->binding, bp, 16);
            if (rd_array(d, &pim, REC_MAX_IMMS, 1, &m) < 0) return -1;
            in->imms.n = m;
            in->imms.v = NULL;
            if (m && !(in->imms.v = dalloc(d, &pim, m, sizeof(uint64_t)))) return -1;
            for (uint32_t j = 0; j < m; j++) {
                struct path jp = { &pim, NULL, (long)j };
                if (rd_uint(d, &jp, UINT64_MAX, &in->imms.v[j]) < 0) return -1;
            }
        }
        return 0;
    }
    case REC_K_JOB: case REC_K_CAND: return dec_record(d, pa, desc_of_kind(f->kind), v);
    case REC_K_COUNT: break;
    }
    return fail(d, pa, d->off, "internal: unknown field kind %d", (int)f->kind);
}

static int dec_record(struct dec *d, const struct path *pa, const struct rec_type_desc *t, void *out)
{
    size_t start = d->off;
    uint32_t n;
    uint64_t tag, ver;
    if (rd_array(d, pa, UINT32_MAX, 1, &n) < 0) return -1;
    if (n != 2 + t->nfields)
        return fail(d, pa, start, "%s record array has %u elements, expected %u", t->name, n, 2 + t->nfields);
    size_t to = d->off;
    struct path ptag = { pa, "type", 0 }, pver = { pa, "schema_version", 0 };
    if (rd_uint(d, &ptag, UINT32_MAX, &tag) < 0) return -1;
    if (tag != t->tag) return fail(d, &ptag, to, "type %llu, expected %u (%s)", (unsigned long long)tag, t->tag, t->name);
    size_t vo = d->off;
    if (rd_uint(d, &pver, UINT32_MAX, &ver) < 0) return -1;
    if (ver != t->version)
        return fail(d, &pver, vo, "schema version %llu of %s is not supported (this build reads version %u)",
                    (unsigned long long)ver, t->name, t->version);
    memset(out, 0, t->size);
    for (uint32_t i = 0; i < t->nfields; i++) {
        const struct rec_field_desc *f = &t->fields[i];
        struct path fp = { pa, f->name, 0 };
        if (!pa) d->topfield = f->name;
        if (dec_field(d, &fp, f, (char *)out + f->offset) < 0) return -1;
    }
    char why[160];
    const char *bad = check_record(t->tag, out, why, sizeof why);
    if (bad) {
        struct path bp = { pa, bad, 0 };
        if (!pa) d->topfield = bad;
        return fail(d, &bp, start, "%s", why);
    }
    return 0;
}

int rec_peek_type(const void *buf, size_t len)
{
    struct dec d = { .p = buf, .len = len };
    uint32_t n;
    uint64_t tag;
    if (rd_array(&d, NULL, UINT32_MAX, 0, &n) < 0 || n < 2 || rd_uint(&d, NULL, UINT32_MAX, &tag) < 0) return -1;
    return tag > 0 && tag <= INT32_MAX ? (int)tag : -1;
}

int rec_decode(const void *buf, size_t len, struct rec *out, struct rec_arena *arena, struct rec_error *err)
{
    struct dec d = { .p = buf, .len = len, .arena = arena, .err = err };
    if (err) { err->msg[0] = 0; err->type = 0; err->field = NULL; err->offset = 0; }
    /* Find the type first so every later message can name it. */
    uint32_t n;
    uint64_t tag;
    if (!buf && len) { fail(&d, NULL, 0, "NULL buffer"); goto bad; }
    if (rd_array(&d, NULL, UINT32_MAX, 0, &n) < 0) goto bad;   /* counts are checked once the type is known */
    if (n < 2) { fail(&d, NULL, 0, "record array has %u elements; a record is [type, schema_version, fields...]", n); goto bad; }
    if (rd_uint(&d, NULL, UINT32_MAX, &tag) < 0) goto bad;
    d.top = rec_type_by_tag((uint32_t)tag);
    if (!d.top) { fail(&d, NULL, 1, "unknown record type %llu", (unsigned long long)tag); goto bad; }
    d.off = 0;
    if (dec_record(&d, NULL, d.top, &out->u) < 0) goto bad;
    if (d.off != len) { fail(&d, NULL, d.off, "%zu trailing bytes after the record", len - d.off); goto bad; }
    out->type = d.top->tag;
    out->version = d.top->version;
    return (int)d.top->tag;
bad:
    atomic_fetch_add(&decode_errors, 1);
    return -1;
}

/* ---- text dump ------------------------------------------------------------------------------------- */
#define SHOW_BYTES 32u
#define SHOW_ITEMS 4u

static void fmt_quoted(FILE *f, const char *s, uint32_t n, uint32_t maxshow)
{
    fputc('"', f);
    for (uint32_t i = 0; i < n && i < maxshow; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
    if (n > maxshow) fprintf(f, "…(%u B)", n);
}

static void fmt_regs(FILE *f, const struct x86_regs *r)
{
    static const char *const names[X86_NGPR] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                                 "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    fputc('{', f);
    for (int i = 0; i < X86_NGPR; i++) fprintf(f, "%s=%#llx ", names[i], (unsigned long long)r->gpr[i]);
    fprintf(f, "rip=%#llx rflags=%#llx fs=%#llx gs=%#llx}", (unsigned long long)r->rip, (unsigned long long)r->rflags,
            (unsigned long long)r->fs_base, (unsigned long long)r->gs_base);
}

static void fmt_mems(FILE *f, const struct rec_mems *m)
{
    fprintf(f, "<%u:", m->n);
    for (uint32_t i = 0; i < m->n && i < SHOW_ITEMS; i++)
        fprintf(f, " %s%u@%#llx=%#llx", m->v[i].is_store ? "st" : "ld", m->v[i].size, (unsigned long long)m->v[i].addr,
                (unsigned long long)m->v[i].value);
    fprintf(f, "%s>", m->n > SHOW_ITEMS ? " …" : "");
}

static void fmt_record(FILE *f, const struct rec_type_desc *t, const void *rv);

static void fmt_field(FILE *f, const struct rec_field_desc *fd, const void *v)
{
    switch (fd->kind) {
    case REC_K_U8: fprintf(f, "%u", *(const uint8_t *)v); break;
    case REC_K_U16: fprintf(f, "%u", *(const uint16_t *)v); break;
    case REC_K_U32: fprintf(f, "%u", *(const uint32_t *)v); break;
    case REC_K_U64: {
        uint64_t x = *(const uint64_t *)v;
        if (x >= 0x10000) fprintf(f, "%#llx", (unsigned long long)x);
        else fprintf(f, "%llu", (unsigned long long)x);
        break;
    }
    case REC_K_BOOL: fputs(*(const bool *)v ? "true" : "false", f); break;
    case REC_K_BIN: {
        const struct rec_bin *b = v;
        if (fd->unit == 4) {
            uint32_t n = b->len / 4;
            fprintf(f, "<%u u32:", n);
            for (uint32_t i = 0; i < n && i < 8; i++) {
                const uint8_t *q = b->ptr + 4 * i;
                fprintf(f, " %u", (unsigned)q[0] | (unsigned)q[1] << 8 | (unsigned)q[2] << 16 | (unsigned)q[3] << 24);
            }
            fprintf(f, "%s>", n > 8 ? " …" : "");
        } else {
            fprintf(f, "<%u B:", b->len);
            if (b->len) fputc(' ', f);
            for (uint32_t i = 0; i < b->len && i < SHOW_BYTES; i++) fprintf(f, "%02x", b->ptr[i]);
            fprintf(f, "%s>", b->len > SHOW_BYTES ? "…" : "");
        }
        break;
    }
    case REC_K_STR: { const struct rec_str *s = v; fmt_quoted(f, s->ptr, s->len, 80); break; }
    case REC_K_STRS: {
        const struct rec_strs *s = v;
        fprintf(f, "[%u:", s->n);
        for (uint32_t i = 0; i < s->n && i < SHOW_ITEMS; i++) { fputc(' ', f); fmt_quoted(f, s->v[i].ptr, s->v[i].len, 40); }
        fprintf(f, "%s]", s->n > SHOW_ITEMS ? " …" : "");
        break;
    }
    case REC_K_REGS: fmt_regs(f, v); break;
    case REC_K_OPT_REGS: {
        const struct rec_opt_regs *r = v;
        if (r->present) fmt_regs(f, &r->regs);
        else fputs("nil", f);
        break;
    }
    case REC_K_MEMS: fmt_mems(f, v); break;
    case REC_K_SUCCS: {
        const struct rec_succs *s = v;
        fprintf(f, "[%u:", s->n);
        for (uint32_t i = 0; i < s->n && i < SHOW_ITEMS; i++)
            fprintf(f, " %#llx×%llu", (unsigned long long)s->v[i].pc, (unsigned long long)s->v[i].count);
        fprintf(f, "%s]", s->n > SHOW_ITEMS ? " …" : "");
        break;
    }
    case REC_K_SAMPLES: {
        const struct rec_samples *s = v;
        fprintf(f, "[%u samples", s->n);
        if (s->n) {
            fputs(": pre.rip=", f);
            fprintf(f, "%#llx mem=", (unsigned long long)s->v[0].pre.rip);
            fmt_mems(f, &s->v[0].mem);
            fputs(s->v[0].post.present ? " post" : " post=nil", f);
            if (s->n > 1) fputs(" …", f);
        }
        fputc(']', f);
        break;
    }
    case REC_K_INSTANCES: {
        const struct rec_instances *s = v;
        fprintf(f, "[%u:", s->n);
        for (uint32_t i = 0; i < s->n && i < SHOW_ITEMS; i++) {
            fprintf(f, " %#llx/", (unsigned long long)s->v[i].pc);
            for (int j = 0; j < 16; j++) fprintf(f, "%x", s->v[i].binding[j] & 0xf);
            fprintf(f, "/%u imm", s->v[i].imms.n);
        }
        fprintf(f, "%s]", s->n > SHOW_ITEMS ? " …" : "");
        break;
    }
    case REC_K_JOB: case REC_K_CAND:
        fputc('(', f);
        fmt_record(f, desc_of_kind(fd->kind), v);
        fputc(')', f);
        break;
    case REC_K_COUNT: break;
    }
}

static void fmt_record(FILE *f, const struct rec_type_desc *t, const void *rv)
{
    fprintf(f, "%s v%u", t->name, t->version);
    for (uint32_t i = 0; i < t->nfields; i++) {
        fprintf(f, " %s=", t->fields[i].name);
        fmt_field(f, &t->fields[i], (const char *)rv + t->fields[i].offset);
    }
}

void rec_format(FILE *f, const struct rec *r)
{
    const struct rec_type_desc *t = rec_type_by_tag(r->type);
    if (!t) { fprintf(f, "unknown record type %u", r->type); return; }
    fmt_record(f, t, &r->u);
}

/* ---- docs/records.md -------------------------------------------------------------------------------- */
static void md_limit(FILE *f, const struct rec_field_desc *fd)
{
    switch (fd->kind) {
    case REC_K_U8: if (fd->max) fprintf(f, "≤ %u", fd->max); break;
    case REC_K_BIN:
        fprintf(f, "≤ %u B", fd->max);
        if (fd->unit > 1) fprintf(f, ", multiple of %u", fd->unit);
        break;
    case REC_K_STR: fprintf(f, "≤ %u B", fd->max); break;
    case REC_K_STRS: fprintf(f, "≤ %u strings of ≤ %u B", fd->max, fd->unit); break;
    case REC_K_MEMS: case REC_K_SUCCS: case REC_K_SAMPLES: case REC_K_INSTANCES: fprintf(f, "≤ %u", fd->max); break;
    default: break;
    }
}

void rec_write_markdown(FILE *f)
{
    fputs("# Records\n\n"
          "<!-- Generated from the table in common/records.h by `run/shmq-inspect --records-doc`;\n"
          "     tests/unit/test_records.c fails when this file and the table disagree. -->\n\n"
          "Every record that flows between stages is one msgpack array\n"
          "`[type, schema_version, field...]`. Records are defined in one table in\n"
          "`common/records.h`; the C structs, the encoder, the validating decoder\n"
          "(`rec_decode`), the text dump of `run/shmq-inspect --dump` and this page\n"
          "derive from it.\n\n"
          "Decoding rules (every type):\n\n"
          "- the array must have exactly 2 + (number of fields) elements, the type tag\n"
          "  must be known and the schema version must be the one listed here;\n"
          "- integers may use any msgpack integer encoding but must be non-negative and\n"
          "  within the field's range; `bin` and `str` are not interchangeable;\n"
          "- lengths and counts above the limits below are rejected before anything is\n"
          "  allocated, and so is any length or count larger than the bytes left;\n"
          "- nothing may follow the record in its frame;\n"
          "- an error names the type, the field path and the byte offset, e.g.\n"
          "  `VERDICT v1: field candidate.job.samples[3].mem[0].size at byte 812: value 3 is not an access size (1,2,4,8,16)`.\n\n"
          "Consistency rules beyond the columns: `cpu_mode` is 16, 32 or 64; in `TRACE_TB`\n"
          "each `insn_len` byte is 1..15, they add up to the length of `code`, and `disasm`\n"
          "has one string per instruction; in `TRACE_EXEC` `dt_us` is empty or as long as\n"
          "`tb_ids`; in `TRACE_INSNS` `dt_us`, `reg_mask` and `mem_n` have one entry per\n"
          "instruction (at least one), the runs add up to that many instructions, each run\n"
          "has at least one and ends by instruction 512 of its TB, the first mask is\n"
          "0xeffff and no mask has a bit outside it, `reg_vals` holds one word per mask\n"
          "bit, `mems` one access per `mem_n` count (each ≤ 1024) with a valid size and\n"
          "is_store 0 or 1; in `SYNTH_JOB` `template_key` is 64 lower-case hex digits and\n"
          "`cached_ops` is empty unless `lib_hit`.\n\n"
          "Field kinds:\n\n| kind | msgpack form |\n|---|---|\n", f);
    for (int k = 0; k < REC_K_COUNT; k++) fprintf(f, "| %s | %s |\n", kind_names[k], kind_forms[k]);
    fputs("\n`regs` is `struct x86_regs` (common/x86_state.h) in field order: the 16 GPRs in\n"
          "hardware order (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15), rip, rflags,\n"
          "fs_base, gs_base.\n", f);
    for (size_t i = 0; i < NTYPES; i++) {
        const struct rec_type_desc *t = all_types[i];
        fprintf(f, "\n## %u `%s` (schema version %u)\n\n%s\n\n", t->tag, t->name, t->version, t->doc);
        fprintf(f, "| # | field | kind | limit | meaning |\n|---|---|---|---|---|\n");
        fprintf(f, "| 0 | type | U32 | = %u | type tag |\n| 1 | schema_version | U32 | = %u | schema version |\n", t->tag,
                t->version);
        for (uint32_t j = 0; j < t->nfields; j++) {
            const struct rec_field_desc *fd = &t->fields[j];
            fprintf(f, "| %u | %s | %s | ", j + 2, fd->name, kind_names[fd->kind]);
            md_limit(f, fd);
            fprintf(f, " | %s |\n", fd->doc);
        }
    }
}
