/* resume.c -- a training checkpoint's step, generator state and data,
 * checked (resume.h). */
#include "resume.h"

#include <errno.h>
#include <limits.h>
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

int resume_state(const dytcl_meta *md, const char *path, int steps, int *step, uint64_t *rng, char *err, size_t cap)
{
    const char *s = dytcl_meta_get(md, "step"), *r = dytcl_meta_get(md, "data_rng");
    uint64_t st = 0;
    if (!s || !r) return snprintf(err, cap, "%s: not a training checkpoint (no step or data_rng)", path), -1;
    if (parse_u64(s, &st) || st < 1 || st > INT_MAX)
        return snprintf(err, cap, "%s: step \"%s\" is not a step number (1 .. %d)", path, s, INT_MAX), -1;
    if (parse_u64(r, rng))
        return snprintf(err, cap, "%s: data_rng \"%s\" is not a generator state (a 64-bit unsigned number)", path,
                        r), -1;
    if ((int)st >= steps)
        return snprintf(err, cap, "%s is at step %llu: nothing left to train with --steps %d", path,
                        (unsigned long long)st, steps), -1;
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
