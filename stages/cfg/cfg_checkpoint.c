/* cfg_checkpoint.c — snapshot and journal files (see cfg_checkpoint.h). */
#include "cfg_checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_MAGIC 0x54504b434c474354ull      /* "TCGLCKPT" little-endian */
#define JOURNAL_MAGIC 0x4c4e524a4c474354ull   /* "TCGLJRNL" */
#define SNAP_HDR 48u
#define JOURNAL_HDR 40u
#define ENTRY_HDR 32u
#define ENTRY_MAX_LEN (64u << 20)
#define SEED_SNAP 0x636667736e617031ull
#define SEED_JOURNAL 0x6366676a726e6c31ull

int cfg_ckpt_input_slot(struct cfg_ckpt_meta *m, const char *path, uint64_t capacity, bool add)
{
    for (uint32_t i = 0; i < m->ninputs; i++)
        if (!strcmp(m->in[i].path, path)) return (int)i;
    if (!add || m->ninputs >= CFG_CKPT_MAX_INPUTS || strlen(path) >= CFG_CKPT_PATH_MAX) return -1;
    struct cfg_ckpt_input *in = &m->in[m->ninputs];
    memset(in, 0, sizeof *in);
    snprintf(in->path, sizeof in->path, "%s", path);
    in->capacity = capacity;
    return (int)m->ninputs++;
}

/* ---- whole files ----------------------------------------------------------------------- */

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Maps a whole file read-only (an empty file maps to NULL with *len 0). */
static bool map_file(const char *path, const uint8_t **p, size_t *len, bool *missing, char *err, size_t errlen)
{
    *p = NULL;
    *len = 0;
    *missing = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) *missing = true;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    if (sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "%s: cannot map %lld bytes: %s", path, (long long)sb.st_size, strerror(errno));
            close(fd);
            return false;
        }
        *p = m;
        *len = (size_t)sb.st_size;
    }
    close(fd);
    return true;
}

static void unmap_file(const uint8_t *p, size_t len)
{
    if (p) munmap((void *)p, len);
}

/* ---- snapshot -------------------------------------------------------------------------- */

static void put_meta(struct cfg_bytes *o, const struct cfg_ckpt_meta *m)
{
    cfg_bytes_u32(o, m->ninputs);
    for (uint32_t i = 0; i < m->ninputs; i++) {
        uint16_t n = (uint16_t)strlen(m->in[i].path);
        cfg_bytes_u16(o, n);
        cfg_bytes_put(o, m->in[i].path, n);
        cfg_bytes_u64(o, m->in[i].capacity);
        cfg_bytes_u64(o, m->in[i].pos);
    }
    cfg_bytes_u8(o, m->dirty);
}

static bool get_meta(struct cfg_reader *r, struct cfg_ckpt_meta *m)
{
    m->ninputs = cfg_read_u32(r, "inputs");
    if (!r->failed && m->ninputs > CFG_CKPT_MAX_INPUTS) {
        cfg_reader_fail(r, "inputs: %u > %u", m->ninputs, CFG_CKPT_MAX_INPUTS);
        return false;
    }
    for (uint32_t i = 0; i < m->ninputs && !r->failed; i++) {
        uint16_t n = cfg_read_u16(r, "input path length");
        if (!r->failed && (n == 0 || n >= CFG_CKPT_PATH_MAX)) {
            cfg_reader_fail(r, "input %u path length: %u outside 1..%u", i, n, CFG_CKPT_PATH_MAX - 1);
            return false;
        }
        const uint8_t *p = cfg_read_bytes(r, n, "input path");
        if (!p) return false;
        memcpy(m->in[i].path, p, n);
        m->in[i].path[n] = 0;
        if (memchr(p, 0, n)) { cfg_reader_fail(r, "input %u path: contains a NUL byte", i); return false; }
        m->in[i].capacity = cfg_read_u64(r, "input capacity");
        m->in[i].pos = cfg_read_u64(r, "input position");
    }
    uint8_t dirty = cfg_read_u8(r, "dirty");
    if (!r->failed && dirty > 1) { cfg_reader_fail(r, "dirty: %u is not 0 or 1", dirty); return false; }
    m->dirty = dirty;
    return !r->failed;
}

