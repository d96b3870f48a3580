/* ref_linear.h -- float64 CPU references for GEMM and linear layers, and
 * central finite differences of the linear forward (test_linear.c). All
 * matrices are row-major. */
#ifndef DYTCL_REF_LINEAR_H
#define DYTCL_REF_LINEAR_H

/* C [M, N] = alpha op(A) op(B) + beta C; A is [M, K] ([K, M] when ta), B is
 * [K, N] ([N, K] when tb). beta = 0 overwrites C (NaN there does not leak). */
void ref_gemm(int ta, int tb, int M, int N, int K, double alpha, const double *A, const double *B, double beta,
              double *C);

/* y [rows, out] = x [rows, in] W^T + b; W [out, in]; b [out] or NULL. */
void ref_linear_forward(int rows, int in, int out, const double *x, const double *W, const double *b, double *y);

/* dx = dy W, dW = dy^T x, db = column sums of dy (overwritten). */
void ref_linear_backward(int rows, int in, int out, const double *x, const double *W, const double *dy, double *dx,
                         double *dW, double *db);

/* The same gradients by central differences (step h) of L = sum(y * dy),
 * y from ref_linear_forward. x, W, b are perturbed and restored. */
void ref_linear_fd(int rows, int in, int out, double *x, double *W, double *b, const double *dy, double h,
                   double *dx, double *dW, double *db);

#endif
