/*
 * ferryctl: the admin command line over a node's admin HTTP API. This file
 * turns what happened into the exit codes scripts rely on (README.md) and
 * runs the evacuation watch (`evacuate status --watch`, `evacuate start
 * --wait`) and `upgrade-status` (a file, not HTTP: rundir.c reads it);
 * parsing and output live in args.c / output.c, HTTP in http.c.
 */
#include "ctl.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Set by SIGINT during a watch. The one mutable global: a signal handler
 * reaches nothing else. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cannot_reach(const ctl_opts_t *o, const char *why)
{
    fprintf(stderr, "ferryctl: cannot reach %s: %s (is the node running with admin_listen set?)\n",
            o->url, why);
    return CTL_EXIT_UNREACHABLE;
}

/* No answer at all: unreachable, interrupted, or something odd. */
static int no_answer(const ctl_opts_t *o, int code, const char *why)
{
    if (code == CTL_EXIT_UNREACHABLE)
        return cannot_reach(o, why);
    if (code == CTL_EXIT_INTERRUPTED)
        fprintf(stderr, "ferryctl: interrupted\n");
    else
        fprintf(stderr, "ferryctl: %s: %s\n", ctl_cmd_name(o->cmd), why);
    return code;
}

/* An answer outside 2xx: the message on stderr (and the body on stdout
 * with --output json) and the exit code. */
static int answer_error(const ctl_opts_t *o, ctl_cmd_t cmd, const ctl_request_t *r,
                        const ctl_answer_t *a)
{
    char text[512];
    ctl_error_text(a->body, a->len, text, sizeof text);
    if (o->json && a->body) {
        json_t *j = json_loadb(a->body, a->len, 0, NULL);
        if (j)
            ctl_print_json(stdout, j, false);
        json_decref(j);
    }
    const char *name = ctl_cmd_name(cmd);
    long st = a->status;
    if (st == 401 || st == 403) {
        fprintf(stderr, "ferryctl: authentication failed: missing or wrong bearer token (use "
                        "--token or FERRYMQ_ADMIN_TOKEN)\n");
        return CTL_EXIT_AUTH;
    }
    if (st == 400 || st == 413) {
        fprintf(stderr, "ferryctl: %s: the node rejected the request: %s (HTTP %ld)\n", name, text,
                st);
        return CTL_EXIT_USAGE;
    }
    if (st == 409 || (st == 404 && (cmd == CTL_CMD_CLIENT || cmd == CTL_CMD_KICK))) {
        fprintf(stderr, "ferryctl: %s: %s (HTTP %ld)\n", name, text, st);
        return CTL_EXIT_REFUSED;
    }
    if (st == 404 || st == 405)
        fprintf(stderr,
                "ferryctl: %s: the node does not serve %s %s (HTTP %ld: %s); is it an older "
                "version?\n",
                name, r->method, r->path, st, text);
    else
        fprintf(stderr, "ferryctl: %s: unexpected answer to %s %s: HTTP %ld: %s\n", name, r->method,
                r->path, st, text);
    return CTL_EXIT_UNEXPECTED;
}

