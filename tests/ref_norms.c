/* ref_norms.c -- float64 references of DyT, Derf, RMSNorm and LayerNorm. */
#include "ref_norms.h"

#include <math.h>
#include <stdlib.h>

static int channel(ref_shape s, size_t e)
{
    return s.channels_first ? (int)((e / (size_t)s.inner) % (size_t)s.C) : (int)(e % (size_t)s.C);
}

static double act_f(ref_act act, double u)
{
    return act == REF_DYT ? tanh(u) : erf(u);
}

/* d act / du */
static double act_d(ref_act act, double u)
{
    double t = tanh(u);
    return act == REF_DYT ? 1.0 - t * t : 1.1283791670955126 /* 2 / sqrt(pi) */ * exp(-u * u);
}

static double arg_u(ref_act act, double alpha, double shift, double x)
{
    return act == REF_DYT ? alpha * x : alpha * x + shift;
}

void ref_dyt_forward(ref_act act, ref_shape s, const double *x, double alpha, double shift,
                     const double *w, const double *b, double *y)
{
    for (size_t e = 0; e < s.n; e++) {
        int c = channel(s, e);
        y[e] = (w ? w[c] : 1.0) * act_f(act, arg_u(act, alpha, shift, x[e])) + (b ? b[c] : 0.0);
    }
}

void ref_dyt_backward(ref_act act, ref_shape s, const double *x, const double *dy, double alpha,
                      double shift, const double *w, double *dx, double *dalpha, double *dshift,
                      double *dw, double *db)
{
    double da = 0, ds = 0;
    for (int c = 0; c < s.C; c++) {
        if (dw) dw[c] = 0;
        if (db) db[c] = 0;
    }
    for (size_t e = 0; e < s.n; e++) {
        int c = channel(s, e);
        double u = arg_u(act, alpha, shift, x[e]);
        double gd = dy[e] * (w ? w[c] : 1.0) * act_d(act, u);
        if (dx) dx[e] = gd * alpha;
        da += gd * x[e];
        ds += gd;
        if (dw) dw[c] += dy[e] * act_f(act, u);
        if (db) db[c] += dy[e];
    }
    if (dalpha) *dalpha = da;
    if (dshift) *dshift = ds;
}

void ref_rmsnorm_forward(int rows, int C, const double *x, const double *w, double eps, double *y,
                         double *rstd)
{
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * C;
        double ss = 0;
        for (int c = 0; c < C; c++) ss += xr[c] * xr[c];
        double rs = 1.0 / sqrt(ss / C + eps);
        if (rstd) rstd[r] = rs;
        for (int c = 0; c < C; c++) y[(size_t)r * C + c] = xr[c] * rs * (w ? w[c] : 1.0);
    }
}

void ref_rmsnorm_backward(int rows, int C, const double *x, const double *w, const double *dy,
                          double eps, double *dx, double *dw)
{
    if (dw)
        for (int c = 0; c < C; c++) dw[c] = 0;
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * C, *gr = dy + (size_t)r * C;
        double ss = 0, dot = 0;
        for (int c = 0; c < C; c++) ss += xr[c] * xr[c];
        double rs = 1.0 / sqrt(ss / C + eps);
        for (int c = 0; c < C; c++) dot += gr[c] * (w ? w[c] : 1.0) * xr[c];
        for (int c = 0; c < C; c++) {
            double g = gr[c] * (w ? w[c] : 1.0);
            if (dx) dx[(size_t)r * C + c] = rs * g - xr[c] * rs * rs * rs * dot / C;
            if (dw) dw[c] += gr[c] * xr[c] * rs;
        }
    }
}

void ref_layernorm_forward(int rows, int C, const double *x, const double *w, const double *b,
                           double eps, double *y, double *mean, double *rstd)
{
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += xr[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
        double rs = 1.0 / sqrt(v / C + eps);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
        for (int c = 0; c < C; c++)
            y[(size_t)r * C + c] = (xr[c] - m) * rs * (w ? w[c] : 1.0) + (b ? b[c] : 0.0);
    }
}

void ref_layernorm_backward(int rows, int C, const double *x, const double *w, const double *dy,
                            double eps, double *dx, double *dw, double *db)
{
    for (int c = 0; c < C; c++) {
        if (dw) dw[c] = 0;
        if (db) db[c] = 0;
    }
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * C, *gr = dy + (size_t)r * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += xr[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
        double rs = 1.0 / sqrt(v / C + eps);
        double mg = 0, mgx = 0; /* means of g and g * xhat */
        for (int c = 0; c < C; c++) {
            double g = gr[c] * (w ? w[c] : 1.0), xh = (xr[c] - m) * rs;
            mg += g;
            mgx += g * xh;
        }
        mg /= C, mgx /= C;
        for (int c = 0; c < C; c++) {
            double g = gr[c] * (w ? w[c] : 1.0), xh = (xr[c] - m) * rs;
            if (dx) dx[(size_t)r * C + c] = rs * (g - mg - xh * mgx);
            if (dw) dw[c] += gr[c] * xh;
            if (db) db[c] += gr[c];
        }
    }
}
