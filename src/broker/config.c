/*
 * The broker's settings (see config.h): one table row per setting, and
 * small loaders that map each source (YAML file, environment, flags) onto
 * that table. Everything a user can set, and every message about it, comes
 * from the table, so the sources cannot drift apart. Every loader works on
 * a copy and commits it only on success, so a bad source changes nothing.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* strdup, gethostname, inet_pton */
#endif

#include "broker/config.h"

#include "broker/log.h"
#include "mqtt/fmq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* The documented range ends at the largest packet MQTT can frame. */
_Static_assert(FMQ_MAX_PACKET == 268435460u,
               "max_packet_size range is documented as 64..268435460");
/* log_level stores a level; the table's choice text lists them in order. */
_Static_assert(FB_LOG_ERROR == 0 && FB_LOG_DEBUG == 3, "log levels are 0..3");

#define FILE_MAX (1u << 20) /* a config file is a few hundred bytes; refuse a wrong file */
#define VALUE_SHOWN 64      /* bytes of a bad value quoted in a message */

typedef enum {
    K_STR,   /* char *, checked by a per-row function */
    K_U32,   /* uint32_t in [min, max], decimal only */
    K_BOOL,  /* bool, true/false/yes/no/on/off/1/0 */
    K_LEVEL, /* int log level, via fb_log_level_parse */
    K_DROP,  /* fb_drop_policy_t */
} kind_t;

typedef struct setting {
    const char *name; /* snake_case: the YAML key; flags and env derive from it */
    kind_t kind;
    size_t offset;
    uint32_t min, max;            /* K_U32 */
    uint32_t def;                 /* default of non-string kinds (bool 0/1, enum value) */
    const char *def_str;          /* K_STR default; NULL: computed (node_name) */
    bool (*check)(const char *v); /* K_STR validity */
    const char *rule;             /* K_STR: the rule as a message states it */
    const char *metavar;          /* what --help shows after the flag */
    const char *doc;              /* one line, for --help and the docs */
} setting_t;

static bool check_listen(const char *v);
static bool check_node_name(const char *v);
static bool check_data_dir(const char *v);
static bool check_opt_addr(const char *v);
static bool check_opt_listen(const char *v);
static bool check_addr_list(const char *v);
static bool check_cluster_name(const char *v);
static bool check_secret(const char *v);

#define OFF(f) offsetof(fb_config_t, f)
#define ROW_U32(f, lo, hi, d, doc_)                                                                \
    {                                                                                              \
        .name = #f, .kind = K_U32, .offset = OFF(f), .min = (lo), .max = (hi), .def = (d),         \
        .metavar = "N", .doc = (doc_)                                                              \
    }
#define ROW_BOOL(f, d, doc_)                                                                       \
    {                                                                                              \
        .name = #f, .kind = K_BOOL, .offset = OFF(f), .def = (d), .metavar = "BOOL", .doc = (doc_) \
    }
#define ROW_ENUM(f, k, d, meta, doc_)                                                              \
    {                                                                                              \
        .name = #f, .kind = (k), .offset = OFF(f), .def = (d), .metavar = (meta), .doc = (doc_)    \
    }
#define ROW_STR(f, d, chk, rule_, meta, doc_)                                                      \
    {                                                                                              \
        .name = #f, .kind = K_STR, .offset = OFF(f), .def_str = (d), .check = (chk),               \
        .rule = (rule_), .metavar = (meta), .doc = (doc_)                                          \
    }

