/* cmd_export.c -- `dytcl export`: a checkpoint rewritten for inference, its
 * matrices stored as f16 or bf16 (rounded to nearest even; the norm
 * parameters and biases stay f32), no optimiser state
 * (dytcl_model_export). Python's safetensors opens the result as any
 * half-width checkpoint; dytcl generate reads it (widened to float32 on
 * load). Training cannot resume from it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dytcl_model.h"
#include "outputs.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl export --dtype f16|bf16|f32 [options] IN OUT\n\n"
               "  IN                 checkpoint written by dytcl train (or export)\n"
               "  OUT                the inference checkpoint to write (never IN; an existing file\n"
               "                     there must be a checkpoint, unless --force)\n"
               "  --dtype T          how the matrices are stored: f16, bf16 or f32 (required)\n"
               "  --fold             fold DyT/Derf's weight and bias into the next linear layers first\n"
               "  --force            overwrite OUT even when it is not a checkpoint\n");
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
    int fold = 0, force = 0, have_dtype = 0;
    dytcl_dtype dtype = DYTCL_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--fold")) fold = 1;
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--dtype") && i + 1 < argc) {
            if (parse_dtype(argv[++i], &dtype))
                return usage(stderr), cli_error("export", 2, "--dtype %s: not f16, bf16 or f32", argv[i]);
            have_dtype = 1;
        } else if (a[0] == '-' && a[1]) return usage(stderr), cli_error("export", 2, "unknown option or missing value: %s", a);
        else if (!in) in = a;
        else if (!out) out = a;
        else return usage(stderr), cli_error("export", 2, "one input and one output: %s is a third", a);
    }
    if (!in || !out) return usage(stderr), cli_error("export", 2, "IN and OUT are required");
    if (!have_dtype) return usage(stderr), cli_error("export", 2, "--dtype f16|bf16|f32 is required");

    char err[1400];
    const char *ins[] = {in};
    output_lock lock = {.fd = -1};
    if (input_check("IN", in, err, sizeof err) ||
        output_check("OUT", out, output_is_checkpoint, "a checkpoint", ins, 1, force, err, sizeof err) ||
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
    if (dytcl_model_export(m, out, dtype, &md)) {
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
