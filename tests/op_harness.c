/* op_harness.c -- the runner of op_harness.h: draw, poison, call, compare
 * with the float64 reference, call again for the same bits, in both kernel
 * shapes. */
#include "op_harness.h"

#include "dev_util.h"

dytcl_tensor op_view(dytcl_tensor t, int ndim, int d0, int d1, int d2, int d3)
{
    const int d[4] = {d0, d1, d2, d3};
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = d[i];
    return t;
}

static size_t count(int size, const op_shape *s)
{
    size_t m = 1;
    if (size == OP_ONE || size == OP_TWO) return size == OP_ONE ? 1 : 2;
    for (int i = 0; i < 4; i++)
        if (size == OP_ALL || (size & (OP_D0 << i))) m *= (size_t)op_dim(s, i);
    return m;
}

/* An output's device values back to the poison (NaN) or its starting input. */
static void reset_output(dytcl_ctx *ctx, const op_run *r, int k, dytcl_buf *b)
{
    const double *from = r->c->out[k].init ? r->in[r->c->out[k].init - 1] : NULL;
    float *h = malloc(r->n[1][k] * sizeof *h);
    for (size_t i = 0; i < r->n[1][k]; i++) h[i] = from ? (float)from[i] : NAN;
    CHECK_OK(ctx, dytcl_buf_write(ctx, b, 0, h, r->n[1][k] * sizeof *h));
    free(h);
}

static void describe(char *buf, size_t len, const op_run *r, const char *shape)
{
    snprintf(buf, len, "%s [%d,%d,%d,%d] k=%d %s", r->c->name, r->s.d[0], r->s.d[1], r->s.d[2], r->s.d[3], r->s.k,
             shape);
}

/* One case at one shape: draw, reference, poison, call, compare, call again. */
static void run_case(dytcl_ctx *ctx, const op_case *c, const op_shape *s, const char *shape,
                     unsigned long long *rng)
{
    op_run r = {.c = c, .s = *s};
    dytcl_buf *bin[OP_MAX_ARGS] = {0}, *bout[OP_MAX_ARGS] = {0};
    float *bits[2][OP_MAX_ARGS] = {{0}};
    char what[160];
    describe(what, sizeof what, &r, shape);
    CHECK(c->dtype == DYTCL_F32, "%s: storage %s is not in the harness yet", what, dytcl_dtype_name(c->dtype));
    for (int j = 0; j < c->n_in; j++) {
        const op_input *in = &c->in[j];
        size_t m = r.n[0][j] = count(in->size, s);
        r.in[j] = malloc(m * sizeof(double));
        if (in->fill) {
            in->fill(s, r.in[j], m, rng);
            round_float(r.in[j], m);
        } else
            op_fill(r.in[j], m, in->gen, in->lo, in->hi, rng);
    }
    if (c->prep) c->prep(&r);
    for (int j = 0; j < c->n_in; j++) {
        size_t m = r.n[0][j];
        round_float(r.in[j], m);
        bin[j] = c->in[j].ints ? dev_ints_from(ctx, r.in[j], m) : dev_from(ctx, r.in[j], m);
        r.tin[j] = dytcl_tensor_1d(bin[j], 0, (int64_t)m);
    }
    for (int k = 0; k < c->n_out; k++) {
        size_t m = r.n[1][k] = count(c->out[k].size, s);
        r.out[k] = malloc(m * sizeof(double));
        if (c->out[k].init && r.n[0][c->out[k].init - 1] != m) { /* a wrong table entry */
            fprintf(stderr, "%s: output %d starts from an input of another size\n", what, k);
            exit(1);
        }
        r.scale[k] = c->out[k].scaled ? malloc(m * sizeof(double)) : NULL;
        bout[k] = dev_from(ctx, NULL, m);
        r.tout[k] = dytcl_tensor_1d(bout[k], 0, (int64_t)m);
        for (int rep = 0; rep < 2; rep++) bits[rep][k] = malloc(m * sizeof(float));
    }
    c->ref(&r);
    for (int rep = 0; rep < 2; rep++) {
        for (int k = 0; k < c->n_out; k++) reset_output(ctx, &r, k, bout[k]); /* every element must be written again */
        CHECK_OK(ctx, c->call(ctx, &r));
        for (int k = 0; k < c->n_out; k++)
            CHECK_OK(ctx, dytcl_buf_read(ctx, bout[k], 0, bits[rep][k], r.n[1][k] * sizeof(float)));
    }
    for (int k = 0; k < c->n_out; k++) {
        size_t m = r.n[1][k];
        const op_output *o = &c->out[k];
        if (o->scaled)
            CHECK_CLOSE_SCALED(ctx, bout[k], r.out[k], r.scale[k], m, o->tol, "%s output %d", what, k);
        else
            CHECK_CLOSE(ctx, bout[k], r.out[k], m, o->tol, "%s output %d", what, k);
        CHECK(!memcmp(bits[0][k], bits[1][k], m * sizeof(float)), "%s output %d differs between runs", what, k);
    }
    for (int j = 0; j < c->n_in; j++) dytcl_buf_free(bin[j]), free(r.in[j]);
    for (int k = 0; k < c->n_out; k++)
        dytcl_buf_free(bout[k]), free(r.out[k]), free(r.scale[k]), free(bits[0][k]), free(bits[1][k]);
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

int op_run_table(const char *group, const char *cache_dir, unsigned long long *rng)
{
    const char *shapes[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shapes[sh], 1);
        dytcl_ctx *ctx = check_ctx(cache_dir);
        for (int i = 0; i < op_n_cases; i++) {
            const op_case *c = &op_cases[i];
            if (strcmp(c->group, group)) continue;
            for (int s = 0; s < OP_MAX_SHAPES && c->shapes[s].d[0]; s++)
                if (!check_small() || small_shape(c, &c->shapes[s])) run_case(ctx, c, &c->shapes[s], shapes[sh], rng);
        }
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_failures;
}
