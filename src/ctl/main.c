/*
 * ferryctl: the admin command line over a node's admin HTTP API. This file
 * turns what happened into the exit codes scripts rely on (README.md) and
 * runs the evacuation watch (`evacuate status --watch`, `evacuate start
 * --wait`); parsing and output live in args.c / output.c, HTTP in http.c.
 */
#include "ctl.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
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
static int watch(const ctl_opts_t *o, ctl_http_t *http, bool after_start)
{
    ctl_request_t r;
    if (ctl_request_evac_status(&r) != 0) {
        fprintf(stderr, "ferryctl: out of memory\n");
        return CTL_EXIT_UNEXPECTED;
    }
    const char *term = getenv("TERM");
    bool redraw = !o->json && isatty(STDOUT_FILENO) && !(term && strcmp(term, "dumb") == 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
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
