/* dytcl_model.h -- transformers on dytcl's ops: decoder-only language models
 * (GPT, LLaMA) and a vision transformer classifier (ViT), one transformer
 * core under all three: create or load a model, train it, fold it for
 * inference, decode and sample. Installed with dytcl.h and part of the same
 * library (libdytcl, pkg-config "dytcl", CMake dytcl::dytcl).
 *
 * Conventions (those of dytcl.h): opaque handles with create/free, a status
 * on every call that can fail, out-parameters last, and the message of a
 * failed call in dytcl_last_error(ctx) -- the model's context, or NULL for
 * the calls that take no model or context. Every call checks its arguments
 * first (a NULL model or pointer, token ids outside [0, vocab), labels
 * outside [0, classes), sizes, sampling and optimiser settings):
 * DYTCL_ERR_INVALID_ARG; and the order of calls: DYTCL_ERR_CALL_ORDER for a
 * read of what was not computed (logits before a forward or after the
 * backward that consumed them, a loss before a forward with targets since
 * dytcl_model_zero_grad, step stats before a step), a backward without its
 * forward, decoding outside a decoding session, a forward or generate inside
 * one. A refused call changes nothing.
 *
 *   dytcl_ctx *ctx;  dytcl_model *m;
 *   dytcl_ctx_create(NULL, &ctx);
 *   dytcl_model_load(ctx, "model.safetensors", NULL, NULL, &m);
 *   dytcl_model_generate(m, prompt, n, 200, &(dytcl_sampling){0.8f, 0, 1, 1}, 1, print_token, NULL);
 *
 * The models (front end -> L blocks -> head):
 *   arch  gpt    tokens + learned positions, causal attention, GELU MLP,
 *                biases, tied embeddings (lm head = wte)
 *         llama  tokens (* emb_scale with DyT/Derf), causal attention with
 *                RoPE, SwiGLU MLP, no biases, untied lm head
 *         vit    image patches (+ a class token) + learned positions,
 *                bidirectional attention, GELU MLP, biases, a class head
 *                on the class token or the mean of all tokens
 *   norm  dyt | derf | rmsnorm | layernorm, at three locations: before
 *         attention (norm1), before the MLP (norm2) and at the end (normf)
 *
 * Pre-norm blocks, B sequences of T tokens, C = d_model, H heads of D = C/H,
 * F = d_ff, V = vocab, L = n_layer:
 *
 *   x0 = wte[tok] (+ wpe[t])            (llama with dyt/derf: * emb_scale)
 *   for each layer l:
 *     a  = norm1(x_l);  qkv = a Wqkv^T (+ b)       [BT, C + 2 Hk D]: q's H heads, k's and v's Hk
 *     q, k, v = split(qkv)                          [B, H, T, D], [B, Hk, T, D] x 2  (llama: RoPE on q, k)
 *                                                   (Hk = n_kv_head or H; query head h reads k/v head h / (H/Hk))
 *     m  = x_l + merge(attention(q, k, v)) Wo^T (+ b)
 *     f  = norm2(m)
 *     gpt:   x_{l+1} = m + gelu(f Wfc^T + b) Wproj^T + b
 *     llama: x_{l+1} = m + swiglu(f Wgate_up^T) Wdown^T   (gate | up packed, [BT, 2F])
 *   logits = normf(x_L) Wlm^T                      [BT, V]
 *   loss   = mean cross-entropy against the targets
 *
 * The ViT: images [B, ch, H, W] cut into N = (H/p)(W/p) patches of p x p;
 * T = N + 1 tokens with a class token (pool cls), N with mean pooling:
 *
 *   e  = patches Wpatch^T + b                       [B, N, C]   (Wpatch [C, ch p p])
 *   x0 = [cls; e] + pos                             [B, T, C]
 *   blocks as gpt's, attention bidirectional
 *   pooled = normf(x_L)[class token]  or  mean over t of normf(x_L)   [B, C]
 *   logits = pooled Whead^T + b                     [B, classes]
 *   loss   = mean cross-entropy against the labels
 * Training may drop residual branches per image (stochastic depth) and
 * smooth the labels: dytcl_model_regularize.
 *
 * Parameters, gradients, AdamW's m and v, and activations each live in one
 * device buffer; dytcl_model_param_table lists the tensors in their order
 * in the flat parameter buffer, with the names checkpoints use.
 */
#ifndef DYTCL_MODEL_H
#define DYTCL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ configuration */

