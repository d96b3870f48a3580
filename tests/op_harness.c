/* op_harness.c -- the runner of op_harness.h: draw, round to the storage,
 * poison, call, compare with the float64 reference (a tolerance per
 * dtype), call again for the same bits, in every dtype and both kernel
 * shapes. */
#include "op_harness.h"

/* Every argument's view starts at this element of its buffer, an odd offset
 * (no alignment beyond the element's own may be assumed); the elements
 * before it are NaN poison (ids: -7) that must survive the call. */
enum { OFF = 3 };

dytcl_tensor op_view(dytcl_tensor t, int ndim, int d0, int d1, int d2, int d3)
{
    const int d[4] = {d0, d1, d2, d3};
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = d[i];
    return t;
}

dytcl_tensor op_sub(dytcl_tensor t, int64_t i, int64_t n)
{
    return dytcl_tensor_as(dytcl_tensor_1d(t.buf, t.offset + i, n), t.dtype);
}

static size_t count(int size, const op_shape *s)
{
    size_t m = 1;
    if (size == OP_ONE || size == OP_TWO) return size == OP_ONE ? 1 : 2;
    for (int i = 0; i < 4; i++)
        if (size == OP_ALL || (size & (OP_D0 << i))) m *= (size_t)op_dim(s, i);
    return m;
}

/* ---------------------------------------------------------- device data */

/* Element i of a host image of dt (or int32 ids) as a double, and back. */
static double get_elem(const unsigned char *b, size_t i, dytcl_dtype dt, int ints)
{
    if (ints) {
        int32_t v;
        memcpy(&v, b + 4 * i, 4);
        return v;
    }
    if (dt == DYTCL_F32) {
        float f;
        memcpy(&f, b + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, b + 2 * i, 2);
    return dt == DYTCL_F16 ? f16_value(h) : bf16_value(h);
}

static void put_elem(unsigned char *b, size_t i, dytcl_dtype dt, int ints, double v)
{
    if (ints) {
        int32_t k = (int32_t)v;
        memcpy(b + 4 * i, &k, 4);
    } else if (dt == DYTCL_F32) {
        float f = (float)v;
        memcpy(b + 4 * i, &f, 4);
    } else {
        uint16_t h = dt == DYTCL_F16 ? f16_bits(v) : bf16_bits((float)v);
        memcpy(b + 2 * i, &h, 2);
    }
}

static size_t elem_size(dytcl_dtype dt, int ints) { return ints ? 4 : dytcl_dtype_size(dt); }

/* Writes OFF poison elements then v (NULL: NaN) into b, n elements. */
static void dev_write(dytcl_ctx *ctx, dytcl_buf *b, dytcl_dtype dt, int ints, const double *v, size_t n)
{
    const size_t es = elem_size(dt, ints);
    unsigned char *h = malloc((n + OFF) * es);
    for (size_t i = 0; i < n + OFF; i++) put_elem(h, i, dt, ints, i >= OFF && v ? v[i - OFF] : ints ? -7 : NAN);
    if (b) CHECK_OK(ctx, dytcl_buf_write(ctx, b, 0, h, (n + OFF) * es));
    free(h);
}

/* A device argument of n elements after the poison: its 1-D view. */
static dytcl_tensor dev_arg(dytcl_ctx *ctx, dytcl_dtype dt, int ints, const double *v, size_t n)
{
    dytcl_buf *b = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, (n + OFF) * elem_size(dt, ints), &b));
    dev_write(ctx, b, dt, ints, v, n);
    return dytcl_tensor_as(dytcl_tensor_1d(b, OFF, (int64_t)n), ints ? DYTCL_F32 : dt);
}

/* The n elements of t's buffer after the poison, as stored (bytes). */
static unsigned char *dev_read(dytcl_ctx *ctx, dytcl_tensor t, size_t n)
{
    const size_t es = elem_size(t.dtype, 0);
    unsigned char *h = calloc(n + OFF, es);
    if (t.buf) CHECK_OK(ctx, dytcl_buf_read(ctx, t.buf, 0, h, (n + OFF) * es));
    return h;
}

/* ---------------------------------------------------------- comparison */

/* f32: ||got - want|| / ||want|| (NaN where want is not: infinite; want's
 * NaNs skipped), or with scale: / max(||want||, 0.1 ||scale||), the
 * gradient before an attenuation float32 cannot resolve (dev_util.h). */
