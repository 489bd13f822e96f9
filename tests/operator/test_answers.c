/*
 * Unit tests of src/operator/answers.c: node.json round trip and refusals,
 * and a node's admin API answers read into a view (counts, evacuation,
 * members), with every malformed answer reading as unknown.
 */
#include "check.h"
#include "operator/answers.h"

static fo_node_rec_t rec(void)
{
    fo_node_rec_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "demo-a828fe94ef-2");
    snprintf(r.revision, sizeof r.revision, "a828fe94ef");
    r.ordinal = 2;
    r.slot = 5;
    r.restarts = 1;
    r.pid = 4242;
    r.ever_ready = true;
    r.terminating = true;
    r.term_since_ms = 1795528699000;
    r.started_ms = 1795528690000;
    return r;
}

static void test_node_rec_round_trip(void)
{
    fo_node_rec_t r = rec(), back;
    char *text = fo_node_rec_dump(&r);
    REQUIRE(text != NULL);
    char err[256];
    CHECK_EQ_INT(fo_node_rec_parse(text, strlen(text), &back, err, sizeof err), 0);
    CHECK(memcmp(&r, &back, sizeof r) == 0);
    CHECK(strstr(text, "\"slot\": 5") != NULL);
    free(text);
}

/* rec() as node.json, with the field `key` given `value` (NULL: left out). */
static void node_rec_refused(const char *key, const char *value, const char *want)
{
    static const char *const fields[][2] = {
        {"name", "\"demo-a828fe94ef-2\""}, {"revision", "\"a828fe94ef\""},
        {"ordinal", "2"}, {"slot", "5"}, {"restarts", "1"}, {"pid", "4242"},
        {"ever_ready", "true"}, {"terminating", "true"},
        {"terminating_since_ms", "1795528699000"}, {"started_ms", "1795528690000"}};
    char text[1024];
    size_t l = (size_t)snprintf(text, sizeof text, "{");
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        bool mine = strcmp(fields[i][0], key) == 0;
        if (mine && !value)
            continue;
        l += (size_t)snprintf(text + l, sizeof text - l, "%s\"%s\": %s", l > 1 ? ", " : "",
                              fields[i][0], mine ? value : fields[i][1]);
    }
    snprintf(text + l, sizeof text - l, "}");
    fo_node_rec_t r = rec(), zero;
    memset(&zero, 0, sizeof zero);
    char err[256] = "";
    CHECK_EQ_INT(fo_node_rec_parse(text, strlen(text), &r, err, sizeof err), -1);
    CHECK(memcmp(&r, &zero, sizeof r) == 0);
    if (!CHECK(strstr(err, want) != NULL))
        fprintf(stderr, "    %s: error \"%s\", wanted \"%s\"\n", text, err, want);
}

static void test_node_rec_refusals(void)
{
    node_rec_refused("name", NULL, "name");
    node_rec_refused("name", "\"\"", "name");
    node_rec_refused("revision", "\"a828fe94ef0\"", "revision"); /* 11 > 10 */
    node_rec_refused("ordinal", "-1", "ordinal");
    node_rec_refused("ordinal", "64", "ordinal");
    node_rec_refused("slot", "256", "slot");
    node_rec_refused("slot", "\"5\"", "slot");
    node_rec_refused("pid", "2147483648", "pid");
    node_rec_refused("restarts", "1.5", "restarts");
    node_rec_refused("ever_ready", "1", "ever_ready");
    node_rec_refused("terminating", NULL, "terminating");
    node_rec_refused("started_ms", "-5", "started_ms");
    node_rec_refused("terminating_since_ms", "null", "terminating_since_ms");
    fo_node_rec_t r;
    char err[256];
    CHECK_EQ_INT(fo_node_rec_parse("[]", 2, &r, err, sizeof err), -1);
    CHECK(strstr(err, "not a JSON object") != NULL);
    CHECK_EQ_INT(fo_node_rec_parse("{\"name\":", 8, &r, err, sizeof err), -1);
    CHECK(strstr(err, "line 1") != NULL);
    /* jansson quotes the input near an error, a raw newline included: the
     * error stays one printable line (fuzz_node_rec's finding). */
    const char *nl = "{\"na\\\n\": 1}"; /* a backslash, then a newline */
    CHECK_EQ_INT(fo_node_rec_parse(nl, strlen(nl), &r, err, sizeof err), -1);
    CHECK(strchr(err, '\n') == NULL && strstr(err, "invalid escape") != NULL);
    const char *dup = "{\"name\": \"a\", \"name\": \"b\"}";
    CHECK_EQ_INT(fo_node_rec_parse(dup, strlen(dup), &r, err, sizeof err), -1);
    CHECK(strstr(err, "duplicate") != NULL);
}

static fo_node_view_t v; /* large: not on the stack */

static void read3(const char *node, const char *evac, const char *cluster)
{
    fo_node_view_read(node, node ? strlen(node) : 0, evac, evac ? strlen(evac) : 0, cluster,
                      cluster ? strlen(cluster) : 0, &v);
}

