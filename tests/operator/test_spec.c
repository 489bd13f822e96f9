/*
 * Unit tests of the FerryCluster spec (src/operator/spec.c): the article's
 * blueGreenUpdate block dropped into a full document, defaults, every
 * field's bounds, unknown fields, wrong types, bad YAML, the document's
 * limits, the writer's round trip, and what the revision does and does not
 * depend on.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "check.h"
#include "operator/spec.h"

#define HEAD "apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: demo}\n"

/* A minimal valid document with `extra` appended inside spec (indent 2). */
static char *doc(const char *extra)
{
    static char buf[1 << 16];
    snprintf(buf, sizeof buf, HEAD "spec:\n  replicas: 3\n  image: ferrymq:1.1\n%s", extra);
    return buf;
}

static int parse(fo_spec_t *s, const char *text, char *err, size_t errlen)
{
    fo_spec_init(s);
    return fo_spec_parse(s, text, strlen(text), "t.yaml", err, errlen);
}

/* Parses and expects success; returns the spec for more checks. */
static bool ok(fo_spec_t *s, const char *text)
{
    char err[512];
    int rc = parse(s, text, err, sizeof err);
    if (!CHECK_EQ_INT(rc, 0)) {
        fprintf(stderr, "    error: %s\n    document:\n%s\n", err, text);
        return false;
    }
    return true;
}

/* Expects a refusal whose message contains `want`. */
#define REFUSED(text, want) refused_(__FILE__, __LINE__, (text), (want))
static void refused_(const char *file, int line, const char *text, const char *want)
{
    fo_spec_t s;
    char err[512] = "";
    int rc = parse(&s, text, err, sizeof err);
    if (!check_eq_int_(file, line, "rc", "-1", rc, -1))
        fprintf(stderr, "    document:\n%s\n", text);
    else if (!check_true_(file, line, want, strstr(err, want) != NULL))
        fprintf(stderr, "    error was: %s\n", err);
    else if (!check_true_(file, line, "one line", strchr(err, '\n') == NULL))
        fprintf(stderr, "    error was: %s\n", err);
    fo_spec_free(&s);
}

static void test_article_snippet(void)
{
    /* The article's block, byte for byte (3 then 4 spaces of indent). */
    const char *text = "apiVersion: ferrymq.io/v1alpha1\n"
                       "kind: FerryCluster\n"
                       "metadata:\n"
                       "  name: emqx-ee\n"
                       "spec:\n"
                       "   replicas: 3\n"
                       "   image: ferrymq:1.1\n"
                       "   blueGreenUpdate:\n"
                       "    initialDelaySeconds: 60\n"
                       "    evacuationStrategy:\n"
                       "      waitTakeover: 5\n"
                       "      connEvictRate: 200\n"
                       "      sessEvictRate: 200\n";
    fo_spec_t s;
    REQUIRE(ok(&s, text));
    CHECK_EQ_STR(s.name, "emqx-ee");
    CHECK_EQ_INT(s.replicas, 3);
    CHECK_EQ_STR(s.image, "ferrymq:1.1");
    CHECK_EQ_INT(s.initial_delay_s, 60);
    CHECK_EQ_INT(s.wait_takeover_s, 5);
    CHECK_EQ_INT(s.conn_evict_rate, 200);
    CHECK(!s.conn_evict_auto);
    CHECK_EQ_INT(s.sess_evict_rate, 200);
    CHECK_EQ_INT(s.strategy, FO_STRATEGY_BLUE_GREEN);
    fo_spec_free(&s);
}

static void test_design_example(void)
{
    const char *text = "apiVersion: ferrymq.io/v1alpha1\n"
                       "kind: FerryCluster\n"
                       "metadata: {name: demo}\n"
                       "spec:\n"
                       "  replicas: 3\n"
                       "  image: ferrymq:1.1          # local platform: a version label\n"
                       "  config: {}                  # broker settings passed to every node\n"
                       "  updateStrategy: BlueGreen   # or Rolling\n"
                       "  blueGreenUpdate:\n"
                       "    initialDelaySeconds: 60\n"
                       "    evacuationStrategy: {waitTakeover: 5, connEvictRate: 200, "
                       "sessEvictRate: 200}\n";
    fo_spec_t s;
    REQUIRE(ok(&s, text));
    CHECK_EQ_STR(s.name, "demo");
    CHECK_EQ_INT(s.n_config, 0);
    CHECK_EQ_INT(s.wait_takeover_s, 5);
    fo_spec_free(&s);
}

