/* test_linear.c -- GEMM (every transpose, batched, offsets, beta) and linear
 * layers (forward with and without bias, backward, accumulate) against the
 * float64 references of ref_linear.c, whose backward is itself checked by
 * central finite differences; bad arguments; the GEMM tuning file.
 *
 * Every case puts all its tensors in one buffer at odd offsets with NaN
 * between them, and outputs are NaN before the call: an element left
 * unwritten, or written outside its tensor, fails. Tolerance: a float32 dot
 * product of length K carries a relative error of about sqrt(K) * 2^-24
 * (<= 1e-6 for K <= 3000 with random signs); 1e-5 leaves room for a
 * different summation order, and any real bug (a wrong element, a missed
 * tail) is orders of magnitude larger. */
#include <stdint.h>
#include <unistd.h>

#include "dev_util.h"
#include "ref_linear.h"

static unsigned long long rng = 77;
static const double TOL = 1e-5;

/* ------------------------------------------------------------ one buffer, many tensors */

enum { MAX_REGIONS = 8 };
typedef struct {
    size_t n, end;
    double *h;                 /* what the buffer must hold: inputs, expected outputs, NaN gaps */
    dytcl_buf *buf;
    size_t off[MAX_REGIONS], len[MAX_REGIONS];
    int nout;                  /* outputs to check with a tolerance */
} arena;

static void arena_init(arena *a, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->n = cap;
    a->h = malloc(cap * sizeof(double));
    for (size_t i = 0; i < cap; i++) a->h[i] = NAN;
}

/* A tensor of len elements 3 (gap) after the previous one: random (rounded
 * to float) when random, else NaN. Returns its offset. */
static size_t arena_put(arena *a, size_t len, int random)
{
    size_t off = a->end + 3;
    a->end = off + len;
    if (a->end + 3 > a->n) {
        fprintf(stderr, "arena too small\n");
        exit(1);
    }
    if (random) rand_fill(a->h + off, len, &rng, -1, 1), round_float(a->h + off, len);
    return off;
}

static void arena_upload(arena *a, dytcl_ctx *ctx)
{
    a->buf = dev_from(ctx, a->h, a->n);
}

/* The call must leave `want` at off (to TOL). */
static void arena_expect(arena *a, size_t off, const double *want, size_t len)
{
    memcpy(a->h + off, want, len * sizeof(double));
    a->off[a->nout] = off, a->len[a->nout] = len;
    a->nout++;
}

/* Checks the expected outputs and that nothing else changed. */
static void arena_verify(arena *a, dytcl_ctx *ctx, const char *what)
{
    double *got = malloc(a->n * sizeof(double));
    dev_to(ctx, a->buf, got, a->n);
    size_t changed = 0, first = 0;
    for (size_t i = 0; i < a->n; i++) {
        int out = 0;
        for (int r = 0; r < a->nout; r++) out |= i >= a->off[r] && i < a->off[r] + a->len[r];
        if (!out && !(got[i] == a->h[i] || (isnan(got[i]) && isnan(a->h[i]))) && !changed++) first = i;
    }
    CHECK(changed == 0, "%s: %zu elements outside the outputs changed (first: %zu, %g)", what, changed, first,
          changed ? got[first] : 0.0);
    for (int r = 0; r < a->nout; r++) {
        double e = rel_err(got + a->off[r], a->h + a->off[r], a->len[r]);
        CHECK(e <= TOL, "%s: output %d: relative error %.3g > %.0e", what, r, e, TOL);
        memcpy(a->h + a->off[r], got + a->off[r], a->len[r] * sizeof(double)); /* what the device holds now */
    }
    a->nout = 0;
    free(got);
}

static void arena_free(arena *a)
{
    dytcl_buf_free(a->buf);
    free(a->h);
}

static dytcl_tensor view(const arena *a, size_t off, int64_t rows, int64_t cols)
{
    return dytcl_tensor_2d(a->buf, off, rows, cols);
}

/* ------------------------------------------------------------ GEMM */

