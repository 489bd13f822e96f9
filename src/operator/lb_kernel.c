/*
 * lb_kernel.c: the kernel load balancer (lb.h): an nftables table in the
 * namespace the caller already entered (netns.h), as kube-proxy's nftables
 * mode implements a Service. The clients run in the same namespace, so the
 * rules sit on the output hook (locally generated traffic):
 *
 *   table ip ferry_<name> {
 *     chain svc {   # type nat hook output priority -100
 *       ip daddr H tcp dport P dnat ip addr . port to numgen random mod N
 *           map { 0 comment "n1" : 127.0.1.1 . 1883, ... }   # active nodes only
 *     }
 *     chain gate {  # type filter hook output priority 0
 *       ip daddr H tcp dport P ct status != dnat reject with tcp reset
 *     }
 *   }
 *
 * The node names ride along as element comments, so fo_lb_observe reads
 * them back from the kernel rather than remembering them.
 *
 * Why a second chain (seen on this kernel, 6.x, nftables 1.0.6): a nat chain
 * alone does not turn connection tracking on in a fresh namespace; only a
 * nat or ct expression does. With svc empty (no active node) conntrack went
 * off, the nat chain was no longer traversed at all (a reject placed there
 * never ran) and, worse, established connections lost their translation.
 * The gate rule's `ct` expression keeps conntrack on for as long as the
 * table exists, and rejects, in a filter chain where reject belongs, what no
 * dnat rule translated: with no active node the service refuses
 * connections instead of reaching whatever listens on its address.
 *
 * Every change is one `nft -f -` transaction (flush and re-add both chains'
 * rules): there is never a moment without a rule, and conntrack keeps
 * established connections on their node whatever the rule becomes.
 */
#include "operator/lb_int.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFT_TIMEOUT_MS 10000

static const char *where(const fo_lb_handle_t *lb)
{
    return lb->netns ? lb->netns : "this namespace";
}

/* Runs nft with `script` on stdin (`nft -f -`) or argv, mapping a refusal
 * by the kernel to the root message. Returns nft's status or -1. */
static int nft(const fo_lb_handle_t *lb, const char *const argv[], const char *script, char **out,
               char *err, size_t errlen)
{
    char *text = NULL;
    int rc = fo_lb__run(argv, script, NFT_TIMEOUT_MS, &text, err, errlen);
    if (rc > 0 && text != NULL && strstr(text, "Operation not permitted") != NULL) {
        char shown[300];
        fo_lb__squash(shown, sizeof shown, text, 240);
        fo_lb__fail(err, errlen, FO_LB__NEED_ROOT ": nft in %s: %s", where(lb), shown);
        free(text);
        return -1;
    }
    if (out != NULL)
        *out = text;
    else
        free(text);
    return rc;
}

/* Applies one transaction; -1 with nft's message quoted. */
static int apply(const fo_lb_handle_t *lb, const char *script, char *err, size_t errlen)
{
    const char *argv[] = {"nft", "-f", "-", NULL};
    char *out = NULL;
    int rc = nft(lb, argv, script, &out, err, errlen);
    if (rc > 0) {
        char shown[400];
        fo_lb__squash(shown, sizeof shown, out, 300);
        fo_lb__fail(err, errlen, "nft in %s, table ip %s: %s", where(lb), lb->table, shown);
    }
    free(out);
    return rc == 0 ? 0 : -1;
}

/* The table, both chains, and the gate rule, idempotently (add does not
 * fail on what exists). */
static void base(const fo_lb_handle_t *lb, FILE *f)
{
    fprintf(f,
            "add table ip %s\n"
            "add chain ip %s svc { type nat hook output priority -100; policy accept; }\n"
            "add chain ip %s gate { type filter hook output priority 0; policy accept; }\n"
            "flush chain ip %s gate\n"
            "add rule ip %s gate ip daddr %s tcp dport %u ct status != dnat "
            "reject with tcp reset\n",
            lb->table, lb->table, lb->table, lb->table, lb->table, lb->service_host,
            lb->service_port);
}

