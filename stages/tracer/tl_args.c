/* tl_args.c — parsing and checking trace_logger.so's arguments. */
#include "tl_args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kernel half of the canonical x86-64 address space. */
#define TL_KERNEL_BASE 0xffff800000000000ULL

void tl_args_default(struct tl_args *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->queue, sizeof a->queue, "/dev/shm/qemu_trace_0");
    a->queue_size = 16u << 20;
    a->mode = TL_MODE_BLOCK;
    a->insn_format = TL_INSN_COMPACT;
    a->sample_first = 8;
    a->sample_every = 1000;
    a->filter = TL_FILTER_ALL;
    a->timestamps = true;
    a->ts_every = 64;
    a->mem = true;
    a->batch = 65536;
    a->flush_us = 1000;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno) return -1;
    uint64_t mult = 1;
    if (*end == 'K' || *end == 'k') { mult = 1u << 10; end++; }
    else if (*end == 'M' || *end == 'm') { mult = 1u << 20; end++; }
    else if (*end == 'G' || *end == 'g') { mult = 1u << 30; end++; }
    if (*end) return -1;
    if (v > UINT64_MAX / mult) return -1;
    *out = v * mult;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1")) { *out = true; return 0; }
    if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0")) { *out = false; return 0; }
    return -1;
}

static int parse_range(const char *s, struct tl_range *r)
{
    const char *dash = strchr(s, '-');
    char lo[40];
    if (!dash || (size_t)(dash - s) >= sizeof lo) return -1;
    memcpy(lo, s, (size_t)(dash - s));
    lo[dash - s] = 0;
    if (parse_u64(lo, &r->lo) < 0 || parse_u64(dash + 1, &r->hi) < 0 || r->hi <= r->lo) return -1;
    return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int tl_args_parse(struct tl_args *a, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        if (!eq) FAIL("argument %d '%s': expected key=value", i + 1, arg);
        size_t klen = (size_t)(eq - arg);
        const char *v = eq + 1;
        uint64_t u;
#define KEY(k) (klen == strlen(k) && !strncmp(arg, k, klen))
        if (KEY("vm_id")) {
            if (!*v || strchr(v, '/') || strlen(v) > 64) FAIL("vm_id='%s': expected 1..64 characters without '/'", v);
            snprintf(a->queue, sizeof a->queue, "/dev/shm/qemu_trace_%s", v);
        } else if (KEY("queue")) {
            int w = v[0] == '/' ? snprintf(a->queue, sizeof a->queue, "%s", v)
                                : snprintf(a->queue, sizeof a->queue, "/dev/shm/%s", v);
            if (!*v || w < 0 || (size_t)w >= sizeof a->queue)
                FAIL("queue='%s': expected a path of 1..%d characters", v, TL_QUEUE_NAME_MAX - 1);
        } else if (KEY("size")) {
            if (parse_u64(v, &u) < 0 || u < 65536 || u > (1ULL << 30)) FAIL("size='%s': expected 64K..1G", v);
            a->queue_size = u;
        } else if (KEY("mode")) {
            if (!strcmp(v, "block")) a->mode = TL_MODE_BLOCK;
            else if (!strcmp(v, "insn")) a->mode = TL_MODE_INSN;
            else FAIL("mode='%s': expected block or insn", v);
        } else if (KEY("insn_format")) {
            if (!strcmp(v, "compact")) a->insn_format = TL_INSN_COMPACT;
            else if (!strcmp(v, "literal")) a->insn_format = TL_INSN_LITERAL;
            else FAIL("insn_format='%s': expected compact or literal", v);
        } else if (KEY("sample_first")) {
            if (parse_u64(v, &u) < 0) FAIL("sample_first='%s': expected a count", v);
            a->sample_first = u;
        } else if (KEY("sample_every")) {
            if (parse_u64(v, &u) < 0 || u > TL_SAMPLE_EVERY_MAX)
                FAIL("sample_every='%s': expected a count up to %u (0: never after the first ones)", v,
                     TL_SAMPLE_EVERY_MAX);
            a->sample_every = u;
        } else if (KEY("filter")) {
            if (!strcmp(v, "all")) a->filter = TL_FILTER_ALL;
            else if (!strcmp(v, "user")) a->filter = TL_FILTER_USER;
            else if (!strcmp(v, "kernel")) a->filter = TL_FILTER_KERNEL;
            else FAIL("filter='%s': expected user, kernel or all", v);
        } else if (KEY("range")) {
            if (a->nranges >= TL_MAX_RANGES) FAIL("range='%s': at most %d ranges", v, TL_MAX_RANGES);
            if (parse_range(v, &a->ranges[a->nranges]) < 0) FAIL("range='%s': expected LO-HI (hex or decimal, LO < HI)", v);
            a->nranges++;
        } else if (KEY("overflow")) {
            if (!strcmp(v, "block")) a->drop = false;
            else if (!strcmp(v, "drop")) a->drop = true;
            else FAIL("overflow='%s': expected block or drop", v);
        } else if (KEY("timestamps")) {
            if (parse_bool(v, &a->timestamps) < 0) FAIL("timestamps='%s': expected on or off", v);
        } else if (KEY("ts_every")) {
            if (parse_u64(v, &u) < 0 || u < 1 || u > 256 || (u & (u - 1)))
                FAIL("ts_every='%s': expected a power of 2 in 1..256", v);
            a->ts_every = (uint32_t)u;
        } else if (KEY("mem")) {
            if (parse_bool(v, &a->mem) < 0) FAIL("mem='%s': expected on or off", v);
        } else if (KEY("check")) {
            if (parse_bool(v, &a->check) < 0) FAIL("check='%s': expected on or off", v);
        } else if (KEY("batch")) {
            if (parse_u64(v, &u) < 0 || u < 1 || u > 65536) FAIL("batch='%s': expected 1..65536 entries", v);
            a->batch = (uint32_t)u;
        } else if (KEY("flush_us")) {
            if (parse_u64(v, &u) < 0 || u < 10 || u > 10000000) FAIL("flush_us='%s': expected 10..10000000", v);
            a->flush_us = (uint32_t)u;
        } else if (KEY("time")) {
            if (!strcmp(v, "monotonic")) a->abs_time = true;
            else if (!strcmp(v, "relative")) a->abs_time = false;
            else FAIL("time='%s': expected relative or monotonic", v);
        } else {
            FAIL("unknown argument '%.*s' (known: vm_id queue size mode insn_format sample_first sample_every filter range "
                 "overflow timestamps ts_every mem check batch flush_us time)", (int)klen, arg);
        }
#undef KEY
    }
    return 0;
}