/* batch matrices stride = size + 2 apart (the gaps stay NaN). */
static void run_gemm(dytcl_ctx *ctx, int ta, int tb, int M, int N, int K, int batch, double beta)
{
    const size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    const size_t sa = batch > 1 ? na + 2 : na, sb = batch > 1 ? nb + 2 : nb, sc = batch > 1 ? nc + 2 : nc;
    const size_t ta_len = sa * (batch - 1) + na, tb_len = sb * (batch - 1) + nb, tc_len = sc * (batch - 1) + nc;
    arena a;
    arena_init(&a, ta_len + tb_len + tc_len + 16);
    size_t oa = arena_put(&a, ta_len, 0), ob = arena_put(&a, tb_len, 0), oc = arena_put(&a, tc_len, 0);
    for (int i = 0; i < batch; i++) {
        rand_fill(a.h + oa + i * sa, na, &rng, -1, 1), round_float(a.h + oa + i * sa, na);
        rand_fill(a.h + ob + i * sb, nb, &rng, -1, 1), round_float(a.h + ob + i * sb, nb);
        if (beta != 0) rand_fill(a.h + oc + i * sc, nc, &rng, -1, 1), round_float(a.h + oc + i * sc, nc);
    }
    arena_upload(&a, ctx);
    double *want = malloc(tc_len * sizeof(double));
    memcpy(want, a.h + oc, tc_len * sizeof(double));
    for (int i = 0; i < batch; i++) ref_gemm(ta, tb, M, N, K, 0.5, a.h + oa + i * sa, a.h + ob + i * sb, beta, want + i * sc);
    dytcl_tensor A = dytcl_tensor_1d(a.buf, oa, (int64_t)ta_len), B = dytcl_tensor_1d(a.buf, ob, (int64_t)tb_len);
    dytcl_tensor C = dytcl_tensor_1d(a.buf, oc, (int64_t)tc_len);
    if (batch == 1) CHECK_OK(ctx, dytcl_gemm(ctx, ta, tb, M, N, K, 0.5f, A, B, (float)beta, C));
    else CHECK_OK(ctx, dytcl_gemm_batched(ctx, ta, tb, M, N, K, 0.5f, A, sa, B, sb, (float)beta, C, sc, batch));
    arena_expect(&a, oc, want, tc_len);
    char what[128];
    snprintf(what, sizeof what, "gemm %c%c M=%d N=%d K=%d batch %d beta %g", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K,
             batch, beta);
    arena_verify(&a, ctx, what);
    free(want);
    arena_free(&a);
}

/* ------------------------------------------------------------ linear layers */

/* The float64 reference's backward against its own finite differences. */
static void check_reference_fd(int rows, int in, int out)
{
    size_t nx = (size_t)rows * in, nw = (size_t)out * in, ny = (size_t)rows * out;
    double *v = malloc(sizeof(double) * (3 * (nx + nw + out) + ny)), *x = v, *W = x + nx, *b = W + nw;
    double *dy = b + out, *dx = dy + ny, *dW = dx + nx, *db = dW + nw, *fx = db + out, *fW = fx + nx, *fb = fW + nw;
    rand_fill(v, nx + nw + out + ny, &rng, -1, 1);
    ref_linear_backward(rows, in, out, x, W, dy, dx, dW, db);
    ref_linear_fd(rows, in, out, x, W, b, dy, 1e-4, fx, fW, fb);
    double e = fmax(fmax(rel_err(dx, fx, nx), rel_err(dW, fW, nw)), rel_err(db, fb, (size_t)out));
    CHECK(e < 1e-9, "reference backward %dx%d->%d vs finite differences: %.3g", rows, in, out, e);
    free(v);
}

/* Forward (with or without bias) and two backward passes (the second
 * accumulating), all tensors in one buffer; x as [2, rows/2, in] when rows
 * is even. With fd, the device's gradients are also compared with finite
 * differences of the float64 forward. */
