/*
 * ferryctl's pure part, output side: the node's JSON answers as text
 * (key: value lines, tables for cluster and clients, the evacuation watch
 * views), ferry-operator's status.json as text (upgrade-status), or as
 * pretty JSON. Tolerant by design: a field the node does not
 * send shows as "-", a field we do not know is still printed, so ferryctl
 * keeps working with nodes a version ahead or behind. Every string from
 * the node passes ctl_sanitize before it reaches a terminal: client IDs
 * are chosen by MQTT clients, and an escape sequence in one must not drive
 * the operator's terminal.
 */
#include "ctl.h"

#include <stdlib.h>
#include <string.h>

#define CELL 128     /* bytes per table cell */
#define CELL_SHOW 40 /* longest cell shown; longer ones end in "..." */
#define MAX_COLS 8

void ctl_sanitize(const char *s, char *out, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return;
    for (; *s && i + 1 < n; s++)
        out[i++] = ((unsigned char)*s < 0x20 || *s == 0x7F) ? '?' : *s;
    /* Never end inside a UTF-8 sequence. */
    if (*s && i > 0 && ((unsigned char)out[i - 1] & 0x80)) {
        while (i > 0 && ((unsigned char)out[i - 1] & 0xC0) == 0x80)
            i--;
        if (i > 0 && ((unsigned char)out[i - 1] & 0xC0) == 0xC0)
            i--;
    }
    out[i] = '\0';
}

/* A scalar as text: strings sanitized, booleans yes/no, null "-". */
static void scalar(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        ctl_sanitize(json_string_value(v), buf, n);
        if (!buf[0])
            snprintf(buf, n, "\"\"");
        break;
    case JSON_INTEGER:
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, n, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(buf, n, "yes");
        break;
    case JSON_FALSE:
        snprintf(buf, n, "no");
        break;
    default:
        snprintf(buf, n, "-");
        break;
    }
}

static bool is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* Display width: UTF-8 code points. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void pad(FILE *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(' ', f);
}

static void print_value_line(FILE *f, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0) {
        /* Whole, however long (a client ID may have 65535 bytes). */
        for (const char *s = json_string_value(v); *s; s++)
            fputc(((unsigned char)*s < 0x20 || *s == 0x7F) ? '?' : *s, f);
        fputc('\n', f);
        return;
    }
    char buf[64];
    scalar(v, buf, sizeof buf);
    fprintf(f, "%s\n", buf);
}

static void print_object(FILE *f, const json_t *obj, int indent, bool dash);

/* A value that fits on its key's line: a scalar, an empty object, or an
 * array of scalars. */
static bool one_line(const json_t *v)
{
    if (json_is_object(v))
        return json_object_size(v) == 0;
    if (!json_is_array(v))
        return true;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!is_scalar(json_array_get(v, i)))
            return false;
    return true;
}

static void print_one_line(FILE *f, const json_t *v)
{
    if (json_is_object(v) || (json_is_array(v) && json_array_size(v) == 0)) {
        fputs("-\n", f);
    } else if (json_is_array(v)) {
        char buf[1024];
        for (size_t i = 0; i < json_array_size(v); i++) {
            scalar(json_array_get(v, i), buf, sizeof buf);
            fprintf(f, "%s%s", i ? ", " : "", buf);
        }
        fputc('\n', f);
    } else {
        print_value_line(f, v);
    }
}

/* The elements of an array that does not fit on one line, as "- " items. */
static void print_list(FILE *f, const json_t *arr, int indent)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (json_is_object(e) && json_object_size(e) > 0) {
            print_object(f, e, indent + 4, true);
            continue;
        }
        pad(f, (size_t)indent + 2);
        fputs("- ", f);
        if (json_is_array(e)) {
            char *text = json_dumps(e, JSON_COMPACT);
            char buf[1024];
            ctl_sanitize(text ? text : "?", buf, sizeof buf);
            free(text);
            fprintf(f, "%s\n", buf);
        } else {
            print_one_line(f, e);
        }
    }
}

