/* state.json <-> fo_memory_t (state.h). */
#include "operator/state.h"

#include "operator/json_in.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void reset(fo_memory_t *m)
{
    memset(m, 0, sizeof *m);
    m->step = -1;
}

/* Copies the string at key (absent: "") into dst; false when it is not a
 * string or does not fit. */
static bool get_str(json_t *o, const char *key, char *dst, size_t len)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        dst[0] = '\0';
        return true;
    }
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) >= len || strlen(s) != json_string_length(v))
        return false;
    memcpy(dst, s, json_string_length(v) + 1);
    return true;
}

static bool get_int(json_t *o, const char *key, int64_t *out, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

int fo_memory_parse(const char *text, size_t len, fo_memory_t *m, char *err, size_t errlen)
{
    reset(m);
    json_t *j = fo__json_in(text, len, FO_STATE_MAX_BYTES, err, errlen);
    if (!j)
        return -1;
    const char *bad = NULL;
    int64_t step = -1;
    char phase[32];
    if (!json_is_object(j))
        bad = "not a JSON object";
    else if (!get_str(j, "current_revision", m->current, sizeof m->current))
        bad = "current_revision";
    else if (!get_str(j, "target_revision", m->target, sizeof m->target))
        bad = "target_revision";
    else if (!get_str(j, "held_revision", m->held, sizeof m->held))
        bad = "held_revision";
    else if (!get_str(j, "held_reason", m->held_reason, sizeof m->held_reason))
        bad = "held_reason";
    else if (!get_str(j, "held_message", m->held_message, sizeof m->held_message))
        bad = "held_message";
    else if (!get_str(j, "phase", phase, sizeof phase) ||
             (phase[0] && !fo_phase_parse(phase, &m->phase)))
        bad = "phase";
    else if (!get_int(j, "phase_since_ms", &m->phase_since_ms, 0))
        bad = "phase_since_ms";
    else if (!get_int(j, "change_since_ms", &m->change_since_ms, 0))
        bad = "change_since_ms";
    else if (!get_int(j, "ready_since_ms", &m->ready_since_ms, 0))
        bad = "ready_since_ms";
    else if (!get_int(j, "step", &step, -1) || step < -1 || step >= (int64_t)FO_REPLICAS_MAX)
        bad = "step";
    m->step = (int32_t)step;
    json_t *f = json_object_get(j, "forgetting");
    if (!bad && f && (!json_is_array(f) || json_array_size(f) > FO_MAX_NODES))
        bad = "forgetting";
    size_t i;
    json_t *e;
    json_array_foreach(bad ? NULL : f, i, e)
    {
        fo_forget_t *g = &m->forgetting[m->n_forgetting];
        if (!json_is_object(e) || !get_str(e, "node", g->name, sizeof g->name) || !g->name[0] ||
            !get_int(e, "since_ms", &g->since_ms, 0)) {
            bad = "forgetting";
            break;
        }
        m->n_forgetting++;
    }
    json_decref(j);
    if (bad) {
        snprintf(err, errlen, "%s: not as state.json writes it", bad);
        reset(m);
        return -1;
    }
    return 0;
}

char *fo_memory_dump(const fo_memory_t *m)
{
    json_t *f = json_array();
    for (size_t i = 0; f && i < m->n_forgetting && i < FO_MAX_NODES; i++)
        json_array_append_new(f, json_pack("{s:s, s:I}", "node", m->forgetting[i].name, "since_ms",
                                           (json_int_t)m->forgetting[i].since_ms));
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:o*}", "current_revision", m->current,
        "target_revision", m->target, "held_revision", m->held, "held_reason", m->held_reason,
        "held_message", m->held_message, "phase", fo_phase_name(m->phase), "phase_since_ms",
        (json_int_t)m->phase_since_ms, "change_since_ms", (json_int_t)m->change_since_ms,
        "ready_since_ms", (json_int_t)m->ready_since_ms, "step", (int)m->step, "forgetting", f);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}
