/* act.cl -- GELU (tanh form), SwiGLU and rotary position embeddings.
 *
 * Elementwise kernels come twice, as in dyt.cl: NAME without a bounds check
 * for whole work-groups, NAME_tail with one for the rest (PoCL vectorises
 * only the former). NDRange 1-D over n elements unless stated.
 *
 * Storage: every tensor here is DT (LOAD / STORE, cl/common.cl), f32, f16
 * or bf16 by the program's build; the math is float, rounded once at the
 * store. */

#define GUARDED(out_of_range) if (out_of_range) return;
#define UNGUARDED(out_of_range)

#define GELU_K 0.7978845608f /* sqrt(2 / pi) */
#define GELU_C 0.044715f

/* y = 0.5 x (1 + tanh(k (x + c x^3))) */
#define DEFINE_GELU_FORWARD(NAME, GUARD)                                                       \
__kernel void NAME(__global DT *y, const int y_off, __global const DT *x, const int x_off,    \
                   const int n)                                                                \
{                                                                                              \
    const int i = get_global_id(0);                                                            \
    GUARD(i >= n)                                                                              \
    const float v = LOAD(x, x_off + i);                                                        \
    const float t = dy_tanh(GELU_K * fma(GELU_C * v, v * v, v));                               \
    STORE(y, y_off + i, 0.5f * v * (1.0f + t));                                                \
}
DEFINE_GELU_FORWARD(gelu_forward, UNGUARDED)
DEFINE_GELU_FORWARD(gelu_forward_tail, GUARDED)

/* dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3c x^2)); dx may alias dy */
#define DEFINE_GELU_BACKWARD(NAME, GUARD)                                                      \
__kernel void NAME(__global DT *dx, const int dx_off, __global const DT *dy, const int dy_off, \
                   __global const DT *x, const int x_off, const int n)                         \
{                                                                                              \
    const int i = get_global_id(0);                                                            \
    GUARD(i >= n)                                                                              \
    const float v = LOAD(x, x_off + i);                                                        \
    const float t = dy_tanh(GELU_K * fma(GELU_C * v, v * v, v));                               \
    const float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_K * fma(3.0f * GELU_C, v * v, 1.0f); \
    STORE(dx, dx_off + i, LOAD(dy, dy_off + i) * d);                                           \
}
DEFINE_GELU_BACKWARD(gelu_backward, UNGUARDED)
DEFINE_GELU_BACKWARD(gelu_backward_tail, GUARDED)

/* SwiGLU: y = silu(a) * b, silu(a) = a * sigmoid(a), on [rows, H] views with
 * row strides (in elements), so that a and b may be the two halves of one
 * [rows, 2H] tensor (a = ab[:, :H], b = ab[:, H:], both with stride 2H).
 * NDRange 2-D: global (H, rows), local (L, 1); NAME has no bounds check in
 * dimension 0 (whole work-groups), NAME_tail has one. */
#define DEFINE_SWIGLU_FORWARD(NAME, GUARD)                                                     \
__kernel void NAME(__global DT *y, const int y_off, const int y_ld, __global const DT *a,      \
                   const int a_off, const int a_ld, __global const DT *b, const int b_off,     \
                   const int b_ld, const int H)                                                \
{                                                                                              \
    const int c = get_global_id(0), r = get_global_id(1);                                     \
    GUARD(c >= H)                                                                              \
    const float av = LOAD(a, a_off + r * a_ld + c), s = 1.0f / (1.0f + exp(-av));              \
    STORE(y, y_off + r * y_ld + c, av * s * LOAD(b, b_off + r * b_ld + c));                    \
}
DEFINE_SWIGLU_FORWARD(swiglu_forward, UNGUARDED)
DEFINE_SWIGLU_FORWARD(swiglu_forward_tail, GUARDED)

/* da = dy * b * s (1 + a (1 - s)),  db = dy * a * s   (s = sigmoid(a));
 * da, db may alias a, b (each element is read before it is written). */
#define DEFINE_SWIGLU_BACKWARD(NAME, GUARD)                                                    \
__kernel void NAME(__global DT *da, const int da_off, const int da_ld, __global DT *db,        \
                   const int db_off, const int db_ld, __global const DT *dy, const int dy_off, \
                   const int dy_ld, __global const DT *a, const int a_off, const int a_ld,     \
                   __global const DT *b, const int b_off, const int b_ld, const int H)        \
{                                                                                              \
    const int c = get_global_id(0), r = get_global_id(1);                                     \
    GUARD(c >= H)                                                                              \
    const float av = LOAD(a, a_off + r * a_ld + c), bv = LOAD(b, b_off + r * b_ld + c);        \
    const float g = LOAD(dy, dy_off + r * dy_ld + c);                                          \
    const float s = 1.0f / (1.0f + exp(-av));                                                  \
    STORE(da, da_off + r * da_ld + c, g * bv * s * fma(av, 1.0f - s, 1.0f));                   \
    STORE(db, db_off + r * db_ld + c, g * av * s);                                             \
}
DEFINE_SWIGLU_BACKWARD(swiglu_backward, UNGUARDED)
DEFINE_SWIGLU_BACKWARD(swiglu_backward_tail, GUARDED)

/* RoPE on x [B, T, H, D]: in each head, the pair (x[2i], x[2i+1]) at
 * position p = t + pos_offset turns by the angle p * theta^(-2i/D); sign = -1
 * turns back (the backward pass). y may alias x.
 * The angles' cosines and sines come from a table the host computes in double
 * precision, cs [n, D/2, 2] for positions base .. base + n - 1 (base <= p):
 * no sin/cos in the kernel (their argument reduction cost more than the rest
 * of the op on CPUs). A work-item owns one pair index i at one (b, t) and
 * turns it in all H heads. NDRange 2-D: global (D/2, B*T), any local size. */
__kernel void rope(__global DT *y, const int y_off, __global const DT *x, const int x_off,
                   __global const float *cs, const int T, const int H, const int D, const int pos_offset,
                   const int base, const float sign, const int BT)
{
    const int i = get_global_id(0), bt = get_global_id(1);
    if (i >= D / 2 || bt >= BT) return;
    const int at_cs = 2 * ((bt % T + pos_offset - base) * (D / 2) + i);
    const float c = cs[at_cs], s = cs[at_cs + 1] * sign;
    for (int h = 0; h < H; h++) {
        const int at = (bt * H + h) * D + 2 * i;
        const float x0 = LOAD(x, x_off + at), x1 = LOAD(x, x_off + at + 1);
        STORE(y, y_off + at, x0 * c - x1 * s);
        STORE(y, y_off + at + 1, x0 * s + x1 * c);
    }
}