static void run_linear(dytcl_ctx *ctx, int rows, int in, int out, int bias, int fd)
{
    const size_t nx = (size_t)rows * in, nw = (size_t)out * in, ny = (size_t)rows * out;
    arena a;
    arena_init(&a, 2 * (nx + nw + ny) + ny + out * 2 + 32);
    size_t ox = arena_put(&a, nx, 1), oW = arena_put(&a, nw, 1), ob = arena_put(&a, (size_t)out, 1);
    size_t oy = arena_put(&a, ny, 0), ody = arena_put(&a, ny, 1), odx = arena_put(&a, nx, 0);
    size_t odW = arena_put(&a, nw, 0), odb = arena_put(&a, (size_t)out, 0);
    arena_upload(&a, ctx);
    double *x = a.h + ox, *W = a.h + oW, *b = a.h + ob, *dy = a.h + ody;
    double *y = malloc(sizeof(double) * (ny + nx + nw + out)), *dx = y + ny, *dW = dx + nx, *db = dW + nw;
    char what[128];

    dytcl_tensor tx = view(&a, ox, rows, in), tW = view(&a, oW, out, in), tdy = view(&a, ody, rows, out);
    if (rows % 2 == 0) tx = (dytcl_tensor){a.buf, ox, 3, {2, rows / 2, in}, DYTCL_F32};
    dytcl_tensor tb = bias ? dytcl_tensor_1d(a.buf, ob, out) : (dytcl_tensor){0};
    ref_linear_forward(rows, in, out, x, W, bias ? b : NULL, y);
    CHECK_OK(ctx, dytcl_linear_forward(ctx, view(&a, oy, rows, out), tx, tW, tb));
    arena_expect(&a, oy, y, ny);
    snprintf(what, sizeof what, "linear forward %d x %d -> %d, bias %d", rows, in, out, bias);
    arena_verify(&a, ctx, what);

    ref_linear_backward(rows, in, out, x, W, dy, dx, dW, db);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) { /* dx is overwritten, never accumulated: poison it again */
            CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(a.buf, odx, (int64_t)nx), NAN));
            for (size_t i = 0; i < nw; i++) dW[i] *= 2;
            for (int o = 0; o < out; o++) db[o] *= 2;
        }
        CHECK_OK(ctx, dytcl_linear_backward(ctx, view(&a, odx, rows, in), view(&a, odW, out, in),
                                            dytcl_tensor_1d(a.buf, odb, out), pass, tdy, tx, tW));
        arena_expect(&a, odx, dx, nx), arena_expect(&a, odW, dW, nw), arena_expect(&a, odb, db, (size_t)out);
        snprintf(what, sizeof what, "linear backward %d x %d -> %d, accumulate %d", rows, in, out, pass);
        arena_verify(&a, ctx, what);
    }
    if (fd) { /* the device's first-pass gradients against finite differences */
        double *f = malloc(sizeof(double) * (nx + nw + out)), *fx = f, *fW = f + nx, *fb = fW + nw;
        double *got = malloc(sizeof(double) * a.n);
        CHECK_OK(ctx, dytcl_linear_backward(ctx, view(&a, odx, rows, in), view(&a, odW, out, in),
                                            dytcl_tensor_1d(a.buf, odb, out), 0, tdy, tx, tW));
        ref_linear_fd(rows, in, out, x, W, b, dy, 1e-4, fx, fW, fb);
        dev_to(ctx, a.buf, got, a.n);
        double e = fmax(fmax(rel_err(got + odx, fx, nx), rel_err(got + odW, fW, nw)), rel_err(got + odb, fb, out));
        CHECK(e <= TOL, "linear %d x %d -> %d: device gradients vs finite differences: %.3g", rows, in, out, e);
        free(f), free(got);
    }
    free(y);
    arena_free(&a);
}

