/* lib_commands.c — see lib_commands.h. */
#include "lib_commands.h"

#include <Zydis/Zydis.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "pixel_asm.h"

/* ---- list ------------------------------------------------------------------ */

struct list_ctx {
    FILE *out;
    bool json;
    json_t *arr;
    unsigned verified, qemu_only, corrupt;
};

static double best_speedup(const struct library_entry *e, const char **who)
{
    double best = 0;
    *who = "-";
    for (unsigned i = 0; i < e->nspeedups; i++)
        if (e->speedup[i].ratio > best) {
            best = e->speedup[i].ratio;
            *who = e->speedup[i].executor;
        }
    return best;
}

static int list_one(const char *path, const struct library_entry *e, const char *err, void *vctx)
{
    struct list_ctx *c = vctx;
    if (!e) {
        c->corrupt++;
        fprintf(stderr, "tcgl-lib: corrupt entry %s: %s\n", path, err);
        return 0;
    }
    const char *who;
    double sp = best_speedup(e, &who);
    if (e->kind == LIBRARY_KIND_VERIFIED)
        c->verified++;
    else
        c->qemu_only++;
    if (c->json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s}",
                              "key", e->key, "kind", library_kind_name(e->kind),
                              "method", library_method_name(e->method),
                              "ops", (json_int_t)(e->pixel_ops_len / 4), "cost", (json_int_t)e->cost,
                              "baseline_cost", (json_int_t)e->baseline_cost,
                              "instances", (json_int_t)(e->instances > INT64_MAX ? INT64_MAX : e->instances),
                              "isa_version", (json_int_t)e->isa_version,
                              "workload", e->first_seen_workload,
                              "mnemonic", e->mnemonic, "reason", e->reason);
        if (o && e->nspeedups)
            json_object_set_new(o, "best_speedup", json_real(sp));
        if (o)
            json_array_append_new(c->arr, o);
        return 0;
    }
    if (e->kind == LIBRARY_KIND_VERIFIED) {
        char spbuf[32] = "-";
        if (e->nspeedups)
            snprintf(spbuf, sizeof spbuf, "%.2fx %s", sp, who);
        fprintf(c->out, "%.16s  verified   %-9s %4zu ops  cost %4u/%-4u  %6" PRIu64 " inst  %-18s  %s\n",
                e->key, library_method_name(e->method), e->pixel_ops_len / 4, e->cost,
                e->baseline_cost, e->instances, spbuf, e->first_seen_workload);
    } else {
        fprintf(c->out, "%.16s  qemu_only  %-9s %4s      %-13s  %6" PRIu64 " inst  %-18s  %s\n",
                e->key, e->mnemonic[0] ? e->mnemonic : "?", "", "", e->instances, e->reason,
                e->first_seen_workload);
    }
    return 0;
}

int libcmd_list(struct library *lib, FILE *out, bool json)
{
    struct list_ctx c = { .out = out, .json = json, .arr = json ? json_array() : NULL };
    if (!json)
        fprintf(out, "%-16s  %-9s  %-9s %8s  %-13s  %11s  %-18s  %s\n", "KEY", "KIND",
                "METHOD", "SIZE", "COST/BASE", "INSTANCES", "SPEEDUP|REASON", "WORKLOAD");
    if (library_foreach(lib, list_one, &c) < 0) {
        json_decref(c.arr);
        return LIBCMD_ERROR;
    }
    if (json) {
        json_t *root = json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "library", library_dir(lib),
                                 "verified", (json_int_t)c.verified, "qemu_only",
                                 (json_int_t)c.qemu_only, "corrupt", (json_int_t)c.corrupt,
                                 "isa_version", (json_int_t)library_isa_version(lib),
                                 "entries", c.arr);
        if (!root)
            return LIBCMD_ERROR;
        json_dumpf(root, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(root);
    } else {
        fprintf(out, "%u verified, %u qemu-only, %u corrupt\n", c.verified, c.qemu_only, c.corrupt);
    }
    return c.corrupt ? LIBCMD_PROBLEMS : LIBCMD_OK;
}

/* ---- show ------------------------------------------------------------------- */