typedef enum { DYTCL_ARCH_GPT = 0, DYTCL_ARCH_LLAMA, DYTCL_ARCH_VIT } dytcl_arch;
typedef enum { DYTCL_NORM_DYT = 0, DYTCL_NORM_DERF, DYTCL_NORM_RMSNORM, DYTCL_NORM_LAYERNORM } dytcl_norm_kind;
/* How the ViT's head sees the sequence: the class token's row, or the mean of all rows. */
typedef enum { DYTCL_POOL_CLS = 0, DYTCL_POOL_MEAN } dytcl_pool;

typedef struct {
    dytcl_arch arch;
    dytcl_norm_kind norm;
    int vocab;        /* V: 256 for byte-level text (vit: unused, 0) */
    int max_seq;      /* longest T (GPT: rows of wpe; vit: set by defaults to the tokens per image) */
    int n_layer;      /* L */
    int n_head;       /* H; head_dim D = d_model / n_head, even, <= 128 */
    int d_model;      /* C */
    int d_ff;         /* F */
    /* DyT / Derf initial alpha per location (dytcl_model_config_defaults
     * picks them by width from the DyT paper's table) */
    float alpha_attn, alpha_ffn, alpha_final;
    float norm_eps;   /* RMSNorm / LayerNorm */
    float rope_theta;
    /* 1: the inference form dytcl_model_fold makes: DyT/Derf without weight
     * and bias (folded into the next linear layer) and an untied lm head,
     * with a bias in gpt */
    int folded;
    /* vit only (0 in gpt and llama): images of image_channels x
     * image_height x image_width floats, cut into patch x patch patches
     * (patch divides both sides), `classes` >= 2 outputs, pooled by pool */
    int image_height, image_width, image_channels, patch, classes;
    dytcl_pool pool;
    /* gpt and llama: key/value heads (grouped-query attention: each serves
     * n_head / n_kv_head query heads, the qkv weight is [C + 2 n_kv_head D, C]
     * and the KV cache holds n_kv_head heads); it divides n_head; 0: n_head */
    int n_kv_head;
    /* llama only (gpt's head is always wte, its layers always biased):
     * tie_embeddings 1: the lm head is wte (no lm_head.weight); attn_bias 1:
     * biases on qkv and the attention projection; mlp_bias 1: on gate_up and
     * down */
    int tie_embeddings, attn_bias, mlp_bias;
} dytcl_model_config;

/* Fills the fields left 0 from arch, norm and d_model (a d_ff too large for
 * an int stays 0, for the check to refuse). vit: alpha0 0.5 at
 * every norm (the DyT paper's value for ViTs), DyT/Derf gamma 1, d_ff 4C,
 * eps 1e-6, image_channels 1, max_seq the tokens per image. gpt and llama:
 * alpha0 by width, the
 * DyT paper's values in both archs (<= 1024: 1.0/1.0, 2048: 1.0/0.5, 4096:
 * 0.8/0.2, >= 8192: 0.2/0.05; final = ffn); d_ff (gpt 4C, llama 8C/3
 * rounded up to 32), eps 1e-5, theta 10000. DyT/Derf gamma starts at
 * 1 / rms(f(alpha0 x0)) for x0 at the stream's initial std (llama 1, gpt
 * sqrt(1/C + 0.02^2)): unit output, as RMSNorm's; in gpt alpha0 x0 is small,
 * so DyT starts nearly linear and gamma0 carries the scale (7.0 at C 48). */
DYTCL_API void dytcl_model_config_defaults(dytcl_model_config *c);
/* Checks a configuration: DYTCL_ERR_INVALID_ARG and why in dytcl_last_error(NULL),
 * naming arch and norm. Limits (gpt, llama): vocab 2..2^24, max_seq 1..2^20,
 * n_layer 1..1024, d_model 2..65536, d_ff 1..2^20; vit: n_layer 1..256,
 * d_model <= 8192, d_ff <= 65536, classes 2..65536. */
DYTCL_API dytcl_status dytcl_model_config_check(const dytcl_model_config *c);
/* "gpt", "llama" or "vit". */
DYTCL_API const char *dytcl_arch_name(dytcl_arch a);
/* "dyt", "derf", "rmsnorm" or "layernorm". */
DYTCL_API const char *dytcl_norm_kind_name(dytcl_norm_kind n);
/* The arch named s; DYTCL_ERR_INVALID_ARG for any other string. */
DYTCL_API dytcl_status dytcl_arch_parse(const char *s, dytcl_arch *out);
/* The norm named s; DYTCL_ERR_INVALID_ARG for any other string. */
DYTCL_API dytcl_status dytcl_norm_kind_parse(const char *s, dytcl_norm_kind *out);

/* ---------------------------------------------------------- parameter table */

