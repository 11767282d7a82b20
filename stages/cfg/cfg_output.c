/* cfg_output.c — the hottest part of the CFG as JSON, Graphviz DOT and SVG,
 * so that a user can look at the hot loops of a run. */
#include "cfg.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

static void locset_names(x86_locset s, uint8_t mode, char *buf, size_t len)
{
    static const char *const g64[X86_NGPR] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                               "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    static const char *const g32[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };
    static const char *const fl[X86_NFLAG] = { "cf", "pf", "af", "zf", "sf", "of" };
    size_t o = 0;
    buf[0] = 0;
    for (int r = 0; r < X86_NGPR; r++)
        if (s & X86_LOC_GPR(r))
            o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? " " : "",
                                  mode == 64 ? g64[r] : (r < 8 ? g32[r] : g64[r]));
    for (int f = 0; f < X86_NFLAG; f++)
        if (s & X86_LOC_FLAG(f))
            o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? " " : "", fl[f]);
    if (o >= len && len) buf[len - 1] = 0;
}

static char *hexpc(uint64_t pc, char *buf)
{
    snprintf(buf, 24, "0x%llx", (unsigned long long)pc);
    return buf;
}

/* Block i is in the picture (index into the top list) or not (-1). */
static int32_t *selection(const struct cfg *g, const uint32_t *rank, uint32_t top)
{
    int32_t *sel = malloc((g->nblocks ? g->nblocks : 1) * sizeof *sel);
    if (!sel) return NULL;
    for (uint32_t i = 0; i < g->nblocks; i++) sel[i] = -1;
    for (uint32_t k = 0; k < top; k++) sel[rank[k]] = (int32_t)k;
    return sel;
}

static json_t *block_json(const struct cfg *g, const struct cfg_block *b, const int32_t *sel)
{
    char pcb[24], set[256];
    json_t *o = json_object();
    json_object_set_new(o, "pc", json_string(hexpc(b->pc, pcb)));
    json_object_set_new(o, "end", json_string(hexpc(b->end, pcb)));
    json_object_set_new(o, "cpu_mode", json_integer(b->mode));
    json_object_set_new(o, "ninsns", json_integer(b->ninsns));
    json_object_set_new(o, "exec_count", json_integer((json_int_t)b->exec_count));
    json_object_set_new(o, "class", json_string(cfg_class_name(b->cls)));
    json_object_set_new(o, "loop_depth", json_integer(b->loop_depth));
    json_object_set_new(o, "loop_header", b->loop_header ? json_string(hexpc(b->loop_header, pcb)) : json_null());
    json_object_set_new(o, "is_loop_header", json_boolean(b->is_loop_header));
    json_object_set_new(o, "live_in", json_integer(b->live_in));
    json_object_set_new(o, "live_out", json_integer(b->live_out));
    locset_names(b->live_in, b->mode, set, sizeof set);
    json_object_set_new(o, "live_in_names", json_string(set));
    locset_names(b->live_out, b->mode, set, sizeof set);
    json_object_set_new(o, "live_out_names", json_string(set));
    json_object_set_new(o, "successors_complete", json_boolean(!b->succ_unknown));
    json_object_set_new(o, "samples", json_integer(b->nsample));
    json_t *insns = json_array();
    size_t off = 0;
    for (uint32_t i = 0; i < b->ninsns; i++) {
        char text[160];
        if (!insn_info_format(b->mode, b->insn[i].pc, b->code + off, b->insn[i].len, text, sizeof text))
            snprintf(text, sizeof text, "(bad)");
        json_array_append_new(insns, json_string(text));
        off += b->insn[i].len;
    }
    json_object_set_new(o, "insns", insns);
    json_t *succ = json_array();
    for (uint32_t k = 0; k < b->nsucc; k++) {
        json_t *e = json_object();
        const struct cfg_block *t = &g->block[b->succ[k].to];
        json_object_set_new(e, "pc", json_string(hexpc(t->pc, pcb)));
        json_object_set_new(e, "count", json_integer((json_int_t)b->succ[k].count));
        json_object_set_new(e, "in_picture", json_boolean(sel[b->succ[k].to] >= 0));
        json_array_append_new(succ, e);
    }
    json_object_set_new(o, "succs", succ);
    return o;
}

