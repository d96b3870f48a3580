/* cmd_export.c -- `dytcl export`: a checkpoint rewritten for inference, its
 * matrices stored as f16 or bf16 (rounded to nearest even; the norm
 * parameters and biases stay f32), or the linear layers' weights as q8
 * (8-bit blocks, docs/quantization.md; a DyT/Derf model is folded first, so
 * that the quantized matrices are the ones decoding reads), no optimiser
 * state (dytcl_model_export). Python's safetensors opens the result;
 * dytcl generate reads it (half-width widened to float32 on load; q8 decoded
 * from its 8-bit weights). Training cannot resume from it. */
#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "dytcl_model.h"
#include "opts.h"
#include "outputs.h"

static const char *const dtype_names[] = {"f32", "f16", "bf16", "q8", NULL}; /* dytcl_dtype order */

typedef struct {
    int dtype; /* -1 until given */
    int fold, force;
} export_args;

static const opt_spec specs[] = {
#define F(f) offsetof(export_args, f)
    {"dtype", OPT_ENUM, F(dtype), .names = dtype_names, .help = "how the matrices are stored (required)", .def = ""},
    {"fold", OPT_SWITCH, F(fold), .help = "fold DyT/Derf's weight and bias into the next linear layers first"},
    {"force", OPT_SWITCH, F(force), .help = "overwrite OUT even when it is not a checkpoint"},
#undef F
};
static const opt_cmd export_cmd = {
    "export", "--dtype f16|bf16|q8|f32 [options] IN OUT",
    "Rewrites IN, a checkpoint of dytcl train (or export), for inference as OUT\n"
    "(never IN; an existing file there must be a checkpoint, unless --force).\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 2};

int cmd_export(int argc, char **argv)
{
    export_args a = {-1, 0, 0};
    opt_seen seen;
    int rc = opt_parse(&export_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (seen.npos != 2) return cli_error("export", 2, "IN and OUT: required (%d given)", seen.npos);
    if (a.dtype < 0) return cli_error("export", 2, "--dtype: required (f16, bf16, q8 or f32)");
    const char *in = seen.pos[0], *out = seen.pos[1];
    const dytcl_dtype dtype = (dytcl_dtype)a.dtype;
    const int fold = a.fold || dtype == DYTCL_Q8, force = a.force;

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
