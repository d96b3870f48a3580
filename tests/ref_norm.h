/* ref_norm.h -- float64 CPU references for cl/norm.cl: DyT, Derf, RMSNorm,
 * LayerNorm, forward and backward. Plain loops, written for clarity.
 *
 * DyT and Derf view a tensor as [N, C, inner] with the channel in the middle:
 * channels last [rows, C] is (N = rows, inner = 1), channels first
 * [N, C, H*W] is (inner = H*W). The norms are channels last, [rows, C].
 * The fused residual ops are compositions: forward ref_add then the op;
 * backward the op with dres (the residual stream's gradient) added to dx.
 * Pointers marked "may be NULL" are optional.
 */
#ifndef REF_NORM_H
#define REF_NORM_H

enum { REF_TANH = 0, REF_ERF = 1 };

/* out[i] = a[i] + b[i], i < n */
void ref_add(double *out, const double *a, const double *b, int n);

/* y = gamma[c] * act(alpha * x + shift) + beta[c]; act = tanh (REF_TANH, DyT,
 * shift ignored) or erf (REF_ERF, Derf). x, y: [N, C, inner]; gamma, beta:
 * [C], may be NULL (1 and 0). */
void ref_dyt_forward(double *y, const double *x, double alpha, double shift, const double *gamma,
                     const double *beta, int act, int N, int C, int inner);

/* Gradients of ref_dyt_forward given dy: [N, C, inner]. Writes dx (plus
 * dres when dres is not NULL), dalpha[0], dshift[0], dgamma[C], dbeta[C]
 * (outputs other than dx may be NULL). */
void ref_dyt_backward(double *dx, double *dalpha, double *dshift, double *dgamma, double *dbeta,
                      const double *dy, const double *dres, const double *x, double alpha, double shift,
                      const double *gamma, int act, int N, int C, int inner);

/* centered = 0, RMSNorm: y = x * rstd * w[c], rstd = 1/sqrt(mean(x^2) + eps).
 * centered = 1, LayerNorm: y = (x - mean) * rstd * w[c] + b[c],
 * rstd = 1/sqrt(var(x) + eps). x, y: [rows, C]; w, b: [C] (b unused by
 * RMSNorm); mean, rstd: [rows], may be NULL (mean is 0 for RMSNorm). */
void ref_norm_forward(double *y, double *mean, double *rstd, const double *x, const double *w,
                      const double *b, int centered, double eps, int rows, int C);

/* Gradients of ref_norm_forward given dy: [rows, C], recomputing mean and
 * rstd from x. Writes dx (plus dres when not NULL), dw[C], db[C] (db only
 * when centered; dw, db may be NULL). */
void ref_norm_backward(double *dx, double *dw, double *db, const double *dy, const double *dres,
                       const double *x, const double *w, int centered, double eps, int rows, int C);

#endif
