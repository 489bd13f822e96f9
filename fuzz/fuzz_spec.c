/*
 * libFuzzer target for ferry-operator's FerryCluster spec parser,
 * fo_spec_parse (src/operator/spec.c): arbitrary bytes must yield either a
 * spec or one clean error line, never a crash, leak or hang.
 *
 * Input: the YAML document itself, whole (no header byte).
 *
 * Beyond "does not crash" it checks the parser's promises:
 *   - a failed parse leaves the spec it was given exactly as it was;
 *   - an error message is one non-empty printable line;
 *   - an accepted spec is within every documented bound;
 *   - fo_spec_write prints a document that parses back to an equal spec with
 *     the same revision, and config reversed keeps the revision.
 * Each run starts from fresh defaults and frees everything. Links ferryspec.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include "operator/spec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise is a finding: abort so that libFuzzer saves the input. */
static void require(int ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "fuzz_spec: %s: %s\n", what, detail ? detail : "");
        abort();
    }
}

static void check_message(const char *err)
{
    require(err[0] != '\0', "empty error message", NULL);
    for (const char *p = err; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        require(ch >= 0x20 && ch != 0x7f, "error holds a control character", err);
    }
}

static void check_bounds(const fo_spec_t *s)
{
    require(s->name != NULL && strlen(s->name) <= FO_SPEC_MAX_NAME, "metadata.name", s->name);
    require(s->replicas >= 1 && s->replicas <= FO_REPLICAS_MAX, "replicas out of bounds", NULL);
    require(s->image != NULL || s->binary != NULL, "neither image nor binary", NULL);
    require(s->n_config <= FO_SPEC_MAX_CONFIG, "too many config entries", NULL);
    for (size_t i = 0; i < s->n_config; i++) {
        require(strlen(s->config[i].key) <= FO_SPEC_MAX_KEY, "config key too long", NULL);
        require(strlen(s->config[i].value) <= FO_SPEC_MAX_VALUE, "config value too long", NULL);
        for (size_t j = 0; j < i; j++)
            require(strcmp(s->config[i].key, s->config[j].key) != 0, "config key twice",
                    s->config[i].key);
    }
    require(s->concurrency >= 1 && s->concurrency <= s->replicas, "concurrency", NULL);
    require(s->phase_timeout_s >= 1 && s->phase_timeout_s <= FO_SECONDS_MAX, "phase timeout", NULL);
    require(s->initial_delay_s <= FO_SECONDS_MAX && s->wait_takeover_s <= FO_SECONDS_MAX, "delays",
            NULL);
    require(s->conn_evict_auto ? s->conn_evict_rate == 0
                               : s->conn_evict_rate >= 1 && s->conn_evict_rate <= FO_RATE_MAX,
            "connEvictRate", NULL);
    require(s->sess_evict_rate >= 1 && s->sess_evict_rate <= FO_RATE_MAX, "sessEvictRate", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fo_spec_t s, before;
    char err[512];
    memset(err, 0, sizeof err);
    fo_spec_init(&s);
    fo_spec_init(&before);

    int rc = fo_spec_parse(&s, (const char *)data, size, "fuzz.yaml", err, sizeof err);
    require(rc == 0 || rc == -1, "unexpected return code", NULL);
    if (rc != 0) {
        check_message(err);
        require(fo_spec_equal(&s, &before), "a failed parse changed the spec", err);
        return 0;
    }
    check_bounds(&s);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    require(f != NULL, "open_memstream failed", NULL);
    fo_spec_write(&s, f);
    fclose(f);
    fo_spec_t again;
    fo_spec_init(&again);
    int rc2 = fo_spec_parse(&again, text, len, "written", err, sizeof err);
    require(rc2 == 0, "the written spec does not parse", err);
    require(fo_spec_equal(&s, &again), "the written spec parses different", text);
    require(fo_spec_revision_hash(&s) == fo_spec_revision_hash(&again), "revision changed", text);

    /* The revision does not depend on config order. */
    uint64_t h = fo_spec_revision_hash(&s);
    for (size_t i = 0, j = s.n_config ? s.n_config - 1 : 0; i < j; i++, j--) {
        fo_kv_t t = s.config[i];
        s.config[i] = s.config[j];
        s.config[j] = t;
    }
    require(fo_spec_revision_hash(&s) == h, "config order changed the revision", text);

    fo_spec_free(&again);
    free(text);
    fo_spec_free(&s);
    return 0;
}
