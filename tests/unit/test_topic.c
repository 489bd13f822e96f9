/* Topic names, topic filters, levels and matching (MQTT 5.0 section 4.7, the
 * same in 3.1.1) and shared subscriptions (5.0 section 4.8.2). The matching
 * cases are the spec's own examples unless marked otherwise. */
#include "fmq_test.h"

#define B(s) fmq_cstr(s)

#define NAME_OK(s)                                                                             \
    do {                                                                                       \
        if (!CHECK_EQ_INT(fmq_topic_name_check(B(s)), 0))                                      \
            fprintf(stderr, "    topic name \"%s\"\n", s);                                     \
    } while (0)
#define NAME_BAD(s)                                                                            \
    do {                                                                                       \
        if (!CHECK_EQ_INT(fmq_topic_name_check(B(s)), -FMQ_RC_TOPIC_NAME_INVALID))             \
            fprintf(stderr, "    topic name \"%s\"\n", s);                                     \
    } while (0)
#define FILTER_OK(s)                                                                           \
    do {                                                                                       \
        if (!CHECK_EQ_INT(fmq_topic_filter_check(B(s)), 0))                                    \
            fprintf(stderr, "    topic filter \"%s\"\n", s);                                   \
    } while (0)
#define FILTER_BAD(s)                                                                          \
    do {                                                                                       \
        if (!CHECK_EQ_INT(fmq_topic_filter_check(B(s)), -FMQ_RC_TOPIC_FILTER_INVALID))         \
            fprintf(stderr, "    topic filter \"%s\"\n", s);                                   \
    } while (0)
#define MATCH(f, t)                                                                            \
    do {                                                                                       \
        if (!CHECK(fmq_topic_match(B(f), B(t))))                                               \
            fprintf(stderr, "    \"%s\" should match \"%s\"\n", f, t);                         \
    } while (0)
#define NO_MATCH(f, t)                                                                         \
    do {                                                                                       \
        if (!CHECK(!fmq_topic_match(B(f), B(t))))                                              \
            fprintf(stderr, "    \"%s\" should not match \"%s\"\n", f, t);                     \
    } while (0)

/* ---- names ---- */

static void topic_names_valid(void)
{
    NAME_OK("sport/tennis/player1");
    NAME_OK("a");
    NAME_OK("/");               /* two empty levels: valid */
    NAME_OK("/finance");
    NAME_OK("a//b");
    NAME_OK("a/");
    NAME_OK(" ");               /* space is a valid character */
    NAME_OK("$SYS/monitor/Clients");
    NAME_OK("ACCOUNTS");
    NAME_OK("\xC3\xA9t\xC3\xA9/\xE2\x82\xAC"); /* UTF-8 */
    NAME_OK("\xEF\xBB\xBF"); /* U+FEFF [MQTT-1.5.4-3] */
}

/* [MQTT-4.7.3-1] at least one character; [MQTT-4.7.0-1]/[MQTT-3.3.2-2]
 * no wildcards in a name; [MQTT-1.5.4-1/2] well-formed UTF-8 without U+0000. */
static void topic_names_invalid(void)
{
    NAME_BAD("");
    NAME_BAD("+");
    NAME_BAD("#");
    NAME_BAD("sport/+/player1");
    NAME_BAD("sport/#");
    NAME_BAD("a+b");
    NAME_BAD("a#");
    NAME_BAD("\xC0\xAF");     /* overlong */
    NAME_BAD("a/\xED\xA0\x80"); /* surrogate */
    fmq_bytes_t nul = FMQ_BYTES("a\0b");
    CHECK_EQ_INT(fmq_topic_name_check(nul), -FMQ_RC_TOPIC_NAME_INVALID);
}

/* ---- filters ---- */

static void topic_filters_valid(void)
{
    FILTER_OK("sport/tennis/player1/#"); /* 4.7.1.2 */
    FILTER_OK("sport/#");
    FILTER_OK("#");
    FILTER_OK("+");                      /* 4.7.1.3 */
    FILTER_OK("+/tennis/#");
    FILTER_OK("sport/+/player1");
    FILTER_OK("sport/tennis/+");
    FILTER_OK("+/+");
    FILTER_OK("/+");
    FILTER_OK("+/");
    FILTER_OK("/");
    FILTER_OK("a//b");
    FILTER_OK("$SYS/#");
    FILTER_OK("$SYS/monitor/+");
    FILTER_OK("a/b/c");
    FILTER_OK("+/+/#");
}