static void test_defaults(void)
{
    fo_spec_t s;
    REQUIRE(ok(&s, doc("")));
    CHECK_EQ_INT(s.replicas, 3);
    CHECK(s.binary == NULL);
    CHECK_EQ_INT(s.n_config, 0);
    CHECK_EQ_INT(s.strategy, FO_STRATEGY_BLUE_GREEN);
    CHECK_EQ_INT(s.lb, FO_LB_HAPROXY);
    CHECK_EQ_INT(s.phase_timeout_s, 600);
    CHECK_EQ_INT(s.initial_delay_s, 60);
    CHECK_EQ_INT(s.concurrency, 1);
    CHECK_EQ_INT(s.wait_takeover_s, 60);
    CHECK_EQ_INT(s.conn_evict_rate, 500);
    CHECK(!s.conn_evict_auto);
    CHECK_EQ_INT(s.sess_evict_rate, 500);
    fo_spec_free(&s);
    /* An empty blueGreenUpdate block keeps the defaults too. */
    REQUIRE(ok(&s, doc("  blueGreenUpdate: {evacuationStrategy: {}}\n  config:\n")));
    CHECK_EQ_INT(s.wait_takeover_s, 60);
    CHECK_EQ_INT(s.n_config, 0);
    fo_spec_free(&s);
}

static void test_all_fields(void)
{
    fo_spec_t s;
    REQUIRE(ok(&s, doc("  binary: /opt/ferrymq/bin/ferrymq\n"
                       "  config:\n    max_inflight: 64\n    cluster_secret: \"s3 cr\\\"t\"\n"
                       "    allow_anonymous: false\n"
                       "  updateStrategy: Rolling\n  phaseTimeoutSeconds: 30\n"
                       "  loadBalancer: kernel\n"
                       "  blueGreenUpdate:\n    concurrency: 2\n    initialDelaySeconds: 0\n"
                       "    evacuationStrategy: {connEvictRate: auto, waitTakeover: 0}\n")));
    CHECK_EQ_STR(s.binary, "/opt/ferrymq/bin/ferrymq");
    REQUIRE_EQ_INT(s.n_config, 3);
    CHECK_EQ_STR(s.config[0].key, "max_inflight");
    CHECK_EQ_STR(s.config[0].value, "64");
    CHECK_EQ_STR(s.config[1].key, "cluster_secret");
    CHECK_EQ_STR(s.config[1].value, "s3 cr\"t");
    CHECK_EQ_STR(s.config[2].value, "false");
    CHECK_EQ_INT(s.strategy, FO_STRATEGY_ROLLING);
    CHECK_EQ_INT(s.phase_timeout_s, 30);
    CHECK_EQ_INT(s.lb, FO_LB_KERNEL);
    CHECK_EQ_INT(s.concurrency, 2);
    CHECK_EQ_INT(s.initial_delay_s, 0);
    CHECK(s.conn_evict_auto);
    CHECK_EQ_INT(s.wait_takeover_s, 0);
    fo_spec_free(&s);

    /* binary alone, without image. */
    REQUIRE(ok(&s, HEAD "spec: {replicas: 1, binary: /x}\n"));
    CHECK(s.image == NULL);
    CHECK_EQ_STR(s.binary, "/x");
    fo_spec_free(&s);
}

