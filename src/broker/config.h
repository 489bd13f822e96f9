/*
 * The broker's settings and where they come from.
 *
 * Every setting has one row in a table in config.c (name, type, range,
 * default, one-line doc). That table drives the defaults, the YAML file
 * parser, the FERRYMQ_* environment variables, the command-line flags, the
 * --help text and docs/configuration.md, so a setting added there is
 * accepted everywhere at once and documented in one place.
 *
 * Precedence, lowest first: defaults < config file < environment < flags.
 * fb_config_from_sources() applies all four; the single-source loaders are
 * public so that tests (and a later reload) can use them one at a time.
 *
 * Ownership: an fb_config_t owns its strings (listen, node_name, data_dir,
 * cluster_*), which are heap copies. fb_config_defaults() allocates them and
 * fb_config_free() frees them; every loader frees the strings it replaces.
 * The struct itself is the caller's (on the stack or embedded). A loader
 * that fails leaves the config exactly as it was, so the caller can report
 * the error and still free what it has.
 *
 * Errors: loaders return 0 on success and -1 on error, with one line in
 * `err` (truncated to errlen, always NUL-terminated when errlen > 0) naming
 * the setting, the rule, the bad value and the source, for example
 *   config: max_packet_size: expected an integer from 64 to 268435460,
 *   got "abc" (ferrymq.yaml:3)
 * `err` may be NULL when the caller does not want the text.
 *
 * Not thread-safe per config: load at start-up, then treat it as read-only.
 */
#ifndef FB_CONFIG_H
#define FB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a full session queue gives up to make room. */
typedef enum { FB_DROP_OLDEST, FB_DROP_NEWEST } fb_drop_policy_t;

typedef struct fb_config {
    char *listen;                /* "host:port" for MQTT clients, default "0.0.0.0:1883" */
    char *node_name;             /* default "ferrymq@<hostname>" */
    char *data_dir;              /* default "./data" */
    int log_level;               /* FB_LOG_ERROR..FB_LOG_DEBUG, from "error|warn|info|debug",
                                    default info */
    uint32_t max_connections;    /* 0 = derive from the open-file limit (default 0) */
    uint32_t max_packet_size;    /* bytes, 64..268435460, default 1048576 */
    uint32_t max_client_id_len;  /* 1..65535, default 256 */
    uint32_t max_topic_levels;   /* 1..1024, default 128 */
    uint32_t max_inflight;       /* Receive Maximum the server grants, 1..65535, default 32 */
    uint32_t max_queued;         /* per session, 0..10000000, default 1000 */
    fb_drop_policy_t queue_drop; /* "drop_oldest"|"drop_newest", default drop_oldest */
    uint32_t max_topic_alias;    /* Topic Alias Maximum accepted from clients, 0..65535,
                                    default 64 */
    uint32_t v3_session_expiry;  /* seconds a 3.1.1 clean_session=0 session lives offline,
                                    default 7200 */
    uint32_t max_session_expiry; /* cap on any session expiry, seconds, default 4294967295
                                    (never) */
    uint32_t server_keep_alive;  /* 0 = accept the client's, else override (v5 Server Keep
                                    Alive), 0..65535, default 0 */
    uint32_t max_keep_alive;     /* 0..65535, default 65535 */
    uint32_t connect_timeout_ms; /* close if no CONNECT in this time, 100..600000,
                                    default 10000 */
    bool allow_anonymous;        /* default true */
    bool retain_available;       /* default true */
    uint32_t max_qos;            /* 0..2, default 2 */
    bool tcp_nodelay;            /* default true */
    uint32_t listen_backlog;     /* 1..65535, default 4096 */
    uint32_t write_buffer_limit; /* bytes queued to one client before QoS 0 is dropped,
                                    4096..1073741824, default 8388608 */
    char *admin_listen;          /* admin HTTP server "ip:port", "" = off */
    char *admin_token;           /* bearer token for /api/, "" = none (loopback only) */
    /* Cluster (docs/configuration.md); cluster_listen "" = a single node. */
    char *cluster_listen, *cluster_advertise, *cluster_name, *cluster_secret;
    char *cluster_seeds;         /* "host:port,host:port" */
    char *cluster_dns;           /* "name:port" */
    uint32_t cluster_dns_interval_ms;
    uint32_t cluster_heartbeat_ms, cluster_peer_timeout_ms, cluster_forget_after_ms;
    uint32_t cluster_takeover_timeout_ms, cluster_handoff_linger_ms;
    uint32_t cluster_max_frame, cluster_link_buffer_limit;
    uint32_t cluster_protocol_max;
} fb_config_t;

