/*
 * ferryctl's pure part, input side: the command line (global options,
 * commands, their options), local validation of every parameter before any
 * request, the request (method, path, JSON body with only the fields
 * given) and the usage texts. No I/O besides writing usage to a FILE *.
 */
#include "ctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define B(c) (1u << (c))
#define ALL_CMDS 0xFFFFFFFFu
#define STARTS (B(CTL_CMD_EVAC_START) | B(CTL_CMD_REBAL_START))

typedef struct opt_spec {
    const char *name; /* without "--" */
    unsigned cmds;    /* bit set of commands accepting it */
    bool value;       /* takes a value */
} opt_spec_t;

static const opt_spec_t specs[] = {
    {"url", ALL_CMDS, true},
    {"token", ALL_CMDS, true},
    {"output", ALL_CMDS, true},
    {"timeout", ALL_CMDS, true},
    {"help", ALL_CMDS, false},
    {"page", B(CTL_CMD_CLIENTS), true},
    {"limit", B(CTL_CMD_CLIENTS), true},
    {"discard", B(CTL_CMD_KICK), false},
    {"conn-evict-rate", STARTS, true},
    {"conn-evict-rate-max", B(CTL_CMD_EVAC_START), true},
    {"sess-evict-rate", STARTS, true},
    {"wait-takeover", STARTS, true},
    {"wait-health-check", STARTS, true},
    {"redirect-to", B(CTL_CMD_EVAC_START), true},
    {"migrate-to", B(CTL_CMD_EVAC_START), true},
    {"wait", B(CTL_CMD_EVAC_START), false},
    {"watch", B(CTL_CMD_EVAC_STATUS) | B(CTL_CMD_UPGRADE_STATUS), false},
    {"run-dir", B(CTL_CMD_UPGRADE_STATUS), true},
    {"name", B(CTL_CMD_UPGRADE_STATUS), true},
    {"nodes", B(CTL_CMD_REBAL_START), true},
    {"abs-conn-threshold", B(CTL_CMD_REBAL_START), true},
    {"rel-conn-threshold", B(CTL_CMD_REBAL_START), true},
    {"abs-sess-threshold", B(CTL_CMD_REBAL_START), true},
    {"rel-sess-threshold", B(CTL_CMD_REBAL_START), true},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static const char *const cmd_names[CTL_CMD_COUNT] = {
    [CTL_CMD_NONE] = "",
    [CTL_CMD_STATUS] = "status",
    [CTL_CMD_CLUSTER] = "cluster",
    [CTL_CMD_CLIENTS] = "clients",
    [CTL_CMD_CLIENT] = "client",
    [CTL_CMD_KICK] = "kick",
    [CTL_CMD_EVAC_START] = "evacuate start",
    [CTL_CMD_EVAC_STOP] = "evacuate stop",
    [CTL_CMD_EVAC_STATUS] = "evacuate status",
    [CTL_CMD_REBAL_START] = "rebalance start",
    [CTL_CMD_REBAL_STOP] = "rebalance stop",
    [CTL_CMD_REBAL_STATUS] = "rebalance status",
    [CTL_CMD_GLOBAL_STATUS] = "global-status",
    [CTL_CMD_UPGRADE_STATUS] = "upgrade-status",
};

const char *ctl_cmd_name(ctl_cmd_t cmd)
{
    return cmd < CTL_CMD_COUNT ? cmd_names[cmd] : "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A decimal number without sign, spaces or excess digits. */
static bool parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    unsigned long long n = 0;
    if (!*s)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || p - s >= 19)
            return false;
        n = n * 10 + (unsigned long long)(*p - '0');
    }
    if (n > max)
        return false;
    *out = n;
    return true;
}