int fo_lb__kernel_open(fo_lb_handle_t *lb, char *err, size_t errlen)
{
    int o = snprintf(lb->table, sizeof lb->table, "ferry_");
    for (const char *p = lb->name; *p && (size_t)o < FO_LB__TABLE_MAX; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            c = '_';
        lb->table[o++] = c;
    }
    lb->table[o] = '\0';

    char *script = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&script, &len);
    if (f == NULL)
        return fo_lb__fail(err, errlen, "nft: out of memory");
    base(lb, f); /* an existing svc rule stays: adopting keeps the service */
    if (fclose(f) != 0) {
        free(script);
        return fo_lb__fail(err, errlen, "nft: out of memory");
    }
    int rc = apply(lb, script, err, errlen);
    free(script);
    return rc;
}

int fo_lb__kernel_set(fo_lb_handle_t *lb, const fo_lb_backend_t *b, size_t n, char *err,
                      size_t errlen)
{
    char *script = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&script, &len);
    if (f == NULL)
        return fo_lb__fail(err, errlen, "nft: out of memory");
    base(lb, f);
    fprintf(f, "flush chain ip %s svc\n", lb->table);
    size_t active = 0;
    for (size_t i = 0; i < n; i++)
        active += b[i].active;
    if (active > 0) {
        fprintf(f,
                "add rule ip %s svc ip daddr %s tcp dport %u dnat ip addr . port to "
                "numgen random mod %zu map {",
                lb->table, lb->service_host, lb->service_port, active);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!b[i].active)
                continue;
            fprintf(f, "%s %zu comment \"%s\" : %s . %u", k ? "," : "", k, b[i].name, b[i].host,
                    b[i].port);
            k++;
        }
        fprintf(f, " }\n");
    }
    if (fclose(f) != 0) {
        free(script);
        return fo_lb__fail(err, errlen, "nft: out of memory");
    }
    int rc = apply(lb, script, err, errlen);
    free(script);
    return rc;
}

/* ---- reading the dnat map back (pure) ---- */

/* '!'..'~' only, 1..FO_LB__NAME_MAX bytes (jansson strings hold no NUL). */
static bool printable_name(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (s[n] <= ' ' || s[n] > '~' || n >= FO_LB__NAME_MAX)
            return false;
    return n > 0;
}