/* How a tensor starts: normal(0, std), a constant, or uniform(-bound, bound). */
typedef enum { DYTCL_INIT_NORMAL = 0, DYTCL_INIT_CONST, DYTCL_INIT_UNIFORM } dytcl_init;

#define DYTCL_MODEL_NAME_MAX 48

typedef struct {
    char name[DYTCL_MODEL_NAME_MAX]; /* "wte", "h.3.attn.qkv.weight", "normf.alpha" ... */
    int ndim;
    int64_t shape[2];
    size_t offset;              /* in floats, in the flat parameter buffer */
    size_t numel;
    int is_norm;                /* a norm parameter (alpha, shift, weight, bias) or emb_scale:
                                   decays only with dytcl_model_optim.decay_norm */
    int decays;                 /* matrices and embeddings (wte, wpe, lm_head): 1; every other
                                   tensor (biases, norms, emb_scale, the ViT's cls and pos): 0 */
    dytcl_init init;
    float value;                /* std for DYTCL_INIT_NORMAL, the value for DYTCL_INIT_CONST,
                                   the bound for DYTCL_INIT_UNIFORM */
} dytcl_model_tensor;

/* The parameter tensors, in order: returns how many (at most cap written;
 * out NULL counts; 0 for a config dytcl_model_config_check refuses). The total size is the last tensor's offset + numel.
 * Order per layer: norm1.{alpha, shift, weight, bias}, attn.qkv.{weight,
 * bias}, attn.proj.{weight, bias}, norm2.*, then gpt: mlp.fc.{weight, bias},
 * mlp.proj.{weight, bias}; llama: mlp.gate_up.weight, mlp.down.weight.
 * Model-level: wte, wpe (gpt), emb_scale (llama with dyt/derf) first;
 * normf.*, lm_head.weight (llama) last. A norm has: dyt alpha, weight (+ bias
 * in gpt); derf alpha, shift, weight (+ bias in gpt); rmsnorm weight;
 * layernorm weight (+ bias in gpt).
 * vit: patch.weight [C, ch p p], patch.bias, cls (pool cls), pos [T, C]
 * first; per layer blocks.l.norm1.*, attn.qkv.{weight, bias},
 * attn.proj.{weight, bias}, norm2.*, mlp.fc1.{weight, bias},
 * mlp.fc2.{weight, bias}; norm.*, head.weight [classes, C], head.bias last.
 * Its norms have biases as gpt's; only the matrices decay. The patch
 * embedding starts as a convolution's (uniform, bound 1/sqrt(ch p p),
 * weight and bias); the other matrices, cls and pos normal(0, 0.02). */
DYTCL_API int dytcl_model_param_table(const dytcl_model_config *c, dytcl_model_tensor *out, int cap);
/* The number of parameters (floats in the flat parameter buffer; 0 for a refused config). */
DYTCL_API size_t dytcl_model_param_count(const dytcl_model_config *c);

/* ------------------------------------------------------------ the model */

typedef struct dytcl_model dytcl_model;

/* Allocates parameters, gradients and optimiser state on ctx's device and
 * initialises the parameters from seed (host RNG: the same numbers on every
 * device). DYTCL_ERR_DEVICE_MEMORY, naming the sizes, before any kernel runs
 * when the model does not fit. */
DYTCL_API dytcl_status dytcl_model_create(dytcl_ctx *ctx, const dytcl_model_config *c, uint64_t seed,
                                          dytcl_model **out);
/* Frees the model's buffers (NULL is ignored); the context stays. */
DYTCL_API void dytcl_model_free(dytcl_model *m);
/* The model's configuration. */
DYTCL_API const dytcl_model_config *dytcl_model_get_config(const dytcl_model *m);
/* The context the model lives on (its messages are in dytcl_last_error of it). */
DYTCL_API dytcl_ctx *dytcl_model_ctx(const dytcl_model *m);

/* ------------------------------------------------------------ checkpoints
 *
 * A model (and its training state) is one .safetensors file. Tensors: every
 * parameter under its table name and, in training checkpoints, AdamW's state
 * as two flat tensors "opt.m" and "opt.v" in parameter-buffer order.
 * Metadata (strings): "format" = "dytcl-checkpoint-1", the config ("arch",
 * "norm", "vocab", ..., "rope_theta", "folded"; a vit: "arch" = "vit",
 * "norm", "n_layer", "n_head", "d_model", "d_ff", the alphas, "norm_eps",
 * "image_height", "image_width", "image_channels", "patch", "classes",
 * "pool"), the caller's pairs, and "keys", the list of them all. Loading
 * also reads the ViT files of earlier versions ("format" =
 * "dytcl-vit-1", the same tensor names). Saving is atomic (temporary file, fsync,
 * rename): a crash leaves the previous file whole. */