/* One integer field at its bounds: lo and hi accepted, lo-1 and hi+1 refused. */
static void bounds(const char *tmpl, const char *path, long lo, long hi)
{
    char extra[512], want[256];
    fo_spec_t s;
    long vals[] = {lo, hi};
    for (int i = 0; i < 2; i++) {
        snprintf(extra, sizeof extra, tmpl, vals[i]);
        if (ok(&s, doc(extra)))
            fo_spec_free(&s);
    }
    snprintf(want, sizeof want, "%s: expected an integer %ld..%ld", path, lo, hi);
    if (lo > 0) {
        snprintf(extra, sizeof extra, tmpl, lo - 1);
        REFUSED(doc(extra), want);
    }
    snprintf(extra, sizeof extra, tmpl, hi + 1);
    REFUSED(doc(extra), want);
}

static void test_integer_bounds(void)
{
    bounds("  blueGreenUpdate: {initialDelaySeconds: %ld}\n",
           "spec.blueGreenUpdate.initialDelaySeconds", 0, 86400);
    bounds("  blueGreenUpdate: {evacuationStrategy: {waitTakeover: %ld}}\n",
           "spec.blueGreenUpdate.evacuationStrategy.waitTakeover", 0, 86400);
    bounds("  blueGreenUpdate: {evacuationStrategy: {sessEvictRate: %ld}}\n",
           "spec.blueGreenUpdate.evacuationStrategy.sessEvictRate", 1, 1000000);
    bounds("  phaseTimeoutSeconds: %ld\n", "spec.phaseTimeoutSeconds", 1, 86400);

    /* replicas is written by doc(); exercise it on its own. */
    fo_spec_t s;
    REQUIRE(ok(&s, HEAD "spec: {replicas: 1, image: a}\n"));
    fo_spec_free(&s);
    REQUIRE(ok(&s, HEAD "spec: {replicas: 64, image: a}\n"));
    fo_spec_free(&s);
    REFUSED(HEAD "spec: {replicas: 0, image: a}\n",
            "spec.replicas: expected an integer 1..64, got \"0\" (t.yaml:4:18)");
    REFUSED(HEAD "spec: {replicas: 65, image: a}\n", "spec.replicas: expected an integer 1..64");
    REFUSED(HEAD "spec: {image: a}\n", "spec.replicas: required");

    /* connEvictRate: 1..1000000 or "auto" (quoted or not). */
    REQUIRE(ok(&s, doc("  blueGreenUpdate: {evacuationStrategy: {connEvictRate: 1}}\n")));
    fo_spec_free(&s);
    REQUIRE(ok(&s, doc("  blueGreenUpdate: {evacuationStrategy: {connEvictRate: 1000000}}\n")));
    fo_spec_free(&s);
    REQUIRE(ok(&s, doc("  blueGreenUpdate: {evacuationStrategy: {connEvictRate: \"auto\"}}\n")));
    CHECK(s.conn_evict_auto);
    fo_spec_free(&s);
    const char *bad_rates[] = {"0", "1000001", "Auto", "-1", "1.5", "\"200\""};
    for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++) {
        char extra[256];
        snprintf(extra, sizeof extra,
                 "  blueGreenUpdate: {evacuationStrategy: {connEvictRate: %s}}\n", bad_rates[i]);
        REFUSED(doc(extra), "spec.blueGreenUpdate.evacuationStrategy.connEvictRate: expected an "
                            "integer 1..1000000 or \"auto\"");
    }

    /* concurrency: 1..replicas. */
    REQUIRE(ok(&s, doc("  blueGreenUpdate: {concurrency: 3}\n")));
    fo_spec_free(&s);
    REFUSED(doc("  blueGreenUpdate: {concurrency: 4}\n"),
            "spec.blueGreenUpdate.concurrency: expected at most spec.replicas (3), got \"4\"");
    REFUSED(doc("  blueGreenUpdate: {concurrency: 0}\n"),
            "spec.blueGreenUpdate.concurrency: expected an integer 1..64");
}

