/*
 * Unit tests of src/broker/config.c and log.c: defaults, every source
 * (YAML, environment, flags) and their precedence, every kind of bad input
 * and its message, --help, and the log line format. The expected ranges and
 * defaults are written here by hand from the brief and docs, not read from
 * config.c's table, so that a drift in the table fails a test.
 *
 * A tiny harness: each check prints both values when it fails, and main
 * ends with "N passed, N failed" (CTest sees the exit code).
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* mkstemp, dup, fileno */
#endif

#include "broker/config.h"
#include "broker/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct harness {
    int passed, failed;
    const char *test; /* the test running, for failure lines */
} harness_t;

static void report(harness_t *t, int ok, int line, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void report(harness_t *t, int ok, int line, const char *fmt, ...)
{
    if (ok) {
        t->passed++;
        return;
    }
    t->failed++;
    fprintf(stderr, "FAIL %s (test_config.c:%d): ", t->test, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The macros use the harness `t` in scope. */
/* Version 14 of clang-format mistakes "a_ && b_" in a macro for a reference. */
/* clang-format off */
#define CHECK(cond) report(t, (cond) != 0, __LINE__, "%s", #cond)
#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        report(t, a_ == b_, __LINE__, "%s == %s: got %lld, want %lld", #a, #b, a_, b_);            \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        report(t, a_ && b_ && strcmp(a_, b_) == 0, __LINE__, "%s == %s: got \"%s\", want \"%s\"",  \
               #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                    \
    } while (0)
#define CHECK_HAS(hay, needle)                                                                     \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        report(t, h_ && strstr(h_, n_) != NULL, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, \
               n_, h_ ? h_ : "(null)");                                                            \
    } while (0)

/* clang-format on */

#define ERRLEN 512

/* ---- helpers ---- */

static int yaml(fb_config_t *c, const char *text, char *err)
{
    return fb_config_load_yaml(c, text, strlen(text), "t.yaml", err, ERRLEN);
}

/* Writes text to a new temporary file; returns its path (caller frees and
 * unlinks). */
static char *temp_file(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    if (path == NULL)
        abort();
    snprintf(path, 4096, "%s/ferrymq-test-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        abort();
    }
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        abort();
    close(fd);
    return path;
}

/* The whole of a stream written so far, NUL-terminated; caller frees. */
static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    if (n < 0)
        abort();
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL)
        abort();
    rewind(f);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    return buf;
}

/* Runs fb_config_load_args with stdout captured (for --help). */
static int args_capture(fb_config_t *c, int argc, char **argv, char *err, char **out)
{
    FILE *cap = tmpfile();
    if (cap == NULL)
        abort();
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fileno(cap), STDOUT_FILENO);
    int rc = fb_config_load_args(c, argc, argv, NULL, err, ERRLEN);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    fseek(cap, 0, SEEK_END);
    *out = slurp(cap);
    fclose(cap);
    return rc;
}

/* ---- defaults ---- */

static void test_defaults(harness_t *t)
{
    fb_config_t c;
    fb_config_defaults(&c);
    CHECK_STR(c.listen, "0.0.0.0:1883");
    CHECK(c.node_name != NULL && strncmp(c.node_name, "ferrymq@", 8) == 0);
    CHECK(c.node_name != NULL && strlen(c.node_name) > 8 && strlen(c.node_name) <= 255);
    CHECK_STR(c.data_dir, "./data");
    CHECK_INT(c.log_level, FB_LOG_INFO);
    CHECK_INT(c.max_connections, 0);
    CHECK_INT(c.max_packet_size, 1048576);
    CHECK_INT(c.max_client_id_len, 256);
    CHECK_INT(c.max_topic_levels, 128);
    CHECK_INT(c.max_inflight, 32);
    CHECK_INT(c.max_queued, 1000);
    CHECK_INT(c.queue_drop, FB_DROP_OLDEST);
    CHECK_INT(c.max_topic_alias, 64);
    CHECK_INT(c.v3_session_expiry, 7200);
    CHECK_INT(c.max_session_expiry, 4294967295u);
    CHECK_INT(c.server_keep_alive, 0);
    CHECK_INT(c.max_keep_alive, 65535);
    CHECK_INT(c.connect_timeout_ms, 10000);
    CHECK_INT(c.allow_anonymous, 1);
    CHECK_INT(c.retain_available, 1);
    CHECK_INT(c.max_qos, 2);
    CHECK_INT(c.tcp_nodelay, 1);
    CHECK_INT(c.listen_backlog, 4096);
    CHECK_INT(c.write_buffer_limit, 8388608);

    /* The computed node name must itself be a valid setting. */
    char err[ERRLEN] = "", text[512];
    fb_config_t d;
    fb_config_defaults(&d);
    snprintf(text, sizeof text, "node_name: \"%s\"\n", c.node_name);
    CHECK_INT(yaml(&d, text, err), 0);
    CHECK(fb_config_equal(&c, &d));

    fb_config_free(&c);
    CHECK(c.listen == NULL && c.node_name == NULL && c.data_dir == NULL);
    fb_config_free(&c); /* twice is harmless */
    fb_config_free(&d);
    fb_config_t z;
    memset(&z, 0, sizeof z);
    fb_config_free(&z);
}

/* ---- YAML ---- */

