/*
 * textfile.h: the controller's own files (state.json, status.json,
 * platform.json, nodes/<name>/node.json) read and written whole. Writes go
 * through "<path>.tmp" and rename, so a reader sees the old file or the new
 * one, never half of one.
 */
#ifndef FO_TEXTFILE_H
#define FO_TEXTFILE_H

#include <stddef.h>

/* The file's bytes in a malloc'd buffer (NUL-terminated; *len without the
 * NUL), read only when it has at most max bytes. NULL with errno set:
 * ENOENT and the like from open, EFBIG over max, ENOMEM. */
char *fo_text_read(const char *path, size_t max, size_t *len);

/* Writes text to path through path.tmp and rename; 0, or -1 with errno. */
int fo_text_write(const char *path, const char *text);

#endif /* FO_TEXTFILE_H */
