/*
 * spec.c: the FerryCluster document (spec.h). libyaml's events are first
 * gathered into a small tree, bounded in size, depth and node count, so the
 * validation below can look fields up by name, report unknown and repeated
 * ones, and name every field by its path and position.
 */
#include "operator/spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define VALUE_SHOWN 64 /* bytes of a bad value quoted in a message */

/* ---- errors ---- */

typedef struct ctx {
    const char *src;
    char *err;
    size_t errlen;
    size_t nodes; /* YAML nodes so far, against FO_SPEC_MAX_NODES */
} ctx_t;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(ctx_t *c, const char *fmt, ...)
{
    if (c->err != NULL && c->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* v as a double-quoted string with C-style escapes, at most VALUE_SHOWN
 * bytes of it, so that a hostile value cannot split or garble a message. */
static void quote(char *out, size_t outlen, const char *v, size_t vlen)
{
    size_t o = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 < outlen)                                                                        \
            out[o++] = (char)(ch);                                                                 \
    } while (0)
    static const char hex[] = "0123456789abcdef";
    PUT('"');
    size_t shown = vlen < VALUE_SHOWN ? vlen : VALUE_SHOWN;
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '"' || ch == '\\') {
            PUT('\\');
            PUT(ch);
        } else if (ch < 0x20 || ch >= 0x7f) {
            PUT('\\');
            PUT('x');
            PUT(hex[ch >> 4]);
            PUT(hex[ch & 15]);
        } else {
            PUT(ch);
        }
    }
    PUT('"');
    if (shown < vlen) {
        PUT('.');
        PUT('.');
        PUT('.');
    }
#undef PUT
    if (outlen > 0)
        out[o] = '\0';
}

/* ---- the tree ---- */

typedef enum { N_SCALAR, N_MAP, N_SEQ } ntype_t;

typedef struct ynode {
    ntype_t type;
    char *value; /* scalars: NUL-terminated, len bytes (may hold NULs) */
    size_t len;
    bool plain; /* an unquoted scalar */
    size_t line, col;
    struct ynode **kids; /* mappings: key, value, key, value, ... */
    size_t n, cap;
} ynode_t;

static void node_free(ynode_t *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]); /* depth is at most FO_SPEC_MAX_DEPTH */
    free(n->kids);
    free(n->value);
    free(n);
}

static int node_add(ynode_t *parent, ynode_t *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        ynode_t **k = realloc(parent->kids, cap * sizeof *k);
        if (k == NULL)
            return -1;
        parent->kids = k;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

static void yaml_syntax_err(ctx_t *c, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_MEMORY_ERROR) {
        fail(c, "out of memory while reading %s", c->src);
    } else if (p->error == YAML_READER_ERROR) {
        /* The reader (encoding, control characters) knows a byte offset only. */
        size_t line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            col = text[i] == '\n' ? 1 : col + 1;
            line += text[i] == '\n';
        }
        fail(c, "invalid YAML: %s (%s:%zu:%zu, byte %zu)", problem, c->src, line, col,
             p->problem_offset);
    } else if (p->context != NULL) {
        /* libyaml stops where it gave up, often after the mistake; the
         * context ("while scanning a simple key") says where it began. */
        fail(c, "invalid YAML: %s (%s:%zu:%zu), %s at line %zu", problem, c->src,
             p->problem_mark.line + 1, p->problem_mark.column + 1, p->context,
             p->context_mark.line + 1);
    } else {
        fail(c, "invalid YAML: %s (%s:%zu:%zu)", problem, c->src, p->problem_mark.line + 1,
             p->problem_mark.column + 1);
    }
}

