/* errfmt.h -- the readers' one error helper (models/idx.c, models/cli/data.c,
 * models/cli/tokfile.c): the message goes into the caller's buffer, and the
 * reader returns what this returns.
 *
 *   if (n > MAX) return errfmt(err, cap, "%s: %zu rows, more than %d", path, n, MAX);
 */
#ifndef DYTCL_ERRFMT_H
#define DYTCL_ERRFMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Writes the message into err[cap] (when err is not NULL) and returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int errfmt(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#endif
