/* cfg_stage.c — the cfg stage's loop and its crash safety (see cfg_stage.h).
 *
 * Durable mode (a checkpoint directory, the default under pipectl):
 *   - every input record is taken with stage_defer (left uncommitted), fed to
 *     the graph and appended to the journal buffer with its ring position;
 *   - before a batch of BLOCK records is pushed, an EMIT mark (with the
 *     stage's output count) is written to the journal: replay redoes the
 *     batch on the graph and pushes only what the dead process had not;
 *   - every sync_bytes of input or sync_ms, and whenever the input is idle,
 *     the journal is written and the input committed: the ring never holds
 *     more than a slice of uncommitted records, so the tracer barely waits;
 *   - when the journal outgrows max(compact_bytes, 4 x the last snapshot), a
 *     snapshot of the graph replaces it.
 * At start, snapshot + journal rebuild the graph exactly as it was after
 * the last journaled record, and the input records up to there (journaled
 * but maybe not committed) are skipped. */
#include "cfg_stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg_checkpoint.h"
#include "cfg_record.h"
#include "log.h"
#include "records.h"

#define SYNC_BYTES_MAX (2u << 20)

struct cs {
    struct stage *st;
    const struct cfg_stage_options *o;
    struct cfg g;
    bool have_graph;
    int port;
    struct rec_buf buf;
    struct rec_arena arena;
    uint64_t sent;
    bool dirty;                 /* records consumed since the last final emission */
    bool failed;                /* an emission or the journal failed: stop */
    /* durable mode */
    bool durable;
    char snap_path[4096], journal_path[4096];
    struct cfg_journal j;
    struct cfg_ckpt_meta meta;
    int slot_cache_input, slot_cache;
    uint64_t since_sync, sync_bytes, last_sync_ms;
    uint64_t last_snap_bytes, runs_at_snap;   /* runs_at_snap: graph resets (new runs) at the last snapshot */
    /* replay */
    struct rec_buf *batch;      /* the last EMIT batch, encoded */
    uint32_t nbatch, capbatch;
    uint64_t batch_base;
    uint8_t batch_kind;
    bool have_batch, pending_final;
};