static double rel_error(const double *got, const double *want, const double *scale, size_t n)
{
    double num = 0, den = 0, sden = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(want[i])) return INFINITY;
        if (isnan(want[i])) continue;
        num += (got[i] - want[i]) * (got[i] - want[i]), den += want[i] * want[i];
        if (scale) sden += scale[i] * scale[i];
    }
    den = fmax(sqrt(den), scale ? 0.1 * sqrt(sden) : 0);
    return den > 0 ? sqrt(num) / den : sqrt(num);
}

/* f16/bf16, per element: the device reads exact half values, computes in
 * float32 and rounds once at the store, so an element differs from the
 * float64 value w on the same inputs by at most u |w| (the store) + tol S
 * (float32 math, bounded as the f32 check bounds it; S the RMS of the
 * finite w, or 0.1 that of scale when larger) + 2^-25 (f16's subnormal
 * step). Past the format's range the result must be +-inf (f16: 65520 and
 * up, where round-to-nearest leaves 65504); NaN stays NaN. tol 0: exact.
 * Reports the first three elements out of bounds. */
static void check_half(dytcl_dtype dt, const double *got, const double *want, const double *scale, size_t n,
                       double tol, const char *what)
{
    const double u = unit_roundoff(dt), big = overflow_at(dt), sub = dt == DYTCL_F16 ? 0x1p-25 : 0;
    double ss = 0, sc = 0;
    size_t nf = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) < big) ss += want[i] * want[i], nf++;
    if (scale)
        for (size_t i = 0; i < n; i++) sc += scale[i] * scale[i];
    const double S = fmax(nf ? sqrt(ss / nf) : 0, scale ? 0.1 * sqrt(sc / n) : 0);
    int bad = 0;
    for (size_t i = 0; i < n && bad < 3; i++) {
        const double w = want[i], g = got[i], bound = tol == 0 ? 0 : u * fabs(w) + tol * S + sub;
        int ok;
        if (isnan(w)) ok = isnan(g);
        else if (tol == 0) ok = g == w;
        else if (fabs(w) >= big * (1 + u)) ok = g == copysign(INFINITY, w); /* past the range, for sure */
        else if (fabs(w) >= big * (1 - 2 * u)) ok = g == copysign(INFINITY, w) || fabs(g - w) <= bound;
        else ok = fabs(g - w) <= bound;
        if (!ok) {
            bad++;
            CHECK(ok, "%s: element %zu is %.9g, want %.9g (bound %.3g)", what, i, g, w, bound);
        }
    }
}

/* Output k as the device left it: the poison before it intact, then its
 * values against the reference with the tolerance of its dtype. */
static void compare(const op_run *r, int k, const unsigned char *bytes, const char *what)
{
    const op_output *o = &r->c->out[k];
    const dytcl_dtype dt = r->tout[k].dtype;
    const size_t m = r->n[1][k];
    double *got = malloc(m * sizeof *got);
    for (size_t i = 0; i < OFF; i++)
        CHECK(isnan(get_elem(bytes, i, dt, 0)), "%s output %d: poison element %zu before the view was written (%g)",
              what, k, i, get_elem(bytes, i, dt, 0));
    for (size_t i = 0; i < m; i++) got[i] = get_elem(bytes, i + OFF, dt, 0);
    const double *scale = o->scaled ? r->scale[k] : NULL;
    if (dt == DYTCL_F32) {
        double e = rel_error(got, r->out[k], scale, m);
        CHECK(e <= o->tol, "%s output %d: %s error %.3g > %.1g", what, k, scale ? "scaled" : "relative", e, o->tol);
    } else {
        char w2[240];
        snprintf(w2, sizeof w2, "%s output %d", what, k);
        check_half(dt, got, r->out[k], scale, m, o->tol, w2);
    }
    free(got);
}

/* ---------------------------------------------------------- one case */

static void describe(char *buf, size_t len, const op_run *r, const char *shape)
{
    snprintf(buf, len, "%s %s [%d,%d,%d,%d] k=%d %s", r->c->name, dytcl_dtype_name(r->dt), r->s.d[0], r->s.d[1],
             r->s.d[2], r->s.d[3], r->s.k, shape);
}

/* v rounded to the storage of an argument (ids stay integers). */
static void round_arg(double *v, size_t n, dytcl_dtype dt, int ints)
{
    if (ints) return;
    if (dt == DYTCL_F32) round_float(v, n);
    else round_dt(v, n, dt);
}

/* One case at one shape in one dtype: draw, reference, poison, call,
 * compare, call again. */
