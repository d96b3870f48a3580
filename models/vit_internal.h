/* vit_internal.h -- the ViT's struct, shared by vit.c (config, parameters,
 * buffers, files) and vit_pass.c (forward and backward). */
#ifndef DYTCL_VIT_INTERNAL_H
#define DYTCL_VIT_INTERNAL_H

#include "vit.h"

#define VIT_NONE ((size_t)-1)

/* Offsets (in floats) of one norm's parameters; VIT_NONE when absent. */
typedef struct {
    size_t alpha, shift, weight, bias;
} vit_norm_off;

typedef struct {
    vit_norm_off n1, n2;
    size_t qkv_w, qkv_b, proj_w, proj_b, fc_w, fc_b, out_w, out_b;
} vit_layer_off;

/* Offsets of the activations in one buffer, for batch B (BT = B*T rows).
 * [L] marks one slot per layer, each of the size that follows. */
typedef struct {
    size_t patches;                    /* [B, N, P]   P = ch p p */
    size_t table;                      /* [V, C]      V = cls + B N: the class token, then the patch embeddings */
    size_t res;                        /* [L+1][BT, C] the residual stream entering block l (L: the final norm) */
    size_t mid;                        /* [L][BT, C]  after attention */
    size_t ln1, ln2;                   /* [L][BT, C]  norm outputs */
    size_t mean1, rstd1, mean2, rstd2; /* [L][BT] */
    size_t q, k, v, o;                 /* [L][B, H, T, D] */
    size_t lse;                        /* [L][B, H, T] */
    size_t atty;                       /* [L][BT, C] */
    size_t fch, fcact;                 /* [L][BT, F] */
    size_t lnf, meanf, rstdf;          /* [BT, C], [BT], [BT] */
    size_t sel;                        /* [T]  the pooling weights: e0 (cls) or 1/T (mean) */
    size_t pooled;                     /* [B, C] */
    size_t logits;                     /* [B, K]  (dlogits in place) */
    size_t losses;                     /* [B] */
    /* scratch, reused across layers */
    size_t h, qkv, dres, dln;          /* [BT, C], [BT, 3C], [BT, C], [BT, C] */
    size_t dq, dk, dv, dout;           /* [B, H, T, D] */
    size_t dfch, dfcact;               /* [BT, F] */
    size_t dtable;                     /* [V, C] */
    size_t dpooled;                    /* [B, C] */
    size_t total;
} vit_act_off;

struct vit {
    dytcl_ctx *ctx;
    vit_config c;
    int C, H, D, F, K, L, N, T, P, cls; /* cls: 1 with a class token */
    vit_tensor *tab;
    int ntab;
    size_t n;                           /* parameter count */
    size_t patch_w, patch_b, cls_tok, pos, head_w, head_b;
    vit_norm_off nf;
    vit_layer_off *layer;
    dytcl_buf *params, *grads, *m, *v, *mask; /* [n] each */
    dytcl_buf *stats;                   /* [3]: grad norm, clip scale, mean loss */
    int B, valid, has_targets;
    vit_act_off a;
    dytcl_buf *acts;                    /* [a.total] */
    dytcl_buf *io;                      /* int32 tokens [BT], then targets [B] */
    dytcl_buf *img;                     /* [B, ch, H, W] */
    char err[1024];
};

dytcl_status vit_fail(vit *v, dytcl_status s, const char *fmt, ...);
/* s with the library's message after `what`. */
dytcl_status vit_lib_fail(vit *v, dytcl_status s, const char *what);

#endif
