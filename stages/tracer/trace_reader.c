/* trace_reader.c — consuming and summarising a trace queue. */
#include "trace_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shmq.h"
#include "tl_insns.h"

int trace_reader_open(struct trace_reader *r, const char *path, uint64_t capacity)
{
    memset(r, 0, sizeof *r);
    if (access(path, F_OK) != 0 && shmq_create(path, capacity, 0) != 0 && errno != EEXIST) {
        log_error("trace reader: cannot create queue %s: %s", path, shmq_last_error());
        return -1;
    }
    r->q = shmq_open(path, SHMQ_CONSUMER);
    if (!r->q) {
        log_error("trace reader: cannot open queue %s as consumer: %s", path, shmq_last_error());
        return -1;
    }
    shmq_set_patience(r->q, SHMQ_TRACE_PATIENCE_US);
    (void)shmq_populate(r->q);   /* best effort: pages fault in on use otherwise */
    return 0;
}

static struct trace_tb_info *tb_slot(struct trace_reader *r, uint32_t id)
{
    if (id >= r->tbs_cap) {
        uint32_t cap = r->tbs_cap ? r->tbs_cap : 1024;
        while (cap <= id) cap *= 2;
        struct trace_tb_info *n = realloc(r->tbs, cap * sizeof *n);
        if (!n) return NULL;
        memset(n + r->tbs_cap, 0, (cap - r->tbs_cap) * sizeof *n);
        r->tbs = n;
        r->tbs_cap = cap;
    }
    return &r->tbs[id];
}

static void note_ts(struct trace_reader *r, uint64_t ts)
{
    if (!r->first_ts_us || ts < r->first_ts_us) r->first_ts_us = ts;
    if (ts > r->last_ts_us) r->last_ts_us = ts;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void latency_add(struct trace_latency *l, uint64_t us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4096;
        uint64_t *v = realloc(l->us, cap * sizeof *v);
        if (!v) return;
        l->us = v;
        l->cap = cap;
    }
    l->us[l->n++] = us;
}

/* A TRACE_EXEC / TRACE_INSNS record pushed at sent_us whose last entry has
 * timestamp last_ts (both on the plugin's clock: time=monotonic makes it
 * CLOCK_MONOTONIC µs). */
static void note_latency(struct trace_reader *r, uint64_t sent_us, uint64_t last_ts)
{
    if (sent_us && last_ts > sent_us) r->ts_after_sent++;
    if (!r->measure_lag) return;
    uint64_t now = r->pop_us ? r->pop_us : mono_us();
    uint64_t lag = now > sent_us ? now - sent_us : 0;
    if (lag > 1000) {
        r->lag_over_1ms++;
        r->lag_over_1ms_after_idle += r->pop_after_idle;
        r->lag_over_1ms_busy += sent_us < r->prev_done_us;
    }
    latency_add(&r->lag, lag);
    latency_add(&r->behind, now > last_ts ? now - last_ts : 0);
}

static const struct tl_insn_tb *lookup_tb(void *ctx, uint32_t id)
{
    struct trace_reader *r = ctx;
    return id < r->tbs_cap && r->tbs[id].seen ? r->tbs[id].code : NULL;
}

/* One instruction, from a TRACE_INSN or expanded from a TRACE_INSNS. */
static void insn_view(const struct rec_trace_insn *i, void *ctx)
{
    struct trace_reader *r = ctx;
    r->insn_views++;
    note_ts(r, i->ts_us);
    if (i->ts_us < r->insn_prev_ts) r->ts_backwards++;
    r->insn_prev_ts = i->ts_us;
    if (r->on_insn) r->on_insn(i, r->ctx);
}

static void handle_insns(struct trace_reader *r, const struct rec_trace_insns *p)
{
    uint32_t n = p->dt_us.len / 4;
    if (n) {
        uint32_t last;
        memcpy(&last, p->dt_us.ptr + 4 * (n - 1), 4);
        note_latency(r, p->sent_us, p->t0_us + last);
        if (r->raw) {
            note_ts(r, p->t0_us);
            note_ts(r, p->t0_us + last);
        }
    }
    if (r->raw) {
        r->insn_views += n;
        return;
    }
    char err[200];
    if (tl_insns_expand(p, lookup_tb, r, insn_view, r, err, sizeof err) < 0 && r->bad_insns++ < 5)
        log_error("trace reader: %s", err);
}

