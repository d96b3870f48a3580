/* act.cl -- GELU (tanh form), SwiGLU and rotary position embeddings.
 *
 * Elementwise kernels come twice, as in dyt.cl: NAME without a bounds check
 * for whole work-groups, NAME_tail with one for the rest (PoCL vectorises
 * only the former). NDRange 1-D over n elements unless stated. */

#define GUARDED(out_of_range) if (out_of_range) return;
#define UNGUARDED(out_of_range)

#define GELU_K 0.7978845608f /* sqrt(2 / pi) */
#define GELU_C 0.044715f

/* y = 0.5 x (1 + tanh(k (x + c x^3))) */
#define DEFINE_GELU_FORWARD(NAME, GUARD)                                                       \
__kernel void NAME(__global float *y, const int y_off, __global const float *x, const int x_off, \
                   const int n)                                                                \
{                                                                                              \
    const int i = get_global_id(0);                                                            \
    GUARD(i >= n)                                                                              \
    const float v = x[x_off + i];                                                              \
    const float t = dy_tanh(GELU_K * fma(GELU_C * v, v * v, v));                               \
    y[y_off + i] = 0.5f * v * (1.0f + t);                                                      \
}
DEFINE_GELU_FORWARD(gelu_forward, UNGUARDED)
DEFINE_GELU_FORWARD(gelu_forward_tail, GUARDED)

/* dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3c x^2)); dx may alias dy */
#define DEFINE_GELU_BACKWARD(NAME, GUARD)                                                      \
__kernel void NAME(__global float *dx, const int dx_off, __global const float *dy, const int dy_off, \
                   __global const float *x, const int x_off, const int n)                      \
{                                                                                              \
    const int i = get_global_id(0);                                                            \
    GUARD(i >= n)                                                                              \
    const float v = x[x_off + i];                                                              \
    const float t = dy_tanh(GELU_K * fma(GELU_C * v, v * v, v));                               \
    const float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_K * fma(3.0f * GELU_C, v * v, 1.0f); \
    dx[dx_off + i] = dy[dy_off + i] * d;                                                       \
}
DEFINE_GELU_BACKWARD(gelu_backward, UNGUARDED)
DEFINE_GELU_BACKWARD(gelu_backward_tail, GUARDED)

/* SwiGLU: y = silu(a) * b, silu(a) = a * sigmoid(a). */
#define DEFINE_SWIGLU_FORWARD(NAME, GUARD)                                                     \
__kernel void NAME(__global float *y, const int y_off, __global const float *a, const int a_off, \
                   __global const float *b, const int b_off, const int n)                      \
{                                                                                              \
    const int i = get_global_id(0);                                                            \
    GUARD(i >= n)                                                                              \
    const float av = a[a_off + i], s = 1.0f / (1.0f + exp(-av));                               \
    y[y_off + i] = av * s * b[b_off + i];                                                      \
}
DEFINE_SWIGLU_FORWARD(swiglu_forward, UNGUARDED)
DEFINE_SWIGLU_FORWARD(swiglu_forward_tail, GUARDED)

/* da = dy * b * s (1 + a (1 - s)),  db = dy * a * s */
#define DEFINE_SWIGLU_BACKWARD(NAME, GUARD)                                                    \
__kernel void NAME(__global float *da, const int da_off, __global float *db, const int db_off, \
                   __global const float *dy, const int dy_off, __global const float *a,       \
                   const int a_off, __global const float *b, const int b_off, const int n)     \
{                                                                                              \
    const int i = get_global_id(0);                                                            \
    GUARD(i >= n)                                                                              \
    const float av = a[a_off + i], bv = b[b_off + i], g = dy[dy_off + i];                      \
    const float s = 1.0f / (1.0f + exp(-av));                                                  \
    da[da_off + i] = g * bv * s * fma(av, 1.0f - s, 1.0f);                                     \
    db[db_off + i] = g * av * s;                                                               \
}
DEFINE_SWIGLU_BACKWARD(swiglu_backward, UNGUARDED)
DEFINE_SWIGLU_BACKWARD(swiglu_backward_tail, GUARDED)

/* RoPE on x [B, T, H, D]: in each head, the pair (x[2i], x[2i+1]) at
 * position p = t + pos_offset turns by p * theta^(-2i/D); sign = -1 turns
 * back (the backward pass). y may alias x.
 * NDRange 2-D: global (D/2, B*T*H), any local size (checked). */
__kernel void rope(__global float *y, const int y_off, __global const float *x, const int x_off,
                   const int T, const int H, const int D, const int pos_offset, const float log2_theta,
                   const float sign)
{
    const int i = get_global_id(0), row = get_global_id(1);
    if (i >= D / 2) return;
    const int pos = (row / H) % T + pos_offset;
    const float angle = (float)pos * exp2(-2.0f * i / D * log2_theta);
    float c;
    const float s = sincos(angle, &c) * sign;
    const int at = row * D + 2 * i;
    const float x0 = x[x_off + at], x1 = x[x_off + at + 1];
    y[y_off + at] = x0 * c - x1 * s;
    y[y_off + at + 1] = x0 * s + x1 * c;
}