/* String pairs of any length and number. Start from {0}; free with
 * dytcl_meta_clear. */
typedef struct {
    int n, cap;
    char **key, **value;
} dytcl_meta;

/* Adds or replaces key (both strings copied); DYTCL_ERR_HOST_MEMORY when out of memory. */
DYTCL_API dytcl_status dytcl_meta_set(dytcl_meta *md, const char *key, const char *value);
/* The value of key, or NULL. */
DYTCL_API const char *dytcl_meta_get(const dytcl_meta *md, const char *key);
/* Frees every pair; md is empty ({0}) afterwards. */
DYTCL_API void dytcl_meta_clear(dytcl_meta *md);

/* Writes m's parameters (and AdamW state when with_opt) with the config and
 * md (may be NULL) as metadata. */
DYTCL_API dytcl_status dytcl_model_save(dytcl_model *m, const char *path, int with_opt, const dytcl_meta *md);
/* Writes an inference checkpoint: m's parameters without AdamW state, the
 * matrices (weights, embeddings) stored as dtype (F16 and BF16 rounded to
 * nearest even), the vectors (norm parameters, biases) as F32, and metadata
 * "dtype" = "f32", "f16" or "bf16" (dytcl_model_save writes "f32"). Loading
 * widens it back to float32; training resumes only from F32 checkpoints.
 * DYTCL_Q8 stores each linear layer's weight NAME as "NAME.q" (I8 [N, K])
 * and "NAME.scale" (F32 [N, K/32]) (docs/quantization.md), the embeddings
 * F32 too, "dtype" = "q8"; every linear layer's input width must be a
 * multiple of 32. Loading a q8 file dequantizes it into the parameters and
 * sets the model's weight dtype to q8 (the same quants again). */
DYTCL_API dytcl_status dytcl_model_export(dytcl_model *m, const char *path, dytcl_dtype dtype, const dytcl_meta *md);
/* Reads a checkpoint's config (and every metadata pair into md, when not
 * NULL) without creating a model; messages in dytcl_last_error(NULL). */
DYTCL_API dytcl_status dytcl_model_read_config(const char *path, dytcl_model_config *c, dytcl_meta *md);
/* Creates a model on ctx from a checkpoint: parameters, and, when has_opt is
 * not NULL and the file has it, AdamW's state (*has_opt = 1); metadata into
 * md (may be NULL). With has_opt NULL (inference, or fine-tuning with a
 * fresh optimiser) AdamW's state stays in the file: the model holds one copy
 * of its parameters until it first trains (gradients, AdamW m and v and the
 * decay mask are made then: 4 more). A corrupt, truncated or mismatched file
 * is refused with a message naming the problem. */
DYTCL_API dytcl_status dytcl_model_load(dytcl_ctx *ctx, const char *path, dytcl_meta *md, int *has_opt,
                                        dytcl_model **out);
/* dytcl_model_load_ex flags. dytcl_model_load (flags 0) refuses a checkpoint
 * with a NaN or infinite parameter or AdamW moment, DYTCL_ERR_FORMAT naming
 * the tensor: a diverged model generates and classifies nonsense, and
 * training would not recover from it. DYTCL_LOAD_ALLOW_NONFINITE loads it
 * anyway (to inspect it). */
enum { DYTCL_LOAD_ALLOW_NONFINITE = 1u };
/* dytcl_model_load with flags (DYTCL_LOAD_*; an unknown bit: DYTCL_ERR_INVALID_ARG). */
DYTCL_API dytcl_status dytcl_model_load_ex(dytcl_ctx *ctx, const char *path, unsigned flags, dytcl_meta *md,
                                           int *has_opt, dytcl_model **out);

/* ------------------------------------------------------------ training */

/* Activations for batches of B sequences of T <= max_seq tokens (reallocated
 * when B or T change). vit: B images; T is the tokens per image, fixed by
 * the config: pass 0 (or max_seq). */
DYTCL_API dytcl_status dytcl_model_set_batch(dytcl_model *m, int B, int T);
/* The batch set: B (0 before any) and T. */
DYTCL_API void dytcl_model_batch(const dytcl_model *m, int *B, int *T);
/* tokens and targets: B*T int32 each (targets -1: ignored). Uploads them,
 * runs the forward pass and leaves the mean loss on the device, in the next
 * of 64 loss slots (dytcl_model_zero_grad starts again at slot 0). With
 * targets NULL only the logits are computed. */
