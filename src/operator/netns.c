/*
 * netns.c: named network namespaces (netns.h) through iproute2 and
 * setns(2).
 */
#include "operator/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "operator/lb_int.h"

#define IP_TIMEOUT_MS 10000
#define PORT_RANGE "1024 65535"
#define PORT_RANGE_PATH "/proc/sys/net/ipv4/ip_local_port_range"

static int check(const char *name, char *err, size_t errlen)
{
    if (!fo_lb__valid_name(name, FO_NETNS_NAME_MAX))
        return fo_lb__fail(err, errlen, "network namespace %s: expected 1..%u of A-Z a-z 0-9 _ . -",
                           name ? name : "(none)", FO_NETNS_NAME_MAX);
    if (geteuid() != 0)
        return fo_lb__fail(err, errlen, FO_LB__NEED_ROOT ": namespace %s: running as uid %ld", name,
                           (long)geteuid());
    return 0;
}

/* Runs `ip ARGS...`; -1 with its output quoted unless that contains `fine`. */
static int ip(const char *const argv[], const char *fine, char *err, size_t errlen)
{
    char *out = NULL;
    int rc = fo_lb__run(argv, NULL, IP_TIMEOUT_MS, &out, err, errlen);
    if (rc == 0 || (rc > 0 && fine != NULL && out != NULL && strstr(out, fine) != NULL)) {
        free(out);
        return 0;
    }
    if (rc > 0) {
        char shown[300], cmd[160] = "";
        for (size_t i = 0; argv[i] != NULL; i++)
            snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", i ? " " : "", argv[i]);
        fo_lb__squash(shown, sizeof shown, out, 240);
        bool perm = out != NULL && strstr(out, "Operation not permitted") != NULL;
        fo_lb__fail(err, errlen, "%s%s%s: %s", perm ? FO_LB__NEED_ROOT : "", perm ? ": " : "", cmd,
                    shown);
    }
    free(out);
    return -1;
}

int fo_netns_enter(const char *name, char *err, size_t errlen)
{
    char path[128];
    int fd = -1;
    if (check(name, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof path, "/run/netns/%s", name);
    struct stat st;
    if (stat(path, &st) != 0) {
        const char *argv[] = {"ip", "netns", "add", name, NULL};
        if (ip(argv, "File exists", err, errlen) != 0)
            return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fo_lb__fail(err, errlen, "network namespace %s: %s: %s", name, path,
                           strerror(errno));
    if (setns(fd, CLONE_NEWNET) != 0) {
        int e = errno;
        close(fd);
        return fo_lb__fail(err, errlen, "%snetwork namespace %s: setns: %s",
                           e == EPERM ? FO_LB__NEED_ROOT ": " : "", name, strerror(e));
    }
    close(fd);

    const char *lo[] = {"ip", "link", "set", "lo", "up", NULL};
    if (ip(lo, NULL, err, errlen) != 0)
        return -1;
    /* /proc/sys/net shows the namespace of whoever opens it: ours now. */
    fd = open(PORT_RANGE_PATH, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return fo_lb__fail(err, errlen, "network namespace %s: %s: %s", name, PORT_RANGE_PATH,
                           strerror(errno));
    ssize_t w = write(fd, PORT_RANGE "\n", sizeof PORT_RANGE);
    int e = errno;
    close(fd);
    if (w != (ssize_t)sizeof PORT_RANGE)
        return fo_lb__fail(err, errlen, "network namespace %s: %s: %s", name, PORT_RANGE_PATH,
                           w < 0 ? strerror(e) : "short write");
    return 0;
}

int fo_netns_delete(const char *name, char *err, size_t errlen)
{
    char path[128];
    if (check(name, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof path, "/run/netns/%s", name);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    const char *argv[] = {"ip", "netns", "delete", name, NULL};
    return ip(argv, "No such file or directory", err, errlen);
}