/* Fills every field with its default, allocating the strings; `c` need not
 * be initialised (its old contents are overwritten, not freed). Aborts with
 * a message on allocation failure: it runs once at start-up, where there is
 * no sensible way to go on without memory. */
void fb_config_defaults(fb_config_t *c);

/* Frees the strings and sets them to NULL; safe to call twice, and on a
 * zero-filled struct. */
void fb_config_free(fb_config_t *c);

/* Reads a YAML file (at most 1 MiB) and applies it like fb_config_load_yaml,
 * with `path` as the source name in messages. */
int fb_config_load_file(fb_config_t *c, const char *path, char *err, size_t errlen);

/* Applies a YAML document of `len` bytes (NUL not needed): a single mapping
 * of setting names (snake_case, as in the table) to scalar values. Empty
 * input or a comment-only file sets nothing. A non-mapping document, more
 * than one document, nested or aliased values, unknown keys, duplicate keys
 * and bad values are errors naming "source_name:line". */
int fb_config_load_yaml(fb_config_t *c, const char *text, size_t len, const char *source_name,
                        char *err, size_t errlen);

/* Applies FERRYMQ_<SETTING IN UPPER CASE> variables from `envp` (a
 * NULL-terminated "NAME=value" array like environ; borrowed). FERRYMQ_CONFIG
 * names the config file and is skipped here; any other unknown FERRYMQ_
 * variable is an error, so that a typo is caught rather than ignored. */
int fb_config_load_env(fb_config_t *c, char *const *envp, char *err, size_t errlen);

/* Applies flags from argv[1..argc-1]: "--max-packet-size=N" or
 * "--max-packet-size N" ('-' and '_' both accepted in the name; every
 * setting flag takes a value, booleans included), "-c FILE" or
 * "--config FILE" (stored in *config_path_out as a pointer into argv, or
 * NULL if absent; config_path_out may be NULL), and "-h"/"--help", which
 * prints the usage to stdout and returns 1 without applying anything. A
 * setting given twice takes the last value. Unknown flags and positional
 * arguments are errors. */
int fb_config_load_args(fb_config_t *c, int argc, char **argv, const char **config_path_out,
                        char *err, size_t errlen);

/* The whole start-up sequence: defaults, then the file named by -c/--config
 * or else by FERRYMQ_CONFIG (no file if neither), then the environment, then
 * the flags. `c` need not be initialised; on success it holds the result and
 * the caller frees it; on error or --help it holds nothing to free. Returns
 * 0, -1 on error, or 1 after printing --help (the caller should exit 0). */
int fb_config_from_sources(fb_config_t *c, int argc, char **argv, char *const *envp, char *err,
                           size_t errlen);

/* The effective settings, one "name: value" line each, in table order. The
 * output is itself a valid config file (strings are quoted). */
void fb_config_print(const fb_config_t *c, FILE *f);

/* The --help text: every flag with its value form, range and default. */
void fb_config_usage(FILE *f, const char *prog);

/* True if every setting of a and b is equal (strings compared by value). */
bool fb_config_equal(const fb_config_t *a, const fb_config_t *b);

#ifdef __cplusplus
}
#endif

#endif /* FB_CONFIG_H */
