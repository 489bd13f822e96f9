/* Whole files, read and written (textfile.h). */
#include "operator/textfile.h"

#include "operator/pathf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *fo_text_read(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    char *buf = NULL;
    int e = 0;
    if (fstat(fileno(f), &st) != 0)
        e = errno;
    else if (st.st_size < 0 || (unsigned long long)st.st_size > max)
        e = EFBIG;
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        e = ENOMEM;
    if (buf) {
        *len = fread(buf, 1, (size_t)st.st_size, f);
        if (ferror(f)) {
            e = EIO;
            free(buf);
            buf = NULL;
        } else {
            buf[*len] = '\0';
        }
    }
    fclose(f);
    if (e)
        errno = e;
    return buf;
}

int fo_text_write(const char *path, const char *text)
{
    char tmp[4300];
    if (!fo_pathf(tmp, sizeof tmp, "%s.tmp", path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) >= 0 ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    return rc;
}
