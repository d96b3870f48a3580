/* model_convert.c -- a trained RMSNorm or LayerNorm language model made a
 * DyT (or Derf) one, norm by norm, from the activations of a calibration
 * batch (dytcl_model.h, "converting the norms").
 *
 * The converted model is a DyT model from the start: every parameter that
 * is not a norm's is copied, and so are the norms' weight (and bias); each
 * norm runs as the original one on them (norm_off.as, read by block.c)
 * until it is fitted, so the model begins as the same function as the
 * original. Fitting norm i: x, its input, and y = norm(x), its output, over
 * the calibration rows [rows, C]; then
 *
 *   E(alpha) = sum_c min_{w_c, b_c} sum_r (y[r,c] - w_c f(alpha x[r,c]) - b_c)^2
 *
 * (f = tanh, or erf for Derf with shift 0; no b_c in llama, whose DyT has
 * no bias): w_c, b_c by least squares in closed form for each alpha, alpha
 * by a search over log(alpha): a grid, then golden sections around the
 * grid's best. The model then runs norm i as DyT with alpha, w, b. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* Norm i in dytcl_model_saturation's order: h.0.norm1, h.0.norm2, ..., normf. */
static norm_off *norm_i(dytcl_model *m, int i)
{
    return i == 2 * m->L ? &m->nf : i % 2 ? &m->layer[i / 2].n2 : &m->layer[i / 2].n1;
}

/* Where norm i's input and output lie in the activations (for B, T). */
static void norm_acts(const dytcl_model *m, int i, size_t *x, size_t *y)
{
    size_t BTC = (size_t)m->B * m->T * m->C, l = (size_t)i / 2;
    if (i == 2 * m->L) *x = m->a.res + (size_t)m->L * BTC, *y = m->a.lnf;
    else if (i % 2) *x = m->a.mid + l * BTC, *y = m->a.ln2 + l * BTC;
    else *x = m->a.res + l * BTC, *y = m->a.ln1 + l * BTC;
}

/* ------------------------------------------------------------ the fit */

typedef struct {
    const float *x, *y; /* [rows, C] */
    size_t rows;
    int C, bias, derf;
    double *sy, *syy;   /* [C] sums of y and y^2 per channel */
    double *st, *stt, *sty; /* [C] scratch */
} fit_data;

/* E(alpha) and (w, b NULL: not wanted) the least-squares w_c, b_c. */
static double fit_error(const fit_data *d, double alpha, float *w, float *b)
{
    const int C = d->C;
    const float a = (float)alpha;
    for (int c = 0; c < C; c++) d->st[c] = d->stt[c] = d->sty[c] = 0;
    for (size_t r = 0; r < d->rows; r++) {
        const float *xr = d->x + r * C, *yr = d->y + r * C;
        for (int c = 0; c < C; c++) {
            double t = d->derf ? erff(a * xr[c]) : tanhf(a * xr[c]);
            d->st[c] += t, d->stt[c] += t * t, d->sty[c] += t * yr[c];
        }
    }
    const double n = (double)d->rows;
    double e = 0;
    for (int c = 0; c < C; c++) {
        double wc = 0, bc = 0, sse;
        if (d->bias) { /* y ~ w t + b: centred sums */
            double vt = d->stt[c] - d->st[c] * d->st[c] / n, cov = d->sty[c] - d->st[c] * d->sy[c] / n;
            double vy = d->syy[c] - d->sy[c] * d->sy[c] / n;
            if (vt > 1e-12 * n) wc = cov / vt;
            bc = (d->sy[c] - wc * d->st[c]) / n;
            sse = vy - wc * cov;
        } else { /* y ~ w t */
            if (d->stt[c] > 1e-12 * n) wc = d->sty[c] / d->stt[c];
            sse = d->syy[c] - wc * d->sty[c];
        }
        e += sse > 0 ? sse : 0;
        if (w) w[c] = (float)wc;
        if (b) b[c] = (float)bc;
    }
    return e;
}

/* Picks alpha for d: E over log(alpha s) in [-6, 3] (s the rms of x) on a
 * grid of 37, then 24 golden sections between the best point's neighbours.
 * Writes w, b [C] and returns alpha; *rel the error relative to y's
 * variance (or its mean square without bias). */