static void test_integer_syntax(void)
{
    /* Only plain decimal: no quotes, signs, leading zeros, exponents or hex. */
    const char *bad_ints[] = {"\"3\"", "'3'", "+3", "03",  "0x3",    "3.0",         "3e0",
                              "-0",    "",    "~",  "[3]", "{a: 3}", "99999999999", "4294967299"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, HEAD "spec:\n  image: a\n  replicas: %s\n", bad_ints[i]);
        REFUSED(text, "spec.replicas: expected an integer 1..64, got ");
    }
    REFUSED(HEAD "spec:\n  image: a\n  replicas: \"3\"\n", "got the string \"3\"");
    REFUSED(HEAD "spec:\n  image: a\n  replicas:\n", "got null");
    REFUSED(HEAD "spec:\n  image: a\n  replicas: [3]\n", "got a list");
    REFUSED(HEAD "spec:\n  image: a\n  replicas: {n: 3}\n", "got a mapping");
}

static void test_strings(void)
{
    fo_spec_t s;
    /* image: a label of 1..255 characters from a fixed set. */
    REQUIRE(ok(&s, HEAD "spec: {replicas: 1, image: \"registry.local:5000/ferrymq@sha-1+x_y\"}\n"));
    fo_spec_free(&s);
    char big[600];
    memset(big, 'a', 255);
    big[255] = '\0';
    char text[1024];
    snprintf(text, sizeof text, HEAD "spec: {replicas: 1, image: %s}\n", big);
    REQUIRE(ok(&s, text));
    fo_spec_free(&s);
    snprintf(text, sizeof text, HEAD "spec: {replicas: 1, image: %sa}\n", big);
    REFUSED(text, "spec.image: expected a version label of 1 to 255 characters");
    REFUSED(HEAD "spec: {replicas: 1, image: \"\"}\n", "spec.image: expected a version label");
    REFUSED(HEAD "spec: {replicas: 1, image: \"a b\"}\n", "spec.image: expected a version label");
    REFUSED(HEAD "spec: {replicas: 1, image: \"a\\0b\"}\n", "got the string \"a\\x00b\"");
    REFUSED(HEAD "spec: {replicas: 1, image: [a]}\n", "spec.image: expected a version label");
    REFUSED(HEAD "spec: {replicas: 1, image: }\n", "spec.image: expected a version label");
    REFUSED(HEAD "spec: {replicas: 1}\n", "spec.image: required unless spec.binary is set");
    /* binary: an absolute path. */
    REFUSED(HEAD "spec: {replicas: 1, binary: bin/ferrymq}\n", "spec.binary: expected an absolute");
    REFUSED(HEAD "spec: {replicas: 1, binary: \"/a\\tb\"}\n", "spec.binary: expected an absolute");
    /* metadata.name: a DNS label. */
    REFUSED("apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: Demo}\n"
            "spec: {replicas: 1, image: a}\n",
            "metadata.name: expected 1 to 63 characters from a-z 0-9 -");
    REFUSED("apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: -a}\n"
            "spec: {replicas: 1, image: a}\n",
            "metadata.name: expected");
    REFUSED("apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {}\n"
            "spec: {replicas: 1, image: a}\n",
            "metadata.name: required");
    memset(big, 'a', 64);
    big[64] = '\0';
    snprintf(text, sizeof text,
             "apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: %s}\n"
             "spec: {replicas: 1, image: a}\n",
             big);
    REFUSED(text, "metadata.name: expected");
    big[63] = '\0';
    snprintf(text, sizeof text,
             "apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: %s}\n"
             "spec: {replicas: 1, image: a}\n",
             big);
    REQUIRE(ok(&s, text));
    fo_spec_free(&s);
}

