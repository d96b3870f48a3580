/* model_internal.h -- the model's struct, shared by model.c (buffers,
 * parameters, optimiser), block.c (the transformer block, forward and
 * backward), model_pass.c (the language models' front end and head),
 * model_image.c (the ViT's) and model_infer.c (KV-cache decoding). */
#ifndef DYTCL_MODEL_INTERNAL_H
#define DYTCL_MODEL_INTERNAL_H

#include "dytcl_model.h"
#include "dytcl_model_experimental.h"

#define NONE ((size_t)-1)
#define LOSS_SLOTS 64

/* Offsets (in floats) of one norm's parameters; NONE when absent. */
typedef struct {
    size_t alpha, shift, weight, bias;
    int as; /* -1: the model's norm kind; else a dytcl_norm_kind this norm runs as
               on its weight (and bias) while the model is converted (model_convert.c) */
} norm_off;

/* Offsets of one layer's parameters (biases NONE in llama; fc is gate_up
 * and out is down in llama, fc1 and fc2 in vit). */
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
    size_t patches;   /* vit: [B, N, P]  P = ch p p */
    size_t table;     /* vit: [NV, C]    NV = cls + B N: the class token, then the patch embeddings */
    size_t sel;       /* vit: [T]        pooling weights: e0 (cls) or 1/T (mean) */
    size_t pooled;    /* vit: [B, C] */
    size_t ln1, ln2;  /* [L][BT, C]    norm outputs */
    size_t mean1, rstd1, mean2, rstd2; /* [L][BT] norm statistics */
    size_t q, k, v;   /* [L][B, H, T, D] (llama: after RoPE); k, v [L][B, Hk, T, D] */
    size_t o;         /* [L][B, H, T, D] attention output */
    size_t lse;       /* [L][B, H, T] */
    size_t atty;      /* [L][BT, C]    heads merged */
    size_t fch;       /* [L][BT, F2]   F2 = F (gpt) or 2F (llama, gate | up) */
    size_t fcact;     /* [L][BT, F]    gelu / swiglu output */
    size_t lnf, meanf, rstdf; /* [BT, C], [BT], [BT] */
    size_t logits;    /* [BT, V] (vit: [B, K])  (dlogits in place in the backward) */
    size_t losses;    /* [BT] (vit: [B]) */
    /* scratch, reused across layers */
    size_t h;         /* [BT, C]   a branch output before its residual add / datty */
    size_t qkv;       /* [BT, C3]  qkv, then dqkv */
    size_t dres;      /* [BT, C] */
    size_t dln;       /* [BT, C] */
    size_t dq, dk, dv, dout; /* [B, H, T, D]; dk, dv [B, Hk, T, D] */
    size_t dfch;      /* [BT, F2] */
    size_t dfcact;    /* [BT, F] */
    size_t dtable;    /* vit: [NV, C] */
    size_t dpooled;   /* vit: [B, C] */
    size_t dpmask;    /* vit: [L][2][B]  stochastic depth's factor per block, branch (attention,
                         MLP) and image: 0 or 1 / (1 - p_l) */
    size_t total;
} act_off;

/* What the block is, set from the arch when the model is made: the
 * transformer core's parameters (the norm kind is c.norm). */
typedef struct {
    int causal;   /* 1: causal attention (gpt, llama); 0: bidirectional (vit) */
    int rope;     /* 1: RoPE on q and k (llama); 0: the front end adds learned positions */
    int swiglu;   /* 1: SwiGLU MLP, gate | up packed in [BT, 2F] (llama); 0: GELU, [BT, F] */
    int bias;     /* 1: the linear layers and norms have biases (gpt, vit) */
    int kv_heads; /* key and value heads: H, or fewer (grouped-query attention: n_kv_head) */
    int attn_bias, mlp_bias; /* biases on the attention's / the MLP's linear layers (gpt, vit: 1) */
} dy_block_kind;

