/*
 * ferryctl, the admin command line over the node's admin HTTP API
 * (docs/admin-api.md). Split in a pure part (args.c: options, validation,
 * the request; output.c: text and JSON output) that does no I/O besides
 * writing to a FILE *, the HTTP part (http.c, libcurl) and the one command
 * that reads a file instead (rundir.c: ferry-operator's status.json);
 * main.c ties them together and owns the exit codes and the watch loops.
 *
 * Ownership: ctl_opts_t borrows its strings from argv and the environment
 * and owns `body` (a jansson object, freed by ctl_opts_free). A
 * ctl_request_t owns its path and body (ctl_request_free). A ctl_answer_t
 * owns its body (ctl_answer_free).
 */
#ifndef CTL_H
#define CTL_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes scripts can trust (README.md, --help). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_REFUSED = 1,      /* 409, 404 no such client, stopped before prohibiting */
    CTL_EXIT_USAGE = 2,        /* bad options / parameters, or HTTP 400 / 413 */
    CTL_EXIT_UNREACHABLE = 3,  /* refused, timed out, name not resolved */
    CTL_EXIT_AUTH = 4,         /* 401 */
    CTL_EXIT_UNEXPECTED = 5,   /* 5xx, an answer that is not JSON, anything else */
    CTL_EXIT_INTERRUPTED = 130 /* SIGINT during --watch / --wait */
};

#define CTL_DEFAULT_URL "http://127.0.0.1:18083"
#define CTL_DEFAULT_TIMEOUT_S 10u
#define CTL_TIMEOUT_MAX_S 3600u
#define CTL_URL_MAX 2048u
#define CTL_TOKEN_MAX 4096u
#define CTL_BODY_CAP (16u * 1024u * 1024u) /* largest answer read */
#define CTL_RATE_MAX 1000000u
#define CTL_DURATION_MAX_MS 86400000ull /* 24 h */
#define CTL_REF_MAX 1024u
#define CTL_NODES_MAX 64u
#define CTL_NODE_NAME_MAX 255u
#define CTL_LIMIT_MAX 10000u
#define CTL_CLIENT_ID_MAX 65535u
#define CTL_RUN_DIR_MAX 4000u    /* bytes of --run-dir / FERRY_RUN_DIR */
#define CTL_CLUSTER_NAME_MAX 63u /* metadata.name of a FerryCluster: a DNS label */
#define CTL_STALE_MS 30000       /* status.json older than this: warn */
#define CTL_DEFAULT_RUN_DIR "ferry-run"

typedef enum ctl_cmd {
    CTL_CMD_NONE, /* no command given: usage */
    CTL_CMD_STATUS,
    CTL_CMD_CLUSTER,
    CTL_CMD_CLIENTS,
    CTL_CMD_CLIENT,
    CTL_CMD_KICK,
    CTL_CMD_EVAC_START,
    CTL_CMD_EVAC_STOP,
    CTL_CMD_EVAC_STATUS,
    CTL_CMD_REBAL_START,
    CTL_CMD_REBAL_STOP,
    CTL_CMD_REBAL_STATUS,
    CTL_CMD_GLOBAL_STATUS,
    CTL_CMD_UPGRADE_STATUS, /* reads <run-dir>/<name>/status.json: no HTTP */
    CTL_CMD_COUNT
} ctl_cmd_t;

typedef struct ctl_opts {
    char url[CTL_URL_MAX + 1]; /* base URL, no trailing '/' */
    const char *token;         /* NULL: no Authorization header */
    bool json;                 /* --output json */
    unsigned timeout_s;
    ctl_cmd_t cmd;
    bool help;             /* print the usage of cmd (of everything when NONE) */
    bool watch;            /* evacuate status / upgrade-status --watch, evacuate start --wait */
    unsigned long page;    /* clients; 0: not given */
    unsigned long limit;   /* clients; 0: not given */
    const char *client_id; /* client, kick */
    bool discard;          /* kick */
    json_t *body;          /* evacuate / rebalance start: the given fields only */
    const char *run_dir;   /* upgrade-status --run-dir; NULL: $FERRY_RUN_DIR, else ferry-run */
    const char *cluster;   /* upgrade-status --name; NULL: the only cluster in the run dir */
} ctl_opts_t;

typedef struct ctl_request {
    const char *method; /* static string */
    char *path;         /* "/api/v1/...", with the query; malloc'd */
    char *body;         /* JSON text or NULL (no body); malloc'd */
} ctl_request_t;

/* args.c (pure) */

