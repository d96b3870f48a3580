/* model.h -- a decoder-only transformer built from dytcl's public API.
 *
 *   arch  gpt    learned positions, GELU MLP, biases, tied embeddings (lm head = wte)
 *         llama  RoPE, SwiGLU MLP, no biases, untied lm head
 *   norm  dyt | derf | rmsnorm | layernorm, at three locations: before
 *         attention (norm1), before the MLP (norm2) and at the end (normf)
 *
 * Pre-norm blocks, B sequences of T tokens, C = d_model, H heads of D = C/H,
 * F = d_ff, V = vocab, L = n_layer:
 *
 *   x0 = wte[tok] (+ wpe[t])            (llama with dyt/derf: * emb_scale)
 *   for each layer l:
 *     a  = norm1(x_l);  qkv = a Wqkv^T (+ b)       [BT, 3C] as [B, T, 3, H, D]
 *     q, k, v = split(qkv)                          [B, H, T, D]  (llama: RoPE on q, k)
 *     m  = x_l + merge(attention(q, k, v)) Wo^T (+ b)
 *     f  = norm2(m)
 *     gpt:   x_{l+1} = m + gelu(f Wfc^T + b) Wproj^T + b
 *     llama: x_{l+1} = m + swiglu(f Wgate_up^T) Wdown^T   (gate | up packed, [BT, 2F])
 *   logits = normf(x_L) Wlm^T                      [BT, V]
 *   loss   = mean cross-entropy against the targets
 *
 * Parameters, gradients, AdamW's m and v, and activations each live in one
 * device buffer; model_param_table() lists the tensors in their order in
 * the flat parameter buffer, with the names checkpoints use.
 */
#ifndef DYTCL_MODEL_H
#define DYTCL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl.h"

typedef enum { ARCH_GPT = 0, ARCH_LLAMA } model_arch;
typedef enum { NORM_DYT = 0, NORM_DERF, NORM_RMSNORM, NORM_LAYERNORM } model_norm;

typedef struct {
    model_arch arch;
    model_norm norm;
    int vocab;        /* V: 256 for byte-level text */
    int max_seq;      /* longest T (GPT: rows of wpe) */
    int n_layer;      /* L */
    int n_head;       /* H; head_dim D = d_model / n_head, even, <= 128 */
    int d_model;      /* C */
    int d_ff;         /* F */
    /* DyT / Derf initial alpha per location (model_config_defaults picks
     * them by width from the DyT paper's table) */
    float alpha_attn, alpha_ffn, alpha_final;
    float norm_eps;   /* RMSNorm / LayerNorm */
    float rope_theta;
    /* 1: the inference form model_fold makes: DyT/Derf without weight and
     * bias (folded into the next linear layer) and an untied lm head, with
     * a bias in gpt */
    int folded;
} model_config;

/* Fills the fields a user does not set, from arch, norm and d_model:
 * alpha0 by width (<= 1024: 1.0/1.0, 2048: 1.0/0.5, 4096: 0.8/0.2,
 * >= 8192: 0.2/0.05; final = ffn), d_ff (gpt 4C, llama 8C/3 rounded up to
 * 32), eps 1e-5, theta 10000. Fields already non-zero are kept. */
void model_config_defaults(model_config *c);
/* Checks a configuration; on error writes why to err and returns non-zero. */
int model_config_check(const model_config *c, char *err, size_t cap);
const char *model_arch_name(model_arch a);
const char *model_norm_name(model_norm n);
int model_arch_parse(const char *s, model_arch *out);
int model_norm_parse(const char *s, model_norm *out);

/* How a tensor starts: normal(0, std), or a constant. */
typedef enum { INIT_NORMAL = 0, INIT_CONST } model_init;

#define MODEL_NAME_MAX 48

typedef struct {
    char name[MODEL_NAME_MAX];  /* "wte", "h.3.attn.qkv.weight", "normf.alpha" ... */
    int ndim;
    int64_t shape[2];
    size_t offset;              /* in floats, in the flat parameter buffer */
    size_t numel;
    int is_norm;                /* a norm parameter or emb_scale: decays only by flag */
    int decays;                 /* matrices and embeddings: 1; biases: 0 */
    model_init init;
    float value;                /* std for INIT_NORMAL, the value for INIT_CONST */
} model_tensor;

/* The parameter tensors, in order. Returns how many (at most cap are
 * written; call with out = NULL to count). The total size is the last
 * tensor's offset + numel. Order per layer: norm1.{alpha, shift, weight,
 * bias}, attn.qkv.{weight, bias}, attn.proj.{weight, bias}, norm2.*, then
 * gpt: mlp.fc.{weight, bias}, mlp.proj.{weight, bias};
 * llama: mlp.gate_up.weight, mlp.down.weight.
 * Model-level: wte, wpe (gpt), emb_scale (llama with dyt/derf) first;
 * normf.*, lm_head.weight (llama) last. A norm has: dyt alpha, weight
 * (+ bias in gpt); derf alpha, shift, weight (+ bias in gpt); rmsnorm
 * weight; layernorm weight (+ bias in gpt). */