static void print_x86(FILE *out, const struct library_entry *e)
{
    ZydisMachineMode mode = e->cpu_mode == 64 ? ZYDIS_MACHINE_MODE_LONG_64
                          : e->cpu_mode == 32 ? ZYDIS_MACHINE_MODE_LEGACY_32
                                              : ZYDIS_MACHINE_MODE_LEGACY_16;
    size_t off = 0;
    while (off < e->code_len) {
        ZydisDisassembledInstruction insn;
        char hex[2 * 15 + 1];
        if (ZYAN_FAILED(ZydisDisassembleIntel(mode, off, e->code + off, e->code_len - off, &insn))) {
            hex_encode(e->code + off, e->code_len - off > 15 ? 15 : e->code_len - off, hex);
            fprintf(out, "    %4zx  %-30s (undecodable)\n", off, hex);
            break;
        }
        hex_encode(e->code + off, insn.info.length, hex);
        fprintf(out, "    %4zx  %-30s %s\n", off, hex, insn.text);
        off += insn.info.length;
    }
}

static void print_locset(FILE *out, x86_locset s)
{
    static const char *const gpr[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    static const char *const flag[6] = { "cf", "pf", "af", "zf", "sf", "of" };
    const char *sep = "";
    for (int i = 0; i < 16; i++)
        if (s & X86_LOC_GPR(i)) {
            fprintf(out, "%s%s", sep, gpr[i]);
            sep = " ";
        }
    for (int i = 0; i < 6; i++)
        if (s & X86_LOC_FLAG(i)) {
            fprintf(out, "%s%s", sep, flag[i]);
            sep = " ";
        }
    if (s & X86_LOC_RIP) {
        fprintf(out, "%srip", sep);
        sep = " ";
    }
    if (s & X86_LOC_MEM) {
        fprintf(out, "%smem", sep);
        sep = " ";
    }
    fprintf(out, "%s (0x%06x)", *sep ? "" : "(none)", (unsigned)s);
}

static void print_entry(FILE *out, const struct library *lib, const struct library_entry *e)
{
    char t1[32], t2[32];
    struct tm tm;
    strftime(t1, sizeof t1, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&e->created, &tm));
    strftime(t2, sizeof t2, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&e->updated, &tm));
    char path[4200];
    library_entry_path(lib, e->key, path, sizeof path);
    fprintf(out, "key          %s\nfile         %s\nkind         %s\n", e->key, path,
            library_kind_name(e->kind));
    fprintf(out, "versions     isa %u, semantics %u%s\n", e->isa_version, e->semantics_version,
            e->isa_version != library_isa_version(lib) ||
                    e->semantics_version != library_semantics_version(lib)
                ? "  (not the current versions: never served)" : "");
    fprintf(out, "cpu mode     %u-bit\nlive-in      ", e->cpu_mode);
    print_locset(out, e->live_in);
    fprintf(out, "\nlive-out     ");
    print_locset(out, e->live_out);
    fprintf(out, "\ntemplate     %zu bytes\n", e->code_len);
    print_x86(out, e);
    if (e->kind == LIBRARY_KIND_QEMU_ONLY) {
        fprintf(out, "qemu-only    %s: %s\n", e->mnemonic[0] ? e->mnemonic : "?", e->reason);
    } else {
        fprintf(out, "microcode    %zu instructions, method %s, cost %u (baseline %u)\n",
                e->pixel_ops_len / 4, library_method_name(e->method), e->cost, e->baseline_cost);
        for (size_t i = 0; i + 4 <= e->pixel_ops_len; i += 4) {
            struct pixel_insn in = { e->pixel_ops[i], e->pixel_ops[i + 1], e->pixel_ops[i + 2],
                                     e->pixel_ops[i + 3] };
            char text[96];
            pixel_disasm_insn(in, text, sizeof text);
            fprintf(out, "    %4zu  [%3u,%3u,%3u,%3u]  %s\n", i / 4, in.op, in.rd, in.rs1, in.rs2, text);
        }
        fprintf(out, "proof        %s\ntests        %u unicorn, %u native, %u failed\n",
                library_proof_name(e->proof), e->tests_unicorn, e->tests_native, e->tests_failed);
        fprintf(out, "times        synth %" PRIu64 " us, proof %" PRIu64 " us, tests %" PRIu64 " us\n",
                e->synth_us, e->proof_us, e->test_us);
        fprintf(out, "speedups    ");
        if (!e->nspeedups)
            fprintf(out, " (not measured yet)");
        for (unsigned i = 0; i < e->nspeedups; i++)
            fprintf(out, " %s %.2fx", e->speedup[i].executor, e->speedup[i].ratio);
        fputc('\n', out);
    }
    fprintf(out, "instances    %" PRIu64 "\nfirst seen   %s\ncreated      %s\nupdated      %s\n",
            e->instances, e->first_seen_workload[0] ? e->first_seen_workload : "-", t1, t2);
}