/* The block kind of a config (model_params.c). */
dy_block_kind dy_block_kind_of(const dytcl_model_config *c);

/* What the model's calls have computed so far, for the call-order checks
 * (model_gate.c). */
typedef struct {
    int ran;      /* a forward pass filled the activations at this batch shape */
    int logits;   /* the activations hold the last forward's logits (backward consumes them) */
    int targets;  /* the last forward had targets, and no backward has used them */
    int losses;   /* losses in the slots since dytcl_model_zero_grad (at most LOSS_SLOTS) */
    int loss;     /* the last forward at this batch shape computed a loss (had targets) */
    int stepped;  /* a step since dytcl_model_zero_grad: the stats hold its gradient norm */
    int decoded;  /* decoding: positions 0..decoded-1 are in the KV cache */
} dy_gate_state;

struct dytcl_model {
    dytcl_ctx *ctx;
    dytcl_model_config c;
    dy_block_kind k;
    int C, H, D, F, F2, V, L;     /* vit: V = K, the classes */
    int Hk, C3;                   /* key/value heads (Hk = H, or fewer: grouped-query attention); qkv's
                                     row width C3 = C + 2 Hk D */
    int N, P, cls;                /* vit: patches per image, values per patch, 1 with a class token */
    dytcl_model_tensor *tab;
    const dytcl_model_tensor **by_name; /* tab sorted by name (dy_tensor_named) */
    int ntab;
    size_t n;                     /* parameter count */
    size_t wte, wpe, emb_scale, lm_head, lm_head_b; /* vit: wpe is pos, lm_head(_b) head.weight (bias) */
    size_t patch_w, patch_b, cls_tok;              /* vit */
    norm_off nf;
    layer_off *layer;
    dytcl_buf *params, *grads, *m, *v, *mask; /* [n] each */
    int mask_decay_norm;          /* which mask is in `mask` (-1: none yet) */
    dytcl_buf *stats;             /* [2 + LOSS_SLOTS]: grad norm, clip scale, losses */
    int slot;                     /* the next loss slot */
    int B, T, valid;              /* batch shape; targets not ignored in the last forward */
    int dlogits;                  /* the logits hold their gradient already (dytcl_model_distill):
                                     the next backward starts from them, not from the cross-entropy */
    dytcl_model_regularization reg; /* vit: armed for the next forward (dytcl_model_regularize) */
    float drop_path, smoothing;   /* vit: what the last forward used (its backward's) */
    dy_gate_state gate;
    act_off a;
    dytcl_buf *acts;              /* [a.total] */
    dytcl_buf *io;                /* int32 tokens [BT], targets [BT] (vit: labels [B]) */
    dytcl_buf *img;               /* vit: images [B, ch, H, W] */
    /* inference (model_infer.c) */
    dytcl_buf *kv;                /* [L][2][Hk, max_seq, D] for batch 1 */
    dytcl_buf *wh;                /* [n] the parameters rounded to wdtype (f16 / bf16), or NULL:
                                     the linear layers' weights the forward reads */
    dytcl_dtype wdtype;
    size_t *wq;                   /* q8 only: [nwq][2] pairs (parameter offset of a linear
                                     layer's weight, its byte offset in wh); see dy_weight */
    int nwq;
    int profile_norms;            /* time each norm call (benchmarks) */
    double norm_ns;
};

/* Table entry `name` of m, or NULL: a binary search (model.c). */
const dytcl_model_tensor *dy_tensor_named(const dytcl_model *m, const char *name);

/* ------------------------------------------------ the gate (model_gate.c)
 *
 * Every public model call checks its arguments and the call order here
 * first: DYTCL_ERR_INVALID_ARG or DYTCL_ERR_CALL_ORDER with a message naming
 * fn, or DYTCL_OK. */
