/* cmd_export.c -- `dytcl export`: a checkpoint rewritten for inference, its
 * matrices stored as f16 or bf16 (rounded to nearest even; the norm
 * parameters and biases stay f32), or the linear layers' weights as q8
 * (8-bit blocks, docs/quantization.md; a DyT/Derf model is folded first, so
 * that the quantized matrices are the ones decoding reads), no optimiser
 * state (dytcl_model_export). Python's safetensors opens the result;
 * dytcl generate reads it (half-width widened to float32 on load; q8 decoded
 * from its 8-bit weights). Training cannot resume from it. --format hf writes a
 * Hugging Face model directory instead (dytcl_model_export_hf: config.json
 * and model.safetensors that transformers' from_pretrained loads). IN may
 * also be such a directory. */
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

static const char *const dtype_names[] = {"f32", "f16", "bf16", "q8", NULL}; /* dytcl_dtype order */
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
static const char *const pos2_output[] = {"pos 2", NULL};
static const opt_cmd export_cmd = {
    "export", "--dtype f16|bf16|q8|f32 [options] IN OUT  |  --format hf [--dtype T] IN OUT_DIR",
    "Rewrites IN, a checkpoint of dytcl train (or export) or a Hugging Face model\n"
    "directory, for inference as OUT (never IN; an existing file there must be a\n"
    "checkpoint, unless --force), or with --format hf as a Hugging Face directory\n"
    "(LlamaForCausalLM, GPT2LMHeadModel; DyT/Derf: docs/huggingface.md).\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 2, pos2_output};

int cmd_export(int argc, char **argv)
{
    export_args a = {-1, 0, 0, 0};
    opt_seen seen;
    int rc = opt_parse(&export_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (seen.npos != 2) return cli_error("export", 2, "IN and OUT: required (%d given)", seen.npos);
    const int hf = a.format == 1;
    if (a.dtype < 0 && !hf) return cli_error("export", 2, "--dtype: required (f16, bf16, q8 or f32)");
    if (hf && a.fold) return cli_error("export", 2, "--fold: a folded model has no Hugging Face layout");
    if (hf && a.dtype == DYTCL_Q8) return cli_error("export", 2, "--dtype q8: a Hugging Face export is f32, f16 or bf16");
    const char *in = seen.pos[0], *out = seen.pos[1];
    const dytcl_dtype dtype = a.dtype < 0 ? DYTCL_F32 : (dytcl_dtype)a.dtype;
    const int fold = a.fold || dtype == DYTCL_Q8, force = a.force;

    outs files;
    outs_init(&files, "export", force);
    struct stat in_st;
    char in_st_path[PATH_MAX], in_cfg_path[PATH_MAX];
    if (stat(in, &in_st) == 0 && S_ISDIR(in_st.st_mode)) { /* a Hugging Face model: its two files */
        snprintf(in_st_path, sizeof in_st_path, "%.*s/model.safetensors", PATH_MAX - 40, in);
        snprintf(in_cfg_path, sizeof in_cfg_path, "%.*s/config.json", PATH_MAX - 40, in);
        outs_input(&files, "IN", in_st_path, NULL);
        outs_input(&files, "IN", in_cfg_path, NULL);
    } else {
        outs_input(&files, "IN", in, NULL);
    }
    char err[1400];
    out_file *of = NULL, *of_cfg = NULL, *of_tok = NULL;
    if (hf) { /* OUT is a directory (created when missing): its files are the outputs */
        char st_path[PATH_MAX], cfg_path[PATH_MAX], tok_path[PATH_MAX];
        if (outs_make_dir(&files, "OUT_DIR", out)) return 1;
        snprintf(st_path, sizeof st_path, "%.*s/model.safetensors", PATH_MAX - 40, out);
        snprintf(cfg_path, sizeof cfg_path, "%.*s/config.json", PATH_MAX - 40, out);
        snprintf(tok_path, sizeof tok_path, "%.*s/tokenizer.json", PATH_MAX - 40, out);
        /* any file already there (a model of the user's) is replaced only with --force */
        of = outs_add(&files, "OUT_DIR", st_path, NULL, "a file of this export");
        of_cfg = outs_add(&files, "OUT_DIR", cfg_path, NULL, "a file of this export");
        of_tok = outs_add(&files, "OUT_DIR", tok_path, NULL, "a file of this export"); /* when it has one */
    } else {
        of = outs_add(&files, "OUT", out, output_is_checkpoint, "a checkpoint");
    }
    if (outs_claim(&files)) return outs_release(&files), 1;
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
    if (hf) { /* the library writes the directory in our staging area; its files are committed one by one */
        const char *dir = out_stage_dir(of);
        if (!dir) goto done;
        if (dytcl_model_export_hf(m, dir, dtype, 1)) {
            cli_error("export", 1, "%s: %s", out, dytcl_last_error(ctx));
            out_unstage(of);
            goto done;
        }
        int bad = out_commit_named(of, "model.safetensors", of) || out_commit_named(of, "config.json", of_cfg);
        out_unstage(of);
        if (bad) goto done;
        if (tm.tk && dytcl_tokenizer_get_kind(tm.tk) == DYTCL_TOKENIZER_BPE) { /* its tokenizer.json, as it was read */
            const uint8_t *data = NULL;
            size_t len = 0;
            dytcl_tokenizer_source(tm.tk, &data, &len);
            if (!data) {
                cli_error("export", 1, "the tokenizer's file is not available");
                goto done;
            }
            if (out_write_file(of_tok, data, len)) goto done;
        } else if (tm.tk) {
            fprintf(stderr, "dytcl export: note: the checkpoint's tokenizer is SentencePiece, which has no "
                            "tokenizer.json: none written\n");
        }
        rc = 0;
        goto done;
    }
    const char *staged = out_stage(of);
    if (!staged) goto done;
    if (dytcl_model_export(m, staged, dtype, &md)) {
        cli_error("export", 1, "%s: %s", out, dytcl_last_error(ctx));
        goto done;
    }
    if (out_commit(of)) goto done;
    rc = 0;
done:
    tokens_free(&tm);
    outs_release(&files);
    dytcl_meta_clear(&md);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    return rc;
}
