/*
 * pathf.h: file paths under a run directory. One place that formats them and
 * reports a path that did not fit (instead of a silently cut one).
 */
#ifndef FO_PATHF_H
#define FO_PATHF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Formats into buf (len bytes); false when the result was cut to fit. */
__attribute__((format(printf, 3, 4))) static inline bool fo_pathf(char *buf, size_t len,
                                                                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}

#endif /* FO_PATHF_H */
