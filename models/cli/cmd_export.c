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
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dytcl_model.h"
#include "outputs.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl export --dtype f16|bf16|f32 [options] IN OUT\n"
               "       dytcl export --format hf [--dtype T] [--force] IN OUT_DIR\n\n"
               "  IN                 checkpoint written by dytcl train (or export), or a Hugging Face model directory\n"
               "  OUT                the inference checkpoint to write (never IN; an existing file\n"
               "                     there must be a checkpoint, unless --force)\n"
               "  --dtype T          how the matrices are stored: f16, bf16 or f32 (required)\n"
               "  --fold             fold DyT/Derf's weight and bias into the next linear layers first\n"
               "  --force            overwrite OUT even when it is not a checkpoint\n"
               "  --format hf        write OUT_DIR (created when missing) as config.json + model.safetensors\n"
               "                     for transformers (LlamaForCausalLM, GPT2LMHeadModel; DyT/Derf: docs/huggingface.md);\n"
               "                     --dtype defaults to f32; existing files there are replaced only with --force\n");
}

static int parse_dtype(const char *s, dytcl_dtype *out)
{
    for (int d = DYTCL_F32; d <= DYTCL_BF16; d++)
        if (!strcmp(s, dytcl_dtype_name((dytcl_dtype)d))) return *out = (dytcl_dtype)d, 0;
    return -1;
}

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int fold = 0, force = 0, have_dtype = 0, hf = 0;
    dytcl_dtype dtype = DYTCL_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--fold")) fold = 1;
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--format") && i + 1 < argc) {
            const char *fmt = argv[++i];
            if (strcmp(fmt, "hf") && strcmp(fmt, "dytcl"))
                return usage(stderr), cli_error("export", 2, "--format %s: not hf or dytcl", fmt);
            hf = !strcmp(fmt, "hf");
        } else if (!strcmp(a, "--dtype") && i + 1 < argc) {
            if (parse_dtype(argv[++i], &dtype))
                return usage(stderr), cli_error("export", 2, "--dtype %s: not f16, bf16 or f32", argv[i]);
            have_dtype = 1;
        } else if (a[0] == '-' && a[1]) return usage(stderr), cli_error("export", 2, "unknown option or missing value: %s", a);
        else if (!in) in = a;
        else if (!out) out = a;
        else return usage(stderr), cli_error("export", 2, "one input and one output: %s is a third", a);
    }
    if (!in || !out) return usage(stderr), cli_error("export", 2, "IN and OUT are required");
    if (!have_dtype && !hf) return usage(stderr), cli_error("export", 2, "--dtype f16|bf16|f32 is required");
    if (hf && fold) return usage(stderr), cli_error("export", 2, "--fold: a folded model has no Hugging Face layout");

    char err[1400], st_out[1100] = "", cfg_out[1100] = "";
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
        if (output_check("OUT_DIR", st_out, output_is_checkpoint, "a checkpoint", ins, 1, force, err, sizeof err) ||
            output_check("OUT_DIR", cfg_out, output_is_json, "JSON", ins, 1, force, err, sizeof err) ||
            output_lock_take(&lock, st_out, err, sizeof err))
            return cli_error("export", 1, "%s", err);
    } else if (output_check("OUT", out, output_is_checkpoint, "a checkpoint", ins, 1, force, err, sizeof err) ||
               output_lock_take(&lock, out, err, sizeof err))
        return cli_error("export", 1, "%s", err);
    dytcl_ctx *ctx = NULL;
    dytcl_model *m = NULL, *folded = NULL;
    dytcl_meta md = {0};
    int rc = 1;
    if (dytcl_ctx_create(NULL, &ctx)) {
        cli_error("export", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (dytcl_model_load(ctx, in, &md, NULL, &m)) {
        cli_error("export", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    const dytcl_model_config *c = dytcl_model_get_config(m);
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
    rc = 0;
done:
    output_lock_release(&lock);
    dytcl_meta_clear(&md);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    return rc;
}