/* key: value lines (values that fit aligned), nested objects indented,
 * lists as "- " items; dash: the first line starts with "- " (an element
 * of a list). */
static void print_object(FILE *f, const json_t *obj, int indent, bool dash)
{
    const char *key;
    const json_t *v;
    size_t w = 0;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t kw = width(key);
        if (one_line(v) && kw > w)
            w = kw < 32 ? kw : 32;
    }
    bool first = true;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (first && dash) {
            pad(f, (size_t)indent - 2);
            fputs("- ", f);
        } else {
            pad(f, (size_t)indent);
        }
        first = false;
        char k[256];
        ctl_sanitize(key, k, sizeof k);
        fprintf(f, "%s:", k);
        if (one_line(v)) {
            size_t kw = width(k);
            pad(f, 1 + (w > kw ? w - kw : 0));
            print_one_line(f, v);
        } else if (json_is_object(v)) {
            fputc('\n', f);
            print_object(f, v, indent + 2, false);
        } else {
            fputc('\n', f);
            print_list(f, v, indent);
        }
    }
}

/* ------------------------------------------------------------ tables */

typedef struct table {
    size_t ncols, nrows, cap;
    char (*cells)[CELL]; /* row-major; row 0 is the header */
} table_t;

static char *cell(table_t *t, size_t row, size_t col)
{
    return t->cells[row * t->ncols + col];
}

static bool table_add_row(table_t *t)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        void *p = realloc(t->cells, cap * t->ncols * CELL);
        if (!p)
            return false;
        t->cells = p;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++)
        snprintf(cell(t, t->nrows, c), CELL, "-");
    t->nrows++;
    return true;
}

/* Field key of obj into the cell, cut to CELL_SHOW with "...". */
static void table_set(table_t *t, size_t col, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    char *out = cell(t, t->nrows - 1, col);
    if (!v || !is_scalar(v))
        return;
    char buf[CELL * 4];
    scalar(v, buf, sizeof buf);
    if (width(buf) > CELL_SHOW) {
        ctl_sanitize(buf, out, CELL_SHOW - 2); /* whole characters only */
        strcat(out, "...");
    } else {
        ctl_sanitize(buf, out, CELL);
    }
}

/* Text into the cell, sanitized, cut with "..." when it does not fit. */
static void table_put(table_t *t, size_t col, const char *text)
{
    char *out = cell(t, t->nrows - 1, col);
    ctl_sanitize(text, out, CELL);
    if (strlen(text) >= CELL) {
        ctl_sanitize(text, out, CELL - 3);
        strcat(out, "...");
    }
}

static void table_print(FILE *f, const table_t *t, int indent)
{
    size_t w[MAX_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        pad(f, (size_t)indent);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            fputs(s, f);
            if (c + 1 < t->ncols)
                pad(f, w[c] - width(s) + 2);
        }
        fputc('\n', f);
    }
}

static void table_header(table_t *t, const char *const *names, size_t n)
{
    t->ncols = n;
    if (!table_add_row(t))
        return;
    for (size_t c = 0; c < n; c++)
        snprintf(cell(t, 0, c), CELL, "%s", names[c]);
}