static bool write_json(const struct cfg *g, const char *path, const uint32_t *rank, uint32_t top,
                       const int32_t *sel)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("tcgl-cfg/1"));
    json_object_set_new(root, "blocks_total", json_integer(g->nblocks));
    json_object_set_new(root, "tbs", json_integer((json_int_t)g->n.tbs));
    json_object_set_new(root, "executions", json_integer((json_int_t)g->n.execs));
    json_t *cnt = json_object();
    json_object_set_new(cnt, "exec_unknown_tb", json_integer((json_int_t)g->n.exec_unknown_tb));
    json_object_set_new(cnt, "samples", json_integer((json_int_t)g->n.samples));
    json_object_set_new(cnt, "samples_unknown", json_integer((json_int_t)g->n.samples_unknown));
    json_object_set_new(cnt, "undecodable_insns", json_integer((json_int_t)g->n.undecodable_insns));
    json_object_set_new(cnt, "len_mismatches", json_integer((json_int_t)g->n.len_mismatches));
    json_object_set_new(cnt, "splits", json_integer((json_int_t)g->n.splits));
    json_object_set_new(cnt, "bad_records", json_integer((json_int_t)g->n.bad_records));
    json_object_set_new(root, "counters", cnt);
    json_t *blocks = json_array();
    for (uint32_t k = 0; k < top; k++) json_array_append_new(blocks, block_json(g, &g->block[rank[k]], sel));
    json_object_set_new(root, "hot_blocks", blocks);
    int rc = json_dump_file(root, path, JSON_INDENT(1));
    json_decref(root);
    if (rc) log_error("cfg: cannot write %s: %s", path, strerror(errno));
    return rc == 0;
}

static bool write_dot(const struct cfg *g, const char *path, const uint32_t *rank, uint32_t top,
                      const int32_t *sel)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        log_error("cfg: cannot write %s: %s", path, strerror(errno));
        return false;
    }
    static const char *const fill[CFG_NCLASS] = { "#c6efce", "#ffeb9c", "#dddddd", "#bdd7ee", "#ffc7ce" };
    fprintf(f, "digraph cfg {\n  node [shape=box fontname=\"monospace\" fontsize=9 style=filled];\n"
               "  edge [fontname=\"monospace\" fontsize=8];\n");
    for (uint32_t k = 0; k < top; k++) {
        const struct cfg_block *b = &g->block[rank[k]];
        fprintf(f, "  b%u [fillcolor=\"%s\"%s label=\"%#llx  x%llu  %s  depth %u\\l",
                rank[k], fill[b->cls < CFG_NCLASS ? b->cls : 0], b->is_loop_header ? " penwidth=3" : "",
                (unsigned long long)b->pc, (unsigned long long)b->exec_count, cfg_class_name(b->cls),
                b->loop_depth);
        size_t off = 0;
        for (uint32_t i = 0; i < b->ninsns && i < 24; i++) {
            char text[160];
            if (!insn_info_format(b->mode, b->insn[i].pc, b->code + off, b->insn[i].len, text, sizeof text))
                snprintf(text, sizeof text, "(bad)");
            for (char *c = text; *c; c++) if (*c == '"' || *c == '\\') *c = '\'';
            fprintf(f, "%s\\l", text);
            off += b->insn[i].len;
        }
        if (b->ninsns > 24) fprintf(f, "... %u more\\l", b->ninsns - 24);
        fprintf(f, "\"];\n");
    }
    for (uint32_t k = 0; k < top; k++) {
        const struct cfg_block *b = &g->block[rank[k]];
        for (uint32_t e = 0; e < b->nsucc; e++) {
            uint32_t to = b->succ[e].to;
            if (sel[to] < 0) continue;
            bool back = cfg_dominates(g, to, rank[k]);
            fprintf(f, "  b%u -> b%u [label=\"%llu\"%s];\n", rank[k], to,
                    (unsigned long long)b->succ[e].count, back ? " color=red" : "");
        }
    }
    fprintf(f, "}\n");
    bool ok = fflush(f) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) log_error("cfg: error writing %s: %s", path, strerror(errno));
    return ok;
}

/* Renders DOT to SVG with Graphviz when `dot` is on PATH (no shell). */
static bool render_svg(const char *dot_path, const char *svg_path)
{
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        execlp("dot", "dot", "-Tsvg", "-o", svg_path, dot_path, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return false;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        log_info("cfg: Graphviz `dot` not found: %s not rendered (install graphviz)", svg_path);
        return false;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        log_warn("cfg: dot -Tsvg %s failed (status %d)", dot_path, st);
        return false;
    }
    return true;
}

bool cfg_write_outputs(struct cfg *g, const char *dir, uint32_t top)
{
    if (!cfg_analyze(g)) return false;
    uint32_t n;
    uint32_t *rank = cfg_rank_blocks(g, &n);
    if (!rank) return false;
    uint32_t shown = 0;
    while (shown < n && shown < top && g->block[rank[shown]].exec_count > 0) shown++;
    int32_t *sel = selection(g, rank, shown);
    char path[4096], svg[4096];
    bool ok = sel != NULL;
    if (ok) {
        snprintf(path, sizeof path, "%s/cfg.json", dir);
        ok = write_json(g, path, rank, shown, sel);
        snprintf(path, sizeof path, "%s/cfg.dot", dir);
        ok = write_dot(g, path, rank, shown, sel) && ok;
        snprintf(svg, sizeof svg, "%s/cfg.svg", dir);
        if (ok) render_svg(path, svg);
    }
    free(sel);
    free(rank);
    return ok;
}