/* A node for an event, or NULL with the error set. */
static ynode_t *node_new(ctx_t *c, const yaml_event_t *ev)
{
    if (++c->nodes > FO_SPEC_MAX_NODES) {
        fail(c, "document: more than %u YAML nodes (%s:%zu:%zu)", FO_SPEC_MAX_NODES, c->src,
             ev->start_mark.line + 1, ev->start_mark.column + 1);
        return NULL;
    }
    const yaml_char_t *tag = NULL;
    if (ev->type == YAML_SCALAR_EVENT)
        tag = ev->data.scalar.tag;
    else if (ev->type == YAML_MAPPING_START_EVENT)
        tag = ev->data.mapping_start.tag;
    else
        tag = ev->data.sequence_start.tag;
    if (tag != NULL) {
        char shown[VALUE_SHOWN * 4 + 8];
        quote(shown, sizeof shown, (const char *)tag, strlen((const char *)tag));
        fail(c, "document: explicit tags are not supported, got %s (%s:%zu:%zu)", shown, c->src,
             ev->start_mark.line + 1, ev->start_mark.column + 1);
        return NULL;
    }
    ynode_t *n = calloc(1, sizeof *n);
    if (n == NULL) {
        fail(c, "out of memory while reading %s", c->src);
        return NULL;
    }
    n->line = ev->start_mark.line + 1;
    n->col = ev->start_mark.column + 1;
    if (ev->type == YAML_SCALAR_EVENT) {
        n->type = N_SCALAR;
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->value = malloc(n->len + 1);
        if (n->value == NULL) {
            free(n);
            fail(c, "out of memory while reading %s", c->src);
            return NULL;
        }
        memcpy(n->value, ev->data.scalar.value, n->len);
        n->value[n->len] = '\0';
    } else {
        n->type = ev->type == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ;
    }
    return n;
}

/* Reads exactly one document into *root (NULL for an empty stream). */
static int load_tree(ctx_t *c, const char *text, size_t len, ynode_t **root)
{
    *root = NULL;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail(c, "out of memory while reading %s", c->src);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);

    ynode_t *stack[FO_SPEC_MAX_DEPTH];
    size_t depth = 0;
    unsigned documents = 0;
    int rc = -1;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            yaml_syntax_err(c, &p, text, len);
            break;
        }
        bool stop = false, ok = true;
        ynode_t *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            rc = 0;
            stop = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                fail(c, "document: expected one YAML document, found a second (%s:%zu:%zu)", c->src,
                     ev.start_mark.line + 1, ev.start_mark.column + 1);
                ok = false;
            }
            break;
        case YAML_ALIAS_EVENT:
            /* Aliases would let a small document expand into a huge one. */
            fail(c, "document: aliases are not supported (%s:%zu:%zu)", c->src,
                 ev.start_mark.line + 1, ev.start_mark.column + 1);
            ok = false;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            n = node_new(c, &ev);
            if (n == NULL) {
                ok = false;
                break;
            }
            if (depth == 0) {
                *root = n; /* one document, so one root */
            } else if (node_add(stack[depth - 1], n) != 0) {
                node_free(n);
                fail(c, "out of memory while reading %s", c->src);
                ok = false;
                break;
            }
            if (n->type != N_SCALAR) {
                if (depth == FO_SPEC_MAX_DEPTH) {
                    fail(c, "document: nested deeper than %u levels (%s:%zu:%zu)",
                         FO_SPEC_MAX_DEPTH, c->src, n->line, n->col);
                    ok = false;
                    break;
                }
                stack[depth++] = n;
            }
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (!ok)
            break;
        if (stop)
            break;
    }
    yaml_parser_delete(&p);
    if (rc != 0) {
        node_free(*root);
        *root = NULL;
    }
    return rc;
}

/* ---- reading fields ---- */

/* A plain scalar YAML reads as null: "key:", "key: ~", "key: null". */
static bool is_null(const ynode_t *n)
{
    return n->type == N_SCALAR && n->plain &&
           (n->len == 0 || (n->len == 1 && n->value[0] == '~') ||
            (n->len == 4 && (!strcmp(n->value, "null") || !strcmp(n->value, "Null") ||
                             !strcmp(n->value, "NULL"))));
}

