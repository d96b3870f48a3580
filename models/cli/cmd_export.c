/* cmd_export.c -- `dytcl export`: a checkpoint rewritten for inference, its
 * matrices stored as f16 or bf16 (rounded to nearest even; the norm
 * parameters and biases stay f32), no optimiser state
 * (dytcl_model_export). Python's safetensors opens the result as any
 * half-width checkpoint; dytcl generate reads it (widened to float32 on
 * load). Training cannot resume from it. --format hf writes a Hugging Face
 * model directory instead (dytcl_model_export_hf: config.json and
 * model.safetensors that transformers' from_pretrained loads). IN may also
 * be such a directory. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dytcl_model.h"
#include "opts.h"
#include "outputs.h"
#include "tokens.h"
#include "tokfile.h"

static const char *const dtype_names[] = {"f32", "f16", "bf16", NULL}; /* dytcl_dtype order */
static const char *const format_names[] = {"dytcl", "hf", NULL};

typedef struct {
    int dtype; /* -1 until given */
    int format; /* 0: a dytcl checkpoint, 1: a Hugging Face directory */
    int fold, force;
} export_args;

static const opt_spec specs[] = {
#define F(f) offsetof(export_args, f)
    {"dtype", OPT_ENUM, F(dtype), .names = dtype_names, .help = "how the matrices are stored (required, but f32 with --format hf)", .def = ""},
    {"format", OPT_ENUM, F(format), .names = format_names,
     .help = "hf: OUT_DIR (created when missing) gets config.json + model.safetensors for transformers"},
    {"fold", OPT_SWITCH, F(fold), .help = "fold DyT/Derf's weight and bias into the next linear layers first"},
    {"force", OPT_SWITCH, F(force), .help = "overwrite OUT even when it is not a checkpoint"},
#undef F
};
static const opt_cmd export_cmd = {
    "export", "--dtype f16|bf16|f32 [options] IN OUT  |  --format hf [--dtype T] IN OUT_DIR",
    "Rewrites IN, a checkpoint of dytcl train (or export) or a Hugging Face model\n"
    "directory, for inference as OUT (never IN; an existing file there must be a\n"
    "checkpoint, unless --force), or with --format hf as a Hugging Face directory\n"
    "(LlamaForCausalLM, GPT2LMHeadModel; DyT/Derf: docs/huggingface.md).\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 2};

int cmd_export(int argc, char **argv)
{
    export_args a = {-1, 0, 0, 0};
    opt_seen seen;
    int rc = opt_parse(&export_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (seen.npos != 2) return cli_error("export", 2, "IN and OUT: required (%d given)", seen.npos);
    const int hf = a.format == 1;
    if (a.dtype < 0 && !hf) return cli_error("export", 2, "--dtype: required (f16, bf16 or f32)");
    if (hf && a.fold) return cli_error("export", 2, "--fold: a folded model has no Hugging Face layout");
    const char *in = seen.pos[0], *out = seen.pos[1];
    const int fold = a.fold, force = a.force;
    const dytcl_dtype dtype = a.dtype < 0 ? DYTCL_F32 : (dytcl_dtype)a.dtype;

    char err[1400], st_out[1100] = "", cfg_out[1100] = "", tok_out[1100] = "";
    const char *ins[] = {in};
    output_lock lock = {.fd = -1};
    struct stat in_st;
    const int in_is_dir = stat(in, &in_st) == 0 && S_ISDIR(in_st.st_mode); /* a Hugging Face model */
    if (!in_is_dir && input_check("IN", in, err, sizeof err)) return cli_error("export", 1, "%s", err);
    if (hf) { /* OUT is a directory: its two files checked as outputs, the lock beside them */
        if (mkdir(out, 0755) != 0 && errno != EEXIST)
            return cli_error("export", 1, "cannot create the directory %s: %s", out, strerror(errno));
        snprintf(st_out, sizeof st_out, "%s/model.safetensors", out);
        snprintf(cfg_out, sizeof cfg_out, "%s/config.json", out);
        snprintf(tok_out, sizeof tok_out, "%s/tokenizer.json", out);
        if (output_check("OUT_DIR", st_out, output_is_checkpoint, "a checkpoint", ins, 1, force, err, sizeof err) ||
            output_check("OUT_DIR", cfg_out, output_is_json, "JSON", ins, 1, force, err, sizeof err) ||
            output_check("OUT_DIR", tok_out, output_is_json, "JSON", ins, 1, force, err, sizeof err) ||
            output_lock_take(&lock, st_out, err, sizeof err))
            return cli_error("export", 1, "%s", err);
    } else if (output_check("OUT", out, output_is_checkpoint, "a checkpoint", ins, 1, force, err, sizeof err) ||
               output_lock_take(&lock, out, err, sizeof err))
        return cli_error("export", 1, "%s", err);
    dytcl_ctx *ctx = NULL;
    dytcl_model *m = NULL, *folded = NULL;
    dytcl_meta md = {0};
    tokens_model tm = {0};
    rc = 1;
    if (dytcl_ctx_create(NULL, &ctx)) {
        cli_error("export", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (dytcl_model_load(ctx, in, &md, NULL, &m)) {
        cli_error("export", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    const dytcl_model_config *c = dytcl_model_get_config(m);
    if (hf && tokens_for_model(in, &md, c->vocab, &tm, err, sizeof err)) { /* the tokenizer.json to write beside */
        cli_error("export", 1, "%s", err);
        goto done;
    }
    if (fold && (c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF) && !c->folded) {
        if (dytcl_model_fold(m, &folded)) {
            cli_error("export", 1, "%s", dytcl_last_error(ctx));
            goto done;
        }
        dytcl_model_free(m);
        m = folded;
    }
    if (hf ? dytcl_model_export_hf(m, out, dtype, force) : dytcl_model_export(m, out, dtype, &md)) {
        cli_error("export", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    if (tm.tk && dytcl_tokenizer_get_kind(tm.tk) == DYTCL_TOKENIZER_BPE) { /* its tokenizer.json, as it was read */
        const uint8_t *data = NULL;
        size_t len = 0;
        dytcl_tokenizer_source(tm.tk, &data, &len);
        if (!data || write_atomic(tok_out, data, len, err, sizeof err)) {
            cli_error("export", 1, "%s", data ? err : "the tokenizer's file is not available");
            goto done;
        }
    } else if (tm.tk) {
        fprintf(stderr, "dytcl export: note: the checkpoint's tokenizer is SentencePiece, which has no tokenizer.json: "
                        "none written\n");
    }
    rc = 0;
done:
    tokens_free(&tm);
    output_lock_release(&lock);
    dytcl_meta_clear(&md);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    return rc;
}