DYTCL_API dytcl_status dytcl_model_forward(dytcl_model *m, const int32_t *tokens, const int32_t *targets);
/* vit: images [B, image_channels, image_height, image_width] floats and
 * labels [B] int32 (-1: ignored; NULL: only the logits). Uploads them, runs
 * the forward pass to the class logits and, with labels, leaves the mean
 * loss in the next loss slot, as dytcl_model_forward does. Training a ViT
 * is the same loop as a language model's:
 *
 *   dytcl_model_set_batch(m, B, 0);
 *   dytcl_model_zero_grad(m);
 *   dytcl_model_forward_images(m, images, labels);
 *   dytcl_model_backward(m, 1.0f);
 *   dytcl_model_step(m, &optim, step);
 *   dytcl_model_step_stats(m, &loss, 1, &grad_norm);
 *
 * and dytcl_model_read_logits gives [B, classes], dytcl_model_read_predictions
 * each image's class. dytcl_model_forward refuses a ViT, and this a language
 * model; decoding, generation, folding and half-width weights are for
 * language models only. */
DYTCL_API dytcl_status dytcl_model_forward_images(dytcl_model *m, const float *images, const int32_t *labels);
/* Regularisation of a ViT's training forward (all 0: none).
 *   drop_path        stochastic depth: each block's attention and MLP
 *                    branches are dropped per image, independently, with
 *                    probability p_l = drop_path * l / (L - 1) in block l
 *                    (0 in the first block, drop_path in the last: timm's
 *                    linear rule; no drop with one block), and scaled by
 *                    1 / (1 - p_l) where kept: x + mask * branch(x). In [0, 1).
 *   label_smoothing  the loss's targets are (1 - e) onehot + e / classes. In [0, 1].
 *   seed             the masks' generator: the same seed, the same masks.
 * It applies to the next dytcl_model_forward_images only (and the backward
 * after it): the forwards after that run without it, as evaluation must,
 * until it is set again -- once per micro-batch, with a new seed each. */
typedef struct {
    float drop_path, label_smoothing;
    uint64_t seed;
} dytcl_model_regularization;

/* Arms r for the next training forward of a ViT (r NULL: none);
 * DYTCL_ERR_INVALID_ARG for a language model or a value out of range. */
DYTCL_API dytcl_status dytcl_model_regularize(dytcl_model *m, const dytcl_model_regularization *r);

/* The last forward's mean loss (a device read); DYTCL_ERR_CALL_ORDER when that
 * forward had no targets or the batch was set since. */
DYTCL_API dytcl_status dytcl_model_read_loss(dytcl_model *m, float *loss);
/* The last forward's logits [B*T, V] (vit: [B, classes]) into host memory; call it before
 * dytcl_model_backward, which turns them into their gradient in place. */
DYTCL_API dytcl_status dytcl_model_read_logits(dytcl_model *m, float *out);
/* The last forward's predictions: the index of each row's largest logit
 * (the first of equals), B*T int32 (vit: B, the classes); before
 * dytcl_model_backward, as dytcl_model_read_logits. */
DYTCL_API dytcl_status dytcl_model_read_predictions(dytcl_model *m, int32_t *out);
/* Zeroes the gradient buffer and the loss slots (before a step's first micro-batch). */
DYTCL_API dytcl_status dytcl_model_zero_grad(dytcl_model *m);
/* The backward of the last forward, adding (grad_scale / rows) * dloss into
 * the gradient buffer. */
DYTCL_API dytcl_status dytcl_model_backward(dytcl_model *m, float grad_scale);

/* AdamW with a schedule: linear warm-up from 0 to lr over `warmup` steps,
 * then cosine decay to lr * min_lr_frac at step `steps` (steps 0: lr stays).
 * Weight decay on the tensors whose table entry `decays` (matrices and
 * embeddings), and on the norm parameters (DyT/Derf alpha and shift, the
 * norms' weights and biases) and emb_scale only when decay_norm; never on
 * the linear layers' biases or the ViT's cls and pos. As the DyT paper's
 * code, which puts every 1-D parameter in the group without decay.
 * Global-norm clipping at clip (0: off). */
typedef struct {
    float lr, min_lr_frac;
    int warmup, steps;
    float beta1, beta2, eps, weight_decay, clip;
    int decay_norm;
} dytcl_model_optim;

/* The learning rate of o's schedule at step >= 1. */
DYTCL_API float dytcl_lr_at(const dytcl_model_optim *o, int step);
/* Global-norm clipping and one AdamW step (step >= 1) over every parameter,
 * at dytcl_lr_at(o, step); leaves the gradient norm in the step's stats. */