bool ctl_duration_parse(const char *s, unsigned long long *ms)
{
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 12)
        return false;
    const char *unit = s + digits;
    unsigned long long mult;
    if (!*unit || strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "ms") == 0)
        mult = 1;
    else if (strcmp(unit, "m") == 0)
        mult = 60000;
    else if (strcmp(unit, "h") == 0)
        mult = 3600000;
    else
        return false;
    unsigned long long n = 0;
    for (size_t i = 0; i < digits; i++)
        n = n * 10 + (unsigned long long)(s[i] - '0');
    if (n > CTL_DURATION_MAX_MS / mult)
        return false;
    *ms = n * mult;
    return true;
}

/* Valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF)
 * without control characters. */
static bool clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7F)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
        if (n < 0 || c > 0xF4 || c == 0xC0 || c == 0xC1)
            return false;
        unsigned cp = c & (0x3Fu >> n);
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F))
            return false;
        p += n + 1;
    }
    return true;
}

/* A FerryCluster's metadata.name (a DNS label): also a directory name. */
static bool cluster_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CTL_CLUSTER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
        if (!alnum && !(s[i] == '-' && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

static bool node_name_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '.' || ch == '_' || ch == '-' || ch == '@' || ch == ':';
}

/* "A,B,C" into a JSON array: non-empty names of the node_name setting's
 * characters, no duplicates, at most CTL_NODES_MAX. */
static int node_list(const char *opt, const char *v, json_t **out, char *err, size_t errlen)
{
    static const char rule[] = "expected a comma-separated list of 1 to 64 distinct node "
                               "names, each 1 to 255 characters from A-Z a-z 0-9 . _ - @ :";
    json_t *arr = json_array();
    if (!arr)
        return fail(err, errlen, "out of memory");
    const char *p = v;
    for (;;) {
        size_t n = strcspn(p, ",");
        bool ok = n >= 1 && n <= CTL_NODE_NAME_MAX && json_array_size(arr) < CTL_NODES_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = node_name_char(p[i]);
        for (size_t i = 0; ok && i < json_array_size(arr); i++) {
            const char *have = json_string_value(json_array_get(arr, i));
            ok = !(strlen(have) == n && memcmp(have, p, n) == 0);
        }
        if (!ok || json_array_append_new(arr, json_stringn(p, n)) != 0) {
            json_decref(arr);
            return fail(err, errlen, "--%s: %s, got \"%.80s\"", opt, rule, v);
        }
        if (!p[n])
            break;
        p += n + 1;
    }
    *out = arr;
    return 0;
}

static int set_field(ctl_opts_t *o, const char *field, json_t *v, char *err, size_t errlen)
{
    if (!v || json_object_set_new(o->body, field, v) != 0)
        return fail(err, errlen, "out of memory");
    return 0;
}

/* One command option (global ones are handled before). */
static int apply_option(ctl_opts_t *o, const char *name, const char *v, char *err, size_t errlen)
{
    unsigned long long n;
    if (strcmp(name, "page") == 0 || strcmp(name, "limit") == 0) {
        bool page = name[0] == 'p';
        if (!parse_u64(v, page ? 1000000000ull : CTL_LIMIT_MAX, &n) || n == 0)
            return fail(err, errlen, "--%s: expected an integer %s, got \"%.80s\"", name,
                        page ? "1..1000000000" : "1..10000", v);
        *(page ? &o->page : &o->limit) = (unsigned long)n;
        return 0;
    }
    if (strcmp(name, "discard") == 0) {
        o->discard = true;
        return 0;
    }
    if (strcmp(name, "wait") == 0 || strcmp(name, "watch") == 0) {
        o->watch = true;
        return 0;
    }
    if (strcmp(name, "run-dir") == 0) {
        if (!*v || strlen(v) > CTL_RUN_DIR_MAX)
            return fail(err, errlen, "--run-dir: expected a directory of 1 to %u bytes",
                        CTL_RUN_DIR_MAX);
        o->run_dir = v;
        return 0;
    }
    if (strcmp(name, "name") == 0) {
        if (!cluster_name(v))
            return fail(err, errlen,
                        "--name: expected a cluster name, 1 to 63 characters from a-z 0-9 -, "
                        "not starting or ending with -, got \"%.80s\"",
                        v);
        o->cluster = v;
        return 0;
    }
    /* Everything else goes into the start body, named as in the API. */
    char field[32];
    snprintf(field, sizeof field, "%s", name);
    for (char *p = field; *p; p++)
        if (*p == '-')
            *p = '_';
    if (strcmp(name, "conn-evict-rate") == 0 || strcmp(name, "conn-evict-rate-max") == 0 ||
        strcmp(name, "sess-evict-rate") == 0) {
        bool auto_ok = o->cmd == CTL_CMD_EVAC_START && strcmp(name, "conn-evict-rate") == 0;
        if (auto_ok && strcmp(v, "auto") == 0)
            return set_field(o, field, json_string("auto"), err, errlen);
        if (!parse_u64(v, CTL_RATE_MAX, &n) || n == 0)
            return fail(err, errlen, "--%s: expected an integer 1..1000000%s, got \"%.80s\"", name,
                        auto_ok ? " or \"auto\"" : "", v);
        return set_field(o, field, json_integer((json_int_t)n), err, errlen);
    }
    if (strcmp(name, "wait-takeover") == 0 || strcmp(name, "wait-health-check") == 0) {
        unsigned long long ms;
        if (!ctl_duration_parse(v, &ms))
            return fail(err, errlen,
                        "--%s: expected a duration 0..24h: N (seconds), Nms, Ns, Nm or Nh, "
                        "got \"%.80s\"",
                        name, v);
        /* A bare number goes as an integer of seconds, a suffixed one as given. */
        json_t *j =
            v[strspn(v, "0123456789")] ? json_string(v) : json_integer((json_int_t)(ms / 1000));
        return set_field(o, field, j, err, errlen);
    }
    if (strcmp(name, "redirect-to") == 0) {
        if (!*v || strlen(v) > CTL_REF_MAX || !clean_utf8(v))
            return fail(err, errlen,
                        "--redirect-to: expected 1 to 1024 bytes of UTF-8 without control "
                        "characters");
        return set_field(o, field, json_string(v), err, errlen);
    }
    if (strcmp(name, "migrate-to") == 0 || strcmp(name, "nodes") == 0) {
        json_t *arr = NULL;
        if (node_list(name, v, &arr, err, errlen) != 0)
            return -1;
        return set_field(o, field, arr, err, errlen);
    }
    if (strcmp(name, "abs-conn-threshold") == 0 || strcmp(name, "abs-sess-threshold") == 0) {
        if (!parse_u64(v, 100000000ull, &n) || n == 0)
            return fail(err, errlen, "--%s: expected an integer 1..100000000, got \"%.80s\"", name,
                        v);
        return set_field(o, field, json_integer((json_int_t)n), err, errlen);
    }
    if (strcmp(name, "rel-conn-threshold") == 0 || strcmp(name, "rel-sess-threshold") == 0) {
        /* Digits with at most one point: no exponents, signs, nan or inf. */
        size_t len = strlen(v), digits = strspn(v, "0123456789"), frac = 0;
        if (v[digits] == '.')
            frac = strspn(v + digits + 1, "0123456789");
        bool shape =
            len <= 20 && (digits + (v[digits] == '.' ? 1 + frac : 0)) == len && digits + frac > 0;
        double x = shape ? strtod(v, NULL) : 0;
        if (!shape || !(x > 1.0) || x > 100.0)
            return fail(err, errlen,
                        "--%s: expected a number above 1.0 and at most 100 (e.g. 1.1), got "
                        "\"%.80s\"",
                        name, v);
        return set_field(o, field, json_real(x), err, errlen);
    }
    return fail(err, errlen, "--%s: not handled", name);
}

static const opt_spec_t *find_spec(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SPECS; i++)
        if (strlen(specs[i].name) == len && memcmp(specs[i].name, name, len) == 0)
            return &specs[i];
    return NULL;
}

