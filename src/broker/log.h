/*
 * The broker's logger: one line per call, to stderr by default, as
 *
 *     2024-05-01T12:34:56.789Z WARN  message text
 *
 * (ISO-8601 UTC time with milliseconds, the level padded to five columns,
 * then the message). Control characters in the message are written as '?'
 * so that a value taken from a client or a config file can never split or
 * forge a log line.
 *
 * Ownership: nothing is allocated. fb_log() formats into a buffer on its
 * own stack; a message longer than FB_LOG_LINE_MAX bytes is cut and ends in
 * "...". The sink given to fb_log_set_sink() is borrowed: the caller keeps it
 * open for as long as it is the sink, and closes it after setting another.
 *
 * State: the level and the sink are the only mutable globals the broker
 * has. That is deliberate: logging is process-wide (every module, every
 * thread writes to the same stream at the same threshold), and threading a
 * logger context through every call, including code that has no other
 * context, would buy nothing. Both are atomics, so a level change from the
 * admin API is seen by every thread without a lock; they are changed only
 * through the setters below. Each line is written with a single fwrite,
 * which stdio locks, so lines from different threads do not interleave.
 */
#ifndef FB_LOG_H
#define FB_LOG_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels, most severe first: a message is written when its level is at or
 * below the current one. Values are fixed: the config stores them as int. */
enum {
    FB_LOG_ERROR = 0,
    FB_LOG_WARN = 1,
    FB_LOG_INFO = 2,
    FB_LOG_DEBUG = 3,
};

/* Longest line fb_log() writes, timestamp and newline included. */
#define FB_LOG_LINE_MAX 2048

/* Sets the threshold; values outside ERROR..DEBUG are clamped. The level
 * starts at FB_LOG_INFO. */
void fb_log_set_level(int level);
int fb_log_get_level(void);

/* "error", "warn", "info" or "debug" (ASCII case ignored) to its level;
 * -1 for anything else, NULL included. */
int fb_log_level_parse(const char *name);

/* The lower-case name of a level ("info"); "?" if out of range. Static. */
const char *fb_log_level_name(int level);

/* Where lines go; NULL means stderr (the start value). Borrowed, see above. */
void fb_log_set_sink(FILE *sink);

/* Writes one line at `level` if the level is enabled. Prefer the macros
 * below: they skip evaluating the arguments when the level is off. */
void fb_log(int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define FB_LOG_ENABLED(level) ((level) <= fb_log_get_level())

/* The arguments are evaluated only when the level is enabled, so a costly
 * argument (a topic dump) costs nothing with debug off. */
#define FB_LOG_AT(level, ...)                                                                      \
    do {                                                                                           \
        if (FB_LOG_ENABLED(level))                                                                 \
            fb_log((level), __VA_ARGS__);                                                          \
    } while (0)

#define FB_ERROR(...) FB_LOG_AT(FB_LOG_ERROR, __VA_ARGS__)
#define FB_WARN(...) FB_LOG_AT(FB_LOG_WARN, __VA_ARGS__)
#define FB_INFO(...) FB_LOG_AT(FB_LOG_INFO, __VA_ARGS__)
#define FB_DEBUG(...) FB_LOG_AT(FB_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* FB_LOG_H */