static void test_enums_and_header(void)
{
    REFUSED(doc("  updateStrategy: bluegreen\n"),
            "spec.updateStrategy: expected BlueGreen or Rolling, got \"bluegreen\"");
    REFUSED(doc("  updateStrategy: RollingUpdate\n"), "spec.updateStrategy: expected BlueGreen");
    REFUSED(doc("  loadBalancer: nginx\n"), "spec.loadBalancer: expected haproxy or kernel");
    REFUSED("apiVersion: apps.emqx.io/v1beta4\nkind: FerryCluster\nmetadata: {name: a}\n"
            "spec: {replicas: 1, image: a}\n",
            "apiVersion: expected ferrymq.io/v1alpha1, got \"apps.emqx.io/v1beta4\" (t.yaml:1:13)");
    REFUSED("apiVersion: ferrymq.io/v1alpha1\nkind: EmqxEnterprise\nmetadata: {name: a}\n"
            "spec: {replicas: 1, image: a}\n",
            "kind: expected FerryCluster");
    REFUSED("kind: FerryCluster\nmetadata: {name: a}\nspec: {replicas: 1, image: a}\n",
            "apiVersion: required");
    REFUSED("apiVersion: ferrymq.io/v1alpha1\nmetadata: {name: a}\n", "kind: required");
    REFUSED("apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nspec: {}\n",
            "metadata: required");
    REFUSED(HEAD, "spec: required");
}

static void test_unknown_and_repeated(void)
{
    REFUSED(doc("  replica: 3\n"), "spec: unknown field \"replica\", expected one of replicas, "
                                   "image, binary, config");
    REFUSED(doc("  blueGreenUpdate: {initialDelay: 1}\n"),
            "spec.blueGreenUpdate: unknown field \"initialDelay\"");
    REFUSED(doc("  blueGreenUpdate: {evacuationStrategy: {waitHealthCheck: 1}}\n"),
            "spec.blueGreenUpdate.evacuationStrategy: unknown field \"waitHealthCheck\"");
    REFUSED(HEAD "spec: {replicas: 1, image: a}\nstatus: {}\n",
            "document: unknown field \"status\"");
    REFUSED("apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: a, labels: {}}\n"
            "spec: {replicas: 1, image: a}\n",
            "metadata: unknown field \"labels\"");
    REFUSED(doc("  \"\\x01\\e[31m\": 1\n"), "spec: unknown field \"\\x01\\x1b[31m\"");
    REFUSED(doc("  replicas: 4\n"), "spec.replicas: set twice (t.yaml:7:3, first at line 5)");
    REFUSED(doc("  ? [a]\n  : 1\n"), "spec: expected a field name, got a list");
}

static void test_config(void)
{
    fo_spec_t s;
    REQUIRE(ok(&s, doc("  config: {max_queued: 0, log_level: debug, queue_drop: \"drop_newest\", "
                       "cluster_secret: ''}\n")));
    REQUIRE_EQ_INT(s.n_config, 4);
    CHECK_EQ_STR(s.config[3].value, "");
    fo_spec_free(&s);
    REFUSED(doc("  config: {listen: \"0.0.0.0:1883\"}\n"),
            "spec.config.listen: set by the operator for each node");
    REFUSED(doc("  config: {data_dir: /tmp}\n"), "spec.config.data_dir: set by the operator");
    REFUSED(doc("  config: {cluster_seeds: a}\n"),
            "spec.config.cluster_seeds: set by the operator");
    REFUSED(doc("  config: {max_queued: 1, max_queued: 2}\n"), "spec.config.max_queued: set twice");
    REFUSED(doc("  config: {Max: 1}\n"), "spec.config: expected a setting name");
    REFUSED(doc("  config: {1a: 1}\n"), "spec.config: expected a setting name");
    REFUSED(doc("  config: {a: [1]}\n"), "spec.config.a: expected a single value");
    REFUSED(doc("  config: {a: {b: 1}}\n"), "spec.config.a: expected a single value");
    REFUSED(doc("  config: {a: ~}\n"), "spec.config.a: expected a single value");
    REFUSED(doc("  config: {a: \"x\\ny\"}\n"), "spec.config.a: expected a single value");
    REFUSED(doc("  config: {a: \"\\u00e9\"}\n"), "spec.config.a: expected a single value");
    REFUSED(doc("  config: [a]\n"), "spec.config: expected a mapping");

    /* Key length 64 accepted, 65 refused. */
    char key[80], extra[256];
    memset(key, 'k', 64);
    key[64] = '\0';
    snprintf(extra, sizeof extra, "  config: {%s: 1}\n", key);
    REQUIRE(ok(&s, doc(extra)));
    fo_spec_free(&s);
    snprintf(extra, sizeof extra, "  config: {%sk: 1}\n", key);
    REFUSED(doc(extra), "spec.config: expected a setting name of 1 to 64");

    /* Value of 4096 bytes accepted, 4097 refused. */
    static char val[5000], text[6000];
    memset(val, 'v', 4096);
    val[4096] = '\0';
    snprintf(text, sizeof text, "  config: {a: %s}\n", val);
    REQUIRE(ok(&s, doc(text)));
    fo_spec_free(&s);
    snprintf(text, sizeof text, "  config: {a: %sv}\n", val);
    REFUSED(doc(text), "spec.config.a: expected a single value of at most 4096");

    /* 256 entries accepted, 257 refused. */
    static char many[16384];
    size_t o = (size_t)snprintf(many, sizeof many, "  config:\n");
    for (int i = 0; i < 256; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "    k%d: %d\n", i, i);
    REQUIRE(ok(&s, doc(many)));
    CHECK_EQ_INT(s.n_config, 256);
    CHECK_EQ_STR(s.config[255].key, "k255");
    fo_spec_free(&s);
    snprintf(many + o, sizeof many - o, "    k256: 1\n");
    REFUSED(doc(many), "spec.config: more than 256 settings");
}

