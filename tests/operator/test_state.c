/*
 * Unit tests of state.json <-> fo_memory_t (src/operator/state.c): a full
 * memory round trip, defaults of an empty object, and every refusal leaving
 * a new memory behind.
 */
#include "check.h"
#include "operator/state.h"

static fo_memory_t full(void)
{
    fo_memory_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.current, sizeof m.current, "a828fe94ef");
    snprintf(m.target, sizeof m.target, "e864f7dbfc");
    snprintf(m.held, sizeof m.held, "0123456789");
    snprintf(m.held_reason, sizeof m.held_reason, "GreenNotReady");
    snprintf(m.held_message, sizeof m.held_message, "not ready after 5 s: demo-0123456789-0");
    m.phase = FO_PHASE_EVACUATING;
    m.phase_since_ms = 1795528699000;
    m.change_since_ms = 1795528694000;
    m.ready_since_ms = 1795528696000;
    m.step = 2;
    m.n_forgetting = 2;
    snprintf(m.forgetting[0].name, FO_NODE_NAME_MAX, "demo-a828fe94ef-2");
    m.forgetting[0].since_ms = 17;
    snprintf(m.forgetting[1].name, FO_NODE_NAME_MAX, "demo-a828fe94ef-1");
    m.forgetting[1].since_ms = 18;
    return m;
}

static void test_round_trip(void)
{
    fo_memory_t m = full(), back;
    char *text = fo_memory_dump(&m);
    REQUIRE(text != NULL);
    char err[256];
    CHECK_EQ_INT(fo_memory_parse(text, strlen(text), &back, err, sizeof err), 0);
    CHECK(memcmp(&m, &back, sizeof m) == 0);
    CHECK(strstr(text, "\"phase\": \"Evacuating\"") != NULL);
    free(text);
}

static void test_empty_object_is_a_new_memory(void)
{
    fo_memory_t m;
    char err[256];
    CHECK_EQ_INT(fo_memory_parse("{}", 2, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.step, -1);
    CHECK_EQ_INT(m.phase, FO_PHASE_PENDING);
    CHECK_EQ_STR(m.current, "");
    CHECK_EQ_INT((int)m.n_forgetting, 0);
}

static void refused(const char *text, const char *want)
{
    fo_memory_t m = full(), fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.step = -1;
    char err[256] = "";
    CHECK_EQ_INT(fo_memory_parse(text, strlen(text), &m, err, sizeof err), -1);
    CHECK(memcmp(&m, &fresh, sizeof m) == 0);
    if (!CHECK(strstr(err, want) != NULL))
        fprintf(stderr, "    text %s: error \"%s\", wanted \"%s\"\n", text, err, want);
}

static void test_refusals(void)
{
    refused("", "line");
    refused("[1]", "not a JSON object");
    refused("{\"phase\": \"Dancing\"}", "phase");
    refused("{\"current_revision\": \"a828fe94ef0\"}", "current_revision"); /* 11 > 10 */
    refused("{\"target_revision\": 7}", "target_revision");
    refused("{\"held_reason\": \"a reason far longer than its field\"}", "held_reason");
    refused("{\"step\": 64}", "step");
    refused("{\"step\": -2}", "step");
    refused("{\"phase_since_ms\": \"soon\"}", "phase_since_ms");
    refused("{\"phase\": \"Running\", \"phase\": \"Pending\"}", "duplicate");
    refused("{\"forgetting\": {\"node\": \"x\"}}", "forgetting");
    refused("{\"forgetting\": [{\"node\": \"\"}]}", "forgetting");
    refused("{\"forgetting\": [{\"since_ms\": 1}]}", "forgetting");
    refused("{\"current_revision\": \"a\\u0000b\"}", "line 1"); /* jansson refuses NUL */
}

static void test_forgetting_bound(void)
{
    /* FO_MAX_NODES entries are fine, one more is refused. */
    size_t cap = 64 + (size_t)(FO_MAX_NODES + 1) * 40;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    for (unsigned n = FO_MAX_NODES; n <= FO_MAX_NODES + 1; n++) {
        size_t l = (size_t)snprintf(text, cap, "{\"forgetting\": [");
        for (unsigned i = 0; i < n; i++)
            l += (size_t)snprintf(text + l, cap - l, "%s{\"node\": \"n-%u\"}", i ? "," : "", i);
        snprintf(text + l, cap - l, "]}");
        fo_memory_t m;
        char err[256];
        CHECK_EQ_INT(fo_memory_parse(text, strlen(text), &m, err, sizeof err),
                     n == FO_MAX_NODES ? 0 : -1);
    }
    free(text);
}

CHECK_MAIN(T(test_round_trip), T(test_empty_object_is_a_new_memory), T(test_refusals),
           T(test_forgetting_bound))
