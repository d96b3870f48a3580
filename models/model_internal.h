/* model_internal.h -- the model's struct, shared by model.c (buffers,
 * parameters, optimiser), model_pass.c (forward and backward) and
 * model_infer.c (KV-cache decoding). */
#ifndef DYTCL_MODEL_INTERNAL_H
#define DYTCL_MODEL_INTERNAL_H

#include "dytcl_model.h"

#define NONE ((size_t)-1)
#define LOSS_SLOTS 64

/* Offsets (in floats) of one norm's parameters; NONE when absent. */
typedef struct {
    size_t alpha, shift, weight, bias;
} norm_off;

/* Offsets of one layer's parameters (biases NONE in llama; fc is gate_up
 * and out is down in llama). */
typedef struct {
    norm_off n1, n2;
    size_t qkv_w, qkv_b, proj_w, proj_b, fc_w, fc_b, out_w, out_b;
} layer_off;

/* Offsets (in floats) of the activations in the one activation buffer, for
 * B, T. Per-layer arrays start at the offset and step by the size. */
typedef struct {
    size_t res;       /* [L+1][BT, C]  residual stream entering layer l; res[L] enters normf */
    size_t mid;       /* [L][BT, C]    residual stream after attention */
    size_t emb;       /* [BT, C]       embedding before emb_scale (llama dyt/derf) */
    size_t ln1, ln2;  /* [L][BT, C]    norm outputs */
    size_t mean1, rstd1, mean2, rstd2; /* [L][BT] norm statistics */
    size_t q, k, v;   /* [L][B, H, T, D] (llama: after RoPE) */
    size_t o;         /* [L][B, H, T, D] attention output */
    size_t lse;       /* [L][B, H, T] */
    size_t atty;      /* [L][BT, C]    heads merged */
    size_t fch;       /* [L][BT, F2]   F2 = F (gpt) or 2F (llama, gate | up) */
    size_t fcact;     /* [L][BT, F]    gelu / swiglu output */
    size_t lnf, meanf, rstdf; /* [BT, C], [BT], [BT] */
    size_t logits;    /* [BT, V]  (dlogits in place in the backward) */
    size_t losses;    /* [BT] */
    /* scratch, reused across layers */
    size_t h;         /* [BT, C]   a branch output before its residual add / datty */
    size_t qkv;       /* [BT, 3C]  qkv, then dqkv */
    size_t dres;      /* [BT, C] */
    size_t dln;       /* [BT, C] */
    size_t dq, dk, dv, dout; /* [B, H, T, D] */
    size_t dfch;      /* [BT, F2] */
    size_t dfcact;    /* [BT, F] */
    size_t total;
} act_off;

struct dytcl_model {
    dytcl_ctx *ctx;
    dytcl_model_config c;
    int C, H, D, F, F2, V, L;
    dytcl_model_tensor *tab;
    int ntab;
    size_t n;                     /* parameter count */
    size_t wte, wpe, emb_scale, lm_head, lm_head_b;
    norm_off nf;
    layer_off *layer;
    dytcl_buf *params, *grads, *m, *v, *mask; /* [n] each */
    int mask_decay_norm;          /* which mask is in `mask` (-1: none yet) */
    dytcl_buf *stats;             /* [2 + LOSS_SLOTS]: grad norm, clip scale, losses */
    int slot;                     /* the next loss slot */
    int B, T, valid;              /* batch shape; targets not ignored in the last forward */
    int has_targets;
    act_off a;
    dytcl_buf *acts;              /* [a.total] */
    dytcl_buf *io;                /* int32 tokens [BT], targets [BT] */
    /* inference (model_infer.c) */
    dytcl_buf *kv;                /* [L][2][H, max_seq, D] for batch 1 */
    dytcl_buf *wh;                /* [n] the parameters rounded to wdtype (f16 / bf16), or NULL:
                                     the linear layers' weights the forward reads */
    dytcl_dtype wdtype;
    int profile_norms;            /* time each norm call (benchmarks) */
    double norm_ns;
};

/* Rounds the parameters into m->wh again (after they changed); nothing
 * when the model holds no half-width copy (model_infer.c). */
dytcl_status model_refresh_half(dytcl_model *m);
/* DYTCL_ERR_INVALID_ARG naming fn when m holds half-width weights (training
 * needs the float32 ones alone). */
dytcl_status model_refuse_half(dytcl_model *m, const char *fn);

/* Views. at(b, off, n): a 1-D view, absent (.buf NULL) when off is NONE. */
dytcl_tensor at(dytcl_buf *b, size_t off, int64_t n);
dytcl_tensor at2(dytcl_buf *b, size_t off, int64_t rows, int64_t cols);
dytcl_tensor at4(dytcl_buf *b, size_t off, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* Errors go where the ops' go: the context's last error (host/error.c's
 * dy_fail, the one internal call the models make; ctx NULL: this thread's
 * message), so that dytcl_last_error(ctx) names what failed either way. */
dytcl_status dy_fail(dytcl_ctx *ctx, dytcl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Prefixes the library's last error on m's context with `what` (when s is
 * not OK) and returns s. */
dytcl_status lib_fail(dytcl_model *m, dytcl_status s, const char *what);
/* DYTCL_ERR_INVALID_ARG with "fn: an argument is NULL or out of range" on
 * m's context (m NULL: this thread's message). */
dytcl_status model_bad_arg(const dytcl_model *m, const char *fn);
/* Sets the message on m's context and returns s. */
dytcl_status model_fail(dytcl_model *m, dytcl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