/* A 2xx answer as JSON (an object), or NULL with the message printed. */
static json_t *answer_json(ctl_cmd_t cmd, const ctl_answer_t *a)
{
    json_error_t e;
    json_t *j = a->body ? json_loadb(a->body, a->len, 0, &e) : NULL;
    if (!j || !json_is_object(j)) {
        char text[256];
        fprintf(stderr, "ferryctl: %s: the node's answer (HTTP %ld) is not a JSON object: %s\n",
                ctl_cmd_name(cmd), a->status, ctl_error_text(a->body, a->len, text, sizeof text));
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Sleeps until `until` (monotonic seconds) or SIGINT. */
static void nap_until(double until)
{
    for (int i = 0; i < 1000 && !interrupted; i++) {
        double left = until - now_s();
        if (left <= 0)
            return;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* Polls the evacuation once a second until prohibiting (0), disabled (0
 * for a watch; 1 after --wait: stopped before it got there), SIGINT (130),
 * an error answer, or --timeout seconds without an answer (3). */
/* A watch redraws in place on a terminal (not with --output json); SIGINT
 * ends it (the previous handler is kept in *old for the end). */
static bool watch_setup(const ctl_opts_t *o, struct sigaction *old)
{
    const char *term = getenv("TERM");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old);
    return !o->json && isatty(STDOUT_FILENO) && !(term && strcmp(term, "dumb") == 0);
}

static int watch(const ctl_opts_t *o, ctl_http_t *http, bool after_start)
{
    ctl_request_t r;
    if (ctl_request_evac_status(&r) != 0) {
        fprintf(stderr, "ferryctl: out of memory\n");
        return CTL_EXIT_UNEXPECTED;
    }
    struct sigaction old;
    bool redraw = watch_setup(o, &old);
    double t0 = now_s(), last_ok = t0;
    int lines = 0, rc = CTL_EXIT_UNEXPECTED;
    for (;;) {
        double tick = now_s();
        if (interrupted) {
            rc = CTL_EXIT_INTERRUPTED;
            break;
        }
        ctl_answer_t a;
        char why[256];
        int t = ctl_http_do(http, &r, &a, why, sizeof why);
        if (t == CTL_EXIT_UNREACHABLE) {
            /* A node restarting or busy for a moment: keep asking, for
             * --timeout seconds since the last answer. */
            if (now_s() - last_ok >= (double)o->timeout_s) {
                char msg[320];
                snprintf(msg, sizeof msg, "no answer for %u s: %s", o->timeout_s, why);
                rc = cannot_reach(o, msg);
                break;
            }
            if (!redraw && !o->json)
                fprintf(stderr, "ferryctl: no answer yet (%s), retrying\n", why);
        } else if (t != 0) {
            rc = no_answer(o, t, why);
            break;
        } else if (a.status < 200 || a.status > 299) {
            rc = answer_error(o, CTL_CMD_EVAC_STATUS, &r, &a);
            ctl_answer_free(&a);
            break;
        } else {
            json_t *j = answer_json(CTL_CMD_EVAC_STATUS, &a);
            ctl_answer_free(&a);
            if (!j)
                break;
            last_ok = now_s();
            double el = last_ok - t0;
            if (o->json) {
                ctl_print_json(stdout, j, true);
            } else if (redraw) {
                if (lines)
                    printf("\033[%dA\033[J", lines);
                lines = ctl_watch_frame(stdout, j, el);
            } else {
                ctl_watch_line(stdout, j, el);
            }
            fflush(stdout);
            const char *status = json_string_value(json_object_get(j, "status"));
            const char *state = json_string_value(json_object_get(j, "state"));
            bool disabled = status && strcmp(status, "disabled") == 0;
            bool done = state && strcmp(state, "prohibiting") == 0;
            json_decref(j);
            if (disabled && after_start) {
                fprintf(stderr, "ferryctl: evacuate start: the evacuation was stopped before it "
                                "reached prohibiting\n");
                rc = CTL_EXIT_REFUSED;
                break;
            }
            if (disabled || done) {
                rc = CTL_EXIT_OK;
                break;
            }
        }
        nap_until(tick + 1.0);
    }
    if (rc == CTL_EXIT_INTERRUPTED)
        fprintf(stderr, "ferryctl: interrupted; the evacuation goes on (ferryctl evacuate stop "
                        "ends it)\n");
    sigaction(SIGINT, &old, NULL);
    ctl_request_free(&r);
    return rc;
}

/* ------------------------------------------------------ upgrade-status */

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define STALE_TEXT                                                                                 \
    "status is %lld s old: is the controller running? (ferry-operator apply resumes it)"

/* The cluster directory: --run-dir, else $FERRY_RUN_DIR, else ./ferry-run;
 * --name, else the only cluster there. 0 or exit 2 (message printed). */
static int upgrade_cluster(const ctl_opts_t *o, char *dir, size_t n)
{
    const char *rd = o->run_dir;
    if (!rd) {
        const char *env = getenv("FERRY_RUN_DIR");
        rd = env && *env ? env : CTL_DEFAULT_RUN_DIR;
        if (strlen(rd) > CTL_RUN_DIR_MAX) {
            fprintf(stderr, "ferryctl: FERRY_RUN_DIR: expected a directory of 1 to %u bytes\n",
                    CTL_RUN_DIR_MAX);
            return CTL_EXIT_USAGE;
        }
    }
    char err[2048];
    int rc = ctl_rundir_cluster(rd, o->cluster, dir, n, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "ferryctl: upgrade-status: %s\n", err);
    return rc;
}

/* Terminal rows that text takes on a terminal cols wide (UTF-8 code
 * points as one column each), so a redraw moves up far enough even when
 * a long node line wraps. */
static int rows_of(const char *text, size_t len, unsigned cols)
{
    int rows = 0;
    unsigned w = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            rows += w == 0 ? 1 : (int)((w + cols - 1) / cols);
            w = 0;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            w++;
        }
    }
    return rows;
}

static unsigned term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* One frame of upgrade-status --watch on a terminal; returns its rows. */
static int upgrade_frame(const json_t *j, long long now, long long stale)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m)
        return 0;
    ctl_upgrade_view(m, j, now);
    if (stale >= 0)
        fprintf(m, "warning: " STALE_TEXT "\n", stale);
    fclose(m);
    fwrite(text, 1, len, stdout);
    int rows = rows_of(text, len, term_cols());
    free(text);
    return rows;
}