static void print_cluster(FILE *f, const json_t *j)
{
    static const char *const head[] = {"NODE",    "LINK",  "CONNECTIONS", "SESSIONS",
                                       "OFFLINE", "AGENT", "AVAILABLE",   "CLIENT ADDRESS"};
    const json_t *nodes = json_object_get(j, "nodes");
    const json_t *name = json_object_get(j, "cluster");
    char buf[256] = "-";
    if (json_is_string(name) && json_string_length(name) > 0)
        ctl_sanitize(json_string_value(name), buf, sizeof buf);
    fprintf(f, "cluster: %s (%zu node%s)\n", buf, json_array_size(nodes),
            json_array_size(nodes) == 1 ? "" : "s");
    table_t t = {0};
    table_header(&t, head, MAX_COLS);
    size_t i;
    const json_t *n;
    json_array_foreach(nodes, i, n)
    {
        if (!table_add_row(&t))
            break;
        table_set(&t, 0, n, "node");
        const json_t *st = json_object_get(n, "state"), *up = json_object_get(n, "up");
        if (json_is_true(json_object_get(n, "self")))
            snprintf(cell(&t, t.nrows - 1, 1), CELL, "self");
        else if (json_is_string(st))
            table_set(&t, 1, n, "state");
        else if (json_is_boolean(up))
            snprintf(cell(&t, t.nrows - 1, 1), CELL, "%s", json_is_true(up) ? "up" : "down");
        table_set(&t, 2, n, "connections");
        table_set(&t, 3, n, "sessions");
        table_set(&t, 4, n, "offline_sessions");
        table_set(&t, 5, n, "agent");
        table_set(&t, 6, n, "available");
        table_set(&t, 7, n, "client_addr");
    }
    table_print(f, &t, 0);
    free(t.cells);
}

static void print_clients(FILE *f, const json_t *j)
{
    static const char *const head[] = {"CLIENT ID", "CONNECTED", "PROTOCOL", "EXPIRY S",
                                       "SUBS",      "INFLIGHT",  "QUEUED",   "DROPPED"};
    const json_t *data = json_object_get(j, "data");
    size_t i;
    const json_t *c;
    if (json_array_size(data) > 0) {
        table_t t = {0};
        table_header(&t, head, MAX_COLS);
        json_array_foreach(data, i, c)
        {
            if (!table_add_row(&t))
                break;
            table_set(&t, 0, c, "client_id");
            table_set(&t, 1, c, "connected");
            table_set(&t, 2, c, "protocol");
            table_set(&t, 3, c, "session_expiry_s");
            table_set(&t, 4, c, "subscriptions");
            table_set(&t, 5, c, "inflight");
            table_set(&t, 6, c, "queued");
            table_set(&t, 7, c, "dropped");
        }
        table_print(f, &t, 0);
        free(t.cells);
    } else {
        fputs("no clients on this page\n", f);
    }
    json_int_t page = json_integer_value(json_object_get(j, "page"));
    const json_t *total = json_object_get(j, "total");
    if (!total)
        total = json_object_get(j, "count");
    fprintf(f, "page %" JSON_INTEGER_FORMAT ", %zu shown", page ? page : 1, json_array_size(data));
    if (json_is_integer(total))
        fprintf(f, ", %" JSON_INTEGER_FORMAT " in all", json_integer_value(total));
    fputc('\n', f);
}

/* ------------------------------------------------------------- watch */

static json_int_t geti(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *gets_(const json_t *o, const char *k, char *buf, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        snprintf(buf, n, "-");
    else
        ctl_sanitize(json_string_value(v), buf, n);
    return buf;
}

/* Share done of initial, 0..100 (100 when there was nothing to do). */
static int percent(json_int_t current, json_int_t initial)
{
    if (initial <= 0)
        return 100;
    if (current <= 0)
        return 100;
    if (current >= initial)
        return 0;
    return (int)((initial - current) * 100 / initial);
}

static void bar(FILE *f, int pct)
{
    enum { W = 24 };
    int fill = pct * W / 100;
    fputc('[', f);
    for (int i = 0; i < W; i++)
        fputc(i < fill ? '#' : '.', f);
    fprintf(f, "] %3d%%", pct);
}

static void rate_text(const json_t *j, char *buf, size_t n)
{
    const json_t *now = json_object_get(j, "conn_evict_rate_now");
    const json_t *given = json_object_get(j, "conn_evict_rate");
    char g[32];
    if (json_is_integer(given) || json_is_string(given))
        scalar(given, g, sizeof g);
    else
        snprintf(g, sizeof g, "-");
    if (json_is_integer(now))
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT "/s (given: %s)", json_integer_value(now), g);
    else
        snprintf(buf, n, "- (given: %s)", g);
}