bool cfg_snapshot_save(const char *path, const struct cfg *g, const struct cfg_ckpt_meta *m,
                       uint64_t *bytes_written, char *err, size_t errlen)
{
    struct cfg_bytes o = { 0 };
    uint8_t hdr[SNAP_HDR] = { 0 };
    cfg_bytes_put(&o, hdr, sizeof hdr);     /* filled in below */
    put_meta(&o, m);
    if (!cfg_image_write(g, &o) || o.oom) {
        snprintf(err, errlen, "%s: out of memory building the snapshot", path);
        cfg_bytes_free(&o);
        return false;
    }
    uint64_t magic = SNAP_MAGIC, payload = o.len - SNAP_HDR;
    uint32_t version = CFG_CKPT_VERSION, hsize = SNAP_HDR;
    uint64_t phash = cfg_hash64(o.p + SNAP_HDR, payload, SEED_SNAP);
    memcpy(o.p, &magic, 8);
    memcpy(o.p + 8, &version, 4);
    memcpy(o.p + 12, &hsize, 4);
    memcpy(o.p + 16, &m->generation, 8);
    memcpy(o.p + 24, &payload, 8);
    memcpy(o.p + 32, &phash, 8);
    uint64_t hhash = cfg_hash64(o.p, 40, SEED_SNAP);
    memcpy(o.p + 40, &hhash, 8);

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    if (!ok) snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    if (ok && !write_all(fd, o.p, o.len)) {
        snprintf(err, errlen, "%s: cannot write %zu bytes: %s", tmp, o.len, strerror(errno));
        ok = false;
    }
    if (ok && fdatasync(fd) < 0) {
        snprintf(err, errlen, "%s: fdatasync: %s", tmp, strerror(errno));
        ok = false;
    }
    if (fd >= 0 && close(fd) < 0 && ok) {
        snprintf(err, errlen, "%s: close: %s", tmp, strerror(errno));
        ok = false;
    }
    if (ok && rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        ok = false;
    }
    if (!ok && fd >= 0) unlink(tmp);
    if (ok && bytes_written) *bytes_written = o.len;
    cfg_bytes_free(&o);
    return ok;
}

bool cfg_snapshot_load(const char *path, struct cfg *g, struct cfg_ckpt_meta *m, bool *missing, char *err,
                       size_t errlen)
{
    memset(m, 0, sizeof *m);
    const uint8_t *p;
    size_t len;
    if (!map_file(path, &p, &len, missing, err, errlen)) return false;
    bool ok = false;
    uint64_t magic = 0, gen = 0, payload = 0, phash = 0, hhash = 0;
    uint32_t version = 0, hsize = 0;
    if (len < SNAP_HDR) {
        snprintf(err, errlen, "%s: header: %zu bytes, a snapshot has at least %u (truncated)", path, len, SNAP_HDR);
        goto out;
    }
    memcpy(&magic, p, 8);
    memcpy(&version, p + 8, 4);
    memcpy(&hsize, p + 12, 4);
    memcpy(&gen, p + 16, 8);
    memcpy(&payload, p + 24, 8);
    memcpy(&phash, p + 32, 8);
    memcpy(&hhash, p + 40, 8);
    if (magic != SNAP_MAGIC) {
        snprintf(err, errlen, "%s: magic: %#llx is not a cfg snapshot (\"TCGLCKPT\")", path, (unsigned long long)magic);
        goto out;
    }
    if (version != CFG_CKPT_VERSION || hsize != SNAP_HDR) {
        snprintf(err, errlen, "%s: version: %u (header %u bytes); this cfg reads version %u", path, version, hsize,
                 CFG_CKPT_VERSION);
        goto out;
    }
    if (hhash != cfg_hash64(p, 40, SEED_SNAP)) {
        snprintf(err, errlen, "%s: header checksum mismatch (offset 40)", path);
        goto out;
    }
    if (payload != len - SNAP_HDR) {
        snprintf(err, errlen, "%s: payload length: header says %llu bytes, the file has %zu (truncated or extended)",
                 path, (unsigned long long)payload, len - SNAP_HDR);
        goto out;
    }
    if (phash != cfg_hash64(p + SNAP_HDR, payload, SEED_SNAP)) {
        snprintf(err, errlen, "%s: payload checksum mismatch (%llu bytes from offset %u)", path,
                 (unsigned long long)payload, SNAP_HDR);
        goto out;
    }
    struct cfg_reader r;
    cfg_reader_init(&r, p + SNAP_HDR, payload);
    if (!get_meta(&r, m)) {
        snprintf(err, errlen, "%s: %s (payload offset %zu)", path, r.err, r.off);
        goto out;
    }
    m->generation = gen;
    if (!cfg_image_read(g, &r)) {
        snprintf(err, errlen, "%s: %s (payload offset %zu)", path, r.err, r.off);
        goto out;
    }
    ok = true;
out:
    unmap_file(p, len);
    return ok;
}

