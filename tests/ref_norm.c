/* ref_norm.c -- float64 references for cl/norm.cl; see ref_norm.h. */
#include "ref_norm.h"

#include <math.h>
#include <stddef.h>

void ref_add(double *out, const double *a, const double *b, int n)
{
    for (int i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* ------------------------------------------------------------- DyT / Derf */

static double act_of(double u, int act) { return act == REF_ERF ? erf(u) : tanh(u); }

static double act_grad(double u, int act)
{
    if (act == REF_ERF) return 1.1283791670955126 * exp(-u * u); /* 2/sqrt(pi) */
    const double t = tanh(u);
    return 1.0 - t * t;
}

void ref_dyt_forward(double *y, const double *x, double alpha, double shift, const double *gamma,
                     const double *beta, int act, int N, int C, int inner)
{
    const double s = act == REF_ERF ? shift : 0.0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < inner; i++) {
                const int at = (n * C + c) * inner + i;
                const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
                y[at] = g * act_of(alpha * x[at] + s, act) + b;
            }
}

void ref_dyt_backward(double *dx, double *dalpha, double *dshift, double *dgamma, double *dbeta,
                      const double *dy, const double *dres, const double *x, double alpha, double shift,
                      const double *gamma, int act, int N, int C, int inner)
{
    const double s = act == REF_ERF ? shift : 0.0;
    double da = 0.0, ds = 0.0;
    for (int c = 0; c < C; c++) {
        double dg = 0.0, db = 0.0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < inner; i++) {
                const int at = (n * C + c) * inner + i;
                const double u = alpha * x[at] + s, g = gamma ? gamma[c] : 1.0;
                const double gd = dy[at] * g * act_grad(u, act); /* dL/du */
                dx[at] = alpha * gd + (dres ? dres[at] : 0.0);
                da += gd * x[at];
                ds += gd;
                dg += dy[at] * act_of(u, act);
                db += dy[at];
            }
        if (dgamma) dgamma[c] = dg;
        if (dbeta) dbeta[c] = db;
    }
    if (dalpha) *dalpha = da;
    if (dshift) *dshift = act == REF_ERF ? ds : 0.0;
}

/* ------------------------------------------------------ RMSNorm / LayerNorm */

/* mean (0 unless centered) and rstd of row x[0..C) */
static void row_stats(const double *x, int centered, double eps, int C, double *m, double *rs)
{
    double sum = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) sum += x[c];
    *m = centered ? sum / C : 0.0;
    for (int c = 0; c < C; c++) var += (x[c] - *m) * (x[c] - *m);
    *rs = 1.0 / sqrt(var / C + eps);
}

void ref_norm_forward(double *y, double *mean, double *rstd, const double *x, const double *w,
                      const double *b, int centered, double eps, int rows, int C)
{
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * C;
        double m, rs;
        row_stats(xr, centered, eps, C, &m, &rs);
        for (int c = 0; c < C; c++) y[(size_t)r * C + c] = (xr[c] - m) * rs * w[c] + (centered ? b[c] : 0.0);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
    }
}

void ref_norm_backward(double *dx, double *dw, double *db, const double *dy, const double *dres,
                       const double *x, const double *w, int centered, double eps, int rows, int C)
{
    for (int c = 0; c < C; c++) {
        if (dw) dw[c] = 0.0;
        if (db && centered) db[c] = 0.0;
    }
    for (int r = 0; r < rows; r++) {
        const size_t o = (size_t)r * C;
        double m, rs, mg = 0.0, mgx = 0.0; /* mean over the row of g and g * xhat */
        row_stats(x + o, centered, eps, C, &m, &rs);
        for (int c = 0; c < C; c++) {
            mg += dy[o + c] * w[c] / C;
            mgx += dy[o + c] * w[c] * (x[o + c] - m) * rs / C;
        }
        if (!centered) mg = 0.0;
        for (int c = 0; c < C; c++) {
            const double xh = (x[o + c] - m) * rs;
            dx[o + c] = rs * (dy[o + c] * w[c] - mg - xh * mgx) + (dres ? dres[o + c] : 0.0);
            if (dw) dw[c] += dy[o + c] * xh;
            if (db && centered) db[c] += dy[o + c];
        }
    }
}
