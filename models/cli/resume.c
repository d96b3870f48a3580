/* resume.c -- a training checkpoint's step, generator state and data,
 * checked (resume.h). */
#include "resume.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal number of only digits (no sign, no space, no trailer) that fits. */
static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20) return -1;
    errno = 0;
    unsigned long long x = strtoull(s, NULL, 10);
    if (errno) return -1;
    *v = x;
    return 0;
}

static int absent(const char *path, const char *key, char *err, size_t cap)
{
    return snprintf(err, cap, "%s: the checkpoint has no %s: not a training checkpoint of this command", path, key), -1;
}

int resume_get_int(const dytcl_meta *md, const char *path, const char *key, long long lo, long long hi, long long *v,
                   char *err, size_t cap)
{
    const char *s = dytcl_meta_get(md, key);
    uint64_t x;
    if (!s) return absent(path, key, err, cap);
    if (parse_u64(s, &x) || x < (uint64_t)lo || x > (uint64_t)hi)
        return snprintf(err, cap, "%s: the checkpoint's %s \"%.64s\" is not a whole number from %lld to %lld", path,
                        key, s, lo, hi), -1;
    *v = (long long)x;
    return 0;
}

int resume_get_u64(const dytcl_meta *md, const char *path, const char *key, uint64_t *v, char *err, size_t cap)
{
    const char *s = dytcl_meta_get(md, key);
    if (!s) return absent(path, key, err, cap);
    if (parse_u64(s, v))
        return snprintf(err, cap, "%s: the checkpoint's %s \"%.64s\" is not a 64-bit unsigned number", path, key, s), -1;
    return 0;
}

int resume_get_double(const dytcl_meta *md, const char *path, const char *key, double *v, char *err, size_t cap)
{
    const char *s = dytcl_meta_get(md, key);
    char *end;
    if (!s) return absent(path, key, err, cap);
    errno = 0;
    *v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(*v) || strspn(s, "0123456789.eE+-") != strlen(s))
        return snprintf(err, cap, "%s: the checkpoint's %s \"%.64s\" is not a finite number", path, key, s), -1;
    return 0;
}

int resume_position(const dytcl_meta *md, const char *path, const char *step_key, const char *rng_key,
                    long long total, const char *limit, int *step, uint64_t *rng, char *err, size_t cap)
{
    long long st;
    if (resume_get_int(md, path, step_key, 1, INT_MAX, &st, err, cap) ||
        resume_get_u64(md, path, rng_key, rng, err, cap))
        return -1;
    if (st >= total)
        return snprintf(err, cap, "%s is at step %lld: nothing left to train with %s", path, st, limit), -1;
    *step = (int)st;
    return 0;
}

int resume_data_id(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint64_t h = 0xcbf29ce484222325ULL, n = 0;
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < got; i++) h = (h ^ buf[i]) * 0x100000001b3ULL, n++;
    int bad = ferror(f);
    fclose(f);
    if (bad) return -1;
    snprintf(out, cap, "%llu:%016llx", (unsigned long long)n, (unsigned long long)h);
    return 0;
}

int resume_same_data(const dytcl_meta *md, const char *path, const char *data, const char *data_id, int force,
                     char *err, size_t cap)
{
    const char *was = dytcl_meta_get(md, "data_id");
    if (!was || force || !strcmp(was, data_id)) return 0;
    snprintf(err, cap, "--data %s (bytes:fingerprint %s) is not the text %s trained on (%s); resuming on other data "
             "breaks the bit-exact continuation: give --force to do it anyway", data, data_id, path, was);
    return -1;
}
