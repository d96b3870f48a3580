/* test_gemm_host.c -- the host GEMM path (host/gemm_host.c) in both its
 * forms: queued as native kernels (products cut into parts on queues of
 * their own: by batch entries, bands of C's rows, bands of its columns) and
 * mapped (DYTCL_GEMM_QUEUED=0), and a linear layer's backward, whose dx and
 * dW run side by side there, against the float64 references of
 * ref_linear.c.
 *
 * A, B and C sit in separate buffers created in every order (the runtime
 * hands a native kernel its buffers in an order of its own), or all in one;
 * each tensor has NaN around it and C is NaN before a beta = 0 call: a
 * part that writes outside its band, leaves an element unwritten or reads
 * another buffer's storage fails. Products queue back to back, each reading
 * the one before (C of one is A of the next), with no wait between them, so
 * a part that ran out of queue order would read a stale operand. Skipped
 * (passing) where the host path does not exist (no OpenBLAS, or a device
 * whose memory is not the host's). Tolerance as in test_linear: 1e-5. */
#include <unistd.h>

#include "dev_util.h"
#include "ref_linear.h"

static unsigned long long rng = 4242;
static const double TOL = 1e-5;
enum { GAP = 5 };

/* One matrix of n floats: in its own buffer or at an offset of a shared one. */
typedef struct {
    dytcl_buf *buf;
    size_t off, n;
} mat;

static size_t span(int rows, int cols, int batch)
{
    return (size_t)rows * cols * batch;
}

/* A host-path context with DYTCL_GEMM_QUEUED set to `queued` ("" unset);
 * NULL (and a note) where the host path is not available. */
