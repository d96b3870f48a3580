/* ref_ops.c -- float64 references for test_ops.c (see ref_ops.h). */
#include "ref_ops.h"

#include <math.h>
#include <stddef.h>

#define GELU_K 0.7978845608028654 /* sqrt(2 / pi) */
#define GELU_C 0.044715

double ref_gelu(double x)
{
    return 0.5 * x * (1 + tanh(GELU_K * (x + GELU_C * x * x * x)));
}

double ref_gelu_grad(double x)
{
    double t = tanh(GELU_K * (x + GELU_C * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * x * x);
}

double ref_silu(double a)
{
    return a / (1 + exp(-a));
}

void ref_swiglu(int n, const double *a, const double *b, double *y)
{
    for (int i = 0; i < n; i++) y[i] = ref_silu(a[i]) * b[i];
}

void ref_swiglu_backward(int n, const double *a, const double *b, const double *dy, double *da, double *db)
{
    for (int i = 0; i < n; i++) {
        double s = 1 / (1 + exp(-a[i]));
        da[i] = dy[i] * b[i] * s * (1 + a[i] * (1 - s));
        db[i] = dy[i] * a[i] * s;
    }
}

void ref_rope(int B, int T, int H, int D, int off, double theta, double sign, const double *x, double *y)
{
    for (int row = 0; row < B * T * H; row++) {
        int pos = (row / H) % T + off;
        for (int i = 0; i < D / 2; i++) {
            double ang = pos * pow(theta, -2.0 * i / D), c = cos(ang), s = sin(ang) * sign;
            double x0 = x[(size_t)row * D + 2 * i], x1 = x[(size_t)row * D + 2 * i + 1];
            y[(size_t)row * D + 2 * i] = x0 * c - x1 * s;
            y[(size_t)row * D + 2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

void ref_ce(int rows, int V, const double *z, const int *t, double scale, double *loss, double *dz)
{
    ref_ce_smoothed(rows, V, z, t, 0.0, scale, loss, dz);
}

void ref_ce_smoothed(int rows, int V, const double *z, const int *t, double e, double scale, double *loss, double *dz)
{
    for (int r = 0; r < rows; r++) {
        const double *zr = z + (size_t)r * V;
        double m = -INFINITY, sum = 0, l = 0;
        for (int v = 0; v < V; v++) m = fmax(m, zr[v]);
        for (int v = 0; v < V; v++) sum += exp(zr[v] - m);
        /* -sum_v q[v] log softmax[v], q = (1 - e) onehot + e / V */
        for (int v = 0; t[r] >= 0 && v < V; v++) l += ((1 - e) * (v == t[r]) + e / V) * (log(sum) + m - zr[v]);
        loss[r] = t[r] < 0 ? 0 : l;
        if (dz)
            for (int v = 0; v < V; v++)
                dz[(size_t)r * V + v] =
                    t[r] < 0 ? 0 : scale * (exp(zr[v] - m) / sum - ((1 - e) * (v == t[r]) + e / V));
    }
}

void ref_embed(int rows, int T, int V, int C, const int *tok, const double *wte, const double *wpe, double *out)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            int ok = tok[r] >= 0 && tok[r] < V;
            out[(size_t)r * C + c] = ok ? wte[(size_t)tok[r] * C + c] + (wpe ? wpe[(size_t)(r % T) * C + c] : 0) : NAN;
        }
}

void ref_embed_backward(int rows, int T, int V, int C, const int *tok, const double *dout, double *dwte,
                        double *dwpe)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            if (tok[r] >= 0 && tok[r] < V) dwte[(size_t)tok[r] * C + c] += dout[(size_t)r * C + c];
            if (dwpe) dwpe[(size_t)(r % T) * C + c] += dout[(size_t)r * C + c];
        }
}

void ref_adamw(int n, double *p, const double *g, double *m, double *v, const double *mask, double lr, double b1,
               double b2, double eps, double wd, int step)
{
    double c1 = 1 / (1 - pow(b1, step)), c2 = 1 / (1 - pow(b2, step));
    for (int i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= lr * (m[i] * c1 / (sqrt(v[i] * c2) + eps) + wd * (mask ? mask[i] : 1) * p[i]);
    }
}