bool tl_args_want(const struct tl_args *a, uint64_t pc, int cpl)
{
    /* The privilege level decides when it is known (boot code runs at low
     * addresses in ring 0); the address half decides otherwise. */
    bool kernel = cpl >= 0 ? cpl != 3 : pc >= TL_KERNEL_BASE;
    if (a->filter == TL_FILTER_USER && kernel) return false;
    if (a->filter == TL_FILTER_KERNEL && !kernel) return false;
    if (a->nranges == 0) return true;
    for (int i = 0; i < a->nranges; i++)
        if (pc >= a->ranges[i].lo && pc < a->ranges[i].hi) return true;
    return false;
}

const char *tl_args_usage(void)
{
    return "vm_id=ID            queue /dev/shm/qemu_trace_ID (default ID 0)\n"
           "queue=PATH          queue path (a bare name goes in /dev/shm)\n"
           "size=BYTES          queue capacity when the plugin creates it (default 16M)\n"
           "mode=block|insn     block: every executed TB + samples (default); insn: every instruction\n"
           "insn_format=compact|literal  insn mode: one TRACE_INSNS per run of instructions (register\n"
           "                    deltas; default) or one TRACE_INSN per instruction\n"
           "sample_first=K      sample the first K executions of each TB (default 8)\n"
           "sample_every=N      then every Nth execution (default 1000; 0 = never; at most 2^31)\n"
           "filter=user|kernel|all   privilege filter at translation time (default all)\n"
           "range=LO-HI         trace only TBs starting in [LO,HI) (repeatable, up to 16)\n"
           "overflow=block|drop full queue: wait (default) or drop and count\n"
           "timestamps=on|off   per-entry µs offsets in TRACE_EXEC (default on)\n"
           "ts_every=N          read the TSC at every Nth block entry, the entries between share it\n"
           "                    (power of 2 in 1..256, default 64; 1 = every entry)\n"
           "mem=on|off          memory accesses in samples and insn records (default on)\n"
           "check=on|off        block mode: check the plugin's shortcuts and count misses in its end\n"
           "                    line (memory callbacks on every instruction, post states read in full)\n"
           "batch=N             TRACE_EXEC entries per record (default and max 65536)\n"
           "flush_us=US         send a partial batch after US µs (default 1000)\n"
           "time=relative|monotonic  timestamps since trace start (default) or CLOCK_MONOTONIC µs\n";
}