/* THE table. docs/configuration.md is written from it: keep them in step. */
static const setting_t settings[] = {
    ROW_STR(listen, "0.0.0.0:1883", check_listen,
            "expected IPV4:PORT or [IPV6]:PORT with a port from 0 to 65535", "ADDR:PORT",
            "IP address and port the MQTT listener binds; port 0 picks a free port"),
    ROW_STR(node_name, NULL, check_node_name,
            "expected 1 to 255 characters from A-Z a-z 0-9 . _ - @ :", "NAME",
            "this node's name in the cluster and in logs"),
    ROW_STR(data_dir, "./data", check_data_dir,
            "expected a non-empty path of at most 4095 bytes without control characters", "DIR",
            "directory where the node keeps its persistent state"),
    ROW_ENUM(log_level, K_LEVEL, FB_LOG_INFO, "LEVEL",
             "least severe level logged: error, warn, info or debug"),
    ROW_U32(max_connections, 0, UINT32_MAX, 0,
            "most client connections at once; 0 derives it from the open-file limit"),
    ROW_U32(max_packet_size, 64, 268435460u, 1048576,
            "largest MQTT packet accepted, in bytes (sent as Maximum Packet Size)"),
    ROW_U32(max_client_id_len, 1, 65535, 256, "longest client identifier accepted, in bytes"),
    ROW_U32(max_topic_levels, 1, 1024, 128, "most '/'-separated levels in a topic name or filter"),
    ROW_U32(max_inflight, 1, 65535, 32,
            "Receive Maximum granted: QoS 1/2 PUBLISHes a client may have unacknowledged"),
    ROW_U32(max_queued, 0, 10000000, 1000,
            "most messages queued for one session; beyond it queue_drop applies"),
    ROW_ENUM(queue_drop, K_DROP, FB_DROP_OLDEST, "POLICY",
             "which message a full session queue drops: drop_oldest or drop_newest"),
    ROW_U32(max_topic_alias, 0, 65535, 64,
            "Topic Alias Maximum accepted from clients; 0 disables topic aliases"),
    ROW_U32(v3_session_expiry, 0, UINT32_MAX, 7200,
            "seconds a 3.1.1 clean_session=0 session lives after its client disconnects"),
    ROW_U32(max_session_expiry, 0, UINT32_MAX, UINT32_MAX,
            "cap on any session expiry, in seconds; 4294967295 means never expire"),
    ROW_U32(server_keep_alive, 0, 65535, 0,
            "0 accepts the client's keep-alive; else the Server Keep Alive imposed, in seconds"),
    ROW_U32(max_keep_alive, 0, 65535, 65535, "largest keep-alive a client may use, in seconds"),
    ROW_U32(connect_timeout_ms, 100, 600000, 10000,
            "milliseconds a new connection has to send CONNECT before it is closed"),
    ROW_BOOL(allow_anonymous, 1, "accept clients that send no username"),
    ROW_BOOL(retain_available, 1, "support retained messages (Retain Available)"),
    ROW_U32(max_qos, 0, 2, 2, "highest QoS granted (Maximum QoS)"),
    ROW_BOOL(tcp_nodelay, 1, "set TCP_NODELAY on client sockets"),
    ROW_U32(listen_backlog, 1, 65535, 4096, "listen(2) backlog of the client listener"),
    ROW_U32(write_buffer_limit, 4096, 1073741824u, 8388608,
            "bytes queued to one client before its QoS 0 messages are dropped"),
    ROW_STR(admin_listen, "", check_opt_listen,
            "expected empty, or IPV4:PORT or [IPV6]:PORT with a port from 0 to 65535",
            "ADDR:PORT", "address of the admin HTTP server (health, metrics); empty: off"),
    ROW_STR(admin_token, "", check_secret,
            "expected at most 1024 bytes without control characters", "TOKEN",
            "bearer token the admin API requires; without one it listens on loopback only"),
    ROW_STR(cluster_listen, "", check_opt_addr,
            "expected empty, or HOST:PORT with a port from 0 to 65535", "ADDR:PORT",
            "address the cluster port binds; empty runs a single node"),
    ROW_STR(cluster_advertise, "", check_opt_addr,
            "expected empty, or HOST:PORT with a port from 1 to 65535", "HOST:PORT",
            "address other nodes use to reach this one; empty: cluster_listen"),
    ROW_STR(cluster_name, "ferrymq", check_cluster_name,
            "expected 1 to 255 characters from A-Z a-z 0-9 . _ - @ :", "NAME",
            "nodes join only a cluster of the same name"),
    ROW_STR(cluster_secret, "", check_secret,
            "expected at most 1024 bytes without control characters", "SECRET",
            "shared secret every node of the cluster knows (required with cluster_listen)"),
    ROW_STR(cluster_seeds, "", check_addr_list,
            "expected a comma-separated list of HOST:PORT", "LIST",
            "cluster addresses of nodes to join (static discovery)"),
    ROW_STR(cluster_dns, "", check_opt_addr,
            "expected empty, or NAME:PORT with a port from 1 to 65535", "NAME:PORT",
            "a DNS name whose A records are the nodes (a headless Service), polled"),
    ROW_U32(cluster_dns_interval_ms, 100, 3600000, 5000, "milliseconds between DNS polls"),
    ROW_U32(cluster_heartbeat_ms, 50, 60000, 1000, "milliseconds between heartbeats on a link"),
    ROW_U32(cluster_peer_timeout_ms, 100, 600000, 5000,
            "a peer silent this long is dead: its routes and sessions are dropped"),
    ROW_U32(cluster_forget_after_ms, 0, 86400000, 60000,
            "a dead peer is retried this long, then forgotten"),
    ROW_U32(cluster_takeover_timeout_ms, 100, 600000, 5000,
            "how long a CONNECT waits for its session from another node"),
    ROW_U32(cluster_handoff_linger_ms, 0, 600000, 2000,
            "how long a node forwards messages for a session it handed to another"),
    ROW_U32(cluster_max_frame, 65536, 1073741824u, 268435456,
            "largest cluster frame, in bytes (a session moves in one frame)"),
    ROW_U32(cluster_link_buffer_limit, 1048576, 4294967295u, 1073741824u,
            "bytes queued to one peer before the link is cut as too slow"),
    ROW_U32(cluster_protocol_max, 1, 4, 4,
            "highest cluster protocol version spoken (lower it to test mixed releases)"),
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static const char *const drop_names[] = {"drop_oldest", "drop_newest"};

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void *field(fb_config_t *c, const setting_t *s)
{
    return (char *)c + s->offset;
}

static const void *cfield(const fb_config_t *c, const setting_t *s)
{
    return (const char *)c + s->offset;
}

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/* ASCII only: the locale must not change what a config means. */
static bool ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b))
            return false;
    return *a == *b;
}