DYTCL_API dytcl_status dytcl_model_step(dytcl_model *m, const dytcl_model_optim *o, int step);
/* After a step: the mean losses of its micro-batches (n of them) and the
 * gradient norm before clipping, in one device read. */
DYTCL_API dytcl_status dytcl_model_step_stats(dytcl_model *m, float *losses, int n, float *grad_norm);
/* The L2 norm of all parameters (a non-finite one: not worth saving). */
DYTCL_API dytcl_status dytcl_model_param_norm(dytcl_model *m, float *norm);

/* Host copies of the whole parameter buffer (dytcl_model_param_count floats). */
DYTCL_API dytcl_status dytcl_model_read_params(dytcl_model *m, float *out);
/* Writes the whole parameter buffer from host memory. */
DYTCL_API dytcl_status dytcl_model_write_params(dytcl_model *m, const float *in);
/* Host copy of the whole gradient buffer. */
DYTCL_API dytcl_status dytcl_model_read_grads(dytcl_model *m, float *out);
/* Host copies of AdamW's first and second moments. */
DYTCL_API dytcl_status dytcl_model_read_opt(dytcl_model *m, float *mom, float *var);
/* Writes AdamW's first and second moments. */
DYTCL_API dytcl_status dytcl_model_write_opt(dytcl_model *m, const float *mom, const float *var);
/* Blocking copy of grads[offset .. offset + n) to host memory (data-parallel all-reduce). */
DYTCL_API dytcl_status dytcl_model_read_grads_range(dytcl_model *m, size_t offset, size_t n, float *out);
/* Blocking copy of host memory into grads[offset .. offset + n). */
DYTCL_API dytcl_status dytcl_model_write_grads_range(dytcl_model *m, size_t offset, size_t n, const float *in);
/* Waits for the work queued on the model's device. */
DYTCL_API dytcl_status dytcl_model_finish(dytcl_model *m);

/* DyT/Derf only: for each norm, in the order h.0.norm1, h.0.norm2, h.1.norm1,
 * ..., normf (2L + 1 of them), the fraction of the last forward's norm
 * inputs with |alpha x| > 2 (Derf: |alpha x + shift| > 2), and alpha. */
DYTCL_API dytcl_status dytcl_model_saturation(dytcl_model *m, float *frac, float *alpha);

/* ------------------------------------------------------------ inference
 *
 * Folding. Every norm feeds only linear layers (norm1 -> qkv, norm2 -> MLP
 * up projection, normf -> lm head), so y = w * t + b (t = tanh(alpha x), or
 * erf) gives  W y + c = (W diag(w)) t + (W b + c): dytcl_model_fold makes a
 * model whose norms keep only alpha (and shift) and whose following weights
 * and biases absorb w and b. The logits are the same up to float rounding;
 * the inference pass skips two vector reads per norm. DyT and Derf only. */
DYTCL_API dytcl_status dytcl_model_fold(dytcl_model *src, dytcl_model **out);

/* Half-width weights. The linear layers' weights (attention qkv and proj,
 * the MLP's two, the lm head) kept on the device also as dtype (DYTCL_F16 or
 * DYTCL_BF16, rounded to nearest even from the float32 parameters; or
 * DYTCL_Q8, 8-bit blocks of 32 with a float32 scale each, which needs every
 * layer's input width a multiple of 32 and is DYTCL_ERR_UNSUPPORTED
 * otherwise) and read from there by forward, decode and generate: the
 * one-row products of decoding stream half the bytes (q8: 9/32) and sum in
 * float32. DYTCL_F32 drops the
 * copy. The float32 parameters stay (the embeddings and norms read them;
 * dytcl_model_write_params rounds the copy again); backward and step are
 * refused while a copy is held. Call it after dytcl_model_fold, on the
 * folded model. */
DYTCL_API dytcl_status dytcl_model_set_weight_dtype(dytcl_model *m, dytcl_dtype dtype);
/* The dtype the linear layers read (DYTCL_F32 unless set). */
DYTCL_API dytcl_dtype dytcl_model_weight_dtype(const dytcl_model *m);

/* Starts decoding with a KV cache on the device (batch 1); forward and
 * generate are refused until the end (DYTCL_ERR_CALL_ORDER), as is a second begin. */
DYTCL_API dytcl_status dytcl_model_decode_begin(dytcl_model *m);
/* Runs n new tokens at positions pos..pos+n-1 (pos = the tokens already
 * decoded, or fewer to go back; a gap past them is DYTCL_ERR_INVALID_ARG)
 * and writes the last position's logits [V] to host memory. */
