/* config.c — pipeline.yaml loader (see config.h, docs/pipeline.md).
 *
 * libyaml's event parser builds a small tree of our own (scalars, sequences,
 * mappings, each with its line and column); aliases are refused so a hostile
 * file cannot expand into a billion nodes, and depth and node counts are
 * bounded.  The tree is then walked section by section against key tables;
 * the first error wins and names file:line:column.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* ---- a tiny YAML tree ------------------------------------------------------ */

enum ynode_kind { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
    enum ynode_kind kind;
    int line, col;          /* 1-based */
    char *value;            /* scalar text */
    bool plain;             /* unquoted scalar (so "~"/"null" mean null) */
    struct ynode **items;   /* seq: items; map: key0, val0, key1, val1, ... */
    int n, cap;
};

#define YTREE_MAX_DEPTH 32
#define YTREE_MAX_NODES 20000

struct loader {
    const char *file;       /* for messages */
    char *base_dir;         /* for relative paths */
    char *err;
    size_t errlen;
    bool failed;
    int nodes;
    struct config *cfg;
};

__attribute__((format(printf, 4, 5)))
static void fail_at(struct loader *ld, int line, int col, const char *fmt, ...)
{
    if (ld->failed)
        return;
    ld->failed = true;
    int k = snprintf(ld->err, ld->errlen, "%s:%d:%d: ", ld->file, line, col);
    if (k < 0 || (size_t)k >= ld->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err + k, ld->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

#define fail_node(ld, nd, ...) fail_at((ld), (nd)->line, (nd)->col, __VA_ARGS__)

static void ynode_free(struct ynode *nd)
{
    if (!nd)
        return;
    for (int i = 0; i < nd->n; i++)
        ynode_free(nd->items[i]);
    free(nd->items);
    free(nd->value);
    free(nd);
}

static struct ynode *ynode_new(struct loader *ld, enum ynode_kind kind, yaml_mark_t m)
{
    if (++ld->nodes > YTREE_MAX_NODES) {
        fail_at(ld, (int)m.line + 1, (int)m.column + 1,
                "too many YAML nodes (more than %d); a pipeline file is small", YTREE_MAX_NODES);
        return NULL;
    }
    struct ynode *nd = calloc(1, sizeof *nd);
    if (!nd) {
        fail_at(ld, (int)m.line + 1, (int)m.column + 1, "out of memory");
        return NULL;
    }
    nd->kind = kind;
    nd->line = (int)m.line + 1;
    nd->col = (int)m.column + 1;
    return nd;
}

static bool ynode_add(struct loader *ld, struct ynode *parent, struct ynode *child)
{
    if (parent->n == parent->cap) {
        int cap = parent->cap ? parent->cap * 2 : 8;
        struct ynode **items = realloc(parent->items, (size_t)cap * sizeof *items);
        if (!items) {
            fail_node(ld, child, "out of memory");
            return false;
        }
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    return true;
}

/* Parse the whole stream into one document tree.  Returns NULL on error. */
static struct ynode *ytree_parse(struct loader *ld, const char *data, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fail_at(ld, 1, 1, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);

    struct ynode *stack[YTREE_MAX_DEPTH + 1];
    int depth = 0;
    struct ynode *root = NULL;
    int ndocs = 0;
    bool done = false;

    while (!done && !ld->failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const char *problem = parser.problem ? parser.problem : "malformed YAML";
            fail_at(ld, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                    "YAML syntax error: %s%s%s", problem,
                    parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        struct ynode *nd = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1)
                fail_at(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                        "more than one YAML document; expected a single pipeline document");
            break;
        case YAML_ALIAS_EVENT:
            fail_at(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                    "YAML aliases (*%s) are not supported in pipeline files; write the value out",
                    (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            nd = ynode_new(ld, Y_SCALAR, ev.start_mark);
            if (nd) {
                nd->value = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                nd->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                if (!nd->value || strlen(nd->value) != ev.data.scalar.length) {
                    fail_node(ld, nd, "a scalar holds a NUL byte; expected text");
                    ynode_free(nd);
                    nd = NULL;
                }
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth >= YTREE_MAX_DEPTH) {
                fail_at(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                        "nesting deeper than %d levels; a pipeline file is shallow", YTREE_MAX_DEPTH);
                break;
            }
            nd = ynode_new(ld, ev.type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP, ev.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) {
                nd = stack[--depth];
                /* nd is complete: attach it below */
            }
            break;
        default:
            break;
        }
        bool opened = (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT);
        yaml_event_delete(&ev);
        if (!nd)
            continue;
        if (opened) {
            stack[depth++] = nd;
            continue;
        }
        /* a finished node: give it to its parent, or it is the root */
        if (depth > 0) {
            if (!ynode_add(ld, stack[depth - 1], nd))
                ynode_free(nd);
        } else if (!root) {
            root = nd;
        } else {
            ynode_free(nd);
        }
    }
    /* On error, free what is still open (open containers own their children). */
    while (depth > 0) {
        struct ynode *nd = stack[--depth];
        if (depth > 0)
            ynode_add(ld, stack[depth - 1], nd) ? (void)0 : ynode_free(nd);
        else if (!root)
            root = nd;
        else
            ynode_free(nd);
    }
    yaml_parser_delete(&parser);
    if (ld->failed) {
        ynode_free(root);
        return NULL;
    }
    return root;
}

/* ---- typed accessors ----------------------------------------------------------- */

static const char *kind_name(const struct ynode *nd)
{
    switch (nd->kind) {
    case Y_SCALAR: return "a scalar";
    case Y_SEQ: return "a sequence";
    case Y_MAP: return "a mapping";
    }
    return "?";
}

static bool want_kind(struct loader *ld, const struct ynode *nd, enum ynode_kind k, const char *what)
{
    if (nd->kind == k)
        return true;
    static const char *names[] = { "a scalar", "a sequence (a list)", "a mapping (key: value)" };
    fail_node(ld, nd, "%s: expected %s, found %s", what, names[k], kind_name(nd));
    return false;
}

static bool is_null(const struct ynode *nd)
{
    return nd->kind == Y_SCALAR && nd->plain &&
           (nd->value[0] == 0 || !strcmp(nd->value, "~") || !strcmp(nd->value, "null") ||
            !strcmp(nd->value, "Null") || !strcmp(nd->value, "NULL"));
}

static bool get_uint(struct loader *ld, const struct ynode *nd, const char *what,
                     uint64_t min, uint64_t max, uint64_t *out)
{
    if (!want_kind(ld, nd, Y_SCALAR, what))
        return false;
    const char *s = nd->value;
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)s[0])) {
        fail_node(ld, nd, "%s: expected an integer from %llu to %llu, found '%s'", what,
                  (unsigned long long)min, (unsigned long long)max, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        fail_node(ld, nd, "%s: expected an integer from %llu to %llu, found '%s'", what,
                  (unsigned long long)min, (unsigned long long)max, s);
        return false;
    }
    if (v < min || v > max) {
        fail_node(ld, nd, "%s: %llu is out of range; expected %llu to %llu", what, v,
                  (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    *out = v;
    return true;
}

int config_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    while (*end == ' ')
        end++;
    uint64_t mul = 1;
    if (*end) {
        char u = (char)toupper((unsigned char)*end);
        if (u == 'K') mul = 1ull << 10;
        else if (u == 'M') mul = 1ull << 20;
        else if (u == 'G') mul = 1ull << 30;
        else if (u != 'B') return -1;
        if (u != 'B') {
            end++;
            if (*end == 'i' || *end == 'I') end++;
            if (*end == 'B' || *end == 'b') end++;
        } else {
            end++;
        }
        if (*end)
            return -1;
    }
    if (v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

int config_parse_duration_ms(const char *s, uint32_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    while (*end == ' ')
        end++;
    unsigned long long mul;
    if (!*end || !strcmp(end, "s")) mul = 1000;
    else if (!strcmp(end, "ms")) mul = 1;
    else if (!strcmp(end, "m") || !strcmp(end, "min")) mul = 60000;
    else if (!strcmp(end, "h")) mul = 3600000;
    else return -1;
    if (v > UINT32_MAX / mul)
        return -1;
    *out = (uint32_t)(v * mul);
    return 0;
}

static bool get_size(struct loader *ld, const struct ynode *nd, const char *what, uint64_t *out)
{
    if (!want_kind(ld, nd, Y_SCALAR, what))
        return false;
    uint64_t v;
    if (config_parse_size(nd->value, &v)) {
        fail_node(ld, nd, "%s: expected a size such as 4096, 64K or 4M, found '%s'", what, nd->value);
        return false;
    }
    if (v < CONFIG_QUEUE_MIN || v > CONFIG_QUEUE_MAX) {
        fail_node(ld, nd, "%s: %s is out of range; expected 4K to 1G", what, nd->value);
        return false;
    }
    *out = v;
    return true;
}

static bool get_duration(struct loader *ld, const struct ynode *nd, const char *what,
                         uint32_t min_ms, uint32_t *out)
{
    if (!want_kind(ld, nd, Y_SCALAR, what))
        return false;
    uint32_t v;
    if (config_parse_duration_ms(nd->value, &v)) {
        fail_node(ld, nd, "%s: expected a duration such as 200ms, 5s or 2m, found '%s'", what, nd->value);
        return false;
    }
    if (v < min_ms) {
        fail_node(ld, nd, "%s: %s is too short; expected at least %u ms", what, nd->value, min_ms);
        return false;
    }
    *out = v;
    return true;
}

static bool get_bool(struct loader *ld, const struct ynode *nd, const char *what, bool *out)
{
    if (!want_kind(ld, nd, Y_SCALAR, what))
        return false;
    const char *s = nd->value;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) { *out = true; return true; }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) { *out = false; return true; }
    fail_node(ld, nd, "%s: expected true or false, found '%s'", what, s);
    return false;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CONFIG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static bool get_name(struct loader *ld, const struct ynode *nd, const char *what, char out[CONFIG_NAME_MAX])
{
    if (!want_kind(ld, nd, Y_SCALAR, what))
        return false;
    if (!valid_name(nd->value)) {
        fail_node(ld, nd, "%s: '%s' is not a valid name; expected 1 to %d letters, digits, '_' or '-'",
                  what, nd->value, CONFIG_NAME_MAX - 1);
        return false;
    }
    snprintf(out, CONFIG_NAME_MAX, "%s", nd->value);
    return true;
}

/* ${VAR} and ${VAR:-default} from the environment. */
static char *expand_env(struct loader *ld, const struct ynode *nd, const char *s)
{
    size_t cap = strlen(s) + 64, n = 0;
    char *out = malloc(cap);
    if (!out) {
        fail_node(ld, nd, "out of memory");
        return NULL;
    }
    for (const char *p = s; *p;) {
        const char *piece = p;
        size_t plen = 1;
        char *tmp = NULL;
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            if (!close) {
                fail_node(ld, nd, "unterminated ${ in '%s'; expected ${NAME} or ${NAME:-default}", s);
                free(out);
                return NULL;
            }
            tmp = strndup(p + 2, (size_t)(close - p - 2));
            if (!tmp) {
                fail_node(ld, nd, "out of memory");
                free(out);
                return NULL;
            }
            char *dflt = strstr(tmp, ":-");
            if (dflt) {
                *dflt = 0;
                dflt += 2;
            }
            bool ok = tmp[0] != 0;
            for (char *q = tmp; *q; q++)
                if (!isalnum((unsigned char)*q) && *q != '_')
                    ok = false;
            if (!ok) {
                fail_node(ld, nd, "bad variable name '${%s}' in '%s'; expected letters, digits and '_'", tmp, s);
                free(tmp);
                free(out);
                return NULL;
            }
            const char *val = getenv(tmp);
            if (!val || !*val)
                val = dflt;
            if (!val) {
                fail_node(ld, nd, "environment variable %s is not set (used in '%s'); set it or write ${%s:-default}",
                          tmp, s, tmp);
                free(tmp);
                free(out);
                return NULL;
            }
            piece = val;
            plen = strlen(val);
            p = close + 1;
        } else {
            p++;
        }
        if (n + plen + 1 > cap) {
            cap = (n + plen + 1) * 2;
            char *o2 = realloc(out, cap);
            if (!o2) {
                free(tmp);
                free(out);
                fail_node(ld, nd, "out of memory");
                return NULL;
            }
            out = o2;
        }
        memcpy(out + n, piece, plen);
        n += plen;
        free(tmp);
    }
    out[n] = 0;
    return out;
}

static char *get_string(struct loader *ld, const struct ynode *nd, const char *what)
{
    if (!want_kind(ld, nd, Y_SCALAR, what))
        return NULL;
    char *s = expand_env(ld, nd, nd->value);
    if (s && !*s) {
        fail_node(ld, nd, "%s: expected a non-empty string", what);
        free(s);
        return NULL;
    }
    return s;
}

static char *join_path(struct loader *ld, const struct ynode *nd, const char *p)
{
    char *out;
    if (p[0] == '/') {
        out = strdup(p);
    } else if (asprintf(&out, "%s/%s", ld->base_dir, p) < 0) {
        out = NULL;
    }
    if (!out)
        fail_node(ld, nd, "out of memory");
    return out;
}

static char *get_path(struct loader *ld, const struct ynode *nd, const char *what)
{
    char *s = get_string(ld, nd, what);
    if (!s)
        return NULL;
    if (strlen(s) >= 200) {
        fail_node(ld, nd, "%s: path '%.40s...' is too long; expected fewer than 200 bytes", what, s);
        free(s);
        return NULL;
    }
    char *r = join_path(ld, nd, s);
    free(s);
    return r;
}

/* A string list: a sequence of scalars (or a single scalar). */
static bool get_string_list(struct loader *ld, const struct ynode *nd, const char *what,
                            char **out, int max, int *n)
{
    if (nd->kind == Y_SCALAR && is_null(nd)) {
        *n = 0;
        return true;
    }
    if (!want_kind(ld, nd, Y_SEQ, what))
        return false;
    if (nd->n > max) {
        fail_node(ld, nd, "%s: %d entries; expected at most %d", what, nd->n, max);
        return false;
    }
    for (int i = 0; i < nd->n; i++) {
        const struct ynode *it = nd->items[i];
        if (it->kind != Y_SCALAR) {
            fail_node(ld, it, "%s: entry %d: expected a string, found %s", what, i + 1, kind_name(it));
            return false;
        }
        out[i] = expand_env(ld, it, it->value);
        if (!out[i])
            return false;
        *n = i + 1;
    }
    return true;
}

/* ---- mappings against key tables ------------------------------------------------ */

struct keyspec {
    const char *key;
    bool required;
};

/* Check `map` against `keys`: a mapping, scalar keys only, none unknown or
 * repeated, every required one present.  vals[i] receives the value node of
 * keys[i] (or NULL). */
static bool check_map(struct loader *ld, const struct ynode *map, const char *what,
                      const struct keyspec *keys, int nkeys, const struct ynode **vals)
{
    if (!want_kind(ld, map, Y_MAP, what))
        return false;
    for (int k = 0; k < nkeys; k++)
        vals[k] = NULL;
    for (int i = 0; i + 1 < map->n; i += 2) {
        const struct ynode *key = map->items[i];
        if (key->kind != Y_SCALAR) {
            fail_node(ld, key, "%s: expected a plain key, found %s", what, kind_name(key));
            return false;
        }
        int found = -1;
        for (int k = 0; k < nkeys; k++)
            if (!strcmp(keys[k].key, key->value))
                found = k;
        if (found < 0) {
            char list[300];
            size_t len = 0;
            list[0] = 0;
            for (int k = 0; k < nkeys && len < sizeof list; k++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", keys[k].key);
            fail_node(ld, key, "unknown key '%s' in %s; expected one of: %s", key->value, what, list);
            return false;
        }
        if (vals[found]) {
            fail_node(ld, key, "duplicate key '%s' in %s (first at line %d)", key->value, what,
                      vals[found]->line);
            return false;
        }
        vals[found] = map->items[i + 1];
    }
    for (int k = 0; k < nkeys; k++)
        if (keys[k].required && !vals[k]) {
            fail_node(ld, map, "%s: missing required key '%s'", what, keys[k].key);
            return false;
        }
    return true;
}

/* ---- sections -------------------------------------------------------------------- */

static bool parse_restart(struct loader *ld, const struct ynode *nd, const char *what,
                          struct config_restart *r)
{
    static const struct keyspec keys[] = {
        { "max_restarts", false }, { "window", false }, { "backoff", false }, { "backoff_max", false },
    };
    const struct ynode *v[4];
    if (!check_map(ld, nd, what, keys, 4, v))
        return false;
    uint64_t u;
    if (v[0]) {
        if (!get_uint(ld, v[0], "restart.max_restarts", 0, 1000, &u))
            return false;
        r->max_restarts = (uint32_t)u;
    }
    if (v[1] && !get_duration(ld, v[1], "restart.window", 100, &r->window_ms))
        return false;
    if (v[2] && !get_duration(ld, v[2], "restart.backoff", 0, &r->backoff_ms))
        return false;
    if (v[3] && !get_duration(ld, v[3], "restart.backoff_max", 0, &r->backoff_max_ms))
        return false;
    if (r->backoff_max_ms < r->backoff_ms) {
        fail_node(ld, v[3] ? v[3] : nd, "restart.backoff_max (%u ms) is below restart.backoff (%u ms); expected backoff_max >= backoff",
                  r->backoff_max_ms, r->backoff_ms);
        return false;
    }
    return true;
}

static bool parse_overflow(struct loader *ld, const struct ynode *nd, enum config_overflow *o)
{
    if (!want_kind(ld, nd, Y_SCALAR, "overflow"))
        return false;
    if (!strcmp(nd->value, "block")) *o = CONFIG_OVERFLOW_BLOCK;
    else if (!strcmp(nd->value, "drop")) *o = CONFIG_OVERFLOW_DROP;
    else {
        fail_node(ld, nd, "overflow: expected 'block' or 'drop', found '%s'", nd->value);
        return false;
    }
    return true;
}

struct defaults {
    uint64_t queue_size;
    enum config_overflow overflow;
    struct config_restart restart;
};

static bool parse_defaults(struct loader *ld, const struct ynode *nd, struct defaults *d)
{
    static const struct keyspec keys[] = { { "queue_size", false }, { "overflow", false }, { "restart", false } };
    const struct ynode *v[3];
    if (!check_map(ld, nd, "defaults", keys, 3, v))
        return false;
    if (v[0] && !get_size(ld, v[0], "defaults.queue_size", &d->queue_size))
        return false;
    if (v[1] && !parse_overflow(ld, v[1], &d->overflow))
        return false;
    if (v[2] && !parse_restart(ld, v[2], "defaults.restart", &d->restart))
        return false;
    return true;
}

static bool parse_stage(struct loader *ld, const struct ynode *nd, const struct defaults *d,
                        struct config_stage *st)
{
    enum { K_NAME, K_EXE, K_ARGS, K_WORKERS, K_QSIZE, K_OVERFLOW, K_RESTART, K_OUTPUTS, K_N };
    static const struct keyspec keys[K_N] = {
        { "name", true }, { "executable", true }, { "args", false }, { "workers", false },
        { "queue_size", false }, { "overflow", false }, { "restart", false }, { "outputs", false },
    };
    const struct ynode *v[K_N];
    if (!check_map(ld, nd, "stage", keys, K_N, v))
        return false;
    st->line = nd->line;
    if (!get_name(ld, v[K_NAME], "stage name", st->name))
        return false;
    char what[80];
    snprintf(what, sizeof what, "stage '%s' executable", st->name);
    char *exe = get_string(ld, v[K_EXE], what);
    if (!exe)
        return false;
    /* A bare command name is looked up in PATH at start; a path is relative to the file. */
    if (strchr(exe, '/')) {
        st->executable = join_path(ld, v[K_EXE], exe);
        free(exe);
        if (!st->executable)
            return false;
    } else {
        st->executable = exe;
    }
    if (v[K_ARGS]) {
        snprintf(what, sizeof what, "stage '%s' args", st->name);
        if (!get_string_list(ld, v[K_ARGS], what, st->args, CONFIG_MAX_ARGS - 1, &st->nargs))
            return false;
    }
    st->workers = 1;
    if (v[K_WORKERS]) {
        uint64_t w;
        snprintf(what, sizeof what, "stage '%s' workers", st->name);
        if (!get_uint(ld, v[K_WORKERS], what, 1, CONFIG_MAX_WORKERS, &w))
            return false;
        st->workers = (uint32_t)w;
    }
    st->queue_size = d->queue_size;
    st->overflow = d->overflow;
    st->restart = d->restart;
    snprintf(what, sizeof what, "stage '%s' queue_size", st->name);
    if (v[K_QSIZE] && !get_size(ld, v[K_QSIZE], what, &st->queue_size))
        return false;
    if (v[K_OVERFLOW] && !parse_overflow(ld, v[K_OVERFLOW], &st->overflow))
        return false;
    snprintf(what, sizeof what, "stage '%s' restart", st->name);
    if (v[K_RESTART] && !parse_restart(ld, v[K_RESTART], what, &st->restart))
        return false;
    if (v[K_OUTPUTS]) {
        const struct ynode *o = v[K_OUTPUTS];
        snprintf(what, sizeof what, "stage '%s' outputs", st->name);
        if (!want_kind(ld, o, Y_SEQ, what))
            return false;
        if (o->n > CONFIG_MAX_PORTS) {
            fail_node(ld, o, "%s: %d ports; expected at most %d", what, o->n, CONFIG_MAX_PORTS);
            return false;
        }
        for (int i = 0; i < o->n; i++) {
            if (!get_name(ld, o->items[i], "output port name", st->ports[i]))
                return false;
            for (int j = 0; j < i; j++)
                if (!strcmp(st->ports[j], st->ports[i])) {
                    fail_node(ld, o->items[i], "%s: port '%s' is listed twice", what, st->ports[i]);
                    return false;
                }
        }
        st->nports = o->n;
    } else {
        snprintf(st->ports[0], CONFIG_NAME_MAX, "out");
        st->nports = 1;
    }
    return true;
}

/* "stage" or "stage.port" */
static bool parse_endpoint(struct loader *ld, const struct ynode *nd, bool with_port,
                           int *stage, int *port)
{
    const char *what = with_port ? "edge 'from'" : "edge 'to'";
    if (!want_kind(ld, nd, Y_SCALAR, what))
        return false;
    char buf[2 * CONFIG_NAME_MAX + 2];
    if (strlen(nd->value) >= sizeof buf) {
        fail_node(ld, nd, "%s: '%.40s...' is too long; expected STAGE%s", what, nd->value,
                  with_port ? " or STAGE.PORT" : "");
        return false;
    }
    snprintf(buf, sizeof buf, "%s", nd->value);
    char *dot = strchr(buf, '.');
    if (dot && !with_port) {
        fail_node(ld, nd, "edge 'to': '%s' names a port; expected a stage name (inputs have no ports)", nd->value);
        return false;
    }
    if (dot)
        *dot = 0;
    *stage = config_stage_index(ld->cfg, buf);
    if (*stage < 0) {
        char list[400];
        size_t len = 0;
        list[0] = 0;
        for (int i = 0; i < ld->cfg->nstages && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", ld->cfg->stages[i].name);
        fail_node(ld, nd, "%s: no stage named '%s'; expected one of: %s", what, buf, list);
        return false;
    }
    if (port) {
        const struct config_stage *st = &ld->cfg->stages[*stage];
        if (!dot) {
            if (st->nports != 1) {
                fail_node(ld, nd, "edge 'from': stage '%s' has %d output ports; expected '%s.PORT'",
                          st->name, st->nports, st->name);
                return false;
            }
            *port = 0;
        } else {
            *port = config_port_index(ld->cfg, *stage, dot + 1);
            if (*port < 0) {
                fail_node(ld, nd, "edge 'from': stage '%s' has no output port '%s'; its outputs are declared with 'outputs:'",
                          st->name, dot + 1);
                return false;
            }
        }
    }
    return true;
}

static bool parse_edge(struct loader *ld, const struct ynode *nd, struct config_edge *e)
{
    static const struct keyspec keys[] = {
        { "from", true }, { "to", true }, { "queue_size", false }, { "overflow", false },
    };
    const struct ynode *v[4];
    if (!check_map(ld, nd, "edge", keys, 4, v))
        return false;
    e->line = nd->line;
    e->col = nd->col;
    if (!parse_endpoint(ld, v[0], true, &e->from, &e->from_port))
        return false;
    if (!parse_endpoint(ld, v[1], false, &e->to, NULL))
        return false;
    if (e->from == e->to) {
        fail_node(ld, v[1], "edge from '%s' to itself; expected an edge between two different stages",
                  ld->cfg->stages[e->to].name);
        return false;
    }
    e->queue_size = ld->cfg->stages[e->to].queue_size;
    e->overflow = ld->cfg->stages[e->to].overflow;
    if (v[2] && !get_size(ld, v[2], "edge queue_size", &e->queue_size))
        return false;
    if (v[3] && !parse_overflow(ld, v[3], &e->overflow))
        return false;
    return true;
}

static bool parse_vm(struct loader *ld, const struct ynode *nd, struct config_vm *vm)
{
    enum { K_KERNEL, K_INITRD, K_MEMORY, K_CPUS, K_WORKLOADS, K_PLUGIN, K_ICOUNT, K_TIMEOUT, K_N };
    static const struct keyspec keys[K_N] = {
        { "kernel", true }, { "initrd", false }, { "memory", false }, { "cpus", false },
        { "workloads", false }, { "plugin_args", false }, { "icount", false }, { "timeout", false },
    };
    const struct ynode *v[K_N];
    if (!check_map(ld, nd, "vm", keys, K_N, v))
        return false;
    vm->present = true;
    vm->memory_mib = 512;
    vm->cpus = 1;
    vm->icount = -1;
    vm->timeout_s = 300;
    if (!(vm->kernel = get_path(ld, v[K_KERNEL], "vm.kernel")))
        return false;
    if (v[K_INITRD] && !(vm->initrd = get_path(ld, v[K_INITRD], "vm.initrd")))
        return false;
    if (v[K_MEMORY]) {
        uint64_t b;
        const struct ynode *m = v[K_MEMORY];
        if (!want_kind(ld, m, Y_SCALAR, "vm.memory"))
            return false;
        size_t ml = strlen(m->value);
        bool bare = ml > 0 && isdigit((unsigned char)m->value[ml - 1]);  /* a bare number is MiB, as QEMU's -m */
        if (config_parse_size(m->value, &b) || (bare && b > (1ull << 20))) {
            fail_node(ld, m, "vm.memory: expected a size such as 512M or 2G, found '%s'", m->value);
            return false;
        }
        if (bare)
            b <<= 20;
        if (b < (64ull << 20) || b > (64ull << 30)) {
            fail_node(ld, v[K_MEMORY], "vm.memory: %s is out of range; expected 64M to 64G",
                      v[K_MEMORY]->value);
            return false;
        }
        vm->memory_mib = (uint32_t)(b >> 20);
    }
    uint64_t u;
    if (v[K_CPUS]) {
        if (!get_uint(ld, v[K_CPUS], "vm.cpus", 1, 64, &u))
            return false;
        vm->cpus = (uint32_t)u;
    }
    if (v[K_WORKLOADS] &&
        !get_string_list(ld, v[K_WORKLOADS], "vm.workloads", vm->workloads, CONFIG_MAX_WORKLOADS, &vm->nworkloads))
        return false;
    if (v[K_PLUGIN]) {
        const struct ynode *p = v[K_PLUGIN];
        if (p->kind == Y_MAP) {
            /* key: value pairs become "key=value" */
            if (p->n / 2 > CONFIG_MAX_ARGS) {
                fail_node(ld, p, "vm.plugin_args: %d entries; expected at most %d", p->n / 2, CONFIG_MAX_ARGS);
                return false;
            }
            for (int i = 0; i + 1 < p->n; i += 2) {
                const struct ynode *k = p->items[i], *val = p->items[i + 1];
                if (k->kind != Y_SCALAR || val->kind != Y_SCALAR) {
                    fail_node(ld, k->kind != Y_SCALAR ? k : val,
                              "vm.plugin_args: expected 'key: value' with scalar key and value");
                    return false;
                }
                char *ev = expand_env(ld, val, val->value);
                if (!ev)
                    return false;
                if (asprintf(&vm->plugin_args[vm->nplugin_args], "%s=%s", k->value, ev) < 0) {
                    free(ev);
                    fail_node(ld, k, "out of memory");
                    return false;
                }
                free(ev);
                vm->nplugin_args++;
            }
        } else if (!get_string_list(ld, p, "vm.plugin_args", vm->plugin_args, CONFIG_MAX_ARGS, &vm->nplugin_args)) {
            return false;
        }
    }
    if (v[K_ICOUNT]) {
        bool b;
        const struct ynode *ic = v[K_ICOUNT];
        if (ic->kind == Y_SCALAR && !isdigit((unsigned char)ic->value[0])) {
            if (!get_bool(ld, ic, "vm.icount (a shift 0..10 or off)", &b))
                return false;
            vm->icount = b ? 0 : -1;
        } else {
            if (!get_uint(ld, ic, "vm.icount", 0, 10, &u))
                return false;
            vm->icount = (int)u;
        }
    }
    if (v[K_TIMEOUT]) {
        uint32_t ms;
        if (!get_duration(ld, v[K_TIMEOUT], "vm.timeout", 1000, &ms))
            return false;
        vm->timeout_s = ms / 1000;
    }
    return true;
}

static bool parse_output(struct loader *ld, const struct ynode *nd, struct config *cfg)
{
    static const struct keyspec keys[] = {
        { "dir", false }, { "library", false }, { "report", false }, { "logs", false }, { "run", false },
    };
    const struct ynode *v[5];
    if (!check_map(ld, nd, "output", keys, 5, v))
        return false;
    char **dst[5] = { NULL, &cfg->library_dir, &cfg->report_dir, &cfg->log_dir, &cfg->run_dir };
    static const char *what[5] = { "output.dir", "output.library", "output.report", "output.logs", "output.run" };
    char *base = NULL;
    if (v[0] && !(base = get_path(ld, v[0], what[0])))
        return false;
    static const char *sub[5] = { NULL, "library", "report", "logs", "run" };
    for (int i = 1; i < 5; i++) {
        if (v[i]) {
            if (!(*dst[i] = get_path(ld, v[i], what[i]))) {
                free(base);
                return false;
            }
        } else if (base) {
            if (asprintf(dst[i], "%s/%s", base, sub[i]) < 0) {
                *dst[i] = NULL;
                free(base);
                fail_node(ld, nd, "out of memory");
                return false;
            }
        }
    }
    free(base);
    return true;
}

int config_topo_order(const struct config *cfg, int *order, int *indeg_left)
{
    /* Kahn's algorithm */
    int local[CONFIG_MAX_STAGES];
    int *indeg = indeg_left ? indeg_left : local, head = 0, tail = 0;
    for (int s = 0; s < cfg->nstages; s++)
        indeg[s] = 0;
    for (int e = 0; e < cfg->nedges; e++)
        indeg[cfg->edges[e].to]++;
    for (int s = 0; s < cfg->nstages; s++)
        if (!indeg[s])
            order[tail++] = s;
    while (head < tail) {
        int s = order[head++];
        for (int e = 0; e < cfg->nedges; e++)
            if (cfg->edges[e].from == s && --indeg[cfg->edges[e].to] == 0)
                order[tail++] = cfg->edges[e].to;
    }
    return tail;
}

/* Every stage is reachable, no cycles, every port wired once, every stage
 * with an input fed. */
static bool check_graph(struct loader *ld, const struct ynode *edges_node)
{
    struct config *cfg = ld->cfg;
    int order[CONFIG_MAX_STAGES], indeg[CONFIG_MAX_STAGES];
    int tail = config_topo_order(cfg, order, indeg);
    if (tail < cfg->nstages) {
        /* stages left with inputs are on (or behind) a cycle; name an edge of it */
        for (int e = 0; e < cfg->nedges; e++) {
            const struct config_edge *ed = &cfg->edges[e];
            if (indeg[ed->from] && indeg[ed->to]) {
                fail_at(ld, ed->line, ed->col,
                        "edge '%s' -> '%s' is part of a cycle; expected data to flow one way (no cycles)",
                        cfg->stages[ed->from].name, cfg->stages[ed->to].name);
                return false;
            }
        }
        fail_at(ld, edges_node ? edges_node->line : 1, edges_node ? edges_node->col : 1,
                "the edges form a cycle; expected data to flow one way (no cycles)");
        return false;
    }
    if (tail == 0 || cfg->nstages == 0)
        return true;
    /* every output port must be connected, or its records would pile up */
    for (int s = 0; s < cfg->nstages; s++) {
        if (cfg->nedges == 0 && cfg->nstages == 1)
            break;
        for (int p = 0; p < cfg->stages[s].nports; p++) {
            bool used = false;
            for (int e = 0; e < cfg->nedges; e++)
                if (cfg->edges[e].from == s && cfg->edges[e].from_port == p)
                    used = true;
            bool is_sink = true;
            for (int e = 0; e < cfg->nedges; e++)
                if (cfg->edges[e].from == s)
                    is_sink = false;
            /* a stage with no outgoing edge at all is a sink: its default port is unused */
            if (!used && !(is_sink && cfg->stages[s].nports == 1 && !strcmp(cfg->stages[s].ports[0], "out"))) {
                fail_at(ld, cfg->stages[s].line, 1,
                        "output port '%s.%s' is not connected; expected an edge 'from: %s.%s'",
                        cfg->stages[s].name, cfg->stages[s].ports[p], cfg->stages[s].name, cfg->stages[s].ports[p]);
                return false;
            }
        }
    }
    return true;
}

static bool parse_root(struct loader *ld, const struct ynode *root)
{
    enum { K_PIPELINE, K_OUTPUT, K_SHM, K_VM, K_DEFAULTS, K_STAGES, K_EDGES, K_N };
    static const struct keyspec keys[K_N] = {
        { "pipeline", true }, { "output", false }, { "shm_dir", false }, { "vm", false },
        { "defaults", false }, { "stages", true }, { "edges", false },
    };
    const struct ynode *v[K_N];
    struct config *cfg = ld->cfg;
    if (!check_map(ld, root, "the pipeline file (top level)", keys, K_N, v))
        return false;
    if (!get_name(ld, v[K_PIPELINE], "pipeline", cfg->name))
        return false;
    if (v[K_OUTPUT] && !parse_output(ld, v[K_OUTPUT], cfg))
        return false;
    if (v[K_SHM] && !(cfg->shm_dir = get_path(ld, v[K_SHM], "shm_dir")))
        return false;
    if (v[K_VM] && !parse_vm(ld, v[K_VM], &cfg->vm))
        return false;
    struct defaults d = {
        .queue_size = 4u << 20,
        .overflow = CONFIG_OVERFLOW_BLOCK,
        .restart = { .max_restarts = 5, .window_ms = 60000, .backoff_ms = 200, .backoff_max_ms = 5000 },
    };
    if (v[K_DEFAULTS] && !parse_defaults(ld, v[K_DEFAULTS], &d))
        return false;
    const struct ynode *stages = v[K_STAGES];
    if (!want_kind(ld, stages, Y_SEQ, "stages"))
        return false;
    if (stages->n == 0) {
        fail_node(ld, stages, "stages: the list is empty; expected at least one stage");
        return false;
    }
    if (stages->n > CONFIG_MAX_STAGES) {
        fail_node(ld, stages, "stages: %d stages; expected at most %d", stages->n, CONFIG_MAX_STAGES);
        return false;
    }
    for (int i = 0; i < stages->n; i++) {
        struct config_stage *st = &cfg->stages[i];
        cfg->nstages = i + 1;
        if (!parse_stage(ld, stages->items[i], &d, st))
            return false;
        for (int j = 0; j < i; j++)
            if (!strcmp(cfg->stages[j].name, st->name)) {
                fail_node(ld, stages->items[i], "duplicate stage name '%s' (first at line %d); expected unique names",
                          st->name, cfg->stages[j].line);
                return false;
            }
    }
    const struct ynode *edges = v[K_EDGES];
    if (edges && !is_null(edges)) {
        if (!want_kind(ld, edges, Y_SEQ, "edges"))
            return false;
        if (edges->n > CONFIG_MAX_EDGES) {
            fail_node(ld, edges, "edges: %d edges; expected at most %d", edges->n, CONFIG_MAX_EDGES);
            return false;
        }
        for (int i = 0; i < edges->n; i++) {
            cfg->nedges = i + 1;
            if (!parse_edge(ld, edges->items[i], &cfg->edges[i]))
                return false;
            for (int j = 0; j < i; j++)
                if (cfg->edges[j].from == cfg->edges[i].from && cfg->edges[j].from_port == cfg->edges[i].from_port) {
                    const struct config_stage *s = &cfg->stages[cfg->edges[i].from];
                    fail_node(ld, edges->items[i],
                              "output port '%s.%s' already feeds stage '%s' (line %d); expected one edge per port",
                              s->name, s->ports[cfg->edges[i].from_port], cfg->stages[cfg->edges[j].to].name,
                              cfg->edges[j].line);
                    return false;
                }
        }
    } else {
        edges = NULL;
    }
    if (cfg->nstages > 1 && cfg->nedges == 0) {
        fail_node(ld, root, "%d stages but no 'edges'; expected edges saying which output feeds which stage",
                  cfg->nstages);
        return false;
    }
    if (!check_graph(ld, edges))
        return false;
    /* a stage named by no edge in a multi-stage pipeline is a mistake */
    for (int s = 0; s < cfg->nstages && cfg->nstages > 1; s++) {
        bool used = false;
        for (int e = 0; e < cfg->nedges; e++)
            if (cfg->edges[e].from == s || cfg->edges[e].to == s)
                used = true;
        if (!used) {
            fail_at(ld, cfg->stages[s].line, 1, "stage '%s' is not connected by any edge; expected it in 'edges'",
                    cfg->stages[s].name);
            return false;
        }
    }
    /* defaults for the directories */
    char *dflt = NULL;
    if (asprintf(&dflt, "%s/out/%s", ld->base_dir, cfg->name) < 0)
        dflt = NULL;
    if (!dflt) {
        fail_node(ld, root, "out of memory");
        return false;
    }
        struct { char **dst; const char *sub; } dd[] = {
        { &cfg->report_dir, "report" },
        { &cfg->log_dir, "logs" }, { &cfg->run_dir, "run" },
    };
    for (size_t i = 0; i < sizeof dd / sizeof dd[0]; i++)
        if (!*dd[i].dst && asprintf(dd[i].dst, "%s/%s", dflt, dd[i].sub) < 0)
            *dd[i].dst = NULL;
    free(dflt);
    if (!cfg->library_dir && asprintf(&cfg->library_dir, "%s/out/library", ld->base_dir) < 0)
        cfg->library_dir = NULL;
    if (!cfg->shm_dir)
        cfg->shm_dir = strdup("/dev/shm");
    if (!cfg->library_dir || !cfg->report_dir || !cfg->log_dir || !cfg->run_dir || !cfg->shm_dir) {
        fail_node(ld, root, "out of memory");
        return false;
    }
    return true;
}

/* ---- public API ------------------------------------------------------------------- */

int config_stage_index(const struct config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nstages; i++)
        if (!strcmp(cfg->stages[i].name, name))
            return i;
    return -1;
}

int config_port_index(const struct config *cfg, int s, const char *port)
{
    if (s < 0 || s >= cfg->nstages)
        return -1;
    for (int i = 0; i < cfg->stages[s].nports; i++)
        if (!strcmp(cfg->stages[s].ports[i], port))
            return i;
    return -1;
}

const char *config_overflow_name(enum config_overflow o)
{
    return o == CONFIG_OVERFLOW_DROP ? "drop" : "block";
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->run_dir);
    free(cfg->shm_dir);
    free(cfg->library_dir);
    free(cfg->report_dir);
    free(cfg->log_dir);
    free(cfg->vm.kernel);
    free(cfg->vm.initrd);
    for (int i = 0; i < cfg->vm.nworkloads; i++)
        free(cfg->vm.workloads[i]);
    for (int i = 0; i < cfg->vm.nplugin_args; i++)
        free(cfg->vm.plugin_args[i]);
    for (int s = 0; s < cfg->nstages; s++) {
        free(cfg->stages[s].executable);
        for (int a = 0; a < cfg->stages[s].nargs; a++)
            free(cfg->stages[s].args[a]);
    }
    free(cfg);
}

struct config *config_load_buffer(const char *name, const char *data, size_t len,
                                  char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    struct loader ld = { .file = name, .err = err, .errlen = errlen };
    ld.cfg = calloc(1, sizeof *ld.cfg);
    /* base directory: the file's directory (made absolute) */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    const char *slash = strrchr(name, '/');
    char *dir = slash ? strndup(name, (size_t)(slash - name)) : strdup(".");
    if (dir && dir[0] == 0) {
        free(dir);
        dir = strdup("/");
    }
    if (dir && dir[0] != '/') {
        char *abs = NULL;
        if (asprintf(&abs, "%s/%s", cwd, dir) < 0)
            abs = NULL;
        free(dir);
        dir = abs;
    }
    if (dir && !strcmp(dir + strlen(dir) - 2, "/.") && strlen(dir) > 2)
        dir[strlen(dir) - 2] = 0;
    ld.base_dir = dir;
    if (!ld.cfg || !dir) {
        snprintf(err, errlen, "%s: out of memory", name);
        free(ld.cfg);
        free(dir);
        return NULL;
    }
    if (name[0] == '/') {
        ld.cfg->path = strdup(name);
    } else if (asprintf(&ld.cfg->path, "%s/%s", cwd, name) < 0) {
        ld.cfg->path = NULL;
    }
    struct ynode *root = ytree_parse(&ld, data, len);
    if (root == NULL && !ld.failed)
        fail_at(&ld, 1, 1, "the file is empty; expected a mapping with 'pipeline:' and 'stages:'");
    if (root && !ld.failed)
        parse_root(&ld, root);
    ynode_free(root);
    free(ld.base_dir);
    if (ld.failed || !ld.cfg->path) {
        if (!ld.failed)
            snprintf(err, errlen, "%s: out of memory", name);
        config_free(ld.cfg);
        return NULL;
    }
    return ld.cfg;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        if (cap >= (4u << 20)) {
            snprintf(err, errlen, "%s: larger than 4 MiB; a pipeline file is small", path);
            free(buf);
            fclose(f);
            return NULL;
        }
        char *b2 = realloc(buf, cap * 2);
        if (!b2) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b2;
        cap *= 2;
    }
    bool rd_err = ferror(f);
    fclose(f);
    if (!buf || rd_err) {
        snprintf(err, errlen, "%s: cannot read: %s", path, buf ? strerror(errno) : "out of memory");
        free(buf);
        return NULL;
    }
    struct config *cfg = config_load_buffer(path, buf, n, err, errlen);
    free(buf);
    return cfg;
}