/* One map element [key, {"concat": [addr, port]}] into out. */
static int add_element(json_t *pair, fo_lb__nft_dnat_t *out, char *err, size_t errlen)
{
    json_t *key = json_array_get(pair, 0);
    json_t *concat = json_object_get(json_array_get(pair, 1), "concat");
    const char *addr = json_string_value(json_array_get(concat, 0));
    json_t *port = json_array_get(concat, 1);
    struct in_addr a;
    if (json_array_size(pair) != 2 || json_array_size(concat) != 2 || addr == NULL ||
        strlen(addr) >= INET_ADDRSTRLEN || inet_pton(AF_INET, addr, &a) != 1 ||
        !json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
        return fo_lb__fail(err, errlen, "a dnat map element that is not [key, IPv4 . port]");
    json_t *elem = json_object_get(key, "elem");
    json_t *val = elem != NULL ? json_object_get(elem, "val") : key;
    json_t *comment = json_object_get(elem, "comment");
    if (!json_is_integer(val) || json_integer_value(val) < 0 ||
        json_integer_value(val) > UINT32_MAX || (elem != NULL && !json_is_object(elem)))
        return fo_lb__fail(err, errlen, "a dnat map element whose key is not 0..%u", UINT32_MAX);
    if (comment != NULL &&
        (!json_is_string(comment) || !printable_name(json_string_value(comment))))
        return fo_lb__fail(err, errlen, "a dnat map element whose comment is not 1..%u of '!'..'~'",
                           FO_LB__NAME_MAX);
    if (out->n >= FO_LB_MAX_BACKENDS)
        return fo_lb__fail(err, errlen, "more than %u dnat map elements", FO_LB_MAX_BACKENDS);
    fo_lb__nft_target_t *t = &out->t[out->n++];
    t->port = (uint16_t)json_integer_value(port);
    t->key = (uint32_t)json_integer_value(val);
    snprintf(t->addr, sizeof t->addr, "%s", addr);
    if (comment != NULL)
        snprintf(t->name, sizeof t->name, "%s", json_string_value(comment));
    else
        snprintf(t->name, sizeof t->name, "%s:%u", addr, (unsigned)t->port);
    return 0;
}

int fo_lb__nft_parse_dnat(const char *text, size_t len, fo_lb__nft_dnat_t *out, char *err,
                          size_t errlen)
{
    out->n = 0;
    if (len > FO_LB__RUN_OUT_MAX)
        return fo_lb__fail(err, errlen, "%zu bytes of JSON, more than %u", len, FO_LB__RUN_OUT_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *items = json_object_get(root, "nftables");
    if (!json_is_array(items)) {
        json_decref(root);
        /* jansson may quote the input: printable ASCII only in a message */
        char why[sizeof jerr.text];
        snprintf(why, sizeof why, "%s", root == NULL ? jerr.text : "no \"nftables\" array");
        for (char *p = why; *p; p++)
            if (*p < ' ' || *p > '~')
                *p = '?';
        return fo_lb__fail(err, errlen, "not the expected JSON (%s)", why);
    }
    int rc = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        json_t *rule = json_object_get(item, "rule");
        const char *chain = json_string_value(json_object_get(rule, "chain"));
        if (chain == NULL || strcmp(chain, "svc") != 0)
            continue;
        size_t j;
        json_t *expr;
        json_array_foreach(json_object_get(rule, "expr"), j, expr)
        {
            json_t *dnat = json_object_get(expr, "dnat");
            if (dnat == NULL)
                continue;
            json_t *set = json_object_get(
                json_object_get(json_object_get(json_object_get(dnat, "addr"), "map"), "data"),
                "set");
            size_t k;
            json_t *pair;
            json_array_foreach(set, k, pair)
            {
                if (rc == 0)
                    rc = add_element(pair, out, err, errlen);
            }
        }
    }
    json_decref(root);
    if (rc != 0)
        out->n = 0;
    return rc;
}

/* ---- observe, destroy ---- */

int fo_lb__kernel_observe(fo_lb_handle_t *lb, fo_lb_observed_t *out, char *err, size_t errlen)
{
    const char *argv[] = {"nft", "-j", "list", "table", "ip", lb->table, NULL};
    char *text = NULL;
    int rc = nft(lb, argv, NULL, &text, err, errlen);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        bool absent = text != NULL && strstr(text, "No such file or directory") != NULL;
        if (!absent) {
            char shown[400];
            fo_lb__squash(shown, sizeof shown, text, 300);
            fo_lb__fail(err, errlen, "nft in %s: list table ip %s: %s", where(lb), lb->table,
                        shown);
        }
        free(text);
        return absent ? 0 : -1; /* no table: not running */
    }
    fo_lb__nft_dnat_t *map = malloc(sizeof *map);
    char why[256];
    rc = map == NULL ? fo_lb__fail(why, sizeof why, "out of memory")
                     : fo_lb__nft_parse_dnat(text ? text : "", text ? strlen(text) : 0, map, why,
                                             sizeof why);
    free(text);
    if (rc != 0) {
        free(map);
        return fo_lb__fail(err, errlen, "nft -j in %s: list table ip %s: %s", where(lb), lb->table,
                           why);
    }
    out->running = true;
    for (size_t i = 0; i < map->n; i++) {
        fo_lb_observed_server_t *s = &out->servers[out->n++];
        snprintf(s->name, sizeof s->name, "%s", map->t[i].name);
        s->active = true;
        s->healthy = true;
        s->current = -1;
    }
    free(map);
    return 0;
}

int fo_lb__kernel_destroy(fo_lb_handle_t *lb, char *err, size_t errlen)
{
    const char *argv[] = {"nft", "delete", "table", "ip", lb->table, NULL};
    char *out = NULL;
    int rc = nft(lb, argv, NULL, &out, err, errlen);
    if (rc > 0 && (out == NULL || strstr(out, "No such file or directory") == NULL)) {
        char shown[400];
        fo_lb__squash(shown, sizeof shown, out, 300);
        fo_lb__fail(err, errlen, "nft in %s: delete table ip %s: %s", where(lb), lb->table, shown);
        free(out);
        return -1;
    }
    free(out);
    return rc < 0 ? -1 : 0;
}
