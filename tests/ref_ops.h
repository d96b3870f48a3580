/* ref_ops.h -- float64 CPU references for the activations, RoPE,
 * cross-entropy, embeddings and AdamW (test_ops.c). Row-major throughout. */
#ifndef DYTCL_REF_OPS_H
#define DYTCL_REF_OPS_H

/* GELU (tanh form) and its derivative; silu(a) = a sigmoid(a). */
double ref_gelu(double x);
double ref_gelu_grad(double x);
double ref_silu(double a);

/* SwiGLU y = silu(a) b and its gradients, n elements. */
void ref_swiglu(int n, const double *a, const double *b, double *y);
void ref_swiglu_backward(int n, const double *a, const double *b, const double *dy, double *da, double *db);

/* RoPE on x [B, T, H, D], interleaved pairs, positions t + off; sign +1
 * forward, -1 backward. */
void ref_rope(int B, int T, int H, int D, int off, double theta, double sign, const double *x, double *y);

/* loss [rows] (0 for target -1) and, when dz is not NULL, dz = scale *
 * (softmax - onehot) (0 for ignored rows). */
void ref_ce(int rows, int V, const double *z, const int *t, double scale, double *loss, double *dz);
/* The same against smoothed targets (1 - e) onehot + e / V. */
void ref_ce_smoothed(int rows, int V, const double *z, const int *t, double e, double scale, double *loss, double *dz);

/* out [rows, C] = wte[tok] (+ wpe[r % T] when wpe); NaN rows for ids
 * outside [0, V). dwte, dwpe are added into (zero them to overwrite). */
void ref_embed(int rows, int T, int V, int C, const int *tok, const double *wte, const double *wpe, double *out);
void ref_embed_backward(int rows, int T, int V, int C, const int *tok, const double *dout, double *dwte,
                        double *dwpe);

/* One AdamW step on n parameters, g already scaled; mask NULL = all decay. */
void ref_adamw(int n, double *p, const double *g, double *m, double *v, const double *mask, double lr, double b1,
               double b2, double eps, double wd, int step);

#endif