static double fit_norm(const fit_data *d, float *w, float *b, double *rel)
{
    double ss = 0, total = 0;
    for (size_t k = 0; k < d->rows * (size_t)d->C; k++) ss += (double)d->x[k] * d->x[k];
    for (int c = 0; c < d->C; c++) total += d->bias ? d->syy[c] - d->sy[c] * d->sy[c] / (double)d->rows : d->syy[c];
    double s = sqrt(ss / ((double)d->rows * d->C));
    if (!(s > 0)) s = 1;
    enum { GRID = 37 };
    const double lo = -6.0, hi = 3.0, step = (hi - lo) / (GRID - 1);
    int best = 0;
    double ebest = INFINITY;
    for (int k = 0; k < GRID; k++) {
        double e = fit_error(d, exp(lo + k * step) / s, NULL, NULL);
        if (e < ebest) ebest = e, best = k;
    }
    double u0 = lo + (best > 0 ? best - 1 : 0) * step, u1 = lo + (best < GRID - 1 ? best + 1 : GRID - 1) * step;
    const double g = 0.5 * (sqrt(5.0) - 1);
    double ua = u1 - g * (u1 - u0), ub = u0 + g * (u1 - u0);
    double ea = fit_error(d, exp(ua) / s, NULL, NULL), eb = fit_error(d, exp(ub) / s, NULL, NULL);
    for (int it = 0; it < 24; it++) {
        if (ea < eb) u1 = ub, ub = ua, eb = ea, ua = u1 - g * (u1 - u0), ea = fit_error(d, exp(ua) / s, NULL, NULL);
        else u0 = ua, ua = ub, ea = eb, ub = u0 + g * (u1 - u0), eb = fit_error(d, exp(ub) / s, NULL, NULL);
    }
    double u = ea < eb ? ua : ub, eu = ea < eb ? ea : eb;
    if (ebest < eu) u = lo + best * step; /* the grid's point stays when no section beat it */
    double alpha = exp(u) / s, e = fit_error(d, alpha, w, b);
    *rel = total > 0 ? e / total : 0;
    return alpha;
}

/* ------------------------------------------------------------ the calls */

dytcl_status dytcl_model_convert_begin(dytcl_model *src, dytcl_norm_kind to, dytcl_model **out)
{
    if (out) *out = NULL;
    dytcl_status s = dy_gate(src, __func__, 0);
    if (!s) s = dy_gate_ptr(src, __func__, out, "out");
    if (!s) s = dy_gate(src, __func__, DY_NEED_LM | DY_NEED_IDLE);
    if (s) return s;
    if (src->c.norm != DYTCL_NORM_RMSNORM && src->c.norm != DYTCL_NORM_LAYERNORM)
        return dy_model_fail(src, DYTCL_ERR_INVALID_ARG,
                             "%s: the model's norm is %s already; only RMSNorm and LayerNorm models convert", __func__,
                             dytcl_norm_kind_name(src->c.norm));
    if (to != DYTCL_NORM_DYT && to != DYTCL_NORM_DERF)
        return dy_model_fail(src, DYTCL_ERR_INVALID_ARG, "%s: converts to dyt or derf, not %s", __func__,
                             (unsigned)to <= DYTCL_NORM_LAYERNORM ? dytcl_norm_kind_name(to) : "an unknown norm");
    dytcl_model_config c = src->c;
    c.norm = to;
    dytcl_model *dst = NULL;
    if ((s = dytcl_model_create(src->ctx, &c, 0, &dst))) return dy_lib_fail(src, s, __func__);
    float *ps = malloc(src->n * sizeof *ps), *pd = malloc(dst->n * sizeof *pd);
    s = DYTCL_ERR_HOST_MEMORY;
    if (!ps || !pd || (s = dytcl_model_read_params(src, ps)) || (s = dytcl_model_read_params(dst, pd))) goto done;
    /* everything of the same name and size is copied (the norms' weight and
     * bias too); alpha stays at its default until fitted, Derf's shift 0,
     * llama's emb_scale 1 (the original has none) */
    for (int i = 0; i < dst->ntab; i++) {
        const dytcl_model_tensor *t = &dst->tab[i], *o = dy_tensor_named(src, t->name);
        if (o && o->numel == t->numel) memcpy(pd + t->offset, ps + o->offset, t->numel * sizeof *pd);
    }
    if (dst->emb_scale != NONE) pd[dst->emb_scale] = 1.0f;
    s = dytcl_model_write_params(dst, pd);
    for (int i = 0; !s && i < 2 * dst->L + 1; i++) norm_i(dst, i)->as = (int)src->c.norm;
done:
    free(ps), free(pd);
    if (s) {
        dytcl_model_free(dst);
        return s == DYTCL_ERR_HOST_MEMORY ? dy_model_fail(src, s, "%s: out of host memory", __func__)
                                          : dy_lib_fail(src, s, __func__);
    }
    *out = dst;
    return DYTCL_OK;
}

int dytcl_model_convert_pending(const dytcl_model *m)
{
    if (!m || m->c.arch == DYTCL_ARCH_VIT) return 0;
    int n = 0;
    for (int i = 0; i < 2 * m->L + 1; i++) n += norm_i((dytcl_model *)m, i)->as >= 0;
    return n;
}

