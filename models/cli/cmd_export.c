/* cmd_export.c -- `dytcl export`: a checkpoint rewritten for inference, its
 * matrices stored as f16 or bf16 (rounded to nearest even; the norm
 * parameters and biases stay f32), no optimiser state
 * (dytcl_model_export). Python's safetensors opens the result as any
 * half-width checkpoint; dytcl generate reads it (widened to float32 on
 * load). Training cannot resume from it. */
#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "dytcl_model.h"
#include "opts.h"
#include "outputs.h"

static const char *const dtype_names[] = {"f32", "f16", "bf16", NULL}; /* dytcl_dtype order */

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
static const char *const pos2_output[] = {"pos 2", NULL};
static const opt_cmd export_cmd = {
    "export", "--dtype f16|bf16|f32 [options] IN OUT",
    "Rewrites IN, a checkpoint of dytcl train (or export), for inference as OUT\n"
    "(never IN; an existing file there must be a checkpoint, unless --force).\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 2, pos2_output};

int cmd_export(int argc, char **argv)
{
    export_args a = {-1, 0, 0};
    opt_seen seen;
    int rc = opt_parse(&export_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (seen.npos != 2) return cli_error("export", 2, "IN and OUT: required (%d given)", seen.npos);
    if (a.dtype < 0) return cli_error("export", 2, "--dtype: required (f16, bf16 or f32)");
    const char *in = seen.pos[0], *out = seen.pos[1];
    const int fold = a.fold, force = a.force;
    const dytcl_dtype dtype = (dytcl_dtype)a.dtype;

    outs files;
    outs_init(&files, "export", force);
    outs_input(&files, "IN", in, NULL);
    out_file *of = outs_add(&files, "OUT", out, output_is_checkpoint, "a checkpoint");
    if (outs_claim(&files)) return 1;
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
    const char *staged = out_stage(of);
    if (!staged) goto done;
    if (dytcl_model_export(m, staged, dtype, &md)) {
        cli_error("export", 1, "%s: %s", out, dytcl_last_error(ctx));
        goto done;
    }
    if (out_commit(of)) goto done;
    rc = 0;
done:
    outs_release(&files);
    dytcl_meta_clear(&md);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    return rc;
}