/* "a mapping", "a list", "null", a quoted value or `the string "..."`. */
static void shown(char *out, size_t outlen, const ynode_t *n)
{
    if (n->type == N_MAP) {
        snprintf(out, outlen, "a mapping");
    } else if (n->type == N_SEQ) {
        snprintf(out, outlen, "a list");
    } else if (is_null(n)) {
        snprintf(out, outlen, "null");
    } else {
        char q[VALUE_SHOWN * 4 + 8];
        quote(q, sizeof q, n->value, n->len);
        snprintf(out, outlen, "%s%s", n->plain ? "" : "the string ", q);
    }
}

/* "<path>: <rule>, got <value> (<source>:<line>:<column>)" */
static int bad(ctx_t *c, const char *path, const ynode_t *n, const char *rule)
{
    char got[VALUE_SHOWN * 4 + 32];
    shown(got, sizeof got, n);
    return fail(c, "%s: %s, got %s (%s:%zu:%zu)", path, rule, got, c->src, n->line, n->col);
}

static void join(char *out, size_t outlen, const char *path, const char *field)
{
    snprintf(out, outlen, "%s%s%s", path, *path ? "." : "", field);
}

/*
 * Checks that map is a mapping whose keys are all among names[0..count) and
 * appear once; vals[i] gets the value of names[i] or NULL.
 */
static int fields(ctx_t *c, const char *path, const ynode_t *map, const char *const *names,
                  size_t count, const ynode_t **vals)
{
    const char *what = *path ? path : "document";
    if (map->type != N_MAP)
        return bad(c, what, map, "expected a mapping");
    for (size_t i = 0; i < count; i++)
        vals[i] = NULL;
    for (size_t k = 0; k + 1 < map->n; k += 2) {
        const ynode_t *key = map->kids[k];
        if (key->type != N_SCALAR)
            return bad(c, what, key, "expected a field name");
        size_t i = 0;
        while (i < count && !(strlen(names[i]) == key->len && !strcmp(names[i], key->value)))
            i++;
        if (i == count) {
            char list[512] = "", q[VALUE_SHOWN * 4 + 8];
            for (size_t j = 0; j < count; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
                         names[j]);
            quote(q, sizeof q, key->value, key->len);
            return fail(c, "%s: unknown field %s, expected one of %s (%s:%zu:%zu)", what, q, list,
                        c->src, key->line, key->col);
        }
        if (vals[i] != NULL) {
            char p[256];
            join(p, sizeof p, path, names[i]);
            return fail(c, "%s: set twice (%s:%zu:%zu, first at line %zu)", p, c->src, key->line,
                        key->col, vals[i]->line);
        }
        vals[i] = map->kids[k + 1];
    }
    return 0;
}

static int missing(ctx_t *c, const char *path, const char *field, const ynode_t *in)
{
    char p[256];
    join(p, sizeof p, path, field);
    return fail(c, "%s: required, missing from %s (%s:%zu:%zu)", p, *path ? path : "the document",
                c->src, in->line, in->col);
}