DYTCL_API dytcl_status dytcl_model_decode(dytcl_model *m, const int32_t *tokens, int n, int pos, float *logits);
/* Frees the KV cache. */
DYTCL_API void dytcl_model_decode_end(dytcl_model *m);

/* How the next token is picked. */
typedef struct {
    float temperature;  /* 0: the most likely token (greedy); finite, >= 0 */
    int top_k;          /* 0: no limit; >= 0 */
    float top_p;        /* 0 or 1: no limit; else the smallest set with this mass; 0..1 */
    uint64_t seed;      /* the generator's start: the same seed, the same text */
} dytcl_sampling;

/* One step of the generator sampling (and data order) draws from
 * (splitmix64): advances *state, returns 64 random bits, the same everywhere. */
DYTCL_API uint64_t dytcl_rng_next(uint64_t *state);
/* Picks a token from logits [V] by s (its seed unused: *rng advances instead). */
DYTCL_API dytcl_status dytcl_sample(const float *logits, int V, const dytcl_sampling *s, uint64_t *rng,
                                    int32_t *token);

/* Called with each generated token; a non-zero return stops generation. */
typedef int (*dytcl_token_fn)(int32_t token, void *user);

/* Continues prompt [n_prompt] (1 <= n_prompt <= max_seq) by n_new tokens,
 * calling fn (may be NULL) with each. use_cache 1: the prompt once through
 * the model, then one token per step with the KV cache (begun and ended
 * here); 0: a full forward pass per token (the batch becomes 1 x length).
 * When the context reaches max_seq its last half becomes the new context
 * (read again). The same model, prompt and s give the same tokens. Refused
 * while the caller decodes (its session would end here). */
DYTCL_API dytcl_status dytcl_model_generate(dytcl_model *m, const int32_t *prompt, int n_prompt, int n_new,
                                            const dytcl_sampling *s, int use_cache, dytcl_token_fn fn, void *user);

/* ------------------------------------------------ Hugging Face checkpoints
 *
 * A directory as transformers' save_pretrained writes it: config.json and
 * model.safetensors, or shards listed by model.safetensors.index.json;
 * tensors F32, F16 or BF16 (widened to float32 as they load).
 *
 *   LlamaForCausalLM  -> arch llama, norm rmsnorm  (hidden_size, intermediate_size,
 *                        num_hidden_layers, num_attention_heads, vocab_size,
 *                        max_position_embeddings -> max_seq, rms_norm_eps, rope_theta)
 *   GPT2LMHeadModel   -> arch gpt, norm layernorm  (n_embd, n_inner, n_layer, n_head,
 *                        vocab_size, n_positions -> max_seq, layer_norm_epsilon)
 *
 * q and k rows are permuted from transformers' rotate-half RoPE order into
 * dytcl's interleaved pairs (and back on export); GPT-2's Conv1D weights are
 * transposed; its attention mask buffers are ignored. num_key_value_heads,
 * tie_word_embeddings, attention_bias and mlp_bias become n_kv_head,
 * tie_embeddings, attn_bias and mlp_bias. Refused, with the config key or
 * tensor named: another architecture, num_key_value_heads not dividing
 * num_attention_heads, head_dim other than hidden_size /
 * num_attention_heads, rope_scaling, sliding_window; a tensor missing,
 * unexpected or of another shape than config.json makes it; a missing
 * shard, or one named outside the directory (absolute, "..", or a link
 * leading out). An exported DyT/Derf model (config.json "dytcl_norm")
 * loads back as one.
 *
 * dytcl_model_load and dytcl_model_read_config given a directory forward to
 * the calls below (then *has_opt = 0). */

/* Reads config.json in dir into c without creating a model; messages in
 * dytcl_last_error(NULL). */
DYTCL_API dytcl_status dytcl_model_read_config_hf(const char *dir, dytcl_model_config *c);
/* Creates a model on ctx from the Hugging Face model in dir; md (may be
 * NULL) gets "format" = "huggingface" and "architecture". */
DYTCL_API dytcl_status dytcl_model_load_hf(dytcl_ctx *ctx, const char *dir, dytcl_meta *md, dytcl_model **out);
/* Writes m into dir (created when missing; its parent must exist) as
 * config.json + model.safetensors that transformers' from_pretrained loads:
 * llama with RMSNorm as LlamaForCausalLM, gpt with LayerNorm as
 * GPT2LMHeadModel. DyT/Derf models: the same layout, their alpha (and
 * shift, and llama's emb_scale as "model.embed_scale") as extra tensors and
 * "dytcl_norm" in config.json (docs/huggingface.md: the PyTorch modules that
 * read them). Matrices stored as dtype, vectors as F32. Existing files are
 * replaced only when force, never through a symbolic link; both files are
 * written into a temporary directory and renamed into place. Folded models
 * and the pairs without a transformers layout (llama with LayerNorm, gpt with
 * RMSNorm) are refused. */
