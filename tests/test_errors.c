/* test_errors.c -- bad input returns a status and a message, never a crash:
 * NULLs, sizes past the device's limits, ranges past a buffer, mismatched
 * tensors, and a kernel with a syntax error (its build log in the message). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "dytcl_experimental.h"
#include "internal.h"

#define EXPECT(ctx, call, status, needle)                                                    \
    do {                                                                                     \
        dytcl_status s_ = (call);                                                            \
        CHECK(s_ == (status), "%s gave %s, expected %s", #call, dytcl_status_name(s_),      \
              dytcl_status_name(status));                                                    \
        CHECK(strstr(dytcl_last_error(ctx), (needle)) != NULL, "%s: message '%s' lacks '%s'", \
              #call, dytcl_last_error(ctx), (needle));                                       \
    } while (0)

int main(void)
{
    /* Status names are distinct and never NULL. */
    for (int i = 0; i < DYTCL_STATUS_COUNT; i++) {
        CHECK(strncmp(dytcl_status_name((dytcl_status)i), "DYTCL_", 6) == 0, "status %d", i);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(dytcl_status_name((dytcl_status)i), dytcl_status_name((dytcl_status)j)) != 0,
                  "statuses %d and %d share a name", i, j);
    }
    CHECK(!strcmp(dytcl_status_name((dytcl_status)999), "DYTCL_STATUS_UNKNOWN"), "unknown status");

    EXPECT(NULL, dytcl_ctx_create(NULL, NULL), DYTCL_ERR_INVALID_ARG, "out is NULL");
    dytcl_ctx *ctx = check_ctx(NULL);
    dytcl_device_info d;
    CHECK_OK(ctx, dytcl_ctx_device(ctx, &d));

    /* NULL handles. */
    EXPECT(NULL, dytcl_finish(NULL), DYTCL_ERR_INVALID_ARG, "ctx is NULL");
    EXPECT(NULL, dytcl_buf_create(NULL, 16, NULL), DYTCL_ERR_INVALID_ARG, "ctx is NULL");
    EXPECT(ctx, dytcl_buf_create(ctx, 16, NULL), DYTCL_ERR_INVALID_ARG, "out is NULL");
    dytcl_buf *b = (dytcl_buf *)ctx;
    EXPECT(ctx, dytcl_buf_create(ctx, 0, &b), DYTCL_ERR_INVALID_ARG, "0 bytes");
    CHECK(b == NULL, "a failed create left a buffer");
    dytcl_buf_free(NULL);
    dytcl_ctx_free(NULL);

    /* Larger than one allocation may be. */
    EXPECT(ctx, dytcl_buf_create(ctx, (size_t)d.max_alloc + 1, &b), DYTCL_ERR_DEVICE_MEMORY,
           "CL_DEVICE_MAX_MEM_ALLOC_SIZE");

    /* Ranges past the end of a buffer. */
    float host[8] = {0};
    CHECK_OK(ctx, dytcl_buf_create(ctx, sizeof host, &b));
    EXPECT(ctx, dytcl_buf_write(ctx, b, 4, host, sizeof host), DYTCL_ERR_INVALID_ARG, "past the end");
    EXPECT(ctx, dytcl_buf_read(ctx, b, 33, host, 0), DYTCL_ERR_INVALID_ARG, "past the end");
    EXPECT(ctx, dytcl_buf_read(ctx, b, (size_t)-1, host, 2), DYTCL_ERR_INVALID_ARG, "past the end");
    EXPECT(ctx, dytcl_buf_write(ctx, b, 0, NULL, 4), DYTCL_ERR_INVALID_ARG, "host pointer is NULL");
    EXPECT(ctx, dytcl_buf_read(ctx, NULL, 0, host, 4), DYTCL_ERR_INVALID_ARG, "buf is NULL");

    /* Tensors: past the end, non-positive shapes, mismatched counts, NULL buffers. */
    EXPECT(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 1, 8), 0), DYTCL_ERR_INVALID_ARG, "past the end");
    EXPECT(ctx, dytcl_fill(ctx, dytcl_tensor_2d(b, 0, 0, 3), 0), DYTCL_ERR_INVALID_ARG, "not positive");
    EXPECT(ctx, dytcl_fill(ctx, dytcl_tensor_2d(b, 0, -2, 3), 0), DYTCL_ERR_INVALID_ARG, "not positive");
    EXPECT(ctx, dytcl_fill(ctx, dytcl_tensor_1d(NULL, 0, 3), 0), DYTCL_ERR_INVALID_ARG, "buf is NULL");
    dytcl_tensor bad = dytcl_tensor_1d(b, 0, 3);
    bad.ndim = 7;
    EXPECT(ctx, dytcl_fill(ctx, bad, 0), DYTCL_ERR_INVALID_ARG, "ndim 7");
    /* Storage types: an unknown one, a half-width view past the end (counted
     * in 2-byte elements), and one an f32-only op refuses, named. */
    CHECK(dytcl_dtype_size(DYTCL_BF16) == 2 && dytcl_dtype_size(DYTCL_F32) == 4 &&
          dytcl_dtype_size((dytcl_dtype)9) == 0, "dtype sizes");
    CHECK(!strcmp(dytcl_dtype_name(DYTCL_F16), "f16") && !strcmp(dytcl_dtype_name((dytcl_dtype)9), "unknown"),
          "dtype names");
    EXPECT(ctx, dytcl_fill(ctx, dytcl_tensor_as(dytcl_tensor_1d(b, 0, 3), (dytcl_dtype)9), 0),
           DYTCL_ERR_INVALID_ARG, "dtype 9 is not a dytcl_dtype");
    EXPECT(ctx, dytcl_fill(ctx, dytcl_tensor_as(dytcl_tensor_1d(b, 1, 16), DYTCL_BF16), 0),
           DYTCL_ERR_INVALID_ARG, "past the end of its buffer (16 bf16 elements)");
    {
        dytcl_tensor n = dytcl_tensor_1d(b, 0, 1), sc = dytcl_tensor_1d(b, 1, 1);
        EXPECT(ctx, dytcl_grad_norm(ctx, n, sc, dytcl_tensor_as(dytcl_tensor_1d(b, 4, 8), DYTCL_F16), 1.0f),
               DYTCL_ERR_INVALID_ARG, "grads is f16; this op takes f32");
    }
    EXPECT(ctx, dytcl_copy(ctx, dytcl_tensor_1d(b, 0, 3), dytcl_tensor_1d(b, 4, 4)), DYTCL_ERR_INVALID_ARG,
           "dst has 3 elements, src 4");
    EXPECT(NULL, dytcl_copy(NULL, dytcl_tensor_1d(b, 0, 3), dytcl_tensor_1d(b, 4, 3)), DYTCL_ERR_INVALID_ARG,
           "ctx is NULL");

    /* Sizes that overflow: a batched GEMM whose strides would run past 2^63
     * is refused, not wrapped into a small "need" (it once returned OK and
     * read outside A), and an overflowing shape is named as such. */
    {
        dytcl_buf *g = NULL;
        CHECK_OK(ctx, dytcl_buf_create(ctx, 64 * sizeof(float), &g));
        dytcl_tensor A = dytcl_tensor_1d(g, 0, 16), B = dytcl_tensor_1d(g, 16, 16), C = dytcl_tensor_1d(g, 32, 32);
        EXPECT(ctx, dytcl_gemm_batched(ctx, 0, 0, 2, 2, 2, 1, A, INT64_C(4611686018427387903), B, 4, 0, C, 4, 3),
               DYTCL_ERR_INVALID_ARG, "span more than 2^63");
        EXPECT(ctx, dytcl_gemm_batched(ctx, 0, 0, 2, 2, 2, 1, A, 4, B, INT64_MAX, 0, C, 4, 2),
               DYTCL_ERR_INVALID_ARG, "B");
        EXPECT(ctx, dytcl_gemm_batched(ctx, 0, 0, 2, 2, 2, 1, A, 4, B, 4, 0, C, INT64_MAX / 2 + 1, 3),
               DYTCL_ERR_INVALID_ARG, "span more than 2^63");
        dytcl_tensor huge = {g, 0, 4, {INT64_C(1) << 32, INT64_C(1) << 32, 4, 4}, DYTCL_F32};
        EXPECT(ctx, dytcl_fill(ctx, huge, 0), DYTCL_ERR_INVALID_ARG, "passes 2^63");

        /* Messages name the tensor compared with. */
        dytcl_tensor q = {g, 0, 4, {1, 1, 4, 2}, DYTCL_F32}, k7 = dytcl_tensor_1d(g, 8, 7), o = dytcl_tensor_1d(g, 24, 8);
        dytcl_tensor lse = dytcl_tensor_1d(g, 40, 4);
        EXPECT(ctx, dytcl_attention_forward(ctx, o, lse, q, k7, q, DYTCL_ATTN_AUTO), DYTCL_ERR_INVALID_ARG,
               "k has 7 elements but q has 8");

        /* Outputs over inputs or each other are refused (they computed garbage). */
        dytcl_tensor k = dytcl_tensor_1d(g, 8, 8), v = dytcl_tensor_1d(g, 16, 8);
        q = dytcl_tensor_1d(g, 0, 8);
        q.ndim = 4, q.shape[0] = 1, q.shape[1] = 1, q.shape[2] = 4, q.shape[3] = 2;
        EXPECT(ctx, dytcl_attention_forward(ctx, q, lse, q, k, v, DYTCL_ATTN_TILED), DYTCL_ERR_INVALID_ARG,
               "o (elements 0..7) overlaps q");
        EXPECT(ctx, dytcl_attention_forward(ctx, o, dytcl_tensor_1d(g, 28, 4), q, k, v, DYTCL_ATTN_AUTO),
               DYTCL_ERR_INVALID_ARG, "o (elements 24..31) overlaps lse");
        dytcl_tensor x = dytcl_tensor_2d(g, 0, 2, 4), alpha = dytcl_tensor_1d(g, 8, 1);
        dytcl_dyt_params dp = {.alpha = alpha, .layout = DYTCL_CHANNELS_LAST};
        EXPECT(ctx, dytcl_dyt_forward(ctx, dytcl_tensor_2d(g, 8, 2, 4), x, &dp), DYTCL_ERR_INVALID_ARG,
               "overlaps alpha");
        EXPECT(ctx, dytcl_dyt_forward(ctx, dytcl_tensor_2d(g, 2, 2, 4), x, &dp), DYTCL_ERR_INVALID_ARG,
               "y (elements 2..9) overlaps x");
        dp.alpha = dytcl_tensor_1d(g, 20, 1);
        CHECK_OK(ctx, dytcl_dyt_forward(ctx, x, x, &dp)); /* in place: supported */
        EXPECT(ctx, dytcl_layernorm_forward(ctx, dytcl_tensor_2d(g, 8, 2, 4), dytcl_tensor_1d(g, 20, 2),
                                            dytcl_tensor_1d(g, 21, 2), x, dytcl_tensor_1d(NULL, 0, 0),
                                            dytcl_tensor_1d(NULL, 0, 0), 1e-5f),
               DYTCL_ERR_INVALID_ARG, "mean (elements 20..21) overlaps rstd");
        dytcl_adamw_config cfg = {1e-3f, 0.9f, 0.999f, 1e-8f, 0};
        EXPECT(ctx, dytcl_adamw(ctx, dytcl_tensor_1d(g, 0, 8), dytcl_tensor_1d(g, 8, 8), dytcl_tensor_1d(g, 4, 8),
                                dytcl_tensor_1d(g, 16, 8), dytcl_tensor_1d(NULL, 0, 0), dytcl_tensor_1d(NULL, 0, 0),
                                &cfg, 1),
               DYTCL_ERR_INVALID_ARG, "params (elements 0..7) overlaps m");
        EXPECT(ctx, dytcl_copy(ctx, dytcl_tensor_1d(g, 2, 8), dytcl_tensor_1d(g, 0, 8)), DYTCL_ERR_INVALID_ARG,
               "overlaps src");
        CHECK_OK(ctx, dytcl_copy(ctx, dytcl_tensor_1d(g, 0, 8), dytcl_tensor_1d(g, 0, 8))); /* onto itself */
        dytcl_buf_free(g);
    }

    /* Checkpoint files: a tensor named like the metadata map is refused when
     * written (it made a file the reader refuses); special files are refused
     * before any read (/dev/zero grew without bound). */
    {
        float one = 1.0f;
        dytcl_st_tensor t = {.name = "__metadata__", .ndim = 1, .shape = {1}, .numel = 1, .data = &one};
        EXPECT(NULL, dytcl_st_save("/tmp/dytcl-test-errors-meta.st", &t, 1, NULL, 0), DYTCL_ERR_INVALID_ARG,
               "__metadata__");
        dytcl_st_file *sf = NULL;
        EXPECT(NULL, dytcl_st_load("/dev/zero", &sf), DYTCL_ERR_IO, "not a regular file");
        CHECK(sf == NULL, "a refused load returned a file");
    }

    /* A buffer of another context. */
    dytcl_ctx *other = check_ctx(NULL);
    EXPECT(other, dytcl_fill(other, dytcl_tensor_1d(b, 0, 3), 0), DYTCL_ERR_INVALID_ARG, "another context");
    dytcl_ctx_free(other);

    /* Profiling misuse. */
    double ns;
    EXPECT(ctx, dytcl_profile_end(ctx, &ns), DYTCL_ERR_INVALID_ARG, "without dytcl_profile_begin");
    EXPECT(ctx, dytcl_profile_end(ctx, NULL), DYTCL_ERR_INVALID_ARG, "ns is NULL");

    /* The context still works after all of that. */
    CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 0, 8), 3.0f));
    CHECK_OK(ctx, dytcl_buf_read(ctx, b, 0, host, sizeof host));
    CHECK(host[7] == 3.0f, "fill after errors: %g", host[7]);

    /* Profiling a fill gives a positive device time. */
    CHECK_OK(ctx, dytcl_profile_begin(ctx));
    CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 0, 8), 1.0f));
    CHECK_OK(ctx, dytcl_profile_end(ctx, &ns));
    CHECK(ns > 0, "profiled time %g ns", ns);
    /* ... and so does a span of many launches (a whole training step), which
     * covers the single one */
    double ns_many = 0;
    CHECK_OK(ctx, dytcl_profile_begin(ctx));
    for (int i = 0; i < 1000; i++) CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 0, 8), (float)i));
    CHECK_OK(ctx, dytcl_profile_end(ctx, &ns_many));
    CHECK(ns_many > ns, "1000 fills profiled as %g ns, one as %g ns", ns_many, ns);
    dytcl_buf_free(b);

    /* A syntax error: DYTCL_ERR_BUILD, and the compiler's log names the problem. */
    cl_program p = NULL;
    const char *src = "__kernel void broken(__global float *x) { x[0] = undeclared_thing + ; }\n";
    EXPECT(ctx, dy_program_build_source(ctx, src, "-cl-std=CL1.2", &p), DYTCL_ERR_BUILD, "build log");
    CHECK(strstr(dytcl_last_error(ctx), "undeclared_thing") != NULL || strstr(dytcl_last_error(ctx), "error") != NULL,
          "the build log is not in the message: %s", dytcl_last_error(ctx));
    CHECK(p == NULL, "a failed build returned a program");
    printf("build error message:\n%s\n", dytcl_last_error(ctx));

    dytcl_ctx_free(ctx);

    /* The profiling clock: the check names its choice; forced to the host
     * clock, spans still grow with the work (1000 fills > 1 fill). */
    ctx = check_ctx(NULL);
    dytcl_timer_info ti;
    CHECK_OK(ctx, dytcl_timer_check(ctx, &ti));
    CHECK(ti.reason[0] != '\0' && ti.host_ns > 0, "timer check: '%s', host %g ns", ti.reason, ti.host_ns);
    printf("timer: %s\n", ti.reason);
    dytcl_ctx_free(ctx);
    setenv("DYTCL_TIMER", "host", 1);
    ctx = check_ctx(NULL);
    CHECK(strcmp(dytcl_timer_name(ctx), "host") == 0, "DYTCL_TIMER=host gave %s", dytcl_timer_name(ctx));
    CHECK_OK(ctx, dytcl_buf_create(ctx, 64, &b));
    double one = 0, many = 0;
    CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 0, 8), 0.0f)); /* compiles: the host clock would see it */
    for (int r = 0; r < 5; r++) { /* the fastest of 5: a first run may pay for more than the kernel */
        double t = 0;
        CHECK_OK(ctx, dytcl_profile_begin(ctx));
        CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 0, 8), 1.0f));
        CHECK_OK(ctx, dytcl_profile_end(ctx, &t));
        if (r == 0 || t < one) one = t;
    }
    CHECK_OK(ctx, dytcl_profile_begin(ctx));
    for (int i = 0; i < 1000; i++) CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 0, 8), (float)i));
    CHECK_OK(ctx, dytcl_profile_end(ctx, &many));
    CHECK(one > 0 && many > one, "host clock: 1000 fills %g ns, one %g ns", many, one);
    dytcl_buf_free(b);
    dytcl_ctx_free(ctx);
    unsetenv("DYTCL_TIMER");

    /* Caps that are not positive integers are refused by name. */
    const char *bad_caps[] = {"abc", "0", "-3", "12x", "99999999999999999999999"};
    for (int i = 0; i < 5; i++) {
        setenv("DYTCL_MAX_WORK_GROUP", bad_caps[i], 1);
        dytcl_ctx *c = NULL;
        dytcl_ctx_options o = {.no_cache = 1};
        CHECK(dytcl_ctx_create(&o, &c) == DYTCL_ERR_INVALID_ARG && c == NULL, "DYTCL_MAX_WORK_GROUP=%s accepted",
              bad_caps[i]);
        CHECK(strstr(dytcl_last_error(NULL), "DYTCL_MAX_WORK_GROUP") != NULL, "message: %s", dytcl_last_error(NULL));
        dytcl_ctx_free(c);
    }
    unsetenv("DYTCL_MAX_WORK_GROUP");
    return check_done("test_errors");
}