dytcl_status dytcl_model_convert_fit(dytcl_model *m, int first, int count, const int32_t *tokens, int n_batches,
                                     dytcl_convert_fit *fit)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, tokens, "tokens");
    if (!s) s = dy_gate(m, __func__, DY_NEED_LM | DY_NEED_IDLE | DY_NEED_BATCH);
    if (s) return s;
    const int nn = 2 * m->L + 1;
    if (first < 0 || count < 1 || first > nn - count || n_batches < 1)
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG,
                             "%s: norms %d..%d of %d, %d calibration batches: out of range", __func__, first,
                             first + count - 1, nn, n_batches);
    for (int i = first; i < first + count; i++)
        if (norm_i(m, i)->as < 0)
            return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "%s: norm %d is %s already (not one being converted)",
                                 __func__, i, dytcl_norm_kind_name(m->c.norm));
    const size_t BT = (size_t)m->B * m->T, C = (size_t)m->C;
    if ((size_t)n_batches > SIZE_MAX / BT) return dy_model_bad_arg(m, __func__);
    s = dy_gate_ids(m, __func__, "tokens", tokens, BT * (size_t)n_batches, 0);
    if (s) return s;
    const size_t rows = BT * (size_t)n_batches, per = rows * C; /* floats of x (or y) per norm */
    if (rows > SIZE_MAX / C / sizeof(float) / 2 / (size_t)count)
        return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "%s: %zu rows of %zu channels for %d norms: too large",
                             __func__, rows, C, count);
    float *xy = malloc(2 * per * (size_t)count * sizeof *xy), *wb = malloc(2 * C * sizeof *wb);
    double *sums = malloc(5 * C * sizeof *sums);
    if (!xy || !wb || !sums) {
        free(xy), free(wb), free(sums);
        return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "%s: out of host memory (%zu rows of %zu channels, %d norms)",
                             __func__, rows, C, count);
    }
    /* every batch through the model as it is; each norm's x and y read back */
    for (int bt = 0; !s && bt < n_batches; bt++) {
        s = dytcl_model_forward(m, tokens + (size_t)bt * BT, NULL);
        for (int k = 0; !s && k < count; k++) {
            size_t xo, yo;
            norm_acts(m, first + k, &xo, &yo);
            float *x = xy + 2 * per * (size_t)k, *y = x + per;
            s = dytcl_buf_read(m->ctx, m->acts, xo * sizeof(float), x + (size_t)bt * BT * C, BT * C * sizeof(float));
            if (!s)
                s = dytcl_buf_read(m->ctx, m->acts, yo * sizeof(float), y + (size_t)bt * BT * C,
                                   BT * C * sizeof(float));
        }
    }
    for (int k = 0; !s && k < count; k++) {
        norm_off *n = norm_i(m, first + k);
        fit_data d = {xy + 2 * per * (size_t)k, xy + 2 * per * (size_t)k + per, rows, (int)C, n->bias != NONE,
                      m->c.norm == DYTCL_NORM_DERF, sums, sums + C, sums + 2 * C, sums + 3 * C, sums + 4 * C};
        for (size_t c = 0; c < C; c++) d.sy[c] = d.syy[c] = 0;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < C; c++) d.sy[c] += d.y[r * C + c], d.syy[c] += (double)d.y[r * C + c] * d.y[r * C + c];
        double rel;
        float alpha = (float)fit_norm(&d, wb, wb + C, &rel), zero = 0;
        if (!isfinite(alpha)) {
            free(xy), free(wb), free(sums);
            return dy_model_fail(m, DYTCL_ERR_INVALID_ARG,
                                 "%s: norm %d: no finite fit (the calibration activations are not finite)", __func__,
                                 first + k);
        }
        s = dytcl_buf_write(m->ctx, m->params, n->alpha * sizeof(float), &alpha, sizeof alpha);
        if (!s && n->shift != NONE) s = dytcl_buf_write(m->ctx, m->params, n->shift * sizeof(float), &zero, sizeof zero);
        if (!s) s = dytcl_buf_write(m->ctx, m->params, n->weight * sizeof(float), wb, C * sizeof(float));
        if (!s && n->bias != NONE) s = dytcl_buf_write(m->ctx, m->params, n->bias * sizeof(float), wb + C, C * sizeof(float));
        if (s) break;
        n->as = -1;
        if (fit) fit[k].alpha = alpha, fit[k].rel_err = (float)rel;
    }
    if (!s) s = dy_model_refresh_half(m);
    free(xy), free(wb), free(sums);
    return s ? dy_lib_fail(m, s, __func__) : DYTCL_OK;
}

/* ------------------------------------------------------------ distillation */

/* Row r's softmax of z [V] into p (double), and log-sum-exp into *lse. */
static void softmax_row(const float *z, int V, double *p, double *lse)
{
    double mx = z[0], sum = 0;
    for (int c = 1; c < V; c++) mx = z[c] > mx ? z[c] : mx;
    for (int c = 0; c < V; c++) sum += p[c] = exp((double)z[c] - mx);
    for (int c = 0; c < V; c++) p[c] /= sum;
    *lse = mx + log(sum);
}