/* The command named by the first positional words; *used: how many. */
static ctl_cmd_t find_cmd(char **pos, size_t npos, size_t *used, char *err, size_t errlen)
{
    static const struct {
        const char *word;
        ctl_cmd_t cmd;
    } one[] = {{"status", CTL_CMD_STATUS},
               {"cluster", CTL_CMD_CLUSTER},
               {"clients", CTL_CMD_CLIENTS},
               {"client", CTL_CMD_CLIENT},
               {"kick", CTL_CMD_KICK},
               {"global-status", CTL_CMD_GLOBAL_STATUS},
               {"upgrade-status", CTL_CMD_UPGRADE_STATUS}};
    *used = 1;
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        if (strcmp(pos[0], one[i].word) == 0)
            return one[i].cmd;
    bool evac = strcmp(pos[0], "evacuate") == 0, rebal = strcmp(pos[0], "rebalance") == 0;
    if (!evac && !rebal) {
        fail(err, errlen, "unknown command \"%.80s\" (see ferryctl --help)", pos[0]);
        return CTL_CMD_COUNT;
    }
    const char *sub = npos > 1 ? pos[1] : "";
    *used = 2;
    if (strcmp(sub, "start") == 0)
        return evac ? CTL_CMD_EVAC_START : CTL_CMD_REBAL_START;
    if (strcmp(sub, "stop") == 0)
        return evac ? CTL_CMD_EVAC_STOP : CTL_CMD_REBAL_STOP;
    if (strcmp(sub, "status") == 0)
        return evac ? CTL_CMD_EVAC_STATUS : CTL_CMD_REBAL_STATUS;
    fail(err, errlen, "%s: expected start, stop or status%s%.80s%s", pos[0], *sub ? ", got \"" : "",
         sub, *sub ? "\"" : "");
    return CTL_CMD_COUNT;
}