/* Parses argv into o. env_url / env_token: FERRYCTL_URL and
 * FERRYMQ_ADMIN_TOKEN (NULL or "" when unset). Returns 0, or -1 with a
 * message naming the option and the rule in err (exit 2). */
int ctl_args_parse(int argc, char **argv, const char *env_url, const char *env_token, ctl_opts_t *o,
                   char *err, size_t errlen);
void ctl_opts_free(ctl_opts_t *o);
/* The request of o's command (never for CTL_CMD_NONE nor
 * CTL_CMD_UPGRADE_STATUS, which sends none). 0, or -1 on ENOMEM. */
int ctl_request_build(const ctl_opts_t *o, ctl_request_t *r);
/* The evacuation status request, for --watch / --wait. */
int ctl_request_evac_status(ctl_request_t *r);
void ctl_request_free(ctl_request_t *r);
/* "evacuate start" and so on. */
const char *ctl_cmd_name(ctl_cmd_t cmd);
/* Writes the usage of cmd (everything for CTL_CMD_NONE). */
void ctl_usage(FILE *f, ctl_cmd_t cmd);
/* Percent-encodes s (RFC 3986 unreserved characters kept); malloc'd. */
char *ctl_url_encode(const char *s);
/* Parses a duration "N" (seconds), "Nms", "Ns", "Nm", "Nh" into ms; false
 * when malformed or above 24 h. */
bool ctl_duration_parse(const char *s, unsigned long long *ms);

/* output.c (pure) */

/* Pretty JSON (2-space indent), or compact on one line. */
void ctl_print_json(FILE *f, const json_t *j, bool compact);
/* The human-readable form of cmd's answer. */
void ctl_print_text(FILE *f, ctl_cmd_t cmd, const json_t *j);
/* The `error` text of an error body (or a sanitized excerpt of the body);
 * writes into buf. */
const char *ctl_error_text(const char *body, size_t len, char *buf, size_t n);
/* Watch views of an evacuation status: a multi-line frame for a terminal
 * (returns its line count) and one line per poll otherwise. */
int ctl_watch_frame(FILE *f, const json_t *j, double elapsed_s);
void ctl_watch_line(FILE *f, const json_t *j, double elapsed_s);
/* Copies s with control characters replaced by '?' (terminal safety). */
void ctl_sanitize(const char *s, char *out, size_t n);
/* ferry-operator's status.json as text (now_ms: wall clock, for the ages). */
void ctl_upgrade_view(FILE *f, const json_t *j, long long now_ms);
/* The same in one line, for upgrade-status --watch on a pipe. */
void ctl_upgrade_line(FILE *f, const json_t *j, long long now_ms, double elapsed_s);
/* Seconds since updated_ms when that is more than CTL_STALE_MS ago, else
 * -1 (also when updated_ms is missing). */
long long ctl_upgrade_stale_s(const json_t *j, long long now_ms);

/* rundir.c (reads files; no HTTP) */

/* The cluster directory under run_dir: <run_dir>/<name> when name is given,
 * else the only subdirectory holding platform.json. Returns 0, or
 * CTL_EXIT_USAGE with the reason in err (no such cluster, none, several:
 * named). */
int ctl_rundir_cluster(const char *run_dir, const char *name, char *dir, size_t dirlen, char *err,
                       size_t errlen);
/* <dir>/status.json as a JSON object, read up to CTL_BODY_CAP bytes; *out is
 * the caller's (json_decref). Returns 0; CTL_EXIT_UNREACHABLE when the file
 * does not exist (no controller has written one); CTL_EXIT_UNEXPECTED when
 * it cannot be read or is not a JSON object. err says why. */
int ctl_rundir_status(const char *dir, json_t **out, char *err, size_t errlen);

/* http.c (libcurl) */

typedef struct ctl_http ctl_http_t;

typedef struct ctl_answer {
    long status; /* HTTP status; 0 when none arrived */
    char *body;  /* NUL-terminated, malloc'd (may be NULL) */
    size_t len;
} ctl_answer_t;

/* stop: checked during transfers; a set flag aborts (exit 130). */
ctl_http_t *ctl_http_new(const char *base_url, const char *token, unsigned timeout_s,
                         const volatile sig_atomic_t *stop);
void ctl_http_free(ctl_http_t *h);
/* Sends r. Returns 0 when an HTTP answer arrived (any status), else an
 * exit code (3 unreachable, 5 anything else, 130 interrupted) with the
 * reason in err ("Connection refused", "timed out after 10 s", ...). */
int ctl_http_do(ctl_http_t *h, const ctl_request_t *r, ctl_answer_t *a, char *err, size_t errlen);
void ctl_answer_free(ctl_answer_t *a);

#endif
