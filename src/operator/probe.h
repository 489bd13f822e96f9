/*
 * probe.h: the controller's view of each node through its admin API (see
 * probe.c). Blocking, bounded by timeout_ms; no state kept between calls.
 */
#ifndef FO_PROBE_H
#define FO_PROBE_H

#include "operator/engine.h"
#include "operator/platform.h"

typedef struct fo_probe_members {
    char names[FO_MAX_NODES][FO_NODE_NAME_MAX];
    size_t n;
} fo_probe_members_t;

/* Fills out[i] for w->nodes[i] (out has w->n_nodes entries), and the union
 * of the members every running node lists. A node that does not answer is
 * not ready, with unknown (-1) counts. */
void fo_probe_nodes(const fo_pworld_t *w, fo_obs_node_t *out, fo_probe_members_t *members,
                    long timeout_ms);

/* POST admin_url + path with a JSON body; *status is the HTTP status (0 when
 * there was no answer); answer gets the body or the transport error. */
int fo_probe_post(const char *admin_url, const char *path, const char *body, long timeout_ms,
                  long *status, char *answer, size_t answer_len);

#endif /* FO_PROBE_H */