static void test_bad_yaml(void)
{
    REFUSED(doc("  config: {a: 1\n"), "invalid YAML: ");
    REFUSED(HEAD "spec:\n  replicas: 3\n image: a\n", "invalid YAML: ");
    REFUSED(HEAD "spec:\n  replicas: 3\n\timage: a\n", "(t.yaml:6:1)");
    REFUSED("a: \"unterminated\n", "invalid YAML: found unexpected end of stream (t.yaml:2:1)");
    REFUSED("a: b: c\n",
            "invalid YAML: mapping values are not allowed in this context (t.yaml:1:5)");
    REFUSED("a: \x01\n", "invalid YAML: control characters are not allowed (t.yaml:1:4, byte 3)");
    REFUSED("a: \xff\n", "invalid YAML: invalid leading UTF-8 octet (t.yaml:1:4");
    REFUSED("", "document: expected a FerryCluster mapping, got nothing");
    REFUSED("---\n", "document: expected a FerryCluster mapping, got nothing");
    REFUSED("# only a comment\n", "got nothing");
    REFUSED("- a\n", "document: expected a mapping, got a list");
    REFUSED("hello\n", "document: expected a mapping, got \"hello\"");
    REFUSED(doc("---\n" HEAD "spec: {replicas: 1, image: a}\n"), "found a second");
    REFUSED(doc("  blueGreenUpdate: &x {}\n  config: *x\n"), "document: aliases are not supported");
    REFUSED(doc("  replicas: !!int 3\n"), "document: explicit tags are not supported");
}

static void test_limits(void)
{
    /* Nesting: 16 levels accepted by the reader (then refused as unknown), 17 not. */
    char text[512];
    char open[40] = "", close[40] = "";
    for (int i = 0; i < 14; i++) {
        strcat(open, "[");
        strcat(close, "]");
    }
    /* root map (1) + spec map (2) + 14 lists = 16 */
    snprintf(text, sizeof text, HEAD "spec: {x: %s%s}\n", open, close);
    REFUSED(text, "spec: unknown field \"x\"");
    snprintf(text, sizeof text, HEAD "spec: {x: [%s%s]}\n", open, close);
    REFUSED(text, "document: nested deeper than 16 levels");

    /* Size: more than 1 MiB is refused before parsing. */
    size_t n = FO_SPEC_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    REQUIRE(big != NULL);
    memset(big, '#', n);
    big[0] = '\n';
    big[n] = '\0';
    REFUSED(big, "document: 1048577 bytes, at most 1048576 allowed");
    /* 1 MiB of comments after a valid document is fine. */
    const char *d = doc("");
    size_t dl = strlen(d);
    memcpy(big, d, dl);
    big[dl] = '#';
    big[FO_SPEC_MAX_BYTES] = '\0';
    fo_spec_t s;
    REQUIRE(ok(&s, big));
    fo_spec_free(&s);

    /* Node count: a huge flow list is cut off. */
    size_t o = (size_t)snprintf(big, n, HEAD "spec: {x: [");
    for (int i = 0; i < 5000; i++)
        o += (size_t)snprintf(big + o, n - o, "1,");
    snprintf(big + o, n - o, "1]}\n");
    REFUSED(big, "document: more than 4096 YAML nodes");
    free(big);
}