static dytcl_ctx *host_ctx(const char *queued)
{
    if (*queued) setenv("DYTCL_GEMM_QUEUED", queued, 1);
    else unsetenv("DYTCL_GEMM_QUEUED");
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.cache_dir = getenv("DYTCL_TEST_CACHE"), .no_cache = 1, .gemm_path = DYTCL_GEMM_HOST};
    if (dytcl_ctx_create(&opt, &ctx) != DYTCL_OK) {
        fprintf(stderr, "cannot create a context: %s\n", dytcl_last_error(NULL));
        exit(1);
    }
    dytcl_gemm_path_t got;
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    if (dytcl_gemm_path(ctx, &got) != DYTCL_OK || !dev.is_cpu) {
        printf("no host GEMM path here (%s)\n", dytcl_last_error(ctx));
        dytcl_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Fills h[0 .. total) with NaN and puts each matrix's values at its place. */
static void place(double *h, const mat *m, const double *v)
{
    for (size_t i = 0; i < m->n; i++) h[m->off + i] = v ? v[i] : NAN;
}

/* C = alpha op(A) op(B) + beta C, `batch` times; the buffers in creation
 * order `order` (a permutation of 0 A, 1 B, 2 C; -1: one buffer for all). */
static void run_case(dytcl_ctx *ctx, const char *form, int ta, int tb, int M, int N, int K, int batch, double alpha,
                     double beta, int order)
{
    const size_t na = span(M, K, batch), nb = span(K, N, batch), nc = span(M, N, batch);
    double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c0 = malloc(nc * sizeof *c0);
    double *want = malloc(nc * sizeof *want), *got = NULL;
    rand_fill(a, na, &rng, -1, 1), round_float(a, na);
    rand_fill(b, nb, &rng, -1, 1), round_float(b, nb);
    rand_fill(c0, nc, &rng, -1, 1), round_float(c0, nc);
    for (int i = 0; i < batch; i++) {
        memcpy(want + (size_t)i * M * N, c0 + (size_t)i * M * N, (size_t)M * N * sizeof *want);
        ref_gemm(ta, tb, M, N, K, alpha, a + (size_t)i * M * K, b + (size_t)i * K * N, beta, want + (size_t)i * M * N);
    }
    mat m[3] = {{NULL, GAP, na}, {NULL, GAP, nb}, {NULL, GAP, nc}};
    const double *vals[3] = {a, b, beta == 0 ? NULL : c0};
    double *host[3] = {NULL, NULL, NULL};
    if (order < 0) { /* one buffer: A, B, C with gaps between */
        m[1].off = m[0].off + na + GAP, m[2].off = m[1].off + nb + GAP;
        const size_t total = m[2].off + nc + GAP;
        host[0] = malloc(total * sizeof(double));
        for (size_t i = 0; i < total; i++) host[0][i] = NAN;
        for (int i = 0; i < 3; i++) place(host[0], &m[i], vals[i]);
        m[0].buf = m[1].buf = m[2].buf = dev_from(ctx, host[0], total);
    } else {
        static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
        for (int k = 0; k < 3; k++) {
            const int i = perms[order][k];
            const size_t total = m[i].n + 2 * GAP;
            host[i] = malloc(total * sizeof(double));
            for (size_t j = 0; j < total; j++) host[i][j] = NAN;
            place(host[i], &m[i], vals[i]);
            m[i].buf = dev_from(ctx, host[i], total);
        }
    }
    dytcl_tensor A = dytcl_tensor_1d(m[0].buf, m[0].off, (int64_t)na), B = dytcl_tensor_1d(m[1].buf, m[1].off, (int64_t)nb);
    dytcl_tensor C = dytcl_tensor_1d(m[2].buf, m[2].off, (int64_t)nc);
    CHECK_OK(ctx, dytcl_gemm_batched(ctx, ta, tb, M, N, K, (float)alpha, A, (int64_t)M * K, B, (int64_t)K * N,
                                     (float)beta, C, (int64_t)M * N, batch));
    /* C and everything around it, read back: the NaN gaps must be intact */
    const size_t totc = order < 0 ? m[2].off + nc + GAP : nc + 2 * GAP;
    got = malloc(totc * sizeof *got);
    dev_to(ctx, m[2].buf, got, totc);
    const double e = rel_err(got + m[2].off, want, nc);
    size_t outside = 0;
    for (size_t i = 0; i < totc; i++) {
        const int in_c = i >= m[2].off && i < m[2].off + nc;
        const double h = order < 0 ? host[0][i] : host[2][i];
        if (!in_c && !(isnan(got[i]) && isnan(h)) && got[i] != h) outside++;
    }
    CHECK(e <= TOL && outside == 0, "%s %c%c M %d N %d K %d batch %d alpha %g beta %g order %d: error %.3g, %zu "
          "elements outside C changed", form, ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, batch, alpha, beta, order, e,
          outside);
    if (order < 0) dytcl_buf_free(m[0].buf);
    else
        for (int i = 0; i < 3; i++) dytcl_buf_free(m[i].buf);
    for (int i = 0; i < 3; i++) free(host[i]);
    free(a), free(b), free(c0), free(want), free(got);
}

/* A chain: x1 = x0 W1^T, x2 = x1 W2^T, ... enqueued back to back (each a
 * product big enough to be cut), read once at the end. */
static void run_chain(dytcl_ctx *ctx, const char *form)
{
    enum { R = 96, D = 136, L = 5 };
    double *x = malloc((size_t)R * D * sizeof *x), *w = malloc((size_t)L * D * D * sizeof *w);
    double *y = malloc((size_t)R * D * sizeof *y), *got = malloc((size_t)R * D * sizeof *got);
    rand_fill(x, (size_t)R * D, &rng, -1, 1), round_float(x, (size_t)R * D);
    rand_fill(w, (size_t)L * D * D, &rng, -0.15, 0.15), round_float(w, (size_t)L * D * D);
    dytcl_buf *bw = dev_from(ctx, w, (size_t)L * D * D), *bx[2] = {dev_from(ctx, x, (size_t)R * D), NULL};
    bx[1] = dev_from(ctx, NULL, (size_t)R * D);
    for (int l = 0; l < L; l++) {
        ref_gemm(0, 1, R, D, D, 1.0, x, w + (size_t)l * D * D, 0.0, y);
        memcpy(x, y, (size_t)R * D * sizeof *x);
        CHECK_OK(ctx, dytcl_gemm(ctx, 0, 1, R, D, D, 1.0f, dytcl_tensor_2d(bx[l & 1], 0, R, D),
                                 dytcl_tensor_2d(bw, (size_t)l * D * D, D, D), 0.0f,
                                 dytcl_tensor_2d(bx[(l + 1) & 1], 0, R, D)));
    }
    dev_to(ctx, bx[L & 1], got, (size_t)R * D);
    const double e = rel_err(got, x, (size_t)R * D);
    CHECK(e <= TOL, "%s: a chain of %d products, error %.3g", form, L, e);
    dytcl_buf_free(bw), dytcl_buf_free(bx[0]), dytcl_buf_free(bx[1]);
    free(x), free(w), free(y), free(got);
}

/* A linear layer's backward: dx and dW, the pair that runs side by side;
 * dW accumulated into (acc) or overwritten; every tensor in a buffer of its
 * own. */
static void run_linear_pair(dytcl_ctx *ctx, const char *form, int rows, int in, int out, int acc)
{
    const size_t nx = (size_t)rows * in, nw = (size_t)out * in, ny = (size_t)rows * out;
    double *x = malloc(nx * 8), *w = malloc(nw * 8), *dy = malloc(ny * 8), *dw0 = malloc(nw * 8);
    double *dx = malloc(nx * 8), *dw = malloc(nw * 8), *db = malloc((size_t)out * 8);
    rand_fill(x, nx, &rng, -1, 1), round_float(x, nx);
    rand_fill(w, nw, &rng, -1, 1), round_float(w, nw);
    rand_fill(dy, ny, &rng, -1, 1), round_float(dy, ny);
    rand_fill(dw0, nw, &rng, -1, 1), round_float(dw0, nw);
    ref_linear_backward(rows, in, out, x, w, dy, dx, dw, db);
    if (acc)
        for (size_t i = 0; i < nw; i++) dw[i] += dw0[i];
    dytcl_buf *bdw = dev_from(ctx, acc ? dw0 : NULL, nw), *bdx = dev_from(ctx, NULL, nx);
    dytcl_buf *bdy = dev_from(ctx, dy, ny), *bw = dev_from(ctx, w, nw), *bx = dev_from(ctx, x, nx);
    CHECK_OK(ctx, dytcl_linear_backward(ctx, dytcl_tensor_2d(bdx, 0, rows, in), dytcl_tensor_2d(bdw, 0, out, in),
                                        (dytcl_tensor){0}, acc, dytcl_tensor_2d(bdy, 0, rows, out),
                                        dytcl_tensor_2d(bx, 0, rows, in), dytcl_tensor_2d(bw, 0, out, in)));
    double *gx = malloc(nx * 8), *gw = malloc(nw * 8);
    dev_to(ctx, bdx, gx, nx), dev_to(ctx, bdw, gw, nw);
    const double ex = rel_err(gx, dx, nx), ew = rel_err(gw, dw, nw);
    CHECK(ex <= TOL && ew <= TOL, "%s linear backward rows %d in %d out %d acc %d: dx error %.3g, dW error %.3g",
          form, rows, in, out, acc, ex, ew);
    dytcl_buf_free(bdw), dytcl_buf_free(bdx), dytcl_buf_free(bdy), dytcl_buf_free(bw), dytcl_buf_free(bx);
    free(x), free(w), free(dy), free(dw0), free(dx), free(dw), free(db), free(gx), free(gw);
}

int main(void)
{
    const int small = check_small();
    /* cut by: the batch; rows of C (M >= N, bands of 16, and of 1 where M
     * is small); columns (N > M); a one-row product (sgemv) cut by columns;
     * a product too small to cut */
    const int shapes[][4] = {{64, 65, 100, 3}, {133, 61, 131, 1}, {20, 20, 3001, 1}, {37, 211, 150, 1},
                             {1, 5003, 300, 1}, {7, 9, 5, 2}};
    const int nshapes = small ? 2 : 6;
    const char *forms[2] = {"", "0"};
    for (int f = 0; f < 2; f++) {
        dytcl_ctx *ctx = host_ctx(forms[f]);
        if (!ctx) break;
        char desc[512];
        CHECK_OK(ctx, dytcl_gemm_config(ctx, desc, sizeof desc));
        const char *form = f ? "mapped" : "queued";
        printf("%s: %s\n", form, desc);
        dytcl_device_info dev;
        dytcl_ctx_device(ctx, &dev);
        const int pocl = strstr(dev.platform, "Portable Computing Language") != NULL;
        if (f == 1) CHECK(strstr(desc, "mapped") != NULL, "DYTCL_GEMM_QUEUED=0: %s", desc);
        if (f == 0 && pocl) CHECK(strstr(desc, "queued") != NULL, "PoCL runs native kernels: %s", desc);
        for (int s = 0; s < nshapes; s++)
            for (int t = 0; t < 4; t++) {
                const int *sh = shapes[s];
                const double beta = t == 1 ? 0.5 : t == 3 ? 1.0 : 0.0;
                run_case(ctx, form, t & 1, t >> 1, sh[0], sh[1], sh[2], sh[3], t == 2 ? -0.75 : 1.0, beta, (s + t) % 7 - 1);
            }
        for (int order = -1; order < 6; order++) run_case(ctx, form, 1, 0, 133, 61, 131, 1, 1.0, 0.0, order);
        run_chain(ctx, form);
        run_linear_pair(ctx, form, 96, 136, 200, 0);
        run_linear_pair(ctx, form, 257, 33, 129, 1);
        run_linear_pair(ctx, form, 5, 7, 3, 1); /* too small to cut: one part each */
        dytcl_ctx_free(ctx);
    }
    /* a bad DYTCL_GEMM_QUEUED is refused at the path's choice */
    setenv("DYTCL_GEMM_QUEUED", "sometimes", 1);
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.no_cache = 1, .gemm_path = DYTCL_GEMM_HOST};
    if (dytcl_ctx_create(&opt, &ctx) == DYTCL_OK) {
        dytcl_gemm_path_t got;
        dytcl_device_info dev;
        dytcl_ctx_device(ctx, &dev);
        const dytcl_status s = dytcl_gemm_path(ctx, &got);
        if (dev.is_cpu && s != DYTCL_ERR_UNSUPPORTED)
            CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "DYTCL_GEMM_QUEUED"),
                  "DYTCL_GEMM_QUEUED=sometimes: %s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_GEMM_QUEUED");
    return check_done("test_gemm_host");
}
