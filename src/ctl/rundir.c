/*
 * ferryctl upgrade-status reads what ferry-operator writes: the clusters of
 * a run directory (a subdirectory that holds platform.json) and a cluster's
 * status.json. Read only: nothing is locked, created or written, and no
 * code is shared with src/operator; the file's format is the contract
 * (write_status in src/operator/controller.c). A file is read up to
 * CTL_BODY_CAP bytes, as an HTTP answer is.
 */
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_BUF (CTL_RUN_DIR_MAX + 512u)

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* <run_dir>/<name>/platform.json exists. */
static bool is_cluster(const char *run_dir, const char *name)
{
    char probe[PATH_BUF];
    int n = snprintf(probe, sizeof probe, "%s/%s/platform.json", run_dir, name);
    return n > 0 && (size_t)n < sizeof probe && exists(probe);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "2 clusters in DIR: a, b; name one with --name", the list cut with "..."
 * when err is short. */
static void several(char *err, size_t errlen, const char *run_dir, char **names, size_t n)
{
    static const char tail[] = "; name one with --name";
    char dir[256], name[256];
    ctl_sanitize(run_dir, dir, sizeof dir);
    size_t len = (size_t)snprintf(err, errlen, "%zu clusters in %s:", n, dir);
    for (size_t i = 0; i < n && len < errlen; i++) {
        ctl_sanitize(names[i], name, sizeof name);
        size_t need = strlen(name) + 3; /* ", " or " " and the name */
        if (len + need + sizeof tail + 5 > errlen) {
            len += (size_t)snprintf(err + len, errlen - len, " ...");
            break;
        }
        len += (size_t)snprintf(err + len, errlen - len, "%s%s", i ? ", " : " ", name);
    }
    if (len < errlen)
        snprintf(err + len, errlen - len, "%s", tail);
}

int ctl_rundir_cluster(const char *run_dir, const char *name, char *dir, size_t dirlen, char *err,
                       size_t errlen)
{
    char shown[256];
    ctl_sanitize(run_dir, shown, sizeof shown);
    if (name) {
        int n = snprintf(dir, dirlen, "%s/%s", run_dir, name);
        if (n < 0 || (size_t)n >= dirlen || !is_cluster(run_dir, name)) {
            snprintf(err, errlen, "no cluster named %s in %s (no %s/platform.json)", name, shown,
                     name);
            return CTL_EXIT_USAGE;
        }
        return 0;
    }
    DIR *d = opendir(run_dir);
    if (!d) {
        snprintf(err, errlen, "no cluster in %s: %s (give --run-dir or set FERRY_RUN_DIR)", shown,
                 strerror(errno));
        return CTL_EXIT_USAGE;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = CTL_EXIT_UNEXPECTED;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !is_cluster(run_dir, e->d_name))
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **p = realloc(names, ncap * sizeof *names);
            if (!p)
                goto nomem;
            names = p;
            cap = ncap;
        }
        names[count] = strdup(e->d_name);
        if (!names[count])
            goto nomem;
        count++;
    }
    if (count == 0) {
        snprintf(err, errlen,
                 "no cluster in %s (no subdirectory with platform.json; give --run-dir or set "
                 "FERRY_RUN_DIR)",
                 shown);
        rc = CTL_EXIT_USAGE;
    } else if (count > 1) {
        qsort(names, count, sizeof *names, cmp_names);
        several(err, errlen, run_dir, names, count);
        rc = CTL_EXIT_USAGE;
    } else {
        int n = snprintf(dir, dirlen, "%s/%s", run_dir, names[0]);
        rc = n > 0 && (size_t)n < dirlen ? 0 : CTL_EXIT_USAGE;
        if (rc != 0)
            snprintf(err, errlen, "%s: path too long", shown);
    }
    goto done;
nomem:
    snprintf(err, errlen, "out of memory");
done:
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int ctl_rundir_status(const char *dir, json_t **out, char *err, size_t errlen)
{
    char path[PATH_BUF], shown[PATH_BUF];
    *out = NULL;
    int n = snprintf(path, sizeof path, "%s/status.json", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return CTL_EXIT_UNEXPECTED;
    }
    ctl_sanitize(path, shown, sizeof shown);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot read %s: %s", shown, strerror(e));
        return e == ENOENT ? CTL_EXIT_UNREACHABLE : CTL_EXIT_UNEXPECTED;
    }
    int rc = CTL_EXIT_UNEXPECTED;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", shown, strerror(errno));
        goto done;
    }
    if (st.st_size > (off_t)CTL_BODY_CAP) {
        snprintf(err, errlen, "%s is larger than %u bytes", shown, CTL_BODY_CAP);
        goto done;
    }
    json_error_t je;
    json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        char why[160];
        ctl_sanitize(j ? "" : je.text, why, sizeof why);
        snprintf(err, errlen, "%s is not a JSON object%s%s", shown, j ? "" : ": ", why);
        json_decref(j);
        goto done;
    }
    *out = j;
    rc = 0;
done:
    fclose(f);
    return rc;
}