void cfg_stage_options_default(struct cfg_stage_options *o)
{
    memset(o, 0, sizeof *o);
    cfg_options_default(&o->graph);
    o->emit_min = o->graph.hot_threshold;
    o->top = 50;
    o->out_dir = ".";
    o->sync_ms = 50;
    o->emit_execs = 1u << 22;
    o->compact_bytes = 128u << 20;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- emission ----------------------------------------------------------------------- */

static bool encode_block(struct cs *c, const struct cfg_block *b, struct rec_buf *out)
{
    struct rec_error err;
    rec_buf_reset(out);
    if (cfg_block_encode(&c->g, b, out, &err) < 0) {
        log_error("cfg: BLOCK %#llx not encodable (%s); skipped", (unsigned long long)b->pc, err.msg);
        return false;
    }
    return true;
}

static bool emit_push(void *vctx, const struct cfg *g, const struct cfg_block *b)
{
    (void)g;
    struct cs *c = vctx;
    if (!encode_block(c, b, &c->buf)) return true;    /* a bug, not a transient condition: never retried */
    if (stage_emit(c->st, c->port, c->buf.data, c->buf.len) < 0) return false;
    c->sent++;
    return true;
}

/* Replay: the batch is redone on the graph and kept, to push what is missing. */
static bool emit_collect(void *vctx, const struct cfg *g, const struct cfg_block *b)
{
    (void)g;
    struct cs *c = vctx;
    if (c->nbatch == c->capbatch) {
        uint32_t cap = c->capbatch ? 2 * c->capbatch : 64;
        struct rec_buf *nb = realloc(c->batch, cap * sizeof *nb);
        if (!nb) return false;
        for (uint32_t i = c->capbatch; i < cap; i++) rec_buf_init(&nb[i]);
        c->batch = nb;
        c->capbatch = cap;
    }
    if (encode_block(c, b, &c->batch[c->nbatch])) c->nbatch++;
    return true;
}

static void write_outputs(struct cs *c)
{
    if (!cfg_write_outputs(&c->g, c->o->out_dir, c->o->top))
        log_error("cfg: could not write the CFG files into %s", c->o->out_dir);
}

static bool journal_flush(struct cs *c)
{
    char err[512];
    if (cfg_journal_flush(&c->j, err, sizeof err)) return true;
    log_error("cfg: %s; cfg stops (its graph could not be made durable; pipectl restarts it from the journal)",
              err);
    c->failed = true;
    return false;
}

/* One batch of BLOCK records: the EMIT mark is in the journal before the first push. */
static bool emit_batch(struct cs *c, uint8_t kind)
{
    if (c->durable) {
        uint8_t p[17];
        uint64_t base = stage_records_out(c->st);
        p[0] = kind;
        memcpy(p + 1, &c->o->emit_min, 8);
        memcpy(p + 9, &base, 8);
        cfg_journal_add(&c->j, CFG_J_EMIT, 0, 0, p, sizeof p);
        if (!journal_flush(c)) return false;
    }
    long n = kind == CFG_EMIT_FINAL ? cfg_emit_final(&c->g, c->o->emit_min, emit_push, c)
                                    : cfg_emit_hot(&c->g, emit_push, c);
    if (n < 0 && (kind == CFG_EMIT_FINAL || c->g.nhot)) {
        c->failed = true;       /* stop now (SIGTERM) or the output failed: the rest is pushed after restart */
        return false;
    }
    if (kind == CFG_EMIT_FINAL) {
        write_outputs(c);
        c->dirty = false;
    }
    return true;
}

/* ---- durability ------------------------------------------------------------------- */

static int input_slot(struct cs *c, int input)
{
    if (input == c->slot_cache_input) return c->slot_cache;
    const char *path = stage_input_path(c->st, input);
    int slot = cfg_ckpt_input_slot(&c->meta, path, 0, false);
    if (slot < 0) {
        struct stage_input_pos ip;
        stage_input_pos(c->st, input, &ip);
        slot = cfg_ckpt_input_slot(&c->meta, path, ip.capacity, true);
        if (slot < 0) return -1;
        struct cfg_bytes p = { 0 };
        cfg_bytes_u64(&p, ip.capacity);
        cfg_bytes_put(&p, path, strlen(path));
        cfg_journal_add(&c->j, CFG_J_INPUT, (uint16_t)slot, 0, p.p, (uint32_t)p.len);
        cfg_bytes_free(&p);
    }
    c->slot_cache_input = input;
    c->slot_cache = slot;
    return slot;
}

static bool snapshot(struct cs *c)
{
    char err[600];
    c->meta.generation = c->j.generation + 1;
    c->meta.dirty = c->dirty;
    uint64_t bytes = 0;
    uint64_t t0 = now_ms();
    if (!cfg_snapshot_save(c->snap_path, &c->g, &c->meta, &bytes, err, sizeof err)) {
        log_error("cfg: %s; cfg stops", err);
        c->failed = true;
        return false;
    }
    cfg_journal_close(&c->j);
    if (!cfg_journal_create(&c->j, c->journal_path, c->meta.generation, err, sizeof err)) {
        log_error("cfg: %s; cfg stops", err);
        c->failed = true;
        return false;
    }
    c->last_snap_bytes = bytes;
    c->runs_at_snap = c->g.run.runs_discarded + c->g.run.runs_replaced;
    log_info("cfg: snapshot %s: %u blocks, %llu bytes in %llu ms; journal generation %llu", c->snap_path,
             c->g.nblocks, (unsigned long long)bytes, (unsigned long long)(now_ms() - t0),
             (unsigned long long)c->meta.generation);
    return true;
}

/* Journal written, input committed; a snapshot when the journal has grown. */
static bool sync_now(struct cs *c)
{
    if (!c->durable) return true;
    if (!journal_flush(c)) return false;
    stage_commit_deferred(c->st);
    c->since_sync = 0;
    c->last_sync_ms = now_ms();
    /* At most one snapshot byte per four journal bytes past the minimum. */
    uint64_t limit = c->o->compact_bytes > 4 * c->last_snap_bytes ? c->o->compact_bytes : 4 * c->last_snap_bytes;
    /* A new trace run empties the graph: a tiny snapshot drops the old run's journal. */
    uint64_t resets = c->g.run.runs_discarded + c->g.run.runs_replaced;
    bool new_run = resets != c->runs_at_snap && c->j.size > (1u << 20);
    if (c->j.size > limit || new_run) return snapshot(c);
    return true;
}

/* ---- records ---------------------------------------------------------------------- */

static void consume(struct cs *c, const void *data, size_t len, bool *end, bool *ok)
{
    struct rec r;
    struct rec_error err;
    *end = false;
    *ok = rec_decode(data, len, &r, &c->arena, &err) >= 0;
    if (!*ok) {
        log_error("cfg: input record rejected: %s", err.msg);
    } else if (cfg_consume(&c->g, &r) == CFG_END) {
        *end = true;
        log_info("cfg: TRACE_END (%s): %llu insns, %llu blocks executed", r.u.trace_end.reason.ptr,
                 (unsigned long long)r.u.trace_end.insns, (unsigned long long)r.u.trace_end.blocks);
    } else {
        c->dirty = true;
    }
    rec_arena_reset(&c->arena);
}

static void on_record(struct cs *c, struct stage_rec *in)
{
    bool end, ok;
    uint64_t execs_before = c->g.n.execs;
    consume(c, in->data, in->len, &end, &ok);
    if (!ok) stage_count_bad(c->st);
    if (c->durable) {
        int slot = input_slot(c, in->input);
        if (slot < 0) {
            log_error("cfg: more than %d input queues; cfg stops", CFG_CKPT_MAX_INPUTS);
            c->failed = true;
            return;
        }
        cfg_journal_add(&c->j, ok ? CFG_J_RECORD : CFG_J_BAD, (uint16_t)slot, in->end, ok ? in->data : NULL,
                        ok ? (uint32_t)in->len : 0);
        c->meta.in[slot].pos = in->end;
        c->since_sync += in->len + 32;
        stage_defer(c->st, in);
    }
    if (end) {
        if (!emit_batch(c, CFG_EMIT_FINAL)) return;
    } else if (c->g.nhot && (c->g.nhot >= 64 || execs_before / c->o->emit_execs != c->g.n.execs / c->o->emit_execs)) {
        /* Hot blocks go out promptly, but the whole-graph analysis runs only
         * when the trace passes a multiple of emit_execs executions (or when
         * many are waiting).  A function of the input alone, never of the
         * clock: a restarted cfg, or one running slower, sends the same
         * intermediate records as a clean run. */
        if (!emit_batch(c, CFG_EMIT_HOT)) return;
    }
    if (!c->durable) {
        stage_done(c->st, in);
    } else if (c->since_sync >= c->sync_bytes || now_ms() - c->last_sync_ms >= c->o->sync_ms) {
        sync_now(c);
    }
}

/* ---- recovery --------------------------------------------------------------------- */

static bool replay_entry(void *vctx, const struct cfg_journal_entry *e, char *err, size_t errlen)
{
    struct cs *c = vctx;
    switch (e->type) {
    case CFG_J_INPUT: {
        if (e->len < 9 || e->len - 8 >= CFG_CKPT_PATH_MAX) {
            snprintf(err, errlen, "INPUT: payload of %u bytes", e->len);
            return false;
        }
        char path[CFG_CKPT_PATH_MAX];
        uint64_t cap;
        memcpy(&cap, e->payload, 8);
        memcpy(path, e->payload + 8, e->len - 8);
        path[e->len - 8] = 0;
        int slot = cfg_ckpt_input_slot(&c->meta, path, cap, true);
        if (slot != e->input) {
            snprintf(err, errlen, "INPUT %s: slot %u, expected %d", path, e->input, slot);
            return false;
        }
        return true;
    }
    case CFG_J_RECORD:
    case CFG_J_BAD: {
        if (e->input >= c->meta.ninputs) {
            snprintf(err, errlen, "record input slot %u: only %u inputs declared", e->input, c->meta.ninputs);
            return false;
        }
        if (e->pos <= c->meta.in[e->input].pos) {
            snprintf(err, errlen, "record position %llu: not after %llu, where input %u stood",
                     (unsigned long long)e->pos, (unsigned long long)c->meta.in[e->input].pos, e->input);
            return false;
        }
        c->meta.in[e->input].pos = e->pos;
        if (e->type == CFG_J_BAD) return true;
        bool end, ok;
        consume(c, e->payload, e->len, &end, &ok);
        if (!ok) {
            snprintf(err, errlen, "a journaled record does not decode");
            return false;
        }
        if (end) c->pending_final = true;
        return true;
    }
    case CFG_J_EMIT: {
        if (e->len != 17 || (e->payload[0] != CFG_EMIT_HOT && e->payload[0] != CFG_EMIT_FINAL)) {
            snprintf(err, errlen, "EMIT: kind %u, %u bytes", e->len ? e->payload[0] : 0, e->len);
            return false;
        }
        uint64_t emit_min;
        c->batch_kind = e->payload[0];
        memcpy(&emit_min, e->payload + 1, 8);
        memcpy(&c->batch_base, e->payload + 9, 8);
        c->nbatch = 0;
        c->have_batch = true;
        long n = c->batch_kind == CFG_EMIT_FINAL ? cfg_emit_final(&c->g, emit_min, emit_collect, c)
                                                 : cfg_emit_hot(&c->g, emit_collect, c);
        if (n < 0 && (c->batch_kind == CFG_EMIT_FINAL || c->g.nhot)) {
            snprintf(err, errlen, "EMIT: out of memory redoing the batch");
            return false;
        }
        if (c->batch_kind == CFG_EMIT_FINAL) {
            c->dirty = false;
            c->pending_final = false;
        }
        return true;
    }
    default:
        snprintf(err, errlen, "unknown entry type %u", e->type);
        return false;
    }
}

/* Nothing ever committed on any input (or everything consumed and ended):
 * starting with an empty graph loses nothing. */
static bool inputs_pristine(struct cs *c, char *why, size_t len)
{
    for (int i = 0; i < stage_ninputs(c->st); i++) {
        struct stage_input_pos ip;
        stage_input_pos(c->st, i, &ip);
        if (ip.head != 0 && !(ip.eos && ip.head == ip.tail)) {
            snprintf(why, len, "input %s was consumed up to position %llu", ip.path, (unsigned long long)ip.head);
            return false;
        }
    }
    return true;
}

static void set_aside(const char *path)
{
    char to[4200];
    snprintf(to, sizeof to, "%s.rejected", path);
    if (rename(path, to) == 0) log_warn("cfg: %s kept as %s", path, to);
}

/* Loads snapshot + journal into c->g and c->meta.  0 ok, -1 with err. */
static int load_state(struct cs *c, bool *found, uint64_t *valid_len, uint64_t *gen, bool *stale_journal,
                      char *err, size_t errlen)
{
    bool snap_missing = false, j_missing = false;
    *found = false;
    *stale_journal = false;
    if (cfg_snapshot_load(c->snap_path, &c->g, &c->meta, &snap_missing, err, errlen)) {
        *found = true;
        c->dirty = c->meta.dirty;
    } else if (!snap_missing) {
        return -1;
    } else {
        memset(&c->meta, 0, sizeof c->meta);
        if (!cfg_init(&c->g, &c->o->graph)) { snprintf(err, errlen, "out of memory"); return -1; }
    }
    c->have_graph = true;
    uint64_t expect = *found ? c->meta.generation : 0;
    uint64_t torn = 0;
    *gen = expect;
    /* The journal's generation is read first (replay stops at once when it is stale). */
    uint64_t jgen = 0, vlen = 0;
    if (!cfg_journal_replay(c->journal_path, NULL, NULL, &jgen, &vlen, &torn, &j_missing, err, errlen) && !j_missing)
        return -1;
    if (j_missing) {
        *stale_journal = true;
        return 0;
    }
    *found = true;
    if (jgen < expect) {
        log_info("cfg: %s: generation %llu is older than the snapshot's %llu (already in it); replaced",
                 c->journal_path, (unsigned long long)jgen, (unsigned long long)expect);
        *stale_journal = true;
        return 0;
    }
    if (jgen > expect) {
        snprintf(err, errlen, "%s: generation: %llu, but %s expects %llu (%s)", c->journal_path,
                 (unsigned long long)jgen, c->snap_path, (unsigned long long)expect,
                 snap_missing ? "the snapshot is missing" : "the snapshot is older than the journal");
        return -1;
    }
    if (!cfg_journal_replay(c->journal_path, replay_entry, c, &jgen, &vlen, &torn, &j_missing, err, errlen))
        return -1;
    if (torn)
        log_info("cfg: %s: %llu bytes of an entry cut short at the end (never committed) dropped",
                 c->journal_path, (unsigned long long)torn);
    *valid_len = vlen;
    return 0;
}

static void fresh_graph(struct cs *c)
{
    if (c->have_graph) cfg_free(&c->g);
    memset(&c->meta, 0, sizeof c->meta);
    c->dirty = false;
    c->have_batch = c->pending_final = false;
    c->nbatch = 0;
    c->have_graph = cfg_init(&c->g, &c->o->graph);
}

/* Returns 0, or -1 (refuse to start; logged). */
static int recover(struct cs *c)
{
    char err[9000], why[600];
    bool found;
    uint64_t valid_len = 0, gen = 0;
    bool stale;
    int rc = load_state(c, &found, &valid_len, &gen, &stale, err, sizeof err);
    /* Which checkpoint inputs are ours? */
    int matched = 0;
    if (rc == 0) {
        for (uint32_t k = 0; k < c->meta.ninputs; k++)
            for (int i = 0; i < stage_ninputs(c->st); i++)
                if (!strcmp(c->meta.in[k].path, stage_input_path(c->st, i))) matched++;
        if (c->meta.ninputs && !matched) {
            snprintf(err, sizeof err, "%s: input %s: not one of this run's input queues (a checkpoint of "
                     "another run)", found ? c->snap_path : c->journal_path, c->meta.in[0].path);
            rc = -1;
        }
    }
    if (rc < 0) {
        if (!inputs_pristine(c, why, sizeof why)) {
            log_error("cfg: %s; cfg refuses to start: %s, and those records are gone, so an empty graph "
                      "would silently lose them (delete the checkpoint files to accept that)", err, why);
            return -1;
        }
        log_warn("cfg: %s; the input queues are complete (nothing committed yet): starting with an empty graph",
                 err);
        set_aside(c->snap_path);
        set_aside(c->journal_path);
        fresh_graph(c);
        if (!c->have_graph) return -1;
        found = false;
        stale = true;
        gen = 0;
    }
    if (!found && !inputs_pristine(c, why, sizeof why)) {
        log_error("cfg: no checkpoint in %s (%s, .journal), but %s: the graph of those records is lost; cfg "
                  "refuses to start", c->o->ckpt_dir, c->snap_path, why);
        return -1;
    }
    /* Skip what the journal holds but the queue did not commit. */
    for (uint32_t k = 0; k < c->meta.ninputs; k++) {
        for (int i = 0; i < stage_ninputs(c->st); i++) {
            if (strcmp(c->meta.in[k].path, stage_input_path(c->st, i))) continue;
            uint64_t skipped = 0;
            if (stage_input_skip(c->st, i, c->meta.in[k].pos, &skipped, err, sizeof err) < 0) {
                log_error("cfg: checkpoint and queue disagree: %s; cfg refuses to start", err);
                return -1;
            }
            if (skipped) log_info("cfg: %llu records of %s were in the journal but not committed: skipped",
                                  (unsigned long long)skipped, c->meta.in[k].path);
        }
    }
    if (found)
        log_info("cfg: resumed from the checkpoint: %u blocks, %llu executions, run %llu%s", c->g.nblocks,
                 (unsigned long long)c->g.n.execs, (unsigned long long)c->g.run.runs,
                 c->have_batch ? ", finishing the last BLOCK batch" : "");
    /* The journal continues (a torn tail cut off), or a new one starts. */
    if (stale || !found) {
        if (!cfg_journal_create(&c->j, c->journal_path, gen, err, sizeof err)) {
            log_error("cfg: %s", err);
            return -1;
        }
    } else if (!cfg_journal_reopen(&c->j, c->journal_path, gen, valid_len, err, sizeof err)) {
        log_error("cfg: %s", err);
        return -1;
    }
    /* The last batch: push what the dead process had not. */
    if (c->have_batch) {
        uint64_t out = stage_records_out(c->st);
        uint64_t pushed = out > c->batch_base ? out - c->batch_base : 0;
        if (pushed > c->nbatch) pushed = c->nbatch;
        for (uint64_t k = pushed; k < c->nbatch; k++) {
            if (stage_emit(c->st, c->port, c->batch[k].data, c->batch[k].len) < 0) return -1;
            c->sent++;
        }
        if (pushed < c->nbatch)
            log_info("cfg: %llu of the last batch's %u BLOCK records were pushed before the restart; the other "
                     "%llu now", (unsigned long long)pushed, c->nbatch, (unsigned long long)(c->nbatch - pushed));
        if (c->batch_kind == CFG_EMIT_FINAL) write_outputs(c);
    }
    if (c->pending_final && !emit_batch(c, CFG_EMIT_FINAL)) return -1;
    c->last_snap_bytes = 0;
    c->runs_at_snap = c->g.run.runs_discarded + c->g.run.runs_replaced;
    return 0;
}

/* ---- the loop ---------------------------------------------------------------------- */

int cfg_stage_run(struct stage *st, const struct cfg_stage_options *o)
{
    static struct cs c;     /* large (the input table): off the stack */
    memset(&c, 0, sizeof c);
    c.st = st;
    c.o = o;
    c.port = stage_port(st, "out");
    c.slot_cache_input = -1;
    c.j.fd = -1;
    rec_buf_init(&c.buf);
    rec_arena_init(&c.arena);
    c.durable = o->ckpt_dir != NULL;
    int status = 0;
    if (c.durable) {
        const char *name = getenv("TCGL_STAGE");
        snprintf(c.snap_path, sizeof c.snap_path, "%s/%s.%d.snap", o->ckpt_dir, name ? name : "cfg", st->worker);
        snprintf(c.journal_path, sizeof c.journal_path, "%s/%s.%d.journal", o->ckpt_dir, name ? name : "cfg",
                 st->worker);
        if (recover(&c) < 0) { status = 1; goto out; }
        uint64_t cap = UINT64_MAX;
        for (int i = 0; i < stage_ninputs(st); i++) {
            struct stage_input_pos ip;
            stage_input_pos(st, i, &ip);
            if (ip.capacity < cap) cap = ip.capacity;
        }
        c.sync_bytes = o->sync_bytes ? o->sync_bytes : (cap == UINT64_MAX ? SYNC_BYTES_MAX : cap / 8);
        if (!o->sync_bytes && c.sync_bytes > SYNC_BYTES_MAX) c.sync_bytes = SYNC_BYTES_MAX;
    } else if (!(c.have_graph = cfg_init(&c.g, &o->graph))) {
        log_error("cfg: out of memory");
        status = 1;
        goto out;
    }
    c.last_sync_ms = now_ms();
    int rc;
    struct stage_rec in;
    for (;;) {
        rc = stage_next_wait(st, &in, c.durable && stage_deferred(st) ? 0 : -1);
        if (rc == STAGE_IDLE) {
            if (!sync_now(&c)) break;       /* idle: make everything durable and free the ring */
            continue;
        }
        if (rc <= 0) break;
        on_record(&c, &in);
        if (c.failed) break;
    }
    if (rc < 0) log_error("cfg: input queue failed; emitting what was built");
    /* The stream ended without a TRACE_END: final counts now.  Not when
     * stopped at a record boundary with a checkpoint (swap, stop --now): the
     * next process continues this graph, and final records of a graph that
     * is not final would reach cluster early. */
    bool stopped = st->finished && st->end == STAGE_ST_STOPPED;
    if (!c.failed && c.dirty && !(stopped && c.durable)) emit_batch(&c, CFG_EMIT_FINAL);
    if (!c.failed) sync_now(&c);
    log_info("cfg: %u blocks, %llu TBs, %llu executions, %llu splits, %llu unknown tb ids, %llu bad records, "
             "%llu trace runs (%llu discarded), %llu BLOCK records sent",
             c.g.nblocks, (unsigned long long)c.g.n.tbs, (unsigned long long)c.g.n.execs,
             (unsigned long long)c.g.n.splits, (unsigned long long)c.g.n.exec_unknown_tb,
             (unsigned long long)c.g.n.bad_records, (unsigned long long)c.g.run.runs,
             (unsigned long long)c.g.run.runs_discarded, (unsigned long long)c.sent);
    status = c.failed || rc < 0 ? 1 : 0;
out:
    cfg_journal_close(&c.j);
    if (c.have_graph) cfg_free(&c.g);
    for (uint32_t i = 0; i < c.capbatch; i++) rec_buf_free(&c.batch[i]);
    free(c.batch);
    rec_arena_free(&c.arena);
    rec_buf_free(&c.buf);
    bool finished = st->finished && st->end == STAGE_ST_ENDED && status == 0;
    /* After a failure the outputs must stay open (what is missing comes
     * after the restart), even when the inputs had ended. */
    if (status) st->finished = false;
    int cr = stage_close(st);
    if (finished && c.durable) {
        /* The run is over: nothing to resume (a restart now finds ended,
         * consumed inputs and starts empty). */
        unlink(c.snap_path);
        unlink(c.journal_path);
    }
    return status ? status : cr;
}