int libcmd_show(struct library *lib, FILE *out, const char *arg, bool raw)
{
    size_t n = strlen(arg);
    for (size_t i = 0; i < n; i++)
        if (!((arg[i] >= '0' && arg[i] <= '9') || (arg[i] >= 'a' && arg[i] <= 'f'))) {
            fprintf(stderr, "tcgl-lib show: '%s' is not a key or key prefix (lower-case hex)\n", arg);
            return LIBCMD_USAGE;
        }
    if (n == 0 || n > LIBRARY_KEY_HEX_LEN) {
        fprintf(stderr, "tcgl-lib show: a key prefix has 1 to 64 hex digits\n");
        return LIBCMD_USAGE;
    }
    char keys[8][LIBRARY_KEY_HEX_LEN + 1];
    int found = library_find_prefix(lib, arg, keys, 8);
    if (found < 0)
        return LIBCMD_ERROR;
    if (found == 0) {
        fprintf(stderr, "tcgl-lib show: no entry %s in %s\n", arg, library_dir(lib));
        return LIBCMD_PROBLEMS;
    }
    if (found > 1) {
        fprintf(stderr, "tcgl-lib show: prefix %s is ambiguous (%d entries):\n", arg, found);
        for (int i = 0; i < found && i < 8; i++)
            fprintf(stderr, "  %s\n", keys[i]);
        return LIBCMD_USAGE;
    }
    struct library_entry e;
    enum library_result r = library_lookup(lib, keys[0], &e);
    char path[4200];
    library_entry_path(lib, keys[0], path, sizeof path);
    if (r == LIBRARY_ERROR)
        return LIBCMD_ERROR;
    if (r == LIBRARY_MISS) {
        fprintf(stderr, "tcgl-lib show: %s is corrupt (see the message above)\n", path);
        return LIBCMD_PROBLEMS;
    }
    if (raw) {
        char *json = library_entry_to_json(&e);
        if (json)
            fputs(json, out);
        free(json);
    } else {
        print_entry(out, lib, &e);
    }
    library_entry_free(&e);
    return LIBCMD_OK;
}

/* ---- prune and verify ------------------------------------------------------- */

int libcmd_prune(struct library *lib, FILE *out, unsigned flags, time_t before)
{
    struct library_prune_result r;
    if (library_prune(lib, flags, before, &r) != 0)
        return LIBCMD_ERROR;
    fprintf(out, "%s%u of %u entries (%u other versions, %u qemu-only, %u old, %u corrupt); "
                 "%u kept; %u stale temp files removed\n",
            flags & LIBRARY_PRUNE_DRY_RUN ? "would remove " : "removed ", r.removed, r.examined,
            r.removed_version, r.removed_qemu_only, r.removed_old, r.removed_corrupt, r.kept,
            r.stale_temp_files);
    return LIBCMD_OK;
}

struct verify_ctx {
    FILE *out;
    const struct library *lib;
    unsigned ok, corrupt, other_version;
};

static int verify_one(const char *path, const struct library_entry *e, const char *err, void *vctx)
{
    struct verify_ctx *c = vctx;
    if (!e) {
        c->corrupt++;
        fprintf(c->out, "CORRUPT  %s: %s\n", path, err);
        return 0;
    }
    c->ok++;
    if (e->isa_version != library_isa_version(c->lib) ||
        e->semantics_version != library_semantics_version(c->lib)) {
        c->other_version++;
        fprintf(c->out, "STALE    %s: isa %u / semantics %u (current %u / %u); never served, "
                        "'prune --version-mismatch' removes it\n",
                path, e->isa_version, e->semantics_version, library_isa_version(c->lib),
                library_semantics_version(c->lib));
    }
    return 0;
}

int libcmd_verify(struct library *lib, FILE *out)
{
    struct verify_ctx c = { .out = out, .lib = lib };
    if (library_foreach(lib, verify_one, &c) < 0)
        return LIBCMD_ERROR;
    fprintf(out, "%u entries valid (%u of other versions), %u corrupt\n", c.ok, c.other_version,
            c.corrupt);
    return c.corrupt ? LIBCMD_PROBLEMS : LIBCMD_OK;
}

long long libcmd_parse_age(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    long long unit = 86400;
    if (*end) {
        if (end[1])
            return -1;
        switch (*end) {
        case 'd': unit = 86400; break;
        case 'h': unit = 3600; break;
        case 'm': unit = 60; break;
        case 's': unit = 1; break;
        default: return -1;
        }
    }
    if (v > (long long)1e12 / unit)
        return -1;
    return v * unit;
}