/* dx and db absent; the bias gradient's blocked path gives the same bits twice. */
static void run_linear_partial(dytcl_ctx *ctx)
{
    const int rows = 300, in = 7, out = 45;
    arena a;
    arena_init(&a, (size_t)rows * (in + out) + (size_t)out * (2 * in + 1) + 32);
    size_t ox = arena_put(&a, (size_t)rows * in, 1), oW = arena_put(&a, (size_t)out * in, 1);
    size_t ody = arena_put(&a, (size_t)rows * out, 1), odW = arena_put(&a, (size_t)out * in, 0);
    size_t odb = arena_put(&a, (size_t)out, 0);
    arena_upload(&a, ctx);
    double *dx = malloc(sizeof(double) * ((size_t)rows * in + (size_t)out * in + out)), *dW = dx + rows * in;
    double *db = dW + out * in;
    ref_linear_backward(rows, in, out, a.h + ox, a.h + oW, a.h + ody, dx, dW, db);
    dytcl_tensor none = {0}, tdW = view(&a, odW, out, in), tdb = dytcl_tensor_1d(a.buf, odb, out);
    CHECK_OK(ctx, dytcl_linear_backward(ctx, none, tdW, none, 0, view(&a, ody, rows, out), view(&a, ox, rows, in),
                                        view(&a, oW, out, in)));
    arena_expect(&a, odW, dW, (size_t)out * in);
    arena_verify(&a, ctx, "backward without dx and db");
    float first[45], second[45];
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(ctx, dytcl_linear_backward(ctx, none, tdW, tdb, 0, view(&a, ody, rows, out), view(&a, ox, rows, in),
                                            view(&a, oW, out, in)));
        CHECK_OK(ctx, dytcl_buf_read(ctx, a.buf, odb * sizeof(float), pass ? second : first, sizeof first));
    }
    CHECK(!memcmp(first, second, sizeof first), "db differs between two identical runs");
    arena_expect(&a, odW, dW, (size_t)out * in), arena_expect(&a, odb, db, (size_t)out);
    arena_verify(&a, ctx, "backward without dx, 300 rows (blocked db)");
    free(dx);
    arena_free(&a);
}

/* ------------------------------------------------------------ bad arguments */

static void expect_invalid(dytcl_ctx *ctx, dytcl_status s, const char *what, const char *msg)
{
    CHECK(s == DYTCL_ERR_INVALID_ARG, "%s: got %s", what, dytcl_status_name(s));
    if (msg) CHECK(strstr(dytcl_last_error(ctx), msg) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
                   dytcl_last_error(ctx), msg);
}