int ctl_watch_frame(FILE *f, const json_t *j, double elapsed_s)
{
    char a[256], b[256], r[96];
    const char *status = gets_(j, "status", a, sizeof a);
    if (strcmp(status, "enabled") != 0) {
        fprintf(f, "evacuation: %s (%.0f s)\n", status, elapsed_s);
        return 1;
    }
    const json_t *st = json_object_get(j, "stats");
    json_int_t ic = geti(st, "initial_connected"), cc = geti(st, "current_connected");
    json_int_t is = geti(st, "initial_sessions"), cs = geti(st, "current_sessions");
    gets_(j, "node", a, sizeof a);
    fprintf(f, "evacuation of %s: %s (%.0f s)\n", a, gets_(j, "state", b, sizeof b), elapsed_s);
    fprintf(f, "  connections %7" JSON_INTEGER_FORMAT " / %-7" JSON_INTEGER_FORMAT " ", cc, ic);
    bar(f, percent(cc, ic));
    fprintf(f, "\n  sessions    %7" JSON_INTEGER_FORMAT " / %-7" JSON_INTEGER_FORMAT " ", cs, is);
    bar(f, percent(cs, is));
    rate_text(j, r, sizeof r);
    fprintf(f,
            "\n  evicted %" JSON_INTEGER_FORMAT "   migrated %" JSON_INTEGER_FORMAT
            "   failed %" JSON_INTEGER_FORMAT "\n  rate now %s\n",
            geti(st, "conns_evicted"), geti(st, "sessions_migrated"), geti(st, "sessions_failed"),
            r);
    return 5;
}

void ctl_watch_line(FILE *f, const json_t *j, double elapsed_s)
{
    char a[256], b[256];
    const char *status = gets_(j, "status", a, sizeof a);
    fprintf(f, "t=%.0fs status=%s", elapsed_s, status);
    if (strcmp(status, "enabled") == 0) {
        const json_t *st = json_object_get(j, "stats");
        const json_t *now = json_object_get(j, "conn_evict_rate_now");
        fprintf(f,
                " state=%s conns=%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
                " sessions=%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
                " evicted=%" JSON_INTEGER_FORMAT " migrated=%" JSON_INTEGER_FORMAT
                " failed=%" JSON_INTEGER_FORMAT,
                gets_(j, "state", b, sizeof b), geti(st, "current_connected"),
                geti(st, "initial_connected"), geti(st, "current_sessions"),
                geti(st, "initial_sessions"), geti(st, "conns_evicted"),
                geti(st, "sessions_migrated"), geti(st, "sessions_failed"));
        if (json_is_integer(now))
            fprintf(f, " rate=%" JSON_INTEGER_FORMAT "/s", json_integer_value(now));
        else
            fputs(" rate=-", f);
    }
    fputc('\n', f);
}

/* ---------------------------------------------------- upgrade-status */

/* A string field, sanitized; "-" when missing or empty. */
static const char *text_of(const json_t *o, const char *k, char *buf, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_string(v) || json_string_length(v) == 0)
        snprintf(buf, n, "-");
    else
        ctl_sanitize(json_string_value(v), buf, n);
    return buf;
}

/* A count; "-" when missing or negative (the controller's "not known"). */
static const char *count_of(const json_t *o, const char *k, char *buf, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
}

/* now - since (wall-clock ms) as 42s, 3m05s, 2h07m or 3d04h; "-" when
 * since is missing. */