/* Writes v (vlen bytes) as a double-quoted string with C-style escapes,
 * at most VALUE_SHOWN bytes of it, so that a hostile value cannot make a
 * message unreadable or split a log line. */
static void quote(char *out, size_t outlen, const char *v, size_t vlen)
{
    size_t o = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 < outlen)                                                                        \
            out[o++] = (ch);                                                                       \
    } while (0)
    PUT('"');
    size_t shown = vlen < VALUE_SHOWN ? vlen : VALUE_SHOWN;
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '"' || ch == '\\') {
            PUT('\\');
            PUT((char)ch);
        } else if (ch < 0x20 || ch >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            PUT('\\');
            PUT('x');
            PUT(hex[ch >> 4]);
            PUT(hex[ch & 15]);
        } else {
            PUT((char)ch);
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

/* The rule a value broke, phrased for a message. */
static void describe(const setting_t *s, char *out, size_t outlen)
{
    switch (s->kind) {
    case K_STR:
        snprintf(out, outlen, "%s", s->rule);
        break;
    case K_U32:
        snprintf(out, outlen, "expected an integer from %" PRIu32 " to %" PRIu32, s->min, s->max);
        break;
    case K_BOOL:
        snprintf(out, outlen, "expected true/false, yes/no, on/off or 1/0");
        break;
    case K_LEVEL:
        snprintf(out, outlen, "expected error, warn, info or debug");
        break;
    case K_DROP:
        snprintf(out, outlen, "expected drop_oldest or drop_newest");
        break;
    }
}

/* ---- value syntax ---- */

/* Decimal digits only: no sign, no space, no 0x; more than 32 bits fails. */
static bool parse_u32(const char *v, uint32_t *out)
{
    if (*v == '\0')
        return false;
    uint64_t acc = 0;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return false;
        acc = acc * 10 + (uint64_t)(*v - '0');
        if (acc > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)acc;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (ascii_ieq(v, yes[i])) {
            *out = true;
            return true;
        }
        if (ascii_ieq(v, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* An IPv4 address or a bracketed IPv6 one, then a port: exactly what the
 * listener can bind without a resolver, so that a host name fails here,
 * with its source, rather than at start-up. */
static bool check_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v)
        return false;
    uint32_t port;
    if (strlen(colon + 1) > 5 || !parse_u32(colon + 1, &port) || port > 65535)
        return false;
    size_t hlen = (size_t)(colon - v);
    char host[INET6_ADDRSTRLEN + 2];
    unsigned char addr[sizeof(struct in6_addr)];
    if (hlen >= sizeof host)
        return false;
    memcpy(host, v, hlen);
    host[hlen] = '\0';
    if (host[0] == '[') {
        /* "[::1]:1883": brackets are how an IPv6 address carries a port. */
        if (hlen < 3 || host[hlen - 1] != ']')
            return false;
        host[hlen - 1] = '\0';
        return inet_pton(AF_INET6, host + 1, addr) == 1;
    }
    return inet_pton(AF_INET, host, addr) == 1;
}

static bool check_opt_listen(const char *v)
{
    return *v == '\0' || check_listen(v);
}

/* Empty, or a host (name or address) and a port: resolved when used. */
static bool check_opt_addr(const char *v)
{
    if (*v == '\0')
        return true;
    const char *colon = strrchr(v, ':');
    uint32_t port;
    if (colon == NULL || colon == v || colon - v > 253 || strlen(colon + 1) > 5 ||
        !parse_u32(colon + 1, &port) || port > 65535)
        return false;
    for (const char *p = v; p < colon; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '.' || *p == '-' || *p == '_' || *p == '[' || *p == ']' || *p == ':'))
            return false;
    return true;
}

static bool check_addr_list(const char *v)
{
    if (strlen(v) > 8192)
        return false;
    char item[300];
    while (*v) {
        const char *comma = strchr(v, ',');
        size_t n = comma ? (size_t)(comma - v) : strlen(v);
        if (n == 0 || n >= sizeof item)
            return false;
        memcpy(item, v, n);
        item[n] = '\0';
        if (!check_opt_addr(item))
            return false;
        v += n + (comma ? 1 : 0);
        if (comma && *v == '\0')
            return false;
    }
    return true;
}

static bool check_secret(const char *v)
{
    if (strlen(v) > 1024)
        return false;
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

static bool check_cluster_name(const char *v);

static bool node_name_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '.' || ch == '_' || ch == '-' || ch == '@' || ch == ':';
}

static bool check_node_name(const char *v)
{
    size_t n = strlen(v);
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!node_name_char(v[i]))
            return false;
    return true;
}

static bool check_cluster_name(const char *v)
{
    return check_node_name(v);
}

static bool check_data_dir(const char *v)
{
    size_t n = strlen(v);
    if (n < 1 || n > 4095)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 || ch == 0x7f)
            return false;
        /* C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F): control characters
         * too, and YAML reads U+0085 as a line break. */
        if (ch == 0xC2 && i + 1 < n && (unsigned char)v[i + 1] >= 0x80 &&
            (unsigned char)v[i + 1] <= 0x9F)
            return false;
    }
    return true;
}

/* ---- the table, applied ---- */