int model_param_table(const model_config *c, model_tensor *out, int cap);
size_t model_param_count(const model_config *c);

typedef struct model model;

/* Allocates parameters, gradients and optimiser state on ctx's device and
 * initialises the parameters from seed (host RNG: the same numbers on every
 * device). Fails with DYTCL_ERR_DEVICE_MEMORY, naming the sizes, before any
 * kernel runs when the model does not fit. */
dytcl_status model_create(dytcl_ctx *ctx, const model_config *c, uint64_t seed, model **out, char *err,
                          size_t cap);
void model_free(model *m);
/* Why the last failed call on m failed (its own checks, or the library's message). */
const char *model_error(const model *m);
const model_config *model_cfg(const model *m);

/* Activations for batches of B sequences of T <= max_seq tokens (reallocated
 * when B or T change). */
dytcl_status model_set_batch(model *m, int B, int T);

/* tokens and targets: B*T int32 each (targets -1: ignored). Uploads them,
 * runs the forward pass and leaves the mean loss on the device, in the next
 * of 64 loss slots (model_zero_grad starts again at slot 0). With targets
 * NULL only the logits are computed. */
dytcl_status model_forward(model *m, const int32_t *tokens, const int32_t *targets);
/* The last forward's mean loss (a device read). */
dytcl_status model_read_loss(model *m, float *loss);
/* The backward of the last forward, adding (grad_scale / rows) * dloss into
 * the gradient buffer. Call model_zero_grad before the first micro-batch. */
dytcl_status model_backward(model *m, float grad_scale);
dytcl_status model_zero_grad(model *m);
/* The last forward's logits [B*T, V] into host memory; call it before
 * model_backward, which turns them into their gradient in place. */
dytcl_status model_read_logits(model *m, float *out);

/* Global-norm clipping and one AdamW step (step >= 1) over every parameter;
 * weight decay on matrices and embeddings, and on norm parameters only when
 * decay_norm. Leaves the gradient norm in the step's stats. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, clip;
    int decay_norm;
} model_optim;
dytcl_status model_step(model *m, const model_optim *o, int step);
/* After model_step: the mean losses of the step's micro-batches (n of them)
 * and the gradient norm before clipping, in one device read. */
dytcl_status model_step_stats(model *m, float *losses, int n, float *grad_norm);

/* The L2 norm of all parameters (a device reduction and one read): a
 * non-finite value means the model is no longer worth saving. */
dytcl_status model_param_norm(model *m, float *norm);

/* Host copies of whole buffers (floats: model_param_count each). */
dytcl_status model_read_params(model *m, float *out);
dytcl_status model_write_params(model *m, const float *in);
dytcl_status model_read_grads(model *m, float *out);
dytcl_status model_read_opt(model *m, float *mom, float *var);
dytcl_status model_write_opt(model *m, const float *mom, const float *var);

/* Saturation diagnostic, DyT/Derf only: for each norm, in the order
 * h.0.norm1, h.0.norm2, h.1.norm1, ..., normf (2L + 1 of them), the fraction
 * of the last forward's norm inputs with |alpha x| > 2, and alpha itself
 * (Derf: |alpha x + shift| > 2). */
dytcl_status model_saturation(model *m, float *frac, float *alpha);

dytcl_ctx *model_ctx(model *m);

/* Benchmarks: with on = 1 every norm layer's forward and backward is timed
 * by profiling events (a synchronisation each: time steps separately);
 * model_norm_ns returns the device time summed since the last call. */
void model_profile_norms(model *m, int on);
double model_norm_ns(model *m);

/* ----------------------------------------------------- inference (model_infer.c)
 *
 * Folding. Every norm here feeds only linear layers (norm1 -> qkv, norm2 ->
 * MLP up projection, normf -> lm head), so y = w * t + b (t = tanh(alpha x),
 * or erf) gives  W y + c = (W diag(w)) t + (W b + c): model_fold makes a
 * model whose norms keep only alpha (and shift) and whose following weights
 * and biases absorb w and b. The logits are the same up to float rounding;
 * the inference pass skips two vector reads per norm. DyT and Derf only. */
dytcl_status model_fold(model *src, model **out);

/* Decoding with a KV cache on the device (batch 1): model_decode runs n new
 * tokens at positions pos..pos+n-1 (pos = the tokens already decoded) and
 * writes the last position's logits [V] to host memory. model_forward is
 * refused between begin and end. */
dytcl_status model_decode_begin(model *m);
dytcl_status model_decode(model *m, const int32_t *tokens, int n, int pos, float *logits);
void model_decode_end(model *m);

#endif