static const char *age_of(const json_t *o, const char *k, long long now_ms, char *buf, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    long long s = (now_ms - (long long)json_integer_value(v)) / 1000;
    if (s < 0)
        s = 0; /* a clock a little ahead of ours */
    if (s < 120)
        snprintf(buf, n, "%llds", s);
    else if (s < 7200)
        snprintf(buf, n, "%lldm%02llds", s / 60, s % 60);
    else if (s < 172800)
        snprintf(buf, n, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else
        snprintf(buf, n, "%lldd%02lldh", s / 86400, s / 3600 % 24);
    return buf;
}

/* down, starting or ready, from running and ready. */
static const char *node_state(const json_t *node)
{
    const json_t *running = json_object_get(node, "running");
    if (!json_is_boolean(running))
        return "-";
    if (!json_is_true(running))
        return "down";
    return json_is_true(json_object_get(node, "ready")) ? "ready" : "starting";
}

long long ctl_upgrade_stale_s(const json_t *j, long long now_ms)
{
    const json_t *v = json_object_get(j, "updated_ms");
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return -1;
    long long age = now_ms - (long long)json_integer_value(v);
    return age > CTL_STALE_MS ? age / 1000 : -1;
}

static void print_conditions(FILE *f, const json_t *conds, long long now_ms)
{
    static const char *const head[] = {"TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"};
    if (json_array_size(conds) == 0) {
        fputs("conditions: -\n", f);
        return;
    }
    fputs("conditions:\n", f);
    table_t t = {0};
    table_header(&t, head, sizeof head / sizeof head[0]);
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        char buf[CELL * 4];
        if (!table_add_row(&t))
            break;
        table_set(&t, 0, c, "type");
        table_set(&t, 1, c, "status");
        table_set(&t, 2, c, "reason");
        table_put(&t, 3, age_of(c, "last_transition_ms", now_ms, buf, sizeof buf));
        table_put(&t, 4, text_of(c, "message", buf, sizeof buf));
    }
    table_print(f, &t, 2);
    free(t.cells);
}

static void print_upgrade_nodes(FILE *f, const json_t *nodes)
{
    static const char *const head[] = {"NODE",        "ROLE",     "STATE",    "ROUTED",
                                       "CONNECTIONS", "SESSIONS", "RESTARTS", "EVACUATION"};
    if (json_array_size(nodes) == 0) {
        fputs("nodes:      none\n", f);
        return;
    }
    fprintf(f, "nodes:      %zu\n", json_array_size(nodes));
    table_t t = {0};
    table_header(&t, head, sizeof head / sizeof head[0]);
    size_t i;
    const json_t *n;
    json_array_foreach(nodes, i, n)
    {
        if (!table_add_row(&t))
            break;
        char a[64], b[64], c[64], st[64], ev[CELL];
        table_set(&t, 0, n, "name");
        table_set(&t, 1, n, "role");
        table_put(&t, 2, node_state(n));
        table_set(&t, 3, n, "routed");
        table_put(&t, 4, count_of(n, "connections", a, sizeof a));
        table_put(&t, 5, count_of(n, "sessions", a, sizeof a));
        table_put(&t, 6, count_of(n, "restarts", a, sizeof a));
        const json_t *e = json_object_get(n, "evacuation");
        if (json_is_object(e)) {
            snprintf(ev, sizeof ev, "%s: %s conns, %s sessions left, %s failed",
                     text_of(e, "state", st, sizeof st), count_of(e, "connections", a, sizeof a),
                     count_of(e, "sessions", b, sizeof b),
                     count_of(e, "failed_sessions", c, sizeof c));
            table_put(&t, 7, ev);
        }
    }
    table_print(f, &t, 2);
    free(t.cells);
}

void ctl_upgrade_view(FILE *f, const json_t *j, long long now_ms)
{
    char a[256], b[256], c[256], d[256];
    const json_t *replicas = json_object_get(j, "replicas");
    fprintf(f, "cluster:    %s (%s, ", text_of(j, "name", a, sizeof a),
            text_of(j, "strategy", b, sizeof b));
    if (json_is_integer(replicas))
        fprintf(f, "%" JSON_INTEGER_FORMAT " replica%s", json_integer_value(replicas),
                json_integer_value(replicas) == 1 ? "" : "s");
    else
        fputs("- replicas", f);
    fprintf(f, ", image %s)\n", text_of(j, "image", a, sizeof a));
    fprintf(f, "phase:      %s for %s\n", text_of(j, "phase", a, sizeof a),
            age_of(j, "phase_since_ms", now_ms, b, sizeof b));
    fprintf(f, "revisions:  current %s, target %s, spec %s\n",
            text_of(j, "current_revision", a, sizeof a), text_of(j, "target_revision", b, sizeof b),
            text_of(j, "spec_revision", c, sizeof c));
    const json_t *held = json_object_get(j, "held");
    if (json_is_object(held)) {
        fprintf(f, "held:       %s (%s): %s\n", text_of(held, "revision", a, sizeof a),
                text_of(held, "reason", b, sizeof b), text_of(held, "message", c, sizeof c));
    }
    const json_t *lb = json_object_get(j, "load_balancer");
    const json_t *running = json_object_get(lb, "running");
    fprintf(f, "service:    %s via %s (%s)\n", text_of(lb, "service", a, sizeof a),
            text_of(lb, "kind", b, sizeof b),
            !json_is_boolean(running) ? "-"
            : json_is_true(running)   ? "running"
                                      : "NOT RUNNING");
    fprintf(f, "updated:    %s ago\n", age_of(j, "updated_ms", now_ms, d, sizeof d));
    print_conditions(f, json_object_get(j, "conditions"), now_ms);
    print_upgrade_nodes(f, json_object_get(j, "nodes"));
}