void trace_reader_handle(struct trace_reader *r, const void *data, size_t len, struct rec_arena *arena)
{
    struct rec rec;
    struct rec_error err;
    r->bytes += len;
    if (r->raw) {
        int t = rec_peek_type(data, len);
        if (t == REC_TRACE_SAMPLE || (t == REC_TRACE_INSN && r->records[REC_TRACE_INSN] % 4096 != 0)) {
            r->records[t]++;
            if (t == REC_TRACE_INSN) r->insn_views++;
            return;
        }
    }
    int type = rec_decode(data, len, &rec, arena, &err);
    if (type < 0) {
        if (r->bad_records++ < 5) log_error("trace reader: bad record: %s", err.msg);
        return;
    }
    r->records[type >= 1 && type <= 6 ? type : 0]++;
    switch (type) {
    case REC_TRACE_TB: {
        const struct rec_trace_tb *t = &rec.u.trace_tb;
        struct trace_tb_info *i = tb_slot(r, t->tb_id);
        if (i) {
            i->seen = true;
            i->pc = t->pc;
            i->cpu_mode = t->cpu_mode;
            i->cpl = t->cpl;
            i->ninsns = t->insn_len.len;
            free(i->code);
            i->code = tl_insn_tb_new(t);
        }
        if (r->on_tb) r->on_tb(t, r->ctx);
        break;
    }
    case REC_TRACE_EXEC: {
        const struct rec_trace_exec *e = &rec.u.trace_exec;
        uint32_t n = e->tb_ids.len / 4;
        if (n && e->dt_us.len == 4 * n) {
            uint32_t dt;
            memcpy(&dt, e->dt_us.ptr + 4 * (n - 1), 4);
            note_latency(r, e->sent_us, e->t0_us + dt);
        }
        for (uint32_t k = 0; k < n; k++) {
            uint32_t id;
            memcpy(&id, e->tb_ids.ptr + 4 * k, 4);
            struct trace_tb_info *i = id < r->tbs_cap ? &r->tbs[id] : NULL;
            if (!i || !i->seen) { r->unknown_tb_ids++; continue; }
            i->execs++;
            r->insns_executed += i->ninsns;
        }
        r->exec_entries += n;
        if (n && e->dt_us.len == 4 * n && e->vcpu < 8) {
            uint64_t prev = r->exec_prev_ts[e->vcpu];
            for (uint32_t k = 0; k < n; k++) {
                uint32_t dt;
                memcpy(&dt, e->dt_us.ptr + 4 * k, 4);
                if (e->t0_us + dt < prev) r->ts_backwards++;
                prev = e->t0_us + dt;
            }
            r->exec_prev_ts[e->vcpu] = prev;
        }
        if (n) {
            uint32_t dt = 0;
            if (e->dt_us.len == 4 * n) memcpy(&dt, e->dt_us.ptr + 4 * (n - 1), 4);
            note_ts(r, e->t0_us);
            note_ts(r, e->t0_us + dt);
        }
        break;
    }
    case REC_TRACE_SAMPLE:
        if (r->on_sample) r->on_sample(&rec.u.trace_sample, r->ctx);
        break;
    case REC_TRACE_INSN:
        insn_view(&rec.u.trace_insn, r);
        break;
    case REC_TRACE_INSNS:
        handle_insns(r, &rec.u.trace_insns);
        break;
    case REC_TRACE_END:
        r->end_seen = true;
        r->end = rec.u.trace_end;
        snprintf(r->end_reason, sizeof r->end_reason, "%s", rec.u.trace_end.reason.ptr ? rec.u.trace_end.reason.ptr : "");
        r->end.reason = rec_str_c(r->end_reason);
        break;
    default:
        break;
    }
}

int trace_reader_run(struct trace_reader *r, int idle_ms, const volatile bool *stop)
{
    struct rec_arena arena;
    struct shmq_msg m[64];
    rec_arena_init(&arena);
    int result = 1;
    uint64_t idle_since = mono_us();
    while (!r->end_seen && !(stop && *stop)) {
        int n = shmq_peek_batch(r->q, m, 64, 100);
        if (n == SHMQ_AGAIN) {
            if (mono_us() - idle_since > (uint64_t)idle_ms * 1000u) break;
            continue;
        }
        if (n == SHMQ_EOS) break;
        if (n == SHMQ_PEER_DEAD) {
            log_warn("trace reader: the producer of %s died before TRACE_END", shmq_path(r->q));
            break;
        }
        if (n < 0) {
            log_error("trace reader: %s: %s", shmq_path(r->q), shmq_status_str(n));
            result = -1;
            break;
        }
        if (r->measure_lag) {
            r->pop_us = mono_us();
            r->pop_after_idle = r->pop_us - idle_since >= SHMQ_PATIENCE_IDLE_MS * 1000u;
            r->prev_done_us = idle_since;
        }
        for (int i = 0; i < n; i++) {
            trace_reader_handle(r, m[i].data, m[i].len, &arena);
            rec_arena_reset(&arena);
        }
        shmq_commit(r->q);
        idle_since = mono_us();
    }
    rec_arena_free(&arena);
    if (r->end_seen) result = 0;
    return result;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t trace_latency_pct(struct trace_latency *l, double pct)
{
    if (!l->n) return 0;
    qsort(l->us, l->n, sizeof *l->us, cmp_u64);
    size_t i = (size_t)(pct / 100.0 * (double)(l->n - 1) + 0.5);
    return l->us[i < l->n ? i : l->n - 1];
}

uint64_t trace_reader_execs_at(const struct trace_reader *r, uint64_t pc)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < r->tbs_cap; i++)
        if (r->tbs[i].seen && r->tbs[i].pc == pc) n += r->tbs[i].execs;
    return n;
}

void trace_reader_close(struct trace_reader *r)
{
    if (r->q) shmq_close(r->q);
    for (uint32_t i = 0; i < r->tbs_cap; i++) free(r->tbs[i].code);
    free(r->tbs);
    free(r->lag.us);
    free(r->behind.us);
    memset(r, 0, sizeof *r);
}