static void run_case(dytcl_ctx *ctx, const op_case *c, dytcl_dtype dt, const op_shape *s, const char *shape,
                     unsigned long long *rng)
{
    op_run r = {.c = c, .s = *s, .dt = dt};
    unsigned char *bits[2][OP_MAX_ARGS] = {{0}};
    dytcl_dtype din[OP_MAX_ARGS];
    char what[200];
    describe(what, sizeof what, &r, shape);
    for (int j = 0; j < c->n_in; j++) {
        const op_input *in = &c->in[j];
        size_t m = r.n[0][j] = count(in->size, s);
        din[j] = in->f32 || in->ints ? DYTCL_F32 : dt;
        r.in[j] = malloc(m * sizeof(double));
        if (in->fill) in->fill(s, dt, r.in[j], m, rng);
        else op_fill(r.in[j], m, in->gen, in->lo, in->hi, rng);
        round_arg(r.in[j], m, din[j], in->ints); /* before prep: the statistics of the stored x */
    }
    if (c->prep) c->prep(&r);
    for (int j = 0; j < c->n_in; j++) {
        size_t m = r.n[0][j];
        round_arg(r.in[j], m, din[j], c->in[j].ints);
        r.tin[j] = dev_arg(ctx, din[j], c->in[j].ints, r.in[j], m);
    }
    for (int k = 0; k < c->n_out; k++) {
        size_t m = r.n[1][k] = count(c->out[k].size, s);
        r.out[k] = malloc(m * sizeof(double));
        if (c->out[k].init && r.n[0][c->out[k].init - 1] != m) { /* a wrong table entry */
            fprintf(stderr, "%s: output %d starts from an input of another size\n", what, k);
            exit(1);
        }
        r.scale[k] = c->out[k].scaled ? malloc(m * sizeof(double)) : NULL;
        r.tout[k] = dev_arg(ctx, c->out[k].f32 ? DYTCL_F32 : dt, 0, NULL, m);
    }
    c->ref(&r);
    for (int rep = 0; rep < 2; rep++) {
        for (int k = 0; k < c->n_out; k++) { /* every element must be written again */
            const int from = c->out[k].init;
            dev_write(ctx, r.tout[k].buf, r.tout[k].dtype, 0, from ? r.in[from - 1] : NULL, r.n[1][k]);
        }
        CHECK_OK(ctx, c->call(ctx, &r));
        for (int k = 0; k < c->n_out; k++) bits[rep][k] = dev_read(ctx, r.tout[k], r.n[1][k]);
    }
    for (int k = 0; k < c->n_out; k++) {
        compare(&r, k, bits[1][k], what);
        size_t bytes = (r.n[1][k] + OFF) * dytcl_dtype_size(r.tout[k].dtype);
        CHECK(!memcmp(bits[0][k], bits[1][k], bytes), "%s output %d differs between runs", what, k);
    }
    for (int j = 0; j < c->n_in; j++) dytcl_buf_free(r.tin[j].buf), free(r.in[j]);
    for (int k = 0; k < c->n_out; k++)
        dytcl_buf_free(r.tout[k].buf), free(r.out[k]), free(r.scale[k]), free(bits[0][k]), free(bits[1][k]);
}

/* 1 when every argument of the case at s is under 5000 elements. */
static int small_shape(const op_case *c, const op_shape *s)
{
    for (int j = 0; j < c->n_in; j++)
        if (count(c->in[j].size, s) >= 5000) return 0;
    for (int k = 0; k < c->n_out; k++)
        if (count(c->out[k].size, s) >= 5000) return 0;
    return 1;
}

int op_run_table(dytcl_dtype dt, const char *group, const char *cache_dir, unsigned long long *rng)
{
    const char *shapes[] = {"rows", "groups"};
    const int before = check_failures;
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shapes[sh], 1);
        dytcl_ctx *ctx = check_ctx(cache_dir);
        for (int i = 0; i < op_n_cases; i++) {
            const op_case *c = &op_cases[i];
            if ((group && strcmp(c->group, group)) || !((c->dtypes ? c->dtypes : OP_F32) & (1 << dt)) ||
                (sh && c->one_shape))
                continue;
            for (int s = 0; s < OP_MAX_SHAPES && c->shapes[s].d[0]; s++)
                if (!check_small() || small_shape(c, &c->shapes[s])) run_case(ctx, c, dt, &c->shapes[s], shapes[sh], rng);
        }
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_failures - before;
}
