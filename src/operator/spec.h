/*
 * spec.h: the FerryCluster spec of ferry-operator (../../../shared/design.md,
 * "Upgrade controller"): parsed from YAML, validated, defaulted, and hashed
 * into the revision that names a group of identical nodes.
 *
 * Pure: fo_spec_parse reads a buffer, fo_spec_write writes to a FILE the
 * caller opened; only fo_spec_load_file touches the file system.
 *
 * Ownership: every string in an fo_spec_t is malloc'd by the parser and owned
 * by the spec; fo_spec_free releases them and leaves the defaults behind. A
 * failed parse leaves *out as fo_spec_init made it (nothing to free, though
 * fo_spec_free is harmless). Errors are written into the caller's buffer.
 *
 * The document (every field optional unless marked; unknown fields are
 * errors):
 *
 *   apiVersion: ferrymq.io/v1alpha1            required
 *   kind: FerryCluster                         required
 *   metadata: {name: demo}                     required, DNS label, <= 63
 *   spec:                                      required
 *     replicas: 3                              required, 1..64
 *     image: ferrymq:1.1                       image and/or binary required
 *     binary: /opt/ferrymq/bin/ferrymq         absolute path
 *     config: {max_inflight: 64}               broker settings for every node
 *     updateStrategy: BlueGreen                or Rolling
 *     phaseTimeoutSeconds: 600                 1..86400
 *     loadBalancer: haproxy                    or kernel
 *     blueGreenUpdate:                         the EMQX operator's block
 *       initialDelaySeconds: 60                0..86400
 *       concurrency: 1                         1..replicas
 *       evacuationStrategy:
 *         waitTakeover: 60                     0..86400
 *         connEvictRate: 500                   1..1000000 or "auto"
 *         sessEvictRate: 500                   1..1000000
 */
#ifndef FO_SPEC_H
#define FO_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FO_API_VERSION "ferrymq.io/v1alpha1"
#define FO_KIND "FerryCluster"

/* Bounds: a spec is small; anything far bigger is a mistake or an attack. */
#define FO_SPEC_MAX_BYTES (1024u * 1024u) /* whole document */
#define FO_SPEC_MAX_DEPTH 16u             /* nested mappings and lists */
#define FO_SPEC_MAX_NODES 4096u           /* YAML nodes in the document */
#define FO_SPEC_MAX_CONFIG 256u           /* spec.config entries */
#define FO_SPEC_MAX_KEY 64u               /* spec.config setting name, bytes */
#define FO_SPEC_MAX_VALUE 4096u           /* spec.config value, bytes */
#define FO_SPEC_MAX_IMAGE 255u            /* spec.image, bytes */
#define FO_SPEC_MAX_PATH 4095u            /* spec.binary, bytes */
#define FO_SPEC_MAX_NAME 63u              /* metadata.name, bytes */

#define FO_REPLICAS_MAX 64u
#define FO_SECONDS_MAX 86400u /* 24 h: delays, waitTakeover, phase timeout */
#define FO_RATE_MAX 1000000u  /* per second, as the evacuation API allows */

/* Defaults (EMQX's evacuation defaults for the rates and the takeover wait). */
#define FO_DEF_INITIAL_DELAY 60u
#define FO_DEF_WAIT_TAKEOVER 60u
#define FO_DEF_CONN_RATE 500u
#define FO_DEF_SESS_RATE 500u
#define FO_DEF_CONCURRENCY 1u
#define FO_DEF_PHASE_TIMEOUT 600u

/* A revision as printed: 10 lower-case hex digits. */
#define FO_REVISION_LEN 10

typedef enum { FO_STRATEGY_BLUE_GREEN, FO_STRATEGY_ROLLING } fo_strategy_t;
typedef enum { FO_LB_HAPROXY, FO_LB_KERNEL } fo_lb_t;

/* One spec.config entry, in the order the document wrote them. */
typedef struct fo_kv {
    char *key;
    char *value; /* the scalar as written, without quotes */
} fo_kv_t;

typedef struct fo_spec {
    char *name; /* metadata.name */
    uint32_t replicas;
    char *image;  /* NULL when absent */
    char *binary; /* NULL when absent */
    fo_kv_t *config;
    size_t n_config;
    fo_strategy_t strategy;
    fo_lb_t lb;
    uint32_t phase_timeout_s;
    /* spec.blueGreenUpdate */
    uint32_t initial_delay_s;
    uint32_t concurrency;
    uint32_t wait_takeover_s;
    bool conn_evict_auto; /* connEvictRate: "auto" (conn_evict_rate is then 0) */
    uint32_t conn_evict_rate;
    uint32_t sess_evict_rate;
} fo_spec_t;

/* Fills in the defaults; no strings, so nothing to free yet. */
void fo_spec_init(fo_spec_t *s);

/* Frees what the spec owns and re-initialises it. */
void fo_spec_free(fo_spec_t *s);

/* Parses and validates one YAML document of len bytes (need not be
 * NUL-terminated). source names it in messages (NULL: "<spec>"). Returns 0,
 * or -1 with one line in err: either "<field path>: <rule>, got <value>
 * (<source>:<line>:<column>)" or "invalid YAML: <problem> (<source>:<line>:
 * <column>)". *out must have been fo_spec_init'ed (or freed); it is replaced
 * only on success. */
int fo_spec_parse(fo_spec_t *out, const char *text, size_t len, const char *source, char *err,
                  size_t errlen);

/* Reads the file at path (at most FO_SPEC_MAX_BYTES) and parses it. */
int fo_spec_load_file(fo_spec_t *out, const char *path, char *err, size_t errlen);

/* Writes the spec as a complete document with every default spelled out, in
 * a fixed field order; fo_spec_parse reads it back to an equal spec. */
void fo_spec_write(const fo_spec_t *s, FILE *f);

/* Every field equal, config in the same order. */
bool fo_spec_equal(const fo_spec_t *a, const fo_spec_t *b);

/*
 * The revision: FNV-1a 64 of what shapes a node, and nothing else:
 *   - spec.image and spec.binary (absent differs from empty),
 *   - spec.config, sorted by setting name (the order written does not matter).
 * replicas, the update strategy, its timings and rates, the load balancer,
 * the phase timeout and metadata.name are left out: changing them must not
 * start an upgrade. Each part is length-prefixed so no two specs hash the
 * same bytes. The printed form is the hash's top 40 bits in hex.
 */
uint64_t fo_spec_revision_hash(const fo_spec_t *s);
void fo_spec_revision(const fo_spec_t *s, char out[FO_REVISION_LEN + 1]);

const char *fo_strategy_name(fo_strategy_t st);
const char *fo_lb_name(fo_lb_t lb);

#endif /* FO_SPEC_H */