static void run_bad_args(dytcl_ctx *ctx)
{
    dytcl_buf *b = dev_from(ctx, NULL, 256);
    dytcl_tensor t = dytcl_tensor_1d(b, 0, 64), u = dytcl_tensor_1d(b, 64, 64), v = dytcl_tensor_1d(b, 128, 64);
    dytcl_tensor none = {0};
    expect_invalid(ctx, dytcl_gemm(ctx, 0, 0, 0, 4, 4, 1, t, u, 0, v), "M = 0", "M=0 N=4 K=4");
    expect_invalid(ctx, dytcl_gemm(ctx, 0, 0, 9, 8, 2, 1, t, u, 0, v), "C too small", "C ([M, N]) is 9 x 8 = 72");
    expect_invalid(ctx, dytcl_gemm(ctx, 1, 0, 2, 2, 40, 1, t, u, 0, v), "A^T too small", "A (transposed: [K, M]) is 40 x 2");
    expect_invalid(ctx, dytcl_gemm(ctx, 0, 0, 2, 2, 2, NAN, t, u, 0, v), "NaN alpha", "finite");
    expect_invalid(ctx, dytcl_gemm(ctx, 0, 0, 2, 2, 2, 1, t, u, INFINITY, v), "inf beta", "finite");
    expect_invalid(ctx, dytcl_gemm(ctx, 0, 0, 4, 4, 4, 1, u, dytcl_tensor_1d(b, 8, 16), 0, dytcl_tensor_1d(b, 10, 16)),
                   "C overlaps B", "overlaps B");
    expect_invalid(ctx, dytcl_gemm(ctx, 0, 0, 2, 2, 2, 1, none, u, 0, v), "A absent", NULL);
    expect_invalid(ctx, dytcl_gemm_batched(ctx, 0, 0, 2, 2, 2, 1, t, 4, u, 4, 0, v, 3, 2), "C stride < M*N", "strides");
    expect_invalid(ctx, dytcl_gemm_batched(ctx, 0, 0, 2, 2, 2, 1, t, 4, u, 4, 0, v, 4, 0), "batch 0", "batch=0");
    expect_invalid(ctx, dytcl_gemm_batched(ctx, 0, 0, 4, 4, 4, 1, t, 50, u, 4, 0, v, 16, 2), "A's batch too long",
                   "must hold 2 matrices");
    CHECK(dytcl_gemm(NULL, 0, 0, 2, 2, 2, 1, t, u, 0, v) == DYTCL_ERR_INVALID_ARG, "NULL ctx");

    dytcl_tensor x = dytcl_tensor_2d(b, 0, 2, 3), W = dytcl_tensor_2d(b, 64, 4, 3), y = dytcl_tensor_2d(b, 128, 2, 4);
    expect_invalid(ctx, dytcl_linear_forward(ctx, y, dytcl_tensor_2d(b, 0, 2, 5), W, none), "x [2,5] with W [4,3]",
                   "x's last dimension is 5 but W is [4, 3]");
    expect_invalid(ctx, dytcl_linear_forward(ctx, dytcl_tensor_2d(b, 128, 2, 5), x, W, none), "y [2,5]",
                   "y has 10 elements but must be [2, 4]");
    expect_invalid(ctx, dytcl_linear_forward(ctx, y, x, W, dytcl_tensor_1d(b, 200, 3)), "b [3]",
                   "b has 3 elements but must be [1, 4]");
    expect_invalid(ctx, dytcl_linear_forward(ctx, y, x, dytcl_tensor_1d(b, 64, 12), none), "W 1-D", "W must be [out, in]");
    expect_invalid(ctx, dytcl_linear_forward(ctx, y, x, W, dytcl_tensor_1d(b, 130, 4)), "b inside y", "overlaps");
    expect_invalid(ctx, dytcl_linear_backward(ctx, none, none, none, 0, y, x, W), "dW absent", "dW");
    expect_invalid(ctx, dytcl_linear_backward(ctx, dytcl_tensor_2d(b, 2, 2, 3), dytcl_tensor_2d(b, 200, 4, 3), none, 0,
                                              y, x, W),
                   "dx over x", "dx (elements 2..7) overlaps x (0..5)");
    expect_invalid(ctx, dytcl_linear_backward(ctx, none, dytcl_tensor_2d(b, 0, 4, 3), none, 0, y, x, W), "dW over x",
                   "dW (elements 0..11) overlaps x");
    expect_invalid(ctx, dytcl_linear_backward(ctx, none, dytcl_tensor_2d(b, 200, 4, 3), none, 0,
                                              dytcl_tensor_2d(b, 128, 2, 5), x, W), "dy [2,5]", "dy has 10 elements");
    dytcl_buf_free(b);
}

/* ------------------------------------------------------------ parameters and the tuning file */

static dytcl_ctx *path_ctx(const char *cache_dir, dytcl_gemm_path_t path);

