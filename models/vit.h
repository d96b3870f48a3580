/* vit.h -- a vision transformer (ViT) classifier on dytcl's ops.
 *
 *   images [B, ch, H, W] -> patch embedding (p x p patches, N of them)
 *     -> a class token in front (pool = cls) -> + learned positions [T, C]
 *     -> L pre-norm encoder blocks: x += attn(norm1(x)); x += mlp(norm2(x))
 *        (bidirectional multi-head attention; MLP: C -> F -> GELU -> C)
 *     -> final norm -> the class token's row, or the mean of all rows
 *     -> head [K, C] -> logits [B, K] -> cross-entropy
 * T = N + 1 with a class token, N with mean pooling. norm is DyT, Derf,
 * RMSNorm or LayerNorm; DyT and Derf start at alpha0 (0.5, the DyT paper's
 * value for ViTs), weight 1, bias 0.
 *
 * Parameters, gradients and AdamW state each live in one device buffer (one
 * AdamW launch updates everything); the named tensors inside it are listed
 * by vit_tensor_at, in the order of the buffer. Errors: a status and
 * vit_error(v). The forward and backward are in vit.c, side by side.
 */
#ifndef DYTCL_VIT_H
#define DYTCL_VIT_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl.h"

typedef enum { VIT_NORM_DYT, VIT_NORM_DERF, VIT_NORM_RMSNORM, VIT_NORM_LAYERNORM } vit_norm;
typedef enum { VIT_POOL_CLS, VIT_POOL_MEAN } vit_pool;

typedef struct {
    int height, width, channels; /* images */
    int patch;                   /* p, dividing height and width */
    int dim, heads, layers, mlp; /* C, H (C % H == 0, C/H <= 128), L, F */
    int classes;                 /* K */
    vit_norm norm;
    vit_pool pool;
    float alpha0;                /* DyT/Derf's initial alpha */
    float eps;                   /* RMSNorm/LayerNorm */
    uint64_t seed;               /* initial weights */
} vit_config;

/* A small ViT for 28 x 28 grey images: 7 x 7 patches, C 64, 4 heads, 4
 * layers, F 128, 10 classes, DyT, class token, alpha0 0.5. */
void vit_config_default(vit_config *c);
/* 0 when usable; else non-zero and why in err. */
int vit_config_check(const vit_config *c, char *err, size_t cap);
const char *vit_norm_name(vit_norm n);
int vit_norm_parse(const char *s, vit_norm *out);

typedef struct vit vit;

dytcl_status vit_create(dytcl_ctx *ctx, const vit_config *c, vit **out, char *err, size_t cap);
void vit_free(vit *v);
const char *vit_error(const vit *v);
const vit_config *vit_get_config(const vit *v);
size_t vit_num_params(const vit *v);

/* One named tensor of the parameter buffer: i in [0, vit_num_tensors). */
typedef struct {
    char name[48];
    int ndim;
    int64_t shape[2];
    size_t offset, numel; /* in floats */
    int decay;            /* AdamW's weight decay applies (matrices only) */
} vit_tensor;
int vit_num_tensors(const vit *v);
const vit_tensor *vit_tensor_at(const vit *v, int i);

/* Sizes the activations for batches of B images (keeps them when B is
 * unchanged). */
dytcl_status vit_set_batch(vit *v, int B);
/* The batch size set (0: none yet). */
int vit_batch(const vit *v);

/* Forward over x [B, ch, H, W] floats; with labels y [B] (-1: ignored) also
 * the mean loss over the labelled images (vit_loss). */
dytcl_status vit_forward(vit *v, const float *x, const int32_t *y);
/* Gradients of the last forward's mean loss (needs labels), written over
 * the gradient buffer. */
dytcl_status vit_backward(vit *v);
/* Clips the gradient to max_norm (<= 0: no clipping) and takes one AdamW
 * step (step >= 1); *grad_norm (may be NULL) gets the norm before clipping. */
dytcl_status vit_step(vit *v, const dytcl_adamw_config *cfg, float max_norm, int step, float *grad_norm);

dytcl_status vit_loss(vit *v, float *loss);
/* logits [B, K] of the last forward (vit_backward overwrites them). */
dytcl_status vit_logits(vit *v, float *logits);

/* The parameter (which 0), gradient (1), AdamW m (2) or v (3) buffer to and
 * from the host: vit_num_params floats. */
dytcl_status vit_read(vit *v, int which, float *out);
dytcl_status vit_write(vit *v, int which, const float *in);

/* A .safetensors file: every parameter under its name, AdamW's state as
 * "opt.m" and "opt.v" when with_opt, the config and the caller's nmeta
 * key/value pairs (meta[2i], meta[2i+1]) as metadata. Atomic. */
dytcl_status vit_save(vit *v, const char *path, int with_opt, const char *const *meta, int nmeta);
/* A model from such a file (AdamW state too when present: *has_opt). *file
 * (may be NULL) keeps the file open for its metadata (dytcl_st_metadata);
 * free it with dytcl_st_free. */
dytcl_status vit_load(dytcl_ctx *ctx, const char *path, vit **out, int *has_opt, dytcl_st_file **file, char *err,
                      size_t cap);

#endif