typedef enum { APPLY_OK = 0, APPLY_BAD = -1, APPLY_NOMEM = -2 } apply_rc;

/* Parses v (vlen bytes; v[vlen] is NUL) as row s and stores it in c. On a
 * bad value writes the full message, with `where` as the source. `missing`
 * says the source gave no value at all (a YAML null). */
static apply_rc apply(fb_config_t *c, const setting_t *s, const char *v, size_t vlen, bool missing,
                      const char *where, char *err, size_t errlen)
{
    bool ok = false;
    /* A NUL inside the value (YAML "\0") would silently cut it short. */
    if (!missing && strlen(v) == vlen) {
        switch (s->kind) {
        case K_STR:
            if (s->check(v)) {
                char *dup = strdup(v);
                if (dup == NULL) {
                    set_err(err, errlen, "config: out of memory");
                    return APPLY_NOMEM;
                }
                char **slot = field(c, s);
                free(*slot);
                *slot = dup;
                ok = true;
            }
            break;
        case K_U32: {
            uint32_t n;
            if (parse_u32(v, &n) && n >= s->min && n <= s->max) {
                *(uint32_t *)field(c, s) = n;
                ok = true;
            }
            break;
        }
        case K_BOOL: {
            bool b;
            if (parse_bool(v, &b)) {
                *(bool *)field(c, s) = b;
                ok = true;
            }
            break;
        }
        case K_LEVEL: {
            int level = fb_log_level_parse(v);
            if (level >= 0) {
                *(int *)field(c, s) = level;
                ok = true;
            }
            break;
        }
        case K_DROP:
            for (size_t i = 0; i < sizeof drop_names / sizeof drop_names[0]; i++) {
                if (ascii_ieq(v, drop_names[i])) {
                    *(fb_drop_policy_t *)field(c, s) = (fb_drop_policy_t)i;
                    ok = true;
                }
            }
            break;
        }
    }
    if (ok)
        return APPLY_OK;
    char rule[160], shown[VALUE_SHOWN * 4 + 8];
    describe(s, rule, sizeof rule);
    if (missing)
        snprintf(shown, sizeof shown, "no value");
    else
        quote(shown, sizeof shown, v, vlen);
    set_err(err, errlen, "config: %s: %s, got %s (%s)", s->name, rule, shown, where);
    return APPLY_BAD;
}

/* Exact lookup of a snake_case name of `len` bytes. */
static const setting_t *find(const char *name, size_t len)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strlen(settings[i].name) == len && memcmp(settings[i].name, name, len) == 0)
            return &settings[i];
    return NULL;
}

/* Edit distance, for "did you mean": names are short, so O(n*m) is nothing. */
static size_t distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    size_t prev[64], cur[64];
    if (la >= 64 || lb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* The setting a mistyped name most likely meant, or NULL. Case and '-'
 * versus '_' are ignored, so "Max-Packet-Size" suggests max_packet_size. */
static const setting_t *suggest(const char *name, size_t len)
{
    char norm[64];
    if (len >= sizeof norm)
        return NULL;
    for (size_t i = 0; i < len; i++)
        norm[i] = name[i] == '-' ? '_' : lower(name[i]);
    const setting_t *best = NULL;
    size_t best_d = 3; /* two edits: a transposition or a doubled letter */
    for (size_t i = 0; i < NSETTINGS; i++) {
        size_t d = distance(norm, len, settings[i].name);
        if (d < best_d) {
            best_d = d;
            best = &settings[i];
        }
    }
    return best;
}

static void free_strings(fb_config_t *c)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].kind == K_STR) {
            char **slot = field(c, &settings[i]);
            free(*slot);
            *slot = NULL;
        }
    }
}

/* Deep copy, so that a loader can work on a copy and commit on success. */
static int clone(fb_config_t *dst, const fb_config_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].kind == K_STR)
            *(char **)field(dst, &settings[i]) = NULL;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].kind != K_STR)
            continue;
        const char *s = *(char *const *)cfield(src, &settings[i]);
        if (s == NULL)
            continue;
        char *dup = strdup(s);
        if (dup == NULL) {
            free_strings(dst);
            return -1;
        }
        *(char **)field(dst, &settings[i]) = dup;
    }
    return 0;
}

static void commit(fb_config_t *c, fb_config_t *tmp)
{
    free_strings(c);
    *c = *tmp;
}

/* ---- defaults ---- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        fputs("ferrymq: out of memory while setting defaults\n", stderr);
        abort();
    }
    return d;
}

/* "ferrymq@" plus the host name, with characters a node name may not hold
 * replaced, so that the default always passes check_node_name. */
static char *default_node_name(void)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    char name[256];
    /* A node name holds at most 255 bytes: cut a very long host name. */
    snprintf(name, sizeof name, "ferrymq@%.247s", host);
    for (char *p = name; *p; p++)
        if (!node_name_char(*p))
            *p = '-';
    return xstrdup(name);
}