static void run_tuning_file(void)
{
    char dir[] = "/tmp/dytcl-test-linear-XXXXXX", desc[2048];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    dytcl_ctx *ctx = path_ctx(dir, DYTCL_GEMM_CLBLAST);
    dytcl_gemm_tune_options o = {.budget_seconds = 0.001, .M = 192, .N = 160, .K = 136, .reps = 1};
    dytcl_gemm_tune_result r;
    CHECK_OK(ctx, dytcl_gemm_tune(ctx, &o, &r));
    if (!r.path[0] && r.best_gflops < r.defaults_gflops) {
        /* CLBlast's own parameters won (measured where nothing overrode
         * them yet, as on devices without built-in ones): no file is saved */
        printf("tuning: CLBlast's own won (%.2f vs %.2f GFLOP/s); no tuning file to check\n", r.defaults_gflops,
               r.best_gflops);
        CHECK(r.tried >= 2, "tune: tried %d", r.tried);
        dytcl_ctx_free(ctx);
        rmdir(dir);
        return;
    }
    CHECK(r.tried >= 1 && r.best_gflops > 0 && r.path[0] && r.best[0], "tune: tried %d, %.1f GFLOP/s, path '%s'",
          r.tried, r.best_gflops, r.path);
    char path[1400], line[4096] = "";
    snprintf(path, sizeof path, "%s", r.path[0] ? r.path : "/nonexistent");
    o.M = -1;
    CHECK(dytcl_gemm_tune(ctx, &o, &r) == DYTCL_ERR_INVALID_ARG, "tune with M = -1");
    dytcl_ctx_free(ctx);

    /* A new context reads the file and still computes correctly. */
    ctx = path_ctx(dir, DYTCL_GEMM_CLBLAST);
    CHECK_OK(ctx, dytcl_gemm_config(ctx, desc, sizeof desc));
    CHECK(!strncmp(desc, "tuned (", 7), "with a tuning file: %s", desc);
    run_gemm(ctx, 0, 1, 33, 130, 129, 1, 0.0);
    dytcl_ctx_free(ctx);

    /* A file for another driver, or with impossible parameters, is ignored. */
    const char *bad[2] = {"dytcl-gemm-params 1\nplatform elsewhere\n", NULL};
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(line, 1, sizeof line - 1, f) : 0;
    if (f) fclose(f);
    line[got] = '\0';
    char *p = strstr(line, "MWG=");
    if (p) p[4] = '7'; /* MWG=74: not a multiple of MDIMC*VWM */
    bad[1] = line;
    for (int i = 0; i < 2; i++) {
        f = fopen(path, "w");
        if (f) fputs(bad[i], f), fclose(f);
        ctx = path_ctx(dir, DYTCL_GEMM_CLBLAST);
        CHECK_OK(ctx, dytcl_gemm_config(ctx, desc, sizeof desc));
        CHECK(strncmp(desc, "tuned", 5) != 0, "bad tuning file %d was used: %s", i, desc);
        dytcl_ctx_free(ctx);
    }
    remove(path);
    rmdir(dir);
}

/* A context whose GEMMs take `path`; NULL when this build or device has no
 * such path. */
static dytcl_ctx *path_ctx(const char *cache_dir, dytcl_gemm_path_t path)
{
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.cache_dir = cache_dir, .no_cache = cache_dir == NULL, .gemm_path = path};
    if (dytcl_ctx_create(&opt, &ctx) != DYTCL_OK) {
        fprintf(stderr, "cannot create a context: %s\n", dytcl_last_error(NULL));
        exit(1);
    }
    dytcl_gemm_path_t got;
    dytcl_status s = dytcl_gemm_path(ctx, &got);
    if (s == DYTCL_ERR_UNSUPPORTED) {
        printf("no %s GEMM path here: %s\n", dytcl_gemm_path_name(path), dytcl_last_error(ctx));
        dytcl_ctx_free(ctx);
        return NULL;
    }
    CHECK(s == DYTCL_OK && got == path, "asked for the %s path, got %s", dytcl_gemm_path_name(path),
          dytcl_gemm_path_name(got));
    return ctx;
}

/* The path's choice: the option wins over DYTCL_GEMM; a bad value is refused. */
static void run_path_choice(void)
{
    dytcl_ctx *ctx = NULL;
    dytcl_gemm_path_t got;
    const char *was = getenv("DYTCL_GEMM");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", was ? was : "");
    setenv("DYTCL_GEMM", "bogus", 1);
    CHECK(dytcl_ctx_create(NULL, &ctx) == DYTCL_OK, "context: %s", dytcl_last_error(NULL));
    expect_invalid(ctx, dytcl_gemm_path(ctx, &got), "DYTCL_GEMM=bogus", "DYTCL_GEMM=\"bogus\"");
    dytcl_ctx_free(ctx);
    dytcl_ctx_options opt = {.gemm_path = DYTCL_GEMM_CLBLAST};
    CHECK(dytcl_ctx_create(&opt, &ctx) == DYTCL_OK, "context: %s", dytcl_last_error(NULL));
    CHECK_OK(ctx, dytcl_gemm_path(ctx, &got));
    CHECK(got == DYTCL_GEMM_CLBLAST, "the option overrides DYTCL_GEMM: got %s", dytcl_gemm_path_name(got));
    dytcl_ctx_free(ctx);
    opt.gemm_path = 7;
    CHECK(dytcl_ctx_create(&opt, &ctx) == DYTCL_OK, "context: %s", dytcl_last_error(NULL));
    expect_invalid(ctx, dytcl_gemm_path(ctx, &got), "gemm_path 7", "gemm_path option 7");
    dytcl_ctx_free(ctx);
    if (was) setenv("DYTCL_GEMM", keep, 1);
    else unsetenv("DYTCL_GEMM");
}