enum {
    DY_NEED_LM = 1 << 0,       /* a language model (not a vit) */
    DY_NEED_VIT = 1 << 1,      /* a vit */
    DY_NEED_IDLE = 1 << 2,     /* not decoding */
    DY_NEED_DECODING = 1 << 3, /* between decode_begin and decode_end */
    DY_NEED_BATCH = 1 << 4,    /* set_batch done */
    DY_NEED_RAN = 1 << 5,      /* a forward pass since set_batch */
    DY_NEED_LOGITS = 1 << 6,   /* the last forward's logits, not consumed by backward */
    DY_NEED_TARGETS = 1 << 7,  /* a forward with targets not yet taken by backward */
    DY_NEED_LOSS = 1 << 8,     /* a loss since zero_grad */
    DY_NEED_STEP = 1 << 9      /* a step since zero_grad */
};
/* m is not NULL and holds what `need` asks. */
dytcl_status dy_gate(const dytcl_model *m, const char *fn, unsigned need);
/* p is not NULL (name: what it is). m may be NULL. */
dytcl_status dy_gate_ptr(const dytcl_model *m, const char *fn, const void *p, const char *name);
/* ids[0..n) are in [0, V) (the vocabulary; a vit: the classes), or -1 when allow_ignored. */
dytcl_status dy_gate_ids(const dytcl_model *m, const char *fn, const char *what, const int32_t *ids, size_t n,
                         int allow_ignored);
/* n >= 1 tokens at positions pos.. fit max_seq and follow the cache without a gap. */
dytcl_status dy_gate_decode(const dytcl_model *m, const char *fn, int n, int pos);
/* s: temperature finite >= 0, top_k >= 0, top_p in [0, 1] (dytcl_sample and generate). ctx may be NULL. */
dytcl_status dy_gate_sampling(dytcl_ctx *ctx, const char *fn, const dytcl_sampling *s);
/* o not NULL with finite, in-range settings, step >= 1. */
dytcl_status dy_gate_optim(const dytcl_model *m, const char *fn, const dytcl_model_optim *o, int step);
/* What a call did (done 0: it failed part-way, its results are not to be read). */
void dy_gate_batch(dytcl_model *m);
void dy_gate_forward(dytcl_model *m, int done, int targets);
void dy_gate_backward(dytcl_model *m);
void dy_gate_zero_grad(dytcl_model *m);
void dy_gate_step(dytcl_model *m, int done);
void dy_gate_decoded(dytcl_model *m, int upto);

/* The transformer block (block.c): forward and backward of layer l over
 * the batch set, its activations at their per-layer offsets. */
typedef struct {
    dytcl_tensor res, mid, next, ln1, ln2, mean1, rstd1, mean2, rstd2;
    dytcl_tensor q, k, v, o, lse, atty, fch, fcact;
} dy_block_acts;
dy_block_acts dy_block_acts_of(dytcl_model *m, int l);

/* One norm's output: y = norm(x), with the statistics it saves. */
typedef struct {
    const norm_off *n;
    dytcl_tensor y, mean, rstd;
} dy_norm_out;
/* The norm block l's first step reads: norm1 of block l, or the final norm (l = L). */
dy_norm_out dy_norm_at(dytcl_model *m, int l);

/* out.y = norm(x) (no residual add: the front end's step into block 0). */
dytcl_status dy_norm_forward(dytcl_model *m, const dy_norm_out *out, dytcl_tensor x);
/* Block l forward from its ln1 (already made) to next = mid + h and
 * `after` = the following norm of next; pos: the first position (decoding). */
dytcl_status dy_block_forward(dytcl_model *m, int l, const dy_block_acts *a, const dy_norm_out *after, int pos);
/* The backward of the final norm: dres += normf'(x_L) . dln. */
dytcl_status dy_norm_backward(dytcl_model *m, const dy_norm_out *out, dytcl_tensor dres, dytcl_tensor dy,
                              dytcl_tensor x);
