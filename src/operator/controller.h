/*
 * controller.h: the ferry-operator controller of one cluster. It owns the
 * cluster's run directory:
 *
 *   spec.yaml          the applied spec (written by `apply`, read each round)
 *   platform.json      where the cluster runs: balancer kind, service address,
 *                      ports, default binary (fixed at the first apply)
 *   secret             cluster_secret of every node (mode 600)
 *   state.json         the engine's memory (fo_memory_t), rewritten each round
 *   status.json        what users read (`ferry-operator status`, ferryctl)
 *   events.log         one timestamped line per event
 *   controller.lock    flock'ed by the running controller; holds its pid
 *   abort-requested, delete-requested
 *                      requests from the CLI, consumed by the controller
 *   nodes/, logs/, lb/ the platform's (platform_local.c, lb.h)
 *
 * Each round: observe (platform + admin APIs), plan (engine), act, write
 * state and status, then sleep for the plan's requeue time or until a node
 * process exits.
 */
#ifndef FO_CONTROLLER_H
#define FO_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "operator/spec.h"

typedef struct fo_platform_conf {
    fo_lb_t lb;
    char service_host[64];
    uint16_t service_port;
    uint16_t port_base;
    bool leastconn;
    char binary[4096]; /* default ferrymq */
    char netns[64];    /* kernel: the namespace */
} fo_platform_conf_t;

int fo_platform_conf_load(const char *dir, fo_platform_conf_t *c, char *err, size_t errlen);
int fo_platform_conf_save(const char *dir, const fo_platform_conf_t *c, char *err, size_t errlen);

/* Runs the controller until SIGINT/SIGTERM (nodes keep running) or a delete
 * request (everything is stopped and the run directory emptied). echo:
 * events also go to stdout. Returns the exit status. */
int fo_controller_run(const char *dir, bool echo);

/* The pid of the controller holding dir's lock, or 0. */
int fo_controller_pid(const char *dir);

/* Stops every node and the balancer of a cluster whose controller is not
 * running. */
int fo_controller_destroy(const char *dir, char *err, size_t errlen);

#endif /* FO_CONTROLLER_H */