void fb_config_defaults(fb_config_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        switch (s->kind) {
        case K_STR:
            *(char **)field(c, s) = s->def_str ? xstrdup(s->def_str) : default_node_name();
            break;
        case K_U32:
            *(uint32_t *)field(c, s) = s->def;
            break;
        case K_BOOL:
            *(bool *)field(c, s) = s->def != 0;
            break;
        case K_LEVEL:
            *(int *)field(c, s) = (int)s->def;
            break;
        case K_DROP:
            *(fb_drop_policy_t *)field(c, s) = (fb_drop_policy_t)s->def;
            break;
        }
    }
}

void fb_config_free(fb_config_t *c)
{
    if (c != NULL)
        free_strings(c);
}

/* ---- YAML ---- */

/* Where the YAML walk is: it accepts exactly one mapping of scalars. */
typedef enum { Y_ROOT, Y_KEY, Y_VALUE, Y_AFTER_ROOT } ystate_t;

static const char *event_noun(yaml_event_type_t t)
{
    switch (t) {
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_SEQUENCE_START_EVENT:
        return "a sequence";
    case YAML_ALIAS_EVENT:
        return "an alias";
    case YAML_SCALAR_EVENT:
        return "a single value";
    default:
        return "something else";
    }
}

static void yaml_syntax_err(const yaml_parser_t *p, const char *text, size_t len,
                            const char *source, char *err, size_t errlen)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_MEMORY_ERROR) {
        set_err(err, errlen, "config: out of memory while reading %s", source);
    } else if (p->error == YAML_READER_ERROR) {
        /* The reader (encoding, control characters) knows a byte offset
         * only; the line is what a person looks for. */
        size_t line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += text[i] == '\n';
        set_err(err, errlen, "config: invalid YAML: %s (%s:%zu, byte %zu)", problem, source, line,
                p->problem_offset);
    } else if (p->context != NULL) {
        /* libyaml stops where it gave up, often the line after the mistake;
         * the context ("while scanning a simple key") says where it began. */
        set_err(err, errlen, "config: invalid YAML: %s (%s:%zu:%zu), %s at line %zu", problem,
                source, p->problem_mark.line + 1, p->problem_mark.column + 1, p->context,
                p->context_mark.line + 1);
    } else {
        set_err(err, errlen, "config: invalid YAML: %s (%s:%zu:%zu)", problem, source,
                p->problem_mark.line + 1, p->problem_mark.column + 1);
    }
}

/* A plain (unquoted) scalar that YAML reads as null: "key:" or "key: ~". */
static bool yaml_is_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    return n == 0 || (n == 1 && v[0] == '~') ||
           (n == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

int fb_config_load_yaml(fb_config_t *c, const char *text, size_t len, const char *source_name,
                        char *err, size_t errlen)
{
    const char *src = source_name ? source_name : "<yaml>";
    fb_config_t tmp;
    if (clone(&tmp, c) != 0) {
        set_err(err, errlen, "config: out of memory");
        return -1;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fb_config_free(&tmp);
        set_err(err, errlen, "config: out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)(text ? text : ""), text ? len : 0);

    ystate_t st = Y_ROOT;
    unsigned documents = 0;
    const setting_t *key = NULL; /* the key whose value comes next */
    size_t first_line[sizeof settings / sizeof settings[0]] = {0}; /* 0: not seen */
    int rc = -1;
    char where[512];

    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            yaml_syntax_err(&p, text ? text : "", text ? len : 0, src, err, errlen);
            break;
        }
        size_t line = ev.start_mark.line + 1;
        snprintf(where, sizeof where, "%s:%zu", src, line);
        bool fail = false, done = false;

        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            /* Several documents would leave it unclear which one is meant. */
            if (++documents > 1) {
                set_err(err, errlen, "config: expected one YAML document, found a second (%s)",
                        where);
                fail = true;
            }
            st = Y_ROOT;
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_ALIAS_EVENT:
            if (ev.type == YAML_MAPPING_START_EVENT && st == Y_ROOT) {
                st = Y_KEY;
                break;
            }
            /* Anything else is nesting, a list or a reference: the file is
             * a flat list of settings, so each of these is a mistake. */
            if (st == Y_VALUE && key != NULL)
                set_err(err, errlen, "config: %s: expected a single value, got %s (%s)", key->name,
                        event_noun(ev.type), where);
            else if (st == Y_KEY)
                set_err(err, errlen, "config: expected a setting name, got %s (%s)",
                        event_noun(ev.type), where);
            else
                set_err(err, errlen,
                        "config: expected a mapping of setting names to values, got %s (%s)",
                        event_noun(ev.type), where);
            fail = true;
            break;
        case YAML_MAPPING_END_EVENT:
            st = Y_AFTER_ROOT;
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            size_t vlen = ev.data.scalar.length;
            if (st == Y_ROOT) {
                /* "---" alone, or "~": an empty document sets nothing. */
                if (yaml_is_null(&ev)) {
                    st = Y_AFTER_ROOT;
                    break;
                }
                set_err(err, errlen,
                        "config: expected a mapping of setting names to values, got a single "
                        "value (%s)",
                        where);
                fail = true;
            } else if (st == Y_KEY) {
                key = strlen(v) == vlen ? find(v, vlen) : NULL;
                if (key == NULL) {
                    char shown[VALUE_SHOWN * 4 + 8];
                    quote(shown, sizeof shown, v, vlen);
                    const setting_t *hint = suggest(v, vlen);
                    if (hint)
                        set_err(err, errlen, "config: unknown setting %s, did you mean %s? (%s)",
                                shown, hint->name, where);
                    else
                        set_err(err, errlen, "config: unknown setting %s (%s)", shown, where);
                    fail = true;
                    break;
                }
                size_t k = (size_t)(key - settings);
                if (first_line[k] != 0) {
                    set_err(err, errlen, "config: %s: set twice (%s, first at line %zu)", key->name,
                            where, first_line[k]);
                    fail = true;
                    break;
                }
                first_line[k] = line;
                st = Y_VALUE;
            } else if (st == Y_VALUE) {
                if (apply(&tmp, key, v, vlen, yaml_is_null(&ev), where, err, errlen) != APPLY_OK)
                    fail = true;
                st = Y_KEY;
            } else {
                /* Unreachable: libyaml ends the root node before another. */
                set_err(err, errlen, "config: unexpected YAML structure (%s)", where);
                fail = true;
            }
            break;
        }
        default:
            /* Unreachable: nesting is refused before its end event. */
            set_err(err, errlen, "config: unexpected YAML structure (%s)", where);
            fail = true;
            break;
        }
        yaml_event_delete(&ev);
        if (fail)
            break;
        if (done) {
            rc = 0;
            break;
        }
    }
    yaml_parser_delete(&p);
    if (rc == 0)
        commit(c, &tmp);
    else
        fb_config_free(&tmp);
    return rc;
}