DYTCL_API dytcl_status dytcl_model_export_hf(dytcl_model *m, const char *dir, dytcl_dtype dtype, int force);


/* ------------------------------------------------ converting the norms
 *
 * A trained RMSNorm or LayerNorm language model made a DyT (or Derf) model
 * whose first forward is as close to the original's as a per-channel
 * w tanh(alpha x) + b can make it. dytcl_model_convert_begin makes the
 * DyT/Derf model: every parameter that is not a norm's copied, the norms'
 * weight (and bias) too, llama's emb_scale 1; each of its 2L + 1 norms
 * (numbered as dytcl_model_saturation's: h.0.norm1, h.0.norm2, ..., normf)
 * still runs as the original norm on that weight and bias, so it begins as
 * the same function as src. dytcl_model_convert_fit then converts norms: from
 * the forwards of the calibration batches it takes each norm's input x and
 * output y = norm(x), [rows, C], and picks
 *
 *   alpha  minimising  E = sum_c min_{w_c, b_c} sum_rows (y[:,c] - w_c tanh(alpha x[:,c]) - b_c)^2
 *
 * (w_c, b_c by least squares, in closed form for each alpha; alpha by a
 * search over log alpha: a grid of 37 points over alpha rms(x) in [e^-6,
 * e^3], then golden sections; Derf: erf with shift 0; llama has no b). The
 * norms of one call are fitted on the same forwards (independently); one
 * call per norm, in order, fits each on the inputs the converted norms
 * before it give (sequential). Training may run between calls (the
 * layerwise schedule): forward, backward and step treat a norm not yet
 * fitted as the original norm. Save the model only when
 * dytcl_model_convert_pending is 0: a checkpoint does not keep which norms
 * still run as the original. */

/* One fitted norm: alpha, and E relative to y's variance (sum over the
 * channels; llama: y's mean square): 0 is exact. */
typedef struct {
    float alpha, rel_err;
} dytcl_convert_fit;

/* The DyT (to = DYTCL_NORM_DYT) or Derf model of src, every norm still
 * running as src's, on src's context. Refused (DYTCL_ERR_INVALID_ARG): a
 * vit, a model whose norm is DyT or Derf already, another `to`. */
DYTCL_API dytcl_status dytcl_model_convert_begin(dytcl_model *src, dytcl_norm_kind to, dytcl_model **out);
/* Fits norms first .. first + count - 1 of m (each still running as the
 * original: else DYTCL_ERR_INVALID_ARG) from the forwards of n_batches
 * calibration batches at m's batch shape, tokens [n_batches][B*T]; fit
 * (may be NULL) gets count results. */
DYTCL_API dytcl_status dytcl_model_convert_fit(dytcl_model *m, int first, int count, const int32_t *tokens,
                                               int n_batches, dytcl_convert_fit *fit);
/* How many of m's norms still run as the original (0 for any other model). */
DYTCL_API int dytcl_model_convert_pending(const dytcl_model *m);
/* Begin, set_batch(B, T) and fit every norm: all from the original's
 * activations (sequential 0) or one after another (sequential 1: 2L + 1
 * times the forwards). */
DYTCL_API dytcl_status dytcl_model_convert(dytcl_model *src, dytcl_norm_kind to, const int32_t *tokens, int n_batches,
                                           int B, int T, int sequential, dytcl_model **out);

/* Distillation, one micro-batch in place of dytcl_model_forward +
 * dytcl_model_backward: the forwards of teacher (logits only) and of m on
 * tokens and targets (B*T each; both models at the same batch shape and
 * vocabulary), then m's backward of
 *
 *   (1 - weight) cross-entropy(m, targets) + weight KL(softmax(teacher) || softmax(m))
 *
 * averaged over the rows whose target is not -1 (weight in [0, 1]; 0 is
 * dytcl_model_backward's gradient), added into m's gradient buffer. m's
 * loss slot gets its cross-entropy, as a forward's; *kl (may be NULL) the
 * mean KL. Used to fine-tune a converted model against the original. */
DYTCL_API dytcl_status dytcl_model_distill(dytcl_model *m, dytcl_model *teacher, const int32_t *tokens,
                                           const int32_t *targets, float weight, float *kl);

#ifdef __cplusplus
}
#endif

#endif
