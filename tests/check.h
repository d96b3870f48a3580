/* check.h -- the few assertions the tests share. A failed CHECK prints the
 * file, line and message and counts; the test exits non-zero at the end. */
#ifndef DYTCL_CHECK_H
#define DYTCL_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "dytcl.h"
#include "gen.h"

static int check_failures;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            check_failures++;                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Calls must succeed; on failure print the status and the context's message. */
#define CHECK_OK(ctx, call)                                                     \
    do {                                                                        \
        dytcl_status s_ = (call);                                               \
        CHECK(s_ == DYTCL_OK, "%s -> %s: %s", #call, dytcl_status_name(s_),     \
              dytcl_last_error(ctx));                                           \
    } while (0)

static inline int check_done(const char *name)
{
    if (check_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

/* 1 when the test should keep to small shapes (under oclgrind). */
static inline int check_small(void)
{
    const char *v = getenv("DYTCL_TEST_SMALL");
    return v && *v && *v != '0';
}

/* Deterministic uniform floats in [lo, hi) (bench/gen.h). */
static inline double check_rand(unsigned long long *state, double lo, double hi)
{
    return op_rand(state, lo, hi);
}

/* A context on the default device with its own cache directory (or none). */
static inline dytcl_ctx *check_ctx(const char *cache_dir)
{
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.cache_dir = cache_dir, .no_cache = cache_dir == NULL};
    dytcl_status s = dytcl_ctx_create(&opt, &ctx);
    if (s != DYTCL_OK) {
        fprintf(stderr, "cannot create a context: %s: %s\n", dytcl_status_name(s), dytcl_last_error(NULL));
        exit(1);
    }
    return ctx;
}

#endif
