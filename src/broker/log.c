/*
 * The broker's logger (see log.h): formats a whole line on the stack and
 * hands it to stdio in one fwrite, so concurrent writers never interleave
 * within a line and a failing sink costs the caller nothing.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* gmtime_r, clock_gettime */
#endif

#include "broker/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* The two process-wide globals that log.h explains; atomics so that a level
 * change from another thread needs no lock. */
static atomic_int log_level = FB_LOG_INFO;
static _Atomic(FILE *) log_sink = NULL; /* NULL: stderr, which is not a constant */

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* Upper-case and padded, so that messages line up in a terminal. */
static const char *const level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

void fb_log_set_level(int level)
{
    if (level < FB_LOG_ERROR)
        level = FB_LOG_ERROR;
    if (level > FB_LOG_DEBUG)
        level = FB_LOG_DEBUG;
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int fb_log_get_level(void)
{
    return atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* ASCII-only comparison: the locale must not change what a config means. */
static int ascii_ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb)
            return 0;
        if (ca == '\0')
            return 1;
    }
}

int fb_log_level_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
        if (ascii_ieq(name, level_names[i]))
            return i;
    return -1;
}

const char *fb_log_level_name(int level)
{
    if (level < FB_LOG_ERROR || level > FB_LOG_DEBUG)
        return "?";
    return level_names[level];
}

void fb_log_set_sink(FILE *sink)
{
    atomic_store_explicit(&log_sink, sink, memory_order_release);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 25 bytes); returns length. */
static size_t format_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL) {
        /* Never fails on Linux; a fixed width keeps columns aligned if it does. */
        return (size_t)snprintf(buf, len, "0000-00-00T00:00:00.000Z");
    }
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
    return n + (m > 0 ? (size_t)m : 0);
}

void fb_log(int level, const char *fmt, ...)
{
    if (level > fb_log_get_level())
        return;
    if (level < FB_LOG_ERROR)
        level = FB_LOG_ERROR;
    if (level > FB_LOG_DEBUG)
        level = FB_LOG_DEBUG;

    char line[FB_LOG_LINE_MAX];
    size_t n = format_time(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, " %s ", level_tags[level]);

    size_t msg_start = n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    /* vsnprintf kept one byte for its NUL, which becomes the newline. A cut
     * message ends in "..." so that it is not mistaken for the whole story. */
    if ((size_t)m > sizeof line - n - 1) {
        n = sizeof line - 1;
        memcpy(line + n - 3, "...", 3);
    } else {
        n += (size_t)m;
    }
    for (size_t i = msg_start; i < n; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch == 0x7f)
            line[i] = '?';
    }
    line[n++] = '\n';

    FILE *sink = atomic_load_explicit(&log_sink, memory_order_acquire);
    if (sink == NULL)
        sink = stderr;
    /* A failed write has nowhere to be reported; the broker goes on. */
    (void)fwrite(line, 1, n, sink);
    fflush(sink);
}