int fb_config_load_file(fb_config_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_err(err, errlen, "config: cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        set_err(err, errlen, "config: out of memory");
        return -1;
    }
    size_t n = fread(buf, 1, FILE_MAX + 1, f);
    int rc = -1;
    if (ferror(f))
        set_err(err, errlen, "config: cannot read config file %s: %s", path, strerror(errno));
    else if (n > FILE_MAX)
        set_err(err, errlen, "config: config file %s is larger than %u bytes", path, FILE_MAX);
    else
        rc = fb_config_load_yaml(c, buf, n, path, err, errlen);
    free(buf);
    fclose(f);
    return rc;
}

/* ---- environment ---- */

#define ENV_PREFIX "FERRYMQ_"
#define ENV_PREFIX_LEN (sizeof ENV_PREFIX - 1)
#define ENV_CONFIG "FERRYMQ_CONFIG"

/* The value of `name` in envp, or NULL; the first match wins, as getenv. */
static const char *env_find(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

int fb_config_load_env(fb_config_t *c, char *const *envp, char *err, size_t errlen)
{
    fb_config_t tmp;
    if (clone(&tmp, c) != 0) {
        set_err(err, errlen, "config: out of memory");
        return -1;
    }
    for (char *const *e = envp; e && *e; e++) {
        const char *var = *e;
        const char *eq = strchr(var, '=');
        if (eq == NULL || strncmp(var, ENV_PREFIX, ENV_PREFIX_LEN) != 0)
            continue;
        size_t vlen = (size_t)(eq - var);
        if (vlen == sizeof ENV_CONFIG - 1 && memcmp(var, ENV_CONFIG, vlen) == 0)
            continue; /* the file's path; fb_config_from_sources reads it */

        /* The name must be the setting in upper case exactly: a lower-case
         * letter would be a second spelling, and a second spelling is how
         * typos hide. */
        const char *suffix = var + ENV_PREFIX_LEN;
        size_t slen = vlen - ENV_PREFIX_LEN;
        const setting_t *s = NULL;
        char lowered[64];
        if (slen > 0 && slen < sizeof lowered) {
            bool upper = true;
            for (size_t i = 0; i < slen; i++) {
                if (suffix[i] >= 'a' && suffix[i] <= 'z')
                    upper = false;
                lowered[i] = lower(suffix[i]);
            }
            if (upper)
                s = find(lowered, slen);
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(vlen < 100 ? vlen : 100), var);
        if (s == NULL) {
            const setting_t *hint = suggest(suffix, slen);
            if (hint) {
                char up[64];
                size_t i = 0;
                for (; hint->name[i] && i + 1 < sizeof up; i++)
                    up[i] = (hint->name[i] >= 'a' && hint->name[i] <= 'z')
                                ? (char)(hint->name[i] - 'a' + 'A')
                                : hint->name[i];
                up[i] = '\0';
                set_err(err, errlen,
                        "config: unknown variable %s, did you mean " ENV_PREFIX "%s? (environment)",
                        name, up);
            } else {
                set_err(err, errlen,
                        "config: unknown variable %s; FERRYMQ_ variables must name a setting "
                        "(environment)",
                        name);
            }
            fb_config_free(&tmp);
            return -1;
        }
        char where[160];
        snprintf(where, sizeof where, "environment %s", name);
        if (apply(&tmp, s, eq + 1, strlen(eq + 1), false, where, err, errlen) != APPLY_OK) {
            fb_config_free(&tmp);
            return -1;
        }
    }
    commit(c, &tmp);
    return 0;
}

/* ---- flags ---- */

static bool is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int fb_config_load_args(fb_config_t *c, int argc, char **argv, const char **config_path_out,
                        char *err, size_t errlen)
{
    if (config_path_out)
        *config_path_out = NULL;
    /* Help wins wherever it stands, even after a mistake: a user who asks
     * for help is usually the one who just made it. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (is_help(argv[i])) {
            fb_config_usage(stdout, argc > 0 && argv[0] ? argv[0] : "ferrymq");
            fflush(stdout);
            return 1;
        }
    }

    fb_config_t tmp;
    if (clone(&tmp, c) != 0) {
        set_err(err, errlen, "config: out of memory");
        return -1;
    }
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char shown[VALUE_SHOWN * 4 + 8];
        quote(shown, sizeof shown, a, strlen(a));
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) {
                quote(shown, sizeof shown, argv[i + 1], strlen(argv[i + 1]));
                set_err(err, errlen, "config: unexpected argument %s (command line)", shown);
                goto fail;
            }
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            set_err(err, errlen,
                    "config: unexpected argument %s; settings are given as --name=value "
                    "(command line)",
                    shown);
            goto fail;
        }
        /* Split "--name=value" / "--name value"; "-c" is the one short flag. */
        const char *name, *value = NULL;
        size_t nlen;
        bool is_config = false;
        if (a[1] == 'c' && a[2] == '\0') {
            name = a;
            nlen = 2;
            is_config = true;
        } else if (a[1] == '-') {
            name = a + 2;
            const char *eq = strchr(name, '=');
            nlen = eq ? (size_t)(eq - name) : strlen(name);
            if (eq)
                value = eq + 1;
            is_config = nlen == 6 && memcmp(name, "config", 6) == 0;
        } else {
            set_err(err, errlen, "config: unknown flag %s (command line)", shown);
            goto fail;
        }

        char norm[64];
        const setting_t *s = NULL;
        if (!is_config && nlen > 0 && nlen < sizeof norm) {
            for (size_t k = 0; k < nlen; k++)
                norm[k] = name[k] == '-' ? '_' : name[k];
            s = find(norm, nlen);
        }
        char flag[96];
        snprintf(flag, sizeof flag, "%s%.*s", is_config && nlen == 2 ? "" : "--",
                 (int)(nlen < 80 ? nlen : 80), name);
        if (!is_config && s == NULL) {
            char fshown[VALUE_SHOWN * 4 + 8];
            quote(fshown, sizeof fshown, a, (size_t)(name - a) + nlen);
            const setting_t *hint = suggest(name, nlen);
            if (hint) {
                char want[80];
                size_t k = 0;
                for (; hint->name[k] && k + 1 < sizeof want; k++)
                    want[k] = hint->name[k] == '_' ? '-' : hint->name[k];
                want[k] = '\0';
                set_err(err, errlen, "config: unknown flag %s, did you mean --%s? (command line)",
                        fshown, want);
            } else {
                set_err(err, errlen, "config: unknown flag %s; see --help (command line)", fshown);
            }
            goto fail;
        }
        if (value == NULL) {
            /* "--max-packet-size --listen x" is a forgotten value, not a
             * value that starts with dashes; --name=-x still says it. */
            if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1] != '\0')) {
                set_err(err, errlen,
                        "config: %s: missing value after %s (use %s=VALUE for a value that "
                        "starts with '-') (command line)",
                        s ? s->name : flag, flag, flag);
                goto fail;
            }
            value = argv[++i];
        }
        if (is_config) {
            if (value[0] == '\0') {
                set_err(err, errlen, "config: %s: expected a file path, got \"\" (command line)",
                        flag);
                goto fail;
            }
            path = value;
            continue;
        }
        char where[128];
        snprintf(where, sizeof where, "flag %s", flag);
        if (apply(&tmp, s, value, strlen(value), false, where, err, errlen) != APPLY_OK)
            goto fail;
    }
    commit(c, &tmp);
    if (config_path_out)
        *config_path_out = path;
    return 0;
