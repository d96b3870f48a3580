/* checkpoint.h -- a model (and its training state) as one .safetensors file.
 *
 * Tensors: every parameter under its model_param_table name ("wte",
 * "h.0.attn.qkv.weight", ...), and, in training checkpoints, AdamW's state
 * as two flat tensors "opt.m" and "opt.v" in parameter-buffer order.
 * Metadata (strings): "format" = "dytcl-checkpoint-1", the model config
 * ("arch", "norm", "vocab", "max_seq", "n_layer", "n_head", "d_model",
 * "d_ff", "alpha_attn", "alpha_ffn", "alpha_final", "norm_eps",
 * "rope_theta"), and the caller's key/value pairs (training options, step,
 * data RNG state). Saving is atomic (temporary file, fsync, rename): a crash
 * leaves the previous file whole.
 */
#ifndef DYTCL_CHECKPOINT_H
#define DYTCL_CHECKPOINT_H

#include "model.h"

/* Metadata: string pairs of any length and number. Start from {0}; free
 * with ckpt_meta_clear. */
typedef struct {
    int n, cap;
    char **key, **value;
} ckpt_meta;

/* Adds or replaces key (copies both strings; non-zero when out of memory). */
int ckpt_meta_set(ckpt_meta *md, const char *key, const char *value);
const char *ckpt_meta_get(const ckpt_meta *md, const char *key);
/* Frees every pair; md is empty ({0}) afterwards. */
void ckpt_meta_clear(ckpt_meta *md);

/* Writes m's parameters (and AdamW state when with_opt) with the config and
 * md (may be NULL) as metadata. */
dytcl_status ckpt_save(model *m, const char *path, int with_opt, const ckpt_meta *md, char *err, size_t cap);

/* Reads the config of a checkpoint (and every metadata pair into md, which
 * may be NULL) without creating a model. */
dytcl_status ckpt_read_config(const char *path, model_config *c, ckpt_meta *md, char *err, size_t cap);

/* Creates a model on ctx from a checkpoint: parameters, and AdamW state when
 * the file has it (*has_opt = 1). A corrupt, truncated or mismatched file is
 * refused with a message naming the problem. */
dytcl_status ckpt_load(dytcl_ctx *ctx, const char *path, model **out, ckpt_meta *md, int *has_opt, char *err,
                       size_t cap);

#endif