/* ---- journal --------------------------------------------------------------------------- */

static void journal_header(uint8_t *h, uint64_t generation)
{
    uint64_t magic = JOURNAL_MAGIC, zero = 0;
    uint32_t version = CFG_CKPT_VERSION, hsize = JOURNAL_HDR;
    memcpy(h, &magic, 8);
    memcpy(h + 8, &version, 4);
    memcpy(h + 12, &hsize, 4);
    memcpy(h + 16, &generation, 8);
    memcpy(h + 24, &zero, 8);
    uint64_t hh = cfg_hash64(h, 32, SEED_JOURNAL);
    memcpy(h + 32, &hh, 8);
}

bool cfg_journal_create(struct cfg_journal *j, const char *path, uint64_t generation, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    snprintf(j->path, sizeof j->path, "%s", path);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return false;
    }
    uint8_t h[JOURNAL_HDR];
    journal_header(h, generation);
    if (!write_all(fd, h, sizeof h) || rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: cannot write the journal header and rename it to %s: %s", tmp, path,
                 strerror(errno));
        close(fd);
        unlink(tmp);
        return false;
    }
    j->fd = fd;
    j->generation = generation;
    j->size = JOURNAL_HDR;
    return true;
}

bool cfg_journal_reopen(struct cfg_journal *j, const char *path, uint64_t generation, uint64_t valid_len,
                        char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    j->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (j->fd < 0) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        return false;
    }
    if (ftruncate(j->fd, (off_t)valid_len) < 0 || lseek(j->fd, (off_t)valid_len, SEEK_SET) < 0) {
        snprintf(err, errlen, "%s: cannot cut the journal to %llu bytes: %s", path, (unsigned long long)valid_len,
                 strerror(errno));
        close(j->fd);
        j->fd = -1;
        return false;
    }
    j->generation = generation;
    j->size = valid_len;
    return true;
}

void cfg_journal_add(struct cfg_journal *j, uint8_t type, uint16_t input, uint64_t pos, const void *payload,
                     uint32_t len)
{
    uint8_t h[ENTRY_HDR] = { 0 };
    memcpy(h, &len, 4);
    h[4] = type;
    memcpy(h + 6, &input, 2);
    memcpy(h + 8, &pos, 8);
    uint64_t ph = cfg_hash64(payload, len, SEED_JOURNAL);
    memcpy(h + 16, &ph, 8);
    uint64_t hh = cfg_hash64(h, 24, SEED_JOURNAL);
    memcpy(h + 24, &hh, 8);
    cfg_bytes_put(&j->buf, h, sizeof h);
    cfg_bytes_put(&j->buf, payload, len);
}

bool cfg_journal_flush(struct cfg_journal *j, char *err, size_t errlen)
{
    if (j->buf.oom) {
        snprintf(err, errlen, "%s: out of memory buffering journal entries", j->path);
        return false;
    }
    if (!j->buf.len) return true;
    if (j->fd < 0 || !write_all(j->fd, j->buf.p, j->buf.len)) {
        snprintf(err, errlen, "%s: cannot append %zu bytes: %s", j->path, j->buf.len,
                 j->fd < 0 ? "not open" : strerror(errno));
        return false;
    }
    j->size += j->buf.len;
    j->buf.len = 0;
    return true;
}