static void test_yaml_file(harness_t *t)
{
    char *path = temp_file("# ferrymq test config\n"
                           "listen: \"127.0.0.1:18830\"\n"
                           "node_name: node-a@host1\n"
                           "data_dir: /var/lib/ferrymq  # trailing comment\n"
                           "log_level: debug\n"
                           "max_packet_size: 65536\n"
                           "queue_drop: drop_newest\n"
                           "allow_anonymous: no\n"
                           "'max_qos': 1\n"
                           "tcp_nodelay: \"off\"\n"
                           "max_session_expiry: 86400\n");
    fb_config_t c;
    fb_config_defaults(&c);
    char err[ERRLEN] = "";
    CHECK_INT(fb_config_load_file(&c, path, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_STR(c.listen, "127.0.0.1:18830");
    CHECK_STR(c.node_name, "node-a@host1");
    CHECK_STR(c.data_dir, "/var/lib/ferrymq");
    CHECK_INT(c.log_level, FB_LOG_DEBUG);
    CHECK_INT(c.max_packet_size, 65536);
    CHECK_INT(c.queue_drop, FB_DROP_NEWEST);
    CHECK_INT(c.allow_anonymous, 0);
    CHECK_INT(c.max_qos, 1);
    CHECK_INT(c.tcp_nodelay, 0);
    CHECK_INT(c.max_session_expiry, 86400);
    /* Untouched settings keep their defaults. */
    CHECK_INT(c.max_inflight, 32);
    CHECK_INT(c.retain_available, 1);
    fb_config_free(&c);
    unlink(path);
    free(path);

    /* Empty, comment-only and "---"-only files set nothing. */
    const char *empties[] = {"", "# nothing\n", "---\n", "--- ~\n", "---\n...\n", "{}\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        fb_config_t a, b;
        fb_config_defaults(&a);
        fb_config_defaults(&b);
        CHECK_INT(yaml(&a, empties[i], err), 0);
        CHECK(fb_config_equal(&a, &b));
        fb_config_free(&a);
        fb_config_free(&b);
    }
    /* Flow style is still a mapping of scalars. */
    fb_config_defaults(&c);
    CHECK_INT(yaml(&c, "{max_qos: 0, listen: \"[::1]:1883\"}", err), 0);
    CHECK_INT(c.max_qos, 0);
    CHECK_STR(c.listen, "[::1]:1883");
    fb_config_free(&c);
}

static void test_file_errors(harness_t *t)
{
    fb_config_t c;
    fb_config_defaults(&c);
    char err[ERRLEN] = "";
    CHECK_INT(fb_config_load_file(&c, "/nonexistent/ferrymq.yaml", err, sizeof err), -1);
    CHECK_HAS(err, "/nonexistent/ferrymq.yaml");
    CHECK_HAS(err, "No such file");
    err[0] = '\0';
    CHECK_INT(fb_config_load_file(&c, "/", err, sizeof err), -1);
    CHECK_HAS(err, "config: ");

    /* The file name and line appear in a value error. */
    char *path = temp_file("max_qos: 1\nlisten: 0.0.0.0:1\nmax_packet_size: abc\n");
    CHECK_INT(fb_config_load_file(&c, path, err, sizeof err), -1);
    char want[4200];
    snprintf(want, sizeof want,
             "config: max_packet_size: expected an integer from 64 to 268435460, got \"abc\" "
             "(%s:3)",
             path);
    CHECK_STR(err, want);
    unlink(path);
    free(path);
    fb_config_free(&c);
}

typedef struct bad_case {
    const char *key, *value; /* value as written in YAML */
    const char *rule;        /* part of the message */
} bad_case_t;

static void test_bad_values(harness_t *t)
{
    static const bad_case_t cases[] = {
        /* integers */
        {"max_packet_size", "abc", "expected an integer from 64 to 268435460"},
        {"max_packet_size", "-1", "expected an integer"},
        {"max_packet_size", "+100", "expected an integer"},
        {"max_packet_size", "\" 100\"", "expected an integer"},
        {"max_packet_size", "0x100", "expected an integer"},
        {"max_packet_size", "1.5e3", "expected an integer"},
        {"max_packet_size", "1_000", "expected an integer"},
        {"max_packet_size", "4294967296", "expected an integer"},
        {"max_packet_size", "99999999999999999999999", "expected an integer"},
        {"max_packet_size", "\"\"", "expected an integer"},
        {"max_queued", "true", "expected an integer from 0 to 10000000"},
        /* booleans */
        {"allow_anonymous", "maybe", "expected true/false, yes/no, on/off or 1/0"},
        {"tcp_nodelay", "2", "expected true/false"},
        {"retain_available", "\"\"", "expected true/false"},
        {"retain_available", "truee", "expected true/false"},
        /* choices */
        {"log_level", "verbose", "expected error, warn, info or debug"},
        {"log_level", "3", "expected error, warn, info or debug"},
        {"queue_drop", "drop_all", "expected drop_oldest or drop_newest"},
        /* strings */
        {"listen", "nohost", "expected IPV4:PORT or [IPV6]:PORT with a port from 0 to 65535"},
        {"listen", "\"localhost:1883\"", "expected IPV4:PORT"},
        {"listen", "\"1.2.3:1883\"", "expected IPV4:PORT"},
        {"listen", "\"1.2.3.256:1883\"", "expected IPV4:PORT"},
        {"listen", "\"[fe80::1%eth0]:1883\"", "expected IPV4:PORT"},
        {"listen", "\"[]:1883\"", "expected IPV4:PORT"},
        {"listen", "\"1.2.3.4:123456\"", "expected IPV4:PORT"},
        {"listen", "\"host:\"", "expected IPV4:PORT"},
        {"listen", "\"host:65536\"", "expected IPV4:PORT"},
        {"listen", "\":1883\"", "expected IPV4:PORT"},
        {"listen", "\"a b:1883\"", "expected IPV4:PORT"},
        {"listen", "\"::1:1883\"", "expected IPV4:PORT"},
        {"listen", "\"[::1:1883\"", "expected IPV4:PORT"},
        {"listen", "\"host:-1\"", "expected IPV4:PORT"},
        {"node_name", "\"has space\"", "expected 1 to 255 characters"},
        {"node_name", "\"\"", "expected 1 to 255 characters"},
        {"node_name", "\"n\\u00e9\"", "expected 1 to 255 characters"},
        {"data_dir", "\"\"", "expected a non-empty path"},
        {"data_dir", "\"a\\nb\"", "expected a non-empty path"},
        {"data_dir", "\"a\\0b\"", "expected a non-empty path"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case_t *bc = &cases[i];
        char text[256], err[ERRLEN] = "", want[128];
        /* Two good lines first: the message must name line 3, and the
         * failed load must not keep them. */
        snprintf(text, sizeof text, "max_qos: 0\nmax_inflight: 7\n%s: %s\n", bc->key, bc->value);
        fb_config_t c, before;
        fb_config_defaults(&c);
        fb_config_defaults(&before);
        t->test = bc->value;
        CHECK_INT(yaml(&c, text, err), -1);
        snprintf(want, sizeof want, "config: %s: ", bc->key);
        CHECK(strncmp(err, want, strlen(want)) == 0);
        CHECK_HAS(err, bc->rule);
        CHECK_HAS(err, ", got ");
        CHECK_HAS(err, "(t.yaml:3)");
        CHECK(fb_config_equal(&c, &before));
        fb_config_free(&c);
        fb_config_free(&before);
    }
    t->test = "bad_values";

    /* A null value ("key:" or "key: ~") is "no value", for every type. */
    const char *keys[] = {"listen", "max_qos", "tcp_nodelay", "log_level", "queue_drop"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char text[128], err[ERRLEN] = "";
        fb_config_t c;
        fb_config_defaults(&c);
        snprintf(text, sizeof text, "# x\n%s:\nmax_qos: 1\n", keys[i]);
        CHECK_INT(yaml(&c, text, err), -1);
        CHECK_HAS(err, keys[i]);
        CHECK_HAS(err, "got no value (t.yaml:2)");
        snprintf(text, sizeof text, "%s: ~\n", keys[i]);
        CHECK_INT(yaml(&c, text, err), -1);
        CHECK_HAS(err, "got no value (t.yaml:1)");
        fb_config_free(&c);
    }

    /* A hostile value is shown escaped and cut, never raw. */
    char text[600], err[ERRLEN] = "";
    snprintf(text, sizeof text, "node_name: \"\\e[31m%0300d\"\n", 0);
    fb_config_t c;
    fb_config_defaults(&c);
    CHECK_INT(yaml(&c, text, err), -1);
    CHECK_HAS(err, "got \"\\x1b[31m000");
    CHECK_HAS(err, "\"...");
    CHECK(strchr(err, '\x1b') == NULL);
    /* A short err buffer still gets a terminated prefix; NULL is allowed. */
    char tiny[12];
    memset(tiny, 'x', sizeof tiny);
    CHECK_INT(fb_config_load_yaml(&c, "max_qos: 9\n", 11, "t", tiny, sizeof tiny), -1);
    CHECK_STR(tiny, "config: max");
    CHECK_INT(fb_config_load_yaml(&c, "max_qos: 9\n", 11, "t", NULL, 0), -1);
    /* len is honoured: text need not be NUL-terminated. */
    CHECK_INT(fb_config_load_yaml(&c, "max_qos: 1junk", 10, "t", err, sizeof err), 0);
    CHECK_INT(c.max_qos, 1);
    fb_config_free(&c);
}

static void test_yaml_structure(harness_t *t)
{
    static const struct {
        const char *text;
        const char *want; /* a part of the message */
    } cases[] = {
        {"max_qos: 1\nmax_pakcet_size: 100\n",
         "config: unknown setting \"max_pakcet_size\", did you mean max_packet_size? (t.yaml:2)"},
        {"max-packet-size: 100\n", "did you mean max_packet_size?"},
        {"frobnicate: 1\n", "config: unknown setting \"frobnicate\" (t.yaml:1)"},
        {"max_qos: 1\nlisten: \"1.2.3.4:1\"\nmax_qos: 2\n",
         "config: max_qos: set twice (t.yaml:3, first at line 1)"},
        {"max_qos: 1\nlisten:\n  host: 0.0.0.0\n  port: 1883\n",
         "config: listen: expected a single value, got a mapping (t.yaml:3)"},
        {"listen: {host: x}\n",
         "config: listen: expected a single value, got a mapping (t.yaml:1)"},
        {"max_qos:\n  - 1\n  - 2\n",
         "config: max_qos: expected a single value, got a sequence (t.yaml:2)"},
        {"max_qos: &q 1\nmax_inflight: *q\n",
         "config: max_inflight: expected a single value, got an alias (t.yaml:2)"},
        {"- max_qos\n- 1\n",
         "config: expected a mapping of setting names to values, got a sequence (t.yaml:1)"},
        {"just a string\n",
         "config: expected a mapping of setting names to values, got a single value (t.yaml:1)"},
        {"? [a, b]\n: 1\n", "config: expected a setting name, got a sequence (t.yaml:1)"},
        {"max_qos: 1\n---\nmax_qos: 2\n",
         "config: expected one YAML document, found a second (t.yaml:2)"},
        {"max_qos: 1\nlisten: \"open\n", "config: invalid YAML: "},
        {"max_qos: 1\n- x\n", "(t.yaml:2:1)"},
        {"max_qos: \"1\0\"\n", "config: invalid YAML: "}, /* cut at the NUL: unterminated */
        {"max_qos: 1\n\x01\n", "config: invalid YAML: "},
        {"max_qos: \xff\n", "config: invalid YAML: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[ERRLEN] = "";
        fb_config_t c, before;
        fb_config_defaults(&c);
        fb_config_defaults(&before);
        t->test = cases[i].text;
        CHECK_INT(yaml(&c, cases[i].text, err), -1);
        CHECK_HAS(err, cases[i].want);
        CHECK(fb_config_equal(&c, &before));
        fb_config_free(&c);
        fb_config_free(&before);
    }
    t->test = "yaml_structure";
}

/* ---- booleans and bounds ---- */

static void test_bool_spellings(harness_t *t)
{
    static const struct {
        const char *text;
        bool want;
    } cases[] = {
        {"true", true}, {"false", false}, {"yes", true}, {"no", false},  {"on", true},
        {"off", false}, {"1", true},      {"0", false},  {"TRUE", true}, {"False", false},
        {"Yes", true},  {"NO", false},    {"On", true},  {"OFF", false}, {"\"yes\"", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64], err[ERRLEN] = "";
        fb_config_t c;
        fb_config_defaults(&c);
        c.tcp_nodelay = !cases[i].want;
        snprintf(text, sizeof text, "tcp_nodelay: %s\n", cases[i].text);
        t->test = cases[i].text;
        CHECK_INT(yaml(&c, text, err), 0);
        CHECK_INT(c.tcp_nodelay, cases[i].want);
        fb_config_free(&c);
    }
    t->test = "bool_spellings";
    /* Levels and drop policies ignore case too. */
    fb_config_t c;
    char err[ERRLEN] = "";
    fb_config_defaults(&c);
    CHECK_INT(yaml(&c, "log_level: WARN\nqueue_drop: Drop_Newest\n", err), 0);
    CHECK_INT(c.log_level, FB_LOG_WARN);
    CHECK_INT(c.queue_drop, FB_DROP_NEWEST);
    fb_config_free(&c);
}

typedef struct bound {
    const char *name;
    size_t offset;
    uint32_t min, max;
} bound_t;

/* Version 14 of clang-format moves the # of #f to column 0. */
/* clang-format off */
#define B(f, lo, hi) {#f, offsetof(fb_config_t, f), (lo), (hi)}
/* clang-format on */

static void test_integer_bounds(harness_t *t)
{
    /* The documented ranges, written out again on purpose. */
    static const bound_t bounds[] = {
        B(max_connections, 0, 4294967295u),
        B(max_packet_size, 64, 268435460u),
        B(max_client_id_len, 1, 65535),
        B(max_topic_levels, 1, 1024),
        B(max_inflight, 1, 65535),
        B(max_queued, 0, 10000000),
        B(max_topic_alias, 0, 65535),
        B(v3_session_expiry, 0, 4294967295u),
        B(max_session_expiry, 0, 4294967295u),
        B(server_keep_alive, 0, 65535),
        B(max_keep_alive, 0, 65535),
        B(connect_timeout_ms, 100, 600000),
        B(max_qos, 0, 2),
        B(listen_backlog, 1, 65535),
        B(write_buffer_limit, 4096, 1073741824u),
    };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        const bound_t *b = &bounds[i];
        t->test = b->name;
        /* min-1, min, max, max+1; "-1" and 2^32 stand in where the
         * neighbour is not a uint32_t. */
        char below[24], at_min[24], at_max[24], above[24];
        if (b->min > 0)
            snprintf(below, sizeof below, "%" PRIu32, b->min - 1);
        else
            snprintf(below, sizeof below, "-1");
        snprintf(at_min, sizeof at_min, "%" PRIu32, b->min);
        snprintf(at_max, sizeof at_max, "%" PRIu32, b->max);
        snprintf(above, sizeof above, "%" PRIu64, (uint64_t)b->max + 1);
        const struct {
            const char *v;
            int ok;
            uint32_t want;
        } probes[] = {{below, 0, 0}, {at_min, 1, b->min}, {at_max, 1, b->max}, {above, 0, 0}};
        for (size_t k = 0; k < 4; k++) {
            char text[128], err[ERRLEN] = "", rule[192];
            fb_config_t c;
            fb_config_defaults(&c);
            snprintf(text, sizeof text, "%s: %s\n", b->name, probes[k].v);
            int rc = yaml(&c, text, err);
            if (probes[k].ok) {
                CHECK_INT(rc, 0);
                uint32_t got;
                memcpy(&got, (const char *)&c + b->offset, sizeof got);
                CHECK_INT(got, probes[k].want);
            } else {
                CHECK_INT(rc, -1);
                snprintf(rule, sizeof rule,
                         "config: %s: expected an integer from %" PRIu32 " to %" PRIu32
                         ", got \"%s\" (t.yaml:1)",
                         b->name, b->min, b->max, probes[k].v);
                CHECK_STR(err, rule);
            }
            fb_config_free(&c);
        }
    }
    t->test = "integer_bounds";
}

/* ---- environment ---- */

static void test_env(harness_t *t)
{
    char err[ERRLEN] = "";
    fb_config_t c;
    fb_config_defaults(&c);
    char *env[] = {"PATH=/usr/bin",
                   "FERRYMQ_MAX_PACKET_SIZE=2048",
                   "FERRYMQ_LISTEN=[::]:1884",
                   "FERRYMQ_ALLOW_ANONYMOUS=off",
                   "FERRYMQ_CONFIG=/does/not/matter.yaml",
                   "FERRYMQX=ignored, not our prefix",
                   "NOEQUALS",
                   NULL};
    CHECK_INT(fb_config_load_env(&c, env, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(c.max_packet_size, 2048);
    CHECK_STR(c.listen, "[::]:1884");
    CHECK_INT(c.allow_anonymous, 0);
    fb_config_free(&c);

    static const struct {
        const char *var;
        const char *want;
    } bad[] = {
        {"FERRYMQ_MAX_PAKCET_SIZE=1",
         "config: unknown variable FERRYMQ_MAX_PAKCET_SIZE, did you mean "
         "FERRYMQ_MAX_PACKET_SIZE? (environment)"},
        {"FERRYMQ_max_qos=1", "did you mean FERRYMQ_MAX_QOS?"},
        {"FERRYMQ_=1", "config: unknown variable FERRYMQ_;"},
        {"FERRYMQ_WHATEVER=1", "config: unknown variable FERRYMQ_WHATEVER;"},
        {"FERRYMQ_MAX_QOS=3", "config: max_qos: expected an integer from 0 to 2, got \"3\" "
                              "(environment FERRYMQ_MAX_QOS)"},
        {"FERRYMQ_MAX_QOS=", "got \"\" (environment FERRYMQ_MAX_QOS)"},
        {"FERRYMQ_TCP_NODELAY=y", "config: tcp_nodelay: expected true/false"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *env1[] = {"FERRYMQ_MAX_INFLIGHT=9", (char *)bad[i].var, NULL};
        fb_config_t d, before;
        fb_config_defaults(&d);
        fb_config_defaults(&before);
        t->test = bad[i].var;
        CHECK_INT(fb_config_load_env(&d, env1, err, sizeof err), -1);
        CHECK_HAS(err, bad[i].want);
        CHECK(fb_config_equal(&d, &before)); /* MAX_INFLIGHT=9 not kept */
        fb_config_free(&d);
        fb_config_free(&before);
    }
    t->test = "env";
    /* No environment at all is fine. */
    fb_config_defaults(&c);
    CHECK_INT(fb_config_load_env(&c, NULL, err, sizeof err), 0);
    fb_config_free(&c);
}

/* ---- flags ---- */

static void test_flags(harness_t *t)
{
    char err[ERRLEN] = "";
    fb_config_t c;
    fb_config_defaults(&c);
    const char *path = "unset";
    char *argv[] = {"ferrymq",          "--max-packet-size=4096",
                    "--max_inflight",   "100",
                    "--log-level",      "warn",
                    "--tcp_no-delay=0", NULL};
    /* "--tcp_no-delay" is a typo, caught with a hint. */
    CHECK_INT(fb_config_load_args(&c, 7, argv, &path, err, sizeof err), -1);
    CHECK_HAS(
        err, "config: unknown flag \"--tcp_no-delay\", did you mean --tcp-nodelay? (command line)");
    CHECK_INT(c.max_packet_size, 1048576); /* nothing applied */
    argv[6] = "--tcp_nodelay=0";
    CHECK_INT(fb_config_load_args(&c, 7, argv, &path, err, sizeof err), 0);
    CHECK(path == NULL);
    CHECK_INT(c.max_packet_size, 4096);
    CHECK_INT(c.max_inflight, 100);
    CHECK_INT(c.log_level, FB_LOG_WARN);
    CHECK_INT(c.tcp_nodelay, 0);

    /* -c and --config in both forms; the last of a repeated setting wins. */
    char *argv2[] = {"ferrymq", "-c", "a.yaml", "--max-qos", "1", "--max-qos=0", NULL};
    CHECK_INT(fb_config_load_args(&c, 6, argv2, &path, err, sizeof err), 0);
    CHECK_STR(path, "a.yaml");
    CHECK_INT(c.max_qos, 0);
    char *argv3[] = {"ferrymq", "--config=b.yaml", NULL};
    CHECK_INT(fb_config_load_args(&c, 2, argv3, &path, err, sizeof err), 0);
    CHECK_STR(path, "b.yaml");
    char *argv4[] = {"ferrymq", "--config", "c.yaml", "--data-dir=-odd-", NULL};
    CHECK_INT(fb_config_load_args(&c, 4, argv4, NULL, err, sizeof err), 0);
    CHECK_STR(c.data_dir, "-odd-");
    char *argv5[] = {"ferrymq", "--", NULL};
    CHECK_INT(fb_config_load_args(&c, 2, argv5, &path, err, sizeof err), 0);
    CHECK(path == NULL);

    static const struct {
        const char *a1, *a2;
        const char *want;
    } bad[] = {
        {"--max-packet-size", NULL,
         "config: max_packet_size: missing value after --max-packet-size"},
        {"--max-packet-size", "--max-qos=1", "missing value after --max-packet-size"},
        {"-c", NULL, "missing value after -c"},
        {"--config=", NULL, "config: --config: expected a file path, got \"\""},
        {"--max-packet-size=12", NULL,
         "config: max_packet_size: expected an integer from 64 to 268435460, got \"12\" (flag "
         "--max-packet-size)"},
        {"--max_packet_size", "x",
         "config: max_packet_size: expected an integer from 64 to 268435460, got \"x\" (flag "
         "--max_packet_size)"},
        {"--bogus=1", NULL, "config: unknown flag \"--bogus\"; see --help (command line)"},
        {"-x", NULL, "config: unknown flag \"-x\" (command line)"},
        {"positional", NULL, "config: unexpected argument \"positional\""},
        {"--", "extra", "config: unexpected argument \"extra\""},
        {"--=1", NULL, "config: unknown flag \"--\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *av[] = {"ferrymq", (char *)bad[i].a1, (char *)bad[i].a2, NULL};
        int ac = bad[i].a2 ? 3 : 2;
        fb_config_t before;
        fb_config_defaults(&before);
        fb_config_free(&c);
        fb_config_defaults(&c);
        t->test = bad[i].a1;
        CHECK_INT(fb_config_load_args(&c, ac, av, &path, err, sizeof err), -1);
        CHECK_HAS(err, bad[i].want);
        CHECK(fb_config_equal(&c, &before));
        fb_config_free(&before);
    }
    t->test = "flags";
    fb_config_free(&c);
}

static void test_help(harness_t *t)
{
    char err[ERRLEN] = "", *out = NULL;
    fb_config_t c, before;
    fb_config_defaults(&c);
    fb_config_defaults(&before);
    char *argv[] = {"ferrymq", "--max-qos=1", "--help", NULL};
    CHECK_INT(args_capture(&c, 3, argv, err, &out), 1);
    CHECK(fb_config_equal(&c, &before)); /* help applies nothing */
    CHECK_HAS(out, "Usage: ferrymq");
    CHECK_HAS(out, "-c, --config FILE");
    CHECK_HAS(out, "FERRYMQ_");
    CHECK_HAS(out, "defaults < config file < environment < flags");
    static const char *const lines[] = {
        "--listen=ADDR:PORT",
        "default 0.0.0.0:1883",
        "--node-name=NAME",
        "default ferrymq@<hostname>",
        "--data-dir=DIR",
        "default ./data",
        "--log-level=LEVEL",
        "error|warn|info|debug, default info",
        "--max-connections=N",
        "0..4294967295, default 0",
        "--max-packet-size=N",
        "64..268435460, default 1048576",
        "--max-client-id-len=N",
        "1..65535, default 256",
        "--max-topic-levels=N",
        "1..1024, default 128",
        "--max-inflight=N",
        "1..65535, default 32",
        "--max-queued=N",
        "0..10000000, default 1000",
        "--queue-drop=POLICY",
        "drop_oldest|drop_newest, default drop_oldest",
        "--max-topic-alias=N",
        "0..65535, default 64",
        "--v3-session-expiry=N",
        "0..4294967295, default 7200",
        "--max-session-expiry=N",
        "0..4294967295, default 4294967295",
        "--server-keep-alive=N",
        "0..65535, default 0",
        "--max-keep-alive=N",
        "0..65535, default 65535",
        "--connect-timeout-ms=N",
        "100..600000, default 10000",
        "--allow-anonymous=BOOL",
        "true|false, default true",
        "--retain-available=BOOL",
        "true|false, default true",
        "--max-qos=N",
        "0..2, default 2",
        "--tcp-nodelay=BOOL",
        "true|false, default true",
        "--listen-backlog=N",
        "1..65535, default 4096",
        "--write-buffer-limit=N",
        "4096..1073741824, default 8388608",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        CHECK_HAS(out, lines[i]);
    free(out);

    /* -h works too, even after a bad flag. */
    char *argv2[] = {"ferrymq", "--bogus", "-h", NULL};
    CHECK_INT(args_capture(&c, 3, argv2, err, &out), 1);
    CHECK_HAS(out, "Usage:");
    free(out);
    /* After "--" it is an argument, not a request for help. */
    char *argv3[] = {"ferrymq", "--", "-h", NULL};
    CHECK_INT(args_capture(&c, 3, argv3, err, &out), -1);
    CHECK_STR(out, "");
    free(out);

    /* fb_config_from_sources passes the 1 on and leaves nothing to free. */
    char *env[] = {NULL};
    fb_config_t d;
    FILE *cap = tmpfile();
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fileno(cap), STDOUT_FILENO);
    int rc =
        fb_config_from_sources(&d, 2, (char *[]){"ferrymq", "--help", NULL}, env, err, sizeof err);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    fclose(cap);
    CHECK_INT(rc, 1);
    CHECK(d.listen == NULL && d.node_name == NULL && d.data_dir == NULL);
    fb_config_free(&c);
    fb_config_free(&before);
}

/* ---- all sources together ---- */

static void test_precedence(harness_t *t)
{
    char *path = temp_file("max_qos: 0\nmax_inflight: 10\nmax_queued: 11\nlog_level: error\n");
    char *path2 = temp_file("max_queued: 99\n");
    char env_config[4200], env_config2[4200];
    snprintf(env_config, sizeof env_config, "FERRYMQ_CONFIG=%s", path);
    snprintf(env_config2, sizeof env_config2, "FERRYMQ_CONFIG=%s", path2);
    char err[ERRLEN] = "";
    fb_config_t c;

    /* File via -c; env beats file; flags beat env. */
    char *env[] = {"FERRYMQ_MAX_INFLIGHT=20", "FERRYMQ_MAX_QOS=1", NULL};
    char *argv[] = {"ferrymq", "-c", path, "--max-qos", "2", NULL};
    CHECK_INT(fb_config_from_sources(&c, 5, argv, env, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(c.max_qos, 2);       /* file 0 < env 1 < flag 2 */
    CHECK_INT(c.max_inflight, 20); /* file 10 < env 20 */
    CHECK_INT(c.max_queued, 11);   /* file only */
    CHECK_INT(c.log_level, FB_LOG_ERROR);
    CHECK_INT(c.max_packet_size, 1048576); /* default */
    fb_config_free(&c);

    /* FERRYMQ_CONFIG names the file when there is no -c ... */
    char *env2[] = {env_config, NULL};
    char *argv2[] = {"ferrymq", NULL};
    CHECK_INT(fb_config_from_sources(&c, 1, argv2, env2, err, sizeof err), 0);
    CHECK_INT(c.max_queued, 11);
    fb_config_free(&c);
    /* ... and -c beats it. */
    char *env3[] = {env_config2, NULL};
    CHECK_INT(fb_config_from_sources(&c, 3, argv, env3, err, sizeof err), 0);
    CHECK_INT(c.max_queued, 11);
    fb_config_free(&c);
    CHECK_INT(fb_config_from_sources(&c, 1, argv2, env3, err, sizeof err), 0);
    CHECK_INT(c.max_queued, 99);
    fb_config_free(&c);

    /* Errors from each source come through, and leave nothing to free. */
    char *env_bad[] = {"FERRYMQ_MAX_QOS=7", NULL};
    CHECK_INT(fb_config_from_sources(&c, 3, argv, env_bad, err, sizeof err), -1);
    CHECK_HAS(err, "(environment FERRYMQ_MAX_QOS)");
    CHECK(c.listen == NULL);
    char *argv_bad[] = {"ferrymq", "-c", "/nonexistent.yaml", NULL};
    CHECK_INT(fb_config_from_sources(&c, 3, argv_bad, env, err, sizeof err), -1);
    CHECK_HAS(err, "/nonexistent.yaml");
    char *argv_bad2[] = {"ferrymq", "--max-qos=9", NULL};
    CHECK_INT(fb_config_from_sources(&c, 2, argv_bad2, env, err, sizeof err), -1);
    CHECK_HAS(err, "(flag --max-qos)");
    char *env_empty[] = {"FERRYMQ_CONFIG=", NULL};
    CHECK_INT(fb_config_from_sources(&c, 1, argv2, env_empty, err, sizeof err), -1);
    CHECK_HAS(err, "FERRYMQ_CONFIG: expected a file path");
    /* A bad flag is reported before the file is even read. */
    char *argv_bad3[] = {"ferrymq", "-c", "/nonexistent.yaml", "--nope=1", NULL};
    CHECK_INT(fb_config_from_sources(&c, 4, argv_bad3, env, err, sizeof err), -1);
    CHECK_HAS(err, "unknown flag \"--nope\"");

    unlink(path);
    unlink(path2);
    free(path);
    free(path2);
}

static void test_print_roundtrip(harness_t *t)
{
    fb_config_t a, b;
    char err[ERRLEN] = "";
    fb_config_defaults(&a);
    CHECK_INT(yaml(&a,
                   "listen: \"[::1]:0\"\ndata_dir: \"/tmp/a \\\"quoted\\\" \\\\ dir\"\n"
                   "log_level: debug\nqueue_drop: drop_newest\ntcp_nodelay: false\n"
                   "max_session_expiry: 0\n",
                   err),
              0);
    FILE *f = tmpfile();
    fb_config_print(&a, f);
    char *text = slurp(f);
    fclose(f);
    CHECK_HAS(text, "listen: \"[::1]:0\"\n");
    CHECK_HAS(text, "log_level: debug\n");
    CHECK_HAS(text, "queue_drop: drop_newest\n");
    CHECK_HAS(text, "tcp_nodelay: false\n");
    CHECK_HAS(text, "max_packet_size: 1048576\n");
    /* One line per setting. */
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_INT(lines, 40);
    /* The printout is a config file that gives the same settings back. */
    fb_config_defaults(&b);
    CHECK_INT(yaml(&b, text, err), 0);
    CHECK_STR(err, "");
    CHECK(fb_config_equal(&a, &b));
    CHECK_STR(b.data_dir, "/tmp/a \"quoted\" \\ dir");
    free(text);
    b.max_qos = 1;
    CHECK(!fb_config_equal(&a, &b));
    fb_config_free(&a);
    fb_config_free(&b);
}

/* The cluster settings: address lists and ranges are checked on load. */
static void test_cluster_settings(harness_t *t)
{
    fb_config_t c;
    char err[ERRLEN];
    fb_config_defaults(&c);
    CHECK_STR(c.cluster_listen, "");
    CHECK_STR(c.cluster_name, "ferrymq");
    CHECK_INT(c.cluster_protocol_max, 4);
    CHECK_INT(yaml(&c,
                   "cluster_listen: 127.0.0.1:7000\ncluster_seeds: \"10.0.0.1:7000,node-1.svc:7000\"\n"
                   "cluster_dns: ferry-headless.default.svc:7000\ncluster_secret: s3cret\n",
                   err),
              0);
    CHECK_STR(c.cluster_seeds, "10.0.0.1:7000,node-1.svc:7000");
    CHECK_STR(c.cluster_dns, "ferry-headless.default.svc:7000");
    const char *bad[] = {"cluster_seeds: \"a:1,\"\n", "cluster_seeds: \",a:1\"\n",
                         "cluster_seeds: \"a:1,,b:2\"\n", "cluster_seeds: \"a\"\n",
                         "cluster_seeds: \"a:99999\"\n", "cluster_dns: \"x y:1\"\n",
                         "cluster_protocol_max: 5\n", "cluster_protocol_max: 0\n",
                         "cluster_name: \"\"\n", "cluster_secret: \"a\\tb\"\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fb_config_t before;
        fb_config_defaults(&before);
        CHECK_INT(yaml(&before, bad[i], err), -1);
        CHECK_HAS(err, "cluster_");
        fb_config_free(&before);
    }
    fb_config_free(&c);
}

/* ---- log ---- */

/* Counts its calls, to show whether a log macro evaluated its arguments. */
static int bump(int *calls)
{
    return ++*calls;
}

static void test_log(harness_t *t)
{
    CHECK_INT(fb_log_level_parse("error"), FB_LOG_ERROR);
    CHECK_INT(fb_log_level_parse("WARN"), FB_LOG_WARN);
    CHECK_INT(fb_log_level_parse("Info"), FB_LOG_INFO);
    CHECK_INT(fb_log_level_parse("debug"), FB_LOG_DEBUG);
    CHECK_INT(fb_log_level_parse("warning"), -1);
    CHECK_INT(fb_log_level_parse(""), -1);
    CHECK_INT(fb_log_level_parse(NULL), -1);
    CHECK_STR(fb_log_level_name(FB_LOG_WARN), "warn");
    CHECK_STR(fb_log_level_name(9), "?");

    CHECK_INT(fb_log_get_level(), FB_LOG_INFO); /* the start value */
    fb_log_set_level(99);
    CHECK_INT(fb_log_get_level(), FB_LOG_DEBUG);
    fb_log_set_level(-5);
    CHECK_INT(fb_log_get_level(), FB_LOG_ERROR);

    FILE *sink = tmpfile();
    fb_log_set_sink(sink);
    fb_log_set_level(FB_LOG_WARN);
    int calls = 0;
    FB_DEBUG("hidden %d", bump(&calls));
    FB_INFO("hidden %d", bump(&calls));
    CHECK_INT(calls, 0); /* arguments not evaluated when off */
    FB_WARN("shown %d", bump(&calls));
    FB_ERROR("bad\nnews\x1b[0m %s", "here");
    CHECK_INT(calls, 1);
    char *out = slurp(sink);
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ WARN  shown 1\n" */
    const char *l1 = out, *l2 = strchr(out, '\n');
    CHECK(l2 != NULL);
    if (l2 != NULL) {
        l2++;
        CHECK_INT(l2 - l1, 24 + 1 + 5 + 1 + 7 + 1);
        CHECK(l1[4] == '-' && l1[7] == '-' && l1[10] == 'T' && l1[13] == ':' && l1[16] == ':' &&
              l1[19] == '.' && l1[23] == 'Z' && l1[24] == ' ');
        for (int i = 0; i < 23; i++)
            if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && i != 19)
                CHECK(l1[i] >= '0' && l1[i] <= '9');
        CHECK(strncmp(l1 + 25, "WARN  shown 1\n", 14) == 0);
        CHECK(strncmp(l2 + 25, "ERROR bad?news?[0m here\n", 24) == 0);
        CHECK(strchr(l2, '\n') != NULL && strchr(l2, '\n')[1] == '\0');
    }
    free(out);
    fclose(sink);

    /* A long message is cut to one line of FB_LOG_LINE_MAX bytes. */
    sink = tmpfile();
    fb_log_set_sink(sink);
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    fb_log(FB_LOG_ERROR, "%s", big);
    free(big);
    out = slurp(sink);
    CHECK_INT(strlen(out), FB_LOG_LINE_MAX);
    CHECK(strcmp(out + FB_LOG_LINE_MAX - 4, "...\n") == 0);
    free(out);
    fclose(sink);

    fb_log_set_sink(NULL);
    fb_log_set_level(FB_LOG_INFO);
}

int main(void)
{
    harness_t h = {0, 0, ""}, *t = &h;
    static const struct {
        const char *name;
        void (*fn)(harness_t *);
    } tests[] = {
        {"defaults", test_defaults},
        {"yaml_file", test_yaml_file},
        {"file_errors", test_file_errors},
        {"bad_values", test_bad_values},
        {"yaml_structure", test_yaml_structure},
        {"bool_spellings", test_bool_spellings},
        {"integer_bounds", test_integer_bounds},
        {"env", test_env},
        {"flags", test_flags},
        {"help", test_help},
        {"precedence", test_precedence},
        {"print_roundtrip", test_print_roundtrip},
        {"cluster_settings", test_cluster_settings},
        {"log", test_log},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        t->test = tests[i].name;
        tests[i].fn(t);
    }
    printf("%d passed, %d failed\n", t->passed, t->failed);
    return t->failed == 0 ? 0 : 1;
}
