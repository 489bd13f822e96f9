/*
 * netns.h: named network namespaces for the kernel load balancer (lb.h):
 * the local platform runs a cluster's nodes, its clients and its nftables
 * table in one namespace, so its service address and ports are private.
 *
 * The names are iproute2's (`ip netns`): a namespace is a bind mount at
 * /run/netns/<name>, which keeps it alive without any process in it.
 *
 * fo_netns_enter moves the calling THREAD (setns(2) with CLONE_NEWNET is
 * per thread): call it in a single-threaded process, e.g. right after
 * fork(2) and before starting threads; children forked afterwards inherit
 * the namespace. Both need root; errors are -1 and one line in err.
 */
#ifndef FO_NETNS_H
#define FO_NETNS_H

#include <stddef.h>

/* Names: 1..64 of A-Z a-z 0-9 _ . - */
#define FO_NETNS_NAME_MAX 64u

/* Creates the namespace if missing (`ip netns add`), enters it, brings lo
 * up and sets net.ipv4.ip_local_port_range to "1024 65535" inside it. */
int fo_netns_enter(const char *name, char *err, size_t errlen);

/* Deletes the namespace (`ip netns delete`); an absent one is success.
 * Processes still inside keep it alive until they exit. */
int fo_netns_delete(const char *name, char *err, size_t errlen);

#endif /* FO_NETNS_H */
