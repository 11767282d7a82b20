/* pixel_gpufile.c — reader, writer and comparison of batch files
 * (pixel_gpufile.h).  C and C++ alike: the CUDA driver includes this file. */
#include "pixel_gpufile.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "batch files are written raw: little-endian hosts only"
#endif

__attribute__((format(printf, 3, 4)))
static int pxf_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint64_t pxf_window(uint32_t nregions, const uint32_t *sizes)
{
    uint64_t w = 0;
    for (uint32_t k = 0; k < nregions && k < 4; k++)
        w += sizes[k];
    return w;
}

uint64_t pixel_job_window(const struct pixel_job *j) { return pxf_window(j->nregions, j->region_size); }

void pixel_job_free(struct pixel_job *j)
{
    free(j->prog);
    free(j->regs);
    free(j->region_base);
    free(j->mem);
    free(j->fault);
    free(j->fault_pc);
    memset(j, 0, sizeof *j);
}

int pixel_job_alloc(struct pixel_job *j, uint32_t ninsns, uint32_t nstates, uint32_t nregions,
                    const uint32_t *sizes, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    if (ninsns > PIXEL_MAX_INSNS)
        return pxf_fail(err, errlen, "%u instructions (at most %u)", ninsns, PIXEL_MAX_INSNS);
    if (nregions > 4)
        return pxf_fail(err, errlen, "%u memory regions (at most 4)", nregions);
    for (uint32_t k = 0; k < nregions; k++) {
        if (sizes[k] > 65536u)
            return pxf_fail(err, errlen, "region %u: size %u (at most 65536)", k, sizes[k]);
        j->region_size[k] = sizes[k];
    }
    j->ninsns = ninsns;
    j->nstates = nstates;
    j->nregions = nregions;
    uint64_t n = nstates, win = pixel_job_window(j);
    j->prog = (struct pixel_insn *)calloc((size_t)ninsns + 1, sizeof *j->prog);
    j->regs = (uint64_t *)calloc((size_t)(32 * n + 1), sizeof *j->regs);
    j->region_base = (uint64_t *)calloc((size_t)(nregions * n + 1), sizeof *j->region_base);
    j->mem = (uint8_t *)calloc((size_t)(win * n + 1), 1);
    j->fault = (uint8_t *)calloc((size_t)(n + 1), 1);
    j->fault_pc = (uint32_t *)calloc((size_t)(n + 1), sizeof *j->fault_pc);
    if (!j->prog || !j->regs || !j->region_base || !j->mem || !j->fault || !j->fault_pc) {
        pixel_job_free(j);
        return pxf_fail(err, errlen, "out of memory for %u states (window %llu bytes)", nstates,
                        (unsigned long long)win);
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int pxf_write_all(FILE *f, const void *p, uint64_t len)
{
    return len == 0 || fwrite(p, 1, (size_t)len, f) == (size_t)len ? 0 : -1;
}

int pixel_job_write(const char *path, const struct pixel_job *j, char *err, size_t errlen)
{
    uint8_t h[PIXEL_BATCHFILE_HEADER];
    memset(h, 0, sizeof h);
    memcpy(h, PIXEL_BATCHFILE_MAGIC, 8);
    put32(h + 8, PIXEL_BATCHFILE_VERSION);
    put32(h + 12, PIXEL_ISA_VERSION);
    put32(h + 16, j->ninsns);
    put32(h + 20, j->nstates);
    put32(h + 24, j->nregions);
    for (int k = 0; k < 4; k++)
        put32(h + 28 + 4 * k, k < (int)j->nregions ? j->region_size[k] : 0);
    put32(h + 44, j->step_limit);
    put32(h + 48, j->has_results ? 1 : 0);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return pxf_fail(err, errlen, "%s: cannot create: %m", tmp);
    uint64_t n = j->nstates;
    uint8_t *prog = (uint8_t *)malloc((size_t)j->ninsns * 4 + 1);
    int bad = !prog;
    for (uint32_t k = 0; prog && k < j->ninsns; k++) {
        prog[4 * k] = j->prog[k].op;
        prog[4 * k + 1] = j->prog[k].rd;
        prog[4 * k + 2] = j->prog[k].rs1;
        prog[4 * k + 3] = j->prog[k].rs2;
    }
    bad = bad || pxf_write_all(f, h, sizeof h) || pxf_write_all(f, prog, (uint64_t)j->ninsns * 4) ||
          pxf_write_all(f, j->regs, 32 * n * 8) ||
          pxf_write_all(f, j->region_base, (uint64_t)j->nregions * n * 8) ||
          pxf_write_all(f, j->mem, pixel_job_window(j) * n);
    if (j->has_results)
        bad = bad || pxf_write_all(f, j->fault, n) || pxf_write_all(f, j->fault_pc, n * 4);
    free(prog);
    if (fclose(f) != 0)
        bad = 1;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return pxf_fail(err, errlen, "%s: write failed (disk full?)", path);
    }
    return 0;
}

static int pxf_read_all(FILE *f, void *p, uint64_t len)
{
    return len == 0 || fread(p, 1, (size_t)len, f) == (size_t)len ? 0 : -1;
}

int pixel_job_read(const char *path, struct pixel_job *j, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    FILE *f = fopen(path, "rb");
    if (!f)
        return pxf_fail(err, errlen, "%s: cannot open: %m", path);
    struct stat st;
    uint8_t h[PIXEL_BATCHFILE_HEADER];
    int rc = -1;
    if (fstat(fileno(f), &st) != 0 || fread(h, 1, sizeof h, f) != sizeof h) {
        pxf_fail(err, errlen, "%s: shorter than the %u-byte header", path, PIXEL_BATCHFILE_HEADER);
        goto out;
    }
    if (memcmp(h, PIXEL_BATCHFILE_MAGIC, 8) != 0) {
        pxf_fail(err, errlen, "%s: not a batch file (magic is not %s)", path, PIXEL_BATCHFILE_MAGIC);
        goto out;
    }
    if (get32(h + 8) != PIXEL_BATCHFILE_VERSION || get32(h + 12) != PIXEL_ISA_VERSION) {
        pxf_fail(err, errlen, "%s: format version %u / ISA version %u, expected %u / %u", path,
                 get32(h + 8), get32(h + 12), PIXEL_BATCHFILE_VERSION, PIXEL_ISA_VERSION);
        goto out;
    }
    {
        uint32_t ninsns = get32(h + 16), nstates = get32(h + 20), nregions = get32(h + 24);
        uint32_t sizes[4] = { get32(h + 28), get32(h + 32), get32(h + 36), get32(h + 40) };
        uint32_t has = get32(h + 48);
        if (has > 1) {
            pxf_fail(err, errlen, "%s: has_results field is %u (0 or 1)", path, has);
            goto out;
        }
        if (pixel_job_alloc(j, ninsns, nstates, nregions, sizes, err, errlen) != 0) {
            char inner[256];
            snprintf(inner, sizeof inner, "%s", err ? err : "");
            pxf_fail(err, errlen, "%s: header: %s", path, inner);
            goto out;
        }
        j->step_limit = get32(h + 44);
        j->has_results = has == 1;
        uint64_t n = nstates, win = pixel_job_window(j);
        uint64_t want = PIXEL_BATCHFILE_HEADER + (uint64_t)ninsns * 4 + 32 * n * 8 +
                        (uint64_t)nregions * n * 8 + win * n + (has ? n * 5 : 0);
        if ((uint64_t)st.st_size != want) {
            pxf_fail(err, errlen, "%s: %llu bytes, but the header (%u instructions, %u states, "
                     "window %llu) needs %llu", path, (unsigned long long)st.st_size, ninsns,
                     nstates, (unsigned long long)win, (unsigned long long)want);
            goto out;
        }
        uint8_t *prog = (uint8_t *)malloc((size_t)ninsns * 4 + 1);
        if (!prog || pxf_read_all(f, prog, (uint64_t)ninsns * 4)) {
            free(prog);
            pxf_fail(err, errlen, "%s: read error in the program", path);
            goto out;
        }
        long bad = pixel_prog_first_bad(prog, ninsns);
        for (uint32_t k = 0; k < ninsns; k++)
            j->prog[k] = pixel_word_insn(get32(prog + 4 * k));
        if (bad >= 0) {
            pxf_fail(err, errlen, "%s: instruction %ld (%02x %02x %02x %02x) is malformed or "
                     "jumps outside the program", path, bad, prog[4 * bad], prog[4 * bad + 1],
                     prog[4 * bad + 2], prog[4 * bad + 3]);
            free(prog);
            goto out;
        }
        free(prog);
        if (pxf_read_all(f, j->regs, 32 * n * 8) ||
            pxf_read_all(f, j->region_base, (uint64_t)nregions * n * 8) ||
            pxf_read_all(f, j->mem, win * n) ||
            (has && (pxf_read_all(f, j->fault, n) || pxf_read_all(f, j->fault_pc, n * 4)))) {
            pxf_fail(err, errlen, "%s: read error in the state arrays", path);
            goto out;
        }
        for (uint64_t i = 0; has && i < n; i++)
            if (j->fault[i] >= PIXEL_FAULT_COUNT) {
                pxf_fail(err, errlen, "%s: state %llu: fault kind %u out of range", path,
                         (unsigned long long)i, j->fault[i]);
                goto out;
            }
        rc = 0;
    }
out:
    fclose(f);
    if (rc)
        pixel_job_free(j);
    return rc;
}

static long pxf_compare(const struct pixel_job *a, const struct pixel_job *b, FILE *out,
                        unsigned max_report, uint32_t regmask)
{
    if (a->nstates != b->nstates || a->nregions != b->nregions ||
        pixel_job_window(a) != pixel_job_window(b) || a->ninsns != b->ninsns ||
        memcmp(a->prog, b->prog, (size_t)a->ninsns * sizeof *a->prog) != 0) {
        if (out)
            fprintf(out, "shapes differ: %u vs %u states, %u vs %u regions, programs %s\n",
                    a->nstates, b->nstates, a->nregions, b->nregions,
                    a->ninsns == b->ninsns ? "of equal length" : "of different length");
        return -1;
    }
    uint64_t n = a->nstates, win = pixel_job_window(a);
    long differ = 0;
    unsigned shown = 0;
    for (uint64_t i = 0; i < n; i++) {
        int d = a->fault[i] != b->fault[i] || a->fault_pc[i] != b->fault_pc[i] ||
                memcmp(a->mem + i * win, b->mem + i * win, (size_t)win) != 0;
        int reg = -1;
        for (int r = 0; r < 32; r++)
            if ((regmask >> r & 1) && a->regs[(uint64_t)r * n + i] != b->regs[(uint64_t)r * n + i]) {
                d = 1;
                if (reg < 0)
                    reg = r;
            }
        if (!d)
            continue;
        differ++;
        if (out && shown++ < max_report) {
            fprintf(out, "state %llu: fault %u/%u pc %u/%u", (unsigned long long)i, a->fault[i],
                    b->fault[i], a->fault_pc[i], b->fault_pc[i]);
            if (reg >= 0)
                fprintf(out, " R%d %#llx/%#llx", reg, (unsigned long long)a->regs[(uint64_t)reg * n + i],
                        (unsigned long long)b->regs[(uint64_t)reg * n + i]);
            fprintf(out, "\n");
        }
    }
    return differ;
}

long pixel_job_compare(const struct pixel_job *a, const struct pixel_job *b, FILE *out,
                       unsigned max_report)
{
    return pxf_compare(a, b, out, max_report, 0xffffffffu);
}

long pixel_job_compare_guest(const struct pixel_job *a, const struct pixel_job *b, FILE *out,
                             unsigned max_report)
{
    return pxf_compare(a, b, out, max_report, PIXEL_GUEST_REG_MASK);
}

/* ---- the compact transfer plan ------------------------------------------ */

/* From the table: whether rd is also a source, and whether the op can raise
 * a DIV fault (its C fault column is not the literal 0). */
static int pxf_reads_rd(uint8_t op)
{
    switch (op) {
#define PXF_X_RDIN(name, code, form, kind, w, rdin, ...) case code: return rdin;
    PIXEL_OPCODES(PXF_X_RDIN)
#undef PXF_X_RDIN
    default: return 1;
    }
}

static int pxf_may_div_fault(uint8_t op)
{
    switch (op) {
#define PXF_X_DIVF(name, code, form, kind, w, rdin, cres, cfault, ...) \
    case code: return strcmp(#cfault, "0") != 0;
    PIXEL_OPCODES(PXF_X_DIVF)
#undef PXF_X_DIVF
    default: return 1;
    }
}

/* Opcodes whose result is exactly 0 or 1 (docs/pixel-isa.md, "Semantics":
 * comparisons, BIT, PARITY, CMPEQZ): a flag they write fits in a bit. */
static int pxf_bool_result(uint8_t op)
{
    switch (op) {
    case PX_CMPEQ: case PX_CMPNE: case PX_CMPLTU: case PX_CMPLTS: case PX_CMPLEU:
    case PX_CMPLES: case PX_CMPEQZ: case PX_BIT: case PX_PARITY:
        return 1;
    default:
        return 0;
    }
}

/* Registers an instruction reads and writes. */
static void pxf_insn_regs(struct pixel_insn in, uint32_t *src, uint32_t *dst)
{
    uint32_t rd = 1u << (in.rd & 31), r1 = 1u << (in.rs1 & 31), r2 = 1u << (in.rs2 & 31);
    *src = *dst = 0;
    switch (pixel_op_form(in.op)) {
    case PXF_RR: case PXF_RRU6: case PXF_RRS8: case PXF_RRU8: case PXF_LOAD:
        *src = r1; *dst = rd; break;
    case PXF_RRR: *src = r1 | r2; *dst = rd; break;
    case PXF_RS16: case PXF_RU16: *dst = rd; break;
    case PXF_STORE: *src = r1 | r2; break;
    case PXF_RJ: *src = rd; break;
    default: break;
    }
    if (*dst && pxf_reads_rd(in.op))
        *src |= rd;
}

uint32_t pixel_prog_writes(const struct pixel_insn *prog, size_t n)
{
    uint32_t all = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t src, dst;
        pxf_insn_regs(prog[k], &src, &dst);
        all |= dst;
    }
    return all;
}

/* ---- fewer bytes for fault-free straight-line microcode ------------------
 * Forward: what is known of each register's value in every state — a
 * constant (uniform inputs and what is computed from them alone), or its
 * upper 32 bits (HI: zero-extended results, choices between values with
 * the same upper half), or nothing.  Backward: how many low bits of each
 * register can reach something downloaded (0, 32 or 64). */
enum { PXF_TOP, PXF_CONST, PXF_HI };
struct pxf_av { int k; uint64_t v; };   /* CONST: the value; HI: the upper 32 bits */

static int pxf_hi(struct pxf_av a, uint64_t *h)
{
    if (a.k == PXF_CONST) *h = a.v >> 32;
    else if (a.k == PXF_HI) *h = a.v;
    else return 0;
    return 1;
}

static struct pxf_av pxf_eval(struct pixel_insn in, const struct pxf_av *R, uint32_t src)
{
    struct pxf_av a = R[in.rs1 & 31], b = R[in.rs2 & 31], d = R[in.rd & 31], top = { PXF_TOP, 0 };
    int all_const = 1;
    for (int r = 0; r < 32; r++)
        if ((src >> r & 1) && R[r].k != PXF_CONST)
            all_const = 0;
    if (all_const) {
        int div = 0;
        struct pxf_av c = { PXF_CONST, pixel_alu(in.op, a.v, b.v, d.v, in.rs1, in.rs2, 0, &div) };
        return c;
    }
    uint64_t ha, hb, hd;
    struct pxf_av zero_hi = { PXF_HI, 0 };
    switch (in.op) {
    case PX_MOV: return a;
    case PX_ZEXT8: case PX_ZEXT16: case PX_ZEXT32: case PX_ANDI: case PX_BIT: case PX_CMPEQ: case PX_CMPNE:
    case PX_CMPLTU: case PX_CMPLTS: case PX_CMPLEU: case PX_CMPLES: case PX_CMPEQZ: case PX_PARITY:
    case PX_POPCNT: case PX_CLZ: case PX_CTZ: case PX_EXT8H: case PX_BSWAP32:
        return zero_hi;
    case PX_AND:
        if ((pxf_hi(a, &ha) && ha == 0) || (pxf_hi(b, &hb) && hb == 0)) return zero_hi;
        return top;
    case PX_OR: case PX_XOR:
        if (pxf_hi(a, &ha) && pxf_hi(b, &hb)) {
            struct pxf_av h = { PXF_HI, in.op == PX_OR ? ha | hb : ha ^ hb };
            return h;
        }
        return top;
    case PX_CMOVNZ: case PX_CMOVZ:
        if (pxf_hi(b, &hb) && pxf_hi(d, &hd) && hb == hd) {
            struct pxf_av h = { PXF_HI, hb };
            return h;
        }
        return top;
    case PX_INS8: case PX_INS8H: case PX_INS16:
        if (pxf_hi(d, &hd)) {
            struct pxf_av h = { PXF_HI, hd };
            return h;
        }
        return top;
    default:
        return top;
    }
}

/* Low bits of each source an instruction needs for `need` low bits of its
 * result (need 32 or 64): 32 or 64 per source register. */
static unsigned pxf_src_need(struct pixel_insn in, unsigned need, unsigned r)
{
    switch (in.op) {
    case PX_ZEXT8: case PX_ZEXT16: case PX_ZEXT32: case PX_SEXT8: case PX_SEXT16: case PX_SEXT32:
    case PX_BSWAP32: case PX_PARITY: case PX_EXT8H:
        return 32;
    case PX_INS8: case PX_INS8H: case PX_INS16:
        return r == (in.rd & 31u) ? need : 32;   /* rs1's low 8/16 bits; rd's other bits pass */
    case PX_BIT:
        return in.rs2 < 32 ? 32 : 64;
    case PX_MOV: case PX_ADD: case PX_SUB: case PX_MUL: case PX_AND: case PX_OR: case PX_XOR: case PX_NOT:
    case PX_NEG: case PX_ADDI: case PX_ANDI: case PX_ORI: case PX_XORI: case PX_SHLI: case PX_LDHI:
        return need;   /* low bits of the result depend on low bits of the sources only */
    case PX_SHL:
        return r == (in.rs1 & 31u) ? need : 32;   /* the count is rs2 & 63 */
    case PX_CMOVNZ: case PX_CMOVZ:
        return r == (in.rs1 & 31u) ? 64 : need;   /* the condition tests all 64 bits */
    default:
        return 64;
    }
}

static void pxf_narrow(const struct pixel_job *j, struct pixel_xfer_plan *p)
{
    struct pxf_av R[32];
    for (int r = 0; r < 32; r++) {
        R[r].k = (p->in_uniform >> r & 1) ? PXF_CONST : PXF_TOP;
        R[r].v = p->in_val[r];
    }
    for (uint32_t x = 0; x < j->ninsns; x++) {
        struct pixel_insn in = j->prog[x];
        uint32_t src, dst;
        pxf_insn_regs(in, &src, &dst);
        if (dst)
            R[in.rd & 31] = pxf_eval(in, R, src);
    }
    unsigned need[32] = {0};
    for (int r = 0; r < 32; r++) {
        uint32_t bit = 1u << r;
        if ((p->out_rows | p->out_flags) & bit && R[r].k == PXF_CONST) {
            p->out_uniform |= bit;
            p->out_val[r] = R[r].v;
            p->out_rows &= ~bit;
            p->out_flags &= ~bit;
        } else if (p->out_rows & bit && R[r].k == PXF_HI) {
            p->out_narrow |= bit;
            p->out_hi[r] = (uint32_t)R[r].v;
            need[r] = 32;
        } else if (p->out_rows & bit) {
            need[r] = 64;
        } else if (p->out_flags & bit) {
            need[r] = 32;   /* bit 0 */
        }
    }
    for (uint32_t x = j->ninsns; x-- > 0;) {
        struct pixel_insn in = j->prog[x];
        uint32_t src, dst;
        pxf_insn_regs(in, &src, &dst);
        if (!dst)
            continue;
        unsigned d = need[in.rd & 31];
        need[in.rd & 31] = 0;
        if (!d)
            continue;   /* its result reaches nothing downloaded */
        for (unsigned r = 0; r < 32; r++)
            if (src >> r & 1) {
                unsigned w = pxf_src_need(in, d, r);
                if (w > need[r])
                    need[r] = w;
            }
    }
    for (int r = 0; r < 32; r++) {
        uint32_t bit = 1u << r;
        if ((p->in_rows | p->in_flags) & bit && need[r] == 0) {
            p->in_rows &= ~bit;   /* read, but nothing downloaded depends on it */
            p->in_flags &= ~bit;
        } else if (p->in_rows & bit && need[r] == 32) {
            p->in_narrow |= bit;
        }
    }
    p->status_known = true;
}

void pixel_xfer_plan_make(const struct pixel_job *j, struct pixel_xfer_plan *p)
{
    pixel_xfer_plan_make_ex(j, p, true);
}

void pixel_xfer_plan_make_ex(const struct pixel_job *j, struct pixel_xfer_plan *p, bool fewer_bytes)
{
    memset(p, 0, sizeof *p);
    const uint32_t limit = j->step_limit ? j->step_limit : PIXEL_DEFAULT_STEP_LIMIT;
    uint32_t livein = 0, killed = 0, written = 0, nonbool = 0, defined = 0;
    int prefix = 1;   /* still in the straight-line, fault-free start every state runs */
    /* Without jumps, an instruction that runs has had every earlier one run:
     * a register written earlier is defined when read (a fault stops the
     * state before any later read).  With jumps, only the prefix counts. */
    int straight = 1;
    for (uint32_t x = 0; x < j->ninsns; x++) {
        uint8_t op = j->prog[x].op;
        if (op == PX_JUMP || op == PX_JZ || op == PX_JNZ || op == PX_CALL || op == PX_RET)
            straight = 0;
    }
    for (uint32_t x = 0; x < j->ninsns; x++) {
        struct pixel_insn in = j->prog[x];
        int kind = pixel_op_kind(in.op);
        uint32_t src, dst;
        pxf_insn_regs(in, &src, &dst);
        if (x >= limit || kind == PXK_LOAD || kind == PXK_STORE ||
            (kind == PXK_CTRL && in.op != PX_NOP) || pxf_may_div_fault(in.op))
            prefix = 0;
        livein |= src & ~(straight ? defined : killed);
        defined |= dst;
        if (prefix)
            killed |= dst & ~livein;
        else   /* a state may fault or branch before writing it: its old value may be its
                  result (scratch registers excepted: they are not results) */
            livein |= dst & ~killed & PIXEL_GUEST_REG_MASK;
        written |= dst;
        if (!pxf_bool_result(in.op))
            nonbool |= dst;
        if (kind == PXK_LOAD || kind == PXK_STORE)
            p->mem_in = true;
        if (kind == PXK_STORE)
            p->mem_out = true;
    }
    const uint64_t n = j->nstates;
    for (int r = 0; r < 32; r++) {
        if (!(livein >> r & 1))
            continue;
        int bits = (PIXEL_FLAG_REG_MASK >> r & 1) != 0;
        for (uint64_t i = 0; bits && i < n; i++)
            bits = j->regs[(uint64_t)r * n + i] <= 1;
        if (bits)
            p->in_flags |= 1u << r;
        else
            p->in_rows |= 1u << r;
    }
    uint32_t out = written & PIXEL_GUEST_REG_MASK;
    for (int r = 0; r < 32; r++) {
        if (!(out >> r & 1))
            continue;
        if ((PIXEL_FLAG_REG_MASK >> r & 1) && !(nonbool >> r & 1) &&
            ((killed >> r & 1) || (p->in_flags >> r & 1)))
            p->out_flags |= 1u << r;
        else
            p->out_rows |= 1u << r;
    }
    p->killed = killed;
    /* uniform inputs: a kernel parameter instead of a row */
    for (int r = 0; r < 32 && n && fewer_bytes; r++) {
        if (!((p->in_rows | p->in_flags) >> r & 1))
            continue;
        const uint64_t *row = j->regs + (uint64_t)r * n, v = row[0];
        uint64_t i = 1;
        while (i < n && row[i] == v)
            i++;
        if (i < n)
            continue;
        p->in_uniform |= 1u << r;
        p->in_val[r] = v;
        p->in_rows &= ~(1u << r);
        p->in_flags &= ~(1u << r);
    }
    p->simple = straight && j->ninsns <= limit;
    for (uint32_t x = 0; x < j->ninsns && p->simple; x++) {
        uint8_t op = j->prog[x].op;
        int kind = pixel_op_kind(op);
        if (kind == PXK_LOAD || kind == PXK_STORE || (kind == PXK_CTRL && op != PX_NOP) || pxf_may_div_fault(op))
            p->simple = false;
    }
    if (p->simple && fewer_bytes)
        pxf_narrow(j, p);
    uint64_t win = pixel_job_window(j);
    const uint32_t in32 = (uint32_t)__builtin_popcount(p->in_narrow), out32 = (uint32_t)__builtin_popcount(p->out_narrow);
    p->bytes_in = 8 * ((uint32_t)__builtin_popcount(p->in_rows) - in32) + 4 * in32 + (p->in_flags ? 1 : 0) +
                  (p->mem_in ? (uint32_t)(8 * j->nregions + win) : 0);
    p->bytes_out = 8 * ((uint32_t)__builtin_popcount(p->out_rows) - out32) + 4 * out32 + (p->out_flags ? 1 : 0) +
                   (p->status_known ? 0 : 2) + (p->mem_out ? (uint32_t)win : 0);
}

void pixel_xfer_pack_flags(const struct pixel_job *j, const struct pixel_xfer_plan *p,
                           uint64_t first, uint64_t count, uint8_t *flags)
{
    const uint64_t n = j->nstates;
    memset(flags, 0, (size_t)count);
    for (int r = 16; r < 24; r++) {
        if (!(p->in_flags >> r & 1))
            continue;
        const uint64_t *row = j->regs + (uint64_t)r * n + first;
        const int bit = PIXEL_FLAG_BIT(r);
        for (uint64_t i = 0; i < count; i++)
            flags[i] |= (uint8_t)((row[i] & 1) << bit);
    }
}

void pixel_xfer_expand(struct pixel_job *res, const struct pixel_xfer_plan *p,
                       const uint64_t *out_rows, const uint32_t *out_rows32, const uint8_t *out_flags,
                       const uint16_t *status, const uint8_t *mem)
{
    const uint64_t n = res->nstates;
    int slot = 0, slot32 = 0;
    for (int r = 0; r < 32; r++) {
        uint64_t *row = res->regs + (uint64_t)r * n;
        if (p->out_narrow >> r & 1) {
            const uint32_t *src = out_rows32 + (uint64_t)slot32++ * n;
            const uint64_t hi = (uint64_t)p->out_hi[r] << 32;
            for (uint64_t i = 0; i < n; i++)
                row[i] = hi | src[i];
        } else if (p->out_rows >> r & 1) {
            memcpy(row, out_rows + (uint64_t)slot++ * n, (size_t)(n * 8));
        } else if (p->out_uniform >> r & 1) {
            for (uint64_t i = 0; i < n; i++)
                row[i] = p->out_val[r];
        }
    }
    for (int r = 16; r < 24 && out_flags; r++) {
        if (!(p->out_flags >> r & 1))
            continue;
        uint64_t *row = res->regs + (uint64_t)r * n;
        const int bit = PIXEL_FLAG_BIT(r);
        for (uint64_t i = 0; i < n; i++)
            row[i] = out_flags[i] >> bit & 1;
    }
    for (uint64_t i = 0; i < n; i++) {
        res->fault[i] = p->status_known ? (uint8_t)PIXEL_FAULT_NONE : (uint8_t)(status[i] >> 13);
        res->fault_pc[i] = p->status_known ? res->ninsns : status[i] & 0x1fffu;
    }
    if (p->mem_out && mem)
        memcpy(res->mem, mem, (size_t)(pixel_job_window(res) * n));
    res->has_results = true;
}
