/* node.json and the admin API's answers -> values (answers.h). */
#include "operator/answers.h"

#include "operator/json_in.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The string at key, copied when it is non-empty, has no NUL inside and
 * fits; false otherwise. */
static bool req_str(json_t *o, const char *key, char *dst, size_t len)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) == 0 || json_string_length(v) >= len ||
        strlen(s) != json_string_length(v))
        return false;
    memcpy(dst, s, json_string_length(v) + 1);
    return true;
}

static bool req_int(json_t *o, const char *key, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool req_bool(json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

int fo_node_rec_parse(const char *text, size_t len, fo_node_rec_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_t *j = fo__json_in(text, len, FO_ANSWER_MAX_BYTES, err, errlen);
    if (!j)
        return -1;
    int64_t ordinal = 0, slot = 0, restarts = 0, pid = 0;
    const char *bad = NULL;
    if (!json_is_object(j))
        bad = "not a JSON object";
    else if (!req_str(j, "name", r->name, sizeof r->name))
        bad = "name";
    else if (!req_str(j, "revision", r->revision, sizeof r->revision))
        bad = "revision";
    else if (!req_int(j, "ordinal", FO_REPLICAS_MAX - 1, &ordinal))
        bad = "ordinal";
    else if (!req_int(j, "slot", FO_MAX_NODES - 1, &slot))
        bad = "slot";
    else if (!req_int(j, "restarts", UINT32_MAX, &restarts))
        bad = "restarts";
    else if (!req_int(j, "pid", INT32_MAX, &pid))
        bad = "pid";
    else if (!req_bool(j, "ever_ready", &r->ever_ready))
        bad = "ever_ready";
    else if (!req_bool(j, "terminating", &r->terminating))
        bad = "terminating";
    else if (!req_int(j, "terminating_since_ms", INT64_MAX, &r->term_since_ms))
        bad = "terminating_since_ms";
    else if (!req_int(j, "started_ms", INT64_MAX, &r->started_ms))
        bad = "started_ms";
    json_decref(j);
    if (bad) {
        snprintf(err, errlen, "%s: not as node.json is written", bad);
        memset(r, 0, sizeof *r);
        return -1;
    }
    r->ordinal = (uint32_t)ordinal;
    r->slot = (uint32_t)slot;
    r->restarts = (uint32_t)restarts;
    r->pid = (int32_t)pid;
    return 0;
}

char *fo_node_rec_dump(const fo_node_rec_t *r)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:I}", "name", r->name,
                          "revision", r->revision, "ordinal", (json_int_t)r->ordinal, "slot",
                          (json_int_t)r->slot, "restarts", (json_int_t)r->restarts, "pid",
                          (json_int_t)r->pid, "ever_ready", r->ever_ready, "terminating",
                          r->terminating, "terminating_since_ms", (json_int_t)r->term_since_ms,
                          "started_ms", (json_int_t)r->started_ms);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}

static json_t *load(const char *body, size_t len)
{
    if (!body || len > FO_ANSWER_MAX_BYTES)
        return NULL;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* A count: an integer >= 0, else -1 (unknown). */
static int64_t count(json_t *o, const char *key)
{
    int64_t v;
    return req_int(o, key, INT64_MAX, &v) ? v : -1;
}

void fo_node_view_read(const char *node, size_t node_len, const char *evac, size_t evac_len,
                       const char *cluster, size_t cluster_len, fo_node_view_t *v)
{
    memset(v, 0, sizeof *v);
    v->conns = v->sessions = v->evac_since_ms = v->evac_conns = v->evac_sessions = -1;
    json_t *n = load(node, node_len), *e = load(evac, evac_len), *c = load(cluster, cluster_len);
    v->conns = count(n, "connections");
    v->sessions = count(n, "sessions");
    const char *st = json_string_value(json_object_get(e, "state"));
    if (!st || !fo_evac_state_parse(st, &v->evac))
        v->evac = FO_EVAC_NONE;
    if (v->evac != FO_EVAC_NONE) {
        json_t *stats = json_object_get(e, "stats");
        v->evac_conns = count(stats, "current_connected");
        v->evac_sessions = count(stats, "current_sessions");
        v->evac_since_ms = count(e, "state_since_ms");
        json_t *failed = json_object_get(e, "failed_sessions");
        size_t nf = json_is_array(failed) ? json_array_size(failed) : 0;
        v->failed_sessions = nf > UINT32_MAX ? UINT32_MAX : (uint32_t)nf;
    }
    json_t *list = json_object_get(c, "nodes");
    v->cluster_answered = json_is_array(list);
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
    {
        fo_member_t one;
        memset(&one, 0, sizeof one); /* compared whole, bytes after the name too */
        if (v->n_members >= FO_MAX_NODES)
            break;
        if (!req_str(m, "node", one.name, sizeof one.name))
            continue;
        one.up = json_is_true(json_object_get(m, "up"));
        bool dup = false;
        for (size_t k = 0; k < v->n_members && !dup; k++)
            dup = strcmp(v->members[k].name, one.name) == 0;
        if (!dup)
            v->members[v->n_members++] = one;
    }
    json_decref(n);
    json_decref(e);
    json_decref(c);
}

bool fo_node_view_sees(const fo_node_view_t *v, const char *name)
{
    for (size_t k = 0; k < v->n_members; k++)
        if (v->members[k].up && strcmp(v->members[k].name, name) == 0)
            return true;
    return false;
}