/* Block l backward: dres, the gradient of next, in; of res out. */
dytcl_status dy_block_backward(dytcl_model *m, int l, const dy_block_acts *a);
/* Every block over the batch, from res[0] (the front end's output) to lnf =
 * normf(res[L]); pos: the first position (decoding). */
dytcl_status dy_trunk_forward(dytcl_model *m, int pos);
/* Its backward: dln, the gradient of lnf, in; dres, the gradient of
 * res[0], out. */
dytcl_status dy_trunk_backward(dytcl_model *m);

/* Stochastic depth's rate in block l for the last forward (0: no drop). */
float dy_drop_rate(const dytcl_model *m, int l);

/* The ViT's image buffer, row tokens and pooling weights for B images,
 * after the activations are sized (model_image.c). */
dytcl_status dy_image_batch(dytcl_model *m, int B);
/* The ViT's backward from its class head to the patch embedding
 * (model_image.c; dytcl_model_backward calls it). */
dytcl_status dy_image_backward(dytcl_model *m, float grad_scale);

/* A linear layer's weight [rows, cols] at parameter offset off as the
 * forward reads it: the f16 / bf16 / q8 copy in m->wh when the model holds
 * one (inference), else the float32 parameter (model_infer.c). */
dytcl_tensor dy_weight(const dytcl_model *m, size_t off, int64_t rows, int64_t cols);
/* Rounds the parameters into m->wh again (after they changed); nothing
 * when the model holds no half-width copy (model_infer.c). */
dytcl_status dy_model_refresh_half(dytcl_model *m);
/* dytcl_model_create; init 0 skips the random initialisation, for a caller
 * that writes every parameter next (a checkpoint or Hugging Face load) (model.c). */
dytcl_status dy_model_make(dytcl_ctx *ctx, const dytcl_model_config *cfg, uint64_t seed, int init, dytcl_model **out);
/* Makes the training state (gradients, AdamW m and v, the decay mask; zero)
 * unless the model holds it: at the first call that trains (model.c). */
dytcl_status dy_model_train_state(dytcl_model *m);
/* DYTCL_ERR_INVALID_ARG: fn is for language models only (model_infer.c). */
dytcl_status dy_refuse_vit(dytcl_model *m, const char *fn);
/* DYTCL_ERR_INVALID_ARG naming fn when m holds half-width weights (training
 * needs the float32 ones alone). */
dytcl_status dy_model_refuse_half(dytcl_model *m, const char *fn);

/* Views. dy_at(b, off, n): a 1-D view, absent (.buf NULL) when off is NONE. */
dytcl_tensor dy_at(dytcl_buf *b, size_t off, int64_t n);
dytcl_tensor dy_at2(dytcl_buf *b, size_t off, int64_t rows, int64_t cols);
dytcl_tensor dy_at4(dytcl_buf *b, size_t off, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* The passes' shorthands (with a dytcl_model *m in scope): a view of the
 * activations, layer l's slot of a per-layer array of n floats (A) or of
 * rows x cols (A2); and a call to the ops whose failure returns, prefixed
 * with what failed (TRY). */
#define A(field, l, n) dy_at(m->acts, m->a.field + (size_t)(l) * (n), (int64_t)(n))
#define A2(field, l, rows, cols) dy_at2(m->acts, m->a.field + (size_t)(l) * (rows) * (cols), rows, cols)
#define TRY(call, what)                                    \
    do {                                                   \
        dytcl_status s_ = (call);                          \
        if (s_) return dy_lib_fail(m, s_, what);              \
    } while (0)

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
dytcl_status dy_lib_fail(dytcl_model *m, dytcl_status s, const char *what);
/* DYTCL_ERR_INVALID_ARG with "fn: an argument is NULL or out of range" on
 * m's context (m NULL: this thread's message). */
dytcl_status dy_model_bad_arg(const dytcl_model *m, const char *fn);
/* Sets the message on m's context and returns s. */
dytcl_status dy_model_fail(dytcl_model *m, dytcl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