static void topic_filters_invalid(void)
{
    FILTER_BAD("");                       /* [MQTT-4.7.3-1] */
    FILTER_BAD("sport/tennis#");          /* 4.7.1.2: '#' must be a whole level */
    FILTER_BAD("sport/tennis/#/ranking"); /* 4.7.1.2: '#' must be last */
    FILTER_BAD("sport+");                 /* 4.7.1.3: '+' must be a whole level */
    FILTER_BAD("+a");
    FILTER_BAD("a+/b");
    FILTER_BAD("a/+b");
    FILTER_BAD("##");
    FILTER_BAD("#/");
    FILTER_BAD("#/a");
    FILTER_BAD("a/#/");
    FILTER_BAD("++");
    FILTER_BAD("a/\xFF");                 /* not UTF-8 */
    fmq_bytes_t nul = FMQ_BYTES("a/\0");
    CHECK_EQ_INT(fmq_topic_filter_check(nul), -FMQ_RC_TOPIC_FILTER_INVALID);
}

/* ---- levels ---- */

static void topic_levels(void)
{
    CHECK_EQ_INT(fmq_topic_levels(B("a")), 1);
    CHECK_EQ_INT(fmq_topic_levels(B("a/b")), 2);
    CHECK_EQ_INT(fmq_topic_levels(B("/")), 2);
    CHECK_EQ_INT(fmq_topic_levels(B("/finance")), 2);
    CHECK_EQ_INT(fmq_topic_levels(B("a//b")), 3);
    CHECK_EQ_INT(fmq_topic_levels(B("/a/")), 3);
    CHECK_EQ_INT(fmq_topic_levels(B("sport/tennis/player1/#")), 4);
    CHECK_EQ_INT(fmq_topic_levels(B("#")), 1);
}

/* ---- matching ---- */

/* 4.7.1.2 Multi-level wildcard */
static void match_multi_level(void)
{
    MATCH("sport/tennis/player1/#", "sport/tennis/player1");
    MATCH("sport/tennis/player1/#", "sport/tennis/player1/ranking");
    MATCH("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon");
    MATCH("sport/#", "sport"); /* "#" also matches the parent level */
    MATCH("#", "sport");
    MATCH("#", "sport/tennis/player1");
    MATCH("#", "/");
    MATCH("#", "/finance");
    MATCH("a/#", "a/");
    NO_MATCH("sport/tennis/player1/#", "sport/tennis/player2");
    NO_MATCH("sport/tennis/player1/#", "sport/tennis");
    NO_MATCH("sport/#", "sports");
    NO_MATCH("sport/#", "sporting/goods");
}

/* 4.7.1.3 Single-level wildcard */
static void match_single_level(void)
{
    MATCH("sport/tennis/+", "sport/tennis/player1");
    MATCH("sport/tennis/+", "sport/tennis/player2");
    NO_MATCH("sport/tennis/+", "sport/tennis/player1/ranking");
    NO_MATCH("sport/+", "sport");
    MATCH("sport/+", "sport/");
    MATCH("+", "sport");
    MATCH("+/+", "/finance");
    MATCH("/+", "/finance");
    NO_MATCH("+", "/finance");
    MATCH("+/tennis/#", "sport/tennis/player1");
    MATCH("sport/+/player1", "sport/tennis/player1");
    NO_MATCH("sport/+/player1", "sport/tennis/player2");
    MATCH("a/+/c", "a//c"); /* '+' matches an empty level (not a spec example) */
    NO_MATCH("+/+", "a");
    NO_MATCH("+/+", "a/b/c");
    MATCH("+/#", "a");
    MATCH("a/+/#", "a/b");
}