static int set_url(ctl_opts_t *o, const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    size_t scheme = strncmp(v, "http://", 7) == 0 ? 7 : strncmp(v, "https://", 8) == 0 ? 8 : 0;
    bool ok = scheme && n > scheme && n <= CTL_URL_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && v[i] != 0x7F && v[i] != '?' && v[i] != '#';
    if (!ok)
        return fail(err, errlen,
                    "--url: expected http://HOST[:PORT] or https://HOST[:PORT] (at most 2048 "
                    "bytes, no spaces, query or fragment), got \"%.80s\"",
                    v);
    memcpy(o->url, v, n);
    o->url[n] = '\0';
    return 0;
}

static int set_token(ctl_opts_t *o, const char *v, const char *from, char *err, size_t errlen)
{
    size_t n = strlen(v);
    bool ok = n >= 1 && n <= CTL_TOKEN_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && v[i] != 0x7F;
    if (!ok)
        return fail(err, errlen, "%s: expected 1 to 4096 printable characters without spaces",
                    from);
    o->token = v;
    return 0;
}

static int apply_global(ctl_opts_t *o, const char *name, const char *v, char *err, size_t errlen)
{
    unsigned long long n;
    if (strcmp(name, "url") == 0)
        return set_url(o, v, err, errlen);
    if (strcmp(name, "token") == 0)
        return set_token(o, v, "--token", err, errlen);
    if (strcmp(name, "output") == 0) {
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
            return fail(err, errlen, "--output: expected text or json, got \"%.80s\"", v);
        o->json = v[0] == 'j';
        return 0;
    }
    if (strcmp(name, "timeout") == 0) {
        if (!parse_u64(v, CTL_TIMEOUT_MAX_S, &n) || n == 0)
            return fail(err, errlen, "--timeout: expected whole seconds 1..3600, got \"%.80s\"", v);
        o->timeout_s = (unsigned)n;
        return 0;
    }
    o->help = true; /* --help */
    return 0;
}

typedef struct given {
    const opt_spec_t *spec;
    const char *value;
} given_t;

