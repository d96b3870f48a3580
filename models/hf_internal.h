/* hf_internal.h -- Hugging Face checkpoints (config.json + safetensors) as a
 * front end on the public model API: hf_map.c names every dytcl parameter
 * the way transformers does and moves the numbers between the two layouts,
 * hf_load.c reads a directory into a model, hf_export.c writes one.
 *
 * The layouts, per layer l (C = d_model, H heads of D, F = d_ff):
 *
 *   dytcl                   LlamaForCausalLM (model.layers.l.)     GPT2LMHeadModel (transformer.h.l.)
 *   wte [V, C]              model.embed_tokens.weight              transformer.wte.weight
 *   wpe [T, C]              -                                      transformer.wpe.weight
 *   emb_scale [1]           model.embed_scale (DyT/Derf)           -
 *   norm1.*                 input_layernorm.*                      ln_1.*
 *   attn.qkv.weight [3C, C] self_attn.{q,k,v}_proj.weight [C, C]   attn.c_attn.weight [C, 3C] (Conv1D: [in, out])
 *   attn.qkv.bias [3C]      -                                      attn.c_attn.bias
 *   attn.proj.weight [C, C] self_attn.o_proj.weight                attn.c_proj.weight (transposed)
 *   norm2.*                 post_attention_layernorm.*             ln_2.*
 *   mlp.gate_up [2F, C]     mlp.{gate,up}_proj.weight [F, C]       -
 *   mlp.down [C, F]         mlp.down_proj.weight                   -
 *   mlp.fc [F, C] (+ bias)  -                                      mlp.c_fc.* (transposed)
 *   mlp.proj [C, F] (+ b)   -                                      mlp.c_proj.* (transposed)
 *   normf.*                 model.norm.*                           transformer.ln_f.*
 *   lm_head.weight [V, C]   lm_head.weight                         - (tied to wte)
 *
 * A norm's tensors keep their dytcl suffix: weight, bias, and for DyT and
 * Derf alpha and shift (config.json then says "dytcl_norm": "dyt" | "derf").
 *
 * RoPE. transformers turns the pair (x[i], x[i + D/2]) of a head (its
 * rotate_half), dytcl the pair (x[2i], x[2i + 1]), both by the angle
 * p * theta^(-2i/D). So dytcl's q and k rows are HF's, permuted within each
 * head: dytcl row h*D + 2i = HF row h*D + i, dytcl row h*D + 2i + 1 = HF row
 * h*D + D/2 + i. Scores q.k are sums over a head's D entries, the same under
 * one permutation applied to both; v is not turned and keeps its order. */
#ifndef DYTCL_HF_INTERNAL_H
#define DYTCL_HF_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "dytcl_model.h"

#define DY_HF_NAME_MAX 160

/* One HF tensor: all of a dytcl parameter tensor, or a block of its rows. */
typedef struct {
    char name[DY_HF_NAME_MAX];
    int ndim;
    int64_t shape[2];  /* as HF stores it */
    size_t dst;        /* where its block starts in the flat parameter buffer (floats) */
    int64_t rows, cols; /* the block in dytcl's layout: rows x cols, row-major (cols 1 for vectors) */
    int transpose;     /* HF stores the block as [cols, rows] (GPT-2's Conv1D) */
    int rope_heads;    /* > 0: rows are this many heads in rotate-half order (q, k) */
} dy_hf_piece;

/* The HF tensors of a model with config c, in parameter-table order (out
 * NULL: counts only; at most cap written). -1 when c has no HF layout
 * (folded models, a tensor without an HF name) or out of host memory. */
int dy_hf_pieces(const dytcl_model_config *c, dy_hf_piece *out, int cap);

/* src (HF's layout, numel of the piece) into its block of params. */
void dy_hf_to_dytcl(const dy_hf_piece *p, const float *src, float *params);
/* The block of params into dst, in HF's layout. */
void dy_hf_from_dytcl(const dy_hf_piece *p, const float *params, float *dst);

/* The number of floats in a piece. */
static inline size_t dy_hf_numel(const dy_hf_piece *p) { return (size_t)p->rows * (size_t)p->cols; }

/* The library's error setter (host/error.c). */
dytcl_status dy_fail(dytcl_ctx *ctx, dytcl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A loader's failure: the message into err[cap], and -1. */
#define dy_hf_err(err, cap, ...) (snprintf((err), (cap), __VA_ARGS__), -1)

#endif
