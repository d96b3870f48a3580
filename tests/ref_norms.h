/* ref_norms.h -- float64 CPU references of the normalisation layers, the
 * standard the OpenCL kernels are checked against. Plain loops, no tricks.
 *
 * Elements e = 0..n-1 of x belong to channel
 *   channels last:  e % C                 (x is [rows, C])
 *   channels first: (e / inner) % C       (x is [N, C, inner])
 * Absent parameters (w, b NULL) mean w = 1, b = 0; absent gradients are not
 * computed. */
#ifndef DYTCL_REF_NORMS_H
#define DYTCL_REF_NORMS_H

#include <stddef.h>

typedef enum { REF_DYT, REF_DERF } ref_act;

typedef struct {
    size_t n;        /* elements */
    int C, inner;    /* inner: elements per (n, c) row when channels first */
    int channels_first;
} ref_shape;

/* y = w[c] * act(alpha * x (+ shift)) + b[c] */
void ref_dyt_forward(ref_act act, ref_shape s, const double *x, double alpha, double shift,
                     const double *w, const double *b, double *y);
/* dx = dy * w * alpha * act'; dalpha, dshift: sums over all elements;
 * dw, db: per channel. */
void ref_dyt_backward(ref_act act, ref_shape s, const double *x, const double *dy, double alpha,
                      double shift, const double *w, double *dx, double *dalpha, double *dshift,
                      double *dw, double *db);

/* x, y: [rows, C]; rstd (and mean): [rows]. */
void ref_rmsnorm_forward(int rows, int C, const double *x, const double *w, double eps, double *y,
                         double *rstd);
void ref_rmsnorm_backward(int rows, int C, const double *x, const double *w, const double *dy,
                          double eps, double *dx, double *dw);
void ref_layernorm_forward(int rows, int C, const double *x, const double *w, const double *b,
                           double eps, double *y, double *mean, double *rstd);
void ref_layernorm_backward(int rows, int C, const double *x, const double *w, const double *dy,
                            double eps, double *dx, double *dw, double *db);

#endif