fail:
    fb_config_free(&tmp);
    return -1;
}

/* ---- everything together ---- */

int fb_config_from_sources(fb_config_t *c, int argc, char **argv, char *const *envp, char *err,
                           size_t errlen)
{
    fb_config_t tmp;
    const char *path = NULL;
    /* A first pass over the flags finds -c and --help and rejects bad flags
     * before any file is read; the flags are applied for real last, so that
     * they beat the file and the environment. */
    fb_config_defaults(&tmp);
    int rc = fb_config_load_args(&tmp, argc, argv, &path, err, errlen);
    fb_config_free(&tmp);
    memset(c, 0, sizeof *c);
    if (rc != 0)
        return rc;

    fb_config_defaults(&tmp);
    if (path == NULL) {
        path = env_find(envp, ENV_CONFIG);
        if (path != NULL && path[0] == '\0') {
            set_err(err, errlen,
                    "config: " ENV_CONFIG
                    ": expected a file path, got \"\" (environment " ENV_CONFIG ")");
            goto fail;
        }
    }
    if (path != NULL && fb_config_load_file(&tmp, path, err, errlen) != 0)
        goto fail;
    if (fb_config_load_env(&tmp, envp, err, errlen) != 0)
        goto fail;
    if (fb_config_load_args(&tmp, argc, argv, NULL, err, errlen) != 0)
        goto fail;
    *c = tmp;
    return 0;
fail:
    fb_config_free(&tmp);
    return -1;
}