static void status_missing(int rc, const char *err)
{
    fprintf(stderr, "ferryctl: upgrade-status: %s%s\n", err,
            rc == CTL_EXIT_UNREACHABLE
                ? " (no status yet: is the controller running? ferry-operator apply starts it)"
                : "");
}

/* Re-reads status.json once a second until SIGINT (130), or until it has
 * been missing or unreadable for --timeout seconds (its exit code: 3 or 5). */
static int upgrade_watch(const ctl_opts_t *o, const char *dir)
{
    struct sigaction old;
    bool redraw = watch_setup(o, &old);
    double t0 = now_s(), last_ok = t0;
    int lines = 0, rc;
    bool was_stale = false;
    for (;;) {
        double tick = now_s();
        if (interrupted) {
            fprintf(stderr, "ferryctl: interrupted\n");
            rc = CTL_EXIT_INTERRUPTED;
            break;
        }
        json_t *j;
        char err[1024];
        int t = ctl_rundir_status(dir, &j, err, sizeof err);
        if (t != 0) {
            /* Between two applies, or a cluster being deleted: keep
             * looking, for --timeout seconds since the last good read. */
            if (now_s() - last_ok >= (double)o->timeout_s) {
                status_missing(t, err);
                rc = t;
                break;
            }
            if (!redraw && !o->json)
                fprintf(stderr, "ferryctl: upgrade-status: %s, retrying\n", err);
        } else {
            last_ok = now_s();
            long long now = wall_ms();
            long long stale = ctl_upgrade_stale_s(j, now);
            if (o->json) {
                ctl_print_json(stdout, j, true);
            } else if (redraw) {
                if (lines)
                    printf("\033[%dA\033[J", lines);
                lines = upgrade_frame(j, now, stale);
            } else {
                ctl_upgrade_line(stdout, j, now, last_ok - t0);
            }
            fflush(stdout);
            if (!redraw && stale >= 0 && !was_stale)
                fprintf(stderr, "ferryctl: " STALE_TEXT "\n", stale);
            was_stale = stale >= 0;
            json_decref(j);
        }
        nap_until(tick + 1.0);
    }
    sigaction(SIGINT, &old, NULL);
    return rc;
}