void cfg_journal_close(struct cfg_journal *j)
{
    if (j->fd >= 0) close(j->fd);
    j->fd = -1;
    cfg_bytes_free(&j->buf);
}

bool cfg_journal_replay(const char *path, cfg_journal_fn fn, void *ctx, uint64_t *generation,
                        uint64_t *valid_len, uint64_t *torn, bool *missing, char *err, size_t errlen)
{
    const uint8_t *p;
    size_t len;
    *valid_len = *torn = 0;
    if (!map_file(path, &p, &len, missing, err, errlen)) return false;
    bool ok = false;
    if (len < JOURNAL_HDR) {
        snprintf(err, errlen, "%s: header: %zu bytes, a journal has at least %u (truncated)", path, len, JOURNAL_HDR);
        goto out;
    }
    uint64_t magic, hh;
    uint32_t version, hsize;
    memcpy(&magic, p, 8);
    memcpy(&version, p + 8, 4);
    memcpy(&hsize, p + 12, 4);
    memcpy(generation, p + 16, 8);
    memcpy(&hh, p + 32, 8);
    if (magic != JOURNAL_MAGIC) {
        snprintf(err, errlen, "%s: magic: %#llx is not a cfg journal (\"TCGLJRNL\")", path, (unsigned long long)magic);
        goto out;
    }
    if (version != CFG_CKPT_VERSION || hsize != JOURNAL_HDR) {
        snprintf(err, errlen, "%s: version: %u (header %u bytes); this cfg reads version %u", path, version, hsize,
                 CFG_CKPT_VERSION);
        goto out;
    }
    if (hh != cfg_hash64(p, 32, SEED_JOURNAL)) {
        snprintf(err, errlen, "%s: header checksum mismatch (offset 32)", path);
        goto out;
    }
    size_t off = JOURNAL_HDR;
    uint64_t n = 0;
    if (!fn) {      /* the header only */
        *valid_len = JOURNAL_HDR;
        ok = true;
        goto out;
    }
    while (off < len) {
        if (len - off < ENTRY_HDR) break;      /* torn header at the end */
        const uint8_t *h = p + off;
        struct cfg_journal_entry e;
        uint64_t ph, ehh;
        memcpy(&e.len, h, 4);
        e.type = h[4];
        memcpy(&e.input, h + 6, 2);
        memcpy(&e.pos, h + 8, 8);
        memcpy(&ph, h + 16, 8);
        memcpy(&ehh, h + 24, 8);
        if (ehh != cfg_hash64(h, 24, SEED_JOURNAL)) {
            snprintf(err, errlen, "%s: entry %llu at offset %zu: header checksum mismatch", path,
                     (unsigned long long)n, off);
            goto out;
        }
        if (e.len > ENTRY_MAX_LEN || e.type < CFG_J_RECORD || e.type > CFG_J_EMIT || h[5]) {
            snprintf(err, errlen, "%s: entry %llu at offset %zu: type %u, length %u out of range", path,
                     (unsigned long long)n, off, e.type, e.len);
            goto out;
        }
        if (e.len > len - off - ENTRY_HDR) break;   /* torn payload at the end */
        e.payload = h + ENTRY_HDR;
        e.offset = off;
        if (ph != cfg_hash64(e.payload, e.len, SEED_JOURNAL)) {
            snprintf(err, errlen, "%s: entry %llu at offset %zu: payload checksum mismatch (%u bytes)", path,
                     (unsigned long long)n, off, e.len);
            goto out;
        }
        char ferr[300];
        if (!fn(ctx, &e, ferr, sizeof ferr)) {
            snprintf(err, errlen, "%s: entry %llu at offset %zu: %s", path, (unsigned long long)n, off, ferr);
            goto out;
        }
        off += ENTRY_HDR + e.len;
        n++;
    }
    *valid_len = off;
    *torn = len - off;
    ok = true;
out:
    unmap_file(p, len);
    return ok;
}