/* Every GEMM and linear case on one path. */
static void run_path(dytcl_gemm_path_t path, int small)
{
    dytcl_ctx *ctx = path_ctx(getenv("DYTCL_TEST_CACHE"), path);
    if (!ctx) return;
    printf("GEMM path: %s\n", dytcl_gemm_path_name(path));
    CHECK_OK(ctx, dytcl_gemm_warmup(ctx));
    char desc[2048];
    CHECK_OK(ctx, dytcl_gemm_config(ctx, desc, sizeof desc));
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    if (path == DYTCL_GEMM_CLBLAST && dev.is_cpu && strstr(dev.platform, "Portable Computing Language"))
        CHECK(!strncmp(desc, "built-in", 8), "PoCL CPU GEMM parameters: %s", desc);
    if (path == DYTCL_GEMM_HOST) CHECK(!strncmp(desc, "host BLAS", 9), "host GEMM description: %s", desc);

    /* rows 1, 3, 17, 64 against in/out 1, 5, 33, 128, 257 */
    const int gemm_shapes[][3] = {{1, 1, 1}, {3, 5, 33}, {17, 33, 5}, {64, 128, 257}, {17, 257, 128}, {64, 1, 129},
                                  {1, 130, 67}, {1, 9, 8}, {1, 33, 300}};
    const int ng = small ? 3 : 9;
    for (int i = 0; i < ng; i++)
        for (int t = 0; t < 4; t++)
            run_gemm(ctx, t & 1, t >> 1, gemm_shapes[i][0], gemm_shapes[i][1], gemm_shapes[i][2], 1, i % 2 ? 0.0 : 0.75);
    run_gemm(ctx, 0, 1, 7, 9, 16, 5, 0.0); /* attention-like: Q K^T per head */
    run_gemm(ctx, 0, 0, 7, 16, 7, 3, 1.0); /* P V per head, accumulating */
    run_gemm(ctx, 1, 0, 33, 5, 17, 2, 0.0);
    run_gemm(ctx, 1, 1, 130, 129, 131, 2, 0.5); /* big enough for the tiled kernel */
    for (int t = 0; t < 4; t++) run_gemm(ctx, t & 1, t >> 1, 1, 37, 19, 3, t & 1 ? 0.0 : 0.5); /* one row, batched */

    const int lin[][3] = {{1, 1, 1}, {3, 5, 33}, {17, 33, 5}, {64, 128, 257}, {17, 257, 128}, {64, 1, 5}};
    const int nl = small ? 3 : 6;
    for (int i = 0; i < nl; i++)
        for (int bias = 0; bias < 2; bias++) run_linear(ctx, lin[i][0], lin[i][1], lin[i][2], bias, i < 3);
    run_linear_partial(ctx);
    run_bad_args(ctx);
    dytcl_ctx_free(ctx);
}

int main(void)
{
    const int small = check_small();
    for (int i = 0; i < 3; i++) check_reference_fd(1 + 8 * i, 1 + 4 * i, 2 + 3 * i);
    run_path_choice();
    /* each path with the one-row matrix-vector kernel where the device takes
     * it, then without it (DYTCL_GEMV=0) */
    for (int gemv = 1; gemv >= 0; gemv--) {
        if (!gemv) setenv("DYTCL_GEMV", "0", 1);
        printf("one-row kernel: %s\n", gemv ? "where the device takes it" : "off");
        run_path(DYTCL_GEMM_CLBLAST, small);
        run_path(DYTCL_GEMM_HOST, small);
        if (small) break;
    }
    unsetenv("DYTCL_GEMV");
    if (!small) run_tuning_file();
    return check_done("test_linear");
}