static void test_view_of_a_serving_node(void)
{
    read3("{\"node\":\"n1\",\"connections\":667,\"sessions\":670,\"available\":true}",
          "{\"status\":\"disabled\"}",
          "{\"nodes\":[{\"node\":\"n1\",\"self\":true},{\"node\":\"n2\",\"up\":true},"
          "{\"node\":\"n3\",\"up\":false},{\"node\":\"n2\",\"up\":false}]}");
    CHECK_EQ_INT((int)v.conns, 667);
    CHECK_EQ_INT((int)v.sessions, 670);
    CHECK_EQ_INT(v.evac, FO_EVAC_NONE);
    CHECK_EQ_INT((int)v.evac_conns, -1);
    CHECK(v.cluster_answered);
    CHECK_EQ_INT((int)v.n_members, 3); /* n2 listed twice: once */
    CHECK(fo_node_view_sees(&v, "n2"));
    CHECK(!fo_node_view_sees(&v, "n3")); /* listed, link down */
    CHECK(!fo_node_view_sees(&v, "n4"));
}

static void test_view_of_an_evacuating_node(void)
{
    read3("{\"connections\":412,\"sessions\":667}",
          "{\"status\":\"enabled\",\"process\":\"evacuation\",\"node\":\"n1\","
          "\"state\":\"evicting_conns\",\"state_since_ms\":1764000003000,"
          "\"stats\":{\"initial_connected\":667,\"current_connected\":412,"
          "\"current_sessions\":667},\"failed_sessions\":[\"a\",\"b\"]}",
          NULL);
    CHECK_EQ_INT(v.evac, FO_EVAC_EVICTING_CONNS);
    CHECK_EQ_INT((int)v.evac_conns, 412);
    CHECK_EQ_INT((int)v.evac_sessions, 667);
    CHECK(v.evac_since_ms == 1764000003000);
    CHECK_EQ_INT((int)v.failed_sessions, 2);
    CHECK(!v.cluster_answered);
    CHECK_EQ_INT((int)v.n_members, 0);
}

static void test_malformed_answers_read_as_unknown(void)
{
    read3(NULL, NULL, NULL);
    CHECK_EQ_INT((int)v.conns, -1);
    CHECK_EQ_INT((int)v.sessions, -1);
    CHECK_EQ_INT(v.evac, FO_EVAC_NONE);
    CHECK(!v.cluster_answered);
    read3("{\"connections\":-3,\"sessions\":\"many\"}", "{\"state\":\"dancing\"}",
          "{\"nodes\":{\"node\":\"n2\"}}");
    CHECK_EQ_INT((int)v.conns, -1);
    CHECK_EQ_INT((int)v.sessions, -1);
    CHECK_EQ_INT(v.evac, FO_EVAC_NONE);
    CHECK(!v.cluster_answered); /* "nodes" is not an array */
    read3("[667]", "{\"state\":\"prohibiting\",\"stats\":[1],\"failed_sessions\":7}",
          "{\"nodes\":[7,{\"node\":5,\"up\":true},{\"up\":true},{\"node\":\"\",\"up\":true},"
          "{\"node\":\"n2\",\"up\":\"yes\"}]}");
    CHECK_EQ_INT((int)v.conns, -1);
    CHECK_EQ_INT(v.evac, FO_EVAC_PROHIBITING);
    CHECK_EQ_INT((int)v.evac_conns, -1); /* stats not an object */
    CHECK_EQ_INT((int)v.failed_sessions, 0);
    CHECK(v.cluster_answered);
    CHECK_EQ_INT((int)v.n_members, 1);
    CHECK(!fo_node_view_sees(&v, "n2")); /* "up" is not true */
    /* A name that does not fit a node name is left out. */
    char cluster[512];
    snprintf(cluster, sizeof cluster, "{\"nodes\":[{\"node\":\"%0*d\",\"up\":true}]}",
             (int)FO_NODE_NAME_MAX, 7);
    read3(NULL, NULL, cluster);
    CHECK(v.cluster_answered);
    CHECK_EQ_INT((int)v.n_members, 0);
}

static void test_member_bound(void)
{
    /* FO_MAX_NODES distinct members are kept, more are left out. */
    size_t cap = 64 + (size_t)(FO_MAX_NODES + 10) * 40;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    size_t l = (size_t)snprintf(text, cap, "{\"nodes\":[");
    for (unsigned i = 0; i < FO_MAX_NODES + 10; i++)
        l += (size_t)snprintf(text + l, cap - l, "%s{\"node\":\"n-%u\",\"up\":true}", i ? "," : "",
                              i);
    snprintf(text + l, cap - l, "]}");
    read3(NULL, NULL, text);
    CHECK_EQ_INT((int)v.n_members, (int)FO_MAX_NODES);
    CHECK(fo_node_view_sees(&v, "n-0"));
    CHECK(!fo_node_view_sees(&v, "n-260"));
    free(text);
}

CHECK_MAIN(T(test_node_rec_round_trip), T(test_node_rec_refusals), T(test_view_of_a_serving_node),
           T(test_view_of_an_evacuating_node), T(test_malformed_answers_read_as_unknown),
           T(test_member_bound))