/* 4.7.2 Topics beginning with $ [MQTT-4.7.2-1] */
static void match_dollar_topics(void)
{
    NO_MATCH("#", "$SYS/x");
    NO_MATCH("#", "$SYS");
    NO_MATCH("+/monitor/Clients", "$SYS/monitor/Clients");
    NO_MATCH("+", "$SYS");
    NO_MATCH("+/#", "$SYS/x");
    MATCH("$SYS/#", "$SYS/x");
    MATCH("$SYS/#", "$SYS/monitor/Clients");
    MATCH("$SYS/#", "$SYS");
    MATCH("$SYS/monitor/+", "$SYS/monitor/Clients");
    MATCH("$SYS/monitor/Clients", "$SYS/monitor/Clients");
    MATCH("a/#", "a/$b"); /* only the first level is special */
    MATCH("+/$b", "a/$b");
}

static void match_literal(void)
{
    MATCH("sport/tennis/player1", "sport/tennis/player1");
    NO_MATCH("sport/tennis/player1", "sport/tennis/player1/");
    NO_MATCH("sport/tennis/player1", "sport/tennis");
    NO_MATCH("sport/tennis", "sport/tennis/player1");
    NO_MATCH("a/b", "a/bc");
    NO_MATCH("a/bc", "a/b");
    NO_MATCH("ACCOUNTS", "Accounts"); /* 4.7.3: case sensitive */
    NO_MATCH("/finance", "finance");  /* 4.7.3: a leading '/' is a distinct level */
    MATCH("/", "/");
    MATCH("a//b", "a//b");
    NO_MATCH("a//b", "a/b");
}

/* ---- shared subscriptions (4.8.2) ---- */

static void share_valid_and_split(void)
{
    FILTER_OK("$share/g/a/b");
    FILTER_OK("$share/consumer1/sport/tennis/+");
    FILTER_OK("$share/g/#");
    FILTER_OK("$share/g//");
    fmq_bytes_t group = {NULL, 0}, filter = {NULL, 0};
    REQUIRE(fmq_topic_share_split(B("$share/g/a/b"), &group, &filter));
    CHECK_BSTR(group, "g");
    CHECK_BSTR(filter, "a/b");
    REQUIRE(fmq_topic_share_split(B("$share/consumer1/sport/tennis/+"), &group, &filter));
    CHECK_BSTR(group, "consumer1");
    CHECK_BSTR(filter, "sport/tennis/+");
    /* borrowed from the input */
    fmq_bytes_t in = B("$share/grp/x");
    REQUIRE(fmq_topic_share_split(in, &group, &filter));
    CHECK(group.ptr == in.ptr + 7);
    CHECK(filter.ptr == in.ptr + 11);
}

static void share_not_shared(void)
{
    fmq_bytes_t group, filter;
    CHECK(!fmq_topic_share_split(B("a/b"), &group, &filter));
    CHECK(!fmq_topic_share_split(B("$SYS/x"), &group, &filter));
    CHECK(!fmq_topic_share_split(B("$sharex/g/a"), &group, &filter));
    CHECK(!fmq_topic_share_split(B("share/g/a"), &group, &filter));
    CHECK(!fmq_topic_share_split(B("$SHARE/g/a"), &group, &filter)); /* case sensitive */
    CHECK(!fmq_topic_share_split(B("#"), &group, &filter));
}

/* [MQTT-4.8.2-1] ShareName at least one character; [MQTT-4.8.2-2] no '/',
 * '+' or '#' in it, then '/', then a Topic Filter. */
static void share_invalid(void)
{
    FILTER_BAD("$share/g");      /* no '/' and filter after the group */
    FILTER_BAD("$share//a");     /* empty ShareName */
    FILTER_BAD("$share/g+/a");   /* '+' in ShareName */
    FILTER_BAD("$share/g#/a");   /* '#' in ShareName */
    FILTER_BAD("$share/+/a");
    FILTER_BAD("$share/#/a");
    FILTER_BAD("$share/g/");     /* empty Topic Filter */
    FILTER_BAD("$share/");
    FILTER_BAD("$share/g/a#");   /* the inner filter follows the filter rules */
    FILTER_BAD("$share/g/#/a");
}

CHECK_MAIN(T(topic_names_valid), T(topic_names_invalid), T(topic_filters_valid),
           T(topic_filters_invalid), T(topic_levels), T(match_multi_level),
           T(match_single_level), T(match_dollar_topics), T(match_literal),
           T(share_valid_and_split), T(share_not_shared), T(share_invalid))