dytcl_status dytcl_model_distill(dytcl_model *m, dytcl_model *teacher, const int32_t *tokens, const int32_t *targets,
                                 float weight, float *kl)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate(teacher, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, tokens, "tokens");
    if (!s) s = dy_gate_ptr(m, __func__, targets, "targets");
    if (!s) s = dy_gate(m, __func__, DY_NEED_LM | DY_NEED_IDLE | DY_NEED_BATCH);
    if (!s) s = dy_gate(teacher, __func__, DY_NEED_LM | DY_NEED_IDLE | DY_NEED_BATCH);
    if (!s) s = dy_model_refuse_half(m, __func__);
    if (s) return s;
    if (teacher == m || teacher->V != m->V || teacher->B != m->B || teacher->T != m->T)
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG,
                             "%s: the teacher must be another model of the same vocabulary (%d, has %d) and batch "
                             "shape (%d x %d, has %d x %d)", __func__, m->V, teacher->V, m->B, m->T, teacher->B,
                             teacher->T);
    if (!(weight >= 0 && weight <= 1))
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "%s: weight %g is not in [0, 1]", __func__, (double)weight);
    const size_t BT = (size_t)m->B * m->T, V = (size_t)m->V;
    float *zt = malloc(BT * V * sizeof *zt), *zs = malloc(BT * V * sizeof *zs);
    double *p = malloc(2 * V * sizeof *p), *q = p ? p + V : NULL;
    if (!zt || !zs || !p) {
        free(zt), free(zs), free(p);
        return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "%s: out of host memory (%zu rows of %zu logits)", __func__,
                             BT, V);
    }
    /* the teacher's logits, then m's forward with the targets (its loss
     * slot gets the cross-entropy) and logits */
    if (!(s = dytcl_model_forward(teacher, tokens, NULL)) && !(s = dytcl_model_read_logits(teacher, zt)) &&
        !(s = dytcl_model_forward(m, tokens, targets)))
        s = dytcl_model_read_logits(m, zs);
    if (s) {
        free(zt), free(zs), free(p);
        return s;
    }
    /* dlogits = (softmax(zs) - (1 - w) onehot - w softmax(zt)) / valid, in zs */
    size_t valid = 0;
    for (size_t r = 0; r < BT; r++) valid += targets[r] != -1;
    double sum_kl = 0;
    for (size_t r = 0; r < BT; r++) {
        float *g = zs + r * V;
        if (targets[r] == -1) {
            memset(g, 0, V * sizeof *g);
            continue;
        }
        double lt, ls, k = 0;
        softmax_row(zt + r * V, (int)V, p, &lt);
        softmax_row(g, (int)V, q, &ls);
        for (size_t c = 0; c < V; c++) {
            if (p[c] > 0) k += p[c] * (((double)zt[r * V + c] - lt) - ((double)g[c] - ls));
            g[c] = (float)((q[c] - weight * p[c] - (1.0 - weight) * ((int32_t)c == targets[r])) / (double)valid);
        }
        sum_kl += k;
    }
    s = dytcl_buf_write(m->ctx, m->acts, m->a.logits * sizeof(float), zs, BT * V * sizeof(float));
    free(zt), free(zs), free(p);
    if (s) return dy_lib_fail(m, s, __func__);
    m->dlogits = 1; /* the backward starts from these */
    s = dytcl_model_backward(m, 1.0f);
    m->dlogits = 0;
    if (s) return s;
    if (kl) *kl = valid ? (float)(sum_kl / (double)valid) : 0.0f;
    return DYTCL_OK;
}

dytcl_status dytcl_model_convert(dytcl_model *src, dytcl_norm_kind to, const int32_t *tokens, int n_batches, int B,
                                 int T, int sequential, dytcl_model **out)
{
    if (out) *out = NULL;
    dytcl_status s = dy_gate(src, __func__, 0);
    if (!s) s = dy_gate_ptr(src, __func__, out, "out");
    if (s) return s;
    dytcl_model *m = NULL;
    if ((s = dytcl_model_convert_begin(src, to, &m))) return s;
    s = dytcl_model_set_batch(m, B, T);
    const int nn = 2 * src->L + 1;
    if (sequential)
        for (int i = 0; !s && i < nn; i++) s = dytcl_model_convert_fit(m, i, 1, tokens, n_batches, NULL);
    else if (!s) s = dytcl_model_convert_fit(m, 0, nn, tokens, n_batches, NULL);
    if (s) { /* the message stays: m lives on src's context */
        dytcl_model_free(m);
        return s;
    }
    *out = m;
    return DYTCL_OK;
}