/* A plain decimal integer lo..hi: no sign, no leading zero, no quotes. */
static bool parse_uint(const ynode_t *n, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (n->type != N_SCALAR || !n->plain || n->len == 0 || n->len > 10)
        return false;
    if (n->len > 1 && n->value[0] == '0')
        return false; /* YAML 1.1 reads 010 as octal: refuse the doubt */
    uint64_t v = 0;
    for (size_t i = 0; i < n->len; i++) {
        if (n->value[i] < '0' || n->value[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(n->value[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int get_uint(ctx_t *c, const char *path, const ynode_t *n, uint32_t lo, uint32_t hi,
                    uint32_t *out)
{
    if (n == NULL)
        return 0; /* the default stays */
    if (parse_uint(n, lo, hi, out))
        return 0;
    char rule[64];
    snprintf(rule, sizeof rule, "expected an integer %u..%u", (unsigned)lo, (unsigned)hi);
    return bad(c, path, n, rule);
}

static bool printable(const ynode_t *n)
{
    for (size_t i = 0; i < n->len; i++)
        if ((unsigned char)n->value[i] < 0x20 || (unsigned char)n->value[i] >= 0x7f)
            return false;
    return true;
}

/* A scalar that is not null, as text (quoted or not). */
static bool is_text(const ynode_t *n)
{
    return n->type == N_SCALAR && !is_null(n);
}

static bool is(const ynode_t *n, const char *s)
{
    return n->type == N_SCALAR && strlen(s) == n->len && strcmp(n->value, s) == 0;
}

static int dup_text(ctx_t *c, const ynode_t *n, char **out)
{
    *out = malloc(n->len + 1);
    if (*out == NULL)
        return fail(c, "out of memory while reading %s", c->src);
    memcpy(*out, n->value, n->len + 1);
    return 0;
}

static bool dns_label(const ynode_t *n)
{
    if (n->len == 0 || n->len > FO_SPEC_MAX_NAME)
        return false;
    for (size_t i = 0; i < n->len; i++) {
        char ch = n->value[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && !(ch == '-' && i > 0 && i + 1 < n->len))
            return false;
    }
    return true;
}

static bool image_ok(const ynode_t *n)
{
    if (n->len == 0 || n->len > FO_SPEC_MAX_IMAGE)
        return false;
    for (size_t i = 0; i < n->len; i++) {
        char ch = n->value[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("._:/@+-", ch) != NULL) ||
            ch == '\0')
            return false;
    }
    return true;
}

static bool key_ok(const ynode_t *n)
{
    if (n->type != N_SCALAR || n->len == 0 || n->len > FO_SPEC_MAX_KEY)
        return false;
    if (n->value[0] < 'a' || n->value[0] > 'z')
        return false;
    for (size_t i = 0; i < n->len; i++) {
        char ch = n->value[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return false;
    }
    return true;
}

/* Settings the operator sets itself, per node: a spec may not override them. */
static const char *const reserved[] = {
    "listen",       "node_name",     "data_dir",          "admin_listen", "cluster_listen",
    "cluster_name", "cluster_seeds", "cluster_advertise", "cluster_dns",
};

static int parse_config(ctx_t *c, const ynode_t *map, fo_spec_t *s)
{
    const char *path = "spec.config";
    if (map->type != N_MAP) {
        if (is_null(map))
            return 0; /* "config:" with nothing: no settings */
        return bad(c, path, map, "expected a mapping of broker setting names to values");
    }
    size_t n = map->n / 2;
    if (n > FO_SPEC_MAX_CONFIG)
        return fail(c, "%s: more than %u settings (%s:%zu:%zu)", path, FO_SPEC_MAX_CONFIG, c->src,
                    map->line, map->col);
    if (n == 0)
        return 0;
    s->config = calloc(n, sizeof *s->config);
    if (s->config == NULL)
        return fail(c, "out of memory while reading %s", c->src);
    for (size_t k = 0; k < n; k++) {
        const ynode_t *key = map->kids[2 * k], *val = map->kids[2 * k + 1];
        if (!key_ok(key)) {
            char rule[128];
            snprintf(rule, sizeof rule,
                     "expected a setting name of 1 to %u characters from a-z 0-9 _, starting "
                     "with a letter",
                     FO_SPEC_MAX_KEY);
            return bad(c, path, key, rule);
        }
        char p[256];
        join(p, sizeof p, path, key->value);
        for (size_t j = 0; j < k; j++)
            if (strcmp(s->config[j].key, key->value) == 0)
                return fail(c, "%s: set twice (%s:%zu:%zu)", p, c->src, key->line, key->col);
        for (size_t j = 0; j < sizeof reserved / sizeof reserved[0]; j++)
            if (strcmp(reserved[j], key->value) == 0)
                return fail(c,
                            "%s: set by the operator for each node, a spec may not set it "
                            "(%s:%zu:%zu)",
                            p, c->src, key->line, key->col);
        if (!is_text(val) || val->len > FO_SPEC_MAX_VALUE || !printable(val)) {
            char rule[96];
            snprintf(rule, sizeof rule,
                     "expected a single value of at most %u printable ASCII "
                     "characters",
                     FO_SPEC_MAX_VALUE);
            return bad(c, p, val, rule);
        }
        s->n_config = k + 1; /* calloc'd: fo_spec_free copes with a half-filled entry */
        if (dup_text(c, key, &s->config[k].key) != 0 || dup_text(c, val, &s->config[k].value) != 0)
            return -1;
    }
    return 0;
}

static int parse_evacuation(ctx_t *c, const ynode_t *map, fo_spec_t *s)
{
    static const char *const names[] = {"waitTakeover", "connEvictRate", "sessEvictRate"};
    const char *path = "spec.blueGreenUpdate.evacuationStrategy";
    const ynode_t *v[3];
    if (fields(c, path, map, names, 3, v) != 0)
        return -1;
    if (get_uint(c, "spec.blueGreenUpdate.evacuationStrategy.waitTakeover", v[0], 0, FO_SECONDS_MAX,
                 &s->wait_takeover_s) != 0)
        return -1;
    if (v[1] != NULL) {
        if (is(v[1], "auto")) {
            s->conn_evict_auto = true;
            s->conn_evict_rate = 0;
        } else if (parse_uint(v[1], 1, FO_RATE_MAX, &s->conn_evict_rate)) {
            s->conn_evict_auto = false;
        } else {
            return bad(c, "spec.blueGreenUpdate.evacuationStrategy.connEvictRate", v[1],
                       "expected an integer 1..1000000 or \"auto\"");
        }
    }
    return get_uint(c, "spec.blueGreenUpdate.evacuationStrategy.sessEvictRate", v[2], 1,
                    FO_RATE_MAX, &s->sess_evict_rate);
}

static int parse_blue_green(ctx_t *c, const ynode_t *map, fo_spec_t *s, const ynode_t **conc)
{
    static const char *const names[] = {"initialDelaySeconds", "evacuationStrategy", "concurrency"};
    const ynode_t *v[3];
    if (fields(c, "spec.blueGreenUpdate", map, names, 3, v) != 0)
        return -1;
    if (get_uint(c, "spec.blueGreenUpdate.initialDelaySeconds", v[0], 0, FO_SECONDS_MAX,
                 &s->initial_delay_s) != 0)
        return -1;
    if (v[1] != NULL && parse_evacuation(c, v[1], s) != 0)
        return -1;
    *conc = v[2];
    return get_uint(c, "spec.blueGreenUpdate.concurrency", v[2], 1, FO_REPLICAS_MAX,
                    &s->concurrency);
}

enum { S_REPLICAS, S_IMAGE, S_BINARY, S_CONFIG, S_STRATEGY, S_BG, S_TIMEOUT, S_LB, S_COUNT };

static int parse_spec(ctx_t *c, const ynode_t *map, fo_spec_t *s)
{
    static const char *const names[S_COUNT] = {"replicas",
                                               "image",
                                               "binary",
                                               "config",
                                               "updateStrategy",
                                               "blueGreenUpdate",
                                               "phaseTimeoutSeconds",
                                               "loadBalancer"};
    const ynode_t *v[S_COUNT];
    if (fields(c, "spec", map, names, S_COUNT, v) != 0)
        return -1;
    if (v[S_REPLICAS] == NULL)
        return missing(c, "spec", "replicas", map);
    if (get_uint(c, "spec.replicas", v[S_REPLICAS], 1, FO_REPLICAS_MAX, &s->replicas) != 0)
        return -1;
    if (v[S_IMAGE] == NULL && v[S_BINARY] == NULL)
        return fail(c, "spec.image: required unless spec.binary is set (%s:%zu:%zu)", c->src,
                    map->line, map->col);
    if (v[S_IMAGE] != NULL) {
        if (!is_text(v[S_IMAGE]) || !image_ok(v[S_IMAGE]))
            return bad(c, "spec.image", v[S_IMAGE],
                       "expected a version label of 1 to 255 characters from A-Z a-z 0-9 . _ : "
                       "/ @ + -");
        if (dup_text(c, v[S_IMAGE], &s->image) != 0)
            return -1;
    }
    if (v[S_BINARY] != NULL) {
        const ynode_t *b = v[S_BINARY];
        if (!is_text(b) || b->len > FO_SPEC_MAX_PATH || b->value[0] != '/' || !printable(b))
            return bad(c, "spec.binary", b,
                       "expected an absolute path of at most 4095 printable ASCII characters");
        if (dup_text(c, b, &s->binary) != 0)
            return -1;
    }
    if (v[S_CONFIG] != NULL && parse_config(c, v[S_CONFIG], s) != 0)
        return -1;
    if (v[S_STRATEGY] != NULL) {
        if (is(v[S_STRATEGY], "BlueGreen"))
            s->strategy = FO_STRATEGY_BLUE_GREEN;
        else if (is(v[S_STRATEGY], "Rolling"))
            s->strategy = FO_STRATEGY_ROLLING;
        else
            return bad(c, "spec.updateStrategy", v[S_STRATEGY], "expected BlueGreen or Rolling");
    }
    const ynode_t *conc = NULL;
    if (v[S_BG] != NULL && parse_blue_green(c, v[S_BG], s, &conc) != 0)
        return -1;
    if (conc != NULL && s->concurrency > s->replicas) {
        char rule[96];
        snprintf(rule, sizeof rule, "expected at most spec.replicas (%u)", (unsigned)s->replicas);
        return bad(c, "spec.blueGreenUpdate.concurrency", conc, rule);
    }
    if (get_uint(c, "spec.phaseTimeoutSeconds", v[S_TIMEOUT], 1, FO_SECONDS_MAX,
                 &s->phase_timeout_s) != 0)
        return -1;
    if (v[S_LB] != NULL) {
        if (is(v[S_LB], "haproxy"))
            s->lb = FO_LB_HAPROXY;
        else if (is(v[S_LB], "kernel"))
            s->lb = FO_LB_KERNEL;
        else
            return bad(c, "spec.loadBalancer", v[S_LB], "expected haproxy or kernel");
    }
    return 0;
}

static int parse_root(ctx_t *c, const ynode_t *root, fo_spec_t *s)
{
    static const char *const names[] = {"apiVersion", "kind", "metadata", "spec"};
    const ynode_t *v[4];
    if (fields(c, "", root, names, 4, v) != 0)
        return -1;
    if (v[0] == NULL)
        return missing(c, "", "apiVersion", root);
    if (!is(v[0], FO_API_VERSION))
        return bad(c, "apiVersion", v[0], "expected " FO_API_VERSION);
    if (v[1] == NULL)
        return missing(c, "", "kind", root);
    if (!is(v[1], FO_KIND))
        return bad(c, "kind", v[1], "expected " FO_KIND);
    if (v[2] == NULL)
        return missing(c, "", "metadata", root);
    static const char *const meta_names[] = {"name"};
    const ynode_t *name;
    if (fields(c, "metadata", v[2], meta_names, 1, &name) != 0)
        return -1;
    if (name == NULL)
        return missing(c, "metadata", "name", v[2]);
    if (!is_text(name) || !dns_label(name))
        return bad(c, "metadata.name", name,
                   "expected 1 to 63 characters from a-z 0-9 -, not starting or ending with -");
    if (dup_text(c, name, &s->name) != 0)
        return -1;
    if (v[3] == NULL)
        return missing(c, "", "spec", root);
    return parse_spec(c, v[3], s);
}

/* ---- the public functions ---- */

void fo_spec_init(fo_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->strategy = FO_STRATEGY_BLUE_GREEN;
    s->lb = FO_LB_HAPROXY;
    s->phase_timeout_s = FO_DEF_PHASE_TIMEOUT;
    s->initial_delay_s = FO_DEF_INITIAL_DELAY;
    s->concurrency = FO_DEF_CONCURRENCY;
    s->wait_takeover_s = FO_DEF_WAIT_TAKEOVER;
    s->conn_evict_rate = FO_DEF_CONN_RATE;
    s->sess_evict_rate = FO_DEF_SESS_RATE;
}

void fo_spec_free(fo_spec_t *s)
{
    free(s->name);
    free(s->image);
    free(s->binary);
    for (size_t i = 0; i < s->n_config; i++) {
        free(s->config[i].key);
        free(s->config[i].value);
    }
    free(s->config);
    fo_spec_init(s);
}

int fo_spec_parse(fo_spec_t *out, const char *text, size_t len, const char *source, char *err,
                  size_t errlen)
{
    ctx_t c = {.src = source ? source : "<spec>", .err = err, .errlen = errlen};
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (text == NULL)
        len = 0;
    if (len > FO_SPEC_MAX_BYTES)
        return fail(&c, "document: %zu bytes, at most %u allowed (%s)", len, FO_SPEC_MAX_BYTES,
                    c.src);
    ynode_t *root = NULL;
    if (load_tree(&c, text ? text : "", len, &root) != 0)
        return -1;
    if (root == NULL || is_null(root)) {
        node_free(root);
        return fail(&c, "document: expected a " FO_KIND " mapping, got nothing (%s)", c.src);
    }
    fo_spec_t s;
    fo_spec_init(&s);
    int rc = parse_root(&c, root, &s);
    node_free(root);
    if (rc != 0) {
        fo_spec_free(&s);
        return -1;
    }
    fo_spec_free(out);
    *out = s;
    return 0;
}

int fo_spec_load_file(fo_spec_t *out, const char *path, char *err, size_t errlen)
{
    ctx_t c = {.src = path, .err = err, .errlen = errlen};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(&c, "%s: %s", path, strerror(errno));
    char *buf = malloc(FO_SPEC_MAX_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        return fail(&c, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, FO_SPEC_MAX_BYTES + 1, f);
    int rc;
    if (ferror(f))
        rc = fail(&c, "%s: read error", path);
    else if (n > FO_SPEC_MAX_BYTES)
        rc = fail(&c, "document: larger than %u bytes (%s)", FO_SPEC_MAX_BYTES, path);
    else
        rc = fo_spec_parse(out, buf, n, path, err, errlen);
    fclose(f);
    free(buf);
    return rc;
}

/* Strings are printable ASCII (the parser refuses anything else). */
static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void fo_spec_write(const fo_spec_t *s, FILE *f)
{
    fprintf(f, "apiVersion: %s\nkind: %s\nmetadata:\n  name: ", FO_API_VERSION, FO_KIND);
    put_str(f, s->name ? s->name : "");
    fprintf(f, "\nspec:\n  replicas: %u\n", (unsigned)s->replicas);
    if (s->image) {
        fputs("  image: ", f);
        put_str(f, s->image);
        fputc('\n', f);
    }
    if (s->binary) {
        fputs("  binary: ", f);
        put_str(f, s->binary);
        fputc('\n', f);
    }
    fputs(s->n_config ? "  config:\n" : "  config: {}\n", f);
    for (size_t i = 0; i < s->n_config; i++) {
        fprintf(f, "    %s: ", s->config[i].key);
        put_str(f, s->config[i].value);
        fputc('\n', f);
    }
    fprintf(f, "  updateStrategy: %s\n", fo_strategy_name(s->strategy));
    fprintf(f, "  phaseTimeoutSeconds: %u\n", (unsigned)s->phase_timeout_s);
    fprintf(f, "  loadBalancer: %s\n", fo_lb_name(s->lb));
    fprintf(f, "  blueGreenUpdate:\n    initialDelaySeconds: %u\n    concurrency: %u\n",
            (unsigned)s->initial_delay_s, (unsigned)s->concurrency);
    fprintf(f, "    evacuationStrategy:\n      waitTakeover: %u\n", (unsigned)s->wait_takeover_s);
    if (s->conn_evict_auto)
        fputs("      connEvictRate: auto\n", f);
    else
        fprintf(f, "      connEvictRate: %u\n", (unsigned)s->conn_evict_rate);
    fprintf(f, "      sessEvictRate: %u\n", (unsigned)s->sess_evict_rate);
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool fo_spec_equal(const fo_spec_t *a, const fo_spec_t *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->image, b->image) || !str_eq(a->binary, b->binary) ||
        a->replicas != b->replicas || a->n_config != b->n_config || a->strategy != b->strategy ||
        a->lb != b->lb || a->phase_timeout_s != b->phase_timeout_s ||
        a->initial_delay_s != b->initial_delay_s || a->concurrency != b->concurrency ||
        a->wait_takeover_s != b->wait_takeover_s || a->conn_evict_auto != b->conn_evict_auto ||
        a->conn_evict_rate != b->conn_evict_rate || a->sess_evict_rate != b->sess_evict_rate)
        return false;
    for (size_t i = 0; i < a->n_config; i++)
        if (!str_eq(a->config[i].key, b->config[i].key) ||
            !str_eq(a->config[i].value, b->config[i].value))
            return false;
    return true;
}

/* ---- the revision ---- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* A tag byte, then the length as 4 big-endian bytes, then the bytes. */
static uint64_t fnv_field(uint64_t h, char tag, const char *s)
{
    size_t n = strlen(s);
    unsigned char head[5] = {(unsigned char)tag, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                             (unsigned char)(n >> 8), (unsigned char)n};
    return fnv(fnv(h, head, sizeof head), s, n);
}

static int by_key(const void *a, const void *b)
{
    const fo_kv_t *x = *(const fo_kv_t *const *)a, *y = *(const fo_kv_t *const *)b;
    return strcmp(x->key, y->key);
}

uint64_t fo_spec_revision_hash(const fo_spec_t *s)
{
    static const char version[] = "ferrycluster-revision-1";
    uint64_t h = fnv(FNV_OFFSET, version, sizeof version); /* with its NUL */
    if (s->image)
        h = fnv_field(h, 'i', s->image);
    if (s->binary)
        h = fnv_field(h, 'b', s->binary);
    /* Sorted by name; at most FO_SPEC_MAX_CONFIG entries, so on the stack. */
    const fo_kv_t *sorted[FO_SPEC_MAX_CONFIG];
    size_t n = s->n_config < FO_SPEC_MAX_CONFIG ? s->n_config : FO_SPEC_MAX_CONFIG;
    for (size_t i = 0; i < n; i++)
        sorted[i] = &s->config[i];
    if (n > 1)
        qsort(sorted, n, sizeof sorted[0], by_key);
    for (size_t i = 0; i < n; i++) {
        h = fnv_field(h, 'k', sorted[i]->key);
        h = fnv_field(h, 'v', sorted[i]->value);
    }
    return h;
}

void fo_spec_revision(const fo_spec_t *s, char out[FO_REVISION_LEN + 1])
{
    snprintf(out, FO_REVISION_LEN + 1, "%010llx",
             (unsigned long long)(fo_spec_revision_hash(s) >> 24));
}

const char *fo_strategy_name(fo_strategy_t st)
{
    return st == FO_STRATEGY_ROLLING ? "Rolling" : "BlueGreen";
}

const char *fo_lb_name(fo_lb_t lb)
{
    return lb == FO_LB_KERNEL ? "kernel" : "haproxy";
}