void ctl_upgrade_line(FILE *f, const json_t *j, long long now_ms, double elapsed_s)
{
    char a[256], b[256], c[256];
    fprintf(f, "t=%.0fs phase=%s for=%s", elapsed_s, text_of(j, "phase", a, sizeof a),
            age_of(j, "phase_since_ms", now_ms, b, sizeof b));
    fprintf(f, " current=%s target=%s spec=%s", text_of(j, "current_revision", a, sizeof a),
            text_of(j, "target_revision", b, sizeof b), text_of(j, "spec_revision", c, sizeof c));
    const json_t *held = json_object_get(j, "held");
    if (json_is_object(held))
        fprintf(f, " held=%s", text_of(held, "revision", a, sizeof a));
    long long stale = ctl_upgrade_stale_s(j, now_ms);
    if (stale >= 0)
        fprintf(f, " stale=%llds", stale);
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(j, "nodes"), i, n)
    {
        fprintf(f, " %s=%s,%s,%s", text_of(n, "name", a, sizeof a), text_of(n, "role", b, sizeof b),
                node_state(n), json_is_true(json_object_get(n, "routed")) ? "routed" : "unrouted");
        fprintf(f, ",conns=%s", count_of(n, "connections", a, sizeof a));
        fprintf(f, ",sessions=%s", count_of(n, "sessions", a, sizeof a));
        const json_t *e = json_object_get(n, "evacuation");
        if (json_is_object(e))
            fprintf(f, ",evacuation=%s", text_of(e, "state", a, sizeof a));
    }
    fputc('\n', f);
}

/* ------------------------------------------------------------- entry */

void ctl_print_json(FILE *f, const json_t *j, bool compact)
{
    char *text = json_dumps(j, (compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_ENCODE_ANY);
    if (text) {
        fprintf(f, "%s\n", text);
        free(text);
    }
}

void ctl_print_text(FILE *f, ctl_cmd_t cmd, const json_t *j)
{
    if (cmd == CTL_CMD_CLUSTER && json_is_array(json_object_get(j, "nodes"))) {
        print_cluster(f, j);
    } else if (cmd == CTL_CMD_CLIENTS && json_is_array(json_object_get(j, "data"))) {
        print_clients(f, j);
    } else if (json_is_object(j)) {
        print_object(f, j, 0, false);
    } else {
        ctl_print_json(f, j, false);
    }
}

const char *ctl_error_text(const char *body, size_t len, char *buf, size_t n)
{
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *e = json_object_get(j, "error");
    if (!json_is_string(e))
        e = json_object_get(j, "message");
    if (json_is_string(e)) {
        ctl_sanitize(json_string_value(e), buf, n);
    } else if (body && len) {
        char tmp[201];
        size_t k = len < 200 ? len : 200;
        memcpy(tmp, body, k);
        tmp[k] = '\0';
        ctl_sanitize(tmp, buf, n);
    } else {
        snprintf(buf, n, "(empty answer)");
    }
    json_decref(j);
    return buf;
}
