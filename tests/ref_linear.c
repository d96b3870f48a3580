/* ref_linear.c -- float64 references for test_linear.c (see ref_linear.h). */
#include <stdlib.h>

#include "ref_linear.h"

void ref_gemm(int ta, int tb, int M, int N, int K, double alpha, const double *A, const double *B, double beta,
              double *C)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                double b = tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                s += a * b;
            }
            double *c = &C[(size_t)i * N + j];
            *c = alpha * s + (beta != 0 ? beta * *c : 0);
        }
}

void ref_linear_forward(int rows, int in, int out, const double *x, const double *W, const double *b, double *y)
{
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < in; i++) s += x[(size_t)r * in + i] * W[(size_t)o * in + i];
            y[(size_t)r * out + o] = s;
        }
}

void ref_linear_backward(int rows, int in, int out, const double *x, const double *W, const double *dy, double *dx,
                         double *dW, double *db)
{
    for (size_t i = 0; i < (size_t)rows * in; i++) dx[i] = 0;
    for (size_t i = 0; i < (size_t)out * in; i++) dW[i] = 0;
    for (int o = 0; o < out; o++) db[o] = 0;
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            const double g = dy[(size_t)r * out + o];
            db[o] += g;
            for (int i = 0; i < in; i++) {
                dx[(size_t)r * in + i] += g * W[(size_t)o * in + i];
                dW[(size_t)o * in + i] += g * x[(size_t)r * in + i];
            }
        }
}

/* L = sum(y * dy) for the current x, W, b. */
static double loss(int rows, int in, int out, const double *x, const double *W, const double *b, const double *dy,
                   double *y)
{
    ref_linear_forward(rows, in, out, x, W, b, y);
    double l = 0;
    for (size_t i = 0; i < (size_t)rows * out; i++) l += y[i] * dy[i];
    return l;
}

/* d L / d v[i] for every i < n, by (L(v + h) - L(v - h)) / 2h. */
static void fd_of(int rows, int in, int out, double *x, double *W, double *b, const double *dy, double h, double *v,
                  size_t n, double *grad, double *y)
{
    for (size_t i = 0; i < n; i++) {
        const double keep = v[i];
        v[i] = keep + h;
        const double lp = loss(rows, in, out, x, W, b, dy, y);
        v[i] = keep - h;
        const double lm = loss(rows, in, out, x, W, b, dy, y);
        v[i] = keep;
        grad[i] = (lp - lm) / (2 * h);
    }
}

void ref_linear_fd(int rows, int in, int out, double *x, double *W, double *b, const double *dy, double h,
                   double *dx, double *dW, double *db)
{
    double *y = malloc(sizeof(double) * (size_t)rows * out);
    fd_of(rows, in, out, x, W, b, dy, h, x, (size_t)rows * in, dx, y);
    fd_of(rows, in, out, x, W, b, dy, h, W, (size_t)out * in, dW, y);
    if (b) fd_of(rows, in, out, x, W, b, dy, h, b, (size_t)out, db, y);
    free(y);
}