static void test_short_error_buffers(void)
{
    char bad_doc[512];
    const char *d = doc("  replicas: 0\n"); /* doc() reuses its buffer */
    size_t dl = strlen(d) < sizeof bad_doc - 1 ? strlen(d) : sizeof bad_doc - 1;
    memcpy(bad_doc, d, dl);
    bad_doc[dl] = '\0';
    fo_spec_t s;
    char err[8];
    memset(err, 'x', sizeof err);
    CHECK_EQ_INT(parse(&s, bad_doc, err, sizeof err), -1);
    CHECK_EQ_INT(strlen(err), 7);
    CHECK_EQ_INT(parse(&s, bad_doc, NULL, 0), -1);
    CHECK_EQ_INT(parse(&s, bad_doc, err, 0), -1);
    /* A failed parse leaves the spec untouched. */
    fo_spec_t good;
    REQUIRE(ok(&good, doc("")));
    CHECK_EQ_INT(fo_spec_parse(&good, bad_doc, strlen(bad_doc), NULL, err, sizeof err), -1);
    CHECK_EQ_STR(good.image, "ferrymq:1.1");
    /* A successful one replaces it, freeing the old strings. */
    const char *other = doc("  config: {a: b}\n");
    CHECK_EQ_INT(fo_spec_parse(&good, other, strlen(other), NULL, NULL, 0), 0);
    CHECK_EQ_INT(good.n_config, 1);
    fo_spec_free(&good);
    CHECK(good.name == NULL);
}

static void test_write_round_trip(void)
{
    const char *docs[] = {
        doc(""),
        doc("  binary: \"/opt/a \\\"b\\\\\"\n  config: {z: 1, a: \"x y\", m: ''}\n"
            "  updateStrategy: Rolling\n  loadBalancer: kernel\n  phaseTimeoutSeconds: 1\n"
            "  blueGreenUpdate: {concurrency: 3, evacuationStrategy: {connEvictRate: auto}}\n"),
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        fo_spec_t a, b;
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", docs[i]); /* doc() reuses its buffer */
        REQUIRE(ok(&a, copy));
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        REQUIRE(f != NULL);
        fo_spec_write(&a, f);
        fclose(f);
        if (ok(&b, text)) {
            CHECK(fo_spec_equal(&a, &b));
            CHECK_EQ_HEX(fo_spec_revision_hash(&a), fo_spec_revision_hash(&b));
            fo_spec_free(&b);
        }
        free(text);
        fo_spec_free(&a);
    }
}

static void revision_of(const char *text, char out[FO_REVISION_LEN + 1])
{
    fo_spec_t s;
    out[0] = '\0';
    if (ok(&s, text)) {
        fo_spec_revision(&s, out);
        fo_spec_free(&s);
    }
}