/* upgrade-status: ferry-operator's status.json, read from its run
 * directory. No HTTP. */
static int upgrade_status(const ctl_opts_t *o)
{
    char dir[CTL_RUN_DIR_MAX + 512];
    int rc = upgrade_cluster(o, dir, sizeof dir);
    if (rc != 0)
        return rc;
    if (o->watch)
        return upgrade_watch(o, dir);
    json_t *j;
    char err[1024];
    rc = ctl_rundir_status(dir, &j, err, sizeof err);
    if (rc != 0) {
        status_missing(rc, err);
        return rc;
    }
    long long now = wall_ms();
    if (o->json)
        ctl_print_json(stdout, j, false);
    else
        ctl_upgrade_view(stdout, j, now);
    fflush(stdout);
    long long stale = ctl_upgrade_stale_s(j, now);
    if (stale >= 0)
        fprintf(stderr, "ferryctl: " STALE_TEXT "\n", stale);
    json_decref(j);
    return CTL_EXIT_OK;
}

/* ---------------------------------------------------------------- HTTP */

static int run(const ctl_opts_t *o, ctl_http_t *http)
{
    ctl_request_t r;
    if (ctl_request_build(o, &r) != 0) {
        fprintf(stderr, "ferryctl: out of memory\n");
        return CTL_EXIT_UNEXPECTED;
    }
    if (o->watch && o->cmd == CTL_CMD_EVAC_STATUS) {
        ctl_request_free(&r);
        return watch(o, http, false);
    }
    ctl_answer_t a;
    char why[256];
    int rc = ctl_http_do(http, &r, &a, why, sizeof why);
    if (rc != 0) {
        rc = no_answer(o, rc, why);
    } else if (a.status < 200 || a.status > 299) {
        rc = answer_error(o, o->cmd, &r, &a);
    } else {
        json_t *j = answer_json(o->cmd, &a);
        if (!j) {
            rc = CTL_EXIT_UNEXPECTED;
        } else {
            if (o->json)
                ctl_print_json(stdout, j, o->watch); /* --wait: JSON lines */
            else
                ctl_print_text(stdout, o->cmd, j);
            fflush(stdout);
            json_decref(j);
            if (o->watch && o->cmd == CTL_CMD_EVAC_START)
                rc = watch(o, http, true);
        }
    }
    ctl_answer_free(&a);
    ctl_request_free(&r);
    return rc;
}

int main(int argc, char **argv)
{
    ctl_opts_t o;
    char err[512];
    if (ctl_args_parse(argc, argv, getenv("FERRYCTL_URL"), getenv("FERRYMQ_ADMIN_TOKEN"), &o, err,
                       sizeof err) != 0) {
        fprintf(stderr, "ferryctl: %s\n", err);
        ctl_opts_free(&o);
        return CTL_EXIT_USAGE;
    }
    if (o.help || o.cmd == CTL_CMD_NONE) {
        ctl_usage(o.help ? stdout : stderr, o.cmd);
        ctl_opts_free(&o);
        return o.help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    if (o.cmd == CTL_CMD_UPGRADE_STATUS) {
        int rc = upgrade_status(&o);
        ctl_opts_free(&o);
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "ferryctl: cannot initialise libcurl\n");
        ctl_opts_free(&o);
        return CTL_EXIT_UNEXPECTED;
    }
    int rc = CTL_EXIT_UNEXPECTED;
    ctl_http_t *http = ctl_http_new(o.url, o.token, o.timeout_s, &interrupted);
    if (http)
        rc = run(&o, http);
    else
        fprintf(stderr, "ferryctl: out of memory\n");
    ctl_http_free(http);
    curl_global_cleanup();
    ctl_opts_free(&o);
    return rc;
}
