/* fuzz_gemm_args.c -- libFuzzer target for the argument checks of
 * dytcl_gemm_batched and dytcl_attention_forward.
 *
 * The input picks shapes, strides, offsets and views (wild 64-bit values
 * among them) over two small real buffers. Whatever a call accepts is
 * checked here, independently and in 128-bit arithmetic, to lie inside the
 * views and buffers it was given; the library itself is compiled with
 * ASan and UBSan, so an overflow in its own size arithmetic is reported too.
 * Accepted calls run (small: at most 256 elements a view). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dytcl.h"

enum { BUF_FLOATS = 256 };

static dytcl_ctx *ctx;
static dytcl_buf *bufs[2];

typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static uint64_t take(input *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = v << 8 | (in->n ? *in->p : 0);
        if (in->n) in->p++, in->n--;
    }
    return v;
}

/* A size: mostly small, sometimes any 64-bit value (negative ones too). */
static int64_t size_of(input *in)
{
    uint8_t kind = (uint8_t)take(in, 1);
    if (kind < 200) return kind % 9;
    if (kind < 230) return (int64_t)take(in, 2) - 64;
    return (int64_t)take(in, 8);
}

/* A view of one of the two buffers at a fuzzed offset and shape. */
static dytcl_tensor view(input *in)
{
    dytcl_tensor t = {bufs[take(in, 1) & 1], (size_t)size_of(in), 1 + (int)(take(in, 1) % 4), {0, 0, 0, 0}, DYTCL_F32};
    for (int d = 0; d < t.ndim; d++) t.shape[d] = size_of(in);
    if ((take(in, 1) & 15) == 0) t.buf = NULL;
    return t;
}

typedef __int128 i128;

/* The numel of a view as the library must see it, or -1 when not valid. */
static i128 numel(dytcl_tensor t)
{
    if (!t.buf || t.ndim < 1 || t.ndim > DYTCL_MAX_DIMS) return -1;
    i128 n = 1;
    for (int d = 0; d < t.ndim; d++) {
        if (t.shape[d] <= 0) return -1;
        n *= t.shape[d];
        if (n > INT32_MAX) return -1;
    }
    if ((i128)t.offset + n > BUF_FLOATS) return -1;
    return n;
}

static void fail(const char *what)
{
    fprintf(stderr, "accepted out of bounds: %s\n", what);
    abort();
}

static void fuzz_gemm(input *in)
{
    int ta = (int)(take(in, 1) & 1), tb = (int)(take(in, 1) & 1);
    int M = (int)size_of(in), N = (int)size_of(in), K = (int)size_of(in), batch = (int)size_of(in);
    int64_t sa = size_of(in), sb = size_of(in), sc = size_of(in);
    dytcl_tensor A = view(in), B = view(in), C = view(in);
    if (dytcl_gemm_batched(ctx, ta, tb, M, N, K, 1.0f, A, sa, B, sb, 0.0f, C, sc, batch) != DYTCL_OK) return;
    if (batch == 1) sa = sb = sc = 0;
    /* Accepted: every matrix lies inside its view, and C apart from A, B. */
    i128 na = (i128)(batch - 1) * sa + (i128)M * K, nb = (i128)(batch - 1) * sb + (i128)K * N;
    i128 nc = (i128)(batch - 1) * sc + (i128)M * N;
    if (M < 1 || N < 1 || K < 1 || batch < 1 || sa < 0 || sb < 0 || sc < 0) fail("gemm: a non-positive size");
    if (numel(A) < na || numel(B) < nb || numel(C) < nc) fail("gemm: a matrix past its view");
    if (C.buf == A.buf && (i128)C.offset < (i128)A.offset + na && (i128)A.offset < (i128)C.offset + nc)
        fail("gemm: C over A");
    if (C.buf == B.buf && (i128)C.offset < (i128)B.offset + nb && (i128)B.offset < (i128)C.offset + nc)
        fail("gemm: C over B");
}

static void fuzz_attention(input *in)
{
    dytcl_tensor o = view(in), lse = view(in), q = view(in), k = view(in), v = view(in);
    q.ndim = 4; /* mostly 4-d, as attention wants */
    if (take(in, 1) & 1) k = q, k.offset = (size_t)size_of(in), v = q, v.offset = (size_t)size_of(in);
    if (dytcl_attention_forward(ctx, o, lse, q, k, v, (dytcl_attn_path)(take(in, 1) % 3)) != DYTCL_OK) return;
    i128 n = numel(q);
    if (n < 0 || numel(k) != n || numel(v) != n || numel(o) != n) fail("attention: q, k, v, o");
    if (numel(lse) != (i128)q.shape[0] * q.shape[1] * q.shape[2]) fail("attention: lse");
    const dytcl_tensor r[3] = {q, k, v};
    for (int i = 0; i < 3; i++)
        if (o.buf == r[i].buf && (i128)o.offset < (i128)r[i].offset + n && (i128)r[i].offset < (i128)o.offset + n)
            fail("attention: o over an input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        dytcl_ctx_options opt = {.no_cache = 0};
        if (dytcl_ctx_create(&opt, &ctx) || dytcl_buf_create(ctx, BUF_FLOATS * sizeof(float), &bufs[0]) ||
            dytcl_buf_create(ctx, BUF_FLOATS * sizeof(float), &bufs[1])) {
            fprintf(stderr, "fuzz_gemm_args: no OpenCL context: %s\n", dytcl_last_error(ctx));
            abort();
        }
        dytcl_fill(ctx, dytcl_tensor_1d(bufs[0], 0, BUF_FLOATS), 0.5f);
        dytcl_fill(ctx, dytcl_tensor_1d(bufs[1], 0, BUF_FLOATS), 0.25f);
    }
    input in = {data, size};
    if (take(&in, 1) & 1)
        fuzz_attention(&in);
    else
        fuzz_gemm(&in);
    return dytcl_finish(ctx) != DYTCL_OK; /* accepted work must also run */
}