int ctl_args_parse(int argc, char **argv, const char *env_url, const char *env_token, ctl_opts_t *o,
                   char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->timeout_s = CTL_DEFAULT_TIMEOUT_S;
    snprintf(o->url, sizeof o->url, "%s", CTL_DEFAULT_URL);
    if (argc < 1)
        return 0;
    size_t n = (size_t)argc;
    given_t *given = calloc(n, sizeof *given);
    char **pos = calloc(n, sizeof *pos);
    size_t ngiven = 0, npos = 0;
    int rc = -1;
    if (!given || !pos) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
            pos[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dashdash = true;
            continue;
        }
        if (strcmp(a, "-h") == 0)
            a = "--help";
        if (a[1] != '-') {
            fail(err, errlen, "unknown option \"%.80s\" (see ferryctl --help)", a);
            goto done;
        }
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        const opt_spec_t *sp = find_spec(a + 2, len);
        if (!sp) {
            fail(err, errlen, "unknown option \"--%.*s\" (see ferryctl --help)",
                 (int)(len > 80 ? 80 : len), a + 2);
            goto done;
        }
        const char *v = NULL;
        if (sp->value) {
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else {
                fail(err, errlen, "--%s needs a value", sp->name);
                goto done;
            }
        } else if (eq) {
            fail(err, errlen, "--%s takes no value", sp->name);
            goto done;
        }
        given[ngiven++] = (given_t){sp, v};
    }
    /* "help [COMMAND]" is --help. */
    size_t first = 0;
    if (npos > 0 && strcmp(pos[0], "help") == 0) {
        o->help = true;
        first = 1;
    }
    size_t used = 0;
    if (npos > first) {
        o->cmd = find_cmd(pos + first, npos - first, &used, err, errlen);
        if (o->cmd == CTL_CMD_COUNT) {
            o->cmd = CTL_CMD_NONE;
            goto done;
        }
    }
    for (size_t i = 0; i < ngiven; i++)
        if (strcmp(given[i].spec->name, "help") == 0)
            o->help = true;
    if (o->help) { /* usage asked for: nothing else matters */
        rc = 0;
        goto done;
    }
    /* The environment gives defaults; a flag wins (and a bad variable it
     * overrides does not matter). */
    bool flag_url = false, flag_token = false;
    for (size_t i = 0; i < ngiven; i++) {
        flag_url |= strcmp(given[i].spec->name, "url") == 0;
        flag_token |= strcmp(given[i].spec->name, "token") == 0;
    }
    if (flag_url || o->cmd == CTL_CMD_UPGRADE_STATUS) /* reads a file: no URL, no token */
        env_url = NULL;
    if (flag_token || o->cmd == CTL_CMD_UPGRADE_STATUS)
        env_token = NULL;
    if (env_url && *env_url && set_url(o, env_url, err, errlen) != 0) {
        snprintf(err, errlen, "FERRYCTL_URL: expected http://HOST[:PORT] or https://HOST[:PORT]");
        goto done;
    }
    if (env_token && *env_token && set_token(o, env_token, "FERRYMQ_ADMIN_TOKEN", err, errlen))
        goto done;
    if (o->cmd == CTL_CMD_EVAC_START || o->cmd == CTL_CMD_REBAL_START) {
        o->body = json_object();
        if (!o->body) {
            fail(err, errlen, "out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < ngiven; i++) {
        const opt_spec_t *sp = given[i].spec;
        if (sp->cmds == ALL_CMDS) {
            if (apply_global(o, sp->name, given[i].value, err, errlen) != 0)
                goto done;
        } else if (o->cmd == CTL_CMD_NONE || !(sp->cmds & B(o->cmd))) {
            if (o->cmd == CTL_CMD_NONE)
                fail(err, errlen,
                     "--%s is an option of a command: put it after the command (see ferryctl "
                     "--help)",
                     sp->name);
            else
                fail(err, errlen, "--%s is not an option of ferryctl %s (see ferryctl %s --help)",
                     sp->name, ctl_cmd_name(o->cmd), ctl_cmd_name(o->cmd));
            goto done;
        } else if (apply_option(o, sp->name, given[i].value, err, errlen) != 0) {
            goto done;
        }
    }
    size_t args = npos - first - used, want = 0;
    if (o->cmd == CTL_CMD_CLIENT || o->cmd == CTL_CMD_KICK) {
        want = 1;
        if (args < 1) {
            fail(err, errlen, "%s: expected a client ID", ctl_cmd_name(o->cmd));
            goto done;
        }
        const char *id = pos[first + used];
        if (!*id || strlen(id) > CTL_CLIENT_ID_MAX || !clean_utf8(id)) {
            fail(err, errlen,
                 "%s: the client ID must be 1 to 65535 bytes of UTF-8 without control "
                 "characters",
                 ctl_cmd_name(o->cmd));
            goto done;
        }
        o->client_id = id;
    }
    if (o->cmd != CTL_CMD_NONE && args > want) {
        fail(err, errlen, "%s: unexpected argument \"%.80s\"", ctl_cmd_name(o->cmd),
             pos[first + used + want]);
        goto done;
    }
    rc = 0;
done:
    free(given);
    free(pos);
    return rc;
}

void ctl_opts_free(ctl_opts_t *o)
{
    json_decref(o->body);
    o->body = NULL;
}

char *ctl_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    return out;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

int ctl_request_evac_status(ctl_request_t *r)
{
    r->method = "GET";
    r->body = NULL;
    r->path = xstrdup("/api/v1/evacuation");
    return r->path ? 0 : -1;
}

int ctl_request_build(const ctl_opts_t *o, ctl_request_t *r)
{
    static const struct {
        const char *method, *path;
    } fixed[CTL_CMD_COUNT] = {
        [CTL_CMD_STATUS] = {"GET", "/api/v1/node"},
        [CTL_CMD_CLUSTER] = {"GET", "/api/v1/cluster"},
        [CTL_CMD_CLIENTS] = {"GET", "/api/v1/clients"},
        [CTL_CMD_CLIENT] = {"GET", "/api/v1/clients/"},
        [CTL_CMD_KICK] = {"DELETE", "/api/v1/clients/"},
        [CTL_CMD_EVAC_START] = {"POST", "/api/v1/evacuation/start"},
        [CTL_CMD_EVAC_STOP] = {"POST", "/api/v1/evacuation/stop"},
        [CTL_CMD_EVAC_STATUS] = {"GET", "/api/v1/evacuation"},
        [CTL_CMD_REBAL_START] = {"POST", "/api/v1/rebalance/start"},
        [CTL_CMD_REBAL_STOP] = {"POST", "/api/v1/rebalance/stop"},
        [CTL_CMD_REBAL_STATUS] = {"GET", "/api/v1/rebalance"},
        [CTL_CMD_GLOBAL_STATUS] = {"GET", "/api/v1/global_status"},
    };
    memset(r, 0, sizeof *r);
    if (o->cmd <= CTL_CMD_NONE || o->cmd >= CTL_CMD_COUNT || !fixed[o->cmd].path)
        return -1;
    r->method = fixed[o->cmd].method;
    const char *base = fixed[o->cmd].path;
    char *id = o->client_id ? ctl_url_encode(o->client_id) : NULL;
    size_t cap = strlen(base) + (id ? strlen(id) : 0) + 64;
    r->path = malloc(cap);
    if (!r->path || (o->client_id && !id))
        goto fail;
    if (o->cmd == CTL_CMD_CLIENT || o->cmd == CTL_CMD_KICK)
        snprintf(r->path, cap, "%s%s%s", base, id, o->discard ? "?discard=true" : "");
    else if (o->cmd == CTL_CMD_CLIENTS && (o->page || o->limit))
        snprintf(r->path, cap, "%s?page=%lu&limit=%lu", base, o->page ? o->page : 1ul,
                 o->limit ? o->limit : 100ul);
    else
        snprintf(r->path, cap, "%s", base);
    if (o->body) {
        r->body = json_dumps(o->body, JSON_COMPACT);
        if (!r->body)
            goto fail;
    }
    free(id);
    return 0;
fail:
    free(id);
    ctl_request_free(r);
    return -1;
}

void ctl_request_free(ctl_request_t *r)
{
    free(r->path);
    free(r->body);
    r->path = r->body = NULL;
}