static void test_revision(void)
{
    char base[16], r[16];
    revision_of(doc("  config: {max_inflight: 64, log_level: debug}\n"), base);
    CHECK_EQ_INT(strlen(base), FO_REVISION_LEN);
    CHECK_EQ_INT(strspn(base, "0123456789abcdef"), FO_REVISION_LEN);

    /* Equal: config order, quoting, flow vs block, and everything that does
     * not shape a node. */
    revision_of(doc("  config: {log_level: debug, max_inflight: \"64\"}\n"), r);
    CHECK_EQ_STR(r, base);
    revision_of(doc("  config:\n    log_level: 'debug'\n    max_inflight: 64\n"
                    "  updateStrategy: Rolling\n  loadBalancer: kernel\n"
                    "  phaseTimeoutSeconds: 5\n"
                    "  blueGreenUpdate: {initialDelaySeconds: 1, concurrency: 2, "
                    "evacuationStrategy: {waitTakeover: 1, connEvictRate: auto, "
                    "sessEvictRate: 9}}\n"),
                r);
    CHECK_EQ_STR(r, base);
    char other_name[512];
    snprintf(other_name, sizeof other_name,
             "apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: other}\n"
             "spec: {replicas: 7, image: ferrymq:1.1, config: {max_inflight: 64, log_level: "
             "debug}}\n");
    revision_of(other_name, r);
    CHECK_EQ_STR(r, base);

    /* Different: image, binary, any config key or value, an added setting. */
    revision_of(doc("  config: {max_inflight: 65, log_level: debug}\n"), r);
    CHECK(strcmp(r, base) != 0);
    revision_of(doc("  config: {max_inflight: 64, log_level: info}\n"), r);
    CHECK(strcmp(r, base) != 0);
    revision_of(doc("  config: {max_inflight: 64, log_level: debug, max_qos: 1}\n"), r);
    CHECK(strcmp(r, base) != 0);
    revision_of(doc("  config: {max_inflight: 64}\n"), r);
    CHECK(strcmp(r, base) != 0);
    revision_of(doc("  binary: /x\n  config: {max_inflight: 64, log_level: debug}\n"), r);
    CHECK(strcmp(r, base) != 0);
    revision_of(HEAD "spec: {replicas: 3, image: ferrymq:1.2, config: {max_inflight: 64, "
                     "log_level: debug}}\n",
                r);
    CHECK(strcmp(r, base) != 0);

    /* Length prefixes: moving bytes between key and value changes it. */
    char r1[16], r2[16], r3[16], r4[16];
    revision_of(doc("  config: {ab: c}\n"), r1);
    revision_of(doc("  config: {a: bc}\n"), r2);
    CHECK(strcmp(r1, r2) != 0);
    /* image "x" vs binary "/x"-like ambiguity: absent differs from present. */
    revision_of(HEAD "spec: {replicas: 1, image: a, binary: /b}\n", r3);
    revision_of(HEAD "spec: {replicas: 1, binary: /b}\n", r4);
    CHECK(strcmp(r3, r4) != 0);

    /* A pinned value, so a change to the hash's input is seen. */
    fo_spec_t s;
    fo_spec_init(&s);
    CHECK_EQ_HEX(fo_spec_revision_hash(&s), fo_spec_revision_hash(&s));
    char empty[16];
    fo_spec_revision(&s, empty);
    CHECK_EQ_INT(strlen(empty), FO_REVISION_LEN);
}

static void test_load_file(void)
{
    char path[] = "/tmp/fo-spec-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char *d = doc("");
    CHECK_EQ_INT(write(fd, d, strlen(d)), (long long)strlen(d));
    close(fd);
    fo_spec_t s;
    fo_spec_init(&s);
    char err[512];
    CHECK_EQ_INT(fo_spec_load_file(&s, path, err, sizeof err), 0);
    CHECK_EQ_STR(s.image, "ferrymq:1.1");
    fo_spec_free(&s);
    /* Past the cap. */
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    for (size_t i = 0; i <= FO_SPEC_MAX_BYTES; i++)
        fputc('#', f);
    fclose(f);
    CHECK_EQ_INT(fo_spec_load_file(&s, path, err, sizeof err), -1);
    CHECK(strstr(err, "larger than 1048576 bytes") != NULL);
    unlink(path);
    CHECK_EQ_INT(fo_spec_load_file(&s, path, err, sizeof err), -1);
    CHECK(strstr(err, "No such file") != NULL);
}

CHECK_MAIN(T(test_article_snippet), T(test_design_example), T(test_defaults), T(test_all_fields),
           T(test_integer_bounds), T(test_integer_syntax), T(test_strings),
           T(test_enums_and_header), T(test_unknown_and_repeated), T(test_config), T(test_bad_yaml),
           T(test_limits), T(test_short_error_buffers), T(test_write_round_trip), T(test_revision),
           T(test_load_file))