/* ---- output ---- */

/* As a YAML double-quoted scalar, so that print's output loads back. Bytes
 * from 0x80 up are written as they are: in YAML "\xNN" is a code point, not
 * a byte, and the strings are UTF-8 when they came from YAML. */
static void print_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        unsigned char n1 = ch ? (unsigned char)s[1] : 0;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7f) {
            fprintf(f, "\\x%02x", ch);
        } else if (ch == 0xC2 && n1 >= 0x80 && n1 <= 0x9F) {
            fprintf(f, "\\x%02x", n1); /* a C1 control: YAML may read it as a break */
            s++;
        } else if (ch == 0xE2 && n1 == 0x80 && ((unsigned char)s[2] == 0xA8 ||
                                                 (unsigned char)s[2] == 0xA9)) {
            fputs((unsigned char)s[2] == 0xA8 ? "\\L" : "\\P", f); /* U+2028, U+2029 */
            s += 2;
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

static void print_value(FILE *f, const fb_config_t *c, const setting_t *s)
{
    const void *p = cfield(c, s);
    switch (s->kind) {
    case K_STR:
        print_quoted(f, *(char *const *)p);
        break;
    case K_U32:
        fprintf(f, "%" PRIu32, *(const uint32_t *)p);
        break;
    case K_BOOL:
        fputs(*(const bool *)p ? "true" : "false", f);
        break;
    case K_LEVEL:
        fputs(fb_log_level_name(*(const int *)p), f);
        break;
    case K_DROP: {
        fb_drop_policy_t d = *(const fb_drop_policy_t *)p;
        fputs(d == FB_DROP_NEWEST ? "drop_newest" : "drop_oldest", f);
        break;
    }
    }
}

void fb_config_print(const fb_config_t *c, FILE *f)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        fprintf(f, "%s: ", settings[i].name);
        print_value(f, c, &settings[i]);
        fputc('\n', f);
    }
}

void fb_config_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "Usage: %s [-c FILE] [--SETTING=VALUE | --SETTING VALUE]...\n"
            "\n"
            "Each setting can also be given in the YAML config file as \"setting_name: value\"\n"
            "and in the environment as FERRYMQ_SETTING_NAME=value. Precedence, lowest first:\n"
            "defaults < config file < environment < flags. In flag names '-' and '_' are\n"
            "the same. Booleans take true/false, yes/no, on/off or 1/0.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE             YAML config file (default: $FERRYMQ_CONFIG, else "
            "none)\n"
            "  -h, --help                    print this help and exit\n"
            "\n"
            "Settings:\n",
            prog ? prog : "ferrymq");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        char flag[64];
        size_t k = 0;
        for (; s->name[k] && k + 1 < sizeof flag; k++)
            flag[k] = s->name[k] == '_' ? '-' : s->name[k];
        flag[k] = '\0';
        char range[64] = "", def[64] = "";
        switch (s->kind) {
        case K_STR:
            snprintf(def, sizeof def, "%s", s->def_str ? s->def_str : "ferrymq@<hostname>");
            break;
        case K_U32:
            snprintf(range, sizeof range, "%" PRIu32 "..%" PRIu32 ", ", s->min, s->max);
            snprintf(def, sizeof def, "%" PRIu32, s->def);
            break;
        case K_BOOL:
            snprintf(range, sizeof range, "true|false, ");
            snprintf(def, sizeof def, "%s", s->def ? "true" : "false");
            break;
        case K_LEVEL:
            snprintf(range, sizeof range, "error|warn|info|debug, ");
            snprintf(def, sizeof def, "%s", fb_log_level_name((int)s->def));
            break;
        case K_DROP:
            snprintf(range, sizeof range, "drop_oldest|drop_newest, ");
            snprintf(def, sizeof def, "%s", drop_names[s->def]);
            break;
        }
        char head[96];
        snprintf(head, sizeof head, "--%s=%s", flag, s->metavar);
        fprintf(f, "  %-30s%sdefault %s\n      %s\n", head, range, def, s->doc);
    }
}

bool fb_config_equal(const fb_config_t *a, const fb_config_t *b)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        const void *pa = cfield(a, s), *pb = cfield(b, s);
        switch (s->kind) {
        case K_STR: {
            const char *x = *(char *const *)pa, *y = *(char *const *)pb;
            if (x == NULL || y == NULL ? x != y : strcmp(x, y) != 0)
                return false;
            break;
        }
        case K_U32:
            if (*(const uint32_t *)pa != *(const uint32_t *)pb)
                return false;
            break;
        case K_BOOL:
            if (*(const bool *)pa != *(const bool *)pb)
                return false;
            break;
        case K_LEVEL:
            if (*(const int *)pa != *(const int *)pb)
                return false;
            break;
        case K_DROP:
            if (*(const fb_drop_policy_t *)pa != *(const fb_drop_policy_t *)pb)
                return false;
            break;
        }
    }
    return true;
}
